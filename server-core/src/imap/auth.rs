//! Logging in: LOGIN (RFC 3501 §6.2.3) and AUTHENTICATE PLAIN with SASL-IR (RFC 3501 §6.2.2, RFC 4959).
//!
//! Every failure looks the same and is answered after the same delay, whether or not the user exists.

use super::response::{Status, tagged, untagged};
use super::session::{ImapSession, Reply, State};
use crate::auth::{self, Secret};
use crate::event::EventKind;
use crate::session::Flow;

impl ImapSession {
    pub(super) fn login(&mut self, login: &str, password: &Secret, out: &mut Vec<u8>) -> Reply {
        if !self.conn.auth_allowed() {
            return Reply::no(Some("PRIVACYREQUIRED"), "Use STARTTLS first: LOGIN is disabled in the clear");
        }
        self.finish_login(login, password, out)
    }

    pub(super) fn auth_plain(&mut self, b64: &str, out: &mut Vec<u8>) -> Reply {
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

    pub(super) fn auth_response(&mut self, tag: &str, line: &[u8], out: &mut Vec<u8>) -> Flow {
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

    pub(super) fn finish_login(&mut self, login: &str, password: &Secret, out: &mut Vec<u8>) -> Reply {
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

    pub(super) fn login_failed(&mut self, login: &str, out: &mut Vec<u8>) -> Reply {
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
}
