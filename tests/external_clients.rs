//! Real clients we did not write, against a durable world on ephemeral ports: swaks and curl (Debian packages that
//! `tests/run.sh` installs). Each checks what a tutorial reader would type.

mod common;

use std::process::Command;

use common::{start, wait_until};
use mailroom_core::config::Service;

fn need(tool: &str) {
    let ok =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map(|o| o.status.success());
    assert!(
        ok.unwrap_or(false),
        "{tool} is not installed: run the test suite with `bash tests/run.sh`, which installs it"
    );
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_submission_starttls_auth_relays_to_carol() {
    need("swaks");
    let w = start(|_| {}).await;
    let addr = w.addr("mx1", Service::Submission);
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(Command::new("swaks").args([
            "--to",
            "carol@example.net",
            "--from",
            "alice@example.com",
            "--server",
            &addr.to_string(),
            "--tls",
            "--auth-user",
            "alice",
            "--auth-password",
            "password",
            "--header",
            "Subject: swaks relay test",
        ]))
    })
    .await
    .unwrap();
    assert!(ok, "swaks failed:\n{out}");
    assert!(out.contains("250-STARTTLS") || out.contains("250 STARTTLS"), "STARTTLS offered:\n{out}");
    wait_until(10, "carol's copy", || w.count("mx2", "carol", "INBOX") == 1).await;
    assert!(w.messages("mx2", "carol", "INBOX")[0].contains("Subject: swaks relay test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_relay_without_auth_is_denied() {
    need("swaks");
    let w = start(|_| {}).await;
    let addr = w.addr("mx1", Service::Smtp);
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(Command::new("swaks").args([
            "--to",
            "carol@example.net",
            "--from",
            "alice@example.com",
            "--server",
            &addr.to_string(),
        ]))
    })
    .await
    .unwrap();
    assert!(!ok, "relay must be refused:\n{out}");
    assert!(out.contains("5.7.1"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_smtps_implicit_tls_and_bad_password() {
    need("swaks");
    let w = start(|_| {}).await;
    let addr = w.addr("mx1", Service::Smtps).to_string();
    let a = addr.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(Command::new("swaks").args([
            "--to",
            "bob@example.com",
            "--from",
            "alice@example.com",
            "--server",
            &a,
            "--tlsc",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice@example.com",
            "--auth-password",
            "password",
        ]))
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert_eq!(w.count("mx1", "bob", "INBOX"), 1);
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(Command::new("swaks").args([
            "--to",
            "bob@example.com",
            "--from",
            "alice@example.com",
            "--server",
            &addr,
            "--tlsc",
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "wrong",
        ]))
    })
    .await
    .unwrap();
    assert!(!ok, "{out}");
    assert!(out.contains("535") && out.contains("5.7.8"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_smtp_starttls_required_with_auth() {
    need("curl");
    let w = start(|_| {}).await;
    let url = format!("smtp://{}", w.addr("mx1", Service::Submission));
    let (ok, out) = tokio::task::spawn_blocking(move || {
        let mail = "From: alice@example.com\r\nTo: dave@example.net\r\nSubject: curl\r\n\r\nhi from curl\r\n";
        let path = std::env::temp_dir().join(format!("mailroom-curl-{}.eml", std::process::id()));
        std::fs::write(&path, mail).unwrap();
        run(Command::new("curl").args([
            "-sS",
            "-k",
            "--ssl-reqd",
            &url,
            "-u",
            "alice:password",
            "--mail-from",
            "alice@example.com",
            "--mail-rcpt",
            "dave@example.net",
            "-T",
            path.to_str().unwrap(),
        ]))
    })
    .await
    .unwrap();
    assert!(ok, "curl failed: {out}");
    wait_until(10, "dave's copy", || w.count("mx2", "dave", "INBOX") == 1).await;
}
