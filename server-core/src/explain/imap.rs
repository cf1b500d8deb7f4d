//! IMAP: the commands (RFC 3501 §6 and extensions), untagged data, status responses and response codes (§7).

use super::*;

/// IMAP commands (RFC 3501 §6 and extensions).
pub static COMMANDS: &[Command] = &[
    Command {
        name: "CAPABILITY",
        syntax: "a1 CAPABILITY",
        summary: "lists the server's capabilities",
        effect: "An untagged * CAPABILITY line (IMAP4rev1, STARTTLS, IDLE, AUTH=PLAIN...), then a tagged OK.",
        rfc: "RFC 3501 §6.1.1",
        states: IMAP_ANY,
    },
    Command {
        name: "NOOP",
        syntax: "a1 NOOP",
        summary: "does nothing, but collects pending updates",
        effect: "The server may send untagged EXISTS, EXPUNGE or FETCH updates before its tagged OK.",
        rfc: "RFC 3501 §6.1.2",
        states: IMAP_ANY,
    },
    Command {
        name: "LOGOUT",
        syntax: "a1 LOGOUT",
        summary: "ends the session",
        effect: "The server sends * BYE, then a tagged OK, and closes the connection.",
        rfc: "RFC 3501 §6.1.3",
        states: IMAP_ANY,
    },
    Command {
        name: "STARTTLS",
        syntax: "a1 STARTTLS",
        summary: "upgrades the connection to TLS",
        effect: "After the tagged OK both sides run a TLS handshake; capabilities may change afterwards.",
        rfc: "RFC 3501 §6.2.1",
        states: &[ImapNotAuthenticated],
    },
    Command {
        name: "AUTHENTICATE",
        syntax: "a1 AUTHENTICATE PLAIN",
        summary: "logs in with a SASL mechanism",
        effect: "The server answers with a `+` continuation and the client sends base64 credentials.",
        rfc: "RFC 3501 §6.2.2",
        states: &[ImapNotAuthenticated],
    },
    Command {
        name: "LOGIN",
        syntax: "a1 LOGIN alice password",
        summary: "logs in with a user name and password",
        effect: "On success the session enters the Authenticated state. Refused (LOGINDISABLED) on a plain \
                 connection when the server requires TLS first.",
        rfc: "RFC 3501 §6.2.3",
        states: &[ImapNotAuthenticated],
    },
    Command {
        name: "SELECT",
        syntax: "a1 SELECT INBOX",
        summary: "opens a mailbox for reading and writing",
        effect: "The server reports FLAGS, EXISTS, RECENT, UIDVALIDITY, UIDNEXT and PERMANENTFLAGS, then OK \
                 [READ-WRITE]. The session enters the Selected state.",
        rfc: "RFC 3501 §6.3.1",
        states: IMAP_AUTH,
    },
    Command {
        name: "EXAMINE",
        syntax: "a1 EXAMINE INBOX",
        summary: "opens a mailbox read-only",
        effect: "Like SELECT, but nothing changes: no \\Seen flags are set, STORE and EXPUNGE are refused.",
        rfc: "RFC 3501 §6.3.2",
        states: IMAP_AUTH,
    },
    Command {
        name: "CREATE",
        syntax: "a1 CREATE Projects",
        summary: "creates a mailbox",
        effect: "Hierarchy levels are separated by the delimiter LIST reports (often `/` or `.`).",
        rfc: "RFC 3501 §6.3.3",
        states: IMAP_AUTH,
    },
    Command {
        name: "DELETE",
        syntax: "a1 DELETE Projects",
        summary: "deletes a mailbox",
        effect: "INBOX cannot be deleted.",
        rfc: "RFC 3501 §6.3.4",
        states: IMAP_AUTH,
    },
    Command {
        name: "RENAME",
        syntax: "a1 RENAME Projects Archive",
        summary: "renames a mailbox",
        effect: "Renaming INBOX moves its messages into a new mailbox and leaves INBOX empty.",
        rfc: "RFC 3501 §6.3.5",
        states: IMAP_AUTH,
    },
    Command {
        name: "SUBSCRIBE",
        syntax: "a1 SUBSCRIBE Projects",
        summary: "adds a mailbox to the subscription list",
        effect: "LSUB lists subscribed mailboxes.",
        rfc: "RFC 3501 §6.3.6",
        states: IMAP_AUTH,
    },
    Command {
        name: "UNSUBSCRIBE",
        syntax: "a1 UNSUBSCRIBE Projects",
        summary: "removes a mailbox from the subscription list",
        effect: "The mailbox itself stays.",
        rfc: "RFC 3501 §6.3.7",
        states: IMAP_AUTH,
    },
    Command {
        name: "LIST",
        syntax: "a1 LIST \"\" *",
        summary: "lists mailboxes",
        effect: "Arguments are a reference and a pattern; `*` matches everything, `%` one level. Each mailbox \
                 comes as an untagged * LIST line with its attributes and hierarchy delimiter.",
        rfc: "RFC 3501 §6.3.8",
        states: IMAP_AUTH,
    },
    Command {
        name: "LSUB",
        syntax: "a1 LSUB \"\" *",
        summary: "lists subscribed mailboxes",
        effect: "Like LIST, restricted to the subscription list.",
        rfc: "RFC 3501 §6.3.9",
        states: IMAP_AUTH,
    },
    Command {
        name: "STATUS",
        syntax: "a1 STATUS INBOX (MESSAGES UNSEEN UIDNEXT)",
        summary: "asks for a mailbox's counters without selecting it",
        effect: "Answered by one untagged * STATUS line.",
        rfc: "RFC 3501 §6.3.10",
        states: IMAP_AUTH,
    },
    Command {
        name: "APPEND",
        syntax: "a1 APPEND INBOX (\\Seen) {310}",
        summary: "stores a new message in a mailbox",
        effect: "The {n} literal announces n octets; after the server's `+` continuation the client sends exactly \
                 that many octets of message.",
        rfc: "RFC 3501 §6.3.11",
        states: IMAP_AUTH,
    },
    Command {
        name: "ENABLE",
        syntax: "a1 ENABLE UTF8=ACCEPT",
        summary: "turns on an extension",
        effect: "Answered by * ENABLED with what was turned on.",
        rfc: "RFC 5161 §3.1",
        states: IMAP_AUTH,
    },
    Command {
        name: "NAMESPACE",
        syntax: "a1 NAMESPACE",
        summary: "asks for the personal, other-users and shared namespaces",
        effect: "Answered by one * NAMESPACE line.",
        rfc: "RFC 2342 §5",
        states: IMAP_AUTH,
    },
    Command {
        name: "IDLE",
        syntax: "a1 IDLE",
        summary: "waits for the server to push changes",
        effect: "After the `+ idling` continuation, the server sends untagged EXISTS/EXPUNGE/FETCH lines as soon as \
                 the mailbox changes. Type DONE to end it.",
        rfc: "RFC 2177 §3",
        states: IMAP_AUTH,
    },
    Command {
        name: "NOTIFY",
        syntax: "a1 NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge)) (inboxes (MessageNew))",
        summary: "asks the server to push changes of other mailboxes too",
        effect: "From now on the server sends, unasked and at any time, untagged STATUS lines for the mailboxes \
                 named and EXISTS/EXPUNGE/FETCH for the selected one; NOTIFY NONE turns it off.",
        rfc: "RFC 5465 §3",
        states: IMAP_AUTH,
    },
    Command {
        name: "DONE",
        syntax: "DONE",
        summary: "ends IDLE",
        effect: "Not a tagged command: the server answers with the tagged OK of the IDLE command.",
        rfc: "RFC 2177 §3",
        states: IMAP_AUTH,
    },
    Command {
        name: "CHECK",
        syntax: "a1 CHECK",
        summary: "asks for a checkpoint of the selected mailbox",
        effect: "Housekeeping; mostly equivalent to NOOP today.",
        rfc: "RFC 3501 §6.4.1",
        states: &[ImapSelected],
    },
    Command {
        name: "CLOSE",
        syntax: "a1 CLOSE",
        summary: "closes the mailbox, expunging deleted messages silently",
        effect: "Messages flagged \\Deleted are removed without untagged EXPUNGE responses; back to the \
                 Authenticated state.",
        rfc: "RFC 3501 §6.4.2",
        states: &[ImapSelected],
    },
    Command {
        name: "UNSELECT",
        syntax: "a1 UNSELECT",
        summary: "closes the mailbox without expunging",
        effect: "Back to the Authenticated state; \\Deleted messages stay.",
        rfc: "RFC 3691 §2",
        states: &[ImapSelected],
    },
    Command {
        name: "EXPUNGE",
        syntax: "a1 EXPUNGE",
        summary: "removes the messages flagged \\Deleted",
        effect: "One untagged * n EXPUNGE per removed message; later sequence numbers shift down by one each time. \
                 Other sessions on the same mailbox are told too.",
        rfc: "RFC 3501 §6.4.3",
        states: &[ImapSelected],
    },
    Command {
        name: "SEARCH",
        syntax: "a1 SEARCH UNSEEN FROM alice",
        summary: "finds messages matching criteria",
        effect: "Answered by * SEARCH with the matching sequence numbers (UIDs with UID SEARCH).",
        rfc: "RFC 3501 §6.4.4",
        states: &[ImapSelected],
    },
    Command {
        name: "FETCH",
        syntax: "a1 FETCH 1:* (FLAGS ENVELOPE BODY.PEEK[HEADER])",
        summary: "reads message data",
        effect: "Items include FLAGS, UID, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE and BODY[section]; BODY[] sets \
                 \\Seen, BODY.PEEK[] does not.",
        rfc: "RFC 3501 §6.4.5",
        states: &[ImapSelected],
    },
    Command {
        name: "STORE",
        syntax: "a1 STORE 1 +FLAGS (\\Deleted)",
        summary: "changes message flags",
        effect: "FLAGS replaces, +FLAGS adds, -FLAGS removes; .SILENT suppresses the untagged FETCH answer.",
        rfc: "RFC 3501 §6.4.6",
        states: &[ImapSelected],
    },
    Command {
        name: "COPY",
        syntax: "a1 COPY 1:3 Archive",
        summary: "copies messages to another mailbox",
        effect: "NO [TRYCREATE] means the target does not exist yet.",
        rfc: "RFC 3501 §6.4.7",
        states: &[ImapSelected],
    },
    Command {
        name: "MOVE",
        syntax: "a1 MOVE 1 Archive",
        summary: "moves messages to another mailbox",
        effect: "Copy plus expunge in one step.",
        rfc: "RFC 6851 §3.1",
        states: &[ImapSelected],
    },
    Command {
        name: "UID",
        syntax: "a1 UID FETCH 1:* FLAGS",
        summary: "runs COPY, MOVE, FETCH, STORE, SEARCH or EXPUNGE with UIDs instead of sequence numbers",
        effect: "UIDs never change while UIDVALIDITY stays the same; sequence numbers shift after every expunge.",
        rfc: "RFC 3501 §6.4.8",
        states: &[ImapSelected],
    },
];

pub(crate) fn client(line: &str) -> Explanation {
    if line.eq_ignore_ascii_case("DONE") {
        // DONE is in the command list.
        return from_command(command(Protocol::Imap, "DONE").expect("DONE is listed"), "IMAP");
    }
    let mut words = line.split(' ');
    let tag = words.next().unwrap_or("");
    let cmd = words.next().unwrap_or("");
    if let Some(c) = command(Protocol::Imap, cmd) {
        let mut e = from_command(c, "IMAP");
        e.parts.push(part(
            tag,
            "The tag: chosen by the client, unique per command; the server's final answer repeats it.",
        ));
        if cmd.eq_ignore_ascii_case("UID")
            && let Some(sub) = words.next().and_then(|w| command(Protocol::Imap, w))
        {
            e.parts.push(part(sub.name, sub.summary));
        }
        if line.ends_with('}') {
            e.parts.push(part(
                "{n}",
                "A literal: n octets follow on the next lines, after the server's `+` continuation.",
            ));
        }
        return e;
    }
    if line == "*" {
        return ex("Cancels an AUTHENTICATE exchange", "The server answers BAD.", "RFC 3501 §6.2.2");
    }
    if looks_base64(line) {
        return ex(
            "A base64 answer to an AUTHENTICATE challenge (or literal data)",
            "After a `+` continuation the client sends base64 credentials, or the octets of a literal.",
            "RFC 3501 §6.2.2, §4.3",
        );
    }
    unknown(line, "Not an IMAP command (or literal data)", "RFC 3501 §6")
}

/// What an IMAP response code (in `[...]`) means (RFC 3501 §7.1, RFC 5530, RFC 4315).
pub fn response_code(code: &str) -> &'static str {
    match code.split(' ').next().unwrap_or("").to_ascii_uppercase().as_str() {
        "ALERT" => "A message the client must show to the user.",
        "BADCHARSET" => "The SEARCH charset is not supported.",
        "CAPABILITY" => "The capability list, so the client need not ask.",
        "PARSE" => "A message could not be parsed.",
        "PERMANENTFLAGS" => "Which flags the client can change for good (\\* means new keywords too).",
        "READ-ONLY" => "The mailbox is open read-only.",
        "READ-WRITE" => "The mailbox is open read-write.",
        "TRYCREATE" => "The target mailbox does not exist; CREATE it first.",
        "UIDNEXT" => "The UID the next new message will get.",
        "UIDVALIDITY" => "If this number changes, all UIDs the client remembered are invalid.",
        "UNSEEN" => "The sequence number of the first unseen message.",
        "APPENDUID" => "UIDVALIDITY and UID of the appended message (RFC 4315).",
        "COPYUID" => "UIDVALIDITY, source UIDs and new UIDs of copied messages (RFC 4315).",
        "UIDNOTSTICKY" => "UIDs in this mailbox are not kept (RFC 4315).",
        "AUTHENTICATIONFAILED" => "Wrong user name or password (RFC 5530).",
        "AUTHORIZATIONFAILED" => "Authenticated, but not allowed to act as that user (RFC 5530).",
        "UNAVAILABLE" => "Temporarily unavailable; try later (RFC 5530).",
        "EXPIRED" => "The credentials have expired (RFC 5530).",
        "PRIVACYREQUIRED" => "Needs TLS first (RFC 5530).",
        "CONTACTADMIN" => "Ask the administrator (RFC 5530).",
        "NOPERM" => "No permission for this (RFC 5530).",
        "INUSE" => "Someone else is using it (RFC 5530).",
        "EXPUNGEISSUED" => "Another session expunged messages meanwhile (RFC 5530).",
        "CORRUPTION" => "The server found corrupted data (RFC 5530).",
        "SERVERBUG" => "The server has a bug (RFC 5530).",
        "CLIENTBUG" => "The client did something wrong that is not a syntax error (RFC 5530).",
        "CANNOT" => "This can never work (RFC 5530).",
        "LIMIT" => "A limit was hit (RFC 5530).",
        "OVERQUOTA" => "Over quota (RFC 5530).",
        "ALREADYEXISTS" => "The mailbox already exists (RFC 5530).",
        "NONEXISTENT" => "No such mailbox or message (RFC 5530).",
        "CLOSED" => "The previously selected mailbox is now closed (RFC 7162).",
        "HIGHESTMODSEQ" => "The highest modification sequence (RFC 7162).",
        _ => "A response code this catalogue does not list.",
    }
}

fn status(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_uppercase().as_str() {
        "OK" => "Success (tagged) or information (untagged).",
        "NO" => "Operational failure: the command was understood but could not be done.",
        "BAD" => "Protocol error: the command was not understood (syntax, unknown command, wrong state).",
        "PREAUTH" => "Greeting: the connection is already authenticated.",
        "BYE" => "The server is closing the connection.",
        _ => return None,
    })
}

fn untagged_data(word: &str, next: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match (word.to_ascii_uppercase().as_str(), next.to_ascii_uppercase().as_str()) {
        ("CAPABILITY", _) => ("CAPABILITY data", "The server's capabilities.", "RFC 3501 §7.2.1"),
        ("LIST", _) => {
            ("LIST data", "One mailbox: attributes, hierarchy delimiter, name.", "RFC 3501 §7.2.2")
        }
        ("LSUB", _) => ("LSUB data", "One subscribed mailbox.", "RFC 3501 §7.2.3"),
        ("STATUS", _) => ("STATUS data", "Counters of one mailbox.", "RFC 3501 §7.2.4"),
        ("SEARCH", _) => ("SEARCH data", "The numbers of the matching messages.", "RFC 3501 §7.2.5"),
        ("FLAGS", _) => ("FLAGS data", "The flags defined in the selected mailbox.", "RFC 3501 §7.2.6"),
        ("ENABLED", _) => ("ENABLED data", "The extensions now enabled.", "RFC 5161 §3.2"),
        ("NAMESPACE", _) => {
            ("NAMESPACE data", "Personal, other users' and shared namespaces.", "RFC 2342 §5")
        }
        ("ID", _) => ("ID data", "The server's identification.", "RFC 2971 §3.2"),
        (_, "EXISTS") => (
            "EXISTS: the number of messages in the mailbox",
            "Sent after SELECT and whenever new mail arrives (during IDLE too).",
            "RFC 3501 §7.3.1",
        ),
        (_, "RECENT") => (
            "RECENT: messages new since the last session",
            "Messages that arrived since the mailbox was last selected.",
            "RFC 3501 §7.3.2",
        ),
        (_, "EXPUNGE") => (
            "EXPUNGE: a message was removed",
            "The message with this sequence number is gone; every higher sequence number drops by one.",
            "RFC 3501 §7.4.1",
        ),
        (_, "FETCH") => (
            "FETCH data: message data or changed flags",
            "Answers a FETCH, or reports flag changes made by STORE or by another session.",
            "RFC 3501 §7.4.2",
        ),
        _ => return None,
    })
}

pub(crate) fn server(line: &str) -> Explanation {
    if line == "+" || line.starts_with("+ ") {
        return ex(
            "Continuation request",
            "The server is ready for more from the client: the octets of a literal, the next AUTHENTICATE step \
             (base64), or (after IDLE) it is now idling until the client sends DONE.",
            "RFC 3501 §7.5",
        );
    }
    let mut words = line.splitn(3, ' ');
    let tag = words.next().unwrap_or("");
    let word = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("");
    let mut parts = Vec::new();
    let code = rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(c, _)| c);
    let code_part = |parts: &mut Vec<Part>| {
        if let Some(c) = code {
            parts.push(part(format!("[{c}]"), response_code(c)));
        }
    };
    if tag == "*" {
        if let Some(meaning) = status(word) {
            parts.push(part("*", "Untagged: not the final answer to a command."));
            parts.push(part(word, meaning));
            code_part(&mut parts);
            return Explanation {
                title: format!("Untagged {}", word.to_ascii_uppercase()),
                body: "Untagged status responses carry information (the greeting, warnings, response codes)."
                    .into(),
                rfc: "RFC 3501 §7.1".into(),
                parts,
            };
        }
        let next = rest.split(' ').next().unwrap_or("");
        if let Some((title, body, rfc)) = untagged_data(word, next) {
            parts.push(part("*", "Untagged: data the server sends, asked for or not."));
            return Explanation { title: title.into(), body: body.into(), rfc: rfc.into(), parts };
        }
        return ex(
            "Untagged data",
            "Data from the server, not the final answer to a command.",
            "RFC 3501 §7",
        );
    }
    if let Some(meaning) = status(word) {
        parts.push(part(tag, "The tag of the command this finishes."));
        parts.push(part(word, meaning));
        code_part(&mut parts);
        return Explanation {
            title: format!("Tagged {}: command {} finished", word.to_ascii_uppercase(), tag),
            body: "A tagged response is the final answer to the client's command with the same tag.".into(),
            rfc: "RFC 3501 §7.1".into(),
            parts,
        };
    }
    unknown(line, "Part of a server response (a literal's data?)", "RFC 3501 §7")
}
