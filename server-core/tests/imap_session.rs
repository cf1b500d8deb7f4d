//! IMAP session tests: RFC transcripts as C:/S: vectors re-fed in small chunks, one test per command group, the
//! two-device sync test, STARTTLS input discarding and the limits.
//!
//! Every response line the server writes here is decoded by imap-codec's response parser (strict, no quirks), a
//! parser we did not write: a response it rejects fails the test, so the grammar is checked by a third party. The
//! exceptions are ESEARCH (RFC 4731) and SORT (RFC 5256), which that imap-codec version does not know: they are
//! checked by strict matchers of the RFCs' grammar here, and by imaptest's scripts (docs/imap-compliance.md).

use std::sync::Arc;

use imap_codec::decode::Decoder;
use imap_codec::{GreetingCodec, ResponseCodec};
use mailroom_core::config::{Service, WorldConfig};
use mailroom_core::event::EventBus;
use mailroom_core::host::{CollectingSubmitter, Host};
use mailroom_core::imap::ImapSession;
use mailroom_core::session::{ConnInfo, Flow, Session, TlsInfo};
use mailroom_core::store::{Flag, Flags};

fn host() -> Arc<Host> {
    let cfg = WorldConfig::default();
    Arc::new(Host::new_memory(&cfg.hosts[0], Arc::new(CollectingSubmitter::default()), EventBus::default()))
}

fn conn(plaintext_auth_ok: bool, tls_available: bool) -> ConnInfo {
    ConnInfo {
        service: Service::Imap,
        peer: "127.0.0.1:40000".into(),
        peer_ip: None,
        plaintext_auth_ok,
        tls: None,
        tls_available,
    }
}

/// Splits server output into responses (a line, plus any literal it announces, plus the rest of the line).
fn split_responses(out: &[u8]) -> Vec<&[u8]> {
    let mut responses = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < out.len() {
        let Some(nl) = out[pos..].windows(2).position(|w| w == b"\r\n").map(|n| n + pos) else {
            panic!("output does not end with CRLF: {:?}", String::from_utf8_lossy(&out[start..]));
        };
        let line = &out[pos..nl];
        if let Some(open) = line.iter().rposition(|&b| b == b'{')
            && line.ends_with(b"}")
            && let Ok(n) =
                std::str::from_utf8(&line[open + 1..line.len() - 1]).unwrap_or("x").parse::<usize>()
        {
            pos = nl + 2 + n;
            continue;
        }
        responses.push(&out[start..nl + 2]);
        pos = nl + 2;
        start = pos;
    }
    responses
}

/// RFC 4731 §4, which imap-codec (2.0.0-alpha.10) does not implement, checked here strictly:
///
/// ```text
/// esearch-response   = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
/// search-correlator  = SP "(" "TAG" SP tag-string ")"
/// search-return-data = "MIN" SP nz-number / "MAX" SP nz-number / "ALL" SP sequence-set / "COUNT" SP number
///                      / "MODSEQ" SP mod-sequence-value                       ; RFC 7162 §7
///                      / "PARTIAL" SP "(" partial-range SP (sequence-set / "NIL") ")"   ; RFC 9394 §3
///                      / ("ADDTO" / "REMOVEFROM") SP "(" number SP sequence-set ")"   ; RFC 5267 §6
/// ```
fn esearch_ok(r: &[u8]) -> bool {
    let Some(rest) = std::str::from_utf8(r).ok().and_then(|r| r.strip_prefix("* ESEARCH")) else {
        return false;
    };
    let Some(rest) = rest.strip_suffix("\r\n") else { return false };
    let rest = match rest.strip_prefix(" (TAG \"") {
        Some(t) => match t.split_once("\")") {
            Some((tag, r)) if !tag.is_empty() && !tag.contains(['"', '\\']) => r,
            _ => return false,
        },
        None => rest,
    };
    let rest = rest.strip_prefix(" UID").unwrap_or(rest);
    if rest.is_empty() {
        return true;
    }
    let number = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    let set = |w: &str| w.split([',', ':']).all(|n| number(n) && n != "0");
    // The parenthesised items are single words once their parentheses and inner space are checked.
    let mut flat = String::new();
    let mut rest_items = rest;
    while let Some(open) = rest_items.find(" (") {
        let Some(close) = rest_items[open..].find(')').map(|c| c + open) else { return false };
        let (head, inner) = (&rest_items[..open], &rest_items[open + 2..close]);
        let Some((first, second)) = inner.split_once(' ') else { return false };
        let keyword = head.rsplit(' ').next().unwrap_or_default();
        let ok = match keyword {
            "PARTIAL" => {
                let range = first.strip_prefix('-').map_or(first, |r| r);
                let ends: Vec<&str> = range.split(':').map(|e| e.strip_prefix('-').unwrap_or(e)).collect();
                ends.len() == 2
                    && ends.iter().all(|e| number(e) && *e != "0")
                    && (second == "NIL" || set(second))
            }
            "ADDTO" | "REMOVEFROM" => number(first) && set(second),
            _ => false,
        };
        if !ok {
            return false;
        }
        flat.push_str(head);
        flat.push_str(" 1");
        rest_items = &rest_items[close + 1..];
    }
    flat.push_str(rest_items);
    let rest = flat.as_str();
    let words: Vec<&str> = rest.split(' ').skip(1).collect();
    words.len().is_multiple_of(2)
        && words.chunks(2).all(|kv| match kv[0] {
            "MIN" | "MAX" => number(kv[1]) && kv[1] != "0",
            "ALL" => set(kv[1]),
            "COUNT" | "MODSEQ" | "PARTIAL" | "ADDTO" | "REMOVEFROM" => number(kv[1]),
            _ => false,
        })
}

/// RFC 5256 §5, unknown to imap-codec too:
///
/// ```text
/// thread-data    = "THREAD" [SP 1*thread-list]
/// thread-list    = "(" (thread-members / thread-nested) ")"
/// thread-members = nz-number *(SP nz-number) [SP thread-nested]
/// thread-nested  = 2*thread-list
/// ```
fn thread_ok(r: &[u8]) -> bool {
    fn list(s: &[u8], at: &mut usize) -> bool {
        if s.get(*at) != Some(&b'(') {
            return false;
        }
        *at += 1;
        loop {
            match s.get(*at) {
                Some(b'1'..=b'9') => {
                    while s.get(*at).is_some_and(u8::is_ascii_digit) {
                        *at += 1;
                    }
                    match s.get(*at) {
                        Some(b' ') => *at += 1,
                        Some(b')') => {
                            *at += 1;
                            return true;
                        }
                        _ => return false,
                    }
                }
                Some(b'(') => {
                    let mut nested = 0;
                    while s.get(*at) == Some(&b'(') {
                        if !list(s, at) {
                            return false;
                        }
                        nested += 1;
                    }
                    *at += 1;
                    return s.get(*at - 1) == Some(&b')') && nested >= 2;
                }
                _ => return false,
            }
        }
    }
    let Some(rest) = r.strip_prefix(b"* THREAD").and_then(|r| r.strip_suffix(b"\r\n")) else { return false };
    let Some(rest) = rest.strip_prefix(b" ") else { return rest.is_empty() };
    let mut at = 0;
    while at < rest.len() {
        if !list(rest, &mut at) {
            return false;
        }
    }
    !rest.is_empty()
}

/// The origin of a partial BINARY (`BINARY[1]<6>`), which imaptest's `fetch-binary-mime*` scripts and Dovecot
/// give as for BODY, but which imap-codec (2.0.0-alpha.10) rejects, following RFC 3516 §9's grammar: checked and
/// cut out, so that imap-codec checks the rest. None when the response has none.
fn without_binary_origin(r: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(r).ok()?;
    let at = text.find("BINARY[")?;
    let close = at + text[at..].find("]<")?;
    let origin_end = close + text[close..].find('>')?;
    let origin = &text[close + 2..origin_end];
    (!origin.is_empty() && origin.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{}{}", &text[..close + 1], &text[origin_end + 1..]).into_bytes())
}

/// A LIST response with RFC 5258 extended data, as Mailroom sends it (CHILDINFO, or NOTIFY's OLDNAME), checked
/// strictly and returned without it; None for any other response.
///
/// ```text
/// oldname-extended-item    = DQUOTE "OLDNAME" DQUOTE SP "(" mailbox ")"          ; RFC 5465 §5.4, RFC 9051 §9
/// mailbox-list             = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
///                            [SP mbox-list-extended]
/// mbox-list-extended       = "(" [mbox-list-extended-item *(SP mbox-list-extended-item)] ")"
/// childinfo-extended-item  = "CHILDINFO" SP "(" list-select-base-opt-quoted
///                            *(SP list-select-base-opt-quoted) ")"
/// list-select-base-opt-quoted = DQUOTE list-select-base-opt DQUOTE
/// ```
fn without_childinfo(r: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(r).ok()?.strip_prefix("* LIST ")?.strip_suffix("\r\n")?;
    if let Some((list, old)) = text.split_once(" (\"OLDNAME\" (") {
        // The old name is a mailbox as the LIST response's own: let imap-codec check it there.
        let old = old.strip_suffix("))")?;
        let (attrs, _) = list.rsplit_once(' ')?;
        let both = [format!("* LIST {list}\r\n"), format!("* LIST {attrs} {old}\r\n")];
        let codec_ok = |l: &String| matches!(ResponseCodec::default().decode(l.as_bytes()), Ok((rest, _)) if rest.is_empty());
        return both.iter().all(codec_ok).then(|| both[0].clone().into_bytes());
    }
    let (list, ext) = text.split_once(" (CHILDINFO (")?;
    let opts = ext.strip_suffix("))")?;
    let quoted = |o: &str| matches!(o, "\"SUBSCRIBED\"" | "\"SPECIAL-USE\"");
    opts.split(' ').all(quoted).then(|| format!("* LIST {list}\r\n").into_bytes())
}

/// RFC 8474 §7's data items, unknown to imap-codec, checked strictly here and replaced by an item imap-codec knows
/// in the same place (MODSEQ in FETCH, MESSAGES in STATUS), so that it checks the rest; None when there are none.
///
/// ```text
/// fetch-emailid-resp  = "EMAILID" SP "(" objectid ")"
/// fetch-threadid-resp = "THREADID" SP ( "(" objectid ")" / nil )
/// status-att-value    =/ "MAILBOXID" SP "(" objectid ")"
/// objectid            = 1*255(ALPHA / DIGIT / "_" / "-")
/// ```
fn without_objectids(r: &[u8]) -> Option<Vec<u8>> {
    let mut text = std::str::from_utf8(r).ok()?.to_string();
    let fetch = text.starts_with("* ") && text.contains(" FETCH (");
    if !fetch && !text.starts_with("* STATUS ") {
        return None;
    }
    let objectid = |id: &str| {
        (1..=255).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let mut found = false;
    for (key, stand_in) in
        [("EMAILID ", "MODSEQ (1)"), ("THREADID ", "MODSEQ (1)"), ("MAILBOXID ", "MESSAGES 0")]
    {
        while let Some(at) =
            text.find(&format!("({key}")).or_else(|| text.find(&format!(" {key}"))).map(|a| a + 1)
        {
            let value_at = at + key.len();
            let len = if key == "THREADID " && text[value_at..].starts_with("NIL") {
                3
            } else {
                let id = text[value_at..].strip_prefix('(')?.split(')').next()?;
                assert!(objectid(id), "not an objectid: {id:?} in {text:?}");
                id.len() + 2
            };
            assert!(fetch == (key != "MAILBOXID "), "{key} in the wrong response: {text:?}");
            text.replace_range(at..value_at + len, stand_in);
            found = true;
        }
    }
    found.then(|| text.into_bytes())
}

/// Decodes every response with imap-codec (ESEARCH, which it lacks, with [`esearch_ok`]); panics on the first it
/// rejects.
fn check_grammar(out: &[u8], greeting: bool) {
    for (i, r) in split_responses(out).into_iter().enumerate() {
        let ok = if r.starts_with(b"* ESEARCH") {
            esearch_ok(r)
        } else if r.starts_with(b"* THREAD") {
            thread_ok(r)
        } else if let Some(numbers) = r.strip_prefix(b"* SORT").and_then(|n| n.strip_suffix(b"\r\n")) {
            // RFC 5256 §5, also unknown to imap-codec: sort-data = "SORT" *(SP nz-number)
            numbers
                .split(|&b| b == b' ')
                .skip(1)
                .all(|n| !n.is_empty() && n[0] != b'0' && n.iter().all(u8::is_ascii_digit))
                && (numbers.is_empty() || numbers[0] == b' ')
        } else if let Some(known) = without_objectids(r) {
            matches!(ResponseCodec::default().decode(&known), Ok((rest, _)) if rest.is_empty())
        } else if let Some(known) = without_binary_origin(r) {
            matches!(ResponseCodec::default().decode(&known), Ok((rest, _)) if rest.is_empty())
        } else if let Some(list) = without_childinfo(r) {
            // RFC 5258 §6, unknown to imap-codec: the mailbox-list before the extended data is still its to check.
            matches!(ResponseCodec::default().decode(&list), Ok((rest, _)) if rest.is_empty())
        } else if greeting && i == 0 {
            matches!(GreetingCodec::default().decode(r), Ok((rest, _)) if rest.is_empty())
        } else {
            matches!(ResponseCodec::default().decode(r), Ok((rest, _)) if rest.is_empty())
        };
        assert!(
            ok,
            "imap-codec rejects {:?}: {:?}",
            String::from_utf8_lossy(r),
            ResponseCodec::default().decode(r)
        );
    }
}

/// A test client: one session, output checked by imap-codec.
struct Client {
    session: ImapSession,
    last_flow: Flow,
}

impl Client {
    fn new(host: &Arc<Host>) -> Client {
        Client::with_conn(host, conn(true, false))
    }

    fn with_conn(host: &Arc<Host>, c: ConnInfo) -> Client {
        let mut session = ImapSession::new(host.clone(), c);
        let mut out = Vec::new();
        session.greeting(&mut out);
        check_grammar(&out, true);
        Client { session, last_flow: Flow::Continue }
    }

    fn send(&mut self, input: &str) -> String {
        self.send_bytes(input.as_bytes())
    }

    fn send_bytes(&mut self, input: &[u8]) -> String {
        let mut out = Vec::new();
        self.last_flow = self.session.receive(input, &mut out);
        check_grammar(&out, false);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn login(host: &Arc<Host>, user: &str) -> Client {
        let mut c = Client::new(host);
        let r = c.send(&format!("l1 LOGIN {user} password\r\n"));
        assert!(r.contains("l1 OK"), "{r}");
        c
    }
}

fn append(host: &Host, user: &str, folder: &str, msg: &str, flags: &[Flag]) -> u32 {
    let flags: Flags = flags.iter().cloned().collect();
    host.store.append(user, folder, msg.as_bytes(), &flags, None).unwrap()
}

/// Sends each command of a table as tag `t` and expects its one untagged line, then `t OK <verb> completed`.
fn expect_each(c: &mut Client, table: &[(&str, &str)], verb: &str) {
    for (command, want) in table {
        let r = c.send(&format!("t {command}\r\n"));
        assert_eq!(r, format!("{want}\r\nt OK {verb} completed\r\n"), "{command}");
    }
}

/// Two sessions of alice with INBOX selected, as two devices.
fn two_devices(host: &Arc<Host>) -> (Client, Client) {
    let mut a = Client::login(host, "alice");
    let mut b = Client::login(host, "alice");
    a.send("s SELECT INBOX\r\n");
    b.send("s SELECT INBOX\r\n");
    (a, b)
}

fn msg(subject: &str, body: &str) -> String {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

// ------------------------------------------------------------------------------------------------------------
// Vectors

/// Glob match of one line: `<*>` matches any run of characters.
fn line_matches(want: &str, got: &str) -> bool {
    let parts: Vec<&str> = want.split("<*>").collect();
    if parts.len() == 1 {
        return want == got;
    }
    let mut rest = got;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            let Some(at) = rest.find(p) else { return false };
            rest = &rest[at + p.len()..];
        }
    }
    true
}

fn unescape(s: &str) -> String {
    s.replace("\\r\\n", "\r\n")
}

/// Runs one transcript: `D: user folder (flags) message` lines seed the store, `C:` lines are sent (CRLF added),
/// `S:` lines are the expected output lines (`<*>` is a wildcard).
fn run_vector(text: &str, chunk: usize) {
    let host = host();
    let mut session = ImapSession::new(host.clone(), conn(true, false));
    let mut out = Vec::new();
    session.greeting(&mut out);
    let mut output = out.clone();
    let mut expected: Vec<String> = Vec::new();
    let mut pending_input: Vec<u8> = Vec::new();
    let flush = |session: &mut ImapSession, input: &mut Vec<u8>, output: &mut Vec<u8>| {
        for piece in input.chunks(chunk) {
            let mut out = Vec::new();
            session.receive(piece, &mut out);
            output.extend_from_slice(&out);
        }
        input.clear();
    };
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("D: ") {
            let mut parts = d.splitn(4, ' ');
            let (user, folder, flags, message) =
                (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let flags: Vec<Flag> =
                flags.trim_matches(['(', ')']).split_whitespace().filter_map(Flag::from_imap).collect();
            append(&host, user, folder, &unescape(message), &flags);
        } else if let Some(c) = line.strip_prefix("C: ") {
            pending_input.extend_from_slice(unescape(c).as_bytes());
            pending_input.extend_from_slice(b"\r\n");
        } else if let Some(s) = line.strip_prefix("S: ") {
            flush(&mut session, &mut pending_input, &mut output);
            expected.push(s.to_string());
        } else if line == "S:" {
            flush(&mut session, &mut pending_input, &mut output);
            expected.push(String::new());
        }
    }
    flush(&mut session, &mut pending_input, &mut output);
    check_grammar(&output, true);
    let text = String::from_utf8_lossy(&output);
    let got: Vec<&str> = text.split("\r\n").collect();
    let got = &got[..got.len() - 1];
    for (i, want) in expected.iter().enumerate() {
        let line = got.get(i).copied().unwrap_or("<missing>");
        assert!(
            line_matches(want, line),
            "chunk {chunk}, line {}: want {want:?}\n got {line:?}\nall:\n{text}",
            i + 1
        );
    }
    assert_eq!(got.len(), expected.len(), "chunk {chunk}: extra output:\n{text}");
}

#[test]
fn vectors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/imap");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for chunk in [usize::MAX, 1, 2, 3, 7] {
            run_vector(&text, chunk);
        }
    }
}

// ------------------------------------------------------------------------------------------------------------
// Command groups

#[test]
fn auth_policy_and_failures() {
    let h = host();
    // A non-loopback peer before TLS: LOGINDISABLED, no AUTH=PLAIN, and PRIVACYREQUIRED for any attempt.
    let mut c = Client::with_conn(&h, conn(false, true));
    let r = c.send("a CAPABILITY\r\n");
    assert!(r.contains("LOGINDISABLED") && r.contains("STARTTLS") && !r.contains("AUTH=PLAIN"), "{r}");
    assert!(c.send("b LOGIN alice password\r\n").starts_with("b NO [PRIVACYREQUIRED]"));
    assert!(c.send("c AUTHENTICATE PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n").starts_with("c NO [PRIVACYREQUIRED]"));
    // STARTTLS: pipelined input after it is dropped (CVE-2011-0411), then login works.
    let r = c.send("d STARTTLS\r\ne LOGIN alice password\r\n");
    assert_eq!(r, "d OK Begin TLS negotiation now\r\n");
    assert_eq!(c.last_flow, Flow::StartTls);
    let mut out = Vec::new();
    c.session.tls_started(
        TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into() },
        &mut out,
    );
    assert!(out.is_empty());
    let r = c.send("f CAPABILITY\r\n");
    assert!(r.contains("AUTH=PLAIN") && !r.contains("STARTTLS") && !r.contains("LOGINDISABLED"), "{r}");
    assert!(c.send("g STARTTLS\r\n").starts_with("g BAD"));
    assert!(c.send("h LOGIN alice password\r\n").starts_with("h OK"));

    // Failed logins: same answer for a wrong password and an unknown user, each after the delay.
    let mut c = Client::new(&h);
    let a = c.send("a LOGIN alice wrong\r\n");
    assert_eq!(c.session.take_delay(), Some(h.limits.auth_failure_delay));
    let b = c.send("a LOGIN mallory password\r\n");
    assert_eq!(c.session.take_delay(), Some(h.limits.auth_failure_delay));
    assert_eq!(a, b);
    assert_eq!(a, "a NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
    // AUTHENTICATE PLAIN without an initial response: "+ " then the response line; "*" cancels.
    assert_eq!(c.send("b AUTHENTICATE PLAIN\r\n"), "+ \r\n");
    assert!(c.send("*\r\n").starts_with("b BAD"));
    assert_eq!(c.send("c AUTHENTICATE PLAIN\r\n"), "+ \r\n");
    assert!(c.send("AGFsaWNlAHBhc3N3b3Jk\r\n").starts_with("c OK [CAPABILITY"));
    assert!(c.send("d LOGIN alice password\r\n").starts_with("d BAD"));
    // SASL-IR with a literal-free initial response on a fresh session.
    let mut c = Client::new(&h);
    assert!(c.send("a AUTHENTICATE PLAIN AGJvYgBwYXNzd29yZA==\r\n").starts_with("a OK"));
    assert!(c.send("b SELECT INBOX\r\n").contains("b OK [READ-WRITE]"));
}

#[test]
fn fetch_sets_seen_but_peek_does_not() {
    let h = host();
    append(&h, "alice", "INBOX", &msg("one", "body one"), &[]);
    append(&h, "alice", "INBOX", &msg("two", "body two"), &[]);
    let mut c = Client::login(&h, "alice");
    c.send("s SELECT INBOX\r\n");
    let r = c.send("a FETCH 1 (BODY.PEEK[TEXT])\r\n");
    assert!(!r.contains("\\Seen"), "{r}");
    let r = c.send("b FETCH 1 (BODY[TEXT])\r\n");
    assert!(r.contains("FLAGS (\\Seen \\Recent)") && r.contains("body one"), "{r}");
    let r = c.send(
        "c UID FETCH 2 (RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)]<0.9>)\r\n",
    );
    assert!(r.contains("UID 2") && r.contains("BODY[HEADER.FIELDS (SUBJECT)]<0> {9}\r\nSubject: "), "{r}");
    assert!(r.contains("ENVELOPE (\"Tue, 3 Mar 2026 10:00:00 +0000\" \"two\""), "{r}");
    let r = c.send("d FETCH 2 RFC822\r\n");
    assert!(r.contains("RFC822 {") && r.contains("FLAGS (\\Seen \\Recent)"), "{r}");
    let r = c.send("e FETCH 1:* FLAGS\r\n");
    assert_eq!(r.matches("\\Seen").count(), 2, "{r}");
    // Sequence numbers past the end, and a UID that does not exist.
    assert!(c.send("f FETCH 3 FLAGS\r\n").starts_with("f BAD"));
    assert_eq!(c.send("g UID FETCH 99 FLAGS\r\n"), "g OK FETCH completed\r\n");
    // FETCH of a part that does not exist answers NIL; the macros expand.
    assert!(c.send("h FETCH 1 BODY[5]\r\n").contains("BODY[5] NIL"));
    let r = c.send("i FETCH 1 ALL\r\n");
    assert!(r.contains("INTERNALDATE") && r.contains("ENVELOPE") && r.contains("RFC822.SIZE"), "{r}");
}

#[test]
fn search_store_copy_move_expunge() {
    let h = host();
    for i in 1..=5 {
        append(
            &h,
            "alice",
            "INBOX",
            &msg(&format!("subject {i}"), if i % 2 == 0 { "even" } else { "odd" }),
            &[],
        );
    }
    let mut c = Client::login(&h, "alice");
    c.send("s SELECT INBOX\r\n");
    assert_eq!(c.send("a SEARCH BODY even\r\n"), "* SEARCH 2 4\r\na OK SEARCH completed\r\n");
    assert_eq!(
        c.send("b UID SEARCH OR SUBJECT \"subject 1\" 5\r\n"),
        "* SEARCH 1 5\r\nb OK SEARCH completed\r\n"
    );
    assert!(c.send("c SEARCH CHARSET KOI8-R ALL\r\n").starts_with("c NO [BADCHARSET"));
    assert_eq!(
        c.send("d STORE 1:2 +FLAGS (\\Deleted)\r\n"),
        "* 1 FETCH (FLAGS (\\Deleted \\Recent))\r\n* 2 FETCH (FLAGS (\\Deleted \\Recent))\r\nd OK STORE completed\r\n"
    );
    // A new keyword is announced with FLAGS even when the STORE is silent (RFC 3501 §7.2.6).
    assert_eq!(
        c.send("e STORE 3 +FLAGS.SILENT ($Work)\r\n"),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] Flags permitted\r\n\
         e OK STORE completed\r\n"
    );
    assert_eq!(c.send("f SEARCH KEYWORD $Work\r\n"), "* SEARCH 3\r\nf OK SEARCH completed\r\n");
    assert!(c.send("g STORE 1 +FLAGS (\\Bogus)\r\n").starts_with("g BAD"));
    // COPY into a missing folder: TRYCREATE; into Trash: COPYUID.
    assert!(c.send("h COPY 3 Nowhere\r\n").starts_with("h NO [TRYCREATE]"));
    let r = c.send("i COPY 3:4 Trash\r\n");
    assert!(r.starts_with("i OK [COPYUID ") && r.contains(" 3:4 1:2]"), "{r}");
    // UID EXPUNGE removes only \Deleted messages in the set.
    assert_eq!(c.send("j UID EXPUNGE 2:5\r\n"), "* 2 EXPUNGE\r\nj OK EXPUNGE completed\r\n");
    // MOVE: untagged COPYUID, EXPUNGE, tagged OK.
    let r = c.send("k UID MOVE 5 Trash\r\n");
    assert!(
        r.starts_with("* OK [COPYUID ") && r.contains(" 5 3]") && r.contains("* 4 EXPUNGE\r\nk OK"),
        "{r}"
    );
    assert_eq!(c.send("l EXPUNGE\r\n"), "* 1 EXPUNGE\r\nl OK EXPUNGE completed\r\n");
    let r = c.send("m STATUS Trash (MESSAGES UIDNEXT)\r\n");
    assert!(r.contains("(MESSAGES 3 UIDNEXT 4)"), "{r}");
    assert_eq!(c.send("n CLOSE\r\n"), "n OK CLOSE completed\r\n");
    assert!(c.send("o FETCH 1 FLAGS\r\n").starts_with("o BAD"));
}

#[test]
fn extensions() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    assert_eq!(
        c.send("a NAMESPACE\r\n"),
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\na OK NAMESPACE completed\r\n"
    );
    assert!(c.send("b ID (\"name\" \"test\")\r\n").starts_with("* ID ("));
    assert_eq!(c.send("c ENABLE CONDSTORE X-FOO\r\n"), "* ENABLED CONDSTORE\r\nc OK ENABLE completed\r\n");
    let r = c.send("d LIST (SPECIAL-USE) \"\" *\r\n");
    assert_eq!(r.matches("* LIST").count(), 4, "{r}");
    append(&h, "alice", "INBOX", &msg("x", "y"), &[]);
    c.send("e SELECT INBOX (CONDSTORE)\r\n");
    let r = c.send("f FETCH 1 (FLAGS) (CHANGEDSINCE 1)\r\n");
    assert!(r.contains("MODSEQ ("), "{r}");
    let r = c.send("g STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)\r\n");
    assert!(r.contains("g OK [MODIFIED 1]"), "{r}");
    assert_eq!(c.send("h UNSELECT\r\n"), "h OK UNSELECT completed\r\n");
}

// ------------------------------------------------------------------------------------------------------------
// Two devices

#[test]
fn two_devices_stay_in_sync() {
    let h = host();
    append(&h, "alice", "INBOX", &msg("one", "1"), &[]);
    append(&h, "alice", "INBOX", &msg("two", "2"), &[]);
    let (mut a, mut b) = two_devices(&h);
    assert!(b.session.wants_store_changes());

    // A flags a message; B learns on NOOP.
    a.send("a1 STORE 1 +FLAGS (\\Flagged)\r\n");
    assert_eq!(b.send("b1 NOOP\r\n"), "* 1 FETCH (FLAGS (\\Flagged) UID 1)\r\nb1 OK NOOP completed\r\n");

    // A expunges; B must not see EXPUNGE during FETCH (§7.4.1), only at the next NOOP.
    a.send("a2 STORE 1 +FLAGS (\\Deleted)\r\na3 EXPUNGE\r\n");
    let r = b.send("b2 FETCH 1:* (UID)\r\n");
    assert!(!r.contains("EXPUNGE") && r.contains("UID 2"), "{r}");
    assert_eq!(b.send("b3 NOOP\r\n"), "* 1 EXPUNGE\r\nb3 OK NOOP completed\r\n");

    // B idles; changes by A and new mail arrive at once through store_changed.
    let mut feed = h.store.subscribe();
    let mut push = |b: &mut Client| {
        let mut pushed = Vec::new();
        while let Ok(change) = feed.try_recv() {
            let mut out = Vec::new();
            b.session.store_changed(&change, &mut out);
            check_grammar(&out, false);
            pushed.extend_from_slice(&out);
        }
        String::from_utf8(pushed).unwrap()
    };
    assert_eq!(b.send("b4 IDLE\r\n"), "+ idling\r\n");
    a.send("a4 STORE 1 +FLAGS (\\Seen)\r\n");
    assert_eq!(push(&mut b), "* 1 FETCH (FLAGS (\\Seen) UID 2)\r\n");
    append(&h, "alice", "INBOX", &msg("three", "3"), &[]);
    assert_eq!(push(&mut b), "* 2 EXISTS\r\n* 1 RECENT\r\n");
    a.send("a5 STORE 1 +FLAGS (\\Deleted)\r\na6 EXPUNGE\r\n");
    // Both ran before B heard: the message is simply gone.
    assert_eq!(push(&mut b), "* 1 EXPUNGE\r\n");
    assert_eq!(b.send("DONE\r\n"), "b4 OK IDLE terminated\r\n");
    // Changes by another user or in another folder are not pushed.
    let mut out = Vec::new();
    let other = mailroom_core::store::StoreChange {
        user: "bob".into(),
        folder: "INBOX".into(),
        kind: mailroom_core::store::ChangeKind::Appended { uids: vec![1] },
    };
    b.session.store_changed(&other, &mut out);
    assert!(out.is_empty());
}

/// Sandboxes keep their stores' change feeds short (a few dozen slots); a session that falls behind hears `Lagged`
/// and must look at the store rather than miss mail, at NOOP and during IDLE.
#[test]
fn a_lagging_change_feed_still_syncs() {
    let base = host();
    let h = Arc::new(Host {
        store: Arc::new(mailroom_core::store::memory::MemoryStore::with_capacity(2)),
        ..Arc::into_inner(base).expect("sole owner")
    });
    h.store.ensure_user("alice").unwrap();
    append(&h, "alice", "INBOX", &msg("one", "1"), &[]);
    let mut b = Client::login(&h, "alice");
    b.send("s SELECT INBOX\r\n");
    // Stands in for the connection driver's feed (net.rs).
    let mut feed = h.store.subscribe();
    let burst = |h: &Host| {
        for i in 0..10 {
            append(h, "alice", "INBOX", &msg(&format!("n{i}"), "x"), &[]);
        }
        // The two changes still in a feed afterwards are about another folder: only `Lagged` tells of INBOX.
        for _ in 0..2 {
            append(h, "alice", "Sent", &msg("s", "x"), &[]);
        }
    };
    burst(&h);
    let r = b.send("b1 NOOP\r\n");
    assert!(r.starts_with("* 11 EXISTS\r\n") && r.ends_with("b1 OK NOOP completed\r\n"), "{r}");

    while feed.try_recv().is_ok() {}
    assert_eq!(b.send("b2 IDLE\r\n"), "+ idling\r\n");
    burst(&h);
    let mut pushed = Vec::new();
    loop {
        match feed.try_recv() {
            Ok(change) => b.session.store_changed(&change, &mut pushed),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                b.session.store_lagged(&mut pushed)
            }
            Err(_) => break,
        };
    }
    check_grammar(&pushed, false);
    let pushed = String::from_utf8(pushed).unwrap();
    assert!(pushed.starts_with("* 21 EXISTS\r\n"), "{pushed}");
}

/// NOOP looks at the disk: a flag set by hand in a Maildir file name (as mutt does) and a file dropped into `new/`
/// reach the client; a second NOOP with nothing changed says nothing.
#[test]
fn noop_sees_changes_made_by_hand_in_the_maildir() {
    let tmp = tempfile::tempdir().unwrap();
    let base = host();
    let h = Arc::new(Host {
        store: Arc::new(mailroom_core::store::maildir::MaildirStore::open(tmp.path()).unwrap()),
        ..Arc::into_inner(base).expect("sole owner")
    });
    h.store.ensure_user("alice").unwrap();
    append(&h, "alice", "INBOX", &msg("one", "1"), &[Flag::Seen]);
    let mut c = Client::login(&h, "alice");
    c.send("s SELECT INBOX\r\n");
    assert_eq!(c.send("n1 NOOP\r\n"), "n1 OK NOOP completed\r\n");

    let cur = tmp.path().join("alice/Maildir/cur");
    let name = std::fs::read_dir(&cur).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
    assert!(name.ends_with(":2,S"), "{name}");
    std::fs::rename(cur.join(&name), cur.join(name.replace(":2,S", ":2,FS"))).unwrap();
    let r = c.send("n2 NOOP\r\n");
    assert!(
        r.starts_with("* 1 FETCH (FLAGS (") && r.contains("\\Flagged") && r.contains(" UID 1)\r\n"),
        "{r}"
    );
    assert_eq!(c.send("n3 NOOP\r\n"), "n3 OK NOOP completed\r\n");

    let new = tmp.path().join("alice/Maildir/new");
    std::fs::write(new.join("1700000000.M1P1Q1.byhand,S=12"), msg("two", "2")).unwrap();
    let r = c.send("n4 NOOP\r\n");
    assert!(r.starts_with("* 2 EXISTS\r\n"), "{r}");
    assert_eq!(c.send("n5 NOOP\r\n"), "n5 OK NOOP completed\r\n");
}

// ------------------------------------------------------------------------------------------------------------
// Limits and bad input

#[test]
fn limits_and_bad_input() {
    let h = host();
    let mut c = Client::new(&h);
    // Unterminated quoted string, bad sequence sets, invalid UTF-8 names: precise answers, session lives on.
    assert_eq!(c.send("a LOGIN \"alice password\r\n"), "a BAD unterminated quoted string\r\n");
    assert!(c.send("b LOGIN alice password\r\n").starts_with("b OK"));
    assert_eq!(c.send("c SELECT INBOX\r\n").lines().last().unwrap(), "c OK [READ-WRITE] SELECT completed");
    assert_eq!(
        c.send("d FETCH 0 FLAGS\r\n"),
        "d BAD invalid sequence set: 0 is not a valid message number\r\n"
    );
    assert_eq!(
        c.send("e FETCH *: FLAGS\r\n"),
        "e BAD invalid sequence set: incomplete range in sequence set\r\n"
    );
    assert_eq!(c.send("f UID FETCH 1:4294967295 FLAGS\r\n"), "f OK FETCH completed\r\n");
    assert!(c.send_bytes(b"g CREATE {2}\r\n").starts_with("+ "));
    assert_eq!(c.send_bytes(b"\xff\xfe\r\n"), "g NO [CANNOT] Mailbox name is not valid UTF-8\r\n");
    assert!(c.send("h CREATE \"a/../b\"\r\n").starts_with("h NO [CANNOT]"));
    assert!(c.send("i CREATE \"&Jjo\"\r\n").starts_with("i NO [CANNOT]"));
    // A line too long before login.
    let mut c = Client::new(&h);
    let long = format!("a LOGIN {} x\r\n", "a".repeat(h.limits.max_line.max(64 * 1024) + 10));
    assert_eq!(c.send(&long), "a BAD Command line too long\r\n");
    assert!(c.send("b NOOP\r\n").starts_with("b OK"));
    // A synchronising literal over the limit: NO [TOOBIG] before any "+", the session lives on.
    let r = c.send(&format!("c APPEND INBOX {{{}}}\r\n", h.limits.max_message_size + 1));
    assert!(r.starts_with("c NO [TOOBIG]"), "{r}");
    assert!(c.send("d NOOP\r\n").starts_with("d OK"));
    // A non-synchronising literal over the limit cannot be skipped: BYE and close.
    let r = c.send(&format!("e APPEND INBOX {{{}+}}\r\n", h.limits.max_message_size + 1));
    assert!(r.starts_with("* BYE [TOOBIG]"), "{r}");
    assert_eq!(c.last_flow, Flow::Close);
    // Before login, literals are small: a client that has not logged in cannot make the server buffer megabytes
    // by announcing one acceptable literal after another.
    let mut c = Client::new(&h);
    let r = c.send("a LOGIN {10000+}\r\n");
    assert!(r.starts_with("* BYE [TOOBIG]"), "{r}");
    assert_eq!(c.last_flow, Flow::Close);
    let mut c = Client::new(&h);
    let r = c.send("a LOGIN {5000}\r\n");
    assert!(r.starts_with("+ "), "{r}");
    let r = c.send(&format!("{} {{5000}}\r\n", "a".repeat(5000)));
    assert!(r.starts_with("a NO [TOOBIG]"), "{r}");
    assert!(c.send("b NOOP\r\n").starts_with("b OK"), "the session goes on");
    // Too many bad commands end the session.
    let mut c = Client::new(&h);
    let mut r = String::new();
    for i in 0..h.limits.max_errors {
        r = c.send(&format!("x{i} BOGUS\r\n"));
    }
    assert!(r.contains("* BYE"), "{r}");
    assert_eq!(c.last_flow, Flow::Close);
    // Too many failed logins: BYE and close after the last NO.
    let mut c = Client::new(&h);
    for i in 0..h.limits.max_errors {
        let r = c.send(&format!("x{i} LOGIN alice wrong\r\n"));
        assert!(r.ends_with(&format!("x{i} NO [AUTHENTICATIONFAILED] Authentication failed\r\n")), "{r}");
    }
    assert_eq!(c.last_flow, Flow::Close);
    // Autologout.
    let mut c = Client::new(&h);
    assert!(c.session.idle_timeout() >= std::time::Duration::from_secs(30 * 60));
    let mut out = Vec::new();
    assert_eq!(c.session.timed_out(&mut out), Flow::Close);
    assert_eq!(out, b"* BYE Autologout; idle for too long\r\n");
}

#[test]
fn switched_off_extensions_leave_capability_and_are_refused() {
    let h = host();
    let mut c = Client::new(&h);
    assert!(c.send("a LOGIN alice password\r\n").starts_with("a OK"));
    assert!(c.send("b CAPABILITY\r\n").contains(" IDLE"));
    assert!(h.set_extension("imap", "IDLE", false));
    assert!(h.set_extension("imap", "MOVE", false));
    let caps = c.send("c CAPABILITY\r\n");
    assert!(!caps.contains(" IDLE") && !caps.contains(" MOVE"), "{caps}");
    assert!(c.send("d SELECT INBOX\r\n").contains("d OK"));
    assert!(c.send("e IDLE\r\n").starts_with("e BAD"), "no continuation for a command that is switched off");
    assert!(c.send("f MOVE 1 Trash\r\n").starts_with("f BAD"));
    assert!(c.send("g NOOP\r\n").starts_with("g OK"));
}

// ------------------------------------------------------------------------------------------------------------
// Issue 13 regressions (found by Dovecot's imaptest)

/// Defects 1 and 2: SEARCH BODY/TEXT match what the message holds, encapsulated messages included, and nothing
/// else (no HTML rendering of a text part).
#[test]
fn search_body_and_text_see_only_the_message() {
    let h = host();
    append(&h, "alice", "INBOX", "Subject: hello world\r\n\r\nxyz abc\r\n", &[]);
    let nested = "Subject: outer\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\n\
                  Content-Type: text/plain\r\n\r\nouter text\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n\
                  Subject: Zebrafish inner\r\n\r\ninner plain\r\n--o--\r\n";
    append(&h, "alice", "INBOX", nested, &[]);
    let mut c = Client::login(&h, "alice");
    c.send("s SELECT INBOX\r\n");
    assert_eq!(c.send("a SEARCH BODY \"<html><body>xyz\"\r\n"), "* SEARCH\r\na OK SEARCH completed\r\n");
    assert_eq!(c.send("b SEARCH BODY \"o\"\r\n"), "* SEARCH 2\r\nb OK SEARCH completed\r\n");
    assert_eq!(c.send("c SEARCH BODY \"inner plain\"\r\n"), "* SEARCH 2\r\nc OK SEARCH completed\r\n");
    assert_eq!(c.send("d SEARCH TEXT zebrafish\r\n"), "* SEARCH 2\r\nd OK SEARCH completed\r\n");
    assert_eq!(c.send("e SEARCH TEXT hello\r\n"), "* SEARCH 1\r\ne OK SEARCH completed\r\n");
}

/// Defect 5: RFC 3501 §6.3.9: LSUB with `%` shows a parent that is not subscribed as `\Noselect` when one of its
/// children is (imaptest's `subscribe` script).
#[test]
fn lsub_percent_shows_unsubscribed_parents() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    for name in ["jb", "jb/test", "jb/x", "jb/x/y", "jb/z/w"] {
        assert!(c.send(&format!("c CREATE {name}\r\n")).starts_with("c OK"), "{name}");
    }
    for name in ["jb/test", "jb/x/y", "jb/z/w"] {
        assert!(c.send(&format!("s SUBSCRIBE {name}\r\n")).starts_with("s OK"), "{name}");
    }
    let r = c.send("a LSUB \"\" jb/%\r\n");
    assert!(r.contains("* LSUB (\\HasNoChildren) \"/\" \"jb/test\"\r\n"), "{r}");
    assert!(r.contains("* LSUB (\\Noselect) \"/\" \"jb/x\"\r\n"), "{r}");
    assert!(r.contains("* LSUB (\\Noselect) \"/\" \"jb/z\"\r\n"), "{r}");
    assert!(!r.contains("jb/x/y") && !r.contains("jb/z/w"), "{r}");
    assert_eq!(r.matches("* LSUB").count(), 3, "{r}");
    let r = c.send("b LSUB \"\" jb/*\r\n");
    assert!(!r.contains("\\Noselect"), "{r}");
    assert_eq!(r.matches("* LSUB").count(), 3, "{r}");
}

/// Defect 7: an over-long line gets a tagged BAD (RFC 3501 §7.1.5: the command is not accepted, and the client
/// waits for its tag) and the session resyncs at the line's end; the limit admits an RFC 2971 ID with 30 pairs of
/// 1,024-octet values (imaptest's `id` script), before login too.
#[test]
fn long_lines_get_a_tagged_bad_and_legal_ones_fit() {
    let h = host();
    let mut c = Client::new(&h);
    let pairs: Vec<String> =
        (0..30).map(|i| format!("\"k{i:028}\" \"{}\"", &"1234567890".repeat(103)[..1024])).collect();
    let id = format!("i ID ({})\r\n", pairs.join(" "));
    assert!(id.len() > 31_000);
    let r = c.send(&id);
    assert!(r.starts_with("* ID (") && r.ends_with("i OK ID completed\r\n"), "{r}");
    // A line without end, fed in pieces: one tagged BAD, memory stays bounded, the rest of the line is dropped.
    assert_eq!(c.send("a NOOP "), "");
    let mut answered = String::new();
    for _ in 0..40 {
        answered.push_str(&c.send(&"x".repeat(4096)));
    }
    assert_eq!(answered, "a BAD Command line too long\r\n");
    assert_eq!(c.send(&format!("{}\r\nb NOOP\r\n", "x".repeat(5000))), "b OK NOOP completed\r\n");
    // The skipped line announces a non-synchronising literal: its data is skipped too, not run as commands.
    let r = c.send(&format!("c LOGIN {} {{11+}}\r\nd LOGOUT\r\n\r\ne NOOP\r\n", "y".repeat(70_000)));
    assert_eq!(r, "c BAD Command line too long\r\ne OK NOOP completed\r\n");
    // Logged in, the same.
    let mut c = Client::login(&h, "alice");
    c.send("s SELECT INBOX\r\n");
    let r = c.send(&format!("f UID FETCH {} FLAGS\r\ng NOOP\r\n", "1,".repeat(40_000)));
    assert_eq!(r, "f BAD Command line too long\r\ng OK NOOP completed\r\n");
}

/// Defect 9: RFC 3501 §7.2.6: a keyword appears in FETCH FLAGS only after an untagged FLAGS listed it, in the
/// session that set it and in every other session that has the mailbox selected.
#[test]
fn new_keywords_are_announced_before_use() {
    let h = host();
    append(&h, "alice", "INBOX", &msg("one", "1"), &[]);
    let (mut a, mut b) = two_devices(&h);
    let r = a.send("a1 STORE 1 +FLAGS ($Kw1)\r\n");
    let flags = r.find("* FLAGS (").unwrap_or(usize::MAX);
    let fetch = r.find("* 1 FETCH (FLAGS (").unwrap_or(0);
    assert!(
        flags < fetch
            && r[flags..].starts_with("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Kw1)"),
        "{r}"
    );
    assert!(
        r.contains("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Kw1 \\*)]"),
        "{r}"
    );
    // Once announced, not again.
    let r = a.send("a2 STORE 1 -FLAGS ($Kw1)\r\na3 STORE 1 +FLAGS ($Kw1)\r\n");
    assert!(!r.contains("* FLAGS"), "{r}");
    // The other session hears FLAGS before the FETCH that uses the keyword.
    let r = b.send("b1 NOOP\r\n");
    let flags = r.find("* FLAGS (").unwrap_or(usize::MAX);
    let fetch = r.find("* 1 FETCH").unwrap_or(0);
    assert!(flags < fetch && r.contains("$Kw1"), "{r}");
    // New mail with a new keyword, too.
    append(&h, "alice", "INBOX", &msg("two", "2"), &[Flag::Keyword("$Kw2".into())]);
    let r = b.send("b2 NOOP\r\n");
    assert!(r.contains("* FLAGS (") && r.contains("$Kw2)"), "{r}");
    let r = b.send("b3 FETCH 2 FLAGS\r\n");
    assert!(r.contains("$Kw2") && !r.contains("* FLAGS"), "{r}");
}

/// Defect 10: renaming the selected mailbox keeps the session working on it under its new name.
#[test]
fn renaming_the_selected_mailbox_keeps_the_session() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    c.send("a CREATE Old\r\n");
    append(&h, "alice", "Old", &msg("one", "1"), &[]);
    assert!(c.send("b SELECT Old\r\n").contains("b OK"));
    assert_eq!(c.send("c RENAME Old New\r\n"), "c OK RENAME completed\r\n");
    let r = c.send("d STORE 1 +FLAGS (\\Flagged)\r\n");
    assert_eq!(r, "* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\nd OK STORE completed\r\n");
    append(&h, "alice", "New", &msg("two", "2"), &[]);
    assert!(c.send("e NOOP\r\n").contains("* 2 EXISTS"));
}

/// Defect 10: a LIST pattern that is not valid modified UTF-7 (`&'`) is a pattern that matches nothing, not an
/// error (imaptest's `atoms` script); SELECT of such a name is NO.
#[test]
fn list_accepts_any_atom_pattern() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    assert_eq!(c.send("a LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*\r\n"), "a OK LIST completed\r\n");
    assert!(c.send("b SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}\r\n").starts_with("b NO"));
    assert_eq!(c.send("c LIST \"\" ~foo\r\n"), "c OK LIST completed\r\n");
}

/// Defect 9: RFC 2180 §4.1.1: a message another session expunged, that this session has not yet reported with
/// EXPUNGE (§7.4.1 forbids it during FETCH), can still be fetched, as Dovecot does: no `NO [EXPUNGEISSUED]`.
#[test]
fn fetch_of_a_message_expunged_elsewhere_still_answers() {
    let h = host();
    append(&h, "alice", "INBOX", &msg("one", "first body"), &[]);
    append(&h, "alice", "INBOX", &msg("two", "second body"), &[]);
    let (mut a, mut b) = two_devices(&h);
    assert!(a.send("a1 STORE 1 +FLAGS.SILENT (\\Deleted)\r\na2 EXPUNGE\r\n").contains("* 1 EXPUNGE"));
    let r = b.send("b1 FETCH 1:2 (UID FLAGS BODY.PEEK[TEXT])\r\n");
    assert!(
        r.contains("* 1 FETCH (UID 1 FLAGS (") && r.contains(") BODY[TEXT] {12}\r\nfirst body\r\n)"),
        "{r}"
    );
    assert!(r.contains("* 2 FETCH (UID 2 ") && r.ends_with("b1 OK FETCH completed\r\n"), "{r}");
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert_eq!(b.send("b2 NOOP\r\n"), "* 1 EXPUNGE\r\nb2 OK NOOP completed\r\n");
}

/// Defect 10: when another session deletes or renames the selected mailbox, the session does not go on as if
/// nothing happened (a STORE answering `NO [NONEXISTENT]` with nothing untagged): it says BYE and closes, as
/// Dovecot does; RFC 3501 has no other way to tell the client its mailbox is gone.
#[test]
fn the_selected_mailbox_renamed_elsewhere_ends_the_session() {
    let h = host();
    let mut a = Client::login(&h, "alice");
    let mut b = Client::login(&h, "alice");
    a.send("a CREATE Old\r\n");
    append(&h, "alice", "Old", &msg("one", "1"), &[]);
    assert!(a.send("b SELECT Old\r\n").contains("b OK"));
    assert_eq!(b.send("c RENAME Old New\r\n"), "c OK RENAME completed\r\n");
    let r = a.send("d NOOP\r\n");
    assert!(r.starts_with("* BYE ") && r.ends_with("d OK NOOP completed\r\n"), "{r}");
    assert_eq!(a.last_flow, Flow::Close);
    // While idling, at once.
    let mut feed = h.store.subscribe();
    assert!(b.send("e SELECT New\r\n").contains("e OK"));
    assert_eq!(b.send("f IDLE\r\n"), "+ idling\r\n");
    let mut c = Client::login(&h, "alice");
    assert_eq!(c.send("g DELETE New\r\n"), "g OK DELETE completed\r\n");
    let mut out = Vec::new();
    let mut flow = Flow::Continue;
    while let Ok(change) = feed.try_recv() {
        flow = b.session.store_changed(&change, &mut out);
    }
    check_grammar(&out, false);
    assert!(String::from_utf8_lossy(&out).starts_with("* BYE "), "{out:?}");
    assert_eq!(flow, Flow::Close);
}

/// ESEARCH (RFC 4731), after imaptest's `esearch` and `esearch-condstore` scripts.
#[test]
fn esearch_returns_min_max_all_count() {
    let h = host();
    for i in 1..=7 {
        append(&h, "alice", "INBOX", &msg(&format!("m{i}"), "x"), &[]);
    }
    // The hand-written grammar check is strict.
    assert!(esearch_ok(b"* ESEARCH (TAG \"a1\") UID MIN 2 ALL 2:4,7 COUNT 4 MODSEQ 9\r\n"));
    for bad in ["* ESEARCH MIN 0\r\n", "* ESEARCH ALL 1:\r\n", "* ESEARCH (TAG a1)\r\n", "* ESEARCH MIN\r\n"]
    {
        assert!(!esearch_ok(bad.as_bytes()), "{bad}");
    }
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" ESEARCH"));
    c.send("s SELECT INBOX\r\n");
    c.send("b STORE 4 +FLAGS.SILENT (\\Deleted)\r\nc EXPUNGE\r\n");
    let table = [
        ("SEARCH RETURN (ALL) ALL", "* ESEARCH (TAG \"t\") ALL 1:6"),
        ("SEARCH RETURN () ALL", "* ESEARCH (TAG \"t\") ALL 1:6"),
        ("SEARCH RETURN (MIN) ALL", "* ESEARCH (TAG \"t\") MIN 1"),
        ("SEARCH RETURN (MAX COUNT) ALL", "* ESEARCH (TAG \"t\") MAX 6 COUNT 6"),
        ("UID SEARCH RETURN (ALL) ALL", "* ESEARCH (TAG \"t\") UID ALL 1:3,5:7"),
        ("UID SEARCH RETURN (MIN MAX) ALL", "* ESEARCH (TAG \"t\") UID MIN 1 MAX 7"),
        ("SEARCH RETURN () 1000", "* ESEARCH (TAG \"t\")"),
        ("SEARCH RETURN (MIN) 1000", "* ESEARCH (TAG \"t\")"),
        ("SEARCH RETURN (COUNT) 1000", "* ESEARCH (TAG \"t\") COUNT 0"),
        ("UID SEARCH RETURN (COUNT) 1000", "* ESEARCH (TAG \"t\") UID COUNT 0"),
    ];
    expect_each(&mut c, &table, "SEARCH");
    assert!(c.send("u SEARCH RETURN (BOGUS) ALL\r\n").starts_with("u BAD"));
    // RFC 7162 §3.1.5: MODSEQ is that of the messages returned (MIN/MAX), or of all matches.
    c.send("v STORE 1 +FLAGS (\\Seen)\r\nv STORE 3 +FLAGS (\\Seen)\r\nv STORE 2 +FLAGS (\\Seen)\r\n");
    let r = c.send("w FETCH 1:3 (MODSEQ)\r\n");
    // RFC 7162 §3.1: the first CONDSTORE-enabling command tells the mailbox's HIGHESTMODSEQ, once.
    assert!(r.starts_with("* OK [HIGHESTMODSEQ "), "{r}");
    assert!(!c.send("w FETCH 1 (MODSEQ)\r\n").contains("HIGHESTMODSEQ"));
    let modseq = |n: u32| -> u64 {
        let at = r.find(&format!("* {n} FETCH (MODSEQ (")).unwrap() + format!("* {n} FETCH (MODSEQ (").len();
        r[at..].split(')').next().unwrap().parse().unwrap()
    };
    let (m1, m2, m3) = (modseq(1), modseq(2), modseq(3));
    assert!(m1 < m3 && m3 < m2, "{r}");
    let r = c.send("t SEARCH RETURN (MIN) 1:3 MODSEQ 1\r\n");
    assert!(r.starts_with(&format!("* ESEARCH (TAG \"t\") MIN 1 MODSEQ {m1}\r\n")), "{r}");
    let r = c.send("t SEARCH RETURN (MAX) 1:3 MODSEQ 1\r\n");
    assert!(r.starts_with(&format!("* ESEARCH (TAG \"t\") MAX 3 MODSEQ {m3}\r\n")), "{r}");
    let r = c.send("t SEARCH RETURN () 1:3 MODSEQ 1\r\n");
    assert!(r.starts_with(&format!("* ESEARCH (TAG \"t\") ALL 1:3 MODSEQ {m2}\r\n")), "{r}");
    // Plain SEARCH is unchanged.
    assert_eq!(c.send("x SEARCH 1:2\r\n"), "* SEARCH 1 2\r\nx OK SEARCH completed\r\n");
}

/// MULTIAPPEND (RFC 3502): several messages in one APPEND, all or none, after imaptest's `multiappend` script.
#[test]
fn multiappend_appends_all_or_nothing() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" MULTIAPPEND"));
    let one = msg("mail1", "body1");
    let two = msg("mail2", "body2");
    let r = c.send(&format!(
        "b APPEND INBOX {{{}+}}\r\n{one} (\\Seen) {{{}+}}\r\n{two}\r\n",
        one.len(),
        two.len()
    ));
    assert!(r.starts_with("b OK [APPENDUID ") && r.contains(" 1:2] "), "{r}");
    c.send("s SELECT INBOX\r\n");
    let r = c.send("c FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
    assert!(
        r.contains("Subject: mail1")
            && r.contains("Subject: mail2")
            && r.contains("* 2 FETCH (FLAGS (\\Seen"),
        "{r}"
    );
    // One bad message: none is appended.
    let r = c.send(&format!(
        "d APPEND INBOX {{{}+}}\r\n{one} (\\Bogus) {{{}+}}\r\n{two}\r\n",
        one.len(),
        two.len()
    ));
    assert!(r.starts_with("d BAD"), "{r}");
    assert!(c.send("e STATUS INBOX (MESSAGES)\r\n").contains("(MESSAGES 2)"));
    let r = c.send(&format!("f APPEND Nowhere {{{}+}}\r\n{one} {{{}+}}\r\n{two}\r\n", one.len(), two.len()));
    assert!(r.starts_with("f NO [TRYCREATE]"), "{r}");
}

/// Bad input never panics or hangs, and every answer is well-formed: pseudo-random commands from IMAP's alphabet
/// and its troublesome pieces (literals, RETURN options, MULTIAPPEND, long lines, stray CR/LF), fed in random
/// pieces to a logged-in session with a mailbox selected.
#[test]
fn random_input_gets_well_formed_answers() {
    let h = host();
    append(&h, "alice", "INBOX", &msg("one", "1"), &[]);
    append(&h, "alice", "INBOX", &msg("two", "2"), &[]);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: &[&str] = &[
        "SEARCH",
        "RETURN",
        "(",
        ")",
        "MIN",
        "MAX",
        "ALL",
        "COUNT",
        "MODSEQ",
        "1",
        "1:*",
        "*",
        "UID",
        "FETCH",
        "BODY[1.2.TEXT]",
        "BODY.PEEK[HEADER.FIELDS (SUBJECT)]",
        "BODYSTRUCTURE",
        "ENVELOPE",
        "STORE",
        "+FLAGS",
        "($Kw \\Seen)",
        "APPEND",
        "INBOX",
        "{3+}\r\nabc",
        "{0+}\r\n",
        "{2}\r\n",
        "\"",
        "\\",
        "LSUB",
        "LIST",
        "\"\"",
        "%",
        "&'",
        "RENAME",
        "CHARSET",
        "UTF-8",
        "BODY",
        "TEXT",
        "NOT",
        "OR",
        "ID",
        "NIL",
        "\r",
        "\n",
        " ",
        " ",
        " ",
        "IDLE",
        "DONE",
        "EXPUNGE",
        "SELECT",
        "x",
    ];
    let mut c = Client::login(&h, "alice");
    c.send("s SELECT INBOX\r\n");
    for round in 0..400 {
        let mut line = format!("r{round} ");
        for _ in 0..(next() % 12) {
            line.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            line.push(' ');
        }
        if next() % 50 == 0 {
            line.push_str(&"y".repeat(70_000));
        }
        line.push_str("\r\n");
        let bytes = line.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let n = 1 + (next() % 64) as usize;
            let end = (at + n).min(bytes.len());
            c.send_bytes(&bytes[at..end]);
            if c.last_flow == Flow::Close {
                c = Client::login(&h, "alice");
                c.send("s SELECT INBOX\r\n");
                break;
            }
            at = end;
        }
    }
    // Whatever happened, the session still answers.
    let mut tail = c.send("DONE\r\n}\r\nz NOOP\r\n");
    if !tail.contains("z OK") {
        tail = c.send("z NOOP\r\n");
    }
    assert!(tail.contains("z OK") || c.last_flow == Flow::Close, "{tail}");
}

/// SORT (RFC 5256), after imaptest's `sort-*` scripts: criteria in order, REVERSE per criterion, ties by sequence
/// number; addresses by the first addr-mailbox (a group's name), subjects by base subject, dates in UTC.
#[test]
fn sort_orders_by_criteria_then_sequence() {
    let h = host();
    let m = |from: &str, cc: &str, subject: &str, date: &str, body: &str| {
        format!(
            "From: {from}\r\nTo: x@example.com\r\nCc: {cc}\r\nSubject: {subject}\r\nDate: {date}\r\n\r\n{body}\r\n"
        )
    };
    append(
        &h,
        "alice",
        "INBOX",
        &m("user2@domain2.org", "user2@b.org", "Re: b", "Fri, 22 Feb 2008 00:00:00 +0200", "x"),
        &[],
    );
    append(
        &h,
        "alice",
        "INBOX",
        &m("user2@domain1.org", "user2: blah@a.org;", "[list] a", "Fri, 22 Feb 2008 02:00:00 +0200", "xxx"),
        &[],
    );
    append(
        &h,
        "alice",
        "INBOX",
        &m("user1@domain1.org", "user1@a.org", "Fwd: B (fwd)", "Thu, 21 Feb 2008 23:30:00 +0000", "xx"),
        &[],
    );
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" SORT"));
    c.send("s SELECT INBOX\r\n");
    let table = [
        ("SORT (ARRIVAL) UTF-8 ALL", "* SORT 1 2 3"),
        ("SORT (FROM) UTF-8 ALL", "* SORT 3 1 2"),
        ("SORT (REVERSE FROM) UTF-8 ALL", "* SORT 1 2 3"),
        ("SORT (CC) US-ASCII ALL", "* SORT 3 1 2"),
        ("SORT (SUBJECT) UTF-8 ALL", "* SORT 2 1 3"),
        ("SORT (SUBJECT REVERSE SIZE) UTF-8 ALL", "* SORT 2 3 1"),
        ("SORT (DATE) UTF-8 ALL", "* SORT 1 3 2"),
        ("SORT (SIZE) UTF-8 2:3", "* SORT 3 2"),
        ("UID SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 3 2 1"),
        ("SORT (SIZE) UTF-8 1000", "* SORT"),
    ];
    expect_each(&mut c, &table, "SORT");
    // ESORT (RFC 5267 §3): ESEARCH in sort order.
    let esort = [
        ("SORT RETURN (MIN) (SIZE) UTF-8 ALL", "* ESEARCH (TAG \"t\") MIN 1"),
        ("SORT RETURN (MAX) (SIZE) UTF-8 ALL", "* ESEARCH (TAG \"t\") MAX 2"),
        ("SORT RETURN (ALL COUNT) (SIZE) UTF-8 ALL", "* ESEARCH (TAG \"t\") ALL 1,3,2 COUNT 3"),
        ("SORT RETURN () (ARRIVAL) UTF-8 ALL", "* ESEARCH (TAG \"t\") ALL 1:3"),
        ("UID SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 ALL", "* ESEARCH (TAG \"t\") UID ALL 3,2,1"),
    ];
    assert!(c.send("t CAPABILITY\r\n").contains(" ESORT"));
    expect_each(&mut c, &esort, "SORT");
    assert!(c.send("u SORT (SIZE) KOI8-R ALL\r\n").starts_with("u NO [BADCHARSET"));
    // SORT=DISPLAY (RFC 5957), with the From lines of imaptest's `sort-display-from` mailbox.
    for from in [
        "foo bar <a@b.c>",
        "b@c.d",
        "d",
        "=?iso-8859-1?q?foo_aar?= <e@f.g>",
        "=?iso-8859-1?q?foo_car?= <f@g.h>",
    ] {
        append(&h, "alice", "Trash", &format!("From: {from}\r\nTo: {from}\r\n\r\nx\r\n"), &[]);
    }
    assert!(c.send("t CAPABILITY\r\n").contains(" SORT=DISPLAY"));
    c.send("s SELECT Trash\r\n");
    let display = [
        ("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 3 4 1 5"),
        ("SORT (REVERSE DISPLAYFROM) UTF-8 ALL", "* SORT 5 1 4 3 2"),
        ("SORT (DISPLAYTO) UTF-8 ALL", "* SORT 2 3 4 1 5"),
    ];
    expect_each(&mut c, &display, "SORT");
    assert!(c.send("v SORT (NAME) UTF-8 ALL\r\n").starts_with("v BAD"));
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3), after imaptest's `thread-orderedsubject` scripts: groups by base subject,
/// the first (by sent date) the parent of the rest, groups by the date of their first message.
#[test]
fn thread_orderedsubject() {
    assert!(thread_ok(b"* THREAD (1)(2 (7)(12)(13))(9 10)\r\n") && thread_ok(b"* THREAD\r\n"));
    for bad in ["* THREAD ()\r\n", "* THREAD (1 (2))\r\n", "* THREAD (0)\r\n", "* THREAD (1\r\n"] {
        assert!(!thread_ok(bad.as_bytes()), "{bad}");
    }
    let h = host();
    let m = |subject: &str, day: u32| {
        format!(
            "From: a@example.com\r\nSubject: {subject}\r\nDate: {day} Feb 2008 00:00:00 +0000\r\n\r\nx\r\n"
        )
    };
    for (subject, day) in [("b", 5), ("a", 3), ("Re: a", 4), ("Re: b", 2), ("c", 1), ("a", 6), ("Fwd: b", 7)]
    {
        append(&h, "alice", "INBOX", &m(subject, day), &[]);
    }
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" THREAD=ORDEREDSUBJECT"));
    c.send("s SELECT INBOX\r\n");
    let table = [
        ("THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (5)(4 (1)(7))(2 (3)(6))"),
        ("THREAD ORDEREDSUBJECT US-ASCII 2:3", "* THREAD (2 3)"),
        ("UID THREAD ORDEREDSUBJECT UTF-8 1000", "* THREAD"),
    ];
    expect_each(&mut c, &table, "THREAD");
    assert!(c.send("b THREAD BOGUS UTF-8 ALL\r\n").starts_with("b BAD"));
}

/// THREAD=REFERENCES (RFC 5256 §3): threads from Message-ID, References and In-Reply-To; a missing parent is a
/// dummy; threads with the same base subject are gathered; roots and siblings by sent date. The algorithm's own
/// cases are in `imap::thread`; this is the command around it.
#[test]
fn thread_references() {
    let h = host();
    let m = |id: &str, refs: &str, subject: &str, day: u32| {
        format!(
            "From: a@example.com\r\nMessage-ID: <{id}>\r\n{refs}Subject: {subject}\r\n\
             Date: {day} Feb 2008 00:00:00 +0000\r\n\r\nx\r\n"
        )
    };
    for (id, refs, subject, day) in [
        ("a@x", "", "plans", 1),
        ("b@x", "References: <a@x>\r\n", "Re: plans", 2),
        ("c@x", "In-Reply-To: <a@x> (a's)\r\n", "Re: plans", 4),
        ("d@x", "References: <a@x> <b@x>\r\n", "Re: plans", 3),
        ("e@x", "References: <gone@x>\r\n", "lunch", 6),
        ("f@x", "References: <gone@x>\r\n", "Re: lunch", 5),
        ("g@x", "", "Re: plans", 7),
    ] {
        append(&h, "alice", "INBOX", &m(id, refs, subject, day), &[]);
    }
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" THREAD=REFERENCES"));
    c.send("s SELECT INBOX\r\n");
    let table = [
        ("THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (2 4)(3)(7))((6)(5))"),
        ("UID THREAD REFERENCES US-ASCII 5:6", "* THREAD ((6)(5))"),
        ("THREAD REFERENCES UTF-8 1000", "* THREAD"),
    ];
    expect_each(&mut c, &table, "THREAD");
}

// ------------------------------------------------------------------------------------------------------------
// IMAP4rev2 (RFC 9051) and the extensions it includes

/// RFC 9051 §6.3.1: after `ENABLE IMAP4rev2` the session speaks rev2 where it differs from rev1: SELECT sends a
/// LIST response and neither RECENT nor `[UNSEEN]` (§6.3.2), a second SELECT first says `[CLOSED]`, SEARCH is
/// answered with ESEARCH (§6.4.4), and `\Recent` is gone (Appendix E); an IMAP4rev1 session beside it is unchanged.
#[test]
fn imap4rev2_enabled_changes_what_the_session_says() {
    let h = host();
    append(&h, "alice", "INBOX", &msg("one", "1"), &[]);
    append(&h, "alice", "INBOX", &msg("two", "2"), &[Flag::Seen]);
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" IMAP4rev2 "));
    assert_eq!(c.send("e ENABLE IMAP4rev2\r\n"), "* ENABLED IMAP4rev2\r\ne OK ENABLE completed\r\n");
    let r = c.send("s SELECT INBOX\r\n");
    assert!(r.contains("* 2 EXISTS\r\n* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"), "{r}");
    assert!(!r.contains("RECENT") && !r.contains("UNSEEN") && !r.contains("CLOSED"), "{r}");
    assert_eq!(c.send("t SEARCH ALL\r\n"), "* ESEARCH (TAG \"t\") ALL 1:2\r\nt OK SEARCH completed\r\n");
    assert_eq!(
        c.send("t UID SEARCH SEEN\r\n"),
        "* ESEARCH (TAG \"t\") UID ALL 2\r\nt OK SEARCH completed\r\n"
    );
    let r = c.send("f FETCH 1:2 FLAGS\r\n");
    assert!(!r.contains("Recent"), "{r}");
    let r = c.send("x EXAMINE Sent\r\n");
    assert!(r.starts_with("* OK [CLOSED] "), "{r}");
    c.send("s SELECT INBOX\r\n");
    // New mail: EXISTS, no RECENT; a rev1 session still sees the messages as recent.
    append(&h, "alice", "INBOX", &msg("three", "3"), &[]);
    assert_eq!(c.send("n NOOP\r\n"), "* 3 EXISTS\r\nn OK NOOP completed\r\n");
    let mut old = Client::login(&h, "alice");
    let r = old.send("s SELECT INBOX\r\n");
    assert!(r.contains("* 3 RECENT\r\n") && !r.contains("* LIST"), "{r}");
    assert_eq!(old.send("t SEARCH ALL\r\n"), "* SEARCH 1 2 3\r\nt OK SEARCH completed\r\n");
}

/// RFC 5258 (LIST-EXTENDED), following imaptest's `listext`: several patterns, SUBSCRIBED with `\Subscribed` and
/// `\NonExistent`, RECURSIVEMATCH with CHILDINFO for a parent whose subscribed child matches no pattern, RETURN
/// options, and BAD for unknown options (§3). RFC 5819 (LIST-STATUS) and RFC 8438 (STATUS=SIZE) too.
#[test]
fn list_extended_selects_returns_and_recurses() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    let caps = c.send("a CAPABILITY\r\n");
    for cap in [" LIST-EXTENDED", " LIST-STATUS", " STATUS=SIZE"] {
        assert!(caps.contains(cap), "{caps}");
    }
    for name in ["b", "b/t1", "b/t2", "b/t2/t1", "b/t3", "b/t6", "b/t7/t7", "b/t8/t8", "b/t8/t9"] {
        assert!(c.send(&format!("c CREATE {name}\r\n")).starts_with("c OK"), "{name}");
    }
    for name in ["b/t1", "b/t2/t1", "b/t6", "b/t7/t7", "b/t8/t8", "b/t8/t9"] {
        assert!(c.send(&format!("s SUBSCRIBE {name}\r\n")).starts_with("s OK"), "{name}");
    }
    c.send("d DELETE b/t6\r\n");
    let r = c.send("l LIST \"\" (b/*2 b/t3)\r\n");
    assert_eq!(
        r,
        "* LIST (\\HasChildren) \"/\" \"b/t2\"\r\n* LIST (\\HasNoChildren) \"/\" \"b/t3\"\r\nl OK LIST completed\r\n"
    );
    let r = c.send("l LIST (SUBSCRIBED) \"\" b/*\r\n");
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"b/t1\"\r\n\
         * LIST (\\HasNoChildren \\Subscribed) \"/\" \"b/t2/t1\"\r\n\
         * LIST (\\NonExistent \\Subscribed) \"/\" \"b/t6\"\r\n\
         * LIST (\\HasNoChildren \\Subscribed) \"/\" \"b/t7/t7\"\r\n\
         * LIST (\\HasNoChildren \\Subscribed) \"/\" \"b/t8/t8\"\r\n\
         * LIST (\\HasNoChildren \\Subscribed) \"/\" \"b/t8/t9\"\r\n\
         l OK LIST completed\r\n"
    );
    let r = c.send("l LIST (SUBSCRIBED RECURSIVEMATCH) \"\" b/t2% RETURN (CHILDREN)\r\n");
    assert_eq!(
        r,
        "* LIST (\\HasChildren) \"/\" \"b/t2\" (CHILDINFO (\"SUBSCRIBED\"))\r\nl OK LIST completed\r\n"
    );
    // The subscribed child matches a pattern itself: it is listed, its parent is not.
    let r = c.send("l LIST (SUBSCRIBED RECURSIVEMATCH) \"\" b*t7\r\n");
    assert_eq!(r, "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"b/t7/t7\"\r\nl OK LIST completed\r\n");
    let r = c.send("l LIST \"\" b/% RETURN (SUBSCRIBED)\r\n");
    assert!(r.contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"b/t1\"\r\n"), "{r}");
    assert!(r.contains("* LIST (\\HasChildren) \"/\" \"b/t2\"\r\n"), "{r}");
    for bad in [
        "(IMAPTEST) \"\" \"\"",
        "(RECURSIVEMATCH) \"\" \"\"",
        "(RECURSIVEMATCH REMOTE) \"\" %",
        "\"\" % RETURN (X)",
    ] {
        assert!(c.send(&format!("l LIST {bad}\r\n")).starts_with("l BAD"), "{bad}");
    }
    assert!(c.send("l LIST (REMOTE) \"\" %\r\n").contains("l OK"));
    // LIST-STATUS and STATUS SIZE / DELETED.
    append(&h, "alice", "b/t1", "Subject: a\r\n\r\nabc\r\n", &[Flag::Deleted]);
    append(&h, "alice", "b/t1", "Subject: b\r\n\r\n", &[]);
    let r = c.send("l LIST \"\" b/t% RETURN (STATUS (MESSAGES SIZE DELETED))\r\n");
    assert!(
        r.starts_with(
            "* LIST (\\HasNoChildren) \"/\" \"b/t1\"\r\n* STATUS \"b/t1\" (MESSAGES 2 SIZE 33 DELETED 1)\r\n"
        ),
        "{r}"
    );
    assert_eq!(
        c.send("s STATUS b/t1 (SIZE DELETED UNSEEN)\r\n"),
        "* STATUS \"b/t1\" (SIZE 33 DELETED 1 UNSEEN 2)\r\ns OK STATUS completed\r\n"
    );
}

/// RFC 5182 (SEARCHRES): `SEARCH RETURN (SAVE)` answers nothing untagged and keeps the result for `$`, in
/// FETCH, UID commands and SEARCH keys; with MIN or MAX alone only those are kept (§2.4); expunged messages drop
/// out; SELECT forgets it.
#[test]
fn searchres_keeps_the_result_for_dollar() {
    let h = host();
    for (i, flags) in
        [&[Flag::Flagged][..], &[], &[Flag::Flagged], &[Flag::Flagged, Flag::Deleted]].iter().enumerate()
    {
        append(&h, "alice", "INBOX", &msg(&format!("m{i}"), "x"), flags);
    }
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" SEARCHRES"));
    c.send("s SELECT INBOX\r\n");
    assert_eq!(c.send("t SEARCH RETURN (SAVE) FLAGGED\r\n"), "t OK SEARCH completed\r\n");
    let r = c.send("f FETCH $ (UID)\r\n");
    assert_eq!(r, "* 1 FETCH (UID 1)\r\n* 3 FETCH (UID 3)\r\n* 4 FETCH (UID 4)\r\nf OK FETCH completed\r\n");
    assert_eq!(c.send("t SEARCH $ UNDELETED\r\n"), "* SEARCH 1 3\r\nt OK SEARCH completed\r\n");
    assert_eq!(c.send("t UID SEARCH UID $\r\n"), "* SEARCH 1 3 4\r\nt OK SEARCH completed\r\n");
    assert_eq!(
        c.send("t SEARCH RETURN (SAVE MAX COUNT) FLAGGED\r\n"),
        "* ESEARCH (TAG \"t\") MAX 4 COUNT 3\r\nt OK SEARCH completed\r\n"
    );
    assert_eq!(
        c.send("t SEARCH RETURN (SAVE MIN) FLAGGED\r\n"),
        "* ESEARCH (TAG \"t\") MIN 1\r\nt OK SEARCH completed\r\n"
    );
    assert_eq!(c.send("f UID FETCH $ (UID)\r\n"), "* 1 FETCH (UID 1)\r\nf OK FETCH completed\r\n");
    c.send("t SEARCH RETURN (SAVE) DELETED\r\n");
    assert!(c.send("e UID EXPUNGE $\r\n").starts_with("* 4 EXPUNGE\r\n"));
    assert_eq!(c.send("f FETCH $ (UID)\r\n"), "f OK FETCH completed\r\n");
    c.send("t SEARCH RETURN (SAVE) ALL\r\n");
    c.send("s SELECT INBOX\r\n");
    assert_eq!(c.send("f FETCH $ (UID)\r\n"), "f OK FETCH completed\r\n");
}

/// RFC 3516 (BINARY): BINARY[part] undoes base64 and quoted-printable, BINARY.SIZE is the decoded size, a partial
/// counts decoded octets, an unknown encoding is `NO [UNKNOWN-CTE]`, data with NUL goes out as literal8; and a
/// literal8 APPEND of binary data is stored base64-encoded, so BODY[] never carries a NUL (§4.3).
#[test]
fn binary_undoes_transfer_encodings() {
    let h = host();
    let mime = "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n\
                --xx\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29y\r\nbGQ=\r\n\
                --xx\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                caf=C3=A9 =\r\nsoft  \r\nend\r\n\
                --xx\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n\
                --xx\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-rot13\r\n\r\nuryyb\r\n\
                --xx--\r\n";
    append(&h, "alice", "INBOX", mime, &[]);
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" BINARY"));
    c.send("s SELECT INBOX\r\n");
    assert_eq!(
        c.send("f FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n"),
        "* 1 FETCH (BINARY[1] {11}\r\nhello world BINARY.SIZE[1] 11)\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        c.send("f FETCH 1 BINARY.PEEK[2]\r\n"),
        "* 1 FETCH (BINARY[2] {15}\r\ncafé soft\r\nend)\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        c.send("f FETCH 1 BINARY.PEEK[1]<6.100>\r\n"),
        "* 1 FETCH (BINARY[1]<6> {5}\r\nworld)\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        c.send("f FETCH 1 BINARY.PEEK[3]\r\n"),
        "* 1 FETCH (BINARY[3] ~{3}\r\n\0\x01\x02)\r\nf OK FETCH completed\r\n"
    );
    let r = c.send("f FETCH 1 BINARY.PEEK[4]\r\n");
    assert!(r.ends_with("f NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding\r\n"), "{r}");
    // BINARY without PEEK sets \Seen like BODY[].
    assert!(c.send("f FETCH 1 BINARY[1]\r\n").contains("FLAGS (\\Seen"));
    let data =
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\0\x01\x02\r\n";
    let mut cmd = format!("p APPEND INBOX ~{{{}}}\r\n", data.len()).into_bytes();
    cmd.extend_from_slice(data);
    cmd.extend_from_slice(b"\r\n");
    let r = c.send_bytes(&cmd);
    assert!(r.contains("p OK [APPENDUID"), "{r}");
    let r = c.send("f FETCH 2 (BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1])\r\n");
    assert!(
        r.contains("BODY[1] {10}\r\nAAECDQo=\r\n") && r.contains("BINARY[1] ~{5}\r\n\0\x01\x02\r\n"),
        "{r:?}"
    );
    assert!(r.contains("BINARY.SIZE[1] 5"), "{r:?}");
    let r = c.send("f FETCH 2 BODY.PEEK[HEADER]\r\n");
    assert!(r.contains("Content-Transfer-Encoding: base64\r\n\r\n") && !r.contains("binary"), "{r:?}");
}

/// RFC 4469 (CATENATE): a message put together from text literals and IMAP URLs (RFC 5092) of messages here, with
/// SECTION and PARTIAL; a URL that names nothing (a wrong UIDVALIDITY) is `NO [BADURL ...]` and appends nothing; a
/// missing destination is `NO [TRYCREATE]` first (imaptest's `catenate`).
#[test]
fn catenate_builds_a_message_from_text_and_urls() {
    let h = host();
    let uid = append(&h, "alice", "INBOX", "From: a@example.com\r\nSubject: src\r\n\r\nsource body\r\n", &[]);
    let validity = h.store.status("alice", "INBOX").unwrap().uid_validity;
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" CATENATE"));
    let text = |t: &str| format!("TEXT {{{}+}}\r\n{t}", t.len());
    let cmd = format!(
        "p APPEND Drafts (\\Seen) CATENATE ({} URL \"/INBOX;UIDVALIDITY={validity}/;UID={uid}/;SECTION=TEXT\" {} URL \"/INBOX/;uid={uid}/;section=TEXT/;partial=7.4\")\r\n",
        text("Subject: built\r\n\r\n"),
        text("--\r\n"),
    );
    let r = c.send(&cmd);
    assert!(r.starts_with("p OK [APPENDUID "), "{r}");
    let drafts = h.store.status("alice", "Drafts").unwrap();
    let built = h.store.read("alice", "Drafts", drafts.messages[0].uid).unwrap();
    assert_eq!(String::from_utf8_lossy(&built), "Subject: built\r\n\r\nsource body\r\n--\r\nbody");
    let wrong = validity.wrapping_add(1);
    let r = c.send(&format!(
        "q APPEND Drafts CATENATE (URL \"/INBOX;UIDVALIDITY={wrong}/;UID={uid}\" {})\r\n",
        text("x")
    ));
    assert_eq!(
        r,
        format!("q NO [BADURL /INBOX;UIDVALIDITY={wrong}/;UID={uid}] URL names no message here\r\n")
    );
    assert_eq!(h.store.status("alice", "Drafts").unwrap().messages.len(), 1, "nothing appended");
    let r = c.send(&format!("r APPEND Nowhere CATENATE (URL \"/INBOX;UIDVALIDITY={wrong}/;UID={uid}\")\r\n"));
    assert!(r.starts_with("r NO [TRYCREATE]"), "{r}");
    assert!(c.send("s APPEND Drafts CATENATE (BOGUS \"x\")\r\n").starts_with("s BAD"));
}

/// RFC 5267 (CONTEXT=SEARCH): `RETURN (PARTIAL a:b)` (RFC 9394 ranges, negative from the end, NIL when empty) and
/// `RETURN (UPDATE)`: ADDTO and REMOVEFROM as flags change, REMOVEFROM before the EXPUNGE of a message in the
/// result, ADDTO for new mail, nothing after CANCELUPDATE (imaptest's `search-partial`, `search-context-update*`).
#[test]
fn context_search_partial_and_update() {
    let h = host();
    for i in 1..=5 {
        append(&h, "alice", "INBOX", &msg(&format!("m{i}"), "x"), if i <= 2 { &[Flag::Seen] } else { &[] });
    }
    let mut c = Client::login(&h, "alice");
    assert!(c.send("a CAPABILITY\r\n").contains(" CONTEXT=SEARCH"));
    c.send("s SELECT INBOX\r\n");
    let table = [
        ("SEARCH RETURN (PARTIAL 2:4) ALL", "* ESEARCH (TAG \"t\") PARTIAL (2:4 2:4)"),
        ("SEARCH RETURN (PARTIAL 4:2) ALL", "* ESEARCH (TAG \"t\") PARTIAL (2:4 2:4)"),
        ("SEARCH RETURN (PARTIAL 1:3) 1:2,4:5", "* ESEARCH (TAG \"t\") PARTIAL (1:3 1:2,4)"),
        ("SEARCH RETURN (PARTIAL -2:-1) ALL", "* ESEARCH (TAG \"t\") PARTIAL (-2:-1 4:5)"),
        ("SEARCH RETURN (PARTIAL 6:6) ALL", "* ESEARCH (TAG \"t\") PARTIAL (6:6 NIL)"),
    ];
    expect_each(&mut c, &table, "SEARCH");
    for bad in ["PARTIAL 1", "PARTIAL 1:*", "PARTIAL 0:2"] {
        assert!(c.send(&format!("b SEARCH RETURN ({bad}) ALL\r\n")).starts_with("b BAD"), "{bad}");
    }
    assert_eq!(
        c.send("u SEARCH RETURN (UPDATE ALL) SEEN\r\n"),
        "* ESEARCH (TAG \"u\") ALL 1:2\r\nu OK SEARCH completed\r\n"
    );
    let r = c.send("t STORE 3:4 +FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(r, "* ESEARCH (TAG \"u\") ADDTO (3 3:4)\r\nt OK STORE completed\r\n");
    let r = c.send("t STORE 1 -FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(r, "* ESEARCH (TAG \"u\") REMOVEFROM (1 1)\r\nt OK STORE completed\r\n");
    c.send("t STORE 3 +FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(
        c.send("e EXPUNGE\r\n"),
        "* ESEARCH (TAG \"u\") REMOVEFROM (2 3)\r\n* 3 EXPUNGE\r\ne OK EXPUNGE completed\r\n"
    );
    append(&h, "alice", "INBOX", &msg("m6", "x"), &[Flag::Seen]);
    let r = c.send("n NOOP\r\n");
    assert!(r.contains("* 5 EXISTS\r\n") && r.contains("* ESEARCH (TAG \"u\") ADDTO (3 5)\r\n"), "{r}");
    assert_eq!(c.send("c CANCELUPDATE \"u\"\r\n"), "c OK CANCELUPDATE completed\r\n");
    assert_eq!(c.send("t STORE 1 +FLAGS.SILENT (\\Seen)\r\n"), "t OK STORE completed\r\n");
}

/// The number after `key` in a response (`UIDVALIDITY 17`, `HIGHESTMODSEQ 4`).
fn number_after(r: &str, key: &str) -> u64 {
    let at = r.find(key).unwrap_or_else(|| panic!("no {key} in {r}")) + key.len();
    r[at..].trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// RFC 7162 §3.2.5: a client with a cache of INBOX (its UIDVALIDITY and HIGHESTMODSEQ) reselects and hears which
/// of its UIDs are gone (VANISHED (EARLIER)) and which messages changed, without fetching everything.
#[test]
fn qresync_select_tells_what_vanished_and_changed() {
    let h = host();
    for i in 1..=5 {
        append(&h, "alice", "INBOX", &msg(&format!("m{i}"), "x"), &[]);
    }
    let mut a = Client::login(&h, "alice");
    assert!(a.send("c CAPABILITY\r\n").contains(" QRESYNC "));
    let r = a.send("s SELECT INBOX (QRESYNC (1 1))\r\n");
    assert!(r.starts_with("s BAD"), "QRESYNC before ENABLE: {r}");
    assert_eq!(a.send("e ENABLE QRESYNC\r\n"), "* ENABLED QRESYNC\r\ne OK ENABLE completed\r\n");
    let r = a.send("s SELECT INBOX\r\n");
    let (validity, modseq) = (number_after(&r, "UIDVALIDITY"), number_after(&r, "HIGHESTMODSEQ"));
    a.send("x EXAMINE Sent\r\n");

    let mut b = Client::login(&h, "alice");
    b.send(
        "s SELECT INBOX\r\nt STORE 2 +FLAGS (\\Flagged)\r\nt STORE 3:4 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n",
    );
    let r = a.send(&format!("s SELECT INBOX (QRESYNC ({validity} {modseq}))\r\n"));
    let vanished = r.find("* VANISHED (EARLIER) 3:4\r\n").unwrap_or_else(|| panic!("{r}"));
    let changed = r.find("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (").unwrap_or_else(|| panic!("{r}"));
    assert!(r.starts_with("* OK [CLOSED]") && vanished < changed, "{r}");
    // §3.1: ENABLE is a CONDSTORE-enabling command; while a mailbox is selected it tells HIGHESTMODSEQ.
    let mut c = Client::login(&h, "alice");
    c.send("s SELECT INBOX\r\n");
    let e = c.send("e ENABLE QRESYNC\r\n");
    assert!(e.starts_with("* OK [HIGHESTMODSEQ ") && e.contains("* ENABLED QRESYNC\r\n"), "{e}");
    assert_eq!(r.matches(" FETCH ").count(), 1, "only the changed message: {r}");
    // Known UIDs narrow the answer; another UIDVALIDITY means the cache is useless, and nothing is said.
    let r = a.send(&format!("s SELECT INBOX (QRESYNC ({validity} {modseq} 1:2,4))\r\n"));
    assert!(r.contains("* VANISHED (EARLIER) 4\r\n"), "{r}");
    let r = a.send(&format!("s SELECT INBOX (QRESYNC ({} {modseq}))\r\n", validity + 1));
    assert!(!r.contains("VANISHED") && !r.contains("FETCH"), "{r}");
}

/// RFC 7162 §3.2.10, §3.2.6, §3.2.4: once QRESYNC is on, expunges come as VANISHED with UIDs, UID FETCH's VANISHED
/// modifier reports what is gone, and every FETCH response carries the UID.
#[test]
fn qresync_expunges_are_vanished_uids() {
    let h = host();
    for i in 1..=4 {
        append(&h, "alice", "INBOX", &msg(&format!("m{i}"), "x"), &[]);
    }
    let mut a = Client::login(&h, "alice");
    let r = a.send("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n");
    assert!(r.starts_with("f BAD"), "VANISHED before ENABLE QRESYNC: {r}");
    a.send("e ENABLE QRESYNC\r\n");
    let r = a.send("s SELECT INBOX\r\n");
    let modseq = number_after(&r, "HIGHESTMODSEQ");
    let mut b = Client::login(&h, "alice");
    b.send("s SELECT INBOX\r\nt STORE 2 +FLAGS (\\Seen)\r\nt STORE 1,3 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");

    // Not during FETCH (§7.4.1 holds for VANISHED too), then at NOOP.
    let r = a.send("f FETCH 1 (FLAGS)\r\n");
    assert!(!r.contains("VANISHED") && r.starts_with("* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n"), "{r}");
    let r = a.send("n NOOP\r\n");
    assert!(r.contains("* VANISHED 1,3\r\n") && !r.contains("EXPUNGE"), "{r}");
    let r = a.send(&format!("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)\r\n"));
    assert!(
        r.starts_with("* VANISHED (EARLIER) 1,3\r\n") && r.contains("* 1 FETCH (UID 2 FLAGS (\\Seen"),
        "{r}"
    );
    assert!(!r.contains("UID 4 "), "message 4 did not change: {r}");
    let r = a.send("t STORE 2 +FLAGS (\\Flagged)\r\n");
    assert!(r.starts_with("* 2 FETCH (FLAGS (\\Flagged \\Recent) UID 4 MODSEQ ("), "{r}");
    for bad in ["FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "UID FETCH 1:* (FLAGS) (VANISHED)"] {
        assert!(a.send(&format!("b {bad}\r\n")).starts_with("b BAD"), "{bad}");
    }
}

/// Feeds every change the store announced to the session, as the connection driver does.
fn pushed(
    c: &mut Client,
    feed: &mut tokio::sync::broadcast::Receiver<mailroom_core::store::StoreChange>,
) -> String {
    let mut out = Vec::new();
    loop {
        match feed.try_recv() {
            Ok(change) => c.session.store_changed(&change, &mut out),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => c.session.store_lagged(&mut out),
            Err(_) => break,
        };
    }
    check_grammar(&out, false);
    String::from_utf8(out).unwrap()
}

/// RFC 5465: NOTIFY SET STATUS starts with the STATUS of each watched mailbox; then changes to mailboxes that are
/// not selected are pushed as STATUS, and mailbox names and subscriptions as LIST, without the client asking.
#[test]
fn notify_pushes_status_and_list_for_other_mailboxes() {
    let h = host();
    append(&h, "alice", "Sent", &msg("s", "x"), &[Flag::Seen]);
    let mut a = Client::login(&h, "alice");
    assert!(a.send("c CAPABILITY\r\n").contains(" NOTIFY "));
    // Changes are read from login on, NOTIFY or not: a feed the driver left unread would lag, and a NOTIFY SET
    // made later would start with that lag and switch itself off (NOTIFICATIONOVERFLOW).
    assert!(a.session.wants_store_changes());
    let r = a.send("n NOTIFY SET STATUS (mailboxes Sent (MessageNew MessageExpunge FlagChange))\r\n");
    assert!(r.starts_with("* STATUS \"Sent\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "), "{r}");
    assert!(r.contains(" UNSEEN 0 HIGHESTMODSEQ ") && r.ends_with("n OK NOTIFY completed\r\n"), "{r}");
    assert_eq!(r.matches("* STATUS").count(), 1, "{r}");
    assert_eq!(
        a.send("n NOTIFY SET (mailboxes Sent (MessageNew MessageExpunge))\r\n"),
        "n OK NOTIFY completed\r\n"
    );
    // Not selected, and still told.
    let mut feed = h.store.subscribe();
    append(&h, "alice", "Sent", &msg("t", "y"), &[]);
    append(&h, "alice", "Drafts", &msg("d", "y"), &[]);
    append(&h, "bob", "Sent", &msg("b", "y"), &[]);
    assert_eq!(pushed(&mut a, &mut feed), "* STATUS \"Sent\" (MESSAGES 2 UIDNEXT 3 UNSEEN 1)\r\n");

    a.send("n NOTIFY SET (subtree Projects (MailboxName SubscriptionChange)) (personal (MessageNew MessageExpunge))\r\n");
    let mut b = Client::login(&h, "alice");
    let mut r = String::new();
    for command in [
        "CREATE Projects/2026",
        "SUBSCRIBE Projects/2026",
        "RENAME Projects/2026 Projects/2027",
        "DELETE Projects/2027",
        "CREATE Other",
    ] {
        b.send(&format!("c {command}\r\n"));
        r += &pushed(&mut a, &mut feed);
    }
    // Creating Projects/2026 creates its parent too, and both are in the subtree.
    let want = [
        "* LIST (\\HasChildren) \"/\" \"Projects\"",
        "* LIST (\\HasNoChildren) \"/\" \"Projects/2026\"",
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Projects/2026\"",
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Projects/2027\" (\"OLDNAME\" (\"Projects/2026\"))",
        "* LIST (\\NonExistent) \"/\" \"Projects/2027\"",
    ];
    assert_eq!(r, want.map(|l| format!("{l}\r\n")).concat());
    // The subscribed filter hears of an unsubscription too, though the mailbox has just left it.
    a.send("n NOTIFY SET (subscribed (SubscriptionChange))\r\n");
    b.send("c SUBSCRIBE Other\r\n");
    assert_eq!(pushed(&mut a, &mut feed), "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Other\"\r\n");
    b.send("c UNSUBSCRIBE Other\r\n");
    assert_eq!(pushed(&mut a, &mut feed), "* LIST (\\HasNoChildren) \"/\" \"Other\"\r\n");
    assert_eq!(a.send("n NOTIFY NONE\r\n"), "n OK NOTIFY completed\r\n");
    b.send("c CREATE Projects/2028\r\n");
    assert_eq!(pushed(&mut a, &mut feed), "", "NOTIFY NONE: nothing pushed");
}

/// RFC 5465 §5, §6: with the `selected` filter the selected mailbox's changes come at once, outside IDLE, with the
/// fetch attributes MessageNew asked for; `selected-delayed` holds expunges until a command allows them; events the
/// server cannot report get NO [BADEVENT], event sets RFC 5465 forbids get BAD; a lost change turns NOTIFY off with
/// NOTIFICATIONOVERFLOW.
#[test]
fn notify_selected_events_badevent_and_overflow() {
    let h = host();
    append(&h, "alice", "INBOX", &msg("one", "1"), &[]);
    let mut a = Client::login(&h, "alice");
    let refused = [
        ("(personal (AnnotationChange))", "NO [BADEVENT (AnnotationChange)]"),
        ("(personal (MessageNew ServerMetadataChange))", "NO [BADEVENT (ServerMetadataChange)]"),
        ("(personal (MessageNew))", "BAD"),
        ("(inboxes (FlagChange))", "BAD"),
        ("(selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))", "BAD"),
        ("(personal (Nonsense))", "NO [BADEVENT (NONSENSE)]"),
    ];
    for (groups, want) in refused {
        let r = a.send(&format!("n NOTIFY SET {groups}\r\n"));
        assert!(r.starts_with(&format!("n {want}")), "{groups}: {r}");
    }
    a.send("s SELECT INBOX\r\n");
    let r = a.send("n NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange))\r\n");
    assert_eq!(r, "n OK NOTIFY completed\r\n");
    let mut feed = h.store.subscribe();
    append(&h, "alice", "INBOX", &msg("two", "2"), &[Flag::Flagged]);
    assert_eq!(
        pushed(&mut a, &mut feed),
        "* 2 EXISTS\r\n* 2 RECENT\r\n* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n"
    );
    let mut b = Client::login(&h, "alice");
    b.send("s SELECT INBOX\r\nt STORE 1 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");
    assert_eq!(pushed(&mut a, &mut feed), "* 1 EXPUNGE\r\n");

    a.send("n NOTIFY SET (selected-delayed (MessageNew MessageExpunge))\r\n");
    append(&h, "alice", "INBOX", &msg("three", "3"), &[]);
    b.send("n NOOP\r\nt STORE 1 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");
    let r = pushed(&mut a, &mut feed);
    assert!(r.contains("* 2 EXISTS\r\n") && !r.contains("EXPUNGE"), "{r}");
    assert_eq!(a.send("n NOOP\r\n"), "* 1 EXPUNGE\r\nn OK NOOP completed\r\n");

    // The feed lost changes: the client is told, and NOTIFY is off.
    let base = host();
    let h = Arc::new(Host {
        store: Arc::new(mailroom_core::store::memory::MemoryStore::with_capacity(2)),
        ..Arc::into_inner(base).expect("sole owner")
    });
    h.store.ensure_user("alice").unwrap();
    let mut a = Client::login(&h, "alice");
    a.send("n NOTIFY SET (personal (MessageNew MessageExpunge))\r\n");
    let mut feed = h.store.subscribe();
    for i in 0..5 {
        append(&h, "alice", "Sent", &msg(&format!("n{i}"), "x"), &[]);
    }
    let r = pushed(&mut a, &mut feed);
    assert!(r.starts_with("* OK [NOTIFICATIONOVERFLOW] "), "{r}");
    append(&h, "alice", "Sent", &msg("after", "x"), &[]);
    assert_eq!(pushed(&mut a, &mut feed), "", "NOTIFY is off after the overflow");
}

/// The text between `start` and the next `end` in a response.
fn between<'a>(r: &'a str, start: &str, end: &str) -> &'a str {
    let at = r.find(start).unwrap_or_else(|| panic!("no {start} in {r}")) + start.len();
    &r[at..at + r[at..].find(end).unwrap_or_else(|| panic!("no {end} in {r}"))]
}

/// RFC 8474: a MAILBOXID at CREATE, SELECT and STATUS that survives RENAME and is new for a recreated mailbox; an
/// EMAILID that survives MOVE and differs for other content; a THREADID shared by a message and its reply, NIL
/// for a message without message-ids; SEARCH EMAILID and THREADID.
#[test]
fn objectid_names_mailboxes_and_messages() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    assert!(c.send("c CAPABILITY\r\n").contains(" OBJECTID "));
    let r = c.send("c CREATE Projects\r\n");
    let id = between(&r, "c OK [MAILBOXID (", ")] ").to_string();
    assert_eq!(
        c.send("s STATUS Projects (MAILBOXID MESSAGES)\r\n"),
        format!("* STATUS \"Projects\" (MAILBOXID ({id}) MESSAGES 0)\r\ns OK STATUS completed\r\n")
    );
    c.send("r RENAME Projects Archive\r\n");
    let r = c.send("s SELECT Archive\r\n");
    assert!(r.contains(&format!("* OK [MAILBOXID ({id})] Ok\r\n")), "{r}");
    c.send("u UNSELECT\r\nd DELETE Archive\r\n");
    let r = c.send("c CREATE Archive\r\n");
    assert_ne!(between(&r, "[MAILBOXID (", ")]"), id, "a recreated mailbox is another mailbox");

    append(&h, "alice", "INBOX", &msg("one", "1"), &[]);
    append(&h, "alice", "INBOX", &msg("two", "2"), &[]);
    c.send("s SELECT INBOX\r\n");
    let r = c.send("f FETCH 1:2 (EMAILID THREADID)\r\n");
    let (one, two) = (between(&r, "* 1 FETCH (EMAILID (", ")"), between(&r, "* 2 FETCH (EMAILID (", ")"));
    assert!(r.contains(&format!("* 1 FETCH (EMAILID ({one}) THREADID NIL)\r\n")) && one != two, "{r}");
    let (one, two) = (one.to_string(), two.to_string());
    assert_eq!(c.send(&format!("t SEARCH EMAILID {two}\r\n")), "* SEARCH 2\r\nt OK SEARCH completed\r\n");
    assert_eq!(c.send(&format!("t SEARCH THREADID {two}\r\n")), "* SEARCH\r\nt OK SEARCH completed\r\n");
    // A thread: a message and a reply to it, in two mailboxes.
    append(&h, "alice", "INBOX", "Message-ID: <root@example.com>\r\nSubject: plan\r\n\r\nx\r\n", &[]);
    let reply =
        "Message-ID: <re@example.com>\r\nIn-Reply-To: <root@example.com>\r\nSubject: Re: plan\r\n\r\ny\r\n";
    append(&h, "alice", "Sent", reply, &[]);
    c.send("n NOOP\r\n");
    let r = c.send("f FETCH 3 (THREADID)\r\n");
    let thread = between(&r, "THREADID (", ")").to_string();
    assert_eq!(c.send(&format!("t SEARCH THREADID {thread}\r\n")), "* SEARCH 3\r\nt OK SEARCH completed\r\n");
    let mut sent = Client::login(&h, "alice");
    sent.send("s SELECT Sent\r\n");
    let r = sent.send("f FETCH 1 (THREADID)\r\n");
    assert_eq!(r, format!("* 1 FETCH (THREADID ({thread}))\r\nf OK FETCH completed\r\n"));
    c.send("m MOVE 1 Archive\r\n");
    c.send("s SELECT Archive\r\n");
    let r = c.send("f UID FETCH 1 (EMAILID)\r\n");
    assert_eq!(r, format!("* 1 FETCH (UID 1 EMAILID ({one}))\r\nf OK FETCH completed\r\n"));
    for bad in ["SEARCH EMAILID", "SEARCH EMAILID a.b", "FETCH 1 (EMAILID (x))"] {
        assert!(c.send(&format!("b {bad}\r\n")).starts_with("b BAD"), "{bad}");
    }
}

/// RFC 9051 §5.1: after `ENABLE IMAP4rev2` mailbox names are UTF-8 both ways, `&` being just a character; an
/// IMAP4rev1 session still reads and writes the same mailboxes in modified UTF-7 (RFC 3501 §5.1.3).
#[test]
fn imap4rev2_mailbox_names_are_utf8() {
    let h = host();
    let mut v2 = Client::login(&h, "alice");
    v2.send("e ENABLE IMAP4rev2\r\n");
    assert!(v2.send("c CREATE \"Entwürfe\"\r\n").starts_with("c OK"));
    assert!(v2.send("c CREATE \"R&D\"\r\n").starts_with("c OK"));
    let r = v2.send("l LIST \"\" \"*\"\r\n");
    assert!(r.contains("* LIST (\\HasNoChildren) \"/\" {9}\r\nEntwürfe\r\n"), "{r}");
    assert!(r.contains("* LIST (\\HasNoChildren) \"/\" \"R&D\"\r\n") && !r.contains("&-"), "{r}");
    assert_eq!(
        v2.send("s STATUS \"R&D\" (MESSAGES)\r\n"),
        "* STATUS \"R&D\" (MESSAGES 0)\r\ns OK STATUS completed\r\n"
    );
    let r = v2.send("s SELECT \"Entwürfe\"\r\n");
    assert!(r.contains("* LIST (\\HasNoChildren) \"/\" {9}\r\nEntwürfe\r\n") && r.contains("s OK"), "{r}");

    let mut v1 = Client::login(&h, "alice");
    let r = v1.send("l LIST \"\" \"*\"\r\n");
    assert!(r.contains("\"Entw&APw-rfe\"") && r.contains("\"R&-D\""), "{r}");
    assert_eq!(
        v1.send("s STATUS \"R&-D\" (MESSAGES)\r\n"),
        "* STATUS \"R&-D\" (MESSAGES 0)\r\ns OK STATUS completed\r\n"
    );
    // In IMAP4rev1, "R&D" is not valid modified UTF-7.
    assert!(v1.send("s STATUS \"R&D\" (MESSAGES)\r\n").starts_with("s NO"));
}

/// RFC 6855: `ENABLE UTF8=ACCEPT` turns mailbox names to UTF-8 as IMAP4rev2 does, and APPEND takes a message with
/// a UTF-8 header as `UTF8 (literal8)`, which a client that did not enable it may not send (§4).
#[test]
fn utf8_accept_names_and_append() {
    let h = host();
    let mut c = Client::login(&h, "alice");
    assert!(c.send("c CAPABILITY\r\n").contains(" UTF8=ACCEPT"));
    let message = "Subject: Grüße\r\n\r\nhallo\r\n";
    let append = format!("a APPEND INBOX UTF8 (~{{{}+}}\r\n{message})\r\n", message.len());
    assert!(c.send(&append).starts_with("a BAD"), "UTF8 before ENABLE");
    assert_eq!(c.send("e ENABLE UTF8=ACCEPT\r\n"), "* ENABLED UTF8=ACCEPT\r\ne OK ENABLE completed\r\n");
    assert!(c.send(&append).starts_with("a OK [APPENDUID "));
    assert!(c.send("c CREATE \"Entwürfe\"\r\n").starts_with("c OK"));
    let r = c.send("l LIST \"\" Entw*\r\n");
    assert_eq!(r, "* LIST (\\HasNoChildren) \"/\" {9}\r\nEntwürfe\r\nl OK LIST completed\r\n");
    c.send("s SELECT INBOX\r\n");
    let r = c.send("f FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]\r\n");
    assert!(r.contains("Subject: Grüße\r\n"), "{r}");
    // §3: a CHARSET would contradict the UTF-8 the client enabled.
    assert!(c.send("t SEARCH CHARSET UTF-8 ALL\r\n").starts_with("t BAD"));
    assert_eq!(c.send("t SEARCH SUBJECT \"grüße\"\r\n"), "* SEARCH 1\r\nt OK SEARCH completed\r\n");
}
