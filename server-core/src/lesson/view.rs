//! The checker's view of a running [`World`]: folder contents and queue lengths, read from the hosts' stores and
//! queues.

use super::check::{MessageFacts, WorldView};
use crate::world::World;

impl WorldView for World {
    fn messages(&self, host: &str, user: &str, folder: &str) -> Option<Vec<MessageFacts>> {
        let h = self.host(host)?;
        let user = h.users.resolve(user)?.to_string();
        let status = h.store.status(&user, folder).ok()?;
        Some(
            status
                .messages
                .iter()
                .filter_map(|m| h.store.read(&user, folder, m.uid).ok())
                .map(|raw| MessageFacts { raw: raw.to_vec() })
                .collect(),
        )
    }

    fn queue_len(&self, host: &str) -> usize {
        self.queue().iter().filter(|q| q.host.eq_ignore_ascii_case(host)).count()
    }
}
