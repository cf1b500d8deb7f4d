//! Mailbox management in the authenticated state: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB
//! (RFC 3501 §6.3.3-9, SPECIAL-USE RFC 6154) and STATUS (§6.3.10).

use super::mutf7;
use super::parser::{MailboxName, StatusItem};
use super::response::{self, untagged};
use super::session::{ImapSession, Reply, State};
use crate::store::{Flag, canonical_folder};

impl ImapSession {
    pub(super) fn create(&mut self, raw: &MailboxName) -> Reply {
        // §6.3.3: a trailing delimiter declares the intent to create children; the name is without it.
        let trimmed: Vec<u8> = raw.strip_suffix(b"/").unwrap_or(raw).to_vec();
        let name = match self.mailbox_name(&trimmed) {
            Ok(n) => n,
            Err(r) => return r,
        };
        if name == "INBOX" {
            return Reply::no(Some("ALREADYEXISTS"), "INBOX always exists");
        }
        let user = self.user().unwrap_or_default().to_string();
        match self.host.store.create_folder(&user, &name) {
            Ok(()) => {
                self.emit_change(&name, "created", vec![]);
                Reply::ok("CREATE completed")
            }
            Err(e) => Self::store_error(e),
        }
    }

    pub(super) fn delete(&mut self, raw: &MailboxName) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        if name == "INBOX" {
            return Reply::no(Some("CANNOT"), "INBOX cannot be deleted");
        }
        match self.host.store.delete_folder(&user, &name) {
            Ok(()) => {
                self.emit_change(&name, "deleted", vec![]);
                Reply::ok("DELETE completed")
            }
            Err(e) => Self::store_error(e),
        }
    }

    pub(super) fn rename(&mut self, from: &MailboxName, to: &MailboxName) -> Reply {
        let (from, to) = match (self.mailbox_name(from), self.mailbox_name(to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        if from == to {
            return Reply::no(Some("ALREADYEXISTS"), "Source and destination are the same");
        }
        let exists = self.host.store.folders(&user).map(|f| f.iter().any(|f| f.name == to)).unwrap_or(false);
        if exists {
            return Reply::no(Some("ALREADYEXISTS"), "Destination mailbox already exists");
        }
        match self.host.store.rename_folder(&user, &from, &to) {
            Ok(()) => {
                // The selected mailbox (or one below the renamed one) keeps being selected under its new name, as
                // in Dovecot: the session goes on working on the same messages (RFC 3501 §6.3.5 moves the
                // mailbox, it does not replace it).
                if let State::Selected { mailbox, .. } = &mut self.state
                    && let Some(rest) = mailbox.name.strip_prefix(&from)
                    && (rest.is_empty() || rest.starts_with('/'))
                {
                    mailbox.name = format!("{to}{rest}");
                    mailbox.version =
                        self.host.store.folder_version(&user, &mailbox.name).unwrap_or_default();
                }
                self.emit_change(&from, &format!("renamed to {to}"), vec![]);
                Reply::ok("RENAME completed")
            }
            Err(e) => Self::store_error(e),
        }
    }

    pub(super) fn subscribe(&mut self, raw: &MailboxName, subscribed: bool) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        match self.host.store.set_subscribed(&user, &name, subscribed) {
            Ok(()) => Reply::ok(if subscribed { "SUBSCRIBE completed" } else { "UNSUBSCRIBE completed" }),
            Err(e) => Self::store_error(e),
        }
    }

    pub(super) fn list(
        &mut self,
        reference: &MailboxName,
        pattern: &MailboxName,
        lsub: bool,
        special_use_only: bool,
        out: &mut Vec<u8>,
    ) -> Reply {
        let decode = |raw: &MailboxName| -> Result<String, Reply> {
            if raw.is_ascii() {
                // A reference or pattern is not a mailbox name: one that is not valid modified UTF-7 (`&'`) is
                // taken as written and matches no mailbox, as Dovecot does (RFC 3501 §6.3.8 allows any atom).
                Ok(mutf7::decode(raw).unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned()))
            } else {
                String::from_utf8(raw.clone())
                    .map_err(|_| Reply::no(Some("CANNOT"), "Name is not valid UTF-8"))
            }
        };
        let (reference, pattern) = match (decode(reference), decode(pattern)) {
            (Ok(r), Ok(p)) => (r, p),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let verb = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() && !lsub {
            // §6.3.8: an empty pattern asks for the delimiter and the root of the reference.
            untagged(out, "LIST (\\Noselect) \"/\" \"\"");
            return Reply::ok("LIST completed");
        }
        let full = canonical_folder(&format!("{reference}{pattern}"));
        let user = self.user().unwrap_or_default().to_string();
        let folders = match self.host.store.folders(&user) {
            Ok(f) => f,
            Err(e) => return Self::store_error(e),
        };
        // RFC 3501 §6.3.9: with `%`, LSUB shows a parent that is not itself subscribed but has a subscribed
        // child the `%` stops at, as `\Noselect`.
        let mut parents: Vec<&str> = Vec::new();
        if lsub && full.contains('%') {
            for f in folders.iter().filter(|f| f.subscribed) {
                let mut at = 0;
                while let Some(slash) = f.name[at..].find('/') {
                    let parent = &f.name[..at + slash];
                    at += slash + 1;
                    let subscribed = folders.iter().any(|p| p.name == parent && p.subscribed);
                    if !subscribed && wildcard_match(&full, parent) && !parents.contains(&parent) {
                        parents.push(parent);
                    }
                }
            }
        }
        for f in &folders {
            if lsub && parents.contains(&f.name.as_str()) {
                parents.retain(|p| *p != f.name);
                let mut line = b"* LSUB (\\Noselect) \"/\" ".to_vec();
                response::mailbox(&mut line, &f.name);
                line.extend_from_slice(b"\r\n");
                out.extend_from_slice(&line);
                continue;
            }
            if !wildcard_match(&full, &f.name)
                || lsub && !f.subscribed
                || special_use_only && f.special_use.is_none()
            {
                continue;
            }
            let prefix = format!("{}/", f.name);
            let children = folders.iter().any(|c| c.name.starts_with(&prefix));
            let mut attrs = Vec::new();
            if !f.selectable {
                attrs.push("\\Noselect");
            }
            attrs.push(if children { "\\HasChildren" } else { "\\HasNoChildren" });
            if let Some(u) = f.special_use {
                attrs.push(u.as_imap());
            }
            let mut line = format!("* {verb} ({}) \"/\" ", attrs.join(" ")).into_bytes();
            response::mailbox(&mut line, &f.name);
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
        }
        // Parents that do not exist as mailboxes.
        for parent in parents {
            let mut line = b"* LSUB (\\Noselect) \"/\" ".to_vec();
            response::mailbox(&mut line, parent);
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
        }
        Reply::ok(&format!("{verb} completed"))
    }

    pub(super) fn status(&mut self, raw: &MailboxName, items: &[StatusItem], out: &mut Vec<u8>) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        let status = match self.host.store.status(&user, &name) {
            Ok(s) => s,
            Err(e) => return Self::store_error(e),
        };
        // \Recent belongs to sessions: for the mailbox we have selected (read-write) it is ours; otherwise it is
        // what nobody has claimed yet, which the next SELECT would get.
        let recent = match &self.state {
            State::Selected { mailbox, .. } if mailbox.name == name && !mailbox.read_only => {
                mailbox.recent.len()
            }
            _ if items.contains(&StatusItem::Recent) => {
                self.host.store.recent_count(&user, &name).unwrap_or(0)
            }
            _ => 0,
        };
        let values: Vec<String> = items
            .iter()
            .map(|item| match item {
                StatusItem::Messages => format!("MESSAGES {}", status.messages.len()),
                StatusItem::Recent => format!("RECENT {recent}"),
                StatusItem::UidNext => format!("UIDNEXT {}", status.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", status.uid_validity),
                StatusItem::Unseen => format!(
                    "UNSEEN {}",
                    status.messages.iter().filter(|m| !m.flags.contains(&Flag::Seen)).count()
                ),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", status.highest_modseq.max(1)),
            })
            .collect();
        let mut line = b"* STATUS ".to_vec();
        response::mailbox(&mut line, &name);
        line.extend_from_slice(format!(" ({})\r\n", values.join(" ")).as_bytes());
        out.extend_from_slice(&line);
        Reply::ok("STATUS completed")
    }
}

/// LIST pattern matching (§6.3.8): `*` matches anything, `%` anything but the delimiter.
pub(super) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // dp[j]: pattern prefix (so far) matches name prefix of length j. O(|p|·|n|), no backtracking blow-up.
    let mut dp = vec![false; n.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut reach = false;
                for j in 0..=n.len() {
                    if dp[j] {
                        reach = true;
                    } else if pc == '%' && j > 0 && n[j - 1] == '/' {
                        reach = false;
                    }
                    // A run may not cross '/' for '%': restart reach at each delimiter unless dp[j] itself.
                    if pc == '%' && j > 0 && n[j - 1] == '/' && !dp[j] {
                        reach = false;
                    }
                    next[j] = reach;
                }
            }
            c => {
                for j in 1..=n.len() {
                    next[j] = dp[j - 1] && n[j - 1] == c;
                }
            }
        }
        dp = next;
    }
    dp[n.len()]
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        let table = [
            ("*", "INBOX", true),
            ("*", "a/b/c", true),
            ("%", "a", true),
            ("%", "a/b", false),
            ("a/%", "a/b", true),
            ("a/%", "a/b/c", false),
            ("a/*", "a/b/c", true),
            ("%/%", "a/b", true),
            ("%/%", "a/b/c", false),
            ("a%", "abc", true),
            ("a%c", "abxc", true),
            ("a%c", "ab/c", false),
            ("INBOX", "INBOX", true),
            ("Sent", "Sent/x", false),
            ("", "", true),
            ("*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*x", &"a".repeat(200), false),
        ];
        for (p, n, want) in table {
            assert_eq!(wildcard_match(p, n), want, "{p} {n}");
        }
    }
}
