//! `cargo bench --bench hot`: criterion micro-benchmarks of the per-run hot paths, so a
//! slowdown shows in review: evaluating the built-in library's HTTP checks against one
//! response, a header comparison and a body regex alone, building the plan of 100,000 series,
//! a state transition, and rendering findings and the JSON report of 10,000 results.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, StatusCode};
use picket::check::http::{Response, evaluate};
use picket::outcome::{Finding, Outcome, RunResult};

mod common;

/// A workspace with `probes` probe files and `targets` targets; `library` adds the built-in
/// library.
fn workspace(
    probes: usize,
    targets: usize,
    library: bool,
) -> (tempfile::TempDir, picket::load::Loaded) {
    let dir = tempfile::tempdir().unwrap();
    let pdir = common::write_probes(dir.path(), probes, common::STATUS_AND_NOSNIFF);
    let targets: String = (0..targets)
        .map(|t| format!("  - name: t{t}\n    url: https://127.0.0.1:8443\n"))
        .collect();
    let text = format!(
        "library: {library}\nprobes: [{}]\ntargets:\n{targets}",
        pdir.display()
    );
    std::fs::write(dir.path().join("picket.yaml"), text).unwrap();
    let loaded = picket::load::load(&dir.path().join("picket.yaml"), &|_| None).unwrap();
    (dir, loaded)
}

/// A well-configured HTML page: the headers the library looks for.
fn secure_response() -> Response {
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("content-type", "text/html; charset=utf-8"),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self' 'nonce-r4nd0m'; frame-ancestors 'none'",
        ),
        (
            "set-cookie",
            "__Host-session=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
        ),
        ("server", "nginx"),
    ] {
        headers.append(k, HeaderValue::from_static(v));
    }
    let body = format!(
        "<!doctype html><html><head><title>Shop</title></head><body>{}</body></html>",
        "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>".repeat(200)
    );
    Response {
        status: StatusCode::OK,
        headers,
        body: body.into_bytes(),
        truncated: false,
        elapsed: Duration::from_millis(3),
        url: url::Url::parse("https://127.0.0.1:8443/").unwrap(),
    }
}

fn checks(c: &mut Criterion) {
    let (_dir, loaded) = workspace(0, 1, true);
    let exchanges: Vec<_> = loaded
        .probes
        .iter()
        .filter_map(|p| p.kind.as_http())
        .flat_map(|h| h.exchanges.iter())
        .collect();
    let response = secure_response();
    let none = picket::redact::Redactor::default();
    c.bench_function(
        &format!(
            "check: the library's {} http exchanges on one response",
            exchanges.len()
        ),
        |b| {
            b.iter(|| {
                for e in &exchanges {
                    black_box(evaluate(&e.checks, black_box(&response), &none));
                }
            })
        },
    );
    let (_dir, one) = workspace(1, 1, false);
    let nosniff = &one.probes[0].kind.as_http().unwrap().exchanges[0].checks;
    c.bench_function("check: status 200 and header equals", |b| {
        b.iter(|| black_box(evaluate(nosniff, black_box(&response), &none)))
    });
    let listing = loaded
        .probes
        .iter()
        .find(|p| p.id == "exposure/directory-listing")
        .and_then(|p| p.kind.as_http())
        .unwrap();
    c.bench_function(
        "check: directory-listing body patterns on a 13 KiB page",
        |b| {
            b.iter(|| {
                black_box(evaluate(
                    &listing.exchanges[0].checks,
                    black_box(&response),
                    &none,
                ))
            })
        },
    );
}

fn plan(c: &mut Criterion) {
    let (_dir, loaded) = workspace(100, 1000, false);
    c.bench_function("plan: 100 probes x 1,000 targets", |b| {
        b.iter(|| black_box(picket::plan::plan(black_box(&loaded))))
    });
}

fn finding(i: usize) -> Finding {
    Finding {
        check: "X-Content-Type-Options is nosniff".into(),
        expected: "nosniff".into(),
        observed: format!("absent ({i})"),
        detail: Some("header x-content-type-options matches /^(?i)nosniff$/".into()),
        severity: None,
    }
}

fn state(c: &mut Criterion) {
    let fail = Outcome::Fail(vec![finding(0)]);
    let now = SystemTime::now();
    c.bench_function("state: 1,000 runs alternating fail x3, pass x3", |b| {
        b.iter(|| {
            let mut s = picket::state::SeriesState::default();
            for i in 0..1000 {
                let outcome = if (i / 3) % 2 == 0 {
                    &fail
                } else {
                    &Outcome::Pass
                };
                black_box(s.apply(outcome, now, Duration::from_millis(3), 2, 1));
            }
            s
        })
    });
}

fn render(c: &mut Criterion) {
    let findings: Vec<Finding> = (0..1000).map(finding).collect();
    c.bench_function("finding: 1,000 sentences", |b| {
        b.iter(|| {
            for f in &findings {
                black_box(f.sentence());
            }
        })
    });
    let (_dir, loaded) = workspace(100, 100, false);
    let plan = picket::plan::plan(&loaded);
    let results = |plan: &picket::plan::Plan| -> Vec<RunResult> {
        plan.series
            .iter()
            .enumerate()
            .map(|(i, s)| RunResult {
                probe: s.probe.id.clone(),
                target: s.target.name.clone(),
                outcome: if i % 10 == 0 {
                    Outcome::Fail(vec![finding(i)])
                } else {
                    Outcome::Pass
                },
                started: SystemTime::now(),
                duration: Duration::from_millis(3),
                wait: Duration::ZERO,
                url: s.target.url.to_string(),
                server_address: "127.0.0.1".into(),
                server_port: 8443,
                status: Some(200),
                certificate_not_after: None,
                attributes: Vec::new(),
                software: Vec::new(),
            })
            .collect()
    };
    c.bench_function("report: JSON of 10,000 results", |b| {
        b.iter_batched(
            || results(&plan),
            |r| {
                let report = picket::report::Report::new(
                    &plan.series,
                    r,
                    &plan.skipped,
                    &loaded.probes,
                    std::time::SystemTime::now(),
                );
                black_box(report.to_json())
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group! {
    name = hot;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = checks, plan, state, render
}
criterion_main!(hot);
