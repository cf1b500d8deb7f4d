//! Mailbox management in the authenticated state: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB
//! (RFC 3501 §6.3.3-9, SPECIAL-USE RFC 6154) and STATUS (§6.3.10).

use super::mutf7;
use super::parser::{ListOptions, MailboxName, StatusItem};
use super::response::untagged;
use super::session::{ImapSession, Reply, State};
use crate::store::{Flag, FolderInfo, StoreError, canonical_folder};

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
                // RFC 8474 §4.1: the new mailbox's identifier comes with the OK.
                match self.host.store.status(&user, &name) {
                    Ok(status) => Reply::ok_code(
                        format!("MAILBOXID ({})", super::objectid::mailbox_id(status.uid_validity)),
                        "CREATE completed",
                    ),
                    Err(_) => Reply::ok("CREATE completed"),
                }
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

    /// LIST and LSUB (RFC 3501 §6.3.8-9), with RFC 5258's selection and return options, several patterns,
    /// `\Subscribed`, `\NonExistent` and CHILDINFO, and RFC 5819's STATUS return option.
    pub(super) fn list(
        &mut self,
        reference: &MailboxName,
        patterns: &[MailboxName],
        lsub: bool,
        options: &ListOptions,
        out: &mut Vec<u8>,
    ) -> Reply {
        let utf8 = self.utf8_names();
        let decode = |raw: &MailboxName| -> Result<String, Reply> {
            if raw.is_ascii() && !utf8 {
                // A reference or pattern is not a mailbox name: one that is not valid modified UTF-7 (`&'`) is
                // taken as written and matches no mailbox, as Dovecot does (RFC 3501 §6.3.8 allows any atom).
                Ok(mutf7::decode(raw).unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned()))
            } else {
                String::from_utf8(raw.clone())
                    .map_err(|_| Reply::no(Some("CANNOT"), "Name is not valid UTF-8"))
            }
        };
        let reference = match decode(reference) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let patterns = match patterns.iter().map(decode).collect::<Result<Vec<String>, Reply>>() {
            Ok(p) => p,
            Err(r) => return r,
        };
        let verb = if lsub { "LSUB" } else { "LIST" };
        if !lsub && patterns.len() == 1 && patterns[0].is_empty() {
            // §6.3.8: an empty pattern asks for the delimiter and the root of the reference.
            untagged(out, "LIST (\\Noselect) \"/\" \"\"");
            return Reply::ok("LIST completed");
        }
        let full: Vec<String> =
            patterns.iter().map(|p| canonical_folder(&format!("{reference}{p}"))).collect();
        let matches = |name: &str| full.iter().any(|p| wildcard_match(p, name));
        let user = self.user().unwrap_or_default().to_string();
        let folders = match self.host.store.folders(&user) {
            Ok(f) => f,
            Err(e) => return Self::store_error(e),
        };
        if lsub {
            return self.lsub(&full[0], &folders, out);
        }
        let subscriptions = if options.subscribed {
            match self.host.store.subscriptions(&user) {
                Ok(s) => s,
                Err(e) => return Self::store_error(e),
            }
        } else {
            Vec::new()
        };
        // The names to consider: every mailbox, and with SUBSCRIBED every subscription, existing or not, and (for
        // RECURSIVEMATCH) the parents of those.
        let mut names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
        for sub in &subscriptions {
            names.push(sub);
            if options.recursive {
                names.extend(sub.match_indices('/').map(|(at, _)| &sub[..at]));
            }
        }
        names.sort_by(|a, b| (*a != "INBOX", a).cmp(&(*b != "INBOX", b)));
        names.dedup();
        for name in names {
            if !matches(name) {
                continue;
            }
            let folder = folders.iter().find(|f| f.name == name);
            let subscribed = folder.map_or_else(|| subscriptions.iter().any(|s| s == name), |f| f.subscribed);
            // RFC 5258 §3.5: with RECURSIVEMATCH, a mailbox that is not selected itself is listed when one of its
            // descendants is and that descendant matches no pattern (so it is not listed in its own right).
            let prefix = format!("{name}/");
            let child_info =
                options.recursive && subscriptions.iter().any(|s| s.starts_with(&prefix) && !matches(s));
            let selected = if options.subscribed {
                subscribed
            } else {
                folder.is_some()
                    && (!options.special_use_only || folder.is_some_and(|f| f.special_use.is_some()))
            };
            if !selected && !child_info {
                continue;
            }
            let mut attrs = match folder {
                Some(f) => attributes(&folders, f),
                // RFC 5258 §3: a subscription to a mailbox that does not exist.
                None => vec!["\\NonExistent"],
            };
            if options.return_subscribed && subscribed {
                attrs.push("\\Subscribed");
            }
            let mut line = format!("* LIST ({}) \"/\" ", attrs.join(" ")).into_bytes();
            self.put_mailbox(&mut line, name);
            if child_info && !selected {
                line.extend_from_slice(b" (CHILDINFO (\"SUBSCRIBED\"))");
            }
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
            // RFC 5819 §2: STATUS follows the LIST response of each selectable mailbox.
            if let Some(items) = &options.return_status
                && folder.is_some_and(|f| f.selectable)
                && let Ok(status) = self.status_response(&user, name, items)
            {
                out.extend_from_slice(&status);
            }
        }
        Reply::ok(&format!("{verb} completed"))
    }

    /// LSUB (RFC 3501 §6.3.9): subscribed mailboxes matching `full`.
    fn lsub(&self, full: &str, folders: &[FolderInfo], out: &mut Vec<u8>) -> Reply {
        // With `%`, LSUB shows a parent that is not itself subscribed but has a subscribed child the `%` stops
        // at, as `\Noselect`.
        let mut parents: Vec<&str> = Vec::new();
        if full.contains('%') {
            for f in folders.iter().filter(|f| f.subscribed) {
                let mut at = 0;
                while let Some(slash) = f.name[at..].find('/') {
                    let parent = &f.name[..at + slash];
                    at += slash + 1;
                    let subscribed = folders.iter().any(|p| p.name == parent && p.subscribed);
                    if !subscribed && wildcard_match(full, parent) && !parents.contains(&parent) {
                        parents.push(parent);
                    }
                }
            }
        }
        for f in folders {
            if parents.contains(&f.name.as_str()) {
                parents.retain(|p| *p != f.name);
                let mut line = b"* LSUB (\\Noselect) \"/\" ".to_vec();
                self.put_mailbox(&mut line, &f.name);
                line.extend_from_slice(b"\r\n");
                out.extend_from_slice(&line);
                continue;
            }
            if !wildcard_match(full, &f.name) || !f.subscribed {
                continue;
            }
            let mut line = format!("* LSUB ({}) \"/\" ", attributes(folders, f).join(" ")).into_bytes();
            self.put_mailbox(&mut line, &f.name);
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
        }
        // Parents that do not exist as mailboxes.
        for parent in parents {
            let mut line = b"* LSUB (\\Noselect) \"/\" ".to_vec();
            self.put_mailbox(&mut line, parent);
            line.extend_from_slice(b"\r\n");
            out.extend_from_slice(&line);
        }
        Reply::ok("LSUB completed")
    }

    pub(super) fn status(&mut self, raw: &MailboxName, items: &[StatusItem], out: &mut Vec<u8>) -> Reply {
        let name = match self.mailbox_name(raw) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let user = self.user().unwrap_or_default().to_string();
        match self.status_response(&user, &name, items) {
            Ok(line) => {
                out.extend_from_slice(&line);
                Reply::ok("STATUS completed")
            }
            Err(e) => Self::store_error(e),
        }
    }

    /// The untagged STATUS response for one mailbox (RFC 3501 §7.2.4).
    pub(super) fn status_response(
        &self,
        user: &str,
        name: &str,
        items: &[StatusItem],
    ) -> Result<Vec<u8>, StoreError> {
        let status = self.host.store.status(user, name)?;
        // \Recent belongs to sessions: for the mailbox we have selected (read-write) it is ours; otherwise it is
        // what nobody has claimed yet, which the next SELECT would get.
        let recent = match &self.state {
            State::Selected { mailbox, .. } if mailbox.name == name && !mailbox.read_only => {
                mailbox.recent.len()
            }
            _ if items.contains(&StatusItem::Recent) => self.host.store.recent_count(user, name).unwrap_or(0),
            _ => 0,
        };
        let count =
            |flag: &Flag, set: bool| status.messages.iter().filter(|m| m.flags.contains(flag) == set).count();
        let values: Vec<String> = items
            .iter()
            .map(|item| match item {
                StatusItem::Messages => format!("MESSAGES {}", status.messages.len()),
                StatusItem::Recent => format!("RECENT {recent}"),
                StatusItem::UidNext => format!("UIDNEXT {}", status.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", status.uid_validity),
                StatusItem::Unseen => format!("UNSEEN {}", count(&Flag::Seen, false)),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", status.highest_modseq.max(1)),
                StatusItem::Deleted => format!("DELETED {}", count(&Flag::Deleted, true)),
                StatusItem::MailboxId => {
                    format!("MAILBOXID ({})", super::objectid::mailbox_id(status.uid_validity))
                }
                StatusItem::Size => {
                    format!("SIZE {}", status.messages.iter().map(|m| m.size).sum::<u64>())
                }
            })
            .collect();
        let mut line = b"* STATUS ".to_vec();
        self.put_mailbox(&mut line, name);
        line.extend_from_slice(format!(" ({})\r\n", values.join(" ")).as_bytes());
        Ok(line)
    }
}

/// A mailbox's LIST attributes: `\\Noselect`, `\\HasChildren` or `\\HasNoChildren` (RFC 3348), its special use
/// (RFC 6154).
pub(super) fn attributes(folders: &[FolderInfo], f: &FolderInfo) -> Vec<&'static str> {
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
    attrs
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
