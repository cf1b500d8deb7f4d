//! The queue: store-and-forward.
//!
//! When SMTP accepts a message it calls [`Queue::submit`] (the host's [`Submitter`]), in its own blocking thread:
//! the message is written durably to the [`spool`] if any recipient is not of the host's own domain, then the
//! local recipients get their copies (with `Return-Path:` added, RFC 5321 §4.4), then the `Received` event is said,
//! and only then does SMTP answer `250`. A failed spool write acknowledges nothing and delivers nothing.
//!
//! What is left to relay goes to the queue's [`Worker`], a task that owns the queue's state ([`state::QueueState`],
//! where every decision is made without I/O, with the time passed in) and is fed commands on a channel: new
//! messages, "retry now", "return to sender", a skip of the clock, stop, and the reports of the attempts it
//! started. Its only time is the world's [`Clock`]. For each due message it starts an attempt as a task, at most 32
//! at once and 8 per destination domain: the attempt looks each domain up in the routing table (our stand-in for
//! DNS MX records), connects to the next hop through a pluggable [`Connector`] (TCP in the persistent world,
//! in-memory streams inside a sandbox), relays with the [`client`] dialogue driven by `crate::net::relay`, and
//! reports back. A temporary failure (refused, timeout, 4xx) defers the recipient on the timing profile's doubling
//! backoff; a permanent one (5xx, no route) or outliving the queue lifetime returns the message to its sender as an
//! RFC 3464 report ([`bounce`]). Nothing sent from `<>` ever bounces, and a message that has travelled through too
//! many hosts is bounced as a loop. After each command the worker publishes a summary that the synchronous queries
//! ([`Queue::snapshot`], [`Queue::settled`], ...) read.
//!
//! Every step is an [`EventKind`] on the world's bus, and every relay attempt's SMTP conversation is recorded.

pub mod bounce;
pub mod client;
pub mod spool;
pub mod state;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::auth::Users;
use crate::clock::Clock;
use crate::config::{Route, Timing};
use crate::event::{EventBus, EventKind};
use crate::host::{Envelope, SubmitError, Submitter};
use crate::net::BoxStream;
use crate::store::{Flags, MailStore};
use client::{RcptOutcome, RelayJob};
use spool::{QueuedMessage, RcptState, RcptStatus, SpoolStore};
use state::{Actions, Attempt, Persist, QueueState, RcptResult};

/// How the relay client reaches a next hop.
pub trait Connector: Send + Sync {
    /// Opens a stream to the route's host.
    fn connect(&self, route: &Route)
    -> Pin<Box<dyn Future<Output = std::io::Result<BoxStream>> + Send + '_>>;
}

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

/// What the worker is told.
#[derive(Debug)]
enum Command {
    /// A message is in the spool and waits for relay (from [`Submitter::submit`]).
    Queued(QueuedMessage),
    /// Make every pending recipient due now.
    RetryAll,
    /// Make one message's pending recipients due now.
    Retry(String),
    /// Return one message to its sender now.
    Return(String),
    /// The clock was skipped: look again.
    Wake,
    /// An attempt ended (`None`: it could not run, its data was unreadable).
    Finished { id: String, results: Option<Vec<RcptResult>> },
    /// Start no more attempts; end once those in flight have reported.
    Stop,
}

/// The worker's state as synchronous callers see it, republished after every command.
#[derive(Debug, Default)]
struct Summary {
    views: Vec<QueueView>,
    busy: HashSet<String>,
    next_attempt: Option<DateTime<Utc>>,
    next_expiry: Option<DateTime<Utc>>,
}

/// The way to the worker. It counts commands sent and not yet handled, so that [`Queue::settled`] is false until
/// the worker has acted on the last one (a skip, a retry, a finished attempt).
#[derive(Clone)]
struct Mailbox {
    tx: mpsc::UnboundedSender<Command>,
    unhandled: Arc<AtomicUsize>,
}

impl Mailbox {
    fn send(&self, cmd: Command) {
        self.unhandled.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(cmd).is_err() {
            // The worker has stopped: nothing will handle it.
            self.unhandled.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// What the handle, the worker and its attempts share: the host's mailboxes, spool and next hops.
struct Ctx {
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
    counter: AtomicU32,
}

/// One host's queue, as its callers hold it: SMTP's [`Submitter`], and the queries and switches of the API and
/// playground. The state lives in its [`Worker`].
pub struct Queue {
    ctx: Arc<Ctx>,
    mailbox: Mailbox,
    summary: watch::Receiver<Arc<Summary>>,
}

/// The task that owns one host's [`QueueState`]: it handles commands from the [`Queue`] handle, starts attempts as
/// tasks that report back on the same channel, and performs what the state decides (events, reports, spool writes).
pub struct Worker {
    ctx: Arc<Ctx>,
    state: QueueState,
    rx: mpsc::UnboundedReceiver<Command>,
    /// Weak, so that the worker ends once every handle is gone; attempts upgrade it to report back.
    tx: mpsc::WeakUnboundedSender<Command>,
    unhandled: Arc<AtomicUsize>,
    summary: watch::Sender<Arc<Summary>>,
    /// Told to stop: start nothing, end when the last attempt has reported.
    stopping: bool,
}

impl Queue {
    /// A queue for one host and its worker. Call [`Queue::recover`], then spawn [`Worker::run`].
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
    ) -> (Arc<Queue>, Worker) {
        let state = QueueState::new(users.domain(), timing);
        let ctx = Arc::new(Ctx {
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
            counter: AtomicU32::new(crate::rt::random_u64() as u16 as u32),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let unhandled = Arc::new(AtomicUsize::new(0));
        let (summary, summary_rx) = watch::channel(Arc::new(Summary::default()));
        let worker = Worker {
            ctx: ctx.clone(),
            state,
            rx,
            tx: tx.downgrade(),
            unhandled: unhandled.clone(),
            summary,
            stopping: false,
        };
        (Arc::new(Queue { ctx, mailbox: Mailbox { tx, unhandled }, summary: summary_rx }), worker)
    }

    /// A copy of the pending queue, as the worker last published it.
    pub fn snapshot(&self) -> Vec<QueueView> {
        self.summary.borrow().views.clone()
    }

    /// Makes every deferred recipient due now ("retry now").
    pub fn retry_now(&self) {
        self.mailbox.send(Command::RetryAll);
    }

    /// Makes one message's pending recipients due now ("retry now" in the queue panel). False if it is not queued.
    pub fn retry(&self, id: &str) -> bool {
        if !self.summary.borrow().views.iter().any(|v| v.id == id) {
            return false;
        }
        self.mailbox.send(Command::Retry(id.to_string()));
        true
    }

    /// Gives up on one message now, as if it had expired: its pending recipients fail and the sender gets the
    /// delivery status notification ("return to sender now" in the queue panel). False if it is not queued or an
    /// attempt for it is running (try again in a moment).
    pub fn return_to_sender(&self, id: &str) -> bool {
        {
            let s = self.summary.borrow();
            if s.busy.contains(id) || !s.views.iter().any(|v| v.id == id) {
                return false;
            }
        }
        self.mailbox.send(Command::Return(id.to_string()));
        true
    }

    /// Stops the worker (attempts in flight finish and are recorded; the spool keeps what is pending).
    pub fn stop(&self) {
        self.mailbox.send(Command::Stop);
    }

    /// Whether the worker has handled every command sent to it, nothing is due now and no attempt is running: the
    /// queue waits for its clock.
    pub fn settled(&self) -> bool {
        if self.mailbox.unhandled.load(Ordering::SeqCst) > 0 {
            return false;
        }
        let now = self.ctx.clock.now();
        let s = self.summary.borrow();
        s.busy.is_empty() && s.views.iter().flat_map(|v| &v.recipients).all(|r| r.next_attempt > now)
    }

    /// The earliest next attempt of any pending recipient ("skip to the next retry").
    pub fn next_attempt(&self) -> Option<DateTime<Utc>> {
        self.summary.borrow().next_attempt
    }

    /// When the oldest pending message outlives the queue lifetime ("skip to expiry").
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.summary.borrow().next_expiry
    }

    /// Makes the worker look at the queue again (after the clock was skipped ahead).
    pub fn wake(&self) {
        self.mailbox.send(Command::Wake);
    }
}

impl Ctx {
    fn emit(&self, kind: EventKind) {
        self.events.emit(&self.host, kind);
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

    fn route(&self, domain: &str) -> Option<Route> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes.iter().find(|r| r.domain.eq_ignore_ascii_case(domain)).cloned()
    }

    /// Accepts a complete message: spools it if it has a recipient to relay, delivers the local copies, says
    /// `Received` once it is durable. Returns its ID and the messages the worker must now hold (this one if
    /// something is left to relay or retry, and any report it caused that must be relayed).
    fn accept(
        &self,
        id: String,
        envelope: Envelope,
        message: Vec<u8>,
    ) -> Result<(String, Vec<QueuedMessage>), SubmitError> {
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
        let mut hold = Vec::new();

        if let Some(failed) = state::loop_failures(&message, &envelope.rcpt_to, self.max_hops) {
            self.emit(received);
            hold.extend(self.bounce(&meta, &message, failed, false));
            return Ok((id, hold));
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
            hold.extend(self.bounce(&meta, &message, failed, false));
        }
        if meta.recipients.is_empty() {
            return Ok((id, hold));
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
        hold.push(meta);
        Ok((id, hold))
    }

    /// Returns `failed` recipients of `meta` to its sender (see [`state::return_failed`]); the messages to hold if the
    /// report itself must be relayed.
    fn bounce(
        &self,
        meta: &QueuedMessage,
        data: &[u8],
        failed: Vec<bounce::Failed>,
        expired: bool,
    ) -> Vec<QueuedMessage> {
        let (events, report) = state::return_failed(meta, failed, expired);
        for e in events {
            self.emit(e);
        }
        report.map(|r| self.report(&r, data)).unwrap_or_default()
    }

    /// Builds and submits the report a [`state::Bounce`] asks for; the messages to hold.
    fn report(&self, b: &state::Bounce, data: &[u8]) -> Vec<QueuedMessage> {
        let sender = b.meta.envelope.mail_from.clone();
        let now = self.clock.now();
        let dsn = bounce::build(&bounce::Report {
            reporting_mta: &self.fqdn,
            queue_id: &b.meta.id,
            to: &sender,
            arrival: b.meta.received_at,
            failed: &b.failed,
            original: data,
            expired: b.expired,
            now,
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
        let mut msg =
            format!("Received: by {} (Mailroom) id {}; {}\r\n", self.fqdn, b.meta.id, now.to_rfc2822())
                .into_bytes();
        msg.extend_from_slice(&dsn);
        match self.accept(self.next_id(), env, msg) {
            Ok((_, hold)) => hold,
            Err(e) => {
                tracing::error!(id = b.meta.id, error = %e, "could not queue bounce");
                Vec::new()
            }
        }
    }

    /// One delivery attempt: local recipients to their mailboxes, the others to their next hops, one connection
    /// per domain. `None` if the message's data is unreadable.
    async fn attempt(&self, a: Attempt) -> Option<Vec<RcptResult>> {
        let id = a.meta.id.as_str();
        let data = match self.spool.data(id) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(id, error = %e, "spooled message data unreadable");
                return None;
            }
        };
        let mut results = Vec::new();
        let result = |rcpt: String, outcome, mx: Option<&Route>| RcptResult {
            rcpt,
            outcome,
            mx: mx.map(|r| r.mx.clone()),
        };
        // Local recipients left in the spool (e.g. the mailbox was briefly unavailable).
        for rcpt in a.local {
            let o = match self.deliver_local(id, &a.meta.envelope, &rcpt, &data) {
                Ok(mb) => RcptOutcome::Delivered(mb),
                Err(e) if e.starts_with('4') => RcptOutcome::Temporary(e),
                Err(e) => RcptOutcome::Permanent(e),
            };
            results.push(result(rcpt, o, None));
        }
        for (domain, rcpts) in a.remote {
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
                    results.push(result(rcpt, o, None));
                }
                continue;
            };
            self.emit(EventKind::Connecting {
                id: id.to_string(),
                mx: route.mx.clone(),
                addr: route.addr.clone(),
            });
            let connect = crate::rt::timeout(self.timing.relay_timeout, self.connector.connect(&route)).await;
            let stream = match connect {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    for rcpt in rcpts {
                        let o = RcptOutcome::Temporary(format!(
                            "4.4.1 connect to {} ({}) failed: {e}",
                            route.mx, route.addr
                        ));
                        results.push(result(rcpt, o, Some(&route)));
                    }
                    continue;
                }
                Err(_) => {
                    for rcpt in rcpts {
                        let o = RcptOutcome::Temporary(format!("4.4.1 connect to {} timed out", route.mx));
                        results.push(result(rcpt, o, Some(&route)));
                    }
                    continue;
                }
            };
            let job = RelayJob {
                helo: &self.fqdn,
                mx: &route.mx,
                mail_from: &a.meta.envelope.mail_from,
                rcpts: &rcpts,
                data: &data,
                smtputf8: a.meta.envelope.smtputf8,
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
                results.push(result(rcpt, o, Some(&route)));
            }
        }
        Some(results)
    }
}

impl Worker {
    /// Takes in what the spool holds (after a restart, deferred mail resumes) and publishes it at once, before the
    /// worker runs: a reader of the queue right after start-up sees it (through the mailbox it would see it only once
    /// the worker had its first turn). Returns how many messages.
    pub fn recover(&mut self) -> std::io::Result<usize> {
        let loaded = self.ctx.spool.load()?;
        let n = loaded.len();
        loaded.into_iter().for_each(|m| self.state.insert(m));
        self.publish(0);
        Ok(n)
    }

    /// Handles one command (starts nothing).
    fn handle(&mut self, cmd: Command) {
        let now = self.ctx.clock.now();
        match cmd {
            Command::Queued(meta) => self.state.insert(meta),
            Command::RetryAll => self.state.retry_all(now),
            Command::Retry(id) => {
                self.state.retry(&id, now);
            }
            Command::Return(id) => {
                if let Some(actions) = self.state.return_to_sender(&id) {
                    self.perform(actions);
                }
            }
            Command::Wake => {}
            Command::Finished { id, results: None } => self.state.abandon(&id),
            Command::Finished { id, results: Some(results) } => {
                if let Some(actions) = self.state.finish(&id, results, now) {
                    self.perform(actions);
                }
            }
            Command::Stop => self.stopping = true,
        }
    }

    /// Does what the state decided: events, then the report, then the spool write.
    fn perform(&mut self, actions: Actions) {
        for e in actions.events {
            self.ctx.emit(e);
        }
        if let Some(b) = &actions.bounce {
            // Read before the spool entry may be removed below.
            match self.ctx.spool.data(&b.meta.id) {
                Ok(data) => {
                    for m in self.ctx.report(b, &data) {
                        self.state.insert(m);
                    }
                }
                Err(e) => {
                    tracing::error!(id = b.meta.id, error = %e, "spooled message data unreadable: no report")
                }
            }
        }
        match actions.persist {
            Persist::Remove(id) => {
                if let Err(e) = self.ctx.spool.remove(&id) {
                    tracing::error!(id, error = %e, "could not remove delivered message from the spool");
                }
            }
            Persist::Update(meta) => {
                if let Err(e) = self.ctx.spool.update(&meta) {
                    tracing::error!(id = meta.id, error = %e, "could not update spool entry");
                }
            }
        }
    }

    /// Starts every attempt the state allows now, each a task that reports back with [`Command::Finished`].
    /// Returns how many.
    fn start_due(&mut self) -> usize {
        if self.stopping {
            return 0;
        }
        // Every handle is gone: nobody is left to hear of the results.
        let Some(tx) = self.tx.upgrade() else { return 0 };
        let mailbox = Mailbox { tx, unhandled: self.unhandled.clone() };
        let attempts = self.state.start_due(self.ctx.clock.now());
        let n = attempts.len();
        for a in attempts {
            let (ctx, mailbox) = (self.ctx.clone(), mailbox.clone());
            crate::rt::spawn(async move {
                let id = a.meta.id.clone();
                let results = ctx.attempt(a).await;
                mailbox.send(Command::Finished { id, results });
            });
        }
        n
    }

    /// Publishes the state for synchronous readers, then counts `handled` commands as done (in that order, so
    /// that [`Queue::settled`] never sees "all handled" with an old summary).
    fn publish(&self, handled: usize) {
        self.summary.send_replace(Arc::new(Summary {
            views: self.state.views(&self.ctx.host),
            busy: self.state.busy_ids().cloned().collect(),
            next_attempt: self.state.next_attempt(),
            next_expiry: self.state.next_expiry(),
        }));
        self.unhandled.fetch_sub(handled, Ordering::SeqCst);
    }

    /// The worker loop: handles commands, starts what is due, sleeps until the next attempt is due or a command
    /// arrives. Ends on [`Queue::stop`] (once the attempts in flight have reported) or when every handle is gone.
    pub async fn run(mut self) {
        self.start_due();
        self.publish(0);
        loop {
            if self.stopping && !self.state.attempting() {
                return;
            }
            let now = self.ctx.clock.now();
            // Clock time and real time run at the same rate between skips, and a skip sends a command.
            let sleep = self
                .state
                .wake_at(now)
                .map_or(std::time::Duration::from_secs(3600), |t| self.ctx.clock.until(t));
            let handled = tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => {
                        self.handle(cmd);
                        1
                    }
                    None => return,
                },
                _ = crate::rt::sleep(sleep) => 0,
            };
            self.start_due();
            self.publish(handled);
        }
    }

    /// Handles the commands sent so far and publishes the result, starting nothing (tests drive the queue with
    /// this and [`Worker::run_due`] instead of [`Worker::run`]).
    pub fn drain(&mut self) {
        let mut handled = 0;
        while let Ok(cmd) = self.rx.try_recv() {
            self.handle(cmd);
            handled += 1;
        }
        self.publish(handled);
    }

    /// Handles the commands sent so far, runs one attempt for every message due now and waits until they have all
    /// reported; returns how many there were. Tests drive the queue with this and a manual clock.
    pub async fn run_due(&mut self) -> usize {
        self.drain();
        let n = self.start_due();
        while self.state.attempting() {
            // An attempt task holds a sender until it has reported.
            let Some(cmd) = self.rx.recv().await else { break };
            self.handle(cmd);
            self.publish(1);
        }
        self.drain();
        n
    }
}

#[cfg(test)]
mod tests;

impl Submitter for Queue {
    fn new_id(&self) -> String {
        self.ctx.next_id()
    }

    fn submit(&self, id: String, envelope: Envelope, message: Vec<u8>) -> Result<String, SubmitError> {
        // The spool write and local deliveries happen here, in the caller's thread (SMTP calls from a blocking
        // thread), so submissions fsync side by side; the worker only hears of what is left to relay.
        let (id, hold) = self.ctx.accept(id, envelope, message)?;
        for meta in hold {
            self.mailbox.send(Command::Queued(meta));
        }
        Ok(id)
    }
}
