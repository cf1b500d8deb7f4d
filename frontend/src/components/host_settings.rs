//! A host's switches beyond online/offline: busy (its SMTP greets with `421` and closes, a temporary failure) and
//! the extensions it advertises (EHLO, CAPA and CAPABILITY change at once). Sandboxes and rooms only.

use mailroom_core::wire::{ClientMsg, HostSnap, SWITCHABLE};
use yew::prelude::*;

use crate::app::use_ctx;

/// Props of [`HostSettings`].
#[derive(Properties, PartialEq)]
pub struct HostSettingsProps {
    /// The host, from the latest snapshot.
    pub host: HostSnap,
}

#[function_component(HostSettings)]
pub fn host_settings(p: &HostSettingsProps) -> Html {
    let ctx = use_ctx();
    let h = &p.host;
    let busy = {
        let (send, name, busy) = (ctx.send.clone(), h.name.clone(), h.busy);
        Callback::from(move |_| send.emit(ClientMsg::SetBusy { host: name.clone(), busy: !busy }))
    };
    let off = |proto: &str, name: &str| h.extensions_off.iter().any(|(p, n)| p == proto && n == name);
    let group = |proto: &'static str, title: &'static str| {
        html! {
            <fieldset class="ext-group">
                <legend>{ title }</legend>
                { for SWITCHABLE.iter().filter(|(p, _)| *p == proto).map(|(p, n)| {
                    let on = !off(p, n);
                    let (send, host) = (ctx.send.clone(), h.name.clone());
                    let onchange = Callback::from(move |_| send.emit(ClientMsg::SetExtension {
                        host: host.clone(), protocol: p.to_string(), name: n.to_string(), on: !on,
                    }));
                    html! {
                        <label class="ext">
                            <input type="checkbox" checked={on} {onchange}
                                data-ext={format!("{}/{}/{}", h.name, p, n)} />{ *n }
                        </label>
                    }
                }) }
            </fieldset>
        }
    };
    html! {
        <details class="host-settings" data-settings={h.name.clone()}>
            <summary>{ format!("{}: busy, extensions", h.name) }</summary>
            <button onclick={busy} data-busy-toggle={h.name.clone()} aria-pressed={h.busy.to_string()}>
                { if h.busy { format!("Make {} ready again", h.name) } else { format!("Make {} busy (421)", h.name) } }
            </button>
            <p class="muted">{ "Busy: it accepts the connection, answers 421 and closes: a temporary failure, so senders queue and retry. Untick an extension and EHLO, CAPA or CAPABILITY stop advertising it at once." }</p>
            { group("smtp", "SMTP (EHLO)") }
            { group("pop3", "POP3 (CAPA)") }
            { group("imap", "IMAP (CAPABILITY)") }
        </details>
    }
}
