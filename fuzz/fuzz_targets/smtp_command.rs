//! The SMTP command parser: never panics, and "parse, encode, parse" gives the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::smtp::{Parsed, parse_command};

fuzz_target!(|data: &[u8]| {
    match parse_command(data, 512) {
        Parsed::Complete { value, consumed } => {
            assert!(consumed <= data.len() && consumed <= 512);
            let wire = format!("{value}\r\n");
            match parse_command(wire.as_bytes(), 4096) {
                Parsed::Complete {
                    value: again,
                    consumed,
                } => {
                    assert_eq!(again, value, "{wire:?}");
                    assert_eq!(consumed, wire.len());
                }
                other => panic!("{wire:?} does not parse again: {other:?}"),
            }
        }
        Parsed::Invalid { consumed, .. } => assert!(consumed <= data.len()),
        Parsed::Incomplete => assert!(!data.contains(&b'\n') && data.len() < 512),
        Parsed::Overflow => assert!(!data.contains(&b'\n') && data.len() >= 512),
    }
});
