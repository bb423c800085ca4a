//! nuclei templates as a source format of `http` probes: a file with nuclei's shape (`id`,
//! `info`, and `http` or the legacy `requests`) compiles into an `http` probe whose exchanges
//! are the template's request blocks, each checked by a nuclei matcher block
//! ([`crate::check::nuclei`]). Nothing else in picket knows the probe came from nuclei.
//!
//! The subset is faithful or refused: any field outside it is a located error naming it, so a
//! template never runs half-understood.

use std::collections::BTreeMap;
use std::path::Path;

use ::http::{HeaderName, Method};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::http::{Exchange, Http, HttpRequest};
use super::{Ctx, Kind, MAX_REQUESTS_PER_RUN, Probe, Template, stays_on_target};
use crate::check::Graded;
use crate::check::http::Check;
use crate::check::nuclei::{Condition, Matcher, Matchers, Part, Test};
use crate::config::{self, Defaults};
use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::units::{self, Severity};

/// The raw shape of a template, as far as picket runs it.
pub mod raw {
    use super::*;

    /// A template.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Template {
        /// The template id.
        pub id: Spanned<String>,
        /// Its metadata.
        pub info: Spanned<Info>,
        /// HTTP request blocks.
        #[serde(default)]
        pub http: Option<Spanned<Vec<Spanned<Request>>>>,
        /// The legacy name of `http`.
        #[serde(default)]
        pub requests: Option<Spanned<Vec<Spanned<Request>>>>,
        /// picket's own settings for the probe.
        #[serde(default)]
        pub picket: Option<Spanned<PicketBlock>>,
    }

    /// `info`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Info {
        /// Title.
        pub name: Spanned<String>,
        /// Authors (not used).
        #[serde(default)]
        pub author: Option<serde::de::IgnoredAny>,
        /// `info` … `critical`, or `unknown`.
        pub severity: Spanned<String>,
        /// Comma-separated or a list.
        #[serde(default)]
        pub tags: Option<OneOrMany>,
        /// Description.
        #[serde(default)]
        pub description: Option<String>,
        /// References: one or a list.
        #[serde(default)]
        pub reference: Option<OneOrMany>,
        /// Remediation.
        #[serde(default)]
        pub remediation: Option<String>,
        /// Impact (shown with the description).
        #[serde(default)]
        pub impact: Option<String>,
        /// Kept, not interpreted.
        #[serde(default)]
        pub metadata: Option<serde::de::IgnoredAny>,
        /// `cve-id`, `cwe-id`, `cvss-score` … carried into reports.
        #[serde(default)]
        pub classification: Option<BTreeMap<String, Scalar>>,
    }

    /// A scalar or a list of scalars, as nuclei's metadata fields are written.
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub enum Scalar {
        /// Text.
        Text(String),
        /// A number.
        Number(f64),
        /// A list.
        List(Vec<String>),
        /// Nothing.
        Null(()),
    }

    /// One string or a list of strings.
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub enum OneOrMany {
        /// A list.
        Many(Vec<String>),
        /// One (tags: comma-separated).
        One(String),
    }

    /// One request block.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Request {
        /// The method (GET).
        #[serde(default)]
        pub method: Option<Spanned<String>>,
        /// Paths, each starting with `{{BaseURL}}` or `{{RootURL}}`.
        #[serde(default)]
        pub path: Option<Spanned<Vec<Spanned<String>>>>,
        /// Headers.
        #[serde(default)]
        pub headers: BTreeMap<String, Spanned<String>>,
        /// Body.
        #[serde(default)]
        pub body: Option<Spanned<String>>,
        /// Follow redirects (same-origin only, as every picket probe).
        #[serde(default)]
        pub redirects: Option<bool>,
        /// At most this many redirects (picket follows at most 10).
        #[serde(default, rename = "max-redirects")]
        pub max_redirects: Option<Spanned<i64>>,
        /// Stop trying further paths once one matches.
        #[serde(default, rename = "stop-at-first-match")]
        pub stop_at_first_match: Option<bool>,
        /// `and` or `or` (default).
        #[serde(default, rename = "matchers-condition")]
        pub matchers_condition: Option<Spanned<String>>,
        /// The matchers.
        #[serde(default)]
        pub matchers: Option<Spanned<Vec<Spanned<Matcher>>>>,
    }

    /// One matcher.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Matcher {
        /// `status`, `word`, `regex` or `size`.
        #[serde(rename = "type")]
        pub kind: Spanned<String>,
        /// The part read.
        #[serde(default)]
        pub part: Option<Spanned<String>>,
        /// `word`: the words.
        #[serde(default)]
        pub words: Option<Vec<Spanned<String>>>,
        /// `regex`: the patterns.
        #[serde(default)]
        pub regex: Option<Vec<Spanned<String>>>,
        /// `status`: the codes.
        #[serde(default)]
        pub status: Option<Vec<Spanned<i64>>>,
        /// `size`: the lengths.
        #[serde(default)]
        pub size: Option<Vec<Spanned<i64>>>,
        /// `and` or `or` (default) over the items.
        #[serde(default)]
        pub condition: Option<Spanned<String>>,
        /// Invert.
        #[serde(default)]
        pub negative: Option<bool>,
        /// `word`: compare lowercased.
        #[serde(default, rename = "case-insensitive")]
        pub case_insensitive: Option<bool>,
        /// Reported name.
        #[serde(default)]
        pub name: Option<String>,
    }

    /// `picket:` in a template: what a picket probe sets besides its checks.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PicketBlock {
        /// Schedule override.
        #[serde(default)]
        pub schedule: Option<Spanned<crate::config::raw::Schedule>>,
        /// Which targets (default: all).
        #[serde(default)]
        pub targets: Option<Spanned<crate::probe::raw::Selector>>,
        /// Override of `defaults.confirm`.
        #[serde(default)]
        pub confirm: Option<Spanned<i64>>,
        /// Override of `defaults.recover`.
        #[serde(default)]
        pub recover: Option<Spanned<i64>>,
        /// Override of `defaults.timeout`.
        #[serde(default)]
        pub timeout: Option<Spanned<String>>,
    }
}

/// Whether YAML `text` has nuclei's shape rather than a picket probe's: a top-level `info:`
/// (or the legacy `requests:`) and no `checks:`. Read from the lines, without parsing twice.
pub fn looks_like_nuclei(text: &str) -> bool {
    let top = |key: &str| {
        text.lines().any(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        })
    };
    (top("info") || top("requests")) && !top("checks")
}

/// nuclei's protocols other than `http`: top-level keys.
const PROTOCOLS: &[&str] = &[
    "dns",
    "tcp",
    "network",
    "ssl",
    "headless",
    "file",
    "code",
    "javascript",
    "websocket",
    "whois",
];

/// Why a nuclei field is outside the subset, for the error that names it.
fn unsupported_reason(field: &str) -> Option<&'static str> {
    Some(match field {
        "raw" => {
            "raw requests are not run: write the request with `method`, `path`, `headers` and `body`"
        }
        "dsl" => "DSL expressions are not evaluated",
        "payloads" | "attack" | "threads" => "payloads and attack modes are not expanded",
        "extractors" => "extractors (and requests that depend on them) are not run",
        "internal" => "internal matchers feed other requests, which picket does not chain",
        "flow" => "flows between requests are not run",
        "variables" => "variables and helper functions are not evaluated",
        "self-contained" => {
            "self-contained requests name their own host; picket probes only their target"
        }
        "unsafe" => "unsafe raw requests are not sent",
        "fuzzing" | "pre-condition" => "DAST fuzzing is not run",
        p if PROTOCOLS.contains(&p) => "only http templates run in picket",
        "binary" | "xpath" | "json" | "encoding" | "match-all" => {
            "this matcher feature is outside picket's nuclei subset"
        }
        "host-redirects" | "cookie-reuse" | "req-condition" | "race" | "pipeline" => {
            "this request option is outside picket's nuclei subset"
        }
        _ => return None,
    })
}

/// Every key outside the subset, with its position, found by reading the template's lines
/// (outside `info:`, whose metadata may hold any key), and every matcher `type:` outside it.
fn scan_unsupported(file: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut in_info = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') && !line.starts_with('-') {
            in_info = line.starts_with("info:");
        }
        if in_info {
            continue;
        }
        let body = line.trim_start();
        let body = body.strip_prefix("- ").map_or(body, str::trim_start);
        let Some((key, value)) = body.split_once(':') else {
            continue;
        };
        let column = line.len() - body.len() + 1;
        let at = Pos {
            line: u64::try_from(n + 1).unwrap_or(u64::MAX),
            column: u64::try_from(column).unwrap_or(u64::MAX),
        };
        let value = value.trim();
        if key == "type" && matches!(value, "dsl" | "binary" | "xpath" | "json") {
            out.push(
                Diagnostic::new(
                    file,
                    at,
                    format!("nuclei matcher type `{value}` is not supported"),
                )
                .with_hint("matcher types are status, word, regex and size"),
            );
        } else if let Some(reason) = unsupported_reason(key)
            // A protocol is a top-level key; nested, the name is something else (a payload
            // named `file`, the `code` of a `javascript` block).
            && (column == 1 || !PROTOCOLS.contains(&key))
        {
            out.push(
                Diagnostic::new(file, at, format!("nuclei `{key}` is not supported"))
                    .with_hint(reason),
            );
        }
    }
    out
}

/// Rewrites serde's "unknown field" errors into the unsupported-feature error.
fn explain(mut d: Diagnostic) -> Diagnostic {
    let field = d
        .message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string);
    if let Some(field) = field {
        let reason = unsupported_reason(&field)
            .unwrap_or("picket runs a subset of nuclei; this field is not part of it");
        d.message = format!("nuclei `{field}` is not supported");
        d.hint = Some(reason.to_string());
    }
    d
}

/// Loads one template file's text as a probe.
pub fn load(
    file: &Path,
    text: &str,
    defaults: &Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    let raw: raw::Template = match crate::yaml::parse_yaml(file, text) {
        Ok(t) => t,
        Err(d) => {
            // Name every feature outside the subset, not only the first serde met.
            let found = scan_unsupported(file, text);
            if found.is_empty() {
                diags.push(explain(d));
            } else {
                found.into_iter().for_each(|d| diags.push(d));
            }
            return None;
        }
    };
    compile(file, raw, defaults, diags)
}

/// Builds the probe: info → probe fields, each request block → one exchange.
pub fn compile(
    file: &Path,
    raw: raw::Template,
    defaults: &Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    let before = diags.len();
    let mut ctx = Ctx {
        file,
        diags,
        regex_bytes: 0,
    };
    let id: String = raw
        .id
        .value
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '/' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id = format!("nuclei/{}", id.trim_matches('/'));
    if !super::valid_probe_id(&id) {
        ctx.err_hint(
            &raw.id,
            format!("template id `{}` cannot name a probe", raw.id.value),
            "use letters, digits and `-`",
        );
    }
    let info = raw.info.value;
    let severity = match info.severity.value.trim().to_ascii_lowercase().as_str() {
        "info" | "unknown" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        other => {
            ctx.err_hint(
                &info.severity,
                format!("unknown nuclei severity `{other}`"),
                "expected info, low, medium, high, critical or unknown",
            );
            Severity::Info
        }
    };
    let tags: Vec<String> = match &info.tags {
        Some(raw::OneOrMany::One(t)) => t
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        Some(raw::OneOrMany::Many(list)) => list.clone(),
        None => Vec::new(),
    };
    let references: Vec<String> = match &info.reference {
        Some(raw::OneOrMany::One(r)) => vec![r.clone()],
        Some(raw::OneOrMany::Many(list)) => list.clone(),
        None => Vec::new(),
    }
    .into_iter()
    .map(|r| r.trim().to_string())
    .filter(|r| url::Url::parse(r).is_ok())
    .collect();
    let description = match (&info.description, &info.impact) {
        (Some(d), Some(i)) => Some(format!("{}\n\nImpact: {}", d.trim(), i.trim())),
        (Some(d), None) => Some(d.trim().to_string()),
        (None, Some(i)) => Some(format!("Impact: {}", i.trim())),
        (None, None) => None,
    };
    let mut classification = Vec::new();
    for (key, value) in info.classification.iter().flatten() {
        let text = match value {
            raw::Scalar::Text(t) => t.trim().to_string(),
            raw::Scalar::Number(n) => n.to_string(),
            raw::Scalar::List(l) => l.join(","),
            raw::Scalar::Null(()) => continue,
        };
        if matches!(key.as_str(), "cve-id" | "cwe-id" | "cvss-score") && !text.is_empty() {
            classification.push((key.clone(), text));
        }
    }

    let blocks = match (&raw.http, &raw.requests) {
        (Some(b), None) | (None, Some(b)) => Some(b),
        (Some(_), Some(r)) => {
            ctx.err_hint(
                r,
                "a template has `http` or `requests`, not both",
                "keep `http`",
            );
            None
        }
        (None, None) => {
            ctx.err_hint(
                &raw.id,
                "this nuclei template has no `http` requests",
                "only http templates run in picket",
            );
            None
        }
    };
    let blocks_list = blocks.map(|b| b.value.as_slice()).unwrap_or_default();
    check_request_count(&mut ctx, blocks_list);
    let mut budget = WordBudget::of(blocks_list);
    let mut exchanges = Vec::new();
    for block in blocks_list {
        if let Some(e) = exchange(&mut ctx, &mut budget, block) {
            exchanges.push(e);
        }
    }
    if let Some(b) = blocks.filter(|b| b.value.is_empty()) {
        ctx.err(b, "`http` is empty");
    }

    let picket = raw.picket.as_ref().map(|p| &p.value);
    let schedule = match picket.and_then(|p| p.schedule.as_ref()) {
        Some(s) => config::compile_schedule(file, s, &defaults.schedule, ctx.diags),
        None => defaults.schedule.clone(),
    };
    let confirm = picket
        .and_then(|p| p.confirm.as_ref())
        .and_then(|c| config::streak_in(file, c, "confirm", ctx.diags))
        .unwrap_or(defaults.confirm);
    let recover = picket
        .and_then(|p| p.recover.as_ref())
        .and_then(|c| config::streak_in(file, c, "recover", ctx.diags))
        .unwrap_or(defaults.recover);
    let timeout = match picket.and_then(|p| p.timeout.as_ref()) {
        None => defaults.timeout,
        Some(t) => config::duration_in(
            file,
            t,
            "timeout",
            &units::ranges::TIMEOUT,
            config::TIMEOUT_HINT,
            ctx.diags,
        )
        .unwrap_or(defaults.timeout),
    };
    let selector = picket.and_then(|p| p.targets.as_ref());
    let targets = super::compile_selector(&mut ctx, selector);
    let target_name_pos = selector
        .and_then(|t| t.value.names.as_ref())
        .map(|names| {
            names
                .iter()
                .map(|n| (n.value.clone(), Ctx::pos(n)))
                .collect()
        })
        .unwrap_or_default();
    let regex_bytes = ctx.regex_bytes;
    if diags.len() > before {
        return None;
    }
    Some(Probe {
        id,
        name: info.name.value.trim().to_string(),
        severity,
        tags,
        description,
        remediation: info.remediation.map(|r| r.trim().to_string()),
        references,
        schedule,
        targets,
        schemes: ["http".to_string(), "https".to_string()].into(),
        confirm,
        recover,
        timeout,
        kind: Kind::Http(Http {
            exchanges,
            max_body_bytes: None,
        }),
        source: file.to_path_buf(),
        id_pos: Pos::from_location(&raw.id.referenced),
        target_name_pos,
        regex_bytes,
        classification,
    })
}

/// Most words the `word` matchers of one template list, all blocks together. Real templates
/// list a few to a few dozen; a word list of thousands is generated, and belongs in several
/// templates or one regex.
pub const MAX_WORDS: usize = 1024;
/// Most bytes of words of one template, all blocks together.
pub const MAX_WORD_BYTES: usize = 64 << 10;

/// The words of a template's `word` matchers counted against [`MAX_WORDS`] and
/// [`MAX_WORD_BYTES`]: the totals are known before the blocks compile, so the error names
/// them, at the word that crosses a budget.
struct WordBudget {
    total_words: usize,
    total_bytes: usize,
    words: usize,
    bytes: usize,
}

impl WordBudget {
    fn of(blocks: &[Spanned<raw::Request>]) -> WordBudget {
        let words = || {
            blocks
                .iter()
                .flat_map(|b| b.value.matchers.iter().flat_map(|m| m.value.iter()))
                .flat_map(|m| m.value.words.iter().flatten())
        };
        WordBudget {
            total_words: words().count(),
            total_bytes: words().map(|w| w.value.len()).sum(),
            words: 0,
            bytes: 0,
        }
    }

    /// Counts one word; the word that crosses a budget gets the error.
    fn take(&mut self, ctx: &mut Ctx<'_>, word: &Spanned<String>) {
        self.words += 1;
        if self.words == MAX_WORDS + 1 {
            ctx.err_hint(
                word,
                format!(
                    "the `word` matchers of this template list {} words; picket loads at most {MAX_WORDS} per template",
                    self.total_words
                ),
                "keep the words that identify what the template detects, or split the list across several templates",
            );
        }
        let before = self.bytes;
        self.bytes = self.bytes.saturating_add(word.value.len());
        if before <= MAX_WORD_BYTES && self.bytes > MAX_WORD_BYTES {
            ctx.err_hint(
                word,
                format!(
                    "the words of this template total {} bytes; picket loads at most {MAX_WORD_BYTES} bytes ({} KiB) of words per template",
                    self.total_bytes,
                    MAX_WORD_BYTES >> 10
                ),
                "match a short distinctive part of the text, not the whole text",
            );
        }
    }
}

/// One run sends every path of every block: more than [`MAX_REQUESTS_PER_RUN`] in all is
/// refused at the path that crosses the cap. (A nuclei path has no list variables, so each is
/// one request whatever the target.)
fn check_request_count(ctx: &mut Ctx<'_>, blocks: &[Spanned<raw::Request>]) {
    let paths = || {
        blocks
            .iter()
            .flat_map(|b| b.value.path.iter().flat_map(|p| p.value.iter()))
    };
    if let Some(crossing) = paths().nth(MAX_REQUESTS_PER_RUN) {
        ctx.err_hint(
            crossing,
            format!(
                "the {} request blocks of this template send {} requests per run; one run sends at most {MAX_REQUESTS_PER_RUN}",
                blocks.len(),
                paths().count()
            ),
            "split the template into several, each under the cap",
        );
    }
}

fn exchange(
    ctx: &mut Ctx<'_>,
    budget: &mut WordBudget,
    block: &Spanned<raw::Request>,
) -> Option<Exchange> {
    let before = ctx.diags.len();
    let r = &block.value;
    let method = match &r.method {
        None => Method::GET,
        Some(m) => match Method::from_bytes(m.value.trim().to_ascii_uppercase().as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                ctx.err(m, format!("invalid method `{}`", m.value));
                Method::GET
            }
        },
    };
    let mut paths = Vec::new();
    let mut path_pos = Vec::new();
    match &r.path {
        None => ctx.err_hint(
            block,
            "request has no `path`",
            "add `path: [\"{{BaseURL}}/…\"]`",
        ),
        Some(list) if list.value.is_empty() => ctx.err(list, "`path` is empty"),
        Some(list) => {
            for p in &list.value {
                if let Some(path) = base_relative(ctx, p) {
                    paths.push(path);
                    path_pos.push(Ctx::pos(p));
                }
            }
        }
    }
    let mut headers = Vec::new();
    for (name, value) in &r.headers {
        let template = value_template(ctx, value);
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => headers.push((h, template)),
            Err(_) => ctx.err(value, format!("invalid header name `{name}`")),
        }
    }
    let body = r.body.as_ref().map(|b| value_template(ctx, b));
    if let Some(m) = &r.max_redirects
        && !(0..=i64::try_from(super::http::MAX_REDIRECTS).unwrap_or(10)).contains(&m.value)
    {
        ctx.err_hint(
            m,
            format!("`max-redirects: {}`", m.value),
            "picket follows at most 10 redirects, all on the target's origin",
        );
    }
    let condition = condition(ctx, r.matchers_condition.as_ref());
    let matchers: Vec<Matcher> = match &r.matchers {
        None => {
            ctx.err_hint(
                block,
                "request has no `matchers`",
                "a template without matchers reports nothing; picket needs at least one",
            );
            Vec::new()
        }
        Some(list) => list
            .value
            .iter()
            .filter_map(|m| matcher(ctx, budget, m))
            .collect(),
    };
    if ctx.diags.len() > before {
        return None;
    }
    Some(Exchange {
        request: HttpRequest {
            method,
            paths,
            path_pos,
            headers,
            body,
            follow_redirects: r.redirects.unwrap_or(false),
            use_target_auth: false,
            on_redirect: crate::probe::http::OnRedirect::Evaluate,
            plain_http: false,
            discover: None,
        },
        checks: vec![Graded::from(Check::Nuclei(Matchers {
            matchers,
            condition,
        }))],
        stop_at_first_finding: r.stop_at_first_match.unwrap_or(false),
    })
}

/// Translates nuclei's URL placeholders into the runner's target placeholders
/// ([`super::http::is_builtin`]); any other `{{…}}` (helper functions, variables) is refused.
fn translate(text: &str) -> Result<Template, String> {
    let mut out = String::new();
    let mut vars = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unterminated `{{{{` in `{text}`"))?;
        let name = match after[..end].trim() {
            "BaseURL" => "@base",
            "RootURL" => "@root",
            "Hostname" => "@hostname",
            "Host" => "@host",
            "Port" => "@port",
            "Scheme" => "@scheme",
            other => return Err(format!("`{{{{{other}}}}}`")),
        };
        out.push_str(&format!("{{{{vars.{name}}}}}"));
        vars.push(name.to_string());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(Template { text: out, vars })
}

/// `{{BaseURL}}/x` → `/x`, a path of the target like any probe's; `{{RootURL}}/x` → `/x`
/// from the root of the target's origin.
fn base_relative(ctx: &mut Ctx<'_>, p: &Spanned<String>) -> Option<Template> {
    let text = p.value.trim();
    let (root, rest) = if let Some(rest) = text.strip_prefix("{{BaseURL}}") {
        (false, rest)
    } else if let Some(rest) = text.strip_prefix("{{RootURL}}") {
        (true, rest)
    } else {
        ctx.err_hint(
            p,
            format!("unsupported path `{text}`"),
            "paths start with `{{BaseURL}}` or `{{RootURL}}`; picket requests only its target",
        );
        return None;
    };
    let rest = match rest.chars().next() {
        None => "/".to_string(),
        Some('/') => rest.to_string(),
        Some('?') => format!("/{rest}"),
        Some(_) => {
            ctx.err_hint(
                p,
                format!("path `{text}` does not continue the base URL with `/`"),
                "write `{{BaseURL}}/path`",
            );
            return None;
        }
    };
    let mut template = match translate(&rest) {
        Ok(t) => t,
        Err(what) => {
            ctx.err_hint(
                p,
                format!("unsupported placeholder {what} in path `{text}`"),
                "helper functions and variables (`{{randstr}}`, `{{paths}}` …) are not evaluated",
            );
            return None;
        }
    };
    if template.vars.iter().any(|v| v == "@base" || v == "@root") {
        ctx.err_hint(
            p,
            format!("path `{text}` names a URL twice"),
            "start the path with `{{BaseURL}}` only",
        );
        return None;
    }
    if let Err(e) = stays_on_target(&template.text) {
        ctx.err_hint(p, e, "picket requests only its target");
        return None;
    }
    if root {
        template.text = format!("{{{{vars.@up}}}}{}", template.text);
        template.vars.insert(0, "@up".to_string());
    }
    Some(template)
}

/// A header value or body with nuclei's URL placeholders; other placeholders are refused.
fn value_template(ctx: &mut Ctx<'_>, value: &Spanned<String>) -> Template {
    translate(&value.value).unwrap_or_else(|what| {
        ctx.err_hint(
            value,
            format!("unsupported nuclei placeholder {what}"),
            "helper functions and variables are not evaluated",
        );
        Template {
            text: String::new(),
            vars: Vec::new(),
        }
    })
}

fn condition(ctx: &mut Ctx<'_>, raw: Option<&Spanned<String>>) -> Condition {
    match raw.map(|c| (c, c.value.trim().to_ascii_lowercase())) {
        None => Condition::Or,
        Some((_, c)) if c == "or" => Condition::Or,
        Some((_, c)) if c == "and" => Condition::And,
        Some((at, c)) => {
            ctx.err_hint(
                at,
                format!("unknown condition `{c}`"),
                "expected `and` or `or`",
            );
            Condition::Or
        }
    }
}

/// nuclei parts that are not a response header of the request itself (read as a header, each
/// would silently never match): out-of-band interactions, the request, the target, timing.
const NOT_HEADER_PARTS: &[&str] = &[
    "interactsh_protocol",
    "interactsh_request",
    "interactsh_response",
    "request",
    "host",
    "matched",
    "duration",
    "status_code",
];

/// Whether a part names a response of a numbered request (`body_2`, `header_1`,
/// `status_code_3` …), as nuclei's multi-request templates do.
fn another_requests_part(part: &str) -> bool {
    part.rsplit_once('_').is_some_and(|(name, n)| {
        !name.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

fn matcher(
    ctx: &mut Ctx<'_>,
    budget: &mut WordBudget,
    m: &Spanned<raw::Matcher>,
) -> Option<Matcher> {
    let before = ctx.diags.len();
    let r = &m.value;
    let part = match r
        .part
        .as_ref()
        .map(|p| (p, p.value.trim().to_ascii_lowercase()))
    {
        None => Part::Body,
        Some((_, p)) if p == "body" => Part::Body,
        Some((_, p)) if p == "header" || p == "all_headers" => Part::Headers,
        Some((_, p)) if p == "all" || p == "response" || p == "raw" => Part::All,
        Some((at, p)) if another_requests_part(&p) => {
            ctx.err_hint(
                at,
                format!("nuclei `part: {p}` is not supported"),
                "a part numbered after a request (`body_2` …) reads another request's response, which picket does not chain; match each request's own `body`",
            );
            Part::Body
        }
        Some((at, p)) => {
            match (!NOT_HEADER_PARTS.contains(&p.as_str()))
                .then(|| HeaderName::from_bytes(p.replace('_', "-").as_bytes()).ok())
                .flatten()
            {
                Some(h) => Part::Header(h),
                None => {
                    ctx.err_hint(
                        at,
                        format!("nuclei `part: {p}` is not supported"),
                        "parts are body, header, all_headers, all, response or a header name",
                    );
                    Part::Body
                }
            }
        }
    };
    let condition = condition(ctx, r.condition.as_ref());
    let kind = r.kind.value.trim().to_ascii_lowercase();
    let test = match kind.as_str() {
        "status" => Test::Status(
            r.status
                .iter()
                .flatten()
                .filter_map(|s| match u16::try_from(s.value) {
                    Ok(c) if (100..=599).contains(&c) => Some(c),
                    _ => {
                        ctx.err(s, format!("`{}` is not an HTTP status", s.value));
                        None
                    }
                })
                .collect(),
        ),
        "word" => {
            let ci = r.case_insensitive.unwrap_or(false);
            let words: Vec<String> = r
                .words
                .iter()
                .flatten()
                .map(|w| {
                    budget.take(ctx, w);
                    if w.value.contains("{{") {
                        ctx.err_hint(
                            w,
                            "unsupported nuclei placeholder in a word",
                            "helper functions and variables are not evaluated",
                        );
                    }
                    if ci {
                        w.value.to_ascii_lowercase()
                    } else {
                        w.value.clone()
                    }
                })
                .collect();
            if ctx.diags.len() > before {
                return None;
            }
            match Test::words(words, condition, ci) {
                Ok(test) => test,
                Err(e) => {
                    ctx.err(&r.kind, format!("the words cannot be searched: {e}"));
                    return None;
                }
            }
        }
        "regex" => Test::Regex {
            regexes: r
                .regex
                .iter()
                .flatten()
                .filter_map(|p| re2(ctx, p))
                .collect(),
            condition,
        },
        "size" => Test::Size(
            r.size
                .iter()
                .flatten()
                .filter_map(|s| usize::try_from(s.value).ok())
                .collect(),
        ),
        other => {
            let hint = unsupported_reason(other)
                .unwrap_or("matcher types are status, word, regex and size");
            ctx.err_hint(
                &r.kind,
                format!("nuclei matcher type `{other}` is not supported"),
                hint,
            );
            return None;
        }
    };
    let empty = match &test {
        Test::Status(c) => c.is_empty(),
        Test::Words { words, .. } => words.is_empty(),
        Test::Regex { regexes, .. } => regexes.is_empty(),
        Test::Size(s) => s.is_empty(),
    };
    if empty && ctx.diags.len() == before {
        ctx.err_hint(
            &r.kind,
            format!("`{kind}` matcher has nothing to match"),
            format!(
                "add its `{}:` list",
                match kind.as_str() {
                    "word" => "words",
                    other => other,
                }
            ),
        );
    }
    if r.case_insensitive.is_some() && kind != "word" {
        ctx.err_hint(
            &r.kind,
            "`case-insensitive` applies to word matchers",
            "use `(?i)` in a regex",
        );
    }
    (ctx.diags.len() == before).then(|| Matcher {
        name: r.name.clone(),
        test,
        part,
        negative: r.negative.unwrap_or(false),
    })
}

/// Compiles an RE2 pattern as Go reads it: bytes, ASCII `\d \w \s \b`. A pattern the `regex`
/// crate would read differently, or cannot compile, is refused.
fn re2(ctx: &mut Ctx<'_>, p: &Spanned<String>) -> Option<regex::bytes::Regex> {
    let pattern = &p.value;
    let differs = if pattern.contains("{,") {
        Some("`{,n}` is a literal in RE2 but a repetition in Rust's regex")
    } else if pattern.contains("(?i") && !pattern.is_ascii() {
        Some("case-insensitive matching of non-ASCII letters differs between RE2 and picket")
    } else {
        None
    };
    if let Some(why) = differs {
        ctx.err_hint(p, "regex would not match as nuclei matches it", why);
        return None;
    }
    if pattern.len() > super::MAX_REGEX_BYTES {
        ctx.err(
            p,
            format!(
                "regex is {} bytes; picket compiles regexes of up to {} bytes",
                pattern.len(),
                super::MAX_REGEX_BYTES
            ),
        );
        return None;
    }
    match regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(super::REGEX_SIZE_LIMIT)
        .dfa_size_limit(super::REGEX_DFA_SIZE_LIMIT)
        .build()
    {
        Ok(re) => {
            ctx.regex_bytes = ctx
                .regex_bytes
                .saturating_add(pattern.len().saturating_mul(64).max(4096));
            Some(re)
        }
        Err(e) => {
            let detail = e.to_string();
            let reason = detail
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .trim_start_matches("error: ")
                .chars()
                .take(200)
                .collect::<String>();
            ctx.err_hint(
                p,
                format!("regex cannot be compiled as RE2: {reason}"),
                "nuclei regexes are RE2 (Go); picket refuses what it cannot match the same way",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_told_from_a_probe_by_its_top_level_keys() {
        assert!(looks_like_nuclei("id: x\ninfo:\n  name: x\nhttp: []\n"));
        assert!(looks_like_nuclei("id: x\nrequests: []\n"));
        assert!(!looks_like_nuclei(
            "id: a/b\nname: x\nhttp: { path: / }\nchecks: []\n"
        ));
        // A key nested under another is not top-level.
        assert!(!looks_like_nuclei(
            "id: a/b\nhttp:\n  info: x\nchecks: []\n"
        ));
    }

    #[test]
    fn parts_of_numbered_requests_are_not_headers() {
        assert!(another_requests_part("body_2"));
        assert!(another_requests_part("all_headers_1"));
        assert!(another_requests_part("status_code_10"));
        assert!(!another_requests_part("content_type"));
        assert!(!another_requests_part("x_api_v2"));
        assert!(!another_requests_part("_2"));
    }

    #[test]
    fn a_protocol_name_nested_in_a_block_is_not_the_protocol() {
        let text = "id: t\ninfo:\n  name: t\nhttp:\n  - payloads:\n      file:\n        - a\njavascript:\n  - code: x\n";
        let found: Vec<String> = scan_unsupported(Path::new("t.yaml"), text)
            .into_iter()
            .map(|d| format!("{}:{} {}", d.pos.line, d.pos.column, d.message))
            .collect();
        assert_eq!(
            found,
            [
                "5:5 nuclei `payloads` is not supported",
                "8:1 nuclei `javascript` is not supported"
            ]
        );
    }

    #[test]
    fn unknown_fields_become_unsupported_features() {
        let d = explain(Diagnostic::new(
            Path::new("t.yaml"),
            Pos::START,
            "unknown field `raw`, expected one of `method`, `path`",
        ));
        assert_eq!(d.message, "nuclei `raw` is not supported");
        assert!(d.hint.unwrap().contains("raw requests"));
    }
}
