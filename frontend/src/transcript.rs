//! Transcript lines: splitting the relayed byte stream into lines (CR LF kept), classifying each line by meaning
//! for colour (2xx/+OK/OK, 3xx/continuation, 4xx, 5xx/-ERR/NO/BAD, untagged), and exporting as `C:`/`S:` text.
//!
//! Pure logic, unit-tested on the host. The proxy sends bytes in chunks that need not end at a line break
//! (`wire::ServerMsg::Data`), so each direction keeps a partial line until its LF arrives.

use mailroom_core::explain::Protocol;
use mailroom_core::wire::Dir;

/// The meaning of a line, for its colour class (and, in words, for screen readers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// What the client sent.
    Client,
    /// 2xx, `+OK`, tagged or untagged `OK`.
    Ok,
    /// 3xx, `+ ` continuation.
    Intermediate,
    /// 4xx.
    Transient,
    /// 5xx, `-ERR`, `NO`, `BAD`.
    Error,
    /// IMAP untagged data (`* 3 EXISTS`), POP3 listing lines.
    Untagged,
}

impl Class {
    /// CSS class name.
    pub fn css(self) -> &'static str {
        match self {
            Class::Client => "c",
            Class::Ok => "ok",
            Class::Intermediate => "mid",
            Class::Transient => "tmp",
            Class::Error => "err",
            Class::Untagged => "unt",
        }
    }

    /// In words (a tooltip and for screen readers, so colour is never the only carrier of meaning).
    pub fn words(self) -> &'static str {
        match self {
            Class::Client => "sent by you",
            Class::Ok => "success",
            Class::Intermediate => "go on",
            Class::Transient => "temporary failure",
            Class::Error => "failure",
            Class::Untagged => "information",
        }
    }
}

/// Classifies a server line (without CR LF).
pub fn classify(protocol: Protocol, line: &str) -> Class {
    match protocol {
        Protocol::Smtp => match line.as_bytes().first() {
            Some(b'2') => Class::Ok,
            Some(b'3') => Class::Intermediate,
            Some(b'4') => Class::Transient,
            Some(b'5') => Class::Error,
            _ => Class::Untagged,
        },
        Protocol::Pop3 => {
            if line.starts_with("+OK") {
                Class::Ok
            } else if line.starts_with("-ERR") {
                Class::Error
            } else if line == "+" || line.starts_with("+ ") {
                Class::Intermediate
            } else {
                Class::Untagged
            }
        }
        Protocol::Imap => {
            if line == "+" || line.starts_with("+ ") {
                return Class::Intermediate;
            }
            let mut w = line.split(' ');
            let tag = w.next().unwrap_or("");
            let status = w.next().unwrap_or("").to_ascii_uppercase();
            match status.as_str() {
                "OK" | "PREAUTH" => Class::Ok,
                "NO" | "BAD" => Class::Error,
                "BYE" => Class::Transient,
                _ if tag == "*" => Class::Untagged,
                _ => Class::Untagged,
            }
        }
    }
}

/// One complete (or, at close, final partial) line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Direction.
    pub dir: Dir,
    /// The text without its line ending.
    pub text: String,
    /// The line ending exactly as received: `"\r\n"`, `"\n"` or `""` (a final partial line).
    pub eol: &'static str,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// Meaning.
    pub class: Class,
}

/// Accumulates one direction's bytes into lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineBuf {
    partial: String,
}

impl LineBuf {
    /// Feeds a chunk; returns the lines it completed, with their endings.
    pub fn feed(&mut self, chunk: &str) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(i) = rest.find('\n') {
            self.partial.push_str(&rest[..i]);
            let mut text = std::mem::take(&mut self.partial);
            let eol = if text.ends_with('\r') {
                text.pop();
                "\r\n"
            } else {
                "\n"
            };
            out.push((text, eol));
            rest = &rest[i + 1..];
        }
        self.partial.push_str(rest);
        out
    }

    /// Takes what is left (at close).
    pub fn flush(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }

    /// The current partial line.
    pub fn partial(&self) -> &str {
        &self.partial
    }
}

/// Shows control characters visibly: CR LF as `<CR><LF>` when asked (RFC notation, in any font: the Unicode
/// control pictures are missing from common fonts), other controls as `^X`.
pub fn visible(text: &str, eol: &str, show_crlf: bool) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        match ch {
            '\t' => s.push('\t'),
            c if (c as u32) < 0x20 => {
                s.push('^');
                s.push(char::from(b'@' + c as u8));
            }
            '\u{7f}' => s.push_str("^?"),
            c => s.push(c),
        }
    }
    if show_crlf {
        s.push_str(&eol.replace('\r', "<CR>").replace('\n', "<LF>"));
    }
    s
}

/// The prefix shown before a line: `C: ` or `S: `.
pub fn prefix(dir: Dir) -> &'static str {
    match dir {
        Dir::C => "C: ",
        Dir::S => "S: ",
        Dir::Note => "-- ",
    }
}

/// Exports lines as plain `C:`/`S:` text, one per line.
pub fn export<'a>(lines: impl IntoIterator<Item = &'a Line>) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(prefix(l.dir));
        s.push_str(&l.text);
        s.push('\n');
    }
    s
}

/// Formats milliseconds since the epoch as `HH:MM:SS.mmm` UTC (a tooltip).
pub fn clock(ms: i64) -> String {
    let ms = ms.rem_euclid(86_400_000);
    format!("{:02}:{:02}:{:02}.{:03} UTC", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_chunks_keeping_endings() {
        let mut b = LineBuf::default();
        assert!(b.feed("220 mx1 ES").is_empty());
        assert_eq!(
            b.feed("MTP\r\n250-A\r\n250 B\n2"),
            vec![
                ("220 mx1 ESMTP".to_string(), "\r\n"),
                ("250-A".to_string(), "\r\n"),
                ("250 B".to_string(), "\n"),
            ]
        );
        assert_eq!(b.partial(), "2");
        assert_eq!(b.feed("\r"), vec![]);
        assert_eq!(b.feed("\n"), vec![("2".to_string(), "\r\n")]);
        assert_eq!(b.flush(), None);
        b.feed("tail");
        assert_eq!(b.flush().as_deref(), Some("tail"));
    }

    #[test]
    fn classification_table() {
        use Class::*;
        for (p, line, want) in [
            (Protocol::Smtp, "250 OK", Ok),
            (Protocol::Smtp, "354 go", Intermediate),
            (Protocol::Smtp, "451 later", Transient),
            (Protocol::Smtp, "550 no", Error),
            (Protocol::Pop3, "+OK", Ok),
            (Protocol::Pop3, "-ERR no", Error),
            (Protocol::Pop3, "1 120", Untagged),
            (Protocol::Imap, "* OK ready", Ok),
            (Protocol::Imap, "a1 OK done", Ok),
            (Protocol::Imap, "a1 NO nope", Error),
            (Protocol::Imap, "a1 BAD what", Error),
            (Protocol::Imap, "* 3 EXISTS", Untagged),
            (Protocol::Imap, "+ idling", Intermediate),
            (Protocol::Imap, "* BYE", Transient),
        ] {
            assert_eq!(classify(p, line), want, "{line}");
        }
    }

    #[test]
    fn visible_and_export() {
        assert_eq!(visible("a\u{1b}b", "\r\n", true), "a^[b<CR><LF>");
        assert_eq!(visible("x", "\r\n", false), "x");
        let l = |dir, t: &str| Line { dir, text: t.into(), eol: "\r\n", at: 0, class: Class::Ok };
        assert_eq!(export(&[l(Dir::C, "EHLO x"), l(Dir::S, "250 hi")]), "C: EHLO x\nS: 250 hi\n");
        assert_eq!(clock(3_723_004), "01:02:03.004 UTC");
    }
}
