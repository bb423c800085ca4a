//! The shipped probe library (`probes/**/*.yaml`) against real loopback servers, following
//! the conditions of PROBES.md: every probe fails on a vulnerable server (and its findings say
//! what was seen), passes on a correctly configured one, and — where the failing case depends
//! on content at a path — passes on the look-alikes a generic-path probe must not confuse with
//! the real thing: a "soft 404" server answering 200 with an HTML shell for every path, and a
//! server redirecting every path to `/login` (exposure probes do not follow redirects).
//!
//! Cases marked `#[ignore]` show a demonstrated gap between a probe and PROBES.md; each says
//! what the probe does and what it should do.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use picket::load::Loaded;
use picket::outcome::Finding;
use picket::outcome::Outcome;

use crate::helpers::{Seen, TestServer, repo_root, respond, workspace};

/// The body of the soft-404 twin: what a single-page app answers for any path.
const SHELL: &str = "<html><head><title>Home</title></head><body>app shell</body></html>";
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
/// Whether `text` is a run's canary: twelve lowercase ASCII letters and digits.
fn is_canary(text: &str) -> bool {
    text.len() == 12
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `probes/<name>.yaml` in the repository, as an absolute path.
fn shipped(name: &str) -> PathBuf {
    repo_root().join("probes").join(format!("{name}.yaml"))
}

/// Loads a config whose only probe is the shipped `probe` and whose only target is `web` at
/// `url`, with limits high enough that tests do not wait for rate slots.
fn load_one(probe: &str, url: &str) -> Loaded {
    load_one_with(probe, url, "")
}

/// Like [`load_one`], with `target_extra` (YAML lines indented by 4, e.g. `    vars: {...}\n`)
/// added under the target.
fn load_one_with(probe: &str, url: &str, target_extra: &str) -> Loaded {
    let path = shipped(probe);
    assert!(path.is_file(), "{} does not exist", path.display());
    let config = format!(
        "library: false\nprobes: [{path:?}]\n\
         targets:\n  - name: web\n    url: {url}\n{target_extra}\
         limits: {{per_target_rps: 1000, per_target_concurrency: 16}}\n",
        path = path.display().to_string(),
    );
    let dir = workspace(&[("picket.yaml", &config)]);
    picket::load::load(&dir.path().join("picket.yaml"), &|_: &str| None)
        .unwrap_or_else(|d| panic!("{probe}: config does not load:\n{d}"))
}

/// Runs the shipped `probe` once against `url` in-process, with `target_extra` added under the
/// target (see [`load_one_with`]).
async fn run_shipped_with(probe: &str, url: &str, target_extra: &str) -> Outcome {
    let loaded = load_one_with(probe, url, target_extra);
    let plan = picket::plan::plan(&loaded);
    assert_eq!(
        plan.series.len(),
        1,
        "{probe}: expected one series for target `web`, skipped: {:?}",
        plan.skipped
    );
    picket::crypto::install_crypto_provider();
    let runner = picket::run::Runner::new(&loaded.config).unwrap();
    runner.run(&plan.series[0]).await.outcome
}

/// Starts a server with `handler`, runs `probe` against it, returns the outcome and what the
/// server saw.
async fn probe_against<F>(probe: &str, handler: F) -> (Outcome, Vec<Seen>)
where
    F: Fn(Seen) -> Response + Clone + Send + Sync + 'static,
{
    probe_against_with(probe, "", handler).await
}

/// Like [`probe_against`], with `target_extra` added under the target (see [`load_one_with`]).
async fn probe_against_with<F>(probe: &str, target_extra: &str, handler: F) -> (Outcome, Vec<Seen>)
where
    F: Fn(Seen) -> Response + Clone + Send + Sync + 'static,
{
    let server = TestServer::start(handler).await;
    let outcome = run_shipped_with(probe, &server.url(), target_extra).await;
    (outcome, server.seen())
}

/// Every field of every finding, for assertion messages.
fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "\n  check: {}\n  expected: {}\n  observed: {}",
                f.check, f.expected, f.observed
            )
        })
        .collect()
}

#[track_caller]
fn expect_pass(what: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Pass => {}
        Outcome::Fail(f) => panic!("{what}: expected pass, got fail:{}", show(f)),
        Outcome::Error(e) => panic!("{what}: expected pass, got error: {e}"),
        Outcome::Skip(r) => panic!("{what}: expected pass, got skip: {r}"),
    }
}

/// The reason of a skipped run.
#[track_caller]
fn expect_skip(what: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Skip(reason) => reason.clone(),
        Outcome::Fail(f) => panic!("{what}: expected skip, got fail:{}", show(f)),
        other => panic!("{what}: expected skip, got {other:?}"),
    }
}

/// The findings of a failed run; each of `observed` must appear in some finding's `observed`.
#[track_caller]
fn expect_fail(what: &str, outcome: &Outcome, observed: &[&str]) -> Vec<Finding> {
    let findings = match outcome {
        Outcome::Fail(f) => f.clone(),
        Outcome::Pass => panic!("{what}: expected fail, got pass"),
        Outcome::Error(e) => panic!("{what}: expected fail, got error: {e}"),
        Outcome::Skip(r) => panic!("{what}: expected fail, got skip: {r}"),
    };
    for needle in observed {
        assert!(
            findings.iter().any(|f| f.observed.contains(needle)),
            "{what}: no finding observed {needle:?}:{}",
            show(&findings)
        );
    }
    findings
}

/// A handler that serves `body` with `content_type` at exactly `path_and_query`, 404 elsewhere.
fn serve_at(
    path_and_query: &'static str,
    status: u16,
    content_type: &'static str,
    body: &'static str,
) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| {
        if seen.path_and_query == path_and_query {
            respond(status, &[("content-type", content_type)], body)
        } else {
            respond(404, &[("content-type", TEXT)], "not found")
        }
    }
}

/// The soft-404 twin: 200 and the HTML shell for every method and path.
fn soft_404(_: Seen) -> Response {
    respond(200, &[("content-type", HTML)], SHELL)
}

/// Every path except `/login` redirects there with 302; `/login` itself answers 200 with
/// `content_type` and `body` (the vulnerable content), so following the redirect would fail.
fn redirect_to_login(
    content_type: &'static str,
    body: &'static str,
) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| {
        if seen.path_and_query == "/login" {
            respond(200, &[("content-type", content_type)], body)
        } else {
            respond(302, &[("location", "/login")], "")
        }
    }
}

/// A server that answers `/` with 200 and these headers, and 404 elsewhere.
async fn headers_probe(probe: &str, headers: &'static [(&'static str, &'static str)]) -> Outcome {
    let handler = move |seen: Seen| {
        if seen.path_and_query == "/" {
            let mut all = vec![("content-type", HTML)];
            all.extend_from_slice(headers);
            respond(200, &all, SHELL)
        } else {
            respond(404, &[], "")
        }
    };
    probe_against(probe, handler).await.0
}

// ---------------------------------------------------------------------------------------------
// The library as a whole
// ---------------------------------------------------------------------------------------------

/// Every probe id the tests below exercise, with the severity PROBES.md gives it.
const COVERED: &[(&str, &str)] = &[
    // The `tcp` probes' behaviour tests are in tcp.rs (they need raw sockets, not HTTP).
    ("network/port-closed", "high"),
    ("network/plaintext-closed", "medium"),
    // The `software` probes' tests are in software_eol.rs and software_real.rs (real nginx,
    // Apache, Python, sshd and Redis, and a table of headers and banners).
    ("software/end-of-life", "high"),
    ("software/end-of-life-banner", "high"),
    // The `tls` probes' tests are in tls.rs (real openssl s_server and gnutls-serv).
    ("tls/legacy-protocols", "high"),
    ("tls/weak-ciphers", "critical"),
    ("tls/certificate-trust", "critical"),
    ("tls/certificate-hostname", "high"),
    ("tls/certificate-expiry", "critical"),
    ("tls/weak-key-or-signature", "medium"),
    ("tls/mtls-required", "high"),
    ("disclosure/security-txt", "info"),
    ("exposure/dotenv", "critical"),
    ("exposure/git", "high"),
    ("exposure/pprof", "medium"),
    ("exposure/server-status", "low"),
    // Graded per path: env high, heap dump critical.
    ("exposure/spring-actuator", "critical"),
    ("headers/clickjacking", "medium"),
    ("headers/hsts", "medium"),
    ("headers/nosniff", "low"),
    ("headers/referrer-policy", "low"),
    ("headers/version-disclosure", "low"),
    ("methods/trace", "low"),
    ("cors/credentialed-reflection", "high"),
    ("cors/credentialed-reflection-null", "high"),
    ("cors/credentialed-reflection-preflight", "high"),
    ("cors/credentialed-reflection-preflight-null", "high"),
    ("redirect/open-redirect", "medium"),
    ("auth/required", "high"),
    ("auth/required-garbage-token", "high"),
    ("auth/jwt-alg-none", "critical"),
    ("exposure/directory-listing", "medium"),
    ("transport/https-redirect", "medium"),
    ("exposure/api-docs", "info"),
    ("headers/csp", "medium"),
    ("headers/csp-unsafe-inline", "low"),
    // Graded by cookie name; the probe declares its most severe grade.
    ("cookies/flags", "high"),
    ("cookies/flags-http", "medium"),
    ("cookies/prefixes", "low"),
];

fn probe_files() -> Vec<PathBuf> {
    let listing = picket::files::yaml_files(&repo_root().join("probes")).unwrap();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert!(!listing.files.is_empty(), "no probe files under probes/");
    listing.files
}

#[test]
fn every_shipped_probe_loads_with_references_and_severity() {
    let defaults = picket::config::Defaults::default();
    for file in probe_files() {
        let probes = picket::load::load_probe_paths(std::slice::from_ref(&file), &defaults)
            .unwrap_or_else(|d| panic!("{} does not load:\n{d}", file.display()));
        assert_eq!(probes.len(), 1, "{}", file.display());
        let p = &probes[0];
        assert!(
            !p.references.is_empty(),
            "{} ({}) has no references",
            p.id,
            file.display()
        );
        for r in &p.references {
            assert!(
                r.starts_with("https://"),
                "{}: reference {r:?} is not an https URL",
                p.id
            );
        }
        assert!(!p.severity.as_str().is_empty(), "{}: no severity", p.id);
        assert!(check_count(&p.kind) > 0, "{}: no checks", p.id);
    }
    // And all together: ids are unique across the library.
    let all = picket::load::load_probe_paths(&[repo_root().join("probes")], &defaults)
        .unwrap_or_else(|d| panic!("probes/ does not load as a whole:\n{d}"));
    assert_eq!(all.len(), probe_files().len());
}

/// Severities follow PROBES.md, and every shipped probe has behaviour tests in this file (a
/// new probe file should come with its pass/fail/soft-404 cases here).
#[test]
fn shipped_probes_are_all_covered_with_documented_severity() {
    let all = picket::load::load_probe_paths(
        &[repo_root().join("probes")],
        &picket::config::Defaults::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    for p in &all {
        let Some((_, severity)) = COVERED.iter().find(|(id, _)| *id == p.id) else {
            panic!(
                "probe {} ({}) has no tests in tests/it/probes.rs",
                p.id,
                p.source.display()
            );
        };
        assert_eq!(p.severity.as_str(), *severity, "{}: severity", p.id);
    }
    for (id, _) in COVERED {
        assert!(
            all.iter().any(|p| p.id == *id),
            "tested probe {id} is no longer shipped"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// headers/hsts
// ---------------------------------------------------------------------------------------------

#[test]
fn hsts_selects_only_https_targets() {
    let http = load_one("headers/hsts", "http://127.0.0.1:9");
    let plan = picket::plan::plan(&http);
    assert!(
        plan.series.is_empty(),
        "hsts planned for an http target: {:?}",
        plan.series.iter().map(|s| &s.key).collect::<Vec<_>>()
    );
    // The pair is listed as skipped, with the probe's scheme filter as the reason.
    let reasons: Vec<String> = plan.skipped.iter().map(|s| s.reason.to_string()).collect();
    assert_eq!(reasons, ["targets: schemes [https]; target is http://"]);

    // Loading and planning make no request, so an unreachable https URL is fine here.
    let https = load_one("headers/hsts", "https://127.0.0.1:9");
    let plan = picket::plan::plan(&https);
    assert_eq!(plan.series.len(), 1);
    assert_eq!(plan.series[0].key, "headers/hsts@web");
}

fn hsts_checks() -> Vec<picket::check::Graded<picket::check::http::Check>> {
    shipped_checks("headers/hsts")
}

/// The checks of the shipped `probe`, for evaluation on hand-built responses.
fn shipped_checks(probe: &str) -> Vec<picket::check::Graded<picket::check::http::Check>> {
    let probes =
        picket::load::load_probe_paths(&[shipped(probe)], &picket::config::Defaults::default())
            .unwrap_or_else(|d| panic!("{d}"));
    http_checks(&probes[0].kind)
}

/// The checks of an `http` probe, of all its exchanges (none for other kinds, whose checks
/// have their own types).
pub fn http_checks(
    kind: &picket::probe::Kind,
) -> Vec<picket::check::Graded<picket::check::http::Check>> {
    match kind {
        picket::probe::Kind::Http(h) => h.exchanges.iter().flat_map(|e| e.checks.clone()).collect(),
        picket::probe::Kind::Tcp(_) | picket::probe::Kind::Tls(_) => Vec::new(),
    }
}

/// How many checks a probe has, whatever its kind.
fn check_count(kind: &picket::probe::Kind) -> usize {
    match kind {
        picket::probe::Kind::Http(h) => h.exchanges.iter().map(|e| e.checks.len()).sum(),
        picket::probe::Kind::Tcp(t) => t.checks.len(),
        picket::probe::Kind::Tls(t) => t.checks.len(),
    }
}

fn response_with(headers: &[(&str, &str)]) -> picket::check::http::Response {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    picket::check::http::Response {
        status: StatusCode::OK,
        headers: map,
        body: SHELL.as_bytes().to_vec(),
        truncated: false,
        elapsed: Duration::from_millis(1),
        url: url::Url::parse("http://127.0.0.1:8080/").unwrap(),
    }
}

#[test]
fn hsts_header_values() {
    const STS: &str = "strict-transport-security";
    // (values of the header, in order; None = pass, Some(observed) = fail mentioning it)
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["max-age=31536000"], None),
        (&["max-age=15552000"], None),
        (&["max-age=31536000; includeSubDomains"], None),
        (&["max-age=31536000; includeSubDomains; preload"], None),
        (&["includeSubDomains; max-age=31536000"], None),
        (&["Max-Age=\"31536000\";includesubdomains"], None),
        (&["max-age=300"], Some("300")),
        (&["max-age=15551999"], Some("15551999")),
        (&["max-age=0"], Some("0")),
        (&[], Some("Strict-Transport-Security not sent")),
        // Sent twice: the combined value "a, b" is not one directive list.
        (
            &["max-age=31536000", "max-age=31536000"],
            Some("max-age=31536000, max-age=31536000"),
        ),
        (&["garbage"], Some("garbage")),
        (&["max-age=abc"], Some("max-age=abc")),
        (&["max-age"], Some("(no number found)")),
        (
            &["max-age=31536000 includeSubDomains"],
            Some("(no number found)"),
        ),
    ];
    let checks = hsts_checks();
    for (values, fail) in cases {
        let headers: Vec<(&str, &str)> = values.iter().map(|v| (STS, *v)).collect();
        let findings =
            picket::check::http::evaluate(&checks, &response_with(&headers), &Default::default())
                .findings;
        match fail {
            None => assert!(findings.is_empty(), "{values:?}: {}", show(&findings)),
            Some(observed) => {
                // A header sent twice breaks two properties (one list, one max-age): two findings.
                assert!(!findings.is_empty(), "{values:?}: no finding");
                assert!(
                    findings.iter().any(|f| f.observed.contains(observed)),
                    "{values:?}: observed should mention {observed:?}: {}",
                    show(&findings)
                );
            }
        }
    }
}

/// RFC 6797 §6.1: "All directives MUST appear only once in an STS header field"; a header with
/// `max-age` twice is not a valid policy ("unparsable" in PROBES.md). The probe's regex lets
/// the leading directive list swallow the first `max-age`, captures the second, and passes.
#[test]
fn hsts_duplicate_max_age_directive_fails() {
    let findings = picket::check::http::evaluate(
        &hsts_checks(),
        &response_with(&[("strict-transport-security", "max-age=0; max-age=31536000")]),
        &Default::default(),
    )
    .findings;
    assert!(!findings.is_empty(), "duplicate max-age passed");
}

// ---------------------------------------------------------------------------------------------
// headers/clickjacking, nosniff, referrer-policy, version-disclosure
// ---------------------------------------------------------------------------------------------

/// One header-probe case: the headers `/` sends, and `None` (pass) or the text a finding
/// must have observed.
type HeaderCase = (
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

async fn header_table(probe: &str, cases: &[HeaderCase]) {
    for (headers, fail) in cases {
        let outcome = headers_probe(probe, headers).await;
        let what = format!("{probe} with {headers:?}");
        match fail {
            None => expect_pass(&what, &outcome),
            Some(observed) => {
                expect_fail(&what, &outcome, &[observed]);
            }
        }
    }
}

#[tokio::test]
async fn clickjacking() {
    header_table(
        "headers/clickjacking",
        &[
            // Only CSP frame-ancestors.
            (
                &[("content-security-policy", "frame-ancestors 'none'")],
                None,
            ),
            (
                &[(
                    "content-security-policy",
                    "default-src 'self'; frame-ancestors 'self'",
                )],
                None,
            ),
            // Only X-Frame-Options.
            (&[("x-frame-options", "DENY")], None),
            (&[("x-frame-options", "SAMEORIGIN")], None),
            (&[("x-frame-options", "deny")], None),
            // Both.
            (
                &[
                    ("content-security-policy", "frame-ancestors 'none'"),
                    ("x-frame-options", "DENY"),
                ],
                None,
            ),
            // Neither.
            (&[], Some("no Content-Security-Policy")),
            (
                &[("content-security-policy", "default-src 'self'")],
                Some("default-src 'self'"),
            ),
            // Report-only CSP does not restrict framing.
            (
                &[(
                    "content-security-policy-report-only",
                    "frame-ancestors 'none'",
                )],
                Some("no Content-Security-Policy"),
            ),
            // The same X-Frame-Options twice is harmless; two different values are not.
            (
                &[("x-frame-options", "DENY"), ("x-frame-options", "DENY")],
                None,
            ),
            (&[("x-frame-options", "DENY, deny")], None),
            (
                &[
                    ("x-frame-options", "DENY"),
                    ("x-frame-options", "SAMEORIGIN"),
                ],
                Some("DENY, SAMEORIGIN"),
            ),
            // frame-ancestors that let anyone frame the page.
            (
                &[("content-security-policy", "frame-ancestors *")],
                Some("\"frame-ancestors *\" lets any site frame the page"),
            ),
            (
                &[("content-security-policy", "frame-ancestors https:")],
                Some("lets any site"),
            ),
            (
                &[("content-security-policy", "frame-ancestors 'self' http:")],
                Some("lets any site"),
            ),
            (
                &[("content-security-policy", "frame-ancestors *:")],
                Some("lets any site"),
            ),
            // Explicit hosts restrict it.
            (
                &[(
                    "content-security-policy",
                    "frame-ancestors 'self' https://app.example *.example.com",
                )],
                None,
            ),
            // With frame-ancestors in a policy, browsers ignore X-Frame-Options.
            (
                &[
                    ("content-security-policy", "frame-ancestors *"),
                    ("x-frame-options", "DENY"),
                ],
                Some("lets any site"),
            ),
            (
                &[
                    ("content-security-policy", "frame-ancestors 'none'"),
                    ("x-frame-options", "ALLOWALL"),
                ],
                None,
            ),
            // X-Frame-Options: a value browsers ignore.
            (
                &[("x-frame-options", "ALLOW-FROM https://x.example")],
                Some("ALLOW-FROM https://x.example"),
            ),
            (&[("x-frame-options", "ALLOWALL")], Some("ALLOWALL")),
        ],
    )
    .await;
}

/// Two `Content-Security-Policy` headers are two policies, each enforced (CSP3: a repeated
/// header is a list of policies); the second restricts framing, so the page is protected. The
/// probe sees the combined value
/// `default-src 'self', frame-ancestors 'none'`, where `frame-ancestors` follows `, ` rather
/// than `;` or the start, and fails.
#[tokio::test]
async fn clickjacking_frame_ancestors_in_second_csp_header_passes() {
    header_table(
        "headers/clickjacking",
        &[(
            &[
                ("content-security-policy", "default-src 'self'"),
                ("content-security-policy", "frame-ancestors 'none'"),
            ],
            None,
        )],
    )
    .await;
}

#[tokio::test]
async fn nosniff() {
    header_table(
        "headers/nosniff",
        &[
            (&[("x-content-type-options", "nosniff")], None),
            (&[("x-content-type-options", "NoSniff")], None),
            (&[], Some("X-Content-Type-Options not sent")),
            (&[("x-content-type-options", "sniff")], Some("sniff")),
            (
                &[("x-content-type-options", "nosniff; mode=block")],
                Some("nosniff; mode=block"),
            ),
            (
                &[
                    ("x-content-type-options", "nosniff"),
                    ("x-content-type-options", "nosniff"),
                ],
                Some("nosniff, nosniff"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn referrer_policy() {
    header_table(
        "headers/referrer-policy",
        &[
            // Absent: browsers default to strict-origin-when-cross-origin.
            (&[], None),
            (&[("referrer-policy", "no-referrer")], None),
            (&[("referrer-policy", "same-origin")], None),
            (&[("referrer-policy", "strict-origin")], None),
            (
                &[("referrer-policy", "strict-origin-when-cross-origin")],
                None,
            ),
            (
                &[(
                    "referrer-policy",
                    "no-referrer, strict-origin-when-cross-origin",
                )],
                None,
            ),
            // The last token is the effective one.
            (&[("referrer-policy", "unsafe-url, strict-origin")], None),
            (&[("referrer-policy", "unsafe-url")], Some("unsafe-url")),
            (&[("referrer-policy", "UNSAFE-URL")], Some("UNSAFE-URL")),
            (&[("referrer-policy", "origin")], Some("origin")),
            (
                &[("referrer-policy", "origin-when-cross-origin")],
                Some("origin-when-cross-origin"),
            ),
            (
                &[("referrer-policy", "no-referrer-when-downgrade")],
                Some("no-referrer-when-downgrade"),
            ),
            (
                &[("referrer-policy", "no-referrer, unsafe-url")],
                Some("unsafe-url"),
            ),
            // Sent twice: the second header's policy wins.
            (
                &[
                    ("referrer-policy", "no-referrer"),
                    ("referrer-policy", "unsafe-url"),
                ],
                Some("no-referrer, unsafe-url"),
            ),
        ],
    )
    .await;
}

/// The Referrer Policy spec takes the last token that *is a policy*; unknown tokens are
/// skipped. `unsafe-url, x-future-policy` is therefore `unsafe-url` in every browser, and
/// `no-referrer, x-future-policy` is `no-referrer`.
#[tokio::test]
async fn referrer_policy_unknown_last_token_is_skipped() {
    header_table(
        "headers/referrer-policy",
        &[
            (
                &[("referrer-policy", "unsafe-url, x-future-policy")],
                Some("Referrer-Policy: unsafe-url (the last recognised token of \"unsafe-url, x-future-policy\")"),
            ),
            (&[("referrer-policy", "unsafe-url, foo")], Some("unsafe-url")),
            (&[("referrer-policy", "no-referrer, foo")], None),
            (&[("referrer-policy", "no-referrer, x-future-policy")], None),
            // Only unknown tokens: the browser default applies.
            (&[("referrer-policy", "foo, bar")], None),
            (
                &[("referrer-policy", "origin, strict-origin, ORIGIN, foo")],
                Some("ORIGIN"),
            ),
        ],
    )
    .await;
    // The soft-404 twin sends no Referrer-Policy: the default is safe.
    let (outcome, _) = probe_against("headers/referrer-policy", soft_404).await;
    expect_pass("referrer-policy on the soft-404 shell", &outcome);
}

#[tokio::test]
async fn version_disclosure() {
    header_table(
        "headers/version-disclosure",
        &[
            (&[], None),
            (&[("server", "nginx")], None),
            (&[("server", "Apache")], None),
            (&[("server", "nginx/1.18.0")], Some("nginx/1.18.0")),
            (
                &[("server", "Apache/2.4.57 (Debian)")],
                Some("Apache/2.4.57 (Debian)"),
            ),
            (
                &[("server", "Microsoft-IIS/10.0")],
                Some("Microsoft-IIS/10.0"),
            ),
            (&[("x-powered-by", "Express")], Some("Express")),
            (&[("x-powered-by", "PHP/8.2.7")], Some("PHP/8.2.7")),
            (&[("x-aspnet-version", "4.0.30319")], Some("4.0.30319")),
            (
                &[("server", "nginx"), ("x-powered-by", "Next.js")],
                Some("Next.js"),
            ),
        ],
    )
    .await;
}

/// Header probes judge the final response of the base URL: same-origin redirects from `/`
/// are followed, and the headers of the redirect itself do not count.
#[tokio::test]
async fn header_probes_judge_the_final_response() {
    let handler = |seen: Seen| match seen.path_and_query.as_str() {
        "/" => respond(
            302,
            &[
                ("location", "/home"),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
            ],
            "",
        ),
        "/home" => respond(
            200,
            &[
                ("content-type", HTML),
                ("server", "nginx/1.18.0"),
                ("referrer-policy", "unsafe-url"),
            ],
            SHELL,
        ),
        _ => respond(404, &[], ""),
    };
    for (probe, observed) in [
        ("headers/nosniff", "X-Content-Type-Options not sent"),
        ("headers/clickjacking", "no Content-Security-Policy"),
        ("headers/version-disclosure", "nginx/1.18.0"),
        ("headers/referrer-policy", "unsafe-url"),
    ] {
        let (outcome, seen) = probe_against(probe, handler).await;
        expect_fail(probe, &outcome, &[observed]);
        assert!(
            seen.iter().any(|s| s.path_and_query == "/home"),
            "{probe} did not follow the redirect"
        );
    }

    let good = |seen: Seen| match seen.path_and_query.as_str() {
        "/" => respond(302, &[("location", "/home")], ""),
        _ => respond(
            200,
            &[
                ("content-type", HTML),
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
            ],
            SHELL,
        ),
    };
    for probe in ["headers/nosniff", "headers/clickjacking"] {
        let (outcome, _) = probe_against(probe, good).await;
        expect_pass(probe, &outcome);
    }
}

// ---------------------------------------------------------------------------------------------
// Exposure probes
// ---------------------------------------------------------------------------------------------

/// Content that an exposure probe must report when served at `path` with 200.
struct Exposed {
    probe: &'static str,
    /// Path and query the probe requests.
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// Text the findings' `observed` must contain.
    observed: &'static [&'static str],
}

const GIT_CONFIG: &str = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\
     \tlogallrefupdates = true\n[remote \"origin\"]\n\turl = https://git.example/shop.git\n\
     \tfetch = +refs/heads/*:refs/remotes/origin/*\n";
const DOTENV: &str = "APP_ENV=production\nDB_HOST=10.0.0.5\nDB_PASSWORD=hunter2\n";
const PPROF_HEAP: &str = "heap profile: 3: 2048 [10: 40960] @ heap/1048576\n\
     1: 1024 [1: 1024] @ 0x4a1b2c 0x4a3d4e 0x46f0a1\n\n# runtime.MemStats\n# Alloc = 1234567\n";
const APACHE_STATUS: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html><head>\n\
     <title>Apache Status</title>\n</head><body>\n\
     <h1>Apache Server Status for shop.example (via 10.0.0.5)</h1>\n\
     <dl><dt>Server Version: Apache/2.4.57 (Debian)</dt>\n";
const APACHE_INFO: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html><head>\n\
     <title>Server Information</title>\n</head><body>\n\
     <h1 style=\"text-align: center\">Apache Server Information</h1>\n";
const NGINX_STUB: &str = "Active connections: 291 \nserver accepts handled requests\n \
     16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n";
/// phpinfo() as PHP 5 printed it: `<title>phpinfo()</title>`.
const PHPINFO_5: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \
     \"DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head>\n\
     <title>phpinfo()</title><meta name=\"ROBOTS\" content=\"NOINDEX,NOFOLLOW,NOARCHIVE\" /></head>\n\
     <body><div class=\"center\">\n<h1 class=\"p\">PHP Version 5.6.40</h1>\n";
const ACTUATOR_ENV: &str = "{\"activeProfiles\":[\"prod\"],\"propertySources\":[{\"name\":\"server.ports\",\
     \"properties\":{\"local.server.port\":{\"value\":8080}}},{\"name\":\"systemEnvironment\",\
     \"properties\":{\"DB_PASSWORD\":{\"value\":\"******\"}}}]}";
const ACTUATOR_JSON: &str = "application/vnd.spring-boot.actuator.v3+json";

fn exposed() -> Vec<Exposed> {
    let e = |probe, path, content_type, body, observed| Exposed {
        probe,
        path,
        content_type,
        body,
        observed,
    };
    vec![
        e(
            "exposure/git",
            "/.git/config",
            TEXT,
            GIT_CONFIG,
            &["[core]", "status 200"],
        ),
        e("exposure/dotenv", "/.env", TEXT, DOTENV, &["DB_PASSWORD="]),
        e(
            "exposure/dotenv",
            "/.env.local",
            "application/octet-stream",
            "GITHUB_TOKEN = ghp_0123456789\n",
            &["GITHUB_TOKEN ="],
        ),
        e(
            "exposure/dotenv",
            "/.env.production",
            TEXT,
            "# prod\nSTRIPE_SECRET_KEY=sk_live_0123\n",
            &["STRIPE_SECRET_KEY="],
        ),
        e(
            "exposure/dotenv",
            "/.env.backup",
            TEXT,
            "  api_key=abc123\n",
            &["api_key="],
        ),
        e(
            "exposure/dotenv",
            "/api/.env",
            TEXT,
            "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI\n",
            &["AWS_SECRET_ACCESS_KEY="],
        ),
        e(
            "exposure/pprof",
            "/debug/pprof/heap?debug=1",
            TEXT,
            PPROF_HEAP,
            &["heap profile:", "text/plain"],
        ),
        e(
            "exposure/server-status",
            "/server-status",
            HTML,
            APACHE_STATUS,
            &["Apache Server Status for"],
        ),
        e(
            "exposure/server-status",
            "/server-info",
            HTML,
            APACHE_INFO,
            &["Apache Server Information"],
        ),
        e(
            "exposure/server-status",
            "/nginx_status",
            TEXT,
            NGINX_STUB,
            &["Active connections: 291"],
        ),
        e(
            "exposure/server-status",
            "/stub_status",
            TEXT,
            NGINX_STUB,
            &["server accepts handled requests"],
        ),
        e(
            "exposure/server-status",
            "/phpinfo.php",
            HTML,
            PHPINFO_5,
            &["<title>phpinfo()</title>"],
        ),
        e(
            "exposure/server-status",
            "/info.php",
            HTML,
            PHPINFO_5,
            &["<title>phpinfo()</title>"],
        ),
        e(
            "exposure/spring-actuator",
            "/actuator/env",
            ACTUATOR_JSON,
            ACTUATOR_ENV,
            &["activeProfiles", "propertySources"],
        ),
        e(
            "exposure/spring-actuator",
            "/env",
            "application/json",
            ACTUATOR_ENV,
            &["activeProfiles"],
        ),
        e(
            "exposure/spring-actuator",
            "/actuator/heapdump",
            "application/octet-stream",
            "JAVA PROFILE 1.0.2\0\0\0\0\x08\0\0\x01\x7f",
            &["JAVA PROFILE 1.0.2"],
        ),
        e(
            "exposure/spring-actuator",
            "/heapdump",
            "application/octet-stream",
            "JAVA PROFILE 1.0.1\0\0\0\0\x08",
            &["JAVA PROFILE 1.0.1"],
        ),
    ]
}

/// Number of paths each exposure probe requests (one request per path, every run).
fn exposure_paths(probe: &str) -> usize {
    let probes =
        picket::load::load_probe_paths(&[shipped(probe)], &picket::config::Defaults::default())
            .unwrap_or_else(|d| panic!("{d}"));
    probes[0].kind.as_http().unwrap().exchanges[0]
        .request
        .paths
        .len()
}

#[tokio::test]
async fn exposure_content_fails_and_findings_say_what_was_seen() {
    for case in exposed() {
        let what = format!("{} with {} exposed", case.probe, case.path);
        let (outcome, seen) = probe_against(
            case.probe,
            serve_at(case.path, 200, case.content_type, case.body),
        )
        .await;
        let findings = expect_fail(&what, &outcome, case.observed);
        assert_eq!(findings.len(), 1, "{what}:{}", show(&findings));
        if exposure_paths(case.probe) > 1 {
            // Several paths: the finding names the one that leaked.
            let prefix = format!("GET {}: ", case.path);
            assert!(
                findings[0].check.starts_with(&prefix),
                "{what}: check should start with {prefix:?}:{}",
                show(&findings)
            );
        }
        assert!(
            seen.iter().any(|s| s.path_and_query == case.path),
            "{what}: {} was never requested; saw {:?}",
            case.path,
            seen.iter().map(|s| &s.path_and_query).collect::<Vec<_>>()
        );
        assert!(seen.iter().all(|s| s.method == Method::GET), "{what}");
    }
}

/// The same content with a status other than 200 is not an exposure.
#[tokio::test]
async fn exposure_content_with_other_status_passes() {
    for case in exposed() {
        for status in [403, 404, 500] {
            let what = format!("{} with {} answering {status}", case.probe, case.path);
            let (outcome, _) = probe_against(
                case.probe,
                serve_at(case.path, status, case.content_type, case.body),
            )
            .await;
            expect_pass(&what, &outcome);
        }
    }
}

const EXPOSURE_PROBES: &[&str] = &[
    "exposure/dotenv",
    "exposure/git",
    "exposure/pprof",
    "exposure/server-status",
    "exposure/spring-actuator",
];

#[tokio::test]
async fn exposure_probes_pass_on_a_correct_server() {
    for probe in EXPOSURE_PROBES {
        let (outcome, seen) =
            probe_against(probe, |_| respond(404, &[("content-type", TEXT)], "")).await;
        expect_pass(probe, &outcome);
        assert_eq!(seen.len(), exposure_paths(probe), "{probe}: requests");
    }
}

#[tokio::test]
async fn exposure_probes_pass_on_the_soft_404_twin() {
    for probe in EXPOSURE_PROBES {
        let (outcome, seen) = probe_against(probe, soft_404).await;
        expect_pass(&format!("{probe} on the soft-404 shell"), &outcome);
        assert_eq!(seen.len(), exposure_paths(probe), "{probe}: requests");
    }
}

/// A 302 to `/login` is not an exposure, and is not followed: here `/login` itself serves the
/// leaked content, so a probe that followed the redirect would fail.
#[tokio::test]
async fn exposure_probes_do_not_follow_redirects() {
    for case in exposed() {
        let what = format!("{} with every path redirecting to /login", case.probe);
        let (outcome, seen) =
            probe_against(case.probe, redirect_to_login(case.content_type, case.body)).await;
        expect_pass(&what, &outcome);
        assert!(
            seen.iter().all(|s| s.path_and_query != "/login"),
            "{what}: the redirect was followed"
        );
    }
}

/// Look-alikes that are not the real thing: the markers inside an HTML page (a docs page, a
/// soft 404 echoing the path), or the right text with the wrong content type.
#[tokio::test]
async fn exposure_look_alikes_pass() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // .git/config markers inside an HTML page.
        (
            "exposure/git",
            "/.git/config",
            HTML,
            "<html><body><pre>[core]\n\trepositoryformatversion = 0\n</pre></body></html>",
        ),
        (
            "exposure/git",
            "/.git/config",
            TEXT,
            "<!DOCTYPE html>\n<HTML><body>How to set [core] options</body></HTML>",
        ),
        // A 200 text file at .git/config without a [core] section.
        ("exposure/git", "/.git/config", TEXT, "Not Found\n"),
        // `.env` that is an HTML page mentioning a secret-looking line.
        (
            "exposure/dotenv",
            "/.env",
            HTML,
            "<html><body>\nDB_PASSWORD=see the docs\n</body></html>",
        ),
        // A real `.env` without anything secret-named.
        (
            "exposure/dotenv",
            "/.env",
            TEXT,
            "APP_ENV=production\nDEBUG=false\nLOG_LEVEL=info\n",
        ),
        // pprof text served as HTML (e.g. a wiki page quoting it) or with no content type.
        (
            "exposure/pprof",
            "/debug/pprof/heap?debug=1",
            HTML,
            PPROF_HEAP,
        ),
        (
            "exposure/pprof",
            "/debug/pprof/heap?debug=1",
            "application/octet-stream",
            PPROF_HEAP,
        ),
        // pprof index page without a heap profile.
        (
            "exposure/pprof",
            "/debug/pprof/heap?debug=1",
            TEXT,
            "404 page not found\n",
        ),
        // A status page that is not one (soft-404 echoing the path).
        (
            "exposure/server-status",
            "/server-status",
            HTML,
            "<html><body>No page at /server-status</body></html>",
        ),
        // Actuator health is fine; only env markers count.
        (
            "exposure/spring-actuator",
            "/actuator/env",
            "application/json",
            "{\"status\":\"UP\"}",
        ),
        (
            "exposure/spring-actuator",
            "/actuator/env",
            "application/json",
            "{\"activeProfiles\":[\"prod\"]}",
        ),
    ];
    for (probe, path, content_type, body) in cases {
        let what = format!("{probe} with {content_type} {body:?} at {path}");
        let (outcome, _) = probe_against(probe, serve_at(path, 200, content_type, body)).await;
        expect_pass(&what, &outcome);
    }
}

/// phpinfo() in current PHP (7.x and 8.x) titles the page `<title>PHP 8.2.7 - phpinfo()</title>`
/// and puts "PHP Version 8.2.7" and "PHP License" on different lines, so neither of the
/// probe's phpinfo markers (`<title>phpinfo\(\)</title>`, `PHP Version \d+\.\d+.*PHP License`
/// without `(?s)`) matches: a served phpinfo page passes.
#[tokio::test]
async fn server_status_detects_current_phpinfo() {
    const PHPINFO_8: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \
         \"DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head>\n\
         <style type=\"text/css\">\nbody {background-color: #fff; color: #222;}\n</style>\n\
         <title>PHP 8.2.7 - phpinfo()</title><meta name=\"ROBOTS\" content=\"NOINDEX,NOFOLLOW,NOARCHIVE\" /></head>\n\
         <body><div class=\"center\">\n<table>\n<tr class=\"h\"><td>\n\
         <a href=\"http://www.php.net/\"><img border=\"0\" src=\"data:image/png;base64,AAAA\" alt=\"PHP logo\" /></a>\
         <h1 class=\"p\">PHP Version 8.2.7</h1>\n</td></tr>\n</table>\n<table>\n\
         <tr><td class=\"e\">System </td><td class=\"v\">Linux web01 5.15.0 x86_64 </td></tr>\n\
         <tr><td class=\"e\">Server API </td><td class=\"v\">FPM/FastCGI </td></tr>\n</table>\n\
         <h2>PHP License</h2>\n<table>\n<tr class=\"v\"><td>\n<p>\n\
         This program is free software; you can redistribute it and/or modify it under the terms of the PHP License as published by the PHP Group and included in the distribution in the file:  LICENSE\n\
         </p>\n</td></tr>\n</table>\n</div></body></html>";
    let (outcome, _) = probe_against(
        "exposure/server-status",
        serve_at("/phpinfo.php", 200, HTML, PHPINFO_8),
    )
    .await;
    expect_fail("phpinfo() of PHP 8.2.7", &outcome, &["phpinfo()"]);
}

/// Spring Boot 1.x serves `/env` as `{"profiles":[...],"server.ports":{...},...}`: neither
/// `"activeProfiles"` nor `"propertySources"` appears, so the probe's `/env` path can only
/// catch a Boot 2+ actuator mapped at the root. nuclei springboot-env (the cited source)
/// matches `applicationConfig` or `activeProfiles` together with `server.port`.
#[tokio::test]
async fn spring_actuator_env_detects_boot_1_env() {
    let (outcome, _) = probe_against(
        "exposure/spring-actuator",
        serve_at(
            "/env",
            200,
            "application/vnd.spring-boot.actuator.v1+json",
            "{\"profiles\":[],\"server.ports\":{\"local.server.port\":8080},\
             \"applicationConfig: [classpath:/application.properties]\":\
             {\"spring.datasource.password\":\"******\"},\"systemEnvironment\":{\"PATH\":\"/usr/bin\"}}",
        ),
    )
    .await;
    expect_fail("Spring Boot 1.x /env", &outcome, &["applicationConfig"]);
}

/// One probe, graded per path by what it finds: an env document is a high finding, a heap
/// dump a critical one, each naming its path; a run with both counts as critical.
#[tokio::test]
async fn spring_actuator_grades_env_high_and_heapdump_critical() {
    use picket::units::Severity;
    const HPROF: &str = "JAVA PROFILE 1.0.2\0\0\0\0\x08\0\0\x01\x7f";
    let handler = |env: bool, heapdump: bool| {
        move |seen: Seen| match seen.path_and_query.as_str() {
            "/actuator/env" if env => {
                respond(200, &[("content-type", ACTUATOR_JSON)], ACTUATOR_ENV)
            }
            "/actuator/heapdump" if heapdump => {
                respond(200, &[("content-type", "application/octet-stream")], HPROF)
            }
            _ => respond(404, &[("content-type", TEXT)], ""),
        }
    };
    let severities = |outcome: &Outcome| -> Vec<(String, Severity)> {
        outcome
            .findings()
            .iter()
            .map(|f| (f.check.clone(), f.severity.expect("graded")))
            .collect()
    };

    let (outcome, seen) = probe_against("exposure/spring-actuator", handler(true, false)).await;
    assert_eq!(seen.len(), 4, "one request per path");
    expect_fail("env", &outcome, &["activeProfiles"]);
    assert_eq!(
        severities(&outcome),
        [(
            "GET /actuator/env: the actuator's environment is not served".to_string(),
            Severity::High
        )]
    );

    let (outcome, _) = probe_against("exposure/spring-actuator", handler(false, true)).await;
    expect_fail("heapdump", &outcome, &["JAVA PROFILE 1.0.2"]);
    assert_eq!(
        severities(&outcome),
        [(
            "GET /actuator/heapdump: no JVM heap dump is served".to_string(),
            Severity::Critical
        )]
    );

    let (outcome, _) = probe_against("exposure/spring-actuator", handler(true, true)).await;
    let findings = expect_fail("both", &outcome, &[]);
    assert_eq!(findings.len(), 2, "{}", show(&findings));
    assert_eq!(
        picket::outcome::severity_of(&findings, Severity::Info),
        Severity::Critical
    );

    // Gzip magic (a compressed dump) counts too.
    let (outcome, _) = probe_against("exposure/spring-actuator", |seen: Seen| {
        if seen.path_and_query == "/heapdump" {
            respond(
                200,
                &[("content-type", "application/octet-stream")],
                axum::body::Body::from(vec![0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]),
            )
        } else {
            respond(404, &[], "")
        }
    })
    .await;
    let findings = expect_fail("gzip heapdump", &outcome, &[]);
    assert!(
        findings[0].check.starts_with("GET /heapdump: "),
        "{}",
        show(&findings)
    );
}

// ---------------------------------------------------------------------------------------------
// methods/trace
// ---------------------------------------------------------------------------------------------

/// Echoes the request as TRACE does (message/http), with `status`.
fn trace_echo(status: u16) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| {
        let mut echo = format!("{} {} HTTP/1.1\r\n", seen.method, seen.path_and_query);
        for (name, value) in &seen.headers {
            echo.push_str(&format!(
                "{name}: {}\r\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        respond(status, &[("content-type", "message/http")], echo)
    }
}

/// The `X-Picket-Canary` value a request carried.
fn trace_canary(seen: &Seen) -> String {
    let value = seen
        .headers
        .get("x-picket-canary")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let canary = value.strip_prefix("picket-").unwrap_or_default();
    assert!(is_canary(canary), "{value:?} is not picket-<canary>");
    value
}

#[tokio::test]
async fn trace_fails_only_when_the_canary_is_echoed_with_200() {
    let (outcome, seen) = probe_against("methods/trace", trace_echo(200)).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method.as_str(), "TRACE");
    assert_eq!(seen[0].path_and_query, "/");
    let canary = trace_canary(&seen[0]);
    expect_fail("TRACE echoed", &outcome, &[&canary, "status 200"]);

    // Echoed, but not with 200 (an error page that quotes the request).
    for status in [405, 403, 501] {
        let (outcome, _) = probe_against("methods/trace", trace_echo(status)).await;
        expect_pass(&format!("TRACE echoed with {status}"), &outcome);
    }
    // Refused.
    let (outcome, _) = probe_against("methods/trace", |_| {
        respond(405, &[("allow", "GET, HEAD")], "")
    })
    .await;
    expect_pass("TRACE refused", &outcome);
    // 200 without the canary.
    let (outcome, _) = probe_against("methods/trace", |_| {
        respond(200, &[("content-type", TEXT)], "TRACE / HTTP/1.1\r\n")
    })
    .await;
    expect_pass("TRACE 200 without echo", &outcome);
}

/// Each run sends a new canary and looks for that one: two runs against an echoing server
/// send different values and both fail; a page that quotes a fixed canary-like header (the
/// value an older version of the probe sent) passes.
#[tokio::test]
async fn trace_canary_is_new_every_run() {
    let server = TestServer::start(trace_echo(200)).await;
    for _ in 0..2 {
        let outcome = run_shipped_with("methods/trace", &server.url(), "").await;
        let seen = server.seen();
        let canary = trace_canary(seen.last().unwrap());
        expect_fail("TRACE echoed", &outcome, &[&canary]);
    }
    let seen = server.seen();
    assert_ne!(trace_canary(&seen[0]), trace_canary(&seen[1]));

    let (outcome, _) = probe_against("methods/trace", |_| {
        respond(
            200,
            &[("content-type", "message/http")],
            "TRACE / HTTP/1.1\r\nx-picket-canary: picket-trace-canary-5f1c9a\r\n",
        )
    })
    .await;
    expect_pass("TRACE page quoting a fixed canary", &outcome);
}

#[tokio::test]
async fn trace_passes_on_the_soft_404_twin_and_redirects() {
    let (outcome, _) = probe_against("methods/trace", soft_404).await;
    expect_pass("TRACE on the soft-404 shell", &outcome);

    let (outcome, seen) = probe_against("methods/trace", |seen: Seen| {
        if seen.path_and_query == "/login" {
            trace_echo(200)(seen)
        } else {
            respond(302, &[("location", "/login")], "")
        }
    })
    .await;
    expect_pass("TRACE redirected to /login", &outcome);
    assert!(seen.iter().all(|s| s.path_and_query != "/login"));
}

// ---------------------------------------------------------------------------------------------
// disclosure/security-txt
// ---------------------------------------------------------------------------------------------

const SECURITY_TXT: &str = "/.well-known/security.txt";

async fn security_txt(
    handler: impl Fn(Seen) -> Response + Clone + Send + Sync + 'static,
) -> Outcome {
    let (outcome, seen) = probe_against("disclosure/security-txt", handler).await;
    assert!(
        seen.iter().all(|s| s.path_and_query == SECURITY_TXT),
        "{:?}",
        seen.iter().map(|s| &s.path_and_query).collect::<Vec<_>>()
    );
    outcome
}

#[tokio::test]
async fn security_txt_present_with_contact_passes() {
    for body in [
        "Contact: mailto:security@example.com\nExpires: 2099-12-31T23:59:59.000Z\n",
        "# Our policy\r\ncontact: https://example.com/report\r\nExpires: 2099-12-31T23:59:59.000Z\r\n",
        "Expires: 2099-12-31T23:59:59.000Z\nPreferred-Languages: en\nCONTACT: tel:+1-201-555-0123\n",
    ] {
        let outcome = security_txt(serve_at(SECURITY_TXT, 200, TEXT, body)).await;
        expect_pass(&format!("security.txt {body:?}"), &outcome);
    }
}

#[tokio::test]
async fn security_txt_missing_or_without_contact_fails() {
    // Missing.
    let outcome = security_txt(|_| respond(404, &[], "")).await;
    expect_fail("security.txt missing", &outcome, &["404"]);

    // Present, but no Contact line (a commented-out one does not count).
    for body in [
        "Expires: 2099-12-31T23:59:59.000Z\nPolicy: https://example.com/policy\n",
        "# Contact: mailto:security@example.com\nExpires: 2099-12-31T23:59:59.000Z\n",
        "Contact:\n",
    ] {
        let outcome = security_txt(serve_at(SECURITY_TXT, 200, TEXT, body)).await;
        expect_fail(
            &format!("security.txt {body:?}"),
            &outcome,
            &["no match in the body"],
        );
    }

    // The soft-404 twin: an HTML shell is a missing security.txt.
    let outcome = security_txt(soft_404).await;
    expect_fail(
        "security.txt soft-404 shell",
        &outcome,
        &["no match in the body"],
    );

    // A redirect to /login is a missing security.txt too, and is not followed.
    let outcome = security_txt(redirect_to_login(
        TEXT,
        "Contact: mailto:security@example.com\n",
    ))
    .await;
    expect_fail("security.txt redirected to /login", &outcome, &["302"]);
}

/// Fails when "`Expires:` in the past" (RFC 9116 2.5.5: an expired file should be treated as
/// stale), or when the date cannot be read; a future date or no Expires line passes.
#[tokio::test]
async fn security_txt_expired_fails() {
    let outcome = security_txt(serve_at(
        SECURITY_TXT,
        200,
        TEXT,
        "Contact: mailto:security@example.com\nExpires: 2001-01-01T00:00:00.000Z\n",
    ))
    .await;
    let findings = expect_fail("expired security.txt", &outcome, &["2001-01-01"]);
    assert_eq!(findings.len(), 1, "{}", show(&findings));
    assert_eq!(findings[0].check, "security.txt has not expired");

    for body in [
        "Contact: mailto:security@example.com\nexpires: 2020-06-30T12:00:00+02:00\n",
        "Contact: mailto:security@example.com\nExpires: tomorrow\n",
        "Contact: mailto:security@example.com\nExpires: 2099-12-31\n",
    ] {
        let outcome = security_txt(serve_at(SECURITY_TXT, 200, TEXT, body)).await;
        expect_fail(&format!("security.txt {body:?}"), &outcome, &[]);
    }
    for body in [
        "Contact: mailto:security@example.com\nExpires: 2099-12-31T23:59:59Z\n",
        "Contact: mailto:security@example.com\n",
        // An `Expires` that is not at the start of a line is not the field.
        "Contact: mailto:security@example.com\n# Expires: 2001-01-01T00:00:00Z\n",
    ] {
        let outcome = security_txt(serve_at(SECURITY_TXT, 200, TEXT, body)).await;
        expect_pass(&format!("security.txt {body:?}"), &outcome);
    }
}

/// `(?mi)^contact:\s*\S`: `\s*` also matches the newline, so an empty `Contact:` followed by
/// any other line counts as a contact.
#[tokio::test]
async fn security_txt_empty_contact_before_another_field_fails() {
    let outcome = security_txt(serve_at(
        SECURITY_TXT,
        200,
        TEXT,
        "Contact:\nExpires: 2099-12-31T23:59:59.000Z\n",
    ))
    .await;
    expect_fail("empty Contact", &outcome, &[]);
}

/// An HTML page at the path is a missing security.txt (RFC 9116 requires text/plain),
/// even when a line of it starts with "Contact:". The probe checks neither the content type
/// nor for HTML, and passes.
#[tokio::test]
async fn security_txt_html_page_with_contact_line_fails() {
    let outcome = security_txt(|_| {
        respond(
            200,
            &[("content-type", HTML)],
            "<html><head><title>Home</title></head><body>\n\
             Contact: sales@example.com\n</body></html>",
        )
    })
    .await;
    expect_fail("HTML page with a Contact line", &outcome, &[]);
}

// ---------------------------------------------------------------------------------------------
// cors/credentialed-reflection (GET and preflight, a canary origin and `null`)
// ---------------------------------------------------------------------------------------------

/// What the canary origin starts with; the rest is the run's canary and `.invalid`.
const CANARY_ORIGIN: &str = "https://picket-";

/// Whether `origin` is `https://picket-<canary>.invalid`.
fn is_canary_origin(origin: &str) -> bool {
    origin
        .strip_prefix(CANARY_ORIGIN)
        .and_then(|rest| rest.strip_suffix(".invalid"))
        .is_some_and(is_canary)
}

/// Whether a request's `Origin` is the one a CORS probe sends: `null`, or a canary origin.
fn sent_origin_is(seen: &Seen, origin: &str) -> bool {
    let sent = sent(seen, "origin").unwrap_or_default();
    if origin == CANARY_ORIGIN {
        is_canary_origin(sent)
    } else {
        sent == origin
    }
}

/// (probe, the `Origin` it sends (for the canary, [`CANARY_ORIGIN`], its start), whether it
/// is a preflight)
const CORS_PROBES: &[(&str, &str, bool)] = &[
    ("cors/credentialed-reflection", CANARY_ORIGIN, false),
    ("cors/credentialed-reflection-null", "null", false),
    (
        "cors/credentialed-reflection-preflight",
        CANARY_ORIGIN,
        true,
    ),
    ("cors/credentialed-reflection-preflight-null", "null", true),
];

/// A request header as text, if sent.
fn sent<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Answers every request with `status`, the HTML shell, and CORS headers:
/// `Access-Control-Allow-Origin` as `allow(request's Origin)` gives it (none for `None`), and
/// `Access-Control-Allow-Credentials: credentials` (none when empty).
fn cors_server(
    status: u16,
    allow: fn(&str) -> Option<String>,
    credentials: &'static str,
) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| {
        let acao = allow(sent(&seen, "origin").unwrap_or_default());
        let mut headers = vec![("content-type", HTML), ("vary", "Origin")];
        if let Some(acao) = &acao {
            headers.push(("access-control-allow-origin", acao));
        }
        if !credentials.is_empty() {
            headers.push(("access-control-allow-credentials", credentials));
        }
        if seen.method == Method::OPTIONS {
            headers.push(("access-control-allow-methods", "GET, POST"));
            headers.push(("access-control-allow-headers", "content-type"));
        }
        respond(status, &headers, SHELL)
    }
}

/// Echoes any `Origin`.
fn reflect(origin: &str) -> Option<String> {
    (!origin.is_empty()).then(|| origin.to_string())
}

#[tokio::test]
async fn cors_reflected_origin_with_credentials_fails() {
    for (probe, origin, preflight) in CORS_PROBES {
        let (outcome, seen) = probe_against(probe, cors_server(200, reflect, "true")).await;
        let acao = format!("Access-Control-Allow-Origin: {origin}");
        let findings = expect_fail(
            probe,
            &outcome,
            &[&acao, "Access-Control-Allow-Credentials: true"],
        );
        assert_eq!(findings.len(), 1, "{probe}:{}", show(&findings));

        assert_eq!(seen.len(), 1, "{probe}: one request");
        let request = &seen[0];
        assert_eq!(request.path_and_query, "/", "{probe}");
        assert!(
            sent_origin_is(request, origin),
            "{probe}: {:?}",
            sent(request, "origin")
        );
        if *preflight {
            assert_eq!(request.method, Method::OPTIONS, "{probe}");
            assert_eq!(
                sent(request, "access-control-request-method"),
                Some("POST"),
                "{probe}"
            );
            assert_eq!(
                sent(request, "access-control-request-headers"),
                Some("content-type"),
                "{probe}"
            );
        } else {
            assert_eq!(request.method, Method::GET, "{probe}");
            assert_eq!(sent(request, "access-control-request-method"), None);
        }
    }
}

/// A browser reads a credentialed GET response whatever its status, but a preflight only
/// succeeds with a 2xx (Fetch, CORS-preflight fetch): a reflecting 403 preflight grants nothing.
#[tokio::test]
async fn cors_status_counts_only_for_preflights() {
    for (probe, origin, preflight) in CORS_PROBES {
        for status in [204, 403, 404, 405, 500] {
            let what = format!("{probe} answered {status} with reflection and credentials");
            let (outcome, _) = probe_against(probe, cors_server(status, reflect, "true")).await;
            if *preflight && status != 204 {
                expect_pass(&what, &outcome);
            } else {
                expect_fail(&what, &outcome, &[origin]);
            }
        }
    }
}

#[tokio::test]
async fn cors_safe_configurations_pass() {
    // (what, the Access-Control-Allow-Origin for a request's Origin, credentials value)
    type Case = (&'static str, fn(&str) -> Option<String>, &'static str);
    let cases: &[Case] = &[
        (
            "a fixed allow-listed origin with credentials",
            |_| Some("https://app.example".into()),
            "true",
        ),
        ("reflection without credentials", reflect, ""),
        (
            "reflection with Access-Control-Allow-Credentials: false",
            reflect,
            "false",
        ),
        // Browsers refuse `*` together with credentials.
        ("wildcard with credentials", |_| Some("*".into()), "true"),
        ("no CORS headers at all", |_| None, ""),
        // Fetch compares the value byte for byte: `True` does not enable credentials.
        ("reflection with credentials `True`", reflect, "True"),
    ];
    for (what, allow, credentials) in cases {
        for (probe, _, _) in CORS_PROBES {
            for status in [200, 204] {
                let (outcome, _) =
                    probe_against(probe, cors_server(status, *allow, credentials)).await;
                expect_pass(&format!("{probe} with {what} ({status})"), &outcome);
            }
        }
    }

    // Access-Control-Allow-Origin sent twice: browsers reject a list of origins.
    for (probe, _, _) in CORS_PROBES {
        let (outcome, _) = probe_against(probe, |seen: Seen| {
            let origin = sent(&seen, "origin").unwrap_or_default().to_string();
            respond(
                200,
                &[
                    ("access-control-allow-origin", origin.as_str()),
                    ("access-control-allow-origin", origin.as_str()),
                    ("access-control-allow-credentials", "true"),
                ],
                "",
            )
        })
        .await;
        expect_pass(&format!("{probe} with the origin echoed twice"), &outcome);
    }
}

/// The canary probes send a new origin every run, and judge the answer against that one: two
/// runs against a reflecting server send different origins and both fail; a server whose
/// allow-list holds a fixed canary-like origin (the one an older version of the probes sent)
/// passes, since it does not grant this run's origin.
#[tokio::test]
async fn cors_canary_origin_is_new_every_run() {
    for (probe, origin, _) in CORS_PROBES {
        if *origin != CANARY_ORIGIN {
            continue;
        }
        let server = TestServer::start(cors_server(200, reflect, "true")).await;
        let mut sent_origins = Vec::new();
        for _ in 0..2 {
            let outcome = run_shipped_with(probe, &server.url(), "").await;
            let seen = server.seen();
            let this = sent(seen.last().unwrap(), "origin").unwrap().to_string();
            assert!(is_canary_origin(&this), "{probe}: {this}");
            expect_fail(
                probe,
                &outcome,
                &[&format!("Access-Control-Allow-Origin: {this}")],
            );
            sent_origins.push(this);
        }
        assert_ne!(sent_origins[0], sent_origins[1], "{probe}");

        let fixed = |_: &str| Some("https://picket-canary.invalid".to_string());
        let (outcome, _) = probe_against(probe, cors_server(200, fixed, "true")).await;
        expect_pass(
            &format!("{probe} with a fixed allow-listed origin"),
            &outcome,
        );
    }
}

#[tokio::test]
async fn cors_passes_on_the_soft_404_twin_and_redirects() {
    for (probe, _, _) in CORS_PROBES {
        let (outcome, _) = probe_against(probe, soft_404).await;
        expect_pass(&format!("{probe} on the soft-404 shell"), &outcome);

        // `/login` itself reflects with credentials; the probe must not follow the 302 there.
        let (outcome, seen) = probe_against(probe, |seen: Seen| {
            if seen.path_and_query == "/login" {
                cors_server(200, reflect, "true")(seen)
            } else {
                respond(302, &[("location", "/login")], "")
            }
        })
        .await;
        expect_pass(&format!("{probe} redirected to /login"), &outcome);
        assert!(
            seen.iter().all(|s| s.path_and_query != "/login"),
            "{probe}: followed the redirect"
        );
    }
}

/// The GET probes send the target's headers (CORS headers are often added only to
/// authenticated responses, which are the ones an attacking page reads); preflights never
/// carry credentials in a browser, so the preflight probes do not send them.
#[tokio::test]
async fn cors_get_probes_use_target_auth_and_preflights_do_not() {
    const AUTH: &str = "    headers:\n      Authorization: Bearer web-token\n";
    // Reflects with credentials only for authenticated requests.
    let authenticated_only = |seen: Seen| {
        if sent(&seen, "authorization") == Some("Bearer web-token") {
            cors_server(200, reflect, "true")(seen)
        } else {
            respond(200, &[("content-type", HTML)], SHELL)
        }
    };
    for (probe, origin, preflight) in CORS_PROBES {
        let (outcome, seen) = probe_against_with(probe, AUTH, authenticated_only).await;
        if *preflight {
            assert_eq!(sent(&seen[0], "authorization"), None, "{probe}");
            expect_pass(probe, &outcome);
        } else {
            assert_eq!(
                sent(&seen[0], "authorization"),
                Some("Bearer web-token"),
                "{probe}"
            );
            expect_fail(probe, &outcome, &[origin]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// redirect/open-redirect
// ---------------------------------------------------------------------------------------------

/// Whether `url` is the open-redirect probe's canary URL, `https://picket-<canary>.invalid/`.
fn is_canary_url(url: &str) -> bool {
    url.strip_suffix('/').is_some_and(is_canary_origin)
}
const REDIRECT_PARAMS: &[&str] = &["next", "url", "redirect", "returnTo"];

/// The decoded value of the first query parameter of the request named one of `names`.
fn query_param(seen: &Seen, names: &[&str]) -> Option<String> {
    let (_, query) = seen.path_and_query.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| names.contains(&k.as_ref()))
        .map(|(_, v)| v.into_owned())
}

/// Redirects with `status` to `rewrite(value)` when the request carries one of the parameters
/// `names`; answers 200 with the shell otherwise.
fn redirector(
    names: &'static [&'static str],
    status: u16,
    rewrite: fn(&str) -> String,
) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| match query_param(&seen, names) {
        Some(value) => respond(status, &[("location", rewrite(&value).as_str())], ""),
        None => respond(200, &[("content-type", HTML)], SHELL),
    }
}

#[tokio::test]
async fn open_redirect_fails_on_each_parameter_and_names_it() {
    for param in REDIRECT_PARAMS {
        let what = format!("open redirect through `{param}`");
        let (outcome, seen) = probe_against(
            "redirect/open-redirect",
            redirector(std::slice::from_ref(param), 302, str::to_string),
        )
        .await;
        let findings = expect_fail(
            &what,
            &outcome,
            &["status 302", "Location: https://picket-"],
        );
        assert_eq!(findings.len(), 1, "{what}:{}", show(&findings));
        // Named by the request in words, so the name is the same in every run.
        let prefix = format!("GET /?{param}=https://picket-<random>.invalid/: ");
        assert!(
            findings[0].check.starts_with(&prefix),
            "{what}: check should start with {prefix:?}:{}",
            show(&findings)
        );

        // One GET of `/` per parameter, each carrying the run's canary URL.
        assert_eq!(seen.len(), REDIRECT_PARAMS.len(), "{what}");
        let first = query_param(&seen[0], &[REDIRECT_PARAMS[0]]).unwrap();
        for (request, name) in seen.iter().zip(REDIRECT_PARAMS) {
            assert_eq!(request.method, Method::GET);
            assert!(request.path_and_query.starts_with("/?"), "{what}");
            let value = query_param(request, &[name]).unwrap_or_default();
            assert!(is_canary_url(&value), "{what}: {}", request.path_and_query);
            assert_eq!(value, first, "{what}: one canary per run");
        }
    }
}

#[tokio::test]
async fn open_redirect_fails_for_every_redirect_status_and_spelling() {
    for status in [301, 303, 307, 308] {
        let (outcome, _) = probe_against(
            "redirect/open-redirect",
            redirector(REDIRECT_PARAMS, status, str::to_string),
        )
        .await;
        let findings = expect_fail(
            &format!("{status}"),
            &outcome,
            &[&format!("status {status}")],
        );
        assert_eq!(findings.len(), 4, "{status}:{}", show(&findings));
    }
    // The server drops the scheme: a scheme-relative redirect leaves the site just the same.
    let (outcome, _) = probe_against(
        "redirect/open-redirect",
        redirector(REDIRECT_PARAMS, 302, |v| {
            v.trim_start_matches("https:").to_string()
        }),
    )
    .await;
    expect_fail("scheme-relative", &outcome, &["Location: //picket-"]);
}

/// Each run puts a new canary host in the parameters and looks for that one: two runs send
/// different ones and both fail on a server that redirects to them; a server that redirects
/// to a fixed look-alike host (the canary an older version of the probe sent) passes.
#[tokio::test]
async fn open_redirect_canary_is_new_every_run() {
    let server = TestServer::start(redirector(REDIRECT_PARAMS, 302, str::to_string)).await;
    let mut canaries = Vec::new();
    for run in 0..2 {
        let outcome = run_shipped_with("redirect/open-redirect", &server.url(), "").await;
        let seen = server.seen();
        let value = query_param(&seen[run * REDIRECT_PARAMS.len()], REDIRECT_PARAMS).unwrap();
        assert!(is_canary_url(&value), "{value}");
        let findings = expect_fail("open redirect", &outcome, &[&format!("Location: {value}")]);
        assert_eq!(findings.len(), REDIRECT_PARAMS.len(), "{}", show(&findings));
        canaries.push(value);
    }
    assert_ne!(canaries[0], canaries[1]);

    let (outcome, _) = probe_against(
        "redirect/open-redirect",
        redirector(REDIRECT_PARAMS, 302, |_| {
            "https://picket-canary.invalid/".to_string()
        }),
    )
    .await;
    expect_pass("redirect to a fixed look-alike host", &outcome);
}

#[tokio::test]
async fn open_redirect_safe_servers_pass() {
    // (what, status, the Location for the parameter's value)
    type Case = (&'static str, u16, fn(&str) -> String);
    let cases: &[Case] = &[
        ("redirects home instead", 302, |_| "/".to_string()),
        ("bounces to its own login, canary in the query", 302, |v| {
            format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        }),
        ("same path, canary unencoded in the query", 302, |v| {
            format!("/login?next={v}")
        }),
        ("to its SSO host, canary in the query", 302, |v| {
            format!("https://sso.example/authorize?return={v}")
        }),
        ("canary as a subdomain label of another host", 302, |v| {
            format!("{}.sso.example/", v.trim_end_matches('/'))
        }),
        ("canary as user info of another host", 302, |v| {
            format!("{}@sso.example/", v.trim_end_matches('/'))
        }),
        ("canary as a relative path", 302, |v| {
            format!("/{}", v.trim_start_matches("https://"))
        }),
        // A Location on a non-3xx response is not a redirect.
        ("200 with a canary Location", 200, str::to_string),
        ("201 with a canary Location", 201, str::to_string),
    ];
    for (what, status, rewrite) in cases {
        let (outcome, _) = probe_against(
            "redirect/open-redirect",
            redirector(REDIRECT_PARAMS, *status, *rewrite),
        )
        .await;
        expect_pass(what, &outcome);
    }
}

#[tokio::test]
async fn open_redirect_passes_on_the_soft_404_twin_and_login_redirects() {
    let (outcome, seen) = probe_against("redirect/open-redirect", soft_404).await;
    expect_pass("open-redirect on the soft-404 shell", &outcome);
    assert_eq!(seen.len(), REDIRECT_PARAMS.len());

    let (outcome, seen) =
        probe_against("redirect/open-redirect", redirect_to_login(HTML, SHELL)).await;
    expect_pass(
        "open-redirect with every path redirecting to /login",
        &outcome,
    );
    assert!(seen.iter().all(|s| s.path_and_query != "/login"));
}

/// The `Location` regex on values a live server would rarely produce, for one run's canary.
#[test]
fn open_redirect_location_values() {
    const CANARY: &str = "k9canary0x1z";
    let shipped = shipped_checks("redirect/open-redirect");
    let checks = picket::check::canary::bind_random(&shipped, CANARY);
    let cases: &[(&str, bool)] = &[
        // The canary host: fail.
        ("https://picket-canary.invalid/", true),
        ("https://picket-canary.invalid", true),
        ("http://picket-canary.invalid/x?y=1", true),
        ("HTTPS://PICKET-CANARY.INVALID/", true),
        ("https://picket-canary.invalid:8443/", true),
        ("https://picket-canary.invalid./", true),
        ("https://picket-canary.invalid?x", true),
        ("https://picket-canary.invalid#x", true),
        ("https://user:pw@picket-canary.invalid/", true),
        ("https://sso.example@picket-canary.invalid/", true),
        ("//picket-canary.invalid/", true),
        ("//picket-canary.invalid", true),
        ("///picket-canary.invalid/", true),
        ("/\\picket-canary.invalid/", true),
        ("\\\\picket-canary.invalid/", true),
        ("https:\\\\picket-canary.invalid/", true),
        // Not the canary host: pass.
        ("/", false),
        ("/login?next=https%3A%2F%2Fpicket-canary.invalid%2F", false),
        ("/login?next=https://picket-canary.invalid/", false),
        (
            "https://sso.example/?next=https://picket-canary.invalid/",
            false,
        ),
        ("https://picket-canary.invalid.sso.example/", false),
        ("https://picket-canary.invalid@sso.example/", false),
        ("https://xpicket-canary.invalid/", false),
        ("https://sso.example/picket-canary.invalid", false),
        ("/picket-canary.invalid", false),
        ("picket-canary.invalid/", false),
        ("javascript://picket-canary.invalid/%0aalert(1)", false),
    ];
    for (location, fails) in cases {
        let location = &location
            .replace("picket-canary", &format!("picket-{CANARY}"))
            .replace(
                "PICKET-CANARY",
                &format!("PICKET-{}", CANARY.to_uppercase()),
            );
        let mut response = response_with(&[("location", location)]);
        response.status = StatusCode::FOUND;
        let findings =
            picket::check::http::evaluate(&checks, &response, &Default::default()).findings;
        if *fails {
            assert!(!findings.is_empty(), "{location:?} passed");
            assert!(
                findings[0].observed.contains(location),
                "{location:?}:{}",
                show(&findings)
            );
        } else {
            assert!(findings.is_empty(), "{location:?}:{}", show(&findings));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// auth/required, auth/required-garbage-token
// ---------------------------------------------------------------------------------------------

const AUTH_PROBES: &[&str] = &["auth/required", "auth/required-garbage-token"];
const PROTECTED_PATHS: &[&str] = &["/admin", "/api/users"];
/// The target: a valid token in its headers, and the protected paths.
const AUTH_TARGET: &str = concat!(
    "    headers:\n      Authorization: Bearer web-token\n",
    "    vars: { protected_paths: [/admin, /api/users] }\n",
);

/// An API whose protected paths answer 200 JSON when `accepts(the Authorization header)` and
/// 401 otherwise; 404 elsewhere.
fn api(
    accepts: fn(Option<&str>) -> bool,
) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| {
        if !PROTECTED_PATHS.contains(&seen.path_and_query.as_str()) {
            return respond(404, &[("content-type", TEXT)], "not found");
        }
        if accepts(sent(&seen, "authorization")) {
            respond(
                200,
                &[("content-type", "application/json")],
                "{\"users\":[{\"id\":1,\"email\":\"admin@shop.example\"}]}",
            )
        } else {
            respond(401, &[("www-authenticate", "Bearer")], "")
        }
    }
}

#[tokio::test]
async fn auth_unprotected_paths_fail_and_findings_name_them() {
    for probe in AUTH_PROBES {
        let (outcome, seen) = probe_against_with(probe, AUTH_TARGET, api(|_| true)).await;
        let findings = expect_fail(probe, &outcome, &["status 200"]);
        assert_eq!(findings.len(), 2, "{probe}:{}", show(&findings));
        for (finding, path) in findings.iter().zip(PROTECTED_PATHS) {
            assert!(
                finding.check.starts_with(&format!("GET {path}: ")),
                "{probe}:{}",
                show(&findings)
            );
        }
        let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
        assert_eq!(paths, PROTECTED_PATHS, "{probe}");
        assert!(seen.iter().all(|s| s.method == Method::GET));
    }

    // Only one of the paths is open: one finding, naming it.
    for probe in AUTH_PROBES {
        let (outcome, _) = probe_against_with(probe, AUTH_TARGET, |seen: Seen| {
            if seen.path_and_query == "/api/users" {
                respond(200, &[("content-type", "application/json")], "[]")
            } else {
                respond(401, &[], "")
            }
        })
        .await;
        let findings = expect_fail(probe, &outcome, &["status 200"]);
        assert_eq!(findings.len(), 1, "{probe}:{}", show(&findings));
        assert!(findings[0].check.starts_with("GET /api/users: "));
    }
}

/// A service that checks that a token is present but not that it is valid: no credentials
/// are refused, the garbage token is accepted.
#[tokio::test]
async fn auth_garbage_token_accepted_fails_only_the_garbage_token_probe() {
    let presence_only: fn(Option<&str>) -> bool = |auth| auth.is_some();
    let (outcome, seen) =
        probe_against_with("auth/required", AUTH_TARGET, api(presence_only)).await;
    expect_pass("no credentials, presence-only check", &outcome);
    assert!(seen.iter().all(|s| sent(s, "authorization").is_none()));

    let (outcome, seen) = probe_against_with(
        "auth/required-garbage-token",
        AUTH_TARGET,
        api(presence_only),
    )
    .await;
    expect_fail(
        "garbage token, presence-only check",
        &outcome,
        &["status 200"],
    );
    assert!(
        seen.iter()
            .all(|s| sent(s, "authorization") == Some("Bearer picket-invalid-token")),
        "{:?}",
        seen.iter()
            .map(|s| sent(s, "authorization"))
            .collect::<Vec<_>>()
    );
}

/// The target's valid token is configured but never sent (`use_target_auth: false`): a service
/// that accepts only that token passes both probes.
#[tokio::test]
async fn auth_protected_paths_pass_without_sending_the_target_token() {
    for probe in AUTH_PROBES {
        let (outcome, seen) = probe_against_with(
            probe,
            AUTH_TARGET,
            api(|auth| auth == Some("Bearer web-token")),
        )
        .await;
        expect_pass(probe, &outcome);
        assert_eq!(seen.len(), PROTECTED_PATHS.len());
        assert!(
            seen.iter()
                .all(|s| sent(s, "authorization") != Some("Bearer web-token")),
            "{probe} sent the target's token"
        );
    }
    // 403 and 404 are refusals too.
    for status in [403, 404] {
        for probe in AUTH_PROBES {
            let (outcome, _) =
                probe_against_with(probe, AUTH_TARGET, move |_| respond(status, &[], "")).await;
            expect_pass(&format!("{probe} answered {status}"), &outcome);
        }
    }
}

/// PROBES.md: "any 2xx" fails, whatever the body, so an app that answers every path 200 with
/// its HTML shell fails (the probe's description says to declare server-protected paths). A
/// redirect to the login page is a refusal and is not followed.
#[tokio::test]
async fn auth_soft_404_shell_fails_and_login_redirect_passes() {
    for probe in AUTH_PROBES {
        let (outcome, _) = probe_against_with(probe, AUTH_TARGET, soft_404).await;
        let findings = expect_fail(
            &format!("{probe} on the soft-404 shell"),
            &outcome,
            &["200"],
        );
        assert_eq!(findings.len(), 2);

        let (outcome, seen) =
            probe_against_with(probe, AUTH_TARGET, redirect_to_login(HTML, SHELL)).await;
        expect_pass(&format!("{probe} redirected to /login"), &outcome);
        assert!(seen.iter().all(|s| s.path_and_query != "/login"));
    }
}

#[test]
fn auth_probes_are_skipped_for_targets_without_protected_paths() {
    for probe in AUTH_PROBES {
        let plan = picket::plan::plan(&load_one(probe, "http://127.0.0.1:9"));
        assert!(plan.series.is_empty(), "{probe}");
        assert_eq!(
            plan.skipped,
            vec![picket::plan::Skipped {
                probe: probe.to_string(),
                target: "web".into(),
                reason: picket::plan::Reason::MissingVar("protected_paths".into()),
            }],
            "{probe}"
        );

        let plan = picket::plan::plan(&load_one_with(probe, "http://127.0.0.1:9", AUTH_TARGET));
        assert_eq!(plan.series.len(), 1, "{probe}");
        assert!(plan.skipped.is_empty(), "{probe}: {:?}", plan.skipped);
    }
}

// ---------------------------------------------------------------------------------------------
// auth/jwt-alg-none
// ---------------------------------------------------------------------------------------------

/// A well-formed HS256 sample token: `{"alg":"HS256","typ":"JWT","kid":"k1"}`,
/// `{"sub":"picket-test","exp":4102444800}` and a made-up signature.
const SAMPLE_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.\
     eyJzdWIiOiJwaWNrZXQtdGVzdCIsImV4cCI6NDEwMjQ0NDgwMH0.\
     bm90LWEtcmVhbC1zaWduYXR1cmUtanVzdC1ieXRlcw";
/// The target: a valid token in its headers, the protected paths and the sample token.
const JWT_TARGET: &str = concat!(
    "    headers:\n      Authorization: Bearer web-token\n",
    "    vars:\n      protected_paths: [/admin, /api/users]\n",
    "      sample_jwt: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJzdWIiOiJwaWNrZXQtdGVzdCIsImV4cCI6NDEwMjQ0NDgwMH0.bm90LWEtcmVhbC1zaWduYXR1cmUtanVzdC1ieXRlcw\n",
);

/// The header of the bearer JWT a request carried, decoded.
fn jwt_header(seen: &Seen) -> serde_json::Value {
    use base64::Engine as _;
    let token = sent(seen, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    let header = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// An API whose protected paths answer 200 when `accepts(the bearer token's header, the
/// token)` and 401 otherwise; 404 elsewhere.
fn jwt_api(
    accepts: fn(&serde_json::Value, &str) -> bool,
) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| {
        if !PROTECTED_PATHS.contains(&seen.path_and_query.as_str()) {
            return respond(404, &[], "");
        }
        let token = sent(&seen, "authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default();
        if accepts(&jwt_header(&seen), token) {
            respond(
                200,
                &[("content-type", "application/json")],
                "{\"users\": []}",
            )
        } else {
            respond(401, &[("www-authenticate", "Bearer")], "")
        }
    }
}

#[tokio::test]
async fn jwt_alg_none_accepted_fails_and_the_forged_token_is_well_formed() {
    // A library that trusts the token's `alg`: `none` needs no signature.
    let trusting =
        |header: &serde_json::Value, token: &str| header["alg"] == "none" || token == SAMPLE_JWT;
    let (outcome, seen) =
        probe_against_with("auth/jwt-alg-none", JWT_TARGET, jwt_api(trusting)).await;
    let findings = expect_fail("alg none accepted", &outcome, &["200"]);
    assert_eq!(findings.len(), 2, "{}", show(&findings));
    assert!(
        findings[0].check.starts_with("GET /admin: "),
        "{}",
        show(&findings)
    );

    let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
    assert_eq!(paths, PROTECTED_PATHS);
    for request in &seen {
        // The target's own token is not sent; the forged one is: the sample's header with
        // `alg` replaced, the sample's payload, no signature.
        let token = sent(request, "authorization")
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        assert_eq!(parts[1], SAMPLE_JWT.split('.').nth(1).unwrap());
        assert_eq!(parts[2], "");
        assert_eq!(
            jwt_header(request),
            serde_json::json!({"alg": "none", "typ": "JWT", "kid": "k1"})
        );
    }
}

#[tokio::test]
async fn jwt_alg_none_refused_passes() {
    // Verifies the signature with the algorithm it expects: only the real token gets in.
    let strict = |_: &serde_json::Value, token: &str| token == SAMPLE_JWT;
    let (outcome, seen) =
        probe_against_with("auth/jwt-alg-none", JWT_TARGET, jwt_api(strict)).await;
    expect_pass("alg none refused", &outcome);
    assert_eq!(seen.len(), PROTECTED_PATHS.len());
    // Refused with 403, or by a redirect to the login page that is not followed.
    let (outcome, _) =
        probe_against_with("auth/jwt-alg-none", JWT_TARGET, |_| respond(403, &[], "")).await;
    expect_pass("alg none refused with 403", &outcome);
    let (outcome, seen) = probe_against_with(
        "auth/jwt-alg-none",
        JWT_TARGET,
        redirect_to_login(HTML, SHELL),
    )
    .await;
    expect_pass("alg none redirected to /login", &outcome);
    assert!(seen.iter().all(|s| s.path_and_query != "/login"));
}

/// As for the other auth probes, any 2xx fails: an app that answers every path with its HTML
/// shell accepts the forged token as far as the server is concerned.
#[tokio::test]
async fn jwt_alg_none_soft_404_shell_fails() {
    let (outcome, _) = probe_against_with("auth/jwt-alg-none", JWT_TARGET, soft_404).await;
    let findings = expect_fail("alg none on the soft-404 shell", &outcome, &["200"]);
    assert_eq!(findings.len(), 2);
}

#[test]
fn jwt_alg_none_is_skipped_without_a_sample_token_or_protected_paths() {
    for (extra, missing) in [
        ("", "protected_paths"),
        (AUTH_TARGET, "sample_jwt"),
        ("    vars: { sample_jwt: a.b.c }\n", "protected_paths"),
    ] {
        let plan = picket::plan::plan(&load_one_with(
            "auth/jwt-alg-none",
            "http://127.0.0.1:9",
            extra,
        ));
        assert!(plan.series.is_empty(), "{extra}");
        assert_eq!(
            plan.skipped,
            vec![picket::plan::Skipped {
                probe: "auth/jwt-alg-none".into(),
                target: "web".into(),
                reason: picket::plan::Reason::MissingVar(missing.to_string()),
            }],
            "{extra}"
        );
    }
    let plan = picket::plan::plan(&load_one_with(
        "auth/jwt-alg-none",
        "http://127.0.0.1:9",
        JWT_TARGET,
    ));
    assert_eq!(plan.series.len(), 1);
}

/// A `sample_jwt` that is not a JWT makes the run an error that says so without quoting it.
#[tokio::test]
async fn jwt_alg_none_with_a_malformed_sample_is_an_error() {
    let target = "    vars:\n      protected_paths: [/admin]\n      sample_jwt: not-a-jwt-at-all\n";
    let (outcome, seen) = probe_against_with("auth/jwt-alg-none", target, soft_404).await;
    let Outcome::Error(e) = &outcome else {
        panic!("expected an error, got {outcome:?}")
    };
    assert!(e.message.contains("`vars.sample_jwt` is not a JWT"), "{e}");
    assert!(!e.message.contains("not-a-jwt-at-all"), "{e}");
    assert!(seen.is_empty(), "nothing is sent");
}

// ---------------------------------------------------------------------------------------------
// exposure/directory-listing, exposure/directory-listing-declared
// ---------------------------------------------------------------------------------------------

/// nginx autoindex.
const NGINX_INDEX: &str = "<html>\r\n<head><title>Index of /uploads/</title></head>\r\n<body>\r\n\
     <h1>Index of /uploads/</h1><hr><pre><a href=\"../\">../</a>\r\n\
     <a href=\"backup-2026-11-01.sql.gz\">backup-2026-11-01.sql.gz</a>   01-Nov-2026 03:00   18M\r\n\
     </pre><hr></body>\r\n</html>\r\n";
/// Apache mod_autoindex.
const APACHE_INDEX: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n \
     <head>\n  <title>Index of /</title>\n </head>\n <body>\n<h1>Index of /</h1>\n  <table>\n   \
     <tr><th><a href=\"?C=N;O=D\">Name</a></th><th><a href=\"?C=M;O=A\">Last modified</a></th></tr>\n\
     <tr><td><a href=\"config.php.bak\">config.php.bak</a></td><td>2026-11-01 03:00</td></tr>\n\
     </table>\n</body></html>\n";
/// The target's declared directories.
const DIRECTORIES: &str = "    vars: { directories: [/uploads/, /static/] }\n";
/// Python's `http.server` (3.12), listing `/`.
const PYTHON_INDEX: &str = "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
     <title>Directory listing for /</title>\n</head>\n<body>\n<h1>Directory listing for /</h1>\n<hr>\n<ul>\n\
     <li><a href=\"backup.tar.gz\">backup.tar.gz</a></li>\n<li><a href=\"notes/\">notes/</a></li>\n\
     </ul>\n<hr>\n</body>\n</html>\n";
/// Apache mod_autoindex, listing `/files/`.
const APACHE_FILES_INDEX: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n \
     <head>\n  <title>Index of /files</title>\n </head>\n <body>\n<h1>Index of /files</h1>\n  <table>\n\
     <tr><td><a href=\"/\">Parent Directory</a></td></tr>\n\
     <tr><td><a href=\"customers.csv\">customers.csv</a></td><td>2026-11-01 03:00</td></tr>\n\
     </table>\n<address>Apache/2.4.57 (Debian) Server at 127.0.0.1 Port 80</address>\n</body></html>\n";
/// A home page linking to a report under `/files/` and a script under `/static/js/`.
const HOME_WITH_LINKS: &str = "<!doctype html><html><head><title>Shop</title>\
     <script src=\"/static/js/app.js\"></script><link rel=\"stylesheet\" href=\"/static/css/site.css\">\
     </head><body><a href=\"/files/report-2026.pdf\">Annual report</a>\
     <a href=\"https://cdn.example/lib/x.js\">cdn</a></body></html>";

/// The listing pages of other servers, at `/`.
const OTHER_LISTINGS: &[(&str, &str, &str)] = &[
    (
        "Tomcat",
        "<html><head><title>Directory Listing For [/]</title></head><body><h1>Directory Listing For [/]</h1></body></html>",
        "Directory Listing For [/]",
    ),
    (
        "Jetty",
        "<HTML><HEAD><TITLE>Directory: /</TITLE></HEAD><BODY><H1>Directory: /</H1></BODY></HTML>",
        "Directory: /",
    ),
    (
        "lighttpd",
        "<!DOCTYPE html>\n<html><head><title>Index of /</title></head><body><h2>Index of /</h2>\
         <div class=\"list\"></div><div class=\"foot\">lighttpd/1.4.69</div></body></html>",
        "Index of /",
    ),
    (
        "IIS",
        "<html><head><title>127.0.0.1 - /docs/</title></head><body><H1>127.0.0.1 - /docs/</H1><hr>\n\n\
         <pre><A HREF=\"/\">[To Parent Directory]</A><br><br> 1/1/2026  3:00 AM        &lt;dir&gt; \
         <A HREF=\"/docs/old/\">old</A><br></pre><hr></body></html>",
        "[To Parent Directory]",
    ),
    (
        "Caddy",
        "<!DOCTYPE html>\n<html>\n\t<head>\n\t\t<title>/</title>\n\t</head>\n\t<body>\n\
         <div class=\"meta\">\n<div id=\"summary\">\n<span class=\"meta-item\">\n<b>2</b> directories\n\
         </span>\n<span class=\"meta-item\">\n<b>3</b> files\n</span>\n</div></div></body></html>",
        "<b>2</b> directories",
    ),
];

#[tokio::test]
async fn directory_listing_at_root_fails() {
    for (content_type, body) in [
        (HTML, APACHE_INDEX),
        ("text/html", NGINX_INDEX),
        (HTML, PYTHON_INDEX),
    ] {
        let (outcome, seen) = probe_against(
            "exposure/directory-listing",
            serve_at("/", 200, content_type, body),
        )
        .await;
        let findings = expect_fail("listing at /", &outcome, &["status 200", content_type]);
        assert_eq!(findings.len(), 1, "{}", show(&findings));
        assert!(
            findings[0].observed.contains("<title>Index of /")
                || findings[0]
                    .observed
                    .contains("<title>Directory listing for /"),
            "{}",
            show(&findings)
        );
        assert!(
            findings[0].check.starts_with("GET /: "),
            "{}",
            show(&findings)
        );
        // `/` is requested first; directories its entries link to follow.
        assert_eq!(seen[0].path_and_query, "/");
    }
    // The title in another case.
    let (outcome, _) = probe_against(
        "exposure/directory-listing",
        serve_at(
            "/",
            200,
            HTML,
            "<HTML><HEAD><TITLE>INDEX OF /</TITLE></HEAD></HTML>",
        ),
    )
    .await;
    expect_fail("upper-case listing", &outcome, &["<TITLE>INDEX OF"]);
    // Other servers' listing pages.
    for (server, body, quoted) in OTHER_LISTINGS {
        let (outcome, _) =
            probe_against("exposure/directory-listing", serve_at("/", 200, HTML, body)).await;
        expect_fail(&format!("{server} listing"), &outcome, &[quoted]);
    }
}

/// Python's `http.server` serving a directory at `/`: the real listing page.
#[tokio::test]
async fn directory_listing_of_a_python_http_server_fails() {
    let handler = |seen: Seen| match seen.path_and_query.as_str() {
        "/" => respond(
            200,
            &[("content-type", "text/html; charset=utf-8")],
            PYTHON_INDEX,
        ),
        _ => respond(404, &[("content-type", HTML)], "<html>not found</html>"),
    };
    let (outcome, seen) = probe_against("exposure/directory-listing", handler).await;
    let findings = expect_fail(
        "python http.server",
        &outcome,
        &["<title>Directory listing for /"],
    );
    assert_eq!(findings.len(), 1, "{}", show(&findings));
    // Its `notes/` entry is a same-origin link: that directory is requested as well.
    let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
    assert_eq!(paths, ["/", "/notes/"]);
}

/// An Apache listing at `/files/`, never declared: found because `/` links to a file in it.
#[tokio::test]
async fn directory_listing_of_a_linked_directory_is_discovered() {
    let handler = |seen: Seen| match seen.path_and_query.as_str() {
        "/" => respond(200, &[("content-type", HTML)], HOME_WITH_LINKS),
        "/files/" => respond(200, &[("content-type", HTML)], APACHE_FILES_INDEX),
        _ => respond(
            403,
            &[("content-type", HTML)],
            "<html><head><title>403 Forbidden</title></head></html>",
        ),
    };
    let (outcome, seen) = probe_against("exposure/directory-listing", handler).await;
    let findings = expect_fail("listing at /files/", &outcome, &["<title>Index of /files"]);
    assert_eq!(findings.len(), 1, "{}", show(&findings));
    assert!(
        findings[0].check.starts_with("GET /files/: "),
        "{}",
        show(&findings)
    );
    // Same-origin directories and their parents, in order of appearance, once each; never the
    // CDN's.
    let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
    assert_eq!(
        paths,
        ["/", "/static/", "/static/js/", "/static/css/", "/files/"]
    );

    // The same server with the listing off passes.
    let fixed = |seen: Seen| match seen.path_and_query.as_str() {
        "/" => respond(200, &[("content-type", HTML)], HOME_WITH_LINKS),
        _ => respond(403, &[("content-type", HTML)], "<html>forbidden</html>"),
    };
    let (outcome, _) = probe_against("exposure/directory-listing", fixed).await;
    expect_pass("listing off", &outcome);
}

/// Discovery is bounded: at most 16 directories, whatever `/` links to.
#[tokio::test]
async fn directory_listing_discovers_at_most_16_directories() {
    let many: String = (0..40)
        .map(|i| format!("<a href=\"/d{i}/f.txt\">{i}</a>"))
        .collect();
    let page: &'static str =
        Box::leak(format!("<html><body>{many}</body></html>").into_boxed_str());
    let (outcome, seen) = probe_against("exposure/directory-listing", move |seen: Seen| {
        if seen.path_and_query == "/" {
            respond(200, &[("content-type", HTML)], page)
        } else {
            respond(404, &[], "")
        }
    })
    .await;
    expect_pass("many links", &outcome);
    assert_eq!(seen.len(), 1 + 16);
}

#[tokio::test]
async fn directory_listing_of_a_declared_directory_fails_and_names_it() {
    let (outcome, seen) = probe_against_with(
        "exposure/directory-listing",
        DIRECTORIES,
        serve_at("/uploads/", 200, HTML, NGINX_INDEX),
    )
    .await;
    let findings = expect_fail(
        "listing at /uploads/",
        &outcome,
        &["<title>Index of /uploads/"],
    );
    assert_eq!(findings.len(), 1, "{}", show(&findings));
    assert!(
        findings[0].check.starts_with("GET /uploads/: "),
        "{}",
        show(&findings)
    );
    let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
    assert_eq!(paths, ["/", "/uploads/", "/static/"]);
}

#[tokio::test]
async fn directory_listing_passes_on_correct_servers_and_look_alikes() {
    let cases: &[(&str, u16, &str, &str)] = &[
        ("a normal home page", 200, HTML, SHELL),
        (
            "autoindex off: 403",
            403,
            HTML,
            "<html><head><title>403 Forbidden</title></head></html>",
        ),
        ("the listing with status 404", 404, HTML, APACHE_INDEX),
        ("the listing as text/plain", 200, TEXT, APACHE_INDEX),
        (
            "a page about directory listings",
            200,
            HTML,
            "<html><head><title>Docs</title></head><body><h1>Index of /</h1> pages</body></html>",
        ),
        (
            "a JSON body quoting a title",
            200,
            "application/json",
            "{\"html\":\"<title>Index of /</title>\"}",
        ),
        (
            "a page titled with a dash",
            200,
            HTML,
            "<html><head><title>Shop - /deals</title></head><body>deals</body></html>",
        ),
    ];
    for (what, status, content_type, body) in cases {
        let handler = move |_: Seen| respond(*status, &[("content-type", content_type)], *body);
        let (outcome, _) = probe_against("exposure/directory-listing", handler).await;
        expect_pass(&format!("directory-listing: {what}"), &outcome);
        let (outcome, _) =
            probe_against_with("exposure/directory-listing", DIRECTORIES, handler).await;
        expect_pass(
            &format!("directory-listing with directories: {what}"),
            &outcome,
        );
    }
}

#[tokio::test]
async fn directory_listing_passes_on_the_soft_404_twin_and_redirects() {
    let (outcome, _) = probe_against("exposure/directory-listing", soft_404).await;
    expect_pass("directory-listing on the soft-404 shell", &outcome);
    let (outcome, _) =
        probe_against_with("exposure/directory-listing", DIRECTORIES, soft_404).await;
    expect_pass(
        "directory-listing with directories on the soft-404 shell",
        &outcome,
    );

    // `/login` serves a listing; the 302 is not judged as a listing (discovery reads the page it
    // leads to for links, but `/login` itself is not a directory and is not requested as one).
    let (outcome, _) = probe_against_with(
        "exposure/directory-listing",
        DIRECTORIES,
        redirect_to_login(HTML, APACHE_INDEX),
    )
    .await;
    expect_pass("directory-listing redirected to /login", &outcome);
}

#[test]
fn directory_listing_runs_without_declared_directories() {
    // `{{vars.directories?}}` is optional: no skip, and `/` alone is planned.
    let loaded = load_one("exposure/directory-listing", "http://127.0.0.1:9");
    let plan = picket::plan::plan(&loaded);
    assert_eq!(plan.series.len(), 1);
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
}

// ---------------------------------------------------------------------------------------------
// exposure/api-docs
// ---------------------------------------------------------------------------------------------

const API_DOCS_PATHS: &[&str] = &[
    "/swagger.json",
    "/openapi.json",
    "/v2/api-docs",
    "/v3/api-docs",
    "/swagger/v1/swagger.json",
];
/// springfox / Swagger 2.0.
const SWAGGER_2: &str = "{\"swagger\":\"2.0\",\"info\":{\"title\":\"Shop API\",\"version\":\"1.4\"},\
     \"host\":\"shop.example\",\"basePath\":\"/api\",\"paths\":{\"/users/{id}\":{\"get\":\
     {\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"required\":true}]}}}}";
/// springdoc / OpenAPI 3, pretty-printed.
const OPENAPI_3: &str = "{\n  \"openapi\" : \"3.0.1\",\n  \"info\" : {\n    \"title\" : \"OpenAPI definition\",\n    \
     \"version\" : \"v0\"\n  },\n  \"servers\" : [ {\n    \"url\" : \"http://10.0.0.5:8080\"\n  } ],\n  \
     \"paths\" : {\n    \"/admin/users/{id}\" : {\n      \"delete\" : { }\n    }\n  }\n}";
/// Swashbuckle with a byte-order mark.
const OPENAPI_3_BOM: &str =
    "\u{feff}{\"openapi\":\"3.0.4\",\"info\":{\"title\":\"Shop\",\"version\":\"v1\"},\"paths\":{}}";

#[tokio::test]
async fn api_docs_served_fail_and_findings_name_the_path() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "/swagger.json",
            "application/json",
            SWAGGER_2,
            r#"swagger\":\"2.0"#,
        ),
        (
            "/openapi.json",
            "application/json",
            OPENAPI_3,
            r#"openapi\" : \"3.0.1"#,
        ),
        (
            "/v2/api-docs",
            "application/json;charset=UTF-8",
            SWAGGER_2,
            r#"swagger\":\"2.0"#,
        ),
        (
            "/v3/api-docs",
            "application/json",
            OPENAPI_3,
            r#"openapi\" : \"3.0.1"#,
        ),
        (
            "/swagger/v1/swagger.json",
            "application/json; charset=utf-8",
            OPENAPI_3_BOM,
            r#"openapi\":\"3.0.4"#,
        ),
        // The content type is not required.
        ("/swagger.json", TEXT, SWAGGER_2, r#"swagger\":\"2.0"#),
    ];
    for (path, content_type, body, observed) in cases {
        let what = format!("API description at {path}");
        let (outcome, seen) =
            probe_against("exposure/api-docs", serve_at(path, 200, content_type, body)).await;
        let findings = expect_fail(&what, &outcome, &[observed, "status 200"]);
        assert_eq!(findings.len(), 1, "{what}:{}", show(&findings));
        assert!(
            findings[0].check.starts_with(&format!("GET {path}: ")),
            "{what}:{}",
            show(&findings)
        );
        let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
        assert_eq!(paths, API_DOCS_PATHS);
    }
}

#[tokio::test]
async fn api_docs_pass_on_correct_servers_look_alikes_soft_404_and_redirects() {
    let (outcome, seen) = probe_against("exposure/api-docs", |_| {
        respond(404, &[("content-type", TEXT)], "")
    })
    .await;
    expect_pass("api-docs, nothing served", &outcome);
    assert_eq!(seen.len(), API_DOCS_PATHS.len());

    let (outcome, _) = probe_against("exposure/api-docs", soft_404).await;
    expect_pass("api-docs on the soft-404 shell", &outcome);

    let (outcome, seen) = probe_against(
        "exposure/api-docs",
        redirect_to_login("application/json", SWAGGER_2),
    )
    .await;
    expect_pass("api-docs redirected to /login", &outcome);
    assert!(seen.iter().all(|s| s.path_and_query != "/login"));

    let look_alikes: &[(u16, &str, &str)] = &[
        // The document behind authentication.
        (401, "application/json", SWAGGER_2),
        (403, "application/json", OPENAPI_3),
        // Swagger UI or a docs page quoting a document: HTML, not the document.
        (
            200,
            HTML,
            "<!DOCTYPE html><html><head><title>Swagger UI</title></head><body><div id=\"swagger-ui\"></div>\
             <script>SwaggerUIBundle({url: \"/v3/api-docs\"})</script></body></html>",
        ),
        (
            200,
            HTML,
            "<html><body><pre>{\"swagger\":\"2.0\",\"paths\":{}}</pre></body></html>",
        ),
        // Spring's JSON error for a missing route ("path", not "paths").
        (
            200,
            "application/json",
            "{\"timestamp\":\"2026-11-26T14:00:00Z\",\"status\":404,\"error\":\"Not Found\",\"path\":\"/v3/api-docs\"}",
        ),
        // Markers without a paths object, or without a version.
        (
            200,
            "application/json",
            "{\"openapi\":\"3.0.1\",\"info\":{}}",
        ),
        (200, "application/json", "{\"openapi\":true,\"paths\":{}}"),
    ];
    for (status, content_type, body) in look_alikes {
        let what = format!("api-docs with {status} {content_type} {body:?} everywhere");
        let (outcome, _) = probe_against("exposure/api-docs", move |_: Seen| {
            respond(*status, &[("content-type", content_type)], *body)
        })
        .await;
        expect_pass(&what, &outcome);
    }
}

/// Targets tagged `internal-only` are exempt (`not_tags`): no series, and `list` shows the
/// pair as skipped with the tag; every other target, tagged or not, gets the probe.
#[tokio::test]
async fn api_docs_exempts_internal_only_targets() {
    let config = format!(
        "library: false\nprobes: [{:?}]\ntargets:\n  - name: public-api\n    url: http://127.0.0.1:9\n    tags: [public]\n  - name: admin-api\n    url: http://127.0.0.1:9\n    tags: [internal-only, pci]\n  - name: plain\n    url: http://127.0.0.1:9\n",
        shipped("exposure/api-docs").display().to_string()
    );
    let ws = workspace(&[("picket.yaml", &config)]);
    let loaded = picket::load::load(&ws.path().join("picket.yaml"), &|_: &str| None).unwrap();
    let plan = picket::plan::plan(&loaded);
    let planned: Vec<&str> = plan.series.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        planned,
        ["exposure/api-docs@public-api", "exposure/api-docs@plain"]
    );
    assert_eq!(
        plan.skipped,
        [picket::plan::Skipped {
            probe: "exposure/api-docs".into(),
            target: "admin-api".into(),
            reason: picket::plan::Reason::Exempt("internal-only".into()),
        }]
    );

    let out = crate::helpers::run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("SERIES (2)"), "{stdout}");
    let skipped = stdout
        .split("SKIPPED (1 probe/target pair)")
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        skipped.contains("exposure/api-docs")
            && skipped.contains("admin-api")
            && skipped.contains("exempts targets tagged `internal-only`"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// headers/csp, headers/csp-unsafe-inline
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn csp_on_html_responses() {
    header_table(
        "headers/csp",
        &[
            (&[("content-security-policy", "default-src 'self'")], None),
            (
                &[(
                    "content-security-policy",
                    "default-src 'self'; script-src 'self' https://cdn.example; object-src 'none'; \
                     frame-ancestors 'none'; upgrade-insecure-requests",
                )],
                None,
            ),
            (&[("content-security-policy", "default-src 'self';")], None),
            (
                &[("content-security-policy", "frame-ancestors 'none'")],
                None,
            ),
            (
                &[(
                    "content-security-policy",
                    "script-src 'nonce-rAnd0m' 'strict-dynamic'; report-uri /csp",
                )],
                None,
            ),
            // Sent twice: two policies, both enforced.
            (
                &[
                    ("content-security-policy", "default-src 'self'"),
                    ("content-security-policy", "frame-ancestors 'none'"),
                ],
                None,
            ),
            // Missing, or only report-only.
            (&[], Some("no Content-Security-Policy")),
            (
                &[("content-security-policy-report-only", "default-src 'self'")],
                Some("no Content-Security-Policy"),
            ),
            // Unparsable.
            (
                &[("content-security-policy", "default-src: 'self'")],
                Some("default-src: 'self'"),
            ),
            (&[("content-security-policy", "'self'")], Some("'self'")),
            (
                &[("content-security-policy", "script-src='self'")],
                Some("script-src='self'"),
            ),
            (
                &[("content-security-policy", "{\"default-src\": \"'self'\"}")],
                Some("is not a directive"),
            ),
            (
                &[("content-security-policy", "")],
                Some("Content-Security-Policy"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn csp_judges_only_html() {
    // (content type of `/`, CSP or none, fails)
    let cases: &[(&str, Option<&str>, bool)] = &[
        ("application/json", None, false),
        (TEXT, None, false),
        ("image/png", None, false),
        ("text/html", None, true),
        ("TEXT/HTML; charset=UTF-8", None, true),
        ("application/xhtml+xml", None, true),
        ("application/xhtml+xml", Some("default-src 'none'"), false),
    ];
    for (content_type, csp, fails) in cases {
        let (outcome, _) = probe_against("headers/csp", move |_: Seen| {
            let mut headers = vec![("content-type", *content_type)];
            if let Some(csp) = csp {
                headers.push(("content-security-policy", csp));
            }
            respond(200, &headers, "{}")
        })
        .await;
        let what = format!("headers/csp with {content_type} and {csp:?}");
        if *fails {
            // (The content type is in the finding's check; its observed text is cut at 200
            // characters, after "no Content-Security-Policy".)
            expect_fail(&what, &outcome, &["no Content-Security-Policy"]);
        } else {
            expect_pass(&what, &outcome);
        }
    }
}

/// The soft-404 shell is what browsers render for `/`: without a CSP it fails (PROBES.md: an
/// HTML response without a CSP). Redirects from `/` are followed and the page they lead to is
/// judged: a login page without a CSP fails, one with a CSP passes.
#[tokio::test]
async fn csp_soft_404_shell_fails_and_redirects_are_followed() {
    let (outcome, _) = probe_against("headers/csp", soft_404).await;
    expect_fail(
        "headers/csp on the soft-404 shell",
        &outcome,
        &["no Content-Security-Policy"],
    );

    let (outcome, seen) = probe_against("headers/csp", redirect_to_login(HTML, SHELL)).await;
    expect_fail(
        "headers/csp, login page without CSP",
        &outcome,
        &["no Content-Security-Policy"],
    );
    assert!(seen.iter().any(|s| s.path_and_query == "/login"));

    let (outcome, _) = probe_against("headers/csp", |seen: Seen| {
        if seen.path_and_query == "/login" {
            respond(
                200,
                &[
                    ("content-type", HTML),
                    ("content-security-policy", "default-src 'self'"),
                ],
                SHELL,
            )
        } else {
            respond(302, &[("location", "/login")], "")
        }
    })
    .await;
    expect_pass("headers/csp, login page with CSP", &outcome);
}

#[tokio::test]
async fn csp_unsafe_inline() {
    const CSP: &str = "content-security-policy";
    header_table(
        "headers/csp-unsafe-inline",
        &[
            // No policy is headers/csp's finding, not this one's.
            (&[], None),
            (&[(CSP, "default-src 'self'")], None),
            (&[(CSP, "script-src 'self' 'nonce-rAnd0m'")], None),
            // script-src overrides default-src.
            (
                &[(CSP, "default-src 'self' 'unsafe-inline'; script-src 'self'")],
                None,
            ),
            (
                &[(CSP, "script-src 'self'; default-src 'unsafe-eval'")],
                None,
            ),
            // Other directives may allow inline styles.
            (
                &[(CSP, "default-src 'self'; style-src 'self' 'unsafe-inline'")],
                None,
            ),
            // Unquoted, `unsafe-inline` is a host name, not the keyword.
            (&[(CSP, "script-src 'self' unsafe-inline")], None),
            (
                &[(CSP, "script-src 'self' 'unsafe-inline'")],
                Some("'unsafe-inline'"),
            ),
            (
                &[(CSP, "script-src 'self' 'unsafe-eval'; object-src 'none'")],
                Some("'unsafe-eval'"),
            ),
            (
                &[(
                    CSP,
                    "object-src 'none'; script-src https://cdn.example 'unsafe-inline'",
                )],
                Some("'unsafe-inline'"),
            ),
            (
                &[(CSP, "SCRIPT-SRC 'self' 'UNSAFE-INLINE'")],
                Some("'UNSAFE-INLINE'"),
            ),
            // default-src applies when there is no script-src.
            (
                &[(CSP, "default-src 'self' 'unsafe-inline'")],
                Some("default-src 'self' 'unsafe-inline'"),
            ),
            (
                &[(CSP, "object-src 'none'; default-src 'self' 'unsafe-eval'")],
                Some("'unsafe-eval'"),
            ),
            (
                &[(CSP, "default-src 'unsafe-inline'; script-src-elem 'self'")],
                Some("'unsafe-inline'"),
            ),
            // CSP2+ browsers ignore 'unsafe-inline' next to a nonce, a hash or 'strict-dynamic'.
            (&[(CSP, "script-src 'nonce-rAnd0m' 'unsafe-inline'")], None),
            (
                &[(
                    CSP,
                    "script-src 'nonce-rAnd0m' 'strict-dynamic' 'unsafe-inline'",
                )],
                None,
            ),
            (
                &[(
                    CSP,
                    "script-src 'sha256-RFWPLDbv2BY+rCkDzsE+0fr8ylGr2R2faWMhq4lfEQc=' 'unsafe-inline'",
                )],
                None,
            ),
            // ...but not 'unsafe-eval'.
            (
                &[(CSP, "script-src 'nonce-rAnd0m' 'unsafe-eval'")],
                Some("'unsafe-eval'"),
            ),
            // Every policy is enforced: one that blocks inline script blocks it.
            (
                &[(CSP, "script-src 'unsafe-inline'"), (CSP, "default-src 'self'")],
                None,
            ),
            (
                &[
                    (CSP, "script-src 'unsafe-inline'"),
                    (CSP, "frame-ancestors 'none'"),
                ],
                Some("'unsafe-inline'"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn csp_unsafe_inline_passes_on_the_soft_404_twin_and_follows_redirects() {
    let (outcome, _) = probe_against("headers/csp-unsafe-inline", soft_404).await;
    expect_pass("csp-unsafe-inline on the soft-404 shell", &outcome);

    let (outcome, _) =
        probe_against("headers/csp-unsafe-inline", redirect_to_login(HTML, SHELL)).await;
    expect_pass("csp-unsafe-inline redirected to /login", &outcome);

    // The redirect itself carries a bad policy, the page it leads to a good one: the final
    // response is judged.
    let (outcome, _) = probe_against("headers/csp-unsafe-inline", |seen: Seen| {
        if seen.path_and_query == "/login" {
            respond(
                200,
                &[
                    ("content-type", HTML),
                    ("content-security-policy", "default-src 'self'"),
                ],
                SHELL,
            )
        } else {
            respond(
                302,
                &[
                    ("location", "/login"),
                    ("content-security-policy", "script-src 'unsafe-inline'"),
                ],
                "",
            )
        }
    })
    .await;
    expect_pass("csp-unsafe-inline judges the final response", &outcome);
}

// ---------------------------------------------------------------------------------------------
// cookies/flags (https targets), cookies/flags-http
// ---------------------------------------------------------------------------------------------

#[test]
fn cookie_flag_probes_select_targets_by_scheme() {
    for (probe, scheme) in [("cookies/flags", "https"), ("cookies/flags-http", "http")] {
        for url in ["http://127.0.0.1:9", "https://127.0.0.1:9"] {
            let plan = picket::plan::plan(&load_one(probe, url));
            let selected = url.starts_with(&format!("{scheme}:"));
            assert_eq!(plan.series.len(), usize::from(selected), "{probe} on {url}");
            // The other scheme is listed as skipped, for the probe's scheme filter.
            let reasons: Vec<String> = plan.skipped.iter().map(|s| s.reason.to_string()).collect();
            let want: Vec<String> = if selected {
                vec![]
            } else {
                vec![format!(
                    "targets: schemes [{scheme}]; target is {}://",
                    url.split(':').next().unwrap()
                )]
            };
            assert_eq!(reasons, want, "{probe} on {url}");
        }
    }
}

/// `cookies/flags` runs only against https targets and the test servers speak http, so its
/// checks are evaluated on hand-built responses (as `hsts_header_values` does), then folded
/// as a run folds them.
#[test]
fn cookie_flags_set_cookie_values() {
    use picket::units::Severity::{High, Low, Medium};
    // (Set-Cookie values, the findings: check, observed, severity)
    type Case = (
        &'static [&'static str],
        &'static [(&'static str, &'static str, picket::units::Severity)],
    );
    let cases: &[Case] = &[
        (&[], &[]),
        (&["sid=abc; Path=/; Secure; HttpOnly"], &[]),
        (&["sid=abc; secure; httponly; samesite=strict"], &[]),
        (&["sid=abc; Secure; HttpOnly; SameSite=Lax"], &[]),
        (&["sid=abc; Secure; HttpOnly; SameSite=None"], &[]),
        (
            &["sid=abc; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure; HttpOnly"],
            &[],
        ),
        (
            &[
                "PHPSESSID=abc; Secure; HttpOnly",
                "theme=dark; Secure; SameSite=Lax",
            ],
            &[],
        ),
        // A CSRF double-submit token must be readable by scripts: no HttpOnly needed.
        (&["csrftoken=xyz; Secure; SameSite=Strict"], &[]),
        (&["XSRF-TOKEN=xyz; Secure"], &[]),
        // A session cookie without Secure: high.
        (
            &["sid=abc; Path=/; HttpOnly"],
            &[(
                "cookie sid has the Secure flag",
                "Set-Cookie sid without Secure",
                High,
            )],
        ),
        (
            &["JSESSIONID=abc; Path=/; HttpOnly"],
            &[(
                "cookie JSESSIONID has the Secure flag",
                "Set-Cookie JSESSIONID without Secure",
                High,
            )],
        ),
        // Any other cookie without Secure: low.
        (
            &["theme=dark; Path=/"],
            &[(
                "cookie theme has the Secure flag",
                "Set-Cookie theme without Secure",
                Low,
            )],
        ),
        // A session cookie without HttpOnly: medium.
        (
            &["connect.sid=abc; Path=/; Secure"],
            &[(
                "cookie connect.sid has the HttpOnly flag",
                "Set-Cookie connect.sid without HttpOnly",
                Medium,
            )],
        ),
        (
            &["sid=abc; Secure; HttpOnly; SameSite=Bogus"],
            &[(
                "cookie sid has a valid SameSite",
                "Set-Cookie sid with an invalid SameSite \"Bogus\"",
                Low,
            )],
        ),
        // SameSite=None without Secure: the missing Secure, and the rejected SameSite.
        (
            &["sid=abc; HttpOnly; SameSite=None"],
            &[
                (
                    "cookie sid has the Secure flag",
                    "Set-Cookie sid without Secure",
                    High,
                ),
                (
                    "cookie sid has a valid SameSite",
                    "Set-Cookie sid with SameSite=None but without Secure",
                    Low,
                ),
            ],
        ),
        // Every cookie is judged on its own.
        (
            &[
                "session=abc; Path=/",
                "prefs=1; Secure",
                "lang=en; Path=/; SameSite=lax",
            ],
            &[
                (
                    "cookie session has the Secure flag",
                    "Set-Cookie session without Secure",
                    High,
                ),
                (
                    "cookie session has the HttpOnly flag",
                    "Set-Cookie session without HttpOnly",
                    Medium,
                ),
                (
                    "cookie lang has the Secure flag",
                    "Set-Cookie lang without Secure",
                    Low,
                ),
            ],
        ),
    ];
    let checks = shipped_checks("cookies/flags");
    for (values, want) in cases {
        let headers: Vec<(&str, &str)> = values.iter().map(|v| ("set-cookie", *v)).collect();
        let findings = picket::outcome::fold_graded(
            picket::check::http::evaluate(&checks, &response_with(&headers), &Default::default())
                .findings,
        );
        let got: Vec<(&str, &str, picket::units::Severity)> = findings
            .iter()
            .map(|f| {
                (
                    f.check.as_str(),
                    f.observed.as_str(),
                    f.severity.expect("every check is graded"),
                )
            })
            .collect();
        let mut got = got;
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "{values:?}");
        // The run counts at its most severe finding.
        let severity = picket::outcome::severity_of(&findings, picket::units::Severity::High);
        let most = want.iter().map(|w| w.2).max().unwrap_or(High);
        assert_eq!(severity, most, "{values:?}");
    }
}

/// `cookies/flags` against a real loopback server: the shipped file with its
/// `targets: { schemes: [https] }` line removed, so that it runs against http.
#[tokio::test]
async fn cookie_flags_against_a_loopback_server_with_the_scheme_selector_lifted() {
    let yaml = std::fs::read_to_string(shipped("cookies/flags")).unwrap();
    let lifted: String = yaml
        .lines()
        .filter(|l| !l.starts_with("targets:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(lifted.len(), yaml.len(), "no targets: line to lift");

    let run = |handler: fn(Seen) -> Response| {
        let lifted = lifted.clone();
        async move {
            let server = TestServer::start(handler).await;
            let result = crate::helpers::run_probe_with(&server.url(), "", &lifted).await;
            (result.outcome, server.seen())
        }
    };

    let (outcome, _) = run(|_| {
        respond(
            200,
            &[
                ("content-type", HTML),
                ("set-cookie", "sid=abc; Path=/; SameSite=Lax"),
            ],
            SHELL,
        )
    })
    .await;
    let findings = expect_fail(
        "cookie without flags",
        &outcome,
        &["without Secure", "without HttpOnly"],
    );
    assert!(findings.iter().all(|f| f.check.starts_with("cookie sid ")));
    assert_eq!(
        picket::outcome::severity_of(&findings, picket::units::Severity::Info),
        picket::units::Severity::High
    );

    let (outcome, _) = run(|_| {
        respond(
            200,
            &[
                ("content-type", HTML),
                (
                    "set-cookie",
                    "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
                ),
            ],
            SHELL,
        )
    })
    .await;
    expect_pass("cookie with flags", &outcome);

    let (outcome, _) = run(soft_404).await;
    expect_pass("cookies/flags on the soft-404 shell", &outcome);

    // `/login` sets a bad cookie; the redirect is not followed.
    let (outcome, seen) = run(|seen: Seen| {
        if seen.path_and_query == "/login" {
            respond(200, &[("set-cookie", "sid=abc")], SHELL)
        } else {
            respond(302, &[("location", "/login")], "")
        }
    })
    .await;
    expect_pass("cookies/flags redirected to /login", &outcome);
    assert!(seen.iter().all(|s| s.path_and_query != "/login"));

    // A cookie set on the redirect of `/` itself is judged.
    let (outcome, _) = run(|_| {
        respond(
            302,
            &[("location", "/login"), ("set-cookie", "sid=abc; Secure")],
            "",
        )
    })
    .await;
    expect_fail(
        "cookie set by the 302 of /",
        &outcome,
        &["without HttpOnly"],
    );
}

#[tokio::test]
async fn cookie_flags_http() {
    const SC: &str = "set-cookie";
    header_table(
        "cookies/flags-http",
        &[
            (&[], None),
            (&[(SC, "sid=abc; Path=/; HttpOnly")], None),
            (&[(SC, "sid=abc; HttpOnly; SameSite=Strict")], None),
            (&[(SC, "sid=abc; Path=/")], Some("without HttpOnly")),
            (
                &[(SC, "prefs=1; HttpOnly"), (SC, "PHPSESSID=1; Path=/")],
                Some("without HttpOnly"),
            ),
            // Other cookies need not be HttpOnly (a CSRF token must not be).
            (&[(SC, "prefs=1; Path=/"), (SC, "csrftoken=x")], None),
            (
                &[(SC, "sid=abc; HttpOnly; SameSite=Lenient")],
                Some("with an invalid SameSite \"Lenient\""),
            ),
            (
                &[(SC, "prefs=1; SameSite=None")],
                Some("with SameSite=None but without Secure"),
            ),
        ],
    )
    .await;

    let (outcome, _) = probe_against("cookies/flags-http", soft_404).await;
    expect_pass("cookies/flags-http on the soft-404 shell", &outcome);
    let (outcome, seen) = probe_against("cookies/flags-http", |seen: Seen| {
        if seen.path_and_query == "/login" {
            respond(200, &[(SC, "sid=abc")], SHELL)
        } else {
            respond(302, &[("location", "/login")], "")
        }
    })
    .await;
    expect_pass("cookies/flags-http redirected to /login", &outcome);
    assert!(seen.iter().all(|s| s.path_and_query != "/login"));
}

// ---------------------------------------------------------------------------------------------
// Redirects are not the page: header probes skip a redirect to another scheme or origin
// ---------------------------------------------------------------------------------------------

/// A plain-HTTP port whose only job is to send everyone to HTTPS on the same host.
fn https_redirector(to_port: u16) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |seen: Seen| {
        let location = format!("https://127.0.0.1:{to_port}{}", seen.path_and_query);
        respond(
            301,
            &[("location", location.as_str()), ("server", "nginx/1.24.0")],
            "",
        )
    }
}

/// The probes that judge a page (its headers, or a file of the site) skip a redirect to
/// another origin, naming where it goes, instead of reporting the redirector's missing headers.
#[tokio::test]
async fn header_probes_skip_a_redirect_to_another_origin() {
    for probe in [
        "headers/csp",
        "headers/csp-unsafe-inline",
        "headers/clickjacking",
        "headers/nosniff",
        "headers/referrer-policy",
        "disclosure/security-txt",
    ] {
        let (outcome, seen) = probe_against(probe, https_redirector(8443)).await;
        let reason = expect_skip(probe, &outcome);
        assert!(
            reason.starts_with("redirects to https://127.0.0.1:8443/")
                && reason.ends_with("; probe that target"),
            "{probe}: {reason}"
        );
        assert_eq!(seen.len(), 1, "{probe}: the redirect is not followed");
    }
    // The query of the Location (a token, a return URL) is not repeated in the reason.
    let (outcome, _) = probe_against("headers/nosniff", |_: Seen| {
        respond(
            302,
            &[("location", "https://127.0.0.1:8443/sso?state=s3cr3t")],
            "",
        )
    })
    .await;
    assert_eq!(
        expect_skip("nosniff", &outcome),
        "redirects to https://127.0.0.1:8443/sso; probe that target"
    );
    // Another port of the same host is another origin too.
    let (outcome, _) = probe_against("headers/clickjacking", |_: Seen| {
        respond(301, &[("location", "http://127.0.0.1:1/")], "")
    })
    .await;
    expect_skip("clickjacking, another port", &outcome);
}

/// A redirect within the site is still the site's: the header probes follow it, and
/// security.txt reports a missing file.
#[tokio::test]
async fn header_probes_judge_same_origin_redirects_as_before() {
    let (outcome, _) = probe_against("headers/nosniff", redirect_to_login(HTML, SHELL)).await;
    expect_fail(
        "nosniff via /login",
        &outcome,
        &["X-Content-Type-Options not sent"],
    );
    let (outcome, _) = probe_against(
        "disclosure/security-txt",
        redirect_to_login(TEXT, "Contact: mailto:security@example.com\n"),
    )
    .await;
    expect_fail("security.txt redirected to /login", &outcome, &["302"]);
}

/// What the redirector itself discloses is still judged: its `Server` header is its own, and
/// the cookies it sets are stored by browsers.
#[tokio::test]
async fn version_disclosure_and_cookies_judge_the_redirect_itself() {
    let (outcome, _) = probe_against("headers/version-disclosure", https_redirector(8443)).await;
    expect_fail("version on the redirector", &outcome, &["nginx/1.24.0"]);
    let (outcome, _) = probe_against("cookies/flags-http", |_: Seen| {
        respond(
            301,
            &[
                ("location", "https://127.0.0.1:8443/"),
                ("set-cookie", "sessionid=abc; Path=/"),
            ],
            "",
        )
    })
    .await;
    expect_fail("cookie on the redirector", &outcome, &["without HttpOnly"]);
}

/// `picket check` shows a skipped run as `skip` with its reason, in text and JSON, counts it,
/// and does not fail the gate for it (not even with `--fail-on-error`).
#[tokio::test]
async fn check_reports_a_redirect_skip_in_text_and_json() {
    let server = TestServer::start(https_redirector(8443)).await;
    let ws = workspace(&[
        (
            "picket.yaml",
            &crate::helpers::config_for(&server.url(), ""),
        ),
        (
            "probes/nosniff.yaml",
            &std::fs::read_to_string(shipped("headers/nosniff")).unwrap(),
        ),
    ]);
    let out = crate::helpers::run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--fail-on-error"],
        &[],
    )
    .await;
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("SKIP  headers/nosniff"), "{stdout}");
    assert!(
        stdout.contains("skipped: redirects to https://127.0.0.1:8443/; probe that target"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 series: 0 pass, 0 fail, 0 error, 1 skip"),
        "{stdout}"
    );

    let out = crate::helpers::run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--format", "json"],
        &[],
    )
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &doc["results"][0];
    assert_eq!(row["outcome"], "skip");
    assert_eq!(
        row["skipped"],
        "redirects to https://127.0.0.1:8443/; probe that target"
    );
    assert!(row["findings"].as_array().unwrap().is_empty());
    assert_eq!(doc["summary"]["skip"], 1);
}

// ---------------------------------------------------------------------------------------------
// transport/https-redirect
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn https_redirect_to_the_same_host_passes() {
    for status in [301, 302, 307, 308] {
        let (outcome, seen) = probe_against("transport/https-redirect", move |seen: Seen| {
            let location = format!("https://127.0.0.1:8443{}", seen.path_and_query);
            respond(status, &[("location", location.as_str())], "")
        })
        .await;
        expect_pass(&format!("redirect {status}"), &outcome);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path_and_query, "/");
    }
    // The default port, or no port, is the same host.
    let (outcome, _) = probe_against("transport/https-redirect", |_: Seen| {
        respond(301, &[("location", "https://127.0.0.1/")], "")
    })
    .await;
    expect_pass("redirect to :443", &outcome);
}

#[tokio::test]
async fn https_redirect_fails_on_content_other_hosts_and_plain_redirects() {
    // A plain server serving content.
    let (outcome, _) = probe_against("transport/https-redirect", soft_404).await;
    expect_fail("serves content", &outcome, &["status 200"]);
    // A redirect to HTTPS on another host.
    let (outcome, _) = probe_against("transport/https-redirect", |_: Seen| {
        respond(301, &[("location", "https://127.0.0.2/")], "")
    })
    .await;
    expect_fail(
        "another host",
        &outcome,
        &["Location https://127.0.0.2/ (host 127.0.0.2, not 127.0.0.1)"],
    );
    // A redirect that stays on plain HTTP (to /login, the redirect-to-login twin).
    let (outcome, _) =
        probe_against("transport/https-redirect", redirect_to_login(HTML, SHELL)).await;
    expect_fail("to /login", &outcome, &["scheme http"]);
    // 303 is not a redirect PROBES.md accepts.
    let (outcome, _) = probe_against("transport/https-redirect", |_: Seen| {
        respond(303, &[("location", "https://127.0.0.1/")], "")
    })
    .await;
    expect_fail("303", &outcome, &["303"]);
}

#[tokio::test]
async fn https_redirect_of_an_https_target_uses_its_http_port() {
    // The https URL's port is closed; only the declared plain-HTTP port answers.
    let plain = TestServer::start(https_redirector(1)).await;
    let extra = format!(
        "    headers: {{ Authorization: \"Bearer target-secret\" }}\n    vars: {{ http_port: \"{}\" }}\n",
        plain.addr.port()
    );
    let outcome = run_shipped_with("transport/https-redirect", "https://127.0.0.1:1", &extra).await;
    expect_pass("https target with http_port", &outcome);
    let seen = plain.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].headers.get("authorization").is_none(),
        "target credentials went over plain HTTP"
    );

    let content = TestServer::start(soft_404).await;
    let extra = format!("    vars: {{ http_port: \"{}\" }}\n", content.addr.port());
    let outcome = run_shipped_with("transport/https-redirect", "https://127.0.0.1:1", &extra).await;
    expect_fail(
        "https target serving content over http_port",
        &outcome,
        &["status 200"],
    );
}

#[test]
fn https_redirect_is_skipped_for_https_targets_without_http_port() {
    let plan = picket::plan::plan(&load_one("transport/https-redirect", "https://127.0.0.1:9"));
    assert!(plan.series.is_empty());
    assert_eq!(
        plan.skipped,
        vec![picket::plan::Skipped {
            probe: "transport/https-redirect".into(),
            target: "web".into(),
            reason: picket::plan::Reason::MissingVar("http_port".into()),
        }]
    );
    // Plain-HTTP targets need nothing declared.
    let plan = picket::plan::plan(&load_one("transport/https-redirect", "http://127.0.0.1:9"));
    assert_eq!(plan.series.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// A Content-Security-Policy in <meta http-equiv>
// ---------------------------------------------------------------------------------------------

/// An HTML page whose only policy is a `<meta http-equiv>` in its head.
fn meta_page(policy: &'static str) -> impl Fn(Seen) -> Response + Clone + Send + Sync + 'static {
    move |_: Seen| {
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\
             <title>Shop</title></head><body>shop</body></html>"
        );
        respond(200, &[("content-type", HTML)], body)
    }
}

#[tokio::test]
async fn a_meta_policy_counts_for_csp_but_not_for_framing() {
    let (outcome, _) = probe_against("headers/csp", meta_page("default-src 'self'")).await;
    expect_pass("csp in meta", &outcome);
    let (outcome, _) = probe_against("headers/csp", meta_page("default-src: 'self'")).await;
    expect_fail("malformed csp in meta", &outcome, &["is not a directive"]);
    // A meta policy in the body, not the head, is ignored by browsers.
    let (outcome, _) = probe_against("headers/csp", |_: Seen| {
        respond(
            200,
            &[("content-type", HTML)],
            "<html><head><title>x</title></head><body>\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'\"></body></html>",
        )
    })
    .await;
    expect_fail(
        "csp meta in body",
        &outcome,
        &["no Content-Security-Policy"],
    );

    let (outcome, _) = probe_against(
        "headers/csp-unsafe-inline",
        meta_page("script-src 'self' 'unsafe-inline'"),
    )
    .await;
    expect_fail("unsafe-inline in meta", &outcome, &["'unsafe-inline'"]);

    // frame-ancestors cannot be set by a meta policy.
    let (outcome, _) =
        probe_against("headers/clickjacking", meta_page("frame-ancestors 'none'")).await;
    expect_fail(
        "frame-ancestors in meta",
        &outcome,
        &["no Content-Security-Policy"],
    );
}

// ---------------------------------------------------------------------------------------------
// cookies/prefixes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cookie_prefixes() {
    const SC: &str = "set-cookie";
    header_table(
        "cookies/prefixes",
        &[
            (&[], None),
            (&[(SC, "sid=abc; Path=/")], None),
            (&[(SC, "__Host-sid=abc; Secure; Path=/; HttpOnly")], None),
            (
                &[(SC, "__Secure-sid=abc; Secure; Domain=example.com")],
                None,
            ),
            (&[(SC, "__Host-sid=abc; Path=/")], Some("without Secure")),
            (&[(SC, "__Host-sid=abc; Secure")], Some("without Path")),
            (
                &[(SC, "__Host-sid=abc; Secure; Path=/app")],
                Some("with Path \"/app\""),
            ),
            (
                &[(SC, "__Host-sid=abc; Secure; Path=/; Domain=example.com")],
                Some("with Domain \"example.com\""),
            ),
            (&[(SC, "__Secure-id=abc; HttpOnly")], Some("without Secure")),
            (&[(SC, "__secure-id=abc")], Some("without Secure")),
            (
                &[
                    (SC, "__Host-ok=1; Secure; Path=/"),
                    (SC, "__Host-bad=1; Secure; Path=/; Domain=example.com"),
                ],
                Some("with Domain \"example.com\""),
            ),
        ],
    )
    .await;

    let (outcome, _) = probe_against("cookies/prefixes", |_| {
        respond(
            200,
            &[
                (SC, "__Host-a=1"),
                (SC, "__Secure-b=1; Secure"),
                (SC, "__Secure-c=1"),
            ],
            SHELL,
        )
    })
    .await;
    let findings = expect_fail("two bad prefixed cookies", &outcome, &[]);
    let checks: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(
        checks,
        [
            "cookie __Host-a keeps the __Host- prefix rules",
            "cookie __Secure-c keeps the __Secure- prefix rules"
        ]
    );

    let (outcome, _) = probe_against("cookies/prefixes", soft_404).await;
    expect_pass("cookies/prefixes on the soft-404 shell", &outcome);
    let (outcome, seen) = probe_against("cookies/prefixes", |seen: Seen| {
        if seen.path_and_query == "/login" {
            respond(200, &[(SC, "__Host-sid=abc")], SHELL)
        } else {
            respond(302, &[("location", "/login")], "")
        }
    })
    .await;
    expect_pass("cookies/prefixes redirected to /login", &outcome);
    assert!(seen.iter().all(|s| s.path_and_query != "/login"));
}
