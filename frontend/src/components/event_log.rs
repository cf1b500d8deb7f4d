//! The world's events as a story: oldest first, the steps of one message grouped under its queue ID, in plain
//! words with their times (to the millisecond: a relay happens within one second).

use chrono::Timelike;
use mailroom_core::event::Event;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::story::{Story, describe, story};

/// `14:03:07.250`: the event's time of day in UTC, to the millisecond.
fn clock(e: &Event) -> String {
    let (t, ms) = (e.at.time(), e.at.timestamp_subsec_millis());
    format!("{:02}:{:02}:{:02}.{ms:03}", t.hour(), t.minute(), t.second())
}

fn item(e: &Event) -> Html {
    html! {
        <li><time datetime={e.at.to_rfc3339()}>{ clock(e) }</time>{ " " }{ describe(e) }</li>
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

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use mailroom_core::event::{Event, EventKind};

    #[test]
    fn times_are_shown_to_the_millisecond_with_leading_zeros() {
        let at = DateTime::parse_from_rfc3339("2024-03-05T09:04:07.05Z").unwrap().to_utc();
        let e = Event { at, host: "mx1".into(), kind: EventKind::OnlineChanged { online: true } };
        assert_eq!(super::clock(&e), "09:04:07.050");
    }
}
