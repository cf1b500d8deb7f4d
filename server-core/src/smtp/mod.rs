//! The SMTP server protocol (RFC 5321) as a sans-I/O state machine.
//!
//! [`SmtpSession`] implements [`crate::session::Session`]: the driver in [`crate::net`] feeds it bytes and writes
//! back what it answers; the session never touches a socket, a file, a clock or a thread. An accepted message is
//! handed back to the driver as a [`crate::session::Flow::Submit`]; the driver gives it to the host's spool
//! ([`crate::host::Submitter`]), which makes it durable, and reports the outcome, and only then does the session say
//! `250 ... queued as` (or `451`) and read on.
//!
//! ## Layout
//! - [`command`]: wire types — [`Command`], [`Mailbox`], paths and parameters, with their canonical wire form.
//! - [`parser`]: bytes → [`Command`], with the RFC 5321 grammar; `Incomplete` for split reads.
//! - [`reply`]: [`Reply`] and its encoder (multi-line, enhanced status codes of RFC 3463 / RFC 2034).
//! - [`data`]: the DATA reader: dot-unstuffing, the strict `<CRLF>.<CRLF>` end mark (no SMTP smuggling), limits.
//! - `session`: the state machine, input framing and the simple commands; `envelope` (MAIL/RCPT/DATA policy),
//!   `sasl` (AUTH PLAIN/LOGIN, RFC 4954) and `message` (trace and submission headers, the hand-over to the spool) hold the rest.
//!
//! ## Extensions (EHLO)
//! PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034), SMTPUTF8
//! (RFC 6531), STARTTLS (RFC 3207; only while the connection is plaintext and the driver can upgrade), AUTH PLAIN
//! LOGIN (RFC 4954; only where [`crate::session::ConnInfo::auth_allowed`]).
//!
//! ## States
//!
//! ```text
//!            connect: "220 mx1.example.com ESMTP"
//!                          │
//!                          ▼
//!   ┌────────────► Idle, not greeted ── MAIL/RCPT/DATA/AUTH → 503
//!   │                      │ EHLO / HELO  (250)
//!   │                      ▼
//!   │   ┌────────► Idle, greeted ◄────────── RSET, EHLO (any state below) ◄───────┐
//!   │   │            │      │  AUTH (334…)                                        │
//!   │   │            │      └──────────► Auth ── 235 / 535 / 501 ──► Idle          │
//!   │   │            │ MAIL FROM (250; 530 on submission without AUTH)             │
//!   │   │            ▼                                                            │
//!   │   │          Mail ── RCPT TO (250, 550, 554, 452) ──┐                       │
//!   │   │            │  ▲─────────────────────────────────┘                       │
//!   │   │            │ DATA (354; 503 / 554 without accepted recipients)          │
//!   │   │            ▼                                                            │
//!   │   │          Data ── <CRLF>.<CRLF> ── 250 queued / 552 / 550 / 451 ─────────┘
//!   │   │
//!   │   └── STARTTLS (220) ──► TlsPending ── tls_started() ──┐   (pipelined input dropped,
//!   │                                                        │    CVE-2011-0411)
//!   └──── HELO/EHLO and AUTH forgotten (RFC 3207 §4.2) ◄─────┘
//!
//!   any state ── QUIT (221) / timeout (421 4.4.2) / too many errors (421 4.7.0) / HTTP request (554) ──► Closed
//! ```
//!
//! ## Errors and limits
//! Every bad line gets a precise reply and the session goes on: 500 5.5.2 (unknown command, line too long),
//! 501 5.5.2 (NUL, control characters, invalid UTF-8), 501 5.5.4 (syntax), 503 5.5.1 (sequence), 553 5.1.3/5.1.7
//! (malformed address), 555 (unknown MAIL/RCPT parameter). Errors are counted; at `limits.max_errors` the session
//! ends with 421 4.7.0. Input is buffered at most one command line (`limits.max_line`) plus one read piece; the
//! message at most `limits.max_message_size`.

pub mod command;
pub mod data;
mod envelope;
mod message;
pub mod parser;
pub mod reply;
mod sasl;
mod session;

pub use command::{Body, Command, Domain, ForwardPath, MailParams, Mailbox, Mechanism, ReversePath};
pub use parser::{ParseError, Parsed, parse_command};
pub use reply::{Reply, Status};
pub use session::SmtpSession;

#[cfg(test)]
mod tests;
