//! TCP: one listener per (host, service) and the connector that reaches next hops at their addresses. Native
//! only (the world in the browser tab has no sockets; its hosts meet over in-memory streams).
//!
//! [`listen`] runs one TCP listener for one (host, service). While the host is offline the listening socket is
//! closed, so connection attempts are refused exactly as by a server that is down. Over the connection caps a
//! client is told so in its protocol's words.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tracing::warn;

use crate::config::{Route, Service};
use crate::host::Host;
use crate::net::{BoxStream, Peer, serve};
use crate::queue::Connector;

/// Concurrent TCP connections per listener; beyond this, new connections wait in the kernel backlog.
const MAX_CONNECTIONS: usize = 2048;

/// Reaches next hops over TCP at the route's address (the persistent world's [`Connector`]).
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect(
        &self,
        route: &Route,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<BoxStream>> + Send + '_>> {
        let addr = route.addr.clone();
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            let _ = s.set_nodelay(true);
            Ok(Box::new(s) as BoxStream)
        })
    }
}

/// Open connections per client address on one listener.
type PerIp = Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>;

/// One connection's place in its address's count; gives it back when dropped.
struct IpSlot {
    map: PerIp,
    ip: IpAddr,
}

impl IpSlot {
    fn take(map: &PerIp, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot { map: map.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Turns a connection away over a cap with the protocol's own "try later" (RFC 5321 §3.8 421; RFC 2449 SYS/TEMP;
/// RFC 3501 BYE), then closes. Implicit-TLS ports get no plaintext line: they are just closed.
async fn refuse(mut stream: tokio::net::TcpStream, service: Service, why: &str) {
    let line = match service {
        Service::Smtp | Service::Submission => format!("421 4.7.0 {why}\r\n"),
        Service::Pop3 => format!("-ERR [SYS/TEMP] {why}\r\n"),
        Service::Imap => format!("* BYE [UNAVAILABLE] {why}\r\n"),
        Service::Smtps | Service::Pop3s | Service::Imaps => String::new(),
    };
    let _ = timeout(Duration::from_secs(5), async {
        stream.write_all(line.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // Rebinding after going offline must not wait for TIME_WAIT sockets to expire.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Binds a listener for one service of a host and serves it until the world shuts down. Returns the bound address
/// (port 0 asks the OS for one). While the host is offline, the socket is closed and reopened on the same port
/// when it comes back.
pub async fn listen(host: Arc<Host>, service: Service, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = bind(addr)?;
    let bound = listener.local_addr()?;
    tokio::spawn(accept_loop(host, service, listener, bound));
    Ok(bound)
}

async fn accept_loop(host: Arc<Host>, service: Service, listener: TcpListener, bound: SocketAddr) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_ip: PerIp = Arc::default();
    let mut online = host.online_watch.subscribe();
    let mut shutdown = host.shutdown.subscribe();
    let mut listener = Some(listener);
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Read the switch on every turn, not only on change: it may have flipped before this task first ran.
        if !*online.borrow_and_update() {
            // Offline: close the socket so connection attempts are refused, then wait to come back.
            listener = None;
            tokio::select! {
                _ = online.changed() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        if listener.is_none() {
            match bind(bound) {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    warn!(%bound, error = %e, "could not reopen listener; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        // Bound just above when it was None.
        let Some(l) = listener.as_ref() else { continue };
        tokio::select! {
            accepted = l.accept() => match accepted {
                // Accepted in the instant before an offline switch was seen: a down host does not answer.
                Ok(_) if !host.is_online() => {}
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    // Over a cap, say so at once rather than leave the client waiting for a greeting.
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        tokio::spawn(refuse(stream, service, "Too many connections, try again later"));
                        continue;
                    };
                    let Some(slot) = IpSlot::take(&per_ip, addr.ip(), host.limits.max_connections_per_ip) else {
                        tokio::spawn(refuse(stream, service, "Too many connections from your address"));
                        continue;
                    };
                    let mut peer = Peer::tcp(addr, host.allow_plaintext_auth);
                    peer.login_timeout = Some(host.limits.login_timeout);
                    let host = host.clone();
                    tokio::spawn(async move {
                        serve(host, service, stream, peer).await;
                        drop((permit, slot));
                    });
                }
                // Out of file descriptors and the like: back off, never stop listening.
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = online.changed() => {}
            _ = shutdown.changed() => {}
        }
    }
}
