//! mTLS enforcement on servers rustls cannot talk to (CBC-only, static-RSA-only, 3DES, RC4,
//! NULL suites; TLS 1.0 and 1.1), with a hand-built TLS 1.0–1.2 handshake.
//!
//! # What can be decided without the key exchange
//! The engine cannot finish these handshakes (it has none of the legacy ciphers), but it need
//! not: a server decides about a missing client certificate when it reads the client's
//! Certificate message, before it has any key material, and TCP delivers the client's
//! messages in order. So the engine
//! 1. offers every suite whose key exchange it can write (static RSA, ECDHE on x25519, P-256
//!    or P-384, DHE) and reads the server's first flight to its ServerHelloDone. No
//!    CertificateRequest there: the server does not ask, so it cannot require (**not
//!    required**);
//! 2. answers with an empty Certificate alone. A server that requires a certificate refuses
//!    it at once, with an alert (OpenSSL `handshake_failure`/`certificate_required`, GnuTLS
//!    `decode_error`) or a close; one that does not waits in silence for the key exchange.
//!    Anything the server says now concerns that Certificate only (**required**);
//! 3. after [`FIRST_WORD`] of silence, sends a well-formed ClientKeyExchange (a random
//!    premaster below the RSA modulus, which servers take without a word since
//!    Bleichenbacher; a real public key of the server's curve; or the DH value 2), a
//!    ChangeCipherSpec and a Finished of random bytes. A server that accepted the empty
//!    Certificate reads on, and the first thing it cannot accept is the Finished it cannot
//!    decrypt or verify: `bad_record_mac`, `decryption_failed` or `decrypt_error` (**not
//!    required**; its alert goes out in clear, as its own ChangeCipherSpec has not). An alert
//!    only a certificate refusal uses (`handshake_failure`, `bad_certificate`,
//!    `certificate_unknown`, `access_denied`, `certificate_required`) is a slow server's
//!    refusal (**required**). Any other alert, or a close without one, decides nothing.
//!
//! The wait only makes the verdict faster or slower, never different: a slow refusal is
//! still read in step 3, or leaves the test undecided when its alert is ambiguous. The
//! well-formed key exchange matters for the same reason: a server that fails on it (a point
//! off the curve) may say `handshake_failure` too. SSLv3 (which signals a missing
//! certificate with a `no_certificate` alert instead) is not examined.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::hello::{self, MAX_FLIGHT};
use super::{Protocol, suites};

/// Why the hand-built handshake decided nothing. The text is the `undecided` reason of an
/// mTLS check (after the modern handshake's own reason).
#[derive(Debug, thiserror::Error)]
pub(crate) enum MtlsError {
    /// No connection.
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// A write to the server failed.
    #[error("sending {what}: {source}")]
    Send {
        /// What was being sent.
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A version outside TLS 1.0–1.2.
    #[error("the server chose version {version:#06x}, not TLS 1.0–1.2")]
    Version { version: u16 },
    /// A suite not offered, or one without a key exchange the engine can write.
    #[error("the server chose suite {suite:#06x}")]
    Suite { suite: u16 },
    /// An alert after the key exchange that does not say what was refused.
    #[error(
        "at {protocol}, the server answered the key exchange after the empty client \
         certificate with alert {name} ({alert}), which does not say which it refused"
    )]
    AmbiguousAlert {
        protocol: Protocol,
        alert: u8,
        name: &'static str,
    },
    /// A close without an alert after the key exchange.
    #[error(
        "at {protocol}, the server closed the connection without an alert after the key \
         exchange that followed the empty client certificate"
    )]
    ClosedAfterKeyExchange { protocol: Protocol },
    /// An RSA suite without a server certificate.
    #[error("no server certificate for an RSA key exchange")]
    NoCertificate,
    /// The server's certificate is not X.509.
    #[error("the server's certificate does not parse: {0}")]
    Certificate(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>),
    /// An RSA suite, but not an RSA key.
    #[error("the server's certificate has no RSA key")]
    NoRsaKey,
    /// An RSA modulus of an implausible size.
    #[error("an RSA modulus of {len} bytes")]
    RsaModulus { len: usize },
    /// An ECDHE or DHE suite without a ServerKeyExchange.
    #[error("no ServerKeyExchange for {suite} suite")]
    NoServerKeyExchange {
        /// `an ECDHE` or `a DHE`.
        suite: &'static str,
    },
    /// A curve the engine has no key for.
    #[error("the server chose curve {curve:#06x}, which picket cannot make a key for")]
    Curve { curve: u16 },
    /// Explicit curve parameters.
    #[error("the server's ECDHE parameters are not a named curve")]
    NotNamedCurve,
    /// ring could not make a key (ring says no more than that).
    #[error("could not make a {curve} key")]
    Key { curve: &'static str },
    /// DHE parameters too short to hold the prime's length.
    #[error("the server's DHE parameters are truncated")]
    DhTruncated,
    /// A DH prime of an implausible size.
    #[error("a DH prime of {len} bytes")]
    DhPrime { len: usize },
    /// A record that is not TLS.
    #[error("the server's answer is not TLS")]
    NotTls,
    /// A flight over the cap.
    #[error("the server sent more than {MAX_FLIGHT} bytes")]
    TooMuch,
    /// A read failed (other than a reset, which is a close).
    #[error("reading from the server: {0}")]
    Read(#[source] std::io::Error),
    /// A handshake message over the cap.
    #[error("a handshake message of {len} bytes")]
    MessageTooLong { len: usize },
    /// An alert instead of the first flight.
    #[error("the server refused the ClientHello with alert {name} ({alert})")]
    HelloRefused { alert: u8, name: &'static str },
    /// A record other than handshake or alert in the first flight.
    #[error("record type {kind} in the server's first flight")]
    RecordType { kind: u8 },
    /// A close in the middle of the first flight.
    #[error("the server closed the connection during its first flight")]
    ClosedInFlight,
    /// A first handshake message that is not a ServerHello.
    #[error("handshake message {kind} before the ServerHello")]
    BeforeServerHello { kind: u8 },
    /// A ServerHello that does not parse.
    #[error("ServerHello: {0}")]
    ServerHello(&'static str),
    /// TLS 1.3 (or its HelloRetryRequest), which this engine does not examine.
    #[error("the server chose TLS 1.3")]
    Tls13,
}

/// The key exchanges the engine can write a ClientKeyExchange for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyExchange {
    Rsa,
    Ecdhe,
    Dhe,
}

fn key_exchange(suite: u16) -> Option<KeyExchange> {
    let (_, name) = suites::TABLE.iter().find(|(id, _)| *id == suite)?;
    let (kx, _) = name.strip_prefix("TLS_")?.split_once("_WITH_")?;
    match kx {
        "RSA" => Some(KeyExchange::Rsa),
        "ECDHE_RSA" | "ECDHE_ECDSA" => Some(KeyExchange::Ecdhe),
        "DHE_RSA" | "DHE_DSS" => Some(KeyExchange::Dhe),
        _ => None,
    }
}

/// How long a server that requires a certificate may take to refuse the empty one before
/// the engine sends the rest of the handshake. Only the speed of the verdict depends on it:
/// a slower refusal is still read after the key exchange (or leaves the test undecided).
const FIRST_WORD: std::time::Duration = std::time::Duration::from_millis(500);

/// The alerts that only a refusal of the client's certificate uses: handshake_failure,
/// no_certificate, bad_certificate, unsupported_certificate, certificate_unknown,
/// access_denied, certificate_required. (GnuTLS says decode_error, which a key exchange it
/// dislikes could earn too: that one counts only before the key exchange is sent.)
const REFUSALS: [u8; 7] = [40, 41, 42, 43, 46, 49, 116];

/// The alerts of a server that got past the client Certificate to the Finished.
const PAST_CERTIFICATE: [u8; 3] = [20, 21, 51];

/// Runs the hand-built handshake on `stream` and says whether the server requires a client
/// certificate. The caller bounds the time by `until`, which also caps the wait for the
/// server's word on the empty Certificate (half of what is left at that point).
pub(crate) async fn decide(
    mut stream: TcpStream,
    sni: Option<&str>,
    until: tokio::time::Instant,
) -> Result<bool, MtlsError> {
    let offer: Vec<u16> = suites::all_before_tls13(true)
        .into_iter()
        .filter(|&id| key_exchange(id).is_some())
        .collect();
    let hello = hello::client_hello(Protocol::Tls12, &offer, sni);
    stream
        .write_all(&hello)
        .await
        .map_err(|source| MtlsError::Send {
            what: "the ClientHello",
            source,
        })?;
    let mut reader = Records::default();
    let flight = reader.first_flight(&mut stream).await?;
    let version = flight.hello.version;
    let protocol = Protocol::from_wire(version)
        .filter(|p| (Protocol::Tls10..=Protocol::Tls12).contains(p))
        .ok_or(MtlsError::Version { version })?;
    if !flight.certificate_request {
        return Ok(false);
    }
    let kx = key_exchange(flight.hello.suite)
        .filter(|_| offer.contains(&flight.hello.suite))
        .ok_or(MtlsError::Suite {
            suite: flight.hello.suite,
        })?;
    let exchange = client_key_exchange(kx, &flight)?;

    // The empty Certificate alone first: a server that does not require one says nothing
    // and waits for the key exchange, so any alert or close now is its refusal.
    stream
        .write_all(&record(22, version, &message(11, &[0, 0, 0])))
        .await
        .map_err(|source| MtlsError::Send {
            what: "the empty client Certificate",
            source,
        })?;
    let left = until.saturating_duration_since(tokio::time::Instant::now());
    let wait = FIRST_WORD.min(left / 2);
    match tokio::time::timeout(wait, reader.next_alert(&mut stream)).await {
        Ok(Ok(_)) => return Ok(true),
        Ok(Err(e)) => return Err(e),
        Err(_) => {} // silence: it waits for the rest
    }

    let mut out = record(22, version, &message(16, &exchange));
    out.extend_from_slice(&record(20, version, &[1]));
    let mut finished = [0u8; 64];
    rand::fill(&mut finished);
    out.extend_from_slice(&record(22, version, &finished));
    stream
        .write_all(&out)
        .await
        .map_err(|source| MtlsError::Send {
            what: "the key exchange",
            source,
        })?;

    match reader.next_alert(&mut stream).await? {
        Some(alert) if PAST_CERTIFICATE.contains(&alert) => Ok(false),
        // A slow server's refusal of the certificate, in words only a refusal uses.
        Some(alert) if REFUSALS.contains(&alert) => Ok(true),
        Some(alert) => Err(MtlsError::AmbiguousAlert {
            protocol,
            alert,
            name: hello::alert_name(alert),
        }),
        None => Err(MtlsError::ClosedAfterKeyExchange { protocol }),
    }
}

/// The ClientKeyExchange body for `kx`, from what the server sent.
fn client_key_exchange(kx: KeyExchange, flight: &Flight) -> Result<Vec<u8>, MtlsError> {
    match kx {
        KeyExchange::Rsa => {
            let leaf = flight
                .certificates
                .first()
                .ok_or(MtlsError::NoCertificate)?;
            let (_, x509) = X509Certificate::from_der(leaf).map_err(MtlsError::Certificate)?;
            let len = match x509.public_key().parsed() {
                Ok(PublicKey::RSA(rsa)) => rsa.modulus.iter().skip_while(|&&b| b == 0).count(),
                _ => return Err(MtlsError::NoRsaKey),
            };
            if !(64..=1024).contains(&len) {
                return Err(MtlsError::RsaModulus { len });
            }
            // Below the modulus (a zero top byte), else random: the server's decryption
            // fails and it goes on with a random premaster, as RFC 5246 7.4.7.1 asks.
            let mut secret = vec![0u8; len];
            rand::fill(&mut secret[1..]);
            let mut body = Vec::with_capacity(len + 2);
            body.extend_from_slice(&u16_len(len).to_be_bytes());
            body.extend_from_slice(&secret);
            Ok(body)
        }
        KeyExchange::Ecdhe => {
            let params = flight
                .key_exchange
                .as_deref()
                .ok_or(MtlsError::NoServerKeyExchange { suite: "an ECDHE" })?;
            let (curve, algorithm) = match params {
                [3, 0x00, 0x1d, ..] => ("x25519", &ring::agreement::X25519),
                [3, 0x00, 0x17, ..] => ("P-256", &ring::agreement::ECDH_P256),
                [3, 0x00, 0x18, ..] => ("P-384", &ring::agreement::ECDH_P384),
                [3, a, b, ..] => {
                    return Err(MtlsError::Curve {
                        curve: u16::from_be_bytes([*a, *b]),
                    });
                }
                _ => return Err(MtlsError::NotNamedCurve),
            };
            let rng = ring::rand::SystemRandom::new();
            let public = ring::agreement::EphemeralPrivateKey::generate(algorithm, &rng)
                .and_then(|key| key.compute_public_key())
                .map_err(|_| MtlsError::Key { curve })?;
            let point = public.as_ref();
            let mut body = Vec::with_capacity(point.len() + 1);
            body.push(u8::try_from(point.len()).unwrap_or(u8::MAX));
            body.extend_from_slice(point);
            Ok(body)
        }
        KeyExchange::Dhe => {
            let params = flight
                .key_exchange
                .as_deref()
                .ok_or(MtlsError::NoServerKeyExchange { suite: "a DHE" })?;
            let p_len = match params {
                [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                _ => return Err(MtlsError::DhTruncated),
            };
            if !(64..=1024).contains(&p_len) {
                return Err(MtlsError::DhPrime { len: p_len });
            }
            // Y = 2: inside [2, p-2], and in the prime-order subgroup of RFC 7919's groups.
            let mut body = Vec::with_capacity(p_len + 2);
            body.extend_from_slice(&u16_len(p_len).to_be_bytes());
            body.resize(p_len + 1, 0);
            body.push(2);
            Ok(body)
        }
    }
}

/// What the server's first flight held, up to its ServerHelloDone.
#[derive(Debug)]
struct Flight {
    hello: hello::ServerHello,
    certificates: Vec<Vec<u8>>,
    /// The ServerKeyExchange body.
    key_exchange: Option<Vec<u8>>,
    certificate_request: bool,
}

/// The server's records as they arrive, at most [`MAX_FLIGHT`] bytes in all.
#[derive(Debug, Default)]
struct Records {
    bytes: Vec<u8>,
    /// Bytes of `bytes` already parsed into records.
    parsed: usize,
    handshake: Vec<u8>,
    /// Bytes of `handshake` already parsed into messages.
    consumed: usize,
}

/// A record's type and payload.
type Record = (u8, Vec<u8>);

impl Records {
    /// The next complete record, reading more as needed; `None` at the end of the stream.
    async fn next(&mut self, stream: &mut TcpStream) -> Result<Option<Record>, MtlsError> {
        loop {
            let rest = &self.bytes[self.parsed..];
            if rest.len() >= 5 {
                let kind = rest[0];
                let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
                if !(20..=23).contains(&kind) || rest[1] != 3 || len > 16384 + 2048 {
                    return Err(MtlsError::NotTls);
                }
                if let Some(payload) = rest.get(5..5 + len) {
                    let record = (kind, payload.to_vec());
                    self.parsed += 5 + len;
                    return Ok(Some(record));
                }
            }
            if self.bytes.len() >= MAX_FLIGHT {
                return Err(MtlsError::TooMuch);
            }
            let mut chunk = [0u8; 4096];
            let room = (MAX_FLIGHT - self.bytes.len()).min(chunk.len());
            match stream.read(&mut chunk[..room]).await {
                Ok(0) => return Ok(None),
                Ok(n) => self.bytes.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(MtlsError::Read(e)),
            }
        }
    }

    /// The next handshake message (type and body).
    async fn message(&mut self, stream: &mut TcpStream) -> Result<Record, MtlsError> {
        loop {
            let pending = &self.handshake[self.consumed..];
            if pending.len() >= 4 {
                let len = usize::from(pending[1]) << 16
                    | usize::from(pending[2]) << 8
                    | usize::from(pending[3]);
                if len > MAX_FLIGHT {
                    return Err(MtlsError::MessageTooLong { len });
                }
                if let Some(body) = pending.get(4..4 + len) {
                    let message = (pending[0], body.to_vec());
                    self.consumed += 4 + len;
                    return Ok(message);
                }
            }
            match self.next(stream).await? {
                Some((22, payload)) => self.handshake.extend_from_slice(&payload),
                Some((21, alert)) => {
                    let description = alert.get(1).copied().unwrap_or(0);
                    return Err(MtlsError::HelloRefused {
                        alert: description,
                        name: hello::alert_name(description),
                    });
                }
                Some((kind, _)) => return Err(MtlsError::RecordType { kind }),
                None => return Err(MtlsError::ClosedInFlight),
            }
        }
    }

    /// Reads the server's first flight to its ServerHelloDone.
    async fn first_flight(&mut self, stream: &mut TcpStream) -> Result<Flight, MtlsError> {
        let (kind, body) = self.message(stream).await?;
        if kind != 2 {
            return Err(MtlsError::BeforeServerHello { kind });
        }
        let hello = hello::parse_server_hello(&body).map_err(MtlsError::ServerHello)?;
        let mut flight = Flight {
            hello,
            certificates: Vec::new(),
            key_exchange: None,
            certificate_request: false,
        };
        if flight.hello.version >= Protocol::Tls13.wire() || flight.hello.retry {
            return Err(MtlsError::Tls13);
        }
        loop {
            let (kind, body) = self.message(stream).await?;
            match kind {
                11 => flight.certificates = hello::parse_certificates(&body),
                12 => flight.key_exchange = Some(body),
                13 => flight.certificate_request = true,
                14 => return Ok(flight),
                _ => {} // CertificateStatus and the like
            }
        }
    }

    /// The description of the first alert the server sends, `None` if it closes first.
    async fn next_alert(&mut self, stream: &mut TcpStream) -> Result<Option<u8>, MtlsError> {
        loop {
            match self.next(stream).await? {
                Some((21, alert)) => return Ok(alert.get(1).copied()),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(kind);
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(body);
    out
}

fn record(kind: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(kind);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&u16_len(payload.len()).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn u16_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_suites_with_a_key_exchange_picket_can_write_are_offered() {
        assert_eq!(key_exchange(0x002f), Some(KeyExchange::Rsa)); // RSA_WITH_AES_128_CBC_SHA
        assert_eq!(key_exchange(0x0005), Some(KeyExchange::Rsa)); // RSA_WITH_RC4_128_SHA
        assert_eq!(key_exchange(0xc013), Some(KeyExchange::Ecdhe)); // ECDHE_RSA AES128 CBC
        assert_eq!(key_exchange(0x0033), Some(KeyExchange::Dhe)); // DHE_RSA AES128 CBC
        assert_eq!(key_exchange(0x0034), None); // DH_anon: no CertificateRequest possible
        assert_eq!(key_exchange(0x1301), None); // TLS 1.3
    }

    /// A loopback server that answers the ClientHello with `flight` and then closes.
    async fn against(flight: Vec<u8>) -> Result<bool, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut hello = [0u8; 4096];
                let _ = socket.read(&mut hello).await;
                let _ = socket.write_all(&flight).await;
            }
        });
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let verdict = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            decide(
                stream,
                None,
                tokio::time::Instant::now() + std::time::Duration::from_secs(5),
            ),
        )
        .await
        .map_err(|_| "hung".to_string())?;
        let _ = server.await;
        verdict.map_err(|e| e.to_string())
    }

    fn server_hello(suite: u16) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        message(2, &body)
    }

    #[tokio::test]
    async fn hostile_or_odd_flights_give_reasons_not_panics() {
        // No CertificateRequest before ServerHelloDone: the server does not ask.
        let mut plain = server_hello(0x002f);
        plain.extend_from_slice(&message(14, &[]));
        assert_eq!(against(record(22, 0x0303, &plain)).await, Ok(false));

        // It asks, but an RSA suite without a certificate leaves nothing to encrypt to.
        let mut asks = server_hello(0x002f);
        asks.extend_from_slice(&message(13, &[1, 1, 0, 0, 0, 0]));
        asks.extend_from_slice(&message(14, &[]));
        let why = against(record(22, 0x0303, &asks)).await.unwrap_err();
        assert!(why.contains("no server certificate"), "{why}");

        // An ECDHE suite on a curve picket cannot make a key for (x448).
        let mut x448 = server_hello(0xc013);
        x448.extend_from_slice(&message(12, &[3, 0x00, 0x1e, 1, 0]));
        x448.extend_from_slice(&message(13, &[1, 1, 0, 0, 0, 0]));
        x448.extend_from_slice(&message(14, &[]));
        let why = against(record(22, 0x0303, &x448)).await.unwrap_err();
        assert!(why.contains("0x001e"), "{why}");

        // Not TLS, a truncated hello, an alert, silence then a close, a suite not offered.
        let mut truncated = record(22, 0x0303, &server_hello(0x002f));
        truncated.truncate(20);
        let mut unoffered = server_hello(0x0034);
        unoffered.extend_from_slice(&message(13, &[1, 1, 0, 0, 0, 0]));
        unoffered.extend_from_slice(&message(14, &[]));
        for flight in [
            b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
            truncated,
            record(21, 0x0303, &[2, 40]),
            Vec::new(),
            record(22, 0x0303, &unoffered),
            record(22, 0x0303, &[2, 0xff, 0xff, 0xff]),
        ] {
            assert!(against(flight).await.is_err());
        }
    }

    #[test]
    fn alerts_that_decide_are_disjoint() {
        assert!(REFUSALS.iter().all(|a| !PAST_CERTIFICATE.contains(a)));
    }
}
