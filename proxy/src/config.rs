//! The proxy's configuration: which worlds a browser may attach, which remote servers it may open, and every limit
//! that keeps a public deployment alive. [`ProxyConfig::default`] documents each default and why; the binary maps
//! command-line flags onto it (`cli.rs`), and `docs/limits.md` lists them for operators.

use std::net::IpAddr;
use std::time::Duration;

use mailroom_core::config::Service;
use serde::{Deserialize, Serialize};

/// An external mail server a session may open when configured (nothing else is ever dialled).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTarget {
    /// Name the browser uses in `open.host` (`gmail-imap`). Must not clash with a world host name.
    pub name: String,
    /// DNS name or address to dial.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The service it speaks; `smtps`, `pop3s` and `imaps` mean the proxy runs TLS from the start (implicit TLS).
    /// STARTTLS/STLS toward a remote server is not supported: the proxy cannot see that the server accepted it.
    pub service: Service,
}

/// Everything the proxy needs besides the mail world itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// Whether a browser may attach the persistent world (the one the TCP ports serve). The binary's default is
    /// "allowed when listening on loopback only": a public server must not expose its real mailboxes.
    pub allow_persistent: bool,
    /// Origins allowed to open `/ws` besides the page's own (`https://tutorial.example.org`). Same origin is always
    /// allowed; a request without `Origin` (not a browser) is allowed too.
    pub allowed_origins: Vec<String>,
    /// This instance's name, told to every session (`attached`) so a page and an operator can see which of several
    /// instances behind a load balancer holds a world.
    #[serde(default)]
    pub instance_name: String,
    /// Host names this server answers to besides `localhost` and IP addresses (`playground.example.org`). A
    /// request naming another host in `Host` is refused: that is how a DNS-rebinding page would reach a server on
    /// loopback.
    #[serde(default)]
    pub public_hosts: Vec<String>,
    /// A header carrying the real client address behind a reverse proxy (`x-forwarded-for`), trusted only when the
    /// TCP peer is in `trusted_proxies`. Its rightmost address is used (the one the trusted proxy appended).
    pub forwarded_header: Option<String>,
    /// Peers whose `forwarded_header` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// External servers sessions may open (empty: off).
    pub remotes: Vec<RemoteTarget>,
    /// Playground sessions (open WebSockets) in total.
    pub max_sessions: usize,
    /// Playground sessions per client address (loopback clients are not counted: see `docs/limits.md`).
    pub max_sessions_per_ip: usize,
    /// Worlds kept at once (sandboxes and rooms, attached or waiting for a reattach).
    pub max_worlds: usize,
    /// Sandboxes kept per client address (attached or waiting for a reattach); beyond it the address's oldest
    /// detached sandbox is dropped. Loopback is not counted.
    pub max_worlds_per_ip: usize,
    /// Open connections into the world per session.
    pub max_connections_per_session: usize,
    /// Client messages per second per session (token bucket refill rate)...
    pub msgs_per_sec: u32,
    /// ...and its burst.
    pub msgs_burst: u32,
    /// Bytes sent on connections per second per session (token bucket refill rate)...
    pub bytes_per_sec: u32,
    /// ...and its burst.
    pub bytes_burst: u32,
    /// Largest WebSocket message accepted; larger ones close the socket with 1009.
    pub max_frame: usize,
    /// Messages held by a sandbox or room (every mailbox and queue together).
    pub sandbox_max_messages: usize,
    /// Bytes held by a sandbox or room.
    pub sandbox_max_bytes: u64,
    /// Malformed or unknown messages in a row before the socket is closed with 4004.
    pub max_bad_messages: u32,
    /// A session that sends nothing this long is closed with 4006.
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    /// How long a sandbox waits for its token to come back after its last socket closed.
    #[serde(with = "secs")]
    pub reattach_ttl: Duration,
    /// How long the relay waits for a remote server to accept a TCP connection.
    #[serde(with = "secs")]
    pub remote_connect_timeout: Duration,
    /// Debounce of world snapshots after events.
    #[serde(with = "millis")]
    pub snapshot_debounce: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            allow_persistent: true,
            allowed_origins: Vec::new(),
            public_hosts: Vec::new(),
            instance_name: format!("mailroom-{}", std::process::id()),
            forwarded_header: None,
            trusted_proxies: Vec::new(),
            remotes: Vec::new(),
            // A sandbox costs little until used (it starts lazily); 1000 sockets fit a small VM.
            max_sessions: 1000,
            // A class behind one NAT shares an address: room for a few tabs each for ~30 learners would need more;
            // operators of classroom deployments raise it.
            max_sessions_per_ip: 20,
            max_worlds: 2000,
            // Twice the sessions an address may hold: reloads reattach, so more is only piling up.
            max_worlds_per_ip: 40,
            // Two devices side by side plus a few spare tabs.
            max_connections_per_session: 8,
            // Typing, even pasting, stays far below this; scripts hammering the relay do not.
            msgs_per_sec: 50,
            msgs_burst: 200,
            bytes_per_sec: 64 * 1024,
            bytes_burst: 1024 * 1024,
            // A pasted message with attachments fits; the WebSocket layer refuses 4x this outright.
            max_frame: 1024 * 1024,
            sandbox_max_messages: 500,
            sandbox_max_bytes: 20 * 1024 * 1024,
            max_bad_messages: 20,
            idle_timeout: Duration::from_secs(30 * 60),
            reattach_ttl: Duration::from_secs(30 * 60),
            remote_connect_timeout: Duration::from_secs(10),
            snapshot_debounce: Duration::from_millis(100),
        }
    }
}

impl ProxyConfig {
    /// The remote target called `name`, if configured.
    pub fn remote(&self, name: &str) -> Option<&RemoteTarget> {
        self.remotes.iter().find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
