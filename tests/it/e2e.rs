//! End-to-end: `picket run` as a child process exporting to a real OTLP receiver.

use std::time::Duration;

use picket::state::State;

use crate::service::{Flipper, flip_scenario, service_workspace, signal, spawn_service, watch};

fn regression_logs(receiver: &crate::otlp::Receiver) -> usize {
    receiver
        .logs()
        .iter()
        .filter(|l| l.event_name == "picket.regression")
        .count()
}

pub(crate) fn telemetry_block(receiver: &crate::otlp::Receiver, protocol: &str) -> String {
    format!(
        "telemetry:\n  otlp: {{ endpoint: \"{}\", protocol: {protocol} }}\n  export_interval: 300ms\n",
        receiver.endpoint()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_regressed_neither_forgets_nor_reannounces() {
    let receiver = crate::otlp::Receiver::grpc().await;
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), &telemetry_block(&receiver, "grpc"));
    let long = Duration::from_secs(30);

    let mut first = spawn_service(ws.path(), &[]);
    watch(first.api, long, crate::service::never_early, |r| {
        r.state == State::Passing
    })
    .await;
    target.set_insecure(true);
    let regressed = watch(first.api, long, crate::service::never_early, |r| {
        r.state == State::Regressed
    })
    .await;
    let regressions = |r: &crate::otlp::Receiver| -> f64 {
        r.metric_points("picket.regressions")
            .iter()
            .map(|(_, v)| v)
            .sum()
    };
    // The log record and the counter go out on their own schedules: wait for both before
    // the kill, or a kill between the two exports loses the counter's point.
    assert!(
        receiver
            .wait_until(|r| regression_logs(r) == 1 && regressions(r) == 1.0, long)
            .await,
        "the regression was exported"
    );
    // No shutdown: SIGKILL.
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let mut second = spawn_service(ws.path(), &[]);
    let seen = regressed.history.len();
    let after = watch(second.api, long, crate::service::never_early, |r| {
        r.history.len() >= seen + 2
    })
    .await;
    assert_eq!(
        after.state,
        State::Regressed,
        "the regression was forgotten: {after:?}"
    );
    assert_eq!(
        after.since, regressed.since,
        "the regression restarted: {after:?}"
    );
    // Give the second process time to export anything it would have announced.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        regression_logs(&receiver),
        1,
        "announced twice: {:#?}",
        receiver.logs()
    );
    assert_eq!(regressions(&receiver), 1.0);
    second.child.kill().unwrap();
    second.child.wait().unwrap();
}

/// The flip scenario with a real OTLP receiver: metrics, logs and spans arrive.
async fn flip_exports_everything(receiver: crate::otlp::Receiver, protocol: &str) {
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), &telemetry_block(&receiver, protocol));
    let mut service = spawn_service(ws.path(), &[]);
    flip_scenario(service.api, &target).await;
    signal(&service.child, "-TERM");
    let status = tokio::task::spawn_blocking(move || service.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));

    let labels: std::collections::BTreeMap<String, String> = [
        ("probe.id", "headers/nosniff"),
        ("target.name", "web"),
        ("probe.severity", "medium"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for name in ["picket.regressions", "picket.recoveries"] {
        let points = receiver.metric_points(name);
        assert_eq!(points, vec![(labels.clone(), 1.0)], "{name}");
    }
    let status: Vec<f64> = receiver
        .metric_history("picket.probe.status")
        .into_iter()
        .filter(|(attrs, _)| attrs == &labels)
        .map(|(_, v)| v)
        .collect();
    let mut changes = status.clone();
    changes.dedup();
    assert_eq!(
        changes,
        vec![1.0, 0.0, 1.0],
        "picket.probe.status over time: {status:?}"
    );
    let runs = receiver.metric_points("picket.probe.runs");
    assert!(
        runs.iter()
            .any(|(a, v)| a.get("outcome").map(String::as_str) == Some("fail") && *v >= 2.0),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .any(|(a, v)| a.get("outcome").map(String::as_str) == Some("pass") && *v >= 2.0),
        "{runs:?}"
    );

    let logs = receiver.logs();
    let regression = logs
        .iter()
        .find(|l| l.event_name == "picket.regression")
        .expect("regression log");
    assert_eq!(regression.severity_text, "WARN");
    assert_eq!(regression.attrs["probe.id"], "headers/nosniff");
    assert_eq!(regression.attrs["target.name"], "web");
    assert_eq!(regression.attrs["probe.severity"], "medium");
    assert_eq!(
        regression.attrs["security_rule.name"],
        "MIME sniffing is disabled"
    );
    assert_eq!(regression.attrs["security_rule.category"], "headers");
    assert_eq!(
        regression.attrs["security_rule.reference"],
        "https://www.zaproxy.org/docs/alerts/10021/"
    );
    let findings = regression
        .attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        findings.contains("X-Content-Type-Options not sent") && findings.contains("nosniff"),
        "{findings}"
    );
    let recovery = logs
        .iter()
        .find(|l| l.event_name == "picket.recovery")
        .expect("recovery log");
    assert_eq!(recovery.severity_text, "INFO");
    assert_eq!(
        logs.iter()
            .filter(|l| l.event_name.starts_with("picket.re"))
            .count(),
        2
    );

    let spans: Vec<_> = receiver
        .spans()
        .into_iter()
        .filter(|s| s.name == "probe headers/nosniff")
        .collect();
    assert!(spans.len() >= 4, "{} run spans", spans.len());
    let span = &spans[0];
    assert_eq!(span.attrs["probe.id"], "headers/nosniff");
    assert_eq!(span.attrs["target.name"], "web");
    assert_eq!(span.attrs["http.response.status_code"], "200");
    assert!(span.attrs["url.full"].starts_with("http://127.0.0.1:"));
    assert_eq!(receiver.resource_attrs()["service.name"], "picket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flip_is_exported_over_otlp_grpc() {
    flip_exports_everything(crate::otlp::Receiver::grpc().await, "grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flip_is_exported_over_otlp_http_protobuf() {
    flip_exports_everything(crate::otlp::Receiver::http().await, "http/protobuf").await;
}

/// Resident memory of a process, from /proc (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// With the collector unreachable (it accepts connections and never answers), runs keep
/// their schedule and memory stays flat while undeliverable telemetry piles up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_neither_delays_runs_nor_grows_memory() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    // A black hole: accepts TCP and never says a word.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hole.accept().await {
            held.push(sock);
        }
    });

    // 30 probes x 10 targets = 300 series every second; each probe has its own path.
    let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let count = hits.clone();
    let server = crate::helpers::TestServer::start(move |s| {
        *count.lock().unwrap().entry(s.path_and_query).or_default() += 1;
        crate::helpers::respond(200, &[], "ok")
    })
    .await;
    let mut files: Vec<(String, String)> = (0..30)
        .map(|i| {
            (
                format!("probes/p{i}.yaml"),
                format!("id: load/p{i}\nname: p{i}\nseverity: low\nhttp:\n  path: /p{i}\nchecks:\n  - status: 404\n"),
            )
        })
        .collect();
    let targets: String = (0..10)
        .map(|t| format!("  - name: t{t}\n    url: {}\n", server.url()))
        .collect();
    files.push((
        "picket.yaml".into(),
        format!(
            "library: false\nprobes: [probes/]\ntargets:\n{targets}defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n\
             limits:\n  per_target_rps: 1000\n  per_target_concurrency: 64\nstate: {{ path: state }}\n\
             api: {{ listen: \"127.0.0.1:0\" }}\n\
             telemetry:\n  otlp: {{ endpoint: \"http://{hole_addr}\", protocol: grpc }}\n  export_interval: 1s\n"
        ),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let ws = crate::helpers::workspace(&refs);
    let mut service = spawn_service(ws.path(), &[]);
    let pid = service.child.id();

    // Warm up: let the span queue fill (300 spans/s against a queue of 2,048).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let hits_before: usize = hits.lock().unwrap().values().sum();
    let rss_before = rss_kib(pid);
    let measured = Duration::from_secs(12);
    tokio::time::sleep(measured).await;
    let hits_after: usize = hits.lock().unwrap().values().sum();
    let rss_after = rss_kib(pid);

    eprintln!(
        "unreachable collector: {per_second:.0} runs/s, RSS {rss_before} -> {rss_after} KiB",
        per_second = (hits_after - hits_before) as f64 / measured.as_secs_f64()
    );
    // Runs kept their schedule: 300 per second over the window. The margin is for a busy CI
    // machine running other tests at the same time; a collector that delayed runs would stall
    // them for its 5 s export timeout and land far below it.
    let per_second = (hits_after - hits_before) as f64 / measured.as_secs_f64();
    assert!(per_second > 225.0, "runs fell behind: {per_second:.0}/s");
    assert!(
        per_second < 375.0,
        "runs fired too often: {per_second:.0}/s"
    );
    // Memory did not grow with ~3,600 more undeliverable spans.
    let growth = rss_after.saturating_sub(rss_before);
    assert!(
        growth < 16 * 1024,
        "RSS grew by {growth} KiB ({rss_before} -> {rss_after})"
    );
    service.child.kill().unwrap();
    service.child.wait().unwrap();
}

/// A secret configured for a target, echoed back by the target into a failing check, appears
/// nowhere: not in the API, not in spans, metrics or log records, not in picket's own log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_the_api_and_telemetry() {
    const SECRET: &str = "svc-secret-9d8e7f6a5b";
    let receiver = crate::otlp::Receiver::grpc().await;
    let insecure = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = insecure.clone();
    let target = crate::helpers::TestServer::start(move |s| {
        let auth = s
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            let mut r = crate::helpers::respond(200, &[], format!("token was {auth}"));
            r.headers_mut().insert("x-echo", auth.parse().unwrap());
            r
        } else {
            crate::helpers::respond(200, &[], "hello")
        }
    })
    .await;
    let probe = "id: leak/echo\nname: echo\nseverity: high\nhttp:\n  path: /\nchecks:\n  - header: x-echo\n    absent: true\n  - body: { not_contains: token }\n";
    let ws = crate::helpers::workspace(&[("probes/echo.yaml", probe)]);
    let config = format!(
        "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: {}\n    headers:\n      Authorization: \"Bearer ${{env:PICKET_E2E_TOKEN}}\"\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 1\nstate: {{ path: state }}\napi: {{ listen: \"127.0.0.1:0\" }}\n{}",
        target.url(),
        telemetry_block(&receiver, "grpc")
    );
    std::fs::write(ws.path().join("picket.yaml"), config).unwrap();
    let mut service = spawn_service(ws.path(), &[("PICKET_E2E_TOKEN", SECRET)]);
    // Passing first, then the target starts echoing the token: a regression whose findings
    // quote the echoed header and body.
    let long = Duration::from_secs(30);
    watch(service.api, long, |_| {}, |r| r.state == State::Passing).await;
    insecure.store(true, std::sync::atomic::Ordering::SeqCst);
    let row = watch(service.api, long, |_| {}, |r| r.state == State::Regressed).await;
    assert!(
        row.findings.iter().any(|f| f.observed.contains("redacted")),
        "{row:?}"
    );
    assert!(
        receiver
            .wait_until(
                |r| r.logs().iter().any(|l| l.event_name == "picket.regression")
                    && r.spans().len() >= 3,
                long
            )
            .await
    );
    let api = reqwest::get(format!("http://{}/api/v1/series", service.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = reqwest::get(format!("http://{}/", service.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    signal(&service.child, "-TERM");
    let log = service.log.clone();
    let status = tokio::task::spawn_blocking(move || service.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let log = log.lock().unwrap().clone();
    assert!(log.contains("security regression"), "{log}");
    assert!(
        target.seen().iter().any(|s| s
            .headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap().contains(SECRET))),
        "the secret was really sent"
    );
    for (what, text) in [
        ("API", api),
        ("dashboard", page),
        ("OTLP", receiver.dump()),
        ("log", log),
    ] {
        assert!(!text.contains(SECRET), "{what} leaked the secret: {text}");
        assert!(
            !text.contains("svc-secret"),
            "{what} leaked part of the secret"
        );
    }
}

const SECOND_PROBE: &str = "id: headers/powered-by\nname: no x-powered-by\nseverity: low\nhttp:\n  path: /\nchecks:\n  - header: x-powered-by\n    absent: true\n";

fn reloads(receiver: &crate::otlp::Receiver, outcome: &str) -> f64 {
    receiver
        .metric_points("picket.config.reloads")
        .iter()
        .filter(|(a, _)| a.get("outcome").map(String::as_str) == Some(outcome))
        .map(|(_, v)| *v)
        .sum()
}

async fn series_count(api: std::net::SocketAddr) -> usize {
    crate::service::get_rows(api, "/api/v1/series").await.len()
}

async fn wait_for_series(api: std::net::SocketAddr, n: usize) {
    let start = std::time::Instant::now();
    while series_count(api).await != n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never reached {n} series"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_failing_reload_keeps_the_last_good_config() {
    let receiver = crate::otlp::Receiver::grpc().await;
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), &telemetry_block(&receiver, "grpc"));
    let mut service =
        crate::service::spawn_service_with(ws.path(), &["--watch-interval", "0s"], &[]);
    wait_for_series(service.api, 1).await;

    std::fs::write(ws.path().join("probes/second.yaml"), SECOND_PROBE).unwrap();
    signal(&service.child, "-HUP");
    wait_for_series(service.api, 2).await;
    assert!(
        receiver
            .wait_until(|r| reloads(r, "ok") == 1.0, Duration::from_secs(10))
            .await
    );

    // A broken probe: the reload fails, is counted, and the two series keep running.
    std::fs::write(
        ws.path().join("probes/broken.yaml"),
        "id: x\nname: y\nseverity: bad\n",
    )
    .unwrap();
    signal(&service.child, "-HUP");
    assert!(
        receiver
            .wait_until(|r| reloads(r, "error") == 1.0, Duration::from_secs(10))
            .await
    );
    let before = crate::service::get_rows(service.api, "/api/v1/series").await;
    assert_eq!(before.len(), 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = crate::service::get_rows(service.api, "/api/v1/series").await;
    assert_eq!(after.len(), 2);
    for (b, a) in before.iter().zip(&after) {
        assert!(
            a.history.len() > b.history.len() || a.last_run > b.last_run,
            "series stopped running: {b:?} -> {a:?}"
        );
    }
    let ready = reqwest::get(format!("http://{}/readyz", service.api))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let log = service.log.lock().unwrap().clone();
    assert!(
        log.contains("reload failed; keeping the previous configuration"),
        "{log}"
    );
    assert!(
        log.contains("broken.yaml:3:11"),
        "the reload error is positioned: {log}"
    );
    service.child.kill().unwrap();
    service.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_probe_files_are_picked_up_without_a_signal() {
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), "");
    let mut service =
        crate::service::spawn_service_with(ws.path(), &["--watch-interval", "200ms"], &[]);
    wait_for_series(service.api, 1).await;
    std::fs::write(ws.path().join("probes/second.yaml"), SECOND_PROBE).unwrap();
    wait_for_series(service.api, 2).await;
    std::fs::remove_file(ws.path().join("probes/second.yaml")).unwrap();
    wait_for_series(service.api, 1).await;
    service.child.kill().unwrap();
    service.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_split_the_series_without_overlap() {
    let server =
        crate::helpers::TestServer::start(|_| crate::helpers::respond(200, &[], "ok")).await;
    let mut keys = Vec::new();
    let mut services = Vec::new();
    for shard in ["0/2", "1/2"] {
        let mut files: Vec<(String, String)> = (0..12)
            .map(|i| {
                (
                    format!("probes/p{i}.yaml"),
                    format!("id: shard/p{i}\nname: p{i}\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n"),
                )
            })
            .collect();
        files.push((
            "picket.yaml".into(),
            format!(
                "library: false\nprobes: [probes/]\ntargets:\n  - name: a\n    url: {url}\n  - name: b\n    url: {url}\n\
                 state: {{ path: state }}\napi: {{ listen: \"127.0.0.1:0\" }}\n",
                url = server.url()
            ),
        ));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let ws = crate::helpers::workspace(&refs);
        let service = crate::service::spawn_service_with(ws.path(), &["--shard", shard], &[]);
        let rows = crate::service::get_rows(service.api, "/api/v1/series").await;
        assert!(
            !rows.is_empty() && rows.len() < 24,
            "shard {shard} has {} series",
            rows.len()
        );
        keys.extend(
            rows.into_iter()
                .map(|r| format!("{}@{}", r.probe, r.target)),
        );
        services.push((service, ws));
    }
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "a series ran in both shards");
    assert_eq!(total, 24, "every series runs in exactly one shard");
    for (mut service, _ws) in services {
        service.child.kill().unwrap();
        service.child.wait().unwrap();
    }
    // A bad shard is a usage error.
    let ws = crate::helpers::workspace(&[("picket.yaml", "probes: []\n")]);
    let out = crate::helpers::run_picket(
        ws.path(),
        &["run", "-c", "picket.yaml", "--shard", "2/2"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
}

/// Churn from `targets_from` never grows the service: a target whose file is removed loses its
/// series in memory (the API) and in the state store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_target_disappears_from_memory_and_the_store() {
    let target = Flipper::start().await;
    let ws = crate::helpers::workspace(&[
        ("probes/nosniff.yaml", crate::service::NOSNIFF),
        (
            "targets.d/a.yaml",
            &format!("- name: kept\n  url: {}\n", target.server.url()),
        ),
        (
            "targets.d/b.yaml",
            &format!("- name: dropped\n  url: {}\n", target.server.url()),
        ),
        (
            "picket.yaml",
            "library: false\nprobes: [probes/]\ntargets_from: [targets.d/]\ndefaults:\n  schedule: { every: 1s, jitter: 0% }\nlimits:\n  per_target_rps: 100\nstate: { path: state }\napi: { listen: \"127.0.0.1:0\" }\n",
        ),
    ]);
    let service =
        crate::service::spawn_service_with(ws.path(), &["--watch-interval", "200ms"], &[]);
    // Both series have run (and so are in the store) before the target goes.
    let start = std::time::Instant::now();
    loop {
        let rows = crate::service::get_rows(service.api, "/api/v1/series").await;
        if rows.len() == 2 && rows.iter().all(|r| r.last_run.is_some()) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::remove_file(ws.path().join("targets.d/b.yaml")).unwrap();
    wait_for_series(service.api, 1).await;
    let rows = crate::service::get_rows(service.api, "/api/v1/series").await;
    assert_eq!(rows[0].target, "kept");
    assert_eq!(service.terminate().await.code(), Some(0));
    let (_, stored) = picket::state::Store::open(&ws.path().join("state")).unwrap();
    let keys: Vec<&String> = stored.keys().collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains("kept"), "{keys:?}");
}

/// What the service reports as a run's duration — the API's `last_duration_ms`, the
/// `picket.probe.duration` histogram — is its exchange with the target. The waits for rate
/// slots between its requests are reported apart: `picket.wait_ms` on the run's span, and
/// a `wait for rate slot` span inside it for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_in_the_api_histogram_and_spans_leave_out_rate_waits() {
    let receiver = crate::otlp::Receiver::grpc().await;
    let target =
        crate::helpers::TestServer::start(|_| crate::helpers::respond(200, &[], "ok")).await;
    let ws = crate::helpers::workspace(&[(
        "probes/paths.yaml",
        "id: t/paths\nname: paths\nseverity: low\nhttp:\n  paths: [/a, /b, /c]\nchecks:\n  - status: 200\n",
    )]);
    let root = ws.path();
    std::fs::write(
        root.join("picket.yaml"),
        format!(
            "library: false\nprobes: [{probes}]\ntargets:\n  - name: web\n    url: {url}\n\
             defaults:\n  schedule: {{ every: 2s, jitter: 0% }}\n\
             limits:\n  per_target_rps: 2\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n{telemetry}",
            probes = root.join("probes").display(),
            url = target.url(),
            state = root.join("state").display(),
            telemetry = telemetry_block(&receiver, "grpc"),
        ),
    )
    .unwrap();
    let service = spawn_service(root, &[]);
    // Three requests at 2/s: a second of waiting inside the run.
    let mut row = None;
    for _ in 0..300 {
        let rows = crate::service::get_rows(service.api, "/api/v1/series").await;
        if let Some(r) = rows.into_iter().find(|r| r.last_run.is_some()) {
            row = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = row.expect("the series ran within 30 s");
    assert!(
        row.last_duration_ms < 500,
        "last_duration_ms {} for three loopback requests",
        row.last_duration_ms
    );
    let arrived = receiver
        .wait_until(
            |r| {
                r.spans().iter().any(|s| s.name == "probe t/paths")
                    && !r.histogram_points("picket.probe.duration").is_empty()
            },
            Duration::from_secs(20),
        )
        .await;
    assert!(arrived, "{}", receiver.dump());
    let spans = receiver.spans();
    let run = spans.iter().find(|s| s.name == "probe t/paths").unwrap();
    let waited: u64 = run.attrs["picket.wait_ms"].parse().unwrap();
    assert!(waited >= 900, "picket.wait_ms {waited}");
    let waits = spans
        .iter()
        .filter(|s| s.name == "wait for rate slot")
        .count();
    assert!(waits >= 2, "{:?}", receiver.span_names());
    let (_, count, sum) = receiver.histogram_points("picket.probe.duration")[0].clone();
    assert!(count >= 1);
    let mean = sum / count as f64;
    assert!(mean < 0.5, "mean duration {mean} s");
    assert_eq!(service.terminate().await.code(), Some(0));
}
