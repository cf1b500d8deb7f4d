//! A whole SMTP session fed arbitrary bytes: it never panics, replies only in printable ASCII lines, and stays
//! closed once closed. The first byte picks the service, the TLS/AUTH policy, the chunk size and whether the rest
//! is raw bytes or indices into a table of SMTP fragments (which gets the fuzzer past EHLO/MAIL/RCPT/DATA quickly).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::event::EventBus;
use mailroom_core::host::{CollectingSubmitter, Host};
use mailroom_core::session::{ConnInfo, Flow, Session, TlsInfo, submit_now};
use mailroom_core::smtp::SmtpSession;

const FRAGMENTS: [&[u8]; 32] = [
    b"EHLO client.example\r\n",
    b"HELO x\r\n",
    b"MAIL FROM:<",
    b"RCPT TO:<",
    b"alice@example.com",
    b"carol@example.net",
    b">",
    b"\r\n",
    b"DATA\r\n",
    b".",
    b"\r\n.\r\n",
    b"\n",
    b"\r",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN ",
    b"AGFsaWNlAHBhc3N3b3Jk",
    b"AUTH LOGIN\r\n",
    b"*\r\n",
    b" SIZE=100",
    b" BODY=8BITMIME",
    b" SMTPUTF8",
    b"From: a@example.com\r\n\r\n",
    b"\"quoted local\"",
    b"@[127.0.0.1]",
    b"\0",
    b"\xff",
    b"GET / HTTP/1.1\r\n",
    b"VRFY x\r\nHELP\r\n",
    b"<>",
];

fuzz_target!(|data: &[u8]| {
    let Some((&setup, data)) = data.split_first() else {
        return;
    };
    let service = [Service::Smtp, Service::Submission, Service::Smtps][usize::from(setup & 3) % 3];
    let input: Vec<u8> = if setup & 0x80 != 0 {
        data.iter()
            .flat_map(|&b| FRAGMENTS[usize::from(b) % FRAGMENTS.len()].iter().copied())
            .collect()
    } else {
        data.to_vec()
    };
    let chunk = [1, 2, 3, 7, 64, 4096][usize::from(setup >> 2 & 7) % 6];

    let world = WorldConfig::default();
    let spool = Arc::new(CollectingSubmitter::default());
    let mut host = Host::new_memory(&world.hosts[0], spool.clone(), EventBus::default());
    host.limits.max_message_size = 4096;
    host.limits.max_line = 512;
    let conn = ConnInfo {
        service,
        peer: "192.0.2.1:1".into(),
        peer_ip: None,
        plaintext_auth_ok: setup & 0x20 != 0,
        tls: (service == Service::Smtps).then(|| TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "X".into(),
        }),
        tls_available: setup & 0x40 != 0,
    };
    let mut session = SmtpSession::new(Arc::new(host), conn);
    let mut out = Vec::new();
    session.greeting(&mut out);
    let mut closed = false;
    for piece in input.chunks(chunk) {
        let before = out.len();
        let flow = session.receive(piece, &mut out);
        match submit_now(&mut session, &*spool, flow, &mut out) {
            Flow::Close => {
                if closed {
                    assert_eq!(out.len(), before, "output after close");
                }
                closed = true;
            }
            Flow::StartTls => {
                session.tls_started(
                    TlsInfo {
                        version: "TLSv1.3".into(),
                        cipher: "X".into(),
                    },
                    &mut out,
                );
            }
            Flow::Continue | Flow::Submit => assert!(!closed, "reopened"),
        }
    }
    if !closed {
        session.timed_out(&mut out);
    }
    let text = std::str::from_utf8(&out).expect("ASCII replies");
    for line in text.split_terminator("\r\n") {
        assert!(
            line.len() >= 3 && line.bytes().all(|b| (b' '..=b'~').contains(&b)),
            "{line:?}"
        );
        assert!(line.as_bytes()[..3].iter().all(u8::is_ascii_digit), "{line:?}");
    }
    assert!(out.is_empty() || out.ends_with(b"\r\n"));
});
