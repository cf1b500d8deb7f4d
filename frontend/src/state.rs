//! The app's one state and its reducer: every WebSocket message and every user action becomes an [`Action`];
//! [`AppState::apply`] is pure (unit-tested on the host) and `Reducible` wraps it for Yew's `use_reducer`.

use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

use mailroom_core::event::{Event, EventKind, TranscriptLine};
use mailroom_core::explain::Protocol;
use mailroom_core::lesson::{LessonEntry, Step};
use mailroom_core::wire::{Bytes, ClientMsg, Dir, ServerMsg, TlsDetails, TlsInfo, WorldChoice, WorldSnap};
use yew::Reducible;

use crate::lesson::{LessonRun, Wait};
use crate::proto::Tracker;
use crate::transcript::{Class, Line, LineBuf, classify};

/// Most lines kept per connection; older ones are dropped (the export says so).
pub const MAX_LINES: usize = 50_000;
/// Most events kept in the log.
pub const MAX_EVENTS: usize = 500;

/// Where the WebSocket to the proxy stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    /// Connecting (first time or after a reconnect).
    Connecting,
    /// Welcome received.
    Up,
    /// Lost, with the reason in words.
    Down(String),
}

/// One row of a transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    /// A line of bytes.
    Line(Line),
    /// TLS began here.
    Tls(TlsDetails),
    /// The connection ended.
    Closed(String),
}

/// Rows per shared chunk of a [`Rows`] store.
const CHUNK: usize = 256;

/// A transcript's rows, cheap to clone: full chunks are shared (`Rc`), only the short tail is copied. The reducer
/// clones the state on every message while Yew still holds the old one, so a plain `Vec` of 10,000 rows would be
/// copied for every line that arrives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    chunks: Vec<Rc<Vec<Row>>>,
    tail: Vec<Row>,
    /// How many rows were dropped from the front (whole chunks).
    pub dropped: usize,
}

impl Rows {
    /// Appends a row, dropping the oldest chunk once the full chunks hold more than [`MAX_LINES`] (so up to
    /// `MAX_LINES + CHUNK` rows are kept).
    pub fn push(&mut self, row: Row) {
        self.tail.push(row);
        if self.tail.len() == CHUNK {
            self.chunks.push(Rc::new(std::mem::take(&mut self.tail)));
            if self.len() > MAX_LINES {
                self.chunks.remove(0);
                self.dropped += CHUNK;
            }
        }
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.chunks.len() * CHUNK + self.tail.len()
    }

    /// Whether no row is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Absolute number of the row after the last one.
    pub fn end(&self) -> usize {
        self.dropped + self.len()
    }

    /// A row by absolute number (rows dropped from the front count).
    pub fn get(&self, abs: usize) -> Option<&Row> {
        let i = abs.checked_sub(self.dropped)?;
        match self.chunks.get(i / CHUNK) {
            Some(c) => c.get(i % CHUNK),
            None => self.tail.get(i - self.chunks.len() * CHUNK),
        }
    }

    /// The last row.
    pub fn last(&self) -> Option<&Row> {
        self.tail.last().or_else(|| self.chunks.last().and_then(|c| c.last()))
    }

    /// Every kept row, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Row> {
        self.chunks.iter().flat_map(|c| c.iter()).chain(self.tail.iter())
    }
}

/// One open (or closed) connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Conn {
    /// Connection ID (chosen by us).
    pub id: u32,
    /// `mx1`.
    pub host: String,
    /// `smtp`.
    pub service: String,
    /// The port it stands for, once opened.
    pub port: Option<u16>,
    /// Transcript rows.
    pub rows: Rows,
    bufs: [LineBuf; 2],
    /// Follows the protocol state.
    pub tracker: Tracker,
    /// TLS, once established.
    pub tls: Option<TlsDetails>,
    /// Close reason, once closed.
    pub closed: Option<String>,
    /// Commands typed here, oldest first.
    pub history: Vec<String>,
    /// The learner's device it belongs to in a lesson ("laptop", "phone").
    pub device: Option<String>,
}

impl Conn {
    fn new(id: u32, host: &str, service: &str) -> Conn {
        let protocol = Protocol::from_service(service).unwrap_or(Protocol::Smtp);
        let mut tracker = Tracker::new(protocol);
        // The implicit-TLS ports (RFC 8314) start inside TLS.
        tracker.tls = matches!(service, "smtps" | "pop3s" | "imaps");
        Conn {
            id,
            host: host.into(),
            service: service.into(),
            port: None,
            rows: Rows::default(),
            bufs: Default::default(),
            tracker,
            tls: None,
            closed: None,
            history: Vec::new(),
            device: None,
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.tracker.protocol
    }

    /// A short label: `mx1 IMAP #2`, with the device in a lesson: `laptop: mx1 SMTP #1`.
    pub fn label(&self) -> String {
        let device = self.device.as_ref().map(|d| format!("{d}: ")).unwrap_or_default();
        format!("{device}{} {} #{}", self.host, self.service.to_ascii_uppercase(), self.id)
    }

    fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    fn data(&mut self, dir: Dir, at: i64, text: &str) {
        let idx = if dir == Dir::C { 0 } else { 1 };
        for (line, eol) in self.bufs[idx].feed(text) {
            self.line(dir, at, line, eol);
        }
    }

    fn line(&mut self, dir: Dir, at: i64, text: String, eol: &'static str) {
        let class = match dir {
            Dir::C => {
                self.tracker.client_line(&text);
                Class::Client
            }
            Dir::S => {
                self.tracker.server_line(&text);
                classify(self.protocol(), &text)
            }
            // The learner's connections carry only C and S; a note is shown as the server's.
            Dir::Note => classify(self.protocol(), &text),
        };
        self.push(Row::Line(Line { dir, text, eol, at, class }));
    }

    /// Index of the first row by absolute number (rows dropped from the front count).
    pub fn row(&self, abs: usize) -> Option<&Row> {
        self.rows.get(abs)
    }
}

/// A relay conversation recorded by the core.
#[derive(Clone, Debug, PartialEq)]
pub struct Relay {
    /// Queue ID.
    pub id: String,
    /// Host that relayed.
    pub from_host: String,
    /// Next hop.
    pub mx: String,
    /// Lines.
    pub lines: Vec<TranscriptLine>,
    /// When the conversation was recorded (its event's time, ms since the epoch, world time).
    pub at: i64,
}

/// What the side panel shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Panel {
    /// Nothing selected: a short how-to.
    Help,
    /// The explanation of a transcript row (conn, absolute row).
    Explain(u32, usize),
    /// A mailbox's server-side view.
    Mailbox(String, String),
    /// The relay transcripts.
    Relay,
    /// The ladder diagram of every exchange.
    Ladder,
}

/// URL options (`?embed=1&host=mx1&service=smtp&room=ABC`, `?lesson=relay`, `?play=1`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preset {
    /// Compact layout.
    pub embed: bool,
    /// Host to open at start.
    pub host: Option<String>,
    /// Service to open at start.
    pub service: Option<String>,
    /// Shared room code.
    pub room: Option<String>,
    /// Lesson to start (`?lesson=ID`).
    pub lesson: Option<String>,
    /// The free playground: no first lesson on a first visit (`?play=1`).
    pub play: bool,
    /// Replay mode (`?replay=URL`, still URL-encoded; `?replay=1`: choose or paste a file): no session.
    pub replay: Option<String>,
    /// The world runs in this browser tab, in a Web Worker started from this script (a site made by
    /// `mailroom static-site`, which says so in a `<meta name="mailroom-world">` of its page); `None`: a server's.
    pub tab_world: Option<String>,
}

impl Preset {
    /// Parses a query string (with or without the leading `?`).
    pub fn parse(query: &str) -> Preset {
        let mut p = Preset::default();
        for pair in query.trim_start_matches('?').split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = v.to_string();
            let ok = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric());
            match k {
                "embed" => p.embed = v != "0" && v != "false",
                "host" if ok(&v) => p.host = Some(v.to_ascii_lowercase()),
                "service" if ok(&v) => p.service = Some(v.to_ascii_lowercase()),
                "room" if room_code_ok(&v) => p.room = Some(v),
                "lesson"
                    if !v.is_empty()
                        && v.len() <= 64
                        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
                {
                    p.lesson = Some(v)
                }
                "play" => p.play = v != "0" && v != "false",
                "replay" if !v.is_empty() => p.replay = Some(v),
                _ => {}
            }
        }
        p
    }
}

/// Rows per connection kept in `sessionStorage` across a reload.
pub const SAVED_ROWS: usize = 400;

/// Transcripts as kept in `sessionStorage` (with the session token they belong to).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Saved {
    token: String,
    next_conn: u32,
    conns: Vec<SavedConn>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedConn {
    id: u32,
    host: String,
    service: String,
    device: Option<String>,
    history: Vec<String>,
    rows: Vec<SavedRow>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum SavedRow {
    /// A line: client side?, time, text, line ending.
    L(bool, i64, String, String),
    /// TLS began: version, cipher, subject, fingerprint, implicit.
    T(String, String, String, String, bool),
    /// Closed, with the reason.
    X(String),
}

/// Whether `code` is a valid room code: 1–32 letters, digits, `-` or `_` (docs/websocket-protocol.md).
pub fn room_code_ok(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Which part of the page a phone shows (the tab bar under 700 px; wider screens show them all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    /// The connections: transcript and command line (with a compact world strip).
    #[default]
    Connection,
    /// The picture of the world, its controls and queues.
    World,
    /// The details panel: explanation, mailbox, relay, lessons.
    Explain,
    /// The event log.
    Log,
}

/// How long to wait before reconnecting after `failures` lost sockets in a row: 1, 2, 4, 8, 16, then 30 s.
pub fn backoff_ms(failures: u32) -> u32 {
    (1000u32 << failures.saturating_sub(1).min(5)).min(30_000)
}

/// Where a real mail client reaches a service of the persistent world (`GET /api/config`, `tcp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// `mx1`.
    pub host: String,
    /// `smtp`.
    pub service: String,
    /// `127.0.0.1:10025`.
    pub addr: String,
}

/// Reads `tcp` out of `/api/config`'s JSON (nothing when absent or malformed).
pub fn parse_tcp(json: &str) -> Vec<Listener> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let s = |l: &serde_json::Value, k: &str| l.get(k).and_then(|x| x.as_str()).map(str::to_string);
    v.get("tcp")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    Some(Listener { host: s(l, "host")?, service: s(l, "service")?, addr: s(l, "addr")? })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything the page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct AppState {
    /// URL options.
    pub preset: Preset,
    /// The WebSocket.
    pub link: Link,
    /// Bumped to ask the session hook to reconnect.
    pub reconnects: u32,
    /// Sockets lost in a row since the last Welcome (sets the reconnect backoff).
    pub retries: u32,
    /// Token from Welcome (reattach after reload).
    pub token: Option<String>,
    /// Whether the server lets plaintext AUTH through.
    pub plaintext_auth: bool,
    /// Browsers attached to this world (a room's members), this one included.
    pub members: usize,
    /// The server instance that holds the world (several may stand behind a load balancer).
    pub instance: Option<String>,
    /// Connections, in opening order.
    pub conns: Vec<Conn>,
    /// The tab shown (left pane).
    pub active: Option<u32>,
    /// The second pane of the split view.
    pub split: Option<u32>,
    /// Next connection ID.
    pub next_conn: u32,
    /// Latest world snapshot.
    pub world: Option<WorldSnap>,
    /// Recent events, newest last.
    pub events: VecDeque<Event>,
    /// Total events seen (keys animations).
    pub event_count: u64,
    /// Relay conversations, newest last.
    pub relays: Vec<Relay>,
    /// Side panel.
    pub panel: Panel,
    /// Show CR LF in transcripts.
    pub show_crlf: bool,
    /// Prefix IMAP commands with automatic tags.
    pub auto_tag: bool,
    /// The latest error from the proxy, in words.
    pub error: Option<String>,
    /// The world this session is attached to (from Welcome): lessons and clock skips are for sandboxes.
    pub world_kind: Option<WorldChoice>,
    /// The lesson running now.
    pub lesson: Option<LessonRun>,
    /// The lesson catalogue (`GET /api/lessons`), in curriculum order.
    pub catalogue: Vec<LessonEntry>,
    /// Ids of the lessons completed in this browser (kept in `localStorage` by the app).
    pub done: BTreeSet<String>,
    /// How the next lesson start (a StartLesson sent) should run: (play the solution, started by itself).
    pub starting: (bool, bool),
    /// Lesson starts so far (see [`LessonRun::serial`]).
    pub lesson_starts: u32,
    /// The part a phone shows.
    pub view: View,
    /// Where real clients reach the persistent world (empty: nowhere, or not known yet).
    pub tcp: Vec<Listener>,
    /// The replay being played back, and how many of its steps are shown.
    pub replay: Option<(Rc<crate::replay::Replay>, usize)>,
}

/// Something the player does now: dispatch `action`, then send `msgs`.
#[derive(Clone, Debug, PartialEq)]
pub struct Play {
    /// Updates the state (opens the tab, records what the step waits for).
    pub action: Action,
    /// Messages to the proxy.
    pub msgs: Vec<ClientMsg>,
}

/// A step the player played (what the reducer must remember of it).
#[derive(Clone, Debug, PartialEq)]
pub enum Played {
    /// A connection was opened with this id.
    Opened {
        /// Connection ID.
        conn: u32,
        /// Host.
        host: String,
        /// Service.
        service: String,
        /// Device shown on the tab.
        device: Option<String>,
    },
    /// Text was sent on a connection.
    Sent {
        /// Connection ID.
        conn: u32,
        /// The step's text.
        text: String,
    },
    /// The n-th connection of the run became current.
    Used(usize),
    /// The clock was asked to skip.
    Skip,
    /// Anything that needs no answer (online, retry).
    Other,
}

impl AppState {
    /// The initial state for the given URL options.
    pub fn new(preset: Preset) -> AppState {
        AppState {
            preset,
            link: Link::Connecting,
            reconnects: 0,
            retries: 0,
            token: None,
            plaintext_auth: true,
            members: 1,
            instance: None,
            conns: Vec::new(),
            active: None,
            split: None,
            next_conn: 1,
            world: None,
            events: VecDeque::new(),
            event_count: 0,
            relays: Vec::new(),
            panel: Panel::Help,
            show_crlf: false,
            auto_tag: true,
            error: None,
            world_kind: None,
            lesson: None,
            catalogue: Vec::new(),
            done: BTreeSet::new(),
            starting: (false, false),
            lesson_starts: 0,
            view: View::Connection,
            tcp: Vec::new(),
            replay: None,
        }
    }

    /// The transcripts as JSON for `sessionStorage` (the last [`SAVED_ROWS`] rows of each), if there is a token.
    pub fn save(&self) -> Option<String> {
        let token = self.token.clone()?;
        let conns = self
            .conns
            .iter()
            .map(|c| SavedConn {
                id: c.id,
                host: c.host.clone(),
                service: c.service.clone(),
                device: c.device.clone(),
                history: c.history.clone(),
                rows: c
                    .rows
                    .iter()
                    .skip(c.rows.len().saturating_sub(SAVED_ROWS))
                    .map(|r| match r {
                        Row::Line(l) => SavedRow::L(l.dir == Dir::C, l.at, l.text.clone(), l.eol.to_string()),
                        Row::Tls(t) => SavedRow::T(
                            t.session.version.clone(),
                            t.session.cipher.clone(),
                            t.subject.clone(),
                            t.sha256.clone(),
                            t.implicit,
                        ),
                        Row::Closed(r) => SavedRow::X(r.clone()),
                    })
                    .collect(),
            })
            .collect();
        serde_json::to_string(&Saved { token, next_conn: self.next_conn, conns }).ok()
    }

    /// Brings back the transcripts saved before a reload, when they belong to this session's token and nothing
    /// is open yet. Their connections ended with the old page; they are shown closed.
    fn restore(&mut self, json: &str) {
        let Ok(saved) = serde_json::from_str::<Saved>(json) else { return };
        if self.token.as_deref() != Some(saved.token.as_str()) || !self.conns.is_empty() {
            return;
        }
        for sc in saved.conns {
            let mut c = Conn::new(sc.id, &sc.host, &sc.service);
            c.device = sc.device;
            c.history = sc.history;
            for r in sc.rows {
                match r {
                    SavedRow::L(client, at, text, eol) => {
                        let eol = match eol.as_str() {
                            "\r\n" => "\r\n",
                            "\n" => "\n",
                            _ => "",
                        };
                        c.line(if client { Dir::C } else { Dir::S }, at, text, eol);
                    }
                    SavedRow::T(version, cipher, subject, sha256, implicit) => {
                        let t =
                            TlsDetails { session: TlsInfo { version, cipher }, subject, sha256, implicit };
                        c.tls = Some(t.clone());
                        c.push(Row::Tls(t));
                    }
                    SavedRow::X(r) => {
                        c.closed = Some(r.clone());
                        c.push(Row::Closed(r));
                    }
                }
            }
            if c.closed.is_none() {
                let why = "the page was reloaded (this is the transcript from before)".to_string();
                c.closed = Some(why.clone());
                c.push(Row::Closed(why));
            }
            self.active = Some(c.id);
            self.conns.push(c);
        }
        self.next_conn = self.next_conn.max(saved.next_conn);
    }

    /// Shows the replay's first `n` steps: the connections and the log are rebuilt from them.
    fn replay_to(&mut self, n: usize) {
        let Some((r, _)) = self.replay.clone() else { return };
        let n = n.min(r.steps.len());
        self.conns.clear();
        self.events.clear();
        self.relays.clear();
        self.next_conn = 1;
        self.active = None;
        self.split = None;
        self.panel = Panel::Help;
        self.world = r.world.clone();
        for step in &r.steps[..n] {
            for a in crate::replay::actions(step) {
                self.apply(a);
            }
        }
        self.replay = Some((r, n));
    }

    /// A connection by ID.
    pub fn conn(&self, id: u32) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn conn_mut(&mut self, id: u32) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    /// Whether lessons and clock skips are possible here (a private sandbox).
    pub fn sandbox(&self) -> bool {
        matches!(self.world_kind, Some(WorldChoice::Sandbox))
    }

    /// What the lesson's player does next, if a step is due (none while a step waits for its reply).
    pub fn next_play(&self) -> Option<Play> {
        let run = self.lesson.as_ref()?;
        let p = run.player.as_ref()?;
        if p.wait.is_some() {
            return None;
        }
        let step = p.steps.get(p.next)?;
        Some(match step {
            Step::Open { host, service, device } => {
                let conn = self.next_conn;
                Play {
                    action: Action::Played(Played::Opened {
                        conn,
                        host: host.clone(),
                        service: service.clone(),
                        device: device.clone(),
                    }),
                    msgs: vec![ClientMsg::Open { conn, host: host.clone(), service: service.clone() }],
                }
            }
            Step::Send(text) => {
                // A lesson's steps always open a connection before sending; without one, skip the step.
                let Some(conn) = run.current else {
                    return Some(Play { action: Action::Played(Played::Other), msgs: vec![] });
                };
                Play {
                    action: Action::Played(Played::Sent { conn, text: text.clone() }),
                    msgs: vec![ClientMsg::Send { conn, data: Bytes::Text { text: Step::wire_text(text) } }],
                }
            }
            Step::Use(n) => Play { action: Action::Played(Played::Used(*n)), msgs: vec![] },
            Step::Skip(to) => {
                Play { action: Action::Played(Played::Skip), msgs: vec![ClientMsg::Skip { to: *to }] }
            }
            Step::Online { host, online } => Play {
                action: Action::Played(Played::Other),
                msgs: vec![ClientMsg::SetOnline { host: host.clone(), online: *online }],
            },
            Step::Busy { host, busy } => Play {
                action: Action::Played(Played::Other),
                msgs: vec![ClientMsg::SetBusy { host: host.clone(), busy: *busy }],
            },
            Step::RetryQueue {} => {
                Play { action: Action::Played(Played::Other), msgs: vec![ClientMsg::RetryQueue] }
            }
        })
    }

    fn played(&mut self, step: Played) {
        if let Played::Opened { conn, host, service, device } = &step {
            // Opened like the learner's own connections, so the tab and the numbering are the same.
            self.next_conn = self.next_conn.max(conn + 1);
            let mut c = Conn::new(*conn, host, service);
            c.device = device.clone();
            self.conns.push(c);
            self.active = Some(*conn);
        }
        let Some(run) = &mut self.lesson else { return };
        let Some(p) = &mut run.player else { return };
        p.next += 1;
        match step {
            Played::Opened { conn, service, device, .. } => {
                // A second device (laptop and phone): show both side by side, so what one does to the mailbox
                // is seen arriving on the other.
                let prev = run.current.and_then(|c| self.conns.iter().find(|x| x.id == c));
                if let Some(prev) = prev
                    && prev.device.is_some()
                    && prev.device != device
                {
                    self.split = Some(prev.id);
                }
                run.conns.push(conn);
                run.current = Some(conn);
                let protocol = Protocol::from_service(&service).unwrap_or(Protocol::Smtp);
                p.wait = Some(Wait::Reply { conn, protocol, sent: String::new(), acc: String::new() });
            }
            Played::Sent { conn, text } => {
                let protocol =
                    self.conns.iter().find(|c| c.id == conn).map_or(Protocol::Smtp, |c| c.protocol());
                // A multi-line SMTP text is a message body: answered once, after its final dot.
                let sent = if protocol == Protocol::Smtp && text.lines().count() > 1 {
                    ".".to_string()
                } else {
                    text.lines().next().unwrap_or("").to_string()
                };
                p.wait = Some(Wait::Reply { conn, protocol, sent, acc: String::new() });
            }
            Played::Used(n) => {
                if let Some(c) = run.conns.get(n) {
                    run.current = Some(*c);
                    self.active = Some(*c);
                }
            }
            Played::Skip => p.wait = Some(Wait::Skip),
            Played::Other => {}
        }
        self.end_play_if_finished();
    }

    fn end_play_if_finished(&mut self) {
        if let Some(run) = &mut self.lesson
            && run.player.as_ref().is_some_and(|p| p.finished())
        {
            run.player = None;
        }
    }

    /// Applies one action.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Server(msg) => self.server(msg),
            Action::LinkUp => self.link = Link::Connecting,
            Action::LinkDown(reason) => {
                for c in &mut self.conns {
                    if c.closed.is_none() {
                        let why = "the connection to the playground server was lost".to_string();
                        c.closed = Some(why.clone());
                        c.push(Row::Closed(why));
                    }
                }
                self.retries += 1;
                self.link = Link::Down(reason);
            }
            Action::Reconnect => {
                self.reconnects += 1;
                self.link = Link::Connecting;
                self.error = None;
            }
            Action::Opening { host, service } => {
                let id = self.next_conn;
                self.next_conn += 1;
                self.conns.push(Conn::new(id, &host, &service));
                self.active = Some(id);
            }
            Action::Select(id) => {
                self.active = Some(id);
                if self.split == Some(id) {
                    self.split = None;
                }
            }
            Action::Split(id) => {
                self.split = if self.split == Some(id) || self.active == Some(id) { None } else { Some(id) };
            }
            Action::Forget(id) => {
                self.conns.retain(|c| c.id != id);
                if self.active == Some(id) {
                    self.active = self.conns.last().map(|c| c.id);
                }
                if self.split == Some(id) || self.split == self.active {
                    self.split = None;
                }
                if matches!(self.panel, Panel::Explain(c, _) if c == id) {
                    self.panel = Panel::Help;
                }
            }
            Action::Typed { conn, line } => {
                if let Some(c) = self.conn_mut(conn)
                    && c.history.last() != Some(&line)
                    && !line.is_empty()
                {
                    c.history.push(line);
                }
            }
            Action::TagUsed(conn) => {
                if let Some(c) = self.conn_mut(conn) {
                    c.tracker.next_tag += 1;
                }
            }
            Action::Panel(p) => {
                // On a phone an explanation opens over the connection it explains; other details have their tab.
                if !matches!(p, Panel::Explain(..) | Panel::Help) {
                    self.view = View::Explain;
                }
                self.panel = p
            }
            Action::View(v) => self.view = v,
            Action::Tcp(t) => self.tcp = t,
            Action::Restore(json) => self.restore(&json),
            Action::ReplayLoad(r) => {
                self.replay = Some((r, 0));
                self.replay_to(0);
            }
            Action::ReplayTo(n) => self.replay_to(n),
            Action::ClearLog => {
                self.events.clear();
                self.relays.clear();
            }
            Action::ToggleCrlf => self.show_crlf = !self.show_crlf,
            Action::ToggleAutoTag => self.auto_tag = !self.auto_tag,
            Action::DismissError => self.error = None,
            Action::Catalogue(c) => self.catalogue = c,
            Action::LessonStarting { show, auto } => self.starting = (show, auto),
            Action::Played(step) => self.played(step),
            Action::StopPlaying => {
                if let Some(run) = &mut self.lesson {
                    run.player = None;
                }
            }
            Action::Hint => {
                if let Some(run) = &mut self.lesson {
                    run.hints = (run.hints + 1).min(run.lesson.hints.len());
                }
            }
            Action::Acted => {
                if let Some(run) = &mut self.lesson
                    && !run.playing()
                {
                    run.actions += 1;
                }
            }
            Action::ResetProgress => self.done.clear(),
        }
    }

    fn server(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { token, plaintext_auth, world, .. } => {
                // A reattached session is sent the world's recent events again: start the log afresh, so nothing
                // is listed twice after a reconnect.
                self.events.clear();
                self.relays.clear();
                self.world_kind = Some(world);
                self.retries = 0;
                self.token = Some(token);
                self.plaintext_auth = plaintext_auth;
                self.link = Link::Up;
            }
            ServerMsg::Attached { instance, created } => {
                // Behind a load balancer a reconnect may land on another instance (the first one was drained): a
                // room starts there afresh, and the learner must be told rather than find the mail gone.
                if self.instance.as_ref().is_some_and(|before| *before != instance)
                    && let Some(WorldChoice::Room { code }) = &self.world_kind
                {
                    let how = if created { "recreated, empty," } else { "already recreated" };
                    self.error = Some(format!(
                        "The server that held room {code} went away: the room was {how} on another server \
                         ({instance}), where everyone in the room reconnects."
                    ));
                }
                self.instance = Some(instance);
            }
            ServerMsg::Opened { conn, port, .. } => {
                if let Some(c) = self.conn_mut(conn) {
                    c.port = Some(port);
                }
            }
            ServerMsg::Data { conn, dir, at, data } => {
                let text = match data {
                    Bytes::Text { text } => text,
                    // Non-UTF-8 bytes are rare (8-bit mail); show them marked rather than decoding base64 here.
                    Bytes::B64 { b64 } => {
                        format!("[{} bytes of non-UTF-8 data, base64: {b64}]\r\n", b64.len() / 4 * 3)
                    }
                };
                if let Some(c) = self.conn_mut(conn) {
                    c.data(dir, at, &text);
                }
                if dir == Dir::S
                    && let Some(p) = self.lesson.as_mut().and_then(|r| r.player.as_mut())
                {
                    p.server_text(conn, &text);
                    self.end_play_if_finished();
                }
            }
            ServerMsg::Tls { conn, tls } => {
                if let Some(c) = self.conn_mut(conn) {
                    c.tls = Some(tls.clone());
                    c.push(Row::Tls(tls));
                }
            }
            ServerMsg::Closed { conn, reason } => {
                if let Some(c) = self.conn_mut(conn) {
                    for (i, dir) in [(0, Dir::C), (1, Dir::S)] {
                        if let Some(rest) = c.bufs[i].flush() {
                            c.line(dir, 0, rest, "");
                        }
                    }
                    c.closed = Some(reason.clone());
                    c.push(Row::Closed(reason));
                }
                // A closed connection answers nothing more: the step waiting on it is over.
                if let Some(p) = self.lesson.as_mut().and_then(|r| r.player.as_mut())
                    && matches!(&p.wait, Some(Wait::Reply { conn: c, .. }) if *c == conn)
                {
                    p.wait = None;
                    self.end_play_if_finished();
                }
            }
            ServerMsg::Event { event } => {
                if let EventKind::RelayTranscript { id, mx, lines } = &event.kind {
                    self.relays.push(Relay {
                        id: id.clone(),
                        from_host: event.host.clone(),
                        mx: mx.clone(),
                        lines: lines.clone(),
                        at: event.at.timestamp_millis(),
                    });
                    if self.relays.len() > 20 {
                        self.relays.remove(0);
                    }
                }
                if self.events.len() == MAX_EVENTS {
                    self.events.pop_front();
                }
                self.events.push_back(event);
                self.event_count += 1;
            }
            ServerMsg::Snapshot { world } => self.world = Some(world),
            ServerMsg::Error { code, message } => {
                if let Some(p) = self.lesson.as_mut().and_then(|r| r.player.as_mut())
                    && p.wait == Some(Wait::Skip)
                {
                    p.wait = None;
                    self.end_play_if_finished();
                }
                self.error = Some(match code.as_str() {
                    "nothing_queued" => {
                        "Nothing is waiting in a queue: there is no retry or expiry to skip to.".into()
                    }
                    "limit" => format!("A limit of the playground was reached: {message}"),
                    _ => message,
                });
            }
            ServerMsg::Pong => {}
            ServerMsg::Lesson { lesson: Some(lesson) } => {
                // The server reset the sandbox and dropped every earlier connection: forget their tabs, so the
                // lesson's own connections are the only ones (and the only ones that count).
                self.conns.clear();
                self.active = None;
                self.split = None;
                self.relays.clear();
                if !matches!(self.panel, Panel::Help) {
                    self.panel = Panel::Help;
                }
                let (show, auto) = std::mem::take(&mut self.starting);
                self.lesson_starts += 1;
                self.lesson = Some(LessonRun::new(*lesson, show, auto, self.lesson_starts));
                self.error = None;
            }
            ServerMsg::Lesson { lesson: None } => {
                self.lesson = None;
                for c in &mut self.conns {
                    c.device = None;
                }
            }
            ServerMsg::Progress { progress, reached } => {
                if let Some(run) = &mut self.lesson
                    && run.progress(progress, &reached)
                {
                    self.done.insert(run.lesson.id.clone());
                }
            }
            ServerMsg::Members { count } => self.members = count,
            // Someone reset the world (in a room, maybe another member): its story starts over for everyone.
            ServerMsg::WorldReset => {
                self.events.clear();
                self.relays.clear();
            }
            ServerMsg::Skipped { .. } => {
                if let Some(p) = self.lesson.as_mut().and_then(|r| r.player.as_mut())
                    && p.wait == Some(Wait::Skip)
                {
                    p.wait = None;
                    self.end_play_if_finished();
                }
            }
        }
    }
}

/// Everything that changes the state.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A message from the proxy.
    Server(ServerMsg),
    /// The WebSocket opened (Hello sent).
    LinkUp,
    /// The WebSocket closed.
    LinkDown(String),
    /// The learner asked to reconnect.
    Reconnect,
    /// The learner opened a connection (the Open message is sent by the caller with `next_conn`).
    Opening {
        /// Host.
        host: String,
        /// Service.
        service: String,
    },
    /// Show this connection's tab.
    Select(u32),
    /// Show this connection next to the active one (toggle).
    Split(u32),
    /// Remove a connection's tab.
    Forget(u32),
    /// A command was typed (history).
    Typed {
        /// Connection.
        conn: u32,
        /// The line.
        line: String,
    },
    /// An automatic IMAP tag was used.
    TagUsed(u32),
    /// Change the side panel.
    Panel(Panel),
    /// Show/hide CR LF.
    ToggleCrlf,
    /// Automatic IMAP tags on/off.
    ToggleAutoTag,
    /// Hide the error banner.
    DismissError,
    /// The lesson catalogue arrived.
    Catalogue(Vec<LessonEntry>),
    /// A StartLesson is being sent: how to run it when the server confirms.
    LessonStarting {
        /// Play the solution after the prelude ("Show me").
        show: bool,
        /// Started by itself (first visit).
        auto: bool,
    },
    /// The lesson player played a step.
    Played(Played),
    /// The player gave up (a reply never completed).
    StopPlaying,
    /// Reveal the next hint.
    Hint,
    /// The learner did something that counts as an action in a lesson.
    Acted,
    /// Forget which lessons were completed.
    ResetProgress,
    /// Show this part on a phone.
    View(View),
    /// Empty the event log (the world was reset).
    ClearLog,
    /// The persistent world's listeners arrived.
    Tcp(Vec<Listener>),
    /// Transcripts saved before a reload (JSON from `sessionStorage`).
    Restore(String),
    /// A replay file was loaded: show its start.
    ReplayLoad(Rc<crate::replay::Replay>),
    /// Show the replay's first n steps.
    ReplayTo(usize),
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = Rc::unwrap_or_clone(self);
        s.apply(action);
        Rc::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::story::{Story, describe, story};
    use mailroom_core::lesson::Progress;

    fn data(conn: u32, dir: Dir, text: &str) -> Action {
        Action::Server(ServerMsg::Data { conn, dir, at: 1, data: Bytes::Text { text: text.into() } })
    }

    #[test]
    fn reducer_follows_a_connection() {
        let mut s = AppState::new(Preset::default());
        s.apply(Action::Opening { host: "mx1".into(), service: "smtp".into() });
        assert_eq!((s.active, s.next_conn), (Some(1), 2));
        s.apply(Action::Server(ServerMsg::Opened {
            conn: 1,
            host: "mx1".into(),
            service: "smtp".into(),
            port: 10025,
        }));
        s.apply(data(1, Dir::S, "220 mx1 ESMTP\r\n"));
        s.apply(data(1, Dir::C, "EHLO me\r\n"));
        s.apply(data(1, Dir::S, "250-mx1\r\n250 OK"));
        let c = s.conn(1).unwrap();
        assert_eq!(c.port, Some(10025));
        assert_eq!(c.rows.len(), 3, "the last line is still partial");
        s.apply(data(1, Dir::S, "\r\n"));
        s.apply(Action::Server(ServerMsg::Closed { conn: 1, reason: "QUIT".into() }));
        let c = s.conn(1).unwrap();
        assert_eq!(c.tracker.state, mailroom_core::explain::State::SmtpReady);
        assert!(matches!(c.rows.last(), Some(Row::Closed(r)) if r == "QUIT"));
        assert!(matches!(c.row(1), Some(Row::Line(l)) if l.text == "EHLO me" && l.class == Class::Client));
    }

    #[test]
    fn tabs_split_and_forget() {
        let mut s = AppState::new(Preset::default());
        for _ in 0..3 {
            s.apply(Action::Opening { host: "mx1".into(), service: "imap".into() });
        }
        s.apply(Action::Select(1));
        s.apply(Action::Split(2));
        assert_eq!((s.active, s.split), (Some(1), Some(2)));
        s.apply(Action::Split(1));
        assert_eq!(s.split, None, "a pane cannot be split with itself");
        s.apply(Action::Split(2));
        s.apply(Action::Forget(2));
        assert_eq!((s.active, s.split, s.conns.len()), (Some(1), None, 2));
        s.apply(Action::LinkDown("gone".into()));
        assert!(s.conns.iter().all(|c| c.closed.is_some()));
    }

    #[test]
    fn long_transcripts_are_capped_in_whole_chunks() {
        let mut s = AppState::new(Preset::default());
        s.apply(Action::Opening { host: "mx1".into(), service: "pop3".into() });
        let n = MAX_LINES + CHUNK + 10;
        let chunk: String = (0..n).map(|i| format!("{i} 100\r\n")).collect();
        s.apply(data(1, Dir::S, &chunk));
        let c = s.conn(1).unwrap();
        assert_eq!(c.rows.end(), n);
        assert!(c.rows.len() < MAX_LINES + CHUNK && c.rows.dropped > 0);
        let first = c.rows.dropped;
        assert!(matches!(c.row(first), Some(Row::Line(l)) if l.text == format!("{first} 100")));
        assert!(c.row(first - 1).is_none());
        assert!(matches!(c.row(n - 1), Some(Row::Line(l)) if l.text == format!("{} 100", n - 1)));
        assert_eq!(c.rows.iter().count(), c.rows.len());
    }

    #[test]
    fn ten_thousand_lines_one_at_a_time_stay_cheap() {
        // Yew keeps the previous state alive, so every reduce clones: the clone must not copy the transcript.
        // Counted, not timed: the states before and after a line share every full chunk of rows, so each line
        // copies at most one chunk's tail.
        let mut state = Rc::new(AppState::new(Preset::default()));
        state = state.reduce(Action::Opening { host: "mx1".into(), service: "smtp".into() });
        for i in 0..10_000 {
            let before = state.clone();
            state = state.reduce(data(1, Dir::S, &format!("250-line {i}\r\n")));
            let (old, new) = (&before.conn(1).unwrap().rows, &state.conn(1).unwrap().rows);
            let shared = old.chunks.iter().filter(|c| new.chunks.iter().any(|n| Rc::ptr_eq(c, n))).count();
            assert!(
                shared + 1 >= old.chunks.len(),
                "line {i}: only {shared} of {} chunks shared",
                old.chunks.len()
            );
            assert!(old.tail.len() < CHUNK);
        }
        assert_eq!(state.conn(1).unwrap().rows.len(), 10_000);
    }

    #[test]
    fn presets_and_events() {
        let p = Preset::parse("?embed=1&host=mx2&service=IMAP&room=<script>");
        assert_eq!(
            p,
            Preset {
                embed: true,
                host: Some("mx2".into()),
                service: Some("imap".into()),
                room: None,
                lesson: None,
                play: false,
                replay: None,
                tab_world: None,
            }
        );
        assert_eq!(Preset::parse(""), Preset::default());
        let e: Event = serde_json::from_str(
            r#"{"at":"2026-01-01T00:00:00Z","host":"mx1","event":"queued","id":"3F2A","rcpt":"carol@example.net"}"#,
        )
        .unwrap();
        assert_eq!(describe(&e), "mx1 queued 3F2A for carol@example.net");
        let mut s = AppState::new(Preset::default());
        s.apply(Action::Server(ServerMsg::Event { event: e }));
        s.apply(Action::Server(ServerMsg::Error { code: "limit".into(), message: "too fast".into() }));
        assert_eq!(s.events.len(), 1);
        assert!(s.error.as_deref().unwrap().contains("too fast"));
    }

    fn lesson_msg() -> Action {
        let lesson = serde_json::from_value(serde_json::json!({
            "id": "first-mail", "title": "T", "chapter": "Sending", "order": 1, "story": "s", "summary": "s",
            "start": { "prelude": [
                { "open": { "host": "mx1", "service": "smtp", "device": "laptop" } },
                { "send": "EHLO x" } ] },
            "goals": [ { "text": "Bob gets it", "proves": "Local delivery.", "checks": [] } ],
            "hints": ["one", "two"],
            "solution": [ { "send": "RCPT TO:<bob@example.com>" } ],
        }))
        .unwrap();
        Action::Server(ServerMsg::Lesson { lesson: Some(Box::new(lesson)) })
    }

    #[test]
    fn a_lesson_forgets_old_tabs_plays_its_prelude_and_counts_only_the_learners_actions() {
        let mut s = AppState::new(Preset::default());
        s.apply(Action::Opening { host: "mx2".into(), service: "imap".into() });
        s.apply(Action::LessonStarting { show: false, auto: true });
        s.apply(lesson_msg());
        assert!(s.conns.is_empty(), "the server dropped the old connections");
        let run = s.lesson.as_ref().unwrap();
        assert!(run.auto && !run.watched && run.playing());
        // Step 1: open (the id continues after the forgotten tab's).
        let play = s.next_play().unwrap();
        assert!(matches!(&play.msgs[..], [ClientMsg::Open { conn: 2, .. }]), "{play:?}");
        s.apply(play.action);
        assert!(s.next_play().is_none(), "waits for the greeting");
        assert_eq!(s.conn(2).unwrap().label(), "laptop: mx1 SMTP #2");
        s.apply(Action::Acted);
        assert_eq!(s.lesson.as_ref().unwrap().actions, 0, "what the page plays is not the learner's");
        s.apply(data(2, Dir::S, "220 mx1 ESMTP\r\n"));
        let play = s.next_play().unwrap();
        assert!(
            matches!(&play.msgs[..], [ClientMsg::Send { conn: 2, data: Bytes::Text { text } }] if text == "EHLO x\r\n")
        );
        s.apply(play.action);
        s.apply(data(2, Dir::S, "250-mx1\r\n"));
        assert!(s.lesson.as_ref().unwrap().playing());
        s.apply(data(2, Dir::S, "250 OK\r\n"));
        assert!(!s.lesson.as_ref().unwrap().playing(), "the prelude is over: the learner's turn");
        s.apply(Action::Acted);
        s.apply(Action::Hint);
        s.apply(Action::Hint);
        s.apply(Action::Hint);
        let run = s.lesson.as_ref().unwrap();
        assert_eq!((run.actions, run.hints), (1, 2));
        s.apply(Action::Server(ServerMsg::Progress {
            progress: Progress { id: "first-mail".into(), goals: vec![true], done: true },
            reached: vec![0],
        }));
        assert!(s.done.contains("first-mail"));
        assert_eq!(
            s.lesson.as_ref().unwrap().announcements[0],
            "Goal reached: Bob gets it. Local delivery. Lesson complete: T."
        );
        s.apply(Action::Server(ServerMsg::Lesson { lesson: None }));
        assert!(s.lesson.is_none() && s.conn(2).unwrap().device.is_none());
        assert!(s.done.contains("first-mail"), "leaving keeps the tick");
    }

    #[test]
    fn show_me_plays_the_solution_after_the_prelude_and_skips_wait_for_their_answer() {
        let mut s = AppState::new(Preset::default());
        s.apply(Action::LessonStarting { show: true, auto: false });
        s.apply(lesson_msg());
        let p = s.lesson.as_ref().unwrap().player.as_ref().unwrap();
        assert_eq!((p.steps.len(), p.fast), (3, 2));
        assert!(s.lesson.as_ref().unwrap().watched);
        s.apply(Action::StopPlaying);
        assert!(!s.lesson.as_ref().unwrap().playing());
        assert_eq!(
            Preset::parse("?lesson=relay&embed=1&play=1"),
            Preset { embed: true, lesson: Some("relay".into()), play: true, ..Preset::default() }
        );
        assert_eq!(Preset::parse("?lesson=../x").lesson, None);
    }

    fn ev(json: serde_json::Value) -> Event {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn room_codes_with_dash_and_underscore_are_kept() {
        assert_eq!(Preset::parse("?room=class-7b").room.as_deref(), Some("class-7b"));
        assert_eq!(Preset::parse("?room=a_b").room.as_deref(), Some("a_b"));
        for bad in ["", "a.b", "<x>", &"x".repeat(33)] {
            assert_eq!(Preset::parse(&format!("?room={bad}")).room, None, "{bad}");
        }
    }

    #[test]
    fn event_log_is_a_story_grouped_per_message_and_fresh_after_a_reattach() {
        let at = "2026-01-01T00:00:00Z";
        let mut s = AppState::new(Preset::default());
        for e in [
            serde_json::json!({"at":at,"host":"mx1","event":"queued","id":"A1","rcpt":"carol@example.net"}),
            serde_json::json!({"at":at,"host":"mx2","event":"online_changed","online":false}),
            serde_json::json!({"at":at,"host":"mx1","event":"queued","id":"B2","rcpt":"bob@example.com"}),
            serde_json::json!({"at":at,"host":"mx1","event":"expired","id":"A1","rcpt":"carol@example.net"}),
        ] {
            s.apply(Action::Server(ServerMsg::Event { event: ev(e) }));
        }
        let st = story(&s.events);
        assert_eq!(st.len(), 3, "{st:?}");
        assert!(matches!(&st[0], Story::Message { id: "A1", events } if events.len() == 2));
        assert!(matches!(&st[1], Story::One(_)));
        assert!(matches!(&st[2], Story::Message { id: "B2", .. }));
        // The server replays the world's recent events after Welcome: the log starts afresh, nothing twice.
        s.apply(Action::Server(ServerMsg::Welcome {
            version: 1,
            token: "t".into(),
            world: WorldChoice::Sandbox,
            plaintext_auth: true,
        }));
        assert!(s.events.is_empty());
        s.apply(Action::Server(ServerMsg::Event {
            event: ev(serde_json::json!({"at":at,"host":"mx1","event":"queued","id":"A1","rcpt":"c"})),
        }));
        s.apply(Action::ClearLog);
        assert!(s.events.is_empty(), "Reset world clears the log");
        let e = ev(
            serde_json::json!({"at":at,"host":"mx2","event":"mailbox_changed","user":"carol","folder":"INBOX","change":"delivered","uids":[1]}),
        );
        assert_eq!(describe(&e), "mx2: a message arrived in carol's INBOX");
    }

    #[test]
    fn reconnects_back_off_and_reset_on_welcome() {
        assert_eq!([1, 2, 3, 4, 5, 6, 9].map(backoff_ms), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        let mut s = AppState::new(Preset::default());
        s.apply(Action::LinkDown("x".into()));
        s.apply(Action::LinkDown("x".into()));
        assert_eq!(s.retries, 2);
        s.apply(Action::Server(ServerMsg::Welcome {
            version: 1,
            token: "t".into(),
            world: WorldChoice::Room { code: "class-7b".into() },
            plaintext_auth: true,
        }));
        assert_eq!((s.retries, s.link.clone()), (0, Link::Up));
    }

    #[test]
    fn config_tcp_and_phone_views() {
        let tcp = parse_tcp(r#"{"tcp":[{"host":"mx1","service":"smtp","addr":"127.0.0.1:10025"}],"x":1}"#);
        assert_eq!(
            tcp,
            vec![Listener { host: "mx1".into(), service: "smtp".into(), addr: "127.0.0.1:10025".into() }]
        );
        assert!(parse_tcp("{}").is_empty() && parse_tcp("nonsense").is_empty());
        let mut s = AppState::new(Preset::default());
        s.apply(Action::Panel(Panel::Explain(1, 0)));
        assert_eq!(s.view, View::Connection, "an explanation opens over the connection");
        s.apply(Action::Panel(Panel::Mailbox("mx1".into(), "bob".into())));
        assert_eq!(s.view, View::Explain, "a mailbox opens in the Explain tab");
    }

    #[test]
    fn transcripts_survive_a_reload_for_the_same_token_only() {
        let welcome = |token: &str| {
            Action::Server(ServerMsg::Welcome {
                version: 1,
                token: token.into(),
                world: WorldChoice::Sandbox,
                plaintext_auth: true,
            })
        };
        let mut s = AppState::new(Preset::default());
        s.apply(welcome("t1"));
        s.apply(Action::Opening { host: "mx1".into(), service: "smtp".into() });
        s.apply(data(1, Dir::S, "220 mx1 ESMTP\r\n"));
        s.apply(data(1, Dir::C, "EHLO me\r\n"));
        s.apply(Action::Typed { conn: 1, line: "EHLO me".into() });
        let json = s.save().unwrap();
        let mut fresh = AppState::new(Preset::default());
        fresh.apply(welcome("t1"));
        fresh.apply(Action::Restore(json.clone()));
        let c = fresh.conn(1).unwrap();
        assert_eq!(c.rows.len(), 3, "two lines and the closing note");
        assert!(matches!(c.row(1), Some(Row::Line(l)) if l.text == "EHLO me" && l.eol == "\r\n"));
        assert!(c.closed.is_some() && c.history == ["EHLO me"]);
        assert_eq!((fresh.next_conn, fresh.active), (2, Some(1)));
        let mut other = AppState::new(Preset::default());
        other.apply(welcome("t2"));
        other.apply(Action::Restore(json));
        assert!(other.conns.is_empty(), "another session's transcripts stay out");
    }

    #[test]
    fn a_room_that_moves_to_another_instance_is_announced() {
        let mut s = AppState::new(Preset::default());
        let welcome = || {
            Action::Server(ServerMsg::Welcome {
                version: 1,
                token: "t".into(),
                world: WorldChoice::Room { code: "class-7b".into() },
                plaintext_auth: true,
            })
        };
        let attached = |instance: &str, created| {
            Action::Server(ServerMsg::Attached { instance: instance.into(), created })
        };
        s.apply(welcome());
        s.apply(attached("a", true));
        assert!(s.error.is_none(), "joining a room is not news");
        s.apply(welcome());
        s.apply(attached("a", false));
        assert!(s.error.is_none(), "a reconnect to the same instance finds the room as it was");
        s.apply(welcome());
        s.apply(attached("b", true));
        let notice = s.error.clone().unwrap_or_default();
        assert!(notice.contains("class-7b") && notice.contains("empty"), "{notice}");
    }
}
