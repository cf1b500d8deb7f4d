//! The playground session of a world that runs inside the browser tab (`mailroom static-site`): the page's
//! [`ClientMsg`]s come in as JSON text (over `postMessage` to a Web Worker), [`ServerMsg`]s go out the same way.
//!
//! It holds one private sandbox: the default world, in memory, with the skippable clock, started at once. The
//! protocol code, the queue, the relay of connections (TLS included), lessons and snapshots are the core's own,
//! as in the proxy; what needs a server (rooms, the persistent world, remote targets) is refused in words that say
//! so. Nothing here touches a socket or a thread: it runs the same natively (its tests) and in wasm32.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::relay::{Relay, RelayCounters, Tapped};
use super::{Out, begin_lesson, parse, settle};
use crate::config::{Service, WorldConfig};
use crate::event::Event;
use crate::lesson::check::Checker;
use crate::net::Peer;
use crate::rt::{Instant, sleep_until};
use crate::snapshot::HeaderCache;
use crate::wire::{self, ClientMsg, ServerMsg, WorldChoice};
use crate::world::{Persistence, World};

use crate::wire::SERVER_HELP;

/// Pending chunks per connection before `send` answers `busy`.
const CONN_QUEUE: usize = 64;
/// Snapshots follow changes at most this often.
const SNAPSHOT_DEBOUNCE: Duration = Duration::from_millis(100);

/// A connection as the session sees it: bytes for the server, `None` once the page closed it.
struct Conn {
    input: Option<mpsc::Sender<Vec<u8>>>,
}

/// The session of the tab's world.
pub struct TabSession {
    config: WorldConfig,
    world: Arc<World>,
    headers: HeaderCache,
    checker: Option<Checker>,
    out: mpsc::Sender<Out>,
    conns: HashMap<u32, Conn>,
    events: broadcast::Receiver<Arc<Event>>,
    /// Events just replayed from the world's memory, which the live feed may deliver again.
    replayed: Vec<Event>,
    snapshot_due: Option<Instant>,
    hello: bool,
    counters: Arc<RelayCounters>,
    tap_tx: mpsc::Sender<Tapped>,
    tap_rx: mpsc::Receiver<Tapped>,
}

type Handled = Result<(), ()>;

impl TabSession {
    /// Starts the world (`config`, in memory) and a session that reports to `out`.
    pub fn new(config: WorldConfig, out: mpsc::Sender<Out>) -> anyhow::Result<TabSession> {
        let world = World::start(config.clone(), Persistence::Memory)?;
        let events = world.events.subscribe();
        let (tap_tx, tap_rx) = mpsc::channel(CONN_QUEUE);
        Ok(TabSession {
            config,
            world,
            headers: HeaderCache::default(),
            checker: None,
            out,
            conns: HashMap::new(),
            events,
            replayed: Vec::new(),
            snapshot_due: None,
            hello: false,
            counters: Arc::default(),
            tap_tx,
            tap_rx,
        })
    }

    /// Runs until the page goes away (`inbox` closes) or nobody reads `out`.
    pub async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<String>) {
        loop {
            let due = self.snapshot_due;
            let r = tokio::select! {
                m = inbox.recv() => match m {
                    Some(text) => self.on_text(&text).await,
                    None => Err(()),
                },
                ev = self.events.recv() => match ev {
                    Ok(event) => self.on_event(Arc::unwrap_or_clone(event)).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.schedule_snapshot();
                        Ok(())
                    }
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                },
                Some(t) = self.tap_rx.recv() => {
                    match self.checker.as_mut() {
                        Some(c) => {
                            c.on_data(t.conn, t.dir, &t.bytes);
                            self.check_lesson().await
                        }
                        None => Ok(()),
                    }
                }
                _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => self.send_snapshot().await,
            };
            if r.is_err() {
                self.world.shutdown();
                return;
            }
        }
    }

    async fn send(&self, m: ServerMsg) -> Handled {
        self.out.send(Out::Msg(m)).await.map_err(|_| ())
    }

    async fn error(&self, code: &str, message: impl Into<String>) -> Handled {
        self.send(ServerMsg::Error { code: code.into(), message: message.into() }).await
    }

    async fn on_text(&mut self, text: &str) -> Handled {
        match parse(text) {
            Ok(msg) => self.on_msg(msg).await,
            Err((code, message)) => self.error(code, message).await,
        }
    }

    async fn on_event(&mut self, event: Event) -> Handled {
        if self.replayed.contains(&event) {
            return Ok(());
        }
        self.replayed.clear();
        self.schedule_snapshot();
        if let Some(c) = self.checker.as_mut() {
            c.on_event(&event);
        }
        if self.hello {
            self.send(ServerMsg::Event { event }).await?;
        }
        self.check_lesson().await
    }

    /// Handles the events the world already published, before answering a request whose effects they are (the
    /// retries a skip made due are told, and judged by the lesson checker, before `skipped`; as the proxy does).
    async fn drain_events(&mut self) -> Handled {
        loop {
            match self.events.try_recv() {
                Ok(event) => self.on_event(Arc::unwrap_or_clone(event)).await?,
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.schedule_snapshot(),
                Err(_) => return Ok(()),
            }
        }
    }

    async fn on_msg(&mut self, msg: ClientMsg) -> Handled {
        match msg {
            ClientMsg::Hello { version, world, .. } => self.hello(version, world).await,
            ClientMsg::Ping => self.send(ServerMsg::Pong).await,
            _ if !self.hello => self.error("hello_first", "send hello first").await,
            ClientMsg::Open { conn, host, service } => self.open(conn, &host, &service).await,
            ClientMsg::Send { conn, data } => {
                let bytes = match super::relay::from_wire(&data) {
                    Ok(b) => b,
                    Err(e) => return self.error("bad_message", e).await,
                };
                let Some(input) = self.conns.get(&conn).and_then(|c| c.input.clone()) else {
                    return self.error("unknown_conn", format!("no open connection {conn}")).await;
                };
                match input.try_send(bytes) {
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        let why = format!("connection {conn} is not keeping up; this send was dropped");
                        self.error("busy", why).await
                    }
                }
            }
            ClientMsg::Close { conn } => match self.conns.get_mut(&conn) {
                // Dropping the sender makes the relay half-close and report `closed` when the server is done.
                Some(c) if c.input.is_some() => {
                    c.input = None;
                    Ok(())
                }
                _ => self.error("unknown_conn", format!("no open connection {conn}")).await,
            },
            ClientMsg::SetOnline { host, online } => {
                let ok = self.world.set_online(&host, online);
                self.switched(ok, &host).await
            }
            ClientMsg::SetBusy { host, busy } => {
                let ok = self.world.set_busy(&host, busy);
                self.switched(ok, &host).await
            }
            ClientMsg::SetExtension { host, protocol, name, on } => {
                if self.world.set_extension(&host, &protocol, &name, on) {
                    self.schedule_snapshot();
                    return Ok(());
                }
                let list: Vec<String> =
                    crate::host::SWITCHABLE.iter().map(|(p, n)| format!("{p} {n}")).collect();
                let why =
                    format!("cannot switch {protocol} {name} on {host}; these can be: {}", list.join(", "));
                self.error("unknown_extension", why).await
            }
            ClientMsg::RetryMessage { host, id } => {
                if self.world.retry_message(&host, &id) {
                    return Ok(());
                }
                self.error("unknown_message", format!("no message {id} in {host}'s queue")).await
            }
            ClientMsg::ReturnMessage { host, id } => {
                if self.world.return_message(&host, &id) {
                    self.schedule_snapshot();
                    return Ok(());
                }
                self.error("unknown_message", format!("no message {id} waiting in {host}'s queue right now"))
                    .await
            }
            ClientMsg::RetryQueue => {
                self.world.retry_now();
                Ok(())
            }
            ClientMsg::ResetWorld => {
                if self.checker.take().is_some() {
                    self.send(ServerMsg::Lesson { lesson: None }).await?;
                }
                self.reset().await
            }
            ClientMsg::Snapshot => self.send_snapshot().await,
            ClientMsg::StartLesson { id } => self.start_lesson(&id).await,
            ClientMsg::LeaveLesson => {
                self.checker = None;
                self.send(ServerMsg::Lesson { lesson: None }).await
            }
            ClientMsg::Skip { to } => match self.world.skip(to) {
                Some(by) => {
                    // Answer once the attempts the skip made due have run, as the proxy does.
                    settle(&self.world).await;
                    self.drain_events().await?;
                    self.schedule_snapshot();
                    self.send(ServerMsg::Skipped { by_ms: by.as_millis() as u64 }).await
                }
                None => self.error("nothing_queued", "no message is waiting in a queue").await,
            },
        }
    }

    async fn switched(&mut self, ok: bool, host: &str) -> Handled {
        if ok {
            self.schedule_snapshot();
            Ok(())
        } else {
            self.error("unknown_host", format!("no host {host} in this world")).await
        }
    }

    async fn hello(&mut self, version: u32, choice: WorldChoice) -> Handled {
        if version != wire::VERSION {
            let why =
                format!("unsupported protocol version {version}; this page's world speaks {}", wire::VERSION);
            return self.error("unsupported_version", why).await;
        }
        if self.hello {
            return self.error("already_hello", "this session already said hello").await;
        }
        if choice != WorldChoice::Sandbox {
            // The page offers rooms and the persistent world only with a server; a link still can ask.
            let why = format!(
                "rooms and the persistent world need a Mailroom server (how to run one: {SERVER_HELP}); this page \
                 runs its own private world in the browser tab instead"
            );
            self.error("world_not_allowed", why).await?;
        }
        self.hello = true;
        // A new world each time the tab's worker starts: the page must not take transcripts kept from an earlier
        // one (it keeps them per token) for this world's.
        let token = format!("tab-{:016x}", crate::rt::random_u64());
        self.send(ServerMsg::Welcome {
            version: wire::VERSION,
            token,
            world: WorldChoice::Sandbox,
            plaintext_auth: true,
        })
        .await?;
        self.send(ServerMsg::Attached { instance: "this browser tab".into(), created: true }).await?;
        self.replay().await?;
        self.send_snapshot().await
    }

    /// Sends what already happened in the world (its recent events), which the live feed may deliver again.
    async fn replay(&mut self) -> Handled {
        self.replayed = self.world.events.recent();
        for event in self.replayed.clone() {
            self.send(ServerMsg::Event { event }).await?;
        }
        Ok(())
    }

    /// Replaces the world by a fresh one: connections into the old one close, the page hears `world_reset`.
    async fn reset(&mut self) -> Handled {
        self.conns.clear();
        self.world.shutdown();
        self.world = match World::start(self.config.clone(), Persistence::Memory) {
            Ok(w) => w,
            Err(e) => return self.error("internal", format!("could not start the world: {e}")).await,
        };
        self.events = self.world.events.subscribe();
        self.headers.clear();
        self.send(ServerMsg::WorldReset).await?;
        self.replay().await?;
        self.send_snapshot().await
    }

    async fn start_lesson(&mut self, id: &str) -> Handled {
        let Some(lesson) = crate::lesson::catalogue::get(id) else {
            return self.error("unknown_lesson", format!("no lesson {id:?}")).await;
        };
        self.checker = None;
        self.reset().await?;
        let checker = match begin_lesson(&self.world, lesson).await {
            Ok(c) => c,
            Err(e) => return self.error("internal", format!("could not set up the lesson: {e}")).await,
        };
        // Events of the set-up were replayed by the reset or are on the feed: the checker has seen the world.
        let progress = checker.progress();
        self.checker = Some(checker);
        self.send(ServerMsg::Lesson { lesson: Some(Box::new(lesson.clone())) }).await?;
        self.send(ServerMsg::Progress { progress, reached: vec![] }).await?;
        self.send_snapshot().await
    }

    async fn check_lesson(&mut self) -> Handled {
        let Some(c) = self.checker.as_mut() else { return Ok(()) };
        let reached = c.evaluate(&*self.world);
        if reached.is_empty() {
            return Ok(());
        }
        let progress = c.progress();
        self.send(ServerMsg::Progress { progress, reached }).await
    }

    async fn open(&mut self, conn: u32, host: &str, service: &str) -> Handled {
        self.conns.retain(|_, c| c.input.as_ref().is_some_and(|i| !i.is_closed()));
        if self.conns.contains_key(&conn) {
            return self.error("conn_in_use", format!("connection {conn} is already open")).await;
        }
        let hc = self
            .config
            .hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(host) || h.fqdn().eq_ignore_ascii_case(host))
            .cloned();
        let (hc, svc) = match (hc, Service::from_name(service)) {
            (Some(hc), Some(svc)) => (hc, svc),
            (Some(_), None) => {
                let why = format!(
                    "no service {service:?}; try smtp, submission, smtps, pop3, pop3s, imap or imaps"
                );
                return self.error("unknown_target", why).await;
            }
            (None, _) => {
                let why = format!(
                    "no host {host:?} in this world; servers outside it can only be reached from a Mailroom server \
                     (how to run one: {SERVER_HELP})"
                );
                return self.error("unknown_target", why).await;
            }
        };
        let peer = Peer {
            addr: "playground (this browser tab)".into(),
            ip: None,
            plaintext_auth_ok: true,
            login_timeout: None,
        };
        let mc = match self.world.connect(&hc.name, svc, peer) {
            Ok(mc) => mc,
            Err(e) => {
                return self
                    .send(ServerMsg::Closed { conn, reason: format!("connection refused: {e}") })
                    .await;
            }
        };
        if let Some(c) = self.checker.as_mut() {
            c.on_open(conn, &hc.name, svc.name());
        }
        let opened =
            ServerMsg::Opened { conn, host: hc.name.clone(), service: svc.name().into(), port: hc.port(svc) };
        self.send(opened).await?;
        let (input_tx, input) = mpsc::channel(CONN_QUEUE);
        let relay = Relay {
            conn,
            out: self.out.clone(),
            input,
            server_name: hc.fqdn(),
            counters: self.counters.clone(),
            tap: self.checker.is_some().then(|| self.tap_tx.clone()),
        };
        crate::rt::spawn(relay.run(mc.stream, svc.implicit_tls(), Some(mc.upgrades)));
        self.conns.insert(conn, Conn { input: Some(input_tx) });
        Ok(())
    }

    fn schedule_snapshot(&mut self) {
        if self.snapshot_due.is_none() {
            self.snapshot_due = Some(Instant::now() + SNAPSHOT_DEBOUNCE);
        }
    }

    async fn send_snapshot(&mut self) -> Handled {
        self.snapshot_due = None;
        let world = self.world.snapshot(&self.headers);
        self.send(ServerMsg::Snapshot { world }).await
    }
}

#[cfg(test)]
mod tests;
