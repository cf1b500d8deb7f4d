//! The side panel: the explanation of the selected line, a mailbox's server-side view, the relay transcripts, or
//! the lesson list and a short how-to when nothing is selected (every step of it works as written: no step leads
//! into a refusal the learner cannot get out of).

use mailroom_core::explain::Protocol;
use mailroom_core::wire::Dir;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::components::{
    explain_panel::ExplainPanel, ladder_view::LadderView, lesson_list::LessonList, mailbox::MailboxView,
};
use crate::state::{Action, Panel};
use crate::transcript::classify;

#[function_component(SidePanel)]
pub fn side_panel() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    let body = match &s.panel {
        Panel::Help => html! {
            <div class="help" id="help">
                <h2>{ "Lessons" }</h2>
                <p class="muted">{ "Each lesson sets up the world, opens what it needs and checks what really happens." }</p>
                <LessonList />
                <h2>{ "How to play freely" }</h2>
                <ol>
                    <li>{ "Open mx1 SMTP. Type EHLO me, then MAIL FROM:<alice@example.com> and RCPT TO:<bob@example.com> (bob is a user of mx1, so no login is needed)." }</li>
                    <li>{ "Type DATA, press “Compose” in the message editor, and send it: bob's mailbox in the picture below counts one more." }</li>
                    <li>{ "For carol@example.net (another domain, on mx2) log in first: open mx1 Submission, EHLO, then use the AUTH helper under the command line. Without it mx1 answers 554 relay access denied: it is no open relay." }</li>
                    <li>{ "Take mx2 offline to see mail wait in mx1's queue; the skip buttons move this sandbox's clock to the next retry or the expiry." }</li>
                    <li>{ "Open mx1 POP3 or IMAP and log in (USER bob, PASS password; or LOGIN bob password) to read it. Click any transcript line to see what it means." }</li>
                </ol>
            </div>
        },
        Panel::Explain(conn, row) => html! { <ExplainPanel conn={*conn} row={*row} /> },
        Panel::Mailbox(host, user) => html! { <MailboxView host={host.clone()} user={user.clone()} /> },
        Panel::Relay => relay(s),
        Panel::Ladder => html! { <LadderView /> },
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
                    // Coloured by meaning like the learner's own transcripts; long lines (a certificate's whole
                    // fingerprint) wrap instead of being cut.
                    <pre class="relay-lines">{ for r.lines.iter().map(|l| {
                        let class = if l.dir == Dir::C { "c" } else { classify(Protocol::Smtp, &l.line).css() };
                        html! { <span class={classes!("rl", class)}>{ format!("{:>5} ms {}: {}\n", l.ms, l.dir, l.line) }</span> }
                    }) }</pre>
                </section>
            }) }
        </div>
    }
}
