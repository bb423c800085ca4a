//! nuclei templates as probes, against the repository's own corpus in `tests/nuclei/`
//! (templates written for picket in nuclei's format; `tests/nuclei/README.md` lists them):
//! * every template in `supported/` loads, and each of its request blocks matches a response
//!   built from its own matchers (words, regex samples, statuses, sizes, headers), served by a
//!   loopback server only to the request the block declares (method, path, headers, body);
//!   no template matches a soft-404 HTML shell, nor the block's response with one required
//!   matcher, or one word or regex of an `and` list, removed;
//! * together they cover every feature of the supported subset;
//! * every template in `unsupported/` is refused, naming each of its features at the
//!   `file:line:column` where it is written, with a hint.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use picket::check::http::Check;
use picket::check::nuclei::{Condition, Matchers, Part, Test};
use picket::outcome::Outcome;
use picket::probe::http::Exchange;

use crate::helpers::{TestServer, repo_root, respond, run_picket, run_probe, texts, workspace};

/// How many templates each folder holds (a lost or added file must update these and the
/// corpus README).
const SUPPORTED: usize = 35;
const UNSUPPORTED: usize = 41;

fn corpus(folder: &str) -> PathBuf {
    repo_root().join("tests/nuclei").join(folder)
}

fn templates(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus(folder))
        .unwrap_or_else(|e| panic!("tests/nuclei/{folder}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn file_name(file: &Path) -> String {
    file.file_name().unwrap().to_string_lossy().into_owned()
}

/// Text each regex of the supported templates matches (RE2 patterns have no generator here;
/// a new template with a new regex must add its sample).
fn regex_sample(pattern: &str) -> &'static str {
    match pattern {
        r"repositoryformatversion\s*=\s*[01]" => "\trepositoryformatversion = 0",
        r"(?m)^(APP_KEY|DB_PASSWORD|SECRET_KEY|AWS_SECRET_ACCESS_KEY)\s*=" => {
            "DB_PASSWORD=correct-horse"
        }
        r"(?m)^[\w.@-]+:(\$apr1\$|\$2[aby]\$|\{SHA\}|\$6\$)" => {
            "deploy:$apr1$x5Tq0aZc$2sBq3h6g0yK2bXq9m1Yw1/"
        }
        r"(?i)\bAllow: [A-Z, ]*\bTRACE\b" => "Allow: GET, HEAD, OPTIONS, TRACE",
        r"(?i)-- (MySQL|MariaDB) dump \d+" => "-- MySQL dump 10.13  Distrib 8.0.36",
        r"(?i)-- PostgreSQL database dump" => "-- PostgreSQL database dump",
        r#"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3} - \S+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "(GET|POST|HEAD) "# => {
            r#"203.0.113.7 - - [02/Jan/2026:10:11:12 +0000] "GET /account HTTP/1.1" 200 512"#
        }
        r"^(https?:)?//picket-redirect\.invalid" => "http://picket-redirect.invalid/127.0.0.1",
        r"(?mi)^Contact:\s*\S+" => "Contact: mailto:security@example.org",
        r"nginx/\d+\.\d+\.\d+" => "nginx/1.24.0",
        r"(?i)X-Powered-By: PHP/(5\.\d+|7\.[0-4])\.\d+" => "X-Powered-By: PHP/7.4.33",
        r"(?m)^health\s+status\s+index\s+uuid" => "health status index uuid pri rep docs.count",
        r#"<h1>Index of /[^<]*</h1><hr><pre><a href="\.\./">\.\./</a>"# => {
            r#"<h1>Index of /uploads/</h1><hr><pre><a href="../">../</a>"#
        }
        r"(?m)^\[default\]" => "[default]",
        r"aws_access_key_id\s*=\s*(AKIA|ASIA)[A-Z0-9]{16}" => {
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"
        }
        r"aws_secret_access_key\s*=" => "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
        r"//[\w.-]+(/[\w.-]+)*/:_authToken=" => "//registry.npmjs.org/:_authToken=npm_0123456789",
        r"(?m)^\s+image:\s*\S+" => "    image: postgres:16",
        r"\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] (local|production|staging)\.(ERROR|WARNING|INFO):" => {
            "[2026-01-02 10:11:12] production.ERROR: Undefined variable $user"
        }
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

/// What to leave out of a built response, to make a near miss.
#[derive(Debug, Clone, Copy)]
struct Omit {
    /// The matcher.
    matcher: usize,
    /// One word or regex of its list, or (`None`) the whole matcher.
    item: Option<usize>,
}

/// Builds a response every positive matcher of `block` matches and every negative one does
/// not, leaving out `omit`. Case-insensitive words are sent upper-cased.
fn build(block: &Matchers, omit: Option<Omit>) -> Built {
    let mut out = Built {
        status: 200,
        ..Built::default()
    };
    let mut n = 0;
    let mut size = None;
    for (i, m) in block.matchers.iter().enumerate() {
        if m.negative {
            continue;
        }
        let skip_item = match omit {
            Some(o) if o.matcher == i => match o.item {
                None => continue,
                Some(item) => Some(item),
            },
            _ => None,
        };
        let texts: Vec<String> = match &m.test {
            Test::Status(codes) => {
                out.status = codes[0];
                continue;
            }
            Test::Size(sizes) => {
                assert_eq!(m.part, Part::Body, "size matchers read the body here");
                size = Some(sizes[0]);
                continue;
            }
            Test::Words {
                words,
                condition,
                case_insensitive,
                ..
            } => {
                let words = match condition {
                    Condition::And => words.clone(),
                    Condition::Or => vec![words[0].clone()],
                };
                if *case_insensitive {
                    words.iter().map(|w| w.to_ascii_uppercase()).collect()
                } else {
                    words
                }
            }
            Test::Regex { regexes, condition } => {
                let all: Vec<String> = regexes
                    .iter()
                    .map(|r| {
                        let sample = regex_sample(r.as_str());
                        assert!(
                            r.is_match(sample.as_bytes()),
                            "the sample {sample:?} does not match /{r}/"
                        );
                        sample.to_string()
                    })
                    .collect();
                match condition {
                    Condition::And => all,
                    Condition::Or => vec![all[0].clone()],
                }
            }
        };
        for (j, text) in texts.into_iter().enumerate() {
            if skip_item == Some(j) {
                continue;
            }
            match &m.part {
                Part::Body | Part::All => {
                    out.body.push_str(&text);
                    out.body.push('\n');
                }
                Part::Headers => match text.split_once(": ") {
                    // `Name: value` is sent as that header.
                    Some((name, value))
                        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok() =>
                    {
                        out.headers.push((name.to_string(), value.to_string()));
                    }
                    _ => {
                        n += 1;
                        out.headers.push((format!("x-sample-{n}"), text));
                    }
                },
                Part::Header(name) => out.headers.push((name.to_string(), text)),
            }
        }
    }
    if let Some(size) = size {
        assert!(
            out.body.len() <= size,
            "the words do not fit in {size} bytes"
        );
        while out.body.len() < size {
            out.body.push(' ');
        }
    }
    for m in block.matchers.iter().filter(|m| m.negative) {
        match &m.test {
            Test::Status(codes) if codes.contains(&out.status) => {
                out.status = (200..300).find(|c| !codes.contains(c)).unwrap();
            }
            Test::Size(sizes) if sizes.contains(&out.body.len()) => out.body.push('\n'),
            _ => {}
        }
    }
    out
}

/// The template's request blocks, loaded.
fn exchanges(file: &Path) -> Vec<Exchange> {
    let probes =
        picket::load::load_probe_paths(&[file.to_path_buf()], &picket::config::Defaults::default())
            .unwrap_or_else(|d| panic!("{} does not load:\n{d}", file.display()));
    assert_eq!(probes.len(), 1);
    probes[0].kind.as_http().unwrap().exchanges.clone()
}

fn block_of(exchange: &Exchange) -> &Matchers {
    let Check::Nuclei(block) = &exchange.checks[0].check else {
        panic!("not a nuclei block")
    };
    block
}

/// A template text with the target's placeholders filled in for `http://127.0.0.1:port`.
fn fill(text: &str, port: u16) -> String {
    text.replace("{{vars.@up}}", "")
        .replace("{{vars.@base}}", &format!("http://127.0.0.1:{port}"))
        .replace("{{vars.@root}}", &format!("http://127.0.0.1:{port}"))
        .replace("{{vars.@hostname}}", "127.0.0.1")
        .replace("{{vars.@host}}", &format!("127.0.0.1:{port}"))
        .replace("{{vars.@port}}", &port.to_string())
        .replace("{{vars.@scheme}}", "http")
}

/// The request a block sends first, as the server must see it.
#[derive(Debug, Clone)]
struct Expected {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Expected {
    fn of(exchange: &Exchange, port: u16) -> Expected {
        let r = &exchange.request;
        Expected {
            method: Method::from_bytes(r.method.as_str().as_bytes()).unwrap(),
            path: fill(&r.paths[0].text, port),
            headers: r
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_string(), fill(&value.text, port)))
                .collect(),
            body: r.body.as_ref().map(|b| fill(&b.text, port)),
        }
    }

    /// Whether a request is this one: same method, path, headers and body.
    fn is(&self, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        *method == self.method
            && path == self.path
            && self.headers.iter().all(|(name, value)| {
                headers
                    .get(name.as_str())
                    .is_some_and(|v| v.as_bytes() == value.as_bytes())
            })
            && self.body.as_ref().is_none_or(|b| b.as_bytes() == body)
    }
}

/// How the server answers: the built response to the block's own request only, or the
/// soft-404 shell to everything.
#[derive(Debug, Clone)]
enum Serve {
    Built(Box<Expected>, Built),
    Shell,
}

/// A loopback server that reads each request's body (which [`TestServer`] does not).
async fn serve(serve: impl Fn(u16) -> Serve) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = serve(port);
    let app = axum::Router::new().fallback(
        move |method: Method,
              uri: axum::http::Uri,
              headers: HeaderMap,
              body: Bytes| {
            let answer = answer.clone();
            async move {
                let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                match &answer {
                    Serve::Built(expected, r) if expected.is(&method, path, &headers, &body) => {
                        let headers: Vec<(&str, &str)> = r
                            .headers
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect();
                        respond(r.status, &headers, r.body.clone())
                    }
                    Serve::Built(..) => respond(404, &[], ""),
                    Serve::Shell => respond(
                        200,
                        &[("content-type", "text/html; charset=utf-8")],
                        "<!doctype html><html><head><title>Not found</title></head><body><div id=app>Page not found</div></body></html>",
                    ),
                }
            }
        },
    );
    (port, crate::helpers::serve_until_dropped(listener, app))
}

/// Runs the template once against a server answering as `answer` says.
async fn verdict(file: &Path, answer: impl Fn(u16) -> Serve) -> Outcome {
    let (port, _server) = serve(answer).await;
    let text = std::fs::read_to_string(file).unwrap();
    run_probe(&format!("http://127.0.0.1:{port}"), &text)
        .await
        .outcome
}

/// The findings a block reports when it matches: one per matching matcher with `or`, one for
/// the block with `and`.
fn block_findings(block: &Matchers) -> BTreeSet<String> {
    match block.condition {
        Condition::And => [block.title()].into(),
        Condition::Or => block
            .matchers
            .iter()
            .map(|m| format!("nuclei matcher {}", m.label()))
            .collect(),
    }
}

#[tokio::test]
async fn every_supported_template_matches_its_own_response_and_not_a_soft_404_or_a_near_miss() {
    let files = templates("supported");
    assert_eq!(files.len(), SUPPORTED);
    let mut near_misses = 0;
    for file in &files {
        let name = file_name(file);
        let blocks = exchanges(file);
        for (k, exchange) in blocks.iter().enumerate() {
            let block = block_of(exchange).clone();
            let hit = build(&block, None);
            let (e, b) = (exchange.clone(), hit.clone());
            let outcome = verdict(file, move |port| {
                Serve::Built(Box::new(Expected::of(&e, port)), b.clone())
            })
            .await;
            let Outcome::Fail(findings) = &outcome else {
                panic!(
                    "{name} block {k}: a response built from its matchers did not match ({hit:?}): {outcome:?}"
                )
            };
            let own = block_findings(&block);
            assert!(
                findings.iter().any(|f| own
                    .iter()
                    .any(|o| f.check == *o || f.check.ends_with(&format!(": {o}")))),
                "{name} block {k}: the findings are not this block's ({own:?}): {findings:?}"
            );
            assert!(
                findings
                    .iter()
                    .all(|f| f.observed.contains("matched at byte")
                        || f.observed.contains("status")
                        || f.observed.contains("bytes")),
                "{name}: {findings:?}"
            );

            if block.condition == Condition::And {
                for (i, m) in block.matchers.iter().enumerate() {
                    let items = match &m.test {
                        _ if m.negative => continue,
                        Test::Words {
                            words,
                            condition: Condition::And,
                            ..
                        } if words.len() > 1 => words.len(),
                        Test::Regex {
                            regexes,
                            condition: Condition::And,
                        } if regexes.len() > 1 => regexes.len(),
                        Test::Words { .. } | Test::Regex { .. } => 0,
                        Test::Status(_) | Test::Size(_) => continue,
                    };
                    let omits = std::iter::once(None).chain((0..items).map(Some));
                    for item in omits {
                        let near = build(&block, Some(Omit { matcher: i, item }));
                        let (e, b) = (exchange.clone(), near.clone());
                        let outcome = verdict(file, move |port| {
                            Serve::Built(Box::new(Expected::of(&e, port)), b.clone())
                        })
                        .await;
                        assert_eq!(
                            outcome,
                            Outcome::Pass,
                            "{name} block {k}: matched with matcher {i} (item {item:?}) left out ({near:?})"
                        );
                        near_misses += 1;
                    }
                }
            }
        }

        let shell = verdict(file, |_| Serve::Shell).await;
        assert_eq!(shell, Outcome::Pass, "{name}: the soft-404 shell matched");
    }
    assert!(near_misses >= 50, "near misses tried: {near_misses}");
}

/// The server answers only the request a block declares: a template whose method, header or
/// body the server does not see does not match (so the request side is tested too).
#[tokio::test]
async fn a_block_matches_only_when_its_method_headers_and_body_are_sent() {
    let file = corpus("supported").join("graphql-introspection.yaml");
    let exchange = exchanges(&file).remove(0);
    let hit = build(block_of(&exchange), None);
    for spoil in ["method", "header", "body"] {
        let (e, b) = (exchange.clone(), hit.clone());
        let outcome = verdict(&file, move |port| {
            let mut expected = Expected::of(&e, port);
            match spoil {
                "method" => expected.method = Method::PUT,
                "header" => expected.headers[0].1.push_str("; other"),
                _ => expected.body = Some("{}".into()),
            }
            Serve::Built(Box::new(expected), b.clone())
        })
        .await;
        assert_eq!(outcome, Outcome::Pass, "matched without the right {spoil}");
    }
}

/// Together the supported templates use every feature of the subset (SPEC §4).
#[test]
fn the_supported_corpus_covers_every_feature_of_the_subset() {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut mark = |s: &str| {
        seen.insert(s.to_string());
    };
    for file in templates("supported") {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let t = line.trim_start().trim_start_matches("- ");
            if let Some((key, value)) = t.split_once(':') {
                let value = value.trim();
                if !line.starts_with(' ') {
                    mark(&format!("top {key}"));
                } else if line.starts_with("  ") && !line.starts_with("   ") {
                    mark(&format!("info {key}"));
                    if value.is_empty() && matches!(key, "tags" | "reference") {
                        mark(&format!("info {key} list"));
                    }
                }
                match key {
                    "severity" => mark(&format!("severity {value}")),
                    "part" => mark(&format!("part {value}")),
                    "type" => mark(&format!("type {value}")),
                    "method" => mark(&format!("method {value}")),
                    "condition" => mark(&format!("condition {value}")),
                    "matchers-condition" => mark(&format!("matchers-condition {value}")),
                    "redirects"
                    | "max-redirects"
                    | "stop-at-first-match"
                    | "headers"
                    | "body"
                    | "negative"
                    | "case-insensitive"
                    | "name"
                    | "cvss-score"
                    | "cwe-id"
                    | "cvss-metrics" => mark(key),
                    _ => {}
                }
            }
            for placeholder in [
                "{{BaseURL}}",
                "{{RootURL}}",
                "{{Hostname}}",
                "{{Host}}",
                "{{Port}}",
                "{{Scheme}}",
            ] {
                if line.contains(placeholder) {
                    let place = if t.starts_with('"') || t.starts_with('\'') {
                        "path"
                    } else {
                        "header"
                    };
                    mark(&format!("{place} {placeholder}"));
                }
            }
        }
        for e in exchanges(&file) {
            if e.request.paths.len() > 1 {
                mark("several paths");
            }
            if e.request.method == Method::POST && e.request.body.is_some() {
                mark("POST body");
            }
            for m in &block_of(&e).matchers {
                let kind = match &m.test {
                    Test::Status(_) => "status",
                    Test::Words { condition, .. } | Test::Regex { condition, .. } => {
                        mark(&format!("{condition:?} list"));
                        if matches!(m.test, Test::Words { .. }) {
                            "word"
                        } else {
                            "regex"
                        }
                    }
                    Test::Size(_) => "size",
                };
                if m.negative {
                    mark(&format!("negative {kind}"));
                }
            }
        }
    }
    let mut missing = Vec::new();
    for want in [
        "top id",
        "top info",
        "top http",
        "top requests",
        "info name",
        "info author",
        "info severity",
        "info tags",
        "info tags list",
        "info description",
        "info reference",
        "info reference list",
        "info remediation",
        "info impact",
        "info metadata",
        "info classification",
        "cvss-score",
        "cwe-id",
        "cvss-metrics",
        "severity info",
        "severity low",
        "severity medium",
        "severity high",
        "severity critical",
        "severity unknown",
        "method GET",
        "method POST",
        "method HEAD",
        "method OPTIONS",
        "method TRACE",
        "method PROPFIND",
        "POST body",
        "several paths",
        "path {{BaseURL}}",
        "path {{RootURL}}",
        "path {{Hostname}}",
        "path {{Host}}",
        "path {{Port}}",
        "path {{Scheme}}",
        "header {{RootURL}}",
        "header {{Scheme}}",
        "header {{Host}}",
        "headers",
        "body",
        "redirects",
        "max-redirects",
        "stop-at-first-match",
        "matchers-condition and",
        "matchers-condition or",
        "type status",
        "type word",
        "type regex",
        "type size",
        "part body",
        "part header",
        "part all_headers",
        "part all",
        "part response",
        "part content_type",
        "part location",
        "part server",
        "condition and",
        "condition or",
        "And list",
        "Or list",
        "negative",
        "negative status",
        "negative word",
        "negative regex",
        "negative size",
        "case-insensitive",
        "name",
    ] {
        if !seen.contains(want) {
            missing.push(want);
        }
    }
    assert!(
        missing.is_empty(),
        "not covered: {missing:?}\nseen: {seen:?}"
    );
}

/// Each unsupported template's features, as the errors name them.
const REFUSED: &[(&str, &[&str])] = &[
    (
        "cache-poisoning-clusterbomb.yaml",
        &["`raw`", "`attack`", "`payloads`", "`unsafe`", "`dsl`"],
    ),
    ("config-xpath-matcher.yaml", &["`xpath`"]),
    ("coupon-race.yaml", &["`race`"]),
    ("credentials-match-all.yaml", &["`match-all`"]),
    ("dmarc-record-dns.yaml", &["`dns`"]),
    ("domain-expiry-whois.yaml", &["`whois`"]),
    ("graphql-batching-variables.yaml", &["`variables`"]),
    ("graphql-suggestions-raw.yaml", &["`raw`"]),
    ("gzip-magic-encoding.yaml", &["`encoding`"]),
    (
        "host-header-interactsh.yaml",
        &["`{{interactsh-url}}`", "`part: interactsh_protocol`"],
    ),
    (
        "link-crawl-extractors.yaml",
        &["`flow`", "`extractors`", "`internal`", "`xpath`"],
    ),
    ("local-check-code.yaml", &["`code`"]),
    ("log-files-payloads.yaml", &["`payloads`", "`threads`"]),
    (
        "login-body-helper.yaml",
        &["placeholder `{{base64(\"admin\")}}`"],
    ),
    ("login-form-headless.yaml", &["`headless`"]),
    ("login-host-redirects.yaml", &["`host-redirects`"]),
    ("login-req-condition.yaml", &["`req-condition`"]),
    ("memcached-stats-network.yaml", &["`network`"]),
    ("metadata-absolute-url.yaml", &["unsupported path `http://"]),
    ("nginx-config-dsl.yaml", &["`dsl`"]),
    (
        "path-without-slash.yaml",
        &["does not continue the base URL"],
    ),
    ("pipeline-smuggling.yaml", &["`pipeline`"]),
    ("private-key-file.yaml", &["`file`"]),
    ("protocol-relative-redirect.yaml", &["names another host"]),
    ("rdap-extractors-only.yaml", &["`extractors`", "`json`"]),
    ("redirect-chain-too-long.yaml", &["`max-redirects: 20`"]),
    (
        "redirect-param-fuzzing.yaml",
        &["`fuzzing`", "`pre-condition`", "`payloads`", "`dsl`"],
    ),
    ("redirect-to-base-url.yaml", &["names a URL twice"]),
    ("redis-unauth-network.yaml", &["`tcp`"]),
    (
        "reflected-marker-word-helper.yaml",
        &["placeholder in a word"],
    ),
    (
        "regex-case-insensitive.yaml",
        &["`case-insensitive` applies to word matchers"],
    ),
    (
        "server-status-forwarded-flow.yaml",
        &["`flow`", "`internal`"],
    ),
    ("session-cookie-reuse.yaml", &["`cookie-reuse`"]),
    ("slack-token-self-contained.yaml", &["`self-contained`"]),
    ("sqlite-database-binary.yaml", &["`binary`"]),
    ("ssh-password-auth-javascript.yaml", &["`javascript`"]),
    ("tls-deprecated-ssl.yaml", &["`ssl`", "`dsl`"]),
    (
        "user-records-body-part.yaml",
        &["`part: body_1`", "`part: body_2`"],
    ),
    (
        "tomcat-manager-randstr.yaml",
        &["placeholder `{{randstr}}`"],
    ),
    (
        "version-regex-re2-repeat.yaml",
        &["regex would not match as nuclei matches it"],
    ),
    ("websocket-origin.yaml", &["`websocket`"]),
];

#[tokio::test]
async fn every_unsupported_template_is_refused_naming_the_feature_and_its_place() {
    let files = templates("unsupported");
    assert_eq!(files.len(), UNSUPPORTED);
    assert_eq!(REFUSED.len(), UNSUPPORTED);
    for file in &files {
        let name = file_name(file);
        let Some((_, features)) = REFUSED.iter().find(|(f, _)| *f == name) else {
            panic!("{name}: no expected reason listed")
        };
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let errors = picket::load::load_probe_paths(
            std::slice::from_ref(file),
            &picket::config::Defaults::default(),
        )
        .expect_err(&name)
        .to_string();
        let output: Vec<&str> = errors.lines().collect();
        let prefix = format!("{}:", file.display());
        // Every error names one of the template's features, none another meaning of a key.
        for error in output.iter().filter(|l| l.starts_with(&prefix)) {
            assert!(
                features.iter().any(|f| error.contains(f)),
                "{name}: an error names none of {features:?}: {error}"
            );
        }
        for feature in *features {
            let at = output
                .iter()
                .position(|l| l.starts_with(&prefix) && l.contains(feature));
            let Some(at) = at else {
                panic!("{name}: no error naming {feature}:\n{errors}")
            };
            let located = &output[at][prefix.len()..];
            let mut place = located.splitn(3, ':');
            let line: usize = place.next().unwrap().parse().unwrap_or(0);
            let column: usize = place.next().unwrap().parse().unwrap_or(0);
            assert!(
                (1..=lines.len()).contains(&line) && column >= 1,
                "{name}: {feature} is not located at a line and column: {}",
                output[at]
            );
            let source = lines[line - 1];
            assert!(
                column <= source.len(),
                "{name}: column {column} is past line {line}: {source:?}"
            );
            // A refused key is pointed at where it is written.
            if let Some(key) = feature
                .strip_prefix('`')
                .and_then(|f| f.strip_suffix('`'))
                .filter(|k| !k.contains(' '))
                .filter(|k| output[at].contains(&format!("nuclei `{k}` is not supported")))
            {
                assert!(
                    source[column - 1..].starts_with(&format!("{key}:")),
                    "{name}: {feature} located at {line}:{column}, which is {source:?}"
                );
            }
            assert!(
                output
                    .get(at + 1)
                    .is_some_and(|l| l.starts_with("  hint: ")),
                "{name}: no hint for {feature}:\n{errors}"
            );
        }
    }
}

#[test]
fn the_corpus_readme_describes_every_template() {
    let readme = std::fs::read_to_string(repo_root().join("tests/nuclei/README.md")).unwrap();
    for file in templates("supported")
        .into_iter()
        .chain(templates("unsupported"))
    {
        let name = file_name(&file);
        assert!(
            readme.contains(&format!("`{name}`")),
            "tests/nuclei/README.md does not describe {name}"
        );
    }
}

#[tokio::test]
async fn validate_counts_the_templates_of_a_folder_that_load() {
    let ws = workspace(&[]);
    let (supported, unsupported) = (corpus("supported"), corpus("unsupported"));
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
    let count = format!(
        "{SUPPORTED} of {} probe files load; {UNSUPPORTED} refused",
        SUPPORTED + UNSUPPORTED
    );
    assert!(
        stdout.contains(&count),
        "no count of the files that load ({count}):\n{stdout}\n{stderr}"
    );
    for file in templates("unsupported") {
        assert!(
            stderr.contains(&format!("{}:", file.display())),
            "{} is not named:\n{stderr}",
            file.display()
        );
    }
    assert!(
        !stderr.contains("tests/nuclei/supported/") && !stdout.contains("tests/nuclei/supported/"),
        "a supported template has an error:\n{stdout}\n{stderr}"
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
        corpus("supported").join("svn-working-copy.yaml"),
        ws.path().join("probes/svn-working-copy.yaml"),
    )
    .unwrap();
    let mut service = spawn_service(ws.path(), &[]);
    let state = |rows: &[picket::api::Row]| {
        rows.iter()
            .find(|r| r.probe == "nuclei/svn-working-copy")
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
                        && l.attrs.get("probe.id").map(String::as_str)
                            == Some("nuclei/svn-working-copy")
                })
            },
            Duration::from_secs(20),
        )
        .await;
    signal(&service.child, "-TERM");
    let _ = tokio::task::spawn_blocking(move || service.child.wait())
        .await
        .unwrap();
    assert!(
        regressed,
        "no regression of nuclei/svn-working-copy over OTLP"
    );
    let logs = receiver.logs();
    let regression = logs
        .iter()
        .find(|l| l.event_name == "picket.regression")
        .unwrap();
    assert_eq!(regression.attrs["probe.severity"], "medium");
    assert_eq!(
        regression.attrs["security_rule.name"],
        "Subversion Working Copy Exposed"
    );
    assert!(
        regression.attrs["findings"].contains("has-props"),
        "{:?}",
        regression.attrs
    );
    // info.classification travels with the event.
    assert_eq!(regression.attrs["security_rule.cwe_id"], "CWE-538");
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
        corpus("supported").join("svn-working-copy.yaml"),
        ws.path().join("probes/svn-working-copy.yaml"),
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
    assert_eq!(rule["id"], "nuclei/svn-working-copy");
    assert_eq!(rule["properties"]["cwe-id"], "CWE-538");
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
