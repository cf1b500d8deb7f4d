//! Custom hooks: the WebSocket session and a ticking clock.

pub mod use_now;
pub mod use_session;
