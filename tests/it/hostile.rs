//! Hostile templates: word lists and request blocks far past what a real template has, and
//! checks that cost more CPU than a run's timeout. Each is refused at load, or ends as an
//! `error` within its timeout (never a late pass), and none of them stalls the service: its
//! `/healthz` keeps answering. Every template is built here, in a temporary directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use picket::check::Graded;
use picket::check::http::Check;
use picket::check::nuclei::{Condition, Matcher, Matchers, Part, Test};
use picket::outcome::{ErrorKind, Outcome, RunResult};
use picket::probe::Kind;

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};

const MIB: usize = 1 << 20;

/// A nuclei template with the given request blocks (YAML list items under `http:`) and extra
/// top-level YAML.
fn template(id: &str, blocks: &str, extra: &str) -> String {
    format!("id: {id}\ninfo:\n  name: {id}\n  severity: high\n{extra}http:\n{blocks}")
}

/// One request block to `/` with one `word` matcher over the body.
fn word_block(words: &[String], condition: &str) -> String {
    let list: String = words
        .iter()
        .map(|w| format!("          - \"{w}\"\n"))
        .collect();
    format!(
        "  - method: GET\n    path: [\"{{{{BaseURL}}}}/\"]\n    matchers:\n      - type: word\n        condition: {condition}\n        words:\n{list}"
    )
}

/// `picket validate` of one template with a config without targets (so nothing but the
/// template itself can refuse it): the first error line and the whole stderr.
async fn validate(template: &str) -> (String, String) {
    let ws = workspace(&[
        ("t.yaml", template),
        (
            "picket.yaml",
            "library: false\nprobes: [t.yaml]\ntargets: []\n",
        ),
    ]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    (
        stderr.lines().next().unwrap_or_default().to_string(),
        stderr,
    )
}

#[tokio::test]
async fn a_template_of_20000_words_is_refused_at_load_naming_the_count_and_the_limit() {
    let words: Vec<String> = (0..20_000).map(|i| format!("w{i:06}")).collect();
    let (first, stderr) = validate(&template("many-words", &word_block(&words, "or"), "")).await;
    // The word that crosses the budget, the 1025th, on its own line of the list.
    let line = 1 + 4 + 6 + 1024 + 1;
    assert_eq!(
        first,
        format!(
            "t.yaml:{line}:13: the `word` matchers of this template list 20000 words; picket loads at most 1024 per template"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

#[tokio::test]
async fn a_template_of_two_500_kb_words_is_refused_at_load_naming_the_bytes() {
    let words = vec!["a".repeat(500_000), "b".repeat(500_000)];
    let (first, stderr) = validate(&template("big-words", &word_block(&words, "and"), "")).await;
    assert_eq!(
        first,
        "t.yaml:12:13: the words of this template total 1000000 bytes; picket loads at most 65536 bytes (64 KiB) of words per template",
        "{stderr}"
    );
}

#[tokio::test]
async fn a_template_of_1000_request_blocks_is_refused_at_load_naming_the_count() {
    let blocks: String = (0..1000)
        .map(|i| {
            format!(
                "  - method: GET\n    path: [\"{{{{BaseURL}}}}/p{i}\"]\n    matchers:\n      - type: status\n        status: [500]\n"
            )
        })
        .collect();
    let (first, stderr) = validate(&template("many-blocks", &blocks, "")).await;
    // The 257th path, which crosses the cap: each block takes 5 lines after the 5 of the head.
    let line = 5 + 256 * 5 + 2;
    assert_eq!(
        first,
        format!(
            "t.yaml:{line}:12: the 1000 request blocks of this template send 1000 requests per run; one run sends at most 256"
        ),
        "{stderr}"
    );
}

/// A config with one target at `url`, the probes of `dir/probes/`, bodies up to 2 MiB, and
/// `limits`.
fn config(dir: &std::path::Path, url: &str, limits: &str) -> String {
    format!(
        "library: false\nprobes: [{}]\ntargets:\n  - name: web\n    url: {url}\n\
         limits:\n  max_body_bytes: 2MiB\n  per_target_concurrency: 16\n{limits}",
        dir.join("probes").display()
    )
}

/// Loads one template against `url` and returns its one series, with the runner.
fn load_one(
    url: &str,
    limits: &str,
    template: &str,
) -> (tempfile::TempDir, picket::plan::Series, picket::run::Runner) {
    picket::crypto::install_crypto_provider();
    let ws = workspace(&[("probes/t.yaml", template)]);
    std::fs::write(
        ws.path().join("picket.yaml"),
        config(ws.path(), url, limits),
    )
    .unwrap();
    let loaded = picket::load::load(&ws.path().join("picket.yaml"), &|_: &str| None)
        .unwrap_or_else(|d| panic!("{d}"));
    let plan = picket::plan::plan(&loaded);
    assert_eq!(plan.series.len(), 1);
    let runner = picket::run::Runner::new(&loaded.config).unwrap();
    let series = plan.series[0].clone();
    (ws, series, runner)
}

/// Runs the series on a runtime of its own, in a thread of its own, and waits at most
/// `patience` for it: a run that blocks its runtime's thread cannot stall the test too.
fn run_watched(
    runner: picket::run::Runner,
    series: picket::plan::Series,
    patience: Duration,
) -> (Option<RunResult>, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(runner.run(&series));
        let _ = tx.send(result);
        // A run stuck in its evaluation would keep this runtime from shutting down.
        rt.shutdown_background();
    });
    let result = rx.recv_timeout(patience).ok();
    (result, start.elapsed())
}

/// A loopback server whose `/` answers 200 with `body`.
async fn serving(body: Vec<u8>) -> TestServer {
    let body = Arc::new(body);
    TestServer::start(move |_| respond(200, &[("content-type", "text/plain")], body.to_vec())).await
}

/// The series with its one exchange's checks replaced by one nuclei `word` matcher over the
/// body, built as load would build it but past its budget: the word search itself must stay
/// fast whatever the words.
fn with_words(
    series: &picket::plan::Series,
    words: Vec<String>,
    condition: Condition,
) -> picket::plan::Series {
    let mut probe = (*series.probe).clone();
    let Kind::Http(http) = &mut probe.kind else {
        panic!("an http probe")
    };
    http.exchanges[0].checks = vec![Graded::from(Check::Nuclei(Matchers {
        matchers: vec![Matcher {
            name: None,
            test: Test::words(words, condition, false).unwrap(),
            part: Part::Body,
            negative: false,
        }],
        condition: Condition::Or,
    }))];
    picket::plan::Series {
        probe: Arc::new(probe),
        ..series.clone()
    }
}

const ONE_BLOCK: &str = "  - method: GET\n    path: [\"{{BaseURL}}/\"]\n    matchers:\n      - type: status\n        status: [599]\n";

/// The word cases of the issue, past the load budget (so built in-process) over a 1 MiB body:
/// 20,000 words, and two 500 kB words. Each run is decided within its timeout + 1 s, and
/// finds what is there: the body ends with the last word, so a pass would be wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issues_word_matchers_over_a_1_mib_body_are_decided_within_the_timeout() {
    let timeout = Duration::from_secs(3);
    let extra = "picket:\n  timeout: 3s\n";
    // 20,000 words `w000000` …; the body is `x`s ending in the last one.
    let many: Vec<String> = (0..20_000).map(|i| format!("w{i:06}")).collect();
    let mut body = vec![b'x'; MIB];
    body[MIB - 7..].copy_from_slice(b"w019999");
    let server = serving(body).await;
    let (_ws, series, runner) = load_one(&server.url(), "", &template("words", ONE_BLOCK, extra));
    let series = with_words(&series, many, Condition::Or);
    let (result, took) = run_watched(runner, series, timeout + Duration::from_secs(30));
    let result = result.expect("the run ended");
    assert!(took <= timeout + Duration::from_secs(1), "took {took:?}");
    let Outcome::Fail(findings) = &result.outcome else {
        panic!("expected the last word found, got {:?}", result.outcome)
    };
    assert!(
        findings[0]
            .observed
            .starts_with(&format!("matched at byte {}", MIB - 7)),
        "{findings:?}"
    );

    // Two 500 kB words of `a`s ending in `b` and `c`; the body is `a`s ending in `b`: the
    // naive search compared up to 500 kB at each of a million positions.
    let big = vec![
        format!("{}b", "a".repeat(499_999)),
        format!("{}c", "a".repeat(499_999)),
    ];
    let mut body = vec![b'a'; MIB];
    body[MIB - 1] = b'b';
    let server = serving(body).await;
    let (_ws, series, runner) = load_one(&server.url(), "", &template("big", ONE_BLOCK, extra));
    let series = with_words(&series, big, Condition::Or);
    let (result, took) = run_watched(runner, series, timeout + Duration::from_secs(30));
    let result = result.expect("the run ended");
    assert!(took <= timeout + Duration::from_secs(1), "took {took:?}");
    assert!(
        matches!(result.outcome, Outcome::Fail(_)),
        "{:?}",
        result.outcome
    );
}

/// `n` regexes, each within every load budget, that make the regex engine give up its lazy
/// DFA on a body of random `a`s and `b`s (a window of 18 letters has 2^18 states) and fall
/// back to simulating the automaton byte by byte: seconds per regex over 1 MiB.
fn slow_regex_block(n: usize) -> String {
    let list: String = (0..n)
        .map(|i| format!("          - \"[ab]*a[ab]{{18}}c{i}\"\n"))
        .collect();
    format!(
        "  - method: GET\n    path: [\"{{{{BaseURL}}}}/\"]\n    matchers:\n      - type: regex\n        condition: and\n        regex:\n{list}"
    )
}

/// 1 MiB of pseudo-random `a`s and `b`s (an xorshift, so the test is the same every time).
fn random_ab() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x & 1 == 0 { b'a' } else { b'b' }
        })
        .collect()
}

/// A template that loads (every budget holds) but whose checks take far longer than its
/// timeout: the run is an `error` of type `timeout` within timeout + 1 s, not a late pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_that_outrun_the_timeout_end_the_run_as_a_timeout_error_in_time() {
    let server = serving(random_ab()).await;
    let timeout = Duration::from_secs(1);
    let (_ws, series, runner) = load_one(
        &server.url(),
        "",
        &template("slow", &slow_regex_block(40), "picket:\n  timeout: 1s\n"),
    );
    let (result, took) = run_watched(runner, series, Duration::from_secs(300));
    let result = result.expect("the run ended");
    let Outcome::Error(e) = &result.outcome else {
        panic!(
            "expected a timeout error, got {:?} after {took:?}",
            result.outcome
        )
    };
    assert_eq!(e.kind, ErrorKind::Timeout, "{e:?}");
    assert!(took <= timeout + Duration::from_secs(1), "took {took:?}");
}

/// `picket run` with four series of such checks: its `/healthz` answers within 1 s throughout,
/// since checks are evaluated off the async workers the API shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_checks_outrun_their_timeouts() {
    let server = serving(random_ab()).await;
    let files: Vec<(String, String)> = (0..4)
        .map(|i| {
            (
                format!("probes/slow{i}.yaml"),
                template(&format!("slow{i}"), &slow_regex_block(40), ""),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let ws = workspace(&refs);
    std::fs::write(
        ws.path().join("picket.yaml"),
        format!(
            "{}defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  timeout: 1s\napi: {{ listen: \"127.0.0.1:0\" }}\n",
            config(ws.path(), &server.url(), "")
        ),
    )
    .unwrap();
    let service = crate::service::spawn_service(ws.path(), &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    // Long enough for every series to have run its checks several times.
    while start.elapsed() < Duration::from_secs(8) {
        let asked = Instant::now();
        let answer = client
            .get(format!("http://{}/healthz", service.api))
            .send()
            .await;
        let took = asked.elapsed();
        assert!(
            answer.is_ok_and(|r| r.status().is_success()),
            "after {took:?}"
        );
        slowest = slowest.max(took);
        assert!(took <= Duration::from_secs(1), "/healthz took {took:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = service.terminate().await;
    assert!(status.success(), "{status:?}");
    eprintln!("slowest /healthz: {slowest:?}");
    assert!(server.seen().len() >= 4, "every series ran");
}

/// A run of 12 requests under 2 requests per second waits about 6 s for rate slots, which the
/// timeout (the exchange alone) does not count; the wall limit (4 × the 0.5 s timeout) does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_waits_on_rate_slots_past_its_wall_limit_is_a_timeout_error() {
    let server = TestServer::start(|_| respond(200, &[], "ok")).await;
    let blocks: String = (0..12)
        .map(|i| {
            format!(
                "  - method: GET\n    path: [\"{{{{BaseURL}}}}/p{i}\"]\n    matchers:\n      - type: status\n        status: [500]\n"
            )
        })
        .collect();
    let (_ws, series, runner) = load_one(
        &server.url(),
        "  per_target_rps: 2\n",
        &template("paced", &blocks, "picket:\n  timeout: 500ms\n"),
    );
    let (result, _) = run_watched(runner, series, Duration::from_secs(60));
    let result = result.expect("the run ended");
    let Outcome::Error(e) = &result.outcome else {
        panic!("expected a timeout error, got {:?}", result.outcome)
    };
    assert_eq!(e.kind, ErrorKind::Timeout, "{e:?}");
    assert!(
        e.message
            .starts_with("run did not finish within 2s of wall time (4 × its 500ms timeout)"),
        "{}",
        e.message
    );
    assert!(e.message.contains("per_target_rps"), "{}", e.message);
    assert!(server.seen().len() < 12, "sent {}", server.seen().len());
}

/// A probe past the request cap that got past load (built in-process here) sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_more_blocks_than_the_request_cap_sends_nothing() {
    let server = TestServer::start(|_| respond(200, &[], "ok")).await;
    let (_ws, series, runner) = load_one(&server.url(), "", &template("one", ONE_BLOCK, ""));
    let mut probe = (*series.probe).clone();
    let Kind::Http(http) = &mut probe.kind else {
        panic!("an http probe")
    };
    let block = http.exchanges[0].clone();
    http.exchanges = vec![block; 300];
    let series = picket::plan::Series {
        probe: Arc::new(probe),
        ..series
    };
    let (result, _) = run_watched(runner, series, Duration::from_secs(60));
    let result = result.expect("the run ended");
    let Outcome::Error(e) = &result.outcome else {
        panic!("expected an error, got {:?}", result.outcome)
    };
    assert_eq!(e.kind, ErrorKind::Request, "{e:?}");
    assert_eq!(
        e.message,
        "the probe's 300 request blocks would send 300 requests; one run sends at most 256"
    );
    assert!(server.seen().is_empty(), "sent {}", server.seen().len());
}

/// Runs `probe` (a picket probe) once against a server answering `body` as `content_type`,
/// with a 10 s timeout: the outcome.
async fn decided(probe_checks: &str, content_type: &'static str, body: Vec<u8>) -> Outcome {
    let body = Arc::new(body);
    let server =
        TestServer::start(move |_| respond(200, &[("content-type", content_type)], body.to_vec()))
            .await;
    let probe = format!(
        "id: test/hostile\nname: hostile\nseverity: low\ntimeout: 10s\nhttp:\n  path: /\nchecks:\n{probe_checks}"
    );
    let (_ws, series, runner) = load_one(&server.url(), "", &probe);
    let (result, took) = run_watched(runner, series, Duration::from_secs(120));
    let result = result.expect("the run ended");
    assert!(
        !matches!(&result.outcome, Outcome::Error(e) if e.kind == ErrorKind::Timeout),
        "not decided within the timeout: {:?} after {took:?}",
        result.outcome
    );
    result.outcome
}

/// A `<meta>` policy of a megabyte is read in one pass: `&` without `;` used to be scanned to
/// the end of the value once per `&`, and each directive compared with all before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csp_meta_policy_of_a_megabyte_is_read_in_one_pass() {
    let page = |content: &str| {
        format!(
            "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{content}\"></head></html>"
        )
        .into_bytes()
    };
    let parsable = "  - csp: { parsable: true }\n";
    let ampersands = "&".repeat(MIB);
    let outcome = decided(parsable, "text/html", page(&ampersands)).await;
    assert!(matches!(outcome, Outcome::Fail(_)), "{outcome:?}");
    let directives: String = (0..MIB / 8).map(|i| format!("d{i:05x};")).collect();
    let outcome = decided(parsable, "text/html", page(&directives)).await;
    assert!(matches!(outcome, Outcome::Pass), "{outcome:?}");
}

/// Many `json` checks over a megabyte of JSON parse it once, not once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_json_checks_parse_a_megabyte_body_once() {
    let items: Vec<String> = (0..MIB / 8).map(|i| i.to_string()).collect();
    let body = format!("{{\"items\": [{}]}}", items.join(",")).into_bytes();
    let checks: String = (0..1000)
        .map(|i| format!("  - json: {{ pointer: /items/{i}, equals: {i} }}\n"))
        .collect();
    let outcome = decided(&checks, "application/json", body).await;
    assert!(matches!(outcome, Outcome::Pass), "{outcome:?}");
}
