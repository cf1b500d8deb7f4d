//! Command-line flags. Each overrides the config file, which overrides the defaults of `shared/CONTRACT.md`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use mailroom::{ProxyConfig, RemoteTarget};
use mailroom_core::config::{Overrides, Service, TimingProfile, UserConfig, WorldConfig};

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Writes the playground as a static site into DIR: the page and the whole mail world, which then runs
    /// inside each visitor's browser tab (no Mailroom server needed; serve DIR with any static file server).
    StaticSite {
        /// The folder to write (created if missing; files of an earlier site are replaced).
        dir: PathBuf,
    },
}

/// Mailroom: a real mail system to watch and poke at.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// What to do instead of running the servers.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// TOML configuration file (see mailroom.example.toml).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Address every listener binds (default 127.0.0.1; 0.0.0.0 exposes the ports).
    #[arg(long)]
    pub listen: Option<IpAddr>,
    /// Data directory for mailboxes, spool and certificates.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Port base of a host, as HOST=BASE (mx1=10000). 0 picks free ports.
    #[arg(long = "port-base", value_name = "HOST=BASE")]
    pub port_bases: Vec<String>,
    /// Timing profile: playground (retry 5 s, give up after 2 min) or internet (RFC 5321: 30 min, 5 days).
    #[arg(long, value_parser = parse_profile)]
    pub profile: Option<TimingProfile>,
    /// Seconds before the first retry.
    #[arg(long)]
    pub first_retry: Option<u64>,
    /// Upper bound of the retry backoff, seconds.
    #[arg(long)]
    pub max_retry: Option<u64>,
    /// Queue lifetime in seconds: older undelivered mail is bounced.
    #[arg(long)]
    pub lifetime: Option<u64>,
    /// Relay connect/command timeout, seconds.
    #[arg(long)]
    pub relay_timeout: Option<u64>,
    /// Extra user, as HOST:NAME:PASSWORD (mx1:eve:secret).
    #[arg(long = "user", value_name = "HOST:NAME:PASSWORD")]
    pub users: Vec<String>,
    /// Allow AUTH/LOGIN/USER before TLS from non-loopback peers (unsafe; loopback is always allowed).
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    /// Keep everything in memory (nothing written to disk).
    #[arg(long)]
    pub memory: bool,
    /// Port of the HTTP API and playground.
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,

    /// Whether browsers may attach the persistent world: auto (only when listening on loopback), allow, deny.
    #[arg(long, default_value = "auto", value_parser = ["auto", "allow", "deny"])]
    pub persistent_world: String,
    /// An extra Origin allowed to open the playground WebSocket (embedding sites), e.g. https://tutorial.example.org.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// A host name the server is reached by (besides localhost and IP addresses), e.g. playground.example.org.
    /// Requests naming any other host are refused (DNS rebinding).
    #[arg(long = "public-host", value_name = "NAME")]
    pub public_hosts: Vec<String>,
    /// This instance's name, shown to sessions (several instances behind a load balancer); default mailroom-PID.
    #[arg(long)]
    pub instance_name: Option<String>,
    /// Header carrying the client address behind a reverse proxy (e.g. x-forwarded-for).
    #[arg(long)]
    pub forwarded_header: Option<String>,
    /// Address of a reverse proxy whose forwarding header is trusted.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<IpAddr>,
    /// An external server sessions may open, as NAME=HOST:PORT/SERVICE (gmail=imap.gmail.com:993/imaps).
    #[arg(long = "remote", value_name = "NAME=HOST:PORT/SERVICE")]
    pub remotes: Vec<String>,
    /// Playground sessions in total [default: 1000].
    #[arg(long)]
    pub max_sessions: Option<usize>,
    /// Playground sessions per client address [default: 20].
    #[arg(long)]
    pub max_sessions_per_ip: Option<usize>,
    /// Sandboxes and rooms kept at once [default: 2000].
    #[arg(long)]
    pub max_worlds: Option<usize>,
    /// Sandboxes kept per client address, including those waiting for a reattach [default: 40].
    #[arg(long)]
    pub max_worlds_per_ip: Option<usize>,
    /// Connections per playground session [default: 8].
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// WebSocket messages per second per session [default: 50, burst 200].
    #[arg(long)]
    pub msgs_per_sec: Option<u32>,
    /// Bytes sent per second per session [default: 65536, burst 1 MiB].
    #[arg(long)]
    pub bytes_per_sec: Option<u32>,
    /// Largest WebSocket message in bytes [default: 1048576].
    #[arg(long)]
    pub max_frame: Option<usize>,
    /// Messages a sandbox may hold [default: 500].
    #[arg(long)]
    pub sandbox_max_messages: Option<usize>,
    /// Bytes a sandbox may hold [default: 20 MiB].
    #[arg(long)]
    pub sandbox_max_bytes: Option<u64>,
    /// Malformed messages in a row before a session is closed [default: 20].
    #[arg(long)]
    pub max_bad_messages: Option<u32>,
    /// Seconds without a message before a session is closed [default: 1800].
    #[arg(long)]
    pub idle_timeout: Option<u64>,
    /// Seconds a sandbox waits for its session token to come back [default: 1800].
    #[arg(long)]
    pub reattach_ttl: Option<u64>,
}

fn parse_profile(s: &str) -> Result<TimingProfile, String> {
    match s {
        "playground" => Ok(TimingProfile::Playground),
        "internet" => Ok(TimingProfile::Internet),
        _ => Err("expected playground or internet".into()),
    }
}

impl Args {
    /// The world described by the defaults, the config file and the flags, in that order.
    pub fn world_config(&self) -> anyhow::Result<WorldConfig> {
        let mut cfg = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                WorldConfig::from_toml(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => WorldConfig::default(),
        };
        // The flags are the file format's settings under other names: one overlay applies both.
        Overrides {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            profile: self.profile,
            first_retry_secs: self.first_retry,
            max_retry_secs: self.max_retry,
            lifetime_secs: self.lifetime,
            relay_timeout_secs: self.relay_timeout,
            allow_plaintext_auth: self.allow_plaintext_auth.then_some(true),
            ..Overrides::default()
        }
        .apply(&mut cfg);
        for pb in &self.port_bases {
            let (host, base) = pb.split_once('=').context("--port-base wants HOST=BASE")?;
            let base: u16 = base.parse().context("port base must be a number")?;
            let Some(h) = cfg.hosts.iter_mut().find(|h| h.name == host) else { bail!("no host {host}") };
            h.port_base = base;
        }
        for u in &self.users {
            let mut parts = u.splitn(3, ':');
            let (Some(host), Some(name), Some(password)) = (parts.next(), parts.next(), parts.next()) else {
                bail!("--user wants HOST:NAME:PASSWORD");
            };
            let Some(h) = cfg.hosts.iter_mut().find(|h| h.name == host) else { bail!("no host {host}") };
            h.users.push(UserConfig { name: name.to_ascii_lowercase(), password: password.to_string() });
        }
        cfg.rewrite_routes();
        Ok(cfg)
    }
}

impl Args {
    /// The proxy's configuration; `listen` is where the web server binds (it decides `--persistent-world auto`).
    pub fn proxy_config(&self, listen: IpAddr) -> anyhow::Result<ProxyConfig> {
        let mut c = ProxyConfig {
            allow_persistent: match self.persistent_world.as_str() {
                "allow" => true,
                "deny" => false,
                _ => listen.is_loopback(),
            },
            allowed_origins: self.allowed_origins.clone(),
            public_hosts: self.public_hosts.clone(),
            instance_name: self.instance_name.clone().unwrap_or_else(|| ProxyConfig::default().instance_name),
            forwarded_header: self.forwarded_header.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            ..ProxyConfig::default()
        };
        for r in &self.remotes {
            c.remotes.push(parse_remote(r)?);
        }
        let secs = Duration::from_secs;
        macro_rules! set {
            ($($flag:ident => $field:ident),* $(,)?) => { $( if let Some(v) = self.$flag { c.$field = v; } )* };
        }
        set!(
            max_sessions => max_sessions,
            max_sessions_per_ip => max_sessions_per_ip,
            max_worlds => max_worlds,
            max_worlds_per_ip => max_worlds_per_ip,
            max_connections => max_connections_per_session,
            max_frame => max_frame,
            sandbox_max_messages => sandbox_max_messages,
            sandbox_max_bytes => sandbox_max_bytes,
            max_bad_messages => max_bad_messages,
        );
        if let Some(v) = self.msgs_per_sec {
            c.msgs_per_sec = v;
            c.msgs_burst = c.msgs_burst.max(v);
        }
        if let Some(v) = self.bytes_per_sec {
            c.bytes_per_sec = v;
            c.bytes_burst = c.bytes_burst.max(v);
        }
        if let Some(v) = self.idle_timeout {
            c.idle_timeout = secs(v);
        }
        if let Some(v) = self.reattach_ttl {
            c.reattach_ttl = secs(v);
        }
        Ok(c)
    }
}

/// `NAME=HOST:PORT/SERVICE`.
fn parse_remote(s: &str) -> anyhow::Result<RemoteTarget> {
    let (name, rest) = s.split_once('=').context("--remote wants NAME=HOST:PORT/SERVICE")?;
    let (addr, service) = rest.rsplit_once('/').context("--remote wants NAME=HOST:PORT/SERVICE")?;
    let (host, port) = addr.rsplit_once(':').context("--remote wants HOST:PORT")?;
    let service = Service::from_name(service).context("unknown service in --remote")?;
    Ok(RemoteTarget {
        name: name.to_string(),
        host: host.trim_matches(['[', ']']).to_string(),
        port: port.parse().context("--remote port must be a number")?,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_flag_table() {
        let ok = parse_remote("gmail=imap.gmail.com:993/imaps").unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.host.as_str(), ok.port, ok.service),
            ("gmail", "imap.gmail.com", 993, Service::Imaps)
        );
        let v6 = parse_remote("lab=[::1]:2525/smtp").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 2525));
        for bad in ["gmail", "x=host/imap", "x=host:99999/imap", "x=host:1/ssh", "x=host:1"] {
            assert!(parse_remote(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn persistent_world_defaults_to_loopback_only() {
        let args = Args::parse_from(["mailroom"]);
        assert!(args.proxy_config("127.0.0.1".parse().unwrap()).unwrap().allow_persistent);
        assert!(!args.proxy_config("0.0.0.0".parse().unwrap()).unwrap().allow_persistent);
        let args = Args::parse_from(["mailroom", "--persistent-world", "allow", "--max-connections", "3"]);
        let c = args.proxy_config("0.0.0.0".parse().unwrap()).unwrap();
        assert!(c.allow_persistent);
        assert_eq!(c.max_connections_per_session, 3);
    }
}
