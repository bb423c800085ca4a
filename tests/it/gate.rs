//! `picket check` as a deploy gate: an unreachable target fails it, an untrusted CA gets one
//! hint, ad-hoc checks take facts (`--var`), a rate (`--rps`) and `tls://`/`tcp://` URLs, and
//! the text output is readable (columns, colour, help, YAML errors).

use std::path::Path;
use std::process::Command;

use crate::helpers::{TestServer, picket, respond, run_picket, texts, workspace};
use crate::tls_servers::{INTERMEDIATE, LeafSpec, Pki};

/// A service whose every path answers 200: `/admin` is wide open.
async fn open_server() -> TestServer {
    TestServer::start(|_| respond(200, &[("content-type", "text/plain")], "ok")).await
}

const OK_PROBE: &str =
    "id: test/ok\nname: ok\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n";

/// `picket check --target URL --probe headers/* EXTRA…` in `dir`.
async fn check_headers(dir: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["check", "--target", url, "--probe", "headers/*"];
    args.extend_from_slice(extra);
    run_picket(dir, &args, &[]).await
}

#[tokio::test]
async fn an_unreachable_adhoc_target_fails_the_gate_unless_allowed() {
    let port = crate::helpers::closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let out = check_headers(dir.path(), &url, &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = format!("error: target `127.0.0.1:{port}` is unreachable: none of its ");
    assert_eq!(stderr.matches(&line).count(), 1, "{stderr}");
    // The error of its runs, summarized once.
    assert_eq!(stderr.matches("Connection refused").count(), 1, "{stderr}");
    assert!(stderr.contains("--allow-unreachable"), "{stderr}");
    assert!(stdout.contains("0 pass, 0 fail"), "{stdout}");

    // Machine formats gate the same way.
    let out = check_headers(dir.path(), &url, &["--format", "junit"]).await;
    assert_eq!(out.status.code(), Some(1), "{:?}", texts(&out));

    let out = check_headers(dir.path(), &url, &["--allow-unreachable"]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: target `127.0.0.1:{port}` is unreachable"
        )),
        "{stderr}"
    );
    // --fail-on-error still means any error fails.
    let out = check_headers(
        dir.path(),
        &url,
        &["--allow-unreachable", "--fail-on-error"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{:?}", texts(&out));
}

#[tokio::test]
async fn an_unreachable_config_target_fails_the_gate_unless_allowed() {
    let up = open_server().await;
    let down = crate::helpers::closed_port();
    let also_down = crate::helpers::closed_port();
    let ws = workspace(&[
        (
            "picket.yaml",
            &format!(
                "library: false\nprobes: [probes/]\ntargets:\n  - name: up\n    url: {}\n  - name: down\n    url: http://127.0.0.1:{down}\n  - name: also-down\n    url: http://127.0.0.1:{also_down}\n",
                up.url()
            ),
        ),
        ("probes/ok.yaml", OK_PROBE),
    ]);
    let out = run_picket(ws.path(), &["check", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "error: target `down` is unreachable: none of its 1 series could be evaluated: connect:"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: target `also-down` is unreachable"),
        "{stderr}"
    );
    assert!(!stderr.contains("`up`"), "{stderr}");
    // One hint for both.
    assert_eq!(stderr.matches("hint:").count(), 1, "{stderr}");
    assert!(stdout.contains("PASS  test/ok  up"), "{stdout}");

    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--allow-unreachable"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    // Only the reachable target selected: nothing to say.
    let out = run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--target", "up"],
        &[],
    )
    .await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("unreachable"), "{stderr}");
}

#[tokio::test]
async fn a_private_ca_gets_one_hint_naming_the_flag() {
    let pki = Pki::new();
    let leaf = pki.leaf("internal", LeafSpec::default());
    let server = pki.serve(&leaf, &[]).await;
    let url = format!("https://127.0.0.1:{}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let out = run_picket(
        dir.path(),
        &["check", "--target", &url, "--probe", "headers/*"],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    // Several series failed on the certificate; the hint comes once.
    assert!(stdout.matches("UnknownIssuer").count() > 1, "{stdout}");
    assert_eq!(stderr.matches("--ca-file PATH").count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("not issued by a CA picket trusts").count(),
        1,
        "{stderr}"
    );

    // Trusted: no hint, and the target answers.
    let ca = pki.ca_file.display().to_string();
    let out = run_picket(
        dir.path(),
        &[
            "check",
            "--target",
            &url,
            "--probe",
            "headers/*",
            "--ca-file",
            &ca,
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert!(!stderr.contains("not issued by"), "{stderr}");
    assert!(!stderr.contains("unreachable"), "{stderr}");
    assert!(!stdout.contains("UnknownIssuer"), "{stdout}");

    // A config target is told about `tls.ca_file`.
    let ws = workspace(&[
        (
            "picket.yaml",
            &format!(
                "library: false\nprobes: [probes/]\ntargets:\n  - name: internal\n    url: {url}\n"
            ),
        ),
        ("probes/ok.yaml", OK_PROBE),
    ]);
    let out = run_picket(ws.path(), &["check", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("ca_file: PATH").count(), 1, "{stderr}");
    assert!(stderr.contains("`internal`"), "{stderr}");
}

#[tokio::test]
async fn a_target_without_a_scheme_gets_a_suggestion() {
    let empty = tempfile::tempdir().unwrap();
    let root = crate::helpers::repo_root();
    for dir in [empty.path(), root.as_path()] {
        let out = run_picket(dir, &["check", "--target", "127.0.0.1:18081"], &[]).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
        assert!(
            stderr.contains("`127.0.0.1:18081` has no scheme")
                && stderr.contains("did you mean `--target http://127.0.0.1:18081`?"),
            "{stderr}"
        );
        assert!(!stderr.contains("no such file"), "{stderr}");
    }
    // With -c, --target names a target; the hint says how to check a URL instead.
    let out = run_picket(
        root.as_path(),
        &[
            "check",
            "-c",
            "config/picket.yaml",
            "--target",
            "[::1]:8080",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        texts(&out)
            .1
            .contains("leave out -c: `picket check --target http://[::1]:8080`"),
        "{:?}",
        texts(&out)
    );
    let out = run_picket(empty.path(), &["check", "--target", "::1"], &[]).await;
    assert!(
        texts(&out).1.contains("`--target http://[::1]`"),
        "{:?}",
        texts(&out)
    );
    // A host name where there is no config to name targets.
    let out = run_picket(empty.path(), &["check", "--target", "example.com:443"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        texts(&out)
            .1
            .contains("did you mean `--target https://example.com:443`?"),
        "{:?}",
        texts(&out)
    );
    // Schemes that are not checkable, and a tls:// URL without a port.
    for (url, says) in [
        ("ftp://127.0.0.1:21", "is not a URL picket can check"),
        ("tls://127.0.0.1", "has no port"),
    ] {
        let out = run_picket(empty.path(), &["check", "--target", url], &[]).await;
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(texts(&out).1.contains(says), "{url}: {:?}", texts(&out));
    }
}

#[tokio::test]
async fn var_makes_auth_and_network_probes_run_adhoc() {
    let server = open_server().await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    // Without the fact, there is nothing for auth/required to do.
    let out = run_picket(
        dir.path(),
        &["check", "--target", &url, "--probe", "auth/required"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{:?}", texts(&out));
    assert!(texts(&out).1.contains("vars.protected_paths not set"));

    let out = run_picket(
        dir.path(),
        &[
            "check",
            "--target",
            &url,
            "--probe",
            "auth/required",
            "--var",
            "protected_paths=/admin,/api",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["probe"], "auth/required");
    assert_eq!(r["outcome"], "fail", "{stdout}");
    let seen: Vec<String> = server
        .seen()
        .into_iter()
        .map(|s| s.path_and_query)
        .collect();
    assert!(
        seen.contains(&"/admin".to_string()) && seen.contains(&"/api".to_string()),
        "{seen:?}"
    );

    // A repeated name adds to the list; a port list for network/port-closed: the server's
    // own port is open, so it fails.
    let port = server.addr.port().to_string();
    let closed = crate::helpers::closed_port().to_string();
    let out = run_picket(
        dir.path(),
        &[
            "check",
            "--target",
            &url,
            "--probe",
            "network/port-closed",
            "--var",
            &format!("closed_ports={closed}"),
            "--var",
            &format!("closed_ports={port}"),
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("FAIL  network/port-closed"), "{stdout}");
    assert!(stdout.contains(&port), "{stdout}");

    // A value from the environment is used and kept out of the output.
    let secret = "s3cr3t-admin-path";
    let out = run_picket(
        dir.path(),
        &[
            "check",
            "--target",
            &url,
            "--probe",
            "auth/required",
            "--var",
            "protected_paths=/${env:PICKET_TEST_PATH}",
            "-v",
        ],
        &[("PICKET_TEST_PATH", secret)],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.path_and_query == format!("/{secret}")),
        "the resolved value is used"
    );
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stdout}{stderr}"
    );

    // Mistakes are usage errors.
    for bad in [
        "protected_paths",
        "=/admin",
        "bad name=/x",
        "protected_paths=,",
    ] {
        let out = run_picket(dir.path(), &["check", "--target", &url, "--var", bad], &[]).await;
        assert_eq!(out.status.code(), Some(2), "{bad}: {:?}", texts(&out));
    }
    // With -c, facts belong in the config.
    let ws = workspace(&[
        ("picket.yaml", &crate::helpers::config_for(&url, "")),
        ("probes/ok.yaml", OK_PROBE),
    ]);
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "-c",
            "picket.yaml",
            "--var",
            "protected_paths=/admin",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{:?}", texts(&out));
    assert!(texts(&out).1.contains("`vars:`"), "{:?}", texts(&out));
}

#[tokio::test]
async fn rps_sets_the_rate_of_each_target() {
    let server = open_server().await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    // One series, three requests, two a second: the run cannot take less than a second
    // (a lower bound the rate limiter guarantees, not a timing guess).
    let out = run_picket(
        dir.path(),
        &[
            "check",
            "--target",
            &url,
            "--probe",
            "auth/required",
            "--var",
            "protected_paths=/a,/b,/c",
            "--rps",
            "2",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    let r = &doc["results"][0];
    let total = r["wait_ms"].as_u64().unwrap() + r["duration_ms"].as_u64().unwrap();
    assert!(
        total >= 1000,
        "three requests at 2/s took {total}ms: {stdout}"
    );
    for bad in ["0", "-1", "fast", "1e9"] {
        let out = run_picket(dir.path(), &["check", "--target", &url, "--rps", bad], &[]).await;
        assert_eq!(out.status.code(), Some(2), "--rps {bad}");
    }
}

#[tokio::test]
async fn tls_and_tcp_urls_run_adhoc() {
    let pki = Pki::new();
    let leaf = pki.leaf("broker", LeafSpec::default());
    let server = pki
        .serve(
            &leaf,
            &["-min_protocol", "TLSv1.2", "-cipher", INTERMEDIATE],
        )
        .await;
    let url = format!("tls://127.0.0.1:{}", server.port);
    let ca = pki.ca_file.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run_picket(
        dir.path(),
        &[
            "check",
            "--target",
            &url,
            "--ca-file",
            &ca,
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ran: Vec<(&str, &str)> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] != "skip")
        .map(|r| (r["probe"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert!(ran.contains(&("tls/certificate-trust", "pass")), "{ran:?}");
    assert!(ran.contains(&("tls/legacy-protocols", "pass")), "{ran:?}");
    assert!(ran.iter().all(|(p, _)| p.starts_with("tls/")), "{ran:?}");
    assert_eq!(
        doc["results"][0]["target"],
        format!("127.0.0.1:{}", server.port)
    );

    // tcp://: the tcp probes, given their ports.
    let open = open_server().await;
    let out = run_picket(
        dir.path(),
        &[
            "check",
            "--target",
            &format!("tcp://127.0.0.1:{}", open.addr.port()),
            "--var",
            &format!("closed_ports={}", crate::helpers::closed_port()),
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("PASS  network/port-closed"), "{stdout}");
    assert!(!stdout.contains("headers/"), "{stdout}");
}

/// Probe ids longer than 32 characters do not push the other columns out of line.
#[tokio::test]
async fn text_columns_fit_long_probe_ids() {
    let server = open_server().await;
    let long = "team/a-rather-long-probe-id-of-forty-five-chars";
    let ws = workspace(&[
        ("probes/ok.yaml", OK_PROBE),
        ("probes/long.yaml", &OK_PROBE.replace("test/ok", long)),
    ]);
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "--target",
            &server.url(),
            "--probes",
            "probes",
            "--probe",
            "{test,team}/*",
            "--no-progress",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("PASS")).collect();
    assert!(rows.len() >= 2, "{stdout}{stderr}");
    let target = format!("127.0.0.1:{}", server.addr.port());
    let columns: Vec<usize> = rows.iter().map(|l| l.find(&target).unwrap()).collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{stdout}");
    let long_row = rows.iter().find(|l| l.contains(long)).unwrap();
    assert!(
        long_row.starts_with(&format!("PASS  {long}  {target}  low      ")),
        "{long_row}"
    );
}

/// `script` (util-linux) runs `picket` on a pseudo-terminal.
fn on_a_terminal(dir: &Path, args: &[&str], no_color: Option<&str>) -> String {
    let mut line = String::from(env!("CARGO_BIN_EXE_picket"));
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("PICKET_LOG");
    match no_color {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd.output().expect("`script` from util-linux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_words_are_coloured_only_on_a_terminal() {
    let server = TestServer::start(|s| {
        if s.path_and_query == "/" {
            respond(200, &[], "ok")
        } else {
            respond(500, &[], "")
        }
    })
    .await;
    let ws = workspace(&[
        ("probes/ok.yaml", OK_PROBE),
        (
            "probes/bad.yaml",
            &OK_PROBE
                .replace("test/ok", "test/bad")
                .replace("path: /", "path: /x"),
        ),
    ]);
    let url = server.url();
    let args = [
        "check",
        "--target",
        &url,
        "--probes",
        "probes",
        "--probe",
        "test/*",
        "--no-progress",
    ];
    let dir = ws.path().to_path_buf();
    let coloured = {
        let dir = dir.clone();
        let args = args.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (
                on_a_terminal(&dir, &args, None),
                on_a_terminal(&dir, &args, Some("1")),
            )
        })
        .await
        .unwrap()
    };
    let (tty, no_color) = coloured;
    assert!(tty.contains("\u{1b}[32mPASS\u{1b}[0m  test/ok"), "{tty:?}");
    assert!(tty.contains("\u{1b}[31mFAIL\u{1b}[0m  test/bad"), "{tty:?}");
    assert!(no_color.contains("PASS  test/ok"), "{no_color:?}");
    assert!(!no_color.contains('\u{1b}'), "{no_color:?}");
    // Not a terminal: never colour, NO_COLOR or not.
    let mut cmd = picket(ws.path());
    cmd.args(args).env_remove("NO_COLOR");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (stdout, _) = texts(&out);
    assert!(stdout.contains("PASS  test/ok"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
}

#[tokio::test]
async fn check_help_lists_fail_on_values_exit_codes_and_new_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_picket(dir.path(), &["check", "--help"], &[]).await;
    let (help, _) = texts(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        help.contains("[possible values: info, low, medium, high, critical]"),
        "{help}"
    );
    for flag in [
        "--allow-unreachable",
        "--var <NAME=VALUE>",
        "--rps <N>",
        "--ca-file",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    assert!(
        help.contains("1  a finding at or above --fail-on; or a target was unreachable"),
        "{help}"
    );
    // Values are still case-insensitive, and a wrong one lists them.
    let server = open_server().await;
    let ws = workspace(&[("probes/ok.yaml", OK_PROBE)]);
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "--target",
            &server.url(),
            "--probes",
            "probes",
            "--probe",
            "test/ok",
            "--fail-on",
            "HIGH",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let out = run_picket(dir.path(), &["check", "--fail-on", "severe"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(texts(&out).1.contains("high"), "{:?}", texts(&out));
}

#[tokio::test]
async fn validate_counts_files_when_every_one_is_refused() {
    let ws = workspace(&[
        ("probes/a.yaml", "id: t/a\nname: a\nseverity: huge\n"),
        ("probes/b.yaml", "id: t/b\nname: \"b\nseverity: low\n"),
    ]);
    let out = run_picket(ws.path(), &["validate", "probes"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stdout.contains("0 of 2 probe files load; 2 refused"),
        "{stdout}{stderr}"
    );
    // The syntax error is in plain words, positioned, with a hint.
    assert!(
        stderr.contains("probes/b.yaml:2:7: a quoted value is never closed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  hint: end the value with the same quote"),
        "{stderr}"
    );
}
