//! Builds the browser playground and embeds it into the `mailroom` binary, so `cargo run --release` at the
//! repository root needs no other tool.
//!
//! Steps:
//! 1. make sure the `wasm32-unknown-unknown` target is installed (`rustup target add` when it is missing);
//! 2. build `mailroom-frontend` for wasm32 with the `wasm-release` profile (root `Cargo.toml`: `opt-level = "z"`,
//!    LTO, one codegen unit, `panic = "abort"`, stripped), always, also for debug builds of the server, with a
//!    separate `--target-dir` (`target/wasm` at the workspace root, or `MAILROOM_WASM_TARGET_DIR`): the outer cargo
//!    holds the lock of its own target directory while this script runs, so sharing it would deadlock. The
//!    environment the outer cargo gives build scripts (its target dir, host RUSTFLAGS, jobserver, clippy's
//!    wrapper) is removed first;
//! 3. run wasm-bindgen through the `wasm-bindgen-cli-support` library (its version is pinned with `=` to the
//!    `wasm-bindgen` crate the frontend uses: the generated glue must match the macro output exactly);
//! 4. put a content hash into the JS, wasm and CSS file names (so the proxy can cache them forever), rewrite
//!    `static/index.html` to point at them, precompress each file with gzip and brotli, and write
//!    `$OUT_DIR/assets.rs` with [`Asset`]s and `ASSETS` (the contract with `proxy/src/assets.rs`).
//!
//! If the wasm build fails (no network for the target, a compile error), the build does not fail: a
//! `cargo:warning` says why, and the embedded page explains how to fix it. The browser tests notice that page.
//! `MAILROOM_SKIP_WASM=1` embeds that page on purpose (fast builds of the server alone).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate's artifact name as wasm-bindgen sees it.
const STEM: &str = "mailroom_frontend";

/// One file to embed.
struct File {
    /// URL path without the leading slash.
    path: String,
    content_type: &'static str,
    bytes: Vec<u8>,
}

fn main() {
    // Cargo always sets these for build scripts.
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = manifest.parent().expect("proxy/ lives inside the workspace").to_path_buf();

    for p in [
        "frontend/src",
        "frontend/Cargo.toml",
        "static",
        // The page shares the wire types and the catalogue; the tab's world is the whole core.
        "server-core/src",
        "server-core/lessons",
        "server-core/Cargo.toml",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MAILROOM_SKIP_WASM");
    println!("cargo:rerun-if-env-changed=MAILROOM_WASM_TARGET_DIR");

    let files = if std::env::var_os("MAILROOM_SKIP_WASM").is_some() {
        println!("cargo:warning=MAILROOM_SKIP_WASM is set: the playground page is a placeholder");
        fallback("The frontend build was skipped (MAILROOM_SKIP_WASM is set).")
    } else {
        match build_frontend(&root, &out) {
            Ok(files) => files,
            Err(e) => {
                for line in e.lines().take(40) {
                    println!("cargo:warning=frontend: {line}");
                }
                fallback(&e)
            }
        }
    };
    // Writing into OUT_DIR only fails when the disk is full or the directory vanished: the build must stop then.
    write_assets(&out, &files).expect("write assets into OUT_DIR");
}

/// The `wasm-bindgen-cli-support` version this script links (pinned with `=` in proxy/Cargo.toml).
const BINDGEN_VERSION: &str = "0.2.130";

/// The generated glue only fits the macro output of the same wasm-bindgen version: check Cargo.lock first, so a
/// mismatch is reported in words instead of as a page that fails in the browser.
fn check_bindgen_version(root: &Path) -> Result<(), String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let locked = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasm-bindgen\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"'));
    match locked {
        Some(v) if v == BINDGEN_VERSION => Ok(()),
        Some(v) => Err(format!(
            "Cargo.lock has wasm-bindgen {v} but proxy/build.rs uses wasm-bindgen-cli-support {BINDGEN_VERSION}: \
             pin both to the same version (frontend/Cargo.toml, proxy/Cargo.toml, BINDGEN_VERSION)"
        )),
        None => Err("Cargo.lock lists no wasm-bindgen package".into()),
    }
}

/// Steps 1–4; an error is a human-readable explanation.
fn build_frontend(root: &Path, out: &Path) -> Result<Vec<File>, String> {
    check_bindgen_version(root)?;
    ensure_wasm_target()?;
    let target_dir = std::env::var_os("MAILROOM_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("wasm"));
    let (js, wasm) = build_wasm(root, &target_dir, None, &out.join("bindgen"))?;
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()));
    let css = read(root.join("static/style.css"))?;
    let html = String::from_utf8(read(root.join("static/index.html"))?).map_err(|e| e.to_string())?;

    let js_name = format!("mailroom-{:016x}.js", fnv1a(&js));
    let wasm_name = format!("mailroom-{:016x}.wasm", fnv1a(&wasm));
    let css_name = format!("style-{:016x}.css", fnv1a(&css));
    for placeholder in ["{{JS}}", "{{WASM}}", "{{CSS}}"] {
        if !html.contains(placeholder) {
            return Err(format!("static/index.html lacks the placeholder {placeholder}"));
        }
    }
    let html = html.replace("{{JS}}", &js_name).replace("{{WASM}}", &wasm_name).replace("{{CSS}}", &css_name);
    let mut files = vec![
        File {
            path: "index.html".into(),
            content_type: "text/html; charset=utf-8",
            bytes: html.into_bytes(),
        },
        File { path: css_name, content_type: "text/css; charset=utf-8", bytes: css },
        File { path: js_name, content_type: "text/javascript; charset=utf-8", bytes: js },
        File { path: wasm_name, content_type: "application/wasm", bytes: wasm },
    ];
    // The world for `mailroom static-site` (the same crate with the whole core). Without it the server still
    // serves the page; only `static-site` says it cannot.
    match build_wasm(root, &target_dir, Some("world"), &out.join("bindgen-world")) {
        Ok((js, wasm)) => {
            let wasm_name = format!("world-{:016x}.wasm", fnv1a(&wasm));
            let js_name = format!("world-{:016x}.js", fnv1a(&js));
            files.push(File { path: js_name, content_type: "text/javascript; charset=utf-8", bytes: js });
            files.push(File { path: wasm_name, content_type: "application/wasm", bytes: wasm });
        }
        Err(e) => println!("cargo:warning=the tab's world (static-site) was not built: {e}"),
    }
    Ok(files)
}

/// Builds `mailroom-frontend` for wasm32 (with `feature`, if any) and runs wasm-bindgen on it; returns the JS glue
/// and the wasm.
fn build_wasm(
    root: &Path,
    target_dir: &Path,
    feature: Option<&str>,
    gen_dir: &Path,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "wasm-release",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "mailroom-frontend",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if let Some(f) = feature {
        cmd.args(["--features", f]);
    }
    scrub_env(&mut cmd);
    let what = match feature {
        Some(f) => format!("-p mailroom-frontend --features {f}"),
        None => "-p mailroom-frontend".to_string(),
    };
    let status = cmd.status().map_err(|e| format!("could not start cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`cargo build --profile wasm-release --target wasm32-unknown-unknown {what}` failed ({status}); \
             run it by hand to see the error"
        ));
    }
    // Both builds write the same artifact name: it is read (through wasm-bindgen) before the next build.
    let wasm = target_dir.join("wasm32-unknown-unknown/wasm-release").join(format!("{STEM}.wasm"));
    let _ = std::fs::remove_dir_all(gen_dir);
    std::fs::create_dir_all(gen_dir).map_err(|e| e.to_string())?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)
        .map_err(|e| e.to_string())?
        .typescript(false)
        .out_name(STEM)
        .generate(gen_dir)
        .map_err(|e| format!("wasm-bindgen: {e:#}"))?;
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()));
    Ok((read(gen_dir.join(format!("{STEM}.js")))?, read(gen_dir.join(format!("{STEM}_bg.wasm")))?))
}

/// Installs the wasm target with rustup when the active toolchain lacks it.
fn ensure_wasm_target() -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("could not run rustc: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib/wasm32-unknown-unknown/lib").is_dir() {
        return Ok(());
    }
    println!("cargo:warning=installing the wasm32-unknown-unknown target with rustup");
    let status =
        Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]).status().map_err(|e| {
            format!("the wasm32-unknown-unknown target is missing and rustup could not be run: {e}")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err("the wasm32-unknown-unknown target is missing; run `rustup target add wasm32-unknown-unknown`"
            .into())
    }
}

/// Removes what the outer cargo sets for build scripts and what would change or break the inner build: its target
/// directory, flags meant for the host, the jobserver, wrappers such as clippy's.
fn scrub_env(cmd: &mut Command) {
    const EXACT: &[&str] = &[
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ];
    const PREFIXES: &[&str] = &["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "DEP_"];
    let mut seen = HashSet::new();
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str().map(str::to_owned) else { continue };
        if EXACT.contains(&k.as_str()) || PREFIXES.iter().any(|p| k.starts_with(p)) {
            seen.insert(k);
        }
    }
    for k in seen {
        cmd.env_remove(k);
    }
}

/// The page embedded when the wasm could not be built: says what went wrong and how to fix it.
fn fallback(reason: &str) -> Vec<File> {
    let esc = reason.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Mailroom: frontend not built</title>\
         </head><body id=\"frontend-missing\"><h1>Mailroom</h1><p>The browser playground was not built into this \
         binary.</p><pre>{esc}</pre><p>To fix it: <code>rustup target add wasm32-unknown-unknown</code>, then \
         <code>cargo build -p mailroom-frontend --target wasm32-unknown-unknown</code> to see any compile error, \
         then rebuild <code>mailroom</code>. The mail servers and the HTTP API work without it.</p></body></html>\n"
    );
    vec![File {
        path: "index.html".into(),
        content_type: "text/html; charset=utf-8",
        bytes: html.into_bytes(),
    }]
}

/// Writes each file (and its compressed forms when smaller) into OUT_DIR and `assets.rs` listing them.
fn write_assets(out: &Path, files: &[File]) -> std::io::Result<()> {
    let dir = out.join("assets");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut code = String::from(
        "/// One embedded file.\npub struct Asset {\n    /// URL path without the leading slash.\n    \
         pub path: &'static str,\n    /// MIME type.\n    pub content_type: &'static str,\n    /// The file as is.\n    \
         pub raw: &'static [u8],\n    /// Gzip-compressed variant, if smaller.\n    pub gzip: Option<&'static [u8]>,\n    \
         /// Brotli-compressed variant, if smaller.\n    pub br: Option<&'static [u8]>,\n}\n\n\
         /// Every embedded file.\npub static ASSETS: &[Asset] = &[\n",
    );
    for (i, f) in files.iter().enumerate() {
        let raw = dir.join(format!("{i}.raw"));
        std::fs::write(&raw, &f.bytes)?;
        let gz = gzip(&f.bytes)?;
        let br = brotli(&f.bytes)?;
        let opt = |name: &str, data: Vec<u8>| -> std::io::Result<String> {
            if data.len() < f.bytes.len() {
                let p = dir.join(format!("{i}.{name}"));
                std::fs::write(&p, data)?;
                Ok(format!("Some(include_bytes!({:?}))", p.display().to_string()))
            } else {
                Ok("None".into())
            }
        };
        let gz = opt("gz", gz)?;
        let br = opt("br", br)?;
        // Writing to a String cannot fail.
        let _ = writeln!(
            code,
            "    Asset {{ path: {:?}, content_type: {:?}, raw: include_bytes!({:?}), gzip: {gz}, br: {br} }},",
            f.path,
            f.content_type,
            raw.display().to_string()
        );
    }
    code.push_str("];\n");
    std::fs::write(out.join("assets.rs"), code)
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    enc.finish()
}

fn brotli(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut outbuf = Vec::new();
    {
        // Quality 11 (best), window 22: the usual settings for static precompression.
        let mut w = brotli::CompressorWriter::new(&mut outbuf, 4096, 11, 22);
        w.write_all(data)?;
        w.flush()?;
    }
    Ok(outbuf)
}

/// FNV-1a, 64 bit: a content hash for cache-busting file names (not security-relevant).
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
