//! POP3 replies on the wire (RFC 1939 §3, RFC 2449 §§3, 8).
//!
//! ```text
//! single-line = status [SP text] CRLF
//! status      = "+OK" / "-ERR"
//! text        = [resp-code SP] *schar          ; resp-code = "[" code "]" (RFC 2449 §8)
//! multi-line  = single-line *(dot-stuffed-line CRLF) "." CRLF
//! continue    = "+" SP [base64] CRLF             ; SASL challenge (RFC 5034 §4)
//! ```
//!
//! Multi-line bodies are byte-stuffed: a line that starts with "." gets another "." in front, so that a line of
//! just "." can only be the terminator (RFC 1939 §3). Message data goes out exactly as stored (CRLF line ends, so
//! the octet counts of LIST and STAT are what the client receives before stuffing); a bare LF in stored data is
//! sent as CRLF so that clients always see proper lines, and a message that does not end in CRLF gets one before
//! the terminator.

/// Extended response codes (RFC 2449 §8, RFC 3206).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449 §8.1.2).
    InUse,
    /// `[AUTH]`: the credentials (or the way they were sent) are the problem (RFC 3206 §4).
    Auth,
    /// `[SYS/TEMP]`: a temporary server failure; trying again later may work (RFC 3206 §3).
    SysTemp,
}

impl Code {
    /// The code as written between brackets.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InUse => "IN-USE",
            Code::Auth => "AUTH",
            Code::SysTemp => "SYS/TEMP",
        }
    }
}

/// Writes `+OK [text]`.
pub fn ok(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+OK");
    if !text.is_empty() {
        out.push(b' ');
        push_text(out, text);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `-ERR [[code] ]text`.
pub fn err(out: &mut Vec<u8>, code: Option<Code>, text: &str) {
    out.extend_from_slice(b"-ERR ");
    if let Some(code) = code {
        out.push(b'[');
        out.extend_from_slice(code.as_str().as_bytes());
        out.extend_from_slice(b"] ");
    }
    push_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// Writes a SASL continuation: `+ ` and the base64 challenge (empty for PLAIN, RFC 5034 §4).
pub fn continuation(out: &mut Vec<u8>, challenge: &str) {
    out.extend_from_slice(b"+ ");
    push_text(out, challenge);
    out.extend_from_slice(b"\r\n");
}

/// Writes one line of a multi-line body (a listing line), stuffed if it starts with ".".
pub fn line(out: &mut Vec<u8>, text: &str) {
    if text.starts_with('.') {
        out.push(b'.');
    }
    push_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// Writes the `.` CRLF that ends a multi-line body.
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b".\r\n");
}

/// Writes message data as a multi-line body, stuffed, terminator included.
pub fn message(out: &mut Vec<u8>, data: &[u8]) {
    // Stuffing adds one octet per line at most; a line averages well over 16 octets.
    out.reserve(data.len() + data.len() / 16 + 5);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if at_line_start && line.first() == Some(&b'.') {
            out.push(b'.');
        }
        match line.strip_suffix(b"\n") {
            Some(content) if !content.ends_with(b"\r") => {
                out.extend_from_slice(content);
                out.extend_from_slice(b"\r\n");
            }
            _ => out.extend_from_slice(line),
        }
        at_line_start = line.ends_with(b"\n");
        prev = line.last().copied().unwrap_or(prev);
    }
    if !at_line_start {
        // The last line had no line end; a lone CR there becomes part of the CRLF we add.
        if prev == b'\r' {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    end(out);
}

/// What TOP sends of a message: the header, the blank line after it, and the first `lines` lines of the body
/// (RFC 1939 §7). A message without a blank line is all header and is sent whole.
pub fn top(data: &[u8], lines: u32) -> &[u8] {
    let mut pos = 0;
    let mut in_body = false;
    let mut sent = 0u32;
    while pos < data.len() {
        if in_body && sent == lines {
            return &data[..pos];
        }
        let end = data[pos..].iter().position(|&b| b == b'\n').map_or(data.len(), |i| pos + i + 1);
        let line = &data[pos..end];
        if in_body {
            sent += 1;
        } else if line == b"\r\n" || line == b"\n" {
            in_body = true;
        }
        pos = end;
    }
    data
}

/// Reply texts are built by the session; this guards against a CR or LF ever splitting a reply line.
fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        message(&mut out, data);
        out
    }

    #[test]
    fn status_lines() {
        let mut out = Vec::new();
        ok(&mut out, "");
        ok(&mut out, "2 320");
        err(&mut out, None, "no such message");
        err(&mut out, Some(Code::InUse), "maildrop already locked");
        err(&mut out, Some(Code::SysTemp), "evil\r\ntext");
        continuation(&mut out, "");
        line(&mut out, ".hidden 3");
        end(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+OK\r\n+OK 2 320\r\n-ERR no such message\r\n-ERR [IN-USE] maildrop already locked\r\n\
             -ERR [SYS/TEMP] evil  text\r\n+ \r\n..hidden 3\r\n.\r\n"
        );
    }

    #[test]
    fn stuffing() {
        let table: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b"a\r", b"a\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b"x\r\n.\r\n..\r\n.y\r\nz.\r\n", b"x\r\n..\r\n...\r\n..y\r\nz.\r\n.\r\n"),
            (b"bare\nlf\n.dot", b"bare\r\nlf\r\n..dot\r\n.\r\n"),
            (b"a\r\n\r\n", b"a\r\n\r\n.\r\n"),
        ];
        for (data, want) in table {
            assert_eq!(msg(data), *want, "{:?}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn top_cuts_after_the_body_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top(m, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top(m, 2), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top(m, 3), m);
        assert_eq!(top(m, 100), m);
        assert_eq!(top(b"A: 1\r\nB: 2\r\n", 0), b"A: 1\r\nB: 2\r\n");
        assert_eq!(top(b"A: 1\n\nbody\nmore", 1), b"A: 1\n\nbody\n");
    }
}
