//! `cargo bench --bench discovery`: Kubernetes discovery at scale, the figures the README's
//! performance section reports.
//!
//! Everything runs in this process on 127.0.0.1, against the fake API server of the tests
//! (`tests/it/k8s_api.rs`), through kube's real client and watcher: 10,000 Services (one
//! port each) in 100 namespaces.
//!
//! 1. sync: from starting the source (`discover::kubernetes::run`) to its first snapshot
//!    that is synced with all 10,000 targets (best and median of 3), and the resident memory
//!    the source holding them added (the first round; RSS, so allocator-dependent);
//! 2. added → published: with the 10,000 followed, 200 Services added one every 20 ms, each
//!    timed from `put` on the fake API to the first published snapshot containing its target;
//! 3. added → first run: the service itself (`service::start`, one `tcp` probe, `address:
//!    cluster_ip` at a loopback listener) following the 10,000, then 100 Services added one
//!    every 50 ms, each timed from `put` to its series being tracked (planned) and to its
//!    first run. First runs of added series are spread over
//!    [`picket::schedule::FIRST_RUN_SPREAD`] on purpose, so that figure is mostly that spread.
//!
//! What it is not: a real API server. The fake has no authentication, TLS, HTTP/2,
//! pagination (one 10,000-item list) or server-side watch timeouts, and shares the machine
//! (and the process) with picket.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use picket::discover::Snapshot;
use picket::discover::kubernetes::{self, Address, Kubernetes, Resource};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

mod common;

#[allow(dead_code)]
#[path = "../tests/it/k8s_api.rs"]
mod k8s_api;

use k8s_api::FakeApi;

const NAMESPACES: usize = 100;
const PER_NAMESPACE: usize = 100;
const SERVICES: usize = NAMESPACES * PER_NAMESPACE;
/// A hang guard, not a measurement.
const PATIENCE: Duration = Duration::from_secs(120);

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

/// A Service at ClusterIP 127.0.0.1 with one port (no name, no appProtocol: a `tcp://`
/// target unless the port is 80/443/8080/8443).
fn service(ns: &str, name: &str, port: u16) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("127.0.0.1".into()),
            ports: Some(vec![ServicePort {
                port: i32::from(port),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn namespace(i: usize) -> String {
    format!("ns{:02}", i % NAMESPACES)
}

/// The 10,000 Services: `nsNN/svcMMM`.
fn populate(api: &FakeApi, port: u16) {
    for n in 0..NAMESPACES {
        for s in 0..PER_NAMESPACE {
            api.put(
                "services",
                service(&namespace(n), &format!("svc{s:03}"), port),
            );
        }
    }
}

/// The `i`th Service added after the 10,000, and its target's name.
fn added(i: usize, port: u16) -> (Service, String) {
    let ns = namespace(i);
    let name = format!("added{i:03}");
    let target = format!("{ns}.{name}.{port}");
    (service(&ns, &name, port), target)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// `p50 X, p99 Y, max Z` of `samples`.
fn spread(samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "p50 {}, p99 {}, max {}",
        ms(percentile(samples, 0.50)),
        ms(percentile(samples, 0.99)),
        ms(*samples.last().unwrap())
    )
}

/// A source following `api`'s Services cluster-wide, as `discover.kubernetes` with
/// `resources: [services]` and `address: cluster_ip` does.
struct Source {
    rx: watch::Receiver<Snapshot>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start_source(api: &FakeApi, dir: &std::path::Path) -> Source {
    let config = Kubernetes {
        kubeconfig: Some(api.kubeconfig(dir)),
        address: Address::ClusterIp,
        resources: [Resource::Services].into(),
        ..Kubernetes::default()
    };
    let client = kubernetes::client(&config).await.unwrap();
    let (tx, rx) = watch::channel(Snapshot::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(kubernetes::run(config, client, tx, stop.clone()));
    Source { rx, stop, task }
}

impl Source {
    async fn until(&mut self, what: &str, pred: impl Fn(&Snapshot) -> bool) {
        match tokio::time::timeout(PATIENCE, self.rx.wait_for(|s| pred(s))).await {
            Ok(Ok(_)) => {}
            _ => panic!("no snapshot where {what} within {PATIENCE:?}"),
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// The fake API with the 10,000 Services, listed once so that the fake server's own
/// transient 10,000-item response has already grown the heap and is not counted as the
/// source's.
async fn populated(port: u16) -> FakeApi {
    picket::crypto::install_crypto_provider();
    let api = FakeApi::start().await;
    populate(&api, port);
    let url = format!("http://{}/api/v1/services", api.addr);
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert!(body.len() > 1_000_000);
    api
}

/// In a child process (`MEMORY_CHILD` set): the resident memory, in KiB, that starting the
/// source and holding the 10,000 added, printed alone. A fresh process each time, because
/// what the allocator keeps from an earlier round (and in which arena) makes a second
/// measurement in the same process meaningless.
async fn memory_child() {
    let dir = tempfile::tempdir().unwrap();
    let api = populated(9000).await;
    let before = rss_kib();
    let mut s = start_source(&api, dir.path()).await;
    s.until("synced with every Service", |s| {
        s.synced && s.targets.len() == SERVICES
    })
    .await;
    println!("{}", rss_kib().saturating_sub(before));
    s.stop().await;
}

const MEMORY_CHILD: &str = "PICKET_BENCH_DISCOVERY_MEMORY_CHILD";

/// The median and range, in MiB, of 3 [`memory_child`] runs.
fn memory() -> (f64, f64, f64) {
    let mut mib: Vec<f64> = (0..3)
        .map(|_| {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .env(MEMORY_CHILD, "1")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let kib: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
            kib / 1024.0
        })
        .collect();
    mib.sort_by(f64::total_cmp);
    (mib[1], mib[0], mib[2])
}

/// 1 and 2: the source alone.
async fn bench_source() {
    const PORT: u16 = 9000;
    let dir = tempfile::tempdir().unwrap();
    let api = populated(PORT).await;
    let mut took = Vec::new();
    let mut source: Option<Source> = None;
    for _ in 0..3 {
        if let Some(previous) = source.take() {
            previous.stop().await;
        }
        let start = Instant::now();
        let mut s = start_source(&api, dir.path()).await;
        s.until("synced with every Service", |s| {
            s.synced && s.targets.len() == SERVICES
        })
        .await;
        took.push(start.elapsed());
        source = Some(s);
    }
    took.sort();
    let (resident, low, high) = memory();
    println!(
        "discovery: 10,000 Services in 100 namespaces synced in {:.2} s (best of 3; median {:.2} s); +{resident:.1} MiB resident (RSS added, median of 3 processes; {low:.1} to {high:.1})",
        took[0].as_secs_f64(),
        took[1].as_secs_f64(),
    );

    let mut source = source.unwrap();
    let mut latencies = Vec::new();
    for i in 0..200 {
        let (svc, target) = added(i, PORT);
        let start = Instant::now();
        api.put("services", svc);
        source
            .until(&format!("{target} is published"), |s| {
                s.targets.iter().any(|t| t.name == target)
            })
            .await;
        latencies.push(start.elapsed());
        tokio::time::sleep_until((start + Duration::from_millis(20)).into()).await;
    }
    assert_eq!(source.rx.borrow().targets.len(), SERVICES + 200);
    println!(
        "discovery: ADDED -> published, 200 Services added one every 20 ms to the 10,000 followed: {}",
        spread(&mut latencies)
    );
    source.stop().await;
}

/// 3: the service.
async fn bench_service() {
    // Accepts and closes: the probe's port is open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        }
    });
    let api = FakeApi::start().await;
    populate(&api, port);
    let ws = tempfile::tempdir().unwrap();
    let probes = ws.path().join("probes");
    std::fs::create_dir_all(&probes).unwrap();
    std::fs::write(
        probes.join("open.yaml"),
        "id: bench/port-open\nname: the service port is open\nseverity: low\n\
         schedule: { every: 1h }\ntcp: {}\nchecks:\n  - reachable: true\n",
    )
    .unwrap();
    let kubeconfig = api.kubeconfig(ws.path());
    let config = format!(
        "library: false\nprobes: [{probes}]\nstate: {{ path: {state} }}\n\
         api: {{ listen: \"127.0.0.1:0\" }}\n\
         discover:\n  kubernetes:\n    kubeconfig: {kubeconfig}\n    address: cluster_ip\n    resources: [services]\n",
        probes = probes.display(),
        state = ws.path().join("state").display(),
        kubeconfig = kubeconfig.display(),
    );
    let path = ws.path().join("picket.yaml");
    std::fs::write(&path, config).unwrap();

    let stop = CancellationToken::new();
    let running = common::start_service(&path, None, stop.clone()).await;
    let tracker = running.tracker.clone();

    // The 10,000 followed and each run once (they too were added, so they first run
    // within the spread), so what follows measures additions to a settled service.
    let started = Instant::now();
    let ran_all = loop {
        let mut ran = 0;
        tracker.each(|_, state| ran += usize::from(state.last_run.is_some()));
        if ran >= SERVICES {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "only {ran} of the 10,000 ran within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    const ADDED: usize = 100;
    const EVERY: Duration = Duration::from_millis(50);
    // Target name → (put, tracked, first run).
    let mut times: HashMap<String, (Instant, Option<Duration>, Option<Duration>)> = HashMap::new();
    let begin = Instant::now();
    let mut next = 0;
    loop {
        while next < ADDED && begin.elapsed() >= EVERY * next as u32 {
            let (svc, target) = added(next, port);
            times.insert(target, (Instant::now(), None, None));
            api.put("services", svc);
            next += 1;
        }
        let now = Instant::now();
        tracker.each(|info, state| {
            if let Some((put, tracked, ran)) = times.get_mut(&info.target) {
                tracked.get_or_insert(now - *put);
                if state.last_run.is_some() {
                    ran.get_or_insert(now - *put);
                }
            }
        });
        if next == ADDED && times.values().all(|t| t.2.is_some()) {
            break;
        }
        assert!(
            begin.elapsed() < PATIENCE,
            "the added Services did not all run within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut tracked: Vec<Duration> = times.values().map(|t| t.1.unwrap()).collect();
    let mut ran: Vec<Duration> = times.values().map(|t| t.2.unwrap()).collect();
    println!(
        "service:   10,000 Services followed, each probed once (1 tcp probe, concurrency 64) {:.1} s after start",
        ran_all.as_secs_f64()
    );
    println!(
        "service:   ADDED -> series planned, 100 Services added one every 50 ms (polled every 10 ms): {}",
        spread(&mut tracked)
    );
    println!(
        "service:   ADDED -> first run: {} (first runs of added series are spread over {} s on purpose: FIRST_RUN_SPREAD)",
        spread(&mut ran),
        picket::schedule::FIRST_RUN_SPREAD.as_secs()
    );
    stop.cancel();
    drop(running);
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var_os(MEMORY_CHILD).is_some() {
        rt.block_on(memory_child());
        return;
    }
    rt.block_on(bench_source());
    rt.block_on(bench_service());
}
