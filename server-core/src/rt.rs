//! The few runtime services the mail core needs beyond its pure state machines: start a task, sleep, bound a
//! future by a timeout, read a monotonic instant, run blocking work.
//!
//! Natively they are tokio's. In the browser tab (`mailroom static-site`: the world runs in a Web Worker compiled
//! to `wasm32-unknown-unknown`) there is no tokio runtime, no threads and no `std::time::Instant`: tasks run on
//! the worker's event loop (`wasm_bindgen_futures::spawn_local`), timers are the browser's `setTimeout`
//! (gloo-timers), instants come from `performance.now()` (web-time), and "blocking" work simply runs in place,
//! as everything in the worker is in memory. Everything else in the core (channels, in-memory streams, `select!`)
//! is runtime-free tokio and is the same in both places.

use std::future::Future;
use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
pub use tokio::time::Instant;
#[cfg(target_arch = "wasm32")]
pub use web_time::Instant;

/// The deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Starts a task that runs on its own; nothing waits for it.
#[cfg(not(target_arch = "wasm32"))]
pub fn spawn<F: Future<Output = ()> + Send + 'static>(f: F) {
    drop(tokio::spawn(f));
}

/// Starts a task that runs on its own; nothing waits for it.
#[cfg(target_arch = "wasm32")]
pub fn spawn<F: Future<Output = ()> + 'static>(f: F) {
    wasm_bindgen_futures::spawn_local(f);
}

/// Waits `d`.
pub async fn sleep(d: Duration) {
    #[cfg(not(target_arch = "wasm32"))]
    tokio::time::sleep(d).await;
    #[cfg(target_arch = "wasm32")]
    gloo_timers::future::sleep(d).await;
}

/// Waits until `at` (returns at once if it has passed).
pub async fn sleep_until(at: Instant) {
    #[cfg(not(target_arch = "wasm32"))]
    tokio::time::sleep_until(at).await;
    #[cfg(target_arch = "wasm32")]
    sleep(at.saturating_duration_since(Instant::now())).await;
}

/// Runs `f` for at most `d`.
pub async fn timeout<F: Future>(d: Duration, f: F) -> Result<F::Output, Elapsed> {
    #[cfg(not(target_arch = "wasm32"))]
    return tokio::time::timeout(d, f).await.map_err(|_| Elapsed);
    #[cfg(target_arch = "wasm32")]
    {
        let f = std::pin::pin!(f);
        tokio::select! {
            v = f => Ok(v),
            _ = sleep(d) => Err(Elapsed),
        }
    }
}

/// Runs work that may block (file I/O with fsync) off the async threads natively; in the tab, in place. `Err`
/// says why the work did not finish (natively: it panicked and the panic was contained).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    #[cfg(not(target_arch = "wasm32"))]
    return tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string());
    #[cfg(target_arch = "wasm32")]
    Ok(f())
}

/// Lets other tasks run before going on.
pub async fn yield_now() {
    #[cfg(not(target_arch = "wasm32"))]
    tokio::task::yield_now().await;
    #[cfg(target_arch = "wasm32")]
    sleep(Duration::ZERO).await;
}

/// A random number from the system's generator (the browser's `crypto.getRandomValues` in the tab).
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // Fails only where the system has no randomness at all (none of the targets Mailroom builds for).
    getrandom::getrandom(&mut bytes).expect("the system's random number generator");
    u64::from_le_bytes(bytes)
}

/// The process ID natively; in the tab, which has no processes, a number drawn once per world worker (APOP
/// timestamps only need it to tell instances apart, RFC 1939 §7).
pub fn process_id() -> u32 {
    #[cfg(not(target_arch = "wasm32"))]
    return std::process::id();
    #[cfg(target_arch = "wasm32")]
    {
        static ID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        *ID.get_or_init(|| random_u64() as u32)
    }
}
