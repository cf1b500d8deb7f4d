//! The SMTP command parser: one line of bytes in, a [`Command`] (or a precise [`ParseError`]) out.
//!
//! [`parse_command`] frames and parses in one step: it looks for the line end in what the session has buffered
//! and says [`Parsed::Incomplete`] when there is none yet, which is the normal case for split reads. Lines end in
//! CRLF; a bare LF is accepted as a *command* line end too (telnet and `nc` users send it, and nothing after a
//! command line depends on the difference). The DATA section is framed elsewhere and strictly
//! ([`super::data`]).
//!
//! The grammar is RFC 5321 §4.1.1 and §4.1.2, with RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 1870 (SIZE),
//! RFC 6152 (8BITMIME) and RFC 6531 (SMTPUTF8, which adds UTF-8 to `atext`, `qtextSMTP` and `sub-domain`):
//!
//! ```text
//! ehlo            = "EHLO" SP ( Domain / address-literal ) CRLF
//! helo            = "HELO" SP Domain CRLF
//! mail            = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
//! rcpt            = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
//!                   Forward-path ) [SP Rcpt-parameters] CRLF
//! data            = "DATA" CRLF
//! rset            = "RSET" CRLF
//! vrfy            = "VRFY" SP String CRLF
//! expn            = "EXPN" SP String CRLF
//! help            = "HELP" [ SP String ] CRLF
//! noop            = "NOOP" [ SP String ] CRLF
//! quit            = "QUIT" CRLF
//! starttls        = "STARTTLS" CRLF                                  ; RFC 3207 §4
//! auth            = "AUTH" SP sasl-mech [SP initial-response] CRLF   ; RFC 4954 §4
//! initial-response= base64 / "="
//!
//! Reverse-path    = Path / "<>"
//! Forward-path    = Path
//! Path            = "<" [ A-d-l ":" ] Mailbox ">"
//! A-d-l           = At-domain *( "," At-domain )    ; source route: accepted, ignored
//! At-domain       = "@" Domain
//! Mail-parameters = esmtp-param *(SP esmtp-param)
//! Rcpt-parameters = esmtp-param *(SP esmtp-param)
//! esmtp-param     = esmtp-keyword ["=" esmtp-value]
//! esmtp-keyword   = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! esmtp-value     = 1*(%d33-60 / %d62-126)
//! Domain          = sub-domain *("." sub-domain)
//! sub-domain      = Let-dig [Ldh-str]
//! Let-dig         = ALPHA / DIGIT
//! Ldh-str         = *( ALPHA / DIGIT / "-" ) Let-dig
//! address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
//!                   General-address-literal ) "]"
//! Mailbox         = Local-part "@" ( Domain / address-literal )
//! Local-part      = Dot-string / Quoted-string
//! Dot-string      = Atom *("."  Atom)
//! Atom            = 1*atext
//! Quoted-string   = DQUOTE *QcontentSMTP DQUOTE
//! QcontentSMTP    = qtextSMTP / quoted-pairSMTP
//! quoted-pairSMTP = %d92 %d32-126
//! qtextSMTP       = %d32-33 / %d35-91 / %d93-126
//! String          = Atom / Quoted-string
//! IPv4-address-literal    = Snum 3("."  Snum)
//! IPv6-address-literal    = "IPv6:" IPv6-addr
//! General-address-literal = Standardized-tag ":" 1*dcontent
//! dcontent        = %d33-90 / %d94-126
//! ```
//!
//! Limits (RFC 5321 §4.5.3.1): local part 64 octets, domain 255 octets, path 256 octets including the angle
//! brackets; a DNS label is at most 63 octets (RFC 1035 §2.3.4).
//!
//! Deliberate leniencies, each common practice: verbs and `FROM:`/`TO:` are case-insensitive (the RFC says so);
//! spaces after the colon of `MAIL FROM:` / `RCPT TO:` and trailing spaces are ignored; EHLO/HELO names may contain
//! `_` (Windows machine names). Everything else is strict: a path without angle brackets is a syntax error.

use std::net::Ipv6Addr;

use super::command::{Body, Command, Domain, ForwardPath, MailParams, Mailbox, Mechanism, ReversePath};

/// RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 §4.5.3.1.2.
pub const MAX_DOMAIN: usize = 255;
/// RFC 5321 §4.5.3.1.3, angle brackets included.
pub const MAX_PATH: usize = 256;
/// RFC 1035 §2.3.4.
const MAX_LABEL: usize = 63;

/// What the parser made of the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole line was parsed; `consumed` bytes (line end included) belong to it.
    Complete { value: T, consumed: usize },
    /// A whole line was read but is not acceptable; skip `consumed` bytes and answer the error.
    Invalid { error: ParseError, consumed: usize },
    /// No line end yet: wait for more bytes.
    Incomplete,
    /// No line end within the line limit: the line is too long. Drop what is buffered and everything up to the
    /// next LF.
    Overflow,
}

/// Why a command line was refused. Each variant maps to one SMTP reply in the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// An empty line.
    Empty,
    /// The line is longer than the limit (RFC 5321 §4.5.3.1.4).
    LineTooLong,
    /// NUL, a bare CR or another control character in a command line.
    InvalidCharacters,
    /// The line is not UTF-8.
    InvalidUtf8,
    /// The verb is not one we know.
    UnknownCommand,
    /// The arguments do not fit the command's syntax; the text says what was expected.
    Syntax(&'static str),
    /// The path has its brackets but the address inside is malformed (553). `sender` tells MAIL from RCPT.
    BadAddress { sender: bool, reason: &'static str },
    /// An ESMTP parameter we do not implement (555, RFC 5321 §4.1.1.11).
    UnknownParameter(String),
    /// A known ESMTP parameter with a bad value or given twice.
    BadParameter(&'static str),
}

/// Frames one command line from `buf` and parses it. `max_line` counts the line end (RFC 5321: 512 octets
/// "including the CRLF").
pub fn parse_command(buf: &[u8], max_line: usize) -> Parsed<Command> {
    frame(buf, max_line, |line| {
        let line = check_text(line)?;
        parse_line(line)
    })
}

/// Frames one line of an AUTH exchange (RFC 4954 §4): base64 text or `*`. Returned trimmed.
pub fn parse_auth_response(buf: &[u8], max_line: usize) -> Parsed<String> {
    frame(buf, max_line, |line| Ok(check_text(line)?.trim().to_string()))
}

/// Finds the line end and hands the line (without CRLF or LF) to `parse`.
fn frame<T>(buf: &[u8], max_line: usize, parse: impl FnOnce(&[u8]) -> Result<T, ParseError>) -> Parsed<T> {
    let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
        // A line of `max_line` octets needs its LF at index max_line - 1.
        return if buf.len() >= max_line { Parsed::Overflow } else { Parsed::Incomplete };
    };
    let consumed = lf + 1;
    if consumed > max_line {
        return Parsed::Invalid { error: ParseError::LineTooLong, consumed };
    }
    let line = &buf[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match parse(line) {
        Ok(value) => Parsed::Complete { value, consumed },
        Err(error) => Parsed::Invalid { error, consumed },
    }
}

/// Rejects control characters (NUL, bare CR, DEL...) and invalid UTF-8. HTAB is tolerated as a space.
fn check_text(line: &[u8]) -> Result<&str, ParseError> {
    if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ParseError::InvalidCharacters);
    }
    std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)
}

/// Methods that mark a line as an HTTP request (RFC 9110 §9).
const HTTP_METHODS: [&str; 9] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// Parses one command line (already checked for control characters and UTF-8).
fn parse_line(line: &str) -> Result<Command, ParseError> {
    let line = line.trim_end_matches([' ', '\t']);
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let (verb, arg) = match line.split_once([' ', '\t']) {
        Some((verb, arg)) => (verb, Some(arg)),
        None => (line, None),
    };
    let upper = verb.to_ascii_uppercase();
    let no_arg = |cmd: Command, usage: &'static str| match arg {
        None => Ok(cmd),
        Some(_) => Err(ParseError::Syntax(usage)),
    };
    match upper.as_str() {
        "EHLO" => Ok(Command::Ehlo { domain: parse_helo_arg(arg, "EHLO <your host name>")? }),
        "HELO" => Ok(Command::Helo { domain: parse_helo_arg(arg, "HELO <your host name>")? }),
        "MAIL" => parse_mail(arg.unwrap_or("")),
        "RCPT" => parse_rcpt(arg.unwrap_or("")),
        "DATA" => no_arg(Command::Data, "DATA (no arguments)"),
        "RSET" => no_arg(Command::Rset, "RSET (no arguments)"),
        "QUIT" => no_arg(Command::Quit, "QUIT (no arguments)"),
        "STARTTLS" => no_arg(Command::StartTls, "STARTTLS (no arguments)"),
        "NOOP" => Ok(Command::Noop),
        "VRFY" | "EXPN" => {
            let arg = arg.map(str::trim).filter(|a| !a.is_empty());
            match (upper.as_str(), arg) {
                (_, None) => Err(ParseError::Syntax("VRFY <user> / EXPN <list>")),
                ("VRFY", Some(a)) => Ok(Command::Vrfy { arg: a.to_string() }),
                (_, Some(a)) => Ok(Command::Expn { arg: a.to_string() }),
            }
        }
        "HELP" => {
            Ok(Command::Help { topic: arg.map(str::trim).filter(|a| !a.is_empty()).map(str::to_string) })
        }
        "AUTH" => parse_auth(arg.unwrap_or("")),
        _ if HTTP_METHODS.contains(&verb) && arg.is_some_and(looks_like_http_target) => {
            Ok(Command::Http { method: verb.to_string() })
        }
        _ => Err(ParseError::UnknownCommand),
    }
}

/// `GET / HTTP/1.1`, `POST http://x/ HTTP/1.0`, `GET /index.html`.
fn looks_like_http_target(arg: &str) -> bool {
    arg.starts_with('/')
        || arg.starts_with("http://")
        || arg.starts_with("https://")
        || arg.contains(" HTTP/")
}

/// The argument of EHLO/HELO: a domain (underscores tolerated) or an address literal.
fn parse_helo_arg(arg: Option<&str>, usage: &'static str) -> Result<Domain, ParseError> {
    let arg = arg.map(str::trim).unwrap_or("");
    if arg.is_empty() || arg.contains([' ', '\t']) {
        return Err(ParseError::Syntax(usage));
    }
    let mut c = Cursor::new(arg);
    let domain = c.domain_or_literal(true).map_err(|_| ParseError::Syntax(usage))?;
    if !c.at_end() {
        return Err(ParseError::Syntax(usage));
    }
    Ok(domain)
}

/// `MAIL FROM:<path> [params]`, `arg` being what follows `MAIL `.
fn parse_mail(arg: &str) -> Result<Command, ParseError> {
    const USAGE: &str = "MAIL FROM:<address> [SIZE=<octets>] [BODY=7BIT|8BITMIME] [SMTPUTF8]";
    let path = strip_keyword(arg, "FROM:").ok_or(ParseError::Syntax(USAGE))?;
    let (from, rest) = parse_path(path, true, USAGE)?;
    let from = match from {
        PathValue::Null => ReversePath::Null,
        PathValue::Mailbox(m) => ReversePath::Mailbox(m),
        // `<Postmaster>` has no domain: as a sender it is just a malformed address.
        PathValue::Postmaster => {
            return Err(ParseError::BadAddress { sender: true, reason: "an address needs @domain" });
        }
    };
    let mut params = MailParams::default();
    let mut seen_body = false;
    for (keyword, value) in parse_params(rest, USAGE)? {
        match (keyword.to_ascii_uppercase().as_str(), value) {
            ("SIZE", Some(v)) if params.size.is_none() => {
                if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::BadParameter("SIZE=<octets> takes a decimal number"));
                }
                params.size = Some(v.parse().map_err(|_| ParseError::BadParameter("SIZE value too large"))?);
            }
            ("BODY", Some(v)) if !seen_body => {
                seen_body = true;
                params.body = match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    _ => return Err(ParseError::BadParameter("BODY= takes 7BIT or 8BITMIME")),
                };
            }
            ("SMTPUTF8", None) if !params.smtputf8 => params.smtputf8 = true,
            ("AUTH", Some(v)) if params.auth.is_none() => params.auth = Some(v.to_string()),
            ("SIZE" | "BODY" | "SMTPUTF8" | "AUTH", _) => {
                return Err(ParseError::BadParameter("parameter repeated or given a wrong value"));
            }
            _ => return Err(ParseError::UnknownParameter(keyword.to_string())),
        }
    }
    Ok(Command::Mail { from, params })
}

/// `RCPT TO:<path>`; no RCPT parameters are implemented (DSN's NOTIFY/ORCPT get 555).
fn parse_rcpt(arg: &str) -> Result<Command, ParseError> {
    const USAGE: &str = "RCPT TO:<address>";
    let path = strip_keyword(arg, "TO:").ok_or(ParseError::Syntax(USAGE))?;
    let (to, rest) = parse_path(path, false, USAGE)?;
    let to = match to {
        PathValue::Null => {
            return Err(ParseError::BadAddress { sender: false, reason: "<> is only allowed in MAIL FROM" });
        }
        PathValue::Postmaster => ForwardPath::Postmaster,
        PathValue::Mailbox(m) => ForwardPath::Mailbox(m),
    };
    if let Some((keyword, _)) = parse_params(rest, USAGE)?.into_iter().next() {
        return Err(ParseError::UnknownParameter(keyword.to_string()));
    }
    Ok(Command::Rcpt { to })
}

/// `AUTH mechanism [initial-response]`.
fn parse_auth(arg: &str) -> Result<Command, ParseError> {
    const USAGE: &str = "AUTH PLAIN [<base64>] or AUTH LOGIN [<base64 user name>]";
    let mut words = arg.split([' ', '\t']).filter(|w| !w.is_empty());
    let (Some(mech), initial, None) = (words.next(), words.next(), words.next()) else {
        return Err(ParseError::Syntax(USAGE));
    };
    // sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_"), RFC 4422 §3.1; we compare case-insensitively.
    if mech.len() > 20 || !mech.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ParseError::Syntax(USAGE));
    }
    let mechanism = match mech.to_ascii_uppercase().as_str() {
        "PLAIN" => Mechanism::Plain,
        "LOGIN" => Mechanism::Login,
        other => Mechanism::Other(other.to_string()),
    };
    Ok(Command::Auth { mechanism, initial: initial.map(str::to_string) })
}

/// Strips `FROM:` / `TO:` (any case) and the spaces that lenient clients put after the colon.
fn strip_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| arg[keyword.len()..].trim_start_matches(' '))
}

/// The result of parsing a `<...>` path.
#[derive(Debug)]
enum PathValue {
    Null,
    Postmaster,
    Mailbox(Mailbox),
}

/// Parses `Path / "<>"` at the start of `s`; returns it and what follows the `>`.
fn parse_path<'a>(s: &'a str, sender: bool, usage: &'static str) -> Result<(PathValue, &'a str), ParseError> {
    if !s.starts_with('<') || !s.contains('>') {
        // "MAIL FROM:alice@example.com": the brackets are not optional (RFC 5321 §4.1.2).
        return Err(ParseError::Syntax(usage));
    }
    let bad = |reason| ParseError::BadAddress { sender, reason };
    let mut c = Cursor::new(s);
    c.eat('<');
    if c.eat('>') {
        return Ok((PathValue::Null, c.rest()));
    }
    if c.peek() == Some('@') {
        // A-d-l ":" — a source route, which we parse and then forget.
        loop {
            if !c.eat('@') {
                return Err(bad("malformed source route"));
            }
            c.domain(false).map_err(|_| bad("malformed domain in source route"))?;
            if !c.eat(',') {
                break;
            }
        }
        if !c.eat(':') {
            return Err(bad("malformed source route"));
        }
    }
    let local = c.local_part().map_err(bad)?;
    if local.len() > MAX_LOCAL_PART {
        return Err(bad("local part longer than 64 octets"));
    }
    if !c.eat('@') {
        if c.peek() == Some('>') && local.eq_ignore_ascii_case("postmaster") && !sender {
            c.eat('>');
            return Ok((PathValue::Postmaster, c.rest()));
        }
        return Err(bad("an address needs @domain"));
    }
    let domain = c.domain_or_literal(false).map_err(bad)?;
    if domain.as_str().len() > MAX_DOMAIN {
        return Err(bad("domain longer than 255 octets"));
    }
    if !c.eat('>') {
        return Err(bad("unexpected character in address"));
    }
    if c.pos > MAX_PATH {
        return Err(bad("path longer than 256 octets"));
    }
    Ok((PathValue::Mailbox(Mailbox { local, domain }), c.rest()))
}

/// Splits `SP esmtp-param *(SP esmtp-param)` into (keyword, value) pairs.
fn parse_params<'a>(
    rest: &'a str,
    usage: &'static str,
) -> Result<Vec<(&'a str, Option<&'a str>)>, ParseError> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    if !rest.starts_with(' ') {
        return Err(ParseError::Syntax(usage));
    }
    let mut params = Vec::new();
    for word in rest.split(' ').filter(|w| !w.is_empty()) {
        let (keyword, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        let keyword_ok = keyword.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && keyword.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        // esmtp-value = 1*(%d33-60 / %d62-126); RFC 6531 §3.3 adds UTF-8.
        let value_ok =
            value.is_none_or(|v| !v.is_empty() && v.chars().all(|c| c > ' ' && c != '=' && c != '\x7f'));
        if !keyword_ok || !value_ok {
            return Err(ParseError::Syntax(usage));
        }
        params.push((keyword, value));
    }
    Ok(params)
}

/// Parses one mailbox (`local@domain`, no brackets), as used for checking a `From:` header address.
pub fn parse_mailbox(s: &str) -> Option<Mailbox> {
    let mut c = Cursor::new(s);
    let local = c.local_part().ok()?;
    if local.len() > MAX_LOCAL_PART || !c.eat('@') {
        return None;
    }
    let domain = c.domain_or_literal(false).ok()?;
    (c.at_end() && domain.as_str().len() <= MAX_DOMAIN).then_some(Mailbox { local, domain })
}

/// A position in a string being parsed.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

/// `atext` of RFC 5322 §3.2.3, plus UTF-8 (RFC 6531 §3.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `Let-dig`, plus UTF-8 for U-labels; `_` only where the caller tolerates it.
fn is_let_dig(c: char, underscore: bool) -> bool {
    c.is_ascii_alphanumeric() || !c.is_ascii() || (underscore && c == '_')
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn eat(&mut self, want: char) -> bool {
        if self.peek() == Some(want) {
            self.pos += want.len_utf8();
            true
        } else {
            false
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.s[start..self.pos]
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos == self.s.len()
    }

    /// `Local-part = Dot-string / Quoted-string`, returned as written.
    fn local_part(&mut self) -> Result<String, &'static str> {
        let start = self.pos;
        if self.eat('"') {
            loop {
                match self.bump() {
                    None => return Err("unterminated quoted string"),
                    Some('"') => break,
                    // quoted-pairSMTP = %d92 %d32-126
                    Some('\\') => match self.bump() {
                        Some(c) if (' '..='~').contains(&c) => {}
                        _ => return Err("bad escape in quoted string"),
                    },
                    // qtextSMTP = %d32-33 / %d35-91 / %d93-126 (and UTF-8)
                    Some(c) if (' '..='~').contains(&c) || !c.is_ascii() => {}
                    Some(_) => return Err("bad character in quoted string"),
                }
            }
        } else {
            loop {
                if self.take_while(is_atext).is_empty() {
                    return Err(if self.pos == start {
                        "empty or malformed local part"
                    } else {
                        "malformed local part (dots must separate words)"
                    });
                }
                if !self.eat('.') {
                    break;
                }
            }
        }
        Ok(self.s[start..self.pos].to_string())
    }

    /// `Domain / address-literal`.
    fn domain_or_literal(&mut self, underscore: bool) -> Result<Domain, &'static str> {
        if self.peek() == Some('[') { self.address_literal() } else { self.domain(underscore) }
    }

    /// `Domain = sub-domain *("." sub-domain)`.
    fn domain(&mut self, underscore: bool) -> Result<Domain, &'static str> {
        let start = self.pos;
        loop {
            let label = self.take_while(|c| is_let_dig(c, underscore) || c == '-');
            if label.is_empty() {
                return Err("malformed domain");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err("a domain label cannot start or end with '-'");
            }
            if label.len() > MAX_LABEL {
                return Err("domain label longer than 63 octets");
            }
            if !self.eat('.') {
                break;
            }
        }
        Ok(Domain::Name(self.s[start..self.pos].to_string()))
    }

    /// `"[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"`.
    fn address_literal(&mut self) -> Result<Domain, &'static str> {
        let start = self.pos;
        self.eat('[');
        let inner = self.take_while(|c| c != ']' && c != '>' && c != '[');
        if !self.eat(']') {
            return Err("unterminated address literal");
        }
        let ok = if let Some(v6) = inner.get(..5).filter(|p| p.eq_ignore_ascii_case("IPv6:")) {
            inner[v6.len()..].parse::<Ipv6Addr>().is_ok()
        } else if inner.starts_with(|c: char| c.is_ascii_digit()) && !inner.contains(':') {
            is_ipv4_literal(inner)
        } else {
            // General-address-literal = Standardized-tag ":" 1*dcontent
            match inner.split_once(':') {
                Some((tag, content)) => {
                    !tag.is_empty()
                        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !tag.ends_with('-')
                        && !content.is_empty()
                        && content.bytes().all(|b| (33..=90).contains(&b) || (94..=126).contains(&b))
                }
                None => false,
            }
        };
        if !ok {
            return Err("malformed address literal");
        }
        Ok(Domain::Literal(self.s[start..self.pos].to_string()))
    }
}

/// `Snum 3("." Snum)`, `Snum = 1*3DIGIT` with a value of 0-255.
fn is_ipv4_literal(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            (1..=3).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbox(local: &str, domain: &str) -> Mailbox {
        let domain = if domain.starts_with('[') {
            Domain::Literal(domain.into())
        } else {
            Domain::Name(domain.into())
        };
        Mailbox { local: local.into(), domain }
    }

    fn parse(line: &str) -> Result<Command, ParseError> {
        match parse_command(format!("{line}\r\n").as_bytes(), 512) {
            Parsed::Complete { value, .. } => Ok(value),
            Parsed::Invalid { error, .. } => Err(error),
            other => panic!("{line}: {other:?}"),
        }
    }

    fn mail(from: ReversePath) -> Command {
        Command::Mail { from, params: MailParams::default() }
    }

    #[test]
    fn commands() {
        use Command::*;
        let name = |s: &str| Domain::Name(s.into());
        let table: Vec<(&str, Command)> = vec![
            ("EHLO client.example.org", Ehlo { domain: name("client.example.org") }),
            ("ehlo localhost", Ehlo { domain: name("localhost") }),
            ("EHLO [127.0.0.1]", Ehlo { domain: Domain::Literal("[127.0.0.1]".into()) }),
            ("EHLO [IPv6:::1]", Ehlo { domain: Domain::Literal("[IPv6:::1]".into()) }),
            ("EHLO DESKTOP_42", Ehlo { domain: name("DESKTOP_42") }),
            ("HELO bar.com", Helo { domain: name("bar.com") }),
            ("MAIL FROM:<Smith@bar.com>", mail(ReversePath::Mailbox(mbox("Smith", "bar.com")))),
            ("mail from:<>", mail(ReversePath::Null)),
            ("MAIL FROM: <a@b.c>", mail(ReversePath::Mailbox(mbox("a", "b.c")))),
            ("MAIL FROM:<@x.org,@y.org:a@b.c>", mail(ReversePath::Mailbox(mbox("a", "b.c")))),
            ("MAIL FROM:<\"john smith\"@b.c>", mail(ReversePath::Mailbox(mbox("\"john smith\"", "b.c")))),
            ("MAIL FROM:<a@[192.0.2.1]>", mail(ReversePath::Mailbox(mbox("a", "[192.0.2.1]")))),
            ("MAIL FROM:<a@[IPv6:2001:db8::1]>", mail(ReversePath::Mailbox(mbox("a", "[IPv6:2001:db8::1]")))),
            ("MAIL FROM:<a@[x400:c=us;a=;p=x]>", mail(ReversePath::Mailbox(mbox("a", "[x400:c=us;a=;p=x]")))),
            (
                "MAIL FROM:<a!#$%&'*+-/=?^_`{|}~@b.c>",
                mail(ReversePath::Mailbox(mbox("a!#$%&'*+-/=?^_`{|}~", "b.c"))),
            ),
            (
                "MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME",
                Mail {
                    from: ReversePath::Mailbox(mbox("a", "b.c")),
                    params: MailParams { size: Some(1000), body: Body::EightBitMime, ..Default::default() },
                },
            ),
            (
                "MAIL FROM:<jöran@bücher.example> SMTPUTF8 AUTH=<>",
                Mail {
                    from: ReversePath::Mailbox(mbox("jöran", "bücher.example")),
                    params: MailParams { smtputf8: true, auth: Some("<>".into()), ..Default::default() },
                },
            ),
            ("RCPT TO:<Jones@foo.com>", Rcpt { to: ForwardPath::Mailbox(mbox("Jones", "foo.com")) }),
            ("RCPT TO:<@foo.com:Jones@XYZ.COM>", Rcpt { to: ForwardPath::Mailbox(mbox("Jones", "XYZ.COM")) }),
            ("RCPT TO:<Postmaster>", Rcpt { to: ForwardPath::Postmaster }),
            ("rcpt to:<postmaster>", Rcpt { to: ForwardPath::Postmaster }),
            ("DATA", Data),
            ("RSET", Rset),
            ("NOOP", Noop),
            ("NOOP anything at all", Noop),
            ("QUIT", Quit),
            ("QUIT   ", Quit),
            ("VRFY Crispin", Vrfy { arg: "Crispin".into() }),
            ("EXPN Example-People", Expn { arg: "Example-People".into() }),
            ("HELP", Help { topic: None }),
            ("HELP mail", Help { topic: Some("mail".into()) }),
            ("STARTTLS", StartTls),
            ("AUTH PLAIN", Auth { mechanism: Mechanism::Plain, initial: None }),
            (
                "auth plain AGFsaWNlAHBhc3N3b3Jk",
                Auth { mechanism: Mechanism::Plain, initial: Some("AGFsaWNlAHBhc3N3b3Jk".into()) },
            ),
            ("AUTH LOGIN =", Auth { mechanism: Mechanism::Login, initial: Some("=".into()) }),
            ("AUTH CRAM-MD5", Auth { mechanism: Mechanism::Other("CRAM-MD5".into()), initial: None }),
            ("GET / HTTP/1.1", Http { method: "GET".into() }),
            ("POST /submit HTTP/1.0", Http { method: "POST".into() }),
        ];
        for (line, want) in table {
            assert_eq!(parse(line), Ok(want), "{line}");
        }
    }

    #[test]
    fn errors() {
        use ParseError::*;
        let long_local = format!("MAIL FROM:<{}@b.c>", "a".repeat(65));
        let long_label = format!("RCPT TO:<a@{}.com>", "b".repeat(64));
        let long_domain = format!("RCPT TO:<a@{}com>", "bbbbbbbbbb.".repeat(25));
        let table: Vec<(&str, ParseError)> = vec![
            ("", Empty),
            ("   ", Empty),
            ("FOO bar", UnknownCommand),
            ("SEND FROM:<a@b.c>", UnknownCommand),
            ("GET", UnknownCommand),
            ("EHLO", Syntax("EHLO <your host name>")),
            ("EHLO two words", Syntax("EHLO <your host name>")),
            ("EHLO -bad-", Syntax("EHLO <your host name>")),
            ("HELO [1.2.3]", Syntax("HELO <your host name>")),
            ("DATA now", Syntax("DATA (no arguments)")),
            ("STARTTLS please", Syntax("STARTTLS (no arguments)")),
            ("VRFY", Syntax("VRFY <user> / EXPN <list>")),
            ("AUTH", Syntax("AUTH PLAIN [<base64>] or AUTH LOGIN [<base64 user name>]")),
            ("AUTH PLAIN a b", Syntax("AUTH PLAIN [<base64>] or AUTH LOGIN [<base64 user name>]")),
            // Missing angle brackets: 501, not 553.
            (
                "MAIL FROM:alice@example.com",
                Syntax("MAIL FROM:<address> [SIZE=<octets>] [BODY=7BIT|8BITMIME] [SMTPUTF8]"),
            ),
            (
                "MAIL FROM:<alice@example.com",
                Syntax("MAIL FROM:<address> [SIZE=<octets>] [BODY=7BIT|8BITMIME] [SMTPUTF8]"),
            ),
            (
                "MAIL TO:<a@b.c>",
                Syntax("MAIL FROM:<address> [SIZE=<octets>] [BODY=7BIT|8BITMIME] [SMTPUTF8]"),
            ),
            (
                "MAIL FROM:<a@b.c>SIZE=10",
                Syntax("MAIL FROM:<address> [SIZE=<octets>] [BODY=7BIT|8BITMIME] [SMTPUTF8]"),
            ),
            ("RCPT TO: bob@example.com", Syntax("RCPT TO:<address>")),
            ("RCPT <bob@example.com>", Syntax("RCPT TO:<address>")),
            ("RCPT TO:<>", BadAddress { sender: false, reason: "<> is only allowed in MAIL FROM" }),
            ("MAIL FROM:<alice>", BadAddress { sender: true, reason: "an address needs @domain" }),
            ("MAIL FROM:<Postmaster>", BadAddress { sender: true, reason: "an address needs @domain" }),
            (
                "RCPT TO:<a..b@c.d>",
                BadAddress { sender: false, reason: "malformed local part (dots must separate words)" },
            ),
            ("RCPT TO:<.a@c.d>", BadAddress { sender: false, reason: "empty or malformed local part" }),
            (
                "RCPT TO:<a.@c.d>",
                BadAddress { sender: false, reason: "malformed local part (dots must separate words)" },
            ),
            ("RCPT TO:<a b@c.d>", BadAddress { sender: false, reason: "an address needs @domain" }),
            ("RCPT TO:<a@b@c.d>", BadAddress { sender: false, reason: "unexpected character in address" }),
            (
                "RCPT TO:<a@-c.d>",
                BadAddress { sender: false, reason: "a domain label cannot start or end with '-'" },
            ),
            ("RCPT TO:<a@c..d>", BadAddress { sender: false, reason: "malformed domain" }),
            ("RCPT TO:<a@c.d.>", BadAddress { sender: false, reason: "malformed domain" }),
            ("RCPT TO:<a@c_d.e>", BadAddress { sender: false, reason: "unexpected character in address" }),
            ("RCPT TO:<a@[1.2.3.256]>", BadAddress { sender: false, reason: "malformed address literal" }),
            ("RCPT TO:<a@[IPv6:zz]>", BadAddress { sender: false, reason: "malformed address literal" }),
            ("RCPT TO:<\"a@b.c>", BadAddress { sender: false, reason: "unterminated quoted string" }),
            ("RCPT TO:<@x.org a@b.c>", BadAddress { sender: false, reason: "malformed source route" }),
            (long_local.as_str(), BadAddress { sender: true, reason: "local part longer than 64 octets" }),
            (long_label.as_str(), BadAddress { sender: false, reason: "domain label longer than 63 octets" }),
            (long_domain.as_str(), BadAddress { sender: false, reason: "domain longer than 255 octets" }),
            ("MAIL FROM:<a@b.c> SIZE=big", BadParameter("SIZE=<octets> takes a decimal number")),
            ("MAIL FROM:<a@b.c> BODY=BINARYMIME", BadParameter("BODY= takes 7BIT or 8BITMIME")),
            ("MAIL FROM:<a@b.c> SIZE=1 SIZE=2", BadParameter("parameter repeated or given a wrong value")),
            ("MAIL FROM:<a@b.c> SMTPUTF8=yes", BadParameter("parameter repeated or given a wrong value")),
            ("MAIL FROM:<a@b.c> RET=HDRS", UnknownParameter("RET".into())),
            ("RCPT TO:<a@b.c> NOTIFY=NEVER", UnknownParameter("NOTIFY".into())),
        ];
        for (line, want) in table {
            assert_eq!(parse(line), Err(want), "{line:?}");
        }
    }

    #[test]
    fn path_length_limits() {
        // 64 + 1 + 189 + 2 brackets = 256: the longest path allowed.
        let domain = format!("{}.{}.{}.com", "d".repeat(63), "d".repeat(63), "d".repeat(57));
        assert_eq!(domain.len(), 189);
        let ok = format!("RCPT TO:<{}@{domain}>", "a".repeat(64));
        assert!(parse(&ok).is_ok(), "{ok}");
        let domain = format!("{}.{}.{}.com", "d".repeat(63), "d".repeat(63), "d".repeat(58));
        let too_long = format!("RCPT TO:<{}@{domain}>", "a".repeat(64));
        assert_eq!(
            parse(&too_long),
            Err(ParseError::BadAddress { sender: false, reason: "path longer than 256 octets" })
        );
    }

    #[test]
    fn framing() {
        assert_eq!(parse_command(b"NOOP", 512), Parsed::Incomplete);
        assert_eq!(parse_command(b"NOOP\r", 512), Parsed::Incomplete);
        assert_eq!(
            parse_command(b"NOOP\r\nQUIT\r\n", 512),
            Parsed::Complete { value: Command::Noop, consumed: 6 }
        );
        // A bare LF ends a command line too.
        assert_eq!(
            parse_command(b"NOOP\nQUIT\n", 512),
            Parsed::Complete { value: Command::Noop, consumed: 5 }
        );
        // Limits count the CRLF.
        let line = format!("NOOP {}\r\n", "x".repeat(10 - 7));
        assert_eq!(line.len(), 10);
        assert!(matches!(parse_command(line.as_bytes(), 10), Parsed::Complete { .. }));
        let line = format!("NOOP {}\r\n", "x".repeat(4));
        assert_eq!(
            parse_command(line.as_bytes(), 10),
            Parsed::Invalid { error: ParseError::LineTooLong, consumed: 11 }
        );
        assert_eq!(parse_command(b"NOOP xxxx", 10), Parsed::Incomplete);
        assert_eq!(parse_command(b"NOOP xxxxx", 10), Parsed::Overflow);
    }

    #[test]
    fn bad_bytes() {
        let cases: [(&[u8], ParseError); 5] = [
            (b"NO\0OP\r\n", ParseError::InvalidCharacters),
            (b"NOOP\rQUIT\r\n", ParseError::InvalidCharacters),
            (b"NOOP \x1b[31m\r\n", ParseError::InvalidCharacters),
            (b"HELO \xff\xfe\r\n", ParseError::InvalidUtf8),
            (b"\x7f\r\n", ParseError::InvalidCharacters),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                parse_command(bytes, 512),
                Parsed::Invalid { error: want, consumed: bytes.len() },
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for line in [
            "EHLO [IPv6:::1]",
            "MAIL FROM:<\"a b\"@[1.2.3.4]> SIZE=5 BODY=8BITMIME SMTPUTF8 AUTH=<>",
            "MAIL FROM:<>",
            "RCPT TO:<Postmaster>",
            "AUTH LOGIN dXNlcg==",
            "HELP DATA",
        ] {
            let cmd = parse(line).unwrap();
            assert_eq!(cmd.to_string(), line);
            assert_eq!(parse(&cmd.to_string()), Ok(cmd));
        }
    }

    #[test]
    fn auth_responses() {
        assert_eq!(
            parse_auth_response(b" dXNlcg== \r\n", 512),
            Parsed::Complete { value: "dXNlcg==".into(), consumed: 12 }
        );
        assert_eq!(parse_auth_response(b"*\n", 512), Parsed::Complete { value: "*".into(), consumed: 2 });
        assert_eq!(parse_auth_response(b"abc", 512), Parsed::Incomplete);
    }

    #[test]
    fn mailbox_alone() {
        assert_eq!(parse_mailbox("alice@example.com"), Some(mbox("alice", "example.com")));
        assert_eq!(parse_mailbox("alice@example.com>"), None);
        assert_eq!(parse_mailbox("alice"), None);
        assert_eq!(parse_mailbox("@example.com"), None);
    }
}
