//! The Maildir store against the shared store tests, plus what only a store on disk has: files other programs
//! touch, crashes, the UID list.

use super::*;
use crate::store::tests as shared;

fn store() -> (tempfile::TempDir, MaildirStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MaildirStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn shared_scenarios() {
    shared::run_all(store);
}

fn seen() -> Flags {
    [Flag::Seen, Flag::Keyword("$Important".into())].into_iter().collect()
}

/// The names of the files in `dir`.
fn file_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

/// An append that fails after its file became visible (the final fsyncs: a full disk, no descriptors left)
/// leaves nothing behind, in the folder or on disk: the sender is told to retry, and a retry must not make a
/// second copy.
#[test]
fn a_failed_append_leaves_nothing_behind() {
    for anonymous in [false, true] {
        let (tmp, mut s) = store();
        s.anonymous_staging = anonymous && cfg!(target_os = "linux");
        s.ensure_user("alice").unwrap();
        FAIL_AFTER_PUBLISH.with(|f| f.set(true));
        let r = s.append("alice", "INBOX", b"one\r\n", &Flags::new(), None);
        FAIL_AFTER_PUBLISH.with(|f| f.set(false));
        assert!(r.is_err());
        assert!(s.status("alice", "INBOX").unwrap().messages.is_empty(), "anonymous={anonymous}");
        let inbox = tmp.path().join("alice/Maildir");
        for sub in ["new", "cur", "tmp"] {
            assert!(file_names(&inbox.join(sub)).is_empty(), "{sub}: {:?}", file_names(&inbox.join(sub)));
        }
        // The retry stores exactly one copy, and a reopen agrees.
        let uid = s.append("alice", "INBOX", b"one\r\n", &Flags::new(), None).unwrap();
        assert_eq!(s.status("alice", "INBOX").unwrap().messages.len(), 1);
        let again = MaildirStore::open(tmp.path()).unwrap();
        let st = again.status("alice", "INBOX").unwrap();
        assert_eq!(st.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![uid]);
    }
}

/// Both ways of staging a message leave the same Maildir behind, with nothing in `tmp/`, internal dates kept,
/// flags in the name, and survive a reopen. On Linux the probe must find unnamed staging working (it does on
/// ext4, xfs, btrfs and tmpfs; the CI machine is ext4).
#[test]
fn staging_named_and_unnamed() {
    #[cfg(target_os = "linux")]
    assert!(staging::probe(tempfile::tempdir().unwrap().path()), "O_TMPFILE staging should work here");
    for anonymous in [false, true] {
        let (tmp, mut s) = store();
        s.anonymous_staging = anonymous && cfg!(target_os = "linux");
        s.ensure_user("alice").unwrap();
        let date = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let a = s.append("alice", "INBOX", b"one\r\n", &Flags::new(), Some(date)).unwrap();
        let b = s.append("alice", "INBOX", b"two\r\n", &seen(), None).unwrap();
        let inbox = tmp.path().join("alice/Maildir");
        let names = |sub: &str| file_names(&inbox.join(sub));
        assert!(names("tmp").is_empty(), "anonymous={anonymous}: {:?}", names("tmp"));
        assert_eq!(names("new").len(), 1);
        assert!(names("cur")[0].ends_with(":2,S"), "{:?}", names("cur"));
        let modified: DateTime<Utc> =
            fs::metadata(inbox.join("new").join(&names("new")[0])).unwrap().modified().unwrap().into();
        assert_eq!(modified, date);
        drop(s);
        let s = MaildirStore::open(tmp.path()).unwrap();
        assert_eq!(&**s.read("alice", "INBOX", a).unwrap(), b"one\r\n");
        assert_eq!(&**s.read("alice", "INBOX", b).unwrap(), b"two\r\n");
        // A folder that vanished while the message was written: nothing is left behind.
        let (tmp2, mut s2) = store();
        s2.anonymous_staging = anonymous && cfg!(target_os = "linux");
        s2.ensure_user("bob").unwrap();
        assert!(s2.append("bob", "NoSuchFolder", b"x\r\n", &Flags::new(), None).is_err());
        assert!(file_names(&tmp2.path().join("bob/Maildir/tmp")).is_empty());
    }
}

#[test]
fn persistence_across_reopen() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    s.create_folder("alice", "Projects/2026").unwrap();
    s.set_subscribed("alice", "Projects/2026", true).unwrap();
    s.set_subscribed("alice", "Junk", false).unwrap();
    let a = s.append("alice", "INBOX", b"a\r\n", &seen(), None).unwrap();
    let b = s.append("alice", "INBOX", b"bb\r\n", &Flags::new(), None).unwrap();
    let c = s.append("alice", "INBOX", b"ccc\r\n", &Flags::new(), None).unwrap();
    s.store_flags("alice", "INBOX", &[b], FlagOp::Add, &[Flag::Flagged].into_iter().collect()).unwrap();
    s.expunge("alice", "INBOX", &[c]).unwrap();
    s.append("alice", "Projects/2026", b"p\r\n", &Flags::new(), None).unwrap();
    let before = s.status("alice", "INBOX").unwrap();
    let before_p = s.status("alice", "Projects/2026").unwrap();
    let folders = s.folders("alice").unwrap();
    drop(s);

    let s = MaildirStore::open(tmp.path()).unwrap();
    assert_eq!(s.status("alice", "INBOX").unwrap(), before);
    assert_eq!(s.status("alice", "Projects/2026").unwrap(), before_p);
    assert_eq!(s.folders("alice").unwrap(), folders);
    assert_eq!(&*s.read("alice", "INBOX", a).unwrap(), b"a\r\n");
    // UIDs are never reused, not even for the expunged highest one after a restart.
    let d = s.append("alice", "inbox", b"d\r\n", &Flags::new(), None).unwrap();
    assert!(d > c);
    // Messages nobody claimed yet are recent again after a restart; a fresh claim covers them.
    let recent = s.claim_recent("alice", "INBOX").unwrap();
    assert!(recent.contains(&d), "{recent:?}");
    // ensure_user on an existing user changes nothing.
    s.ensure_user("alice").unwrap();
    assert_eq!(s.folders("alice").unwrap(), folders);
}

#[test]
fn flags_in_file_names() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    let a = s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
    let inbox = tmp.path().join("alice/Maildir");
    let list = |sub: &str| file_names(&inbox.join(sub));
    assert_eq!(list("new").len(), 1);
    let flags: Flags =
        [Flag::Seen, Flag::Answered, Flag::Flagged, Flag::Keyword("x".into())].into_iter().collect();
    s.store_flags("alice", "INBOX", &[a], FlagOp::Set, &flags).unwrap();
    let cur = list("cur");
    assert_eq!(cur.len(), 1);
    assert!(cur[0].ends_with(":2,FRS"), "{cur:?}");
    assert!(list("new").is_empty());
    // mutt marks it deleted and unflagged: the store takes that over, keywords stay.
    let renamed = cur[0].replace(":2,FRS", ":2,RST");
    fs::rename(inbox.join("cur").join(&cur[0]), inbox.join("cur").join(&renamed)).unwrap();
    let st = s.status("alice", "INBOX").unwrap();
    let want: Flags =
        [Flag::Seen, Flag::Answered, Flag::Deleted, Flag::Keyword("x".into())].into_iter().collect();
    assert_eq!(st.messages[0].flags, want);
    assert_eq!(&*s.read("alice", "INBOX", a).unwrap(), b"a\r\n");
    // claim_recent moves new mail to cur/.
    let b = s.append("alice", "INBOX", b"b\r\n", &Flags::new(), None).unwrap();
    assert_eq!(s.claim_recent("alice", "INBOX").unwrap(), vec![a, b]);
    assert!(list("new").is_empty());
    assert!(list("cur").iter().any(|n| n.ends_with(":2,")));
    assert_eq!(&*s.read("alice", "INBOX", b).unwrap(), b"b\r\n");
}

#[test]
fn files_by_hand() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    let a = s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
    let b = s.append("alice", "INBOX", b"b\r\n", &Flags::new(), None).unwrap();
    let validity = s.status("alice", "INBOX").unwrap().uid_validity;
    let inbox = tmp.path().join("alice/Maildir");
    fs::write(inbox.join("new/dropped.by.hand"), b"hello\r\n").unwrap();
    fs::write(inbox.join("cur/seen.by.hand:2,S"), b"seen\r\n").unwrap();
    let mut rx = s.subscribe();
    let st = s.status("alice", "INBOX").unwrap();
    assert_eq!(st.uid_validity, validity);
    assert_eq!(st.messages.len(), 4);
    let (c, d) = (st.messages[2].uid, st.messages[3].uid);
    assert!(c > b && d > c);
    assert!(matches!(rx.try_recv().unwrap().kind, ChangeKind::Appended { .. }));
    let texts = [s.read("alice", "INBOX", c).unwrap(), s.read("alice", "INBOX", d).unwrap()];
    assert!(texts.iter().any(|t| **t == b"hello\r\n"[..]));
    let seen_one = st.messages.iter().find(|m| m.size == 6).unwrap();
    assert!(seen_one.flags.contains(&Flag::Seen));

    // A file deleted by hand disappears from the list.
    let name = fs::read_dir(inbox.join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n != "dropped.by.hand")
        .unwrap();
    fs::remove_file(inbox.join("new").join(name)).unwrap();
    let st = s.status("alice", "INBOX").unwrap();
    assert_eq!(st.messages.len(), 3);
    assert!(!st.messages.iter().any(|m| m.uid == a) || !st.messages.iter().any(|m| m.uid == b));

    // Still the same after a restart, and new UIDs keep climbing.
    drop(s);
    let s = MaildirStore::open(tmp.path()).unwrap();
    let after = s.status("alice", "INBOX").unwrap();
    assert_eq!(after.messages, st.messages);
    assert_eq!(after.uid_validity, validity);
    assert!(s.append("alice", "INBOX", b"e\r\n", &Flags::new(), None).unwrap() > d);
}

#[test]
fn status_skips_the_scan_only_while_the_directories_are_unchanged() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
    let inbox = tmp.path().join("alice/Maildir");
    // Once the directory times are old enough to trust, a status records them...
    std::thread::sleep(MTIME_TRUST + Duration::from_millis(100));
    assert_eq!(s.status("alice", "INBOX").unwrap().messages.len(), 1);
    let handle = s.user("alice").unwrap();
    assert!(handle.lock().folders["INBOX"].scanned.is_some(), "the times were recorded");
    // ...and a file dropped in by hand changes them, so the next status scans and finds it.
    fs::write(inbox.join("new/dropped.by.hand"), b"hello\r\n").unwrap();
    assert_eq!(s.status("alice", "INBOX").unwrap().messages.len(), 2);
    // Fresh times are not trusted: a change within the same clock tick must not be missed.
    assert!(handle.lock().folders["INBOX"].scanned.is_none());
    fs::rename(inbox.join("new/dropped.by.hand"), inbox.join("cur/dropped.by.hand:2,F")).unwrap();
    let st = s.status("alice", "INBOX").unwrap();
    assert!(st.messages[1].flags.contains(&Flag::Flagged));
}

#[test]
fn open_records_the_directory_times_of_its_scan() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
    drop(s);
    std::thread::sleep(MTIME_TRUST + Duration::from_millis(100));
    let s = MaildirStore::open(tmp.path()).unwrap();
    let handle = s.user("alice").unwrap();
    assert!(handle.lock().folders["INBOX"].scanned.is_some(), "the scan at open recorded the times");
    // A file dropped in afterwards still changes them, so the next status finds it.
    fs::write(tmp.path().join("alice/Maildir/new/dropped.by.hand"), b"hello\r\n").unwrap();
    assert_eq!(s.status("alice", "INBOX").unwrap().messages.len(), 2);
}

#[test]
fn corrupt_uidlist_is_rebuilt() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    let date = DateTime::parse_from_rfc3339("2020-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
    s.append("alice", "INBOX", b"first\r\n", &Flags::new(), Some(date)).unwrap();
    s.append("alice", "INBOX", b"second\r\n", &[Flag::Seen].into_iter().collect(), None).unwrap();
    let before = s.status("alice", "INBOX").unwrap();
    drop(s);
    let list = tmp.path().join("alice/Maildir").join(UIDLIST);
    fs::write(&list, "mailroom-uidlist 1 garbage\n").unwrap();
    let s = MaildirStore::open(tmp.path()).unwrap();
    let after = s.status("alice", "INBOX").unwrap();
    assert_ne!(after.uid_validity, before.uid_validity);
    assert_eq!(after.messages.len(), 2);
    // Rebuilt in arrival order, with the internal date from the file time and the flags from the name.
    assert_eq!(after.messages[0].internal_date, date);
    assert_eq!(&*s.read("alice", "INBOX", after.messages[0].uid).unwrap(), b"first\r\n");
    assert_eq!(after.messages[1].flags, [Flag::Seen].into_iter().collect::<FlagSet>());
    assert_eq!(after.messages[1].size, 8);
    assert!(tmp.path().join("alice/Maildir/mailroom-uidlist.corrupt").exists());

    // A missing list is rebuilt too; the new UIDVALIDITY differs again.
    drop(s);
    fs::remove_file(&list).unwrap();
    let s = MaildirStore::open(tmp.path()).unwrap();
    let again = s.status("alice", "INBOX").unwrap();
    assert_ne!(again.uid_validity, after.uid_validity);
    assert_eq!(again.messages.len(), 2);
}

#[test]
fn torn_journal_line_is_ignored() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
    let before = s.status("alice", "INBOX").unwrap();
    drop(s);
    let list = tmp.path().join("alice/Maildir").join(UIDLIST);
    let mut f = OpenOptions::new().append(true).open(&list).unwrap();
    f.write_all(b"M 7 9 3 2026-01-01T00:00:00Z - half-writ").unwrap();
    let s = MaildirStore::open(tmp.path()).unwrap();
    assert_eq!(s.status("alice", "INBOX").unwrap(), before);
    assert_eq!(s.append("alice", "INBOX", b"b\r\n", &Flags::new(), None).unwrap(), before.uid_next);
}

#[test]
fn journal_compacts() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    let a = s.append("alice", "INBOX", b"a\r\n", &Flags::new(), None).unwrap();
    for i in 0..(COMPACT_SLACK * 2) {
        let op = if i % 2 == 0 { FlagOp::Add } else { FlagOp::Remove };
        s.store_flags("alice", "INBOX", &[a], op, &[Flag::Seen].into_iter().collect()).unwrap();
    }
    let text = fs::read_to_string(tmp.path().join("alice/Maildir").join(UIDLIST)).unwrap();
    assert!(text.lines().count() < COMPACT_SLACK + 10, "{} lines", text.lines().count());
    let before = s.status("alice", "INBOX").unwrap();
    drop(s);
    let s = MaildirStore::open(tmp.path()).unwrap();
    assert_eq!(s.status("alice", "INBOX").unwrap(), before);
}

#[test]
fn folder_name_encoding() {
    for (name, dir) in [
        ("Entwürfe", ".Entwürfe"),
        ("a.b/c", ".a%2Eb.c"),
        ("Projects/2026", ".Projects.2026"),
        ("INBOX/x", ".INBOX.x"),
        ("a b/&c", ".a b.&c"),
    ] {
        assert_eq!(dir_name(name), dir, "{name}");
        assert_eq!(dir_to_name(dir).as_deref(), Some(name), "{dir}");
    }
    // Valid names cannot hold `%`, but the escape is ready for it.
    assert_eq!(dir_name("100%"), ".100%25");
    for bad in ["nodot", ".", "..", ".a..b", ".%2Ex", ".%2e", ".a%2", ".%ZZ", ".INBOX", ".inbox.x", ".%41"] {
        assert_eq!(dir_to_name(bad), None, "{bad}");
    }
    // Through the store, on disk and back after a restart.
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    for name in ["Entwürfe", "a.b/c", "Projects/2026"] {
        s.create_folder("alice", name).unwrap();
        s.append("alice", name, name.as_bytes(), &Flags::new(), None).unwrap();
    }
    assert!(tmp.path().join("alice/Maildir/.a%2Eb.c/cur").is_dir());
    assert!(tmp.path().join("alice/Maildir/.Entwürfe/new").is_dir());
    drop(s);
    let s = MaildirStore::open(tmp.path()).unwrap();
    for name in ["Entwürfe", "a.b/c", "Projects/2026", "a.b", "Projects"] {
        assert!(s.status("alice", name).is_ok(), "{name}");
    }
    assert_eq!(&*s.read("alice", "a.b/c", 1).unwrap(), b"a.b/c");
    let long = "x.".repeat(100);
    assert!(matches!(s.create_folder("alice", &long), Err(StoreError::InvalidName(_))));
}

#[test]
fn placeholders_and_renames_on_disk() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    let md = tmp.path().join("alice/Maildir");
    s.create_folder("alice", "A/b").unwrap();
    s.append("alice", "A", b"x\r\n", &Flags::new(), None).unwrap();
    let validity = s.status("alice", "A").unwrap().uid_validity;
    s.delete_folder("alice", "A").unwrap();
    assert!(md.join(".A").join(NOSELECT).exists());
    assert!(!md.join(".A/cur").exists());
    s.rename_folder("alice", "A", "Z").unwrap();
    assert!(md.join(".Z").join(NOSELECT).exists() && md.join(".Z.b/cur").is_dir());
    drop(s);
    let s = MaildirStore::open(tmp.path()).unwrap();
    let f = s.folders("alice").unwrap();
    assert!(f.iter().any(|f| f.name == "Z" && !f.selectable), "{f:?}");
    assert!(matches!(s.status("alice", "Z"), Err(StoreError::NoSuchFolder)));
    s.create_folder("alice", "Z").unwrap();
    let st = s.status("alice", "Z").unwrap();
    assert_eq!((st.uid_validity, st.uid_next, st.messages.len()), (validity, 2, 0));
    // A hand-made `.Q.r` gets a placeholder parent at open.
    drop(s);
    make_dirs(&md.join(".Q.r")).unwrap();
    let s = MaildirStore::open(tmp.path()).unwrap();
    let f = s.folders("alice").unwrap();
    assert!(f.iter().any(|f| f.name == "Q" && !f.selectable));
    assert!(f.iter().any(|f| f.name == "Q/r" && f.selectable));
    // Renaming INBOX moves the files.
    s.append("alice", "INBOX", b"i\r\n", &Flags::new(), None).unwrap();
    s.rename_folder("alice", "INBOX", "Old").unwrap();
    assert_eq!(fs::read_dir(md.join(".Old/new")).unwrap().count(), 1);
    assert_eq!(fs::read_dir(md.join("new")).unwrap().count(), 0);
    drop(s);
    let s = MaildirStore::open(tmp.path()).unwrap();
    assert_eq!(s.status("alice", "Old").unwrap().messages.len(), 1);
    assert!(s.status("alice", "INBOX").unwrap().messages.is_empty());
}

#[test]
fn list_fields_round_trip() {
    for kws in [vec![], vec!["-"], vec!["a,b", "with space", "100%"], vec!["\\x", "-y", "ü"]] {
        let mut flags: Flags = kws.iter().map(|k| Flag::Keyword(k.to_string())).collect();
        flags.insert(Flag::Answered);
        let text = flags_field(&FlagSet::from(&flags));
        assert!(!text.contains(' '), "{text}");
        assert_eq!(parse_flags(&text), Some(flags));
    }
    assert_eq!(parse_flags("-"), Some(Flags::new()));
    assert_eq!(parse_flags("\\Bogus"), None);
    let entry = Entry {
        meta: MessageMeta { uid: 3, flags: FlagSet::new(), internal_date: Utc::now(), size: 9, modseq: 4 },
        base: "odd name%,x".into(),
        rel: String::new(),
    };
    let back = parse_m(m_line(&entry).trim_end()).unwrap();
    assert_eq!((back.meta, back.base), (entry.meta, entry.base));
}

#[test]
fn bad_user_names() {
    let (_tmp, s) = store();
    for bad in ["", "..", "../x", "a/b", ".hidden", "nul\0"] {
        assert!(s.ensure_user(bad).is_err(), "{bad:?}");
        assert!(matches!(s.status(bad, "INBOX"), Err(StoreError::NoSuchUser)));
    }
}

#[test]
fn concurrent_appends() {
    let (tmp, s) = store();
    s.ensure_user("alice").unwrap();
    let s = Arc::new(s);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        s.append("alice", "INBOX", format!("{t}-{i}\r\n").as_bytes(), &Flags::new(), None)
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut uids: Vec<Uid> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 100);
    let before = s.status("alice", "INBOX").unwrap();
    assert_eq!(before.messages.len(), 100);
    drop(s);
    let s = MaildirStore::open(tmp.path()).unwrap();
    assert_eq!(s.status("alice", "INBOX").unwrap(), before);
}
