//! Two real `mailroom` instances behind nginx, configured with the nginx block of `docs/deploy.md` (read from the
//! document, only the addresses replaced): every member of a room lands on the instance that holds the room and
//! sees the same deliveries, sandboxes spread over both instances, and a drained instance (SIGTERM) sends its
//! sessions away with 1001 to reconnect to the other one, where they carry on. Nginx runs as a child process from a
//! temporary directory, never as the system service; everything listens on 127.0.0.1.

#[path = "web/mod.rs"]
mod web;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use web::{Client, Proc, free_port, start_binary};

fn nginx() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nginx is not installed: run the test suite with `bash tests/run.sh`, which installs it");
}

fn instance(name: &str, http: u16, dir: &Path) -> Proc {
    let flags =
        ["--instance-name", name, "--forwarded-header", "x-forwarded-for", "--trusted-proxy", "127.0.0.1"];
    start_binary(&dir.join(name), http, &flags)
}

/// The first ```nginx block of docs/deploy.md, with the test's addresses in place of the documented ones.
fn documented_nginx(a: u16, b: u16, listen: u16) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy.md")).unwrap();
    let start = doc.find("```nginx\n").expect("docs/deploy.md has an nginx block") + "```nginx\n".len();
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    for documented in ["127.0.0.1:8081", "127.0.0.1:8082", "listen 8080;"] {
        assert!(block.contains(documented), "the documented block names {documented}");
    }
    block
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{a}"))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{b}"))
        .replace("listen 8080;", &format!("listen 127.0.0.1:{listen};"))
}

fn start_nginx(dir: &Path, site: &str) -> Proc {
    let d = dir.display();
    let conf = format!(
        "user root;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 2048; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{site}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    Proc(
        Command::new(nginx())
            .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    )
}

async fn wait_port(port: u16) {
    web::wait_async(|| async move { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() })
        .await;
}

/// A session through the balancer: `room` in the URL and in `hello`, or a sandbox. Returns it and its instance.
async fn join(port: u16, room: Option<&str>) -> (Client, String) {
    let url = match room {
        Some(r) => format!("ws://127.0.0.1:{port}/ws?room={r}"),
        None => format!("ws://127.0.0.1:{port}/ws"),
    };
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut c = Client { ws, seen: Vec::new() };
    let world = match room {
        Some(code) => json!({ "kind": "room", "code": code }),
        None => json!({ "kind": "sandbox" }),
    };
    c.hello(world, None).await;
    let instance = c.until_type("attached").await["instance"].as_str().unwrap().to_string();
    (c, instance)
}

/// Delivers a message to bob on mx1 over SMTP port 25 through connection `conn` of `c`.
async fn deliver(c: &mut Client, conn: u32, subject: &str) {
    c.open(conn, "mx1", "smtp").await;
    c.read_until(conn, "220 ").await;
    c.cmd(conn, "EHLO balancer-test", "250 ").await;
    c.cmd(conn, "MAIL FROM:<carol@example.net>", "250 ").await;
    c.cmd(conn, "RCPT TO:<bob@example.com>", "250 ").await;
    c.cmd(conn, "DATA", "354 ").await;
    c.cmd(conn, &format!("From: carol@example.net\r\nSubject: {subject}\r\n\r\nhello\r\n."), "250 ").await;
}

fn delivered_to_bob(v: &Value) -> bool {
    v["type"] == "event" && v["event"]["event"] == "delivered" && v["event"]["mailbox"] == "bob/INBOX"
}

/// Waits until this session has seen `n` deliveries to bob (events read while waiting for replies count too).
async fn saw_deliveries(c: &mut Client, n: usize) {
    while c.seen.iter().filter(|v| delivered_to_bob(v)).count() < n {
        c.recv().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_stay_together_sandboxes_spread_and_a_drained_instance_hands_over() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb, pn) = (free_port(), free_port(), free_port());
    let mut procs: BTreeMap<String, Proc> =
        [("a".to_string(), instance("a", pa, dir.path())), ("b".to_string(), instance("b", pb, dir.path()))]
            .into();
    wait_port(pa).await;
    wait_port(pb).await;
    let _nginx = start_nginx(dir.path(), &documented_nginx(pa, pb, pn));
    wait_port(pn).await;

    // 200 sessions in 20 rooms: every member of a room on one instance.
    let mut rooms: BTreeMap<String, Vec<(Client, String)>> = BTreeMap::new();
    for r in 0..20 {
        let code = format!("class-{r}");
        for _ in 0..10 {
            let joined = join(pn, Some(&code)).await;
            rooms.entry(code.clone()).or_default().push(joined);
        }
    }
    let mut holder: BTreeMap<String, String> = BTreeMap::new();
    for (code, members) in &rooms {
        let instances: BTreeSet<&String> = members.iter().map(|(_, i)| i).collect();
        assert_eq!(instances.len(), 1, "room {code} is split over {instances:?}");
        holder.insert(code.clone(), members[0].1.clone());
    }
    // (How the 20 rooms split between the two instances depends on where their ports fall on nginx's hash ring.)

    // One member of each room delivers a message; every member sees it.
    for members in rooms.values_mut() {
        deliver(&mut members[0].0, 1, "for the whole room").await;
        for (c, _) in members.iter_mut() {
            saw_deliveries(c, 1).await;
        }
    }

    // Sandboxes spread over both instances.
    let mut sandboxes = Vec::new();
    for _ in 0..40 {
        sandboxes.push(join(pn, None).await);
    }
    let spread: BTreeSet<&String> = sandboxes.iter().map(|(_, i)| i).collect();
    assert_eq!(spread.len(), 2, "sandboxes all on one instance");

    // Drain the instance holding more rooms: its sessions close with 1001 and reconnect, through nginx, to the
    // other one, where they carry on.
    let on = |name: &str| holder.values().filter(|h| *h == name).count();
    let (drained, other) = if on("a") >= on("b") { ("a", "b") } else { ("b", "a") };
    let mut gone = procs.remove(drained).unwrap();
    let status = Command::new("kill").args(["-TERM", &gone.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut moved = 0;
    for (code, members) in rooms.iter_mut().filter(|(code, _)| holder[*code] == drained) {
        for (c, instance) in members.iter_mut() {
            let (close, reason) = c.closed().await;
            assert_eq!(close, 1001, "{reason}");
            let (again, now) = join(pn, Some(code)).await;
            assert_eq!(now, other, "room {code} after the drain");
            *c = again;
            *instance = now;
            moved += 1;
        }
        deliver(&mut members[0].0, 1, "after the drain").await;
        for (c, _) in members.iter_mut() {
            saw_deliveries(c, 1).await;
        }
    }
    assert!(moved >= 10, "at least one room was on the drained instance");
    let exit = tokio::task::spawn_blocking(move || gone.0.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "the drained instance exits cleanly: {exit:?}");

    // The rooms that were on the other instance were never disturbed.
    for members in rooms.values_mut().filter(|m| m[0].1 == other && m.iter().all(|(c, _)| !c.seen.is_empty()))
    {
        deliver(&mut members[0].0, 2, "still here").await;
        for (c, _) in members.iter_mut() {
            saw_deliveries(c, 2).await;
        }
    }
}
