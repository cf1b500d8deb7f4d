//! What the typing helpers write, where typing is not the lesson: the base64 of SASL PLAIN and LOGIN
//! (RFC 4616, draft-murchison-sasl-login) for the AUTH helper, and a message with valid headers (RFC 5322 §3.6:
//! `From:`, `To:`, `Subject:`, `Date:`, `Message-ID:`) for the compose helper. Pure functions, unit-tested on the
//! host; the components only show and insert what these return.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), the alphabet SMTP AUTH uses. Written here because the server's
/// base64 crate is not compiled into the page, and 20 lines cost less than a dependency.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The AUTH PLAIN command for a user and password: `AUTH PLAIN base64("\0user\0password")` (RFC 4616: empty
/// authorization identity, then the authentication identity and the password, each after a NUL).
pub fn auth_plain(user: &str, password: &str) -> String {
    format!("AUTH PLAIN {}", base64(format!("\0{user}\0{password}").as_bytes()))
}

/// What an AUTH PLAIN string decodes to, NULs shown as `\0` (so a learner sees that base64 hides nothing).
pub fn plain_decoded(user: &str, password: &str) -> String {
    format!("\\0{user}\\0{password}")
}

/// The three lines of AUTH LOGIN: the command, then the user name and the password, each base64 on its own line
/// (answering the server's `334 VXNlcm5hbWU6` "Username:" and `334 UGFzc3dvcmQ6` "Password:").
pub fn auth_login(user: &str, password: &str) -> [String; 3] {
    ["AUTH LOGIN".to_string(), base64(user.as_bytes()), base64(password.as_bytes())]
}

/// The domain of an address (`example.com` for `alice@example.com`), for the Message-ID.
fn domain(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(_, d)| d).filter(|d| !d.is_empty()).unwrap_or("mailroom.test")
}

/// A message ready to send after DATA: `From:`, `To:`, `Subject:`, `Date:` (RFC 5322 §3.3 date-time, from
/// `now_ms`, milliseconds since the epoch) and `Message-ID:` headers, a blank line, a body, and the line with a
/// single dot that ends DATA (RFC 5321 §4.1.1.4). `from` and `to` are envelope addresses (the connection's MAIL
/// FROM and RCPT TO, when known); the header need not match the envelope, but a matching one is what a newcomer
/// expects.
pub fn compose(from: &str, to: &[String], subject: &str, body: &str, now_ms: i64) -> String {
    let from = if from.is_empty() { "alice@example.com" } else { from };
    let to = if to.is_empty() {
        "<bob@example.com>".to_string()
    } else {
        to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(", ")
    };
    let date = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default().to_rfc2822();
    // Unique enough for a playground: the time in hex, the sender's name and domain.
    let id = format!("{:x}.{}@{}", now_ms, from.split('@').next().unwrap_or("me"), domain(from));
    format!("From: <{from}>\nTo: {to}\nSubject: {subject}\nDate: {date}\nMessage-ID: <{id}>\n\n{body}\n.",)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc, "{plain:?}");
        }
    }

    #[test]
    fn auth_lines_are_what_the_server_expects() {
        // The same string the README and the lesson preludes use for alice.
        assert_eq!(auth_plain("alice", "password"), "AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk");
        assert_eq!(plain_decoded("alice", "password"), "\\0alice\\0password");
        assert_eq!(auth_login("alice", "password"), ["AUTH LOGIN", "YWxpY2U=", "cGFzc3dvcmQ="]);
    }

    #[test]
    fn compose_writes_valid_headers_and_the_final_dot() {
        let m =
            compose("alice@example.com", &["bob@example.com".into()], "Lunch?", "Hi Bob!", 1_796_126_400_000);
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[0], "From: <alice@example.com>");
        assert_eq!(lines[1], "To: <bob@example.com>");
        assert_eq!(lines[2], "Subject: Lunch?");
        assert_eq!(lines[3], "Date: Tue, 1 Dec 2026 12:00:00 +0000");
        assert!(lines[4].starts_with("Message-ID: <") && lines[4].ends_with("@example.com>"), "{}", lines[4]);
        assert_eq!(&lines[5..], ["", "Hi Bob!", "."]);
        let m = compose("", &["carol@example.net".into(), "dave@example.net".into()], "x", "y", 0);
        assert!(
            m.contains("From: <alice@example.com>\nTo: <carol@example.net>, <dave@example.net>\n"),
            "{m}"
        );
    }
}
