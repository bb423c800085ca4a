//! mTLS enforcement (`tls/mtls-required`) on servers rustls cannot talk to: CBC-only (ECDHE,
//! static RSA, DHE), NULL-only, RC4-only and TLS 1.0-only servers, decided with the engine's hand-built
//! handshake that sends an empty client Certificate.
//!
//! Debian's OpenSSL 3.0 has no RC4 or 3DES suites even at `@SECLEVEL=0` (`openssl ciphers -v
//! 'ALL:@SECLEVEL=0'`), so the RC4 server is `gnutls-serv` (3.7), which asks for a client
//! certificate by default and requires one with `--require-client-cert`; `openssl s_server`
//! asks with `-verify 1` and requires with `-Verify 1`.

use std::time::Duration;

use picket::outcome::Outcome;
use picket::tls_scan::{Endpoint, Plan, scan};

use crate::helpers::{repo_root, run_probe_with};
use crate::tls_servers::{Files, KeyKind, LeafSpec, Pki, TlsServer};

const RC4_ONLY: &str = "NONE:+VERS-TLS1.2:+ARCFOUR-128:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL";

/// The scan's mTLS verdict alone.
async fn verdict(port: u16) -> Result<bool, String> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port,
        server_name: None,
        ca_file: None,
    };
    let plan = Plan {
        protocols: false,
        ciphers: false,
        certificate: false,
        client_cert_required: true,
    };
    let report = scan(&endpoint, &plan, Duration::from_secs(10))
        .await
        .unwrap();
    report.client_cert_required.unwrap().map_err(|e| e.0)
}

fn rsa_leaf(pki: &Pki, name: &str) -> Files {
    pki.leaf(
        name,
        LeafSpec {
            key: KeyKind::Rsa(2048),
            ..LeafSpec::default()
        },
    )
}

/// `openssl s_server` with `args`, asking for no certificate, asking for an optional one
/// (`-verify 1`) and requiring one (`-Verify 1`): the three verdicts.
async fn openssl_verdicts(pki: &Pki, leaf: &Files, args: &[&str]) -> [Result<bool, String>; 3] {
    let ca = pki.ca_file.to_str().unwrap();
    let mut out = Vec::new();
    for extra in [&[][..], &["-verify", "1"], &["-Verify", "1"]] {
        let mut all = vec!["-CAfile", ca];
        all.extend_from_slice(args);
        all.extend_from_slice(extra);
        let server = pki.serve(leaf, &all).await;
        out.push(verdict(server.port).await);
    }
    out.try_into().unwrap()
}

/// Regression: `tls/mtls-required` errored with "could not decide" on every server whose
/// suites or versions rustls lacks.
#[tokio::test]
async fn mtls_is_decided_on_servers_rustls_cannot_talk_to() {
    let pki = Pki::new();
    let rsa = rsa_leaf(&pki, "rsa");
    let ec = pki.leaf("ec", LeafSpec::default());
    let cases: [(&str, &Files, &[&str]); 5] = [
        // CBC with ECDHE (an x25519 key share in the ClientKeyExchange).
        (
            "ECDHE-ECDSA CBC",
            &ec,
            &[
                "-max_protocol",
                "TLSv1.2",
                "-cipher",
                "ECDHE-ECDSA-AES128-SHA",
            ],
        ),
        // Static RSA, CBC (an encrypted premaster as long as the modulus).
        (
            "static RSA CBC",
            &rsa,
            &["-max_protocol", "TLSv1.2", "-cipher", "AES128-SHA"],
        ),
        // DHE, CBC.
        (
            "DHE-RSA CBC",
            &rsa,
            &["-max_protocol", "TLSv1.2", "-cipher", "DHE-RSA-AES128-SHA"],
        ),
        // NULL encryption: the Finished fails on its MAC all the same.
        (
            "ECDHE-RSA NULL",
            &rsa,
            &[
                "-max_protocol",
                "TLSv1.2",
                "-cipher",
                "ECDHE-RSA-NULL-SHA:@SECLEVEL=0",
            ],
        ),
        // TLS 1.0 only.
        (
            "TLS 1.0 only",
            &rsa,
            &[
                "-min_protocol",
                "TLSv1",
                "-max_protocol",
                "TLSv1",
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
            ],
        ),
    ];
    for (name, leaf, args) in cases {
        let [none, optional, required] = openssl_verdicts(&pki, leaf, args).await;
        assert_eq!(none, Ok(false), "{name}, no CertificateRequest");
        assert_eq!(optional, Ok(false), "{name}, optional certificate");
        assert_eq!(required, Ok(true), "{name}, required certificate");
    }

    // RC4 (gnutls-serv): asks by default, requires with --require-client-cert.
    let ca = format!("--x509cafile={}", pki.ca_file.display());
    let asks = TlsServer::gnutls_with(&rsa, RC4_ONLY, &[&ca], pki.dir.path()).await;
    assert_eq!(verdict(asks.port).await, Ok(false), "RC4, optional");
    let requires = TlsServer::gnutls_with(
        &rsa,
        RC4_ONLY,
        &[&ca, "--require-client-cert"],
        pki.dir.path(),
    )
    .await;
    assert_eq!(verdict(requires.port).await, Ok(true), "RC4, required");
    let silent =
        TlsServer::gnutls_with(&rsa, RC4_ONLY, &["--disable-client-cert"], pki.dir.path()).await;
    assert_eq!(verdict(silent.port).await, Ok(false), "RC4, not asked");
}

/// The shipped probe on a CBC-only `openssl s_server` and an RC4-only `gnutls-serv`: fails
/// without client-certificate enforcement, passes with it.
#[tokio::test]
async fn the_mtls_probe_fails_and_passes_on_cbc_only_and_rc4_only_servers() {
    let pki = Pki::new();
    let rsa = rsa_leaf(&pki, "rsa");
    let probe = std::fs::read_to_string(repo_root().join("probes/tls/mtls-required.yaml")).unwrap();
    let extra = "    tls: { server_name: localhost }\n    tags: [mtls]\n";
    let run = |port: u16| {
        let probe = probe.clone();
        async move { run_probe_with(&format!("https://127.0.0.1:{port}"), extra, &probe).await }
    };
    let ca = pki.ca_file.to_str().unwrap().to_string();
    let cbc = [
        "-max_protocol",
        "TLSv1.2",
        "-cipher",
        "AES128-SHA:AES256-SHA",
    ];

    let lax = pki.serve(&rsa, &cbc).await;
    let r = run(lax.port).await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(
        findings[0].observed,
        "a handshake without a client certificate succeeded"
    );
    let mut demanding_args = cbc.to_vec();
    demanding_args.extend(["-CAfile", &ca, "-Verify", "1"]);
    let demanding = pki.serve(&rsa, &demanding_args).await;
    assert_eq!(run(demanding.port).await.outcome, Outcome::Pass);

    let cafile = format!("--x509cafile={ca}");
    let lax = TlsServer::gnutls_with(&rsa, RC4_ONLY, &[&cafile], pki.dir.path()).await;
    assert!(matches!(run(lax.port).await.outcome, Outcome::Fail(_)));
    let demanding = TlsServer::gnutls_with(
        &rsa,
        RC4_ONLY,
        &[&cafile, "--require-client-cert"],
        pki.dir.path(),
    )
    .await;
    assert_eq!(run(demanding.port).await.outcome, Outcome::Pass);
}
