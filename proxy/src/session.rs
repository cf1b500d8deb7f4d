//! One WebSocket = one playground session (protocol: `mailroom_core::wire`, documented in
//! `docs/websocket-protocol.md`; close codes in [`close`] and `docs/limits.md`).
//!
//! Three tasks per socket: the *writer* owns the sending half and turns [`Out`] into frames; the *session* owns
//! the receiving half, the attached world and the connections (each a [`Relay`] task feeding the writer); the
//! *supervisor* (the upgrade future) waits for either of the first two, aborts the other, and turns a panic in the
//! session into close code 1011 instead of taking the process down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use mailroom_core::config::Service;
use mailroom_core::event::Event;
use mailroom_core::lesson::Progress;
use mailroom_core::lesson::check::Checker;
use mailroom_core::net::Peer;
use mailroom_core::wire::{self, ClientMsg, ServerMsg, WorldChoice};
use mailroom_core::world::World;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::AppState;
use crate::limits::TokenBucket;
use crate::worlds::{AttachError, Kind, WorldHandle};
pub use mailroom_core::playground::Out;
use mailroom_core::playground::relay::{Relay, Tapped, from_wire};
use mailroom_core::playground::{begin_lesson, parse, settle};

/// WebSocket close codes the proxy uses (RFC 6455 §7.4; 4000-4999 are ours).
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A message larger than `max_frame`.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The session task failed (a bug); the process lives on.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// `hello` asked for a protocol version this server does not speak.
    pub const UNSUPPORTED_VERSION: u16 = 4001;
    /// `max_sessions` sessions are open.
    pub const TOO_MANY_SESSIONS: u16 = 4002;
    /// `max_sessions_per_ip` sessions are open from this client address.
    pub const TOO_MANY_SESSIONS_FROM_ADDRESS: u16 = 4003;
    /// `max_bad_messages` malformed or unknown messages in a row.
    pub const TOO_MANY_BAD_MESSAGES: u16 = 4004;
    /// `max_worlds` sandboxes and rooms exist.
    pub const TOO_MANY_WORLDS: u16 = 4005;
    /// Nothing received for `idle_timeout`.
    pub const IDLE: u16 = 4006;
}

/// Capacity of the writer's queue: enough for bursts of transcript, small enough to push back on a slow browser.
const OUT_QUEUE: usize = 256;
/// Pending chunks per connection before `send` answers `busy`.
const CONN_QUEUE: usize = 64;

/// Runs one socket to the end. Never panics: a failing session is closed with 1011.
pub async fn run(socket: WebSocket, state: AppState, ip: Option<IpAddr>, url_room: Option<String>) {
    let (mut sink, stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Out>(OUT_QUEUE);
    let metrics = state.metrics.clone();
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let (frame, last) = match out {
                Out::Msg(m) => match serde_json::to_string(&m) {
                    Ok(s) => (Message::Text(s.into()), false),
                    Err(e) => {
                        tracing::error!(error = %e, "unserialisable message");
                        continue;
                    }
                },
                Out::Close(code, reason) => {
                    (Message::Close(Some(CloseFrame { code, reason: reason.into() })), true)
                }
            };
            if sink.send(frame).await.is_err() {
                return;
            }
            metrics.ws_out_total.fetch_add(1, Ordering::Relaxed);
            if last {
                break;
            }
        }
        let _ = sink.close().await;
    });

    // Admission: global cap, then the per-address cap.
    let cfg = &state.config;
    let n = state.metrics.sessions.fetch_add(1, Ordering::SeqCst);
    let _count = Decrement(state.clone());
    let slot = state.per_ip.acquire(ip, cfg.max_sessions_per_ip);
    let refusal = if n as usize >= cfg.max_sessions {
        Some((close::TOO_MANY_SESSIONS, "too many sessions on this server; try again later"))
    } else if slot.is_none() {
        Some((close::TOO_MANY_SESSIONS_FROM_ADDRESS, "too many sessions from your address"))
    } else {
        None
    };
    if let Some((code, reason)) = refusal {
        state.metrics.limited_total.fetch_add(1, Ordering::Relaxed);
        let _ = tx.send(Out::Close(code, reason.into())).await;
        drop(tx);
        let _ = writer.await;
        return;
    }
    state.metrics.sessions_total.fetch_add(1, Ordering::Relaxed);

    let mut session = Session::new(state.clone(), ip, tx.clone());
    session.url_room = url_room;
    let task = tokio::spawn(session.run(stream));
    supervise(task, writer, tx, &state.metrics).await;
    drop(slot);
}

/// Waits for the session task or the writer, whichever ends first, and stops the other. A panic in the session
/// becomes close code 1011 on its own socket and a count in the metrics; nothing else is affected.
async fn supervise(
    mut task: JoinHandle<()>,
    mut writer: JoinHandle<()>,
    tx: mpsc::Sender<Out>,
    metrics: &crate::metrics::Metrics,
) {
    let writer_done = tokio::select! {
        r = &mut task => {
            if let Err(e) = r
                && e.is_panic()
            {
                metrics.panics_total.fetch_add(1, Ordering::Relaxed);
                tracing::error!("session task panicked; closing its socket");
                let _ = tx.send(Out::Close(close::INTERNAL_ERROR, "internal error".into())).await;
            }
            false
        }
        _ = &mut writer => {
            task.abort();
            true
        }
    };
    drop(tx);
    // A finished JoinHandle must not be polled again (tokio panics). Otherwise the writer ends once every sender
    // (relays included) is gone; do not wait forever on a stuck browser.
    if !writer_done && tokio::time::timeout(std::time::Duration::from_secs(5), &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Gives the session count back, however the session ends.
struct Decrement(AppState);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.metrics.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A relayed connection as the session sees it.
struct ConnHandle {
    /// Bytes for the server; `None` once the browser closed it (the relay finishes the close).
    input: Option<mpsc::Sender<Vec<u8>>>,
    task: JoinHandle<()>,
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The state of one session.
struct Session {
    state: AppState,
    ip: Option<IpAddr>,
    out: mpsc::Sender<Out>,
    /// The world attached by `hello`.
    handle: Option<Arc<WorldHandle>>,
    /// Starts and resets of that world.
    world_rx: Option<watch::Receiver<Option<Arc<World>>>>,
    /// How many sockets share the world.
    members_rx: Option<watch::Receiver<usize>>,
    /// The room named in the WebSocket URL (`/ws?room=CODE`), which `hello` must agree with.
    url_room: Option<String>,
    /// Which world instance the session follows (its address), to tell a reset from a first start.
    world_id: Option<usize>,
    /// Its events, while it runs.
    events: Option<broadcast::Receiver<Arc<Event>>>,
    /// Events just replayed from the world's memory, which the live feed may deliver again.
    replayed: Vec<Event>,
    conns: HashMap<u32, ConnHandle>,
    msgs: TokenBucket,
    bytes: TokenBucket,
    bad_in_row: u32,
    /// When `rate_limited` was last said.
    rate_error_at: Option<Instant>,
    /// When the browser last asked for something (pings excluded): the idle timeout counts from here.
    last_active: Instant,
    snapshot_due: Option<Instant>,
    full_warned: bool,
    /// The lesson progress this browser was last told.
    progress_sent: Option<Progress>,
    /// Transcript copies from the relays opened while a lesson runs.
    tap_tx: mpsc::Sender<Tapped>,
    tap_rx: mpsc::Receiver<Tapped>,
}

/// Transcript chunks waiting for the lesson checker.
const TAP_QUEUE: usize = 64;

/// Why the session loop stops.
enum Stop {
    /// The browser went away.
    Gone,
    /// Close with this code and reason.
    Close(u16, String),
}

type Handled = Result<(), Stop>;

impl Session {
    fn new(state: AppState, ip: Option<IpAddr>, out: mpsc::Sender<Out>) -> Session {
        let c = &state.config;
        let (tap_tx, tap_rx) = mpsc::channel(TAP_QUEUE);
        Session {
            msgs: TokenBucket::new(c.msgs_per_sec, c.msgs_burst),
            bytes: TokenBucket::new(c.bytes_per_sec, c.bytes_burst),
            state,
            ip,
            out,
            handle: None,
            world_rx: None,
            members_rx: None,
            url_room: None,
            world_id: None,
            events: None,
            replayed: Vec::new(),
            conns: HashMap::new(),
            bad_in_row: 0,
            rate_error_at: None,
            last_active: Instant::now(),
            snapshot_due: None,
            full_warned: false,
            progress_sent: None,
            tap_tx,
            tap_rx,
        }
    }

    async fn run(mut self, mut stream: SplitStream<WebSocket>) {
        let idle = self.state.config.idle_timeout;
        self.last_active = Instant::now();
        let mut shutdown = self.state.shutdown.subscribe();
        let stop = loop {
            let r = tokio::select! {
                m = stream.next() => match m {
                    None | Some(Err(_)) => Err(Stop::Gone),
                    Some(Ok(m)) => {
                        self.state.metrics.ws_in_total.fetch_add(1, Ordering::Relaxed);
                        self.on_frame(m).await
                    }
                },
                ev = recv_event(&mut self.events) => match ev {
                    Ok(event) => self.on_world_event(event).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.schedule_snapshot();
                        Ok(())
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.events = None;
                        Ok(())
                    }
                },
                Some(t) = self.tap_rx.recv() => {
                    if self.with_lesson(|c| c.on_data(t.conn, t.dir, &t.bytes)).is_some() {
                        self.check_lesson().await
                    } else {
                        Ok(())
                    }
                }
                Some(count) = members_changed(&mut self.members_rx) => self.send(ServerMsg::Members { count }).await,
                _ = world_changed(&mut self.world_rx) => {
                    match self.world_replaced().await {
                        Ok(()) => match self.resubscribe().await {
                            Ok(()) => self.send_snapshot().await,
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    }
                }
                _ = sleep_until(self.snapshot_due.unwrap_or(self.last_active)), if self.snapshot_due.is_some() => {
                    self.send_snapshot().await
                }
                _ = sleep_until(self.last_active + idle) => Err(Stop::Close(close::IDLE, "idle timeout".into())),
                _ = async { drop(shutdown.wait_for(|down| *down).await) } => Err(Stop::Close(close::GOING_AWAY, "server shutting down".into())),
            };
            if let Err(stop) = r {
                break stop;
            }
        };
        if let Stop::Close(code, reason) = stop {
            if code != close::MESSAGE_TOO_BIG && code != close::GOING_AWAY {
                self.state.metrics.limited_total.fetch_add(1, Ordering::Relaxed);
            }
            let _ = self.out.send(Out::Close(code, reason)).await;
        }
    }

    async fn send(&self, m: ServerMsg) -> Handled {
        self.out.send(Out::Msg(m)).await.map_err(|_| Stop::Gone)
    }

    async fn error(&self, code: &str, message: impl Into<String>) -> Handled {
        self.send(ServerMsg::Error { code: code.into(), message: message.into() }).await
    }

    /// A malformed or unknown message: an error, and after `max_bad_messages` in a row, the end.
    async fn bad(&mut self, code: &str, message: impl Into<String>) -> Handled {
        self.bad_in_row += 1;
        self.error(code, message).await?;
        if self.bad_in_row >= self.state.config.max_bad_messages {
            return Err(Stop::Close(close::TOO_MANY_BAD_MESSAGES, "too many malformed messages".into()));
        }
        Ok(())
    }

    /// Says `rate_limited`, at most once a second: a flood must not be answered by a flood.
    async fn rate_limited(&mut self, message: &str) -> Handled {
        let now = Instant::now();
        if self.rate_error_at.is_some_and(|at| now.duration_since(at) < std::time::Duration::from_secs(1)) {
            return Ok(());
        }
        self.rate_error_at = Some(now);
        self.error("rate_limited", message).await
    }

    async fn on_frame(&mut self, m: Message) -> Handled {
        let text = match m {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return self.bad("bad_json", "binary frames are not part of the protocol").await;
            }
            Message::Close(_) => return Err(Stop::Gone),
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
        };
        if text.len() > self.state.config.max_frame {
            return Err(Stop::Close(close::MESSAGE_TOO_BIG, "message too big".into()));
        }
        if !self.msgs.take(1) {
            return self.rate_limited("too many messages per second; dropped").await;
        }
        let msg = match parse(&text) {
            Ok(m) => m,
            Err((code, message)) => return self.bad(code, message).await,
        };
        // Keep-alives keep the socket up through proxies but do not count as use: a forgotten tab still times out.
        if msg != ClientMsg::Ping {
            self.last_active = Instant::now();
        }
        // A well-formed message with bad contents (say, invalid base64) is still a bad message: the run of bad
        // messages ends only with one that was handled without complaint.
        let bad_before = self.bad_in_row;
        let r = self.on_msg(msg).await;
        if self.bad_in_row == bad_before {
            self.bad_in_row = 0;
        }
        r
    }

    async fn on_msg(&mut self, msg: ClientMsg) -> Handled {
        let handle = match (&self.handle, &msg) {
            (None, ClientMsg::Hello { version, token, world }) => {
                return self.hello(*version, token.clone(), world.clone()).await;
            }
            (None, ClientMsg::Ping) => return self.send(ServerMsg::Pong).await,
            (None, _) => return self.error("hello_first", "send hello first").await,
            (Some(_), ClientMsg::Hello { .. }) => {
                return self.error("already_hello", "this session already said hello").await;
            }
            (Some(h), _) => h.clone(),
        };
        match msg {
            ClientMsg::Hello { .. } => Ok(()),
            ClientMsg::Open { conn, host, service } => self.open(&handle, conn, &host, &service).await,
            ClientMsg::Send { conn, data } => {
                let bytes = match from_wire(&data) {
                    Ok(b) => b,
                    Err(e) => return self.bad("bad_message", e).await,
                };
                if !self.bytes.take(bytes.len() as u64) {
                    return self.rate_limited("too many bytes per second; this send was dropped").await;
                }
                let Some(input) = self.conns.get(&conn).and_then(|c| c.input.clone()) else {
                    return self.error("unknown_conn", format!("no open connection {conn}")).await;
                };
                match input.try_send(bytes) {
                    Ok(()) => Ok(()),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.error(
                            "busy",
                            format!("connection {conn} is not keeping up; this send was dropped"),
                        )
                        .await
                    }
                    // The relay just ended; its `closed` message is on its way.
                    Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
                }
            }
            ClientMsg::Close { conn } => {
                match self.conns.get_mut(&conn) {
                    // Dropping the sender makes the relay half-close and report `closed` when the server is done.
                    Some(c) if c.input.is_some() => c.input = None,
                    _ => self.error("unknown_conn", format!("no open connection {conn}")).await?,
                }
                Ok(())
            }
            ClientMsg::SetOnline { host, online } => {
                let world = self.running(&handle).await?;
                if world.set_online(&host, online) {
                    self.schedule_snapshot();
                    Ok(())
                } else {
                    self.error("unknown_host", format!("no host {host} in this world")).await
                }
            }
            ClientMsg::SetBusy { host, busy } => {
                if handle.kind == Kind::Persistent {
                    return self
                        .error("not_allowed", "real clients use the persistent world: it cannot be made busy")
                        .await;
                }
                let world = self.running(&handle).await?;
                if world.set_busy(&host, busy) {
                    self.schedule_snapshot();
                    Ok(())
                } else {
                    self.error("unknown_host", format!("no host {host} in this world")).await
                }
            }
            ClientMsg::SetExtension { host, protocol, name, on } => {
                if handle.kind == Kind::Persistent {
                    return self
                        .error("not_allowed", "the persistent world's extensions cannot be switched")
                        .await;
                }
                let world = self.running(&handle).await?;
                if world.set_extension(&host, &protocol, &name, on) {
                    self.schedule_snapshot();
                    Ok(())
                } else {
                    let list: Vec<String> =
                        mailroom_core::host::SWITCHABLE.iter().map(|(p, n)| format!("{p} {n}")).collect();
                    self.error(
                        "unknown_extension",
                        format!(
                            "cannot switch {protocol} {name} on {host}; these can be: {}",
                            list.join(", ")
                        ),
                    )
                    .await
                }
            }
            ClientMsg::RetryMessage { host, id } => {
                let world = self.running(&handle).await?;
                if world.retry_message(&host, &id) {
                    Ok(())
                } else {
                    self.error("unknown_message", format!("no message {id} in {host}'s queue")).await
                }
            }
            ClientMsg::ReturnMessage { host, id } => {
                let world = self.running(&handle).await?;
                if world.return_message(&host, &id) {
                    self.schedule_snapshot();
                    Ok(())
                } else {
                    self.error(
                        "unknown_message",
                        format!("no message {id} waiting in {host}'s queue right now"),
                    )
                    .await
                }
            }
            ClientMsg::RetryQueue => {
                if let Some(w) = handle.world() {
                    w.retry_now();
                }
                Ok(())
            }
            ClientMsg::ResetWorld => {
                if handle.take_lesson().is_some() {
                    self.send(ServerMsg::Lesson { lesson: None }).await?;
                }
                if handle.reset() {
                    // The old world's sessions say goodbye and close, so every open connection (ours and those of
                    // others in a room) reports `closed`; our own watch fires too and the pristine snapshot follows.
                    Ok(())
                } else {
                    self.error("not_allowed", "the persistent world cannot be reset").await
                }
            }
            ClientMsg::Snapshot => self.send_snapshot().await,
            ClientMsg::Ping => self.send(ServerMsg::Pong).await,
            ClientMsg::StartLesson { id } => self.start_lesson(&handle, &id).await,
            ClientMsg::LeaveLesson => {
                handle.take_lesson();
                self.send(ServerMsg::Lesson { lesson: None }).await
            }
            ClientMsg::Skip { to } => {
                if handle.kind == Kind::Persistent {
                    return self.error("not_allowed", "the persistent world keeps real time").await;
                }
                let world = self.running(&handle).await?;
                match world.skip(to) {
                    Some(by) => {
                        // Answer once the attempts the skip made due have run: what the learner (or "show me")
                        // does next then meets the world after the retry, not a race with it.
                        settle(&world).await;
                        self.drain_events().await?;
                        self.schedule_snapshot();
                        self.send(ServerMsg::Skipped { by_ms: by.as_millis() as u64 }).await
                    }
                    None => self.error("nothing_queued", "no message is waiting in a queue").await,
                }
            }
        }
    }

    /// Resets this session's sandbox to a lesson's start state and starts checking its goals. Connections the
    /// browser opens from now on count for the lesson.
    async fn start_lesson(&mut self, handle: &Arc<WorldHandle>, id: &str) -> Handled {
        let Some(lesson) = mailroom_core::lesson::catalogue::get(id) else {
            return self.error("unknown_lesson", format!("no lesson {id:?}")).await;
        };
        if handle.kind != Kind::Sandbox {
            return self
                .error(
                    "not_allowed",
                    "lessons run in a private sandbox; leave the room or persistent world first",
                )
                .await;
        }
        self.conns.clear();
        handle.take_lesson();
        handle.reset();
        let world = self.running(handle).await?;
        let checker = match begin_lesson(&world, lesson).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(lesson = id, error = %e, "lesson start state failed");
                return self.error("internal", format!("could not set up the lesson: {e}")).await;
            }
        };
        // Follow the new world now, so no event of the old one reaches the checker.
        self.resubscribe().await?;
        let progress = checker.progress();
        handle.set_lesson(checker);
        self.send(ServerMsg::Lesson { lesson: Some(Box::new(lesson.clone())) }).await?;
        self.send_progress(progress, vec![]).await?;
        self.send_snapshot().await
    }

    /// Runs `f` on the lesson checker of the attached world, if a lesson runs there.
    fn with_lesson<T>(&self, f: impl FnOnce(&mut Checker) -> T) -> Option<T> {
        self.handle.as_ref().and_then(|h| h.with_lesson(f))
    }

    /// Re-evaluates the lesson's goals and reports newly reached ones.
    ///
    /// The checker belongs to the world, and more than one socket may be attached to it (a page just reloaded
    /// while its old socket is still closing, two tabs with one token): each session tells its own browser about
    /// every goal reached since what it last told it, whichever session's evaluation latched the goal. (Telling
    /// only the evaluating session left a page waiting forever when the other socket evaluated first.)
    async fn check_lesson(&mut self) -> Handled {
        let Some(world) = self.handle.as_ref().and_then(|h| h.world()) else { return Ok(()) };
        let Some(progress) = self.with_lesson(|c| {
            c.evaluate(&*world);
            c.progress()
        }) else {
            return Ok(());
        };
        let told = self.progress_sent.as_ref().filter(|p| p.id == progress.id);
        let reached: Vec<usize> = (0..progress.goals.len())
            .filter(|&g| progress.goals[g] && told.is_none_or(|t| t.goals.get(g) != Some(&true)))
            .collect();
        if reached.is_empty() {
            return Ok(());
        }
        self.send_progress(progress, reached).await
    }

    /// Sends lesson progress and remembers what this browser was told.
    async fn send_progress(&mut self, progress: Progress, reached: Vec<usize>) -> Handled {
        self.progress_sent = Some(progress.clone());
        self.send(ServerMsg::Progress { progress, reached }).await
    }

    /// The running world, started if needed.
    async fn running(&self, handle: &WorldHandle) -> Result<Arc<World>, Stop> {
        match handle.get_or_start() {
            Ok(w) => Ok(w),
            Err(e) => {
                tracing::error!(error = %e, "could not start a world");
                self.error("internal", "could not start the world").await?;
                Err(Stop::Close(close::INTERNAL_ERROR, "could not start the world".into()))
            }
        }
    }

    async fn hello(&mut self, version: u32, token: Option<String>, choice: WorldChoice) -> Handled {
        if version != wire::VERSION {
            return Err(Stop::Close(
                close::UNSUPPORTED_VERSION,
                format!("unsupported protocol version {version}; this server speaks {}", wire::VERSION),
            ));
        }
        if let Some(url_room) = &self.url_room {
            let agrees = matches!(&choice, WorldChoice::Room { code } if code.eq_ignore_ascii_case(url_room));
            if !agrees {
                return self
                    .bad(
                        "room_mismatch",
                        format!("this socket was opened for room {url_room:?}: say hello to that room"),
                    )
                    .await;
            }
        }
        let reg = &self.state.registry;
        let mut reattached = None;
        let mut created = false;
        if let (Some(t), WorldChoice::Sandbox) = (&token, &choice) {
            match reg.by_token(t) {
                Some(h) => reattached = Some((t.clone(), h)),
                None => {
                    self.error("token_expired", "that session has expired; here is a new sandbox").await?
                }
            }
        }
        let (token, handle) = match reattached {
            Some(r) => r,
            None => {
                let handle = match &choice {
                    WorldChoice::Sandbox => {
                        created = true;
                        reg.new_sandbox(self.ip, self.state.config.max_worlds_per_ip)
                    }
                    WorldChoice::Room { code } => reg.room_created(code).map(|(h, c)| {
                        created = c;
                        h
                    }),
                    WorldChoice::Persistent if self.state.config.allow_persistent => {
                        Ok(reg.persistent.clone())
                    }
                    WorldChoice::Persistent => {
                        return self
                            .error("world_not_allowed", "this server does not share its persistent world")
                            .await;
                    }
                };
                let handle = match handle {
                    Ok(h) => h,
                    Err(AttachError::BadRoomCode) => {
                        return self.bad("bad_room", "room codes are 1-32 letters, digits, '-' or '_'").await;
                    }
                    Err(AttachError::TooManyWorlds) => {
                        return Err(Stop::Close(
                            close::TOO_MANY_WORLDS,
                            "too many worlds on this server".into(),
                        ));
                    }
                };
                let token = new_token();
                // Only a sandbox needs its token to be found again: a room is found by its code, the persistent
                // world is always there.
                if handle.kind == Kind::Sandbox {
                    reg.remember(&token, handle.clone());
                }
                (token, handle)
            }
        };
        handle.attach();
        let world = match &handle.kind {
            Kind::Sandbox => WorldChoice::Sandbox,
            Kind::Room(code) => WorldChoice::Room { code: code.clone() },
            Kind::Persistent => WorldChoice::Persistent,
        };
        let plaintext_auth = self.plaintext_auth_ok(&handle);
        self.world_rx = Some(handle.watch());
        let mut members = handle.members();
        members.mark_changed();
        self.members_rx = Some(members);
        self.handle = Some(handle.clone());
        self.send(ServerMsg::Welcome { version: wire::VERSION, token, world, plaintext_auth }).await?;
        let instance = self.state.config.instance_name.clone();
        self.send(ServerMsg::Attached { instance, created }).await?;
        self.resubscribe().await?;
        self.send_snapshot().await?;
        // A reload in the middle of a lesson comes back to it, goals reached so far included.
        if let Some((lesson, progress)) = self.with_lesson(|c| (c.lesson().clone(), c.progress())) {
            self.send(ServerMsg::Lesson { lesson: Some(Box::new(lesson)) }).await?;
            self.send_progress(progress, vec![]).await?;
        }
        Ok(())
    }

    fn plaintext_auth_ok(&self, handle: &WorldHandle) -> bool {
        handle.kind != Kind::Persistent
            || handle.config().allow_plaintext_auth
            || self.ip.is_none_or(|ip| ip.is_loopback())
    }

    async fn open(&mut self, handle: &Arc<WorldHandle>, conn: u32, host: &str, service: &str) -> Handled {
        self.conns.retain(|_, c| !c.task.is_finished());
        if self.conns.contains_key(&conn) {
            return self.error("conn_in_use", format!("connection {conn} is already open")).await;
        }
        let max = self.state.config.max_connections_per_session;
        if self.conns.len() >= max {
            return self.error("limit", format!("at most {max} connections per session")).await;
        }
        let world_host = handle
            .config()
            .hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(host) || h.fqdn().eq_ignore_ascii_case(host))
            .cloned();
        let (input_tx, input_rx) = mpsc::channel(CONN_QUEUE);
        let task = match (world_host, Service::from_name(service)) {
            (Some(hc), Some(svc)) => match self.open_in_world(handle, conn, &hc, svc, input_rx).await? {
                Some(task) => task,
                None => return Ok(()),
            },
            (world_host, svc) => {
                // Not a host of this world: one of the remote targets the operator allowed, or nothing.
                let remote = self
                    .state
                    .config
                    .remote(host)
                    .filter(|r| world_host.is_none() && svc == Some(r.service))
                    .cloned();
                let Some(remote) = remote else {
                    let why = match (world_host, svc) {
                        (Some(_), None) => format!(
                            "no service {service:?}; try smtp, submission, smtps, pop3, pop3s, imap or imaps"
                        ),
                        _ => format!("no host {host:?} with service {service:?} here"),
                    };
                    return self.error("unknown_target", why).await;
                };
                let relay = self.relay(conn, input_rx, remote.host.clone());
                tokio::spawn(crate::conn::dial(relay, remote, self.state.config.remote_connect_timeout))
            }
        };
        self.conns.insert(conn, ConnHandle { input: Some(input_tx), task });
        Ok(())
    }

    /// The relay for a new connection: its transcript goes to the browser, and to the lesson checker while a
    /// lesson runs.
    fn relay(&self, conn: u32, input: mpsc::Receiver<Vec<u8>>, server_name: String) -> Relay {
        Relay {
            conn,
            out: self.out.clone(),
            input,
            server_name,
            counters: self.state.metrics.relay.clone(),
            tap: self.with_lesson(|_| self.tap_tx.clone()),
        }
    }

    /// Connects to a service of a host of the attached world (starting the world if need be), in memory. `None`
    /// when the browser was told why not.
    async fn open_in_world(
        &mut self,
        handle: &Arc<WorldHandle>,
        conn: u32,
        hc: &mailroom_core::config::HostConfig,
        svc: Service,
        input: mpsc::Receiver<Vec<u8>>,
    ) -> Result<Option<JoinHandle<()>>, Stop> {
        if svc.protocol() == mailroom_core::config::Protocol::Smtp
            && handle.kind != Kind::Persistent
            && handle.full.load(Ordering::Relaxed)
        {
            self.error("sandbox_full", "this world holds too much mail; delete some or reset the world")
                .await?;
            return Ok(None);
        }
        let world = self.running(handle).await?;
        let peer = Peer {
            addr: match self.ip {
                Some(ip) => format!("{ip} (playground)"),
                None => "playground".into(),
            },
            ip: self.ip,
            plaintext_auth_ok: self.plaintext_auth_ok(handle),
            // Learners read and think before they log in; the session's own limits bound abuse.
            login_timeout: None,
        };
        let mc = match world.connect(&hc.name, svc, peer) {
            Ok(mc) => mc,
            Err(e) => {
                self.send(ServerMsg::Closed { conn, reason: format!("connection refused: {e}") }).await?;
                return Ok(None);
            }
        };
        let port = world.addr(&hc.name, svc).map(|a| a.port()).unwrap_or(hc.port(svc));
        self.with_lesson(|c| c.on_open(conn, &hc.name, svc.name()));
        self.send(ServerMsg::Opened { conn, host: hc.name.clone(), service: svc.name().into(), port })
            .await?;
        let relay = self.relay(conn, input, hc.fqdn());
        Ok(Some(tokio::spawn(relay.run(mc.stream, svc.implicit_tls(), Some(mc.upgrades)))))
    }

    /// Follows the attached world after hello, a start or a reset, and replays what already happened in it: a
    /// reload or a newcomer to a room sees the story so far, and the events of a world another socket just started
    /// (say, by taking a host offline) are not lost. Events both replayed and received live are sent once.
    /// Says `world_reset` when the attached world was replaced by a new one (a reset, ours or another member's),
    /// not when it first starts.
    async fn world_replaced(&mut self) -> Handled {
        let now = self.handle.as_ref().and_then(|h| h.world()).map(|w| Arc::as_ptr(&w) as usize);
        let before = std::mem::replace(&mut self.world_id, now);
        if before.is_some() && before != now {
            self.send(ServerMsg::WorldReset).await?;
        }
        Ok(())
    }

    async fn resubscribe(&mut self) -> Handled {
        self.world_id = self.handle.as_ref().and_then(|h| h.world()).map(|w| Arc::as_ptr(&w) as usize);
        let world = self.handle.as_ref().and_then(|h| h.world());
        self.events = world.as_ref().map(|w| w.events.subscribe());
        self.replayed = world.map(|w| w.events.recent()).unwrap_or_default();
        for event in self.replayed.clone() {
            self.send(ServerMsg::Event { event }).await?;
        }
        Ok(())
    }

    /// A world event: to the lesson checker, to the page, then the goals it may have completed.
    async fn on_world_event(&mut self, event: Event) -> Handled {
        if self.replayed.contains(&event) {
            return Ok(());
        }
        self.replayed.clear();
        self.schedule_snapshot();
        self.with_lesson(|c| c.on_event(&event));
        self.send(ServerMsg::Event { event }).await?;
        self.check_lesson().await
    }

    /// Handles the events the world already published, before answering a request whose effects they are. (After
    /// a skip, the page and the lesson checker must hear of the retries it made due before `skipped`: "show me"
    /// acts on `skipped`, and a deferral checked after mx2 came back would meet an empty queue.)
    async fn drain_events(&mut self) -> Handled {
        while let Some(rx) = self.events.as_mut() {
            match rx.try_recv() {
                Ok(event) => self.on_world_event(Arc::unwrap_or_clone(event)).await?,
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.schedule_snapshot(),
                Err(broadcast::error::TryRecvError::Closed) => self.events = None,
                Err(broadcast::error::TryRecvError::Empty) => break,
            }
        }
        Ok(())
    }

    fn schedule_snapshot(&mut self) {
        if self.snapshot_due.is_none() {
            self.snapshot_due = Some(Instant::now() + self.state.config.snapshot_debounce);
        }
    }

    async fn send_snapshot(&mut self) -> Handled {
        self.snapshot_due = None;
        let Some(handle) = self.handle.clone() else { return Ok(()) };
        let world = match handle.world() {
            None => self.state.registry.pristine().clone(),
            Some(w) => {
                let h = handle.clone();
                let snap = tokio::task::spawn_blocking(move || w.snapshot(&h.headers)).await;
                match snap {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "snapshot failed");
                        return self.error("internal", "could not take a snapshot").await;
                    }
                }
            }
        };
        if handle.kind != Kind::Persistent {
            let (n, bytes) = mailroom_core::snapshot::size(&world);
            let cfg = &self.state.config;
            let full = n >= cfg.sandbox_max_messages || bytes >= cfg.sandbox_max_bytes;
            handle.full.store(full, Ordering::Relaxed);
            if full && !self.full_warned {
                self.error(
                    "sandbox_full",
                    format!(
                        "this world holds {n} messages ({bytes} bytes); limits are {} messages and {} bytes: new SMTP connections are refused until mail is deleted or the world is reset",
                        cfg.sandbox_max_messages, cfg.sandbox_max_bytes
                    ),
                )
                .await?;
            }
            self.full_warned = full;
        }
        self.send(ServerMsg::Snapshot { world }).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.detach();
        }
    }
}

fn new_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn recv_event(
    rx: &mut Option<broadcast::Receiver<Arc<Event>>>,
) -> Result<Event, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await.map(Arc::unwrap_or_clone),
        None => std::future::pending().await,
    }
}

/// The new member count when it changes (pending forever without a world, or once the handle is gone).
async fn members_changed(rx: &mut Option<watch::Receiver<usize>>) -> Option<usize> {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(*rx.borrow_and_update()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn world_changed(rx: &mut Option<watch::Receiver<Option<Arc<World>>>>) {
    match rx {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_session_closes_1011_and_nothing_else() {
        let metrics = crate::metrics::Metrics::default();
        let (tx, mut rx) = mpsc::channel(8);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let writer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(out) = rx.recv().await {
                got.push(format!("{out:?}"));
            }
            let _ = done_tx.send(got);
        });
        let sender = tx.clone();
        let task = tokio::spawn(async move {
            let _keep = sender;
            panic!("a bug in a session");
        });
        supervise(task, writer, tx, &metrics).await;
        let got = done_rx.await.unwrap();
        assert_eq!(got, [format!("{:?}", Out::Close(close::INTERNAL_ERROR, "internal error".into()))]);
        assert_eq!(metrics.panics_total.load(Ordering::Relaxed), 1);
    }

    /// The browser goes away first: the writer ends, the session is aborted, and supervising ends without
    /// polling the finished writer again (tokio panics on that).
    #[tokio::test]
    async fn a_browser_that_leaves_first_ends_the_session_quietly() {
        let metrics = crate::metrics::Metrics::default();
        let (tx, _rx) = mpsc::channel::<Out>(8);
        let writer = tokio::spawn(async {});
        let task = tokio::spawn(std::future::pending::<()>());
        let abort = task.abort_handle();
        tokio::task::yield_now().await;
        supervise(task, writer, tx, &metrics).await;
        tokio::task::yield_now().await;
        assert!(abort.is_finished(), "the session task was aborted");
        assert_eq!(metrics.panics_total.load(Ordering::Relaxed), 0);
    }
}
