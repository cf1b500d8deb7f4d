//! Object identifiers (RFC 8474 OBJECTID): MAILBOXID for mailboxes, EMAILID and THREADID for messages.
//!
//! The identifiers let a client that saw a mailbox renamed, or a message moved, keep what it cached instead of
//! downloading it again. Both are derived, so the stores keep nothing new:
//! - MAILBOXID from the mailbox's UIDVALIDITY. The stores hand out each UIDVALIDITY once (a counter that only grows,
//!   see `store::maildir`), keep it across RENAME and give a recreated mailbox a new one: exactly the life RFC 8474
//!   §4 asks of a MAILBOXID. A rebuilt UID list (a new UIDVALIDITY) gives a new MAILBOXID, which is right since
//!   the client must forget its cache of that mailbox then anyway.
//! - EMAILID from the message's bytes (SHA-256, the first 96 bits in hex). A message is immutable (RFC 3501
//!   §2.3.1.1), so the identifier never changes, and a COPY or MOVE keeps it (§5.1). Two messages delivered
//!   separately with byte-for-byte the same content share it; as their content is the same, what a client cached
//!   under it is still right.
//! - THREADID is NIL: Mailroom keeps no thread across mailboxes (THREAD computes threads per search), and §5.2
//!   lets a server without them say NIL.
//!
//! ```text
//! objectid = 1*255(ALPHA / DIGIT / "_" / "-")     ; RFC 8474 §7
//! ```

use sha2::Digest;

/// The MAILBOXID of a mailbox with this UIDVALIDITY.
pub fn mailbox_id(uid_validity: u32) -> String {
    format!("F{uid_validity:08x}")
}

/// The EMAILID of a message with these bytes.
pub fn email_id(raw: &[u8]) -> String {
    let digest = sha2::Sha256::digest(raw);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("M{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_objectids() {
        let valid = |id: &str| {
            (1..=255).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        for id in [mailbox_id(1), mailbox_id(u32::MAX), email_id(b""), email_id(b"Subject: x\r\n\r\ny\r\n")] {
            assert!(valid(&id), "{id}");
        }
        assert_eq!(mailbox_id(0x1234), "F00001234");
        assert_ne!(mailbox_id(1), mailbox_id(2));
        assert_eq!(email_id(b"a"), email_id(b"a"));
        assert_ne!(email_id(b"a"), email_id(b"b"));
        assert_eq!(email_id(b"abc"), "Mba7816bf8f01cfea414140de");
    }
}
