//! Limit bookkeeping: token buckets for per-session rates, the session counts per client address, and how the
//! client address is found (the WebSocket's peer, or a trusted reverse proxy's forwarding header).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use tokio::time::Instant;

use crate::config::ProxyConfig;

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(rate).max(1));
        TokenBucket { rate: f64::from(rate), burst, tokens: burst, last: Instant::now() }
    }

    /// Takes `n` tokens if there are enough.
    pub fn take(&mut self, n: u64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// The address limits are counted against: the TCP peer, or the rightmost address of the configured forwarding
/// header when the peer is a trusted proxy. `None` when unknown (router tests without a socket).
pub fn client_ip(config: &ProxyConfig, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer_ip = peer.map(|p| p.ip());
    if let (Some(name), Some(ip)) = (&config.forwarded_header, peer_ip)
        && config.trusted_proxies.contains(&ip)
        && let Some(value) = headers.get(name.as_str()).and_then(|v| v.to_str().ok())
        // The rightmost entry was added by our trusted proxy; the ones to its left are the client's word.
        && let Some(last) = value.rsplit(',').next()
        && let Ok(forwarded) = last.trim().parse::<IpAddr>()
    {
        return Some(forwarded);
    }
    peer_ip
}

/// The address a client is counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64, since one
/// subscriber usually holds a whole /64 and could otherwise take a fresh address per session.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            seg[4..].fill(0);
            IpAddr::V6(seg.into())
        }
        v4 => v4,
    }
}

/// The bucket a client is counted in, or `None` when it is not counted (unknown or loopback: see
/// [`PerIp::acquire`]).
pub fn counted(ip: Option<IpAddr>) -> Option<IpAddr> {
    ip.filter(|ip| !ip.to_canonical().is_loopback()).map(bucket)
}

/// Open sessions per client address.
#[derive(Default)]
pub struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// Counts one session of an address until dropped.
pub struct IpSlot {
    table: Arc<PerIp>,
    ip: Option<IpAddr>,
}

impl PerIp {
    /// Takes a slot for `ip`, or refuses when it already has `max`. Loopback and unknown addresses are not counted:
    /// they are the operator's own machine (or a reverse proxy whose forwarding header is not configured, where
    /// counting would lock every visitor into one bucket); the global cap still applies to them.
    pub fn acquire(self: &Arc<Self>, ip: Option<IpAddr>, max: usize) -> Option<IpSlot> {
        let Some(ip) = counted(ip) else {
            return Some(IpSlot { table: self.clone(), ip: None });
        };
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = t.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot { table: self.clone(), ip: Some(ip) })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut t = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = t.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    t.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_beyond_burst() {
        let mut b = TokenBucket::new(1, 3);
        assert!(b.take(1) && b.take(1) && b.take(1));
        assert!(!b.take(1));
        assert!(!TokenBucket::new(10, 10).take(11));
    }

    #[test]
    fn client_ip_table() {
        let mut cfg = ProxyConfig::default();
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let far: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "10.9.9.9, 203.0.113.5".parse().unwrap());
        // No header configured: the peer.
        assert_eq!(client_ip(&cfg, Some(lo), &h), Some(lo.ip()));
        cfg.forwarded_header = Some("x-forwarded-for".into());
        // Configured but the peer is not trusted: the peer.
        assert_eq!(client_ip(&cfg, Some(far), &h), Some(far.ip()));
        cfg.trusted_proxies = vec![lo.ip()];
        // Trusted: the rightmost forwarded address.
        assert_eq!(client_ip(&cfg, Some(lo), &h), Some("203.0.113.5".parse().unwrap()));
        assert_eq!(client_ip(&cfg, None, &h), None);
    }

    #[test]
    fn buckets() {
        for (ip, want) in [
            ("203.0.113.5", "203.0.113.5"),
            ("::ffff:203.0.113.5", "203.0.113.5"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
        ] {
            assert_eq!(bucket(ip.parse().unwrap()), want.parse::<IpAddr>().unwrap(), "{ip}");
        }
    }

    #[test]
    fn per_ip_counts_and_frees() {
        let t = Arc::new(PerIp::default());
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let a = t.acquire(Some(ip), 2).unwrap();
        let _b = t.acquire(Some(ip), 2).unwrap();
        assert!(t.acquire(Some(ip), 2).is_none());
        drop(a);
        assert!(t.acquire(Some(ip), 2).is_some());
        // Loopback is never counted.
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| t.acquire(Some(lo), 2).unwrap()).collect();
        assert_eq!(held.len(), 10);
        assert!(counted(Some("::1".parse().unwrap())).is_none());
        assert!(counted(Some("::ffff:127.0.0.1".parse().unwrap())).is_none());
        // Two addresses of one /64 share a bucket.
        let _c = t.acquire(Some("2001:db8::1".parse().unwrap()), 1).unwrap();
        assert!(t.acquire(Some("2001:db8::2".parse().unwrap()), 1).is_none());
    }
}
