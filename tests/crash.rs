//! Crash safety: the real `mailroom` binary is killed with SIGKILL under load; after a restart every message that
//! got a `250` is in its mailbox exactly once.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mailroom_core::store::MailStore;
use mailroom_core::store::maildir::MaildirStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A port base (services at base+25 … base+995, HTTP at base+80, a second host possibly at base+500) whose ports are
/// free right now. Below Linux's ephemeral range (32768–60999): a port the OS hands out to an outgoing connection or
/// a `bind(0)` could be taken before the server binds it (seen: "port 47025 never opened"). Every call in this
/// process gets its own 2,000-port block, so the tests running side by side never share one.
fn free_port_base() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id();
    for _ in 0..10 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = 11_000 + ((start.wrapping_add(n)) % 10) as u16 * 2_000;
        let ok = [25u16, 80, 587, 465, 110, 995, 143, 993]
            .iter()
            .flat_map(|p| [*p, p + 500])
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", base + p)).is_ok());
        if ok {
            return base;
        }
    }
    panic!("no free port base between 11000 and 30999");
}

fn spawn(dir: &std::path::Path, base1: u16, base2: u16, http: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(["--port-base", &format!("mx1={base1}"), "--port-base", &format!("mx2={base2}")])
        .args(["--http-port", &http.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_port(port: u16) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("port {port} never opened");
}

/// Sends messages one after another on one connection until the server dies; returns the tags that got 250.
async fn client(port: u16, worker: usize) -> Vec<String> {
    let mut acked = Vec::new();
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await else { return acked };
    let mut r = BufReader::new(s);
    let mut line = String::new();
    async fn reply(r: &mut BufReader<TcpStream>, line: &mut String) -> Option<String> {
        loop {
            line.clear();
            if r.read_line(line).await.ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line.clone());
            }
        }
    }
    reply(&mut r, &mut line).await;
    for i in 0.. {
        let tag = format!("w{worker}-m{i}");
        let script = "MAIL FROM:<carol@example.net>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n";
        if r.get_mut().write_all(format!("EHLO crash\r\n{script}").as_bytes()).await.is_err() {
            break;
        }
        let mut ok = true;
        for _ in 0..4 {
            match reply(&mut r, &mut line).await {
                Some(l) if l.starts_with('2') || l.starts_with('3') => {}
                _ => ok = false,
            }
        }
        if !ok {
            break;
        }
        let body =
            format!("From: <carol@example.net>\r\nSubject: {tag}\r\n\r\n{}\r\n.\r\n", "x".repeat(2000));
        if r.get_mut().write_all(body.as_bytes()).await.is_err() {
            break;
        }
        match reply(&mut r, &mut line).await {
            Some(l) if l.starts_with("250") => acked.push(tag),
            _ => break,
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (b1, b2) = (free_port_base(), free_port_base() + 500);
    let http = b1 + 80;
    let mut child = spawn(dir.path(), b1, b2, http);
    wait_port(b1 + 25).await;
    let workers: Vec<_> = (0..8).map(|i| tokio::spawn(client(b1 + 25, i))).collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut acked = Vec::new();
    for w in workers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.len() > 10, "the load ran: {} acknowledged", acked.len());

    // Restart on the same data directory, as an operator would, then stop it again and read the Maildir.
    let mut child = spawn(dir.path(), b1, b2, http);
    wait_port(b1 + 25).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let store = MaildirStore::open(&dir.path().join("mx1").join("mail")).unwrap();
    let status = store.status("alice", "INBOX").unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &status.messages {
        let data = store.read("alice", "INBOX", m.uid).unwrap();
        let text = String::from_utf8_lossy(&data);
        if let Some(subject) = text.lines().find_map(|l| l.strip_prefix("Subject: ")) {
            *seen.entry(subject.trim().to_string()).or_default() += 1;
        }
    }
    for tag in &acked {
        assert_eq!(
            seen.get(tag).copied().unwrap_or(0),
            1,
            "{tag} acknowledged: must be delivered exactly once"
        );
    }
    println!("acknowledged {} messages before SIGKILL; all present exactly once", acked.len());
}

/// SIGTERM (what `kill`, systemd and container runtimes send) stops the server cleanly: a playground session gets
/// close code 1001 ("going away") with its reason, not a dropped socket (1006), and the process exits with 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_playground_sessions_with_1001_and_exits_cleanly() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let base = free_port_base();
    // In this test's own block, clear of both hosts' ports (mx2 ends at base + 1095).
    let http = base + 1580;
    let mut child = spawn(dir.path(), base, base + 100, http);
    wait_port(http).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{http}/ws")).await.unwrap();
    ws.send(Message::Text(r#"{"type":"hello","version":1}"#.into())).await.unwrap();
    ws.send(Message::Text(r#"{"type":"open","conn":1,"host":"mx1","service":"smtp"}"#.into())).await.unwrap();
    // Wait for the greeting: the session and its sandbox are running.
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(t) = m
            && t.contains("220 mx1")
        {
            break;
        }
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("no close frame in time")
        {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "{exit:?}");
}
