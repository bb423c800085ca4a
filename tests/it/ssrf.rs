//! A probe can only reach its own target: no absolute URLs or `//host` in paths, no redirects
//! off the target, and the target's credentials go nowhere else.

use picket::outcome::Outcome;

use crate::helpers::{
    TestServer, respond, run_picket, run_probe_env, run_probe_with, texts, workspace,
};

const TOKEN: &[(&str, &str)] = &[("PICKET_SSRF_TOKEN", "ssrf-credential-7c2e")];
const AUTH: &str = "    headers:\n      Authorization: \"Bearer ${env:PICKET_SSRF_TOKEN}\"\n";

fn probe(path_block: &str, follow: bool) -> String {
    format!(
        "id: ssrf/test\nname: ssrf\nseverity: high\nhttp:\n{path_block}  follow_redirects: {follow}\nchecks:\n  - status: 200\n"
    )
}

#[tokio::test]
async fn absolute_and_scheme_relative_paths_are_refused_at_load() {
    let other = TestServer::start(|_| respond(200, &[], "other host")).await;
    let target = TestServer::start(|_| respond(200, &[], "target")).await;
    let host = other.addr.to_string();
    let cases = [
        (
            format!("  path: http://{host}/steal\n"),
            "names another host",
        ),
        (format!("  path: //{host}/steal\n"), "names another host"),
        (
            format!("  paths: [/, \"https://{host}/\"]\n"),
            "names another host",
        ),
        (
            format!("  path: \"/\\\\{host}/steal\"\n"),
            "names another host",
        ),
        (
            format!("  path: \"@{host}/steal\"\n"),
            "must start with `/`",
        ),
    ];
    for (block, message) in &cases {
        let ws = workspace(&[
            (
                "picket.yaml",
                &crate::helpers::config_for(&target.url(), ""),
            ),
            ("probes/p.yaml", &probe(block, true)),
        ]);
        let out = run_picket(ws.path(), &["check", "-c", "picket.yaml"], &[]).await;
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{block}: {stderr}");
        assert!(stderr.contains("probes/p.yaml:5:"), "{block}: {stderr}");
        assert!(stderr.contains(message), "{block}: {stderr}");
    }
    assert!(other.seen().is_empty(), "the other host was contacted");
    assert!(
        target.seen().is_empty(),
        "nothing runs when the config is invalid"
    );
}

#[tokio::test]
async fn redirects_to_another_host_are_not_followed_and_carry_no_credentials() {
    let other = TestServer::start(|_| respond(200, &[], "stolen")).await;
    let other_url = format!("{}/steal", other.url());
    let target = TestServer::start(move |s| match s.path_and_query.as_str() {
        "/" => respond(302, &[("location", &other_url)], ""),
        "/same" => respond(307, &[("location", "/final")], ""),
        "/final" => respond(200, &[], "final"),
        _ => respond(404, &[], ""),
    })
    .await;
    let result = run_probe_env(&target.url(), AUTH, &probe("  path: /\n", true), TOKEN).await;
    // The 302 itself is evaluated: the probe wanted 200, so it fails showing 302.
    let findings = result.outcome.findings();
    assert_eq!(findings.len(), 1, "{:?}", result.outcome);
    assert_eq!(findings[0].observed, "status 302");
    assert!(
        other.seen().is_empty(),
        "followed a redirect to another host: {:?}",
        other.seen()
    );

    // Same-origin redirects are followed, with credentials (they stay on the target).
    let result = run_probe_env(&target.url(), AUTH, &probe("  path: /same\n", true), TOKEN).await;
    assert_eq!(result.outcome, Outcome::Pass);
    let final_hit = target
        .seen()
        .into_iter()
        .find(|s| s.path_and_query == "/final")
        .unwrap();
    assert_eq!(
        final_hit.headers["authorization"],
        "Bearer ssrf-credential-7c2e"
    );

    // Redirects are off by default.
    let off = "id: ssrf/test\nname: ssrf\nseverity: high\nhttp:\n  path: /same\nchecks:\n  - status: 307\n";
    let result = run_probe_env(&target.url(), AUTH, off, TOKEN).await;
    assert_eq!(result.outcome, Outcome::Pass);
}

#[tokio::test]
async fn a_port_change_is_another_origin() {
    // Same IP, other port: a different origin, so not followed either.
    let other = TestServer::start(|_| respond(200, &[], "other")).await;
    let location = format!("http://127.0.0.1:{}/", other.addr.port());
    let target = TestServer::start(move |_| respond(301, &[("location", &location)], "")).await;
    let result = run_probe_env(&target.url(), AUTH, &probe("  path: /\n", true), TOKEN).await;
    assert_eq!(result.outcome.findings()[0].observed, "status 301");
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn variables_cannot_smuggle_another_host_into_a_path() {
    let other = TestServer::start(|_| respond(200, &[], "other")).await;
    let target = TestServer::start(|_| respond(200, &[], "target")).await;
    let vars = format!(
        "    vars:\n      paths: [\"//{}/x\", \"http://{}/x\"]\n",
        other.addr, other.addr
    );
    let probe = "id: ssrf/vars\nname: vars\nseverity: high\nhttp:\n  path: \"{{vars.paths}}\"\nchecks:\n  - status: 200\n";
    let result = run_probe_with(&target.url(), &vars, probe).await;
    match result.outcome {
        Outcome::Error(e) => assert!(e.message.contains("does not stay on the target"), "{e}"),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(other.seen().is_empty());
    assert!(target.seen().is_empty());
}
