//! Every check type, passing and failing, against a real loopback HTTP server. Each failing
//! case also asserts what the finding says was expected and observed.

use std::time::Duration;

use axum::body::{Body, Bytes};
use picket::outcome::Outcome;

use crate::helpers::{TestServer, probe_with_checks, respond, run_probe};

/// A canned response, a list of checks, and what must come of it.
struct Case {
    name: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    delay: Duration,
    checks: &'static str,
    /// `None`: must pass. `Some((expected, observed))`: must fail with a finding whose
    /// `expected` and `observed` contain these.
    fail: Option<(&'static str, &'static str)>,
}

const fn case(
    name: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    checks: &'static str,
    fail: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        status,
        headers,
        body,
        delay: Duration::ZERO,
        checks,
        fail,
    }
}

const HTML: &[(&str, &str)] = &[("content-type", "text/html; charset=utf-8")];

fn cases() -> Vec<Case> {
    vec![
        // status
        case("status code pass", 200, &[], "", "  - status: 200\n", None),
        case(
            "status code fail",
            404,
            &[],
            "",
            "  - status: 200\n",
            Some(("200", "404")),
        ),
        case(
            "status list pass",
            301,
            &[],
            "",
            "  - status: [200, 301]\n",
            None,
        ),
        case(
            "status list fail",
            500,
            &[],
            "",
            "  - status: [200, 301]\n",
            Some(("status 200 or 301", "status 500")),
        ),
        case("status class pass", 403, &[], "", "  - status: 4xx\n", None),
        case(
            "status class fail",
            200,
            &[],
            "",
            "  - status: 4xx\n",
            Some(("4xx", "200")),
        ),
        // header: present / absent
        case(
            "header present pass",
            200,
            &[("strict-transport-security", "max-age=31536000")],
            "",
            "  - header: strict-transport-security\n    present: true\n",
            None,
        ),
        case(
            "header present fail",
            200,
            &[],
            "",
            "  - header: strict-transport-security\n    present: true\n",
            Some((
                "Strict-Transport-Security sent",
                "Strict-Transport-Security not sent",
            )),
        ),
        case(
            "header absent pass",
            200,
            &[],
            "",
            "  - header: x-powered-by\n    absent: true\n",
            None,
        ),
        case(
            "header absent fail",
            200,
            &[("x-powered-by", "Express")],
            "",
            "  - header: x-powered-by\n    absent: true\n",
            Some(("X-Powered-By not sent", "X-Powered-By: Express")),
        ),
        // header: equals / not_equals / contains
        case(
            "header equals pass",
            200,
            &[("x-frame-options", "DENY")],
            "",
            "  - header: x-frame-options\n    equals: DENY\n",
            None,
        ),
        case(
            "header equals fail",
            200,
            &[("x-frame-options", "SAMEORIGIN")],
            "",
            "  - header: x-frame-options\n    equals: DENY\n",
            Some(("DENY", "SAMEORIGIN")),
        ),
        case(
            "header not_equals pass",
            200,
            &[("access-control-allow-origin", "https://app.example")],
            "",
            "  - header: access-control-allow-origin\n    not_equals: \"https://evil.example\"\n",
            None,
        ),
        case(
            "header not_equals fail",
            200,
            &[("access-control-allow-origin", "https://evil.example")],
            "",
            "  - header: access-control-allow-origin\n    not_equals: \"https://evil.example\"\n",
            Some((
                "Access-Control-Allow-Origin other than \"https://evil.example\"",
                "Access-Control-Allow-Origin: https://evil.example",
            )),
        ),
        case(
            "header contains pass",
            200,
            &[("cache-control", "no-store, private")],
            "",
            "  - header: cache-control\n    contains: no-store\n",
            None,
        ),
        case(
            "header contains fail",
            200,
            &[("cache-control", "public, max-age=60")],
            "",
            "  - header: cache-control\n    contains: no-store\n",
            Some((
                "Cache-Control containing \"no-store\"",
                "Cache-Control: public, max-age=60",
            )),
        ),
        // header: matches / not_matches / capture
        case(
            "header matches pass",
            200,
            HTML,
            "",
            "  - header: content-type\n    matches: '^text/html'\n",
            None,
        ),
        case(
            "header matches fail",
            200,
            &[("content-type", "application/json")],
            "",
            "  - header: content-type\n    matches: '^text/html'\n",
            Some((
                "Content-Type matching `^text/html`",
                "Content-Type: application/json",
            )),
        ),
        case(
            "header not_matches pass",
            200,
            &[("server", "nginx")],
            "",
            "  - header: server\n    not_matches: '\\d'\n",
            None,
        ),
        case(
            "header not_matches fail",
            200,
            &[("server", "nginx/1.18.0")],
            "",
            "  - header: server\n    not_matches: '\\d'\n",
            Some(("Server not matching `\\d`", "Server: nginx/1.18.0")),
        ),
        case(
            "header capture at_least pass",
            200,
            &[("strict-transport-security", "max-age=31536000")],
            "",
            "  - header: strict-transport-security\n    capture: 'max-age=(\\d+)'\n    at_least: 15552000\n",
            None,
        ),
        case(
            "header capture at_least fail",
            200,
            &[("strict-transport-security", "max-age=300")],
            "",
            "  - header: strict-transport-security\n    capture: 'max-age=(\\d+)'\n    at_least: 15552000\n",
            Some(("at least 15552000", "300")),
        ),
        case(
            "header capture at_most pass",
            200,
            &[("access-control-max-age", "300")],
            "",
            "  - header: access-control-max-age\n    capture: '(\\d+)'\n    at_most: 600\n",
            None,
        ),
        case(
            "header capture at_most fail",
            200,
            &[("access-control-max-age", "86400")],
            "",
            "  - header: access-control-max-age\n    capture: '(\\d+)'\n    at_most: 600\n",
            Some(("at most 600", "86400")),
        ),
        case(
            "header capture no match fails",
            200,
            &[("strict-transport-security", "garbage")],
            "",
            "  - header: strict-transport-security\n    capture: 'max-age=(\\d+)'\n    at_least: 1\n",
            Some((
                "at least 1",
                "Strict-Transport-Security: garbage (no number found)",
            )),
        ),
        // body
        case(
            "body contains pass",
            200,
            HTML,
            "<h1>Welcome</h1>",
            "  - body: { contains: Welcome }\n",
            None,
        ),
        case(
            "body contains fail",
            200,
            HTML,
            "<h1>Hello</h1>",
            "  - body: { contains: Welcome }\n",
            Some((
                "a body containing \"Welcome\"",
                "no \"Welcome\" in the body (14 bytes)",
            )),
        ),
        case(
            "body not_contains pass",
            200,
            HTML,
            "<h1>files</h1>",
            "  - body: { not_contains: \"Index of /\" }\n",
            None,
        ),
        case(
            "body not_contains fail",
            200,
            HTML,
            "<title>Index of /</title>",
            "  - body: { not_contains: \"Index of /\" }\n",
            Some(("a body without", "the body has \"Index of /\" at byte 7")),
        ),
        case(
            "body matches pass",
            200,
            HTML,
            "<TITLE>Login</TITLE>",
            "  - body: { matches: '(?i)<title>login' }\n",
            None,
        ),
        case(
            "body matches fail",
            200,
            HTML,
            "<title>Home</title>",
            "  - body: { matches: '(?i)<title>login' }\n",
            Some((
                "a body matching `(?i)<title>login`",
                "no match in the body (19 bytes)",
            )),
        ),
        case(
            "body not_matches pass",
            200,
            HTML,
            "all good",
            "  - body: { not_matches: 'stack ?trace' }\n",
            None,
        ),
        case(
            "body not_matches fail",
            500,
            HTML,
            "a stacktrace here",
            "  - body: { not_matches: 'stack ?trace' }\n",
            Some((
                "a body not matching `stack ?trace`",
                "the body has \"stacktrace\" at byte 2",
            )),
        ),
        // json
        case(
            "json equals pass",
            200,
            &[],
            r#"{"debug": false}"#,
            "  - json: { pointer: /debug, equals: false }\n",
            None,
        ),
        case(
            "json equals fail",
            200,
            &[],
            r#"{"debug": true}"#,
            "  - json: { pointer: /debug, equals: false }\n",
            Some(("false", "true")),
        ),
        case(
            "json equals missing fails",
            200,
            &[],
            r#"{"other": 1}"#,
            "  - json: { pointer: /debug, equals: false }\n",
            Some(("JSON /debug equal to false", "nothing at JSON /debug")),
        ),
        case(
            "json not json fails",
            200,
            HTML,
            "<html>",
            "  - json: { pointer: /debug, equals: false }\n",
            Some(("false", "body is not JSON")),
        ),
        case(
            "json nested equals pass",
            200,
            &[],
            r#"{"a": {"b": [1, "x"]}}"#,
            "  - json: { pointer: /a/b/1, equals: x }\n",
            None,
        ),
        case(
            "json not_equals pass",
            200,
            &[],
            r#"{"env": "prod"}"#,
            "  - json: { pointer: /env, not_equals: dev }\n",
            None,
        ),
        case(
            "json not_equals fail",
            200,
            &[],
            r#"{"env": "dev"}"#,
            "  - json: { pointer: /env, not_equals: dev }\n",
            Some(("JSON /env other than \"dev\"", "JSON /env: \"dev\"")),
        ),
        case(
            "json present false pass",
            200,
            &[],
            r#"{"ok": 1}"#,
            "  - json: { pointer: /stack, present: false }\n",
            None,
        ),
        case(
            "json present false fail",
            200,
            &[],
            r#"{"stack": "at x"}"#,
            "  - json: { pointer: /stack, present: false }\n",
            Some(("nothing at JSON /stack", "JSON /stack: \"at x\"")),
        ),
        // cookies
        case(
            "cookies pass",
            200,
            &[("set-cookie", "sid=1; Secure; HttpOnly; SameSite=Lax")],
            "",
            "  - cookies: { all_have: [secure, httponly], samesite_at_least: lax }\n",
            None,
        ),
        case(
            "cookies missing secure fails",
            200,
            &[("set-cookie", "sid=1; HttpOnly; SameSite=Strict")],
            "",
            "  - cookies: { all_have: [secure, httponly], samesite_at_least: lax }\n",
            Some((
                "Set-Cookie sid with Secure",
                "Set-Cookie sid without Secure",
            )),
        ),
        case(
            "cookies samesite none fails",
            200,
            &[("set-cookie", "sid=1; Secure; HttpOnly; SameSite=None")],
            "",
            "  - cookies: { all_have: [secure], samesite_at_least: lax }\n",
            Some((
                "Set-Cookie sid with SameSite=Lax or stricter",
                "Set-Cookie sid with SameSite=None",
            )),
        ),
        // combinators
        case(
            "any_of pass",
            200,
            &[("x-frame-options", "DENY")],
            "",
            "  - any_of:\n      - header: content-security-policy\n        present: true\n      - header: x-frame-options\n        equals: DENY\n",
            None,
        ),
        case(
            "any_of fail",
            200,
            &[],
            "",
            "  - any_of:\n      - header: content-security-policy\n        present: true\n      - header: x-frame-options\n        equals: DENY\n",
            Some((
                "Content-Security-Policy sent or X-Frame-Options exactly \"DENY\"",
                "Content-Security-Policy not sent; X-Frame-Options not sent",
            )),
        ),
        case(
            "all_of pass",
            200,
            HTML,
            "ok",
            "  - all_of:\n      - status: 200\n      - body: { contains: ok }\n",
            None,
        ),
        case(
            "all_of fail",
            404,
            HTML,
            "ok",
            "  - all_of:\n      - status: 200\n      - body: { contains: ok }\n",
            Some(("status 200", "status 404")),
        ),
        case(
            "not pass",
            200,
            HTML,
            "<html>[core]</html>",
            "  - not:\n      all_of:\n        - status: 200\n        - body: { contains: \"[core]\" }\n        - body: { not_matches: '(?i)<html' }\n",
            None,
        ),
        case(
            "not fail",
            200,
            &[("content-type", "text/plain")],
            "[core]\n\tbare = false\n",
            "  - not:\n      all_of:\n        - status: 200\n        - body: { contains: \"[core]\" }\n        - body: { not_matches: '(?i)<html' }\n",
            Some((
                "never all of these at once: the status is 200, the body contains \"[core]\"",
                "status 200; the body has \"[core]\" at byte 0",
            )),
        ),
    ]
}

async fn run_case(c: &Case) {
    let (status, headers, body, delay) = (c.status, c.headers, c.body, c.delay);
    let server = TestServer::start(move |_| {
        if delay.is_zero() {
            respond(status, headers, body)
        } else {
            let stream = futures_util::stream::once(async move {
                tokio::time::sleep(delay).await;
                Ok::<_, std::convert::Infallible>(Bytes::from_static(body.as_bytes()))
            });
            respond(status, headers, Body::from_stream(stream))
        }
    })
    .await;
    let result = run_probe(&server.url(), &probe_with_checks("/", c.checks)).await;
    match (&c.fail, &result.outcome) {
        (None, Outcome::Pass) => {}
        (Some((expected, observed)), Outcome::Fail(findings)) => {
            assert!(
                findings
                    .iter()
                    .any(|f| f.expected.contains(expected) && f.observed.contains(observed)),
                "{}: no finding with expected ~ {expected:?} and observed ~ {observed:?}: {findings:#?}",
                c.name
            );
        }
        (want, got) => panic!(
            "{}: wanted {}, got {got:?}",
            c.name,
            if want.is_some() { "fail" } else { "pass" }
        ),
    }
}

#[tokio::test]
async fn every_check_type_passes_and_fails_against_a_real_server() {
    let cases = cases();
    // Each check type (and each header/body/json assertion) has both outcomes.
    for needle in [
        "status:",
        "present:",
        "absent:",
        "equals:",
        "not_equals:",
        "contains:",
        "matches:",
        "not_matches:",
        "capture:",
        "at_most:",
        "not_contains:",
        "json:",
        "cookies:",
        "any_of:",
        "all_of:",
        "not:",
    ] {
        let with: Vec<&Case> = cases.iter().filter(|c| c.checks.contains(needle)).collect();
        assert!(
            with.iter().any(|c| c.fail.is_none()),
            "{needle} has no passing case"
        );
        assert!(
            with.iter().any(|c| c.fail.is_some()),
            "{needle} has no failing case"
        );
    }
    for c in &cases {
        run_case(c).await;
    }
}

#[tokio::test]
async fn response_time_passes_and_fails() {
    let fast = Case {
        delay: Duration::ZERO,
        ..case(
            "response_time pass",
            200,
            &[],
            "ok",
            "  - response_time: { below: 5s }\n",
            None,
        )
    };
    run_case(&fast).await;
    let slow = Case {
        delay: Duration::from_millis(400),
        ..case(
            "response_time fail",
            200,
            &[],
            "ok",
            "  - response_time: { below: 100ms }\n",
            Some(("a response within 100ms", "the response took ")),
        )
    };
    run_case(&slow).await;
}

#[tokio::test]
async fn every_failing_check_is_its_own_finding() {
    let server = TestServer::start(|_| respond(200, &[("x-powered-by", "PHP/8")], "")).await;
    let checks = "  - header: x-powered-by\n    absent: true\n  - header: x-content-type-options\n    equals: nosniff\n  - status: 200\n";
    let result = run_probe(&server.url(), &probe_with_checks("/", checks)).await;
    let findings = result.outcome.findings();
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert_eq!(findings[0].check, "X-Powered-By is not sent");
    assert_eq!(findings[1].check, "X-Content-Type-Options is \"nosniff\"");
}

#[tokio::test]
async fn list_variables_expand_to_one_request_each() {
    let server = TestServer::start(|s| {
        if s.path_and_query == "/admin" {
            respond(200, &[], "admin panel")
        } else {
            respond(401, &[], "")
        }
    })
    .await;
    let probe = "id: auth/required\nname: auth\nseverity: high\nhttp:\n  path: \"{{vars.protected_paths}}\"\n  use_target_auth: false\nchecks:\n  - status: [401, 403]\n";
    let result = crate::helpers::run_probe_with(
        &server.url(),
        "    vars:\n      protected_paths: [/admin, /api/v1/accounts]\n",
        probe,
    )
    .await;
    let findings = result.outcome.findings();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].check, "GET /admin: the status is 401 or 403");
    let paths: Vec<String> = server
        .seen()
        .into_iter()
        .map(|s| s.path_and_query)
        .collect();
    assert_eq!(paths, ["/admin", "/api/v1/accounts"]);
}

#[tokio::test]
async fn unreachable_target_is_an_error_outcome_not_a_failure() {
    // Bind then drop a listener: the port is closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let result = run_probe(
        &format!("http://127.0.0.1:{port}"),
        &probe_with_checks("/", "  - status: 200\n"),
    )
    .await;
    match result.outcome {
        Outcome::Error(e) => assert_eq!(e.kind.as_str(), "connect", "{e}"),
        other => panic!("expected an error outcome, got {other:?}"),
    }
}
