//! SORT (RFC 5256 §3, ESORT RFC 5267, SORT=DISPLAY RFC 5957) and THREAD (RFC 5256 §3): ORDEREDSUBJECT here,
//! REFERENCES in [`super::thread`] from what this file reads of each message.

use super::parser::{SearchKey, SearchReturn, SortKey, ThreadAlgorithm};
use super::response::untagged;
use super::search_cmd::esearch;
use super::session::{ImapSession, Reply, State};
use super::thread;
use super::{mime, search};

impl ImapSession {
    /// SORT (RFC 5256 §3): the matches ordered by the criteria, then by sequence number; strings compare with
    /// i;ascii-casemap (ASCII letters upper-cased, RFC 4790 §9.2).
    /// The messages at `hits` with what they sort by, ordered by `criteria` and then by sequence number (RFC 5256
    /// §3); strings compare with i;ascii-casemap (ASCII letters upper-cased, RFC 4790 §9.2).
    pub(super) fn sort_rows(
        &self,
        hits: Vec<usize>,
        criteria: &[(bool, SortKey)],
    ) -> Vec<(usize, SortValues)> {
        let State::Selected { user, mailbox } = &self.state else {
            return Vec::new();
        };
        let needs_message = criteria.iter().any(|(_, k)| !matches!(k, SortKey::Arrival | SortKey::Size));
        let casemap = |s: String| s.to_ascii_uppercase();
        let mut rows: Vec<(usize, SortValues)> = hits
            .into_iter()
            .map(|i| {
                let meta = &mailbox.messages[i].meta;
                let arrival = meta.internal_date.timestamp();
                let raw = if needs_message {
                    self.host.store.read(user, &mailbox.name, meta.uid).ok()
                } else {
                    None
                };
                let keys = match raw.as_deref().map(|r| mime::parse(r)) {
                    Some(p) => SortValues {
                        from: casemap(mime::first_mailbox(&p, "from")),
                        to: casemap(mime::first_mailbox(&p, "to")),
                        cc: casemap(mime::first_mailbox(&p, "cc")),
                        subject: casemap(mime::base_subject(&p)),
                        display_from: casemap(mime::first_display(&p, "from")),
                        display_to: casemap(mime::first_display(&p, "to")),
                        date: mime::sent_timestamp(&p).unwrap_or(arrival),
                    },
                    None => SortValues { date: arrival, ..SortValues::default() },
                };
                (i, keys)
            })
            .collect();
        let messages = &mailbox.messages;
        rows.sort_by(|(a, ka), (b, kb)| {
            for &(reverse, k) in criteria {
                let (ma, mb) = (&messages[*a].meta, &messages[*b].meta);
                let order = match k {
                    SortKey::Arrival => ma.internal_date.cmp(&mb.internal_date),
                    SortKey::Cc => ka.cc.cmp(&kb.cc),
                    SortKey::Date => ka.date.cmp(&kb.date),
                    SortKey::DisplayFrom => ka.display_from.cmp(&kb.display_from),
                    SortKey::DisplayTo => ka.display_to.cmp(&kb.display_to),
                    SortKey::From => ka.from.cmp(&kb.from),
                    SortKey::Size => ma.size.cmp(&mb.size),
                    SortKey::Subject => ka.subject.cmp(&kb.subject),
                    SortKey::To => ka.to.cmp(&kb.to),
                };
                let order = if reverse { order.reverse() } else { order };
                if order.is_ne() {
                    return order;
                }
            }
            a.cmp(b)
        });
        rows
    }

    /// THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages grouped by base subject, each group in sent-date order with
    /// the first message as the parent of the others, groups in the sent-date order of their first message.
    ///
    /// ```text
    /// thread-data = "THREAD" [SP 1*thread-list]
    /// thread-list = "(" (thread-members / thread-nested) ")"
    /// ```
    pub(super) fn thread(
        &mut self,
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: &str,
        key: &SearchKey,
        out: &mut Vec<u8>,
    ) -> Reply {
        if !matches!(charset, "UTF-8" | "US-ASCII") {
            return Reply::no(Some("BADCHARSET (UTF-8 US-ASCII)"), "Unsupported charset");
        }
        if search::uses_modseq(key) {
            self.enable_condstore(out);
        }
        let hits = self.matching(key);
        if algorithm == ThreadAlgorithm::References {
            let threads = thread::references(&self.thread_input(uid, hits));
            untagged(out, &format!("THREAD{}{threads}", if threads.is_empty() { "" } else { " " }));
            return Reply::ok("THREAD completed");
        }
        let rows = self.sort_rows(hits, &[(false, SortKey::Subject), (false, SortKey::Date)]);
        let State::Selected { mailbox, .. } = &self.state else {
            return Reply::bad("No mailbox selected");
        };
        let number = |i: usize| if uid { mailbox.messages[i].meta.uid } else { i as u32 + 1 };
        // (first message's date, its index, members' numbers)
        let mut threads: Vec<(i64, usize, Vec<u32>)> = Vec::new();
        let mut subject: Option<&str> = None;
        for (i, v) in &rows {
            match threads.last_mut() {
                Some((_, _, members)) if subject == Some(v.subject.as_str()) => members.push(number(*i)),
                _ => threads.push((v.date, *i, vec![number(*i)])),
            }
            subject = Some(&v.subject);
        }
        threads.sort_by_key(|&(date, i, _)| (date, i));
        let mut line = String::from("THREAD");
        for (n, (_, _, members)) in threads.iter().enumerate() {
            if n == 0 {
                line.push(' ');
            }
            match &members[..] {
                [one] => line.push_str(&format!("({one})")),
                [parent, child] => line.push_str(&format!("({parent} {child})")),
                [parent, children @ ..] => {
                    line.push_str(&format!("({parent} "));
                    for c in children {
                        line.push_str(&format!("({c})"));
                    }
                    line.push(')');
                }
                [] => {}
            }
        }
        untagged(out, &line);
        Reply::ok("THREAD completed")
    }

    /// What THREAD=REFERENCES needs of the messages at `hits` (snapshot indexes, ascending).
    fn thread_input(&self, uid: bool, hits: Vec<usize>) -> Vec<thread::Message> {
        let State::Selected { user, mailbox } = &self.state else {
            return Vec::new();
        };
        hits.into_iter()
            .map(|i| {
                let meta = &mailbox.messages[i].meta;
                let mut m = thread::Message {
                    number: if uid { meta.uid } else { i as u32 + 1 },
                    seq: i as u32 + 1,
                    date: meta.internal_date.timestamp(),
                    ..thread::Message::default()
                };
                if let Ok(raw) = self.host.store.read(user, &mailbox.name, meta.uid) {
                    let p = mime::parse(&raw);
                    m.date = mime::sent_timestamp(&p).unwrap_or(m.date);
                    m.subject = mime::base_subject(&p).to_ascii_uppercase();
                    m.reply = mime::subject_is_reply(&p);
                    m.id = mime::message_ids(&p, "message-id").into_iter().next();
                    m.references = mime::message_ids(&p, "references");
                    if m.references.is_empty() {
                        // RFC 5256 §3: without References, the first message-id of In-Reply-To.
                        m.references = mime::message_ids(&p, "in-reply-to").into_iter().take(1).collect();
                    }
                }
                m
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &[(bool, SortKey)],
        charset: &str,
        key: &SearchKey,
        ret: Option<&[SearchReturn]>,
        out: &mut Vec<u8>,
    ) -> Reply {
        if !matches!(charset, "UTF-8" | "US-ASCII") {
            return Reply::no(Some("BADCHARSET (UTF-8 US-ASCII)"), "Unsupported charset");
        }
        if search::uses_modseq(key) {
            self.enable_condstore(out);
        }
        let hits = self.matching(key);
        let State::Selected { mailbox, .. } = &self.state else {
            return Reply::bad("No mailbox selected");
        };
        let rows = self.sort_rows(hits, criteria);
        let messages = &mailbox.messages;
        let sorted: Vec<(u32, u64)> = rows
            .iter()
            .map(|(i, _)| {
                let meta = &messages[*i].meta;
                (if uid { meta.uid } else { *i as u32 + 1 }, meta.modseq)
            })
            .collect();
        match ret {
            // RFC 5267 §3: ESORT answers with ESEARCH, MIN and MAX being the first and last in sort order.
            Some(ret) => esearch(out, tag, uid, ret, &sorted, search::uses_modseq(key)),
            None => {
                let mut line = String::from("SORT");
                for (n, _) in &sorted {
                    line.push_str(&format!(" {n}"));
                }
                untagged(out, &line);
            }
        }
        Reply::ok("SORT completed")
    }
}

/// What one message sorts by (RFC 5256 §3), strings already case-mapped.
#[derive(Default)]
pub(super) struct SortValues {
    from: String,
    to: String,
    cc: String,
    /// Base subject (§2.1).
    subject: String,
    /// RFC 5957 display names.
    display_from: String,
    display_to: String,
    /// Sent date in seconds since the epoch; the internal date when the message has none.
    date: i64,
}
