//! The worlds browsers attach to: private sandboxes (one per session token), shared rooms (one per room code) and
//! the persistent world.
//!
//! A sandbox or room starts its [`World`] lazily, on the first action that needs a running world (opening a
//! connection, switching a host, retrying the queue): until then its snapshot is the pristine one every fresh world
//! has, so an idle session costs a few hundred bytes rather than two hosts with certificates and queue managers.
//! "Reset world" shuts the running world down and goes back to that pristine state.
//!
//! The [`Registry`] maps session tokens and room codes to handles. A handle without sockets is kept for
//! `reattach_ttl` (a reload or a dropped network comes back to the same mailboxes), then reaped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailroom_core::config::WorldConfig;
use mailroom_core::lesson::check::Checker;
use mailroom_core::wire::WorldSnap;
use mailroom_core::world::{Persistence, World};
use tokio::sync::watch;
use tokio::time::Instant;

use mailroom_core::snapshot::HeaderCache;

/// What kind of world a handle holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A private sandbox.
    Sandbox,
    /// A shared room with this code.
    Room(String),
    /// The persistent world of the TCP ports.
    Persistent,
}

/// One attachable world.
pub struct WorldHandle {
    /// Sandbox, room or persistent.
    pub kind: Kind,
    /// The client address that created a sandbox (for the per-address cap on kept worlds).
    pub owner: Option<IpAddr>,
    /// The configuration a (re)started world gets.
    config: WorldConfig,
    /// The running world; `None` while pristine. Sessions watch it to resubscribe after a start or reset.
    current: watch::Sender<Option<Arc<World>>>,
    /// Serialises starts so two sockets in a room cannot start two worlds.
    start_lock: Mutex<()>,
    /// Sockets attached now.
    attached: AtomicUsize,
    /// The same count for those who show it ("3 people in this room").
    members: watch::Sender<usize>,
    /// When the last socket left (for reaping).
    detached_at: Mutex<Option<Instant>>,
    /// Set by snapshots when the world holds more than the sandbox limits allow.
    pub full: AtomicBool,
    /// Parsed `From:`/`Subject:` of messages already seen (UIDs never change meaning within a UIDVALIDITY).
    pub headers: HeaderCache,
    /// The lesson running in this sandbox and its goal checker. Kept with the world, not the socket, so a reload
    /// (a new socket with the same token) comes back to the lesson. Never locked across an await.
    lesson: Mutex<Option<Checker>>,
}

impl WorldHandle {
    /// A lazily started sandbox or room.
    pub fn lazy(kind: Kind, config: WorldConfig, owner: Option<IpAddr>) -> Arc<WorldHandle> {
        Arc::new(WorldHandle {
            kind,
            owner,
            config,
            current: watch::Sender::new(None),
            start_lock: Mutex::new(()),
            attached: AtomicUsize::new(0),
            members: watch::Sender::new(0),
            detached_at: Mutex::new(Some(Instant::now())),
            full: AtomicBool::new(false),
            headers: HeaderCache::default(),
            lesson: Mutex::new(None),
        })
    }

    /// The persistent world, already running.
    pub fn persistent(world: Arc<World>) -> Arc<WorldHandle> {
        Arc::new(WorldHandle {
            kind: Kind::Persistent,
            owner: None,
            config: world.config.clone(),
            current: watch::Sender::new(Some(world)),
            start_lock: Mutex::new(()),
            attached: AtomicUsize::new(0),
            members: watch::Sender::new(0),
            detached_at: Mutex::new(None),
            full: AtomicBool::new(false),
            headers: HeaderCache::default(),
            lesson: Mutex::new(None),
        })
    }

    /// Runs `f` on the lesson checker, if a lesson runs in this world.
    pub fn with_lesson<T>(&self, f: impl FnOnce(&mut Checker) -> T) -> Option<T> {
        self.lesson.lock().unwrap_or_else(|e| e.into_inner()).as_mut().map(f)
    }

    /// Starts checking a lesson (replacing any other).
    pub fn set_lesson(&self, checker: Checker) {
        *self.lesson.lock().unwrap_or_else(|e| e.into_inner()) = Some(checker);
    }

    /// Stops the lesson; returns it if one ran.
    pub fn take_lesson(&self) -> Option<Checker> {
        self.lesson.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The running world, if started.
    pub fn world(&self) -> Option<Arc<World>> {
        self.current.borrow().clone()
    }

    /// The configuration of this world.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// Watches starts and resets.
    pub fn watch(&self) -> watch::Receiver<Option<Arc<World>>> {
        self.current.subscribe()
    }

    /// The running world, starting it first if needed. Must be called inside a Tokio runtime.
    pub fn get_or_start(&self) -> anyhow::Result<Arc<World>> {
        if let Some(w) = self.world() {
            return Ok(w);
        }
        let _guard = self.start_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = self.world() {
            return Ok(w);
        }
        let world = World::start(self.config.clone(), Persistence::Memory)?;
        self.current.send_replace(Some(world.clone()));
        Ok(world)
    }

    /// Shuts the running world down and returns to the pristine state. The persistent world cannot be reset.
    pub fn reset(&self) -> bool {
        if self.kind == Kind::Persistent {
            return false;
        }
        let _guard = self.start_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = self.current.send_replace(None) {
            old.shutdown();
        }
        self.full.store(false, Ordering::Relaxed);
        self.headers.clear();
        true
    }

    /// A socket attached.
    pub fn attach(&self) {
        let n = self.attached.fetch_add(1, Ordering::SeqCst) + 1;
        self.members.send_replace(n);
        *self.detached_at.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A socket left.
    pub fn detach(&self) {
        let before = self.attached.fetch_sub(1, Ordering::SeqCst);
        self.members.send_replace(before.saturating_sub(1));
        if before == 1 {
            *self.detached_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }

    /// Watches how many sockets are attached.
    pub fn members(&self) -> watch::Receiver<usize> {
        self.members.subscribe()
    }

    /// Whether nobody has been attached for `ttl`.
    fn expired(&self, ttl: Duration, now: Instant) -> bool {
        self.attached.load(Ordering::SeqCst) == 0
            && self
                .detached_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|at| now.duration_since(at) >= ttl)
    }

    /// Since when nobody is attached (`None` while someone is).
    fn detached_since(&self) -> Option<Instant> {
        if self.attached.load(Ordering::SeqCst) > 0 {
            return None;
        }
        *self.detached_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the world is running (for metrics).
    pub fn is_running(&self) -> bool {
        self.current.borrow().is_some()
    }
}

/// Why a world could not be attached.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachError {
    /// `max_worlds` are alive.
    TooManyWorlds,
    /// A room code must be 1-32 letters, digits, `-` or `_`.
    BadRoomCode,
}

/// Tokens and room codes to handles.
pub struct Registry {
    /// Sandbox configuration: the default world with playground timing.
    sandbox_config: WorldConfig,
    /// Session token -> the sandbox it was welcomed into.
    tokens: Mutex<HashMap<String, Arc<WorldHandle>>>,
    /// Room code -> room.
    rooms: Mutex<HashMap<String, Arc<WorldHandle>>>,
    /// The persistent world.
    pub persistent: Arc<WorldHandle>,
    /// A pristine world's snapshot, shown before a sandbox starts.
    pristine: WorldSnap,
    max_worlds: usize,
}

impl Registry {
    /// A registry whose sandboxes are built from `sandbox_config`.
    pub fn new(
        sandbox_config: WorldConfig,
        persistent: Arc<World>,
        pristine: WorldSnap,
        max_worlds: usize,
    ) -> Registry {
        Registry {
            sandbox_config,
            tokens: Mutex::new(HashMap::new()),
            rooms: Mutex::new(HashMap::new()),
            persistent: WorldHandle::persistent(persistent),
            pristine,
            max_worlds,
        }
    }

    /// What a world looks like before anything happened in it.
    pub fn pristine(&self) -> &WorldSnap {
        &self.pristine
    }

    fn count(&self) -> usize {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner()).len();
        let sandboxes = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|h| h.kind == Kind::Sandbox)
            .count();
        rooms + sandboxes
    }

    /// Worlds alive (sandboxes and rooms, started or not) and how many of them run.
    pub fn stats(&self) -> (usize, usize) {
        let mut all: Vec<Arc<WorldHandle>> =
            self.tokens.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        all.extend(self.rooms.lock().unwrap_or_else(|e| e.into_inner()).values().cloned());
        all.sort_by_key(|h| Arc::as_ptr(h) as usize);
        all.dedup_by_key(|h| Arc::as_ptr(h) as usize);
        let running = all.iter().filter(|h| h.is_running()).count();
        (all.len(), running)
    }

    /// The world a token was welcomed into, if it is still kept.
    pub fn by_token(&self, token: &str) -> Option<Arc<WorldHandle>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    /// A new private sandbox for a client at `owner`.
    ///
    /// Worlds whose sockets are gone are kept for a reattach, which would let one client (or many) pile them up by
    /// reconnecting: so a client keeps at most `per_owner` sandboxes (its oldest detached one is dropped to make
    /// room), and when the server holds `max_worlds`, detached sandboxes that never started (nothing in them to
    /// lose) are dropped first. Only when neither frees a place is the session refused.
    pub fn new_sandbox(
        &self,
        owner: Option<IpAddr>,
        per_owner: usize,
    ) -> Result<Arc<WorldHandle>, AttachError> {
        let owner = crate::limits::counted(owner);
        if let Some(ip) = owner {
            let n = self.evict(per_owner.saturating_sub(1), |h| h.owner == Some(ip));
            if n >= per_owner {
                return Err(AttachError::TooManyWorlds);
            }
        }
        let total = self.count();
        if total >= self.max_worlds {
            let pristine = self
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .filter(|h| h.kind == Kind::Sandbox && !h.is_running())
                .count();
            // Keep few enough pristine sandboxes that the new one fits.
            let others = total - pristine;
            self.evict(self.max_worlds.saturating_sub(others + 1), |h| !h.is_running());
            if self.count() >= self.max_worlds {
                return Err(AttachError::TooManyWorlds);
            }
        }
        Ok(WorldHandle::lazy(Kind::Sandbox, self.sandbox_config.clone(), owner))
    }

    /// Drops the oldest detached sandboxes matching `which` until at most `keep` sandboxes match; returns how many
    /// match afterwards.
    fn evict(&self, keep: usize, which: impl Fn(&WorldHandle) -> bool) -> usize {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<(String, Arc<WorldHandle>)> = tokens
            .iter()
            .filter(|(_, h)| h.kind == Kind::Sandbox && which(h))
            .map(|(t, h)| (t.clone(), h.clone()))
            .collect();
        let mut detached: Vec<(Instant, String, Arc<WorldHandle>)> = matching
            .iter()
            .filter_map(|(t, h)| h.detached_since().map(|at| (at, t.clone(), h.clone())))
            .collect();
        detached.sort_by_key(|(at, _, _)| *at);
        let mut left = matching.len();
        for (_, token, handle) in detached {
            if left <= keep {
                break;
            }
            tokens.remove(&token);
            if let Some(w) = handle.world() {
                w.shutdown();
            }
            left -= 1;
        }
        left
    }

    /// The room with this code, created on first use.
    pub fn room(&self, code: &str) -> Result<Arc<WorldHandle>, AttachError> {
        self.room_created(code).map(|(h, _)| h)
    }

    /// [`Registry::room`], and whether this call created the room.
    pub fn room_created(&self, code: &str) -> Result<(Arc<WorldHandle>, bool), AttachError> {
        let valid = !code.is_empty()
            && code.len() <= 32
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(AttachError::BadRoomCode);
        }
        let code = code.to_ascii_lowercase();
        if let Some(h) = self.rooms.lock().unwrap_or_else(|e| e.into_inner()).get(&code) {
            return Ok((h.clone(), false));
        }
        if self.count() >= self.max_worlds {
            return Err(AttachError::TooManyWorlds);
        }
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let mut created = false;
        let h = rooms
            .entry(code.clone())
            .or_insert_with(|| {
                created = true;
                WorldHandle::lazy(Kind::Room(code), self.sandbox_config.clone(), None)
            })
            .clone();
        Ok((h, created))
    }

    /// Sandboxes and rooms kept now (for `/metrics`: the spread over instances behind a balancer).
    pub fn kinds(&self) -> (usize, usize) {
        let mut sandboxes: Vec<Arc<WorldHandle>> =
            self.tokens.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        sandboxes.sort_by_key(|h| Arc::as_ptr(h) as usize);
        sandboxes.dedup_by_key(|h| Arc::as_ptr(h) as usize);
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner()).len();
        (sandboxes.len(), rooms)
    }

    /// Remembers which world a token belongs to.
    pub fn remember(&self, token: &str, handle: Arc<WorldHandle>) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(token.to_string(), handle);
    }

    /// Drops worlds nobody came back to within `ttl`, shutting down their running worlds.
    pub fn reap(&self, ttl: Duration) -> usize {
        let now = Instant::now();
        let mut dropped = Vec::new();
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, h| {
            let keep = !h.expired(ttl, now);
            if !keep {
                dropped.push(h.clone());
            }
            keep
        });
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, h| {
            let keep = !h.expired(ttl, now);
            if !keep {
                dropped.push(h.clone());
            }
            keep
        });
        for h in &dropped {
            if let Some(w) = h.world() {
                w.shutdown();
            }
        }
        dropped.len()
    }
}
