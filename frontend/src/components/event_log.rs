//! The world's events as a story: oldest first, the steps of one message grouped under its queue ID, in plain
//! words with their times (to the millisecond: a relay happens within one second).

use mailroom_core::event::Event;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::story::{Story, describe, story};

fn item(e: &Event) -> Html {
    html! {
        <li><time datetime={e.at.to_rfc3339()}>{ e.at.format("%H:%M:%S%.3f").to_string() }</time>{ " " }{ describe(e) }</li>
    }
}

#[function_component(EventLog)]
pub fn event_log() -> Html {
    let ctx = use_ctx();
    let entries = story(&ctx.state.events);
    // The newest step of the story is at the bottom: keep it in view as events arrive.
    let list = use_node_ref();
    {
        let list = list.clone();
        use_effect_with(ctx.state.event_count, move |_| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }
    let skip = entries.len().saturating_sub(200);
    html! {
        <section class="events" aria-label="Event log" id="events" ref={list}>
            <h2>{ "What happened (oldest first)" }</h2>
            if entries.is_empty() { <p class="muted">{ "Nothing yet: open a connection and send a message." }</p> }
            <ol class="event-log" role="log" aria-live="polite" id="event-log">
                { for entries.iter().skip(skip).map(|s| match s {
                    Story::One(e) => item(e),
                    Story::Message { id, events } => html! {
                        <li class="story" data-msg={id.to_string()}>
                            <strong>{ format!("Message {id}") }</strong>
                            <ol>{ for events.iter().map(|e| item(e)) }</ol>
                        </li>
                    },
                }) }
            </ol>
        </section>
    }
}
