//! POP3: the commands (RFC 1939 and extensions), `+OK`/`-ERR` and their response codes (RFC 2449, RFC 3206).

use super::*;

/// POP3 commands (RFC 1939 and extensions).
pub static COMMANDS: &[Command] = &[
    Command {
        name: "CAPA",
        syntax: "CAPA",
        summary: "lists the server's capabilities",
        effect: "A multi-line answer, one capability per line (USER, TOP, UIDL, STLS, SASL PLAIN...), ended by a \
                 line with a single dot.",
        rfc: "RFC 2449 §5",
        states: POP_ANY,
    },
    Command {
        name: "STLS",
        syntax: "STLS",
        summary: "upgrades the connection to TLS",
        effect: "After +OK both sides run a TLS handshake; then log in. Only valid before logging in.",
        rfc: "RFC 2595 §4",
        states: &[Pop3Authorization],
    },
    Command {
        name: "USER",
        syntax: "USER alice",
        summary: "names the mailbox to log in to",
        effect: "First half of the simplest login; PASS follows.",
        rfc: "RFC 1939 §7",
        states: &[Pop3Authorization],
    },
    Command {
        name: "PASS",
        syntax: "PASS password",
        summary: "gives the password after USER",
        effect: "On success the server locks the mailbox and enters the TRANSACTION state. The password travels \
                 in clear text unless the connection uses TLS.",
        rfc: "RFC 1939 §7",
        states: &[Pop3Authorization],
    },
    Command {
        name: "APOP",
        syntax: "APOP alice c4c9334bac560ecc979e58001b3e22fb",
        summary: "logs in with an MD5 digest of the greeting's timestamp and a shared secret",
        effect: "Avoids sending the password; obsolete since MD5 is weak.",
        rfc: "RFC 1939 §7",
        states: &[Pop3Authorization],
    },
    Command {
        name: "AUTH",
        syntax: "AUTH PLAIN",
        summary: "logs in with a SASL mechanism",
        effect: "The server answers `+ ` and the client sends base64 credentials.",
        rfc: "RFC 5034 §4",
        states: &[Pop3Authorization],
    },
    Command {
        name: "STAT",
        syntax: "STAT",
        summary: "counts the messages and their total size",
        effect: "+OK n size: the number of messages and the octets they take (messages marked deleted not \
                 counted).",
        rfc: "RFC 1939 §5",
        states: &[Pop3Transaction],
    },
    Command {
        name: "LIST",
        syntax: "LIST [n]",
        summary: "lists message numbers and sizes",
        effect: "Without an argument, a multi-line scan listing `n size` ended by a dot; with a number, just that \
                 message.",
        rfc: "RFC 1939 §5",
        states: &[Pop3Transaction],
    },
    Command {
        name: "RETR",
        syntax: "RETR 1",
        summary: "downloads a message",
        effect: "The whole message follows +OK, dot-stuffed, ended by a line with a single dot.",
        rfc: "RFC 1939 §5",
        states: &[Pop3Transaction],
    },
    Command {
        name: "TOP",
        syntax: "TOP 1 5",
        summary: "downloads the headers and the first lines of the body",
        effect: "Headers, the empty line and the given number of body lines, ended by a dot.",
        rfc: "RFC 1939 §7",
        states: &[Pop3Transaction],
    },
    Command {
        name: "UIDL",
        syntax: "UIDL [n]",
        summary: "lists unique IDs that stay the same across sessions",
        effect: "Lets a client remember which messages it has already downloaded.",
        rfc: "RFC 1939 §7",
        states: &[Pop3Transaction],
    },
    Command {
        name: "DELE",
        syntax: "DELE 1",
        summary: "marks a message for deletion",
        effect: "The message is only removed when the session ends with QUIT (the UPDATE state); RSET unmarks it, \
                 and a dropped connection keeps it.",
        rfc: "RFC 1939 §5",
        states: &[Pop3Transaction],
    },
    Command {
        name: "RSET",
        syntax: "RSET",
        summary: "unmarks every message marked deleted",
        effect: "Undoes all DELE commands of this session.",
        rfc: "RFC 1939 §5",
        states: &[Pop3Transaction],
    },
    Command {
        name: "NOOP",
        syntax: "NOOP",
        summary: "does nothing",
        effect: "The server answers +OK.",
        rfc: "RFC 1939 §5",
        states: &[Pop3Transaction],
    },
    Command {
        name: "QUIT",
        syntax: "QUIT",
        summary: "ends the session (and deletes the marked messages)",
        effect: "In the TRANSACTION state, QUIT enters UPDATE: messages marked with DELE are removed for good, \
                 then the connection closes.",
        rfc: "RFC 1939 §6",
        states: POP_ANY,
    },
];

pub(crate) fn client(line: &str) -> Explanation {
    if let Some(c) = command(Protocol::Pop3, first_word(line)) {
        return from_command(c, "POP3");
    }
    if line == "*" {
        return ex("Cancels an AUTH exchange", "The server answers -ERR.", "RFC 5034 §4");
    }
    if looks_base64(line) {
        return ex(
            "A base64 answer to an AUTH challenge",
            "After `+ ` the client sends base64 credentials (PLAIN: \\0user\\0password).",
            "RFC 5034 §4",
        );
    }
    unknown(line, "Not a POP3 command", "RFC 1939 §3")
}

fn response_code(code: &str) -> &'static str {
    match code.to_ascii_uppercase().as_str() {
        "IN-USE" => "Another session holds the mailbox lock (RFC 2449 §8.1.1).",
        "LOGIN-DELAY" => "Logging in again so soon is not allowed (RFC 2449 §8.1.2).",
        "SYS/TEMP" => "A temporary system problem; try again later (RFC 3206 §4).",
        "SYS/PERM" => "A permanent system problem (RFC 3206 §4).",
        "AUTH" => "The credentials were wrong (RFC 3206 §5).",
        "UTF8" => "UTF-8 mode (RFC 6856).",
        _ => "A response code this catalogue does not list.",
    }
}

fn capability(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_uppercase().as_str() {
        "TOP" => "The TOP command is supported.",
        "USER" => "USER/PASS login is supported.",
        "SASL" => "AUTH with the listed SASL mechanisms is supported.",
        "RESP-CODES" => "-ERR replies carry [response codes].",
        "LOGIN-DELAY" => "The server limits how often a client may log in.",
        "PIPELINING" => "Several commands may be sent without waiting.",
        "EXPIRE" => "How long the server keeps messages.",
        "UIDL" => "UIDL is supported.",
        "IMPLEMENTATION" => "The server's software name.",
        "STLS" => "STLS (TLS upgrade) is supported.",
        "AUTH-RESP-CODE" => "Failed logins carry [AUTH] or [SYS/...].",
        "UTF8" => "UTF-8 mode can be enabled.",
        _ => return None,
    })
}

pub(crate) fn server(line: &str) -> Explanation {
    if line == "." {
        return ex(
            "End of a multi-line answer",
            "A line with only a dot ends the listing or message that followed +OK (lines of content that begin \
             with a dot were dot-stuffed).",
            "RFC 1939 §3",
        );
    }
    let (status, rest, good) = if let Some(r) = line.strip_prefix("+OK") {
        ("+OK", r, true)
    } else if let Some(r) = line.strip_prefix("-ERR") {
        ("-ERR", r, false)
    } else if line == "+" || line.starts_with("+ ") {
        return ex(
            "Continuation: the server waits for the next AUTH step",
            "After `+ ` (and an optional base64 challenge) the client sends its base64 answer.",
            "RFC 5034 §4",
        );
    } else {
        let w = line.split(' ').next().unwrap_or("");
        if let Some(c) = capability(w) {
            return Explanation {
                title: format!("Capability {w}"),
                body: "One line of the CAPA listing.".into(),
                rfc: "RFC 2449 §6".into(),
                parts: vec![part(w, c)],
            };
        }
        let nums: Vec<&str> = line.split(' ').collect();
        if nums.len() == 2 && nums[0].bytes().all(|b| b.is_ascii_digit()) && !nums[0].is_empty() {
            let what = if nums[1].bytes().all(|b| b.is_ascii_digit()) {
                "A scan listing line: message number and size in octets (LIST)."
            } else {
                "A unique-id listing line: message number and its unique ID (UIDL)."
            };
            return ex("Listing line", what, "RFC 1939 §5, §7");
        }
        return ex(
            "A line of a multi-line answer",
            "Part of a listing or of a message (RETR, TOP) that ends with a line holding a single dot.",
            "RFC 1939 §3",
        );
    };
    let rest = rest.trim_start();
    let mut parts = vec![part(
        status,
        if good {
            "Positive: the command worked."
        } else {
            "Negative: the command failed; the text says why."
        },
    )];
    let mut rfc = "RFC 1939 §3".to_string();
    if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(c, _)| c) {
        parts.push(part(format!("[{inner}]"), response_code(inner)));
        rfc.push_str(", RFC 2449 §8");
    }
    let title = if good { "+OK: success" } else { "-ERR: failure" };
    let body = format!(
        "POP3 replies start with +OK or -ERR; the rest of the line is for humans{}.",
        if rest.starts_with('<') || rest.contains(" <") {
            " (a <...> timestamp in the greeting is used by APOP)"
        } else {
            ""
        }
    );
    Explanation { title: title.into(), body, rfc, parts }
}
