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

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode};
use regex::Regex;
use regex_automata::nfa::thompson::NFA;

use super::csp::{self, ScriptKeyword};
pub use super::response::{Response, header_display};
use super::{Graded, Interrupt, list_words};
use crate::outcome::Finding;
use crate::redact;
use crate::units::format_duration;

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
}

impl Check {
    /// A short sentence naming the check, used as `finding.check`.
    pub fn describe(&self) -> String {
        match self {
            Check::Status(set) if set.0.len() == 1 => format!("status {set}"),
            Check::Status(set) => format!("status in [{set}]"),
            Check::Header { name, test, .. } => match test {
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
                BodyTest::CaptureDate { regex, after_now } => format!(
                    "body capture /{regex}/ {}",
                    if *after_now {
                        "after now"
                    } else {
                        "not after now"
                    }
                ),
            },
            Check::Json { pointer, test } => match test {
                JsonTest::Equals(v) => format!("json {pointer} equals {v}"),
                JsonTest::NotEquals(v) => format!("json {pointer} not equals {v}"),
                JsonTest::Present(true) => format!("json {pointer} present"),
                JsonTest::Present(false) => format!("json {pointer} absent"),
            },
            Check::Cookies { .. } => "cookies".to_string(),
            Check::Csp { test, meta } => {
                let from = if *meta { "" } else { " (header only)" };
                match test {
                    CspTest::Parsable => format!("csp parsable{from}"),
                    CspTest::HasDirective(d) => format!("csp has directive {d}{from}"),
                    CspTest::RestrictsFraming => "csp restricts framing".to_string(),
                    CspTest::ForbidScriptKeywords(k) => {
                        format!("csp forbids script keywords {}{from}", keyword_list(k))
                    }
                }
            }
            Check::Location { scheme, same_host } => {
                format!("location{}", location_terms(scheme.as_deref(), *same_host))
            }
            Check::HeaderToken { name, known, test } => format!(
                "{} (last token of [{}])",
                Check::Header {
                    name: name.clone(),
                    test: test.clone(),
                    distinct: false,
                }
                .describe(),
                known.join(", ")
            ),
            Check::ResponseTime { below } => {
                format!("response time below {}", format_duration(*below))
            }
            Check::AllOf(checks) => format!("all of [{}]", describe_list(checks)),
            Check::AnyOf(checks) => format!("any of [{}]", describe_list(checks)),
            Check::Not(inner) => format!("not {}", inner.describe()),
            Check::Nuclei(block) => format!("nuclei matchers {}", block.describe()),
        }
    }
}

impl Check {
    /// The check as a sentence, for people: header names as they are usually written
    /// (`X-Frame-Options is "DENY"`), a pattern quoted in backticks (``Server does not match
    /// `\d` ``), and `not` said in words rather than as a formula. A probe's `title:` replaces
    /// it (the shipped probes give one to every regex and combinator check).
    pub fn title(&self) -> String {
        self.sentence(false)
    }

    /// The sentence that holds when this check does not, with `not` pushed inwards (De
    /// Morgan): the title of a `not` check, which never reads `not (… and …)`.
    pub fn negated_title(&self) -> String {
        self.sentence(true)
    }

    /// [`Check::title`], or with `negated` the sentence of its opposite.
    fn sentence(&self, negated: bool) -> String {
        let pick = |yes: &str, no: &str| if negated { no } else { yes }.to_string();
        match self {
            Check::Status(set) => {
                format!("the status {} {}", pick("is", "is not"), status_words(set))
            }
            Check::Header { name, test, .. } => header_sentence(name, test, negated),
            Check::HeaderToken { name, test, .. } => format!(
                "{} (its last recognised token)",
                header_sentence(name, test, negated)
            ),
            Check::Body(test) => match test {
                BodyTest::Contains(v) | BodyTest::NotContains(v) => {
                    let contains = matches!(test, BodyTest::Contains(_)) != negated;
                    format!(
                        "the body {} {v:?}",
                        if contains {
                            "contains"
                        } else {
                            "does not contain"
                        }
                    )
                }
                BodyTest::Matches(re) | BodyTest::NotMatches(re) => {
                    let matches = matches!(test, BodyTest::Matches(_)) != negated;
                    format!(
                        "the body {} {}",
                        if matches { "matches" } else { "does not match" },
                        code(re.as_str())
                    )
                }
                BodyTest::CaptureDate { after_now, .. } => format!(
                    "the date in the body is {}in the future",
                    if *after_now != negated { "" } else { "not " }
                ),
            },
            Check::Json { pointer, test } => match test {
                JsonTest::Equals(v) | JsonTest::NotEquals(v) => {
                    let equals = matches!(test, JsonTest::Equals(_)) != negated;
                    format!("JSON {pointer} is {}{v}", if equals { "" } else { "not " })
                }
                JsonTest::Present(want) => format!(
                    "JSON {pointer} is {}",
                    if *want != negated {
                        "present"
                    } else {
                        "absent"
                    }
                ),
            },
            Check::Cookies { .. } => pick("cookies are protected", "a cookie is not protected"),
            Check::Csp { test, .. } => match test {
                CspTest::Parsable => pick(
                    "a Content-Security-Policy is enforced",
                    "no Content-Security-Policy is enforced",
                ),
                CspTest::HasDirective(d) => format!("CSP has {}{d}", pick("", "no ")),
                CspTest::RestrictsFraming => format!(
                    "CSP frame-ancestors {}",
                    pick("restricts framing", "does not restrict framing")
                ),
                CspTest::ForbidScriptKeywords(k) => format!(
                    "CSP {} {} for scripts",
                    pick("does not allow", "allows"),
                    keyword_list(k)
                ),
            },
            Check::Location { scheme, same_host } => format!(
                "the response {}{}",
                pick("redirects", "does not redirect"),
                location_terms(scheme.as_deref(), *same_host)
            ),
            Check::ResponseTime { below } => format!(
                "the response {} {}",
                pick("arrives within", "takes at least"),
                format_duration(*below)
            ),
            // Not all: one fails; not any: none holds.
            Check::AllOf(checks) => join_sentences(checks, negated, !negated),
            Check::AnyOf(checks) => join_sentences(checks, negated, negated),
            Check::Not(inner) => inner.sentence(!negated),
            Check::Nuclei(block) if negated => format!("{} match", block.title()),
            Check::Nuclei(block) => block.title(),
        }
    }

    /// What a `not` check expects, for its finding when the check it negates held: the parts
    /// of an `all_of` never all at once, none of an `any_of`'s, or the opposite sentence.
    fn negated_expectation(&self) -> String {
        let titles = |checks: &[Check]| checks.iter().map(Check::title).collect::<Vec<_>>();
        match self {
            Check::AllOf(checks) => format!(
                "never all of these at once: {}",
                list_words(&titles(checks), "and")
            ),
            Check::AnyOf(checks) => {
                format!("none of these: {}", list_words(&titles(checks), "or"))
            }
            Check::Not(inner) => inner.title(),
            other => other.negated_title(),
        }
    }

    /// Whether the check (or one inside it) uses a regex, which its title leaves out.
    pub fn has_regex(&self) -> bool {
        match self {
            Check::Header { test, .. } | Check::HeaderToken { test, .. } => matches!(
                test,
                HeaderTest::Matches(_) | HeaderTest::NotMatches(_) | HeaderTest::Capture { .. }
            ),
            Check::Body(test) => matches!(
                test,
                BodyTest::Matches(_) | BodyTest::NotMatches(_) | BodyTest::CaptureDate { .. }
            ),
            Check::AllOf(checks) | Check::AnyOf(checks) => checks.iter().any(Check::has_regex),
            Check::Not(inner) => inner.has_regex(),
            Check::Nuclei(block) => block.has_regex(),
            _ => false,
        }
    }
}

fn keyword_list(keywords: &[ScriptKeyword]) -> String {
    keywords
        .iter()
        .map(|k| k.as_source())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn location_terms(scheme: Option<&str>, same_host: Option<bool>) -> String {
    let mut terms = String::new();
    if let Some(scheme) = scheme {
        terms.push_str(&format!(" to {scheme}://"));
    }
    match same_host {
        Some(true) => terms.push_str(" on the same host"),
        Some(false) => terms.push_str(" to another host"),
        None => {}
    }
    terms
}

/// A pattern as a finding quotes it: in backticks, as code.
fn code(pattern: &str) -> String {
    format!("`{pattern}`")
}

/// A status set in words: `200`, `301, 302, 307 or 308`, `2xx`.
fn status_words(set: &StatusSet) -> String {
    let items: Vec<String> = set
        .0
        .iter()
        .map(|item| match item {
            StatusItem::Code(c) => c.to_string(),
            StatusItem::Class(c) => format!("{c}xx"),
        })
        .collect();
    list_words(&items, "or")
}

/// A header check as a sentence, or (`negated`) its opposite.
fn header_sentence(name: &HeaderName, test: &HeaderTest, negated: bool) -> String {
    let name = header_display(name);
    let (is, is_not) = if negated {
        ("is not", "is")
    } else {
        ("is", "is not")
    };
    match test {
        HeaderTest::Present => format!("{name} {is} sent"),
        HeaderTest::Absent => format!("{name} {is_not} sent"),
        HeaderTest::Equals(v) => format!("{name} {is} {v:?}"),
        HeaderTest::NotEquals(v) => format!("{name} {is_not} {v:?}"),
        HeaderTest::Contains(v) if negated => format!("{name} does not contain {v:?}"),
        HeaderTest::Contains(v) => format!("{name} contains {v:?}"),
        HeaderTest::Matches(re) | HeaderTest::NotMatches(re) => {
            let matches = matches!(test, HeaderTest::Matches(_)) != negated;
            format!(
                "{name} {} {}",
                if matches { "matches" } else { "does not match" },
                code(re.as_str())
            )
        }
        HeaderTest::Capture {
            regex,
            at_least,
            at_most,
        } => match (at_least, at_most, negated) {
            (Some(lo), Some(hi), false) => {
                format!("the number in {name} is between {lo} and {hi}")
            }
            (Some(lo), Some(hi), true) => {
                format!("the number in {name} is not between {lo} and {hi}")
            }
            (Some(lo), None, false) => format!("the number in {name} is at least {lo}"),
            (Some(lo), None, true) => format!("the number in {name} is below {lo}"),
            (None, Some(hi), false) => format!("the number in {name} is at most {hi}"),
            (None, Some(hi), true) => format!("the number in {name} is above {hi}"),
            (None, None, false) => format!("{name} matches {}", code(regex.as_str())),
            (None, None, true) => format!("{name} does not match {}", code(regex.as_str())),
        },
    }
}

/// The sentences of `checks` (or of their opposites) joined with `and` (`all`) or `or`.
fn join_sentences(checks: &[Check], negated: bool, all: bool) -> String {
    let parts: Vec<String> = checks.iter().map(|c| c.sentence(negated)).collect();
    if all {
        list_words(&parts, "and")
    } else {
        parts.join(", or ")
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
pub fn evaluate(checks: &[Graded<Check>], response: &Response) -> Evaluation {
    let mut evaluation = Evaluation::default();
    evaluate_into(checks, response, &Interrupt::new(), &mut evaluation);
    evaluation
}

/// Like [`evaluate`], giving up with `None` once `stop` is set (the runner sets it when it no
/// longer waits for the result). Checks are looked at one by one, and the long ones (nuclei
/// words and regexes) look at `stop` as they go, so little work goes on after it is set.
pub fn evaluate_until(
    checks: &[Graded<Check>],
    response: &Response,
    stop: &Interrupt,
) -> Option<Evaluation> {
    let mut evaluation = Evaluation::default();
    evaluate_into(checks, response, stop, &mut evaluation);
    (!stop.is_set()).then_some(evaluation)
}

fn evaluate_into(
    checks: &[Graded<Check>],
    response: &Response,
    stop: &Interrupt,
    evaluation: &mut Evaluation,
) {
    let cx = Cx {
        stop,
        json: std::cell::OnceCell::new(),
    };
    for graded in checks {
        if stop.is_set() {
            return;
        }
        match evaluate_one(&graded.check, response, &cx) {
            Verdict::Holds => {}
            Verdict::Fails(mut findings) => {
                graded.stamp(&mut findings);
                evaluation.findings.extend(findings);
            }
            Verdict::Undecided => evaluation
                .undecided
                .push(graded.title.clone().unwrap_or_else(|| graded.check.title())),
        }
    }
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

/// All values of a header, joined as RFC 9110 allows for a combined field value.
fn header_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The distinct comma-separated values of a header, in order of first appearance, joined with
/// `, `: what HTML's X-Frame-Options processing sees ("get, decode and split", lowercased into
/// a set). Empty values are dropped; a header sent with only empty values reads as `""`.
fn distinct_header_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let joined = header_value(headers, name)?;
    let mut seen: Vec<&str> = Vec::new();
    for value in joined.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if !seen.iter().any(|s| s.eq_ignore_ascii_case(value)) {
            seen.push(value);
        }
    }
    Some(seen.join(", "))
}

/// What the checks of one evaluation share: the interrupt, and the body parsed as JSON once
/// for all `json` checks (each parsing it again made their cost the body times their number).
struct Cx<'a> {
    stop: &'a Interrupt,
    json: std::cell::OnceCell<Result<serde_json::Value, String>>,
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
        Check::Body(test) => evaluate_body(check, test, response),
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
        Check::Nuclei(block) => match super::nuclei::evaluate(block, response, cx.stop) {
            Some(found) if found.is_empty() => Verdict::Holds,
            Some(found) => Verdict::Fails(found),
            None => Verdict::Undecided,
        },
        Check::Not(inner) => match evaluate_one(inner, response, cx) {
            Verdict::Holds => Verdict::Fails(vec![finding(
                check,
                inner.negated_expectation(),
                held_text(inner, response, cx),
            )]),
            Verdict::Fails(_) => Verdict::Holds,
            Verdict::Undecided => Verdict::Undecided,
        },
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
                    excerpt(&body, at, want.len())
                ),
                None => check.title(),
            }
        }
        Check::Body(BodyTest::Matches(re)) => {
            let body = body_text(response);
            match decisive_match(re, &body, response.truncated) {
                Some(m) => format!(
                    "the body has {:?} at byte {}",
                    matched(&body, &m),
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

fn evaluate_header(check: &Check, test: &HeaderTest, value: Option<&str>) -> Option<Finding> {
    let (Check::Header { name, .. } | Check::HeaderToken { name, .. }) = check else {
        return None;
    };
    let name = header_display(name);
    // What was seen, naming the header: `Server: nginx/1.22.1`, `X-Frame-Options not sent`.
    let seen = |v: Option<&str>| match v {
        Some(v) => format!("{name}: {v}"),
        None => format!("{name} not sent"),
    };
    let fails = |expected: String| Some(finding(check, expected, seen(value)));
    match (test, value) {
        (HeaderTest::Present, None) => fails(format!("{name} sent")),
        (HeaderTest::Absent, Some(_)) => fails(format!("{name} not sent")),
        (HeaderTest::Equals(want), v) if v != Some(want.as_str()) => {
            fails(format!("{name} exactly {want:?}"))
        }
        (HeaderTest::NotEquals(want), Some(v)) if v == want => {
            fails(format!("{name} other than {want:?}"))
        }
        (HeaderTest::Contains(want), v) if !v.is_some_and(|v| v.contains(want.as_str())) => {
            fails(format!("{name} containing {want:?}"))
        }
        (HeaderTest::Matches(re), v) if !v.is_some_and(|v| re.is_match(v)) => {
            fails(format!("{name} matching {}", code(re.as_str())))
        }
        (HeaderTest::NotMatches(re), Some(v)) if re.is_match(v) => {
            fails(format!("{name} not matching {}", code(re.as_str())))
        }
        (
            HeaderTest::Capture {
                regex,
                at_least,
                at_most,
            },
            v,
        ) => {
            let expected = match (at_least, at_most) {
                (Some(lo), Some(hi)) => format!("a number between {lo} and {hi} in {name}"),
                (Some(lo), None) => format!("a number of at least {lo} in {name}"),
                (None, Some(hi)) => format!("a number of at most {hi} in {name}"),
                (None, None) => format!("{name} matching {}", code(regex.as_str())),
            };
            let Some(v) = v else {
                return Some(finding(check, expected, seen(None)));
            };
            let Some(captured) = regex.captures(v).and_then(|c| c.get(1)).map(|m| m.as_str())
            else {
                return Some(finding(
                    check,
                    expected,
                    format!("{} (no number found)", seen(Some(v))),
                ));
            };
            let Ok(number) = captured.trim().parse::<f64>() else {
                return Some(finding(
                    check,
                    expected,
                    format!("{}, where {captured:?} is not a number", seen(Some(v))),
                ));
            };
            let low_ok = at_least.is_none_or(|lo| number >= lo);
            let high_ok = at_most.is_none_or(|hi| number <= hi);
            (!(low_ok && high_ok)).then(|| finding(check, expected, seen(Some(v))))
        }
        _ => None,
    }
}

/// The body as text. A truncated body may stop inside a multi-byte character: those last
/// bytes are dropped rather than decoded as U+FFFD, a character the whole body does not have
/// there, so that everything found in the text is also in the whole body.
fn body_text(response: &Response) -> Cow<'_, str> {
    let mut bytes = response.body.as_slice();
    if response.truncated {
        bytes = &bytes[..complete_len(bytes)];
    }
    String::from_utf8_lossy(bytes)
}

/// The length of `bytes` without a trailing, incomplete UTF-8 sequence.
fn complete_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // A sequence is at most 4 bytes: its lead byte is among the last 3 if it is incomplete.
    for at in (len.saturating_sub(3)..len).rev() {
        let byte = bytes[at];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte
        }
        let needed = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if len - at < needed { at } else { len };
    }
    len
}

/// The first match of `re` in `text` that the rest of a truncated body cannot undo. A match
/// that ends before the cut is a match in the whole body too. One that reaches the cut is only
/// when the pattern has no assertion that looks at the next character (`$`, `\b`…).
fn decisive_match<'t>(re: &Regex, text: &'t str, truncated: bool) -> Option<regex::Match<'t>> {
    if !truncated {
        return re.find(text);
    }
    let mut looks_ahead = None;
    re.find_iter(text)
        .find(|m| m.end() < text.len() || !*looks_ahead.get_or_insert_with(|| looks_past_match(re)))
}

/// Whether a pattern has an assertion that inspects the character after a match position.
/// Only `\A` and `(?m)^` look purely backwards; a pattern that does not compile here counts
/// as looking ahead.
fn looks_past_match(re: &Regex) -> bool {
    use regex_automata::util::look::Look;
    NFA::new(re.as_str()).map_or(true, |nfa| {
        !nfa.look_set_any()
            .remove(Look::Start)
            .remove(Look::StartLF)
            .is_empty()
    })
}

/// Whether the text read already rules out a match of `re` anywhere in the whole body, for a
/// pattern without a match in it. Only a pattern anchored at the start (`\A…`) can be ruled
/// out, when no continuation of the text read could complete it: its automaton, run over the
/// text, dies (`\A\s*\{` on `<html>`). An unanchored pattern could match in the unread rest.
fn ruled_out(re: &Regex, text: &str) -> bool {
    use regex_automata::hybrid::dfa::DFA;
    use regex_automata::{Anchored, Input};
    let Ok(nfa) = NFA::new(re.as_str()) else {
        return false;
    };
    if !nfa.is_always_start_anchored() || re.is_match(text) {
        return false;
    }
    let Ok(dfa) = DFA::builder().build_from_nfa(nfa) else {
        return false;
    };
    let mut cache = dfa.create_cache();
    let input = Input::new(text).anchored(Anchored::Yes);
    let Ok(mut state) = dfa.start_state_forward(&mut cache, &input) else {
        return false;
    };
    for &byte in text.as_bytes() {
        match dfa.next_state(&mut cache, state, byte) {
            Ok(next) if next.is_dead() => return true,
            // The lazy DFA gives up on some inputs (a Unicode `\b` on non-ASCII): stay open.
            Ok(next) if next.is_quit() => return false,
            Ok(next) => state = next,
            Err(_) => return false,
        }
    }
    false
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

/// The response's enforced policies: the header's, then (for an HTML body, when `meta`) those
/// of `<meta http-equiv>`; `open` when a truncated body may still hold a `<meta>` policy.
fn csp_policies(response: &Response, meta: bool) -> (Vec<csp::Policy>, bool) {
    let lines: Vec<String> = response
        .headers
        .get_all(http::header::CONTENT_SECURITY_POLICY)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let mut policies = csp::header_policies(lines.iter().map(String::as_str));
    let mut open = false;
    if meta && response.is_html() {
        match csp::meta_policies(&body_text(response), !response.truncated) {
            Some(found) => policies.extend(found),
            None => open = true,
        }
    }
    (policies, open)
}

/// The policies as written, for findings.
fn csp_text(policies: &[csp::Policy]) -> String {
    policies
        .iter()
        .map(|p| format!("{:?}", p.text))
        .collect::<Vec<_>>()
        .join(", ")
}

fn evaluate_csp(check: &Check, test: &CspTest, meta: bool, response: &Response) -> Verdict {
    const NONE: &str = "no Content-Security-Policy";
    let fails =
        |expected: &str, observed: String| Verdict::Fails(vec![finding(check, expected, observed)]);
    match test {
        CspTest::Parsable => {
            let expected = "a Content-Security-Policy of well-formed directives";
            let (policies, open) = csp_policies(response, meta);
            let malformed: Vec<&str> = policies
                .iter()
                .flat_map(|p| p.malformed.iter().map(String::as_str))
                .collect();
            let directives = policies.iter().any(|p| !p.directives.is_empty());
            if let Some(bad) = malformed.first() {
                fails(
                    expected,
                    format!("{:?} is not a directive, in {}", bad, csp_text(&policies)),
                )
            } else if directives {
                Verdict::Holds
            } else if open {
                Verdict::Undecided
            } else if policies.is_empty() {
                fails(expected, NONE.to_string())
            } else {
                fails(
                    expected,
                    format!(
                        "Content-Security-Policy {} has no directive",
                        csp_text(&policies)
                    ),
                )
            }
        }
        CspTest::HasDirective(name) => {
            let from_meta = meta && !csp::META_IGNORED.contains(&name.as_str());
            let (policies, open) = csp_policies(response, from_meta);
            if policies.iter().any(|p| p.get(name).is_some()) {
                Verdict::Holds
            } else if open {
                Verdict::Undecided
            } else if policies.is_empty() {
                fails(
                    &format!("a Content-Security-Policy with {name}"),
                    NONE.to_string(),
                )
            } else {
                fails(
                    &format!("a Content-Security-Policy with {name}"),
                    format!("no {name} in {}", csp_text(&policies)),
                )
            }
        }
        CspTest::RestrictsFraming => {
            // `<meta>` policies cannot set frame-ancestors.
            let (policies, _) = csp_policies(response, false);
            let expected =
                "CSP frame-ancestors naming who may frame the page ('none', 'self', hosts)";
            let framing: Vec<&csp::Directive> = policies
                .iter()
                .filter_map(|p| p.get("frame-ancestors"))
                .collect();
            let restricts =
                |d: &&csp::Directive| !d.sources.iter().any(|s| csp::allows_any_ancestor(s));
            if framing.iter().any(restricts) {
                Verdict::Holds
            } else if let Some(open) = framing.first() {
                fails(
                    expected,
                    format!("{:?} lets any site frame the page", open.text),
                )
            } else if policies.is_empty() {
                fails(expected, NONE.to_string())
            } else {
                fails(
                    expected,
                    format!("no frame-ancestors in {}", csp_text(&policies)),
                )
            }
        }
        CspTest::ForbidScriptKeywords(keywords) => {
            let (policies, open) = csp_policies(response, meta);
            let mut findings = Vec::new();
            let mut undecided = false;
            for keyword in keywords {
                match csp::script_keyword(&policies, open, *keyword) {
                    csp::KeywordVerdict::Blocked => {}
                    csp::KeywordVerdict::Allowed(directive) => findings.push(finding(
                        check,
                        format!("no {} for scripts", keyword.as_source()),
                        format!("{directive:?} allows {}", keyword.as_source()),
                    )),
                    csp::KeywordVerdict::Open => undecided = true,
                }
            }
            if !findings.is_empty() {
                Verdict::Fails(findings)
            } else if undecided {
                Verdict::Undecided
            } else {
                Verdict::Holds
            }
        }
    }
}

fn evaluate_location(
    check: &Check,
    scheme: Option<&str>,
    same_host: Option<bool>,
    response: &Response,
) -> Option<Finding> {
    let expected = format!("a redirect{}", location_terms(scheme, same_host));
    let Some(to) = response.redirect_target() else {
        let location = header_value(&response.headers, &http::header::LOCATION);
        return Some(finding(
            check,
            expected,
            match location {
                Some(l) if response.status.is_redirection() => {
                    format!(
                        "status {}, Location {l:?} is not a URL",
                        response.status.as_u16()
                    )
                }
                _ => format!("status {}, no redirect", response.status.as_u16()),
            },
        ));
    };
    let mut wrong = Vec::new();
    if let Some(want) = scheme
        && !to.scheme().eq_ignore_ascii_case(want)
    {
        wrong.push(format!("scheme {}", to.scheme()));
    }
    let here = response.url.host_str().unwrap_or_default();
    let there = to.host_str().unwrap_or_default();
    match same_host {
        Some(true) if !there.eq_ignore_ascii_case(here) => {
            wrong.push(format!("host {there}, not {here}"));
        }
        Some(false) if there.eq_ignore_ascii_case(here) => {
            wrong.push(format!("the same host {there}"));
        }
        _ => {}
    }
    (!wrong.is_empty()).then(|| {
        finding(
            check,
            expected,
            format!(
                "status {}, Location {} ({})",
                response.status.as_u16(),
                to,
                wrong.join(", ")
            ),
        )
    })
}

/// The text of a regex match, for a finding. A match is a cut like an excerpt (`Bearer.{0,40}`
/// can end inside a token), so it is widened over any secret it overlaps and scrubbed.
fn matched(text: &str, m: &regex::Match<'_>) -> String {
    redact::global().scrub_excerpt(text, m.range())
}

fn evaluate_body(check: &Check, test: &BodyTest, response: &Response) -> Verdict {
    let body = body_text(response);
    let truncated = response.truncated;
    let not_found = |expected: String, observed: &str| {
        if truncated {
            Verdict::Undecided
        } else {
            Verdict::Fails(vec![finding(
                check,
                expected,
                format!("{observed} in the body ({} bytes)", response.body.len()),
            )])
        }
    };
    match test {
        BodyTest::Contains(want) if body.contains(want.as_str()) => Verdict::Holds,
        BodyTest::Contains(want) => not_found(
            format!("a body containing {want:?}"),
            &format!("no {want:?}"),
        ),
        BodyTest::NotContains(want) => match body.find(want.as_str()) {
            Some(at) => Verdict::Fails(vec![finding(
                check,
                format!("a body without {want:?}"),
                format!(
                    "the body has {want:?} at byte {at}: {:?}",
                    excerpt(&body, at, want.len())
                ),
            )]),
            None if truncated => Verdict::Undecided,
            None => Verdict::Holds,
        },
        BodyTest::Matches(re) => match decisive_match(re, &body, truncated) {
            Some(_) => Verdict::Holds,
            None if truncated && ruled_out(re, &body) => Verdict::Fails(vec![finding(
                check,
                format!("a body matching {}", code(re.as_str())),
                format!(
                    "no match: the first {} bytes of the body rule it out (body truncated)",
                    body.len()
                ),
            )]),
            None => not_found(format!("a body matching {}", code(re.as_str())), "no match"),
        },
        BodyTest::NotMatches(re) => match decisive_match(re, &body, truncated) {
            Some(m) => Verdict::Fails(vec![finding(
                check,
                format!("a body not matching {}", code(re.as_str())),
                format!(
                    "the body has {:?} at byte {}",
                    matched(&body, &m),
                    m.start()
                ),
            )]),
            None if truncated && !ruled_out(re, &body) => Verdict::Undecided,
            None => Verdict::Holds,
        },
        BodyTest::CaptureDate { regex, after_now } => {
            evaluate_date(check, regex, *after_now, response)
        }
    }
}

/// A truncated body is an incomplete document: every JSON check on it is undecided.
fn evaluate_json(
    check: &Check,
    pointer: &str,
    test: &JsonTest,
    response: &Response,
    cx: &Cx<'_>,
) -> Verdict {
    if response.truncated {
        return Verdict::Undecided;
    }
    let expected = match test {
        JsonTest::Equals(v) => format!("JSON {pointer} equal to {v}"),
        JsonTest::NotEquals(v) => format!("JSON {pointer} other than {v}"),
        JsonTest::Present(true) => format!("a value at JSON {pointer}"),
        JsonTest::Present(false) => format!("nothing at JSON {pointer}"),
    };
    let seen = |v: &serde_json::Value| format!("JSON {pointer}: {v}");
    let missing = || format!("nothing at JSON {pointer}");
    let parsed = cx.json.get_or_init(|| {
        serde_json::from_slice::<serde_json::Value>(&response.body).map_err(|e| e.to_string())
    });
    let document = match parsed {
        Ok(v) => v,
        Err(e) => {
            return Verdict::Fails(vec![finding(
                check,
                expected,
                format!("the body is not JSON: {e}"),
            )]);
        }
    };
    let found = document.pointer(pointer);
    Verdict::from_finding(match (test, found) {
        (JsonTest::Equals(want), Some(v)) if v == want => None,
        (JsonTest::Equals(_), Some(v)) => Some(finding(check, expected, seen(v))),
        (JsonTest::Equals(_), None) => Some(finding(check, expected, missing())),
        (JsonTest::NotEquals(want), Some(v)) if v == want => {
            Some(finding(check, expected, seen(v)))
        }
        (JsonTest::NotEquals(_), _) => None,
        (JsonTest::Present(true), None) => Some(finding(check, expected, missing())),
        (JsonTest::Present(false), Some(v)) => Some(finding(check, expected, seen(v))),
        (JsonTest::Present(_), _) => None,
    })
}

/// A parsed `Set-Cookie` header: the name and the attributes that matter here.
struct SetCookie {
    name: String,
    secure: bool,
    http_only: bool,
    same_site: Option<Result<SameSite, String>>,
    /// The last `Path` attribute's value.
    path: Option<String>,
    /// The last non-empty `Domain` attribute's value (user agents ignore an empty one).
    domain: Option<String>,
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
        path: None,
        domain: None,
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
            "path" => cookie.path = Some(value.trim().to_string()),
            "domain" if !value.trim().is_empty() => cookie.domain = Some(value.trim().to_string()),
            _ => {}
        }
    }
    cookie
}

/// Parts of cookie names that mark a session or credential cookie (compared
/// case-insensitively): `PHPSESSID`, `JSESSIONID`, `ASP.NET_SessionId`, `laravel_session`,
/// `_session_id` (sess), `connect.sid`, `SID`, `APISID` (sid), `.ASPXAUTH` (auth),
/// `access_token`, `CFTOKEN` (token), `jwt`, `login`, `logged_in`, `remember_token`,
/// `KEYCLOAK_IDENTITY` (identity).
const SESSION_WORDS: [&str; 8] = [
    "sess",
    "auth",
    "token",
    "jwt",
    "login",
    "logged_in",
    "remember",
    "identity",
];

/// Whether a cookie name looks like a session's: it has one of [`SESSION_WORDS`], or `sid`
/// not followed by a letter (`connect.sid`, `SID`, `sid_v2`, but not `sidebar`), or is
/// ColdFusion's `CFID`. CSRF tokens (`csrf`, `xsrf` in the name) are not: scripts must read
/// them for the double-submit pattern.
pub fn session_like(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.contains("csrf") || lower.contains("xsrf") {
        return false;
    }
    let sid = lower.match_indices("sid").any(|(at, _)| {
        !lower[at + 3..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
    });
    sid || lower == "cfid" || SESSION_WORDS.iter().any(|w| lower.contains(w))
}

fn evaluate_cookies(check: &Check, headers: &HeaderMap) -> Vec<Finding> {
    let Check::Cookies {
        all_have,
        samesite_at_least,
        session_like: only,
        samesite_valid,
        prefix_rules,
    } = check
    else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for value in headers.get_all(http::header::SET_COOKIE) {
        let cookie = parse_set_cookie(&String::from_utf8_lossy(value.as_bytes()));
        if only.is_some_and(|want| session_like(&cookie.name) != want) {
            continue;
        }
        // The name and the SameSite value come from the target: `Finding::redacted` scrubs
        // and clips them like any observation.
        let label = format!("cookie {}", cookie.name);
        let set = format!("Set-Cookie {}", cookie.name);
        let mut push = |check: String, expected: String, observed: String| {
            findings.push(Finding {
                check,
                expected,
                observed,
                detail: None,
                severity: None,
            });
        };
        for flag in all_have {
            let (has, flag_name) = match flag {
                CookieFlag::Secure => (cookie.secure, "Secure"),
                CookieFlag::HttpOnly => (cookie.http_only, "HttpOnly"),
            };
            if !has {
                push(
                    format!("{label} has the {flag_name} flag"),
                    format!("{set} with {flag_name}"),
                    format!("{set} without {flag_name}"),
                );
            }
        }
        if let Some(min) = *samesite_at_least {
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
                push(
                    format!("{label} has SameSite {} or stricter", min.name()),
                    format!("{set} with SameSite={} or stricter", min.name()),
                    match observed {
                        Ok(level) if cookie.same_site.is_none() => {
                            format!("{set} without SameSite (treated as {})", level.name())
                        }
                        Ok(level) => format!("{set} with SameSite={}", level.name()),
                        Err(raw) => format!("{set} with an invalid SameSite {raw:?}"),
                    },
                );
            }
        }
        if *samesite_valid {
            let observed = match &cookie.same_site {
                Some(Err(raw)) => Some(format!("{set} with an invalid SameSite {raw:?}")),
                // Browsers reject a SameSite=None cookie without Secure.
                Some(Ok(SameSite::None)) if !cookie.secure => {
                    Some(format!("{set} with SameSite=None but without Secure"))
                }
                _ => None,
            };
            if let Some(observed) = observed {
                push(
                    format!("{label} has a valid SameSite"),
                    format!("{set} with SameSite Strict, Lax, or None with Secure"),
                    observed,
                );
            }
        }
        if *prefix_rules && let Some((prefix, expected, broken)) = prefix_violations(&cookie) {
            push(
                format!("{label} keeps the {prefix} prefix rules"),
                format!("{set} with {expected}"),
                format!("{set} {}", list_words(&broken, "and")),
            );
        }
    }
    findings
}

/// The rules of RFC 6265bis cookie name prefixes (matched case-insensitively, as current
/// browsers do) that `cookie` breaks: `__Secure-` needs `Secure`; `__Host-` needs `Secure`,
/// `Path=/` and no `Domain`. `None` when the name has no prefix or keeps its rules.
fn prefix_violations(cookie: &SetCookie) -> Option<(&'static str, &'static str, Vec<String>)> {
    let lower = cookie.name.to_ascii_lowercase();
    let mut broken = Vec::new();
    if !cookie.secure {
        broken.push("without Secure".to_string());
    }
    let (prefix, expected) = if lower.starts_with("__host-") {
        match cookie.path.as_deref() {
            Some("/") => {}
            Some(path) => broken.push(format!("with Path {path:?}")),
            None => broken.push("without Path".to_string()),
        }
        if let Some(domain) = &cookie.domain {
            broken.push(format!("with Domain {domain:?}"));
        }
        ("__Host-", "Secure, Path=/ and no Domain")
    } else if lower.starts_with("__secure-") {
        ("__Secure-", "Secure")
    } else {
        return None;
    };
    (!broken.is_empty()).then_some((prefix, expected, broken))
}

/// The last comma-separated token of a header's combined value that is one of `known`
/// (lowercase), compared case-insensitively; `None` when there is none.
fn last_known_token(headers: &HeaderMap, name: &HeaderName, known: &[String]) -> Option<String> {
    let value = header_value(headers, name)?;
    value
        .split(',')
        .map(str::trim)
        .rfind(|t| known.iter().any(|k| k.eq_ignore_ascii_case(t)))
        .map(str::to_string)
}

/// The first match of a date capture that the unread rest of a truncated body cannot change:
/// one that ends before the cut (its group and any assertion after it are then decided).
fn date_capture<'t>(re: &Regex, text: &'t str, truncated: bool) -> Option<regex::Captures<'t>> {
    re.captures_iter(text)
        .find(|c| !truncated || c.get(0).is_some_and(|m| m.end() < text.len()))
}

fn evaluate_date(check: &Check, re: &Regex, after_now: bool, response: &Response) -> Verdict {
    let body = body_text(response);
    let expected = if after_now {
        "a date-time after now (RFC 3339)"
    } else {
        "a date-time not after now (RFC 3339)"
    };
    let Some(captures) = date_capture(re, &body, response.truncated) else {
        return if response.truncated {
            Verdict::Undecided
        } else {
            Verdict::Fails(vec![finding(
                check,
                expected,
                format!("no date found in the body ({} bytes)", response.body.len()),
            )])
        };
    };
    let captured = captures.get(1).map_or("", |m| m.as_str()).trim();
    let Ok(date) = chrono::DateTime::parse_from_rfc3339(captured) else {
        return Verdict::Fails(vec![finding(
            check,
            expected,
            format!("{captured:?}, not an RFC 3339 date-time"),
        )]);
    };
    let future = date > chrono::Utc::now();
    if future == after_now {
        Verdict::Holds
    } else {
        let when = if future {
            "in the future"
        } else {
            "in the past"
        };
        Verdict::Fails(vec![finding(
            check,
            expected,
            format!("{captured} ({when})"),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    /// Evaluates ungraded checks.
    fn evaluate(checks: &[Check], response: &Response) -> Evaluation {
        let graded: Vec<Graded<Check>> = checks.iter().cloned().map(Graded::from).collect();
        super::evaluate(&graded, response)
    }
    use crate::check::MAX_OBSERVED_CHARS;
    use crate::redact::Redactor;

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
            url: Url::parse("http://127.0.0.1:8080/").unwrap(),
        }
    }

    fn header(name: &str, test: HeaderTest) -> Check {
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

    /// Regression: `not` checks were titled `not (A and B)` and expected "not to hold";
    /// combinators observed "title: observed" formulas; `not_matches` said `(forbidden: …)`.
    #[test]
    fn findings_read_as_sentences_not_formulas() {
        let cors = Check::Not(Box::new(Check::AllOf(vec![
            Check::Status(StatusSet(vec![StatusItem::Class(2)])),
            header(
                "access-control-allow-origin",
                HeaderTest::Equals("null".into()),
            ),
            header(
                "access-control-allow-credentials",
                HeaderTest::Equals("true".into()),
            ),
        ])));
        assert_eq!(
            cors.title(),
            "the status is not 2xx, or Access-Control-Allow-Origin is not \"null\", \
             or Access-Control-Allow-Credentials is not \"true\""
        );
        let r = response(
            &[
                ("access-control-allow-origin", "null"),
                ("access-control-allow-credentials", "true"),
            ],
            "",
        );
        let f = evaluate(std::slice::from_ref(&cors), &r).findings;
        assert_eq!(
            f[0].expected,
            "never all of these at once: the status is 2xx, Access-Control-Allow-Origin is \
             \"null\" and Access-Control-Allow-Credentials is \"true\""
        );
        assert_eq!(
            f[0].observed,
            "status 200; Access-Control-Allow-Origin: null; Access-Control-Allow-Credentials: true"
        );
        // `not` of `any_of` is "none of them"; `not` of `not` is the check itself.
        let either = Check::Not(Box::new(Check::AnyOf(vec![
            header("x-powered-by", HeaderTest::Present),
            body(BodyTest::Contains("stack".into())),
        ])));
        assert_eq!(
            either.title(),
            "X-Powered-By is not sent and the body does not contain \"stack\""
        );
        let twice = Check::Not(Box::new(Check::Not(Box::new(header(
            "server",
            HeaderTest::Absent,
        )))));
        assert_eq!(twice.title(), "Server is not sent");

        // A team's `not_matches` without a title: the pattern in backticks, the value seen.
        let server = header("server", HeaderTest::NotMatches(re(r"\d")));
        assert_eq!(server.title(), "Server does not match `\\d`");
        let f = evaluate(
            std::slice::from_ref(&server),
            &response(&[("server", "nginx/1.22.1")], ""),
        )
        .findings;
        assert_eq!(f[0].expected, "Server not matching `\\d`");
        assert_eq!(f[0].observed, "Server: nginx/1.22.1");

        // A failed `all_of` reports its failed parts' own words, each said once.
        let redirect = Check::AllOf(vec![
            Check::Status(StatusSet(vec![
                StatusItem::Code(301),
                StatusItem::Code(302),
                StatusItem::Code(307),
                StatusItem::Code(308),
            ])),
            Check::Location {
                scheme: Some("https".into()),
                same_host: Some(true),
            },
        ]);
        let f = evaluate(&[redirect], &response(&[], "")).findings;
        assert_eq!(
            f[0].check,
            "the status is 301, 302, 307 or 308 and the response redirects to https:// on the same host"
        );
        assert_eq!(
            f[0].expected,
            "status 301, 302, 307 or 308 and a redirect to https:// on the same host"
        );
        assert_eq!(f[0].observed, "status 200, no redirect");
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
        assert!(
            evaluate(std::slice::from_ref(&check), &ok)
                .findings
                .is_empty()
        );
        let short = response(&[("strict-transport-security", "max-age=300")], "");
        let f = evaluate(std::slice::from_ref(&check), &short).findings;
        assert_eq!(f[0].observed, "Strict-Transport-Security: max-age=300");
        assert_eq!(
            f[0].expected,
            "a number of at least 15552000 in Strict-Transport-Security"
        );
        let f = evaluate(&[check], &response(&[], "")).findings;
        assert_eq!(f[0].observed, "Strict-Transport-Security not sent");
    }

    #[test]
    fn repeated_headers_are_combined() {
        let check = header("x-frame-options", HeaderTest::Equals("DENY".into()));
        let twice = response(
            &[("x-frame-options", "DENY"), ("x-frame-options", "DENY")],
            "",
        );
        assert_eq!(
            evaluate(&[check], &twice).findings[0].observed,
            "X-Frame-Options: DENY, DENY"
        );
    }

    #[test]
    fn cookies_flags_and_samesite() {
        let check = Check::Cookies {
            all_have: vec![CookieFlag::Secure, CookieFlag::HttpOnly],
            samesite_at_least: Some(SameSite::Lax),
            session_like: None,
            samesite_valid: false,
            prefix_rules: false,
        };
        let good = response(
            &[("set-cookie", "sid=1; Secure; HttpOnly; SameSite=Strict")],
            "",
        );
        assert!(
            evaluate(std::slice::from_ref(&check), &good)
                .findings
                .is_empty()
        );
        let bad = response(&[("set-cookie", "sid=1; HttpOnly; SameSite=None")], "");
        let f = evaluate(&[check], &bad).findings;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].check, "cookie sid has the Secure flag");
        assert_eq!(f[1].observed, "Set-Cookie sid with SameSite=None");
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

    fn cut(body: &[u8]) -> Response {
        Response {
            body: body.to_vec(),
            truncated: true,
            ..response(&[], "")
        }
    }

    fn body(test: BodyTest) -> Check {
        Check::Body(test)
    }

    fn re(pattern: &str) -> Regex {
        Regex::new(pattern).unwrap()
    }

    /// "holds", "fails" or "undecided", for compact assertions.
    fn verdict(check: &Check, response: &Response) -> &'static str {
        let stop = Interrupt::new();
        let cx = Cx {
            stop: &stop,
            json: std::cell::OnceCell::new(),
        };
        match evaluate_one(check, response, &cx) {
            Verdict::Holds => "holds",
            Verdict::Fails(_) => "fails",
            Verdict::Undecided => "undecided",
        }
    }

    #[test]
    fn a_truncated_body_decides_only_what_its_prefix_proves() {
        let r = cut(b"<html>Index of /srv and more");
        let cases = [
            (BodyTest::Contains("Index of".into()), "holds"),
            (BodyTest::Contains("NEEDLE".into()), "undecided"),
            (BodyTest::NotContains("Index of".into()), "fails"),
            (BodyTest::NotContains("NEEDLE".into()), "undecided"),
            (BodyTest::Matches(re("Index of /\\w+")), "holds"),
            (BodyTest::Matches(re("NEEDLE")), "undecided"),
            (BodyTest::NotMatches(re("Index of")), "fails"),
            (BodyTest::NotMatches(re("NEEDLE")), "undecided"),
        ];
        for (test, want) in cases {
            let check = body(test);
            assert_eq!(verdict(&check, &r), want, "{}", check.describe());
        }
        let json = Check::Json {
            pointer: "/a".into(),
            test: JsonTest::Present(false),
        };
        assert_eq!(verdict(&json, &cut(b"{\"a\": 1}")), "undecided");
    }

    #[test]
    fn a_match_that_reaches_the_cut_decides_only_if_the_pattern_cannot_see_past_it() {
        let r = cut(b"name: admin");
        // `admin$` holds on the prefix, but the whole body goes on after `admin`.
        for (pattern, want) in [
            ("admin", "holds"),
            ("a.*n", "holds"),
            ("(?m)^name", "holds"),
            ("admin$", "undecided"),
            ("admin\\b", "undecided"),
            ("(?m)admin$", "undecided"),
            ("name\\b", "holds"),
        ] {
            let check = body(BodyTest::Matches(re(pattern)));
            assert_eq!(verdict(&check, &r), want, "{pattern}");
            let negated = body(BodyTest::NotMatches(re(pattern)));
            let negated_want = if want == "holds" { "fails" } else { want };
            assert_eq!(verdict(&negated, &r), negated_want, "not {pattern}");
        }
    }

    #[test]
    fn a_pattern_anchored_at_the_start_is_ruled_out_once_no_continuation_can_match() {
        for (pattern, prefix, want) in [
            // exposure/api-docs: a JSON document starts with `{`.
            ("\\A\\x{FEFF}?\\s*\\{", "<!doctype html>", "fails"),
            ("\\A\\x{FEFF}?\\s*\\{", "   \n  ", "undecided"),
            // exposure/spring-actuator (heap dump).
            ("\\A(?:JAVA PROFILE 1\\.0\\.[12])", "<html>", "fails"),
            ("\\A(?:JAVA PROFILE 1\\.0\\.[12])", "JAVA PRO", "undecided"),
            // Unanchored patterns can always match later.
            ("\\{", "<!doctype html>", "undecided"),
            ("(?m)^\\{", "<!doctype html>", "undecided"),
            // A Unicode word boundary makes the lazy DFA give up: stays open.
            ("\\A\\bé", "aaa", "undecided"),
        ] {
            let r = cut(prefix.as_bytes());
            let check = body(BodyTest::Matches(re(pattern)));
            assert_eq!(verdict(&check, &r), want, "{pattern} on {prefix:?}");
            let negated = body(BodyTest::NotMatches(re(pattern)));
            let negated_want = if want == "fails" { "holds" } else { want };
            assert_eq!(
                verdict(&negated, &r),
                negated_want,
                "not {pattern} on {prefix:?}"
            );
        }
        let f = evaluate(&[body(BodyTest::Matches(re("\\A\\{")))], &cut(b"<html>")).findings;
        assert_eq!(
            f[0].observed,
            "no match: the first 6 bytes of the body rule it out (body truncated)"
        );
    }

    #[test]
    fn a_cut_inside_a_character_is_not_read_as_a_replacement_character() {
        assert_eq!(complete_len("aé".as_bytes()), 3);
        assert_eq!(complete_len(&"aé".as_bytes()[..2]), 1);
        assert_eq!(complete_len(&"a€".as_bytes()[..3]), 1);
        assert_eq!(complete_len(&"a😀".as_bytes()[..4]), 1);
        assert_eq!(complete_len(b"a\xff"), 2);
        assert_eq!(complete_len(b""), 0);
        let r = cut(&"ok é".as_bytes()[..4]);
        let check = body(BodyTest::NotContains("\u{fffd}".into()));
        assert_eq!(verdict(&check, &r), "undecided");
        // Invalid bytes before the cut are in the whole body too.
        let r = cut(b"\xff ok");
        assert_eq!(verdict(&check, &r), "fails");
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
        let done = evaluate_until(&checks, &response, &stop).unwrap();
        assert_eq!(done.findings.len(), 1);
        stop.set();
        assert!(evaluate_until(&checks, &response, &stop).is_none());
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

    fn csp(test: CspTest) -> Check {
        Check::Csp { test, meta: true }
    }

    #[test]
    fn csp_parsable_reads_headers_and_meta_of_html_only() {
        let check = csp(CspTest::Parsable);
        let html = |csp: &str| {
            format!(
                "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\"></head><body>x</body></html>"
            )
        };
        let cases: Vec<(Response, &str)> = vec![
            (
                response(&[("content-security-policy", "default-src 'self'")], ""),
                "holds",
            ),
            (response(&[], ""), "fails"),
            (
                response(&[("content-security-policy", "default-src: 'self'")], ""),
                "fails",
            ),
            (response(&[("content-security-policy", "")], ""), "fails"),
            (
                response(
                    &[("content-type", "text/html")],
                    &html("default-src 'self'"),
                ),
                "holds",
            ),
            (
                response(&[("content-type", "text/html")], &html("'self'")),
                "fails",
            ),
            // A meta tag in a JSON body is not a policy.
            (
                response(
                    &[("content-type", "application/json")],
                    &html("default-src 'self'"),
                ),
                "fails",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(
                verdict(&check, &r),
                want,
                "{:?} {:?}",
                r.headers,
                r.body.len()
            );
        }
        let meta_off = Check::Csp {
            test: CspTest::Parsable,
            meta: false,
        };
        let r = response(
            &[("content-type", "text/html")],
            &html("default-src 'self'"),
        );
        assert_eq!(verdict(&meta_off, &r), "fails");
        let f = evaluate(&[check], &response(&[], "")).findings;
        assert_eq!(f[0].observed, "no Content-Security-Policy");
        assert_eq!(f[0].check, "a Content-Security-Policy is enforced");
    }

    #[test]
    fn csp_on_a_cut_head_is_undecided_until_a_header_decides() {
        let mut r = cut(b"<html><head><title>x</title>");
        r.headers
            .insert(http::header::CONTENT_TYPE, "text/html".parse().unwrap());
        assert_eq!(verdict(&csp(CspTest::Parsable), &r), "undecided");
        let keywords = csp(CspTest::ForbidScriptKeywords(vec![
            ScriptKeyword::UnsafeInline,
        ]));
        assert_eq!(verdict(&keywords, &r), "undecided");
        r.headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            "default-src 'self'".parse().unwrap(),
        );
        assert_eq!(verdict(&csp(CspTest::Parsable), &r), "holds");
        assert_eq!(verdict(&keywords, &r), "holds");
        // Framing never reads meta policies, so a cut head does not matter.
        assert_eq!(verdict(&csp(CspTest::RestrictsFraming), &r), "fails");
        // Once the head has ended, what it lacks is decided.
        let mut done = cut(b"<html><head></head><body>");
        done.headers
            .insert(http::header::CONTENT_TYPE, "text/html".parse().unwrap());
        assert_eq!(verdict(&csp(CspTest::Parsable), &done), "fails");
    }

    #[test]
    fn csp_framing_needs_a_restrictive_frame_ancestors_in_a_header() {
        let check = csp(CspTest::RestrictsFraming);
        for (value, want) in [
            ("frame-ancestors 'none'", "holds"),
            (
                "default-src 'self'; frame-ancestors 'self' https://app.example",
                "holds",
            ),
            ("frame-ancestors *", "fails"),
            ("frame-ancestors https:", "fails"),
            ("frame-ancestors 'self' http:", "fails"),
            ("frame-ancestors *:", "fails"),
            ("default-src 'self'", "fails"),
        ] {
            let r = response(&[("content-security-policy", value)], "");
            assert_eq!(verdict(&check, &r), want, "{value}");
        }
        // One restrictive policy among several is enough: each is enforced.
        let two = response(
            &[
                ("content-security-policy", "frame-ancestors *"),
                ("content-security-policy", "frame-ancestors 'none'"),
            ],
            "",
        );
        assert_eq!(verdict(&check, &two), "holds");
        let f = evaluate(
            &[check],
            &response(&[("content-security-policy", "frame-ancestors https:")], ""),
        )
        .findings;
        assert_eq!(
            f[0].observed,
            "\"frame-ancestors https:\" lets any site frame the page"
        );
        // has_directive sees frame-ancestors only in a header.
        let has = csp(CspTest::HasDirective("frame-ancestors".into()));
        let meta = response(
            &[("content-type", "text/html")],
            "<head><meta http-equiv=Content-Security-Policy content=\"frame-ancestors 'none'\"></head>",
        );
        assert_eq!(verdict(&has, &meta), "fails");
        let object = csp(CspTest::HasDirective("object-src".into()));
        let meta = response(
            &[("content-type", "text/html")],
            "<head><meta http-equiv=Content-Security-Policy content=\"object-src 'none'\"></head>",
        );
        assert_eq!(verdict(&object, &meta), "holds");
    }

    #[test]
    fn csp_script_keywords_name_the_directive_that_allows_them() {
        let check = csp(CspTest::ForbidScriptKeywords(vec![
            ScriptKeyword::UnsafeInline,
            ScriptKeyword::UnsafeEval,
        ]));
        let r = response(
            &[(
                "content-security-policy",
                "SCRIPT-SRC 'self' 'UNSAFE-INLINE' 'unsafe-eval'",
            )],
            "",
        );
        let f = evaluate(std::slice::from_ref(&check), &r).findings;
        assert_eq!(f.len(), 2);
        assert_eq!(
            f[0].observed,
            "\"SCRIPT-SRC 'self' 'UNSAFE-INLINE' 'unsafe-eval'\" allows 'unsafe-inline'"
        );
        assert_eq!(f[1].expected, "no 'unsafe-eval' for scripts");
        let nonce = response(
            &[(
                "content-security-policy",
                "script-src 'nonce-abc' 'strict-dynamic' 'unsafe-inline'",
            )],
            "",
        );
        assert_eq!(verdict(&check, &nonce), "holds");
    }

    #[test]
    fn distinct_header_values_count_once() {
        let check = Check::Header {
            name: HeaderName::from_static("x-frame-options"),
            test: HeaderTest::Equals("DENY".into()),
            distinct: true,
        };
        for (lines, want) in [
            (&["DENY", "DENY"][..], "holds"),
            (&["DENY, deny"][..], "holds"),
            (&["DENY"][..], "holds"),
            (&["DENY", "SAMEORIGIN"][..], "fails"),
        ] {
            let headers: Vec<(&str, &str)> =
                lines.iter().map(|l| ("x-frame-options", *l)).collect();
            assert_eq!(verdict(&check, &response(&headers, "")), want, "{lines:?}");
        }
        let f = evaluate(
            &[check],
            &response(
                &[
                    ("x-frame-options", "DENY"),
                    ("x-frame-options", "SAMEORIGIN"),
                ],
                "",
            ),
        )
        .findings;
        assert_eq!(f[0].observed, "X-Frame-Options: DENY, SAMEORIGIN");
    }

    #[test]
    fn location_resolves_against_the_request_and_compares_scheme_and_host() {
        let check = Check::Location {
            scheme: Some("https".into()),
            same_host: Some(true),
        };
        let redirect = |status: u16, location: &str| {
            let mut r = response(&[("location", location)], "");
            r.status = StatusCode::from_u16(status).unwrap();
            r
        };
        for (status, location, want) in [
            (301, "https://127.0.0.1:8443/", "holds"),
            (308, "https://127.0.0.1/a?b", "holds"),
            (302, "https://127.0.0.2/", "fails"),
            (301, "http://127.0.0.1/", "fails"),
            (301, "/login", "fails"),
            (301, "//127.0.0.1/", "fails"),
            (200, "https://127.0.0.1/", "fails"),
        ] {
            assert_eq!(
                verdict(&check, &redirect(status, location)),
                want,
                "{status} {location}"
            );
        }
        let f = evaluate(
            std::slice::from_ref(&check),
            &redirect(302, "https://127.0.0.2/x?token=1"),
        )
        .findings;
        assert_eq!(
            f[0].observed,
            "status 302, Location https://127.0.0.2/x?token=1 (host 127.0.0.2, not 127.0.0.1)"
        );
        assert_eq!(f[0].expected, "a redirect to https:// on the same host");
        let f = evaluate(&[check], &response(&[], "")).findings;
        assert_eq!(f[0].observed, "status 200, no redirect");
        let other = Check::Location {
            scheme: None,
            same_host: Some(false),
        };
        assert_eq!(
            verdict(&other, &redirect(302, "https://evil.invalid/")),
            "holds"
        );
        assert_eq!(verdict(&other, &redirect(302, "/next")), "fails");
    }

    #[test]
    fn a_long_invalid_samesite_is_clipped() {
        let check = Check::Cookies {
            all_have: vec![],
            samesite_at_least: Some(SameSite::None),
            session_like: None,
            samesite_valid: false,
            prefix_rules: false,
        };
        let long = format!("sid=1; SameSite={}", "x\t".repeat(500));
        let f: Vec<Finding> = evaluate(&[check], &response(&[("set-cookie", &long)], ""))
            .findings
            .iter()
            .map(|f| f.redacted(&Redactor::default()))
            .collect();
        assert_eq!(f.len(), 1);
        assert!(
            f[0].observed
                .starts_with("Set-Cookie sid with an invalid SameSite \"x\\t"),
            "{}",
            f[0].observed
        );
        assert!(f[0].observed.chars().count() <= MAX_OBSERVED_CHARS + 1);
    }

    fn cookie_check(
        all_have: Vec<CookieFlag>,
        session_like: Option<bool>,
        samesite_valid: bool,
        prefix_rules: bool,
    ) -> Check {
        Check::Cookies {
            all_have,
            samesite_at_least: None,
            session_like,
            samesite_valid,
            prefix_rules,
        }
    }

    /// (check, observed) of every finding of `check` on these `Set-Cookie` values.
    fn cookie_findings(check: &Check, values: &[&str]) -> Vec<(String, String)> {
        let headers: Vec<(&str, &str)> = values.iter().map(|v| ("set-cookie", *v)).collect();
        evaluate(std::slice::from_ref(check), &response(&headers, ""))
            .findings
            .into_iter()
            .map(|f| (f.check, f.observed))
            .collect()
    }

    #[test]
    fn session_like_cookie_names() {
        for name in [
            "PHPSESSID",
            "JSESSIONID",
            "ASP.NET_SessionId",
            "connect.sid",
            "laravel_session",
            "_session_id",
            "_shop_session",
            "sessionid",
            "SID",
            "APISID",
            "sid_v2",
            ".ASPXAUTH",
            "access_token",
            "CFID",
            "CFTOKEN",
            "jwt",
            "remember_web_59ba36",
            "wordpress_logged_in_abc",
            "KEYCLOAK_IDENTITY",
            "__Host-next-auth.session-token",
        ] {
            assert!(session_like(name), "{name}");
        }
        for name in [
            "theme",
            "lang",
            "sidebar_state",
            "_ga",
            "csrftoken",
            "XSRF-TOKEN",
            "__Host-csrf",
            "consent",
            "",
        ] {
            assert!(!session_like(name), "{name}");
        }
    }

    #[test]
    fn cookies_select_session_like_names() {
        let set = ["sid=1; Path=/", "theme=dark; Path=/"];
        let session = cookie_check(vec![CookieFlag::HttpOnly], Some(true), false, false);
        assert_eq!(
            cookie_findings(&session, &set),
            [(
                "cookie sid has the HttpOnly flag".into(),
                "Set-Cookie sid without HttpOnly".into()
            )]
        );
        let others = cookie_check(vec![CookieFlag::HttpOnly], Some(false), false, false);
        assert_eq!(
            cookie_findings(&others, &set),
            [(
                "cookie theme has the HttpOnly flag".into(),
                "Set-Cookie theme without HttpOnly".into()
            )]
        );
        let all = cookie_check(vec![CookieFlag::HttpOnly], None, false, false);
        assert_eq!(cookie_findings(&all, &set).len(), 2);
    }

    #[test]
    fn samesite_must_be_known_and_none_needs_secure() {
        let check = cookie_check(vec![], None, true, false);
        for good in [
            "a=1",
            "a=1; SameSite=Lax",
            "a=1; samesite=STRICT",
            "a=1; SameSite=None; Secure",
        ] {
            assert!(cookie_findings(&check, &[good]).is_empty(), "{good}");
        }
        assert_eq!(
            cookie_findings(&check, &["a=1; SameSite=None"]),
            [(
                "cookie a has a valid SameSite".into(),
                "Set-Cookie a with SameSite=None but without Secure".into()
            )]
        );
        assert_eq!(
            cookie_findings(&check, &["a=1; Secure; SameSite=Lenient"])[0].1,
            "Set-Cookie a with an invalid SameSite \"Lenient\""
        );
    }

    #[test]
    fn cookie_prefixes_keep_their_rules() {
        let check = cookie_check(vec![], None, false, true);
        for good in [
            "plain=1",
            "__Host-id=1; Secure; Path=/",
            "__host-id=1; secure; path=/; SameSite=Lax",
            "__Host-id=1; Secure; Path=/; Domain=",
            "__Secure-id=1; Secure; Domain=example.com; Path=/app",
            // No prefix: the rules do not apply.
            "_Host-id=1",
        ] {
            assert!(cookie_findings(&check, &[good]).is_empty(), "{good}");
        }
        let cases: &[(&str, &str)] = &[
            ("__Host-id=1; Path=/", "Set-Cookie __Host-id without Secure"),
            ("__Host-id=1; Secure", "Set-Cookie __Host-id without Path"),
            (
                "__Host-id=1; Secure; Path=/app",
                "Set-Cookie __Host-id with Path \"/app\"",
            ),
            (
                "__Host-id=1; Secure; Path=/; Domain=example.com",
                "Set-Cookie __Host-id with Domain \"example.com\"",
            ),
            (
                "__HOST-id=1; Domain=example.com",
                "Set-Cookie __HOST-id without Secure, without Path and with Domain \"example.com\"",
            ),
            (
                "__Secure-id=1; HttpOnly",
                "Set-Cookie __Secure-id without Secure",
            ),
        ];
        for (value, observed) in cases {
            let f = cookie_findings(&check, &[value]);
            assert_eq!(f.len(), 1, "{value}");
            assert_eq!(f[0].1, *observed, "{value}");
            assert!(f[0].0.ends_with("prefix rules"), "{}", f[0].0);
        }
    }

    fn token_check(test: HeaderTest) -> Check {
        Check::HeaderToken {
            name: HeaderName::from_static("referrer-policy"),
            known: ["no-referrer", "origin", "unsafe-url", "strict-origin"]
                .map(String::from)
                .to_vec(),
            test,
        }
    }

    #[test]
    fn a_list_header_is_read_as_its_last_known_token() {
        let check = token_check(HeaderTest::NotMatches(re("(?i)^(unsafe-url|origin)$")));
        for (value, fails) in [
            ("unsafe-url, x-future", true),
            ("no-referrer, x-future", false),
            ("unsafe-url,strict-origin", false),
            ("no-referrer, UNSAFE-URL , ", true),
            ("x-future", false),
            ("", false),
        ] {
            let f = evaluate(
                std::slice::from_ref(&check),
                &response(&[("referrer-policy", value)], ""),
            )
            .findings;
            assert_eq!(!f.is_empty(), fails, "{value:?}: {f:?}");
        }
        // The observed value is the token judged.
        let f = evaluate(
            &[check],
            &response(&[("referrer-policy", "origin, bogus")], ""),
        )
        .findings;
        assert_eq!(
            f[0].observed,
            "Referrer-Policy: origin (the last recognised token of \"origin, bogus\")"
        );
        // No known token: the header counts as absent.
        let present = token_check(HeaderTest::Present);
        let f = evaluate(&[present], &response(&[("referrer-policy", "bogus")], "")).findings;
        assert_eq!(
            f[0].observed,
            "Referrer-Policy: no recognised token in \"bogus\""
        );
    }

    fn date_check(after_now: bool) -> Check {
        body(BodyTest::CaptureDate {
            regex: re(r"(?mi)^expires:[ \t]*(\S+)"),
            after_now,
        })
    }

    #[test]
    fn a_captured_date_is_compared_with_now() {
        let future = "Contact: x\nExpires: 2999-01-01T00:00:00Z\n";
        let past = "Contact: x\nexpires: 2001-01-01T00:00:00.000+02:00\n";
        assert_eq!(verdict(&date_check(true), &response(&[], future)), "holds");
        assert_eq!(verdict(&date_check(false), &response(&[], past)), "holds");
        let f = evaluate(&[date_check(true)], &response(&[], past)).findings;
        assert_eq!(f[0].observed, "2001-01-01T00:00:00.000+02:00 (in the past)");
        assert_eq!(f[0].check, "the date in the body is in the future");
        let f = evaluate(&[date_check(true)], &response(&[], "Expires: soon\n")).findings;
        assert_eq!(f[0].observed, "\"soon\", not an RFC 3339 date-time");
        let f = evaluate(&[date_check(true)], &response(&[], "Contact: x\n")).findings;
        assert_eq!(f[0].observed, "no date found in the body (11 bytes)");
    }

    #[test]
    fn a_date_that_touches_the_cut_is_undecided() {
        // The date may go on past the cut: `2001` could be `20011-…`.
        assert_eq!(
            verdict(&date_check(true), &cut(b"Expires: 2001-01-01T00:00:00Z")),
            "undecided"
        );
        assert_eq!(
            verdict(&date_check(true), &cut(b"Contact: x\n")),
            "undecided"
        );
        assert_eq!(
            verdict(
                &date_check(true),
                &cut(b"Expires: 2001-01-01T00:00:00Z\nmore")
            ),
            "fails"
        );
    }
}
