//! Structured events: what the playground's live picture animates and the event log prints.
//!
//! Every step of a message's life (received, queued, routed, connecting, TLS established, delivered, deferred,
//! bounced, expired) and every mailbox action (POP3 retrieve/delete, IMAP flag/expunge...) becomes an [`Event`]
//! on the world's [`EventBus`]. Events are serde-serialisable so the proxy can forward them as JSON unchanged.

#[cfg(feature = "server")]
use std::collections::VecDeque;
#[cfg(feature = "server")]
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
#[cfg(feature = "server")]
use tokio::sync::broadcast;

/// One thing that happened in the world.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Which host it happened on (`mx1`).
    pub host: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// One line of a recorded SMTP conversation between two servers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TranscriptLine {
    /// Milliseconds since the connection opened.
    pub ms: u64,
    /// The relaying client wrote it, the next hop answered, or a note (TLS established).
    pub dir: crate::wire::Dir,
    /// The line without its CRLF.
    pub line: String,
}

/// What happened. Names are in the past tense.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A protocol session was opened on one of the host's services.
    SessionOpened { service: String, peer: String },
    /// A protocol session ended.
    SessionClosed { service: String, peer: String, reason: String },
    /// A TLS handshake completed on an incoming session.
    TlsAccepted { service: String, version: String, cipher: String },
    /// A user authenticated.
    LoggedIn { protocol: String, user: String },
    /// A login failed (the user name as given; never the password).
    LoginFailed { protocol: String, user: String },
    /// SMTP accepted a message: it is now durable in the spool.
    Received { id: String, from: String, to: Vec<String>, size: usize, via: String },
    /// A recipient of a spooled message was put on the queue.
    Queued { id: String, rcpt: String },
    /// The routing table (our stand-in for DNS MX) was consulted.
    Routed { id: String, rcpt: String, domain: String, mx: Option<String>, addr: Option<String> },
    /// The relay client began connecting to the next hop.
    Connecting { id: String, mx: String, addr: String },
    /// The relay link upgraded with STARTTLS.
    RelayTls { id: String, mx: String, version: String, cipher: String },
    /// A recipient's copy reached its mailbox (`mailbox` = `user/folder`) or the next hop (`mx`).
    Delivered { id: String, rcpt: String, mailbox: Option<String>, mx: Option<String>, reply: Option<String> },
    /// A temporary failure: the recipient stays queued.
    Deferred { id: String, rcpt: String, reason: String, attempt: u32, next_attempt: DateTime<Utc> },
    /// A permanent failure or expiry: a DSN went back to the sender (or nowhere, for the null sender).
    Bounced { id: String, rcpt: String, reason: String, dsn_to: Option<String> },
    /// A message outlived the queue lifetime.
    Expired { id: String, rcpt: String },
    /// The complete SMTP conversation of one relay attempt.
    RelayTranscript { id: String, mx: String, lines: Vec<TranscriptLine> },
    /// The host was taken offline or brought back online.
    OnlineChanged { online: bool },
    /// The host became busy (turns SMTP clients away with 421) or ready again.
    BusyChanged { busy: bool },
    /// An extension was switched on or off (it is advertised and accepted only while on).
    ExtensionChanged { protocol: String, name: String, on: bool },
    /// A mailbox changed (delivery, POP3 or IMAP action).
    MailboxChanged { user: String, folder: String, change: String, uids: Vec<u32> },
    /// A POP3 session retrieved a message (RETR or TOP).
    Retrieved { user: String, uid: String, size: u64 },
    /// A POP3 session marked a message deleted (it is removed only at QUIT).
    MarkedDeleted { user: String, uid: String },
    /// A POP3 session's UPDATE state removed messages.
    Removed { user: String, count: usize },
}

/// The world's event channel, with a short memory so a newcomer sees recent history.
#[cfg(feature = "server")]
#[derive(Clone)]
pub struct EventBus {
    // Events travel as `Arc`s: a channel slot is then a pointer, not a 168-byte `Event`, which matters for the
    // thousands of sandboxes a proxy holds (every slot is allocated up front).
    tx: broadcast::Sender<Arc<Event>>,
    recent: Arc<Mutex<VecDeque<Event>>>,
    /// Stamps events with the world's time (a sandbox's clock can be skipped ahead).
    clock: crate::clock::Clock,
}

/// How many past events a bus keeps for late subscribers.
#[cfg(feature = "server")]
const RECENT: usize = 500;

#[cfg(feature = "server")]
impl Default for EventBus {
    fn default() -> Self {
        EventBus::with_capacity(1024)
    }
}

#[cfg(feature = "server")]
impl EventBus {
    /// A bus whose live channel holds `capacity` events per subscriber before a slow one lags. Tokio allocates
    /// every slot up front, so an in-memory sandbox (thousands of them per proxy, a handful of events a second
    /// each) asks for few; the persistent world, fed by real clients at full speed, keeps the default.
    pub fn with_capacity(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx, recent: Arc::new(Mutex::new(VecDeque::new())), clock: crate::clock::Clock::system() }
    }

    /// The same bus, stamping events with `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Publishes an event for `host` stamped with the current time.
    pub fn emit(&self, host: &str, kind: EventKind) {
        let ev = Event { at: self.clock.now(), host: host.to_string(), kind };
        tracing::debug!(host, event = ?ev.kind, "event");
        {
            // The lock is never held across an await; poisoning only follows a panic elsewhere.
            let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if r.len() == RECENT {
                r.pop_front();
            }
            r.push_back(ev.clone());
        }
        // No subscriber is not an error.
        let _ = self.tx.send(Arc::new(ev));
    }

    /// A live feed of future events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// The most recent events, oldest first.
    pub fn recent(&self) -> Vec<Event> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}
