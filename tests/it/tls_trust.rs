//! Which certificates are trust anchors: of the system store only CA certificates (a
//! self-signed server certificate in the certificate directory, like Debian's snakeoil, is
//! not a root), for `tls` probes and HTTP probes alike; a target's `ca_file` keeps its
//! `curl --cacert` meaning; and a SHA-1 signature is judged apart from trust. The system store is read once per process, so these tests run
//! `picket check` as a child with its own `SSL_CERT_FILE` and `SSL_CERT_DIR`.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use picket::outcome::Outcome;
use picket::tls_scan::{Endpoint, Plan, WeakHash, scan};

use crate::helpers::{repo_root, run_picket, run_probe_with, texts, workspace};
use crate::tls_servers::{LeafSpec, Pki};

const OK_PROBE: &str =
    "id: test/ok\nname: ok\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n";

/// `picket check --target https://127.0.0.1:port --probe probe` with the system store at
/// `file` and `dir`, and the target's `ca_file` when given.
async fn check(port: u16, probe: &str, file: &Path, dir: &Path, ca_file: Option<&Path>) -> Output {
    let ws = workspace(&[("probes/ok.yaml", OK_PROBE)]);
    let url = format!("https://127.0.0.1:{port}");
    let ca = ca_file.map(|p| p.display().to_string());
    let mut args = vec![
        "check",
        "--target",
        &url,
        "--probes",
        "probes",
        "--probe",
        probe,
        "--no-progress",
        "--format",
        "json",
    ];
    if let Some(ca) = &ca {
        args.extend(["--ca-file", ca.as_str()]);
    }
    let file = file.display().to_string();
    let dir = dir.display().to_string();
    run_picket(
        ws.path(),
        &args,
        &[("SSL_CERT_FILE", &file), ("SSL_CERT_DIR", &dir)],
    )
    .await
}

/// The one result's outcome in `check --format json` output, and the whole output.
fn outcome(out: &Output) -> (String, String) {
    let (stdout, stderr) = texts(out);
    let json: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    let results = json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(results.len(), 1, "{json}");
    let outcome = results[0]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (outcome, format!("{json}\n{stderr}"))
}

/// Regression: every file of `/etc/ssl/certs` was a root, so a server presenting Debian's
/// snakeoil certificate (self-signed, CA:FALSE, which `ssl-cert` puts there) passed
/// `tls/certificate-trust`, and HTTP probes trusted it too.
#[tokio::test]
async fn a_self_signed_non_ca_certificate_in_the_system_directory_is_not_a_root() {
    let pki = Pki::new();
    let bundle_pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let snakeoil = pki.snakeoil("ssl-cert-snakeoil");
    std::fs::copy(&snakeoil.cert, dir.path().join("ssl-cert-snakeoil.pem")).unwrap();
    // A CA certificate in the directory is still an anchor, and so is the bundle file's.
    std::fs::copy(&pki.ca_file, dir.path().join("local-ca.pem")).unwrap();
    let bundle = bundle_pki.ca_file.clone();

    let server = pki.serve(&snakeoil, &["-www"]).await;
    let trust = check(
        server.port,
        "tls/certificate-trust",
        &bundle,
        dir.path(),
        None,
    )
    .await;
    let (result, all) = outcome(&trust);
    assert_eq!(result, "fail", "{all}");
    assert!(all.contains("not trusted"), "{all}");
    assert_eq!(trust.status.code(), Some(1), "{all}");
    let http = check(server.port, "test/ok", &bundle, dir.path(), None).await;
    let (result, all) = outcome(&http);
    assert_eq!(result, "error", "{all}");
    assert!(
        all.contains("UnknownIssuer") || all.contains("issuer"),
        "{all}"
    );

    // Given as the target's ca_file, it is trusted as itself (curl --cacert).
    let trust = check(
        server.port,
        "tls/certificate-trust",
        &bundle,
        dir.path(),
        Some(&snakeoil.cert),
    )
    .await;
    assert_eq!(outcome(&trust).0, "pass", "{}", outcome(&trust).1);
    let http = check(
        server.port,
        "test/ok",
        &bundle,
        dir.path(),
        Some(&snakeoil.cert),
    )
    .await;
    assert_eq!(outcome(&http).0, "pass", "{}", outcome(&http).1);

    // Leaves of the directory's CA and of the bundle's CA are trusted, by both kinds.
    for (issuer, name) in [(&pki, "by-dir-ca"), (&bundle_pki, "by-bundle-ca")] {
        let leaf = issuer.leaf(name, LeafSpec::default());
        let server = issuer.serve(&leaf, &["-www"]).await;
        for probe in ["tls/certificate-trust", "test/ok"] {
            let out = check(server.port, probe, &bundle, dir.path(), None).await;
            let (result, all) = outcome(&out);
            assert_eq!(result, "pass", "{name} {probe}: {all}");
        }
    }
}

/// Regression: a SHA-1-signed leaf whose chain verifies to the given `ca_file` (`openssl
/// verify` OK, testssl.sh "passed") was graded untrusted (critical) on top of its SHA-1
/// finding (medium). Trust and the signature algorithm are judged apart.
#[tokio::test]
async fn a_sha1_leaf_under_its_ca_file_is_trusted_and_only_its_signature_is_weak() {
    let pki = Pki::new();
    let (leaf, ca) = pki.sha1_issued("sha1-leaf");
    let server = pki.serve(&leaf, &["-cipher", "DEFAULT:@SECLEVEL=0"]).await;
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: server.port,
        server_name: Some("localhost".into()),
        ca_file: Some(ca.clone()),
    };
    let report = scan(&endpoint, &Plan::full(), Duration::from_secs(10))
        .await
        .unwrap();
    let Some(Ok(cert)) = &report.certificate else {
        panic!("{:?}", report.certificate)
    };
    assert_eq!(cert.signature, "sha1WithRSAEncryption");
    assert_eq!(cert.weak_hash, Some(WeakHash::Sha1));
    assert_eq!(cert.chain_trusted, Ok(()));
    assert!(
        cert.browsers_refuse
            .as_deref()
            .is_some_and(|b| b.contains("SHA-1")),
        "{cert:?}"
    );

    let extra = format!(
        "    tls: {{ ca_file: \"{}\", server_name: localhost }}\n",
        ca.display()
    );
    let url = format!("https://127.0.0.1:{}", server.port);
    let trust = shipped("tls/certificate-trust");
    let r = run_probe_with(&url, &extra, &trust).await;
    assert_eq!(r.outcome, Outcome::Pass, "{:?}", r.outcome);
    let weak = shipped("tls/weak-key-or-signature");
    let r = run_probe_with(&url, &extra, &weak).await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].observed, "signed with sha1WithRSAEncryption");
    let detail = findings[0].detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("browsers refuse") && detail.contains("the chain itself verifies"),
        "{detail}"
    );

    // Under a CA that did not sign it, it is still untrusted, and the finding says that
    // browsers would refuse it anyway.
    let other = format!(
        "    tls: {{ ca_file: \"{}\", server_name: localhost }}\n",
        pki.ca_file.display()
    );
    let r = run_probe_with(&url, &other, &trust).await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(
        findings[0].observed.starts_with("not trusted"),
        "{findings:?}"
    );
    assert!(
        findings[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("SHA-1")),
        "{findings:?}"
    );
}

fn shipped(id: &str) -> String {
    std::fs::read_to_string(repo_root().join(format!("probes/{id}.yaml"))).unwrap()
}
