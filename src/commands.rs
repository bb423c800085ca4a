//! The one-shot commands behind the CLI: `check`, `validate`, `list`, `probes`.
//!
//! Each returns the process exit code, so `main` stays a thin dispatcher and tests can run
//! them in-process. Exit codes: 0 clean, 1 findings at or above `--fail-on` (or a target
//! `check` could not reach), 2 config or usage error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use url::Url;

use crate::config::{Config, EnvLookup, Var};
use crate::load::{self, Loaded};
use crate::plan::{self, Plan, Series};
use crate::redact;
use crate::report::Report;
use crate::run::Runner;
use crate::term::{escape_controls, escape_json};
use crate::units::Severity;

/// Exit code: everything held.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one finding at or above the threshold.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: configuration or usage error.
pub const EXIT_CONFIG: u8 = 2;

/// The config file used when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "config/picket.yaml";

/// Output formats of `picket check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON document: every result with its findings, and a summary.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// JUnit XML, for CI test reports.
    Junit,
}

/// Options of `picket check`.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Config file; `None` means the default, unless `target` is a URL.
    pub config: Option<PathBuf>,
    /// Probe id glob.
    pub probe: Option<String>,
    /// Target name, or a URL for an ad-hoc check.
    pub target: Option<String>,
    /// Output format.
    pub format: Format,
    /// Lowest severity that makes the exit code 1.
    pub fail_on: Severity,
    /// Team probe files and folders for ad-hoc checks, added to the built-in library.
    pub probes: Vec<PathBuf>,
    /// A CA file (PEM) the ad-hoc `--target URL` is trusted with, as a target's `tls.ca_file`.
    pub ca_file: Option<PathBuf>,
    /// Facts about the ad-hoc `--target URL`, as `--var NAME=VALUE` gave them (in order): a
    /// value with commas is a list, and a repeated name adds to its list.
    pub vars: Vec<(String, String)>,
    /// Requests per second per target for this run, instead of `limits.per_target_rps`.
    pub rps: Option<f64>,
    /// Show a progress bar (only honoured on a terminal).
    pub progress: bool,
    /// Exit 1 when any series ends in `error` too.
    pub fail_on_error: bool,
    /// Exit 0 even when a target was unreachable (every series of it ended in `error`).
    pub allow_unreachable: bool,
    /// Text output shows each finding's technical detail.
    pub verbose: bool,
    /// Text output colours its outcome words (stdout is a terminal and `NO_COLOR` is unset).
    pub colour: bool,
}

/// Parses `--var NAME=VALUE`: a name of letters, digits and `_`, then `=`, then a value.
pub fn parse_var(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err("write NAME=VALUE, e.g. `protected_paths=/admin,/api`".into());
    };
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{}` is not a variable name: use letters, digits and `_`, e.g. `protected_paths`",
            escape_controls(name)
        ));
    }
    if value.split(',').all(|item| item.trim().is_empty()) {
        return Err(format!(
            "`{name}` has no value; write e.g. `{name}=/admin` (commas make a list)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The vars of `--var`: each value split at commas (items trimmed, empty ones dropped), a
/// repeated name adding to its list, and `${env:NAME}` resolved (its value then secret).
fn cli_vars(
    given: &[(String, String)],
    env: EnvLookup<'_>,
    redactor: &mut crate::redact::Redactor,
) -> Result<std::collections::BTreeMap<String, Var>, String> {
    let mut vars = std::collections::BTreeMap::new();
    for (name, value) in given {
        let mut items = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            items.push(
                crate::config::resolve_cli_value(item, env, redactor)
                    .map_err(|e| format!("--var {name}: {e}"))?,
            );
        }
        let var = match (vars.remove(name), items.len(), value.contains(',')) {
            (None, 1, false) => Var::One(items.remove(0)),
            (None, _, _) => Var::List(items),
            (Some(Var::One(first)), _, _) => {
                Var::List(std::iter::once(first).chain(items).collect())
            }
            (Some(Var::List(mut list)), _, _) => {
                list.extend(items);
                Var::List(list)
            }
        };
        vars.insert(name.clone(), var);
    }
    Ok(vars)
}

/// An ad-hoc `--target` without `scheme://`, such as `127.0.0.1:8080` or `example.com`: not
/// a target name, or a host name where there is no config to hold targets.
fn missing_scheme(opts: &CheckOptions) -> Option<String> {
    let target = opts.target.as_deref()?;
    if target.contains("://") {
        return None;
    }
    let hostlike = target.contains('.')
        || target.eq_ignore_ascii_case("localhost")
        || target.parse::<std::net::IpAddr>().is_ok();
    let no_config = opts.config.is_none() && !Path::new(DEFAULT_CONFIG).exists();
    if crate::config::valid_target_name(target) && !(no_config && hostlike) {
        return None;
    }
    let scheme = if target.ends_with(":443") {
        "https"
    } else {
        "http"
    };
    // An IPv6 literal goes in brackets in a URL.
    let host = if target.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{target}]")
    } else {
        target.to_string()
    };
    let host = escape_controls(&host);
    let shown = escape_controls(target);
    let mut text = format!(
        "error: `{shown}` has no scheme: an ad-hoc --target is a URL starting with http://, https://, tls:// or tcp://"
    );
    if opts.config.is_some() {
        text.push_str(&format!(
            "\n  hint: with -c, --target names a target of the config; to check a URL, leave out -c: `picket check --target {scheme}://{host}`"
        ));
    } else {
        text.push_str(&format!(
            "\n  hint: did you mean `--target {scheme}://{host}`?"
        ));
    }
    Some(text)
}

/// Parses the URL of an ad-hoc `--target`: http and https with a host, tls and tcp with a
/// host and a port.
fn adhoc_target_url(text: &str) -> Result<Url, String> {
    let shown = escape_controls(text);
    let usage = "write http://HOST[:PORT], https://HOST[:PORT], tls://HOST:PORT or tcp://HOST:PORT";
    match Url::parse(text) {
        Ok(u) if u.host().is_some() && matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(u) if u.host().is_some() && matches!(u.scheme(), "tls" | "tcp") => {
            if u.port().is_none() {
                Err(format!(
                    "error: `{shown}` has no port: a {}:// target needs one\n  hint: e.g. `{}://{}:{}`",
                    u.scheme(),
                    u.scheme(),
                    u.host_str().unwrap_or("HOST"),
                    if u.scheme() == "tls" { "443" } else { "6379" }
                ))
            } else {
                Ok(u)
            }
        }
        Ok(u) if u.host().is_some() => Err(format!(
            "error: `{shown}` is not a URL picket can check (scheme `{}`)\n  hint: {usage}",
            escape_controls(u.scheme())
        )),
        _ => Err(format!(
            "error: `{shown}` is not a URL picket can check\n  hint: {usage}"
        )),
    }
}

/// Loads what `check` needs: the config (or an ad-hoc one), then the plan, filtered, and the
/// probes (for the rows of the pairs the plan skipped).
fn prepare(
    opts: &CheckOptions,
    env: EnvLookup<'_>,
    err: &mut dyn Write,
) -> Result<(Config, Plan, Vec<std::sync::Arc<crate::probe::Probe>>), u8> {
    if let Some(text) = missing_scheme(opts) {
        let _ = writeln!(err, "{text}");
        return Err(EXIT_CONFIG);
    }
    let adhoc_url = opts
        .target
        .as_deref()
        .filter(|t| t.contains("://") && opts.config.is_none());
    if adhoc_url.is_none() {
        for (flag, given) in [
            ("--var", !opts.vars.is_empty()),
            ("--ca-file", opts.ca_file.is_some()),
        ] {
            if given {
                let _ = writeln!(
                    err,
                    "error: {flag} applies to an ad-hoc `--target URL` (without -c)\n  hint: for a target of the config, set {} on the target in the config file",
                    if flag == "--var" {
                        "`vars:`"
                    } else {
                        "`tls: { ca_file: PATH }`"
                    }
                );
                return Err(EXIT_CONFIG);
            }
        }
    }
    let mut loaded = if let Some(url) = adhoc_url {
        let url = match adhoc_target_url(url) {
            Ok(u) => u,
            Err(text) => {
                let _ = writeln!(err, "{text}");
                return Err(EXIT_CONFIG);
            }
        };
        let mut config = Config::adhoc(url, opts.probes.clone());
        match cli_vars(&opts.vars, env, &mut config.redactor) {
            Ok(vars) => config.targets[0].vars = vars,
            Err(e) => {
                let _ = writeln!(err, "error: {}", escape_controls(&e));
                return Err(EXIT_CONFIG);
            }
        }
        if let Some(ca) = &opts.ca_file {
            if !ca.is_file() {
                let _ = writeln!(
                    err,
                    "error: --ca-file `{}` is not a file",
                    escape_controls(&ca.display().to_string())
                );
                return Err(EXIT_CONFIG);
            }
            config.targets[0].ca_file = Some(ca.clone());
        }
        let mut diags = crate::diag::Diagnostics::default();
        let probes = load::load_config_probes(&config, &mut diags);
        if !diags.is_empty() {
            let _ = writeln!(
                err,
                "{}",
                escape_controls(&redact::scrub_global(&diags.to_string()))
            );
            return Err(EXIT_CONFIG);
        }
        Loaded { config, probes }
    } else {
        let path = opts
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        match load::load(&path, env) {
            Ok(l) => l,
            Err(diags) => {
                let _ = writeln!(
                    err,
                    "{}",
                    escape_controls(&redact::scrub_global(&diags.to_string()))
                );
                return Err(EXIT_CONFIG);
            }
        }
    };

    if let Some(rps) = opts.rps {
        loaded.config.limits.per_target_rps = rps;
    }
    let mut plan = plan::plan(&loaded);
    // A pair the probe leaves out by design (selector, scheme, kind, exemption) is noise in a
    // check report; a variable the target could declare is not. They are kept aside to say why
    // nothing runs, if nothing does.
    let (mut by_design, skipped): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.skipped)
        .into_iter()
        .partition(|s| s.reason.by_design());
    plan.skipped = skipped;
    if let Some(name) = opts.target.as_deref().filter(|_| adhoc_url.is_none()) {
        if loaded.config.target(name).is_none() {
            let names: Vec<&str> = loaded
                .config
                .targets
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            let _ = writeln!(
                err,
                "error: no target named `{}`; targets: {}",
                escape_controls(name),
                if names.is_empty() {
                    "(none)".into()
                } else {
                    names.join(", ")
                }
            );
            return Err(EXIT_CONFIG);
        }
        plan.series.retain(|s| s.target.name == name);
        plan.skipped.retain(|s| s.target == name);
        by_design.retain(|s| s.target == name);
    }
    if let Some(glob) = &opts.probe {
        let matcher = match probe_matcher(glob) {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: invalid --probe pattern `{}`: {}",
                    escape_controls(glob),
                    escape_controls(&e.to_string())
                );
                return Err(EXIT_CONFIG);
            }
        };
        plan.series.retain(|s| matcher.is_match(&s.probe.id));
        plan.skipped.retain(|s| matcher.is_match(&s.probe));
        by_design.retain(|s| matcher.is_match(&s.probe));
    }
    if plan.series.is_empty() {
        let _ = writeln!(err, "error: no series to run (no probe matches any target)");
        // Say why for the pairs there were (a few of them): `headers/hsts` on an http:// URL.
        for s in plan.skipped.iter().chain(&by_design).take(10) {
            let _ = writeln!(
                err,
                "  {} on {}: {}",
                s.probe,
                escape_controls(&s.target),
                escape_controls(&s.reason.to_string())
            );
        }
        return Err(EXIT_CONFIG);
    }
    Ok((loaded.config, plan, loaded.probes))
}

/// `*` matches across `/` too, so `headers*` selects `headers/hsts`.
fn probe_matcher(glob: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(Glob::new(glob)?.compile_matcher())
}

/// Runs every series once, concurrently within the configured limits.
///
/// Runs are started in plan order and at most a few times the global concurrency are in flight
/// at once (the rest wait their turn here, not as parked tasks): 100,000 series cost the memory
/// of a few hundred runs, and a target whose permits are all taken holds up only the few runs
/// that wait for it.
pub async fn run_all(
    runner: &Runner,
    series: &[Series],
    progress: &indicatif::ProgressBar,
) -> Vec<crate::outcome::RunResult> {
    let in_flight = runner.concurrency().saturating_mul(4).max(256);
    let mut set = tokio::task::JoinSet::new();
    let mut results: Vec<Option<crate::outcome::RunResult>> = vec![None; series.len()];
    let mut store = |joined: Result<(usize, crate::outcome::RunResult), _>| {
        // A panicking run would be a bug; its slot stays empty and is reported as an error.
        if let Ok((i, r)) = joined {
            results[i] = Some(r);
        }
        progress.inc(1);
    };
    for (i, s) in series.iter().enumerate() {
        if set.len() >= in_flight
            && let Some(joined) = set.join_next().await
        {
            store(joined);
        }
        let runner = runner.clone();
        let s = s.clone();
        set.spawn(async move { (i, runner.run(&s).await) });
    }
    while let Some(joined) = set.join_next().await {
        store(joined);
    }
    results
        .into_iter()
        .zip(series)
        .map(|(r, s)| {
            r.unwrap_or_else(|| crate::outcome::RunResult {
                probe: s.probe.id.clone(),
                target: s.target.name.clone(),
                outcome: crate::outcome::Outcome::Error(crate::outcome::RunError {
                    kind: crate::outcome::ErrorKind::Request,
                    message: "internal error: run task failed".into(),
                }),
                started: std::time::SystemTime::now(),
                duration: std::time::Duration::ZERO,
                wait: std::time::Duration::ZERO,
                url: String::new(),
                server_address: String::new(),
                server_port: 0,
                status: None,
                certificate_not_after: None,
                attributes: Vec::new(),
            })
        })
        .collect()
}

/// `picket check`.
pub async fn check(
    opts: &CheckOptions,
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let (config, plan, probes) = match prepare(opts, env, err) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let runner = match Runner::new(&config) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                err,
                "error: {}",
                escape_controls(&config.redactor.scrub(&e.to_string()))
            );
            return EXIT_CONFIG;
        }
    };
    let bar = if opts.progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(plan.series.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} series {elapsed}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let results = run_all(&runner, &plan.series, &bar).await;
    bar.finish_and_clear();
    let report = Report::new(&plan.series, results, &plan.skipped, &probes);
    let text = match opts.format {
        Format::Text => report.to_text(opts.verbose),
        Format::Json => report.to_json() + "\n",
        Format::Sarif => report.to_sarif() + "\n",
        Format::Junit => report.to_junit(opts.fail_on),
    };
    // Defence in depth: findings were scrubbed by the runner; scrub the whole text again.
    let text = config.redactor.scrub(&text);
    // Targets choose what findings quote: no control sequence reaches the terminal raw.
    let shown = match opts.format {
        Format::Text | Format::Junit => escape_controls(&text),
        Format::Json | Format::Sarif => escape_json(&text),
    };
    let shown = if opts.colour && opts.format == Format::Text {
        std::borrow::Cow::Owned(crate::term::colour_outcomes(&shown))
    } else {
        shown
    };
    let _ = out.write_all(shown.as_bytes());
    let _ = out.flush();
    let adhoc = opts.config.is_none() && opts.target.as_deref().is_some_and(|t| t.contains("://"));
    let notes = gate_notes(&report, adhoc, opts.allow_unreachable);
    if !notes.text.is_empty() {
        let _ = err.write_all(escape_controls(&config.redactor.scrub(&notes.text)).as_bytes());
    }
    if report.fails_at(opts.fail_on)
        || (opts.fail_on_error && report.summary.error > 0)
        || (notes.unreachable > 0 && !opts.allow_unreachable)
    {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// What `check` says on stderr after its report: the unreachable targets, and one hint for
/// certificates from a CA picket does not trust.
struct GateNotes {
    /// How many targets were unreachable.
    unreachable: usize,
    /// The lines to print (each ending in a newline).
    text: String,
}

/// Errors that mean the target's certificate chains to no CA picket trusts.
fn untrusted_issuer(error: &str) -> bool {
    error.starts_with("tls:") && error.contains("UnknownIssuer")
}

/// A target none of whose series could be evaluated (at least one ended in `error`, none in
/// `pass` or `fail`) is unreachable: one line says so with the error of its runs, summarized
/// (the most frequent one, and how many others there were). A certificate that no trusted CA
/// issued gets one hint, whichever targets and however many series it concerns.
fn gate_notes(report: &Report, adhoc: bool, allow_unreachable: bool) -> GateNotes {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    #[derive(Default)]
    struct Tally<'a> {
        evaluated: usize,
        errors: BTreeMap<&'a str, usize>,
    }
    let mut targets: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    for r in &report.results {
        let tally = targets.entry(&r.target).or_default();
        match (r.outcome, &r.error) {
            ("error", Some(e)) => *tally.errors.entry(e.as_str()).or_default() += 1,
            ("error", None) => *tally.errors.entry("error").or_default() += 1,
            ("skip", _) => {}
            _ => tally.evaluated += 1,
        }
    }
    let mut text = String::new();
    let mut unreachable = 0;
    let mut untrusted: Vec<&str> = Vec::new();
    let mut down_for_other_reasons = false;
    for (target, tally) in &targets {
        if tally.errors.keys().any(|e| untrusted_issuer(e)) {
            untrusted.push(target);
        }
        if tally.evaluated > 0 || tally.errors.is_empty() {
            continue;
        }
        unreachable += 1;
        let total: usize = tally.errors.values().sum();
        // The most frequent error; of equals, the first in order.
        let Some((common, n)) = tally
            .errors
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            continue;
        };
        let _ = write!(
            text,
            "{}: target `{target}` is unreachable: none of its {total} series could be evaluated: {common}",
            if allow_unreachable {
                "warning"
            } else {
                "error"
            }
        );
        if *n < total {
            let _ = write!(text, " ({n} of {total}; {} other error(s))", total - n);
        }
        text.push('\n');
        down_for_other_reasons |= !tally.errors.keys().all(|e| untrusted_issuer(e));
    }
    // Once, however many targets it concerns.
    if down_for_other_reasons && !allow_unreachable {
        let _ = writeln!(
            text,
            "  hint: check the URL and that the service is up and reachable from here; --allow-unreachable lets an unreachable target pass"
        );
    }
    if !untrusted.is_empty() {
        let names: Vec<String> = untrusted.iter().take(5).map(|t| format!("`{t}`")).collect();
        let more = untrusted.len().saturating_sub(names.len());
        let _ = writeln!(
            text,
            "hint: the certificate of {}{} is not issued by a CA picket trusts (an internal CA?); {}",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            if adhoc {
                "give the CA's certificate (PEM) with `--ca-file PATH`"
            } else {
                "give the CA's certificate (PEM) as `tls: { ca_file: PATH }` on the target in the config"
            }
        );
    }
    GateNotes { unreachable, text }
}

/// `picket validate`: the config (and its probes), or the given probe paths.
pub fn validate(
    config: Option<&Path>,
    paths: &[PathBuf],
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    if !paths.is_empty() && config.is_none() {
        return match load::load_probe_paths(paths, &crate::config::Defaults::default()) {
            Ok(probes) => {
                let _ = writeln!(out, "ok: {} probe(s) valid", probes.len());
                EXIT_OK
            }
            Err(diags) => {
                let _ = writeln!(
                    err,
                    "{}",
                    escape_controls(&redact::scrub_global(&diags.to_string()))
                );
                // For folders of probes or templates, or files of which some load: how many
                // (on stdout; stderr holds only the located errors and their count), also when
                // none does.
                let (files, refused) = load::probe_file_census(paths, &diags);
                if files > 0 && (refused < files || paths.iter().any(|p| p.is_dir())) {
                    let _ = writeln!(
                        out,
                        "{} of {files} probe files load; {refused} refused (see the errors)",
                        files - refused
                    );
                }
                EXIT_CONFIG
            }
        };
    }
    let path = config.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_path_buf);
    let mut result = load::load(&path, env);
    if let (Ok(loaded), false) = (&result, paths.is_empty()) {
        match load::load_probe_paths(paths, &loaded.config.defaults) {
            Ok(extra) => {
                if let Ok(l) = &mut result {
                    l.probes.extend(extra);
                    // The PATHs join the config's probes, the library's included: one id each.
                    let mut diags = crate::diag::Diagnostics::default();
                    crate::probe::check_unique_ids(&l.probes, &mut diags);
                    if !diags.is_empty() {
                        result = Err(diags);
                    }
                }
            }
            Err(d) => result = Err(d),
        }
    }
    match result {
        Ok(loaded) => {
            let plan = plan::plan(&loaded);
            let _ = writeln!(
                out,
                "ok: {} probe(s), {} target(s), {} series",
                loaded.probes.len(),
                loaded.config.targets.len(),
                plan.series.len()
            );
            EXIT_OK
        }
        Err(diags) => {
            let _ = writeln!(
                err,
                "{}",
                escape_controls(&redact::scrub_global(&diags.to_string()))
            );
            EXIT_CONFIG
        }
    }
}

/// `picket list`: probes, targets, and the series they make.
pub fn list(
    config: Option<&Path>,
    shard: Option<(u32, u32)>,
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let path = config.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_path_buf);
    let loaded = match load::load(&path, env) {
        Ok(l) => l,
        Err(diags) => {
            let _ = writeln!(
                err,
                "{}",
                escape_controls(&redact::scrub_global(&diags.to_string()))
            );
            return EXIT_CONFIG;
        }
    };
    use std::fmt::Write as _;
    let plan = plan::plan(&loaded);
    // Built as one text so that it reaches the terminal through one escape.
    let mut text = String::new();
    let mut probes: Vec<_> = loaded.probes.iter().collect();
    probes.sort_by(|a, b| a.id.cmp(&b.id));
    // Columns as wide as the longest probe id and target name.
    let w = probes.iter().map(|p| p.id.len()).max().unwrap_or(0);
    let tw = loaded
        .config
        .targets
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(text, "PROBES ({})", probes.len());
    for p in &probes {
        let _ = writeln!(
            text,
            "  {:<w$} {:<8} {:<24} {}",
            p.id,
            p.severity,
            p.schedule.to_string(),
            p.name
        );
    }
    let _ = writeln!(text, "\nTARGETS ({})", loaded.config.targets.len());
    for t in &loaded.config.targets {
        let tags: Vec<&str> = t.tags.iter().map(String::as_str).collect();
        let _ = writeln!(
            text,
            "  {:<tw$} {:<40} [{}]",
            t.name,
            t.url.as_str(),
            tags.join(", ")
        );
    }
    let series: Vec<_> = plan
        .series
        .iter()
        .filter(|s| shard.is_none_or(|shard| crate::shard::in_shard(s.hash, shard)))
        .collect();
    match shard {
        Some((index, count)) => {
            let _ = writeln!(
                text,
                "\nSERIES ({} of {}, shard {index}/{count})",
                series.len(),
                plan.series.len()
            );
        }
        None => {
            let _ = writeln!(text, "\nSERIES ({})", series.len());
        }
    }
    for s in series {
        let _ = writeln!(
            text,
            "  {:<w$} {:<tw$} {}",
            s.probe.id, s.target.name, s.probe.schedule
        );
    }
    if !plan.skipped.is_empty() {
        write_skipped(&mut text, &plan.skipped);
    }
    // Scrubbed of secrets (a `vars` value can be part of a URL), then made terminal-safe.
    let _ = out.write_all(escape_controls(&loaded.config.redactor.scrub(&text)).as_bytes());
    EXIT_OK
}

/// `picket probes`: the built-in library, one line per probe (id, severity, the first
/// sentence of its description), sorted by id.
pub fn probes(out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    use std::fmt::Write as _;
    let mut diags = crate::diag::Diagnostics::default();
    let mut probes = load::library_probes(&crate::config::Defaults::default(), &mut diags);
    if !diags.is_empty() {
        // Only a broken build gets here: a test loads the library.
        let _ = writeln!(err, "{}", escape_controls(&diags.to_string()));
        return EXIT_CONFIG;
    }
    probes.sort_by(|a, b| a.id.cmp(&b.id));
    let w = probes.iter().map(|p| p.id.len()).max().unwrap_or(0);
    let mut text = String::new();
    for p in &probes {
        // A first sentence of a few words ("HTTPS targets only.") says less than the name.
        let about = p
            .description
            .as_deref()
            .map(first_sentence)
            .filter(|s| s.split(' ').count() >= 4)
            .map_or_else(|| p.name.clone(), |s| clip_words(&s, 80));
        let _ = writeln!(text, "{:<w$}  {:<8}  {about}", p.id, p.severity);
    }
    let _ = out.write_all(escape_controls(&text).as_bytes());
    EXIT_OK
}

/// `picket probes --export DIR`: writes the library's files under `dir`.
pub fn export_probes(dir: &Path, force: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let shown = dir.display().to_string();
    let shown = escape_controls(&shown);
    match crate::library::export(dir, force) {
        Ok(n) => {
            let _ = writeln!(out, "wrote {n} probe files to {shown}");
            let _ = writeln!(
                out,
                "to run these copies instead of the built-in library, set `library: false` and `probes: [{shown}]` in the config"
            );
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "error: {}", escape_controls(&e.to_string()));
            if matches!(e, crate::library::ExportError::Exists { .. }) {
                let _ = writeln!(err, "  hint: pass --force to overwrite them");
            }
            EXIT_CONFIG
        }
    }
}

/// The first sentence of a description, on one line: up to the first `. ` that is not part
/// of `e.g.`/`i.e.`, or all of it.
fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = flat.as_str();
    let mut from = 0;
    while let Some(i) = flat[from..].find(". ").map(|i| from + i) {
        let before = &flat[..i];
        if !(before.ends_with("e.g") || before.ends_with("i.e") || before.ends_with("etc")) {
            return flat[..=i].to_string();
        }
        from = i + 2;
    }
    flat.to_string()
}

/// `text` cut at a word boundary to at most `max` characters, with `…` when cut.
fn clip_words(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for word in text.split(' ') {
        if out.chars().count() + word.chars().count() + 1 >= max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push('…');
    out
}

/// The pairs that are not series, grouped so that hundreds of them stay readable: one block
/// per reason, and in it the probes that skip the same targets for it on one line and those
/// targets on the next.
///
/// ```text
/// SKIPPED (5 probe/target pairs)
///   http probe; target is tcp:// (4 pairs)
///     probes:  headers/hsts, headers/nosniff
///     targets: cache, queue
///   vars.protected_paths not set (1 pair)
///     probes:  auth/required
///     targets: web
/// ```
fn write_skipped(text: &mut String, skipped: &[plan::Skipped]) {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    // reason -> probe -> targets, all in a stable order.
    let mut by_reason: BTreeMap<&plan::Reason, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for s in skipped {
        by_reason
            .entry(&s.reason)
            .or_default()
            .entry(&s.probe)
            .or_default()
            .push(&s.target);
    }
    let plural = |n: usize| if n == 1 { "pair" } else { "pairs" };
    let _ = writeln!(
        text,
        "\nSKIPPED ({} probe/target {})",
        skipped.len(),
        plural(skipped.len())
    );
    for (reason, probes) in by_reason {
        let pairs: usize = probes.values().map(Vec::len).sum();
        let _ = writeln!(text, "  {reason} ({pairs} {})", plural(pairs));
        // Probes that skip the same targets share a block.
        let mut by_targets: BTreeMap<Vec<&str>, Vec<&str>> = BTreeMap::new();
        for (probe, mut targets) in probes {
            targets.sort_unstable();
            by_targets.entry(targets).or_default().push(probe);
        }
        for (targets, probes) in by_targets {
            write_list(text, "    probes:  ", &probes);
            write_list(text, "    targets: ", &targets);
        }
    }
}

/// Writes `items` comma-separated after `label`, wrapped at 100 columns under the first item.
fn write_list(text: &mut String, label: &str, items: &[&str]) {
    const WIDTH: usize = 100;
    let indent = " ".repeat(label.len());
    let mut line = label.to_string();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            (*item).to_string()
        };
        if line.len() > label.len() && line.len() + 1 + piece.len() > WIDTH {
            text.push_str(line.trim_end());
            text.push('\n');
            line = indent.clone();
        } else if line.len() > label.len() {
            line.push(' ');
        }
        line.push_str(&piece);
    }
    text.push_str(&line);
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(var: &Var) -> Vec<String> {
        match var {
            Var::One(v) => vec![format!("one:{}", v.expose())],
            Var::List(items) => items.iter().map(|v| v.expose().clone()).collect(),
        }
    }

    #[test]
    fn cli_vars_make_lists_from_commas_and_repeats() {
        let given = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let env = |name: &str| (name == "TOKEN").then(|| "tok-12345".to_string());
        let mut redactor = crate::redact::Redactor::default();
        let vars = cli_vars(
            &given(&[
                ("one", "/admin"),
                ("list", "/a, /b,,"),
                ("single_list", "/x,"),
                ("repeat", "1"),
                ("repeat", "2,3"),
                ("secret", "${env:TOKEN}"),
            ]),
            &env,
            &mut redactor,
        )
        .unwrap();
        assert_eq!(shown(&vars["one"]), ["one:/admin"]);
        assert_eq!(shown(&vars["list"]), ["/a", "/b"]);
        assert_eq!(shown(&vars["single_list"]), ["/x"]);
        assert!(matches!(vars["single_list"], Var::List(_)));
        assert_eq!(shown(&vars["repeat"]), ["1", "2", "3"]);
        assert_eq!(shown(&vars["secret"]), ["one:tok-12345"]);
        assert!(!redactor.scrub("a tok-12345 b").contains("tok-12345"));
        let missing = cli_vars(&given(&[("x", "${env:NOPE}")]), &env, &mut redactor);
        assert!(missing.unwrap_err().contains("`NOPE` is not set"));
    }

    #[test]
    fn var_arguments_need_a_name_and_a_value() {
        assert_eq!(
            parse_var("protected_paths=/admin,/api").unwrap(),
            ("protected_paths".into(), "/admin,/api".into())
        );
        // Only the first `=` splits.
        assert_eq!(parse_var("q=a=b").unwrap().1, "a=b");
        for bad in ["nothing", "=x", "a b=x", "x=", "x= , "] {
            assert!(parse_var(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_sentences_are_clipped_at_a_word() {
        assert_eq!(clip_words("short enough", 20), "short enough");
        assert_eq!(clip_words("one two three four", 12), "one two…");
    }

    #[test]
    fn first_sentences() {
        assert_eq!(
            first_sentence("Browsers must use HTTPS.\n  Fails when it is missing."),
            "Browsers must use HTTPS."
        );
        assert_eq!(
            first_sentence("Some servers, e.g. nginx. Second."),
            "Some servers, e.g. nginx."
        );
        assert_eq!(first_sentence("No full stop"), "No full stop");
        assert_eq!(first_sentence("  "), "");
    }
}
