//! Accepted risks (SPEC §3b) as every output shows them: `picket check`'s text, JSON, SARIF and
//! JUnit and its exit code, the API's series rows, the dashboard, and `picket list`. The
//! target is a real loopback server that never sends `X-Content-Type-Options`, so the probe
//! fails on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use picket::state::State;
use tokio_util::sync::CancellationToken;

use crate::dashboard::wait_for;
use crate::helpers::{TestServer, respond, run_picket, texts, workspace};
use crate::sarif::assert_valid_sarif;
use crate::service::{get_rows, start_in_process};

/// Fails on a target that does not send `X-Content-Type-Options: nosniff`.
const NOSNIFF: &str = "id: team/nosniff\nname: nosniff set\nseverity: medium\nhttp:\n  path: /\n\
checks:\n  - header: x-content-type-options\n    equals: nosniff\n";

const REASON: &str = "nosniff rollout, ticket SEC-123";

/// A day within the 400 days an acceptance may run, as `until` writes it.
fn until_in(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// An `accept:` block accepting `team/nosniff` on targets matching `target` until `until`.
fn accept(target: &str, until: &str) -> String {
    format!(
        "accept:\n  - probe: team/nosniff\n    target: \"{target}\"\n    until: {until}\n    reason: \"{REASON}\"\n"
    )
}

/// A config with the targets `names` (all at `url`), the probe in `probes/`, and `extra`.
fn config(url: &str, names: &[&str], extra: &str) -> String {
    let targets: String = names
        .iter()
        .map(|n| format!("  - name: {n}\n    url: {url}\n"))
        .collect();
    format!(
        "library: false\nprobes: [probes/]\ntargets:\n{targets}\
         limits:\n  per_target_rps: 1000\n  per_target_concurrency: 16\n{extra}"
    )
}

/// A server that never sends `X-Content-Type-Options`.
async fn insecure() -> TestServer {
    TestServer::start(|_| respond(200, &[("content-type", "text/html")], "<html></html>")).await
}

async fn check(dir: &std::path::Path, config: &str, format: &str) -> (Option<i32>, String) {
    let out = run_picket(
        dir,
        &[
            "check",
            "-c",
            config,
            "--format",
            format,
            "--fail-on",
            "low",
            "--no-progress",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code(), stdout)
}

#[tokio::test]
async fn an_accepted_failure_passes_the_gate_in_every_format() {
    let server = insecure().await;
    let until = until_in(30);
    let ws = workspace(&[
        ("probes/nosniff.yaml", NOSNIFF),
        (
            "accepted.yaml",
            &config(
                &server.url(),
                &["legacy-billing"],
                &accept("legacy-*", &until),
            ),
        ),
        (
            "plain.yaml",
            &config(&server.url(), &["legacy-billing"], ""),
        ),
        (
            "other.yaml",
            &config(
                &server.url(),
                &["legacy-billing", "web"],
                &accept("legacy-*", &until),
            ),
        ),
    ]);
    let dir = ws.path();

    // Text: the row is ACCEPTED, with the acceptance under it, and the gate lets it through.
    let (code, text) = check(dir, "accepted.yaml", "text").await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("ACCEPTED team/nosniff  legacy-billing  medium"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n      accepted until {until}: {REASON}\n")),
        "{text}"
    );
    assert!(
        text.contains("observed: X-Content-Type-Options not sent"),
        "the findings still show: {text}"
    );
    assert!(
        text.ends_with("1 series: 0 pass, 0 fail, 0 error, 0 skip, 1 accepted\n"),
        "{text}"
    );

    // Without the acceptance, the same failure fails the gate.
    let (code, text) = check(dir, "plain.yaml", "text").await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.starts_with("FAIL  team/nosniff  legacy-billing"),
        "{text}"
    );
    assert!(!text.contains("accepted"), "{text}");

    // An acceptance of other targets leaves the row FAIL, and the gate shut.
    let (code, text) = check(dir, "other.yaml", "text").await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("\nFAIL     team/nosniff  web             medium"),
        "{text}"
    );
    assert!(
        text.starts_with("ACCEPTED team/nosniff  legacy-billing"),
        "{text}"
    );

    // JSON: the row keeps its outcome and gains the acceptance; the summary counts it.
    let (code, json) = check(dir, "other.yaml", "json").await;
    assert_eq!(code, Some(1), "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let results = doc["results"].as_array().unwrap();
    let result = |target: &str| results.iter().find(|r| r["target"] == target).unwrap();
    assert_eq!(result("legacy-billing")["outcome"], "fail");
    assert_eq!(
        result("legacy-billing")["accepted"],
        serde_json::json!({"until": until, "reason": REASON})
    );
    assert_eq!(result("web")["outcome"], "fail");
    assert!(result("web").get("accepted").is_none(), "{json}");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"series": 2, "pass": 0, "fail": 1, "error": 0, "skip": 0, "accepted": 1})
    );
    let (_, plain) = check(dir, "plain.yaml", "json").await;
    assert!(!plain.contains("accepted"), "{plain}");

    // SARIF: the accepted row's results are suppressed with the reason; the document still
    // validates against the official schema.
    let (code, sarif) = check(dir, "other.yaml", "sarif").await;
    assert_eq!(code, Some(1), "{sarif}");
    let doc: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let of = |target: &str| -> Vec<&serde_json::Value> {
        results
            .iter()
            .filter(|r| {
                r["message"]["text"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{target}: "))
            })
            .collect()
    };
    assert!(!of("legacy-billing").is_empty(), "{sarif}");
    for r in of("legacy-billing") {
        assert_eq!(
            r["suppressions"],
            serde_json::json!([{"kind": "external", "justification": REASON}]),
            "{sarif}"
        );
    }
    assert!(!of("web").is_empty(), "{sarif}");
    assert!(
        of("web").iter().all(|r| r.get("suppressions").is_none()),
        "{sarif}"
    );
    assert_valid_sarif(&[("accepted", &sarif)]);

    // JUnit: the accepted testcase is skipped with the acceptance; the other one fails.
    let (code, junit) = check(dir, "other.yaml", "junit").await;
    assert_eq!(code, Some(1), "{junit}");
    let testcase = |target: &str| {
        let start = junit
            .find(&format!("<testcase classname=\"{target}\""))
            .unwrap_or_else(|| panic!("{target}: {junit}"));
        let rest = &junit[start..];
        &rest[..rest.find("</testcase>").unwrap()]
    };
    assert!(
        testcase("legacy-billing").contains(&format!(
            "<skipped message=\"accepted until {until}: {REASON}\"/>"
        )),
        "{junit}"
    );
    assert!(!testcase("legacy-billing").contains("<failure"), "{junit}");
    assert!(testcase("web").contains("<failure"), "{junit}");
    assert!(
        junit.contains("tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"1\""),
        "{junit}"
    );
}

#[tokio::test]
async fn list_shows_each_acceptance_with_its_series() {
    let server = insecure().await;
    let until = until_in(30);
    let yesterday = until_in(-1);
    let extra = format!(
        "{}  - probe: \"team/*\"\n    tags: [retired]\n    until: {until}\n    reason: \"nobody uses it\"\n\
         \x20 - probe: team/nosniff\n    target: web\n    until: {yesterday}\n    reason: \"fixed\"\n",
        accept("legacy-*", &until)
    );
    let ws = workspace(&[
        ("probes/nosniff.yaml", NOSNIFF),
        (
            "picket.yaml",
            &config(&server.url(), &["legacy-a", "legacy-b", "web"], &extra),
        ),
    ]);
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let section = &stdout[stdout.find("\nACCEPTANCES (3)\n").expect(&stdout)..];
    assert!(
        section.contains(&format!(
            "  picket.yaml:14  team/nosniff on target legacy-*  until {until}  (2 series)\n    reason: {REASON}\n"
        )),
        "{section}"
    );
    assert!(
        section.contains(&format!(
            "  picket.yaml:18  team/* on tags [retired]         until {until}  (0 series)\n    reason: nobody uses it\n"
        )),
        "{section}"
    );
    // One whose day has passed still loads (validate refuses it) and says it ended.
    assert!(
        section.contains(&format!(
            "  picket.yaml:22  team/nosniff on target web       until {yesterday}, ended  (1 series)\n    reason: fixed\n"
        )),
        "{section}"
    );
    assert_eq!(section.matches("ended").count(), 1, "{section}");

    // Without acceptances, no section.
    let ws = workspace(&[
        ("probes/nosniff.yaml", NOSNIFF),
        ("picket.yaml", &config(&server.url(), &["web"], "")),
    ]);
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    assert!(!texts(&out).0.contains("ACCEPTANCES"), "{:?}", texts(&out));
}

async fn get_text(api: SocketAddr, path: &str) -> String {
    reqwest::get(format!("http://{api}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_dashboard_show_the_acceptance_on_the_row() {
    let bad = insecure().await;
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let good = TestServer::start(move |_| {
        if flag.load(Ordering::SeqCst) {
            respond(200, &[], "ok")
        } else {
            respond(200, &[("x-content-type-options", "nosniff")], "ok")
        }
    })
    .await;
    let until = until_in(60);
    let ws = workspace(&[("probes/nosniff.yaml", NOSNIFF)]);
    let root = ws.path();
    // `legacy-bad` fails under the acceptance, `web` fails without one, `legacy-good` passes
    // under it (so after 10 runs it is no longer needed).
    let config = format!(
        "library: false\nprobes: [{probes}]\ntargets:\n\
         \x20 - name: legacy-bad\n    url: {bad}\n\
         \x20 - name: web\n    url: {bad}\n\
         \x20 - name: legacy-good\n    url: {good}\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 1\n  recover: 1\n  timeout: 2s\n\
         limits:\n  per_target_rps: 100\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n{accept}",
        probes = root.join("probes").display(),
        state = root.join("state").display(),
        bad = bad.url(),
        good = good.url(),
        accept = accept("legacy-*", &until),
    );
    std::fs::write(root.join("picket.yaml"), config).unwrap();
    let shutdown = CancellationToken::new();
    let running = start_in_process(
        &root.join("picket.yaml"),
        Arc::new(|_: &str| None),
        None,
        shutdown.clone(),
    )
    .await;
    let api = running.api_addr;
    let row =
        |rows: &[picket::api::Row], target: &str| rows.iter().find(|r| r.target == target).cloned();
    wait_for(api, "legacy-good is no longer needed", |rows| {
        row(rows, "legacy-good")
            .and_then(|r| r.accepted)
            .is_some_and(|a| a.unneeded)
            && row(rows, "legacy-bad").is_some_and(|r| r.state == State::Failing)
            && row(rows, "web").is_some_and(|r| r.state == State::Failing)
    })
    .await;

    // The API: the accepted series keeps its state and carries the acceptance.
    let rows = get_rows(api, "/api/v1/series").await;
    let legacy_bad = row(&rows, "legacy-bad").unwrap();
    let accepted = legacy_bad.accepted.expect("accepted");
    assert_eq!(
        (accepted.until.as_str(), accepted.reason.as_str()),
        (until.as_str(), REASON)
    );
    assert!(!accepted.unneeded);
    assert!(row(&rows, "web").unwrap().accepted.is_none());
    let raw = get_text(api, "/api/v1/series").await;
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let by_target = |t: &str| {
        raw.as_array()
            .unwrap()
            .iter()
            .find(|r| r["target"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_target("legacy-bad")["accepted"],
        serde_json::json!({"until": until, "reason": REASON})
    );
    assert_eq!(
        by_target("legacy-good")["accepted"],
        serde_json::json!({"until": until, "reason": REASON, "unneeded": true})
    );
    assert!(by_target("web").get("accepted").is_none());

    // The dashboard: the accepted failure has its own badge, the acceptance on hover; the
    // unaccepted one stays failing; the counts tell them apart.
    let dom = get_text(api, "/").await;
    let tr = |target: &str| {
        dom.split("<tr class=\"series\">")
            .skip(1)
            .map(|r| &r[..r.find("</tr>").unwrap()])
            .find(|r| r.contains(&format!(">{target}</a>")))
            .unwrap_or_else(|| panic!("no row for {target}: {dom}"))
    };
    assert!(
        tr("legacy-bad").starts_with(&format!(
            "<td class=\"state accepted\" title=\"accepted until {until}: {REASON}\">accepted <small>(failing)</small></td>"
        )),
        "{}",
        tr("legacy-bad")
    );
    assert!(
        tr("web").starts_with("<td class=\"state failing\">failing</td>"),
        "{}",
        tr("web")
    );
    assert!(
        tr("legacy-good").starts_with("<td class=\"state passing\">passing</td>"),
        "{}",
        tr("legacy-good")
    );
    assert!(
        dom.contains("<span class=\"count failing\">1 failing</span>")
            && dom.contains("<span class=\"count accepted\">1 accepted</span>"),
        "{dom}"
    );
    assert!(
        dom.contains(".accepted{color:#62c"),
        "its own colour: {dom}"
    );
    // Failing series first, then the accepted one.
    assert!(
        dom.find(">web</a>").unwrap() < dom.find(">legacy-bad</a>").unwrap(),
        "{dom}"
    );

    // The series pages say until when and why, and when it is no longer needed.
    let detail = get_text(api, "/series?probe=team%2Fnosniff&target=legacy-bad").await;
    assert!(
        detail.contains(&format!(
            "<dt>accepted</dt><dd class=\"accepted\">until {until}: {REASON}</dd>"
        )),
        "{detail}"
    );
    let detail = get_text(api, "/series?probe=team%2Fnosniff&target=legacy-good").await;
    assert!(
        detail.contains("(no longer needed: the series passed its last 10 runs under it)"),
        "{detail}"
    );

    // `legacy-good` regresses under its acceptance: listed among the regressions with it
    // (and needed again), shown as accepted rather than regressed.
    broken.store(true, Ordering::SeqCst);
    wait_for(api, "legacy-good regressed", |rows| {
        row(rows, "legacy-good").is_some_and(|r| r.state == State::Regressed)
    })
    .await;
    let regressions = get_text(api, "/api/v1/regressions").await;
    let regressions: serde_json::Value = serde_json::from_str(&regressions).unwrap();
    let regressed = regressions.as_array().unwrap();
    assert_eq!(regressed.len(), 1, "{regressions}");
    assert_eq!(regressed[0]["target"], "legacy-good");
    assert_eq!(
        regressed[0]["accepted"],
        serde_json::json!({"until": until, "reason": REASON})
    );
    let dom = get_text(api, "/").await;
    assert!(
        dom.contains("<span class=\"count zero\">0 regressed</span>")
            && dom.contains("<span class=\"count accepted\">2 accepted</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("accepted <small>(regressed)</small></td>"),
        "{dom}"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("shutdown within the grace period")
        .unwrap();
}
