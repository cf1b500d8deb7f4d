//! The side panel: the explanation of the selected line, a mailbox's server-side view, the relay transcripts, or
//! a short how-to when nothing is selected.

use yew::prelude::*;

use crate::app::use_ctx;
use crate::components::{explain_panel::ExplainPanel, mailbox::MailboxView};
use crate::state::{Action, Panel};

#[function_component(SidePanel)]
pub fn side_panel() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    let body = match &s.panel {
        Panel::Help => html! {
            <div class="help" id="help">
                <h2>{ "How to play" }</h2>
                <ol>
                    <li>{ "Open mx1 SMTP and send a mail from alice@example.com to carol@example.net." }</li>
                    <li>{ "Watch it cross from mx1 to mx2 in the picture below; take mx2 offline to see it wait in the queue." }</li>
                    <li>{ "Open mx2 POP3 or IMAP, log in as carol (password: password) and read it." }</li>
                    <li>{ "Click any transcript line (or use ↑/↓ in a transcript) to see what it means." }</li>
                </ol>
            </div>
        },
        Panel::Explain(conn, row) => html! { <ExplainPanel conn={*conn} row={*row} /> },
        Panel::Mailbox(host, user) => html! { <MailboxView host={host.clone()} user={user.clone()} /> },
        Panel::Relay => relay(s),
    };
    let d = s.dispatcher();
    let close = Callback::from(move |_| d.dispatch(Action::Panel(Panel::Help)));
    html! {
        <aside class="side" aria-label="Details">
            if s.panel != Panel::Help { <button class="close-panel" onclick={close} aria-label="Close the details panel">{ "×" }</button> }
            { body }
        </aside>
    }
}

fn relay(s: &crate::state::AppState) -> Html {
    html! {
        <div id="relay-view">
            <h2>{ "Server-to-server SMTP" }</h2>
            if s.relays.is_empty() { <p>{ "No relay yet. Send a mail from example.com to example.net." }</p> }
            { for s.relays.iter().rev().map(|r| html! {
                <section class="relay">
                    <h3>{ format!("{} → {} for {}", r.from_host, r.mx, r.id) }</h3>
                    <pre class="relay-lines">{ for r.lines.iter().map(|l| html! {
                        <span class={if l.dir == 'C' { "c" } else { "s" }}>{ format!("{:>5} ms {}: {}\n", l.ms, l.dir, l.line) }</span>
                    }) }</pre>
                </section>
            }) }
        </div>
    }
}
