//! Runs the SMTP transcripts in `tests/vectors/smtp/*.txt` against [`SmtpSession`], re-feeding the client side in
//! 1, 2, 3 and 7-byte chunks (and whole) to prove that no split changes the conversation.
//!
//! ## Vector format
//! - `C: text` is a line the client sends (CRLF is appended); `C:` alone sends an empty line.
//! - `S: pattern` is one reply line. The reply code and separator (`250-` / `250 `) must match exactly; the rest
//!   is matched against the text with `*` as a wildcard for any run of characters (the RFC examples' texts are
//!   not ours). `S: 250` alone matches any last line of a 250 reply.
//! - `@service smtp|submission|smtps`, `@host mx1|mx2`, `@plaintext-auth`, `@tls` (implicit TLS from the start),
//!   `@no-tls` (STARTTLS impossible) set up the connection; `@submitted N` checks how many messages reached the
//!   spool at the end; `@closed` says the server must have closed the connection at the end.
//! - `#` starts a comment line.
//!
//! Each run of `C:` lines is fed, then the replies it produced must be exactly the `S:` lines that follow it.
//! When the session asks for TLS ([`Flow::StartTls`]) the runner plays the driver: it drops the rest of that run
//! and calls `tls_started`.

use std::path::Path;
use std::sync::Arc;

use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::event::EventBus;
use mailroom_core::host::{CollectingSubmitter, Host};
use mailroom_core::session::{ConnInfo, Flow, Session, TlsInfo, submit_now};
use mailroom_core::smtp::SmtpSession;

#[derive(Debug)]
enum Step {
    Client(String),
    Server(String),
}

#[derive(Debug)]
struct Vector {
    name: String,
    service: Service,
    host: usize,
    plaintext_auth: bool,
    tls: bool,
    tls_available: bool,
    submitted: Option<usize>,
    closed: bool,
    steps: Vec<Step>,
}

fn load(path: &Path) -> Vector {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v = Vector {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        service: Service::Smtp,
        host: 0,
        plaintext_auth: false,
        tls: false,
        tls_available: true,
        submitted: None,
        closed: false,
        steps: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let where_ = format!("{}:{}", v.name, n + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("C:") {
            v.steps.push(Step::Client(rest.strip_prefix(' ').unwrap_or(rest).to_string()));
        } else if let Some(rest) = line.strip_prefix("S: ") {
            v.steps.push(Step::Server(rest.to_string()));
        } else if let Some(directive) = line.strip_prefix('@') {
            let mut words = directive.split_whitespace();
            match (words.next(), words.next()) {
                (Some("service"), Some(s)) => v.service = Service::from_name(s).expect(&where_),
                (Some("host"), Some("mx1")) => v.host = 0,
                (Some("host"), Some("mx2")) => v.host = 1,
                (Some("plaintext-auth"), None) => v.plaintext_auth = true,
                (Some("tls"), None) => v.tls = true,
                (Some("no-tls"), None) => v.tls_available = false,
                (Some("submitted"), Some(n)) => v.submitted = Some(n.parse().expect(&where_)),
                (Some("closed"), None) => v.closed = true,
                _ => panic!("{where_}: unknown directive {line}"),
            }
        } else {
            panic!("{where_}: cannot read {line:?}");
        }
    }
    v
}

/// `pattern` with `*` wildcards, anchored at both ends.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

fn line_matches(expected: &str, actual: &str) -> bool {
    if expected.len() == 3 && expected.bytes().all(|b| b.is_ascii_digit()) {
        return actual.starts_with(&format!("{expected} "));
    }
    if expected.len() == 4 && expected.ends_with('-') {
        return actual.starts_with(expected);
    }
    actual.get(..4) == expected.get(..4)
        && wildcard_match(&expected[4.min(expected.len())..], &actual[4.min(actual.len())..])
}

/// Plays the vector with the client bytes cut into `chunk`-byte pieces.
fn run(v: &Vector, chunk: usize) {
    let ctx = |what: &str| format!("{} (chunk {chunk}): {what}", v.name);
    let world = WorldConfig::default();
    let spool = Arc::new(CollectingSubmitter::default());
    let host = Host::new_memory(&world.hosts[v.host], spool.clone(), EventBus::default());
    let conn = ConnInfo {
        service: v.service,
        peer: "192.0.2.7:40000".into(),
        peer_ip: Some("192.0.2.7".parse().unwrap()),
        plaintext_auth_ok: v.plaintext_auth,
        tls: v.tls.then(|| TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into() }),
        tls_available: v.tls_available,
    };
    let mut session = SmtpSession::new(Arc::new(host), conn);
    let mut out = Vec::new();
    let mut flow = session.greeting(&mut out);
    let mut steps = v.steps.iter().peekable();
    loop {
        // The server's lines for what was sent so far.
        let text = String::from_utf8(std::mem::take(&mut out)).expect("replies are ASCII");
        let actual: Vec<&str> = text.lines().collect();
        let mut expected = Vec::new();
        while let Some(Step::Server(s)) = steps.peek() {
            expected.push(s.as_str());
            steps.next();
        }
        assert_eq!(
            actual.len(),
            expected.len(),
            "{}",
            ctx(&format!("expected {expected:#?}\ngot {actual:#?}"))
        );
        for (e, a) in expected.iter().zip(&actual) {
            assert!(line_matches(e, a), "{}", ctx(&format!("expected {e:?}, got {a:?}")));
        }
        // The client's next run of lines.
        let mut input = Vec::new();
        while let Some(Step::Client(c)) = steps.peek() {
            input.extend_from_slice(c.as_bytes());
            input.extend_from_slice(b"\r\n");
            steps.next();
        }
        if input.is_empty() {
            break;
        }
        assert_ne!(flow, Flow::Close, "{}", ctx("the client sent more after the server closed"));
        for piece in input.chunks(chunk) {
            flow = session.receive(piece, &mut out);
            flow = submit_now(&mut session, &*spool, flow, &mut out);
            match flow {
                Flow::Continue | Flow::Submit => {}
                Flow::StartTls => {
                    // The driver drops the rest of the run (it was pipelined in the clear) and shakes hands.
                    flow = session.tls_started(
                        TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into() },
                        &mut out,
                    );
                    break;
                }
                Flow::Close => break,
            }
        }
    }
    assert_eq!(flow == Flow::Close, v.closed, "{}", ctx("connection closed at the end?"));
    if let Some(n) = v.submitted {
        assert_eq!(spool.messages.lock().unwrap().len(), n, "{}", ctx("messages spooled"));
    }
}

#[test]
fn smtp_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/smtp");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 8, "vectors missing in {}", dir.display());
    for path in paths {
        let v = load(&path);
        assert!(!v.steps.is_empty(), "{}: empty", v.name);
        for chunk in [usize::MAX, 1, 2, 3, 7] {
            run(&v, chunk.min(1 << 20));
        }
    }
}

#[test]
fn wildcards() {
    assert!(wildcard_match("a*c", "abbbc"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("Ok: queued as *", "Ok: queued as TEST0001"));
    assert!(!wildcard_match("a*c", "abbb"));
    assert!(!wildcard_match("abc", "abcd"));
    assert!(line_matches("250", "250 2.0.0 Ok"));
    assert!(!line_matches("250", "250-PIPELINING"));
    assert!(line_matches("250-", "250-PIPELINING"));
    assert!(line_matches("250 2.1.0 *", "250 2.1.0 Ok"));
    assert!(!line_matches("250 2.1.0 *", "250-2.1.0 Ok"));
}
