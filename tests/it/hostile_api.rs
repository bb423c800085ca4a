//! Anyone who can reach the API port must not be able to stop probing: `picket run` under a
//! low file-descriptor limit, with more idle connections held open to its API than that limit,
//! keeps probing without `error` outcomes, announces a regression, answers `/healthz`, and
//! closes the idle connections after `api.idle_timeout`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use picket::api::Row;
use picket::state::{Mark, State};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::helpers::{picket, workspace};
use crate::service::{Flipper, NOSNIFF, Service, spawn_service_command};

/// The descriptor limit (soft and hard) the service runs with.
const NOFILE: usize = 256;
/// Idle connections the attacker keeps open: more than the service's descriptor limit.
const ATTACK: usize = 300;

/// `picket run` in `dir` under `ulimit -n NOFILE` (which sets the hard limit too, so picket
/// cannot raise it).
fn spawn_limited(dir: &Path) -> Service {
    let base = picket(dir);
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(dir);
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.args([
        "-c",
        &format!("ulimit -n {NOFILE} && exec \"$@\""),
        "sh",
        env!("CARGO_BIN_EXE_picket"),
        "--log",
        "info",
        "run",
        "-c",
        "picket.yaml",
    ]);
    spawn_service_command(cmd)
}

/// A 1 s schedule, `confirm: 2`, four runs in flight at most, the API on port 0 with a 2 s
/// idle timeout.
fn limited_workspace(target_url: &str) -> tempfile::TempDir {
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    let root = ws.path();
    let config = format!(
        "library: false\nprobes: [{probes}]\ntargets:\n  - name: web\n    url: {target_url}\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 2\n  recover: 1\n  timeout: 2s\n\
         limits:\n  concurrency: 4\n  per_target_rps: 100\nstate: {{ path: {state} }}\n\
         api: {{ listen: \"127.0.0.1:0\", idle_timeout: 2s }}\n",
        probes = root.join("probes").display(),
        state = root.join("state").display(),
    );
    std::fs::write(root.join("picket.yaml"), config).unwrap();
    ws
}

/// Keeps `ATTACK` idle TCP connections open to `api` (never sending a byte), opening new ones
/// as the server closes old ones, until `stop`; returns the connections still open then.
fn attack(
    api: SocketAddr,
    opened: Arc<AtomicU64>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Vec<TcpStream>> {
    tokio::spawn(async move {
        let mut held: Vec<TcpStream> = Vec::new();
        loop {
            held.retain(|s| {
                let mut byte = [0u8; 1];
                // Open while a read would block; closed (or reset) by the server otherwise.
                matches!(s.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            while held.len() < ATTACK {
                match TcpStream::connect(api).await {
                    Ok(s) => {
                        held.push(s);
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            tokio::select! {
                () = stop.cancelled() => return held,
                () = tokio::time::sleep(Duration::from_millis(300)) => {}
            }
        }
    })
}

/// Asks `/healthz` on a fresh connection every 100 ms until `stop`; returns the successes
/// and every failure.
fn check_health(
    api: SocketAddr,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<(u32, Vec<String>)> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let (mut ok, mut failures) = (0, Vec::new());
        while !stop.is_cancelled() {
            match client.get(format!("http://{api}/healthz")).send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                Ok(r) => failures.push(format!("status {}", r.status())),
                Err(e) => failures.push(format!("{e:?}")),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (ok, failures)
    })
}

/// The series row, over a fresh connection with a timeout (a starved API must fail the
/// test, not hang it).
async fn row(api: SocketAddr) -> Row {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let body = client
        .get(format!("http://{api}/api/v1/series"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the API did not answer: {e:?}"))
        .text()
        .await
        .unwrap();
    let rows: Vec<Row> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    rows.into_iter().next().expect("one series")
}

/// Polls the row until `done`, failing on any `error` outcome seen on the way.
async fn until(api: SocketAddr, done: impl Fn(&Row) -> bool) -> Row {
    let start = Instant::now();
    loop {
        let row = row(api).await;
        assert!(
            !row.history.contains(&Mark::Error),
            "a run ended in error: {row:?}"
        );
        if done(&row) {
            return row;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_descriptor_limit_do_not_stop_probing() {
    picket::crypto::install_crypto_provider();
    let target = Flipper::start().await;
    let ws = limited_workspace(&target.server.url());
    let service = spawn_limited(ws.path());
    let api = service.api;
    let log = Arc::clone(&service.log);
    let logged = |text: &str| log.lock().unwrap().contains(text);
    let wait_logged = async |text: &str| {
        let start = Instant::now();
        while !logged(text) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "not in the log: {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // The start-up line gives the descriptor limit and the API's share of it:
    // 256 − (64 + 4 × 4) = 176 connections.
    wait_logged(&format!("fd_limit={NOFILE}")).await;
    assert!(logged("max_connections=176"));
    until(api, |r| r.state == State::Passing).await;

    let stop = CancellationToken::new();
    let opened = Arc::new(AtomicU64::new(0));
    let attacker = attack(api, Arc::clone(&opened), stop.clone());
    let health = check_health(api, stop.clone());
    let start = Instant::now();
    while opened.load(Ordering::Relaxed) < ATTACK as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "could not connect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = row(api).await.history.len();
    // Runs go on under the attack, all of them passing...
    until(api, |r| {
        r.history.len() >= before + 3 && r.last_outcome == Some(Mark::Pass)
    })
    .await;
    // ...and the regression is seen and announced.
    target.set_insecure(true);
    let regressed = until(api, |r| r.state == State::Regressed).await;
    assert_eq!(
        regressed.findings[0].observed, "X-Content-Type-Options not sent",
        "{regressed:?}"
    );
    wait_logged("security regression").await;
    // The cap was reached: past it, the server closed idle connections to make room, and
    // said so.
    assert!(
        opened.load(Ordering::Relaxed) > ATTACK as u64,
        "the server closed attacking connections during the attack"
    );
    assert!(logged("API connection limit reached"));

    stop.cancel();
    let held = attacker.await.unwrap();
    let (healthy, failures) = health.await.unwrap();
    assert!(failures.is_empty(), "/healthz failed: {failures:?}");
    assert!(healthy > 0);
    assert!(!logged("Too many open files"), "descriptors ran out");

    // Every connection still held is closed by the server after the idle timeout (2 s; the
    // bound here is generous for a busy machine).
    let closing = held.into_iter().map(|mut s| async move {
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => true,
            Ok(Ok(_)) | Err(_) => false,
        }
    });
    let closed = futures_util::future::join_all(closing).await;
    assert!(
        closed.iter().all(|c| *c),
        "{} of {} idle connections still open after 30 s",
        closed.iter().filter(|c| !**c).count(),
        closed.len()
    );
    let status = service.terminate().await;
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Whether the server closes `stream` within `within` (a read ends, with EOF or an error)
/// while `keep_sending` bytes trickle out every 200 ms.
async fn closed_within<S>(mut stream: S, within: Duration, trickle: &[u8]) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt as _;
    let start = Instant::now();
    let mut next = trickle.iter();
    let mut buf = [0u8; 256];
    while start.elapsed() < within {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return true,
                Ok(_) => {} // a response to a request sent before: keep reading
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if let Some(byte) = next.next()
                    && stream.write_all(&[*byte]).await.is_err()
                {
                    return true;
                }
            }
        }
    }
    false
}

/// Over HTTP and HTTPS: a connection that says nothing, one kept alive after a request, one
/// that completed its TLS handshake and sends nothing, and one that trickles its headers
/// byte by byte (so bytes keep moving) are all closed after `api.idle_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_closed_after_the_idle_timeout() {
    use crate::tls_servers::{LeafSpec, Pki};
    use tokio::io::AsyncWriteExt as _;
    picket::crypto::install_crypto_provider();
    let target = Flipper::start().await;
    let pki = Pki::new();
    let leaf = pki.leaf("api", LeafSpec::default());
    // A generous bound for a 1 s timeout on a busy machine; without a timeout, never.
    let bound = Duration::from_secs(30);
    // An endless header: every byte keeps the connection busy, the header never completes.
    let slow: Vec<u8> = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'a', 1000))
        .collect();
    for tls in [false, true] {
        let ws = limited_workspace(&target.server.url());
        let path = ws.path().join("picket.yaml");
        let mut config = std::fs::read_to_string(&path)
            .unwrap()
            .replace("idle_timeout: 2s", "idle_timeout: 1s");
        if tls {
            config = config.replace(
                "idle_timeout: 1s",
                &format!(
                    "idle_timeout: 1s, tls: {{ cert_file: \"{}\", key_file: \"{}\" }}",
                    leaf.cert.display(),
                    leaf.key.display()
                ),
            );
        }
        std::fs::write(&path, config).unwrap();
        let shutdown = CancellationToken::new();
        let running = crate::service::start_in_process(
            &path,
            Arc::new(|_: &str| None),
            Some(picket::telemetry::Telemetry::disabled()),
            shutdown.clone(),
        )
        .await;
        let api = running.api_addr;
        let connector = {
            let mut roots = rustls::RootCertStore::empty();
            use rustls::pki_types::pem::PemObject as _;
            for cert in rustls::pki_types::CertificateDer::pem_file_iter(&pki.ca_file).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
            tokio_rustls::TlsConnector::from(Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            ))
        };
        let connect = async || {
            let tcp = TcpStream::connect(api).await.unwrap();
            let stream: Box<dyn AsyncStream> = if tls {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                Box::new(connector.connect(name, tcp).await.unwrap())
            } else {
                Box::new(tcp)
            };
            stream
        };
        let label = if tls { "https" } else { "http" };

        // Says nothing (over HTTPS: after its handshake).
        assert!(
            closed_within(connect().await, bound, &[]).await,
            "{label}: a silent connection stays open"
        );
        // Kept alive after a request that was answered.
        let mut kept = connect().await;
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        kept.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200", "{label}");
        assert!(
            closed_within(kept, bound, &[]).await,
            "{label}: an idle keep-alive connection stays open"
        );
        // Trickles its headers: bytes move, but no request ever arrives.
        assert!(
            closed_within(connect().await, bound, &slow).await,
            "{label}: a connection trickling its headers stays open"
        );
        // Meanwhile the API answers.
        let mut fresh = connect().await;
        fresh
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = fresh.read_to_end(&mut answer).await;
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{label}");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), running.wait())
            .await
            .expect("shutdown within the grace period")
            .unwrap();
    }
}

trait AsyncStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> AsyncStream for T {}

/// `api.idle_timeout` out of range or not a duration: a located error with a hint.
#[tokio::test]
async fn a_bad_idle_timeout_is_a_located_error() {
    for (value, message) in [
        (
            "0s",
            "`idle_timeout: 0s` is out of range: it must be from 1s to 1h",
        ),
        (
            "soon",
            "idle_timeout: expected a duration such as 10s, found `soon`",
        ),
    ] {
        let ws = workspace(&[(
            "picket.yaml",
            &format!(
                "library: true\ntargets:\n  - name: web\n    url: http://127.0.0.1:1\n\
                 api:\n  idle_timeout: {value}\n"
            ),
        )]);
        let out =
            crate::helpers::run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
        let (_, stderr) = crate::helpers::texts(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("picket.yaml:6:17: {message}")),
            "{stderr}"
        );
        assert!(stderr.contains("hint: "), "{stderr}");
    }
}
