//! The mail core end to end: real TCP listeners on ephemeral ports, a durable world in a temporary directory, and
//! lettre (an SMTP client we did not write) or exact raw bytes on the wire.

mod common;

use std::time::Duration;

use common::{Raw, start, wait_until};
use lettre::message::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailroom_core::config::Service;
use mailroom_core::event::EventKind;

fn mailer(addr: std::net::SocketAddr, tls: Option<bool>, auth: bool) -> AsyncSmtpTransport<Tokio1Executor> {
    let params = || {
        TlsParameters::builder("mx1.example.com".into())
            .dangerous_accept_invalid_certs(true)
            .build_rustls()
            .unwrap()
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(Duration::from_secs(10)));
    b = match tls {
        None => b.tls(Tls::None),
        Some(false) => b.tls(Tls::Required(params())),
        Some(true) => b.tls(Tls::Wrapper(params())),
    };
    if auth {
        b = b.credentials(Credentials::new("alice".into(), "password".into()));
    }
    b.build()
}

fn message(from: &str, to: &str, subject: &str) -> Message {
    Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .body(format!("Hello from the {subject} test.\r\n.leading dot survives\r\n"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_port_delivers_locally_without_auth() {
    let w = start(|_| {}).await;
    let m = mailer(w.addr("mx1", Service::Smtp), None, false);
    let resp = m.send(message("carol@example.net", "alice@example.com", "local")).await.unwrap();
    let text = resp.message().collect::<Vec<_>>().join(" ");
    let id = text.split("queued as ").nth(1).expect("a queue id").trim().to_string();
    let msgs = w.messages("mx1", "alice", "INBOX");
    assert!(
        msgs[0].contains(&format!(" id {id}")),
        "the Received: line names the queue id {id}: {}",
        msgs[0]
    );
    assert_eq!(msgs.len(), 1, "delivered before the 250");
    assert!(msgs[0].starts_with("Return-Path: <carol@example.net>\r\n"), "{}", msgs[0]);
    assert!(msgs[0].contains("Received: from "), "trace header: {}", msgs[0]);
    assert!(msgs[0].contains("\r\n.leading dot survives\r\n"), "dot-unstuffed: {}", msgs[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_with_starttls_and_auth_relays_to_mx2_over_tls() {
    let w = start(|_| {}).await;
    let mut events = w.world.events.subscribe();
    let m = mailer(w.addr("mx1", Service::Submission), Some(false), true);
    m.send(message("alice@example.com", "carol@example.net", "relay")).await.unwrap();
    wait_until(10, "carol's copy on mx2", || w.count("mx2", "carol", "INBOX") == 1).await;
    let msg = &w.messages("mx2", "carol", "INBOX")[0];
    assert_eq!(msg.matches("Received: ").count(), 2, "one trace line per hop: {msg}");
    assert!(msg.contains("Message-ID: ") || msg.contains("Message-Id: "), "{msg}");
    let mut saw_tls = false;
    let mut saw_transcript = false;
    while let Ok(ev) = events.try_recv() {
        match &ev.kind {
            EventKind::RelayTls { version, .. } => saw_tls = version.starts_with("TLSv1."),
            EventKind::RelayTranscript { lines, .. } => {
                saw_transcript =
                    lines.iter().any(|l| l.dir == mailroom_core::wire::Dir::C && l.line == "STARTTLS")
            }
            _ => {}
        }
    }
    assert!(saw_tls, "the mx1 -> mx2 link used STARTTLS");
    assert!(saw_transcript, "the server-to-server conversation was recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_implicit_tls_with_auth() {
    let w = start(|_| {}).await;
    let m = mailer(w.addr("mx1", Service::Smtps), Some(true), true);
    m.send(message("alice@example.com", "bob@example.com", "smtps")).await.unwrap();
    assert_eq!(w.count("mx1", "bob", "INBOX"), 1);
    let msg = &w.messages("mx1", "bob", "INBOX")[0];
    assert!(msg.contains("ESMTPSA"), "Received: says TLS and AUTH: {msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_open_relay_and_submission_needs_auth() {
    let w = start(|_| {}).await;
    let err = mailer(w.addr("mx1", Service::Smtp), None, false)
        .send(message("alice@example.com", "carol@example.net", "relay-denied"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("5.7.1"), "{err}");
    let err = mailer(w.addr("mx1", Service::Submission), Some(false), false)
        .send(message("alice@example.com", "bob@example.com", "no-auth"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("5.7.0"), "{err}");
    let err = mailer(w.addr("mx1", Service::Smtp), None, false)
        .send(message("carol@example.net", "nobody@example.com", "unknown"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("5.1.1"), "{err}");
    assert_eq!(w.count("mx2", "carol", "INBOX"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_hop_offline_defers_then_delivers() {
    let w = start(|_| {}).await;
    w.world.set_online("mx2", false);
    // While offline, mx2's ports refuse connections like a host that is down (the listener closes its socket
    // asynchronously, within moments).
    let mx2 = w.addr("mx2", Service::Smtp);
    wait_until(2, "mx2 refusing connections", || std::net::TcpStream::connect(mx2).is_err()).await;
    let mut events = w.world.events.subscribe();
    mailer(w.addr("mx1", Service::Submission), Some(false), true)
        .send(message("alice@example.com", "carol@example.net", "deferred"))
        .await
        .unwrap();
    let deferred = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(ev) = events.recv().await
                && let EventKind::Deferred { attempt, .. } = &ev.kind
            {
                return *attempt;
            }
        }
    })
    .await
    .expect("a Deferred event");
    assert_eq!(deferred, 1);
    assert_eq!(w.world.queue().len(), 1, "waiting in mx1's spool");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.count("mx2", "carol", "INBOX"), 0);
    w.world.set_online("mx2", true);
    wait_until(10, "delivery after mx2 is back", || w.count("mx2", "carol", "INBOX") == 1).await;
    wait_until(5, "queue empty", || w.world.queue().is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_returns_exactly_one_dsn_to_the_sender() {
    let w = start(|c| c.timing.lifetime = Duration::from_secs(2)).await;
    w.world.set_online("mx2", false);

    mailer(w.addr("mx1", Service::Submission), Some(false), true)
        .send(message("alice@example.com", "carol@example.net", "expiry"))
        .await
        .unwrap();
    wait_until(15, "a DSN in alice's INBOX", || w.count("mx1", "alice", "INBOX") >= 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let inbox = w.messages("mx1", "alice", "INBOX");
    assert_eq!(inbox.len(), 1, "exactly one DSN");
    let dsn = &inbox[0];
    assert!(dsn.starts_with("Return-Path: <>\r\n"), "from the null sender: {dsn}");
    assert!(dsn.contains("multipart/report; report-type=delivery-status"), "{dsn}");
    assert!(dsn.contains("Final-Recipient: rfc822; carol@example.net"), "{dsn}");
    assert!(dsn.contains("Status: 4.4.7"), "{dsn}");
    assert!(dsn.contains("Subject: expiry"), "original headers returned: {dsn}");
    assert!(w.world.queue().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_bounces_and_clients_cannot_send_from_the_null_sender() {
    let w = start(|_| {}).await;
    mailer(w.addr("mx1", Service::Submission), Some(false), true)
        .send(message("alice@example.com", "someone@nowhere.example", "no-route"))
        .await
        .unwrap();
    wait_until(10, "the no-route DSN", || w.count("mx1", "alice", "INBOX") == 1).await;
    assert!(w.messages("mx1", "alice", "INBOX")[0].contains("Status: 5.1.2"));
    // A bounce of a bounce would loop forever, so mail from <> is never bounced (the queue's unit tests cover it);
    // and <> is for servers' bounces: a logged-in client may not use it.
    let mut raw = Raw::connect(w.addr("mx1", Service::Submission)).await;
    raw.cmd("EHLO test").await;
    assert!(raw.cmd("AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk").await.starts_with("235"));
    assert!(raw.cmd("MAIL FROM:<>").await.starts_with("553 5.7.1"));
    assert_eq!(w.count("mx1", "alice", "INBOX"), 1, "no second DSN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::fast_config(dir.path());
    let world =
        mailroom_core::world::World::start(cfg.clone(), mailroom_core::world::Persistence::Disk).unwrap();
    world.listen().await.unwrap();
    world.set_online("mx2", false);
    let m = mailer(world.addr("mx1", Service::Submission).unwrap(), Some(false), true);
    m.send(message("alice@example.com", "carol@example.net", "restart")).await.unwrap();
    assert_eq!(world.queue().len(), 1);
    world.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(world);
    let world = mailroom_core::world::World::start(cfg, mailroom_core::world::Persistence::Disk).unwrap();
    world.listen().await.unwrap();
    assert_eq!(world.queue().len(), 1, "the spool came back");
    let carol = || world.host("mx2").unwrap().store.status("carol", "INBOX").unwrap().messages.len();
    wait_until(10, "delivery after restart", || carol() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_sequences_never_end_data() {
    let w = start(|_| {}).await;
    for ending in [&b"\n.\n"[..], b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"] {
        let mut raw = Raw::connect(w.addr("mx1", Service::Smtp)).await;
        raw.cmd("EHLO test").await;
        assert!(raw.cmd("MAIL FROM:<carol@example.net>").await.starts_with("250"));
        assert!(raw.cmd("RCPT TO:<alice@example.com>").await.starts_with("250"));
        assert!(raw.cmd("DATA").await.starts_with("354"));
        let mut data = b"From: <carol@example.net>\r\nSubject: first\r\n\r\nbody".to_vec();
        data.extend_from_slice(ending);
        data.extend_from_slice(b"MAIL FROM:<carol@example.net>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n");
        data.extend_from_slice(b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n");
        raw.send(&data).await;
        let reply = raw.reply().await;
        // One reply for the one real end of data: either accepted as a whole, or refused as a whole.
        assert!(reply.starts_with("250") || reply.starts_with("5"), "{reply:?}");
        assert!(raw.cmd("NOOP").await.starts_with("250"), "no pipelined smuggled commands ran");
    }
    assert_eq!(w.count("mx1", "bob", "INBOX"), 0, "nothing smuggled to bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_on_the_smtp_port_gets_an_smtp_error() {
    let w = start(|_| {}).await;
    let mut raw = Raw::connect(w.addr("mx1", Service::Smtp)).await;
    let reply = raw.cmd("GET / HTTP/1.1").await;
    assert!(reply.starts_with('5'), "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_421_to_open_sessions() {
    let w = start(|_| {}).await;
    let mut raw = Raw::connect(w.addr("mx1", Service::Smtp)).await;
    assert!(raw.cmd("EHLO test").await.starts_with("250"));
    w.world.shutdown();
    let bye = raw.reply().await;
    assert!(bye.starts_with("421 4.3.2"), "{bye:?}");
}
