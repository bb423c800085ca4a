//! The `picket check` contract: the SPEC JSON document, the other formats, and exit codes.

use std::collections::BTreeSet;

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};

const HSTS_LIKE: &str = "id: headers/nosniff\nname: nosniff\nseverity: medium\nhttp:\n  path: /\nchecks:\n  - header: x-content-type-options\n    equals: nosniff\n";
const GIT: &str = "id: exposure/git\nname: git\nseverity: high\nhttp:\n  path: /.git/config\nchecks:\n  - status: 404\n";

async fn insecure_server() -> TestServer {
    TestServer::start(|s| {
        if s.path_and_query == "/.git/config" {
            respond(404, &[], "")
        } else {
            respond(200, &[("content-type", "text/html")], "<html></html>")
        }
    })
    .await
}

fn ws_for(url: &str) -> tempfile::TempDir {
    workspace(&[
        ("picket.yaml", &crate::helpers::config_for(url, "")),
        ("probes/nosniff.yaml", HSTS_LIKE),
        ("probes/git.yaml", GIT),
    ])
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn json_output_has_the_spec_shape() {
    let server = insecure_server().await;
    let ws = ws_for(&server.url());
    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--format", "json"],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(keys(&doc), set(&["results", "summary"]));
    assert_eq!(
        doc["summary"],
        serde_json::json!({"series": 2, "pass": 1, "fail": 1, "error": 0, "skip": 0})
    );
    let results = doc["results"].as_array().unwrap();
    for r in results {
        assert_eq!(
            keys(r),
            set(&[
                "probe",
                "target",
                "severity",
                "outcome",
                "duration_ms",
                // A picket extension: time queued for permits and rate slots.
                "wait_ms",
                "findings",
                "error"
            ])
        );
        assert!(r["duration_ms"].is_u64());
        assert!(r["error"].is_null());
    }
    let fail = results.iter().find(|r| r["outcome"] == "fail").unwrap();
    assert_eq!(fail["probe"], "headers/nosniff");
    assert_eq!(fail["target"], "web");
    assert_eq!(fail["severity"], "medium");
    assert_eq!(
        fail["findings"],
        serde_json::json!([{
            "check": "X-Content-Type-Options is \"nosniff\"",
            "expected": "X-Content-Type-Options exactly \"nosniff\"",
            "observed": "X-Content-Type-Options not sent"
        }])
    );
    let pass = results.iter().find(|r| r["outcome"] == "pass").unwrap();
    assert_eq!(pass["findings"], serde_json::json!([]));
}

/// A probe that grades its checks: critical as declared, but its only failing check is medium.
const GRADED: &str = "id: headers/graded\nname: graded\nseverity: critical\nhttp:\n  path: /\nchecks:\n  - header: x-content-type-options\n    equals: nosniff\n    severity: medium\n  - status: 200\n";

#[tokio::test]
async fn a_graded_finding_sets_the_severity_of_the_result_and_the_exit_code() {
    let server = insecure_server().await;
    let ws = workspace(&[
        (
            "picket.yaml",
            &crate::helpers::config_for(&server.url(), ""),
        ),
        ("probes/graded.yaml", GRADED),
    ]);
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "-c",
            "picket.yaml",
            "--format",
            "json",
            "--fail-on",
            "high",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a medium finding is below high: {stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["outcome"], "fail");
    assert_eq!(r["severity"], "medium");
    assert_eq!(r["findings"][0]["severity"], "medium");
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "-c",
            "picket.yaml",
            "--format",
            "sarif",
            "--fail-on",
            "medium",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_str(&texts(&out).0).unwrap();
    let run = &sarif["runs"][0];
    assert_eq!(run["results"][0]["level"], "warning");
    assert_eq!(
        run["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"],
        "error"
    );
}

#[tokio::test]
async fn exit_code_follows_fail_on() {
    let server = insecure_server().await;
    let ws = ws_for(&server.url());
    // The only finding is medium.
    for (fail_on, code) in [
        ("info", 1),
        ("low", 1),
        ("medium", 1),
        ("high", 0),
        ("critical", 0),
    ] {
        let out = run_picket(
            ws.path(),
            &["check", "-c", "picket.yaml", "--fail-on", fail_on],
            &[],
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "--fail-on {fail_on}: {:?}",
            texts(&out)
        );
    }
    // Default is low.
    let out = run_picket(ws.path(), &["check", "-c", "picket.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    // Only the passing probe selected: 0.
    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--probe", "exposure/*"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let (stdout, _) = texts(&out);
    assert!(stdout.contains("PASS  exposure/git"), "{stdout}");
    assert!(!stdout.contains("headers/nosniff"), "{stdout}");
}

#[tokio::test]
async fn config_and_usage_errors_exit_2() {
    let server = insecure_server().await;
    let ws = ws_for(&server.url());
    let cases: &[&[&str]] = &[
        &["check", "-c", "missing.yaml"],
        &["check", "-c", "picket.yaml", "--target", "nope"],
        &["check", "-c", "picket.yaml", "--probe", "nothing/*"],
        &["check", "-c", "picket.yaml", "--fail-on", "severe"],
        &["check", "-c", "picket.yaml", "--format", "xml"],
        &["check", "--bogus-flag"],
    ];
    for args in cases {
        let out = run_picket(ws.path(), args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", texts(&out));
        assert!(!texts(&out).1.contains("panicked"));
    }
    std::fs::write(
        ws.path().join("probes/bad.yaml"),
        "id: x\nname: y\nseverity: huge\n",
    )
    .unwrap();
    let out = run_picket(ws.path(), &["check", "-c", "picket.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        texts(&out)
            .1
            .contains("probes/bad.yaml:3:11: unknown value `huge`"),
        "{:?}",
        texts(&out)
    );
}

#[tokio::test]
async fn target_filter_and_text_output() {
    let server = insecure_server().await;
    let ws = ws_for(&server.url());
    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--target", "web"],
        &[],
    )
    .await;
    let (stdout, _) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("FAIL  headers/nosniff"), "{stdout}");
    assert!(
        stdout.contains("expected: X-Content-Type-Options exactly \"nosniff\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("observed: X-Content-Type-Options not sent"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 series: 1 pass, 1 fail, 0 error"),
        "{stdout}"
    );
}

#[tokio::test]
async fn sarif_and_junit_outputs_are_well_formed() {
    let server = insecure_server().await;
    let ws = ws_for(&server.url());
    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--format", "sarif"],
        &[],
    )
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 2);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "headers/nosniff");

    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--format", "junit"],
        &[],
    )
    .await;
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(
        xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
        "{xml}"
    );
}

#[tokio::test]
async fn adhoc_url_uses_the_shipped_library() {
    let server = insecure_server().await;
    let root = crate::helpers::repo_root();
    let out = run_picket(
        &root,
        &[
            "check",
            "--target",
            &server.url(),
            "--probe",
            "headers/*",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    let probes: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["probe"].as_str().unwrap())
        .collect();
    assert!(probes.contains(&"headers/nosniff"), "{probes:?}");
    assert_eq!(out.status.code(), Some(1));
}

/// JUnit follows `--fail-on`: a series whose findings are all below it is a passed testcase
/// with the findings in `<system-out>`; at or above, a failure. The exit code agrees.
#[tokio::test]
async fn junit_reports_findings_below_fail_on_as_passed_with_their_text() {
    let server = insecure_server().await;
    let ws = ws_for(&server.url());
    let junit = |fail_on: &'static str| {
        let dir = ws.path().to_path_buf();
        async move {
            let out = run_picket(
                &dir,
                &[
                    "check",
                    "-c",
                    "picket.yaml",
                    "--format",
                    "junit",
                    "--fail-on",
                    fail_on,
                ],
                &[],
            )
            .await;
            (out.status.code(), String::from_utf8(out.stdout).unwrap())
        }
    };
    // headers/nosniff fails at medium; exposure/git passes.
    let (code, xml) = junit("high").await;
    assert_eq!(code, Some(0), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 0, "{xml}");
    assert!(
        xml.contains("tests=\"2\" failures=\"0\" errors=\"0\""),
        "{xml}"
    );
    let case = xml
        .split("<testcase ")
        .find(|c| c.contains("name=\"headers/nosniff\""))
        .unwrap();
    assert!(
        case.contains("<system-out>1 finding(s), severity medium, below --fail-on high:\nX-Content-Type-Options is &quot;nosniff&quot;: expected X-Content-Type-Options exactly &quot;nosniff&quot;, observed X-Content-Type-Options not sent</system-out>"),
        "{case}"
    );
    assert!(case.contains("</system-out>\n    </testcase>"), "{case}");

    for at_or_below in ["medium", "low"] {
        let (code, xml) = junit(at_or_below).await;
        assert_eq!(code, Some(1), "{xml}");
        assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
        assert!(!xml.contains("<system-out>"), "{xml}");
        assert!(
            xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
            "{xml}"
        );
    }
}

/// The ad-hoc target of `check --target URL` is named `host:port`, IPv6 literals bracketed.
#[tokio::test]
async fn adhoc_targets_are_named_host_and_port() {
    let ws = crate::helpers::workspace(&[(
        "probes/ok.yaml",
        "id: test/ok\nname: ok\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n",
    )]);
    let v4 = insecure_server().await;
    // A minimal HTTP server on ::1 (the test helper binds 127.0.0.1 only).
    let v6 = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let v6_port = v6.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = v6.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    for (url, want) in [
        (v4.url(), format!("127.0.0.1:{}", v4.addr.port())),
        (
            format!("http://[::1]:{v6_port}/"),
            format!("[::1]:{v6_port}"),
        ),
    ] {
        let out = run_picket(
            ws.path(),
            &[
                "check", "--target", &url, "--probes", "probes", "--probe", "test/ok", "--format",
                "json",
            ],
            &[],
        )
        .await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["results"][0]["target"], want.as_str(), "{stdout}");
        assert_eq!(doc["results"][0]["outcome"], "pass", "{stdout}");
    }
}

/// `list` names every probe/target pair that is not a series, with its reason: the probe's
/// selector, its kind against the target's scheme, a missing target variable.
#[tokio::test]
async fn list_shows_every_pair_that_is_not_a_series_with_its_reason() {
    let http = |id: &str, extra: &str, path: &str| {
        format!(
            "id: {id}\nname: {id}\nseverity: low\n{extra}http:\n  path: \"{path}\"\nchecks:\n  - status: 200\n"
        )
    };
    let ws = crate::helpers::workspace(&[
        (
            "picket.yaml",
            "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n    tags: [public]\n  - name: inside\n    url: http://127.0.0.1:10\n    vars: { protected_paths: [/admin] }\n  - name: cache\n    url: tcp://127.0.0.1:6379\n    tags: [public]\n",
        ),
        ("probes/any.yaml", &http("t/any", "", "/")),
        (
            "probes/public.yaml",
            &http("t/public", "targets: { tags: [public] }\n", "/"),
        ),
        (
            "probes/auth.yaml",
            &http("t/auth", "", "{{vars.protected_paths}}"),
        ),
    ]);
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // 3 probes x 3 targets: t/any on web and inside, t/public on web, t/auth on inside.
    assert!(stdout.contains("SERIES (4)"), "{stdout}");
    let skipped = &stdout[stdout.find("SKIPPED").expect("a SKIPPED section")..];
    let want = "SKIPPED (5 probe/target pairs)
  targets: tags [public] not on target (1 pair)
    probes:  t/public
    targets: inside
  http probe; target is tcp:// (3 pairs)
    probes:  t/any, t/auth, t/public
    targets: cache
  vars.protected_paths not set (1 pair)
    probes:  t/auth
    targets: web
";
    assert_eq!(skipped, want, "{stdout}");
}

/// Hundreds of skipped pairs stay a few lines: grouped by reason, probes and targets listed once.
#[tokio::test]
async fn list_groups_hundreds_of_skipped_pairs() {
    let mut files: Vec<(String, String)> = (0..30)
        .map(|i| {
            (
                format!("probes/p{i:02}.yaml"),
                format!("id: web/p{i:02}\nname: p\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n"),
            )
        })
        .collect();
    let targets: String = (0..10)
        .map(|t| format!("  - name: db{t}\n    url: tcp://127.0.0.1:{}\n", 5000 + t))
        .collect();
    files.push((
        "picket.yaml".into(),
        format!("library: false\nprobes: [probes/]\ntargets:\n{targets}"),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let ws = crate::helpers::workspace(&refs);
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let skipped = &stdout[stdout.find("SKIPPED").expect("a SKIPPED section")..];
    assert!(
        skipped.starts_with(
            "SKIPPED (300 probe/target pairs)\n  http probe; target is tcp:// (300 pairs)\n"
        ),
        "{skipped}"
    );
    let lines: Vec<&str> = skipped.lines().collect();
    assert!(lines.len() <= 10, "{skipped}");
    assert!(lines.iter().all(|l| l.len() <= 100), "{skipped}");
    for i in 0..30 {
        assert!(skipped.contains(&format!("web/p{i:02}")), "{skipped}");
    }
    for t in 0..10 {
        assert!(skipped.contains(&format!("db{t}")), "{skipped}");
    }
}

#[tokio::test]
async fn help_explains_each_command() {
    let root = crate::helpers::repo_root();
    for cmd in ["check", "validate", "list", "demo"] {
        let out = run_picket(&root, &[cmd, "--help"], &[]).await;
        assert_eq!(out.status.code(), Some(0));
        assert!(texts(&out).0.len() > 200, "{cmd} --help is too thin");
    }
    let out = run_picket(&root, &["list", "-c", "config/picket.yaml"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert!(texts(&out).0.contains("SERIES"));
}

#[tokio::test]
async fn demo_shows_a_regression_a_recovery_and_the_dashboard() {
    let root = crate::helpers::repo_root();
    let out = run_picket(
        &root,
        &[
            "demo",
            "--duration",
            "14s",
            "--flip-every",
            "5s",
            "--every",
            "1s",
            "--api",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("dashboard:    http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("REGRESSION exposure/git on demo-shop (high)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("RECOVERY   exposure/git on demo-shop (high)"),
        "{stdout}"
    );
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

/// Every `*.yaml`/`*.yml` file under `dir`, recursively.
fn yaml_files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            found.push(path);
        }
    }
}

/// The property names of an object schema.
fn property_names(schema: &serde_json::Value) -> BTreeSet<String> {
    keys(&schema["properties"])
}

/// Checks that every key of `item` (and of its nested check items) is a property of the
/// `Check` schema.
fn assert_check_keys(item: &serde_json::Value, check: &BTreeSet<String>, file: &str) {
    for key in keys(item) {
        assert!(
            check.contains(&key),
            "{file}: check key `{key}` not in the schema"
        );
    }
    for nested in ["all_of", "any_of"] {
        for inner in item[nested].as_array().into_iter().flatten() {
            assert_check_keys(inner, check, file);
        }
    }
    if item["not"].is_object() {
        assert_check_keys(&item["not"], check, file);
    }
}

#[tokio::test]
async fn schema_describes_the_probe_format() {
    let root = crate::helpers::repo_root();
    let out = run_picket(&root, &["schema"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let schema: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is one JSON document");
    let top = property_names(&schema);
    for key in ["id", "severity", "http", "checks"] {
        assert!(top.contains(key), "`{key}` missing from {top:?}");
    }
    assert!(!top.contains("sevrity"));
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["properties"]["severity"]["description"],
        "info, low, medium, high or critical."
    );
    let http = property_names(&schema["$defs"]["Http"]);
    let check = property_names(&schema["$defs"]["Check"]);
    assert!(check.contains("header") && check.contains("all_of"));

    // Every shipped probe file uses only keys the schema knows.
    let mut files = Vec::new();
    yaml_files(&root.join("probes"), &mut files);
    assert!(files.len() > 5, "found only {files:?}");
    for path in files {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let probe: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        for key in keys(&probe) {
            assert!(top.contains(&key), "{file}: key `{key}` not in the schema");
        }
        for key in probe.get("http").map(keys).unwrap_or_default() {
            assert!(
                http.contains(&key),
                "{file}: http key `{key}` not in the schema"
            );
        }
        for item in probe["checks"].as_array().expect("checks is a list") {
            assert_check_keys(item, &check, &file);
        }
    }
}

#[tokio::test]
async fn a_check_with_nothing_to_run_says_why_for_each_pair() {
    let root = crate::helpers::repo_root();
    // HSTS is judged on https:// targets only; nothing is sent to the port.
    let out = run_picket(
        &root,
        &[
            "check",
            "--target",
            "http://127.0.0.1:9",
            "--probe",
            "headers/hsts",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("error: no series to run")
            && stderr.contains(
                "headers/hsts on 127.0.0.1:9: targets: schemes [https]; target is http://"
            ),
        "{stderr}"
    );
}
