//! The TLS scanning engine (`picket::tls_scan`) against real `openssl s_server`s on loopback,
//! with certificates made by the test.

use std::path::Path;
use std::time::{Duration, Instant};

use picket::tls_scan::{
    Class, Endpoint, Key, Plan, Protocol, Report, ScanError, Support, WeakHash, scan,
};
use tokio::io::AsyncWriteExt;

use crate::tls_servers::{INTERMEDIATE, KeyKind, LeafSpec, Pki, TlsServer};

const TIMEOUT: Duration = Duration::from_secs(10);

fn endpoint(port: u16, ca_file: Option<&Path>) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port,
        server_name: None,
        ca_file: ca_file.map(Path::to_path_buf),
    }
}

async fn full_scan(endpoint: &Endpoint) -> Report {
    scan(endpoint, &Plan::full(), TIMEOUT).await.unwrap()
}

fn support(report: &Report, protocol: Protocol) -> &Support {
    report.protocols.get(&protocol).unwrap()
}

fn certificate(report: &Report) -> &picket::tls_scan::Certificate {
    report.certificate.as_ref().unwrap().as_ref().unwrap()
}

fn weak_names(report: &Report) -> Vec<&'static str> {
    report.weak_suites.iter().map(|w| w.suite.name).collect()
}

#[tokio::test]
async fn modern_server_accepts_only_tls12_and_13_and_its_certificate_is_good() {
    let pki = Pki::new();
    let leaf = pki.leaf("modern", LeafSpec::default());
    let server = pki
        .serve(
            &leaf,
            &["-min_protocol", "TLSv1.2", "-cipher", INTERMEDIATE],
        )
        .await;
    let mut target = endpoint(server.port, Some(&pki.ca_file));
    target.server_name = Some("localhost".into());

    let started = Instant::now();
    let report = full_scan(&target).await;
    let elapsed = started.elapsed();
    eprintln!(
        "full scan of a modern server: {elapsed:?}, {} handshakes",
        report.handshakes
    );

    for protocol in [Protocol::Tls12, Protocol::Tls13] {
        assert!(
            support(&report, protocol).is_accepted(),
            "{protocol}: {report:#?}"
        );
    }
    for protocol in [Protocol::Ssl3, Protocol::Tls10, Protocol::Tls11] {
        assert!(
            matches!(support(&report, protocol), Support::Refused { .. }),
            "{protocol}: {report:#?}"
        );
    }
    assert!(report.weak_suites.is_empty(), "{:?}", weak_names(&report));
    assert_eq!(report.weak_suites_incomplete, None);

    let cert = certificate(&report);
    assert_eq!(cert.chain_trusted, Ok(()));
    assert!(cert.hostname_matches);
    assert_eq!(cert.checked_name, "localhost");
    assert_eq!(cert.sans, ["localhost", "127.0.0.1"]);
    assert_eq!(cert.days_left, 89, "90 days of validity, a moment gone");
    assert_eq!(
        cert.key,
        Key::Ec {
            curve: "P-256".into(),
            bits: 256
        }
    );
    assert_eq!(cert.signature, "ecdsa-with-SHA256");
    assert_eq!(cert.weak_hash, None);
    assert_eq!(cert.issuer, "CN=picket test CA");
    assert_eq!(cert.sha256.len(), 64);
    assert_eq!(cert.chain_len, 1);

    let negotiated = report.negotiated.as_ref().unwrap();
    assert_eq!(negotiated.protocol, Protocol::Tls13);
    assert!(negotiated.modern);
    assert_eq!(report.client_cert_required, Some(Ok(false)));
    let attributes = report.span_attributes();
    let get = |key: &str| {
        attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("tls.protocol.version"), Some("1.3"));
    assert_eq!(get("tls.server.hash.sha256"), Some(cert.sha256.as_str()));
    assert!(get("tls.cipher").is_some_and(|c| c.starts_with("TLS_")));
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn tls10_and_11_are_reported_when_the_server_allows_them() {
    let pki = Pki::new();
    let leaf = pki.leaf("legacy", LeafSpec::default());
    let server = pki
        .serve(
            &leaf,
            &["-min_protocol", "TLSv1", "-cipher", "DEFAULT:@SECLEVEL=0"],
        )
        .await;
    let started = Instant::now();
    let report = full_scan(&endpoint(server.port, Some(&pki.ca_file))).await;
    eprintln!(
        "full scan of a server with TLS 1.0 and OpenSSL's DEFAULT suites: {:?}, {} handshakes",
        started.elapsed(),
        report.handshakes
    );

    for protocol in [
        Protocol::Tls10,
        Protocol::Tls11,
        Protocol::Tls12,
        Protocol::Tls13,
    ] {
        assert!(
            support(&report, protocol).is_accepted(),
            "{protocol}: {report:#?}"
        );
    }
    // Debian's OpenSSL 3 is built without SSLv3.
    assert!(matches!(
        support(&report, Protocol::Ssl3),
        Support::Refused { .. }
    ));
    // OpenSSL's DEFAULT for an ECDSA key, outside Mozilla's list: the SHA-1 CBC suites at
    // every version, the SHA-2 CBC ones at TLS 1.2 only.
    let found: Vec<(&str, Vec<Protocol>)> = report
        .weak_suites
        .iter()
        .map(|w| (w.suite.name, w.protocols.clone()))
        .collect();
    let all = vec![Protocol::Tls10, Protocol::Tls11, Protocol::Tls12];
    assert_eq!(
        found,
        [
            ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", all.clone()),
            ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", all),
            (
                "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
                vec![Protocol::Tls12]
            ),
            (
                "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
                vec![Protocol::Tls12]
            ),
        ]
    );
    assert!(
        report
            .weak_suites
            .iter()
            .all(|w| w.suite.classes == [Class::Cbc])
    );
    assert_eq!(report.weak_suites_incomplete, None);
}

#[tokio::test]
async fn three_des_and_rc4_suites_are_reported_with_their_classes() {
    // Debian's OpenSSL 3 has no 3DES or RC4 suites at all; GnuTLS still offers them.
    let pki = Pki::new();
    let leaf = pki.leaf(
        "3des",
        LeafSpec {
            key: KeyKind::Rsa(2048),
            ..LeafSpec::default()
        },
    );
    let priority =
        "NONE:+VERS-TLS1.2:+3DES-CBC:+ARCFOUR-128:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL";
    let server = TlsServer::gnutls(&leaf, priority, pki.dir.path()).await;
    let report = full_scan(&endpoint(server.port, Some(&pki.ca_file))).await;

    assert_eq!(
        weak_names(&report),
        ["TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
        "{report:#?}"
    );
    assert_eq!(
        report.weak_suites[0].suite.classes,
        [Class::Rc4, Class::NoForwardSecrecy]
    );
    let three_des = &report.weak_suites[1];
    assert_eq!(three_des.suite.id, 0x000a);
    assert_eq!(
        three_des.suite.classes,
        [Class::TripleDes, Class::Cbc, Class::NoForwardSecrecy]
    );
    assert_eq!(three_des.protocols, [Protocol::Tls12]);
    assert!(support(&report, Protocol::Tls12).is_accepted());
    assert!(!support(&report, Protocol::Tls13).is_accepted());
    assert_eq!(certificate(&report).key, Key::Rsa { bits: 2048 });
}

#[tokio::test]
async fn null_and_anonymous_suites_are_reported_with_their_classes() {
    let pki = Pki::new();
    let leaf = pki.leaf(
        "null",
        LeafSpec {
            key: KeyKind::Rsa(2048),
            ..LeafSpec::default()
        },
    );
    let ciphers = "NULL-SHA256:ECDHE-RSA-NULL-SHA:AECDH-AES128-SHA:@SECLEVEL=0";
    let server = pki
        .serve(&leaf, &["-max_protocol", "TLSv1.2", "-cipher", ciphers])
        .await;
    let report = full_scan(&endpoint(server.port, Some(&pki.ca_file))).await;
    let classes: Vec<(&str, Vec<Class>)> = report
        .weak_suites
        .iter()
        .map(|w| (w.suite.name, w.suite.classes.clone()))
        .collect();
    assert_eq!(
        classes,
        [
            (
                "TLS_RSA_WITH_NULL_SHA256",
                vec![Class::Null, Class::NoForwardSecrecy]
            ),
            ("TLS_ECDHE_RSA_WITH_NULL_SHA", vec![Class::Null]),
            (
                "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
                vec![Class::Anonymous, Class::Cbc]
            ),
        ],
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_cbc_only_tls12_server_reports_every_cbc_suite_and_still_shows_its_certificate() {
    let pki = Pki::new();
    let leaf = pki.leaf(
        "cbc",
        LeafSpec {
            key: KeyKind::Rsa(2048),
            ..LeafSpec::default()
        },
    );
    let server = pki
        .serve(
            &leaf,
            &[
                "-max_protocol",
                "TLSv1.2",
                "-cipher",
                "AES128-SHA:ECDHE-RSA-AES256-SHA",
            ],
        )
        .await;
    let report = full_scan(&endpoint(server.port, Some(&pki.ca_file))).await;

    assert_eq!(
        weak_names(&report),
        [
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        ],
        "{report:#?}"
    );
    assert_eq!(
        report.weak_suites[0].suite.classes,
        [Class::Cbc, Class::NoForwardSecrecy]
    );
    assert_eq!(report.weak_suites[1].suite.classes, [Class::Cbc]);
    assert!(matches!(
        support(&report, Protocol::Tls13),
        Support::Refused { .. }
    ));
    // rustls offers no CBC suite, so the modern handshake fails: the certificate comes from
    // the hand-built TLS 1.2 handshake, and `negotiated` from the version probes.
    let cert = certificate(&report);
    assert_eq!(cert.chain_trusted, Ok(()));
    assert_eq!(cert.key, Key::Rsa { bits: 2048 });
    let negotiated = report.negotiated.as_ref().unwrap();
    assert_eq!(
        (negotiated.protocol, negotiated.modern),
        (Protocol::Tls12, false)
    );
}

#[tokio::test]
async fn an_expired_certificate_has_negative_days_and_is_untrusted() {
    let pki = Pki::new();
    let now = time::OffsetDateTime::now_utc();
    let leaf = pki.leaf(
        "expired",
        LeafSpec {
            not_before: now - time::Duration::days(90),
            not_after: now - time::Duration::days(2) + time::Duration::hours(1),
            ..LeafSpec::default()
        },
    );
    let server = pki.serve(&leaf, &[]).await;
    let report = full_scan(&endpoint(server.port, Some(&pki.ca_file))).await;
    let cert = certificate(&report);
    assert_eq!(cert.days_left, -2);
    let why = cert.chain_trusted.as_ref().unwrap_err().to_string();
    assert!(why.contains("expired"), "{why}");
    assert!(cert.hostname_matches);
}

#[tokio::test]
async fn a_certificate_for_another_name_does_not_match_even_with_that_name_as_cn() {
    let pki = Pki::new();
    let leaf = pki.leaf(
        "other",
        LeafSpec {
            sans: vec!["other.example".into()],
            ..LeafSpec::default()
        },
    );
    let server = pki.serve(&leaf, &[]).await;
    let mut target = endpoint(server.port, Some(&pki.ca_file));
    let report = full_scan(&target).await;
    let cert = certificate(&report);
    assert!(!cert.hostname_matches);
    assert_eq!(cert.checked_name, "127.0.0.1");
    assert_eq!(cert.chain_trusted, Ok(()));

    // The subject CN is `other.example` too, but only SANs count; the SAN does match.
    target.server_name = Some("other.example".into());
    let report = full_scan(&target).await;
    assert!(certificate(&report).hostname_matches);
    assert_eq!(certificate(&report).subject, "CN=other.example");
}

#[tokio::test]
async fn a_self_signed_certificate_is_trusted_only_when_given_as_ca_file() {
    let pki = Pki::new();
    let leaf = pki.self_signed("self");
    let server = pki.serve(&leaf, &[]).await;

    let report = full_scan(&endpoint(server.port, None)).await;
    let why = certificate(&report)
        .chain_trusted
        .clone()
        .unwrap_err()
        .to_string();
    assert!(why.contains("ca_file"), "{why}");

    // As curl --cacert does: the exact certificate in ca_file is its own anchor.
    let report = full_scan(&endpoint(server.port, Some(&leaf.cert))).await;
    assert_eq!(certificate(&report).chain_trusted, Ok(()));

    // The test CA's file does not vouch for it.
    let report = full_scan(&endpoint(server.port, Some(&pki.ca_file))).await;
    assert!(certificate(&report).chain_trusted.is_err());
}

#[tokio::test]
async fn an_rsa_1024_key_is_reported_with_its_size() {
    let pki = Pki::new();
    let leaf = pki.leaf(
        "rsa1024",
        LeafSpec {
            key: KeyKind::Rsa(1024),
            ..LeafSpec::default()
        },
    );
    let server = pki.serve(&leaf, &["-cipher", "DEFAULT:@SECLEVEL=0"]).await;
    let report = full_scan(&endpoint(server.port, Some(&pki.ca_file))).await;
    let cert = certificate(&report);
    assert_eq!(cert.key, Key::Rsa { bits: 1024 });
    assert_eq!(cert.key.bits(), Some(1024));
    assert_eq!(cert.chain_trusted, Ok(()));
    assert_eq!(cert.signature, "ecdsa-with-SHA256");
}

#[tokio::test]
async fn a_sha1_signature_is_flagged() {
    let pki = Pki::new();
    let leaf = pki.sha1_self_signed("sha1");
    let server = pki.serve(&leaf, &["-cipher", "DEFAULT:@SECLEVEL=0"]).await;
    let report = full_scan(&endpoint(server.port, Some(&leaf.cert))).await;
    let cert = certificate(&report);
    assert_eq!(cert.signature, "sha1WithRSAEncryption");
    assert_eq!(cert.weak_hash, Some(WeakHash::Sha1));
    assert_eq!(cert.days_left, 29, "30 days of validity, a moment gone");
    assert_eq!(cert.key, Key::Rsa { bits: 2048 });
}

async fn mtls_verdict(args: &[&str]) -> Option<Result<bool, picket::tls_scan::Undecided>> {
    let pki = Pki::new();
    let leaf = pki.leaf("mtls", LeafSpec::default());
    let ca = pki.ca_file.to_str().unwrap().to_string();
    let mut all = vec!["-CAfile", ca.as_str()];
    all.extend_from_slice(args);
    let server = pki.serve(&leaf, &all).await;
    let plan = Plan {
        protocols: false,
        ciphers: false,
        certificate: false,
        client_cert_required: true,
    };
    let report = scan(&endpoint(server.port, None), &plan, TIMEOUT)
        .await
        .unwrap();
    assert!(report.protocols.is_empty() && report.certificate.is_none());
    report.client_cert_required
}

#[tokio::test]
async fn a_required_client_certificate_is_detected_in_tls13_and_tls12() {
    assert_eq!(mtls_verdict(&["-Verify", "1"]).await, Some(Ok(true)));
    assert_eq!(
        mtls_verdict(&["-Verify", "1", "-max_protocol", "TLSv1.2"]).await,
        Some(Ok(true))
    );
}

#[tokio::test]
async fn an_optional_or_absent_client_certificate_is_not_required() {
    let started = Instant::now();
    assert_eq!(mtls_verdict(&["-verify", "1"]).await, Some(Ok(false)));
    // The session ticket that follows an accepted Finished ends the wait early.
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        mtls_verdict(&["-verify", "1", "-max_protocol", "TLSv1.2"]).await,
        Some(Ok(false))
    );
    assert_eq!(mtls_verdict(&[]).await, Some(Ok(false)));
}

#[tokio::test]
async fn a_server_that_is_not_tls_gives_unknowns_not_panics() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut n: u8 = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            n = n.wrapping_add(1);
            // Alternate plain HTTP and bytes that start like a TLS record but lie.
            let answer: Vec<u8> = if n.is_multiple_of(2) {
                b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()
            } else {
                let mut v = vec![22, 3, 3, 0xff, 0xff, 2, 0xff, 0xff, 0xff];
                v.extend(std::iter::repeat_n(n, 100));
                v
            };
            let _ = stream.write_all(&answer).await;
        }
    });
    let report = scan(&endpoint(port, None), &Plan::full(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        report.protocols.values().all(|s| !s.is_accepted()),
        "{report:#?}"
    );
    assert!(matches!(report.certificate, Some(Err(_))));
    assert!(matches!(report.client_cert_required, Some(Err(_))));
    assert!(report.weak_suites.is_empty());
}

#[tokio::test]
async fn a_closed_port_is_an_error_and_a_silent_one_runs_out_of_time() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = scan(&endpoint(port, None), &Plan::full(), TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Connect { .. }), "{err}");

    // A server that accepts and never speaks: every step is unknown, within the timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let report = scan(&endpoint(port, None), &Plan::full(), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        report
            .protocols
            .values()
            .all(|s| matches!(s, Support::Unknown { .. }))
    );
}
