//! `use_catalogue`: fetches the lesson catalogue (`GET /api/lessons`, curriculum order) once, for the lesson list
//! and "Next lesson". A failed fetch leaves the list empty: the running lesson does not need it.

use mailroom_core::lesson::LessonEntry;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use yew::prelude::*;

use crate::state::{Action, AppState};

/// The body of a successful `GET path` (None on any failure: the callers can do without).
pub async fn get_text(path: &str) -> Option<String> {
    let w = web_sys::window()?;
    let resp: web_sys::Response = JsFuture::from(w.fetch_with_str(path)).await.ok()?.dyn_into().ok()?;
    if !resp.ok() {
        return None;
    }
    JsFuture::from(resp.text().ok()?).await.ok()?.as_string()
}

async fn fetch() -> Option<Vec<LessonEntry>> {
    serde_json::from_str(&get_text("api/lessons").await?).ok()
}

/// Loads the catalogue into the state.
#[hook]
pub fn use_catalogue(state: UseReducerHandle<AppState>) {
    use_effect_with((), move |_| {
        let d = state.dispatcher();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(c) = fetch().await {
                d.dispatch(Action::Catalogue(c));
            }
        });
    });
}
