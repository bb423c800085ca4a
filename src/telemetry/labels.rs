//! The labels of one series and the span of one run: what every signal says about which
//! probe ran against which target.

use opentelemetry::KeyValue;
use tracing::field::Empty;

use crate::outcome::{Outcome, RunResult};
use crate::plan::Series;
use crate::units::Severity;

/// Stable, low-cardinality labels of one series.
#[derive(Debug, Clone, Copy)]
pub struct SeriesLabels<'a> {
    /// Probe id, e.g. `headers/hsts`.
    pub probe_id: &'a str,
    /// Target name.
    pub target_name: &'a str,
    /// Severity of the series: the probe's, or the highest of its current findings' when the
    /// probe grades its checks.
    pub severity: Severity,
    /// Probe name (human title), reported as `security_rule.name`.
    pub rule_name: &'a str,
    /// First segment of the probe id (`headers`), reported as `security_rule.category`.
    pub rule_category: &'a str,
    /// First reference URL of the probe, reported as `security_rule.reference`.
    pub rule_reference: Option<&'a str>,
    /// A nuclei template's classification, reported as `security_rule.cve_id`,
    /// `security_rule.cwe_id` and `security_rule.cvss_score`.
    pub classification: &'a [(String, String)],
}

impl<'a> SeriesLabels<'a> {
    /// The labels of a planned series.
    pub fn of(series: &'a Series) -> SeriesLabels<'a> {
        SeriesLabels {
            probe_id: &series.probe.id,
            target_name: &series.target.name,
            severity: series.probe.severity,
            rule_name: &series.probe.name,
            rule_category: category(&series.probe.id),
            rule_reference: series.probe.references.first().map(String::as_str),
            classification: &series.probe.classification,
        }
    }

    /// The labels of a tracked series in its current state (whose findings may grade its
    /// severity).
    pub fn of_info(
        info: &'a crate::state::SeriesInfo,
        state: &crate::state::SeriesState,
    ) -> SeriesLabels<'a> {
        SeriesLabels {
            probe_id: &info.probe.id,
            target_name: &info.target,
            severity: state.severity(info.probe.severity),
            rule_name: &info.probe.name,
            rule_category: category(&info.probe.id),
            rule_reference: info.probe.references.first().map(String::as_str),
            classification: &info.probe.classification,
        }
    }

    pub(super) fn series(&self) -> [KeyValue; 2] {
        [
            KeyValue::new("probe.id", self.probe_id.to_owned()),
            KeyValue::new("target.name", self.target_name.to_owned()),
        ]
    }

    pub(super) fn with_severity(&self) -> [KeyValue; 3] {
        let [probe, target] = self.series();
        [
            probe,
            target,
            KeyValue::new("probe.severity", self.severity.as_str()),
        ]
    }
}

/// The category of a probe id: its first segment (`headers` for `headers/hsts`).
pub fn category(probe_id: &str) -> &str {
    probe_id.split('/').next().unwrap_or(probe_id)
}

/// The span for one run, named `probe <probe.id>`, carrying the series' labels; fill the
/// rest in with [`finish_run_span`].
pub fn run_span(labels: &SeriesLabels) -> tracing::Span {
    tracing::info_span!(
        "probe",
        otel.name = %format_args!("probe {}", labels.probe_id),
        probe.id = labels.probe_id,
        target.name = labels.target_name,
        probe.severity = labels.severity.as_str(),
        outcome = Empty,
        url.full = Empty,
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
        tls.protocol.name = Empty,
        tls.protocol.version = Empty,
        tls.cipher = Empty,
        tls.server.hash.sha256 = Empty,
        tls.server.not_after = Empty,
        tls.server.not_before = Empty,
        tls.server.subject = Empty,
        tls.server.issuer = Empty,
        software.name = Empty,
        software.version = Empty,
        error.type = Empty,
        picket.wait_ms = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    )
}

/// Records a run's result on its span: `outcome`, `url.full` (already scrubbed of secrets),
/// `server.address`, `server.port`, `http.response.status_code`, `picket.wait_ms` (time
/// queued for permits and rate slots), and on error `error.type` with an error status. A
/// failed check is not an error of the run.
pub fn finish_run_span(span: &tracing::Span, result: &RunResult) {
    span.record("outcome", result.outcome.as_str());
    span.record("url.full", result.url.as_str());
    span.record("server.address", result.server_address.as_str());
    span.record("server.port", u64::from(result.server_port));
    // The span starts once the run is admitted (permits and first rate slot); this is the
    // run's whole wait, the same as `wait_ms` in `check --format json`.
    span.record(
        "picket.wait_ms",
        u64::try_from(result.wait.as_millis()).unwrap_or(u64::MAX),
    );
    if let Some(status) = result.status {
        span.record("http.response.status_code", u64::from(status));
    }
    // Kind-specific attributes; only names declared in `run_span` are kept by `tracing`.
    for (key, value) in &result.attributes {
        span.record(*key, value.as_str());
    }
    if let Outcome::Error(error) = &result.outcome {
        span.record("error.type", error.kind.as_str());
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", error.message.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_the_first_segment() {
        assert_eq!(category("headers/hsts"), "headers");
        assert_eq!(category("tls"), "tls");
    }
}
