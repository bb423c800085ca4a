//! Probe files (`probes/**/*.yaml`): raw shapes, then validated [`Probe`]s.
//!
//! A probe says what to send, which [`Check`]s must hold, how severe a failure is and when to
//! run. Regexes are compiled and paths are vetted here, at load time, so a running service
//! never meets a probe it cannot execute.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde_saphyr::Spanned;

use crate::check::Graded;
#[cfg(test)]
use crate::check::http::Check;
use crate::config::{self, Defaults, Target, Var};
use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::units::{self, Schedule, Severity};

pub mod http;
pub mod nuclei;
mod selector;
mod software;
pub mod tcp;
pub mod template;
pub mod tls;

pub use http::HttpRequest;
use http::checks::http_keys;
pub use selector::Selector;
use selector::{compile_schemes, compile_selector};
pub use template::Template;

/// The raw YAML shapes. Field docs here are the user's reference.
pub mod raw;

/// The JSON Schema (2020-12) of the probe file format, generated from [`raw::Probe`]; the
/// field docs there become its descriptions. `picket schema` prints it for editor completion.
pub fn probe_schema() -> serde_json::Value {
    schemars::schema_for!(raw::Probe).to_value()
}

/// What a probe sends and what must hold: the thing that varies between probe kinds. Each
/// kind has its module here for its validated shape, check keys, schemes and variables, a
/// runner in `run/`, and its checks in `check/`. Every method here is one match over the
/// kinds, with no wildcard arm, that delegates to the kind's module: a new kind does not
/// compile until each says what to do (docs/adding-a-probe-kind.md).
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
        self.kind_name().as_str()
    }

    /// Which kind this is, without its data.
    fn kind_name(&self) -> KindName {
        match self {
            Kind::Http(_) => KindName::Http,
            Kind::Tcp(_) => KindName::Tcp,
            Kind::Tls(_) => KindName::Tls,
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

    /// Whether the probe can run against a target whose URL has this scheme (the plan
    /// skips the other pairs, naming the kind).
    pub fn runs_on(&self, scheme: &str) -> bool {
        match self {
            Kind::Http(_) => http::runs_on(scheme),
            Kind::Tcp(_) => tcp::runs_on(scheme),
            Kind::Tls(_) => tls::runs_on(scheme),
        }
    }

    /// Every `{{vars.NAME}}` the probe needs of `target` (optional ones not): a target
    /// without one of them is skipped.
    pub fn vars_for(&self, target: &Target) -> BTreeSet<&str> {
        match self {
            Kind::Http(h) => h.vars_for(target),
            Kind::Tcp(t) => t.vars_for(target),
            Kind::Tls(t) => t.vars_for(target),
        }
    }

    /// Where one run against a target with these `vars` would send more than
    /// [`MAX_REQUESTS_PER_RUN`] requests, if it would: known only once config and probes are
    /// both loaded, as a target's list variables multiply a probe's requests. `None` too when
    /// a required variable is missing (that series is skipped, not run).
    pub fn over_request_cap(&self, vars: &BTreeMap<String, Var>) -> Option<OverCap<'_>> {
        match self {
            Kind::Http(h) => h.over_request_cap(vars),
            // The cap counts HTTP requests: tcp connections (one per port, a `ports` list
            // variable's items included) and tls handshakes are not counted against it.
            Kind::Tcp(_) | Kind::Tls(_) => None,
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

/// A run that would cross [`MAX_REQUESTS_PER_RUN`] (see [`Kind::over_request_cap`]).
#[derive(Debug)]
pub struct OverCap<'a> {
    /// The requests one run would send.
    pub requests: usize,
    /// The request template at which the count crosses the cap.
    pub at: &'a Template,
    /// Where that template is written.
    pub pos: Pos,
}

/// Declares [`KindName`] and lists its every variant in `KindName::ALL`, so that the list of
/// kinds (the keys of other kinds a check refuses, the kinds an error names) cannot miss one.
macro_rules! kind_names {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// A probe kind without its data: what a request block or a check key belongs to.
        /// Matched without wildcards, so that a new kind does not compile until every place
        /// that asks which kind a key is for (`http/checks.rs`, `tcp.rs`, `tls.rs`) says what
        /// to do with its keys.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum KindName {
            $($(#[$doc])* $variant,)*
        }

        impl KindName {
            /// Every kind, in the order errors name them.
            const ALL: &[KindName] = &[$(KindName::$variant),*];

            /// The kind's name as written in probe files.
            fn as_str(self) -> &'static str {
                match self {
                    $(KindName::$variant => $name,)*
                }
            }
        }
    };
}

kind_names! {
    /// `http:`.
    Http = "http",
    /// `tcp:`.
    Tcp = "tcp",
    /// `tls:`.
    Tls = "tls",
}

impl KindName {
    /// The check keys of this kind that `c` sets, in the order its module states them.
    fn check_keys(self, c: &raw::Check) -> Vec<&'static str> {
        match self {
            KindName::Http => http_keys(c),
            KindName::Tcp => tcp::check_keys(c),
            KindName::Tls => tls::check_keys(c),
        }
    }
}

/// The request block of a raw probe: one variant per kind, borrowing the raw block.
enum Block<'a> {
    Http(&'a Spanned<raw::Http>),
    Tcp(&'a Spanned<raw::Tcp>),
    Tls(&'a Spanned<raw::Tls>),
}

/// The request blocks a raw probe has (a valid one has exactly one). Every field of
/// [`raw::Probe`] is named here, without `..`: a new field does not compile until it is
/// said to be a request block or not.
fn blocks(raw: &raw::Probe) -> Vec<Block<'_>> {
    let raw::Probe {
        http,
        tcp,
        tls,
        // Not request blocks: every kind's.
        id: _,
        name: _,
        severity: _,
        tags: _,
        description: _,
        remediation: _,
        references: _,
        schedule: _,
        targets: _,
        confirm: _,
        recover: _,
        timeout: _,
        max_body_bytes: _,
        checks: _,
    } = raw;
    [
        http.as_ref().map(Block::Http),
        tcp.as_ref().map(Block::Tcp),
        tls.as_ref().map(Block::Tls),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `` `a`, `b` or `c` ``: names for an error message, each with `after` appended.
fn one_of(names: &[&str], after: &str) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}{after}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
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
struct Compiling<'a> {
    file: &'a Path,
    diags: &'a mut Diagnostics,
    /// Memory held by the regexes compiled so far.
    regex_bytes: usize,
}

impl<'a> Compiling<'a> {
    /// A compilation of `file`, its problems going to `diags`.
    fn new(file: &'a Path, diags: &'a mut Diagnostics) -> Compiling<'a> {
        Compiling {
            file,
            diags,
            regex_bytes: 0,
        }
    }

    /// What the probe file overrides of `defaults` ([`config::overrides`]).
    fn overrides(
        &mut self,
        raw: config::RawOverrides<'_>,
        defaults: &Defaults,
    ) -> config::Overrides {
        let mut at = crate::diag::At {
            file: self.file,
            diags: self.diags,
        };
        config::overrides(&mut at, raw, defaults)
    }

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
    let mut ctx = Compiling::new(file, diags);

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

    let config::Overrides {
        schedule,
        confirm,
        recover,
        timeout,
    } = ctx.overrides(
        config::RawOverrides {
            schedule: raw.schedule.as_ref(),
            confirm: raw.confirm.as_ref(),
            recover: raw.recover.as_ref(),
            timeout: raw.timeout.as_ref(),
        },
        defaults,
    );

    let max_body_bytes = raw
        .max_body_bytes
        .as_ref()
        .and_then(|size| compile_body_cap(&mut ctx, size));

    let targets = compile_selector(&mut ctx, raw.targets.as_ref());
    let schemes = compile_schemes(&mut ctx, raw.targets.as_ref());
    let target_name_pos = raw
        .targets
        .as_ref()
        .and_then(|t| t.value.names.as_ref())
        .map(|names| {
            names
                .iter()
                .map(|n| (n.value.clone(), Compiling::pos(n)))
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
    let kind = match blocks(&raw).as_slice() {
        [] => {
            let others: Vec<&str> = KindName::ALL
                .iter()
                .filter(|k| **k != KindName::Http)
                .map(|k| k.as_str())
                .collect();
            ctx.err_hint(
                &raw.id,
                "probe has no request",
                format!(
                    "add an `http:` block with at least a `path:`, or a {} block",
                    one_of(&others, ":")
                ),
            );
            // Report what is wrong with the checks too, read as the default kind's.
            http::compile_checks(&mut ctx, &raw.checks.value);
            None
        }
        [block] => match block {
            Block::Http(h) => {
                http::compile(&mut ctx, h, &raw.checks.value, max_body_bytes).map(Kind::Http)
            }
            Block::Tcp(t) => tcp::compile(&mut ctx, t, &raw.checks.value).map(Kind::Tcp),
            Block::Tls(t) => tls::compile(&mut ctx, t, &raw.checks.value).map(Kind::Tls),
        },
        [_, _, ..] => {
            let names: Vec<&str> = KindName::ALL.iter().map(|k| k.as_str()).collect();
            ctx.err_hint(
                &raw.id,
                format!("a probe has one request: {}", one_of(&names, "")),
                "split it into one probe file per request",
            );
            None
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

fn compile_body_cap(ctx: &mut Compiling<'_>, size: &Spanned<config::raw::Size>) -> Option<u64> {
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

/// Vets a request path: it must stay on the target. Absolute URLs, `//host` and backslashes
/// would let a probe file send traffic (and a target's credentials) elsewhere.
/// The one rule that keeps a request on its target, applied to every path at load and again
/// by the runner after `{{vars.…}}` expansion: a path starts with one `/`, and its path part
/// (before `?`; a query may carry URLs) has no scheme and no backslash, which URL parsers read
/// as a separator. Anything else could name another host.
pub fn stays_on_target(path: &str) -> Result<(), OffTarget> {
    let path_part = path.split('?').next().unwrap_or(path);
    if path_part.contains("://") || path.starts_with("//") || path_part.contains('\\') {
        return Err(OffTarget::OtherHost(path.to_owned()));
    }
    if !path.starts_with('/') {
        return Err(OffTarget::NotRooted(path.to_owned()));
    }
    Ok(())
}

/// Why a request path could leave its target ([`stays_on_target`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffTarget {
    /// A scheme, `//` or a backslash: URL parsers would read another host.
    #[error("path `{0}` names another host")]
    OtherHost(String),
    /// Not a path from the root.
    #[error("path `{0}` must start with `/`")]
    NotRooted(String),
}

/// A check key that belongs to a kind other than `http`, with that kind (the first one set:
/// kinds in the order of [`KindName::ALL`], each kind's keys in the order its module states
/// them). The `http` keys are [`http_keys`].
fn other_kind_key(c: &raw::Check) -> Option<(&'static str, KindName)> {
    KindName::ALL
        .iter()
        .filter(|k| **k != KindName::Http)
        .find_map(|k| k.check_keys(c).first().map(|key| (*key, *k)))
}

/// Every field of [`raw::Check`], grouped by the kind that reads it, named without `..`: a
/// new check key does not compile until it is placed here, which is the reminder to add it to
/// its kind's `check_keys` (and so to what the other kinds refuse).
const _: fn(&raw::Check) = |c| {
    let raw::Check {
        // `http`: `http::checks::http_keys`, and the header modifiers.
        status: _,
        header: _,
        body: _,
        json: _,
        cookies: _,
        csp: _,
        location: _,
        response_time: _,
        software: _,
        all_of: _,
        any_of: _,
        not: _,
        present: _,
        absent: _,
        equals: _,
        not_equals: _,
        contains: _,
        matches: _,
        not_matches: _,
        capture: _,
        at_least: _,
        at_most: _,
        distinct: _,
        last_token_of: _,
        // `http` and `tcp` (`software`, in `http_keys`; `tcp::check` takes it too).
        // `tcp`: `tcp::check_keys`.
        reachable: _,
        banner: _,
        // `tls`: `tls::check_keys`.
        protocols: _,
        ciphers: _,
        certificate: _,
        client_certificate_required: _,
        // Every kind, on a top-level check: `graded`.
        severity: _,
        title: _,
        expected: _,
    } = c;
};

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

/// Reports duplicate probe ids across files.
pub fn check_unique_ids(probes: &[std::sync::Arc<Probe>], diags: &mut Diagnostics) {
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

    /// Compiles a probe file's text; the errors' messages when it does not compile.
    pub(super) fn compile_text(yaml: &str) -> Result<Probe, Vec<String>> {
        let raw: raw::Probe = serde_saphyr::from_str(yaml).unwrap();
        let mut diags = Diagnostics::default();
        compile(Path::new("p.yaml"), raw, &Defaults::default(), &mut diags)
            .ok_or_else(|| diags.iter().map(|d| d.message.clone()).collect())
    }

    pub(super) fn http_probe(extra: &str, checks: &str) -> String {
        format!("id: t/p\nname: t\nseverity: low\n{extra}http:\n  path: /\nchecks:\n{checks}")
    }

    /// Compiles a probe file's text; the errors' messages and hints when it does not compile.
    fn errors_with_hints(yaml: &str) -> Vec<(String, Option<String>)> {
        let raw: raw::Probe = serde_saphyr::from_str(yaml).unwrap();
        let mut diags = Diagnostics::default();
        let probe = compile(Path::new("p.yaml"), raw, &Defaults::default(), &mut diags);
        assert!(probe.is_none(), "{yaml}");
        diags
            .iter()
            .map(|d| (d.message.clone(), d.hint.clone()))
            .collect()
    }

    fn with_block(block: &str, checks: &str) -> String {
        format!("id: t/p\nname: t\nseverity: low\n{block}checks:\n{checks}")
    }

    /// What each kind says of a check key that belongs to another kind, and of a probe with
    /// no request or several: the kind dispatch reads each kind's own key list.
    #[test]
    fn keys_and_requests_of_other_kinds_are_refused() {
        let first = |block: &str, checks: &str| {
            errors_with_hints(&with_block(block, checks))
                .into_iter()
                .next()
                .unwrap()
        };
        let msg = |block: &str, checks: &str| first(block, checks).0;
        let http = "http:\n  path: /\n";
        let (tcp, tls) = ("tcp: {}\n", "tls: {}\n");
        let (status, reachable, banner, protocols) = (
            "  - status: 200\n",
            "  - reachable: true\n",
            "  - banner: { contains: x }\n",
            "  - protocols: { forbid: [ssl3] }\n",
        );
        assert_eq!(
            first(http, reachable),
            (
                "`reachable` is a check of `tcp` probes".to_string(),
                Some("use it in a probe with a `tcp:` block".to_string())
            )
        );
        assert_eq!(msg(http, protocols), "check has no kind");
        assert_eq!(msg(tcp, status), "`status` is not a check of `tcp` probes");
        assert_eq!(
            first(tcp, protocols),
            (
                "`protocols` is a check of `tls` probes".to_string(),
                Some("use it in a probe with a `tls:` block".to_string())
            )
        );
        assert_eq!(msg(tls, banner), "`banner` is a check of `tcp` probes");
        assert_eq!(
            msg(tls, status),
            "a tls check has exactly one of `protocols`, `ciphers`, `certificate`, `client_certificate_required`"
        );
        for blocks in [
            format!("{http}{tcp}"),
            format!("{tcp}{tls}"),
            format!("{http}{tls}"),
        ] {
            assert_eq!(
                first(&blocks, status),
                (
                    "a probe has one request: `http`, `tcp` or `tls`".to_string(),
                    Some("split it into one probe file per request".to_string())
                )
            );
        }
        assert_eq!(
            first("", status),
            (
                "probe has no request".to_string(),
                Some(
                    "add an `http:` block with at least a `path:`, or a `tcp:` or `tls:` block"
                        .to_string()
                )
            )
        );
        // Each kind compiles its own checks.
        assert!(compile_text(&with_block(tcp, reachable)).is_ok());
        assert!(compile_text(&with_block(tls, protocols)).is_ok());
        assert!(compile_text(&with_block(http, status)).is_ok());
    }

    /// Which target schemes each kind runs on, and which variables it reads.
    #[test]
    fn each_kind_states_its_schemes_and_vars() {
        let kind =
            |block: &str, checks: &str| compile_text(&with_block(block, checks)).unwrap().kind;
        let http = kind("http:\n  path: /{{vars.p}}\n", "  - status: 200\n");
        let tcp = kind(
            "tcp: { ports: \"{{vars.closed}}\" }\n",
            "  - reachable: false\n",
        );
        let tls = kind("tls: {}\n", "  - protocols: { forbid: [ssl3] }\n");
        let schemes = |k: &Kind| {
            ["http", "https", "tls", "tcp"]
                .into_iter()
                .filter(|s| k.runs_on(s))
                .collect::<Vec<_>>()
        };
        assert_eq!(schemes(&http), ["http", "https"]);
        assert_eq!(schemes(&tcp), ["http", "https", "tls", "tcp"]);
        assert_eq!(schemes(&tls), ["https", "tls"]);
        let target = Target::new(
            "t".into(),
            url::Url::parse("https://127.0.0.1:1/").unwrap(),
            crate::config::Source::Static,
        );
        assert_eq!(http.vars_for(&target), BTreeSet::from(["p"]));
        assert_eq!(tcp.vars_for(&target), BTreeSet::from(["closed"]));
        assert!(tls.vars_for(&target).is_empty());
        assert_eq!(
            (http.name(), tcp.name(), tls.name()),
            ("http", "tcp", "tls")
        );
    }

    #[test]
    fn probe_ids() {
        assert!(valid_probe_id("headers/hsts"));
        assert!(valid_probe_id("exposure/git-config"));
        assert!(!valid_probe_id("Headers/HSTS"));
        assert!(!valid_probe_id("headers//x"));
        assert!(!valid_probe_id("/x"));
    }

    fn compile_regex(pattern: &str) -> (Option<Regex>, Diagnostics, usize) {
        let mut diags = Diagnostics::default();
        let mut ctx = Compiling {
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
