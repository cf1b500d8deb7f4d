//! The DATA section reader (RFC 5321 §4.1.1.4, §4.5.2): finds the end of the message, removes dot-stuffing,
//! and enforces the line and size limits, in bounded memory and for any split of the input.
//!
//! ## Only `<CRLF>.<CRLF>` ends the data
//!
//! The end-of-data mark is the five octets CR LF `.` CR LF, where the first CR LF is the end of the previous line
//! (or of the DATA command itself). Nothing else ends the data: not `<LF>.<LF>`, not `<CR>.<CR>`, not
//! `<LF>.<CRLF>`, not `<CRLF>.<LF>`. Servers that accepted such variants let an attacker hide a second message
//! inside the first when a relay on the way read the data differently ("SMTP smuggling", 2023).
//!
//! ## Bare CR and bare LF
//!
//! A CR not followed by LF, or an LF not preceded by CR, is not allowed in SMTP data (RFC 5321 §2.3.8). We do not
//! end the data there and we do not rewrite it: we read on to the real end-of-data mark and then refuse the whole
//! message (`550 5.6.0`). Normalising would be friendlier to broken clients, but a message whose line structure we
//! would have to guess is exactly what smuggling attacks need; refusing it keeps every hop's view identical. The
//! session stays usable after the refusal.
//!
//! ## Limits
//!
//! - A text line may hold 1000 octets including CRLF (RFC 5321 §4.5.3.1.6). We tolerate up to [`MAX_DATA_LINE`]
//!   and refuse the message at its end beyond that.
//! - The message (after unstuffing, before our trace header) may hold `max_size` octets. Beyond that the reader
//!   keeps reading to the end mark but stores nothing more, so memory stays bounded and the client still gets a
//!   clean `552` reply instead of a broken connection.

/// Longest data line we accept, CRLF included: four times RFC 5321's 1000, because real mailers do exceed it.
pub const MAX_DATA_LINE: usize = 4 * 1000;

/// Where the reader stands in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line: right after CRLF (or the DATA command).
    LineStart,
    /// A line started with `.`: the end mark, or a stuffed dot.
    Dot,
    /// `.` CR at the start of a line: LF now ends the data.
    DotCr,
    /// Inside a line.
    Text,
    /// A CR inside a line: LF now ends the line.
    Cr,
}

/// Whether the end-of-data mark was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every byte was taken; more are needed.
    NeedsMoreData,
    /// The end mark ended `consumed` bytes into the input; what follows is the next command.
    Done { consumed: usize },
}

/// What the DATA section turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A message within the limits, dot-unstuffed, CRLF line ends.
    Message(Vec<u8>),
    /// Larger than the limit; `size` is how many octets were seen.
    TooBig { size: usize },
    /// A bare CR or LF appeared in the data.
    BareLineEnd,
    /// A line exceeded [`MAX_DATA_LINE`].
    LineTooLong,
}

/// Reads one DATA section.
#[derive(Debug)]
pub struct DataReader {
    state: State,
    /// Octets of the current line on the wire so far (a stuffed dot included).
    line_len: usize,
    /// The unstuffed message, as long as it is within the limit.
    message: Vec<u8>,
    /// Unstuffed octets seen, also after the limit was passed.
    size: usize,
    /// The size limit.
    max_size: usize,
    /// A bare CR or LF was seen.
    bare_line_end: bool,
    /// A line was longer than [`MAX_DATA_LINE`].
    long_line: bool,
}

impl DataReader {
    /// A reader for a message of at most `max_size` octets.
    pub fn new(max_size: usize) -> DataReader {
        DataReader {
            state: State::LineStart,
            line_len: 0,
            message: Vec::new(),
            size: 0,
            max_size,
            bare_line_end: false,
            long_line: false,
        }
    }

    /// Takes bytes until the end-of-data mark.
    pub fn feed(&mut self, input: &[u8]) -> Progress {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Text => {
                    // Copy the run of ordinary bytes at once.
                    let run =
                        input[i..].iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(input.len() - i);
                    if run > 0 {
                        self.push(&input[i..i + run]);
                        i += run;
                        continue;
                    }
                    if b == b'\r' {
                        self.state = State::Cr;
                    } else {
                        // A bare LF: not a line end, so a following "." cannot start an end mark.
                        self.bare_line_end = true;
                        self.push(b"\n");
                    }
                    i += 1;
                }
                State::Cr => {
                    if b == b'\n' {
                        self.push(b"\r\n");
                        self.line_len = 0;
                        self.state = State::LineStart;
                        i += 1;
                    } else {
                        // A bare CR; look at `b` again as text.
                        self.bare_line_end = true;
                        self.push(b"\r");
                        self.state = State::Text;
                    }
                }
                State::LineStart => {
                    if b == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Text;
                    }
                }
                State::Dot => {
                    if b == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        // A stuffed dot: "the first character is deleted" (§4.5.2). Counted in the line length.
                        self.line_len += 1;
                        self.state = State::Text;
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        return Progress::Done { consumed: i + 1 };
                    }
                    // ".<CR>x": the dot was a stuffed one and the CR is bare.
                    self.line_len += 1;
                    self.bare_line_end = true;
                    self.push(b"\r");
                    self.state = State::Text;
                }
            }
        }
        Progress::NeedsMoreData
    }

    /// Appends message octets, counting them against the limits.
    fn push(&mut self, bytes: &[u8]) {
        self.size += bytes.len();
        self.line_len += bytes.len();
        if self.line_len > MAX_DATA_LINE {
            self.long_line = true;
        }
        if self.size > self.max_size {
            // Free what we hold: the message will be refused anyway.
            self.message = Vec::new();
        } else {
            self.message.extend_from_slice(bytes);
        }
    }

    /// Octets of message seen so far.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The verdict, once [`Progress::Done`] was returned.
    pub fn finish(self) -> Outcome {
        if self.size > self.max_size {
            Outcome::TooBig { size: self.size }
        } else if self.bare_line_end {
            Outcome::BareLineEnd
        } else if self.long_line {
            Outcome::LineTooLong
        } else {
            Outcome::Message(self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in `chunk`-byte pieces; returns the outcome and the bytes left after the end mark.
    fn read(input: &[u8], chunk: usize, max: usize) -> Option<(Outcome, Vec<u8>)> {
        let mut r = DataReader::new(max);
        let mut offset = 0;
        for piece in input.chunks(chunk) {
            match r.feed(piece) {
                Progress::NeedsMoreData => offset += piece.len(),
                Progress::Done { consumed } => {
                    return Some((r.finish(), input[offset + consumed..].to_vec()));
                }
            }
        }
        None
    }

    #[test]
    fn unstuffing_and_end_mark() {
        let table: [(&[u8], &[u8], &[u8]); 6] = [
            (b".\r\nNOOP\r\n", b"", b"NOOP\r\n"),
            (b"Hi\r\n.\r\n", b"Hi\r\n", b""),
            (b"..\r\n.\r\n", b".\r\n", b""),
            (b"..leading dot\r\n...\r\n.\r\nQUIT\r\n", b".leading dot\r\n..\r\n", b"QUIT\r\n"),
            (b"a.\r\n .\r\n.x\r\n.\r\n", b"a.\r\n .\r\nx\r\n", b""),
            (b"\r\n\r\n.\r\n", b"\r\n\r\n", b""),
        ];
        for (input, message, rest) in table {
            for chunk in [1, 2, 3, 7, 1000] {
                let (outcome, left) = read(input, chunk, 1 << 20).expect("end mark");
                assert_eq!(outcome, Outcome::Message(message.to_vec()), "{input:?} / {chunk}");
                assert_eq!(left, rest, "{input:?} / {chunk}");
            }
        }
    }

    #[test]
    fn smuggling_sequences_do_not_end_data() {
        // None of these may end the data; the real end mark follows each, and the message is then refused.
        for evil in [&b"\n.\n"[..], b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r"] {
            let mut input = b"Subject: x\r\n\r\nbody".to_vec();
            input.extend_from_slice(evil);
            input.extend_from_slice(b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.com>\r\n");
            for chunk in [1, 2, 3, 7, 1000] {
                let mut r = DataReader::new(1 << 20);
                for piece in input.chunks(chunk) {
                    assert_eq!(r.feed(piece), Progress::NeedsMoreData, "{evil:?} ended data");
                }
                assert_eq!(r.feed(b"\r\n.\r\n"), Progress::Done { consumed: 5 });
                assert_eq!(r.finish(), Outcome::BareLineEnd, "{evil:?}");
            }
        }
    }

    #[test]
    fn bare_line_ends_are_refused() {
        for input in [&b"a\nb\r\n.\r\n"[..], b"a\rb\r\n.\r\n", b".\rx\r\n.\r\n", b"a\r\r\n.\r\n"] {
            assert_eq!(read(input, 1, 1000).map(|r| r.0), Some(Outcome::BareLineEnd), "{input:?}");
        }
    }

    #[test]
    fn size_limit_reads_to_the_end() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
        for chunk in [1, 7, 4096] {
            let (outcome, rest) = read(&input, chunk, 100).unwrap();
            assert_eq!(outcome, Outcome::TooBig { size: 5002 });
            assert_eq!(rest, b"QUIT\r\n");
        }
        // Exactly at the limit is fine.
        assert_eq!(read(b"abc\r\n.\r\n", 1, 5).unwrap().0, Outcome::Message(b"abc\r\n".to_vec()));
        assert_eq!(read(b"abcd\r\n.\r\n", 1, 5).unwrap().0, Outcome::TooBig { size: 6 });
    }

    #[test]
    fn line_limit() {
        let ok = [vec![b'x'; MAX_DATA_LINE - 2], b"\r\n.\r\n".to_vec()].concat();
        assert!(matches!(read(&ok, 7, 1 << 20).unwrap().0, Outcome::Message(_)));
        let long = [vec![b'x'; MAX_DATA_LINE - 1], b"\r\n.\r\n".to_vec()].concat();
        assert_eq!(read(&long, 7, 1 << 20).unwrap().0, Outcome::LineTooLong);
        // A stuffed dot counts: it was on the wire.
        let stuffed = [b".".to_vec(), vec![b'.'; MAX_DATA_LINE - 2], b"\r\n.\r\n".to_vec()].concat();
        assert_eq!(read(&stuffed, 7, 1 << 20).unwrap().0, Outcome::LineTooLong);
    }
}
