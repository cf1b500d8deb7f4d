//! The app's one state and its reducer: every WebSocket message and every user action becomes an [`Action`];
//! [`AppState::apply`] is pure (unit-tested on the host) and `Reducible` wraps it for Yew's `use_reducer`.

use std::collections::VecDeque;
use std::rc::Rc;

use mailroom_core::event::{Event, EventKind, TranscriptLine};
use mailroom_core::explain::Protocol;
use mailroom_core::wire::{Bytes, Dir, ServerMsg, WorldSnap};
use yew::Reducible;

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

/// TLS details of a connection.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsInfo {
    /// `TLSv1.3`.
    pub version: String,
    /// Cipher suite.
    pub cipher: String,
    /// Certificate subject.
    pub subject: String,
    /// SHA-256 fingerprint.
    pub sha256: String,
    /// Implicit TLS (smtps...) rather than STARTTLS.
    pub implicit: bool,
}

/// One row of a transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    /// A line of bytes.
    Line(Line),
    /// TLS began here.
    Tls(TlsInfo),
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
    pub tls: Option<TlsInfo>,
    /// Close reason, once closed.
    pub closed: Option<String>,
    /// Commands typed here, oldest first.
    pub history: Vec<String>,
}

impl Conn {
    fn new(id: u32, host: &str, service: &str) -> Conn {
        let protocol = Protocol::from_service(service).unwrap_or(Protocol::Smtp);
        Conn {
            id,
            host: host.into(),
            service: service.into(),
            port: None,
            rows: Rows::default(),
            bufs: Default::default(),
            tracker: Tracker::new(protocol),
            tls: None,
            closed: None,
            history: Vec::new(),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.tracker.protocol
    }

    /// A short label: `mx1 IMAP #2`.
    pub fn label(&self) -> String {
        format!("{} {} #{}", self.host, self.service.to_ascii_uppercase(), self.id)
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
}

/// URL options (`?embed=1&host=mx1&service=smtp&room=ABC`).
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
                "room" if ok(&v) => p.room = Some(v),
                _ => {}
            }
        }
        p
    }
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
    /// Token from Welcome (reattach after reload).
    pub token: Option<String>,
    /// Whether the server lets plaintext AUTH through.
    pub plaintext_auth: bool,
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
}

impl AppState {
    /// The initial state for the given URL options.
    pub fn new(preset: Preset) -> AppState {
        AppState {
            preset,
            link: Link::Connecting,
            reconnects: 0,
            token: None,
            plaintext_auth: true,
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
        }
    }

    /// A connection by ID.
    pub fn conn(&self, id: u32) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn conn_mut(&mut self, id: u32) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
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
            Action::Panel(p) => self.panel = p,
            Action::ToggleCrlf => self.show_crlf = !self.show_crlf,
            Action::ToggleAutoTag => self.auto_tag = !self.auto_tag,
            Action::DismissError => self.error = None,
        }
    }

    fn server(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { token, plaintext_auth, .. } => {
                self.token = Some(token);
                self.plaintext_auth = plaintext_auth;
                self.link = Link::Up;
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
            }
            ServerMsg::Tls { conn, version, cipher, subject, sha256, implicit } => {
                if let Some(c) = self.conn_mut(conn) {
                    let info = TlsInfo { version, cipher, subject, sha256, implicit };
                    c.tls = Some(info.clone());
                    c.push(Row::Tls(info));
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
            }
            ServerMsg::Event { event } => {
                if let EventKind::RelayTranscript { id, mx, lines } = &event.kind {
                    self.relays.push(Relay {
                        id: id.clone(),
                        from_host: event.host.clone(),
                        mx: mx.clone(),
                        lines: lines.clone(),
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
                self.error = Some(match code.as_str() {
                    "limit" => format!("A limit of the playground was reached: {message}"),
                    _ => message,
                });
            }
            ServerMsg::Pong => {}
            // Lessons are not shown yet.
            ServerMsg::Lesson { .. } | ServerMsg::Progress { .. } | ServerMsg::Skipped { .. } => {}
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
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = Rc::unwrap_or_clone(self);
        s.apply(action);
        Rc::new(s)
    }
}

/// Plain words for an event (the event log).
pub fn describe(e: &Event) -> String {
    let h = &e.host;
    match &e.kind {
        EventKind::SessionOpened { service, peer } => format!("{h}: {service} session opened from {peer}"),
        EventKind::SessionClosed { service, reason, .. } => {
            format!("{h}: {service} session closed ({reason})")
        }
        EventKind::TlsAccepted { service, version, cipher } => {
            format!("{h}: TLS started on {service} ({version}, {cipher})")
        }
        EventKind::LoggedIn { protocol, user } => format!("{h}: {user} logged in over {protocol}"),
        EventKind::LoginFailed { protocol, user } => {
            format!("{h}: login failed for “{user}” over {protocol}")
        }
        EventKind::Received { id, from, to, size, via } => {
            let from = if from.is_empty() { "<>" } else { from };
            format!("{h} accepted message {id} from {from} for {} ({size} bytes, via {via})", to.join(", "))
        }
        EventKind::Queued { id, rcpt } => format!("{h} queued {id} for {rcpt}"),
        EventKind::Routed { id, rcpt, domain, mx, .. } => match mx {
            Some(mx) => format!("{h} looked up {domain} for {id} → {rcpt}: deliver to {mx}"),
            None => format!("{h} looked up {domain} for {id} → {rcpt}: no route"),
        },
        EventKind::Connecting { id, mx, addr } => format!("{h} connecting to {mx} ({addr}) for {id}"),
        EventKind::RelayTls { id, mx, version, .. } => {
            format!("{h} → {mx}: link encrypted with {version} for {id}")
        }
        EventKind::Delivered { id, rcpt, mailbox, mx, .. } => match (mailbox, mx) {
            (Some(mb), _) => format!("{h} delivered {id} to {rcpt} (mailbox {mb})"),
            (None, Some(mx)) => format!("{h} handed {id} for {rcpt} to {mx}"),
            _ => format!("{h} delivered {id} to {rcpt}"),
        },
        EventKind::Deferred { id, rcpt, reason, attempt, .. } => {
            format!("{h} could not deliver {id} to {rcpt} yet (attempt {attempt}: {reason}); it stays queued")
        }
        EventKind::Bounced { id, rcpt, reason, dsn_to } => match dsn_to {
            Some(to) => format!("{h} gave up on {id} for {rcpt} ({reason}); bounce sent to {to}"),
            None => format!("{h} gave up on {id} for {rcpt} ({reason})"),
        },
        EventKind::Expired { id, rcpt } => format!("{h}: {id} for {rcpt} expired in the queue"),
        EventKind::RelayTranscript { id, mx, lines } => {
            format!("{h} → {mx}: relay conversation for {id} recorded ({} lines)", lines.len())
        }
        EventKind::OnlineChanged { online } => {
            format!("{h} is now {}", if *online { "online" } else { "offline" })
        }
        EventKind::BusyChanged { busy } => {
            if *busy {
                format!("{h} is now busy: it answers SMTP with 421 and closes")
            } else {
                format!("{h} is ready again")
            }
        }
        EventKind::MailboxChanged { user, folder, change, uids } => {
            format!(
                "{h}: {user}/{folder} {change} ({} message{})",
                uids.len(),
                if uids.len() == 1 { "" } else { "s" }
            )
        }
        EventKind::Retrieved { user, uid, size } => {
            format!("{h}: {user} downloaded message {uid} ({size} bytes)")
        }
        EventKind::MarkedDeleted { user, uid } => format!("{h}: {user} marked message {uid} for deletion"),
        EventKind::Removed { user, count } => {
            format!("{h}: {count} message(s) removed from {user}'s mailbox")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut state = Rc::new(AppState::new(Preset::default()));
        state = state.reduce(Action::Opening { host: "mx1".into(), service: "smtp".into() });
        let start = std::time::Instant::now();
        let mut keep = Vec::new();
        for i in 0..10_000 {
            keep.push(state.clone());
            if keep.len() > 2 {
                keep.remove(0);
            }
            state = state.reduce(data(1, Dir::S, &format!("250-line {i}\r\n")));
        }
        assert_eq!(state.conn(1).unwrap().rows.len(), 10_000);
        // Copying all rows on every line would be ~50 million row copies; chunking keeps this well under a second
        // even in a debug build.
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "{:?}", start.elapsed());
    }

    #[test]
    fn presets_and_events() {
        let p = Preset::parse("?embed=1&host=mx2&service=IMAP&room=<script>");
        assert_eq!(
            p,
            Preset { embed: true, host: Some("mx2".into()), service: Some("imap".into()), room: None }
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
}
