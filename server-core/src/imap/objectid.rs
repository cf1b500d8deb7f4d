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
//! - THREADID from the message-id that starts its thread: the first of its References (RFC 5322 §3.6.4 keeps the
//!   thread's first message there), else of In-Reply-To, else its own Message-ID. A reply and the message it
//!   answers thus share it in every mailbox, with nothing stored. A message with none of the three is in no thread
//!   the server knows: THREADID NIL (§5.2).
//!
//! ```text
//! objectid = 1*255(ALPHA / DIGIT / "_" / "-")     ; RFC 8474 §7
//! ```

use sha2::Digest;

use super::mime::{self, Parsed};

/// The MAILBOXID of a mailbox with this UIDVALIDITY.
pub fn mailbox_id(uid_validity: u32) -> String {
    format!("F{uid_validity:08x}")
}

/// The EMAILID of a message with these bytes.
pub fn email_id(raw: &[u8]) -> String {
    format!("M{}", hash(raw))
}

/// The THREADID of a message, None when it names no message-id at all.
pub fn thread_id(parsed: &Parsed<'_>) -> Option<String> {
    let root = ["references", "in-reply-to", "message-id"]
        .into_iter()
        .find_map(|header| mime::message_ids(parsed, header).into_iter().next())?;
    Some(format!("T{}", hash(root.as_bytes())))
}

/// The first 96 bits of SHA-256, in hex: 24 characters, within objectid's alphabet.
fn hash(data: &[u8]) -> String {
    sha2::Sha256::digest(data)[..12].iter().map(|b| format!("{b:02x}")).collect()
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

    #[test]
    fn thread_ids_follow_the_first_reference() {
        let thread = |headers: &str| thread_id(&mime::parse(format!("{headers}\r\n\r\nbody\r\n").as_bytes()));
        let root = thread("Message-ID: <root@example.com>");
        assert!(root.as_deref().is_some_and(|t| t.starts_with('T') && t.len() == 25), "{root:?}");
        let table = [
            ("Message-ID: <r1@example.com>\r\nIn-Reply-To: <root@example.com>", true),
            ("Message-ID: <r2@example.com>\r\nReferences: <root@example.com> <r1@example.com>", true),
            ("References: <root@example.com>\r\nIn-Reply-To: <r1@example.com>", true),
            ("Message-ID: <other@example.com>", false),
            ("Message-ID: <r3@example.com>\r\nIn-Reply-To: <other@example.com>", false),
        ];
        for (headers, same) in table {
            assert_eq!(thread(headers) == root, same, "{headers}");
        }
        assert_eq!(thread("Subject: no ids"), None);
    }
}
