//! The relay dialogue against scripted next hops: the server's side of each conversation is fed in, the client's
//! lines are checked, in one piece and byte by byte.

use super::*;

fn rcpts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn job<'a>(rcpts: &'a [String], data: &'a [u8], smtputf8: bool, from: &'a str) -> RelayJob<'a> {
    RelayJob { helo: "mx1.example.com", mx: "mx2.example.net", mail_from: from, rcpts, data, smtputf8 }
}

/// Plays a conversation: each server reply is fed (in `chunk`-byte pieces); what the client writes is collected
/// as text. A `StartTls` is answered with an established TLS session.
fn play(job: RelayJob<'_>, server: &[&str], chunk: usize) -> (Vec<String>, RelayReport) {
    let mut d = Dialogue::new(job);
    let mut sent = Vec::new();
    let mut replies = server.iter();
    let mut next = Next::Read;
    let mut ms = 0;
    loop {
        ms += 1;
        next = match next {
            Next::Done => break,
            Next::Write(bytes) => {
                sent.push(String::from_utf8(bytes).unwrap());
                Next::Read
            }
            Next::StartTls => {
                sent.push("<handshake>".into());
                d.tls_started(
                    TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_256_GCM_SHA384".into() },
                    None,
                    ms,
                )
            }
            Next::Read => {
                let Some(reply) = replies.next() else { return (sent, d.report()) };
                let mut n = Next::Read;
                for piece in reply.as_bytes().chunks(chunk) {
                    n = d.receive(piece, ms);
                    if n != Next::Read {
                        break;
                    }
                }
                n
            }
        };
    }
    (sent, d.report())
}

const EHLO_TLS: &str = "250-mx2.example.net\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
const EHLO_UTF8: &str = "250-mx2.example.net\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n";

#[test]
fn relays_over_starttls_in_any_split() {
    let to = rcpts(&["carol@example.net"]);
    let data = b"Subject: hi\r\n\r\n.leading dot\r\nend";
    let server = [
        "220 mx2.example.net ESMTP\r\n",
        EHLO_TLS,
        "220 2.0.0 Ready to start TLS\r\n",
        EHLO_UTF8,
        "250 2.1.0 Ok\r\n",
        "250 2.1.5 Ok\r\n",
        "354 End data with <CR><LF>.<CR><LF>\r\n",
        "250 2.0.0 Ok: queued as X1\r\n",
        "221 2.0.0 Bye\r\n",
    ];
    for chunk in [usize::MAX, 1, 2, 5] {
        let (sent, report) = play(job(&to, data, false, "alice@example.com"), &server, chunk.min(4096));
        assert_eq!(
            sent,
            [
                "EHLO mx1.example.com\r\n",
                "STARTTLS\r\n",
                "<handshake>",
                "EHLO mx1.example.com\r\n",
                "MAIL FROM:<alice@example.com>\r\n",
                "RCPT TO:<carol@example.net>\r\n",
                "DATA\r\n",
                // Dot-stuffed, CRLF added at the end, then the end-of-data mark.
                "Subject: hi\r\n\r\n..leading dot\r\nend\r\n.\r\n",
                "QUIT\r\n",
            ],
            "chunk {chunk}"
        );
        assert_eq!(
            report.outcomes,
            [("carol@example.net".into(), RcptOutcome::Delivered("250 2.0.0 Ok: queued as X1".into()))]
        );
        assert_eq!(report.tls.as_ref().map(|t| t.version.as_str()), Some("TLSv1.3"));
        let lines: Vec<_> = report.transcript.iter().map(|l| format!("{} {}", l.dir, l.line)).collect();
        assert!(lines.contains(&"S 250-STARTTLS".to_string()), "{lines:?}");
        assert!(
            lines.contains(&"- TLS established: TLSv1.3 TLS13_AES_256_GCM_SHA384".to_string()),
            "{lines:?}"
        );
    }
}

#[test]
fn smtputf8_is_relayed_with_its_parameter() {
    let to = rcpts(&["δοκιμή@example.net"]);
    let server =
        ["220 mx2\r\n", EHLO_UTF8, "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 ok\r\n", "221 bye\r\n"];
    let (sent, report) = play(job(&to, b"Subject: x\r\n\r\nhi\r\n", true, "ünïcode@example.com"), &server, 3);
    assert_eq!(sent[1], "MAIL FROM:<ünïcode@example.com> SMTPUTF8\r\n");
    assert_eq!(sent[2], "RCPT TO:<δοκιμή@example.net>\r\n");
    assert!(matches!(report.outcomes[0].1, RcptOutcome::Delivered(_)));
}

#[test]
fn smtputf8_message_is_not_sent_to_a_hop_without_it() {
    let to = rcpts(&["δοκιμή@example.net"]);
    let server = ["220 mx2\r\n", "250 mx2\r\n", "221 bye\r\n"];
    let (sent, report) = play(job(&to, b"hi\r\n", true, "alice@example.com"), &server, 4096);
    assert_eq!(sent, ["EHLO mx1.example.com\r\n", "QUIT\r\n"]);
    match &report.outcomes[0].1 {
        RcptOutcome::Permanent(t) => assert!(t.contains("5.6.7"), "{t}"),
        o => panic!("{o:?}"),
    }
    // An ASCII-only message that merely asked for SMTPUTF8 goes through without the parameter.
    let to = rcpts(&["carol@example.net"]);
    let server =
        ["220 mx2\r\n", "250 mx2\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 ok\r\n", "221 bye\r\n"];
    let (sent, report) = play(job(&to, b"hi\r\n", true, "alice@example.com"), &server, 4096);
    assert_eq!(sent[1], "MAIL FROM:<alice@example.com>\r\n");
    assert!(matches!(report.outcomes[0].1, RcptOutcome::Delivered(_)));
}

#[test]
fn each_recipient_gets_its_own_outcome() {
    let to = rcpts(&["a@example.net", "b@example.net", "c@example.net"]);
    let server = [
        "220 mx2\r\n",
        "250 mx2\r\n",
        "250 ok\r\n",
        "550 5.1.1 a: no such user\r\n",
        "450 4.2.1 b: try later\r\n",
        "250 ok\r\n",
        "354 go\r\n",
        "250 2.0.0 queued\r\n",
        "221 bye\r\n",
    ];
    let (_, report) = play(job(&to, b"hi\r\n", false, ""), &server, 4096);
    let mut o = report.outcomes;
    o.sort_by(|x, y| x.0.cmp(&y.0));
    assert!(matches!(&o[0].1, RcptOutcome::Permanent(t) if t.starts_with("550 5.1.1")));
    assert!(matches!(&o[1].1, RcptOutcome::Temporary(t) if t.starts_with("450")));
    assert!(matches!(&o[2].1, RcptOutcome::Delivered(_)));
}

#[test]
fn a_busy_greeting_defers_everyone_and_a_refused_mail_bounces() {
    let to = rcpts(&["a@example.net"]);
    let (sent, report) = play(job(&to, b"hi\r\n", false, "x@example.com"), &["421 mx2 busy\r\n"], 4096);
    assert!(sent.is_empty());
    assert!(matches!(&report.outcomes[0].1, RcptOutcome::Temporary(t) if t == "421 mx2 busy"));
    let server = ["220 mx2\r\n", "250 mx2\r\n", "553 5.7.1 sender refused\r\n"];
    let (_, report) = play(job(&to, b"hi\r\n", false, "x@example.com"), &server, 4096);
    assert!(matches!(&report.outcomes[0].1, RcptOutcome::Permanent(_)));
}

#[test]
fn bytes_pipelined_after_starttls_are_dropped() {
    let to = rcpts(&["a@example.net"]);
    let mut d = Dialogue::new(job(&to, b"hi\r\n", false, ""));
    assert_eq!(d.receive(b"220 mx2\r\n", 0), Next::Write(b"EHLO mx1.example.com\r\n".to_vec()));
    assert_eq!(d.receive(EHLO_TLS.as_bytes(), 1), Next::Write(b"STARTTLS\r\n".to_vec()));
    // A man in the middle appends a fake EHLO reply to the 220: it must not be read after the handshake.
    assert_eq!(d.receive(b"220 go ahead\r\n250 fake\r\n", 2), Next::StartTls);
    let tls = TlsInfo { version: "TLSv1.3".into(), cipher: "X".into() };
    assert_eq!(d.tls_started(tls, None, 3), Next::Write(b"EHLO mx1.example.com\r\n".to_vec()));
    assert_eq!(d.receive(b"250 real\r\n", 4), Next::Write(b"MAIL FROM:<>\r\n".to_vec()));
}

#[test]
fn bad_replies_and_lost_connections_defer_what_is_undecided() {
    let to = rcpts(&["a@example.net", "b@example.net"]);
    let mut d = Dialogue::new(job(&to, b"hi\r\n", false, ""));
    d.receive(b"220 mx2\r\n", 0);
    d.receive(b"250 mx2\r\n", 0);
    d.receive(b"250 ok\r\n", 1);
    d.receive(b"550 no a\r\n", 2);
    assert_eq!(d.failed("4.4.2 connection closed by next hop"), Next::Done);
    let o = d.report().outcomes;
    assert!(matches!(&o[0], (r, RcptOutcome::Permanent(_)) if r == "a@example.net"), "{o:?}");
    assert!(
        matches!(&o[1], (r, RcptOutcome::Temporary(t)) if r == "b@example.net" && t.starts_with("4.4.2"))
    );

    let mut d = Dialogue::new(job(&to, b"hi\r\n", false, ""));
    assert_eq!(d.receive(b"HTTP/1.1 400 Bad Request\r\n", 0), Next::Done);
    assert!(
        d.report()
            .outcomes
            .iter()
            .all(|(_, o)| matches!(o, RcptOutcome::Temporary(t) if t.starts_with("4.5.0")))
    );

    // A reply line without end is not buffered without end.
    let mut d = Dialogue::new(job(&to, b"hi\r\n", false, ""));
    let mut next = Next::Read;
    for _ in 0..10 {
        next = d.receive(&[b'2'; 1000], 0);
        if next != Next::Read {
            break;
        }
    }
    assert_eq!(next, Next::Done);
}

#[test]
fn replies_sent_ahead_are_kept_until_their_command() {
    // A next hop that pipelines its replies (more than one read's worth) is answered in order, not cut off.
    let to = rcpts(&["a@example.net"]);
    let mut d = Dialogue::new(job(&to, b"hi\r\n", false, ""));
    let mut ahead = b"220 mx2\r\n".to_vec();
    for _ in 0..200 {
        ahead.extend_from_slice(b"250-a continuation line of an EHLO reply, long enough to add up\r\n");
    }
    ahead.extend_from_slice(b"250 mx2\r\n250 ok\r\n");
    assert_eq!(d.receive(&ahead, 0), Next::Write(b"EHLO mx1.example.com\r\n".to_vec()));
    assert_eq!(d.receive(b"", 1), Next::Write(b"MAIL FROM:<>\r\n".to_vec()));
    assert_eq!(d.receive(b"", 2), Next::Write(b"RCPT TO:<a@example.net>\r\n".to_vec()));
}

#[test]
fn reply_lines() {
    assert_eq!(parse_reply_line("250-PIPELINING"), Some((250, true)));
    assert_eq!(parse_reply_line("221 bye"), Some((221, false)));
    assert_eq!(parse_reply_line("354"), Some((354, false)));
    assert_eq!(parse_reply_line("25"), None);
    assert_eq!(parse_reply_line("250x"), None);
    assert_eq!(parse_reply_line("999 no"), None);
}

#[test]
fn stuffing() {
    assert_eq!(dot_stuff(b".a\r\nb\r\n..c"), b"..a\r\nb\r\n...c\r\n");
}
