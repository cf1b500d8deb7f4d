//! The IMAP command framer and parser: they never panic, a framed command always parses to a result, and every
//! command that parses survives a round trip: encoded as a client would send it (`mailroom_fuzz::imap::command`), it
//! is framed as one whole command and parses to the same [`Command`].
//!
//! Each input is tried as raw bytes, and mapped onto fragments of IMAP (a tag, command names, search keys, fetch
//! items, strings, literals, sequence sets) so that most inputs get past the command name into the arguments.
//!
//! Run: `cargo +nightly fuzz run imap_command` from `fuzz/` (or `fuzz/ci.sh`, on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::imap::parser::{Command, Frame, frame, parse_command, parse_tag};
use mailroom_fuzz::{fragments, imap};

const FRAGMENTS: &[&[u8]] = &[
    b"a ", b"A1 ", b" ", b" ", b"\r\n", b"(", b")", b"\"", b"\\", b"{3}\r\n", b"{0+}\r\n", b"~{1}\r\n\0", b"NIL",
    b"UID ", b"SELECT ", b"EXAMINE ", b"LIST ", b"LSUB ", b"STATUS ", b"APPEND ", b"SEARCH ", b"SORT ",
    b"THREAD ORDEREDSUBJECT ", b"THREAD REFERENCES ", b"FETCH ", b"STORE ", b"COPY ", b"MOVE ", b"EXPUNGE", b"LOGIN ", b"AUTHENTICATE ",
    b"ENABLE ", b"ID ", b"RENAME ", b"CREATE ", b"INBOX", b"1:*", b"2,4:7", b"$", b"*", b"RETURN (", b"MIN ",
    b"SAVE", b"CHARSET UTF-8 ", b"OR ", b"NOT ", b"HEADER ", b"KEYWORD ", b"SINCE 1-Feb-1994", b"ALL",
    b"BODY.PEEK[", b"BINARY[", b"1.2", b".MIME", b"HEADER.FIELDS (", b"]<0.10>", b"+FLAGS.SILENT ", b"\\Seen",
    b"(SPECIAL-USE SUBSCRIBED RECURSIVEMATCH) ", b"RETURN (STATUS (MESSAGES SIZE))", b"(CONDSTORE)",
    b"(CHANGEDSINCE 1)", b"\"17-Jul-1996 02:44:25 -0700\" ", b"&AOQ-", b"\xc3\xa4",
];

fn round_trip(input: &[u8]) {
    let Ok(cmd) = parse_command(input) else { return };
    let wire = imap::command(&cmd);
    // Every literal acknowledged, no limits: the encoding is exactly one command.
    assert_eq!(frame(&wire, usize::MAX, usize::MAX, u64::MAX), Frame::Complete(wire.len()), "{wire:?}");
    let again: Command = parse_command(&wire).unwrap_or_else(|e| panic!("{wire:?} does not parse again: {e:?}"));
    assert_eq!(again, cmd, "{wire:?}");
}

fn check(data: &[u8]) {
    let mut rest = data;
    while let Frame::Complete(n) = frame(rest, usize::MAX, 4096, 1 << 20) {
        round_trip(&rest[..n]);
        rest = &rest[n..];
    }
    let _ = parse_tag(data);
    round_trip(data);
}

fuzz_target!(|data: &[u8]| {
    check(data);
    check(&fragments(data, FRAGMENTS));
});
