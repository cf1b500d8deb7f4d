//! The queue's decisions, without I/O: which messages wait, which attempts may start now, what a finished attempt
//! means for each recipient (delivered, deferred on the doubling backoff, expired, failed), what to bounce, what to
//! write to the spool, which events to emit, and when to look again.
//!
//! [`QueueState`] is owned by the queue's worker (`super::Worker`), which performs every action it returns. Time
//! comes in as an argument (`now`): nothing here reads a clock, touches the spool or a socket, or knows about Tokio,
//! so the schedule, expiry, bounds and bounces are tested below on a virtual clock in milliseconds.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::QueueView;
use super::bounce;
use super::client::RcptOutcome;
use super::spool::{QueuedMessage, RcptStatus};
use crate::config::Timing;
use crate::event::EventKind;

/// Delivery attempts one queue runs at once: hundreds of messages for a host that comes back must not open hundreds
/// of connections (and file descriptors) at once.
pub const MAX_ATTEMPTS: usize = 32;
/// Attempts at once towards one next-hop domain (RFC 5321 §4.5.4.1 asks senders to limit parallel connections
/// to one destination).
pub const MAX_PER_DESTINATION: usize = 8;

/// Recipients of one message that one attempt tries, grouped by next hop.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// The message as it stood when the attempt started.
    pub meta: QueuedMessage,
    /// The recipients of the host's own domain left in the spool (their mailbox was unavailable).
    pub local: Vec<String>,
    /// The other due recipients by domain (lower case): one connection per next hop.
    pub remote: Vec<(String, Vec<String>)>,
}

/// What happened to one recipient in an attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct RcptResult {
    /// The recipient.
    pub rcpt: String,
    /// Its outcome.
    pub outcome: RcptOutcome,
    /// The next hop that gave it, if one was reached (`None` for local delivery and for "no route").
    pub mx: Option<String>,
}

/// A delivery status notification to send (never for the null sender).
#[derive(Clone, Debug)]
pub struct Bounce {
    /// The message being returned.
    pub meta: QueuedMessage,
    /// Its recipients that failed.
    pub failed: Vec<bounce::Failed>,
    /// Whether they failed because the message outlived the queue lifetime.
    pub expired: bool,
}

/// What the spool must record for a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Persist {
    /// Rewrite its state: some recipients are still pending.
    Update(QueuedMessage),
    /// Remove it: every recipient is final.
    Remove(String),
}

/// What the worker must do after a decision, in this order: emit the events, send the report, write the spool.
#[derive(Clone, Debug)]
pub struct Actions {
    /// Events, in the order things happened.
    pub events: Vec<EventKind>,
    /// A report to the sender, if there is one to send.
    pub bounce: Option<Bounce>,
    /// The spool write.
    pub persist: Persist,
}

/// One host's queue: the pending messages and the attempts in flight.
#[derive(Debug)]
pub struct QueueState {
    /// Queue timing (backoff, lifetime).
    timing: Timing,
    /// The host's own domain: its recipients are delivered locally, never relayed.
    local_domain: String,
    /// Attempts at once, in all.
    max_attempts: usize,
    /// Attempts at once per next-hop domain.
    max_per_destination: usize,
    /// Pending messages by ID; the spool holds the durable copy.
    entries: BTreeMap<String, QueuedMessage>,
    /// IDs with an attempt in flight (so one message is never tried twice at once) and the destinations counted for
    /// it in `per_destination`.
    busy: HashMap<String, Vec<String>>,
    /// Attempts in flight per next-hop domain.
    per_destination: HashMap<String, usize>,
}

/// The domain of an address, lower case (`""` without one).
fn domain_of(rcpt: &str) -> String {
    rcpt.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default()
}

fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Counts `Received:` header fields in a message's header block.
pub fn count_received(msg: &[u8]) -> usize {
    bounce::header_block(msg)
        .split(|b| *b == b'\n')
        .filter(|l| l.len() >= 9 && l[..9].eq_ignore_ascii_case(b"received:"))
        .count()
}

/// If `msg` has travelled through more than `max_hops` hosts (RFC 5321 §6.3), the failure of every recipient;
/// `None` if it may be delivered.
pub fn loop_failures(msg: &[u8], rcpts: &[String], max_hops: usize) -> Option<Vec<bounce::Failed>> {
    (count_received(msg) > max_hops).then(|| {
        rcpts
            .iter()
            .map(|rcpt| bounce::Failed {
                rcpt: rcpt.clone(),
                status: "5.4.6".into(),
                diagnostic: format!("554 5.4.6 mail loop: more than {max_hops} Received: headers"),
                remote_mta: None,
            })
            .collect()
    })
}

/// Returning `failed` recipients of `meta`: the `Bounced` events and the report to send, none for the null sender
/// (a report about a report could loop forever, RFC 5321 §6.1).
pub fn return_failed(
    meta: &QueuedMessage,
    failed: Vec<bounce::Failed>,
    expired: bool,
) -> (Vec<EventKind>, Option<Bounce>) {
    let sender = &meta.envelope.mail_from;
    let events = failed
        .iter()
        .map(|f| EventKind::Bounced {
            id: meta.id.clone(),
            rcpt: f.rcpt.clone(),
            reason: if sender.is_empty() {
                format!("{} (sent from <>: no report, to avoid loops)", f.diagnostic)
            } else {
                f.diagnostic.clone()
            },
            dsn_to: (!sender.is_empty()).then(|| sender.clone()),
        })
        .collect();
    let report =
        (!sender.is_empty() && !failed.is_empty()).then(|| Bounce { meta: meta.clone(), failed, expired });
    (events, report)
}

impl QueueState {
    /// An empty queue for the host of `local_domain`.
    pub fn new(local_domain: &str, timing: Timing) -> QueueState {
        QueueState {
            timing,
            local_domain: local_domain.to_ascii_lowercase(),
            max_attempts: MAX_ATTEMPTS,
            max_per_destination: MAX_PER_DESTINATION,
            entries: BTreeMap::new(),
            busy: HashMap::new(),
            per_destination: HashMap::new(),
        }
    }

    /// The same with other bounds on attempts at once (tests).
    #[cfg(test)]
    fn with_bounds(mut self, max_attempts: usize, max_per_destination: usize) -> QueueState {
        self.max_attempts = max_attempts;
        self.max_per_destination = max_per_destination;
        self
    }

    /// Adds a message that is in the spool (newly accepted, or reloaded after a restart).
    pub fn insert(&mut self, meta: QueuedMessage) {
        self.entries.insert(meta.id.clone(), meta);
    }

    /// Whether the message is queued.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Whether an attempt is in flight.
    pub fn attempting(&self) -> bool {
        !self.busy.is_empty()
    }

    fn pending(m: &QueuedMessage) -> impl Iterator<Item = &super::spool::RcptState> {
        m.recipients.iter().filter(|r| r.status == RcptStatus::Pending)
    }

    /// IDs of messages with a recipient due at `now` and no attempt in flight.
    fn due(&self, now: DateTime<Utc>) -> impl Iterator<Item = &QueuedMessage> {
        self.entries.values().filter(move |m| {
            !self.busy.contains_key(&m.id) && Self::pending(m).any(|r| r.next_attempt <= now)
        })
    }

    /// Whether nothing is due at `now` and no attempt is in flight: the queue waits for its clock.
    pub fn settled(&self, now: DateTime<Utc>) -> bool {
        self.busy.is_empty() && self.due(now).next().is_none()
    }

    /// When the worker must look again after `now`: the earliest later attempt of a message with no attempt in
    /// flight. What is due already but waits for a slot starts when an attempt finishes, which is a reason to look
    /// again by itself (so a full queue does not spin).
    pub fn wake_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries
            .values()
            .filter(|m| !self.busy.contains_key(&m.id))
            .flat_map(Self::pending)
            .map(|r| r.next_attempt)
            .filter(|t| *t > now)
            .min()
    }

    /// The earliest next attempt of any pending recipient ("skip to the next retry").
    pub fn next_attempt(&self) -> Option<DateTime<Utc>> {
        self.entries.values().flat_map(Self::pending).map(|r| r.next_attempt).min()
    }

    /// When the oldest pending message outlives the queue lifetime ("skip to expiry").
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.entries.values().map(|m| m.received_at + to_chrono(self.timing.lifetime)).min()
    }

    /// The queue as shown to users.
    pub fn views(&self, host: &str) -> Vec<QueueView> {
        self.entries
            .values()
            .map(|m| QueueView {
                host: host.to_string(),
                id: m.id.clone(),
                from: m.envelope.mail_from.clone(),
                received_at: m.received_at,
                size: m.size,
                expires_at: m.received_at + to_chrono(self.timing.lifetime),
                recipients: Self::pending(m).cloned().collect(),
            })
            .collect()
    }

    /// IDs with an attempt in flight.
    pub fn busy_ids(&self) -> impl Iterator<Item = &String> {
        self.busy.keys()
    }

    /// Starts an attempt for every message due at `now`, as far as the bounds allow (the rest start when an
    /// attempt finishes). Each message is marked busy until [`QueueState::finish`].
    pub fn start_due(&mut self, now: DateTime<Utc>) -> Vec<Attempt> {
        let due: Vec<String> = self.due(now).map(|m| m.id.clone()).collect();
        let mut started = Vec::new();
        for id in due {
            if self.busy.len() >= self.max_attempts {
                break;
            }
            let meta = &self.entries[&id];
            let mut local = Vec::new();
            let mut remote: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in Self::pending(meta).filter(|r| r.next_attempt <= now) {
                let domain = domain_of(&r.rcpt);
                if domain == self.local_domain {
                    local.push(r.rcpt.clone());
                } else {
                    remote.entry(domain).or_default().push(r.rcpt.clone());
                }
            }
            // Every pending recipient's domain counts, as before: the message holds them all while it is busy.
            let mut destinations: Vec<String> = Self::pending(meta).map(|r| domain_of(&r.rcpt)).collect();
            destinations.sort();
            destinations.dedup();
            if destinations
                .iter()
                .any(|d| self.per_destination.get(d).is_some_and(|n| *n >= self.max_per_destination))
            {
                continue;
            }
            for d in &destinations {
                *self.per_destination.entry(d.clone()).or_default() += 1;
            }
            started.push(Attempt { meta: meta.clone(), local, remote: remote.into_iter().collect() });
            self.busy.insert(id, destinations);
        }
        started
    }

    /// Frees the attempt's slots.
    fn release(&mut self, id: &str) {
        for d in self.busy.remove(id).unwrap_or_default() {
            if let Some(n) = self.per_destination.get_mut(&d) {
                *n -= 1;
                if *n == 0 {
                    self.per_destination.remove(&d);
                }
            }
        }
    }

    /// An attempt that could not run at all (its data was unreadable): frees its slots, changes nothing else.
    pub fn abandon(&mut self, id: &str) {
        self.release(id);
    }

    /// Applies an attempt's results at `now`: delivered recipients are final, temporary failures wait on the
    /// doubling backoff, permanent ones fail, and once the message outlives the queue lifetime every pending
    /// recipient expires. `None` if the message is not queued.
    pub fn finish(&mut self, id: &str, results: Vec<RcptResult>, now: DateTime<Utc>) -> Option<Actions> {
        self.release(id);
        let mut meta = self.entries.get(id)?.clone();
        let expired = now >= meta.received_at + to_chrono(self.timing.lifetime);
        let mut events = Vec::new();
        let mut failed = Vec::new();
        let mut expired_any = false;
        for RcptResult { rcpt, outcome, mx } in results {
            let Some(state) = meta.recipients.iter_mut().find(|r| r.rcpt == rcpt) else { continue };
            state.attempts += 1;
            match outcome {
                RcptOutcome::Delivered(reply) => {
                    state.status = RcptStatus::Delivered;
                    // Local deliveries announce themselves as they happen (with their mailbox).
                    if mx.is_some() {
                        events.push(EventKind::Delivered {
                            id: id.to_string(),
                            rcpt: rcpt.clone(),
                            mailbox: None,
                            mx,
                            reply: Some(reply),
                        });
                    }
                }
                RcptOutcome::Temporary(reason) if !expired => {
                    state.next_attempt = now + to_chrono(self.timing.backoff(state.attempts));
                    state.last_error = Some(reason.clone());
                    events.push(EventKind::Deferred {
                        id: id.to_string(),
                        rcpt,
                        reason,
                        attempt: state.attempts,
                        next_attempt: state.next_attempt,
                    });
                }
                RcptOutcome::Temporary(reason) => {
                    state.status = RcptStatus::Failed;
                    state.last_error = Some(reason.clone());
                    expired_any = true;
                    events.push(EventKind::Expired { id: id.to_string(), rcpt: rcpt.clone() });
                    failed.push(bounce::Failed {
                        rcpt,
                        status: "4.4.7".into(),
                        diagnostic: format!("delivery time expired; last error: {reason}"),
                        remote_mta: mx,
                    });
                }
                RcptOutcome::Permanent(reason) => {
                    state.status = RcptStatus::Failed;
                    state.last_error = Some(reason.clone());
                    failed.push(bounce::Failed {
                        rcpt,
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
                events.push(EventKind::Expired { id: id.to_string(), rcpt: state.rcpt.clone() });
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
        Some(self.conclude(meta, events, failed, expired_any))
    }

    /// The bounce and spool write for `meta` after a decision.
    fn conclude(
        &mut self,
        meta: QueuedMessage,
        mut events: Vec<EventKind>,
        failed: Vec<bounce::Failed>,
        expired: bool,
    ) -> Actions {
        let (bounced, report) = return_failed(&meta, failed, expired);
        events.extend(bounced);
        let persist = if meta.recipients.iter().all(|r| r.status != RcptStatus::Pending) {
            self.entries.remove(&meta.id);
            Persist::Remove(meta.id)
        } else {
            self.entries.insert(meta.id.clone(), meta.clone());
            Persist::Update(meta)
        };
        Actions { events, bounce: report, persist }
    }

    /// Makes every pending recipient due at `now` ("retry now").
    pub fn retry_all(&mut self, now: DateTime<Utc>) {
        for m in self.entries.values_mut() {
            for r in m.recipients.iter_mut().filter(|r| r.status == RcptStatus::Pending) {
                r.next_attempt = now;
            }
        }
    }

    /// Makes one message's pending recipients due at `now`. False if it is not queued.
    pub fn retry(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        let Some(m) = self.entries.get_mut(id) else { return false };
        for r in m.recipients.iter_mut().filter(|r| r.status == RcptStatus::Pending) {
            r.next_attempt = now;
        }
        true
    }

    /// Gives up on one message as if it had expired: its pending recipients fail and the sender gets a report.
    /// `None` if it is not queued or an attempt for it is in flight.
    pub fn return_to_sender(&mut self, id: &str) -> Option<Actions> {
        if self.busy.contains_key(id) {
            return None;
        }
        let mut meta = self.entries.get(id)?.clone();
        let mut events = Vec::new();
        let mut failed = Vec::new();
        for r in meta.recipients.iter_mut().filter(|r| r.status == RcptStatus::Pending) {
            r.status = RcptStatus::Failed;
            events.push(EventKind::Expired { id: id.to_string(), rcpt: r.rcpt.clone() });
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
        Some(self.conclude(meta, events, failed, true))
    }
}

#[cfg(test)]
mod tests;
