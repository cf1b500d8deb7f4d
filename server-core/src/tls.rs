//! TLS for every protocol: certificates and rustls configurations.
//!
//! Each host presents a certificate for `mxN.<domain>`. Unless PEM files are configured, a self-signed one is
//! generated with rcgen on first start and kept in the data directory (`<data>/<host>/tls/{cert,key}.pem`) so that
//! clients can pin it across restarts. Sandboxed worlds generate theirs in memory. TLS 1.3 is preferred and 1.2 is
//! the minimum (rustls supports nothing older). In the browser tab, where every peer is Mailroom itself, TLS 1.3
//! is the only version and [`tab`] says which algorithms are offered and why.
//!
//! Server-to-server links use STARTTLS opportunistically, as MTAs do on the internet (RFC 7435): the relay client
//! accepts any certificate, but records its subject and fingerprint so the playground can show what was presented.
//! [`insecure_client_config`] is that client configuration; the proxy uses it too when it plays the TLS client for
//! a browser.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use sha2::Digest;

#[cfg(not(target_arch = "wasm32"))]
use crate::config::HostConfig;
use crate::session::TlsInfo;

pub mod subject;
#[cfg(target_arch = "wasm32")]
mod tab;

/// A certificate chain and its key.
pub struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a PEM file failed.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The PEM file held nothing usable.
    #[error("{0}: no certificate or key found")]
    Pem(PathBuf),
    /// rcgen failed.
    #[cfg(not(target_arch = "wasm32"))]
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The tab cannot make key pairs (rcgen needs ring): its certificates are made natively by
    /// `mailroom static-site` and installed with [`preload`]; this host's is missing.
    #[error("no certificate was made for {0}")]
    NoCertificate(String),
    /// rustls refused the material.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto behind every TLS connection: ring natively; in the browser tab pure-Rust primitives (RustCrypto),
/// since ring's C and assembly need a C compiler for wasm32, cut to what the tab's peers use ([`tab`]).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[cfg(not(target_arch = "wasm32"))]
    return Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(target_arch = "wasm32")]
    Arc::new(tab::provider())
}

/// The protocol versions offered, best first: TLS 1.3 and 1.2 natively; 1.3 alone in the tab, whose peers are
/// all Mailroom (and rustls is built there without its TLS 1.2 code).
#[cfg(not(target_arch = "wasm32"))]
static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
#[cfg(target_arch = "wasm32")]
static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Certificates made ahead of time, by host name: `(fqdn, certificate PEM, key PEM)`.
static PRELOADED: std::sync::RwLock<Vec<(String, String, String)>> = std::sync::RwLock::new(Vec::new());

/// Installs certificates made ahead of time for sandboxes to use (the browser tab's world, which cannot make key
/// pairs itself). A host without one gets a generated certificate natively and none in the tab.
pub fn preload(identities: Vec<(String, String, String)>) {
    *PRELOADED.write().unwrap_or_else(|e| e.into_inner()) = identities;
}

/// Parses an identity from PEM text.
fn from_pem(cert_pem: &str, key_pem: &str) -> Option<Identity> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().ok()?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).ok()?;
    (!chain.is_empty()).then_some(Identity { chain, key })
}

/// One TLS configuration per host name for every sandbox in the process: generating a key pair per sandbox would
/// cost CPU and memory for nothing, since sandboxes only ever talk to the proxy (or the page) in this process.
pub fn sandbox_config(fqdn: &str) -> Result<Arc<ServerConfig>, TlsError> {
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, Arc<ServerConfig>>>,
    > = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = cache.get(fqdn) {
        return Ok(c.clone());
    }
    let preloaded = PRELOADED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(fqdn))
        .and_then(|(_, cert, key)| from_pem(cert, key));
    let identity = match preloaded {
        Some(i) => i,
        #[cfg(not(target_arch = "wasm32"))]
        None => generate(fqdn)?.0,
        #[cfg(target_arch = "wasm32")]
        None => return Err(TlsError::NoCertificate(fqdn.to_string())),
    };
    let cfg = server_config(identity)?;
    cache.insert(fqdn.to_string(), cfg.clone());
    Ok(cfg)
}

#[cfg(not(target_arch = "wasm32"))]
/// Generates a self-signed identity for `fqdn` (also valid for `localhost` and 127.0.0.1), returned with its PEM.
pub fn generate(fqdn: &str) -> Result<(Identity, String, String), TlsError> {
    let mut params = rcgen::CertificateParams::new(vec![
        fqdn.to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, fqdn);
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Mailroom playground");
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    let identity =
        Identity { chain: vec![cert.der().clone()], key: PrivateKeyDer::Pkcs8(key.serialize_der().into()) };
    Ok((identity, cert_pem, key_pem))
}

#[cfg(not(target_arch = "wasm32"))]
fn read_pem(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|_| TlsError::Pem(cert.to_path_buf()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::Pem(cert.to_path_buf()))?;
    if chain.is_empty() {
        return Err(TlsError::Pem(cert.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|_| TlsError::Pem(key.to_path_buf()))?;
    Ok(Identity { chain, key })
}

#[cfg(not(target_arch = "wasm32"))]
/// Loads the host's configured PEM files, or the ones generated earlier into `dir`, or generates and saves new ones.
pub fn load_or_generate(host: &HostConfig, dir: &Path) -> Result<Identity, TlsError> {
    if let (Some(cert), Some(key)) = (&host.cert_pem, &host.key_pem) {
        return read_pem(cert, key);
    }
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return read_pem(&cert, &key);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (identity, cert_pem, key_pem) = generate(&host.fqdn())?;
    write_private(&key, key_pem.as_bytes()).map_err(io(&key))?;
    std::fs::write(&cert, cert_pem).map_err(io(&cert))?;
    Ok(identity)
}

#[cfg(not(target_arch = "wasm32"))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// A server configuration: TLS 1.3 and 1.2 ([`VERSIONS`]), no client certificates.
pub fn server_config(identity: Identity) -> Result<Arc<ServerConfig>, TlsError> {
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)?;
    Ok(Arc::new(cfg))
}

/// Accepts any server certificate: opportunistic TLS between MTAs (RFC 7435), and the proxy's view of the
/// playground's self-signed hosts. Signatures are still checked, so the handshake itself is real.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration that accepts any certificate (see [`AcceptAny`]'s reasons).
pub fn insecure_client_config() -> Arc<ClientConfig> {
    let provider = provider();
    let cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(VERSIONS)
        // The provider has a cipher suite for every version offered: this cannot fail.
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Arc::new(cfg)
}

/// Version and cipher suite of an established connection.
pub fn info(conn: &rustls::CommonState) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_string(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "unknown".to_string());
    TlsInfo { version, cipher }
}

/// What a TLS client saw of the server's certificate: subject and SHA-256 fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerCert {
    /// The subject's common name (or the first SAN when there is none).
    pub subject: String,
    /// SHA-256 of the DER certificate, colon-separated hex.
    pub sha256: String,
}

/// Describes the leaf certificate a client received.
pub fn peer_cert(conn: &rustls::CommonState) -> Option<PeerCert> {
    let leaf = conn.peer_certificates()?.first()?;
    let digest = sha2::Sha256::digest(leaf.as_ref());
    let sha256 = digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    Some(PeerCert { subject: common_name(leaf.as_ref()).unwrap_or_else(|| "(unknown)".into()), sha256 })
}

/// Who a DER certificate says it is: its subject's CommonName, or its first DNS name when it has none.
/// rustls-webpki (rustls's own certificate parser) finds the fields; [`subject`] reads the name.
fn common_name(der: &[u8]) -> Option<String> {
    let der = CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    subject::common_name(cert.subject()).or_else(|| cert.valid_dns_names().next().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_builds_a_server_config_and_names_itself() {
        let (identity, cert_pem, _) = generate("mx1.example.com").unwrap();
        assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(common_name(identity.chain[0].as_ref()).as_deref(), Some("mx1.example.com"));
        server_config(identity).unwrap();
    }

    #[test]
    fn the_subject_of_a_ca_signed_certificate_is_its_own_name_not_the_issuers() {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "Mailroom Teaching CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["mx2.example.net".to_string()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "mx2.example.net");
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        assert_eq!(common_name(leaf_cert.der()).as_deref(), Some("mx2.example.net"));
        // Without a CN, the first DNS name says who it is.
        let mut bare = CertificateParams::new(vec!["mx3.example.org".to_string()]).unwrap();
        bare.distinguished_name = rcgen::DistinguishedName::new();
        let bare_cert = bare.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        assert_eq!(common_name(bare_cert.der()).as_deref(), Some("mx3.example.org"));
        assert_eq!(common_name(b"not a certificate"), None);
    }

    #[test]
    fn persisted_identity_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let host = crate::config::WorldConfig::default().hosts[0].clone();
        let a = load_or_generate(&host, dir.path()).unwrap();
        let b = load_or_generate(&host, dir.path()).unwrap();
        assert_eq!(a.chain[0], b.chain[0]);
    }
}
