//! HTTP checks: what must hold about a response, and their evaluation.
//!
//! A failed check is data, not an error: [`evaluate`] returns the [`Finding`]s (expected vs
//! observed) and never fails. Only the runner deals with infrastructure faults. Evaluation is
//! pure, over a [`Response`] the runner captured, so every check is testable without a network.
//!
//! A body read only up to `max_body_bytes` decides nothing silently. Checks are three-valued
//! (Kleene logic): a check whose verdict could change with the unread rest of a truncated body
//! is *undecided* — `contains`/`matches` that find nothing in the prefix, `not_contains`/
//! `not_matches` that find nothing either, every `json` check, a `response_time` that has not
//! yet run out. What the prefix already proves stays decided: a text found in it is in the
//! whole body, and a pattern anchored at the start that no continuation could complete
//! (`\A\s*\{` on `<html>`) is in none. `all_of` fails if any inner check fails, `any_of` holds if any inner check
//! holds, `not` of an undecided check is undecided. [`Evaluation::undecided`] names the checks
//! left open, and the runner turns them into an `error` outcome when nothing failed outright.
//!
//! This file holds the [`Check`] enum, [`evaluate`] and the dispatch to one file per concept:
//! `describe` (titles, expectations, sentences), `header`, `body` (text, regex, JSON, dates and
//! what a truncated body decides), `cookies`, `csp_checks` (glue to [`super::csp`]) and
//! `location` (redirects).

use std::fmt;
use std::time::Duration;

use http::{HeaderName, StatusCode};
use regex::Regex;

use super::csp::ScriptKeyword;
pub use super::response::{Response, header_display};
use super::{Graded, Interrupt, list_words};
use crate::outcome::Finding;
use crate::redact::Redactor;
use crate::units::format_duration;

mod body;
mod cookies;
mod csp_checks;
mod describe;
mod header;
mod location;

use body::{body_text, decisive_match, evaluate_body, evaluate_json, excerpt, matched};
use cookies::evaluate_cookies;
pub use cookies::session_like;
use csp_checks::evaluate_csp;
use describe::status_words;
use header::{distinct_header_value, evaluate_header, header_value, last_known_token};
use location::evaluate_location;

/// A set of acceptable status codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<StatusItem>);

/// One entry of a [`StatusSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// An exact code.
    Code(u16),
    /// A class such as `4xx` (stored as its first digit).
    Class(u16),
}

impl StatusSet {
    fn contains(&self, status: StatusCode) -> bool {
        let code = status.as_u16();
        self.0.iter().any(|item| match item {
            StatusItem::Code(c) => *c == code,
            StatusItem::Class(class) => code / 100 == *class,
        })
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|item| match item {
                StatusItem::Code(c) => c.to_string(),
                StatusItem::Class(c) => format!("{c}xx"),
            })
            .collect();
        f.write_str(&items.join(", "))
    }
}

/// What a header check asserts.
#[derive(Debug, Clone)]
pub enum HeaderTest {
    /// The header is sent.
    Present,
    /// The header is not sent.
    Absent,
    /// The (combined) value equals this exactly.
    Equals(String),
    /// The header is absent or its value differs from this.
    NotEquals(String),
    /// The value contains this substring (case-sensitive).
    Contains(String),
    /// The value matches this regex somewhere.
    Matches(Regex),
    /// The header is absent or its value matches this regex nowhere.
    NotMatches(Regex),
    /// The regex's first group, read as a number, is within bounds.
    Capture {
        /// Regex with at least one group.
        regex: Regex,
        /// Inclusive lower bound.
        at_least: Option<f64>,
        /// Inclusive upper bound.
        at_most: Option<f64>,
    },
}

/// What a `csp` check asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CspTest {
    /// At least one directive, and no token that is not one.
    Parsable,
    /// Some policy has this directive (lowercase name).
    HasDirective(String),
    /// Some header policy's `frame-ancestors` lets no site but those it names frame the page.
    RestrictsFraming,
    /// The policies together do not let these keywords through for scripts.
    ForbidScriptKeywords(Vec<ScriptKeyword>),
}

/// What a body check asserts.
#[derive(Debug, Clone)]
pub enum BodyTest {
    /// The body contains this text.
    Contains(String),
    /// The body does not contain this text.
    NotContains(String),
    /// The body matches this regex somewhere.
    Matches(Regex),
    /// The body matches this regex nowhere.
    NotMatches(Regex),
    /// The regex's first group, at its first match, is an RFC 3339 date-time later than now
    /// (`after_now: true`) or not later (`false`). No match fails.
    CaptureDate {
        /// Regex with at least one group.
        regex: Regex,
        /// Whether the date must lie in the future.
        after_now: bool,
    },
}

/// What a JSON check asserts about the value at a pointer.
#[derive(Debug, Clone)]
pub enum JsonTest {
    /// The value equals this.
    Equals(serde_json::Value),
    /// The value is missing or differs from this.
    NotEquals(serde_json::Value),
    /// A value exists at the pointer (or, with `false`, does not).
    Present(bool),
}

/// A cookie attribute that every cookie must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieFlag {
    /// `Secure`.
    Secure,
    /// `HttpOnly`.
    HttpOnly,
}

/// SameSite levels, ordered from weakest to strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SameSite {
    /// `SameSite=None`.
    None,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=Strict`.
    Strict,
}

impl SameSite {
    /// Parses a SameSite value, case-insensitively.
    pub fn parse(text: &str) -> Option<SameSite> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Some(SameSite::None),
            "lax" => Some(SameSite::Lax),
            "strict" => Some(SameSite::Strict),
            _ => None,
        }
    }

    /// The value as `Set-Cookie` writes it.
    fn name(self) -> &'static str {
        match self {
            SameSite::None => "None",
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        }
    }
}

/// One check of a probe.
#[derive(Debug, Clone)]
pub enum Check {
    /// The status code is one of a set.
    Status(StatusSet),
    /// A response header assertion.
    Header {
        /// Header name (case-insensitive).
        name: HeaderName,
        /// The assertion.
        test: HeaderTest,
        /// Read the header's comma-separated values as a set: a value repeated (in one line or
        /// several, compared case-insensitively) counts once.
        distinct: bool,
    },
    /// An assertion on the response's Content-Security-Policy, parsed as browsers do.
    Csp {
        /// The assertion.
        test: CspTest,
        /// Whether policies in `<meta http-equiv>` of an HTML body count.
        meta: bool,
    },
    /// The response redirects, and where to.
    Location {
        /// The scheme the resolved `Location` must have (`https`).
        scheme: Option<String>,
        /// Whether its host must be the request's (`true`) or another (`false`).
        same_host: Option<bool>,
    },
    /// A body assertion.
    Body(BodyTest),
    /// An assertion on a JSON body at an RFC 6901 pointer.
    Json {
        /// The pointer, e.g. `/debug`.
        pointer: String,
        /// The assertion.
        test: JsonTest,
    },
    /// Every `Set-Cookie` (or, with `session_like`, those of one kind of name) carries these
    /// flags, at least this SameSite, a valid SameSite, and keeps the rules of its name prefix.
    /// Each cookie and each rule it breaks is one finding.
    Cookies {
        /// Required flags.
        all_have: Vec<CookieFlag>,
        /// Minimum SameSite.
        samesite_at_least: Option<SameSite>,
        /// Only cookies whose name looks like a session's (`true`) or does not (`false`).
        session_like: Option<bool>,
        /// SameSite, when given, is `Strict`, `Lax` or `None`, and `None` comes with `Secure`.
        samesite_valid: bool,
        /// `__Host-` cookies are Secure, `Path=/` and without Domain; `__Secure-` are Secure.
        prefix_rules: bool,
    },
    /// A header read as its last comma-separated token that is one of `known` (compared
    /// case-insensitively), as browsers read a list header whose unknown tokens they skip;
    /// with no known token, the header counts as absent.
    HeaderToken {
        /// Header name (case-insensitive).
        name: HeaderName,
        /// The tokens recognised, lowercase.
        known: Vec<String>,
        /// The assertion on that token.
        test: HeaderTest,
    },
    /// The response arrived within this time.
    ResponseTime {
        /// Upper bound, exclusive.
        below: Duration,
    },
    /// Every inner check holds (one finding naming those that did not).
    AllOf(Vec<Check>),
    /// At least one inner check holds.
    AnyOf(Vec<Check>),
    /// The inner check does not hold. `not: { all_of: [...] }` describes an exposure:
    /// "it must not be that the status is 200 and the body has `[core]` and no `<html`".
    Not(Box<Check>),
    /// A nuclei template's matchers must not match (each match is a finding).
    Nuclei(super::nuclei::Matchers),
    /// The software the response names is supported, or not below a floor (only at the top
    /// level of a probe's checks).
    Software(super::software::SoftwareCheck),
}

impl Check {
    /// Whether evaluating the check can take time that grows with the body or with a pattern
    /// list: a body, JSON, nuclei or software check, or a policy read from the body's
    /// `<meta>` tags. The others read the status and headers only, which the client caps.
    pub fn reads_body(&self) -> bool {
        match self {
            Check::Status(_)
            | Check::Header { .. }
            | Check::HeaderToken { .. }
            | Check::Location { .. }
            | Check::Cookies { .. }
            | Check::ResponseTime { .. } => false,
            Check::Csp { meta, .. } => *meta,
            Check::Body(_) | Check::Json { .. } | Check::Nuclei(_) | Check::Software(_) => true,
            Check::AllOf(all) | Check::AnyOf(all) => all.iter().any(Check::reads_body),
            Check::Not(inner) => inner.reads_body(),
        }
    }
}

/// What the checks of a probe concluded about one response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// The checks that failed, whatever the unread rest of the body.
    pub findings: Vec<Finding>,
    /// The checks (as [`Check::describe`] names them) that the truncated body could not decide.
    /// Always empty for a body read in full.
    pub undecided: Vec<String>,
}

/// The verdict of one check, in three-valued (Kleene) logic.
#[derive(Debug)]
enum Verdict {
    /// The check holds.
    Holds,
    /// The check fails, with its findings.
    Fails(Vec<Finding>),
    /// The body was truncated and its unread rest could change the verdict.
    Undecided,
}

impl Verdict {
    fn holds(&self) -> bool {
        matches!(self, Verdict::Holds)
    }

    /// `Holds` when there is no finding, else `Fails`.
    fn from_finding(finding: Option<Finding>) -> Verdict {
        finding.map_or(Verdict::Holds, |f| Verdict::Fails(vec![f]))
    }
}

/// Evaluates every check against one response: the failed checks and the undecided ones.
/// What findings quote of the body is cut with `redactor` (the runner's, holding its
/// configuration's secrets), widened over any secret at the cut and scrubbed.
pub fn evaluate(checks: &[Graded<Check>], response: &Response, redactor: &Redactor) -> Evaluation {
    let mut evaluation = Evaluation::default();
    evaluate_into(
        checks,
        response,
        redactor,
        crate::software::data::builtin(),
        &Interrupt::new(),
        &mut evaluation,
    );
    evaluation
}

/// Like [`evaluate`], giving up with `None` once `stop` is set (the runner sets it when it no
/// longer waits for the result). Checks are looked at one by one, and the long ones (nuclei
/// words and regexes) look at `stop` as they go, so little work goes on after it is set.
pub fn evaluate_until(
    checks: &[Graded<Check>],
    response: &Response,
    redactor: &Redactor,
    software: &crate::software::data::Table,
    stop: &Interrupt,
) -> Option<Evaluation> {
    let mut evaluation = Evaluation::default();
    evaluate_into(checks, response, redactor, software, stop, &mut evaluation);
    (!stop.is_set()).then_some(evaluation)
}

fn evaluate_into(
    checks: &[Graded<Check>],
    response: &Response,
    redactor: &Redactor,
    software: &crate::software::data::Table,
    stop: &Interrupt,
    evaluation: &mut Evaluation,
) {
    let cx = Cx {
        stop,
        redactor,
        json: std::cell::OnceCell::new(),
        software,
        identified: std::cell::OnceCell::new(),
    };
    let mut software = Vec::new();
    for graded in checks {
        if stop.is_set() {
            return;
        }
        match evaluate_one(&graded.check, response, &cx) {
            Verdict::Holds => {}
            Verdict::Fails(mut findings) => {
                graded.stamp(&mut findings);
                if matches!(graded.check, Check::Software(_)) {
                    super::software::merge_findings(&mut software, findings);
                } else {
                    evaluation.findings.extend(findings);
                }
            }
            Verdict::Undecided => evaluation
                .undecided
                .push(graded.title.clone().unwrap_or_else(|| graded.check.title())),
        }
    }
    evaluation.findings.extend(software);
}

/// A finding with the observed value whole: it is clipped by [`Finding::redacted`] only
/// after secrets are scrubbed, since clipping first could leave a fragment of one behind.
fn finding(check: &Check, expected: impl Into<String>, observed: impl Into<String>) -> Finding {
    Finding {
        check: check.title(),
        expected: expected.into(),
        observed: observed.into(),
        detail: check.has_regex().then(|| check.describe()),
        severity: None,
    }
}

/// What the checks of one evaluation share: the interrupt, the redactor that body excerpts
/// are cut with, and the body parsed as JSON once for all `json` checks (each parsing it
/// again made their cost the body times their number).
struct Cx<'a> {
    stop: &'a Interrupt,
    redactor: &'a Redactor,
    json: std::cell::OnceCell<Result<serde_json::Value, String>>,
    /// The release data `software` checks judge by, and what the response names (found
    /// once for every `software` check).
    software: &'a crate::software::data::Table,
    identified: std::cell::OnceCell<Vec<crate::software::identify::Identified>>,
}

/// The products a response names: its headers, and its body (meta generator, status JSON).
pub fn identify_response(response: &Response) -> Vec<crate::software::identify::Identified> {
    crate::software::identify::identify(
        response
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
        &response.body,
        &[],
    )
}

fn evaluate_one(check: &Check, response: &Response, cx: &Cx<'_>) -> Verdict {
    if cx.stop.is_set() {
        return Verdict::Undecided;
    }
    match check {
        Check::Status(set) => Verdict::from_finding((!set.contains(response.status)).then(|| {
            finding(
                check,
                format!("status {}", status_words(set)),
                format!("status {}", response.status.as_u16()),
            )
        })),
        Check::Header {
            name,
            test,
            distinct,
        } => {
            let value = if *distinct {
                distinct_header_value(&response.headers, name)
            } else {
                header_value(&response.headers, name)
            };
            Verdict::from_finding(evaluate_header(check, test, value.as_deref()))
        }
        Check::Csp { test, meta } => evaluate_csp(check, test, *meta, response),
        Check::Location { scheme, same_host } => Verdict::from_finding(evaluate_location(
            check,
            scheme.as_deref(),
            *same_host,
            response,
        )),
        Check::Body(test) => evaluate_body(check, test, response, cx.redactor),
        Check::Json { pointer, test } => evaluate_json(check, pointer, test, response, cx),
        Check::Cookies { .. } => {
            let findings = evaluate_cookies(check, &response.headers);
            if findings.is_empty() {
                Verdict::Holds
            } else {
                Verdict::Fails(findings)
            }
        }
        Check::HeaderToken { name, known, test } => {
            let token = last_known_token(&response.headers, name, known);
            let finding = evaluate_header(check, test, token.as_deref()).map(|mut f| {
                // Say which value the token was read from, when it is not the whole value.
                if let Some(whole) = header_value(&response.headers, name) {
                    match &token {
                        None => {
                            f.observed = format!(
                                "{}: no recognised token in {whole:?}",
                                header_display(name)
                            );
                        }
                        Some(t) if *t != whole => {
                            f.observed =
                                format!("{} (the last recognised token of {whole:?})", f.observed);
                        }
                        Some(_) => {}
                    }
                }
                f
            });
            Verdict::from_finding(finding)
        }
        // Kleene conjunction: one failure decides; otherwise one unknown leaves it open.
        Check::AllOf(checks) => {
            let mut failed = Vec::new();
            let mut open = false;
            for c in checks {
                match evaluate_one(c, response, cx) {
                    Verdict::Holds => {}
                    Verdict::Fails(f) => failed.extend(f),
                    Verdict::Undecided => open = true,
                }
            }
            if !failed.is_empty() {
                Verdict::Fails(vec![combined(check, &failed, "and")])
            } else if open {
                Verdict::Undecided
            } else {
                Verdict::Holds
            }
        }
        // Kleene disjunction: one success decides; otherwise one unknown leaves it open.
        Check::AnyOf(checks) => {
            let mut failed = Vec::new();
            let mut open = false;
            for c in checks {
                match evaluate_one(c, response, cx) {
                    Verdict::Holds => return Verdict::Holds,
                    Verdict::Fails(f) => failed.extend(f),
                    Verdict::Undecided => open = true,
                }
            }
            if open {
                Verdict::Undecided
            } else {
                Verdict::Fails(vec![combined(check, &failed, "or")])
            }
        }
        Check::Nuclei(block) => {
            match super::nuclei::evaluate(block, response, cx.redactor, cx.stop) {
                Some(found) if found.is_empty() => Verdict::Holds,
                Some(found) => Verdict::Fails(found),
                None => Verdict::Undecided,
            }
        }
        Check::Not(inner) => match evaluate_one(inner, response, cx) {
            Verdict::Holds => Verdict::Fails(vec![finding(
                check,
                inner.negated_expectation(),
                held_text(inner, response, cx),
            )]),
            Verdict::Fails(_) => Verdict::Holds,
            Verdict::Undecided => Verdict::Undecided,
        },
        Check::Software(software) => {
            let found = cx.identified.get_or_init(|| identify_response(response));
            let findings =
                super::software::evaluate(software, found, cx.software, super::software::today());
            if findings.is_empty() {
                Verdict::Holds
            } else {
                Verdict::Fails(findings)
            }
        }
        Check::ResponseTime { below } => {
            if response.elapsed >= *below {
                Verdict::Fails(vec![finding(
                    check,
                    format!("a response within {}", format_duration(*below)),
                    format!("the response took {:.3}s", response.elapsed.as_secs_f64()),
                )])
            } else if response.truncated {
                // Reading stopped at the cap: the whole body would have taken longer.
                Verdict::Undecided
            } else {
                Verdict::Holds
            }
        }
    }
}

/// The one finding of a failed `all_of` (`and`: the parts that failed) or `any_of` (`or`: every
/// part failed): what the failed parts expected, joined in words, and what they observed, one
/// flat list without repeats (each part's observation names what it is about: `status 200`,
/// `no Content-Security-Policy`, `Server: nginx/1.22.1`). An observation that another one
/// already says (`status 200` beside `status 200, no redirect`) is left out.
fn combined(check: &Check, failed: &[Finding], conjunction: &str) -> Finding {
    let mut expected: Vec<String> = Vec::new();
    for f in failed {
        if !expected.contains(&f.expected) {
            expected.push(f.expected.clone());
        }
    }
    let observed: Vec<&str> = failed.iter().map(|f| f.observed.as_str()).collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, o) in observed.iter().enumerate() {
        let said_elsewhere = observed
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.len() > o.len() && other.contains(o));
        if !said_elsewhere && !kept.contains(o) {
            kept.push(o);
        }
    }
    finding(check, list_words(&expected, conjunction), kept.join("; "))
}

/// Says what was seen when a check held, for `not` findings: the inner checks that held,
/// with the status and a body excerpt where they concern those. What the body lacks (a
/// `not_contains` or `not_matches` that held) is no evidence and is left out.
fn held_text(check: &Check, response: &Response, cx: &Cx<'_>) -> String {
    let absence = |c: &&Check| {
        matches!(
            c,
            Check::Body(BodyTest::NotContains(_) | BodyTest::NotMatches(_))
        )
    };
    let parts: Vec<String> = match check {
        Check::AllOf(checks) => checks
            .iter()
            .filter(|c| !absence(c))
            .map(|c| seen(c, response, cx))
            .collect(),
        other => vec![seen(other, response, cx)],
    };
    parts.join("; ")
}

fn seen(check: &Check, response: &Response, cx: &Cx<'_>) -> String {
    match check {
        Check::Status(_) => format!("status {}", response.status.as_u16()),
        Check::Header { name, .. } | Check::HeaderToken { name, .. } => {
            match header_value(&response.headers, name) {
                Some(v) => format!("{}: {v}", header_display(name)),
                None => format!("{} not sent", header_display(name)),
            }
        }
        Check::Body(BodyTest::Contains(want)) => {
            let body = body_text(response);
            match body.find(want.as_str()) {
                Some(at) => format!(
                    "the body has {want:?} at byte {at}: {:?}",
                    excerpt(&body, at, want.len(), cx.redactor)
                ),
                None => check.title(),
            }
        }
        Check::Body(BodyTest::Matches(re)) => {
            let body = body_text(response);
            match decisive_match(re, &body, response.truncated) {
                Some(m) => format!(
                    "the body has {:?} at byte {}",
                    matched(&body, &m, cx.redactor),
                    m.start()
                ),
                None => check.title(),
            }
        }
        Check::AllOf(checks) => checks
            .iter()
            .map(|c| seen(c, response, cx))
            .collect::<Vec<_>>()
            .join("; "),
        // Name the alternative that held.
        Check::AnyOf(checks) => checks
            .iter()
            .find(|c| evaluate_one(c, response, cx).holds())
            .map_or_else(|| check.title(), |c| seen(c, response, cx)),
        other => other.title(),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use url::Url;

    /// Evaluates ungraded checks.
    pub(super) fn evaluate(checks: &[Check], response: &Response) -> Evaluation {
        let graded: Vec<Graded<Check>> = checks.iter().cloned().map(Graded::from).collect();
        super::evaluate(&graded, response, &Redactor::default())
    }
    use crate::check::MAX_OBSERVED_CHARS;

    pub(super) fn response(headers: &[(&str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Response {
            status: StatusCode::OK,
            headers: map,
            body: body.as_bytes().to_vec(),
            truncated: false,
            elapsed: Duration::from_millis(5),
            url: Url::parse("http://127.0.0.1:8080/").unwrap(),
        }
    }

    pub(super) fn header(name: &str, test: HeaderTest) -> Check {
        Check::Header {
            name: HeaderName::from_bytes(name.as_bytes()).unwrap(),
            test,
            distinct: false,
        }
    }

    #[test]
    fn status_classes_and_codes() {
        let check = Check::Status(StatusSet(vec![StatusItem::Code(301), StatusItem::Class(2)]));
        assert!(
            evaluate(std::slice::from_ref(&check), &response(&[], ""))
                .findings
                .is_empty()
        );
        let mut r = response(&[], "");
        r.status = StatusCode::NOT_FOUND;
        let f = evaluate(&[check], &r).findings;
        assert_eq!(f[0].expected, "status 301 or 2xx");
        assert_eq!(f[0].observed, "status 404");
        assert_eq!(f[0].check, "the status is 301 or 2xx");
    }

    #[test]
    fn long_observed_values_are_clipped() {
        let check = header("server", HeaderTest::Absent);
        let long = "x".repeat(1000);
        let f = evaluate(&[check], &response(&[("server", &long)], "")).findings;
        let shown = f[0].redacted(&Redactor::default());
        assert_eq!(shown.observed.chars().count(), MAX_OBSERVED_CHARS + 1);
    }

    #[test]
    fn secrets_are_scrubbed_before_clipping() {
        let secret = "0123456789-abcdefghijklmnopqrstuvwxyz";
        let mut redactor = Redactor::default();
        redactor.add(secret);
        let check = header("server", HeaderTest::Absent);
        // The secret straddles the clip boundary: clipping first would keep a fragment.
        let value = format!("{}{secret}", "x".repeat(MAX_OBSERVED_CHARS - 20));
        let f = evaluate(&[check], &response(&[("server", &value)], "")).findings;
        let shown = f[0].redacted(&redactor);
        assert!(!shown.observed.contains("0123456789"), "{}", shown.observed);
    }

    pub(super) fn cut(body: &[u8]) -> Response {
        Response {
            body: body.to_vec(),
            truncated: true,
            ..response(&[], "")
        }
    }

    pub(super) fn body(test: BodyTest) -> Check {
        Check::Body(test)
    }

    pub(super) fn re(pattern: &str) -> Regex {
        Regex::new(pattern).unwrap()
    }

    /// "holds", "fails" or "undecided", for compact assertions.
    pub(super) fn verdict(check: &Check, response: &Response) -> &'static str {
        let stop = Interrupt::new();
        let cx = Cx {
            stop: &stop,
            redactor: &Redactor::default(),
            json: std::cell::OnceCell::new(),
            software: crate::software::data::builtin(),
            identified: std::cell::OnceCell::new(),
        };
        match evaluate_one(check, response, &cx) {
            Verdict::Holds => "holds",
            Verdict::Fails(_) => "fails",
            Verdict::Undecided => "undecided",
        }
    }

    #[test]
    fn combinators_follow_kleene_logic() {
        let r = cut(b"status page");
        let holds = || body(BodyTest::Contains("status".into()));
        let fails = || Check::Status(StatusSet(vec![StatusItem::Code(404)]));
        let open = || body(BodyTest::NotContains("secret".into()));
        let cases = [
            (Check::AnyOf(vec![open(), holds()]), "holds"),
            (Check::AnyOf(vec![open(), fails()]), "undecided"),
            (Check::AnyOf(vec![fails(), fails()]), "fails"),
            (Check::AllOf(vec![open(), fails()]), "fails"),
            (Check::AllOf(vec![open(), holds()]), "undecided"),
            (Check::AllOf(vec![holds(), holds()]), "holds"),
            (Check::Not(Box::new(open())), "undecided"),
            (Check::Not(Box::new(holds())), "fails"),
            (Check::Not(Box::new(fails())), "holds"),
            (
                Check::Not(Box::new(Check::AllOf(vec![holds(), open()]))),
                "undecided",
            ),
        ];
        for (check, want) in cases {
            assert_eq!(verdict(&check, &r), want, "{}", check.describe());
        }
    }

    #[test]
    fn an_interrupted_evaluation_has_no_result() {
        let checks: Vec<Graded<Check>> =
            vec![Graded::from(body(BodyTest::Contains("absent".into())))];
        let response = response(&[], "a body");
        let stop = Interrupt::new();
        let table = crate::software::data::builtin();
        let done = evaluate_until(&checks, &response, &Redactor::default(), table, &stop).unwrap();
        assert_eq!(done.findings.len(), 1);
        stop.set();
        assert!(evaluate_until(&checks, &response, &Redactor::default(), table, &stop).is_none());
    }

    #[test]
    fn evaluate_names_the_undecided_checks_and_keeps_definite_findings() {
        let checks = [
            Check::Status(StatusSet(vec![StatusItem::Code(404)])),
            body(BodyTest::NotContains("secret".into())),
            Check::Json {
                pointer: "/debug".into(),
                test: JsonTest::Equals(serde_json::Value::Bool(false)),
            },
            Check::ResponseTime {
                below: Duration::from_secs(2),
            },
        ];
        let e = evaluate(&checks, &cut(b"{\"debug\": false, \"pad\": \"xxxx"));
        assert_eq!(e.findings.len(), 1);
        assert_eq!(e.findings[0].check, "the status is 404");
        assert_eq!(
            e.undecided,
            [
                "the body does not contain \"secret\"",
                "JSON /debug is false",
                "the response arrives within 2s"
            ]
        );
        // The same body read in full decides everything.
        let mut whole = cut(b"{\"debug\": false}");
        whole.truncated = false;
        let e = evaluate(&checks, &whole);
        assert!(e.undecided.is_empty());
        assert_eq!(e.findings.len(), 1);
    }
}
