//! The folder on disk: its directories, crash leftovers in `tmp/`, the subscriptions file, and the rescan that
//! notices files other programs added, removed or renamed.

use super::*;

/// Creates `cur/`, `new/` and `tmp/` (and the directory itself) if missing.
pub(super) fn make_dirs(dir: &Path) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    Ok(())
}

/// Removes files that a crash left in tmp/.
pub(super) fn clean_tmp(dir: &Path) -> io::Result<()> {
    let now = SystemTime::now();
    for entry in fs::read_dir(dir.join("tmp"))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > TMP_MAX_AGE);
        if meta.is_file() && old {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

pub(super) fn remove_all(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
thread_local! {
    /// Makes the next appends on this thread fail after their file was published (a full disk, no file
    /// descriptors left), to test that nothing stays behind.
    pub(super) static FAIL_AFTER_PUBLISH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Replaces `dir/name` atomically and durably (see [`crate::durable`]).
pub(super) fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    crate::durable::replace(&dir.join(name), data)
}

pub(super) fn save_subscriptions(user_dir: &Path, subscribed: &BTreeSet<String>) -> io::Result<()> {
    // Valid names need no escaping; only what could break the line format is encoded.
    let text: String =
        subscribed.iter().map(|n| pct_encode(n, |_, c| c == '%' || c.is_control()) + "\n").collect();
    write_atomic(user_dir, SUBSCRIPTIONS, text.as_bytes())
}

/// Reconciles the cache with the files in `cur/` and `new/`: unknown files get the next UIDs (ordered by time),
/// vanished files are expunged, flags changed in file names are taken over. Records the changes in the UID list.
/// How old a directory's modification time must be before an unchanged time is taken to mean "nothing changed":
/// file systems stamp with a coarse clock, so a file added in the same tick as our scan could leave the time as it
/// was. One second covers every Linux file system's granularity but FAT's.
pub(super) const MTIME_TRUST: Duration = Duration::from_secs(1);

/// The modification times of `cur/` and `new/`, which change with every file added, removed or renamed there.
pub(super) fn dir_stamps(dir: &Path) -> Option<(SystemTime, SystemTime)> {
    let mtime = |sub: &str| fs::metadata(dir.join(sub)).and_then(|m| m.modified()).ok();
    Some((mtime("cur")?, mtime("new")?))
}

/// [`rescan`], skipped when neither `cur/` nor `new/` changed since the last scan: a status of a big folder then
/// costs two `stat` calls instead of reading the whole directory.
pub(super) fn rescan_if_changed(state: &mut FolderState, dir: &Path) -> io::Result<Vec<ChangeKind>> {
    let stamps = dir_stamps(dir);
    if stamps.is_some() && stamps == state.scanned {
        return Ok(Vec::new());
    }
    let changes = rescan(state, dir)?;
    // Our own operations change the times too; this scan saw their result, so the times taken before it are a
    // valid mark, provided they are old enough that no later change could share them.
    let trusted = SystemTime::now().checked_sub(MTIME_TRUST);
    state.scanned = stamps.filter(|(cur, new)| trusted.is_some_and(|t| *cur < t && *new < t));
    Ok(changes)
}

pub(super) fn rescan(state: &mut FolderState, dir: &Path) -> io::Result<Vec<ChangeKind>> {
    // base → (where, system flags from the name). cur/ is read first and wins if a base is in both.
    let mut found: HashMap<String, (String, FlagSet)> = HashMap::new();
    for sub in ["cur", "new"] {
        let entries = match fs::read_dir(dir.join(sub)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !entry.file_type()?.is_file() {
                continue;
            }
            let (base, flags) = split_info(&name);
            let flags = if sub == "new" && !name.contains(':') { FlagSet::new() } else { flags };
            found.entry(base.to_string()).or_insert_with(|| (format!("{sub}/{name}"), flags));
        }
    }
    let mut lines = String::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    let mut known = HashSet::new();
    for (uid, entry) in state.messages.iter_mut() {
        let Some((rel, sys)) = found.get(&entry.base) else {
            removed.push(*uid);
            continue;
        };
        known.insert(entry.base.clone());
        entry.rel = rel.clone();
        if !entry.meta.flags.same_system(sys) {
            entry.meta.flags = entry.meta.flags.with_system_of(sys);
            state.modseq += 1;
            entry.meta.modseq = state.modseq;
            lines.push_str(&m_line(entry));
            changed.push(*uid);
        }
    }
    if !removed.is_empty() {
        state.modseq += 1;
        for uid in &removed {
            state.messages.remove(uid);
            let _ = writeln!(lines, "X {uid} {}", state.modseq);
        }
    }
    let mut fresh = Vec::new();
    for (base, (rel, sys)) in found {
        if known.contains(&base) {
            continue;
        }
        let meta = match fs::metadata(dir.join(&rel)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        fresh.push((mtime, base, rel, sys, meta.len()));
    }
    // By time, then name (unique): the flags never decide.
    fresh.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut appended = Vec::new();
    for (mtime, base, rel, flags, size) in fresh {
        let uid = state.uid_next;
        state.uid_next += 1;
        state.modseq += 1;
        let meta = MessageMeta { uid, flags, internal_date: mtime.into(), size, modseq: state.modseq };
        let entry = Entry { meta, base, rel };
        lines.push_str(&m_line(&entry));
        state.messages.insert(uid, entry);
        appended.push(uid);
    }
    if let Some(journal) = append_journal(state, dir, &lines)? {
        journal.sync_data()?;
    }
    let mut changes = Vec::new();
    if !removed.is_empty() {
        changes.push(ChangeKind::Expunged { uids: removed });
    }
    if !changed.is_empty() {
        changes.push(ChangeKind::FlagsChanged { uids: changed });
    }
    if !appended.is_empty() {
        changes.push(ChangeKind::Appended { uids: appended });
    }
    Ok(changes)
}
