//! # mailroom-frontend: the Mailroom playground in the browser
//!
//! A Yew app compiled to wasm32 and embedded into the `mailroom` binary by `proxy/build.rs`. The learner opens
//! connections to the mail hosts' services, types SMTP, POP3 and IMAP by hand, reads the raw transcript, clicks
//! any line for its explanation, and watches the mail world (hosts, link, spools, mailboxes) change.
//!
//! ## Layout
//! - [`state`]: the one reducer (`AppState` + `Action`), fed by the WebSocket and by the learner.
//! - [`story`]: the event log in words, grouped by message.
//! - [`transcript`]: line splitting, colour classes by meaning, export.
//! - [`ladder`]: the ladder diagram's columns and arrows.
//! - [`replay`]: a session exported as steps, and played back.
//! - [`proto`]: follows each connection's protocol state for Tab completion, chips and the DATA editor.
//! - `hooks/use_session.rs`: the WebSocket, or the tab's world worker (`wire::ClientMsg`/`ServerMsg`, the types the
//!   server uses).
//! - [`world_worker`] (feature `world`): the entry point of the Web Worker that runs the whole world in the tab.
//! - `components/`: one file per component; `app.rs` puts them together.
//!
//! The pure modules are unit-tested on the host (`cargo test -p mailroom-frontend`); the browser tests in
//! `tests/browser.rs` drive the real page in headless Chromium.
#![forbid(unsafe_code)]

pub mod assist;
pub mod ladder;
pub mod lesson;
pub mod proto;
pub mod replay;
pub mod state;
pub mod story;
pub mod transcript;

mod app;
mod components;
mod hooks;
#[cfg(feature = "world")]
pub mod world_worker;

/// The wasm entry point: renders the app into `<body>`. (Compiled on the host too, so the components are
/// type-checked and linted there; only the browser calls it.) The page's own build runs it when the module is
/// instantiated. A static site loads one module for the page and the world (the build with `world`): there it
/// is exported as `page_start` and the page calls it, since the worker instantiates the same module and has no
/// document to render into.
#[cfg_attr(all(target_arch = "wasm32", not(feature = "world")), wasm_bindgen::prelude::wasm_bindgen(start))]
#[cfg_attr(
    all(target_arch = "wasm32", feature = "world"),
    wasm_bindgen::prelude::wasm_bindgen(js_name = "page_start")
)]
pub fn start() {
    if let Some(boot) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("boot"))
    {
        boot.remove();
    }
    yew::Renderer::<app::App>::new().render();
}
