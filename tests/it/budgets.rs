//! Budgets checked at load: regex size and memory, the numbers in config and probe files, and
//! the request cap of one run. Each violation is a located error with exit code 2 (or a failed
//! reload that keeps the last good configuration), never a panic, a hang or unbounded memory.

use std::time::Duration;

use crate::files::{probe, settled, terminate, wait_for_log, wait_for_reload_log};
use crate::helpers::{picket, workspace};
use crate::service::{Flipper, get_rows, service_workspace, signal, spawn_service_with};
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
    picket::crypto::install_crypto_provider();
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), "");
    let probes = ws.path().join("probes");
    let service = spawn_service_with(ws.path(), &["--watch-interval", "100ms"], &[]);
    settled(&service).await;

    // 480,000 words: a 3.84 MB pattern, just under the 4 MiB file cap. Compiled, each costs
    // ~470 MB; written elsewhere and renamed in, so the watcher never sees half a file.
    for n in 1..=3 {
        let staged = ws.path().join(format!("alt{n}.yaml"));
        std::fs::write(&staged, alternation_probe(&format!("test/alt{n}"), 480_000)).unwrap();
        std::fs::rename(&staged, probes.join(format!("alt{n}.yaml"))).unwrap();
    }
    let limit = Duration::from_secs(60);
    for n in (1..=3).rev() {
        let needle = format!(
            "alt{n}.yaml:7:22: regex `w000000|w000001|w000002|w000003|w000004|…` is 3839999 bytes; picket compiles regexes of up to 4096 bytes"
        );
        wait_for_reload_log(&service, &needle).await;
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

// ---------------------------------------------------------------------------------------------
// Numbers: every number in the config and in probe files has a range
// ---------------------------------------------------------------------------------------------

/// One out-of-range number: which file, the YAML that sets it, the line it is on, and what
/// the error must say.
struct Case {
    /// The field, as the schema names it (for the coverage check below).
    field: &'static str,
    /// `config` or `probe`.
    file: &'static str,
    /// Config: YAML appended to [`CONFIG`]. Probe: YAML appended to a valid probe frame.
    yaml: &'static str,
    /// Line of the number, counted from the first line of `yaml`.
    line: u64,
    message: &'static str,
}

const fn case(
    field: &'static str,
    file: &'static str,
    yaml: &'static str,
    line: u64,
    message: &'static str,
) -> Case {
    Case {
        field,
        file,
        yaml,
        line,
        message,
    }
}

const OUT: &str = "is out of range: it must be from";

/// Lines of [`CONFIG`] and of [`PROBE_FRAME`], to turn a line of `yaml` into a file line.
const CONFIG_LINES: u64 = 4;
const PROBE_FRAME: &str = "id: test/numbers\nname: numbers\nseverity: low\nhttp:\n  path: /\n";
const PROBE_LINES: u64 = 5;
const TCP_FRAME: &str = "id: test/numbers\nname: numbers\nseverity: low\n";
const TCP_LINES: u64 = 3;
const STATUS_CHECK: &str = "checks:\n  - status: 200\n";

#[rustfmt::skip]
const CASES: &[Case] = &[
    case("concurrency", "config", "limits:\n  concurrency: 0\n", 2, "`concurrency: 0` is out of range: it must be from 1 to 10000"),
    case("concurrency", "config", "limits:\n  concurrency: 10001\n", 2, OUT),
    case("concurrency", "config", "limits:\n  concurrency: -5\n", 2, OUT),
    case("concurrency", "config", "limits:\n  concurrency: 99999999999999999999\n", 2, "expected a whole number"),
    case("concurrency", "config", "limits:\n  concurrency: 2.5\n", 2, "expected a whole number"),
    case("per_target_concurrency", "config", "limits:\n  per_target_concurrency: 0\n", 2, "`per_target_concurrency: 0` is out of range: it must be from 1 to 1000"),
    case("per_target_concurrency", "config", "limits:\n  per_target_concurrency: 5000\n", 2, OUT),
    case("per_target_rps", "config", "limits:\n  per_target_rps: 1e-20\n", 2, "`per_target_rps: 1e-20` is out of range: it must be from 0.01 to 100000"),
    case("per_target_rps", "config", "limits:\n  per_target_rps: 0\n", 2, OUT),
    case("per_target_rps", "config", "limits:\n  per_target_rps: -1\n", 2, OUT),
    case("per_target_rps", "config", "limits:\n  per_target_rps: .inf\n", 2, OUT),
    case("per_target_rps", "config", "limits:\n  per_target_rps: .nan\n", 2, OUT),
    case("per_target_rps", "config", "limits:\n  per_target_rps: 1e6\n", 2, OUT),
    case("per_target_rps", "config", "limits:\n  per_target_rps: 1e400\n", 2, "expected a number"),
    case("max_body_bytes", "config", "limits:\n  max_body_bytes: 0\n", 2, "`max_body_bytes: 0` is out of range: it must be from 1 to 64MiB"),
    case("max_body_bytes", "config", "limits:\n  max_body_bytes: 1TiB\n", 2, "`max_body_bytes: 1TiB` is out of range"),
    case("max_body_bytes", "config", "limits:\n  max_body_bytes: 100000000\n", 2, OUT),
    case("timeout", "config", "defaults:\n  timeout: 1ms\n", 2, "`timeout: 1ms` is out of range: it must be from 100ms to 10m"),
    case("timeout", "config", "defaults:\n  timeout: 11m\n", 2, OUT),
    case("timeout", "config", "defaults:\n  timeout: 0s\n", 2, OUT),
    case("timeout", "config", "defaults:\n  timeout: 100000000000000y\n", 2, "timeout: expected a duration such as 10s, found `100000000000000y`"),
    case("confirm", "config", "defaults:\n  confirm: 0\n", 2, "`confirm: 0` is out of range: it must be from 1 to 100"),
    case("confirm", "config", "defaults:\n  confirm: 5000000000\n", 2, OUT),
    case("recover", "config", "defaults:\n  recover: 101\n", 2, OUT),
    case("recover", "config", "defaults:\n  recover: -1\n", 2, OUT),
    case("every", "config", "defaults:\n  schedule: { every: 500ms }\n", 2, "`every: 500ms` is out of range: it must be from 1s to 366d"),
    case("every", "config", "defaults:\n  schedule: { every: 400d }\n", 2, OUT),
    case("jitter", "config", "defaults:\n  schedule: { every: 5m, jitter: 150% }\n", 2, "must be between 0% and 100%"),
    case("jitter", "config", "defaults:\n  schedule: { every: 5m, jitter: -1% }\n", 2, "must be between 0% and 100%"),
    case("export_interval", "config", "telemetry:\n  export_interval: 10ms\n", 2, "`export_interval: 10ms` is out of range: it must be from 100ms to 1h"),
    case("export_interval", "config", "telemetry:\n  export_interval: 2h\n", 2, OUT),
    case("confirm", "probe", "confirm: 0\n", 1, "`confirm: 0` is out of range: it must be from 1 to 100"),
    case("confirm", "probe", "confirm: 101\n", 1, OUT),
    case("recover", "probe", "recover: -1\n", 1, OUT),
    case("recover", "probe", "recover: 4294967296\n", 1, OUT),
    case("timeout", "probe", "timeout: 50ms\n", 1, "`timeout: 50ms` is out of range: it must be from 100ms to 10m"),
    case("timeout", "probe", "timeout: 1h\n", 1, OUT),
    case("every", "probe", "schedule: { every: 0s }\n", 1, OUT),
    case("every", "probe", "schedule: { every: 367d }\n", 1, OUT),
    case("jitter", "probe", "schedule: { every: 5m, jitter: 101% }\n", 1, "must be between 0% and 100%"),
    case("status", "probe", "checks:\n  - status: 99\n", 2, "status `99` is not an HTTP status code"),
    case("status", "probe", "checks:\n  - status: 600\n", 2, "status `600` is not an HTTP status code"),
    case("status", "probe", "checks:\n  - status: [200, 70000]\n", 2, "status `70000` is not an HTTP status code"),
    case("status", "probe", "checks:\n  - status: -1\n", 2, "status `-1` is not an HTTP status code"),
    case("at_least", "probe", "checks:\n  - header: x\n    capture: '(\\d+)'\n    at_least: .nan\n", 4, "`at_least: NaN` is out of range"),
    case("at_least", "probe", "checks:\n  - header: x\n    capture: '(\\d+)'\n    at_least: -1e300\n", 4, "`at_least: -1e300` is out of range"),
    case("at_most", "probe", "checks:\n  - header: x\n    capture: '(\\d+)'\n    at_most: .inf\n", 4, "`at_most: inf` is out of range"),
    case("at_most", "probe", "checks:\n  - header: x\n    capture: '(\\d+)'\n    at_least: 10\n    at_most: 5\n", 5, "`at_most: 5` is below `at_least: 10`"),
    case("below", "probe", "checks:\n  - response_time: { below: 0s }\n", 2, "`below: 0s` is out of range: it must be from 1ms to 10m"),
    case("below", "probe", "checks:\n  - response_time: { below: 1h }\n", 2, OUT),
    case("port", "probe", "tcp: { port: 0 }\n", 1, "`0` is not a TCP port"),
    case("port", "probe", "tcp: { port: 65536 }\n", 1, "`65536` is not a TCP port"),
    case("ports", "probe", "tcp: { ports: [22, -1] }\n", 1, "`-1` is not a TCP port"),
    case("key_bits_at_least", "probe", "tls: {}\nchecks:\n  - certificate: { key_bits_at_least: 0 }\n", 3, "`key_bits_at_least: 0` is out of range"),
    case("key_bits_at_least", "probe", "tls: {}\nchecks:\n  - certificate: { key_bits_at_least: 99999 }\n", 3, "is out of range"),
    case("max_body_bytes", "probe", "max_body_bytes: 0\n", 1, "`max_body_bytes: 0` is out of range: it must be from 1 to 64MiB"),
    case("max_body_bytes", "probe", "max_body_bytes: 1TiB\n", 1, OUT),
];

/// Validates one case in its own workspace; returns the error lines' text for messages.
fn run_case(c: &Case) {
    let (config, probe, culprit, line) = if c.file == "config" {
        (
            format!("{CONFIG}{}", c.yaml),
            format!("{PROBE_FRAME}{STATUS_CHECK}"),
            "picket.yaml",
            CONFIG_LINES + c.line,
        )
    } else if c.yaml.starts_with("tls:") {
        // A tls probe has no `http:` block and brings its own checks.
        (
            CONFIG.to_string(),
            format!("{TCP_FRAME}{}", c.yaml),
            "probes/p.yaml",
            TCP_LINES + c.line,
        )
    } else if c.yaml.starts_with("tcp:") {
        // A tcp probe has no `http:` block and tcp checks.
        (
            CONFIG.to_string(),
            format!("{TCP_FRAME}{}checks:\n  - reachable: false\n", c.yaml),
            "probes/p.yaml",
            TCP_LINES + c.line,
        )
    } else {
        let checks = if c.yaml.contains("checks:") {
            ""
        } else {
            STATUS_CHECK
        };
        (
            CONFIG.to_string(),
            format!("{PROBE_FRAME}{}{checks}", c.yaml),
            "probes/p.yaml",
            PROBE_LINES + c.line,
        )
    };
    let dir = workspace(&[("picket.yaml", &config), ("probes/p.yaml", &probe)]);
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let stderr = assert_rejected(&out);
    let errors = error_lines(&stderr);
    assert_eq!(errors.len(), 1, "{:?}: {}", c.yaml, head(&stderr));
    let e = &errors[0];
    assert_eq!(
        (e.path, e.line),
        (culprit, line),
        "{:?}: {}",
        c.yaml,
        head(&stderr)
    );
    assert!(
        e.message.contains(c.message),
        "{:?}: expected `{}` in:\n{}",
        c.yaml,
        c.message,
        head(&stderr)
    );
    assert!(
        stderr.contains("\n  hint: "),
        "{:?}: no hint:\n{stderr}",
        c.yaml
    );
}

#[test]
fn every_number_out_of_range_is_a_located_error() {
    for c in CASES {
        run_case(c);
    }
}

#[test]
fn every_numeric_probe_field_in_the_schema_has_a_range_case() {
    // The schema lists the probe format's numbers; a new one without a case here fails.
    fn walk(value: &serde_json::Value, key: &str, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                let numeric = |t: &serde_json::Value| {
                    matches!(t.as_str(), Some("integer" | "number"))
                        || t.as_array().is_some_and(|a| {
                            a.iter()
                                .any(|t| matches!(t.as_str(), Some("integer" | "number")))
                        })
                };
                if map.get("type").is_some_and(numeric) {
                    found.push(key.to_string());
                }
                for (k, v) in map {
                    let next = match k.as_str() {
                        "properties" | "$defs" | "anyOf" | "oneOf" | "items" => key,
                        other => other,
                    };
                    walk(v, next, found);
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    walk(v, key, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&picket::probe::probe_schema(), "", &mut found);
    found.sort();
    found.dedup();
    assert!(!found.is_empty());
    for field in &found {
        // `StatusItem` is the `status` list's element.
        // `Size` is `max_body_bytes`' type.
        let field = match field.as_str() {
            "StatusItem" => "status",
            "Size" => "max_body_bytes",
            "Ports" => "ports",
            other => other,
        };
        assert!(
            CASES.iter().any(|c| c.file == "probe" && c.field == field),
            "the probe schema's number `{field}` has no out-of-range case; found {found:?}"
        );
    }
}

#[test]
fn per_target_rps_of_1e_minus_20_is_refused_by_every_command() {
    let config = format!("{CONFIG}limits:\n  per_target_rps: 1e-20\n");
    let dir = workspace(&[
        ("picket.yaml", &config),
        ("probes/p.yaml", &probe("test/p")),
    ]);
    for command in ["validate", "check", "list", "run"] {
        let mut cmd = picket(dir.path());
        cmd.args([command, "-c", "picket.yaml"]);
        let out = output_within(cmd, TIME_LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", head(&stderr));
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
        assert!(
            stderr.starts_with("picket.yaml:6:19: `per_target_rps: 1e-20` is out of range"),
            "{command}: {}",
            head(&stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_an_out_of_range_number_keeps_the_service_and_later_reloads_work() {
    picket::crypto::install_crypto_provider();
    let target = Flipper::start().await;
    let ws = service_workspace(&target.server.url(), "");
    let path = ws.path().join("picket.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    // Reloads on SIGHUP only, so each reload below is exactly the one asked for.
    let service = spawn_service_with(ws.path(), &["--watch-interval", "0s"], &[]);
    settled(&service).await;

    let bad = good.replace("per_target_rps: 100", "per_target_rps: 1e-20");
    assert_ne!(bad, good);
    std::fs::write(&path, &bad).unwrap();
    signal(&service.child, "-HUP");
    let limit = Duration::from_secs(30);
    wait_for_log(
        &service,
        "`per_target_rps: 1e-20` is out of range",
        1,
        limit,
    )
    .await;
    wait_for_log(&service, "reload failed", 1, limit).await;

    // The reload task survived: the next change is loaded.
    std::fs::write(
        &path,
        good.replace("per_target_rps: 100", "per_target_rps: 50"),
    )
    .unwrap();
    signal(&service.child, "-HUP");
    wait_for_log(&service, "configuration reloaded", 1, limit).await;
    let log = service.log.lock().unwrap().clone();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(get_rows(service.api, "/api/v1/series").await.len(), 1);
    terminate(service).await;
}

#[test]
fn command_line_durations_are_range_checked() {
    let dir = workspace(&[]);
    for args in [
        &["run", "--grace", "100000000d"][..],
        &["run", "--watch-interval", "1ms"],
        &["demo", "--flip-every", "0s"],
        &["demo", "--every", "400d"],
        &["demo", "--duration", "0s"],
    ] {
        let mut cmd = picket(dir.path());
        cmd.args(args);
        let out = output_within(cmd, TIME_LIMIT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("is out of range"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// The request cap of one run, checked at load
// ---------------------------------------------------------------------------------------------

/// A probe frame whose request block is `http` (YAML lines indented by 2).
fn probe_with_http(http: &str) -> String {
    format!("id: test/many\nname: many\nseverity: low\nhttp:\n{http}checks:\n  - status: 200\n")
}

/// Validates `config` and `probe`; returns the single error line and the stderr.
fn single_error(config: &str, probe: &str) -> (String, u64, u64, String) {
    let dir = workspace(&[("picket.yaml", config), ("probes/p.yaml", probe)]);
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    let stderr = assert_rejected(&out);
    let errors = error_lines(&stderr);
    assert_eq!(errors.len(), 1, "{}", head(&stderr));
    let e = &errors[0];
    (e.path.to_string(), e.line, e.column, stderr.clone())
}

#[test]
fn a_paths_list_over_the_request_cap_is_a_located_error() {
    let cap = picket::run::MAX_REQUESTS_PER_RUN;
    let list = |n: usize| -> String {
        let items: String = (0..n).map(|i| format!("    - /p{i}\n")).collect();
        probe_with_http(&format!("  paths:\n{items}"))
    };
    // At the cap: valid.
    let dir = workspace(&[("picket.yaml", CONFIG), ("probes/p.yaml", &list(cap))]);
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One more: the extra path is the error's position (line 6 holds the first path).
    let (path, line, column, stderr) = single_error(CONFIG, &list(cap + 1));
    assert_eq!(
        (path.as_str(), line, column),
        ("probes/p.yaml", 6 + cap as u64, 7)
    );
    assert!(
        stderr.contains("`paths` lists 257 paths; one run sends at most 256 requests"),
        "{stderr}"
    );
}

#[test]
fn target_lists_that_expand_a_probe_past_the_request_cap_are_a_located_error() {
    let items: Vec<String> = (0..300).map(|i| format!("/a{i}")).collect();
    let config = format!("{CONFIG}    vars:\n      many: [{}]\n", items.join(", "));
    let probe = probe_with_http("  paths: [/, \"{{vars.many}}\"]\n");
    let (path, line, column, stderr) = single_error(&config, &probe);
    assert_eq!(
        (path.as_str(), line, column),
        ("probes/p.yaml", 5, 14),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "probe `test/many` would send 301 requests per run to target `web`; one run sends at most 256"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: target `web`: `vars.many` has 300 items"),
        "{stderr}"
    );

    // Two lists in one path multiply: 20 × 20 = 400.
    let items: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
    let config = format!(
        "{CONFIG}    vars:\n      a: [{0}]\n      b: [{0}]\n",
        items.join(", ")
    );
    let probe = probe_with_http("  path: \"/{{vars.a}}/{{vars.b}}\"\n");
    let (_, line, _, stderr) = single_error(&config, &probe);
    assert_eq!(line, 5, "{stderr}");
    assert!(stderr.contains("would send 400 requests"), "{stderr}");

    // A probe that does not apply to the target is not counted against it.
    let probe = format!(
        "{}targets: {{ tags: [elsewhere] }}\n",
        probe_with_http("  path: \"/{{vars.a}}/{{vars.b}}\"\n")
    );
    let dir = workspace(&[("picket.yaml", &config), ("probes/p.yaml", &probe)]);
    let mut cmd = picket(dir.path());
    cmd.args(["validate", "-c", "picket.yaml"]);
    let out = output_within(cmd, TIME_LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
