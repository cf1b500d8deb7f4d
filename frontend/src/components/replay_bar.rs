//! Replay mode (`/?replay=…`): loads a replay (from the link's URL, or a pasted file) and steps through it —
//! back, next, play — showing the transcripts, the event log and the ladder as they were at each step. No session
//! is opened: nothing here touches a mail world.

use std::rc::Rc;

use gloo_timers::callback::Interval;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::hooks::use_catalogue::get_text;
use crate::replay::Replay;
use crate::state::Action;

/// Milliseconds between steps while playing.
const PLAY_MS: u32 = 700;

#[function_component(ReplayBar)]
pub fn replay_bar() -> Html {
    let ctx = use_ctx();
    let error = use_state(|| None::<String>);
    let playing = use_state(|| false);
    let paste = use_node_ref();
    // A link's replay (`?replay=URL`, `data:` URLs included) loads by itself.
    {
        let (d, error) = (ctx.state.dispatcher(), error.clone());
        let src = ctx.state.preset.replay.clone().unwrap_or_default();
        use_effect_with((), move |_| {
            let url = js_sys::decode_uri_component(&src).ok().and_then(|s| s.as_string()).unwrap_or_default();
            if url != "1" {
                wasm_bindgen_futures::spawn_local(async move {
                    match get_text(&url).await.map(|t| serde_json::from_str::<Replay>(&t)) {
                        Some(Ok(r)) => d.dispatch(Action::ReplayLoad(Rc::new(r))),
                        Some(Err(e)) => error.set(Some(format!("That is not a Mailroom replay: {e}"))),
                        None => error.set(Some(format!("Could not load the replay from {url}"))),
                    }
                });
            }
        });
    }
    let (pos, len) = ctx.state.replay.as_ref().map_or((0, 0), |(r, n)| (*n, r.steps.len()));
    {
        let d = ctx.state.dispatcher();
        let playing2 = playing.clone();
        use_effect_with((*playing, pos), move |(on, pos)| {
            let pos = *pos;
            let timer = (*on).then(|| {
                Interval::new(PLAY_MS, move || {
                    if pos >= len {
                        playing2.set(false);
                    } else {
                        d.dispatch(Action::ReplayTo(pos + 1));
                    }
                })
            });
            move || drop(timer)
        });
    }
    let step = |to: usize| {
        let d = ctx.state.dispatcher();
        Callback::from(move |_| d.dispatch(Action::ReplayTo(to)))
    };
    let load = {
        let (d, error, paste) = (ctx.state.dispatcher(), error.clone(), paste.clone());
        Callback::from(move |_| {
            let Some(t) = paste.cast::<HtmlTextAreaElement>() else { return };
            match serde_json::from_str::<Replay>(&t.value()) {
                Ok(r) => {
                    error.set(None);
                    d.dispatch(Action::ReplayLoad(Rc::new(r)))
                }
                Err(e) => error.set(Some(format!("That is not a Mailroom replay: {e}"))),
            }
        })
    };
    let toggle = {
        let playing = playing.clone();
        Callback::from(move |_| playing.set(!*playing))
    };
    html! {
        <div class="replay-bar" id="replay-bar" data-step={pos.to_string()} data-steps={len.to_string()}>
            <strong>{ "Replay" }</strong>
            <span id="replay-pos">{ format!("step {pos} of {len}") }</span>
            <button onclick={step(pos.saturating_sub(1))} disabled={pos == 0} id="replay-back">{ "⟵ Back" }</button>
            <button onclick={step(pos + 1)} disabled={pos >= len} id="replay-next" class="primary">{ "Next step ⟶" }</button>
            <button onclick={toggle} disabled={len == 0} id="replay-play">{ if *playing { "Pause" } else { "Play" } }</button>
            <button onclick={step(len)} disabled={pos >= len}>{ "To the end" }</button>
            <details>
                <summary>{ "Load another replay" }</summary>
                <textarea ref={paste} rows="3" placeholder="Paste an exported replay (JSON) here" aria-label="Replay JSON"></textarea>
                <button onclick={load}>{ "Load" }</button>
            </details>
            if let Some(e) = &*error { <p class="q-error" role="alert">{ e.clone() }</p> }
            <a href="/?play=1">{ "Leave the replay" }</a>
        </div>
    }
}
