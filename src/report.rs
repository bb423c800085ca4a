//! Output of `picket check`: text for people, JSON (SPEC §6), SARIF 2.1.0 and JUnit XML for
//! CI systems. Every format is built from the same [`Report`].

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::Acceptance;
use crate::outcome::{Finding, Outcome, RunResult, severity_of};
use crate::plan::{Series, Skipped};
use crate::probe::Probe;
use crate::units::Severity;

/// One series' result, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    /// Probe id.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// The severity of this result: the highest of its findings' (a probe may grade its
    /// checks), else the probe's.
    pub severity: Severity,
    /// The probe's declared severity (not in JSON; SARIF's rule default).
    #[serde(skip)]
    pub probe_severity: Severity,
    /// `pass`, `fail`, `error` or `skip`.
    pub outcome: &'static str,
    /// How long the exchange with the target took, in milliseconds; queueing for
    /// concurrency permits and rate slots is not in it.
    pub duration_ms: u64,
    /// How long the run queued for concurrency permits and per-target rate slots, in
    /// milliseconds.
    pub wait_ms: u64,
    /// Failed checks.
    pub findings: Vec<Finding>,
    /// Error message when the outcome is `error`.
    pub error: Option<String>,
    /// Why nothing was judged, when the outcome is `skip` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The acceptance that holds for the series (SPEC §3b), whatever its outcome; absent
    /// when none does. A failing row under one is shown as accepted and never fails the gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
    /// Probe title (not in JSON; used by text, SARIF and JUnit).
    #[serde(skip)]
    pub name: String,
    /// Probe remediation (not in JSON).
    #[serde(skip)]
    pub remediation: Option<String>,
    /// Probe references (not in JSON).
    #[serde(skip)]
    pub references: Vec<String>,
    /// A nuclei template's classification (not in JSON; SARIF rule properties).
    #[serde(skip)]
    pub classification: Vec<(String, String)>,
    /// The URL of the first request, secrets removed (not in JSON).
    #[serde(skip)]
    pub url: String,
}

/// An accepted risk as a report shows it: `{"until": "2027-03-31", "reason": "…"}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Accepted {
    /// The last day accepted (`2027-03-31`), or the instant it ends (`2027-03-31T12:00:00Z`).
    pub until: String,
    /// Why it is accepted.
    pub reason: String,
}

impl Accepted {
    /// How `acceptance` is shown.
    pub fn of(acceptance: &Acceptance) -> Accepted {
        Accepted {
            until: acceptance.until.to_string(),
            reason: acceptance.reason.clone(),
        }
    }

    /// `accepted until 2027-03-31: CSP rollout, ticket SEC-123`
    pub fn sentence(&self) -> String {
        format!("accepted until {}: {}", self.until, self.reason)
    }
}

impl ResultRow {
    /// Whether the row failed under an acceptance that holds: shown as `ACCEPTED`, counted
    /// apart from the failures, and never failing the gate.
    pub fn is_accepted(&self) -> bool {
        self.outcome == "fail" && self.accepted.is_some()
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Series run.
    pub series: usize,
    /// Passed.
    pub pass: usize,
    /// Failed (failures under an acceptance are counted in `accepted` instead).
    pub fail: usize,
    /// Errored.
    pub error: usize,
    /// Skipped: the probe did not apply to the target (a variable it needs is not declared) or
    /// to what the target answered (a redirect to another origin).
    pub skip: usize,
    /// Failed under an acceptance that holds (absent when none did, so that a report without
    /// acceptances reads as before).
    #[serde(skip_serializing_if = "is_zero")]
    pub accepted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Everything `picket check` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One row per series, sorted by probe then target.
    pub results: Vec<ResultRow>,
    /// Totals.
    pub summary: Summary,
}

impl Report {
    /// Builds the report from series and their results (same order), and the pairs the plan
    /// skipped (their `probes` looked up by id), which show as `skip` rows. A series' acceptance
    /// is shown when it holds at `now`.
    pub fn new(
        series: &[Series],
        results: Vec<RunResult>,
        skipped: &[Skipped],
        probes: &[std::sync::Arc<Probe>],
        now: SystemTime,
    ) -> Report {
        let mut rows: Vec<ResultRow> = series
            .iter()
            .zip(results)
            .map(|(s, r)| ResultRow {
                probe: s.probe.id.clone(),
                target: s.target.name.clone(),
                severity: severity_of(r.outcome.findings(), s.probe.severity),
                probe_severity: s.probe.severity,
                outcome: r.outcome.as_str(),
                duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
                wait_ms: u64::try_from(r.wait.as_millis()).unwrap_or(u64::MAX),
                findings: r.outcome.findings().to_vec(),
                error: match &r.outcome {
                    Outcome::Error(e) => Some(e.to_string()),
                    _ => None,
                },
                skipped: r.outcome.skip_reason().map(str::to_string),
                accepted: s.accepted_at(now).map(|a| Accepted::of(a)),
                name: s.probe.name.clone(),
                remediation: s.probe.remediation.clone(),
                references: s.probe.references.clone(),
                classification: s.probe.classification.clone(),
                url: r.url,
            })
            .collect();
        rows.extend(skipped.iter().filter_map(|k| {
            let probe = probes.iter().find(|p| p.id == k.probe)?;
            Some(ResultRow {
                probe: k.probe.clone(),
                target: k.target.clone(),
                severity: probe.severity,
                probe_severity: probe.severity,
                outcome: "skip",
                duration_ms: 0,
                wait_ms: 0,
                findings: Vec::new(),
                error: None,
                skipped: Some(k.reason.to_string()),
                accepted: None,
                name: probe.name.clone(),
                remediation: probe.remediation.clone(),
                references: probe.references.clone(),
                classification: probe.classification.clone(),
                url: String::new(),
            })
        }));
        Report::from_rows(rows)
    }

    /// The report of `rows`, sorted by probe then target, with their totals.
    fn from_rows(mut rows: Vec<ResultRow>) -> Report {
        rows.sort_unstable_by(|a, b| (&a.probe, &a.target).cmp(&(&b.probe, &b.target)));
        let mut summary = Summary {
            series: rows.len(),
            ..Summary::default()
        };
        for r in &rows {
            match r.outcome {
                "pass" => summary.pass += 1,
                "fail" if r.is_accepted() => summary.accepted += 1,
                "fail" => summary.fail += 1,
                "skip" => summary.skip += 1,
                _ => summary.error += 1,
            }
        }
        Report {
            results: rows,
            summary,
        }
    }

    /// Whether any failed series is at or above `threshold`; failures under an acceptance
    /// that holds never count.
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.results
            .iter()
            .any(|r| r.outcome == "fail" && !r.is_accepted() && r.severity >= threshold)
    }

    /// The SPEC JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Plain text: one line per series, findings indented below failures, in words. With
    /// `verbose`, each finding also shows its technical detail (regexes) and own severity.
    /// The probe and target columns are as wide as their longest value. A failure under an
    /// acceptance is marked `ACCEPTED`, with the acceptance on the line under it.
    pub fn to_text(&self, verbose: bool) -> String {
        let mut out = String::new();
        let width = |field: fn(&ResultRow) -> &str| {
            self.results
                .iter()
                .map(|r| field(r).chars().count())
                .max()
                .unwrap_or(0)
        };
        let pw = width(|r| &r.probe);
        let tw = width(|r| &r.target);
        // The outcome column widens for `ACCEPTED` only when a row shows it.
        let mw = if self.summary.accepted > 0 { 8 } else { 5 };
        for r in &self.results {
            let mark = match r.outcome {
                "pass" => "PASS",
                "fail" if r.is_accepted() => "ACCEPTED",
                "fail" => "FAIL",
                "skip" => "SKIP",
                _ => "ERROR",
            };
            let _ = writeln!(
                out,
                "{mark:<mw$} {:<pw$}  {:<tw$}  {:<8} {}ms",
                r.probe, r.target, r.severity, r.duration_ms
            );
            if let Some(accepted) = r.accepted.as_ref().filter(|_| r.is_accepted()) {
                let _ = writeln!(out, "      {}", accepted.sentence());
            }
            for f in &r.findings {
                let _ = writeln!(out, "      - {}", f.check);
                let _ = writeln!(out, "          expected: {}", f.expected);
                let _ = writeln!(out, "          observed: {}", f.observed);
                if verbose {
                    if let Some(severity) = f.severity {
                        let _ = writeln!(out, "          severity: {severity}");
                    }
                    if let Some(detail) = &f.detail {
                        let _ = writeln!(out, "          detail:   {detail}");
                    }
                }
            }
            if let Some(e) = &r.error {
                let _ = writeln!(out, "      {e}");
            }
            if let Some(reason) = &r.skipped {
                let _ = writeln!(out, "      skipped: {reason}");
            }
        }
        let s = &self.summary;
        let _ = write!(
            out,
            "\n{} series: {} pass, {} fail, {} error, {} skip",
            s.series, s.pass, s.fail, s.error, s.skip
        );
        if s.accepted > 0 {
            let _ = write!(out, ", {} accepted", s.accepted);
        }
        out.push('\n');
        out
    }

    /// SARIF 2.1.0: one rule per probe, one result per finding (and one per error).
    pub fn to_sarif(&self) -> String {
        let mut rules: Vec<serde_json::Value> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.results {
            if seen.insert(r.probe.clone()) {
                let mut properties = serde_json::Map::new();
                properties.insert(
                    "security-severity".into(),
                    security_severity(r.probe_severity).into(),
                );
                for (key, value) in &r.classification {
                    properties.insert(key.clone(), value.clone().into());
                }
                let mut rule = serde_json::json!({
                    "id": r.probe,
                    "name": r.name,
                    "shortDescription": { "text": r.name },
                    "defaultConfiguration": { "level": sarif_level(r.probe_severity) },
                    "properties": properties,
                });
                // SARIF has no null: a probe without remediation or references (a team's
                // probe, most nuclei templates) leaves the fields out.
                if let Some(help) = r.remediation.as_deref().filter(|h| !h.trim().is_empty()) {
                    rule["help"] = serde_json::json!({ "text": help });
                }
                if let Some(uri) = r.references.iter().find_map(|u| url::Url::parse(u).ok()) {
                    rule["helpUri"] = uri_reference(uri.as_str()).into();
                }
                rules.push(rule);
            }
        }
        let mut results = Vec::new();
        for r in &self.results {
            for f in &r.findings {
                let severity = f.severity.unwrap_or(r.probe_severity);
                let mut properties = serde_json::json!({
                    "target": r.target,
                    "security-severity": security_severity(severity),
                });
                if let Some(detail) = &f.detail {
                    properties["detail"] = detail.as_str().into();
                }
                let mut result = serde_json::json!({
                    "ruleId": r.probe,
                    "level": sarif_level(severity),
                    "properties": properties,
                    "message": { "text": format!("{}: {}", r.target, f.sentence()) },
                });
                add_location(&mut result, &r.url);
                if let Some(accepted) = r.accepted.as_ref().filter(|_| r.is_accepted()) {
                    // GitHub code scanning and other SARIF viewers hide a suppressed result
                    // and show its justification.
                    result["suppressions"] = serde_json::json!([{
                        "kind": "external",
                        "justification": accepted.reason,
                    }]);
                }
                results.push(result);
            }
            if let Some(e) = &r.error {
                let mut result = serde_json::json!({
                    "ruleId": r.probe,
                    "level": "none",
                    "kind": "review",
                    "message": { "text": format!("{}: could not evaluate: {e}", r.target) },
                });
                add_location(&mut result, &r.url);
                results.push(result);
            }
            if let Some(reason) = &r.skipped {
                results.push(serde_json::json!({
                    "ruleId": r.probe,
                    "level": "none",
                    "kind": "notApplicable",
                    "message": { "text": format!("{}: skipped: {reason}", r.target) },
                }));
            }
        }
        let doc = serde_json::json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "picket",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }},
                "results": results,
            }],
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// JUnit XML: one testcase per series. A series with a finding at or above `fail_on`
    /// (the threshold of the exit code) is a failure carrying its findings; one whose
    /// findings are all below it passes, with the findings in `<system-out>` so a CI report
    /// shows them without failing the build the exit code let through. A failure under an
    /// acceptance is skipped, with the acceptance as the message.
    pub fn to_junit(&self, fail_on: Severity) -> String {
        let s = &self.summary;
        let failures = self
            .results
            .iter()
            .filter(|r| r.outcome == "fail" && !r.is_accepted() && r.severity >= fail_on)
            .count();
        let total_ms: u64 = self.results.iter().map(|r| r.duration_ms).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"picket\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" time=\"{:.3}\">",
            s.series,
            s.error,
            total_ms as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"picket check\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"{}\">",
            s.series,
            s.error,
            s.skip + s.accepted
        );
        for r in &self.results {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(&r.target),
                xml(&r.probe),
                r.duration_ms as f64 / 1000.0
            );
            let text: Vec<String> = r.findings.iter().map(Finding::sentence).collect();
            match r.outcome {
                "pass" => out.push_str("/>\n"),
                "fail" if r.is_accepted() => {
                    let sentence = r.accepted.as_ref().map(Accepted::sentence);
                    out.push_str(">\n");
                    let _ = writeln!(
                        out,
                        "      <skipped message=\"{}\"/>",
                        xml(sentence.as_deref().unwrap_or("accepted"))
                    );
                    let _ = writeln!(
                        out,
                        "      <system-out>{}</system-out>",
                        xml(&format!(
                            "{} finding(s), severity {}, accepted:\n{}",
                            r.findings.len(),
                            r.severity,
                            text.join("\n")
                        ))
                    );
                    out.push_str("    </testcase>\n");
                }
                "fail" if r.severity >= fail_on => {
                    out.push_str(">\n");
                    let _ = writeln!(
                        out,
                        "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                        r.severity,
                        xml(&format!(
                            "{} finding(s), severity {}",
                            r.findings.len(),
                            r.severity
                        )),
                        xml(&text.join("\n"))
                    );
                    out.push_str("    </testcase>\n");
                }
                "fail" => {
                    out.push_str(">\n");
                    let _ = writeln!(
                        out,
                        "      <system-out>{}</system-out>",
                        xml(&format!(
                            "{} finding(s), severity {}, below --fail-on {fail_on}:\n{}",
                            r.findings.len(),
                            r.severity,
                            text.join("\n")
                        ))
                    );
                    out.push_str("    </testcase>\n");
                }
                "skip" => {
                    out.push_str(">\n");
                    let _ = writeln!(
                        out,
                        "      <skipped message=\"{}\"/>",
                        xml(r.skipped.as_deref().unwrap_or("skipped"))
                    );
                    out.push_str("    </testcase>\n");
                }
                _ => {
                    out.push_str(">\n");
                    let _ = writeln!(
                        out,
                        "      <error message=\"{}\"/>",
                        xml(r.error.as_deref().unwrap_or("error"))
                    );
                    out.push_str("    </testcase>\n");
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Adds the URL a result is about as its location; none when the run never got to a URL.
fn add_location(result: &mut serde_json::Value, url: &str) {
    if url.is_empty() {
        return;
    }
    result["locations"] = serde_json::json!([{
        "physicalLocation": { "artifactLocation": { "uri": uri_reference(url) } }
    }]);
}

/// `text` as an RFC 3986 URI reference, as SARIF's `artifactLocation.uri` and `helpUri`
/// must be: every character outside the URI character set is percent-encoded (a redacted
/// secret shows as `<redacted>`, whose brackets a URI cannot hold, and WHATWG URLs keep `^`
/// or `|` as they are); existing `%` escapes stay as they are.
fn uri_reference(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let escape = c == '%'
            && text
                .get(i + 1..i + 3)
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let allowed = c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=".contains(c);
        if allowed || escape {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "note",
        Severity::Low | Severity::Medium => "warning",
        Severity::High | Severity::Critical => "error",
    }
}

/// GitHub code scanning reads this property to rank security results.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "0.0",
        Severity::Low => "3.0",
        Severity::Medium => "5.0",
        Severity::High => "8.0",
        Severity::Critical => "9.5",
    }
}

/// Escapes text for XML attributes and content. Control characters are written out as
/// `\u{1b}` first: XML 1.0 forbids most C0 characters even as character references, and C1
/// ones, though allowed, are terminal escapes when a CI log prints the report.
fn xml(text: &str) -> String {
    crate::redact::html_escape(&crate::term::escape_controls(text), "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_references_percent_encode_what_a_uri_cannot_hold() {
        assert_eq!(
            uri_reference("https://127.0.0.1:8443/a?t=<redacted>&x=^|é%20"),
            "https://127.0.0.1:8443/a?t=%3Credacted%3E&x=%5E%7C%C3%A9%20"
        );
        assert_eq!(uri_reference("tcp://[::1]:22"), "tcp://[::1]:22");
        assert_eq!(uri_reference("/50%off%2"), "/50%25off%252");
    }

    /// A row of `probe` on `target` with `outcome` (one finding when it failed).
    fn row(probe: &str, target: &str, outcome: &'static str) -> ResultRow {
        ResultRow {
            probe: probe.into(),
            target: target.into(),
            severity: Severity::Medium,
            probe_severity: Severity::Medium,
            outcome,
            duration_ms: 3,
            wait_ms: 0,
            findings: if outcome == "fail" {
                vec![Finding {
                    check: "header content-security-policy present".into(),
                    expected: "present".into(),
                    observed: "absent".into(),
                    detail: None,
                    severity: None,
                }]
            } else {
                Vec::new()
            },
            error: None,
            skipped: None,
            accepted: None,
            name: "CSP set".into(),
            remediation: None,
            references: Vec::new(),
            classification: Vec::new(),
            url: "http://127.0.0.1:1/".into(),
        }
    }

    fn accepted() -> Option<Accepted> {
        Some(Accepted {
            until: "2027-03-31".into(),
            reason: "CSP rollout, ticket SEC-123".into(),
        })
    }

    #[test]
    fn an_accepted_failure_is_shown_apart_and_never_fails_the_gate() {
        let mut legacy = row("headers/csp", "legacy", "fail");
        legacy.accepted = accepted();
        let mut passing = row("headers/hsts", "legacy", "pass");
        passing.accepted = accepted();
        let report = Report::from_rows(vec![legacy, passing, row("headers/csp", "web", "pass")]);
        assert_eq!(
            report.summary,
            Summary {
                series: 3,
                pass: 2,
                fail: 0,
                error: 0,
                skip: 0,
                accepted: 1
            }
        );
        assert!(!report.fails_at(Severity::Info));
        let text = report.to_text(false);
        assert_eq!(
            text,
            "ACCEPTED headers/csp   legacy  medium   3ms\n\
             \x20     accepted until 2027-03-31: CSP rollout, ticket SEC-123\n\
             \x20     - header content-security-policy present\n\
             \x20         expected: present\n\
             \x20         observed: absent\n\
             PASS     headers/csp   web     medium   3ms\n\
             PASS     headers/hsts  legacy  medium   3ms\n\
             \n3 series: 2 pass, 0 fail, 0 error, 0 skip, 1 accepted\n"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["summary"]["accepted"], 1);
        assert_eq!(json["results"][0]["outcome"], "fail");
        assert_eq!(
            json["results"][0]["accepted"],
            serde_json::json!({"until": "2027-03-31", "reason": "CSP rollout, ticket SEC-123"})
        );
        // A passing series under an acceptance carries it too; one without has none.
        assert_eq!(json["results"][2]["accepted"]["until"], "2027-03-31");
        assert!(json["results"][1].get("accepted").is_none());

        let sarif: serde_json::Value = serde_json::from_str(&report.to_sarif()).unwrap();
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(
            results[0]["suppressions"],
            serde_json::json!([{"kind": "external", "justification": "CSP rollout, ticket SEC-123"}])
        );

        let junit = report.to_junit(Severity::Info);
        assert!(junit.contains("failures=\"0\""), "{junit}");
        assert!(junit.contains("skipped=\"1\""), "{junit}");
        assert!(
            junit.contains(
                "<skipped message=\"accepted until 2027-03-31: CSP rollout, ticket SEC-123\"/>"
            ),
            "{junit}"
        );
        assert!(!junit.contains("<failure"), "{junit}");
    }

    #[test]
    fn without_acceptances_the_outputs_read_as_before() {
        let report = Report::from_rows(vec![
            row("headers/csp", "web", "fail"),
            row("headers/hsts", "web", "pass"),
        ]);
        assert!(report.fails_at(Severity::Medium));
        assert_eq!(
            report.to_text(false),
            "FAIL  headers/csp   web  medium   3ms\n\
             \x20     - header content-security-policy present\n\
             \x20         expected: present\n\
             \x20         observed: absent\n\
             PASS  headers/hsts  web  medium   3ms\n\
             \n2 series: 1 pass, 1 fail, 0 error, 0 skip\n"
        );
        let json = report.to_json();
        assert!(!json.contains("accepted"), "{json}");
        assert!(!report.to_sarif().contains("suppressions"));
        let junit = report.to_junit(Severity::Low);
        assert!(junit.contains("<failure type=\"medium\""), "{junit}");
        assert!(junit.contains("skipped=\"0\""), "{junit}");
    }

    #[test]
    fn xml_escapes() {
        assert_eq!(
            xml("a<b & \"c\"\u{1}\u{9b}\n"),
            "a&lt;b &amp; &quot;c&quot;\\u{1}\\u{9b}\n"
        );
    }
}
