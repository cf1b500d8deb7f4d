//! Tests of the POP3 session: the transcript vectors of `tests/vectors/pop3/` (format in the README there), re-fed
//! in chunks, and the scenarios of issue 3 (DELE+RSET, DELE then drop, DELE then QUIT, UIDL stability, [IN-USE],
//! STLS pipelining, byte-stuffing, limits).

use std::sync::Arc;
use std::time::Duration;

use super::Pop3Session;
use crate::config::{Service, UserConfig, WorldConfig};
use crate::event::{EventBus, EventKind};
use crate::host::{CollectingSubmitter, Host};
use crate::session::{ConnInfo, Flow, Session, TlsInfo};
use crate::store::{Flags, Uid};

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/// A memory host of the default world's mx1, or with the given users instead.
fn host_with(users: &[(&str, &str)]) -> Host {
    let mut config = WorldConfig::default().hosts[0].clone();
    if !users.is_empty() {
        config.users = users
            .iter()
            .map(|(n, p)| UserConfig { name: (*n).to_string(), password: (*p).to_string() })
            .collect();
    }
    Host::new_memory(&config, Arc::new(CollectingSubmitter::default()), EventBus::default())
}

fn conn(plaintext_auth_ok: bool, tls_available: bool) -> ConnInfo {
    ConnInfo {
        service: Service::Pop3,
        peer: "192.0.2.7:50000".into(),
        peer_ip: None,
        plaintext_auth_ok,
        tls: None,
        tls_available,
    }
}

fn append(host: &Host, user: &str, data: &[u8]) -> Uid {
    host.store.append(user, "INBOX", data, &Flags::new(), None).unwrap()
}

fn inbox_len(host: &Host, user: &str) -> usize {
    host.store.status(user, "INBOX").unwrap().messages.len()
}

/// One client connection to a session.
struct Client {
    s: Pop3Session,
    flow: Flow,
}

impl Client {
    fn connect(host: &Arc<Host>, conn: ConnInfo) -> Client {
        let mut s = Pop3Session::new(host.clone(), conn);
        let mut out = Vec::new();
        assert_eq!(s.greeting(&mut out), Flow::Continue);
        assert!(out.starts_with(b"+OK "));
        Client { s, flow: Flow::Continue }
    }

    /// Connects from loopback (plaintext allowed) and logs in with USER/PASS.
    fn login(host: &Arc<Host>, user: &str) -> Client {
        let mut c = Client::connect(host, conn(true, false));
        assert!(c.cmd(&format!("USER {user}")).starts_with("+OK "));
        let r = c.cmd("PASS password");
        assert!(r.starts_with("+OK "), "{r}");
        c
    }

    fn raw(&mut self, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        self.flow = self.s.receive(bytes, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn cmd(&mut self, line: &str) -> String {
        self.raw(format!("{line}\r\n").as_bytes())
    }

    /// The body of a multi-line reply, un-stuffed, as the client sees it.
    fn multi(&mut self, line: &str) -> (String, Vec<u8>) {
        let reply = self.cmd(line);
        let (status, rest) = reply.split_once("\r\n").unwrap();
        assert!(status.starts_with("+OK"), "{status}");
        let body = rest.strip_suffix(".\r\n").expect("terminated");
        let mut data = Vec::new();
        for l in body.split_inclusive("\r\n") {
            assert_ne!(l, ".\r\n", "an unstuffed terminator inside the body");
            data.extend_from_slice(l.strip_prefix('.').unwrap_or(l).as_bytes());
        }
        (status.to_string(), data)
    }

    fn uidl(&mut self) -> Vec<(u32, String)> {
        let (_, body) = self.multi("UIDL");
        String::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| {
                let (n, id) = l.split_once(' ').unwrap();
                (n.parse().unwrap(), id.to_string())
            })
            .collect()
    }
}

fn events(host: &Host) -> Vec<EventKind> {
    host.events.recent().into_iter().map(|e| e.kind).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Vectors

/// A parsed vector file.
#[derive(Default)]
struct Vector {
    users: Vec<(String, String)>,
    timestamp: Option<String>,
    plaintext: Option<bool>,
    tls_available: bool,
    max_errors: Option<u32>,
    mails: Vec<(String, Vec<u8>)>,
    greeting: Vec<String>,
    steps: Vec<Step>,
    mailcount: Vec<(String, usize)>,
}

/// One client line and what must come back.
#[derive(Default)]
struct Step {
    client: String,
    expect: Vec<String>,
    closes: bool,
}

/// A message of exactly `size` octets: two header lines, a blank line, body lines of about 30 octets (the second
/// one starts with "." to exercise stuffing).
fn generated(size: usize, n: usize) -> Vec<u8> {
    let head = format!("From: test@example.com\r\nSubject: message {n}\r\n\r\n");
    let rest = size.checked_sub(head.len()).filter(|r| *r >= 30).expect("@mail size too small");
    let lines = rest / 30;
    let (base, extra) = (rest / lines - 2, rest % lines);
    let mut data = head.into_bytes();
    for i in 0..lines {
        let len = base + usize::from(i < extra);
        let mut line: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        if i == 1 && len > 0 {
            line[0] = b'.';
        }
        data.extend_from_slice(&line);
        data.extend_from_slice(b"\r\n");
    }
    assert_eq!(data.len(), size);
    data
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            other => panic!("bad escape \\{other:?}"),
        }
    }
    out
}

fn parse_vector(text: &str) -> Vector {
    let mut v = Vector::default();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("C:") {
            let client = rest.strip_prefix(' ').unwrap_or(rest).to_string();
            v.steps.push(Step { client, ..Step::default() });
        } else if let Some(rest) = line.strip_prefix("S: ") {
            match v.steps.last_mut() {
                Some(step) if rest == "@closed" => step.closes = true,
                Some(step) => step.expect.push(rest.to_string()),
                None => v.greeting.push(rest.to_string()),
            }
        } else if let Some(directive) = line.strip_prefix('@') {
            let words: Vec<&str> = directive.split(' ').collect();
            match words[0] {
                "user" => v.users.push((words[1].into(), words[2].into())),
                "timestamp" => v.timestamp = Some(words[1].into()),
                "max_errors" => v.max_errors = Some(words[1].parse().unwrap()),
                "conn" => {
                    for w in &words[1..] {
                        match w.split_once('=') {
                            Some(("plaintext", b)) => v.plaintext = Some(b.parse().unwrap()),
                            Some(("tls_available", b)) => v.tls_available = b.parse().unwrap(),
                            _ => panic!("bad @conn {w}"),
                        }
                    }
                }
                "mail" => {
                    let n = v.mails.len() + 1;
                    v.mails.push((words[1].into(), generated(words[2].parse().unwrap(), n)));
                }
                "raw" => {
                    let text = directive.splitn(3, ' ').nth(2).unwrap_or("");
                    v.mails.push((words[1].into(), unescape(text)));
                }
                "mailcount" => v.mailcount.push((words[1].into(), words[2].parse().unwrap())),
                other => panic!("unknown directive @{other}"),
            }
        } else {
            panic!("unrecognised vector line {line:?}");
        }
    }
    v
}

/// Lines of stored data as the client must see them after stuffing.
fn stuffed_lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let text = text.strip_suffix("\r\n").unwrap_or(&text);
    text.split("\r\n").map(|l| if l.starts_with('.') { format!(".{l}") } else { l.to_string() }).collect()
}

/// What TOP n sends, computed independently of `response::top`.
fn top_lines(data: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let lines: Vec<&str> = text.strip_suffix("\r\n").unwrap_or(&text).split("\r\n").collect();
    let keep = match lines.iter().position(|l| l.is_empty()) {
        Some(blank) => (blank + 1 + n).min(lines.len()),
        None => lines.len(),
    };
    stuffed_lines(format!("{}\r\n", lines[..keep].join("\r\n")).as_bytes())
}

/// Whether `actual` matches `pattern`, where `...` stands for any text.
fn matches(pattern: &str, actual: &str) -> bool {
    let parts: Vec<&str> = pattern.split("...").collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == actual;
    };
    if parts.len() == 1 {
        return pattern == actual;
    }
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Expands `@message`, `@top` and `{uidl N}` in expected lines.
fn expand(expect: &[String], v: &Vector, uidls: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for e in expect {
        let words: Vec<&str> = e.split(' ').collect();
        match words[0] {
            "@message" => out.extend(stuffed_lines(&v.mails[words[1].parse::<usize>().unwrap() - 1].1)),
            "@top" => {
                let data = &v.mails[words[1].parse::<usize>().unwrap() - 1].1;
                out.extend(top_lines(data, words[2].parse().unwrap()));
            }
            _ => {
                let mut line = e.clone();
                for (i, id) in uidls.iter().enumerate() {
                    line = line.replace(&format!("{{uidl {}}}", i + 1), id);
                }
                out.push(line);
            }
        }
    }
    out
}

fn split_reply(out: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    if text.is_empty() {
        return Vec::new();
    }
    let text = text.strip_suffix("\r\n").unwrap_or_else(|| panic!("{name}: reply without CRLF: {text:?}"));
    text.split("\r\n").map(str::to_string).collect()
}

fn compare(name: &str, what: &str, expect: &[String], actual: &[String]) {
    let ok = expect.len() == actual.len() && expect.iter().zip(actual).all(|(e, a)| matches(e, a));
    assert!(ok, "{name}: {what}\nexpected:\n{}\nactual:\n{}", expect.join("\n"), actual.join("\n"));
}

/// Builds the host and session for one run of a vector; returns them with the unique-ids of the mails.
fn start(v: &Vector) -> (Arc<Host>, Pop3Session, Vec<String>) {
    let users: Vec<(&str, &str)> = v.users.iter().map(|(u, p)| (u.as_str(), p.as_str())).collect();
    let mut host = host_with(&users);
    if let Some(m) = v.max_errors {
        host.limits.max_errors = m;
    }
    let uids: Vec<Uid> = v.mails.iter().map(|(user, data)| append(&host, user, data)).collect();
    let uidls = match v.mails.first() {
        Some((user, _)) => {
            let validity = host.store.status(user, "INBOX").unwrap().uid_validity;
            uids.iter().map(|uid| format!("{validity:08x}{uid:08x}")).collect()
        }
        None => Vec::new(),
    };
    let host = Arc::new(host);
    let mut c = conn(v.plaintext.unwrap_or(true), v.tls_available);
    c.peer = "127.0.0.1:50000".into();
    let mut s = Pop3Session::new(host.clone(), c);
    if let Some(ts) = &v.timestamp {
        s.timestamp = ts.clone();
    }
    (host, s, uidls)
}

fn check_end(name: &str, v: &Vector, host: &Host) {
    for (user, n) in &v.mailcount {
        assert_eq!(inbox_len(host, user), *n, "{name}: messages left for {user}");
    }
}

/// Feeds `bytes` in chunks of `size`; stops at the first flow other than Continue. Returns that flow and how many
/// bytes were fed.
fn feed(s: &mut Pop3Session, bytes: &[u8], size: usize, out: &mut Vec<u8>) -> (Flow, usize) {
    let mut fed = 0;
    for chunk in bytes.chunks(size.max(1)) {
        fed += chunk.len();
        let flow = s.receive(chunk, out);
        if flow != Flow::Continue {
            return (flow, fed);
        }
    }
    (Flow::Continue, fed)
}

fn run_vector(name: &str, text: &str) {
    let v = parse_vector(text);
    for size in [usize::MAX, 1, 2, 3, 7] {
        let label = format!("{name} (chunks of {size}, step by step)");
        let (host, mut s, uidls) = start(&v);
        let mut out = Vec::new();
        s.greeting(&mut out);
        compare(&label, "greeting", &v.greeting, &split_reply(&out, &label));
        for step in &v.steps {
            let mut out = Vec::new();
            let line = format!("{}\r\n", step.client);
            let (flow, fed) = feed(&mut s, line.as_bytes(), size, &mut out);
            assert_eq!(fed, line.len(), "{label}: C: {} ended the session early", step.client);
            let what = format!("reply to C: {}", step.client);
            compare(&label, &what, &expand(&step.expect, &v, &uidls), &split_reply(&out, &label));
            let want = if step.closes { Flow::Close } else { Flow::Continue };
            assert_eq!(flow, want, "{label}: flow after C: {}", step.client);
        }
        check_end(&label, &v, &host);

        // Everything at once: RFC 2449 §6.6 PIPELINING.
        let label = format!("{name} (chunks of {size}, pipelined)");
        let (host, mut s, uidls) = start(&v);
        let mut out = Vec::new();
        s.greeting(&mut out);
        let mut expect = v.greeting.clone();
        let mut input = String::new();
        for step in &v.steps {
            input.push_str(&step.client);
            input.push_str("\r\n");
            expect.extend(expand(&step.expect, &v, &uidls));
        }
        let (flow, _) = feed(&mut s, input.as_bytes(), size, &mut out);
        compare(&label, "whole output", &expect, &split_reply(&out, &label));
        let want = if v.steps.last().is_some_and(|s| s.closes) { Flow::Close } else { Flow::Continue };
        assert_eq!(flow, want, "{label}: final flow");
        check_end(&label, &v, &host);
    }
}

#[test]
fn vectors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pop3");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "vectors missing in {}", dir.display());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        run_vector(&name, &std::fs::read_to_string(&path).unwrap());
    }
}

#[test]
fn vector_helpers() {
    assert!(matches("+OK ... <ts>", "+OK hello there <ts>"));
    assert!(matches("+OK...", "+OK"));
    assert!(!matches("+OK ... <ts>", "+OK <ts>x"));
    assert!(matches("S", "S") && !matches("S", "S "));
    assert_eq!(generated(120, 1).len(), 120);
    assert_eq!(top_lines(b"A: b\r\n\r\n1\r\n.2\r\n", 1), vec!["A: b", "", "1"]);
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

#[test]
fn greeting_carries_a_fresh_apop_timestamp() {
    let host = Arc::new(host_with(&[]));
    let mut out = Vec::new();
    Pop3Session::new(host.clone(), conn(true, false)).greeting(&mut out);
    let greeting = String::from_utf8(out).unwrap();
    let a = Pop3Session::new(host.clone(), conn(true, false)).apop_timestamp().to_string();
    let b = Pop3Session::new(host, conn(true, false)).apop_timestamp().to_string();
    assert!(greeting.starts_with("+OK Mailroom POP3 server mx1.example.com ready <"), "{greeting}");
    assert!(greeting.ends_with("@mx1.example.com>\r\n"));
    assert_ne!(a, b);
    let inner = a.strip_prefix('<').unwrap().strip_suffix("@mx1.example.com>").unwrap();
    let (pid, clock) = inner.split_once('.').unwrap();
    assert_eq!(pid, std::process::id().to_string());
    assert!(clock.bytes().all(|b| b.is_ascii_digit()));
}

#[test]
fn apop_with_our_own_timestamp() {
    use md5::{Digest, Md5};
    let host = Arc::new(host_with(&[]));
    let mut c = Client::connect(&host, conn(true, false));
    let digest: String =
        Md5::digest(format!("{}password", c.s.apop_timestamp())).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(c.cmd(&format!("APOP alice {digest}")), "+OK alice's maildrop has 0 messages (0 octets)\r\n");
}

#[test]
fn dele_then_rset_restores_everything() {
    let host = Arc::new(host_with(&[]));
    append(&host, "alice", b"Subject: 1\r\n\r\none\r\n");
    append(&host, "alice", b"Subject: 2\r\n\r\ntwo\r\n");
    let mut c = Client::login(&host, "alice");
    assert_eq!(c.cmd("DELE 1"), "+OK message 1 deleted\r\n");
    assert_eq!(c.cmd("STAT"), "+OK 1 19\r\n");
    assert_eq!(c.cmd("RETR 1"), "-ERR message 1 already deleted\r\n");
    assert_eq!(c.cmd("RSET"), "+OK maildrop has 2 messages (38 octets)\r\n");
    assert_eq!(c.cmd("LIST"), "+OK 2 messages (38 octets)\r\n1 19\r\n2 19\r\n.\r\n");
    assert!(c.cmd("QUIT").ends_with("(2 messages left)\r\n"));
    assert_eq!(inbox_len(&host, "alice"), 2);
    assert!(!events(&host).iter().any(|e| matches!(e, EventKind::Removed { .. })));
}

#[test]
fn dele_then_dropped_connection_keeps_the_mail() {
    let host = Arc::new(host_with(&[]));
    append(&host, "alice", b"Subject: 1\r\n\r\none\r\n");
    let mut c = Client::login(&host, "alice");
    assert_eq!(c.cmd("DELE 1"), "+OK message 1 deleted\r\n");
    c.s.closed();
    assert_eq!(inbox_len(&host, "alice"), 1);
    assert!(!events(&host).iter().any(|e| matches!(e, EventKind::Removed { .. })));
    // The lock went with the connection.
    let mut again = Client::login(&host, "alice");
    assert_eq!(again.cmd("STAT"), "+OK 1 19\r\n");
    drop(c);
}

#[test]
fn dele_then_quit_removes_the_mail_for_everyone() {
    let host = Arc::new(host_with(&[]));
    let keep = append(&host, "alice", b"Subject: keep\r\n\r\nx\r\n");
    append(&host, "alice", b"Subject: go\r\n\r\ny\r\n");
    let mut c = Client::login(&host, "alice");
    let (status, data) = c.multi("RETR 2");
    assert_eq!((status.as_str(), data.as_slice()), ("+OK 18 octets", &b"Subject: go\r\n\r\ny\r\n"[..]));
    assert_eq!(c.cmd("DELE 2"), "+OK message 2 deleted\r\n");
    assert_eq!(c.cmd("QUIT"), "+OK mx1.example.com POP3 server signing off (1 message left)\r\n");
    assert_eq!(c.flow, Flow::Close);
    // What POP3 deleted is gone from the store IMAP reads too.
    let left: Vec<Uid> =
        host.store.status("alice", "INBOX").unwrap().messages.iter().map(|m| m.uid).collect();
    assert_eq!(left, vec![keep]);
    let ev = events(&host);
    assert!(ev.contains(&EventKind::LoggedIn { protocol: "pop3".into(), user: "alice".into() }));
    assert!(ev.iter().any(|e| matches!(e, EventKind::Retrieved { user, size: 18, .. } if user == "alice")));
    assert!(ev.iter().any(|e| matches!(e, EventKind::MarkedDeleted { user, .. } if user == "alice")));
    assert!(ev.contains(&EventKind::Removed { user: "alice".into(), count: 1 }));
}

#[test]
fn uidl_is_stable_across_sessions_and_never_reused() {
    let host = Arc::new(host_with(&[]));
    for i in 0..3 {
        append(&host, "alice", format!("Subject: {i}\r\n\r\n{i}\r\n").as_bytes());
    }
    let mut c = Client::login(&host, "alice");
    let first = c.uidl();
    assert_eq!(first.len(), 3);
    assert!(
        first
            .iter()
            .all(|(_, id)| (1..=70).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b)))
    );
    c.cmd("QUIT");

    let mut c = Client::login(&host, "alice");
    assert_eq!(c.uidl(), first);
    assert_eq!(c.cmd("UIDL 2"), format!("+OK 2 {}\r\n", first[1].1));
    c.cmd("DELE 3");
    c.cmd("QUIT");
    append(&host, "alice", b"Subject: new\r\n\r\nnew\r\n");

    let mut c = Client::login(&host, "alice");
    let third = c.uidl();
    assert_eq!(third[..2], first[..2]);
    assert_eq!(third[2].0, 3);
    // Message 3 is now another message, and it has an id never seen before.
    assert!(first.iter().all(|(_, id)| *id != third[2].1));
}

#[test]
fn message_numbers_are_a_snapshot_taken_at_login() {
    let host = Arc::new(host_with(&[]));
    append(&host, "alice", b"Subject: 1\r\n\r\none\r\n");
    let mut c = Client::login(&host, "alice");
    append(&host, "alice", b"Subject: 2\r\n\r\ntwo\r\n");
    assert_eq!(c.cmd("STAT"), "+OK 1 19\r\n");
    assert!(c.cmd("RETR 2").starts_with("-ERR no such message"));
    c.cmd("QUIT");
    let mut c = Client::login(&host, "alice");
    assert_eq!(c.cmd("STAT"), "+OK 2 38\r\n");
}

#[test]
fn message_expunged_elsewhere_is_reported() {
    let host = Arc::new(host_with(&[]));
    let uid = append(&host, "alice", b"Subject: 1\r\n\r\none\r\n");
    let mut c = Client::login(&host, "alice");
    host.store.expunge("alice", "INBOX", &[uid]).unwrap();
    assert_eq!(c.cmd("RETR 1"), "-ERR message 1 was removed by another session\r\n");
    c.cmd("DELE 1");
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

#[test]
fn second_session_of_a_user_gets_in_use() {
    let host = Arc::new(host_with(&[]));
    let mut first = Client::login(&host, "alice");
    let mut second = Client::connect(&host, conn(true, false));
    second.cmd("USER alice@example.com");
    assert_eq!(second.cmd("PASS password"), "-ERR [IN-USE] maildrop already locked\r\n");
    assert_eq!(second.flow, Flow::Continue);
    // Other users are not affected.
    let _bob = Client::login(&host, "bob");
    first.cmd("QUIT");
    second.cmd("USER alice");
    assert!(second.cmd("PASS password").starts_with("+OK alice's maildrop"));
}

#[test]
fn stls_discards_pipelined_commands() {
    let host = Arc::new(host_with(&[]));
    let mut c = Client::connect(&host, conn(false, true));
    assert_eq!(
        c.cmd("USER alice"),
        "-ERR [AUTH] plaintext authentication is not allowed on this connection; use STLS first\r\n"
    );
    // A man in the middle appends commands after STLS; they were sent in the clear and must not run inside TLS.
    let out = c.raw(b"STLS\r\nUSER alice\r\nPASS password\r\nSTAT\r\nUSER ev");
    assert_eq!(out, "+OK Begin TLS negotiation\r\n");
    assert_eq!(c.flow, Flow::StartTls);
    assert!(c.s.buf.is_empty());
    let mut out = Vec::new();
    let info = TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_256_GCM_SHA384".into() };
    assert_eq!(c.s.tls_started(info, &mut out), Flow::Continue);
    assert!(out.is_empty(), "no new greeting after STLS");
    // Still AUTHORIZATION, and nothing of the injected input survived ("il" would otherwise finish "USER ev").
    assert_eq!(c.cmd("il"), "-ERR unknown command \"il\"\r\n");
    assert_eq!(c.cmd("STAT"), "-ERR STAT is only valid after login (TRANSACTION state)\r\n");
    let capa = c.cmd("CAPA");
    assert!(capa.contains("\r\nUSER\r\n") && capa.contains("\r\nSASL PLAIN\r\n"), "{capa}");
    assert!(!capa.contains("STLS"), "{capa}");
    assert_eq!(c.cmd("STLS"), "-ERR TLS is already active\r\n");
    c.cmd("USER alice");
    assert!(c.cmd("PASS password").starts_with("+OK"));
}

#[test]
fn stls_without_a_certificate_is_refused() {
    let host = Arc::new(host_with(&[]));
    let mut c = Client::connect(&host, conn(false, false));
    assert_eq!(c.cmd("STLS"), "-ERR STLS is not available on this server\r\n");
    assert_eq!(c.flow, Flow::Continue);
    assert!(c.cmd("USER alice").ends_with("use POP3S\r\n"));
    assert!(!c.cmd("CAPA").contains("STLS"));
}

#[test]
fn byte_stuffing_round_trip() {
    let host = Arc::new(host_with(&[]));
    let messages: [&[u8]; 5] = [
        b"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n.a\r\nb.\r\n.\r\n",
        b"Subject: no final crlf\r\n\r\n.last",
        b"Subject: empty body\r\n\r\n",
        b".starts: with dot\r\n\r\n\r\n.\r\n\r\n",
        b"",
    ];
    for m in messages {
        append(&host, "alice", m);
    }
    let mut c = Client::login(&host, "alice");
    for (i, m) in messages.iter().enumerate() {
        let (status, data) = c.multi(&format!("RETR {}", i + 1));
        assert_eq!(status, format!("+OK {} octets", m.len()));
        let mut want = m.to_vec();
        if !want.is_empty() && !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        assert_eq!(String::from_utf8_lossy(&data), String::from_utf8_lossy(&want), "message {}", i + 1);
        // LIST counts the stored octets exactly.
        assert_eq!(c.cmd(&format!("LIST {}", i + 1)), format!("+OK {} {}\r\n", i + 1, m.len()));
    }
    let (_, top) = c.multi("TOP 1 2");
    assert_eq!(top, b"Subject: dots\r\n\r\n.\r\n..\r\n");
}

#[test]
fn overlong_lines_are_refused_and_the_buffer_stays_bounded() {
    let host = Arc::new(host_with(&[]));
    let max = host.limits.max_line;
    let mut c = Client::connect(&host, conn(true, false));
    // Arriving in pieces without a line end: nothing to answer yet, and nothing kept beyond the limit.
    for _ in 0..3 {
        assert_eq!(c.raw(&vec![b'A'; max]), "");
        assert!(c.s.buf.len() <= max + 1);
    }
    assert_eq!(
        c.raw(b"\r\nNOOP\r\n"),
        "-ERR line too long\r\n-ERR NOOP is only valid after login (TRANSACTION state)\r\n"
    );
    // In one piece, and byte by byte.
    let mut long = vec![b'B'; max + 1];
    long.extend_from_slice(b"\r\n");
    assert_eq!(c.raw(&long), "-ERR line too long\r\n");
    let mut out = String::new();
    for b in &long {
        out.push_str(&c.raw(std::slice::from_ref(b)));
        assert!(c.s.buf.len() <= max + 1);
    }
    assert_eq!(out, "-ERR line too long\r\n");
    // Exactly at the limit is fine.
    let user = format!("USER {}", "a".repeat(max - 5));
    assert_eq!(c.cmd(&user), "+OK send your password\r\n");
}

#[test]
fn a_run_of_bad_commands_closes_the_session_and_removes_nothing() {
    let mut host = host_with(&[]);
    host.limits.max_errors = 3;
    let host = Arc::new(host);
    append(&host, "alice", b"Subject: 1\r\n\r\none\r\n");
    let mut c = Client::login(&host, "alice");
    c.cmd("DELE 1");
    // Honest negative answers do not count.
    for _ in 0..5 {
        assert!(c.cmd("RETR 7").starts_with("-ERR no such message"));
    }
    for bad in ["XYZZY", "LIST x", "TOP"] {
        assert!(c.cmd(bad).starts_with("-ERR "));
        assert_eq!(c.flow, Flow::Continue);
    }
    assert_eq!(c.cmd("FOO"), "-ERR too many errors\r\n");
    assert_eq!(c.flow, Flow::Close);
    assert_eq!(c.cmd("QUIT"), "");
    assert_eq!(c.flow, Flow::Close);
    assert_eq!(inbox_len(&host, "alice"), 1);
    Client::login(&host, "alice");
}

#[test]
fn failed_logins_look_alike_are_slow_and_limited() {
    let mut host = host_with(&[]);
    host.limits.max_errors = 4;
    let host = Arc::new(host);
    let delay = host.limits.auth_failure_delay;
    let mut c = Client::connect(&host, conn(true, false));
    let mut replies = Vec::new();
    c.cmd("USER nobody");
    replies.push(c.cmd("PASS password"));
    assert_eq!(c.s.take_delay(), Some(delay));
    assert_eq!(c.s.take_delay(), None);
    c.cmd("USER alice");
    replies.push(c.cmd("PASS sekrit"));
    replies.push(c.cmd("AUTH PLAIN AGFsaWNlAHNla3JpdA==")); // "\0alice\0sekrit"
    replies.push(c.cmd("APOP alice 0123456789abcdef0123456789abcdef"));
    assert!(replies.iter().all(|r| r == "-ERR [AUTH] invalid user name or password\r\n"), "{replies:?}");
    // Pipelined guesses each wait.
    assert_eq!(c.s.take_delay(), Some(delay * 3));
    assert_eq!(c.cmd("USER alice"), "+OK send your password\r\n");
    assert_eq!(c.cmd("PASS guess5"), "-ERR too many errors\r\n");
    assert_eq!(c.flow, Flow::Close);
    let failed: Vec<String> = events(&host)
        .into_iter()
        .filter_map(|e| match e {
            EventKind::LoginFailed { protocol, user } if protocol == "pop3" => Some(user),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["nobody", "alice", "alice", "alice", "alice"]);
    let json = serde_json::to_string(&host.events.recent()).unwrap();
    assert!(!json.contains("sekrit") && !json.contains("guess5"));
}

#[test]
fn autologout_ends_the_session_without_update() {
    let host = Arc::new(host_with(&[]));
    append(&host, "alice", b"Subject: 1\r\n\r\none\r\n");
    let mut c = Client::login(&host, "alice");
    assert_eq!(c.s.idle_timeout(), Duration::from_secs(600));
    c.cmd("DELE 1");
    let mut out = Vec::new();
    assert_eq!(c.s.timed_out(&mut out), Flow::Close);
    assert_eq!(out, b"-ERR autologout; idle for too long\r\n");
    assert_eq!(inbox_len(&host, "alice"), 1);
    Client::login(&host, "alice");
}

#[test]
fn shutdown_ends_the_session_without_update() {
    let host = Arc::new(host_with(&[]));
    append(&host, "alice", b"Subject: 1\r\n\r\none\r\n");
    let mut c = Client::login(&host, "alice");
    c.cmd("DELE 1");
    let mut out = Vec::new();
    assert_eq!(c.s.shutting_down(&mut out), Flow::Close);
    assert_eq!(out, b"-ERR [SYS/TEMP] server shutting down\r\n");
    assert_eq!(inbox_len(&host, "alice"), 1);
    Client::login(&host, "alice");
}

#[test]
fn quit_before_login_closes() {
    let host = Arc::new(host_with(&[]));
    let mut c = Client::connect(&host, conn(true, false));
    assert_eq!(c.cmd("QUIT"), "+OK mx1.example.com POP3 server signing off\r\n");
    assert_eq!(c.flow, Flow::Close);
}

#[test]
fn sasl_exchange_survives_an_overlong_response() {
    let host = Arc::new(host_with(&[]));
    let mut c = Client::connect(&host, conn(true, false));
    assert_eq!(c.cmd("AUTH PLAIN"), "+ \r\n");
    let long = "A".repeat(host.limits.max_line + 10);
    assert_eq!(c.cmd(&long), "-ERR line too long\r\n");
    // The exchange was abandoned: the next line is a command again.
    assert_eq!(c.cmd("AGFsaWNlAHBhc3N3b3Jk"), "-ERR unknown command \"AGFsaWNlAHBhc3N3\"\r\n");
    assert_eq!(c.cmd("AUTH PLAIN ="), "-ERR malformed PLAIN response\r\n");
}

/// Random input, split at random places, never panics, and every reply is whole CRLF-terminated lines.
#[test]
fn random_input_never_breaks_the_session() {
    use rand::{Rng, SeedableRng};
    const WORDS: [&str; 22] = [
        "USER alice",
        "PASS password",
        "PASS x",
        "APOP alice 0123456789abcdef0123456789abcdef",
        "AUTH PLAIN",
        "AGFsaWNlAHBhc3N3b3Jk",
        "*",
        "STLS",
        "CAPA",
        "STAT",
        "LIST",
        "LIST 1",
        "RETR 1",
        "RETR 2",
        "DELE 1",
        "TOP 1 1",
        "UIDL",
        "RSET",
        "NOOP",
        "QUIT",
        ".",
        "\0\x7f",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(110);
    for _ in 0..300 {
        let host = Arc::new(host_with(&[]));
        append(&host, "alice", b"Subject: a\r\n\r\n.dot\r\n");
        append(&host, "alice", b"Subject: b\r\n\r\nno crlf");
        let mut input = Vec::new();
        for _ in 0..rng.gen_range(1..30) {
            match rng.gen_range(0..10) {
                0 => input.extend((0..rng.gen_range(0..20)).map(|_| rng.r#gen::<u8>())),
                _ => input.extend_from_slice(WORDS[rng.gen_range(0..WORDS.len())].as_bytes()),
            }
            input.extend_from_slice(if rng.gen_bool(0.9) { b"\r\n" } else { b"\n" });
        }
        let mut s = Pop3Session::new(host.clone(), conn(rng.gen_bool(0.5), rng.gen_bool(0.5)));
        let mut out = Vec::new();
        s.greeting(&mut out);
        let mut rest = &input[..];
        while !rest.is_empty() {
            let (chunk, more) = rest.split_at(rng.gen_range(1..=rest.len().min(16)));
            rest = more;
            match s.receive(chunk, &mut out) {
                Flow::Continue | Flow::Submit => {}
                Flow::StartTls => {
                    let info =
                        TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into() };
                    s.tls_started(info, &mut out);
                }
                Flow::Close => break,
            }
        }
        s.closed();
        assert!(out.ends_with(b"\r\n"));
        // Whatever happened, the session is over and the maildrop is free again.
        Client::login(&host, "alice");
    }
}

#[test]
fn switched_off_extensions_leave_capa_and_are_refused() {
    let host = Arc::new(host_with(&[("alice", "password")]));
    append(&host, "alice", b"Subject: one\r\n\r\nbody\r\n");
    let mut c = Client::login(&host, "alice");
    assert!(c.cmd("CAPA").contains("\r\nTOP\r\n"));
    assert!(host.set_extension("pop3", "TOP", false));
    assert!(host.set_extension("pop3", "UIDL", false));
    let capa = c.cmd("CAPA");
    assert!(!capa.contains("\r\nTOP\r\n") && !capa.contains("\r\nUIDL\r\n"), "{capa}");
    assert!(c.cmd("TOP 1 0").starts_with("-ERR"));
    assert!(c.cmd("UIDL").starts_with("-ERR"));
    assert!(c.cmd("RETR 1").starts_with("+OK"), "the base protocol is untouched");
}
