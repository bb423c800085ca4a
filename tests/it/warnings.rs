//! The load's warnings (SPEC §3b) outside the golden cases of `picket validate`: `check` and
//! `list` print them on stderr once, before their results, and nothing when there are none;
//! a past `until` is only a warning there; a failed load still shows them; and the probes
//! `picket validate -c … PATH…` adds are counted when judging what an acceptance selects.

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};

/// A probe that fails against a server answering 500.
const FAILING_PROBE: &str =
    "id: team/ok\nname: Answers 200\nseverity: high\nhttp:\n  path: /\nchecks:\n  - status: 200\n";

/// A day the acceptances of these tests may hold until: 30 days from now.
fn in_30_days() -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(30))
        .format("%Y-%m-%d")
        .to_string()
}

/// A config with one target `web` at `url`, the probes of `probes/` and `accept` (YAML of
/// the `accept:` list's entries, indented by two).
fn config(url: &str, accept: &str) -> String {
    format!(
        "library: false\nprobes: [probes/]\ntargets:\n  - name: web\n    url: {url}\n\
         limits:\n  per_target_rps: 1000\naccept:\n{accept}"
    )
}

/// An acceptance whose `until` has passed (line 9 of [`config`]) and one of a probe that
/// does not exist (line 12).
fn past_and_unmatched() -> String {
    format!(
        "  - probe: team/ok\n    target: web\n    until: 2020-01-01\n    reason: SEC-1\n\
         \x20 - probe: team/gone\n    target: web\n    until: {}\n    reason: SEC-2\n",
        in_30_days()
    )
}

/// What `check` and `list` print for [`past_and_unmatched`], in order.
const WARNINGS: &str = "\
picket.yaml:11:12: warning: `until: 2020-01-01` has passed: the acceptance no longer holds
  hint: fix what it accepted and remove the entry, or renew it with a new date and reason
picket.yaml:13:5: warning: acceptance of probe `team/gone` matches no probe
  hint: check the probe id and target names (`picket list` shows them); discovered targets are matched when the service runs
";

#[tokio::test]
async fn check_prints_the_warnings_once_before_its_results_and_a_past_until_does_not_apply() {
    let server = TestServer::start(|_| respond(500, &[], "down")).await;
    let ws = workspace(&[
        ("picket.yaml", &config(&server.url(), &past_and_unmatched())),
        ("probes/ok.yaml", FAILING_PROBE),
    ]);
    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--format", "json"],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    // Not a config error: the finding counts, as the acceptance has ended.
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.starts_with(WARNINGS), "stderr:\n{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 2, "stderr:\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let result = &report["results"][0];
    assert_eq!(result["outcome"], "fail", "{report}");
    assert!(
        result.get("accepted").is_none_or(|a| a.is_null()),
        "{report}"
    );
}

#[tokio::test]
async fn list_prints_the_warnings_once_before_its_results() {
    let ws = workspace(&[
        (
            "picket.yaml",
            &config("http://127.0.0.1:9", &past_and_unmatched()),
        ),
        ("probes/ok.yaml", FAILING_PROBE),
    ]);
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stderr, WARNINGS);
    assert!(stdout.starts_with("PROBES (1)"), "stdout:\n{stdout}");
}

#[tokio::test]
async fn without_warnings_check_and_list_keep_stderr_empty() {
    let server = TestServer::start(|_| respond(200, &[], "ok")).await;
    let accept = format!(
        "  - probe: team/ok\n    target: web\n    until: {}\n    reason: SEC-1\n",
        in_30_days()
    );
    let ws = workspace(&[
        ("picket.yaml", &config(&server.url(), &accept)),
        ("probes/ok.yaml", FAILING_PROBE),
    ]);
    for command in ["check", "list", "validate"] {
        let out = run_picket(ws.path(), &[command, "-c", "picket.yaml"], &[]).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert_eq!(stderr, "", "{command}");
    }
}

#[tokio::test]
async fn a_failed_load_shows_its_warnings_then_its_errors() {
    // A target URL without a host is an error; the past `until` still shows.
    let ws = workspace(&[
        ("picket.yaml", &config("http://", &past_and_unmatched())),
        ("probes/ok.yaml", FAILING_PROBE),
    ]);
    for command in ["check", "list"] {
        let out = run_picket(ws.path(), &[command, "-c", "picket.yaml"], &[]).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        // Whether an acceptance selects anything is not judged on a failed load.
        let (warnings, errors) = stderr.split_at(WARNINGS.find("picket.yaml:13").unwrap());
        assert_eq!(
            warnings,
            &WARNINGS[..WARNINGS.find("picket.yaml:13").unwrap()]
        );
        assert!(
            errors.starts_with("picket.yaml:5:10: "),
            "{command}:\n{stderr}"
        );
        assert!(errors.ends_with("\n1 error\n"), "{command}:\n{stderr}");
    }
    // `validate` refuses the past `until`: two errors, no warning.
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(
        stderr.contains("picket.yaml:11:12: `until: 2020-01-01` has passed"),
        "{stderr}"
    );
    assert!(stderr.ends_with("\n2 errors\n"), "{stderr}");
}

#[tokio::test]
async fn validate_counts_the_probes_of_its_paths_when_judging_an_acceptance() {
    let accept = format!(
        "  - probe: extra/new\n    target: web\n    until: {}\n    reason: SEC-1\n",
        in_30_days()
    );
    let ws = workspace(&[
        ("picket.yaml", &config("http://127.0.0.1:9", &accept)),
        ("probes/ok.yaml", FAILING_PROBE),
        (
            "extra/new.yaml",
            &FAILING_PROBE.replace("team/ok", "extra/new"),
        ),
    ]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.starts_with(
            "picket.yaml:9:5: warning: acceptance of probe `extra/new` matches no probe\n"
        ),
        "{stderr}"
    );
    assert!(stdout.ends_with(", 1 warning(s)\n"), "{stdout}");

    let out = run_picket(
        ws.path(),
        &["validate", "-c", "picket.yaml", "extra/new.yaml"],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert_eq!(stderr, "");
    assert!(stdout.starts_with("ok: 2 probe(s)"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
}

/// The shipped example's commented `accept:`, `accept_from:` and `maintenance:` blocks, with
/// their `#` taken off (an `until` moved to a date still ahead), load with neither error nor
/// warning: the example a user uncomments is valid.
#[tokio::test]
async fn the_shipped_examples_of_accept_and_maintenance_load_when_uncommented() {
    let shipped =
        std::fs::read_to_string(crate::helpers::repo_root().join("config/picket.yaml")).unwrap();
    let date = regex::Regex::new(r"until: \d{4}-\d{2}-\d{2}").unwrap();
    let mut config = String::new();
    let mut uncommented = Vec::new();
    let mut in_block = false;
    for line in shipped.lines() {
        let key = ["# accept:", "# accept_from:", "# maintenance:"]
            .into_iter()
            .find(|k| line.starts_with(k));
        in_block = key.is_some() || (in_block && line.starts_with("#   "));
        if let Some(k) = key {
            uncommented.push(k);
        }
        if in_block {
            let line = date.replace(&line[2..], format!("until: {}", in_30_days()));
            config.push_str(&line);
        } else {
            config.push_str(line);
        }
        config.push('\n');
    }
    assert_eq!(
        uncommented,
        ["# accept:", "# accept_from:", "# maintenance:"],
        "config/picket.yaml no longer holds the commented examples:\n{shipped}"
    );
    let team = format!(
        "- probe: \"headers/*\"\n  tags: [local]\n  until: {}\n  reason: SEC-2\n",
        in_30_days()
    );
    let ws = workspace(&[
        ("config/picket.yaml", &config),
        ("config/accept.d/team.yaml", &team),
    ]);
    let out = run_picket(ws.path(), &["validate", "-c", "config/picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{stderr}\nconfig:\n{config}"
    );
    assert_eq!(stderr, "", "config:\n{config}");
    assert!(!stdout.contains("warning"), "{stdout}");
}
