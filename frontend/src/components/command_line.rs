//! The command line of one connection: history (up/down), Tab completion of the commands valid in the current
//! protocol state, suggestion chips, automatic IMAP tags (shown before the input, so what is sent is exactly what
//! is shown), and a multi-line editor while SMTP DATA or an IMAP literal is open, which can send the terminating
//! `.` line for you.

use mailroom_core::explain::{self, Protocol};
use mailroom_core::wire::{Bytes, ClientMsg};
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::app::use_ctx;
use crate::components::{auth_helper::AuthHelper, compose_helper::ComposeHelper};
use crate::proto::{Completion, Mode, data_bytes};
use crate::state::Action;

/// Props of [`CommandLine`].
#[derive(Properties, PartialEq)]
pub struct CommandLineProps {
    /// Connection ID.
    pub conn: u32,
}

/// Whether `line` already begins with an IMAP tag (`x1 LOGIN ...`) or needs none (`DONE`).
fn has_tag(line: &str) -> bool {
    let mut w = line.split(' ');
    let first = w.next().unwrap_or("");
    if first.eq_ignore_ascii_case("DONE") {
        return true;
    }
    let second = w.next().unwrap_or("");
    explain::command(Protocol::Imap, first).is_none() && explain::command(Protocol::Imap, second).is_some()
}

#[function_component(CommandLine)]
pub fn command_line(p: &CommandLineProps) -> Html {
    let ctx = use_ctx();
    let input = use_state(String::new);
    let body = use_state(String::new);
    let hist_pos = use_state(|| None::<usize>);
    let hint = use_state(String::new);
    let input_ref = use_node_ref();
    // While a lesson's player types, the learner's input waits (two typists on one connection would interleave
    // their lines); when it is done, the cursor is in the current connection's command line, ready to type.
    let playing = ctx.state.lesson.as_ref().is_some_and(|r| r.playing());
    let current = ctx.state.active == Some(p.conn);
    {
        let input_ref = input_ref.clone();
        let in_lesson = ctx.state.lesson.is_some();
        use_effect_with(playing, move |playing| {
            if !*playing
                && in_lesson
                && current
                && let Some(el) = input_ref.cast::<HtmlInputElement>()
            {
                let _ = el.focus();
            }
        });
    }
    {
        // A connection just opened (its pane appears as the current one): the cursor goes to its command line, not
        // left on the "Open connection" button.
        let input_ref = input_ref.clone();
        let in_lesson = ctx.state.lesson.is_some();
        use_effect_with((), move |_| {
            if current
                && !in_lesson
                && let Some(el) = input_ref.cast::<HtmlInputElement>()
            {
                let _ = el.focus();
            }
        });
    }
    let Some(c) = ctx.state.conn(p.conn) else { return html! {} };
    let conn = p.conn;
    let closed = c.closed.is_some() || playing;
    let mode = c.tracker.mode;
    let imap = c.protocol() == Protocol::Imap;
    let tag = (imap && ctx.state.auto_tag && mode == Mode::Command && !has_tag(&input))
        .then(|| format!("a{}", c.tracker.next_tag));

    let send_text = {
        let send = ctx.send.clone();
        Callback::from(move |text: String| send.emit(ClientMsg::Send { conn, data: Bytes::Text { text } }))
    };

    let submit = {
        let (input, hist_pos, hint, send_text, tag) =
            (input.clone(), hist_pos.clone(), hint.clone(), send_text.clone(), tag.clone());
        let d = ctx.state.dispatcher();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let line = match &tag {
                Some(t) => format!("{t} {}", *input),
                None => (*input).clone(),
            };
            if tag.is_some() {
                d.dispatch(Action::TagUsed(conn));
            }
            d.dispatch(Action::Typed { conn, line: (*input).clone() });
            send_text.emit(format!("{line}\r\n"));
            input.set(String::new());
            hist_pos.set(None);
            hint.set(String::new());
        })
    };

    let onkeydown = {
        let (input, hist_pos, hint) = (input.clone(), hist_pos.clone(), hint.clone());
        let history = c.history.clone();
        let tracker = c.tracker.clone();
        Callback::from(move |e: KeyboardEvent| match e.key().as_str() {
            "ArrowUp" if !history.is_empty() => {
                e.prevent_default();
                let i = hist_pos.map_or(history.len() - 1, |i| i.saturating_sub(1));
                hist_pos.set(Some(i));
                input.set(history[i].clone());
            }
            "ArrowDown" => {
                if let Some(i) = *hist_pos {
                    e.prevent_default();
                    if i + 1 < history.len() {
                        hist_pos.set(Some(i + 1));
                        input.set(history[i + 1].clone());
                    } else {
                        hist_pos.set(None);
                        input.set(String::new());
                    }
                }
            }
            // Tab completes; with nothing typed it keeps its usual meaning (move focus), for keyboard users.
            "Tab" if !input.is_empty() && !e.shift_key() => match tracker.complete(&input) {
                Completion::Done(s) => {
                    e.prevent_default();
                    input.set(s);
                    hint.set(String::new());
                }
                Completion::Ambiguous(v) => {
                    e.prevent_default();
                    hint.set(format!("Possible now: {}", v.join(", ")));
                }
                Completion::None => hint.set("No command valid now starts like that.".into()),
            },
            _ => {}
        })
    };
    let oninput = {
        let input = input.clone();
        Callback::from(move |e: InputEvent| input.set(e.target_unchecked_into::<HtmlInputElement>().value()))
    };

    // Chips show only at the command prompt (DATA and literals get the editor below); the tracker leaves out
    // STARTTLS once TLS is up.
    let chips: Vec<Html> = c
        .tracker
        .suggestions(&c.host)
        .into_iter()
        .map(|s| {
            let (input, input_ref) = (input.clone(), input_ref.clone());
            let label = s.clone();
            let onclick = Callback::from(move |_| {
                input.set(s.clone());
                if let Some(el) = input_ref.cast::<HtmlInputElement>() {
                    let _ = el.focus();
                }
            });
            html! { <button type="button" class="chip" {onclick}>{ label }</button> }
        })
        .collect();

    if matches!(mode, Mode::Data | Mode::Literal(_)) {
        let oninput = {
            let body = body.clone();
            Callback::from(move |e: InputEvent| {
                body.set(e.target_unchecked_into::<HtmlTextAreaElement>().value())
            })
        };
        let send_lines = {
            let (body, send_text) = (body.clone(), send_text.clone());
            Callback::from(move |_| {
                send_text.emit(data_bytes(&body, false));
                body.set(String::new());
            })
        };
        let send_finish = {
            let (body, send_text) = (body.clone(), send_text.clone());
            Callback::from(move |_| {
                // A text that already ends with the lone dot (the compose helper writes it) gets no second one:
                // the second would be a protocol error.
                let has_dot = body.trim_end().lines().last().is_some_and(|l| l.trim_end() == ".");
                let text =
                    if body.is_empty() { ".\r\n".to_string() } else { data_bytes(body.trim_end(), !has_dot) };
                send_text.emit(text);
                body.set(String::new());
            })
        };
        let onkeydown = {
            let send_finish = send_finish.clone();
            Callback::from(move |e: KeyboardEvent| {
                if e.key() == "Enter" && e.ctrl_key() {
                    e.prevent_default();
                    send_finish.emit(MouseEvent::new("click").expect("a plain click event can be built"));
                }
            })
        };
        let (title, help) = match mode {
            Mode::Literal(n) => (
                format!("IMAP literal: the server waits for {n} octets"),
                format!(
                    "{} octets typed (line ends count as 2).",
                    data_bytes(&body, false).len().saturating_sub(2)
                ),
            ),
            _ => (
                "Message (DATA is open)".to_string(),
                "Headers (From: is required), an empty line, then the body. Lines starting with a dot need a \
                 second dot. Each line is sent with CR LF; a line with a single dot ends the message."
                    .to_string(),
            ),
        };
        let is_data = mode == Mode::Data;
        let on_compose = {
            let body = body.clone();
            Callback::from(move |text: String| body.set(text))
        };
        return html! {
            <div class="cmdline editor" data-mode={if is_data { "data" } else { "literal" }}>
                <label for={format!("body-{conn}")}>{ title }</label>
                if is_data {
                    <div class="row editor-tools">
                        <ComposeHelper conn={conn} from={c.tracker.envelope_from.clone()} to={c.tracker.envelope_to.clone()} {on_compose} />
                        <span class="hint">{ "writes the headers, a body and the final dot; edit anything, then send" }</span>
                    </div>
                }
                <textarea id={format!("body-{conn}")} class="body" rows="7" value={(*body).clone()} {oninput} {onkeydown}
                    disabled={closed} placeholder={"From: <alice@example.com>\nTo: <bob@example.com>\nSubject: Hello\n\nHi Bob!"}></textarea>
                <p class="hint">{ help }</p>
                <div class="row">
                    <button type="button" class="send-lines" onclick={send_lines} disabled={closed}>{ "Send these lines" }</button>
                    if is_data {
                        <button type="button" class="send-finish" onclick={send_finish} disabled={closed}
                            title="Ctrl+Enter">{ "Send and end the message with “.”" }</button>
                    }
                </div>
            </div>
        };
    }

    let d = ctx.state.dispatcher();
    let toggle_tag = Callback::from(move |_| d.dispatch(Action::ToggleAutoTag));
    let put_line = {
        let (input, input_ref) = (input.clone(), input_ref.clone());
        Callback::from(move |line: String| {
            input.set(line);
            if let Some(el) = input_ref.cast::<HtmlInputElement>() {
                let _ = el.focus();
            }
        })
    };
    let placeholder = match mode {
        Mode::Idle => "IDLE: type DONE to stop",
        Mode::Sasl => "base64 answer (or * to cancel)",
        _ => "Type a command, Enter sends, Tab completes, ↑/↓ history",
    };
    html! {
        <>
        <form class="cmdline" onsubmit={submit} data-mode={format!("{mode:?}").to_lowercase()}>
            <div class="row">
                if let Some(t) = &tag { <span class="tag" title="automatic IMAP tag: sent as shown">{ format!("{t} ") }</span> }
                <label class="sr-only" for={format!("cmd-{conn}")}>{ format!("Command for {}", c.label()) }</label>
                <input id={format!("cmd-{conn}")} class="cmd" type="text" autocomplete="off" spellcheck="false"
                    value={(*input).clone()} {oninput} {onkeydown} ref={input_ref} disabled={closed}
                    placeholder={placeholder} />
                <button type="submit" disabled={closed}>{ "Send" }</button>
            </div>
            if !hint.is_empty() { <p class="hint" role="status">{ (*hint).clone() }</p> }
            if !closed {
                <div class="chips" aria-label="Suggested next commands">{ for chips }</div>
            }
            if imap {
                <label class="opt"><input type="checkbox" checked={ctx.state.auto_tag} onchange={toggle_tag} />{ " automatic tags" }</label>
            }
        </form>
        // Outside the form: Enter in its inputs must not send the command line.
        if c.protocol() == Protocol::Smtp && !closed {
            <AuthHelper conn={conn} user={if c.host == "mx2" { "carol" } else { "alice" }} on_use={put_line} />
        }
        </>
    }
}
