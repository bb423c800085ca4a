//! Small value types shared by config and probes: durations, byte sizes, percentages,
//! schedules and severities, each parsed from the text a user writes in YAML.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The hint shown with every duration error.
pub const DURATION_HINT: &str =
    "write a number and a unit, e.g. `500ms`, `10s`, `5m`, `1h` or `14d`";

/// The JSON Schema keyword by which the file formats' schemas say in words what a value must
/// look like (`a duration such as 10s`). Load errors for a value of the wrong shape quote it
/// ([`crate::shape`]); editors ignore it.
pub const EXPECTED: &str = "x-picket-expected";

/// The JSON Schema keyword by which a schema says how to write a value of its shape, for
/// the hint under a load error.
pub const HINT: &str = "x-picket-hint";

/// What a duration field expects, in the words of load errors.
pub const DURATION_EXPECTED: &str = "a duration such as 10s";

/// The schema of a duration written as text (`10s`), for `#[schemars(with = …)]` on raw
/// fields that hold one.
pub struct DurationText;

impl schemars::JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A number and a unit: `500ms`, `10s`, `5m`, `1h`, `14d`.",
            "examples": ["10s"],
            EXPECTED: DURATION_EXPECTED,
            HINT: DURATION_HINT,
        })
    }
}

/// The schema of a percentage written as text (`10%`).
pub struct PercentText;

impl schemars::JsonSchema for PercentText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A share from `0%` to `100%`.",
            "examples": ["10%"],
            EXPECTED: "a percentage such as 10%",
            HINT: "a share of the interval from `0%` to `100%`, written with `%`",
        })
    }
}

/// Why a duration, size, percentage or bounded number written by a user is not accepted.
/// Each message names what was written; load errors show it as the diagnostic's text
/// (`From<UnitError> for String`), `--grace` and the like as clap's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// A duration of blank text.
    #[error("empty duration")]
    EmptyDuration,
    /// A duration of digits only, such as `30`.
    #[error("duration `{text}` has no unit")]
    NoUnit {
        /// The text as written (trimmed).
        text: String,
    },
    /// Text that is not a duration.
    #[error("invalid duration `{text}`")]
    Duration {
        /// The text as written (trimmed).
        text: String,
        /// humantime's reason.
        #[source]
        source: humantime::DurationError,
    },
    /// A command-line duration outside its range.
    #[error("`{text}` is out of range: it must be from {min} to {max}")]
    DurationOutOfRange {
        /// The text as written (trimmed).
        text: String,
        /// The smallest accepted, as a user writes it.
        min: String,
        /// The largest accepted, as a user writes it.
        max: String,
    },
    /// A field's value outside its range ([`in_range`]).
    #[error("`{field}: {written}` is out of range: it must be from {min} to {max}")]
    OutOfRange {
        /// The field's name.
        field: String,
        /// The value as written.
        written: String,
        /// The smallest accepted, as a user writes it.
        min: String,
        /// The largest accepted, as a user writes it.
        max: String,
    },
    /// Text that is not a byte size.
    #[error("invalid size `{text}`; write e.g. `1MiB`, `512KiB` or `65536`")]
    Size {
        /// The text as written (trimmed).
        text: String,
    },
    /// Text that is not a percentage.
    #[error("invalid percentage `{text}`; write e.g. `10%`")]
    Percent {
        /// The text as written (trimmed).
        text: String,
    },
    /// A percentage below 0% or above 100%.
    #[error("percentage `{text}` must be between 0% and 100%")]
    PercentOutOfRange {
        /// The text as written (trimmed).
        text: String,
    },
}

/// A diagnostic's message is the error's text.
impl From<UnitError> for String {
    fn from(e: UnitError) -> String {
        e.to_string()
    }
}

/// Parses a duration such as `500ms`, `10s`, `5m`, `1h30m` or `14d`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::EmptyDuration);
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err(UnitError::NoUnit { text: text.into() });
    }
    humantime::parse_duration(text).map_err(|source| UnitError::Duration {
        text: text.into(),
        source,
    })
}

/// The load error for a field whose text is not a duration:
/// `timeout: expected a duration such as 10s, found `30` (no unit)`.
pub fn duration_error(field: &str, text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return format!("{field}: expected {DURATION_EXPECTED}, found nothing");
    }
    let shown = crate::term::escape_controls(text);
    if text.chars().all(|c| c.is_ascii_digit()) {
        format!("{field}: expected {DURATION_EXPECTED}, found `{shown}` (no unit)")
    } else {
        format!("{field}: expected {DURATION_EXPECTED}, found `{shown}`")
    }
}

/// Formats a time as RFC 3339 in UTC, to the second (`2026-11-26T14:00:00Z`): the one time
/// format of the API, the logs and the OTLP records, so they can be matched.
pub fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses a duration that must lie in `range` (for command-line options).
pub fn parse_duration_within(
    text: &str,
    range: &std::ops::RangeInclusive<Duration>,
) -> Result<Duration, UnitError> {
    let d = parse_duration(text)?;
    if range.contains(&d) {
        Ok(d)
    } else {
        Err(UnitError::DurationOutOfRange {
            text: text.trim().into(),
            min: format_duration(*range.start()),
            max: format_duration(*range.end()),
        })
    }
}

/// Formats a duration the way a user would write it (`5m`, `1500ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Parses a byte size such as `1MiB`, `512KiB` or `1000000`.
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    let text = text.trim();
    // bytesize's reason is a bare string, not an error to keep as a source.
    text.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| UnitError::Size { text: text.into() })
}

/// Parses a percentage such as `10%` into a fraction (0.10).
pub fn parse_percent(text: &str) -> Result<f64, UnitError> {
    let text = text.trim();
    let invalid = || UnitError::Percent { text: text.into() };
    let number = text.strip_suffix('%').ok_or_else(invalid)?;
    let value: f64 = number.trim().parse().map_err(|_| invalid())?;
    if !(0.0..=100.0).contains(&value) {
        return Err(UnitError::PercentOutOfRange { text: text.into() });
    }
    Ok(value / 100.0)
}

/// How bad a finding is. Ordered: `info < low < medium < high < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(schemars::JsonSchema)]
pub enum Severity {
    /// Worth knowing, never worth paging.
    Info,
    /// Hardening gap.
    Low,
    /// Real weakness that needs an attacker's effort.
    Medium,
    /// Directly exploitable weakness.
    High,
    /// Exposure of secrets or control.
    Critical,
}

impl Severity {
    /// The lowercase name used in YAML, JSON and telemetry.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A severity name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity `{given}`; expected info, low, medium, high or critical")]
pub struct UnknownSeverity {
    /// The name as given, lowercased.
    pub given: String,
}

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(UnknownSeverity {
                given: other.to_string(),
            }),
        }
    }
}

/// When a series runs.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A fixed interval, each series at its own stable phase within it.
    Every {
        /// The interval between runs.
        interval: Duration,
        /// Random spread added to each run, as a fraction of the interval.
        jitter: f64,
    },
    /// A cron expression (with seconds), evaluated in UTC.
    Cron {
        /// The expression as written, for display.
        expression: String,
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// Random delay added to each run, as a fraction of the gap to the next run.
        jitter: f64,
    },
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every { interval, jitter } if *jitter > 0.0 => write!(
                f,
                "every {} (jitter {}%)",
                format_duration(*interval),
                (jitter * 100.0).round()
            ),
            Schedule::Every { interval, .. } => write!(f, "every {}", format_duration(*interval)),
            Schedule::Cron { expression, .. } => write!(f, "cron \"{expression}\""),
        }
    }
}

/// A cron expression croner refuses.
#[derive(Debug, thiserror::Error)]
#[error("invalid cron expression `{expression}`: {source}")]
pub struct InvalidCron {
    /// The expression as written.
    pub expression: String,
    /// croner's reason.
    #[source]
    pub source: croner::errors::CronError,
}

/// Parses a cron expression with croner, accepting 5 fields or 6 (with seconds).
pub fn parse_cron(expression: &str) -> Result<croner::Cron, InvalidCron> {
    croner::parser::CronParser::new()
        .parse(expression)
        .map_err(|source| InvalidCron {
            expression: expression.to_string(),
            source,
        })
}

/// The numbers picket accepts in config and probe files, each checked at load time. A bound
/// is where a value stops being a plausible setting and becomes a typo, or a value that
/// would make picket itself misbehave (a rate of `1e-20` requests per second is a wait longer
/// than the age of the universe). The README lists them with their reasons.
pub mod ranges {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    const fn millis(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// `api.idle_timeout`: how long an API connection may stay open without a request.
    pub const API_IDLE_TIMEOUT: RangeInclusive<Duration> = secs(1)..=secs(3_600);
    /// `maintenance[].duration`: how long one maintenance window lasts (SPEC §3b: at most
    /// 7 days; a longer one is a service that is down, not one in maintenance).
    pub const MAINTENANCE: RangeInclusive<Duration> = secs(1)..=secs(7 * 86_400);
    /// `state.postgres.lease`: how long a member may go silent before losing its series.
    pub const LEASE: RangeInclusive<Duration> = secs(1)..=secs(600);
    /// `limits.concurrency`: runs in flight in the whole process.
    pub const CONCURRENCY: RangeInclusive<i64> = 1..=10_000;
    /// `limits.per_target_concurrency`: runs in flight per target.
    pub const PER_TARGET_CONCURRENCY: RangeInclusive<i64> = 1..=1_000;
    /// `limits.per_target_rps`: requests per second per target.
    pub const PER_TARGET_RPS: RangeInclusive<f64> = 0.01..=100_000.0;
    /// `limits.max_body_bytes`: bytes of each response body read.
    pub const MAX_BODY_BYTES: RangeInclusive<u64> = 1..=64 << 20;
    /// `confirm` and `recover`: consecutive runs before a transition.
    pub const STREAK: RangeInclusive<i64> = 1..=100;
    /// `schedule.every`.
    pub const INTERVAL: RangeInclusive<Duration> = secs(1)..=secs(366 * 86_400);
    /// `timeout` of a run.
    pub const TIMEOUT: RangeInclusive<Duration> = millis(100)..=secs(600);
    /// `telemetry.export_interval` (and `OTEL_METRIC_EXPORT_INTERVAL`).
    pub const EXPORT_INTERVAL: RangeInclusive<Duration> = millis(100)..=secs(3_600);
    /// `response_time.below`.
    pub const RESPONSE_TIME: RangeInclusive<Duration> = millis(1)..=secs(600);
    /// `at_least` / `at_most` of a `capture` check: 2^53, the largest integer an `f64`
    /// holds exactly, either way.
    pub const CAPTURE_BOUND: RangeInclusive<f64> =
        -9_007_199_254_740_992.0..=9_007_199_254_740_992.0;
    /// `picket run --grace`.
    pub const GRACE: RangeInclusive<Duration> = secs(0)..=secs(3_600);
    /// `picket run --watch-interval` (0 turns watching off).
    pub const WATCH_INTERVAL: RangeInclusive<Duration> = millis(100)..=secs(3_600);
    /// `picket demo --every` and `--flip-every`.
    pub const DEMO_INTERVAL: RangeInclusive<Duration> = secs(1)..=secs(3_600);
    /// `picket demo --duration`.
    pub const DEMO_DURATION: RangeInclusive<Duration> = secs(1)..=secs(366 * 86_400);
    /// HTTP status codes in `status` checks.
    pub const STATUS: RangeInclusive<i64> = 100..=599;
    /// `notify.webhooks[].timeout`: one delivery request.
    pub const WEBHOOK_TIMEOUT: RangeInclusive<Duration> = millis(100)..=secs(60);
    /// `notify.webhooks[].queue`: notifications waiting for one webhook.
    pub const WEBHOOK_QUEUE: RangeInclusive<i64> = 1..=10_000;
}

/// A value as a message shows it.
pub trait Shown {
    /// The value in the units a user writes.
    fn shown(&self) -> String;
}

impl Shown for i64 {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for f64 {
    fn shown(&self) -> String {
        // `Display` writes 1e-20 as twenty zeros; `Debug` writes 10 as `10.0`.
        if self.is_finite() && self.fract() == 0.0 && self.abs() < 1e16 {
            format!("{self:.0}")
        } else {
            format!("{self:?}")
        }
    }
}

impl Shown for u64 {
    fn shown(&self) -> String {
        match *self {
            n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
            n => n.to_string(),
        }
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        format_duration(*self)
    }
}

/// Checks that `value`, written as `written` for the field `name`, lies in `range`. The error
/// says ``"`per_target_rps: 1e-20` is out of range: it must be from 0.01 to 100000"``.
pub fn in_range<T: PartialOrd + Shown + Copy>(
    name: &str,
    written: &str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> Result<T, UnitError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(UnitError::OutOfRange {
            field: name.to_string(),
            written: written.to_string(),
            min: range.start().shown(),
            max: range.end().shown(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (text, secs) in [("10s", 10), ("5m", 300), ("14d", 14 * 86_400), ("1h", 3600)] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d, Duration::from_secs(secs));
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(
            parse_duration("10")
                .unwrap_err()
                .to_string()
                .contains("no unit")
        );
        assert!(parse_duration("ten seconds").is_err());
    }

    #[test]
    fn sizes_and_percentages() {
        assert_eq!(parse_bytes("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("65536").unwrap(), 65536);
        assert!(parse_bytes("lots").is_err());
        assert!((parse_percent("10%").unwrap() - 0.1).abs() < 1e-9);
        assert!(parse_percent("10").is_err());
        assert!(parse_percent("150%").is_err());
    }

    #[test]
    fn ranges_explain_themselves() {
        assert_eq!(
            in_range("per_target_rps", "1e-20", 1e-20, &ranges::PER_TARGET_RPS)
                .unwrap_err()
                .to_string(),
            "`per_target_rps: 1e-20` is out of range: it must be from 0.01 to 100000"
        );
        assert_eq!(
            in_range("max_body_bytes", "1GiB", 1 << 30, &ranges::MAX_BODY_BYTES)
                .unwrap_err()
                .to_string(),
            "`max_body_bytes: 1GiB` is out of range: it must be from 1 to 64MiB"
        );
        assert_eq!(
            in_range(
                "every",
                "500ms",
                Duration::from_millis(500),
                &ranges::INTERVAL
            )
            .unwrap_err()
            .to_string(),
            "`every: 500ms` is out of range: it must be from 1s to 366d"
        );
        assert!(in_range("x", "nan", f64::NAN, &ranges::PER_TARGET_RPS).is_err());
        assert_eq!(in_range("x", "4", 4, &ranges::CONCURRENCY), Ok(4));
    }

    #[test]
    fn severities_order() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
    }

    #[test]
    fn cron_accepts_five_and_six_fields() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("0 */5 * * * *").is_ok());
        assert!(parse_cron("61 * * * *").is_err());
    }
}
