//! Small value types shared by config and probes: durations, byte sizes, percentages,
//! schedules and severities, each parsed from the text a user writes in YAML.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The hint shown with every duration error.
pub const DURATION_HINT: &str =
    "write a number and a unit, e.g. `500ms`, `10s`, `5m`, `1h` or `14d`";

/// Parses a duration such as `500ms`, `10s`, `5m`, `1h30m` or `14d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("duration `{text}` has no unit"));
    }
    humantime::parse_duration(text).map_err(|_| format!("invalid duration `{text}`"))
}

/// Formats a time as RFC 3339 in UTC, to the second (`2026-11-26T14:00:00Z`): the one time
/// format of the API, the logs and the OTLP records, so they can be matched.
pub fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("invalid size `{text}`; write e.g. `1MiB`, `512KiB` or `65536`"))
}

/// Parses a percentage such as `10%` into a fraction (0.10).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let number = text
        .strip_suffix('%')
        .ok_or_else(|| format!("invalid percentage `{text}`; write e.g. `10%`"))?;
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid percentage `{text}`; write e.g. `10%`"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("percentage `{text}` must be between 0% and 100%"));
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

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity `{other}`; expected info, low, medium, high or critical"
            )),
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

/// Parses a cron expression with croner, accepting 5 fields or 6 (with seconds).
pub fn parse_cron(expression: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::new()
        .parse(expression)
        .map_err(|e| format!("invalid cron expression `{expression}`: {e}"))
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
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
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
