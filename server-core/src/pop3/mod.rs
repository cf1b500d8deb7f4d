//! POP3: download-and-delete on the shared mailbox store, as a sans-I/O state machine.
//!
//! A [`Pop3Session`] implements [`crate::session::Session`]: the driver in [`crate::net`] (or a test, or the
//! playground's in-memory stream) feeds it bytes and writes out what it answers. It serves the INBOX of
//! [`crate::host::Host::store`], the same store IMAP uses, so what POP3 deletes is gone for IMAP too.
//!
//! ## What it speaks
//! - RFC 1939 in full: the greeting with an APOP timestamp `<pid.clock@fqdn>`, USER/PASS, APOP, STAT, LIST, RETR,
//!   DELE, NOOP, RSET, QUIT, TOP, UIDL.
//! - RFC 2449: CAPA (TOP, UIDL, RESP-CODES, AUTH-RESP-CODE, PIPELINING, EXPIRE NEVER, IMPLEMENTATION, and in the
//!   AUTHORIZATION state USER and SASL PLAIN where credentials may be sent, STLS before TLS) and the response codes
//!   `[IN-USE]`, `[AUTH]` (RFC 3206) and `[SYS/TEMP]`.
//! - RFC 2595 §4 STLS: `+OK`, then [`Flow::StartTls`](crate::session::Flow::StartTls); anything the client
//!   pipelined after STLS is thrown away (CVE-2011-0411). RFC 5034 AUTH PLAIN, with an initial response or after
//!   `+ `; `*` cancels.
//!
//! ## States (RFC 1939 §3)
//! ```text
//!   connect --> greeting --> AUTHORIZATION --(login ok, lock, snapshot)--> TRANSACTION --QUIT--> UPDATE --> close
//!                              |    ^  STLS                                 |
//!                              |    +--------+                              +--(connection lost, autologout)--> close
//!                              +--QUIT--> close                                   nothing removed, lock released
//! ```
//! The detailed diagram is on the `State` type in `session.rs`.
//!
//! - Message numbers are those of a snapshot taken at login (`maildrop`); mail arriving later is seen by the
//!   next session. DELE only marks; QUIT's UPDATE state expunges the marked messages from the store. A connection
//!   that ends any other way (dropped, [`Session::closed`](crate::session::Session::closed), autologout,
//!   server shutdown, too many errors) removes nothing.
//! - UIDL unique-ids are the INBOX's UIDVALIDITY and the message's UID in hex: stable across sessions and never
//!   reused, because the store never reuses a UID.
//! - One POP3 session per maildrop: the lock ([`crate::host::MaildropLocks`]) is taken after the credentials are
//!   checked and held until the session ends; a second session gets `-ERR [IN-USE]`.
//! - Bad input gets `-ERR` and a reason, and the session goes on; lines are bounded by
//!   [`Limits::max_line`](crate::config::Limits::max_line); after more than `max_errors` bad commands or failed
//!   logins the session says `-ERR too many errors` and closes. Failed logins all get the same reply, after
//!   [`Limits::auth_failure_delay`](crate::config::Limits::auth_failure_delay) (via
//!   [`Session::take_delay`](crate::session::Session::take_delay)). The autologout timer is
//!   [`Limits::pop3_idle`](crate::config::Limits::pop3_idle) (RFC 1939 §3: at least 10 minutes).
//! - Events for the playground: `LoggedIn`, `LoginFailed`, `Retrieved` (RETR and TOP), `MarkedDeleted`, `Removed`
//!   (at QUIT). Passwords never reach an event or a log.
//!
//! ## Layout
//! - [`command`]: the commands, their grammar and parser (and the client-side encoder the fuzzer round-trips).
//! - [`response`]: replies on the wire: status lines, response codes, byte-stuffed multi-line bodies, TOP.
//! - `maildrop`: the login snapshot with deletion marks and unique-ids.
//! - `session`: [`Pop3Session`]: line framing, the state type, shared replies (CAPA, error counting).
//! - `authorization` and `transaction`: the command handlers of each state.
//!
//! ## Example
//! ```
//! use std::sync::Arc;
//! use mailroom_core::config::{Service, WorldConfig};
//! use mailroom_core::event::EventBus;
//! use mailroom_core::host::{CollectingSubmitter, Host};
//! use mailroom_core::pop3::Pop3Session;
//! use mailroom_core::session::{ConnInfo, Flow, Session};
//! use mailroom_core::store::Flags;
//!
//! let config = &WorldConfig::default().hosts[0];
//! let host = Host::new_memory(config, Arc::new(CollectingSubmitter::default()), EventBus::default());
//! host.store.append("alice", "INBOX", b"Subject: hi\r\n\r\nHello\r\n", &Flags::new(), None).unwrap();
//! let conn = ConnInfo {
//!     service: Service::Pop3,
//!     peer: "127.0.0.1:50000".into(),
//!     peer_ip: None,
//!     plaintext_auth_ok: true,
//!     tls: None,
//!     tls_available: false,
//! };
//! let mut pop3 = Pop3Session::new(Arc::new(host), conn);
//! let mut out = Vec::new();
//! pop3.greeting(&mut out);
//! out.clear();
//! let flow = pop3.receive(b"USER alice\r\nPASS password\r\nSTAT\r\nQUIT\r\n", &mut out);
//! assert_eq!(flow, Flow::Close);
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     "+OK send your password\r\n\
//!      +OK alice's maildrop has 1 message (22 octets)\r\n\
//!      +OK 1 22\r\n\
//!      +OK mx1.example.com POP3 server signing off (1 message left)\r\n"
//! );
//! ```

mod authorization;
pub mod command;
mod maildrop;
pub mod response;
mod session;
mod transaction;

#[cfg(test)]
mod tests;

pub use session::Pop3Session;
