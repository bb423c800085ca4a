//! What a run produced, in terms every later stage shares without knowing the probe kind:
//! the [`Outcome`] (pass, fail with [`Finding`]s, error, or skip), and the [`RunResult`] around
//! it.
//! State, telemetry, the API and reports depend on this module, never on a runner.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::units::Severity;

/// One failed check: which check, what it expected, what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check, as a short sentence (`header strict-transport-security present`).
    pub check: String,
    /// What the check expected.
    pub expected: String,
    /// What the response showed.
    pub observed: String,
    /// The check in technical terms (its regexes, the raw assertion) when the words above
    /// leave something out: shown by `check --verbose` and as `detail` in JSON and SARIF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The severity of this finding when its check grades it differently from the probe
    /// (`tls/certificate-expiry`: medium under 60 days, high under 30, critical once expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

impl Finding {
    /// The finding in one line for people, the same in `check`, the log, SARIF, JUnit, the
    /// demo and the dashboard: `title: expected …, observed …` (no `detail`).
    pub fn sentence(&self) -> String {
        format!(
            "{}: expected {}, observed {}",
            self.check, self.expected, self.observed
        )
    }

    /// The finding as the log and OTLP log records carry it: check, expected, observed and
    /// severity, without the technical `detail`.
    pub fn without_detail(&self) -> Finding {
        Finding {
            detail: None,
            ..self.clone()
        }
    }
}

/// Folds what graded checks say twice. A check graded by a threshold fails whenever a stricter
/// one does (a certificate expired 3 days ago is also under 30 and 60 days): of findings with
/// the same check and the same observation, only the most severe one is kept.
pub fn fold_graded(findings: Vec<Finding>) -> Vec<Finding> {
    let outranked = |f: &Finding| {
        findings.iter().any(|g| {
            g.check == f.check
                && g.observed == f.observed
                && matches!((g.severity, f.severity), (Some(a), Some(b)) if a > b)
        })
    };
    let keep: Vec<bool> = findings.iter().map(|f| !outranked(f)).collect();
    findings
        .into_iter()
        .zip(keep)
        .filter_map(|(f, keep)| keep.then_some(f))
        .collect()
}

/// The severity of a run or a series with these findings: the highest among them, each
/// counted at its own severity or else the probe's. With no finding, the probe's.
pub fn severity_of(findings: &[Finding], declared: Severity) -> Severity {
    findings
        .iter()
        .map(|f| f.severity.unwrap_or(declared))
        .max()
        .unwrap_or(declared)
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// At least one check failed.
    Fail(Vec<Finding>),
    /// The run could not be evaluated.
    Error(RunError),
    /// The target answered with something the probe does not judge, with the reason: a probe
    /// of a page's headers skips a response that redirects to another origin, since that
    /// response is not the page. Like an error it never moves a series between passing and
    /// failing; unlike one it is not a fault, and `--fail-on-error` ignores it.
    Skip(String),
}

impl Outcome {
    /// `pass`, `fail`, `error` or `skip`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Error(_) => "error",
            Outcome::Skip(_) => "skip",
        }
    }

    /// Why a skipped run judged nothing.
    pub fn skip_reason(&self) -> Option<&str> {
        match self {
            Outcome::Skip(reason) => Some(reason),
            _ => None,
        }
    }

    /// The findings of a failed run (empty otherwise).
    pub fn findings(&self) -> &[Finding] {
        match self {
            Outcome::Fail(f) => f,
            _ => &[],
        }
    }
}

/// Why a run could not be evaluated. The message is already scrubbed of secrets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}: {message}")]
pub struct RunError {
    /// Short class, used as `error.type`.
    pub kind: ErrorKind,
    /// Detail for people.
    pub message: String,
}

/// Classes of run errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The run exceeded its timeout.
    Timeout,
    /// Name resolution failed.
    Dns,
    /// TCP connect failed or was refused.
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// The peer broke the HTTP protocol or the connection.
    Http,
    /// A request could not be built (a bug or a bad variable value).
    Request,
    /// The body was cut at `max_body_bytes` and some check could not be decided on the part
    /// that was read.
    BodyTooLarge,
}

impl ErrorKind {
    /// The name used in output and as `error.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Http => "http",
            ErrorKind::Request => "request",
            ErrorKind::BodyTooLarge => "body_too_large",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Probe id.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// What happened.
    pub outcome: Outcome,
    /// When the run started (wall clock).
    pub started: SystemTime,
    /// How long the exchange with the target took: from the first request (or connection)
    /// to the verdict. Waits for concurrency permits and rate slots are not in it.
    pub duration: Duration,
    /// How long the run waited for concurrency permits and per-target rate slots, before
    /// and between its requests.
    pub wait: Duration,
    /// The first request's URL, secrets removed.
    pub url: String,
    /// Host of the target.
    pub server_address: String,
    /// Port of the target.
    pub server_port: u16,
    /// Status code of the last response, if any.
    pub status: Option<u16>,
    /// What a `tls` run saw of the certificate: when the leaf expires.
    pub certificate_not_after: Option<SystemTime>,
    /// Kind-specific span attributes (`tls.protocol.version`, `tls.cipher`, …).
    pub attributes: Vec<(&'static str, String)>,
    /// What a run with `software` checks identified, and where each release stands.
    pub software: Vec<SoftwareSeen>,
}

/// A product and version a run identified (for `picket.software.eol`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareSeen {
    /// endoflife.date's product id.
    pub name: String,
    /// The version as identified.
    pub version: String,
    /// When its release cycle reaches (reached) end of life, when the data knows it.
    pub eol: Option<SystemTime>,
}

impl RunResult {
    /// A result of `probe` on `target` that started now and saw nothing of the target yet:
    /// the runner fills in what the exchange shows; a run that never reached its target
    /// (a failed task) is this with an error outcome.
    pub fn new(probe: &str, target: &str, outcome: Outcome) -> RunResult {
        RunResult {
            probe: probe.to_owned(),
            target: target.to_owned(),
            outcome,
            started: SystemTime::now(),
            duration: Duration::ZERO,
            wait: Duration::ZERO,
            url: String::new(),
            server_address: String::new(),
            server_port: 0,
            status: None,
            certificate_not_after: None,
            attributes: Vec::new(),
            software: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(check: &str, observed: &str, severity: Option<Severity>) -> Finding {
        Finding {
            check: check.into(),
            expected: String::new(),
            observed: observed.into(),
            detail: None,
            severity,
        }
    }

    #[test]
    fn a_run_counts_at_its_most_severe_finding() {
        assert_eq!(severity_of(&[], Severity::High), Severity::High);
        let graded = [
            finding("a", "x", Some(Severity::Low)),
            finding("b", "y", Some(Severity::Medium)),
        ];
        // Graded findings can rank below the probe's declared severity.
        assert_eq!(severity_of(&graded, Severity::Critical), Severity::Medium);
        let mixed = [
            finding("a", "x", Some(Severity::Low)),
            finding("b", "y", None),
        ];
        assert_eq!(severity_of(&mixed, Severity::High), Severity::High);
    }

    #[test]
    fn a_threshold_repeated_by_a_stricter_one_is_folded() {
        let findings = vec![
            finding("validity", "expired", Some(Severity::Medium)),
            finding("validity", "expired", Some(Severity::Critical)),
            finding("validity", "expired", Some(Severity::High)),
            // Another observation, or an ungraded finding, is kept.
            finding("suites", "3des", Some(Severity::Medium)),
            finding("suites", "cbc", Some(Severity::Low)),
            finding("validity", "expired", None),
        ];
        let kept = fold_graded(findings);
        let seen: Vec<(&str, Option<Severity>)> = kept
            .iter()
            .map(|f| (f.observed.as_str(), f.severity))
            .collect();
        assert_eq!(
            seen,
            [
                ("expired", Some(Severity::Critical)),
                ("3des", Some(Severity::Medium)),
                ("cbc", Some(Severity::Low)),
                ("expired", None),
            ]
        );
    }
}
