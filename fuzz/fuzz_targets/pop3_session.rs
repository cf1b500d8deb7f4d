//! A whole POP3 session (RFC 1939, 2449, 2595, 5034) fed arbitrary bytes, against a maildrop with two messages:
//! it never panics, writes only whole CRLF lines, stays closed once closed, and every line that is not part of a
//! multi-line response's body is a status (`+OK`, `-ERR`) or a SASL continuation (`+ `).
//!
//! The first byte picks POP3 or POP3S, the AUTH/STLS policy, the chunk size and whether the rest is raw bytes or
//! indices into a table of POP3 fragments (which gets the fuzzer past USER/PASS quickly).
//!
//! Run: `cargo +nightly fuzz run pop3_session` from `fuzz/` (or `fuzz/ci.sh`, on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::config::Service;
use mailroom_core::pop3::Pop3Session;
use mailroom_fuzz::session;

const FRAGMENTS: &[&[u8]] = &[
    b"USER alice\r\n", b"PASS password\r\n", b"APOP alice 0123456789abcdef0123456789abcdef\r\n",
    b"AUTH PLAIN\r\n", b"AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n", b"AGFsaWNlAHBhc3N3b3Jk\r\n", b"*\r\n", b"STLS\r\n",
    b"CAPA\r\n", b"STAT\r\n", b"LIST\r\n", b"LIST 1\r\n", b"RETR 1\r\n", b"RETR 2\r\n", b"TOP 2 0\r\n",
    b"TOP 1 99\r\n", b"DELE 1\r\n", b"UIDL\r\n", b"UIDL 2\r\n", b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n", b"LIST 3\r\n",
    b"RETR 0\r\n", b"4294967296", b" ", b"\r\n", b"\n", b"\r", b"\0", b"\xff", b"USER",
];

fuzz_target!(|data: &[u8]| {
    let Some((setup, input, chunk)) = session::input(data, FRAGMENTS) else { return };
    let pop3s = setup & 1 != 0;
    let (host, spool) = session::host();
    let conn = session::conn(if pop3s { Service::Pop3s } else { Service::Pop3 }, pop3s, setup);
    let mut pop3 = Pop3Session::new(host, conn);
    let out = session::drive(&mut pop3, &spool, &input, chunk);

    // A multi-line response runs from its +OK to a line that is only "." (its data lines byte-stuffed), so after a
    // +OK either a status line or a data line may come; after the "." only a status line.
    let mut in_body = false;
    let mut may_open = false;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").expect("CRLF line ends");
        if in_body {
            in_body = line != b".";
            continue;
        }
        let ok = line.starts_with(b"+OK");
        if ok || line.starts_with(b"-ERR") || line.starts_with(b"+ ") || line == b"+" {
            may_open = ok;
            continue;
        }
        assert!(may_open, "not a status line: {:?}", String::from_utf8_lossy(line));
        in_body = line != b".";
        may_open = false;
    }
});
