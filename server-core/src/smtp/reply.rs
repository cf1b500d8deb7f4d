//! SMTP replies and their encoder (RFC 5321 §4.2), with enhanced status codes (RFC 3463, advertised as
//! ENHANCEDSTATUSCODES, RFC 2034).
//!
//! ```text
//! Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
//!                  Reply-code [ SP textstring ] CRLF
//! Reply-code     = %x32-35 %x30-35 %x30-39
//! textstring     = 1*(%d09 / %d32-126)
//! status-code    = class "." subject "." detail          ; RFC 2034 §4
//! ```
//!
//! RFC 2034 §3: the enhanced code prefixes the text of every 2xx, 4xx and 5xx reply line, except the greeting and
//! the replies to HELO/EHLO; 3xx replies (354, 334) carry none. Reply text is kept to printable ASCII: anything else
//! the server might echo (a client's odd EHLO name) becomes `?`, so a client can never inject a line into a reply.

use std::fmt;

/// An enhanced mail system status code `class.subject.detail` (RFC 3463 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject: 0 other, 1 addressing, 2 mailbox, 3 mail system, 4 network/routing, 5 protocol,
    /// 6 content, 7 security.
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

impl Status {
    /// `class.subject.detail`.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Status {
        Status { class, subject, detail }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One reply, possibly several lines long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code shown on every line, if this reply carries one.
    pub status: Option<Status>,
    /// The text lines (at least one; an empty string gives a line with the code alone).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, status: Status, text: impl Into<String>) -> Reply {
        Reply { code, status: Some(status), lines: vec![text.into()] }
    }

    /// A reply without an enhanced code (greeting, HELO/EHLO, 3xx).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply { code, status: None, lines: vec![text.into()] }
    }

    /// A multi-line reply; `lines` must not be empty (an empty list is sent as one empty line).
    pub fn multi(code: u16, status: Option<Status>, lines: Vec<String>) -> Reply {
        Reply { code, status, lines }
    }

    /// Whether this is a 4xx or 5xx reply.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// Appends the reply's wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        let empty = [String::new()];
        let lines = if self.lines.is_empty() { &empty[..] } else { &self.lines[..] };
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let mut text = String::with_capacity(line.len() + 16);
            if let Some(status) = self.status {
                text.push_str(&status.to_string());
                if !line.is_empty() {
                    text.push(' ');
                }
            }
            text.extend(line.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }));
            // Always `code SP`, even with no text: RFC 4954 §4 wants the empty challenge as "334 ".
            out.extend_from_slice(format!("{}{sep}{text}\r\n", self.code).as_bytes());
        }
    }

    /// The wire form as a string (tests, transcripts).
    pub fn to_wire(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        // encode() only writes ASCII.
        String::from_utf8(out).expect("replies are ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        let table = [
            (Reply::new(250, Status::new(2, 1, 0), "Ok"), "250 2.1.0 Ok\r\n"),
            (Reply::plain(220, "mx1.example.com ESMTP"), "220 mx1.example.com ESMTP\r\n"),
            (Reply::plain(334, ""), "334 \r\n"),
            (Reply::plain(334, "VXNlcm5hbWU6"), "334 VXNlcm5hbWU6\r\n"),
            (
                Reply::multi(250, None, vec!["mx1 Hello".into(), "PIPELINING".into(), "SIZE 10".into()]),
                "250-mx1 Hello\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
            ),
            (
                Reply::multi(214, Some(Status::new(2, 0, 0)), vec!["a".into(), "b".into()]),
                "214-2.0.0 a\r\n214 2.0.0 b\r\n",
            ),
            // A client can never smuggle a line break (or anything unprintable) into a reply.
            (Reply::new(501, Status::new(5, 5, 2), "x\r\n250 ok\u{e9}"), "501 5.5.2 x??250 ok?\r\n"),
        ];
        for (reply, wire) in table {
            assert_eq!(reply.to_wire(), wire);
        }
    }

    #[test]
    fn error_classes() {
        assert!(!Reply::plain(354, "go").is_error());
        assert!(Reply::new(452, Status::new(4, 5, 3), "x").is_error());
    }
}
