//! The event log in words: what each world event means to a learner, and the log read as a story (every event of
//! one message grouped where its journey began). Kept apart from the reducer in [`crate::state`], which only
//! stores events.

use std::collections::VecDeque;

use mailroom_core::event::{Event, EventKind};

/// The queue ID an event is about, if it is about one message on its way.
pub fn message_id(e: &Event) -> Option<&str> {
    match &e.kind {
        EventKind::Received { id, .. }
        | EventKind::Queued { id, .. }
        | EventKind::Routed { id, .. }
        | EventKind::Connecting { id, .. }
        | EventKind::RelayTls { id, .. }
        | EventKind::Delivered { id, .. }
        | EventKind::Deferred { id, .. }
        | EventKind::Bounced { id, .. }
        | EventKind::Expired { id, .. }
        | EventKind::RelayTranscript { id, .. } => Some(id),
        _ => None,
    }
}

/// One entry of the event log read as a story: a lone event, or every event of one message (oldest first).
#[derive(Clone, Debug, PartialEq)]
pub enum Story<'a> {
    /// An event not about a message in transit (a login, a host going offline...).
    One(&'a Event),
    /// A message's journey, placed where it began.
    Message {
        /// Queue ID.
        id: &'a str,
        /// Its events, oldest first.
        events: Vec<&'a Event>,
    },
}

/// The event log as a story: oldest first, the events of one message grouped where its first event stands.
pub fn story(events: &VecDeque<Event>) -> Vec<Story<'_>> {
    let mut out: Vec<Story> = Vec::new();
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for e in events {
        match message_id(e) {
            Some(id) => match at.get(id) {
                Some(&i) => {
                    if let Story::Message { events, .. } = &mut out[i] {
                        events.push(e);
                    }
                }
                None => {
                    at.insert(id, out.len());
                    out.push(Story::Message { id, events: vec![e] });
                }
            },
            None => out.push(Story::One(e)),
        }
    }
    out
}

/// Plain words for an event (the event log).
pub fn describe(e: &Event) -> String {
    let h = &e.host;
    match &e.kind {
        EventKind::SessionOpened { service, peer } => format!("{h}: {service} session opened from {peer}"),
        EventKind::SessionClosed { service, reason, .. } => {
            format!("{h}: {service} session closed ({reason})")
        }
        EventKind::TlsAccepted { service, version, cipher } => {
            format!("{h}: TLS started on {service} ({version}, {cipher})")
        }
        EventKind::LoggedIn { protocol, user } => format!("{h}: {user} logged in over {protocol}"),
        EventKind::LoginFailed { protocol, user } => {
            format!("{h}: login failed for “{user}” over {protocol}")
        }
        EventKind::Received { id, from, to, size, via } => {
            let from = if from.is_empty() { "<>" } else { from };
            format!("{h} accepted message {id} from {from} for {} ({size} bytes, via {via})", to.join(", "))
        }
        EventKind::Queued { id, rcpt } => format!("{h} queued {id} for {rcpt}"),
        EventKind::Routed { id, rcpt, domain, mx, .. } => match mx {
            Some(mx) => format!("{h} looked up {domain} for {id} → {rcpt}: deliver to {mx}"),
            None => format!("{h} looked up {domain} for {id} → {rcpt}: no route"),
        },
        EventKind::Connecting { id, mx, addr } => format!("{h} connecting to {mx} ({addr}) for {id}"),
        EventKind::RelayTls { id, mx, version, .. } => {
            format!("{h} → {mx}: link encrypted with {version} for {id}")
        }
        EventKind::Delivered { id, rcpt, mailbox, mx, .. } => match (mailbox, mx) {
            (Some(mb), _) => format!("{h} delivered {id} to {rcpt} (mailbox {mb})"),
            (None, Some(mx)) => format!("{h} handed {id} for {rcpt} to {mx}"),
            _ => format!("{h} delivered {id} to {rcpt}"),
        },
        EventKind::Deferred { id, rcpt, reason, attempt, .. } => {
            format!("{h} could not deliver {id} to {rcpt} yet (attempt {attempt}: {reason}); it stays queued")
        }
        EventKind::Bounced { id, rcpt, reason, dsn_to } => match dsn_to {
            Some(to) => format!("{h} gave up on {id} for {rcpt} ({reason}); bounce sent to {to}"),
            None => format!("{h} gave up on {id} for {rcpt} ({reason})"),
        },
        EventKind::Expired { id, rcpt } => format!("{h}: {id} for {rcpt} expired in the queue"),
        EventKind::RelayTranscript { id, mx, lines } => {
            format!("{h} → {mx}: relay conversation for {id} recorded ({} lines)", lines.len())
        }
        EventKind::OnlineChanged { online } => {
            format!("{h} is now {}", if *online { "online" } else { "offline" })
        }
        EventKind::BusyChanged { busy } => {
            if *busy {
                format!("{h} is now busy: it answers SMTP with 421 and closes")
            } else {
                format!("{h} is ready again")
            }
        }
        EventKind::ExtensionChanged { protocol, name, on } => {
            format!("{h}: {protocol} extension {name} switched {}", if *on { "on" } else { "off" })
        }
        EventKind::MailboxChanged { user, folder, change, uids } => {
            let n = uids.len();
            let msgs = if n == 1 { "a message".to_string() } else { format!("{n} messages") };
            let what = match change.as_str() {
                "delivered" => format!("{msgs} arrived in"),
                "appended" => format!("{msgs} appended to"),
                "copied in" => format!("{msgs} copied into"),
                "moved in" => format!("{msgs} moved into"),
                "moved out" => format!("{msgs} moved out of"),
                "expunged" => format!("{msgs} removed for good (expunged) from"),
                "flags" => format!("flags changed on {msgs} in"),
                "created" => "new folder:".to_string(),
                "deleted" => "folder deleted:".to_string(),
                other => format!("{other} ({msgs}) in"),
            };
            format!("{h}: {what} {user}'s {folder}")
        }
        EventKind::Retrieved { user, uid, size } => {
            format!("{h}: {user} downloaded message {uid} ({size} bytes)")
        }
        EventKind::MarkedDeleted { user, uid } => format!("{h}: {user} marked message {uid} for deletion"),
        EventKind::Removed { user, count } => {
            format!("{h}: {count} message(s) removed from {user}'s mailbox")
        }
    }
}
