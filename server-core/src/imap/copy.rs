//! COPY and MOVE, and their UID forms (RFC 3501 §6.4.7, RFC 6851), answered with COPYUID (RFC 4315).

use super::parser::MailboxName;
use super::response::{Status, untagged_status};
use super::sequence::SequenceSet;
use super::session::{ImapSession, Reply, State};
use crate::store::{StoreError, Uid};

impl ImapSession {
    pub(super) fn copy(
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
}
