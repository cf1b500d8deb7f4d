//! Keeping devices in sync: what changed in the selected mailbox, told at the moments IMAP allows, and IDLE.
//!
//! A selected session keeps its own snapshot of the mailbox: the UID and flags of each message, in sequence-number
//! order. The store is shared, so other sessions (another device, SMTP delivery, POP3) change it underneath. After
//! each command, and at once during IDLE (RFC 2177), the session compares its snapshot with the store and tells the
//! client what changed: `EXISTS` for new mail, unsolicited `FETCH (FLAGS ...)` for flag changes, and `EXPUNGE` for
//! removed messages, except while answering FETCH, STORE or SEARCH, where RFC 3501 §7.4.1 forbids EXPUNGE because
//! it would shift the sequence numbers the client is reading. An expunged message keeps its place in the snapshot
//! until it can be reported. After `ENABLE QRESYNC` removed messages are told as one `VANISHED` with their UIDs
//! (RFC 7162 §3.2.10), under the same rule.

use super::response::{Status, flag_list, tagged, untagged, untagged_status};
use super::sequence::SequenceSet;
use super::session::{ImapSession, Mailbox, Snap, State};
use crate::session::Flow;
use crate::store::{FlagSet, MessageMeta, StoreError, Uid};

impl ImapSession {
    pub(super) fn idle_input(&mut self, tag: String, line: &[u8], out: &mut Vec<u8>) -> Flow {
        let text = String::from_utf8_lossy(line);
        if text.trim_end_matches(['\r', '\n']).eq_ignore_ascii_case("DONE") {
            self.sync(out, true, false);
            tagged(out, &tag, Status::Ok, None, "IDLE terminated");
            self.closing()
        } else {
            tagged(out, &tag, Status::Bad, None, "Expected DONE to end IDLE");
            self.count_error(out)
        }
    }

    /// Tells the client what changed in the selected mailbox since it last heard (§7.4.1, §5.2). The store is
    /// consulted only when its change count moved since the last look, or when `poll` asks to look anyway.
    pub(super) fn sync(&mut self, out: &mut Vec<u8>, allow_expunge: bool, poll: bool) {
        let (condstore, rev2, qresync) = (self.condstore, self.rev2, self.qresync);
        let host = self.host.clone();
        let State::Selected { user, mailbox } = &mut self.state else {
            return;
        };
        // Read before the folder, as at SELECT: a change made in between is counted again next time.
        let count = host.store.change_count();
        // Something changed somewhere (any user, any folder), or the client polls (NOOP, CHECK): files may have been
        // changed by hand (mutt, `mv`), which only the disk tells. The store rereads the directories if their times
        // changed; the version says whether this folder changed at all, without copying a list of every message.
        let dirty = (count != mailbox.change_count || poll)
            && host.store.folder_version(user, &mailbox.name).is_none_or(|v| v != mailbox.version);
        mailbox.change_count = count;
        if !dirty {
            if allow_expunge && mailbox.expunge_pending {
                report_expunges(mailbox, qresync, out);
            }
            return;
        }
        let status = match host.store.status(user, &mailbox.name) {
            Ok(status) if status.uid_validity == mailbox.uid_validity => status,
            // Deleted, renamed, or deleted and recreated (a new UIDVALIDITY) by another session: the snapshot means
            // nothing now, and RFC 3501 has no response that deselects. As Dovecot does, say BYE (§7.1.5: the
            // server is closing the connection) and close once the command's tagged reply is out.
            Ok(_) | Err(StoreError::NoSuchFolder) => {
                untagged(out, "BYE Selected mailbox was deleted, renamed or replaced; please reconnect");
                self.close_after_reply = true;
                return;
            }
            Err(_) => return,
        };
        mailbox.version = (status.uid_validity, status.highest_modseq);
        announce_keywords(mailbox, status.messages.iter().map(|m| &m.flags), out);
        // Mark what vanished, report flag changes of what remains.
        let mut current = status.messages.iter().peekable();
        for (i, snap) in mailbox.messages.iter_mut().enumerate() {
            while current.peek().is_some_and(|m| m.uid < snap.meta.uid) {
                current.next();
            }
            match current.peek() {
                Some(m) if m.uid == snap.meta.uid => {
                    if m.flags != snap.meta.flags && !snap.expunged {
                        let recent = mailbox.recent.contains(&m.uid);
                        let mut line = format!("{} FETCH (FLAGS {}", i + 1, flag_list(&m.flags, recent));
                        // Clients that cannot map numbers to UIDs still learn which message it was.
                        line.push_str(&format!(" UID {}", m.uid));
                        if condstore {
                            line.push_str(&format!(" MODSEQ ({})", m.modseq));
                        }
                        line.push(')');
                        untagged(out, &line);
                    }
                    snap.meta = (*m).clone();
                }
                _ => {
                    snap.expunged = true;
                    mailbox.expunge_pending = true;
                }
            }
        }
        if allow_expunge && mailbox.expunge_pending {
            report_expunges(mailbox, qresync, out);
        }
        let last = mailbox.messages.last().map_or(0, |s| s.meta.uid);
        let new: Vec<MessageMeta> = status.messages.iter().filter(|m| m.uid > last).cloned().collect();
        if !new.is_empty() {
            // RFC 9051 has no \Recent: an IMAP4rev2 session claims none and sends no RECENT.
            if !mailbox.read_only && !rev2 {
                let claimed = host.store.claim_recent(user, &mailbox.name).unwrap_or_default();
                mailbox.recent.extend(claimed);
            }
            mailbox.messages.extend(new.into_iter().map(|meta| Snap { meta, expunged: false }));
            untagged(out, &format!("{} EXISTS", mailbox.messages.len()));
            if !rev2 {
                let recent = mailbox.messages.iter().filter(|s| mailbox.recent.contains(&s.meta.uid)).count();
                untagged(out, &format!("{recent} RECENT"));
            }
        }
    }
}

/// Writes untagged FLAGS and PERMANENTFLAGS (RFC 3501 §7.2.6, §7.1) for the system flags and `keywords`.
pub(super) fn write_flags(out: &mut Vec<u8>, keywords: &[String], read_only: bool) {
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    let kw = keywords.iter().fold(String::new(), |acc, k| acc + " " + k);
    untagged(out, &format!("FLAGS ({system}{kw})"));
    if read_only {
        untagged_status(out, Status::Ok, Some("PERMANENTFLAGS ()"), "No permanent flags permitted");
    } else {
        let perm = format!("PERMANENTFLAGS ({system}{kw} \\*)");
        untagged_status(out, Status::Ok, Some(&perm), "Flags permitted");
    }
}

/// RFC 3501 §7.2.6: before a FETCH shows a keyword the client has not heard of (set by this session or another
/// one, or carried by new mail), an untagged FLAGS lists it; call before writing responses with these flags.
pub(super) fn announce_keywords<'f>(
    mailbox: &mut Mailbox,
    flags: impl IntoIterator<Item = &'f FlagSet>,
    out: &mut Vec<u8>,
) {
    let mut added = false;
    for k in flags.into_iter().flat_map(FlagSet::keywords) {
        if let Err(at) = mailbox.keywords.binary_search_by(|known| known.as_str().cmp(k)) {
            mailbox.keywords.insert(at, k.to_string());
            added = true;
        }
    }
    if added {
        write_flags(out, &mailbox.keywords, mailbox.read_only);
    }
}

/// Sends EXPUNGE (or, with QRESYNC, one VANISHED) for every message of the snapshot that is gone from the store,
/// and forgets them.
pub(super) fn report_expunges(mailbox: &mut Mailbox, qresync: bool, out: &mut Vec<u8>) {
    // RFC 5267 §4.3: UPDATE results lose the messages first, while their numbers still mean them.
    super::search_cmd::remove_expunged_from_contexts(mailbox, out);
    if qresync {
        let uids: Vec<Uid> = mailbox.messages.iter().filter(|s| s.expunged).map(|s| s.meta.uid).collect();
        untagged(out, &format!("VANISHED {}", SequenceSet::compact(&uids)));
        mailbox.messages.retain(|s| !s.expunged);
        mailbox.expunge_pending = false;
        return;
    }
    // Highest first: each EXPUNGE renumbers only the messages after it, which are already reported.
    for i in (0..mailbox.messages.len()).rev() {
        if mailbox.messages[i].expunged {
            untagged(out, &format!("{} EXPUNGE", i + 1));
        }
    }
    mailbox.messages.retain(|s| !s.expunged);
    mailbox.expunge_pending = false;
}
