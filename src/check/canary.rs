//! The run's canary in HTTP checks: `{{random}}` in a header or body check stands for the
//! value the same run sent (see `probe::template`), so a check compares with exactly what
//! went out: the CORS probe's `Access-Control-Allow-Origin` against the `Origin` it sent, the
//! TRACE probe's echoed body against its canary header.
//!
//! Texts keep `{{random}}` as written until the run fills it in. Regexes are compiled at load
//! with [`SENTINEL`], a literal of the canary's length and alphabet, in its place (so the load
//! budgets measure the regex as it will run), and rebuilt once per run with the canary.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

use super::Graded;
use super::http::{BodyTest, Check, HeaderTest};
use super::regex::{REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT};

/// What stands for `{{random}}` in a regex compiled at load: as long as a canary and made of
/// the same characters, and unlikely in any real pattern.
pub const SENTINEL: &str = "q0picketrnd0";

/// The spellings of the placeholder in a check.
const PLACEHOLDERS: [&str; 2] = ["{{random}}", "{{ random }}"];

/// A regex source with `{{random}}` replaced by [`SENTINEL`], for compiling at load.
pub fn regex_source(pattern: &str) -> Cow<'_, str> {
    if PLACEHOLDERS.iter().any(|p| pattern.contains(p)) {
        Cow::Owned(fill(pattern, SENTINEL))
    } else {
        Cow::Borrowed(pattern)
    }
}

/// `checks` with `{{random}}` filled in with `canary`; borrowed when none uses it.
pub fn bind_random<'a>(checks: &'a [Graded<Check>], canary: &str) -> Cow<'a, [Graded<Check>]> {
    if !checks.iter().any(|g| uses_random(&g.check)) {
        return Cow::Borrowed(checks);
    }
    Cow::Owned(
        checks
            .iter()
            .map(|g| Graded {
                check: bind(&g.check, canary),
                ..g.clone()
            })
            .collect(),
    )
}

/// Whether a check (or one inside it) uses `{{random}}`.
pub fn uses_random(check: &Check) -> bool {
    match check {
        Check::Header { test, .. } | Check::HeaderToken { test, .. } => match test {
            HeaderTest::Equals(t) | HeaderTest::NotEquals(t) | HeaderTest::Contains(t) => {
                has_placeholder(t)
            }
            HeaderTest::Matches(re)
            | HeaderTest::NotMatches(re)
            | HeaderTest::Capture { regex: re, .. } => re.as_str().contains(SENTINEL),
            HeaderTest::Present | HeaderTest::Absent => false,
        },
        Check::Body(test) => match test {
            BodyTest::Contains(t) | BodyTest::NotContains(t) => has_placeholder(t),
            BodyTest::Matches(re)
            | BodyTest::NotMatches(re)
            | BodyTest::CaptureDate { regex: re, .. } => re.as_str().contains(SENTINEL),
        },
        Check::AllOf(checks) | Check::AnyOf(checks) => checks.iter().any(uses_random),
        Check::Not(inner) => uses_random(inner),
        _ => false,
    }
}

fn bind(check: &Check, canary: &str) -> Check {
    match check {
        Check::Header {
            name,
            test,
            distinct,
        } => Check::Header {
            name: name.clone(),
            test: bind_header(test, canary),
            distinct: *distinct,
        },
        Check::HeaderToken { name, known, test } => Check::HeaderToken {
            name: name.clone(),
            known: known.clone(),
            test: bind_header(test, canary),
        },
        Check::Body(test) => Check::Body(match test {
            BodyTest::Contains(t) => BodyTest::Contains(fill(t, canary)),
            BodyTest::NotContains(t) => BodyTest::NotContains(fill(t, canary)),
            BodyTest::Matches(re) => BodyTest::Matches(rebuild(re, canary)),
            BodyTest::NotMatches(re) => BodyTest::NotMatches(rebuild(re, canary)),
            BodyTest::CaptureDate { regex, after_now } => BodyTest::CaptureDate {
                regex: rebuild(regex, canary),
                after_now: *after_now,
            },
        }),
        Check::AllOf(checks) => Check::AllOf(checks.iter().map(|c| bind(c, canary)).collect()),
        Check::AnyOf(checks) => Check::AnyOf(checks.iter().map(|c| bind(c, canary)).collect()),
        Check::Not(inner) => Check::Not(Box::new(bind(inner, canary))),
        other => other.clone(),
    }
}

fn bind_header(test: &HeaderTest, canary: &str) -> HeaderTest {
    match test {
        HeaderTest::Equals(t) => HeaderTest::Equals(fill(t, canary)),
        HeaderTest::NotEquals(t) => HeaderTest::NotEquals(fill(t, canary)),
        HeaderTest::Contains(t) => HeaderTest::Contains(fill(t, canary)),
        HeaderTest::Matches(re) => HeaderTest::Matches(rebuild(re, canary)),
        HeaderTest::NotMatches(re) => HeaderTest::NotMatches(rebuild(re, canary)),
        HeaderTest::Capture {
            regex,
            at_least,
            at_most,
        } => HeaderTest::Capture {
            regex: rebuild(regex, canary),
            at_least: *at_least,
            at_most: *at_most,
        },
        other => other.clone(),
    }
}

fn has_placeholder(text: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| text.contains(p))
}

fn fill(text: &str, canary: &str) -> String {
    PLACEHOLDERS
        .iter()
        .fold(text.to_string(), |t, p| t.replace(p, canary))
}

/// The regex with the canary where the sentinel was, under the load-time limits. The canary
/// is lowercase letters and digits, so it needs no escaping and the regex keeps its shape; if
/// building somehow fails, the sentinel regex stays (it matches no canary).
fn rebuild(re: &Regex, canary: &str) -> Regex {
    if !re.as_str().contains(SENTINEL) {
        return re.clone();
    }
    RegexBuilder::new(&re.as_str().replace(SENTINEL, canary))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .unwrap_or_else(|_| re.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

    fn header(test: HeaderTest) -> Check {
        Check::Header {
            name: HeaderName::from_static("access-control-allow-origin"),
            test,
            distinct: false,
        }
    }

    #[test]
    fn checks_without_the_placeholder_are_borrowed() {
        let checks = vec![Graded::from(header(HeaderTest::Equals("x".into())))];
        assert!(matches!(bind_random(&checks, "abc"), Cow::Borrowed(_)));
    }

    #[test]
    fn texts_and_regexes_get_the_canary() {
        let re = Regex::new(&regex_source(r"^https://{{random}}\.invalid$")).unwrap();
        assert_eq!(re.as_str(), format!(r"^https://{SENTINEL}\.invalid$"));
        let checks = vec![Graded::from(Check::Not(Box::new(Check::AllOf(vec![
            header(HeaderTest::Equals("https://{{random}}.invalid".into())),
            header(HeaderTest::Matches(re)),
            Check::Body(BodyTest::Contains("{{ random }}".into())),
        ]))))];
        let bound = bind_random(&checks, "k3y9");
        let Check::Not(inner) = &bound[0].check else {
            panic!()
        };
        let Check::AllOf(inner) = &**inner else {
            panic!()
        };
        let Check::Header {
            test: HeaderTest::Equals(text),
            ..
        } = &inner[0]
        else {
            panic!()
        };
        assert_eq!(text, "https://k3y9.invalid");
        let Check::Header {
            test: HeaderTest::Matches(re),
            ..
        } = &inner[1]
        else {
            panic!()
        };
        assert!(re.is_match("https://k3y9.invalid"));
        assert!(!re.is_match(&format!("https://{SENTINEL}.invalid")));
        assert!(matches!(&inner[2], Check::Body(BodyTest::Contains(t)) if t == "k3y9"));
    }
}
