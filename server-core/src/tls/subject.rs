//! Who a certificate says it is, for the learner: the subject's CommonName, read from the DER that rustls-webpki
//! has already located (it parses the certificate and finds the subject and the SubjectAltName extension, but
//! does not decode names into attributes). The walk below reads only what RFC 5280 section 4.1.2.4 puts there:
//! `Name ::= SEQUENCE OF SET OF SEQUENCE { type OBJECT IDENTIFIER, value ANY }`, and it trusts nothing: every
//! length is checked against what is left, so a hostile next hop's certificate yields `None`, never a panic.

/// The DER encoding of the CommonName attribute type, 2.5.4.3 (X.520).
const CN_OID: &[u8] = &[0x55, 0x04, 0x03];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The first CommonName in a certificate's subject. `name` is the subject's contents without the outer
/// SEQUENCE header (what `webpki::Cert::subject` gives). Values in UTF8String, PrintableString or IA5String are
/// read; other string types (T.61, BMP, universal) are skipped.
pub fn common_name(name: &[u8]) -> Option<String> {
    let mut rdns = name;
    while !rdns.is_empty() {
        let (set, rest) = tlv(rdns, SET)?;
        rdns = rest;
        let mut attributes = set;
        while !attributes.is_empty() {
            let (attribute, rest) = tlv(attributes, SEQUENCE)?;
            attributes = rest;
            let (oid, value) = tlv(attribute, OID)?;
            if oid != CN_OID {
                continue;
            }
            let (&tag, _) = value.split_first()?;
            // UTF8String, PrintableString, IA5String: all valid UTF-8 when well formed.
            if matches!(tag, 0x0c | 0x13 | 0x16) {
                let (text, _) = tlv(value, tag)?;
                if let Ok(text) = std::str::from_utf8(text) {
                    return Some(text.to_string());
                }
            }
        }
    }
    None
}

/// Splits one DER element with the given (single-byte) tag off the front of `input`: (its contents, the rest).
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        // Long form: 1 to 4 length bytes follow (a certificate is far smaller than 4 GiB).
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let (bytes, rest) = (rest.get(..n)?, rest.get(n..)?);
            (bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)), rest)
        }
        _ => return None,
    };
    Some((rest.get(..len)?, rest.get(len..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of one attribute set: SET { SEQUENCE { OID, value } }.
    fn rdn(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut attr = vec![OID, oid.len() as u8];
        attr.extend_from_slice(oid);
        attr.extend_from_slice(&[tag, value.len() as u8]);
        attr.extend_from_slice(value);
        let mut seq = vec![SEQUENCE, attr.len() as u8];
        seq.extend(attr);
        let mut set = vec![SET, seq.len() as u8];
        set.extend(seq);
        set
    }

    #[test]
    fn the_common_name_is_found_among_other_attributes() {
        // O=Mailroom playground, CN=mx1.example.com (the order rcgen writes them in is not relied on).
        let mut name = rdn(&[0x55, 0x04, 0x0a], 0x0c, b"Mailroom playground");
        name.extend(rdn(CN_OID, 0x0c, b"mx1.example.com"));
        assert_eq!(common_name(&name).as_deref(), Some("mx1.example.com"));
        assert_eq!(common_name(&rdn(CN_OID, 0x13, b"mx2")).as_deref(), Some("mx2"));
    }

    #[test]
    fn long_form_lengths_are_read() {
        let cn = "m".repeat(200);
        let mut attr = vec![OID, 3, 0x55, 0x04, 0x03, 0x0c, 0x81, 200];
        attr.extend_from_slice(cn.as_bytes());
        let mut seq = vec![SEQUENCE, 0x81, attr.len() as u8];
        seq.extend(attr);
        let mut set = vec![SET, 0x82, 0, seq.len() as u8];
        set.extend(seq);
        assert_eq!(common_name(&set), Some(cn));
    }

    #[test]
    fn truncated_or_mistagged_input_gives_none() {
        let name = rdn(CN_OID, 0x0c, b"mx1.example.com");
        for cut in 0..name.len() {
            assert_eq!(common_name(&name[..cut]), None, "cut at {cut}");
        }
        // No CommonName at all; a BMPString one is not read.
        assert_eq!(common_name(&rdn(&[0x55, 0x04, 0x0a], 0x0c, b"Org")), None);
        assert_eq!(common_name(&rdn(CN_OID, 0x1e, b"\0m\0x")), None);
        // An indefinite or oversized length.
        assert_eq!(common_name(&[SET, 0x80, 0, 0]), None);
        assert_eq!(common_name(&[SET, 0x85, 1, 1, 1, 1, 1]), None);
    }
}
