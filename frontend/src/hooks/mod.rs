//! Custom hooks: the WebSocket session, the lesson catalogue, the server's TCP listeners, the lesson player's timing and a ticking clock.

pub mod use_catalogue;
pub mod use_config;
pub mod use_now;
pub mod use_player;
pub mod use_session;
