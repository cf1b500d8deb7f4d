//! One connection of a playground session into a mail host (or, in the proxy, a configured remote server): a task
//! that writes what the browser sends, reads what the server answers, and reports both as lossless transcript
//! entries. The proxy runs it for WebSocket sessions, the browser tab's world for its own page: one relay.
//!
//! For implicit-TLS services (smtps, pop3s, imaps) the relay is the TLS client from the first byte. For STARTTLS
//! and STLS the decision lives in the core's protocol code: when the server has accepted, its driver signals on
//! [`MemoryConn::upgrades`](crate::net::MemoryConn) and waits for a ClientHello; the relay then reports the rest
//! of the plaintext reply, runs the rustls handshake and goes on relaying inside TLS. Either way the browser sees
//! plaintext plus a [`ServerMsg::Tls`] marking where TLS began.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Out;
use crate::wire::{Bytes, Dir, ServerMsg, TlsDetails};

/// Read size: also the largest `data` message the relay sends.
const READ_CHUNK: usize = 16 * 1024;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Lossless bytes for the wire: text when valid UTF-8, else base64.
pub fn to_wire(data: &[u8]) -> Bytes {
    match std::str::from_utf8(data) {
        Ok(s) => Bytes::Text { text: s.to_string() },
        Err(_) => {
            use base64::Engine;
            Bytes::B64 { b64: base64::engine::general_purpose::STANDARD.encode(data) }
        }
    }
}

/// The bytes a wire [`Bytes`] stands for, or why it is not valid base64.
pub fn from_wire(data: &Bytes) -> Result<Vec<u8>, String> {
    match data {
        Bytes::Text { text } => Ok(text.clone().into_bytes()),
        Bytes::B64 { b64 } => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("bad base64: {e}"))
        }
    }
}

/// What the relay needs to report.
pub struct Relay {
    /// Connection ID chosen by the browser.
    pub conn: u32,
    /// Where transcript entries go (the session's writer).
    pub out: mpsc::Sender<Out>,
    /// Bytes from the browser.
    pub input: mpsc::Receiver<Vec<u8>>,
    /// Server name for the TLS handshake (`mx1.example.com`).
    pub server_name: String,
    /// Process-wide counters.
    pub counters: Arc<RelayCounters>,
    /// A copy of every transcript chunk for the session's lesson checker, while a lesson runs.
    pub tap: Option<mpsc::Sender<Tapped>>,
}

/// A transcript chunk copied to the lesson checker.
#[derive(Debug)]
pub struct Tapped {
    /// Connection ID.
    pub conn: u32,
    /// Direction.
    pub dir: Dir,
    /// The bytes (plaintext, also inside TLS).
    pub bytes: Vec<u8>,
}

/// Counts relayed connections and bytes (the proxy serves them on `/metrics`).
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Open connections into worlds.
    pub connections: AtomicU64,
    /// Connections since start.
    pub connections_total: AtomicU64,
    /// Bytes relayed in either direction.
    pub relayed_bytes: AtomicU64,
}

/// Counts one open relayed connection in `mailroom_connections` for as long as it lives, however its task ends
/// (finished, or aborted with its session).
struct OpenConnection(Arc<RelayCounters>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a pump loop ended.
enum Step<S> {
    /// Done, for this reason.
    Done(String),
    /// The server accepted STARTTLS: run the handshake on this stream.
    Upgrade(S),
}

impl Relay {
    /// Relays until either side closes, then reports [`ServerMsg::Closed`].
    pub async fn run<S>(
        mut self,
        stream: S,
        implicit_tls: bool,
        mut upgrades: Option<mpsc::UnboundedReceiver<()>>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.counters.connections_total.fetch_add(1, Ordering::Relaxed);
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        // The session aborts this task when its socket goes away: the gauge must come down then too.
        let _open = OpenConnection(self.counters.clone());
        let reason = if implicit_tls {
            match self.handshake(stream, true).await {
                Ok(tls) => self.finish(tls).await,
                Err(reason) => reason,
            }
        } else {
            match self.pump(stream, upgrades.as_mut()).await {
                Step::Done(reason) => reason,
                Step::Upgrade(plain) => match self.handshake(plain, false).await {
                    Ok(tls) => self.finish(tls).await,
                    Err(reason) => reason,
                },
            }
        };
        let _ = self.out.send(Out::Msg(ServerMsg::Closed { conn: self.conn, reason })).await;
    }

    /// Relays inside TLS (no further upgrade is possible).
    async fn finish<S>(&mut self, tls: tokio_rustls::client::TlsStream<S>) -> String
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match self.pump(tls, None).await {
            Step::Done(reason) => reason,
            Step::Upgrade(_) => "STARTTLS inside TLS".into(),
        }
    }

    async fn handshake<S>(
        &mut self,
        stream: S,
        implicit: bool,
    ) -> Result<tokio_rustls::client::TlsStream<S>, String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|_| format!("TLS handshake failed: bad server name {}", self.server_name))?;
        let connector = tokio_rustls::TlsConnector::from(crate::tls::insecure_client_config());
        let tls = match crate::rt::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Err(_) => return Err("TLS handshake timed out".into()),
        };
        let state = tls.get_ref().1;
        let info = crate::tls::info(state);
        let cert = crate::tls::peer_cert(state);
        let (subject, sha256) = cert.map(|c| (c.subject, c.sha256)).unwrap_or_default();
        let msg =
            ServerMsg::Tls { conn: self.conn, tls: TlsDetails { session: info, subject, sha256, implicit } };
        self.out.send(Out::Msg(msg)).await.map_err(|_| "session ended".to_string())?;
        Ok(tls)
    }

    async fn data(&self, dir: Dir, bytes: &[u8]) -> bool {
        self.counters.relayed_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if let Some(tap) = &self.tap {
            // The session drains its tap in its own loop; a session that is gone simply stops listening.
            let _ = tap.send(Tapped { conn: self.conn, dir, bytes: bytes.to_vec() }).await;
        }
        let msg = ServerMsg::Data {
            conn: self.conn,
            dir,
            at: chrono::Utc::now().timestamp_millis(),
            data: to_wire(bytes),
        };
        self.out.send(Out::Msg(msg)).await.is_ok()
    }

    async fn pump<S>(
        &mut self,
        mut stream: S,
        mut upgrades: Option<&mut mpsc::UnboundedReceiver<()>>,
    ) -> Step<S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut input_open = true;
        loop {
            let upgrade = async {
                match upgrades.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = stream.read(&mut buf) => match r {
                    Ok(0) if input_open => return Step::Done("closed by server".into()),
                    Ok(0) => return Step::Done("closed by client".into()),
                    Ok(n) => {
                        if !self.data(Dir::S, &buf[..n]).await {
                            return Step::Done("session ended".into());
                        }
                    }
                    Err(e) => return Step::Done(format!("read failed: {e}")),
                },
                m = self.input.recv(), if input_open => match m {
                    Some(bytes) => {
                        if let Err(e) = async { stream.write_all(&bytes).await?; stream.flush().await }.await {
                            return Step::Done(format!("write failed: {e}"));
                        }
                        if !self.data(Dir::C, &bytes).await {
                            return Step::Done("session ended".into());
                        }
                    }
                    None => {
                        // The browser closed this connection: half-close and let the server finish.
                        input_open = false;
                        let _ = stream.shutdown().await;
                    }
                },
                Some(()) = upgrade => {
                    // The acceptance reply was flushed before the signal: report what is already readable, so the
                    // transcript shows "220 Go ahead" before the TLS marker.
                    while let Some(Ok(n)) = ready_now(stream.read(&mut buf)) {
                        if n == 0 || !self.data(Dir::S, &buf[..n]).await {
                            break;
                        }
                    }
                    return Step::Upgrade(stream);
                }
            }
        }
    }
}

/// The value of a future that is ready without waiting, or `None` (polled once, with a waker that does nothing).
fn ready_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
