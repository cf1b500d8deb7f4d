//! The TRANSACTION state (RFC 1939 §5) and the UPDATE state QUIT leads to (RFC 1939 §6).
//!
//! STAT, LIST, RETR, DELE, NOOP, RSET and QUIT from RFC 1939 §5-6; TOP and UIDL from §7; CAPA from RFC 2449.
//! Everything works on the login snapshot ([`Maildrop`](super::maildrop::Maildrop)); only RETR and TOP read the
//! store, and only QUIT changes it.

use super::command::{self, Command};
use super::maildrop::{Entry, INBOX, Unavailable};
use super::response::{self, Code};
use super::session::{Pop3Session, Refusal, State, Transaction, messages};
use crate::event::EventKind;
use crate::host::Host;
use crate::session::Flow;
use crate::store::StoreError;

impl Pop3Session {
    /// Handles one line in the TRANSACTION state.
    pub(super) fn transaction(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
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
                return Flow::Continue;
            }
            Command::Quit => return self.update(out),
            _ => {}
        }
        let State::Transaction(t) = &mut self.state else {
            return Flow::Close;
        };
        let host = &*self.host;
        let result = match cmd {
            Command::Stat => {
                let (count, size) = t.maildrop.stat();
                response::ok(out, &format!("{count} {size}"));
                Ok(())
            }
            Command::List { msg: None } => {
                let (count, size) = t.maildrop.stat();
                response::ok(out, &format!("{} ({size} octets)", messages(count)));
                for (n, e) in t.maildrop.live() {
                    response::line(out, &format!("{n} {}", e.size));
                }
                response::end(out);
                Ok(())
            }
            Command::List { msg: Some(n) } => t.get(n).map(|e| response::ok(out, &format!("{n} {}", e.size))),
            Command::Retr { msg } => t.retr(host, msg, None, out),
            Command::Top { msg, lines } => t.retr(host, msg, Some(lines), out),
            Command::Dele { msg } => t.dele(host, msg, out),
            Command::Noop => {
                response::ok(out, "");
                Ok(())
            }
            Command::Rset => {
                t.maildrop.reset();
                let (count, size) = t.maildrop.stat();
                response::ok(out, &format!("maildrop has {} ({size} octets)", messages(count)));
                Ok(())
            }
            Command::Uidl { msg: None } => {
                response::ok(out, "unique-id listing follows");
                for (n, e) in t.maildrop.live() {
                    response::line(out, &format!("{n} {}", t.maildrop.unique_id(e.uid)));
                }
                response::end(out);
                Ok(())
            }
            Command::Uidl { msg: Some(n) } => {
                t.get(n).map(|e| response::ok(out, &format!("{n} {}", t.maildrop.unique_id(e.uid))))
            }
            Command::User { .. }
            | Command::Pass { .. }
            | Command::Apop { .. }
            | Command::Auth { .. }
            | Command::Stls => Err(Refusal::bad(format!("{} is not valid after login", cmd.keyword()))),
            Command::Capa | Command::Quit => unreachable!("answered above"),
        };
        match result {
            Ok(()) => Flow::Continue,
            Err(refusal) => self.refuse(refusal, out),
        }
    }

    /// QUIT in TRANSACTION: the UPDATE state (RFC 1939 §6) removes the marked messages, then the lock goes.
    fn update(&mut self, out: &mut Vec<u8>) -> Flow {
        let State::Transaction(t) = std::mem::replace(&mut self.state, State::Done) else {
            return Flow::Close;
        };
        let marked = t.maildrop.deleted_uids();
        let removed =
            if marked.is_empty() { Ok(Vec::new()) } else { self.host.store.expunge(&t.user, INBOX, &marked) };
        match removed {
            Ok(removed) => {
                if !removed.is_empty() {
                    self.host.emit(EventKind::Removed { user: t.user.clone(), count: removed.len() });
                }
                let left = match t.maildrop.stat().0 {
                    0 => "maildrop empty".to_string(),
                    n => format!("{} left", messages(n)),
                };
                response::ok(out, &format!("{} POP3 server signing off ({left})", self.host.fqdn));
            }
            Err(e) => {
                tracing::warn!(user = %t.user, error = %e, "POP3 UPDATE failed");
                response::err(out, Some(Code::SysTemp), "some deleted messages not removed");
            }
        }
        // `t` (and with it the maildrop lock) is dropped only now, after the store has been changed.
        drop(t);
        Flow::Close
    }
}

impl Transaction {
    /// The message numbered `n`, or the refusal RFC 1939 asks for.
    fn get(&self, n: u32) -> Result<&Entry, Refusal> {
        self.maildrop.get(n).map_err(|why| self.refusal(n, why))
    }

    fn refusal(&self, n: u32, why: Unavailable) -> Refusal {
        match why {
            Unavailable::NoSuchMessage => Refusal::new(format!(
                "no such message, only {} in maildrop",
                messages(self.maildrop.stat().0)
            )),
            Unavailable::Deleted => Refusal::new(format!("message {n} already deleted")),
        }
    }

    /// RETR (`top` None) or TOP (`top` Some(lines)).
    fn retr(&self, host: &Host, n: u32, top: Option<u32>, out: &mut Vec<u8>) -> Result<(), Refusal> {
        let entry = self.get(n)?;
        let data = host.store.read(&self.user, INBOX, entry.uid).map_err(|e| match e {
            // An IMAP session of the same user may expunge under us; POP3 locks only against POP3.
            StoreError::NoSuchMessage => Refusal::new(format!("message {n} was removed by another session")),
            e => {
                tracing::warn!(user = %self.user, uid = entry.uid, error = %e, "POP3 read failed");
                Refusal::new("cannot read the message, try again later").code(Code::SysTemp)
            }
        })?;
        let sent = match top {
            None => {
                response::ok(out, &format!("{} octets", entry.size));
                response::message(out, &data);
                data.len()
            }
            Some(lines) => {
                let part = response::top(&data, lines);
                response::ok(out, "top of message follows");
                response::message(out, part);
                part.len()
            }
        };
        host.emit(EventKind::Retrieved {
            user: self.user.clone(),
            uid: self.maildrop.unique_id(entry.uid),
            size: sent as u64,
        });
        Ok(())
    }

    /// DELE: marks only; QUIT removes (RFC 1939 §5).
    fn dele(&mut self, host: &Host, n: u32, out: &mut Vec<u8>) -> Result<(), Refusal> {
        let uid = self.maildrop.mark_deleted(n).map_err(|why| self.refusal(n, why))?;
        host.emit(EventKind::MarkedDeleted { user: self.user.clone(), uid: self.maildrop.unique_id(uid) });
        response::ok(out, &format!("message {n} deleted"));
        Ok(())
    }
}
