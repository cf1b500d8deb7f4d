//! The explanation catalogue: what every command and reply of SMTP, POP3 and IMAP means, with its RFC section.
//!
//! Pure data plus small lookup functions, no I/O and no dependencies beyond serde: it is compiled into the wasm
//! frontend (which shows it when a learner clicks a transcript line) and into the server, so the page and the
//! server never disagree. Sources:
//! - SMTP: RFC 5321 (§4.1 commands, §4.2 replies, §4.2.1 reply-code digits), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
//!   RFC 3463 (enhanced status codes `class.subject.detail`), RFC 2034 (ENHANCEDSTATUSCODES), RFC 1870 (SIZE),
//!   RFC 6152 (8BITMIME), RFC 2920 (PIPELINING), RFC 6531 (SMTPUTF8), RFC 3030 (CHUNKING/BDAT).
//! - POP3: RFC 1939 (commands, `+OK`/`-ERR`, states), RFC 2449 (CAPA, response codes), RFC 2595 (STLS),
//!   RFC 5034 (AUTH), RFC 3206 (`[SYS/...]`, `[AUTH]`).
//! - IMAP: RFC 3501 (§6 commands, §7 responses, §7.1 response codes), RFC 2177 (IDLE), RFC 5530 (more response
//!   codes), RFC 6851 (MOVE), RFC 4315 (UIDPLUS), RFC 5161 (ENABLE), RFC 3691 (UNSELECT), RFC 2342 (NAMESPACE).
//!
//! The entry point is [`explain_line`]; [`commands`] lists a protocol's commands with the states in which each is
//! valid (the frontend's Tab completion and suggestion chips use it).

use serde::{Deserialize, Serialize};

/// Which side wrote a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The client (the learner, or a relaying server acting as client).
    Client,
    /// The server.
    Server,
}

/// The three protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// SMTP, submission, SMTPS.
    Smtp,
    /// POP3, POP3S.
    Pop3,
    /// IMAP, IMAPS.
    Imap,
}

impl Protocol {
    /// Maps a service name (`smtp`, `submission`, `smtps`, `pop3`, `pop3s`, `imap`, `imaps`) to its protocol.
    pub fn from_service(service: &str) -> Option<Protocol> {
        match service.to_ascii_lowercase().as_str() {
            "smtp" | "submission" | "smtps" | "lmtp" => Some(Protocol::Smtp),
            "pop3" | "pop3s" | "pop" => Some(Protocol::Pop3),
            "imap" | "imaps" => Some(Protocol::Imap),
            _ => None,
        }
    }
}

/// One labelled piece of an explanation (a digit of a reply code, a response code, an argument).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// What is explained (`2`, `5.1.1`, `[UIDVALIDITY 3857529045]`).
    pub label: String,
    /// What it means.
    pub text: String,
}

/// What a line means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// One line: `RCPT TO: names one recipient`.
    pub title: String,
    /// Syntax and effect in a few sentences.
    pub body: String,
    /// Where it is specified: `RFC 5321 §4.1.1.3`.
    pub rfc: String,
    /// Piece-by-piece meanings (reply-code digits, enhanced status code, response codes).
    pub parts: Vec<Part>,
}

/// A protocol state in which a command is valid. Tab completion offers only commands valid now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// SMTP: greeting received, no EHLO/HELO yet.
    SmtpInit,
    /// SMTP: after EHLO/HELO, no mail transaction open.
    SmtpReady,
    /// SMTP: after MAIL FROM.
    SmtpMail,
    /// SMTP: after at least one accepted RCPT TO.
    SmtpRcpt,
    /// POP3 AUTHORIZATION state (RFC 1939 §4).
    Pop3Authorization,
    /// POP3 TRANSACTION state (RFC 1939 §5).
    Pop3Transaction,
    /// IMAP Not Authenticated (RFC 3501 §3.1).
    ImapNotAuthenticated,
    /// IMAP Authenticated (RFC 3501 §3.2).
    ImapAuthenticated,
    /// IMAP Selected (RFC 3501 §3.3).
    ImapSelected,
}

use State::*;

/// One command of a protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    /// The keyword (`RCPT`).
    pub name: &'static str,
    /// What to type (`RCPT TO:<carol@example.net>`).
    pub syntax: &'static str,
    /// One line of summary.
    pub summary: &'static str,
    /// What it does, in a few sentences.
    pub effect: &'static str,
    /// Where it is specified.
    pub rfc: &'static str,
    /// States in which it is valid.
    pub states: &'static [State],
}

const SMTP_ANY: &[State] = &[SmtpInit, SmtpReady, SmtpMail, SmtpRcpt];
const POP_ANY: &[State] = &[Pop3Authorization, Pop3Transaction];
const IMAP_ANY: &[State] = &[ImapNotAuthenticated, ImapAuthenticated, ImapSelected];
const IMAP_AUTH: &[State] = &[ImapAuthenticated, ImapSelected];

/// SMTP commands (RFC 5321 §4.1.1 and extensions).
pub static SMTP_COMMANDS: &[Command] = &[
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

/// POP3 commands (RFC 1939 and extensions).
pub static POP3_COMMANDS: &[Command] = &[
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

/// IMAP commands (RFC 3501 §6 and extensions).
pub static IMAP_COMMANDS: &[Command] = &[
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

/// The commands of a protocol.
pub fn commands(protocol: Protocol) -> &'static [Command] {
    match protocol {
        Protocol::Smtp => SMTP_COMMANDS,
        Protocol::Pop3 => POP3_COMMANDS,
        Protocol::Imap => IMAP_COMMANDS,
    }
}

/// Finds a command by keyword (case-insensitive).
pub fn command(protocol: Protocol, name: &str) -> Option<&'static Command> {
    commands(protocol).iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Explains one transcript line (without its CR LF). `protocol` is a service or protocol name (`smtp`,
/// `submission`, `pop3s`, `imap`...). Never fails: an unknown line gets a generic explanation.
pub fn explain_line(protocol: &str, side: Side, line: &str) -> Explanation {
    let line = line.trim_end_matches(['\r', '\n']);
    match (Protocol::from_service(protocol), side) {
        (Some(Protocol::Smtp), Side::Client) => smtp_client(line),
        (Some(Protocol::Smtp), Side::Server) => smtp_reply(line),
        (Some(Protocol::Pop3), Side::Client) => pop3_client(line),
        (Some(Protocol::Pop3), Side::Server) => pop3_server(line),
        (Some(Protocol::Imap), Side::Client) => imap_client(line),
        (Some(Protocol::Imap), Side::Server) => imap_server(line),
        (None, _) => unknown(line, "Unknown protocol", ""),
    }
}

fn ex(title: impl Into<String>, body: impl Into<String>, rfc: impl Into<String>) -> Explanation {
    Explanation { title: title.into(), body: body.into(), rfc: rfc.into(), parts: Vec::new() }
}

fn part(label: impl Into<String>, text: impl Into<String>) -> Part {
    Part { label: label.into(), text: text.into() }
}

fn unknown(line: &str, what: &str, rfc: &str) -> Explanation {
    let body = if line.is_empty() {
        "An empty line. Inside a message it separates the headers from the body (RFC 5322 §2.1).".to_string()
    } else {
        format!("“{line}” is not a command this catalogue knows.")
    };
    ex(what, body, rfc)
}

fn from_command(c: &Command, protocol: &str) -> Explanation {
    Explanation {
        title: format!("{}: {}", c.name, c.summary),
        body: format!("Syntax: {}\n{}", c.syntax, c.effect),
        rfc: c.rfc.to_string(),
        parts: vec![part("protocol", protocol)],
    }
}

fn first_word(line: &str) -> &str {
    line.split([' ', ':']).next().unwrap_or("")
}

// ---------------------------------------------------------------------------------------------------------------
// SMTP

fn smtp_client(line: &str) -> Explanation {
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

fn looks_base64(line: &str) -> bool {
    line.len() >= 4
        && line.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        && line.bytes().any(|b| b.is_ascii_digit() || b == b'=' || b.is_ascii_lowercase())
}

/// The meaning of the first digit of an SMTP reply code (RFC 5321 §4.2.1).
pub fn smtp_first_digit(d: u8) -> &'static str {
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
pub fn smtp_second_digit(d: u8) -> &'static str {
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
pub fn smtp_code(code: u16) -> Option<&'static str> {
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
fn smtp_extension(keyword: &str) -> Option<(&'static str, &'static str)> {
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

fn smtp_reply(line: &str) -> Explanation {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || (b.len() > 3 && b[3] != b' ' && b[3] != b'-')
    {
        return unknown(line, "Not an SMTP reply line", "RFC 5321 §4.2");
    }
    let code: u16 = line[..3].parse().unwrap_or(0);
    let more = b.get(3) == Some(&b'-');
    let text = line.get(4..).unwrap_or("");
    let mut parts = vec![
        part(format!("{}xx", b[0] as char), smtp_first_digit(b[0])),
        part(format!("x{}x", b[1] as char), smtp_second_digit(b[1])),
        part(
            code.to_string(),
            smtp_code(code)
                .unwrap_or("A code this catalogue has no specific text for: read it by its digits."),
        ),
    ];
    if more {
        parts.push(part(
            "-",
            "A hyphen after the code: more lines of this reply follow; the last has a space.",
        ));
    }
    let mut title = format!("{code} reply: {}", smtp_code(code).unwrap_or("see the digits"));
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
        if let Some((meaning, erfc)) = smtp_extension(kw) {
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

// ---------------------------------------------------------------------------------------------------------------
// POP3

fn pop3_client(line: &str) -> Explanation {
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

fn pop3_response_code(code: &str) -> &'static str {
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

fn pop3_capability(word: &str) -> Option<&'static str> {
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

fn pop3_server(line: &str) -> Explanation {
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
        if let Some(c) = pop3_capability(w) {
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
        parts.push(part(format!("[{inner}]"), pop3_response_code(inner)));
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

// ---------------------------------------------------------------------------------------------------------------
// IMAP

fn imap_client(line: &str) -> Explanation {
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
pub fn imap_response_code(code: &str) -> &'static str {
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

fn imap_status(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_uppercase().as_str() {
        "OK" => "Success (tagged) or information (untagged).",
        "NO" => "Operational failure: the command was understood but could not be done.",
        "BAD" => "Protocol error: the command was not understood (syntax, unknown command, wrong state).",
        "PREAUTH" => "Greeting: the connection is already authenticated.",
        "BYE" => "The server is closing the connection.",
        _ => return None,
    })
}

fn imap_untagged_data(word: &str, next: &str) -> Option<(&'static str, &'static str, &'static str)> {
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

fn imap_server(line: &str) -> Explanation {
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
            parts.push(part(format!("[{c}]"), imap_response_code(c)));
        }
    };
    if tag == "*" {
        if let Some(meaning) = imap_status(word) {
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
        if let Some((title, body, rfc)) = imap_untagged_data(word, next) {
            parts.push(part("*", "Untagged: data the server sends, asked for or not."));
            return Explanation { title: title.into(), body: body.into(), rfc: rfc.into(), parts };
        }
        return ex(
            "Untagged data",
            "Data from the server, not the final answer to a command.",
            "RFC 3501 §7",
        );
    }
    if let Some(meaning) = imap_status(word) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_reply_digits_and_enhanced() {
        let e = explain_line("smtp", Side::Server, "550 5.1.1 <nobody@example.com>: no such user");
        assert!(e.title.starts_with("550"));
        assert!(e.rfc.contains("RFC 5321 §4.2.1") && e.rfc.contains("RFC 3463"));
        let labels: Vec<&str> = e.parts.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["5xx", "x5x", "550", "5.x.x", "x.1.x", "5.1.1"]);
        assert!(e.parts[0].text.starts_with("Permanent"));
        assert!(e.parts[5].text.contains("no such user"));
    }

    #[test]
    fn smtp_reply_table() {
        for (line, title_start, has_part) in [
            ("220 mx1.example.com ESMTP", "220", "2xx"),
            ("250-PIPELINING", "EHLO extension PIPELINING", "PIPELINING"),
            ("250-AUTH PLAIN LOGIN", "EHLO extension AUTH", "-"),
            ("354 End data with <CR><LF>.<CR><LF>", "354", "3xx"),
            ("421 4.3.2 Service not available", "421", "4.3.2"),
            ("334 VXNlcm5hbWU6", "334", "challenge"),
            ("535 5.7.8 Authentication failed", "535", "5.7.8"),
        ] {
            let e = explain_line("submission", Side::Server, line);
            assert!(e.title.starts_with(title_start), "{line}: {}", e.title);
            assert!(e.parts.iter().any(|p| p.label == has_part), "{line}: {:?}", e.parts);
        }
        assert_eq!(explain_line("smtp", Side::Server, "hello").title, "Not an SMTP reply line");
    }

    #[test]
    fn smtp_client_table() {
        for (line, rfc) in [
            ("EHLO me", "RFC 5321 §4.1.1.1"),
            ("ehlo me", "RFC 5321 §4.1.1.1"),
            ("MAIL FROM:<alice@example.com>", "RFC 5321 §4.1.1.2"),
            ("RCPT TO:<carol@example.net>", "RFC 5321 §4.1.1.3"),
            ("DATA", "RFC 5321 §4.1.1.4"),
            (".", "RFC 5321 §4.1.1.4"),
            ("..leading dot", "RFC 5321 §4.5.2"),
            ("Subject: hi", "RFC 5322 §3.6"),
            ("STARTTLS", "RFC 3207 §4"),
            ("AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk", "RFC 4954 §4"),
            ("YWxpY2U=", "RFC 4954 §4"),
            ("QUIT", "RFC 5321 §4.1.1.10"),
        ] {
            assert_eq!(explain_line("smtp", Side::Client, line).rfc, rfc, "{line}");
        }
    }

    #[test]
    fn pop3_table() {
        let e = explain_line("pop3", Side::Server, "-ERR [AUTH] invalid credentials");
        assert_eq!(e.title, "-ERR: failure");
        assert!(e.parts.iter().any(|p| p.label == "[AUTH]"));
        assert_eq!(explain_line("pop3s", Side::Server, "+OK 2 messages").title, "+OK: success");
        assert_eq!(explain_line("pop3", Side::Server, ".").rfc, "RFC 1939 §3");
        assert_eq!(explain_line("pop3", Side::Server, "1 120").title, "Listing line");
        assert_eq!(explain_line("pop3", Side::Server, "STLS").title, "Capability STLS");
        assert_eq!(explain_line("pop3", Side::Client, "STLS").rfc, "RFC 2595 §4");
        assert_eq!(explain_line("pop3", Side::Client, "CAPA").rfc, "RFC 2449 §5");
        assert_eq!(explain_line("pop3", Side::Client, "dele 1").rfc, "RFC 1939 §5");
        assert!(explain_line("pop3", Side::Client, "QUIT").body.contains("UPDATE"));
    }

    #[test]
    fn imap_table() {
        let e = explain_line("imap", Side::Client, "a1 LOGIN alice password");
        assert_eq!(e.rfc, "RFC 3501 §6.2.3");
        assert!(e.parts.iter().any(|p| p.label == "a1"));
        assert_eq!(explain_line("imap", Side::Client, "a2 uid fetch 1:* FLAGS").parts[2].label, "FETCH");
        assert_eq!(explain_line("imap", Side::Client, "DONE").rfc, "RFC 2177 §3");
        assert_eq!(explain_line("imap", Side::Server, "* 3 EXPUNGE").rfc, "RFC 3501 §7.4.1");
        assert_eq!(explain_line("imap", Side::Server, "* 4 EXISTS").rfc, "RFC 3501 §7.3.1");
        assert_eq!(explain_line("imaps", Side::Server, "+ idling").rfc, "RFC 3501 §7.5");
        let e = explain_line("imap", Side::Server, "* OK [UIDVALIDITY 3857529045] UIDs valid");
        assert!(e.parts.iter().any(|p| p.label == "[UIDVALIDITY 3857529045]" && p.text.contains("UIDs")));
        let e = explain_line("imap", Side::Server, "a1 NO [AUTHENTICATIONFAILED] Invalid credentials");
        assert!(e.title.starts_with("Tagged NO"));
        assert!(e.parts.iter().any(|p| p.text.contains("RFC 5530")));
        assert_eq!(explain_line("imap", Side::Server, "a9 BAD what").parts[1].label, "BAD");
    }

    #[test]
    fn every_command_has_states_and_rfc() {
        for p in [Protocol::Smtp, Protocol::Pop3, Protocol::Imap] {
            for c in commands(p) {
                assert!(!c.states.is_empty(), "{}", c.name);
                assert!(c.rfc.starts_with("RFC "), "{}", c.name);
            }
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for proto in ["smtp", "pop3", "imap", "gopher"] {
            for side in [Side::Client, Side::Server] {
                for line in
                    ["", " ", "5", "55", "550", "550-", "5.5", "* ", "+", "[", "a1 OK [", "é 日本", "2.0.0"]
                {
                    let _ = explain_line(proto, side, line);
                }
            }
        }
    }
}
