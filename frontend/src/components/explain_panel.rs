//! The Explain panel: what the selected transcript line means, from the catalogue in `mailroom_core::explain`
//! (the same data the server has): command syntax and effect, reply codes digit by digit, enhanced status codes,
//! IMAP tagged/untagged/continuation, POP3 +OK/-ERR, and the RFC section.

use mailroom_core::explain::explain_line;
use yew::prelude::*;

use crate::app::use_ctx;
use crate::state::Row;
use crate::transcript::prefix;

/// Props of [`ExplainPanel`].
#[derive(Properties, PartialEq)]
pub struct ExplainProps {
    /// Connection ID.
    pub conn: u32,
    /// Absolute row.
    pub row: usize,
}

#[function_component(ExplainPanel)]
pub fn explain_panel(p: &ExplainProps) -> Html {
    let ctx = use_ctx();
    let Some(c) = ctx.state.conn(p.conn) else { return html! {} };
    let Some(row) = c.row(p.row) else { return html! { <p>{ "That line is no longer kept." }</p> } };
    let (quoted, e) = match row {
        Row::Line(l) => (format!("{}{}", prefix(l.dir), l.text), explain_line(&c.service, l.dir, &l.text)),
        Row::Tls(t) => {
            return html! {
                <div id="explain" class="explain">
                    <h2>{ "TLS began here" }</h2>
                    <p>{ format!("From this line on the conversation is encrypted ({}). What you see is what travelled inside TLS.",
                        if t.implicit { "implicit TLS: the handshake came first" } else { "upgraded with STARTTLS/STLS" }) }</p>
                    <dl>
                        <dt>{ "Version" }</dt><dd>{ t.session.version.clone() }</dd>
                        <dt>{ "Cipher suite" }</dt><dd>{ t.session.cipher.clone() }</dd>
                        <dt>{ "Certificate" }</dt><dd>{ t.subject.clone() }</dd>
                        <dt>{ "SHA-256" }</dt><dd class="fp">{ t.sha256.clone() }</dd>
                    </dl>
                    <p class="rfc">{ "RFC 8446 (TLS 1.3); RFC 3207, RFC 2595, RFC 8314" }</p>
                </div>
            };
        }
        Row::Closed(r) => {
            return html! {
                <div id="explain" class="explain"><h2>{ "The connection ended" }</h2><p>{ r.clone() }</p></div>
            };
        }
    };
    html! {
        <div id="explain" class="explain" aria-live="polite">
            <p class="quoted"><code>{ quoted }</code></p>
            <h2 class="title">{ e.title }</h2>
            { for e.body.lines().map(|l| html! { <p>{ l.to_string() }</p> }) }
            if !e.parts.is_empty() {
                <dl class="parts">
                    { for e.parts.iter().map(|pt| html! { <><dt><code>{ pt.label.clone() }</code></dt><dd>{ pt.text.clone() }</dd></> }) }
                </dl>
            }
            if !e.rfc.is_empty() { <p class="rfc">{ format!("Specified in {}", e.rfc) }</p> }
        </div>
    }
}
