//! `mailroom-bench`: load generator for the mail core. Prints figures; it is not a test.
//!
//! ```text
//! # start a durable world in a temporary directory and measure SMTP delivery to local users:
//! cargo run --release --bin mailroom-bench -- smtp --in-process --sessions 10 --messages 200
//! # or against a running server (any SMTP server, e.g. Postfix, for comparison):
//! cargo run --release --bin mailroom-bench -- smtp --addr 127.0.0.1:10025 --sessions 10 --messages 200
//! ```
//!
//! Each session connects once, says EHLO, then sends messages one after another (MAIL, RCPT, DATA, each waiting
//! for its reply, as `smtp-source` does without pipelining). Message bodies are 1 to 4 KiB. Latency is measured from
//! MAIL FROM to the `250` after the final dot: the time a client waits for a message to become durable.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "Load generator for Mailroom (prints figures)")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Concurrent SMTP sessions delivering to local users.
    Smtp {
        /// Server to drive (ignored with --in-process).
        #[arg(long, default_value = "127.0.0.1:10025")]
        addr: SocketAddr,
        /// Start a durable Mailroom world in a temporary directory and drive that.
        #[arg(long)]
        in_process: bool,
        /// Directory for --in-process (default: a temporary directory on the current disk).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Concurrent sessions.
        #[arg(long, default_value_t = 10)]
        sessions: usize,
        /// Messages per session.
        #[arg(long, default_value_t = 100)]
        messages: usize,
        /// Recipients, round-robin.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "alice@example.com,bob@example.com,admin@example.com"
        )]
        to: Vec<String>,
        /// Sender.
        #[arg(long, default_value = "carol@example.net")]
        from: String,
    },
}

async fn reply(r: &mut BufReader<TcpStream>, line: &mut String) -> anyhow::Result<String> {
    loop {
        line.clear();
        if r.read_line(line).await? == 0 {
            bail!("connection closed");
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(line.clone());
        }
    }
}

async fn expect(r: &mut BufReader<TcpStream>, line: &mut String, code: char) -> anyhow::Result<()> {
    let l = reply(r, line).await?;
    if !l.starts_with(code) {
        bail!("unexpected reply: {}", l.trim_end());
    }
    Ok(())
}

async fn smtp_session(
    addr: SocketAddr,
    id: usize,
    n: usize,
    from: String,
    to: Vec<String>,
) -> anyhow::Result<Vec<Duration>> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    expect(&mut r, &mut line, '2').await?;
    r.get_mut().write_all(b"EHLO bench.example\r\n").await?;
    expect(&mut r, &mut line, '2').await?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let rcpt = &to[(id + i) % to.len()];
        let size = 1024 + (id * 7919 + i * 104_729) % 3072;
        let mut body =
            format!("From: <{from}>\r\nTo: <{rcpt}>\r\nSubject: bench {id}/{i}\r\n\r\n").into_bytes();
        while body.len() < size {
            body.extend_from_slice(b"The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n");
        }
        body.extend_from_slice(b".\r\n");
        let t = Instant::now();
        r.get_mut().write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes()).await?;
        expect(&mut r, &mut line, '2').await?;
        r.get_mut().write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes()).await?;
        expect(&mut r, &mut line, '2').await?;
        r.get_mut().write_all(b"DATA\r\n").await?;
        expect(&mut r, &mut line, '3').await?;
        r.get_mut().write_all(&body).await?;
        expect(&mut r, &mut line, '2').await?;
        lat.push(t.elapsed());
    }
    r.get_mut().write_all(b"QUIT\r\n").await?;
    Ok(lat)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().cmd {
        Cmd::Smtp { addr, in_process, data_dir, sessions, messages, to, from } => {
            let mut _keep = None;
            let addr = if in_process {
                let dir = match data_dir {
                    Some(d) => d,
                    None => {
                        let t = tempfile_dir()?;
                        let p = t.clone();
                        _keep = Some(t);
                        p
                    }
                };
                let mut cfg = mailroom_core::config::WorldConfig::default();
                cfg.data_dir = dir.clone();
                cfg.set_port_bases(&[0, 0]);
                let world = mailroom_core::world::World::start(cfg, mailroom_core::world::Persistence::Disk)?;
                world.listen().await?;
                println!("in-process durable world in {}", dir.display());
                Box::leak(Box::new(world.clone()));
                world.addr("mx1", mailroom_core::config::Service::Smtp).context("no smtp")?
            } else {
                addr
            };
            let started = Instant::now();
            let tasks: Vec<_> = (0..sessions)
                .map(|id| tokio::spawn(smtp_session(addr, id, messages, from.clone(), to.clone())))
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            let elapsed = started.elapsed();
            all.sort();
            let n = all.len();
            println!(
                "smtp: {sessions} sessions x {messages} messages = {n} messages in {:.2} s: {:.0} messages/s, \
                 latency p50 {:.2} ms, p99 {:.2} ms",
                elapsed.as_secs_f64(),
                n as f64 / elapsed.as_secs_f64(),
                pct(&all, 0.5).as_secs_f64() * 1e3,
                pct(&all, 0.99).as_secs_f64() * 1e3,
            );
            if let Some(d) = _keep {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    Ok(())
}

/// A fresh directory under the current directory's `target/` (the same disk as a real data directory).
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::current_dir()?.join("target").join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
