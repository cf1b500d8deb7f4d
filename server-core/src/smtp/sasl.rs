//! AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.
//!
//! ```text
//! C: AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk        C: AUTH LOGIN
//! S: 235 2.7.0 Authentication successful    S: 334 VXNlcm5hbWU6      ("Username:")
//!                                           C: YWxpY2U=
//! C: AUTH PLAIN                             S: 334 UGFzc3dvcmQ6      ("Password:")
//! S: 334                                    C: cGFzc3dvcmQ=
//! C: AGFsaWNlAHBhc3N3b3Jk                   S: 235 2.7.0 Authentication successful
//! ```
//!
//! Rules: AUTH needs EHLO and no transaction in progress (RFC 4954 §4, else 503); credentials are only accepted
//! where [`crate::session::ConnInfo::auth_allowed`] says so (else 530 "must issue STARTTLS first", or 538 where no
//! TLS is possible); `*` cancels (501); bad base64 gives 501; wrong credentials give 535 5.7.8 — the same words for
//! an unknown user and a wrong password, after a delay ([`crate::config::Limits::auth_failure_delay`]) — and count
//! as session errors. When credentials crossed the wire in the clear (a sandbox or loopback policy allowed it), the
//! success reply says so, because learners read these replies.

use crate::auth::{Secret, decode_b64_text, decode_plain};
use crate::event::EventKind;
use crate::session::Flow;

use super::command::Mechanism;
use super::reply::{Reply, Status};
use super::session::{Phase, SmtpSession};

/// "Username:" in base64, the LOGIN mechanism's first challenge.
const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
/// "Password:" in base64.
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

/// What the next line of an AUTH exchange is.
#[derive(Debug)]
pub(super) enum AuthStep {
    /// The PLAIN response (`authzid NUL authcid NUL passwd`, base64).
    Plain,
    /// The LOGIN user name.
    LoginUser,
    /// The LOGIN password for this user name.
    LoginPassword { user: String },
}

impl SmtpSession {
    /// `AUTH mechanism [initial-response]`.
    pub(super) fn auth(&mut self, mechanism: Mechanism, initial: Option<String>, out: &mut Vec<u8>) -> Flow {
        if self.auth_user.is_some() {
            return self.error(Reply::new(503, Status::new(5, 5, 1), "Already authenticated"), out);
        }
        if !self.helo.as_ref().is_some_and(|h| h.extended) {
            return self.error(
                Reply::new(503, Status::new(5, 5, 1), "Send EHLO first (AUTH is an ESMTP extension)"),
                out,
            );
        }
        if !matches!(self.phase, super::session::Phase::Idle) {
            return self.error(
                Reply::new(503, Status::new(5, 5, 1), "AUTH is not allowed during a mail transaction"),
                out,
            );
        }
        if !self.auth_offered() {
            let reply = if self.conn.tls_available && self.conn.tls.is_none() {
                Reply::new(
                    530,
                    Status::new(5, 7, 0),
                    "Must issue a STARTTLS command first (no passwords in the clear)",
                )
            } else {
                Reply::new(
                    538,
                    Status::new(5, 7, 11),
                    "Encryption required for requested authentication mechanism",
                )
            };
            return self.error(reply, out);
        }
        let initial = initial.map(|i| if i == "=" { String::new() } else { i });
        let switched_off = match &mechanism {
            Mechanism::Plain => !self.host.offers("smtp", "AUTH=PLAIN"),
            Mechanism::Login => !self.host.offers("smtp", "AUTH=LOGIN"),
            Mechanism::Other(_) => false,
        };
        if switched_off {
            return self.error(
                Reply::new(504, Status::new(5, 5, 4), "Unrecognized authentication type (not offered here)"),
                out,
            );
        }
        match (mechanism, initial) {
            (Mechanism::Plain, Some(response)) => self.auth_plain(&response, out),
            (Mechanism::Plain, None) => {
                self.phase = Phase::Auth(AuthStep::Plain);
                self.reply(Reply::plain(334, ""), out)
            }
            (Mechanism::Login, Some(user)) => self.login_user(&user, out),
            (Mechanism::Login, None) => {
                self.phase = Phase::Auth(AuthStep::LoginUser);
                self.reply(Reply::plain(334, LOGIN_USERNAME), out)
            }
            (Mechanism::Other(_), _) => self.error(
                Reply::new(
                    504,
                    Status::new(5, 5, 4),
                    "Unrecognized authentication type (use PLAIN or LOGIN)",
                ),
                out,
            ),
        }
    }

    /// One client line inside the exchange.
    pub(super) fn auth_response(&mut self, line: &str, out: &mut Vec<u8>) -> Flow {
        let step = std::mem::replace(&mut self.phase, Phase::Idle);
        let Phase::Auth(step) = step else {
            // process() only calls us in Phase::Auth.
            return Flow::Continue;
        };
        if line == "*" {
            return self.error(Reply::new(501, Status::new(5, 7, 0), "Authentication cancelled"), out);
        }
        match step {
            AuthStep::Plain => self.auth_plain(line, out),
            AuthStep::LoginUser => self.login_user(line, out),
            AuthStep::LoginPassword { user } => match decode_b64_text(line) {
                Ok(password) => self.verify(&user, "", Secret(password), out),
                Err(_) => self.bad_base64(out),
            },
        }
    }

    /// An AUTH line over the limit: RFC 4954 §4 gives 500 5.5.6.
    pub(super) fn auth_line_too_long(&mut self, out: &mut Vec<u8>) -> Flow {
        self.phase = Phase::Idle;
        self.error(Reply::new(500, Status::new(5, 5, 6), "Authentication exchange line is too long"), out)
    }

    /// Decodes and checks a PLAIN response.
    fn auth_plain(&mut self, response: &str, out: &mut Vec<u8>) -> Flow {
        match decode_plain(response) {
            Ok((authz, authc, password)) => self.verify(&authc, &authz, password, out),
            Err(crate::auth::SaslError::Base64) => self.bad_base64(out),
            // Decodes, but is not `authzid NUL authcid NUL passwd`: a failed login like any other.
            Err(crate::auth::SaslError::Malformed) => self.verify("", "", Secret(String::new()), out),
        }
    }

    /// The LOGIN user name arrived; ask for the password whether or not the user exists.
    fn login_user(&mut self, response: &str, out: &mut Vec<u8>) -> Flow {
        match decode_b64_text(response) {
            Ok(user) => {
                self.phase = Phase::Auth(AuthStep::LoginPassword { user });
                self.reply(Reply::plain(334, LOGIN_PASSWORD), out)
            }
            Err(_) => self.bad_base64(out),
        }
    }

    fn bad_base64(&mut self, out: &mut Vec<u8>) -> Flow {
        self.phase = Phase::Idle;
        self.error(Reply::new(501, Status::new(5, 5, 2), "Cannot decode the response (not base64)"), out)
    }

    /// Checks credentials. `authz` (PLAIN's authorization identity) may be empty or name the same user: we do
    /// not let one user act as another.
    fn verify(&mut self, login: &str, authz: &str, password: Secret, out: &mut Vec<u8>) -> Flow {
        self.phase = Phase::Idle;
        let user = self.host.users.verify(login, &password.0).filter(|user| {
            authz.is_empty() || self.host.users.resolve(authz).is_some_and(|a| a == user.as_str())
        });
        drop(password);
        match user {
            Some(user) => {
                self.host.emit(EventKind::LoggedIn { protocol: "smtp".into(), user: user.clone() });
                self.auth_user = Some(user);
                let text = if self.conn.tls.is_some() {
                    "Authentication successful".to_string()
                } else {
                    "Authentication successful (note: your password was sent without TLS, readable by anyone \
                     on the wire; use STARTTLS or port 465 outside this playground)"
                        .to_string()
                };
                self.reply(Reply::new(235, Status::new(2, 7, 0), text), out)
            }
            None => {
                // The user name as given (bounded by the line limit), never the password.
                self.host.emit(EventKind::LoginFailed { protocol: "smtp".into(), user: login.to_string() });
                self.delay = Some(self.host.limits.auth_failure_delay);
                self.error(Reply::new(535, Status::new(5, 7, 8), "Authentication credentials invalid"), out)
            }
        }
    }
}
