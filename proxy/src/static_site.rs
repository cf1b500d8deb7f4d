//! `mailroom static-site DIR`: the playground as a folder of static files, with the whole mail world running
//! inside each visitor's browser tab.
//!
//! The folder holds one wasm module for the page and the world: the `mailroom-frontend` crate built with its
//! `world` feature by `build.rs`, which is the page's code plus the core's own SMTP, POP3, IMAP, queue and TLS
//! code (the page's smaller module, which the server serves, is not written: a first visit would fetch what the
//! two share twice). Beside it the page's CSS (from [`ASSETS`]) and what only this command can make:
//! - `index.html`, the page's own with relative paths (the site may live in any folder of any host), loading the
//!   world's module and calling its `page_start`, and a `<meta name="mailroom-world">` that tells the page to
//!   start the worker instead of opening a WebSocket;
//! - `world.js`, the Web Worker's script: the page posts it the module it has already compiled (a first visit
//!   downloads it once), and it gives the world the hosts' certificates, made here with rcgen (key generation
//!   needs ring, which does not build for wasm32 without a C compiler);
//! - `api/lessons`, the lesson catalogue the page reads (on a server it is `GET /api/lessons`);
//! - `server.html` ([`SERVER_HELP`]), what the page links to for what only a server does, and how to run one.
//!
//! Any static file server will do (`python3 -m http.server -d DIR`), as long as it serves `.wasm` and `.js`
//! with their types (module workers require a JavaScript type).
//!
//! Writing into a folder that holds an earlier build replaces it: the hashed files of that build
//! (`world-HASH.wasm` and the like, names no one else uses) are removed, so a site updated in place does not
//! keep every old wasm. Nothing else in the folder is touched.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mailroom_core::config::WorldConfig;
use mailroom_core::wire::SERVER_HELP;

use crate::assets::ASSETS;

/// The worker's script, in `DIR`.
pub const WORKER_SCRIPT: &str = "world.js";

/// One file written, with its size as stored and (when known) as a browser would fetch it compressed.
#[derive(Debug)]
pub struct Written {
    /// Path inside the site.
    pub path: String,
    /// Bytes on disk.
    pub raw: usize,
    /// Gzip-compressed size (level 9), when the binary carries it.
    pub gzip: Option<usize>,
    /// Brotli-compressed size (quality 11), when the binary carries it.
    pub br: Option<usize>,
}

/// What [`write`] made.
#[derive(Debug)]
pub struct Site {
    /// The folder.
    pub dir: PathBuf,
    /// Every file, in the order written.
    pub files: Vec<Written>,
    /// Files of an earlier build that were removed.
    pub removed: Vec<String>,
}

impl Site {
    /// The files a first visit fetches (all but the page about running a server).
    fn first_load(&self) -> impl Iterator<Item = &Written> {
        self.files.iter().filter(|f| f.path != SERVER_HELP)
    }

    /// Bytes a first visit transfers with brotli (files the binary does not carry compressed count as stored).
    pub fn first_load_br(&self) -> usize {
        self.first_load().map(|f| f.br.or(f.gzip).unwrap_or(f.raw)).sum()
    }

    /// The same with gzip.
    pub fn first_load_gzip(&self) -> usize {
        self.first_load().map(|f| f.gzip.unwrap_or(f.raw)).sum()
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Static playground written to {}:", self.dir.display())?;
        for w in &self.files {
            let c = |n: Option<usize>| n.map_or("-".to_string(), |n| format!("{n}"));
            writeln!(
                f,
                "  {:<40} {:>9} bytes  (gzip {:>8}, brotli {:>8})",
                w.path,
                w.raw,
                c(w.gzip),
                c(w.br)
            )?;
        }
        if !self.removed.is_empty() {
            writeln!(f, "  (removed from an earlier build: {})", self.removed.join(", "))?;
        }
        writeln!(
            f,
            "First load, compressed: {:.0} KiB with brotli, {:.0} KiB with gzip (every file above but {SERVER_HELP}).",
            self.first_load_br() as f64 / 1024.0,
            self.first_load_gzip() as f64 / 1024.0
        )?;
        write!(
            f,
            "Serve it with any static file server, for example:\n  python3 -m http.server -d {} 8000",
            self.dir.display()
        )
    }
}

/// The embedded modules (each a wasm file and its wasm-bindgen glue): the page's, which the server serves, and
/// the world's, which is the page plus the mail world.
#[derive(Debug, Clone, Copy)]
struct Modules<'a> {
    page_js: &'a str,
    page_wasm: &'a str,
    world_js: &'a str,
    world_wasm: &'a str,
}

impl Modules<'static> {
    fn embedded() -> anyhow::Result<Self> {
        let find = |prefix: &str, ext: &str| {
            ASSETS.iter().find(|a| a.path.starts_with(prefix) && a.path.ends_with(ext)).map(|a| a.path)
        };
        match (
            find("mailroom-", ".js"),
            find("mailroom-", ".wasm"),
            find("world-", ".js"),
            find("world-", ".wasm"),
        ) {
            (Some(page_js), Some(page_wasm), Some(world_js), Some(world_wasm)) => {
                Ok(Modules { page_js, page_wasm, world_js, world_wasm })
            }
            _ => bail!(
                "this binary was built without the world's wasm (build.rs printed why, or MAILROOM_SKIP_WASM was \
                 set); rebuild it with the wasm32-unknown-unknown target available"
            ),
        }
    }
}

/// The page's `index.html` for a static site: relative paths, the world's module in place of the page's (its
/// `page_start` renders the page), and the marker that starts the tab's world.
fn index_html(served: &str, m: Modules<'_>) -> anyhow::Result<String> {
    let mut html = served.to_string();
    for a in ASSETS.iter().filter(|a| a.path != "index.html") {
        html = html.replace(&format!("\"/{}\"", a.path), &format!("\"./{}\"", a.path));
    }
    let swaps = [
        (
            format!("import init from \"./{}\";", m.page_js),
            format!("import init, {{ page_start }} from \"./{}\";", m.world_js),
        ),
        (
            format!("init({{ module_or_path: \"./{}\" }})", m.page_wasm),
            format!("init({{ module_or_path: \"./{}\" }}).then(() => page_start())", m.world_wasm),
        ),
        (
            "<meta charset=\"utf-8\">".to_string(),
            format!("<meta charset=\"utf-8\">\n<meta name=\"mailroom-world\" content=\"./{WORKER_SCRIPT}\">"),
        ),
    ];
    for (from, to) in swaps {
        if !html.contains(&from) {
            bail!("the embedded index.html has no `{from}`");
        }
        html = html.replacen(&from, &to, 1);
    }
    // The preload hints.
    Ok(html
        .replace(&format!("\"./{}\"", m.page_js), &format!("\"./{}\"", m.world_js))
        .replace(&format!("\"./{}\"", m.page_wasm), &format!("\"./{}\"", m.world_wasm)))
}

/// The worker's script: its first message is the page's compiled module (the page and the world are one
/// module); it keeps what the page posts while the module is instantiated, starts the world with the
/// certificates, then hands it every message.
fn worker_script(glue: &str, wasm: &str, certs_json: &str) -> String {
    format!(
        r#"// The mail world of this playground, running in a Web Worker in the visitor's tab (written by
// `mailroom static-site`). The page posts the same JSON messages it would send over the server's WebSocket,
// after the wasm module it runs itself, which holds the world too (fetched again only if it is not one).
import init, {{ world_start }} from "./{glue}";

const CERTS = {certs_json};
const pending = [];
let port = null;
let started = false;
self.onmessage = (e) => {{
  if (!started) {{
    started = true;
    const module = e.data instanceof WebAssembly.Module ? e.data : new URL("./{wasm}", import.meta.url);
    if (!(e.data instanceof WebAssembly.Module)) pending.push(e.data);
    init({{ module_or_path: module }}).then(() => {{
      port = world_start(JSON.stringify(CERTS), (text) => self.postMessage(text));
      for (const m of pending.splice(0)) port.receive(m);
    }}).catch((err) => {{
      self.postMessage(JSON.stringify({{ type: "error", code: "internal", message: "The world could not start in this tab: " + err }}));
    }});
  }} else if (port) port.receive(e.data); else pending.push(e.data);
}};
"#
    )
}

/// What only a Mailroom server does, and how to run one.
const SERVER_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mailroom: running the server</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}code,pre{background:#f3f3f3;padding:.1rem .3rem}</style>
</head><body>
<h1>Running a Mailroom server</h1>
<p>This playground runs its mail world inside your browser tab. A Mailroom server adds what a tab cannot do:</p>
<ul>
<li><strong>shared rooms</strong>: one world for a whole class, joined by a link;</li>
<li><strong>the persistent world</strong>, which real mail clients (Thunderbird, mutt, <code>openssl s_client</code>,
<code>swaks</code>, <code>curl</code>) reach on real TCP ports: SMTP 10025, submission 10587, SMTPS 10465, POP3 10110,
POP3S 10995, IMAP 10143, IMAPS 10993 for mx1 (20xxx for mx2);</li>
<li><strong>other mail servers</strong> the operator allows, reached from the page.</li>
</ul>
<p>With Rust installed (<a href="https://rustup.rs/">rustup.rs</a>), from a checkout of Mailroom's source:</p>
<pre>cargo run --release</pre>
<p>then open <a href="http://127.0.0.1:8080/">http://127.0.0.1:8080/</a>. The README of the source explains the flags,
the configuration file and how to deploy it. <a href="./">Back to the playground</a>.</p>
</body></html>
"#;

/// Certificates for every host of the default world, as `[{fqdn, cert, key}]` (PEM).
fn certificates() -> anyhow::Result<String> {
    let mut out = Vec::new();
    for h in &WorldConfig::default().hosts {
        let fqdn = h.fqdn();
        let (_, cert, key) =
            mailroom_core::tls::generate(&fqdn).with_context(|| format!("certificate for {fqdn}"))?;
        out.push(serde_json::json!({ "fqdn": fqdn, "cert": cert, "key": key }));
    }
    Ok(serde_json::to_string(&out)?)
}

/// Writes the site into `dir`.
pub fn write(dir: &Path) -> anyhow::Result<Site> {
    let modules = Modules::embedded()?;
    std::fs::create_dir_all(dir.join("api")).with_context(|| format!("create {}", dir.display()))?;
    let mut files = Vec::new();
    let mut put = |path: &str, bytes: &[u8], gzip: Option<usize>, br: Option<usize>| -> anyhow::Result<()> {
        let p = dir.join(path);
        std::fs::write(&p, bytes).with_context(|| format!("write {}", p.display()))?;
        files.push(Written { path: path.to_string(), raw: bytes.len(), gzip, br });
        Ok(())
    };
    for a in ASSETS.iter().filter(|a| a.path != modules.page_js && a.path != modules.page_wasm) {
        let (gz, br) = (a.gzip.map(<[u8]>::len), a.br.map(<[u8]>::len));
        if a.path == "index.html" {
            let html = index_html(std::str::from_utf8(a.raw).context("index.html is not UTF-8")?, modules)?;
            put("index.html", html.as_bytes(), None, None)?;
        } else {
            put(a.path, a.raw, gz, br)?;
        }
    }
    let worker = worker_script(modules.world_js, modules.world_wasm, &certificates()?);
    put(WORKER_SCRIPT, worker.as_bytes(), None, None)?;
    let lessons = serde_json::to_vec(&mailroom_core::lesson::catalogue::entries())?;
    put("api/lessons", &lessons, None, None)?;
    put(SERVER_HELP, SERVER_PAGE.as_bytes(), None, None)?;
    let removed = remove_stale(dir, &files)?;
    Ok(Site { dir: dir.to_path_buf(), files, removed })
}

/// Whether `name` is one of the content-hashed files a build writes: `{mailroom,world,style}-` sixteen hex
/// digits `.{js,wasm,css}` (`build.rs` names them so).
fn is_hashed_asset(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else { return false };
    let Some((kind, hash)) = stem.split_once('-') else { return false };
    matches!(kind, "mailroom" | "world" | "style")
        && matches!(ext, "js" | "wasm" | "css")
        && hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Removes the hashed files in `dir` that this build did not write (an earlier build's); returns their names.
fn remove_stale(dir: &Path, written: &[Written]) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if is_hashed_asset(&name) && entry.file_type()?.is_file() && !written.iter().any(|w| w.path == name) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("remove {}", entry.path().display()))?;
            removed.push(name);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULES: Modules<'static> =
        Modules { page_js: "p.js", page_wasm: "p.wasm", world_js: "w.js", world_wasm: "w.wasm" };

    #[test]
    // The relative paths are checked where real assets exist: the browser test loads the written site.
    fn the_static_page_runs_the_world_module_and_starts_the_tab_world() {
        let served = concat!(
            "<head>\n<meta charset=\"utf-8\">\n<link rel=\"modulepreload\" href=\"./p.js\"></head>\n",
            "<script type=\"module\">\nimport init from \"./p.js\";\ninit({ module_or_path: \"./p.wasm\" }).catch(f);"
        );
        let html = index_html(served, MODULES).unwrap();
        assert!(html.contains("<meta name=\"mailroom-world\" content=\"./world.js\">"), "{html}");
        assert!(html.contains("import init, { page_start } from \"./w.js\";"), "{html}");
        assert!(
            html.contains("init({ module_or_path: \"./w.wasm\" }).then(() => page_start()).catch(f)"),
            "{html}"
        );
        assert!(!html.contains("p.js") && !html.contains("p.wasm"), "{html}");
        // A page that no longer loads its module the expected way is refused, not written half-rewritten.
        assert!(index_html("<meta charset=\"utf-8\">", MODULES).is_err());
    }

    #[test]
    fn an_earlier_builds_hashed_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let keep = ["world-0123456789abcdef.wasm", "notes.txt", "world-x.wasm", "style-0123456789ABCDEF.css"];
        let stale =
            ["world-aaaaaaaaaaaaaaaa.wasm", "mailroom-bbbbbbbbbbbbbbbb.js", "style-cccccccccccccccc.css"];
        for name in keep.iter().chain(&stale) {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        // A folder with a hashed name is not a file of ours.
        std::fs::create_dir(dir.path().join("world-dddddddddddddddd.js")).unwrap();
        let written = [Written { path: keep[0].to_string(), raw: 1, gzip: None, br: None }];
        let removed = remove_stale(dir.path(), &written).unwrap();
        assert_eq!(
            removed,
            ["mailroom-bbbbbbbbbbbbbbbb.js", "style-cccccccccccccccc.css", "world-aaaaaaaaaaaaaaaa.wasm"]
        );
        for name in keep {
            assert!(dir.path().join(name).exists(), "{name} was removed");
        }
        assert!(dir.path().join("world-dddddddddddddddd.js").is_dir());
    }

    #[test]
    fn the_worker_script_takes_the_module_first_and_buffers_messages_until_the_world_is_up() {
        let js = worker_script("world-1.js", "world-1.wasm", "[]");
        let onmessage = js.find("self.onmessage").unwrap();
        let start = js.find("world_start(").unwrap();
        assert!(onmessage < js.find("init(").unwrap() && start > onmessage);
        assert!(js.contains("e.data instanceof WebAssembly.Module ? e.data : new URL(\"./world-1.wasm\""));
        assert!(js.contains("pending.push(e.data)") && js.contains("port.receive(m)"));
    }
}
