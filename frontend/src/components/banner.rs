//! Errors from the proxy and a lost connection, in words, with a way to reconnect.

use yew::prelude::*;

use crate::app::use_ctx;
use crate::state::{Action, Link};

#[function_component(Banner)]
pub fn banner() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    let down = if let Link::Down(reason) = &s.link {
        let d = s.dispatcher();
        html! {
            <div class="banner down" role="alert" id="link-down">
                <span>{ format!("The connection to the playground server was lost: {reason}. Open connections were closed. Reconnecting by itself in {} s…", crate::state::backoff_ms(s.retries) / 1000) }</span>
                <button onclick={move |_| d.dispatch(Action::Reconnect)} id="reconnect">{ "Reconnect now" }</button>
            </div>
        }
    } else {
        html! {}
    };
    let err = if let Some(e) = &s.error {
        let d = s.dispatcher();
        html! {
            <div class="banner err" role="alert" id="proxy-error">
                <span>{ e.clone() }</span>
                <button onclick={move |_| d.dispatch(Action::DismissError)} aria-label="Dismiss this message">{ "Dismiss" }</button>
            </div>
        }
    } else {
        html! {}
    };
    html! { <>{ down }{ err }</> }
}
