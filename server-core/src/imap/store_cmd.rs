//! STORE and UID STORE (RFC 3501 §6.4.6), with UNCHANGEDSINCE (RFC 7162 §3.1.3).

use super::response::{flag_list, untagged};
use super::sequence::SequenceSet;
use super::session::{ImapSession, Reply, State};
use super::sync::announce_keywords;
use crate::event::EventKind;
use crate::store::{Flag, FlagOp, Flags, Uid};

impl ImapSession {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        op: FlagOp,
        silent: bool,
        flags: &[String],
        unchanged_since: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Reply {
        if self.selected_read_only() {
            return Reply::no(Some("READ-ONLY"), "Mailbox is read-only");
        }
        let flags = match parse_flags(flags) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let indexes = match self.resolve(uid, set) {
            Ok(i) => i,
            Err(r) => return r,
        };
        if unchanged_since.is_some() {
            self.enable_condstore(out);
        }
        let condstore = self.condstore;
        // RFC 7162 §3.2.4: with QRESYNC every FETCH response carries the UID.
        let with_uid = uid || self.qresync;
        let host = self.host.clone();
        let State::Selected { user, mailbox } = &mut self.state else {
            return Reply::bad("No mailbox selected");
        };
        // RFC 7162 §3.1.3: messages changed since UNCHANGEDSINCE are not touched and are reported as MODIFIED.
        let (apply, modified): (Vec<usize>, Vec<usize>) = indexes
            .into_iter()
            .partition(|&i| unchanged_since.is_none_or(|n| mailbox.messages[i].meta.modseq <= n));
        let uids: Vec<Uid> = apply.iter().map(|&i| mailbox.messages[i].meta.uid).collect();
        let metas = match host.store.store_flags(user, &mailbox.name, &uids, op, &flags) {
            Ok(m) => m,
            Err(e) => return Self::store_error(e),
        };
        announce_keywords(mailbox, metas.iter().map(|m| &m.flags), out);
        for meta in metas {
            let Some(i) = apply.iter().copied().find(|&i| mailbox.messages[i].meta.uid == meta.uid) else {
                continue;
            };
            mailbox.messages[i].meta = meta;
            let snap = &mailbox.messages[i].meta;
            if !silent || condstore && unchanged_since.is_some() {
                let mut line = format!("* {} FETCH (", i + 1);
                if !silent {
                    line.push_str(&format!(
                        "FLAGS {}",
                        flag_list(&snap.flags, mailbox.recent.contains(&snap.uid))
                    ));
                }
                if with_uid {
                    line.push_str(&format!("{}UID {}", if silent { "" } else { " " }, snap.uid));
                }
                if condstore {
                    line.push_str(&format!(" MODSEQ ({})", snap.modseq));
                }
                let line = line.replace("( ", "(");
                untagged(out, &format!("{})", &line[2..]));
            }
        }
        if !uids.is_empty() {
            host.emit(EventKind::MailboxChanged {
                user: user.clone(),
                folder: mailbox.name.clone(),
                change: "flags".into(),
                uids: uids.clone(),
            });
        }
        if !modified.is_empty() {
            let numbers: Vec<u32> = modified
                .iter()
                .map(|&i| if uid { mailbox.messages[i].meta.uid } else { i as u32 + 1 })
                .collect();
            return Reply::ok_code(
                format!("MODIFIED {}", SequenceSet::compact(&numbers)),
                "Conditional STORE failed",
            );
        }
        Reply::ok("STORE completed")
    }
}

/// Flags from APPEND/STORE: system flags and keywords; `\Recent` is the server's and is ignored (§2.3.2).
pub(super) fn parse_flags(flags: &[String]) -> Result<Flags, Reply> {
    let mut out = Flags::new();
    for f in flags {
        if f.eq_ignore_ascii_case("\\Recent") {
            continue;
        }
        match Flag::from_imap(f) {
            Some(flag) => {
                out.insert(flag);
            }
            None => return Err(Reply::bad(format!("Invalid flag {f}"))),
        }
    }
    Ok(out)
}
