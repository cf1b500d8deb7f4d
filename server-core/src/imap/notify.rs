//! NOTIFY (RFC 5465): the client names the mailboxes and events it cares about, and the server pushes them as they
//! happen instead of waiting to be polled, for mailboxes that are not selected too.
//!
//! `NOTIFY SET` is validated into a [`Notify`] kept by the session. A logged-in session reads every store change
//! (see `wants_store_changes` in `session`), and while NOTIFY is on hands each to [`ImapSession::notify_change`]:
//! - a change to a mailbox that is not selected becomes `* STATUS` (MessageNew, MessageExpunge, FlagChange) or
//!   `* LIST` (MailboxName, SubscriptionChange), if a filter covers the mailbox and asks for that event;
//! - a change to the selected mailbox is told at once with the usual EXISTS, FETCH and EXPUNGE (or VANISHED) if the
//!   `selected` filter asks for it; `selected-delayed` holds expunges until a command allows them (§6). Without a
//!   selected filter, the selected mailbox is reported after commands only, as without NOTIFY.
//!
//! When changes come faster than the session reads them (the store's feed lagged), some were lost: the session
//! says `[NOTIFICATIONOVERFLOW]` and NOTIFY is off (§5.8), so the client knows to resynchronise.

use super::parser::{FetchItem, MailboxName, NotifyEvent, NotifyFilter, NotifySet, StatusItem};
use super::response::{Status, untagged_status};
use super::sequence::SequenceSet;
use super::session::{ImapSession, Reply, State};
use crate::store::{ChangeKind, StoreChange, canonical_folder};

/// The events of one filter that this server supports.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Events {
    /// MessageNew and MessageExpunge (RFC 5465 has them always together).
    messages: bool,
    /// FlagChange.
    flags: bool,
    /// MailboxName: created, deleted, renamed.
    names: bool,
    /// SubscriptionChange.
    subscriptions: bool,
    /// MessageNew's fetch attributes: what to FETCH of each new message of the selected mailbox.
    fetch: Vec<FetchItem>,
}

/// Which mailboxes one group covers, names decoded and canonical.
#[derive(Clone, Debug, PartialEq)]
enum Filter {
    /// INBOX, the one mailbox Mailroom delivers to.
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

/// What the client asked for with `NOTIFY SET`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Notify {
    /// The `selected` or `selected-delayed` group (`delayed` for the latter), if given.
    selected: Option<(Events, bool)>,
    /// The other groups, in the client's order.
    groups: Vec<(Filter, Events)>,
}

/// The events Mailroom can report: no METADATA or ANNOTATE, so none of their changes.
const SUPPORTED: [&str; 5] =
    ["MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange"];

impl ImapSession {
    /// `NOTIFY SET ...` or `NOTIFY NONE` (RFC 5465 §3).
    pub(super) fn notify(&mut self, set: Option<NotifySet>, out: &mut Vec<u8>) -> Reply {
        let Some(set) = set else {
            self.notify = None;
            return Reply::ok("NOTIFY completed");
        };
        let notify = match self.validate_notify(&set) {
            Ok(n) => n,
            Err(reply) => return reply,
        };
        if set.status {
            self.initial_status(&notify, out);
        }
        self.notify = Some(Box::new(notify));
        Reply::ok("NOTIFY completed")
    }

    /// Checks a NOTIFY SET the way §3.1 and §5 require, and turns it into a [`Notify`].
    fn validate_notify(&self, set: &NotifySet) -> Result<Notify, Reply> {
        let unsupported: Vec<&str> = set
            .groups
            .iter()
            .flat_map(|g| &g.events)
            .map(NotifyEvent::name)
            .filter(|name| !SUPPORTED.contains(name))
            .collect();
        if !unsupported.is_empty() {
            // §3.1: NO with BADEVENT naming what the server cannot do.
            let code = format!("BADEVENT ({})", unsupported.join(" "));
            return Err(Reply::no(Some(&code), "Unsupported NOTIFY event"));
        }
        let mut notify = Notify { selected: None, groups: Vec::new() };
        for group in &set.groups {
            let mut events = Events::default();
            let (mut new, mut expunge) = (false, false);
            for event in &group.events {
                match event {
                    NotifyEvent::MessageNew(items) => {
                        new = true;
                        events.fetch.clone_from(items);
                    }
                    NotifyEvent::MessageExpunge => expunge = true,
                    NotifyEvent::FlagChange => events.flags = true,
                    NotifyEvent::MailboxName => events.names = true,
                    NotifyEvent::SubscriptionChange => events.subscriptions = true,
                    _ => {}
                }
            }
            // §5.2, §5.3: a client that counts messages needs both, or it loses track of the count.
            if new != expunge {
                return Err(Reply::bad("MessageNew and MessageExpunge must be together"));
            }
            // §5.4: flag changes of messages the client cannot follow the arrival and removal of mean nothing.
            if events.flags && !new {
                return Err(Reply::bad("FlagChange requires MessageNew and MessageExpunge"));
            }
            events.messages = new;
            let filter = match &group.filter {
                NotifyFilter::Selected | NotifyFilter::SelectedDelayed => {
                    if notify.selected.is_some() {
                        return Err(Reply::bad("Duplicate selected filter"));
                    }
                    // §6: the selected mailbox knows only message events.
                    if events.names || events.subscriptions {
                        return Err(Reply::bad("Only message events apply to the selected mailbox"));
                    }
                    notify.selected = Some((events, group.filter == NotifyFilter::SelectedDelayed));
                    continue;
                }
                NotifyFilter::Inboxes => Filter::Inboxes,
                NotifyFilter::Personal => Filter::Personal,
                NotifyFilter::Subscribed => Filter::Subscribed,
                NotifyFilter::Subtree(names) => Filter::Subtree(self.decode_names(names)?),
                NotifyFilter::Mailboxes(names) => Filter::Mailboxes(self.decode_names(names)?),
            };
            // Fetch attributes are for the selected mailbox only (§5.2).
            events.fetch.clear();
            if events != Events::default() {
                notify.groups.push((filter, events));
            }
        }
        Ok(notify)
    }

    fn decode_names(&self, names: &[MailboxName]) -> Result<Vec<String>, Reply> {
        names.iter().map(|n| self.mailbox_name(n)).collect()
    }

    /// `NOTIFY SET STATUS`: the STATUS of each mailbox a group watches for message events, before the OK (§3.1),
    /// so that the client starts from a known state. Not the selected mailbox: its state comes with SELECT.
    fn initial_status(&self, notify: &Notify, out: &mut Vec<u8>) {
        let Some(user) = self.user() else { return };
        let Ok(folders) = self.host.store.folders(user) else { return };
        let subscriptions = self.host.store.subscriptions(user).unwrap_or_default();
        let flags = notify.groups.iter().any(|(_, e)| e.flags);
        let mut items =
            vec![StatusItem::Messages, StatusItem::UidNext, StatusItem::UidValidity, StatusItem::Unseen];
        if flags {
            items.push(StatusItem::HighestModSeq);
        }
        for folder in folders.iter().filter(|f| f.selectable && !self.is_selected(&f.name)) {
            let watched = notify
                .groups
                .iter()
                .any(|(filter, e)| e.messages && covers(filter, &folder.name, &subscriptions));
            if watched && let Ok(line) = self.status_response(user, &folder.name, &items) {
                out.extend_from_slice(&line);
            }
        }
    }

    fn is_selected(&self, name: &str) -> bool {
        matches!(&self.state, State::Selected { mailbox, .. } if mailbox.name == name)
    }

    /// Whether NOTIFY is on.
    pub(super) fn notify_active(&self) -> bool {
        self.notify.is_some()
    }

    /// One change from the store while NOTIFY is on: pushes what the client asked for (see the module comment).
    pub(super) fn notify_change(&mut self, change: &StoreChange, out: &mut Vec<u8>) {
        let Some(notify) = self.notify.clone() else { return };
        let Some(user) = self.user().map(str::to_string) else { return };
        if !change.user.eq_ignore_ascii_case(&user) {
            return;
        }
        let folder = canonical_folder(&change.folder);
        if self.is_selected(&folder) {
            if let Some((events, delayed)) = &notify.selected
                && events.messages
            {
                self.push_selected(events, !delayed, out);
            }
            return;
        }
        let subscriptions = match notify.groups.iter().any(|(f, _)| *f == Filter::Subscribed) {
            true => self.host.store.subscriptions(&user).unwrap_or_default(),
            false => Vec::new(),
        };
        let wants = |name: &str, pick: fn(&Events) -> bool| {
            notify.groups.iter().any(|(filter, e)| pick(e) && covers(filter, name, &subscriptions))
        };
        let modseq = if self.condstore { vec![StatusItem::HighestModSeq] } else { Vec::new() };
        match &change.kind {
            ChangeKind::Appended { .. } | ChangeKind::Expunged { .. } if wants(&folder, |e| e.messages) => {
                let mut items = vec![StatusItem::Messages, StatusItem::UidNext, StatusItem::Unseen];
                items.extend(&modseq);
                if let Ok(line) = self.status_response(&user, &folder, &items) {
                    out.extend_from_slice(&line);
                }
            }
            ChangeKind::FlagsChanged { .. } if wants(&folder, |e| e.flags) => {
                let mut items = vec![StatusItem::Unseen];
                items.extend(&modseq);
                if let Ok(line) = self.status_response(&user, &folder, &items) {
                    out.extend_from_slice(&line);
                }
            }
            ChangeKind::FolderCreated if wants(&folder, |e| e.names) => {
                self.list_line(&user, &folder, None, out)
            }
            ChangeKind::FolderDeleted if wants(&folder, |e| e.names) => {
                // §5.5: a deleted mailbox is listed as not existing.
                let mut line = b"* LIST (\\NonExistent) \"/\" ".to_vec();
                self.put_mailbox(&mut line, &folder);
                line.extend_from_slice(b"\r\n");
                out.extend_from_slice(&line);
            }
            ChangeKind::FolderRenamed { to } if wants(&folder, |e| e.names) || wants(to, |e| e.names) => {
                self.list_line(&user, &canonical_folder(to), Some(&folder), out);
            }
            // An unsubscribed mailbox is no longer in the `subscribed` filter, yet its unsubscription is news to it.
            ChangeKind::SubscriptionChanged
                if wants(&folder, |e| e.subscriptions)
                    || notify.groups.iter().any(|(f, e)| e.subscriptions && *f == Filter::Subscribed) =>
            {
                self.list_line(&user, &folder, None, out);
            }
            _ => {}
        }
    }

    /// `* LIST` for one mailbox as it is now, with `\Subscribed` when it is, and RFC 5465 §5.5's OLDNAME after a
    /// rename.
    fn list_line(&self, user: &str, name: &str, old: Option<&str>, out: &mut Vec<u8>) {
        let folders = self.host.store.folders(user).unwrap_or_default();
        let subscribed = self.host.store.subscriptions(user).unwrap_or_default().iter().any(|s| s == name);
        let mut attrs = match folders.iter().find(|f| f.name == name) {
            Some(f) => super::mailboxes::attributes(&folders, f),
            None => vec!["\\NonExistent"],
        };
        if subscribed {
            attrs.push("\\Subscribed");
        }
        let mut line = format!("* LIST ({}) \"/\" ", attrs.join(" ")).into_bytes();
        self.put_mailbox(&mut line, name);
        if let Some(old) = old {
            line.extend_from_slice(b" (\"OLDNAME\" (");
            self.put_mailbox(&mut line, old);
            line.extend_from_slice(b"))");
        }
        line.extend_from_slice(b"\r\n");
        out.extend_from_slice(&line);
    }

    /// Tells the client at once what changed in the selected mailbox, then FETCHes what MessageNew asked for of each
    /// new message (§5.2).
    fn push_selected(&mut self, events: &Events, allow_expunge: bool, out: &mut Vec<u8>) {
        let last = match &self.state {
            State::Selected { mailbox, .. } => mailbox.messages.last().map_or(0, |s| s.meta.uid),
            _ => return,
        };
        self.sync(out, allow_expunge, false);
        let State::Selected { mailbox, .. } = &self.state else { return };
        let newest = mailbox.messages.last().map_or(0, |s| s.meta.uid);
        if events.fetch.is_empty() || newest <= last {
            return;
        }
        let new = SequenceSet(vec![(
            super::sequence::SeqNumber::Value(last + 1),
            super::sequence::SeqNumber::Value(newest),
        )]);
        // The FETCH responses are the notification; the command's own status has no one to go to.
        let _ = self.fetch(true, &new, events.fetch.clone(), None, false, out);
    }

    /// The store's feed lost changes this session needed: §5.8.
    pub(super) fn notify_overflow(&mut self, out: &mut Vec<u8>) {
        if self.notify.take().is_some() {
            untagged_status(
                out,
                Status::Ok,
                Some("NOTIFICATIONOVERFLOW"),
                "Too many changes; NOTIFY is now off",
            );
        }
    }
}

/// Whether `filter` covers mailbox `name` (canonical).
fn covers(filter: &Filter, name: &str, subscriptions: &[String]) -> bool {
    match filter {
        Filter::Inboxes => name == "INBOX",
        Filter::Personal => true,
        Filter::Subscribed => subscriptions.iter().any(|s| s == name),
        Filter::Subtree(roots) => roots.iter().any(|r| {
            name.strip_prefix(r.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        }),
        Filter::Mailboxes(names) => names.iter().any(|n| n == name),
    }
}
