//! Which world this page shows, said truthfully: a private sandbox (no TCP port reaches it), a shared room (its
//! code, how many are in it, the link to share), or the persistent world (the ports real mail clients use, from
//! `GET /api/config`). "Share this world" makes a room code and moves this browser into that room.

use mailroom_core::wire::WorldChoice;
use yew::prelude::*;

use mailroom_core::wire::SERVER_HELP;

use crate::app::use_ctx;
use crate::state::Listener;

/// A fresh room code: `room-` and eight letters or digits (random enough for a class, not a secret).
fn new_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let tail: String = (0..8)
        .map(|_| ALPHABET[(js_sys::Math::random() * ALPHABET.len() as f64) as usize % ALPHABET.len()] as char)
        .collect();
    format!("room-{tail}")
}

/// The page's own address with `?room=CODE`.
fn room_link(code: &str) -> String {
    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    format!("{origin}/?room={code}")
}

fn ports(tcp: &[Listener]) -> String {
    let mut v: Vec<String> = tcp.iter().map(|l| format!("{} {} {}", l.host, l.service, l.addr)).collect();
    v.sort();
    v.join(", ")
}

#[function_component(WorldInfo)]
pub fn world_info() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    let reach = if s.tcp.is_empty() {
        html! { <span>{ "This server has no TCP ports open for real mail clients." }</span> }
    } else {
        html! { <span>{ format!("Real mail clients reach the persistent world (a different one) at: {}.", ports(&s.tcp)) }</span> }
    };
    let share = Callback::from(|_| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().assign(&format!("/?room={}", new_code()));
        }
    });
    match &s.world_kind {
        None => html! {},
        // A site made by `mailroom static-site`: the world runs in this tab, and nothing else exists.
        Some(WorldChoice::Sandbox) if s.preset.tab_world.is_some() => html! {
            <div class="world-info" id="world-info" data-world="tab">
                <strong>{ "Your own world, in this browser tab" }</strong>
                <details>
                    <summary>{ "no server" }</summary>
                    <p>{ "Both mail hosts, their queues, mailboxes and TLS run inside this tab: nothing you type \
                          leaves your computer, and a reload starts a fresh world. Shared rooms, the persistent \
                          world that real mail clients reach on TCP ports, and other mail servers need a Mailroom \
                          server: " }<a href={SERVER_HELP} target="_blank">{ "how to run one" }</a>{ "." }</p>
                </details>
            </div>
        },
        Some(WorldChoice::Sandbox) => html! {
            <div class="world-info" id="world-info" data-world="sandbox">
                <strong>{ "Your private sandbox" }</strong>
                <details>
                    <summary>{ "no TCP port reaches it" }</summary>
                    <p>{ "Only this browser sees this world; its ports exist inside the playground only. " }{ reach }</p>
                </details>
                <button id="share-world" onclick={share} title="Make a shared room and move this browser into it">{ "Share a world…" }</button>
            </div>
        },
        Some(WorldChoice::Room { code }) => {
            let link = room_link(code);
            let l2 = link.clone();
            let copy = Callback::from(move |_| {
                if let Some(w) = web_sys::window() {
                    let _ = w.navigator().clipboard().write_text(&l2);
                }
            });
            let others = s.members.saturating_sub(1);
            html! {
                <div class="world-info room" id="world-info" data-world="room" data-members={s.members.to_string()}>
                    <strong>{ format!("Shared room {code}") }</strong>
                    <span class="members" id="members">{ match others {
                        0 => "only you here so far".to_string(),
                        1 => "you and 1 other".to_string(),
                        n => format!("you and {n} others"),
                    } }</span>
                    <label>{ "Link: " }<input id="room-link" readonly=true value={link} size="28" /></label>
                    <button onclick={copy}>{ "Copy" }</button>
                    <details><summary>{ "no TCP port reaches it" }</summary><p>{ "Everyone with the link sees this world; its ports exist inside the playground only. " }{ reach }</p></details>
                </div>
            }
        }
        Some(WorldChoice::Persistent) => html! {
            <div class="world-info" id="world-info" data-world="persistent">
                <strong>{ "The persistent world" }</strong>
                <span>{ if s.tcp.is_empty() { "(no TCP ports open)".to_string() } else { format!("real clients see the same mail at: {}", ports(&s.tcp)) } }</span>
            </div>
        },
    }
}
