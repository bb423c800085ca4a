//! API hardening: `nosniff` everywhere, a `Host` rule against DNS rebinding, and a bearer
//! token (`api.token`), which an API off loopback must have.

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

/// One HTTP/1.1 request to `127.0.0.1:port` with the given extra header lines. Returns the
/// status, the header block (lowercased) and the body.
fn raw_request(api: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Waits until `/readyz` answers 200 (the scheduler runs a moment after the address prints).
async fn ready(api: SocketAddr) {
    for _ in 0..100 {
        let (status, _, _) = tokio::task::spawn_blocking(move || raw_request(api, "/readyz", &[]))
            .await
            .unwrap();
        if status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never ready");
}

#[tokio::test]
async fn an_api_off_loopback_without_a_token_is_refused_with_its_position() {
    let target = TestServer::start(|_| respond(200, &[], "ok")).await;
    for listen in ["0.0.0.0:0", "\"[::]:0\"", "10.1.2.3:9750"] {
        let ws = api_workspace(&target.url(), &format!("api:\n  listen: {listen}\n"));
        for command in ["validate", "run"] {
            let out = run_picket(ws.path(), &[command, "-c", "picket.yaml"], &[]).await;
            let (stdout, stderr) = texts(&out);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} {listen}: {stdout}{stderr}"
            );
            assert!(
                stderr.contains("picket.yaml:10:11: the API listens on")
                    && stderr.contains("off loopback, without `api.token`"),
                "{command} {listen}: {stderr}"
            );
            assert!(
                stderr.contains("hint: set `token: \"${env:PICKET_API_TOKEN}\"` under `api:`"),
                "{stderr}"
            );
        }
    }
    // Loopback needs no token.
    let ws = api_workspace(&target.url(), "api:\n  listen: \"[::1]:0\"\n");
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
}

#[tokio::test]
async fn a_token_must_be_long_printable_and_set() {
    let target = TestServer::start(|_| respond(200, &[], "ok")).await;
    let cases = [
        (
            "token: short-token",
            "api.token has 11 characters; at least 16",
        ),
        (
            "token: \"with spaces in the token\"",
            "printable ASCII without spaces",
        ),
        (
            "token: \"${env:PICKET_TEST_NO_SUCH_TOKEN}\"",
            "`PICKET_TEST_NO_SUCH_TOKEN` is not set",
        ),
    ];
    for (line, message) in cases {
        let ws = api_workspace(
            &target.url(),
            &format!("api:\n  listen: 0.0.0.0:9750\n  {line}\n"),
        );
        let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("picket.yaml:11:10: "), "{line}: {stderr}");
        assert!(stderr.contains(message), "{line}: {stderr}");
        // Only the token's own problem: its absence is not reported on top.
        assert!(!stderr.contains("without `api.token`"), "{stderr}");
    }
}

const API_TOKEN: &str = "9f2c1e7a4b8d0f3a6c5e-api";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_route_but_health_and_readiness() {
    let target = TestServer::start(|_| respond(200, &[], "ok")).await;
    // Bound on every interface for the few hundred milliseconds of the test; only ever
    // contacted over loopback.
    let ws = api_workspace(
        &target.url(),
        "api:\n  listen: \"0.0.0.0:0\"\n  token: \"${env:PICKET_TEST_API_TOKEN}\"\n",
    );
    let service = spawn_service(ws.path(), &[("PICKET_TEST_API_TOKEN", API_TOKEN)]);
    let api = SocketAddr::from(([127, 0, 0, 1], service.api.port()));
    ready(api).await;
    let get = move |path: &'static str, headers: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            raw_request(api, path, &headers)
        })
    };
    let bearer = format!("Bearer {API_TOKEN}");

    for path in PAGES {
        let (status, head, body) = get(path, vec![]).await.unwrap();
        assert_eq!(status, 401, "{path}: {body}");
        assert!(
            head.contains("www-authenticate: bearer realm=\"picket\""),
            "{head}"
        );
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(body.contains("Authorization: Bearer"), "{body}");
        assert!(
            !body.contains("nosniff"),
            "nothing about series leaks: {body}"
        );
        for wrong in [
            "Bearer 9f2c1e7a4b8d0f3a6c5e-ap",
            "Bearer 9f2c1e7a4b8d0f3a6c5e-apix",
            "Bearer ",
        ] {
            let (status, head, _) = get(path, vec![("Authorization", wrong.into())])
                .await
                .unwrap();
            assert_eq!(status, 401, "{path} with {wrong}");
            assert!(head.contains("error=\"invalid_token\""), "{head}");
        }
        let (status, _, body) = get(path, vec![("Authorization", format!("Basic {API_TOKEN}"))])
            .await
            .unwrap();
        assert_eq!(status, 401, "{path}");
        assert!(body.contains("not `Basic`"), "{body}");
        let (status, _, body) = get(path, vec![("Authorization", bearer.clone())])
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        let (status, _, _) = get(path, vec![("Authorization", format!("bearer {API_TOKEN}"))])
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: the scheme is case-insensitive");
    }
    for path in ["/healthz", "/readyz"] {
        let (status, _, _) = get(path, vec![]).await.unwrap();
        assert_eq!(status, 200, "{path} needs no token");
    }
    let (_, _, rows) = get("/api/v1/series", vec![("Authorization", bearer.clone())])
        .await
        .unwrap();
    assert!(rows.contains("headers/nosniff"), "{rows}");

    // A browser: the token once in the query, then a cookie; the redirect drops the token
    // and keeps the filters.
    let (status, head, _) = get("/?token=9f2c1e7a4b8d0f3a6c5e-api&target=web", vec![])
        .await
        .unwrap();
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("\r\nlocation: /?target=web"), "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.starts_with("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(
        cookie_line.contains("; httponly; samesite=strict"),
        "{cookie_line}"
    );
    assert!(
        !cookie_line.contains(&API_TOKEN.to_ascii_lowercase()),
        "{cookie_line}"
    );
    // The header block was lowercased; the cookie value is case-sensitive: read it raw.
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(api).unwrap();
        stream
            .write_all(
                b"GET /?token=9f2c1e7a4b8d0f3a6c5e-api HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    assert!(raw.contains("\r\nlocation: /\r\n"), "{raw}");
    let cookie = raw
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    for path in [
        "/",
        "/?target=web",
        "/series?probe=headers/nosniff&target=web",
    ] {
        let (status, _, page) = get(path, vec![("Cookie", format!("theme=dark; {cookie}"))])
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: {page}");
    }
    let (status, _, _) = get("/", vec![("Cookie", "picket_session=AAAA".into())])
        .await
        .unwrap();
    assert_eq!(status, 401, "a made-up cookie");
    let (status, head, _) = get("/?token=wrong-token-0000000000", vec![]).await.unwrap();
    assert_eq!(status, 401);
    assert!(!head.contains("set-cookie"), "{head}");

    signal(&service.child, "-TERM");
    let log = service.log.clone();
    let mut child = service.child;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let log = log.lock().unwrap().clone();
    let line = log
        .lines()
        .find(|l| l.contains("the API is reachable from the network"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(line.contains("WARN") && line.contains("0.0.0.0:"), "{line}");
    assert!(!log.contains(API_TOKEN), "{log}");
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

/// A client that trusts only the CA in `ca_file` and keeps no connection between requests.
fn https_client(ca_file: &std::path::Path) -> reqwest::Client {
    picket::crypto::install_crypto_provider();
    let pem = std::fs::read(ca_file).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_https_and_a_reload_picks_up_a_renewed_certificate() {
    use crate::tls_servers::{LeafSpec, Pki};
    let target = TestServer::start(|_| respond(200, &[], "ok")).await;
    let first = Pki::new();
    let leaf = first.leaf("api", LeafSpec::default());
    let ws = api_workspace(
        &target.url(),
        &format!(
            "api:\n  listen: \"127.0.0.1:0\"\n  token: \"${{env:PICKET_TEST_API_TOKEN}}\"\n  tls: {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
            leaf.cert.display(),
            leaf.key.display()
        ),
    );
    let path = ws.path().join("picket.yaml");
    // The state path in the workspace config is relative: run from the workspace's view.
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "path: state",
        &format!("path: {}", ws.path().join("state").display()),
    );
    std::fs::write(&path, config).unwrap();
    let env = |name: &str| (name == "PICKET_TEST_API_TOKEN").then(|| API_TOKEN.to_string());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = crate::service::start_in_process(
        &path,
        std::sync::Arc::new(env),
        Some(picket::telemetry::Telemetry::disabled()),
        shutdown.clone(),
    )
    .await;
    let port = running.api_addr.port();
    let url = |route: &str| format!("https://127.0.0.1:{port}{route}");

    // A client that connects and never says hello holds no one up.
    let silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let client = https_client(&first.ca_file);
    let status = |r: reqwest::Response| r.status().as_u16();
    let get = client.get(url("/api/v1/series"));
    assert_eq!(
        status(get.bearer_auth(API_TOKEN).send().await.unwrap()),
        200
    );
    assert_eq!(
        status(client.get(url("/api/v1/series")).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(client.get(url("/healthz")).send().await.unwrap()),
        200
    );
    let login = client
        .get(url(&format!("/?token={API_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.ends_with("; HttpOnly; SameSite=Strict; Secure"),
        "{cookie}"
    );
    drop(silent);
    // Plain HTTP gets no answer from the HTTPS port.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // Renewal, as cert-manager does it: new files in place, then a reload.
    let second = Pki::new();
    let renewed = second.leaf("api", LeafSpec::default());
    std::fs::copy(&renewed.cert, &leaf.cert).unwrap();
    std::fs::copy(&renewed.key, &leaf.key).unwrap();
    running.reload();
    let trusts_second = https_client(&second.ca_file);
    let start = std::time::Instant::now();
    loop {
        if let Ok(r) = trusts_second.get(url("/healthz")).send().await {
            assert_eq!(r.status().as_u16(), 200);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the renewed certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        https_client(&first.ca_file)
            .get(url("/healthz"))
            .send()
            .await
            .is_err(),
        "the old certificate is no longer served"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("shutdown within the grace period")
        .unwrap();
}

#[tokio::test]
async fn api_tls_files_that_do_not_load_are_located_errors() {
    use crate::tls_servers::{LeafSpec, Pki};
    let pki = Pki::new();
    let leaf = pki.leaf("api", LeafSpec::default());
    let other = pki.leaf("other", LeafSpec::default());
    let cases = [
        (
            format!("/nonexistent/tls.crt\", key_file: \"{}", leaf.key.display()),
            "picket.yaml:12:21: `/nonexistent/tls.crt`: cannot read file",
        ),
        (
            format!(
                "{}\", key_file: \"{}",
                leaf.cert.display(),
                leaf.cert.display()
            ),
            "no PEM private key in",
        ),
        (
            format!(
                "{}\", key_file: \"{}",
                leaf.cert.display(),
                other.key.display()
            ),
            "does not fit the certificate",
        ),
    ];
    for (files, message) in cases {
        let ws = api_workspace(
            "http://127.0.0.1:9",
            &format!(
                "api:\n  listen: \"127.0.0.1:0\"\n  token: 0123456789abcdef-token\n  tls: {{ cert_file: \"{files}\" }}\n"
            ),
        );
        let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{message}: {stderr}");
        assert!(stderr.contains("picket.yaml:12:"), "{stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
}
