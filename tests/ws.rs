//! End-to-end tests of the playground WebSocket: a real tokio-tungstenite client against the proxy served on an
//! ephemeral loopback port. Nothing here dials anything but loopback.
//!
//! Tests marked "needs the SMTP session" drive a real SMTP conversation and pass once the protocol sessions are
//! merged; the others exercise the proxy alone.

#[path = "web/mod.rs"]
mod web;

use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use web::*;

fn sandbox() -> Value {
    json!({ "kind": "sandbox" })
}

// ---------------------------------------------------------------------------------------------------------------
// The protocol basics.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_welcomes_with_a_token_and_a_pristine_snapshot() {
    let s = start(|_| {}).await;
    let mut c = s.connect().await;
    c.send(json!({ "type": "ping" })).await;
    assert_eq!(c.recv().await["type"], "pong");
    c.send(json!({ "type": "snapshot" })).await;
    assert_eq!(c.recv().await["code"], "hello_first");
    let w = c.hello(sandbox(), None).await;
    assert_eq!(w["version"], 1);
    assert_eq!(w["world"]["kind"], "sandbox");
    assert_eq!(w["plaintext_auth"], true);
    assert_eq!(w["token"].as_str().unwrap().len(), 32);
    let snap = c.until_type("snapshot").await;
    let hosts = snap["world"]["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["name"], "mx1");
    assert_eq!(hosts[0]["port_base"], 10000);
    assert!(inbox(&snap["world"], "mx1", "alice").is_empty());
    // The world has not started yet: a session costs little until it is used.
    assert!(!s.state.registry.by_token(w["token"].as_str().unwrap()).unwrap().is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_version_closes_4001() {
    let s = start(|_| {}).await;
    let mut c = s.connect().await;
    c.send(json!({ "type": "hello", "version": 99 })).await;
    let (code, reason) = c.closed().await;
    assert_eq!(code, 4001, "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_get_errors_and_the_session_lives_on() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    for (text, code) in [
        ("{", "bad_json"),
        ("42", "bad_json"),
        (r#"{"type":"launch"}"#, "unknown_type"),
        (r#"{"type":"open","conn":"one"}"#, "bad_message"),
        (r#"{"type":"send","conn":1,"b64":"%%%"}"#, "bad_message"),
    ] {
        c.send_raw(text).await;
        let e = c.until_type("error").await;
        assert_eq!(e["code"], code, "{text}");
    }
    c.send(json!({ "type": "ping" })).await;
    c.until_type("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_bad_messages_closes_4004() {
    let s = start(|c| c.max_bad_messages = 20).await;
    let (mut c, _) = s.session(sandbox()).await;
    for _ in 0..20 {
        c.send_raw("not json").await;
    }
    let (code, reason) = c.closed().await;
    assert_eq!(code, 4004, "{reason}");
    assert_eq!(c.seen.iter().filter(|v| v["code"] == "bad_json").count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_bad_base64_closes_4004_too() {
    let s = start(|c| c.max_bad_messages = 20).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.open(1, "mx1", "smtp").await;
    for _ in 0..20 {
        c.send_raw(r#"{"type":"send","conn":1,"b64":"!!!"}"#).await;
    }
    let (code, reason) = c.closed().await;
    assert_eq!(code, 4004, "{reason}");
    assert_eq!(c.seen.iter().filter(|v| v["code"] == "bad_message").count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connections_gauge_comes_down_when_a_socket_goes_away_with_connections_open() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.open(1, "mx1", "smtp").await;
    c.open(2, "mx1", "imap").await;
    c.read_until(2, "* OK").await;
    let gauge = || s.state.metrics.relay.connections.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(gauge(), 2);
    drop(c);
    wait(|| gauge() == 0, "mailroom_connections back to 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_targets_can_be_opened() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    for (host, service) in [
        ("evil.example.com", "smtp"),
        ("mx1", "ssh"),
        ("127.0.0.1", "smtp"),
        ("mx1.example.com:25", "smtp"),
        ("", ""),
    ] {
        let r = c.open(1, host, service).await;
        assert_eq!(r["type"], "error", "{host} {service}");
        assert_eq!(r["code"], "unknown_target", "{host} {service}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// TLS through the proxy.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_is_reported_with_its_details() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    for (conn, service) in [(1, "smtps"), (2, "pop3s"), (3, "imaps")] {
        let opened = c.open(conn, "mx1", service).await;
        assert_eq!(opened["type"], "opened", "{opened}");
        let tls = c.until(&format!("tls {conn}"), |v| v["type"] == "tls" && v["conn"] == conn).await;
        assert_eq!(tls["implicit"], true);
        assert!(tls["version"].as_str().unwrap().starts_with("TLSv1."), "{tls}");
        assert!(!tls["cipher"].as_str().unwrap().is_empty());
        assert_eq!(tls["subject"], "mx1.example.com");
        assert_eq!(tls["sha256"].as_str().unwrap().len(), 32 * 3 - 1);
        // The greeting comes after the TLS marker, as plaintext.
        let greeting =
            c.until("greeting", |v| v["type"] == "data" && v["conn"] == conn && v["dir"] == "s").await;
        assert!(greeting["text"].as_str().is_some(), "{greeting}");
        c.send(json!({ "type": "close", "conn": conn })).await;
    }
}

/// Needs the SMTP session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_upgrades_through_the_proxy() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.open(1, "mx1", "smtp").await;
    c.read_until(1, "220 ").await;
    c.cmd(1, "EHLO learner.example", "250 ").await;
    c.write(1, "STARTTLS\r\n").await;
    let tls = c.until("tls", |v| v["type"] == "tls").await;
    assert_eq!(tls["implicit"], false);
    assert_eq!(tls["subject"], "mx1.example.com");
    // The acceptance reply is in the transcript before the TLS marker.
    let idx = c.seen.iter().position(|v| v["type"] == "tls").unwrap();
    let before: String = c.seen[..idx]
        .iter()
        .filter(|v| v["type"] == "data" && v["dir"] == "s")
        .filter_map(|v| v["text"].as_str())
        .collect();
    assert!(before.contains("220"), "{before}");
    let ehlo = c.cmd(1, "EHLO learner.example", "250 ").await;
    assert!(!ehlo.contains("STARTTLS"), "no STARTTLS offered inside TLS: {ehlo}");
    c.cmd(1, "QUIT", "221").await;
    c.until("closed", |v| v["type"] == "closed").await;
}

// ---------------------------------------------------------------------------------------------------------------
// Mail through the relay.

/// Needs the SMTP session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_mail_arrives_with_events_and_snapshot() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    let opened = c.open(1, "mx1", "smtp").await;
    assert_eq!(opened["port"], 10025);
    c.read_until(1, "220 ").await;
    c.cmd(1, "EHLO learner.example", "250 ").await;
    c.cmd(1, "MAIL FROM:<carol@example.net>", "250").await;
    c.cmd(1, "RCPT TO:<alice@example.com>", "250").await;
    c.cmd(1, "DATA", "354").await;
    c.write(1, "From: Carol <carol@example.net>\r\nSubject: Hello Alice\r\n\r\nHi!\r\n.\r\n").await;
    c.read_until(1, "250").await;
    c.cmd(1, "QUIT", "221").await;
    let closed = c.until("closed", |v| v["type"] == "closed").await;
    assert!(!closed["reason"].as_str().unwrap().is_empty());
    let received = c
        .seen_or_until("received event", |v| v["type"] == "event" && v["event"]["event"] == "received")
        .await;
    assert_eq!(received["event"]["to"][0], "alice@example.com");
    let snap = c
        .seen_or_until("alice's message in a snapshot", |v| {
            v["type"] == "snapshot" && !inbox(&v["world"], "mx1", "alice").is_empty()
        })
        .await;
    let msgs = inbox(&snap["world"], "mx1", "alice");
    assert_eq!(msgs[0]["subject"], "Hello Alice");
    assert_eq!(msgs[0]["from"], "Carol <carol@example.net>");
    // The transcript kept CR LF and both directions.
    assert!(c.seen.iter().any(|v| v["type"] == "data" && v["dir"] == "c" && v["text"] == "DATA\r\n"));
    assert!(c.seen.iter().all(|v| v["type"] != "data" || v["at"].as_i64().unwrap() > 1_600_000_000_000));
}

/// Needs the SMTP session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_are_private_over_smtp() {
    let s = start(|_| {}).await;
    let (mut a, _) = s.session(sandbox()).await;
    let (mut b, _) = s.session(sandbox()).await;
    a.open(1, "mx1", "smtp").await;
    a.read_until(1, "220 ").await;
    a.cmd(1, "HELO a", "250").await;
    a.cmd(1, "MAIL FROM:<>", "250").await;
    a.cmd(1, "RCPT TO:<alice@example.com>", "250").await;
    a.cmd(1, "DATA", "354").await;
    a.cmd(1, "Subject: secret\r\n\r\nx\r\n.", "250").await;
    a.until("alice's mail", |v| v["type"] == "snapshot" && !inbox(&v["world"], "mx1", "alice").is_empty())
        .await;
    assert!(inbox(&b.snapshot().await, "mx1", "alice").is_empty());
    assert!(s.world.host("mx1").unwrap().store.status("alice", "INBOX").unwrap().messages.is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Worlds: private, shared, reattached, reset, persistent.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_cannot_see_each_others_mail() {
    let s = start(|_| {}).await;
    let (mut a, wa) = s.session(sandbox()).await;
    let (mut b, _) = s.session(sandbox()).await;
    inject(&s.state, wa["token"].as_str().unwrap(), "mx1", "alice", "for A only");
    let mine = inbox(&a.snapshot().await, "mx1", "alice");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["subject"], "for A only");
    assert_eq!(mine[0]["from"], "Test <test@example.org>");
    assert!(inbox(&b.snapshot().await, "mx1", "alice").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_in_one_room_see_the_same_world() {
    let s = start(|_| {}).await;
    let (mut a, wa) = s.session(json!({ "kind": "room", "code": "class-1" })).await;
    let (mut b, wb) = s.session(json!({ "kind": "room", "code": "CLASS-1" })).await;
    assert_eq!(wa["world"]["code"], "class-1");
    assert_eq!(wb["world"]["code"], "class-1");
    a.send(json!({ "type": "set_online", "host": "mx2", "online": false })).await;
    // B hears the event and gets a fresh picture without asking.
    b.until("online_changed", |v| v["type"] == "event" && v["event"]["event"] == "online_changed").await;
    b.until("mx2 offline", |v| v["type"] == "snapshot" && !online(&v["world"], "mx2")).await;
    inject_into(&s.state.registry.room("class-1").unwrap(), "mx2", "carol", "class notes");
    // Room tokens are not kept: the room is found by its code.
    assert!(s.state.registry.by_token(wa["token"].as_str().unwrap()).is_none());
    assert_eq!(inbox(&b.snapshot().await, "mx2", "carol").len(), 1);
    // A third browser with another code is elsewhere.
    let (mut other, _) = s.session(json!({ "kind": "room", "code": "class-2" })).await;
    assert!(online(&other.snapshot().await, "mx2"));
    // A bad code is an error, not a world.
    let mut bad = s.connect().await;
    bad.send(json!({ "type": "hello", "version": 1, "world": { "kind": "room", "code": "no spaces!" } }))
        .await;
    assert_eq!(bad.until_type("error").await["code"], "bad_room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattach_by_token_keeps_the_mailbox() {
    let s = start(|_| {}).await;
    let (mut a, wa) = s.session(sandbox()).await;
    let token = wa["token"].as_str().unwrap().to_string();
    inject(&s.state, &token, "mx1", "bob", "keep me");
    a.send(json!({ "type": "set_online", "host": "mx2", "online": false })).await;
    a.until("mx2 offline", |v| v["type"] == "snapshot" && !online(&v["world"], "mx2")).await;
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut again = s.connect().await;
    let w = again.hello(sandbox(), Some(&token)).await;
    assert_eq!(w["token"], token.as_str());
    let snap = again.until_type("snapshot").await["world"].clone();
    assert_eq!(inbox(&snap, "mx1", "bob")[0]["subject"], "keep me");
    assert!(!online(&snap, "mx2"));
    // Recent events are replayed to the returning browser.
    assert!(again.seen.iter().any(|v| v["type"] == "event" && v["event"]["event"] == "online_changed"));

    // An unknown token gets a fresh sandbox and says so.
    let mut stranger = s.connect().await;
    stranger.send(json!({ "type": "hello", "version": 1, "token": "0000" })).await;
    assert_eq!(stranger.until_type("error").await["code"], "token_expired");
    let w2 = stranger.until_type("welcome").await;
    assert_ne!(w2["token"], token.as_str());
    assert!(inbox(&stranger.until_type("snapshot").await["world"], "mx1", "bob").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_sandboxes_are_reaped_after_the_ttl() {
    let s = start(|c| c.reattach_ttl = Duration::from_millis(200)).await;
    let (a, wa) = s.session(sandbox()).await;
    let token = wa["token"].as_str().unwrap().to_string();
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(s.state.registry.by_token(&token).is_some());
    web::wait(|| s.state.registry.by_token(&token).is_none(), "reaped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_world_rebuilds_a_sandbox_but_not_the_persistent_world() {
    let s = start(|_| {}).await;
    let (mut a, wa) = s.session(sandbox()).await;
    inject(&s.state, wa["token"].as_str().unwrap(), "mx1", "alice", "gone soon");
    a.send(json!({ "type": "set_online", "host": "mx2", "online": false })).await;
    a.until("mx2 offline", |v| v["type"] == "snapshot" && !online(&v["world"], "mx2")).await;
    a.send(json!({ "type": "reset_world" })).await;
    let snap = a.until("pristine", |v| v["type"] == "snapshot" && online(&v["world"], "mx2")).await;
    assert!(inbox(&snap["world"], "mx1", "alice").is_empty());

    let (mut p, wp) = s.session(json!({ "kind": "persistent" })).await;
    assert_eq!(wp["world"]["kind"], "persistent");
    p.send(json!({ "type": "reset_world" })).await;
    assert_eq!(p.until_type("error").await["code"], "not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_persistent_world_is_attachable_only_when_allowed() {
    let s = start(|_| {}).await;
    let (mut p, _) = s.session(json!({ "kind": "persistent" })).await;
    p.until_type("snapshot").await;
    p.send(json!({ "type": "set_online", "host": "mx2", "online": false })).await;
    web::wait(|| !s.world.host("mx2").unwrap().is_online(), "mx2 offline in the persistent world").await;
    p.send(json!({ "type": "set_online", "host": "mx9", "online": false })).await;
    assert_eq!(p.until_type("error").await["code"], "unknown_host");

    let s = start(|c| c.allow_persistent = false).await;
    let mut c = s.connect().await;
    c.send(json!({ "type": "hello", "version": 1, "world": { "kind": "persistent" } })).await;
    assert_eq!(c.until_type("error").await["code"], "world_not_allowed");
    // The session lives on and may choose a sandbox.
    assert_eq!(c.hello(sandbox(), None).await["world"]["kind"], "sandbox");
}

// ---------------------------------------------------------------------------------------------------------------
// Remote targets: only configured ones, and this test's "remote" is a loopback echo server.

async fn echo_server() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn remote(name: &str, addr: std::net::SocketAddr) -> mailroom::RemoteTarget {
    mailroom::RemoteTarget {
        name: name.into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        service: mailroom_core::config::Service::Smtp,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_remote_targets_relay_bytes_losslessly() {
    let echo = echo_server().await;
    let s = start(|c| c.remotes = vec![remote("echo", echo)]).await;
    let (mut c, _) = s.session(sandbox()).await;
    // The wrong service for a configured name is refused too.
    assert_eq!(c.open(1, "echo", "imap").await["code"], "unknown_target");
    let opened = c.open(1, "echo", "smtp").await;
    assert_eq!(opened["type"], "opened", "{opened}");
    assert_eq!(opened["port"], echo.port());
    c.write(1, "line one\r\nline two\n").await;
    assert_eq!(c.read_until(1, "two\n").await, "line one\r\nline two\n");
    let raw = [0xff, 0x00, 0xfe, b'\r', b'\n'];
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    c.send(json!({ "type": "send", "conn": 1, "b64": b64 })).await;
    let back =
        c.until("binary echo", |v| v["type"] == "data" && v["dir"] == "s" && v.get("b64").is_some()).await;
    assert_eq!(back["b64"], b64.as_str());
    c.send(json!({ "type": "close", "conn": 1 })).await;
    c.until("closed", |v| v["type"] == "closed" && v["conn"] == 1).await;
    c.write(1, "late\r\n").await;
    assert_eq!(c.until_type("error").await["code"], "unknown_conn");
}

// ---------------------------------------------------------------------------------------------------------------
// Limits: each produces its documented close code or error.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_session_are_capped() {
    let echo = echo_server().await;
    let s = start(|c| {
        c.remotes = vec![remote("echo", echo)];
        c.max_connections_per_session = 2;
    })
    .await;
    let (mut c, _) = s.session(sandbox()).await;
    assert_eq!(c.open(1, "echo", "smtp").await["type"], "opened");
    assert_eq!(c.open(1, "echo", "smtp").await["code"], "conn_in_use");
    assert_eq!(c.open(2, "echo", "smtp").await["type"], "opened");
    assert_eq!(c.open(3, "echo", "smtp").await["code"], "limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_close_1009() {
    let s = start(|c| c.max_frame = 1000).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.write(1, &"x".repeat(2000)).await;
    let (code, reason) = c.closed().await;
    assert_eq!(code, 1009, "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_and_byte_rates_are_limited() {
    let s = start(|c| {
        c.msgs_per_sec = 1;
        c.msgs_burst = 3;
    })
    .await;
    let (mut c, _) = s.session(sandbox()).await;
    // hello took one token.
    for _ in 0..10 {
        c.send(json!({ "type": "ping" })).await;
    }
    let mut got = Vec::new();
    while let Some(v) = c.try_recv(Duration::from_millis(300)).await {
        got.push(v);
    }
    assert_eq!(got.iter().filter(|v| v["type"] == "pong").count(), 2, "{got:?}");
    // A flood is not answered by a flood: one error a second at most.
    assert_eq!(got.iter().filter(|v| v["code"] == "rate_limited").count(), 1, "{got:?}");

    let s = start(|c| {
        c.bytes_per_sec = 10;
        c.bytes_burst = 10;
    })
    .await;
    let (mut c, _) = s.session(sandbox()).await;
    c.write(1, &"y".repeat(100)).await;
    assert_eq!(c.until_type("error").await["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_sessions_are_capped_4002() {
    let s = start(|c| c.max_sessions = 1).await;
    let (_a, _) = s.session(sandbox()).await;
    let mut b = s.connect().await;
    let (code, _) = b.closed().await;
    assert_eq!(code, 4002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_per_client_address_are_capped_4003_but_never_per_loopback() {
    let s = start(|c| {
        c.max_sessions_per_ip = 1;
        c.forwarded_header = Some("x-forwarded-for".into());
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    // Plain loopback clients are not counted.
    let (_l1, _) = s.session(sandbox()).await;
    let (_l2, _) = s.session(sandbox()).await;
    // Behind the trusted proxy, the forwarded address counts.
    let mut a = s.connect_with(&[("x-forwarded-for", "203.0.113.5")]).await.unwrap();
    a.hello(sandbox(), None).await;
    let mut b = s.connect_with(&[("x-forwarded-for", "198.51.100.1, 203.0.113.5")]).await.unwrap();
    let (code, reason) = b.closed().await;
    assert_eq!(code, 4003, "{reason}");
    let mut other = s.connect_with(&[("x-forwarded-for", "203.0.113.6")]).await.unwrap();
    other.hello(sandbox(), None).await;
    // The slot comes back when the session ends.
    drop(a);
    web::wait_async(|| async {
        let mut c = s.connect_with(&[("x-forwarded-for", "203.0.113.5")]).await.unwrap();
        let _ = c.ws.send(tokio_tungstenite::tungstenite::Message::text(r#"{"type":"ping"}"#)).await;
        c.try_recv(Duration::from_secs(2)).await.is_some_and(|v| v["type"] == "pong")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_close_4006() {
    let s = start(|c| c.idle_timeout = Duration::from_millis(300)).await;
    let (mut c, _) = s.session(sandbox()).await;
    // Keep-alives every 100 ms do not count as use: the close still comes.
    let started = std::time::Instant::now();
    let code = loop {
        assert!(started.elapsed() < Duration::from_secs(5), "no idle close while pinging");
        let _ = c.ws.send(tokio_tungstenite::tungstenite::Message::text(r#"{"type":"ping"}"#)).await;
        match tokio::time::timeout(Duration::from_millis(100), c.ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f))))) => break u16::from(f.code),
            Ok(None | Some(Err(_))) => panic!("socket ended without a close frame"),
            _ => {}
        }
    };
    assert_eq!(code, 4006);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worlds_are_capped_4005() {
    let s = start(|c| c.max_worlds = 1).await;
    let (_a, _) = s.session(sandbox()).await;
    let mut b = s.connect().await;
    b.send(json!({ "type": "hello", "version": 1 })).await;
    let (code, _) = b.closed().await;
    assert_eq!(code, 4005);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sandbox_refuses_new_smtp_connections() {
    let s = start(|c| c.sandbox_max_messages = 2).await;
    let (mut c, w) = s.session(sandbox()).await;
    let token = w["token"].as_str().unwrap();
    inject(&s.state, token, "mx1", "alice", "one");
    inject(&s.state, token, "mx2", "carol", "two");
    c.send(json!({ "type": "snapshot" })).await;
    assert_eq!(c.until_type("error").await["code"], "sandbox_full");
    assert_eq!(c.open(1, "mx1", "smtp").await["code"], "sandbox_full");
    // Reading mail is still allowed.
    assert_eq!(c.open(2, "mx1", "imaps").await["type"], "opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused() {
    let s = start(|c| c.allowed_origins = vec!["https://tutorial.example.org".into()]).await;
    let err = s.connect_with(&[("origin", "http://evil.example")]).await.err().expect("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 403),
        e => panic!("expected HTTP 403, got {e}"),
    }
    let own = format!("http://{}", s.addr);
    assert!(s.connect_with(&[("origin", &own)]).await.is_ok());
    assert!(s.connect_with(&[("origin", "https://tutorial.example.org")]).await.is_ok());
}

// ---------------------------------------------------------------------------------------------------------------
// The relay's STARTTLS path on its own, against a scripted server that behaves as the core's driver does: reply,
// signal the upgrade, then accept TLS. (The SMTP test above covers the real thing once the sessions are merged.)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_upgrades_when_the_server_signals() {
    use mailroom::session::Out;
    use mailroom_core::playground::relay::Relay;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (client, mut server) = tokio::io::duplex(4096);
    let (up_tx, up_rx) = tokio::sync::mpsc::unbounded_channel();
    let (in_tx, in_rx) = tokio::sync::mpsc::channel(8);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(64);
    let relay = Relay {
        conn: 7,
        out: out_tx,
        input: in_rx,
        server_name: "mx1.example.com".into(),
        counters: Default::default(),
        tap: None,
    };
    tokio::spawn(relay.run(client, false, Some(up_rx)));
    let (identity, _, _) = mailroom_core::tls::generate("mx1.example.com").unwrap();
    let cfg = mailroom_core::tls::server_config(identity).unwrap();
    let srv = tokio::spawn(async move {
        server.write_all(b"220 hi\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"STARTTLS\r\n");
        server.write_all(b"220 go ahead\r\n").await.unwrap();
        server.flush().await.unwrap();
        up_tx.send(()).unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(cfg).accept(server).await.unwrap();
        let n = tls.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"EHLO x\r\n");
        tls.write_all(b"250 secret\r\n").await.unwrap();
        tls.flush().await.unwrap();
        tls.shutdown().await.unwrap();
    });
    let mut seen = Vec::new();
    let mut next = async || match tokio::time::timeout(WAIT, out_rx.recv()).await.unwrap().unwrap() {
        Out::Msg(m) => serde_json::to_value(m).unwrap(),
        Out::Close(..) => panic!("relay does not close sockets"),
    };
    seen.push(next().await);
    in_tx.send(b"STARTTLS\r\n".to_vec()).await.unwrap();
    while seen.last().unwrap()["type"] != "tls" {
        seen.push(next().await);
    }
    in_tx.send(b"EHLO x\r\n".to_vec()).await.unwrap();
    while seen.last().unwrap()["type"] != "closed" {
        seen.push(next().await);
    }
    srv.await.unwrap();
    let kinds: Vec<String> = seen
        .iter()
        .map(|v| match v["type"].as_str().unwrap() {
            "data" => format!("{}:{}", v["dir"].as_str().unwrap(), v["text"].as_str().unwrap()),
            t => t.to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "s:220 hi\r\n",
            "c:STARTTLS\r\n",
            "s:220 go ahead\r\n",
            "tls",
            "c:EHLO x\r\n",
            "s:250 secret\r\n",
            "closed"
        ],
        "{seen:#?}"
    );
    let tls = &seen[3];
    assert_eq!(tls["implicit"], false);
    assert_eq!(tls["subject"], "mx1.example.com");
}

// ---------------------------------------------------------------------------------------------------------------
// The whole story through the relay: queue while mx2 is down, relay with its transcript, read with POP3 and IMAP.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_in_the_queue_then_crosses_to_mx2_with_a_relay_transcript() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.send(json!({ "type": "set_online", "host": "mx2", "online": false })).await;
    c.until("mx2 offline", |v| v["type"] == "snapshot" && !online(&v["world"], "mx2")).await;
    c.alice_to_carol(1, "across").await;
    c.cmd(1, "QUIT", "221").await;
    let queued = c
        .seen_or_until("queued with a next attempt", |v| {
            v["type"] == "snapshot" && v["world"]["queue"].as_array().is_some_and(|q| !q.is_empty())
        })
        .await;
    let q = &queued["world"]["queue"][0];
    assert_eq!(q["host"], "mx1");
    assert_eq!(q["rcpts"][0], "carol@example.net");
    assert!(q["next_attempt"].as_str().is_some(), "{q}");
    c.send(json!({ "type": "set_online", "host": "mx2", "online": true })).await;
    let snap = c
        .until("carol's mail", |v| v["type"] == "snapshot" && !inbox(&v["world"], "mx2", "carol").is_empty())
        .await;
    assert_eq!(inbox(&snap["world"], "mx2", "carol")[0]["subject"], "across");
    let t = c
        .seen_or_until("relay transcript", |v| {
            v["type"] == "event"
                && v["event"]["event"] == "relay_transcript"
                && v["event"]["lines"].as_array().is_some_and(|l| l.iter().any(|l| l["line"] == "QUIT"))
        })
        .await;
    assert_eq!(t["event"]["mx"], "mx2.example.net");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_next_hop_answers_421_and_the_mail_waits_until_it_is_ready() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.send(json!({ "type": "set_busy", "host": "mx2", "busy": true })).await;
    c.until("mx2 busy", |v| v["type"] == "event" && v["event"]["event"] == "busy_changed").await;
    c.alice_to_carol(1, "busy").await;
    let d = c
        .seen_or_until("deferred by the 421", |v| v["type"] == "event" && v["event"]["event"] == "deferred")
        .await;
    assert!(d["event"]["reason"].as_str().unwrap().contains("421"), "{d}");
    let snap = c.snapshot().await;
    let mx2 = snap["hosts"].as_array().unwrap().iter().find(|h| h["name"] == "mx2").unwrap().clone();
    assert_eq!(mx2["busy"], true);
    assert!(online(&snap, "mx2"), "busy is not offline: the host still accepts connections");
    c.send(json!({ "type": "set_busy", "host": "mx2", "busy": false })).await;
    c.until("carol's mail", |v| v["type"] == "snapshot" && !inbox(&v["world"], "mx2", "carol").is_empty())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_off_pipelining_removes_it_from_ehlo() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.open(1, "mx1", "smtp").await;
    c.read_until(1, "220 ").await;
    assert!(c.cmd(1, "EHLO learner", "250 ").await.contains("250-PIPELINING"));
    c.send(json!({ "type": "set_extension", "host": "mx1", "protocol": "smtp", "name": "PIPELINING", "on": false }))
        .await;
    c.until("the switch", |v| v["type"] == "event" && v["event"]["event"] == "extension_changed").await;
    assert!(!c.cmd(1, "EHLO learner", "250 ").await.contains("PIPELINING"));
    let snap = c.snapshot().await;
    let mx1 = snap["hosts"].as_array().unwrap().iter().find(|h| h["name"] == "mx1").unwrap().clone();
    assert_eq!(mx1["extensions_off"], json!([["smtp", "PIPELINING"]]));
    c.send(json!({ "type": "set_extension", "host": "mx1", "protocol": "smtp", "name": "TELEPORT", "on": false }))
        .await;
    assert_eq!(c.until_type("error").await["code"], "unknown_extension");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_delete_and_imap_keep_show_in_the_snapshot() {
    let s = start(|_| {}).await;
    let (mut c, w) = s.session(sandbox()).await;
    let token = w["token"].as_str().unwrap();
    inject(&s.state, token, "mx1", "alice", "pop me");
    inject(&s.state, token, "mx1", "bob", "keep me");

    c.open(1, "mx1", "pop3").await;
    c.read_until(1, "+OK").await;
    c.cmd(1, "USER alice", "+OK").await;
    c.cmd(1, "PASS password", "+OK").await;
    c.cmd(1, "RETR 1", "\r\n.\r\n").await;
    c.cmd(1, "DELE 1", "+OK").await;
    c.cmd(1, "QUIT", "+OK").await;
    c.seen_or_until("pop3 closed", |v| v["type"] == "closed" && v["conn"] == 1).await;
    assert!(inbox(&c.snapshot().await, "mx1", "alice").is_empty());

    c.open(2, "mx1", "imap").await;
    c.read_until(2, "* OK").await;
    c.cmd(2, "a1 STARTTLS", "a1 OK").await;
    c.seen_or_until("tls", |v| v["type"] == "tls" && v["conn"] == 2).await;
    c.cmd(2, "a2 LOGIN bob password", "a2 OK").await;
    c.cmd(2, "a3 SELECT INBOX", "a3 OK").await;
    c.cmd(2, "a4 FETCH 1 BODY[]", "a4 OK").await;
    c.cmd(2, "a5 LOGOUT", "a5 OK").await;
    let bob = inbox(&c.snapshot().await, "mx1", "bob");
    assert_eq!(bob.len(), 1);
    assert!(bob[0]["flags"].as_array().unwrap().iter().any(|f| f == "\\Seen"), "{bob:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_cannot_pile_up_worlds() {
    let s = start(|c| {
        c.max_worlds_per_ip = 2;
        c.max_worlds = 3;
        c.forwarded_header = Some("x-forwarded-for".into());
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    // One address: its third sandbox pushes out its oldest detached one.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let mut c = s.connect_with(&from("203.0.113.5")).await.unwrap();
        tokens.push(c.hello(sandbox(), None).await["token"].as_str().unwrap().to_string());
        drop(c);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    web::wait(|| s.state.registry.by_token(&tokens[0]).is_none(), "oldest sandbox dropped").await;
    assert!(s.state.registry.by_token(&tokens[1]).is_some());
    assert!(s.state.registry.by_token(&tokens[2]).is_some());
    // The server is full (3 worlds with this one), but detached pristine sandboxes make room for newcomers.
    let (_a, _) = s.session(sandbox()).await;
    let (_b, wb) = s.session(sandbox()).await;
    assert_eq!(wb["world"]["kind"], "sandbox");
    // Attached ones are never dropped: with every world in use, the next session is refused.
    let (_c, _) = s.session(sandbox()).await;
    let mut d = s.connect().await;
    d.send(json!({ "type": "hello", "version": 1 })).await;
    assert_eq!(d.closed().await.0, 4005);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_watches_mail_a_desktop_client_sends_to_the_persistent_world() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(json!({ "kind": "persistent" })).await;
    c.until_type("snapshot").await;
    // The "desktop client": plain TCP to the world's SMTP port.
    let addr = s.world.addr("mx1", mailroom_core::config::Service::Smtp).unwrap();
    let mut tcp = BufReader::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    let mut line = String::new();
    tcp.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220"), "{line}");
    let script = "HELO desk\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n";
    for cmd in script.split_inclusive("\r\n") {
        tcp.get_mut().write_all(cmd.as_bytes()).await.unwrap();
        line.clear();
        tcp.read_line(&mut line).await.unwrap();
    }
    assert!(line.starts_with("354"), "{line}");
    tcp.get_mut().write_all(b"Subject: from the desk\r\n\r\nhi\r\n.\r\nQUIT\r\n").await.unwrap();
    let snap = c
        .until("the desktop's mail", |v| {
            v["type"] == "snapshot" && !inbox(&v["world"], "mx1", "alice").is_empty()
        })
        .await;
    assert_eq!(inbox(&snap["world"], "mx1", "alice")[0]["subject"], "from the desk");
    assert!(c.seen.iter().any(|v| v["type"] == "event" && v["event"]["event"] == "received"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_target_with_implicit_tls() {
    // The "remote" server is the persistent world's SMTPS port on loopback.
    let s = start(|_| {}).await;
    let smtps = s.world.addr("mx2", mailroom_core::config::Service::Smtps).unwrap();
    let s = start(move |c| {
        c.remotes = vec![mailroom::RemoteTarget {
            name: "lab".into(),
            host: smtps.ip().to_string(),
            port: smtps.port(),
            service: mailroom_core::config::Service::Smtps,
        }]
    })
    .await;
    let (mut c, _) = s.session(sandbox()).await;
    assert_eq!(c.open(1, "lab", "smtps").await["type"], "opened");
    let tls = c.until_type("tls").await;
    assert_eq!(tls["implicit"], true);
    assert_eq!(tls["subject"], "mx2.example.net");
    c.read_until(1, "220 ").await;
    c.cmd(1, "QUIT", "221").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_close_when_their_host_goes_offline_or_the_world_resets() {
    let s = start(|_| {}).await;
    let (mut c, _) = s.session(sandbox()).await;
    c.open(1, "mx2", "imap").await;
    c.read_until(1, "* OK").await;
    c.send(json!({ "type": "set_online", "host": "mx2", "online": false })).await;
    c.seen_or_until("closed 1", |v| v["type"] == "closed" && v["conn"] == 1).await;
    // An offline host refuses new connections: closed without opened.
    let r = c.open(2, "mx2", "smtp").await;
    assert_eq!(r["type"], "closed", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("refused"), "{r}");

    c.open(3, "mx1", "pop3").await;
    c.read_until(3, "+OK").await;
    let mark = c.seen.len();
    c.send(json!({ "type": "reset_world" })).await;
    c.seen_or_until("closed 3", |v| v["type"] == "closed" && v["conn"] == 3).await;
    // The pristine world again (mx2 back online), and the connection ID can be reused.
    let pristine = |v: &Value| v["type"] == "snapshot" && online(&v["world"], "mx2");
    if !c.seen[mark..].iter().any(pristine) {
        c.until("pristine", pristine).await;
    }
    assert_eq!(c.open(3, "mx1", "pop3").await["type"], "opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_tells_everyone_how_many_are_in_it() {
    let s = start(|_| {}).await;
    let room = json!({ "kind": "room", "code": "class-7b" });
    let (mut a, _) = s.session(room.clone()).await;
    assert_eq!(a.until_type("members").await["count"], 1);
    let (mut b, _) = s.session(room.clone()).await;
    assert_eq!(b.until_type("members").await["count"], 2);
    assert_eq!(a.until_type("members").await["count"], 2);
    drop(b);
    assert_eq!(a.until_type("members").await["count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_in_the_url_must_match_the_hello_and_attached_names_the_instance() {
    let s = start(|c| c.instance_name = "edu-1".into()).await;
    let url = format!("ws://{}/ws?room=class-7b", s.addr);
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut c = Client { ws, seen: Vec::new() };
    c.send(json!({ "type": "hello", "version": 1, "world": { "kind": "room", "code": "other" } })).await;
    assert_eq!(c.until_type("error").await["code"], "room_mismatch");
    c.send(json!({ "type": "hello", "version": 1, "world": { "kind": "room", "code": "Class-7B" } })).await;
    c.until_type("welcome").await;
    let a = c.until_type("attached").await;
    assert_eq!((a["instance"].as_str(), a["created"].as_bool()), (Some("edu-1"), Some(true)));
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut d = Client { ws, seen: Vec::new() };
    d.hello(json!({ "kind": "room", "code": "class-7b" }), None).await;
    assert_eq!(d.until_type("attached").await["created"], false, "the second member finds the room");
    let (sandboxes, rooms) = s.state.registry.kinds();
    assert_eq!((sandboxes, rooms), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_is_announced_to_every_member_of_a_room() {
    let s = start(|_| {}).await;
    let room = json!({ "kind": "room", "code": "reset-me" });
    let (mut a, _) = s.session(room.clone()).await;
    let (mut b, _) = s.session(room.clone()).await;
    a.open(1, "mx1", "smtp").await;
    a.read_until(1, "220 ").await;
    // b follows the world a just started (it sees a's session open): a first start is not a reset.
    b.until("a's session in the started world", |v| {
        v["type"] == "event" && v["event"]["event"] == "session_opened"
    })
    .await;
    assert!(!b.seen.iter().any(|v| v["type"] == "world_reset"), "a first start was announced as a reset");
    a.send(json!({ "type": "reset_world" })).await;
    a.until_type("world_reset").await;
    b.until_type("world_reset").await;
}
