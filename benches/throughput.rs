//! `cargo bench --bench throughput`: the numbers the README reports.
//!
//! 1. load: parse and validate a config with 1,000 probe files;
//! 2. check: run 2,000 series once against a loopback server (concurrency 64);
//! 3. schedule: 20,000 series on `every: 10s` for 30 s and 100,000 on `every: 5m` for 60 s of
//!    real time (runs are counted, not sent): lateness and misses;
//! 4. memory: resident memory per planned, scheduled series;
//! 6. reload: load and plan 10,000 probe files again after one changed;
//! 5. nuclei: load and validate 5,000 nuclei templates (the repository's corpus in
//!    `tests/nuclei/supported/`, each copied under as many ids as it takes); and again with
//!    the templates of `PICKET_BENCH_NUCLEI_DIR` (a folder of real nuclei templates, such as
//!    a nuclei-templates checkout), only when that variable is set.
//!
//! Everything runs on loopback. Numbers depend on the machine; the README says which.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picket::schedule::{Clock, Fire, Scheduler};
use tokio_util::sync::CancellationToken;

mod common;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A workspace with `probes` probe files and `targets` targets at `url`.
fn workspace(probes: usize, targets: usize, url: &str, every: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pdir = common::write_probes(
        dir.path(),
        probes,
        "  - status: 200\n  - header: x-content-type-options\n    matches: '^(?i)nosniff$'\n  - body: { not_contains: \"Index of /\" }\n",
    );
    let targets: String = (0..targets)
        .map(|t| format!("  - name: t{t}\n    url: {url}\n"))
        .collect();
    std::fs::write(
        dir.path().join("picket.yaml"),
        format!(
            "library: false\nprobes: [{}]\ntargets:\n{targets}defaults:\n  schedule: {{ every: {every}, jitter: 0% }}\nlimits:\n  concurrency: 64\n  per_target_concurrency: 64\n  per_target_rps: 100000\n",
            pdir.display()
        ),
    )
    .unwrap();
    dir
}

fn bench_load() {
    let ws = workspace(1000, 10, "http://127.0.0.1:9", "5m");
    let path = ws.path().join("picket.yaml");
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let loaded = picket::load::load(&path, &|_| None).unwrap();
        best = best.min(start.elapsed());
        assert_eq!(loaded.probes.len(), 1000);
    }
    println!(
        "load:     1,000 probe files + 10 targets validated in {:.1} ms (best of 5)",
        best.as_secs_f64() * 1e3
    );
}

async fn bench_check() {
    let app = axum::Router::new().fallback(|| async {
        (
            [
                ("x-content-type-options", "nosniff"),
                ("content-type", "text/html"),
            ],
            "<html><body>hello</body></html>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ws = workspace(200, 10, &format!("http://{addr}"), "5m");
    let loaded = picket::load::load(&ws.path().join("picket.yaml"), &|_| None).unwrap();
    let plan = picket::plan::plan(&loaded);
    picket::crypto::install_crypto_provider();
    let runner = picket::run::Runner::new(&loaded.config).unwrap();
    let bar = indicatif::ProgressBar::hidden();
    // Warm the connection pools once.
    let _ = picket::commands::run_all(&runner, plan.series[..64].to_vec().into(), &bar).await;
    let start = Instant::now();
    let results = picket::commands::run_all(&runner, plan.series.clone().into(), &bar).await;
    let took = start.elapsed();
    let passed = results
        .iter()
        .filter(|r| r.outcome == picket::outcome::Outcome::Pass)
        .count();
    assert_eq!(passed, plan.series.len());
    println!(
        "check:    {} series (3 checks each) in {:.2} s = {:.0} series/s, concurrency 64",
        plan.series.len(),
        took.as_secs_f64(),
        plan.series.len() as f64 / took.as_secs_f64()
    );
}

/// `probes` x 10 targets on `every` (`every_secs`), measured for `secs` of real time.
async fn bench_schedule(probes: usize, every: &str, every_secs: u64, secs: u64) {
    let before = rss_kib();
    let ws = workspace(probes, 10, "http://127.0.0.1:9", every);
    let loaded = picket::load::load(&ws.path().join("picket.yaml"), &|_| None).unwrap();
    let series = picket::plan::plan(&loaded).series;
    let n = series.len();
    let late: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let fired = Arc::new(AtomicU64::new(0));
    let scheduler = Scheduler::new(series, Clock::system());
    let handle = scheduler.handle();
    let shutdown = CancellationToken::new();
    let (l, f) = (late.clone(), fired.clone());
    let task = tokio::spawn(scheduler.run(
        move |fire: Fire| {
            l.lock().unwrap().push(fire.lateness);
            f.fetch_add(1, Ordering::Relaxed);
            async {}
        },
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let scheduled_rss = rss_kib();
    // Measure whole intervals after the first second.
    late.lock().unwrap().clear();
    fired.store(0, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    shutdown.cancel();
    task.await.unwrap();
    let stats = handle.stats();
    let mut late = late.lock().unwrap().clone();
    late.sort();
    let pct = |p: f64| late[((late.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    let fired = fired.load(Ordering::Relaxed);
    println!(
        "schedule: {n} series every {every} for {secs} s: {fired} runs (expected {}), lateness p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, skipped {}",
        n as u64 * secs / every_secs,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        stats.skipped
    );
    println!(
        "memory:   {n} series loaded, planned and scheduled: {:.1} MiB resident ({:.1} KiB per series)",
        scheduled_rss.saturating_sub(before) as f64 / 1024.0,
        scheduled_rss.saturating_sub(before) as f64 / n as f64
    );
}

/// A reload after one file of 10,000 changed: load and plan again (unchanged files are taken
/// from the compiled-probe cache).
fn bench_reload() {
    let ws = workspace(10_000, 10, "http://127.0.0.1:9", "5m");
    let path = ws.path().join("picket.yaml");
    let mut compiled = picket::load::Compiled::default();
    let start = Instant::now();
    let loaded = compiled.load(&path, &|_| None).unwrap();
    let cold = start.elapsed();
    assert_eq!(loaded.probes.len(), 10_000);
    let mut best = Duration::MAX;
    // More rounds to profile the reload alone (`perf record … -- reload`).
    let rounds: usize = std::env::var("PICKET_BENCH_RELOADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    for round in 0..rounds {
        let file = ws.path().join("probes").join(format!("p{round}.yaml"));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("name: probe", "name: changed probe")).unwrap();
        let start = Instant::now();
        let loaded = compiled.load(&path, &|_| None).unwrap();
        let load = start.elapsed();
        let plan = picket::plan::plan(&loaded);
        if std::env::var_os("PICKET_BENCH_RELOADS").is_some() {
            eprintln!("load {load:?}, plan {:?}", start.elapsed() - load);
        }
        best = best.min(start.elapsed());
        assert_eq!(plan.series.len(), 100_000);
    }
    println!(
        "reload:   10,000 probe files: first load {:.0} ms; after one file changed, load and plan {:.1} ms (best of 5)",
        cold.as_secs_f64() * 1e3,
        best.as_secs_f64() * 1e3
    );
}

/// The same reload in a running service, from its start to `configuration reloaded`: load,
/// plan, the tracker taking the new series (100,000) and the scheduler replacing them. The
/// series are due once in 300 days, so runs do not compete with the reload.
async fn bench_service_reload() {
    let ws = workspace(10_000, 10, "http://127.0.0.1:9", "300d");
    let path = ws.path().join("picket.yaml");
    std::fs::write(
        ws.path().join("picket.yaml"),
        std::fs::read_to_string(&path).unwrap()
            + &format!("state: {{ path: {} }}\n", ws.path().join("state").display()),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let running = common::start_service(
        &path,
        Some("127.0.0.1:0".parse().unwrap()),
        shutdown.clone(),
    )
    .await;
    let mut times = Vec::new();
    let rounds: usize = std::env::var("PICKET_BENCH_RELOADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    for round in 0..rounds {
        let file = ws.path().join("probes").join(format!("p{round}.yaml"));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("name: probe", "name: changed probe")).unwrap();
        let (ok, _) = running.reloads();
        let start = Instant::now();
        running.reload();
        while running.reloads().0 == ok {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "reload:   a running service of 100,000 series (10,000 probe files), one file changed: {:.1} ms median, {:.1} ms best ({} reloads)",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times.len()
    );
    shutdown.cancel();
}

/// The best of 5 loads of 5,000 templates: `templates`, each copied under as many ids as
/// it takes.
fn time_nuclei(templates: &[String]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    'fill: for copy in 0.. {
        for text in templates {
            if n == 5000 {
                break 'fill;
            }
            let renamed = text.replacen("id: ", &format!("id: c{copy}-"), 1);
            std::fs::write(dir.path().join(format!("t{n}.yaml")), renamed).unwrap();
            n += 1;
        }
    }
    let paths = [dir.path().to_path_buf()];
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let probes =
            picket::load::load_probe_paths(&paths, &picket::config::Defaults::default()).unwrap();
        best = best.min(start.elapsed());
        assert_eq!(probes.len(), 5000);
    }
    best
}

/// The `.yaml` files of `folder`, sorted; none when it does not exist.
fn yaml_texts(folder: &std::path::Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(folder)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "yaml"));
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn bench_nuclei() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = yaml_texts(&root.join("tests/nuclei/supported"));
    assert!(!corpus.is_empty(), "no templates in tests/nuclei/supported");
    let best = time_nuclei(&corpus);
    println!(
        "nuclei:   5,000 nuclei templates (the {} of tests/nuclei/supported, copied) loaded and validated in {:.1} ms (best of 5)",
        corpus.len(),
        best.as_secs_f64() * 1e3
    );
    // Optional: a folder of real nuclei templates, when one is named.
    let Some(extra) = std::env::var_os("PICKET_BENCH_NUCLEI_DIR") else {
        return;
    };
    let extra = std::path::PathBuf::from(extra);
    let real = yaml_texts(&extra);
    if !real.is_empty() {
        let best = time_nuclei(&real);
        println!(
            "nuclei:   5,000 nuclei templates (the {} of {}, copied) loaded and validated in {:.1} ms (best of 5)",
            real.len(),
            extra.display(),
            best.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench --bench throughput -- reload` runs only the phases named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let on = |phase: &str| only.is_empty() || only.iter().any(|o| o == phase);
    if on("load") {
        bench_load();
    }
    if on("reload") {
        bench_reload();
    }
    if on("service-reload") {
        rt.block_on(bench_service_reload());
    }
    if on("nuclei") {
        bench_nuclei();
    }
    if on("check") {
        rt.block_on(bench_check());
    }
    if on("schedule") {
        rt.block_on(bench_schedule(2000, "10s", 10, 30));
        rt.block_on(bench_schedule(10_000, "5m", 300, 60));
    }
}
