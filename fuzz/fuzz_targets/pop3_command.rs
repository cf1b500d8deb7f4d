//! Fuzzes the POP3 command parser (`mailroom_core::pop3::command`).
//!
//! Run: `cargo +nightly fuzz run pop3_command` from `fuzz/`.
//!
//! Checks that the parser never panics on any line, and that every command it accepts survives a round trip:
//! encoding it as a client would (`Command::to_line`) and parsing that again gives the same command. Each input is
//! tried twice: as raw bytes, and mapped onto the POP3 alphabet (a real keyword, then digits, spaces, base64 and
//! the troublemakers `.`, `*`, NUL, CR, 0xFF) so that most inputs get past the keyword and exercise the arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_core::pop3::command::parse;

const KEYWORDS: [&str; 16] = [
    "USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT",
    "top", "uidl", "XTND",
];
const ALPHABET: &[u8] = b"  0123456789 abcdefABCDEF+=/*.@\x00\r\xff\xc3\xa4";

fn check(line: &[u8]) {
    if let Ok(cmd) = parse(line) {
        let encoded = cmd.to_line();
        let body = encoded.strip_suffix("\r\n").expect("to_line ends in CRLF");
        assert!(!body.contains(['\r', '\n']), "encoded command spans lines: {encoded:?}");
        let again = parse(body.as_bytes()).expect("an encoded command parses");
        assert_eq!(again, cmd);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some((first, rest)) = data.split_first() {
        let mut line = KEYWORDS[usize::from(*first) % KEYWORDS.len()].as_bytes().to_vec();
        // One bit of the first byte decides whether a space follows the keyword.
        if first & 0x10 == 0 {
            line.push(b' ');
        }
        line.extend(rest.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()]));
        check(&line);
    }
});
