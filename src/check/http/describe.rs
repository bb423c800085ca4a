//! How HTTP checks read in words: titles, expectations and the sentences findings use.

use http::HeaderName;

use super::{BodyTest, Check, CspTest, HeaderTest, JsonTest, StatusItem, StatusSet};
use crate::check::csp::ScriptKeyword;
use crate::check::list_words;
use crate::check::response::header_display;
use crate::units::format_duration;

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
            Check::Software(software) => software.describe(),
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
            Check::Software(software) => software.sentence(negated),
        }
    }

    /// What a `not` check expects, for its finding when the check it negates held: the parts
    /// of an `all_of` never all at once, none of an `any_of`'s, or the opposite sentence.
    pub(super) fn negated_expectation(&self) -> String {
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

pub(super) fn keyword_list(keywords: &[ScriptKeyword]) -> String {
    keywords
        .iter()
        .map(|k| k.as_source())
        .collect::<Vec<_>>()
        .join(" or ")
}

pub(super) fn location_terms(scheme: Option<&str>, same_host: Option<bool>) -> String {
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
pub(super) fn code(pattern: &str) -> String {
    format!("`{pattern}`")
}

/// A status set in words: `200`, `301, 302, 307 or 308`, `2xx`.
pub(super) fn status_words(set: &StatusSet) -> String {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{body, evaluate, header, re, response};
    use super::super::*;

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
}
