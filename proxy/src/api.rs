//! The HTTP API (`/api/...`, JSON) for the persistent world: snapshot, host online/offline, queue and "retry now",
//! recent events; plus `/api/lessons` (the curriculum), `/api/config` (the limits a browser should know), `/healthz` and `/metrics`. Documented in
//! `docs/http-api.md`.
//!
//! The persistent world's endpoints answer only when the configuration lets browsers attach it
//! (`allow_persistent`, by default when listening on loopback): a public server does not expose its switches.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use mailroom_core::world::World;
use std::sync::Arc;

use crate::AppState;
use crate::metrics::Gauges;

/// The API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/config", get(config))
        .route("/api/lessons", get(lessons))
        .route("/api/world", get(snapshot))
        .route("/api/queue", get(queue))
        .route("/api/queue/flush", post(flush))
        .route("/api/events", get(events))
        .route("/api/hosts/{host}/online", post(online))
        .route("/api/hosts/{host}/offline", post(offline))
}

/// The curriculum: `[{"id", "title", "chapter", "claims", "actions"}]`, in order. Each lesson opens at
/// `/?lesson=ID`.
async fn lessons() -> Json<Vec<mailroom_core::lesson::LessonEntry>> {
    Json(mailroom_core::lesson::catalogue::entries())
}

/// The persistent world, or 403 when it is not shared.
#[allow(clippy::result_large_err)]
fn persistent(state: &AppState) -> Result<Arc<World>, Response> {
    if !state.config.allow_persistent {
        return Err((
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": "this server does not share its persistent world" })),
        )
            .into_response());
    }
    Ok(state.persistent.clone())
}

async fn metrics(State(state): State<AppState>) -> Response {
    let (worlds, worlds_running) = state.registry.stats();
    let world = state.persistent.clone();
    let queue = world.queue().len();
    // Counting mailboxes reads the store (when it changed), which may touch the disk.
    let st = state.clone();
    let messages = tokio::task::spawn_blocking(move || world.message_count(&st.counted)).await.unwrap_or(0);
    let (sandboxes, rooms) = state.registry.kinds();
    let text = state.metrics.render(&Gauges { worlds, worlds_running, sandboxes, rooms, messages, queue });
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

async fn config(State(state): State<AppState>) -> Response {
    let c = &state.config;
    Json(serde_json::json!({
        "protocol_version": mailroom_core::wire::VERSION,
        "persistent_world": c.allow_persistent,
        "remotes": c.remotes,
        "max_connections_per_session": c.max_connections_per_session,
        "max_frame": c.max_frame,
        "msgs_per_sec": c.msgs_per_sec,
        "bytes_per_sec": c.bytes_per_sec,
        "sandbox_max_messages": c.sandbox_max_messages,
        "sandbox_max_bytes": c.sandbox_max_bytes,
        "idle_timeout_secs": c.idle_timeout.as_secs(),
        "reattach_ttl_secs": c.reattach_ttl.as_secs(),
        // Where real clients reach the persistent world (sandboxes and rooms have no TCP ports of their own):
        // the page says which world it shows and whether a desktop client can see the same mail.
        "tcp": state.persistent.listening(),
    }))
    .into_response()
}

async fn snapshot(State(state): State<AppState>) -> Response {
    let world = match persistent(&state) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let handle = state.registry.persistent.clone();
    let w = world.clone();
    let snap = tokio::task::spawn_blocking(move || w.snapshot(&handle.headers)).await;
    match snap {
        Ok(snap) => {
            let mut v = serde_json::to_value(snap).unwrap_or_default();
            v["listening"] = serde_json::to_value(world.listening()).unwrap_or_default();
            Json(v).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "snapshot failed").into_response(),
    }
}

async fn queue(State(state): State<AppState>) -> Response {
    match persistent(&state) {
        Ok(w) => Json(w.queue()).into_response(),
        Err(r) => r,
    }
}

async fn flush(State(state): State<AppState>) -> Response {
    match persistent(&state) {
        Ok(w) => {
            w.retry_now();
            Json(serde_json::json!({ "ok": true })).into_response()
        }
        Err(r) => r,
    }
}

async fn events(State(state): State<AppState>) -> Response {
    match persistent(&state) {
        Ok(w) => Json(w.events.recent()).into_response(),
        Err(r) => r,
    }
}

fn set_online(state: &AppState, host: &str, online: bool) -> Response {
    let world = match persistent(state) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if world.set_online(host, online) {
        Json(serde_json::json!({ "host": host, "online": online })).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": format!("no host {host}") })))
            .into_response()
    }
}

async fn online(State(state): State<AppState>, Path(host): Path<String>) -> Response {
    set_online(&state, &host, true)
}

async fn offline(State(state): State<AppState>, Path(host): Path<String>) -> Response {
    set_online(&state, &host, false)
}
