//! APPEND (RFC 3501 §6.3.11), several messages at once with MULTIAPPEND (RFC 3502), messages put together from
//! text and parts of messages already here with CATENATE (RFC 4469), messages with UTF-8 headers sent as
//! `UTF8 (...)` (RFC 6855 §4), answered with APPENDUID (RFC 4315).

use super::mime;
use super::parser::{AppendMessage, CatPart, MailboxName, parse_section};
use super::sequence::SequenceSet;
use super::session::{ImapSession, Reply};
use super::store_cmd::parse_flags;
use crate::store::{Flags, StoreError};

impl ImapSession {
    /// APPEND of one message or, with MULTIAPPEND, several: all or none (RFC 3502 §6.3.11: "if the server
    /// is unable to append any of the messages, none of them are appended").
    pub(super) fn append(&mut self, raw: &MailboxName, messages: &[AppendMessage]) -> Reply {
        // RFC 6855 §4: UTF8 data is for clients that said they handle UTF-8 mail.
        if messages.iter().any(|m| m.utf8) && !self.utf8_accept {
            return Reply::bad("APPEND UTF8 needs ENABLE UTF8=ACCEPT");
        }
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let flags =
            match messages.iter().map(|m| parse_flags(&m.flags)).collect::<Result<Vec<Flags>, Reply>>() {
                Ok(f) => f,
                Err(r) => return r,
            };
        let user = self.user().unwrap_or_default().to_string();
        let store = self.host.store.clone();
        let validity = match store.status(&user, &name) {
            Ok(s) => s.uid_validity,
            // §6.3.11: TRYCREATE tells the client it may CREATE the mailbox and try again.
            Err(StoreError::NoSuchFolder) => return Reply::no(Some("TRYCREATE"), "No such mailbox"),
            Err(e) => return Self::store_error(e),
        };
        // RFC 4469 §5: every URL must resolve before anything is appended; one that does not is `NO [BADURL]`.
        let mut built: Vec<Option<Vec<u8>>> = Vec::new();
        for m in messages {
            let Some(parts) = &m.catenate else {
                built.push(None);
                continue;
            };
            let mut data = Vec::new();
            for part in parts {
                match part {
                    CatPart::Text(text) => data.extend_from_slice(text),
                    CatPart::Url(url) => match self.url_data(&user, url) {
                        Some(bytes) => data.extend_from_slice(&bytes),
                        None => {
                            // url-resp-text (RFC 4469 §6): the URL as given, minus what would end the code.
                            let shown: String =
                                url.chars().filter(|c| !matches!(c, ']' | '\r' | '\n')).collect();
                            return Reply::no(Some(&format!("BADURL {shown}")), "URL names no message here");
                        }
                    },
                }
                if data.len() > self.host.limits.max_message_size {
                    return Reply::no(Some("TOOBIG"), "Message too large");
                }
            }
            built.push(Some(data));
        }
        let mut uids = Vec::new();
        for ((m, flags), catenated) in messages.iter().zip(&flags).zip(&built) {
            let message = catenated.as_deref().unwrap_or(&m.message);
            let converted = mime::encode_binary_parts(message);
            let data = converted.as_deref().unwrap_or(message);
            match store.append(&user, &name, data, flags, m.date.map(|d| d.to_utc())) {
                Ok(uid) => uids.push(uid),
                Err(e) => {
                    // Take back the ones already in: a client retrying would otherwise append them twice.
                    let _ = store.expunge(&user, &name, &uids);
                    return Self::store_error(e);
                }
            }
        }
        self.emit_change(&name, "appended", uids.clone());
        // RFC 4315 §3: APPENDUID carries a UID set for a MULTIAPPEND.
        Reply::ok_code(format!("APPENDUID {validity} {}", SequenceSet::compact(&uids)), "APPEND completed")
    }

    /// The octets a server-relative IMAP URL (RFC 5092 §6) names in this user's mailboxes, or None:
    ///
    /// ```text
    /// imap-url-rel = "/" enc-mailbox [";UIDVALIDITY=" nz-number] "/;UID=" nz-number
    ///                ["/;SECTION=" enc-section] ["/;PARTIAL=" number ["." nz-number]]
    /// ```
    fn url_data(&self, user: &str, url: &str) -> Option<Vec<u8>> {
        let mut segments = url.strip_prefix('/')?.split("/;");
        let first = segments.next()?;
        let (mailbox, validity) = match first.split_once(';') {
            Some((mailbox, param)) => {
                let (key, value) = param.split_once('=')?;
                key.eq_ignore_ascii_case("UIDVALIDITY").then_some(())?;
                (mailbox, Some(value.parse::<u32>().ok()?))
            }
            None => (first, None),
        };
        let (mut uid, mut section, mut partial) = (None, None, None);
        for segment in segments {
            let (key, value) = segment.split_once('=')?;
            let value = percent_decode(value)?;
            match key.to_ascii_uppercase().as_str() {
                "UID" => uid = Some(std::str::from_utf8(&value).ok()?.parse::<u32>().ok()?),
                "SECTION" => section = Some(parse_section(&value)?),
                "PARTIAL" => {
                    let text = std::str::from_utf8(&value).ok()?;
                    let (origin, len) = match text.split_once('.') {
                        Some((o, l)) => (o.parse::<usize>().ok()?, Some(l.parse::<usize>().ok()?)),
                        None => (text.parse::<usize>().ok()?, None),
                    };
                    partial = Some((origin, len));
                }
                _ => return None,
            }
        }
        let name = self.mailbox_name(&percent_decode(mailbox)?).ok()?;
        let status = self.host.store.status(user, &name).ok()?;
        if validity.is_some_and(|v| v != status.uid_validity) {
            return None;
        }
        let raw = self.host.store.read(user, &name, uid?).ok()?;
        let parsed = mime::parse(&raw);
        let data = match &section {
            Some(section) => mime::section(&parsed, section)?.into_owned(),
            None => raw.to_vec(),
        };
        Some(match partial {
            None => data,
            Some((origin, len)) => {
                let start = origin.min(data.len());
                let end = len.map_or(data.len(), |l| start.saturating_add(l).min(data.len()));
                data[start..end].to_vec()
            }
        })
    }
}

/// `%XX` escapes undone (RFC 5092 §4, RFC 3986 §2.1); None for a broken escape.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}
