//! What a playground session does with a world, whatever carries its messages: the relay of a browser's
//! connections into the world's hosts ([`relay`]), the parsing of client messages, starting a lesson, waiting for
//! the queues to settle, and the session of the world that runs inside the browser tab ([`tab`]).
//!
//! The proxy (`proxy/src/session.rs`) carries these over a WebSocket and adds what a shared server needs (rooms,
//! the persistent world, limits); the tab's Web Worker carries them over `postMessage`. The page speaks the same
//! [`wire`](crate::wire) messages to both.

pub mod relay;
pub mod tab;

use std::time::Duration;

use crate::lesson::Lesson;
use crate::lesson::check::Checker;
use crate::wire::{ClientMsg, ServerMsg};
use crate::world::World;

/// What a session's writer sends.
#[derive(Debug)]
pub enum Out {
    /// A protocol message.
    Msg(ServerMsg),
    /// A close frame (WebSocket close code and reason); the writer stops after it.
    Close(u16, String),
}

/// The message types of [`ClientMsg`], as they appear in JSON.
const KNOWN: [&str; 16] = [
    "hello",
    "open",
    "send",
    "close",
    "set_online",
    "set_busy",
    "set_extension",
    "retry_queue",
    "retry_message",
    "return_message",
    "reset_world",
    "snapshot",
    "ping",
    "start_lesson",
    "leave_lesson",
    "skip",
];

/// Parses a client message, telling malformed JSON (`bad_json`) from an unknown type (`unknown_type`) from bad
/// fields (`bad_message`): the error codes the page and `docs/websocket-protocol.md` know.
pub fn parse(text: &str) -> Result<ClientMsg, (&'static str, String)> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ("bad_json", format!("not JSON: {e}")))?;
    let Some(ty) = value.get("type").and_then(|t| t.as_str()).map(str::to_string) else {
        return Err(("bad_json", "expected an object with a \"type\"".into()));
    };
    if !KNOWN.contains(&ty.as_str()) {
        return Err(("unknown_type", format!("unknown message type {ty:?}")));
    }
    serde_json::from_value(value).map_err(|e| ("bad_message", format!("bad {ty} message: {e}")))
}

/// Waits (at most two seconds) until the world's queues have run every attempt that is due.
pub async fn settle(world: &World) {
    // The queue workers need a turn to pick up what became due; `settled` is only meaningful after it.
    crate::rt::yield_now().await;
    for _ in 0..200 {
        if world.settled() {
            return;
        }
        crate::rt::sleep(Duration::from_millis(10)).await;
    }
}

/// Puts a fresh world into a lesson's start state and returns the checker of its goals, already evaluated once.
/// Mail the start state put on a queue gets its first attempt first, so the lesson opens on a message that is
/// waiting, and a skip moves to its retry rather than to now.
pub async fn begin_lesson(world: &World, lesson: &Lesson) -> anyhow::Result<Checker> {
    crate::lesson::start::apply(world, &lesson.start)?;
    settle(world).await;
    let mut checker = Checker::new(lesson.clone());
    checker.evaluate(world);
    Ok(checker)
}

/// The client-message table: each known type parses, unknown and malformed ones get their own code.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<(), &str>)] = &[
            (r#"{"type":"ping"}"#, Ok(())),
            (r#"{"type":"open","conn":1,"host":"mx1","service":"smtp"}"#, Ok(())),
            ("{", Err("bad_json")),
            ("[1,2]", Err("bad_json")),
            (r#"{"conn":1}"#, Err("bad_json")),
            (r#"{"type":"launch_missiles"}"#, Err("unknown_type")),
            (r#"{"type":"open","conn":"x"}"#, Err("bad_message")),
            (r#"{"type":"send","conn":1,"b64":"@@"}"#, Ok(())),
        ];
        for (text, want) in cases {
            let got = parse(text).map(|_| ()).map_err(|(c, _)| c);
            assert_eq!(got, *want, "{text}");
        }
    }
}
