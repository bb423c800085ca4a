//! The `tls` probe kind and the shipped `tls/*` probes against real `openssl s_server` and
//! `gnutls-serv` servers on loopback, with certificates the tests make.

use std::path::Path;

use picket::outcome::{Outcome, RunResult};
use picket::units::Severity;

use crate::helpers::{repo_root, run_probe_with};
use crate::tls_servers::{INTERMEDIATE, KeyKind, LeafSpec, Pki, TlsServer};

const ALL: [&str; 6] = [
    "tls/legacy-protocols",
    "tls/weak-ciphers",
    "tls/certificate-trust",
    "tls/certificate-hostname",
    "tls/certificate-expiry",
    "tls/weak-key-or-signature",
];

/// Runs the shipped probe `id` once against `127.0.0.1:port`, the target trusting `ca_file`
/// and checking the name `localhost`.
async fn verdict(id: &str, port: u16, ca_file: Option<&Path>, tags: &str) -> RunResult {
    let probe = std::fs::read_to_string(repo_root().join(format!("probes/{id}.yaml"))).unwrap();
    let ca = ca_file.map_or(String::new(), |p| format!("ca_file: \"{}\", ", p.display()));
    let extra = format!("    tls: {{ {ca}server_name: localhost }}\n{tags}");
    run_probe_with(&format!("https://127.0.0.1:{port}"), &extra, &probe).await
}

/// The severity the run counts at (the highest of its graded findings).
fn graded(r: &RunResult, declared: Severity) -> Severity {
    picket::outcome::severity_of(fails(r), declared)
}

fn fails(r: &RunResult) -> &[picket::outcome::Finding] {
    match &r.outcome {
        Outcome::Fail(f) => f,
        other => panic!("{}: expected a finding, got {other:?}", r.probe),
    }
}

#[tokio::test]
async fn a_modern_server_passes_every_tls_probe() {
    let pki = Pki::new();
    let leaf = pki.leaf("modern", LeafSpec::default());
    let server = pki
        .serve(
            &leaf,
            &["-min_protocol", "TLSv1.2", "-cipher", INTERMEDIATE],
        )
        .await;
    for id in ALL {
        let r = verdict(id, server.port, Some(&pki.ca_file), "").await;
        assert_eq!(r.outcome, Outcome::Pass, "{id}");
        assert!(r.url.starts_with("tls://127.0.0.1:"), "{}", r.url);
    }
}

#[tokio::test]
async fn tls_1_0_is_flagged_with_expected_and_observed() {
    let pki = Pki::new();
    let leaf = pki.leaf("legacy", LeafSpec::default());
    let server = pki
        .serve(
            &leaf,
            &["-min_protocol", "TLSv1", "-cipher", "DEFAULT:@SECLEVEL=0"],
        )
        .await;
    let r = verdict("tls/legacy-protocols", server.port, Some(&pki.ca_file), "").await;
    let f = fails(&r);
    // SSLv3 (high) is refused; TLS 1.0 and 1.1 are one medium finding.
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].expected, "no handshake at TLS 1.0 or TLS 1.1");
    assert!(f[0].observed.contains("TLS 1.0"), "{f:?}");
    assert_eq!(f[0].severity, Some(Severity::Medium));
    assert_eq!(graded(&r, Severity::High), Severity::Medium);
    // OpenSSL's DEFAULT suites include CBC ones (low), and at SECLEVEL=0 3DES (medium).
    let r = verdict("tls/weak-ciphers", server.port, Some(&pki.ca_file), "").await;
    let cbc = fails(&r)
        .iter()
        .find(|f| f.expected.ends_with("cbc"))
        .unwrap_or_else(|| panic!("{:?}", r.outcome));
    assert!(cbc.observed.contains("(cbc)"), "{cbc:?}");
    assert_eq!(cbc.severity, Some(Severity::Low));
}

/// `tls/certificate-expiry` against a leaf valid from `not_before` to `not_after` (from now).
async fn expiry(pki: &Pki, name: &str, not_before_days: i64, not_after_days: i64) -> RunResult {
    let now = time::OffsetDateTime::now_utc();
    let leaf = pki.leaf(
        name,
        LeafSpec {
            not_before: now + time::Duration::days(not_before_days),
            not_after: now + time::Duration::days(not_after_days),
            ..LeafSpec::default()
        },
    );
    let server = pki.serve(&leaf, &[]).await;
    verdict(
        "tls/certificate-expiry",
        server.port,
        Some(&pki.ca_file),
        "",
    )
    .await
}

#[tokio::test]
async fn certificate_problems_are_each_reported() {
    let pki = Pki::new();
    // Expired: every threshold is crossed; the most severe says it once: critical.
    let r = expiry(&pki, "expired", -90, -2).await;
    let f = fails(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].expected, "not expired");
    assert!(
        f[0].observed.starts_with("expired 2 days ago (notAfter 20"),
        "{f:?}"
    );
    assert_eq!(graded(&r, Severity::Critical), Severity::Critical);

    // 10 days left: under 30 days, high.
    let r = expiry(&pki, "soon", -1, 10).await;
    let f = fails(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].expected, "valid for at least 30 more days");
    assert!(
        f[0].observed.starts_with("expires in 9") || f[0].observed.starts_with("expires in 10"),
        "{f:?}"
    );
    assert_eq!(graded(&r, Severity::Critical), Severity::High);

    // 45 days left: only the 60-day threshold, at medium.
    let r = expiry(&pki, "later", -1, 45).await;
    let f = fails(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].severity, Some(Severity::Medium));
    assert_eq!(graded(&r, Severity::Critical), Severity::Medium);

    let other = pki.leaf(
        "other",
        LeafSpec {
            sans: vec!["other.example".into()],
            ..LeafSpec::default()
        },
    );
    let server = pki.serve(&other, &[]).await;
    let r = verdict(
        "tls/certificate-hostname",
        server.port,
        Some(&pki.ca_file),
        "",
    )
    .await;
    let f = fails(&r);
    assert!(
        f[0].expected.contains("localhost") && f[0].observed.contains("other.example"),
        "{f:?}"
    );

    let selfsigned = pki.self_signed("self");
    let server = pki.serve(&selfsigned, &[]).await;
    let r = verdict("tls/certificate-trust", server.port, None, "").await;
    assert!(
        fails(&r)[0].observed.starts_with("not trusted"),
        "{:?}",
        r.outcome
    );
    // Given as the target's ca_file, it is its own trust anchor.
    let r = verdict(
        "tls/certificate-trust",
        server.port,
        Some(&selfsigned.cert),
        "",
    )
    .await;
    assert_eq!(r.outcome, Outcome::Pass);

    let weak = pki.leaf(
        "rsa1024",
        LeafSpec {
            key: KeyKind::Rsa(1024),
            ..LeafSpec::default()
        },
    );
    let server = pki.serve(&weak, &["-cipher", "DEFAULT:@SECLEVEL=0"]).await;
    let r = verdict(
        "tls/weak-key-or-signature",
        server.port,
        Some(&pki.ca_file),
        "",
    )
    .await;
    assert!(fails(&r)[0].observed.contains("1024"), "{:?}", r.outcome);
}

#[tokio::test]
async fn a_3des_suite_is_a_weak_cipher() {
    let pki = Pki::new();
    let leaf = pki.leaf(
        "3des",
        LeafSpec {
            key: KeyKind::Rsa(2048),
            ..LeafSpec::default()
        },
    );
    let priority = "NONE:+VERS-TLS1.2:+3DES-CBC:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL";
    let server = TlsServer::gnutls(&leaf, priority, pki.dir.path()).await;
    let r = verdict("tls/weak-ciphers", server.port, Some(&pki.ca_file), "").await;
    let f = fails(&r);
    // One suite, two weaknesses: 3DES (medium) and CBC (low); the run counts as medium.
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f[0].observed
            .contains("TLS_RSA_WITH_3DES_EDE_CBC_SHA (3des)"),
        "{f:?}"
    );
    assert_eq!(f[0].severity, Some(Severity::Medium));
    assert!(
        f[1].observed
            .contains("TLS_RSA_WITH_3DES_EDE_CBC_SHA (cbc)"),
        "{f:?}"
    );
    assert_eq!(graded(&r, Severity::Critical), Severity::Medium);
}

#[tokio::test]
async fn mtls_required_passes_only_when_the_server_demands_a_client_certificate() {
    let pki = Pki::new();
    let leaf = pki.leaf("mtls", LeafSpec::default());
    let tagged = "    tags: [mtls]\n";
    let demanding = pki.serve(&leaf, &["-Verify", "1"]).await;
    let r = verdict(
        "tls/mtls-required",
        demanding.port,
        Some(&pki.ca_file),
        tagged,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.outcome);
    let lax = pki.serve(&leaf, &[]).await;
    let r = verdict("tls/mtls-required", lax.port, Some(&pki.ca_file), tagged).await;
    let f = fails(&r);
    assert_eq!(
        f[0].observed,
        "a handshake without a client certificate succeeded"
    );
}

/// `picket.tls.certificate.expiry` reaches a real OTLP receiver with the seconds left, and the
/// run span carries the `tls.*` attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_expiry_is_exported_over_otlp() {
    let receiver = crate::otlp::Receiver::grpc().await;
    let pki = Pki::new();
    let now = time::OffsetDateTime::now_utc();
    let leaf = pki.leaf(
        "expiry",
        LeafSpec {
            not_after: now + time::Duration::days(45),
            ..LeafSpec::default()
        },
    );
    let server = pki.serve(&leaf, &[]).await;
    let probe =
        std::fs::read_to_string(repo_root().join("probes/tls/certificate-expiry.yaml")).unwrap();
    let ws = crate::helpers::workspace(&[("probes/expiry.yaml", &probe)]);
    let config = format!(
        "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: https://127.0.0.1:{}\n    tls: {{ ca_file: \"{}\", server_name: localhost }}\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\nstate: {{ path: state }}\napi: {{ listen: \"127.0.0.1:0\" }}\n\
         telemetry:\n  otlp: {{ endpoint: \"{}\", protocol: grpc }}\n  export_interval: 300ms\n",
        server.port,
        pki.ca_file.display(),
        receiver.endpoint()
    );
    std::fs::write(ws.path().join("picket.yaml"), config).unwrap();
    let service = crate::service::spawn_service(ws.path(), &[]);
    let arrived = receiver
        .wait_until(
            |r| {
                !r.metric_points("picket.tls.certificate.expiry").is_empty()
                    && r.spans()
                        .iter()
                        .any(|s| s.attrs.contains_key("tls.protocol.version"))
            },
            std::time::Duration::from_secs(30),
        )
        .await;
    assert_eq!(service.terminate().await.code(), Some(0));
    assert!(arrived, "{}", receiver.dump());
    let points = receiver.metric_points("picket.tls.certificate.expiry");
    let (attrs, seconds) = &points[0];
    assert_eq!(attrs.get("target.name").map(String::as_str), Some("web"));
    assert_eq!(
        attrs.get("server.address").map(String::as_str),
        Some("127.0.0.1")
    );
    let days = seconds / 86_400.0;
    assert!((days - 45.0).abs() <= 1.0, "{days} days");
}

/// HTTP probes trust a target's `ca_file` the same way: a CA-issued chain, and a self-signed
/// certificate given as itself (webpki alone refuses it as a CA used as an end entity). The
/// ad-hoc `check --target URL` takes the file as `--ca-file`.
#[tokio::test]
async fn http_probes_trust_the_ca_file_and_a_self_signed_certificate_given_as_itself() {
    let pki = Pki::new();
    let probe =
        "id: test/ok\nname: ok\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n";
    let issued = pki.leaf("issued", LeafSpec::default());
    let server = pki.serve(&issued, &["-www"]).await;
    let extra = format!("    tls: {{ ca_file: \"{}\" }}\n", pki.ca_file.display());
    let r = run_probe_with(&format!("https://127.0.0.1:{}", server.port), &extra, probe).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.outcome);

    let selfsigned = pki.self_signed("self");
    let server = pki.serve(&selfsigned, &["-www"]).await;
    let url = format!("https://127.0.0.1:{}", server.port);
    let extra = format!(
        "    tls: {{ ca_file: \"{}\" }}\n",
        selfsigned.cert.display()
    );
    let r = run_probe_with(&url, &extra, probe).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.outcome);
    // Without it, the handshake fails: an error, not a pass.
    let r = run_probe_with(&url, "", probe).await;
    assert!(matches!(r.outcome, Outcome::Error(_)), "{:?}", r.outcome);

    let ws = crate::helpers::workspace(&[("probes/ok.yaml", probe)]);
    let cert = selfsigned.cert.display().to_string();
    let out = crate::helpers::run_picket(
        ws.path(),
        &[
            "check",
            "--target",
            &url,
            "--probes",
            "probes",
            "--probe",
            "test/ok",
            "--ca-file",
            &cert,
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
}
