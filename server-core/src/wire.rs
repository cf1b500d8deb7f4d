//! The playground's WebSocket protocol, version [`VERSION`]: JSON text frames, one message per frame, each an
//! object with a `"type"` tag. One WebSocket is one playground session; it is attached to one world (a private
//! sandbox by default, a shared room, or the persistent world when allowed) and may hold several connections into
//! that world's mail hosts at once. Documented for humans in `docs/websocket-protocol.md`.
//!
//! Bytes are carried losslessly: [`Bytes`] is UTF-8 text when the bytes are valid UTF-8 and base64 otherwise, and
//! CR LF are kept as they were sent.

use serde::{Deserialize, Serialize};

use crate::clock::Skip;
use crate::event::Event;
use crate::lesson::{Lesson, Progress};

/// The protocol version. A client that sends another version in [`ClientMsg::Hello`] is refused.
pub const VERSION: u32 = 1;

/// The extensions a sandbox's host can switch off, as (protocol, name): what EHLO, CAPA and CAPABILITY advertise.
/// A switched-off extension is neither advertised nor accepted, so a learner sees both sides of the negotiation.
/// Part of the protocol ([`ClientMsg::SetExtension`]), so the page lists the same switches the server honours.
pub const SWITCHABLE: &[(&str, &str)] = &[
    ("smtp", "PIPELINING"),
    ("smtp", "SIZE"),
    ("smtp", "8BITMIME"),
    ("smtp", "SMTPUTF8"),
    ("smtp", "STARTTLS"),
    ("smtp", "AUTH=PLAIN"),
    ("smtp", "AUTH=LOGIN"),
    ("pop3", "STLS"),
    ("pop3", "TOP"),
    ("pop3", "UIDL"),
    ("pop3", "SASL"),
    ("imap", "STARTTLS"),
    ("imap", "AUTH=PLAIN"),
    ("imap", "IDLE"),
    ("imap", "MOVE"),
    ("imap", "UNSELECT"),
    ("imap", "NAMESPACE"),
    ("imap", "ID"),
];

/// Raw bytes, lossless: `{"text": "..."}` when valid UTF-8, else `{"b64": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bytes {
    /// Valid UTF-8.
    Text {
        /// The text, CR LF included.
        text: String,
    },
    /// Anything else, base64 (standard alphabet, padded).
    B64 {
        /// The base64 encoding.
        b64: String,
    },
}

/// Which world a session attaches to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorldChoice {
    /// A private sandbox of this session's own (the default).
    #[default]
    Sandbox,
    /// A shared room: every browser with the same code sees one world.
    Room {
        /// The room code (letters and digits).
        code: String,
    },
    /// The persistent world the TCP ports serve (if the server allows it).
    Persistent,
}

/// Messages from the browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Must be first. `token` reattaches to an earlier session's sandbox.
    Hello {
        /// Protocol version the client speaks.
        version: u32,
        /// A token from an earlier [`ServerMsg::Welcome`].
        #[serde(default)]
        token: Option<String>,
        /// Which world.
        #[serde(default)]
        world: WorldChoice,
    },
    /// Opens a connection to a service of a host. `conn` is chosen by the client, unique per session.
    Open {
        /// Connection ID.
        conn: u32,
        /// `mx1` or `mx2` (or a configured remote target name).
        host: String,
        /// `smtp`, `submission`, `smtps`, `pop3`, `pop3s`, `imap` or `imaps`.
        service: String,
    },
    /// Sends bytes on a connection, exactly as given.
    Send {
        /// Connection ID.
        conn: u32,
        /// The bytes.
        #[serde(flatten)]
        data: Bytes,
    },
    /// Closes a connection.
    Close {
        /// Connection ID.
        conn: u32,
    },
    /// Takes a host offline or brings it back.
    SetOnline {
        /// Host name.
        host: String,
        /// New state.
        online: bool,
    },
    /// Makes a host busy (its SMTP greets with `421` and closes) or ready again (sandboxes and rooms only).
    SetBusy {
        /// Host name.
        host: String,
        /// New state.
        busy: bool,
    },
    /// Switches an extension of a host on or off (sandboxes and rooms): EHLO, CAPA or CAPABILITY change at once,
    /// and the extension's commands and parameters are refused while it is off.
    SetExtension {
        /// Host name.
        host: String,
        /// `smtp`, `pop3` or `imap`.
        protocol: String,
        /// The extension as advertised (`PIPELINING`, `STARTTLS`, `AUTH=LOGIN`, `TOP`, `IDLE`...).
        name: String,
        /// On or off.
        on: bool,
    },
    /// Retries every queued message now.
    RetryQueue,
    /// Retries one queued message now (the queue panel's "retry now").
    RetryMessage {
        /// Host whose queue holds it.
        host: String,
        /// Queue ID.
        id: String,
    },
    /// Returns one queued message to its sender now, as if it had expired (the queue panel's "return to sender").
    ReturnMessage {
        /// Host whose queue holds it.
        host: String,
        /// Queue ID.
        id: String,
    },
    /// Resets the world to its initial state (sandboxes and rooms only).
    ResetWorld,
    /// Asks for a fresh [`ServerMsg::Snapshot`].
    Snapshot,
    /// Starts a lesson (sandboxes only): the world is reset to the lesson's start state, the server answers
    /// [`ServerMsg::Lesson`] and then reports [`ServerMsg::Progress`] as goals are reached. Connections opened after
    /// this message count for the lesson.
    StartLesson {
        /// The lesson's id.
        id: String,
    },
    /// Leaves the current lesson (the world stays as it is).
    LeaveLesson,
    /// Moves a sandbox's clock ahead to the next retry or to expiry (sandboxes and rooms only).
    Skip {
        /// Where to.
        to: Skip,
    },
    /// Keep-alive; answered with [`ServerMsg::Pong`].
    Ping,
}

/// An established TLS session: the one description of it, used by the protocol sessions (SMTP's `Received:`
/// line), events and the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The negotiated cipher suite (`TLS13_AES_256_GCM_SHA384`).
    pub cipher: String,
}

/// What the learner is shown when TLS comes up on one of their connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsDetails {
    /// Version and cipher suite.
    #[serde(flatten)]
    pub session: TlsInfo,
    /// The server certificate's subject.
    pub subject: String,
    /// The server certificate's SHA-256 fingerprint.
    pub sha256: String,
    /// Implicit TLS (smtps/pop3s/imaps) rather than STARTTLS/STLS.
    pub implicit: bool,
}

/// Direction of a transcript line: the one direction type of the learner's connections, the relay transcripts
/// and Explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// Client to server (what the learner sent, or the relaying server acting as client).
    C,
    /// Server to client.
    S,
    /// A note between the lines, written by neither side (the relay client's "TLS established").
    Note,
}

impl std::fmt::Display for Dir {
    /// `C`, `S` or `-`, as transcripts print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dir::C => "C",
            Dir::S => "S",
            Dir::Note => "-",
        })
    }
}

/// One host in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSnap {
    /// `mx1`.
    pub name: String,
    /// `mx1.example.com`.
    pub fqdn: String,
    /// `example.com`.
    pub domain: String,
    /// Whether it accepts connections.
    pub online: bool,
    /// Whether it turns SMTP clients away with `421` (busy).
    #[serde(default)]
    pub busy: bool,
    /// Extensions switched off, as (protocol, name).
    #[serde(default)]
    pub extensions_off: Vec<(String, String)>,
    /// Port base in this world (10000): the real port is base + well-known port.
    pub port_base: u16,
    /// Its users and their folders.
    pub users: Vec<UserSnap>,
}

/// A user's mailbox in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSnap {
    /// `alice`.
    pub name: String,
    /// Folders.
    pub folders: Vec<FolderSnap>,
}

/// A folder in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderSnap {
    /// Full name (`Projects/2026`).
    pub name: String,
    /// Messages, ascending UID.
    pub messages: Vec<MessageSnap>,
}

/// A message in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSnap {
    /// UID.
    pub uid: u32,
    /// IMAP flags (`\Seen`).
    pub flags: Vec<String>,
    /// Size in octets.
    pub size: u64,
    /// `From:` header, decoded.
    pub from: String,
    /// `Subject:` header, decoded.
    pub subject: String,
}

/// A queued message in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSnap {
    /// Which host's spool.
    pub host: String,
    /// Queue ID.
    pub id: String,
    /// Sender.
    pub from: String,
    /// Pending recipients.
    pub rcpts: Vec<String>,
    /// Attempts so far (max over recipients).
    pub attempts: u32,
    /// Next attempt, RFC 3339.
    pub next_attempt: Option<String>,
    /// When it will bounce, RFC 3339.
    pub expires_at: String,
    /// Last error.
    pub last_error: Option<String>,
}

/// The whole world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldSnap {
    /// Hosts.
    pub hosts: Vec<HostSnap>,
    /// The routing table as (domain, mx).
    pub routes: Vec<(String, String)>,
    /// Queued mail.
    pub queue: Vec<QueueSnap>,
    /// How far this world's clock runs ahead of real time, in milliseconds (a sandbox skipped ahead); queue times
    /// are in world time.
    #[serde(default)]
    pub clock_offset_ms: i64,
}

/// The page of a static site (`mailroom static-site`) that tells how to run a Mailroom server, for what only a
/// server can do (rooms, the persistent world, real clients on TCP ports, remote servers). Relative to the site.
pub const SERVER_HELP: &str = "server.html";

/// Messages to the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to Hello.
    Welcome {
        /// Protocol version of the server.
        version: u32,
        /// Token to reattach later.
        token: String,
        /// The world attached.
        world: WorldChoice,
        /// Whether plaintext AUTH is allowed in this world (sandboxes: yes, so learners can see it).
        plaintext_auth: bool,
    },
    /// Sent right after [`ServerMsg::Welcome`]: which server instance holds this world, and whether the world was
    /// created by this `hello` (a new sandbox, or a room nobody held on this instance: after a reconnect that means
    /// the room's earlier server went away and it starts empty here).
    Attached {
        /// The instance's name (`--instance-name`).
        instance: String,
        /// The world is new.
        created: bool,
    },
    /// A connection is open.
    Opened {
        /// Connection ID.
        conn: u32,
        /// Host.
        host: String,
        /// Service.
        service: String,
        /// The port it stands for in this world (10025).
        port: u16,
    },
    /// Bytes on a connection.
    Data {
        /// Connection ID.
        conn: u32,
        /// Direction.
        dir: Dir,
        /// Milliseconds since the Unix epoch.
        at: i64,
        /// The bytes.
        #[serde(flatten)]
        data: Bytes,
    },
    /// TLS was established on a connection (from here on the transcript is what went inside TLS).
    Tls {
        /// Connection ID.
        conn: u32,
        /// What was negotiated, and with whom.
        #[serde(flatten)]
        tls: TlsDetails,
    },
    /// A connection ended.
    Closed {
        /// Connection ID.
        conn: u32,
        /// Why (in words).
        reason: String,
    },
    /// Something happened in the world.
    Event {
        /// The event.
        event: Event,
    },
    /// The world's state.
    Snapshot {
        /// The snapshot.
        world: WorldSnap,
    },
    /// A request could not be done; the session goes on.
    Error {
        /// Machine-readable code (`bad_json`, `unknown_conn`, `limit`, ...).
        code: String,
        /// In words.
        message: String,
    },
    /// Answer to Ping.
    Pong,
    /// The lesson now running (after [`ClientMsg::StartLesson`]), or none (after [`ClientMsg::LeaveLesson`]).
    Lesson {
        /// The lesson, with its start state, goals, hints and reference solution.
        lesson: Option<Box<Lesson>>,
    },
    /// The current lesson's goals.
    Progress {
        /// Goals reached so far.
        progress: Progress,
        /// Goals reached by what just happened (to announce), indexes into the lesson's goals.
        reached: Vec<usize>,
    },
    /// The world was reset (by anyone in a room): everything in it is new; the log of the old one is history.
    WorldReset,
    /// How many browsers are attached to this world now (sent after `welcome` and whenever it changes; in a room,
    /// everyone who joined by its code).
    Members {
        /// Sockets attached, this one included.
        count: usize,
    },
    /// The clock was skipped ahead.
    Skipped {
        /// By how much, in milliseconds.
        by_ms: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes() {
        let m: ClientMsg = serde_json::from_str(r#"{"type":"send","conn":1,"text":"EHLO x\r\n"}"#).unwrap();
        assert_eq!(m, ClientMsg::Send { conn: 1, data: Bytes::Text { text: "EHLO x\r\n".into() } });
        let m: ClientMsg = serde_json::from_str(r#"{"type":"hello","version":1}"#).unwrap();
        assert_eq!(m, ClientMsg::Hello { version: 1, token: None, world: WorldChoice::Sandbox });
        let s = serde_json::to_string(&ServerMsg::Closed { conn: 2, reason: "bye".into() }).unwrap();
        assert_eq!(s, r#"{"type":"closed","conn":2,"reason":"bye"}"#);
    }
}
