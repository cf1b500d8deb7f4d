//! The POP3 session: line framing, the state machine, and the replies shared by every state.
//!
//! The command handlers live next door: [`super::authorization`] (USER, PASS, APOP, AUTH, STLS) and
//! [`super::transaction`] (STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL, and QUIT's UPDATE state).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::maildrop::Maildrop;
use super::response::{self, Code};
use crate::host::{Host, MaildropGuard};
use crate::session::{ConnInfo, Flow, Session, TlsInfo};

/// Where a POP3 session is (RFC 1939 §3).
///
/// ```text
///                 greeting
///                    |
///                    v         STLS: +OK, Flow::StartTls, tls_started
///           +-----------------+ -----+
///      +----|  AUTHORIZATION  |      |    USER/PASS, APOP, AUTH PLAIN, CAPA, QUIT
///      |    +-----------------+ <----+
///      |             | credentials ok + maildrop locked + snapshot taken
///      |             v
///      |    +-----------------+
///      |    |   TRANSACTION   |           STAT LIST RETR DELE NOOP RSET TOP UIDL CAPA
///      |    +-----------------+
///      |        |         | connection lost / autologout: nothing removed, lock released
///      |        | QUIT    +-----------------------------------+
///      |        v                                              |
///      |    +-----------------+                                |
///      |    |     UPDATE      |  expunge marked, unlock        |
///      |    +-----------------+                                |
///      | QUIT     |                                            |
///      +--------> v <------------------------------------------+
///               Done (connection closes)
/// ```
///
/// UPDATE is not a variant: it happens inside QUIT's handler, which moves the session to `Done`.
pub(super) enum State {
    /// Before login (RFC 1939 §4).
    Authorization(Authorization),
    /// Logged in, maildrop locked (RFC 1939 §5).
    Transaction(Transaction),
    /// After QUIT, a fatal error, autologout or the connection's end. Input is ignored.
    Done,
}

/// Progress inside the AUTHORIZATION state.
pub(super) enum Authorization {
    /// Waiting for a command.
    Start,
    /// USER was accepted; PASS should follow (RFC 1939 §7).
    UserGiven(String),
    /// `AUTH PLAIN` without an initial response: the next line is the client's base64 response, or `*`.
    AwaitingPlain,
}

/// The TRANSACTION state's data.
pub(super) struct Transaction {
    /// The canonical user name.
    pub user: String,
    /// The snapshot taken at login.
    pub maildrop: Maildrop,
    /// Held for the whole TRANSACTION state; dropping it (QUIT, timeout, lost connection) unlocks the maildrop.
    pub _lock: MaildropGuard,
}

/// A negative reply from a command handler.
pub(super) struct Refusal {
    /// An RFC 2449 response code, if one applies.
    pub code: Option<Code>,
    /// The text after `-ERR`.
    pub text: String,
    /// Whether it counts towards [`crate::config::Limits::max_errors`]: bad commands and failed logins do; "no such
    /// message" and similar honest answers to well-formed commands do not.
    pub counts: bool,
}

impl Refusal {
    /// A refusal that does not count as an error.
    pub fn new(text: impl Into<String>) -> Refusal {
        Refusal { code: None, text: text.into(), counts: false }
    }

    /// A bad command: counts towards the error limit.
    pub fn bad(text: impl Into<String>) -> Refusal {
        Refusal { code: None, text: text.into(), counts: true }
    }

    /// Adds a response code.
    pub fn code(mut self, code: Code) -> Refusal {
        self.code = Some(code);
        self
    }
}

/// A POP3 server session on one connection. See the [module docs](super) for the protocol and the `State` type in
/// `session.rs` for the state diagram.
pub struct Pop3Session {
    /// The host whose users, store and locks this session uses.
    pub(super) host: Arc<Host>,
    /// The connection; `tls` is filled in by [`Session::tls_started`].
    pub(super) conn: ConnInfo,
    /// Where the session is.
    pub(super) state: State,
    /// An incomplete command line, at most `max_line` + 1 octets (room for the CR of CRLF).
    pub(super) buf: Vec<u8>,
    /// Set while the rest of an overlong line is being skipped.
    overlong: bool,
    /// Bad commands and failed logins so far.
    errors: u32,
    /// Delay the driver must wait before writing the current output (failed logins).
    pub(super) delay: Option<Duration>,
    /// The APOP timestamp of the greeting (RFC 1939 §7): `<pid.clock@fqdn>`, unique per greeting.
    pub(super) timestamp: String,
}

/// "1 message", "2 messages".
pub(super) fn messages(n: usize) -> String {
    if n == 1 { "1 message".to_string() } else { format!("{n} messages") }
}

/// The last clock value used in a timestamp, so two sessions started in the same nanosecond still differ.
static LAST_CLOCK: AtomicU64 = AtomicU64::new(0);

fn apop_timestamp(fqdn: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let now = now.timestamp_nanos_opt().map_or(0, |n| n.max(0) as u64);
    let prev = LAST_CLOCK.fetch_max(now, Ordering::SeqCst);
    // When the clock did not move past the last value, take the next free one instead.
    let clock = if prev >= now { LAST_CLOCK.fetch_add(1, Ordering::SeqCst) + 1 } else { now };
    format!("<{}.{}@{}>", crate::rt::process_id(), clock, fqdn)
}

impl Pop3Session {
    /// A session for a new connection to `host`'s POP3 or POP3S service.
    pub fn new(host: Arc<Host>, conn: ConnInfo) -> Pop3Session {
        let timestamp = apop_timestamp(&host.fqdn, host.clock.now());
        Pop3Session {
            host,
            conn,
            state: State::Authorization(Authorization::Start),
            buf: Vec::new(),
            overlong: false,
            errors: 0,
            delay: None,
            timestamp,
        }
    }

    /// The APOP timestamp this session's greeting carries.
    pub fn apop_timestamp(&self) -> &str {
        &self.timestamp
    }

    /// Handles one complete line (CRLF removed).
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
        match self.state {
            State::Authorization(_) => self.authorization(line, out),
            State::Transaction(_) => self.transaction(line, out),
            State::Done => Flow::Close,
        }
    }

    /// Answers an overlong line. A pending SASL exchange is abandoned: its response was the overlong line.
    fn line_too_long(&mut self, out: &mut Vec<u8>) -> Flow {
        if let State::Authorization(a) = &mut self.state {
            *a = Authorization::Start;
        }
        self.refuse(Refusal::bad("line too long"), out)
    }

    /// Writes a negative reply; closes the session once there were more than `max_errors` bad commands.
    pub(super) fn refuse(&mut self, refusal: Refusal, out: &mut Vec<u8>) -> Flow {
        if refusal.counts {
            self.errors += 1;
            if self.errors > self.host.limits.max_errors {
                response::err(out, None, "too many errors");
                // Leaving TRANSACTION this way drops the lock without UPDATE: nothing is removed.
                self.state = State::Done;
                return Flow::Close;
            }
        }
        response::err(out, refusal.code, &refusal.text);
        Flow::Continue
    }

    /// The CAPA reply (RFC 2449 §5), listing what is usable in the current state on this connection.
    pub(super) fn capa(&self, out: &mut Vec<u8>) {
        response::ok(out, "Capability list follows");
        for cap in ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"] {
            if self.host.offers("pop3", cap) {
                response::line(out, cap);
            }
        }
        if matches!(self.state, State::Authorization(_)) {
            // RFC 2595 §4 and RFC 8314: credentials are not offered where they may not be sent.
            if self.conn.auth_allowed() {
                response::line(out, "USER");
                if self.host.offers("pop3", "SASL") {
                    response::line(out, "SASL PLAIN");
                }
            }
            if self.conn.tls.is_none() && self.conn.tls_available && self.host.offers("pop3", "STLS") {
                response::line(out, "STLS");
            }
        }
        response::line(out, "IMPLEMENTATION Mailroom");
        response::end(out);
    }
}

impl Session for Pop3Session {
    fn greeting(&mut self, out: &mut Vec<u8>) -> Flow {
        response::ok(out, &format!("Mailroom POP3 server {} ready {}", self.host.fqdn, self.timestamp));
        Flow::Continue
    }

    fn receive(&mut self, input: &[u8], out: &mut Vec<u8>) -> Flow {
        let max = self.host.limits.max_line;
        let mut rest = input;
        while !rest.is_empty() {
            if matches!(self.state, State::Done) {
                return Flow::Close;
            }
            let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                // No line end yet: keep the bytes, unless the line is already too long (then skip to its end,
                // so the buffer never grows past `max + 1`).
                if !self.overlong {
                    if self.buf.len() + rest.len() > max + 1 {
                        self.overlong = true;
                        self.buf.clear();
                    } else {
                        self.buf.extend_from_slice(rest);
                    }
                }
                return Flow::Continue;
            };
            let (chunk, after) = (&rest[..lf], &rest[lf + 1..]);
            rest = after;
            let flow = if self.overlong || self.buf.len() + chunk.len() > max + 1 {
                self.overlong = false;
                self.buf.clear();
                self.line_too_long(out)
            } else {
                self.buf.extend_from_slice(chunk);
                let mut line = std::mem::take(&mut self.buf);
                // CRLF is the line end; a bare LF is accepted too, as most servers do.
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let flow = if line.len() > max { self.line_too_long(out) } else { self.line(&line, out) };
                // Keep the allocation for the next line.
                line.clear();
                self.buf = line;
                flow
            };
            if flow != Flow::Continue {
                // After STLS, whatever the client pipelined behind it was sent in the clear and must not be
                // executed inside TLS (RFC 2595 §4, CVE-2011-0411). After a close, nothing matters any more.
                self.buf.clear();
                return flow;
            }
        }
        Flow::Continue
    }

    fn tls_started(&mut self, info: TlsInfo, _out: &mut Vec<u8>) -> Flow {
        // RFC 2595 §4: the server stays in AUTHORIZATION and sends no new greeting; the client asks CAPA again.
        self.conn.tls = Some(info);
        self.buf.clear();
        self.overlong = false;
        Flow::Continue
    }

    fn timed_out(&mut self, out: &mut Vec<u8>) -> Flow {
        // RFC 1939 §3: the autologout timer does not enter UPDATE: nothing marked is removed.
        response::err(out, None, "autologout; idle for too long");
        self.state = State::Done;
        Flow::Close
    }

    fn shutting_down(&mut self, out: &mut Vec<u8>) -> Flow {
        // Like autologout, no UPDATE: a client that did not QUIT keeps its mail. SYS/TEMP: try again later.
        response::err(out, Some(Code::SysTemp), "server shutting down");
        self.state = State::Done;
        Flow::Close
    }

    fn idle_timeout(&self) -> Duration {
        self.host.limits.pop3_idle
    }

    fn logged_in(&self) -> bool {
        !matches!(self.state, State::Authorization(_))
    }

    fn take_delay(&mut self) -> Option<Duration> {
        self.delay.take()
    }

    fn closed(&mut self) {
        // RFC 1939 §6: without QUIT there is no UPDATE state. Dropping the TRANSACTION data releases the lock.
        self.state = State::Done;
    }
}

/// The switchable extension a command belongs to (see `wire::SWITCHABLE`), if any.
pub(super) fn extension_of(cmd: &super::command::Command) -> Option<&'static str> {
    use super::command::Command;
    match cmd {
        Command::Stls => Some("STLS"),
        Command::Top { .. } => Some("TOP"),
        Command::Uidl { .. } => Some("UIDL"),
        Command::Auth { .. } => Some("SASL"),
        _ => None,
    }
}
