//! The end of DATA: judging the message, adding trace and submission headers, handing it to the spool.
//!
//! Every accepted message gets a `Received:` trace header at the top (RFC 5321 §4.4):
//!
//! ```text
//! Received: from client.example ([127.0.0.1])
//!         by mx1.example.com (Mailroom) with ESMTPSA (TLSv1.3 TLS13_AES_256_GCM_SHA384)
//!         (authenticated as alice) id 1F3A9C0B7D2E
//!         for <bob@example.com>; Tue, 1 Jul 2025 10:52:37 +0000
//! ```
//!
//! `with` names the protocol as registered by RFC 3848 and RFC 6531: SMTP (HELO), ESMTP (EHLO), plus `S` for TLS
//! and `A` for AUTH, and UTF8SMTP... when the transaction used SMTPUTF8. The `id` is this session's trace id; the
//! spool assigns the queue ID only when the message is already durable, and that one is in the 250 reply.
//!
//! A *submitted* message (an authenticated client, or the submission ports) is also checked as RFC 6409 §8 allows:
//! its `From:` must parse as an address (else `550 5.6.0`), and `Message-ID:` and `Date:` are added when missing
//! (RFC 6409 §8.2, §8.3).

use std::net::IpAddr;

use chrono::{Datelike, Timelike};
use mail_parser::{HeaderName, MessageParser};

use crate::host::Envelope;
use crate::session::{Flow, Submission};

use super::command::ReversePath;
use super::data::{MAX_DATA_LINE, Outcome};
use super::envelope::size_exceeded;
use super::parser::parse_mailbox;
use super::reply::{Reply, Status};
use super::session::{Phase, SmtpSession, Transaction};

impl SmtpSession {
    /// The end-of-data mark arrived: refuse or accept the message. The session is ready for a new transaction
    /// either way.
    pub(super) fn end_of_data(&mut self, out: &mut Vec<u8>) -> Flow {
        let Phase::Data(tx, reader) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            // process() calls us only in Phase::Data.
            return Flow::Continue;
        };
        match reader.finish() {
            Outcome::TooBig { .. } => self.reply(size_exceeded(self.host.limits.max_message_size), out),
            Outcome::BareLineEnd => self.reply(
                Reply::new(
                    550,
                    Status::new(5, 6, 0),
                    "Message refused: bare CR or LF in the data; every line must end in CRLF \
                     (RFC 5321 section 2.3.8; a defence against SMTP smuggling)",
                ),
                out,
            ),
            Outcome::LineTooLong => self.reply(
                Reply::new(
                    500,
                    Status::new(5, 5, 2),
                    format!(
                        "Message refused: a line is longer than {MAX_DATA_LINE} octets \
                         (RFC 5321 section 4.5.3.1.6 allows 1000)"
                    ),
                ),
                out,
            ),
            Outcome::Message(body) => self.accept(tx, body, out),
        }
    }

    /// Adds the headers and spools the message.
    fn accept(&mut self, tx: Transaction, body: Vec<u8>, out: &mut Vec<u8>) -> Flow {
        // The queue ID, taken now so that the Received: line names the ID the 250 reply will give.
        let id = self.host.spool.new_id();
        let mut head = self.trace_header(&tx, &id);
        if self.is_submission() {
            match submission_headers(&body, &self.host.fqdn, &id, self.host.clock.now()) {
                Ok(extra) => head.push_str(&extra),
                Err(reply) => return self.reply(reply, out),
            }
        }
        let mut message = Vec::with_capacity(head.len() + body.len());
        message.extend_from_slice(head.as_bytes());
        message.extend_from_slice(&body);
        drop(body);
        let envelope = Envelope {
            mail_from: match &tx.from {
                ReversePath::Null => String::new(),
                ReversePath::Mailbox(m) => m.to_string(),
            },
            rcpt_to: tx.rcpts,
            helo: self.helo.as_ref().map(|h| h.name.to_string()).unwrap_or_default(),
            peer: self.conn.peer.clone(),
            auth_user: self.auth_user.clone(),
            smtputf8: tx.smtputf8,
        };
        self.phase = Phase::Submitting(Some(Submission { id, envelope, message }));
        Flow::Submit
    }

    /// The spool's answer to the last submission: `250` with the queue ID once it is durable, or `451`.
    pub(super) fn spooled(&mut self, outcome: Result<String, String>, out: &mut Vec<u8>) -> Flow {
        match outcome {
            Ok(queue_id) => {
                self.reply(Reply::new(250, Status::new(2, 0, 0), format!("Ok: queued as {queue_id}")), out)
            }
            Err(e) => {
                tracing::warn!(error = %e, "spool refused a message");
                self.reply(
                    Reply::new(
                        451,
                        Status::new(4, 3, 0),
                        "Requested action aborted: could not queue the message, try again later",
                    ),
                    out,
                )
            }
        }
    }

    /// The `Received:` header for this transaction, CRLF-terminated.
    fn trace_header(&self, tx: &Transaction, id: &str) -> String {
        let (helo, extended) = match &self.helo {
            Some(h) => (h.name.to_string(), h.extended),
            // DATA is only reachable after HELO/EHLO; this keeps the header well-formed regardless.
            None => ("unknown".to_string(), false),
        };
        let tcp_info = match self.conn.peer_ip {
            Some(IpAddr::V4(ip)) => format!("[{ip}]"),
            Some(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
            None => comment_text(&self.conn.peer),
        };
        let mut with = match (tx.smtputf8, extended) {
            (true, _) => "UTF8SMTP".to_string(),
            (false, true) => "ESMTP".to_string(),
            (false, false) => "SMTP".to_string(),
        };
        if with != "SMTP" {
            if self.conn.tls.is_some() {
                with.push('S');
            }
            if self.auth_user.is_some() {
                with.push('A');
            }
        }
        let mut h =
            format!("Received: from {helo} ({tcp_info})\r\n\tby {} (Mailroom) with {with}", self.host.fqdn);
        if let Some(tls) = &self.conn.tls {
            h.push_str(&format!(" ({} {})", comment_text(&tls.version), comment_text(&tls.cipher)));
        }
        if let Some(user) = &self.auth_user {
            h.push_str(&format!("\r\n\t(authenticated as {})", comment_text(user)));
        }
        h.push_str(&format!(" id {id}"));
        if let [rcpt] = tx.rcpts.as_slice() {
            h.push_str(&format!("\r\n\tfor <{rcpt}>"));
        }
        h.push_str(&format!(";\r\n\t{}\r\n", self.host.clock.now().to_rfc2822()));
        h
    }
}

/// Checks a submitted message's `From:` and returns the `Message-ID:`/`Date:` headers it lacks.
fn submission_headers(
    message: &[u8],
    fqdn: &str,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, Reply> {
    let parsed = MessageParser::default().parse_headers(message);
    let headers = parsed.as_ref().map(|m| m.headers()).unwrap_or_default();
    let from_ok = parsed.as_ref().and_then(|m| m.from()).is_some_and(|from| {
        let mut addresses = from.iter().peekable();
        addresses.peek().is_some()
            && addresses.all(|a| a.address.as_deref().and_then(parse_mailbox).is_some())
    });
    if !from_ok {
        return Err(Reply::new(
            550,
            Status::new(5, 6, 0),
            "Message refused: a submitted message needs a From: header with a valid address \
             (RFC 5322 section 3.6.2), e.g. From: Alice <alice@example.com>",
        ));
    }
    let mut extra = String::new();
    if !headers.iter().any(|h| h.name == HeaderName::MessageId) {
        let stamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            now.year(),
            now.month(),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        extra.push_str(&format!("Message-ID: <{stamp}.{id}@{fqdn}>\r\n"));
    }
    if !headers.iter().any(|h| h.name == HeaderName::Date) {
        extra.push_str(&format!("Date: {}\r\n", now.to_rfc2822()));
    }
    Ok(extra)
}

/// Text safe inside a header comment: printable ASCII without parentheses or backslashes.
fn comment_text(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() && !"()\\".contains(c) || c == ' ' { c } else { '_' }).collect()
}
