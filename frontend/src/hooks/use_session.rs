//! `use_session`: the one link to the world: the WebSocket to the proxy's `/ws`, or, on a site made by
//! `mailroom static-site`, the Web Worker that runs the world inside this tab (the same `ClientMsg`/`ServerMsg`
//! JSON, over `postMessage`; the rest of the page cannot tell the two apart). It sends `wire::ClientMsg::Hello` when the socket opens
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
use web_sys::{CloseEvent, MessageEvent, WebSocket, Worker, WorkerOptions, WorkerType};
use yew::prelude::*;

use crate::state::{Action, AppState, Link, backoff_ms};

const TOKEN_KEY: &str = "mailroom-token";

/// What carries the messages.
enum Carrier {
    /// The proxy's `/ws`, kept alive by pings.
    Socket {
        ws: WebSocket,
        _on_open: Closure<dyn FnMut(web_sys::Event)>,
        _on_close: Closure<dyn FnMut(CloseEvent)>,
        _ping: Interval,
    },
    /// The world's Web Worker in this tab.
    Worker { worker: Worker, _on_error: Closure<dyn FnMut(web_sys::Event)> },
}

/// The link and the closures it calls (they must live as long as the link).
struct Live {
    link: Carrier,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Live {
    fn send(&self, msg: &ClientMsg) -> bool {
        match &self.link {
            Carrier::Socket { ws, .. } => send_on(ws, msg),
            Carrier::Worker { worker, .. } => {
                let text = serde_json::to_string(msg).expect("ClientMsg serialises");
                worker.post_message(&wasm_bindgen::JsValue::from_str(&text)).is_ok()
            }
        }
    }

    fn close(self) {
        match self.link {
            Carrier::Socket { ws, .. } => {
                ws.set_onclose(None);
                let _ = ws.close();
            }
            Carrier::Worker { worker, .. } => worker.terminate(),
        }
    }
}

/// Starts the tab's world: a module worker from `script` (relative to the page). On a static site the page and
/// the world are one wasm module (built with `world`): its first message is that module, already downloaded and
/// compiled, so a first visit transfers it once.
fn start_worker(script: &str) -> Result<Worker, wasm_bindgen::JsValue> {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    let worker = Worker::new_with_options(script, &opts)?;
    #[cfg(all(target_arch = "wasm32", feature = "world"))]
    worker.post_message(&wasm_bindgen::module())?;
    Ok(worker)
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
        let tab_world = state.preset.tab_world.clone();
        use_effect_with(state.reconnects, move |_| {
            let d = dispatch.clone();
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                let Some(text) = e.data().as_string() else { return };
                match serde_json::from_str::<ServerMsg>(&text) {
                    Ok(msg) => {
                        // Only a sandbox's token is kept: a room is found again by its code, and keeping its token
                        // would lose the learner's own sandbox.
                        if let ServerMsg::Welcome { token, world: WorldChoice::Sandbox, .. } = &msg
                            && let Some(s) = storage()
                        {
                            let _ = s.set_item(TOKEN_KEY, token);
                        }
                        d.dispatch(Action::Server(msg));
                    }
                    Err(err) => d.dispatch(Action::Server(ServerMsg::Error {
                        code: "bad_message".into(),
                        message: format!("The page did not understand a message from the server: {err}"),
                    })),
                }
            });
            let hello = {
                let room = room.clone();
                move || {
                    let token = storage().and_then(|s| s.get_item(TOKEN_KEY).ok().flatten());
                    let world = match &room {
                        Some(code) => WorldChoice::Room { code: code.clone() },
                        None => WorldChoice::Sandbox,
                    };
                    [ClientMsg::Hello { version: VERSION, token, world }, ClientMsg::Snapshot]
                }
            };
            // A replay plays a recording: no session, no world.
            let made = match (&tab_world, replay) {
                (_, true) => Err(None),
                (Some(script), false) => match start_worker(script) {
                    Ok(worker) => {
                        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                        let d = dispatch.clone();
                        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                            d.dispatch(Action::LinkDown("the world in this tab could not start".into()))
                        });
                        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
                        let live = Live {
                            link: Carrier::Worker { worker, _on_error: on_error },
                            _on_message: on_message,
                        };
                        // The worker keeps what is posted before its world is up and handles it in order.
                        for m in hello() {
                            live.send(&m);
                        }
                        dispatch.dispatch(Action::LinkUp);
                        Ok(live)
                    }
                    Err(_) => Err(Some("this browser could not start the world's Web Worker")),
                },
                (None, false) => match WebSocket::new(&ws_url(room.as_deref())) {
                    Ok(ws) => {
                        let d = dispatch.clone();
                        let ws2 = ws.clone();
                        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                            for m in hello() {
                                send_on(&ws2, &m);
                            }
                            d.dispatch(Action::LinkUp);
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
                        let link =
                            Carrier::Socket { ws, _on_open: on_open, _on_close: on_close, _ping: ping };
                        Ok(Live { link, _on_message: on_message })
                    }
                    Err(_) => Err(Some("the browser could not open a WebSocket")),
                },
            };
            match made {
                Ok(l) => *live.borrow_mut() = Some(l),
                Err(Some(why)) => dispatch.dispatch(Action::LinkDown(why.into())),
                Err(None) => {}
            }
            let live = live.clone();
            move || {
                if let Some(l) = live.borrow_mut().take() {
                    l.close();
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
        let ok = live.borrow().as_ref().is_some_and(|l| l.send(&msg));
        if !ok {
            dispatch.dispatch(Action::Server(ServerMsg::Error {
                code: "not_connected".into(),
                message: "Not connected to the playground server; use Reconnect.".into(),
            }));
        }
    })
}
