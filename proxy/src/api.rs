//! The HTTP API (`/api/...`, JSON) for the persistent world: snapshot, host online/offline, queue and "retry now",
//! recent events; `/healthz`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use axum::Router;
use mailroom_core::world::World;
use serde::Serialize;

/// The router.
pub fn app(world: Arc<World>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/world", get(snapshot))
        .route("/api/queue", get(queue))
        .route("/api/queue/flush", post(flush))
        .route("/api/events", get(events))
        .route("/api/hosts/{host}/online", post(online))
        .route("/api/hosts/{host}/offline", post(offline))
        .with_state(world)
}

#[derive(Serialize)]
struct HostView {
    name: String,
    fqdn: String,
    domain: String,
    online: bool,
    users: Vec<UserView>,
}

#[derive(Serialize)]
struct UserView {
    name: String,
    folders: Vec<FolderView>,
}

#[derive(Serialize)]
struct FolderView {
    name: String,
    messages: usize,
    unseen: usize,
}

async fn snapshot(State(world): State<Arc<World>>) -> impl IntoResponse {
    let hosts: Vec<HostView> = world
        .hosts
        .iter()
        .map(|h| HostView {
            name: h.config.name.clone(),
            fqdn: h.fqdn.clone(),
            domain: h.config.domain.clone(),
            online: h.is_online(),
            users: h
                .users
                .names()
                .map(|u| UserView {
                    name: u.to_string(),
                    folders: h
                        .store
                        .folders(u)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|f| f.selectable)
                        .map(|f| {
                            let st = h.store.status(u, &f.name).ok();
                            let msgs = st.map(|s| s.messages).unwrap_or_default();
                            FolderView {
                                unseen: msgs
                                    .iter()
                                    .filter(|m| !m.flags.contains(&mailroom_core::store::Flag::Seen))
                                    .count(),
                                messages: msgs.len(),
                                name: f.name,
                            }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Json(serde_json::json!({
        "hosts": hosts,
        "routes": *world.routes.read().unwrap_or_else(|e| e.into_inner()),
        "queue": world.queue(),
        "listening": world.listening(),
    }))
}

async fn queue(State(world): State<Arc<World>>) -> impl IntoResponse {
    Json(world.queue())
}

async fn flush(State(world): State<Arc<World>>) -> impl IntoResponse {
    world.retry_now();
    Json(serde_json::json!({ "ok": true }))
}

async fn events(State(world): State<Arc<World>>) -> impl IntoResponse {
    Json(world.events.recent())
}

async fn set_online(world: &World, host: &str, online: bool) -> axum::response::Response {
    if world.set_online(host, online) {
        Json(serde_json::json!({ "host": host, "online": online })).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": format!("no host {host}") }))).into_response()
    }
}

async fn online(State(world): State<Arc<World>>, Path(host): Path<String>) -> axum::response::Response {
    set_online(&world, &host, true).await
}

async fn offline(State(world): State<Arc<World>>, Path(host): Path<String>) -> axum::response::Response {
    set_online(&world, &host, false).await
}
