//! IMAP4rev1 (RFC 3501) on the shared mailbox store, as a sans-I/O state machine.
//!
//! Mail stays on the server: the client builds a folder hierarchy there, and a flag, a delete or a move made on one
//! device shows up on every other device. [`ImapSession`] implements [`crate::session::Session`]; the driver in
//! [`crate::net`] feeds it bytes and, while a mailbox is selected, every [`crate::store::StoreChange`].
//!
//! ## Layout
//! - [`parser`]: command framing (lines and literals, LITERAL+) and the command grammar.
//! - [`response`]: response encoding (quoted strings vs. literals, flag lists, dates).
//! - [`sequence`]: sequence sets (`1:*`, `2,4:7`).
//! - [`mutf7`]: modified UTF-7 mailbox names.
//! - [`mime`]: ENVELOPE, BODYSTRUCTURE and `BODY[section]` on top of `mail-parser`.
//! - [`search`]: SEARCH evaluation (SORT orders its matches in [`session`]).
//! - [`session`]: states, commands, and the per-session snapshot that keeps devices in sync (§7.4.1).
//!
//! Extensions: LITERAL+ (RFC 7888), SASL-IR (4959), ID (2971), ENABLE (5161), IDLE (2177), NAMESPACE (2342),
//! UIDPLUS (4315), MOVE (6851), UNSELECT (3691), SPECIAL-USE (6154), CHILDREN (3348), CONDSTORE (7162),
//! ESEARCH (4731), MULTIAPPEND (3502), SORT and THREAD=ORDEREDSUBJECT (5256), ESORT (5267), SORT=DISPLAY (5957).

pub mod mime;
pub mod mutf7;
pub mod parser;
pub mod response;
pub mod search;
pub mod sequence;
pub mod session;

pub use session::ImapSession;
