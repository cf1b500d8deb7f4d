//! A compact strip of the world for small screens and embeds: each host's state, its queue and its mailboxes'
//! counts on one line, so the mail is seen moving while the learner types.

use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::components::queue_panel::{duration_words, secs_until};
use crate::hooks::use_now::use_now;
use crate::state::{Action, Panel};

#[function_component(WorldStrip)]
pub fn world_strip() -> Html {
    let ctx = use_ctx();
    let now = use_now();
    let Some(w) = &ctx.state.world else { return html! {} };
    let world_now = now + w.clock_offset_ms as f64;
    let hosts = w.hosts.iter().map(|h| {
        let queue: Vec<_> = w.queue.iter().filter(|q| q.host == h.name).collect();
        let next = queue
            .iter()
            .filter_map(|q| q.next_attempt.as_deref().and_then(|t| secs_until(t, world_now)))
            .min();
        let state = if !h.online {
            "offline"
        } else if h.busy {
            "busy"
        } else {
            "online"
        };
        let boxes = h.users.iter().map(|u| {
            let count: usize = u.folders.iter().map(|f| f.messages.len()).sum();
            let (send, d, hn, un) =
                (ctx.send.clone(), ctx.state.dispatcher(), h.name.clone(), u.name.clone());
            let onclick = Callback::from(move |_| {
                send.emit(ClientMsg::Snapshot);
                d.dispatch(Action::Panel(Panel::Mailbox(hn.clone(), un.clone())));
            });
            html! {
                <button class="strip-mbox" {onclick} data-strip-mailbox={format!("{}/{}", h.name, u.name)}
                    data-count={count.to_string()} title={format!("{}'s mailbox on {}", u.name, h.name)}>
                    { format!("{} ✉{count}", u.name) }
                </button>
            }
        });
        html! {
            <div class={classes!("strip-host", state)} data-strip-host={h.name.clone()}>
                <strong>{ h.name.clone() }</strong>
                <span class="strip-state">{ state }</span>
                <span class={classes!("strip-queue", (!queue.is_empty()).then_some("waiting"))}>
                    { match (queue.len(), next) {
                        (0, _) => "queue empty".to_string(),
                        (n, Some(s)) => format!("{n} queued · next try {}", duration_words(s)),
                        (n, None) => format!("{n} queued"),
                    } }
                </span>
                { for boxes }
            </div>
        }
    });
    html! {
        <div class="world-strip" id="world-strip" aria-label="The mail world, in short">{ for hosts }</div>
    }
}
