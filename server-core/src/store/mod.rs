//! The mailbox store: one trait, two implementations.
//!
//! - [`memory::MemoryStore`]: everything in RAM. Sandboxed playground worlds and tests use it.
//! - [`maildir::MaildirStore`]: Maildir++ on disk (tmp → fsync → rename into `new/`, subfolders as `.a.b`), with a
//!   per-folder UID list (UIDVALIDITY, UIDNEXT, flags) kept durably, so learners and real tools (`ls`, mutt) can look
//!   inside and the persistent world survives restarts.
//!
//! Callers (SMTP delivery, POP3, IMAP) only see [`MailStore`]. Folder names use `/` as the hierarchy delimiter and are
//! validated by [`validate_folder_name`]; `INBOX` is case-insensitive (RFC 3501 §5.1). Every change is announced on
//! the store's change channel ([`MailStore::subscribe`]) so that IMAP sessions on other devices learn of it (RFC 3501
//! §7.4.1 decides *when* they tell their client).
//!
//! The methods are synchronous: every operation is a short memory or file operation. Async callers run them on the
//! blocking pool when the store is durable.

pub mod maildir;
pub mod memory;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// A message's unique identifier within one folder (RFC 3501 §2.3.1.1): strictly ascending, never reused.
pub type Uid = u32;

/// A message flag. `\Recent` is not here: it belongs to sessions, see [`MailStore::claim_recent`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// A user-defined keyword (an IMAP atom).
    Keyword(String),
}

impl Flag {
    /// The IMAP spelling (`\Seen`, or the keyword itself).
    pub fn as_imap(&self) -> &str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Keyword(k) => k,
        }
    }

    /// Parses the IMAP spelling; system flags are case-insensitive. `\Recent` and other unknown `\` flags give None.
    pub fn from_imap(s: &str) -> Option<Flag> {
        if let Some(sys) = s.strip_prefix('\\') {
            return match sys.to_ascii_lowercase().as_str() {
                "seen" => Some(Flag::Seen),
                "answered" => Some(Flag::Answered),
                "flagged" => Some(Flag::Flagged),
                "deleted" => Some(Flag::Deleted),
                "draft" => Some(Flag::Draft),
                _ => None,
            };
        }
        if s.is_empty() {
            return None;
        }
        Some(Flag::Keyword(s.to_string()))
    }
}

/// A set of flags.
pub type Flags = BTreeSet<Flag>;

/// What the store knows about one message without reading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// Its UID in the folder.
    pub uid: Uid,
    /// Its flags.
    pub flags: Flags,
    /// When it arrived (IMAP INTERNALDATE).
    pub internal_date: DateTime<Utc>,
    /// Its exact size in octets, CRLF line ends counted (POP3 LIST, IMAP RFC822.SIZE).
    pub size: u64,
    /// The modification sequence of its last change (RFC 7162 CONDSTORE).
    pub modseq: u64,
}

/// A folder's state at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderStatus {
    /// UIDVALIDITY (RFC 3501 §2.3.1.1): changes only if the UID list is rebuilt.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: Uid,
    /// Highest modseq of any message or of the folder (RFC 7162).
    pub highest_modseq: u64,
    /// The messages, in ascending UID order (so message sequence number = index + 1).
    pub messages: Vec<MessageMeta>,
}

/// RFC 6154 special-use attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
}

impl SpecialUse {
    /// The IMAP attribute (`\Sent`).
    pub fn as_imap(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
        }
    }
}

/// The folders every user has from the start, besides INBOX (RFC 6154).
pub const SPECIAL_FOLDERS: [(&str, SpecialUse); 4] = [
    ("Sent", SpecialUse::Sent),
    ("Drafts", SpecialUse::Drafts),
    ("Trash", SpecialUse::Trash),
    ("Junk", SpecialUse::Junk),
];

/// One folder in a user's hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderInfo {
    /// Full name with `/` delimiters (`Projects/2026`); `INBOX` for the inbox.
    pub name: String,
    /// False for a `\Noselect` placeholder left by deleting a folder that has children.
    pub selectable: bool,
    /// Its special use, if any.
    pub special_use: Option<SpecialUse>,
    /// Whether the user subscribed to it (LSUB).
    pub subscribed: bool,
}

/// What changed, as announced to every session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    /// New messages were added.
    Appended { uids: Vec<Uid> },
    /// Flags of these messages changed.
    FlagsChanged { uids: Vec<Uid> },
    /// These messages were removed.
    Expunged { uids: Vec<Uid> },
    /// The folder was created.
    FolderCreated,
    /// The folder was deleted.
    FolderDeleted,
    /// The folder was renamed to `to`.
    FolderRenamed { to: String },
}

/// A change to one user's folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreChange {
    /// Whose.
    pub user: String,
    /// Which folder (canonical name, `INBOX` upper-case).
    pub folder: String,
    /// What.
    pub kind: ChangeKind,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The user has no mailbox here.
    #[error("no such user")]
    NoSuchUser,
    /// The folder does not exist (or is `\Noselect` where a selectable one is needed).
    #[error("no such folder")]
    NoSuchFolder,
    /// CREATE or RENAME onto an existing name.
    #[error("folder already exists")]
    FolderExists,
    /// The name breaks the naming rules.
    #[error("invalid folder name: {0}")]
    InvalidName(&'static str),
    /// The operation is not allowed on this folder (deleting INBOX, say).
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// No message with that UID.
    #[error("no such message")]
    NoSuchMessage,
    /// The disk failed us.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// How STORE changes flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    /// Replace the flags (`FLAGS`).
    Set,
    /// Add (`+FLAGS`).
    Add,
    /// Remove (`-FLAGS`).
    Remove,
}

/// The mailbox store of one host.
pub trait MailStore: Send + Sync + 'static {
    /// Creates the user's INBOX and special-use folders if missing. Idempotent.
    fn ensure_user(&self, user: &str) -> StoreResult<()>;

    /// All folders of a user, INBOX first, then by name.
    fn folders(&self, user: &str) -> StoreResult<Vec<FolderInfo>>;

    /// Creates a folder and any missing parents (`a/b/c`). A `\Noselect` placeholder of that name becomes selectable.
    fn create_folder(&self, user: &str, name: &str) -> StoreResult<()>;

    /// Deletes a folder. One with children becomes a `\Noselect` placeholder and loses its messages (RFC 3501 §6.3.4).
    /// INBOX cannot be deleted.
    fn delete_folder(&self, user: &str, name: &str) -> StoreResult<()>;

    /// Renames a folder and its children. Renaming INBOX moves its messages into a new folder and leaves INBOX empty
    /// (RFC 3501 §6.3.5).
    fn rename_folder(&self, user: &str, from: &str, to: &str) -> StoreResult<()>;

    /// Marks a folder subscribed or not (the folder need not exist, RFC 3501 §6.3.6).
    fn set_subscribed(&self, user: &str, name: &str, subscribed: bool) -> StoreResult<()>;

    /// The folder's UIDVALIDITY, UIDNEXT and messages.
    fn status(&self, user: &str, folder: &str) -> StoreResult<FolderStatus>;

    /// Adds a message durably; returns its UID. `internal_date` defaults to now.
    fn append(
        &self,
        user: &str,
        folder: &str,
        data: &[u8],
        flags: &Flags,
        internal_date: Option<DateTime<Utc>>,
    ) -> StoreResult<Uid>;

    /// The message's bytes.
    fn read(&self, user: &str, folder: &str, uid: Uid) -> StoreResult<Arc<Vec<u8>>>;

    /// Changes flags of some messages; returns the new metadata of those that exist (missing UIDs are skipped:
    /// another session may have expunged them).
    fn store_flags(
        &self,
        user: &str,
        folder: &str,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
    ) -> StoreResult<Vec<MessageMeta>>;

    /// Removes the given messages; returns the UIDs actually removed, ascending.
    fn expunge(&self, user: &str, folder: &str, uids: &[Uid]) -> StoreResult<Vec<Uid>>;

    /// Copies messages (flags and internal date kept) into another folder; returns (source UID, new UID) pairs
    /// (RFC 4315 COPYUID).
    fn copy(&self, user: &str, from: &str, uids: &[Uid], to: &str) -> StoreResult<Vec<(Uid, Uid)>> {
        let status = self.status(user, from)?;
        // Fail before copying anything when the target is missing.
        self.status(user, to)?;
        let mut out = Vec::new();
        for meta in status.messages.iter().filter(|m| uids.contains(&m.uid)) {
            let data = self.read(user, from, meta.uid)?;
            let new = self.append(user, to, &data, &meta.flags, Some(meta.internal_date))?;
            out.push((meta.uid, new));
        }
        Ok(out)
    }

    /// Returns the UIDs that are `\Recent` for the caller and clears the mark, so exactly one session sees each
    /// message as recent (RFC 3501 §2.3.2). Called by IMAP SELECT (not EXAMINE) and when a selected session learns
    /// of new mail.
    fn claim_recent(&self, user: &str, folder: &str) -> StoreResult<Vec<Uid>>;

    /// A feed of every change made to any folder of any user of this store.
    fn subscribe(&self) -> broadcast::Receiver<StoreChange>;
}

/// Canonical form of a folder name: `INBOX` in any case becomes `INBOX` (also as the first level: `inbox/x`).
pub fn canonical_folder(name: &str) -> String {
    match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => name.to_string(),
    }
}

/// Checks a folder name (already decoded from modified UTF-7): no empty levels, no `.`/`..` levels, no control
/// characters, no characters the Maildir++ layout reserves, at most 255 bytes and 16 levels.
pub fn validate_folder_name(name: &str) -> StoreResult<()> {
    if name.is_empty() {
        return Err(StoreError::InvalidName("empty name"));
    }
    if name.len() > 255 {
        return Err(StoreError::InvalidName("name longer than 255 bytes"));
    }
    let levels: Vec<&str> = name.split('/').collect();
    if levels.len() > 16 {
        return Err(StoreError::InvalidName("more than 16 levels"));
    }
    for level in levels {
        if level.is_empty() {
            return Err(StoreError::InvalidName("empty hierarchy level"));
        }
        if level == "." || level == ".." {
            return Err(StoreError::InvalidName("'.' and '..' are not folder names"));
        }
        if level
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == '.' && level.starts_with('.'))
        {
            return Err(StoreError::InvalidName(
                "control character, backslash or leading dot",
            ));
        }
        if level.contains(['*', '%']) {
            return Err(StoreError::InvalidName("wildcards are not allowed in names"));
        }
    }
    Ok(())
}

/// Applies a STORE operation to a flag set.
pub fn apply_flags(current: &Flags, op: FlagOp, flags: &Flags) -> Flags {
    match op {
        FlagOp::Set => flags.clone(),
        FlagOp::Add => current.union(flags).cloned().collect(),
        FlagOp::Remove => current.difference(flags).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_folder_name("Projects/2026").is_ok());
        assert!(validate_folder_name("Entwürfe").is_ok());
        for bad in ["", "a//b", "/a", "a/", "..", "a/../b", ".hidden", "a\u{0}b", "x*"] {
            assert!(validate_folder_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(canonical_folder("inbox"), "INBOX");
        assert_eq!(canonical_folder("Inbox/x"), "INBOX/x");
        assert_eq!(canonical_folder("Inboxes"), "Inboxes");
    }
}
