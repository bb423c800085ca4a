//! The `tcp` probe kind against real loopback sockets: segmentation (`reachable`), banners,
//! payloads, ports from target variables, and containment.

use std::net::SocketAddr;

use picket::outcome::Outcome;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::helpers::{run_picket, run_probe_with, texts, workspace};

/// A loopback port that accepts, writes `greeting`, answers anything it reads with `reply`,
/// and closes.
pub async fn service(greeting: &'static [u8], reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = sock.write_all(greeting).await;
                let mut buf = [0u8; 256];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(std::time::Duration::from_millis(300), sock.read(&mut buf))
                        .await
                    && n > 0
                {
                    let _ = sock.write_all(reply).await;
                }
            });
        }
    });
    addr
}

fn probe(tcp: &str, checks: &str) -> String {
    format!("id: network/test\nname: test\nseverity: high\ntcp: {tcp}\nchecks:\n{checks}")
}

#[tokio::test]
async fn an_open_port_fails_reachable_false_and_a_closed_one_passes() {
    let open = service(b"", b"").await;
    let closed = crate::helpers::closed_port();
    let check = "  - reachable: false\n";
    let r = run_probe_with(
        "tcp://127.0.0.1:1",
        "",
        &probe(&format!("{{ ports: [{}, {closed}] }}", open.port()), check),
    )
    .await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        findings[0].check,
        format!("port {} is not reachable", open.port())
    );
    assert_eq!(findings[0].expected, "the port is not reachable from here");
    assert_eq!(findings[0].observed, "connection accepted");

    let r = run_probe_with(
        &format!("tcp://127.0.0.1:{closed}"),
        "",
        &probe("{}", "  - reachable: true\n"),
    )
    .await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(findings[0].observed, "connection refused");
    let r = run_probe_with(
        &format!("tcp://127.0.0.1:{closed}"),
        "",
        &probe("{}", check),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Pass);
}

#[tokio::test]
async fn banners_are_checked_on_what_the_service_says_first() {
    let old = service(b"SSH-2.0-OpenSSH_7.4\r\n", b"").await;
    let new = service(b"SSH-2.0-OpenSSH_9.6\r\n", b"").await;
    let check = "  - banner: { not_matches: '^SSH-2\\.0-OpenSSH_[0-7]\\.' }\n";
    let r = run_probe_with(&format!("tcp://{old}"), "", &probe("{}", check)).await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(findings[0].observed.contains("OpenSSH_7.4"), "{findings:?}");
    let r = run_probe_with(&format!("tcp://{new}"), "", &probe("{}", check)).await;
    assert_eq!(r.outcome, Outcome::Pass);
    let r = run_probe_with(
        &format!("tcp://{new}"),
        "",
        &probe("{}", "  - banner: { contains: OpenSSH_9 }\n"),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Pass);
}

#[tokio::test]
async fn a_payload_is_sent_and_the_answer_checked() {
    // A "TLS-only" port that answers plain HTTP: a finding.
    let plain = service(b"", b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let tcp = "{ send: \"GET / HTTP/1.0\\r\\n\\r\\n\" }";
    let check = "  - banner: { not_matches: '^HTTP/' }\n";
    let r = run_probe_with(&format!("tcp://{plain}"), "", &probe(tcp, check)).await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(
        findings[0].observed.contains("400 Bad Request"),
        "{findings:?}"
    );
    // A port that says nothing to plain HTTP passes.
    let quiet = service(b"", b"").await;
    let r = run_probe_with(&format!("tcp://{quiet}"), "", &probe(tcp, check)).await;
    assert_eq!(r.outcome, Outcome::Pass);
}

#[tokio::test]
async fn ports_come_from_a_target_list_variable() {
    let open = service(b"", b"").await;
    let closed = crate::helpers::closed_port();
    let vars = format!(
        "    vars:\n      closed_ports: [{closed}, {}]\n",
        open.port()
    );
    let r = run_probe_with(
        "tcp://127.0.0.1:1",
        &vars,
        &probe(
            "{ ports: \"{{vars.closed_ports}}\" }",
            "  - reachable: false\n",
        ),
    )
    .await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(findings.len(), 1);
    assert!(findings[0].check.contains(&open.port().to_string()));
}

#[tokio::test]
async fn a_tcp_probe_cannot_name_another_host_and_http_probes_skip_tcp_targets() {
    let ws = workspace(&[
        (
            "picket.yaml",
            "probes: [probes/]\ntargets:\n  - name: cache\n    url: tcp://127.0.0.1:6379\n",
        ),
        (
            "probes/elsewhere.yaml",
            &probe("{ host: 127.0.0.2, port: 22 }", "  - reachable: false\n"),
        ),
    ]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("probes/elsewhere.yaml:4:8: unknown field `host`"),
        "{stderr}"
    );

    let ws = workspace(&[
        (
            "picket.yaml",
            "library: false\nprobes: [probes/]\ntargets:\n  - name: cache\n    url: tcp://127.0.0.1:6379\n",
        ),
        ("probes/port.yaml", &probe("{}", "  - reachable: false\n")),
        (
            "probes/web.yaml",
            "id: headers/x\nname: x\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n",
        ),
    ]);
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("SERIES (1)"), "{stdout}");
    assert!(
        stdout.contains("headers/x") && stdout.contains("http probe; target is tcp://"),
        "{stdout}"
    );
    // A tcp:// target needs a port.
    let ws = workspace(&[(
        "picket.yaml",
        "targets:\n  - name: cache\n    url: tcp://127.0.0.1\n",
    )]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    assert!(
        texts(&out).1.contains("a `tcp://` target needs a port"),
        "{:?}",
        texts(&out)
    );
}

fn shipped(id: &str) -> String {
    std::fs::read_to_string(crate::helpers::repo_root().join(format!("probes/{id}.yaml"))).unwrap()
}

#[tokio::test]
async fn shipped_port_closed_flags_an_open_port_and_passes_closed_ones() {
    let open = service(b"", b"").await;
    let closed = crate::helpers::closed_port();
    let probe = shipped("network/port-closed");
    let vulnerable = format!(
        "    vars:\n      closed_ports: [{}, {closed}]\n",
        open.port()
    );
    let r = run_probe_with("tcp://127.0.0.1:1", &vulnerable, &probe).await;
    let Outcome::Fail(findings) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].observed, "connection accepted");
    let secure = format!("    vars:\n      closed_ports: [{closed}]\n");
    let r = run_probe_with("tcp://127.0.0.1:1", &secure, &probe).await;
    assert_eq!(r.outcome, Outcome::Pass);
}

#[tokio::test]
async fn shipped_plaintext_closed_flags_a_port_serving_http() {
    let serving = service(b"", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi").await;
    let refusing = service(
        b"",
        b"HTTP/1.1 400 Bad Request\r\n\r\nThe plain HTTP request was sent to HTTPS port",
    )
    .await;
    let probe = shipped("network/plaintext-closed");
    let vars = |p: u16| format!("    vars:\n      plaintext_ports: [{p}]\n");
    let r = run_probe_with("https://127.0.0.1:1", &vars(serving.port()), &probe).await;
    assert!(matches!(r.outcome, Outcome::Fail(_)), "{:?}", r.outcome);
    let r = run_probe_with("https://127.0.0.1:1", &vars(refusing.port()), &probe).await;
    assert_eq!(r.outcome, Outcome::Pass);
    let r = run_probe_with(
        "https://127.0.0.1:1",
        &vars(crate::helpers::closed_port()),
        &probe,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Pass);
}
