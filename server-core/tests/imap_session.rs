//! IMAP session tests: RFC transcripts as C:/S: vectors re-fed in small chunks, one test per command group, the
//! two-device sync test, STARTTLS input discarding and the limits.
//!
//! Every response line the server writes here is decoded by imap-codec's response parser (strict, no quirks), a
//! parser we did not write: a response it rejects fails the test, so the grammar is checked by a third party.

use std::sync::Arc;

use imap_codec::decode::Decoder;
use imap_codec::{GreetingCodec, ResponseCodec};
use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::event::EventBus;
use mailroom_core::host::{CollectingSubmitter, Host};
use mailroom_core::imap::ImapSession;
use mailroom_core::session::{ConnInfo, Flow, Session, TlsInfo};
use mailroom_core::store::{Flag, Flags};

fn host() -> Arc<Host> {
    let cfg = WorldConfig::default();
    Arc::new(Host::new_memory(
        &cfg.hosts[0],
        cfg.routes.clone(),
        Arc::new(CollectingSubmitter::default()),
        EventBus::default(),
    ))
}

fn conn(plaintext_auth_ok: bool, tls_available: bool) -> ConnInfo {
    ConnInfo {
        service: Service::Imap,
        peer: "127.0.0.1:40000".into(),
        peer_ip: None,
        plaintext_auth_ok,
        tls: None,
        tls_available,
    }
}

/// Splits server output into responses (a line, plus any literal it announces, plus the rest of the line).
fn split_responses(out: &[u8]) -> Vec<&[u8]> {
    let mut responses = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < out.len() {
        let Some(nl) = out[pos..].windows(2).position(|w| w == b"\r\n").map(|n| n + pos) else {
            panic!(
                "output does not end with CRLF: {:?}",
                String::from_utf8_lossy(&out[start..])
            );
        };
        let line = &out[pos..nl];
        if let Some(open) = line.iter().rposition(|&b| b == b'{')
            && line.ends_with(b"}")
            && let Ok(n) = std::str::from_utf8(&line[open + 1..line.len() - 1])
                .unwrap_or("x")
                .parse::<usize>()
        {
            pos = nl + 2 + n;
            continue;
        }
        responses.push(&out[start..nl + 2]);
        pos = nl + 2;
        start = pos;
    }
    responses
}

/// Decodes every response with imap-codec; panics on the first it rejects.
fn check_grammar(out: &[u8], greeting: bool) {
    for (i, r) in split_responses(out).into_iter().enumerate() {
        let ok = if greeting && i == 0 {
            matches!(GreetingCodec::default().decode(r), Ok((rest, _)) if rest.is_empty())
        } else {
            matches!(ResponseCodec::default().decode(r), Ok((rest, _)) if rest.is_empty())
        };
        assert!(
            ok,
            "imap-codec rejects {:?}: {:?}",
            String::from_utf8_lossy(r),
            ResponseCodec::default().decode(r)
        );
    }
}

/// A test client: one session, output checked by imap-codec.
struct Client {
    session: ImapSession,
    host: Arc<Host>,
    last_flow: Flow,
}

impl Client {
    fn new(host: &Arc<Host>) -> Client {
        Client::with_conn(host, conn(true, false))
    }

    fn with_conn(host: &Arc<Host>, c: ConnInfo) -> Client {
        let mut session = ImapSession::new(host.clone(), c);
        let mut out = Vec::new();
        session.greeting(&mut out);
        check_grammar(&out, true);
        Client {
            session,
            host: host.clone(),
            last_flow: Flow::Continue,
        }
    }

    fn send(&mut self, input: &str) -> String {
        self.send_bytes(input.as_bytes())
    }

    fn send_bytes(&mut self, input: &[u8]) -> String {
        let mut out = Vec::new();
        self.last_flow = self.session.receive(input, &mut out);
        check_grammar(&out, false);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn login(host: &Arc<Host>, user: &str) -> Client {
        let mut c = Client::new(host);
        let r = c.send(&format!("l1 LOGIN {user} password\r\n"));
        assert!(r.contains("l1 OK"), "{r}");
        c
    }
}

fn append(host: &Host, user: &str, folder: &str, msg: &str, flags: &[Flag]) -> u32 {
    let flags: Flags = flags.iter().cloned().collect();
    host.store
        .append(user, folder, msg.as_bytes(), &flags, None)
        .unwrap()
}

fn msg(subject: &str, body: &str) -> String {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

// ------------------------------------------------------------------------------------------------------------
// Vectors

/// Glob match of one line: `<*>` matches any run of characters.
fn line_matches(want: &str, got: &str) -> bool {
    let parts: Vec<&str> = want.split("<*>").collect();
    if parts.len() == 1 {
        return want == got;
    }
    let mut rest = got;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            let Some(at) = rest.find(p) else { return false };
            rest = &rest[at + p.len()..];
        }
    }
    true
}

fn unescape(s: &str) -> String {
    s.replace("\\r\\n", "\r\n")
}

/// Runs one transcript: `D: user folder (flags) message` lines seed the store, `C:` lines are sent (CRLF added),
/// `S:` lines are the expected output lines (`<*>` is a wildcard).
fn run_vector(text: &str, chunk: usize) {
    let host = host();
    let mut session = ImapSession::new(host.clone(), conn(true, false));
    let mut out = Vec::new();
    session.greeting(&mut out);
    let mut output = out.clone();
    let mut expected: Vec<String> = Vec::new();
    let mut pending_input: Vec<u8> = Vec::new();
    let flush = |session: &mut ImapSession, input: &mut Vec<u8>, output: &mut Vec<u8>| {
        for piece in input.chunks(chunk) {
            let mut out = Vec::new();
            session.receive(piece, &mut out);
            output.extend_from_slice(&out);
        }
        input.clear();
    };
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("D: ") {
            let mut parts = d.splitn(4, ' ');
            let (user, folder, flags, message) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let flags: Vec<Flag> = flags
                .trim_matches(['(', ')'])
                .split_whitespace()
                .filter_map(Flag::from_imap)
                .collect();
            append(&host, user, folder, &unescape(message), &flags);
        } else if let Some(c) = line.strip_prefix("C: ") {
            pending_input.extend_from_slice(unescape(c).as_bytes());
            pending_input.extend_from_slice(b"\r\n");
        } else if let Some(s) = line.strip_prefix("S: ") {
            flush(&mut session, &mut pending_input, &mut output);
            expected.push(s.to_string());
        } else if line == "S:" {
            flush(&mut session, &mut pending_input, &mut output);
            expected.push(String::new());
        }
    }
    flush(&mut session, &mut pending_input, &mut output);
    check_grammar(&output, true);
    let text = String::from_utf8_lossy(&output);
    let got: Vec<&str> = text.split("\r\n").collect();
    let got = &got[..got.len() - 1];
    for (i, want) in expected.iter().enumerate() {
        let line = got.get(i).copied().unwrap_or("<missing>");
        assert!(
            line_matches(want, line),
            "chunk {chunk}, line {}: want {want:?}\n got {line:?}\nall:\n{text}",
            i + 1
        );
    }
    assert_eq!(got.len(), expected.len(), "chunk {chunk}: extra output:\n{text}");
}

#[test]
fn vectors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/imap");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for chunk in [usize::MAX, 1, 2, 3, 7] {
            run_vector(&text, chunk);
        }
    }
}
