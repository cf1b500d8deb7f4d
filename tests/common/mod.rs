//! Shared helpers for the integration tests: start a world on ephemeral ports in a temporary directory, talk raw
//! SMTP, wait for conditions.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::world::{Persistence, World};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A running world and the directory it lives in.
pub struct TestWorld {
    pub world: Arc<World>,
    pub dir: tempfile::TempDir,
}

/// Fast queue timings so retries and expiry happen within a test.
pub fn fast_config(dir: &std::path::Path) -> WorldConfig {
    let mut cfg = WorldConfig { data_dir: dir.to_path_buf(), ..WorldConfig::default() };
    cfg.set_port_bases(&[0, 0]);
    cfg.timing.first_retry = Duration::from_millis(300);
    cfg.timing.max_retry = Duration::from_millis(600);
    cfg.timing.lifetime = Duration::from_secs(60);
    cfg.timing.relay_timeout = Duration::from_secs(5);
    cfg.limits.auth_failure_delay = Duration::from_millis(10);
    cfg
}

/// Starts a durable world on ephemeral ports.
pub async fn start(tweak: impl FnOnce(&mut WorldConfig)) -> TestWorld {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fast_config(dir.path());
    tweak(&mut cfg);
    let world = World::start(cfg, Persistence::Disk).unwrap();
    world.listen().await.unwrap();
    TestWorld { world, dir }
}

impl TestWorld {
    pub fn addr(&self, host: &str, service: Service) -> SocketAddr {
        self.world.addr(host, service).unwrap()
    }

    /// Messages in a user's folder.
    pub fn count(&self, host: &str, user: &str, folder: &str) -> usize {
        self.world.host(host).unwrap().store.status(user, folder).unwrap().messages.len()
    }

    /// The bytes of each message in a folder.
    pub fn messages(&self, host: &str, user: &str, folder: &str) -> Vec<String> {
        let h = self.world.host(host).unwrap();
        let st = h.store.status(user, folder).unwrap();
        st.messages
            .iter()
            .map(|m| String::from_utf8_lossy(&h.store.read(user, folder, m.uid).unwrap()).into_owned())
            .collect()
    }
}

/// Polls `f` every 50 ms until it is true or `secs` pass; panics with `what` on timeout.
pub async fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw SMTP client for tests that must send exact bytes.
pub struct Raw {
    pub r: BufReader<TcpStream>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut raw = Raw { r: BufReader::new(s) };
        let g = raw.reply().await;
        assert!(g.starts_with("220"), "greeting: {g}");
        raw
    }

    /// Reads one complete (possibly multi-line) reply.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.r.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).await.unwrap();
    }

    /// Sends a line and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}
