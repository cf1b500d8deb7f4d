//! What the fuzz targets share: encoders the server does not need, and the mapping of random bytes onto a
//! protocol's alphabet.
//!
//! - [`imap`]: a client-side encoder for every [`mailroom_core::imap::parser::Command`], so `imap_command` can check
//!   that "parse, encode, parse" gives the same command (the server only ever parses commands).
//! - [`session`]: a memory host with mail in it, and a driver that feeds a whole session its input in pieces.
//! - [`fragments`]: random bytes as a sequence of protocol fragments, which gets the fuzzer past keywords quickly.

pub mod imap;
pub mod session;

/// Each input byte picks one fragment of `table` (the smtp-proto trick: random bytes become mostly well-formed
/// protocol text, so coverage goes deeper than the keyword check).
pub fn fragments(input: &[u8], table: &[&[u8]]) -> Vec<u8> {
    input.iter().flat_map(|&b| table[usize::from(b) % table.len()].iter().copied()).collect()
}
