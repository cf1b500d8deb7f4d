//! The AUTHORIZATION state (RFC 1939 §4): USER/PASS and APOP (RFC 1939 §7), AUTH PLAIN (RFC 5034, RFC 4616),
//! STLS (RFC 2595 §4), CAPA (RFC 2449 §5) and QUIT.
//!
//! Credentials are only taken where [`ConnInfo::auth_allowed`](crate::session::ConnInfo::auth_allowed) says they
//! may be sent: after TLS, or in the clear from loopback or where configured (the same policy as SMTP AUTH).
//! Every failed login gets the same reply, whatever was wrong, after [`crate::config::Limits::auth_failure_delay`].
//! A good login takes the maildrop lock (RFC 1939 §8: one session per maildrop) and the snapshot, then moves to
//! TRANSACTION.

use super::command::{self, Command};
use super::maildrop::Maildrop;
use super::response::{self, Code};
use super::session::{Authorization, Pop3Session, Refusal, State, Transaction, messages};
use crate::auth::decode_plain;
use crate::event::EventKind;
use crate::session::Flow;

/// How much of a failed login name goes into an event (names are short; this bounds what a client can inject).
const EVENT_NAME_MAX: usize = 64;

impl Pop3Session {
    /// Handles one line in the AUTHORIZATION state.
    pub(super) fn authorization(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
        // Whatever happens, the step in progress ends with this line: USER is only good for the PASS right after it.
        let step = match &mut self.state {
            State::Authorization(a) => std::mem::replace(a, Authorization::Start),
            _ => return Flow::Close,
        };
        if let Authorization::AwaitingPlain = step {
            return self.sasl_response(line, out);
        }
        let cmd = match command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => return self.refuse(Refusal::bad(e.to_string()), out),
        };
        tracing::debug!(?cmd, "pop3 command");
        if let Some(ext) = super::session::extension_of(&cmd)
            && !self.host.offers("pop3", ext)
        {
            return self
                .refuse(Refusal::bad(format!("{} is not offered by this server", cmd.keyword())), out);
        }
        match cmd {
            Command::Capa => {
                self.capa(out);
                Flow::Continue
            }
            Command::Quit => {
                response::ok(out, &format!("{} POP3 server signing off", self.host.fqdn));
                self.state = State::Done;
                Flow::Close
            }
            Command::Stls => self.stls(out),
            Command::User { name } => {
                if let Err(r) = self.credentials_allowed() {
                    return self.refuse(r, out);
                }
                self.state = State::Authorization(Authorization::UserGiven(name));
                response::ok(out, "send your password");
                Flow::Continue
            }
            Command::Pass { password } => {
                if let Err(r) = self.credentials_allowed() {
                    return self.refuse(r, out);
                }
                let Authorization::UserGiven(name) = step else {
                    return self.refuse(Refusal::bad("send USER first"), out);
                };
                let user = self.host.users.verify(&name, &password.0);
                self.login(&name, user, out)
            }
            Command::Apop { name, digest } => {
                if let Err(r) = self.credentials_allowed() {
                    return self.refuse(r, out);
                }
                let user = self.host.users.verify_apop(&name, &self.timestamp, &digest);
                self.login(&name, user, out)
            }
            Command::Auth { mechanism: None, .. } => {
                if let Err(r) = self.credentials_allowed() {
                    return self.refuse(r, out);
                }
                // Not in RFC 5034, but clients (fetchmail, older Outlook) probe with a bare AUTH, as RFC 1734 had it.
                response::ok(out, "SASL mechanisms follow");
                response::line(out, "PLAIN");
                response::end(out);
                Flow::Continue
            }
            Command::Auth { mechanism: Some(mechanism), initial } => {
                if mechanism != "PLAIN" {
                    return self.refuse(Refusal::bad("unsupported SASL mechanism; use PLAIN"), out);
                }
                if let Err(r) = self.credentials_allowed() {
                    return self.refuse(r, out);
                }
                match initial {
                    Some(initial) => self.sasl_plain(&initial.0, out),
                    None => {
                        self.state = State::Authorization(Authorization::AwaitingPlain);
                        response::continuation(out, "");
                        Flow::Continue
                    }
                }
            }
            other => {
                let text = format!("{} is only valid after login (TRANSACTION state)", other.keyword());
                self.refuse(Refusal::bad(text), out)
            }
        }
    }

    /// Whether credentials may be sent on this connection now.
    fn credentials_allowed(&self) -> Result<(), Refusal> {
        if self.conn.auth_allowed() {
            return Ok(());
        }
        let text = if self.conn.tls_available {
            "plaintext authentication is not allowed on this connection; use STLS first"
        } else {
            "plaintext authentication is not allowed on this connection; use POP3S"
        };
        Err(Refusal::bad(text).code(Code::Auth))
    }

    /// STLS (RFC 2595 §4). The caller discards anything pipelined behind it.
    fn stls(&mut self, out: &mut Vec<u8>) -> Flow {
        if self.conn.tls.is_some() {
            return self.refuse(Refusal::bad("TLS is already active"), out);
        }
        if !self.conn.tls_available {
            return self.refuse(Refusal::new("STLS is not available on this server"), out);
        }
        response::ok(out, "Begin TLS negotiation");
        Flow::StartTls
    }

    /// The line after `+ `: a base64 PLAIN response, or `*` to cancel (RFC 5034 §4).
    fn sasl_response(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
        let Ok(text) = std::str::from_utf8(line) else {
            return self.refuse(Refusal::bad("malformed SASL response"), out);
        };
        if text.trim() == "*" {
            return self.refuse(Refusal::new("authentication cancelled"), out);
        }
        self.sasl_plain(text, out)
    }

    /// Checks a PLAIN response (RFC 4616 §2). The authorization identity must be empty or name the same user.
    fn sasl_plain(&mut self, response: &str, out: &mut Vec<u8>) -> Flow {
        // RFC 5034 §4: "=" is an empty initial response.
        let b64 = if response.trim() == "=" { "" } else { response };
        match decode_plain(b64) {
            Err(e) => self.refuse(Refusal::bad(format!("{e}")), out),
            Ok((authz, authc, password)) => {
                let users = &self.host.users;
                let user = users
                    .verify(&authc, &password.0)
                    .filter(|u| authz.is_empty() || users.resolve(&authz) == Some(u.as_str()));
                self.login(&authc, user, out)
            }
        }
    }

    /// Finishes a login attempt: `user` is the verified canonical user, or None when the credentials were wrong.
    fn login(&mut self, given: &str, user: Option<String>, out: &mut Vec<u8>) -> Flow {
        let Some(user) = user else {
            self.host.emit(EventKind::LoginFailed {
                protocol: "pop3".into(),
                user: given.chars().take(EVENT_NAME_MAX).collect(),
            });
            // Pipelined guesses add up: each one waits.
            let wait = self.host.limits.auth_failure_delay;
            self.delay = Some(self.delay.map_or(wait, |d| d.saturating_add(wait)));
            // Identical for unknown users and wrong passwords.
            return self.refuse(Refusal::bad("invalid user name or password").code(Code::Auth), out);
        };
        let Some(lock) = self.host.locks.try_lock(&user) else {
            return self.refuse(Refusal::new("maildrop already locked").code(Code::InUse), out);
        };
        let maildrop = match Maildrop::open(&*self.host.store, &user) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%user, error = %e, "cannot open POP3 maildrop");
                let refusal = Refusal::new("cannot open the maildrop, try again later").code(Code::SysTemp);
                return self.refuse(refusal, out);
            }
        };
        let (count, size) = maildrop.stat();
        self.host.emit(EventKind::LoggedIn { protocol: "pop3".into(), user: user.clone() });
        response::ok(out, &format!("{user}'s maildrop has {} ({size} octets)", messages(count)));
        self.state = State::Transaction(Transaction { user, maildrop, _lock: lock });
        Flow::Continue
    }
}
