//! `picket run` as a whole: regressions and recoveries over the API, state that survives
//! SIGKILL, and a clean SIGTERM. Targets are real loopback servers whose headers flip.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use picket::api::Row;
use picket::state::{Mark, State};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestServer, picket, respond, workspace};

/// A target whose `X-Content-Type-Options` header can be switched off.
pub struct Flipper {
    pub server: TestServer,
    insecure: Arc<AtomicBool>,
}

impl Flipper {
    pub async fn start() -> Flipper {
        let insecure = Arc::new(AtomicBool::new(false));
        let flag = insecure.clone();
        let server = TestServer::start(move |_| {
            if flag.load(Ordering::SeqCst) {
                respond(200, &[("content-type", "text/html")], "<html></html>")
            } else {
                respond(
                    200,
                    &[
                        ("content-type", "text/html"),
                        ("x-content-type-options", "nosniff"),
                    ],
                    "<html></html>",
                )
            }
        })
        .await;
        Flipper { server, insecure }
    }

    pub fn set_insecure(&self, insecure: bool) {
        self.insecure.store(insecure, Ordering::SeqCst);
    }
}

pub const NOSNIFF: &str = "id: headers/nosniff\nname: MIME sniffing is disabled\nseverity: medium\nreferences: [https://www.zaproxy.org/docs/alerts/10021/]\nhttp:\n  path: /\nchecks:\n  - header: x-content-type-options\n    equals: nosniff\n";

/// A workspace with a 1 s schedule, `confirm: 2`, the state under `state/`, and the API on
/// port 0. `telemetry` is an extra YAML block.
pub fn service_workspace(target_url: &str, telemetry: &str) -> tempfile::TempDir {
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    let root = ws.path();
    let config = format!(
        "library: false\nprobes: [{probes}]\ntargets:\n  - name: web\n    url: {target_url}\n    tags: [public]\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 2\n  recover: 1\n  timeout: 2s\n\
         limits:\n  per_target_rps: 100\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n{telemetry}",
        probes = root.join("probes").display(),
        state = root.join("state").display(),
    );
    std::fs::write(root.join("picket.yaml"), config).unwrap();
    ws
}

/// The service started in-process on the config at `path`, its variables looked up by `env`,
/// with `telemetry` or (`None`) the config's.
pub async fn start_in_process(
    path: &Path,
    env: picket::service::SharedEnv,
    telemetry: Option<picket::telemetry::Telemetry>,
    shutdown: CancellationToken,
) -> picket::service::Running {
    picket::crypto::install_crypto_provider();
    let mut compiled = picket::load::Compiled::default();
    let loaded = compiled.load(path, &*env).unwrap_or_else(|d| panic!("{d}"));
    let telemetry = telemetry.unwrap_or_else(|| {
        picket::telemetry::Telemetry::init(&loaded.config.telemetry, None).unwrap()
    });
    picket::service::start(
        loaded,
        compiled,
        picket::service::ServiceOptions {
            config_path: path.to_path_buf(),
            shard: None,
            grace: Duration::from_secs(5),
            api_listen: None,
            watch_interval: None,
        },
        telemetry,
        env,
        shutdown,
    )
    .await
    .unwrap()
}

pub async fn get_rows(api: SocketAddr, route: &str) -> Vec<Row> {
    get_rows_with_token(api, route, None).await
}

/// Like [`get_rows`], sending `Authorization: Bearer <token>` when given.
pub async fn get_rows_with_token(api: SocketAddr, route: &str, token: Option<&str>) -> Vec<Row> {
    picket::crypto::install_crypto_provider();
    let mut request = reqwest::Client::new().get(format!("http://{api}{route}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body = request.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls the series row until `done` holds, checking `invariant` on every row seen.
pub async fn watch(
    api: SocketAddr,
    timeout: Duration,
    mut invariant: impl FnMut(&Row),
    done: impl Fn(&Row) -> bool,
) -> Row {
    let start = Instant::now();
    loop {
        let rows = get_rows(api, "/api/v1/series").await;
        if let Some(row) = rows.into_iter().next() {
            invariant(&row);
            if done(&row) {
                return row;
            }
        }
        assert!(start.elapsed() < timeout, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn trailing_fails(row: &Row) -> usize {
    row.history
        .iter()
        .rev()
        .take_while(|m| **m == Mark::Fail)
        .count()
}

/// The regression invariant: a series is never `regressed` before two failing runs in a row.
pub fn never_early(row: &Row) {
    if row.state == State::Regressed {
        assert!(
            trailing_fails(row) >= 2,
            "regressed after fewer than 2 failing runs: {row:?}"
        );
    }
}

/// Drives the secure → insecure → secure scenario over the API.
pub async fn flip_scenario(api: SocketAddr, target: &Flipper) {
    let long = Duration::from_secs(30);
    watch(api, long, never_early, |r| r.state == State::Passing).await;
    target.set_insecure(true);
    // The first failing run leaves the series passing...
    let first_fail = watch(api, long, never_early, |r| {
        r.last_outcome == Some(Mark::Fail)
    })
    .await;
    assert_eq!(first_fail.state, State::Passing, "{first_fail:?}");
    // ...the second makes it regressed.
    let regressed = watch(api, long, never_early, |r| r.state == State::Regressed).await;
    assert_eq!(regressed.findings.len(), 1);
    assert_eq!(
        regressed.findings[0].observed,
        "X-Content-Type-Options not sent"
    );
    let open = get_rows(api, "/api/v1/regressions").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].probe, "headers/nosniff");
    target.set_insecure(false);
    let recovered = watch(api, long, never_early, |r| r.state == State::Passing).await;
    assert!(recovered.findings.is_empty());
    assert!(get_rows(api, "/api/v1/regressions").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipping_target_regresses_and_recovers_over_the_api() {
    picket::crypto::install_crypto_provider();
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), "");
    let shutdown = CancellationToken::new();
    let running = start_in_process(
        &ws.path().join("picket.yaml"),
        Arc::new(|_: &str| None),
        None,
        shutdown.clone(),
    )
    .await;
    let api = running.api_addr;
    assert_eq!(
        reqwest::get(format!("http://{api}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(format!("http://{api}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );

    flip_scenario(api, &target).await;

    let page = reqwest::get(format!("http://{api}/")).await.unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.unwrap().contains("headers/nosniff"));

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("shutdown within the grace period")
        .unwrap();
}

/// A `picket run` child process; its stderr is scanned for the API address.
pub struct Service {
    pub child: Child,
    pub api: SocketAddr,
    /// Everything the process wrote to stderr so far.
    pub log: Arc<std::sync::Mutex<String>>,
}

pub fn spawn_service(dir: &Path, envs: &[(&str, &str)]) -> Service {
    spawn_service_with(dir, &[], envs)
}

/// Like [`spawn_service`], with extra arguments for `picket run`.
pub fn spawn_service_with(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Service {
    spawn_run(dir, &["--log", "info"], extra, envs)
}

/// `picket <global> run -c picket.yaml <extra>` in `dir`, once it printed its API address.
pub fn spawn_run(dir: &Path, global: &[&str], extra: &[&str], envs: &[(&str, &str)]) -> Service {
    let mut cmd = picket(dir);
    cmd.args(global)
        .args(["run", "-c", "picket.yaml"])
        .args(extra);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    spawn_service_command(cmd)
}

/// Starts `cmd` (a `picket run` with `--log info`, or a wrapper that `exec`s one) and waits
/// for it to print its API address.
pub fn spawn_service_command(cmd: std::process::Command) -> Service {
    spawn_service_pending(cmd).wait_for_api()
}

/// A `picket run` child process started, its API address not yet printed.
pub struct PendingService {
    child: Child,
    addr: std::sync::mpsc::Receiver<String>,
    log: Arc<std::sync::Mutex<String>>,
}

/// Starts `cmd` like [`spawn_service_command`] without waiting for the API address (several
/// processes can then be started before any of them gets going).
pub fn spawn_service_pending(mut cmd: std::process::Command) -> PendingService {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log: Arc<std::sync::Mutex<String>> = Arc::default();
    let sink = log.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sent = false;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if !sent && let Some(at) = line.find("addr=") {
                let addr: String = line[at + 5..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(addr);
                sent = true;
            }
            eprintln!("[picket] {line}");
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    PendingService {
        child,
        addr: rx,
        log,
    }
}

impl PendingService {
    /// Waits (at most 30 s) for the process to print its API address.
    pub fn wait_for_api(self) -> Service {
        let addr = self.addr.recv_timeout(Duration::from_secs(30));
        let addr = addr.unwrap_or_else(|_| {
            panic!(
                "picket run printed no API address within 30 s: {}",
                self.log.lock().unwrap()
            )
        });
        Service {
            child: self.child,
            api: addr.trim_matches('"').parse().unwrap(),
            log: self.log,
        }
    }
}

impl Service {
    /// Sends SIGTERM and waits (off the runtime's workers) for the exit status.
    pub async fn terminate(self) -> std::process::ExitStatus {
        signal(&self.child, "-TERM");
        let mut child = self.child;
        tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap()
    }
}

pub fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_syncs_state() {
    let target = Flipper::start().await;
    target.set_insecure(true);
    let ws = service_workspace(&target.server.url(), "");
    let mut service = spawn_service(ws.path(), &[]);
    let row = watch(
        service.api,
        Duration::from_secs(30),
        |_| {},
        |r| r.history.len() >= 2,
    )
    .await;
    signal(&service.child, "-TERM");
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || service.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // The next start sees the last outcomes: read the store directly.
    let (_, states) = picket::state::Store::open(&ws.path().join("state")).unwrap();
    let state = &states["headers/nosniff@web"];
    assert!(
        state.history.len() >= row.history.len(),
        "{state:?} vs {row:?}"
    );
    assert_eq!(state.state, State::Failing);
    assert!(state.last_run.is_some());
}

/// A skipped run (the target redirects to another origin, which a header probe does not
/// judge) shows over the API and the dashboard as `skip` with its reason and keeps the state;
/// a series failing around skips still regresses. (That a skip neither breaks nor extends a
/// streak exactly is `state::tests::skips_never_move_the_state_or_break_a_streak`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skip_over_the_api_keeps_the_state_and_the_streak() {
    use std::sync::atomic::AtomicU8;
    picket::crypto::install_crypto_provider();
    // 0: secure, 1: redirects to https (skip), 2: insecure.
    let mode = Arc::new(AtomicU8::new(0));
    let flag = mode.clone();
    let target = TestServer::start(move |_| match flag.load(Ordering::SeqCst) {
        0 => respond(200, &[("x-content-type-options", "nosniff")], "ok"),
        1 => respond(301, &[("location", "https://127.0.0.1:8443/")], ""),
        _ => respond(200, &[], "ok"),
    })
    .await;
    let ws = service_workspace(&target.url(), "");
    let skipping = NOSNIFF.replace("  path: /\n", "  path: /\n  on_redirect: skip\n");
    std::fs::write(ws.path().join("probes/nosniff.yaml"), skipping).unwrap();
    let shutdown = CancellationToken::new();
    let running = start_in_process(
        &ws.path().join("picket.yaml"),
        Arc::new(|_: &str| None),
        None,
        shutdown.clone(),
    )
    .await;
    let api = running.api_addr;
    let long = Duration::from_secs(30);
    watch(api, long, never_early, |r| r.state == State::Passing).await;

    mode.store(1, Ordering::SeqCst);
    let skipped = watch(api, long, never_early, |r| {
        r.last_outcome == Some(Mark::Skip)
    })
    .await;
    assert_eq!(skipped.state, State::Passing, "{skipped:?}");
    assert_eq!(
        skipped.skipped.as_deref(),
        Some("redirects to https://127.0.0.1:8443/; probe that target")
    );

    // One failure, then skips, then a second failure: a regression (confirm: 2).
    mode.store(2, Ordering::SeqCst);
    watch(api, long, never_early, |r| {
        r.last_outcome == Some(Mark::Fail)
    })
    .await;
    mode.store(1, Ordering::SeqCst);
    let between = watch(api, long, never_early, |r| {
        r.last_outcome == Some(Mark::Skip)
    })
    .await;
    mode.store(2, Ordering::SeqCst);
    let regressed = watch(api, long, |_| {}, |r| r.state == State::Regressed).await;
    assert!(regressed.skipped.is_none());
    assert!(
        between.state == State::Passing || between.state == State::Regressed,
        "{between:?}"
    );
    let page = reqwest::get(format!("http://{api}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("class=\"skip\""),
        "the history strip shows the skip"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("shutdown within the grace period")
        .unwrap();
}
