//! The one-shot commands behind the CLI: `check`, `validate`, `list`, `probes`, `software`.
//!
//! Each returns the process exit code, so `main` stays a thin dispatcher and tests can run
//! them in-process. Exit codes: 0 clean, 1 findings at or above `--fail-on` (or a target
//! `check` could not reach), 2 config or usage error.
//!
//! One file a command, and what a command needs alone beside it:
//!
//! - `check/`: `picket check` (`mod.rs`: its options, running every series, the exit code),
//!   with `prepare.rs` (loading the config or an ad-hoc one, the plan filtered by `--target`
//!   and `--probe`), `adhoc.rs` (the ad-hoc `--target URL` and its `--var`s) and `notes.rs`
//!   (what it says on stderr about unreachable targets and untrusted certificates).
//! - `validate.rs`: `picket validate`.
//! - `list.rs`: `picket list`, with its grouping of skipped pairs.
//! - `probes.rs`: `picket probes` and `picket probes --export`.
//! - `software.rs`: `picket software`, the release data of `software` checks.
//!
//! This file holds what they share: the exit codes, the default config path, and one
//! snapshot of the discovery sources.

mod check;
mod list;
mod probes;
mod software;
mod validate;

pub use check::{CheckOptions, Format, InvalidVar, check, parse_var, run_all};
pub use list::list;
pub use probes::{export_probes, probes};
pub use software::software;
pub use validate::validate;

/// Exit code: everything held.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one finding at or above the threshold.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: configuration or usage error.
pub const EXIT_CONFIG: u8 = 2;

/// The config file used when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "config/picket.yaml";

/// What one snapshot of the discovery sources left out.
#[derive(Debug, Default)]
pub struct Discovered {
    /// A line for each source that could not be read (its targets are missing).
    pub failed: Vec<String>,
    /// What the sources found and made no target of: (source label, object, reason).
    pub skipped: Vec<(String, crate::discover::Skip)>,
}

/// Adds what every discovery source of `loaded` lists now (one snapshot each, as `check`
/// and `list` take) to its targets, configured names winning.
pub async fn with_discovered(loaded: &mut crate::load::Loaded) -> Discovered {
    let mut out = Discovered::default();
    if loaded.config.discover.is_empty() {
        return out;
    }
    let mut lists = Vec::new();
    for (label, snapshot) in crate::discover::snapshot_all(&loaded.config.discover).await {
        match snapshot {
            Ok(s) => {
                out.skipped
                    .extend(s.skipped.into_iter().map(|skip| (label.clone(), skip)));
                lists.push((label, s.targets));
            }
            Err(e) => out.failed.push(format!(
                "discovery source `{label}` could not be read: {e}; its targets are missing"
            )),
        }
    }
    let merged = crate::discover::merge(&loaded.config.targets, lists);
    loaded.config.targets = merged.targets;
    out
}

/// Writes a load's problems to `err`, control characters escaped (what loading reports is
/// already scrubbed of the secrets it resolved).
fn say_diagnostics(err: &mut dyn std::io::Write, diags: &crate::diag::Diagnostics) {
    let _ = writeln!(err, "{}", crate::term::escape_controls(&diags.to_string()));
}

/// Writes a load's warnings to `err`, sorted by file and position, each once, control
/// characters escaped; nothing at all when there are none.
fn say_warnings(err: &mut dyn std::io::Write, warnings: &[crate::diag::Warning]) {
    for w in sorted_warnings(warnings) {
        let _ = writeln!(err, "{}", crate::term::escape_controls(&w.to_string()));
    }
}

/// Warnings sorted by file then position (then message), duplicates dropped.
fn sorted_warnings(warnings: &[crate::diag::Warning]) -> Vec<&crate::diag::Warning> {
    let mut sorted: Vec<&crate::diag::Warning> = warnings.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.diag.path, a.diag.pos, &a.diag.message).cmp(&(
            &b.diag.path,
            b.diag.pos,
            &b.diag.message,
        ))
    });
    sorted.dedup();
    sorted
}
