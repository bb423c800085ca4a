//! Files that are not what they claim: devices, FIFOs and symlinks where YAML files should be.
//! Each is a located error with exit code 2, found quickly, without reading the device or
//! waiting on the FIFO; under `picket run` the reload that meets one fails, the last good
//! configuration stays, later reloads work and SIGTERM still exits 0.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::{picket, workspace};
use crate::service::{Flipper, Service, get_rows, service_workspace, signal, spawn_service_with};
use crate::validate::{CONFIG, TIME_LIMIT, assert_rejected, error_lines, head, output_within};

/// A valid probe with the given id.
pub fn probe(id: &str) -> String {
    format!("id: {id}\nname: {id}\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n")
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Runs `picket ARGS` in `dir`, which must fail with exit 2 within [`TIME_LIMIT`] and put a
/// located error on `culprit` whose message contains `message`.
fn assert_located(dir: &Path, args: &[&str], culprit: &str, message: &str) {
    let mut cmd = picket(dir);
    cmd.args(args);
    let start = Instant::now();
    let out = output_within(cmd, TIME_LIMIT);
    let stderr = assert_rejected(&out);
    let errors = error_lines(&stderr);
    assert!(
        errors
            .iter()
            .any(|e| e.path == culprit && e.line == 1 && e.message.contains(message)),
        "no `{message}` error on {culprit}:\n{}",
        head(&stderr)
    );
    assert!(start.elapsed() < TIME_LIMIT);
}

#[test]
fn dev_zero_as_the_config_is_a_located_error() {
    let dir = workspace(&[]);
    assert_located(
        dir.path(),
        &["validate", "-c", "/dev/zero"],
        "/dev/zero",
        "this is a character device, not a regular file",
    );
}

#[test]
fn dev_zero_as_the_config_of_run_and_check_is_a_located_error() {
    let dir = workspace(&[]);
    for command in ["run", "check", "list"] {
        let mut cmd = picket(dir.path());
        cmd.args([command, "-c", "/dev/zero"]);
        let out = output_within(cmd, TIME_LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", head(&stderr));
        assert!(
            stderr.starts_with("/dev/zero:1:1: this is a character device"),
            "{command}: {}",
            head(&stderr)
        );
    }
}

#[test]
fn a_fifo_as_the_config_is_a_located_error() {
    let dir = workspace(&[]);
    mkfifo(&dir.path().join("picket.yaml"));
    assert_located(
        dir.path(),
        &["validate", "-c", "picket.yaml"],
        "picket.yaml",
        "this is a FIFO, not a regular file",
    );
}

#[test]
fn a_probe_symlinked_to_dev_zero_is_a_located_error() {
    let dir = workspace(&[
        ("picket.yaml", CONFIG),
        ("probes/ok.yaml", &probe("test/ok")),
    ]);
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("probes/x.yaml")).unwrap();
    assert_located(
        dir.path(),
        &["validate", "-c", "picket.yaml"],
        "probes/x.yaml",
        "this is a character device, not a regular file",
    );
    // Named on the command line, too.
    assert_located(
        dir.path(),
        &["validate", "probes/x.yaml"],
        "probes/x.yaml",
        "this is a character device",
    );
}

#[test]
fn a_fifo_in_a_probe_folder_is_a_located_error() {
    let dir = workspace(&[
        ("picket.yaml", CONFIG),
        ("probes/ok.yaml", &probe("test/ok")),
    ]);
    mkfifo(&dir.path().join("probes/x.yaml"));
    assert_located(
        dir.path(),
        &["validate", "-c", "picket.yaml"],
        "probes/x.yaml",
        "this is a FIFO, not a regular file",
    );
}

#[test]
fn a_symlink_loop_in_a_probe_folder_is_reported_and_the_other_files_still_checked() {
    let dir = workspace(&[("picket.yaml", CONFIG), ("probes/a/bad.yaml", "id: Bad\n")]);
    std::os::unix::fs::symlink("..", dir.path().join("probes/a/up")).unwrap();
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let stderr = assert_rejected(&out);
    let errors = error_lines(&stderr);
    assert!(
        errors
            .iter()
            .any(|e| e.path == "probes/a/up" && e.message.starts_with("symlink loop")),
        "{stderr}"
    );
    assert!(
        errors.iter().any(|e| e.path == "probes/a/bad.yaml"),
        "{stderr}"
    );
}

#[test]
fn a_configmap_style_probe_folder_loads_each_probe_once() {
    let config = format!("library: false\n{CONFIG}");
    let dir = workspace(&[
        ("picket.yaml", &config),
        ("probes/..2026_01_01_00_00_00.1/a.yaml", &probe("test/a")),
        ("probes/..2026_01_01_00_00_00.1/b.yaml", &probe("test/b")),
    ]);
    let probes = dir.path().join("probes");
    std::os::unix::fs::symlink("..2026_01_01_00_00_00.1", probes.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/a.yaml", probes.join("a.yaml")).unwrap();
    std::os::unix::fs::symlink("..data/b.yaml", probes.join("b.yaml")).unwrap();
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok: 2 probe(s)"), "{stdout}");
}

/// Waits until the service's stderr contains `needle` `times` times.
pub async fn wait_for_log(
    service: &Service,
    needle: &str,
    times: usize,
    limit: Duration,
) -> String {
    let start = Instant::now();
    loop {
        let log = service.log.lock().unwrap().clone();
        if log.matches(needle).count() >= times {
            return log;
        }
        assert!(
            start.elapsed() < limit,
            "no {times}× `{needle}` in the log within {limit:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the service is ready and its file watcher has taken its first fingerprint
/// (it does so as it starts, right after readiness), so later changes are changes to it.
pub async fn settled(service: &Service) {
    let start = Instant::now();
    loop {
        let ready = reqwest::get(format!("http://{}/readyz", service.api))
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Waits for `needle` in the log after a file change the watcher should pick up; if it has
/// not appeared after a few seconds (on a very slow machine the watcher's first fingerprint
/// may already include the change), asks for the reload with SIGHUP instead.
pub async fn wait_for_reload_log(service: &Service, needle: &str) -> String {
    let start = Instant::now();
    let mut hup_sent = false;
    loop {
        let log = service.log.lock().unwrap().clone();
        if log.contains(needle) {
            return log;
        }
        if !hup_sent && start.elapsed() > Duration::from_secs(5) {
            signal(&service.child, "-HUP");
            hup_sent = true;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no `{needle}` in the log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops the service with SIGTERM; it must exit 0 within 10 s.
pub async fn terminate(mut service: Service) {
    signal(&service.child, "-TERM");
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        loop {
            if let Some(status) = service.child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = service.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    let status = status.expect("picket run did not exit within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
}

const FAILED: &str = "reload failed; keeping the previous configuration";
const RELOADED: &str = "configuration reloaded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_or_device_dropped_into_a_watched_folder_fails_that_reload_only() {
    picket::crypto::install_crypto_provider();
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), "");
    let probes = ws.path().join("probes");
    let service = spawn_service_with(ws.path(), &["--watch-interval", "100ms"], &[]);
    let api = service.api;
    settled(&service).await;

    let fifo = probes.join("x.yaml");
    mkfifo(&fifo);
    std::os::unix::fs::symlink("/dev/zero", probes.join("zero.yaml")).unwrap();
    // The watcher may see one file before the other: each failed reload names what it met.
    wait_for_reload_log(&service, "zero.yaml:1:1: this is a character device").await;
    wait_for_reload_log(&service, "x.yaml:1:1: this is a FIFO").await;
    wait_for_log(&service, FAILED, 1, Duration::from_secs(5)).await;
    // The service goes on with its last good configuration.
    let ready = reqwest::get(format!("http://{api}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let rows = get_rows(api, "/api/v1/series").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].probe, "headers/nosniff");

    // Once the bad files are gone, a change is picked up again.
    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_file(probes.join("zero.yaml")).unwrap();
    std::fs::write(probes.join("second.yaml"), probe("test/second")).unwrap();
    let start = Instant::now();
    loop {
        let rows = get_rows(api, "/api/v1/series").await;
        if rows.iter().any(|r| r.probe == "test/second") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the new probe never appeared: {rows:?}\n{}",
            service.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_log(&service, RELOADED, 1, Duration::from_secs(5)).await;
    terminate(service).await;
}
