//! The frontend, embedded in the binary: `build.rs` writes `$OUT_DIR/assets.rs` with every file of the built app
//! (and its gzip/brotli variants when smaller), so the binary serves the playground on its own.
//!
//! Caching: `index.html` is `no-cache` (always revalidated, so a new binary's app is picked up at once); files whose
//! name carries a content hash (`app-1a2b3c4d5e.wasm`) are immutable for a year; anything else may be cached for an
//! hour. The precompressed variant is chosen from `Accept-Encoding` (brotli before gzip) and `Vary: Accept-Encoding`
//! tells caches so.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset at `path` (without the leading slash).
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether a file name carries a content hash: a `-`, `.` or `_`-separated run of at least 8 hex digits before
/// the extension (`app-1a2b3c4d.js`, `style.0123abcd.css`, `frontend-0123abcd_bg.wasm`).
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
    stem.split(['-', '.', '_']).any(|h| h.len() >= 8 && h != stem && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `Accept-Encoding` admits `coding` (a `q=0` refuses it).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
    })
}

/// Serves `/` as `index.html` and `/<path>` as that asset.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(asset) = find(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let cache = if asset.path == "index.html" {
        "no-cache"
    } else if is_hashed(asset.path) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let (body, encoding) = match (asset.br, asset.gzip) {
        (Some(br), _) if accepts(&headers, "br") => (br, Some("br")),
        (_, Some(gz)) if accepts(&headers, "gzip") => (gz, Some("gzip")),
        _ => (asset.raw, None),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.gzip.is_some() || asset.br.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(enc) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        for (p, want) in [
            ("app-1a2b3c4d.wasm", true),
            ("mailroom_frontend-0123456789abcdef_bg.wasm", true),
            ("mailroom_frontend_bg.wasm", false),
            ("style.0123abcd.css", true),
            ("index.html", false),
            ("favicon.ico", false),
            ("deadbeef.js", false),
        ] {
            assert_eq!(is_hashed(p), want, "{p}");
        }
    }

    #[test]
    fn accept_encoding_table() {
        for (v, coding, want) in [
            ("gzip, deflate, br", "br", true),
            ("gzip;q=0.5", "gzip", true),
            ("br;q=0, gzip", "br", false),
            ("identity", "gzip", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            assert_eq!(accepts(&h, coding), want, "{v} {coding}");
        }
    }
}
