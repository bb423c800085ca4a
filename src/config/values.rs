//! Value compilers shared by the config sections and probe files: durations, whole numbers,
//! streaks, schedules and request headers, each checked against its range with a hint.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::{Ctx, Defaults, raw};
use crate::diag::At;
use crate::redact::Secret;
use crate::units::{self, Schedule};

/// Request headers from the file (a target's, a webhook's): valid names and values, each
/// value resolved (`${env:…}`) and marked sensitive when it holds a secret. A bad one is
/// reported at its position and clears `ok`.
pub(super) fn compile_headers(
    ctx: &mut Ctx<'_>,
    raw: &BTreeMap<String, Spanned<String>>,
    ok: &mut bool,
) -> Vec<(HeaderName, Secret<HeaderValue>)> {
    let mut headers = Vec::new();
    for (key, value) in raw {
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            ctx.err(
                value,
                format!(
                    "invalid header name `{}`",
                    crate::term::escape_controls(key)
                ),
            );
            *ok = false;
            continue;
        };
        let Some(resolved) = ctx.resolve(value) else {
            *ok = false;
            continue;
        };
        match HeaderValue::from_str(resolved.expose()) {
            Ok(mut v) => {
                v.set_sensitive(resolved.is_secret());
                headers.push((name, resolved.map(|_| v)));
            }
            Err(_) => {
                ctx.err(
                    value,
                    format!(
                        "header `{key}` has a value that is not valid in HTTP (control characters or newlines)"
                    ),
                );
                *ok = false;
            }
        }
    }
    headers
}

/// Parses a duration and checks it against `range`.
pub(super) fn compile_duration(
    ctx: &mut At<'_>,
    value: &Spanned<String>,
    name: &str,
    range: &RangeInclusive<Duration>,
    hint: &str,
) -> Option<Duration> {
    match units::parse_duration(&value.value) {
        Ok(d) => match units::in_range(name, value.value.trim(), d, range) {
            Ok(d) => Some(d),
            Err(e) => {
                ctx.err_hint(value, e, hint);
                None
            }
        },
        Err(_) => {
            ctx.err_hint(
                value,
                units::duration_error(name, &value.value),
                units::DURATION_HINT,
            );
            None
        }
    }
}

/// The hint for an out-of-range `every`.
const INTERVAL_HINT: &str = "how often each series runs, e.g. `5m`; for rarer runs use `cron:`";
/// The hint for an out-of-range `timeout`.
pub(super) const TIMEOUT_HINT: &str =
    "how long one run may take, e.g. `10s`; a run holds its concurrency permits until then";
/// The hint for out-of-range `confirm`/`recover`.
const STREAK_HINT: &str = "consecutive failing (`confirm`) or passing (`recover`) runs before a regression or recovery is declared";

/// Validates a schedule block; `None` fields fall back to `base`.
pub(super) fn schedule_in(
    ctx: &mut At<'_>,
    raw: &Spanned<raw::Schedule>,
    base: &Schedule,
) -> Schedule {
    let base_jitter = match base {
        Schedule::Every { jitter, .. } | Schedule::Cron { jitter, .. } => *jitter,
    };
    let jitter = match &raw.value.jitter {
        None => base_jitter,
        Some(j) => units::parse_percent(&j.value).unwrap_or_else(|e| {
            ctx.err_hint(
                j,
                e,
                "a random delay as a share of the interval, from `0%` to `100%`, e.g. `10%`",
            );
            base_jitter
        }),
    };
    match (&raw.value.every, &raw.value.cron) {
        (Some(_), Some(cron)) => {
            ctx.err_hint(
                cron,
                "a schedule takes `every` or `cron`, not both",
                "remove one of them",
            );
            base.clone()
        }
        (Some(every), None) => {
            match compile_duration(ctx, every, "every", &units::ranges::INTERVAL, INTERVAL_HINT) {
                Some(interval) => Schedule::Every { interval, jitter },
                None => base.clone(),
            }
        }
        (None, Some(cron)) => match units::parse_cron(&cron.value) {
            Ok(parsed) => Schedule::Cron {
                expression: cron.value.clone(),
                cron: Box::new(parsed),
                jitter,
            },
            Err(e) => {
                ctx.err_hint(
                    cron,
                    e.to_string(),
                    "cron takes 5 fields (min hour day month weekday) or 6 with seconds first",
                );
                base.clone()
            }
        },
        (None, None) => match base {
            Schedule::Every { interval, .. } => Schedule::Every {
                interval: *interval,
                jitter,
            },
            Schedule::Cron {
                expression, cron, ..
            } => Schedule::Cron {
                expression: expression.clone(),
                cron: cron.clone(),
                jitter,
            },
        },
    }
}

/// Checks a whole number against `range`; `None` (and an error) when it is outside.
pub(super) fn int_in(
    ctx: &mut At<'_>,
    value: &Spanned<i64>,
    name: &str,
    range: &RangeInclusive<i64>,
    hint: &str,
) -> Option<i64> {
    match units::in_range(name, &value.value.to_string(), value.value, range) {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.err_hint(value, e, hint);
            None
        }
    }
}

pub(super) fn streak(ctx: &mut At<'_>, value: &Spanned<i64>, name: &str) -> Option<u32> {
    int_in(ctx, value, name, &units::ranges::STREAK, STREAK_HINT)
        .and_then(|v| u32::try_from(v).ok())
}

/// What a probe file may set over the config's `defaults`: when its series run, how many
/// runs confirm a regression or a recovery, and how long one run may take. The same keys
/// and checks in picket probes and in a nuclei template's `picket:` block.
#[derive(Debug, Clone)]
pub struct Overrides {
    /// When the probe's series run.
    pub schedule: Schedule,
    /// Failing runs before a regression.
    pub confirm: u32,
    /// Passing runs before a recovery.
    pub recover: u32,
    /// Time limit of one run.
    pub timeout: Duration,
}

/// The keys of a probe file that override the defaults, as written.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawOverrides<'a> {
    /// `schedule:`
    pub schedule: Option<&'a Spanned<raw::Schedule>>,
    /// `confirm:`
    pub confirm: Option<&'a Spanned<i64>>,
    /// `recover:`
    pub recover: Option<&'a Spanned<i64>>,
    /// `timeout:`
    pub timeout: Option<&'a Spanned<String>>,
}

/// Validates what a probe file overrides; what it leaves out, or gets wrong (reported), is
/// the default.
pub fn overrides(at: &mut At<'_>, raw: RawOverrides<'_>, defaults: &Defaults) -> Overrides {
    Overrides {
        schedule: raw.schedule.map_or_else(
            || defaults.schedule.clone(),
            |s| schedule_in(at, s, &defaults.schedule),
        ),
        confirm: raw
            .confirm
            .and_then(|c| streak(at, c, "confirm"))
            .unwrap_or(defaults.confirm),
        recover: raw
            .recover
            .and_then(|r| streak(at, r, "recover"))
            .unwrap_or(defaults.recover),
        timeout: raw
            .timeout
            .and_then(|t| compile_duration(at, t, "timeout", &units::ranges::TIMEOUT, TIMEOUT_HINT))
            .unwrap_or(defaults.timeout),
    }
}
