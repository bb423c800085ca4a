//! A failed request's `error.type` comes from what failed, never from the words of its URL.

use picket::outcome::Outcome;

use crate::containment::{Stub, run};
use crate::helpers::run_probe_with;
use crate::tls_servers::Pki;

const PROBE: &str = "id: test/ok\nname: ok\nseverity: low\nhttp:\n  path: /tls/handshake/certificate\nchecks:\n  - status: 200\n";

/// Regression: the class was taken from the whole error chain, URL included, so a refused
/// connection to `https://tls-gw.internal` (or a path with `tls` in it) was reported as `tls`.
#[tokio::test]
async fn a_refused_connection_is_connect_whatever_its_url_says() {
    let port = crate::helpers::closed_port();
    for host in ["tls-gw.invalid", "dns-certificate-handshake.invalid"] {
        let stub = Stub::new(host, &["127.0.0.1"]);
        for scheme in ["http", "https"] {
            let r = run(&format!("{scheme}://{host}:{port}"), PROBE, stub.clone()).await;
            let Outcome::Error(e) = &r.outcome else {
                panic!("{scheme}://{host}: {:?}", r.outcome);
            };
            assert_eq!(e.kind.as_str(), "connect", "{scheme}://{host}: {e}");
        }
    }
}

/// A handshake that fails on the certificate is still `tls`.
#[tokio::test]
async fn an_untrusted_certificate_is_tls() {
    let pki = Pki::new();
    let selfsigned = pki.self_signed("self");
    let server = pki.serve(&selfsigned, &["-www"]).await;
    let r = run_probe_with(&format!("https://127.0.0.1:{}", server.port), "", PROBE).await;
    let Outcome::Error(e) = &r.outcome else {
        panic!("{:?}", r.outcome);
    };
    assert_eq!(e.kind.as_str(), "tls", "{e}");
}
