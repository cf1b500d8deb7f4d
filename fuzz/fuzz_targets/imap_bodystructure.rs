//! Arbitrary bytes as a message: ENVELOPE, BODY, BODYSTRUCTURE and sections never panic or recurse unboundedly.
//!
//! Run: `cargo +nightly fuzz run imap_bodystructure` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::imap::mime;
use mailroom_core::imap::parser::{Section, SectionText};

fuzz_target!(|data: &[u8]| {
    let parsed = mime::parse(data);
    let mut out = Vec::new();
    mime::envelope(&mut out, &parsed);
    mime::body_structure(&mut out, &parsed, true);
    mime::body_structure(&mut out, &parsed, false);
    for part in [vec![], vec![1], vec![1, 1], vec![2, 1, 3], vec![1; 40]] {
        for text in [None, Some(SectionText::Header), Some(SectionText::Text), Some(SectionText::Mime)] {
            let _ = mime::section(&parsed, &Section { part: part.clone(), text });
        }
    }
    let _ = mime::search_text(&parsed, true, true);
    let _ = mime::header_search_values(&parsed, "from");
});
