//! Real clients against a world on ephemeral ports: Python's imaplib over STARTTLS (143-offset) and implicit TLS
//! (993-offset), on the durable Maildir store, with a second device in IDLE that must see each change at once.

use std::process::Command;

use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::world::{Persistence, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib() {
    // A missing client is a failure, not a skip: tests/run.sh installs python3 when it is missing.
    assert!(
        Command::new("python3").arg("--version").output().is_ok(),
        "python3 is not installed: run the test suite with `bash tests/run.sh`, which installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = WorldConfig { data_dir: dir.path().to_path_buf(), ..WorldConfig::default() };
    cfg.set_port_bases(&[0, 0]);
    let world = World::start(cfg, Persistence::Disk).unwrap();
    world.listen().await.unwrap();
    let imap = world.addr("mx1", Service::Imap).unwrap().port();
    let imaps = world.addr("mx1", Service::Imaps).unwrap().port();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap_clients/imaplib_session.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(script).arg(imap.to_string()).arg(imaps.to_string()).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("imaplib: ok"), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let host = world.host("mx1").unwrap();
    let inbox = host.store.status("alice", "INBOX").unwrap();
    assert_eq!(inbox.messages.len(), 1, "the second message stays in INBOX");
    world.shutdown();
}
