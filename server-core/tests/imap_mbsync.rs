//! mbsync (Debian package `isync`) mirrors alice's account to a local Maildir over IMAPS and back: the folders and
//! messages arrive locally, and a flag set, a message added and a message deleted on the local side reach the
//! server's store on the next sync.
//!
//! mbsync trusts our self-signed certificate because it is listed in `CertificateFile` (an exact match skips the
//! host name check). Without mbsync the test passes with a message, except under CI (`CI` set), where it fails.

use std::path::{Path, PathBuf};

use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::store::{Flag, Flags};
use mailroom_core::world::{Persistence, World};

fn have_mbsync() -> bool {
    let found = std::process::Command::new("mbsync").arg("--version").output().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "mbsync (isync) must be installed in CI");
        eprintln!("mbsync is not installed: skipping");
    }
    found
}

/// The message files of a local Maildir folder (`cur/` and `new/`).
fn local_messages(folder: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(entries) = std::fs::read_dir(folder.join(sub)) {
            out.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    out.sort();
    out
}

async fn mbsync(rc: &Path) -> String {
    let out = tokio::process::Command::new("mbsync").arg("-c").arg(rc).arg("-a").output().await.unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "mbsync failed:\n{log}");
    log
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\r\n{subject} body\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_mirrors_the_account_both_ways() {
    if !have_mbsync() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = WorldConfig { data_dir: data.clone(), ..WorldConfig::default() };
    cfg.set_port_bases(&[0, 0]);
    let world = World::start(cfg, Persistence::Disk).unwrap();
    world.listen().await.unwrap();
    let imaps = world.addr("mx1", Service::Imaps).unwrap().port();
    let host = world.host("mx1").unwrap();
    let store = host.store.clone();
    store.ensure_user("alice").unwrap();
    store.create_folder("alice", "Projects/2026").unwrap();
    let seen: Flags = [Flag::Seen].into_iter().collect();
    store.append("alice", "INBOX", &message("first"), &Flags::new(), None).unwrap();
    store.append("alice", "INBOX", &message("second"), &seen, None).unwrap();
    store.append("alice", "Projects/2026", &message("plan"), &Flags::new(), None).unwrap();
    store.append("alice", "Sent", &message("reply"), &seen, None).unwrap();

    let mail = dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let cert = data.join("mx1/tls/cert.pem");
    assert!(cert.exists(), "the world wrote its certificate to {}", cert.display());
    let rc = dir.path().join("mbsyncrc");
    let rc_text = format!(
        "IMAPAccount alice\n\
         Host 127.0.0.1\n\
         Port {imaps}\n\
         User alice\n\
         Pass password\n\
         SSLType IMAPS\n\
         CertificateFile {cert}\n\
         \n\
         IMAPStore remote\n\
         Account alice\n\
         \n\
         MaildirStore local\n\
         Path {mail}/\n\
         Inbox {mail}/INBOX\n\
         SubFolders Verbatim\n\
         \n\
         Channel alice\n\
         Far :remote:\n\
         Near :local:\n\
         Patterns *\n\
         Create Both\n\
         Expunge Both\n\
         SyncState *\n",
        cert = cert.display(),
        mail = mail.display(),
    );
    std::fs::write(&rc, rc_text).unwrap();

    // First sync: everything arrives locally.
    mbsync(&rc).await;
    let inbox = mail.join("INBOX");
    let projects = mail.join("Projects/2026");
    let sent = mail.join("Sent");
    let inbox_files = local_messages(&inbox);
    assert_eq!(inbox_files.len(), 2, "{inbox_files:?}");
    assert_eq!(local_messages(&projects).len(), 1);
    assert_eq!(local_messages(&sent).len(), 1);
    for d in ["Drafts", "Trash", "Junk"] {
        assert!(mail.join(d).join("cur").is_dir(), "{d} was created locally");
    }
    let bodies: Vec<String> =
        inbox_files.iter().map(|p| String::from_utf8(std::fs::read(p).unwrap()).unwrap()).collect();
    assert!(
        bodies.iter().any(|b| b.contains("Subject: first")) && bodies.iter().any(|b| b.contains("second"))
    );
    let seen_local = inbox_files.iter().filter(|p| p.to_string_lossy().ends_with(":2,S")).count();
    assert_eq!(seen_local, 1, "the \\Seen flag came along: {inbox_files:?}");

    // Local changes: flag "first", add a message to Projects/2026, delete the one in Sent.
    let first =
        inbox_files.iter().find(|p| std::fs::read_to_string(p).unwrap().contains("Subject: first")).unwrap();
    let name = first.file_name().unwrap().to_string_lossy().to_string();
    let base = name.split(":2,").next().unwrap().to_string();
    std::fs::rename(first, inbox.join("cur").join(format!("{base}:2,F"))).unwrap();
    std::fs::write(projects.join("new").join("1772445600.M1P1.laptop"), message("local")).unwrap();
    for f in local_messages(&sent) {
        std::fs::remove_file(f).unwrap();
    }

    mbsync(&rc).await;
    let st = store.status("alice", "INBOX").unwrap();
    assert_eq!(st.messages.len(), 2);
    let flagged: Vec<_> = st.messages.iter().filter(|m| m.flags.contains(&Flag::Flagged)).collect();
    assert_eq!(flagged.len(), 1, "{:?}", st.messages);
    let data = store.read("alice", "INBOX", flagged[0].uid).unwrap();
    assert!(String::from_utf8_lossy(&data).contains("Subject: first"));
    let st = store.status("alice", "Projects/2026").unwrap();
    assert_eq!(st.messages.len(), 2, "the local message was uploaded");
    let uploaded = store.read("alice", "Projects/2026", st.messages[1].uid).unwrap();
    assert!(String::from_utf8_lossy(&uploaded).contains("Subject: local"));
    assert!(
        store.status("alice", "Sent").unwrap().messages.is_empty(),
        "the local delete reached the server"
    );

    // A third sync changes nothing.
    mbsync(&rc).await;
    assert_eq!(store.status("alice", "Projects/2026").unwrap().messages.len(), 2);
    assert_eq!(local_messages(&projects).len(), 2);
    world.shutdown();
}
