//! `use_config`: reads `GET /api/config` once for `tcp`, the addresses where real mail clients reach the
//! persistent world, so the page can say which world it shows and whether a desktop client can see it.

use yew::prelude::*;

use crate::hooks::use_catalogue::get_text;
use crate::state::{Action, AppState, Listener};

async fn fetch() -> Option<Vec<Listener>> {
    Some(crate::state::parse_tcp(&get_text("api/config").await?))
}

/// Loads the persistent world's listeners into the state.
#[hook]
pub fn use_config(state: UseReducerHandle<AppState>) {
    // A world in the tab has no server, so no TCP ports for real mail clients.
    let tab = state.preset.tab_world.is_some();
    use_effect_with((), move |_| {
        let d = state.dispatcher();
        if tab {
            return;
        }
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(tcp) = fetch().await {
                d.dispatch(Action::Tcp(tcp));
            }
        });
    });
}
