//! The contract between protocol state machines and the one piece of code that touches sockets ([`crate::net`]).
//!
//! A [`Session`] is fed raw bytes and writes reply bytes into a buffer; it returns a [`Flow`] telling the driver
//! what to do next. It never reads a socket, never sleeps and never spawns: the driver owns I/O, TLS and timers. That
//! is what lets the same SMTP, POP3 and IMAP code run behind a TCP listener, inside TLS, and on the in-memory streams
//! the playground proxy hands in, and what lets tests feed RFC transcripts byte by byte.

use std::time::Duration;

use crate::config::Service;
use crate::host::{Envelope, Submitter};
use crate::store::StoreChange;

pub use crate::wire::TlsInfo;

/// Who is connected, to what, and what the policy allows them.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The service (and so port) the client connected to.
    pub service: Service,
    /// The client's address as text (`127.0.0.1:53211`), for `Received:` lines and events.
    pub peer: String,
    /// The client's IP, when it has one (a browser behind the proxy has its real address here).
    pub peer_ip: Option<std::net::IpAddr>,
    /// Whether AUTH/LOGIN/USER may be used before TLS. True for loopback TCP peers, for sandboxes (so learners can
    /// see it, with a warning), or when configured; false otherwise (RFC 8314 §3, RFC 3501 §6.2.3 LOGINDISABLED).
    pub plaintext_auth_ok: bool,
    /// Set once TLS is up (implicit TLS from the start, or after STARTTLS/STLS).
    pub tls: Option<TlsInfo>,
    /// Whether the driver can upgrade this connection (STARTTLS/STLS are only offered when true).
    pub tls_available: bool,
}

impl ConnInfo {
    /// Whether credentials may be sent now.
    pub fn auth_allowed(&self) -> bool {
        self.tls.is_some() || self.plaintext_auth_ok
    }
}

/// What the driver should do after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Write the output, then run the TLS handshake as server (STARTTLS/STLS accepted). The session has already
    /// dropped any bytes that followed the command (CVE-2011-0411); the driver drops what it has buffered too.
    StartTls,
    /// Write the output, then close the connection.
    Close,
    /// Write the output, then take the accepted message with [`Session::take_submission`], hand it to the host's
    /// spool, and report the outcome with [`Session::submitted`]. The session reads no input until then: commands
    /// pipelined after the message are kept and answered after the message's own reply.
    Submit,
}

/// A message a session accepted, for the driver to spool: the session does no file I/O itself.
#[derive(Debug)]
pub struct Submission {
    /// The queue ID the session already named in the trace header.
    pub id: String,
    /// Who sent it to whom.
    pub envelope: Envelope,
    /// The message, trace headers included.
    pub message: Vec<u8>,
}

/// Performs every [`Flow::Submit`] at once in this thread, until the session asks for something else: the driver
/// for tests, fuzzing and anything else that runs sessions synchronously. [`crate::net`] does the same off the
/// async workers.
pub fn submit_now(
    session: &mut dyn Session,
    spool: &dyn Submitter,
    mut flow: Flow,
    out: &mut Vec<u8>,
) -> Flow {
    while flow == Flow::Submit {
        let outcome = match session.take_submission() {
            Some(s) => spool.submit(s.id, s.envelope, s.message).map_err(|e| e.to_string()),
            None => Err("no message to submit".to_string()),
        };
        flow = session.submitted(outcome, out);
    }
    flow
}

/// A protocol state machine.
pub trait Session: Send {
    /// Writes the greeting. Called once, after any implicit-TLS handshake.
    fn greeting(&mut self, out: &mut Vec<u8>) -> Flow;

    /// Consumes bytes from the client (any split: half a line, many pipelined commands), writes replies.
    /// May perform short, synchronous mailbox store operations (POP3, IMAP); spooling is a [`Flow::Submit`].
    fn receive(&mut self, input: &[u8], out: &mut Vec<u8>) -> Flow;

    /// TLS was established after [`Flow::StartTls`]. The session resets as its RFC requires (SMTP forgets EHLO).
    fn tls_started(&mut self, info: TlsInfo, out: &mut Vec<u8>) -> Flow;

    /// The mailbox store changed somewhere (another session, SMTP delivery, POP3). Sessions that may tell their
    /// client at once (IMAP IDLE) write to `out`; others remember it for the next allowed moment.
    fn store_changed(&mut self, _change: &StoreChange, _out: &mut Vec<u8>) -> Flow {
        Flow::Continue
    }

    /// The store's change feed overflowed: some changes were missed, so a session that tells its client at once
    /// must look for itself. Feeds are short in sandboxes (see `world.rs`), so this does happen.
    fn store_lagged(&mut self, _out: &mut Vec<u8>) -> Flow {
        Flow::Continue
    }

    /// The client was idle for [`Session::idle_timeout`]: write the goodbye (SMTP 421, IMAP `* BYE`) and close.
    fn timed_out(&mut self, out: &mut Vec<u8>) -> Flow;

    /// The server is shutting down: write the goodbye (SMTP `421 4.3.2`, IMAP `* BYE`, POP3 `-ERR`) and close.
    /// Defaults to the idle-timeout goodbye.
    fn shutting_down(&mut self, out: &mut Vec<u8>) -> Flow {
        self.timed_out(out)
    }

    /// How long the client may stay silent.
    fn idle_timeout(&self) -> Duration;

    /// Whether the client has logged in, or needs no login for what it does (SMTP on port 25). TCP clients get
    /// `limits.login_timeout` from the connection to get there.
    fn logged_in(&self) -> bool {
        true
    }

    /// A delay the driver must wait before writing the current output (failed logins are answered slowly).
    fn take_delay(&mut self) -> Option<Duration> {
        None
    }

    /// The connection is gone (closed by either side or timed out). POP3 releases its lock here without entering
    /// UPDATE: messages marked deleted are not removed when QUIT never came (RFC 1939 §6).
    fn closed(&mut self) {}

    /// The message behind a [`Flow::Submit`], taken once.
    fn take_submission(&mut self) -> Option<Submission> {
        None
    }

    /// What became of the last submission: the queue ID, or why the spool refused it. Writes the reply and goes on
    /// with any input kept meanwhile.
    fn submitted(&mut self, _outcome: Result<String, String>, _out: &mut Vec<u8>) -> Flow {
        Flow::Continue
    }

    /// Whether this session wants store changes delivered to [`Session::store_changed`].
    fn wants_store_changes(&self) -> bool {
        false
    }
}
