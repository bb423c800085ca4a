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
        assert!(start.elapsed() < Duration::from_secs(60), "timed out: {row:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_descriptor_limit_do_not_stop_probing() {
    picket::run::init_tls();
    let target = Flipper::start().await;
    let ws = limited_workspace(&target.server.url());
    let service = spawn_limited(ws.path());
    let api = service.api;
    let log = Arc::clone(&service.log);
    let logged = |text: &str| log.lock().unwrap().contains(text);
    assert!(
        logged(&format!("limit={NOFILE}")),
        "picket logs its descriptor limit"
    );
    until(api, |r| r.state == State::Passing).await;

    let stop = CancellationToken::new();
    let opened = Arc::new(AtomicU64::new(0));
    let attacker = attack(api, Arc::clone(&opened), stop.clone());
    let health = check_health(api, stop.clone());
    // The cap is reached: past it, the server closes idle connections to make room.
    let start = Instant::now();
    while !logged("API connection limit reached") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the API never reached its connection limit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(opened.load(Ordering::Relaxed) >= ATTACK as u64);
    let before = row(api).await.history.len();
    // Runs go on under the attack, all of them passing...
    until(api, |r| {
        r.history.len() >= before + 3 && r.last_outcome == Some(Mark::Pass)
    })
    .await;
    // ...and the regression is seen and announced.
    target.set_insecure(true);
    let regressed = until(api, |r| r.state == State::Regressed).await;
    assert_eq!(regressed.findings[0].observed, "absent", "{regressed:?}");
    let start = Instant::now();
    while !logged("security regression") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no regression in the log"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        opened.load(Ordering::Relaxed) > ATTACK as u64,
        "the server closed attacking connections during the attack"
    );

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
