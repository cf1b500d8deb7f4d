//! FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2): message data items, with MODSEQ and CHANGEDSINCE (RFC 7162), and
//! QRESYNC's VANISHED modifier (§3.2.6).

use super::mime;
use super::parser::{FetchItem, Section, SectionText};
use super::response::{self, date_time, flag_list};
use super::sequence::SequenceSet;
use super::session::{ImapSession, Reply, State};
use super::sync::announce_keywords;
use crate::event::EventKind;
use crate::store::{Flag, FlagOp, Flags, MessageMeta};

impl ImapSession {
    pub(super) fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mut items: Vec<FetchItem>,
        changed_since: Option<u64>,
        vanished: bool,
        out: &mut Vec<u8>,
    ) -> Reply {
        // §3.2.6: VANISHED only with UID FETCH, CHANGEDSINCE, and QRESYNC enabled.
        if vanished && !(uid && changed_since.is_some() && self.qresync) {
            return Reply::bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
        }
        let indexes = match self.resolve(uid, set) {
            Ok(i) => i,
            Err(r) => return r,
        };
        // RFC 7162 §3.2.4: with QRESYNC every FETCH response carries the UID, since expunges no longer come with
        // sequence numbers the client could map.
        if (uid || self.qresync) && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
            self.enable_condstore(out);
            if !items.contains(&FetchItem::ModSeq) {
                items.push(FetchItem::ModSeq);
            }
        }
        let needs_content = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::Envelope
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Header
                    | FetchItem::Rfc822Text
                    | FetchItem::Body
                    | FetchItem::BodyStructure
                    | FetchItem::Section { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::BinarySize { .. }
                    | FetchItem::EmailId
                    | FetchItem::ThreadId
            )
        });
        let sets_seen = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::Rfc822
                    | FetchItem::Rfc822Text
                    | FetchItem::Section { peek: false, .. }
                    | FetchItem::Binary { peek: false, .. }
            )
        });
        let host = self.host.clone();
        let State::Selected { user, mailbox } = &mut self.state else {
            return Reply::bad("No mailbox selected");
        };
        if vanished && !set.is_saved() {
            // The UIDs of the set that are gone. Messages expunged but not yet reported are still in the snapshot
            // and count as present: VANISHED (EARLIER) does not renumber, and their EXPUNGE is still to come.
            let present: Vec<u32> = mailbox.messages.iter().map(|s| s.meta.uid).collect();
            let gone = set.gaps(&present, present.last().copied().unwrap_or(0));
            if !gone.is_empty() {
                response::untagged(out, &format!("VANISHED (EARLIER) {}", SequenceSet::ranges_text(&gone)));
            }
        }
        let (mut failed, mut unknown_cte) = (false, false);
        for i in indexes {
            let snap = &mailbox.messages[i];
            if changed_since.is_some_and(|n| snap.meta.modseq <= n) {
                continue;
            }
            let msg_uid = snap.meta.uid;
            let raw = if needs_content {
                // RFC 2180 §4.1.1: a message expunged by another session after our snapshot, which we may not
                // report during FETCH (RFC 3501 §7.4.1), is still served while the store keeps its bytes; only
                // when they are gone too is the answer NO (§4.1.2).
                match host.store.read(user, &mailbox.name, msg_uid) {
                    Ok(r) => Some(r),
                    Err(_) => {
                        match host.store.read_expunged(user, &mailbox.name, mailbox.uid_validity, msg_uid) {
                            Some(r) => Some(r),
                            None => {
                                failed = true;
                                continue;
                            }
                        }
                    }
                }
            } else {
                None
            };
            let mut flags_changed = false;
            if sets_seen && !mailbox.read_only && !snap.meta.flags.contains(&Flag::Seen) {
                let seen: Flags = [Flag::Seen].into_iter().collect();
                if let Ok(metas) = host.store.store_flags(user, &mailbox.name, &[msg_uid], FlagOp::Add, &seen)
                    && let Some(meta) = metas.into_iter().next()
                {
                    announce_keywords(mailbox, [&meta.flags], out);
                    mailbox.messages[i].meta = meta;
                    flags_changed = true;
                    host.emit(EventKind::MailboxChanged {
                        user: user.clone(),
                        folder: mailbox.name.clone(),
                        change: "flags".into(),
                        uids: vec![msg_uid],
                    });
                }
            }
            let snap = &mailbox.messages[i];
            let recent = mailbox.recent.contains(&msg_uid);
            let parsed = raw.as_deref().map(|r| mime::parse(r));
            let mut line = format!("* {} FETCH (", i + 1).into_bytes();
            let mut first = true;
            let mut sep = |line: &mut Vec<u8>| {
                if !first {
                    line.push(b' ');
                }
                first = false;
            };
            for item in &items {
                sep(&mut line);
                unknown_cte |= !write_item(
                    &mut line,
                    item,
                    &snap.meta,
                    recent,
                    raw.as_deref().map(|r| r.as_slice()),
                    parsed.as_ref(),
                );
            }
            // §6.4.5: a fetch that sets \Seen reports the new flags in the same response.
            if flags_changed && !items.contains(&FetchItem::Flags) {
                sep(&mut line);
                line.extend_from_slice(format!("FLAGS {}", flag_list(&snap.meta.flags, recent)).as_bytes());
            }
            line.extend_from_slice(b")\r\n");
            out.extend_from_slice(&line);
        }
        if failed {
            Reply::no(Some("EXPUNGEISSUED"), "Some messages were expunged meanwhile")
        } else if unknown_cte {
            Reply::no(Some("UNKNOWN-CTE"), "Unknown Content-Transfer-Encoding")
        } else {
            Reply::ok("FETCH completed")
        }
    }
}

/// Writes one FETCH data item; false when a BINARY item met a transfer encoding it cannot undo (written as NIL,
/// and the command answers `NO [UNKNOWN-CTE]`, RFC 3516 §4.3).
pub(super) fn write_item(
    line: &mut Vec<u8>,
    item: &FetchItem,
    meta: &MessageMeta,
    recent: bool,
    raw: Option<&[u8]>,
    parsed: Option<&mime::Parsed<'_>>,
) -> bool {
    let raw = raw.unwrap_or_default();
    match item {
        FetchItem::Uid => line.extend_from_slice(format!("UID {}", meta.uid).as_bytes()),
        FetchItem::Flags => {
            line.extend_from_slice(format!("FLAGS {}", flag_list(&meta.flags, recent)).as_bytes())
        }
        FetchItem::InternalDate => {
            line.extend_from_slice(format!("INTERNALDATE {}", date_time(&meta.internal_date)).as_bytes())
        }
        FetchItem::Rfc822Size => line.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes()),
        FetchItem::ModSeq => line.extend_from_slice(format!("MODSEQ ({})", meta.modseq).as_bytes()),
        FetchItem::EmailId => {
            line.extend_from_slice(format!("EMAILID ({})", super::objectid::email_id(raw)).as_bytes())
        }
        FetchItem::ThreadId => match parsed.and_then(super::objectid::thread_id) {
            Some(id) => line.extend_from_slice(format!("THREADID ({id})").as_bytes()),
            None => line.extend_from_slice(b"THREADID NIL"),
        },
        FetchItem::Envelope => {
            line.extend_from_slice(b"ENVELOPE ");
            if let Some(p) = parsed {
                mime::envelope(line, p);
            }
        }
        FetchItem::Body | FetchItem::BodyStructure => {
            let extended = matches!(item, FetchItem::BodyStructure);
            line.extend_from_slice(if extended { b"BODYSTRUCTURE " } else { b"BODY " });
            if let Some(p) = parsed {
                mime::body_structure(line, p, extended);
            }
        }
        FetchItem::Rfc822 => {
            line.extend_from_slice(b"RFC822 ");
            response::literal(line, raw);
        }
        FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
            let (name, text) = if matches!(item, FetchItem::Rfc822Header) {
                ("RFC822.HEADER ", SectionText::Header)
            } else {
                ("RFC822.TEXT ", SectionText::Text)
            };
            line.extend_from_slice(name.as_bytes());
            let section = Section { part: vec![], text: Some(text) };
            let data = parsed.and_then(|p| mime::section(p, &section));
            response::literal(line, data.as_deref().unwrap_or_default());
        }
        FetchItem::Section { section, partial, .. } => {
            line.extend_from_slice(b"BODY");
            line.extend_from_slice(section_name(section).as_bytes());
            let data = parsed.and_then(|p| mime::section(p, section));
            match (data, partial) {
                (None, _) => line.extend_from_slice(b" NIL"),
                (Some(data), None) => {
                    line.push(b' ');
                    response::literal(line, &data);
                }
                (Some(data), Some((origin, len))) => {
                    let start = (*origin as usize).min(data.len());
                    let end = start.saturating_add(*len as usize).min(data.len());
                    line.extend_from_slice(format!("<{origin}> ").as_bytes());
                    response::literal(line, &data[start..end]);
                }
            }
        }
        FetchItem::Binary { part, .. } | FetchItem::BinarySize { part } => {
            let (size, partial) = match item {
                FetchItem::Binary { partial, .. } => (false, *partial),
                _ => (true, None),
            };
            let name = part.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            line.extend_from_slice(format!("BINARY{}[{name}]", if size { ".SIZE" } else { "" }).as_bytes());
            let data = match parsed.map(|p| mime::binary(p, part)) {
                Some(Ok(data)) => data,
                Some(Err(mime::BinaryError::UnknownCte)) => {
                    line.extend_from_slice(b" NIL");
                    return false;
                }
                Some(Err(mime::BinaryError::NoPart)) | None => {
                    line.extend_from_slice(if size { b" 0" } else { b" NIL" });
                    return true;
                }
            };
            match partial {
                _ if size => line.extend_from_slice(format!(" {}", data.len()).as_bytes()),
                None => {
                    line.push(b' ');
                    response::literal8(line, &data);
                }
                Some((origin, len)) => {
                    let start = (origin as usize).min(data.len());
                    let end = start.saturating_add(len as usize).min(data.len());
                    line.extend_from_slice(format!("<{origin}> ").as_bytes());
                    response::literal8(line, &data[start..end]);
                }
            }
        }
    }
    true
}

/// `section` as echoed in a FETCH response (`[1.2.HEADER.FIELDS (FROM)]`).
pub(super) fn section_name(section: &Section) -> String {
    let mut s = String::from("[");
    s.push_str(&section.part.iter().map(u32::to_string).collect::<Vec<_>>().join("."));
    if let Some(text) = &section.text {
        if !section.part.is_empty() {
            s.push('.');
        }
        match text {
            SectionText::Header => s.push_str("HEADER"),
            SectionText::Text => s.push_str("TEXT"),
            SectionText::Mime => s.push_str("MIME"),
            SectionText::HeaderFields { not, fields } => {
                s.push_str(if *not { "HEADER.FIELDS.NOT (" } else { "HEADER.FIELDS (" });
                let names: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        if f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                            f.to_ascii_uppercase()
                        } else {
                            format!("\"{}\"", f.replace('\\', "\\\\").replace('"', "\\\""))
                        }
                    })
                    .collect();
                s.push_str(&names.join(" "));
                s.push(')');
            }
        }
    }
    s.push(']');
    s
}
