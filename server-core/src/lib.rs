//! # mailroom-core: the Mailroom mail server
//!
//! A real, small mail system built to be watched: SMTP store-and-forward with a durable spool, POP3 and IMAP on a
//! shared mailbox store, rustls for every TLS path. The `mailroom` binary (in `proxy/`) starts a [`world::World`]
//! on real TCP ports; the web playground hands the same session code in-memory streams.
//!
//! ## Layout
//! - [`config`]: the world's description (hosts, users, ports, routing, timing) with the defaults of
//!   `shared/CONTRACT.md`, loadable from TOML.
//! - [`world`]: a running world: hosts, their stores, spools, queue managers, online/offline switches.
//! - [`session`]: the trait every protocol state machine implements. Protocol code never touches a socket:
//!   bytes in, reply bytes and a [`session::Flow`] out.
//! - [`smtp`], [`pop3`], [`imap`]: one module per protocol (sans-I/O state machines).
//! - [`net`]: the session driver over any `AsyncRead + AsyncWrite`, STARTTLS upgrades, timeouts, the relay
//!   client's driver; `tcp`: the TCP listeners and connector (native only).
//! - `rt`: the runtime services the core needs (spawn, sleep, timeout, instants, blocking work): tokio natively,
//!   the browser's event loop and timers when the core runs in a tab (wasm32).
//! - [`playground`]: what a playground session does with a world whatever carries its messages: the relay of a
//!   browser's connections (TLS included), message parsing, lessons; and the session of the world that runs in the
//!   browser tab (`mailroom static-site`).
//! - [`durable`]: atomic, fsynced file writes (one helper for the spool and the Maildir store).
//! - [`tls`]: certificates (rcgen on first start, or PEM files) and rustls configurations.
//! - [`snapshot`]: what the playground asks of a world: its picture for the browser, how much mail it holds.
//! - [`store`]: the mailbox-store trait with an in-memory and a Maildir implementation.
//! - [`queue`]: the durable spool, the queue manager, the relay client, bounces (RFC 3464).
//! - [`clock`]: the world's clock (real time, or real time a sandbox can skip ahead); the queue's only time.
//! - [`event`]: structured, serde-serialisable events for the playground's live picture.
//! - [`lesson`]: lessons as data, their start states and the goal checker (goals judged on events and state).
//! - [`wire`]: the playground's WebSocket message protocol (versioned), shared with the frontend.
//!
//! The `server` feature also builds for `wasm32-unknown-unknown` (the static site's Web Worker): the same protocol,
//! queue and store code, in memory, with rustls on a pure-Rust crypto provider.
//!
//! Without the default `server` feature only [`event`] (types), [`wire`] and [`explain`] compile: that is what the
//! wasm frontend uses, so the browser and the server share one definition of every message and explanation.
#![forbid(unsafe_code)]

pub mod clock;
pub mod event;
pub mod explain;
pub mod lesson;
pub mod wire;

#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod durable;
#[cfg(feature = "server")]
pub mod host;
#[cfg(feature = "server")]
pub mod imap;
#[cfg(feature = "server")]
pub mod net;
#[cfg(feature = "server")]
pub mod playground;
#[cfg(feature = "server")]
pub mod pop3;
#[cfg(feature = "server")]
pub mod queue;
#[cfg(feature = "server")]
pub mod rt;
#[cfg(feature = "server")]
pub mod session;
#[cfg(feature = "server")]
pub mod smtp;
#[cfg(feature = "server")]
pub mod snapshot;
#[cfg(feature = "server")]
pub mod store;
#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
pub mod tcp;
#[cfg(feature = "server")]
pub mod tls;
#[cfg(feature = "server")]
pub mod world;
