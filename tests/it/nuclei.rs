//! nuclei templates as probes, against the real templates in `../shared/nuclei/` (read in
//! place, never copied into the repository):
//! * every template in `supported/` loads, matches a loopback response built from its own
//!   words, regexes and statuses, and does not match a soft-404 HTML shell, nor the same
//!   response with one required word removed;
//! * every template in `unsupported/` is refused, naming the feature at `file:line:column`.

use std::path::PathBuf;

use picket::check::http::Check;
use picket::check::nuclei::{Condition, Matchers, Part, Test};
use picket::outcome::Outcome;

use crate::helpers::{TestServer, repo_root, respond, run_picket, run_probe, texts, workspace};

fn shared(folder: &str) -> PathBuf {
    repo_root().join("../shared/nuclei").join(folder)
}

fn templates(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared(folder))
        .unwrap_or_else(|e| panic!("../shared/nuclei/{folder}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Text each regex of the supported templates matches (RE2 patterns have no generator here;
/// a new template with a new regex must add its sample).
fn regex_sample(pattern: &str) -> &'static str {
    match pattern {
        "(C|c)ontent-(L|l)ength: 49" => "Content-Length: 49",
        r#"\d{1,2}\/\d{1,2}\/\d{4}\s+\d+:\d+\s+[\sAPM]+(&lt;dir&gt;|\d+)\s+<[Aa]\s+[hH][rR][eE][fF]="\/"# => {
            r#"1/2/2024  10:30 AM   &lt;dir&gt; <A HREF="/"#
        }
        r"\s+-\s+\/<\/(title|h1)>" => " - /</title>",
        r"(^10\s*dir|\.svn-base|has-props|svn:\/\/|([\da-f]{32}[\S+\r\n\s]+[\d]{4}-[\d]{2}-[\d]{2}T[\d]{2}:[\d]{2}:[\d]{2}.[\d]{6}Z))" => {
            "has-props"
        }
        "(?i)Allow: [A-Z,]*TRACE" => "Allow: GET,TRACE",
        r"\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2}:\d{2}" => "2024-01-02 10:11:12",
        r"\[error\]|\[warning\]|\[notice\]" => "[error]",
        other => panic!("no sample text for the regex {other:?}"),
    }
}

/// A response as the test server sends it.
#[derive(Debug, Clone, Default)]
struct Built {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Builds a response every positive matcher of `block` matches, skipping the positive word or
/// regex matcher at index `without` (to make a near miss).
fn build(block: &Matchers, without: Option<usize>) -> Built {
    let mut out = Built {
        status: 200,
        ..Built::default()
    };
    let mut n = 0;
    for (i, m) in block.matchers.iter().enumerate() {
        if m.negative {
            if let Test::Status(codes) = &m.test
                && codes.contains(&out.status)
            {
                out.status = (200..300).find(|c| !codes.contains(c)).unwrap();
            }
            continue;
        }
        let texts: Vec<String> = match &m.test {
            Test::Status(codes) => {
                out.status = codes[0];
                continue;
            }
            Test::Words {
                words, condition, ..
            } => match condition {
                Condition::And => words.clone(),
                Condition::Or => vec![words[0].clone()],
            },
            Test::Regex { regexes, condition } => {
                let all: Vec<String> = regexes
                    .iter()
                    .map(|r| regex_sample(r.as_str()).to_string())
                    .collect();
                match condition {
                    Condition::And => all,
                    Condition::Or => vec![all[0].clone()],
                }
            }
            Test::Size(_) => panic!("no size matcher in the samples"),
        };
        if without == Some(i) {
            continue;
        }
        for text in texts {
            match &m.part {
                Part::Body | Part::All => {
                    out.body.push_str(&text);
                    out.body.push('\n');
                }
                Part::Headers => {
                    n += 1;
                    out.headers.push((format!("x-sample-{n}"), text));
                }
                Part::Header(name) => out.headers.push((name.to_string(), text)),
            }
        }
    }
    out
}

/// The first request block's matchers and its first path.
fn first_block(file: &PathBuf) -> (Matchers, String) {
    let probes = picket::load::load_probe_paths(
        std::slice::from_ref(file),
        &picket::config::Defaults::default(),
    )
    .unwrap_or_else(|d| panic!("{} does not load:\n{d}", file.display()));
    let http = probes[0].kind.as_http().unwrap();
    let exchange = &http.exchanges[0];
    let Check::Nuclei(block) = &exchange.checks[0].check else {
        panic!("{}: not a nuclei block", file.display())
    };
    (block.clone(), exchange.request.paths[0].text.clone())
}

async fn verdict(file: &PathBuf, path: &str, response: Option<Built>) -> Outcome {
    let path = path.to_string();
    let server = TestServer::start(move |seen| match &response {
        Some(r) if seen.path_and_query == path => {
            let headers: Vec<(&str, &str)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            respond(r.status, &headers, r.body.clone())
        }
        Some(_) => respond(404, &[], ""),
        // The soft-404 shell answers everything.
        None => respond(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            "<!doctype html><html><head><title>Not found</title></head><body><div id=app>Page not found</div></body></html>",
        ),
    })
    .await;
    let text = std::fs::read_to_string(file).unwrap();
    run_probe(&server.url(), &text).await.outcome
}

#[tokio::test]
async fn every_supported_template_matches_its_own_response_and_not_a_soft_404_or_a_near_miss() {
    let files = templates("supported");
    assert_eq!(files.len(), 60);
    let (mut negative, mut header_part) = (0, 0);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (block, path) = first_block(file);
        negative += block.matchers.iter().filter(|m| m.negative).count();
        header_part += block
            .matchers
            .iter()
            .filter(|m| matches!(m.part, Part::Headers | Part::Header(_)))
            .count();

        let hit = build(&block, None);
        let outcome = verdict(file, &path, Some(hit.clone())).await;
        let Outcome::Fail(findings) = &outcome else {
            panic!(
                "{name}: a response built from its matchers did not match ({hit:?}): {outcome:?}"
            )
        };
        assert!(
            findings
                .iter()
                .all(|f| f.observed.contains("matched at byte") || f.observed.contains("status")),
            "{name}: {findings:?}"
        );

        let shell = verdict(file, &path, None).await;
        assert_eq!(shell, Outcome::Pass, "{name}: the soft-404 shell matched");

        if block.condition == Condition::And {
            let required = block.matchers.iter().position(|m| {
                !m.negative && matches!(m.test, Test::Words { .. } | Test::Regex { .. })
            });
            if let Some(i) = required {
                let near = build(&block, Some(i));
                let outcome = verdict(file, &path, Some(near.clone())).await;
                assert_eq!(
                    outcome,
                    Outcome::Pass,
                    "{name}: matched with a required word removed ({near:?})"
                );
            }
        }
    }
    assert!(negative >= 4, "negative matchers covered: {negative}");
    assert!(
        header_part >= 10,
        "header-part matchers covered: {header_part}"
    );
}

#[tokio::test]
async fn every_unsupported_template_is_refused_naming_the_feature_and_its_place() {
    let expected: &[(&str, &str)] = &[
        ("akamai-s3-cache-poisoning.yaml", "`raw`"),
        ("apache-config.yaml", "`dsl`"),
        ("apache-server-status-localhost.yaml", "`flow`"),
        (
            "apache-tomcat-manager-path-normalization.yaml",
            "placeholder",
        ),
        ("api-github.yaml", "`self-contained`"),
        ("batflat-sqlite-exposure.yaml", "`binary`"),
        ("caa-fingerprint.yaml", "`dns`"),
        ("directory-listing.yaml", "`extractors`"),
        ("error-logs.yaml", "`payloads`"),
        ("external-service-interaction.yaml", "interactsh"),
        ("graphql-alias-batching.yaml", "`variables`"),
        ("graphql-field-suggestion.yaml", "`raw`"),
        ("open-redirect.yaml", "`fuzzing`"),
        ("rdap-whois.yaml", "`extractors`"),
        ("screenshot.yaml", "`headless`"),
    ];
    let files = templates("unsupported");
    assert_eq!(files.len(), expected.len());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let Some((_, feature)) = expected.iter().find(|(f, _)| *f == name) else {
            panic!("{name}: no expected reason listed")
        };
        let errors = picket::load::load_probe_paths(
            std::slice::from_ref(file),
            &picket::config::Defaults::default(),
        )
        .expect_err(&name)
        .to_string();
        let located = errors.lines().filter(|l| {
            l.starts_with(&format!("{}:", file.display()))
                && l.split(':')
                    .nth(1)
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
        });
        assert!(
            located.clone().any(|l| l.contains(feature)),
            "{name}: no located error naming {feature}:\n{errors}"
        );
    }
}

#[tokio::test]
async fn validate_counts_the_templates_of_a_folder_that_load() {
    let ws = workspace(&[]);
    let (supported, unsupported) = (shared("supported"), shared("unsupported"));
    let out = run_picket(
        ws.path(),
        &[
            "validate",
            supported.to_str().unwrap(),
            unsupported.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout.contains("60 of 75 probe files load; 15 refused"),
        "no count of the files that load:\n{stdout}\n{stderr}"
    );
}

/// A nuclei template dropped into a probe folder of a running service regresses over OTLP
/// when the target starts matching it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_in_a_probe_folder_regresses_over_otlp_when_the_target_starts_matching() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use crate::service::{get_rows, service_workspace, signal, spawn_service};

    let receiver = crate::otlp::Receiver::grpc().await;
    let exposed = Arc::new(AtomicBool::new(false));
    let flag = exposed.clone();
    let target = TestServer::start(move |seen| {
        if seen.path_and_query == "/.svn/entries" && flag.load(Ordering::SeqCst) {
            respond(
                200,
                &[("content-type", "text/plain")],
                "12\n\ndir\n0\nhas-props\n",
            )
        } else {
            respond(
                404,
                &[("content-type", "text/html")],
                "<html>not found</html>",
            )
        }
    })
    .await;
    let ws = service_workspace(
        &target.url(),
        &crate::e2e::telemetry_block(&receiver, "grpc"),
    );
    std::fs::copy(
        shared("supported").join("exposed-svn.yaml"),
        ws.path().join("probes/exposed-svn.yaml"),
    )
    .unwrap();
    let mut service = spawn_service(ws.path(), &[]);
    let state = |rows: &[picket::api::Row]| {
        rows.iter()
            .find(|r| r.probe == "nuclei/exposed-svn")
            .map(|r| r.state.as_str().to_string())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while state(&get_rows(service.api, "/api/v1/series").await).as_deref() != Some("passing") {
        assert!(std::time::Instant::now() < deadline, "never passing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    exposed.store(true, Ordering::SeqCst);
    let regressed = receiver
        .wait_until(
            |r| {
                r.logs().iter().any(|l| {
                    l.event_name == "picket.regression"
                        && l.attrs.get("probe.id").map(String::as_str) == Some("nuclei/exposed-svn")
                })
            },
            Duration::from_secs(20),
        )
        .await;
    signal(&service.child, "-TERM");
    let _ = tokio::task::spawn_blocking(move || service.child.wait())
        .await
        .unwrap();
    assert!(regressed, "no regression of nuclei/exposed-svn over OTLP");
    let logs = receiver.logs();
    let regression = logs
        .iter()
        .find(|l| l.event_name == "picket.regression")
        .unwrap();
    assert_eq!(regression.attrs["probe.severity"], "medium");
    assert_eq!(
        regression.attrs["security_rule.name"],
        "SVN Configuration - Detect"
    );
    assert!(
        regression.attrs["findings"].contains("has-props"),
        "{:?}",
        regression.attrs
    );
    // info.classification travels with the event.
    assert_eq!(regression.attrs["security_rule.cwe_id"], "CWE-200");
    assert_eq!(regression.attrs["security_rule.cvss_score"], "5.3");
}

#[tokio::test]
async fn sarif_rules_carry_the_template_classification() {
    let server = TestServer::start(|seen| {
        if seen.path_and_query == "/.svn/entries" {
            respond(200, &[("content-type", "text/plain")], "has-props\n")
        } else {
            respond(404, &[], "")
        }
    })
    .await;
    let ws = workspace(&[]);
    std::fs::create_dir_all(ws.path().join("probes")).unwrap();
    std::fs::copy(
        shared("supported").join("exposed-svn.yaml"),
        ws.path().join("probes/exposed-svn.yaml"),
    )
    .unwrap();
    std::fs::write(
        ws.path().join("picket.yaml"),
        crate::helpers::config_for(&server.url(), ""),
    )
    .unwrap();
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "-c",
            "picket.yaml",
            "--format",
            "sarif",
            "--no-progress",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let sarif: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rule = &sarif["runs"][0]["tool"]["driver"]["rules"][0];
    assert_eq!(rule["id"], "nuclei/exposed-svn");
    assert_eq!(rule["properties"]["cwe-id"], "CWE-200");
    assert_eq!(rule["properties"]["cvss-score"], "5.3");
    let result = &sarif["runs"][0]["results"][0];
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap()
            .contains("has-props"),
        "{result}"
    );
}

/// `{{RootURL}}` is the target's origin even when its URL has a path; `{{BaseURL}}`,
/// `{{Hostname}}`, `{{Host}}`, `{{Port}}` and `{{Scheme}}` are the target's own.
#[tokio::test]
async fn url_placeholders_are_the_targets() {
    let server = TestServer::start(|seen| {
        let host = seen
            .headers
            .get("x-host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        respond(200, &[], format!("{} {host}", seen.path_and_query))
    })
    .await;
    let port = server.addr.port();
    let template = "id: placeholders\ninfo:\n  name: placeholders\n  severity: low\nhttp:\n  - method: GET\n    path:\n      - \"{{RootURL}}/root?h={{Hostname}}&p={{Port}}&s={{Scheme}}\"\n      - \"{{BaseURL}}/base\"\n    headers:\n      X-Host: \"{{Host}}\"\n    matchers:\n      - type: word\n        name: seen\n        words:\n          - \"/root?h=127.0.0.1&p=PORT&s=http 127.0.0.1:PORT\"\n          - \"/app/base 127.0.0.1:PORT\"\n        condition: and\n        part: body\n".replace("PORT", &port.to_string());
    // Each path answers with what it was sent; `and` over both lines needs both paths seen
    // in one body, so check them one at a time.
    let first = template.replace(
        "          - \"/app/base 127.0.0.1:PORT\"\n"
            .replace("PORT", &port.to_string())
            .as_str(),
        "",
    );
    let r = crate::helpers::run_probe(&format!("{}/app", server.url()), &first).await;
    assert!(matches!(r.outcome, Outcome::Fail(_)), "{:?}", r.outcome);
    let second = template.replace(
        "          - \"/root?h=127.0.0.1&p=PORT&s=http 127.0.0.1:PORT\"\n"
            .replace("PORT", &port.to_string())
            .as_str(),
        "",
    );
    let r = crate::helpers::run_probe(&format!("{}/app", server.url()), &second).await;
    assert!(matches!(r.outcome, Outcome::Fail(_)), "{:?}", r.outcome);
}
