//! A mailbox's server-side view: folders, messages and flags from the latest snapshot, so a learner sees POP3
//! delete and IMAP keep.

use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::app::use_ctx;

/// Props of [`MailboxView`].
#[derive(Properties, PartialEq)]
pub struct MailboxProps {
    /// Host.
    pub host: String,
    /// User.
    pub user: String,
}

/// A folder's depth in the hierarchy and its own name (`Projects/2026` is 1, `2026`; `/` or `.` separate levels).
fn folder_depth(name: &str) -> (usize, &str) {
    let sep = if name.contains('/') { '/' } else { '.' };
    let depth = name.matches(sep).count();
    (depth, name.rsplit(sep).next().unwrap_or(name))
}

#[function_component(MailboxView)]
pub fn mailbox_view(p: &MailboxProps) -> Html {
    let ctx = use_ctx();
    let user = ctx
        .state
        .world
        .as_ref()
        .and_then(|w| w.hosts.iter().find(|h| h.name == p.host))
        .and_then(|h| h.users.iter().find(|u| u.name == p.user).map(|u| (h, u)));
    let refresh = {
        let send = ctx.send.clone();
        Callback::from(move |_| send.emit(ClientMsg::Snapshot))
    };
    let Some((host, u)) = user else {
        return html! { <div id="mailbox-view"><p>{ "No such mailbox in the latest snapshot." }</p></div> };
    };
    let total: usize = u.folders.iter().map(|f| f.messages.len()).sum();
    html! {
        <div id="mailbox-view" data-user={format!("{}/{}", p.host, p.user)} data-count={total.to_string()}>
            <h2>{ format!("{}@{} on {}", u.name, host.domain, host.name) }</h2>
            <p>{ "What the server stores, whatever the clients show." }
                <button onclick={refresh} class="refresh">{ "Refresh" }</button></p>
            { for u.folders.iter().map(|f| {
                // The hierarchy the learner built (`Projects/2026` under `Projects`): indented by depth, the leaf name
                // shown, the full name in the tooltip.
                let (depth, leaf) = folder_depth(&f.name);
                html! {
                <section class="folder" data-folder={f.name.clone()} style={format!("margin-left:{}em", depth as f32 * 1.2)}>
                    <h3 title={f.name.clone()}>{ if depth > 0 { "└ " } else { "" } }{ format!("{leaf} ({} message{})", f.messages.len(), if f.messages.len() == 1 { "" } else { "s" }) }</h3>
                    if f.messages.is_empty() { <p class="muted">{ "empty" }</p> } else {
                        <table class="messages">
                            <thead><tr><th scope="col">{ "UID" }</th><th scope="col">{ "From" }</th>
                                <th scope="col">{ "Subject" }</th><th scope="col">{ "Flags" }</th><th scope="col">{ "Size" }</th></tr></thead>
                            <tbody>{ for f.messages.iter().map(|m| html! {
                                <tr class="message" data-uid={m.uid.to_string()}>
                                    <td>{ m.uid }</td><td>{ m.from.clone() }</td><td class="subject">{ m.subject.clone() }</td>
                                    <td>{ if m.flags.is_empty() { "—".to_string() } else { m.flags.join(" ") } }</td>
                                    <td>{ m.size }</td>
                                </tr>
                            }) }</tbody>
                        </table>
                    }
                </section>
            }}) }
        </div>
    }
}
