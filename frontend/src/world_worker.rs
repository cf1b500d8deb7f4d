//! The Web Worker of a site made by `mailroom static-site`: the whole mail world (both hosts, their queues, the
//! in-memory stores, TLS) runs here, in the browser tab, with the core's own code
//! (`mailroom_core::playground::tab`). The page posts `ClientMsg` JSON to the worker and gets `ServerMsg` JSON
//! back, exactly what it sends and receives over the proxy's WebSocket.
//!
//! The worker's script (written by `static-site`) buffers what the page posts while the wasm loads, then calls
//! [`world_start`] with the hosts' certificates (made natively by `static-site`: the tab cannot make key pairs)
//! and hands every message to [`WorldPort::receive`].

use mailroom_core::config::WorldConfig;
use mailroom_core::playground::Out;
use mailroom_core::playground::tab::TabSession;
use tokio::sync::mpsc;
use wasm_bindgen::prelude::*;

/// Where the worker's script hands the page's messages.
#[wasm_bindgen]
pub struct WorldPort {
    inbox: mpsc::UnboundedSender<String>,
}

#[wasm_bindgen]
impl WorldPort {
    /// One message from the page (JSON text of a `ClientMsg`).
    pub fn receive(&self, text: String) {
        // The session ends only with the worker.
        let _ = self.inbox.send(text);
    }
}

/// One certificate: the host name it is for and its PEM texts.
#[derive(serde::Deserialize)]
struct Cert {
    fqdn: String,
    cert: String,
    key: String,
}

#[wasm_bindgen]
extern "C" {
    /// The worker's console (the page's developer tools show it).
    #[wasm_bindgen(js_namespace = console)]
    fn error(s: &str);
}

/// Starts the world. `certs` is a JSON array of `{fqdn, cert, key}` (PEM); `post` is called with the JSON text of
/// every message for the page.
#[wasm_bindgen]
pub fn world_start(certs: &str, post: js_sys::Function) -> Result<WorldPort, JsError> {
    // A bug in the world aborts the worker (the page then says the world was lost and starts a new one); say
    // what it was where a developer looks.
    std::panic::set_hook(Box::new(|info| error(&format!("the mail world stopped on a bug: {info}"))));
    let certs: Vec<Cert> = serde_json::from_str(certs)?;
    mailroom_core::tls::preload(certs.into_iter().map(|c| (c.fqdn, c.cert, c.key)).collect());
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(256);
    let (inbox, inbox_rx) = mpsc::unbounded_channel();
    let session =
        TabSession::new(WorldConfig::default(), out_tx).map_err(|e| JsError::new(&e.to_string()))?;
    wasm_bindgen_futures::spawn_local(session.run(inbox_rx));
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(out) = out_rx.recv().await {
            // The tab's world never closes the link itself: only protocol messages go to the page.
            if let Out::Msg(m) = out
                && let Ok(text) = serde_json::to_string(&m)
            {
                let _ = post.call1(&JsValue::NULL, &JsValue::from_str(&text));
            }
        }
    });
    Ok(WorldPort { inbox })
}
