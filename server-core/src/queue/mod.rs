//! The queue: store-and-forward.
//!
//! When SMTP accepts a message it calls [`Queue::submit`] (the host's [`Submitter`]). Recipients of the host's own
//! domain are delivered to their mailboxes at once (with `Return-Path:` added, RFC 5321 §4.4); the message is
//! written durably to the [`spool`] for every other recipient, and only then does SMTP answer `250`. A manager task
//! ([`Queue::run`]) then walks the spool: it looks each domain up in the routing table (our stand-in for DNS MX
//! records), connects to the next hop through a pluggable [`Connector`] (TCP in the persistent world, in-memory
//! streams inside a sandbox), and relays with the [`client`]. A temporary failure (refused, timeout, 4xx) defers the
//! recipient on the timing profile's doubling backoff; a permanent one (5xx, no route) or outliving the queue
//! lifetime returns the message to its sender as an RFC 3464 report ([`bounce`]). Nothing sent from `<>` ever
//! bounces, and a message that has travelled through too many hosts is bounced as a loop.
//!
//! Every step is an [`EventKind`] on the world's bus, and every relay attempt's SMTP conversation is recorded.

pub mod bounce;
pub mod client;
pub mod spool;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::auth::Users;
use crate::clock::Clock;
use crate::config::{Route, Timing};
use crate::event::{EventBus, EventKind};
use crate::host::{Envelope, SubmitError, Submitter};
use crate::store::{Flags, MailStore};
use client::{RcptOutcome, RelayJob};
use crate::net::BoxStream;
use spool::{QueuedMessage, RcptState, RcptStatus, SpoolStore};

/// How the relay client reaches a next hop.
pub trait Connector: Send + Sync {
    /// Opens a stream to the route's host.
    fn connect(&self, route: &Route)
    -> Pin<Box<dyn Future<Output = std::io::Result<BoxStream>> + Send + '_>>;
}

/// Delivery attempts one queue runs at once.
const MAX_ATTEMPTS: usize = 32;
/// Attempts at once towards one next-hop domain (RFC 5321 §4.5.4.1 asks senders to limit parallel connections
/// to one destination).
const MAX_PER_DESTINATION: usize = 8;

/// The routing table, shared by a world's queues (ports are filled in once listeners are bound).
pub type Routes = Arc<RwLock<Vec<Route>>>;

/// A queue entry as shown to users (API, playground).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QueueView {
    /// Which host's queue.
    pub host: String,
    /// Queue ID.
    pub id: String,
    /// Sender (`""` for the null sender).
    pub from: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Size in octets.
    pub size: usize,
    /// When it will be returned if still undelivered.
    pub expires_at: DateTime<Utc>,
    /// Pending recipients.
    pub recipients: Vec<RcptState>,
}

/// One host's queue.
pub struct Queue {
    host: String,
    fqdn: String,
    users: Users,
    store: Arc<dyn MailStore>,
    spool: Arc<dyn SpoolStore>,
    events: EventBus,
    routes: Routes,
    connector: Arc<dyn Connector>,
    timing: Timing,
    max_hops: usize,
    /// The world's clock: the queue's only source of time (a sandbox's can be skipped ahead).
    clock: Clock,
    /// Pending messages by ID; the spool holds the durable copy.
    entries: Mutex<BTreeMap<String, QueuedMessage>>,
    /// IDs with an attempt in flight, so one message is never relayed twice at once.
    busy: Mutex<HashSet<String>>,
    /// Attempts in flight per next-hop domain.
    inflight: Mutex<std::collections::HashMap<String, usize>>,
    wake: Notify,
    counter: AtomicU32,
    /// Set when the world shuts down: the manager loop ends.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Queue {
    /// A queue for one host. Call [`Queue::recover`] then spawn [`Queue::run`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: &str,
        fqdn: &str,
        users: Users,
        store: Arc<dyn MailStore>,
        spool: Arc<dyn SpoolStore>,
        events: EventBus,
        routes: Routes,
        connector: Arc<dyn Connector>,
        timing: Timing,
        max_hops: usize,
        clock: Clock,
    ) -> Arc<Queue> {
        Arc::new(Queue {
            host: host.to_string(),
            fqdn: fqdn.to_string(),
            users,
            store,
            spool,
            events,
            routes,
            connector,
            timing,
            max_hops,
            clock,
            entries: Mutex::new(BTreeMap::new()),
            busy: Mutex::new(HashSet::new()),
            inflight: Mutex::new(std::collections::HashMap::new()),
            wake: Notify::new(),
            counter: AtomicU32::new(rand::random::<u16>() as u32),
            stop: tokio::sync::watch::Sender::new(false),
        })
    }

    fn emit(&self, kind: EventKind) {
        self.events.emit(&self.host, kind);
    }

    /// Reloads what the spool holds (after a restart, deferred mail resumes). Returns how many messages.
    pub fn recover(&self) -> std::io::Result<usize> {
        let loaded = self.spool.load()?;
        let n = loaded.len();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for m in loaded {
            entries.insert(m.id.clone(), m);
        }
        self.wake.notify_one();
        Ok(n)
    }

    fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = self.clock.now().timestamp_micros() as u64;
        format!("{:010X}{:05X}", t & 0xFF_FFFF_FFFF, n & 0xF_FFFF)
    }

    fn local_part<'a>(&self, rcpt: &'a str) -> Option<&'a str> {
        let (local, domain) = rcpt.rsplit_once('@')?;
        domain.eq_ignore_ascii_case(self.users.domain()).then_some(local)
    }

    /// Delivers to a local mailbox. Returns the mailbox (`user/INBOX`) or a permanent error text.
    fn deliver_local(&self, id: &str, env: &Envelope, rcpt: &str, data: &[u8]) -> Result<String, String> {
        let local = self.local_part(rcpt).ok_or_else(|| "5.1.2 not a local domain".to_string())?;
        let Some(user) = self.users.resolve(local).map(str::to_string) else {
            return Err(format!("550 5.1.1 <{rcpt}>: no such user here"));
        };
        let mut msg = format!("Return-Path: <{}>\r\nDelivered-To: {rcpt}\r\n", env.mail_from).into_bytes();
        msg.extend_from_slice(data);
        match self.store.append(&user, "INBOX", &msg, &Flags::new(), None) {
            Ok(uid) => {
                self.emit(EventKind::Delivered {
                    id: id.to_string(),
                    rcpt: rcpt.to_string(),
                    mailbox: Some(format!("{user}/INBOX")),
                    mx: None,
                    reply: None,
                });
                self.emit(EventKind::MailboxChanged {
                    user,
                    folder: "INBOX".into(),
                    change: "delivered".into(),
                    uids: vec![uid],
                });
                Ok(format!("{local}/INBOX"))
            }
            Err(e) => Err(format!("451 4.3.0 mailbox unavailable: {e}")),
        }
    }

    /// A copy of the pending queue.
    pub fn snapshot(&self) -> Vec<QueueView> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .values()
            .map(|m| QueueView {
                host: self.host.clone(),
                id: m.id.clone(),
                from: m.envelope.mail_from.clone(),
                received_at: m.received_at,
                size: m.size,
                expires_at: m.received_at
                    + chrono::Duration::from_std(self.timing.lifetime).unwrap_or_default(),
                recipients: m
                    .recipients
                    .iter()
                    .filter(|r| r.status == RcptStatus::Pending)
                    .cloned()
                    .collect(),
            })
            .collect()
    }

    /// Makes every deferred recipient due now ("retry now").
    pub fn retry_now(&self) {
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for m in entries.values_mut() {
            for r in &mut m.recipients {
                if r.status == RcptStatus::Pending {
                    r.next_attempt = now;
                }
            }
        }
        drop(entries);
        self.wake.notify_one();
    }

    /// Makes one message's pending recipients due now ("retry now" in the queue panel). False if it is not queued.
    pub fn retry(&self, id: &str) -> bool {
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(m) = entries.get_mut(id) else { return false };
        for r in m.recipients.iter_mut().filter(|r| r.status == RcptStatus::Pending) {
            r.next_attempt = now;
        }
        drop(entries);
        self.wake.notify_one();
        true
    }

    /// Gives up on one message now, as if it had expired: its pending recipients fail and the sender gets the
    /// delivery status notification ("return to sender now" in the queue panel). False if it is not queued or an
    /// attempt for it is running (try again in a moment).
    pub fn return_to_sender(&self, id: &str) -> bool {
        if self.busy.lock().unwrap_or_else(|e| e.into_inner()).contains(id) {
            return false;
        }
        let Some(mut meta) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned() else {
            return false;
        };
        let data = match self.spool.data(id) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(id, error = %e, "spooled message data unreadable");
                return false;
            }
        };
        let mut failed = Vec::new();
        for r in meta.recipients.iter_mut().filter(|r| r.status == RcptStatus::Pending) {
            r.status = RcptStatus::Failed;
            self.emit(EventKind::Expired { id: id.to_string(), rcpt: r.rcpt.clone() });
            failed.push(bounce::Failed {
                rcpt: r.rcpt.clone(),
                status: "4.4.7".into(),
                diagnostic: format!(
                    "returned to the sender before its expiry, on request; last error: {}",
                    r.last_error.clone().unwrap_or_else(|| "none".into())
                ),
                remote_mta: None,
            });
        }
        if !failed.is_empty() {
            self.bounce(&meta, &data, &failed, true);
        }
        self.persist(meta);
        true
    }

    /// Stops the manager loop (attempts in flight finish; the spool keeps what is pending).
    pub fn stop(&self) {
        self.stop.send_replace(true);
        self.wake.notify_one();
    }

    /// IDs of messages with a recipient due by the clock and no attempt in flight, and the earliest later
    /// attempt (when the manager should look again).
    fn due(&self) -> (Vec<String>, Option<DateTime<Utc>>) {
        let now = self.clock.now();
        let mut next: Option<DateTime<Utc>> = None;
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let due = entries
            .values()
            .filter(|m| !busy.contains(&m.id))
            .filter(|m| {
                let pending = m.recipients.iter().filter(|r| r.status == RcptStatus::Pending);
                match pending.map(|r| r.next_attempt).min() {
                    Some(t) if t <= now => true,
                    Some(t) => {
                        next = Some(next.map_or(t, |n| n.min(t)));
                        false
                    }
                    None => false,
                }
            })
            .map(|m| m.id.clone())
            .collect();
        (due, next)
    }

    /// The domains a message's pending recipients are in (its next hops, local ones included).
    fn destinations(&self, id: &str) -> Vec<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut d: Vec<String> = entries
            .get(id)
            .map(|m| {
                m.recipients
                    .iter()
                    .filter(|r| r.status == RcptStatus::Pending)
                    .map(|r| r.rcpt.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        d.sort();
        d.dedup();
        d
    }

    /// Whether nothing is due now and no attempt is running: the queue waits for its clock.
    pub fn settled(&self) -> bool {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).is_empty() && self.due().0.is_empty()
    }

    /// The earliest next attempt of any pending recipient ("skip to the next retry").
    pub fn next_attempt(&self) -> Option<DateTime<Utc>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .values()
            .flat_map(|m| m.recipients.iter().filter(|r| r.status == RcptStatus::Pending))
            .map(|r| r.next_attempt)
            .min()
    }

    /// When the oldest pending message outlives the queue lifetime ("skip to expiry").
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        let lifetime = chrono::Duration::from_std(self.timing.lifetime).unwrap_or_default();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.values().map(|m| m.received_at + lifetime).min()
    }

    /// Makes the manager look at the queue again (after the clock was skipped ahead).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs one attempt for every message due now, one after the other, and returns how many there were. The
    /// manager loop runs attempts concurrently instead; tests drive the queue with this and a manual clock.
    pub async fn run_due(&self) -> usize {
        let (due, _) = self.due();
        for id in &due {
            self.attempt(id).await;
        }
        due.len()
    }

    /// The manager loop: runs due deliveries, sleeps until the next one is due or something new arrives.
    pub async fn run(self: Arc<Self>) {
        let stop = self.stop.subscribe();
        loop {
            if *stop.borrow() {
                return;
            }
            let (due, next) = self.due();
            for id in due {
                // Bounded: hundreds of messages for a host that comes back must not open hundreds of connections
                // (and file descriptors) at once. A finished attempt wakes the loop for the rest.
                if self.busy.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_ATTEMPTS {
                    break;
                }
                let domains = self.destinations(&id);
                {
                    let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
                    if domains.iter().any(|d| inflight.get(d).is_some_and(|n| *n >= MAX_PER_DESTINATION)) {
                        continue;
                    }
                    for d in &domains {
                        *inflight.entry(d.clone()).or_default() += 1;
                    }
                }
                self.busy.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone());
                let q = self.clone();
                tokio::spawn(async move {
                    q.attempt(&id).await;
                    q.busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    let mut inflight = q.inflight.lock().unwrap_or_else(|e| e.into_inner());
                    for d in &domains {
                        if let Some(n) = inflight.get_mut(d) {
                            *n -= 1;
                            if *n == 0 {
                                inflight.remove(d);
                            }
                        }
                    }
                    drop(inflight);
                    q.wake.notify_one();
                });
            }
            // Clock time and real time run at the same rate between skips, and a skip wakes us.
            let sleep = next.map(|t| self.clock.until(t)).unwrap_or(std::time::Duration::from_secs(3600));
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    fn route(&self, domain: &str) -> Option<Route> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes.iter().find(|r| r.domain.eq_ignore_ascii_case(domain)).cloned()
    }

    /// One delivery attempt for the due recipients of one message.
    async fn attempt(&self, id: &str) {
        let Some(mut meta) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned() else {
            return;
        };
        let data = match self.spool.data(id) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(id, error = %e, "spooled message data unreadable");
                return;
            }
        };
        let now = self.clock.now();
        let lifetime = chrono::Duration::from_std(self.timing.lifetime).unwrap_or_default();
        let expired = now >= meta.received_at + lifetime;
        let mut failed: Vec<bounce::Failed> = Vec::new();
        let mut expired_any = false;

        // Group due recipients by domain: one connection per next hop.
        let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in meta.recipients.iter().filter(|r| r.status == RcptStatus::Pending && r.next_attempt <= now) {
            let domain = r.rcpt.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            by_domain.entry(domain).or_default().push(r.rcpt.clone());
        }
        let mut results: Vec<(String, RcptOutcome, Option<String>)> = Vec::new();
        for (domain, rcpts) in by_domain {
            if self.local_part(&rcpts[0]).is_some() {
                // Local recipients left in the spool (e.g. the mailbox was briefly unavailable).
                for rcpt in rcpts {
                    let o = match self.deliver_local(id, &meta.envelope, &rcpt, &data) {
                        Ok(mb) => RcptOutcome::Delivered(mb),
                        Err(e) if e.starts_with('4') => RcptOutcome::Temporary(e),
                        Err(e) => RcptOutcome::Permanent(e),
                    };
                    results.push((rcpt, o, None));
                }
                continue;
            }
            let route = self.route(&domain);
            for rcpt in &rcpts {
                self.emit(EventKind::Routed {
                    id: id.to_string(),
                    rcpt: rcpt.clone(),
                    domain: domain.clone(),
                    mx: route.as_ref().map(|r| r.mx.clone()),
                    addr: route.as_ref().map(|r| r.addr.clone()),
                });
            }
            let Some(route) = route else {
                for rcpt in rcpts {
                    let o = RcptOutcome::Permanent(format!(
                        "550 5.1.2 no route to domain {domain} (no MX record in the routing table)"
                    ));
                    results.push((rcpt, o, None));
                }
                continue;
            };
            self.emit(EventKind::Connecting {
                id: id.to_string(),
                mx: route.mx.clone(),
                addr: route.addr.clone(),
            });
            let connect =
                tokio::time::timeout(self.timing.relay_timeout, self.connector.connect(&route)).await;
            let stream = match connect {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    for rcpt in rcpts {
                        let o = RcptOutcome::Temporary(format!(
                            "4.4.1 connect to {} ({}) failed: {e}",
                            route.mx, route.addr
                        ));
                        results.push((rcpt, o, Some(route.mx.clone())));
                    }
                    continue;
                }
                Err(_) => {
                    for rcpt in rcpts {
                        let o = RcptOutcome::Temporary(format!("4.4.1 connect to {} timed out", route.mx));
                        results.push((rcpt, o, Some(route.mx.clone())));
                    }
                    continue;
                }
            };
            let job = RelayJob {
                helo: &self.fqdn,
                mx: &route.mx,
                mail_from: &meta.envelope.mail_from,
                rcpts: &rcpts,
                data: &data,
                smtputf8: meta.envelope.smtputf8,
            };
            let report = crate::net::relay(stream, job, self.timing.relay_timeout).await;
            if let Some(tls) = &report.tls {
                self.emit(EventKind::RelayTls {
                    id: id.to_string(),
                    mx: route.mx.clone(),
                    version: tls.version.clone(),
                    cipher: tls.cipher.clone(),
                });
            }
            self.emit(EventKind::RelayTranscript {
                id: id.to_string(),
                mx: route.mx.clone(),
                lines: report.transcript,
            });
            for (rcpt, o) in report.outcomes {
                results.push((rcpt, o, Some(route.mx.clone())));
            }
        }

        for (rcpt, outcome, mx) in results {
            let Some(state) = meta.recipients.iter_mut().find(|r| r.rcpt == rcpt) else { continue };
            state.attempts += 1;
            match outcome {
                RcptOutcome::Delivered(reply) => {
                    state.status = RcptStatus::Delivered;
                    if mx.is_some() {
                        self.emit(EventKind::Delivered {
                            id: id.to_string(),
                            rcpt: rcpt.clone(),
                            mailbox: None,
                            mx: mx.clone(),
                            reply: Some(reply),
                        });
                    }
                }
                RcptOutcome::Temporary(reason) if !expired => {
                    let delay =
                        chrono::Duration::from_std(self.timing.backoff(state.attempts)).unwrap_or_default();
                    state.next_attempt = self.clock.now() + delay;
                    state.last_error = Some(reason.clone());
                    self.emit(EventKind::Deferred {
                        id: id.to_string(),
                        rcpt: rcpt.clone(),
                        reason,
                        attempt: state.attempts,
                        next_attempt: state.next_attempt,
                    });
                }
                RcptOutcome::Temporary(reason) => {
                    state.status = RcptStatus::Failed;
                    state.last_error = Some(reason.clone());
                    expired_any = true;
                    self.emit(EventKind::Expired { id: id.to_string(), rcpt: rcpt.clone() });
                    failed.push(bounce::Failed {
                        rcpt: rcpt.clone(),
                        status: "4.4.7".into(),
                        diagnostic: format!("delivery time expired; last error: {reason}"),
                        remote_mta: mx,
                    });
                }
                RcptOutcome::Permanent(reason) => {
                    state.status = RcptStatus::Failed;
                    state.last_error = Some(reason.clone());
                    failed.push(bounce::Failed {
                        rcpt: rcpt.clone(),
                        status: bounce::status_of(&reason, true),
                        diagnostic: reason,
                        remote_mta: mx,
                    });
                }
            }
        }
        // A recipient can also outlive the lifetime without being due (a long backoff): expire it now.
        if expired {
            for state in meta.recipients.iter_mut().filter(|r| r.status == RcptStatus::Pending) {
                state.status = RcptStatus::Failed;
                expired_any = true;
                self.emit(EventKind::Expired { id: id.to_string(), rcpt: state.rcpt.clone() });
                failed.push(bounce::Failed {
                    rcpt: state.rcpt.clone(),
                    status: "4.4.7".into(),
                    diagnostic: format!(
                        "delivery time expired; last error: {}",
                        state.last_error.clone().unwrap_or_default()
                    ),
                    remote_mta: None,
                });
            }
        }
        if !failed.is_empty() {
            self.bounce(&meta, &data, &failed, expired_any);
        }
        self.persist(meta);
    }

    /// Writes the new state, or removes the message once every recipient is final.
    fn persist(&self, meta: QueuedMessage) {
        let done = meta.recipients.iter().all(|r| r.status != RcptStatus::Pending);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if done {
            entries.remove(&meta.id);
            drop(entries);
            if let Err(e) = self.spool.remove(&meta.id) {
                tracing::error!(id = meta.id, error = %e, "could not remove delivered message from the spool");
            }
        } else {
            entries.insert(meta.id.clone(), meta.clone());
            drop(entries);
            if let Err(e) = self.spool.update(&meta) {
                tracing::error!(id = meta.id, error = %e, "could not update spool entry");
            }
        }
    }

    /// Returns failed recipients to the sender as one DSN; never for the null sender.
    fn bounce(&self, meta: &QueuedMessage, data: &[u8], failed: &[bounce::Failed], expired: bool) {
        let sender = meta.envelope.mail_from.clone();
        if sender.is_empty() {
            for f in failed {
                self.emit(EventKind::Bounced {
                    id: meta.id.clone(),
                    rcpt: f.rcpt.clone(),
                    reason: format!("{} (sent from <>: no report, to avoid loops)", f.diagnostic),
                    dsn_to: None,
                });
            }
            return;
        }
        for f in failed {
            self.emit(EventKind::Bounced {
                id: meta.id.clone(),
                rcpt: f.rcpt.clone(),
                reason: f.diagnostic.clone(),
                dsn_to: Some(sender.clone()),
            });
        }
        let dsn = bounce::build(&bounce::Report {
            reporting_mta: &self.fqdn,
            queue_id: &meta.id,
            to: &sender,
            arrival: meta.received_at,
            failed,
            original: data,
            expired,
            now: self.clock.now(),
        });
        let env = Envelope {
            mail_from: String::new(),
            // A sender with a UTF-8 address gets its report over SMTPUTF8 too.
            smtputf8: !sender.is_ascii(),
            rcpt_to: vec![sender],
            helo: self.fqdn.clone(),
            peer: "localhost (bounce)".into(),
            auth_user: None,
        };
        let mut msg = format!(
            "Received: by {} (Mailroom) id {}; {}\r\n",
            self.fqdn,
            meta.id,
            self.clock.now().to_rfc2822()
        )
        .into_bytes();
        msg.extend_from_slice(&dsn);
        if let Err(e) = self.submit(self.next_id(), env, msg) {
            tracing::error!(id = meta.id, error = %e, "could not queue bounce");
        }
    }
}

#[cfg(test)]
mod tests;

/// Counts `Received:` header fields in a message's header block.
fn count_received(msg: &[u8]) -> usize {
    bounce::header_block(msg)
        .split(|b| *b == b'\n')
        .filter(|l| l.len() >= 9 && l[..9].eq_ignore_ascii_case(b"received:"))
        .count()
}

impl Submitter for Queue {
    fn new_id(&self) -> String {
        self.next_id()
    }

    fn submit(&self, id: String, envelope: Envelope, message: Vec<u8>) -> Result<String, SubmitError> {
        // IDs name spool files: never trust one blindly.
        let id = if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            id
        } else {
            self.next_id()
        };
        let now = self.clock.now();
        let received = EventKind::Received {
            id: id.clone(),
            from: envelope.mail_from.clone(),
            to: envelope.rcpt_to.clone(),
            size: message.len(),
            via: envelope.peer.clone(),
        };
        let pending = |rcpt: &String| RcptState {
            rcpt: rcpt.clone(),
            status: RcptStatus::Pending,
            attempts: 0,
            next_attempt: now,
            last_error: None,
        };
        let mut meta = QueuedMessage {
            id: id.clone(),
            envelope: envelope.clone(),
            received_at: now,
            size: message.len(),
            recipients: Vec::new(),
        };

        if count_received(&message) > self.max_hops {
            self.emit(received);
            let failed: Vec<bounce::Failed> = envelope
                .rcpt_to
                .iter()
                .map(|rcpt| bounce::Failed {
                    rcpt: rcpt.clone(),
                    status: "5.4.6".into(),
                    diagnostic: format!("554 5.4.6 mail loop: more than {} Received: headers", self.max_hops),
                    remote_mta: None,
                })
                .collect();
            self.bounce(&meta, &message, &failed, false);
            return Ok(id);
        }

        let (local, remote): (Vec<String>, Vec<String>) =
            envelope.rcpt_to.iter().cloned().partition(|r| self.local_part(r).is_some());
        // With a recipient to relay, the spool must hold the message before anything else happens: if that write
        // fails the client is told 451 and sends again, so no local copy may exist yet (it would arrive twice).
        // The local recipients are spooled as pending too and marked delivered just below.
        let spooled_first = !remote.is_empty();
        if spooled_first {
            meta.recipients = local.iter().chain(&remote).map(pending).collect();
            self.spool.put(&meta, &message)?;
        }
        // Durable from here (spooled, or about to be appended to a Maildir that fsyncs).
        self.emit(received);
        let mut failed = Vec::new();
        let mut kept_local = Vec::new();
        for rcpt in &local {
            match self.deliver_local(&id, &envelope, rcpt, &message) {
                Ok(_) => {}
                // A transient store failure: keep this recipient in the spool and retry.
                Err(e) if e.starts_with('4') => {
                    kept_local.push(RcptState { last_error: Some(e), ..pending(rcpt) })
                }
                Err(e) => failed.push(bounce::Failed {
                    rcpt: rcpt.clone(),
                    status: bounce::status_of(&e, true),
                    diagnostic: e,
                    remote_mta: None,
                }),
            }
        }
        meta.recipients = kept_local.into_iter().chain(remote.iter().map(pending)).collect();
        if !failed.is_empty() {
            self.bounce(&meta, &message, &failed, false);
        }
        if meta.recipients.is_empty() {
            return Ok(id);
        }
        let written = if spooled_first { self.spool.update(&meta) } else { self.spool.put(&meta, &message) };
        if let Err(e) = written {
            if !spooled_first {
                // Only local recipients, some of them delivered: the others are not durable, so the client must
                // retry (the delivered ones will get a second copy; a store that fails transiently and a spool
                // that fails at once are both needed for that).
                return Err(e.into());
            }
            // The spool still lists the local recipients as pending: after a crash they would be delivered again,
            // which is better than losing the remote ones.
            tracing::error!(id, error = %e, "could not record local deliveries in the spool");
        }
        for r in &meta.recipients {
            self.emit(EventKind::Queued { id: id.clone(), rcpt: r.rcpt.clone() });
        }
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), meta);
        self.wake.notify_one();
        Ok(id)
    }
}
