//! The AUTH helper next to an SMTP command line: user and password in, the AUTH PLAIN line (base64 of
//! `\0user\0password`, RFC 4616) and the three AUTH LOGIN lines out, with what the base64 decodes to, so a learner
//! sees that base64 hides nothing (why plaintext AUTH needs TLS). A button puts a line into the command input.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::assist::{auth_login, auth_plain, base64, plain_decoded};

/// Props of [`AuthHelper`].
#[derive(Properties, PartialEq)]
pub struct AuthHelperProps {
    /// Connection ID (element ids).
    pub conn: u32,
    /// The user to suggest (alice on mx1, carol on mx2).
    pub user: AttrValue,
    /// Puts a line into the command input.
    pub on_use: Callback<String>,
}

#[function_component(AuthHelper)]
pub fn auth_helper(p: &AuthHelperProps) -> Html {
    let user = use_state(|| p.user.to_string());
    let pass = use_state(|| "password".to_string());
    let input = |h: UseStateHandle<String>| {
        Callback::from(move |e: InputEvent| h.set(e.target_unchecked_into::<HtmlInputElement>().value()))
    };
    let plain = auth_plain(&user, &pass);
    let login = auth_login(&user, &pass);
    let use_line = |line: String| {
        let on_use = p.on_use.clone();
        Callback::from(move |_| on_use.emit(line.clone()))
    };
    let conn = p.conn;
    html! {
        <details class="helper auth-helper" id={format!("auth-helper-{conn}")}>
            <summary>{ "AUTH helper (log in: user + password → base64)" }</summary>
            <div class="helper-body">
                <label>{ "User " }<input id={format!("auth-user-{conn}")} value={(*user).clone()} oninput={input(user.clone())} size="10" /></label>
                <label>{ " Password " }<input id={format!("auth-pass-{conn}")} value={(*pass).clone()} oninput={input(pass.clone())} size="10" /></label>
                <p><code class="auth-line" id={format!("auth-plain-{conn}")}>{ plain.clone() }</code>
                    <button type="button" class="use-line" id={format!("auth-plain-use-{conn}")} onclick={use_line(plain)}>{ "Put in command line" }</button></p>
                <p class="hint">{ format!("The base64 decodes to {} (the NULs, \\0, separate the fields). Base64 is not encryption: \
                    anyone who sees this line has the password, which is why real clients log in only after STARTTLS.",
                    plain_decoded(&user, &pass)) }</p>
                <p class="hint">{ "Or AUTH LOGIN: the command, then the user and the password, each base64 on its own line after the server's 334:" }</p>
                <ol class="login-lines">
                    <li><code>{ login[0].clone() }</code>{ " " }<button type="button" class="use-line" onclick={use_line(login[0].clone())}>{ "Use" }</button></li>
                    <li><code>{ login[1].clone() }</code>{ format!(" = {}", *user) }{ " " }<button type="button" class="use-line" onclick={use_line(login[1].clone())}>{ "Use" }</button></li>
                    <li><code>{ login[2].clone() }</code>{ format!(" = {}", *pass) }{ " " }<button type="button" class="use-line" onclick={use_line(login[2].clone())}>{ "Use" }</button></li>
                </ol>
                <p class="hint">{ format!("(The server's 334 {} means “Username:”.)", base64(b"Username:")) }</p>
            </div>
        </details>
    }
}
