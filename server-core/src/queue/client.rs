//! The relay client: how server-1 hands a message to server-2 (RFC 5321 §3, client side), as a state machine.
//!
//! [`Dialogue`] reads the greeting, says EHLO, upgrades with STARTTLS when the next hop offers it (opportunistic TLS,
//! the green link of the classic figure), says EHLO again, then MAIL (with `SMTPUTF8` when the message needs it,
//! RFC 6531 §3.4), one RCPT per recipient, DATA with dot-stuffing, and QUIT. It never touches a socket or a clock:
//! the driver ([`crate::net::relay`]) feeds it the bytes the next hop sent and the time, and does what it asks
//! ([`Next`]). Every line each way is recorded with its time so the playground can show mx1 talking to mx2. Each
//! recipient comes back as delivered, temporarily failed (4xx, timeouts, refused) or permanently failed (5xx).

use crate::event::TranscriptLine;
use crate::session::TlsInfo;
use crate::smtp::Reply;
use crate::wire::Dir;

/// The longest reply line read from a next hop: a hostile one must not make us buffer without end.
pub const MAX_REPLY_LINE: usize = 4096;
/// The most reply bytes kept ahead of the commands they answer (a next hop may pipeline, a hostile one may flood).
const MAX_BUFFERED: usize = 64 * 1024;

/// What happened to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RcptOutcome {
    /// The next hop accepted responsibility (its 250 reply to the end of DATA).
    Delivered(String),
    /// Try again later.
    Temporary(String),
    /// Give up and bounce.
    Permanent(String),
}

/// The result of one relay attempt.
#[derive(Debug)]
pub struct RelayReport {
    /// Per recipient, in the order given.
    pub outcomes: Vec<(String, RcptOutcome)>,
    /// The conversation.
    pub transcript: Vec<TranscriptLine>,
    /// TLS details if STARTTLS succeeded.
    pub tls: Option<TlsInfo>,
}

/// What to send.
#[derive(Clone, Copy)]
pub struct RelayJob<'a> {
    /// Our name for EHLO.
    pub helo: &'a str,
    /// The next hop's name (TLS server name).
    pub mx: &'a str,
    /// Reverse-path (empty for `<>`).
    pub mail_from: &'a str,
    /// Recipients for this hop.
    pub rcpts: &'a [String],
    /// The message.
    pub data: &'a [u8],
    /// Whether the message was received with SMTPUTF8 (RFC 6531), and so is relayed with it.
    pub smtputf8: bool,
}

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Read from the next hop and [`Dialogue::receive`] what came.
    Read,
    /// Write these bytes, then read.
    Write(Vec<u8>),
    /// Run the TLS handshake as client, then [`Dialogue::tls_started`] (or [`Dialogue::failed`]).
    StartTls,
    /// The conversation is over: take the [`Dialogue::report`] and close.
    Done,
}

/// A reply as the relay client saw it, in words: every line with its code, joined (`250-mx2 / 250 SIZE 10240000`).
fn reply_text(r: &Reply) -> String {
    let last = r.lines.len().saturating_sub(1);
    let lines = r.lines.iter().enumerate().map(|(i, t)| match (i == last, t.is_empty()) {
        (true, true) => r.code.to_string(),
        (true, false) => format!("{} {t}", r.code),
        (false, _) => format!("{}-{t}", r.code),
    });
    lines.collect::<Vec<_>>().join(" / ")
}

/// Whether an EHLO reply offers an extension: a line whose first word is the keyword (`STARTTLS`,
/// `SIZE 10240000`).
fn offers(r: &Reply, keyword: &str) -> bool {
    r.lines.iter().any(|l| l.split(' ').next().is_some_and(|k| k.eq_ignore_ascii_case(keyword)))
}

/// One reply line, parsed: its code and whether more lines follow (RFC 5321 §4.2.1). `None` if it is not a reply.
pub fn parse_reply_line(line: &str) -> Option<(u16, bool)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&b[0]) {
        return None;
    }
    let more = match b.get(3) {
        None | Some(b' ') => false,
        Some(b'-') => true,
        Some(_) => return None,
    };
    Some((line[..3].parse().ok()?, more))
}

/// Where the conversation is: which reply is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Handshake,
    EhloAfterTls,
    Mail,
    Rcpt(usize),
    Data,
    EndOfData,
    Quit,
    Done,
}

/// The client side of one relay conversation. See the module docs.
pub struct Dialogue<'a> {
    job: RelayJob<'a>,
    state: State,
    /// Bytes of a reply line not yet complete.
    buf: Vec<u8>,
    /// Texts of the lines of a multi-line reply so far.
    lines: Vec<String>,
    /// The next hop's EHLO offered SMTPUTF8.
    utf8_offered: bool,
    /// Recipients the next hop accepted at RCPT.
    accepted: Vec<String>,
    outcomes: Vec<(String, RcptOutcome)>,
    transcript: Vec<TranscriptLine>,
    tls: Option<TlsInfo>,
}

impl<'a> Dialogue<'a> {
    /// A conversation about to start: the driver reads the greeting first.
    pub fn new(job: RelayJob<'a>) -> Dialogue<'a> {
        Dialogue {
            job,
            state: State::Greeting,
            buf: Vec::new(),
            lines: Vec::new(),
            utf8_offered: false,
            accepted: Vec::new(),
            outcomes: Vec::new(),
            transcript: Vec::new(),
            tls: None,
        }
    }

    /// Bytes from the next hop, `ms` milliseconds after the conversation started. The driver also calls it with no
    /// bytes after each write: a reply the next hop sent ahead is answered from the buffer.
    pub fn receive(&mut self, input: &[u8], ms: u64) -> Next {
        self.buf.extend_from_slice(input);
        let mut start = 0;
        let mut next = Next::Read;
        while let Some(i) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let raw = &self.buf[start..start + i + 1];
            start += i + 1;
            let line = String::from_utf8_lossy(raw).trim_end_matches(['\r', '\n']).to_string();
            self.record(ms, Dir::S, &line);
            let Some((code, more)) = parse_reply_line(&line) else {
                next = self.fail(&format!("4.5.0 malformed reply: {line}"), false);
                break;
            };
            // The text after `250-` / `250 `: the same reply model the server encodes (smtp::Reply).
            self.lines.push(line.get(4..).unwrap_or_default().to_string());
            if more {
                continue;
            }
            let reply = Reply::multi(code, None, std::mem::take(&mut self.lines));
            next = self.on_reply(reply, ms);
            if next != Next::Read {
                break;
            }
        }
        // After STARTTLS's 220, anything the next hop pipelined in the clear is dropped with the buffer (the
        // client-side mirror of CVE-2011-0411).
        if matches!(next, Next::StartTls | Next::Done) {
            self.buf.clear();
        } else {
            self.buf.drain(..start);
        }
        // Complete lines waiting for their command are fine (up to a bound); only a line without end is too long.
        let partial =
            self.buf.iter().rposition(|&b| b == b'\n').map_or(self.buf.len(), |i| self.buf.len() - i - 1);
        if partial > MAX_REPLY_LINE {
            return self.fail("4.5.0 reply line too long", false);
        }
        if self.buf.len() > MAX_BUFFERED {
            return self.fail("4.5.0 too many replies ahead of the commands", false);
        }
        next
    }

    /// TLS is up after [`Next::StartTls`]; `peer` describes the next hop's certificate.
    pub fn tls_started(&mut self, info: TlsInfo, peer: Option<String>, ms: u64) -> Next {
        self.record(
            ms,
            Dir::Note,
            &format!(
                "TLS established: {} {}{}",
                info.version,
                info.cipher,
                peer.map(|p| format!(", certificate {p}")).unwrap_or_default()
            ),
        );
        self.tls = Some(info);
        self.state = State::EhloAfterTls;
        self.send(ms, &format!("EHLO {}", self.job.helo))
    }

    /// The connection failed (closed, timed out, a write or the handshake failed): every recipient not yet
    /// decided is deferred with `why` (an enhanced status and text: `4.4.2 timeout waiting for reply`).
    pub fn failed(&mut self, why: &str) -> Next {
        self.fail(why, false)
    }

    /// Whether the next [`Next::Write`] is the message data (the driver gives it a longer timeout).
    pub fn sending_data(&self) -> bool {
        self.state == State::EndOfData
    }

    /// Per-recipient outcomes, the transcript and TLS details.
    pub fn report(self) -> RelayReport {
        RelayReport { outcomes: self.outcomes, transcript: self.transcript, tls: self.tls }
    }

    fn record(&mut self, ms: u64, dir: Dir, line: &str) {
        self.transcript.push(TranscriptLine { ms, dir, line: line.to_string() });
    }

    fn send(&mut self, ms: u64, line: &str) -> Next {
        self.record(ms, Dir::C, line);
        Next::Write(format!("{line}\r\n").into_bytes())
    }

    /// Every recipient without an outcome gets `why`; the conversation ends (QUIT if it is still sane to say).
    fn fail(&mut self, why: &str, permanent: bool) -> Next {
        if self.state == State::Quit || self.state == State::Done {
            self.state = State::Done;
            return Next::Done;
        }
        let decided: Vec<String> = self.outcomes.iter().map(|(r, _)| r.clone()).collect();
        for r in self.job.rcpts.iter().filter(|r| !decided.contains(r)) {
            let o = if permanent {
                RcptOutcome::Permanent(why.into())
            } else {
                RcptOutcome::Temporary(why.into())
            };
            self.outcomes.push((r.clone(), o));
        }
        self.state = State::Done;
        Next::Done
    }

    /// Fails the undecided recipients with a reply's text, 5xx permanent and 4xx temporary, then says QUIT.
    fn refuse(&mut self, r: &Reply, ms: u64) -> Next {
        self.fail(&reply_text(r), r.code >= 500);
        self.state = State::Quit;
        self.send(ms, "QUIT")
    }

    fn mail(&mut self, ms: u64) -> Next {
        let needs_utf8 = self.job.smtputf8
            && (!self.job.mail_from.is_ascii()
                || self.job.rcpts.iter().any(|r| !r.is_ascii())
                || !self.job.data.is_ascii());
        if needs_utf8 && !self.utf8_offered {
            // RFC 6531 §3.2: a message that needs SMTPUTF8 must not go to a server without it.
            self.fail("550 5.6.7 the next hop does not support SMTPUTF8, which this message needs", true);
            self.state = State::Quit;
            return self.send(ms, "QUIT");
        }
        self.state = State::Mail;
        let param = if self.job.smtputf8 && self.utf8_offered { " SMTPUTF8" } else { "" };
        self.send(ms, &format!("MAIL FROM:<{}>{param}", self.job.mail_from))
    }

    fn rcpt(&mut self, i: usize, ms: u64) -> Next {
        self.state = State::Rcpt(i);
        self.send(ms, &format!("RCPT TO:<{}>", self.job.rcpts[i]))
    }

    fn on_reply(&mut self, r: Reply, ms: u64) -> Next {
        match self.state {
            State::Greeting if r.code == 220 => {
                self.state = State::Ehlo;
                self.send(ms, &format!("EHLO {}", self.job.helo))
            }
            State::Greeting => self.fail(&reply_text(&r), r.code >= 500),
            State::Ehlo | State::EhloAfterTls if r.code == 250 => {
                self.utf8_offered = offers(&r, "SMTPUTF8");
                if self.state == State::Ehlo && offers(&r, "STARTTLS") {
                    self.state = State::StartTls;
                    return self.send(ms, "STARTTLS");
                }
                self.mail(ms)
            }
            State::Ehlo => {
                self.state = State::Helo;
                self.send(ms, &format!("HELO {}", self.job.helo))
            }
            State::Helo if r.code == 250 => self.mail(ms),
            State::Helo | State::EhloAfterTls => self.fail(&reply_text(&r), false),
            State::StartTls if r.code == 220 => {
                self.state = State::Handshake;
                Next::StartTls
            }
            // Offered but refused: go on in the clear, as the opportunistic TLS of RFC 3207 allows.
            State::StartTls => self.mail(ms),
            State::Mail if r.code == 250 => self.rcpt(0, ms),
            State::Mail => self.fail(&reply_text(&r), r.code >= 500),
            State::Rcpt(i) => {
                let rcpt = self.job.rcpts[i].clone();
                match classify(&r) {
                    RcptOutcome::Delivered(_) => self.accepted.push(rcpt),
                    o => self.outcomes.push((rcpt, o)),
                }
                if i + 1 < self.job.rcpts.len() {
                    return self.rcpt(i + 1, ms);
                }
                if self.accepted.is_empty() {
                    self.state = State::Quit;
                    return self.send(ms, "QUIT");
                }
                self.state = State::Data;
                self.send(ms, "DATA")
            }
            State::Data if r.code == 354 => {
                let mut body = dot_stuff(self.job.data);
                self.record(ms, Dir::C, &format!("({} octets of message data)", body.len()));
                self.record(ms, Dir::C, ".");
                body.extend_from_slice(b".\r\n");
                self.state = State::EndOfData;
                Next::Write(body)
            }
            State::Data => self.refuse(&r, ms),
            State::EndOfData => {
                let o = classify(&r);
                for a in std::mem::take(&mut self.accepted) {
                    self.outcomes.push((a, o.clone()));
                }
                self.state = State::Quit;
                self.send(ms, "QUIT")
            }
            State::Quit | State::Done | State::Handshake => {
                self.state = State::Done;
                Next::Done
            }
        }
    }
}

fn classify(r: &Reply) -> RcptOutcome {
    match r.code {
        200..=299 => RcptOutcome::Delivered(reply_text(r)),
        400..=499 => RcptOutcome::Temporary(reply_text(r)),
        _ => RcptOutcome::Permanent(reply_text(r)),
    }
}

/// Dot-stuffs a message for DATA (RFC 5321 §4.5.2) and makes sure it ends with CRLF.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests;
