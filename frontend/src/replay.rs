//! Replays: a session exported as JSON (every transcript line and world event in time order, and the world as it
//! was at the end), and played back step by step in the page (`/?replay=URL`, or a file chosen or pasted there),
//! for teachers to share a worked example. Pure: the steps are ordinary reducer actions.

use mailroom_core::event::Event;
use mailroom_core::wire::{Bytes, Dir, ServerMsg, WorldSnap};
use serde::{Deserialize, Serialize};

use crate::state::{Action, AppState, Row};

/// One step of a replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A connection opened (numbered 1, 2… in the replay).
    Open {
        /// Host.
        host: String,
        /// Service.
        service: String,
    },
    /// A transcript line.
    Line {
        /// Connection (as numbered in the replay).
        conn: u32,
        /// `c` or `s`.
        dir: Dir,
        /// When (ms since the epoch).
        at: i64,
        /// The line with its ending.
        text: String,
    },
    /// A world event.
    Event {
        /// The event.
        event: Event,
    },
}

/// A whole replay file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// Format version (1).
    pub mailroom_replay: u32,
    /// The steps, in time order.
    pub steps: Vec<Step>,
    /// The world at the end.
    pub world: Option<WorldSnap>,
}

/// The session as a replay: connections renumbered from 1 in opening order, lines and events sorted by time.
pub fn export(s: &AppState) -> Replay {
    let mut timed: Vec<(i64, usize, Step)> = Vec::new();
    for (k, c) in s.conns.iter().enumerate() {
        let n = k as u32 + 1;
        let first = c.rows.iter().find_map(|r| if let Row::Line(l) = r { Some(l.at) } else { None });
        timed.push((first.unwrap_or(0), 0, Step::Open { host: c.host.clone(), service: c.service.clone() }));
        for r in c.rows.iter() {
            if let Row::Line(l) = r {
                let text = format!("{}{}", l.text, l.eol);
                timed.push((l.at, 1, Step::Line { conn: n, dir: l.dir, at: l.at, text }));
            }
        }
    }
    let offset = s.world.as_ref().map_or(0, |w| w.clock_offset_ms);
    for e in &s.events {
        timed.push((e.at.timestamp_millis() - offset, 1, Step::Event { event: e.clone() }));
    }
    // Stable: an Open stays before its own lines.
    timed.sort_by_key(|(at, order, _)| (*at, *order));
    Replay { mailroom_replay: 1, steps: timed.into_iter().map(|(.., s)| s).collect(), world: s.world.clone() }
}

/// The actions that replay `step`.
pub fn actions(step: &Step) -> Vec<Action> {
    match step {
        Step::Open { host, service } => {
            vec![Action::Opening { host: host.clone(), service: service.clone() }]
        }
        Step::Line { conn, dir, at, text } => vec![Action::Server(ServerMsg::Data {
            conn: *conn,
            dir: *dir,
            at: *at,
            data: Bytes::Text { text: text.clone() },
        })],
        Step::Event { event } => vec![Action::Server(ServerMsg::Event { event: event.clone() })],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Preset;

    #[test]
    fn export_then_replay_gives_the_same_transcript() {
        let mut s = AppState::new(Preset::default());
        s.apply(Action::Opening { host: "mx1".into(), service: "smtp".into() });
        for (dir, at, text) in
            [(Dir::S, 10, "220 hi\r\n"), (Dir::C, 20, "EHLO me\r\n"), (Dir::S, 30, "250 ok\r\n")]
        {
            s.apply(Action::Server(ServerMsg::Data {
                conn: 1,
                dir,
                at,
                data: Bytes::Text { text: text.into() },
            }));
        }
        let json = serde_json::to_string(&export(&s)).unwrap();
        let replay: Replay = serde_json::from_str(&json).unwrap();
        assert_eq!(replay.steps.len(), 4);
        assert!(matches!(&replay.steps[0], Step::Open { host, .. } if host == "mx1"));
        let mut t = AppState::new(Preset::default());
        for step in &replay.steps {
            for a in actions(step) {
                t.apply(a);
            }
        }
        assert_eq!(t.conn(1).unwrap().rows, s.conn(1).unwrap().rows);
    }
}
