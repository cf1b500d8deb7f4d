//! MAIL, RCPT and DATA: building the envelope (RFC 5321 §3.3, §4.1.1.2-4) under the host's policy.
//!
//! Policy by service (shared/CONTRACT.md):
//! - [`Service::Smtp`] (the MX, port 25): anyone may send to this host's own domain; a recipient in any other
//!   domain is relaying and needs AUTH (`554 5.7.1` otherwise: an open relay is how spam travels).
//! - [`Service::Submission`] and [`Service::Smtps`] (RFC 6409, RFC 8314): MAIL needs AUTH (`530 5.7.0`).
//!
//! Local recipients must exist (`550 5.1.1`) and are normalised to `user@domain` so the spool and delivery see one
//! spelling. `Postmaster` (which every server must accept, RFC 5321 §4.5.1) is delivered to the `admin` user.

use crate::config::Service;
use crate::session::Flow;

use super::command::{Domain, ForwardPath, MailParams, Mailbox, ReversePath};
use super::data::DataReader;
use super::reply::{Reply, Status};
use super::session::{Phase, SmtpSession, Transaction};

/// The user that receives `postmaster@` mail.
const POSTMASTER_USER: &str = "admin";

impl SmtpSession {
    /// MAIL FROM.
    pub(super) fn mail(&mut self, from: ReversePath, params: MailParams, out: &mut Vec<u8>) -> Flow {
        if self.helo.is_none() {
            return self.error(Reply::new(503, Status::new(5, 5, 1), "Send HELO or EHLO first"), out);
        }
        if !matches!(self.phase, Phase::Idle) {
            return self
                .error(Reply::new(503, Status::new(5, 5, 1), "Nested MAIL command (RSET first)"), out);
        }
        if matches!(self.conn.service, Service::Submission | Service::Smtps) && self.auth_user.is_none() {
            let how =
                if self.auth_offered() { "log in with AUTH first" } else { "STARTTLS, then AUTH, first" };
            return self.error(
                Reply::new(530, Status::new(5, 7, 0), format!("Authentication required: {how}")),
                out,
            );
        }
        if let ReversePath::Mailbox(m) = &from
            && !m.is_ascii()
            && !params.smtputf8
        {
            return self.error(non_ascii_address(), out);
        }
        if let Some(user) = &self.auth_user
            && !self.owns(user, &from)
        {
            // A logged-in user sends only as an address they own (Postfix: reject_sender_login_mismatch), and
            // `<>` is for bounces, which servers send, not users: otherwise any account could forge any sender.
            return self.error(
                Reply::new(
                    553,
                    Status::new(5, 7, 1),
                    format!("Sender address rejected: not owned by user {user}@{}", self.host.users.domain()),
                ),
                out,
            );
        }
        // A parameter of an extension that is switched off was not advertised: RFC 5321 §4.1.1.11 says 555.
        for (given, name) in [
            (params.size.is_some(), "SIZE"),
            (params.smtputf8, "SMTPUTF8"),
            (params.body == super::command::Body::EightBitMime, "8BITMIME"),
        ] {
            if given && !self.host.offers("smtp", name) {
                return self.error(
                    Reply::new(555, Status::new(5, 5, 4), format!("{name} is not offered by this server")),
                    out,
                );
            }
        }
        let max = self.host.limits.max_message_size;
        if params.size.is_some_and(|s| s > max as u64) {
            // RFC 1870 §6.1: refuse at MAIL when the declared size is already too large.
            return self.reply(size_exceeded(max), out);
        }
        self.phase =
            Phase::Mail(Transaction { from, smtputf8: params.smtputf8, rcpts: Vec::new(), rejected: 0 });
        self.reply(Reply::new(250, Status::new(2, 1, 0), "Ok"), out)
    }

    /// Whether the authenticated `user` owns the sender address `from`: their own mailbox at this host's domain.
    fn owns(&self, user: &str, from: &ReversePath) -> bool {
        let ReversePath::Mailbox(m) = from else { return false };
        self.host.is_local_domain(m.domain.as_str())
            && self.host.users.resolve(&m.local_value()).is_some_and(|u| u.eq_ignore_ascii_case(user))
    }

    /// RCPT TO.
    pub(super) fn rcpt(&mut self, to: ForwardPath, out: &mut Vec<u8>) -> Flow {
        let Phase::Mail(tx) = &self.phase else {
            return self.error(Reply::new(503, Status::new(5, 5, 1), "Need MAIL before RCPT"), out);
        };
        if tx.rcpts.len() >= self.host.limits.max_recipients {
            // RFC 5321 §4.5.3.1.10: 452, and the client sends the rest in another transaction.
            let max = self.host.limits.max_recipients;
            return self.reply(
                Reply::new(
                    452,
                    Status::new(4, 5, 3),
                    format!("Too many recipients (at most {max} per message)"),
                ),
                out,
            );
        }
        let smtputf8 = tx.smtputf8;
        match self.check_recipient(to, smtputf8) {
            Ok((rcpt, note)) => {
                if let Phase::Mail(tx) = &mut self.phase
                    && !tx.rcpts.iter().any(|r| r.eq_ignore_ascii_case(&rcpt))
                {
                    tx.rcpts.push(rcpt);
                }
                let text = match note {
                    Some(note) => format!("Ok ({note})"),
                    None => "Ok".to_string(),
                };
                self.reply(Reply::new(250, Status::new(2, 1, 5), text), out)
            }
            Err(reply) => {
                if let Phase::Mail(tx) = &mut self.phase {
                    tx.rejected += 1;
                }
                self.error(reply, out)
            }
        }
    }

    /// Applies the policy to one recipient: the normalised address and a note for the reply, or the refusal.
    fn check_recipient(&self, to: ForwardPath, smtputf8: bool) -> Result<(String, Option<String>), Reply> {
        let mailbox = match to {
            ForwardPath::Postmaster => return self.local_recipient(POSTMASTER_USER, true),
            ForwardPath::Mailbox(m) => m,
        };
        if !mailbox.is_ascii() && !smtputf8 {
            return Err(non_ascii_address());
        }
        match &mailbox.domain {
            Domain::Name(d) if self.host.is_local_domain(d) => {
                let local = mailbox.local_value();
                if local.eq_ignore_ascii_case("postmaster") {
                    self.local_recipient(POSTMASTER_USER, true)
                } else {
                    self.local_recipient(&local, false)
                }
            }
            _ => self.remote_recipient(&mailbox),
        }
    }

    /// A recipient in this host's domain.
    fn local_recipient(&self, local: &str, postmaster: bool) -> Result<(String, Option<String>), Reply> {
        // `resolve` would also accept "user@domain"; a local part holding '@' (quoted) is no user of ours.
        let user = (!local.contains('@')).then(|| self.host.users.resolve(local)).flatten();
        match user {
            Some(user) => {
                let address = format!("{user}@{}", self.host.users.domain());
                let note = postmaster.then(|| format!("postmaster mail goes to {address}"));
                Ok((address, note))
            }
            None => Err(Reply::new(
                550,
                Status::new(5, 1, 1),
                format!("Mailbox unavailable: no such user here in {}", self.host.users.domain()),
            )),
        }
    }

    /// A recipient elsewhere: relaying, for authenticated clients only.
    fn remote_recipient(&self, mailbox: &Mailbox) -> Result<(String, Option<String>), Reply> {
        if self.auth_user.is_some() {
            return Ok((mailbox.to_string(), Some(format!("will be relayed to {}", mailbox.domain))));
        }
        Err(Reply::new(
            554,
            Status::new(5, 7, 1),
            format!(
                "Relay access denied: {} is not a domain of this server; log in (AUTH) to send mail elsewhere",
                mailbox.domain
            ),
        ))
    }

    /// DATA.
    pub(super) fn data(&mut self, out: &mut Vec<u8>) -> Flow {
        let reply = match &self.phase {
            Phase::Mail(tx) if !tx.rcpts.is_empty() => None,
            // RFC 2920 §3.1: with pipelining, DATA can arrive after every RCPT was refused.
            Phase::Mail(tx) if tx.rejected > 0 => {
                Some(Reply::new(554, Status::new(5, 5, 1), "No valid recipients"))
            }
            Phase::Mail(_) => Some(Reply::new(503, Status::new(5, 5, 1), "Need RCPT before DATA")),
            _ => Some(Reply::new(503, Status::new(5, 5, 1), "Need MAIL before DATA")),
        };
        if let Some(reply) = reply {
            return self.error(reply, out);
        }
        let Phase::Mail(tx) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            // Checked just above.
            return Flow::Continue;
        };
        self.phase = Phase::Data(tx, DataReader::new(self.host.limits.max_message_size));
        self.reply(Reply::plain(354, "End data with <CR><LF>.<CR><LF>"), out)
    }
}

/// RFC 6531 §3.5.
fn non_ascii_address() -> Reply {
    Reply::new(553, Status::new(5, 6, 7), "Non-ASCII address: add SMTPUTF8 to MAIL FROM")
}

/// RFC 1870 §6.
pub(super) fn size_exceeded(max: usize) -> Reply {
    Reply::new(
        552,
        Status::new(5, 3, 4),
        format!("Message size exceeds fixed maximum message size ({max} octets)"),
    )
}
