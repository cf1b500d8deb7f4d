//! The page's side of a lesson: the lesson running now ([`LessonRun`]: goals reached, hints shown, the learner's
//! action count, what to announce) and the [`Player`] that types a lesson's prelude and "Show me" solution into
//! real connections, one step at a time, each step waiting for the server's complete reply before the next.
//!
//! Pure: the reducer (`state.rs`) owns a `LessonRun` and feeds it; `hooks/use_player.rs` only times the steps and
//! sends what [`crate::state::AppState::next_play`] says. The goals are checked by the server on what really
//! happened; the page only shows the [`Progress`] it reports.

use std::collections::BTreeSet;
use std::rc::Rc;

use mailroom_core::explain::Protocol;
use mailroom_core::lesson::{Lesson, LessonEntry, Progress, Step};

/// The first lesson, started by itself on a first visit.
pub const FIRST_LESSON: &str = "first-mail";
/// Pause before each prelude step: fast, but each exchange still shows as it happens.
pub const PRELUDE_PACE_MS: u32 = 150;
/// Pause before each "Show me" step: slow enough to read each exchange.
pub const SHOW_PACE_MS: u32 = 1000;
/// How long a step may wait for its reply before the player gives up (a reply that never completes must not
/// leave the page stuck "playing").
pub const STEP_TIMEOUT_MS: u32 = 20_000;

/// What a played step waits for.
#[derive(Clone, Debug, PartialEq)]
pub enum Wait {
    /// The server's complete reply on a connection.
    Reply {
        /// Connection.
        conn: u32,
        /// Its protocol.
        protocol: Protocol,
        /// The first line sent (`.` for an SMTP message body; empty for a greeting).
        sent: String,
        /// Server text seen since the step was played.
        acc: String,
    },
    /// The answer to a skip (`skipped` or an error).
    Skip,
}

/// Plays steps one at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct Player {
    /// The steps (prelude, then the solution for "Show me").
    pub steps: Rc<Vec<Step>>,
    /// Index of the next step to play.
    pub next: usize,
    /// The first `fast` steps (the prelude) play at [`PRELUDE_PACE_MS`], the rest at [`SHOW_PACE_MS`].
    pub fast: usize,
    /// What the last step waits for.
    pub wait: Option<Wait>,
}

impl Player {
    /// The pause before the next step.
    pub fn pace_ms(&self) -> u32 {
        if self.next < self.fast { PRELUDE_PACE_MS } else { SHOW_PACE_MS }
    }

    /// Whether every step was played and answered.
    pub fn finished(&self) -> bool {
        self.next >= self.steps.len() && self.wait.is_none()
    }

    /// Server text arrived on `conn`: ends the wait once the reply is complete.
    pub fn server_text(&mut self, conn: u32, text: &str) {
        if let Some(Wait::Reply { conn: c, protocol, sent, acc }) = &mut self.wait
            && *c == conn
        {
            acc.push_str(text);
            if complete(*protocol, sent, acc) {
                self.wait = None;
            }
        }
    }
}

/// Whether `text` (server text since a command was sent) holds the complete reply to `sent` (its first line; `.`
/// after an SMTP message body; empty for the greeting): SMTP, a final line `ddd ` (RFC 5321 §4.2.1); POP3, the
/// status line, or the closing `.` of a multi-line answer (RFC 1939 §3); IMAP, the tagged completion or a `+`
/// continuation (RFC 3501 §2.2.2). The same rule as `complete()` in `tests/lessons.rs`.
pub fn complete(protocol: Protocol, sent: &str, text: &str) -> bool {
    if !text.ends_with("\r\n") {
        return false;
    }
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let Some(last) = lines.last() else { return false };
    match protocol {
        Protocol::Smtp => {
            last.len() >= 4
                && last.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                && last.as_bytes()[3] == b' '
        }
        Protocol::Pop3 => {
            let verb = sent.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            let args = sent.split_whitespace().count();
            let multi = matches!(verb.as_str(), "RETR" | "TOP" | "CAPA")
                || (matches!(verb.as_str(), "LIST" | "UIDL") && args == 1);
            lines[0].starts_with("-ERR") || !multi || *last == "."
        }
        Protocol::Imap => {
            if sent.is_empty() {
                return last.starts_with("* ");
            }
            if sent.eq_ignore_ascii_case("DONE") {
                return lines.iter().any(|l| !l.starts_with('*') && !l.starts_with('+'));
            }
            let tag = sent.split_whitespace().next().unwrap_or("");
            lines.iter().any(|l| l.starts_with("+ ") || *l == "+" || l.starts_with(&format!("{tag} ")))
        }
    }
}

/// The lesson running now.
#[derive(Clone, Debug, PartialEq)]
pub struct LessonRun {
    /// The lesson as the server sent it.
    pub lesson: Rc<Lesson>,
    /// Goals reached, as the server reports them.
    pub progress: Progress,
    /// Hints revealed so far.
    pub hints: usize,
    /// What the learner did (lines and messages sent, connections opened, buttons that change the world), not
    /// counting what the page played for them.
    pub actions: u32,
    /// "Show me" played this run (the action count is then the demonstration's, not the learner's).
    pub watched: bool,
    /// Started by itself on a first visit (offers "Just let me play").
    pub auto: bool,
    /// Connections opened by this run's steps, in order (`Step::Use(n)` picks the n-th).
    pub conns: Vec<u32>,
    /// The connection steps send on.
    pub current: Option<u32>,
    /// Steps being played (the prelude, or "Show me").
    pub player: Option<Player>,
    /// What was announced (goals reached, completion), oldest first.
    pub announcements: Vec<String>,
    /// Bumped on every start, so the player's timer restarts even when the step index is the same.
    pub serial: u32,
}

impl LessonRun {
    /// A fresh run: the prelude plays first; with `show`, the solution follows at a readable pace.
    pub fn new(lesson: Lesson, show: bool, auto: bool, serial: u32) -> LessonRun {
        let mut steps = lesson.start.prelude.clone();
        let fast = steps.len();
        if show {
            steps.extend(lesson.solution.iter().cloned());
        }
        let player = (!steps.is_empty()).then(|| Player { steps: Rc::new(steps), next: 0, fast, wait: None });
        LessonRun {
            progress: Progress { id: lesson.id.clone(), goals: vec![false; lesson.goals.len()], done: false },
            lesson: Rc::new(lesson),
            hints: 0,
            actions: 0,
            watched: show,
            auto,
            conns: Vec::new(),
            current: None,
            player,
            announcements: Vec::new(),
            serial,
        }
    }

    /// Whether the page is typing for the learner right now.
    pub fn playing(&self) -> bool {
        self.player.is_some()
    }

    /// New progress from the server: announces each goal just reached with what it proved, and the completion.
    /// Returns true when the lesson became complete with this report.
    pub fn progress(&mut self, progress: Progress, reached: &[usize]) -> bool {
        if progress.id != self.lesson.id {
            return false;
        }
        // One announcement per report: a live region reads its latest content, so goals reached together and
        // the completion must be said in one text, or a screen reader hears only the last.
        let mut said: Vec<String> = reached
            .iter()
            .filter_map(|&i| self.lesson.goals.get(i))
            .map(|g| format!("Goal reached: {}. {}", g.text, g.proves))
            .collect();
        let newly_done = progress.done && !self.progress.done;
        if newly_done {
            said.push(format!("Lesson complete: {}.", self.lesson.title));
        }
        if !said.is_empty() {
            self.announcements.push(said.join(" "));
        }
        self.progress = progress;
        newly_done
    }
}

/// The paragraphs of a story or summary (separated by blank lines; single line breaks are just wrapping).
pub fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The completed lessons as stored in `localStorage` (`mailroom.progress`: a JSON array of ids). Anything
/// unreadable counts as no progress rather than an error: it is only a convenience.
pub fn parse_done(json: &str) -> BTreeSet<String> {
    serde_json::from_str::<Vec<String>>(json).map(|v| v.into_iter().collect()).unwrap_or_default()
}

/// The stored form of the completed lessons.
pub fn store_done(done: &BTreeSet<String>) -> String {
    // A set of strings always serialises.
    serde_json::to_string(done).expect("a list of strings serialises")
}

/// The lessons by chapter, chapters in curriculum order (the order of their first lesson).
pub fn chapters(catalogue: &[LessonEntry]) -> Vec<(String, Vec<LessonEntry>)> {
    let mut out: Vec<(String, Vec<LessonEntry>)> = Vec::new();
    for e in catalogue {
        match out.iter_mut().find(|(c, _)| *c == e.chapter) {
            Some((_, v)) => v.push(e.clone()),
            None => out.push((e.chapter.clone(), vec![e.clone()])),
        }
    }
    out
}

/// The lesson after `id` in the catalogue.
pub fn next_after<'a>(catalogue: &'a [LessonEntry], id: &str) -> Option<&'a LessonEntry> {
    let i = catalogue.iter().position(|e| e.id == id)?;
    catalogue.get(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_complete_by_the_lesson_tests_rule() {
        let table: &[(Protocol, &str, &str, bool)] = &[
            (Protocol::Smtp, "", "220 mx1 ESMTP\r\n", true),
            (Protocol::Smtp, "EHLO x", "250-mx1\r\n", false),
            (Protocol::Smtp, "EHLO x", "250-mx1\r\n250 OK\r\n", true),
            (Protocol::Smtp, "EHLO x", "250-mx1\r\n250 OK", false),
            (Protocol::Pop3, "", "+OK ready\r\n", true),
            (Protocol::Pop3, "RETR 1", "+OK 3 octets\r\nhi\r\n", false),
            (Protocol::Pop3, "RETR 1", "+OK 3 octets\r\nhi\r\n.\r\n", true),
            (Protocol::Pop3, "RETR 9", "-ERR no such message\r\n", true),
            (Protocol::Pop3, "LIST 1", "+OK 1 120\r\n", true),
            (Protocol::Imap, "", "* OK ready\r\n", true),
            (Protocol::Imap, "a1 SELECT INBOX", "* 1 EXISTS\r\n", false),
            (Protocol::Imap, "a1 SELECT INBOX", "* 1 EXISTS\r\na1 OK done\r\n", true),
            (Protocol::Imap, "a2 IDLE", "+ idling\r\n", true),
            (Protocol::Imap, "DONE", "a2 OK IDLE done\r\n", true),
        ];
        for (p, sent, text, want) in table {
            assert_eq!(complete(*p, sent, text), *want, "{p:?} {sent:?} {text:?}");
        }
    }

    fn lesson() -> Lesson {
        serde_json::from_value(serde_json::json!({
            "id": "first-mail", "title": "T", "chapter": "Sending", "order": 1, "story": "a\nb\n\nc",
            "summary": "s",
            "start": { "prelude": [ { "open": { "host": "mx1", "service": "smtp" } }, { "send": "EHLO x" } ] },
            "goals": [ { "text": "Bob gets it", "proves": "Local delivery.", "checks": [] },
                       { "text": "Two", "proves": "P2.", "checks": [] } ],
            "solution": [ { "send": "RCPT TO:<bob@example.com>" } ],
        }))
        .unwrap()
    }

    #[test]
    fn a_run_plays_the_prelude_then_the_solution_when_shown() {
        let r = LessonRun::new(lesson(), false, true, 1);
        let p = r.player.as_ref().unwrap();
        assert_eq!((p.steps.len(), p.fast, p.pace_ms()), (2, 2, PRELUDE_PACE_MS));
        let r = LessonRun::new(lesson(), true, false, 2);
        let mut p = r.player.clone().unwrap();
        assert_eq!(p.steps.len(), 3);
        p.next = 2;
        assert_eq!(p.pace_ms(), SHOW_PACE_MS);
        p.next = 3;
        p.wait =
            Some(Wait::Reply { conn: 4, protocol: Protocol::Smtp, sent: "RCPT".into(), acc: String::new() });
        assert!(!p.finished());
        p.server_text(5, "250 ok\r\n");
        assert!(!p.finished(), "text on another connection does not end the wait");
        p.server_text(4, "250 2.1.5");
        p.server_text(4, " ok\r\n");
        assert!(p.finished());
    }

    #[test]
    fn progress_announces_goals_with_what_they_proved_and_completion_once() {
        let mut r = LessonRun::new(lesson(), false, false, 1);
        let p = |g: Vec<bool>, done| Progress { id: "first-mail".into(), goals: g, done };
        assert!(!r.progress(p(vec![true, false], false), &[0]));
        assert_eq!(r.announcements, ["Goal reached: Bob gets it. Local delivery."]);
        assert!(r.progress(p(vec![true, true], true), &[1]));
        assert!(!r.progress(p(vec![true, true], true), &[]), "completion is announced once");
        assert_eq!(r.announcements.len(), 2);
        assert_eq!(r.announcements[1], "Goal reached: Two. P2. Lesson complete: T.");
        let mut other = p(vec![false, false], false);
        other.id = "relay".into();
        assert!(!r.progress(other, &[0]), "progress of another lesson is ignored");
        assert!(r.progress.done);
    }

    #[test]
    fn stories_chapters_and_stored_progress() {
        assert_eq!(paragraphs("a\nb\n\nc\n"), ["a b", "c"]);
        let e = |id: &str, ch: &str| LessonEntry {
            id: id.into(),
            title: id.into(),
            chapter: ch.into(),
            claims: vec![],
            actions: 1,
        };
        let cat = vec![e("a", "Sending"), e("b", "Store"), e("c", "Sending")];
        let ch = chapters(&cat);
        assert_eq!(ch.len(), 2);
        assert_eq!(ch[0].1.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(next_after(&cat, "a").map(|e| e.id.as_str()), Some("b"));
        assert!(next_after(&cat, "c").is_none());
        let done = parse_done(r#"["relay","first-mail"]"#);
        assert_eq!(parse_done(&store_done(&done)), done);
        assert!(parse_done("not json").is_empty());
    }
}
