//! Probe files (`probes/**/*.yaml`): raw shapes, then validated [`Probe`]s.
//!
//! A probe says what to send, which [`Check`]s must hold, how severe a failure is and when to
//! run. Regexes are compiled and paths are vetted here, at load time, so a running service
//! never meets a probe it cannot execute.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::http::HeaderName;
use regex::Regex;
use serde_saphyr::Spanned;

use crate::check::Graded;
use crate::check::csp;
use crate::check::http::{
    BodyTest, Check, CookieFlag, CspTest, HeaderTest, JsonTest, SameSite, StatusItem, StatusSet,
};
use crate::config::{self, Defaults, Target};
use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::units::{self, Schedule, Severity};

pub mod http;
pub mod nuclei;
pub mod tcp;
pub mod template;
pub mod tls;

pub use http::HttpRequest;
pub use template::Template;

/// The raw YAML shapes. Field docs here are the user's reference.
pub mod raw;

/// The JSON Schema (2020-12) of the probe file format, generated from [`raw::Probe`]; the
/// field docs there become its descriptions. `picket schema` prints it for editor completion.
pub fn probe_schema() -> serde_json::Value {
    schemars::schema_for!(raw::Probe).to_value()
}

/// Which targets a probe applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every target.
    All,
    /// Targets carrying any of these tags.
    Tags(BTreeSet<String>),
    /// Targets with these names.
    Names(BTreeSet<String>),
    /// The targets the inner selector picks, except those carrying any of these tags
    /// (`not_tags`).
    Except(Box<Selector>, BTreeSet<String>),
}

/// What a probe sends and what must hold: the thing that varies between probe kinds. Each
/// kind has its module here for its validated shape, a runner in `run/`, and its checks.
#[derive(Debug, Clone)]
pub enum Kind {
    /// An HTTP exchange (`http:`).
    Http(http::Http),
    /// TCP connections to ports of the target's host (`tcp:`).
    Tcp(tcp::Tcp),
    /// TLS handshakes with the target's host (`tls:`).
    Tls(tls::Tls),
}

impl Kind {
    /// The kind's name as written in probe files.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Http(_) => "http",
            Kind::Tcp(_) => "tcp",
            Kind::Tls(_) => "tls",
        }
    }

    /// The checks of an `http` probe, of all its exchanges (empty for other kinds, whose
    /// checks have their own types). For tests: picket itself walks the exchanges.
    #[cfg(test)]
    pub fn checks(&self) -> Vec<Graded<Check>> {
        match self {
            Kind::Http(h) => h.exchanges.iter().flat_map(|e| e.checks.clone()).collect(),
            Kind::Tcp(_) | Kind::Tls(_) => Vec::new(),
        }
    }

    /// Every `{{vars.NAME}}` the probe needs of `target` (optional ones not): a target
    /// without one of them is skipped.
    pub fn vars_for(&self, target: &Target) -> BTreeSet<&str> {
        match self {
            Kind::Http(h) => h.vars_for(target),
            Kind::Tcp(t) => t.vars(),
            Kind::Tls(_) => BTreeSet::new(),
        }
    }

    /// The HTTP side of an `http` probe.
    pub fn as_http(&self) -> Option<&http::Http> {
        match self {
            Kind::Http(h) => Some(h),
            Kind::Tcp(_) | Kind::Tls(_) => None,
        }
    }
}

/// A validated probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Unique id.
    pub id: String,
    /// Human title.
    pub name: String,
    /// Severity of a failure.
    pub severity: Severity,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Remediation advice.
    pub remediation: Option<String>,
    /// References.
    pub references: Vec<String>,
    /// When it runs.
    pub schedule: Schedule,
    /// Which targets.
    pub targets: Selector,
    /// Only targets with these URL schemes (empty: any).
    pub schemes: BTreeSet<String>,
    /// Failing runs before a regression.
    pub confirm: u32,
    /// Passing runs before a recovery.
    pub recover: u32,
    /// Time limit for one run.
    pub timeout: Duration,
    /// What the probe sends and checks: one variant per probe kind.
    pub kind: Kind,
    /// The file it came from.
    pub source: PathBuf,
    /// Where its `id` is, for duplicate-id errors.
    pub id_pos: Pos,
    /// Where each name of a `targets: { names: [...] }` selector is, for unknown-target errors.
    pub target_name_pos: Vec<(String, Pos)>,
    /// Heap memory held by the probe's compiled regexes, for the budget over all probes.
    pub regex_bytes: usize,
    /// A nuclei template's `info.classification` (`cve-id`, `cwe-id`, `cvss-score`), carried
    /// into SARIF rules and regression events; empty for picket probes.
    pub classification: Vec<(String, String)>,
}

/// Most requests one run of a series may send, after list variables are expanded. A probe
/// that would send more is refused at load time (and a run that somehow would is an error).
pub const MAX_REQUESTS_PER_RUN: usize = 256;

impl Selector {
    /// Whether this selector picks `target`.
    pub fn selects(&self, target: &Target) -> bool {
        match self {
            Selector::All => true,
            Selector::Tags(tags) => tags.iter().any(|t| target.tags.contains(t)),
            Selector::Names(names) => names.contains(&target.name),
            Selector::Except(inner, not_tags) => {
                inner.selects(target) && !not_tags.iter().any(|t| target.tags.contains(t))
            }
        }
    }

    /// The `not_tags` tag that keeps a target the selector would otherwise pick out.
    pub fn exempting_tag(&self, target: &Target) -> Option<&str> {
        match self {
            Selector::Except(inner, not_tags) if inner.selects(target) => not_tags
                .iter()
                .find(|t| target.tags.contains(*t))
                .map(String::as_str),
            _ => None,
        }
    }
}

impl Probe {
    /// Whether this probe applies to `target`: its selector picks it and its scheme is one
    /// the probe allows.
    pub fn applies_to(&self, target: &Target) -> bool {
        self.targets.selects(target)
            && (self.schemes.is_empty() || self.schemes.contains(target.url.scheme()))
    }

    /// The tag by which `target` is exempt from this probe (`targets: { not_tags: [...] }`),
    /// when it is otherwise selected: such a pair is shown as skipped, with the tag.
    pub fn exempted_by(&self, target: &Target) -> Option<&str> {
        if !self.schemes.is_empty() && !self.schemes.contains(target.url.scheme()) {
            return None;
        }
        self.targets.exempting_tag(target)
    }
}

/// Checks a probe id against `[a-z0-9-/]+` without empty segments.
pub fn valid_probe_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('/')
        && !id.ends_with('/')
        && !id.contains("//")
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '/')
}

/// Collects problems of one probe file.
struct Ctx<'a> {
    file: &'a Path,
    diags: &'a mut Diagnostics,
    /// Memory held by the regexes compiled so far.
    regex_bytes: usize,
}

impl Ctx<'_> {
    fn pos<T>(spanned: &Spanned<T>) -> Pos {
        Pos::from_location(&spanned.referenced)
    }

    fn err<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(self.file, Self::pos(at), message));
    }

    fn err_hint<T>(
        &mut self,
        at: &Spanned<T>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::new(self.file, Self::pos(at), message).with_hint(hint));
    }

    /// A regex of an `http` check, where `{{random}}` stands for the run's canary.
    fn check_regex(&mut self, at: &Spanned<String>) -> Option<Regex> {
        match crate::check::canary::regex_source(&at.value) {
            std::borrow::Cow::Borrowed(_) => self.regex(at),
            std::borrow::Cow::Owned(source) => {
                self.regex(&Spanned::new(source, at.referenced, at.defined))
            }
        }
    }

    fn regex(&mut self, at: &Spanned<String>) -> Option<Regex> {
        let pattern = &at.value;
        if pattern.len() > MAX_REGEX_BYTES {
            self.err_hint(
                at,
                format!(
                    "regex {} is {} bytes; picket compiles regexes of up to {MAX_REGEX_BYTES} bytes",
                    quote(pattern),
                    pattern.len()
                ),
                "a long alternation of literals belongs in several `contains` checks under `any_of`, or in fewer, more general regexes",
            );
            return None;
        }
        match regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
            .build()
        {
            Ok(re) => {
                self.regex_bytes = self.regex_bytes.saturating_add(regex_memory(pattern));
                Some(re)
            }
            Err(regex::Error::CompiledTooBig(_)) => {
                self.err_hint(
                    at,
                    format!(
                        "regex {} compiles to more than {} MiB",
                        quote(pattern),
                        REGEX_SIZE_LIMIT >> 20
                    ),
                    "Unicode classes and counted repetitions multiply: write `[0-9]` for `\\d` and `[A-Za-z0-9_]` for `\\w`, and prefer `+` to a large `{m,n}`",
                );
                None
            }
            Err(e) => {
                // The crate's message quotes the whole pattern on its own lines; keep its last
                // line, the reason, and quote the pattern ourselves, clipped.
                let detail = e.to_string();
                let last = detail
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ");
                let reason: String = last.chars().take(200).collect();
                self.err_hint(
                    at,
                    format!("invalid regex {}: {reason}", quote(pattern)),
                    "regexes use Rust `regex` syntax (no look-around or backreferences)",
                );
                None
            }
        }
    }
}

pub use crate::check::regex::{
    MAX_REGEX_BYTES, REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT, REGEX_TOTAL_BYTES, regex_memory,
};

/// How many characters of a pattern an error message quotes.
const QUOTED_CHARS: usize = 40;

/// A pattern for an error message: at most [`QUOTED_CHARS`] characters, control characters
/// escaped (backslashes are not: regexes are full of them), and an ellipsis when clipped.
pub fn quote(pattern: &str) -> String {
    let mut chars = pattern.chars();
    let head: String = chars.by_ref().take(QUOTED_CHARS).collect();
    let clipped = if chars.next().is_some() { "…" } else { "" };
    let shown: String = head
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    format!("`{shown}{clipped}`")
}

/// Validates a raw probe. Problems go to `diags`; `None` when the probe is unusable.
pub fn compile(
    file: &Path,
    raw: raw::Probe,
    defaults: &Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    let before = diags.len();
    let mut ctx = Ctx {
        file,
        diags,
        regex_bytes: 0,
    };

    if !valid_probe_id(&raw.id.value) {
        ctx.err_hint(
            &raw.id,
            format!("invalid probe id `{}`", raw.id.value),
            "ids are lowercase letters, digits, `-` and `/`, e.g. `headers/hsts`",
        );
    }
    if raw.name.value.trim().is_empty() {
        ctx.err(&raw.name, "probe name is empty");
    }
    for reference in &raw.references {
        if url::Url::parse(&reference.value).is_err() {
            ctx.err_hint(
                reference,
                format!("reference `{}` is not a URL", reference.value),
                "references are links to the rule's source",
            );
        }
    }

    let schedule = match &raw.schedule {
        Some(s) => config::compile_schedule(file, s, &defaults.schedule, ctx.diags),
        None => defaults.schedule.clone(),
    };
    let confirm = raw
        .confirm
        .as_ref()
        .and_then(|c| config::streak_in(file, c, "confirm", ctx.diags))
        .unwrap_or(defaults.confirm);
    let recover = raw
        .recover
        .as_ref()
        .and_then(|r| config::streak_in(file, r, "recover", ctx.diags))
        .unwrap_or(defaults.recover);
    let timeout = match &raw.timeout {
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

    let max_body_bytes = raw
        .max_body_bytes
        .as_ref()
        .and_then(|size| compile_body_cap(&mut ctx, size));

    let targets = compile_selector(&mut ctx, raw.targets.as_ref());
    let mut schemes = BTreeSet::new();
    if let Some(list) = raw.targets.as_ref().and_then(|t| t.value.schemes.as_ref()) {
        for scheme in list {
            match scheme.value.as_str() {
                "http" | "https" => {
                    schemes.insert(scheme.value.clone());
                }
                other => ctx.err_hint(
                    scheme,
                    format!("unknown scheme `{other}`"),
                    "expected `http` or `https`",
                ),
            }
        }
    }
    let target_name_pos = raw
        .targets
        .as_ref()
        .and_then(|t| t.value.names.as_ref())
        .map(|names| {
            names
                .iter()
                .map(|n| (n.value.clone(), Ctx::pos(n)))
                .collect()
        })
        .unwrap_or_default();

    if raw.checks.value.is_empty() {
        ctx.err_hint(
            &raw.checks,
            "probe has no checks",
            "add at least one check, e.g. `- status: 200`",
        );
    }
    let kinds = [raw.http.is_some(), raw.tcp.is_some(), raw.tls.is_some()];
    let kind = match (&raw.http, &raw.tcp, &raw.tls) {
        _ if kinds.iter().filter(|k| **k).count() > 1 => {
            ctx.err_hint(
                &raw.id,
                "a probe has one request: `http`, `tcp` or `tls`",
                "split it into one probe file per request",
            );
            None
        }
        (None, Some(t), None) => tcp::compile(&mut ctx, t, &raw.checks.value).map(Kind::Tcp),
        (None, None, Some(t)) => tls::compile(&mut ctx, t, &raw.checks.value).map(Kind::Tls),
        (http, _, _) => {
            let request = match http {
                Some(h) => http::compile_request(&mut ctx, h),
                None => {
                    ctx.err_hint(
                        &raw.id,
                        "probe has no request",
                        "add an `http:` block with at least a `path:`, or a `tcp:` or `tls:` block",
                    );
                    None
                }
            };
            let checks: Vec<Graded<Check>> = raw
                .checks
                .value
                .iter()
                .filter_map(|c| compile_check(&mut ctx, c).map(|check| graded(c, check)))
                .collect();
            request.map(|request| {
                Kind::Http(http::Http {
                    exchanges: vec![http::Exchange {
                        request,
                        checks,
                        stop_at_first_finding: false,
                    }],
                    max_body_bytes,
                })
            })
        }
    };
    let regex_bytes = ctx.regex_bytes;

    if diags.len() > before {
        return None;
    }
    Some(Probe {
        id: raw.id.value.clone(),
        name: raw.name.value,
        severity: raw.severity.value,
        tags: raw.tags,
        description: raw.description,
        remediation: raw.remediation,
        references: raw.references.into_iter().map(|r| r.value).collect(),
        schedule,
        targets,
        schemes,
        confirm,
        recover,
        timeout,
        kind: kind?,
        source: file.to_path_buf(),
        id_pos: Pos::from_location(&raw.id.referenced),
        target_name_pos,
        regex_bytes,
        classification: Vec::new(),
    })
}

fn compile_body_cap(ctx: &mut Ctx<'_>, size: &Spanned<config::raw::Size>) -> Option<u64> {
    let (bytes, written) = match &size.value {
        config::raw::Size::Bytes(n) => (Ok(*n), n.to_string()),
        config::raw::Size::Text(t) => (units::parse_bytes(t), t.trim().to_string()),
    };
    let range = &units::ranges::MAX_BODY_BYTES;
    match bytes.and_then(|n| units::in_range("max_body_bytes", &written, n, range)) {
        Ok(n) => Some(n),
        Err(e) => {
            ctx.err_hint(
                size,
                e,
                "bytes read of each response body, e.g. `4MiB`; each run holds its body in memory",
            );
            None
        }
    }
}

fn compile_selector(ctx: &mut Ctx<'_>, raw: Option<&Spanned<raw::Selector>>) -> Selector {
    let Some(sel) = raw else {
        return Selector::All;
    };
    let Some(not_tags) = &sel.value.not_tags else {
        return compile_inclusion(ctx, sel);
    };
    if sel.value.names.is_some() {
        ctx.err_hint(
            sel,
            "`targets` takes `not_tags` with `tags` or alone, not with `names`",
            "`names` already lists exactly the targets; drop the ones to exempt",
        );
        return Selector::All;
    }
    if not_tags.is_empty() {
        ctx.err_hint(
            sel,
            "`not_tags` is empty",
            "list the tags whose targets the probe exempts, e.g. `not_tags: [internal-only]`",
        );
        return Selector::All;
    }
    let inner = if sel.value.tags.is_some() {
        compile_inclusion(ctx, sel)
    } else {
        Selector::All
    };
    Selector::Except(
        Box::new(inner),
        not_tags.iter().map(|t| t.value.clone()).collect(),
    )
}

/// The `tags` or `names` part of a selector.
fn compile_inclusion(ctx: &mut Ctx<'_>, sel: &Spanned<raw::Selector>) -> Selector {
    match (&sel.value.tags, &sel.value.names) {
        (Some(_), Some(_)) => {
            ctx.err_hint(
                sel,
                "`targets` takes `tags` or `names`, not both",
                "remove one of them",
            );
            Selector::All
        }
        (Some(tags), None) => Selector::Tags(tags.iter().map(|t| t.value.clone()).collect()),
        (None, Some(names)) => {
            for n in names {
                if !config::valid_target_name(&n.value) {
                    ctx.err(n, format!("invalid target name `{}`", n.value));
                }
            }
            Selector::Names(names.iter().map(|t| t.value.clone()).collect())
        }
        (None, None) if sel.value.schemes.is_some() || sel.value.not_tags.is_some() => {
            Selector::All
        }
        (None, None) => {
            ctx.err_hint(
                sel,
                "`targets` is empty",
                "write `targets: { tags: [...] }` or `targets: { names: [...] }`, or drop it to select every target",
            );
            Selector::All
        }
    }
}

/// Vets a request path: it must stay on the target. Absolute URLs, `//host` and backslashes
/// would let a probe file send traffic (and a target's credentials) elsewhere.
/// The one rule that keeps a request on its target, applied to every path at load and again
/// by the runner after `{{vars.…}}` expansion: a path starts with one `/`, and its path part
/// (before `?`; a query may carry URLs) has no scheme and no backslash, which URL parsers read
/// as a separator. Anything else could name another host.
pub fn stays_on_target(path: &str) -> Result<(), String> {
    let path_part = path.split('?').next().unwrap_or(path);
    if path_part.contains("://") || path.starts_with("//") || path_part.contains('\\') {
        return Err(format!("path `{path}` names another host"));
    }
    if !path.starts_with('/') {
        return Err(format!("path `{path}` must start with `/`"));
    }
    Ok(())
}

fn compile_status(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Status>) -> Option<StatusSet> {
    let items: Vec<&raw::StatusItem> = match &raw.value {
        raw::Status::One(item) => vec![item],
        raw::Status::Many(items) => items.iter().collect(),
    };
    if items.is_empty() {
        ctx.err(raw, "`status` list is empty");
        return None;
    }
    let mut set = Vec::new();
    for item in items {
        match item {
            raw::StatusItem::Code(c) if units::ranges::STATUS.contains(c) => {
                set.push(StatusItem::Code(u16::try_from(*c).unwrap_or(599)));
            }
            raw::StatusItem::Code(c) => {
                ctx.err_hint(
                    raw,
                    format!("status `{c}` is not an HTTP status code"),
                    "codes are 100 to 599",
                );
                return None;
            }
            raw::StatusItem::Class(text) => {
                let t = text.trim().to_ascii_lowercase();
                let class = t
                    .strip_suffix("xx")
                    .and_then(|d| d.parse::<u16>().ok())
                    .filter(|d| (1..=5).contains(d) && t.len() == 3);
                match class {
                    Some(d) => set.push(StatusItem::Class(d)),
                    None => match t.parse::<u16>() {
                        Ok(c) if (100..=599).contains(&c) => set.push(StatusItem::Code(c)),
                        _ => {
                            ctx.err_hint(
                                raw,
                                format!("invalid status `{text}`"),
                                "write a code like `200` or a class like `4xx`",
                            );
                            return None;
                        }
                    },
                }
            }
        }
    }
    Some(StatusSet(set))
}

/// The keys that make a check item a particular kind.
/// A check key that belongs to a kind other than `http`, with that kind.
fn other_kind_key(c: &raw::Check) -> Option<(&'static str, &'static str)> {
    [
        ("reachable", "tcp", c.reachable.is_some()),
        ("banner", "tcp", c.banner.is_some()),
        ("protocols", "tls", c.protocols.is_some()),
        ("ciphers", "tls", c.ciphers.is_some()),
        ("certificate", "tls", c.certificate.is_some()),
        (
            "client_certificate_required",
            "tls",
            c.client_certificate_required.is_some(),
        ),
    ]
    .into_iter()
    .find(|(_, _, set)| *set)
    .map(|(key, kind, _)| (key, kind))
}

/// The `http` check keys an item sets (each names a kind of http check).
fn http_keys(c: &raw::Check) -> Vec<&'static str> {
    [
        c.status.is_some(),
        c.header.is_some(),
        c.body.is_some(),
        c.json.is_some(),
        c.cookies.is_some(),
        c.csp.is_some(),
        c.location.is_some(),
        c.response_time.is_some(),
        c.all_of.is_some(),
        c.any_of.is_some(),
        c.not.is_some(),
    ]
    .iter()
    .zip(KINDS)
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

const KINDS: [&str; 11] = [
    "status",
    "header",
    "body",
    "json",
    "cookies",
    "csp",
    "location",
    "response_time",
    "all_of",
    "any_of",
    "not",
];

/// A compiled top-level check with the severity, title and expectation its item gives it.
fn graded<C>(item: &Spanned<raw::Check>, check: C) -> Graded<C> {
    let words = |w: &Option<Spanned<String>>| w.as_ref().map(|t| t.value.trim().to_string());
    Graded {
        check,
        severity: item.value.severity.as_ref().map(|s| s.value),
        title: words(&item.value.title),
        expected: words(&item.value.expected),
    }
}

/// Refuses `severity:`, `title:` and `expected:` on a check inside `all_of`, `any_of` or `not`: only a whole check
/// yields findings of its own.
fn refuse_inner_labels(ctx: &mut Ctx<'_>, c: &raw::Check) -> bool {
    if let Some(s) = &c.severity {
        ctx.err_hint(
            s,
            "`severity` inside `all_of`, `any_of` or `not`",
            "grade the whole check: put `severity:` beside the combinator",
        );
        return false;
    }
    for (key, words) in [("title", &c.title), ("expected", &c.expected)] {
        if let Some(t) = words {
            ctx.err_hint(
                t,
                format!("`{key}` inside `all_of`, `any_of` or `not`"),
                format!("describe the whole check: put `{key}:` beside the combinator"),
            );
            return false;
        }
    }
    true
}

fn compile_check(ctx: &mut Ctx<'_>, item: &Spanned<raw::Check>) -> Option<Check> {
    let spanned = Spanned::new(&item.value, item.referenced, item.defined);
    compile_check_ref(ctx, &spanned)
}

fn compile_check_ref(ctx: &mut Ctx<'_>, item: &Spanned<&raw::Check>) -> Option<Check> {
    let c = item.value;
    if c.reachable.is_some() || c.banner.is_some() {
        let key = if c.reachable.is_some() {
            "reachable"
        } else {
            "banner"
        };
        ctx.err_hint(
            item,
            format!("`{key}` is a check of `tcp` probes"),
            "use it in a probe with a `tcp:` block",
        );
        return None;
    }
    let kinds = http_keys(c);
    let modifiers: Vec<&str> = [
        ("present", c.present.is_some()),
        ("absent", c.absent.is_some()),
        ("equals", c.equals.is_some()),
        ("not_equals", c.not_equals.is_some()),
        ("contains", c.contains.is_some()),
        ("matches", c.matches.is_some()),
        ("not_matches", c.not_matches.is_some()),
        ("capture", c.capture.is_some()),
    ]
    .iter()
    .filter_map(|(name, set)| set.then_some(*name))
    .collect();

    match kinds.as_slice() {
        [] => {
            ctx.err_hint(
                item,
                "check has no kind",
                "start the check with one of: status, header, body, json, cookies, csp, location, response_time, all_of, any_of, not",
            );
            return None;
        }
        [_] => {}
        many => {
            ctx.err_hint(
                item,
                format!("check mixes {}", many.join(" and ")),
                "put each check in its own list item",
            );
            return None;
        }
    }
    if c.header.is_none()
        && (!modifiers.is_empty()
            || c.at_least.is_some()
            || c.at_most.is_some()
            || c.distinct.is_some()
            || c.last_token_of.is_some())
    {
        let what = modifiers
            .first()
            .copied()
            .unwrap_or(if c.distinct.is_some() {
                "distinct"
            } else if c.last_token_of.is_some() {
                "last_token_of"
            } else {
                "at_least"
            });
        ctx.err_hint(
            item,
            format!("`{what}` belongs to a header check"),
            "add `header: NAME` to this item, or move the key under `body:`",
        );
        return None;
    }

    if let Some(status) = &c.status {
        return compile_status(ctx, status).map(Check::Status);
    }
    for (list, make) in [
        (&c.all_of, Check::AllOf as fn(Vec<Check>) -> Check),
        (&c.any_of, Check::AnyOf as fn(Vec<Check>) -> Check),
    ] {
        if let Some(list) = list {
            if list.value.is_empty() {
                ctx.err(list, "combinator has an empty list of checks");
                return None;
            }
            let before = ctx.diags.len();
            let inner: Vec<Check> = list
                .value
                .iter()
                .filter_map(|c| {
                    refuse_inner_labels(ctx, &c.value)
                        .then(|| compile_check(ctx, c))
                        .flatten()
                })
                .collect();
            return (ctx.diags.len() == before).then(|| make(inner));
        }
    }
    if let Some(inner) = &c.not {
        if !refuse_inner_labels(ctx, &inner.value) {
            return None;
        }
        let spanned = Spanned::new(&*inner.value, inner.referenced, inner.defined);
        return compile_check_ref(ctx, &spanned).map(|c| Check::Not(Box::new(c)));
    }
    if let Some(name) = &c.header {
        return compile_header_check(ctx, item, name, &modifiers);
    }
    if let Some(body) = &c.body {
        return compile_body(ctx, body).map(Check::Body);
    }
    if let Some(json) = &c.json {
        return compile_json(ctx, json);
    }
    if let Some(cookies) = &c.cookies {
        return compile_cookies(ctx, cookies);
    }
    if let Some(csp) = &c.csp {
        return compile_csp(ctx, csp);
    }
    if let Some(location) = &c.location {
        return compile_location(ctx, location);
    }
    if let Some(rt) = &c.response_time {
        let below = &rt.value.below;
        return match units::parse_duration(&below.value) {
            Ok(d) => match units::in_range(
                "below",
                below.value.trim(),
                d,
                &units::ranges::RESPONSE_TIME,
            ) {
                Ok(below) => Some(Check::ResponseTime { below }),
                Err(e) => {
                    ctx.err_hint(below, e, "the slowest acceptable response, e.g. `2s`");
                    None
                }
            },
            Err(_) => {
                ctx.err_hint(
                    below,
                    units::duration_error("below", &below.value),
                    units::DURATION_HINT,
                );
                None
            }
        };
    }
    None
}

fn compile_header_check(
    ctx: &mut Ctx<'_>,
    item: &Spanned<&raw::Check>,
    name: &Spanned<String>,
    modifiers: &[&str],
) -> Option<Check> {
    let c = item.value;
    let Ok(header) = HeaderName::from_bytes(name.value.trim().as_bytes()) else {
        ctx.err(name, format!("invalid header name `{}`", name.value));
        return None;
    };
    if modifiers.len() != 1 {
        let message = if modifiers.is_empty() {
            format!("header check on `{}` asserts nothing", name.value)
        } else {
            format!("header check combines {}", modifiers.join(" and "))
        };
        ctx.err_hint(
            item,
            message,
            "give exactly one of: present, absent, equals, not_equals, contains, matches, not_matches, capture",
        );
        return None;
    }
    if c.capture.is_none() && (c.at_least.is_some() || c.at_most.is_some()) {
        ctx.err_hint(
            item,
            "`at_least`/`at_most` need `capture`",
            "add `capture: 'REGEX'` with one group holding the number",
        );
        return None;
    }
    let test = if let Some(p) = &c.present {
        if p.value {
            HeaderTest::Present
        } else {
            HeaderTest::Absent
        }
    } else if let Some(a) = &c.absent {
        if a.value {
            HeaderTest::Absent
        } else {
            HeaderTest::Present
        }
    } else if let Some(v) = &c.equals {
        HeaderTest::Equals(v.value.clone())
    } else if let Some(v) = &c.not_equals {
        HeaderTest::NotEquals(v.value.clone())
    } else if let Some(v) = &c.contains {
        HeaderTest::Contains(v.value.clone())
    } else if let Some(m) = &c.matches {
        HeaderTest::Matches(ctx.check_regex(m)?)
    } else if let Some(m) = &c.not_matches {
        HeaderTest::NotMatches(ctx.check_regex(m)?)
    } else if let Some(cap) = &c.capture {
        let regex = ctx.check_regex(cap)?;
        if regex.captures_len() < 2 {
            ctx.err_hint(
                cap,
                format!("capture regex {} has no group", quote(&cap.value)),
                "wrap the number in parentheses, e.g. `max-age=(\\d+)`",
            );
            return None;
        }
        if c.at_least.is_none() && c.at_most.is_none() {
            ctx.err_hint(
                cap,
                "`capture` needs `at_least` or `at_most`",
                "add e.g. `at_least: 15552000`",
            );
            return None;
        }
        let mut bound = |name: &str, value: Option<&Spanned<f64>>| -> Result<Option<f64>, ()> {
            let Some(v) = value else { return Ok(None) };
            units::in_range(
                name,
                &units::Shown::shown(&v.value),
                v.value,
                &units::ranges::CAPTURE_BOUND,
            )
            .map(Some)
            .map_err(|e| {
                ctx.err_hint(
                    v,
                    e,
                    "the captured number is compared with this bound; write a plain number",
                );
            })
        };
        let at_least = bound("at_least", c.at_least.as_ref());
        let at_most = bound("at_most", c.at_most.as_ref());
        let (Ok(at_least), Ok(at_most)) = (at_least, at_most) else {
            return None;
        };
        if let (Some(lo), Some(hi), Some(at)) = (at_least, at_most, c.at_most.as_ref())
            && lo > hi
        {
            ctx.err_hint(
                at,
                format!(
                    "`at_most: {}` is below `at_least: {}`: no number satisfies both",
                    units::Shown::shown(&hi),
                    units::Shown::shown(&lo)
                ),
                "swap the bounds",
            );
            return None;
        }
        HeaderTest::Capture {
            regex,
            at_least,
            at_most,
        }
    } else {
        return None;
    };
    let distinct = c.distinct.as_ref().is_some_and(|d| d.value);
    match &c.last_token_of {
        None => Some(Check::Header {
            name: header,
            test,
            distinct,
        }),
        Some(tokens) if distinct => {
            ctx.err_hint(
                tokens,
                "`distinct` and `last_token_of` do not go together",
                "`last_token_of` already reads the header as a list of tokens",
            );
            None
        }
        Some(tokens) => compile_header_token(ctx, tokens, header, test),
    }
}

/// A header check that judges only the last token of the header that is one of `tokens`.
fn compile_header_token(
    ctx: &mut Ctx<'_>,
    tokens: &Spanned<Vec<String>>,
    name: HeaderName,
    test: HeaderTest,
) -> Option<Check> {
    let known: Vec<String> = tokens
        .value
        .iter()
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    if known.is_empty() || known.iter().any(|t| t.is_empty() || t.contains(',')) {
        ctx.err_hint(
            tokens,
            "`last_token_of` needs a list of non-empty tokens without commas",
            "list the tokens browsers recognise, e.g. `[no-referrer, same-origin, unsafe-url]`",
        );
        return None;
    }
    Some(Check::HeaderToken { name, known, test })
}

fn compile_csp(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Csp>) -> Option<Check> {
    let c = &raw.value;
    let set = [
        c.parsable.is_some(),
        c.has_directive.is_some(),
        c.restricts_framing.is_some(),
        c.forbid_script_keywords.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if set != 1 {
        ctx.err_hint(
            raw,
            if set == 0 {
                "csp check asserts nothing"
            } else {
                "csp check combines several assertions"
            },
            "give exactly one of: parsable, has_directive, restricts_framing, forbid_script_keywords",
        );
        return None;
    }
    let only_true = |ctx: &mut Ctx<'_>, flag: &Spanned<bool>, key: &str| {
        if !flag.value {
            ctx.err_hint(
                flag,
                format!("`{key}: false` asserts nothing"),
                format!("write `{key}: true`, inside `not:` to assert the opposite"),
            );
        }
        flag.value
    };
    let test = if let Some(p) = &c.parsable {
        only_true(ctx, p, "parsable").then_some(CspTest::Parsable)?
    } else if let Some(r) = &c.restricts_framing {
        only_true(ctx, r, "restricts_framing").then_some(CspTest::RestrictsFraming)?
    } else if let Some(d) = &c.has_directive {
        let name = d.value.trim().to_ascii_lowercase();
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        {
            ctx.err_hint(
                d,
                format!("`{}` is not a directive name", d.value),
                "directive names are letters, digits and `-`, e.g. `object-src`",
            );
            return None;
        }
        CspTest::HasDirective(name)
    } else {
        let list = c.forbid_script_keywords.as_deref().unwrap_or_default();
        if list.is_empty() {
            ctx.err_hint(
                raw,
                "`forbid_script_keywords` is empty",
                "list `unsafe-inline`, `unsafe-eval` or both",
            );
            return None;
        }
        let mut keywords = Vec::new();
        for k in list {
            match csp::ScriptKeyword::parse(&k.value) {
                Some(keyword) => keywords.push(keyword),
                None => {
                    ctx.err_hint(
                        k,
                        format!("unknown script keyword `{}`", k.value),
                        "expected `unsafe-inline` or `unsafe-eval`",
                    );
                    return None;
                }
            }
        }
        CspTest::ForbidScriptKeywords(keywords)
    };
    Some(Check::Csp {
        test,
        meta: c.meta.as_ref().is_none_or(|m| m.value),
    })
}

fn compile_location(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Location>) -> Option<Check> {
    let l = &raw.value;
    let scheme = match &l.scheme {
        None => None,
        Some(s) => {
            let scheme = s.value.trim().to_ascii_lowercase();
            let valid = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if !valid {
                ctx.err_hint(
                    s,
                    format!("`{}` is not a URL scheme", s.value),
                    "write the scheme without `://`, e.g. `https`",
                );
                return None;
            }
            Some(scheme)
        }
    };
    Some(Check::Location {
        scheme,
        same_host: l.same_host.as_ref().map(|s| s.value),
    })
}

fn compile_body(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Body>) -> Option<BodyTest> {
    let b = &raw.value;
    if b.capture.is_some() || b.after_now.is_some() {
        return compile_body_date(ctx, raw);
    }
    let set = [
        b.contains.is_some(),
        b.not_contains.is_some(),
        b.matches.is_some(),
        b.not_matches.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if set != 1 {
        ctx.err_hint(
            raw,
            if set == 0 {
                "body check asserts nothing"
            } else {
                "body check combines several assertions"
            },
            "give exactly one of: contains, not_contains, matches, not_matches, capture",
        );
        return None;
    }
    if let Some(v) = &b.contains {
        Some(BodyTest::Contains(v.value.clone()))
    } else if let Some(v) = &b.not_contains {
        Some(BodyTest::NotContains(v.value.clone()))
    } else if let Some(m) = &b.matches {
        ctx.check_regex(m).map(BodyTest::Matches)
    } else if let Some(m) = &b.not_matches {
        ctx.check_regex(m).map(BodyTest::NotMatches)
    } else {
        None
    }
}

/// `body: { capture: REGEX, after_now: BOOL }`: a date in the body compared with now.
fn compile_body_date(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Body>) -> Option<BodyTest> {
    let b = &raw.value;
    let others = [&b.contains, &b.not_contains, &b.matches, &b.not_matches];
    let hint = "e.g. `body: { capture: '(?m)^Expires:[ \\t]*(\\S+)', after_now: true }`";
    if others.iter().any(|o| o.is_some()) {
        ctx.err_hint(raw, "body check combines several assertions", hint);
        return None;
    }
    let (Some(cap), Some(after_now)) = (&b.capture, &b.after_now) else {
        let message = if b.capture.is_some() {
            "body `capture` needs `after_now`"
        } else {
            "`after_now` needs `capture`"
        };
        ctx.err_hint(raw, message, hint);
        return None;
    };
    let regex = ctx.check_regex(cap)?;
    if regex.captures_len() < 2 {
        ctx.err_hint(
            cap,
            format!("capture regex {} has no group", quote(&cap.value)),
            "wrap the date in parentheses, e.g. `Expires:[ \\t]*(\\S+)`",
        );
        return None;
    }
    Some(BodyTest::CaptureDate {
        regex,
        after_now: after_now.value,
    })
}

fn compile_json(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Json>) -> Option<Check> {
    let j = &raw.value;
    let pointer = &j.pointer.value;
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        ctx.err_hint(
            &j.pointer,
            format!("JSON pointer `{pointer}` must be empty or start with `/`"),
            "RFC 6901 pointers look like `/debug` or `/items/0/name`",
        );
        return None;
    }
    let test = match (&j.equals, &j.not_equals, &j.present) {
        (Some(v), None, None) => JsonTest::Equals(v.value.clone()),
        (None, Some(v), None) => JsonTest::NotEquals(v.value.clone()),
        (None, None, Some(p)) => JsonTest::Present(p.value),
        _ => {
            ctx.err_hint(
                raw,
                "json check needs exactly one of `equals`, `not_equals`, `present`",
                "e.g. `json: { pointer: /debug, equals: false }`",
            );
            return None;
        }
    };
    Some(Check::Json {
        pointer: pointer.clone(),
        test,
    })
}

fn compile_cookies(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Cookies>) -> Option<Check> {
    let mut all_have = Vec::new();
    for flag in &raw.value.all_have {
        match flag.value.to_ascii_lowercase().as_str() {
            "secure" => all_have.push(CookieFlag::Secure),
            "httponly" => all_have.push(CookieFlag::HttpOnly),
            other => {
                ctx.err_hint(
                    flag,
                    format!("unknown cookie flag `{other}`"),
                    "expected `secure` or `httponly`",
                );
                return None;
            }
        }
    }
    let samesite_at_least = match &raw.value.samesite_at_least {
        None => None,
        Some(s) => match SameSite::parse(&s.value) {
            Some(level) => Some(level),
            None => {
                ctx.err_hint(
                    s,
                    format!("unknown SameSite level `{}`", s.value),
                    "expected `none`, `lax` or `strict`",
                );
                return None;
            }
        },
    };
    let flag = |f: &Option<Spanned<bool>>| f.as_ref().is_some_and(|f| f.value);
    let samesite_valid = flag(&raw.value.samesite_valid);
    let prefix_rules = flag(&raw.value.prefix_rules);
    if all_have.is_empty() && samesite_at_least.is_none() && !samesite_valid && !prefix_rules {
        ctx.err_hint(
            raw,
            "cookies check asserts nothing",
            "add `all_have: [secure, httponly]`, `samesite_at_least: lax`, `samesite_valid: true` or `prefix_rules: true`",
        );
        return None;
    }
    Some(Check::Cookies {
        all_have,
        samesite_at_least,
        session_like: raw.value.session_like.as_ref().map(|s| s.value),
        samesite_valid,
        prefix_rules,
    })
}

/// Reports duplicate probe ids across files.
pub fn check_unique_ids(probes: &[Probe], diags: &mut Diagnostics) {
    let mut seen: BTreeMap<&str, &Probe> = BTreeMap::new();
    for p in probes {
        if let Some(first) = seen.get(p.id.as_str()) {
            diags.push(
                Diagnostic::new(
                    &p.source,
                    p.id_pos,
                    format!("duplicate probe id `{}`", p.id),
                )
                .with_hint(format!(
                    "first defined at {}:{}:{}",
                    first.source.display(),
                    first.id_pos.line,
                    first.id_pos.column
                )),
            );
        } else {
            seen.insert(&p.id, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::http::check_path;

    /// Compiles a probe file's text; the errors' messages when it does not compile.
    fn compile_text(yaml: &str) -> Result<Probe, Vec<String>> {
        let raw: raw::Probe = serde_saphyr::from_str(yaml).unwrap();
        let mut diags = Diagnostics::default();
        compile(Path::new("p.yaml"), raw, &Defaults::default(), &mut diags)
            .ok_or_else(|| diags.iter().map(|d| d.message.clone()).collect())
    }

    fn http_probe(extra: &str, checks: &str) -> String {
        format!("id: t/p\nname: t\nseverity: low\n{extra}http:\n  path: /\nchecks:\n{checks}")
    }

    #[test]
    fn not_tags_exempt_targets_and_refuse_names() {
        let p = compile_text(&http_probe(
            "targets: { tags: [public], not_tags: [internal-only] }\n",
            "  - status: 200\n",
        ))
        .unwrap();
        let Selector::Except(inner, tags) = &p.targets else {
            panic!("{:?}", p.targets)
        };
        assert_eq!(**inner, Selector::Tags(BTreeSet::from(["public".into()])));
        assert_eq!(tags, &BTreeSet::from(["internal-only".to_string()]));
        let alone = compile_text(&http_probe(
            "targets: { not_tags: [internal-only] }\n",
            "  - status: 200\n",
        ))
        .unwrap();
        assert!(matches!(&alone.targets, Selector::Except(inner, _) if **inner == Selector::All));
        let e = compile_text(&http_probe(
            "targets: { names: [a], not_tags: [x] }\n",
            "  - status: 200\n",
        ))
        .unwrap_err();
        assert!(e[0].contains("not with `names`"), "{e:?}");
    }

    #[test]
    fn new_check_keys_are_validated() {
        for (checks, message) in [
            (
                "  - status: 200\n    last_token_of: [a]\n",
                "`last_token_of` belongs to a header check",
            ),
            (
                "  - header: referrer-policy\n    last_token_of: []\n    present: true\n",
                "`last_token_of` needs a list",
            ),
            (
                "  - body: { capture: '(\\S+)' }\n",
                "body `capture` needs `after_now`",
            ),
            (
                "  - body: { after_now: true }\n",
                "`after_now` needs `capture`",
            ),
            (
                "  - body: { capture: 'x', after_now: true }\n",
                "capture regex `x` has no group",
            ),
            (
                "  - body: { capture: '(x)', after_now: true, contains: y }\n",
                "body check combines several assertions",
            ),
            (
                "  - cookies: { session_like: true }\n",
                "cookies check asserts nothing",
            ),
        ] {
            let e = compile_text(&http_probe("", checks)).unwrap_err();
            assert!(e[0].starts_with(message), "{checks}: {e:?}");
        }
        let p = compile_text(&http_probe(
            "",
            "  - cookies: { session_like: true, all_have: [secure], samesite_valid: true, prefix_rules: true }\n  - header: referrer-policy\n    last_token_of: [No-Referrer, unsafe-url]\n    not_equals: unsafe-url\n",
        ))
        .unwrap();
        let checks = p.kind.checks();
        assert!(matches!(
            &checks[0].check,
            Check::Cookies {
                session_like: Some(true),
                samesite_valid: true,
                prefix_rules: true,
                ..
            }
        ));
        assert!(
            matches!(&checks[1].check, Check::HeaderToken { known, .. } if known == &["no-referrer", "unsafe-url"])
        );
    }

    #[test]
    fn random_in_a_check_regex_compiles_with_the_sentinel() {
        let p = compile_text(&http_probe(
            "",
            "  - header: location\n    matches: '^https://{{random}}\\.invalid/'\n",
        ))
        .unwrap();
        assert!(crate::check::canary::uses_random(&p.kind.checks()[0].check));
    }

    #[test]
    fn probe_ids() {
        assert!(valid_probe_id("headers/hsts"));
        assert!(valid_probe_id("exposure/git-config"));
        assert!(!valid_probe_id("Headers/HSTS"));
        assert!(!valid_probe_id("headers//x"));
        assert!(!valid_probe_id("/x"));
    }

    #[test]
    fn paths_must_stay_on_target() {
        assert!(check_path("/").is_ok());
        assert!(check_path("/a/b?x=1").is_ok());
        assert!(check_path("http://evil.example/").is_err());
        assert!(check_path("//evil.example/").is_err());
        assert!(check_path("/\\evil.example").is_err());
        assert!(check_path("admin").is_err());
        assert!(check_path("{{vars.protected_paths}}").is_ok());
        assert!(check_path("{{random}}/x").is_err());
        assert!(check_path("/x?c={{random}}").is_ok());
        assert!(check_path("/login?next=https://evil.example/").is_ok());
        assert!(check_path("/a://b?x").is_err());
        assert!(check_path("/a b").is_err());
    }

    fn compile_regex(pattern: &str) -> (Option<Regex>, Diagnostics, usize) {
        let mut diags = Diagnostics::default();
        let mut ctx = Ctx {
            file: Path::new("p.yaml"),
            diags: &mut diags,
            regex_bytes: 0,
        };
        let at = Spanned::new(
            pattern.to_string(),
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        );
        let re = ctx.regex(&at);
        let bytes = ctx.regex_bytes;
        (re, diags, bytes)
    }

    #[test]
    fn quotes_are_clipped_and_escaped() {
        assert_eq!(quote("a\\d+"), "`a\\d+`");
        assert_eq!(quote(&"x".repeat(41)), format!("`{}…`", "x".repeat(40)));
        assert_eq!(quote("a\nb"), "`a\\nb`");
    }

    #[test]
    fn long_regexes_are_refused_before_compiling() {
        let ok = "a".repeat(MAX_REGEX_BYTES);
        let (re, diags, bytes) = compile_regex(&ok);
        assert!(re.is_some() && diags.is_empty() && bytes > 0);
        let long: String = (0..1000).map(|i| format!("w{i:06}|")).collect();
        let (re, diags, _) = compile_regex(&long);
        assert!(re.is_none());
        let d = diags.iter().next().unwrap();
        assert!(
            d.message
                .starts_with("regex `w000000|w000001|w000002|w000003|w000004|…` is 8000 bytes"),
            "{d}"
        );
        assert!(d.message.len() < 200, "{d}");
    }

    #[test]
    fn invalid_regexes_are_quoted_short() {
        let (re, diags, _) = compile_regex(&format!("({}", "a".repeat(3000)));
        assert!(re.is_none());
        let d = diags.iter().next().unwrap();
        assert_eq!(
            d.message,
            format!("invalid regex `({}…`: unclosed group", "a".repeat(39))
        );
    }

    #[test]
    fn regexes_that_compile_too_big_are_refused() {
        let (re, diags, _) = compile_regex("\\w{1,100}");
        assert!(re.is_none());
        let d = diags.iter().next().unwrap();
        assert_eq!(d.message, "regex `\\w{1,100}` compiles to more than 1 MiB");
        assert!(d.hint.is_some());
    }

    #[test]
    fn regex_memory_is_measured() {
        // Unicode classes are what costs: `\w` is a table of ranges, `abc` a literal.
        assert!(regex_memory("abc") < 1024);
        assert!(regex_memory("\\w+") > 16 << 10);
        let (_, _, bytes) = compile_regex("max-age=(\\d+)");
        assert!(bytes > 1024, "{bytes}");
    }
}
