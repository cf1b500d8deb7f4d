//! The IMAP command grammar (RFC 3501 §9 and the extensions we offer), in two steps.
//!
//! 1. [`frame`] finds where one command ends in the bytes received so far. A command is one line, unless a line ends
//!    in a literal announcement (`{42}` or LITERAL+'s `{42+}`, RFC 7888), in which case that many raw bytes follow
//!    and the command goes on after them. A synchronising literal needs the server's `+` continuation before the
//!    client sends its data, so framing reports [`Frame::Continue`] and the session writes it; the literal's size is
//!    checked against the limit *before* that, so an oversized APPEND never gets the go-ahead.
//! 2. [`parse_command`] turns a complete command into a [`Command`], or a precise [`ParseError`] the session
//!    answers with `BAD`.
//!
//! The grammar of each part is quoted above its parser. Parsing never panics on any input (see
//! `fuzz/fuzz_targets/imap_command.rs`) and its recursion (SEARCH keys) is bounded.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::sequence::SequenceSet;
use crate::auth::Secret;
use crate::store::FlagOp;

/// A mailbox name as the client sent it (modified UTF-7, or UTF-8 from lenient clients); decoded by the session.
pub type MailboxName = Vec<u8>;

/// One tagged command.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// The client's tag, echoed in the completion response.
    pub tag: String,
    /// What it asks for.
    pub body: CommandBody,
}

/// The commands, named as in the RFCs.
#[derive(Clone, Debug, PartialEq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// `AUTHENTICATE mech [initial-response]` (SASL-IR, RFC 4959: `=` is an empty initial response).
    Authenticate {
        mechanism: String,
        initial: Option<String>,
    },
    Login {
        user: String,
        password: Secret,
    },
    /// RFC 5161.
    Enable {
        capabilities: Vec<String>,
    },
    /// `SELECT`/`EXAMINE` (`read_only`), optionally with `(CONDSTORE)` (RFC 7162 §3.1.8) and
    /// `(QRESYNC (...))` (§3.2.5).
    Select {
        mailbox: MailboxName,
        read_only: bool,
        condstore: bool,
        qresync: Option<QresyncParams>,
    },
    Create {
        mailbox: MailboxName,
    },
    Delete {
        mailbox: MailboxName,
    },
    Rename {
        from: MailboxName,
        to: MailboxName,
    },
    Subscribe {
        mailbox: MailboxName,
    },
    Unsubscribe {
        mailbox: MailboxName,
    },
    /// `LIST`/`LSUB`, with RFC 5258 (LIST-EXTENDED) selection and return options and several patterns.
    List {
        reference: MailboxName,
        /// One or more (RFC 5258 `patterns`); a mailbox is listed when any matches.
        patterns: Vec<MailboxName>,
        lsub: bool,
        options: ListOptions,
    },
    Status {
        mailbox: MailboxName,
        items: Vec<StatusItem>,
    },
    /// One message, or several (RFC 3502 MULTIAPPEND), appended all or none.
    Append {
        mailbox: MailboxName,
        messages: Vec<AppendMessage>,
    },
    /// RFC 2342.
    Namespace,
    /// RFC 2971: the client's parameters, or None for `ID NIL`.
    Id {
        params: Option<Vec<(String, Option<String>)>>,
    },
    /// RFC 2177.
    Idle,
    Check,
    Close,
    /// RFC 3691.
    Unselect,
    /// `EXPUNGE`, or `UID EXPUNGE set` (RFC 4315).
    Expunge {
        uids: Option<SequenceSet>,
    },
    Search {
        uid: bool,
        charset: Option<String>,
        key: SearchKey,
        /// `RETURN (...)` (RFC 4731 ESEARCH): the answer is `* ESEARCH` with these results; `None` for plain
        /// SEARCH, empty for `RETURN ()`, which means ALL.
        ret: Option<Vec<SearchReturn>>,
    },
    /// RFC 5256: the matching messages in the order of `criteria` (each reversed when its flag is set).
    Sort {
        uid: bool,
        criteria: Vec<(bool, SortKey)>,
        charset: String,
        key: SearchKey,
        /// `RETURN (...)` (RFC 5267 ESORT): the answer is `* ESEARCH` in sort order.
        ret: Option<Vec<SearchReturn>>,
    },
    /// RFC 5267 §4.5: stop the UPDATE results of these searches.
    CancelUpdate {
        tags: Vec<String>,
    },
    /// RFC 5256 THREAD (ORDEREDSUBJECT or REFERENCES).
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchItem>,
        changed_since: Option<u64>,
        /// The `VANISHED` modifier (RFC 7162 §3.2.6): UID FETCH with CHANGEDSINCE also reports what was expunged.
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        op: FlagOp,
        silent: bool,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: MailboxName,
    },
    /// RFC 5465: `NOTIFY SET ...`, or `NOTIFY NONE` (`None`).
    Notify {
        set: Option<NotifySet>,
    },
    /// RFC 6851.
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: MailboxName,
    },
}

/// `NOTIFY SET` (RFC 5465 §8): which events of which mailboxes the client wants pushed.
///
/// ```text
/// notify-set       = "SET" [status-indicator] SP event-groups
/// status-indicator = SP "STATUS"
/// event-groups     = event-group *(SP event-group)
/// event-group      = "(" filter-mailboxes SP events ")"
/// events           = ( "(" event *(SP event) ")" ) / "NONE"
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NotifySet {
    /// `STATUS`: send the current STATUS of every mailbox the groups name, before the tagged OK.
    pub status: bool,
    /// The event groups, in the client's order.
    pub groups: Vec<EventGroup>,
}

/// One `(filter events)` group of NOTIFY SET.
#[derive(Clone, Debug, PartialEq)]
pub struct EventGroup {
    /// Which mailboxes.
    pub filter: NotifyFilter,
    /// Which events; empty for `NONE`.
    pub events: Vec<NotifyEvent>,
}

/// ```text
/// filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" / "subscribed"
///                  / ( "subtree" SP one-or-more-mailbox ) / ( "mailboxes" SP one-or-more-mailbox )
/// one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyFilter {
    /// The selected mailbox, expunges told as soon as they happen.
    Selected,
    /// The selected mailbox, expunges held until a command allows them (RFC 5465 §6).
    SelectedDelayed,
    /// Mailboxes mail is delivered to.
    Inboxes,
    /// Every mailbox of the user.
    Personal,
    /// The subscribed mailboxes.
    Subscribed,
    /// These mailboxes and everything below them.
    Subtree(Vec<MailboxName>),
    /// Exactly these mailboxes.
    Mailboxes(Vec<MailboxName>),
}

/// ```text
/// event = ( "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"] ) / "MessageExpunge" / "FlagChange"
///       / "AnnotationChange" / "MailboxName" / "SubscriptionChange" / "MailboxMetadataChange"
///       / "ServerMetadataChange" / event-ext
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum NotifyEvent {
    /// New messages, with what to FETCH of each when in the selected mailbox.
    MessageNew(Vec<FetchItem>),
    MessageExpunge,
    FlagChange,
    AnnotationChange,
    MailboxName,
    SubscriptionChange,
    MailboxMetadataChange,
    ServerMetadataChange,
    /// An event this server does not know, upper-cased; answered with `NO [BADEVENT]`.
    Other(String),
}

impl NotifyEvent {
    /// The name RFC 5465 gives the event.
    pub fn name(&self) -> &str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadataChange => "MailboxMetadataChange",
            NotifyEvent::ServerMetadataChange => "ServerMetadataChange",
            NotifyEvent::Other(name) => name,
        }
    }
}

/// What a client that resynchronises remembers of a mailbox (RFC 7162 §3.2.5).
///
/// ```text
/// select-param   =/ "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"
/// known-uids     = sequence-set
/// seq-match-data = "(" known-sequence-set SP known-uid-set ")"
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QresyncParams {
    /// The UIDVALIDITY the client's cache belongs to; nothing is resynchronised when it changed.
    pub uid_validity: u32,
    /// The HIGHESTMODSEQ the client last saw.
    pub modseq: u64,
    /// The UIDs the client knows (default: every UID below UIDNEXT).
    pub known_uids: Option<SequenceSet>,
    /// Message numbers and the UIDs the client thinks they have, a hint for narrowing VANISHED (EARLIER).
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// `status-att` (RFC 3501 §6.3.10, RFC 7162 HIGHESTMODSEQ, RFC 9051 DELETED, RFC 8438 SIZE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    HighestModSeq,
    /// Messages with `\Deleted` (RFC 9051 §6.3.11).
    Deleted,
    /// The total of the messages' RFC822.SIZE (RFC 8438).
    Size,
    /// The mailbox's identifier (RFC 8474 §4.3).
    MailboxId,
}

/// The options of an RFC 5258 LIST (LIST-EXTENDED), RFC 6154 SPECIAL-USE and RFC 5819 LIST-STATUS.
///
/// ```text
/// list-select-opts = "(" [(*(list-select-mod SP) list-select-base-opt *(SP list-select-opt))
///                    / (list-select-independent-opt *(SP list-select-opt))] ")"
/// list-select-base-opt = "SUBSCRIBED" / "SPECIAL-USE"
/// list-select-independent-opt = "REMOTE"
/// list-select-mod  = "RECURSIVEMATCH"
/// list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
/// return-option    = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "STATUS" SP "(" status-att *(SP status-att) ")"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Selection SUBSCRIBED: subscribed mailboxes, existing or not (implies returning `\Subscribed`).
    pub subscribed: bool,
    /// Selection RECURSIVEMATCH: also mailboxes whose descendants match the selection, with CHILDINFO.
    pub recursive: bool,
    /// Selection SPECIAL-USE: only mailboxes with a special use (RFC 6154 §3).
    pub special_use_only: bool,
    /// RETURN (SUBSCRIBED): `\Subscribed` on subscribed mailboxes.
    pub return_subscribed: bool,
    /// RETURN (STATUS (...)) (RFC 5819): a STATUS response after each selectable mailbox.
    pub return_status: Option<Vec<StatusItem>>,
}

/// One message of an APPEND.
#[derive(Clone, Debug, PartialEq)]
pub struct AppendMessage {
    /// Its flags (`\Recent` is ignored when stored).
    pub flags: Vec<String>,
    /// Its internal date; the server's clock when absent.
    pub date: Option<DateTime<FixedOffset>>,
    /// The message itself (empty when `catenate` builds it).
    pub message: Vec<u8>,
    /// `CATENATE (...)` (RFC 4469): the message is these parts, one after the other.
    pub catenate: Option<Vec<CatPart>>,
    /// Sent as `UTF8 (literal8)` (RFC 6855 §4): a message whose header may be in UTF-8 (RFC 6532), which only a
    /// client that enabled UTF8=ACCEPT may send.
    pub utf8: bool,
}

/// One part of a CATENATE (RFC 4469 §5): `cat-part = text-literal / url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: these octets.
    Text(Vec<u8>),
    /// `URL astring`: (part of) a message on this server, named by an IMAP URL (RFC 5092).
    Url(String),
}

/// A threading algorithm (RFC 5256 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// Groups by base subject, each group a parent and its children by sent date.
    OrderedSubject,
    /// Threads from Message-ID and References, then gathered by base subject.
    References,
}

/// A SORT key (RFC 5256 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Internal date and time.
    Arrival,
    /// addr-mailbox of the first Cc address.
    Cc,
    /// Sent date (`Date:`), the internal date when it has none.
    Date,
    /// Display name of the first From address, else its address (RFC 5957 SORT=DISPLAY).
    DisplayFrom,
    /// The same for To.
    DisplayTo,
    /// addr-mailbox of the first From address.
    From,
    /// RFC822.SIZE.
    Size,
    /// Base subject (RFC 5256 §2.1).
    Subject,
    /// addr-mailbox of the first To address.
    To,
}

/// A result option of `SEARCH RETURN (...)` (RFC 4731 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchReturn {
    /// The lowest matching message number or UID.
    Min,
    /// The highest.
    Max,
    /// All of them, as a sequence set.
    All,
    /// How many match.
    Count,
    /// Keep the result for `$` (RFC 5182 SEARCHRES) instead of, or besides, reporting it.
    Save,
    /// `PARTIAL low:high` (RFC 5267 §4.4, RFC 9394): the matches at these positions (1-based, in result order;
    /// negative counts from the end).
    Partial(i64, i64),
    /// `UPDATE` (RFC 5267 §4.2): keep telling the client as messages enter or leave the result.
    Update,
}

/// One search criterion (RFC 3501 §6.4.4).
#[derive(Clone, Debug, PartialEq)]
pub enum SearchKey {
    All,
    /// Several keys that must all match (a parenthesised list, or the top level).
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    /// A message sequence set.
    Sequence(SequenceSet),
    Uid(SequenceSet),
    /// A flag that must be set (`SEEN`, `KEYWORD x`...), as an IMAP flag name.
    Flag(String),
    /// A flag that must not be set (`UNSEEN`, `UNKEYWORD x`...).
    NoFlag(String),
    New,
    Old,
    Recent,
    /// `HEADER name value`; FROM, TO, CC, BCC and SUBJECT become this.
    Header(String, String),
    Body(String),
    Text(String),
    /// Internal date before/on/since (`BEFORE`, `ON`, `SINCE`).
    Date(DateCmp, NaiveDate),
    /// `Date:` header (`SENTBEFORE`...).
    Sent(DateCmp, NaiveDate),
    Larger(u64),
    Smaller(u64),
    /// RFC 7162 `MODSEQ n`.
    ModSeq(u64),
    /// RFC 8474 §6 `EMAILID objectid`.
    EmailId(String),
    /// RFC 8474 §6 `THREADID objectid`.
    ThreadId(String),
}

/// How a date criterion compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateCmp {
    Before,
    On,
    Since,
}

/// One FETCH data item (RFC 3501 §6.4.5).
#[derive(Clone, Debug, PartialEq)]
pub enum FetchItem {
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// `BODY` (no extension data).
    Body,
    BodyStructure,
    Uid,
    /// `BODY[section]<partial>` and `BODY.PEEK[...]`.
    Section {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    /// RFC 7162.
    ModSeq,
    /// `BINARY[part]<partial>` and `BINARY.PEEK[...]` (RFC 3516): the part with its transfer encoding undone.
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516): the size of what BINARY would return.
    BinarySize {
        part: Vec<u32>,
    },
    /// RFC 8474 §5.1: the message's content identifier.
    EmailId,
    /// RFC 8474 §5.2: the message's thread identifier.
    ThreadId,
}

/// `section-spec`: a part path and what of it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Section {
    /// `1.2.3`; empty for the whole message.
    pub part: Vec<u32>,
    /// What of that part; None for its body (or the whole message when `part` is empty).
    pub text: Option<SectionText>,
}

/// `section-text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    Header,
    /// `HEADER.FIELDS (a b)`, or `.NOT` with `not`.
    HeaderFields {
        not: bool,
        fields: Vec<String>,
    },
    Text,
    Mime,
}

/// Why a command could not be parsed: answered `tag BAD message` (or `* BAD` without a tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The tag, when one could be read.
    pub tag: Option<String>,
    /// What was wrong, for the human reading the BAD.
    pub message: String,
}

/// What [`frame`] found in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete command occupies the first `n` bytes.
    Complete(usize),
    /// More bytes are needed; nothing to say yet.
    Incomplete,
    /// The client announced synchronising literal number `index` (0-based within the command) and waits for `+`.
    Continue { index: usize },
    /// A line (not counting literal data) is longer than allowed; it starts at byte `start` (after the command's
    /// earlier lines and literals, if any).
    LineTooLong { start: usize },
    /// The command's literals together would exceed the limit (`size` is their total so far, this one included).
    /// For a synchronising one the client sends nothing more for it, so the command ends after `consumed` bytes; a
    /// non-synchronising one is already on its way and cannot be skipped safely.
    LiteralTooBig { size: u64, synchronizing: bool, consumed: usize },
}

/// Finds the end of the first command in `buf`. `acked` literals have already been given a `+`. `max_literal`
/// bounds all the literal data of one command together: a command cannot grow without end by announcing one
/// acceptable literal after another.
///
/// ```text
/// literal         = "{" number ["+"] "}" CRLF *CHAR8      ; RFC 7888 adds "+"
/// ```
pub fn frame(buf: &[u8], acked: usize, max_line: usize, max_literal: u64) -> Frame {
    let mut pos = 0;
    let mut index = 0;
    let mut total: u64 = 0;
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n').map(|n| n + pos) else {
            return if buf.len() - pos > max_line {
                Frame::LineTooLong { start: pos }
            } else {
                Frame::Incomplete
            };
        };
        if nl - pos > max_line {
            return Frame::LineTooLong { start: pos };
        }
        let line = strip_cr(&buf[pos..nl]);
        let Some((size, synchronizing)) = literal_announcement(line) else {
            return Frame::Complete(nl + 1);
        };
        let data_start = nl + 1;
        total = total.saturating_add(size);
        if total > max_literal {
            return Frame::LiteralTooBig { size: total, synchronizing, consumed: data_start };
        }
        // Bounded by max_literal, which fits in memory, so the cast is safe on every platform we build for.
        let end = data_start + size as usize;
        if buf.len() < end {
            return if synchronizing && index >= acked {
                Frame::Continue { index }
            } else {
                Frame::Incomplete
            };
        }
        index += 1;
        pos = end;
    }
}

/// A line's trailing `{n}`/`{n+}`: (size, synchronising).
pub fn literal_announcement(line: &[u8]) -> Option<(u64, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let synchronizing = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 19 ASCII digits: valid UTF-8 and within u64.
    Some((std::str::from_utf8(digits).ok()?.parse().ok()?, synchronizing))
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A section spec as written inside `BODY[...]` (`1.2.HEADER`, `TEXT`), for the `;SECTION=` of an IMAP URL
/// (RFC 5092 §3); None when it is not one.
pub fn parse_section(spec: &[u8]) -> Option<Section> {
    let text = [b"[", spec, b"]"].concat();
    let mut p = Parser::new(&text);
    let section = p.section().ok()?;
    p.at_end().then_some(section)
}

/// Reads the tag of a (possibly broken) command, for error replies.
pub fn parse_tag(input: &[u8]) -> Option<String> {
    let mut p = Parser::new(input);
    p.tag().ok()
}

/// Parses one complete command (as delimited by [`frame`], line end included).
///
/// ```text
/// command         = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
/// command-any     = "CAPABILITY" / "LOGOUT" / "NOOP" / x-command / id
/// command-auth    = append / create / delete / examine / list / lsub / rename / select / status /
///                   subscribe / unsubscribe / enable / idle / namespace
/// command-nonauth = login / authenticate / "STARTTLS"
/// command-select  = "CHECK" / "CLOSE" / "EXPUNGE" / copy / fetch / store / uid / search / move / "UNSELECT"
/// uid             = "UID" SP (copy / move / fetch / search / store / uid-expunge)
/// ```
pub fn parse_command(input: &[u8]) -> Result<Command, ParseError> {
    let mut p = Parser::new(input);
    let tag = p.tag().map_err(|message| ParseError { tag: None, message })?;
    let body = (|| {
        p.sp()?;
        let body = p.command_body()?;
        p.end()?;
        Ok(body)
    })()
    .map_err(|message| ParseError { tag: Some(tag.clone()), message })?;
    Ok(Command { tag, body })
}

/// Nesting allowed in SEARCH keys (`NOT`, `OR`, parentheses).
const MAX_SEARCH_DEPTH: u32 = 32;

type R<T> = Result<T, String>;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
}

fn is_atom_char(b: u8) -> bool {
    // ATOM-CHAR = <any CHAR except atom-specials>; atom-specials = "(" / ")" / "{" / SP / CTL / "%" / "*" /
    // DQUOTE / "\" / "]"
    b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b)
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

impl<'a> Parser<'a> {
    fn new(s: &'a [u8]) -> Self {
        Parser { s, i: 0, depth: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> R<()> {
        if self.eat(b) { Ok(()) } else { Err(format!("expected {what}")) }
    }

    fn sp(&mut self) -> R<()> {
        match self.peek() {
            Some(b' ') => {
                self.i += 1;
                Ok(())
            }
            None | Some(b'\r') | Some(b'\n') => Err("missing argument".into()),
            _ => Err("expected a single space".into()),
        }
    }

    fn at_end(&self) -> bool {
        matches!(&self.s[self.i..], b"\r\n" | b"\n" | b"")
    }

    fn end(&mut self) -> R<()> {
        if self.at_end() {
            self.i = self.s.len();
            Ok(())
        } else if self.peek() == Some(b' ') {
            Err("unexpected extra arguments".into())
        } else {
            Err("unexpected characters at end of command".into())
        }
    }

    /// `tag = 1*<any ASTRING-CHAR except "+">`
    fn tag(&mut self) -> R<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tag_char) {
            self.i += 1;
        }
        if self.i == start {
            return Err("missing or invalid tag".into());
        }
        if !matches!(self.peek(), Some(b' ') | Some(b'\r') | Some(b'\n') | None) {
            return Err("invalid character in tag".into());
        }
        // Tag characters are ASCII.
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// A keyword: letters, digits, `.`, `-`, `+`, `=`, `/` (command names, fetch items, flags' bare part).
    fn word(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(|b| is_atom_char(b) && b != b'[') {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn keyword(&mut self) -> R<String> {
        let w = self.word();
        if w.is_empty() {
            return Err("expected a keyword".into());
        }
        Ok(String::from_utf8_lossy(w).to_ascii_uppercase())
    }

    /// `atom = 1*ATOM-CHAR`
    fn atom(&mut self) -> R<&'a [u8]> {
        let start = self.i;
        while self.peek().is_some_and(is_atom_char) {
            self.i += 1;
        }
        if self.i == start { Err("expected an atom".into()) } else { Ok(&self.s[start..self.i]) }
    }

    /// `number = 1*DIGIT` (fits in 64 bits; callers narrow it)
    fn number(&mut self) -> R<u64> {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        if digits.is_empty() {
            return Err("expected a number".into());
        }
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| "number too large".to_string())
    }

    fn number32(&mut self) -> R<u32> {
        u32::try_from(self.number()?).map_err(|_| "number too large".to_string())
    }

    /// ```text
    /// quoted          = DQUOTE *QUOTED-CHAR DQUOTE
    /// QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
    /// ```
    fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"', "'\"'")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.i += 1;
                        }
                        _ => return Err("invalid escape in quoted string (only \\\" and \\\\)".into()),
                    }
                }
                Some(0) => return Err("NUL in quoted string".into()),
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// `literal = "{" number ["+"] "}" CRLF *CHAR8` (the data is already in the buffer: [`frame`] saw to it)
    fn literal(&mut self) -> R<Vec<u8>> {
        self.expect(b'{', "'{'")?;
        let n = self.number()?;
        self.eat(b'+');
        self.expect(b'}', "'}'")?;
        if !(self.eat(b'\r') && self.eat(b'\n') || self.eat(b'\n')) {
            return Err("literal announcement must end the line".into());
        }
        let n = usize::try_from(n).map_err(|_| "literal too large".to_string())?;
        let end = self.i.checked_add(n).filter(|&e| e <= self.s.len()).ok_or("literal data missing")?;
        let data = self.s[self.i..end].to_vec();
        self.i = end;
        Ok(data)
    }

    /// `string = quoted / literal`
    fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err("expected a quoted string or literal".into()),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`
    fn astring(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let start = self.i;
                while self.peek().is_some_and(is_astring_char) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(match self.peek() {
                        None | Some(b'\r') | Some(b'\n') => "missing argument".into(),
                        _ => "expected an atom, quoted string or literal".into(),
                    });
                }
                Ok(self.s[start..self.i].to_vec())
            }
        }
    }

    fn astring_utf8(&mut self) -> R<String> {
        String::from_utf8(self.astring()?).map_err(|_| "string is not valid UTF-8".to_string())
    }

    /// `nstring = string / nil`
    fn nstring(&mut self) -> R<Option<Vec<u8>>> {
        if self.s[self.i..].len() >= 3 && self.s[self.i..self.i + 3].eq_ignore_ascii_case(b"NIL") {
            self.i += 3;
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// `mailbox = "INBOX" / astring`
    fn mailbox(&mut self) -> R<MailboxName> {
        self.astring()
    }

    /// `list-mailbox = 1*list-char / string`
    fn list_mailbox(&mut self) -> R<MailboxName> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let start = self.i;
                while self.peek().is_some_and(is_list_char) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err("expected a mailbox pattern".into());
                }
                Ok(self.s[start..self.i].to_vec())
            }
        }
    }

    /// `objectid = 1*255(ALPHA / DIGIT / "_" / "-")` (RFC 8474 §7), case kept.
    fn objectid(&mut self) -> R<String> {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            self.i += 1;
        }
        match self.i - start {
            1..=255 => Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()),
            _ => Err("invalid object identifier".into()),
        }
    }

    /// What follows `NOTIFY SET` ([`NotifySet`]).
    fn notify_set(&mut self) -> R<NotifySet> {
        self.sp()?;
        let status = self.peek() != Some(b'(');
        if status {
            if self.keyword()? != "STATUS" {
                return Err("expected STATUS or an event group".into());
            }
            self.sp()?;
        }
        let mut groups = Vec::new();
        loop {
            self.expect(b'(', "'(' before an event group")?;
            let filter = match self.keyword()?.as_str() {
                "SELECTED" => NotifyFilter::Selected,
                "SELECTED-DELAYED" => NotifyFilter::SelectedDelayed,
                "INBOXES" => NotifyFilter::Inboxes,
                "PERSONAL" => NotifyFilter::Personal,
                "SUBSCRIBED" => NotifyFilter::Subscribed,
                kind @ ("SUBTREE" | "MAILBOXES") => {
                    self.sp()?;
                    let mut names = Vec::new();
                    if self.eat(b'(') {
                        loop {
                            names.push(self.mailbox()?);
                            if self.eat(b')') {
                                break;
                            }
                            self.sp()?;
                        }
                    } else {
                        names.push(self.mailbox()?);
                    }
                    if kind == "SUBTREE" {
                        NotifyFilter::Subtree(names)
                    } else {
                        NotifyFilter::Mailboxes(names)
                    }
                }
                other => return Err(format!("unknown mailbox filter {other}")),
            };
            self.sp()?;
            let mut events = Vec::new();
            if self.eat(b'(') {
                loop {
                    let event = match self.keyword()?.as_str() {
                        "MESSAGENEW" => {
                            let mut items = Vec::new();
                            if self.peek() == Some(b' ') && self.s.get(self.i + 1) == Some(&b'(') {
                                self.i += 2;
                                loop {
                                    items.push(self.fetch_att()?);
                                    if self.eat(b')') {
                                        break;
                                    }
                                    self.sp()?;
                                }
                            }
                            NotifyEvent::MessageNew(items)
                        }
                        "MESSAGEEXPUNGE" => NotifyEvent::MessageExpunge,
                        "FLAGCHANGE" => NotifyEvent::FlagChange,
                        "ANNOTATIONCHANGE" => NotifyEvent::AnnotationChange,
                        "MAILBOXNAME" => NotifyEvent::MailboxName,
                        "SUBSCRIPTIONCHANGE" => NotifyEvent::SubscriptionChange,
                        "MAILBOXMETADATACHANGE" => NotifyEvent::MailboxMetadataChange,
                        "SERVERMETADATACHANGE" => NotifyEvent::ServerMetadataChange,
                        other => NotifyEvent::Other(other.to_string()),
                    };
                    events.push(event);
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            } else if self.keyword()? != "NONE" {
                return Err("expected an event list or NONE".into());
            }
            self.expect(b')', "')' after an event group")?;
            groups.push(EventGroup { filter, events });
            if !self.eat(b' ') {
                return Ok(NotifySet { status, groups });
            }
        }
    }

    /// The parenthesised part of `QRESYNC (...)` ([`QresyncParams`]).
    fn qresync_params(&mut self) -> R<QresyncParams> {
        self.expect(b'(', "'(' before QRESYNC parameters")?;
        let uid_validity = self.number32()?;
        if uid_validity == 0 {
            return Err("UIDVALIDITY is never 0".into());
        }
        self.sp()?;
        let modseq = self.number()?;
        let (mut known_uids, mut seq_match) = (None, None);
        if self.eat(b' ') {
            if self.peek() != Some(b'(') {
                known_uids = Some(self.plain_sequence_set()?);
                if self.eat(b' ') {
                    seq_match = Some(self.seq_match()?);
                }
            } else {
                seq_match = Some(self.seq_match()?);
            }
        }
        self.expect(b')', "')' after QRESYNC parameters")?;
        Ok(QresyncParams { uid_validity, modseq, known_uids, seq_match })
    }

    /// `seq-match-data = "(" known-sequence-set SP known-uid-set ")"`
    fn seq_match(&mut self) -> R<(SequenceSet, SequenceSet)> {
        self.expect(b'(', "'(' before seq-match-data")?;
        let seqs = self.plain_sequence_set()?;
        self.sp()?;
        let uids = self.plain_sequence_set()?;
        self.expect(b')', "')' after seq-match-data")?;
        Ok((seqs, uids))
    }

    /// A sequence set where `$` makes no sense (QRESYNC's UID and number lists).
    fn plain_sequence_set(&mut self) -> R<SequenceSet> {
        match self.sequence_set()? {
            set if set.is_saved() => Err("'$' is not allowed here".into()),
            set => Ok(set),
        }
    }

    /// `sequence-set` as an atom, then validated.
    fn sequence_set(&mut self) -> R<SequenceSet> {
        // RFC 5182 §4: seq-or-saved = sequence-set / "$"
        if self.eat(b'$') {
            if self.peek().is_some_and(|b| b != b' ' && b != b')' && b != b'\r' && b != b'\n') {
                return Err("invalid sequence set: '$' stands alone".into());
            }
            return Ok(SequenceSet::saved());
        }
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit() || b"*:,".contains(&b)) {
            self.i += 1;
        }
        if self.peek().is_some_and(|b| b != b' ' && b != b')' && b != b'\r' && b != b'\n') {
            return Err("invalid sequence set: unexpected character".into());
        }
        SequenceSet::parse(&self.s[start..self.i]).map_err(|e| format!("invalid sequence set: {e}"))
    }

    /// ```text
    /// flag            = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension
    /// flag-extension  = "\" atom
    /// ```
    fn flag(&mut self) -> R<String> {
        let start = self.i;
        self.eat(b'\\');
        self.atom().map_err(|_| "expected a flag".to_string())?;
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`
    fn flag_list(&mut self) -> R<Vec<String>> {
        self.expect(b'(', "'('")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    fn command_body(&mut self) -> R<CommandBody> {
        let name = self.keyword().map_err(|_| "missing command".to_string())?;
        Ok(match name.as_str() {
            "CAPABILITY" => CommandBody::Capability,
            "NOOP" => CommandBody::Noop,
            "LOGOUT" => CommandBody::Logout,
            "STARTTLS" => CommandBody::StartTls,
            "CHECK" => CommandBody::Check,
            "CLOSE" => CommandBody::Close,
            "UNSELECT" => CommandBody::Unselect,
            "EXPUNGE" => CommandBody::Expunge { uids: None },
            "IDLE" => CommandBody::Idle,
            "NAMESPACE" => CommandBody::Namespace,
            "CANCELUPDATE" => {
                // cancelupdate = "CANCELUPDATE" 1*(SP quoted)   (RFC 5267 §4.5)
                let mut tags = Vec::new();
                while !self.at_end() {
                    self.sp()?;
                    tags.push(String::from_utf8_lossy(&self.quoted()?).into_owned());
                }
                if tags.is_empty() {
                    return Err("missing argument".into());
                }
                CommandBody::CancelUpdate { tags }
            }
            "LOGIN" => {
                // login = "LOGIN" SP userid SP password
                self.sp()?;
                let user = self.astring_utf8()?;
                self.sp()?;
                let password = Secret(self.astring_utf8()?);
                CommandBody::Login { user, password }
            }
            "AUTHENTICATE" => {
                // authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] (RFC 4959)
                self.sp()?;
                let mechanism = String::from_utf8_lossy(self.atom()?).to_ascii_uppercase();
                let initial = if self.eat(b' ') {
                    let start = self.i;
                    while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) {
                        self.i += 1;
                    }
                    if self.i == start {
                        return Err("expected a base64 initial response".into());
                    }
                    Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
                } else {
                    None
                };
                CommandBody::Authenticate { mechanism, initial }
            }
            "ENABLE" => {
                // enable = "ENABLE" 1*(SP capability)
                let mut capabilities = Vec::new();
                while !self.at_end() {
                    self.sp()?;
                    capabilities.push(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase());
                }
                if capabilities.is_empty() {
                    return Err("missing argument".into());
                }
                CommandBody::Enable { capabilities }
            }
            "SELECT" | "EXAMINE" => {
                // select = "SELECT" SP mailbox [SP "(" select-param *(SP select-param) ")"]   (RFC 7162)
                self.sp()?;
                let mailbox = self.mailbox()?;
                let (mut condstore, mut qresync) = (false, None);
                if self.eat(b' ') {
                    self.expect(b'(', "'(' before select parameters")?;
                    loop {
                        match self.keyword()?.as_str() {
                            "CONDSTORE" => condstore = true,
                            "QRESYNC" if qresync.is_none() => {
                                self.sp()?;
                                qresync = Some(self.qresync_params()?);
                            }
                            other => return Err(format!("unsupported select parameter {other}")),
                        }
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                }
                CommandBody::Select { mailbox, read_only: name == "EXAMINE", condstore, qresync }
            }
            "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                match name.as_str() {
                    "CREATE" => CommandBody::Create { mailbox },
                    "DELETE" => CommandBody::Delete { mailbox },
                    "SUBSCRIBE" => CommandBody::Subscribe { mailbox },
                    _ => CommandBody::Unsubscribe { mailbox },
                }
            }
            "RENAME" => {
                self.sp()?;
                let from = self.mailbox()?;
                self.sp()?;
                let to = self.mailbox()?;
                CommandBody::Rename { from, to }
            }
            "LIST" | "LSUB" => {
                // list = "LIST" SP [list-select-opts SP] mailbox SP mbox-or-pat [SP list-return-opts]
                // mbox-or-pat = list-mailbox / patterns ; patterns = "(" list-mailbox *(SP list-mailbox) ")"
                // (RFC 5258 §6; LSUB takes no options and one pattern)
                self.sp()?;
                let mut options = ListOptions::default();
                let extended = name == "LIST";
                if extended && self.peek() == Some(b'(') {
                    let (mut base, mut recursive) = (false, false);
                    for opt in self.option_list()? {
                        match opt.as_str() {
                            "SUBSCRIBED" => {
                                options.subscribed = true;
                                options.return_subscribed = true;
                                base = true;
                            }
                            "SPECIAL-USE" => {
                                options.special_use_only = true;
                                base = true;
                            }
                            "REMOTE" => {}
                            "RECURSIVEMATCH" => recursive = true,
                            other => return Err(format!("unknown LIST selection option {other}")),
                        }
                    }
                    // §3: RECURSIVEMATCH needs a base option to recurse on.
                    if recursive && !base {
                        return Err("RECURSIVEMATCH needs another selection option".into());
                    }
                    options.recursive = recursive;
                    self.sp()?;
                }
                let reference = self.mailbox()?;
                self.sp()?;
                let mut patterns = Vec::new();
                if extended && self.eat(b'(') {
                    loop {
                        patterns.push(self.list_mailbox()?);
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                } else {
                    patterns.push(self.list_mailbox()?);
                }
                if extended && self.eat(b' ') {
                    if self.keyword()? != "RETURN" {
                        return Err("expected RETURN".into());
                    }
                    self.sp()?;
                    self.expect(b'(', "'(' before return options")?;
                    let mut first = true;
                    while !self.eat(b')') {
                        if !std::mem::replace(&mut first, false) {
                            self.sp()?;
                        }
                        match self.keyword()?.as_str() {
                            "SUBSCRIBED" => options.return_subscribed = true,
                            // Children and special-use attributes are always returned (CHILDREN, SPECIAL-USE).
                            "CHILDREN" | "SPECIAL-USE" => {}
                            "STATUS" => {
                                self.sp()?;
                                options.return_status = Some(self.status_items()?);
                            }
                            other => return Err(format!("unknown LIST return option {other}")),
                        }
                    }
                }
                CommandBody::List { reference, patterns, lsub: name == "LSUB", options }
            }
            "NOTIFY" => {
                // notify = "NOTIFY" SP (notify-set / "NONE")   (RFC 5465 §8)
                self.sp()?;
                match self.keyword()?.as_str() {
                    "NONE" => CommandBody::Notify { set: None },
                    "SET" => CommandBody::Notify { set: Some(self.notify_set()?) },
                    _ => return Err("expected SET or NONE".into()),
                }
            }
            "STATUS" => {
                // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.status_items()?;
                CommandBody::Status { mailbox, items }
            }
            "APPEND" => {
                // append         = "APPEND" SP mailbox 1*append-message                 (RFC 3502 §6)
                // append-message = [SP flag-list] [SP date-time] SP (literal / literal8 / catenate / utf8)
                // catenate       = "CATENATE" SP "(" cat-part *(SP cat-part) ")"    (RFC 4469 §5)
                // cat-part       = "TEXT" SP literal / "URL" SP astring
                // utf8           = "UTF8" SP "(" literal8 ")"                        (RFC 6855 §4)
                self.sp()?;
                let mailbox = self.mailbox()?;
                let mut messages = Vec::new();
                while self.peek() == Some(b' ') || messages.is_empty() {
                    self.sp()?;
                    let mut flags = Vec::new();
                    if self.peek() == Some(b'(') {
                        flags = self.flag_list()?;
                        self.sp()?;
                    }
                    let mut date = None;
                    if self.peek() == Some(b'"') {
                        let text = self.quoted()?;
                        date = Some(parse_date_time(&text).ok_or("invalid date-time")?);
                        self.sp()?;
                    }
                    if self.peek().is_some_and(|b| b.eq_ignore_ascii_case(&b'U')) {
                        if self.keyword()? != "UTF8" {
                            return Err("expected the message as a literal, CATENATE or UTF8".into());
                        }
                        self.sp()?;
                        self.expect(b'(', "'(' after UTF8")?;
                        if !self.eat(b'~') || self.peek() != Some(b'{') {
                            return Err("expected a literal8 after UTF8".into());
                        }
                        let message = self.literal()?;
                        self.expect(b')', "')' after the UTF8 literal")?;
                        messages.push(AppendMessage { flags, date, message, catenate: None, utf8: true });
                        continue;
                    }
                    if self.peek().is_some_and(|b| b.eq_ignore_ascii_case(&b'C')) {
                        if self.keyword()? != "CATENATE" {
                            return Err("expected the message as a literal or CATENATE".into());
                        }
                        self.sp()?;
                        self.expect(b'(', "'(' after CATENATE")?;
                        let mut parts = Vec::new();
                        loop {
                            parts.push(match self.keyword()?.as_str() {
                                "TEXT" => {
                                    self.sp()?;
                                    self.eat(b'~');
                                    if self.peek() != Some(b'{') {
                                        return Err("expected a literal after TEXT".into());
                                    }
                                    CatPart::Text(self.literal()?)
                                }
                                "URL" => {
                                    self.sp()?;
                                    CatPart::Url(self.astring_utf8()?)
                                }
                                other => return Err(format!("unknown CATENATE part {other}")),
                            });
                            if self.eat(b')') {
                                break;
                            }
                            self.sp()?;
                        }
                        messages.push(AppendMessage {
                            flags,
                            date,
                            message: Vec::new(),
                            catenate: Some(parts),
                            utf8: false,
                        });
                        continue;
                    }
                    // RFC 3516 §4.4: `~{n}` (literal8) may carry any octet, NUL included.
                    self.eat(b'~');
                    if self.peek() != Some(b'{') {
                        return Err("expected the message as a literal".into());
                    }
                    messages.push(AppendMessage {
                        flags,
                        date,
                        message: self.literal()?,
                        catenate: None,
                        utf8: false,
                    });
                }
                CommandBody::Append { mailbox, messages }
            }
            "ID" => {
                // id = "ID" SP id-params-list ; id-params-list = "(" *(string SP nstring) ")" / nil
                self.sp()?;
                if self.eat(b'(') {
                    let mut params = Vec::new();
                    if !self.eat(b')') {
                        loop {
                            let k = String::from_utf8_lossy(&self.string()?).into_owned();
                            self.sp()?;
                            let v = self.nstring()?.map(|v| String::from_utf8_lossy(&v).into_owned());
                            params.push((k, v));
                            if self.eat(b')') {
                                break;
                            }
                            self.sp()?;
                            if params.len() >= 30 {
                                return Err("too many ID parameters".into());
                            }
                        }
                    }
                    CommandBody::Id { params: Some(params) }
                } else {
                    if self.nstring()?.is_some() {
                        return Err("expected a parameter list or NIL".into());
                    }
                    CommandBody::Id { params: None }
                }
            }
            "SEARCH" | "SORT" | "THREAD" | "FETCH" | "STORE" | "COPY" | "MOVE" => {
                self.select_command(&name, false)?
            }
            "UID" => {
                self.sp()?;
                let sub = self.keyword()?;
                match sub.as_str() {
                    "SEARCH" | "SORT" | "THREAD" | "FETCH" | "STORE" | "COPY" | "MOVE" => {
                        self.select_command(&sub, true)?
                    }
                    "EXPUNGE" => {
                        self.sp()?;
                        CommandBody::Expunge { uids: Some(self.sequence_set()?) }
                    }
                    _ => return Err(format!("unknown UID command {sub}")),
                }
            }
            _ => return Err(format!("unknown command {name}")),
        })
    }

    /// `"(" status-att *(SP status-att) ")"`
    fn status_items(&mut self) -> R<Vec<StatusItem>> {
        self.expect(b'(', "'(' before status items")?;
        let mut items = Vec::new();
        loop {
            items.push(match self.keyword()?.as_str() {
                "MESSAGES" => StatusItem::Messages,
                "RECENT" => StatusItem::Recent,
                "UIDNEXT" => StatusItem::UidNext,
                "UIDVALIDITY" => StatusItem::UidValidity,
                "UNSEEN" => StatusItem::Unseen,
                "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
                "DELETED" => StatusItem::Deleted,
                "SIZE" => StatusItem::Size,
                "MAILBOXID" => StatusItem::MailboxId,
                other => return Err(format!("unknown status item {other}")),
            });
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp()?;
        }
    }

    /// `"(" [option *(SP option)] ")"`, option words only.
    fn option_list(&mut self) -> R<Vec<String>> {
        self.expect(b'(', "'('")?;
        let mut out = Vec::new();
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            out.push(self.keyword()?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// `search-return-opts SP` if present (RFC 4731 §3.1), after the command name and its SP:
    ///
    /// ```text
    /// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
    /// search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT"
    /// ```
    fn search_return(&mut self) -> R<Option<Vec<SearchReturn>>> {
        let save = self.i;
        if self.keyword().ok().as_deref() != Some("RETURN") {
            self.i = save;
            return Ok(None);
        }
        self.sp()?;
        self.expect(b'(', "'(' before search return options")?;
        let mut opts = Vec::new();
        while !self.eat(b')') {
            if !opts.is_empty() {
                self.sp()?;
            }
            opts.push(match self.keyword()?.as_str() {
                "MIN" => SearchReturn::Min,
                "MAX" => SearchReturn::Max,
                "ALL" => SearchReturn::All,
                "COUNT" => SearchReturn::Count,
                "SAVE" => SearchReturn::Save,
                "UPDATE" => SearchReturn::Update,
                "PARTIAL" => {
                    // partial-range = (nz-number ":" nz-number) / ("-" nz-number ":-" nz-number)  (RFC 9394 §3)
                    self.sp()?;
                    let negative = self.eat(b'-');
                    let a = self.number32()?;
                    self.expect(b':', "':' in a PARTIAL range")?;
                    if negative {
                        self.expect(b'-', "'-' in a negative PARTIAL range")?;
                    }
                    let b = self.number32()?;
                    if a == 0 || b == 0 {
                        return Err("PARTIAL positions start at 1".into());
                    }
                    let (a, b) = (i64::from(a.min(b)), i64::from(a.max(b)));
                    if negative { SearchReturn::Partial(-b, -a) } else { SearchReturn::Partial(a, b) }
                }
                other => return Err(format!("unknown RETURN option {other}")),
            });
        }
        self.sp()?;
        Ok(Some(opts))
    }

    /// `search-charset 1*(SP search-key)` of SORT and THREAD (RFC 5256 §5): the charset upper-cased, and the keys
    /// as one (an AND of several).
    fn charset_and_keys(&mut self) -> R<(String, SearchKey)> {
        let charset = String::from_utf8_lossy(&self.astring()?).to_ascii_uppercase();
        self.sp()?;
        let mut keys = vec![self.search_key()?];
        while self.eat(b' ') {
            keys.push(self.search_key()?);
        }
        Ok((charset, if keys.len() == 1 { keys.remove(0) } else { SearchKey::And(keys) }))
    }

    fn select_command(&mut self, name: &str, uid: bool) -> R<CommandBody> {
        self.sp()?;
        Ok(match name {
            "THREAD" => {
                // thread = ["UID" SP] "THREAD" SP thread-alg SP search-charset 1*(SP search-key)   (RFC 5256 §5)
                let algorithm = match self.keyword()?.as_str() {
                    "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
                    "REFERENCES" => ThreadAlgorithm::References,
                    other => return Err(format!("unsupported threading algorithm {other}")),
                };
                self.sp()?;
                let (charset, key) = self.charset_and_keys()?;
                CommandBody::Thread { uid, algorithm, charset, key }
            }
            "SORT" => {
                // sort           = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP search-charset
                //                  1*(SP search-key)                       ; RETURN: ESORT, RFC 5267 §3
                // sort-criteria  = "(" sort-criterion *(SP sort-criterion) ")"
                // sort-criterion = ["REVERSE" SP] sort-key
                // sort-key       = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO"   (RFC 5256 §5)
                //                  / "DISPLAYFROM" / "DISPLAYTO"                                  (RFC 5957 §4)
                let ret = self.search_return()?;
                self.expect(b'(', "'(' before sort criteria")?;
                let mut criteria = Vec::new();
                loop {
                    let mut word = self.keyword()?;
                    let reverse = word == "REVERSE";
                    if reverse {
                        self.sp()?;
                        word = self.keyword()?;
                    }
                    let key = match word.as_str() {
                        "ARRIVAL" => SortKey::Arrival,
                        "CC" => SortKey::Cc,
                        "DATE" => SortKey::Date,
                        "DISPLAYFROM" => SortKey::DisplayFrom,
                        "DISPLAYTO" => SortKey::DisplayTo,
                        "FROM" => SortKey::From,
                        "SIZE" => SortKey::Size,
                        "SUBJECT" => SortKey::Subject,
                        "TO" => SortKey::To,
                        other => return Err(format!("unknown sort key {other}")),
                    };
                    criteria.push((reverse, key));
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
                self.sp()?;
                let (charset, key) = self.charset_and_keys()?;
                CommandBody::Sort { uid, criteria, charset, key, ret }
            }
            "SEARCH" => {
                // search             = "SEARCH" [search-return-opts] [SP "CHARSET" SP astring] 1*(SP search-key)
                // search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
                // search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT"                    (RFC 4731 §3.1)
                let ret = self.search_return()?;
                let mut charset = None;
                let save = self.i;
                if self.keyword().ok().as_deref() == Some("CHARSET") {
                    self.sp()?;
                    charset = Some(String::from_utf8_lossy(&self.astring()?).to_ascii_uppercase());
                    self.sp()?;
                } else {
                    self.i = save;
                }
                let mut keys = vec![self.search_key()?];
                while self.eat(b' ') {
                    keys.push(self.search_key()?);
                }
                let key = if keys.len() == 1 { keys.remove(0) } else { SearchKey::And(keys) };
                CommandBody::Search { uid, charset, key, ret }
            }
            "FETCH" => {
                // fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
                //         "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
                let set = self.sequence_set()?;
                self.sp()?;
                let mut items = Vec::new();
                if self.eat(b'(') {
                    loop {
                        items.push(self.fetch_att()?);
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                } else {
                    let save = self.i;
                    let w = self.keyword()?;
                    use FetchItem::*;
                    match w.as_str() {
                        "ALL" => items.extend([Flags, InternalDate, Rfc822Size, Envelope]),
                        "FAST" => items.extend([Flags, InternalDate, Rfc822Size]),
                        "FULL" => items.extend([Flags, InternalDate, Rfc822Size, Envelope, Body]),
                        _ => {
                            self.i = save;
                            items.push(self.fetch_att()?);
                        }
                    }
                }
                // fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
                // fetch-modifier  = chgsince-fetch-mod / "VANISHED"           (RFC 7162 §3.1.4.1, §3.2.6)
                // chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value
                let (mut changed_since, mut vanished) = (None, false);
                if self.eat(b' ') {
                    self.expect(b'(', "'(' before fetch modifiers")?;
                    loop {
                        match self.keyword()?.as_str() {
                            "CHANGEDSINCE" if changed_since.is_none() => {
                                self.sp()?;
                                changed_since = Some(self.number()?);
                            }
                            "VANISHED" if !vanished => vanished = true,
                            _ => return Err("unknown or repeated fetch modifier".into()),
                        }
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                }
                CommandBody::Fetch { uid, set, items, changed_since, vanished }
            }
            "STORE" => {
                // store = "STORE" SP sequence-set [SP "(" "UNCHANGEDSINCE" SP mod-sequence-value ")"]
                //         SP store-att-flags
                // store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
                let set = self.sequence_set()?;
                self.sp()?;
                let mut unchanged_since = None;
                if self.eat(b'(') {
                    if self.keyword()? != "UNCHANGEDSINCE" {
                        return Err("unknown store modifier".into());
                    }
                    self.sp()?;
                    unchanged_since = Some(self.number()?);
                    self.expect(b')', "')'")?;
                    self.sp()?;
                }
                let op = if self.eat(b'+') {
                    FlagOp::Add
                } else if self.eat(b'-') {
                    FlagOp::Remove
                } else {
                    FlagOp::Set
                };
                let silent = match self.keyword()?.as_str() {
                    "FLAGS" => false,
                    "FLAGS.SILENT" => true,
                    other => return Err(format!("unknown store item {other}")),
                };
                self.sp()?;
                let flags = if self.peek() == Some(b'(') {
                    self.flag_list()?
                } else {
                    let mut flags = vec![self.flag()?];
                    while self.eat(b' ') {
                        flags.push(self.flag()?);
                    }
                    flags
                };
                CommandBody::Store { uid, set, op, silent, flags, unchanged_since }
            }
            _ => {
                // copy = "COPY" SP sequence-set SP mailbox ; move = "MOVE" SP sequence-set SP mailbox
                let set = self.sequence_set()?;
                self.sp()?;
                let mailbox = self.mailbox()?;
                if name == "COPY" {
                    CommandBody::Copy { uid, set, mailbox }
                } else {
                    CommandBody::Move { uid, set, mailbox }
                }
            }
        })
    }

    /// ```text
    /// fetch-att       = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
    ///                   "BODY" ["STRUCTURE"] / "UID" / "BODY" section ["<" number "." nz-number ">"] /
    ///                   "BODY.PEEK" section ["<" number "." nz-number ">"] / "MODSEQ"
    /// ```
    fn fetch_att(&mut self) -> R<FetchItem> {
        let w = self.keyword()?;
        Ok(match w.as_str() {
            "ENVELOPE" => FetchItem::Envelope,
            "FLAGS" => FetchItem::Flags,
            "INTERNALDATE" => FetchItem::InternalDate,
            "RFC822" => FetchItem::Rfc822,
            "RFC822.HEADER" => FetchItem::Rfc822Header,
            "RFC822.SIZE" => FetchItem::Rfc822Size,
            "RFC822.TEXT" => FetchItem::Rfc822Text,
            "BODYSTRUCTURE" => FetchItem::BodyStructure,
            "UID" => FetchItem::Uid,
            "MODSEQ" => FetchItem::ModSeq,
            "EMAILID" => FetchItem::EmailId,
            "THREADID" => FetchItem::ThreadId,
            "BODY" | "BODY.PEEK" if self.peek() == Some(b'[') => {
                let section = self.section()?;
                let partial = self.partial()?;
                FetchItem::Section { peek: w == "BODY.PEEK", section, partial }
            }
            "BODY" => FetchItem::Body,
            // RFC 3516 §4.2: section-binary = "[" [section-part] "]"
            "BINARY" | "BINARY.PEEK" => {
                let part = self.section_binary()?;
                let partial = self.partial()?;
                FetchItem::Binary { peek: w == "BINARY.PEEK", part, partial }
            }
            "BINARY.SIZE" => FetchItem::BinarySize { part: self.section_binary()? },
            other => return Err(format!("unknown fetch item {other}")),
        })
    }

    /// `["<" number "." nz-number ">"]`
    fn partial(&mut self) -> R<Option<(u32, u32)>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let origin = self.number32()?;
        self.expect(b'.', "'.' in partial")?;
        let len = self.number32()?;
        if len == 0 {
            return Err("partial length must be non-zero".into());
        }
        self.expect(b'>', "'>'")?;
        Ok(Some((origin, len)))
    }

    /// `section-binary = "[" [section-part] "]"` (RFC 3516 §4.2)
    fn section_binary(&mut self) -> R<Vec<u32>> {
        let section = self.section()?;
        if section.text.is_some() {
            return Err("BINARY takes only a part number".into());
        }
        Ok(section.part)
    }

    /// ```text
    /// section         = "[" [section-spec] "]"
    /// section-spec    = section-msgtext / (section-part ["." section-text])
    /// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
    /// section-part    = nz-number *("." nz-number)
    /// section-text    = section-msgtext / "MIME"
    /// header-list     = "(" header-fld-name *(SP header-fld-name) ")"
    /// ```
    fn section(&mut self) -> R<Section> {
        self.expect(b'[', "'['")?;
        let mut section = Section::default();
        if self.eat(b']') {
            return Ok(section);
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            let n = self.number32()?;
            if n == 0 {
                return Err("section part numbers start at 1".into());
            }
            if section.part.len() >= 64 {
                return Err("section part path too deep".into());
            }
            section.part.push(n);
            if !self.eat(b'.') {
                self.expect(b']', "']' after section")?;
                return Ok(section);
            }
        }
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic() || b == b'.') {
            self.i += 1;
        }
        let text = String::from_utf8_lossy(&self.s[start..self.i]).to_ascii_uppercase();
        section.text = Some(match text.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !section.part.is_empty() => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                self.sp()?;
                self.expect(b'(', "'(' before header names")?;
                let mut fields = Vec::new();
                loop {
                    let f = self.astring()?;
                    if f.is_empty() || !f.iter().all(|&b| b > 0x20 && b < 0x7f && b != b':') {
                        return Err("invalid header field name".into());
                    }
                    fields.push(String::from_utf8_lossy(&f).into_owned());
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
                SectionText::HeaderFields { not: text.ends_with(".NOT"), fields }
            }
            _ => return Err("invalid section".into()),
        });
        self.expect(b']', "']' after section")?;
        Ok(section)
    }

    /// `search-key` (RFC 3501 §9, plus RFC 7162 `MODSEQ`). Depth is bounded by [`MAX_SEARCH_DEPTH`].
    fn search_key(&mut self) -> R<SearchKey> {
        self.depth += 1;
        if self.depth > MAX_SEARCH_DEPTH {
            return Err("search criteria nested too deeply".into());
        }
        let key = self.search_key_inner();
        self.depth -= 1;
        key
    }

    fn search_key_inner(&mut self) -> R<SearchKey> {
        if self.eat(b'(') {
            let mut keys = vec![self.search_key()?];
            while self.eat(b' ') {
                keys.push(self.search_key()?);
            }
            self.expect(b')', "')' closing search criteria")?;
            return Ok(SearchKey::And(keys));
        }
        if self.peek().is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$') {
            return Ok(SearchKey::Sequence(self.sequence_set()?));
        }
        let word = self.keyword().map_err(|_| "expected a search key".to_string())?;
        let flag = |f: &str| Ok(SearchKey::Flag(f.into()));
        let noflag = |f: &str| Ok(SearchKey::NoFlag(f.into()));
        match word.as_str() {
            "ALL" => Ok(SearchKey::All),
            "ANSWERED" => flag("\\Answered"),
            "DELETED" => flag("\\Deleted"),
            "DRAFT" => flag("\\Draft"),
            "FLAGGED" => flag("\\Flagged"),
            "SEEN" => flag("\\Seen"),
            "UNANSWERED" => noflag("\\Answered"),
            "UNDELETED" => noflag("\\Deleted"),
            "UNDRAFT" => noflag("\\Draft"),
            "UNFLAGGED" => noflag("\\Flagged"),
            "UNSEEN" => noflag("\\Seen"),
            "NEW" => Ok(SearchKey::New),
            "OLD" => Ok(SearchKey::Old),
            "RECENT" => Ok(SearchKey::Recent),
            "KEYWORD" | "UNKEYWORD" => {
                self.sp()?;
                let k = String::from_utf8_lossy(self.atom()?).into_owned();
                Ok(if word == "KEYWORD" { SearchKey::Flag(k) } else { SearchKey::NoFlag(k) })
            }
            "BCC" | "CC" | "FROM" | "SUBJECT" | "TO" => {
                self.sp()?;
                let v = self.astring_utf8()?;
                Ok(SearchKey::Header(word.to_ascii_lowercase(), v))
            }
            "HEADER" => {
                self.sp()?;
                let name = self.astring_utf8()?;
                self.sp()?;
                let v = self.astring_utf8()?;
                Ok(SearchKey::Header(name.to_ascii_lowercase(), v))
            }
            "BODY" => {
                self.sp()?;
                Ok(SearchKey::Body(self.astring_utf8()?))
            }
            "TEXT" => {
                self.sp()?;
                Ok(SearchKey::Text(self.astring_utf8()?))
            }
            "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
                self.sp()?;
                let text = self.astring()?;
                let date = parse_date(&text).ok_or("invalid date (expected d-Mon-yyyy)")?;
                let cmp = match word.trim_start_matches("SENT") {
                    "BEFORE" => DateCmp::Before,
                    "ON" => DateCmp::On,
                    _ => DateCmp::Since,
                };
                Ok(if word.starts_with("SENT") {
                    SearchKey::Sent(cmp, date)
                } else {
                    SearchKey::Date(cmp, date)
                })
            }
            "LARGER" | "SMALLER" => {
                self.sp()?;
                let n = self.number()?;
                Ok(if word == "LARGER" { SearchKey::Larger(n) } else { SearchKey::Smaller(n) })
            }
            "EMAILID" | "THREADID" => {
                // search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid     (RFC 8474 §7)
                self.sp()?;
                let id = self.objectid()?;
                Ok(if word == "EMAILID" { SearchKey::EmailId(id) } else { SearchKey::ThreadId(id) })
            }
            "MODSEQ" => {
                // search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
                self.sp()?;
                if self.peek() == Some(b'"') {
                    self.quoted()?;
                    self.sp()?;
                    self.keyword()?;
                    self.sp()?;
                }
                Ok(SearchKey::ModSeq(self.number()?))
            }
            "NOT" => {
                self.sp()?;
                Ok(SearchKey::Not(Box::new(self.search_key()?)))
            }
            "OR" => {
                self.sp()?;
                let a = self.search_key()?;
                self.sp()?;
                let b = self.search_key()?;
                Ok(SearchKey::Or(Box::new(a), Box::new(b)))
            }
            "UID" => {
                self.sp()?;
                Ok(SearchKey::Uid(self.sequence_set()?))
            }
            other => Err(format!("unknown search key {other}")),
        }
    }
}

/// `date-month` (RFC 3501 §9), as written; read without regard to case.
pub const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `date-text = date-day "-" date-month "-" date-year` (`1-Feb-1994`).
pub fn parse_date(text: &[u8]) -> Option<NaiveDate> {
    let text = std::str::from_utf8(text).ok()?;
    let mut parts = text.split('-');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || d.is_empty() || d.len() > 2 || y.len() != 4 {
        return None;
    }
    let month = MONTHS.iter().position(|n| n.eq_ignore_ascii_case(m))? as u32 + 1;
    NaiveDate::from_ymd_opt(y.parse().ok()?, month, d.parse().ok()?)
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`
/// (`17-Jul-1996 02:44:25 -0700`; the day may be space-padded).
pub fn parse_date_time(text: &[u8]) -> Option<DateTime<FixedOffset>> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_prefix(' ').unwrap_or(text);
    let (date, rest) = text.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let date = parse_date(date.as_bytes())?;
    let t: Vec<&str> = time.split(':').collect();
    if t.len() != 3 || t.iter().any(|p| p.len() != 2) {
        return None;
    }
    let time = chrono::NaiveTime::from_hms_opt(t[0].parse().ok()?, t[1].parse().ok()?, t[2].parse().ok()?)?;
    let zb = zone.as_bytes();
    if zb.len() != 5 || !(zb[0] == b'+' || zb[0] == b'-') || !zb[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mins: i32 = zone[1..3].parse::<i32>().ok()? * 60 + zone[3..5].parse::<i32>().ok()?;
    let offset = FixedOffset::east_opt(if zb[0] == b'-' { -mins * 60 } else { mins * 60 })?;
    date.and_time(time).and_local_timezone(offset).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<CommandBody, String> {
        parse_command(s.as_bytes()).map(|c| c.body).map_err(|e| e.message)
    }

    #[test]
    fn framing_table() {
        let cases: &[(&[u8], usize, Frame)] = &[
            (b"a NOOP\r\n", 0, Frame::Complete(8)),
            (b"a NOOP\r\nb NOOP\r\n", 0, Frame::Complete(8)),
            (b"a NOO", 0, Frame::Incomplete),
            (b"a LOGIN {5}\r\n", 0, Frame::Continue { index: 0 }),
            (b"a LOGIN {5}\r\n", 1, Frame::Incomplete),
            (b"a LOGIN {5+}\r\n", 0, Frame::Incomplete),
            (b"a LOGIN {5}\r\nalice {8}\r\n", 1, Frame::Continue { index: 1 }),
            (b"a LOGIN {5}\r\nalice {8}\r\npassword\r\n", 2, Frame::Complete(34)),
            (b"a LOGIN {5+}\r\nalice \"x\"\r\n", 0, Frame::Complete(25)),
            (
                b"a APPEND x {999}\r\n",
                0,
                Frame::LiteralTooBig { size: 999, synchronizing: true, consumed: 18 },
            ),
            (
                b"a APPEND x {999+}\r\n",
                0,
                Frame::LiteralTooBig { size: 999, synchronizing: false, consumed: 19 },
            ),
            (b"a NOOP {99999999999999999999}\r\n", 0, Frame::Complete(31)),
            // Each literal fits, their sum does not: one command cannot grow without end.
            (
                b"a LOGIN {60+}\r\n012345678901234567890123456789012345678901234567890123456789 {60+}\r\n",
                0,
                Frame::LiteralTooBig { size: 120, synchronizing: false, consumed: 83 },
            ),
            (b"0123456789012345678901234567890123456789", 0, Frame::LineTooLong { start: 0 }),
            (
                b"a LOGIN {3+}\r\nabc 0123456789012345678901234567890123456789",
                0,
                Frame::LineTooLong { start: 17 },
            ),
        ];
        for (input, acked, want) in cases {
            assert_eq!(frame(input, *acked, 32, 100), *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn commands_table() {
        use CommandBody::*;
        assert_eq!(parse("a1 capability\r\n"), Ok(Capability));
        assert_eq!(
            parse("a LOGIN alice \"pass\\\"word\"\r\n"),
            Ok(Login { user: "alice".into(), password: Secret("pass\"word".into()) })
        );
        assert_eq!(
            parse("a LOGIN {5}\r\nalice {3+}\r\nx y\r\n"),
            Ok(Login { user: "alice".into(), password: Secret("x y".into()) })
        );
        assert_eq!(
            parse("a AUTHENTICATE plain AGFsaWNlAHBhc3N3b3Jk\r\n"),
            Ok(Authenticate { mechanism: "PLAIN".into(), initial: Some("AGFsaWNlAHBhc3N3b3Jk".into()) })
        );
        assert_eq!(
            parse("a select inbox (CONDSTORE)\r\n"),
            Ok(Select { mailbox: b"inbox".to_vec(), read_only: false, condstore: true, qresync: None })
        );
        // RFC 7162 §3.2.5's example, and the shortest form.
        let uids = |t: &[u8]| SequenceSet::parse(t).unwrap();
        assert_eq!(
            parse("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n"),
            Ok(Select {
                mailbox: b"INBOX".to_vec(),
                read_only: false,
                condstore: false,
                qresync: Some(QresyncParams {
                    uid_validity: 67890007,
                    modseq: 20050715194045000,
                    known_uids: Some(uids(b"41,43:211,214:541")),
                    seq_match: None,
                }),
            })
        );
        assert!(matches!(
            parse("a EXAMINE x (CONDSTORE QRESYNC (1 2 (1:3 5,7:8)))\r\n"),
            Ok(Select { read_only: true, condstore: true, qresync: Some(QresyncParams { known_uids: None, seq_match: Some(m), .. }), .. })
                if m == (uids(b"1:3"), uids(b"5,7:8"))
        ));
        assert!(matches!(
            parse("a select x (qresync (1 2 1:* (1 2)))\r\n"),
            Ok(Select { qresync: Some(QresyncParams { known_uids: Some(_), seq_match: Some(_), .. }), .. })
        ));
        assert!(matches!(
            parse("a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n"),
            Ok(Fetch { uid: true, changed_since: Some(12345), vanished: true, .. })
        ));
        assert!(matches!(
            parse("a UID FETCH 1 FLAGS (vanished changedsince 1)\r\n"),
            Ok(Fetch { changed_since: Some(1), vanished: true, .. })
        ));
        // RFC 6855 §4: a message with a UTF-8 header.
        assert!(matches!(
            parse("a APPEND INBOX (\\Seen) UTF8 (~{2}\r\nhi)\r\n"),
            Ok(Append { messages, .. }) if messages.len() == 1 && messages[0].utf8 && messages[0].message == b"hi"
        ));
        // RFC 8474 §5, §4.3.
        assert!(matches!(
            parse("a FETCH 1:* (EMAILID threadid)\r\n"),
            Ok(Fetch { items, .. }) if items == vec![FetchItem::EmailId, FetchItem::ThreadId]
        ));
        assert_eq!(
            parse("a STATUS foo (MAILBOXID)\r\n"),
            Ok(Status { mailbox: b"foo".to_vec(), items: vec![StatusItem::MailboxId] })
        );
        // RFC 5465 §3's examples, and the short forms.
        assert_eq!(parse("a NOTIFY NONE\r\n"), Ok(Notify { set: None }));
        let Ok(Notify { set: Some(n) }) = parse(
            "a notify set status (selected (MessageNew (uid body.peek[header.fields (from to subject)]) \
             MessageExpunge)) (subtree Lists (MessageNew MessageExpunge MailboxName)) \
             (mailboxes (a \"b c\") NONE) (personal (x-custom))\r\n",
        ) else {
            panic!("NOTIFY SET did not parse")
        };
        assert!(n.status);
        assert_eq!(n.groups.len(), 4);
        assert!(matches!(&n.groups[0].events[0], NotifyEvent::MessageNew(items) if items.len() == 2));
        assert_eq!(n.groups[1].filter, NotifyFilter::Subtree(vec![b"Lists".to_vec()]));
        assert_eq!(
            n.groups[2],
            EventGroup {
                filter: NotifyFilter::Mailboxes(vec![b"a".to_vec(), b"b c".to_vec()]),
                events: vec![]
            }
        );
        assert_eq!(n.groups[3].events, vec![NotifyEvent::Other("X-CUSTOM".into())]);
        let list = |patterns: &[&[u8]], options: ListOptions| {
            Ok(List {
                reference: vec![],
                patterns: patterns.iter().map(|p| p.to_vec()).collect(),
                lsub: false,
                options,
            })
        };
        assert_eq!(parse("a LIST \"\" %/*\r\n"), list(&[b"%/*"], ListOptions::default()));
        assert_eq!(
            parse("a LIST (SPECIAL-USE) \"\" *\r\n"),
            list(&[b"*"], ListOptions { special_use_only: true, ..Default::default() })
        );
        // RFC 5258 §6 and RFC 5819: selection options, several patterns, return options with STATUS.
        assert_eq!(
            parse(
                "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (a% \"b c\") RETURN (CHILDREN STATUS (SIZE DELETED))\r\n"
            ),
            list(
                &[b"a%", b"b c"],
                ListOptions {
                    subscribed: true,
                    recursive: true,
                    return_subscribed: true,
                    return_status: Some(vec![StatusItem::Size, StatusItem::Deleted]),
                    ..Default::default()
                }
            )
        );
        assert_eq!(
            parse("a LIST (REMOTE) \"\" % RETURN (SUBSCRIBED SPECIAL-USE)\r\n"),
            list(&[b"%"], ListOptions { return_subscribed: true, ..Default::default() })
        );
        // RFC 5182 `$`, RFC 3516 BINARY items and literal8.
        assert!(matches!(
            parse("a UID FETCH $ (BINARY.PEEK[1.2]<0.10> BINARY.SIZE[])\r\n"),
            Ok(Fetch { uid: true, set, items, .. }) if set.is_saved() && items == vec![
                FetchItem::Binary { peek: true, part: vec![1, 2], partial: Some((0, 10)) },
                FetchItem::BinarySize { part: vec![] },
            ]
        ));
        assert!(matches!(
            parse("a SEARCH RETURN (SAVE MIN) $ UID $\r\n"),
            Ok(Search { ret: Some(ret), key: SearchKey::And(keys), .. })
                if ret == vec![SearchReturn::Save, SearchReturn::Min]
                    && matches!(&keys[..], [SearchKey::Sequence(a), SearchKey::Uid(b)] if a.is_saved() && b.is_saved())
        ));
        assert!(matches!(
            parse("a APPEND x ~{3}\r\na\0b\r\n"),
            Ok(Append { messages, .. }) if messages[0].message == b"a\0b"
        ));
        assert!(matches!(
            parse("a STATUS blurdybloop (UIDNEXT MESSAGES)\r\n"),
            Ok(Status { items, .. }) if items == vec![StatusItem::UidNext, StatusItem::Messages]
        ));
        match parse("A003 APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello\r\n") {
            Ok(Append { messages, .. }) => {
                let [AppendMessage { flags, date, message, .. }] = &messages[..] else {
                    panic!("{messages:?}")
                };
                assert_eq!(flags, &vec!["\\Seen".to_string()]);
                assert_eq!(date.unwrap().to_rfc3339(), "1994-02-07T21:52:25-08:00");
                assert_eq!(message, b"hello");
            }
            other => panic!("{other:?}"),
        }
        // RFC 3502 MULTIAPPEND: several messages, each with its own flags and date.
        match parse("a APPEND x {1+}\r\n1 (\\Draft) {2+}\r\n22 \"7-Feb-1994 21:52:25 -0800\" {1+}\r\n3\r\n") {
            Ok(Append { messages, .. }) => {
                let m: Vec<(&[u8], usize, bool)> =
                    messages.iter().map(|m| (&m.message[..], m.flags.len(), m.date.is_some())).collect();
                assert_eq!(m, vec![(&b"1"[..], 0, false), (&b"22"[..], 1, false), (&b"3"[..], 0, true)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("a APPEND x {1+}\r\n1 \r\n").is_err());
        match parse("a FETCH 2:4 (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.100> BODY[1.2.MIME] UID)\r\n")
        {
            Ok(Fetch { items, .. }) => {
                assert_eq!(items.len(), 4);
                assert_eq!(
                    items[1],
                    FetchItem::Section {
                        peek: true,
                        section: Section {
                            part: vec![],
                            text: Some(SectionText::HeaderFields {
                                not: false,
                                fields: vec!["DATE".into(), "FROM".into()]
                            })
                        },
                        partial: Some((0, 100))
                    }
                );
                assert_eq!(
                    items[2],
                    FetchItem::Section {
                        peek: false,
                        section: Section { part: vec![1, 2], text: Some(SectionText::Mime) },
                        partial: None
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse("a UID fetch 1:* fast\r\n"), Ok(Fetch { uid: true, items, .. }) if items.len() == 3)
        );
        assert!(matches!(
            parse("a STORE 2:4 +FLAGS.SILENT \\Deleted \\Seen\r\n"),
            Ok(Store { op: FlagOp::Add, silent: true, flags, .. }) if flags.len() == 2
        ));
        assert!(matches!(
            parse("a UID STORE 1 (UNCHANGEDSINCE 5) FLAGS ()\r\n"),
            Ok(Store { uid: true, op: FlagOp::Set, unchanged_since: Some(5), flags, .. }) if flags.is_empty()
        ));
        assert!(matches!(parse("a UID EXPUNGE 3:5\r\n"), Ok(Expunge { uids: Some(_) })));
        assert!(matches!(parse("a uid move 1 Trash\r\n"), Ok(Move { uid: true, .. })));
        assert_eq!(
            parse("a ID (\"name\" \"mutt\" \"version\" NIL)\r\n"),
            Ok(Id { params: Some(vec![("name".into(), Some("mutt".into())), ("version".into(), None)]) })
        );
        assert_eq!(parse("a ID NIL\r\n"), Ok(Id { params: None }));
        assert_eq!(parse("a ENABLE CONDSTORE\r\n"), Ok(Enable { capabilities: vec!["CONDSTORE".into()] }));
    }

    #[test]
    fn search_table() {
        use SearchKey::*;
        assert_eq!(
            parse("a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n"),
            Ok(CommandBody::Search {
                uid: false,
                charset: None,
                ret: None,
                key: And(vec![
                    Flag("\\Flagged".into()),
                    Date(DateCmp::Since, NaiveDate::from_ymd_opt(1994, 2, 1).unwrap()),
                    Not(Box::new(Header("from".into(), "Smith".into()))),
                ])
            })
        );
        // RFC 8474 §6 (its example ids): identifiers keep their case.
        assert_eq!(
            parse("a SEARCH EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9\r\n"),
            Ok(CommandBody::Search {
                uid: false,
                charset: None,
                ret: None,
                key: And(vec![EmailId("M6d99ac3275bb4e".into()), ThreadId("T64b478a75b7ea9".into())]),
            })
        );
        // "Grüß" is 6 bytes in UTF-8: a 4-byte literal cuts a character in half.
        assert!(parse("a UID SEARCH CHARSET utf-8 OR (SEEN 1:3) TEXT {4}\r\nGrüß\r\n").is_err());
        assert!(matches!(
            parse("a UID SEARCH CHARSET utf-8 OR (SEEN 1:3) TEXT {6}\r\nGrüß\r\n"),
            Ok(CommandBody::Search { uid: true, charset: Some(c), key: Or(..), ret: None }) if c == "UTF-8"
        ));
        // RFC 4731 §3.1: result options.
        assert_eq!(
            parse("a UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 SEEN\r\n"),
            Ok(CommandBody::Search {
                uid: true,
                charset: Some("UTF-8".into()),
                key: Flag("\\Seen".into()),
                ret: Some(vec![SearchReturn::Min, SearchReturn::Count]),
            })
        );
        assert!(matches!(
            parse("a SEARCH RETURN () 1:*\r\n"),
            Ok(CommandBody::Search { ret: Some(r), .. }) if r.is_empty()
        ));
        assert!(parse("a SEARCH RETURN (BOGUS) ALL\r\n").is_err());
        assert!(parse("a SEARCH RETURN (MIN ALL\r\n").is_err());
        // RFC 5256 §5: SORT.
        assert!(matches!(
            parse("a UID SORT (REVERSE DATE SUBJECT) utf-8 SEEN 1:5\r\n"),
            Ok(CommandBody::Sort { uid: true, criteria, charset, key: And(keys), ret: None })
                if criteria == vec![(true, SortKey::Date), (false, SortKey::Subject)]
                    && charset == "UTF-8" && keys.len() == 2
        ));
        assert!(matches!(
            parse("a SORT RETURN (MIN COUNT) (ARRIVAL) US-ASCII 1:5\r\n"),
            Ok(CommandBody::Sort { ret: Some(r), .. }) if r == vec![SearchReturn::Min, SearchReturn::Count]
        ));
        for bad in [
            "a SORT () UTF-8 ALL",
            "a SORT (REVERSE) UTF-8 ALL",
            "a SORT (SIZE) ALL",
            "a SORT (NAME) UTF-8 ALL",
        ] {
            assert!(parse(&format!("{bad}\r\n")).is_err(), "{bad}");
        }
        let deep = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(100));
        assert_eq!(parse(&deep), Err("search criteria nested too deeply".into()));
        let parens = format!("a SEARCH {}ALL{}\r\n", "(".repeat(100), ")".repeat(100));
        assert_eq!(parse(&parens), Err("search criteria nested too deeply".into()));
    }

    #[test]
    fn errors_table() {
        let cases = [
            ("\r\n", "missing or invalid tag"),
            ("+ NOOP\r\n", "missing or invalid tag"),
            ("a\r\n", "missing argument"),
            ("a FOO\r\n", "unknown command FOO"),
            ("a NOOP extra\r\n", "unexpected extra arguments"),
            ("a LOGIN \"alice\r\n", "unterminated quoted string"),
            ("a LOGIN alice\r\n", "missing argument"),
            ("a FETCH 0 FLAGS\r\n", "invalid sequence set: 0 is not a valid message number"),
            ("a FETCH *: FLAGS\r\n", "invalid sequence set: incomplete range in sequence set"),
            ("a FETCH 1:99999999999 FLAGS\r\n", "invalid sequence set: invalid number in sequence set"),
            ("a FETCH 1x FLAGS\r\n", "invalid sequence set: unexpected character"),
            ("a FETCH 1 (FLAGS\r\n", "missing argument"),
            ("a FETCH 1 BODY[0]\r\n", "section part numbers start at 1"),
            ("a FETCH 1 BODY[]<0.0>\r\n", "partial length must be non-zero"),
            ("a FETCH 1 BODY[MIME]\r\n", "invalid section"),
            ("a SEARCH SINCE 30-Feb-2020\r\n", "invalid date (expected d-Mon-yyyy)"),
            ("a SEARCH BOGUS\r\n", "unknown search key BOGUS"),
            ("a STORE 1 FLAGS.LOUD (\\Seen)\r\n", "unknown store item FLAGS.LOUD"),
            ("a APPEND INBOX \"bad date\" {1}\r\nx\r\n", "invalid date-time"),
            ("a LOGIN {9}\r\nali\r\n", "literal data missing"),
            ("a LIST (IMAPTEST) \"\" \"\"\r\n", "unknown LIST selection option IMAPTEST"),
            ("a SELECT x (QRESYNC (0 1))\r\n", "UIDVALIDITY is never 0"),
            ("a SEARCH EMAILID \"M1\"\r\n", "invalid object identifier"),
            ("a APPEND INBOX UTF8 ({2}\r\nhi)\r\n", "expected a literal8 after UTF8"),
            ("a APPEND INBOX UTF8 (~{2}\r\nhi\r\n", "expected ')' after the UTF8 literal"),
            ("a SEARCH THREADID T.1\r\n", "unexpected characters at end of command"),
            ("a SELECT x (QRESYNC (1 1 $))\r\n", "'$' is not allowed here"),
            ("a SELECT x (QRESYNC (1 1) QRESYNC (1 1))\r\n", "unsupported select parameter QRESYNC"),
            ("a FETCH 1 FLAGS (VANISHED VANISHED)\r\n", "unknown or repeated fetch modifier"),
            ("a NOTIFY\r\n", "missing argument"),
            ("a NOTIFY SET\r\n", "missing argument"),
            ("a NOTIFY SET STATUS\r\n", "missing argument"),
            ("a NOTIFY SET (elsewhere (MessageNew))\r\n", "unknown mailbox filter ELSEWHERE"),
            ("a NOTIFY SET (personal ())\r\n", "expected a keyword"),
            ("a NOTIFY SET (personal ALL)\r\n", "expected an event list or NONE"),
            ("a LIST (RECURSIVEMATCH) \"\" \"\"\r\n", "RECURSIVEMATCH needs another selection option"),
            ("a LIST (RECURSIVEMATCH REMOTE) \"\" %\r\n", "RECURSIVEMATCH needs another selection option"),
            ("a LIST \"\" \"\" RETURN (IMAPTEST)\r\n", "unknown LIST return option IMAPTEST"),
            ("a LSUB \"\" (a b)\r\n", "expected a mailbox pattern"),
            ("a FETCH 1 BINARY[1.HEADER]\r\n", "BINARY takes only a part number"),
            ("a FETCH $1 FLAGS\r\n", "invalid sequence set: '$' stands alone"),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Err(want.to_string()), "{input:?}");
        }
        assert_eq!(parse_tag(b"A1 BOGUS"), Some("A1".into()));
    }
}
