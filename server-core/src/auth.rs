//! Users and credentials of one host, and the SASL PLAIN (RFC 4616) decoder all three protocols share.

use base64::Engine;

use crate::config::UserConfig;

/// A password, redacted in `Debug` so it can never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The users of one host.
#[derive(Clone, Debug)]
pub struct Users {
    domain: String,
    users: Vec<UserConfig>,
}

impl Users {
    /// Users of `domain`.
    pub fn new(domain: &str, users: Vec<UserConfig>) -> Users {
        let users = users
            .into_iter()
            .map(|mut u| {
                u.name = u.name.to_ascii_lowercase();
                u
            })
            .collect();
        Users { domain: domain.to_ascii_lowercase(), users }
    }

    /// The canonical user (lowercase local part) a login name refers to: `alice` and `alice@example.com` both work.
    pub fn resolve(&self, login: &str) -> Option<&str> {
        let login = login.trim();
        let local = match login.rsplit_once('@') {
            Some((local, domain)) if domain.eq_ignore_ascii_case(&self.domain) => local,
            Some(_) => return None,
            None => login,
        };
        self.users.iter().find(|u| u.name.eq_ignore_ascii_case(local)).map(|u| u.name.as_str())
    }

    /// Checks a login; returns the canonical user name. Compares every byte of the password so the time taken
    /// does not depend on where the first difference is.
    pub fn verify(&self, login: &str, password: &str) -> Option<String> {
        let name = self.resolve(login)?;
        let user = self.users.iter().find(|u| u.name == name)?;
        same_bytes(user.password.as_bytes(), password.as_bytes()).then(|| name.to_string())
    }

    /// Checks a POP3 APOP login (RFC 1939 §7): `digest` must be the lowercase hex MD5 of the greeting's
    /// `timestamp` followed by the user's password. Returns the canonical user name. The password never leaves
    /// this type.
    pub fn verify_apop(&self, login: &str, timestamp: &str, digest: &str) -> Option<String> {
        use md5::{Digest, Md5};
        let name = self.resolve(login)?;
        let user = self.users.iter().find(|u| u.name == name)?;
        let expected: String = Md5::new()
            .chain_update(timestamp.as_bytes())
            .chain_update(user.password.as_bytes())
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let given = digest.to_ascii_lowercase();
        same_bytes(expected.as_bytes(), given.as_bytes()).then(|| name.to_string())
    }

    /// Whether `local` is a user of this host (RCPT and delivery).
    pub fn exists(&self, local: &str) -> bool {
        self.users.iter().any(|u| u.name.eq_ignore_ascii_case(local))
    }

    /// The host's mail domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// All user names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(|u| u.name.as_str())
    }
}

/// Why a SASL PLAIN response was rejected.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Not valid base64.
    #[error("invalid base64")]
    Base64,
    /// Not `authzid NUL authcid NUL passwd` in UTF-8.
    #[error("malformed PLAIN response")]
    Malformed,
}

/// Decodes a base64 SASL PLAIN response into (authzid, authcid, password). RFC 4616 §2.
pub fn decode_plain(b64: &str) -> Result<(String, String, Secret), SaslError> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| SaslError::Base64)?;
    let text = String::from_utf8(raw).map_err(|_| SaslError::Malformed)?;
    let mut parts = text.split('\0');
    let (Some(authz), Some(authc), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if authc.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok((authz.to_string(), authc.to_string(), Secret(pass.to_string())))
}

/// Decodes one base64 line (AUTH LOGIN steps) into UTF-8.
pub fn decode_b64_text(b64: &str) -> Result<String, SaslError> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| SaslError::Base64)?;
    String::from_utf8(raw).map_err(|_| SaslError::Malformed)
}

/// Whether two secrets are equal, looking at every byte whatever the first difference, so the time taken does not
/// tell a guesser how much of a password was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        Users::new("example.com", vec![UserConfig { name: "alice".into(), password: "password".into() }])
    }

    #[test]
    fn login_names() {
        let u = users();
        assert_eq!(u.verify("alice", "password").as_deref(), Some("alice"));
        assert_eq!(u.verify("Alice@Example.COM", "password").as_deref(), Some("alice"));
        assert_eq!(u.verify("alice@example.net", "password"), None);
        assert_eq!(u.verify("alice", "passwor"), None);
        assert_eq!(u.verify("mallory", "password"), None);
    }

    #[test]
    fn apop_rfc1939_example() {
        // RFC 1939 §7: timestamp <1896.697170952@dbc.mtview.ca.us>, secret "tanstaaf".
        let u = Users::new(
            "dbc.mtview.ca.us",
            vec![UserConfig { name: "mrose".into(), password: "tanstaaf".into() }],
        );
        let ts = "<1896.697170952@dbc.mtview.ca.us>";
        assert_eq!(u.verify_apop("mrose", ts, "c4c9334bac560ecc979e58001b3e22fb").as_deref(), Some("mrose"));
        assert_eq!(u.verify_apop("mrose", ts, "C4C9334BAC560ECC979E58001B3E22FB").as_deref(), Some("mrose"));
        assert_eq!(u.verify_apop("mrose", ts, "c4c9334bac560ecc979e58001b3e22fa"), None);
        assert_eq!(u.verify_apop("mrose", "<other@x>", "c4c9334bac560ecc979e58001b3e22fb"), None);
        assert_eq!(u.verify_apop("nobody", ts, "c4c9334bac560ecc979e58001b3e22fb"), None);
    }

    #[test]
    fn plain() {
        // "\0alice\0password"
        let (z, c, p) = decode_plain("AGFsaWNlAHBhc3N3b3Jk").unwrap();
        assert_eq!((z.as_str(), c.as_str(), p.0.as_str()), ("", "alice", "password"));
        assert_eq!(decode_plain("!!"), Err(SaslError::Base64));
        assert_eq!(decode_plain("YWxpY2U="), Err(SaslError::Malformed));
    }
}
