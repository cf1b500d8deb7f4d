//! Tables for part numbering, section bytes and structures.

use super::*;
use crate::imap::parser::{Section, SectionText};

const MULTI: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: bob@example.com, \"Carol C.\" <carol@example.net>\r\n\
Subject: Report\r\n\
Date: Tue, 3 Mar 2026 10:00:00 +0100\r\n\
Message-ID: <m1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello Bob.\r\n\
Two lines.\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: dave@example.net\r\n\
Subject: Inner\r\n\
Content-Type: multipart/alternative; boundary=\"YY\"\r\n\
\r\n\
--YY\r\n\
Content-Type: text/plain\r\n\
\r\n\
inner text\r\n\
--YY\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>inner</p>\r\n\
--YY--\r\n\
--XX\r\n\
Content-Type: application/pdf; name=\"r.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"r.pdf\"\r\n\
\r\n\
JVBERi0x\r\n\
--XX--\r\n\
epilogue\r\n";

fn sec(part: &[u32], text: Option<SectionText>) -> Section {
    Section { part: part.to_vec(), text }
}

fn get(raw: &[u8], s: Section) -> Option<String> {
    let p = parse(raw);
    section(&p, &s).map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[test]
fn multipart_sections() {
    let table: &[(Section, Option<&str>)] = &[
        (sec(&[1], None), Some("Hello Bob.\r\nTwo lines.")),
        (sec(&[1], Some(SectionText::Mime)), Some("Content-Type: text/plain; charset=utf-8\r\n\r\n")),
        (sec(&[2, 1], None), Some("inner text")),
        (sec(&[2, 2], None), Some("<p>inner</p>")),
        (
            sec(&[2], Some(SectionText::Header)),
            Some(
                "From: dave@example.net\r\nSubject: Inner\r\nContent-Type: multipart/alternative; boundary=\"YY\"\r\n\r\n",
            ),
        ),
        (sec(&[3], None), Some("JVBERi0x")),
        (sec(&[4], None), None),
        (sec(&[1, 1], None), None),
        (
            sec(
                &[],
                Some(SectionText::HeaderFields { not: false, fields: vec!["subject".into(), "To".into()] }),
            ),
            Some("To: bob@example.com, \"Carol C.\" <carol@example.net>\r\nSubject: Report\r\n\r\n"),
        ),
    ];
    for (s, want) in table {
        assert_eq!(get(MULTI, s.clone()).as_deref(), *want, "{s:?}");
    }
    let text = get(MULTI, sec(&[2], Some(SectionText::Text))).unwrap();
    assert!(text.starts_with("--YY\r\n") && text.trim_end().ends_with("--YY--"), "{text:?}");
    let header = get(MULTI, sec(&[], Some(SectionText::Header))).unwrap();
    assert!(header.starts_with("From: Alice") && header.ends_with("boundary=\"XX\"\r\n\r\n"));
    assert_eq!(get(MULTI, sec(&[], None)).unwrap().as_bytes(), MULTI);
}

#[test]
fn single_part_sections() {
    let raw = b"Subject: hi\r\n\r\nbody line\r\n";
    assert_eq!(get(raw, sec(&[1], None)).as_deref(), Some("body line\r\n"));
    assert_eq!(get(raw, sec(&[], Some(SectionText::Text))).as_deref(), Some("body line\r\n"));
    assert_eq!(get(raw, sec(&[], Some(SectionText::Header))).as_deref(), Some("Subject: hi\r\n\r\n"));
    assert_eq!(get(raw, sec(&[2], None)), None);
    // No headers at all, and nothing at all.
    assert_eq!(get(b"", sec(&[], None)).as_deref(), Some(""));
    assert_eq!(get(b"", sec(&[], Some(SectionText::Header))).as_deref(), Some(""));
}

#[test]
fn structure_and_envelope() {
    let p = parse(MULTI);
    let mut out = Vec::new();
    body_structure(&mut out, &p, true);
    let s = String::from_utf8(out).unwrap();
    println!("{s}");
    assert!(
        s.starts_with("((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 22 1 NIL NIL NIL NIL)"),
        "{s}"
    );
    assert!(s.contains("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "), "{s}");
    assert!(s.contains("\"alternative\""), "{s}");
    assert!(s.contains("(\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 8 NIL (\"attachment\" (\"filename\" \"r.pdf\")) NIL NIL)"), "{s}");
    assert!(s.ends_with(" \"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)"), "{s}");
    let mut out = Vec::new();
    envelope(&mut out, &p);
    let e = String::from_utf8(out).unwrap();
    assert_eq!(
        e,
        "(\"Tue, 3 Mar 2026 10:00:00 +0100\" \"Report\" ((\"Alice\" NIL \"alice\" \"example.com\")) \
         ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) \
         ((NIL NIL \"bob\" \"example.com\")(\"Carol C.\" NIL \"carol\" \"example.net\")) NIL NIL NIL \
         \"<m1@example.com>\")"
    );
}

#[test]
fn hostile_nesting_is_bounded() {
    let mut raw = Vec::new();
    for i in 0..500 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"\r\nleaf\r\n");
    let p = parse(&raw);
    let mut out = Vec::new();
    body_structure(&mut out, &p, true);
    envelope(&mut out, &p);
    let deep = Section { part: vec![1; 64], text: None };
    let _ = section(&p, &deep);
}

#[test]
fn a_flood_of_rfc2231_sections_is_not_parsed() {
    let mut ct = String::from("Content-Type: text/plain; charset=us-ascii");
    for i in 0..5000 {
        ct.push_str(&format!(";\r\n title*{i}*=us-ascii''part{i}"));
    }
    let hostile = format!("From: a@example.com\r\nSubject: flood\r\n{ct}\r\n\r\nbody\r\n");
    let parsed = parse(hostile.as_bytes());
    let mut out = Vec::new();
    body_structure(&mut out, &parsed, false);
    let bs = String::from_utf8(out).unwrap();
    assert!(bs.starts_with("(\"text\" \"plain\""), "{bs}");
    assert!(!bs.contains("part4999"), "the sections were parsed after all");

    // An ordinary message keeps its parameters.
    let fine = b"Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nbody\r\n";
    let mut out = Vec::new();
    body_structure(&mut out, &parse(fine), false);
    let bs = String::from_utf8(out).unwrap();
    assert!(bs.contains("\"format\" \"flowed\""), "{bs}");
}

// ------------------------------------------------------------------------------------------------------------
// Issue 13 regressions

fn structure(raw: &[u8]) -> String {
    let mut out = Vec::new();
    body_structure(&mut out, &parse(raw), true);
    String::from_utf8(out).unwrap()
}

fn envelope_of(raw: &[u8]) -> String {
    let mut out = Vec::new();
    envelope(&mut out, &parse(raw));
    String::from_utf8(out).unwrap()
}

/// Defect 1: SEARCH BODY/TEXT searched an HTML rendering of text parts (`<html><body>…`), so markup that is not
/// in the message matched, and `o` (of `body`) matched every message.
#[test]
fn search_text_is_only_what_the_message_holds() {
    let raw = b"Subject: hello world\r\n\r\nxyz abc\r\n";
    let body = search_text(&parse(raw), false, true);
    assert!(body.contains("xyz abc"), "{body:?}");
    assert!(!body.contains("<html>") && !body.contains("body"), "{body:?}");
    let text = search_text(&parse(raw), true, true);
    assert!(text.contains("hello world") && text.contains("xyz abc"), "{text:?}");
    // An HTML part is searched as written, a text part is not turned into HTML.
    let alt =
        b"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
plain words\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--b--\r\n";
    let body = search_text(&parse(alt), false, true);
    assert!(body.contains("plain words") && body.contains("<p>html words</p>"), "{body:?}");
    assert!(!body.contains("<html>"), "{body:?}");
}

const RFC822_INSIDE: &[u8] = b"From: a@example.com\r\nSubject: outer\r\n\
Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nouter text\r\n\
--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.com\r\nSubject: Zebrafish inner\r\n\r\ninner plain\r\n\
--o--\r\n";

/// Defect 2: the text of an encapsulated message/rfc822 part (its header and body) is part of the body searched.
#[test]
fn search_text_includes_encapsulated_messages() {
    let p = parse(RFC822_INSIDE);
    let body = search_text(&p, false, true);
    assert!(body.contains("inner plain"), "{body:?}");
    let text = search_text(&p, true, true).to_lowercase();
    assert!(text.contains("zebrafish"), "{text:?}");
    assert!(text.contains("outer text"), "{text:?}");
}

/// A message whose top-level type is message/rfc822 wrapping a multipart/digest (after imaptest's
/// fetch-body-message-rfc822 mailbox).
const TOP_RFC822_DIGEST: &[u8] = b"From: a@example.com\r\nSubject: wrapper\r\nMIME-Version: 1.0\r\n\
Content-Type: message/rfc822\r\n\r\n\
From: b@example.com\r\nSubject: digest\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n\
--d\r\n\r\nSubject: first\r\n\r\nfirst body\r\n\
--d\r\n\r\nSubject: second\r\n\r\nsecond body\r\n\
--d--\r\n";

/// Defect 3: RFC 3501 §6.4.5: the body of a non-multipart message is part 1; when that body is message/rfc822,
/// the parts of the encapsulated message are numbered below it (1.1, 1.2…).
#[test]
fn sections_below_a_top_level_message_rfc822() {
    let table: &[(Section, Option<&str>)] = &[
        (sec(&[1, 1], None), Some("Subject: first\r\n\r\nfirst body")),
        (sec(&[1, 1, 1], None), Some("first body")),
        (sec(&[1, 2], Some(SectionText::Text)), Some("second body")),
        (sec(&[1, 2], Some(SectionText::Header)), Some("Subject: second\r\n\r\n")),
        (
            sec(&[1], Some(SectionText::Header)),
            Some(
                "From: b@example.com\r\nSubject: digest\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n",
            ),
        ),
        (sec(&[1, 3], None), None),
    ];
    for (s, want) in table {
        assert_eq!(get(TOP_RFC822_DIGEST, s.clone()).as_deref(), *want, "{s:?}");
    }
}

/// Defect 4: RFC 2046 §5.1.5: in a multipart/digest, a part without Content-Type is message/rfc822.
#[test]
fn digest_parts_default_to_message_rfc822() {
    let s = structure(TOP_RFC822_DIGEST);
    assert!(s.contains("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 28 (NIL \"first\""), "{s}");
    assert!(!s.contains("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 28"), "{s}");
    assert!(s.contains("\"digest\""), "{s}");
}

/// Defect 6: RFC 3501 §7.4.2: an empty Sender or Reply-To is set from From, and a source route goes in addr-adl.
#[test]
fn envelope_defaults_and_routes() {
    let raw = b"From: <@route:user@domain>\r\nSender:\r\nReply-To: \r\nSubject: s\r\n\r\nbody\r\n";
    let e = envelope_of(raw);
    let from = "((NIL \"@route\" \"user\" \"domain\"))";
    assert_eq!(e, format!("(NIL \"s\" {from} {from} {from} NIL NIL NIL NIL NIL)"));
}

/// Defect 8: RFC 3501 §7.4.2 body-fld-lang is a list when the part names more than one language.
#[test]
fn content_language_is_a_list() {
    let raw = b"Content-Type: text/plain\r\nContent-Language: en, en-US\r\n\r\nbody\r\n";
    let s = structure(raw);
    assert!(s.ends_with(" NIL NIL (\"en\" \"en-US\") NIL)"), "{s}");
    let one = structure(b"Content-Type: text/plain\r\nContent-Language: en\r\n\r\nbody\r\n");
    assert!(one.ends_with(" NIL NIL \"en\" NIL)"), "{one}");
}

/// Defect 10: body-fld-lines counts line ends; a last line without one is not counted (as Dovecot does).
#[test]
fn lines_are_line_ends() {
    let s = structure(b"Subject: x\r\n\r\none\r\ntwo");
    assert!(s.contains("\"7bit\" 8 1 "), "{s}");
}

/// RFC 5256 §2.1 base subjects, with the subjects of imaptest's `sort-subject` mailbox.
#[test]
fn base_subjects() {
    let table = [
        ("a", "a"),
        ("Re: a", "a"),
        ("RE: [list] a", "a"),
        ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b"),
        ("b (a)", "b (a)"),
        ("Re: [FWD: c]", "c"),
        ("[xyz]", "[xyz]"),
        (" ", ""),
        ("Ad: Re: Ad: Re: Ad: x", "Ad: Re: Ad: Re: Ad: x"),
        ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon"),
        ("Re:   hello\t world  ", "hello world"),
        ("[a] [b]", "[b]"),
    ];
    for (subject, want) in table {
        assert_eq!(base_subject_of(subject), want, "{subject:?}");
    }
}
