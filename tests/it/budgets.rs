//! Budgets checked at load: regex size and memory, the numbers in config and probe files, and
//! the request cap of one run. Each violation is a located error with exit code 2 (or a failed
//! reload that keeps the last good configuration), never a panic, a hang or unbounded memory.

use std::time::Duration;

use crate::files::{probe, terminate, wait_for_log};
use crate::helpers::{picket, workspace};
use crate::service::{Flipper, get_rows, service_workspace, spawn_service_with};
use crate::validate::{CONFIG, TIME_LIMIT, assert_rejected, error_lines, head, output_within};

/// A probe whose body regex is a literal alternation of `words` seven-character words:
/// `w000000|w000001|…`, 8 bytes of pattern per word.
fn alternation_probe(id: &str, words: usize) -> String {
    let pattern: Vec<String> = (0..words).map(|i| format!("w{i:06}")).collect();
    format!(
        "id: {id}\nname: {id}\nseverity: low\nhttp:\n  path: /\nchecks:\n  - body: {{ matches: '{}' }}\n",
        pattern.join("|")
    )
}

/// The peak resident memory of a process, from `/proc/PID/status`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_huge_regex_alternations_fail_the_reload_in_bounded_memory() {
    picket::run::init_tls();
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), "");
    let probes = ws.path().join("probes");
    let service = spawn_service_with(ws.path(), &["--watch-interval", "100ms"], &[]);

    // 480,000 words: a 3.84 MB pattern, just under the 4 MiB file cap. Compiled, each costs
    // ~470 MB; written elsewhere and renamed in, so the watcher never sees half a file.
    for n in 1..=3 {
        let staged = ws.path().join(format!("alt{n}.yaml"));
        std::fs::write(&staged, alternation_probe(&format!("test/alt{n}"), 480_000)).unwrap();
        std::fs::rename(&staged, probes.join(format!("alt{n}.yaml"))).unwrap();
    }
    let limit = Duration::from_secs(60);
    for n in 1..=3 {
        let needle = format!(
            "alt{n}.yaml:7:22: regex `w000000|w000001|w000002|w000003|w000004|…` is 3839999 bytes; picket compiles regexes of up to 4096 bytes"
        );
        wait_for_log(&service, &needle, 1, limit).await;
    }
    let log = wait_for_log(
        &service,
        "reload failed; keeping the previous configuration",
        1,
        limit,
    )
    .await;

    let peak = peak_rss(service.child.id());
    eprintln!("peak RSS of picket run: {} MiB", peak >> 20);
    assert!(
        peak < 256 << 20,
        "peak RSS {} MiB while refusing the regexes",
        peak >> 20
    );
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1000, "a log line of {longest} bytes");
    // The last good configuration still runs.
    let rows = get_rows(service.api, "/api/v1/series").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    terminate(service).await;
}

#[test]
fn an_invalid_regex_is_quoted_short() {
    let probe = format!(
        "id: t/bad\nname: bad\nseverity: low\nhttp: {{ path: / }}\nchecks:\n  - body: {{ matches: '({}' }}\n",
        "a".repeat(4000)
    );
    let dir = workspace(&[("picket.yaml", CONFIG), ("probes/bad.yaml", &probe)]);
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let stderr = assert_rejected(&out);
    let errors = error_lines(&stderr);
    assert_eq!(errors.len(), 1, "{}", head(&stderr));
    assert_eq!(
        errors[0].message,
        format!("invalid regex `({}…`: unclosed group", "a".repeat(39))
    );
    assert_eq!((errors[0].line, errors[0].column), (6, 22));
}

#[test]
fn a_regex_over_the_source_limit_is_a_located_error() {
    let dir = workspace(&[
        ("picket.yaml", CONFIG),
        ("probes/ok.yaml", &probe("test/ok")),
        ("probes/alt.yaml", &alternation_probe("test/alt", 600)),
    ]);
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let stderr = assert_rejected(&out);
    assert!(
        stderr.starts_with("probes/alt.yaml:7:22: regex `w000000|w000001|w000002|w000003|w000004|…` is 4799 bytes; picket compiles regexes of up to 4096 bytes\n  hint: "),
        "{}",
        head(&stderr)
    );
}
