//! Delivery status notifications (RFC 3464): how an undeliverable message returns to its sender.
//!
//! A DSN is a `multipart/report; report-type=delivery-status` message (RFC 6522) with three parts: a human-readable
//! explanation, the machine-readable `message/delivery-status` block (one per-recipient group per failed recipient),
//! and the original message's headers as `text/rfc822-headers`. It is sent from the null reverse-path `<>` so that it
//! can never itself bounce (RFC 5321 §4.5.5).

use chrono::{DateTime, Utc};

/// One failed recipient.
#[derive(Clone, Debug)]
pub struct Failed {
    /// The address.
    pub rcpt: String,
    /// RFC 3463 status (`5.1.1`, `4.4.7` for expiry).
    pub status: String,
    /// What the remote server said, or our own diagnosis.
    pub diagnostic: String,
    /// The host that rejected it, if one did.
    pub remote_mta: Option<String>,
}

/// What the DSN is about.
pub struct Report<'a> {
    /// Our host name (`mx1.example.com`).
    pub reporting_mta: &'a str,
    /// The queue ID of the failed message.
    pub queue_id: &'a str,
    /// Who gets the DSN.
    pub to: &'a str,
    /// When the original arrived.
    pub arrival: DateTime<Utc>,
    /// The failed recipients.
    pub failed: &'a [Failed],
    /// The original message.
    pub original: &'a [u8],
    /// Whether this is an expiry (the queue gave up) rather than a rejection.
    pub expired: bool,
    /// The time of the report, by the world's clock.
    pub now: DateTime<Utc>,
}

/// The headers of a message: everything before the first empty line.
pub fn header_block(msg: &[u8]) -> &[u8] {
    let end = msg.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(msg.len());
    &msg[..end]
}

/// Builds the DSN message.
pub fn build(r: &Report<'_>) -> Vec<u8> {
    let boundary = format!("{}/{}", r.queue_id, r.reporting_mta);
    let now = r.now;
    let mut m = String::new();
    m += &format!("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", r.reporting_mta);
    m += &format!("To: <{}>\r\n", r.to);
    m += "Subject: Undelivered Mail Returned to Sender\r\n";
    m += &format!("Date: {}\r\n", now.to_rfc2822());
    m += &format!("Message-ID: <{}.dsn.{}@{}>\r\n", r.queue_id, now.timestamp_millis(), r.reporting_mta);
    m += "Auto-Submitted: auto-replied\r\n";
    m += "MIME-Version: 1.0\r\n";
    m += &format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n"
    );
    m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";
    m += &format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    m += &format!("This is the mail system at host {}.\r\n\r\n", r.reporting_mta);
    if r.expired {
        m += "Your message could not be delivered before it expired: the next server stayed unreachable\r\n";
        m += "for the whole time the queue keeps a message. It has been returned to you.\r\n\r\n";
    } else {
        m += "Your message could not be delivered to one or more recipients. It has been returned to you.\r\n\r\n";
    }
    for f in r.failed {
        m += &format!("<{}>: {}\r\n", f.rcpt, f.diagnostic);
    }
    m += &format!("\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n");
    m += &format!("Reporting-MTA: dns; {}\r\n", r.reporting_mta);
    m += &format!("X-Mailroom-Queue-ID: {}\r\n", r.queue_id);
    m += &format!("Arrival-Date: {}\r\n", r.arrival.to_rfc2822());
    for f in r.failed {
        m += "\r\n";
        m += &format!("Final-Recipient: rfc822; {}\r\n", f.rcpt);
        m += "Action: failed\r\n";
        m += &format!("Status: {}\r\n", f.status);
        if let Some(mta) = &f.remote_mta {
            m += &format!("Remote-MTA: dns; {mta}\r\n");
        }
        // Diagnostic-Code must be one logical line; fold nothing, strip CR/LF.
        let diag: String = f.diagnostic.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        m += &format!("Diagnostic-Code: smtp; {diag}\r\n");
    }
    m += &format!("\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n");
    let mut out = m.into_bytes();
    out.extend_from_slice(header_block(r.original));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The RFC 3463 status code at the start of a reply text (`550 5.1.1 ...` gives `5.1.1`), or a default by class.
pub fn status_of(reply: &str, permanent: bool) -> String {
    let found = reply.split_whitespace().nth(1).filter(|t| {
        let parts: Vec<&str> = t.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    match found {
        Some(s) => s.to_string(),
        None if permanent => "5.0.0".into(),
        None => "4.0.0".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_parses_as_multipart_report() {
        let failed = [Failed {
            rcpt: "carol@example.net".into(),
            status: "4.4.7".into(),
            diagnostic: "delivery time expired".into(),
            remote_mta: None,
        }];
        let orig = b"From: alice@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
        let dsn = build(&Report {
            reporting_mta: "mx1.example.com",
            queue_id: "ABC",
            to: "alice@example.com",
            arrival: Utc::now(),
            failed: &failed,
            original: orig,
            expired: true,
            now: Utc::now(),
        });
        use mail_parser::MimeHeaders;
        let msg = mail_parser::MessageParser::default().parse(&dsn).unwrap();
        assert_eq!(msg.subject(), Some("Undelivered Mail Returned to Sender"));
        let ct = msg.content_type().unwrap();
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert_eq!(msg.parts.len(), 4, "root + 3 parts");
        let text = String::from_utf8_lossy(&dsn);
        assert!(
            text.contains("Final-Recipient: rfc822; carol@example.net\r\nAction: failed\r\nStatus: 4.4.7")
        );
        assert!(text.contains("Subject: hi"));
    }

    #[test]
    fn status_extraction() {
        assert_eq!(status_of("550 5.1.1 no such user", true), "5.1.1");
        assert_eq!(status_of("550 no such user", true), "5.0.0");
        assert_eq!(status_of("451 busy", false), "4.0.0");
    }
}
