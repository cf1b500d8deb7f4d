//! [`SmtpSession`]: the SMTP server state machine behind [`crate::session::Session`].
//!
//! Bytes come in through [`Session::receive`] in any split. They are appended to a bounded buffer and consumed
//! according to the current [`Phase`]: command lines ([`super::parser`]), AUTH responses, or the DATA section
//! ([`super::data`]). Every complete command in one call is answered in order (PIPELINING, RFC 2920). The command
//! handlers live next door: [`super::envelope`] (MAIL, RCPT, DATA, end of data) and [`super::sasl`] (AUTH);
//! simple commands are here.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Service;
use crate::host::Host;
use crate::session::{ConnInfo, Flow, Session, Submission, TlsInfo};

use super::command::{Command, Domain, ReversePath};
use super::data::DataReader;
use super::parser::{self, ParseError, Parsed};
use super::reply::{Reply, Status};
use super::sasl::AuthStep;

/// How much input is buffered before it is looked at: with the line limit, this bounds the buffer.
const PIECE: usize = 4096;

/// What the client said in HELO/EHLO.
#[derive(Clone, Debug)]
pub(super) struct Helo {
    /// The name it gave.
    pub(super) name: Domain,
    /// EHLO (true) or HELO.
    pub(super) extended: bool,
}

/// A mail transaction in progress (RFC 5321 §3.3).
#[derive(Debug)]
pub(super) struct Transaction {
    /// MAIL FROM.
    pub(super) from: ReversePath,
    /// Whether MAIL carried SMTPUTF8.
    pub(super) smtputf8: bool,
    /// Accepted recipients, normalised (`alice@example.com` for local users), without duplicates.
    pub(super) rcpts: Vec<String>,
    /// How many RCPTs were refused (DATA then says "no valid recipients" rather than "need RCPT").
    pub(super) rejected: usize,
}

/// Where the session is. See the state diagram in [`super`].
#[derive(Debug)]
pub(super) enum Phase {
    /// No transaction. Whether HELO/EHLO was seen is [`SmtpSession::helo`].
    Idle,
    /// After MAIL: collecting RCPTs.
    Mail(Transaction),
    /// After `354`: reading the message.
    Data(Transaction, DataReader),
    /// Inside an AUTH exchange: the next line is a SASL response.
    Auth(AuthStep),
    /// The message was accepted at the end of DATA and handed to the driver ([`Flow::Submit`]); waiting for the
    /// spool's answer before anything else is read.
    Submitting(Option<Submission>),
    /// `220 Ready to start TLS` was sent; waiting for the driver's handshake.
    TlsPending,
    /// QUIT, a fatal error or a timeout: nothing more is read.
    Closed,
}

/// One SMTP server conversation.
pub struct SmtpSession {
    /// The host we are (mx1...): users, spool, limits, events.
    pub(super) host: Arc<Host>,
    /// Who is connected and what they may do; `tls` is updated after STARTTLS.
    pub(super) conn: ConnInfo,
    /// Where we are.
    pub(super) phase: Phase,
    /// HELO/EHLO, forgotten after STARTTLS (RFC 3207 §4.2).
    pub(super) helo: Option<Helo>,
    /// The authenticated user (canonical name), forgotten after STARTTLS.
    pub(super) auth_user: Option<String>,
    /// Unconsumed input: at most one partial line plus one piece.
    pub(super) pending: Vec<u8>,
    /// An overlong line was answered; its remaining bytes up to the next LF are dropped.
    skip_line: bool,
    /// Errors so far; at `limits.max_errors` the session ends with 421.
    errors: u32,
    /// A delay the driver applies before sending the current output (failed AUTH).
    pub(super) delay: Option<Duration>,
}

impl SmtpSession {
    /// A session for a client that just connected to one of `host`'s SMTP services.
    pub fn new(host: Arc<Host>, conn: ConnInfo) -> SmtpSession {
        SmtpSession {
            host,
            conn,
            phase: Phase::Idle,
            helo: None,
            auth_user: None,
            pending: Vec::new(),
            skip_line: false,
            errors: 0,
            delay: None,
        }
    }

    /// The authenticated user, if any.
    pub fn authenticated_user(&self) -> Option<&str> {
        self.auth_user.as_deref()
    }

    /// Whether credentials may be sent on this connection now.
    pub(super) fn auth_offered(&self) -> bool {
        self.conn.auth_allowed()
    }

    /// Whether STARTTLS is offered now.
    fn starttls_offered(&self) -> bool {
        self.conn.tls_available && self.conn.tls.is_none() && self.host.offers("smtp", "STARTTLS")
    }

    /// Whether this is a submission session (RFC 6409): the submission ports, or any authenticated client.
    pub(super) fn is_submission(&self) -> bool {
        matches!(self.conn.service, Service::Submission | Service::Smtps) || self.auth_user.is_some()
    }

    /// Writes a reply that is not an error.
    pub(super) fn reply(&mut self, reply: Reply, out: &mut Vec<u8>) -> Flow {
        reply.encode(out);
        Flow::Continue
    }

    /// Writes an error reply and counts it; too many errors end the session (421 4.7.0).
    pub(super) fn error(&mut self, reply: Reply, out: &mut Vec<u8>) -> Flow {
        reply.encode(out);
        self.errors += 1;
        if self.errors >= self.host.limits.max_errors {
            let fqdn = self.host.fqdn.clone();
            return self.close(
                Reply::new(421, Status::new(4, 7, 0), format!("{fqdn} Too many errors, closing connection")),
                out,
            );
        }
        Flow::Continue
    }

    /// Writes a final reply and ends the session.
    pub(super) fn close(&mut self, reply: Reply, out: &mut Vec<u8>) -> Flow {
        reply.encode(out);
        self.phase = Phase::Closed;
        Flow::Close
    }

    /// Consumes as much of `pending` as the current phase allows.
    fn process(&mut self, out: &mut Vec<u8>) -> Flow {
        let mut pos = 0;
        let max_line = self.host.limits.max_line.max(512);
        let flow = loop {
            if pos == self.pending.len() {
                break Flow::Continue;
            }
            if let Phase::Data(_, reader) = &mut self.phase {
                match reader.feed(&self.pending[pos..]) {
                    super::data::Progress::NeedsMoreData => {
                        pos = self.pending.len();
                        break Flow::Continue;
                    }
                    super::data::Progress::Done { consumed } => {
                        pos += consumed;
                        match self.end_of_data(out) {
                            Flow::Continue => continue,
                            flow => break flow,
                        }
                    }
                }
            }
            if matches!(self.phase, Phase::Submitting(_)) {
                // The rest waits for the spool's answer (submitted() goes on from here).
                break Flow::Continue;
            }
            if matches!(self.phase, Phase::TlsPending | Phase::Closed) {
                // Nothing is read in these phases (receive() does not get here; this is defence in depth).
                pos = self.pending.len();
                break Flow::Continue;
            }
            if self.skip_line {
                match self.pending[pos..].iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        pos += i + 1;
                        self.skip_line = false;
                        continue;
                    }
                    None => {
                        pos = self.pending.len();
                        break Flow::Continue;
                    }
                }
            }
            let flow = if let Phase::Auth(_) = self.phase {
                match parser::parse_auth_response(&self.pending[pos..], max_line) {
                    Parsed::Incomplete => break Flow::Continue,
                    Parsed::Overflow => {
                        pos = self.pending.len();
                        self.skip_line = true;
                        self.auth_line_too_long(out)
                    }
                    Parsed::Invalid { error: ParseError::LineTooLong, consumed } => {
                        pos += consumed;
                        self.auth_line_too_long(out)
                    }
                    Parsed::Invalid { consumed, .. } => {
                        pos += consumed;
                        self.phase = Phase::Idle;
                        self.error(
                            Reply::new(501, Status::new(5, 5, 2), "Invalid characters in AUTH response"),
                            out,
                        )
                    }
                    Parsed::Complete { value, consumed } => {
                        pos += consumed;
                        self.auth_response(&value, out)
                    }
                }
            } else {
                match parser::parse_command(&self.pending[pos..], max_line) {
                    Parsed::Incomplete => break Flow::Continue,
                    Parsed::Overflow => {
                        pos = self.pending.len();
                        self.skip_line = true;
                        self.parse_error(ParseError::LineTooLong, out)
                    }
                    Parsed::Invalid { error, consumed } => {
                        pos += consumed;
                        self.parse_error(error, out)
                    }
                    Parsed::Complete { value, consumed } => {
                        pos += consumed;
                        tracing::debug!(cmd = %redact(&value), "smtp command");
                        self.command(value, out)
                    }
                }
            };
            if flow != Flow::Continue {
                break flow;
            }
        };
        let pos = pos.min(self.pending.len());
        self.pending.drain(..pos);
        flow
    }

    /// Answers a line the parser refused.
    fn parse_error(&mut self, error: ParseError, out: &mut Vec<u8>) -> Flow {
        let (code, status, text) = match error {
            ParseError::Empty => (500, Status::new(5, 5, 2), "Empty command line".to_string()),
            ParseError::LineTooLong => (
                500,
                Status::new(5, 5, 2),
                format!("Line too long (the limit is {} octets)", self.host.limits.max_line.max(512)),
            ),
            ParseError::InvalidCharacters => (
                501,
                Status::new(5, 5, 2),
                "Invalid characters in command (NUL, bare CR or other control characters)".to_string(),
            ),
            ParseError::InvalidUtf8 => {
                (501, Status::new(5, 5, 2), "Invalid characters in command (not UTF-8)".into())
            }
            ParseError::UnknownCommand => {
                (500, Status::new(5, 5, 2), "Command unrecognized (try HELP)".into())
            }
            ParseError::Syntax(usage) => (501, Status::new(5, 5, 4), format!("Syntax: {usage}")),
            ParseError::BadAddress { sender, reason } => {
                // RFC 3463: X.1.7 is a bad sender address, X.1.3 a bad recipient address.
                let status = if sender { Status::new(5, 1, 7) } else { Status::new(5, 1, 3) };
                (553, status, format!("Malformed address: {reason}"))
            }
            ParseError::UnknownParameter(p) => {
                (555, Status::new(5, 5, 4), format!("Parameter {p} not recognized or not implemented"))
            }
            ParseError::BadParameter(text) => (501, Status::new(5, 5, 4), text.to_string()),
        };
        self.error(Reply::new(code, status, text), out)
    }

    /// Dispatches one parsed command.
    fn command(&mut self, cmd: Command, out: &mut Vec<u8>) -> Flow {
        match cmd {
            Command::Ehlo { domain } => self.ehlo(domain, true, out),
            Command::Helo { domain } => self.ehlo(domain, false, out),
            Command::Mail { from, params } => self.mail(from, params, out),
            Command::Rcpt { to } => self.rcpt(to, out),
            Command::Data => self.data(out),
            Command::Rset => {
                if !matches!(self.phase, Phase::Idle) {
                    self.phase = Phase::Idle;
                }
                self.reply(Reply::new(250, Status::new(2, 0, 0), "Ok"), out)
            }
            Command::Noop => self.reply(Reply::new(250, Status::new(2, 0, 0), "Ok"), out),
            Command::Quit => {
                let fqdn = self.host.fqdn.clone();
                self.close(Reply::new(221, Status::new(2, 0, 0), format!("{fqdn} Bye")), out)
            }
            // RFC 5321 §3.5.3: 252 when we will not confirm addresses (that would help address harvesting).
            Command::Vrfy { .. } => self.reply(
                Reply::new(
                    252,
                    Status::new(2, 5, 0),
                    "Cannot VRFY user, but will accept message and attempt delivery",
                ),
                out,
            ),
            Command::Expn { .. } => self
                .reply(Reply::new(502, Status::new(5, 5, 1), "EXPN not available (there are no lists)"), out),
            Command::Help { topic } => self.help(topic.as_deref(), out),
            Command::StartTls => self.starttls(out),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial, out),
            Command::Http { method } => {
                tracing::debug!(%method, "HTTP request on the SMTP port");
                self.close(
                    Reply::new(
                        554,
                        Status::new(5, 5, 0),
                        "This is an SMTP server (RFC 5321), not a web server: closing connection",
                    ),
                    out,
                )
            }
        }
    }

    /// EHLO/HELO (RFC 5321 §4.1.1.1): a fresh start; any transaction is dropped.
    fn ehlo(&mut self, name: Domain, extended: bool, out: &mut Vec<u8>) -> Flow {
        self.phase = Phase::Idle;
        let client = match self.conn.peer_ip {
            Some(ip) => format!("[{ip}]"),
            None => self.conn.peer.clone(),
        };
        let hello = format!("{} Hello {name} {client}", self.host.fqdn);
        self.helo = Some(Helo { name, extended });
        if !extended {
            return self.reply(Reply::plain(250, hello), out);
        }
        let offers = |name: &str| self.host.offers("smtp", name);
        let mut lines = vec![hello];
        for (name, line) in [
            ("PIPELINING", "PIPELINING".to_string()),
            ("SIZE", format!("SIZE {}", self.host.limits.max_message_size)),
            ("8BITMIME", "8BITMIME".to_string()),
            ("ENHANCEDSTATUSCODES", "ENHANCEDSTATUSCODES".to_string()),
            ("SMTPUTF8", "SMTPUTF8".to_string()),
        ] {
            if offers(name) {
                lines.push(line);
            }
        }
        if self.starttls_offered() {
            lines.push("STARTTLS".to_string());
        }
        let mechanisms: Vec<&str> =
            ["PLAIN", "LOGIN"].into_iter().filter(|m| offers(&format!("AUTH={m}"))).collect();
        if self.auth_offered() && !mechanisms.is_empty() {
            lines.push(format!("AUTH {}", mechanisms.join(" ")));
        }
        self.reply(Reply::multi(250, None, lines), out)
    }

    /// HELP [topic] (RFC 5321 §4.1.1.8).
    fn help(&mut self, topic: Option<&str>, out: &mut Vec<u8>) -> Flow {
        let ok = Some(Status::new(2, 0, 0));
        let Some(topic) = topic else {
            let lines = [
                "Mailroom SMTP server (RFC 5321). Commands:",
                "  EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
                "Sending a message: EHLO <name>, MAIL FROM:<you@domain>, RCPT TO:<them@domain>,",
                "  DATA, the message text, then a line with a single \".\".",
                "HELP <command> explains one command.",
            ];
            return self.reply(Reply::multi(214, ok, lines.map(String::from).to_vec()), out);
        };
        let text = match topic.to_ascii_uppercase().as_str() {
            "EHLO" => "EHLO <your host name>: start a session and list the extensions",
            "HELO" => "HELO <your host name>: start a plain (RFC 821) session",
            "MAIL" => "MAIL FROM:<address> [SIZE=<octets>] [BODY=7BIT|8BITMIME] [SMTPUTF8]; <> for bounces",
            "RCPT" => "RCPT TO:<address>: one recipient per command",
            "DATA" => "DATA: then the message; end with a line holding only \".\" (CRLF.CRLF)",
            "RSET" => "RSET: abort the current mail transaction",
            "NOOP" => "NOOP: do nothing, answer 250",
            "QUIT" => "QUIT: close the session",
            "VRFY" => "VRFY <user>: we answer 252 and confirm nothing",
            "STARTTLS" => "STARTTLS: switch this connection to TLS, then EHLO again",
            "AUTH" => "AUTH PLAIN [<base64 \\0user\\0password>] or AUTH LOGIN: log in",
            "HELP" => "HELP [<command>]: this text",
            _ => {
                return self.reply(Reply::new(504, Status::new(5, 5, 4), "No help for that topic"), out);
            }
        };
        self.reply(Reply::new(214, Status::new(2, 0, 0), text), out)
    }

    /// STARTTLS (RFC 3207 §4).
    fn starttls(&mut self, out: &mut Vec<u8>) -> Flow {
        if self.conn.tls.is_some() {
            return self.error(Reply::new(503, Status::new(5, 5, 1), "TLS already active"), out);
        }
        if !self.conn.tls_available || !self.host.offers("smtp", "STARTTLS") {
            return self.error(Reply::new(502, Status::new(5, 5, 1), "STARTTLS not available here"), out);
        }
        if !matches!(self.phase, Phase::Idle) {
            return self.error(
                Reply::new(
                    503,
                    Status::new(5, 5, 1),
                    "Finish the mail transaction (or RSET) before STARTTLS",
                ),
                out,
            );
        }
        Reply::new(220, Status::new(2, 0, 0), "Ready to start TLS").encode(out);
        self.phase = Phase::TlsPending;
        // CVE-2011-0411: whatever the client pipelined after STARTTLS was sent in the clear and must not be
        // executed inside the TLS session. receive() drops the buffer and the rest of its input on this flow.
        self.skip_line = false;
        Flow::StartTls
    }
}

/// A command as it may be logged: AUTH initial responses carry credentials.
fn redact(cmd: &Command) -> String {
    match cmd {
        Command::Auth { mechanism, initial: Some(_) } => format!("AUTH {mechanism} <redacted>"),
        other => other.to_string(),
    }
}

impl Session for SmtpSession {
    fn greeting(&mut self, out: &mut Vec<u8>) -> Flow {
        if self.host.is_busy() {
            // RFC 5321 §3.1: a server that cannot take mail now may greet with 421 and close; the client keeps the
            // message and tries again later (a temporary failure, §4.5.4.1).
            Reply::plain(421, format!("{} Service busy, try again later", self.host.fqdn)).encode(out);
            self.phase = Phase::Closed;
            return Flow::Close;
        }
        // RFC 5321 §4.2: no enhanced code on the greeting. "ESMTP" tells clients EHLO will work.
        Reply::plain(220, format!("{} ESMTP Mailroom ready", self.host.fqdn)).encode(out);
        Flow::Continue
    }

    fn receive(&mut self, input: &[u8], out: &mut Vec<u8>) -> Flow {
        for (n, piece) in input.chunks(PIECE).enumerate() {
            match self.phase {
                Phase::Closed => return Flow::Close,
                // The driver should not read before the handshake; if it does, the bytes are not ours to run.
                Phase::TlsPending => return Flow::Continue,
                // Nor while a message is being spooled; kept, they are answered after its reply.
                Phase::Submitting(_) => {
                    self.pending.extend_from_slice(&input[n * PIECE..]);
                    return Flow::Continue;
                }
                _ => {}
            }
            self.pending.extend_from_slice(piece);
            match self.process(out) {
                Flow::Continue => {}
                Flow::Submit => {
                    // Commands pipelined after the message wait for its reply (RFC 2920 §3.1: replies in order).
                    self.pending.extend_from_slice(input.get((n + 1) * PIECE..).unwrap_or_default());
                    return Flow::Submit;
                }
                // StartTls: drop everything pipelined after the command (CVE-2011-0411). Close: nothing more
                // will be read.
                flow => {
                    self.pending.clear();
                    return flow;
                }
            }
        }
        Flow::Continue
    }

    fn take_submission(&mut self) -> Option<Submission> {
        match &mut self.phase {
            Phase::Submitting(s) => s.take(),
            _ => None,
        }
    }

    fn submitted(&mut self, outcome: Result<String, String>, out: &mut Vec<u8>) -> Flow {
        if !matches!(self.phase, Phase::Submitting(_)) {
            return Flow::Continue;
        }
        self.phase = Phase::Idle;
        let flow = self.spooled(outcome, out);
        if flow != Flow::Continue {
            self.pending.clear();
            return flow;
        }
        match self.process(out) {
            flow @ (Flow::Continue | Flow::Submit) => flow,
            flow => {
                self.pending.clear();
                flow
            }
        }
    }

    fn tls_started(&mut self, info: TlsInfo, _out: &mut Vec<u8>) -> Flow {
        // RFC 3207 §4.2: the client must forget what it learned, and the server must discard HELO/EHLO, AUTH and
        // any transaction: the client starts again with EHLO. There is no new greeting.
        self.conn.tls = Some(info);
        self.phase = Phase::Idle;
        self.helo = None;
        self.auth_user = None;
        self.pending.clear();
        self.skip_line = false;
        Flow::Continue
    }

    fn timed_out(&mut self, out: &mut Vec<u8>) -> Flow {
        let fqdn = self.host.fqdn.clone();
        self.close(
            Reply::new(421, Status::new(4, 4, 2), format!("{fqdn} Timeout exceeded, closing connection")),
            out,
        )
    }

    fn shutting_down(&mut self, out: &mut Vec<u8>) -> Flow {
        let fqdn = self.host.fqdn.clone();
        // RFC 5321 §3.8: a server that must shut down answers 421 to whatever comes next; we say it at once.
        self.close(Reply::new(421, Status::new(4, 3, 2), format!("{fqdn} Service shutting down")), out)
    }

    fn idle_timeout(&self) -> Duration {
        self.host.limits.smtp_idle
    }

    fn logged_in(&self) -> bool {
        // Port 25 takes mail for local users from anyone: there is nothing to log in to.
        self.conn.service == Service::Smtp || self.auth_user.is_some()
    }

    fn take_delay(&mut self) -> Option<Duration> {
        self.delay.take()
    }
}
