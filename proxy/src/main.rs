//! `mailroom`: the Mailroom binary.
//!
//! ```text
//! cargo run --release                      # the default world of shared/CONTRACT.md on 127.0.0.1
//! cargo run --release -- --help           # every flag
//! cargo run --release -- --config mailroom.example.toml --profile internet
//! cargo run --release -- static-site /tmp/site   # the playground as static files, the world in the tab
//! ```
//!
//! It starts the persistent mail world (mx1 and mx2 with SMTP, submission, SMTPS, POP3, POP3S, IMAP and IMAPS on
//! real TCP ports, mail kept under `./data`) and the web server on port 8080 (the playground, its WebSocket `/ws`,
//! the HTTP API), prints what listens where, and runs until Ctrl-C or SIGTERM, then closes every session cleanly. Logging follows `RUST_LOG` (default `info`).

mod cli;

use std::sync::Arc;

use clap::Parser;
use mailroom_core::world::{Persistence, World};
use tracing_subscriber::EnvFilter;

// jemalloc with background threads gives freed memory back to the system: after 200 busy playground sessions
// closed, glibc's malloc kept ~45 MiB that it never returned; jemalloc returns to within ~12 MiB of the start
// (docs/relay-benchmark.md, "Memory given back").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = cli::Args::parse();
    if let Some(cli::Command::StaticSite { dir }) = &args.command {
        let site = mailroom::static_site::write(dir)?;
        println!("{site}");
        return Ok(());
    }
    let config = args.world_config()?;
    let persistence = if args.memory { Persistence::Memory } else { Persistence::Disk };
    let world = World::start(config, persistence)?;
    let listening = world.listen().await?;
    println!("Mailroom is running. The mail world:");
    for host in &world.hosts {
        let users: Vec<&str> = host.users.names().collect();
        println!("  {} ({}) users: {}", host.fqdn, host.config.domain, users.join(", "));
        for l in listening.iter().filter(|l| l.host == host.config.name) {
            println!("    {:<11} port {:>3} -> {}", l.service.name(), l.service.well_known_port(), l.addr);
        }
    }
    for r in world.routes.read().unwrap_or_else(|e| e.into_inner()).iter() {
        println!("  route (MX): {} -> {} at {}", r.domain, r.mx, r.addr);
    }
    let http = tokio::net::TcpListener::bind((world.config.listen, args.http_port)).await?;
    let proxy_config = args.proxy_config(world.config.listen)?;
    let persistent_shared = proxy_config.allow_persistent;
    let state = mailroom::AppState::new(proxy_config, Arc::clone(&world))?;
    println!("  HTTP API     -> http://{}/api/world", http.local_addr()?);
    println!(
        "  persistent world in the browser: {}",
        if persistent_shared { "allowed" } else { "not shared (--persistent-world allow to change)" }
    );
    println!("\nPlayground: http://{}/", http.local_addr()?);
    if persistence == Persistence::Disk {
        println!("  data directory: {}", world.config.data_dir.display());
    }
    let app = mailroom::app(state.clone());
    let w = world.clone();
    axum::serve(
        mailroom::NoDelayListener(http),
        app.into_make_service_with_connect_info::<mailroom::PeerAddr>(),
    )
    .with_graceful_shutdown({
        let state = state.clone();
        async move {
            stop_signal().await;
            tracing::info!("shutting down");
            // Playground sessions close with 1001; mail sessions say 421/BYE and end. Whatever a session
            // acknowledged is already durable (the spool and Maildir fsync before the reply).
            state.shutdown();
            w.shutdown();
        }
    })
    .await?;
    // Upgraded WebSockets are not connections axum waits for: wait until every playground session has sent its
    // close frame (bounded, so a stuck browser cannot hold the process).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while state.metrics.sessions.load(std::sync::atomic::Ordering::SeqCst) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Mail sessions get a moment to flush their goodbye.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    Ok(())
}

/// Ctrl-C or SIGTERM (what `kill`, systemd and container runtimes send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "no SIGTERM handler; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
