//! `cargo bench --bench alloc`: what one run allocates (allocations and bytes, counted by a
//! counting global allocator), for one HTTP series against a loopback server:
//!
//! - a. the runner alone (`Runner::run`: the GET and its status and header checks);
//! - b. what `picket run` does for a run besides the exchange (`service::execute`): the run's
//!   span (`run_span`, `finish_run_span`), its metrics (`Telemetry::record_lateness`,
//!   `Telemetry::record_run`) and its state (`Tracker::record` on the embedded store), with
//!   no OTLP endpoint and with a gRPC endpoint at a closed loopback port; and its two halves
//!   alone: b1, span and metrics, and b2, state;
//! - c. both, as `service::execute` runs them (the same calls in the same order).
//!
//! Each path runs one run at a time, `RUNS` times after `WARMUP` runs, on a current-thread
//! tokio runtime, with the tracing subscriber `picket run` installs (its stderr log, into a
//! sink here, and with an endpoint its OpenTelemetry layer). Only the measured loop is
//! counted. The counts are of the whole process: what picket's own background threads
//! allocate meanwhile (the state store's writer, the blocking pool that evaluates checks, the
//! OTLP exporters) is in them. The HTTP server is this binary in a child process
//! (`alloc serve`), so nothing it allocates is. Runs go one at a time, so every state write
//! is a commit of its own: in a service running many series, the writes of one gather window
//! share a commit (src/state/store/embedded.rs), and a run's share of it is smaller.
//!
//! `cargo bench --bench alloc -- 5000` measures 5,000 runs instead of 2,000.
//! `cargo bench --bench alloc -- callgrind N` runs path c (no endpoint) N times after the
//! warm-up and prints nothing else: `bench/callgrind` runs it under valgrind for the
//! instructions per run.
//!
//! Path c mirrors `service::execute` (src/service/mod.rs): keep them in step.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::System;
use std::io::{BufRead as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use picket::outcome::{Outcome, RunResult};
use picket::plan::Series;
use picket::run::Runner;
use picket::state::{SeriesInfo, Tracker};
use picket::telemetry::{self, SeriesLabels, Telemetry};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracing::Instrument as _;

mod common;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Runs before counting: connections made, pools and caches filled, the series' state
/// settled at `passing`.
const WARMUP: usize = 200;
/// Runs counted, unless the command line says how many.
const RUNS: usize = 2000;

/// `alloc serve`: the target, in a child process. Prints its port, answers every request
/// with 200, `x-content-type-options: nosniff` and a small page, and exits when its standard
/// input closes (the bench ended, however it ended).
fn serve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut out = std::io::stdout();
        writeln!(out, "{}", listener.local_addr().unwrap().port()).unwrap();
        out.flush().unwrap();
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
        let app = axum::Router::new().fallback(|| async {
            (
                [
                    ("x-content-type-options", "nosniff"),
                    ("content-type", "text/html"),
                ],
                "<html><body>hello</body></html>",
            )
        });
        axum::serve(listener, app).await.unwrap();
    });
}

/// The server child process; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server's port");
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One probe (GET `/p0`: status 200 and `x-content-type-options: nosniff`), one target.
fn workspace(port: u16) -> (tempfile::TempDir, picket::load::Loaded) {
    let dir = tempfile::tempdir().unwrap();
    let pdir = common::write_probes(dir.path(), 1, common::STATUS_AND_NOSNIFF);
    let path = dir.path().join("picket.yaml");
    std::fs::write(
        &path,
        format!(
            "library: false\nprobes: [{}]\ntargets:\n  - name: t0\n    url: http://127.0.0.1:{port}\nlimits:\n  per_target_rps: 100000\n",
            pdir.display()
        ),
    )
    .unwrap();
    let loaded = picket::load::load(&path, &|_| None).unwrap();
    (dir, loaded)
}

/// Installs (for this thread) the subscriber `picket run` installs: the stderr log with its
/// default filter (written to a sink here), and `telemetry`'s OpenTelemetry layer when it
/// exports.
fn subscriber(telemetry: &Telemetry) -> tracing::subscriber::DefaultGuard {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let filter = tracing_subscriber::EnvFilter::new(picket::logging::filter(
        None,
        None,
        picket::logging::DEFAULT,
    ));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_ansi(false)
        .with_filter(filter);
    tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(log)
            .with(telemetry.layer()),
    )
}

/// Telemetry exporting over gRPC (the default protocol) to a closed loopback port.
fn exporting_nowhere() -> Telemetry {
    let export = telemetry::Export {
        endpoint: url::Url::parse(&format!("http://127.0.0.1:{}", common::free_port())).unwrap(),
        protocol: picket::config::OtlpProtocol::Grpc,
        interval: picket::config::Telemetry::default().export_interval,
    };
    Telemetry::build(Some(export), None).unwrap()
}

/// The tracker `picket run` keeps, on the embedded store in `dir`, tracking `series`, read by
/// `telemetry`'s state gauges.
async fn tracker(dir: &std::path::Path, series: &Series, telemetry: &Telemetry) -> Arc<Tracker> {
    let tracker = Arc::new(Tracker::open(dir).unwrap());
    let info = SeriesInfo {
        probe: Arc::clone(&series.probe),
        target: series.target.name.clone(),
        tags: series.target.tags.iter().cloned().collect(),
        acceptance: series.acceptance.clone(),
    };
    tracker.track(vec![(series.key.clone(), info)]).await;
    telemetry.observe_states(&tracker);
    tracker
}

/// Path a: the runner alone. Whether the run passed.
async fn runner_alone(series: &Series, runner: &Runner) -> bool {
    runner.run(series).await.outcome == Outcome::Pass
}

/// Path b: what `service::execute` does besides the exchange, for `result` (restamped: a
/// new run that started now): [`span_and_metrics`], then [`state`].
async fn bookkeeping(
    series: &Series,
    telemetry: &Telemetry,
    tracker: &Tracker,
    result: &mut RunResult,
) -> bool {
    let span = span_and_metrics(series, telemetry, result);
    state(series, tracker, result).await;
    drop(span);
    result.outcome == Outcome::Pass
}

/// Path b1: the run's lateness, span and metrics; returns the span (still open).
fn span_and_metrics(
    series: &Series,
    telemetry: &Telemetry,
    result: &mut RunResult,
) -> tracing::Span {
    result.started = SystemTime::now();
    let labels = SeriesLabels::of(series);
    telemetry.record_lateness(0.0);
    let span = telemetry::run_span(&labels);
    // The exchange runs in the span (`Instrument`): entered and left at least once.
    span.in_scope(|| ());
    telemetry::finish_run_span(&span, result);
    telemetry.record_run(&labels, result);
    span
}

/// Path b2: the run's state (`Tracker::record`: the state machine, then one write to the
/// embedded store, durable before it returns).
async fn state(series: &Series, tracker: &Tracker, result: &mut RunResult) -> bool {
    result.started = SystemTime::now();
    tracker.record(&series.key, result).await;
    result.outcome == Outcome::Pass
}

/// Path c: a run as `service::execute` runs it (src/service/mod.rs). Whether it passed.
async fn execute(
    series: &Series,
    runner: &Runner,
    telemetry: &Telemetry,
    tracker: &Tracker,
) -> bool {
    let labels = SeriesLabels::of(series);
    telemetry.record_lateness(0.0);
    if let Some(skipped) = picket::run::in_maintenance(series, SystemTime::now()) {
        telemetry.record_run(&labels, &skipped);
        tracker.record(&series.key, &skipped).await;
        return false;
    }
    let admission = runner.admit(series).await;
    let span = telemetry::run_span(&labels);
    let result = runner
        .run_admitted(series, admission)
        .instrument(span.clone())
        .await;
    telemetry::finish_run_span(&span, &result);
    telemetry.record_run(&labels, &result);
    tracker.record(&series.key, &result).await;
    result.outcome == Outcome::Pass
}

/// What one run allocated, on average over the measured loop.
struct PerRun {
    allocations: f64,
    reallocations: f64,
    bytes: f64,
}

/// Runs `once` `WARMUP` times, then `runs` times counting allocations; every run must pass.
async fn measure(runs: usize, mut once: impl AsyncFnMut() -> bool) -> PerRun {
    for _ in 0..WARMUP {
        assert!(once().await, "a warm-up run did not pass");
    }
    let region = Region::new(GLOBAL);
    let mut passed = 0usize;
    for _ in 0..runs {
        passed += usize::from(once().await);
    }
    let change = region.change();
    assert_eq!(passed, runs, "every measured run passes");
    let n = runs as f64;
    PerRun {
        allocations: change.allocations as f64 / n,
        reallocations: change.reallocations as f64 / n,
        bytes: change.bytes_allocated as f64 / n,
    }
}

/// What every mode starts with: the server, the workspace, its one series and the runner.
struct Setup {
    _server: Server,
    dir: tempfile::TempDir,
    series: Series,
    runner: Runner,
}

fn setup() -> Setup {
    let server = Server::start();
    let (dir, loaded) = workspace(server.port);
    picket::crypto::install_crypto_provider();
    let mut series = picket::plan::plan(&loaded).series;
    assert_eq!(series.len(), 1);
    let series = series.remove(0);
    let runner = Runner::new(&loaded.config).unwrap();
    Setup {
        _server: server,
        dir,
        series,
        runner,
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `callgrind N`: path c, no endpoint, `WARMUP` + N runs; nothing printed but one line.
fn callgrind(runs: usize) {
    let s = setup();
    let telemetry = Telemetry::disabled();
    let rt = current_thread();
    let _log = subscriber(&telemetry);
    rt.block_on(async {
        let tracker = tracker(&s.dir.path().join("state"), &s.series, &telemetry).await;
        for _ in 0..WARMUP + runs {
            assert!(execute(&s.series, &s.runner, &telemetry, &tracker).await);
        }
        tracker.sync().await.unwrap();
    });
    println!("callgrind: {WARMUP} + {runs} runs of path c");
}

fn table(runs: usize) {
    let s = setup();
    let quiet = Telemetry::disabled();
    let loud = exporting_nowhere();
    let rt = current_thread();
    let mut rows: Vec<(&str, PerRun)> = Vec::new();
    rt.block_on(async {
        let (series, runner) = (&s.series, &s.runner);
        let mut result = runner.run(series).await;
        assert_eq!(result.outcome, Outcome::Pass, "the loopback server answers");
        {
            let _log = subscriber(&quiet);
            let tracker = tracker(&s.dir.path().join("state-a"), series, &quiet).await;
            rows.push((
                "a  Runner::run alone",
                measure(runs, async || runner_alone(series, runner).await).await,
            ));
            rows.push((
                "b  span + metrics + state, no OTLP endpoint",
                measure(runs, async || {
                    bookkeeping(series, &quiet, &tracker, &mut result).await
                })
                .await,
            ));
            rows.push((
                "b1 span + metrics alone, no OTLP endpoint",
                measure(runs, async || {
                    span_and_metrics(series, &quiet, &mut result);
                    true
                })
                .await,
            ));
            rows.push((
                "b2 state alone (Tracker::record, embedded store)",
                measure(runs, async || state(series, &tracker, &mut result).await).await,
            ));
            rows.push((
                "c  a + b as `picket run` runs it, no OTLP endpoint",
                measure(runs, async || {
                    execute(series, runner, &quiet, &tracker).await
                })
                .await,
            ));
        }
        {
            let _log = subscriber(&loud);
            let tracker = tracker(&s.dir.path().join("state-b"), series, &loud).await;
            rows.push((
                "b' span + metrics + state, OTLP gRPC to a closed port",
                measure(runs, async || {
                    bookkeeping(series, &loud, &tracker, &mut result).await
                })
                .await,
            ));
            rows.push((
                "c' a + b' as `picket run` runs it, OTLP to a closed port",
                measure(runs, async || {
                    execute(series, runner, &loud, &tracker).await
                })
                .await,
            ));
        }
    });
    drop(rt);
    loud.shutdown(Duration::from_secs(1));
    println!(
        "alloc: one HTTP series (GET, status + header check) on a loopback server (a child process, not counted); \
         {runs} runs after {WARMUP} warm-up, one at a time, on a current-thread runtime"
    );
    println!(
        "alloc: counted over the whole process: picket's background threads (state store writer, blocking pool, OTLP exporters) are included"
    );
    println!(
        "alloc: runs go one at a time, so each state write is a store commit of its own (concurrent runs share one)"
    );
    let width = rows.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    println!(
        "{:width$} | allocations/run | reallocations/run | bytes/run",
        "path"
    );
    println!(
        "{}|-----------------|-------------------|----------",
        "-".repeat(width + 1)
    );
    for (path, r) in &rows {
        println!(
            "{path:width$} | {:>15.1} | {:>17.1} | {:>9.0}",
            r.allocations, r.reallocations, r.bytes
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let number = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok());
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("callgrind") => callgrind(number(1).expect("callgrind N: a number of runs")),
        _ => table(number(0).unwrap_or(RUNS)),
    }
}
