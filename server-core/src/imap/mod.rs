//! IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) on the shared mailbox store, as a sans-I/O state machine.
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
//! - [`search`]: what a SEARCH key means for one message.
//! - [`session`]: [`ImapSession`]: input framing, the connection states (RFC 3501 §3) and command dispatch.
//! - The command handlers, one file per command group: `auth` (LOGIN, AUTHENTICATE), `select` (SELECT,
//!   EXAMINE, CLOSE, UNSELECT, EXPUNGE), `mailboxes` (CREATE, DELETE, RENAME, SUBSCRIBE, LIST, LSUB, STATUS),
//!   `append` (APPEND), `search_cmd` (SEARCH), `sort` (SORT, THREAD), `fetch` (FETCH), `store_cmd` (STORE),
//!   `copy` (COPY, MOVE), `notify` (NOTIFY).
//! - [`objectid`]: MAILBOXID, EMAILID and THREADID (RFC 8474), derived from UIDVALIDITY, the message's bytes and
//!   its references.
//! - [`thread`]: the THREAD=REFERENCES algorithm (RFC 5256), a pure function of what each message says.
//! - `sync`: the per-session snapshot of the selected mailbox, kept in step with the store (§7.4.1), and IDLE.
//! - `notify`: NOTIFY (RFC 5465): store changes pushed as they happen, for mailboxes that are not selected too.
//!
//! IMAP4rev2 (RFC 9051) alongside: after `ENABLE IMAP4rev2` a session sends no `\Recent` or RECENT, answers
//! SEARCH with ESEARCH, adds a LIST response and `[CLOSED]` to SELECT, and reads and writes mailbox names in UTF-8
//! instead of modified UTF-7.
//!
//! Extensions: LITERAL+ (RFC 7888), SASL-IR (4959), ID (2971), ENABLE (5161), IDLE (2177), NAMESPACE (2342),
//! UIDPLUS (4315), MOVE (6851), UNSELECT (3691), SPECIAL-USE (6154), CHILDREN (3348), CONDSTORE and QRESYNC
//! (7162), NOTIFY (5465), OBJECTID (8474), UTF8=ACCEPT (6855), ESEARCH (4731), SEARCHRES (5182), CONTEXT=SEARCH
//! (5267, with PARTIAL of 9394), MULTIAPPEND (3502), CATENATE (4469), SORT, THREAD=ORDEREDSUBJECT and
//! THREAD=REFERENCES (5256), ESORT (5267), SORT=DISPLAY (5957), LIST-EXTENDED (5258), LIST-STATUS (5819),
//! STATUS=SIZE (8438), BINARY (3516).

mod append;
mod auth;
mod copy;
mod fetch;
mod mailboxes;
pub mod mime;
pub mod mutf7;
mod notify;
pub mod objectid;
pub mod parser;
pub mod response;
pub mod search;
mod search_cmd;
mod select;
pub mod sequence;
pub mod session;
mod sort;
mod store_cmd;
mod sync;
pub mod thread;

pub use session::ImapSession;
