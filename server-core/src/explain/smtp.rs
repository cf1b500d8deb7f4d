//! SMTP: the commands (RFC 5321 §4.1.1 and extensions), reply codes digit by digit (§4.2), enhanced status codes
//! (RFC 3463) and EHLO keywords.

use super::*;

/// SMTP commands (RFC 5321 §4.1.1 and extensions).
pub static COMMANDS: &[Command] = &[
    Command {
        name: "EHLO",
        syntax: "EHLO client.example.org",
        summary: "greets the server and asks for its extensions",
        effect: "Identifies the client by its domain name or address literal and starts a session. The server \
                 answers 250 with one line per supported extension (SIZE, STARTTLS, AUTH, PIPELINING...). It also \
                 resets any open mail transaction.",
        rfc: "RFC 5321 §4.1.1.1",
        states: SMTP_ANY,
    },
    Command {
        name: "HELO",
        syntax: "HELO client.example.org",
        summary: "greets the server (old style, no extensions)",
        effect: "The original greeting from RFC 821. The server answers with a single 250 line and no extension \
                 list, so STARTTLS and AUTH are not available. Prefer EHLO.",
        rfc: "RFC 5321 §4.1.1.1",
        states: SMTP_ANY,
    },
    Command {
        name: "STARTTLS",
        syntax: "STARTTLS",
        summary: "upgrades the connection to TLS",
        effect: "After 220 Ready to start TLS, both sides run a TLS handshake on the same connection. Everything \
                 said before is forgotten: the client must send EHLO again, and the server may now offer AUTH.",
        rfc: "RFC 3207 §4",
        states: &[SmtpReady],
    },
    Command {
        name: "AUTH",
        syntax: "AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk",
        summary: "logs in with a SASL mechanism",
        effect: "Authenticates the client (PLAIN: base64 of \\0user\\0password; LOGIN: user name and password \
                 asked for one at a time with 334 challenges). 235 means success, 535 bad credentials. An \
                 authenticated client may relay mail to other domains.",
        rfc: "RFC 4954 §4",
        states: &[SmtpReady],
    },
    Command {
        name: "MAIL",
        syntax: "MAIL FROM:<alice@example.com>",
        summary: "starts a mail transaction and names the sender",
        effect: "Gives the reverse path: where bounces (delivery status notifications) go. The empty path <> is \
                 used by bounces themselves. Optional parameters such as SIZE=1234 or BODY=8BITMIME follow.",
        rfc: "RFC 5321 §4.1.1.2",
        states: &[SmtpReady],
    },
    Command {
        name: "RCPT",
        syntax: "RCPT TO:<carol@example.net>",
        summary: "names one recipient",
        effect: "Adds one forward path to the transaction; repeat it for several recipients. 250 accepts it, 550 \
                 means no such user here, 554/550 5.7.1 that relaying to that domain is not allowed for you.",
        rfc: "RFC 5321 §4.1.1.3",
        states: &[SmtpMail, SmtpRcpt],
    },
    Command {
        name: "DATA",
        syntax: "DATA",
        summary: "sends the message itself",
        effect: "After 354, send the message (headers, an empty line, the body) and end it with a line holding \
                 only a dot. Lines that start with a dot get a second dot (dot-stuffing, §4.5.2). 250 means the \
                 server took responsibility for the message.",
        rfc: "RFC 5321 §4.1.1.4",
        states: &[SmtpRcpt],
    },
    Command {
        name: "BDAT",
        syntax: "BDAT 120 LAST",
        summary: "sends the message in counted chunks",
        effect: "An alternative to DATA when the server offers CHUNKING: the client says how many octets follow, \
                 so no dot-stuffing is needed. LAST marks the final chunk.",
        rfc: "RFC 3030 §2",
        states: &[SmtpRcpt],
    },
    Command {
        name: "RSET",
        syntax: "RSET",
        summary: "aborts the current mail transaction",
        effect: "Forgets the sender, the recipients and any data of the transaction in progress. The session \
                 (greeting, TLS, login) stays.",
        rfc: "RFC 5321 §4.1.1.5",
        states: SMTP_ANY,
    },
    Command {
        name: "VRFY",
        syntax: "VRFY alice",
        summary: "asks whether a user exists",
        effect: "Servers often answer 252 (cannot verify, but will try to deliver) so that strangers cannot list \
                 their users.",
        rfc: "RFC 5321 §4.1.1.6",
        states: SMTP_ANY,
    },
    Command {
        name: "EXPN",
        syntax: "EXPN staff",
        summary: "asks for the members of a mailing list",
        effect: "Usually disabled for privacy (502 or 252).",
        rfc: "RFC 5321 §4.1.1.7",
        states: SMTP_ANY,
    },
    Command {
        name: "HELP",
        syntax: "HELP",
        summary: "asks for help text",
        effect: "The server answers 214 with human-readable help.",
        rfc: "RFC 5321 §4.1.1.8",
        states: SMTP_ANY,
    },
    Command {
        name: "NOOP",
        syntax: "NOOP",
        summary: "does nothing",
        effect: "The server answers 250 OK. Useful to keep a connection alive or to test it.",
        rfc: "RFC 5321 §4.1.1.9",
        states: SMTP_ANY,
    },
    Command {
        name: "QUIT",
        syntax: "QUIT",
        summary: "ends the session",
        effect: "The server answers 221 and closes the connection. A transaction not finished with DATA is \
                 abandoned.",
        rfc: "RFC 5321 §4.1.1.10",
        states: SMTP_ANY,
    },
];

pub(crate) fn client(line: &str) -> Explanation {
    if line == "." {
        return ex(
            "End of message data",
            "A line with only a dot ends the message sent after DATA. The server now answers 250 (accepted and \
             queued) or an error; only then is it responsible for the message.",
            "RFC 5321 §4.1.1.4",
        );
    }
    if let Some(c) = command(Protocol::Smtp, first_word(line)) {
        return from_command(c, "SMTP");
    }
    if line.starts_with("..") {
        return ex(
            "A dot-stuffed message line",
            "Inside DATA a line beginning with a dot gets an extra dot so it cannot be mistaken for the end of the \
             message; the server removes it.",
            "RFC 5321 §4.5.2",
        );
    }
    if let Some(h) = header_name(line) {
        return ex(
            format!("Message header field {h}:"),
            "Inside DATA, the message starts with header fields `Name: value` (From, To, Subject, Date, \
             Message-ID...), then an empty line, then the body. The headers are part of the message and may \
             differ from the envelope given in MAIL FROM and RCPT TO.",
            "RFC 5322 §3.6",
        );
    }
    if looks_base64(line) {
        return ex(
            "A base64 answer to an AUTH challenge (or a message line)",
            "During AUTH the client answers each 334 challenge with base64 data (for LOGIN: the user name, then \
             the password). `*` cancels. Inside DATA this is simply a line of the message.",
            "RFC 4954 §4",
        );
    }
    ex(
        "A message line (or an unknown command)",
        "While DATA is open, every line is part of the message until a line with a single dot. Outside DATA, the \
         server answers an unknown command with 500.",
        "RFC 5321 §4.1.1.4",
    )
}

fn header_name(line: &str) -> Option<&str> {
    let (name, _) = line.split_once(':')?;
    (!name.is_empty() && name.len() < 40 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then_some(name)
}

/// The meaning of the first digit of an SMTP reply code (RFC 5321 §4.2.1).
pub fn first_digit(d: u8) -> &'static str {
    match d {
        b'2' => "Positive completion: the action was done; a new request may be started.",
        b'3' => {
            "Positive intermediate: accepted so far, the server waits for more (the message after DATA, the \
                 next AUTH step)."
        }
        b'4' => {
            "Transient negative completion: not done now, but the same request may work later; a sending \
                 server keeps the message queued and retries."
        }
        b'5' => {
            "Permanent negative completion: not done and repeating it unchanged will not help; a sending \
                 server gives up and bounces the message."
        }
        b'1' => "Positive preliminary (not used by SMTP today).",
        _ => "Not a valid first digit.",
    }
}

/// The meaning of the second digit of an SMTP reply code (RFC 5321 §4.2.1).
pub fn second_digit(d: u8) -> &'static str {
    match d {
        b'0' => "Syntax: about the command's syntax or an unimplemented command.",
        b'1' => "Information: a reply to a request for information (status, help).",
        b'2' => "Connections: about the transmission channel.",
        b'3' => "Unspecified (authentication replies use it).",
        b'4' => "Unspecified.",
        b'5' => "Mail system: about the state of the receiving mail system (mailbox, relay, storage).",
        _ => "Not a valid second digit.",
    }
}

/// What a specific SMTP reply code means (RFC 5321 §4.2.2, §4.2.3, RFC 4954 §6, RFC 3207 §4, RFC 7504).
pub fn reply_code(code: u16) -> Option<&'static str> {
    Some(match code {
        211 => "System status or help reply.",
        214 => "Help message.",
        220 => "Service ready: the greeting, or (after STARTTLS) ready to start TLS.",
        221 => "Service closing transmission channel: goodbye.",
        235 => "Authentication succeeded.",
        250 => "Requested mail action okay, completed.",
        251 => "User not local; will forward.",
        252 => "Cannot verify the user, but will accept the message and attempt delivery.",
        334 => "AUTH challenge: the server waits for the next base64 piece of the login.",
        354 => "Start mail input; end with <CRLF>.<CRLF>.",
        421 => {
            "Service not available, closing transmission channel (shutting down, too many errors, timeout)."
        }
        432 => "A password transition is needed.",
        450 => "Mailbox unavailable (busy or temporarily blocked); try again later.",
        451 => "Local error in processing; try again later.",
        452 => "Insufficient system storage (or too many recipients); try again later.",
        454 => "Temporary authentication failure, or TLS not available now.",
        455 => "Server unable to accommodate parameters.",
        500 => "Syntax error, command unrecognized (or line too long).",
        501 => "Syntax error in parameters or arguments.",
        502 => "Command not implemented.",
        503 => "Bad sequence of commands (for example RCPT before MAIL, or DATA without recipients).",
        504 => "Command parameter not implemented.",
        521 => "This host does not accept mail at all.",
        523 => "The message is larger than the server allows for this mechanism.",
        530 => "Authentication required (or STARTTLS first).",
        534 => "Authentication mechanism is too weak.",
        535 => "Authentication credentials invalid.",
        538 => "Encryption required for this authentication mechanism.",
        550 => "Requested action not taken: mailbox unavailable (no such user, or relaying denied).",
        551 => "User not local; the client should try the given forward path.",
        552 => "Requested mail action aborted: exceeded storage allocation (message too big).",
        553 => "Requested action not taken: mailbox name not allowed (bad address syntax).",
        554 => "Transaction failed (or, as a greeting, no SMTP service here).",
        555 => "MAIL FROM/RCPT TO parameters not recognized or not implemented.",
        556 => "The recipient's domain does not accept mail.",
        _ => return None,
    })
}

/// The class (first number) of an enhanced status code (RFC 3463 §3.1).
pub fn enhanced_class(class: u32) -> Option<&'static str> {
    Some(match class {
        2 => "Success.",
        4 => "Persistent transient failure: the message as sent is valid, a later attempt may succeed.",
        5 => "Permanent failure: resending the same message will not succeed.",
        _ => return None,
    })
}

/// The subject (second number) of an enhanced status code (RFC 3463 §3).
pub fn enhanced_subject(subject: u32) -> Option<&'static str> {
    Some(match subject {
        0 => "Other or undefined status.",
        1 => "Addressing status (the sender or recipient address).",
        2 => "Mailbox status (the recipient's mailbox).",
        3 => "Mail system status (the receiving system as a whole).",
        4 => "Network and routing status.",
        5 => "Mail delivery protocol status.",
        6 => "Message content or media status.",
        7 => "Security or policy status.",
        _ => return None,
    })
}

/// A full enhanced status code's meaning (RFC 3463 §3.x, RFC 4954 §6, RFC 5248 registry). The class is ignored.
pub fn enhanced_detail(subject: u32, detail: u32) -> Option<&'static str> {
    Some(match (subject, detail) {
        (0, 0) => "Other undefined status.",
        (1, 0) => "Other address status.",
        (1, 1) => "Bad destination mailbox address: no such user here.",
        (1, 2) => "Bad destination system address: no such host or domain.",
        (1, 3) => "Bad destination mailbox address syntax.",
        (1, 4) => "Destination mailbox address ambiguous.",
        (1, 5) => "Destination address valid.",
        (1, 6) => "Destination mailbox has moved, no forwarding address.",
        (1, 7) => "Bad sender's mailbox address syntax.",
        (1, 8) => "Bad sender's system address.",
        (1, 10) => "Recipient address has a null MX.",
        (2, 0) => "Other or undefined mailbox status.",
        (2, 1) => "Mailbox disabled, not accepting messages.",
        (2, 2) => "Mailbox full.",
        (2, 3) => "Message length exceeds administrative limit.",
        (2, 4) => "Mailing list expansion problem.",
        (3, 0) => "Other or undefined mail system status.",
        (3, 1) => "Mail system full.",
        (3, 2) => "System not accepting network messages.",
        (3, 3) => "System not capable of selected features.",
        (3, 4) => "Message too big for system.",
        (3, 5) => "System incorrectly configured.",
        (4, 0) => "Other or undefined network or routing status.",
        (4, 1) => "No answer from host.",
        (4, 2) => "Bad connection.",
        (4, 3) => "Directory server failure (DNS).",
        (4, 4) => "Unable to route: no route to the destination.",
        (4, 5) => "Mail system congestion.",
        (4, 6) => "Routing loop detected.",
        (4, 7) => "Delivery time expired: the message stayed in the queue too long.",
        (5, 0) => "Other or undefined protocol status.",
        (5, 1) => "Invalid command.",
        (5, 2) => "Syntax error.",
        (5, 3) => "Too many recipients.",
        (5, 4) => "Invalid command arguments.",
        (5, 5) => "Wrong protocol version.",
        (5, 6) => "Authentication exchange line is too long.",
        (6, 0) => "Other or undefined media error.",
        (6, 1) => "Media not supported.",
        (6, 2) => "Conversion required and prohibited.",
        (6, 3) => "Conversion required but not supported.",
        (6, 4) => "Conversion with loss performed.",
        (6, 5) => "Conversion failed.",
        (7, 0) => "Other or undefined security status (also: authentication required).",
        (7, 1) => "Delivery not authorized, message refused (for example relaying denied).",
        (7, 2) => "Mailing list expansion prohibited.",
        (7, 3) => "Security conversion required but not possible.",
        (7, 4) => "Security features not supported.",
        (7, 5) => "Cryptographic failure.",
        (7, 6) => "Cryptographic algorithm not supported.",
        (7, 7) => "Message integrity failure.",
        (7, 8) => "Authentication credentials invalid.",
        (7, 9) => "Authentication mechanism is too weak.",
        (7, 10) => "Encryption needed.",
        (7, 11) => "Encryption required for requested authentication mechanism.",
        (7, 12) => "A password transition is needed.",
        _ => return None,
    })
}

/// Parses `d.d{1,3}.d{1,3}` at the start of `text`.
fn parse_enhanced(text: &str) -> Option<(u32, u32, u32, &str)> {
    let word = text.split(' ').next()?;
    let mut it = word.split('.');
    let (a, b, c) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || a.len() != 1 || b.is_empty() || b.len() > 3 || c.is_empty() || c.len() > 3 {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?, c.parse().ok()?, word))
}

/// EHLO extension keywords, as they appear in 250 lines.
fn extension(keyword: &str) -> Option<(&'static str, &'static str)> {
    Some(match keyword.to_ascii_uppercase().as_str() {
        "PIPELINING" => ("The client may send several commands without waiting for each reply.", "RFC 2920"),
        "SIZE" => {
            ("The largest message the server accepts, in octets (MAIL FROM may announce SIZE=n).", "RFC 1870")
        }
        "STARTTLS" => ("The connection can be upgraded to TLS with STARTTLS.", "RFC 3207"),
        "AUTH" => ("The SASL mechanisms the server accepts for AUTH (PLAIN, LOGIN...).", "RFC 4954 §3"),
        "8BITMIME" => {
            ("Message bodies may contain 8-bit characters (MAIL FROM ... BODY=8BITMIME).", "RFC 6152")
        }
        "ENHANCEDSTATUSCODES" => ("Replies carry an enhanced status code such as 2.1.5.", "RFC 2034"),
        "SMTPUTF8" => ("Addresses and headers may be UTF-8.", "RFC 6531"),
        "CHUNKING" => ("BDAT may be used instead of DATA.", "RFC 3030"),
        "DSN" => ("Delivery status notifications can be requested (NOTIFY=, RET=).", "RFC 3461"),
        "HELP" => ("HELP is available.", "RFC 5321 §4.1.1.8"),
        "VRFY" => ("VRFY is available.", "RFC 5321 §4.1.1.6"),
        "ETRN" => ("The client may ask the server to flush its queue for a domain.", "RFC 1985"),
        _ => return None,
    })
}

pub(crate) fn reply(line: &str) -> Explanation {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || (b.len() > 3 && b[3] != b' ' && b[3] != b'-')
    {
        return unknown(line, "Not an SMTP reply line", "RFC 5321 §4.2");
    }
    let code: u16 = line[..3].parse().unwrap_or(0);
    let more = b.get(3) == Some(&b'-');
    let text = line.get(4..).unwrap_or("");
    let mut parts = vec![
        part(format!("{}xx", b[0] as char), first_digit(b[0])),
        part(format!("x{}x", b[1] as char), second_digit(b[1])),
        part(
            code.to_string(),
            reply_code(code)
                .unwrap_or("A code this catalogue has no specific text for: read it by its digits."),
        ),
    ];
    if more {
        parts.push(part(
            "-",
            "A hyphen after the code: more lines of this reply follow; the last has a space.",
        ));
    }
    let mut title = format!("{code} reply: {}", reply_code(code).unwrap_or("see the digits"));
    let mut rfc = "RFC 5321 §4.2.1".to_string();
    if let Some((class, subject, detail, word)) = parse_enhanced(text) {
        parts.push(part(
            format!("{class}.x.x"),
            enhanced_class(class).unwrap_or("Not a valid class (2, 4 or 5)."),
        ));
        parts.push(part(format!("x.{subject}.x"), enhanced_subject(subject).unwrap_or("Unknown subject.")));
        parts.push(part(
            word.to_string(),
            enhanced_detail(subject, detail).unwrap_or("A detail code this catalogue does not list."),
        ));
        rfc.push_str(", RFC 3463 §3");
    } else if code == 250 {
        let kw = text.split(' ').next().unwrap_or("");
        if let Some((meaning, erfc)) = extension(kw) {
            title = format!("EHLO extension {kw}");
            parts.push(part(kw.to_string(), meaning));
            rfc = format!("RFC 5321 §4.1.1.1, {erfc}");
        }
    } else if code == 334 {
        parts.push(part(
            "challenge",
            "The text after 334 is base64: for AUTH LOGIN it decodes to \"Username:\" or \"Password:\".",
        ));
        rfc = "RFC 4954 §4".into();
    }
    if matches!(code, 235 | 454 | 530 | 534 | 535 | 538) {
        rfc.push_str(", RFC 4954 §6");
    }
    let body = format!(
        "The server answered with code {code}. The first digit says whether it worked, the second what it is \
         about, the third is a finer distinction. {}",
        if text.is_empty() { String::new() } else { format!("The text “{text}” is for humans.") }
    );
    Explanation { title, body, rfc, parts }
}
