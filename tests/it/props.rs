//! Property tests: no YAML file and no response can panic picket or make it say something
//! unbounded or unlocated.
//!
//! * The loaders (probe and config), fed arbitrary bytes and structure-aware mutations of the
//!   shipped files (lines deleted, duplicated, swapped or re-indented, scalars replaced by
//!   random text and numbers, keys inserted), either load or report at least one diagnostic,
//!   each positioned inside the file it names.
//! * Every shipped probe's checks, evaluated against an arbitrary status, headers and body
//!   (invalid UTF-8 included, cut or not), never panic and quote a bounded observation.
//!
//! Each property runs [`DEFAULT_CASES`] cases, so `cargo test` stays fast; set
//! `PROPTEST_CASES` for a longer run (`PROPTEST_CASES=5000 cargo test --test it props`).
//! proptest catches a panic inside a case, shrinks the input and fails the test with the
//! minimal case, so nothing here catches panics itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use picket::check::Graded;
use picket::check::http::{Check, Response};
use picket::config::Defaults;
use picket::diag::Diagnostics;
use picket::redact::Redactor;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::helpers::repo_root;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 64;

/// Findings quote at most 200 characters of what was observed, plus an ellipsis.
const MAX_OBSERVED_CHARS: usize = 201;

/// The proptest configuration of every property here: [`DEFAULT_CASES`] cases, or
/// `PROPTEST_CASES` when set.
fn config() -> ProptestConfig {
    config_with(DEFAULT_CASES)
}

/// A proptest configuration of `cases` cases, or `PROPTEST_CASES` when set.
pub(crate) fn config_with(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The shipped files
// ---------------------------------------------------------------------------------------------

/// Every shipped YAML file under `dir` (relative to the repository root), sorted.
fn shipped(dir: &str) -> Vec<PathBuf> {
    let mut files = picket::files::yaml_files(&repo_root().join(dir))
        .unwrap()
        .files;
    files.sort();
    assert!(!files.is_empty(), "no YAML files under {dir}");
    files
}

static PROBE_FILES: LazyLock<Vec<PathBuf>> = LazyLock::new(|| shipped("probes"));
static CONFIG_FILES: LazyLock<Vec<PathBuf>> = LazyLock::new(|| shipped("config"));

/// The checks of every shipped probe, compiled once.
static SHIPPED_CHECKS: LazyLock<Vec<(String, Vec<Graded<Check>>)>> = LazyLock::new(|| {
    let probes =
        picket::load::load_probe_paths(&[repo_root().join("probes")], &Defaults::default())
            .unwrap_or_else(|d| panic!("the shipped probes do not load:\n{d}"));
    probes
        .into_iter()
        .map(|p| (p.id.clone(), crate::probes::http_checks(&p.kind)))
        .collect()
});

// ---------------------------------------------------------------------------------------------
// Structure-aware mutations of YAML text
// ---------------------------------------------------------------------------------------------

/// A scalar to put where a value was.
#[derive(Debug, Clone)]
enum Scalar {
    /// Random text, YAML punctuation included.
    Text(String),
    /// A number of any sign and size that fits in 64 bits.
    Int(i64),
    /// A negative number.
    Negative(i64),
    /// Digits far beyond any integer type.
    Huge(String),
    /// A float, including exponents like `1e-20`.
    Float(f64),
}

impl Scalar {
    fn render(&self) -> String {
        match self {
            Scalar::Text(t) => t.clone(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Negative(n) => format!("-{}", n.unsigned_abs()),
            Scalar::Huge(digits) => digits.clone(),
            Scalar::Float(f) => format!("{f:e}"),
        }
    }
}

/// Random text that cannot name an existing path under the working directory (the repository
/// root), so a mutated `probes:` entry never makes the config loader walk the repository,
/// `target/` or `/`.
fn random_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _:#{}\\[\\],&*!|>'\"%@`?~=+-]{0,24}".prop_filter("names no existing path", |s| {
        let core: String = s
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        core.is_empty() || !Path::new(&core).exists()
    })
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        random_text().prop_map(Scalar::Text),
        any::<i64>().prop_map(Scalar::Int),
        (1..=i64::MAX).prop_map(Scalar::Negative),
        "[1-9][0-9]{19,400}".prop_map(Scalar::Huge),
        any::<f64>().prop_map(Scalar::Float),
        Just(Scalar::Float(1e-20)),
        Just(Scalar::Int(0)),
    ]
}

/// One edit of a YAML file's lines. Line indexes wrap around the file's length.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Duplicate(Index),
    Swap(Index, Index),
    /// Adds (positive) or removes (negative) leading spaces.
    Indent(Index, i8),
    /// Replaces the value after the first (or last) `: ` or `- ` of the line, or the whole
    /// line when it has neither.
    ReplaceScalar(Index, bool, Scalar),
    /// Inserts `key: scalar` before the line, at that line's indentation.
    InsertKey(Index, String, Scalar),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let key = prop_oneof![
        "[a-z_]{1,16}",
        select(vec![
            "id",
            "http",
            "checks",
            "probes",
            "targets",
            "limits",
            "max_body_bytes",
            "per_target_rps",
            "timeout",
            "status",
            "body",
            "not",
            "all_of",
            "<<",
        ])
        .prop_map(String::from),
    ];
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Duplicate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<Index>(), -8i8..=8).prop_map(|(i, by)| Mutation::Indent(i, by)),
        (any::<Index>(), any::<bool>(), scalar())
            .prop_map(|(i, last, s)| Mutation::ReplaceScalar(i, last, s)),
        (any::<Index>(), key, scalar()).prop_map(|(i, k, s)| Mutation::InsertKey(i, k, s)),
    ]
}

fn apply(lines: &mut Vec<String>, mutation: &Mutation) {
    if lines.is_empty() {
        lines.push(String::new());
    }
    let len = lines.len();
    match mutation {
        Mutation::Delete(i) => {
            lines.remove(i.index(len));
        }
        Mutation::Duplicate(i) => {
            let line = lines[i.index(len)].clone();
            lines.insert(i.index(len), line);
        }
        Mutation::Swap(a, b) => lines.swap(a.index(len), b.index(len)),
        Mutation::Indent(i, by) => {
            let line = &mut lines[i.index(len)];
            if *by >= 0 {
                line.insert_str(0, &" ".repeat(*by as usize));
            } else {
                let strip = line
                    .chars()
                    .take(by.unsigned_abs() as usize)
                    .take_while(|c| *c == ' ')
                    .count();
                line.drain(..strip);
            }
        }
        Mutation::ReplaceScalar(i, last, scalar) => {
            let line = &mut lines[i.index(len)];
            let cut = [": ", "- "]
                .iter()
                .filter_map(|sep| {
                    if *last {
                        line.rfind(sep)
                    } else {
                        line.find(sep)
                    }
                    .map(|at| at + sep.len())
                })
                .min();
            let keep = cut.unwrap_or_else(|| line.len() - line.trim_start().len());
            line.truncate(keep);
            line.push_str(&scalar.render());
        }
        Mutation::InsertKey(i, key, scalar) => {
            let at = i.index(len);
            let indent = lines[at].len() - lines[at].trim_start().len();
            let line = format!("{}{key}: {}", " ".repeat(indent), scalar.render());
            lines.insert(at, line);
        }
    }
}

/// `text` with every mutation applied in turn.
fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for m in mutations {
        apply(&mut lines, m);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------------
// What every load must satisfy
// ---------------------------------------------------------------------------------------------

/// Lines of a file for position checks: a final line without a newline counts.
fn line_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1
}

/// Every diagnostic is positioned inside the file it names (line 1 to one past the last).
fn assert_located(diags: &Diagnostics) -> Result<(), TestCaseError> {
    let mut lines: HashMap<PathBuf, u64> = HashMap::new();
    for d in diags.iter() {
        let count = *lines
            .entry(d.path.clone())
            .or_insert_with(|| std::fs::read(&d.path).map_or(1, |b| line_count(&b)));
        prop_assert!(
            d.pos.line >= 1 && d.pos.line <= count + 1 && d.pos.column >= 1,
            "{d} is outside its file of {count} lines"
        );
        prop_assert!(!d.message.is_empty(), "{d} has no message");
    }
    Ok(())
}

/// Loads `bytes` as a probe file: a probe, or at least one located diagnostic.
fn check_probe_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, bytes).unwrap();
    let mut diags = Diagnostics::default();
    let probe = picket::load::load_probe_file(&file, &Defaults::default(), &mut diags);
    prop_assert!(
        probe.is_some() || !diags.is_empty(),
        "no probe and no diagnostic"
    );
    prop_assert!(
        probe.is_none() || diags.is_empty(),
        "a probe despite diagnostics: {diags}"
    );
    assert_located(&diags)
}

/// Loads `bytes` as the config file: the config, or at least one located diagnostic. Its
/// relative `probes:` resolve against the working directory, the repository root, as for the
/// shipped config.
fn check_config_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("picket.yaml");
    std::fs::write(&file, bytes).unwrap();
    match picket::load::load(&file, &|_| None) {
        Ok(_) => Ok(()),
        Err(diags) => {
            prop_assert!(!diags.is_empty(), "an error without a diagnostic");
            assert_located(&diags)
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_as_a_probe_file_load_or_report_a_located_error(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        check_probe_bytes(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_as_the_config_load_or_report_a_located_error(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        check_config_bytes(&bytes)?;
    }

    #[test]
    fn mutated_shipped_probes_load_or_report_located_errors(
        file in select(PROBE_FILES.clone()),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        check_probe_bytes(mutate(&read(&file), &mutations).as_bytes())?;
    }

    #[test]
    fn mutated_shipped_configs_load_or_report_located_errors(
        file in select(CONFIG_FILES.clone()),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        check_config_bytes(mutate(&read(&file), &mutations).as_bytes())?;
    }
}

// ---------------------------------------------------------------------------------------------
// Check evaluation on arbitrary responses
// ---------------------------------------------------------------------------------------------

/// Header names the shipped probes look at, and random valid ones.
fn header_name() -> impl Strategy<Value = HeaderName> {
    let known = select(vec![
        "strict-transport-security",
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "server",
        "x-powered-by",
        "set-cookie",
        "content-type",
        "location",
        "access-control-allow-origin",
        "access-control-allow-credentials",
    ])
    .prop_map(HeaderName::from_static);
    let random = "[a-z0-9!#$%&'*+.^_`|~-]{1,24}"
        .prop_map(|n| HeaderName::from_bytes(n.as_bytes()).expect("token characters only"));
    prop_oneof![3 => known, 1 => random]
}

/// Any bytes a header value may hold (visible ASCII, space, tab, obs-text), mixed with
/// fragments the shipped probes parse (cookie attributes, `max-age=`, CSP directives), up to
/// about 1000 bytes.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    let byte = prop_oneof![0x20u8..=0x7E, 0x80u8..=0xFF, Just(b'\t')];
    let part = prop_oneof![
        proptest::collection::vec(byte, 0..400),
        select(vec![
            "sid=1",
            "; Secure",
            "; HttpOnly",
            "; SameSite=",
            "SameSite=Lax",
            "max-age=",
            "31536000",
            "; includeSubDomains",
            "script-src ",
            "'unsafe-inline'",
            "frame-ancestors 'none'",
            "DENY",
            "nosniff",
            "https://picket-canary.invalid",
            "null",
            "true",
            ", ",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    proptest::collection::vec(part, 0..6).prop_map(|parts| {
        HeaderValue::from_bytes(&parts.concat()).expect("valid header value bytes")
    })
}

/// Random bytes mixed with fragments the shipped probes look for, so checks get past "no
/// match" often.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        select(vec![
            "<html>",
            "<title>Index of /",
            "[core]\n",
            "heap profile:",
            "Contact: ",
            "{\"openapi\": \"3.0.0\", \"paths\": {}}",
            "{\"swagger\":",
            "API_KEY=x\n",
            "\u{fffd}",
            "é",
            "\u{9b}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    proptest::collection::vec(fragment, 0..8).prop_map(|parts| parts.concat())
}

fn response() -> impl Strategy<Value = Response> {
    (
        100u16..=999,
        proptest::collection::vec((header_name(), header_value()), 0..12),
        body(),
        any::<bool>(),
        0u64..5_000,
    )
        .prop_map(|(status, headers, body, truncated, millis)| {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(name, value);
            }
            Response {
                status: StatusCode::from_u16(status).expect("100..=999 is a status code"),
                headers: map,
                body,
                truncated,
                elapsed: Duration::from_millis(millis),
                url: url::Url::parse("http://127.0.0.1:8080/").unwrap(),
            }
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn shipped_checks_on_arbitrary_responses_never_panic_and_quote_little(
        response in response()
    ) {
        for (probe, checks) in SHIPPED_CHECKS.iter() {
            let evaluation = picket::check::http::evaluate(checks, &response, &Redactor::default());
            for f in evaluation.findings.iter().map(|f| f.redacted(&Redactor::default())) {
                prop_assert!(
                    f.observed.chars().count() <= MAX_OBSERVED_CHARS,
                    "{probe}: `{}` observed {} characters",
                    f.check,
                    f.observed.chars().count()
                );
            }
            if !response.truncated {
                prop_assert!(evaluation.undecided.is_empty(), "{probe}: undecided on a whole body");
            }
        }
    }
}

/// The harness itself: a panic in a case is a reported failure with its (shrunk) input, not
/// a silent pass. Without this, a misconfigured runner could make every property above vacuous.
#[test]
fn a_panicking_case_is_reported_as_a_failure() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..config()
    });
    let result = runner.run(&proptest::collection::vec(any::<u8>(), 0..64), |bytes| {
        assert!(bytes.len() < 10, "ten bytes or more");
        Ok(())
    });
    match result {
        Err(proptest::test_runner::TestError::Fail(reason, minimal)) => {
            assert!(reason.message().contains("ten bytes or more"), "{reason}");
            assert_eq!(minimal, vec![0; 10], "not shrunk to the minimal case");
        }
        other => panic!("a panicking property was not reported: {other:?}"),
    }
}

/// Secrets for the redactor properties: letters (not `x`–`z`, which the surrounding text
/// uses), digits, and the characters that encodings change (`"`, `\`, `/`, `%`, `+`, space,
/// non-ASCII).
fn secret() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'w'),
            2 => proptest::char::range('A', 'W'),
            2 => proptest::char::range('0', '9'),
            2 => select(vec!['"', '\\', '/', '%', '+', ' ', 'é', '€', '<', '&', '\'']),
        ],
        4..40,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Text around a secret, from an alphabet the secret never uses.
fn filler() -> impl Strategy<Value = String> {
    proptest::collection::vec(select(vec!['x', 'y', 'z', ' ', '.', '-', '\n']), 0..300)
        .prop_map(|chars| chars.into_iter().collect())
}

/// A quoted string without its two quotes (and only those: an escaped `\"` at the end stays).
fn unquote(quoted: &str) -> String {
    quoted[1..quoted.len() - 1].to_string()
}

/// The secret as a target might send it back: (text containing it, the spelling to look for).
fn spelled(secret: &str, how: usize, before: &str, after: &str) -> (String, String) {
    use base64::Engine as _;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let form = match how {
        0 => secret.to_string(),
        1 => secret.to_ascii_uppercase(),
        2 => secret.to_ascii_lowercase(),
        3 => utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
        4 => utf8_percent_encode(secret, NON_ALPHANUMERIC)
            .to_string()
            .to_ascii_lowercase(),
        5 => unquote(&serde_json::to_string(secret).unwrap()),
        6 => unquote(&format!("{secret:?}")),
        7 => url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        _ => {
            // base64 of the secret inside a longer base64 text, at alignment `how % 3`.
            let prefix = "ab".repeat(1 + how % 3)[..how % 3].to_string();
            let engine = base64::engine::general_purpose::STANDARD;
            let whole = engine.encode(format!("{prefix}{secret}{after}"));
            let first = (prefix.len() * 8).div_ceil(6);
            let last = ((prefix.len() + secret.len()) * 8) / 6;
            return (format!("{before}{whole}"), whole[first..last].to_string());
        }
    };
    (format!("{before}{form}{after}"), form)
}

proptest! {
    #![proptest_config(config())]

    /// For random secrets in random text, in every spelling, the scrubbed text holds none.
    #[test]
    fn the_redactor_leaves_no_spelling_of_a_secret(
        secret in secret(),
        how in 0usize..11,
        before in filler(),
        after in filler(),
    ) {
        let mut redactor = picket::redact::Redactor::default();
        redactor.add(&secret);
        let (text, form) = spelled(&secret, how, &before, &after);
        let clean = redactor.scrub(&text).to_ascii_lowercase();
        prop_assert!(
            !clean.contains(&form.to_ascii_lowercase()),
            "{form:?} survived in {clean:?}"
        );
    }

    /// An excerpt cut anywhere around a secret never keeps 8 characters of it.
    #[test]
    fn excerpts_never_keep_a_fragment_of_a_secret(
        secret in secret().prop_filter("long enough to fragment", |s| s.chars().count() >= 8),
        how in 0usize..8,
        before in filler(),
        after in filler(),
        cut in (0usize..700, 0usize..700),
    ) {
        let mut redactor = picket::redact::Redactor::default();
        redactor.add(&secret);
        let (text, form) = spelled(&secret, how, &before, &after);
        let (a, b) = (cut.0.min(cut.1).min(text.len()), cut.0.max(cut.1).min(text.len()));
        let excerpt = redactor.scrub_excerpt(&text, a..b).to_ascii_lowercase();
        let chars: Vec<char> = form.to_ascii_lowercase().chars().collect();
        for window in chars.windows(8) {
            let piece: String = window.iter().collect();
            prop_assert!(!excerpt.contains(&piece), "{piece:?} of {form:?} in {excerpt:?}");
        }
    }
}

/// The mutations start from files that load: otherwise every mutated case would only ever
/// exercise the error paths.
#[test]
fn the_unmutated_shipped_files_load() {
    for file in PROBE_FILES.iter() {
        let mut diags = Diagnostics::default();
        let text = mutate(&read(file), &[]);
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("p.yaml");
        std::fs::write(&copy, text).unwrap();
        let probe = picket::load::load_probe_file(&copy, &Defaults::default(), &mut diags);
        assert!(probe.is_some(), "{}: {diags}", file.display());
    }
    for file in CONFIG_FILES.iter() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("picket.yaml");
        std::fs::write(&copy, mutate(&read(file), &[])).unwrap();
        if let Err(diags) = picket::load::load(&copy, &|_| None) {
            panic!("{}: {diags}", file.display());
        }
    }
}
