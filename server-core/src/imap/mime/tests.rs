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
        s.starts_with("((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 22 2 NIL NIL NIL NIL)"),
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
