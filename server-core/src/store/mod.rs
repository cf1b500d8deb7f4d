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

mod flags;
pub mod maildir;
pub mod memory;

pub use flags::FlagSet;

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
    /// Its flags, compact and shared between copies (see [`FlagSet`]).
    pub flags: FlagSet,
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
    /// The user subscribed to the folder or unsubscribed from it (IMAP NOTIFY's SubscriptionChange, RFC 5465).
    SubscriptionChanged,
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

    /// The names the user subscribed to, existing or not (RFC 3501 §6.3.6), sorted.
    fn subscriptions(&self, user: &str) -> StoreResult<Vec<String>>;

    /// The folder's UIDVALIDITY, UIDNEXT and messages.
    fn status(&self, user: &str, folder: &str) -> StoreResult<FolderStatus>;

    /// The folder's (UIDVALIDITY, HIGHESTMODSEQ), or `None` if it is gone. Every change to a folder (a message
    /// added, removed or reflagged, also by hand on disk) raises its modseq, so an unchanged pair means an unchanged
    /// folder. Stores override this to avoid copying the message list that [`MailStore::status`] returns.
    fn folder_version(&self, user: &str, folder: &str) -> Option<(u32, u64)> {
        self.status(user, folder).ok().map(|s| (s.uid_validity, s.highest_modseq))
    }

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

    /// The bytes of a message expunged lately from the folder while it had this UIDVALIDITY, if still kept (see
    /// [`Graveyard`]): an IMAP session that has not yet told its client about the EXPUNGE may still FETCH it.
    fn read_expunged(
        &self,
        _user: &str,
        _folder: &str,
        _uid_validity: u32,
        _uid: Uid,
    ) -> Option<Arc<Vec<u8>>> {
        None
    }

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
            let new = self.append(user, to, &data, &meta.flags.to_flags(), Some(meta.internal_date))?;
            out.push((meta.uid, new));
        }
        Ok(out)
    }

    /// Returns the UIDs that are `\Recent` for the caller and clears the mark, so exactly one session sees each
    /// message as recent (RFC 3501 §2.3.2). Called by IMAP SELECT (not EXAMINE) and when a selected session learns
    /// of new mail.
    fn claim_recent(&self, user: &str, folder: &str) -> StoreResult<Vec<Uid>>;

    /// How many messages no session has claimed as `\Recent` yet, without claiming them: what STATUS (RECENT) and
    /// EXAMINE report for a folder the asking session has not selected.
    fn recent_count(&self, user: &str, folder: &str) -> StoreResult<usize> {
        let _ = (user, folder);
        Ok(0)
    }

    /// A feed of every change made to any folder of any user of this store.
    fn subscribe(&self) -> broadcast::Receiver<StoreChange>;

    /// How many changes the store has announced on its feed so far. The count only grows, so a caller that reads
    /// the same count twice knows nothing changed in between: an IMAP session compares it after each command
    /// without holding a feed of its own (and without an async runtime).
    fn change_count(&self) -> u64;
}

/// The change announcements of one store: the feed [`MailStore::subscribe`] hands out and the count
/// [`MailStore::change_count`] reports, kept together so that no change reaches one and not the other.
pub struct ChangeFeed {
    /// Subscribers' channel; a subscriber that falls `capacity` changes behind sees `Lagged`.
    tx: broadcast::Sender<StoreChange>,
    /// Changes announced so far; raised before the change goes on the channel, so a subscriber that hears of a
    /// change and then reads the count sees it counted.
    count: std::sync::atomic::AtomicU64,
}

impl ChangeFeed {
    /// A feed that holds `capacity` changes per subscriber (slots are allocated up front).
    pub fn new(capacity: usize) -> ChangeFeed {
        ChangeFeed { tx: broadcast::channel(capacity.max(1)).0, count: Default::default() }
    }

    /// Announces a change, made already, to one user's folder.
    pub fn send(&self, user: &str, folder: &str, kind: ChangeKind) {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // No subscriber is not an error: nobody is listening.
        let _ = self.tx.send(StoreChange { user: user.to_string(), folder: folder.to_string(), kind });
    }

    /// A new subscriber, hearing of changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.tx.subscribe()
    }

    /// Changes announced so far.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A message in the [`Graveyard`]: user (lower-case), canonical folder, UIDVALIDITY, UID.
type GraveKey = (String, String, u32, Uid);

/// The bytes of the messages expunged last, kept a little while: RFC 2180 §4.1.1 lets a server go on serving an
/// expunged message to a session that has not yet been told (IMAP forbids telling it during FETCH, RFC 3501
/// §7.4.1), as Dovecot does; without this, sessions answer such a FETCH with `NO [EXPUNGEISSUED]`. Bounded by count
/// and bytes; the oldest go first.
#[derive(Default)]
pub struct Graveyard {
    /// The messages kept and their bytes, oldest first.
    entries: std::collections::VecDeque<(GraveKey, Arc<Vec<u8>>)>,
    /// Total length of the kept bytes.
    bytes: usize,
}

impl Graveyard {
    /// Most messages kept.
    pub const MAX_MESSAGES: usize = 256;
    /// Most bytes kept (a message larger than this is not kept at all). Small: a session reports an EXPUNGE at
    /// its next command, so a message is wanted here for moments, and every sandbox store has a graveyard.
    pub const MAX_BYTES: usize = 2 * 1024 * 1024;

    /// Keeps an expunged message's bytes.
    pub fn bury(&mut self, user: &str, folder: &str, uid_validity: u32, uid: Uid, data: Arc<Vec<u8>>) {
        if data.len() > Self::MAX_BYTES {
            return;
        }
        self.bytes += data.len();
        let key = (user.to_ascii_lowercase(), canonical_folder(folder), uid_validity, uid);
        self.entries.push_back((key, data));
        while self.entries.len() > Self::MAX_MESSAGES || self.bytes > Self::MAX_BYTES {
            // Not empty: `bytes` and the count are only above their bounds while something is kept.
            let Some((_, old)) = self.entries.pop_front() else { break };
            self.bytes -= old.len();
        }
    }

    /// The bytes of an expunged message, if still kept.
    pub fn find(&self, user: &str, folder: &str, uid_validity: u32, uid: Uid) -> Option<Arc<Vec<u8>>> {
        let folder = canonical_folder(folder);
        self.entries
            .iter()
            .rev()
            .find(|((u, f, v, id), _)| {
                *id == uid && *v == uid_validity && *f == folder && u.eq_ignore_ascii_case(user)
            })
            .map(|(_, data)| data.clone())
    }
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
        if level.chars().any(|c| c.is_control() || c == '\\' || c == '.' && level.starts_with('.')) {
            return Err(StoreError::InvalidName("control character, backslash or leading dot"));
        }
        if level.contains(['*', '%']) {
            return Err(StoreError::InvalidName("wildcards are not allowed in names"));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    //! Besides the name tests: scenarios every [`MailStore`] must pass, run by each implementation's tests through
    //! [`run_all`] so that the memory and the Maildir store keep the same semantics.
    use super::*;

    type Scenario<S> = (&'static str, fn(&S));

    /// Runs every scenario on a fresh store from `make` (which may return a guard, say a temporary directory, that
    /// must live as long as the store).
    pub(crate) fn run_all<S: MailStore, G>(make: impl Fn() -> (G, S)) {
        let scenarios: [Scenario<S>; 10] = [
            ("uids_ascend_and_never_reuse", uids_ascend_and_never_reuse),
            ("hierarchy", hierarchy),
            ("flags_and_modseq", flags_and_modseq),
            ("expunge_and_copy", expunge_and_copy),
            ("errors", errors),
            ("notifications", notifications),
            ("subscriptions_and_special_use", subscriptions_and_special_use),
            ("bytes_are_kept_exactly", bytes_are_kept_exactly),
            ("placeholders", placeholders),
            ("rename_moves_children_and_subscriptions", rename_moves_children_and_subscriptions),
        ];
        for (name, scenario) in scenarios {
            let (_guard, store) = make();
            eprintln!("scenario {name}");
            scenario(&store);
        }
    }

    fn flags(list: &[Flag]) -> Flags {
        list.iter().cloned().collect()
    }

    fn folder_names<S: MailStore>(s: &S, user: &str) -> Vec<String> {
        s.folders(user).unwrap().into_iter().map(|f| f.name).collect()
    }

    pub(crate) fn uids_ascend_and_never_reuse<S: MailStore>(s: &S) {
        s.ensure_user("alice").unwrap();
        let a = s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
        let b = s.append("alice", "inbox", b"b\r\n", &Flags::new(), None).unwrap();
        assert!(b > a);
        s.expunge("alice", "INBOX", &[b]).unwrap();
        let c = s.append("alice", "INBOX", b"c\r\n", &Flags::new(), None).unwrap();
        assert!(c > b);
        assert_eq!(s.recent_count("alice", "INBOX").unwrap(), 2, "counting claims nothing");
        assert_eq!(s.recent_count("alice", "INBOX").unwrap(), 2);
        assert_eq!(s.claim_recent("alice", "INBOX").unwrap(), vec![a, c]);
        assert_eq!(s.recent_count("alice", "INBOX").unwrap(), 0);
        assert!(s.claim_recent("alice", "INBOX").unwrap().is_empty());
        let d = s.append("alice", "INBOX", b"d\r\n", &Flags::new(), None).unwrap();
        assert_eq!(s.claim_recent("alice", "INBOX").unwrap(), vec![d]);
        assert_eq!(s.status("alice", "INBOX").unwrap().uid_next, d + 1);
    }

    pub(crate) fn hierarchy<S: MailStore>(s: &S) {
        s.ensure_user("alice").unwrap();
        s.create_folder("alice", "Projects/2026/Q1").unwrap();
        assert!(matches!(s.create_folder("alice", "Projects"), Err(StoreError::FolderExists)));
        s.delete_folder("alice", "Projects").unwrap();
        let f = s.folders("alice").unwrap();
        assert!(f.iter().any(|f| f.name == "Projects" && !f.selectable));
        s.rename_folder("alice", "Projects/2026", "Archive/2026").unwrap();
        let names = folder_names(s, "alice");
        assert!(names.contains(&"Archive/2026/Q1".to_string()), "{names:?}");
        assert!(names.contains(&"Archive".to_string()), "{names:?}");
        assert_eq!(names[0], "INBOX");
        s.append("alice", "INBOX", b"x\r\n", &Flags::new(), None).unwrap();
        s.rename_folder("alice", "INBOX", "Old").unwrap();
        assert_eq!(s.status("alice", "Old").unwrap().messages.len(), 1);
        assert_eq!(&*s.read("alice", "Old", 1).unwrap(), b"x\r\n");
        assert!(s.status("alice", "INBOX").unwrap().messages.is_empty());
        // INBOX keeps counting: its UIDs are not reused.
        assert_eq!(s.append("alice", "INBOX", b"y\r\n", &Flags::new(), None).unwrap(), 2);
        // INBOX children live under it.
        s.create_folder("alice", "inbox/Receipts").unwrap();
        assert!(folder_names(s, "alice").contains(&"INBOX/Receipts".to_string()));
        assert!(s.status("alice", "INBOX/Receipts").is_ok());
    }

    pub(crate) fn flags_and_modseq<S: MailStore>(s: &S) {
        s.ensure_user("bob").unwrap();
        let kw = Flag::Keyword("$Important".into());
        let a = s.append("bob", "INBOX", b"a\r\n", &flags(&[Flag::Draft]), None).unwrap();
        let b = s.append("bob", "INBOX", b"b\r\n", &Flags::new(), None).unwrap();
        let st = s.status("bob", "INBOX").unwrap();
        assert_eq!(st.messages[0].flags, flags(&[Flag::Draft]));
        assert!(st.messages[1].modseq > st.messages[0].modseq);
        assert_eq!(st.highest_modseq, st.messages[1].modseq);

        let out = s
            .store_flags("bob", "INBOX", &[a, b, 99], FlagOp::Add, &flags(&[Flag::Seen, kw.clone()]))
            .unwrap();
        assert_eq!(out.len(), 2, "missing UIDs are skipped");
        assert_eq!(out[0].flags, flags(&[Flag::Draft, Flag::Seen, kw.clone()]));
        assert_eq!(out[1].flags, flags(&[Flag::Seen, kw.clone()]));
        assert!(out[1].modseq > out[0].modseq && out[0].modseq > st.highest_modseq);
        let top = s.status("bob", "INBOX").unwrap().highest_modseq;
        assert_eq!(top, out[1].modseq);

        // No change, no new modseq.
        let same = s.store_flags("bob", "INBOX", &[b], FlagOp::Add, &flags(&[Flag::Seen])).unwrap();
        assert_eq!(same[0].modseq, out[1].modseq);
        assert_eq!(s.status("bob", "INBOX").unwrap().highest_modseq, top);

        let out =
            s.store_flags("bob", "INBOX", &[a], FlagOp::Remove, &flags(&[Flag::Draft, kw.clone()])).unwrap();
        assert_eq!(out[0].flags, flags(&[Flag::Seen]));
        let all = flags(&[Flag::Answered, Flag::Flagged, Flag::Deleted, Flag::Keyword("x".into())]);
        let out = s.store_flags("bob", "INBOX", &[a], FlagOp::Set, &all).unwrap();
        assert_eq!(out[0].flags, all);
        let out = s.store_flags("bob", "INBOX", &[a], FlagOp::Set, &Flags::new()).unwrap();
        assert!(out[0].flags.is_empty());
        assert_eq!(s.status("bob", "INBOX").unwrap().messages[0].flags, Flags::new());
        assert_eq!(&*s.read("bob", "INBOX", a).unwrap(), b"a\r\n");
    }

    pub(crate) fn expunge_and_copy<S: MailStore>(s: &S) {
        s.ensure_user("carol").unwrap();
        let date = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.5+02:00").unwrap().with_timezone(&Utc);
        let a = s.append("carol", "INBOX", b"one\r\n", &flags(&[Flag::Flagged]), Some(date)).unwrap();
        let b = s.append("carol", "INBOX", b"two\r\n", &Flags::new(), None).unwrap();
        let c = s.append("carol", "INBOX", b"three\r\n", &Flags::new(), None).unwrap();
        assert!(matches!(s.copy("carol", "INBOX", &[a], "Nope"), Err(StoreError::NoSuchFolder)));
        let pairs = s.copy("carol", "INBOX", &[c, a], "Trash").unwrap();
        assert_eq!(pairs, vec![(a, 1), (c, 2)]);
        let trash = s.status("carol", "Trash").unwrap();
        assert_eq!(trash.messages[0].flags, flags(&[Flag::Flagged]));
        assert_eq!(trash.messages[0].internal_date, date);
        assert_eq!(&*s.read("carol", "Trash", 2).unwrap(), b"three\r\n");

        let before = s.status("carol", "INBOX").unwrap().highest_modseq;
        assert_eq!(s.expunge("carol", "INBOX", &[c, 77, a, c]).unwrap(), vec![a, c]);
        let st = s.status("carol", "INBOX").unwrap();
        assert_eq!(st.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![b]);
        assert!(st.highest_modseq > before);
        assert!(s.expunge("carol", "INBOX", &[a]).unwrap().is_empty());
        assert!(matches!(s.read("carol", "INBOX", a), Err(StoreError::NoSuchMessage)));
        // Sessions that have not reported the EXPUNGE yet can still read it a while (RFC 2180 §4.1.1), under the
        // folder's UIDVALIDITY only.
        let validity = st.uid_validity;
        assert_eq!(
            s.read_expunged("carol", "inbox", validity, a).as_deref().map(|d| &d[..]),
            Some(&b"one\r\n"[..])
        );
        assert_eq!(
            s.read_expunged("carol", "INBOX", validity, c).as_deref().map(|d| &d[..]),
            Some(&b"three\r\n"[..])
        );
        assert!(s.read_expunged("carol", "INBOX", validity.wrapping_add(1), a).is_none());
        assert!(s.read_expunged("carol", "INBOX", validity, b).is_none(), "not expunged");
        assert!(
            s.store_flags("carol", "INBOX", &[a], FlagOp::Add, &flags(&[Flag::Seen])).unwrap().is_empty()
        );
    }

    pub(crate) fn errors<S: MailStore>(s: &S) {
        assert!(matches!(s.status("nobody", "INBOX"), Err(StoreError::NoSuchUser)));
        assert!(matches!(s.folders("nobody"), Err(StoreError::NoSuchUser)));
        assert!(matches!(
            s.append("nobody", "INBOX", b"x", &Flags::new(), None),
            Err(StoreError::NoSuchUser)
        ));
        s.ensure_user("Dave").unwrap();
        s.ensure_user("dave").unwrap();
        assert!(s.status("DAVE", "Inbox").is_ok(), "user names and INBOX are case-insensitive");
        assert!(matches!(s.status("dave", "Nope"), Err(StoreError::NoSuchFolder)));
        assert!(matches!(s.append("dave", "Nope", b"x", &Flags::new(), None), Err(StoreError::NoSuchFolder)));
        assert!(matches!(s.read("dave", "INBOX", 1), Err(StoreError::NoSuchMessage)));
        assert!(matches!(s.delete_folder("dave", "inbox"), Err(StoreError::NotAllowed(_))));
        assert!(matches!(s.delete_folder("dave", "Nope"), Err(StoreError::NoSuchFolder)));
        assert!(matches!(s.create_folder("dave", "Sent"), Err(StoreError::FolderExists)));
        assert!(matches!(s.create_folder("dave", "INBOX"), Err(StoreError::FolderExists)));
        for bad in ["", "a//b", ".hidden", "a/../b", "x*"] {
            assert!(matches!(s.create_folder("dave", bad), Err(StoreError::InvalidName(_))), "{bad:?}");
        }
        assert!(matches!(s.rename_folder("dave", "Nope", "Other"), Err(StoreError::NoSuchFolder)));
        assert!(matches!(s.rename_folder("dave", "Sent", "Trash"), Err(StoreError::FolderExists)));
        assert!(matches!(s.rename_folder("dave", "Sent", "INBOX"), Err(StoreError::NotAllowed(_))));
        assert!(matches!(s.rename_folder("dave", "Sent", "Sent/x"), Err(StoreError::NotAllowed(_))));
        assert!(matches!(s.rename_folder("dave", "Sent", "a//b"), Err(StoreError::InvalidName(_))));
        assert_eq!(folder_names(s, "dave"), ["INBOX", "Drafts", "Junk", "Sent", "Trash"]);
    }

    pub(crate) fn notifications<S: MailStore>(s: &S) {
        s.ensure_user("alice").unwrap();
        let start = s.change_count();
        let mut rx = s.subscribe();
        let mut next = || rx.try_recv().unwrap();
        let a = s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
        assert_eq!(s.change_count(), start + 1, "the count moves with the feed");
        let change = next();
        assert_eq!((change.user.as_str(), change.folder.as_str()), ("alice", "INBOX"));
        assert_eq!(change.kind, ChangeKind::Appended { uids: vec![a] });
        s.store_flags("alice", "inbox", &[a], FlagOp::Add, &flags(&[Flag::Seen])).unwrap();
        assert_eq!(next().kind, ChangeKind::FlagsChanged { uids: vec![a] });
        s.expunge("alice", "INBOX", &[a]).unwrap();
        assert_eq!(next().kind, ChangeKind::Expunged { uids: vec![a] });
        s.create_folder("alice", "X/Y").unwrap();
        let created: Vec<String> = [next(), next()].into_iter().map(|c| c.folder).collect();
        assert_eq!(created, ["X", "X/Y"]);
        s.rename_folder("alice", "X/Y", "Z").unwrap();
        assert_eq!(next().kind, ChangeKind::FolderRenamed { to: "Z".into() });
        s.delete_folder("alice", "Z").unwrap();
        let change = next();
        assert_eq!((change.folder.as_str(), change.kind), ("Z", ChangeKind::FolderDeleted));
        // Nothing for operations that change nothing.
        s.store_flags("alice", "INBOX", &[a], FlagOp::Add, &flags(&[Flag::Seen])).unwrap();
        s.expunge("alice", "INBOX", &[a]).unwrap();
        s.status("alice", "INBOX").unwrap();
        assert!(rx.try_recv().is_err());
        assert_eq!(s.change_count(), start + 7, "one per change announced, none for the no-ops");
    }

    pub(crate) fn subscriptions_and_special_use<S: MailStore>(s: &S) {
        s.ensure_user("alice").unwrap();
        let f = s.folders("alice").unwrap();
        assert!(f.iter().all(|f| f.subscribed && f.selectable), "{f:?}");
        let uses: Vec<Option<SpecialUse>> = f.iter().map(|f| f.special_use).collect();
        assert_eq!(
            uses,
            [
                None,
                Some(SpecialUse::Drafts),
                Some(SpecialUse::Junk),
                Some(SpecialUse::Sent),
                Some(SpecialUse::Trash)
            ]
        );
        s.set_subscribed("alice", "Junk", false).unwrap();
        s.set_subscribed("alice", "Not/There", true).unwrap();
        s.create_folder("alice", "Lists").unwrap();
        let f = s.folders("alice").unwrap();
        assert!(!f.iter().find(|f| f.name == "Junk").unwrap().subscribed);
        assert!(!f.iter().find(|f| f.name == "Lists").unwrap().subscribed);
        assert!(!f.iter().any(|f| f.name == "Not/There"), "subscribing does not create");
        s.create_folder("alice", "Not/There").unwrap();
        assert!(s.folders("alice").unwrap().iter().find(|f| f.name == "Not/There").unwrap().subscribed);
        // ensure_user again does not resubscribe or recreate what the user changed.
        s.delete_folder("alice", "Lists").unwrap();
        s.ensure_user("alice").unwrap();
        let f = s.folders("alice").unwrap();
        assert!(!f.iter().find(|f| f.name == "Junk").unwrap().subscribed);
        assert!(!f.iter().any(|f| f.name == "Lists"));
        // A deleted special folder comes back with ensure_user.
        s.delete_folder("alice", "Trash").unwrap();
        s.ensure_user("alice").unwrap();
        assert!(s.status("alice", "Trash").is_ok());
    }

    pub(crate) fn bytes_are_kept_exactly<S: MailStore>(s: &S) {
        s.ensure_user("alice").unwrap();
        let odd: &[u8] = b"From: a\r\n\r\nbare\nlf\rcr\0nul \xff\xfe\r\n.\r\n";
        for (i, data) in [odd, b"", &[b'x'; 70_000][..]].into_iter().enumerate() {
            let uid = s.append("alice", "Drafts", data, &Flags::new(), None).unwrap();
            assert_eq!(&**s.read("alice", "Drafts", uid).unwrap(), data, "message {i}");
            let st = s.status("alice", "Drafts").unwrap();
            assert_eq!(st.messages.last().unwrap().size, data.len() as u64);
        }
    }

    pub(crate) fn placeholders<S: MailStore>(s: &S) {
        s.ensure_user("alice").unwrap();
        s.create_folder("alice", "P/c").unwrap();
        s.append("alice", "P", b"p\r\n", &Flags::new(), None).unwrap();
        let validity = s.status("alice", "P").unwrap().uid_validity;
        s.delete_folder("alice", "P").unwrap();
        assert!(matches!(s.status("alice", "P"), Err(StoreError::NoSuchFolder)));
        assert!(matches!(s.append("alice", "P", b"x", &Flags::new(), None), Err(StoreError::NoSuchFolder)));
        assert!(matches!(s.delete_folder("alice", "P"), Err(StoreError::NotAllowed(_))));
        s.create_folder("alice", "P").unwrap();
        let st = s.status("alice", "P").unwrap();
        assert!(st.messages.is_empty());
        assert_eq!((st.uid_validity, st.uid_next), (validity, 2), "a placeholder keeps its counters");
        // Without children a folder goes away entirely; recreated, it gets a new UIDVALIDITY.
        s.delete_folder("alice", "P/c").unwrap();
        s.delete_folder("alice", "P").unwrap();
        assert!(!folder_names(s, "alice").iter().any(|n| n.starts_with('P')));
        s.create_folder("alice", "P").unwrap();
        let st = s.status("alice", "P").unwrap();
        assert_ne!(st.uid_validity, validity);
        assert_eq!(st.uid_next, 1);
    }

    pub(crate) fn rename_moves_children_and_subscriptions<S: MailStore>(s: &S) {
        s.ensure_user("alice").unwrap();
        s.create_folder("alice", "Work/Mail/Old").unwrap();
        s.set_subscribed("alice", "Work/Mail", true).unwrap();
        let uid = s.append("alice", "Work/Mail", b"m\r\n", &flags(&[Flag::Seen]), None).unwrap();
        let before = s.status("alice", "Work/Mail").unwrap();
        s.rename_folder("alice", "work/mail", "x").unwrap_err(); // names are case-sensitive below INBOX
        s.rename_folder("alice", "Work", "Job/2026").unwrap();
        let f = s.folders("alice").unwrap();
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"Job/2026/Mail/Old") && names.contains(&"Job") && !names.contains(&"Work"));
        assert!(f.iter().find(|f| f.name == "Job/2026/Mail").unwrap().subscribed);
        let after = s.status("alice", "Job/2026/Mail").unwrap();
        assert_eq!(after, before, "a renamed folder keeps UIDVALIDITY, UIDs and flags");
        assert_eq!(&*s.read("alice", "Job/2026/Mail", uid).unwrap(), b"m\r\n");
        // Appends keep working after the rename.
        assert!(s.append("alice", "Job/2026/Mail", b"n\r\n", &Flags::new(), None).unwrap() > uid);
    }

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
