//! The relay client's side of SMTP: its reply-line parser (`queue::client::parse_reply_line`) and its dialogue
//! (`queue::client::Dialogue`) fed whatever a next hop might send.
//!
//! - Round trip: a line that parses as a reply, written back as `code SP/- text`, parses to the same code and
//!   continuation; and any reply the server's own encoder (`smtp::Reply::encode`) writes parses line by line to its
//!   code, `-` on every line but the last, and its text, so parsed and encoded again it is the same bytes.
//! - The dialogue never panics, writes only CRLF-terminated lines (one line per command, the message ending in
//!   `CRLF.CRLF`), decides every recipient exactly once, and gives the same writes and outcomes whether the next
//!   hop's bytes arrive whole or in pieces (when no STARTTLS drops pipelined bytes and nothing is long enough to hit
//!   the line limit).
//!
//! The first byte picks the job (recipients, SMTPUTF8), the chunk size and whether the rest is raw bytes or indices
//! into a table of reply fragments (which gets the fuzzer past the greeting and EHLO quickly).
//!
//! Run: `cargo +nightly fuzz run relay_reply` from `fuzz/` (or `fuzz/ci.sh`, on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::queue::client::{Dialogue, MAX_REPLY_LINE, Next, RcptOutcome, RelayJob, parse_reply_line};
use mailroom_core::session::TlsInfo;
use mailroom_core::smtp::{Reply, Status};
use mailroom_fuzz::fragments;

const FRAGMENTS: &[&[u8]] = &[
    b"220 mx2.example.net ESMTP\r\n",
    b"250-mx2.example.net\r\n",
    b"250-STARTTLS\r\n",
    b"250-SMTPUTF8\r\n",
    b"250 8BITMIME\r\n",
    b"250 2.1.0 Ok\r\n",
    b"250 2.0.0 queued\r\n",
    b"354 go ahead\r\n",
    b"220 2.0.0 Ready to start TLS\r\n",
    b"450 4.2.1 busy\r\n",
    b"550 5.1.1 no such user\r\n",
    b"421 4.3.2 closing\r\n",
    b"221 2.0.0 bye\r\n",
    b"500 5.5.1 what\r\n",
    b"250-",
    b"250 ",
    b"\r\n",
    b"\n",
    b"x",
    b"\xff",
];

const RCPTS: [&str; 3] = ["carol@example.net", "dave@example.net", "j\u{f6}rg@example.net"];

/// What the client wrote, how each recipient ended, and whether STARTTLS dropped buffered bytes on the way.
struct Played {
    writes: Vec<Vec<u8>>,
    outcomes: Vec<(String, RcptOutcome)>,
    tls: bool,
}

fn play(job: RelayJob<'_>, input: &[u8], chunk: usize) -> Played {
    let mut d = Dialogue::new(job);
    let mut writes = Vec::new();
    let mut tls = false;
    let mut done = false;
    'input: for piece in input.chunks(chunk) {
        let mut next = d.receive(piece, 0);
        loop {
            next = match next {
                Next::Read => break,
                Next::Done => {
                    done = true;
                    break 'input;
                }
                Next::StartTls => {
                    assert!(!tls, "STARTTLS twice");
                    tls = true;
                    let info = TlsInfo { version: "TLSv1.3".into(), cipher: "X".into() };
                    d.tls_started(info, None, 0)
                }
                Next::Write(bytes) => {
                    check_write(&bytes, d.sending_data());
                    writes.push(bytes);
                    // Replies already buffered are answered before reading more, as the driver does.
                    d.receive(b"", 0)
                }
            };
        }
    }
    if !done {
        assert_eq!(d.failed("4.4.2 connection closed"), Next::Done);
    }
    let outcomes = d.report().outcomes;
    let mut decided: Vec<&str> = outcomes.iter().map(|(r, _)| r.as_str()).collect();
    decided.sort_unstable();
    let mut expected: Vec<&str> = job.rcpts.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(decided, expected, "every recipient decided exactly once");
    Played { writes, outcomes, tls }
}

/// A command is one CRLF line; the message (written while the dialogue awaits its reply) ends in `CRLF.CRLF`.
fn check_write(bytes: &[u8], data: bool) {
    if data {
        assert!(bytes.ends_with(b"\r\n.\r\n"), "{bytes:?}");
    } else {
        let line = bytes.strip_suffix(b"\r\n").expect("a command ends in CRLF");
        assert!(!line.contains(&b'\r') && !line.contains(&b'\n'), "{bytes:?}");
    }
}

/// A reply line written back from what the parser read of it parses the same.
fn reply_line(line: &str) {
    let Some((code, more)) = parse_reply_line(line) else { return };
    // The code and the separator are ASCII, so byte 4 is a character boundary.
    let text = line.get(4..).unwrap_or("");
    let wire = format!("{code}{}{text}", if more { '-' } else { ' ' });
    assert_eq!(parse_reply_line(&wire), Some((code, more)), "{wire:?}");
}

/// The server's encoder, read back by the client's parser.
fn encoded_reply(data: &[u8]) {
    let Some((&c, rest)) = data.split_first() else { return };
    let code = 200 + u16::from(c) % 200 * 2;
    let status = (c & 1 == 1).then(|| Status::new((code / 100) as u8, u16::from(c % 8), u16::from(c)));
    let text = String::from_utf8_lossy(rest);
    let lines: Vec<String> = text.split('|').map(str::to_string).collect();
    let reply = Reply::multi(code, status, lines);
    let wire = reply.to_wire();
    let mut parsed = Vec::new();
    let count = wire.split_terminator("\r\n").count();
    for (i, line) in wire.split_terminator("\r\n").enumerate() {
        assert_eq!(parse_reply_line(line), Some((code, i + 1 < count)), "{wire:?}");
        parsed.push(line[4..].to_string());
    }
    // Parsed back without an enhanced code (it is part of the text now), the reply encodes to the same bytes.
    assert_eq!(Reply::multi(code, None, parsed).to_wire(), wire);
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, rest)) = data.split_first() else { return };
    encoded_reply(rest);
    let input = if setup & 0x80 != 0 { fragments(rest, FRAGMENTS) } else { rest.to_vec() };
    for line in String::from_utf8_lossy(&input).split('\n') {
        reply_line(line.trim_end_matches('\r'));
    }

    let rcpts: Vec<String> = RCPTS[..1 + usize::from(setup & 3) % 3].iter().map(|r| r.to_string()).collect();
    let message: &[u8] = if setup & 4 != 0 { b"Subject: gr\xc3\xbc\xc3\x9fe\r\n\r\n.dot\r\nend" } else { b"Subject: x\r\n\r\nhi" };
    let job = RelayJob {
        helo: "mx1.example.com",
        mx: "mx2.example.net",
        mail_from: "alice@example.com",
        rcpts: &rcpts,
        data: message,
        smtputf8: setup & 8 != 0,
    };
    let chunk = [1, 2, 3, 5, 16, 64][usize::from(setup >> 4 & 7) % 6];
    let whole = play(job, &input, input.len().max(1));
    let pieces = play(job, &input, chunk);
    if !whole.tls && !pieces.tls && input.len() <= MAX_REPLY_LINE {
        assert_eq!(whole.writes, pieces.writes);
        assert_eq!(whole.outcomes, pieces.outcomes);
    }
});
