//! APPEND (RFC 3501 §6.3.11), several messages at once with MULTIAPPEND (RFC 3502), answered with APPENDUID
//! (RFC 4315).

use super::mime;
use super::parser::{AppendMessage, MailboxName};
use super::sequence::SequenceSet;
use super::session::{ImapSession, Reply};
use super::store_cmd::parse_flags;
use crate::store::{Flags, StoreError};

impl ImapSession {
    /// APPEND of one message or, with MULTIAPPEND, several: all or none (RFC 3502 §6.3.11: "if the server
    /// is unable to append any of the messages, none of them are appended").
    pub(super) fn append(&mut self, raw: &MailboxName, messages: &[AppendMessage]) -> Reply {
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
            let converted = mime::encode_binary_parts(&m.message);
            let data = converted.as_deref().unwrap_or(&m.message);
            match store.append(&user, &name, data, flags, m.date.map(|d| d.to_utc())) {
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
}
