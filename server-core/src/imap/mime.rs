//! A message's MIME structure as IMAP shows it: ENVELOPE, BODY/BODYSTRUCTURE and `BODY[section]` (RFC 3501 §6.4.5,
//! §7.4.2).
//!
//! Parsing is the `mail-parser` crate's: it finds headers, the part tree, encapsulated `message/rfc822` messages and
//! each part's byte offsets. This module only walks that tree: it numbers parts the way IMAP does (§6.4.5: a
//! non-multipart message has one part, `1`; the parts of an encapsulated message are numbered below its part), cuts
//! raw bytes out by offset (IMAP serves parts *encoded*, as stored), and writes the structure in IMAP syntax.
//! Walks are depth-bounded ([`MAX_DEPTH`]) whatever the input, so a hostile message cannot exhaust the stack.

use std::borrow::Cow;

use mail_parser::{Address, HeaderValue, Message, MessageParser, MessagePart, PartType};

use super::parser::{Section, SectionText};
use super::response::{nstring, string};

/// Deepest part nesting shown; deeper parts are shown as opaque `APPLICATION/OCTET-STREAM`.
pub const MAX_DEPTH: usize = 32;

/// A parsed message, or its raw bytes when `mail-parser` found nothing (an empty message).
pub struct Parsed<'a> {
    raw: &'a [u8],
    msg: Option<Message<'a>>,
}

/// Most `;`-separated parameter sections in a message's `Content-Type` and `Content-Disposition` fields, all parts
/// together. Real mail has a handful per part; RFC 2231 continuations (`title*0*=`, `title*1*=`…) are reassembled by
/// the parser at a cost that grows with the square of their number (a 3 MB header of them took seconds of CPU per
/// FETCH), so a message beyond this is shown as one opaque part instead of being parsed.
pub const MAX_PARAMETERS: usize = 1000;

/// Parses a message once for any number of FETCH items.
pub fn parse(raw: &[u8]) -> Parsed<'_> {
    if parameter_sections(raw) > MAX_PARAMETERS {
        return Parsed { raw, msg: None };
    }
    Parsed { raw, msg: MessageParser::default().parse(raw) }
}

impl Parsed<'_> {
    /// The message's bytes, as stored.
    pub fn raw(&self) -> &[u8] {
        self.raw
    }
}

/// Counts the `;` in every `Content-Type:`/`Content-Disposition:` field of the message (folded lines included), in
/// one pass over the bytes, stopping early once past [`MAX_PARAMETERS`].
fn parameter_sections(raw: &[u8]) -> usize {
    let mut n = 0;
    let mut in_field = false;
    for line in raw.split(|&b| b == b'\n') {
        let starts = |name: &[u8]| line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            // A continuation keeps the field it belongs to.
        } else {
            in_field = starts(b"content-type:") || starts(b"content-disposition:");
        }
        if in_field {
            n += line.iter().filter(|&&b| b == b';').count();
            if n > MAX_PARAMETERS {
                return n;
            }
        }
    }
    n
}

/// One MIME entity: a part of some (possibly encapsulated) message.
#[derive(Clone, Copy)]
struct Entity<'m, 'a> {
    /// The message whose part list holds this entity; offsets are relative to its `raw_message`.
    msg: &'m Message<'a>,
    part: &'m MessagePart<'a>,
    /// True for the top of a message (the whole message or an encapsulated one).
    is_message: bool,
}

impl<'m, 'a> Entity<'m, 'a> {
    fn root(msg: &'m Message<'a>) -> Option<Self> {
        msg.parts.first().map(|part| Entity { msg, part, is_message: true })
    }

    fn raw(&self) -> &'m [u8] {
        &self.msg.raw_message
    }

    fn slice(&self, from: u32, to: u32) -> &'m [u8] {
        let raw = self.raw();
        let to = (to as usize).min(raw.len());
        let from = (from as usize).min(to);
        &raw[from..to]
    }

    /// The header block, blank line included.
    fn header_bytes(&self) -> &'m [u8] {
        self.slice(self.part.offset_header, self.part.offset_body)
    }

    /// The body, as stored (still transfer-encoded).
    fn body_bytes(&self) -> &'m [u8] {
        if std::ptr::eq(self.part, &self.msg.parts[0]) && self.msg.parts.len() == 1 {
            // A single-part message: its body runs to the end of its raw bytes.
            return self.slice(self.part.offset_body, self.part.offset_end.max(self.part.offset_body));
        }
        self.slice(self.part.offset_body, self.part.offset_end)
    }

    fn children(&self) -> Vec<Entity<'m, 'a>> {
        match &self.part.body {
            PartType::Multipart(ids) => ids
                .iter()
                .filter_map(|&id| self.msg.parts.get(id as usize))
                // mail-parser lists a multipart's own id first in some recoveries; never recurse into ourselves.
                .filter(|p| !std::ptr::eq(*p, self.part))
                .map(|part| Entity { msg: self.msg, part, is_message: false })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The encapsulated message of a `message/rfc822` part.
    fn nested(&self) -> Option<Entity<'m, 'a>> {
        match &self.part.body {
            PartType::Message(m) => Entity::root(m),
            _ => None,
        }
    }

    fn is_multipart(&self) -> bool {
        matches!(self.part.body, PartType::Multipart(_))
    }

    /// Content type and subtype, lower-case; RFC 2045 §5.2 default `text/plain`.
    fn media_type(&self) -> (String, String) {
        match self.part.headers.iter().find_map(|h| match (&h.name, &h.value) {
            (n, HeaderValue::ContentType(ct)) if n.as_str().eq_ignore_ascii_case("content-type") => Some(ct),
            _ => None,
        }) {
            Some(ct) => (
                ct.c_type.to_ascii_lowercase(),
                ct.c_subtype
                    .as_deref()
                    .unwrap_or(if self.is_multipart() { "mixed" } else { "plain" })
                    .to_ascii_lowercase(),
            ),
            None if self.is_multipart() => ("multipart".into(), "mixed".into()),
            // RFC 2046 §5.1.5: in a multipart/digest the default is message/rfc822 (mail-parser parsed the part
            // as a message for that reason; nothing else without a Content-Type becomes one).
            None if matches!(self.part.body, PartType::Message(_)) => ("message".into(), "rfc822".into()),
            None => ("text".into(), "plain".into()),
        }
    }

    fn content_params(&self, header: &str) -> Option<Vec<(String, String)>> {
        self.part.headers.iter().find_map(|h| match &h.value {
            HeaderValue::ContentType(ct) if h.name.as_str().eq_ignore_ascii_case(header) => Some(
                ct.attributes.iter().flatten().map(|a| (a.name.to_string(), a.value.to_string())).collect(),
            ),
            _ => None,
        })
    }

    fn disposition(&self) -> Option<(String, Vec<(String, String)>)> {
        self.part.headers.iter().find_map(|h| match &h.value {
            HeaderValue::ContentType(ct) if h.name.as_str().eq_ignore_ascii_case("content-disposition") => {
                Some((
                    ct.c_type.to_string(),
                    ct.attributes
                        .iter()
                        .flatten()
                        .map(|a| (a.name.to_string(), a.value.to_string()))
                        .collect(),
                ))
            }
            _ => None,
        })
    }

    /// A header's raw value, unfolded and trimmed (IMAP shows header text as sent).
    fn raw_header(&self, name: &str) -> Option<Vec<u8>> {
        let h = self.part.headers.iter().find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
        Some(unfold(self.slice(h.offset_start, h.offset_end)))
    }

    fn header_value(&self, name: &str) -> Option<&'m HeaderValue<'a>> {
        self.part.headers.iter().find(|h| h.name.as_str().eq_ignore_ascii_case(name)).map(|h| &h.value)
    }
}

/// Removes CRLFs of folded lines and surrounding white space.
fn unfold(v: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = v.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    v[start..end].to_vec()
}

/// Counts lines the way IMAP's `body-fld-lines` does (RFC 3501 §7.4.2, "size of the body in text lines"): line
/// ends. A last line without one is not counted, as Dovecot does; in a multipart the CRLF before a boundary belongs
/// to the boundary (RFC 2046 §5.1.1), so a part's last line never has one.
fn lines(body: &[u8]) -> usize {
    body.iter().filter(|&&b| b == b'\n').count()
}

/// Writes `envelope` (RFC 3501 §7.4.2):
///
/// ```text
/// envelope        = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP env-cc SP
///                   env-bcc SP env-in-reply-to SP env-message-id ")"
/// address         = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
/// ```
pub fn envelope(out: &mut Vec<u8>, parsed: &Parsed<'_>) {
    match parsed.msg.as_ref().and_then(Entity::root) {
        Some(root) => write_envelope(out, &root),
        None => out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
    }
}

fn write_envelope(out: &mut Vec<u8>, e: &Entity<'_, '_>) {
    out.push(b'(');
    nstring(out, e.raw_header("date").as_deref());
    out.push(b' ');
    nstring(out, e.raw_header("subject").as_deref());
    let from = e.header_value("from");
    for name in ["from", "sender", "reply-to", "to", "cc", "bcc"] {
        out.push(b' ');
        // RFC 3501 §7.4.2: a missing (or empty) Sender or Reply-To is filled in from From.
        let value = match (name, e.header_value(name)) {
            ("sender" | "reply-to", v) if v.is_none_or(|v| !has_address(v)) => from,
            (_, v) => v,
        };
        addresses(out, value);
    }
    out.push(b' ');
    nstring(out, e.raw_header("in-reply-to").as_deref());
    out.push(b' ');
    nstring(out, e.raw_header("message-id").as_deref());
    out.push(b')');
}

/// Whether an address header names at least one address (an empty `Sender:` does not).
fn has_address(value: &HeaderValue<'_>) -> bool {
    match value {
        HeaderValue::Address(a) => a.iter().any(|a| a.address.as_deref().is_some_and(|a| !a.is_empty())),
        _ => false,
    }
}

fn addresses(out: &mut Vec<u8>, value: Option<&HeaderValue<'_>>) {
    let addr = |out: &mut Vec<u8>, name: Option<&str>, address: &str| {
        out.push(b'(');
        nstring(out, name.filter(|n| !n.is_empty()).map(encode_word).as_deref().map(str::as_bytes));
        out.push(b' ');
        // RFC 3501 §7.4.2: addr-adl holds the source route (RFC 822 `@route,@route:`), the rest is mailbox@host.
        let (adl, address) = match address.strip_prefix('@').and_then(|_| address.split_once(':')) {
            Some((route, rest)) => (Some(route), rest),
            None => (None, address),
        };
        nstring(out, adl.map(str::as_bytes));
        out.push(b' ');
        let (mailbox, host) = address.rsplit_once('@').unwrap_or((address, ""));
        string(out, mailbox.as_bytes());
        out.push(b' ');
        string(out, host.as_bytes());
        out.push(b')');
    };
    let mut list = Vec::new();
    match value {
        Some(HeaderValue::Address(Address::List(l))) => {
            for a in l {
                if let Some(address) = a.address.as_deref().filter(|a| !a.is_empty()) {
                    addr(&mut list, a.name.as_deref(), address);
                }
            }
        }
        Some(HeaderValue::Address(Address::Group(groups))) => {
            for g in groups {
                match &g.name {
                    // RFC 3501 §7.4.2: a group is a start marker with the name in the mailbox field, its members,
                    // and an end marker.
                    Some(name) => {
                        list.extend_from_slice(b"(NIL NIL ");
                        string(&mut list, encode_word(name).as_bytes());
                        list.extend_from_slice(b" NIL)");
                        for a in &g.addresses {
                            if let Some(address) = a.address.as_deref().filter(|a| !a.is_empty()) {
                                addr(&mut list, a.name.as_deref(), address);
                            }
                        }
                        list.extend_from_slice(b"(NIL NIL NIL NIL)");
                    }
                    None => {
                        for a in &g.addresses {
                            if let Some(address) = a.address.as_deref().filter(|a| !a.is_empty()) {
                                addr(&mut list, a.name.as_deref(), address);
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        out.extend_from_slice(&list);
        out.push(b')');
    }
}

/// IMAP4rev1 strings are 7-bit in practice: a name mail-parser decoded to non-ASCII is sent as an RFC 2047 word.
fn encode_word(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        use base64::Engine;
        format!("=?utf-8?b?{}?=", base64::engine::general_purpose::STANDARD.encode(s))
    }
}

/// Writes `body` (`extended` = BODYSTRUCTURE with extension data; BODY without).
pub fn body_structure(out: &mut Vec<u8>, parsed: &Parsed<'_>, extended: bool) {
    match parsed.msg.as_ref().and_then(Entity::root) {
        Some(root) => write_body(out, &root, extended, 0),
        None => {
            out.extend_from_slice(
                format!(
                    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} {}",
                    parsed.raw.len(),
                    lines(parsed.raw)
                )
                .as_bytes(),
            );
            if extended {
                out.extend_from_slice(b" NIL NIL NIL NIL");
            }
            out.push(b')');
        }
    }
}

fn params(out: &mut Vec<u8>, params: Option<&[(String, String)]>) {
    match params {
        Some(p) if !p.is_empty() => {
            out.push(b'(');
            for (i, (k, v)) in p.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, k.as_bytes());
                out.push(b' ');
                string(out, encode_word(v).as_bytes());
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
}

/// ```text
/// body            = "(" (body-type-1part / body-type-mpart) ")"
/// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
/// body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
/// body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
/// body-type-msg   = media-message SP body-fields SP envelope SP body SP body-fld-lines
/// body-type-text  = media-text SP body-fields SP body-fld-lines
/// body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
/// body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
/// ```
fn write_body(out: &mut Vec<u8>, e: &Entity<'_, '_>, extended: bool, depth: usize) {
    let (ty, sub) = e.media_type();
    let children = if depth < MAX_DEPTH { e.children() } else { Vec::new() };
    out.push(b'(');
    if e.is_multipart() && !children.is_empty() {
        for child in &children {
            write_body(out, child, extended, depth + 1);
        }
        out.push(b' ');
        string(out, sub.as_bytes());
        if extended {
            out.push(b' ');
            let p: Option<Vec<(String, String)>> = e
                .content_params("content-type")
                .map(|p| p.into_iter().filter(|(k, _)| !k.is_empty()).collect());
            params(out, p.as_deref());
            extension_tail(out, e);
        }
        out.push(b')');
        return;
    }
    let (ty, sub) = if e.is_multipart() || depth >= MAX_DEPTH && (ty == "message" || ty == "multipart") {
        // An empty or too-deep container is shown as opaque data.
        ("application".to_string(), "octet-stream".to_string())
    } else {
        (ty, sub)
    };
    let body = e.body_bytes();
    string(out, ty.as_bytes());
    out.push(b' ');
    string(out, sub.as_bytes());
    out.push(b' ');
    let mut p = e.content_params("content-type").unwrap_or_default();
    if ty == "text" && !p.iter().any(|(k, _)| k.eq_ignore_ascii_case("charset")) {
        p.push(("charset".into(), "us-ascii".into()));
    }
    params(out, Some(&p));
    out.push(b' ');
    nstring(out, e.raw_header("content-id").as_deref());
    out.push(b' ');
    nstring(out, e.raw_header("content-description").as_deref());
    out.push(b' ');
    let enc = e.raw_header("content-transfer-encoding").filter(|v| !v.is_empty());
    string(out, enc.as_deref().unwrap_or(b"7bit"));
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    let nested = if ty == "message" && (sub == "rfc822" || sub == "global") { e.nested() } else { None };
    if let Some(inner) = nested.filter(|_| depth < MAX_DEPTH) {
        out.push(b' ');
        write_envelope(out, &inner);
        out.push(b' ');
        write_body(out, &inner, extended, depth + 1);
        out.extend_from_slice(format!(" {}", lines(body)).as_bytes());
    } else if ty == "text" {
        out.extend_from_slice(format!(" {}", lines(body)).as_bytes());
    } else if ty == "message" && (sub == "rfc822" || sub == "global") {
        // The grammar needs an envelope and body here even when the encapsulated message could not be parsed.
        out.extend_from_slice(
            b" (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)",
        );
        out.extend_from_slice(format!(" {}", lines(body)).as_bytes());
    }
    if extended {
        // body-fld-md5: we never compute Content-MD5.
        out.extend_from_slice(b" ");
        nstring(out, e.raw_header("content-md5").as_deref());
        extension_tail(out, e);
    }
    out.push(b')');
}

/// `SP body-fld-dsp SP body-fld-lang SP body-fld-loc`.
fn extension_tail(out: &mut Vec<u8>, e: &Entity<'_, '_>) {
    out.push(b' ');
    match e.disposition() {
        Some((kind, p)) => {
            out.push(b'(');
            string(out, kind.as_bytes());
            out.push(b' ');
            params(out, Some(&p));
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    language(out, e.raw_header("content-language").as_deref());
    out.push(b' ');
    nstring(out, e.raw_header("content-location").as_deref());
}

/// Writes `body-fld-lang = nstring / "(" string *(SP string) ")"` (RFC 3501 §9) from a Content-Language value
/// (RFC 3282: a comma-separated list of language tags): one tag as a string, several as a list.
fn language(out: &mut Vec<u8>, value: Option<&[u8]>) {
    let tags: Vec<&[u8]> = value
        .unwrap_or_default()
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
        .collect();
    match tags[..] {
        [] => out.extend_from_slice(b"NIL"),
        [one] => string(out, one),
        _ => {
            out.push(b'(');
            for (i, t) in tags.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, t);
            }
            out.push(b')');
        }
    }
}

/// The bytes `BODY[section]` names, or None when the message has no such part (answered NIL).
pub fn section<'p>(parsed: &'p Parsed<'_>, section: &Section) -> Option<Cow<'p, [u8]>> {
    let Some(root) = parsed.msg.as_ref().and_then(Entity::root) else {
        // No headers at all: the whole thing is body.
        return match (&section.part[..], &section.text) {
            ([], None) | ([], Some(SectionText::Text)) | ([1], None) => Some(Cow::Borrowed(parsed.raw)),
            ([], Some(SectionText::Header | SectionText::HeaderFields { .. })) => Some(Cow::Borrowed(b"")),
            _ => None,
        };
    };
    if section.part.is_empty() {
        return Some(match &section.text {
            None => Cow::Borrowed(parsed.raw),
            Some(text) => message_text(&root, root.body_bytes(), text)?,
        });
    }
    let mut e = root;
    for &n in &section.part {
        e = descend(&e, n)?;
    }
    match &section.text {
        None => Some(Cow::Borrowed(e.body_bytes())),
        Some(SectionText::Mime) => Some(Cow::Borrowed(e.header_bytes())),
        Some(text) => {
            // HEADER/TEXT below a part: only a message/rfc822 part has them (§6.4.5).
            let inner = e.nested()?;
            let container = e.body_bytes();
            let header_len = inner.header_bytes().len().min(container.len());
            message_text(&inner, &container[header_len..], text)
        }
    }
}

/// Why `BINARY[part]` cannot be answered.
#[derive(Debug, PartialEq, Eq)]
pub enum BinaryError {
    /// The message has no such part (answered NIL).
    NoPart,
    /// The part's Content-Transfer-Encoding is one we cannot undo (RFC 3516 §4.3: `NO [UNKNOWN-CTE]`).
    UnknownCte,
}

/// The bytes `BINARY[part]` names (RFC 3516 §4.2): the part's body with its Content-Transfer-Encoding undone
/// (base64, quoted-printable; 7bit, 8bit and binary need nothing), or the whole message as stored for `[]`.
pub fn binary<'p>(parsed: &'p Parsed<'_>, part: &[u32]) -> Result<Cow<'p, [u8]>, BinaryError> {
    if part.is_empty() {
        return Ok(Cow::Borrowed(parsed.raw));
    }
    let Some(root) = parsed.msg.as_ref().and_then(Entity::root) else {
        return if part == [1] { Ok(Cow::Borrowed(parsed.raw)) } else { Err(BinaryError::NoPart) };
    };
    let mut e = root;
    for &n in part {
        e = descend(&e, n).ok_or(BinaryError::NoPart)?;
    }
    let body = e.body_bytes();
    // A multipart or message/rfc822 part is not itself encoded (RFC 2045 §6.4): its bytes are served as they are.
    if e.is_multipart() || e.nested().is_some() {
        return Ok(Cow::Borrowed(body));
    }
    let cte = e
        .raw_header("content-transfer-encoding")
        .map(|v| String::from_utf8_lossy(&v).trim().to_ascii_lowercase());
    match cte.as_deref() {
        None | Some("" | "7bit" | "8bit" | "binary") => Ok(Cow::Borrowed(body)),
        Some("base64") => Ok(Cow::Owned(decode_base64(body))),
        Some("quoted-printable") => Ok(Cow::Owned(decode_quoted_printable(body))),
        Some(_) => Err(BinaryError::UnknownCte),
    }
}

/// A message appended as a literal8 (RFC 3516 §4.4) may hold NUL octets, which `BODY[...]` cannot carry to a
/// client that never asked for BINARY; §4.3 lets the server convert. Each part of the top-level message whose body
/// holds a NUL is therefore stored base64-encoded, its Content-Transfer-Encoding rewritten (BINARY still returns
/// the original octets). None when no part needs it. Parts inside an encapsulated message are left as they are.
pub fn encode_binary_parts(raw: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    if !raw.contains(&0) {
        return None;
    }
    let parsed = parse(raw);
    let root = parsed.msg.as_ref().and_then(Entity::root)?;
    // (header start, body start, body end) of each leaf to convert, in message order.
    let mut leaves: Vec<(usize, usize, usize)> = Vec::new();
    let mut stack = vec![(root, 0)];
    while let Some((e, depth)) = stack.pop() {
        if e.is_multipart() {
            if depth < MAX_DEPTH {
                stack.extend(e.children().into_iter().rev().map(|c| (c, depth + 1)));
            }
        } else if e.nested().is_none() && e.body_bytes().contains(&0) {
            let start = e.part.offset_header as usize;
            let body = e.part.offset_body as usize;
            leaves.push((start, body, body + e.body_bytes().len()));
        }
    }
    if leaves.is_empty() {
        return None;
    }
    leaves.sort_unstable();
    let mut out = Vec::with_capacity(raw.len() * 4 / 3 + 64);
    let mut at = 0;
    for (start, body, end) in leaves {
        if start < at || end > raw.len() || body > end {
            continue;
        }
        out.extend_from_slice(&raw[at..start]);
        // The header without its Content-Transfer-Encoding field (continuation lines too), then the new one.
        let header = &raw[start..body];
        let mut skipping = false;
        let mut lines: Vec<&[u8]> = header.split_inclusive(|&b| b == b'\n').collect();
        let blank = lines.pop().filter(|l| l.iter().all(|b| b.is_ascii_whitespace()));
        for line in lines {
            let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
            if !folded {
                skipping = line.len() >= 26 && line[..26].eq_ignore_ascii_case(b"content-transfer-encoding:");
            }
            if !skipping {
                out.extend_from_slice(line);
            }
        }
        out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
        out.extend_from_slice(blank.unwrap_or(b"\r\n"));
        let encoded = base64::engine::general_purpose::STANDARD.encode(&raw[body..end]);
        // RFC 2045 §6.8: lines of at most 76 characters.
        for chunk in encoded.as_bytes().chunks(76) {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// RFC 2045 §6.8 base64, leniently: characters outside the alphabet (line breaks) are skipped, and decoding stops
/// at the first `=`.
fn decode_base64(data: &[u8]) -> Vec<u8> {
    let value = |b: u8| match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(data.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for &b in data {
        if b == b'=' {
            break;
        }
        let Some(v) = value(b) else { continue };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // The shift leaves the next 8 bits in the low byte.
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 2045 §6.7 quoted-printable: `=XX` is an octet, `=` at a line's end a soft break, and white space at the end
/// of an encoded line is padding to drop (rule 3). A malformed `=` is kept as it is.
fn decode_quoted_printable(data: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(data.len());
    let mut lines = data.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let has_newline = lines.peek().is_some();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = match line.iter().rposition(|&b| b != b' ' && b != b'\t') {
            Some(last) => &line[..=last],
            None => &[][..],
        };
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        let mut i = 0;
        while i < line.len() {
            if line[i] == b'='
                && let (Some(hi), Some(lo)) =
                    (line.get(i + 1).and_then(|&b| hex(b)), line.get(i + 2).and_then(|&b| hex(b)))
            {
                // Two hex digits make one octet.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            } else {
                out.push(line[i]);
                i += 1;
            }
        }
        if has_newline && !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// HEADER, HEADER.FIELDS[.NOT] or TEXT of a message whose body bytes are `text`.
fn message_text<'p>(m: &Entity<'p, '_>, text: &'p [u8], what: &SectionText) -> Option<Cow<'p, [u8]>> {
    match what {
        SectionText::Header => Some(Cow::Borrowed(m.header_bytes())),
        SectionText::Text => Some(Cow::Borrowed(text)),
        SectionText::HeaderFields { not, fields } => {
            Some(Cow::Owned(header_fields(m.header_bytes(), fields, *not)))
        }
        SectionText::Mime => None,
    }
}

/// Steps to child `n` of `e` (§6.4.5 numbering).
fn descend<'m, 'a>(e: &Entity<'m, 'a>, n: u32) -> Option<Entity<'m, 'a>> {
    // Inside a message/rfc822 part, numbering continues with the encapsulated message.
    let target = if e.is_message { Some(*e) } else { e.nested() };
    let base = target.unwrap_or(*e);
    if base.is_multipart() {
        return base.children().into_iter().nth(n.checked_sub(1)? as usize);
    }
    // RFC 3501 §6.4.5: a non-multipart message has exactly one part, its body, numbered 1. That part is not the
    // message itself: when it is message/rfc822, the next number steps into the encapsulated message.
    (n == 1 && target.is_some()).then_some(Entity { is_message: false, ..base })
}

/// The header lines (with continuations) whose names are (or with `not`, are not) in `fields`, then a blank line.
pub fn header_fields(header: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name);
            let listed = fields.iter().any(|f| f.eq_ignore_ascii_case(name.trim()));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Text for SEARCH (RFC 3501 §6.4.4): the top-level header when `headers` (TEXT), and with `bodies` the decoded
/// contents of every text part as written (HTML as HTML: never a rendering of a text part, which would make markup
/// that is not in the message match) and of every encapsulated message/rfc822 part, its header included, since
/// both are in the body of the message that holds them.
pub fn search_text(parsed: &Parsed<'_>, headers: bool, bodies: bool) -> String {
    let mut out = String::new();
    let Some(msg) = parsed.msg.as_ref() else {
        if bodies {
            out.push_str(&String::from_utf8_lossy(parsed.raw));
        }
        return out;
    };
    if headers && let Some(root) = Entity::root(msg) {
        out.push_str(&String::from_utf8_lossy(root.header_bytes()));
    }
    if bodies {
        body_text(msg, &mut out, 0);
    }
    out
}

/// Appends the decoded text of every part of `msg`, stepping into encapsulated messages up to [`MAX_DEPTH`].
fn body_text(msg: &Message<'_>, out: &mut String, depth: usize) {
    for part in &msg.parts {
        match &part.body {
            PartType::Text(t) | PartType::Html(t) => {
                out.push('\n');
                out.push_str(t);
            }
            PartType::Message(inner) if depth < MAX_DEPTH => {
                if let Some(root) = Entity::root(inner) {
                    out.push('\n');
                    out.push_str(&String::from_utf8_lossy(root.header_bytes()));
                }
                body_text(inner, out, depth + 1);
            }
            _ => {}
        }
    }
}

/// The decoded values of a header field (all occurrences) for SEARCH HEADER/FROM/SUBJECT...; None if absent.
pub fn header_search_values(parsed: &Parsed<'_>, name: &str) -> Option<Vec<String>> {
    let root = parsed.msg.as_ref().and_then(Entity::root)?;
    let mut values = Vec::new();
    for h in root.part.headers.iter().filter(|h| h.name.as_str().eq_ignore_ascii_case(name)) {
        values.push(String::from_utf8_lossy(&unfold(root.slice(h.offset_start, h.offset_end))).into_owned());
        match &h.value {
            HeaderValue::Text(t) => values.push(t.to_string()),
            HeaderValue::TextList(l) => values.push(l.join(" ")),
            HeaderValue::Address(a) => {
                for addr in a.iter() {
                    values.push(format!(
                        "{} <{}>",
                        addr.name.as_deref().unwrap_or_default(),
                        addr.address.as_deref().unwrap_or_default()
                    ));
                }
            }
            _ => {}
        }
    }
    (!values.is_empty()).then_some(values)
}

/// SORT keys taken from the message (RFC 5256 §3): FROM, TO and CC sort by the addr-mailbox of the first address
/// (a group's name for a group, as ENVELOPE shows it), empty when there is none.
pub fn first_mailbox(parsed: &Parsed<'_>, header: &str) -> String {
    first_address(parsed, header, |a| {
        let address = a.address.as_deref().unwrap_or_default();
        address.rsplit_once('@').map_or(address, |(l, _)| l).to_string()
    })
}

/// SORT=DISPLAY keys (RFC 5957 §3): the display name of the first address (decoded), or its addr-spec when it has
/// none; a group's name for a group.
pub fn first_display(parsed: &Parsed<'_>, header: &str) -> String {
    first_address(parsed, header, |a| match a.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(name) => name.trim().to_string(),
        None => a.address.as_deref().unwrap_or_default().to_string(),
    })
}

/// `key` of the first address in an address header; a group's name when the header starts with a named group.
fn first_address(
    parsed: &Parsed<'_>,
    header: &str,
    key: impl Fn(&mail_parser::Addr<'_>) -> String,
) -> String {
    let Some(value) = parsed.msg.as_ref().and_then(Entity::root).and_then(|r| r.header_value(header)) else {
        return String::new();
    };
    match value {
        HeaderValue::Address(Address::List(l)) => l.first().map(&key).unwrap_or_default(),
        HeaderValue::Address(Address::Group(groups)) => match groups.first() {
            Some(g) => match &g.name {
                Some(name) => name.to_string(),
                None => g.addresses.first().map(&key).unwrap_or_default(),
            },
            None => String::new(),
        },
        _ => String::new(),
    }
}

/// The sent date as seconds since the epoch (SORT DATE, RFC 5256 §3: normalized to UTC), None when the `Date:`
/// header is missing or unreadable.
pub fn sent_timestamp(parsed: &Parsed<'_>) -> Option<i64> {
    parsed.msg.as_ref()?.date().map(|d| d.to_timestamp())
}

/// The base subject (RFC 5256 §2.1) of the message's decoded Subject, for SORT SUBJECT (and THREAD).
pub fn base_subject(parsed: &Parsed<'_>) -> String {
    base_subject_of(parsed.msg.as_ref().and_then(|m| m.subject()).unwrap_or_default())
}

/// Whether the subject is a reply or a forward (RFC 5256 §3, step 5): the base subject extraction would remove
/// a `Re:`, `Fw:` or `Fwd:` leader (after any `[blob]`s), a `[fwd: ...]` wrapper or a `(fwd)` trailer.
pub fn subject_is_reply(parsed: &Parsed<'_>) -> bool {
    let subject =
        parsed.msg.as_ref().and_then(|m| m.subject()).unwrap_or_default().trim().to_ascii_lowercase();
    let mut rest = subject.as_str();
    while let Some(after) =
        rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(_, a)| a.trim_start())
    {
        if after.len() == rest.len() {
            break;
        }
        rest = after;
    }
    let leader = ["re", "fwd", "fw"].iter().any(|w| {
        rest.strip_prefix(w).is_some_and(|r| {
            let r = r.trim_start();
            let r = match r.strip_prefix('[').and_then(|b| b.split_once(']')) {
                Some((_, after)) => after.trim_start(),
                None => r,
            };
            r.starts_with(':')
        })
    });
    leader || subject.starts_with("[fwd:") || subject.ends_with("(fwd)")
}

/// The message-ids (`<...>`) in a header field of the message, in order and without the angle brackets (RFC 5256
/// §3 reads Message-ID, References and In-Reply-To this way).
pub fn message_ids(parsed: &Parsed<'_>, header: &str) -> Vec<String> {
    let Some(value) = parsed.msg.as_ref().and_then(Entity::root).and_then(|r| r.raw_header(header)) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&value);
    let mut ids = Vec::new();
    let mut rest = &*text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let id = after[..close].trim();
        if !id.is_empty() && !id.contains(['<', ' ', '\t']) {
            ids.push(id.to_string());
        }
        rest = &after[close + 1..];
    }
    ids
}

/// RFC 5256 §2.1, steps 1–6, on an already decoded subject:
///
/// ```text
/// subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
/// subj-blob    = "[" *BLOBCHAR "]" *WSP
/// subj-fwd     = subj-fwd-hdr subject subj-fwd-trl ; "[fwd:" … "]"
/// subj-leader  = (*subj-blob subj-refwd) / WSP
/// subj-trailer = "(fwd)" / WSP
/// ```
pub fn base_subject_of(subject: &str) -> String {
    // (1) White space runs become one space.
    let mut s: String = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    if subject.starts_with(char::is_whitespace) && !s.is_empty() {
        s.insert(0, ' ');
    }
    loop {
        // (2) Trailers, repeatedly.
        loop {
            let t = s.trim_end();
            let lower = t.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s = t[..t.len() - 5].to_string();
            } else if t.len() != s.len() {
                s = t.to_string();
            } else {
                break;
            }
        }
        // (3) and (4), until neither changes anything.
        loop {
            let before = s.len();
            // (3) Leaders.
            loop {
                if let Some(rest) = s.strip_prefix(' ') {
                    s = rest.to_string();
                    continue;
                }
                let mut at = 0;
                while let Some(end) = blob_end(&s[at..]) {
                    at += end;
                }
                match refwd_end(&s[at..]) {
                    Some(end) => s = s[at + end..].to_string(),
                    None => break,
                }
            }
            // (4) A leading blob, unless nothing would be left.
            if let Some(end) = blob_end(&s)
                && !s[end..].is_empty()
            {
                s = s[end..].to_string();
            }
            if s.len() == before {
                break;
            }
        }
        // (6) A "[fwd: …]" wrapper: unwrap and start again from (2).
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && lower.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            continue;
        }
        return s;
    }
}

/// Length of a `subj-blob` at the start of `s`.
fn blob_end(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find([']', '['])?;
    if rest.as_bytes()[close] != b']' {
        return None;
    }
    let after = 1 + close + 1;
    Some(after + s[after..].len() - s[after..].trim_start_matches([' ', '\t']).len())
}

/// Length of a `subj-refwd` at the start of `s`.
fn refwd_end(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let word = ["fwd", "fw", "re"].into_iter().find(|w| lower.starts_with(w))?;
    let mut at = word.len();
    at += s[at..].len() - s[at..].trim_start_matches([' ', '\t']).len();
    if let Some(end) = blob_end(&s[at..]) {
        at += end;
    }
    s[at..].starts_with(':').then_some(at + 1)
}

/// The `Date:` header as a calendar date in its own time zone (SENTBEFORE/SENTON/SENTSINCE).
pub fn sent_date(parsed: &Parsed<'_>) -> Option<chrono::NaiveDate> {
    let d = parsed.msg.as_ref()?.date()?;
    chrono::NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)
}

#[cfg(test)]
mod tests;
