//! The built-in probe library: embedded in the binary, so `check --target URL`, `validate`,
//! `list` and `run` work from any directory with a config that has no `probes:` key;
//! `picket probes` lists it and `--export` writes it out; `library.exclude` leaves probes out;
//! team probes are added beside it; a missing config is said plainly.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::helpers::{TestServer, repo_root, respond, run_picket, texts, workspace};

/// The ids of the embedded library, sorted, as the loader reads them.
fn library_ids() -> Vec<String> {
    let mut diags = picket::diag::Diagnostics::default();
    let probes = picket::load::library_probes(&picket::config::Defaults::default(), &mut diags);
    assert!(
        diags.is_empty(),
        "the embedded library has errors:\n{diags}"
    );
    let mut ids: Vec<String> = probes.into_iter().map(|p| p.id.clone()).collect();
    ids.sort();
    ids
}

/// A page without a single security header: the library has findings on it.
async fn bare_server() -> TestServer {
    TestServer::start(|_| {
        respond(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            "<!doctype html><html><head><title>shop</title></head><body>hi</body></html>",
        )
    })
    .await
}

/// A config with one target and no `probes:` key: the library alone. `extra` is appended
/// (top-level keys).
fn config(url: &str, extra: &str) -> String {
    format!(
        "targets:\n  - name: web\n    url: {url}\n    vars:\n      protected_paths: [/admin]\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n\
         limits:\n  per_target_rps: 1000\n  per_target_concurrency: 16\n\
         state: {{ path: state }}\napi: {{ listen: \"127.0.0.1:0\" }}\n{extra}"
    )
}

/// A fresh directory that is not the repository and holds no probe folder.
fn elsewhere(files: &[(&str, &str)]) -> tempfile::TempDir {
    let ws = workspace(files);
    assert!(
        !ws.path().starts_with(repo_root()),
        "{}",
        ws.path().display()
    );
    assert!(!ws.path().join("probes").exists());
    ws
}

/// The probe ids of `picket list`'s SERIES section.
fn series_probes(list: &str) -> Vec<String> {
    list.split("\nSERIES (")
        .nth(1)
        .unwrap_or_else(|| panic!("no SERIES section:\n{list}"))
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_validate_list_and_run_use_the_built_in_library_from_any_directory() {
    let ids = library_ids();
    let server = bare_server().await;
    let url = format!("http://127.0.0.1:{}", server.addr.port());
    let ws = elsewhere(&[("picket.yaml", &config(&url, ""))]);
    let dir = ws.path();

    // `check --target URL`, no config at all.
    let out = run_picket(
        dir,
        &[
            "check",
            "--target",
            &url,
            "--no-progress",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let results = doc["results"].as_array().unwrap();
    assert!(results.len() >= 15, "{} series", results.len());
    let nosniff = results
        .iter()
        .find(|r| r["probe"] == "headers/nosniff")
        .unwrap_or_else(|| panic!("no headers/nosniff in {stdout}"));
    assert_eq!(nosniff["outcome"], "fail");
    for r in results {
        let id = r["probe"].as_str().unwrap();
        assert!(ids.iter().any(|i| i == id), "`{id}` is not a library probe");
    }
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.path_and_query == "/.git/config")
    );

    // `validate` and `list` with a config that has no `probes:` key.
    let out = run_picket(dir, &["validate", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("ok: {} probe(s), 1 target(s), ", ids.len())),
        "{stdout}"
    );
    let out = run_picket(dir, &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("PROBES ({})\n", ids.len())),
        "{stdout}"
    );
    let series = series_probes(&stdout);
    assert!(series.contains(&"headers/nosniff".to_string()), "{stdout}");
    assert!(series.contains(&"auth/required".to_string()), "{stdout}");

    // `run`: ready, library series run, SIGTERM ends it cleanly.
    picket::crypto::install_crypto_provider();
    let service = crate::service::spawn_service(dir, &[]);
    let api = service.api;
    let ready = reqwest::get(format!("http://{api}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let start = Instant::now();
    loop {
        let body = reqwest::get(format!("http://{api}/api/v1/series"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert!(rows.len() >= 15, "{} series", rows.len());
        let nosniff = rows.iter().find(|r| r["probe"] == "headers/nosniff");
        if nosniff.is_some_and(|r| r["last_outcome"] == "fail") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no run of headers/nosniff: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = service.terminate().await;
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test]
async fn probes_lists_the_library_sorted_and_aligned() {
    let ids = library_ids();
    let ws = elsewhere(&[]);
    let out = run_picket(ws.path(), &["probes"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let listed: Vec<String> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(listed, ids, "one line per library probe, sorted by id");
    // Severity and description columns start at the same place on every line.
    let width = ids.iter().map(String::len).max().unwrap();
    for line in &lines {
        let severity = line[width..].trim_start();
        assert_eq!(
            line.len() - severity.len(),
            width + 2,
            "severity column: {line:?}"
        );
        let (word, rest) = severity.split_once(' ').unwrap();
        assert!(
            ["info", "low", "medium", "high", "critical"].contains(&word),
            "{line:?}"
        );
        assert_eq!(
            rest.len() - rest.trim_start().len(),
            9 - word.len(),
            "{line:?}"
        );
        assert!(!rest.trim().is_empty(), "no description: {line:?}");
    }
    let hsts = lines
        .iter()
        .find(|l| l.starts_with("headers/hsts "))
        .unwrap();
    assert!(
        hsts.contains(" medium ")
            && hsts
                .ends_with("Browsers must be told to use HTTPS only, for long enough to matter."),
        "{hsts:?}"
    );
}

#[tokio::test]
async fn probes_export_writes_the_library_and_refuses_to_overwrite_without_force() {
    let ids = library_ids();
    let ws = elsewhere(&[]);
    let dir = ws.path();
    let out = run_picket(dir, &["probes", "--export", "lib"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("wrote {} probe files to lib\n", ids.len())),
        "{stdout}"
    );
    // Exactly the files of `probes/`, byte for byte.
    let repo = repo_root().join("probes");
    let listing = picket::files::yaml_files(&repo).unwrap();
    assert_eq!(listing.files.len(), ids.len());
    for file in &listing.files {
        let rel = file.strip_prefix(&repo).unwrap();
        let written = std::fs::read(dir.join("lib").join(rel))
            .unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        assert!(written == std::fs::read(file).unwrap(), "{}", rel.display());
    }

    // A second export overwrites nothing without --force.
    let hsts = dir.join("lib/headers/hsts.yaml");
    std::fs::write(&hsts, "edited\n").unwrap();
    let out = run_picket(dir, &["probes", "--export", "lib"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stderr.contains("already exist") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&hsts).unwrap(), "edited\n");
    let out = run_picket(dir, &["probes", "--export", "lib", "--force"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert_eq!(
        std::fs::read(&hsts).unwrap(),
        std::fs::read(repo.join("headers/hsts.yaml")).unwrap()
    );
    // --force alone is a usage error.
    let out = run_picket(dir, &["probes", "--force"], &[]).await;
    assert_eq!(out.status.code(), Some(2));

    // The exported copies run instead of the library with `library: false`; beside the
    // library they are copies, said once at the `probes:` entry.
    std::fs::write(
        dir.join("own.yaml"),
        "library: false\nprobes: [lib/]\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n",
    )
    .unwrap();
    let out = run_picket(dir, &["validate", "-c", "own.yaml"], &[]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("ok: {} probe(s)", ids.len())),
        "{stdout}"
    );
    std::fs::write(
        dir.join("twice.yaml"),
        "probes: [lib/]\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n",
    )
    .unwrap();
    let out = run_picket(dir, &["validate", "-c", "twice.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "twice.yaml:1:10: `lib/` holds copies of {} built-in library probes (",
            ids.len()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("library: false"), "{stderr}");
    assert!(stderr.ends_with("\n1 error\n"), "{stderr}");
}

#[tokio::test]
async fn an_excluded_library_probe_makes_no_series() {
    let url = "http://127.0.0.1:9";
    let ws = elsewhere(&[
        ("all.yaml", &config(url, "")),
        (
            "fewer.yaml",
            &config(
                url,
                "library:\n  exclude: [exposure/api-docs, \"headers/*\"]\n",
            ),
        ),
    ]);
    let list = |file: &'static str| {
        let dir = ws.path().to_path_buf();
        async move {
            let out = run_picket(&dir, &["list", "-c", file], &[]).await;
            let (stdout, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            stdout
        }
    };
    let all = list("all.yaml").await;
    let fewer = list("fewer.yaml").await;
    let (all_series, fewer_series) = (series_probes(&all), series_probes(&fewer));
    assert!(all_series.contains(&"exposure/api-docs".to_string()));
    assert!(all_series.iter().any(|p| p.starts_with("headers/")));
    assert!(!fewer.contains("exposure/api-docs"), "{fewer}");
    assert!(!fewer.contains("headers/"), "{fewer}");
    assert!(fewer_series.contains(&"exposure/git".to_string()));
    let removed = all_series
        .iter()
        .filter(|p| *p == "exposure/api-docs" || p.starts_with("headers/"))
        .count();
    assert_eq!(fewer_series.len() + removed, all_series.len());
    // The same through `check`: no result for an excluded probe.
    let server = bare_server().await;
    std::fs::write(
        ws.path().join("check.yaml"),
        config(&server.url(), "library: { exclude: [\"headers/*\"] }\n"),
    )
    .unwrap();
    let out = run_picket(
        ws.path(),
        &[
            "check",
            "-c",
            "check.yaml",
            "--no-progress",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stdout.contains("\"headers/"), "{stdout}");
    assert!(stdout.contains("\"exposure/git\""), "{stdout}");
}

#[tokio::test]
async fn exclude_globs_are_validated_where_they_are_written() {
    let ws = elsewhere(&[(
        "picket.yaml",
        "library:\n  exclude:\n    - tls/weak-cipher\n    - \"[\"\n    - nothing/*\n",
    )]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "picket.yaml:3:7: `tls/weak-cipher` in library.exclude matches no library probe\n  \
         hint: did you mean `tls/weak-ciphers`?\n\
         picket.yaml:4:7: invalid glob `[` in library.exclude: unclosed character class; missing ']'\n  \
         hint: write a probe id (`exposure/api-docs`) or a glob on ids (`tls/*`)\n\
         picket.yaml:5:7: `nothing/*` in library.exclude matches no library probe\n  \
         hint: `picket probes` lists the library's probe ids\n\
         3 errors\n"
    );
    // A misspelt key gets its did-you-mean; excluding from a disabled library is a mistake.
    for (yaml, expected) in [
        (
            "library: { exlude: [tls/*] }\n",
            "picket.yaml:1:12: unknown field `exlude`\n  hint: did you mean `exclude`?\n",
        ),
        (
            "library: { enabled: false, exclude: [tls/*] }\n",
            "picket.yaml:1:38: `library.exclude` leaves out library probes, but the library is disabled\n",
        ),
        (
            "library: [tls/*]\n",
            "expected `true`, `false`, or a mapping with `enabled` and `exclude`",
        ),
    ] {
        std::fs::write(ws.path().join("picket.yaml"), yaml).unwrap();
        let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(expected), "{yaml}: {stderr}");
    }
}

#[tokio::test]
async fn team_probes_are_added_beside_the_library_and_may_not_take_a_library_id() {
    let ids = library_ids();
    let own = "id: team/login\nname: login page\nseverity: low\nhttp:\n  path: /login\nchecks:\n  - status: 200\n";
    let hsts = "id: headers/hsts\nname: our HSTS\nseverity: high\nhttp:\n  path: /\nchecks:\n  - header: strict-transport-security\n    present: true\n";
    let ws = elsewhere(&[
        (
            "picket.yaml",
            "probes: [team/]\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n",
        ),
        ("team/login.yaml", own),
    ]);
    let validate = || async {
        let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
        let (stdout, stderr) = texts(&out);
        (out.status.code(), stdout, stderr)
    };
    let (code, stdout, stderr) = validate().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("ok: {} probe(s)", ids.len() + 1)),
        "{stdout}"
    );

    std::fs::write(ws.path().join("team/hsts.yaml"), hsts).unwrap();
    let (code, _, stderr) = validate().await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "team/hsts.yaml:1:5: probe id `headers/hsts` is taken by the built-in library probe `library:headers/hsts.yaml`\n  hint: "
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("library: { exclude: [\"headers/hsts\"] }"),
        "{stderr}"
    );

    // Excluding the library's probe makes room for the team's.
    std::fs::write(
        ws.path().join("picket.yaml"),
        "probes: [team/]\nlibrary: { exclude: [headers/hsts] }\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n",
    )
    .unwrap();
    let (code, stdout, stderr) = validate().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("ok: {} probe(s)", ids.len() + 1)),
        "{stdout}"
    );
    let out = run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, _) = texts(&out);
    let hsts_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("headers/hsts "))
        .unwrap();
    assert!(hsts_line.contains("our HSTS"), "{stdout}");

    // Only the team's probes.
    std::fs::write(
        ws.path().join("picket.yaml"),
        "probes: [team/]\nlibrary: false\ntargets:\n  - name: web\n    url: http://127.0.0.1:9\n",
    )
    .unwrap();
    let (code, stdout, stderr) = validate().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("ok: 2 probe(s)"), "{stdout}");

    // `validate -c FILE PATH…` adds the PATHs beside the library too: one id each.
    std::fs::write(
        ws.path().join("plain.yaml"),
        "targets:\n  - name: web\n    url: http://127.0.0.1:9\n",
    )
    .unwrap();
    let out = run_picket(ws.path(), &["validate", "-c", "plain.yaml", "team/"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "team/hsts.yaml:1:5: duplicate probe id `headers/hsts`\n  hint: first defined at library:headers/hsts.yaml:1:5\n"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_config_is_said_plainly() {
    let ws = elsewhere(&[]);
    let dir = ws.path();
    for args in [
        &["validate"][..],
        &["list"],
        &["check"],
        &["run"],
        &["check", "--target", "web"],
    ] {
        let out = run_picket(dir, args, &[]).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.starts_with("config/picket.yaml: no such file\n  hint: "),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("-c PATH"), "{args:?}: {stderr}");
        assert!(!stderr.contains(":1:1"), "{args:?}: {stderr}");
        assert!(stderr.ends_with("\n1 error\n"), "{args:?}: {stderr}");
    }
    let out = run_picket(dir, &["list", "-c", "elsewhere/p.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.starts_with("elsewhere/p.yaml: no such file\n"),
        "{stderr}"
    );
}

#[tokio::test]
async fn help_texts_cite_nothing_outside_the_repository() {
    let ws = elsewhere(&[]);
    let mut all = String::new();
    for cmd in [
        &["--help"][..],
        &["run", "--help"],
        &["check", "--help"],
        &["validate", "--help"],
        &["list", "--help"],
        &["schema", "--help"],
        &["probes", "--help"],
        &["demo", "--help"],
    ] {
        let out = run_picket(ws.path(), cmd, &[]).await;
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        all.push_str(&texts(&out).0);
    }
    for word in ["SPEC", "PROBES.md", "§", "STYLE"] {
        assert!(!all.contains(word), "--help cites `{word}`:\n{all}");
    }
    assert!(all.contains("--export <DIR>") && all.contains("--force"));
}

/// The README's claim that the library is built in holds for the file that says so.
#[test]
fn the_shipped_configs_use_the_built_in_library() {
    for file in ["config/picket.yaml", "config/demo.yaml"] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        assert!(
            !text.lines().any(|l| l.starts_with("probes:")),
            "{file} lists probe folders; the library is built in"
        );
    }
    assert!(Path::new(&repo_root().join("probes")).is_dir());
}
