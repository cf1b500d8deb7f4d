//! Process-wide counters, served as Prometheus text on `/metrics` (see `docs/http-api.md`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges the relay and sessions update.
#[derive(Default)]
pub struct Metrics {
    /// Open WebSocket sessions.
    pub sessions: AtomicU64,
    /// Sessions since start.
    pub sessions_total: AtomicU64,
    /// Sessions refused or closed by a limit.
    pub limited_total: AtomicU64,
    /// Open connections, connections since start and bytes relayed (kept by the core's relay).
    pub relay: std::sync::Arc<mailroom_core::playground::relay::RelayCounters>,
    /// WebSocket messages received.
    pub ws_in_total: AtomicU64,
    /// WebSocket messages sent.
    pub ws_out_total: AtomicU64,
    /// Session tasks that panicked (and were contained).
    pub panics_total: AtomicU64,
}

/// Values only known when asked (worlds, mail).
pub struct Gauges {
    /// Sandboxes and rooms kept.
    pub worlds: usize,
    /// ...of which running.
    pub worlds_running: usize,
    /// Private sandboxes kept.
    pub sandboxes: usize,
    /// Shared rooms kept.
    pub rooms: usize,
    /// Messages in the persistent world's mailboxes.
    pub messages: usize,
    /// Messages in the persistent world's queue.
    pub queue: usize,
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self, g: &Gauges) -> String {
        let mut s = String::new();
        let mut line = |name: &str, kind: &str, help: &str, v: u64| {
            // Writing into a String cannot fail.
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        line("mailroom_sessions", "gauge", "Open playground WebSocket sessions.", get(&self.sessions));
        line(
            "mailroom_sessions_total",
            "counter",
            "Playground sessions since start.",
            get(&self.sessions_total),
        );
        line(
            "mailroom_limited_total",
            "counter",
            "Sessions refused or closed by a limit.",
            get(&self.limited_total),
        );
        line("mailroom_worlds", "gauge", "Sandboxes and rooms kept (started or not).", g.worlds as u64);
        line("mailroom_sandboxes", "gauge", "Private sandboxes kept on this instance.", g.sandboxes as u64);
        line("mailroom_rooms", "gauge", "Shared rooms held by this instance.", g.rooms as u64);
        line(
            "mailroom_worlds_running",
            "gauge",
            "Sandboxes and rooms with a running world.",
            g.worlds_running as u64,
        );
        line(
            "mailroom_connections",
            "gauge",
            "Open relayed connections into worlds.",
            get(&self.relay.connections),
        );
        line(
            "mailroom_connections_total",
            "counter",
            "Relayed connections since start.",
            get(&self.relay.connections_total),
        );
        line(
            "mailroom_ws_messages_in_total",
            "counter",
            "WebSocket messages received.",
            get(&self.ws_in_total),
        );
        line(
            "mailroom_ws_messages_out_total",
            "counter",
            "WebSocket messages sent.",
            get(&self.ws_out_total),
        );
        line(
            "mailroom_relayed_bytes_total",
            "counter",
            "Bytes relayed in both directions.",
            get(&self.relay.relayed_bytes),
        );
        line(
            "mailroom_session_panics_total",
            "counter",
            "Session tasks that panicked.",
            get(&self.panics_total),
        );
        line(
            "mailroom_messages",
            "gauge",
            "Messages in the persistent world's mailboxes.",
            g.messages as u64,
        );
        line("mailroom_queue", "gauge", "Messages in the persistent world's queue.", g.queue as u64);
        s
    }
}
