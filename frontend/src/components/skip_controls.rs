//! "Skip to next retry" / "Skip to expiry": the sandbox's clock jumps ahead, so a retry or a bounce takes seconds
//! instead of minutes. Shown only where it can work: in a private sandbox, while a queue holds mail.

use mailroom_core::clock::Skip;
use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::app::use_ctx;

#[function_component(SkipControls)]
pub fn skip_controls() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    let queued = s.world.as_ref().map_or(0, |w| w.queue.len());
    if !s.sandbox() || queued == 0 {
        return html! {};
    }
    let button = |to: Skip, key: &'static str, label: &'static str, title: &'static str| {
        let send = ctx.send.clone();
        let onclick = Callback::from(move |_| send.emit(ClientMsg::Skip { to }));
        html! { <button class="skip" data-skip={key} {onclick} {title}>{ label }</button> }
    };
    html! {
        <div class="skip-controls" role="group" aria-label="Time in this sandbox">
            { button(Skip::NextRetry, "next_retry", "Skip to next retry ⟶", "Move this sandbox's clock to the queue's next delivery attempt") }
            { button(Skip::Expiry, "expiry", "Skip to expiry ⟶", "Move this sandbox's clock to the moment the oldest queued message is too old and bounces") }
        </div>
    }
}
