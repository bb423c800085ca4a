//! `picket check`: every selected series run once, concurrently within the configured limits,
//! one report in the chosen format on stdout, and the exit code a deploy gate reads.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::{EXIT_CONFIG, EXIT_FINDINGS, EXIT_OK};
use crate::config::EnvLookup;
use crate::plan::Series;
use crate::report::Report;
use crate::run::Runner;
use crate::term::{escape_controls, escape_json};
use crate::units::Severity;

mod adhoc;
mod notes;
mod prepare;

pub use adhoc::{InvalidVar, parse_var};
use notes::{gate_notes, software_data_note};
use prepare::{Prepared, prepare};

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

/// Runs every series once, concurrently within the configured limits.
///
/// Runs are started in plan order and at most a few times the global concurrency are in flight
/// at once (the rest wait their turn here, not as parked tasks): 100,000 series cost the memory
/// of a few hundred runs, and a target whose permits are all taken holds up only the few runs
/// that wait for it. The loop that starts them is a task of its own, so that a run's end wakes
/// it on the runtime's thread rather than through the thread that waits for the whole.
pub async fn run_all(
    runner: &Runner,
    series: Arc<[Series]>,
    progress: &indicatif::ProgressBar,
) -> Vec<crate::outcome::RunResult> {
    let runner = runner.clone();
    let progress = progress.clone();
    let all = Arc::clone(&series);
    let driver = tokio::spawn(async move {
        let in_flight = runner.concurrency().saturating_mul(4).max(256);
        let mut set = tokio::task::JoinSet::new();
        let mut results: Vec<Option<crate::outcome::RunResult>> = vec![None; all.len()];
        let mut store = |joined: Result<(usize, crate::outcome::RunResult), _>| {
            // A panicking run would be a bug; its slot stays empty and is reported as an error.
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
            progress.inc(1);
        };
        for i in 0..all.len() {
            if set.len() >= in_flight
                && let Some(joined) = set.join_next().await
            {
                store(joined);
            }
            let runner = runner.clone();
            let all = Arc::clone(&all);
            set.spawn(async move { (i, runner.run(&all[i]).await) });
        }
        while let Some(joined) = set.join_next().await {
            store(joined);
        }
        results
    });
    let mut results = driver.await.unwrap_or_default();
    results.resize_with(series.len(), || None);
    results
        .into_iter()
        .zip(series.iter())
        .map(|(r, s)| {
            r.unwrap_or_else(|| {
                let failed = crate::outcome::Outcome::Error(crate::outcome::RunError {
                    kind: crate::outcome::ErrorKind::Request,
                    message: "internal error: run task failed".into(),
                });
                crate::outcome::RunResult::new(&s.probe.id, &s.target.name, failed)
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
    let Prepared {
        config,
        mut plan,
        probes,
        sources_failed,
    } = match prepare(opts, env, err).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    // For the log writer: the run's own log lines (other crates' included) are scrubbed too.
    crate::redact::register(&config.redactor);
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
    let series: Arc<[Series]> = std::mem::take(&mut plan.series).into();
    let results = run_all(&runner, Arc::clone(&series), &bar).await;
    bar.finish_and_clear();
    let report = Report::new(
        &series,
        results,
        &plan.skipped,
        &probes,
        std::time::SystemTime::now(),
    );
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
    if let Some(note) = software_data_note(&config.software, crate::software::data::today()) {
        let _ = err.write_all(escape_controls(&note).as_bytes());
    }
    // A source that could not be read is like a target that could not be reached: what it
    // lists was not checked.
    for line in &sources_failed {
        let _ = writeln!(
            err,
            "error: {}",
            escape_controls(&config.redactor.scrub(line))
        );
    }
    if report.fails_at(opts.fail_on)
        || (opts.fail_on_error && report.summary.error > 0)
        || ((notes.unreachable > 0 || !sources_failed.is_empty()) && !opts.allow_unreachable)
    {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}
