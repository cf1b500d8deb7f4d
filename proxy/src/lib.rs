//! # The Mailroom proxy: the web playground's only door
//!
//! The browser cannot open TCP sockets, and a public playground must not become an open bridge to the internet.
//! This crate serves the embedded frontend, relays each WebSocket session into a mail world *inside the process*
//! (in-memory streams handed to the core's session driver), streams back the raw transcript and the world's
//! events, and holds the limits. It contains no protocol logic.
//!
//! ## Layout
//! - [`app`]: the router (`/ws`, `/api/...`, `/healthz`, `/metrics`, the static app).
//! - [`config`]: [`ProxyConfig`], every limit with its default.
//! - [`session`]: one WebSocket session (wire protocol in `mailroom_core::wire`, close codes in
//!   [`session::close`]).
//! - [`conn`]: one relayed connection, TLS client for implicit TLS and STARTTLS.
//! - [`worlds`]: sandboxes, rooms, the persistent world; tokens for reattaching.
//! - [`snapshot`]: the world picture sent to browsers.
//! - [`limits`]: token buckets, per-address session counts, the real client address.
//! - [`api`], [`metrics`], [`assets`]: HTTP API, Prometheus text, embedded files.
#![forbid(unsafe_code)]

pub mod api;
pub mod assets;
pub mod config;
pub mod conn;
pub mod limits;
pub mod metrics;
pub mod session;
pub mod static_site;
pub mod worlds;

use mailroom_core::snapshot::{CountCache, HeaderCache};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mailroom_core::config::WorldConfig;
use mailroom_core::world::{Persistence, World};

pub use config::{ProxyConfig, RemoteTarget};

/// Everything the handlers share.
pub struct Inner {
    /// Limits and policy.
    pub config: ProxyConfig,
    /// Sandboxes, rooms, tokens.
    pub registry: worlds::Registry,
    /// The persistent world (the TCP ports').
    pub persistent: Arc<World>,
    /// Counters.
    pub metrics: Arc<metrics::Metrics>,
    /// Sessions per client address.
    pub per_ip: Arc<limits::PerIp>,
    /// Set once when the server shuts down: sessions close with 1001.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The persistent world's last message count (`/metrics`).
    pub counted: CountCache,
}

/// Shared state of the router (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The configuration of a sandbox or room: the default world (`shared/CONTRACT.md`) with playground timing, in
/// memory, messages no larger than the sandbox may hold.
pub fn sandbox_config(config: &ProxyConfig) -> WorldConfig {
    let mut w = WorldConfig::default();
    let cap = usize::try_from(config.sandbox_max_bytes).unwrap_or(usize::MAX);
    w.limits.max_message_size = w.limits.max_message_size.min(cap);
    w
}

impl AppState {
    /// State for a proxy in front of `persistent`. Starts the reaper of abandoned worlds. Must be called inside a
    /// Tokio runtime.
    pub fn new(config: ProxyConfig, persistent: Arc<World>) -> anyhow::Result<AppState> {
        let sandbox = sandbox_config(&config);
        // Every fresh sandbox looks like this: take the picture once, from a world that is then thrown away.
        let pristine = {
            let w = World::start(sandbox.clone(), Persistence::Memory)?;
            let snap = w.snapshot(&HeaderCache::default());
            w.shutdown();
            snap
        };
        let registry = worlds::Registry::new(sandbox, persistent.clone(), pristine, config.max_worlds);
        let state = AppState(Arc::new(Inner {
            config,
            registry,
            persistent,
            metrics: Arc::default(),
            per_ip: Arc::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
            counted: CountCache::default(),
        }));
        let weak = Arc::downgrade(&state.0);
        let every = (state.config.reattach_ttl / 4)
            .clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let n = inner.registry.reap(inner.config.reattach_ttl);
                if n > 0 {
                    tracing::debug!(n, "reaped abandoned worlds");
                }
            }
        });
        Ok(state)
    }
}

impl AppState {
    /// Tells every session to close (1001, going away).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// The whole router: `/ws`, the API, and the embedded app as the fallback.
pub fn app(state: AppState) -> Router {
    let ws = Router::new()
        .route("/ws", get(ws_handler))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), check_origin));
    Router::new()
        .merge(ws)
        .merge(api::routes())
        .fallback(get(assets::serve))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Whether `Host` names this server: an IP address (DNS rebinding needs a name), `localhost`, or a configured
/// public host, with any port. No `Host` at all (HTTP/1.0 tools, router tests) is not a browser: it passes.
pub fn host_allowed(config: &ProxyConfig, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else { return true };
    let Ok(host) = host.to_str() else { return false };
    let name = match host.strip_prefix('[') {
        // [::1]:8080
        Some(rest) => {
            return rest.split_once(']').is_some_and(|(ip, port)| {
                ip.parse::<std::net::Ipv6Addr>().is_ok()
                    && (port.is_empty()
                        || port.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())))
            });
        }
        None => host
            .rsplit_once(':')
            .map_or(host, |(n, port)| if port.bytes().all(|b| b.is_ascii_digit()) { n } else { host }),
    };
    let name = name.trim_end_matches('.');
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || config.public_hosts.iter().any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(name))
}

/// Whether a state-changing request could have been sent by a form or a script on another site: a foreign
/// `Origin`, or a body type a cross-site form may send without a CORS preflight (RFC 9110 aside, that is the
/// browser rule that makes CSRF possible).
fn cross_site_write(config: &ProxyConfig, req: &Request) -> Option<(StatusCode, &'static str)> {
    if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
        return None;
    }
    if !origin_allowed(config, req.headers()) {
        return Some((StatusCode::FORBIDDEN, "origin not allowed"));
    }
    let simple = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        matches!(ct.as_str(), "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain")
    });
    simple.then_some((StatusCode::UNSUPPORTED_MEDIA_TYPE, "send no body, or application/json"))
}

/// Refuses requests for host names this server does not own and cross-site writes, before any handler runs.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let refusal = if !host_allowed(&state.config, req.headers()) {
        Some((
            StatusCode::FORBIDDEN,
            "unknown host name: start the server with --public-host NAME to allow it",
        ))
    } else {
        cross_site_write(&state.config, &req)
    };
    match refusal {
        None => next.run(req).await,
        Some((status, why)) => {
            state.metrics.limited_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (status, why).into_response()
        }
    }
}

/// The web listener: a TCP listener that sets `TCP_NODELAY` on every accepted connection. The relay sends many
/// small frames (each transcript chunk), and Nagle's algorithm would hold the second of two back until the
/// browser's delayed ACK, adding tens of milliseconds to a command's round trip. Serve with
/// `app.into_make_service_with_connect_info::<PeerAddr>()` so sessions know their client's address.
pub struct NoDelayListener(pub tokio::net::TcpListener);

impl axum::serve::Listener for NoDelayListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.0).await;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        (tcp, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The TCP peer of a connection accepted by [`NoDelayListener`].
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, NoDelayListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, NoDelayListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// The TCP peer, when the server was started with `into_make_service_with_connect_info::<PeerAddr>()` (or
/// `::<SocketAddr>()`); router tests have none.
pub struct ClientAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ext = &parts.extensions;
        let peer = ext
            .get::<ConnectInfo<PeerAddr>>()
            .map(|c| c.0.0)
            .or_else(|| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
        Ok(ClientAddr(peer))
    }
}

/// Whether a browser page at `Origin` may open a session: the page's own origin (same host as `Host`) or a
/// configured embedding site. Requests without `Origin` come from non-browser clients and carry no ambient
/// authority worth protecting, so they pass.
pub fn origin_allowed(config: &ProxyConfig, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim_end_matches('/');
    if config.allowed_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some((_, authority)) = origin.split_once("://") else { return false };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(authority))
}

async fn check_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if origin_allowed(&state.config, req.headers()) {
        next.run(req).await
    } else {
        state.metrics.limited_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (StatusCode::FORBIDDEN, "origin not allowed").into_response()
    }
}

async fn ws_handler(
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    // `/ws?room=CODE`: the room is in the URL so that a load balancer can send every member of a room to the
    // instance that holds it (nginx `hash $arg_room consistent`); the `hello` must then name the same room.
    let url_room = query.get("room").cloned();
    let ip = limits::client_ip(&state.config, peer, &headers);
    // Hard cap in the WebSocket layer; up to it, the session closes politely with 1009 above `max_frame`.
    let hard = state.config.max_frame.saturating_mul(4).max(64 * 1024);
    // Small buffers: an idle session should cost little (tungstenite's defaults are 128 KiB each way). The read
    // buffer grows as needed; writes are flushed per message anyway.
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session::run(socket, state, ip, url_room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_table() {
        let cfg =
            ProxyConfig { public_hosts: vec!["playground.example.org".into()], ..ProxyConfig::default() };
        for (host, want) in [
            (Some("127.0.0.1:8080"), true),
            (Some("localhost:8080"), true),
            (Some("LOCALHOST"), true),
            (Some("[::1]:8080"), true),
            (Some("192.168.1.5:8080"), true),
            (Some("playground.example.org"), true),
            (Some("playground.example.org.:443"), true),
            (None, true),
            (Some("rebind.example:8080"), false),
            (Some("localhost.evil.example"), false),
            (Some("[::1"), false),
            (Some("127.0.0.1.evil.example"), false),
        ] {
            let mut h = HeaderMap::new();
            if let Some(v) = host {
                h.insert(header::HOST, v.parse().unwrap());
            }
            assert_eq!(host_allowed(&cfg, &h), want, "{host:?}");
        }
    }

    #[test]
    fn origin_table() {
        let cfg = ProxyConfig {
            allowed_origins: vec!["https://tutorial.example.org".into()],
            ..ProxyConfig::default()
        };
        for (origin, host, want) in [
            (None, "127.0.0.1:8080", true),
            (Some("http://127.0.0.1:8080"), "127.0.0.1:8080", true),
            (Some("http://evil.example"), "127.0.0.1:8080", false),
            (Some("https://tutorial.example.org"), "127.0.0.1:8080", true),
            (Some("https://tutorial.example.org/"), "127.0.0.1:8080", true),
            (Some("null"), "127.0.0.1:8080", false),
            (Some("http://127.0.0.1:9999"), "127.0.0.1:8080", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, host.parse().unwrap());
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().unwrap());
            }
            assert_eq!(origin_allowed(&cfg, &h), want, "{origin:?}");
        }
    }
}
