//! The transcript of one connection: `C:`/`S:` lines coloured by meaning (the meaning is also in the title, so
//! colour is never the only carrier), the timestamp on hover, an optional CR LF view, the TLS marker and the
//! close reason. Only a window of the last rows is in the DOM (more on request), so 10,000 lines stay smooth.
//! It is an ARIA live log; arrow keys move the selection, whose explanation the side panel shows.

use wasm_bindgen::JsCast;
use web_sys::HtmlElement;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::state::{Action, Panel, Row};
use crate::transcript::{clock, export, prefix, visible};

/// Rows in the DOM by default; "show earlier" adds as many again.
const WINDOW: usize = 300;

/// Props of [`TranscriptView`].
#[derive(Properties, PartialEq)]
pub struct TranscriptProps {
    /// Connection ID.
    pub conn: u32,
}

#[function_component(TranscriptView)]
pub fn transcript_view(p: &TranscriptProps) -> Html {
    let ctx = use_ctx();
    let window = use_state(|| WINDOW);
    let node = use_node_ref();
    let stick = use_mut_ref(|| true);
    let copied = use_state(|| false);
    let s = &ctx.state;
    let Some(c) = s.conn(p.conn) else { return html! {} };
    let total = c.rows.end();
    let dropped = c.rows.dropped;

    // Follow the end while the learner has not scrolled up.
    {
        let node = node.clone();
        let stick = stick.clone();
        use_effect_with(total, move |_| {
            if *stick.borrow()
                && let Some(el) = node.cast::<HtmlElement>()
            {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }
    let onscroll = {
        let node = node.clone();
        let stick = stick.clone();
        Callback::from(move |_: Event| {
            if let Some(el) = node.cast::<HtmlElement>() {
                *stick.borrow_mut() = el.scroll_top() + el.client_height() >= el.scroll_height() - 24;
            }
        })
    };
    let selected = match s.panel {
        Panel::Explain(conn, row) if conn == p.conn => Some(row),
        _ => None,
    };
    let onkeydown = {
        let d = s.dispatcher();
        let conn = p.conn;
        let first = dropped;
        Callback::from(move |e: KeyboardEvent| {
            let last = total.saturating_sub(1);
            let next = match (e.key().as_str(), selected) {
                ("ArrowDown", Some(r)) => (r + 1).min(last),
                ("ArrowUp", Some(r)) => r.saturating_sub(1).max(first),
                ("ArrowDown" | "ArrowUp" | "Enter", None) if total > 0 => last,
                ("Home", _) if total > 0 => first.max(total.saturating_sub(WINDOW)),
                ("End", _) if total > 0 => last,
                _ => return,
            };
            e.prevent_default();
            d.dispatch(Action::Panel(Panel::Explain(conn, next)));
        })
    };
    let start = total.saturating_sub(*window).max(dropped);
    let crlf = s.show_crlf;
    let rows = (start..total).filter_map(|abs| c.row(abs).map(|r| (abs, r))).map(|(abs, r)| {
        let d = s.dispatcher();
        let conn = p.conn;
        let onclick = Callback::from(move |_| d.dispatch(Action::Panel(Panel::Explain(conn, abs))));
        let sel = selected == Some(abs);
        match r {
            Row::Line(l) => html! {
                <div class={classes!("line", l.class.css(), sel.then_some("sel"))} data-row={abs.to_string()}
                    title={format!("{} — {}", clock(l.at), l.class.words())} onclick={onclick} aria-selected={sel.to_string()}>
                    <span class="dir">{ prefix(l.dir) }</span>
                    <span class="txt">{ visible(&l.text, l.eol, crlf) }</span>
                </div>
            },
            Row::Tls(t) => html! {
                <div class={classes!("line", "tls-mark", sel.then_some("sel"))} data-row={abs.to_string()} onclick={onclick}>
                    { format!("— TLS began here ({}): {}, {}; certificate {} (SHA-256 {}) —",
                        if t.implicit { "implicit TLS" } else { "STARTTLS" }, t.session.version, t.session.cipher, t.subject,
                        t.sha256.get(..23).unwrap_or(&t.sha256)) }
                </div>
            },
            Row::Closed(reason) => html! {
                <div class={classes!("line", "closed-mark", sel.then_some("sel"))} data-row={abs.to_string()} onclick={onclick}>
                    { format!("— connection closed: {reason} —") }
                </div>
            },
        }
    });
    let more = start > dropped;
    let show_more = {
        let window = window.clone();
        Callback::from(move |_| window.set(*window + WINDOW))
    };
    // The export text is built only when asked for (cloning `Rows` shares its chunks).
    let text_of = {
        let rows = c.rows.clone();
        move || export(rows.iter().filter_map(|r| if let Row::Line(l) = r { Some(l) } else { None }))
    };
    let on_export = {
        let text_of = text_of.clone();
        let name = format!("mailroom-{}-{}.txt", c.host, c.service);
        Callback::from(move |_| download(&name, &text_of()))
    };
    let on_copy = {
        let copied = copied.clone();
        Callback::from(move |_| {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&text_of());
                copied.set(true);
            }
        })
    };
    let d = s.dispatcher();
    let toggle_crlf = Callback::from(move |_| d.dispatch(Action::ToggleCrlf));
    html! {
        <div class="transcript-wrap">
            <div class="toolbar">
                <label><input type="checkbox" checked={crlf} onchange={toggle_crlf} class="crlf-toggle" />{ " show CR LF" }</label>
                <button onclick={on_export} class="export">{ "Export as text" }</button>
                <button onclick={on_copy} class="copy">{ if *copied { "Copied" } else { "Copy" } }</button>
            </div>
            <div class="transcript" role="log" aria-live="polite" aria-label={format!("Transcript of {}", c.label())}
                tabindex="0" ref={node} {onscroll} {onkeydown}>
                if dropped > 0 { <p class="note">{ format!("{dropped} early lines were dropped to save memory.") }</p> }
                if more { <button class="more" onclick={show_more}>{ format!("Show earlier lines ({} hidden)", start - dropped) }</button> }
                { for rows }
            </div>
        </div>
    }
}

/// Saves text as a file through a temporary object URL.
pub fn download(name: &str, text: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let parts = js_sys::Array::of1(&text.into());
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/plain;charset=utf-8");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    if let Ok(a) = doc.create_element("a")
        && let Ok(a) = a.dyn_into::<web_sys::HtmlAnchorElement>()
    {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
