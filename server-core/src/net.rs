//! The only code that touches sockets: listeners, the session driver, the relay client's driver, STARTTLS
//! upgrades, timeouts.
//!
//! [`serve`] drives any protocol [`Session`] over any `AsyncRead + AsyncWrite` stream: a TCP connection from a
//! listener, or one end of an in-memory duplex handed in by the playground proxy ([`connect_memory`]). It writes
//! the greeting, feeds every byte read to the session, writes what the session answers, and obeys the session's
//! [`Flow`]: keep going, upgrade to TLS (the session decided; the driver just runs the handshake), or close. It also
//! owns the idle timer, the failed-login delay, store-change notifications (IMAP IDLE) and the host's offline and
//! shutdown switches.
//!
//! The TCP listeners and the TCP connector live in `tcp.rs` (native only); they are re-exported here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{broadcast, mpsc};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info_span};

#[cfg(not(target_arch = "wasm32"))]
pub use crate::tcp::{TcpConnector, listen};

use crate::config::{Protocol, Service};
use crate::event::EventKind;
use crate::host::Host;
use crate::queue::client::{Dialogue, MAX_REPLY_LINE, Next, RelayJob, RelayReport};
use crate::rt::{Instant, sleep_until, timeout};
use crate::session::{ConnInfo, Flow, Session, TlsInfo};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Read buffer per connection. Sessions keep their own bounded buffers; this is only the read size.
const READ_CHUNK: usize = 16 * 1024;

/// Who is on the other end.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The address as shown in `Received:` lines and events.
    pub addr: String,
    /// The IP, when known.
    pub ip: Option<IpAddr>,
    /// Whether credentials may be sent before TLS (see [`ConnInfo::plaintext_auth_ok`]).
    pub plaintext_auth_ok: bool,
    /// How long it may take to log in, from the connection (TCP clients; `None` for the playground, whose
    /// learners read and think before they type, and for relays).
    pub login_timeout: Option<Duration>,
}

impl Peer {
    /// A TCP peer: plaintext AUTH is allowed from loopback, or everywhere when `allow_plaintext` is configured.
    pub fn tcp(addr: SocketAddr, allow_plaintext: bool) -> Peer {
        Peer {
            addr: addr.to_string(),
            ip: Some(addr.ip()),
            plaintext_auth_ok: allow_plaintext || addr.ip().is_loopback(),
            login_timeout: None,
        }
    }
}

/// Builds the session for a service.
pub fn new_session(host: Arc<Host>, conn: ConnInfo) -> Box<dyn Session> {
    match conn.service.protocol() {
        Protocol::Smtp => Box::new(crate::smtp::SmtpSession::new(host, conn)),
        Protocol::Pop3 => Box::new(crate::pop3::Pop3Session::new(host, conn)),
        Protocol::Imap => Box::new(crate::imap::ImapSession::new(host, conn)),
    }
}

/// How a drive loop ended.
enum Outcome<S> {
    /// The connection is finished, for this reason.
    Closed(String),
    /// The session accepted STARTTLS/STLS: here is the plain stream back for the handshake.
    StartTls(S),
}

/// Serves one connection to the end. Never panics on bad input; every error ends only this connection.
pub async fn serve<S>(host: Arc<Host>, service: Service, stream: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    serve_with(host, service, stream, peer, None).await
}

/// [`serve`], telling `upgrades` each time the session accepts STARTTLS/STLS, right after the acceptance reply is
/// flushed and before the server waits for the ClientHello. An in-memory client (the proxy) uses it to know when to
/// start its TLS handshake: the decision stays in the protocol code.
pub async fn serve_with<S>(
    host: Arc<Host>,
    service: Service,
    stream: S,
    peer: Peer,
    upgrades: Option<mpsc::UnboundedSender<()>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = info_span!("session", host = %host.config.name, service = service.name(), peer = %peer.addr);
    async move {
        host.emit(EventKind::SessionOpened { service: service.name().into(), peer: peer.addr.clone() });
        let conn = ConnInfo {
            service,
            peer: peer.addr.clone(),
            peer_ip: peer.ip,
            plaintext_auth_ok: peer.plaintext_auth_ok,
            tls: None,
            tls_available: host.tls.is_some(),
        };
        let login_deadline = peer.login_timeout.map(|t| Instant::now() + t);
        let reason = serve_inner(&host, conn, stream, upgrades, login_deadline).await;
        debug!(%reason, "session ended");
        host.emit(EventKind::SessionClosed { service: service.name().into(), peer: peer.addr, reason });
    }
    .instrument(span)
    .await
}

async fn serve_inner<S>(
    host: &Arc<Host>,
    mut conn: ConnInfo,
    stream: S,
    upgrades: Option<mpsc::UnboundedSender<()>>,
    login_deadline: Option<Instant>,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = conn.service;
    if service.implicit_tls() {
        let Some(tls) = accept_tls(host, service, stream).await else {
            return "TLS handshake failed".into();
        };
        conn.tls = Some(tls_info(&tls));
        let mut session = new_session(host.clone(), conn);
        let mut out = Vec::new();
        let flow = session.greeting(&mut out);
        let reason = match drive(&mut *session, tls, out, flow, host, login_deadline).await {
            Outcome::Closed(r) => r,
            Outcome::StartTls(_) => "STARTTLS inside TLS".into(),
        };
        session.closed();
        return reason;
    }
    let mut session = new_session(host.clone(), conn);
    let mut out = Vec::new();
    let flow = session.greeting(&mut out);
    let reason = match drive(&mut *session, stream, out, flow, host, login_deadline).await {
        Outcome::Closed(r) => r,
        Outcome::StartTls(plain) => {
            if let Some(tx) = &upgrades {
                let _ = tx.send(());
            }
            match accept_tls(host, service, plain).await {
                None => "TLS handshake failed".into(),
                Some(tls) => {
                    let info = tls_info(&tls);
                    let mut out = Vec::new();
                    let flow = session.tls_started(info, &mut out);
                    match drive(&mut *session, tls, out, flow, host, login_deadline).await {
                        Outcome::Closed(r) => r,
                        Outcome::StartTls(_) => "STARTTLS inside TLS".into(),
                    }
                }
            }
        }
    };
    session.closed();
    reason
}

/// TLS details of an accepted server-side stream.
fn tls_info<S>(s: &tokio_rustls::server::TlsStream<S>) -> TlsInfo {
    crate::tls::info(s.get_ref().1)
}

async fn accept_tls<S>(host: &Host, service: Service, stream: S) -> Option<tokio_rustls::server::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let cfg = host.tls.clone()?;
    match timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(cfg).accept(stream)).await {
        Ok(Ok(s)) => {
            let info = tls_info(&s);
            host.emit(EventKind::TlsAccepted {
                service: service.name().into(),
                version: info.version,
                cipher: info.cipher,
            });
            Some(s)
        }
        Ok(Err(e)) => {
            debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Bytes of reply buffer a session keeps between replies.
const OUT_KEEP: usize = 64 * 1024;

/// Runs a session's protocol step, on the blocking-capable part of a multi-threaded runtime (durable stores fsync).
fn step<T>(f: impl FnOnce() -> T) -> T {
    // The tab (wasm32) has one thread and in-memory stores: nothing to move aside.
    #[cfg(target_arch = "wasm32")]
    return f();
    #[cfg(not(target_arch = "wasm32"))]
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

async fn drive<S>(
    session: &mut dyn Session,
    mut stream: S,
    mut out: Vec<u8>,
    mut flow: Flow,
    host: &Host,
    login_deadline: Option<Instant>,
) -> Outcome<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut changes = host.store.subscribe();
    let mut online = host.online_watch.subscribe();
    let mut shutdown = host.shutdown.subscribe();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut deadline = Instant::now() + session.idle_timeout();
    if !*online.borrow_and_update() {
        return Outcome::Closed("host is offline".into());
    }
    loop {
        if let Some(delay) = session.take_delay() {
            crate::rt::sleep(delay).await;
        }
        if !out.is_empty() {
            if let Err(e) = async {
                stream.write_all(&out).await?;
                stream.flush().await
            }
            .await
            {
                return Outcome::Closed(format!("write failed: {e}"));
            }
            out.clear();
            // A big reply (FETCH 1:* of a large folder, a RETR of a 10 MiB message) must not stay allocated for
            // the rest of an idle session.
            out.shrink_to(OUT_KEEP);
        }
        match flow {
            Flow::Close => {
                let _ = stream.shutdown().await;
                return Outcome::Closed("closed by server".into());
            }
            Flow::StartTls => return Outcome::StartTls(stream),
            Flow::Submit => {
                // Spooling fsyncs: off the async workers. Awaited to the end even if the server is shutting
                // down, so that what the spool acknowledged is answered.
                let outcome = match session.take_submission() {
                    Some(sub) => {
                        let spool = host.spool.clone();
                        crate::rt::blocking(move || spool.submit(sub.id, sub.envelope, sub.message))
                            .await
                            .and_then(|r| r.map_err(|e| e.to_string()))
                    }
                    None => Err("no message to submit".to_string()),
                };
                flow = session.submitted(outcome, &mut out);
                continue;
            }
            Flow::Continue => {}
        }
        if *shutdown.borrow() {
            // Whatever the session answers, a shutting-down server closes.
            session.shutting_down(&mut out);
            flow = Flow::Close;
            continue;
        }
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) => return Outcome::Closed("closed by client".into()),
                Ok(n) => {
                    deadline = Instant::now() + session.idle_timeout();
                    flow = step(|| session.receive(&buf[..n], &mut out));
                }
                Err(e) => return Outcome::Closed(format!("read failed: {e}")),
            },
            _ = sleep_until(login_deadline.unwrap_or(deadline)), if login_deadline.is_some() && !session.logged_in() => {
                // The autologout reply, then close whatever the session would rather do.
                session.timed_out(&mut out);
                flow = Flow::Close;
            }
            _ = sleep_until(deadline) => {
                flow = session.timed_out(&mut out);
                if flow != Flow::Close {
                    // A session must end on autologout; insist.
                    flow = Flow::Close;
                }
            }
            change = changes.recv(), if session.wants_store_changes() => match change {
                Ok(c) => flow = step(|| session.store_changed(&c, &mut out)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    debug!(n, "store change feed lagged");
                    flow = step(|| session.store_lagged(&mut out));
                }
                Err(broadcast::error::RecvError::Closed) => return Outcome::Closed("store closed".into()),
            },
            _ = online.changed() => {
                if !*online.borrow() {
                    // A host that goes down says nothing: the connection just drops.
                    return Outcome::Closed("host went offline".into());
                }
            }
            _ = shutdown.changed() => {}
        }
    }
}

/// Any stream the relay client can speak over (TCP, TLS, in-memory).
pub trait RelayStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RelayStream for T {}

/// A boxed relay stream.
pub type BoxStream = Box<dyn RelayStream>;

/// Drives one relay conversation ([`Dialogue`]) over an open stream: reads, writes and the STARTTLS handshake,
/// each bounded by `limit` (the message data by at least 10 s). Never fails as a whole: failures become
/// per-recipient outcomes.
pub async fn relay(stream: BoxStream, job: RelayJob<'_>, limit: Duration) -> RelayReport {
    let started = Instant::now();
    let ms = move || started.elapsed().as_millis() as u64;
    let mut dialogue = Dialogue::new(job);
    let mut stream = Some(stream);
    let mut buf = vec![0u8; MAX_REPLY_LINE];
    let mut next = Next::Read;
    while let Some(s) = stream.as_mut() {
        next = match next {
            Next::Done => break,
            Next::Read => match timeout(limit, s.read(&mut buf)).await {
                Ok(Ok(0)) => dialogue.failed("4.4.2 connection closed by next hop"),
                Ok(Ok(n)) => dialogue.receive(&buf[..n], ms()),
                Ok(Err(e)) => dialogue.failed(&format!("4.4.2 read failed: {e}")),
                Err(_) => dialogue.failed("4.4.2 timeout waiting for reply"),
            },
            Next::Write(bytes) => {
                let limit = if dialogue.sending_data() { limit.max(Duration::from_secs(10)) } else { limit };
                match timeout(limit, async {
                    s.write_all(&bytes).await?;
                    s.flush().await
                })
                .await
                {
                    // A reply the next hop sent ahead may be buffered already: answer it before reading more.
                    Ok(Ok(())) => dialogue.receive(&[], ms()),
                    Ok(Err(e)) => dialogue.failed(&format!("4.4.2 write failed: {e}")),
                    Err(_) => dialogue.failed("4.4.2 timeout while writing"),
                }
            }
            Next::StartTls => {
                let plain = stream.take().expect("checked above");
                match relay_tls(plain, job.mx, limit).await {
                    Ok((tls, info, peer)) => {
                        stream = Some(tls);
                        dialogue.tls_started(info, peer, ms())
                    }
                    Err(why) => dialogue.failed(&why),
                }
            }
        };
    }
    if let Some(mut s) = stream {
        let _ = timeout(Duration::from_secs(1), s.shutdown()).await;
    }
    dialogue.report()
}

/// The client's STARTTLS handshake: the TLS stream, its details and a description of the next hop's certificate.
async fn relay_tls(
    plain: BoxStream,
    mx: &str,
    limit: Duration,
) -> Result<(BoxStream, TlsInfo, Option<String>), String> {
    let name = rustls::pki_types::ServerName::try_from(mx.to_string())
        .map_err(|_| "4.7.0 bad server name".to_string())?;
    let connector = tokio_rustls::TlsConnector::from(crate::tls::insecure_client_config());
    match timeout(limit, connector.connect(name, plain)).await {
        Ok(Ok(s)) => {
            let info = crate::tls::info(s.get_ref().1);
            let peer =
                crate::tls::peer_cert(s.get_ref().1).map(|c| format!("{} SHA-256 {}", c.subject, c.sha256));
            Ok((Box::new(s), info, peer))
        }
        Ok(Err(e)) => Err(format!("4.7.5 TLS handshake failed: {e}")),
        Err(_) => Err("4.7.5 TLS handshake timed out".into()),
    }
}

/// The client end of an in-memory connection.
pub struct MemoryConn {
    /// Bytes to and from the session.
    pub stream: DuplexStream,
    /// Receives `()` each time the server accepted STARTTLS/STLS and now expects a TLS ClientHello.
    pub upgrades: mpsc::UnboundedReceiver<()>,
}

/// Opens an in-memory connection to a host's service: the proxy's way in. Refused while the host is offline.
pub fn connect_memory(host: Arc<Host>, service: Service, peer: Peer) -> std::io::Result<MemoryConn> {
    if !host.is_online() {
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "host is offline"));
    }
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (tx, upgrades) = mpsc::unbounded_channel();
    crate::rt::spawn(serve_with(host, service, server, peer, Some(tx)));
    Ok(MemoryConn { stream: client, upgrades })
}
