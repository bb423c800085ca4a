//! Truncated bodies decide nothing silently: against a server whose body never ends, a check
//! that the unread rest could change makes the run an `error` naming it, what the prefix
//! already proves stays decided, and a definite finding still fails the run.

use axum::body::{Body, Bytes};
use picket::outcome::{Outcome, RunResult};

use crate::helpers::{TestServer, probe_with_checks, respond, run_probe};

/// The cap of the helper's config (`max_body_bytes: 64KiB`).
const CAP: usize = 64 * 1024;

/// A body that starts with `prefix` and then never ends (`a` forever).
fn endless_after(prefix: &'static str) -> Body {
    let filler = Bytes::from(vec![b'a'; 16 * 1024]);
    let head = futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(Bytes::from_static(prefix.as_bytes()))
    });
    let tail = futures_util::stream::repeat_with(move || Ok(filler.clone()));
    Body::from_stream(futures_util::StreamExt::chain(head, tail))
}

/// A server that answers every request with `content-type` and an endless body after `prefix`.
async fn endless_server(content_type: &'static str, prefix: &'static str) -> TestServer {
    TestServer::start(move |_| {
        respond(
            200,
            &[("content-type", content_type)],
            endless_after(prefix),
        )
    })
    .await
}

/// Runs `checks` (YAML list items) once against an endless `text/html` body after `prefix`.
async fn run_endless(prefix: &'static str, checks: &str) -> RunResult {
    let server = endless_server("text/html", prefix).await;
    run_probe(&server.url(), &probe_with_checks("/", checks)).await
}

/// The error message of an undecided run, asserting its kind.
fn undecided(result: &RunResult) -> String {
    match &result.outcome {
        Outcome::Error(e) => {
            assert_eq!(e.kind.as_str(), "body_too_large", "{e}");
            e.message.clone()
        }
        other => panic!("expected an error outcome, got {other:?}"),
    }
}

/// The message for a run whose checks `names` could not be decided at the helper's cap.
fn message_for(names: &[&str]) -> String {
    format!(
        "response body exceeded max_body_bytes ({CAP} bytes); could not decide on the part read: {}",
        names.join("; ")
    )
}

#[tokio::test]
async fn not_contains_absent_from_the_prefix_is_an_error_not_a_pass() {
    let result = run_endless("<html>", "  - body: { not_contains: \"Index of /\" }\n").await;
    assert_eq!(
        undecided(&result),
        message_for(&["the body does not contain \"Index of /\""])
    );
}

#[tokio::test]
async fn not_contains_found_in_the_prefix_is_a_definite_finding() {
    let result = run_endless(
        "<title>Index of /</title>",
        "  - body: { not_contains: \"Index of /\" }\n",
    )
    .await;
    let f = result.outcome.findings();
    assert_eq!(f.len(), 1, "{:?}", result.outcome);
    assert!(
        f[0].observed
            .starts_with("the body has \"Index of /\" at byte 7"),
        "{:?}",
        f[0]
    );
}

#[tokio::test]
async fn not_matches_absent_from_the_prefix_is_an_error_and_a_match_in_it_fails() {
    let result = run_endless("<html>", "  - body: { not_matches: '(?i)stack ?trace' }\n").await;
    assert_eq!(
        undecided(&result),
        message_for(&["the body does not match `(?i)stack ?trace`"])
    );

    let result = run_endless(
        "<pre>Stack trace: at main</pre>",
        "  - body: { not_matches: '(?i)stack ?trace' }\n",
    )
    .await;
    let f = result.outcome.findings();
    assert_eq!(f.len(), 1, "{:?}", result.outcome);
    assert_eq!(f[0].observed, "the body has \"Stack trace\" at byte 5");
}

#[tokio::test]
async fn contains_held_in_the_prefix_passes_and_absent_from_it_is_an_error() {
    let result = run_endless("<h1>Welcome</h1>", "  - body: { contains: Welcome }\n").await;
    assert_eq!(result.outcome, Outcome::Pass);

    let result = run_endless("<h1>Hello</h1>", "  - body: { contains: Welcome }\n").await;
    assert_eq!(
        undecided(&result),
        message_for(&["the body contains \"Welcome\""])
    );
}

#[tokio::test]
async fn matches_held_in_the_prefix_passes_and_absent_from_it_is_an_error() {
    let result = run_endless(
        "<title>Login</title>",
        "  - body: { matches: '(?i)<title>login' }\n",
    )
    .await;
    assert_eq!(result.outcome, Outcome::Pass);

    let result = run_endless(
        "<title>Home</title>",
        "  - body: { matches: '(?i)<title>login' }\n",
    )
    .await;
    assert_eq!(
        undecided(&result),
        message_for(&["the body matches `(?i)<title>login`"])
    );
}

#[tokio::test]
async fn every_json_check_on_a_truncated_document_is_an_error() {
    // The pointer's value is in the prefix, but the document is incomplete: a later duplicate
    // key or a syntax error could still change or void it.
    let server = endless_server("application/json", "{\"debug\": false, \"pad\": \"").await;
    let checks = "  - json: { pointer: /debug, equals: false }\n  - json: { pointer: /stack, present: false }\n";
    let result = run_probe(&server.url(), &probe_with_checks("/", checks)).await;
    assert_eq!(
        undecided(&result),
        message_for(&["JSON /debug is false", "JSON /stack is absent"])
    );
}

#[tokio::test]
async fn combinators_decide_when_the_prefix_suffices_and_are_errors_otherwise() {
    // any_of holds once one alternative holds, whatever the other would say.
    let result = run_endless(
        "<h1>Welcome</h1>",
        "  - any_of:\n      - body: { not_contains: secret }\n      - body: { contains: Welcome }\n",
    )
    .await;
    assert_eq!(result.outcome, Outcome::Pass);

    // The exposure shape: `[core]` is not in the prefix, so the exposure is neither proven
    // nor ruled out.
    let exposure = "  - not:\n      all_of:\n        - status: 200\n        - body: { contains: \"[core]\" }\n";
    let result = run_endless("<html>", exposure).await;
    assert_eq!(
        undecided(&result),
        message_for(&["the status is not 200, or the body does not contain \"[core]\""])
    );

    // ...and once the prefix shows every sign, the exposure is a finding.
    let result = run_endless("[core]\n\trepositoryformatversion = 0\n", exposure).await;
    assert_eq!(result.outcome.findings().len(), 1, "{:?}", result.outcome);
}

#[tokio::test]
async fn a_definite_finding_fails_the_run_even_with_an_undecided_check() {
    let result = run_endless(
        "<html>",
        "  - status: 404\n  - body: { not_contains: \"Index of /\" }\n",
    )
    .await;
    match &result.outcome {
        Outcome::Fail(f) => {
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].check, "the status is 404");
        }
        other => panic!("expected fail, got {other:?}"),
    }
}

#[tokio::test]
async fn each_request_of_a_many_path_probe_names_its_undecided_checks() {
    let server = endless_server("text/html", "<html>").await;
    let probe = "id: test/probe\nname: test probe\nseverity: medium\nhttp:\n  paths: [/a, /b]\nchecks:\n  - body: { not_contains: secret }\n";
    let result = run_probe(&server.url(), probe).await;
    assert_eq!(
        undecided(&result),
        message_for(&[
            "GET /a: the body does not contain \"secret\"",
            "GET /b: the body does not contain \"secret\""
        ])
    );
}

#[tokio::test]
async fn a_probe_max_body_bytes_above_the_config_cap_makes_the_check_decidable() {
    // 200 KB: more than the config's 64 KiB, less than the probe's 1 MiB.
    let page = format!("<html>{}</html>", "x".repeat(200_000));
    let server = TestServer::start(move |_| respond(200, &[], page.clone())).await;
    let checks = "  - body: { not_contains: \"Index of /\" }\n";
    let result = run_probe(&server.url(), &probe_with_checks("/", checks)).await;
    assert_eq!(
        undecided(&result),
        message_for(&["the body does not contain \"Index of /\""])
    );

    let probe = probe_with_checks("/", checks).replace(
        "severity: medium\n",
        "severity: medium\nmax_body_bytes: 1MiB\n",
    );
    let result = run_probe(&server.url(), &probe).await;
    assert_eq!(result.outcome, Outcome::Pass);

    // A probe cap below the config's applies too, and says so in the message.
    let probe = probe_with_checks("/", checks).replace(
        "severity: medium\n",
        "severity: medium\nmax_body_bytes: 1000\n",
    );
    let result = run_probe(&server.url(), &probe).await;
    assert!(
        undecided(&result).starts_with("response body exceeded max_body_bytes (1000 bytes)"),
        "{:?}",
        result.outcome
    );
}

#[tokio::test]
async fn shipped_probes_anchored_at_the_body_start_decide_on_an_endless_body() {
    let shipped = |name: &str| {
        std::fs::read_to_string(
            crate::helpers::repo_root()
                .join("probes/exposure")
                .join(name),
        )
        .unwrap()
    };
    // An endless HTML page: no API document and no heap dump can start there.
    let html = endless_server("text/html", "<!doctype html><html>").await;
    for probe in ["api-docs.yaml", "spring-actuator.yaml"] {
        let result = run_probe(&html.url(), &shipped(probe)).await;
        assert_eq!(result.outcome, Outcome::Pass, "{probe}");
    }
    // An endless heap dump is an exposure, whatever follows its header (one finding for each
    // of the probe's four paths: the server sends the dump everywhere), and the env check is
    // decided too: a heap dump is no JSON object.
    let dump = endless_server("application/octet-stream", "JAVA PROFILE 1.0.2\0").await;
    let result = run_probe(&dump.url(), &shipped("spring-actuator.yaml")).await;
    let f = result.outcome.findings();
    assert_eq!(f.len(), 4, "{:?}", result.outcome);
    assert!(
        f[0].observed
            .ends_with("the body has \"JAVA PROFILE 1.0.2\" at byte 0")
    );
}
