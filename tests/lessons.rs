//! Every lesson of the curriculum, played against the real `mailroom` binary through its WebSocket, as the page's
//! "show me" plays it: the reference solution must reach every goal, and the lesson's wrong path must not.
//!
//! The catalogue comes from `GET /api/lessons` and each lesson's steps from the server's `lesson` message, so a
//! lesson file added by a teacher is tested without touching this file.

#[path = "web/mod.rs"]
mod web;

use std::time::Duration;

use mailroom_core::lesson::{Lesson, Step};
use serde_json::{Value, json};
use web::{Client, Proc, free_port, start_binary};

/// How long the world may take to settle after a wrong path before we judge it.
const SETTLE: Duration = Duration::from_millis(1500);

/// The real binary on ephemeral ports, with its data in a temporary directory.
struct Binary {
    http: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Binary {
    async fn start() -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let http = free_port();
        let proc = start_binary(&dir.path().join("data"), http, &[]);
        let b = Binary { http, _proc: proc, _dir: dir };
        web::wait_async(|| async { b.get("/healthz").await.is_some() }).await;
        b
    }

    /// GET a path; the body, or None if the server is not up yet.
    async fn get(&self, path: &str) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.http)).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    }

    async fn session(&self) -> Client {
        let url = format!("ws://127.0.0.1:{}/ws", self.http);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut c = Client { ws, seen: Vec::new() };
        c.hello(json!({ "kind": "sandbox" }), None).await;
        c
    }
}

/// Plays a lesson's steps the way the page does: open, send and wait for the complete reply, skip, switch hosts.
struct Player {
    conns: Vec<(u32, String)>,
    current: usize,
    next_id: u32,
}

/// Whether `text` (everything the server sent on a connection since our last command) holds the complete answer
/// to `sent` in `protocol`.
fn complete(protocol: &str, sent: &str, text: &str) -> bool {
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let Some(last) = lines.last() else { return false };
    if !text.ends_with("\r\n") {
        return false;
    }
    match protocol {
        "smtp" => {
            last.len() >= 4
                && last.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                && last.as_bytes()[3] == b' '
        }
        "pop3" => {
            let verb = sent.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            let args = sent.split_whitespace().count();
            let multi = matches!(verb.as_str(), "RETR" | "TOP" | "CAPA")
                || (matches!(verb.as_str(), "LIST" | "UIDL") && args == 1);
            if lines[0].starts_with("-ERR") || !multi { true } else { *last == "." }
        }
        _ => {
            // Greeting, a continuation, or the tagged completion of the last command.
            let tag = sent.split_whitespace().next().unwrap_or("");
            if sent.is_empty() {
                return last.starts_with("* ");
            }
            if sent.eq_ignore_ascii_case("DONE") {
                return lines.iter().any(|l| !l.starts_with('*') && !l.starts_with('+'));
            }
            lines.iter().any(|l| l.starts_with("+ ") || l.starts_with(&format!("{tag} ")))
        }
    }
}

fn protocol(service: &str) -> &'static str {
    match service {
        "smtp" | "submission" | "smtps" => "smtp",
        "pop3" | "pop3s" => "pop3",
        _ => "imap",
    }
}

impl Player {
    fn new() -> Player {
        Player { conns: Vec::new(), current: 0, next_id: 1 }
    }

    /// Server text on `conn` from now until `done` says the reply is complete.
    async fn wait_reply(c: &mut Client, conn: u32, proto: &str, sent: &str, what: &str) -> String {
        let mut acc = String::new();
        c.until(what, |v| {
            if v["type"] == "data" && v["conn"] == conn && v["dir"] == "s" {
                acc.push_str(v["text"].as_str().unwrap_or(""));
            }
            if v["type"] == "closed" && v["conn"] == conn {
                return true;
            }
            complete(proto, sent, &acc)
        })
        .await;
        acc
    }

    async fn play(&mut self, c: &mut Client, step: &Step) {
        match step {
            Step::Open { host, service, .. } => {
                let id = self.next_id;
                self.next_id += 1;
                c.send(json!({ "type": "open", "conn": id, "host": host, "service": service })).await;
                let proto = protocol(service);
                Self::wait_reply(c, id, proto, "", &format!("the greeting of {host} {service}")).await;
                self.conns.push((id, proto.to_string()));
                self.current = self.conns.len() - 1;
            }
            Step::Send(text) => {
                let (id, proto) =
                    self.conns.get(self.current).cloned().expect("a step sends before any open");
                c.write(id, &Step::wire_text(text)).await;
                let first = text.lines().next().unwrap_or("");
                // A message body is answered once, after its final dot.
                let sent = if proto == "smtp" && text.lines().count() > 1 { "." } else { first };
                Self::wait_reply(c, id, &proto, sent, &format!("the answer to {first:?}")).await;
            }
            Step::Use(n) => self.current = *n,
            Step::Skip(to) => {
                c.send(json!({ "type": "skip", "to": to })).await;
                c.until("skipped", |v| v["type"] == "skipped" || v["type"] == "error").await;
            }
            Step::Online { host, online } => {
                c.send(json!({ "type": "set_online", "host": host, "online": online })).await;
                c.until("online_changed", |v| {
                    v["type"] == "event" && v["event"]["event"] == "online_changed"
                })
                .await;
            }
            Step::Busy { host, busy } => {
                c.send(json!({ "type": "set_busy", "host": host, "busy": busy })).await;
                c.until("busy_changed", |v| v["type"] == "event" && v["event"]["event"] == "busy_changed")
                    .await;
            }
            Step::RetryQueue {} => c.send(json!({ "type": "retry_queue" })).await,
        }
    }
}

/// Starts a lesson in a fresh session; returns the session and the lesson as the server sent it.
async fn start_lesson(b: &Binary, id: &str) -> (Client, Lesson) {
    let mut c = b.session().await;
    c.send(json!({ "type": "start_lesson", "id": id })).await;
    let m = c.until_type("lesson").await;
    let lesson: Lesson = serde_json::from_value(m["lesson"].clone()).unwrap();
    let p = c.until_type("progress").await;
    assert_eq!(p["progress"]["done"], false, "{id}: done before anything happened");
    (c, lesson)
}

fn last_progress(c: &Client) -> Value {
    c.seen.iter().rev().find(|v| v["type"] == "progress").cloned().unwrap_or(Value::Null)
}

async fn play_all(c: &mut Client, lesson: &Lesson, steps: &[Step]) {
    let mut p = Player::new();
    for s in lesson.start.prelude.iter().chain(steps) {
        p.play(c, s).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lesson_is_solved_by_its_solution_and_not_by_its_wrong_path() {
    let b = Binary::start().await;
    let catalogue: Vec<Value> = serde_json::from_str(&b.get("/api/lessons").await.unwrap()).unwrap();
    assert!(!catalogue.is_empty());
    let mut claims = std::collections::BTreeSet::new();
    for entry in &catalogue {
        let id = entry["id"].as_str().unwrap();
        for k in entry["claims"].as_array().unwrap() {
            if entry["actions"].as_u64().unwrap() <= 3 {
                claims.insert(k.as_u64().unwrap());
            }
        }

        let (mut c, lesson) = start_lesson(&b, id).await;
        play_all(&mut c, &lesson, &lesson.solution).await;
        let done = c
            .seen_or_until(&format!("{id}: every goal reached"), |v| {
                v["type"] == "progress" && v["progress"]["done"] == true
            })
            .await;
        assert_eq!(done["progress"]["goals"].as_array().unwrap().len(), lesson.goals.len());

        assert!(!lesson.wrong.is_empty(), "{id}: a lesson needs a wrong path for its test");
        let (mut c, lesson) = start_lesson(&b, id).await;
        play_all(&mut c, &lesson, &lesson.wrong).await;
        // Let relays, retries and deliveries that the wrong path set off finish before judging it.
        while let Some(v) = c.try_recv(SETTLE).await {
            c.seen.push(v);
        }
        let p = last_progress(&c);
        assert_ne!(p["progress"]["done"], true, "{id}: the wrong path reached every goal: {p}");
        eprintln!("{id}: solution passes in {} actions, wrong path does not", lesson.solution.len());
    }
    eprintln!("claims checked by a lesson of at most 3 actions: {claims:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lessons_are_refused_outside_a_sandbox_and_unknown_ones_named() {
    let b = Binary::start().await;
    let mut c = b.session().await;
    c.send(json!({ "type": "start_lesson", "id": "no-such-lesson" })).await;
    assert_eq!(c.until_type("error").await["code"], "unknown_lesson");
    let url = format!("ws://127.0.0.1:{}/ws", b.http);
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut room = Client { ws, seen: Vec::new() };
    room.hello(json!({ "kind": "room", "code": "class-7b" }), None).await;
    room.send(json!({ "type": "start_lesson", "id": "first-mail" })).await;
    assert_eq!(room.until_type("error").await["code"], "not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_ahead_makes_a_queued_message_bounce_in_seconds() {
    let b = Binary::start().await;
    let (mut c, _) = start_lesson(&b, "bounce").await;
    // The message is deferred once at the start; skipping to the next retry defers it again, not more.
    c.seen_or_until("first deferral", |v| v["type"] == "event" && v["event"]["event"] == "deferred").await;
    c.send(json!({ "type": "skip", "to": "next_retry" })).await;
    let s = c.until_type("skipped").await;
    assert!(s["by_ms"].as_u64().unwrap() > 0);
    // The retry the skip made due is told before `skipped`: "show me" acts on `skipped`, and the lesson checker
    // must have judged the deferral while the message still waited.
    let d = c
        .seen
        .iter()
        .find(|v| v["type"] == "event" && v["event"]["event"] == "deferred" && v["event"]["attempt"] == 2)
        .cloned()
        .unwrap_or_else(|| panic!("the second deferral came after `skipped`; seen {:#?}", c.seen));
    assert!(d["event"]["reason"].as_str().unwrap().contains("mx2"), "{d}");
    c.send(json!({ "type": "skip", "to": "expiry" })).await;
    c.until("expiry", |v| v["type"] == "event" && v["event"]["event"] == "expired").await;
    c.until("the bounce in alice's INBOX", |v| {
        v["type"] == "event" && v["event"]["event"] == "delivered" && v["event"]["mailbox"] == "alice/INBOX"
    })
    .await;
    let snap = c.snapshot().await;
    assert!(snap["clock_offset_ms"].as_i64().unwrap() >= 110_000, "{}", snap["clock_offset_ms"]);
    assert_eq!(web::inbox(&snap, "mx1", "alice").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_comes_back_to_the_lesson_with_its_progress() {
    let b = Binary::start().await;
    let url = format!("ws://127.0.0.1:{}/ws", b.http);
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut c = Client { ws, seen: Vec::new() };
    let token = c.hello(json!({ "kind": "sandbox" }), None).await["token"].as_str().unwrap().to_string();
    c.send(json!({ "type": "start_lesson", "id": "relay" })).await;
    let lesson: Lesson = serde_json::from_value(c.until_type("lesson").await["lesson"].clone()).unwrap();
    play_all(&mut c, &lesson, &lesson.solution[..2]).await;
    drop(c);

    // The page reloads: a new socket with the same token, new connections, the same lesson and world.
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut c = Client { ws, seen: Vec::new() };
    c.hello(json!({ "kind": "sandbox" }), Some(&token)).await;
    let again = c.until_type("lesson").await;
    assert_eq!(again["lesson"]["id"], "relay");
    assert_eq!(c.until_type("progress").await["progress"]["done"], false);
    play_all(&mut c, &lesson, &lesson.solution).await;
    c.seen_or_until("every goal after the reload", |v| {
        v["type"] == "progress" && v["progress"]["done"] == true
    })
    .await;
}
