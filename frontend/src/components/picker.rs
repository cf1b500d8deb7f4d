//! The connection picker: host (mx1 example.com / mx2 example.net) and service with its well-known port ("IMAP,
//! port 143"). The page's connections go through the WebSocket, so no TCP port is claimed here: the world info in
//! the header says whether and where real clients reach a world.

use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::state::Link;

/// Services with their well-known ports and a few words.
pub const SERVICES: &[(&str, &str, u16)] = &[
    ("smtp", "SMTP", 25),
    ("submission", "Submission", 587),
    ("smtps", "SMTPS", 465),
    ("pop3", "POP3", 110),
    ("pop3s", "POP3S", 995),
    ("imap", "IMAP", 143),
    ("imaps", "IMAPS", 993),
];

#[function_component(Picker)]
pub fn picker() -> Html {
    let ctx = use_ctx();
    let host = use_state(|| ctx.state.preset.host.clone().unwrap_or_else(|| "mx1".into()));
    let service = use_state(|| ctx.state.preset.service.clone().unwrap_or_else(|| "smtp".into()));
    let hosts: Vec<(String, String)> = match &ctx.state.world {
        Some(w) if !w.hosts.is_empty() => {
            w.hosts.iter().map(|h| (h.name.clone(), h.domain.clone())).collect()
        }
        _ => vec![("mx1".into(), "example.com".into()), ("mx2".into(), "example.net".into())],
    };
    let on_host = {
        let host = host.clone();
        Callback::from(move |e: Event| host.set(e.target_unchecked_into::<HtmlSelectElement>().value()))
    };
    let on_service = {
        let service = service.clone();
        Callback::from(move |e: Event| service.set(e.target_unchecked_into::<HtmlSelectElement>().value()))
    };
    let on_open = {
        let (ctx, host, service) = (ctx.clone(), host.clone(), service.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            ctx.open(&host, &service);
        })
    };
    let up = ctx.state.link == Link::Up;
    html! {
        <form class="picker" onsubmit={on_open} aria-label="Open a connection">
            <label>{ "Host " }
                <select id="picker-host" onchange={on_host}>
                    { for hosts.iter().map(|(h, d)| html! {
                        <option value={h.clone()} selected={*h == *host}>{ format!("{h} ({d})") }</option>
                    }) }
                </select>
            </label>
            <label>{ "Service " }
                <select id="picker-service" onchange={on_service}>
                    { for SERVICES.iter().map(|(id, name, port)| html! {
                        <option value={*id} selected={*id == service.as_str()}>
                            { format!("{name}, port {port}") }
                        </option>
                    }) }
                </select>
            </label>
            <button type="submit" id="open-conn" disabled={!up}>{ "Open connection" }</button>
        </form>
    }
}
