//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3).
//!
//! IMAP4rev1 mailbox names are 7-bit: printable ASCII stands for itself (`&` is written `&-`), everything else is
//! UTF-16 in a variant of base64 (`,` instead of `/`, no padding) between `&` and `-`. The store keeps names in
//! UTF-8, so names are decoded when a command arrives and encoded when a response leaves.

use base64::Engine;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Why a name is not valid modified UTF-7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    /// A byte outside printable US-ASCII.
    #[error("mailbox name has a non-ASCII or control byte")]
    NotAscii,
    /// `&` without a closing `-`.
    #[error("unterminated '&' shift in mailbox name")]
    Unterminated,
    /// Bad base64 or bad UTF-16 inside `&...-`.
    #[error("invalid modified UTF-7 in mailbox name")]
    Invalid,
}

fn engine() -> GeneralPurpose {
    // The alphabet is 64 distinct printable characters, so construction cannot fail.
    let alphabet = Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").unwrap();
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    )
}

/// Encodes a UTF-8 name for the wire.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&engine().encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a name from the wire into UTF-8.
pub fn decode(name: &[u8]) -> Result<String, Mutf7Error> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Mutf7Error::NotAscii);
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = name[i + 1..].iter().position(|&c| c == b'-').ok_or(Mutf7Error::Unterminated)? + i + 1;
        let chunk = &name[i + 1..end];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let bytes = engine().decode(chunk).map_err(|_| Mutf7Error::Invalid)?;
            if bytes.len() % 2 != 0 {
                return Err(Mutf7Error::Invalid);
            }
            let units: Vec<u16> = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            let text = String::from_utf16(&units).map_err(|_| Mutf7Error::Invalid)?;
            // A shifted run must not hide characters that have a direct form (RFC 3501 §5.1.3).
            if text.chars().any(|c| (' '..='~').contains(&c)) {
                return Err(Mutf7Error::Invalid);
            }
            out.push_str(&text);
        }
        i = end + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let table = [
            ("INBOX", "INBOX"),
            ("Tom & Jerry", "Tom &- Jerry"),
            // RFC 3501 §5.1.3's example.
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("😀", "&2D3eAA-"),
        ];
        for (utf8, wire) in table {
            assert_eq!(encode(utf8), wire);
            assert_eq!(decode(wire.as_bytes()).unwrap(), utf8);
        }
    }

    #[test]
    fn rejects() {
        assert_eq!(decode(b"&U,BTFw"), Err(Mutf7Error::Unterminated));
        assert_eq!(decode(b"&!!-"), Err(Mutf7Error::Invalid));
        assert_eq!(decode("ü".as_bytes()), Err(Mutf7Error::NotAscii));
        // "&AGE-" is "a" shifted: must be written directly.
        assert_eq!(decode(b"&AGE-"), Err(Mutf7Error::Invalid));
        // A lone surrogate.
        assert_eq!(decode(b"&2D0-"), Err(Mutf7Error::Invalid));
    }
}
