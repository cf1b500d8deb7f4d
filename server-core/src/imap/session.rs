//! The IMAP session: connection states, command execution and multi-device sync.
//!
//! ```text
//!            +----------------------+
//!            |connection established|
//!            +----------------------+
//!                       ||
//!                       \/
//!     +--------------------------------------+
//!     |          server greeting             |
//!     +--------------------------------------+
//!               || (1)       || (2)
//!               \/           ||
//!     +-----------------+    ||
//!     |Not Authenticated|    ||
//!     +-----------------+    ||
//!      || (7)   || (4)       ||
//!      ||       \/           \/
//!      ||     +----------------+
//!      ||     | Authenticated  |<=++
//!      ||     +----------------+  ||
//!      ||       || (7)   || (5)   || (6)
//!      ||       ||       \/       ||
//!      ||       ||    +--------+  ||
//!      ||       ||    |Selected|==++
//!      ||       ||    +--------+
//!      ||       ||       || (7)
//!      \/       \/       \/
//!     +--------------------------------------+
//!     |               Logout                 |
//!     +--------------------------------------+
//!   (1) greeting without pre-authentication  (4) successful LOGIN or AUTHENTICATE
//!   (5) successful SELECT or EXAMINE          (6) CLOSE, UNSELECT, or failed SELECT or EXAMINE
//!   (7) LOGOUT, shutdown or autologout       (RFC 3501 §3)
//! ```
//!
//! ## Keeping devices in sync
//! A selected session keeps its own snapshot of the mailbox: the UID and flags of each message, in sequence-number
//! order. The store is shared, so other sessions (another device, SMTP delivery, POP3) change it underneath. After
//! each command, and at once during IDLE, the session compares its snapshot with the store and tells the client what
//! changed: `EXISTS` for new mail, unsolicited `FETCH (FLAGS ...)` for flag changes, and `EXPUNGE` for removed
//! messages, except while answering FETCH, STORE or SEARCH, where §7.4.1 forbids EXPUNGE because it would shift
//! the sequence numbers the client is reading. An expunged message keeps its place in the snapshot until it can be
//! reported.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::mime;
use super::mutf7;
use super::parser::{
    AppendMessage, Command, CommandBody, FetchItem, Frame, MailboxName, SearchKey, SearchReturn, Section,
    SectionText, SortKey, StatusItem, frame, parse_command, parse_tag,
};
use super::response::{self, Status, date_time, flag_list, tagged, untagged, untagged_status};
use super::search;
use super::sequence::SequenceSet;
use crate::auth::{self, Secret};
use crate::event::EventKind;
use crate::host::Host;
use crate::session::{ConnInfo, Flow, Session, TlsInfo};
use crate::store::{
    Flag, FlagOp, Flags, MessageMeta, StoreChange, StoreError, Uid, canonical_folder, validate_folder_name,
};

/// Most literal data one command may carry before login (RFC 7888 §5 sets 4,096 octets for a LITERAL-
/// non-synchronising literal; a LOGIN with two literals fits twice that).
const MAX_LITERALS_BEFORE_LOGIN: u64 = 8 * 1024;

/// Longest command line (not counting literal data), in every state, as Dovecot's default: long UID sets from real
/// clients, and before login an RFC 2971 §3.3 ID of 30 pairs with values of up to 1,024 octets (32 KiB quoted,
/// twice that if every octet needed a `\`), which imaptest's `id` script sends. Memory stays bounded by this and
/// by [`MAX_LITERALS_BEFORE_LOGIN`].
const MAX_LINE: usize = 64 * 1024;

/// Longest tag repeated in the BAD for an over-long line.
const MAX_ECHOED_TAG: usize = 256;

/// What of the input is discarded after an over-long command line was answered with BAD.
#[derive(Debug)]
enum Skip {
    /// Nothing: input is commands.
    None,
    /// The rest of the line; `tail` keeps its last bytes, to see whether it announces a literal.
    Line { tail: Vec<u8> },
    /// The data of a non-synchronising literal the skipped line announced (RFC 7888: sent without waiting for
    /// `+`), after which the command line goes on.
    Literal { remaining: u64 },
}

/// The connection state (RFC 3501 §3), with what each state owns.
enum State {
    /// Before LOGIN/AUTHENTICATE.
    NotAuthenticated,
    /// Logged in, nothing selected.
    Authenticated { user: String },
    /// A mailbox is selected.
    Selected { user: String, mailbox: Box<Mailbox> },
    /// LOGOUT was answered, or the session was ended.
    Logout,
}

/// The session's view of the selected mailbox.
struct Mailbox {
    /// Canonical UTF-8 name (`INBOX`, `Projects/2026`).
    name: String,
    /// EXAMINE (or a read-only mailbox): no flag changes, no expunges, no `\Recent` claimed.
    read_only: bool,
    /// UIDVALIDITY at SELECT.
    uid_validity: u32,
    /// Message sequence number n is `messages[n - 1]`.
    messages: Vec<Snap>,
    /// UIDs that are `\Recent` in this session (RFC 3501 §2.3.2).
    recent: HashSet<Uid>,
    /// The store's change feed, subscribed before the snapshot was taken: the snapshot is compared with the store
    /// only when a change to this folder arrived (or the feed overflowed), so a command costs nothing per message
    /// when nothing changed (a 50,000-message mailbox would otherwise be copied after every command).
    changes: broadcast::Receiver<StoreChange>,
    /// Some message in `messages` is marked expunged and not yet reported.
    expunge_pending: bool,
    /// The keywords the client was told of in untagged FLAGS, sorted. RFC 3501 §7.2.6: FLAGS lists the flags
    /// that apply in the mailbox, so a keyword must be announced before a FETCH shows it (see
    /// [`announce_keywords`]); every keyword in `messages` is in here.
    keywords: Vec<String>,
    /// The store's (UIDVALIDITY, HIGHESTMODSEQ) of the folder when the snapshot was last compared with it. Every
    /// change bumps the folder's modseq, so a NOOP that finds the same pair has nothing to compare.
    version: (u32, u64),
}

/// One message as this session last told its client.
struct Snap {
    meta: MessageMeta,
    /// Removed from the store but not yet reported with EXPUNGE.
    expunged: bool,
}

/// Input the session expects that is not a command.
enum Pending {
    /// Commands.
    None,
    /// The SASL response line after `AUTHENTICATE PLAIN` and our `+` (RFC 3501 §6.2.2).
    Authenticate { tag: String },
    /// `DONE` ends IDLE (RFC 2177).
    Idle { tag: String },
}

/// How a command completed: the tagged response.
struct Reply {
    status: Status,
    code: Option<String>,
    text: String,
}

impl Reply {
    fn ok(text: &str) -> Reply {
        Reply { status: Status::Ok, code: None, text: text.into() }
    }
    fn ok_code(code: String, text: &str) -> Reply {
        Reply { status: Status::Ok, code: Some(code), text: text.into() }
    }
    fn no(code: Option<&str>, text: impl Into<String>) -> Reply {
        Reply { status: Status::No, code: code.map(str::to_string), text: text.into() }
    }
    fn bad(text: impl Into<String>) -> Reply {
        Reply { status: Status::Bad, code: None, text: text.into() }
    }
}

/// One IMAP connection.
pub struct ImapSession {
    host: Arc<Host>,
    conn: ConnInfo,
    state: State,
    /// Bytes received and not yet consumed.
    buf: Vec<u8>,
    /// Literals of the command being received that already got their `+`.
    acked: usize,
    /// After an over-long line: what to discard before the next command.
    skip: Skip,
    /// BAD responses and failed logins so far.
    errors: u32,
    /// Delay the driver applies before writing (failed logins).
    delay: Option<Duration>,
    pending: Pending,
    /// Close once the tagged reply is written (too many failed logins; the selected mailbox vanished).
    close_after_reply: bool,
    /// The client enabled CONDSTORE (ENABLE, SELECT (CONDSTORE), or a MODSEQ fetch): FETCH responses carry MODSEQ.
    condstore: bool,
}

impl ImapSession {
    /// A new session for a connection to `host`.
    pub fn new(host: Arc<Host>, conn: ConnInfo) -> ImapSession {
        ImapSession {
            host,
            conn,
            state: State::NotAuthenticated,
            buf: Vec::new(),
            acked: 0,
            skip: Skip::None,
            errors: 0,
            delay: None,
            pending: Pending::None,
            close_after_reply: false,
            condstore: false,
        }
    }

    fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            _ => None,
        }
    }

    fn capabilities(&self) -> String {
        let mut caps =
            vec!["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS"];
        caps.extend([
            "MOVE",
            "UNSELECT",
            "SPECIAL-USE",
            "CHILDREN",
            "CONDSTORE",
            "ESEARCH",
            "MULTIAPPEND",
            "SORT",
            "SORT=DISPLAY",
            "ESORT",
            "THREAD=ORDEREDSUBJECT",
        ]);
        caps.retain(|c| self.host.offers("imap", c));
        if matches!(self.state, State::NotAuthenticated) {
            if self.conn.tls_available && self.conn.tls.is_none() && self.host.offers("imap", "STARTTLS") {
                caps.push("STARTTLS");
            }
            if self.conn.auth_allowed() {
                if self.host.offers("imap", "AUTH=PLAIN") {
                    caps.push("AUTH=PLAIN");
                }
            } else {
                caps.push("LOGINDISABLED");
            }
        }
        caps.join(" ")
    }

    fn max_line(&self) -> usize {
        self.host.limits.max_line.max(MAX_LINE)
    }

    /// Discards what [`Skip`] says from the front of the buffer; false when the buffer ran out first.
    fn skip_input(&mut self) -> bool {
        loop {
            match &mut self.skip {
                Skip::None => return true,
                Skip::Line { tail } => {
                    let nl = self.buf.iter().position(|&b| b == b'\n');
                    let end = nl.unwrap_or(self.buf.len());
                    tail.extend_from_slice(&self.buf[end.saturating_sub(32)..end]);
                    let keep = tail.len().saturating_sub(32);
                    tail.drain(..keep);
                    let Some(nl) = nl else {
                        self.buf.clear();
                        return false;
                    };
                    self.buf.drain(..=nl);
                    let line = tail.strip_suffix(b"\r").unwrap_or(tail);
                    self.skip = match super::parser::literal_announcement(line) {
                        // A synchronising literal is never sent: the client waits for a `+` that will not come.
                        Some((size, false)) if size > 0 => Skip::Literal { remaining: size },
                        Some((0, false)) => Skip::Line { tail: Vec::new() },
                        _ => Skip::None,
                    };
                }
                Skip::Literal { remaining } => {
                    let take = (*remaining).min(self.buf.len() as u64);
                    // `take` is at most the buffer's length, so it fits in usize.
                    self.buf.drain(..take as usize);
                    *remaining -= take;
                    if *remaining > 0 {
                        return false;
                    }
                    self.skip = Skip::Line { tail: Vec::new() };
                }
            }
        }
    }

    /// A CONDSTORE-enabling command (RFC 7162 §3.1: FETCH MODSEQ or CHANGEDSINCE, SEARCH MODSEQ, STORE
    /// UNCHANGEDSINCE): from now on FETCH responses carry MODSEQ, and the first such command while a mailbox is
    /// selected tells the client the mailbox's HIGHESTMODSEQ, which SELECT did not (§3.1.2.1).
    fn enable_condstore(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.condstore, true) {
            return;
        }
        if let State::Selected { user, mailbox } = &self.state
            && let Some((_, modseq)) = self.host.store.folder_version(user, &mailbox.name)
        {
            let code = format!("HIGHESTMODSEQ {}", modseq.max(1));
            untagged_status(out, Status::Ok, Some(&code), "Highest");
        }
    }

    /// Close when a BYE was sent (see `close_after_reply`), else go on.
    fn closing(&mut self) -> Flow {
        if self.close_after_reply {
            self.state = State::Logout;
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Counts a BAD or failed login; past the limit, says goodbye.
    fn count_error(&mut self, out: &mut Vec<u8>) -> Flow {
        self.errors += 1;
        if self.errors >= self.host.limits.max_errors {
            untagged_status(out, Status::Bad, None, "Too many errors");
            untagged(out, "BYE Too many errors, closing connection");
            self.state = State::Logout;
            return Flow::Close;
        }
        Flow::Continue
    }

    fn emit_change(&self, folder: &str, change: &str, uids: Vec<Uid>) {
        if let Some(user) = self.user() {
            self.host.emit(EventKind::MailboxChanged {
                user: user.to_string(),
                folder: folder.to_string(),
                change: change.to_string(),
                uids,
            });
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Input

    fn process(&mut self, out: &mut Vec<u8>) -> Flow {
        loop {
            if !self.skip_input() {
                return Flow::Continue;
            }
            if self.buf.is_empty() {
                return Flow::Continue;
            }
            let max_literal = match self.state {
                // Before login a command carries at most a user name and a password: a client that has not
                // proved who it is cannot make the server buffer megabytes.
                State::NotAuthenticated => MAX_LITERALS_BEFORE_LOGIN,
                _ => self.host.limits.max_message_size as u64,
            };
            match frame(&self.buf, self.acked, self.max_line(), max_literal) {
                Frame::Incomplete => return Flow::Continue,
                Frame::Continue { index } => {
                    out.extend_from_slice(b"+ Ready for literal data\r\n");
                    self.acked = index + 1;
                    return Flow::Continue;
                }
                Frame::LineTooLong { start } => {
                    // RFC 3501 §7.1.5 (RFC 9051 §7.1.5): BAD is tagged when the tag is known, and the client waits
                    // for it to complete its command. The answer goes out now, before the line's end arrives, so
                    // that a line without end cannot hold the client waiting or the server buffering; what is left
                    // of the command is discarded as it comes (`skip`), and the session resyncs at its end.
                    let tag = match std::mem::replace(&mut self.pending, Pending::None) {
                        Pending::None => parse_tag(&self.buf),
                        Pending::Authenticate { tag } | Pending::Idle { tag } => Some(tag),
                    };
                    self.buf.drain(..start);
                    self.acked = 0;
                    self.skip = Skip::Line { tail: Vec::new() };
                    match tag.filter(|t| t.len() <= MAX_ECHOED_TAG) {
                        Some(tag) => tagged(out, &tag, Status::Bad, None, "Command line too long"),
                        None => untagged_status(out, Status::Bad, None, "Command line too long"),
                    }
                    if self.count_error(out) == Flow::Close {
                        return Flow::Close;
                    }
                }
                Frame::LiteralTooBig { synchronizing: true, consumed, size } => {
                    // The client waits for our "+" and will not send the data: refuse the command only.
                    let tag = parse_tag(&self.buf).unwrap_or_else(|| "*".into());
                    self.buf.drain(..consumed);
                    self.acked = 0;
                    let text = format!("Literal data of {size} octets exceeds the limit of {max_literal}");
                    tagged(out, &tag, Status::No, Some("TOOBIG"), &text);
                    self.pending = Pending::None;
                }
                Frame::LiteralTooBig { synchronizing: false, size, .. } => {
                    // RFC 7888 §4: the data is already on its way and we cannot find the next command in it.
                    let text =
                        format!("BYE [TOOBIG] Non-synchronizing literal of {size} octets is too large");
                    untagged(out, &text);
                    self.buf.clear();
                    self.state = State::Logout;
                    return Flow::Close;
                }
                Frame::Complete(n) => {
                    let line: Vec<u8> = self.buf.drain(..n).collect();
                    self.acked = 0;
                    let flow = match std::mem::replace(&mut self.pending, Pending::None) {
                        Pending::None => self.command(&line, out),
                        Pending::Authenticate { tag } => self.auth_response(&tag, &line, out),
                        Pending::Idle { tag } => self.idle_input(tag, &line, out),
                    };
                    match flow {
                        Flow::Continue => {}
                        Flow::StartTls => {
                            // CVE-2011-0411: nothing sent before the handshake may be read after it.
                            self.buf.clear();
                            return Flow::StartTls;
                        }
                        Flow::Close => {
                            self.buf.clear();
                            return Flow::Close;
                        }
                    }
                }
            }
        }
    }

    fn command(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
        let cmd = match parse_command(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                match e.tag {
                    Some(tag) => tagged(out, &tag, Status::Bad, None, &e.message),
                    None => untagged_status(out, Status::Bad, None, &e.message),
                }
                return self.count_error(out);
            }
        };
        tracing::debug!(tag = %cmd.tag, command = ?command_name(&cmd.body), "imap command");
        let Command { tag, body } = cmd;
        // §7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH (sequence numbers must stay put).
        let allow_expunge = !matches!(
            body,
            CommandBody::Fetch { .. }
                | CommandBody::Store { .. }
                | CommandBody::Search { .. }
                | CommandBody::Sort { .. }
                | CommandBody::Thread { .. }
        );
        // NOOP and CHECK are the client's way to poll: they also look for changes made on disk behind the store's
        // back (a file mutt renamed in the Maildir), which no change notification announces.
        let poll = matches!(body, CommandBody::Noop | CommandBody::Check);
        let reply = match self.execute(&tag, body, out) {
            Ok(reply) => reply,
            Err(flow) => return flow,
        };
        if matches!(self.pending, Pending::None) {
            self.sync(out, allow_expunge, poll);
        }
        if let Some(reply) = reply {
            tagged(out, &tag, reply.status, reply.code.as_deref(), &reply.text);
            if reply.status == Status::Bad {
                return self.count_error(out);
            }
        }
        if self.close_after_reply {
            self.state = State::Logout;
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Runs one command. `Ok(None)` when the command continues (AUTHENTICATE, IDLE); `Err(flow)` when the
    /// connection changes (LOGOUT, STARTTLS) and the tagged reply was written already.
    fn execute(&mut self, tag: &str, body: CommandBody, out: &mut Vec<u8>) -> Result<Option<Reply>, Flow> {
        let authenticated = self.user().is_some();
        let selected = matches!(self.state, State::Selected { .. });
        if let Some(ext) = extension_of(&body)
            && !self.host.offers("imap", ext)
        {
            // Not advertised in CAPABILITY: to this client the command does not exist.
            return Ok(Some(Reply::bad(format!("{} is not offered by this server", command_name(&body)))));
        }
        let reply = match body {
            CommandBody::Capability => {
                untagged(out, &format!("CAPABILITY {}", self.capabilities()));
                Reply::ok("CAPABILITY completed")
            }
            CommandBody::Noop => Reply::ok("NOOP completed"),
            CommandBody::Logout => {
                untagged(out, "BYE Logging out");
                tagged(out, tag, Status::Ok, None, "LOGOUT completed");
                self.state = State::Logout;
                return Err(Flow::Close);
            }
            CommandBody::Id { params } => {
                if let Some(params) = params {
                    tracing::debug!(?params, "client ID");
                }
                untagged(out, "ID (\"name\" \"Mailroom\" \"vendor\" \"Mailroom playground\")");
                Reply::ok("ID completed")
            }
            CommandBody::StartTls => {
                if authenticated {
                    Reply::bad("STARTTLS is only allowed before login")
                } else if self.conn.tls.is_some() {
                    Reply::bad("TLS is already active")
                } else if !self.conn.tls_available {
                    Reply::bad("STARTTLS is not available here")
                } else {
                    tagged(out, tag, Status::Ok, None, "Begin TLS negotiation now");
                    return Err(Flow::StartTls);
                }
            }
            CommandBody::Login { user, password } if !authenticated => self.login(&user, &password, out),
            CommandBody::Authenticate { mechanism, initial } if !authenticated => {
                if !self.conn.auth_allowed() {
                    Reply::no(
                        Some("PRIVACYREQUIRED"),
                        "Use STARTTLS first: credentials are not sent in the clear",
                    )
                } else if mechanism != "PLAIN" {
                    Reply::no(None, "Unsupported authentication mechanism")
                } else {
                    match initial {
                        // SASL-IR: "=" is an empty initial response.
                        Some(ir) => self.auth_plain(if ir == "=" { "" } else { &ir }, out),
                        None => {
                            out.extend_from_slice(b"+ \r\n");
                            self.pending = Pending::Authenticate { tag: tag.to_string() };
                            return Ok(None);
                        }
                    }
                }
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } => {
                Reply::bad("Already authenticated")
            }
            _ if !authenticated => Reply::bad("Log in first (LOGIN or AUTHENTICATE)"),
            CommandBody::Enable { capabilities } => {
                let mut enabled = Vec::new();
                for cap in capabilities {
                    if cap == "CONDSTORE" {
                        self.condstore = true;
                        enabled.push(cap);
                    }
                }
                untagged(out, format!("ENABLED {}", enabled.join(" ")).trim_end());
                Reply::ok("ENABLE completed")
            }
            CommandBody::Namespace => {
                untagged(out, "NAMESPACE ((\"\" \"/\")) NIL NIL");
                Reply::ok("NAMESPACE completed")
            }
            CommandBody::Select { mailbox, read_only, condstore } => {
                self.select(&mailbox, read_only, condstore, out)
            }
            CommandBody::Create { mailbox } => self.create(&mailbox),
            CommandBody::Delete { mailbox } => self.delete(&mailbox),
            CommandBody::Rename { from, to } => self.rename(&from, &to),
            CommandBody::Subscribe { mailbox } => self.subscribe(&mailbox, true),
            CommandBody::Unsubscribe { mailbox } => self.subscribe(&mailbox, false),
            CommandBody::List { reference, pattern, lsub, special_use_only } => {
                self.list(&reference, &pattern, lsub, special_use_only, out)
            }
            CommandBody::Status { mailbox, items } => self.status(&mailbox, &items, out),
            CommandBody::Append { mailbox, messages } => self.append(&mailbox, &messages),
            CommandBody::Idle => {
                out.extend_from_slice(b"+ idling\r\n");
                self.sync(out, true, true);
                self.pending = Pending::Idle { tag: tag.to_string() };
                return Ok(None);
            }
            _ if !selected => Reply::bad("No mailbox selected (SELECT or EXAMINE first)"),
            CommandBody::Check => Reply::ok("CHECK completed"),
            CommandBody::Close => {
                // §6.4.2: CLOSE expunges silently (no EXPUNGE responses: the mailbox is deselected next).
                if !self.selected_read_only() {
                    self.expunge_deleted(None);
                }
                self.deselect();
                Reply::ok("CLOSE completed")
            }
            CommandBody::Unselect => {
                self.deselect();
                Reply::ok("UNSELECT completed")
            }
            CommandBody::Expunge { uids } => {
                if self.selected_read_only() {
                    Reply::no(Some("READ-ONLY"), "Mailbox is read-only")
                } else {
                    self.expunge_deleted(uids.as_ref());
                    Reply::ok("EXPUNGE completed")
                }
            }
            CommandBody::Sort { uid, criteria, charset, key, ret } => {
                self.sort(tag, uid, &criteria, &charset, &key, ret.as_deref(), out)
            }
            CommandBody::Thread { uid, charset, key } => self.thread(uid, &charset, &key, out),
            CommandBody::Search { uid, charset, key, ret } => {
                self.search(tag, uid, charset.as_deref(), &key, ret.as_deref(), out)
            }
            CommandBody::Fetch { uid, set, items, changed_since } => {
                self.fetch(uid, &set, items, changed_since, out)
            }
            CommandBody::Store { uid, set, op, silent, flags, unchanged_since } => {
                self.store(uid, &set, op, silent, &flags, unchanged_since, out)
            }
            CommandBody::Copy { uid, set, mailbox } => self.copy(uid, &set, &mailbox, false, out),
            CommandBody::Move { uid, set, mailbox } => self.copy(uid, &set, &mailbox, true, out),
        };
        Ok(Some(reply))
    }

    // ---------------------------------------------------------------------------------------------------------
    // Authentication

    fn login(&mut self, login: &str, password: &Secret, out: &mut Vec<u8>) -> Reply {
        if !self.conn.auth_allowed() {
            return Reply::no(Some("PRIVACYREQUIRED"), "Use STARTTLS first: LOGIN is disabled in the clear");
        }
        self.finish_login(login, password, out)
    }

    fn auth_plain(&mut self, b64: &str, out: &mut Vec<u8>) -> Reply {
        match auth::decode_plain(b64) {
            Ok((authz, authc, password)) => {
                if !authz.is_empty() && self.host.users.resolve(&authz) != self.host.users.resolve(&authc) {
                    return self.login_failed(&authc, out);
                }
                self.finish_login(&authc, &password, out)
            }
            Err(e) => Reply::bad(format!("Invalid SASL PLAIN response: {e}")),
        }
    }

    fn auth_response(&mut self, tag: &str, line: &[u8], out: &mut Vec<u8>) -> Flow {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        let reply =
            if text == "*" { Reply::bad("AUTHENTICATE cancelled") } else { self.auth_plain(text, out) };
        tagged(out, tag, reply.status, reply.code.as_deref(), &reply.text);
        if reply.status == Status::Bad {
            self.count_error(out)
        } else if self.close_after_reply {
            self.state = State::Logout;
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    fn finish_login(&mut self, login: &str, password: &Secret, out: &mut Vec<u8>) -> Reply {
        match self.host.users.verify(login, &password.0) {
            Some(user) => {
                if let Err(e) = self.host.store.ensure_user(&user) {
                    return Reply::no(Some("UNAVAILABLE"), format!("Mailbox unavailable: {e}"));
                }
                self.host.emit(EventKind::LoggedIn { protocol: "imap".into(), user: user.clone() });
                self.state = State::Authenticated { user };
                Reply::ok_code(format!("CAPABILITY {}", self.capabilities()), "Logged in")
            }
            None => self.login_failed(login, out),
        }
    }

    fn login_failed(&mut self, login: &str, out: &mut Vec<u8>) -> Reply {
        self.host.emit(EventKind::LoginFailed { protocol: "imap".into(), user: login.to_string() });
        // Every failure looks and takes the same: no hint whether the user exists.
        self.delay = Some(self.host.limits.auth_failure_delay);
        self.errors += 1;
        if self.errors >= self.host.limits.max_errors {
            untagged(out, "BYE Too many failed logins");
            self.close_after_reply = true;
        }
        Reply::no(Some("AUTHENTICATIONFAILED"), "Authentication failed")
    }

    // ---------------------------------------------------------------------------------------------------------
    // IDLE

    fn idle_input(&mut self, tag: String, line: &[u8], out: &mut Vec<u8>) -> Flow {
        let text = String::from_utf8_lossy(line);
        if text.trim_end_matches(['\r', '\n']).eq_ignore_ascii_case("DONE") {
            self.sync(out, true, false);
            tagged(out, &tag, Status::Ok, None, "IDLE terminated");
            self.closing()
        } else {
            tagged(out, &tag, Status::Bad, None, "Expected DONE to end IDLE");
            self.count_error(out)
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Mailbox names

    /// Decodes a mailbox name from the wire (modified UTF-7; raw UTF-8 from lenient clients) and canonicalises it.
    fn mailbox_name(&self, raw: &MailboxName) -> Result<String, Reply> {
        let name = if raw.is_ascii() {
            mutf7::decode(raw).map_err(|e| Reply::no(Some("CANNOT"), e.to_string()))?
        } else {
            String::from_utf8(raw.clone())
                .map_err(|_| Reply::no(Some("CANNOT"), "Mailbox name is not valid UTF-8"))?
        };
        let name = canonical_folder(&name);
        validate_folder_name(&name).map_err(|e| Reply::no(Some("CANNOT"), e.to_string()))?;
        Ok(name)
    }

    fn store_error(e: StoreError) -> Reply {
        match e {
            StoreError::NoSuchFolder => Reply::no(Some("NONEXISTENT"), "No such mailbox"),
            StoreError::FolderExists => Reply::no(Some("ALREADYEXISTS"), "Mailbox already exists"),
            StoreError::InvalidName(why) => Reply::no(Some("CANNOT"), format!("Invalid mailbox name: {why}")),
            StoreError::NotAllowed(why) => Reply::no(Some("CANNOT"), why),
            StoreError::NoSuchMessage => Reply::no(Some("EXPUNGEISSUED"), "Message was expunged"),
            StoreError::NoSuchUser | StoreError::Io(_) => {
                tracing::warn!(error = %e, "store failure");
                Reply::no(Some("SERVERBUG"), "Internal error")
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Authenticated state

    fn select(&mut self, raw: &MailboxName, read_only: bool, condstore: bool, out: &mut Vec<u8>) -> Reply {
        // §6.3.1: a SELECT, even a failed one, first closes the selected mailbox (without expunging).
        self.deselect();
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        // user() is Some: execute only calls us when authenticated.
        let user = self.user().unwrap_or_default().to_string();
        let store = self.host.store.clone();
        // Subscribed first: a change made between the snapshot and the subscription would go unnoticed.
        let changes = store.subscribe();
        let status = match store.status(&user, &name) {
            Ok(s) => s,
            Err(e) => return Self::store_error(e),
        };
        let recent: HashSet<Uid> = if read_only {
            HashSet::new()
        } else {
            store.claim_recent(&user, &name).unwrap_or_default().into_iter().collect()
        };
        // EXAMINE claims nothing, but reports how many messages are still recent for the next SELECT.
        let recent_count =
            if read_only { store.recent_count(&user, &name).unwrap_or(0) } else { recent.len() };
        self.condstore |= condstore;
        let mut keywords: Vec<String> = status
            .messages
            .iter()
            .flat_map(|m| m.flags.iter())
            .filter_map(|f| match f {
                Flag::Keyword(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        keywords.sort();
        keywords.dedup();
        write_flags(out, &keywords, read_only);
        untagged(out, &format!("{} EXISTS", status.messages.len()));
        untagged(out, &format!("{recent_count} RECENT"));
        if let Some(i) = status.messages.iter().position(|m| !m.flags.contains(&Flag::Seen)) {
            untagged_status(out, Status::Ok, Some(&format!("UNSEEN {}", i + 1)), "First unseen");
        }
        untagged_status(out, Status::Ok, Some(&format!("UIDVALIDITY {}", status.uid_validity)), "UIDs valid");
        untagged_status(out, Status::Ok, Some(&format!("UIDNEXT {}", status.uid_next)), "Predicted next UID");
        let modseq = status.highest_modseq.max(1);
        untagged_status(out, Status::Ok, Some(&format!("HIGHESTMODSEQ {modseq}")), "Highest");
        let mailbox = Mailbox {
            name,
            read_only,
            uid_validity: status.uid_validity,
            messages: status.messages.into_iter().map(|meta| Snap { meta, expunged: false }).collect(),
            recent,
            changes,
            expunge_pending: false,
            keywords,
            version: (status.uid_validity, status.highest_modseq),
        };
        self.state = State::Selected { user, mailbox: Box::new(mailbox) };
        let (code, verb) = if read_only { ("READ-ONLY", "EXAMINE") } else { ("READ-WRITE", "SELECT") };
        Reply::ok_code(code.into(), &format!("{verb} completed"))
    }

    fn deselect(&mut self) {
        if let State::Selected { user, .. } = &self.state {
            self.state = State::Authenticated { user: user.clone() };
        }
    }

    fn selected_read_only(&self) -> bool {
        matches!(&self.state, State::Selected { mailbox, .. } if mailbox.read_only)
    }

    fn create(&mut self, raw: &MailboxName) -> Reply {
        // §6.3.3: a trailing delimiter declares the intent to create children; the name is without it.
        let trimmed: Vec<u8> = raw.strip_suffix(b"/").unwrap_or(raw).to_vec();
        let name = match self.mailbox_name(&trimmed) {
            Ok(n) => n,
            Err(r) => return r,
        };
        if name == "INBOX" {
            return Reply::no(Some("ALREADYEXISTS"), "INBOX always exists");
        }
        let user = self.user().unwrap_or_default().to_string();
        match self.host.store.create_folder(&user, &name) {
            Ok(()) => {
                self.emit_change(&name, "created", vec![]);
                Reply::ok("CREATE completed")
            }
            Err(e) => Self::store_error(e),
        }
    }

    fn delete(&mut self, raw: &MailboxName) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        if name == "INBOX" {
            return Reply::no(Some("CANNOT"), "INBOX cannot be deleted");
        }
        match self.host.store.delete_folder(&user, &name) {
            Ok(()) => {
                self.emit_change(&name, "deleted", vec![]);
                Reply::ok("DELETE completed")
            }
            Err(e) => Self::store_error(e),
        }
    }

    fn rename(&mut self, from: &MailboxName, to: &MailboxName) -> Reply {
        let (from, to) = match (self.mailbox_name(from), self.mailbox_name(to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        if from == to {
            return Reply::no(Some("ALREADYEXISTS"), "Source and destination are the same");
        }
        let exists = self.host.store.folders(&user).map(|f| f.iter().any(|f| f.name == to)).unwrap_or(false);
        if exists {
            return Reply::no(Some("ALREADYEXISTS"), "Destination mailbox already exists");
        }
        match self.host.store.rename_folder(&user, &from, &to) {
            Ok(()) => {
                // The selected mailbox (or one below the renamed one) keeps being selected under its new name, as
                // in Dovecot: the session goes on working on the same messages (RFC 3501 §6.3.5 moves the
                // mailbox, it does not replace it).
                if let State::Selected { mailbox, .. } = &mut self.state
                    && let Some(rest) = mailbox.name.strip_prefix(&from)
                    && (rest.is_empty() || rest.starts_with('/'))
                {
                    mailbox.name = format!("{to}{rest}");
                    mailbox.version =
                        self.host.store.folder_version(&user, &mailbox.name).unwrap_or_default();
                }
                self.emit_change(&from, &format!("renamed to {to}"), vec![]);
                Reply::ok("RENAME completed")
            }
            Err(e) => Self::store_error(e),
        }
    }

    fn subscribe(&mut self, raw: &MailboxName, subscribed: bool) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        match self.host.store.set_subscribed(&user, &name, subscribed) {
            Ok(()) => Reply::ok(if subscribed { "SUBSCRIBE completed" } else { "UNSUBSCRIBE completed" }),
            Err(e) => Self::store_error(e),
        }
    }

    fn list(
        &mut self,
        reference: &MailboxName,
        pattern: &MailboxName,
        lsub: bool,
        special_use_only: bool,
        out: &mut Vec<u8>,
    ) -> Reply {
        let decode = |raw: &MailboxName| -> Result<String, Reply> {
            if raw.is_ascii() {
                // A reference or pattern is not a mailbox name: one that is not valid modified UTF-7 (`&'`) is
                // taken as written and matches no mailbox, as Dovecot does (RFC 3501 §6.3.8 allows any atom).
                Ok(mutf7::decode(raw).unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned()))
            } else {
                String::from_utf8(raw.clone())
                    .map_err(|_| Reply::no(Some("CANNOT"), "Name is not valid UTF-8"))
            }
        };
        let (reference, pattern) = match (decode(reference), decode(pattern)) {
            (Ok(r), Ok(p)) => (r, p),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let verb = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() && !lsub {
            // §6.3.8: an empty pattern asks for the delimiter and the root of the reference.
            untagged(out, "LIST (\\Noselect) \"/\" \"\"");
            return Reply::ok("LIST completed");
        }
        let full = canonical_folder(&format!("{reference}{pattern}"));
        let user = self.user().unwrap_or_default().to_string();
        let folders = match self.host.store.folders(&user) {
            Ok(f) => f,
            Err(e) => return Self::store_error(e),
        };
        // RFC 3501 §6.3.9: with `%`, LSUB shows a parent that is not itself subscribed but has a subscribed
        // child the `%` stops at, as `\Noselect`.
        let mut parents: Vec<&str> = Vec::new();
        if lsub && full.contains('%') {
            for f in folders.iter().filter(|f| f.subscribed) {
                let mut at = 0;
                while let Some(slash) = f.name[at..].find('/') {
                    let parent = &f.name[..at + slash];
                    at += slash + 1;
                    let subscribed = folders.iter().any(|p| p.name == parent && p.subscribed);
                    if !subscribed && wildcard_match(&full, parent) && !parents.contains(&parent) {
                        parents.push(parent);
                    }
                }
            }
        }
        for f in &folders {
            if lsub && parents.contains(&f.name.as_str()) {
                parents.retain(|p| *p != f.name);
                let mut line = b"* LSUB (\\Noselect) \"/\" ".to_vec();
                response::mailbox(&mut line, &f.name);
                line.extend_from_slice(b"\r\n");
                out.extend_from_slice(&line);
                continue;
            }
            if !wildcard_match(&full, &f.name)
                || lsub && !f.subscribed
                || special_use_only && f.special_use.is_none()
            {
                continue;
            }
            let prefix = format!("{}/", f.name);
            let children = folders.iter().any(|c| c.name.starts_with(&prefix));
            let mut attrs = Vec::new();
            if !f.selectable {
                attrs.push("\\Noselect");
            }
            attrs.push(if children { "\\HasChildren" } else { "\\HasNoChildren" });
            if let Some(u) = f.special_use {
                attrs.push(u.as_imap());
            }
            let mut line = format!("* {verb} ({}) \"/\" ", attrs.join(" ")).into_bytes();
            response::mailbox(&mut line, &f.name);
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
        }
        // Parents that do not exist as mailboxes.
        for parent in parents {
            let mut line = b"* LSUB (\\Noselect) \"/\" ".to_vec();
            response::mailbox(&mut line, parent);
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
        }
        Reply::ok(&format!("{verb} completed"))
    }

    fn status(&mut self, raw: &MailboxName, items: &[StatusItem], out: &mut Vec<u8>) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        let status = match self.host.store.status(&user, &name) {
            Ok(s) => s,
            Err(e) => return Self::store_error(e),
        };
        // \Recent belongs to sessions: for the mailbox we have selected (read-write) it is ours; otherwise it is
        // what nobody has claimed yet, which the next SELECT would get.
        let recent = match &self.state {
            State::Selected { mailbox, .. } if mailbox.name == name && !mailbox.read_only => {
                mailbox.recent.len()
            }
            _ if items.contains(&StatusItem::Recent) => {
                self.host.store.recent_count(&user, &name).unwrap_or(0)
            }
            _ => 0,
        };
        let values: Vec<String> = items
            .iter()
            .map(|item| match item {
                StatusItem::Messages => format!("MESSAGES {}", status.messages.len()),
                StatusItem::Recent => format!("RECENT {recent}"),
                StatusItem::UidNext => format!("UIDNEXT {}", status.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", status.uid_validity),
                StatusItem::Unseen => format!(
                    "UNSEEN {}",
                    status.messages.iter().filter(|m| !m.flags.contains(&Flag::Seen)).count()
                ),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", status.highest_modseq.max(1)),
            })
            .collect();
        let mut line = b"* STATUS ".to_vec();
        response::mailbox(&mut line, &name);
        line.extend_from_slice(format!(" ({})\r\n", values.join(" ")).as_bytes());
        out.extend_from_slice(&line);
        Reply::ok("STATUS completed")
    }

    /// APPEND of one message or, with MULTIAPPEND, several: all or none (RFC 3502 §6.3.11: "if the server
    /// is unable to append any of the messages, none of them are appended").
    fn append(&mut self, raw: &MailboxName, messages: &[AppendMessage]) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let flags =
            match messages.iter().map(|m| parse_flags(&m.flags)).collect::<Result<Vec<Flags>, Reply>>() {
                Ok(f) => f,
                Err(r) => return r,
            };
        let user = self.user().unwrap_or_default().to_string();
        let store = self.host.store.clone();
        let validity = match store.status(&user, &name) {
            Ok(s) => s.uid_validity,
            // §6.3.11: TRYCREATE tells the client it may CREATE the mailbox and try again.
            Err(StoreError::NoSuchFolder) => return Reply::no(Some("TRYCREATE"), "No such mailbox"),
            Err(e) => return Self::store_error(e),
        };
        let mut uids = Vec::new();
        for (m, flags) in messages.iter().zip(&flags) {
            match store.append(&user, &name, &m.message, flags, m.date.map(|d| d.to_utc())) {
                Ok(uid) => uids.push(uid),
                Err(e) => {
                    // Take back the ones already in: a client retrying would otherwise append them twice.
                    let _ = store.expunge(&user, &name, &uids);
                    return Self::store_error(e);
                }
            }
        }
        self.emit_change(&name, "appended", uids.clone());
        // RFC 4315 §3: APPENDUID carries a UID set for a MULTIAPPEND.
        Reply::ok_code(format!("APPENDUID {validity} {}", SequenceSet::compact(&uids)), "APPEND completed")
    }

    // ---------------------------------------------------------------------------------------------------------
    // Selected state

    /// Indexes into the snapshot named by a sequence set (message numbers, or UIDs for UID commands), skipping
    /// messages expunged underneath us. A message number past the end is an error; a UID that does not exist is
    /// silently ignored (§6.4.8).
    fn resolve(&self, uid: bool, set: &SequenceSet) -> Result<Vec<usize>, Reply> {
        let State::Selected { mailbox, .. } = &self.state else {
            return Ok(Vec::new());
        };
        let msgs = &mailbox.messages;
        let indexes = if uid {
            set.select(msgs, |s| s.meta.uid)
        } else {
            let count = msgs.len() as u32;
            let too_big = set.0.iter().any(|&(a, b)| {
                [a, b].iter().any(|n| matches!(n, super::sequence::SeqNumber::Value(v) if *v > count))
            });
            if too_big {
                return Err(Reply::bad("Message sequence number out of range"));
            }
            (0..msgs.len()).filter(|&i| set.contains(i as u32 + 1, count)).collect()
        };
        Ok(indexes.into_iter().filter(|&i| !msgs[i].expunged).collect())
    }

    fn expunge_deleted(&mut self, within: Option<&SequenceSet>) {
        let State::Selected { user, mailbox } = &self.state else {
            return;
        };
        let uids: Vec<Uid> = mailbox
            .messages
            .iter()
            .filter(|s| !s.expunged && s.meta.flags.contains(&Flag::Deleted))
            .filter(|s| {
                within.is_none_or(|set| {
                    set.contains(s.meta.uid, mailbox.messages.last().map_or(0, |l| l.meta.uid))
                })
            })
            .map(|s| s.meta.uid)
            .collect();
        if uids.is_empty() {
            return;
        }
        // Only messages the store still marks \Deleted (another device may have undeleted one since).
        let still: Vec<Uid> = match self.host.store.status(user, &mailbox.name) {
            Ok(st) => st
                .messages
                .iter()
                .filter(|m| m.flags.contains(&Flag::Deleted) && uids.binary_search(&m.uid).is_ok())
                .map(|m| m.uid)
                .collect(),
            Err(_) => return,
        };
        let name = mailbox.name.clone();
        if let Ok(removed) = self.host.store.expunge(user, &name, &still)
            && !removed.is_empty()
        {
            self.emit_change(&name, "expunged", removed);
        }
    }

    fn search(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<&str>,
        key: &SearchKey,
        ret: Option<&[SearchReturn]>,
        out: &mut Vec<u8>,
    ) -> Reply {
        if let Some(cs) = charset
            && !matches!(cs, "UTF-8" | "US-ASCII")
        {
            return Reply::no(Some("BADCHARSET (UTF-8 US-ASCII)"), "Unsupported charset");
        }
        if search::uses_modseq(key) {
            self.enable_condstore(out);
        }
        let State::Selected { mailbox, .. } = &self.state else {
            return Reply::bad("No mailbox selected");
        };
        // (number or UID, modseq) of each match, ascending.
        let hits: Vec<(u32, u64)> = self
            .matching(key)
            .into_iter()
            .map(|i| {
                let meta = &mailbox.messages[i].meta;
                (if uid { meta.uid } else { i as u32 + 1 }, meta.modseq)
            })
            .collect();
        let modseq = search::uses_modseq(key);
        match ret {
            Some(ret) => esearch(out, tag, uid, ret, &hits, modseq),
            None => {
                let mut line = String::from("SEARCH");
                for (h, _) in &hits {
                    line.push_str(&format!(" {h}"));
                }
                if modseq && let Some(highest) = hits.iter().map(|&(_, m)| m).max() {
                    line.push_str(&format!(" (MODSEQ {highest})"));
                }
                untagged(out, &line);
            }
        }
        Reply::ok("SEARCH completed")
    }

    /// Indexes into the snapshot of the messages that match `key` (not those expunged underneath us).
    fn matching(&self, key: &SearchKey) -> Vec<usize> {
        let State::Selected { user, mailbox } = &self.state else {
            return Vec::new();
        };
        let content = search::needs_content(key);
        let max_seq = mailbox.messages.len() as u32;
        let max_uid = mailbox.messages.last().map_or(0, |s| s.meta.uid);
        let mut hits = Vec::new();
        for (i, snap) in mailbox.messages.iter().enumerate() {
            if snap.expunged {
                continue;
            }
            let raw =
                if content { self.host.store.read(user, &mailbox.name, snap.meta.uid).ok() } else { None };
            let parsed = raw.as_deref().map(|r| mime::parse(r));
            let candidate = search::Candidate {
                seq: i as u32 + 1,
                meta: &snap.meta,
                recent: mailbox.recent.contains(&snap.meta.uid),
                max_seq,
                max_uid,
                parsed: parsed.as_ref(),
            };
            if search::matches(key, &candidate) {
                hits.push(i);
            }
        }
        hits
    }

    /// SORT (RFC 5256 §3): the matches ordered by the criteria, then by sequence number; strings compare with
    /// i;ascii-casemap (ASCII letters upper-cased, RFC 4790 §9.2).
    /// The messages at `hits` with what they sort by, ordered by `criteria` and then by sequence number (RFC 5256
    /// §3); strings compare with i;ascii-casemap (ASCII letters upper-cased, RFC 4790 §9.2).
    fn sort_rows(&self, hits: Vec<usize>, criteria: &[(bool, SortKey)]) -> Vec<(usize, SortValues)> {
        let State::Selected { user, mailbox } = &self.state else {
            return Vec::new();
        };
        let needs_message = criteria.iter().any(|(_, k)| !matches!(k, SortKey::Arrival | SortKey::Size));
        let casemap = |s: String| s.to_ascii_uppercase();
        let mut rows: Vec<(usize, SortValues)> = hits
            .into_iter()
            .map(|i| {
                let meta = &mailbox.messages[i].meta;
                let arrival = meta.internal_date.timestamp();
                let raw = if needs_message {
                    self.host.store.read(user, &mailbox.name, meta.uid).ok()
                } else {
                    None
                };
                let keys = match raw.as_deref().map(|r| mime::parse(r)) {
                    Some(p) => SortValues {
                        from: casemap(mime::first_mailbox(&p, "from")),
                        to: casemap(mime::first_mailbox(&p, "to")),
                        cc: casemap(mime::first_mailbox(&p, "cc")),
                        subject: casemap(mime::base_subject(&p)),
                        display_from: casemap(mime::first_display(&p, "from")),
                        display_to: casemap(mime::first_display(&p, "to")),
                        date: mime::sent_timestamp(&p).unwrap_or(arrival),
                    },
                    None => SortValues { date: arrival, ..SortValues::default() },
                };
                (i, keys)
            })
            .collect();
        let messages = &mailbox.messages;
        rows.sort_by(|(a, ka), (b, kb)| {
            for &(reverse, k) in criteria {
                let (ma, mb) = (&messages[*a].meta, &messages[*b].meta);
                let order = match k {
                    SortKey::Arrival => ma.internal_date.cmp(&mb.internal_date),
                    SortKey::Cc => ka.cc.cmp(&kb.cc),
                    SortKey::Date => ka.date.cmp(&kb.date),
                    SortKey::DisplayFrom => ka.display_from.cmp(&kb.display_from),
                    SortKey::DisplayTo => ka.display_to.cmp(&kb.display_to),
                    SortKey::From => ka.from.cmp(&kb.from),
                    SortKey::Size => ma.size.cmp(&mb.size),
                    SortKey::Subject => ka.subject.cmp(&kb.subject),
                    SortKey::To => ka.to.cmp(&kb.to),
                };
                let order = if reverse { order.reverse() } else { order };
                if order.is_ne() {
                    return order;
                }
            }
            a.cmp(b)
        });
        rows
    }

    /// THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages grouped by base subject, each group in sent-date order with
    /// the first message as the parent of the others, groups in the sent-date order of their first message.
    ///
    /// ```text
    /// thread-data = "THREAD" [SP 1*thread-list]
    /// thread-list = "(" (thread-members / thread-nested) ")"
    /// ```
    fn thread(&mut self, uid: bool, charset: &str, key: &SearchKey, out: &mut Vec<u8>) -> Reply {
        if !matches!(charset, "UTF-8" | "US-ASCII") {
            return Reply::no(Some("BADCHARSET (UTF-8 US-ASCII)"), "Unsupported charset");
        }
        if search::uses_modseq(key) {
            self.enable_condstore(out);
        }
        let hits = self.matching(key);
        let rows = self.sort_rows(hits, &[(false, SortKey::Subject), (false, SortKey::Date)]);
        let State::Selected { mailbox, .. } = &self.state else {
            return Reply::bad("No mailbox selected");
        };
        let number = |i: usize| if uid { mailbox.messages[i].meta.uid } else { i as u32 + 1 };
        // (first message's date, its index, members' numbers)
        let mut threads: Vec<(i64, usize, Vec<u32>)> = Vec::new();
        let mut subject: Option<&str> = None;
        for (i, v) in &rows {
            match threads.last_mut() {
                Some((_, _, members)) if subject == Some(v.subject.as_str()) => members.push(number(*i)),
                _ => threads.push((v.date, *i, vec![number(*i)])),
            }
            subject = Some(&v.subject);
        }
        threads.sort_by_key(|&(date, i, _)| (date, i));
        let mut line = String::from("THREAD");
        for (n, (_, _, members)) in threads.iter().enumerate() {
            if n == 0 {
                line.push(' ');
            }
            match &members[..] {
                [one] => line.push_str(&format!("({one})")),
                [parent, child] => line.push_str(&format!("({parent} {child})")),
                [parent, children @ ..] => {
                    line.push_str(&format!("({parent} "));
                    for c in children {
                        line.push_str(&format!("({c})"));
                    }
                    line.push(')');
                }
                [] => {}
            }
        }
        untagged(out, &line);
        Reply::ok("THREAD completed")
    }

    #[allow(clippy::too_many_arguments)]
    fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &[(bool, SortKey)],
        charset: &str,
        key: &SearchKey,
        ret: Option<&[SearchReturn]>,
        out: &mut Vec<u8>,
    ) -> Reply {
        if !matches!(charset, "UTF-8" | "US-ASCII") {
            return Reply::no(Some("BADCHARSET (UTF-8 US-ASCII)"), "Unsupported charset");
        }
        if search::uses_modseq(key) {
            self.enable_condstore(out);
        }
        let hits = self.matching(key);
        let State::Selected { mailbox, .. } = &self.state else {
            return Reply::bad("No mailbox selected");
        };
        let rows = self.sort_rows(hits, criteria);
        let messages = &mailbox.messages;
        let sorted: Vec<(u32, u64)> = rows
            .iter()
            .map(|(i, _)| {
                let meta = &messages[*i].meta;
                (if uid { meta.uid } else { *i as u32 + 1 }, meta.modseq)
            })
            .collect();
        match ret {
            // RFC 5267 §3: ESORT answers with ESEARCH, MIN and MAX being the first and last in sort order.
            Some(ret) => esearch(out, tag, uid, ret, &sorted, search::uses_modseq(key)),
            None => {
                let mut line = String::from("SORT");
                for (n, _) in &sorted {
                    line.push_str(&format!(" {n}"));
                }
                untagged(out, &line);
            }
        }
        Reply::ok("SORT completed")
    }

    fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mut items: Vec<FetchItem>,
        changed_since: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Reply {
        let indexes = match self.resolve(uid, set) {
            Ok(i) => i,
            Err(r) => return r,
        };
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
            self.enable_condstore(out);
            if !items.contains(&FetchItem::ModSeq) {
                items.push(FetchItem::ModSeq);
            }
        }
        let needs_content = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::Envelope
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Header
                    | FetchItem::Rfc822Text
                    | FetchItem::Body
                    | FetchItem::BodyStructure
                    | FetchItem::Section { .. }
            )
        });
        let sets_seen = items.iter().any(|i| {
            matches!(i, FetchItem::Rfc822 | FetchItem::Rfc822Text | FetchItem::Section { peek: false, .. })
        });
        let host = self.host.clone();
        let State::Selected { user, mailbox } = &mut self.state else {
            return Reply::bad("No mailbox selected");
        };
        let mut failed = false;
        for i in indexes {
            let snap = &mailbox.messages[i];
            if changed_since.is_some_and(|n| snap.meta.modseq <= n) {
                continue;
            }
            let msg_uid = snap.meta.uid;
            let raw = if needs_content {
                // RFC 2180 §4.1.1: a message expunged by another session after our snapshot, which we may not
                // report during FETCH (RFC 3501 §7.4.1), is still served while the store keeps its bytes; only
                // when they are gone too is the answer NO (§4.1.2).
                match host.store.read(user, &mailbox.name, msg_uid) {
                    Ok(r) => Some(r),
                    Err(_) => {
                        match host.store.read_expunged(user, &mailbox.name, mailbox.uid_validity, msg_uid) {
                            Some(r) => Some(r),
                            None => {
                                failed = true;
                                continue;
                            }
                        }
                    }
                }
            } else {
                None
            };
            let mut flags_changed = false;
            if sets_seen && !mailbox.read_only && !snap.meta.flags.contains(&Flag::Seen) {
                let seen: Flags = [Flag::Seen].into_iter().collect();
                if let Ok(metas) = host.store.store_flags(user, &mailbox.name, &[msg_uid], FlagOp::Add, &seen)
                    && let Some(meta) = metas.into_iter().next()
                {
                    announce_keywords(mailbox, [&meta.flags], out);
                    mailbox.messages[i].meta = meta;
                    flags_changed = true;
                    host.emit(EventKind::MailboxChanged {
                        user: user.clone(),
                        folder: mailbox.name.clone(),
                        change: "flags".into(),
                        uids: vec![msg_uid],
                    });
                }
            }
            let snap = &mailbox.messages[i];
            let recent = mailbox.recent.contains(&msg_uid);
            let parsed = raw.as_deref().map(|r| mime::parse(r));
            let mut line = format!("* {} FETCH (", i + 1).into_bytes();
            let mut first = true;
            let mut sep = |line: &mut Vec<u8>| {
                if !first {
                    line.push(b' ');
                }
                first = false;
            };
            for item in &items {
                sep(&mut line);
                write_item(
                    &mut line,
                    item,
                    &snap.meta,
                    recent,
                    raw.as_deref().map(|r| r.as_slice()),
                    parsed.as_ref(),
                );
            }
            // §6.4.5: a fetch that sets \Seen reports the new flags in the same response.
            if flags_changed && !items.contains(&FetchItem::Flags) {
                sep(&mut line);
                line.extend_from_slice(format!("FLAGS {}", flag_list(&snap.meta.flags, recent)).as_bytes());
            }
            line.extend_from_slice(b")\r\n");
            out.extend_from_slice(&line);
        }
        if failed {
            Reply::no(Some("EXPUNGEISSUED"), "Some messages were expunged meanwhile")
        } else {
            Reply::ok("FETCH completed")
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        op: FlagOp,
        silent: bool,
        flags: &[String],
        unchanged_since: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Reply {
        if self.selected_read_only() {
            return Reply::no(Some("READ-ONLY"), "Mailbox is read-only");
        }
        let flags = match parse_flags(flags) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let indexes = match self.resolve(uid, set) {
            Ok(i) => i,
            Err(r) => return r,
        };
        if unchanged_since.is_some() {
            self.enable_condstore(out);
        }
        let condstore = self.condstore;
        let host = self.host.clone();
        let State::Selected { user, mailbox } = &mut self.state else {
            return Reply::bad("No mailbox selected");
        };
        // RFC 7162 §3.1.3: messages changed since UNCHANGEDSINCE are not touched and are reported as MODIFIED.
        let (apply, modified): (Vec<usize>, Vec<usize>) = indexes
            .into_iter()
            .partition(|&i| unchanged_since.is_none_or(|n| mailbox.messages[i].meta.modseq <= n));
        let uids: Vec<Uid> = apply.iter().map(|&i| mailbox.messages[i].meta.uid).collect();
        let metas = match host.store.store_flags(user, &mailbox.name, &uids, op, &flags) {
            Ok(m) => m,
            Err(e) => return Self::store_error(e),
        };
        announce_keywords(mailbox, metas.iter().map(|m| &m.flags), out);
        for meta in metas {
            let Some(i) = apply.iter().copied().find(|&i| mailbox.messages[i].meta.uid == meta.uid) else {
                continue;
            };
            mailbox.messages[i].meta = meta;
            let snap = &mailbox.messages[i].meta;
            if !silent || condstore && unchanged_since.is_some() {
                let mut line = format!("* {} FETCH (", i + 1);
                if !silent {
                    line.push_str(&format!(
                        "FLAGS {}",
                        flag_list(&snap.flags, mailbox.recent.contains(&snap.uid))
                    ));
                }
                if uid {
                    line.push_str(&format!("{}UID {}", if silent { "" } else { " " }, snap.uid));
                }
                if condstore {
                    line.push_str(&format!(" MODSEQ ({})", snap.modseq));
                }
                let line = line.replace("( ", "(");
                untagged(out, &format!("{})", &line[2..]));
            }
        }
        if !uids.is_empty() {
            host.emit(EventKind::MailboxChanged {
                user: user.clone(),
                folder: mailbox.name.clone(),
                change: "flags".into(),
                uids: uids.clone(),
            });
        }
        if !modified.is_empty() {
            let numbers: Vec<u32> = modified
                .iter()
                .map(|&i| if uid { mailbox.messages[i].meta.uid } else { i as u32 + 1 })
                .collect();
            return Reply::ok_code(
                format!("MODIFIED {}", SequenceSet::compact(&numbers)),
                "Conditional STORE failed",
            );
        }
        Reply::ok("STORE completed")
    }

    fn copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        raw: &MailboxName,
        is_move: bool,
        out: &mut Vec<u8>,
    ) -> Reply {
        if is_move && self.selected_read_only() {
            return Reply::no(Some("READ-ONLY"), "Mailbox is read-only");
        }
        let dest = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let indexes = match self.resolve(uid, set) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let host = self.host.clone();
        let State::Selected { user, mailbox } = &self.state else {
            return Reply::bad("No mailbox selected");
        };
        let validity = match host.store.status(user, &dest) {
            Ok(s) => s.uid_validity,
            Err(StoreError::NoSuchFolder) => return Reply::no(Some("TRYCREATE"), "No such mailbox"),
            Err(e) => return Self::store_error(e),
        };
        let uids: Vec<Uid> = indexes.iter().map(|&i| mailbox.messages[i].meta.uid).collect();
        let verb = if is_move { "MOVE" } else { "COPY" };
        if uids.is_empty() {
            return Reply::ok(&format!("{verb} completed (no messages)"));
        }
        let pairs = match host.store.copy(user, &mailbox.name, &uids, &dest) {
            Ok(p) => p,
            Err(e) => return Self::store_error(e),
        };
        let (src, dst): (Vec<Uid>, Vec<Uid>) = pairs.iter().copied().unzip();
        let code =
            format!("COPYUID {validity} {} {}", SequenceSet::compact(&src), SequenceSet::compact(&dst));
        let (user, source) = (user.clone(), mailbox.name.clone());
        self.emit_change(&dest, if is_move { "moved in" } else { "copied in" }, dst.clone());
        if is_move {
            // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
            untagged_status(out, Status::Ok, Some(&code), "Moved");
            if let Ok(removed) = host.store.expunge(&user, &source, &src) {
                self.emit_change(&source, "moved out", removed);
            }
            return Reply::ok(&format!("{verb} completed"));
        }
        Reply::ok_code(code, &format!("{verb} completed"))
    }

    // ---------------------------------------------------------------------------------------------------------
    // Sync

    /// Tells the client what changed in the selected mailbox since it last heard (§7.4.1, §5.2). The store is
    /// consulted only when its change feed mentioned this folder, or when `poll` asks to look anyway.
    fn sync(&mut self, out: &mut Vec<u8>, allow_expunge: bool, poll: bool) {
        let condstore = self.condstore;
        let host = self.host.clone();
        let State::Selected { user, mailbox } = &mut self.state else {
            return;
        };
        let mut dirty = false;
        loop {
            match mailbox.changes.try_recv() {
                Ok(change) => {
                    dirty |= change.user.eq_ignore_ascii_case(user)
                        && canonical_folder(&change.folder) == mailbox.name
                }
                // Missed some: assume they were ours.
                Err(broadcast::error::TryRecvError::Lagged(_)) => dirty = true,
                Err(_) => break,
            }
        }
        if !dirty && poll {
            // Asked to look anyway (NOOP, CHECK): files may have been changed by hand (mutt, `mv`), which only the
            // disk tells. The store rereads the directories if their times changed; the version says whether
            // anything changed at all, without copying a list of every message.
            dirty = host.store.folder_version(user, &mailbox.name).is_none_or(|v| v != mailbox.version);
        }
        if !dirty {
            if allow_expunge && mailbox.expunge_pending {
                report_expunges(mailbox, out);
            }
            return;
        }
        let status = match host.store.status(user, &mailbox.name) {
            Ok(status) if status.uid_validity == mailbox.uid_validity => status,
            // Deleted, renamed, or deleted and recreated (a new UIDVALIDITY) by another session: the snapshot means
            // nothing now, and RFC 3501 has no response that deselects. As Dovecot does, say BYE (§7.1.5: the
            // server is closing the connection) and close once the command's tagged reply is out.
            Ok(_) | Err(StoreError::NoSuchFolder) => {
                untagged(out, "BYE Selected mailbox was deleted, renamed or replaced; please reconnect");
                self.close_after_reply = true;
                return;
            }
            Err(_) => return,
        };
        mailbox.version = (status.uid_validity, status.highest_modseq);
        announce_keywords(mailbox, status.messages.iter().map(|m| &m.flags), out);
        // Mark what vanished, report flag changes of what remains.
        let mut current = status.messages.iter().peekable();
        for (i, snap) in mailbox.messages.iter_mut().enumerate() {
            while current.peek().is_some_and(|m| m.uid < snap.meta.uid) {
                current.next();
            }
            match current.peek() {
                Some(m) if m.uid == snap.meta.uid => {
                    if m.flags != snap.meta.flags && !snap.expunged {
                        let recent = mailbox.recent.contains(&m.uid);
                        let mut line = format!("{} FETCH (FLAGS {}", i + 1, flag_list(&m.flags, recent));
                        // Clients that cannot map numbers to UIDs still learn which message it was.
                        line.push_str(&format!(" UID {}", m.uid));
                        if condstore {
                            line.push_str(&format!(" MODSEQ ({})", m.modseq));
                        }
                        line.push(')');
                        untagged(out, &line);
                    }
                    snap.meta = (*m).clone();
                }
                _ => {
                    snap.expunged = true;
                    mailbox.expunge_pending = true;
                }
            }
        }
        if allow_expunge && mailbox.expunge_pending {
            report_expunges(mailbox, out);
        }
        let last = mailbox.messages.last().map_or(0, |s| s.meta.uid);
        let new: Vec<MessageMeta> = status.messages.iter().filter(|m| m.uid > last).cloned().collect();
        if !new.is_empty() {
            if !mailbox.read_only {
                let claimed = host.store.claim_recent(user, &mailbox.name).unwrap_or_default();
                mailbox.recent.extend(claimed);
            }
            mailbox.messages.extend(new.into_iter().map(|meta| Snap { meta, expunged: false }));
            untagged(out, &format!("{} EXISTS", mailbox.messages.len()));
            let recent = mailbox.messages.iter().filter(|s| mailbox.recent.contains(&s.meta.uid)).count();
            untagged(out, &format!("{recent} RECENT"));
        }
    }
}

/// Writes the ESEARCH response (RFC 4731 §3.1, §4):
///
/// ```text
/// esearch-response  = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
/// search-correlator = SP "(" "TAG" SP tag-string ")"
/// search-return-data = "MIN" SP nz-number / "MAX" SP nz-number / "ALL" SP sequence-set / "COUNT" SP number
/// ```
///
/// `hits` are in the order to report (ascending, or sort order for ESORT). `RETURN ()` means ALL; with no match, MIN, MAX and ALL are left out and COUNT is 0. When the search used MODSEQ,
/// RFC 7162 §3.1.5 adds the highest mod-sequence of the messages returned: those of MIN and MAX when only they
/// were asked for, else of all matches.
fn esearch(out: &mut Vec<u8>, tag: &str, uid: bool, ret: &[SearchReturn], hits: &[(u32, u64)], modseq: bool) {
    let ret = if ret.is_empty() { &[SearchReturn::All][..] } else { ret };
    let mut line = b"* ESEARCH (TAG ".to_vec();
    response::string(&mut line, tag.as_bytes());
    line.push(b')');
    if uid {
        line.extend_from_slice(b" UID");
    }
    let (first, last) = (hits.first(), hits.last());
    let mut returned: Vec<u64> = Vec::new();
    if ret.contains(&SearchReturn::Min)
        && let Some(&(n, m)) = first
    {
        line.extend_from_slice(format!(" MIN {n}").as_bytes());
        returned.push(m);
    }
    if ret.contains(&SearchReturn::Max)
        && let Some(&(n, m)) = last
    {
        line.extend_from_slice(format!(" MAX {n}").as_bytes());
        returned.push(m);
    }
    let all_kinds = ret.contains(&SearchReturn::All) || ret.contains(&SearchReturn::Count);
    if ret.contains(&SearchReturn::All) && !hits.is_empty() {
        line.extend_from_slice(format!(" ALL {}", runs(hits.iter().map(|&(n, _)| n))).as_bytes());
    }
    if ret.contains(&SearchReturn::Count) {
        line.extend_from_slice(format!(" COUNT {}", hits.len()).as_bytes());
    }
    let highest = if all_kinds { hits.iter().map(|&(_, m)| m).max() } else { returned.into_iter().max() };
    if modseq && let Some(highest) = highest {
        line.extend_from_slice(format!(" MODSEQ {highest}").as_bytes());
    }
    line.extend_from_slice(b"\r\n");
    out.extend_from_slice(&line);
}

/// What one message sorts by (RFC 5256 §3), strings already case-mapped.
#[derive(Default)]
struct SortValues {
    from: String,
    to: String,
    cc: String,
    /// Base subject (§2.1).
    subject: String,
    /// RFC 5957 display names.
    display_from: String,
    display_to: String,
    /// Sent date in seconds since the epoch; the internal date when the message has none.
    date: i64,
}

/// A sequence-set of `numbers` in their order (ascending for SEARCH, sort order for ESORT, RFC 5267 §3.1): each
/// run of consecutive ascending numbers as `a:b`.
fn runs(numbers: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    let mut run: Option<(u32, u32)> = None;
    let flush = |out: &mut String, (a, b): (u32, u32)| {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&if a == b { a.to_string() } else { format!("{a}:{b}") });
    };
    for n in numbers {
        run = match run {
            Some((a, b)) if b.checked_add(1) == Some(n) => Some((a, n)),
            Some(r) => {
                flush(&mut out, r);
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}

/// Writes untagged FLAGS and PERMANENTFLAGS (RFC 3501 §7.2.6, §7.1) for the system flags and `keywords`.
fn write_flags(out: &mut Vec<u8>, keywords: &[String], read_only: bool) {
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    let kw = keywords.iter().fold(String::new(), |acc, k| acc + " " + k);
    untagged(out, &format!("FLAGS ({system}{kw})"));
    if read_only {
        untagged_status(out, Status::Ok, Some("PERMANENTFLAGS ()"), "No permanent flags permitted");
    } else {
        let perm = format!("PERMANENTFLAGS ({system}{kw} \\*)");
        untagged_status(out, Status::Ok, Some(&perm), "Flags permitted");
    }
}

/// RFC 3501 §7.2.6: before a FETCH shows a keyword the client has not heard of (set by this session or another
/// one, or carried by new mail), an untagged FLAGS lists it; call before writing responses with these flags.
fn announce_keywords<'f>(
    mailbox: &mut Mailbox,
    flags: impl IntoIterator<Item = &'f Flags>,
    out: &mut Vec<u8>,
) {
    let mut added = false;
    for f in flags.into_iter().flatten() {
        if let Flag::Keyword(k) = f
            && let Err(at) = mailbox.keywords.binary_search(k)
        {
            mailbox.keywords.insert(at, k.clone());
            added = true;
        }
    }
    if added {
        write_flags(out, &mailbox.keywords, mailbox.read_only);
    }
}

/// Sends EXPUNGE for every message of the snapshot that is gone from the store, and forgets them.
fn report_expunges(mailbox: &mut Mailbox, out: &mut Vec<u8>) {
    // Highest first: each EXPUNGE renumbers only the messages after it, which are already reported.
    for i in (0..mailbox.messages.len()).rev() {
        if mailbox.messages[i].expunged {
            untagged(out, &format!("{} EXPUNGE", i + 1));
        }
    }
    mailbox.messages.retain(|s| !s.expunged);
    mailbox.expunge_pending = false;
}

/// Writes one FETCH data item.
fn write_item(
    line: &mut Vec<u8>,
    item: &FetchItem,
    meta: &MessageMeta,
    recent: bool,
    raw: Option<&[u8]>,
    parsed: Option<&mime::Parsed<'_>>,
) {
    let raw = raw.unwrap_or_default();
    match item {
        FetchItem::Uid => line.extend_from_slice(format!("UID {}", meta.uid).as_bytes()),
        FetchItem::Flags => {
            line.extend_from_slice(format!("FLAGS {}", flag_list(&meta.flags, recent)).as_bytes())
        }
        FetchItem::InternalDate => {
            line.extend_from_slice(format!("INTERNALDATE {}", date_time(&meta.internal_date)).as_bytes())
        }
        FetchItem::Rfc822Size => line.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes()),
        FetchItem::ModSeq => line.extend_from_slice(format!("MODSEQ ({})", meta.modseq).as_bytes()),
        FetchItem::Envelope => {
            line.extend_from_slice(b"ENVELOPE ");
            if let Some(p) = parsed {
                mime::envelope(line, p);
            }
        }
        FetchItem::Body | FetchItem::BodyStructure => {
            let extended = matches!(item, FetchItem::BodyStructure);
            line.extend_from_slice(if extended { b"BODYSTRUCTURE " } else { b"BODY " });
            if let Some(p) = parsed {
                mime::body_structure(line, p, extended);
            }
        }
        FetchItem::Rfc822 => {
            line.extend_from_slice(b"RFC822 ");
            response::literal(line, raw);
        }
        FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
            let (name, text) = if matches!(item, FetchItem::Rfc822Header) {
                ("RFC822.HEADER ", SectionText::Header)
            } else {
                ("RFC822.TEXT ", SectionText::Text)
            };
            line.extend_from_slice(name.as_bytes());
            let section = Section { part: vec![], text: Some(text) };
            let data = parsed.and_then(|p| mime::section(p, &section));
            response::literal(line, data.as_deref().unwrap_or_default());
        }
        FetchItem::Section { section, partial, .. } => {
            line.extend_from_slice(b"BODY");
            line.extend_from_slice(section_name(section).as_bytes());
            let data = parsed.and_then(|p| mime::section(p, section));
            match (data, partial) {
                (None, _) => line.extend_from_slice(b" NIL"),
                (Some(data), None) => {
                    line.push(b' ');
                    response::literal(line, &data);
                }
                (Some(data), Some((origin, len))) => {
                    let start = (*origin as usize).min(data.len());
                    let end = start.saturating_add(*len as usize).min(data.len());
                    line.extend_from_slice(format!("<{origin}> ").as_bytes());
                    response::literal(line, &data[start..end]);
                }
            }
        }
    }
}

/// `section` as echoed in a FETCH response (`[1.2.HEADER.FIELDS (FROM)]`).
fn section_name(section: &Section) -> String {
    let mut s = String::from("[");
    s.push_str(&section.part.iter().map(u32::to_string).collect::<Vec<_>>().join("."));
    if let Some(text) = &section.text {
        if !section.part.is_empty() {
            s.push('.');
        }
        match text {
            SectionText::Header => s.push_str("HEADER"),
            SectionText::Text => s.push_str("TEXT"),
            SectionText::Mime => s.push_str("MIME"),
            SectionText::HeaderFields { not, fields } => {
                s.push_str(if *not { "HEADER.FIELDS.NOT (" } else { "HEADER.FIELDS (" });
                let names: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        if f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                            f.to_ascii_uppercase()
                        } else {
                            format!("\"{}\"", f.replace('\\', "\\\\").replace('"', "\\\""))
                        }
                    })
                    .collect();
                s.push_str(&names.join(" "));
                s.push(')');
            }
        }
    }
    s.push(']');
    s
}

/// Flags from APPEND/STORE: system flags and keywords; `\Recent` is the server's and is ignored (§2.3.2).
fn parse_flags(flags: &[String]) -> Result<Flags, Reply> {
    let mut out = Flags::new();
    for f in flags {
        if f.eq_ignore_ascii_case("\\Recent") {
            continue;
        }
        match Flag::from_imap(f) {
            Some(flag) => {
                out.insert(flag);
            }
            None => return Err(Reply::bad(format!("Invalid flag {f}"))),
        }
    }
    Ok(out)
}

/// LIST pattern matching (§6.3.8): `*` matches anything, `%` anything but the delimiter.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // dp[j]: pattern prefix (so far) matches name prefix of length j. O(|p|·|n|), no backtracking blow-up.
    let mut dp = vec![false; n.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut reach = false;
                for j in 0..=n.len() {
                    if dp[j] {
                        reach = true;
                    } else if pc == '%' && j > 0 && n[j - 1] == '/' {
                        reach = false;
                    }
                    // A run may not cross '/' for '%': restart reach at each delimiter unless dp[j] itself.
                    if pc == '%' && j > 0 && n[j - 1] == '/' && !dp[j] {
                        reach = false;
                    }
                    next[j] = reach;
                }
            }
            c => {
                for j in 1..=n.len() {
                    next[j] = dp[j - 1] && n[j - 1] == c;
                }
            }
        }
        dp = next;
    }
    dp[n.len()]
}

/// The switchable extension a command belongs to (see `wire::SWITCHABLE`), if any.
fn extension_of(body: &CommandBody) -> Option<&'static str> {
    match body {
        CommandBody::StartTls => Some("STARTTLS"),
        CommandBody::Authenticate { .. } => Some("AUTH=PLAIN"),
        CommandBody::Idle => Some("IDLE"),
        CommandBody::Move { .. } => Some("MOVE"),
        CommandBody::Unselect => Some("UNSELECT"),
        CommandBody::Namespace => Some("NAMESPACE"),
        CommandBody::Id { .. } => Some("ID"),
        _ => None,
    }
}

fn command_name(body: &CommandBody) -> &'static str {
    match body {
        CommandBody::Capability => "CAPABILITY",
        CommandBody::Noop => "NOOP",
        CommandBody::Logout => "LOGOUT",
        CommandBody::StartTls => "STARTTLS",
        CommandBody::Authenticate { .. } => "AUTHENTICATE",
        CommandBody::Login { .. } => "LOGIN",
        CommandBody::Enable { .. } => "ENABLE",
        CommandBody::Select { .. } => "SELECT",
        CommandBody::Create { .. } => "CREATE",
        CommandBody::Delete { .. } => "DELETE",
        CommandBody::Rename { .. } => "RENAME",
        CommandBody::Subscribe { .. } => "SUBSCRIBE",
        CommandBody::Unsubscribe { .. } => "UNSUBSCRIBE",
        CommandBody::List { .. } => "LIST",
        CommandBody::Status { .. } => "STATUS",
        CommandBody::Append { .. } => "APPEND",
        CommandBody::Namespace => "NAMESPACE",
        CommandBody::Id { .. } => "ID",
        CommandBody::Idle => "IDLE",
        CommandBody::Check => "CHECK",
        CommandBody::Close => "CLOSE",
        CommandBody::Unselect => "UNSELECT",
        CommandBody::Expunge { .. } => "EXPUNGE",
        CommandBody::Search { .. } => "SEARCH",
        CommandBody::Sort { .. } => "SORT",
        CommandBody::Thread { .. } => "THREAD",
        CommandBody::Fetch { .. } => "FETCH",
        CommandBody::Store { .. } => "STORE",
        CommandBody::Copy { .. } => "COPY",
        CommandBody::Move { .. } => "MOVE",
    }
}

impl Session for ImapSession {
    fn greeting(&mut self, out: &mut Vec<u8>) -> Flow {
        let text = format!("{} IMAP4rev1 Mailroom ready", self.host.fqdn);
        untagged_status(out, Status::Ok, Some(&format!("CAPABILITY {}", self.capabilities())), &text);
        Flow::Continue
    }

    fn receive(&mut self, input: &[u8], out: &mut Vec<u8>) -> Flow {
        if matches!(self.state, State::Logout) {
            return Flow::Close;
        }
        self.buf.extend_from_slice(input);
        self.process(out)
    }

    fn tls_started(&mut self, info: TlsInfo, _out: &mut Vec<u8>) -> Flow {
        self.conn.tls = Some(info);
        self.buf.clear();
        self.acked = 0;
        Flow::Continue
    }

    fn store_changed(&mut self, change: &StoreChange, out: &mut Vec<u8>) -> Flow {
        let ours = match &self.state {
            State::Selected { user, mailbox } => {
                change.user.eq_ignore_ascii_case(user) && canonical_folder(&change.folder) == mailbox.name
            }
            _ => false,
        };
        // Outside IDLE the client hears at its next command (§7.4.1 allows no unprompted EXPUNGE then).
        if ours && matches!(self.pending, Pending::Idle { .. }) {
            self.sync(out, true, false);
        }
        self.closing()
    }

    fn store_lagged(&mut self, out: &mut Vec<u8>) -> Flow {
        // Any missed change may have been ours: compare with the store while idling.
        if matches!(self.pending, Pending::Idle { .. }) {
            self.sync(out, true, true);
        }
        self.closing()
    }

    fn timed_out(&mut self, out: &mut Vec<u8>) -> Flow {
        untagged(out, "BYE Autologout; idle for too long");
        self.state = State::Logout;
        Flow::Close
    }

    fn idle_timeout(&self) -> Duration {
        self.host.limits.imap_idle
    }

    fn logged_in(&self) -> bool {
        !matches!(self.state, State::NotAuthenticated)
    }

    fn take_delay(&mut self) -> Option<Duration> {
        self.delay.take()
    }

    fn wants_store_changes(&self) -> bool {
        matches!(self.state, State::Selected { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        let table = [
            ("*", "INBOX", true),
            ("*", "a/b/c", true),
            ("%", "a", true),
            ("%", "a/b", false),
            ("a/%", "a/b", true),
            ("a/%", "a/b/c", false),
            ("a/*", "a/b/c", true),
            ("%/%", "a/b", true),
            ("%/%", "a/b/c", false),
            ("a%", "abc", true),
            ("a%c", "abxc", true),
            ("a%c", "ab/c", false),
            ("INBOX", "INBOX", true),
            ("Sent", "Sent/x", false),
            ("", "", true),
            ("*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*x", &"a".repeat(200), false),
        ];
        for (p, n, want) in table {
            assert_eq!(wildcard_match(p, n), want, "{p} {n}");
        }
    }
}
