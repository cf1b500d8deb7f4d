//! The picture of the mail world (SVG): the learner's devices (laptop, phone), mx1 and mx2 with their services, the link between
//! them (a lock once a relay used TLS), each host's spool with deferred messages and a countdown to the next try,
//! each user's mailbox with its message count. Recent events animate (a message travelling, arriving, waiting,
//! bouncing back). Below: offline/online switches, "retry now" and "reset world" as ordinary buttons.

use chrono::{DateTime, Utc};
use mailroom_core::event::EventKind;
use mailroom_core::wire::{ClientMsg, HostSnap, QueueSnap};
use yew::prelude::*;

use crate::app::use_ctx;
use crate::components::{
    host_settings::HostSettings, picker::SERVICES, queue_panel::QueuePanel, skip_controls::SkipControls,
};
use crate::hooks::use_now::use_now;
use crate::state::{Action, Panel};

/// How long an event's animation is shown.
const ANIM_MS: f64 = 2500.0;

/// x of each host box.
fn host_x(i: usize) -> f64 {
    150.0 + 300.0 * i as f64
}

fn ms(t: &DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64
}

#[function_component(World)]
pub fn world() -> Html {
    let ctx = use_ctx();
    let now = use_now();
    let s = &ctx.state;
    let Some(w) = &s.world else {
        return html! { <div class="world" id="world"><p>{ "Waiting for the world's state…" }</p></div> };
    };
    // Queue times are in the world's time, which runs ahead of ours in a sandbox whose clock was skipped.
    let world_now = now + w.clock_offset_ms as f64;
    let hosts: Vec<&HostSnap> = w.hosts.iter().take(2).collect();
    // Green with a lock only while both ends are up: a link to an offline host carries nothing, encrypted or not.
    let tls_link = s.events.iter().any(|e| matches!(e.kind, EventKind::RelayTls { .. }))
        && hosts.iter().all(|h| h.online);
    let host_index = |name: &str| hosts.iter().position(|h| h.name == name);

    let boxes = hosts.iter().enumerate().map(|(i, h)| {
        let x = host_x(i);
        let queue: Vec<&QueueSnap> = w.queue.iter().filter(|q| q.host == h.name).collect();
        let next = queue
            .iter()
            .filter_map(|q| q.next_attempt.as_deref())
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| ((t.timestamp_millis() as f64 - world_now) / 1000.0).ceil().max(0.0))
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))));
        let expiry = queue
            .iter()
            .filter_map(|q| DateTime::parse_from_rfc3339(&q.expires_at).ok())
            .map(|t| ((t.timestamp_millis() as f64 - world_now) / 1000.0).ceil().max(0.0))
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))));
        let queue_text = match (queue.len(), next) {
            (0, _) => "queue empty".to_string(),
            (n, Some(secs)) => format!("{n} waiting · next try in {secs} s"),
            (n, None) => format!("{n} waiting"),
        };
        let expiry_text = expiry.map(|e| format!("bounces in {e} s unless delivered")).unwrap_or_default();
        // The well-known ports the services stand for (a sandbox or room has no TCP port of its own; the header
        // says where real clients reach the persistent world).
        let services: Vec<String> = SERVICES.iter().map(|(_, name, port)| format!("{name} {port}")).collect();
        let mboxes = h.users.iter().enumerate().map(|(j, u)| {
            let count: usize = u.folders.iter().map(|f| f.messages.len()).sum();
            let mx = x + (j % 3) as f64 * 66.0;
            let my = 268.0 + (j / 3) as f64 * 46.0;
            let d = s.dispatcher();
            let send = ctx.send.clone();
            let (hn, un) = (h.name.clone(), u.name.clone());
            let open = Callback::from(move |_| {
                // Ask for a fresh snapshot so the view is current even between the server's own updates.
                send.emit(ClientMsg::Snapshot);
                d.dispatch(Action::Panel(Panel::Mailbox(hn.clone(), un.clone())));
            });
            let open2 = open.clone();
            let onkeydown = Callback::from(move |e: KeyboardEvent| {
                if e.key() == "Enter" || e.key() == " " {
                    e.prevent_default();
                    open2.emit(MouseEvent::new("click").expect("a plain click event can be built"));
                }
            });
            html! {
                <g class="mbox" tabindex="0" role="button" data-mailbox={format!("{}/{}", h.name, u.name)}
                    data-count={count.to_string()} onclick={open} {onkeydown}
                    aria-label={format!("{}'s mailbox on {}: {count} message{}", u.name, h.name, if count == 1 { "" } else { "s" })}>
                    <rect x={mx.to_string()} y={my.to_string()} width="60" height="38" rx="4" />
                    <text x={(mx + 30.0).to_string()} y={(my + 16.0).to_string()} text-anchor="middle">{ u.name.clone() }</text>
                    <text x={(mx + 30.0).to_string()} y={(my + 31.0).to_string()} text-anchor="middle" class="count">{ format!("✉ {count}") }</text>
                </g>
            }
        });
        html! {
            <g class={classes!("host", if h.online { "online" } else { "offline" }, h.busy.then_some("busy"))} data-host={h.name.clone()}>
                <rect x={x.to_string()} y="30" width="200" height="140" rx="8" />
                <text x={(x + 10.0).to_string()} y="52" class="host-name">{ format!("{} · {}", h.name, h.domain) }</text>
                <text x={(x + 190.0).to_string()} y="160" text-anchor="end" class="host-state">{ if !h.online { "OFFLINE" } else if h.busy { "BUSY (421)" } else { "online" } }</text>
                { for services.chunks(2).enumerate().map(|(k, pair)| html! {
                    <text x={(x + 10.0).to_string()} y={(74.0 + 18.0 * k as f64).to_string()} class="svc">{ pair.join(" · ") }</text>
                }) }
                <g class={classes!("spool", (!queue.is_empty()).then_some("busy"))} data-spool={h.name.clone()} data-queued={queue.len().to_string()}>
                    <rect x={x.to_string()} y="190" width="200" height="56" rx="6" />
                    <text x={(x + 10.0).to_string()} y="210" class="spool-title">{ "Spool (queue)" }</text>
                    <text x={(x + 10.0).to_string()} y="228" class="spool-text">{ queue_text }</text>
                    <text x={(x + 10.0).to_string()} y="242" class="spool-exp">{ expiry_text }</text>
                </g>
                { for mboxes }
            </g>
        }
    });

    // Tall enough for the rows of mailboxes drawn (three a row), no empty band below them.
    let rows = hosts.iter().map(|h| h.users.len().div_ceil(3)).max().unwrap_or(1).max(1);
    let height = 268 + rows * 46;
    let d = s.dispatcher();
    let open_relay = Callback::from(move |_| d.dispatch(Action::Panel(Panel::Relay)));
    let open_relay2 = open_relay.clone();
    let link_key = Callback::from(move |e: KeyboardEvent| {
        if e.key() == "Enter" || e.key() == " " {
            e.prevent_default();
            open_relay2.emit(MouseEvent::new("click").expect("a plain click event can be built"));
        }
    });
    let link = (hosts.len() == 2).then(|| html! {
        <g class={classes!("link", tls_link.then_some("tls"))} tabindex="0" role="button" id="relay-link"
            aria-label="The link between the hosts: open the relay conversations" onclick={open_relay} onkeydown={link_key}>
            <line x1="350" y1="100" x2="450" y2="100" />
            <rect x="350" y="88" width="100" height="24" class="hit" />
            <text x="400" y="84" text-anchor="middle">{ if tls_link { "SMTP relay, TLS" } else { "SMTP relay" } }</text>
            if tls_link {
                <g class="lock" aria-hidden="true" transform="translate(392 120)">
                    <path d="M3 8 V5 a5 5 0 0 1 10 0 V8" />
                    <rect x="0" y="8" width="16" height="12" rx="2" />
                </g>
            }
        </g>
    });
    // Devices: the learner's devices (a lesson names them; free play: "laptop", and "phone" for the connection shown
    // side by side), each with one line to every host it has an open connection to.
    let mut devices: Vec<String> = Vec::new();
    for c in &s.conns {
        let d = crate::ladder::device_of(s, c);
        if !devices.contains(&d) {
            devices.push(d);
        }
    }
    if devices.is_empty() {
        devices.push("your browser".into());
    }
    devices.truncate(2);
    let dev_y = |k: usize| if devices.len() == 1 { 75.0 } else { 45.0 + 70.0 * k as f64 };
    let device_boxes = devices.iter().enumerate().map(|(k, d)| {
        let y = dev_y(k);
        html! {
            <g class="device" data-device={d.clone()}>
                <rect x="10" y={y.to_string()} width="100" height="50" rx="6" />
                <text x="60" y={(y + 30.0).to_string()} text-anchor="middle">{ d.clone() }</text>
            </g>
        }
    });
    let device_lines = devices.iter().enumerate().flat_map(|(k, d)| {
        let y = dev_y(k) + 25.0;
        hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                s.conns
                    .iter()
                    .any(|c| c.closed.is_none() && c.host == h.name && crate::ladder::device_of(s, c) == *d)
            })
            .map(move |(i, _)| {
                // The line to the second host arcs over the first, so both stay visible.
                let d = if i == 0 {
                    format!("M110 {y} L{} {y}", host_x(0))
                } else {
                    format!("M110 {} C 180 0, {} 0, {} 40", y - 10.0, host_x(i) - 60.0, host_x(i) + 20.0)
                };
                html! { <path class="device-line" d={d} /> }
            })
            .collect::<Vec<_>>()
    });
    // Animations for events of the last few seconds.
    let anims = s.events.iter().enumerate().filter(|(_, e)| world_now - ms(&e.at) < ANIM_MS && ms(&e.at) - world_now < ANIM_MS).filter_map(|(k, e)| {
        let hi = host_index(&e.host)?;
        let hx = host_x(hi) + 100.0;
        // Envelopes travel in the empty lane between the host boxes and the spools (y = 180), never over text.
        const LANE: f64 = 180.0;
        let (cls, from, to) = match &e.kind {
            EventKind::Received { .. } => ("travel", (110.0, LANE), (hx, LANE)),
            EventKind::Delivered { mx: Some(mx), mailbox: None, .. } => {
                let ti = host_index(mx.split('.').next().unwrap_or(mx)).unwrap_or(1 - hi.min(1));
                ("travel", (hx, LANE), (host_x(ti) + 100.0, LANE))
            }
            EventKind::Delivered { rcpt, .. } => {
                // Into the recipient's own mailbox (its place in the picture, as drawn below).
                let local = rcpt.split('@').next().unwrap_or("");
                let j = hosts[hi].users.iter().position(|u| u.name.eq_ignore_ascii_case(local)).unwrap_or(0);
                let to = (host_x(hi) + (j % 3) as f64 * 66.0 + 30.0, 268.0 + (j / 3) as f64 * 46.0 + 19.0);
                ("arrive", (hx, LANE), to)
            }
            EventKind::Deferred { .. } => ("wait", (host_x(hi) + 186.0, 204.0), (host_x(hi) + 186.0, 204.0)),
            EventKind::Bounced { .. } => ("bounce", (hx, LANE), (110.0, LANE)),
            _ => return None,
        };
        let style = format!("--dx:{}px;--dy:{}px", to.0 - from.0, to.1 - from.1);
        Some(html! {
            <g key={(s.event_count - s.events.len() as u64 + k as u64).to_string()} class={classes!("anim", cls)} transform={format!("translate({} {})", from.0, from.1)}>
                <g class="mover" style={style}><rect x="-10" y="-7" width="20" height="14" rx="2" /><path d="M-10 -7 L0 1 L10 -7" /></g>
            </g>
        })
    });
    let controls = hosts.iter().map(|h| {
        let send = ctx.send.clone();
        let (name, online) = (h.name.clone(), h.online);
        let onclick = Callback::from(move |_| send.emit(ClientMsg::SetOnline { host: name.clone(), online: !online }));
        html! {
            <button {onclick} data-host-toggle={h.name.clone()} aria-pressed={(!h.online).to_string()}>
                { if h.online { format!("Take {} offline", h.name) } else { format!("Bring {} online", h.name) } }
            </button>
        }
    });
    let latest = s.clone();
    let export = Callback::from(move |_| {
        // Serialising our own types cannot fail: no maps with non-string keys.
        let json = serde_json::to_string(&crate::replay::export(&latest)).expect("a replay serialises");
        crate::components::transcript_view::download("mailroom-replay.json", &json);
    });
    let d = s.dispatcher();
    let ladder = Callback::from(move |_| d.dispatch(Action::Panel(Panel::Ladder)));
    let send = ctx.send.clone();
    let retry = Callback::from(move |_| send.emit(ClientMsg::RetryQueue));
    let (send, d) = (ctx.send.clone(), s.dispatcher());
    let reset = Callback::from(move |_| {
        // Everything in this world goes (mailboxes, queues, connections): ask first.
        let sure = web_sys::window().and_then(|w| {
            w.confirm_with_message(
                "Reset this world? Every mailbox, queue and open connection goes back to the start.",
            )
            .ok()
        });
        if sure == Some(true) {
            d.dispatch(Action::ClearLog);
            send.emit(ClientMsg::ResetWorld);
        }
    });
    html! {
        <div class="world" id="world">
            <div class="world-pic">
            <svg viewBox={format!("0 0 680 {height}")} role="img" aria-labelledby="world-title" class="world-svg">
                <title id="world-title">{ "The mail world: your devices, mx1 and mx2, their queues and mailboxes" }</title>
                { for device_boxes }
                { for device_lines }
                { for boxes }
                { for link }
                { for anims }
            </svg>
            </div>
            <div class="world-controls">
                { for controls }
                <button onclick={retry} id="retry-now">{ "Retry queue now" }</button>
                <button onclick={ladder} id="open-ladder" title="Every command and reply as arrows between the devices and the hosts">{ "Ladder diagram" }</button>
                <button onclick={export} id="export-replay" title="Save the transcripts and events as a file that /?replay= plays back step by step">{ "Export replay" }</button>
                <button onclick={reset} id="reset-world">{ "Reset world" }</button>
            </div>
            // In a lesson the skip buttons sit in the lesson panel, where the learner is reading.
            if s.lesson.is_none() { <SkipControls /> }
            <QueuePanel />
            if !matches!(s.world_kind, Some(mailroom_core::wire::WorldChoice::Persistent)) {
                <div class="host-settings-row">
                    { for hosts.iter().map(|h| html! { <HostSettings host={(*h).clone()} /> }) }
                </div>
            }
        </div>
    }
}
