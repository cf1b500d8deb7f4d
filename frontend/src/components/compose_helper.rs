//! The compose helper of the SMTP DATA editor: one button that writes a valid message into the editor — `From:`
//! and `To:` from the connection's envelope (the MAIL FROM and RCPT TO the server accepted), `Subject:`, `Date:`
//! (RFC 5322 format), `Message-ID:`, a blank line, a body and the line with a single dot that ends DATA — for the
//! learner to edit and send. (mx1 refuses a message without `From:` with 550 5.6.0.)

use yew::prelude::*;

use crate::assist::compose;

/// Props of [`ComposeHelper`].
#[derive(Properties, PartialEq)]
pub struct ComposeHelperProps {
    /// Connection ID (element ids).
    pub conn: u32,
    /// Envelope sender, if known.
    pub from: Option<String>,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// Replaces the editor's text.
    pub on_compose: Callback<String>,
}

#[function_component(ComposeHelper)]
pub fn compose_helper(p: &ComposeHelperProps) -> Html {
    let onclick = {
        let (from, to, cb) = (p.from.clone().unwrap_or_default(), p.to.clone(), p.on_compose.clone());
        Callback::from(move |_| {
            let now = js_sys::Date::now() as i64;
            cb.emit(compose(&from, &to, "Hello from Mailroom", "Hi!\nThis message was typed by hand.", now));
        })
    };
    html! {
        <button type="button" class="compose" id={format!("compose-{}", p.conn)} {onclick}
            title="Writes From:, To:, Subject:, Date: and Message-ID:, a blank line, a body and the final dot">
            { "✎ Compose" }
        </button>
    }
}
