//! Checks: what must hold about a response, and their evaluation.
//!
//! A failed check is data, not an error: [`evaluate`] returns the [`Finding`]s (expected vs
//! observed) and never fails. Only the runner deals with infrastructure faults. Evaluation is
//! pure, over a [`Response`] the runner captured, so every check is testable without a network.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::redact::{self, Redactor};
use crate::units::format_duration;

/// How much of an observed value a finding quotes.
const MAX_OBSERVED_CHARS: usize = 200;

/// One failed check: which check, what it expected, what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check, as a short sentence (`header strict-transport-security present`).
    pub check: String,
    /// What the check expected.
    pub expected: String,
    /// What the response showed.
    pub observed: String,
}

/// The part of a response that checks look at.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code of the final response.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, at most `max_body_bytes` of it.
    pub body: Vec<u8>,
    /// Whether the body was longer than the cap and reading stopped.
    pub truncated: bool,
    /// Time from sending the request to the end of reading the body.
    pub elapsed: Duration,
}

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

    fn as_str(self) -> &'static str {
        match self {
            SameSite::None => "none",
            SameSite::Lax => "lax",
            SameSite::Strict => "strict",
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
    /// Every `Set-Cookie` carries these flags and at least this SameSite.
    Cookies {
        /// Required flags.
        all_have: Vec<CookieFlag>,
        /// Minimum SameSite.
        samesite_at_least: Option<SameSite>,
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
}

impl Check {
    /// A short sentence naming the check, used as `finding.check`.
    pub fn describe(&self) -> String {
        match self {
            Check::Status(set) if set.0.len() == 1 => format!("status {set}"),
            Check::Status(set) => format!("status in [{set}]"),
            Check::Header { name, test } => match test {
                HeaderTest::Present => format!("header {name} present"),
                HeaderTest::Absent => format!("header {name} absent"),
                HeaderTest::Equals(v) => format!("header {name} equals {v:?}"),
                HeaderTest::NotEquals(v) => format!("header {name} not equals {v:?}"),
                HeaderTest::Contains(v) => format!("header {name} contains {v:?}"),
                HeaderTest::Matches(re) => format!("header {name} matches /{re}/"),
                HeaderTest::NotMatches(re) => format!("header {name} not matches /{re}/"),
                HeaderTest::Capture {
                    regex,
                    at_least,
                    at_most,
                } => format!(
                    "header {name} capture /{regex}/{}",
                    bounds_text(*at_least, *at_most)
                ),
            },
            Check::Body(test) => match test {
                BodyTest::Contains(v) => format!("body contains {v:?}"),
                BodyTest::NotContains(v) => format!("body not contains {v:?}"),
                BodyTest::Matches(re) => format!("body matches /{re}/"),
                BodyTest::NotMatches(re) => format!("body not matches /{re}/"),
            },
            Check::Json { pointer, test } => match test {
                JsonTest::Equals(v) => format!("json {pointer} equals {v}"),
                JsonTest::NotEquals(v) => format!("json {pointer} not equals {v}"),
                JsonTest::Present(true) => format!("json {pointer} present"),
                JsonTest::Present(false) => format!("json {pointer} absent"),
            },
            Check::Cookies { .. } => "cookies".to_string(),
            Check::ResponseTime { below } => {
                format!("response time below {}", format_duration(*below))
            }
            Check::AllOf(checks) => format!("all of [{}]", describe_list(checks)),
            Check::AnyOf(checks) => format!("any of [{}]", describe_list(checks)),
            Check::Not(inner) => format!("not {}", inner.describe()),
        }
    }
}

fn describe_list(checks: &[Check]) -> String {
    checks
        .iter()
        .map(Check::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

fn bounds_text(at_least: Option<f64>, at_most: Option<f64>) -> String {
    match (at_least, at_most) {
        (Some(lo), Some(hi)) => format!(" between {lo} and {hi}"),
        (Some(lo), None) => format!(" >= {lo}"),
        (None, Some(hi)) => format!(" <= {hi}"),
        (None, None) => String::new(),
    }
}

/// Evaluates every check against one response. Returns the failed ones.
pub fn evaluate(checks: &[Check], response: &Response) -> Vec<Finding> {
    checks
        .iter()
        .flat_map(|check| evaluate_one(check, response))
        .collect()
}

/// A finding with the observed value whole: it is clipped by [`Finding::redacted`] only
/// after secrets are scrubbed, since clipping first could leave a fragment of one behind.
fn finding(check: &Check, expected: impl Into<String>, observed: impl Into<String>) -> Finding {
    Finding {
        check: check.describe(),
        expected: expected.into(),
        observed: observed.into(),
    }
}

impl Finding {
    /// The finding as it may leave picket: every secret scrubbed from every field, then the
    /// observed value clipped to [`MAX_OBSERVED_CHARS`] characters.
    pub fn redacted(&self, redactor: &Redactor) -> Finding {
        Finding {
            check: redactor.scrub(&self.check).into_owned(),
            expected: redactor.scrub(&self.expected).into_owned(),
            observed: clip(&redactor.scrub(&self.observed)),
        }
    }
}

/// Shortens long observed values on a character boundary.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_OBSERVED_CHARS) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// All values of a header, joined as RFC 9110 allows for a combined field value.
fn header_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn evaluate_one(check: &Check, response: &Response) -> Vec<Finding> {
    match check {
        Check::Status(set) => {
            if set.contains(response.status) {
                vec![]
            } else {
                vec![finding(
                    check,
                    set.to_string(),
                    response.status.as_u16().to_string(),
                )]
            }
        }
        Check::Header { name, test } => {
            let value = header_value(&response.headers, name);
            evaluate_header(check, test, value.as_deref())
                .into_iter()
                .collect()
        }
        Check::Body(test) => evaluate_body(check, test, response).into_iter().collect(),
        Check::Json { pointer, test } => evaluate_json(check, pointer, test, response)
            .into_iter()
            .collect(),
        Check::Cookies {
            all_have,
            samesite_at_least,
        } => evaluate_cookies(check, all_have, *samesite_at_least, &response.headers),
        Check::AllOf(checks) => {
            let failed = evaluate(checks, response);
            if failed.is_empty() {
                vec![]
            } else {
                vec![finding(check, "all to hold", observed_list(&failed))]
            }
        }
        Check::AnyOf(checks) => {
            let mut failed = Vec::new();
            for c in checks {
                let f = evaluate_one(c, response);
                if f.is_empty() {
                    return vec![];
                }
                failed.extend(f);
            }
            vec![finding(
                check,
                "at least one to hold",
                observed_list(&failed),
            )]
        }
        Check::Not(inner) => {
            if evaluate_one(inner, response).is_empty() {
                vec![finding(check, "not to hold", held_text(inner, response))]
            } else {
                vec![]
            }
        }
        Check::ResponseTime { below } => {
            if response.elapsed < *below {
                vec![]
            } else {
                vec![finding(
                    check,
                    format!("< {}", format_duration(*below)),
                    format!("{:.3}s", response.elapsed.as_secs_f64()),
                )]
            }
        }
    }
}

/// "check: observed" for each failed inner check.
fn observed_list(failed: &[Finding]) -> String {
    failed
        .iter()
        .map(|f| format!("{}: {}", f.check, f.observed))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Says what was seen when a check held, for `not` findings: the inner checks that held,
/// with the status and a body excerpt where they concern those.
fn held_text(check: &Check, response: &Response) -> String {
    let parts: Vec<String> = match check {
        Check::AllOf(checks) => checks.iter().map(|c| seen(c, response)).collect(),
        other => vec![seen(other, response)],
    };
    parts.join("; ")
}

fn seen(check: &Check, response: &Response) -> String {
    match check {
        Check::Status(_) => format!("status {}", response.status.as_u16()),
        Check::Header { name, .. } => match header_value(&response.headers, name) {
            Some(v) => format!("header {name}: {v}"),
            None => format!("header {name} absent"),
        },
        Check::Body(BodyTest::Contains(want)) => {
            let body = String::from_utf8_lossy(&response.body);
            match body.find(want.as_str()) {
                Some(at) => format!(
                    "body contains {want:?} at byte {at}: {:?}",
                    excerpt(&body, at, want.len())
                ),
                None => check.describe(),
            }
        }
        Check::Body(BodyTest::Matches(re)) => {
            let body = String::from_utf8_lossy(&response.body);
            match re.find(&body) {
                Some(m) => format!("body matches {:?} at byte {}", m.as_str(), m.start()),
                None => check.describe(),
            }
        }
        Check::AllOf(checks) => checks
            .iter()
            .map(|c| seen(c, response))
            .collect::<Vec<_>>()
            .join("; "),
        // Name the alternative that held.
        Check::AnyOf(checks) => checks
            .iter()
            .find(|c| evaluate_one(c, response).is_empty())
            .map_or_else(|| check.describe(), |c| seen(c, response)),
        other => other.describe(),
    }
}

fn evaluate_header(check: &Check, test: &HeaderTest, value: Option<&str>) -> Option<Finding> {
    const ABSENT: &str = "absent";
    match (test, value) {
        (HeaderTest::Present, None) => Some(finding(check, "present", ABSENT)),
        (HeaderTest::Present, Some(_)) => None,
        (HeaderTest::Absent, Some(v)) => Some(finding(check, ABSENT, format!("present: {v}"))),
        (HeaderTest::Absent, None) => None,
        (HeaderTest::Equals(want), Some(v)) if v == want => None,
        (HeaderTest::Equals(want), v) => Some(finding(check, want.clone(), v.unwrap_or(ABSENT))),
        (HeaderTest::NotEquals(want), Some(v)) if v == want => {
            Some(finding(check, format!("not {want}"), v))
        }
        (HeaderTest::NotEquals(_), _) => None,
        (HeaderTest::Contains(want), Some(v)) if v.contains(want.as_str()) => None,
        (HeaderTest::Contains(want), v) => Some(finding(
            check,
            format!("contains {want:?}"),
            v.unwrap_or(ABSENT),
        )),
        (HeaderTest::Matches(re), Some(v)) if re.is_match(v) => None,
        (HeaderTest::Matches(re), v) => Some(finding(
            check,
            format!("matches /{re}/"),
            v.unwrap_or(ABSENT),
        )),
        (HeaderTest::NotMatches(re), Some(v)) => re.find(v).map(|m| {
            finding(
                check,
                format!("does not match /{re}/"),
                format!("{v:?} (matched {:?})", m.as_str()),
            )
        }),
        (HeaderTest::NotMatches(_), None) => None,
        (
            HeaderTest::Capture {
                regex,
                at_least,
                at_most,
            },
            v,
        ) => {
            let expected = match bounds_text(*at_least, *at_most).trim() {
                "" => format!("matches /{regex}/"),
                bounds => bounds.to_string(),
            };
            let Some(v) = v else {
                return Some(finding(check, expected, ABSENT));
            };
            let Some(captured) = regex.captures(v).and_then(|c| c.get(1)).map(|m| m.as_str())
            else {
                return Some(finding(check, expected, format!("no match in {v:?}")));
            };
            let Ok(number) = captured.trim().parse::<f64>() else {
                return Some(finding(
                    check,
                    expected,
                    format!("captured {captured:?}, not a number"),
                ));
            };
            let low_ok = at_least.is_none_or(|lo| number >= lo);
            let high_ok = at_most.is_none_or(|hi| number <= hi);
            (!(low_ok && high_ok)).then(|| finding(check, expected, captured))
        }
    }
}

fn body_note(response: &Response) -> String {
    if response.truncated {
        format!("first {} bytes (body truncated)", response.body.len())
    } else {
        format!("{} bytes", response.body.len())
    }
}

/// A short excerpt around `at..at+len` in `body`.
///
/// The excerpt is cut here, before the runner scrubs the finding, so it is widened over any
/// secret the process knows (the [`redact::global`] set holds every loaded `${env:…}` value)
/// and scrubbed: a secret straddling the cut must not survive as a fragment.
fn excerpt(body: &str, at: usize, len: usize) -> String {
    let start = body[..at]
        .char_indices()
        .rev()
        .nth(20)
        .map_or(0, |(i, _)| i);
    let end = body[at + len..]
        .char_indices()
        .nth(40)
        .map_or(body.len(), |(i, _)| at + len + i);
    redact::global()
        .scrub_excerpt(body, start..end)
        .replace(['\n', '\r'], " ")
}

fn evaluate_body(check: &Check, test: &BodyTest, response: &Response) -> Option<Finding> {
    let body = String::from_utf8_lossy(&response.body);
    match test {
        BodyTest::Contains(want) => (!body.contains(want.as_str())).then(|| {
            finding(
                check,
                format!("contains {want:?}"),
                format!("not found in {}", body_note(response)),
            )
        }),
        BodyTest::NotContains(want) => body.find(want.as_str()).map(|at| {
            finding(
                check,
                format!("does not contain {want:?}"),
                format!("found at byte {at}: {:?}", excerpt(&body, at, want.len())),
            )
        }),
        BodyTest::Matches(re) => (!re.is_match(&body)).then(|| {
            finding(
                check,
                format!("matches /{re}/"),
                format!("no match in {}", body_note(response)),
            )
        }),
        BodyTest::NotMatches(re) => re.find(&body).map(|m| {
            finding(
                check,
                format!("does not match /{re}/"),
                format!("matched {:?} at byte {}", m.as_str(), m.start()),
            )
        }),
    }
}

fn evaluate_json(
    check: &Check,
    pointer: &str,
    test: &JsonTest,
    response: &Response,
) -> Option<Finding> {
    let expected = match test {
        JsonTest::Equals(v) => v.to_string(),
        JsonTest::NotEquals(v) => format!("not {v}"),
        JsonTest::Present(true) => "present".to_string(),
        JsonTest::Present(false) => "absent".to_string(),
    };
    let document: serde_json::Value = match serde_json::from_slice(&response.body) {
        Ok(v) => v,
        Err(e) if response.truncated => {
            return Some(finding(
                check,
                expected,
                format!(
                    "body is not complete JSON (truncated at {} bytes): {e}",
                    response.body.len()
                ),
            ));
        }
        Err(e) => {
            return Some(finding(check, expected, format!("body is not JSON: {e}")));
        }
    };
    let found = document.pointer(pointer);
    match (test, found) {
        (JsonTest::Equals(want), Some(v)) if v == want => None,
        (JsonTest::Equals(_), Some(v)) => Some(finding(check, expected, v.to_string())),
        (JsonTest::Equals(_), None) => Some(finding(check, expected, "missing")),
        (JsonTest::NotEquals(want), Some(v)) if v == want => {
            Some(finding(check, expected, v.to_string()))
        }
        (JsonTest::NotEquals(_), _) => None,
        (JsonTest::Present(true), None) => Some(finding(check, expected, "missing")),
        (JsonTest::Present(false), Some(v)) => Some(finding(check, expected, v.to_string())),
        (JsonTest::Present(_), _) => None,
    }
}

/// A parsed `Set-Cookie` header: the name and the attributes that matter here.
struct SetCookie {
    name: String,
    secure: bool,
    http_only: bool,
    same_site: Option<Result<SameSite, String>>,
}

fn parse_set_cookie(header: &str) -> SetCookie {
    let mut parts = header.split(';');
    let name = parts
        .next()
        .and_then(|nv| nv.split_once('=').map(|(n, _)| n))
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut cookie = SetCookie {
        name,
        secure: false,
        http_only: false,
        same_site: None,
    };
    for attr in parts {
        let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
        match key.trim().to_ascii_lowercase().as_str() {
            "secure" => cookie.secure = true,
            "httponly" => cookie.http_only = true,
            "samesite" => {
                cookie.same_site =
                    Some(SameSite::parse(value).ok_or_else(|| value.trim().to_string()))
            }
            _ => {}
        }
    }
    cookie
}

fn evaluate_cookies(
    check: &Check,
    all_have: &[CookieFlag],
    samesite_at_least: Option<SameSite>,
    headers: &HeaderMap,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for value in headers.get_all(http::header::SET_COOKIE) {
        let cookie = parse_set_cookie(&String::from_utf8_lossy(value.as_bytes()));
        let label = format!("cookie {}", cookie.name);
        for flag in all_have {
            let (has, flag_name) = match flag {
                CookieFlag::Secure => (cookie.secure, "secure"),
                CookieFlag::HttpOnly => (cookie.http_only, "httponly"),
            };
            if !has {
                findings.push(Finding {
                    check: format!("{label} has {flag_name}"),
                    expected: flag_name.to_string(),
                    observed: format!("missing {flag_name}"),
                });
            }
        }
        if let Some(min) = samesite_at_least {
            // Browsers treat a missing SameSite as Lax.
            let observed = match &cookie.same_site {
                None => Ok(SameSite::Lax),
                Some(s) => s.clone(),
            };
            let weak = match &observed {
                Ok(level) => *level < min,
                Err(_) => true,
            };
            if weak {
                findings.push(Finding {
                    check: format!("{label} samesite at least {}", min.as_str()),
                    expected: format!("samesite {} or stricter", min.as_str()),
                    observed: match observed {
                        Ok(level) if cookie.same_site.is_none() => {
                            format!("no samesite (treated as {})", level.as_str())
                        }
                        Ok(level) => format!("samesite {}", level.as_str()),
                        Err(raw) => format!("invalid samesite {raw:?}"),
                    },
                });
            }
        }
    }
    let _ = check;
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)], body: &str) -> Response {
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
        }
    }

    fn header(name: &str, test: HeaderTest) -> Check {
        Check::Header {
            name: HeaderName::from_bytes(name.as_bytes()).unwrap(),
            test,
        }
    }

    #[test]
    fn status_classes_and_codes() {
        let check = Check::Status(StatusSet(vec![StatusItem::Code(301), StatusItem::Class(2)]));
        assert!(evaluate(std::slice::from_ref(&check), &response(&[], "")).is_empty());
        let mut r = response(&[], "");
        r.status = StatusCode::NOT_FOUND;
        let f = evaluate(&[check], &r);
        assert_eq!(f[0].expected, "301, 2xx");
        assert_eq!(f[0].observed, "404");
        assert_eq!(f[0].check, "status in [301, 2xx]");
    }

    #[test]
    fn capture_compares_numbers() {
        let check = header(
            "strict-transport-security",
            HeaderTest::Capture {
                regex: Regex::new(r"max-age=(\d+)").unwrap(),
                at_least: Some(15_552_000.0),
                at_most: None,
            },
        );
        let ok = response(&[("strict-transport-security", "max-age=31536000")], "");
        assert!(evaluate(std::slice::from_ref(&check), &ok).is_empty());
        let short = response(&[("strict-transport-security", "max-age=300")], "");
        let f = evaluate(std::slice::from_ref(&check), &short);
        assert_eq!(f[0].observed, "300");
        assert_eq!(f[0].expected, ">= 15552000");
        let f = evaluate(&[check], &response(&[], ""));
        assert_eq!(f[0].observed, "absent");
    }

    #[test]
    fn repeated_headers_are_combined() {
        let check = header("x-frame-options", HeaderTest::Equals("DENY".into()));
        let twice = response(
            &[("x-frame-options", "DENY"), ("x-frame-options", "DENY")],
            "",
        );
        assert_eq!(evaluate(&[check], &twice)[0].observed, "DENY, DENY");
    }

    #[test]
    fn cookies_flags_and_samesite() {
        let check = Check::Cookies {
            all_have: vec![CookieFlag::Secure, CookieFlag::HttpOnly],
            samesite_at_least: Some(SameSite::Lax),
        };
        let good = response(
            &[("set-cookie", "sid=1; Secure; HttpOnly; SameSite=Strict")],
            "",
        );
        assert!(evaluate(std::slice::from_ref(&check), &good).is_empty());
        let bad = response(&[("set-cookie", "sid=1; HttpOnly; SameSite=None")], "");
        let f = evaluate(&[check], &bad);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].check, "cookie sid has secure");
        assert_eq!(f[1].observed, "samesite none");
    }

    #[test]
    fn excerpt_respects_char_boundaries() {
        let body =
            "ééééééééééééééééééééééééé Index of / ééééééééééééééééééééééééééééééééééééééééééé";
        let at = body.find("Index of").unwrap();
        let e = excerpt(body, at, 8);
        assert!(e.contains("Index of"));
    }

    #[test]
    fn long_observed_values_are_clipped() {
        let check = header("server", HeaderTest::Absent);
        let long = "x".repeat(1000);
        let f = evaluate(&[check], &response(&[("server", &long)], ""));
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
        let f = evaluate(&[check], &response(&[("server", &value)], ""));
        let shown = f[0].redacted(&redactor);
        assert!(!shown.observed.contains("0123456789"), "{}", shown.observed);
    }
}
