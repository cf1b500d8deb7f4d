//! The SEARCH command (RFC 3501 §6.4.4) and its ESEARCH form (RFC 4731): which messages of the snapshot match,
//! and how the answer is written. What a key means is in [`super::search`].

use super::parser::{SearchKey, SearchReturn};
use super::response::{self, untagged};
use super::session::{ImapSession, Reply, State};
use super::{mime, search};

impl ImapSession {
    pub(super) fn search(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<&str>,
        key: &SearchKey,
        ret: Option<&[SearchReturn]>,
        out: &mut Vec<u8>,
    ) -> Reply {
        let save = ret.is_some_and(|r| r.contains(&SearchReturn::Save));
        if let Some(cs) = charset
            && !matches!(cs, "UTF-8" | "US-ASCII")
        {
            // RFC 5182 §2.1: a SEARCH that fails leaves `$` empty.
            if save && let State::Selected { mailbox, .. } = &mut self.state {
                mailbox.saved.clear();
            }
            return Reply::no(Some("BADCHARSET (UTF-8 US-ASCII)"), "Unsupported charset");
        }
        if search::uses_modseq(key) {
            self.enable_condstore(out);
        }
        let matches = self.matching(key);
        let rev2 = self.rev2;
        let State::Selected { mailbox, .. } = &mut self.state else {
            return Reply::bad("No mailbox selected");
        };
        if let Some(ret) = ret
            && save
        {
            // RFC 5182 §2.4: with MIN or MAX and neither ALL nor COUNT, only those are kept.
            let only_ends = !ret.contains(&SearchReturn::All) && !ret.contains(&SearchReturn::Count);
            let kept: Vec<usize> = match (matches.first(), matches.last()) {
                (Some(&first), Some(&last)) if only_ends => {
                    let mut ends = Vec::new();
                    if ret.contains(&SearchReturn::Min) {
                        ends.push(first);
                    }
                    if ret.contains(&SearchReturn::Max) && !ends.contains(&last) {
                        ends.push(last);
                    }
                    if ends.is_empty() { matches.clone() } else { ends }
                }
                _ => matches.clone(),
            };
            // Snapshot order is UID order, so these are ascending.
            mailbox.saved = kept.iter().map(|&i| mailbox.messages[i].meta.uid).collect();
        }
        // (number or UID, modseq) of each match, ascending.
        let hits: Vec<(u32, u64)> = matches
            .into_iter()
            .map(|i| {
                let meta = &mailbox.messages[i].meta;
                (if uid { meta.uid } else { i as u32 + 1 }, meta.modseq)
            })
            .collect();
        let modseq = search::uses_modseq(key);
        match ret {
            // RFC 5182 §2.4: SAVE alone answers nothing untagged.
            Some([SearchReturn::Save]) => {}
            Some(ret) => esearch(out, tag, uid, ret, &hits, modseq),
            // RFC 9051 §6.4.4: IMAP4rev2 has no SEARCH response; a SEARCH without RETURN means RETURN (ALL).
            None if rev2 => esearch(out, tag, uid, &[SearchReturn::All], &hits, modseq),
            None => {
                let mut line = String::from("SEARCH");
                for (h, _) in &hits {
                    line.push_str(&format!(" {h}"));
                }
                if modseq && let Some(highest) = hits.iter().map(|&(_, m)| m).max() {
                    line.push_str(&format!(" (MODSEQ {highest})"));
                }
                untagged(out, &line);
            }
        }
        Reply::ok("SEARCH completed")
    }

    /// Indexes into the snapshot of the messages that match `key` (not those expunged underneath us).
    pub(super) fn matching(&self, key: &SearchKey) -> Vec<usize> {
        let State::Selected { user, mailbox } = &self.state else {
            return Vec::new();
        };
        let content = search::needs_content(key);
        let max_seq = mailbox.messages.len() as u32;
        let max_uid = mailbox.messages.last().map_or(0, |s| s.meta.uid);
        let mut hits = Vec::new();
        for (i, snap) in mailbox.messages.iter().enumerate() {
            if snap.expunged {
                continue;
            }
            let raw =
                if content { self.host.store.read(user, &mailbox.name, snap.meta.uid).ok() } else { None };
            let parsed = raw.as_deref().map(|r| mime::parse(r));
            let candidate = search::Candidate {
                seq: i as u32 + 1,
                meta: &snap.meta,
                recent: mailbox.recent.contains(&snap.meta.uid),
                max_seq,
                max_uid,
                saved: &mailbox.saved,
                parsed: parsed.as_ref(),
            };
            if search::matches(key, &candidate) {
                hits.push(i);
            }
        }
        hits
    }
}

/// Writes the ESEARCH response (RFC 4731 §3.1, §4):
///
/// ```text
/// esearch-response  = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
/// search-correlator = SP "(" "TAG" SP tag-string ")"
/// search-return-data = "MIN" SP nz-number / "MAX" SP nz-number / "ALL" SP sequence-set / "COUNT" SP number
/// ```
///
/// `hits` are in the order to report (ascending, or sort order for ESORT). `RETURN ()` means ALL; with no match, MIN, MAX and ALL are left out and COUNT is 0. When the search used MODSEQ,
/// RFC 7162 §3.1.5 adds the highest mod-sequence of the messages returned: those of MIN and MAX when only they
/// were asked for, else of all matches.
pub(super) fn esearch(
    out: &mut Vec<u8>,
    tag: &str,
    uid: bool,
    ret: &[SearchReturn],
    hits: &[(u32, u64)],
    modseq: bool,
) {
    let ret = if ret.is_empty() { &[SearchReturn::All][..] } else { ret };
    let mut line = b"* ESEARCH (TAG ".to_vec();
    response::string(&mut line, tag.as_bytes());
    line.push(b')');
    if uid {
        line.extend_from_slice(b" UID");
    }
    let (first, last) = (hits.first(), hits.last());
    let mut returned: Vec<u64> = Vec::new();
    if ret.contains(&SearchReturn::Min)
        && let Some(&(n, m)) = first
    {
        line.extend_from_slice(format!(" MIN {n}").as_bytes());
        returned.push(m);
    }
    if ret.contains(&SearchReturn::Max)
        && let Some(&(n, m)) = last
    {
        line.extend_from_slice(format!(" MAX {n}").as_bytes());
        returned.push(m);
    }
    let all_kinds = ret.contains(&SearchReturn::All) || ret.contains(&SearchReturn::Count);
    if ret.contains(&SearchReturn::All) && !hits.is_empty() {
        line.extend_from_slice(format!(" ALL {}", runs(hits.iter().map(|&(n, _)| n))).as_bytes());
    }
    if ret.contains(&SearchReturn::Count) {
        line.extend_from_slice(format!(" COUNT {}", hits.len()).as_bytes());
    }
    let highest = if all_kinds { hits.iter().map(|&(_, m)| m).max() } else { returned.into_iter().max() };
    if modseq && let Some(highest) = highest {
        line.extend_from_slice(format!(" MODSEQ {highest}").as_bytes());
    }
    line.extend_from_slice(b"\r\n");
    out.extend_from_slice(&line);
}

/// A sequence-set of `numbers` in their order (ascending for SEARCH, sort order for ESORT, RFC 5267 §3.1): each
/// run of consecutive ascending numbers as `a:b`.
pub(super) fn runs(numbers: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    let mut run: Option<(u32, u32)> = None;
    let flush = |out: &mut String, (a, b): (u32, u32)| {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&if a == b { a.to_string() } else { format!("{a}:{b}") });
    };
    for n in numbers {
        run = match run {
            Some((a, b)) if b.checked_add(1) == Some(n) => Some((a, n)),
            Some(r) => {
                flush(&mut out, r);
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}
