//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3, `imap::mutf7`): decoding never panics; a name that decodes, encoded
//! again, decodes to the same name; and any UTF-8 name encodes to printable ASCII that decodes back to it.
//!
//! Run: `cargo +nightly fuzz run imap_mutf7` from `fuzz/` (or `fuzz/ci.sh`, on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::imap::mutf7::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = decode(data) {
        let wire = encode(&name);
        assert_eq!(decode(wire.as_bytes()).as_ref(), Ok(&name), "{wire:?}");
    }
    let name = String::from_utf8_lossy(data);
    let wire = encode(&name);
    assert!(wire.bytes().all(|b| (b' '..=b'~').contains(&b)), "{wire:?}");
    assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(&*name), "{wire:?}");
});
