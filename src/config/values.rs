//! Value compilers shared by the config sections and probe files: durations, whole numbers,
//! streaks, schedules and request headers, each checked against its range with a hint.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_saphyr::Spanned;

use super::{Ctx, raw};
use crate::diag::Diagnostics;
use crate::redact::{Redactor, Secret};
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
    ctx: &mut Ctx<'_>,
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
pub(crate) const TIMEOUT_HINT: &str =
    "how long one run may take, e.g. `10s`; a run holds its concurrency permits until then";
/// The hint for out-of-range `confirm`/`recover`.
const STREAK_HINT: &str = "consecutive failing (`confirm`) or passing (`recover`) runs before a regression or recovery is declared";

/// Validates a schedule block; `None` fields fall back to `base`.
pub(crate) fn compile_schedule(
    file: &Path,
    raw: &Spanned<raw::Schedule>,
    base: &Schedule,
    diags: &mut Diagnostics,
) -> Schedule {
    in_probe_file(file, diags, |ctx| schedule_in(ctx, raw, base))
}

pub(super) fn schedule_in(
    ctx: &mut Ctx<'_>,
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
    ctx: &mut Ctx<'_>,
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

pub(super) fn streak(ctx: &mut Ctx<'_>, value: &Spanned<i64>, name: &str) -> Option<u32> {
    int_in(ctx, value, name, &units::ranges::STREAK, STREAK_HINT)
        .and_then(|v| u32::try_from(v).ok())
}

/// Runs a config validation step on a value from a probe file (no `${env:…}` there).
fn in_probe_file<T>(file: &Path, diags: &mut Diagnostics, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
    let env = |_: &str| None;
    let mut redactor = Redactor::default();
    let mut ctx = Ctx {
        file,
        env: &env,
        diags,
        redactor: &mut redactor,
    };
    f(&mut ctx)
}

/// Validates `confirm`/`recover` overrides in probe files.
pub(crate) fn streak_in(
    file: &Path,
    value: &Spanned<i64>,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<u32> {
    in_probe_file(file, diags, |ctx| streak(ctx, value, name))
}

/// Validates a duration in a probe file against `range`.
pub(crate) fn duration_in(
    file: &Path,
    value: &Spanned<String>,
    name: &str,
    range: &RangeInclusive<Duration>,
    hint: &str,
    diags: &mut Diagnostics,
) -> Option<Duration> {
    in_probe_file(file, diags, |ctx| {
        compile_duration(ctx, value, name, range, hint)
    })
}
