//! Lessons: a guided path through how email moves, each goal checked on what really happened in the learner's world.
//!
//! A [`Lesson`] is data (one TOML file each under `server-core/lessons/`, compiled in; the format is documented in
//! `docs/lessons.md`): a story, a [`Start`] state for the learner's sandbox (hosts offline, mail already in a
//! mailbox or in the queue, connections the page opens and a prelude it types), [`Goal`]s, hints revealed one at a
//! time, and a reference solution that "show me" types into a real connection.
//!
//! A goal is a list of [`Check`]s over the world's real events, the server's replies on the learner's own
//! connections and the state of mailboxes and queues: never over what the learner typed, so every correct path
//! passes and a shortcut through the HTTP API does not (its actions happen on no connection of the learner's).
//! [`check::Checker`] evaluates them; it does no I/O, and is fed by whoever sees the events (the proxy today).
//!
//! This module compiles without the `server` feature, so the page shares the types with the server.

#[cfg(feature = "server")]
pub mod catalogue;
pub mod check;
#[cfg(feature = "server")]
pub mod start;
#[cfg(feature = "server")]
pub mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Skip;

/// One lesson.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// Stable id, used in `/?lesson=ID` (letters, digits and `-`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Chapter (lessons are listed by chapter, in [`Lesson::order`]).
    pub chapter: String,
    /// Position in the curriculum (ascending).
    pub order: u32,
    /// The claims of the curriculum this lesson checks (numbers of the list in `docs/lessons.md`).
    #[serde(default)]
    pub claims: Vec<u32>,
    /// The story: what the learner is about to see and do. Paragraphs are separated by blank lines.
    pub story: String,
    /// What the learner should take away, said when the lesson is complete.
    pub summary: String,
    /// The world the lesson starts from.
    #[serde(default)]
    pub start: Start,
    /// What must happen.
    pub goals: Vec<Goal>,
    /// Hints, revealed one at a time.
    #[serde(default)]
    pub hints: Vec<String>,
    /// The reference solution, played by "show me".
    pub solution: Vec<Step>,
    /// A plausible wrong path that must not pass the goals (played by the tests).
    #[serde(default)]
    pub wrong: Vec<Step>,
}

impl Lesson {
    /// How many actions the reference solution takes (each step the learner would do: a line or message sent, a
    /// connection opened, a button pressed).
    pub fn actions(&self) -> usize {
        self.solution.len()
    }

    /// The catalogue entry served by `GET /api/lessons`.
    pub fn entry(&self) -> LessonEntry {
        LessonEntry {
            id: self.id.clone(),
            title: self.title.clone(),
            chapter: self.chapter.clone(),
            claims: self.claims.clone(),
            actions: self.actions(),
        }
    }
}

/// A lesson as listed in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonEntry {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Chapter.
    pub chapter: String,
    /// The claims it checks.
    pub claims: Vec<u32>,
    /// Actions in the reference solution.
    pub actions: usize,
}

/// The start state of a lesson's sandbox. The world is reset first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// Hosts taken offline.
    #[serde(default)]
    pub offline: Vec<String>,
    /// Hosts made busy (their SMTP answers `421` and closes).
    #[serde(default)]
    pub busy: Vec<String>,
    /// Messages put straight into mailboxes.
    #[serde(default)]
    pub mail: Vec<SeedMail>,
    /// Messages handed to a host's queue (as if a client had just submitted them).
    #[serde(default)]
    pub queued: Vec<SeedQueued>,
    /// IMAP folders created for a user (`host`, `user`, `name`).
    #[serde(default)]
    pub folders: Vec<SeedFolder>,
    /// Steps the page plays by itself before the learner takes over (typically opening connections and the
    /// greeting-and-login lines the lesson is not about).
    #[serde(default)]
    pub prelude: Vec<Step>,
}

/// A message put into a mailbox at the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMail {
    /// Host (`mx2`).
    pub host: String,
    /// User (`carol`).
    pub user: String,
    /// Folder.
    #[serde(default = "inbox")]
    pub folder: String,
    /// `From:` address.
    pub from: String,
    /// `Subject:`.
    pub subject: String,
    /// Body text.
    #[serde(default)]
    pub body: String,
}

/// A message on a host's queue at the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedQueued {
    /// Host whose queue gets it (`mx1`).
    pub host: String,
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// `Subject:`.
    pub subject: String,
    /// Body text.
    #[serde(default)]
    pub body: String,
}

/// A folder created at the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFolder {
    /// Host.
    pub host: String,
    /// User.
    pub user: String,
    /// Full name (`Projects/2026`).
    pub name: String,
}

fn inbox() -> String {
    "INBOX".into()
}

/// One thing a learner (or "show me", or the prelude) does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Opens a connection to a host's service; it becomes the current connection. `device` names the learner's
    /// device it belongs to ("laptop", "phone").
    Open {
        /// `mx1`.
        host: String,
        /// `smtp`, `submission`, `smtps`, `pop3`, `pop3s`, `imap`, `imaps`.
        service: String,
        /// The device (shown in the page).
        #[serde(default)]
        device: Option<String>,
    },
    /// Sends text on the current connection: each line ends in CR LF (added where missing). A multi-line text is
    /// one action (an SMTP message body with its final `.`, say).
    Send(String),
    /// Makes the n-th connection opened in this lesson (from 0) the current one.
    Use(usize),
    /// Skips the sandbox's clock ahead.
    Skip(Skip),
    /// Takes a host offline or brings it back.
    Online {
        /// Host.
        host: String,
        /// New state.
        online: bool,
    },
    /// Makes a host busy (its SMTP answers `421`) or ready again.
    Busy {
        /// Host.
        host: String,
        /// New state.
        busy: bool,
    },
    /// Retries the queue now.
    RetryQueue {},
}

impl Step {
    /// The bytes a [`Step::Send`] puts on the wire: every line ends in CR LF.
    pub fn wire_text(text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 2);
        for line in text.split('\n') {
            out.push_str(line.strip_suffix('\r').unwrap_or(line));
            out.push_str("\r\n");
        }
        // `split` yields an empty last piece after a trailing newline: do not add an empty line for it.
        if text.ends_with('\n') {
            out.truncate(out.len() - 2);
        }
        out
    }
}

/// One goal: every check must hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// What to achieve, in the learner's words.
    pub text: String,
    /// What achieving it proved (announced on completion).
    pub proves: String,
    /// The checks.
    pub checks: Vec<Check>,
}

/// A predicate over what happened. Event and reply checks hold once seen (since the lesson started); mailbox,
/// folder and queue checks are about the state now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// An event of the world's bus (`event` is its `"event"` name, e.g. `delivered`, `relay_tls`).
    Event {
        /// Host it happened on.
        #[serde(default)]
        host: Option<String>,
        /// The event's name.
        event: String,
        /// Fields that must match: strings equal ignoring case (or contain it, when the wanted value starts
        /// with `~`), numbers and booleans equal; an array field matches when one element does.
        #[serde(default)]
        fields: BTreeMap<String, serde_json::Value>,
        /// Numeric fields that must be at least this.
        #[serde(default)]
        at_least: BTreeMap<String, i64>,
    },
    /// A server reply on one of the learner's connections.
    Reply {
        /// Host the connection goes to.
        #[serde(default)]
        host: Option<String>,
        /// Services (`smtp`, `submission`...); any when empty.
        #[serde(default)]
        services: Vec<String>,
        /// SMTP: the reply code or its first digits (`554`, `5`); POP3: `+OK` or `-ERR`; IMAP: the tagged status
        /// (`OK`, `NO`, `BAD`) or, with `untagged`, the keyword of an untagged reply (`EXPUNGE`).
        code: String,
        /// IMAP: match untagged replies (`* 3 EXPUNGE`) instead of tagged completions.
        #[serde(default)]
        untagged: bool,
        /// The command (first word, upper case; IMAP: after the tag) the client sent last on that connection.
        #[serde(default)]
        after: Option<String>,
        /// Whether the connection must have been in IMAP IDLE when the reply came.
        #[serde(default)]
        idle: Option<bool>,
    },
    /// A folder's messages: how many (of those matching `from`/`contains`/`dsn`, when given).
    Mailbox {
        /// Host.
        host: String,
        /// User.
        user: String,
        /// Folder.
        #[serde(default = "inbox")]
        folder: String,
        /// Only messages whose `From:` contains this (ignoring case).
        #[serde(default)]
        from: Option<String>,
        /// Only messages containing this text anywhere (ignoring case).
        #[serde(default)]
        contains: Option<String>,
        /// Only delivery status notifications (`multipart/report; report-type=delivery-status`), or only others.
        #[serde(default)]
        dsn: Option<bool>,
        /// Exactly this many.
        #[serde(default)]
        count: Option<usize>,
        /// At least.
        #[serde(default)]
        min: Option<usize>,
        /// At most.
        #[serde(default)]
        max: Option<usize>,
    },
    /// A folder exists (or not).
    Folder {
        /// Host.
        host: String,
        /// User.
        user: String,
        /// Full name (`Projects/2026`).
        name: String,
        /// Whether it must exist.
        #[serde(default = "yes")]
        exists: bool,
    },
    /// How many messages a host's queue holds.
    Queue {
        /// Host.
        host: String,
        /// At least.
        #[serde(default)]
        min: Option<usize>,
        /// At most.
        #[serde(default)]
        max: Option<usize>,
    },
}

fn yes() -> bool {
    true
}

impl Check {
    /// Whether the check is about something that happened (latched once seen) rather than the state now.
    pub fn is_sticky(&self) -> bool {
        matches!(self, Check::Event { .. } | Check::Reply { .. })
    }
}

/// A lesson's progress as the page shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The lesson.
    pub id: String,
    /// One entry per goal: reached yet?
    pub goals: Vec<bool>,
    /// Every goal reached.
    pub done: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_text_gets_crlf_on_every_line() {
        assert_eq!(Step::wire_text("EHLO x"), "EHLO x\r\n");
        assert_eq!(Step::wire_text("a\nb\n.\n"), "a\r\nb\r\n.\r\n");
        assert_eq!(Step::wire_text("a\r\nb"), "a\r\nb\r\n");
        assert_eq!(Step::wire_text(""), "\r\n");
    }
}
