//! What `picket run` and `picket check` write on stderr at the default log level: the
//! start-up lines a user needs, one line per problem, and no dependency's own lines.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use picket::state::{Mark, State};

use crate::helpers::{picket, run_picket, texts, workspace};
use crate::otlp::Receiver;
use crate::service::{Flipper, NOSNIFF, Service, get_rows, spawn_run};
use crate::tls_servers::{LeafSpec, Pki};

/// A `picket.yaml` in `dir` with the nosniff probe on `web` (plain HTTP) and on `private`
/// (HTTPS with a certificate from a CA picket does not trust), a 1 s schedule, the state
/// under `state/` and the API on `listen`.
fn two_targets(dir: &Path, web: &str, private: &str, listen: &str) {
    let config = format!(
        "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: {web}\n\
         \x20 - name: private\n    url: {private}\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 2\n  timeout: 2s\n\
         state: {{ path: state }}\napi: {{ listen: \"{listen}\" }}\n"
    );
    std::fs::write(dir.join("picket.yaml"), config).unwrap();
}

/// `picket run` at the default log level (no `--log`).
fn spawn_default(dir: &Path, envs: &[(&str, &str)]) -> Service {
    spawn_run(dir, &[], &[], envs)
}

/// Waits until `done` holds for the log, or fails after `timeout`.
async fn wait_for_log(
    service: &Service,
    what: &str,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) {
    let start = Instant::now();
    loop {
        if done(&service.log.lock().unwrap()) {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}; the log:\n{}",
            service.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the service with SIGTERM and returns its whole log.
async fn stop(service: Service) -> String {
    let log = service.log.clone();
    let status = service.terminate().await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    // The reader thread may still be taking the last lines.
    tokio::time::sleep(Duration::from_millis(200)).await;
    log.lock().unwrap().clone()
}

fn no_dependency_lines(log: &str) {
    for line in log.lines() {
        assert!(
            !line.contains("rustls") && !line.contains("opentelemetry"),
            "a dependency's line at the default level: {line}\nthe log:\n{log}"
        );
    }
}

fn line_with<'a>(log: &'a str, text: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no line with {text:?} in:\n{log}"))
}

/// A private CA's certificate fails verification: that is the series' error, reported by
/// picket; the verifier's own ERROR line per attempt stays out of stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_a_private_ca_prints_no_dependency_line() {
    let pki = Pki::new();
    let leaf = pki.leaf("server", LeafSpec::default());
    let server = pki.serve(&leaf, &["-www"]).await;
    let ws = workspace(&[]);
    let url = format!("https://127.0.0.1:{}", server.port);
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "--target",
            &url,
            "--probe",
            "headers/*",
            "--no-progress",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert!(
        stdout.contains("ERROR"),
        "the verification failed: {stdout}{stderr}"
    );
    assert!(
        stdout.to_ascii_lowercase().contains("certificate"),
        "picket says why: {stdout}"
    );
    assert_eq!(stderr, "", "nothing on stderr at the default level");
}

/// The start-up lines say where the dashboard is, where telemetry goes, and how the series
/// stand as restored; runs against a private CA's target add no dependency line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_says_where_the_dashboard_and_telemetry_are_and_what_fails() {
    let web = Flipper::start().await;
    web.set_insecure(true);
    let pki = Pki::new();
    let leaf = pki.leaf("server", LeafSpec::default());
    let private = pki.serve(&leaf, &["-www"]).await;
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    two_targets(
        ws.path(),
        &web.server.url(),
        &format!("https://127.0.0.1:{}", private.port),
        "127.0.0.1:0",
    );

    // A first start: nothing restored, no collector.
    let service = spawn_default(ws.path(), &[]);
    let api = service.api;
    let start = Instant::now();
    loop {
        let rows = get_rows(api, "/api/v1/series").await;
        let by = |t: &str| rows.iter().find(|r| r.target == t).cloned();
        if by("web").is_some_and(|r| r.state == State::Failing)
            && by("private").is_some_and(|r| r.last_outcome == Some(Mark::Error))
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = stop(service).await;
    let dashboard = line_with(&log, "serving the dashboard");
    assert!(
        dashboard.contains(&format!("url=http://{api}/")),
        "{dashboard}"
    );
    line_with(&log, "no OTLP endpoint: regressions go to this log");
    let started = line_with(&log, "service started");
    for field in [
        "series=2",
        "regressed=0",
        "failing=0",
        "passing=0",
        "unknown=2",
    ] {
        assert!(started.contains(field), "{field}: {started}");
    }
    no_dependency_lines(&log);

    // A second start, exporting: the failing series is restored as failing.
    let receiver = Receiver::grpc().await;
    let endpoint = receiver.endpoint();
    let service = spawn_default(
        ws.path(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    wait_for_log(
        &service,
        "the start-up lines",
        Duration::from_secs(30),
        |log| log.contains("service started"),
    )
    .await;
    let log = stop(service).await;
    let telemetry = line_with(&log, "exporting telemetry to the OTLP collector");
    assert!(
        telemetry.contains(&format!("endpoint={endpoint}/ protocol=\"grpc\"")),
        "{telemetry}"
    );
    assert!(!log.contains("no OTLP endpoint"), "{log}");
    let started = line_with(&log, "service started");
    for field in [
        "series=2",
        "regressed=0",
        "failing=1",
        "passing=0",
        "unknown=1",
    ] {
        assert!(started.contains(field), "{field}: {started}");
    }
    no_dependency_lines(&log);
}

/// Runs `picket run` in `dir` at the default level to its end (within a minute).
async fn run_to_end(dir: &Path, envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = picket(dir);
    cmd.args(["run", "-c", "picket.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let id = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await;
    match waited {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("picket run did not exit on a start-up failure");
        }
    }
}

/// A port taken, or a state store held by another instance: one line saying so (not the
/// error twice and the telemetry SDK's lines about its final export), and a non-zero exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_up_failure_is_one_line() {
    let web = Flipper::start().await;
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap();
    two_targets(
        ws.path(),
        &web.server.url(),
        &web.server.url(),
        &port.to_string(),
    );
    // A collector that is not there: its final export fails too.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let otlp = [("OTEL_EXPORTER_OTLP_ENDPOINT", dead_endpoint.as_str())];

    let out = run_to_end(ws.path(), &otlp).await;
    let (_, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: cannot start: cannot listen on ")
            && lines[0].contains(&port.to_string()),
        "{stderr}"
    );

    // The state store held by a running instance.
    drop(taken);
    two_targets(
        ws.path(),
        &web.server.url(),
        &web.server.url(),
        "127.0.0.1:0",
    );
    let first = spawn_default(ws.path(), &[]);
    let out = run_to_end(ws.path(), &otlp).await;
    let (_, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: cannot start: cannot open the state store"),
        "{stderr}"
    );
    stop(first).await;
}

/// A collector that refuses every export: one line naming it, not the SDK's lines for each
/// export of each signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_is_told_once_naming_it() {
    let web = Flipper::start().await;
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    two_targets(
        ws.path(),
        &web.server.url(),
        &web.server.url(),
        "127.0.0.1:0",
    );
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let service = spawn_default(
        ws.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    );
    wait_for_log(
        &service,
        "the collector to be reported",
        Duration::from_secs(30),
        |log| log.contains("cannot export telemetry"),
    )
    .await;
    // Metrics every 200 ms, spans and logs in batches: many more failed exports.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let log = stop(service).await;
    let told: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("export telemetry"))
        .collect();
    assert_eq!(told.len(), 1, "{log}");
    assert!(
        told[0].contains("WARN") && told[0].contains(&format!("endpoint={endpoint}/")),
        "{}",
        told[0]
    );
    no_dependency_lines(&log);
}
