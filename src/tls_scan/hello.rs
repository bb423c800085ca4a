//! Hand-built ClientHellos and a bounded parser for the server's first flight.
//!
//! rustls cannot offer SSLv3, TLS 1.0/1.1 or weak suites, so for those the engine does what
//! testssl.sh and sslscan do: it writes the ClientHello record itself on a plain TCP stream
//! and reads the answer far enough to learn the server's choice (ServerHello: version and
//! suite), its refusal (an alert, or a closed connection), and, for TLS 1.2 and older where
//! it is sent in clear, its certificate chain. No key is ever derived: the connection is
//! dropped after the first flight.
//!
//! Every read is capped at [`MAX_FLIGHT`] bytes and every length field is checked against
//! the bytes actually there, so a hostile peer gets an [`Flight::Invalid`], never a panic.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Protocol;
use super::suites;

/// The most bytes read from a server per hand-built handshake: a ServerHello and a
/// certificate chain of ordinary size fit many times over.
pub const MAX_FLIGHT: usize = 48 * 1024;

/// The largest TLS record allowed (2^14 plus the expansion allowance of RFC 5246 6.2.3).
const MAX_RECORD: usize = 16384 + 2048;

/// Certificates kept from one Certificate message; longer chains are cut (and fail trust).
const MAX_CHAIN: usize = 16;

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446 4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Named groups offered: the modern ones first, then older curves and the RFC 7919 groups,
/// so that a server with any common (EC)DHE setting finds one.
const GROUPS: [u16; 14] = [
    0x001d, 0x0017, 0x0018, 0x0019, 0x001e, // x25519, P-256, P-384, P-521, x448
    0x0016, 0x0015, 0x0013, 0x000e, 0x000d, // secp256k1, secp224r1, secp192r1, sect571*
    0x0100, 0x0101, 0x0102, 0x0103, // ffdhe2048..6144
];

/// Signature schemes offered in TLS 1.2 and 1.3 hellos, SHA-1 included so that a server
/// with only an old certificate still answers (and its weakness is reported).
const SIGNATURE_SCHEMES: [u16; 23] = [
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080a, 0x080b, 0x0401,
    0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602, 0x0203, 0x0201, 0x0202,
];

/// Builds a complete ClientHello record offering `protocol` (as the highest version) and
/// `suites`, with SNI for `sni` when it is a DNS name.
pub(crate) fn client_hello(protocol: Protocol, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    let mut session_id = [0u8; 32];
    rand::fill(&mut session_id);

    let mut body = Vec::with_capacity(1024);
    let legacy_version = match protocol {
        Protocol::Tls13 => Protocol::Tls12.wire(),
        other => other.wire(),
    };
    put_u16(&mut body, legacy_version);
    body.extend_from_slice(&random);
    // A session id of 32 random bytes is what TLS 1.3 middlebox compatibility mode sends and
    // what every older server ignores (it cannot resume an id it never issued).
    body.push(32);
    body.extend_from_slice(&session_id);
    let mut offered = suites.to_vec();
    if protocol != Protocol::Tls13 {
        offered.push(suites::RENEGOTIATION_SCSV);
    }
    put_u16(&mut body, u16_len(offered.len() * 2));
    for suite in offered {
        put_u16(&mut body, suite);
    }
    body.extend_from_slice(&[1, 0]); // compression methods: null only

    // SSLv3 servers predate extensions; some of them fail on any.
    if protocol != Protocol::Ssl3 {
        let mut extensions = extensions(protocol, sni);
        // RFC 7685: hellos of 256 to 511 bytes hang some F5 load balancers; pad past them.
        let unpadded = 4 + body.len() + 2 + extensions.len();
        if (256..512).contains(&unpadded) {
            let pad = (512 - unpadded).saturating_sub(4).max(1);
            put_u16(&mut extensions, 0x0015);
            put_u16(&mut extensions, u16_len(pad));
            extensions.resize(extensions.len() + pad, 0);
        }
        put_u16(&mut body, u16_len(extensions.len()));
        body.extend_from_slice(&extensions);
    }

    let mut handshake = Vec::with_capacity(body.len() + 4);
    handshake.push(1); // client_hello
    put_u24(&mut handshake, body.len());
    handshake.extend_from_slice(&body);

    let mut record = Vec::with_capacity(handshake.len() + 5);
    record.push(22); // handshake
    // The record layer says TLS 1.0 for every later version, as browsers do: some old
    // servers drop a record whose version they do not know.
    let record_version = if protocol == Protocol::Ssl3 {
        Protocol::Ssl3.wire()
    } else {
        Protocol::Tls10.wire()
    };
    put_u16(&mut record, record_version);
    put_u16(&mut record, u16_len(handshake.len()));
    record.extend_from_slice(&handshake);
    record
}

fn extensions(protocol: Protocol, sni: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    if let Some(name) = sni {
        let name = name.as_bytes();
        let mut list = Vec::with_capacity(name.len() + 3);
        list.push(0); // host_name
        put_u16(&mut list, u16_len(name.len()));
        list.extend_from_slice(name);
        let mut data = Vec::with_capacity(list.len() + 2);
        put_u16(&mut data, u16_len(list.len()));
        data.extend_from_slice(&list);
        put_extension(&mut out, 0x0000, &data);
    }
    let mut groups = Vec::with_capacity(GROUPS.len() * 2 + 2);
    put_u16(&mut groups, u16_len(GROUPS.len() * 2));
    for group in GROUPS {
        put_u16(&mut groups, group);
    }
    put_extension(&mut out, 0x000a, &groups); // supported_groups
    put_extension(&mut out, 0x000b, &[3, 0, 1, 2]); // ec_point_formats
    if protocol >= Protocol::Tls12 {
        let mut schemes = Vec::with_capacity(SIGNATURE_SCHEMES.len() * 2 + 2);
        put_u16(&mut schemes, u16_len(SIGNATURE_SCHEMES.len() * 2));
        for scheme in SIGNATURE_SCHEMES {
            put_u16(&mut schemes, scheme);
        }
        put_extension(&mut out, 0x000d, &schemes); // signature_algorithms
    }
    put_extension(&mut out, 0x0017, &[]); // extended_master_secret
    put_extension(&mut out, 0x0023, &[]); // session_ticket
    if protocol == Protocol::Tls13 {
        put_extension(&mut out, 0x002b, &[2, 0x03, 0x04]); // supported_versions: 1.3 only
        put_extension(&mut out, 0x002d, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
        // An x25519 share of random bytes: any 32 bytes are a valid public key, and the
        // connection ends before a secret would be used. A server that wants another group
        // answers with a HelloRetryRequest, which shows TLS 1.3 support just as well.
        let mut share = [0u8; 32];
        rand::fill(&mut share);
        let mut data = Vec::with_capacity(40);
        put_u16(&mut data, 36);
        put_u16(&mut data, 0x001d);
        put_u16(&mut data, 32);
        data.extend_from_slice(&share);
        put_extension(&mut out, 0x0033, &data); // key_share
    }
    out
}

fn put_extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    put_u16(out, kind);
    put_u16(out, u16_len(data.len()));
    out.extend_from_slice(data);
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, value: usize) {
    let bytes = u32::try_from(value).unwrap_or(u32::MAX).to_be_bytes();
    out.extend_from_slice(&bytes[1..]);
}

/// Lengths in a hello are bounded by the tables above, far below 64 KiB.
fn u16_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// What the server's first flight says, as far as it has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flight {
    /// Not enough bytes yet to decide.
    NeedMore,
    /// The server chose a version and a suite.
    Hello(ServerHello),
    /// The server refused with an alert before any ServerHello.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The alert description (RFC 8446 6).
        description: u8,
    },
    /// The bytes are not a TLS server's answer.
    Invalid(String),
}

/// The parts of a ServerHello the engine uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version chosen: `supported_versions` when present (TLS 1.3), else the legacy field.
    pub version: u16,
    /// The suite chosen.
    pub suite: u16,
    /// A HelloRetryRequest: TLS 1.3 chosen, another key share wanted.
    pub retry: bool,
    /// The certificate chain, leaf first, when it was asked for and sent in clear.
    pub certificates: Option<Vec<Vec<u8>>>,
}

/// Parses the server's answer to a ClientHello from the bytes read so far. `eof` says no more
/// bytes will come: what was read is then all there is. `want_certificates` reads on past the
/// ServerHello to the Certificate message (TLS 1.2 and older).
///
/// Total: any input gives a [`Flight`], never a panic, in time linear in its length.
pub fn parse_flight(bytes: &[u8], want_certificates: bool, eof: bool) -> Flight {
    let mut handshake = Vec::new();
    let mut rest = bytes;
    let mut hello: Option<ServerHello> = None;
    let mut consumed = 0usize; // handshake bytes already parsed into messages
    loop {
        // Parse every complete handshake message buffered so far.
        loop {
            let pending = &handshake[consumed..];
            if pending.len() < 4 {
                break;
            }
            let kind = pending[0];
            let len = usize::from(pending[1]) << 16
                | usize::from(pending[2]) << 8
                | usize::from(pending[3]);
            if len > MAX_FLIGHT {
                return Flight::Invalid(format!("handshake message of {len} bytes"));
            }
            let Some(body) = pending.get(4..4 + len) else {
                break;
            };
            consumed += 4 + len;
            match (&mut hello, kind) {
                (None, 2) => match parse_server_hello(body) {
                    // TLS 1.3 encrypts the certificate: the ServerHello is all there is.
                    Ok(parsed)
                        if !want_certificates
                            || parsed.retry
                            || parsed.version >= Protocol::Tls13.wire() =>
                    {
                        return Flight::Hello(parsed);
                    }
                    Ok(parsed) => hello = Some(parsed),
                    Err(why) => return Flight::Invalid(format!("ServerHello: {why}")),
                },
                (None, other) => {
                    return Flight::Invalid(format!(
                        "handshake message {other} before ServerHello"
                    ));
                }
                (Some(found), 11) => {
                    found.certificates = Some(parse_certificates(body));
                    return Flight::Hello(found.clone());
                }
                // ServerHelloDone: the flight is over without a certificate (anonymous suites).
                (Some(found), 14) => return Flight::Hello(found.clone()),
                (Some(_), _) => {} // ServerKeyExchange, CertificateRequest, CertificateStatus …
            }
        }

        if rest.is_empty() {
            break;
        }
        if rest.len() < 5 {
            if rest[0] < 20 || rest[0] > 23 {
                return Flight::Invalid(not_tls(rest));
            }
            break;
        }
        let kind = rest[0];
        let major = rest[1];
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if !(20..=23).contains(&kind) || major != 3 || len > MAX_RECORD {
            return Flight::Invalid(not_tls(rest));
        }
        let Some(payload) = rest.get(5..5 + len) else {
            break;
        };
        rest = &rest[5 + len..];
        match kind {
            22 => handshake.extend_from_slice(payload),
            21 if hello.is_none() => {
                if payload.len() < 2 {
                    return Flight::Invalid("truncated alert".into());
                }
                return Flight::Alert {
                    level: payload[0],
                    description: payload[1],
                };
            }
            // An alert, ChangeCipherSpec or data after the ServerHello ends what we can read.
            _ => {
                return match hello {
                    Some(found) => Flight::Hello(found),
                    None => Flight::Invalid(format!("record type {kind} before ServerHello")),
                };
            }
        }
    }
    match hello {
        Some(found) if eof => Flight::Hello(found),
        _ => Flight::NeedMore,
    }
}

fn not_tls(bytes: &[u8]) -> String {
    let head: String = bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    format!("not a TLS record (starts {head})")
}

/// A cursor over untrusted bytes: every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated");
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Result<usize, &'static str> {
        let b = self.take(3)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}

pub(super) fn parse_server_hello(body: &[u8]) -> Result<ServerHello, &'static str> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    let random = r.take(32)?;
    let session_id_len = usize::from(r.u8()?);
    if session_id_len > 32 {
        return Err("session id longer than 32 bytes");
    }
    r.take(session_id_len)?;
    let suite = r.u16()?;
    let _compression = r.u8()?;
    let mut version = legacy_version;
    if !r.0.is_empty() {
        let len = usize::from(r.u16()?);
        let mut extensions = Reader(r.take(len)?);
        while !extensions.0.is_empty() {
            let kind = extensions.u16()?;
            let len = usize::from(extensions.u16()?);
            let data = extensions.take(len)?;
            if kind == 0x002b {
                version = Reader(data).u16()?;
            }
        }
    }
    Ok(ServerHello {
        version,
        suite,
        retry: random == HELLO_RETRY_RANDOM,
        certificates: None,
    })
}

/// The DER certificates of a TLS 1.2 Certificate message, at most [`MAX_CHAIN`], stopping at
/// the first malformed entry.
pub(super) fn parse_certificates(body: &[u8]) -> Vec<Vec<u8>> {
    let mut chain = Vec::new();
    let mut r = Reader(body);
    let Ok(total) = r.u24() else { return chain };
    let Ok(list) = r.take(total) else {
        return chain;
    };
    let mut entries = Reader(list);
    while chain.len() < MAX_CHAIN {
        let Ok(len) = entries.u24() else { break };
        let Ok(der) = entries.take(len) else { break };
        chain.push(der.to_vec());
    }
    chain
}

/// How one hand-built handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A ServerHello.
    Hello(ServerHello),
    /// An alert before any ServerHello.
    Alert(u8),
    /// The server closed the connection without a word.
    Closed,
    /// The server reset the connection.
    Reset,
    /// The answer is not TLS, or the socket failed otherwise.
    Broken(String),
}

/// Writes `hello` on `stream` and reads the answer, at most [`MAX_FLIGHT`] bytes. The caller
/// bounds the time.
pub(crate) async fn exchange(
    mut stream: TcpStream,
    hello: &[u8],
    want_certificates: bool,
) -> Answer {
    if let Err(e) = stream.write_all(hello).await {
        return io_answer(&e);
    }
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut chunk = [0u8; 4096];
    loop {
        let room = MAX_FLIGHT - buf.len();
        let eof = match stream.read(&mut chunk[..room.min(4096)]).await {
            Ok(0) => true,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                buf.len() >= MAX_FLIGHT
            }
            Err(e) if buf.is_empty() => return io_answer(&e),
            Err(_) => true,
        };
        match parse_flight(&buf, want_certificates, eof) {
            Flight::NeedMore if !eof => continue,
            Flight::NeedMore if buf.is_empty() => return Answer::Closed,
            Flight::NeedMore if buf.len() >= MAX_FLIGHT => {
                return Answer::Broken(format!("no ServerHello in the first {MAX_FLIGHT} bytes"));
            }
            Flight::NeedMore => return Answer::Broken("answer cut short".into()),
            Flight::Hello(hello) => return Answer::Hello(hello),
            Flight::Alert { description, .. } => return Answer::Alert(description),
            Flight::Invalid(why) => return Answer::Broken(why),
        }
    }
}

fn io_answer(e: &std::io::Error) -> Answer {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe => Answer::Reset,
        UnexpectedEof => Answer::Closed,
        _ => Answer::Broken(e.to_string()),
    }
}

/// The name of a TLS alert description (RFC 8446 6, RFC 5246 7.2).
pub(crate) fn alert_name(description: u8) -> &'static str {
    match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown alert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 3, 3];
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        put_u24(&mut out, body.len());
        out.extend_from_slice(body);
        out
    }

    fn server_hello(version: u16, suite: u16, supported_version: Option<u16>) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        if let Some(v) = supported_version {
            body.extend_from_slice(&6u16.to_be_bytes());
            body.extend_from_slice(&[0, 0x2b, 0, 2]);
            body.extend_from_slice(&v.to_be_bytes());
        }
        message(2, &body)
    }

    #[test]
    fn a_tls12_server_hello_split_over_records_with_its_certificate() {
        let mut flight = server_hello(0x0303, 0x000a, None);
        let mut certs = Vec::new();
        put_u24(&mut certs, 6);
        put_u24(&mut certs, 3);
        certs.extend_from_slice(b"abc");
        flight.extend_from_slice(&message(11, &certs));
        flight.extend_from_slice(&message(14, &[]));
        let (a, b) = flight.split_at(20);
        let mut bytes = record(22, a);
        bytes.extend_from_slice(&record(22, b));
        let Flight::Hello(hello) = parse_flight(&bytes, true, false) else {
            panic!("no hello")
        };
        assert_eq!((hello.version, hello.suite), (0x0303, 0x000a));
        assert_eq!(hello.certificates, Some(vec![b"abc".to_vec()]));
        assert_eq!(parse_flight(&bytes[..30], true, false), Flight::NeedMore);
    }

    #[test]
    fn supported_versions_decides_tls13_and_alerts_are_refusals() {
        let bytes = record(22, &server_hello(0x0303, 0x1301, Some(0x0304)));
        let Flight::Hello(hello) = parse_flight(&bytes, true, false) else {
            panic!("no hello")
        };
        assert_eq!(hello.version, 0x0304);
        assert_eq!(
            parse_flight(&record(21, &[2, 70]), false, false),
            Flight::Alert {
                level: 2,
                description: 70
            }
        );
        assert!(matches!(
            parse_flight(b"HTTP/1.1 400 Bad", false, false),
            Flight::Invalid(_)
        ));
    }

    #[test]
    fn hellos_carry_sni_only_when_asked_and_avoid_the_f5_sizes() {
        for protocol in [
            Protocol::Ssl3,
            Protocol::Tls10,
            Protocol::Tls12,
            Protocol::Tls13,
        ] {
            for sni in [None, Some("service.internal")] {
                let hello = client_hello(protocol, &suites::all_before_tls13(true), sni);
                // SSLv3 hellos carry no extensions, so no padding either.
                let handshake_len = hello.len() - 5;
                assert!(
                    protocol == Protocol::Ssl3 || !(256..512).contains(&handshake_len),
                    "{protocol:?} {handshake_len}"
                );
                let has_sni = hello.windows(16).any(|w| w == b"service.internal");
                assert_eq!(has_sni, sni.is_some() && protocol != Protocol::Ssl3);
            }
        }
    }

    proptest! {
        #[test]
        fn any_answer_parses_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            want in any::<bool>(),
            eof in any::<bool>(),
        ) {
            let _ = parse_flight(&bytes, want, eof);
        }

        #[test]
        fn answers_that_look_like_tls_parse_without_panic(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            kind in prop_oneof![Just(2u8), Just(11u8), Just(14u8), any::<u8>()],
            cut in 0usize..700,
        ) {
            let mut flight = server_hello(0x0303, 0x002f, None);
            flight.extend_from_slice(&message(kind, &body));
            let bytes = record(22, &flight);
            let cut = cut.min(bytes.len());
            let _ = parse_flight(&bytes[..cut], true, true);
            let _ = parse_flight(&record(22, &message(2, &body)), true, false);
        }
    }
}
