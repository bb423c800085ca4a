//! Checks of `tls` probes and their pure evaluation over a [`Report`] of the scanning engine.
//! A check whose evidence the scan could not get is *undecided*, which makes the run an
//! `error` (never a silent pass).

use std::time::Duration;

use super::{Graded, list_words};
use crate::outcome::Finding;
use crate::tls_scan::{Class, Key, Protocol, Report, Support, WeakHash};

/// One tls check.
#[derive(Debug, Clone)]
pub enum TlsCheck {
    /// The server completes no handshake at these versions.
    ForbidProtocols(Vec<Protocol>),
    /// No accepted suite belongs to these classes.
    ForbidCiphers(Vec<Class>),
    /// An assertion on the leaf certificate.
    Certificate(CertTest),
    /// Whether a handshake without a client certificate must fail.
    ClientCertificateRequired(bool),
}

/// What a certificate check asserts.
#[derive(Debug, Clone)]
pub enum CertTest {
    /// notAfter is at least this far away.
    ValidFor(Duration),
    /// The checked name is (or is not) in the SAN list.
    HostnameMatches(bool),
    /// The chain verifies (or does not).
    ChainTrusted(bool),
    /// An RSA or DSA key has at least this many bits.
    KeyBitsAtLeast(u32),
    /// The leaf's signature uses none of these hashes (`sha1`, `md5`).
    ForbidSignatures(Vec<String>),
}

impl TlsCheck {
    /// What the scan must look at for this check.
    pub fn needs(&self) -> crate::tls_scan::Plan {
        let mut plan = crate::tls_scan::Plan {
            protocols: false,
            ciphers: false,
            certificate: false,
            client_cert_required: false,
        };
        match self {
            TlsCheck::ForbidProtocols(_) => plan.protocols = true,
            TlsCheck::ForbidCiphers(_) => plan.ciphers = true,
            TlsCheck::Certificate(_) => plan.certificate = true,
            TlsCheck::ClientCertificateRequired(_) => plan.client_cert_required = true,
        }
        plan
    }
}

/// The failed checks, and the checks the scan could not decide (with why).
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Definite failures.
    pub findings: Vec<Finding>,
    /// Checks without evidence.
    pub undecided: Vec<String>,
}

/// How long a certificate has left, in words: `days_left` is rounded down, so -1 is "expired
/// less than a day ago".
fn validity(days_left: i64, not_after: std::time::SystemTime) -> String {
    let date = &crate::units::rfc3339(not_after)[..10];
    match days_left {
        0 => format!("expires within a day (notAfter {date})"),
        1 => format!("expires in 1 day (notAfter {date})"),
        n if n > 0 => format!("expires in {n} days (notAfter {date})"),
        -1 => format!("expired less than a day ago (notAfter {date})"),
        -2 => format!("expired 1 day ago (notAfter {date})"),
        n => format!("expired {} days ago (notAfter {date})", -n - 1),
    }
}

fn days(d: Duration) -> i64 {
    i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX)
}

/// Evaluates every check against one scan.
pub fn evaluate(checks: &[Graded<TlsCheck>], report: &Report) -> Evaluation {
    let mut out = Evaluation::default();
    for graded in checks {
        let before = out.findings.len();
        match &graded.check {
            TlsCheck::ForbidProtocols(forbid) => {
                let accepted: Vec<String> = forbid
                    .iter()
                    .filter(|p| report.protocols.get(p).is_some_and(Support::is_accepted))
                    .map(ToString::to_string)
                    .collect();
                if !accepted.is_empty() {
                    let names: Vec<String> = forbid.iter().map(ToString::to_string).collect();
                    out.findings.push(Finding {
                        check: format!("the server refuses {}", list_words(&names, "and")),
                        expected: format!("no handshake at {}", list_words(&names, "or")),
                        observed: format!(
                            "a handshake completed at {}",
                            list_words(&accepted, "and")
                        ),
                        detail: None,
                        severity: None,
                    });
                }
            }
            TlsCheck::ForbidCiphers(forbid) => {
                let weak: Vec<String> = report
                    .weak_suites
                    .iter()
                    .filter_map(|w| {
                        let classes: Vec<&str> = w
                            .suite
                            .classes
                            .iter()
                            .filter(|c| forbid.contains(c))
                            .map(|c| c.name())
                            .collect();
                        (!classes.is_empty())
                            .then(|| format!("{} ({})", w.suite.name, classes.join(", ")))
                    })
                    .collect();
                if !weak.is_empty() {
                    let classes: Vec<String> =
                        forbid.iter().map(|c| c.name().to_string()).collect();
                    out.findings.push(Finding {
                        check: format!(
                            "the server refuses cipher suites of class {}",
                            list_words(&classes, "and")
                        ),
                        expected: format!(
                            "no accepted cipher suite of class {}",
                            list_words(&classes, "or")
                        ),
                        observed: format!("the server accepted {}", weak.join("; ")),
                        detail: None,
                        severity: None,
                    });
                } else if let Some(why) = &report.weak_suites_incomplete {
                    out.undecided.push(format!("weak cipher suites: {why}"));
                }
            }
            TlsCheck::ClientCertificateRequired(want) => match &report.client_cert_required {
                Some(Ok(required)) if required == want => {}
                Some(Ok(required)) => out.findings.push(Finding {
                    check: if *want {
                        "the server requires a client certificate (mTLS)".into()
                    } else {
                        "the server requires no client certificate".into()
                    },
                    expected: if *want {
                        "a handshake without a client certificate fails".into()
                    } else {
                        "no client certificate required".into()
                    },
                    observed: if *required {
                        "the server required a client certificate".into()
                    } else {
                        "a handshake without a client certificate succeeded".into()
                    },
                    detail: None,
                    severity: None,
                }),
                Some(Err(why)) => out.undecided.push(format!("mTLS: {why}")),
                None => out.undecided.push("mTLS: not scanned".into()),
            },
            TlsCheck::Certificate(test) => match &report.certificate {
                Some(Ok(cert)) => {
                    let finding = |check: &str, expected: String, observed: String| Finding {
                        check: check.into(),
                        expected,
                        observed,
                        detail: None,
                        severity: None,
                    };
                    let f = match test {
                        CertTest::ValidFor(d) => (cert.days_left < days(*d)).then(|| {
                            finding(
                                // One name for every threshold: the findings of a graded
                                // probe fold into the most severe (outcome::fold_graded).
                                "the certificate is not expired or close to expiry",
                                match days(*d) {
                                    0 => "not expired".into(),
                                    n => format!("valid for at least {n} more days"),
                                },
                                validity(cert.days_left, cert.not_after),
                            )
                        }),
                        CertTest::HostnameMatches(want) => {
                            (cert.hostname_matches != *want).then(|| {
                                finding(
                                    "the certificate matches the host name",
                                    format!(
                                        "`{}` in the subject alternative names",
                                        cert.checked_name
                                    ),
                                    format!("names: {}", cert.sans.join(", ")),
                                )
                            })
                        }
                        // Trust and the signature algorithm are judged apart: a SHA-1 chain
                        // that verifies is trusted, and the finding (if any) says that
                        // browsers refuse it.
                        CertTest::ChainTrusted(want) => {
                            (cert.chain_trusted.is_ok() != *want).then(|| Finding {
                                detail: cert.browsers_refuse.clone(),
                                ..finding(
                                    "the certificate chain is trusted",
                                    "a chain to the system roots or the target's ca_file".into(),
                                    match &cert.chain_trusted {
                                        Ok(()) => "trusted".into(),
                                        Err(e) => format!("not trusted: {e}"),
                                    },
                                )
                            })
                        }
                        // The bit floor is for RSA and DSA keys; elliptic-curve keys are
                        // judged by their curve, and every curve the engine names is fine.
                        CertTest::KeyBitsAtLeast(min) => match cert.key {
                            Key::Rsa { bits } | Key::Dsa { bits } => Some(bits),
                            _ => None,
                        }
                        .filter(|b| b < min)
                        .map(|b| {
                            finding(
                                "the certificate key is strong enough",
                                format!("at least {min} bits"),
                                format!("{:?} key of {b} bits", cert.key),
                            )
                        }),
                        CertTest::ForbidSignatures(forbid) => cert
                            .weak_hash
                            .filter(|h| {
                                forbid.iter().any(|f| {
                                    (f == "sha1" && *h == WeakHash::Sha1)
                                        || (f == "md5" && *h == WeakHash::Md5)
                                })
                            })
                            .map(|_| Finding {
                                detail: cert.browsers_refuse.as_ref().map(|refuse| {
                                    let trust = match &cert.chain_trusted {
                                        Ok(()) => "the chain itself verifies".to_string(),
                                        Err(e) => format!("the chain is not trusted either: {e}"),
                                    };
                                    format!("{refuse}; {trust}")
                                }),
                                ..finding(
                                    "the certificate signature hash is strong enough",
                                    format!("no {} signature", forbid.join(" or ")),
                                    format!("signed with {}", cert.signature),
                                )
                            }),
                    };
                    out.findings.extend(f);
                }
                Some(Err(why)) => out.undecided.push(format!("certificate: {why}")),
                None => out.undecided.push("certificate: not scanned".into()),
            },
        }
        graded.stamp(&mut out.findings[before..]);
    }
    out
}
