//! One protocol model: the page's protocol tracker and the explanation catalogue must agree with the server's
//! own parsers and replies on every RFC transcript the server is tested with (`server-core/tests/vectors/`).
//!
//! The page cannot carry the server's parsers (the first load has a size budget, and the catalogue's states are
//! what Tab completion shows), so the three models are held together here: each vector's client lines go through
//! the server's parser and through the page's [`Tracker`]; the server's replies (as the vector runners check them
//! against the real server) go through the tracker too. The test fails when
//! - the server parses a command the catalogue does not know, or Explain calls it unknown;
//! - the server accepts a command in a state where the page would not offer it (Tab completion, chips), or
//!   answers "bad sequence" (SMTP 503) to one the page offers;
//! - the server switches the input mode (SMTP `354` → message, `334`/`+` → SASL, IMAP `+` → literal or IDLE)
//!   and the page does not follow.

use std::path::{Path, PathBuf};

use mailroom_core::explain::{self, Dir, Protocol};
use mailroom_frontend::proto::{Mode, Tracker};

fn vectors(protocol: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server-core/tests/vectors").join(protocol);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    files
}

/// The transcript of a vector file: (is_client, line), with the runners' wildcards replaced by text.
fn transcript(path: &Path) -> Vec<(bool, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| {
            let (client, rest) = if let Some(r) = l.strip_prefix("C: ") {
                (true, r)
            } else if let Some(r) = l.strip_prefix("S: ") {
                (false, r)
            } else if l == "C:" || l == "S:" {
                (l == "C:", "")
            } else {
                return None;
            };
            Some((client, rest.replace("<*>", "x").replace(" *", " x")))
        })
        .collect()
}

/// What the server's own parser makes of a client command line: its keyword, or `None` if it refuses the line.
fn server_keyword(protocol: Protocol, line: &str) -> Option<String> {
    match protocol {
        Protocol::Smtp => {
            let mut buf = line.as_bytes().to_vec();
            buf.extend_from_slice(b"\r\n");
            match mailroom_core::smtp::parser::parse_command(&buf, 4096) {
                mailroom_core::smtp::parser::Parsed::Complete { value, .. } => {
                    if matches!(value, mailroom_core::smtp::Command::Http { .. }) {
                        return None;
                    }
                    Some(value.to_string().split([' ', ':']).next().unwrap_or("").to_string())
                }
                _ => None,
            }
        }
        Protocol::Pop3 => {
            mailroom_core::pop3::command::parse(line.as_bytes()).ok().map(|c| c.keyword().to_string())
        }
        Protocol::Imap => {
            let mut buf = line.as_bytes().to_vec();
            buf.extend_from_slice(b"\r\n");
            // A command announcing a literal is parsed once its literal is there; the keyword is known before.
            if line.ends_with('}') {
                return line.split(' ').nth(1).map(str::to_ascii_uppercase);
            }
            mailroom_core::imap::parser::parse_command(&buf).ok().map(|_| {
                let mut w = line.split(' ').skip(1);
                let first = w.next().unwrap_or("").to_ascii_uppercase();
                if first == "UID" { "UID".to_string() } else { first }
            })
        }
    }
}

/// A final reply to the oldest waiting command, and whether it is a success.
fn final_reply(protocol: Protocol, line: &str) -> Option<(Option<String>, bool)> {
    match protocol {
        Protocol::Smtp => {
            let b = line.as_bytes();
            // 334 (AUTH) and 354 (DATA) are intermediate: the command's final reply comes after the exchange.
            (b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) && b.get(3) != Some(&b'-') && b[0] != b'3')
                .then(|| (None, b[0] == b'2'))
        }
        Protocol::Pop3 => {
            if line.starts_with("+OK") {
                Some((None, true))
            } else if line.starts_with("-ERR") {
                Some((None, false))
            } else {
                None
            }
        }
        Protocol::Imap => {
            let mut w = line.split(' ');
            let tag = w.next()?;
            let status = w.next()?.to_ascii_uppercase();
            (tag != "*" && tag != "+" && matches!(status.as_str(), "OK" | "NO" | "BAD"))
                .then(|| (Some(tag.to_string()), status == "OK"))
        }
    }
}

fn check(protocol: Protocol, dir: &str) -> usize {
    let mut checked = 0;
    for path in vectors(dir) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut t = Tracker::new(protocol);
        // Commands sent and not yet answered: (IMAP tag, keyword).
        let mut waiting: Vec<(String, String)> = Vec::new();
        let mut last_client = String::new();
        for (n, (client, line)) in transcript(&path).into_iter().enumerate() {
            let at = format!("{name}:{} {line:?}", n + 1);
            if client {
                last_client = line.clone();
                if t.mode == Mode::Command {
                    if let Some(k) = server_keyword(protocol, &line) {
                        assert!(
                            explain::command(protocol, &k).is_some(),
                            "{at}: the server parses {k}, the catalogue does not know it"
                        );
                        let e = explain::explain_line(dir, Dir::C, &line);
                        assert!(
                            !e.title.to_ascii_lowercase().contains("unknown"),
                            "{at}: Explain says {:?}",
                            e.title
                        );
                        let tag = if protocol == Protocol::Imap {
                            line.split(' ').next().unwrap_or("").to_string()
                        } else {
                            String::new()
                        };
                        waiting.push((tag, k.clone()));
                        checked += 1;
                    } else {
                        waiting.push((String::new(), String::new()));
                    }
                }
                t.client_line(&line);
                continue;
            }
            // What the page offers in the state the server is in when it answers this reply's command: every
            // earlier reply has been seen, so pipelined commands are judged in the right state.
            let offered_now = t.valid_commands();
            t.server_line(&line);
            // The input mode follows the server.
            if protocol == Protocol::Smtp && line.starts_with("354") {
                assert_eq!(t.mode, Mode::Data, "{at}: the server opened DATA");
            }
            if line.starts_with("334")
                || (protocol == Protocol::Pop3 && (line == "+" || line.starts_with("+ ")))
            {
                assert_eq!(t.mode, Mode::Sasl, "{at}: the server asks for a SASL response");
            }
            if protocol == Protocol::Imap && (line == "+" || line.starts_with("+ ")) {
                let want = if last_client.to_ascii_uppercase().ends_with(" IDLE") {
                    Some(Mode::Idle)
                } else {
                    mailroom_frontend::proto::literal_len(&last_client).map(Mode::Literal)
                };
                if let Some(want) = want {
                    assert_eq!(t.mode, want, "{at}: after {last_client:?}");
                }
            }
            let Some((tag, ok)) = final_reply(protocol, &line) else { continue };
            let i = match &tag {
                Some(tag) => match waiting.iter().position(|(t, _)| t == tag) {
                    Some(i) => i,
                    None => continue,
                },
                None if waiting.is_empty() => continue, // the greeting, or a reply to message data
                None => 0,
            };
            let (_, k) = waiting.remove(i);
            let offered = offered_now.contains(&k.as_str());
            if ok && matches!(k.as_str(), "STARTTLS" | "STLS") {
                // Whatever was pipelined behind it is dropped by the server, unanswered (CVE-2011-0411).
                waiting.clear();
            }
            if k.is_empty() {
                continue;
            }
            if ok {
                assert!(
                    offered,
                    "{at}: the server accepted {k}, but the page did not offer it in that state"
                );
            }
            if protocol == Protocol::Smtp && line.starts_with("503") {
                assert!(!offered, "{at}: the server says {k} is out of sequence, but the page offered it");
            }
        }
    }
    checked
}

#[test]
fn smtp_vectors_agree() {
    let n = check(Protocol::Smtp, "smtp");
    assert!(n > 50, "only {n} commands checked");
}

#[test]
fn pop3_vectors_agree() {
    let n = check(Protocol::Pop3, "pop3");
    assert!(n > 30, "only {n} commands checked");
}

#[test]
fn imap_vectors_agree() {
    let n = check(Protocol::Imap, "imap");
    assert!(n > 20, "only {n} commands checked");
}
