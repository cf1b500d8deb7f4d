//! `use_session`: the one WebSocket to the proxy's `/ws`. It sends `wire::ClientMsg::Hello` when the socket opens
//! (with the token of an earlier session, kept in `sessionStorage`, so a reload reattaches to the same sandbox),
//! turns every `wire::ServerMsg` into an [`Action`], and reports a lost socket in words. The returned callback
//! sends a message; view code never touches the socket. A change of `AppState::reconnects` reconnects, and a
//! lost socket reconnects by itself with backoff.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use mailroom_core::wire::{ClientMsg, ServerMsg, VERSION, WorldChoice};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};
use yew::prelude::*;

use crate::state::{Action, AppState, Link, backoff_ms};

const TOKEN_KEY: &str = "mailroom-token";

/// The socket and the closures it calls (they must live as long as the socket).
struct Live {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _ping: Interval,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The WebSocket URL. A room's code goes in the query (`/ws?room=CODE`) so that a load balancer can send every
/// member of a room to the one instance that holds it (docs/deploy.md); room codes are URL-safe by construction.
fn ws_url(room: Option<&str>) -> String {
    let loc = web_sys::window().map(|w| w.location());
    let host = loc.as_ref().and_then(|l| l.host().ok()).unwrap_or_else(|| "127.0.0.1:8080".into());
    let secure = loc.and_then(|l| l.protocol().ok()).is_some_and(|p| p == "https:");
    let query = room.map(|r| format!("?room={r}")).unwrap_or_default();
    format!("{}://{host}/ws{query}", if secure { "wss" } else { "ws" })
}

fn send_on(ws: &WebSocket, msg: &ClientMsg) -> bool {
    if ws.ready_state() != WebSocket::OPEN {
        return false;
    }
    // Serialising our own enum cannot fail: it has no maps with non-string keys.
    let text = serde_json::to_string(msg).expect("ClientMsg serialises");
    ws.send_with_str(&text).is_ok()
}

/// Close codes in words (RFC 6455 §7.4.1 and the proxy's documented codes).
fn close_words(code: u16, reason: &str) -> String {
    let what = match code {
        1000 => "the server ended the session",
        1001 => "the server is going away (restart or shutdown)",
        1006 => "the connection dropped without a goodbye (server stopped or network lost)",
        1008 => "the server refused this session (policy: origin or limits)",
        1009 => "a message was too big for the server",
        1011 => "the server hit an internal error",
        1013 => "the server is too busy right now; try again shortly",
        _ => "the connection closed",
    };
    if reason.is_empty() {
        format!("{what} (code {code})")
    } else {
        format!("{what}: {reason} (code {code})")
    }
}

/// Connects to `/ws` and returns a callback that sends a message.
#[hook]
pub fn use_session(state: UseReducerHandle<AppState>) -> Callback<ClientMsg> {
    let live: Rc<RefCell<Option<Live>>> = use_mut_ref(|| None);
    let dispatch = state.dispatcher();
    let room = state.preset.room.clone();
    {
        let live = live.clone();
        let replay = state.preset.replay.is_some();
        use_effect_with(state.reconnects, move |_| {
            // A replay plays a recording: no session, no world.
            let url = ws_url(room.as_deref());
            let ws = if replay { Err(wasm_bindgen::JsValue::NULL) } else { WebSocket::new(&url) };
            match ws {
                Ok(ws) => {
                    let d = dispatch.clone();
                    let ws2 = ws.clone();
                    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                        let token = storage().and_then(|s| s.get_item(TOKEN_KEY).ok().flatten());
                        let world = match &room {
                            Some(code) => WorldChoice::Room { code: code.clone() },
                            None => WorldChoice::Sandbox,
                        };
                        send_on(&ws2, &ClientMsg::Hello { version: VERSION, token, world });
                        send_on(&ws2, &ClientMsg::Snapshot);
                        d.dispatch(Action::LinkUp);
                    });
                    let d = dispatch.clone();
                    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                        let Some(text) = e.data().as_string() else { return };
                        match serde_json::from_str::<ServerMsg>(&text) {
                            Ok(msg) => {
                                // Only a sandbox's token is kept: a room is found again by its code, and keeping
                                // its token would lose the learner's own sandbox.
                                if let ServerMsg::Welcome { token, world: WorldChoice::Sandbox, .. } = &msg
                                    && let Some(s) = storage()
                                {
                                    let _ = s.set_item(TOKEN_KEY, token);
                                }
                                d.dispatch(Action::Server(msg));
                            }
                            Err(err) => d.dispatch(Action::Server(ServerMsg::Error {
                                code: "bad_message".into(),
                                message: format!(
                                    "The page did not understand a message from the server: {err}"
                                ),
                            })),
                        }
                    });
                    let d = dispatch.clone();
                    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
                        d.dispatch(Action::LinkDown(close_words(e.code(), &e.reason())));
                    });
                    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
                    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
                    let ws3 = ws.clone();
                    // Keeps idle sessions (and reverse proxies in front of us) from timing the socket out.
                    let ping = Interval::new(25_000, move || {
                        send_on(&ws3, &ClientMsg::Ping);
                    });
                    *live.borrow_mut() = Some(Live {
                        ws,
                        _on_open: on_open,
                        _on_message: on_message,
                        _on_close: on_close,
                        _ping: ping,
                    });
                }
                Err(_) if replay => {}
                Err(_) => {
                    dispatch.dispatch(Action::LinkDown("the browser could not open a WebSocket".into()))
                }
            }
            let live = live.clone();
            move || {
                if let Some(l) = live.borrow_mut().take() {
                    l.ws.set_onclose(None);
                    let _ = l.ws.close();
                }
            }
        });
    }
    // A dropped socket reconnects by itself, waiting longer after each failure (1, 2, 4… up to 30 s); Hello
    // carries the token, so the same sandbox comes back.
    {
        let d = state.dispatcher();
        let retries = state.retries;
        use_effect_with(state.link.clone(), move |link| {
            let timer = matches!(link, Link::Down(_))
                .then(|| Timeout::new(backoff_ms(retries), move || d.dispatch(Action::Reconnect)));
            move || drop(timer)
        });
    }
    let dispatch = state.dispatcher();
    Callback::from(move |msg: ClientMsg| {
        let ok = live.borrow().as_ref().is_some_and(|l| send_on(&l.ws, &msg));
        if !ok {
            dispatch.dispatch(Action::Server(ServerMsg::Error {
                code: "not_connected".into(),
                message: "Not connected to the playground server; use Reconnect.".into(),
            }));
        }
    })
}
