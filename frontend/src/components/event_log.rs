//! The world's events in plain words with their times.

use yew::prelude::*;

use crate::app::use_ctx;
use crate::state::describe;

#[function_component(EventLog)]
pub fn event_log() -> Html {
    let ctx = use_ctx();
    html! {
        <section class="events" aria-label="Event log">
            <h2>{ "What happened" }</h2>
            <ol class="event-log" role="log" aria-live="polite" id="event-log">
                { for ctx.state.events.iter().rev().take(200).map(|e| html! {
                    <li><time datetime={e.at.to_rfc3339()}>{ e.at.format("%H:%M:%S").to_string() }</time>{ " " }{ describe(e) }</li>
                }) }
            </ol>
        </section>
    }
}
