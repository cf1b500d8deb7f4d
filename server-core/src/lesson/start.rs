//! Puts a freshly reset sandbox into a lesson's [`Start`] state: hosts offline or busy, mail in mailboxes, mail on a
//! queue, folders. (Connections and the prelude are the page's to open and type.)

use super::{SeedMail, Start};
use crate::host::{Envelope, Submitter};
use crate::store::Flags;
use crate::world::World;

/// A small RFC 5322 message with the headers a real client writes.
fn message(
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    date: chrono::DateTime<chrono::Utc>,
    n: usize,
) -> Vec<u8> {
    let domain = from.rsplit_once('@').map_or("example.com", |(_, d)| d);
    let mut m = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <lesson.{}.{n}@{domain}>\r\n\r\n",
        date.to_rfc2822(),
        date.timestamp_millis()
    );
    for line in body.lines() {
        // Lines are message text, never the end of DATA.
        m.push_str(line);
        m.push_str("\r\n");
    }
    m.into_bytes()
}

/// Applies `start` to `world`. Errors name what could not be set up (a host or user the lesson names that the
/// world does not have).
pub fn apply(world: &World, start: &Start) -> anyhow::Result<()> {
    let now = world.clock.now();
    // Offline first: mail queued below for an offline host must wait in the spool, not go out before the switch.
    for host in &start.offline {
        if !world.set_online(host, false) {
            anyhow::bail!("no host {host}");
        }
    }
    for host in &start.busy {
        if !world.set_busy(host, true) {
            anyhow::bail!("no host {host}");
        }
    }
    for f in &start.folders {
        let h = world.host(&f.host).ok_or_else(|| anyhow::anyhow!("no host {}", f.host))?;
        h.store.create_folder(&f.user, &f.name)?;
    }
    for (n, SeedMail { host, user, folder, from, subject, body }) in start.mail.iter().enumerate() {
        let h = world.host(host).ok_or_else(|| anyhow::anyhow!("no host {host}"))?;
        let to = format!("{user}@{}", h.config.domain);
        let user =
            h.users.resolve(user).ok_or_else(|| anyhow::anyhow!("no user {user} on {host}"))?.to_string();
        let mut raw = format!("Return-Path: <{from}>\r\nDelivered-To: {to}\r\n").into_bytes();
        raw.extend(message(from, &to, subject, body, now, n));
        h.store.create_folder(&user, folder).ok();
        h.store.append(&user, folder, &raw, &Flags::new(), Some(now))?;
    }
    for (n, q) in start.queued.iter().enumerate() {
        let i = world
            .hosts
            .iter()
            .position(|h| h.config.name.eq_ignore_ascii_case(&q.host))
            .ok_or_else(|| anyhow::anyhow!("no host {}", q.host))?;
        let queue = &world.queues[i];
        let env = Envelope {
            mail_from: q.from.clone(),
            rcpt_to: q.to.clone(),
            helo: "laptop".into(),
            peer: "lesson start".into(),
            auth_user: q.from.split('@').next().map(str::to_string),
            smtputf8: false,
        };
        let to = q.to.join(">, <");
        queue.submit(queue.new_id(), env, message(&q.from, &to, &q.subject, &q.body, now, 1000 + n))?;
    }
    Ok(())
}
