//! SMTP wire types: the commands a client sends (RFC 5321 §4.1, RFC 3207, RFC 4954) and the address forms they
//! carry (RFC 5321 §4.1.2), as validated values.
//!
//! The parser ([`super::parser`]) is the only producer of these values from bytes, so a [`Mailbox`] in hand always
//! satisfies the RFC grammar and its length limits. `Display` writes each type back in its canonical wire form
//! (what a well-behaved client would send); the fuzz target checks that parsing that form again gives the same
//! value.

use std::fmt;

/// A domain as it appears in an address or in EHLO/HELO.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A host name: `example.com` (U-labels allowed with SMTPUTF8, RFC 6531 §3.3).
    Name(String),
    /// An address literal with its brackets: `[127.0.0.1]`, `[IPv6:::1]` (RFC 5321 §4.1.3).
    Literal(String),
}

impl Domain {
    /// The text as written (brackets included for literals).
    pub fn as_str(&self) -> &str {
        match self {
            Domain::Name(s) | Domain::Literal(s) => s,
        }
    }

    /// Whether it contains only ASCII (no U-labels).
    pub fn is_ascii(&self) -> bool {
        self.as_str().is_ascii()
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Local-part "@" ( Domain / address-literal )`, RFC 5321 §4.1.2.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part exactly as written: a dot-string (`john.smith`) or a quoted string with its quotes
    /// (`"john smith"`). Its case is preserved: RFC 5321 §2.4 makes local parts case-sensitive in transit.
    pub local: String,
    /// The domain.
    pub domain: Domain,
}

impl Mailbox {
    /// The local part's value: quotes and quoted-pair backslashes removed, so `"alice"` and `alice` compare equal
    /// (RFC 5321 §4.1.2 says they are the same mailbox).
    pub fn local_value(&self) -> String {
        match self.local.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(inner) => {
                let mut value = String::with_capacity(inner.len());
                let mut escaped = false;
                for c in inner.chars() {
                    if escaped || c != '\\' {
                        value.push(c);
                        escaped = false;
                    } else {
                        escaped = true;
                    }
                }
                value
            }
            None => self.local.clone(),
        }
    }

    /// Whether the address is pure ASCII (otherwise it needs SMTPUTF8, RFC 6531 §3.4).
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// The argument of MAIL FROM: `Reverse-path = Path / "<>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`: the null sender of bounces (RFC 5321 §4.5.5). Nothing sent from it is ever bounced.
    Null,
    /// A sender mailbox. A source route (`<@a,@b:user@c>`) is accepted and dropped (RFC 5321 §4.1.1.3 says to
    /// ignore it).
    Mailbox(Mailbox),
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The argument of RCPT TO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain, which every server must accept (RFC 5321 §4.1.1.3, §4.5.1).
    Postmaster,
    /// A recipient mailbox (a source route, if any, is dropped).
    Mailbox(Mailbox),
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The `BODY=` parameter of MAIL (RFC 6152).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Body {
    /// `BODY=7BIT`, or no parameter.
    #[default]
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// The ESMTP parameters of MAIL this server implements.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MailParams {
    /// `SIZE=<octets>` (RFC 1870): the client's estimate, checked against the limit at once.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152).
    pub body: Body,
    /// `SMTPUTF8` (RFC 6531): addresses and headers may be UTF-8.
    pub smtputf8: bool,
    /// `AUTH=<mailbox>` (RFC 4954 §5): accepted and ignored (we do not vouch for other servers' identities).
    pub auth: Option<String>,
}

impl fmt::Display for MailParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(size) = self.size {
            write!(f, " SIZE={size}")?;
        }
        if self.body == Body::EightBitMime {
            f.write_str(" BODY=8BITMIME")?;
        }
        if self.smtputf8 {
            f.write_str(" SMTPUTF8")?;
        }
        if let Some(auth) = &self.auth {
            write!(f, " AUTH={auth}")?;
        }
        Ok(())
    }
}

/// A SASL mechanism named in AUTH (RFC 4954 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// PLAIN (RFC 4616).
    Plain,
    /// LOGIN (the widespread, never standardised username/password exchange).
    Login,
    /// Anything else, upper-cased; answered with 504.
    Other(String),
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mechanism::Plain => f.write_str("PLAIN"),
            Mechanism::Login => f.write_str("LOGIN"),
            Mechanism::Other(m) => f.write_str(m),
        }
    }
}

/// One client command, as the RFCs name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (RFC 5321 §4.1.1.1): start an extended session.
    Ehlo { domain: Domain },
    /// `HELO domain`: start a plain RFC 821 session.
    Helo { domain: Domain },
    /// `MAIL FROM:<path> [params]` (§4.1.1.2).
    Mail { from: ReversePath, params: MailParams },
    /// `RCPT TO:<path>` (§4.1.1.3).
    Rcpt { to: ForwardPath },
    /// `DATA` (§4.1.1.4).
    Data,
    /// `RSET` (§4.1.1.5).
    Rset,
    /// `VRFY string` (§4.1.1.6).
    Vrfy { arg: String },
    /// `EXPN string` (§4.1.1.7).
    Expn { arg: String },
    /// `HELP [string]` (§4.1.1.8).
    Help { topic: Option<String> },
    /// `NOOP [string]` (§4.1.1.9).
    Noop,
    /// `QUIT` (§4.1.1.10).
    Quit,
    /// `STARTTLS` (RFC 3207 §4).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4). `initial` is the base64 text; `=` stands for an empty
    /// response.
    Auth { mechanism: Mechanism, initial: Option<String> },
    /// An HTTP request line (`GET / HTTP/1.1`): someone pointed a browser or an HTTP client at the SMTP port.
    Http { method: String },
}

impl fmt::Display for Command {
    /// The canonical wire form, without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo { domain } => write!(f, "EHLO {domain}"),
            Command::Helo { domain } => write!(f, "HELO {domain}"),
            Command::Mail { from, params } => write!(f, "MAIL FROM:{from}{params}"),
            Command::Rcpt { to } => write!(f, "RCPT TO:{to}"),
            Command::Data => f.write_str("DATA"),
            Command::Rset => f.write_str("RSET"),
            Command::Vrfy { arg } => write!(f, "VRFY {arg}"),
            Command::Expn { arg } => write!(f, "EXPN {arg}"),
            Command::Help { topic: None } => f.write_str("HELP"),
            Command::Help { topic: Some(t) } => write!(f, "HELP {t}"),
            Command::Noop => f.write_str("NOOP"),
            Command::Quit => f.write_str("QUIT"),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth { mechanism, initial: None } => write!(f, "AUTH {mechanism}"),
            Command::Auth { mechanism, initial: Some(i) } => write!(f, "AUTH {mechanism} {i}"),
            Command::Http { method } => write!(f, "{method} / HTTP/1.1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_value_unquotes() {
        let cases = [
            ("alice", "alice"),
            ("\"alice\"", "alice"),
            ("\"john smith\"", "john smith"),
            ("\"a\\\"b\"", "a\"b"),
            ("\"a\\\\b\"", "a\\b"),
        ];
        for (local, value) in cases {
            let m = Mailbox { local: local.into(), domain: Domain::Name("example.com".into()) };
            assert_eq!(m.local_value(), value, "{local}");
        }
    }
}
