//! Compiles every lesson file in `lessons/` into the crate: `lesson::catalogue` reads the generated list, so a
//! teacher adds a lesson by adding a file (see docs/lessons.md), without touching code.
//!
//! Lessons are written in TOML and compiled in as JSON: the crate already reads JSON (the wire), so the world
//! that runs in a browser tab (`mailroom static-site`) does not carry a TOML parser for them. A file that is not
//! valid TOML stops the build here, with its name and the parser's message; what the lesson says (ids, goals)
//! is checked by `catalogue::parse` and its tests.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // Read at run time: a build script compiled once may be run for another checkout sharing the target dir.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("lessons");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    let mut out = String::from(
        "/// Every lesson file: (file name, its contents as JSON).\npub const FILES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo::rerun-if-changed={}", f.display());
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("lessons/{name}: {e}"));
        let value: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("lessons/{name}: {e}"));
        let json = serde_json::to_string(&value).expect("a TOML value serialises as JSON");
        let _ = writeln!(out, "    ({name:?}, {json:?}),");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("lessons.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
