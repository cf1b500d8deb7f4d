//! The crypto of the world in a browser tab: the least rustls needs to speak TLS 1.3 between the tab's own
//! peers, from RustCrypto's pure-Rust primitives (ring's C and assembly do not build for wasm32).
//!
//! Every TLS peer in the tab is Mailroom itself: the page's client (played by the worker), both hosts' servers,
//! and the relay client between them; every certificate is an ECDSA P-256 one that `mailroom static-site` made
//! with rcgen. So the tab offers what those peers use and nothing else, because each algorithm is code the
//! learner downloads on first load: TLS 1.3 only, AES-128-GCM and ChaCha20-Poly1305 (both SHA-256), X25519, and
//! ECDSA P-256 with SHA-256 for signing and verifying. Natively (`tls::provider`) the full ring provider stays,
//! since real clients and remote servers connect there. `rustls_rustcrypto::provider()` would carry P-384, RSA,
//! Ed25519 and TLS 1.2 into the tab for peers that cannot exist there.

use std::sync::Arc;

use p256::ecdsa::{DerSignature, VerifyingKey};
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, KeyProvider, SharedSecret, SupportedKxGroup, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{
    AlgorithmIdentifier, InvalidSignature, PrivateKeyDer, SignatureVerificationAlgorithm, alg_id,
};
use rustls::{NamedGroup, SignatureScheme};
use signature::Verifier;

/// The provider every TLS configuration in the tab is built on.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            rustls_rustcrypto::TLS13_AES_128_GCM_SHA256,
            rustls_rustcrypto::TLS13_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![&X25519],
        signature_verification_algorithms: ALGORITHMS,
        // The browser's crypto.getRandomValues, through getrandom.
        secure_random: &rustls_rustcrypto::Provider,
        key_provider: &P256Keys,
    }
}

static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[&EcdsaP256Sha256],
    mapping: &[(SignatureScheme::ECDSA_NISTP256_SHA256, &[&EcdsaP256Sha256])],
};

/// Loads the hosts' private keys: ECDSA P-256, PKCS#8 (rcgen's) or SEC1.
#[derive(Debug)]
struct P256Keys;

impl KeyProvider for P256Keys {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Ok(Arc::new(rustls_rustcrypto::sign::ecdsa::EcdsaSigningKeyP256::try_from(&key_der)?))
    }
}

/// Checks ECDSA P-256 signatures over SHA-256: the handshake signature of every server in the tab.
#[derive(Debug)]
struct EcdsaP256Sha256;

impl SignatureVerificationAlgorithm for EcdsaP256Sha256 {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA256
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let signature = DerSignature::try_from(signature).map_err(|_| InvalidSignature)?;
        let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature).map_err(|_| InvalidSignature)
    }
}

/// X25519 key exchange (RFC 7748), the group every TLS 1.3 peer supports.
#[derive(Debug)]
struct X25519;

impl SupportedKxGroup for X25519 {
    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret = x25519_dalek::EphemeralSecret::random_from_rng(rand_core::OsRng);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }
}

struct X25519Exchange {
    secret: x25519_dalek::EphemeralSecret,
    public: x25519_dalek::PublicKey,
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] =
            peer.try_into().map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self.secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // A low-order point from the peer gives an all-zero secret (RFC 7748 section 6.1): refuse it.
        if !shared.was_contributory() {
            return Err(rustls::PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(shared.as_bytes().as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}
