//! `picket list`: the probes, the targets and the series they make (of one shard, with
//! `--shard`), and the pairs that are not series, grouped by why.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DEFAULT_CONFIG, EXIT_CONFIG, EXIT_OK};
use crate::config::EnvLookup;
use crate::load;
use crate::plan;
use crate::term::escape_controls;

/// `picket list`: probes, targets (with where each came from), and the series they make.
/// Discovery sources are read once, as `check` reads them.
pub async fn list(
    config: Option<&Path>,
    shard: Option<(u32, u32)>,
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let path = config.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_path_buf);
    let mut loaded = match load::load_warned(&path, env) {
        Ok(l) => {
            super::say_warnings(err, &l.config.warnings);
            l
        }
        Err(refused) => {
            super::say_warnings(err, &refused.warnings);
            super::say_diagnostics(err, &refused.diags);
            return EXIT_CONFIG;
        }
    };
    if let (Some(_), crate::config::StateStore::Postgres(pg)) = (shard, &loaded.config.state) {
        let _ = writeln!(err, "{}", pg.refuse_shard());
        return EXIT_CONFIG;
    }
    use std::fmt::Write as _;
    let discovered = super::with_discovered(&mut loaded).await;
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
    let sw = loaded
        .config
        .targets
        .iter()
        .map(|t| t.source.to_string().len())
        .max()
        .unwrap_or(0);
    for t in &loaded.config.targets {
        let tags: Vec<&str> = t.tags.iter().map(String::as_str).collect();
        let _ = writeln!(
            text,
            "  {:<tw$} {:<40} {:<sw$} [{}]",
            t.name,
            t.url.as_str(),
            t.source.to_string(),
            tags.join(", ")
        );
    }
    if !discovered.skipped.is_empty() {
        let _ = writeln!(
            text,
            "\nNOT TARGETS ({}): found by discovery, not probed",
            discovered.skipped.len()
        );
        for (label, skip) in &discovered.skipped {
            let _ = writeln!(text, "  {label} {}: {}", skip.object, skip.reason);
        }
    }
    for line in &discovered.failed {
        let _ = writeln!(
            err,
            "error: {}",
            escape_controls(&loaded.config.redactor.scrub(line))
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
            s.probe.id,
            s.target.name,
            s.schedule()
        );
    }
    if !plan.skipped.is_empty() {
        write_skipped(&mut text, &plan.skipped);
    }
    if !loaded.config.accept.is_empty() {
        let stored = match &loaded.config.state {
            crate::config::StateStore::Embedded(dir) => crate::state::peek(dir),
            // The group's states are in the database; its members' API shows `unneeded`.
            crate::config::StateStore::Postgres(_) => crate::state::Peeked::Missing,
        };
        write_acceptances(
            &mut text,
            &loaded.config.accept,
            &plan.series,
            &stored,
            std::time::SystemTime::now(),
        );
    }
    // Scrubbed of secrets (a `vars` value can be part of a URL), then made terminal-safe.
    let _ = out.write_all(escape_controls(&loaded.config.redactor.scrub(&text)).as_bytes());
    EXIT_OK
}

/// The accepted risks (SPEC §3b), in the order they are written, each with its place, what
/// it selects, until when, how many planned series it covers (of every shard), and why; one
/// that no longer holds says `ended`.
///
/// With the state the service left (its embedded store, read only when no service has it
/// open), the series an acceptance is no longer needed for (they passed their last 10 runs
/// under it) are named.
///
/// ```text
/// ACCEPTANCES (1)
///   config/picket.yaml:14  headers/csp on target legacy-*  until 2027-03-31  (2 series)
///     reason: CSP rollout, ticket SEC-123
///     no longer needed for 1 of 2 series (passed their last 10 runs): headers/csp@legacy-a
/// ```
fn write_acceptances(
    text: &mut String,
    accept: &[std::sync::Arc<crate::config::Acceptance>],
    series: &[plan::Series],
    stored: &crate::state::Peeked,
    now: std::time::SystemTime,
) {
    use std::fmt::Write as _;
    let _ = writeln!(text, "\nACCEPTANCES ({})", accept.len());
    let places: Vec<String> = accept
        .iter()
        .map(|a| format!("{}:{}", a.file.display(), a.pos.line))
        .collect();
    let whats: Vec<String> = accept
        .iter()
        .map(|a| format!("{} on {}", a.probe, a.targets))
        .collect();
    let pw = places.iter().map(|p| p.chars().count()).max().unwrap_or(0);
    let ww = whats.iter().map(|w| w.chars().count()).max().unwrap_or(0);
    for ((a, place), what) in accept.iter().zip(&places).zip(&whats) {
        let covered = series
            .iter()
            .filter(|s| a.selects(&s.probe.id, &s.target))
            .count();
        let ended = if a.holds(now) { "" } else { ", ended" };
        let _ = writeln!(
            text,
            "  {place:<pw$}  {what:<ww$}  until {}{ended}  ({covered} series)",
            a.until
        );
        let _ = writeln!(text, "    reason: {}", a.reason);
        if let crate::state::Peeked::States(states) = stored {
            let identity = a.identity();
            let unneeded: Vec<&str> = series
                .iter()
                .filter(|s| a.selects(&s.probe.id, &s.target))
                .filter(|s| {
                    states.get(&s.key).is_some_and(|st| {
                        st.unneeded.as_deref() == Some(identity.as_str())
                            && st.state == crate::state::State::Passing
                    })
                })
                .map(|s| s.key.as_str())
                .collect();
            if !unneeded.is_empty() {
                let _ = writeln!(
                    text,
                    "    no longer needed for {} of {covered} series (passed their last 10 runs): {}",
                    unneeded.len(),
                    unneeded.join(", ")
                );
            }
        }
    }
    if matches!(stored, crate::state::Peeked::InUse) {
        let _ = writeln!(
            text,
            "  (a running picket holds the state: its API's rows say `\"unneeded\": true` where an acceptance is no longer needed)"
        );
    }
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
