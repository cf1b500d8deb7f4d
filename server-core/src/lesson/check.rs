//! The goal checker: fed the world's events and the bytes on the learner's connections, asked about the state of
//! mailboxes and queues through [`WorldView`], it says which goals of a lesson are reached. No I/O, no clock.
//!
//! Client lines are read only to know the context of a reply (which command it answers, whether the connection is
//! in IMAP IDLE or inside SMTP DATA); a goal is never reached by what was typed, only by what the servers did.

use std::collections::HashMap;

use serde_json::Value;

use super::{Check, Lesson, Progress};
use crate::event::Event;
use crate::wire::Dir;

/// Facts about one stored message, for mailbox checks.
#[derive(Clone, Debug, Default)]
pub struct MessageFacts {
    /// The raw message.
    pub raw: Vec<u8>,
}

impl MessageFacts {
    /// The `From:` header's value (unfolded, as written).
    pub fn from(&self) -> String {
        header(&self.raw, "from").unwrap_or_default()
    }

    /// Whether it is a delivery status notification (RFC 3464: `multipart/report; report-type=delivery-status`).
    pub fn is_dsn(&self) -> bool {
        let ct = header(&self.raw, "content-type").unwrap_or_default().to_ascii_lowercase();
        ct.contains("multipart/report") && ct.contains("delivery-status")
    }

    /// Whether `needle` occurs anywhere in the message, ignoring ASCII case.
    pub fn contains(&self, needle: &str) -> bool {
        let n = needle.as_bytes();
        !n.is_empty() && self.raw.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    }
}

/// The value of a header field in a message's header block, continuation lines unfolded.
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut found: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(v) = found.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            found = Some(v.trim().to_string());
        }
    }
    found
}

/// What the checker may ask about the world's state.
pub trait WorldView {
    /// The messages of a folder, or `None` if the folder (or user, or host) does not exist.
    fn messages(&self, host: &str, user: &str, folder: &str) -> Option<Vec<MessageFacts>>;
    /// How many messages a host's queue holds.
    fn queue_len(&self, host: &str) -> usize;
}

/// What the checker knows about one of the learner's connections.
#[derive(Debug, Default)]
struct Conn {
    host: String,
    service: String,
    /// Bytes of an unfinished line, per direction (client, server).
    partial: [Vec<u8>; 2],
    /// The last command verb the client sent (upper case).
    last: Option<String>,
    /// Inside SMTP DATA: client lines are message text, not commands.
    in_data: bool,
    /// In IMAP IDLE (the server accepted IDLE, the client has not said DONE).
    idle: bool,
}

/// Longest line kept while waiting for its end: a longer one is judged on its first bytes.
const MAX_LINE: usize = 4096;

/// Checks one lesson's goals.
#[derive(Debug)]
pub struct Checker {
    lesson: Lesson,
    /// Per goal, per check: seen yet (event and reply checks only).
    seen: Vec<Vec<bool>>,
    /// Per goal: reached (latched).
    reached: Vec<bool>,
    conns: HashMap<u32, Conn>,
}

impl Checker {
    /// A checker for `lesson`, nothing seen yet.
    pub fn new(lesson: Lesson) -> Checker {
        let seen = lesson.goals.iter().map(|g| vec![false; g.checks.len()]).collect();
        let reached = vec![false; lesson.goals.len()];
        Checker { lesson, seen, reached, conns: HashMap::new() }
    }

    /// The lesson being checked.
    pub fn lesson(&self) -> &Lesson {
        &self.lesson
    }

    /// Progress so far.
    pub fn progress(&self) -> Progress {
        Progress {
            id: self.lesson.id.clone(),
            goals: self.reached.clone(),
            done: self.reached.iter().all(|r| *r),
        }
    }

    /// A world event happened.
    pub fn on_event(&mut self, ev: &Event) {
        let Ok(json) = serde_json::to_value(ev) else { return };
        for (g, goal) in self.lesson.goals.iter().enumerate() {
            for (c, check) in goal.checks.iter().enumerate() {
                if !self.seen[g][c] && event_matches(check, ev, &json) {
                    self.seen[g][c] = true;
                }
            }
        }
    }

    /// The learner opened connection `conn` to `service` on `host`.
    pub fn on_open(&mut self, conn: u32, host: &str, service: &str) {
        let c = Conn {
            host: host.to_ascii_lowercase(),
            service: service.to_ascii_lowercase(),
            ..Conn::default()
        };
        self.conns.insert(conn, c);
    }

    /// Bytes went over connection `conn` (as the transcript shows them: plaintext, inside TLS too).
    pub fn on_data(&mut self, conn: u32, dir: Dir, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let side = if dir == Dir::C { 0 } else { 1 };
        let mut lines = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut c.partial[side]);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                lines.push(String::from_utf8_lossy(&line).into_owned());
            } else if c.partial[side].len() < MAX_LINE {
                c.partial[side].push(b);
            }
        }
        for line in lines {
            if dir == Dir::C {
                client_line(c, &line);
            } else {
                server_line(c, &line);
                for (g, goal) in self.lesson.goals.iter().enumerate() {
                    for (k, check) in goal.checks.iter().enumerate() {
                        if !self.seen[g][k] && reply_matches(check, c, &line) {
                            self.seen[g][k] = true;
                        }
                    }
                }
            }
        }
    }

    /// Re-evaluates every goal against what was seen and the state now. Returns the goals newly reached.
    pub fn evaluate(&mut self, view: &dyn WorldView) -> Vec<usize> {
        let mut newly = Vec::new();
        for (g, goal) in self.lesson.goals.iter().enumerate() {
            if self.reached[g] {
                continue;
            }
            let all =
                goal.checks.iter().enumerate().all(|(k, check)| {
                    if check.is_sticky() { self.seen[g][k] } else { state_holds(check, view) }
                });
            if all {
                self.reached[g] = true;
                newly.push(g);
            }
        }
        newly
    }
}

/// The protocol family of a service name.
fn family(service: &str) -> &'static str {
    match service {
        "smtp" | "submission" | "smtps" => "smtp",
        "pop3" | "pop3s" => "pop3",
        _ => "imap",
    }
}

/// Follows the client's side: the last command, DATA, IDLE.
fn client_line(c: &mut Conn, line: &str) {
    match family(&c.service) {
        "smtp" => {
            if c.in_data {
                if line == "." {
                    c.in_data = false;
                    c.last = Some(".".into());
                }
                return;
            }
            c.last = line.split_whitespace().next().map(|v| {
                // `MAIL FROM:<x>` and `RCPT TO:<x>`: the verb is the first word, colon parts aside.
                v.split(':').next().unwrap_or(v).to_ascii_uppercase()
            });
        }
        "pop3" => c.last = line.split_whitespace().next().map(str::to_ascii_uppercase),
        _ => {
            if c.idle && line.eq_ignore_ascii_case("DONE") {
                c.idle = false;
                c.last = Some("DONE".into());
                return;
            }
            let mut words = line.split_whitespace();
            let _tag = words.next();
            if let Some(v) = words.next() {
                let v = v.to_ascii_uppercase();
                // `UID FETCH` is a FETCH for our purposes.
                c.last =
                    Some(if v == "UID" { words.next().map(str::to_ascii_uppercase).unwrap_or(v) } else { v });
            }
        }
    }
}

/// Follows the server's side: DATA accepted, IDLE accepted.
fn server_line(c: &mut Conn, line: &str) {
    match family(&c.service) {
        "smtp" if line.starts_with("354") && c.last.as_deref() == Some("DATA") => c.in_data = true,
        "imap" if line.starts_with('+') && c.last.as_deref() == Some("IDLE") => c.idle = true,
        _ => {}
    }
}

fn host_matches(want: &Option<String>, got: &str) -> bool {
    want.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(got))
}

fn reply_matches(check: &Check, c: &Conn, line: &str) -> bool {
    let Check::Reply { host, services, code, untagged, after, idle } = check else { return false };
    if !host_matches(host, &c.host) {
        return false;
    }
    if !services.is_empty() && !services.iter().any(|s| s.eq_ignore_ascii_case(&c.service)) {
        return false;
    }
    if let Some(a) = after
        && c.last.as_deref().is_none_or(|l| !l.eq_ignore_ascii_case(a))
    {
        return false;
    }
    if let Some(i) = idle
        && c.idle != *i
    {
        return false;
    }
    match family(&c.service) {
        "smtp" => line.len() >= 3 && line.starts_with(code.as_str()),
        "pop3" => line.split_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case(code)),
        _ => {
            let mut words = line.split_whitespace();
            let tag = words.next().unwrap_or_default();
            if *untagged {
                tag == "*" && words.take(2).any(|w| w.eq_ignore_ascii_case(code))
            } else {
                tag != "*" && tag != "+" && words.next().is_some_and(|w| w.eq_ignore_ascii_case(code))
            }
        }
    }
}

fn value_matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (_, Value::Array(items)) => items.iter().any(|g| value_matches(want, g)),
        (Value::String(w), Value::String(g)) => match w.strip_prefix('~') {
            Some(part) => g.to_ascii_lowercase().contains(&part.to_ascii_lowercase()),
            None => w.eq_ignore_ascii_case(g),
        },
        (Value::String(w), Value::Null) => w.is_empty(),
        _ => want == got,
    }
}

fn event_matches(check: &Check, ev: &Event, json: &Value) -> bool {
    let Check::Event { host, event, fields, at_least } = check else { return false };
    if !host_matches(host, &ev.host) {
        return false;
    }
    if json.get("event").and_then(Value::as_str) != Some(event.as_str()) {
        return false;
    }
    fields.iter().all(|(k, want)| json.get(k).is_some_and(|got| value_matches(want, got)))
        && at_least.iter().all(|(k, min)| json.get(k).and_then(Value::as_i64).is_some_and(|v| v >= *min))
}

fn within(n: usize, count: &Option<usize>, min: &Option<usize>, max: &Option<usize>) -> bool {
    count.is_none_or(|c| n == c) && min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
}

fn state_holds(check: &Check, view: &dyn WorldView) -> bool {
    match check {
        Check::Mailbox { host, user, folder, from, contains, dsn, count, min, max } => {
            let Some(msgs) = view.messages(host, user, folder) else { return false };
            let n = msgs
                .iter()
                .filter(|m| {
                    from.as_ref()
                        .is_none_or(|f| m.from().to_ascii_lowercase().contains(&f.to_ascii_lowercase()))
                })
                .filter(|m| contains.as_ref().is_none_or(|t| m.contains(t)))
                .filter(|m| dsn.is_none_or(|d| m.is_dsn() == d))
                .count();
            within(n, count, min, max)
        }
        Check::Folder { host, user, name, exists } => view.messages(host, user, name).is_some() == *exists,
        Check::Queue { host, min, max } => within(view.queue_len(host), &None, min, max),
        Check::Event { .. } | Check::Reply { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::lesson::{Goal, Step};

    struct View(Vec<(String, String, String, Vec<MessageFacts>)>, usize);

    impl WorldView for View {
        fn messages(&self, host: &str, user: &str, folder: &str) -> Option<Vec<MessageFacts>> {
            self.0
                .iter()
                .find(|(h, u, f, _)| h == host && u == user && f == folder)
                .map(|(_, _, _, m)| m.clone())
        }
        fn queue_len(&self, _host: &str) -> usize {
            self.1
        }
    }

    fn lesson(checks: Vec<Check>) -> Lesson {
        Lesson {
            id: "t".into(),
            title: "t".into(),
            chapter: "t".into(),
            order: 0,
            claims: vec![],
            story: String::new(),
            summary: String::new(),
            start: Default::default(),
            goals: vec![Goal { text: "g".into(), proves: "p".into(), checks }],
            hints: vec![],
            solution: vec![Step::RetryQueue {}],
            wrong: vec![],
        }
    }

    fn ev(host: &str, kind: EventKind) -> Event {
        Event { at: chrono::DateTime::from_timestamp(0, 0).unwrap(), host: host.into(), kind }
    }

    #[test]
    fn an_event_check_matches_fields_and_latches() {
        let check: Check = serde_json::from_value(serde_json::json!({
            "check": "event", "host": "mx2", "event": "delivered", "fields": {"mailbox": "carol/INBOX"}
        }))
        .unwrap();
        let mut c = Checker::new(lesson(vec![check]));
        let empty = View(vec![], 0);
        let to = |mailbox: &str| EventKind::Delivered {
            id: "1".into(),
            rcpt: "x".into(),
            mailbox: Some(mailbox.into()),
            mx: None,
            reply: None,
        };
        c.on_event(&ev("mx2", to("bob/INBOX")));
        c.on_event(&ev("mx1", to("carol/INBOX")));
        assert!(c.evaluate(&empty).is_empty(), "wrong mailbox or wrong host must not count");
        c.on_event(&ev("mx2", to("CAROL/INBOX")));
        assert_eq!(c.evaluate(&empty), vec![0]);
        assert!(c.progress().done);
        assert!(c.evaluate(&empty).is_empty(), "a goal is announced once");
    }

    #[test]
    fn at_least_and_substring_fields() {
        let check: Check = serde_json::from_value(serde_json::json!({
            "check": "event", "event": "deferred", "fields": {"reason": "~connect"}, "at_least": {"attempt": 2}
        }))
        .unwrap();
        let mut c = Checker::new(lesson(vec![check]));
        let deferred = |attempt| EventKind::Deferred {
            id: "1".into(),
            rcpt: "carol@example.net".into(),
            reason: "4.4.1 Connect to mx2 failed".into(),
            attempt,
            next_attempt: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        };
        c.on_event(&ev("mx1", deferred(1)));
        assert!(c.evaluate(&View(vec![], 0)).is_empty());
        c.on_event(&ev("mx1", deferred(2)));
        assert_eq!(c.evaluate(&View(vec![], 0)), vec![0]);
    }

    #[test]
    fn replies_are_judged_in_their_context() {
        let check: Check = serde_json::from_value(serde_json::json!({
            "check": "reply", "services": ["smtp", "submission"], "code": "554", "after": "RCPT"
        }))
        .unwrap();
        let mut c = Checker::new(lesson(vec![check]));
        c.on_open(1, "mx1", "smtp");
        // A 554 line inside a message body is the client's text, and a 554 answer to DATA is not to RCPT.
        c.on_data(1, Dir::C, b"DATA\r\n");
        c.on_data(1, Dir::S, b"354 go\r\n");
        c.on_data(1, Dir::C, b"RCPT TO:<x>\r\n554 not a reply\r\n.\r\n");
        c.on_data(1, Dir::S, b"554 5.7.1 no\r\n");
        assert!(c.evaluate(&View(vec![], 0)).is_empty());
        c.on_data(1, Dir::C, b"RCPT TO:<carol@example.net>\r\n");
        c.on_data(1, Dir::S, b"554 5.7.1 Relay ");
        assert!(c.evaluate(&View(vec![], 0)).is_empty(), "half a line is not a reply yet");
        c.on_data(1, Dir::S, b"access denied\r\n");
        assert_eq!(c.evaluate(&View(vec![], 0)), vec![0]);
    }

    #[test]
    fn imap_untagged_in_idle() {
        let check: Check = serde_json::from_value(serde_json::json!({
            "check": "reply", "services": ["imap"], "code": "EXPUNGE", "untagged": true, "idle": true
        }))
        .unwrap();
        let mut c = Checker::new(lesson(vec![check]));
        c.on_open(1, "mx2", "imap");
        c.on_open(2, "mx2", "imap");
        c.on_data(2, Dir::C, b"a5 EXPUNGE\r\n");
        c.on_data(2, Dir::S, b"* 1 EXPUNGE\r\na5 OK done\r\n");
        assert!(c.evaluate(&View(vec![], 0)).is_empty(), "the session that expunged was not idling");
        c.on_data(1, Dir::C, b"a3 IDLE\r\n");
        c.on_data(1, Dir::S, b"+ idling\r\n* 1 EXPUNGE\r\n");
        assert_eq!(c.evaluate(&View(vec![], 0)), vec![0]);
    }

    #[test]
    fn mailbox_checks_count_matching_messages_now() {
        let check: Check = serde_json::from_value(serde_json::json!({
            "check": "mailbox", "host": "mx1", "user": "alice", "dsn": true, "contains": "dave@example.net", "min": 1
        }))
        .unwrap();
        let mut c = Checker::new(lesson(vec![check]));
        let plain = MessageFacts {
            raw: b"From: bob@example.com\r\nSubject: dave@example.net\r\n\r\nhi\r\n".to_vec(),
        };
        let dsn = MessageFacts {
            raw: b"From: MAILER-DAEMON@mx1\r\nContent-Type: multipart/report;\r\n\treport-type=delivery-status;\r\n\tboundary=x\r\n\r\nFinal-Recipient: rfc822; dave@example.net\r\n".to_vec(),
        };
        let inbox = |m: Vec<MessageFacts>| View(vec![("mx1".into(), "alice".into(), "INBOX".into(), m)], 0);
        assert!(c.evaluate(&inbox(vec![plain.clone()])).is_empty());
        assert!(dsn.is_dsn() && !plain.is_dsn());
        assert_eq!(c.evaluate(&inbox(vec![plain, dsn])), vec![0]);
    }
}
