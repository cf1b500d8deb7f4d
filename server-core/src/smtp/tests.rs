//! Session behaviour: policy, sequencing, limits, attacks. Every conversation is also re-fed in small chunks to
//! prove that splits do not change a single reply byte.

use std::sync::Arc;

use crate::config::{Limits, Service, WorldConfig};
use crate::event::{EventBus, EventKind};
use crate::host::{CollectingSubmitter, Envelope, Host};
use crate::session::{ConnInfo, Flow, Session, TlsInfo, submit_now};

use super::SmtpSession;

/// A session on mx1 (example.com: alice, bob, admin) with a spool that just collects.
struct Harness {
    session: SmtpSession,
    spool: Arc<CollectingSubmitter>,
    events: EventBus,
}

#[derive(Clone, Copy)]
struct Setup {
    service: Service,
    plaintext_auth_ok: bool,
    tls_available: bool,
    tls: bool,
}

const MX: Setup = Setup { service: Service::Smtp, plaintext_auth_ok: false, tls_available: true, tls: false };

fn tls_info() -> TlsInfo {
    TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into() }
}

impl Harness {
    fn new(setup: Setup) -> Harness {
        Harness::with_limits(setup, |_| {})
    }

    fn with_limits(setup: Setup, tweak: impl FnOnce(&mut Limits)) -> Harness {
        let world = WorldConfig::default();
        let spool = Arc::new(CollectingSubmitter::default());
        let events = EventBus::default();
        let mut host = Host::new_memory(&world.hosts[0], spool.clone(), events.clone());
        tweak(&mut host.limits);
        let conn = ConnInfo {
            service: setup.service,
            peer: "192.0.2.7:40000".into(),
            peer_ip: Some("192.0.2.7".parse().unwrap()),
            plaintext_auth_ok: setup.plaintext_auth_ok,
            tls: setup.tls.then(tls_info),
            tls_available: setup.tls_available,
        };
        let mut session = SmtpSession::new(Arc::new(host), conn);
        let mut out = Vec::new();
        assert_eq!(session.greeting(&mut out), Flow::Continue);
        assert!(String::from_utf8(out).unwrap().starts_with("220 mx1.example.com ESMTP Mailroom"));
        Harness { session, spool, events }
    }

    /// Sends bytes in one piece; returns the replies and the flow.
    fn send(&mut self, input: &[u8]) -> (String, Flow) {
        let mut out = Vec::new();
        let flow = self.session.receive(input, &mut out);
        let flow = submit_now(&mut self.session, &*self.spool, flow, &mut out);
        (String::from_utf8(out).expect("replies are ASCII"), flow)
    }

    /// Sends text (with CRLF line ends written out) and returns the reply lines.
    fn lines(&mut self, input: &str) -> Vec<String> {
        let (out, _) = self.send(input.as_bytes());
        out.lines().map(str::to_string).collect()
    }

    fn submitted(&self) -> Vec<(Envelope, Vec<u8>)> {
        self.spool.messages.lock().unwrap().clone()
    }
}

/// Runs a whole conversation in `chunk`-byte pieces, calling `tls_started` when asked to; returns all output and
/// the last flow.
fn converse(setup: Setup, input: &[u8], chunk: usize) -> (String, Flow, Harness) {
    let mut h = Harness::new(setup);
    let mut out = Vec::new();
    let mut flow = Flow::Continue;
    for piece in input.chunks(chunk) {
        flow = h.session.receive(piece, &mut out);
        flow = submit_now(&mut h.session, &*h.spool, flow, &mut out);
        match flow {
            Flow::Continue | Flow::Submit => {}
            Flow::StartTls => {
                h.session.tls_started(tls_info(), &mut out);
                // The driver drops what it had buffered too; in this loop that is the rest of this piece.
            }
            Flow::Close => break,
        }
    }
    (String::from_utf8(out).unwrap(), flow, h)
}

fn assert_chunk_invariant(setup: Setup, input: &[u8]) -> String {
    let (whole, flow, h) = converse(setup, input, input.len().max(1));
    for chunk in [1, 2, 3, 7] {
        let (split, split_flow, hs) = converse(setup, input, chunk);
        assert_eq!(split, whole, "chunk size {chunk}");
        assert_eq!(split_flow, flow, "chunk size {chunk}");
        let strip =
            |v: Vec<(Envelope, Vec<u8>)>| v.into_iter().map(|(e, m)| (e, body_of(&m))).collect::<Vec<_>>();
        assert_eq!(strip(hs.submitted()), strip(h.submitted()), "chunk size {chunk}");
    }
    whole
}

/// The message without the headers we add (they hold times and random ids).
fn body_of(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let mut lines: Vec<&str> = text.split_inclusive("\r\n").collect();
    // Drop the Received header (first line and its continuation lines) and generated Message-ID/Date.
    if lines.first().is_some_and(|l| l.starts_with("Received:")) {
        lines.remove(0);
        while lines.first().is_some_and(|l| l.starts_with('\t')) {
            lines.remove(0);
        }
    }
    lines.concat().into_bytes()
}

const MESSAGE: &str =
    "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello Bob.\r\n";

#[test]
fn local_delivery_on_the_mx_needs_no_auth() {
    let input = format!(
        "EHLO client.example.org\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<Bob@Example.COM>\r\nDATA\r\n{MESSAGE}.\r\nQUIT\r\n"
    );
    let out = assert_chunk_invariant(MX, input.as_bytes());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "250-mx1.example.com Hello client.example.org [192.0.2.7]",
            "250-PIPELINING",
            "250-SIZE 10485760",
            "250-8BITMIME",
            "250-ENHANCEDSTATUSCODES",
            "250-SMTPUTF8",
            "250 STARTTLS",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as TEST0001",
            "221 2.0.0 mx1.example.com Bye",
        ]
    );
    let (_, _, h) = converse(MX, input.as_bytes(), 1000);
    let [(env, msg)] = h.submitted().try_into().unwrap();
    assert_eq!(env.mail_from, "carol@example.net");
    assert_eq!(env.rcpt_to, ["bob@example.com"]);
    assert_eq!(env.helo, "client.example.org");
    assert_eq!(env.auth_user, None);
    let msg = String::from_utf8(msg).unwrap();
    assert!(msg.starts_with("Received: from client.example.org ([192.0.2.7])\r\n\tby mx1.example.com (Mailroom) with ESMTP id "), "{msg}");
    assert!(msg.contains("\r\n\tfor <bob@example.com>;\r\n\t"), "{msg}");
    // Not a submission: nothing else added.
    assert!(msg.ends_with(&format!("+0000\r\n{MESSAGE}")), "{msg}");
}

#[test]
fn relay_is_denied_without_auth() {
    let mut h = Harness::new(MX);
    let lines = h.lines("EHLO x\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<carol@example.net>\r\nRCPT TO:<@mx1.example.com:carol@example.net>\r\nRCPT TO:<alice@[127.0.0.1]>\r\nDATA\r\n");
    let tail = &lines[lines.len() - 5..];
    assert!(tail[0].starts_with("250 2.1.0"));
    for l in &tail[1..4] {
        assert!(l.starts_with("554 5.7.1 Relay access denied"), "{l}");
    }
    assert_eq!(tail[4], "554 5.5.1 No valid recipients");
    assert!(h.submitted().is_empty());
}

#[test]
fn relay_after_auth_with_plaintext_note() {
    let setup = Setup { plaintext_auth_ok: true, ..MX };
    let mut h = Harness::new(setup);
    let lines = h.lines("EHLO x\r\n");
    assert!(lines.contains(&"250 AUTH PLAIN LOGIN".to_string()), "{lines:?}");
    let lines = h.lines(&format!(
        "AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n{MESSAGE}.\r\n"
    ));
    assert!(
        lines[0].starts_with("235 2.7.0 Authentication successful (note: your password was sent without TLS"),
        "{lines:?}"
    );
    assert_eq!(lines[2], "250 2.1.5 Ok (will be relayed to example.net)");
    assert!(lines[4].starts_with("250 2.0.0 Ok: queued as"));
    let [(env, msg)] = h.submitted().try_into().unwrap();
    assert_eq!(env.auth_user.as_deref(), Some("alice"));
    assert_eq!(env.rcpt_to, ["carol@example.net"]);
    let msg = String::from_utf8(msg).unwrap();
    assert!(msg.contains(" with ESMTPA\r\n\t(authenticated as alice) id "), "{msg}");
    // A submission (authenticated): Message-ID and Date were missing and were added.
    assert!(msg.contains("\r\nMessage-ID: <"), "{msg}");
    assert!(msg.contains("\r\nDate: "), "{msg}");
    assert!(
        h.events
            .recent()
            .iter()
            .any(|e| e.kind == EventKind::LoggedIn { protocol: "smtp".into(), user: "alice".into() })
    );
}

#[test]
fn submission_requires_auth_and_tls_first() {
    let setup = Setup { service: Service::Submission, ..MX };
    let mut h = Harness::new(setup);
    let lines = h.lines("EHLO x\r\n");
    assert!(!lines.iter().any(|l| l.contains("AUTH")), "no AUTH before TLS: {lines:?}");
    assert!(lines.iter().any(|l| l.ends_with("STARTTLS")));
    assert_eq!(
        h.lines("MAIL FROM:<alice@example.com>\r\n"),
        ["530 5.7.0 Authentication required: STARTTLS, then AUTH, first"]
    );
    assert_eq!(
        h.lines("AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n"),
        ["530 5.7.0 Must issue a STARTTLS command first (no passwords in the clear)"]
    );
    assert_eq!(h.session.authenticated_user(), None);

    // Without any way to TLS: 538.
    let mut h = Harness::new(Setup { tls_available: false, ..setup });
    h.lines("EHLO x\r\n");
    assert_eq!(
        h.lines("AUTH LOGIN\r\n"),
        ["538 5.7.11 Encryption required for requested authentication mechanism"]
    );

    // Over TLS (port 465): AUTH then MAIL.
    let mut h = Harness::new(Setup { service: Service::Smtps, tls: true, ..MX });
    let lines = h.lines("EHLO x\r\n");
    assert!(!lines.iter().any(|l| l.contains("STARTTLS")), "{lines:?}");
    assert_eq!(lines.last().unwrap(), "250 AUTH PLAIN LOGIN");
    assert_eq!(
        h.lines("MAIL FROM:<alice@example.com>\r\n"),
        ["530 5.7.0 Authentication required: log in with AUTH first"]
    );
    let lines = h.lines("AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\nMAIL FROM:<alice@example.com>\r\n");
    assert_eq!(lines, ["235 2.7.0 Authentication successful", "250 2.1.0 Ok"]);
}

#[test]
fn submitted_messages_need_a_from_header() {
    let setup = Setup { service: Service::Smtps, tls: true, ..MX };
    for (message, ok) in [
        ("Subject: no from\r\n\r\nbody\r\n", false),
        ("From: not an address\r\n\r\nbody\r\n", false),
        ("From: <alice@>\r\n\r\nbody\r\n", false),
        ("just a body line\r\n", false),
        ("", false),
        ("From: alice@example.com\r\n\r\nbody\r\n", true),
        (
            "From: \"Alice A.\" <alice@example.com>\r\nDate: Thu, 21 May 1998 05:33:29 -0700\r\nMessage-ID: <x@y>\r\n\r\nb\r\n",
            true,
        ),
    ] {
        let mut h = Harness::new(setup);
        let lines = h.lines(&format!(
            "EHLO x\r\nAUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n{message}.\r\n"
        ));
        let last = lines.last().unwrap();
        if ok {
            assert!(last.starts_with("250 2.0.0 Ok: queued"), "{message:?}: {last}");
            let msg = String::from_utf8(h.submitted().remove(0).1).unwrap();
            let count = |name: &str| msg.split("\r\n").filter(|l| l.starts_with(name)).count();
            assert_eq!((count("Date: "), count("Message-ID: ")), (1, 1), "{msg}");
            assert!(msg.contains(" with ESMTPSA (TLSv1.3 TLS13_AES_128_GCM_SHA256)"), "{msg}");
        } else {
            assert!(
                last.starts_with("550 5.6.0 Message refused: a submitted message needs a From: header"),
                "{message:?}: {last}"
            );
            assert!(h.submitted().is_empty());
        }
    }
}

#[test]
fn starttls_drops_pipelined_commands() {
    // CVE-2011-0411: the MAIL and RCPT after STARTTLS were sent in the clear and must never run.
    let input = b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<mallory@example.net>\r\nRCPT TO:<bob@example.com>\r\n";
    for chunk in [input.len(), 1, 2, 3, 7] {
        let mut h = Harness::new(MX);
        let mut out = Vec::new();
        let mut flows = Vec::new();
        for piece in input.chunks(chunk) {
            let flow = h.session.receive(piece, &mut out);
            flows.push(flow);
            if flow == Flow::StartTls {
                break;
            }
        }
        assert_eq!(flows.last(), Some(&Flow::StartTls), "chunk {chunk}");
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n"), "{text}");
        let mut out = Vec::new();
        assert_eq!(h.session.tls_started(tls_info(), &mut out), Flow::Continue);
        assert!(out.is_empty(), "no second greeting");
        // State was reset: the client must EHLO again, and the injected MAIL never happened.
        assert_eq!(h.lines("RCPT TO:<bob@example.com>\r\n"), ["503 5.5.1 Need MAIL before RCPT"]);
        assert_eq!(h.lines("MAIL FROM:<a@example.net>\r\n"), ["503 5.5.1 Send HELO or EHLO first"]);
        let lines = h.lines("EHLO x\r\n");
        assert!(!lines.iter().any(|l| l.contains("STARTTLS")), "{lines:?}");
        assert!(h.lines("STARTTLS\r\n")[0].starts_with("503 5.5.1 TLS already active"));
    }
}

#[test]
fn starttls_forgets_auth_and_refuses_mid_transaction() {
    let mut h = Harness::new(Setup { plaintext_auth_ok: true, ..MX });
    h.lines("EHLO x\r\nAUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\nMAIL FROM:<alice@example.com>\r\n");
    assert_eq!(h.session.authenticated_user(), Some("alice"));
    assert_eq!(h.lines("STARTTLS\r\n"), ["503 5.5.1 Finish the mail transaction (or RSET) before STARTTLS"]);
    let (out, flow) = h.send(b"RSET\r\nSTARTTLS\r\n");
    assert_eq!((out.as_str(), flow), ("250 2.0.0 Ok\r\n220 2.0.0 Ready to start TLS\r\n", Flow::StartTls));
    h.session.tls_started(tls_info(), &mut Vec::new());
    assert_eq!(h.session.authenticated_user(), None);
}

#[test]
fn smuggling_sequences_never_end_data() {
    for evil in ["\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n"] {
        let input = format!(
            "EHLO x\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n\
             From: carol@example.net\r\n\r\nfirst{evil}MAIL FROM:<admin@example.com>\r\nRCPT TO:<alice@example.com>\r\n\
             DATA\r\nFrom: admin@example.com\r\n\r\nsmuggled\r\n.\r\nNOOP\r\n"
        );
        let out = assert_chunk_invariant(MX, input.as_bytes());
        let lines: Vec<&str> = out.lines().skip(7).collect();
        // One message (refused as a whole), then the NOOP: the smuggled commands were data, never commands.
        assert_eq!(
            lines,
            [
                "250 2.1.0 Ok",
                "250 2.1.5 Ok",
                "354 End data with <CR><LF>.<CR><LF>",
                "550 5.6.0 Message refused: bare CR or LF in the data; every line must end in CRLF (RFC 5321 section 2.3.8; a defence against SMTP smuggling)",
                "250 2.0.0 Ok",
            ],
            "{evil:?}"
        );
        let (_, _, h) = converse(MX, input.as_bytes(), 1000);
        assert!(h.submitted().is_empty());
    }
}

#[test]
fn dot_unstuffing_and_commands_after_the_end_mark() {
    let mut h = Harness::new(MX);
    let lines = h.lines(
        "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSubject: dots\r\n\r\n..\r\n...x\r\n.y\r\n.\r\nNOOP\r\n",
    );
    assert_eq!(lines[lines.len() - 2..], ["250 2.0.0 Ok: queued as TEST0001", "250 2.0.0 Ok"]);
    let (env, msg) = h.submitted().remove(0);
    assert_eq!(env.mail_from, "", "null sender");
    assert_eq!(body_of(&msg), b"Subject: dots\r\n\r\n.\r\n..x\r\ny\r\n");
}

#[test]
fn size_limit() {
    let mut h = Harness::with_limits(MX, |l| l.max_message_size = 100);
    let lines = h.lines("EHLO x\r\n");
    assert!(lines.contains(&"250-SIZE 100".to_string()));
    assert_eq!(
        h.lines("MAIL FROM:<a@example.net> SIZE=101\r\n"),
        ["552 5.3.4 Message size exceeds fixed maximum message size (100 octets)"]
    );
    let big = "x".repeat(80);
    let lines = h.lines(&format!(
        "MAIL FROM:<a@example.net> SIZE=100\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n{big}\r\n{big}\r\n.\r\nNOOP\r\n"
    ));
    assert_eq!(
        lines,
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "552 5.3.4 Message size exceeds fixed maximum message size (100 octets)",
            "250 2.0.0 Ok",
        ]
    );
    assert!(h.submitted().is_empty());
    // The transaction is over; a new one works.
    let lines = h.lines("MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nsmall\r\n.\r\n");
    assert_eq!(lines.last().unwrap(), "250 2.0.0 Ok: queued as TEST0001");
}

#[test]
fn too_many_recipients() {
    let mut h = Harness::with_limits(MX, |l| l.max_recipients = 2);
    let lines = h.lines(
        "EHLO x\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<ALICE@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<admin@example.com>\r\nDATA\r\nhi\r\n.\r\n",
    );
    assert_eq!(
        lines[lines.len() - 6..],
        [
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "452 4.5.3 Too many recipients (at most 2 per message)",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as TEST0001",
        ]
    );
    // The duplicate was merged; 452 is not an error that counts towards 421.
    assert_eq!(h.submitted()[0].0.rcpt_to, ["alice@example.com", "bob@example.com"]);
    let msg = String::from_utf8(h.submitted()[0].1.clone()).unwrap();
    assert!(!msg.contains("\tfor <"), "two recipients: no `for` clause");
}

#[test]
fn too_many_errors_close_with_421() {
    let mut h = Harness::with_limits(MX, |l| l.max_errors = 3);
    let (out, flow) = h.send(b"FOO\r\nMAIL FROM:<a@b.c>\r\nBAR\r\nNOOP\r\n");
    assert_eq!(
        out,
        "500 5.5.2 Command unrecognized (try HELP)\r\n503 5.5.1 Send HELO or EHLO first\r\n\
         500 5.5.2 Command unrecognized (try HELP)\r\n421 4.7.0 mx1.example.com Too many errors, closing connection\r\n"
    );
    assert_eq!(flow, Flow::Close);
    assert_eq!(h.send(b"NOOP\r\n"), (String::new(), Flow::Close));
}

#[test]
fn recipients_and_addresses() {
    let mut h = Harness::new(MX);
    h.lines("EHLO x\r\nMAIL FROM:<a@example.net>\r\n");
    let table = [
        ("RCPT TO:<nobody@example.com>", "550 5.1.1 Mailbox unavailable: no such user here in example.com"),
        ("RCPT TO:<\"alice\"@example.com>", "250 2.1.5 Ok"),
        ("RCPT TO:<Postmaster>", "250 2.1.5 Ok (postmaster mail goes to admin@example.com)"),
        ("RCPT TO:<postmaster@EXAMPLE.com>", "250 2.1.5 Ok (postmaster mail goes to admin@example.com)"),
        ("RCPT TO:bob@example.com", "501 5.5.4 Syntax: RCPT TO:<address>"),
        ("RCPT TO: <bob@example.com>", "250 2.1.5 Ok"),
        ("RCPT TO:<bob@example..com>", "553 5.1.3 Malformed address: malformed domain"),
        ("RCPT TO:<\"a@b\"@example.com>", "550 5.1.1 Mailbox unavailable: no such user here in example.com"),
        (
            "RCPT TO:<bob@example.com> NOTIFY=NEVER",
            "555 5.5.4 Parameter NOTIFY not recognized or not implemented",
        ),
        ("RCPT TO:<j\u{f6}ran@example.com>", "553 5.6.7 Non-ASCII address: add SMTPUTF8 to MAIL FROM"),
    ];
    for (cmd, want) in table {
        assert_eq!(h.lines(&format!("{cmd}\r\n")), [want], "{cmd}");
    }
    assert_eq!(h.lines("MAIL FROM:<x@example.net>\r\n"), ["503 5.5.1 Nested MAIL command (RSET first)"]);
}

#[test]
fn sequence_errors() {
    let mut h = Harness::new(MX);
    let table = [
        ("MAIL FROM:<a@example.net>", "503 5.5.1 Send HELO or EHLO first"),
        ("RCPT TO:<bob@example.com>", "503 5.5.1 Need MAIL before RCPT"),
        ("DATA", "503 5.5.1 Need MAIL before DATA"),
        ("AUTH PLAIN", "503 5.5.1 Send EHLO first (AUTH is an ESMTP extension)"),
        ("HELO x", "250 mx1.example.com Hello x [192.0.2.7]"),
        ("MAIL FROM:<a@example.net>", "250 2.1.0 Ok"),
        ("DATA", "503 5.5.1 Need RCPT before DATA"),
        ("RSET", "250 2.0.0 Ok"),
        ("RCPT TO:<bob@example.com>", "503 5.5.1 Need MAIL before RCPT"),
        ("VRFY alice", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"),
        ("EXPN staff", "502 5.5.1 EXPN not available (there are no lists)"),
        ("NOOP hello", "250 2.0.0 Ok"),
        ("HELP RCPT", "214 2.0.0 RCPT TO:<address>: one recipient per command"),
        ("DATA x", "501 5.5.4 Syntax: DATA (no arguments)"),
    ];
    for (cmd, want) in table {
        assert_eq!(h.lines(&format!("{cmd}\r\n")), [want], "{cmd}");
    }
    let help = h.lines("HELP\r\n");
    assert!(
        help.len() > 2 && help[0].starts_with("214-2.0.0 ") && help.last().unwrap().starts_with("214 2.0.0 ")
    );
}

#[test]
fn bad_bytes_get_precise_replies_and_the_session_goes_on() {
    let mut h = Harness::new(MX);
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"NO\0OP\r\n".to_vec(),
            "501 5.5.2 Invalid characters in command (NUL, bare CR or other control characters)",
        ),
        (b"EHLO \xc3\x28\r\n".to_vec(), "501 5.5.2 Invalid characters in command (not UTF-8)"),
        (long.into_bytes(), "500 5.5.2 Line too long (the limit is 4096 octets)"),
        (b"\r\n".to_vec(), "500 5.5.2 Empty command line"),
        (b"NOOP\n".to_vec(), "250 2.0.0 Ok"),
    ];
    for (input, want) in cases {
        for chunk in [1, 3, 4096] {
            let mut out = Vec::new();
            for piece in input.chunks(chunk) {
                assert_eq!(h.session.receive(piece, &mut out), Flow::Continue);
            }
            assert_eq!(String::from_utf8(out).unwrap(), format!("{want}\r\n"), "chunk {chunk}");
            // Errors are counted: start a fresh harness so the 421 limit does not interfere.
            h = Harness::new(MX);
        }
    }
    // An endless line never grows the buffer, and is answered once.
    let mut h = Harness::new(MX);
    let mut out = Vec::new();
    for _ in 0..1000 {
        h.session.receive(&[b'A'; 1000], &mut out);
    }
    assert!(h.session.pending.len() <= 4096 + 4096);
    h.session.receive(b"\r\nNOOP\r\n", &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "500 5.5.2 Line too long (the limit is 4096 octets)\r\n250 2.0.0 Ok\r\n"
    );
}

#[test]
fn http_requests_are_refused_and_closed() {
    let mut h = Harness::new(MX);
    let (out, flow) = h.send(b"GET / HTTP/1.1\r\nHost: localhost:10025\r\n\r\n");
    assert_eq!(out, "554 5.5.0 This is an SMTP server (RFC 5321), not a web server: closing connection\r\n");
    assert_eq!(flow, Flow::Close);
    let mut h = Harness::new(MX);
    assert_eq!(h.send(b"POST /api HTTP/1.0\r\n").1, Flow::Close);
}

#[test]
fn auth_failures_look_the_same_and_are_slow() {
    let setup = Setup { plaintext_auth_ok: true, ..MX };
    let mut h = Harness::new(setup);
    h.lines("EHLO x\r\n");
    // \0alice\0wrong, \0mallory\0password
    let wrong_password = h.lines("AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    assert_eq!(h.session.take_delay(), Some(std::time::Duration::from_millis(500)));
    assert_eq!(h.session.take_delay(), None);
    let unknown_user = h.lines("AUTH PLAIN AG1hbGxvcnkAcGFzc3dvcmQ=\r\n");
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password, ["535 5.7.8 Authentication credentials invalid"]);
    let failed: Vec<_> =
        h.events.recent().into_iter().filter(|e| matches!(e.kind, EventKind::LoginFailed { .. })).collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[1].kind, EventKind::LoginFailed { protocol: "smtp".into(), user: "mallory".into() });

    // LOGIN: the password is asked for even for unknown users.
    assert_eq!(h.lines("AUTH LOGIN\r\n"), ["334 VXNlcm5hbWU6"]);
    assert_eq!(h.lines("bWFsbG9yeQ==\r\n"), ["334 UGFzc3dvcmQ6"]);
    assert_eq!(h.lines("cGFzc3dvcmQ=\r\n"), ["535 5.7.8 Authentication credentials invalid"]);
    // Cancel, bad base64, unknown mechanism, then success with LOGIN and an initial response.
    assert_eq!(h.lines("AUTH PLAIN\r\n*\r\n"), ["334 ", "501 5.7.0 Authentication cancelled"]);
    assert_eq!(
        h.lines("AUTH LOGIN\r\n!!!\r\n"),
        ["334 VXNlcm5hbWU6", "501 5.5.2 Cannot decode the response (not base64)"]
    );
    assert_eq!(
        h.lines("AUTH CRAM-MD5\r\n"),
        ["504 5.5.4 Unrecognized authentication type (use PLAIN or LOGIN)"]
    );
    let lines = h.lines("AUTH LOGIN YWxpY2U=\r\ncGFzc3dvcmQ=\r\n");
    assert_eq!(lines[0], "334 UGFzc3dvcmQ6");
    assert!(lines[1].starts_with("235 2.7.0 Authentication successful"));
    assert_eq!(h.lines("AUTH PLAIN\r\n"), ["503 5.5.1 Already authenticated"]);
    // Passwords never reach an event.
    let events = serde_json::to_string(&h.events.recent()).unwrap();
    assert!(!events.contains("password") && !events.contains("wrong"), "{events}");
}

#[test]
fn auth_plain_with_a_challenge_and_authzid() {
    let mut h = Harness::new(Setup { tls: true, ..MX });
    h.lines("EHLO x\r\n");
    // bob\0alice\0password: alice may not act as bob.
    assert_eq!(
        h.lines("AUTH PLAIN\r\nYm9iAGFsaWNlAHBhc3N3b3Jk\r\n"),
        ["334 ", "535 5.7.8 Authentication credentials invalid"]
    );
    // alice\0alice\0password is fine, and over TLS there is no warning.
    assert_eq!(
        h.lines("AUTH PLAIN YWxpY2UAYWxpY2UAcGFzc3dvcmQ=\r\n"),
        ["235 2.7.0 Authentication successful"]
    );
}

#[test]
fn quit_and_timeout() {
    let mut h = Harness::new(MX);
    let (out, flow) = h.send(b"QUIT\r\nNOOP\r\n");
    assert_eq!((out.as_str(), flow), ("221 2.0.0 mx1.example.com Bye\r\n", Flow::Close));
    let mut h = Harness::new(MX);
    let mut out = Vec::new();
    assert_eq!(h.session.timed_out(&mut out), Flow::Close);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "421 4.4.2 mx1.example.com Timeout exceeded, closing connection\r\n"
    );
    assert_eq!(h.session.idle_timeout(), std::time::Duration::from_secs(300));
}

#[test]
fn smtputf8_and_helo_protocols() {
    let mut h = Harness::new(MX);
    let lines = h.lines(
        "EHLO x\r\nMAIL FROM:<j\u{f6}ran@b\u{fc}cher.example> SMTPUTF8\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nhi\r\n.\r\n",
    );
    assert!(lines.last().unwrap().starts_with("250 2.0.0 Ok"));
    let (env, msg) = h.submitted().remove(0);
    assert_eq!(env.mail_from, "j\u{f6}ran@b\u{fc}cher.example");
    assert!(String::from_utf8(msg).unwrap().contains(" with UTF8SMTP id "));

    let mut h = Harness::new(MX);
    assert_eq!(
        h.lines("HELO x\r\nMAIL FROM:<j\u{f6}ran@example.net>\r\n"),
        ["250 mx1.example.com Hello x [192.0.2.7]", "553 5.6.7 Non-ASCII address: add SMTPUTF8 to MAIL FROM"]
    );
    h.lines("MAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nhi\r\n.\r\n");
    let msg = String::from_utf8(h.submitted().remove(0).1).unwrap();
    assert!(msg.contains(" with SMTP id "), "{msg}");
}

#[test]
fn data_line_limit_refuses_at_the_end() {
    let mut h = Harness::new(MX);
    let long = "y".repeat(super::data::MAX_DATA_LINE);
    let lines = h.lines(&format!(
        "EHLO x\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n{long}\r\n.\r\nNOOP\r\n"
    ));
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "500 5.5.2 Message refused: a line is longer than 4000 octets (RFC 5321 section 4.5.3.1.6 allows 1000)",
            "250 2.0.0 Ok"
        ]
    );
}

#[test]
fn spool_failure_is_temporary() {
    struct Broken;
    impl crate::host::Submitter for Broken {
        fn new_id(&self) -> String {
            "BROKEN".into()
        }
        fn submit(&self, _: String, _: Envelope, _: Vec<u8>) -> Result<String, crate::host::SubmitError> {
            Err(crate::host::SubmitError::ShuttingDown)
        }
    }
    let world = WorldConfig::default();
    let host = Host::new_memory(&world.hosts[0], Arc::new(Broken), EventBus::default());
    let conn = ConnInfo {
        service: Service::Smtp,
        peer: "x".into(),
        peer_ip: None,
        plaintext_auth_ok: false,
        tls: None,
        tls_available: false,
    };
    let mut s = SmtpSession::new(Arc::new(host), conn);
    let mut out = Vec::new();
    let flow =
        s.receive(b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nhi\r\n.\r\n", &mut out);
    submit_now(&mut s, &Broken, flow, &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.ends_with("451 4.3.0 Requested action aborted: could not queue the message, try again later\r\n"),
        "{out}"
    );
    assert!(!out.contains("STARTTLS"), "no TLS available: not offered");
}

/// The fuzz targets' invariants, run on seeded random input so that plain `cargo test` exercises them too:
/// sessions never panic and reply only in well-formed ASCII lines; parsed commands survive encode + parse.
#[test]
fn random_input_keeps_invariants() {
    use rand::{Rng, SeedableRng};

    const FRAGMENTS: [&[u8]; 26] = [
        b"EHLO client.example\r\n",
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
        b"STARTTLS\r\n",
        b"AUTH PLAIN ",
        b"AGFsaWNlAHBhc3N3b3Jk",
        b"AUTH LOGIN\r\n",
        b"*\r\n",
        b" SIZE=100",
        b" SMTPUTF8",
        b"From: a@example.com\r\n\r\n",
        b"\"quoted local\"",
        b"@[127.0.0.1]",
        b"\0",
        b"\xc3",
        b"<>",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(5321);
    let mut round_trips = 0;
    for round in 0..1500 {
        let input: Vec<u8> = if round % 3 == 0 {
            (0..rng.gen_range(0..300)).map(|_| rng.r#gen::<u8>()).collect()
        } else {
            (0..rng.gen_range(0..60))
                .flat_map(|_| FRAGMENTS[rng.gen_range(0..FRAGMENTS.len())].iter().copied())
                .collect()
        };
        let setup = Setup {
            service: [Service::Smtp, Service::Submission, Service::Smtps][round % 3],
            plaintext_auth_ok: rng.r#gen(),
            tls_available: rng.r#gen(),
            tls: round % 3 == 2,
        };
        let chunk = [1, 2, 3, 7, 64, 4096][rng.gen_range(0..6)];
        let (out, _, h) = converse(setup, &input, chunk);
        assert!(h.session.pending.len() <= 2 * 4096, "buffer bounded");
        for line in out.split_terminator("\r\n") {
            assert!(
                line.len() >= 4 && line.bytes().all(|b| (b' '..=b'~').contains(&b)),
                "{line:?} from {input:?}"
            );
            assert!(line.as_bytes()[..3].iter().all(u8::is_ascii_digit), "{line:?}");
        }
        assert!(out.is_empty() || out.ends_with("\r\n"));

        // The parser: whatever parses also parses again from its canonical form.
        for line in input.split_inclusive(|&b| b == b'\n') {
            if let super::Parsed::Complete { value, .. } = super::parse_command(line, 512) {
                round_trips += 1;
                let wire = format!("{value}\r\n");
                match super::parse_command(wire.as_bytes(), 4096) {
                    super::Parsed::Complete { value: again, .. } => assert_eq!(again, value, "{wire:?}"),
                    other => panic!("{wire:?}: {other:?}"),
                }
            }
        }
    }
    assert!(round_trips > 1000, "the generator reaches real commands ({round_trips})");
}

#[test]
fn a_busy_host_greets_with_421_and_closes() {
    let world = WorldConfig::default();
    let host =
        Host::new_memory(&world.hosts[1], Arc::new(CollectingSubmitter::default()), EventBus::default());
    host.set_busy(true);
    let conn = ConnInfo {
        service: Service::Smtp,
        peer: "relay".into(),
        peer_ip: None,
        plaintext_auth_ok: false,
        tls: None,
        tls_available: true,
    };
    let mut session = SmtpSession::new(Arc::new(host), conn);
    let mut out = Vec::new();
    assert_eq!(session.greeting(&mut out), Flow::Close);
    assert_eq!(String::from_utf8(out).unwrap(), "421 mx2.example.net Service busy, try again later\r\n");
    // Nothing the client sends afterwards is run.
    let mut out = Vec::new();
    assert_eq!(session.receive(b"EHLO x\r\n", &mut out), Flow::Close);
    assert!(out.is_empty());
}

#[test]
fn a_logged_in_user_sends_only_as_themselves() {
    let setup =
        Setup { service: Service::Submission, plaintext_auth_ok: true, tls_available: true, tls: false };
    let mut h = Harness::new(setup);
    h.lines("EHLO laptop\r\n");
    // \0alice\0password
    assert!(h.lines("AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n")[0].starts_with("235 "));
    for forged in ["<admin@example.com>", "<carol@example.net>", "<>", "<alice@example.net>"] {
        let r = h.lines(&format!("MAIL FROM:{forged}\r\n"));
        assert!(r[0].starts_with("553 5.7.1 "), "{forged}: {r:?}");
    }
    // Domains ignore case, and a quoted local part is the same mailbox (RFC 5321 §4.1.2).
    for own in ["<alice@EXAMPLE.com>", "<\"alice\"@example.com>"] {
        assert!(h.lines(&format!("MAIL FROM:{own}\r\n"))[0].starts_with("250 "), "{own}");
        h.lines("RSET\r\n");
    }
}

#[test]
fn switched_off_extensions_are_neither_advertised_nor_accepted() {
    let setup =
        Setup { service: Service::Submission, plaintext_auth_ok: true, tls_available: true, tls: false };
    let mut h = Harness::new(setup);
    let host = h.session.host.clone();
    let ehlo = h.lines("EHLO laptop\r\n");
    for kw in ["250-PIPELINING", "250-STARTTLS", "250 AUTH PLAIN LOGIN"] {
        assert!(ehlo.iter().any(|l| l == kw), "{kw} in {ehlo:?}");
    }
    for name in ["PIPELINING", "STARTTLS", "SIZE", "AUTH=LOGIN"] {
        assert!(host.set_extension("smtp", name, false));
    }
    assert!(!host.set_extension("smtp", "NO-SUCH-THING", false));
    let ehlo = h.lines("EHLO laptop\r\n");
    assert!(
        !ehlo.iter().any(|l| l.contains("PIPELINING") || l.contains("STARTTLS") || l.contains("SIZE")),
        "{ehlo:?}"
    );
    assert_eq!(ehlo.last().unwrap(), "250 AUTH PLAIN");
    assert!(h.lines("STARTTLS\r\n")[0].starts_with("502 "));
    assert!(h.lines("AUTH LOGIN\r\n")[0].starts_with("504 "));
    assert!(h.lines("AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n")[0].starts_with("235 "));
    assert!(h.lines("MAIL FROM:<alice@example.com> SIZE=100\r\n")[0].starts_with("555 5.5.4 SIZE"));
    assert!(h.lines("MAIL FROM:<alice@example.com> BODY=8BITMIME\r\n")[0].starts_with("250 "));
    // Back on, back in EHLO.
    assert!(host.set_extension("smtp", "pipelining", true));
    assert!(h.lines("EHLO laptop\r\n").iter().any(|l| l == "250-PIPELINING"));
}

#[test]
fn trace_and_date_headers_take_the_worlds_time() {
    let world = WorldConfig::default();
    let spool = Arc::new(CollectingSubmitter::default());
    let mut host = Host::new_memory(&world.hosts[0], spool.clone(), EventBus::default());
    // A sandbox skipped a year ahead: its mail is dated in the sandbox's time, not the machine's.
    let then =
        chrono::DateTime::parse_from_rfc3339("2031-05-06T07:08:09Z").unwrap().with_timezone(&chrono::Utc);
    host.clock = crate::clock::Clock::manual(then);
    let conn = ConnInfo {
        service: Service::Submission,
        peer: "192.0.2.7:40000".into(),
        peer_ip: Some("192.0.2.7".parse().unwrap()),
        plaintext_auth_ok: true,
        tls: None,
        tls_available: false,
    };
    let mut s = SmtpSession::new(Arc::new(host), conn);
    let mut out = Vec::new();
    s.greeting(&mut out);
    s.receive(
        b"EHLO laptop\r\nAUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n",
        &mut out,
    );
    let flow = s.receive(b"From: alice@example.com\r\nSubject: when\r\n\r\nhi\r\n.\r\n", &mut out);
    submit_now(&mut s, &*spool, flow, &mut out);
    let (_, msg) = spool.messages.lock().unwrap()[0].clone();
    let msg = String::from_utf8(msg).unwrap();
    let stamp = then.to_rfc2822();
    assert!(msg.contains(&format!(";\r\n\t{stamp}\r\n")), "Received: {msg}");
    assert!(msg.contains(&format!("Date: {stamp}\r\n")), "Date: {msg}");
}

#[test]
fn spooling_is_the_drivers_job_and_pipelined_commands_wait_for_it() {
    // The session does no spool I/O: it hands the message over with Flow::Submit and answers nothing after the
    // message until it hears back, so replies stay in order (RFC 2920 §3.1) whatever the spool takes.
    let mut h = Harness::new(MX);
    let mut out = Vec::new();
    let flow = h.session.receive(
        b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n",
        &mut out,
    );
    assert_eq!(flow, Flow::Submit);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"), "{text}");
    assert!(h.submitted().is_empty(), "nothing spooled by the session itself");
    // More input while the spool works is kept, not run.
    assert_eq!(h.session.receive(b"NOOP\r\n", &mut out), Flow::Continue);
    assert_eq!(out.len(), text.len());
    let sub = h.session.take_submission().expect("the message");
    assert_eq!(sub.envelope.rcpt_to, ["bob@example.com"]);
    assert!(String::from_utf8_lossy(&sub.message).contains(&format!("id {}", sub.id)));
    assert!(h.session.take_submission().is_none(), "taken once");
    let flow = h.session.submitted(Ok("Q1".into()), &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        // The NOOP sent while spooling came after QUIT, so it is never answered.
        text.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 Ok\r\n221 2.0.0 mx1.example.com Bye\r\n"),
        "{text}"
    );
    assert_eq!(flow, Flow::Close, "QUIT, kept while spooling, ran after the reply");
    // And a refusal is a 451 in the same place.
    let mut h = Harness::new(MX);
    let mut out = Vec::new();
    let flow = h.session.receive(
        b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\n",
        &mut out,
    );
    assert_eq!(flow, Flow::Submit);
    h.session.take_submission();
    out.clear();
    assert_eq!(h.session.submitted(Err("disk full".into()), &mut out), Flow::Continue);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "451 4.3.0 Requested action aborted: could not queue the message, try again later\r\n250 2.0.0 Ok\r\n"
    );
}
