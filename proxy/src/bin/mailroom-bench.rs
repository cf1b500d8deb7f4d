//! `mailroom-bench`: load generator for the mail core. Prints figures; it is not a test.
//!
//! ```text
//! # start a durable world in a temporary directory and measure SMTP delivery to local users:
//! cargo run --release --bin mailroom-bench -- smtp --in-process --sessions 10 --messages 200
//! # or against a running server (any SMTP server, e.g. Postfix, for comparison):
//! cargo run --release --bin mailroom-bench -- smtp --addr 127.0.0.1:10025 --sessions 10 --messages 200
//! ```
//!
//! IMAP (see [`imap`] below for what is measured):
//!
//! ```text
//! # seed a 50,000-message folder and a 1,000-message folder into a durable world, then measure:
//! cargo run --bin mailroom-bench -- imap --in-process --messages 50000 --clients 20 --rounds 20
//! # against any IMAP server that holds the same folders (`docs/bench-dovecot.sh` prepares Dovecot):
//! cargo run --bin mailroom-bench -- imap --addr 127.0.0.1:10143 --user alice --password password
//! ```
//!
//! SMTP: each session connects once, says EHLO, then sends messages one after another (MAIL, RCPT, DATA, each waiting
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
    /// SELECT and FETCH 1:* on a big folder, then a mixed load of concurrent IMAP clients.
    Imap {
        /// Server to drive (ignored with --in-process); plaintext LOGIN, so use loopback.
        #[arg(long, default_value = "127.0.0.1:10143")]
        addr: SocketAddr,
        /// Start a durable Mailroom world, seed the folders as Maildir files, and drive that.
        #[arg(long)]
        in_process: bool,
        /// Directory for --in-process (default: a fresh directory under ./target).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Only write the seed Maildir (folders `Big` and `Load`) to this directory and exit (for Dovecot).
        #[arg(long)]
        seed_only: Option<std::path::PathBuf>,
        #[arg(long, default_value = "alice")]
        user: String,
        #[arg(long, default_value = "password")]
        password: String,
        /// Messages in the big folder.
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
        /// Concurrent clients of the mixed load.
        #[arg(long, default_value_t = 20)]
        clients: usize,
        /// Rounds per client (login, select, fetch, store, append, expunge, logout).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Also report the resident memory of the server: the sum over local processes with this command name
        /// (`mailroom` for the binary, `imap` for Dovecot's per-connection process).
        #[arg(long)]
        server_rss: Option<String>,
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
        Cmd::Imap {
            addr,
            in_process,
            data_dir,
            seed_only,
            user,
            password,
            messages,
            clients,
            rounds,
            server_rss,
        } => {
            if let Some(dir) = seed_only {
                imap::seed_maildir(&dir, messages)?;
                println!(
                    "seeded {} (Big: {messages} messages, Load: {} messages)",
                    dir.display(),
                    imap::LOAD
                );
                return Ok(());
            }
            let mut _keep = None;
            let addr = if in_process {
                let dir = match data_dir {
                    Some(d) => d,
                    None => {
                        let t = tempfile_dir()?;
                        _keep = Some(t.clone());
                        t
                    }
                };
                let mut cfg =
                    mailroom_core::config::WorldConfig { data_dir: dir.clone(), ..Default::default() };
                cfg.set_port_bases(&[0, 0]);
                let world = mailroom_core::world::World::start(cfg, mailroom_core::world::Persistence::Disk)?;
                world.listen().await?;
                let host = world.host("mx1").context("no mx1")?;
                host.store.ensure_user(&user)?;
                for f in ["Big", "Load"] {
                    host.store.create_folder(&user, f)?;
                }
                let maildir = dir.join("mx1/mail").join(&user).join("Maildir");
                let t = Instant::now();
                imap::seed_maildir(&maildir, messages)?;
                println!(
                    "seeded {messages} + {} message files in {:.1} s",
                    imap::LOAD,
                    t.elapsed().as_secs_f64()
                );
                // The store takes the files in at its first look (UIDs assigned, UID list written).
                let t = Instant::now();
                for f in ["Big", "Load"] {
                    host.store.status(&user, f)?;
                }
                println!("store imported the files in {:.1} s", t.elapsed().as_secs_f64());
                println!("in-process durable world in {}", dir.display());
                Box::leak(Box::new(world.clone()));
                world.addr("mx1", mailroom_core::config::Service::Imap).context("no imap")?
            } else {
                addr
            };
            // Directory times must be older than the store's trust window before a status may skip the scan.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            imap::big_folder(addr, &user, &password, server_rss.as_deref()).await?;
            imap::mixed(addr, &user, &password, clients, rounds).await?;
            if let Some(d) = _keep {
                let _ = std::fs::remove_dir_all(d);
            }
        }
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
                let mut cfg =
                    mailroom_core::config::WorldConfig { data_dir: dir.clone(), ..Default::default() };
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

/// The IMAP benchmark.
///
/// 1. `Big` (50,000 messages by default): time of `SELECT Big` and of `FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)`
///    (until the tagged OK, all responses read), with the resident memory of this process before and after when the
///    server runs in it.
/// 2. `Load` (1,000 messages): `--clients` clients each run `--rounds` rounds of LOGIN, SELECT Load,
///    FETCH 1:20 (FLAGS ENVELOPE), STORE (+FLAGS \Flagged on one message), APPEND of a 1 KiB message,
///    STORE 1 +FLAGS (\Deleted), EXPUNGE, LOGOUT, each on a new connection. Every command is one operation; the
///    report gives operations/s and the latency of a command (sent to tagged reply) at p50 and p99.
mod imap {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use anyhow::bail;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    /// Messages in the `Load` folder.
    pub const LOAD: usize = 1000;

    fn message(i: usize) -> Vec<u8> {
        let mut m = format!(
            "From: Sender {i} <sender{i}@example.net>\r\nTo: alice@example.com\r\nSubject: Message number {i}\r\n\
             Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{i}@bench.example>\r\n\r\n"
        )
        .into_bytes();
        let size = 1024 + (i * 7919) % 3072;
        while m.len() < size {
            m.extend_from_slice(b"The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n");
        }
        m
    }

    /// Writes the folders `Big` and `Load` as Maildir++ subfolders of `maildir` (no fsync: a benchmark seed).
    pub fn seed_maildir(maildir: &Path, big: usize) -> anyhow::Result<()> {
        for (folder, n) in [(".Big", big), (".Load", LOAD)] {
            let dir = maildir.join(folder);
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(dir.join(sub))?;
            }
            std::fs::write(dir.join("maildirfolder"), b"")?;
            for i in 0..n {
                let data = message(i);
                let name = format!(
                    "{}.M{i}P1.bench,S={}:2,{}",
                    1_772_000_000 + i,
                    data.len(),
                    if i % 3 == 0 { "S" } else { "" }
                );
                std::fs::write(dir.join("cur").join(name), data)?;
            }
        }
        Ok(())
    }

    struct Conn {
        r: BufReader<TcpStream>,
        tag: u32,
    }

    impl Conn {
        async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let mut c = Conn { r: BufReader::new(s), tag: 0 };
            let mut line = Vec::new();
            c.r.read_until(b'\n', &mut line).await?;
            if !line.starts_with(b"* OK") {
                bail!("greeting: {}", String::from_utf8_lossy(&line));
            }
            Ok(c)
        }

        /// Sends a command (with an optional literal, sent after the `+`) and reads to the tagged reply; returns the
        /// number of untagged responses.
        async fn cmd(&mut self, command: &str, literal: Option<&[u8]>) -> anyhow::Result<usize> {
            self.tag += 1;
            let tag = format!("b{}", self.tag);
            let w = self.r.get_mut();
            match literal {
                Some(data) => {
                    w.write_all(format!("{tag} {command} {{{}}}\r\n", data.len()).as_bytes()).await?;
                    let mut line = Vec::new();
                    self.r.read_until(b'\n', &mut line).await?;
                    if !line.starts_with(b"+") {
                        bail!("{command}: {}", String::from_utf8_lossy(&line));
                    }
                    let w = self.r.get_mut();
                    w.write_all(data).await?;
                    w.write_all(b"\r\n").await?;
                }
                None => w.write_all(format!("{tag} {command}\r\n").as_bytes()).await?,
            }
            let mut untagged = 0;
            let mut line = Vec::new();
            loop {
                line.clear();
                if self.r.read_until(b'\n', &mut line).await? == 0 {
                    bail!("{command}: connection closed");
                }
                // A line ending in {n} is followed by n octets of literal, then the rest of the line.
                while let Some(n) = literal_len(&line) {
                    let mut buf = vec![0; n];
                    self.r.read_exact(&mut buf).await?;
                    line.clear();
                    if self.r.read_until(b'\n', &mut line).await? == 0 {
                        bail!("{command}: connection closed in a literal");
                    }
                }
                if line.starts_with(b"* ") {
                    untagged += 1;
                } else if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                    // Another client expunged a message this one still numbers: a normal outcome (RFC 2180 §4.1).
                    let rest = &line[tag.len() + 1..];
                    if !rest.starts_with(b"OK") && !rest.starts_with(b"NO [EXPUNGEISSUED]") {
                        bail!("{command}: {}", String::from_utf8_lossy(&line).trim_end());
                    }
                    return Ok(untagged);
                }
            }
        }
    }

    fn literal_len(line: &[u8]) -> Option<usize> {
        let l = line.strip_suffix(b"}\r\n")?;
        let open = l.iter().rposition(|&b| b == b'{')?;
        std::str::from_utf8(&l[open + 1..]).ok()?.trim_end_matches('+').parse().ok()
    }

    fn rss_kib_of(status: &Path) -> Option<u64> {
        let status = std::fs::read_to_string(status).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn rss_kib() -> Option<u64> {
        rss_kib_of(Path::new("/proc/self/status"))
    }

    /// Resident memory summed over the processes named `comm` (Linux /proc), for a server in another process.
    fn server_rss_kib(comm: &str) -> Option<u64> {
        let mut total = None;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let dir = entry.path();
            let is_it = std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == comm);
            if let Some(kib) = is_it.then(|| rss_kib_of(&dir.join("status"))).flatten() {
                *total.get_or_insert(0) += kib;
            }
        }
        total
    }

    pub async fn big_folder(
        addr: SocketAddr,
        user: &str,
        password: &str,
        server: Option<&str>,
    ) -> anyhow::Result<()> {
        let server_rss = || server.and_then(server_rss_kib);
        let mut c = Conn::open(addr).await?;
        c.cmd(&format!("LOGIN {user} {password}"), None).await?;
        let rss0 = rss_kib();
        let srv0 = server_rss();
        let t = Instant::now();
        c.cmd("SELECT Big", None).await?;
        let select = t.elapsed();
        let rss1 = rss_kib();
        let srv1 = server_rss();
        let t = Instant::now();
        let n = c.cmd("FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)", None).await?;
        let fetch = t.elapsed();
        let rss2 = rss_kib();
        let srv2 = server_rss();
        // A second SELECT: what a client reconnecting pays once the server has the folder cached.
        c.cmd("UNSELECT", None).await?;
        let t = Instant::now();
        c.cmd("SELECT Big", None).await?;
        let reselect = t.elapsed();
        let t = Instant::now();
        c.cmd("NOOP", None).await?;
        let noop = t.elapsed();
        let t = Instant::now();
        c.cmd("FETCH 1:10 (FLAGS)", None).await?;
        let small = t.elapsed();
        c.cmd("LOGOUT", None).await.ok();
        println!(
            "imap big folder: SELECT {:.1} ms, FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE) {:.1} ms for {n} responses, \
             SELECT again {:.1} ms, then NOOP {:.2} ms, FETCH 1:10 (FLAGS) {:.2} ms",
            select.as_secs_f64() * 1e3,
            fetch.as_secs_f64() * 1e3,
            reselect.as_secs_f64() * 1e3,
            noop.as_secs_f64() * 1e3,
            small.as_secs_f64() * 1e3,
        );
        if let (Some(a), Some(b), Some(c)) = (rss0, rss1, rss2) {
            println!(
                "  process RSS (client and in-process server): {a} KiB before SELECT, {b} after, {c} after FETCH"
            );
        }
        if let (Some(name), Some(a), Some(b), Some(c)) = (server, srv0, srv1, srv2) {
            println!(
                "  server RSS (processes named {name}): {a} KiB before SELECT, {b} after, {c} after FETCH"
            );
        }
        Ok(())
    }

    async fn client(
        addr: SocketAddr,
        user: String,
        password: String,
        id: usize,
        rounds: usize,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut lat = Vec::with_capacity(rounds * 8);
        let timed = |lat: &mut Vec<Duration>, t: Instant| lat.push(t.elapsed());
        for round in 0..rounds {
            let t = Instant::now();
            let mut c = Conn::open(addr).await?;
            c.cmd(&format!("LOGIN {user} {password}"), None).await?;
            timed(&mut lat, t);
            let t = Instant::now();
            c.cmd("SELECT Load", None).await?;
            timed(&mut lat, t);
            let t = Instant::now();
            c.cmd("FETCH 1:20 (FLAGS ENVELOPE)", None).await?;
            timed(&mut lat, t);
            let t = Instant::now();
            c.cmd(&format!("STORE {} +FLAGS (\\Flagged)", 1 + (id * 31 + round * 7) % 20), None).await?;
            timed(&mut lat, t);
            let t = Instant::now();
            c.cmd("APPEND Load ()", Some(&super::imap::message(id * 1000 + round))).await?;
            timed(&mut lat, t);
            let t = Instant::now();
            c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)", None).await?;
            timed(&mut lat, t);
            let t = Instant::now();
            c.cmd("EXPUNGE", None).await?;
            timed(&mut lat, t);
            let t = Instant::now();
            c.cmd("LOGOUT", None).await?;
            timed(&mut lat, t);
        }
        Ok(lat)
    }

    pub async fn mixed(
        addr: SocketAddr,
        user: &str,
        password: &str,
        clients: usize,
        rounds: usize,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|id| tokio::spawn(client(addr, user.to_string(), password.to_string(), id, rounds)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        let elapsed = started.elapsed();
        all.sort();
        let n = all.len();
        println!(
            "imap mixed load: {clients} clients x {rounds} rounds = {n} operations in {:.2} s: {:.0} operations/s, \
             latency p50 {:.2} ms, p99 {:.2} ms",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            super::pct(&all, 0.5).as_secs_f64() * 1e3,
            super::pct(&all, 0.99).as_secs_f64() * 1e3,
        );
        Ok(())
    }
}
