//! Encoding of server responses (RFC 3501 §7 and §9 `response`): status lines, strings, flag lists, dates.
//!
//! Every string the server sends goes through [`string`], which picks a quoted string when the grammar allows it
//! (short, 7-bit, no CR/LF, §4.3) and a literal otherwise, so no message or header byte can break the framing.
//! Mailbox names are encoded to modified UTF-7 (§5.1.3) by [`mailbox`].

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::mutf7;
use crate::store::FlagSet;

/// The status of a tagged or untagged condition response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        }
    }
}

/// `tag SP resp-cond-state CRLF`, with an optional response code (`[TRYCREATE]`).
pub fn tagged(out: &mut Vec<u8>, tag: &str, status: Status, code: Option<&str>, text: &str) {
    out.extend_from_slice(tag.as_bytes());
    out.push(b' ');
    cond(out, status, code, text);
}

/// `"*" SP resp-cond-state CRLF`.
pub fn untagged_status(out: &mut Vec<u8>, status: Status, code: Option<&str>, text: &str) {
    out.extend_from_slice(b"* ");
    cond(out, status, code, text);
}

fn cond(out: &mut Vec<u8>, status: Status, code: Option<&str>, text: &str) {
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        out.extend_from_slice(code.as_bytes());
        out.extend_from_slice(b"] ");
    }
    // `text = 1*TEXT-CHAR`: never empty, never CR or LF.
    let text = if text.is_empty() { "done" } else { text };
    out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

/// An untagged data line: `* ` + `text` + CRLF (the caller built valid response syntax).
pub fn untagged(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"* ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `string = quoted / literal`: quoted when short, 7-bit and free of CR, LF and NUL; a literal otherwise.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable =
        s.len() <= 1024 && s.iter().all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n');
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// `literal = "{" number "}" CRLF *CHAR8`.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// A literal for data that may hold NUL: `literal8 = "~{" number "}" CRLF *OCTET` (RFC 3516 §4.2, RFC 9051
/// §4.3) when it does, a plain literal otherwise.
pub fn literal8(out: &mut Vec<u8>, s: &[u8]) {
    if s.contains(&0) {
        out.push(b'~');
    }
    literal(out, s);
}

/// `nstring = string / nil`.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name, UTF-8 inside, modified UTF-7 on the wire.
pub fn mailbox(out: &mut Vec<u8>, name: &str) {
    string(out, mutf7::encode(name).as_bytes());
}

/// `flag-list`, with `\Recent` added when the session holds it for this message.
pub fn flag_list(flags: &FlagSet, recent: bool) -> String {
    let mut parts: Vec<&str> = flags.names().collect();
    if recent {
        parts.push("\\Recent");
    }
    format!("({})", parts.join(" "))
}

/// `date-time` as INTERNALDATE: `"17-Jul-1996 02:44:25 +0000"`.
pub fn date_time(at: &DateTime<Utc>) -> String {
    // Field by field rather than through a strftime pattern: with no pattern left anywhere, chrono's pattern
    // interpreter is not linked into the tab's wasm (2.5 KiB of its first load, brotli).
    format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} +0000\"",
        at.day(),
        super::parser::MONTHS[at.month0() as usize],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// How a command completed: the tagged response (status, optional response code, text), the one reply type of
/// the IMAP server; [`tagged`] writes it.
pub(super) struct Reply {
    pub(super) status: Status,
    pub(super) code: Option<String>,
    pub(super) text: String,
}

impl Reply {
    pub(super) fn ok(text: &str) -> Reply {
        Reply { status: Status::Ok, code: None, text: text.into() }
    }
    pub(super) fn ok_code(code: String, text: &str) -> Reply {
        Reply { status: Status::Ok, code: Some(code), text: text.into() }
    }
    pub(super) fn no(code: Option<&str>, text: impl Into<String>) -> Reply {
        Reply { status: Status::No, code: code.map(str::to_string), text: text.into() }
    }
    pub(super) fn bad(text: impl Into<String>) -> Reply {
        Reply { status: Status::Bad, code: None, text: text.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Flag;

    #[test]
    fn strings() {
        let table: &[(&[u8], &[u8])] = &[
            (b"hello", b"\"hello\""),
            (b"a\"b\\c", b"\"a\\\"b\\\\c\""),
            (b"", b"\"\""),
            (b"two\r\nlines", b"{10}\r\ntwo\r\nlines"),
            ("grüß".as_bytes(), b"{6}\r\ngr\xc3\xbc\xc3\x9f"),
        ];
        for (input, want) in table {
            let mut out = Vec::new();
            string(&mut out, input);
            assert_eq!(out, *want);
        }
        let mut out = Vec::new();
        mailbox(&mut out, "Entwürfe");
        assert_eq!(out, b"\"Entw&APw-rfe\"");
        let mut out = Vec::new();
        tagged(&mut out, "a1", Status::No, Some("TRYCREATE"), "no\r\nsuch");
        assert_eq!(out, b"a1 NO [TRYCREATE] no  such\r\n");
    }

    #[test]
    fn dates_and_flags() {
        let at = DateTime::parse_from_rfc3339("1996-07-07T02:44:25Z").unwrap().with_timezone(&Utc);
        assert_eq!(date_time(&at), "\"07-Jul-1996 02:44:25 +0000\"");
        let flags: FlagSet = [Flag::Seen, Flag::Keyword("$Junk".into())].into_iter().collect();
        assert_eq!(flag_list(&flags, true), "(\\Seen $Junk \\Recent)");
        assert_eq!(flag_list(&FlagSet::new(), false), "()");
    }
}
