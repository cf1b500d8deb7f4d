//! The ladder (sequence) diagram's content, computed from the state: one column per device of the learner
//! ("laptop", "phone") and per mail host, and one arrow per command or reply in time order, the hosts' relay
//! conversations included. Pure, so it is unit-tested on the host; `components/ladder_view.rs` draws it.

use mailroom_core::wire::Dir;

use crate::state::{AppState, Conn, Row};

/// Most arrows drawn (the latest ones).
pub const MAX_ARROWS: usize = 160;

/// What clicking an arrow explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A transcript row: (connection, absolute row).
    Row(u32, usize),
    /// A line of the relay conversation with this index in `AppState::relays`.
    Relay(usize),
}

/// One arrow.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrow {
    /// Column it starts from.
    pub from: usize,
    /// Column it points to.
    pub to: usize,
    /// The line, as sent.
    pub label: String,
    /// When (ms since the epoch, real time).
    pub at: i64,
    /// Inside TLS.
    pub tls: bool,
    /// Server to server.
    pub relay: bool,
    /// What a click explains.
    pub target: Target,
}

/// The device a connection belongs to: its lesson's name for it, else "laptop" — or "phone" for the one shown
/// side by side, the second device of the playground.
pub fn device_of(s: &AppState, c: &Conn) -> String {
    c.device.clone().unwrap_or_else(|| if s.split == Some(c.id) { "phone".into() } else { "laptop".into() })
}

/// The columns and the arrows, oldest first.
pub fn ladder(s: &AppState) -> (Vec<String>, Vec<Arrow>) {
    let mut cols: Vec<String> = Vec::new();
    for c in &s.conns {
        let d = device_of(s, c);
        if !cols.contains(&d) {
            cols.push(d);
        }
    }
    let devices = cols.len();
    let hosts: Vec<String> = match &s.world {
        Some(w) if !w.hosts.is_empty() => w.hosts.iter().map(|h| h.name.clone()).collect(),
        _ => vec!["mx1".into(), "mx2".into()],
    };
    cols.extend(hosts.iter().cloned());
    let host_col = |name: &str| {
        let short = name.split('.').next().unwrap_or(name);
        hosts.iter().position(|h| h.eq_ignore_ascii_case(short)).map(|i| devices + i)
    };
    let mut arrows = Vec::new();
    for c in &s.conns {
        let dev = cols.iter().position(|d| *d == device_of(s, c)).unwrap_or(0);
        let Some(host) = host_col(&c.host) else { continue };
        let mut tls = false;
        for (i, r) in c.rows.iter().enumerate() {
            match r {
                Row::Tls(_) => tls = true,
                Row::Line(l) => {
                    let (from, to) = if l.dir == Dir::C { (dev, host) } else { (host, dev) };
                    let target = Target::Row(c.id, c.rows.dropped + i);
                    arrows.push(Arrow {
                        from,
                        to,
                        label: l.text.clone(),
                        at: l.at,
                        tls,
                        relay: false,
                        target,
                    });
                }
                Row::Closed(_) => {}
            }
        }
    }
    let offset = s.world.as_ref().map_or(0, |w| w.clock_offset_ms);
    for (k, r) in s.relays.iter().enumerate() {
        let (Some(a), Some(b)) = (host_col(&r.from_host), host_col(&r.mx)) else { continue };
        // The event is stamped when the conversation ended, in the world's time: count back from there.
        let end = r.at - offset;
        let last = r.lines.last().map_or(0, |l| l.ms as i64);
        let mut tls = false;
        let mut starttls = false;
        for l in &r.lines {
            let (from, to) = if l.dir == Dir::C { (a, b) } else { (b, a) };
            arrows.push(Arrow {
                from,
                to,
                label: l.line.clone(),
                at: end - last + l.ms as i64,
                tls,
                relay: true,
                target: Target::Relay(k),
            });
            // After `STARTTLS` is answered `220`, the rest travels inside TLS.
            if l.dir == Dir::C {
                starttls = l.line.eq_ignore_ascii_case("STARTTLS");
            } else if starttls && l.line.starts_with("220") {
                tls = true;
            }
        }
    }
    arrows.sort_by_key(|a| a.at);
    let skip = arrows.len().saturating_sub(MAX_ARROWS);
    arrows.drain(..skip);
    (cols, arrows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Action, Preset};
    use mailroom_core::wire::{Bytes, ServerMsg};

    #[test]
    fn devices_hosts_and_the_relay_in_time_order() {
        let mut s = AppState::new(Preset::default());
        s.apply(Action::Opening { host: "mx1".into(), service: "submission".into() });
        s.apply(Action::Opening { host: "mx2".into(), service: "imap".into() });
        s.apply(Action::Select(1));
        s.apply(Action::Split(2));
        let data = |conn, dir, at, text: &str| {
            Action::Server(ServerMsg::Data { conn, dir, at, data: Bytes::Text { text: text.into() } })
        };
        s.apply(data(1, Dir::S, 1_000, "220 mx1 ready\r\n"));
        s.apply(data(1, Dir::C, 2_000, "STARTTLS\r\n"));
        s.apply(Action::Server(ServerMsg::Tls {
            conn: 1,
            tls: mailroom_core::wire::TlsDetails {
                session: mailroom_core::wire::TlsInfo { version: "TLSv1.3".into(), cipher: "x".into() },
                subject: "mx1".into(),
                sha256: "ab".into(),
                implicit: false,
            },
        }));
        s.apply(data(1, Dir::C, 3_000, "EHLO me\r\n"));
        s.apply(data(2, Dir::S, 9_000, "* OK ready\r\n"));
        let relay: mailroom_core::event::Event = serde_json::from_value(serde_json::json!({
            "at": "1970-01-01T00:00:05Z", "host": "mx1", "event": "relay_transcript", "id": "Q1",
            "mx": "mx2.example.net", "lines": [
                {"ms": 0, "dir": "s", "line": "220 mx2"}, {"ms": 10, "dir": "c", "line": "STARTTLS"},
                {"ms": 20, "dir": "s", "line": "220 go ahead"}, {"ms": 30, "dir": "c", "line": "EHLO mx1"}]
        }))
        .unwrap();
        s.apply(Action::Server(ServerMsg::Event { event: relay }));
        let (cols, arrows) = ladder(&s);
        assert_eq!(cols, ["laptop", "phone", "mx1", "mx2"]);
        let labels: Vec<&str> = arrows.iter().map(|a| a.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "220 mx1 ready",
                "STARTTLS",
                "EHLO me",
                "220 mx2",
                "STARTTLS",
                "220 go ahead",
                "EHLO mx1",
                "* OK ready"
            ]
        );
        assert_eq!((arrows[0].from, arrows[0].to), (2, 0), "a reply goes from mx1 to the laptop");
        assert!(!arrows[1].tls && arrows[2].tls, "EHLO after STARTTLS is inside TLS");
        assert!(arrows[3].relay && (arrows[3].from, arrows[3].to) == (3, 2), "mx2 answers mx1");
        assert!(!arrows[5].tls && arrows[6].tls);
        assert_eq!((arrows[7].from, arrows[7].to), (3, 1), "the IMAP connection is the phone's");
        assert_eq!(arrows[2].target, Target::Row(1, 3));
    }
}
