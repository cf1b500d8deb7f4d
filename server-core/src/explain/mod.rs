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
//! One file per protocol: [`smtp`] (commands, reply codes, enhanced status codes, EHLO keywords), [`pop3`] and
//! [`imap`] (commands, responses, response codes); this file holds the shared types and the entry points.
//!
//! The entry point is [`explain_line`]; [`commands`] lists a protocol's commands with the states in which each is
//! valid (the frontend's Tab completion and suggestion chips use it).

use serde::{Deserialize, Serialize};

pub use crate::wire::Dir;

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

pub(crate) const SMTP_ANY: &[State] = &[SmtpInit, SmtpReady, SmtpMail, SmtpRcpt];
pub(crate) const POP_ANY: &[State] = &[Pop3Authorization, Pop3Transaction];
pub(crate) const IMAP_ANY: &[State] = &[ImapNotAuthenticated, ImapAuthenticated, ImapSelected];
pub(crate) const IMAP_AUTH: &[State] = &[ImapAuthenticated, ImapSelected];

/// The commands of a protocol.
pub fn commands(protocol: Protocol) -> &'static [Command] {
    match protocol {
        Protocol::Smtp => smtp::COMMANDS,
        Protocol::Pop3 => pop3::COMMANDS,
        Protocol::Imap => imap::COMMANDS,
    }
}

/// Finds a command by keyword (case-insensitive).
pub fn command(protocol: Protocol, name: &str) -> Option<&'static Command> {
    commands(protocol).iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Explains one transcript line (without its CR LF). `protocol` is a service or protocol name (`smtp`,
/// `submission`, `pop3s`, `imap`...). Never fails: an unknown line gets a generic explanation.
pub fn explain_line(protocol: &str, dir: Dir, line: &str) -> Explanation {
    let line = line.trim_end_matches(['\r', '\n']);
    let client = dir == Dir::C;
    match (Protocol::from_service(protocol), client) {
        (Some(Protocol::Smtp), true) => smtp::client(line),
        (Some(Protocol::Smtp), false) => smtp::reply(line),
        (Some(Protocol::Pop3), true) => pop3::client(line),
        (Some(Protocol::Pop3), false) => pop3::server(line),
        (Some(Protocol::Imap), true) => imap::client(line),
        (Some(Protocol::Imap), false) => imap::server(line),
        (None, _) => unknown(line, "Unknown protocol", ""),
    }
}

pub(crate) fn ex(title: impl Into<String>, body: impl Into<String>, rfc: impl Into<String>) -> Explanation {
    Explanation { title: title.into(), body: body.into(), rfc: rfc.into(), parts: Vec::new() }
}

pub(crate) fn part(label: impl Into<String>, text: impl Into<String>) -> Part {
    Part { label: label.into(), text: text.into() }
}

pub(crate) fn unknown(line: &str, what: &str, rfc: &str) -> Explanation {
    let body = if line.is_empty() {
        "An empty line. Inside a message it separates the headers from the body (RFC 5322 §2.1).".to_string()
    } else {
        format!("“{line}” is not a command this catalogue knows.")
    };
    ex(what, body, rfc)
}

pub(crate) fn from_command(c: &Command, protocol: &str) -> Explanation {
    Explanation {
        title: format!("{}: {}", c.name, c.summary),
        body: format!("Syntax: {}\n{}", c.syntax, c.effect),
        rfc: c.rfc.to_string(),
        parts: vec![part("protocol", protocol)],
    }
}

pub(crate) fn first_word(line: &str) -> &str {
    line.split([' ', ':']).next().unwrap_or("")
}

pub(crate) fn looks_base64(line: &str) -> bool {
    line.len() >= 4
        && line.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        && line.bytes().any(|b| b.is_ascii_digit() || b == b'=' || b.is_ascii_lowercase())
}

pub mod imap;
pub mod pop3;
pub mod smtp;

pub use imap::response_code as imap_response_code;
pub use smtp::{
    enhanced_class, enhanced_detail, enhanced_subject, first_digit as smtp_first_digit,
    reply_code as smtp_code, second_digit as smtp_second_digit,
};

#[cfg(test)]
mod tests;
