//! The certificate subject reader (`tls::subject::common_name`), fed whatever a next hop's certificate might hold
//! where its subject is: it never panics, and a name it returns is text that was in the input.
//!
//! Run: `cargo +nightly fuzz run cert_subject` from `fuzz/` (or `fuzz/ci.sh`, on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::tls::subject::common_name;

fuzz_target!(|data: &[u8]| {
    if let Some(name) = common_name(data) {
        assert!(data.windows(name.len().max(1)).any(|w| w == name.as_bytes()) || name.is_empty(), "{name:?}");
    }
});
