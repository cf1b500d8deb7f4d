//! IMAP commands back to the wire, as a client would send them (RFC 3501 §9 and the extensions the parser knows).
//!
//! The server never encodes a command, so this encoder lives with the fuzz targets: `imap_command` parses random
//! input, encodes what parsed with [`command`], and checks that parsing that gives the same [`Command`]. Strings are
//! written as atoms where the grammar allows, else quoted, else as literals (CR, LF and NUL cannot be quoted), so the
//! encoding is one framed command with its literals inline.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike};
use mailroom_core::imap::parser::{
    AppendMessage, CatPart, Command, CommandBody, DateCmp, FetchItem, ListOptions, NotifyEvent, NotifyFilter,
    NotifySet, SearchKey, SearchReturn, Section, SectionText, SortKey, StatusItem, ThreadAlgorithm,
};
use mailroom_core::imap::response;
use mailroom_core::imap::sequence::SequenceSet;
use mailroom_core::store::FlagOp;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `command` with its CRLF.
pub fn command(cmd: &Command) -> Vec<u8> {
    let mut out = cmd.tag.as_bytes().to_vec();
    out.push(b' ');
    body(&mut out, &cmd.body);
    out.extend_from_slice(b"\r\n");
    out
}

fn push(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// `ASTRING-CHAR` (RFC 3501 §9): what may stand unquoted.
fn is_astring_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"(){%*\"\\".contains(&b)
}

/// `astring`: an atom when every byte may stand unquoted.
fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty() && s.iter().all(|&b| is_astring_char(b)) {
        out.extend_from_slice(s);
    } else {
        response::string(out, s);
    }
}

fn set(out: &mut Vec<u8>, set: &SequenceSet) {
    // RFC 5182 `$` is the one set without ranges.
    if set.0.is_empty() { out.push(b'$') } else { push(out, &set.to_string()) }
}

fn list<T>(out: &mut Vec<u8>, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        each(out, item);
    }
    out.push(b')');
}

fn flags(out: &mut Vec<u8>, flags: &[String]) {
    list(out, flags, |out, f| push(out, f));
}

fn status_item(item: &StatusItem) -> &'static str {
    match item {
        StatusItem::Messages => "MESSAGES",
        StatusItem::Recent => "RECENT",
        StatusItem::UidNext => "UIDNEXT",
        StatusItem::UidValidity => "UIDVALIDITY",
        StatusItem::Unseen => "UNSEEN",
        StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        StatusItem::Deleted => "DELETED",
        StatusItem::Size => "SIZE",
        StatusItem::MailboxId => "MAILBOXID",
    }
}

fn uid(out: &mut Vec<u8>, uid: bool, name: &str) {
    if uid {
        push(out, "UID ");
    }
    push(out, name);
    out.push(b' ');
}

fn body(out: &mut Vec<u8>, body: &CommandBody) {
    match body {
        CommandBody::Capability => push(out, "CAPABILITY"),
        CommandBody::CancelUpdate { tags } => {
            push(out, "CANCELUPDATE");
            for t in tags {
                out.push(b' ');
                quoted(out, t.as_bytes());
            }
        }
        CommandBody::Noop => push(out, "NOOP"),
        CommandBody::Logout => push(out, "LOGOUT"),
        CommandBody::StartTls => push(out, "STARTTLS"),
        CommandBody::Namespace => push(out, "NAMESPACE"),
        CommandBody::Idle => push(out, "IDLE"),
        CommandBody::Check => push(out, "CHECK"),
        CommandBody::Close => push(out, "CLOSE"),
        CommandBody::Unselect => push(out, "UNSELECT"),
        CommandBody::Authenticate { mechanism, initial } => {
            push(out, &format!("AUTHENTICATE {mechanism}"));
            if let Some(initial) = initial {
                push(out, &format!(" {initial}"));
            }
        }
        CommandBody::Login { user, password } => {
            push(out, "LOGIN ");
            astring(out, user.as_bytes());
            out.push(b' ');
            astring(out, password.0.as_bytes());
        }
        CommandBody::Enable { capabilities } => {
            push(out, "ENABLE");
            for c in capabilities {
                push(out, &format!(" {c}"));
            }
        }
        CommandBody::Select { mailbox, read_only, condstore, qresync } => {
            push(out, if *read_only { "EXAMINE " } else { "SELECT " });
            astring(out, mailbox);
            let mut params = Vec::new();
            if *condstore {
                params.push("CONDSTORE".to_string());
            }
            if let Some(q) = qresync {
                // select-param =/ "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
                //                 [SP seq-match-data] ")"   (RFC 7162 §3.2.5)
                let mut p = format!("QRESYNC ({} {}", q.uid_validity, q.modseq);
                if let Some(known) = &q.known_uids {
                    p.push_str(&format!(" {known}"));
                }
                if let Some((seqs, uids)) = &q.seq_match {
                    p.push_str(&format!(" ({seqs} {uids})"));
                }
                p.push(')');
                params.push(p);
            }
            if !params.is_empty() {
                push(out, &format!(" ({})", params.join(" ")));
            }
        }
        CommandBody::Create { mailbox } => mailbox_command(out, "CREATE", mailbox),
        CommandBody::Delete { mailbox } => mailbox_command(out, "DELETE", mailbox),
        CommandBody::Subscribe { mailbox } => mailbox_command(out, "SUBSCRIBE", mailbox),
        CommandBody::Unsubscribe { mailbox } => mailbox_command(out, "UNSUBSCRIBE", mailbox),
        CommandBody::Rename { from, to } => {
            mailbox_command(out, "RENAME", from);
            out.push(b' ');
            astring(out, to);
        }
        CommandBody::List { reference, patterns, lsub, options } => {
            list_command(out, reference, patterns, *lsub, options)
        }
        CommandBody::Status { mailbox, items } => {
            mailbox_command(out, "STATUS", mailbox);
            out.push(b' ');
            list(out, items, |out, i| push(out, status_item(i)));
        }
        CommandBody::Append { mailbox, messages } => {
            mailbox_command(out, "APPEND", mailbox);
            for m in messages {
                append_message(out, m);
            }
        }
        CommandBody::Id { params: None } => push(out, "ID NIL"),
        CommandBody::Id { params: Some(params) } => {
            push(out, "ID ");
            list(out, params, |out, (k, v)| {
                response::string(out, k.as_bytes());
                out.push(b' ');
                match v {
                    Some(v) => response::string(out, v.as_bytes()),
                    None => push(out, "NIL"),
                }
            });
        }
        CommandBody::Expunge { uids: None } => push(out, "EXPUNGE"),
        CommandBody::Expunge { uids: Some(uids) } => {
            push(out, "UID EXPUNGE ");
            set(out, uids);
        }
        CommandBody::Search { uid: u, charset, key, ret } => {
            uid(out, *u, "SEARCH");
            search_return(out, ret);
            if let Some(charset) = charset {
                push(out, "CHARSET ");
                astring(out, charset.as_bytes());
                out.push(b' ');
            }
            top_level_keys(out, key);
        }
        CommandBody::Sort { uid: u, criteria, charset, key, ret } => {
            uid(out, *u, "SORT");
            search_return(out, ret);
            list(out, criteria, |out, (reverse, k)| {
                if *reverse {
                    push(out, "REVERSE ");
                }
                push(out, sort_key(k));
            });
            out.push(b' ');
            astring(out, charset.as_bytes());
            out.push(b' ');
            top_level_keys(out, key);
        }
        CommandBody::Thread { uid: u, algorithm, charset, key } => {
            uid(out, *u, "THREAD");
            push(out, match algorithm {
                ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT ",
                ThreadAlgorithm::References => "REFERENCES ",
            });
            astring(out, charset.as_bytes());
            out.push(b' ');
            top_level_keys(out, key);
        }
        CommandBody::Fetch { uid: u, set: s, items, changed_since, vanished } => {
            uid(out, *u, "FETCH");
            set(out, s);
            out.push(b' ');
            list(out, items, fetch_item);
            let mut modifiers = Vec::new();
            if let Some(n) = changed_since {
                modifiers.push(format!("CHANGEDSINCE {n}"));
            }
            if *vanished {
                modifiers.push("VANISHED".to_string());
            }
            if !modifiers.is_empty() {
                push(out, &format!(" ({})", modifiers.join(" ")));
            }
        }
        CommandBody::Store { uid: u, set: s, op, silent, flags: f, unchanged_since } => {
            uid(out, *u, "STORE");
            set(out, s);
            out.push(b' ');
            if let Some(n) = unchanged_since {
                push(out, &format!("(UNCHANGEDSINCE {n}) "));
            }
            push(out, match op {
                FlagOp::Set => "",
                FlagOp::Add => "+",
                FlagOp::Remove => "-",
            });
            push(out, if *silent { "FLAGS.SILENT " } else { "FLAGS " });
            flags(out, f);
        }
        CommandBody::Copy { uid: u, set: s, mailbox } => {
            uid(out, *u, "COPY");
            set(out, s);
            out.push(b' ');
            astring(out, mailbox);
        }
        CommandBody::Move { uid: u, set: s, mailbox } => {
            uid(out, *u, "MOVE");
            set(out, s);
            out.push(b' ');
            astring(out, mailbox);
        }
        CommandBody::Notify { set: None } => push(out, "NOTIFY NONE"),
        CommandBody::Notify { set: Some(n) } => notify_set(out, n),
    }
}

/// `notify-set = "SET" [SP "STATUS"] SP event-groups` (RFC 5465 §8).
fn notify_set(out: &mut Vec<u8>, n: &NotifySet) {
    push(out, if n.status { "NOTIFY SET STATUS" } else { "NOTIFY SET" });
    for group in &n.groups {
        push(out, " (");
        // one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
        let names = |out: &mut Vec<u8>, kind: &str, names: &[Vec<u8>]| {
            push(out, kind);
            out.push(b' ');
            match names {
                [one] => astring(out, one),
                _ => list(out, names, |out, m| astring(out, m)),
            }
        };
        match &group.filter {
            NotifyFilter::Selected => push(out, "selected"),
            NotifyFilter::SelectedDelayed => push(out, "selected-delayed"),
            NotifyFilter::Inboxes => push(out, "inboxes"),
            NotifyFilter::Personal => push(out, "personal"),
            NotifyFilter::Subscribed => push(out, "subscribed"),
            NotifyFilter::Subtree(m) => names(out, "subtree", m),
            NotifyFilter::Mailboxes(m) => names(out, "mailboxes", m),
        }
        out.push(b' ');
        if group.events.is_empty() {
            push(out, "NONE");
        } else {
            list(out, &group.events, |out, e| {
                push(out, e.name());
                if let NotifyEvent::MessageNew(items) = e
                    && !items.is_empty()
                {
                    out.push(b' ');
                    list(out, items, fetch_item);
                }
            });
        }
        out.push(b')');
    }
}

fn mailbox_command(out: &mut Vec<u8>, name: &str, mailbox: &[u8]) {
    push(out, name);
    out.push(b' ');
    astring(out, mailbox);
}

/// `list = "LIST" SP [list-select-opts SP] mailbox SP mbox-or-pat [SP list-return-opts]` (RFC 5258 §6).
fn list_command(out: &mut Vec<u8>, reference: &[u8], patterns: &[Vec<u8>], lsub: bool, options: &ListOptions) {
    push(out, if lsub { "LSUB " } else { "LIST " });
    let mut select = Vec::new();
    if options.subscribed {
        select.push("SUBSCRIBED");
    }
    if options.special_use_only {
        select.push("SPECIAL-USE");
    }
    if options.recursive {
        select.push("RECURSIVEMATCH");
    }
    if !select.is_empty() {
        list(out, &select, |out, o| push(out, o));
        out.push(b' ');
    }
    astring(out, reference);
    out.push(b' ');
    // A pattern is always written as a string, so one pattern never looks like a list of them.
    match patterns {
        [one] => response::string(out, one),
        _ => list(out, patterns, |out, p| response::string(out, p)),
    }
    let mut ret = Vec::new();
    // Selecting SUBSCRIBED implies returning it (RFC 5258 §3.1).
    if options.return_subscribed && !options.subscribed {
        ret.push(b"SUBSCRIBED".to_vec());
    }
    if let Some(items) = &options.return_status {
        let mut status = b"STATUS ".to_vec();
        list(&mut status, items, |out, i| push(out, status_item(i)));
        ret.push(status);
    }
    if !ret.is_empty() {
        push(out, " RETURN ");
        list(out, &ret, |out, r| out.extend_from_slice(r));
    }
}

/// `append-message = [SP flag-list] [SP date-time] SP literal` (RFC 3502 §6).
fn append_message(out: &mut Vec<u8>, m: &AppendMessage) {
    out.push(b' ');
    if !m.flags.is_empty() {
        flags(out, &m.flags);
        out.push(b' ');
    }
    if let Some(date) = &m.date {
        push(out, &date_time(date));
        out.push(b' ');
    }
    match &m.catenate {
        // `catenate = "CATENATE" SP "(" cat-part *(SP cat-part) ")"` (RFC 4469 §5).
        Some(parts) => {
            push(out, "CATENATE ");
            list(out, parts, |out, part| match part {
                CatPart::Text(bytes) => {
                    push(out, &format!("TEXT {{{}}}\r\n", bytes.len()));
                    out.extend_from_slice(bytes);
                }
                CatPart::Url(url) => {
                    push(out, "URL ");
                    astring(out, url.as_bytes());
                }
            });
        }
        // `utf8 = "UTF8" SP "(" literal8 ")"` (RFC 6855 §4).
        None if m.utf8 => {
            push(out, &format!("UTF8 (~{{{}}}\r\n", m.message.len()));
            out.extend_from_slice(&m.message);
            out.push(b')');
        }
        None => {
            push(out, &format!("{{{}}}\r\n", m.message.len()));
            out.extend_from_slice(&m.message);
        }
    }
}

/// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`: what CANCELUPDATE's tags must be.
fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`
fn date_time(at: &DateTime<FixedOffset>) -> String {
    let local = at.naive_local();
    let offset = at.offset().local_minus_utc();
    let (sign, minutes) = if offset < 0 { ('-', -offset / 60) } else { ('+', offset / 60) };
    format!(
        "\"{}-{}-{:04} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        local.day(),
        MONTHS[local.month0() as usize],
        local.year(),
        local.hour(),
        local.minute(),
        local.second(),
        minutes / 60,
        minutes % 60
    )
}

/// `date-text = date-day "-" date-month "-" date-year`
fn date(d: &NaiveDate) -> String {
    format!("{}-{}-{:04}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// `search-return-opts SP`, when there are any.
fn search_return(out: &mut Vec<u8>, ret: &Option<Vec<SearchReturn>>) {
    if let Some(opts) = ret {
        push(out, "RETURN ");
        list(out, opts, |out, o| {
            let text = match o {
                SearchReturn::Min => "MIN".to_string(),
                SearchReturn::Max => "MAX".to_string(),
                SearchReturn::All => "ALL".to_string(),
                SearchReturn::Count => "COUNT".to_string(),
                SearchReturn::Save => "SAVE".to_string(),
                SearchReturn::Update => "UPDATE".to_string(),
                // RFC 9394 §3: `low:high`, or `-low:-high` counted from the end.
                SearchReturn::Partial(a, b) if *a < 0 => format!("PARTIAL -{}:-{}", -b, -a),
                SearchReturn::Partial(a, b) => format!("PARTIAL {a}:{b}"),
            };
            push(out, &text)
        });
        out.push(b' ');
    }
}

fn sort_key(k: &SortKey) -> &'static str {
    match k {
        SortKey::Arrival => "ARRIVAL",
        SortKey::Cc => "CC",
        SortKey::Date => "DATE",
        SortKey::DisplayFrom => "DISPLAYFROM",
        SortKey::DisplayTo => "DISPLAYTO",
        SortKey::From => "FROM",
        SortKey::Size => "SIZE",
        SortKey::Subject => "SUBJECT",
        SortKey::To => "TO",
    }
}

/// `1*(SP search-key)` after a command: the parser makes several top-level keys one AND, so an AND of several is
/// written without parentheses (which would nest it one level deeper than it came).
fn top_level_keys(out: &mut Vec<u8>, key: &SearchKey) {
    match key {
        SearchKey::And(keys) if keys.len() > 1 => {
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                search_key(out, k);
            }
        }
        _ => search_key(out, key),
    }
}

fn search_key(out: &mut Vec<u8>, key: &SearchKey) {
    let system = |f: &str| match f {
        "\\Answered" => Some("ANSWERED"),
        "\\Deleted" => Some("DELETED"),
        "\\Draft" => Some("DRAFT"),
        "\\Flagged" => Some("FLAGGED"),
        "\\Seen" => Some("SEEN"),
        _ => None,
    };
    match key {
        SearchKey::All => push(out, "ALL"),
        SearchKey::And(keys) => list(out, keys, search_key),
        SearchKey::Or(a, b) => {
            push(out, "OR ");
            search_key(out, a);
            out.push(b' ');
            search_key(out, b);
        }
        SearchKey::Not(k) => {
            push(out, "NOT ");
            search_key(out, k);
        }
        SearchKey::Sequence(s) => set(out, s),
        SearchKey::Uid(s) => {
            push(out, "UID ");
            set(out, s);
        }
        SearchKey::Flag(f) => match system(f) {
            Some(word) => push(out, word),
            None => push(out, &format!("KEYWORD {f}")),
        },
        SearchKey::NoFlag(f) => match system(f) {
            Some(word) => push(out, &format!("UN{word}")),
            None => push(out, &format!("UNKEYWORD {f}")),
        },
        SearchKey::New => push(out, "NEW"),
        SearchKey::Old => push(out, "OLD"),
        SearchKey::Recent => push(out, "RECENT"),
        SearchKey::Header(name, value) => {
            push(out, "HEADER ");
            astring(out, name.as_bytes());
            out.push(b' ');
            astring(out, value.as_bytes());
        }
        SearchKey::Body(s) => {
            push(out, "BODY ");
            astring(out, s.as_bytes());
        }
        SearchKey::Text(s) => {
            push(out, "TEXT ");
            astring(out, s.as_bytes());
        }
        SearchKey::Date(cmp, d) => push(out, &format!("{} {}", date_cmp(*cmp), date(d))),
        SearchKey::Sent(cmp, d) => push(out, &format!("SENT{} {}", date_cmp(*cmp), date(d))),
        SearchKey::Larger(n) => push(out, &format!("LARGER {n}")),
        SearchKey::Smaller(n) => push(out, &format!("SMALLER {n}")),
        SearchKey::ModSeq(n) => push(out, &format!("MODSEQ {n}")),
        SearchKey::EmailId(id) => push(out, &format!("EMAILID {id}")),
        SearchKey::ThreadId(id) => push(out, &format!("THREADID {id}")),
    }
}

fn date_cmp(cmp: DateCmp) -> &'static str {
    match cmp {
        DateCmp::Before => "BEFORE",
        DateCmp::On => "ON",
        DateCmp::Since => "SINCE",
    }
}

fn fetch_item(out: &mut Vec<u8>, item: &FetchItem) {
    match item {
        FetchItem::Envelope => push(out, "ENVELOPE"),
        FetchItem::Flags => push(out, "FLAGS"),
        FetchItem::InternalDate => push(out, "INTERNALDATE"),
        FetchItem::Rfc822 => push(out, "RFC822"),
        FetchItem::Rfc822Header => push(out, "RFC822.HEADER"),
        FetchItem::Rfc822Size => push(out, "RFC822.SIZE"),
        FetchItem::Rfc822Text => push(out, "RFC822.TEXT"),
        FetchItem::Body => push(out, "BODY"),
        FetchItem::BodyStructure => push(out, "BODYSTRUCTURE"),
        FetchItem::Uid => push(out, "UID"),
        FetchItem::ModSeq => push(out, "MODSEQ"),
        FetchItem::EmailId => push(out, "EMAILID"),
        FetchItem::ThreadId => push(out, "THREADID"),
        FetchItem::Section { peek, section: s, partial: p } => {
            push(out, if *peek { "BODY.PEEK" } else { "BODY" });
            section(out, s);
            partial(out, p);
        }
        FetchItem::Binary { peek, part, partial: p } => {
            push(out, if *peek { "BINARY.PEEK" } else { "BINARY" });
            section(out, &Section { part: part.clone(), text: None });
            partial(out, p);
        }
        FetchItem::BinarySize { part } => {
            push(out, "BINARY.SIZE");
            section(out, &Section { part: part.clone(), text: None });
        }
    }
}

fn partial(out: &mut Vec<u8>, partial: &Option<(u32, u32)>) {
    if let Some((origin, len)) = partial {
        push(out, &format!("<{origin}.{len}>"));
    }
}

/// `section = "[" [section-spec] "]"`
fn section(out: &mut Vec<u8>, s: &Section) {
    out.push(b'[');
    let part: Vec<String> = s.part.iter().map(u32::to_string).collect();
    push(out, &part.join("."));
    if let Some(text) = &s.text {
        if !s.part.is_empty() {
            out.push(b'.');
        }
        match text {
            SectionText::Header => push(out, "HEADER"),
            SectionText::Text => push(out, "TEXT"),
            SectionText::Mime => push(out, "MIME"),
            SectionText::HeaderFields { not, fields } => {
                push(out, if *not { "HEADER.FIELDS.NOT " } else { "HEADER.FIELDS " });
                list(out, fields, |out, f| astring(out, f.as_bytes()));
            }
        }
    }
    out.push(b']');
}
