//! The world's description: hosts, domains, users, ports, routing and timing.
//!
//! [`WorldConfig::default`] is exactly the default world of `shared/CONTRACT.md`: mx1 (example.com: alice, bob,
//! admin) on port base 10000, mx2 (example.net: carol, dave) on port base 20000, every password `password`, each host
//! routing the other's domain to it, and the `playground` timing profile. The binary loads overrides from a TOML file
//! (see `mailroom.example.toml` at the repository root) and from command-line flags; this library never reads the
//! environment.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A protocol endpoint a host offers. The well-known port is added to the host's port base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// SMTP on port 25: the MX. Accepts mail for its own domain without AUTH, relays only after AUTH.
    Smtp,
    /// Message submission on port 587 (RFC 6409): AUTH required.
    Submission,
    /// SMTP over implicit TLS on port 465 (RFC 8314): AUTH required.
    Smtps,
    /// POP3 on port 110, with STLS.
    Pop3,
    /// POP3 over implicit TLS on port 995.
    Pop3s,
    /// IMAP on port 143, with STARTTLS.
    Imap,
    /// IMAP over implicit TLS on port 993.
    Imaps,
}

impl Service {
    /// Every service, in the order a listing shows them.
    pub const ALL: [Service; 7] = [
        Service::Smtp,
        Service::Submission,
        Service::Smtps,
        Service::Pop3,
        Service::Pop3s,
        Service::Imap,
        Service::Imaps,
    ];

    /// The IANA port of this service.
    pub fn well_known_port(self) -> u16 {
        match self {
            Service::Smtp => 25,
            Service::Submission => 587,
            Service::Smtps => 465,
            Service::Pop3 => 110,
            Service::Pop3s => 995,
            Service::Imap => 143,
            Service::Imaps => 993,
        }
    }

    /// Whether TLS starts before the first byte (implicit TLS, RFC 8314).
    pub fn implicit_tls(self) -> bool {
        matches!(self, Service::Smtps | Service::Pop3s | Service::Imaps)
    }

    /// The protocol spoken once any TLS is up.
    pub fn protocol(self) -> Protocol {
        match self {
            Service::Smtp | Service::Submission | Service::Smtps => Protocol::Smtp,
            Service::Pop3 | Service::Pop3s => Protocol::Pop3,
            Service::Imap | Service::Imaps => Protocol::Imap,
        }
    }

    /// The lowercase name used in configs, the CLI and the WebSocket protocol.
    pub fn name(self) -> &'static str {
        match self {
            Service::Smtp => "smtp",
            Service::Submission => "submission",
            Service::Smtps => "smtps",
            Service::Pop3 => "pop3",
            Service::Pop3s => "pop3s",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
        }
    }

    /// Parses a lowercase service name.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// The three protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Smtp,
    Pop3,
    Imap,
}

/// A mailbox owner on one host.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserConfig {
    /// The local part, lowercase (`alice`).
    pub name: String,
    /// The password. Stored in the clear: this is a teaching playground, and the config file says so.
    pub password: String,
}

impl std::fmt::Debug for UserConfig {
    // Never print a password, even a playground one, into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig").field("name", &self.name).field("password", &"<redacted>").finish()
    }
}

/// One mail host (server-1 or server-2 of the classic figure).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostConfig {
    /// Short name, used in events, the CLI and the data directory (`mx1`).
    pub name: String,
    /// The mail domain this host is the final destination for (`example.com`).
    pub domain: String,
    /// Its users.
    pub users: Vec<UserConfig>,
    /// Added to every well-known port (10000 gives SMTP on 10025).
    pub port_base: u16,
    /// PEM certificate chain; when absent a self-signed one is generated into the data directory.
    #[serde(default)]
    pub cert_pem: Option<PathBuf>,
    /// PEM private key belonging to `cert_pem`.
    #[serde(default)]
    pub key_pem: Option<PathBuf>,
}

impl HostConfig {
    /// The host's own name as it says it in greetings and certificates (`mx1.example.com`).
    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.name, self.domain)
    }

    /// The TCP port of a service on this host.
    pub fn port(&self, service: Service) -> u16 {
        self.port_base + service.well_known_port()
    }
}

/// A routing-table entry: the part DNS MX records play on the internet.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Route {
    /// Mail for this domain...
    pub domain: String,
    /// ...is handed to this host name (shown as the MX)...
    pub mx: String,
    /// ...at this address (`127.0.0.1:20025`). In a sandbox world the host name alone is used.
    pub addr: String,
}

/// Named sets of queue timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimingProfile {
    /// First retry after 5 s, doubling up to 30 s, give up after 2 minutes: a bounce a learner can wait for.
    Playground,
    /// RFC 5321 §4.5.4.1: retry at least 30 minutes apart, give up after 5 days.
    Internet,
}

/// Queue timing values. Each can be set on its own after a profile is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Delay before the first retry of a deferred message.
    #[serde(with = "secs")]
    pub first_retry: Duration,
    /// Upper bound of the doubling backoff.
    #[serde(with = "secs")]
    pub max_retry: Duration,
    /// How long a message may stay queued before it is returned to its sender.
    #[serde(with = "secs")]
    pub lifetime: Duration,
    /// Connect/command timeout of the relay client.
    #[serde(with = "secs")]
    pub relay_timeout: Duration,
}

impl Timing {
    /// The values of a named profile.
    pub fn profile(p: TimingProfile) -> Timing {
        match p {
            TimingProfile::Playground => Timing {
                first_retry: Duration::from_secs(5),
                max_retry: Duration::from_secs(30),
                lifetime: Duration::from_secs(120),
                relay_timeout: Duration::from_secs(10),
            },
            TimingProfile::Internet => Timing {
                first_retry: Duration::from_secs(30 * 60),
                max_retry: Duration::from_secs(60 * 60),
                lifetime: Duration::from_secs(5 * 24 * 3600),
                // RFC 5321 §4.5.3.2 gives 5 minutes for most commands.
                relay_timeout: Duration::from_secs(300),
            },
        }
    }

    /// The delay before attempt number `attempt` (1 = first retry): doubling from `first_retry`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        self.first_retry.saturating_mul(factor).min(self.max_retry.max(self.first_retry))
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::profile(TimingProfile::Playground)
    }
}

/// Per-session limits shared by all protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest message accepted, advertised in SMTP SIZE (default 10 MiB).
    pub max_message_size: usize,
    /// Longest command line (RFC 5321 §4.5.3.1.4 says 512 for SMTP; IMAP lines are longer).
    pub max_line: usize,
    /// RCPT TO per transaction (RFC 5321 §4.5.3.1.8 asks for at least 100).
    pub max_recipients: usize,
    /// Bad commands (or failed logins) before a session is closed.
    pub max_errors: u32,
    /// Idle time before SMTP answers 421 (RFC 5321 §4.5.3.2.7: 5 minutes).
    #[serde(with = "secs")]
    pub smtp_idle: Duration,
    /// POP3 autologout (RFC 1939 §3: at least 10 minutes).
    #[serde(with = "secs")]
    pub pop3_idle: Duration,
    /// IMAP autologout (RFC 3501 §5.4: at least 30 minutes).
    #[serde(with = "secs")]
    pub imap_idle: Duration,
    /// Delay before a failed login is answered, to slow guessing.
    #[serde(with = "millis")]
    pub auth_failure_delay: Duration,
    /// How long a TCP client may take to log in (POP3, IMAP, submission), counted from the connection, whatever
    /// it sends meanwhile: a trickle of bytes cannot hold a connection open without credentials.
    #[serde(with = "secs", default = "default_login_timeout")]
    pub login_timeout: Duration,
    /// Concurrent TCP connections from one client address to one listener (of the listener's 2,048): one
    /// address cannot lock everyone else out.
    #[serde(default = "default_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// `Received:` headers after which a message is bounced as a mail loop (RFC 5321 §6.3).
    pub max_hops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 10 * 1024 * 1024,
            max_line: 4096,
            max_recipients: 100,
            max_errors: 10,
            smtp_idle: Duration::from_secs(300),
            pop3_idle: Duration::from_secs(600),
            imap_idle: Duration::from_secs(1800),
            auth_failure_delay: Duration::from_millis(500),
            login_timeout: default_login_timeout(),
            max_connections_per_ip: default_connections_per_ip(),
            max_hops: 30,
        }
    }
}

fn default_login_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_connections_per_ip() -> usize {
    256
}

/// The whole world.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorldConfig {
    /// Address every listener binds (default loopback only).
    pub listen: IpAddr,
    /// Where spools, mailboxes and certificates live.
    pub data_dir: PathBuf,
    /// The hosts.
    pub hosts: Vec<HostConfig>,
    /// The routing table (domain -> next hop).
    pub routes: Vec<Route>,
    /// Queue timing.
    pub timing: Timing,
    /// Session limits.
    pub limits: Limits,
    /// Allow AUTH/LOGIN/USER over plaintext from non-loopback peers (RFC 8314 says not to; off by default).
    pub allow_plaintext_auth: bool,
}

impl Default for WorldConfig {
    fn default() -> Self {
        let users = |names: &[&str]| {
            names
                .iter()
                .map(|n| UserConfig { name: (*n).to_string(), password: "password".to_string() })
                .collect::<Vec<_>>()
        };
        WorldConfig {
            listen: IpAddr::from([127, 0, 0, 1]),
            data_dir: PathBuf::from("data"),
            hosts: vec![
                HostConfig {
                    name: "mx1".into(),
                    domain: "example.com".into(),
                    users: users(&["alice", "bob", "admin"]),
                    port_base: 10000,
                    cert_pem: None,
                    key_pem: None,
                },
                HostConfig {
                    name: "mx2".into(),
                    domain: "example.net".into(),
                    users: users(&["carol", "dave"]),
                    port_base: 20000,
                    cert_pem: None,
                    key_pem: None,
                },
            ],
            routes: vec![
                Route {
                    domain: "example.com".into(),
                    mx: "mx1.example.com".into(),
                    addr: "127.0.0.1:10025".into(),
                },
                Route {
                    domain: "example.net".into(),
                    mx: "mx2.example.net".into(),
                    addr: "127.0.0.1:20025".into(),
                },
            ],
            timing: Timing::default(),
            limits: Limits::default(),
            allow_plaintext_auth: false,
        }
    }
}

impl WorldConfig {
    /// Parses a TOML document; missing keys keep their defaults.
    pub fn from_toml(text: &str) -> Result<WorldConfig, toml::de::Error> {
        let file: Overrides = toml::from_str(text)?;
        let mut cfg = WorldConfig::default();
        file.apply(&mut cfg);
        Ok(cfg)
    }

    /// Moves every host to a new port base (`base + i * step`) and rewrites the routing table to match.
    /// Tests use this to run worlds side by side.
    pub fn set_port_bases(&mut self, bases: &[u16]) {
        for (host, base) in self.hosts.iter_mut().zip(bases) {
            host.port_base = *base;
        }
        self.rewrite_routes();
    }

    /// Rebuilds the route addresses from the hosts' current ports and the listen address.
    pub fn rewrite_routes(&mut self) {
        let listen = if self.listen.is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { self.listen };
        for route in &mut self.routes {
            if let Some(h) = self.hosts.iter().find(|h| h.domain.eq_ignore_ascii_case(&route.domain)) {
                route.addr = std::net::SocketAddr::new(listen, h.port(Service::Smtp)).to_string();
                route.mx = h.fqdn();
            }
        }
    }

    /// Applies a named timing profile.
    pub fn set_profile(&mut self, p: TimingProfile) {
        self.timing = Timing::profile(p);
    }
}

/// Settings laid over a world, every one optional: the TOML file format, and what the command line's flags give
/// (the binary applies the file's, then the flags'). One overlay for both, so a setting means the same in each.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Address the listeners bind.
    pub listen: Option<IpAddr>,
    /// Where Maildirs and spools live.
    pub data_dir: Option<PathBuf>,
    /// A named timing profile, applied before the single timings below.
    pub profile: Option<TimingProfile>,
    /// First retry after a temporary failure, in seconds.
    pub first_retry_secs: Option<u64>,
    /// Longest wait between retries, in seconds.
    pub max_retry_secs: Option<u64>,
    /// How long a message may stay queued before it returns to its sender, in seconds.
    pub lifetime_secs: Option<u64>,
    /// Per-command timeout of the relay client, in seconds.
    pub relay_timeout_secs: Option<u64>,
    /// Whether AUTH/LOGIN are allowed before TLS from anywhere.
    pub allow_plaintext_auth: Option<bool>,
    /// The largest message accepted, in octets.
    pub max_message_size: Option<usize>,
    /// The hosts (replaces the default two).
    pub hosts: Option<Vec<HostConfig>>,
    /// The routing table (defaults to every host's domain routed to it).
    pub routes: Option<Vec<Route>>,
    /// Every limit at once.
    pub limits: Option<Limits>,
}

impl Overrides {
    /// Lays these settings over `cfg`; route addresses follow the hosts' ports.
    pub fn apply(self, cfg: &mut WorldConfig) {
        if let Some(v) = self.listen {
            cfg.listen = v;
        }
        if let Some(v) = self.data_dir {
            cfg.data_dir = v;
        }
        if let Some(p) = self.profile {
            cfg.set_profile(p);
        }
        if let Some(v) = self.limits {
            cfg.limits = v;
        }
        let secs = Duration::from_secs;
        if let Some(v) = self.first_retry_secs {
            cfg.timing.first_retry = secs(v);
        }
        if let Some(v) = self.max_retry_secs {
            cfg.timing.max_retry = secs(v);
        }
        if let Some(v) = self.lifetime_secs {
            cfg.timing.lifetime = secs(v);
        }
        if let Some(v) = self.relay_timeout_secs {
            cfg.timing.relay_timeout = secs(v);
        }
        if let Some(v) = self.allow_plaintext_auth {
            cfg.allow_plaintext_auth = v;
        }
        if let Some(v) = self.max_message_size {
            cfg.limits.max_message_size = v;
        }
        let hosts_given = self.hosts.is_some();
        if let Some(v) = self.hosts {
            cfg.hosts = v;
        }
        match self.routes {
            Some(v) => cfg.routes = v,
            None if hosts_given => {
                // Route every host's domain to it, as the default world does.
                cfg.routes = cfg
                    .hosts
                    .iter()
                    .map(|h| Route { domain: h.domain.clone(), mx: h.fqdn(), addr: String::new() })
                    .collect();
                cfg.rewrite_routes();
            }
            None => cfg.rewrite_routes(),
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_world_matches_contract() {
        let c = WorldConfig::default();
        assert_eq!(c.hosts[0].port(Service::Smtp), 10025);
        assert_eq!(c.hosts[1].port(Service::Imaps), 20993);
        assert_eq!(c.hosts[0].fqdn(), "mx1.example.com");
        assert_eq!(c.routes[1].addr, "127.0.0.1:20025");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let t = Timing::default();
        assert_eq!(t.backoff(1), Duration::from_secs(5));
        assert_eq!(t.backoff(2), Duration::from_secs(10));
        assert_eq!(t.backoff(3), Duration::from_secs(20));
        assert_eq!(t.backoff(4), Duration::from_secs(30));
        assert_eq!(t.backoff(40), Duration::from_secs(30));
    }

    #[test]
    fn toml_overrides() {
        let c = WorldConfig::from_toml("profile = \"internet\"\nlifetime_secs = 60\n").unwrap();
        assert_eq!(c.timing.first_retry, Duration::from_secs(1800));
        assert_eq!(c.timing.lifetime, Duration::from_secs(60));
        assert!(WorldConfig::from_toml("bogus = 1").is_err());
    }
}

#[cfg(test)]
mod example_file {
    #[test]
    fn the_example_config_parses_to_the_default_world() {
        let text = include_str!("../../mailroom.example.toml");
        let c = super::WorldConfig::from_toml(text).unwrap();
        assert_eq!(c, super::WorldConfig::default());
    }
}
