//! The IMAP command framer and parser never panic, and a framed command is always parsed to a result.
//!
//! Run: `cargo +nightly fuzz run imap_command` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::imap::parser::{Frame, frame, parse_command, parse_tag};

fuzz_target!(|data: &[u8]| {
    // Every literal is already acknowledged, so framing finds whole commands in the input.
    let mut rest = data;
    while let Frame::Complete(n) = frame(rest, usize::MAX, 4096, 1 << 20) {
        let _ = parse_command(&rest[..n]);
        rest = &rest[n..];
    }
    let _ = parse_tag(data);
    let _ = parse_command(data);
});
