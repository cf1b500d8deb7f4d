//! Tabs for the open connections and the panes that show them: the active one, and optionally a second one side
//! by side (two "devices" watched at once).

use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::components::{command_line::CommandLine, transcript_view::TranscriptView};
use crate::state::Action;

#[function_component(Panes)]
pub fn panes() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    if s.conns.is_empty() && s.lesson.as_ref().is_some_and(|r| !r.playing()) {
        // A lesson without connections (the queue lessons) is played with the buttons of the lesson and the world.
        return html! {
            <div class="empty" id="no-conns">
                <p>{ "This lesson starts without a connection: follow its story, and watch the picture of the world (on a phone: the World tab)." }</p>
                <p>{ "You can still open a connection above whenever you like." }</p>
            </div>
        };
    }
    if s.conns.is_empty() {
        return html! {
            <div class="empty" id="no-conns">
                <p>{ "No connection yet. Pick a host and a service above and open one." }</p>
                <p>{ "Try: mx1, SMTP — then EHLO me, MAIL FROM:<alice@example.com>, RCPT TO:<bob@example.com>, DATA (or start a lesson)." }</p>
            </div>
        };
    }
    let tabs = s.conns.iter().map(|c| {
        let id = c.id;
        let selected = s.active == Some(id);
        let split = s.split == Some(id);
        let d = s.dispatcher();
        let select = Callback::from(move |_| d.dispatch(Action::Select(id)));
        let d = s.dispatcher();
        let splitcb = Callback::from(move |_| d.dispatch(Action::Split(id)));
        let d = s.dispatcher();
        let send = ctx.send.clone();
        let open = c.closed.is_none();
        let close = Callback::from(move |_| {
            if open {
                send.emit(ClientMsg::Close { conn: id });
            } else {
                d.dispatch(Action::Forget(id));
            }
        });
        html! {
            <li class={classes!("tab", selected.then_some("sel"), split.then_some("split"), (!open).then_some("closed"))}>
                <button role="tab" aria-selected={selected.to_string()} onclick={select} data-tab={id.to_string()}>
                    { c.label() }{ if open { "" } else { " (closed)" } }
                </button>
                <button class="icon" onclick={splitcb} aria-pressed={split.to_string()} data-split={id.to_string()}
                    title="Show side by side" aria-label={format!("Show {} side by side", c.label())}>{ "⇆" }</button>
                <button class="icon" onclick={close} data-close={id.to_string()}
                    title={if open { "Close connection" } else { "Remove tab" }}
                    aria-label={format!("{} {}", if open { "Close" } else { "Remove" }, c.label())}>{ "×" }</button>
            </li>
        }
    });
    let panes: Vec<u32> = s.active.into_iter().chain(s.split).collect();
    html! {
        <>
            <ul class="tabs" role="tablist" aria-label="Open connections">{ for tabs }</ul>
            <div class={classes!("panes", (panes.len() > 1).then_some("two"))}>
                { for panes.into_iter().map(|id| html! { <Pane key={id} conn={id} /> }) }
            </div>
        </>
    }
}

/// Props of [`Pane`].
#[derive(Properties, PartialEq)]
pub struct PaneProps {
    /// Connection ID.
    pub conn: u32,
}

#[function_component(Pane)]
pub fn pane(p: &PaneProps) -> Html {
    let ctx = use_ctx();
    let Some(c) = ctx.state.conn(p.conn) else { return html! {} };
    // The well-known port the service stands for: the page reaches it through the playground, not a TCP port.
    let port = crate::components::picker::SERVICES
        .iter()
        .find(|(id, ..)| *id == c.service)
        .map(|(.., p)| format!(", port {p}"))
        .unwrap_or_default();
    let tls = c.tls.as_ref().map(|t| html! { <span class="badge tls" title={t.subject.clone()}>{ format!("TLS {}", t.session.version) }</span> });
    let state = if let Some(r) = &c.closed {
        html! { <span class="badge closed">{ format!("closed: {r}") }</span> }
    } else {
        html! { <span class="badge" title="protocol state">{ crate::proto::state_words(&c.tracker) }</span> }
    };
    html! {
        <section class="pane" data-conn={p.conn.to_string()} data-service={c.service.clone()} aria-label={c.label()}>
            <h2 class="pane-title">{ format!("{}{port}", c.label()) }{ tls }{ state }</h2>
            <TranscriptView conn={p.conn} />
            <CommandLine conn={p.conn} />
        </section>
    }
}
