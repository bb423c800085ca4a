//! `cargo bench --bench cluster`: three `picket run` members sharing one PostgreSQL (SPEC §9a),
//! the figures the README reports.
//!
//! A real PostgreSQL (Debian's package, `initdb` + `pg_ctl` in a temporary directory, as the
//! tests start it) and a loopback HTTP target that counts requests by member (each member
//! sends `X-Member` from its own environment) and remembers, per series, who asked last and
//! when. 20 probes × 1,000 targets = 20,000 series `every: 10s`, `lease: 15s`.
//!
//! 1. steady state: after every series ran once, for 60 s: runs/s of each member, the
//!    database's committed transactions/s and rows written/s (`pg_stat_database`), and each
//!    member's CPU and resident memory;
//! 2. failover: `kill -9` one member; for each series it ran, the time until another member
//!    runs it (the bound is `lease` + two intervals; first runs of taken series are spread
//!    over up to 5 s).
//!
//! Everything shares one machine: the members, the database and the target compete for the
//! same cores, so runs/s is a floor, not a ceiling.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "../tests/it/pg.rs"]
mod pg;

/// What `tests/it/pg.rs` needs of the tests' helpers.
mod helpers {
    pub fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }
}

const PICKET: &str = env!("CARGO_BIN_EXE_picket");
const PROBES: usize = 20;
const TARGETS: usize = 1_000;
const MEMBERS: [&str; 3] = ["member-a", "member-b", "member-c"];

/// Per series (request path): the member that asked last and when.
#[derive(Default)]
struct Seen {
    by_member: HashMap<String, u64>,
    last: HashMap<String, (String, Instant)>,
    /// First request per series after `mark`, by a member other than `excluded`.
    taken: HashMap<String, Instant>,
    mark: Option<(Instant, String)>,
}

async fn target(seen: Arc<Mutex<Seen>>) -> std::net::SocketAddr {
    use axum::extract::Request;
    let app = axum::Router::new().fallback(move |request: Request| {
        let seen = Arc::clone(&seen);
        async move {
            let member = request
                .headers()
                .get("x-member")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_owned();
            let path = request.uri().path().to_owned();
            let now = Instant::now();
            let mut s = seen.lock().unwrap();
            *s.by_member.entry(member.clone()).or_default() += 1;
            if let Some((at, excluded)) = s.mark.clone()
                && member != excluded
                && now > at
            {
                s.taken.entry(path.clone()).or_insert(now);
            }
            s.last.insert(path, (member, now));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn workspace(target: std::net::SocketAddr, db: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let probes = dir.path().join("probes");
    std::fs::create_dir(&probes).unwrap();
    for p in 0..PROBES {
        std::fs::write(
            probes.join(format!("p{p}.yaml")),
            format!(
                "id: bench/p{p}\nname: p{p} answers 200\nseverity: low\n\
                 http:\n  path: /p{p}\nchecks:\n  - status: 200\n"
            ),
        )
        .unwrap();
    }
    let targets: String = (0..TARGETS)
        .map(|t| {
            format!(
                "  - name: t{t}\n    url: http://{target}/t{t}\n    headers: {{ X-Member: \"${{env:PICKET_MEMBER}}\" }}\n"
            )
        })
        .collect();
    std::fs::write(
        dir.path().join("picket.yaml"),
        format!(
            "library: false\nprobes: [probes]\ntargets:\n{targets}\
             defaults:\n  schedule: {{ every: 10s }}\n\
             limits:\n  concurrency: 256\n  per_target_concurrency: 64\n  per_target_rps: 100000\n\
             state:\n  postgres:\n    url: \"{db}\"\n    lease: 15s\n\
             api:\n  listen: \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    dir
}

fn spawn(dir: &std::path::Path, member: &str) -> Child {
    Command::new(PICKET)
        .current_dir(dir)
        .args(["--log", "warn", "run", "-c", "picket.yaml"])
        .env("PICKET_MEMBER", member)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// CPU seconds (user + system) and resident KiB of a process.
fn usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    (cpu, rss)
}

/// Committed transactions and rows written in the database so far.
fn db_counters(pg: &pg::Postgres) -> (f64, f64) {
    let out = pg.psql(
        "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database \
         WHERE datname = 'postgres'",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .trim()
        .split('|')
        .map(|p| p.parse::<f64>().unwrap_or(0.0));
    (parts.next().unwrap_or(0.0), parts.next().unwrap_or(0.0))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let pg = pg::Postgres::start();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let addr = target(Arc::clone(&seen)).await;
    let ws = workspace(addr, &pg.url());
    let mut children: Vec<(String, Child)> = MEMBERS
        .iter()
        .map(|m| (m.to_string(), spawn(ws.path(), m)))
        .collect();
    let series = PROBES * TARGETS;
    println!(
        "cluster: {} members, {series} series every 10s, lease 15s, PostgreSQL {}",
        MEMBERS.len(),
        pg.psql("SHOW server_version").stdout.escape_ascii()
    );

    // Warm up: every series ran at least once (then one more interval to settle).
    let started = Instant::now();
    while seen.lock().unwrap().last.len() < series && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "warm-up: {} of {series} series ran within {:.1} s",
        seen.lock().unwrap().last.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(10)).await;

    // 1. Steady state.
    let window = Duration::from_secs(60);
    let before: HashMap<String, u64> = seen.lock().unwrap().by_member.clone();
    let (tx0, rows0) = db_counters(&pg);
    let cpu0: Vec<f64> = children.iter().map(|(_, c)| usage(c.id()).0).collect();
    tokio::time::sleep(window).await;
    let after: HashMap<String, u64> = seen.lock().unwrap().by_member.clone();
    let (tx1, rows1) = db_counters(&pg);
    let secs = window.as_secs_f64();
    let mut total = 0.0;
    for (i, (member, child)) in children.iter().enumerate() {
        let runs = (after.get(member).copied().unwrap_or(0)
            - before.get(member).copied().unwrap_or(0)) as f64
            / secs;
        total += runs;
        let (cpu, rss) = usage(child.id());
        println!(
            "{member}: {runs:.0} runs/s, CPU {:.0}% of a core, RSS {:.0} MiB",
            (cpu - cpu0[i]) / secs * 100.0,
            rss as f64 / 1024.0
        );
    }
    println!(
        "group: {total:.0} runs/s (the schedule asks {:.0}/s); database: {:.0} transactions/s, \
         {:.0} rows written/s",
        series as f64 / 10.0,
        (tx1 - tx0) / secs,
        (rows1 - rows0) / secs
    );

    // 2. Failover: kill -9 the last member.
    let (victim, mut child) = children.pop().unwrap();
    let theirs: Vec<String> = {
        let s = seen.lock().unwrap();
        s.last
            .iter()
            .filter(|(_, (m, _))| *m == victim)
            .map(|(p, _)| p.clone())
            .collect()
    };
    let killed = Instant::now();
    seen.lock().unwrap().mark = Some((killed, victim.clone()));
    child.kill().unwrap();
    let _ = child.wait();
    let deadline = Duration::from_secs(15 + 2 * 10 + 30);
    loop {
        let done = {
            let s = seen.lock().unwrap();
            theirs.iter().filter(|p| s.taken.contains_key(*p)).count()
        };
        if done == theirs.len() || killed.elapsed() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut times: Vec<f64> = {
        let s = seen.lock().unwrap();
        theirs
            .iter()
            .filter_map(|p| s.taken.get(p))
            .map(|t| t.duration_since(killed).as_secs_f64())
            .collect()
    };
    times.sort_by(f64::total_cmp);
    println!(
        "failover of {victim} ({} series): taken over {} within {:.0} s; first {:.1} s, \
         median {:.1} s, p99 {:.1} s, last {:.1} s (bound: lease 15 s + two intervals = 35 s)",
        theirs.len(),
        times.len(),
        deadline.as_secs_f64(),
        times.first().copied().unwrap_or(f64::NAN),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(f64::NAN),
    );
    for (_, mut child) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
