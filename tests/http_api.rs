//! Router tests of the proxy's HTTP side with `oneshot` (no socket): health, metrics, the persistent world's API,
//! the embedded app's headers, and the Origin check on `/ws`.

#[path = "web/mod.rs"]
mod web;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mailroom::{AppState, ProxyConfig};
use mailroom_core::world::{Persistence, World};
use serde_json::Value;
use tower::ServiceExt;

async fn state(tweak: impl FnOnce(&mut ProxyConfig)) -> AppState {
    let world = World::start(web::world_config(), Persistence::Memory).unwrap();
    world.listen().await.unwrap();
    let mut cfg = ProxyConfig::default();
    tweak(&mut cfg);
    AppState::new(cfg, world).unwrap()
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> axum::response::Response {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    mailroom::app(state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
}

async fn body(resp: axum::response::Response) -> Vec<u8> {
    axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024).await.unwrap().to_vec()
}

async fn json(resp: axum::response::Response) -> Value {
    serde_json::from_slice(&body(resp).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics() {
    let s = state(|_| {}).await;
    let r = call(&s, "GET", "/healthz", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await, b"ok");
    let r = call(&s, "GET", "/metrics", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body(r).await).unwrap();
    for name in [
        "mailroom_sessions ",
        "mailroom_worlds ",
        "mailroom_sandboxes ",
        "mailroom_rooms ",
        "mailroom_connections ",
        "mailroom_messages ",
        "mailroom_queue ",
        "mailroom_sessions_total ",
    ] {
        assert!(text.contains(&format!("\n{name}")) || text.starts_with(name), "{name} missing in\n{text}");
    }
    assert!(text.contains("# TYPE mailroom_sessions gauge"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_world_api() {
    let s = state(|_| {}).await;
    let w = json(call(&s, "GET", "/api/world", &[]).await).await;
    assert_eq!(w["hosts"][0]["name"], "mx1");
    assert_eq!(w["hosts"][1]["users"][0]["name"], "carol");
    assert!(w["listening"].as_array().unwrap().len() >= 14);
    let r = call(&s, "POST", "/api/hosts/mx2/offline", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!s.persistent.host("mx2").unwrap().is_online());
    let w = json(call(&s, "GET", "/api/world", &[]).await).await;
    assert_eq!(w["hosts"][1]["online"], false);
    assert_eq!(call(&s, "POST", "/api/hosts/mx2/online", &[]).await.status(), StatusCode::OK);
    assert!(s.persistent.host("mx2").unwrap().is_online());
    assert_eq!(call(&s, "POST", "/api/hosts/nope/offline", &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(call(&s, "GET", "/api/queue", &[]).await).await, serde_json::json!([]));
    assert_eq!(json(call(&s, "POST", "/api/queue/flush", &[]).await).await["ok"], true);
    let events = json(call(&s, "GET", "/api/events", &[]).await).await;
    assert!(events.as_array().unwrap().iter().any(|e| e["event"] == "online_changed"));
    let cfg = json(call(&s, "GET", "/api/config", &[]).await).await;
    assert_eq!(cfg["protocol_version"], 1);
    assert_eq!(cfg["max_connections_per_session"], 8);
    let tcp = cfg["tcp"].as_array().unwrap();
    assert_eq!(tcp.len(), 14, "7 services on each of 2 hosts: {tcp:?}");
    let smtp = tcp.iter().find(|l| l["host"] == "mx1" && l["service"] == "smtp").unwrap();
    assert_eq!(
        smtp["addr"],
        s.persistent.addr("mx1", mailroom_core::config::Service::Smtp).unwrap().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_world_api_is_closed_when_not_shared() {
    let s = state(|c| c.allow_persistent = false).await;
    for (m, uri) in [
        ("GET", "/api/world"),
        ("GET", "/api/queue"),
        ("POST", "/api/queue/flush"),
        ("POST", "/api/hosts/mx2/offline"),
    ] {
        assert_eq!(call(&s, m, uri, &[]).await.status(), StatusCode::FORBIDDEN, "{uri}");
    }
    assert!(s.persistent.host("mx2").unwrap().is_online());
    assert_eq!(call(&s, "GET", "/healthz", &[]).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_app_headers() {
    let s = state(|_| {}).await;
    let r = call(&s, "GET", "/", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let index = body(r).await;
    assert!(String::from_utf8_lossy(&index).contains("<html"));
    let r = call(&s, "GET", "/index.html", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(call(&s, "GET", "/no/such/file.js", &[]).await.status(), StatusCode::NOT_FOUND);
    // Every embedded asset is served with its type; precompressed variants are chosen by Accept-Encoding.
    for a in mailroom::assets::ASSETS {
        let uri = format!("/{}", a.path);
        let r = call(&s, "GET", &uri, &[]).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], a.content_type, "{uri}");
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none(), "{uri}: no encoding unless asked");
        assert_eq!(body(r).await, a.raw, "{uri}");
        if let Some(gz) = a.gzip {
            let r = call(&s, "GET", &uri, &[("accept-encoding", "gzip")]).await;
            assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip", "{uri}");
            assert_eq!(r.headers()[header::VARY], "accept-encoding");
            assert_eq!(body(r).await, gz);
        }
        if let Some(br) = a.br {
            let r = call(&s, "GET", &uri, &[("accept-encoding", "gzip, deflate, br")]).await;
            assert_eq!(r.headers()[header::CONTENT_ENCODING], "br", "{uri}");
            assert_eq!(body(r).await, br);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_with_a_foreign_origin_is_refused_before_the_upgrade() {
    let s = state(|c| c.allowed_origins = vec!["https://tutorial.example.org".into()]).await;
    let upgrade = [
        ("host", "127.0.0.1:8080"),
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let with = |origin: &'static str| {
        let mut h = upgrade.to_vec();
        h.push(("origin", origin));
        h
    };
    let r = call(&s, "GET", "/ws", &with("http://evil.example")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Same origin and configured origins pass the check (the upgrade itself needs a real connection).
    for ok in ["http://127.0.0.1:8080", "https://tutorial.example.org"] {
        let r = call(&s, "GET", "/ws", &with(ok)).await;
        assert_ne!(r.status(), StatusCode::FORBIDDEN, "{ok}");
    }
}

/// DNS rebinding: a page on `rebind.example` whose name now resolves to 127.0.0.1 sends `Host: rebind.example`.
/// Nothing answers it (neither the API nor the WebSocket upgrade); loopback names, IP addresses and configured
/// public hosts do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_a_foreign_host_name_are_refused() {
    let s = state(|c| c.public_hosts = vec!["playground.example.org".into()]).await;
    let origin = ("origin", "http://rebind.example:8080");
    let r = call(&s, "GET", "/api/world", &[("host", "rebind.example:8080"), origin]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let upgrade = [
        ("host", "rebind.example:8080"),
        origin,
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    assert_eq!(call(&s, "GET", "/ws", &upgrade).await.status(), StatusCode::FORBIDDEN);
    for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "playground.example.org"] {
        assert_eq!(call(&s, "GET", "/api/world", &[("host", host)]).await.status(), StatusCode::OK, "{host}");
    }
}

/// CSRF: a form or script on another site must not switch hosts off or flush the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_writes_to_the_api_are_refused() {
    let s = state(|_| {}).await;
    let host = ("host", "127.0.0.1:8080");
    let foreign =
        [host, ("origin", "https://evil.example"), ("content-type", "application/x-www-form-urlencoded")];
    let r = call(&s, "POST", "/api/hosts/mx2/offline", &foreign).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(s.persistent.host("mx2").unwrap().is_online(), "the foreign form took mx2 offline");
    let r = call(&s, "POST", "/api/queue/flush", &[host, ("origin", "https://evil.example")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A form from the page's own origin still may not use a simple-form body: only a script could, after a
    // preflight, send JSON.
    let own_form = [host, ("origin", "http://127.0.0.1:8080"), ("content-type", "text/plain")];
    assert_eq!(
        call(&s, "POST", "/api/hosts/mx2/offline", &own_form).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert!(s.persistent.host("mx2").unwrap().is_online());
    // curl with no body, and the page's own script, work.
    assert_eq!(call(&s, "POST", "/api/hosts/mx2/offline", &[host]).await.status(), StatusCode::OK);
    assert!(!s.persistent.host("mx2").unwrap().is_online());
    let own = [host, ("origin", "http://127.0.0.1:8080"), ("content-type", "application/json")];
    assert_eq!(call(&s, "POST", "/api/hosts/mx2/online", &own).await.status(), StatusCode::OK);
}
