//! `mailroom`: starts the mail world. Run with `cargo run --release`.
fn main() {}
