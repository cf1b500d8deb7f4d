//! The SEARCH command (RFC 3501 §6.4.4) and its ESEARCH form (RFC 4731): which messages of the snapshot match,
//! and how the answer is written. What a key means is in [`super::search`].

use super::parser::{SearchKey, SearchReturn};
use super::response::{self, untagged};
use super::session::{ImapSession, Mailbox, Reply, Snap, State};
use super::{mime, search};
use crate::store::Uid;

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
            && ret.contains(&SearchReturn::Update)
        {
            // Each context costs a search after every command: a few are plenty for a client.
            if mailbox.contexts.len() >= MAX_CONTEXTS {
                mailbox.contexts.remove(0);
            }
            let result = matches.iter().map(|&i| mailbox.messages[i].meta.uid).collect();
            mailbox.contexts.push(SearchContext { tag: tag.to_string(), uid, key: key.clone(), result });
        }
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

/// Most UPDATE searches a session keeps (RFC 5267 §4.2); the oldest gives way.
const MAX_CONTEXTS: usize = 8;

/// A search whose result the client is kept told of (RFC 5267 §4.2, `RETURN (UPDATE)`).
pub(super) struct SearchContext {
    /// The tag of the SEARCH, which the updates carry.
    pub(super) tag: String,
    /// UID SEARCH: updates name UIDs, else sequence numbers.
    pub(super) uid: bool,
    pub(super) key: SearchKey,
    /// The UIDs in the result as the client knows it, ascending.
    pub(super) result: Vec<Uid>,
}

impl ImapSession {
    /// Tells the client how the results of its UPDATE searches changed (RFC 5267 §4.3): `REMOVEFROM` for messages
    /// that left, `ADDTO` for those that entered, each with the position of the first and the messages' numbers.
    /// Messages expunged but not yet reported stay in: `report_expunges` removes them just before their EXPUNGE.
    pub(super) fn update_contexts(&mut self, out: &mut Vec<u8>) {
        let keys: Vec<SearchKey> = match &self.state {
            State::Selected { mailbox, .. } if !mailbox.contexts.is_empty() => {
                mailbox.contexts.iter().map(|c| c.key.clone()).collect()
            }
            _ => return,
        };
        let hits: Vec<Vec<usize>> = keys.iter().map(|k| self.matching(k)).collect();
        let State::Selected { mailbox, .. } = &mut self.state else { return };
        for (context, hits) in mailbox.contexts.iter_mut().zip(hits) {
            let messages = &mailbox.messages;
            let mut now: Vec<Uid> = hits.iter().map(|&i| messages[i].meta.uid).collect();
            now.extend(context.result.iter().copied().filter(|u| {
                messages.binary_search_by_key(u, |s| s.meta.uid).is_ok_and(|i| messages[i].expunged)
            }));
            now.sort_unstable();
            let removed: Vec<Uid> =
                context.result.iter().copied().filter(|u| now.binary_search(u).is_err()).collect();
            let added: Vec<Uid> =
                now.iter().copied().filter(|u| context.result.binary_search(u).is_err()).collect();
            if !removed.is_empty() {
                let at = context.result.binary_search(&removed[0]).unwrap_or(0) + 1;
                context_update(out, context, "REMOVEFROM", at, &removed, messages);
            }
            if !added.is_empty() {
                let at = now.binary_search(&added[0]).unwrap_or(0) + 1;
                context_update(out, context, "ADDTO", at, &added, messages);
            }
            context.result = now;
        }
    }
}

/// `REMOVEFROM` for the messages of the snapshot about to be reported expunged, in every UPDATE result that holds
/// them (RFC 5267 §4.3), while their sequence numbers still stand.
pub(super) fn remove_expunged_from_contexts(mailbox: &mut Mailbox, out: &mut Vec<u8>) {
    let messages = &mailbox.messages;
    for context in &mut mailbox.contexts {
        let gone: Vec<Uid> = context
            .result
            .iter()
            .copied()
            .filter(|u| messages.binary_search_by_key(u, |s| s.meta.uid).is_ok_and(|i| messages[i].expunged))
            .collect();
        if gone.is_empty() {
            continue;
        }
        let at = context.result.binary_search(&gone[0]).unwrap_or(0) + 1;
        context_update(out, context, "REMOVEFROM", at, &gone, messages);
        context.result.retain(|u| gone.binary_search(u).is_err());
    }
}

/// `* ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (position set)` (RFC 5267 §4.3).
fn context_update(
    out: &mut Vec<u8>,
    context: &SearchContext,
    what: &str,
    at: usize,
    uids: &[Uid],
    messages: &[Snap],
) {
    let numbers: Vec<u32> = uids
        .iter()
        .filter_map(|u| match context.uid {
            true => Some(*u),
            false => messages.binary_search_by_key(u, |s| s.meta.uid).ok().map(|i| i as u32 + 1),
        })
        .collect();
    let mut line = b"* ESEARCH (TAG ".to_vec();
    response::string(&mut line, context.tag.as_bytes());
    line.push(b')');
    if context.uid {
        line.extend_from_slice(b" UID");
    }
    line.extend_from_slice(format!(" {what} ({at} {})\r\n", runs(numbers)).as_bytes());
    out.extend_from_slice(&line);
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
    for r in ret {
        if let &SearchReturn::Partial(low, high) = r {
            // RFC 9394 §3: positions in the result, 1-based; negative ones count from its end.
            let len = hits.len() as i64;
            let (from, to) = if low < 0 { (len + low, len + high) } else { (low - 1, high - 1) };
            let (from, to) = (from.max(0), to.min(len - 1));
            let set = if from <= to {
                // Bounded by the result's length, so the casts cannot truncate.
                runs(hits[from as usize..=to as usize].iter().map(|&(n, _)| n))
            } else {
                "NIL".to_string()
            };
            line.extend_from_slice(format!(" PARTIAL ({low}:{high} {set})").as_bytes());
        }
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
