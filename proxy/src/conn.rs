//! Connections of a playground session to a remote server the operator allowed (`remote_targets`): dial over TCP,
//! then the core's relay (`mailroom_core::playground::relay`) carries it, as it carries connections into worlds.

use std::time::Duration;

use mailroom_core::playground::Out;
use mailroom_core::playground::relay::Relay;
use mailroom_core::wire::ServerMsg;
use tokio::net::TcpStream;

use crate::RemoteTarget;

/// Dials a remote target the operator allowed, says `opened` (or why not, as `closed`), then relays.
pub async fn dial(relay: Relay, remote: RemoteTarget, timeout: Duration) {
    let (conn, out) = (relay.conn, relay.out.clone());
    let reason =
        match tokio::time::timeout(timeout, TcpStream::connect((remote.host.as_str(), remote.port))).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                let opened = ServerMsg::Opened {
                    conn,
                    host: remote.name.clone(),
                    service: remote.service.name().into(),
                    port: remote.port,
                };
                if out.send(Out::Msg(opened)).await.is_ok() {
                    relay.run(s, remote.service.implicit_tls(), None).await;
                }
                return;
            }
            Ok(Err(e)) => format!("connect failed: {e}"),
            Err(_) => "connect timed out".into(),
        };
    let _ = out.send(Out::Msg(ServerMsg::Closed { conn, reason })).await;
}
