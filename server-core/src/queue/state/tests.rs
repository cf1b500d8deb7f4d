//! The queue's decisions on a virtual clock in milliseconds: nothing here waits, spools or connects; every attempt's
//! outcome is made up by the test.

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::queue::spool::RcptState;
use crate::queue::tests::envelope;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

/// The virtual clock: `ms` milliseconds after [`t0`].
fn at(ms: i64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(ms)
}

/// A queue of example.com on the playground timing (first retry 5 s, at most 30 s apart, lifetime 120 s).
fn queue() -> QueueState {
    QueueState::new("example.com", Timing::default())
}

fn message(id: &str, from: &str, to: &[&str], received_ms: i64) -> QueuedMessage {
    QueuedMessage {
        id: id.into(),
        envelope: envelope(from, to),
        received_at: at(received_ms),
        size: 10,
        recipients: to
            .iter()
            .map(|r| RcptState {
                rcpt: r.to_string(),
                status: RcptStatus::Pending,
                attempts: 0,
                next_attempt: at(received_ms),
                last_error: None,
            })
            .collect(),
    }
}

/// Every recipient of the attempt with the same outcome.
fn all(a: &Attempt, outcome: RcptOutcome) -> Vec<RcptResult> {
    a.remote
        .iter()
        .flat_map(|(_, rcpts)| rcpts)
        .chain(&a.local)
        .map(|rcpt| RcptResult {
            rcpt: rcpt.clone(),
            outcome: outcome.clone(),
            mx: Some("mx2.example.net".into()),
        })
        .collect()
}

fn refused() -> RcptOutcome {
    RcptOutcome::Temporary("4.4.1 connect to mx2.example.net failed: refused".into())
}

fn ids(attempts: &[Attempt]) -> Vec<&str> {
    attempts.iter().map(|a| a.meta.id.as_str()).collect()
}

/// Runs every attempt due at `now` to the same outcome; returns the actions, one per attempt.
fn run(q: &mut QueueState, now: DateTime<Utc>, outcome: RcptOutcome) -> Vec<Actions> {
    let started = q.start_due(now);
    started.iter().map(|a| q.finish(&a.meta.id, all(a, outcome.clone()), now).unwrap()).collect()
}

#[test]
fn a_deferred_recipient_is_retried_on_the_doubling_schedule() {
    let mut q = queue();
    q.insert(message("A", "alice@example.com", &["carol@example.net"], 0));
    assert_eq!(q.wake_at(at(0)), None, "due now: nothing later to wake for");
    let mut now = 0;
    // (ms from one attempt to the next, the attempt number that follows): 5 s, then 10, 20, then capped at 30.
    for (gap, attempt) in [(5_000, 2u32), (10_000, 3), (20_000, 4), (30_000, 5), (30_000, 6)] {
        let actions = run(&mut q, at(now), refused());
        assert_eq!(actions.len(), 1, "attempt {} at {now} ms", attempt - 1);
        assert!(matches!(
            &actions[0].events[..],
            [EventKind::Deferred { next_attempt, .. }] if *next_attempt == at(now + gap)
        ));
        assert!(matches!(&actions[0].persist, Persist::Update(m) if m.recipients[0].attempts == attempt - 1));
        assert_eq!(q.wake_at(at(now)), Some(at(now + gap)));
        assert!(q.start_due(at(now + gap - 1)).is_empty(), "not due 1 ms early (attempt {attempt})");
        assert!(q.settled(at(now + gap - 1)));
        assert!(!q.settled(at(now + gap)), "due on time (attempt {attempt})");
        now += gap;
    }
}

#[test]
fn a_message_that_outlives_the_lifetime_is_returned_to_its_sender() {
    let mut q = queue();
    q.insert(message("A", "alice@example.com", &["carol@example.net"], 0));
    run(&mut q, at(0), refused());
    assert_eq!(q.next_expiry(), Some(at(120_000)));
    // An attempt 1 ms before the expiry still defers; one at the expiry gives up.
    let a = run(&mut q, at(119_999), refused());
    assert!(a[0].bounce.is_none() && matches!(a[0].events[..], [EventKind::Deferred { .. }]));
    assert!(q.retry("A", at(120_000)));
    let a = run(&mut q, at(120_000), refused());
    let kinds: Vec<&str> = a[0]
        .events
        .iter()
        .map(|e| match e {
            EventKind::Expired { .. } => "expired",
            EventKind::Bounced { .. } => "bounced",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["expired", "bounced"]);
    let b = a[0].bounce.as_ref().expect("a report to alice");
    assert!(b.expired);
    assert_eq!(b.failed[0].rcpt, "carol@example.net");
    assert_eq!(b.failed[0].status, "4.4.7");
    assert!(b.failed[0].diagnostic.contains("refused"), "{}", b.failed[0].diagnostic);
    assert_eq!(a[0].persist, Persist::Remove("A".into()));
    assert!(q.views("mx1").is_empty());
}

#[test]
fn a_permanent_failure_is_returned_at_once() {
    let mut q = queue();
    q.insert(message("A", "alice@example.com", &["carol@example.net"], 0));
    let a = run(&mut q, at(0), RcptOutcome::Permanent("550 5.1.1 no such user".into()));
    let b = a[0].bounce.as_ref().expect("a report");
    assert!(!b.expired);
    assert_eq!(b.failed[0].status, "5.1.1");
    assert_eq!(a[0].persist, Persist::Remove("A".into()));
}

#[test]
fn mail_from_the_null_sender_never_bounces() {
    let mut q = queue();
    q.insert(message("A", "", &["carol@example.net"], 0));
    let a = run(&mut q, at(0), RcptOutcome::Permanent("550 5.1.1 no such user".into()));
    assert!(a[0].bounce.is_none(), "no report about a report");
    assert!(matches!(&a[0].events[..], [EventKind::Bounced { dsn_to: None, .. }]));
    assert_eq!(a[0].persist, Persist::Remove("A".into()));
}

#[test]
fn a_message_with_too_many_received_fields_is_a_loop() {
    let rcpts = vec!["carol@example.net".to_string()];
    let hops = |n: usize| {
        let mut m = Vec::new();
        for i in 0..n {
            m.extend_from_slice(format!("Received: from hop{i} by hop{}; today\r\n", i + 1).as_bytes());
        }
        m.extend_from_slice(b"Subject: hi\r\n\r\nReceived: in the body does not count\r\n");
        m
    };
    assert!(loop_failures(&hops(30), &rcpts, 30).is_none(), "30 hops is still fine");
    let failed = loop_failures(&hops(31), &rcpts, 30).expect("31 hops is a loop");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, "5.4.6");
}

#[test]
fn attempts_to_one_destination_and_in_all_are_bounded() {
    let mut q = queue().with_bounds(5, 2);
    for i in 0..4 {
        q.insert(message(&format!("N{i}"), "alice@example.com", &["carol@example.net"], 0));
        q.insert(message(&format!("O{i}"), "alice@example.com", &["dave@example.org"], 0));
    }
    let first = q.start_due(at(0));
    assert_eq!(ids(&first), ["N0", "N1", "O0", "O1"], "two per destination");
    q.insert(message("P0", "alice@example.com", &["erin@example.edu"], 0));
    assert_eq!(ids(&q.start_due(at(0))), ["P0"], "another destination still goes");
    q.insert(message("Q0", "alice@example.com", &["frank@example.info"], 0));
    assert!(q.start_due(at(0)).is_empty(), "five at once in all");
    assert!(!q.settled(at(0)));
    q.finish("N0", all(&first[0], refused()), at(0));
    assert_eq!(ids(&q.start_due(at(0))), ["N2"], "a finished attempt frees its slots");
}

#[test]
fn a_message_with_an_attempt_in_flight_is_not_started_twice() {
    let mut q = queue();
    q.insert(message("A", "alice@example.com", &["carol@example.net"], 0));
    assert_eq!(q.start_due(at(0)).len(), 1);
    assert!(q.start_due(at(10)).is_empty());
    assert!(q.return_to_sender("A").is_none(), "not while an attempt runs");
}

#[test]
fn one_message_can_be_retried_or_returned_now() {
    let mut q = queue();
    q.insert(message("KEEP", "alice@example.com", &["carol@example.net"], 0));
    q.insert(message("BACK", "alice@example.com", &["dave@example.net"], 0));
    assert_eq!(run(&mut q, at(0), refused()).len(), 2);
    assert!(q.start_due(at(1_000)).is_empty(), "both wait for their next attempt");
    assert!(q.retry("KEEP", at(1_000)));
    let started = q.start_due(at(1_000));
    assert_eq!(ids(&started), ["KEEP"], "retry makes that one due, and only it");
    q.finish("KEEP", all(&started[0], refused()), at(1_000));
    let a = q.return_to_sender("BACK").expect("BACK is queued and idle");
    let b = a.bounce.expect("a report, long before the expiry");
    assert_eq!(b.failed[0].rcpt, "dave@example.net");
    assert!(b.failed[0].diagnostic.contains("on request"));
    assert_eq!(a.persist, Persist::Remove("BACK".into()));
    assert_eq!(q.views("mx1").iter().map(|v| v.id.as_str()).collect::<Vec<_>>(), ["KEEP"]);
    assert!(!q.retry("NOSUCHID", at(1_000)) && q.return_to_sender("NOSUCHID").is_none());
}

#[test]
fn retry_all_makes_every_pending_recipient_due() {
    let mut q = queue();
    q.insert(message("A", "alice@example.com", &["carol@example.net"], 0));
    q.insert(message("B", "alice@example.com", &["dave@example.org"], 0));
    run(&mut q, at(0), refused());
    assert!(q.settled(at(10)));
    q.retry_all(at(10));
    assert_eq!(q.start_due(at(10)).len(), 2);
}

#[test]
fn local_recipients_left_in_the_queue_are_tried_locally() {
    let mut q = queue();
    q.insert(message("A", "alice@example.com", &["Bob@Example.COM", "carol@example.net"], 0));
    let a = q.start_due(at(0));
    assert_eq!(a[0].local, ["Bob@Example.COM"]);
    assert_eq!(a[0].remote, [("example.net".to_string(), vec!["carol@example.net".to_string()])]);
}
