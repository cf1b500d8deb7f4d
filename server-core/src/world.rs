//! A running mail world: its hosts, their stores and queues, listeners, and the switches the playground pulls.
//!
//! The persistent world ([`Persistence::Disk`]) keeps mailboxes as Maildir, the spool and certificates under the data
//! directory and relays over TCP; it is what the TCP ports serve. A sandbox ([`Persistence::Memory`]) keeps
//! everything in RAM and relays over in-memory streams, so a playground session's mail never leaves the process.

use std::collections::HashMap;
use std::net::SocketAddr;
#[cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::auth::Users;
use crate::clock::{Clock, Skip};
use crate::config::{Service, WorldConfig};
use crate::event::EventBus;
use crate::host::{Host, MaildropLocks};
use crate::net::BoxStream;
#[cfg(not(target_arch = "wasm32"))]
use crate::net::TcpConnector;
use crate::net::{self, Peer};
#[cfg(not(target_arch = "wasm32"))]
use crate::queue::spool::DiskSpool;
use crate::queue::spool::{MemorySpool, SpoolStore};
use crate::queue::{Connector, Queue, QueueView, Routes};
use crate::store::MailStore;
#[cfg(not(target_arch = "wasm32"))]
use crate::store::maildir::MaildirStore;
use crate::store::memory::MemoryStore;

/// Where a world keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Maildir, spool files and certificates under `WorldConfig::data_dir`; relays over TCP.
    Disk,
    /// Everything in RAM; relays over in-memory streams.
    Memory,
}

/// One bound listener.
#[derive(Clone, Debug, Serialize)]
pub struct Listening {
    /// Host short name.
    pub host: String,
    /// Service.
    pub service: Service,
    /// Bound address.
    pub addr: SocketAddr,
}

/// Relays inside a sandbox: "connecting" to a host opens an in-memory session on it.
struct MemoryConnector {
    /// Weak: the hosts own their queues, which own this connector; strong links would make a cycle that keeps
    /// a discarded sandbox alive forever.
    hosts: RwLock<HashMap<String, std::sync::Weak<Host>>>,
}

impl Connector for MemoryConnector {
    fn connect(
        &self,
        route: &crate::config::Route,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<BoxStream>> + Send + '_>> {
        let host = self
            .hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&route.mx.to_ascii_lowercase())
            .and_then(std::sync::Weak::upgrade);
        Box::pin(async move {
            let host =
                host.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))?;
            // Server-to-server links are not loopback logins: no plaintext AUTH.
            let peer = Peer {
                addr: "relay (in-memory)".into(),
                ip: None,
                plaintext_auth_ok: false,
                login_timeout: None,
            };
            // The relay client runs its own STARTTLS over the stream; it needs no upgrade signal.
            let s = net::connect_memory(host, Service::Smtp, peer)?;
            Ok(Box::new(s.stream) as BoxStream)
        })
    }
}

/// A running world.
pub struct World {
    /// The configuration it was built from.
    pub config: WorldConfig,
    /// How it persists.
    pub persistence: Persistence,
    /// Its hosts, in configuration order.
    pub hosts: Vec<Arc<Host>>,
    /// The hosts' queues, same order.
    pub queues: Vec<Arc<Queue>>,
    /// The routing table.
    pub routes: Routes,
    /// The event bus all hosts share.
    pub events: EventBus,
    /// The world's time (skippable in a sandbox).
    pub clock: Clock,
    listening: Mutex<Vec<Listening>>,
}

/// Slots in an in-memory world's event channel. Tokio preallocates every slot (1024 slots on the event bus and both
/// stores cost ~370 KiB per sandbox); a sandbox sees a few events a second from one learner, a relay burst is about
/// 20, and a proxy session that lags anyway resends a snapshot (docs/relay-benchmark.md).
const SANDBOX_CHANNEL: usize = 64;
/// Slots in each sandbox store's change feed (~100 bytes each); an IMAP session that lags rescans its folder.
const SANDBOX_STORE_CHANNEL: usize = 32;

impl World {
    /// Builds the world and starts its queue workers. Must be called inside a Tokio runtime.
    pub fn start(config: WorldConfig, persistence: Persistence) -> anyhow::Result<Arc<World>> {
        // Real clients on TCP ports expect real time; a sandbox's learner may skip ahead to the next retry.
        let clock = match persistence {
            Persistence::Disk => Clock::system(),
            Persistence::Memory => Clock::skippable(),
        };
        let events = match persistence {
            Persistence::Disk => EventBus::default(),
            Persistence::Memory => EventBus::with_capacity(SANDBOX_CHANNEL),
        }
        .with_clock(clock.clone());
        let routes: Routes = Arc::new(RwLock::new(config.routes.clone()));
        let memory_connector = Arc::new(MemoryConnector { hosts: RwLock::new(HashMap::new()) });
        let connector: Arc<dyn Connector> = match persistence {
            #[cfg(not(target_arch = "wasm32"))]
            Persistence::Disk => Arc::new(TcpConnector),
            // The tab has no files and no sockets.
            #[cfg(target_arch = "wasm32")]
            Persistence::Disk => anyhow::bail!("the world in the browser tab keeps everything in memory"),
            Persistence::Memory => memory_connector.clone(),
        };
        let mut hosts = Vec::new();
        let mut queues = Vec::new();
        for hc in &config.hosts {
            #[cfg(not(target_arch = "wasm32"))]
            let dir: PathBuf = config.data_dir.join(&hc.name);
            let (store, spool, tls): (Arc<dyn MailStore>, Arc<dyn SpoolStore>, _) = match persistence {
                #[cfg(not(target_arch = "wasm32"))]
                Persistence::Disk => (
                    Arc::new(MaildirStore::open(&dir.join("mail"))?),
                    Arc::new(DiskSpool::open(&dir.join("spool"))?),
                    crate::tls::server_config(crate::tls::load_or_generate(hc, &dir.join("tls"))?)?,
                ),
                #[cfg(target_arch = "wasm32")]
                Persistence::Disk => anyhow::bail!("the world in the browser tab keeps everything in memory"),
                Persistence::Memory => (
                    Arc::new(MemoryStore::with_capacity(SANDBOX_STORE_CHANNEL)),
                    Arc::new(MemorySpool::default()),
                    crate::tls::sandbox_config(&hc.fqdn())?,
                ),
            };
            let users = Users::new(&hc.domain, hc.users.clone());
            for u in users.names() {
                store.ensure_user(u)?;
            }
            let (queue, mut worker) = Queue::new(
                &hc.name,
                &hc.fqdn(),
                users.clone(),
                store.clone(),
                spool,
                events.clone(),
                routes.clone(),
                connector.clone(),
                config.timing,
                config.limits.max_hops,
                clock.clone(),
            );
            let recovered = worker.recover()?;
            if recovered > 0 {
                tracing::info!(host = hc.name, recovered, "queue resumed from spool");
            }
            crate::rt::spawn(worker.run());
            let host = Arc::new(Host {
                config: hc.clone(),
                fqdn: hc.fqdn(),
                users,
                store,
                spool: queue.clone(),
                events: events.clone(),
                limits: config.limits,
                locks: Arc::new(MaildropLocks::default()),
                tls: Some(tls),
                busy: AtomicBool::new(false),
                online_watch: tokio::sync::watch::Sender::new(true),
                shutdown: tokio::sync::watch::Sender::new(false),
                allow_plaintext_auth: config.allow_plaintext_auth || persistence == Persistence::Memory,
                extensions: Default::default(),
                clock: clock.clone(),
            });
            memory_connector
                .hosts
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(hc.fqdn(), Arc::downgrade(&host));
            hosts.push(host);
            queues.push(queue);
        }
        Ok(Arc::new(World {
            config,
            persistence,
            hosts,
            queues,
            routes,
            events,
            clock,
            listening: Mutex::new(Vec::new()),
        }))
    }

    /// Binds every service of every host on the configured address. A host whose port base is 0 gets ephemeral
    /// ports (tests); the routing table is rewritten to the SMTP ports actually bound.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn listen(&self) -> std::io::Result<Vec<Listening>> {
        let mut out = Vec::new();
        for host in &self.hosts {
            for service in Service::ALL {
                let port = if host.config.port_base == 0 { 0 } else { host.config.port(service) };
                let addr =
                    net::listen(host.clone(), service, SocketAddr::new(self.config.listen, port)).await?;
                out.push(Listening { host: host.config.name.clone(), service, addr });
                if service == Service::Smtp {
                    let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
                    for r in routes.iter_mut().filter(|r| r.domain.eq_ignore_ascii_case(&host.config.domain))
                    {
                        let ip = if addr.ip().is_unspecified() { [127, 0, 0, 1].into() } else { addr.ip() };
                        r.addr = SocketAddr::new(ip, addr.port()).to_string();
                    }
                }
            }
        }
        self.listening.lock().unwrap_or_else(|e| e.into_inner()).extend(out.iter().cloned());
        Ok(out)
    }

    /// What listens where.
    pub fn listening(&self) -> Vec<Listening> {
        self.listening.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The bound address of a host's service.
    pub fn addr(&self, host: &str, service: Service) -> Option<SocketAddr> {
        self.listening().into_iter().find(|l| l.host == host && l.service == service).map(|l| l.addr)
    }

    /// A host by short name (`mx1`), full name (`mx1.example.com`) or domain.
    pub fn host(&self, name: &str) -> Option<Arc<Host>> {
        self.hosts
            .iter()
            .find(|h| {
                h.config.name.eq_ignore_ascii_case(name)
                    || h.fqdn.eq_ignore_ascii_case(name)
                    || h.config.domain.eq_ignore_ascii_case(name)
            })
            .cloned()
    }

    /// Takes a host offline (its ports refuse connections, its sessions drop) or back online.
    pub fn set_online(&self, name: &str, online: bool) -> bool {
        match self.host(name) {
            Some(h) => {
                h.set_online(online);
                if online {
                    // Mail waiting for this host may go now rather than at its next scheduled retry.
                    self.retry_now();
                }
                true
            }
            None => false,
        }
    }

    /// Makes a host busy (SMTP answers `421` and closes) or not. A host that stops being busy gets its waiting mail
    /// at once, as when it comes back online.
    pub fn set_busy(&self, name: &str, busy: bool) -> bool {
        match self.host(name) {
            Some(h) => {
                h.set_busy(busy);
                if !busy {
                    self.retry_now();
                }
                true
            }
            None => false,
        }
    }

    /// Switches an extension of a host; false for an unknown host or an extension that cannot be switched.
    pub fn set_extension(&self, host: &str, protocol: &str, name: &str, on: bool) -> bool {
        self.host(host).is_some_and(|h| h.set_extension(protocol, name, on))
    }

    /// Makes every deferred message due now.
    pub fn retry_now(&self) {
        for q in &self.queues {
            q.retry_now();
        }
    }

    /// Moves a sandbox's clock forward to the next moment the queue has something to do: the earliest retry
    /// ([`Skip::NextRetry`]) or the earliest expiry ([`Skip::Expiry`]), and wakes the queues. Returns how far the
    /// clock moved, or `None` when this world's clock is real time (the persistent world) or nothing is queued.
    pub fn skip(&self, to: Skip) -> Option<std::time::Duration> {
        if !self.clock.can_skip() {
            return None;
        }
        let target = match to {
            Skip::NextRetry => self.queues.iter().filter_map(|q| q.next_attempt()).min(),
            Skip::Expiry => self.queues.iter().filter_map(|q| q.next_expiry()).min(),
        }?;
        let moved = self.clock.advance_to(target);
        for q in &self.queues {
            q.wake();
        }
        Some(moved)
    }

    /// The queue of a host.
    fn queue_of(&self, host: &str) -> Option<&Arc<Queue>> {
        let i = self
            .hosts
            .iter()
            .position(|h| h.config.name.eq_ignore_ascii_case(host) || h.fqdn.eq_ignore_ascii_case(host))?;
        self.queues.get(i)
    }

    /// Retries one queued message now. False if that host has no such message.
    pub fn retry_message(&self, host: &str, id: &str) -> bool {
        self.queue_of(host).is_some_and(|q| q.retry(id))
    }

    /// Returns one queued message to its sender now. False if that host has no such message (or an attempt for
    /// it is running).
    pub fn return_message(&self, host: &str, id: &str) -> bool {
        self.queue_of(host).is_some_and(|q| q.return_to_sender(id))
    }

    /// Whether every queue waits for its clock (nothing due, no attempt running).
    pub fn settled(&self) -> bool {
        self.queues.iter().all(|q| q.settled())
    }

    /// Every queued message on every host.
    pub fn queue(&self) -> Vec<QueueView> {
        self.queues.iter().flat_map(|q| q.snapshot()).collect()
    }

    /// Opens an in-memory connection to a service (the proxy's way in).
    pub fn connect(&self, host: &str, service: Service, peer: Peer) -> std::io::Result<net::MemoryConn> {
        let h = self
            .host(host)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no host {host}")))?;
        net::connect_memory(h, service, peer)
    }

    /// Tells every session to say goodbye and every listener to stop.
    pub fn shutdown(&self) {
        for h in &self.hosts {
            h.shutdown.send_replace(true);
        }
        for q in &self.queues {
            q.stop();
        }
    }
}

impl Drop for World {
    /// A world nobody holds any more stops its queue workers and listeners (a discarded sandbox must not keep
    /// tasks alive).
    fn drop(&mut self) {
        self.shutdown();
    }
}
