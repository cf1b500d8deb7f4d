//! Benchmark of the playground relay (not a test):
//!
//! ```text
//! cargo run --release -p mailroom --example bench -- [--rounds 5000] [--sessions 10000] [--started]
//! ```
//!
//! 1. SMTP `NOOP` round trips to mx1 of a world on loopback, directly over TCP and through the WebSocket relay (the
//!    same world, attached as the persistent world), p50/p99 of each and the difference.
//! 2. Memory per idle session: VmRSS before and after opening N WebSocket sessions (each `hello` + `welcome` +
//!    snapshot, a private sandbox each), divided by N. The clients run in a child process (this binary with
//!    `--client URL`), so the figure is the server's alone; the child's own VmRSS is printed beside it.
//! 3. With `--churn N`: N sessions at once each start their sandbox and open SMTPS and IMAPS connections (TLS
//!    handshakes in the proxy, greetings), then all close; VmRSS before, at the peak and once every session and
//!    world is gone, to see how much memory the process gives back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mailroom::{AppState, ProxyConfig};
use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::world::{Persistence, World};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

// The same allocator as the `mailroom` binary, so the memory figures are the binary's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    rss_of("/proc/self/status")
}

fn rss_of(path: &str) -> u64 {
    let status = std::fs::read_to_string(path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

/// Reads `data` from the server until a complete reply line (`NNN ` ... CR LF) has arrived.
async fn reply(ws: &mut Ws) -> String {
    let mut acc = String::new();
    loop {
        let v = recv(ws).await;
        if v["type"] == "closed" {
            return acc;
        }
        if v["type"] == "data" && v["dir"] == "s" {
            acc.push_str(v["text"].as_str().unwrap_or(""));
            if acc.ends_with("\r\n") && acc.lines().last().is_some_and(|l| l.as_bytes().get(3) == Some(&b' '))
            {
                return acc;
            }
        }
    }
}

async fn direct(addr: SocketAddr, rounds: usize) -> Option<Vec<Duration>> {
    let s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.set_nodelay(true).ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).await.ok()?;
    if !line.starts_with("220") {
        return None;
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        r.get_mut().write_all(b"NOOP\r\n").await.ok()?;
        line.clear();
        r.read_line(&mut line).await.ok()?;
        times.push(t.elapsed());
    }
    Some(times)
}

async fn relayed(url: &str, rounds: usize) -> Option<Vec<Duration>> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await.ok()?;
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({"type":"hello","version":1,"world":{"kind":"persistent"}}))).await.ok()?;
    ws.send(send(json!({"type":"open","conn":1,"host":"mx1","service":"smtp"}))).await.ok()?;
    if !reply(&mut ws).await.starts_with("220") {
        return None;
    }
    let noop = json!({"type":"send","conn":1,"text":"NOOP\r\n"}).to_string();
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        ws.send(Message::Text(noop.clone().into())).await.ok()?;
        // The echo of what was sent comes first, then the reply.
        reply(&mut ws).await;
        times.push(t.elapsed());
    }
    Some(times)
}

/// Reads messages until the next world snapshot.
async fn until_snapshot(ws: &mut Ws) {
    while recv(ws).await["type"] != "snapshot" {}
}

/// Child mode: opens `sessions` WebSockets to `url`, prints `ready N`, holds them until stdin closes.
async fn client(url: &str, sessions: usize, started: bool, traffic: bool) -> anyhow::Result<()> {
    let small = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let mut held = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let (mut ws, _) = match tokio_tungstenite::connect_async_with_config(url, Some(small), false).await {
            Ok(c) => c,
            Err(e) => {
                println!("stopped at {i} sessions: {e} (raise ulimit -n?)");
                break;
            }
        };
        ws.send(Message::Text(json!({"type":"hello","version":1}).to_string().into())).await?;
        until_snapshot(&mut ws).await;
        if started {
            let m = json!({"type":"set_online","host":"mx1","online":true});
            ws.send(Message::Text(m.to_string().into())).await?;
            until_snapshot(&mut ws).await;
        }
        if traffic {
            for (conn, service) in [(1, "smtps"), (2, "imaps")] {
                let m = json!({"type":"open","conn":conn,"host":"mx1","service":service});
                ws.send(Message::Text(m.to_string().into())).await?;
                // Until the greeting arrived (inside TLS).
                loop {
                    let v = recv(&mut ws).await;
                    if v["type"] == "data" && v["conn"] == conn && v["dir"] == "s" {
                        break;
                    }
                }
            }
        }
        held.push(ws);
    }
    println!("ready {}", held.len());
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
    Ok(())
}

/// `--churn N`: memory before, at the peak of N busy sessions, and after they and their worlds are gone.
async fn churn_memory(url: &str, state: &AppState, n: usize) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    println!("Memory given back after {n} sessions close (each: sandbox started, SMTPS + IMAPS opened):");
    for round in 1..=3 {
        let before = rss_kib();
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["--client", url, "--sessions", &n.to_string(), "--started", "--traffic"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("ready ") {
                break;
            }
            println!("  {line}");
        }
        let peak = rss_kib();
        drop(child.stdin.take());
        let _ = child.wait().await;
        // Every session ends, then the reaper drops every world (reattach window: 1 s here).
        let t = Instant::now();
        while (state.metrics.sessions.load(Ordering::SeqCst) > 0 || state.registry.stats().0 > 0)
            && t.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Allocators give memory back with some delay (jemalloc's dirty-page decay is 10 s).
        tokio::time::sleep(Duration::from_secs(12)).await;
        let after = rss_kib();
        println!(
            "  round {round}: VmRSS {before} KiB -> peak {peak} KiB -> {after} KiB after ({} KiB kept of {} KiB); \
             {} tasks alive",
            after.saturating_sub(before),
            peak.saturating_sub(before),
            tokio::runtime::Handle::current().metrics().num_alive_tasks()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--client") {
        let url = args.get(i + 1).cloned().unwrap_or_default();
        let flag = |f: &str| args.iter().any(|a| a == f);
        return client(&url, arg("--sessions", 10_000), flag("--started"), flag("--traffic")).await;
    }
    let churn = arg("--churn", 0);
    let rounds = arg("--rounds", 5000);
    let sessions = arg("--sessions", 10_000);
    // With --started, each session also starts its sandbox's world (two hosts, certificates, queue managers).
    let started = std::env::args().any(|a| a == "--started");
    let mut cfg = WorldConfig::default();
    cfg.set_port_bases(&[0, 0]);
    let world = World::start(cfg, Persistence::Memory)?;
    world.listen().await?;
    let state = AppState::new(
        ProxyConfig {
            max_sessions: usize::MAX,
            max_worlds: usize::MAX,
            msgs_per_sec: 1_000_000,
            msgs_burst: 1_000_000,
            // --churn measures memory once every world is gone: keep none for reattach.
            reattach_ttl: if churn > 0 {
                Duration::from_secs(1)
            } else {
                ProxyConfig::default().reattach_ttl
            },
            ..ProxyConfig::default()
        },
        world.clone(),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = mailroom::app(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(
            mailroom::NoDelayListener(listener),
            app.into_make_service_with_connect_info::<mailroom::PeerAddr>(),
        )
        .await;
    });
    let url = format!("ws://{addr}/ws");
    let smtp = world.addr("mx1", Service::Smtp).expect("mx1 smtp listening");
    if churn > 0 {
        return churn_memory(&url, &state, churn).await;
    }

    println!("NOOP round trips ({rounds} each, after 200 warm-up):");
    let d = direct(smtp, rounds + 200).await;
    let r = relayed(&url, rounds + 200).await;
    match (d, r) {
        (Some(mut d), Some(mut r)) => {
            let mut d = d.split_off(200);
            let mut r = r.split_off(200);
            d.sort();
            r.sort();
            let (d50, d99, r50, r99) =
                (percentile(&d, 0.5), percentile(&d, 0.99), percentile(&r, 0.5), percentile(&r, 0.99));
            println!("  direct TCP      p50 {d50:>10.1?}  p99 {d99:>10.1?}");
            println!("  WebSocket relay p50 {r50:>10.1?}  p99 {r99:>10.1?}");
            println!(
                "  added           p50 {:>10.1?}  p99 {:>10.1?}",
                r50.saturating_sub(d50),
                r99.saturating_sub(d99)
            );
        }
        _ => println!("  skipped: the SMTP session did not greet with 220 (not merged yet?)"),
    }

    let what = if started { "started" } else { "lazy, not yet started" };
    println!("Memory per idle session ({sessions} sessions, each a private sandbox, {what}):");
    // The WebSocket clients live in a child process (this same binary with --client), so the figure below is the
    // server's alone and 10,000 sessions need only 10,000 descriptors here.
    let before = rss_kib();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--client", &url, "--sessions", &sessions.to_string()])
        .args(started.then_some("--started"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut opened = 0u64;
    while let Some(line) = lines.next_line().await? {
        if let Some(n) = line.strip_prefix("ready ") {
            opened = n.parse().unwrap_or(0);
            break;
        }
        println!("  {line}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib();
    let client = child.id().map(|pid| rss_of(&format!("/proc/{pid}/status"))).unwrap_or(0);
    let n = opened.max(1);
    println!(
        "  server VmRSS {before} KiB -> {after} KiB for {opened} sessions: {:.1} KiB per session \
         (the client process holds {client} KiB more)",
        after.saturating_sub(before) as f64 / n as f64
    );
    drop(child.stdin.take());
    let _ = child.wait().await;
    Ok(())
}
