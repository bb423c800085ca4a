//! `bench/run` (or `cargo bench --bench compare` when nginx, wrk and
//! prometheus-blackbox-exporter are installed): picket side by side with what users would
//! pick instead, on one loopback nginx with one worker, in one run.
//!
//! 1. the ceiling: `wrk -t1 -c64` against nginx;
//! 2. the peer: Prometheus blackbox_exporter's `/probe`, driven by `wrk -t1 -c64`;
//! 3. `picket check` (the release binary) over 1k, 10k and 100k series (100 probes, each a GET
//!    with a status and a header check, concurrency 64): series/s, peak RSS, connections opened;
//! 4. politeness: a loopback server of this benchmark records, per target, the most requests
//!    in flight at once and in any one-second window during a `check` of 2,000 series;
//! 5. `picket run`: 20,000 series every 10 s and 100,000 every 5 min, 60 s of steady state each:
//!    runs done against runs due, CPU (cores), peak RSS, connections opened;
//! 6. load and reload: `picket validate` of 10,000 probe files.
//!
//! Prints a table: figure, picket, peer, ratio. `PICKET_BENCH_QUICK=1` shortens every phase
//! (for a smoke run; its numbers are not the README's).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

const PICKET: &str = env!("CARGO_BIN_EXE_picket");

fn quick() -> bool {
    std::env::var_os("PICKET_BENCH_QUICK").is_some()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path
        .split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn need(names: &[&str], package: &str) -> PathBuf {
    find(names).unwrap_or_else(|| {
        panic!(
            "`{}` not found: run bench/run, which installs the Debian package `{package}`",
            names[0]
        )
    })
}

/// A process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx with one worker on a loopback port, answering every path `200 ok` with
/// `X-Content-Type-Options: nosniff`, and its `stub_status` counters.
struct Nginx {
    port: u16,
    _dir: tempfile::TempDir,
    _proc: Proc,
}

impl Nginx {
    fn start() -> Nginx {
        let nginx = need(&["nginx"], "nginx-light");
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        let d = dir.path().display();
        let conf = format!(
            "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 8192; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 10000000;\n  keepalive_timeout 120s;\n\
               client_body_temp_path {d}/t; proxy_temp_path {d}/t; fastcgi_temp_path {d}/t; uwsgi_temp_path {d}/t; scgi_temp_path {d}/t;\n\
               server {{\n    listen 127.0.0.1:{port} backlog=4096;\n\
                 location = /nginx_status {{ stub_status; }}\n\
                 location / {{ add_header X-Content-Type-Options nosniff; return 200 \"ok\\n\"; }}\n  }}\n}}\n",
            user = if root { "user root;\n" } else { "" },
        );
        std::fs::create_dir_all(dir.path().join("t")).unwrap();
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let proc = Proc(child);
        wait_for_port(port, "nginx");
        Nginx {
            port,
            _dir: dir,
            _proc: proc,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (connections accepted, requests handled) so far, from `stub_status`.
    fn counters(&self) -> (u64, u64) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.write_all(b"GET /nginx_status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        // "server accepts handled requests\n 16630948 16630948 31070465"
        let line = text
            .lines()
            .skip_while(|l| !l.starts_with("server accepts"))
            .nth(1)
            .unwrap();
        let n: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        (n[0], n[2])
    }
}

/// `wrk -t1 -c64` against `url` for `secs`: requests per second.
fn wrk(url: &str, secs: u64) -> f64 {
    let wrk = need(&["wrk"], "wrk");
    let out = Command::new(wrk)
        .args(["-t1", "-c64", &format!("-d{secs}s"), url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"))
}

/// blackbox_exporter probing nginx, driven by wrk: probes per second.
fn blackbox(nginx: &Nginx, secs: u64) -> f64 {
    let exe = need(
        &["prometheus-blackbox-exporter", "blackbox_exporter"],
        "prometheus-blackbox-exporter",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n      fail_if_header_not_matches:\n        - header: X-Content-Type-Options\n          regexp: '^nosniff$'\n",
    )
    .unwrap();
    let port = common::free_port();
    let _proc = Proc(
        Command::new(exe)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "blackbox_exporter");
    let url = format!(
        "http://127.0.0.1:{port}/probe?module=http_2xx&target={}/p1",
        nginx.url()
    );
    // One probe by hand: it must succeed, or the rate means nothing.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /probe?module=http_2xx&target={}/p1 HTTP/1.0\r\n\r\n",
        nginx.url()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("probe_success 1"),
        "blackbox probe failed:\n{text}"
    );
    wrk(&url, secs)
}

/// A workspace of `probes` probe files (a GET of `/pN`, status 200 and nosniff) and `targets`
/// targets, all at `base` (each under its own path `/tN` when `per_target_path`).
fn workspace(
    probes: usize,
    targets: usize,
    base: &str,
    per_target_path: bool,
    extra: &str,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pdir = common::write_probes(dir.path(), probes, common::STATUS_AND_NOSNIFF);
    let mut yaml = format!("library: false\nprobes: [{}]\ntargets:\n", pdir.display());
    for t in 0..targets {
        let path = if per_target_path {
            format!("/t{t}")
        } else {
            String::new()
        };
        let _ = writeln!(yaml, "  - name: t{t}\n    url: {base}{path}");
    }
    yaml.push_str(extra);
    std::fs::write(dir.path().join("picket.yaml"), yaml).unwrap();
    dir
}

/// Runs picket under GNU time: (wall seconds, peak RSS MiB, its stdout).
fn timed(args: &[&str], cwd: &Path) -> (f64, f64, Vec<u8>) {
    let time = need(&["time"], "time");
    let start = Instant::now();
    let out = Command::new(time)
        .args(["-f", "%e %M"])
        .arg(PICKET)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    let kib: f64 = last
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    (secs, kib / 1024.0, out.stdout)
}

struct CheckFigures {
    series: usize,
    per_sec: f64,
    rss_mib: f64,
    connections: u64,
}

fn picket_check(nginx: &Nginx, targets: usize) -> CheckFigures {
    let limits =
        "limits:\n  concurrency: 64\n  per_target_concurrency: 4\n  per_target_rps: 100000\n";
    let ws = workspace(100, targets, &nginx.url(), false, limits);
    let (accepted, requests) = nginx.counters();
    let (secs, rss, stdout) = timed(
        &["check", "-c", "picket.yaml", "--format", "json"],
        ws.path(),
    );
    let (accepted2, requests2) = nginx.counters();
    let series = targets * 100;
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(
        report["summary"]["pass"].as_u64(),
        Some(series as u64),
        "every series passes"
    );
    // Each series is one request; stub_status counts its own request too.
    assert!(
        requests2 - requests > series as u64,
        "nginx saw every request"
    );
    CheckFigures {
        series,
        per_sec: series as f64 / secs,
        rss_mib: rss,
        connections: accepted2 - accepted - 1,
    }
}

/// Per-target in-flight and per-second maxima, as the server saw them.
#[derive(Default)]
struct Meter {
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
    starts: HashMap<String, Vec<Instant>>,
}

/// A `check` against a server that holds each request `hold`: the most requests of one target
/// it had in flight at once, and the most that started in any one-second window.
fn politeness(concurrency: usize, rps: usize, hold: Duration) -> (usize, usize) {
    let meter: Arc<Mutex<Meter>> = Arc::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let m = meter.clone();
    let port = rt.block_on(async move {
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let m = m.clone();
            async move {
                let target = uri.path().split('/').nth(1).unwrap_or_default().to_string();
                {
                    let mut m = m.lock().unwrap();
                    let n = m.in_flight.entry(target.clone()).or_default();
                    *n += 1;
                    let now = *n;
                    let max = m.max_in_flight.entry(target.clone()).or_default();
                    *max = (*max).max(now);
                    m.starts
                        .entry(target.clone())
                        .or_default()
                        .push(Instant::now());
                }
                // Long enough that a run holds its permit while others queue.
                tokio::time::sleep(hold).await;
                *m.lock().unwrap().in_flight.get_mut(&target).unwrap() -= 1;
                ([("x-content-type-options", "nosniff")], "ok")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    });
    let limits = format!(
        "limits:\n  concurrency: 64\n  per_target_concurrency: {concurrency}\n  per_target_rps: {rps}\n"
    );
    let targets = if quick() { 4 } else { 20 };
    let ws = workspace(
        if quick() { 20 } else { 100 },
        targets,
        &format!("http://127.0.0.1:{port}"),
        true,
        &limits,
    );
    let (_, _, stdout) = timed(
        &["check", "-c", "picket.yaml", "--format", "json"],
        ws.path(),
    );
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(report["summary"]["error"].as_u64(), Some(0));
    let m = meter.lock().unwrap();
    let max_conc = m.max_in_flight.values().copied().max().unwrap_or(0);
    // The most request starts of one target in any half-open one-second window.
    let mut max_rate = 0;
    for starts in m.starts.values() {
        let mut s = starts.clone();
        s.sort();
        let mut lo = 0;
        for hi in 0..s.len() {
            while s[hi].duration_since(s[lo]) >= Duration::from_secs(1) {
                lo += 1;
            }
            max_rate = max_rate.max(hi - lo + 1);
        }
    }
    drop(m);
    rt.shutdown_background();
    (max_conc, max_rate)
}

struct RunFigures {
    series: usize,
    due: f64,
    done: u64,
    cores: f64,
    rss_mib: f64,
    connections: u64,
    targets: usize,
    window: f64,
}

fn proc_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn proc_hwm_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn picket_run(nginx: &Nginx, targets: usize, every: &str, every_secs: f64) -> RunFigures {
    let api = common::free_port();
    let extra = format!(
        "defaults:\n  schedule: {{ every: {every}, jitter: 0% }}\nlimits:\n  concurrency: 64\n  per_target_concurrency: 4\n  per_target_rps: 100\nstate: {{ path: state }}\napi: {{ listen: 127.0.0.1:{api} }}\n"
    );
    let ws = workspace(100, targets, &nginx.url(), false, &extra);
    let child = Command::new(PICKET)
        .args(["run", "-c", "picket.yaml", "--log", "error"])
        .current_dir(ws.path())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let proc = Proc(child);
    wait_for_port(api, "picket run");
    // Warm up: one whole interval for the fast schedule, 20 s for the slow one.
    let warm = if quick() { 3.0 } else { every_secs.min(20.0) };
    std::thread::sleep(Duration::from_secs_f64(warm));
    let window = if quick() { 10.0 } else { 60.0 };
    let (accepted, requests) = nginx.counters();
    let ticks = proc_cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs_f64(window));
    let ticks2 = proc_cpu_ticks(pid);
    let (accepted2, requests2) = nginx.counters();
    let rss = proc_hwm_mib(pid);
    drop(proc);
    let series = targets * 100;
    RunFigures {
        series,
        due: series as f64 * window / every_secs,
        done: requests2 - requests - 1,
        // Linux reports CPU time in USER_HZ (100) ticks.
        cores: (ticks2 - ticks) as f64 / 100.0 / window,
        rss_mib: rss,
        connections: accepted2 - accepted - 1,
        targets,
        window,
    }
}

/// `picket validate` of `n` probe files: wall seconds (best of 3).
fn load(n: usize) -> f64 {
    let ws = workspace(n, 10, "http://127.0.0.1:9", false, "");
    (0..3)
        .map(|_| timed(&["validate", "-c", "picket.yaml"], ws.path()).0)
        .fold(f64::MAX, f64::min)
}

fn main() {
    let secs = if quick() { 3 } else { 10 };
    let nginx = Nginx::start();
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |a: &str, b: String, c: String, d: String| {
        println!("{a:<58} {b:>16} {c:>16} {d:>8}");
        rows.push([a.into(), b, c, d]);
    };
    println!(
        "{:<58} {:>16} {:>16} {:>8}",
        "figure", "picket", "peer", "ratio"
    );

    let ceiling = wrk(&format!("{}/p1", nginx.url()), secs);
    let peer = blackbox(&nginx, secs);
    row(
        "HTTP ceiling: wrk -t1 -c64, req/s",
        "-".into(),
        format!("{ceiling:.0}"),
        "-".into(),
    );
    row(
        "blackbox_exporter /probe driven by wrk -c64, probes/s",
        "-".into(),
        format!("{peer:.0}"),
        "-".into(),
    );
    let sizes: &[usize] = if quick() {
        &[10, 100]
    } else {
        &[10, 100, 1000]
    };
    for &targets in sizes {
        let c = picket_check(&nginx, targets);
        row(
            &format!("check {} series: series/s (peer: wrk)", c.series),
            format!("{:.0}", c.per_sec),
            format!("{ceiling:.0}"),
            format!("{:.2}x", c.per_sec / ceiling),
        );
        row(
            &format!("check {} series: series/s (peer: blackbox)", c.series),
            format!("{:.0}", c.per_sec),
            format!("{peer:.0}"),
            format!("{:.1}x", c.per_sec / peer),
        );
        row(
            &format!("check {} series: peak RSS MiB, connections", c.series),
            format!("{:.0} MiB, {}", c.rss_mib, c.connections),
            "-".into(),
            "-".into(),
        );
    }
    let (conc, _) = politeness(4, 100_000, Duration::from_millis(50));
    let (_, rate) = politeness(4, 20, Duration::from_millis(5));
    row(
        "politeness at the server: max in flight per target (limit 4)",
        conc.to_string(),
        "4".into(),
        "-".into(),
    );
    row(
        "politeness at the server: max requests/s per target (limit 20)",
        rate.to_string(),
        "20".into(),
        "-".into(),
    );
    let runs: &[(usize, &str, f64)] = if quick() {
        &[(20, "10s", 10.0)]
    } else {
        &[(200, "10s", 10.0), (1000, "5m", 300.0)]
    };
    for &(targets, every, every_secs) in runs {
        let r = picket_run(&nginx, targets, every, every_secs);
        let label = format!("run {} series every {every}", r.series);
        row(
            &format!("{label}: runs done / due in {:.0} s", r.window),
            format!("{} / {:.0}", r.done, r.due),
            "-".into(),
            format!("{:.3}", r.done as f64 / r.due),
        );
        row(
            &format!("{label}: CPU cores, peak RSS MiB"),
            format!("{:.2}, {:.0} MiB", r.cores, r.rss_mib),
            "-".into(),
            "-".into(),
        );
        row(
            &format!(
                "{label}: connections opened (bound: 4 x {} targets)",
                r.targets
            ),
            r.connections.to_string(),
            (4 * r.targets).to_string(),
            "-".into(),
        );
    }
    let n = if quick() { 1000 } else { 10_000 };
    row(
        &format!("validate {n} probe files, s"),
        format!("{:.2}", load(n)),
        "-".into(),
        "-".into(),
    );
    let mut md = String::from("| figure | picket | peer | ratio |\n|---|---|---|---|\n");
    for [a, b, c, d] in &rows {
        let _ = writeln!(md, "| {a} | {b} | {c} | {d} |");
    }
    println!("\n{md}");
}
