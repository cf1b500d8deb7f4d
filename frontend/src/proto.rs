//! Follows a connection's protocol state from its transcript, so the command line can offer Tab completion of the
//! commands valid now, suggestion chips for the next sensible step, the multi-line editor while SMTP DATA (or an
//! IMAP literal) is open, and automatic IMAP tags.
//!
//! The tracker only watches: the server's protocol code decides everything. It pairs each client command with the
//! server's final reply (SMTP: a code followed by a space, RFC 5321 §4.2.1; POP3: `+OK`/`-ERR`; IMAP: the tagged
//! response, or a `+` continuation) and moves the state along the RFC diagrams (RFC 5321 §4.1.4, RFC 1939 §3,
//! RFC 3501 §3).

use std::collections::VecDeque;

use mailroom_core::explain::{self, Protocol, State};

/// What the command line should look like now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One command per line.
    Command,
    /// SMTP DATA is open: the message, ended by a lone dot.
    Data,
    /// An IMAP literal is expected: exactly this many octets.
    Literal(u32),
    /// IMAP IDLE: `DONE` ends it.
    Idle,
    /// An AUTH exchange waits for a base64 answer.
    Sasl,
}

/// The tracker.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracker {
    /// Protocol.
    pub protocol: Protocol,
    /// Current state.
    pub state: State,
    /// Current input mode.
    pub mode: Mode,
    /// Client commands still waiting for their final reply (upper-cased keyword, and the IMAP tag).
    pending: VecDeque<(String, String)>,
    /// Next automatic IMAP tag number.
    pub next_tag: u32,
    /// SMTP: addresses of MAIL/RCPT commands still waiting for their reply, in order (replies come in order).
    addrs: VecDeque<String>,
    /// SMTP: the sender the server accepted for the current transaction (the compose helper's `From:`).
    pub envelope_from: Option<String>,
    /// SMTP: the recipients the server accepted (the compose helper's `To:`).
    pub envelope_to: Vec<String>,
    /// SMTP: AUTH succeeded (mail to other domains will be relayed; before it, the server refuses to relay).
    pub authenticated: bool,
    /// TLS is up (implicit TLS, or after STARTTLS/STLS): STARTTLS is no longer offered (RFC 3207 §4.2,
    /// RFC 2595 §4, RFC 3501 §6.2.1).
    pub tls: bool,
}

impl Tracker {
    /// A fresh connection.
    pub fn new(protocol: Protocol) -> Tracker {
        let state = match protocol {
            Protocol::Smtp => State::SmtpInit,
            Protocol::Pop3 => State::Pop3Authorization,
            Protocol::Imap => State::ImapNotAuthenticated,
        };
        Tracker {
            protocol,
            state,
            mode: Mode::Command,
            pending: VecDeque::new(),
            next_tag: 1,
            addrs: VecDeque::new(),
            envelope_from: None,
            envelope_to: Vec::new(),
            authenticated: false,
            tls: false,
        }
    }

    /// Watches a line the client sent.
    pub fn client_line(&mut self, line: &str) {
        match self.mode {
            Mode::Data => {
                if line == "." {
                    self.mode = Mode::Command;
                    self.pending.push_back((".".into(), String::new()));
                }
                return;
            }
            Mode::Literal(_) | Mode::Sasl => {
                self.mode = Mode::Command;
                return;
            }
            Mode::Idle => {
                if line.eq_ignore_ascii_case("DONE") {
                    self.mode = Mode::Command;
                }
                return;
            }
            Mode::Command => {}
        }
        let mut words = line.split([' ', ':']);
        let (tag, cmd) = if self.protocol == Protocol::Imap {
            let tag = words.next().unwrap_or("").to_string();
            (tag, words.next().unwrap_or("").to_ascii_uppercase())
        } else {
            (String::new(), words.next().unwrap_or("").to_ascii_uppercase())
        };
        if self.protocol == Protocol::Imap
            && let Some(n) = tag.strip_prefix('a').and_then(|n| n.parse::<u32>().ok())
        {
            self.next_tag = self.next_tag.max(n + 1);
        }
        // POP3: `AUTH mechanism` logs in; a bare `AUTH` lists mechanisms (told apart by the trailing space).
        let cmd = if self.protocol == Protocol::Pop3 && cmd == "AUTH" && line.trim().len() > 4 {
            "AUTH ".into()
        } else {
            cmd
        };
        let literal = literal_len(line);
        if self.protocol == Protocol::Smtp && matches!(cmd.as_str(), "MAIL" | "RCPT") {
            self.addrs.push_back(angle_addr(line));
        }
        self.pending.push_back((cmd, tag));
        if let Some(n) = literal {
            // The `+` continuation switches the editor; remember the size until then.
            self.pending.push_back((format!("{{{n}}}"), String::new()));
        }
    }

    /// Watches a line the server sent.
    pub fn server_line(&mut self, line: &str) {
        match self.protocol {
            Protocol::Smtp => self.smtp(line),
            Protocol::Pop3 => self.pop3(line),
            Protocol::Imap => self.imap(line),
        }
    }

    fn smtp(&mut self, line: &str) {
        let b = line.as_bytes();
        if b.len() < 3 || b.get(3) == Some(&b'-') {
            return; // not a final reply line
        }
        let Some((cmd, _)) = self.pending.pop_front() else { return };
        let ok = b[0] == b'2';
        if matches!(cmd.as_str(), "MAIL" | "RCPT") {
            let addr = self.addrs.pop_front().unwrap_or_default();
            match (cmd.as_str(), ok) {
                ("MAIL", true) => {
                    self.envelope_from = Some(addr);
                    self.envelope_to.clear();
                }
                ("RCPT", true) => self.envelope_to.push(addr),
                _ => {}
            }
        }
        if cmd == "RSET" && ok {
            self.envelope_from = None;
            self.envelope_to.clear();
        }
        match (cmd.as_str(), b[0]) {
            ("EHLO" | "HELO", b'2') => self.state = State::SmtpReady,
            ("MAIL", b'2') => self.state = State::SmtpMail,
            ("RCPT", b'2') => self.state = State::SmtpRcpt,
            ("DATA", b'3') => self.mode = Mode::Data,
            (".", _) | ("RSET", b'2') => self.state = State::SmtpReady,
            ("STARTTLS", b'2') => {
                // RFC 3207 §4.2 (and CVE-2011-0411): the server drops whatever was pipelined behind STARTTLS;
                // those commands never get a reply.
                self.state = State::SmtpInit;
                self.tls = true;
                self.pending.clear();
                self.addrs.clear();
            }
            ("AUTH", b'2') => self.authenticated = true,
            ("AUTH", b'3') => {
                self.mode = Mode::Sasl;
                // The next client line answers the challenge; its reply belongs to AUTH.
                self.pending.push_front(("AUTH".into(), String::new()));
            }
            _ => {}
        }
        let _ = ok;
    }

    fn pop3(&mut self, line: &str) {
        let ok = line.starts_with("+OK");
        if line == "+" || line.starts_with("+ ") {
            self.mode = Mode::Sasl;
            return;
        }
        if !ok && !line.starts_with("-ERR") {
            return; // a line of a multi-line answer
        }
        let Some((cmd, _)) = self.pending.pop_front() else { return };
        // A bare `AUTH` only lists the mechanisms (its `+OK` logs nobody in).
        if ok && matches!(cmd.as_str(), "PASS" | "APOP" | "AUTH ") {
            self.state = State::Pop3Transaction;
        }
        if ok && cmd == "STLS" {
            // RFC 2595 §4: commands pipelined behind STLS are dropped by the server.
            self.tls = true;
            self.pending.clear();
        }
        if self.mode == Mode::Sasl {
            self.mode = Mode::Command;
        }
    }

    fn imap(&mut self, line: &str) {
        if line == "+" || line.starts_with("+ ") {
            // A continuation answers the oldest command waiting for one.
            match self.pending.front().map(|(c, _)| c.clone()) {
                Some(c) if c == "IDLE" => self.mode = Mode::Idle,
                Some(c) if c == "AUTHENTICATE" => self.mode = Mode::Sasl,
                _ => {
                    if let Some(i) = self.pending.iter().position(|(c, _)| c.starts_with('{')) {
                        let (c, _) = self.pending.remove(i).expect("position found it");
                        let n = c.trim_matches(['{', '}']).trim_end_matches('+').parse().unwrap_or(0);
                        self.mode = Mode::Literal(n);
                    }
                }
            }
            return;
        }
        let mut w = line.split(' ');
        let tag = w.next().unwrap_or("");
        let status = w.next().unwrap_or("").to_ascii_uppercase();
        if tag == "*" {
            if status == "PREAUTH" {
                self.state = State::ImapAuthenticated;
            }
            return;
        }
        let Some(i) = self.pending.iter().position(|(_, t)| t == tag) else { return };
        let (cmd, _) = self.pending.remove(i).expect("position found it");
        self.pending.retain(|(c, _)| !c.starts_with('{'));
        if self.mode == Mode::Idle || self.mode == Mode::Sasl {
            self.mode = Mode::Command;
        }
        if status != "OK" {
            if matches!(cmd.as_str(), "SELECT" | "EXAMINE") {
                self.state = State::ImapAuthenticated; // a failed SELECT closes the old mailbox (§6.3.1)
            }
            return;
        }
        match cmd.as_str() {
            // RFC 3501 §6.2.1: nothing pipelined behind STARTTLS is read.
            "STARTTLS" => {
                self.tls = true;
                self.pending.clear();
            }
            "LOGIN" | "AUTHENTICATE" => self.state = State::ImapAuthenticated,
            "SELECT" | "EXAMINE" => self.state = State::ImapSelected,
            "CLOSE" | "UNSELECT" => self.state = State::ImapAuthenticated,
            _ => {}
        }
    }

    /// Commands valid now, in catalogue order.
    pub fn valid_commands(&self) -> Vec<&'static str> {
        explain::commands(self.protocol)
            .iter()
            .filter(|c| c.states.contains(&self.state))
            .filter(|c| self.protocol != Protocol::Imap || c.name != "DONE")
            .filter(|c| !(self.tls && matches!(c.name, "STARTTLS" | "STLS")))
            .map(|c| c.name)
            .collect()
    }

    /// Tab completion: completes the command keyword of `input` (after an IMAP tag if there is one). Returns the
    /// new input, or the candidates when ambiguous.
    pub fn complete(&self, input: &str) -> Completion {
        let (head, word) = match self.protocol {
            Protocol::Imap => match input.split_once(' ') {
                Some((tag, rest)) if !rest.contains(' ') => (format!("{tag} "), rest),
                None => (String::new(), input),
                _ => return Completion::None,
            },
            _ if input.contains(' ') => return Completion::None,
            _ => (String::new(), input),
        };
        let up = word.to_ascii_uppercase();
        let cands: Vec<&str> = self.valid_commands().into_iter().filter(|c| c.starts_with(&up)).collect();
        match cands.as_slice() {
            [] => Completion::None,
            [one] => Completion::Done(format!("{head}{}", complete_args(self.protocol, one))),
            many => Completion::Ambiguous(many.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// Suggestion chips: whole lines for the next sensible steps (without IMAP tags).
    pub fn suggestions(&self, host: &str) -> Vec<String> {
        // `local`: another user of the same host, a recipient every connection may send to.
        let (me, local, domain, peer) = if host == "mx2" {
            ("carol", "dave", "example.net", "alice@example.com")
        } else {
            ("alice", "bob", "example.com", "carol@example.net")
        };
        let v: Vec<String> = match (self.mode, self.state) {
            (Mode::Data, _) => vec![".".into()],
            (Mode::Idle, _) => vec!["DONE".into()],
            (Mode::Literal(_) | Mode::Sasl, _) => vec![],
            (_, State::SmtpInit) => vec!["EHLO client.example.org".into(), "STARTTLS".into(), "QUIT".into()],
            // Every chip leads somewhere that works: AUTH as a whole line (a bare `AUTH PLAIN` leaves a newcomer
            // facing a `334` that wants base64), and a recipient of another domain only once logged in (before,
            // the server answers 554 relay access denied).
            (_, State::SmtpReady) => vec![
                format!("MAIL FROM:<{me}@{domain}>"),
                crate::assist::auth_plain(me, "password"),
                "STARTTLS".into(),
                "NOOP".into(),
                "QUIT".into(),
            ],
            (_, State::SmtpMail) if self.authenticated => {
                vec![format!("RCPT TO:<{peer}>"), format!("RCPT TO:<{local}@{domain}>"), "RSET".into()]
            }
            (_, State::SmtpMail) => vec![format!("RCPT TO:<{local}@{domain}>"), "RSET".into()],
            (_, State::SmtpRcpt) => vec!["DATA".into(), format!("RCPT TO:<{local}@{domain}>"), "RSET".into()],
            (_, State::Pop3Authorization) => {
                vec!["CAPA".into(), format!("USER {me}"), "PASS password".into(), "STLS".into()]
            }
            (_, State::Pop3Transaction) => {
                vec![
                    "STAT".into(),
                    "LIST".into(),
                    "RETR 1".into(),
                    "DELE 1".into(),
                    "UIDL".into(),
                    "QUIT".into(),
                ]
            }
            (_, State::ImapNotAuthenticated) => {
                vec!["CAPABILITY".into(), format!("LOGIN {me} password"), "STARTTLS".into()]
            }
            (_, State::ImapAuthenticated) => {
                vec![
                    "LIST \"\" *".into(),
                    "SELECT INBOX".into(),
                    "STATUS INBOX (MESSAGES UNSEEN)".into(),
                    "LOGOUT".into(),
                ]
            }
            (_, State::ImapSelected) => vec![
                "FETCH 1:* (FLAGS ENVELOPE)".into(),
                "IDLE".into(),
                "STORE 1 +FLAGS (\\Deleted)".into(),
                "EXPUNGE".into(),
                "CLOSE".into(),
                "LOGOUT".into(),
            ],
        };
        // Once TLS is up the server refuses a second STARTTLS (SMTP 503, POP3 -ERR, IMAP BAD): no chip for it.
        v.into_iter().filter(|c| !(self.tls && matches!(c.as_str(), "STARTTLS" | "STLS"))).collect()
    }
}

/// The protocol state in a few words, for the pane's badge.
pub fn state_words(t: &Tracker) -> &'static str {
    match (t.mode, t.state) {
        (Mode::Data, _) => "DATA open: type the message",
        (Mode::Idle, _) => "IDLE: waiting for changes",
        (Mode::Literal(_), _) => "literal expected",
        (Mode::Sasl, _) => "login exchange",
        (_, State::SmtpInit) => "greeted: say EHLO",
        (_, State::SmtpReady) => "ready for MAIL FROM",
        (_, State::SmtpMail) => "sender given: add RCPT TO",
        (_, State::SmtpRcpt) => "recipients given: DATA next",
        (_, State::Pop3Authorization) => "AUTHORIZATION state",
        (_, State::Pop3Transaction) => "TRANSACTION state",
        (_, State::ImapNotAuthenticated) => "not authenticated",
        (_, State::ImapAuthenticated) => "authenticated",
        (_, State::ImapSelected) => "mailbox selected",
    }
}

/// The result of Tab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Nothing to complete.
    None,
    /// The completed input.
    Done(String),
    /// Several commands match.
    Ambiguous(Vec<String>),
}

/// What follows a completed keyword: the part of the syntax that is always the same.
fn complete_args(protocol: Protocol, cmd: &str) -> String {
    match (protocol, cmd) {
        (Protocol::Smtp, "MAIL") => "MAIL FROM:<".into(),
        (Protocol::Smtp, "RCPT") => "RCPT TO:<".into(),
        // No space after the command: the learner types it (a completed `LOGIN ` plus a typed space would send
        // two, and IMAP answers that with BAD).
        (_, c) => c.to_string(),
    }
}

/// The address between `<` and `>` of `MAIL FROM:<a@b>` / `RCPT TO:<a@b>` (empty for `<>` or none).
fn angle_addr(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.trim().to_string())
        .unwrap_or_default()
}

/// `{123}` or `{123+}` at the end of a line: an IMAP literal announcement (RFC 3501 §4.3, RFC 7888).
pub fn literal_len(line: &str) -> Option<u32> {
    let inner = line.strip_suffix('}')?.rsplit_once('{')?.1;
    inner.trim_end_matches('+').parse().ok()
}

/// Turns the DATA editor's text into exactly the bytes to send: CR LF line endings, and optionally the
/// terminating `.` line.
pub fn data_bytes(body: &str, finish: bool) -> String {
    let body = body.replace("\r\n", "\n");
    let mut s = String::new();
    for l in body.split('\n') {
        s.push_str(l);
        s.push_str("\r\n");
    }
    if finish {
        s.push_str(".\r\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: Protocol, script: &[(&str, &str)]) -> Tracker {
        let mut t = Tracker::new(p);
        for (dir, line) in script {
            if *dir == "C" { t.client_line(line) } else { t.server_line(line) }
        }
        t
    }

    #[test]
    fn tls_and_what_starttls_drops() {
        // CVE-2011-0411: the MAIL pipelined behind STARTTLS is dropped unanswered; the 503 belongs to RCPT.
        let t = run(
            Protocol::Smtp,
            &[
                ("C", "EHLO x"),
                ("S", "250 mx1"),
                ("C", "STARTTLS"),
                ("C", "MAIL FROM:<m@example.net>"),
                ("S", "220 2.0.0 Ready to start TLS"),
                ("C", "RCPT TO:<bob@example.com>"),
                ("S", "503 5.5.1 Need MAIL before RCPT"),
                ("C", "EHLO x"),
                ("S", "250 mx1"),
            ],
        );
        assert_eq!((t.state, t.envelope_from.as_deref()), (State::SmtpReady, None));
        assert!(t.tls && !t.valid_commands().contains(&"STARTTLS"));
        assert!(!t.suggestions("mx1").iter().any(|c| c == "STARTTLS"));
        // POP3: a bare AUTH lists mechanisms and logs nobody in.
        let t = run(Protocol::Pop3, &[("C", "AUTH"), ("S", "+OK"), ("S", "PLAIN"), ("S", ".")]);
        assert_eq!(t.state, State::Pop3Authorization);
        let t = run(Protocol::Pop3, &[("C", "AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk"), ("S", "+OK logged in")]);
        assert_eq!(t.state, State::Pop3Transaction);
    }

    #[test]
    fn envelope_and_chips_follow_what_the_server_accepted() {
        let mut t = run(
            Protocol::Smtp,
            &[
                ("C", "EHLO me"),
                ("S", "250 ok"),
                ("C", "MAIL FROM:<alice@example.com>"),
                ("C", "RCPT TO:<nobody@example.com>"),
                ("C", "RCPT TO:<bob@example.com>"),
                ("S", "250 ok"),
                ("S", "550 5.1.1 no such user"),
            ],
        );
        assert_eq!(t.envelope_from.as_deref(), Some("alice@example.com"));
        assert!(t.envelope_to.is_empty(), "a refused recipient is not in the envelope");
        t.server_line("250 ok");
        assert_eq!(t.envelope_to, ["bob@example.com"]);
        // Not logged in: no chip leads into 554 relay access denied.
        let t = run(
            Protocol::Smtp,
            &[("C", "EHLO me"), ("S", "250 ok"), ("C", "MAIL FROM:<alice@example.com>"), ("S", "250 ok")],
        );
        assert!(
            t.suggestions("mx1").iter().all(|c| !c.contains("example.net")),
            "{:?}",
            t.suggestions("mx1")
        );
        let t = run(
            Protocol::Smtp,
            &[
                ("C", "EHLO me"),
                ("S", "250 ok"),
                ("C", "AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk"),
                ("S", "235 2.7.0 ok"),
                ("C", "MAIL FROM:<alice@example.com>"),
                ("S", "250 ok"),
            ],
        );
        assert_eq!(t.suggestions("mx1")[0], "RCPT TO:<carol@example.net>");
    }

    #[test]
    fn smtp_states() {
        let t =
            run(Protocol::Smtp, &[("S", "220 hi"), ("C", "EHLO me"), ("S", "250-mx1"), ("S", "250 SIZE")]);
        assert_eq!(t.state, State::SmtpReady);
        assert!(!t.valid_commands().contains(&"RCPT"));
        let t = run(
            Protocol::Smtp,
            &[
                ("C", "EHLO me"),
                ("S", "250 ok"),
                ("C", "MAIL FROM:<a@b>"),
                ("S", "250 ok"),
                ("C", "RCPT TO:<c@d>"),
                ("S", "250 ok"),
                ("C", "DATA"),
                ("S", "354 go"),
            ],
        );
        assert_eq!((t.state, t.mode), (State::SmtpRcpt, Mode::Data));
        assert_eq!((t.envelope_from.as_deref(), &t.envelope_to[..]), (Some("a@b"), &["c@d".to_string()][..]));
        assert_eq!(t.suggestions("mx1"), vec!["."]);
        let mut t = t;
        t.client_line("Subject: x");
        t.client_line(".");
        assert_eq!(t.mode, Mode::Command);
        t.server_line("250 2.0.0 queued");
        assert_eq!(t.state, State::SmtpReady);
        let t = run(
            Protocol::Smtp,
            &[("C", "EHLO me"), ("S", "250 ok"), ("C", "MAIL FROM:<a@b>"), ("S", "550 no")],
        );
        assert_eq!(t.state, State::SmtpReady);
    }

    #[test]
    fn pop3_and_imap_states() {
        let t = run(
            Protocol::Pop3,
            &[("S", "+OK hi"), ("C", "USER alice"), ("S", "+OK"), ("C", "PASS x"), ("S", "+OK 1")],
        );
        assert_eq!(t.state, State::Pop3Transaction);
        let t = run(
            Protocol::Imap,
            &[
                ("S", "* OK hi"),
                ("C", "a1 LOGIN alice password"),
                ("S", "a1 OK done"),
                ("C", "a2 SELECT INBOX"),
                ("S", "* 1 EXISTS"),
                ("S", "a2 OK [READ-WRITE] done"),
                ("C", "a3 IDLE"),
                ("S", "+ idling"),
            ],
        );
        assert_eq!((t.state, t.mode, t.next_tag), (State::ImapSelected, Mode::Idle, 4));
        let mut t = t;
        t.client_line("DONE");
        t.server_line("a3 OK IDLE done");
        assert_eq!(t.mode, Mode::Command);
        let t = run(
            Protocol::Imap,
            &[("C", "a1 LOGIN x y"), ("S", "a1 OK"), ("C", "a2 APPEND INBOX {12}"), ("S", "+ go")],
        );
        assert_eq!(t.mode, Mode::Literal(12));
    }

    #[test]
    fn completion() {
        let t = Tracker::new(Protocol::Smtp);
        assert_eq!(t.complete("eh"), Completion::Done("EHLO".into()));
        assert_eq!(t.complete("xyz"), Completion::None);
        let t = run(Protocol::Smtp, &[("C", "EHLO me"), ("S", "250 ok")]);
        assert_eq!(t.complete("MA"), Completion::Done("MAIL FROM:<".into()));
        assert!(matches!(t.complete("") , Completion::Ambiguous(v) if v.contains(&"MAIL".to_string())));
        let t = run(Protocol::Imap, &[("C", "a1 LOGIN x y"), ("S", "a1 OK")]);
        assert_eq!(t.complete("a2 SEL"), Completion::Done("a2 SELECT".into()));
        assert!(matches!(t.complete("a2 S"), Completion::Ambiguous(v) if v.contains(&"STATUS".to_string())));
        // FETCH is only valid in the Selected state.
        assert_eq!(t.complete("a2 FET"), Completion::None);
    }

    #[test]
    fn data_editor_bytes() {
        assert_eq!(data_bytes("Subject: hi\n\nbody", true), "Subject: hi\r\n\r\nbody\r\n.\r\n");
        assert_eq!(data_bytes("a\r\nb", false), "a\r\nb\r\n");
        assert_eq!(literal_len("a1 APPEND INBOX {310}"), Some(310));
        assert_eq!(literal_len("a1 APPEND INBOX {5+}"), Some(5));
        assert_eq!(literal_len("a1 NOOP"), None);
    }
}
