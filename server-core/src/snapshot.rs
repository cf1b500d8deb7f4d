//! What the playground asks of a running world: its picture for the browser ([`WorldSnap`]: hosts and their
//! online state, each user's folders with messages (flags, `From:`, `Subject:` parsed with mail-parser) and the
//! queue with next attempts), and how much mail it holds. The core answers these so that the proxy never walks a
//! host's store, routes or queue itself.
//!
//! Store calls are synchronous (a Maildir store reads files), so callers run these on a blocking thread.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::queue::spool::RcptStatus;
use crate::wire::{FolderSnap, HostSnap, MessageSnap, QueueSnap, UserSnap, WorldSnap};
use crate::world::World;

/// Headers worth showing, by (host, user, folder, UIDVALIDITY, UID).
type Key = (String, String, String, u32, u32);

/// Most entries kept before the cache starts over (a few MB at worst).
const HEADER_CACHE_MAX: usize = 20_000;

/// Parsed `From:`/`Subject:` of messages already seen: a message's bytes never change under its UID, so a
/// snapshot reads and parses each message once.
#[derive(Default)]
pub struct HeaderCache(Mutex<HashMap<Key, (String, String)>>);

impl HeaderCache {
    /// Forgets everything (after a world reset).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The last message count of a world and the change counters it was taken at.
#[derive(Default)]
pub struct CountCache(Mutex<Option<(u64, usize)>>);

/// `From:` and `Subject:` of a message, decoded; empty when absent or unparsable.
pub fn headers(raw: &[u8]) -> (String, String) {
    let Some(msg) = mail_parser::MessageParser::default().parse_headers(raw) else {
        return (String::new(), String::new());
    };
    let from = msg
        .from()
        .and_then(|a| a.first())
        .map(|a| match (&a.name, &a.address) {
            (Some(n), Some(addr)) => format!("{n} <{addr}>"),
            (None, Some(addr)) => addr.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .unwrap_or_default();
    (from, msg.subject().unwrap_or_default().to_string())
}

impl World {
    /// The world as the browser draws it.
    pub fn snapshot(&self, cache: &HeaderCache) -> WorldSnap {
        build(self, cache)
    }

    /// How many messages the mailboxes of every host hold. Recounted only when a store changed since the count in
    /// `cache` was taken (the stores' change counters say so), so a metrics scrape of an idle server reads nothing.
    pub fn message_count(&self, cache: &CountCache) -> usize {
        let changes: u64 = self.hosts.iter().map(|h| h.store.change_count()).sum();
        let mut last = cache.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, n)) = *last
            && at == changes
        {
            return n;
        }
        let n = self
            .hosts
            .iter()
            .flat_map(|h| h.users.names().map(move |u| (h, u)))
            .map(|(h, u)| {
                h.store
                    .folders(u)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|f| h.store.status(u, &f.name).ok())
                    .map(|s| s.messages.len())
                    .sum::<usize>()
            })
            .sum();
        *last = Some((changes, n));
        n
    }
}

fn build(world: &World, cache: &HeaderCache) -> WorldSnap {
    let mut hosts = Vec::new();
    for h in &world.hosts {
        let mut users = Vec::new();
        for user in h.users.names() {
            let mut folders = Vec::new();
            for f in h.store.folders(user).unwrap_or_default().into_iter().filter(|f| f.selectable) {
                let Ok(status) = h.store.status(user, &f.name) else { continue };
                let mut messages = Vec::with_capacity(status.messages.len());
                for m in &status.messages {
                    let key: Key =
                        (h.config.name.clone(), user.to_string(), f.name.clone(), status.uid_validity, m.uid);
                    let cached = cache.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
                    let (from, subject) = match cached {
                        Some(v) => v,
                        None => {
                            let v = h
                                .store
                                .read(user, &f.name, m.uid)
                                .map(|raw| headers(&raw))
                                .unwrap_or_default();
                            let mut c = cache.0.lock().unwrap_or_else(|e| e.into_inner());
                            if c.len() >= HEADER_CACHE_MAX {
                                c.clear();
                            }
                            c.insert(key, v.clone());
                            v
                        }
                    };
                    messages.push(MessageSnap {
                        uid: m.uid,
                        flags: m.flags.iter().map(|fl| fl.as_imap().to_string()).collect(),
                        size: m.size,
                        from,
                        subject,
                    });
                }
                folders.push(FolderSnap { name: f.name, messages });
            }
            users.push(UserSnap { name: user.to_string(), folders });
        }
        hosts.push(HostSnap {
            name: h.config.name.clone(),
            fqdn: h.fqdn.clone(),
            domain: h.config.domain.clone(),
            online: h.is_online(),
            busy: h.is_busy(),
            extensions_off: h.extensions.off(),
            port_base: h.config.port_base,
            users,
        });
    }
    let routes = world
        .routes
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|r| (r.domain.clone(), r.mx.clone()))
        .collect();
    let queue = world
        .queue()
        .into_iter()
        .map(|q| {
            let pending: Vec<_> = q.recipients.iter().filter(|r| r.status == RcptStatus::Pending).collect();
            QueueSnap {
                host: q.host,
                id: q.id,
                from: q.from,
                rcpts: pending.iter().map(|r| r.rcpt.clone()).collect(),
                attempts: q.recipients.iter().map(|r| r.attempts).max().unwrap_or(0),
                next_attempt: pending.iter().map(|r| r.next_attempt).min().map(|t| t.to_rfc3339()),
                expires_at: q.expires_at.to_rfc3339(),
                last_error: q.recipients.iter().rev().find_map(|r| r.last_error.clone()),
            }
        })
        .collect();
    WorldSnap { hosts, routes, queue, clock_offset_ms: world.clock.offset_ms() }
}

/// Messages and bytes a world holds (mailboxes and queue), for the sandbox limits.
pub fn size(snap: &WorldSnap) -> (usize, u64) {
    let mut n = snap.queue.len();
    let mut bytes = 0u64;
    for h in &snap.hosts {
        for u in &h.users {
            for f in &u.folders {
                n += f.messages.len();
                bytes += f.messages.iter().map(|m| m.size).sum::<u64>();
            }
        }
    }
    (n, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_message_count_follows_the_stores() {
        let world =
            World::start(crate::config::WorldConfig::default(), crate::world::Persistence::Memory).unwrap();
        let cache = CountCache::default();
        assert_eq!(world.message_count(&cache), 0);
        let mx2 = world.host("mx2").unwrap();
        let flags = crate::store::Flags::new();
        mx2.store.append("carol", "INBOX", b"Subject: one\r\n\r\nhi\r\n", &flags, None).unwrap();
        assert_eq!(world.message_count(&cache), 1, "a delivery is counted");
        mx2.store.create_folder("carol", "Archive").unwrap();
        let uid = mx2.store.append("carol", "Archive", b"Subject: two\r\n\r\nhi\r\n", &flags, None).unwrap();
        assert_eq!(world.message_count(&cache), 2);
        mx2.store.expunge("carol", "Archive", &[uid]).unwrap();
        assert_eq!(world.message_count(&cache), 1, "an expunge is counted");
        assert_eq!(world.snapshot(&HeaderCache::default()).hosts[1].users[0].folders[0].messages.len(), 1);
        world.shutdown();
    }

    #[test]
    fn header_table() {
        let cases: &[(&[u8], (&str, &str))] = &[
            (
                b"From: Alice <alice@example.com>\r\nSubject: Hi\r\n\r\nbody",
                ("Alice <alice@example.com>", "Hi"),
            ),
            (b"From: bob@example.com\r\n\r\n", ("bob@example.com", "")),
            (b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n", ("", "caf\u{e9}")),
            (b"", ("", "")),
            (b"\xff\xfe garbage", ("", "")),
        ];
        for (raw, (from, subject)) in cases {
            assert_eq!(
                headers(raw),
                (from.to_string(), subject.to_string()),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
