//! Command-line flags. Each overrides the config file, which overrides the defaults of `shared/CONTRACT.md`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use mailroom_core::config::{TimingProfile, UserConfig, WorldConfig};

/// Mailroom: a real mail system to watch and poke at.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
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
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                WorldConfig::from_toml(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => WorldConfig::default(),
        };
        if let Some(v) = self.listen {
            cfg.listen = v;
        }
        if let Some(v) = &self.data_dir {
            cfg.data_dir = v.clone();
        }
        if let Some(p) = self.profile {
            cfg.set_profile(p);
        }
        let secs = Duration::from_secs;
        if let Some(v) = self.first_retry {
            cfg.timing.first_retry = secs(v);
        }
        if let Some(v) = self.max_retry {
            cfg.timing.max_retry = secs(v);
        }
        if let Some(v) = self.lifetime {
            cfg.timing.lifetime = secs(v);
        }
        if let Some(v) = self.relay_timeout {
            cfg.timing.relay_timeout = secs(v);
        }
        if self.allow_plaintext_auth {
            cfg.allow_plaintext_auth = true;
        }
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
