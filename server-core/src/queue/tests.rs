//! The queue on a manual clock: retry schedule, expiry and its bounce, no bounce for `<>`, loops, recovery from the
//! spool, a failing spool write, and the order of events. Time moves only when a test says so, in milliseconds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::config::WorldConfig;
use crate::store::memory::MemoryStore;
use spool::MemorySpool;

/// A next hop that is down: every connection is refused.
struct Down;

impl Connector for Down {
    fn connect(
        &self,
        _route: &Route,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<BoxStream>> + Send + '_>> {
        Box::pin(async { Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "host is offline")) })
    }
}

/// A next hop that answers slowly and is down, counting how many connections are open at once.
#[derive(Default)]
struct Slow {
    open: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
}

impl Connector for Slow {
    fn connect(
        &self,
        _route: &Route,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<BoxStream>> + Send + '_>> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            let now = self.open.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.open.fetch_sub(1, SeqCst);
            self.total.fetch_add(1, SeqCst);
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "busy"))
        })
    }
}

/// A spool whose writes fail (a full or broken disk).
struct BrokenSpool;

impl SpoolStore for BrokenSpool {
    fn put(&self, _: &QueuedMessage, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
    fn update(&self, _: &QueuedMessage) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
    fn data(&self, _: &str) -> std::io::Result<Arc<Vec<u8>>> {
        Err(std::io::Error::other("no such message"))
    }
    fn remove(&self, _: &str) -> std::io::Result<()> {
        Ok(())
    }
    fn load(&self) -> std::io::Result<Vec<QueuedMessage>> {
        Ok(vec![])
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

/// mx1's queue over `spool`, with the playground timing and a manual clock at [`t0`].
struct Fixture {
    queue: Arc<Queue>,
    /// Driven by the test ([`Worker::run_due`], [`Worker::drain`]), not spawned, unless a test takes it.
    worker: Worker,
    store: Arc<MemoryStore>,
    clock: Clock,
    events: EventBus,
}

fn fixture(spool: Arc<dyn SpoolStore>) -> Fixture {
    fixture_with(spool, Arc::new(Down))
}

fn fixture_with(spool: Arc<dyn SpoolStore>, connector: Arc<dyn Connector>) -> Fixture {
    let cfg = WorldConfig::default();
    let hc = &cfg.hosts[0];
    let store = Arc::new(MemoryStore::new());
    let users = Users::new(&hc.domain, hc.users.clone());
    for u in users.names() {
        store.ensure_user(u).unwrap();
    }
    let clock = Clock::manual(t0());
    let events = EventBus::default().with_clock(clock.clone());
    let (queue, worker) = Queue::new(
        &hc.name,
        &hc.fqdn(),
        users,
        store.clone(),
        spool,
        events.clone(),
        Arc::new(RwLock::new(cfg.routes.clone())),
        connector,
        cfg.timing,
        cfg.limits.max_hops,
        clock.clone(),
    );
    Fixture { queue, worker, store, clock, events }
}

/// An envelope from the laptop (the state tests use it too).
pub(super) fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        mail_from: from.into(),
        rcpt_to: to.iter().map(|s| s.to_string()).collect(),
        helo: "laptop".into(),
        peer: "test".into(),
        auth_user: None,
        smtputf8: false,
    }
}

const MSG: &[u8] = b"From: alice@example.com\r\nTo: carol@example.net\r\nSubject: hi\r\n\r\nhello\r\n";

impl Fixture {
    fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
        let st = self.store.status(user, "INBOX").unwrap();
        st.messages.iter().map(|m| self.store.read(user, "INBOX", m.uid).unwrap().to_vec()).collect()
    }

    /// The queue once the worker has handled what it was sent.
    fn snapshot(&mut self) -> Vec<QueueView> {
        self.worker.drain();
        self.queue.snapshot()
    }

    fn pending(&mut self) -> Vec<RcptState> {
        self.snapshot().into_iter().flat_map(|q| q.recipients).collect()
    }

    fn advance_ms(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test]
async fn deferred_mail_is_retried_on_the_doubling_schedule() {
    let mut f = fixture(Arc::new(MemorySpool::default()));
    f.queue
        .submit(String::new(), envelope("alice@example.com", &["carol@example.net"]), MSG.to_vec())
        .unwrap();
    // (ms after the previous attempt, attempt number): 5 s, then 10, 20, then capped at 30.
    assert_eq!(f.worker.run_due().await, 1);
    let mut at = t0();
    for (gap_ms, attempt) in [(5_000u64, 2u32), (10_000, 3), (20_000, 4), (30_000, 5)] {
        let r = &f.pending()[0];
        assert_eq!(r.attempts, attempt - 1);
        assert_eq!(r.next_attempt, at + TimeDelta::milliseconds(gap_ms as i64));
        f.advance_ms(gap_ms - 1);
        assert_eq!(f.worker.run_due().await, 0, "not due 1 ms early (attempt {attempt})");
        f.advance_ms(1);
        assert_eq!(f.worker.run_due().await, 1, "due on time (attempt {attempt})");
        at += TimeDelta::milliseconds(gap_ms as i64);
    }
    assert_eq!(f.pending()[0].attempts, 5);
    assert!(f.pending()[0].last_error.as_deref().unwrap().contains("host is offline"));
    assert!(f.inbox("alice").is_empty(), "no bounce before expiry");
}

#[tokio::test]
async fn a_message_that_outlives_the_lifetime_returns_to_its_sender() {
    let mut f = fixture(Arc::new(MemorySpool::default()));
    let mut rx = f.events.subscribe();
    let id = f
        .queue
        .submit(String::new(), envelope("alice@example.com", &["carol@example.net"]), MSG.to_vec())
        .unwrap();
    f.worker.run_due().await;
    assert_eq!(f.queue.next_expiry(), Some(t0() + TimeDelta::seconds(120)));
    f.clock.advance_to(f.queue.next_expiry().unwrap());
    f.worker.run_due().await;
    assert!(f.snapshot().iter().all(|q| q.id != id), "the expired message left the queue");
    let inbox = f.inbox("alice");
    assert_eq!(inbox.len(), 1, "one report in alice's INBOX");
    let dsn = &inbox[0];
    for want in [
        "Return-Path: <>",
        "report-type=delivery-status",
        "Final-Recipient: rfc822; carol@example.net",
        "Status: 4.4.7",
        "Action: failed",
        "host is offline",
        "Subject: hi",
    ] {
        assert!(contains(dsn, want), "the DSN lacks {want:?}:\n{}", String::from_utf8_lossy(dsn));
    }
    let mut kinds = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        kinds.push(serde_json::to_value(&ev.kind).unwrap()["event"].as_str().unwrap().to_string());
    }
    let expired = kinds.iter().position(|k| k == "expired").expect("an expired event");
    let bounced = kinds.iter().position(|k| k == "bounced").expect("a bounced event");
    assert!(expired < bounced, "{kinds:?}");
}

#[tokio::test]
async fn mail_from_the_null_sender_never_bounces() {
    let mut f = fixture(Arc::new(MemorySpool::default()));
    f.queue.submit(String::new(), envelope("", &["carol@example.net"]), MSG.to_vec()).unwrap();
    f.worker.run_due().await;
    f.clock.advance_to(f.queue.next_expiry().unwrap());
    f.worker.run_due().await;
    assert!(f.snapshot().is_empty());
    for u in ["alice", "bob", "admin"] {
        assert!(f.inbox(u).is_empty(), "{u} got a report for a message from <>");
    }
}

#[tokio::test]
async fn a_looping_message_is_bounced_at_once() {
    let mut f = fixture(Arc::new(MemorySpool::default()));
    let mut msg = Vec::new();
    for i in 0..31 {
        msg.extend_from_slice(
            format!("Received: from hop{i} by hop{}; {}\r\n", i + 1, t0().to_rfc2822()).as_bytes(),
        );
    }
    msg.extend_from_slice(MSG);
    f.queue.submit(String::new(), envelope("alice@example.com", &["carol@example.net"]), msg).unwrap();
    assert!(f.snapshot().is_empty(), "a loop is not queued for relay");
    let inbox = f.inbox("alice");
    assert_eq!(inbox.len(), 1);
    assert!(contains(&inbox[0], "Status: 5.4.6"), "{}", String::from_utf8_lossy(&inbox[0]));
}

#[tokio::test]
async fn a_restarted_queue_resumes_what_the_spool_holds() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let mut f = fixture(Arc::new(spool::DiskSpool::open(dir.path()).unwrap()));
        let id = f
            .queue
            .submit(String::new(), envelope("alice@example.com", &["carol@example.net"]), MSG.to_vec())
            .unwrap();
        f.worker.run_due().await;
        id
    };
    let mut f = fixture(Arc::new(spool::DiskSpool::open(dir.path()).unwrap()));
    assert_eq!(f.worker.recover().unwrap(), 1);
    let q = f.snapshot();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, id);
    assert_eq!(q[0].recipients[0].attempts, 1, "the attempt count survives the restart");
}

#[tokio::test]
async fn a_failed_spool_write_acknowledges_nothing_and_delivers_nothing() {
    let f = fixture(Arc::new(BrokenSpool));
    let mut rx = f.events.subscribe();
    // bob is local, carol remote: the message needs the spool. If the write fails, the client gets 451 and sends
    // again, so bob must not have a copy yet, or he would get two.
    let r = f.queue.submit(
        String::new(),
        envelope("alice@example.com", &["bob@example.com", "carol@example.net"]),
        MSG.to_vec(),
    );
    assert!(r.is_err());
    assert!(f.inbox("bob").is_empty(), "bob got a copy of a message that was not acknowledged");
    while let Ok(ev) = rx.try_recv() {
        assert!(
            !matches!(ev.kind, EventKind::Received { .. }),
            "'received' said for a message that is not durable"
        );
    }
}

#[tokio::test]
async fn received_is_said_only_once_the_message_is_durable() {
    let mut f = fixture(Arc::new(MemorySpool::default()));
    let mut rx = f.events.subscribe();
    f.queue
        .submit(
            String::new(),
            envelope("alice@example.com", &["bob@example.com", "carol@example.net"]),
            MSG.to_vec(),
        )
        .unwrap();
    let mut kinds = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        kinds.push(serde_json::to_value(&ev.kind).unwrap()["event"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds.first().map(String::as_str), Some("received"), "{kinds:?}");
    assert!(kinds.contains(&"queued".to_string()) && kinds.contains(&"delivered".to_string()), "{kinds:?}");
    assert_eq!(f.inbox("bob").len(), 1);
    assert_eq!(f.pending().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_to_one_destination_are_bounded() {
    let slow = Arc::new(Slow::default());
    let f = fixture_with(Arc::new(MemorySpool::default()), slow.clone());
    for _ in 0..60 {
        f.queue
            .submit(String::new(), envelope("alice@example.com", &["carol@example.net"]), MSG.to_vec())
            .unwrap();
    }
    let run = tokio::spawn(f.worker.run());
    let total = || slow.total.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..500 {
        if total() == 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.queue.stop();
    run.await.unwrap();
    assert_eq!(total(), 60, "every message got its first attempt");
    let most = slow.most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= 8, "{most} connections to one destination at once (RFC 5321 §4.5.4.1: limit them)");
    assert!(most > 1, "attempts still run side by side");
}

#[tokio::test]
async fn one_message_can_be_retried_or_returned_to_its_sender_now() {
    let mut f = fixture(Arc::new(MemorySpool::default()));
    let keep = f
        .queue
        .submit(String::new(), envelope("alice@example.com", &["carol@example.net"]), MSG.to_vec())
        .unwrap();
    let back = f
        .queue
        .submit(String::new(), envelope("alice@example.com", &["dave@example.net"]), MSG.to_vec())
        .unwrap();
    assert_eq!(f.worker.run_due().await, 2);
    assert_eq!(f.worker.run_due().await, 0, "both wait for their next attempt");
    assert!(f.queue.retry(&keep));
    assert_eq!(f.worker.run_due().await, 1, "retry now makes that one due, and only it");
    assert!(f.queue.return_to_sender(&back));
    let ids: Vec<String> = f.snapshot().into_iter().map(|q| q.id).collect();
    assert_eq!(ids, vec![keep.clone()]);
    let inbox = f.inbox("alice");
    assert_eq!(inbox.len(), 1, "one report, long before the expiry");
    assert!(contains(&inbox[0], "Final-Recipient: rfc822; dave@example.net"));
    assert!(contains(&inbox[0], "on request"));
    assert!(!f.queue.return_to_sender("NOSUCHID") && !f.queue.retry("NOSUCHID"));
}
