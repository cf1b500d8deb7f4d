//! The ladder diagram networking courses draw: a vertical line per device of the learner and per mail host, one
//! arrow per command or reply in time order (the hosts' relay conversation included), TLS segments shaded, a long
//! wait (mail in a spool) as a labelled gap. Clicking an arrow explains its line. It shows that clients talk only
//! to servers, never to each other.

use yew::prelude::*;

use crate::app::use_ctx;
use crate::ladder::{Target, ladder};
use crate::state::{Action, Panel};

/// Horizontal distance between two columns.
const COL_W: f64 = 170.0;
/// Vertical step per arrow.
const STEP: f64 = 22.0;
/// A pause this long (ms) is drawn as a gap.
const GAP_MS: i64 = 2000;

fn short(s: &str) -> String {
    if s.chars().count() > 30 {
        format!("{}…", s.chars().take(29).collect::<String>())
    } else {
        s.to_string()
    }
}

#[function_component(LadderView)]
pub fn ladder_view() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    let (cols, arrows) = ladder(s);
    let x = |i: usize| 60.0 + COL_W * i as f64;
    let mut y = 40.0;
    let mut prev: Option<i64> = None;
    let mut items = Vec::new();
    for (k, a) in arrows.iter().enumerate() {
        if let Some(p) = prev
            && a.at - p > GAP_MS
        {
            let secs = (a.at - p) / 1000;
            let why = if a.relay { " — waiting in the spool" } else { "" };
            items.push(html! {
                <text class="gap" x="6" y={(y + 8.0).to_string()}>{ format!("⋮ {secs} s later{why}") }</text>
            });
            y += STEP;
        }
        prev = Some(a.at);
        y += STEP;
        let (x1, x2) = (x(a.from), x(a.to));
        let (lo, hi) = (x1.min(x2), x1.max(x2));
        let target = a.target.clone();
        let d = s.dispatcher();
        let onclick = Callback::from(move |_| {
            d.dispatch(Action::Panel(match &target {
                Target::Row(c, r) => Panel::Explain(*c, *r),
                Target::Relay(_) => Panel::Relay,
            }))
        });
        let head = if x2 > x1 {
            format!("{x2},{y} {},{} {},{}", x2 - 7.0, y - 4.0, x2 - 7.0, y + 4.0)
        } else {
            format!("{x2},{y} {},{} {},{}", x2 + 7.0, y - 4.0, x2 + 7.0, y + 4.0)
        };
        items.push(html! {
            <g class={classes!("arrow", a.relay.then_some("relay"), a.tls.then_some("tls"))} data-arrow={k.to_string()}
                {onclick} role="button" aria-label={a.label.clone()}>
                if a.tls { <rect class="tls-band" x={lo.to_string()} y={(y - 15.0).to_string()} width={(hi - lo).to_string()} height="19" /> }
                <text x={(lo + 6.0).to_string()} y={(y - 4.0).to_string()}>{ short(&a.label) }</text>
                <line x1={x1.to_string()} y1={y.to_string()} x2={x2.to_string()} y2={y.to_string()} />
                <polygon points={head} />
                <title>{ a.label.clone() }</title>
            </g>
        });
    }
    let height = y + 20.0;
    let width = x(cols.len().saturating_sub(1)) + 60.0;
    html! {
        <div id="ladder" class="ladder">
            <h2>{ "Ladder diagram" }</h2>
            <p class="muted">{ "Every command and reply in time order; shaded: inside TLS. Click an arrow to explain it." }</p>
            if arrows.is_empty() { <p>{ "Nothing yet: open a connection and type." }</p> }
            <div class="ladder-scroll">
                <svg width={width.to_string()} height={height.to_string()} class="ladder-svg" role="img" aria-label="Ladder diagram">
                    { for cols.iter().enumerate().map(|(i, c)| html! {
                        <g class="col">
                            <text x={x(i).to_string()} y="16" text-anchor="middle" class="col-name">{ c.clone() }</text>
                            <line x1={x(i).to_string()} y1="22" x2={x(i).to_string()} y2={height.to_string()} />
                        </g>
                    }) }
                    { for items }
                </svg>
            </div>
        </div>
    }
}
