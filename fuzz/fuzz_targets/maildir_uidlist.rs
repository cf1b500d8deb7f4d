//! The Maildir store's UID list (`mailroom-uidlist`, format in `store/maildir/mod.rs`): parsing never panics, and a list
//! that parses, written back as a snapshot, parses to the same state, so written again it is the same text.
//! (`uidlist_snapshot` is parse, then write.)
//!
//! Each input is tried as raw text, and with a valid header put in front and its lines mapped onto fields a list
//! holds (UIDs, modseqs, dates, flags, percent-encoded names), so that most inputs reach the `M` and `X` lines.
//!
//! Run: `cargo +nightly fuzz run maildir_uidlist` from `fuzz/` (or `fuzz/ci.sh`, on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::store::maildir::uidlist_snapshot;
use mailroom_fuzz::fragments;

const FRAGMENTS: &[&[u8]] = &[
    b"M ", b"X ", b"1 ", b"2 ", b"7 ", b"4294967295 ", b"0 ", b"18446744073709551615 ", b"1234 ",
    b"2026-03-01T10:00:00Z ", b"2026-03-01T10:00:00.123456789+02:00 ", b"1969-12-31T23:59:60Z ", b"\\Seen",
    b"\\Answered,\\Flagged", b"$Important", b"%25", b"%2C", b"%20", b",", b"- ", b"-", b"\\Recent",
    b"1772359200.M1234P99Q1.mx1,S=1234", b"a:2,S", b"x/y", b"\n", b"# comment\n", b" ", b"%", b"\xc3\xa4",
];

fn check(text: &str) {
    if let Ok(snapshot) = uidlist_snapshot(text) {
        assert_eq!(uidlist_snapshot(&snapshot).as_ref(), Ok(&snapshot), "{text:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));
    let mut text = b"mailroom-uidlist 1 1772359200 5 9\n".to_vec();
    text.extend(fragments(data, FRAGMENTS));
    check(&String::from_utf8_lossy(&text));
});
