//! Accepted risks and maintenance windows (`accept:`, `accept_from:`, `maintenance:`; SPEC
//! §3b), validated: which series each selects, until when an acceptance holds, and when a
//! window is open. Pure: the clock is always a parameter.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, Utc};
use serde_saphyr::Spanned;

use super::Target;
use super::raw;
use crate::diag::{At, Diagnostic, Diagnostics, Pos, Warning};
use crate::term::escape_controls;

/// How far ahead an acceptance may run: a year and a month, so a yearly review fits and
/// nothing is accepted for good.
pub const MAX_ACCEPT_DAYS: i64 = 400;

/// How many runs in a row an accepted series must pass before its acceptance is reported as
/// no longer needed.
pub const UNNEEDED_AFTER: usize = 10;

/// One accepted risk.
#[derive(Debug, Clone)]
pub struct Acceptance {
    /// The probe glob as written.
    pub probe: String,
    probe_matcher: globset::GlobMatcher,
    /// The targets it selects.
    pub targets: Pick,
    /// The last day (or the instant) accepted.
    pub until: Until,
    /// Why.
    pub reason: String,
    /// The file that holds it.
    pub file: PathBuf,
    /// Where in that file.
    pub pos: Pos,
}

/// Which targets an acceptance or a window selects.
#[derive(Debug, Clone)]
pub enum Pick {
    /// Targets whose name matches one of these globs (written, compiled).
    Names(Vec<(String, globset::GlobMatcher)>),
    /// Targets carrying any of these tags.
    Tags(BTreeSet<String>),
}

impl Pick {
    /// Whether it selects `target`.
    pub fn selects(&self, target: &Target) -> bool {
        match self {
            Pick::Names(globs) => globs.iter().any(|(_, g)| g.is_match(&target.name)),
            Pick::Tags(tags) => tags.iter().any(|t| target.tags.contains(t)),
        }
    }
}

impl std::fmt::Display for Pick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pick::Names(globs) => {
                let names: Vec<&str> = globs.iter().map(|(w, _)| w.as_str()).collect();
                write!(f, "target {}", names.join(", "))
            }
            Pick::Tags(tags) => {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                write!(f, "tags [{}]", tags.join(", "))
            }
        }
    }
}

/// Until when an acceptance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The last day accepted, inclusive, in UTC.
    Day(NaiveDate),
    /// The instant it ends.
    Instant(DateTime<Utc>),
}

impl Until {
    /// The first instant it no longer holds.
    pub fn ends(self) -> SystemTime {
        let at = match self {
            Until::Day(day) => day
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            Until::Instant(t) => Some(t),
        };
        at.and_then(|t| u64::try_from(t.timestamp_millis()).ok())
            .map_or(UNIX_EPOCH, |ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Parses `2027-03-31` or an RFC 3339 instant.
    fn parse(text: &str) -> Option<Until> {
        let text = text.trim();
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(Until::Day(day));
        }
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| Until::Instant(t.with_timezone(&Utc)))
    }
}

impl std::fmt::Display for Until {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Until::Day(day) => write!(f, "{}", day.format("%Y-%m-%d")),
            Until::Instant(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
        }
    }
}

impl Acceptance {
    /// Whether it covers the series of probe `probe` on `target`.
    pub fn selects(&self, probe: &str, target: &Target) -> bool {
        self.probe_matcher.is_match(probe) && self.targets.selects(target)
    }

    /// Whether it holds at `now`.
    pub fn holds(&self, now: SystemTime) -> bool {
        now < self.until.ends()
    }

    /// Where it is written, as `file:line:column`.
    pub fn at(&self) -> String {
        format!(
            "{}:{}:{}",
            self.file.display(),
            self.pos.line,
            self.pos.column
        )
    }

    /// What it says, for its identity across reloads: an edited reason or date is a new
    /// acceptance (reported again when it is no longer needed), a moved line is not.
    pub fn identity(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.probe, self.targets, self.until, self.reason
        )
    }
}

/// Of the acceptances that cover a series, the one that holds longest.
pub fn covering<'a>(
    acceptances: &'a [Arc<Acceptance>],
    probe: &str,
    target: &Target,
) -> Option<&'a Arc<Acceptance>> {
    acceptances
        .iter()
        .filter(|a| a.selects(probe, target))
        .max_by_key(|a| a.until.ends())
}

/// One maintenance window.
#[derive(Debug, Clone)]
pub struct Window {
    /// The targets it selects.
    pub targets: Pick,
    /// The cron expression as written.
    pub cron_text: String,
    cron: croner::Cron,
    /// How long each window lasts.
    pub duration: Duration,
    /// The file that holds it.
    pub file: PathBuf,
    /// Where in that file.
    pub pos: Pos,
}

impl Window {
    /// When the window open at `now` closes, if one is open (the latest start at or before
    /// `now` plus the duration, when that is after `now`).
    pub fn open_until(&self, now: SystemTime) -> Option<SystemTime> {
        let now_ms = i64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
        let at: DateTime<Utc> = DateTime::from_timestamp_millis(now_ms)?;
        let start = self.cron.find_previous_occurrence(&at, true).ok()?;
        let start =
            UNIX_EPOCH + Duration::from_millis(u64::try_from(start.timestamp_millis()).ok()?);
        let end = start + self.duration;
        (end > now).then_some(end)
    }
}

/// Of `windows`, when the last one open at `now` closes.
pub fn maintenance_until(windows: &[Arc<Window>], now: SystemTime) -> Option<SystemTime> {
    windows.iter().filter_map(|w| w.open_until(now)).max()
}

/// The reason a run skipped in a window shows: `maintenance window until 04:00 UTC`.
pub fn maintenance_reason(until: SystemTime) -> String {
    let at: DateTime<Utc> = until.into();
    format!("maintenance window until {} UTC", at.format("%H:%M"))
}

/// Validates acceptances written in `file` (the config's `accept:` or one `accept_from`
/// file). An `until` already past is a warning that `picket validate` refuses: the service
/// keeps loading (the acceptance simply no longer holds), so a reload after the date is not
/// refused over it.
pub fn compile_acceptances(
    file: &Path,
    raw: &[Spanned<raw::Accept>],
    now: SystemTime,
    diags: &mut Diagnostics,
    warnings: &mut Vec<Warning>,
) -> Vec<Arc<Acceptance>> {
    let mut at = At { file, diags };
    raw.iter()
        .filter_map(|entry| compile_acceptance(&mut at, entry, now, warnings).map(Arc::new))
        .collect()
}

const UNTIL_HINT: &str = "write the last day accepted, e.g. `until: 2027-03-31` (UTC, inclusive), \
     at most 400 days ahead; renew it by changing the date in review";

fn compile_acceptance(
    at: &mut At<'_>,
    entry: &Spanned<raw::Accept>,
    now: SystemTime,
    warnings: &mut Vec<Warning>,
) -> Option<Acceptance> {
    let raw = &entry.value;
    let probe_matcher = glob(
        at,
        &raw.probe,
        "probe",
        "a probe id (`headers/csp`) or a glob on ids (`tls/*`)",
    );
    let targets = match (&raw.target, &raw.tags) {
        (Some(_), Some(tags)) => {
            at.err_hint(
                tags,
                "an acceptance selects targets by `target` or by `tags`, not both",
                "keep one: `target: legacy-*` (a glob on names) or `tags: [legacy]`",
            );
            None
        }
        (None, None) => {
            at.err_hint(
                entry,
                "an acceptance names no targets",
                "add `target: NAME` (a glob on target names) or `tags: [TAG]`; `target: \"*\"` \
                 accepts the probe's findings on every target",
            );
            None
        }
        (Some(name), None) => glob(
            at,
            name,
            "target",
            "a target name (`legacy-billing`) or a glob (`legacy-*`)",
        )
        .map(|m| Pick::Names(vec![(name.value.clone(), m)])),
        (None, Some(tags)) if tags.value.is_empty() => {
            at.err_hint(
                tags,
                "`tags` is empty",
                "name at least one tag: `tags: [legacy]`",
            );
            None
        }
        (None, Some(tags)) => Some(Pick::Tags(
            tags.value.iter().map(|t| t.value.clone()).collect(),
        )),
    };
    let until = match &raw.until {
        None => {
            at.err_hint(entry, "an acceptance has no `until`", UNTIL_HINT);
            None
        }
        Some(text) => match Until::parse(&text.value) {
            None => {
                at.err_hint(
                    text,
                    format!(
                        "`until: {}` is not a date",
                        escape_controls(text.value.trim())
                    ),
                    UNTIL_HINT,
                );
                None
            }
            Some(until) => check_until(at, text, until, now, warnings),
        },
    };
    let reason = match &raw.reason {
        Some(r) if !r.value.trim().is_empty() => Some(r.value.trim().to_string()),
        Some(r) => {
            at.err_hint(r, "an acceptance's `reason` is empty", REASON_HINT);
            None
        }
        None => {
            at.err_hint(entry, "an acceptance has no `reason`", REASON_HINT);
            None
        }
    };
    Some(Acceptance {
        probe: raw.probe.value.clone(),
        probe_matcher: probe_matcher?,
        targets: targets?,
        until: until?,
        reason: reason?,
        file: at.file.to_path_buf(),
        pos: Pos::from_location(&entry.referenced),
    })
}

const REASON_HINT: &str = "say why it is accepted and where it is tracked, e.g. `reason: \"CSP rollout, ticket SEC-123\"`";

/// An `until` in range, or the problem with it. A past one is kept (it simply no longer
/// holds) with a warning that `picket validate` refuses.
fn check_until(
    at: &mut At<'_>,
    text: &Spanned<String>,
    until: Until,
    now: SystemTime,
    warnings: &mut Vec<Warning>,
) -> Option<Until> {
    let ends = until.ends();
    let latest = now + Duration::from_secs(86_400 * MAX_ACCEPT_DAYS.unsigned_abs());
    let too_far = match until {
        // The last day accepted may be today + 400 days.
        Until::Day(day) => {
            let today = DateTime::<Utc>::from(now).date_naive();
            (day - today).num_days() > MAX_ACCEPT_DAYS
        }
        Until::Instant(_) => ends > latest,
    };
    if too_far {
        at.err_hint(
            text,
            format!("`until: {until}` is more than {MAX_ACCEPT_DAYS} days ahead"),
            "an acceptance is looked at again before it runs out: accept at most 400 days at a \
             time, and renew it then",
        );
        return None;
    }
    if ends <= now {
        warnings.push(Warning {
            diag: Diagnostic::new(
                at.file,
                Pos::from_location(&text.referenced),
                format!("`until: {until}` has passed: the acceptance no longer holds"),
            )
            .with_hint(
                "fix what it accepted and remove the entry, or renew it with a new date and reason",
            ),
            refused_by_validate: true,
        });
    }
    Some(until)
}

/// Compiles a glob over probe ids or target names (`*` matches across `/`).
fn glob(
    at: &mut At<'_>,
    written: &Spanned<String>,
    field: &str,
    hint: &str,
) -> Option<globset::GlobMatcher> {
    match globset::Glob::new(written.value.trim()) {
        Ok(g) if !written.value.trim().is_empty() => Some(g.compile_matcher()),
        Ok(_) => {
            at.err_hint(written, format!("`{field}` is empty"), hint);
            None
        }
        Err(e) => {
            at.err_hint(
                written,
                format!(
                    "invalid glob `{}` in `{field}`: {}",
                    escape_controls(&written.value),
                    e.kind()
                ),
                hint,
            );
            None
        }
    }
}

/// Validates `maintenance:` windows.
pub(super) fn compile_windows(
    at: &mut At<'_>,
    raw: &[Spanned<raw::Maintenance>],
) -> Vec<Arc<Window>> {
    let mut out = Vec::new();
    for entry in raw {
        let w = &entry.value;
        let targets = &w.targets.value;
        let pick = match (targets.tags.is_empty(), targets.names.is_empty()) {
            (false, false) => {
                at.err_hint(
                    &w.targets,
                    "a maintenance window selects targets by `tags` or by `names`, not both",
                    "keep one: `targets: { tags: [payments] }` or `targets: { names: [payments-api] }`",
                );
                None
            }
            (true, true) => {
                at.err_hint(
                    &w.targets,
                    "a maintenance window selects no targets",
                    "write `targets: { tags: [payments] }` or `targets: { names: [payments-api] }`",
                );
                None
            }
            (false, true) => Some(Pick::Tags(
                targets.tags.iter().map(|t| t.value.clone()).collect(),
            )),
            (true, false) => {
                let globs: Vec<_> = targets
                    .names
                    .iter()
                    .filter_map(|n| {
                        glob(
                            at,
                            n,
                            "names",
                            "a target name (`payments-api`) or a glob (`payments-*`)",
                        )
                        .map(|m| (n.value.clone(), m))
                    })
                    .collect();
                (globs.len() == targets.names.len()).then_some(Pick::Names(globs))
            }
        };
        let cron = match crate::units::parse_cron(w.cron.value.trim()) {
            Ok(c) => Some(c),
            Err(e) => {
                at.err_hint(
                    &w.cron,
                    e.to_string(),
                    "when each window starts, in UTC: 5 fields (`0 2 * * 0`, Sundays 02:00) or 6 with seconds",
                );
                None
            }
        };
        let duration = super::values::compile_duration(
            at,
            &w.duration,
            "duration",
            &crate::units::ranges::MAINTENANCE,
            "how long each window lasts, e.g. `2h`; at most 7 days",
        );
        if let (Some(targets), Some(cron), Some(duration)) = (pick, cron, duration) {
            out.push(Arc::new(Window {
                targets,
                cron_text: w.cron.value.trim().to_string(),
                cron,
                duration,
                file: at.file.to_path_buf(),
                pos: Pos::from_location(&entry.referenced),
            }));
        }
    }
    out
}

/// Warnings for acceptances and windows that select nothing among `targets` and the probe
/// ids `probes` (what is known without contacting discovery sources).
pub fn selects_nothing<'a>(
    acceptances: &[Arc<Acceptance>],
    windows: &[Arc<Window>],
    targets: &[Target],
    probes: impl Iterator<Item = &'a str> + Clone,
) -> Vec<Warning> {
    let mut out = Vec::new();
    for a in acceptances {
        let no_probe = !probes.clone().any(|p| a.probe_matcher.is_match(p));
        let message = if no_probe {
            format!(
                "acceptance of probe `{}` matches no probe",
                escape_controls(&a.probe)
            )
        } else if !targets.iter().any(|t| a.targets.selects(t)) {
            format!(
                "acceptance of probe `{}` selects no target ({})",
                escape_controls(&a.probe),
                a.targets
            )
        } else if !targets
            .iter()
            .any(|t| probes.clone().any(|p| a.selects(p, t)))
        {
            format!(
                "acceptance of probe `{}` selects no series",
                escape_controls(&a.probe)
            )
        } else {
            continue;
        };
        out.push(Warning::new(
            Diagnostic::new(&a.file, a.pos, message).with_hint(
                "check the probe id and target names (`picket list` shows them); discovered \
                 targets are matched when the service runs",
            ),
        ));
    }
    for w in windows {
        if !targets.iter().any(|t| w.targets.selects(t)) {
            out.push(Warning::new(
                Diagnostic::new(&w.file, w.pos, format!("maintenance window selects no target ({})", w.targets))
                    .with_hint("check the tags and names (`picket list` shows them); discovered targets are matched when the service runs"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    #[test]
    fn a_day_holds_through_its_last_second_in_utc() {
        let until = Until::parse("2027-03-31").unwrap();
        assert_eq!(until.ends(), at("2027-04-01T00:00:00Z"));
        assert_eq!(until.to_string(), "2027-03-31");
        let instant = Until::parse("2027-03-31T12:00:00+02:00").unwrap();
        assert_eq!(instant.ends(), at("2027-03-31T10:00:00Z"));
        assert_eq!(instant.to_string(), "2027-03-31T10:00:00Z");
        assert!(Until::parse("31/03/2027").is_none());
    }
}
