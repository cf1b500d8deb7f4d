//! A whole IMAP session (RFC 3501 and the extensions offered) fed arbitrary bytes, against an INBOX with two
//! messages: it never panics, writes only whole CRLF lines (literals aside), and stays closed once closed. Every
//! line it writes starts as a response does: `*`, `+`, or a tag the client sent, unless it continues after a literal
//! the line before announced, and a literal's data is followed by SP, `)` or CRLF.
//!
//! The first byte picks IMAP or IMAPS, the AUTH/STARTTLS policy, the chunk size and whether the rest is raw bytes
//! or indices into a table of IMAP fragments (which gets the fuzzer past LOGIN and SELECT quickly).
//!
//! Run: `cargo +nightly fuzz run imap_session` from `fuzz/` (or `fuzz/ci.sh`, on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::config::Service;
use mailroom_core::imap::ImapSession;
use mailroom_core::imap::parser::literal_announcement;
use mailroom_fuzz::session;

const FRAGMENTS: &[&[u8]] = &[
    b"a LOGIN alice password\r\n", b"a AUTHENTICATE PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n", b"b SELECT INBOX\r\n",
    b"b EXAMINE INBOX (CONDSTORE)\r\n", b"c FETCH 1:* (FLAGS BODYSTRUCTURE ENVELOPE BODY.PEEK[1.MIME] BINARY[2])\r\n",
    b"c UID FETCH 1:* (UID RFC822.SIZE BODY[HEADER.FIELDS (FROM)]<0.10>) (CHANGEDSINCE 1)\r\n",
    b"d STORE 1 +FLAGS (\\Deleted \\Seen)\r\n", b"d UID STORE 2 -FLAGS.SILENT (x)\r\n", b"e EXPUNGE\r\n",
    b"e UID EXPUNGE 1\r\n", b"f SEARCH RETURN (SAVE MIN) OR SEEN TEXT hi\r\n", b"f SEARCH $\r\n",
    b"g SORT (REVERSE DATE) UTF-8 ALL\r\n", b"g THREAD ORDEREDSUBJECT UTF-8 ALL\r\n", b"h COPY 1 Trash\r\n",
    b"h MOVE 1:* Sent\r\n", b"i CREATE a/b\r\n", b"i RENAME a x\r\n", b"i DELETE x\r\n",
    b"j LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (* %) RETURN (STATUS (MESSAGES SIZE))\r\n", b"j LSUB \"\" *\r\n",
    b"k STATUS INBOX (UIDNEXT UNSEEN HIGHESTMODSEQ)\r\n", b"k APPEND INBOX (\\Seen) {5}\r\n", b"hello",
    b"k APPEND INBOX {3+}\r\nabc\r\n", b"l IDLE\r\n", b"DONE\r\n", b"m ENABLE CONDSTORE\r\n", b"m ID NIL\r\n",
    b"n CLOSE\r\n", b"n UNSELECT\r\n", b"o STARTTLS\r\n", b"o CAPABILITY\r\n", b"p NOOP\r\n", b"z LOGOUT\r\n",
    b"\r\n", b" ", b"\"", b"{", b"\0", b"\xff", b"&AOQ-",
];

fuzz_target!(|data: &[u8]| {
    let Some((setup, input, chunk)) = session::input(data, FRAGMENTS) else { return };
    let imaps = setup & 1 != 0;
    let (host, spool) = session::host();
    let conn = session::conn(if imaps { Service::Imaps } else { Service::Imap }, imaps, setup);
    let mut imap = ImapSession::new(host, conn);
    let out = session::drive(&mut imap, &spool, &input, chunk);

    // Walk the responses, skipping literal data, as a client reads them.
    let mut rest = &out[..];
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').expect("whole lines") + 1;
        let line = &rest[..end];
        assert!(line.ends_with(b"\r\n"), "{:?}", String::from_utf8_lossy(line));
        let first = line.split(|&b| b == b' ').next().unwrap_or_default();
        assert!(
            first == b"*" || first == b"+" || first.starts_with(b"+") || input_has_tag(&input, first),
            "{:?}",
            String::from_utf8_lossy(line)
        );
        rest = &rest[end..];
        // A line ending in {n} is followed by n bytes of literal, then the response goes on.
        let mut tail = line.strip_suffix(b"\r\n").unwrap_or(line);
        while let Some((n, _)) = literal_announcement(tail) {
            let n = usize::try_from(n).expect("literal fits");
            assert!(rest.len() >= n, "literal longer than the output");
            // After its data the response goes on with the next item, closes a list, or ends the line.
            assert!(
                matches!(rest.get(n), Some(b' ' | b')' | b'\r')),
                "literal not followed by SP, ')' or CRLF: {:?}",
                String::from_utf8_lossy(&rest[n..])
            );
            let next = rest[n..].iter().position(|&b| b == b'\n').map_or(rest.len(), |i| n + i + 1);
            tail = rest[n..next].strip_suffix(b"\r\n").unwrap_or(&rest[n..next]);
            rest = &rest[next..];
        }
    }
});

/// Whether a tagged response's tag is one the client sent (or a prefix the client sent before a bad byte).
fn input_has_tag(input: &[u8], tag: &[u8]) -> bool {
    !tag.is_empty() && input.windows(tag.len()).any(|w| w == tag)
}
