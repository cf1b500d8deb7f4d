//! The queue panel: every message waiting in a host's spool, with its id, sender, recipients, attempts, last
//! error, the countdown to its next try and to its expiry, and per message "Retry now" and "Return to sender now".
//! Times are in the world's time (a sandbox skipped ahead runs early).

use chrono::DateTime;
use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::hooks::use_now::use_now;

/// Seconds from `now` (world time, ms) to an RFC 3339 time, never below zero.
pub fn secs_until(t: &str, world_now: f64) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(t).ok()?;
    Some(((t.timestamp_millis() as f64 - world_now) / 1000.0).ceil().max(0.0) as i64)
}

/// A countdown in words: `45 s`, `3 min 5 s`, `2 h 10 min`, `4 d 1 h`.
pub fn duration_words(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[function_component(QueuePanel)]
pub fn queue_panel() -> Html {
    let ctx = use_ctx();
    let now = use_now();
    let Some(w) = &ctx.state.world else { return html! {} };
    if w.queue.is_empty() {
        return html! {};
    }
    let world_now = now + w.clock_offset_ms as f64;
    let rows = w.queue.iter().map(|q| {
        let next = q.next_attempt.as_deref().and_then(|t| secs_until(t, world_now));
        let exp = secs_until(&q.expires_at, world_now);
        let (send, host, id) = (ctx.send.clone(), q.host.clone(), q.id.clone());
        let retry = Callback::from(move |_| send.emit(ClientMsg::RetryMessage { host: host.clone(), id: id.clone() }));
        let (send, host, id) = (ctx.send.clone(), q.host.clone(), q.id.clone());
        let ret = Callback::from(move |_| send.emit(ClientMsg::ReturnMessage { host: host.clone(), id: id.clone() }));
        let from = if q.from.is_empty() { "<> (a bounce)".to_string() } else { q.from.clone() };
        html! {
            <li class="queued" data-queue-id={q.id.clone()} data-host={q.host.clone()}>
                <div><strong>{ format!("{} · {}", q.host, q.id) }</strong>{ format!(" from {from} to {}", q.rcpts.join(", ")) }</div>
                <div class="q-times">
                    <span>{ format!("attempts: {}", q.attempts) }</span>
                    <span class="next-try">{ match next { Some(s) => format!("next try in {}", duration_words(s)), None => "no try planned".into() } }</span>
                    <span class="expiry">{ exp.map(|s| format!("bounces in {}", duration_words(s))).unwrap_or_default() }</span>
                </div>
                if let Some(e) = &q.last_error { <div class="q-error">{ format!("last error: {e}") }</div> }
                <div class="q-actions">
                    <button onclick={retry} data-retry={q.id.clone()}>{ "Retry now" }</button>
                    <button onclick={ret} data-return={q.id.clone()}>{ "Return to sender now" }</button>
                </div>
            </li>
        }
    });
    html! {
        <section class="queue-panel" id="queue-panel" aria-label="Messages waiting in the queues">
            <h3>{ format!("Waiting in the queue ({})", w.queue.len()) }</h3>
            <ul>{ for rows }</ul>
        </section>
    }
}
