//! Explanations of lines from each protocol, checked against the RFCs' wording.

use super::*;

#[test]
fn smtp_reply_digits_and_enhanced() {
    let e = explain_line("smtp", Dir::S, "550 5.1.1 <nobody@example.com>: no such user");
    assert!(e.title.starts_with("550"));
    assert!(e.rfc.contains("RFC 5321 §4.2.1") && e.rfc.contains("RFC 3463"));
    let labels: Vec<&str> = e.parts.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["5xx", "x5x", "550", "5.x.x", "x.1.x", "5.1.1"]);
    assert!(e.parts[0].text.starts_with("Permanent"));
    assert!(e.parts[5].text.contains("no such user"));
}

#[test]
fn smtp_reply_table() {
    for (line, title_start, has_part) in [
        ("220 mx1.example.com ESMTP", "220", "2xx"),
        ("250-PIPELINING", "EHLO extension PIPELINING", "PIPELINING"),
        ("250-AUTH PLAIN LOGIN", "EHLO extension AUTH", "-"),
        ("354 End data with <CR><LF>.<CR><LF>", "354", "3xx"),
        ("421 4.3.2 Service not available", "421", "4.3.2"),
        ("334 VXNlcm5hbWU6", "334", "challenge"),
        ("535 5.7.8 Authentication failed", "535", "5.7.8"),
    ] {
        let e = explain_line("submission", Dir::S, line);
        assert!(e.title.starts_with(title_start), "{line}: {}", e.title);
        assert!(e.parts.iter().any(|p| p.label == has_part), "{line}: {:?}", e.parts);
    }
    assert_eq!(explain_line("smtp", Dir::S, "hello").title, "Not an SMTP reply line");
}

#[test]
fn smtp_client_table() {
    for (line, rfc) in [
        ("EHLO me", "RFC 5321 §4.1.1.1"),
        ("ehlo me", "RFC 5321 §4.1.1.1"),
        ("MAIL FROM:<alice@example.com>", "RFC 5321 §4.1.1.2"),
        ("RCPT TO:<carol@example.net>", "RFC 5321 §4.1.1.3"),
        ("DATA", "RFC 5321 §4.1.1.4"),
        (".", "RFC 5321 §4.1.1.4"),
        ("..leading dot", "RFC 5321 §4.5.2"),
        ("Subject: hi", "RFC 5322 §3.6"),
        ("STARTTLS", "RFC 3207 §4"),
        ("AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk", "RFC 4954 §4"),
        ("YWxpY2U=", "RFC 4954 §4"),
        ("QUIT", "RFC 5321 §4.1.1.10"),
    ] {
        assert_eq!(explain_line("smtp", Dir::C, line).rfc, rfc, "{line}");
    }
}

#[test]
fn pop3_table() {
    let e = explain_line("pop3", Dir::S, "-ERR [AUTH] invalid credentials");
    assert_eq!(e.title, "-ERR: failure");
    assert!(e.parts.iter().any(|p| p.label == "[AUTH]"));
    assert_eq!(explain_line("pop3s", Dir::S, "+OK 2 messages").title, "+OK: success");
    assert_eq!(explain_line("pop3", Dir::S, ".").rfc, "RFC 1939 §3");
    assert_eq!(explain_line("pop3", Dir::S, "1 120").title, "Listing line");
    assert_eq!(explain_line("pop3", Dir::S, "STLS").title, "Capability STLS");
    assert_eq!(explain_line("pop3", Dir::C, "STLS").rfc, "RFC 2595 §4");
    assert_eq!(explain_line("pop3", Dir::C, "CAPA").rfc, "RFC 2449 §5");
    assert_eq!(explain_line("pop3", Dir::C, "dele 1").rfc, "RFC 1939 §5");
    assert!(explain_line("pop3", Dir::C, "QUIT").body.contains("UPDATE"));
}

#[test]
fn imap_table() {
    let e = explain_line("imap", Dir::C, "a1 LOGIN alice password");
    assert_eq!(e.rfc, "RFC 3501 §6.2.3");
    assert!(e.parts.iter().any(|p| p.label == "a1"));
    assert_eq!(explain_line("imap", Dir::C, "a2 uid fetch 1:* FLAGS").parts[2].label, "FETCH");
    assert_eq!(explain_line("imap", Dir::C, "DONE").rfc, "RFC 2177 §3");
    assert_eq!(explain_line("imap", Dir::S, "* 3 EXPUNGE").rfc, "RFC 3501 §7.4.1");
    assert_eq!(explain_line("imap", Dir::S, "* 4 EXISTS").rfc, "RFC 3501 §7.3.1");
    assert_eq!(explain_line("imaps", Dir::S, "+ idling").rfc, "RFC 3501 §7.5");
    let e = explain_line("imap", Dir::S, "* OK [UIDVALIDITY 3857529045] UIDs valid");
    assert!(e.parts.iter().any(|p| p.label == "[UIDVALIDITY 3857529045]" && p.text.contains("UIDs")));
    let e = explain_line("imap", Dir::S, "a1 NO [AUTHENTICATIONFAILED] Invalid credentials");
    assert!(e.title.starts_with("Tagged NO"));
    assert!(e.parts.iter().any(|p| p.text.contains("RFC 5530")));
    assert_eq!(explain_line("imap", Dir::S, "a9 BAD what").parts[1].label, "BAD");
}

#[test]
fn every_command_has_states_and_rfc() {
    for p in [Protocol::Smtp, Protocol::Pop3, Protocol::Imap] {
        for c in commands(p) {
            assert!(!c.states.is_empty(), "{}", c.name);
            assert!(c.rfc.starts_with("RFC "), "{}", c.name);
        }
    }
}

#[test]
fn never_panics_on_odd_input() {
    for proto in ["smtp", "pop3", "imap", "gopher"] {
        for side in [Dir::C, Dir::S] {
            for line in
                ["", " ", "5", "55", "550", "550-", "5.5", "* ", "+", "[", "a1 OK [", "é 日本", "2.0.0"]
            {
                let _ = explain_line(proto, side, line);
            }
        }
    }
}
