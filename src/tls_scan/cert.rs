//! What the server's certificate says, and whether its chain is trusted.
//!
//! Trust anchors are the operating system's store, read once per process, plus the
//! certificates of the target's `ca_file`. Of the system store only CA certificates count
//! (the distribution's bundle file, and the CA:TRUE certificates of the certificate
//! directory, see [`system_anchors`]): a self-signed server certificate dropped into
//! `/etc/ssl/certs`, like Debian's snakeoil, is not a root. The HTTP probes use the same
//! anchors ([`http_client_config`]), so a target they trust is trusted here too, internal CAs
//! installed by the operator included. A certificate of `ca_file` that is
//! byte-for-byte the server's leaf is trusted as itself, as `curl --cacert` trusts a
//! self-signed server certificate; webpki alone would refuse it (`CaUsedAsEndEntity`,
//! `UnknownIssuer`).
//!
//! The chain check is webpki's (through rustls): signatures up to an anchor, validity dates,
//! basic constraints, name constraints, the server-auth key usage. RSA signatures with SHA-1
//! are accepted for the verdict (as `openssl verify` and testssl.sh accept them): the
//! signature algorithm is a separate fact ([`Certificate::weak_hash`],
//! [`Certificate::browsers_refuse`]), so a SHA-1 leaf under a trusted CA is a weak signature,
//! not an untrusted chain. Not checked: revocation (OCSP, CRL) and Certificate Transparency.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::RootCertStore;
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, UnixTime, alg_id,
};
use rustls::server::ParsedCertificate;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::ScanError;

/// The biggest `ca_file` read: a full public bundle is about 250 KiB.
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// Why the certificate could not be inspected.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CertError {
    /// An empty chain.
    #[error("the server sent no certificate")]
    NoCertificate,
    /// A leaf that is not X.509.
    #[error("the server's certificate does not parse: {0}")]
    Parse(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
}

/// Why a chain is not trusted. The text is what a `chain_trusted` finding observes after
/// `not trusted: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Untrusted {
    /// An empty chain.
    #[error("no certificate")]
    NoCertificate,
    /// The leaf is pinned by `ca_file` but outside its dates.
    #[error("the certificate given in ca_file is outside its validity period")]
    PinnedOutsideValidity,
    /// webpki refused the chain; the text is a short reason in words.
    #[error("{}", describe(.0))]
    Refused(#[source] rustls::Error),
}

/// Facts about the server's certificate chain, as presented to a modern client.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// The leaf's subject, RFC 4514 style (control characters replaced by `?`).
    pub subject: String,
    /// The leaf's issuer, RFC 4514 style.
    pub issuer: String,
    /// Start of the leaf's validity.
    pub not_before: SystemTime,
    /// End of the leaf's validity.
    pub not_after: SystemTime,
    /// Whole days from the scan to `not_after`, rounded down: negative once expired.
    pub days_left: i64,
    /// The leaf's DNS and IP subject alternative names, in certificate order.
    pub sans: Vec<String>,
    /// The name checked against `sans`: the endpoint's `server_name`, else its host.
    pub checked_name: String,
    /// Whether a SAN matches `checked_name` (RFC 6125: the subject CN alone never counts).
    pub hostname_matches: bool,
    /// Whether the chain verifies to a system root or a `ca_file` certificate; the error
    /// says why not. SHA-1 signatures (RSA) are accepted here: the signature algorithm is
    /// judged apart, by `forbid_signatures` (`tls/weak-key-or-signature`), as `openssl
    /// verify` and testssl.sh judge them, so a SHA-1 leaf is one weak-signature finding and
    /// not also an untrusted chain.
    pub chain_trusted: Result<(), Untrusted>,
    /// Why a browser would refuse this chain whatever the trust verdict says: a SHA-1 (or
    /// MD5) signature, which browsers have refused since 2017.
    pub browsers_refuse: Option<String>,
    /// The leaf's public key.
    pub key: Key,
    /// The leaf's signature algorithm, e.g. `sha256WithRSAEncryption`.
    pub signature: String,
    /// Set when the leaf is signed with SHA-1 or MD5 (or older).
    pub weak_hash: Option<WeakHash>,
    /// SHA-256 of the leaf's DER, uppercase hex (as OpenTelemetry's `tls.server.hash.sha256`).
    pub sha256: String,
    /// How many certificates the server sent, leaf included.
    pub chain_len: usize,
}

/// A public key type and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size.
        bits: u32,
    },
    /// ECDSA on a named curve.
    Ec {
        /// `P-256`, `P-384`, `P-521`, `secp256k1`, or the curve OID.
        curve: String,
        /// The curve's field size in bits (0 when unknown).
        bits: u32,
    },
    /// Ed25519.
    Ed25519,
    /// Ed448.
    Ed448,
    /// DSA with a public value of `bits` bits.
    Dsa {
        /// Size of the public value.
        bits: u32,
    },
    /// Anything else, by algorithm OID.
    Other {
        /// Dotted OID of the key algorithm.
        oid: String,
    },
}

impl Key {
    /// The size usually quoted for the key: RSA modulus, curve field; Ed25519 256, Ed448 456.
    pub fn bits(&self) -> Option<u32> {
        match self {
            Key::Rsa { bits } | Key::Ec { bits, .. } | Key::Dsa { bits } => Some(*bits),
            Key::Ed25519 => Some(256),
            Key::Ed448 => Some(456),
            Key::Other { .. } => None,
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Rsa { bits } => write!(f, "RSA {bits}"),
            Key::Ec { curve, .. } => write!(f, "EC {curve}"),
            Key::Ed25519 => f.write_str("Ed25519"),
            Key::Ed448 => f.write_str("Ed448"),
            Key::Dsa { bits } => write!(f, "DSA {bits}"),
            Key::Other { oid } => write!(f, "key {oid}"),
        }
    }
}

/// A broken hash in the leaf's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WeakHash {
    /// MD5, or the older MD2/MD4.
    Md5,
    /// SHA-1.
    Sha1,
}

impl WeakHash {
    /// `md5` or `sha1`, as probes name them in `forbid_signatures`.
    pub fn name(self) -> &'static str {
        match self {
            WeakHash::Md5 => "md5",
            WeakHash::Sha1 => "sha1",
        }
    }
}

/// The anchors a chain may verify to.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    roots: Arc<RootCertStore>,
    /// Every certificate of `ca_file`, for the exact match of a self-signed leaf.
    pinned: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// The system roots plus the certificates of `ca_file` (PEM, or one DER certificate).
    pub(crate) fn load(ca_file: Option<&Path>) -> Result<Trust, ScanError> {
        let system = system_roots();
        let Some(path) = ca_file else {
            return Ok(Trust {
                roots: system,
                pinned: Vec::new(),
            });
        };
        let error = |detail: String| ScanError::CaFile {
            path: path.to_path_buf(),
            detail,
        };
        // Regular files only, capped by the read: a FIFO or device must not block or swell.
        let bytes =
            crate::files::read_regular(path, MAX_CA_FILE).map_err(|e| error(e.to_string()))?;
        let pinned: Vec<CertificateDer<'static>> = if bytes.windows(11).any(|w| w == b"-----BEGIN ")
        {
            CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| error(format!("PEM: {e}")))?
        } else {
            vec![CertificateDer::from(bytes)]
        };
        if pinned.is_empty() {
            return Err(error("no certificate in file".into()));
        }
        let mut roots = (*system).clone();
        // A certificate webpki cannot take as an anchor may still be a pinned leaf.
        roots.add_parsable_certificates(pinned.iter().cloned());
        Ok(Trust {
            roots: Arc::new(roots),
            pinned,
        })
    }
}

/// The operating system's trust anchors, read once: certificates that fail to parse are
/// skipped (and logged), as browsers do.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = system_anchors();
            for error in &found.errors {
                tracing::warn!(error = %error, "system trust store: a certificate was skipped");
            }
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            Arc::new(roots)
        })
        .clone()
}

/// The anchors of the system store on Unix (not macOS): every certificate of the
/// distribution's bundle file, and of the certificate directories only the CA certificates
/// (basicConstraints CA:TRUE). The directories hold more than anchors: Debian's `ssl-cert`
/// package drops its self-signed `ssl-cert-snakeoil.pem` (CA:FALSE) into `/etc/ssl/certs`,
/// and taking it as a root would make every server that serves it trusted. The bundle
/// (`ca-certificates.crt`) is what `update-ca-certificates` builds from the anchors the
/// administrator chose, so all of it counts. The places are rustls-native-certs' (and
/// OpenSSL's): `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else the usual paths.
#[cfg(all(unix, not(target_os = "macos")))]
fn system_anchors() -> rustls_native_certs::CertificateResult {
    let file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let dirs: Vec<std::path::PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|dirs| {
            std::env::split_paths(&dirs)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let (file, dirs) = if file.is_some() || !dirs.is_empty() {
        (file, dirs)
    } else {
        let probed = openssl_probe::probe();
        (probed.cert_file, probed.cert_dir)
    };
    let mut out = match &file {
        Some(file) => rustls_native_certs::load_certs_from_paths(Some(file), None),
        None => rustls_native_certs::CertificateResult::default(),
    };
    let mut not_ca = 0usize;
    for dir in &dirs {
        let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        out.errors.extend(found.errors);
        for cert in found.certs {
            if out.certs.contains(&cert) {
                continue;
            }
            if is_ca(&cert) {
                out.certs.push(cert);
            } else {
                not_ca += 1;
            }
        }
    }
    if not_ca > 0 {
        tracing::debug!(
            certificates = not_ca,
            "system trust store: certificates in the certificate directory that are not CA \
             certificates (CA:TRUE) are not trust anchors"
        );
    }
    out
}

/// The OS's own store (macOS keychain, Windows certificate store) holds anchors only.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn system_anchors() -> rustls_native_certs::CertificateResult {
    rustls_native_certs::load_native_certs()
}

/// Whether `cert` says it is a CA (basicConstraints CA:TRUE).
#[cfg(all(unix, not(target_os = "macos")))]
fn is_ca(cert: &CertificateDer<'_>) -> bool {
    X509Certificate::from_der(cert.as_ref())
        .ok()
        .and_then(|(_, x509)| x509.basic_constraints().ok().flatten().map(|b| b.value.ca))
        .unwrap_or(false)
}

/// Inspects `chain` (leaf first) as presented for `name` (the name to match against SANs).
pub(crate) fn inspect(
    chain: &[CertificateDer<'static>],
    name: &str,
    trust: &Trust,
    now: SystemTime,
) -> Result<Certificate, CertError> {
    let leaf = chain.first().ok_or(CertError::NoCertificate)?;
    let (_, x509) = X509Certificate::from_der(leaf.as_ref()).map_err(CertError::Parse)?;
    let validity = x509.validity();
    let not_before = system_time(validity.not_before.timestamp());
    let not_after_secs = validity.not_after.timestamp();
    // In milliseconds: a certificate made this very second still has a moment less than
    // its full validity left.
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let (signature, weak_hash) = signature(&x509);
    let (trusted, sha1_needed) = chain_trusted(chain, trust, now, &x509);
    let browsers_refuse = match weak_hash {
        Some(hash) => Some(format!(
            "browsers refuse it: the leaf is signed with {} ({signature})",
            if hash == WeakHash::Sha1 {
                "SHA-1"
            } else {
                "MD5"
            }
        )),
        None if sha1_needed => {
            Some("browsers refuse it: a certificate of its chain is signed with SHA-1".to_string())
        }
        None => None,
    };
    Ok(Certificate {
        subject: printable(&x509.subject().to_string()),
        issuer: printable(&x509.issuer().to_string()),
        not_before,
        not_after: system_time(not_after_secs),
        days_left: not_after_secs
            .saturating_mul(1000)
            .saturating_sub(now_ms)
            .div_euclid(86_400_000),
        sans: sans(&x509),
        checked_name: name.to_string(),
        hostname_matches: hostname_matches(leaf, name),
        chain_trusted: trusted,
        browsers_refuse,
        key: key(&x509),
        signature,
        weak_hash,
        sha256: fingerprint(leaf.as_ref()),
        chain_len: chain.len(),
    })
}

fn system_time(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
    .unwrap_or(UNIX_EPOCH)
}

/// Certificate text can hold anything; keep control characters out of logs and terminals.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn sans(x509: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = x509.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(printable(dns)),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// webpki's RFC 6125 match (SANs only, wildcards in the leftmost label, IPs against IP SANs).
fn hostname_matches(leaf: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(server_name) = ServerName::try_from(name) else {
        return false;
    };
    ParsedCertificate::try_from(leaf)
        .and_then(|parsed| verify_server_name(&parsed, &server_name))
        .is_ok()
}

/// The trust verdict, and whether the chain verified only with SHA-1 signatures accepted.
fn chain_trusted(
    chain: &[CertificateDer<'static>],
    trust: &Trust,
    now: SystemTime,
    x509: &X509Certificate<'_>,
) -> (Result<(), Untrusted>, bool) {
    let Some(leaf) = chain.first() else {
        return (Err(Untrusted::NoCertificate), false);
    };
    let modern = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    let verify = |algorithms: &[&dyn SignatureVerificationAlgorithm]| {
        ParsedCertificate::try_from(leaf).and_then(|parsed| {
            verify_server_cert_signed_by_trust_anchor(
                &parsed,
                &trust.roots,
                &chain[1..],
                UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default()),
                algorithms,
            )
        })
    };
    let mut with_sha1 = modern.to_vec();
    with_sha1.push(&RsaPkcs1Sha1);
    match verify(&with_sha1) {
        Ok(()) => (Ok(()), verify(modern).is_err()),
        Err(_) if trust.pinned.iter().any(|pin| pin.as_ref() == leaf.as_ref()) => {
            // Trusted as itself: only its dates are left to check.
            let now = unix_secs(now);
            let validity = x509.validity();
            if validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp() {
                (Ok(()), false)
            } else {
                (Err(Untrusted::PinnedOutsideValidity), false)
            }
        }
        Err(e) => (Err(Untrusted::Refused(e)), false),
    }
}

/// RSA PKCS#1 v1.5 signatures with SHA-1 (`sha1WithRSAEncryption`), which webpki no longer
/// offers, for the trust verdict only (never for a connection that carries data). Issuer
/// keys of 2048 bits and more, as for the SHA-2 algorithms. ring has no ECDSA with SHA-1, so
/// an `ecdsa-with-SHA1` signature still makes a chain untrusted.
#[derive(Debug)]
struct RsaPkcs1Sha1;

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        // SEQUENCE contents: OID 1.2.840.113549.1.1.5, NULL.
        const SHA1_WITH_RSA: [u8; 13] = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ];
        AlgorithmIdentifier::from_slice(&SHA1_WITH_RSA)
    }
}

fn unix_secs(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A short reason for a webpki verdict.
fn describe(error: &rustls::Error) -> String {
    use rustls::CertificateError as E;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            E::UnknownIssuer => "not issued by a trusted CA (system roots or ca_file)".into(),
            E::Expired | E::ExpiredContext { .. } => "certificate expired".into(),
            E::NotValidYet | E::NotValidYetContext { .. } => "certificate not yet valid".into(),
            E::BadSignature => "a signature in the chain does not verify".into(),
            E::UnsupportedSignatureAlgorithmContext { .. }
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "a signature in the chain uses an algorithm picket cannot verify (MD5, ECDSA \
                 with SHA-1, RSA under 2048 bits, or unknown)"
                    .into()
            }
            // webpki's CaUsedAsEndEntity reaches rustls only as `Other`.
            E::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "the server's certificate is a CA certificate (self-signed?) not given in ca_file"
                    .into()
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

fn key(x509: &X509Certificate<'_>) -> Key {
    let spki = x509.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => Key::Rsa {
                bits: significant_bits(rsa.modulus),
            },
            _ => Key::Other { oid },
        },
        "1.2.840.10045.2.1" => {
            let curve_oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let (curve, bits) = match curve_oid.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256".to_string(), 256),
                "1.3.132.0.34" => ("P-384".to_string(), 384),
                "1.3.132.0.35" => ("P-521".to_string(), 521),
                "1.3.132.0.10" => ("secp256k1".to_string(), 256),
                "1.3.132.0.33" => ("P-224".to_string(), 224),
                "1.2.840.10045.3.1.1" => ("P-192".to_string(), 192),
                other => (other.to_string(), 0),
            };
            Key::Ec { curve, bits }
        }
        "1.3.101.112" => Key::Ed25519,
        "1.3.101.113" => Key::Ed448,
        "1.2.840.10040.4.1" => Key::Dsa {
            bits: match spki.parsed() {
                Ok(PublicKey::DSA(y)) => significant_bits(y),
                _ => 0,
            },
        },
        _ => Key::Other { oid },
    }
}

/// The bit length of a big-endian unsigned integer (DER integers carry a leading zero byte
/// when the top bit is set).
fn significant_bits(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(first) => &bytes[first..],
        None => &[],
    };
    match trimmed.first() {
        None => 0,
        Some(&top) => {
            let len = u32::try_from(trimmed.len()).unwrap_or(u32::MAX / 8);
            (len - 1).saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

/// The signature algorithm's name and, when the hash is broken, which.
fn signature(x509: &X509Certificate<'_>) -> (String, Option<WeakHash>) {
    let algorithm = &x509.signature_algorithm;
    let oid = algorithm.algorithm.to_id_string();
    let (name, hash) = match oid.as_str() {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", "md2"),
        "1.2.840.113549.1.1.3" => ("md4WithRSAEncryption", "md4"),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", "md5"),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => ("sha1WithRSAEncryption", "sha1"),
        "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", "sha224"),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", "sha256"),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", "sha384"),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", "sha512"),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", "sha1"),
        "1.2.840.10045.4.3.1" => ("ecdsa-with-SHA224", "sha224"),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", "sha256"),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", "sha384"),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", "sha512"),
        "1.2.840.10040.4.3" => ("dsa-with-SHA1", "sha1"),
        "2.16.840.1.101.3.4.3.2" => ("dsa-with-SHA256", "sha256"),
        "1.3.101.112" => ("Ed25519", ""),
        "1.3.101.113" => ("Ed448", ""),
        "1.2.840.113549.1.1.10" => {
            // RSASSA-PSS names its hash in parameters, SHA-1 when absent (RFC 4055).
            let hash =
                match x509_parser::signature_algorithm::SignatureAlgorithm::try_from(algorithm) {
                    Ok(x509_parser::signature_algorithm::SignatureAlgorithm::RSASSA_PSS(
                        params,
                    )) => hash_name(&params.hash_algorithm_oid().to_id_string()),
                    _ => "",
                };
            ("rsassa-pss", hash)
        }
        _ => ("", ""),
    };
    let name = if name.is_empty() {
        oid.clone()
    } else if name == "rsassa-pss" && !hash.is_empty() {
        format!("rsassa-pss-{hash}")
    } else {
        name.to_string()
    };
    let weak = match hash {
        "md2" | "md4" | "md5" => Some(WeakHash::Md5),
        "sha1" => Some(WeakHash::Sha1),
        _ => None,
    };
    (name, weak)
}

fn hash_name(oid: &str) -> &'static str {
    match oid {
        "1.3.14.3.2.26" => "sha1",
        "2.16.840.1.101.3.4.2.1" => "sha256",
        "2.16.840.1.101.3.4.2.2" => "sha384",
        "2.16.840.1.101.3.4.2.3" => "sha512",
        "2.16.840.1.101.3.4.2.4" => "sha224",
        "1.2.840.113549.2.5" => "md5",
        _ => "",
    }
}

fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The finding's words come from the reason; webpki's error stays behind it as the source.
    #[test]
    fn an_untrusted_chain_says_why_in_words_and_keeps_webpki_s_error() {
        let e = Untrusted::Refused(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired,
        ));
        assert_eq!(e.to_string(), "certificate expired");
        let source = std::error::Error::source(&e).unwrap();
        assert_eq!(
            source.downcast_ref::<rustls::Error>(),
            Some(&rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))
        );
        assert_eq!(
            Untrusted::PinnedOutsideValidity.to_string(),
            "the certificate given in ca_file is outside its validity period"
        );
    }

    #[test]
    fn bit_lengths_ignore_the_der_sign_byte() {
        assert_eq!(significant_bits(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(significant_bits(&[0x7f, 0, 0]), 23);
        assert_eq!(significant_bits(&[0, 0]), 0);
        assert_eq!(significant_bits(&[]), 0);
    }

    #[test]
    fn days_left_rounds_down_and_goes_negative() {
        assert_eq!((86_399i64).div_euclid(86_400), 0);
        assert_eq!((-1i64).div_euclid(86_400), -1);
    }
}

/// The rustls client configuration of HTTP probes: the chain must verify to the system
/// anchors (CA certificates only, as for `tls` probes) or the certificates of `ca_file`, and a
/// server certificate that is byte-for-byte one of the file's is trusted as itself (a
/// self-signed certificate given as `ca_file`, as curl's `--cacert` does), where webpki alone
/// refuses it as a CA used as an end entity. reqwest's own platform verifier is not used: on
/// Linux it takes every certificate of `/etc/ssl/certs` as a root.
pub fn http_client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, ScanError> {
    let trust = Trust::load(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // An empty store (a container without ca-certificates, no ca_file) trusts nothing: every
    // handshake fails on the certificate, as with any other unknown issuer.
    let webpki = if trust.roots.is_empty() {
        None
    } else {
        rustls::client::WebPkiServerVerifier::builder_with_provider(trust.roots, provider.clone())
            .build()
            .ok()
    };
    let verifier = PinnedOrWebPki {
        pinned: trust.pinned,
        webpki,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ScanError::CaFile {
            path: ca_file.map(Path::to_path_buf).unwrap_or_default(),
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
