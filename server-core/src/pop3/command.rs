//! POP3 commands: the wire types, their parser, and their encoder (the client's side, for tests and the fuzzer).
//!
//! The parser sees one line without its CRLF (the session frames lines and bounds their length) and knows nothing
//! about state: whether a command is allowed now is the session's business.
//!
//! Grammar, from RFC 2449 §3 (which formalises RFC 1939 §3) with the commands of RFC 1939 §§4-7, RFC 2449 §5,
//! RFC 2595 §4 and RFC 5034 §4:
//!
//! ```text
//! command   = keyword *(SP param) CRLF      ; keywords are case-insensitive
//! keyword   = 3*4VCHAR
//! param     = 1*VCHAR
//! VCHAR     = %x21-7E                         ; we also take UTF-8 in user names and passwords
//!
//! user      = "USER" SP name
//! pass      = "PASS" SP string                ; the rest of the line: spaces belong to the password (RFC 1939 §7)
//! apop      = "APOP" SP name SP digest        ; digest = 32HEXDIG, MD5 of timestamp+secret (RFC 1939 §7)
//! auth      = "AUTH" [SP mechanism [SP initial-response]]   ; initial-response = base64 / "=" (RFC 5034 §4)
//! stls      = "STLS"                          ; RFC 2595 §4
//! capa      = "CAPA"                          ; RFC 2449 §5
//! stat      = "STAT"
//! list      = "LIST" [SP msg]
//! retr      = "RETR" SP msg
//! dele      = "DELE" SP msg
//! noop      = "NOOP"
//! rset      = "RSET"
//! quit      = "QUIT"
//! top       = "TOP" SP msg SP lines           ; lines = 1*DIGIT, may be 0
//! uidl      = "UIDL" [SP msg]
//! msg       = 1*DIGIT                         ; a message-number; 0 never names a message (RFC 1939 §5)
//! ```
//!
//! Parameters are separated by one space in the grammar; we also accept runs of spaces and trailing spaces, which
//! real clients send. Control characters anywhere in a line are refused (a stray CR or NUL is never meaningful).

use std::fmt::Write as _;

use crate::auth::Secret;

/// One client command. Names follow the RFC keywords.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `USER name` (RFC 1939 §7).
    User { name: String },
    /// `PASS string` (RFC 1939 §7). The password is redacted in `Debug`.
    Pass { password: Secret },
    /// `APOP name digest` (RFC 1939 §7); `digest` is 32 lowercase hex digits.
    Apop { name: String, digest: String },
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4). Without a mechanism, the client asks for the list.
    /// The mechanism is upper-cased; the initial response (which carries the password) is redacted in `Debug`.
    Auth { mechanism: Option<String>, initial: Option<Secret> },
    /// `STLS` (RFC 2595 §4).
    Stls,
    /// `CAPA` (RFC 2449 §5).
    Capa,
    /// `STAT` (RFC 1939 §5).
    Stat,
    /// `LIST [msg]` (RFC 1939 §5).
    List { msg: Option<u32> },
    /// `RETR msg` (RFC 1939 §5).
    Retr { msg: u32 },
    /// `DELE msg` (RFC 1939 §5).
    Dele { msg: u32 },
    /// `NOOP` (RFC 1939 §5).
    Noop,
    /// `RSET` (RFC 1939 §5).
    Rset,
    /// `QUIT` (RFC 1939 §§4, 6).
    Quit,
    /// `TOP msg n` (RFC 1939 §7).
    Top { msg: u32, lines: u32 },
    /// `UIDL [msg]` (RFC 1939 §7).
    Uidl { msg: Option<u32> },
}

/// Why a line is not a command. The `Display` text is what follows `-ERR ` in the reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line was empty (or only spaces).
    #[error("empty command")]
    Empty,
    /// The line is not UTF-8.
    #[error("command is not valid UTF-8")]
    NotUtf8,
    /// A control character (CR, NUL, TAB, ...) inside the line.
    #[error("control character in command")]
    ControlCharacter,
    /// The keyword is not a POP3 command we know. Holds the keyword, shortened, safe to echo.
    #[error("unknown command \"{0}\"")]
    Unknown(String),
    /// A required argument is missing: (keyword, what is missing).
    #[error("{0} needs {1}")]
    MissingArgument(&'static str, &'static str),
    /// More arguments than the command takes.
    #[error("too many arguments for {0}")]
    TooManyArguments(&'static str),
    /// A number argument is not 1*DIGIT or does not fit 32 bits: (keyword, which argument).
    #[error("{0}: {1} must be a decimal number")]
    InvalidNumber(&'static str, &'static str),
    /// Another argument has the wrong form: (keyword, what is wrong).
    #[error("{0}: {1}")]
    InvalidArgument(&'static str, &'static str),
}

/// The longest keyword echoed back in [`ParseError::Unknown`].
const ECHO_MAX: usize = 16;

/// Parses one command line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    if line.chars().any(char::is_control) {
        return Err(ParseError::ControlCharacter);
    }
    let line = line.trim_start_matches(' ');
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    if keyword.is_empty() {
        return Err(ParseError::Empty);
    }
    let upper = keyword.to_ascii_uppercase();

    // PASS is special: its one argument is the rest of the line, spaces included (RFC 1939 §7, PASS notes).
    if upper == "PASS" {
        if rest.is_empty() {
            return Err(ParseError::MissingArgument("PASS", "a password"));
        }
        return Ok(Command::Pass { password: Secret(rest.to_string()) });
    }

    let mut params = rest.split(' ').filter(|p| !p.is_empty());
    let cmd = match upper.as_str() {
        "USER" => Command::User { name: required(&mut params, "USER", "a user name")?.to_string() },
        "APOP" => {
            let name = required(&mut params, "APOP", "a user name and a digest")?.to_string();
            let digest = required(&mut params, "APOP", "a digest")?;
            if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseError::InvalidArgument("APOP", "the digest must be 32 hex digits"));
            }
            Command::Apop { name, digest: digest.to_ascii_lowercase() }
        }
        "AUTH" => {
            let mechanism = params.next().map(str::to_ascii_uppercase);
            if let Some(m) = &mechanism {
                // RFC 4422 §3.1: SASL mechanism names are 1-20 of A-Z 0-9 - _.
                let ok =
                    m.len() <= 20 && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(ParseError::InvalidArgument("AUTH", "invalid SASL mechanism name"));
                }
            }
            let initial = params.next().map(|s| Secret(s.to_string()));
            Command::Auth { mechanism, initial }
        }
        "STLS" => Command::Stls,
        "CAPA" => Command::Capa,
        "STAT" => Command::Stat,
        "LIST" => {
            Command::List { msg: params.next().map(|p| number(p, "LIST", "the message number")).transpose()? }
        }
        "RETR" => Command::Retr { msg: msg(&mut params, "RETR")? },
        "DELE" => Command::Dele { msg: msg(&mut params, "DELE")? },
        "NOOP" => Command::Noop,
        "RSET" => Command::Rset,
        "QUIT" => Command::Quit,
        "TOP" => {
            let msg = msg(&mut params, "TOP")?;
            let lines = required(&mut params, "TOP", "a number of lines")?;
            Command::Top { msg, lines: number(lines, "TOP", "the number of lines")? }
        }
        "UIDL" => {
            Command::Uidl { msg: params.next().map(|p| number(p, "UIDL", "the message number")).transpose()? }
        }
        _ => return Err(ParseError::Unknown(keyword.chars().take(ECHO_MAX).collect())),
    };
    if params.next().is_some() {
        return Err(ParseError::TooManyArguments(cmd.keyword()));
    }
    Ok(cmd)
}

fn required<'a>(
    params: &mut impl Iterator<Item = &'a str>,
    keyword: &'static str,
    what: &'static str,
) -> Result<&'a str, ParseError> {
    params.next().ok_or(ParseError::MissingArgument(keyword, what))
}

fn msg<'a>(params: &mut impl Iterator<Item = &'a str>, keyword: &'static str) -> Result<u32, ParseError> {
    number(required(params, keyword, "a message number")?, keyword, "the message number")
}

fn number(p: &str, keyword: &'static str, what: &'static str) -> Result<u32, ParseError> {
    // `u32::from_str` would also take a leading '+'; the grammar says 1*DIGIT.
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::InvalidNumber(keyword, what));
    }
    p.parse().map_err(|_| ParseError::InvalidNumber(keyword, what))
}

impl Command {
    /// The upper-case keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User { .. } => "USER",
            Command::Pass { .. } => "PASS",
            Command::Apop { .. } => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Capa => "CAPA",
            Command::Stat => "STAT",
            Command::List { .. } => "LIST",
            Command::Retr { .. } => "RETR",
            Command::Dele { .. } => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
            Command::Top { .. } => "TOP",
            Command::Uidl { .. } => "UIDL",
        }
    }

    /// The command as a client sends it, CRLF included. `parse` of it (without the CRLF) gives `self` back.
    pub fn to_line(&self) -> String {
        let mut s = self.keyword().to_string();
        // Writing into a String cannot fail.
        match self {
            Command::User { name } => write!(s, " {name}").unwrap(),
            Command::Pass { password } => write!(s, " {}", password.0).unwrap(),
            Command::Apop { name, digest } => write!(s, " {name} {digest}").unwrap(),
            Command::Auth { mechanism, initial } => {
                for p in mechanism.iter().chain(initial.as_ref().map(|i| &i.0)) {
                    write!(s, " {p}").unwrap();
                }
            }
            Command::List { msg: Some(n) } | Command::Uidl { msg: Some(n) } => write!(s, " {n}").unwrap(),
            Command::Retr { msg } | Command::Dele { msg } => write!(s, " {msg}").unwrap(),
            Command::Top { msg, lines } => write!(s, " {msg} {lines}").unwrap(),
            _ => {}
        }
        s.push_str("\r\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret(s.to_string())
    }

    #[test]
    fn valid_commands() {
        use Command::*;
        let table: Vec<(&[u8], Command)> = vec![
            (b"USER mrose", User { name: "mrose".into() }),
            (b"user alice@example.com", User { name: "alice@example.com".into() }),
            (b"PASS secret", Pass { password: secret("secret") }),
            (b"PASS my secret pass ", Pass { password: secret("my secret pass ") }),
            (b"pass  lead", Pass { password: secret(" lead") }),
            (b"PASS p\xc3\xa4ss", Pass { password: secret("päss") }),
            (
                b"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
                Apop { name: "mrose".into(), digest: "c4c9334bac560ecc979e58001b3e22fb".into() },
            ),
            (
                b"APOP mrose C4C9334BAC560ECC979E58001B3E22FB",
                Apop { name: "mrose".into(), digest: "c4c9334bac560ecc979e58001b3e22fb".into() },
            ),
            (b"AUTH", Auth { mechanism: None, initial: None }),
            (b"AUTH plain", Auth { mechanism: Some("PLAIN".into()), initial: None }),
            (
                b"AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk",
                Auth { mechanism: Some("PLAIN".into()), initial: Some(secret("AGFsaWNlAHBhc3N3b3Jk")) },
            ),
            (b"AUTH PLAIN =", Auth { mechanism: Some("PLAIN".into()), initial: Some(secret("=")) }),
            (b"STLS", Stls),
            (b"capa", Capa),
            (b"STAT", Stat),
            (b"STAT ", Stat),
            (b"LIST", List { msg: None }),
            (b"LIST 2", List { msg: Some(2) }),
            (b"LIST  02 ", List { msg: Some(2) }),
            (b"RETR 1", Retr { msg: 1 }),
            (b"RETR 0", Retr { msg: 0 }),
            (b"RETR 4294967295", Retr { msg: u32::MAX }),
            (b"DELE 1", Dele { msg: 1 }),
            (b"NoOp", Noop),
            (b"RSET", Rset),
            (b"QUIT", Quit),
            (b"TOP 1 10", Top { msg: 1, lines: 10 }),
            (b"TOP 1 0", Top { msg: 1, lines: 0 }),
            (b"UIDL", Uidl { msg: None }),
            (b"UIDL 3", Uidl { msg: Some(3) }),
        ];
        for (line, want) in table {
            let got = parse(line);
            assert_eq!(got.as_ref(), Ok(&want), "{:?}", String::from_utf8_lossy(line));
            // Encoding and parsing again gives the same command.
            let again = want.to_line();
            assert_eq!(parse(again.trim_end_matches("\r\n").as_bytes()), Ok(want));
        }
    }

    #[test]
    fn invalid_commands() {
        use ParseError::*;
        let table: Vec<(&[u8], ParseError)> = vec![
            (b"", Empty),
            (b"   ", Empty),
            (b"\xff\xfe", NotUtf8),
            (b"STAT\r", ControlCharacter),
            (b"US\0ER a", ControlCharacter),
            (b"LIST\t1", ControlCharacter),
            (b"HELO there", Unknown("HELO".into())),
            (b"XYZZYXYZZYXYZZYXYZZY", Unknown("XYZZYXYZZYXYZZYX".into())),
            (b"USER", MissingArgument("USER", "a user name")),
            (b"USER a b", TooManyArguments("USER")),
            (b"PASS", MissingArgument("PASS", "a password")),
            (b"PASS ", MissingArgument("PASS", "a password")),
            (b"APOP mrose", MissingArgument("APOP", "a digest")),
            (b"APOP mrose abc", InvalidArgument("APOP", "the digest must be 32 hex digits")),
            (b"AUTH PL@IN", InvalidArgument("AUTH", "invalid SASL mechanism name")),
            (b"AUTH PLAIN a b", TooManyArguments("AUTH")),
            (b"STAT 1", TooManyArguments("STAT")),
            (b"QUIT now", TooManyArguments("QUIT")),
            (b"LIST x", InvalidNumber("LIST", "the message number")),
            (b"LIST 1 2", TooManyArguments("LIST")),
            (b"RETR", MissingArgument("RETR", "a message number")),
            (b"RETR +1", InvalidNumber("RETR", "the message number")),
            (b"RETR -1", InvalidNumber("RETR", "the message number")),
            (b"RETR 4294967296", InvalidNumber("RETR", "the message number")),
            (b"DELE one", InvalidNumber("DELE", "the message number")),
            (b"TOP 1", MissingArgument("TOP", "a number of lines")),
            (b"TOP 1 x", InvalidNumber("TOP", "the number of lines")),
            (b"UIDL 1 2", TooManyArguments("UIDL")),
        ];
        for (line, want) in table {
            assert_eq!(parse(line), Err(want), "{:?}", String::from_utf8_lossy(line));
        }
    }

    /// What the fuzz target (`fuzz/fuzz_targets/pop3_command.rs`) checks, on a fixed pseudo-random sample, so
    /// that CI runs it without a fuzzer: no panics, and parse(encode(cmd)) == cmd for every accepted line.
    #[test]
    fn round_trip_on_random_lines() {
        use rand::{Rng, SeedableRng};
        const KEYWORDS: [&str; 16] = [
            "USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET",
            "QUIT", "top", "uidl", "XTND",
        ];
        const ALPHABET: &[u8] = b"  0123456789 abcdefABCDEF+=/*.@";
        const TROUBLE: &[u8] = b"\x00\r\t\xff\xc3\xa4";
        let mut rng = rand::rngs::StdRng::seed_from_u64(1939);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut line = KEYWORDS[rng.gen_range(0..KEYWORDS.len())].as_bytes().to_vec();
            if rng.gen_bool(0.9) {
                line.push(b' ');
            }
            for _ in 0..rng.gen_range(0..12) {
                let set = if rng.gen_bool(0.02) { TROUBLE } else { ALPHABET };
                line.push(set[rng.gen_range(0..set.len())]);
            }
            if let Ok(cmd) = parse(&line) {
                accepted += 1;
                let encoded = cmd.to_line();
                assert_eq!(parse(encoded.trim_end_matches("\r\n").as_bytes()), Ok(cmd), "{line:?}");
            }
        }
        assert!(accepted > 1000, "the sample should reach the argument parsers ({accepted})");
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let pass = parse(b"PASS hunter2").unwrap();
        let auth = parse(b"AUTH PLAIN AGFsaWNlAHBhc3N3b3Jk").unwrap();
        assert!(!format!("{pass:?}").contains("hunter2"));
        assert!(!format!("{auth:?}").contains("AGFsaWNl"));
    }
}
