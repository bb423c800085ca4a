//! What `picket check` loads before it runs: the config (or an ad-hoc one for a
//! `--target URL`), its probes, and the plan, narrowed to `--target` and `--probe`; every
//! mistake on the way is an error line and the config exit code.

use std::io::Write;
use std::path::PathBuf;

use globset::{Glob, GlobMatcher};

use super::CheckOptions;
use super::adhoc::{adhoc_target_url, cli_vars, missing_scheme};
use crate::commands::{DEFAULT_CONFIG, EXIT_CONFIG};
use crate::config::{Config, EnvLookup};
use crate::load::{self, Loaded};
use crate::plan::{self, Plan};
use crate::term::escape_controls;

/// What `check` runs.
pub(super) struct Prepared {
    pub(super) config: Config,
    pub(super) plan: Plan,
    /// Every loaded probe (for the rows of the pairs the plan skipped).
    pub(super) probes: Vec<std::sync::Arc<crate::probe::Probe>>,
    /// A line for each discovery source that could not be read.
    pub(super) sources_failed: Vec<String>,
}

/// Loads what `check` needs: the config (or an ad-hoc one), then the plan, filtered, and the
/// probes (for the rows of the pairs the plan skipped).
pub(super) async fn prepare(
    opts: &CheckOptions,
    env: EnvLookup<'_>,
    err: &mut dyn Write,
) -> Result<Prepared, u8> {
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
                let _ = writeln!(err, "error: {}", escape_controls(&e.to_string()));
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
            super::super::say_diagnostics(err, &diags);
            return Err(EXIT_CONFIG);
        }
        Loaded { config, probes }
    } else {
        let path = opts
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        // The load's warnings come first, once, before any result (a past `until` is one
        // here: the acceptance simply no longer applies).
        match load::load_warned(&path, env) {
            Ok(l) => {
                super::super::say_warnings(err, &l.config.warnings);
                l
            }
            Err(refused) => {
                super::super::say_warnings(err, &refused.warnings);
                super::super::say_diagnostics(err, &refused.diags);
                return Err(EXIT_CONFIG);
            }
        }
    };

    if let Some(rps) = opts.rps {
        loaded.config.limits.per_target_rps = rps;
    }
    let sources_failed = super::super::with_discovered(&mut loaded).await.failed;
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
    Ok(Prepared {
        config: loaded.config,
        plan,
        probes: loaded.probes,
        sources_failed,
    })
}

/// `*` matches across `/` too, so `headers*` selects `headers/hsts`.
fn probe_matcher(glob: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(Glob::new(glob)?.compile_matcher())
}
