//! The TLS scanning engine: which protocol versions and weak cipher suites a server accepts,
//! what its certificate says, and whether it lets in a client without a certificate.
//!
//! [`scan`] takes an [`Endpoint`] and a [`Plan`] and returns a [`Report`] of facts; judging
//! them against a probe's checks is the caller's business (a failed check is data, not an
//! error). Only infrastructure faults are a [`ScanError`]: a name that does not resolve, a
//! port that refuses the first connection, an unreadable `ca_file`.
//!
//! # How
//! - **Protocol versions** (SSLv3, TLS 1.0, 1.1, 1.2, 1.3), each tried separately with a
//!   ClientHello the engine builds itself ([`hello`]), as testssl.sh and sslscan do: the
//!   version is accepted when the ServerHello chooses exactly it (a HelloRetryRequest counts
//!   for TLS 1.3), refused on an alert, a close, a reset or another version.
//! - **Weak suites**: for every accepted version up to TLS 1.2, the suites outside Mozilla's
//!   intermediate profile ([`suites`]) are offered, the server's pick is recorded and
//!   removed, and the hello is sent again until the server refuses: one handshake per
//!   accepted suite plus one.
//! - **Certificate** and **mTLS**: one ordinary rustls handshake ([`modern`]) records the
//!   chain a modern client gets, the negotiated version and suite, and how the server treats
//!   a client without a certificate. The chain is judged afterwards ([`cert`]). When rustls
//!   cannot connect (a TLS 1.0-only server), the chain comes from a hand-built handshake.
//!
//! # Bounds
//! Every connection goes to one address: `host` is resolved once and the first address is
//! used for the whole scan, so DNS cannot move the scan elsewhere halfway (use [`scan_at`] to
//! give the address yourself, e.g. after a containment check). Connections are made one at
//! a time, each exchange gets at most a quarter of the timeout (at least a second) and the
//! whole scan the timeout; a step that runs out of time is reported unknown, not failed.
//! A hand-built handshake reads at most 48 KiB, the rustls one 64 KiB; every parse is
//! bounded and fallible. A full plan against a modern server costs 7 handshakes; each weak
//! suite accepted adds one, and the mTLS test one more when rustls cannot connect; at most
//! [`MAX_HANDSHAKES`] are made.
//!
//! # What it cannot detect
//! - SSLv2: no SSLv2 hello is sent (no supported server still speaks it by default).
//! - Suites outside the table: PSK, SRP, Kerberos, GOST and FORTEZZA suites are not
//!   offered (they need credentials or are not deployed), so never reported.
//! - Only the version and suite choice is tested: no key exchange is completed in the
//!   hand-built handshakes, so a server that picks a suite it then fails to use is still
//!   reported as accepting it (as testssl.sh does).
//! - Other vulnerabilities (Heartbleed, renegotiation, compression, ROBOT, …), DH parameter
//!   sizes, curve lists, suite order, OCSP stapling and revocation are not examined.
//! - Certificates: no revocation (OCSP, CRL) or Certificate Transparency check; the server's
//!   handshake signature is not verified, so possession of the key is not proven (the
//!   engine sends the server nothing but handshakes). The chain reported is the one a
//!   modern client gets for the SNI sent; a server with several certificates (RSA and
//!   ECDSA) may show others to older clients. Without `server_name`, an IP-literal host
//!   sends no SNI and gets the server's default certificate.
//! - mTLS on servers rustls cannot talk to (legacy suites or versions only) is decided with a
//!   hand-built TLS 1.0–1.2 handshake that sends an empty client Certificate ([`mtls`]
//!   explains what can be told without the key exchange); not at SSLv3.
//! - mTLS: only the handshake is judged. A server that asks for a certificate only on a
//!   renegotiation for some paths (TLS 1.2 per-location client auth), or that checks it at
//!   the HTTP layer, is reported as not requiring one. In TLS 1.3 a server that says
//!   nothing for [`modern::MTLS_GRACE`] after the client's Finished is taken as accepting.
//! - Several addresses behind one name: only the first is scanned.

pub mod cert;
pub mod hello;
pub mod modern;
mod mtls;
pub mod suites;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub use cert::{Certificate, Key, Untrusted, WeakHash};
pub use suites::{Class, Suite};

use hello::Answer;

/// The most handshakes one scan makes, weak-suite enumeration included.
pub const MAX_HANDSHAKES: usize = 160;

/// Where to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// IP literal (IPv6 with or without brackets) or DNS name, as in the target URL.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The name sent as SNI and matched against the certificate, instead of `host`.
    pub server_name: Option<String>,
    /// Extra trust anchors (PEM, or one DER certificate); a self-signed server certificate
    /// given here is trusted as itself.
    pub ca_file: Option<PathBuf>,
}

/// What to find out. Protocol versions are tried whenever `protocols` or `ciphers` is set,
/// and the modern handshake is always made (it gives [`Report::negotiated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Which protocol versions the server accepts.
    pub protocols: bool,
    /// Which weak suites it accepts.
    pub ciphers: bool,
    /// The certificate and its chain.
    pub certificate: bool,
    /// Whether a client without a certificate gets in.
    pub client_cert_required: bool,
}

impl Plan {
    /// Everything.
    pub fn full() -> Plan {
        Plan {
            protocols: true,
            ciphers: true,
            certificate: true,
            client_cert_required: true,
        }
    }
}

/// A TLS (or SSL) protocol version, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// SSL 3.0.
    Ssl3,
    /// TLS 1.0.
    Tls10,
    /// TLS 1.1.
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl Protocol {
    /// Every version, oldest first.
    pub const ALL: [Protocol; 5] = [
        Protocol::Ssl3,
        Protocol::Tls10,
        Protocol::Tls11,
        Protocol::Tls12,
        Protocol::Tls13,
    ];

    /// The version's code on the wire.
    pub fn wire(self) -> u16 {
        match self {
            Protocol::Ssl3 => 0x0300,
            Protocol::Tls10 => 0x0301,
            Protocol::Tls11 => 0x0302,
            Protocol::Tls12 => 0x0303,
            Protocol::Tls13 => 0x0304,
        }
    }

    /// The version with wire code `code`.
    pub fn from_wire(code: u16) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.wire() == code)
    }

    /// The name probes use: `ssl3`, `tls1.0`, `tls1.1`, `tls1.2`, `tls1.3`.
    pub fn id(self) -> &'static str {
        match self {
            Protocol::Ssl3 => "ssl3",
            Protocol::Tls10 => "tls1.0",
            Protocol::Tls11 => "tls1.1",
            Protocol::Tls12 => "tls1.2",
            Protocol::Tls13 => "tls1.3",
        }
    }

    /// OpenTelemetry `tls.protocol.name`: `ssl` or `tls`.
    pub fn otel_name(self) -> &'static str {
        if self == Protocol::Ssl3 { "ssl" } else { "tls" }
    }

    /// OpenTelemetry `tls.protocol.version`: `3`, `1.0` … `1.3`.
    pub fn otel_version(self) -> &'static str {
        match self {
            Protocol::Ssl3 => "3",
            Protocol::Tls10 => "1.0",
            Protocol::Tls11 => "1.1",
            Protocol::Tls12 => "1.2",
            Protocol::Tls13 => "1.3",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Ssl3 => "SSLv3",
            Protocol::Tls10 => "TLS 1.0",
            Protocol::Tls11 => "TLS 1.1",
            Protocol::Tls12 => "TLS 1.2",
            Protocol::Tls13 => "TLS 1.3",
        })
    }
}

/// Whether the server completes a ServerHello at one protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// It chose this version, with `suite`.
    Accepted {
        /// The suite it chose from everything offered.
        suite: Suite,
    },
    /// It would not.
    Refused {
        /// How it said no.
        how: Refusal,
    },
    /// The engine could not tell (timeout, not TLS, a suite it never offered …).
    Unknown {
        /// Why.
        why: String,
    },
}

impl Support {
    /// True when accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Support::Accepted { .. })
    }
}

/// How a server refused a protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A TLS alert, by description code (70 protocol_version, 40 handshake_failure …).
    Alert {
        /// RFC 8446 6 alert description.
        description: u8,
    },
    /// The connection closed without an answer.
    Closed,
    /// The connection was reset.
    Reset,
    /// The server answered with another version (wire code).
    OtherVersion {
        /// The version the server chose instead.
        version: u16,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Alert { description } => {
                write!(
                    f,
                    "alert {} ({description})",
                    hello::alert_name(*description)
                )
            }
            Refusal::Closed => f.write_str("connection closed"),
            Refusal::Reset => f.write_str("connection reset"),
            Refusal::OtherVersion { version } => match Protocol::from_wire(*version) {
                Some(p) => write!(f, "server chose {p} instead"),
                None => write!(f, "server chose version {version:#06x} instead"),
            },
        }
    }
}

/// A weak suite the server accepted, and at which versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakSuite {
    /// The suite, with its classes.
    pub suite: Suite,
    /// The versions it was accepted at, oldest first.
    pub protocols: Vec<Protocol>,
}

/// The version and suite a handshake settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Protocol version.
    pub protocol: Protocol,
    /// Cipher suite.
    pub suite: Suite,
    /// True when it comes from the modern (rustls) handshake; false when rustls could not
    /// connect and this is the newest version a hand-built handshake saw accepted.
    pub modern: bool,
}

/// Why a fact could not be established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecided(pub String);

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a scan found. Parts not in the [`Plan`] are empty or `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The address scanned.
    pub addr: SocketAddr,
    /// Each version tried.
    pub protocols: BTreeMap<Protocol, Support>,
    /// Weak suites accepted (TLS 1.2, and older versions when accepted), by IANA id.
    pub weak_suites: Vec<WeakSuite>,
    /// Set when the weak-suite enumeration stopped before the server refused (timeout,
    /// handshake budget, a protocol violation): `weak_suites` may then be incomplete.
    pub weak_suites_incomplete: Option<Undecided>,
    /// The certificate, or why there is none.
    pub certificate: Option<Result<Certificate, Undecided>>,
    /// Whether a handshake without a client certificate is refused.
    pub client_cert_required: Option<Result<bool, Undecided>>,
    /// The version and suite of a normal modern handshake.
    pub negotiated: Option<Negotiated>,
    /// Handshakes made.
    pub handshakes: usize,
}

impl Report {
    /// OpenTelemetry `tls.*` span attributes (semantic conventions): protocol, cipher and
    /// server certificate facts that are known.
    pub fn span_attributes(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(n) = &self.negotiated {
            out.push(("tls.protocol.name", n.protocol.otel_name().to_string()));
            out.push((
                "tls.protocol.version",
                n.protocol.otel_version().to_string(),
            ));
            out.push(("tls.cipher", n.suite.name.to_string()));
        }
        if let Some(Ok(c)) = &self.certificate {
            out.push(("tls.server.hash.sha256", c.sha256.clone()));
            out.push(("tls.server.not_after", rfc3339(c.not_after)));
            out.push(("tls.server.not_before", rfc3339(c.not_before)));
            out.push(("tls.server.subject", c.subject.clone()));
            out.push(("tls.server.issuer", c.issuer.clone()));
        }
        out
    }
}

fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Infrastructure faults: nothing could be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// `host` or `server_name` is neither an IP address nor a DNS name.
    #[error("{name:?} is not a valid host name or IP address")]
    Name {
        /// The offending name.
        name: String,
    },
    /// The host name did not resolve.
    #[error("could not resolve {host}: {detail}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's message.
        detail: String,
    },
    /// The first TCP connection failed.
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// Resolution or the first connection did not finish within the timeout.
    #[error("no connection to {host} within the timeout")]
    Timeout {
        /// The host.
        host: String,
    },
    /// The `ca_file` could not be used.
    #[error("ca_file {}: {detail}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

/// Scans `endpoint` within `timeout`: resolves its host once and scans the first address.
pub async fn scan(
    endpoint: &Endpoint,
    plan: &Plan,
    timeout: Duration,
) -> Result<Report, ScanError> {
    let deadline = Instant::now() + timeout;
    let host = bare_host(&endpoint.host);
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, endpoint.port),
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, endpoint.port));
            let mut addrs = tokio::time::timeout_at(deadline, lookup)
                .await
                .map_err(|_| ScanError::Timeout {
                    host: host.to_string(),
                })?
                .map_err(|e| ScanError::Resolve {
                    host: host.to_string(),
                    detail: e.to_string(),
                })?;
            addrs.next().ok_or_else(|| ScanError::Resolve {
                host: host.to_string(),
                detail: "no address".into(),
            })?
        }
    };
    scan_until(endpoint, addr, plan, timeout, deadline).await
}

/// Scans `endpoint` at `addr`, which the caller resolved (and vetted): no name is resolved
/// and no other address is contacted. `endpoint.host` still gives SNI and the name checked.
pub async fn scan_at(
    endpoint: &Endpoint,
    addr: SocketAddr,
    plan: &Plan,
    timeout: Duration,
) -> Result<Report, ScanError> {
    scan_until(endpoint, addr, plan, timeout, Instant::now() + timeout).await
}

/// `[::1]` as written in URLs, without brackets.
fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

async fn scan_until(
    endpoint: &Endpoint,
    addr: SocketAddr,
    plan: &Plan,
    timeout: Duration,
    deadline: Instant,
) -> Result<Report, ScanError> {
    let started = Instant::now();
    let trust = if plan.certificate {
        // Reading the system store (once per process) and `ca_file` is file I/O.
        let ca_file = endpoint.ca_file.clone();
        let load = tokio::task::spawn_blocking(move || cert::Trust::load(ca_file.as_deref()));
        Some(load.await.map_err(|e| ScanError::CaFile {
            path: endpoint.ca_file.clone().unwrap_or_default(),
            detail: format!("loading trust anchors failed: {e}"),
        })??)
    } else {
        None
    };
    let name = endpoint
        .server_name
        .as_deref()
        .unwrap_or_else(|| bare_host(&endpoint.host));
    let server_name = ServerName::try_from(name.to_string()).map_err(|_| ScanError::Name {
        name: name.to_string(),
    })?;
    let sni = match &server_name {
        ServerName::DnsName(dns) => Some(dns.as_ref().to_string()),
        _ => None,
    };

    let first = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| ScanError::Timeout {
            host: endpoint.host.clone(),
        })?
        .map_err(|source| ScanError::Connect { addr, source })?;
    let mut session = Session {
        addr,
        deadline,
        step: (timeout / 4).max(Duration::from_secs(1)),
        sni,
        handshakes: 1,
    };

    let until = deadline.min(Instant::now() + session.step);
    let modern = modern::handshake(first, server_name, plan.client_cert_required, until).await;
    let mut chain = modern.chain.clone();

    let mut protocols = BTreeMap::new();
    if plan.protocols || plan.ciphers {
        // Newest first: the TLS 1.2 answer carries the chain when rustls got none.
        for protocol in Protocol::ALL.into_iter().rev() {
            let want_chain = plan.certificate && chain.is_none() && protocol <= Protocol::Tls12;
            let (support, found) = session.try_version(protocol, want_chain).await;
            if let Some(found) = found {
                chain = Some(found);
            }
            protocols.insert(protocol, support);
        }
    }

    let (weak_suites, weak_suites_incomplete) = if plan.ciphers {
        session.enumerate(&protocols).await
    } else {
        (Vec::new(), None)
    };

    let certificate = match trust {
        None => None,
        Some(trust) => {
            if chain.is_none() {
                chain = session.fetch_chain(&protocols).await;
            }
            Some(match chain {
                Some(chain) => cert::inspect(&chain, name, &trust, SystemTime::now())
                    .map_err(|e| Undecided(e.to_string())),
                None => Err(Undecided(format!(
                    "no certificate: {}",
                    modern.failure.as_ref().map_or_else(
                        || "the server sent none the engine could read".to_string(),
                        ToString::to_string
                    )
                ))),
            })
        }
    };
    let negotiated = negotiated(modern.negotiated, &protocols);
    let client_cert_required = if plan.client_cert_required {
        Some(match modern.client_cert_required.clone() {
            Ok(required) => Ok(required),
            // rustls could not complete a handshake (legacy suites or versions only): ask
            // with a hand-built one.
            Err(why) if modern.negotiated.is_none() => {
                session.legacy_mtls().await.map_err(|legacy| {
                    Undecided(format!(
                        "{why}; a hand-built TLS 1.0–1.2 handshake could not decide either: \
                         {legacy}"
                    ))
                })
            }
            Err(why) => Err(Undecided(why.to_string())),
        })
    } else {
        None
    };
    if !plan.protocols {
        protocols.clear();
    }
    tracing::debug!(
        %addr,
        handshakes = session.handshakes,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "TLS scan finished"
    );
    Ok(Report {
        addr,
        protocols,
        weak_suites,
        weak_suites_incomplete,
        certificate,
        client_cert_required,
        negotiated,
        handshakes: session.handshakes,
    })
}

/// The modern handshake's version and suite, or else the newest version a hand-built
/// handshake saw accepted.
fn negotiated(
    modern: Option<(Protocol, u16)>,
    protocols: &BTreeMap<Protocol, Support>,
) -> Option<Negotiated> {
    if let Some((protocol, suite)) = modern.and_then(|(p, id)| Some((p, Suite::from_id(id)?))) {
        return Some(Negotiated {
            protocol,
            suite,
            modern: true,
        });
    }
    protocols
        .iter()
        .rev()
        .find_map(|(protocol, support)| match support {
            Support::Accepted { suite } => Some(Negotiated {
                protocol: *protocol,
                suite: suite.clone(),
                modern: false,
            }),
            _ => None,
        })
}

/// The hand-built handshakes of one scan: one address, one deadline, one budget.
struct Session {
    addr: SocketAddr,
    deadline: Instant,
    /// The most time one exchange may take.
    step: Duration,
    sni: Option<String>,
    handshakes: usize,
}

impl Session {
    /// One ClientHello offering `protocol` and `suites`, and the answer.
    async fn exchange(
        &mut self,
        protocol: Protocol,
        suites: &[u16],
        want_chain: bool,
    ) -> Result<Answer, Undecided> {
        let (now, until) = self.admit()?;
        let hello = hello::client_hello(protocol, suites, self.sni.as_deref());
        let addr = self.addr;
        let attempt = async move {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Undecided(format!("connect: {e}")))?;
            Ok(hello::exchange(stream, &hello, want_chain).await)
        };
        match tokio::time::timeout_at(until, attempt).await {
            Ok(answer) => answer,
            Err(_) => Err(Undecided(format!(
                "no answer within {} ms",
                until.saturating_duration_since(now).as_millis()
            ))),
        }
    }

    /// Counts one more handshake within the budget and the deadline: its start and the
    /// time it may take until.
    fn admit(&mut self) -> Result<(Instant, Instant), Undecided> {
        if self.handshakes >= MAX_HANDSHAKES {
            return Err(Undecided(format!(
                "handshake budget of {MAX_HANDSHAKES} spent"
            )));
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Undecided("the scan's timeout was reached first".into()));
        }
        self.handshakes += 1;
        Ok((now, self.deadline.min(now + self.step)))
    }

    /// Whether a client without a certificate gets in, by a hand-built TLS 1.0–1.2
    /// handshake that sends an empty client Certificate ([`mtls`]).
    async fn legacy_mtls(&mut self) -> Result<bool, Undecided> {
        let (now, until) = self.admit()?;
        let addr = self.addr;
        let sni = self.sni.clone();
        let attempt = async move {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(mtls::MtlsError::Connect)?;
            mtls::decide(stream, sni.as_deref(), until).await
        };
        match tokio::time::timeout_at(until, attempt).await {
            Ok(verdict) => verdict.map_err(|e| Undecided(e.to_string())),
            Err(_) => Err(Undecided(format!(
                "no answer within {} ms",
                until.saturating_duration_since(now).as_millis()
            ))),
        }
    }

    /// Whether `protocol` is accepted, and the chain when asked and sent.
    async fn try_version(
        &mut self,
        protocol: Protocol,
        want_chain: bool,
    ) -> (Support, Option<Vec<CertificateDer<'static>>>) {
        let offer = match protocol {
            Protocol::Tls13 => suites::tls13(),
            p => suites::all_before_tls13(p >= Protocol::Tls12),
        };
        let answer = match self.exchange(protocol, &offer, want_chain).await {
            Ok(answer) => answer,
            Err(why) => return (Support::Unknown { why: why.0 }, None),
        };
        let support = match answer {
            Answer::Hello(h) if h.version != protocol.wire() => Support::Refused {
                how: Refusal::OtherVersion { version: h.version },
            },
            // A HelloRetryRequest also names the version and the suite: it is accepted too.
            Answer::Hello(h) => match Suite::from_id(h.suite).filter(|s| offer.contains(&s.id)) {
                Some(suite) => {
                    let chain = h
                        .certificates
                        .map(|c| c.into_iter().map(CertificateDer::from).collect());
                    return (Support::Accepted { suite }, chain);
                }
                None => Support::Unknown {
                    why: format!(
                        "the server chose suite {:#06x}, which was not offered",
                        h.suite
                    ),
                },
            },
            Answer::Alert(description) => Support::Refused {
                how: Refusal::Alert { description },
            },
            Answer::Closed => Support::Refused {
                how: Refusal::Closed,
            },
            Answer::Reset => Support::Refused {
                how: Refusal::Reset,
            },
            Answer::Broken(why) => Support::Unknown { why },
        };
        (support, None)
    }

    /// Every weak suite accepted at each accepted version up to TLS 1.2.
    async fn enumerate(
        &mut self,
        protocols: &BTreeMap<Protocol, Support>,
    ) -> (Vec<WeakSuite>, Option<Undecided>) {
        let mut found: BTreeMap<u16, BTreeSet<Protocol>> = BTreeMap::new();
        let mut incomplete = None;
        for (&protocol, support) in protocols {
            if protocol == Protocol::Tls13 || !support.is_accepted() {
                continue;
            }
            let mut offer = suites::weak_candidates(protocol >= Protocol::Tls12);
            while !offer.is_empty() {
                match self.exchange(protocol, &offer, false).await {
                    Ok(Answer::Hello(h))
                        if h.version == protocol.wire() && offer.contains(&h.suite) =>
                    {
                        found.entry(h.suite).or_default().insert(protocol);
                        offer.retain(|&id| id != h.suite);
                    }
                    Ok(Answer::Hello(h)) if h.version == protocol.wire() => {
                        incomplete = Some(Undecided(format!(
                            "at {protocol} the server chose suite {:#06x}, which was not offered",
                            h.suite
                        )));
                        break;
                    }
                    // Another version, an alert, a close: nothing more is accepted here.
                    Ok(Answer::Hello(_) | Answer::Alert(_) | Answer::Closed | Answer::Reset) => {
                        break;
                    }
                    Ok(Answer::Broken(why)) | Err(Undecided(why)) => {
                        incomplete = Some(Undecided(format!("at {protocol}: {why}")));
                        break;
                    }
                }
            }
        }
        let weak = found
            .into_iter()
            .filter_map(|(id, protocols)| {
                Some(WeakSuite {
                    suite: Suite::from_id(id)?,
                    protocols: protocols.into_iter().collect(),
                })
            })
            .collect();
        (weak, incomplete)
    }

    /// The chain from a hand-built handshake at the newest accepted version up to TLS 1.2
    /// (TLS 1.2 when versions were not tried).
    async fn fetch_chain(
        &mut self,
        protocols: &BTreeMap<Protocol, Support>,
    ) -> Option<Vec<CertificateDer<'static>>> {
        let protocol = protocols
            .iter()
            .rev()
            .find(|(p, s)| **p <= Protocol::Tls12 && s.is_accepted())
            .map_or(Protocol::Tls12, |(p, _)| *p);
        if protocols.contains_key(&protocol) && !protocols[&protocol].is_accepted() {
            return None;
        }
        self.try_version(protocol, true).await.1
    }
}
