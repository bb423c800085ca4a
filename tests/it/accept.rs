//! Accepted risks and maintenance windows in `picket run` (SPEC §3b), against a real loopback
//! target and a real OTLP receiver: what an acceptance holds back is counted at the receiver,
//! its end is announced once, `accept_from` files follow the disk, and a maintenance window
//! is measured at the target's server.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use picket::state::{Mark, State};

use crate::e2e::telemetry_block;
use crate::helpers::{TestServer, respond};
use crate::otlp::Receiver;
use crate::service::{Flipper, service_workspace, signal, spawn_service, watch};

const LONG: Duration = Duration::from_secs(40);

fn events(receiver: &Receiver, name: &str) -> usize {
    receiver
        .logs()
        .iter()
        .filter(|l| l.event_name == name)
        .count()
}

fn counter(receiver: &Receiver, name: &str) -> f64 {
    receiver.metric_points(name).iter().map(|(_, v)| v).sum()
}

/// The last exported value of `picket.probe.accepted` for the one series.
fn accepted_gauge(receiver: &Receiver) -> Option<f64> {
    receiver
        .last_export_points("picket.probe.accepted")
        .into_iter()
        .find(|(a, _)| a.get("probe.id").map(String::as_str) == Some("headers/nosniff"))
        .map(|(_, v)| v)
}

/// A day `days` from today, as `until` takes it.
fn day_in(days: i64) -> String {
    (Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// An instant `after` from now, as `until` takes it.
fn instant_in(after: Duration) -> String {
    let at: DateTime<Utc> = (SystemTime::now() + after).into();
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn entry(until: &str, reason: &str) -> String {
    format!(
        "- probe: headers/nosniff\n  target: web\n  until: \"{until}\"\n  reason: \"{reason}\"\n"
    )
}

/// Adds `yaml` to the workspace's config.
fn append_config(dir: &Path, yaml: &str) {
    let path = dir.join("picket.yaml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(yaml);
    std::fs::write(path, config).unwrap();
}

/// Writes `text` to `path` through a rename, as an editor or a ConfigMap update does.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// SPEC §3b, acceptance 1: a series under an acceptance regresses and recovers underneath,
/// and nothing is announced: no log record, no `picket.regressions` or `picket.recoveries`
/// count; `picket.probe.accepted` is 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_series_moves_underneath_and_announces_nothing() {
    let receiver = Receiver::grpc().await;
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), &telemetry_block(&receiver, "grpc"));
    let accept = entry(&day_in(30), "nosniff rollout, ticket SEC-123").replace('\n', "\n  ");
    append_config(ws.path(), &format!("accept:\n  {accept}\n"));
    let mut service = spawn_service(ws.path(), &[]);
    for round in 0..2 {
        watch(service.api, LONG, |_| {}, |r| r.state == State::Passing).await;
        target.set_insecure(true);
        watch(service.api, LONG, |_| {}, |r| r.state == State::Regressed).await;
        target.set_insecure(false);
        let recovered = watch(service.api, LONG, |_| {}, |r| r.state == State::Passing).await;
        assert!(
            recovered.findings.is_empty(),
            "round {round}: {recovered:?}"
        );
    }
    assert!(
        receiver
            .wait_until(|r| accepted_gauge(r) == Some(1.0), LONG)
            .await,
        "picket.probe.accepted is 1: {:?}",
        receiver.last_export_points("picket.probe.accepted")
    );
    // Give the last transitions time to be exported, had they been announced.
    let runs = counter(&receiver, "picket.probe.runs");
    assert!(
        receiver
            .wait_until(|r| counter(r, "picket.probe.runs") >= runs + 2.0, LONG)
            .await
    );
    signal(&service.child, "-TERM");
    let status = tokio::task::spawn_blocking(move || service.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        events(&receiver, "picket.regression"),
        0,
        "{:#?}",
        receiver.logs()
    );
    assert_eq!(
        events(&receiver, "picket.recovery"),
        0,
        "{:#?}",
        receiver.logs()
    );
    assert_eq!(counter(&receiver, "picket.regressions"), 0.0);
    assert_eq!(counter(&receiver, "picket.recoveries"), 0.0);
    assert!(
        counter(&receiver, "picket.probe.runs") >= 8.0,
        "the series kept running"
    );
}

/// SPEC §3b, acceptance 2: an acceptance that ends while its series is regressed sends one
/// `picket.acceptance.expired` record, then the regression is announced once. The end is an
/// instant a few seconds ahead (`until` takes RFC 3339 instants as well as days), set by an
/// `accept_from` file once the series is held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acceptance_that_ends_announces_its_end_then_the_regression_once() {
    let receiver = Receiver::grpc().await;
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), &telemetry_block(&receiver, "grpc"));
    let dir = ws.path().join("accept.d");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("web.yaml");
    std::fs::write(&file, entry(&day_in(30), "tracked in SEC-7")).unwrap();
    append_config(ws.path(), &format!("accept_from: [{}]\n", dir.display()));
    let mut service = spawn_service(ws.path(), &[]);
    watch(service.api, LONG, |_| {}, |r| r.state == State::Passing).await;
    target.set_insecure(true);
    let regressed = watch(service.api, LONG, |_| {}, |r| r.state == State::Regressed).await;
    // Held back: nothing announced.
    assert!(
        receiver
            .wait_until(|r| accepted_gauge(r) == Some(1.0), LONG)
            .await
    );
    assert_eq!(events(&receiver, "picket.regression"), 0);

    // The acceptance now ends about 3 s from now: at the whole second the entry names (the
    // instant is written without fractions, so it can be up to a second earlier than now + 3 s).
    let until = instant_in(Duration::from_secs(3));
    let ends: SystemTime = DateTime::parse_from_rfc3339(&until)
        .unwrap()
        .with_timezone(&Utc)
        .into();
    replace_file(&file, &entry(&until, "tracked in SEC-7"));
    assert!(
        receiver
            .wait_until(
                |r| events(r, "picket.acceptance.expired") == 1
                    && events(r, "picket.regression") == 1,
                LONG
            )
            .await,
        "{:#?}",
        receiver.logs()
    );
    assert!(SystemTime::now() >= ends, "announced before the end");
    let logs = receiver.logs();
    let expired = logs
        .iter()
        .find(|l| l.event_name == "picket.acceptance.expired")
        .unwrap();
    assert_eq!(expired.severity_text, "WARN");
    assert_eq!(expired.attrs["probe.id"], "headers/nosniff");
    assert_eq!(expired.attrs["target.name"], "web");
    assert_eq!(
        expired.attrs["picket.acceptance.reason"],
        "tracked in SEC-7"
    );
    assert!(
        expired.attrs["findings"].contains("X-Content-Type-Options not sent"),
        "{expired:?}"
    );
    let regression = logs
        .iter()
        .find(|l| l.event_name == "picket.regression")
        .unwrap();
    // The regression announced is the one held back: same since.
    assert_eq!(
        Some(regression.attrs["picket.state.since"].clone()),
        regressed.since,
        "{regression:?}"
    );
    // And once: a few more runs and settles change nothing.
    let runs = counter(&receiver, "picket.probe.runs");
    assert!(
        receiver
            .wait_until(|r| counter(r, "picket.probe.runs") >= runs + 3.0, LONG)
            .await
    );
    assert!(
        receiver
            .wait_until(|r| accepted_gauge(r) == Some(0.0), LONG)
            .await
    );
    assert_eq!(events(&receiver, "picket.acceptance.expired"), 1);
    assert_eq!(events(&receiver, "picket.regression"), 1);
    assert_eq!(counter(&receiver, "picket.regressions"), 1.0);
    service.child.kill().unwrap();
    service.child.wait().unwrap();
}

/// SPEC §3b, acceptance 3: `accept_from` files added, changed and removed while running take
/// effect on reload. Added while regressed (announced before): the recovery and the next
/// regression are held back; changed: still held; removed while regressed: its end is
/// announced and so is the regression, again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_from_files_added_changed_and_removed_take_effect_on_reload() {
    let receiver = Receiver::grpc().await;
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), &telemetry_block(&receiver, "grpc"));
    let dir = ws.path().join("accept.d");
    std::fs::create_dir(&dir).unwrap();
    append_config(ws.path(), &format!("accept_from: [{}]\n", dir.display()));
    let mut service = spawn_service_fast(ws.path());
    let api = service.api;
    watch(api, LONG, |_| {}, |r| r.state == State::Passing).await;
    target.set_insecure(true);
    watch(api, LONG, |_| {}, |r| r.state == State::Regressed).await;
    assert!(
        receiver
            .wait_until(|r| events(r, "picket.regression") == 1, LONG)
            .await
    );

    // Added.
    let file = dir.join("web.yaml");
    replace_file(&file, &entry(&day_in(20), "first reason"));
    assert!(
        receiver
            .wait_until(|r| accepted_gauge(r) == Some(1.0), LONG)
            .await,
        "the added file took effect"
    );
    target.set_insecure(false);
    watch(api, LONG, |_| {}, |r| r.state == State::Passing).await;
    target.set_insecure(true);
    watch(api, LONG, |_| {}, |r| r.state == State::Regressed).await;

    // Changed: a new date and reason, still held (runs under it, so the series has run
    // under the new one).
    replace_file(&file, &entry(&day_in(40), "second reason"));
    let runs = counter(&receiver, "picket.probe.runs");
    assert!(
        receiver
            .wait_until(|r| counter(r, "picket.probe.runs") >= runs + 3.0, LONG)
            .await
    );
    assert_eq!(
        events(&receiver, "picket.recovery"),
        0,
        "{:#?}",
        receiver.logs()
    );
    assert_eq!(
        events(&receiver, "picket.regression"),
        1,
        "{:#?}",
        receiver.logs()
    );
    assert_eq!(events(&receiver, "picket.acceptance.expired"), 0);

    // Removed while regressed.
    std::fs::remove_file(&file).unwrap();
    assert!(
        receiver
            .wait_until(
                |r| events(r, "picket.acceptance.expired") == 1
                    && events(r, "picket.regression") == 2,
                LONG
            )
            .await,
        "{:#?}",
        receiver.logs()
    );
    let expired = receiver
        .logs()
        .into_iter()
        .find(|l| l.event_name == "picket.acceptance.expired")
        .unwrap();
    assert_eq!(expired.attrs["picket.acceptance.reason"], "second reason");
    assert!(
        expired.attrs["picket.acceptance.source"].ends_with("web.yaml:1:3"),
        "{expired:?}"
    );
    service.child.kill().unwrap();
    service.child.wait().unwrap();
}

/// `picket run` that looks at its files every 200 ms.
fn spawn_service_fast(dir: &Path) -> crate::service::Service {
    crate::service::spawn_service_with(dir, &["--watch-interval", "200ms"], &[])
}

/// SPEC §3b, acceptance 4: a maintenance window that opens during the test (a 6-field cron at
/// a second a few seconds ahead): the target's server receives no request while it is open,
/// each due run is a `skip` with the reason, the series does not move, and runs resume after
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_sends_no_traffic_and_skips_each_due_run() {
    let arrivals: Arc<Mutex<Vec<SystemTime>>> = Arc::default();
    let seen = Arc::clone(&arrivals);
    // An insecure target: a run in the window would move the series or fail.
    let server = TestServer::start(move |_| {
        seen.lock().unwrap().push(SystemTime::now());
        respond(200, &[("content-type", "text/html")], "<html></html>")
    })
    .await;
    let ws = service_workspace(&server.url(), "");
    // The window opens 8 s from now, for 4 s.
    let start: DateTime<Utc> = (SystemTime::now() + Duration::from_secs(8)).into();
    let start = start.with_nanosecond(0).unwrap_or(start);
    let cron = start.format("%S %M %H * * *").to_string();
    append_config(
        ws.path(),
        &format!(
            "maintenance:\n  - targets: {{ names: [web] }}\n    cron: \"{cron}\"\n    duration: 4s\n"
        ),
    );
    let start = SystemTime::from(start);
    let end = start + Duration::from_secs(4);
    let mut service = spawn_service(ws.path(), &[]);
    let api = service.api;
    let failing = watch(api, LONG, |_| {}, |r| r.state == State::Failing).await;
    assert!(
        SystemTime::now() < start,
        "the service took too long to start for this test"
    );
    // In the window: skips with the reason, the state unchanged.
    let reason = format!(
        "maintenance window until {} UTC",
        DateTime::<Utc>::from(end).format("%H:%M")
    );
    let skipped = watch(api, LONG, |_| {}, |r| r.last_outcome == Some(Mark::Skip)).await;
    assert_eq!(
        skipped.skipped.as_deref(),
        Some(reason.as_str()),
        "{skipped:?}"
    );
    assert_eq!(skipped.state, State::Failing);
    assert_eq!(skipped.since, failing.since, "the series moved");
    // After it: runs reach the target again.
    let after = watch(
        api,
        LONG,
        |_| {},
        |r| r.last_outcome == Some(Mark::Fail) && r.history.contains(&Mark::Skip),
    )
    .await;
    assert_eq!(after.since, failing.since);
    let skips = after.history.iter().filter(|m| **m == Mark::Skip).count();
    assert!(
        (2..=6).contains(&skips),
        "{skips} skipped runs in a 4 s window of 1 s runs: {after:?}"
    );
    service.child.kill().unwrap();
    service.child.wait().unwrap();

    let arrivals = arrivals.lock().unwrap().clone();
    // A run that fired just before the window opened may still arrive in its first moments.
    let grace = start + Duration::from_millis(500);
    let inside: Vec<_> = arrivals
        .iter()
        .filter(|t| **t >= grace && **t < end)
        .collect();
    assert!(
        inside.is_empty(),
        "{} requests reached the target during the window",
        inside.len()
    );
    assert!(
        arrivals.iter().any(|t| *t < start),
        "runs before the window"
    );
    assert!(arrivals.iter().any(|t| *t >= end), "runs after the window");
}

/// An acceptance whose series passed its last 10 runs is reported once as no longer needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acceptance_no_longer_needed_is_reported_once() {
    let receiver = Receiver::grpc().await;
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), &telemetry_block(&receiver, "grpc"));
    let accept = entry(&day_in(30), "nosniff rollout").replace('\n', "\n  ");
    append_config(ws.path(), &format!("accept:\n  {accept}\n"));
    let mut service = spawn_service(ws.path(), &[]);
    assert!(
        receiver
            .wait_until(|r| events(r, "picket.acceptance.unneeded") == 1, LONG)
            .await,
        "{:#?}",
        receiver.logs()
    );
    // The runs counter is exported on its own schedule: it may lag the record by an export.
    assert!(
        receiver
            .wait_until(|r| counter(r, "picket.probe.runs") >= 10.0, LONG)
            .await,
        "reported after fewer than 10 runs"
    );
    let runs = counter(&receiver, "picket.probe.runs");
    let record = receiver
        .logs()
        .into_iter()
        .find(|l| l.event_name == "picket.acceptance.unneeded")
        .unwrap();
    assert_eq!(record.severity_text, "INFO");
    assert_eq!(record.attrs["picket.acceptance.reason"], "nosniff rollout");
    assert!(
        receiver
            .wait_until(|r| counter(r, "picket.probe.runs") >= runs + 3.0, LONG)
            .await
    );
    assert_eq!(events(&receiver, "picket.acceptance.unneeded"), 1);
    // `picket list` says so too: not while the service holds the state...
    let list = crate::helpers::run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (out, err) = crate::helpers::texts(&list);
    assert_eq!(list.status.code(), Some(0), "{err}");
    assert!(out.contains("a running picket holds the state"), "{out}");
    // ...and from the state it left once stopped.
    signal(&service.child, "-TERM");
    let status = tokio::task::spawn_blocking(move || service.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let list = crate::helpers::run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (out, err) = crate::helpers::texts(&list);
    assert_eq!(list.status.code(), Some(0), "{err}");
    assert!(
        out.contains(
            "no longer needed for 1 of 1 series (passed their last 10 runs): headers/nosniff@web"
        ),
        "{out}{err}"
    );
}
