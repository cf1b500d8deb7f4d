//! The UID list: one line per message (UID, MODSEQ, size, internal date, keywords, file), a snapshot plus a
//! journal of appended lines, each write durable before it is relied on.

use super::*;

/// A keyword as one element of the flags field of a list line.
pub(super) fn field(s: &str) -> String {
    pct_encode(s, |i, c| {
        c == '%' || c == ',' || c.is_whitespace() || c.is_control() || i == 0 && "\\-".contains(c)
    })
}

/// A file name as the last field of a list line.
pub(super) fn file_field(s: &str) -> String {
    pct_encode(s, |_, c| c == '%' || c.is_whitespace() || c.is_control())
}

pub(super) fn flags_field(flags: &FlagSet) -> String {
    if flags.is_empty() {
        return "-".to_string();
    }
    let parts: Vec<String> =
        flags.system().map(|f| f.as_imap().to_string()).chain(flags.keywords().map(field)).collect();
    parts.join(",")
}

pub(super) fn parse_flags(s: &str) -> Option<Flags> {
    if s == "-" {
        return Some(Flags::new());
    }
    s.split(',')
        .map(
            |part| {
                if part.starts_with('\\') {
                    Flag::from_imap(part)
                } else {
                    pct_decode(part).map(Flag::Keyword)
                }
            },
        )
        .collect()
}

/// The `M` line of a message.
pub(super) fn m_line(e: &Entry) -> String {
    format!(
        "M {} {} {} {} {} {}\n",
        e.meta.uid,
        e.meta.modseq,
        e.meta.size,
        e.meta.internal_date.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        flags_field(&e.meta.flags),
        file_field(&e.base)
    )
}

pub(super) fn parse_m(line: &str) -> Option<Entry> {
    let mut f = line.splitn(7, ' ');
    (f.next()? == "M").then_some(())?;
    let uid: Uid = f.next()?.parse().ok().filter(|u| *u > 0)?;
    let modseq = f.next()?.parse().ok()?;
    let size = f.next()?.parse().ok()?;
    let internal_date = DateTime::parse_from_rfc3339(f.next()?).ok()?.with_timezone(&Utc);
    let flags = FlagSet::from(&parse_flags(f.next()?)?);
    let base = pct_decode(f.next()?).filter(|b| !b.is_empty() && !b.contains(['/', ':']))?;
    Some(Entry { meta: MessageMeta { uid, flags, internal_date, size, modseq }, base, rel: String::new() })
}

/// Reads a UID list. On failure, says the old UIDVALIDITY if at least the header could be read.
pub(super) fn parse_uidlist(text: &str) -> Result<FolderState, Option<u32>> {
    // Only complete lines count: a torn last line is an append that never returned.
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut lines = complete.lines();
    let header: Vec<&str> = lines.next().ok_or(None)?.split(' ').collect();
    let [magic, "1", validity, uid_next, modseq] = header[..] else {
        return Err(None);
    };
    if magic != "mailroom-uidlist" {
        return Err(None);
    }
    let validity: u32 = validity.parse().ok().filter(|v| *v > 0).ok_or(None)?;
    let bad = Some(validity);
    let mut state = FolderState::new(validity);
    state.uid_next = uid_next.parse().ok().filter(|u| *u > 0).ok_or(bad)?;
    state.modseq = modseq.parse().map_err(|_| bad)?;
    for line in lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        state.journal_lines += 1;
        if let Some(rest) = line.strip_prefix("X ") {
            let (uid, modseq) = rest.split_once(' ').ok_or(bad)?;
            let uid: Uid = uid.parse().map_err(|_| bad)?;
            let modseq: u64 = modseq.parse().map_err(|_| bad)?;
            state.messages.remove(&uid);
            state.uid_next = state.uid_next.max(uid.saturating_add(1));
            state.modseq = state.modseq.max(modseq);
        } else {
            let entry = parse_m(line).ok_or(bad)?;
            state.uid_next = state.uid_next.max(entry.meta.uid.saturating_add(1));
            state.modseq = state.modseq.max(entry.meta.modseq);
            state.messages.insert(entry.meta.uid, entry);
        }
    }
    // Lines beyond a snapshot's own count as journal: the next compaction may come sooner, never later.
    state.journal_lines = state.journal_lines.saturating_sub(state.messages.len());
    Ok(state)
}

/// A UID list parsed and written back as a snapshot: the round trip `fuzz/fuzz_targets/maildir_uidlist.rs`
/// checks. Public for that target only.
#[doc(hidden)]
pub fn uidlist_snapshot(text: &str) -> Result<String, Option<u32>> {
    parse_uidlist(text).map(|state| snapshot_text(&state))
}

/// The whole list as a snapshot: the header and one `M` line per message.
pub(super) fn snapshot_text(state: &FolderState) -> String {
    let mut text = format!(
        "mailroom-uidlist 1 {} {} {}\n# uid modseq size internaldate flags file\n",
        state.uid_validity, state.uid_next, state.modseq
    );
    for entry in state.messages.values() {
        text.push_str(&m_line(entry));
    }
    text
}

/// Writes the whole list atomically and starts a fresh journal.
pub(super) fn write_snapshot(state: &mut FolderState, dir: &Path) -> io::Result<()> {
    let text = snapshot_text(state);
    write_atomic(dir, UIDLIST, text.as_bytes())?;
    state.journal = None;
    state.journal_lines = 0;
    Ok(())
}

/// Appends journal lines to the list (or writes a snapshot when the journal is long or the file vanished).
/// Returns the file to fdatasync when the caller is ready; None when the data is already durable.
pub(super) fn append_journal(
    state: &mut FolderState,
    dir: &Path,
    lines: &str,
) -> io::Result<Option<Arc<File>>> {
    if lines.is_empty() {
        return Ok(None);
    }
    let count = lines.matches('\n').count();
    if state.journal_lines + count > COMPACT_SLACK + state.messages.len() {
        write_snapshot(state, dir)?;
        return Ok(None);
    }
    let journal = match &state.journal {
        Some(file) => file.clone(),
        None => match OpenOptions::new().append(true).open(dir.join(UIDLIST)) {
            Ok(file) => {
                let file = Arc::new(file);
                state.journal = Some(file.clone());
                file
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_snapshot(state, dir)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        },
    };
    // One write call per change, so a crash tears at most the last line.
    (&*journal).write_all(lines.as_bytes())?;
    state.journal_lines += count;
    Ok(Some(journal))
}
