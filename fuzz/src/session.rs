//! A memory host with two messages in alice's INBOX, and a driver that feeds a session its input in pieces the way
//! `net.rs` does, checking what holds for every protocol: no output once closed, nothing but whole CRLF lines out.

use std::sync::Arc;

use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::event::EventBus;
use mailroom_core::host::{CollectingSubmitter, Host};
use mailroom_core::session::{ConnInfo, Flow, Session, TlsInfo, submit_now};
use mailroom_core::store::Flags;

const MESSAGES: [&[u8]; 2] = [
    b"From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\nHi Alice.\r\n.leading dot\r\n.\r\na lone dot before\r\n",
    b"From: carol@example.net\r\nSubject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--b--\r\n",
];

/// mx1 of the default world on an in-memory store, alice's INBOX holding two messages.
pub fn host() -> (Arc<Host>, Arc<CollectingSubmitter>) {
    let world = WorldConfig::default();
    let spool = Arc::new(CollectingSubmitter::default());
    let mut host = Host::new_memory(&world.hosts[0], spool.clone(), EventBus::default());
    host.limits.max_message_size = 4096;
    host.limits.max_line = 512;
    for m in MESSAGES {
        // The memory store accepts any bytes for an existing user and folder.
        host.store.append("alice", "INBOX", m, &Flags::new(), None).expect("memory store");
    }
    (Arc::new(host), spool)
}

fn tls() -> TlsInfo {
    TlsInfo { version: "TLSv1.3".into(), cipher: "X".into() }
}

/// A session target's input: the first byte is the setup (bit 7: map the rest onto `fragments`; bits 1-3: the
/// chunk size; the rest for [`conn`]), then the bytes to feed. None for an empty input.
pub fn input(data: &[u8], fragments: &[&[u8]]) -> Option<(u8, Vec<u8>, usize)> {
    let (&setup, rest) = data.split_first()?;
    let input = if setup & 0x80 != 0 { crate::fragments(rest, fragments) } else { rest.to_vec() };
    let chunk = [1, 2, 3, 7, 64, 4096][usize::from(setup >> 1 & 7) % 6];
    Some((setup, input, chunk))
}

/// A connection to `service`; bits of `setup` decide whether plaintext AUTH is allowed and STARTTLS offered.
pub fn conn(service: Service, implicit_tls: bool, setup: u8) -> ConnInfo {
    ConnInfo {
        service,
        peer: "192.0.2.1:1".into(),
        peer_ip: None,
        plaintext_auth_ok: setup & 0x20 != 0,
        tls: implicit_tls.then(tls),
        tls_available: setup & 0x40 != 0,
    }
}

/// Greets, feeds `input` in `chunk`-byte pieces (submitting messages and starting TLS when asked), and times out
/// at the end if the session is still open. Returns everything the session wrote.
pub fn drive(session: &mut dyn Session, spool: &CollectingSubmitter, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut closed = session.greeting(&mut out) == Flow::Close;
    for piece in input.chunks(chunk.max(1)) {
        let before = out.len();
        let flow = session.receive(piece, &mut out);
        match submit_now(session, spool, flow, &mut out) {
            Flow::Close => {
                if closed {
                    assert_eq!(out.len(), before, "output after close: {:?}", String::from_utf8_lossy(&out[before..]));
                }
                closed = true;
            }
            Flow::StartTls => {
                assert!(!closed, "STARTTLS after close");
                session.tls_started(tls(), &mut out);
            }
            Flow::Continue | Flow::Submit => assert!(!closed, "reopened"),
        }
    }
    if !closed {
        session.timed_out(&mut out);
    }
    assert!(out.is_empty() || out.ends_with(b"\r\n"), "output ends mid-line");
    out
}
