//! Placeholder asset generator: writes `$OUT_DIR/assets.rs` with a single `index.html` saying the frontend is not
//! built. The frontend build replaces this script; the shape of [`Asset`] and `ASSETS` is the contract between the
//! two (see `proxy/src/assets.rs`).

use std::path::PathBuf;

fn main() {
    // OUT_DIR is always set by cargo for build scripts.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let code = r#"/// One embedded file.
pub struct Asset {
    /// URL path without the leading slash (`index.html`, `app-1a2b3c4d.wasm`).
    pub path: &'static str,
    /// MIME type.
    pub content_type: &'static str,
    /// The file as is.
    pub raw: &'static [u8],
    /// Gzip-compressed variant, if smaller.
    pub gzip: Option<&'static [u8]>,
    /// Brotli-compressed variant, if smaller.
    pub br: Option<&'static [u8]>,
}

/// Every embedded file.
pub static ASSETS: &[Asset] = &[Asset {
    path: "index.html",
    content_type: "text/html; charset=utf-8",
    raw: b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Mailroom</title></head><body><h1>Mailroom</h1><p>frontend not built</p></body></html>\n",
    gzip: None,
    br: None,
}];
"#;
    // Writing into OUT_DIR can only fail if the disk is full or the directory vanished: then the build must stop.
    std::fs::write(out.join("assets.rs"), code).expect("write assets.rs");
    println!("cargo::rerun-if-changed=build.rs");
}
