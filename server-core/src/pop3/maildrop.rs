//! The maildrop as one POP3 session sees it: a snapshot of the user's INBOX taken at login, with deletion marks.
//!
//! RFC 1939 §5 wants message numbers that do not change during a session, so the session works on the list of
//! (UID, size) it saw at login; mail arriving later waits for the next session. Deletions are only marks until the
//! UPDATE state (RFC 1939 §6) hands the marked UIDs to [`crate::store::MailStore::expunge`].
//!
//! Unique-ids (UIDL, RFC 1939 §7) come from the store: the folder's UIDVALIDITY and the message's UID, both fixed
//! for the life of the message and never reused (RFC 3501 §2.3.1.1), so an id is stable across sessions and never
//! names another message later.

use crate::store::{MailStore, StoreResult, Uid};

/// The folder POP3 serves.
pub const INBOX: &str = "INBOX";

/// One message of the snapshot.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its UID in the INBOX.
    pub uid: Uid,
    /// Its exact size in octets (CRLF counted), as LIST and STAT report it.
    pub size: u64,
    /// Marked by DELE, cleared by RSET.
    pub deleted: bool,
}

/// Why a message number does not name a message that can be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// 0, or larger than the number of messages.
    NoSuchMessage,
    /// Marked deleted in this session.
    Deleted,
}

/// The session's view of the maildrop.
#[derive(Debug)]
pub struct Maildrop {
    /// UIDVALIDITY of the INBOX at login.
    uid_validity: u32,
    /// Messages in ascending UID order: message number = index + 1.
    entries: Vec<Entry>,
}

impl Maildrop {
    /// Takes the snapshot of `user`'s INBOX.
    pub fn open(store: &dyn MailStore, user: &str) -> StoreResult<Maildrop> {
        let status = store.status(user, INBOX)?;
        let entries =
            status.messages.iter().map(|m| Entry { uid: m.uid, size: m.size, deleted: false }).collect();
        Ok(Maildrop { uid_validity: status.uid_validity, entries })
    }

    /// The message numbered `msg`, unless it does not exist or is marked deleted.
    pub fn get(&self, msg: u32) -> Result<&Entry, Unavailable> {
        let entry = self.entry(msg)?;
        if entry.deleted { Err(Unavailable::Deleted) } else { Ok(entry) }
    }

    fn entry(&self, msg: u32) -> Result<&Entry, Unavailable> {
        let index = (msg as usize).checked_sub(1).ok_or(Unavailable::NoSuchMessage)?;
        self.entries.get(index).ok_or(Unavailable::NoSuchMessage)
    }

    /// Marks message `msg` deleted; returns its UID.
    pub fn mark_deleted(&mut self, msg: u32) -> Result<Uid, Unavailable> {
        self.get(msg)?;
        // `get` just found it, so the index is in range.
        let entry = &mut self.entries[msg as usize - 1];
        entry.deleted = true;
        Ok(entry.uid)
    }

    /// Clears every deletion mark (RSET).
    pub fn reset(&mut self) {
        for e in &mut self.entries {
            e.deleted = false;
        }
    }

    /// Number and total size of the messages not marked deleted (STAT).
    pub fn stat(&self) -> (usize, u64) {
        self.live().fold((0, 0), |(n, size), (_, e)| (n + 1, size + e.size))
    }

    /// The messages not marked deleted, with their numbers.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Entry)> {
        // Message numbers fit u32: a maildrop has fewer than 2^32 messages, the store's UIDs are u32 too.
        (1..).zip(self.entries.iter()).filter(|(_, e)| !e.deleted)
    }

    /// UIDs marked deleted, ascending.
    pub fn deleted_uids(&self) -> Vec<Uid> {
        self.entries.iter().filter(|e| e.deleted).map(|e| e.uid).collect()
    }

    /// The unique-id of a message: 16 hex digits of UIDVALIDITY and UID (RFC 1939 §7: 1-70 characters of
    /// 0x21-0x7E).
    pub fn unique_id(&self, uid: Uid) -> String {
        format!("{:08x}{uid:08x}", self.uid_validity)
    }
}
