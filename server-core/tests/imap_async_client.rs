//! An IMAP client we did not write (the `async-imap` crate, on tokio, with TLS from rustls) against a world on
//! ephemeral ports with the durable Maildir store: one test per command group, plus the two-device test where a
//! session in IDLE hears another session's changes at once.
//!
//! The client parses every response it gets with `imap-proto`, so these tests also check our grammar from a
//! second, independent parser (the session tests use imap-codec's).

use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{BodyStructure, MessageSection, SectionPath};
use async_imap::types::{Fetch, Flag, NameAttribute};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::store::Flags;
use mailroom_core::world::{Persistence, World};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;

type Tls = TlsStream<TcpStream>;

struct Fixture {
    _dir: tempfile::TempDir,
    world: Arc<World>,
    imap: u16,
    imaps: u16,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.world.shutdown();
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = WorldConfig { data_dir: dir.path().to_path_buf(), ..WorldConfig::default() };
    cfg.set_port_bases(&[0, 0]);
    let world = World::start(cfg, Persistence::Disk).unwrap();
    world.listen().await.unwrap();
    let imap = world.addr("mx1", Service::Imap).unwrap().port();
    let imaps = world.addr("mx1", Service::Imaps).unwrap().port();
    world.host("mx1").unwrap().store.ensure_user("alice").unwrap();
    Fixture { _dir: dir, world, imap, imaps }
}

async fn tls(tcp: TcpStream) -> Tls {
    let connector = tokio_rustls::TlsConnector::from(mailroom_core::tls::insecure_client_config());
    // The name only goes into SNI: the test verifier accepts our self-signed certificate.
    let name = ServerName::try_from("mx1.example.com").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// Logs in over implicit TLS (the 993-offset port).
async fn imaps(port: u16) -> Session<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut client = Client::new(tls(tcp).await);
    client.read_response().await.unwrap().expect("greeting");
    client.login("alice", "password").await.map_err(|(e, _)| e).unwrap()
}

/// Logs in after STARTTLS on the 143-offset port.
async fn starttls(port: u16) -> Session<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut client = Client::new(tcp);
    client.read_response().await.unwrap().expect("greeting");
    client.run_command_and_check_ok("STARTTLS", None).await.unwrap();
    let client = Client::new(tls(client.into_inner()).await);
    client.login("alice", "password").await.map_err(|(e, _)| e).unwrap()
}

fn message(subject: &str, body: &str) -> String {
    format!(
        "From: Bob Example <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\r\n{body}\r\n"
    )
}

const MULTIPART: &str = "From: carol@example.net\r\nTo: alice@example.com\r\nSubject: Report\r\n\
    MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
    --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n\
    --b1\r\nContent-Type: application/octet-stream; name=\"r.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
    AAECAw==\r\n--b1--\r\n";

async fn fetch_all(session: &mut Session<Tls>, set: &str, query: &str) -> Vec<Fetch> {
    session.fetch(set, query).await.unwrap().try_collect().await.unwrap()
}

async fn uid_fetch_all(session: &mut Session<Tls>, set: &str, query: &str) -> Vec<Fetch> {
    session.uid_fetch(set, query).await.unwrap().try_collect().await.unwrap()
}

fn has_flag(f: &Fetch, want: &Flag<'_>) -> bool {
    f.flags().any(|x| &x == want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_over_starttls_and_implicit_tls() {
    let fx = fixture().await;
    let mut s = starttls(fx.imap).await;
    let caps = s.capabilities().await.unwrap();
    for cap in ["IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE"] {
        assert!(caps.has_str(cap), "{cap}");
    }
    s.noop().await.unwrap();
    s.logout().await.unwrap();
    let mut s = imaps(fx.imaps).await;
    s.noop().await.unwrap();
    s.logout().await.unwrap();

    // A wrong password is refused and the client may try again.
    let tcp = TcpStream::connect(("127.0.0.1", fx.imaps)).await.unwrap();
    let mut client = Client::new(tls(tcp).await);
    client.read_response().await.unwrap().unwrap();
    let (_, client) = client.login("alice", "wrong").await.expect_err("refused");
    client.login("alice", "password").await.map_err(|(e, _)| e).unwrap().logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_list_create_delete_rename_subscribe() {
    let fx = fixture().await;
    let mut s = imaps(fx.imaps).await;
    s.create("Projects/2026").await.unwrap();
    let names: Vec<_> = s.list(Some(""), Some("*")).await.unwrap().try_collect().await.unwrap();
    let find = |n: &str| names.iter().find(|x| x.name() == n);
    assert_eq!(find("Projects/2026").unwrap().delimiter(), Some("/"));
    assert!(find("Projects").is_some(), "CREATE makes the parents");
    assert!(find("INBOX").is_some());
    let sent = find("Sent").expect("special-use folders exist");
    assert!(sent.attributes().iter().any(|a| matches!(a, NameAttribute::Sent)), "{:?}", sent.attributes());

    let top: Vec<_> = s.list(Some(""), Some("%")).await.unwrap().try_collect().await.unwrap();
    assert!(!top.iter().any(|n| n.name() == "Projects/2026"), "% stops at the delimiter");

    s.rename("Projects/2026", "Projects/2027").await.unwrap();
    s.subscribe("Projects/2027").await.unwrap();
    let subs: Vec<_> = s.lsub(Some(""), Some("Projects/*")).await.unwrap().try_collect().await.unwrap();
    assert_eq!(subs.iter().map(|n| n.name()).collect::<Vec<_>>(), ["Projects/2027"]);
    s.unsubscribe("Projects/2027").await.unwrap();
    let subs: Vec<_> = s.lsub(Some(""), Some("Projects/*")).await.unwrap().try_collect().await.unwrap();
    assert!(subs.is_empty());

    // Deleting a parent with children leaves a \Noselect placeholder.
    s.delete("Projects").await.unwrap();
    let names: Vec<_> = s.list(Some(""), Some("Projects*")).await.unwrap().try_collect().await.unwrap();
    let parent = names.iter().find(|n| n.name() == "Projects").unwrap();
    assert!(parent.attributes().iter().any(|a| matches!(a, NameAttribute::NoSelect)));
    assert!(s.select("Projects").await.is_err());
    s.delete("Projects/2027").await.unwrap();
    assert!(s.delete("INBOX").await.is_err());
    assert!(s.create("bad//name").await.is_err());
    s.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_examine_status() {
    let fx = fixture().await;
    let store = fx.world.host("mx1").unwrap().store.clone();
    store.append("alice", "INBOX", message("one", "1").as_bytes(), &Flags::new(), None).unwrap();
    store.append("alice", "INBOX", message("two", "2").as_bytes(), &Flags::new(), None).unwrap();
    let mut s = imaps(fx.imaps).await;

    let st = s.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)").await.unwrap();
    assert_eq!(st.exists, 2);
    assert_eq!(st.recent, 2, "nobody has selected INBOX yet");
    assert_eq!(st.uid_next, Some(3));
    assert_eq!(st.unseen, Some(2));
    let validity = st.uid_validity.unwrap();

    let ex = s.examine("INBOX").await.unwrap();
    assert_eq!((ex.exists, ex.uid_validity), (2, Some(validity)));
    assert_eq!(ex.recent, 2, "EXAMINE counts without claiming");
    assert!(ex.permanent_flags.is_empty(), "EXAMINE is read-only");
    let refused = s.run_command_and_check_ok("STORE 1 +FLAGS (\\Seen)").await;
    assert!(refused.is_err(), "{refused:?}");

    let sel = s.select("INBOX").await.unwrap();
    assert_eq!((sel.exists, sel.recent, sel.uid_next), (2, 2, Some(3)));
    assert_eq!(sel.unseen, Some(1), "the first unseen message");
    assert!(sel.permanent_flags.contains(&Flag::MayCreate));
    // Another session selecting now finds nothing recent: this one claimed them.
    let mut other = starttls(fx.imap).await;
    assert_eq!(other.select("INBOX").await.unwrap().recent, 0);
    assert_eq!(other.status("INBOX", "(RECENT)").await.unwrap().recent, 0);
    assert!(s.select("Nope").await.is_err());
    s.logout().await.unwrap();
    other.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_and_fetch_envelope_bodystructure_sections() {
    let fx = fixture().await;
    let mut s = imaps(fx.imaps).await;
    s.append("INBOX", Some("(\\Flagged)"), Some("\"02-Mar-2026 10:00:00 +0000\""), MULTIPART).await.unwrap();
    s.append("INBOX", None, None, message("Hello", "plain text")).await.unwrap();
    s.select("INBOX").await.unwrap();

    let f = fetch_all(&mut s, "1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)").await;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].uid, Some(1));
    assert_eq!(f[0].size, Some(MULTIPART.len() as u32));
    assert!(has_flag(&f[0], &Flag::Flagged));
    assert_eq!(f[0].internal_date().unwrap().to_rfc3339(), "2026-03-02T10:00:00+00:00");
    let env = f[1].envelope().unwrap();
    assert_eq!(env.subject.as_deref(), Some(&b"Hello"[..]));
    let from = &env.from.as_ref().unwrap()[0];
    assert_eq!(from.name.as_deref(), Some(&b"Bob Example"[..]));
    assert_eq!(
        (from.mailbox.as_deref(), from.host.as_deref()),
        (Some(&b"bob"[..]), Some(&b"example.com"[..]))
    );
    match f[0].bodystructure().unwrap() {
        BodyStructure::Multipart { common, bodies, .. } => {
            assert!(common.ty.subtype.eq_ignore_ascii_case("mixed"));
            assert_eq!(bodies.len(), 2);
            assert!(matches!(bodies[0], BodyStructure::Text { .. }));
            assert!(matches!(bodies[1], BodyStructure::Basic { .. }));
        }
        other => panic!("not multipart: {other:?}"),
    }

    // BODY.PEEK leaves \Seen alone; BODY[] sets it.
    let f = uid_fetch_all(&mut s, "1", "(BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert_eq!(f[0].section(&SectionPath::Part(vec![1], None)), Some(&b"See the attachment."[..]));
    let header = f[0].section(&SectionPath::Full(MessageSection::Header)).unwrap();
    assert_eq!(header, b"Subject: Report\r\n\r\n");
    let f = fetch_all(&mut s, "2", "(FLAGS BODY.PEEK[TEXT]<0.5>)").await;
    assert!(!has_flag(&f[0], &Flag::Seen));
    assert_eq!(f[0].text(), Some(&b"plain"[..]));
    let f = fetch_all(&mut s, "2", "BODY[]").await;
    assert_eq!(f[0].body(), Some(message("Hello", "plain text").as_bytes()));
    let f = fetch_all(&mut s, "2", "FLAGS").await;
    assert!(has_flag(&f[0], &Flag::Seen), "BODY[] set \\Seen");
    let f = fetch_all(&mut s, "1", "(RFC822.HEADER)").await;
    assert!(String::from_utf8_lossy(f[0].header().unwrap()).contains("multipart/mixed"));

    assert!(s.append("Nope", None, None, "x\r\n").await.is_err(), "TRYCREATE");
    s.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search() {
    let fx = fixture().await;
    let mut s = imaps(fx.imaps).await;
    s.append("INBOX", Some("(\\Seen)"), None, message("Lunch", "pizza on friday")).await.unwrap();
    s.append("INBOX", None, None, message("Budget", "numbers")).await.unwrap();
    s.append("INBOX", Some("(\\Flagged)"), None, MULTIPART).await.unwrap();
    s.select("INBOX").await.unwrap();
    let sorted = |h: std::collections::HashSet<u32>| {
        let mut v: Vec<u32> = h.into_iter().collect();
        v.sort();
        v
    };
    assert_eq!(sorted(s.search("ALL").await.unwrap()), [1, 2, 3]);
    assert_eq!(sorted(s.search("UNSEEN").await.unwrap()), [2, 3]);
    assert_eq!(sorted(s.search("SUBJECT budget").await.unwrap()), [2]);
    assert_eq!(sorted(s.search("FROM carol").await.unwrap()), [3]);
    assert_eq!(sorted(s.search("BODY pizza").await.unwrap()), [1]);
    assert_eq!(sorted(s.search("OR FLAGGED SEEN").await.unwrap()), [1, 3]);
    assert_eq!(sorted(s.search("NOT FLAGGED LARGER 10").await.unwrap()), [1, 2]);
    assert_eq!(sorted(s.search("CHARSET UTF-8 TEXT attachment").await.unwrap()), [3]);
    assert_eq!(sorted(s.search("2:3 SINCE 1-Mar-2026").await.unwrap()), [2, 3]);
    assert_eq!(sorted(s.search("SENTSINCE 1-Mar-2026").await.unwrap()), [1, 2], "3 has no Date:");
    assert_eq!(sorted(s.uid_search("UID 2:*").await.unwrap()), [2, 3]);
    assert!(s.run_command_and_check_ok("SEARCH FROBNICATE").await.is_err(), "unknown key: BAD");
    s.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_copy_move_expunge() {
    let fx = fixture().await;
    let store = fx.world.host("mx1").unwrap().store.clone();
    let mut s = imaps(fx.imaps).await;
    for i in 1..=5 {
        s.append("INBOX", None, None, message(&format!("m{i}"), "x")).await.unwrap();
    }
    s.create("Projects/2026").await.unwrap();
    s.select("INBOX").await.unwrap();

    let f: Vec<Fetch> = s.store("1", "+FLAGS (\\Flagged $Work)").await.unwrap().try_collect().await.unwrap();
    assert!(has_flag(&f[0], &Flag::Flagged) && has_flag(&f[0], &Flag::Custom("$Work".into())));
    let f: Vec<Fetch> = s.uid_store("1", "-FLAGS.SILENT ($Work)").await.unwrap().try_collect().await.unwrap();
    assert!(f.is_empty(), ".SILENT answers nothing");
    let f = fetch_all(&mut s, "1", "FLAGS").await;
    assert!(has_flag(&f[0], &Flag::Flagged) && !has_flag(&f[0], &Flag::Custom("$Work".into())));

    s.copy("1:2", "Trash").await.unwrap();
    assert_eq!(store.status("alice", "Trash").unwrap().messages.len(), 2);
    assert!(
        store.status("alice", "Trash").unwrap().messages[0]
            .flags
            .contains(&mailroom_core::store::Flag::Flagged)
    );
    s.mv("2", "Projects/2026").await.unwrap();
    assert_eq!(store.status("alice", "Projects/2026").unwrap().messages.len(), 1);
    let uids: Vec<u32> = uid_fetch_all(&mut s, "1:*", "UID").await.iter().map(|f| f.uid.unwrap()).collect();
    assert_eq!(uids, [1, 3, 4, 5], "MOVE removed message 2 here");
    s.uid_mv("5", "Projects/2026").await.unwrap();

    // EXPUNGE removes \Deleted messages and reports their sequence numbers.
    let _: Vec<Fetch> = s.store("2:3", "+FLAGS (\\Deleted)").await.unwrap().try_collect().await.unwrap();
    let gone: Vec<u32> = s.expunge().await.unwrap().try_collect().await.unwrap();
    assert_eq!(gone.len(), 2, "{gone:?}");
    assert_eq!(store.status("alice", "INBOX").unwrap().messages.len(), 1);

    // UID EXPUNGE only removes the given UIDs even when others are \Deleted.
    for i in 6..=7 {
        s.append("INBOX", Some("(\\Deleted)"), None, message(&format!("m{i}"), "x")).await.unwrap();
    }
    s.noop().await.unwrap();
    let gone: Vec<u32> = s.uid_expunge("6").await.unwrap().try_collect().await.unwrap();
    assert_eq!(gone, [2]);
    let left: Vec<u32> = store.status("alice", "INBOX").unwrap().messages.iter().map(|m| m.uid).collect();
    assert_eq!(left, [1, 7]);
    s.close().await.unwrap();
    assert_eq!(store.status("alice", "INBOX").unwrap().messages.len(), 1, "CLOSE expunged the rest");
    s.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_hears_another_device_at_once() {
    use async_imap::extensions::idle::IdleResponse;
    let fx = fixture().await;
    let mut a = imaps(fx.imaps).await;
    a.append("INBOX", None, None, message("first", "x")).await.unwrap();
    a.select("INBOX").await.unwrap();
    let mut b = starttls(fx.imap).await;
    b.select("INBOX").await.unwrap();

    // Device B idles; device A flags the message, then a new one arrives.
    let mut idle = b.idle();
    idle.init().await.unwrap();
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(10));
    let changer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _: Vec<Fetch> = a.store("1", "+FLAGS (\\Flagged)").await.unwrap().try_collect().await.unwrap();
    };
    let (got, ()) = tokio::join!(wait, changer);
    match got.unwrap() {
        IdleResponse::NewData(data) => {
            let text = format!("{:?}", data.parsed());
            assert!(text.contains("Fetch") && text.contains("Flagged"), "{text}");
        }
        other => panic!("no flag change during IDLE: {other:?}"),
    }
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(10));
    let changer = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.append("INBOX", None, None, message("second", "y")).await.unwrap();
    };
    let (got, ()) = tokio::join!(wait, changer);
    match got.unwrap() {
        IdleResponse::NewData(data) => {
            let text = format!("{:?}", data.parsed());
            assert!(text.contains("Exists(2)"), "{text}");
        }
        other => panic!("no EXISTS during IDLE: {other:?}"),
    }
    let mut b = idle.done().await.unwrap();

    // Outside IDLE, B learns of A's expunge at its next NOOP.
    let _: Vec<Fetch> = a.store("1", "+FLAGS (\\Deleted)").await.unwrap().try_collect().await.unwrap();
    let _: Vec<u32> = a.expunge().await.unwrap().try_collect().await.unwrap();
    b.noop().await.unwrap();
    let mut expunged = false;
    while let Ok(u) = b.unsolicited_responses.try_recv() {
        expunged |= matches!(u, async_imap::types::UnsolicitedResponse::Expunge(1));
    }
    assert!(expunged, "B heard EXPUNGE 1 at NOOP");
    let f = fetch_all(&mut b, "1:*", "(UID)").await;
    assert_eq!(f.iter().map(|f| f.uid).collect::<Vec<_>>(), [Some(2)]);
    a.logout().await.unwrap();
    b.logout().await.unwrap();
}
