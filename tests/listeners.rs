//! The TCP listeners under hostile load: one client address cannot take every connection of a listener, and a
//! client that never logs in is closed after the login timeout however it trickles bytes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use mailroom_core::config::Service;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// Connects from `from` (any 127.x address works on Linux loopback) and returns the stream and its first line.
async fn connect_from(from: &str, to: SocketAddr) -> (BufReader<TcpStream>, String) {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let stream = s.connect(to).await.unwrap();
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .expect("a first line")
        .unwrap();
    (r, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let w = common::start(|c| c.limits.max_connections_per_ip = 3).await;
    let pop3 = w.addr("mx1", Service::Pop3);
    let mut held = Vec::new();
    for _ in 0..3 {
        let (r, greeting) = connect_from("127.0.0.1", pop3).await;
        assert!(greeting.starts_with("+OK"), "{greeting}");
        held.push(r);
    }
    let (_, refused) = connect_from("127.0.0.1", pop3).await;
    assert_eq!(refused, "-ERR [SYS/TEMP] Too many connections from your address\r\n");
    let (_, other) = connect_from("127.0.0.2", pop3).await;
    assert!(other.starts_with("+OK"), "another address is still served: {other}");
    let (_, smtp) = connect_from("127.0.0.1", w.addr("mx1", Service::Smtp)).await;
    assert!(smtp.starts_with("220 "), "the cap is per listener: {smtp}");
    // A connection that ends gives its place back.
    drop(held.pop());
    let mut greeting = String::new();
    for _ in 0..100 {
        greeting = connect_from("127.0.0.1", pop3).await.1;
        if greeting.starts_with("+OK") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(greeting.starts_with("+OK"), "{greeting}");
}

/// Sends `line` every 100 ms (a trickle that would re-arm an idle timer) until the server closes; returns what
/// it said, or None if it was still open after 10 s.
async fn trickle(r: &mut BufReader<TcpStream>, line: &str) -> Option<String> {
    let mut said = String::new();
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < end {
        let wrote = r.get_mut().write_all(line.as_bytes()).await.is_ok();
        let tick = tokio::time::Instant::now() + Duration::from_millis(100);
        loop {
            let mut buf = String::new();
            match tokio::time::timeout_at(tick, r.read_line(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(said),
                Ok(Ok(_)) => said.push_str(&buf),
                Err(_) if !wrote => return Some(said),
                Err(_) => break,
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_logs_in_is_closed_whatever_it_sends() {
    let w = common::start(|c| c.limits.login_timeout = Duration::from_millis(500)).await;
    let (mut pop3, _) = connect_from("127.0.0.1", w.addr("mx1", Service::Pop3)).await;
    let said = trickle(&mut pop3, "CAPA\r\n").await.expect("POP3 closed before login");
    assert!(said.lines().last().unwrap_or_default().starts_with("-ERR"), "{said}");
    let (mut imap, _) = connect_from("127.0.0.1", w.addr("mx1", Service::Imap)).await;
    let said = trickle(&mut imap, "a NOOP\r\n").await.expect("IMAP closed before login");
    assert!(said.contains("* BYE"), "{said}");
    let (mut sub, _) = connect_from("127.0.0.1", w.addr("mx1", Service::Submission)).await;
    let said = trickle(&mut sub, "NOOP\r\n").await.expect("submission closed before AUTH");
    assert!(said.lines().last().unwrap_or_default().starts_with("421"), "{said}");

    // Logged in, the same trickle keeps the session (the idle timer is the only limit then).
    let (mut pop3, _) = connect_from("127.0.0.1", w.addr("mx1", Service::Pop3)).await;
    pop3.get_mut().write_all(b"USER alice\r\nPASS password\r\n").await.unwrap();
    let mut ok = String::new();
    for _ in 0..2 {
        ok.clear();
        pop3.read_line(&mut ok).await.unwrap();
    }
    assert!(ok.starts_with("+OK"), "{ok}");
    let mut alive = true;
    for _ in 0..10 {
        pop3.get_mut().write_all(b"NOOP\r\n").await.unwrap();
        let mut l = String::new();
        if pop3.read_line(&mut l).await.unwrap() == 0 {
            alive = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(alive, "a logged-in session was closed by the login timeout");
}
