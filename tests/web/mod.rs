//! Helpers for the proxy's tests: a persistent world in memory on ephemeral loopback ports, the proxy's router
//! served on an ephemeral port, and a small WebSocket client (tokio-tungstenite) that speaks the JSON protocol.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mailroom::{AppState, ProxyConfig};
use mailroom_core::config::WorldConfig;
use mailroom_core::world::{Persistence, World};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expectation may wait (generous: a loaded 2-core CI machine runs two test binaries at once).
pub const WAIT: Duration = Duration::from_secs(20);

/// A running proxy.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    pub world: Arc<World>,
}

/// The persistent world for tests: in memory, ephemeral loopback ports, quick retries.
pub fn world_config() -> WorldConfig {
    let mut cfg = WorldConfig::default();
    cfg.set_port_bases(&[0, 0]);
    cfg.timing.first_retry = Duration::from_millis(300);
    cfg.timing.max_retry = Duration::from_millis(600);
    cfg.limits.auth_failure_delay = Duration::from_millis(10);
    cfg
}

/// Starts the persistent world and the proxy (with `tweak` applied to the default proxy configuration).
pub async fn start(tweak: impl FnOnce(&mut ProxyConfig)) -> Server {
    let world = World::start(world_config(), Persistence::Memory).unwrap();
    world.listen().await.unwrap();
    let mut cfg = ProxyConfig { snapshot_debounce: Duration::from_millis(20), ..ProxyConfig::default() };
    tweak(&mut cfg);
    let state = AppState::new(cfg, world.clone()).unwrap();
    let app = mailroom::app(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            mailroom::NoDelayListener(listener),
            app.into_make_service_with_connect_info::<mailroom::PeerAddr>(),
        )
        .await
        .unwrap();
    });
    Server { addr, state, world }
}

/// One browser.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every message received so far (for assertions after the fact).
    pub seen: Vec<Value>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Connects with extra request headers.
    pub async fn connect_with(
        &self,
        headers: &[(&str, &str)],
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut req = self.url().into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Client { ws, seen: Vec::new() })
    }

    pub async fn connect(&self) -> Client {
        self.connect_with(&[]).await.unwrap()
    }

    /// Connects and says hello with `world` (`{"kind":"sandbox"}` ...); returns the client and its welcome.
    pub async fn session(&self, world: Value) -> (Client, Value) {
        let mut c = self.connect().await;
        let welcome = c.hello(world, None).await;
        (c, welcome)
    }
}

impl Client {
    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.to_string().into())).await.unwrap();
    }

    /// The next protocol message; panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        loop {
            let m =
                tokio::time::timeout(WAIT, self.ws.next()).await.expect("timed out waiting for a message");
            match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    self.seen.push(v.clone());
                    return v;
                }
                Some(Ok(Message::Close(f))) => panic!("closed: {f:?}; seen {:#?}", self.seen),
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    }

    /// The next protocol message within `wait`, or `None` on close, error or timeout.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
                _ => return None,
            }
        }
    }

    /// Receives until `pred` holds; returns that message.
    pub async fn until(&mut self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = tokio::time::timeout(left, self.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; seen {:#?}", self.seen));
            if pred(&v) {
                return v;
            }
        }
    }

    /// A message received earlier or later that satisfies `pred` (for events that may have arrived while waiting
    /// for something else).
    pub async fn seen_or_until(&mut self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        self.until(what, pred).await
    }

    /// Receives until a message of type `ty`.
    pub async fn until_type(&mut self, ty: &str) -> Value {
        self.until(ty, |v| v["type"] == ty).await
    }

    /// Says hello and returns the welcome (skipping nothing: welcome comes first, or an error before it).
    pub async fn hello(&mut self, world: Value, token: Option<&str>) -> Value {
        let mut m = json!({ "type": "hello", "version": 1, "world": world });
        if let Some(t) = token {
            m["token"] = json!(t);
        }
        self.send(m).await;
        self.until_type("welcome").await
    }

    /// Waits for the server's close frame; returns code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next()).await.expect("timed out waiting for close");
            match m {
                Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
                Some(Ok(Message::Close(None))) => return (u16::from(CloseCode::Status), String::new()),
                Some(Ok(Message::Text(t))) => self.seen.push(serde_json::from_str(&t).unwrap()),
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        }
    }

    /// Opens connection `conn` and waits for `opened`.
    pub async fn open(&mut self, conn: u32, host: &str, service: &str) -> Value {
        self.send(json!({ "type": "open", "conn": conn, "host": host, "service": service })).await;
        self.until(&format!("opened {conn}"), |v| {
            (v["type"] == "opened" || v["type"] == "closed" || v["type"] == "error")
                && v.get("conn").is_none_or(|c| c == conn)
        })
        .await
    }

    /// Sends text on a connection.
    pub async fn write(&mut self, conn: u32, text: &str) {
        self.send(json!({ "type": "send", "conn": conn, "text": text })).await;
    }

    /// Server-to-client text on `conn` accumulated until it contains `needle`.
    pub async fn read_until(&mut self, conn: u32, needle: &str) -> String {
        let mut acc = String::new();
        self.until(&format!("{needle:?} on {conn}"), |v| {
            if v["type"] == "data" && v["conn"] == conn && v["dir"] == "s" {
                acc.push_str(v["text"].as_str().unwrap_or(""));
            }
            acc.contains(needle)
        })
        .await;
        acc
    }

    /// Sends a command line and waits for a reply line that starts with `code` (SMTP: `250 `).
    pub async fn cmd(&mut self, conn: u32, line: &str, wait_for: &str) -> String {
        self.write(conn, &format!("{line}\r\n")).await;
        self.read_until(conn, wait_for).await
    }

    /// On connection `conn`: opens mx1's submission port, logs in as alice and sends a message to carol@example.net
    /// with `subject` (mx1 then relays it to mx2).
    pub async fn alice_to_carol(&mut self, conn: u32, subject: &str) {
        self.open(conn, "mx1", "submission").await;
        self.read_until(conn, "220 ").await;
        self.cmd(conn, "EHLO learner", "250 ").await;
        // \0alice\0password
        self.cmd(conn, "AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk", "235").await;
        self.cmd(conn, "MAIL FROM:<alice@example.com>", "250").await;
        self.cmd(conn, "RCPT TO:<carol@example.net>", "250").await;
        self.cmd(conn, "DATA", "354").await;
        let message = format!("From: alice@example.com\r\nSubject: {subject}\r\n\r\nhi carol\r\n.");
        self.cmd(conn, &message, "250").await;
    }

    /// Asks for a snapshot and returns it.
    /// Unsolicited snapshots may be in flight; the last one before the `pong` that follows the request is at least
    /// as fresh as the request.
    pub async fn snapshot(&mut self) -> Value {
        self.send(json!({ "type": "snapshot" })).await;
        self.send(json!({ "type": "ping" })).await;
        let mut last = None;
        loop {
            let v = self.recv().await;
            match v["type"].as_str() {
                Some("snapshot") => last = Some(v["world"].clone()),
                Some("pong") if last.is_some() => return last.unwrap(),
                _ => {}
            }
        }
    }
}

/// The messages of a user's INBOX in a snapshot.
pub fn inbox(snap: &Value, host: &str, user: &str) -> Vec<Value> {
    let h = snap["hosts"].as_array().unwrap().iter().find(|h| h["name"] == host).unwrap();
    let u = h["users"].as_array().unwrap().iter().find(|u| u["name"] == user).unwrap();
    let f = u["folders"].as_array().unwrap().iter().find(|f| f["name"] == "INBOX").unwrap();
    f["messages"].as_array().unwrap().clone()
}

/// Whether a host is online in a snapshot.
pub fn online(snap: &Value, host: &str) -> bool {
    snap["hosts"].as_array().unwrap().iter().find(|h| h["name"] == host).unwrap()["online"].as_bool().unwrap()
}

/// Puts a message straight into a mailbox of the world behind a session token (no SMTP needed).
pub fn inject(state: &AppState, token: &str, host: &str, user: &str, subject: &str) {
    inject_into(&state.registry.by_token(token).expect("token known"), host, user, subject);
}

/// Puts a message straight into a mailbox of a world.
pub fn inject_into(handle: &mailroom::worlds::WorldHandle, host: &str, user: &str, subject: &str) {
    let world = handle.get_or_start().unwrap();
    let msg = format!("From: Test <test@example.org>\r\nSubject: {subject}\r\n\r\nhello\r\n");
    world.host(host).unwrap().store.append(user, "INBOX", msg.as_bytes(), &Default::default(), None).unwrap();
}

/// Polls `f` every 20 ms until it holds (panics after [`WAIT`]).
pub async fn wait(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls an async condition until it holds (panics after [`WAIT`]).
pub async fn wait_async<F: std::future::Future<Output = bool>>(mut f: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process (the real binary, nginx...) killed and reaped when dropped.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `mailroom` binary under test: `MAILROOM_BIN` when set, else the one cargo built for this test.
pub fn binary() -> std::path::PathBuf {
    std::env::var_os("MAILROOM_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_mailroom").into())
}

/// Starts the real binary with its data in `data`, the web server on `http`, both mail hosts on ephemeral ports,
/// and `extra` flags.
pub fn start_binary(data: &std::path::Path, http: u16, extra: &[&str]) -> Proc {
    Proc(
        std::process::Command::new(binary())
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--port-base", "mx1=0", "--port-base", "mx2=0"])
            .args(["--http-port", &http.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start mailroom"),
    )
}

/// A loopback port free right now, for a server a test starts. Taken below Linux's ephemeral range (32768–60999):
/// a port the OS hands out (`bind(0)`, or the local end of any outgoing connection, such as a parallel test's
/// browser) could be taken again before the server binds it, and then the test would talk to someone else. Every
/// call in one test process returns a different port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % 10_000;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 10_000, "no free port between 20000 and 29999");
        let port = 20_000 + ((start + n * 7) % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
