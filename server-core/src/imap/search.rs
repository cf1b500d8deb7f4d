//! SEARCH evaluation (RFC 3501 §6.4.4) over the session's view of the selected mailbox.
//!
//! Keys on flags, sizes, dates and numbers need only the snapshot; HEADER/BODY/TEXT and the SENT* dates need the
//! message, which the caller loads and parses once per message only when [`needs_content`] says so. String matching
//! is case-insensitive substring matching (§6.4.4) on text decoded from MIME (RFC 2047 words, transfer encodings).

use chrono::NaiveDate;

use super::mime::{self, Parsed};
use super::objectid;
use super::parser::{DateCmp, SearchKey};
use crate::store::{Flag, MessageMeta};

/// What one message looks like to a search.
pub struct Candidate<'a> {
    /// Its message sequence number.
    pub seq: u32,
    /// Its UID, flags, size, date and modseq as this session knows them.
    pub meta: &'a MessageMeta,
    /// Whether it is `\Recent` in this session.
    pub recent: bool,
    /// The highest sequence number (`*` in a sequence set).
    pub max_seq: u32,
    /// The highest UID (`*` in a UID set).
    pub max_uid: u32,
    /// The UIDs `$` stands for (RFC 5182), ascending.
    pub saved: &'a [u32],
    /// The parsed message, when [`needs_content`] asked for it.
    pub parsed: Option<&'a Parsed<'a>>,
}

/// Whether evaluating `key` needs the message itself.
pub fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(keys) => keys.iter().any(needs_content),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::Sent(..)
        | SearchKey::EmailId(_)
        | SearchKey::ThreadId(_) => true,
        _ => false,
    }
}

/// Whether the key uses `MODSEQ` (the result then carries the highest modseq, RFC 7162 §3.1.5).
pub fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::ModSeq(_) => true,
        _ => false,
    }
}

fn contains(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn compare(cmp: DateCmp, date: NaiveDate, against: NaiveDate) -> bool {
    match cmp {
        DateCmp::Before => date < against,
        DateCmp::On => date == against,
        DateCmp::Since => date >= against,
    }
}

/// Whether the candidate matches.
pub fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    match key {
        SearchKey::All => true,
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, c)),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::Not(k) => !matches(k, c),
        // `$` is a set of UIDs, whether it stands where numbers or UIDs go (RFC 5182 §2.1).
        SearchKey::Sequence(set) | SearchKey::Uid(set) if set.is_saved() => {
            c.saved.binary_search(&c.meta.uid).is_ok()
        }
        SearchKey::Sequence(set) => set.contains(c.seq, c.max_seq),
        SearchKey::Uid(set) => set.contains(c.meta.uid, c.max_uid),
        SearchKey::Flag(f) => has_flag(c, f),
        SearchKey::NoFlag(f) => !has_flag(c, f),
        SearchKey::New => c.recent && !c.meta.flags.contains(&Flag::Seen),
        SearchKey::Old => !c.recent,
        SearchKey::Recent => c.recent,
        SearchKey::Larger(n) => c.meta.size > *n,
        SearchKey::Smaller(n) => c.meta.size < *n,
        SearchKey::ModSeq(n) => c.meta.modseq >= *n,
        SearchKey::Date(cmp, d) => compare(*cmp, c.meta.internal_date.date_naive(), *d),
        SearchKey::Sent(cmp, d) => {
            c.parsed.and_then(mime::sent_date).is_some_and(|sent| compare(*cmp, sent, *d))
        }
        SearchKey::Header(name, value) => c
            .parsed
            .and_then(|p| mime::header_search_values(p, name))
            .is_some_and(|values| values.iter().any(|v| contains(v, value))),
        SearchKey::Body(s) => c.parsed.is_some_and(|p| contains(&mime::search_text(p, false, true), s)),
        SearchKey::Text(s) => c.parsed.is_some_and(|p| contains(&mime::search_text(p, true, true), s)),
        // RFC 8474 §6: identifiers compare exactly.
        SearchKey::EmailId(id) => c.parsed.is_some_and(|p| objectid::email_id(p.raw()) == *id),
        SearchKey::ThreadId(id) => c.parsed.and_then(objectid::thread_id).is_some_and(|t| t == *id),
    }
}

fn has_flag(c: &Candidate<'_>, name: &str) -> bool {
    if name.eq_ignore_ascii_case("\\Recent") {
        return c.recent;
    }
    Flag::from_imap(name).is_some_and(|f| c.meta.flags.contains(&f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::parser::{CommandBody, parse_command};
    use crate::store::FlagSet;

    fn key(text: &str) -> SearchKey {
        match parse_command(format!("t SEARCH {text}\r\n").as_bytes()).unwrap().body {
            CommandBody::Search { key, .. } => key,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn table() {
        let raw = b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.com>\r\nSubject: Quarterly report\r\n\
                    Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nX-Tag: blue\r\n\r\nThe numbers are UP this quarter.\r\n";
        let parsed = mime::parse(raw);
        let meta = MessageMeta {
            uid: 7,
            flags: [Flag::Seen, Flag::Keyword("$Work".into())].into_iter().collect::<FlagSet>(),
            internal_date: chrono::DateTime::parse_from_rfc3339("2024-03-05T10:00:00Z").unwrap().into(),
            size: raw.len() as u64,
            modseq: 12,
        };
        let c = Candidate {
            seq: 3,
            meta: &meta,
            recent: false,
            max_seq: 5,
            max_uid: 9,
            saved: &[],
            parsed: Some(&parsed),
        };
        let table = [
            ("ALL", true),
            ("SEEN", true),
            ("UNSEEN", false),
            ("KEYWORD $Work", true),
            ("UNKEYWORD $Work", false),
            ("FLAGGED", false),
            ("NEW", false),
            ("OLD", true),
            ("3", true),
            ("4:*", false),
            ("UID 7", true),
            ("UID 8:*", false),
            ("LARGER 10", true),
            ("SMALLER 10", false),
            ("FROM \"jürgen\"", true),
            ("FROM jurgen@example", true),
            ("SUBJECT QUARTERLY", true),
            ("HEADER X-Tag BLUE", true),
            ("HEADER X-Missing \"\"", false),
            ("HEADER X-Tag \"\"", true),
            ("BODY \"numbers are up\"", true),
            ("BODY Quarterly", false),
            ("TEXT Quarterly", true),
            ("SINCE 5-Mar-2024", true),
            ("BEFORE 5-Mar-2024", false),
            ("ON 5-Mar-2024", true),
            ("SENTON 7-Feb-1994", true),
            ("SENTBEFORE 7-Feb-1994", false),
            ("OR FLAGGED SEEN", true),
            ("NOT (SEEN UID 7)", false),
            ("(SEEN (UID 1:* NOT DELETED))", true),
            ("MODSEQ 12", true),
            ("MODSEQ 13", false),
        ];
        for (text, want) in table {
            assert_eq!(matches(&key(text), &c), want, "{text}");
        }
        assert!(needs_content(&key("OR SEEN BODY x")));
        assert!(!needs_content(&key("OR SEEN UID 1")));
    }
}
