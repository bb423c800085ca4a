//! API hardening: `nosniff` everywhere, a `Host` rule against DNS rebinding, and a warning
//! when the API listens off loopback.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};
use crate::service::{signal, spawn_service};

/// One HTTP/1.x request with exactly the given `Host` line (none when `host` is `None`), over
/// a fresh connection. Returns the status, the header block (lowercased) and the body.
fn raw_get(api: SocketAddr, path: &str, host: Option<&str>) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = match host {
        Some(host) => format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        None => format!("GET {path} HTTP/1.0\r\n\r\n"),
    };
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Every route that follows the `Host` rule.
const PAGES: [&str; 4] = [
    "/api/v1/series",
    "/api/v1/regressions",
    "/",
    "/series?probe=headers/nosniff&target=web",
];

fn api_workspace(target: &str, api: &str) -> tempfile::TempDir {
    workspace(&[
        ("probes/nosniff.yaml", crate::service::NOSNIFF),
        (
            "picket.yaml",
            &format!(
                "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: {target}\n\
                 defaults:\n  schedule: {{ every: 1s }}\nstate: {{ path: state }}\n{api}"
            ),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_only_its_own_names_and_never_lets_a_browser_sniff() {
    let target = TestServer::start(|_| respond(200, &[], "ok")).await;
    let ws = api_workspace(
        &target.url(),
        "api:\n  listen: \"127.0.0.1:0\"\n  allowed_hosts: [picket.internal, Other.Example.]\n",
    );
    let mut service = spawn_service(ws.path(), &[]);
    let api = service.api;
    let port = api.port();
    let get = move |path: &'static str, host: Option<String>| {
        tokio::task::spawn_blocking(move || raw_get(api, path, host.as_deref()))
    };

    let answered = [
        Some(format!("127.0.0.1:{port}")),
        Some("127.0.0.1".to_string()),
        Some(format!("[::1]:{port}")),
        Some(format!("10.0.0.7:{port}")),
        Some(format!("localhost:{port}")),
        Some("dashboard.localhost".to_string()),
        Some("picket.internal".to_string()),
        Some(format!("PICKET.INTERNAL:{port}")),
        Some("other.example".to_string()),
        // HTTP/1.0 without a Host: no browser sends that.
        None,
    ];
    for host in answered {
        for path in PAGES {
            let (status, head, _) = get(path, host.clone()).await.unwrap();
            assert_eq!(status, 200, "{path} with Host {host:?}");
            assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        }
    }

    let refused = [
        "evil.example",
        "evil.example:9750",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "sub.picket.internal",
        "",
    ];
    for host in refused {
        for path in PAGES {
            let (status, head, body) = get(path, Some(host.to_string())).await.unwrap();
            assert_eq!(status, 421, "{path} with Host {host:?}: {body}");
            assert!(head.contains("content-type: text/plain"), "{head}");
            assert!(head.contains("x-content-type-options: nosniff"), "{head}");
            assert!(body.contains("api.allowed_hosts"), "{body}");
            assert!(!body.contains("web"), "nothing about series leaks: {body}");
        }
        // Health and readiness answer whatever the Host: orchestrators probe them by any name.
        for path in ["/healthz", "/readyz"] {
            let (status, head, _) = get(path, Some(host.to_string())).await.unwrap();
            assert_eq!(status, 200, "{path} with Host {host:?}");
            assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        }
    }

    // Errors carry the header too.
    let (status, head, _) = get("/nope", Some("127.0.0.1".into())).await.unwrap();
    assert_eq!(status, 404);
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");

    let (_, head, page) = get("/", Some("localhost".into())).await.unwrap();
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(page.contains("headers/nosniff"), "the page still renders");
    let (status, head, page) = get(PAGES[3], Some("localhost".into())).await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(
        head.contains("content-security-policy: default-src 'none'")
            && head.contains("frame-ancestors 'none'"),
        "{head}"
    );
    assert!(page.contains("MIME sniffing is disabled"), "{page}");
    let (status, head, _) = get("/series?probe=nope&target=web", Some("localhost".into()))
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert!(head.contains("content-security-policy"), "{head}");

    let log = service.log.lock().unwrap().clone();
    assert!(
        !log.contains("reachable from the network"),
        "no warning on loopback: {log}"
    );
    service.child.kill().unwrap();
    service.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_off_loopback_is_accepted_with_a_warning() {
    let target = TestServer::start(|_| respond(200, &[], "ok")).await;
    // Bound on every interface for the few hundred milliseconds of the test; only ever
    // contacted over loopback.
    let ws = api_workspace(&target.url(), "api: { listen: \"0.0.0.0:0\" }\n");
    let mut service = spawn_service(ws.path(), &[]);
    let loopback = SocketAddr::from(([127, 0, 0, 1], service.api.port()));
    // Ready once the scheduler runs, a moment after the API address is printed.
    let mut status = 0;
    for _ in 0..100 {
        status = tokio::task::spawn_blocking(move || raw_get(loopback, "/readyz", None))
            .await
            .unwrap()
            .0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    signal(&service.child, "-TERM");
    let log = service.log.clone();
    let status = tokio::task::spawn_blocking(move || service.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let log = log.lock().unwrap().clone();
    let line = log
        .lines()
        .find(|l| l.contains("the API is reachable from the network"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("0.0.0.0:"), "{line}");
}

#[tokio::test]
async fn allowed_hosts_must_be_bare_names() {
    let ws = workspace(&[(
        "picket.yaml",
        "probes: []\napi:\n  allowed_hosts:\n    - picket.internal\n    - http://picket.internal:9750\n    - \"bad name\"\n",
    )]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("picket.yaml:5:7")
            && stderr.contains("invalid host name `http://picket.internal:9750`"),
        "{stderr}"
    );
    assert!(stderr.contains("picket.yaml:6:7"), "{stderr}");
    assert!(stderr.contains("without scheme, port"), "{stderr}");
}
