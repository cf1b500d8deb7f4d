//! The in-memory [`MailStore`]: sandboxed playground worlds and tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::*;

#[derive(Default)]
struct Folder {
    selectable: bool,
    uid_validity: u32,
    uid_next: Uid,
    modseq: u64,
    /// Highest UID already claimed as `\Recent` by some session.
    recent_cursor: Uid,
    messages: BTreeMap<Uid, (MessageMeta, Arc<Vec<u8>>)>,
}

impl Folder {
    fn new(uid_validity: u32) -> Folder {
        Folder { selectable: true, uid_validity, uid_next: 1, modseq: 1, ..Default::default() }
    }
}

#[derive(Default)]
struct Mailbox {
    folders: BTreeMap<String, Folder>,
    subscribed: std::collections::BTreeSet<String>,
}

/// Mailboxes kept in RAM.
pub struct MemoryStore {
    users: Mutex<HashMap<String, Mailbox>>,
    changes: super::ChangeFeed,
    /// Source of UIDVALIDITY values: seconds since the epoch at creation, bumped so that a folder recreated under
    /// the same name never reuses its old value.
    next_validity: Mutex<u32>,
    /// Messages expunged lately, for sessions that have not reported it yet.
    graveyard: Mutex<super::Graveyard>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_capacity(1024)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store whose change feed holds `capacity` changes per subscriber; a subscriber that falls further
    /// behind sees `Lagged` and rescans (IMAP) or resends a snapshot (proxy). Slots are allocated up front, hence
    /// small values for sandboxes.
    pub fn with_capacity(capacity: usize) -> MemoryStore {
        MemoryStore {
            users: Mutex::new(HashMap::new()),
            changes: super::ChangeFeed::new(capacity),
            next_validity: Mutex::new(Utc::now().timestamp() as u32),
            graveyard: Mutex::default(),
        }
    }

    fn validity(&self) -> u32 {
        let mut v = self.next_validity.lock().unwrap_or_else(|e| e.into_inner());
        *v = v.wrapping_add(1).max(1);
        *v
    }

    fn notify(&self, user: &str, folder: &str, kind: ChangeKind) {
        self.changes.send(user, folder, kind);
    }

    fn with<T>(&self, user: &str, f: impl FnOnce(&mut Mailbox) -> StoreResult<T>) -> StoreResult<T> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let mb = users.get_mut(&user.to_ascii_lowercase()).ok_or(StoreError::NoSuchUser)?;
        f(mb)
    }

    fn with_folder<T>(
        &self,
        user: &str,
        folder: &str,
        f: impl FnOnce(&mut Folder) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let folder = canonical_folder(folder);
        self.with(user, |mb| match mb.folders.get_mut(&folder) {
            Some(fo) if fo.selectable => f(fo),
            _ => Err(StoreError::NoSuchFolder),
        })
    }
}

fn is_special(name: &str) -> Option<SpecialUse> {
    SPECIAL_FOLDERS.iter().find(|(n, _)| *n == name).map(|(_, u)| *u)
}

impl MailStore for MemoryStore {
    fn ensure_user(&self, user: &str) -> StoreResult<()> {
        let user = user.to_ascii_lowercase();
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let mb = users.entry(user).or_default();
        for name in std::iter::once("INBOX").chain(SPECIAL_FOLDERS.iter().map(|(n, _)| *n)) {
            if !mb.folders.contains_key(name) {
                mb.folders.insert(name.to_string(), Folder::new(self.validity()));
                mb.subscribed.insert(name.to_string());
            }
        }
        Ok(())
    }

    fn folders(&self, user: &str) -> StoreResult<Vec<FolderInfo>> {
        self.with(user, |mb| {
            let mut out: Vec<FolderInfo> = mb
                .folders
                .iter()
                .map(|(name, f)| FolderInfo {
                    name: name.clone(),
                    selectable: f.selectable,
                    special_use: is_special(name),
                    subscribed: mb.subscribed.contains(name),
                })
                .collect();
            out.sort_by(|a, b| (a.name != "INBOX", &a.name).cmp(&(b.name != "INBOX", &b.name)));
            Ok(out)
        })
    }

    fn create_folder(&self, user: &str, name: &str) -> StoreResult<()> {
        let name = canonical_folder(name);
        validate_folder_name(&name)?;
        let mut created = Vec::new();
        self.with(user, |mb| {
            if mb.folders.get(&name).is_some_and(|f| f.selectable) {
                return Err(StoreError::FolderExists);
            }
            let levels: Vec<&str> = name.split('/').collect();
            for i in 1..=levels.len() {
                let path = levels[..i].join("/");
                match mb.folders.get_mut(&path) {
                    Some(f) if i == levels.len() => {
                        f.selectable = true;
                        created.push(path);
                    }
                    Some(_) => {}
                    None => {
                        mb.folders.insert(path.clone(), Folder::new(self.validity()));
                        created.push(path);
                    }
                }
            }
            Ok(())
        })?;
        for path in created {
            self.notify(user, &path, ChangeKind::FolderCreated);
        }
        Ok(())
    }

    fn delete_folder(&self, user: &str, name: &str) -> StoreResult<()> {
        let name = canonical_folder(name);
        if name == "INBOX" {
            return Err(StoreError::NotAllowed("INBOX cannot be deleted"));
        }
        self.with(user, |mb| {
            let prefix = format!("{name}/");
            let has_children = mb.folders.keys().any(|k| k.starts_with(&prefix));
            let f = mb.folders.get_mut(&name).ok_or(StoreError::NoSuchFolder)?;
            if has_children {
                if !f.selectable {
                    return Err(StoreError::NotAllowed("folder has children and is already \\Noselect"));
                }
                f.selectable = false;
                f.messages.clear();
            } else {
                mb.folders.remove(&name);
            }
            Ok(())
        })?;
        self.notify(user, &name, ChangeKind::FolderDeleted);
        Ok(())
    }

    fn rename_folder(&self, user: &str, from: &str, to: &str) -> StoreResult<()> {
        let (from, to) = (canonical_folder(from), canonical_folder(to));
        validate_folder_name(&to)?;
        if to == "INBOX" || to.starts_with(&format!("{from}/")) {
            return Err(StoreError::NotAllowed("cannot rename onto INBOX or into itself"));
        }
        self.with(user, |mb| {
            if !mb.folders.contains_key(&from) {
                return Err(StoreError::NoSuchFolder);
            }
            if mb.folders.get(&to).is_some_and(|f| f.selectable) {
                return Err(StoreError::FolderExists);
            }
            // Missing parents of the new name come into being as \Noselect-free folders, like CREATE.
            let levels: Vec<&str> = to.split('/').collect();
            for i in 1..levels.len() {
                let p = levels[..i].join("/");
                mb.folders.entry(p).or_insert_with(|| Folder::new(self.validity()));
            }
            if from == "INBOX" {
                // RFC 3501 §6.3.5: messages move to the new folder, INBOX stays and is empty.
                let inbox = mb.folders.get_mut("INBOX").ok_or(StoreError::NoSuchFolder)?;
                let mut new = Folder::new(self.validity());
                new.messages = std::mem::take(&mut inbox.messages);
                new.uid_next = new.messages.keys().next_back().map_or(1, |u| u + 1);
                mb.folders.insert(to.clone(), new);
                return Ok(());
            }
            let prefix = format!("{from}/");
            let moving: Vec<String> =
                mb.folders.keys().filter(|k| **k == from || k.starts_with(&prefix)).cloned().collect();
            for old in moving {
                let new = format!("{to}{}", &old[from.len()..]);
                if let Some(f) = mb.folders.remove(&old) {
                    mb.folders.insert(new.clone(), f);
                }
                if mb.subscribed.remove(&old) {
                    mb.subscribed.insert(new);
                }
            }
            Ok(())
        })?;
        self.notify(user, &from, ChangeKind::FolderRenamed { to });
        Ok(())
    }

    fn subscriptions(&self, user: &str) -> StoreResult<Vec<String>> {
        self.with(user, |mb| Ok(mb.subscribed.iter().cloned().collect()))
    }

    fn set_subscribed(&self, user: &str, name: &str, subscribed: bool) -> StoreResult<()> {
        let name = canonical_folder(name);
        let changed = self.with(user, |mb| {
            Ok(if subscribed { mb.subscribed.insert(name.clone()) } else { mb.subscribed.remove(&name) })
        })?;
        if changed {
            self.notify(user, &name, ChangeKind::SubscriptionChanged);
        }
        Ok(())
    }

    fn status(&self, user: &str, folder: &str) -> StoreResult<FolderStatus> {
        self.with_folder(user, folder, |f| {
            Ok(FolderStatus {
                uid_validity: f.uid_validity,
                uid_next: f.uid_next,
                highest_modseq: f.modseq,
                messages: f.messages.values().map(|(m, _)| m.clone()).collect(),
            })
        })
    }

    fn folder_version(&self, user: &str, folder: &str) -> Option<(u32, u64)> {
        self.with_folder(user, folder, |f| Ok((f.uid_validity, f.modseq))).ok()
    }

    fn append(
        &self,
        user: &str,
        folder: &str,
        data: &[u8],
        flags: &Flags,
        internal_date: Option<DateTime<Utc>>,
    ) -> StoreResult<Uid> {
        let canon = canonical_folder(folder);
        let uid = self.with_folder(user, &canon, |f| {
            let uid = f.uid_next;
            f.uid_next += 1;
            f.modseq += 1;
            let meta = MessageMeta {
                uid,
                flags: FlagSet::from(flags),
                internal_date: internal_date.unwrap_or_else(Utc::now),
                size: data.len() as u64,
                modseq: f.modseq,
            };
            f.messages.insert(uid, (meta, Arc::new(data.to_vec())));
            Ok(uid)
        })?;
        self.notify(user, &canon, ChangeKind::Appended { uids: vec![uid] });
        Ok(uid)
    }

    fn read(&self, user: &str, folder: &str, uid: Uid) -> StoreResult<Arc<Vec<u8>>> {
        self.with_folder(user, folder, |f| {
            f.messages.get(&uid).map(|(_, d)| d.clone()).ok_or(StoreError::NoSuchMessage)
        })
    }

    fn read_expunged(&self, user: &str, folder: &str, uid_validity: u32, uid: Uid) -> Option<Arc<Vec<u8>>> {
        self.graveyard.lock().unwrap_or_else(|e| e.into_inner()).find(user, folder, uid_validity, uid)
    }

    fn store_flags(
        &self,
        user: &str,
        folder: &str,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
    ) -> StoreResult<Vec<MessageMeta>> {
        let canon = canonical_folder(folder);
        let (out, changed) = self.with_folder(user, &canon, |f| {
            let mut out = Vec::new();
            let mut changed = Vec::new();
            for uid in uids {
                if let Some((meta, _)) = f.messages.get_mut(uid) {
                    let new = meta.flags.apply(op, flags);
                    if new != meta.flags {
                        f.modseq += 1;
                        meta.flags = new;
                        meta.modseq = f.modseq;
                        changed.push(*uid);
                    }
                    out.push(meta.clone());
                }
            }
            Ok((out, changed))
        })?;
        if !changed.is_empty() {
            self.notify(user, &canon, ChangeKind::FlagsChanged { uids: changed });
        }
        Ok(out)
    }

    fn expunge(&self, user: &str, folder: &str, uids: &[Uid]) -> StoreResult<Vec<Uid>> {
        let canon = canonical_folder(folder);
        let removed = self.with_folder(user, &canon, |f| {
            let mut graveyard = self.graveyard.lock().unwrap_or_else(|e| e.into_inner());
            let mut removed = Vec::new();
            for uid in uids {
                if let Some((_, data)) = f.messages.remove(uid) {
                    graveyard.bury(user, &canon, f.uid_validity, *uid, data);
                    removed.push(*uid);
                }
            }
            removed.sort_unstable();
            removed.dedup();
            if !removed.is_empty() {
                f.modseq += 1;
            }
            Ok(removed)
        })?;
        if !removed.is_empty() {
            self.notify(user, &canon, ChangeKind::Expunged { uids: removed.clone() });
        }
        Ok(removed)
    }

    fn claim_recent(&self, user: &str, folder: &str) -> StoreResult<Vec<Uid>> {
        self.with_folder(user, folder, |f| {
            let recent: Vec<Uid> = f.messages.range(f.recent_cursor + 1..).map(|(u, _)| *u).collect();
            f.recent_cursor = f.uid_next - 1;
            Ok(recent)
        })
    }

    fn recent_count(&self, user: &str, folder: &str) -> StoreResult<usize> {
        self.with_folder(user, folder, |f| Ok(f.messages.range(f.recent_cursor + 1..).count()))
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreChange> {
        self.changes.subscribe()
    }

    fn change_count(&self) -> u64 {
        self.changes.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_scenarios() {
        crate::store::tests::run_all(|| ((), MemoryStore::new()));
    }

    #[test]
    fn uids_ascend_and_never_reuse() {
        let s = MemoryStore::new();
        s.ensure_user("alice").unwrap();
        let a = s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
        let b = s.append("alice", "inbox", b"b\r\n", &Flags::new(), None).unwrap();
        assert!(b > a);
        s.expunge("alice", "INBOX", &[b]).unwrap();
        let c = s.append("alice", "INBOX", b"c\r\n", &Flags::new(), None).unwrap();
        assert!(c > b);
        assert_eq!(s.claim_recent("alice", "INBOX").unwrap(), vec![a, c]);
        assert!(s.claim_recent("alice", "INBOX").unwrap().is_empty());
    }

    #[test]
    fn hierarchy() {
        let s = MemoryStore::new();
        s.ensure_user("alice").unwrap();
        s.create_folder("alice", "Projects/2026/Q1").unwrap();
        assert!(matches!(s.create_folder("alice", "Projects"), Err(StoreError::FolderExists)));
        s.delete_folder("alice", "Projects").unwrap();
        let f = s.folders("alice").unwrap();
        assert!(f.iter().any(|f| f.name == "Projects" && !f.selectable));
        s.rename_folder("alice", "Projects/2026", "Archive/2026").unwrap();
        let names: Vec<String> = s.folders("alice").unwrap().into_iter().map(|f| f.name).collect();
        assert!(names.contains(&"Archive/2026/Q1".to_string()), "{names:?}");
        assert_eq!(names[0], "INBOX");
        s.append("alice", "INBOX", b"x\r\n", &Flags::new(), None).unwrap();
        s.rename_folder("alice", "INBOX", "Old").unwrap();
        assert_eq!(s.status("alice", "Old").unwrap().messages.len(), 1);
        assert!(s.status("alice", "INBOX").unwrap().messages.is_empty());
    }
}
