//! One mail host (mx1 or mx2) as its sessions see it: identity, users, store, spool entry point, events, policy.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::auth::Users;
use crate::config::{HostConfig, Limits};
use crate::event::{EventBus, EventKind};
use crate::store::MailStore;

/// The SMTP envelope of one accepted message (RFC 5321 §2.3.1).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// Reverse-path; empty for the null sender `<>` (bounces).
    pub mail_from: String,
    /// Forward-paths, as given (`carol@example.net`).
    pub rcpt_to: Vec<String>,
    /// What the client said in EHLO/HELO.
    pub helo: String,
    /// Where it came from (`127.0.0.1:53211`).
    pub peer: String,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
    /// MAIL carried SMTPUTF8 (RFC 6531): the message may have UTF-8 addresses and headers, and is relayed with
    /// the parameter. Absent in spools written before it existed.
    #[serde(default)]
    pub smtputf8: bool,
}

/// Why the spool refused a message.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The disk failed: answer 451 and keep nothing.
    #[error("spool write failed: {0}")]
    Io(#[from] std::io::Error),
    /// The host is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

/// The door into a host's spool. `submit` returns only after the message is durable (file and directory fsynced
/// for a disk spool); only then may SMTP answer `250 ... queued as ID`.
pub trait Submitter: Send + Sync {
    /// A fresh queue ID. SMTP asks for it before writing the `Received:` header, so that the trace line and the
    /// `250 ... queued as ID` reply name the same ID.
    fn new_id(&self) -> String;

    /// Spools a complete message (trace headers already added) under `id`; returns the queue ID.
    fn submit(&self, id: String, envelope: Envelope, message: Vec<u8>) -> Result<String, SubmitError>;
}

pub use crate::wire::SWITCHABLE;

/// Which [`SWITCHABLE`] extensions are off.
#[derive(Default)]
pub struct Extensions {
    off: std::sync::RwLock<std::collections::BTreeSet<(String, String)>>,
}

impl Extensions {
    /// Whether `protocol` (`smtp`, `pop3`, `imap`) offers `name` now.
    pub fn offers(&self, protocol: &str, name: &str) -> bool {
        let off = self.off.read().unwrap_or_else(|e| e.into_inner());
        off.is_empty() || !off.contains(&(protocol.to_string(), name.to_string()))
    }

    /// Switches an extension; false if it is not one of [`SWITCHABLE`].
    pub fn set(&self, protocol: &str, name: &str, on: bool) -> bool {
        let Some((p, n)) =
            SWITCHABLE.iter().find(|(p, n)| p.eq_ignore_ascii_case(protocol) && n.eq_ignore_ascii_case(name))
        else {
            return false;
        };
        let mut off = self.off.write().unwrap_or_else(|e| e.into_inner());
        let key = (p.to_string(), n.to_string());
        if on {
            off.remove(&key);
        } else {
            off.insert(key);
        }
        true
    }

    /// The switched-off extensions, as (protocol, name).
    pub fn off(&self) -> Vec<(String, String)> {
        self.off.read().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

/// POP3 maildrop locks (RFC 1939 §4): one POP3 session per user at a time.
#[derive(Default)]
pub struct MaildropLocks {
    held: Mutex<HashSet<String>>,
}

/// Releases a maildrop lock when dropped.
pub struct MaildropGuard {
    locks: Arc<MaildropLocks>,
    user: String,
}

impl MaildropLocks {
    /// Takes the lock for `user`, or None if another session holds it.
    pub fn try_lock(self: &Arc<Self>, user: &str) -> Option<MaildropGuard> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(user.to_string()).then(|| MaildropGuard { locks: self.clone(), user: user.to_string() })
    }
}

impl Drop for MaildropGuard {
    fn drop(&mut self) {
        self.locks.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.user);
    }
}

/// A running host.
pub struct Host {
    /// Its configuration.
    pub config: HostConfig,
    /// `mx1.example.com`.
    pub fqdn: String,
    /// Its users.
    pub users: Users,
    /// Its mailboxes.
    pub store: Arc<dyn MailStore>,
    /// Where SMTP hands accepted messages.
    pub spool: Arc<dyn Submitter>,
    /// The world's event bus.
    pub events: EventBus,
    /// Session limits.
    pub limits: Limits,
    /// POP3 locks.
    pub locks: Arc<MaildropLocks>,
    /// Whether TLS can be offered (a certificate is loaded).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// While true, the host accepts SMTP connections but answers `421` at once (overloaded): senders must keep the
    /// mail and retry, as with a host that is down.
    pub busy: AtomicBool,
    /// Whether the host is online, as a watch channel: while false every listener refuses connections (it closes
    /// its socket and reopens it when the host comes back) and sessions end.
    pub online_watch: tokio::sync::watch::Sender<bool>,
    /// Flipped to true once when the world shuts down: sessions say goodbye (SMTP 421) and end.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Plaintext AUTH from non-loopback peers (configured).
    pub allow_plaintext_auth: bool,
    /// Extensions switched off (sandboxes and rooms).
    pub extensions: Extensions,
    /// The world's clock: protocol sessions take the time for trace headers and dates from it, never from the
    /// system (a sandbox's clock may run ahead of real time).
    pub clock: crate::clock::Clock,
}

impl Host {
    /// Whether `domain` is this host's own mail domain.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        domain.eq_ignore_ascii_case(self.users.domain())
    }

    /// Whether the host accepts connections now.
    pub fn is_online(&self) -> bool {
        *self.online_watch.borrow()
    }

    /// Whether the host turns SMTP clients away with `421` (busy).
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// Makes the host busy or not, and says so on the event bus.
    pub fn set_busy(&self, busy: bool) {
        if self.busy.swap(busy, Ordering::SeqCst) != busy {
            self.emit(EventKind::BusyChanged { busy });
        }
    }

    /// Whether `protocol` offers extension `name` now.
    pub fn offers(&self, protocol: &str, name: &str) -> bool {
        self.extensions.offers(protocol, name)
    }

    /// Switches an extension and says so on the event bus; false if it cannot be switched.
    pub fn set_extension(&self, protocol: &str, name: &str, on: bool) -> bool {
        if !self.extensions.set(protocol, name, on) {
            return false;
        }
        self.emit(EventKind::ExtensionChanged {
            protocol: protocol.to_ascii_lowercase(),
            name: name.to_ascii_uppercase(),
            on,
        });
        true
    }

    /// Takes the host offline or brings it back, and says so on the event bus.
    pub fn set_online(&self, online: bool) {
        if self.online_watch.send_replace(online) != online {
            self.emit(EventKind::OnlineChanged { online });
        }
    }

    /// Emits an event stamped with this host's name.
    pub fn emit(&self, kind: EventKind) {
        self.events.emit(&self.config.name, kind);
    }
}

impl Host {
    /// A host with an in-memory store, the default limits, no TLS, and the given spool. Users' mailboxes are created.
    /// Sandboxes and tests use this; the world builds durable hosts itself.
    pub fn new_memory(config: &HostConfig, spool: Arc<dyn Submitter>, events: EventBus) -> Host {
        let store: Arc<dyn MailStore> = Arc::new(crate::store::memory::MemoryStore::new());
        for u in &config.users {
            // An in-memory store cannot fail here.
            store.ensure_user(&u.name).expect("memory store");
        }
        Host {
            fqdn: config.fqdn(),
            users: Users::new(&config.domain, config.users.clone()),
            config: config.clone(),
            store,
            spool,
            events,
            limits: Limits::default(),
            locks: Arc::new(MaildropLocks::default()),
            tls: None,
            busy: AtomicBool::new(false),
            online_watch: tokio::sync::watch::Sender::new(true),
            shutdown: tokio::sync::watch::Sender::new(false),
            allow_plaintext_auth: false,
            extensions: Extensions::default(),
            clock: crate::clock::Clock::system(),
        }
    }
}

/// A spool that only remembers what it was given: for protocol tests.
#[derive(Default)]
pub struct CollectingSubmitter {
    /// Every submitted (envelope, message), in order.
    pub messages: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

impl Submitter for CollectingSubmitter {
    fn new_id(&self) -> String {
        let m = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        format!("TEST{:04}", m.len() + 1)
    }

    fn submit(&self, id: String, envelope: Envelope, message: Vec<u8>) -> Result<String, SubmitError> {
        let mut m = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        m.push((envelope, message));
        Ok(id)
    }
}
