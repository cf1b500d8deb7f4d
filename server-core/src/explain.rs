//! The explanation catalogue: what every command and reply means, with its RFC section. Shared with the frontend
//! (compiled into the wasm), so the page and the server never disagree. (Being written on the frontend branch.)
