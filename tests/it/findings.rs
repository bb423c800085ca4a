//! Findings are for people: no output format shows a regex unless `--verbose` asks for the
//! technical detail. The shipped library runs against a loopback server that is insecure in
//! every way the HTTP probes look for, and every output is searched for every regex source of
//! every shipped probe.

use picket::check::http::{BodyTest, Check, HeaderTest};
use picket::check::tcp::BannerTest;
use picket::probe::Kind;

use crate::helpers::{Seen, TestServer, repo_root, respond, run_picket, texts, workspace};

/// Every regex of the shipped probes, as written.
fn shipped_regexes() -> Vec<String> {
    fn walk(check: &Check, out: &mut Vec<String>) {
        match check {
            Check::Header { test, .. } => match test {
                HeaderTest::Matches(re) | HeaderTest::NotMatches(re) => out.push(re.to_string()),
                HeaderTest::Capture { regex, .. } => out.push(regex.to_string()),
                _ => {}
            },
            Check::Body(BodyTest::Matches(re) | BodyTest::NotMatches(re)) => {
                out.push(re.to_string());
            }
            Check::AllOf(checks) | Check::AnyOf(checks) => {
                checks.iter().for_each(|c| walk(c, out));
            }
            Check::Not(inner) => walk(inner, out),
            _ => {}
        }
    }
    let probes = picket::load::load_probe_paths(
        &[repo_root().join("probes")],
        &picket::config::Defaults::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let mut out = Vec::new();
    for p in &probes {
        match &p.kind {
            Kind::Http(h) => h
                .exchanges
                .iter()
                .flat_map(|e| &e.checks)
                .for_each(|g| walk(&g.check, &mut out)),
            Kind::Tcp(t) => {
                for g in &t.checks {
                    if let picket::check::tcp::TcpCheck::Banner(
                        BannerTest::Matches(re) | BannerTest::NotMatches(re),
                    ) = &g.check
                    {
                        out.push(re.to_string());
                    }
                }
            }
            Kind::Tls(_) => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A server that fails as many HTTP probes as it can at once.
fn insecure(seen: Seen) -> axum::response::Response {
    let path = seen.path_and_query.as_str();
    let origin = seen
        .headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let base: Vec<(&str, &str)> = vec![
        ("server", "nginx/1.22.1"),
        ("x-powered-by", "PHP/8.1"),
        ("set-cookie", "sessionid=abc; Path=/"),
        ("set-cookie", "__Host-id=1; Path=/"),
        ("referrer-policy", "unsafe-url"),
        ("content-type", "text/html"),
    ];
    let with = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        base.iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    };
    if seen.method == axum::http::Method::TRACE {
        // Echoes the request, as a TRACE left on does (only the canary header, so that the
        // golden file does not change with picket's User-Agent).
        let echoed: String = seen
            .headers
            .get_all("x-picket-canary")
            .iter()
            .map(|v| format!("x-picket-canary: {}\r\n", v.to_str().unwrap_or("")))
            .collect();
        return respond(
            200,
            &[("content-type", "message/http")],
            format!("TRACE {path} HTTP/1.1\r\n{echoed}"),
        );
    }
    let json = |text: &str| {
        (
            200,
            vec![("content-type".into(), "application/json".into())],
            text.to_string(),
        )
    };
    let (status, headers, body): (u16, Vec<(String, String)>, String) = match path {
        "/swagger.json" => json(r#"{"swagger": "2.0", "info": {}, "paths": {"/pets": {}}}"#),
        "/actuator/env" => json(r#"{"activeProfiles": [], "propertySources": []}"#),
        "/.git/config" => (
            200,
            with(&[]),
            "[core]\n\trepositoryformatversion = 0\n".into(),
        ),
        "/.env" => (200, with(&[]), "API_KEY=abc123\n".into()),
        "/debug/pprof/heap?debug=1" => (
            200,
            vec![("content-type".into(), "text/plain".into())],
            "heap profile: 1: 2 [3: 4] @ heap/1048576\n".into(),
        ),
        "/server-status" => (200, with(&[]), "<h1>Apache Server Status for x</h1>".into()),
        // The open-redirect probe's canary URL, `https://picket-<random>.invalid/`.
        p if p.starts_with("/?") && p.contains(".invalid") => {
            let location = urlencoding_decode(p.split('=').nth(1).unwrap_or(""));
            (302, vec![("location".into(), location)], String::new())
        }
        _ => {
            let mut h = with(&[]);
            if !origin.is_empty() {
                h.push(("access-control-allow-origin".into(), origin));
                h.push(("access-control-allow-credentials".into(), "true".into()));
            }
            (
                200,
                h,
                "<html><title>Index of /</title><script>eval(x)</script></html>".into(),
            )
        }
    };
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    respond(status, &headers, body)
}

fn urlencoding_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text.split('&').next().unwrap_or(""))
        .decode_utf8_lossy()
        .into_owned()
}

/// Drops the `detail` fields (where regexes belong) from a JSON document.
fn without_detail(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("detail");
            map.values_mut().for_each(without_detail);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_detail),
        _ => {}
    }
}

/// The string values of a JSON document, concatenated (so escapes do not hide a regex).
fn strings(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn no_output_format_shows_a_regex_unless_verbose() {
    let regexes = shipped_regexes();
    assert!(regexes.len() >= 10, "{regexes:?}");
    let server = TestServer::start(insecure).await;
    let config = format!(
        "targets:\n  - name: web\n    url: {}\n    vars:\n      protected_paths: [/admin]\nlimits:\n  per_target_rps: 1000\n  per_target_concurrency: 16\n",
        server.url()
    );
    let ws = workspace(&[("picket.yaml", &config)]);
    let run = |format: &'static str, verbose: bool| {
        let ws = ws.path().to_path_buf();
        async move {
            let mut args = vec![
                "check",
                "-c",
                "picket.yaml",
                "--no-progress",
                "--format",
                format,
            ];
            if verbose {
                args.push("--verbose");
            }
            let out = run_picket(&ws, &args, &[]).await;
            let (stdout, stderr) = texts(&out);
            assert_eq!(out.status.code(), Some(1), "{format}: {stderr}");
            stdout
        }
    };

    let mut shown = Vec::new();
    let text = run("text", false).await;
    assert!(text.matches("FAIL ").count() >= 8, "{text}");
    shown.push(("text", text));
    for format in ["json", "sarif"] {
        let mut doc: serde_json::Value = serde_json::from_str(&run(format, false).await).unwrap();
        without_detail(&mut doc);
        let mut all = String::new();
        strings(&doc, &mut all);
        shown.push((format, all));
    }
    shown.push(("junit", run("junit", false).await));
    for (format, output) in &shown {
        for re in &regexes {
            assert!(
                !output.contains(re.as_str()),
                "{format} output shows the regex {re:?}:\n{output}"
            );
        }
    }

    // The technical detail is there for whoever asks.
    let verbose = run("text", true).await;
    let in_detail = regexes
        .iter()
        .filter(|re| verbose.contains(re.as_str()))
        .count();
    assert!(in_detail >= 3, "--verbose shows no regex:\n{verbose}");
    let json: serde_json::Value = serde_json::from_str(&run("json", false).await).unwrap();
    assert!(
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["findings"].as_array().unwrap())
            .any(|f| f["detail"]
                .as_str()
                .is_some_and(|d| regexes.iter().any(|re| d.contains(re.as_str())))),
        "no JSON finding has a detail with its regex"
    );
}

/// Replaces what changes from run to run (ports, durations, dates, canaries) with fixed words.
fn normalise(text: &str, ports: &[u16]) -> String {
    let mut text = text.to_string();
    for port in ports {
        text = text.replace(&port.to_string(), "PORT");
    }
    let ms = regex::Regex::new(r"\b\d+ms\b").unwrap();
    let text = ms.replace_all(&text, "Nms");
    let date = regex::Regex::new(r"notAfter \d{4}-\d{2}-\d{2}").unwrap();
    let text = date.replace_all(&text, "notAfter DATE");
    // The run's canary (`{{random}}`), new every run.
    let canary = regex::Regex::new(r"picket-[a-z0-9]{12}\b").unwrap();
    canary.replace_all(&text, "picket-CANARY").into_owned()
}

/// A team probe without `title:`: its findings get a generated sentence.
const TEAM_PROBE: &str = "id: team/server-version\nname: The Server header names no version\n\
severity: low\nhttp:\n  path: /\nchecks:\n  - header: server\n    not_matches: '/\\d'\n";

/// A JWT to re-encode with `alg: none` (`{"alg":"HS256"}`, `{"sub":"test"}`, a made-up signature).
const SAMPLE_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";

/// The loopback servers of the every-theme run, alive while it lasts: the insecure web server
/// (`web`, plain HTTP), a TLS server with legacy protocols, CBC suites and a certificate that
/// expires in ten days (`broker`), and with `every_probe` an HTTPS nginx in front of `web` that
/// adds a CSP allowing inline scripts (`shop`) and a TLS server with a self-signed SHA-1
/// certificate that asks for no client certificate (`vault`, tagged `mtls`).
struct EveryTheme {
    web: TestServer,
    _pki: crate::tls_servers::Pki,
    tls: crate::tls_servers::TlsServer,
    shop: Option<crate::real_servers::Server>,
    vault: Option<crate::tls_servers::TlsServer>,
    /// `picket.yaml` and the team's probe.
    workspace: tempfile::TempDir,
}

impl EveryTheme {
    async fn start(every_probe: bool) -> EveryTheme {
        use crate::tls_servers::{LeafSpec, Pki};
        let web = TestServer::start(insecure).await;
        let pki = Pki::new();
        let now = time::OffsetDateTime::now_utc();
        let leaf = pki.leaf(
            "golden",
            LeafSpec {
                not_after: now + time::Duration::days(10) + time::Duration::hours(12),
                ..LeafSpec::default()
            },
        );
        let tls = pki
            .serve(
                &leaf,
                &["-min_protocol", "TLSv1", "-cipher", "DEFAULT:@SECLEVEL=0"],
            )
            .await;
        let web_port = web.addr.port();
        let mut config = format!(
            "probes: [team/]\n\
             targets:\n\
             \x20 - name: web\n    url: {url}\n    vars:\n      protected_paths: [/admin]\n      closed_ports: [{web_port}]\n      sample_jwt: {SAMPLE_JWT}\n\
             \x20 - name: broker\n    url: tls://127.0.0.1:{tls_port}\n    tls: {{ ca_file: \"{ca}\", server_name: localhost }}\n    vars:\n      plaintext_ports: [{web_port}]\n",
            url = web.url(),
            tls_port = tls.port,
            ca = pki.ca_file.display(),
        );
        let (mut shop, mut vault) = (None, None);
        if every_probe {
            let site_cert = pki.leaf("shop", LeafSpec::default());
            let directives = format!(
                "location / {{ proxy_pass http://127.0.0.1:{web_port}; \
                 add_header Content-Security-Policy \"script-src 'self' 'unsafe-inline'\"; }}"
            );
            let site = crate::real_servers::nginx(crate::real_servers::Site {
                files: &[],
                directives: &directives,
                tls: Some(&site_cert),
            })
            .await;
            let sha1 = pki.sha1_self_signed("vault");
            let server = pki.serve(&sha1, &[]).await;
            config.push_str(&format!(
                "\x20 - name: shop\n    url: https://127.0.0.1:{shop_port}\n    tls: {{ ca_file: \"{ca}\" }}\n\
                 \x20 - name: vault\n    url: tls://127.0.0.1:{vault_port}\n    tags: [mtls]\n    tls: {{ server_name: vault.invalid }}\n",
                shop_port = site.port,
                vault_port = server.port,
                ca = pki.ca_file.display(),
            ));
            shop = Some(site);
            vault = Some(server);
            // A mail server that greets with a release past its end of life, for the banner
            // probe (Exim 4.96: end of life 2023-11-04 in the built-in data).
            let mail = crate::tcp::service(
                b"220 mail.example.test ESMTP Exim 4.96 Mon, 07 Dec 2026 10:00:00 +0000\r\n",
                b"",
            )
            .await;
            config.push_str(&format!(
                "\x20 - name: mail\n    url: tcp://127.0.0.1:{port}\n    vars:\n      service_ports: [{port}]\n",
                port = mail.port(),
            ));
        }
        config.push_str("limits:\n  per_target_rps: 1000\n  per_target_concurrency: 16\n");
        let workspace = workspace(&[
            ("picket.yaml", &config),
            ("team/server-version.yaml", TEAM_PROBE),
        ]);
        EveryTheme {
            web,
            _pki: pki,
            tls,
            shop,
            vault,
            workspace,
        }
    }

    /// The ports of the servers, which change from run to run.
    fn ports(&self) -> Vec<u16> {
        let mut ports = vec![self.web.addr.port(), self.tls.port];
        ports.extend(self.shop.as_ref().map(|s| s.port));
        ports.extend(self.vault.as_ref().map(|s| s.port));
        ports
    }

    /// `picket check` with these extra arguments; it must exit 1 (findings).
    async fn check(&self, args: &[&str]) -> String {
        let mut all = vec!["check", "-c", "picket.yaml", "--no-progress"];
        all.extend(args);
        let out = run_picket(self.workspace.path(), &all, &[]).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        stdout
    }
}

/// The text output of `check` with a finding from every theme, against a golden file:
/// `tests/golden/check/every-theme.txt` (`UPDATE_GOLDEN=1` rewrites it; read the diff).
#[tokio::test]
async fn the_text_output_of_a_finding_from_every_theme_matches_the_golden_file() {
    let run = EveryTheme::start(false).await;
    let stdout = run.check(&["--fail-on", "critical"]).await;
    let shown = normalise(&stdout, &run.ports());
    let golden = repo_root().join("tests/golden/check/every-theme.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &shown).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        shown == want,
        "check output differs from {} (UPDATE_GOLDEN=1 rewrites it):\n{shown}",
        golden.display()
    );
    // Every theme of the library has a finding in it, and so has the team's probe.
    for theme in [
        "headers/",
        "exposure/",
        "cookies/",
        "cors/",
        "disclosure/",
        "auth/",
        "redirect/",
        "tls/",
        "network/",
        "transport/",
        "methods/",
        "team/",
    ] {
        assert!(
            shown
                .lines()
                .any(|l| l.starts_with("FAIL ") && l.contains(theme)),
            "no finding of {theme} in:\n{shown}"
        );
    }
}

/// What no finding may say: a formula where a sentence belongs. `not (…)`, `(forbidden: …)`,
/// an unexpanded placeholder, a combinator written as `and (`/`or (` or as "check: observed"
/// parts, the old placeholders of words (`not to hold`, `all to hold`, `is one of`, `of the
/// expected form`, `no forbidden value`), a bare `absent` for a value, and regex syntax.
fn formula_in(text: &str) -> Option<&'static str> {
    const FORMULAS: [&str; 12] = [
        "not (",
        "is one of",
        "not: ",
        "forbidden:",
        "{{",
        " and (",
        " or (",
        "to hold",
        "expected form",
        "no forbidden",
        "(?",
        "\\d",
    ];
    if let Some(f) = FORMULAS.iter().find(|f| text.contains(*f)) {
        return Some(f);
    }
    // A bare word for a value (`observed: absent`), not a phrase naming what is absent.
    if ["absent", "present", "missing", "none", "not found"].contains(&text.trim()) {
        return Some("a bare word for a value");
    }
    // A combinator's old "check title: observed" parts (`status is …: 200;`).
    let titled_part = regex::Regex::new(r": \d{3}(?:;|$)").unwrap();
    if titled_part.is_match(text) {
        return Some("a check title followed by its observation");
    }
    // Regex syntax: escapes, classes, anchors and quantifiers.
    let regex =
        regex::Regex::new(r"\\[sSwWbBAzZ.]|\[\^|\]\*|\]\+|\.\*|\.\+|\{\d+,\d*\}|\^\(|\)\$|\|\(")
            .unwrap();
    regex.is_match(text).then_some("regex syntax")
}

/// Every shipped library probe fails against the every-theme servers, and every finding of
/// every one of them (check, expected and observed) reads as words: no formula, no `not (`,
/// no `forbidden:`, no placeholder, no regex.
#[tokio::test]
async fn every_library_finding_reads_as_a_sentence() {
    let run = EveryTheme::start(true).await;
    if std::env::var_os("SHOW_EVERY").is_some() {
        eprintln!("{}", run.check(&["--fail-on", "critical"]).await);
    }
    let doc: serde_json::Value = serde_json::from_str(
        &run.check(&["--format", "json", "--fail-on", "critical"])
            .await,
    )
    .unwrap();
    let rows = doc["results"].as_array().unwrap();
    let library: Vec<String> = picket::load::load_probe_paths(
        &[repo_root().join("probes")],
        &picket::config::Defaults::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"))
    .iter()
    .map(|p| p.id.clone())
    .collect();
    assert!(library.len() >= 35, "{library:?}");
    let mut problems = Vec::new();
    for id in &library {
        let findings: Vec<&serde_json::Value> = rows
            .iter()
            .filter(|r| r["probe"] == id.as_str())
            .flat_map(|r| r["findings"].as_array().unwrap())
            .collect();
        if findings.is_empty() {
            let outcomes: Vec<String> = rows
                .iter()
                .filter(|r| r["probe"] == id.as_str())
                .map(|r| format!("{}: {} {}", r["target"], r["outcome"], r["error"]))
                .collect();
            problems.push(format!("{id}: no finding ({outcomes:?})"));
        }
        for f in findings {
            for field in ["check", "expected", "observed"] {
                let text = f[field].as_str().unwrap_or_default();
                if let Some(formula) = formula_in(text) {
                    problems.push(format!("{id} {field} has {formula:?}: {text}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
