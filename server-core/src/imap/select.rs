//! The selected mailbox: SELECT and EXAMINE (RFC 3501 §6.3.1-2) with QRESYNC's resynchronisation (RFC 7162
//! §3.2.5), leaving it (CLOSE, UNSELECT), EXPUNGE and UID EXPUNGE (§6.4.3, RFC 4315), and turning sequence sets
//! into messages of the snapshot.

use super::parser::{MailboxName, QresyncParams};
use super::response::{Status, untagged, untagged_status};
use super::sequence::{SeqNumber, SequenceSet};
use super::session::{ImapSession, Mailbox, Reply, Snap, State};
use super::sync::write_flags;
use crate::store::{Flag, FolderStatus, Uid};
use std::collections::HashSet;

impl ImapSession {
    pub(super) fn select(
        &mut self,
        raw: &MailboxName,
        read_only: bool,
        condstore: bool,
        qresync: Option<&QresyncParams>,
        out: &mut Vec<u8>,
    ) -> Reply {
        // RFC 7162 §3.2.5: QRESYNC parameters mean something only once the client enabled it; a BAD command
        // changes nothing, so the selected mailbox stays selected.
        if qresync.is_some() && !self.qresync {
            return Reply::bad("ENABLE QRESYNC first");
        }
        // §6.3.1: a SELECT, even a failed one, first closes the selected mailbox (without expunging). RFC 9051
        // §6.3.2 and RFC 7162 §3.2.11 have the server say so, so that the client knows which responses belong to
        // which mailbox.
        if (self.rev2 || self.qresync) && matches!(self.state, State::Selected { .. }) {
            untagged_status(out, Status::Ok, Some("CLOSED"), "Previous mailbox closed");
        }
        self.deselect();
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        // user() is Some: execute only calls us when authenticated.
        let user = self.user().unwrap_or_default().to_string();
        let store = self.host.store.clone();
        // Counted first: a change made between the count and the snapshot is looked for again, needlessly but
        // harmlessly; one made between the snapshot and the count would go unnoticed.
        let change_count = store.change_count();
        let status = match store.status(&user, &name) {
            Ok(s) => s,
            Err(e) => return Self::store_error(e),
        };
        // RFC 9051 has no \Recent: an IMAP4rev2 session leaves the messages recent for IMAP4rev1 sessions.
        let recent: HashSet<Uid> = if read_only || self.rev2 {
            HashSet::new()
        } else {
            store.claim_recent(&user, &name).unwrap_or_default().into_iter().collect()
        };
        // EXAMINE claims nothing, but reports how many messages are still recent for the next SELECT.
        let recent_count =
            if read_only { store.recent_count(&user, &name).unwrap_or(0) } else { recent.len() };
        self.condstore |= condstore;
        let mut keywords: Vec<String> =
            status.messages.iter().flat_map(|m| m.flags.keywords()).map(str::to_string).collect();
        keywords.sort();
        keywords.dedup();
        write_flags(out, &keywords, read_only);
        untagged(out, &format!("{} EXISTS", status.messages.len()));
        if self.rev2 {
            // RFC 9051 §6.3.2: a LIST response with the mailbox's attributes, and neither RECENT nor [UNSEEN].
            if let Ok(folders) = store.folders(&user)
                && let Some(f) = folders.iter().find(|f| f.name == name)
            {
                let mut line =
                    format!("* LIST ({}) \"/\" ", super::mailboxes::attributes(&folders, f).join(" "))
                        .into_bytes();
                self.put_mailbox(&mut line, &name);
                line.extend_from_slice(b"\r\n");
                out.extend_from_slice(&line);
            }
        } else {
            untagged(out, &format!("{recent_count} RECENT"));
            if let Some(i) = status.messages.iter().position(|m| !m.flags.contains(&Flag::Seen)) {
                untagged_status(out, Status::Ok, Some(&format!("UNSEEN {}", i + 1)), "First unseen");
            }
        }
        untagged_status(out, Status::Ok, Some(&format!("UIDVALIDITY {}", status.uid_validity)), "UIDs valid");
        untagged_status(out, Status::Ok, Some(&format!("UIDNEXT {}", status.uid_next)), "Predicted next UID");
        // RFC 8474 §4.2.
        let id = format!("MAILBOXID ({})", super::objectid::mailbox_id(status.uid_validity));
        untagged_status(out, Status::Ok, Some(&id), "Ok");
        let modseq = status.highest_modseq.max(1);
        untagged_status(out, Status::Ok, Some(&format!("HIGHESTMODSEQ {modseq}")), "Highest");
        if let Some(q) = qresync.filter(|q| q.uid_validity == status.uid_validity) {
            resynchronise(q, &status, &recent, out);
        }
        let mailbox = Mailbox {
            name,
            read_only,
            uid_validity: status.uid_validity,
            messages: status.messages.into_iter().map(|meta| Snap { meta, expunged: false }).collect(),
            recent,
            saved: Vec::new(),
            contexts: Vec::new(),
            change_count,
            expunge_pending: false,
            keywords,
            version: (status.uid_validity, status.highest_modseq),
        };
        self.state = State::Selected { user, mailbox: Box::new(mailbox) };
        let (code, verb) = if read_only { ("READ-ONLY", "EXAMINE") } else { ("READ-WRITE", "SELECT") };
        Reply::ok_code(code.into(), &format!("{verb} completed"))
    }

    pub(super) fn deselect(&mut self) {
        if let State::Selected { user, .. } = &self.state {
            self.state = State::Authenticated { user: user.clone() };
        }
    }

    pub(super) fn selected_read_only(&self) -> bool {
        matches!(&self.state, State::Selected { mailbox, .. } if mailbox.read_only)
    }

    /// Indexes into the snapshot named by a sequence set (message numbers, or UIDs for UID commands), skipping
    /// messages expunged underneath us. A message number past the end is an error; a UID that does not exist is
    /// silently ignored (§6.4.8).
    pub(super) fn resolve(&self, uid: bool, set: &SequenceSet) -> Result<Vec<usize>, Reply> {
        let State::Selected { mailbox, .. } = &self.state else {
            return Ok(Vec::new());
        };
        let msgs = &mailbox.messages;
        let indexes = if set.is_saved() {
            // `$` (RFC 5182 §2.1): the saved UIDs, whichever the command; those expunged since are gone.
            (0..msgs.len()).filter(|&i| mailbox.saved.binary_search(&msgs[i].meta.uid).is_ok()).collect()
        } else if uid {
            set.select(msgs, |s| s.meta.uid)
        } else {
            let count = msgs.len() as u32;
            let too_big = set.0.iter().any(|&(a, b)| {
                [a, b].iter().any(|n| matches!(n, super::sequence::SeqNumber::Value(v) if *v > count))
            });
            if too_big {
                return Err(Reply::bad("Message sequence number out of range"));
            }
            (0..msgs.len()).filter(|&i| set.contains(i as u32 + 1, count)).collect()
        };
        Ok(indexes.into_iter().filter(|&i| !msgs[i].expunged).collect())
    }

    pub(super) fn expunge_deleted(&mut self, within: Option<&SequenceSet>) {
        let State::Selected { user, mailbox } = &self.state else {
            return;
        };
        let uids: Vec<Uid> = mailbox
            .messages
            .iter()
            .filter(|s| !s.expunged && s.meta.flags.contains(&Flag::Deleted))
            .filter(|s| {
                within.is_none_or(|set| match set.is_saved() {
                    true => mailbox.saved.binary_search(&s.meta.uid).is_ok(),
                    false => set.contains(s.meta.uid, mailbox.messages.last().map_or(0, |l| l.meta.uid)),
                })
            })
            .map(|s| s.meta.uid)
            .collect();
        if uids.is_empty() {
            return;
        }
        // Only messages the store still marks \Deleted (another device may have undeleted one since).
        let still: Vec<Uid> = match self.host.store.status(user, &mailbox.name) {
            Ok(st) => st
                .messages
                .iter()
                .filter(|m| m.flags.contains(&Flag::Deleted) && uids.binary_search(&m.uid).is_ok())
                .map(|m| m.uid)
                .collect(),
            Err(_) => return,
        };
        let name = mailbox.name.clone();
        if let Ok(removed) = self.host.store.expunge(user, &name, &still)
            && !removed.is_empty()
        {
            self.emit_change(&name, "expunged", removed);
        }
    }
}

/// What a client with a cache of this mailbox missed (RFC 7162 §3.2.5.2): the UIDs it knows that are gone, as
/// `VANISHED (EARLIER)`, then UID, FLAGS and MODSEQ of every message changed since its mod-sequence.
///
/// The store keeps no record of when each message was expunged, so the VANISHED set is every known UID that no
/// longer exists, including ones expunged before the client's mod-sequence; §3.2.5.2 allows UIDs the client
/// already knew were gone. `seq-match-data` only helps a server narrow that set, so it is not needed here.
fn resynchronise(q: &QresyncParams, status: &FolderStatus, recent: &HashSet<Uid>, out: &mut Vec<u8>) {
    let present: Vec<Uid> = status.messages.iter().map(|m| m.uid).collect();
    // Known UIDs default to every UID handed out so far (below UIDNEXT).
    let below_next = status.uid_next.saturating_sub(1);
    let all = SequenceSet(vec![(SeqNumber::Value(1), SeqNumber::Largest)]);
    let known = q.known_uids.as_ref().unwrap_or(&all);
    let gone = known.gaps(&present, below_next);
    if !gone.is_empty() {
        untagged(out, &format!("VANISHED (EARLIER) {}", SequenceSet::ranges_text(&gone)));
    }
    for (i, m) in status.messages.iter().enumerate() {
        if m.modseq > q.modseq {
            let flags = super::response::flag_list(&m.flags, recent.contains(&m.uid));
            untagged(out, &format!("{} FETCH (UID {} FLAGS {flags} MODSEQ ({}))", i + 1, m.uid, m.modseq));
        }
    }
}
