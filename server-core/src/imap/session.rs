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
//! This file holds the state machine: input framing (lines, literals, over-long lines), the connection state, and
//! the dispatch of each command to its handler in a sibling module (`auth`, `select`, `mailboxes`, `append`,
//! `search_cmd`, `sort`, `fetch`, `store_cmd`, `copy`, `notify`); `sync` keeps the snapshot of the selected mailbox
//! in step with the store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::mutf7;
use super::parser::{Command, CommandBody, Frame, MailboxName, frame, parse_command, parse_tag};
pub(super) use super::response::Reply;
use super::response::{Status, tagged, untagged, untagged_status};
use crate::event::EventKind;
use crate::host::Host;
use crate::session::{ConnInfo, Flow, Session, TlsInfo};
use crate::store::{MessageMeta, StoreChange, StoreError, Uid, canonical_folder, validate_folder_name};

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
pub(super) enum State {
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
pub(super) struct Mailbox {
    /// Canonical UTF-8 name (`INBOX`, `Projects/2026`).
    pub(super) name: String,
    /// EXAMINE (or a read-only mailbox): no flag changes, no expunges, no `\Recent` claimed.
    pub(super) read_only: bool,
    /// UIDVALIDITY at SELECT.
    pub(super) uid_validity: u32,
    /// Message sequence number n is `messages[n - 1]`.
    pub(super) messages: Vec<Snap>,
    /// UIDs that are `\Recent` in this session (RFC 3501 §2.3.2).
    pub(super) recent: HashSet<Uid>,
    /// The store's change count ([`crate::store::MailStore::change_count`]) when the snapshot was last compared
    /// with the store: the store is asked about this folder only when the count moved, so a command costs nothing
    /// per message when nothing changed (a 50,000-message mailbox would otherwise be copied after every command).
    pub(super) change_count: u64,
    /// The UIDs the last `SEARCH RETURN (SAVE)` kept for `$` (RFC 5182), ascending; messages expunged since are
    /// skipped when `$` is used.
    pub(super) saved: Vec<Uid>,
    /// Searches run with `RETURN (UPDATE)` (RFC 5267 §4.2), whose results the client is kept told of.
    pub(super) contexts: Vec<super::search_cmd::SearchContext>,
    /// Some message in `messages` is marked expunged and not yet reported.
    pub(super) expunge_pending: bool,
    /// The keywords the client was told of in untagged FLAGS, sorted. RFC 3501 §7.2.6: FLAGS lists the flags
    /// that apply in the mailbox, so a keyword must be announced before a FETCH shows it (see
    /// [`announce_keywords`]); every keyword in `messages` is in here.
    pub(super) keywords: Vec<String>,
    /// The store's (UIDVALIDITY, HIGHESTMODSEQ) of the folder when the snapshot was last compared with it. Every
    /// change bumps the folder's modseq, so a NOOP that finds the same pair has nothing to compare.
    pub(super) version: (u32, u64),
}

/// One message as this session last told its client.
pub(super) struct Snap {
    pub(super) meta: MessageMeta,
    /// Removed from the store but not yet reported with EXPUNGE.
    pub(super) expunged: bool,
}

/// Input the session expects that is not a command.
pub(super) enum Pending {
    /// Commands.
    None,
    /// The SASL response line after `AUTHENTICATE PLAIN` and our `+` (RFC 3501 §6.2.2).
    Authenticate { tag: String },
    /// `DONE` ends IDLE (RFC 2177).
    Idle { tag: String },
}

/// One IMAP connection.
pub struct ImapSession {
    pub(super) host: Arc<Host>,
    pub(super) conn: ConnInfo,
    pub(super) state: State,
    /// Bytes received and not yet consumed.
    buf: Vec<u8>,
    /// Literals of the command being received that already got their `+`.
    acked: usize,
    /// After an over-long line: what to discard before the next command.
    skip: Skip,
    /// BAD responses and failed logins so far.
    pub(super) errors: u32,
    /// Delay the driver applies before writing (failed logins).
    pub(super) delay: Option<Duration>,
    pub(super) pending: Pending,
    /// Close once the tagged reply is written (too many failed logins; the selected mailbox vanished).
    pub(super) close_after_reply: bool,
    /// The client enabled CONDSTORE (ENABLE, SELECT (CONDSTORE), or a MODSEQ fetch): FETCH responses carry MODSEQ.
    pub(super) condstore: bool,
    /// The client sent `ENABLE IMAP4rev2` (RFC 9051 §6.3.1): the session speaks IMAP4rev2 where it differs from
    /// IMAP4rev1: no `\Recent` and no RECENT, SEARCH answered with ESEARCH, a LIST response and `[CLOSED]` at
    /// SELECT, no `[UNSEEN]`, mailbox names in UTF-8 (§5.1).
    pub(super) rev2: bool,
    /// The client sent `ENABLE QRESYNC` (RFC 7162 §3.2.3; implies CONDSTORE): expunges are told with VANISHED,
    /// every FETCH response carries UID, SELECT takes `(QRESYNC ...)`, and a SELECT that closes a mailbox says
    /// `[CLOSED]`.
    pub(super) qresync: bool,
    /// The client sent `ENABLE UTF8=ACCEPT` (RFC 6855 §3): mailbox names are UTF-8 as after `ENABLE IMAP4rev2`,
    /// and APPEND takes `UTF8 (...)`.
    pub(super) utf8_accept: bool,
    /// What `NOTIFY SET` asked to be told of (RFC 5465), until `NOTIFY NONE` or an overflow.
    pub(super) notify: Option<Box<super::notify::Notify>>,
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
            rev2: false,
            qresync: false,
            utf8_accept: false,
            notify: None,
        }
    }

    pub(super) fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            _ => None,
        }
    }

    pub(super) fn capabilities(&self) -> String {
        let mut caps = vec![
            "IMAP4rev1",
            "IMAP4rev2",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
        ];
        caps.extend([
            "LIST-EXTENDED",
            "LIST-STATUS",
            "STATUS=SIZE",
            "SEARCHRES",
            "BINARY",
            "MOVE",
            "UNSELECT",
            "SPECIAL-USE",
            "CHILDREN",
            "CONDSTORE",
            "QRESYNC",
            "NOTIFY",
            "OBJECTID",
            "UTF8=ACCEPT",
            "ESEARCH",
            "MULTIAPPEND",
            "CONTEXT=SEARCH",
            "CATENATE",
            "SORT",
            "SORT=DISPLAY",
            "ESORT",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
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

    /// Whether CAPABILITY lists `cap` now: ENABLE turns on only what is advertised (RFC 5161 §3.1).
    pub(super) fn advertises(&self, cap: &str) -> bool {
        self.capabilities().split(' ').any(|c| c.eq_ignore_ascii_case(cap))
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
    pub(super) fn enable_condstore(&mut self, out: &mut Vec<u8>) {
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
    pub(super) fn closing(&mut self) -> Flow {
        if self.close_after_reply {
            self.state = State::Logout;
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Counts a BAD or failed login; past the limit, says goodbye.
    pub(super) fn count_error(&mut self, out: &mut Vec<u8>) -> Flow {
        self.errors += 1;
        if self.errors >= self.host.limits.max_errors {
            untagged_status(out, Status::Bad, None, "Too many errors");
            untagged(out, "BYE Too many errors, closing connection");
            self.state = State::Logout;
            return Flow::Close;
        }
        Flow::Continue
    }

    pub(super) fn emit_change(&self, folder: &str, change: &str, uids: Vec<Uid>) {
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
                        Flow::StartTls => {
                            // CVE-2011-0411: nothing sent before the handshake may be read after it.
                            self.buf.clear();
                            return Flow::StartTls;
                        }
                        Flow::Close => {
                            self.buf.clear();
                            return Flow::Close;
                        }
                        // Continue. IMAP never asks to submit (APPEND stores directly; only SMTP spools), so no
                        // other flow comes from a command.
                        _ => {}
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
            self.update_contexts(out);
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
                    match cap.as_str() {
                        // RFC 7162 §3.1: ENABLE CONDSTORE and QRESYNC are CONDSTORE-enabling commands, which tell
                        // a selected mailbox's HIGHESTMODSEQ.
                        "CONDSTORE" => self.enable_condstore(out),
                        "UTF8=ACCEPT" if self.advertises("UTF8=ACCEPT") => self.utf8_accept = true,
                        "QRESYNC" if self.advertises("QRESYNC") => {
                            self.enable_condstore(out);
                            self.qresync = true;
                        }
                        "IMAP4REV2" => {
                            self.rev2 = true;
                            // RFC 9051 has no \Recent: a mailbox selected already stops showing it.
                            if let State::Selected { mailbox, .. } = &mut self.state {
                                mailbox.recent.clear();
                            }
                        }
                        _ => continue,
                    }
                    enabled.push(if cap == "IMAP4REV2" { "IMAP4rev2".to_string() } else { cap });
                }
                untagged(out, format!("ENABLED {}", enabled.join(" ")).trim_end());
                Reply::ok("ENABLE completed")
            }
            CommandBody::Namespace => {
                untagged(out, "NAMESPACE ((\"\" \"/\")) NIL NIL");
                Reply::ok("NAMESPACE completed")
            }
            CommandBody::Select { mailbox, read_only, condstore, qresync } => {
                self.select(&mailbox, read_only, condstore, qresync.as_ref(), out)
            }
            CommandBody::Create { mailbox } => self.create(&mailbox),
            CommandBody::Delete { mailbox } => self.delete(&mailbox),
            CommandBody::Rename { from, to } => self.rename(&from, &to),
            CommandBody::Subscribe { mailbox } => self.subscribe(&mailbox, true),
            CommandBody::Unsubscribe { mailbox } => self.subscribe(&mailbox, false),
            CommandBody::List { reference, patterns, lsub, options } => {
                self.list(&reference, &patterns, lsub, &options, out)
            }
            CommandBody::Status { mailbox, items } => self.status(&mailbox, &items, out),
            CommandBody::Append { mailbox, messages } => self.append(&mailbox, &messages),
            CommandBody::Notify { set } => self.notify(set, out),
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
            CommandBody::Thread { uid, algorithm, charset, key } => {
                self.thread(uid, algorithm, &charset, &key, out)
            }
            CommandBody::CancelUpdate { tags } => {
                if let State::Selected { mailbox, .. } = &mut self.state {
                    mailbox.contexts.retain(|c| !tags.contains(&c.tag));
                }
                Reply::ok("CANCELUPDATE completed")
            }
            // RFC 6855 §3: after ENABLE UTF8=ACCEPT strings are UTF-8, and a CHARSET would contradict that.
            CommandBody::Search { charset: Some(_), .. } if self.utf8_accept => {
                Reply::bad("No CHARSET after ENABLE UTF8=ACCEPT: strings are UTF-8")
            }
            CommandBody::Search { uid, charset, key, ret } => {
                self.search(tag, uid, charset.as_deref(), &key, ret.as_deref(), out)
            }
            CommandBody::Fetch { uid, set, items, changed_since, vanished } => {
                self.fetch(uid, &set, items, changed_since, vanished, out)
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
    // Mailbox names

    /// Whether mailbox names are UTF-8 on the wire: after `ENABLE IMAP4rev2` (RFC 9051 §5.1) or `ENABLE
    /// UTF8=ACCEPT` (RFC 6855 §3); modified UTF-7 (RFC 3501 §5.1.3) before.
    pub(super) fn utf8_names(&self) -> bool {
        self.rev2 || self.utf8_accept
    }

    /// Decodes a mailbox name from the wire and canonicalises it: modified UTF-7, raw UTF-8 from lenient clients,
    /// and with [`Self::utf8_names`] UTF-8 only, where `&` is just a character.
    pub(super) fn mailbox_name(&self, raw: &MailboxName) -> Result<String, Reply> {
        let name = if raw.is_ascii() && !self.utf8_names() {
            mutf7::decode(raw).map_err(|e| Reply::no(Some("CANNOT"), e.to_string()))?
        } else {
            String::from_utf8(raw.clone())
                .map_err(|_| Reply::no(Some("CANNOT"), "Mailbox name is not valid UTF-8"))?
        };
        let name = canonical_folder(&name);
        validate_folder_name(&name).map_err(|e| Reply::no(Some("CANNOT"), e.to_string()))?;
        Ok(name)
    }

    /// Writes a mailbox name as this session's client reads them: modified UTF-7 for IMAP4rev1, UTF-8 with
    /// [`Self::utf8_names`] (RFC 9051 §5.1, RFC 6855 §3: no modified UTF-7 once UTF-8 is enabled).
    pub(super) fn put_mailbox(&self, out: &mut Vec<u8>, name: &str) {
        if self.utf8_names() {
            super::response::string(out, name.as_bytes());
        } else {
            super::response::mailbox(out, name);
        }
    }

    pub(super) fn store_error(e: StoreError) -> Reply {
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
        CommandBody::CancelUpdate { .. } => "CANCELUPDATE",
        CommandBody::Sort { .. } => "SORT",
        CommandBody::Thread { .. } => "THREAD",
        CommandBody::Fetch { .. } => "FETCH",
        CommandBody::Store { .. } => "STORE",
        CommandBody::Copy { .. } => "COPY",
        CommandBody::Move { .. } => "MOVE",
        CommandBody::Notify { .. } => "NOTIFY",
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
        if self.notify_active() && matches!(self.pending, Pending::None | Pending::Idle { .. }) {
            self.notify_change(change, out);
        }
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
        self.notify_overflow(out);
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
        // Every logged-in session, selected or not: the driver reads the change feed only while this holds, and a
        // feed left unread lags. A NOTIFY SET sent after a while unselected would then begin with that old lag and
        // turn itself off at once with NOTIFICATIONOVERFLOW (RFC 5465 §5.8). Reading the feed costs an unselected
        // session without NOTIFY one comparison per change.
        matches!(self.state, State::Authenticated { .. } | State::Selected { .. })
    }
}
