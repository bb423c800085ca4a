//! Header checks: reading a header's (combined, distinct or last-token) value and testing it.

use std::fmt;

use http::{HeaderMap, HeaderName};

use super::describe::code;
use super::{Check, HeaderTest, finding};
use crate::outcome::Finding;

/// All values of a header, joined as RFC 9110 allows for a combined field value.
pub(super) fn header_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
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
pub(super) fn distinct_header_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let joined = header_value(headers, name)?;
    let mut seen: Vec<&str> = Vec::new();
    for value in joined.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if !seen.iter().any(|s| s.eq_ignore_ascii_case(value)) {
            seen.push(value);
        }
    }
    Some(seen.join(", "))
}

pub(super) fn evaluate_header(
    check: &Check,
    test: &HeaderTest,
    value: Option<&str>,
) -> Option<Finding> {
    let (Check::Header { name, .. } | Check::HeaderToken { name, .. }) = check else {
        return None;
    };
    // Formatted only where a finding is written: a check that holds allocates nothing here.
    let name = Shown(name);
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
            let expected = || match (at_least, at_most) {
                (Some(lo), Some(hi)) => format!("a number between {lo} and {hi} in {name}"),
                (Some(lo), None) => format!("a number of at least {lo} in {name}"),
                (None, Some(hi)) => format!("a number of at most {hi} in {name}"),
                (None, None) => format!("{name} matching {}", code(regex.as_str())),
            };
            let Some(v) = v else {
                return Some(finding(check, expected(), seen(None)));
            };
            let Some(captured) = regex.captures(v).and_then(|c| c.get(1)).map(|m| m.as_str())
            else {
                return Some(finding(
                    check,
                    expected(),
                    format!("{} (no number found)", seen(Some(v))),
                ));
            };
            let Ok(number) = captured.trim().parse::<f64>() else {
                return Some(finding(
                    check,
                    expected(),
                    format!("{}, where {captured:?} is not a number", seen(Some(v))),
                ));
            };
            let low_ok = at_least.is_none_or(|lo| number >= lo);
            let high_ok = at_most.is_none_or(|hi| number <= hi);
            (!(low_ok && high_ok)).then(|| finding(check, expected(), seen(Some(v))))
        }
        _ => None,
    }
}

/// A header name as people write it (`X-Frame-Options`), as
/// [`crate::check::response::header_display`] spells it, written straight into the text that
/// needs it instead of into a `String` of its own.
#[derive(Clone, Copy)]
struct Shown<'a>(&'a HeaderName);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.as_str().split('-').enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                write!(f, "{}{}", first.to_ascii_uppercase(), chars.as_str())?;
            }
        }
        Ok(())
    }
}

/// The last comma-separated token of a header's combined value that is one of `known`
/// (lowercase), compared case-insensitively; `None` when there is none.
pub(super) fn last_known_token(
    headers: &HeaderMap,
    name: &HeaderName,
    known: &[String],
) -> Option<String> {
    let value = header_value(headers, name)?;
    value
        .split(',')
        .map(str::trim)
        .rfind(|t| known.iter().any(|k| k.eq_ignore_ascii_case(t)))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{evaluate, header, re, response, verdict};
    use super::super::*;

    #[test]
    fn a_shown_name_reads_as_header_display_writes_it() {
        for name in [
            "x-frame-options",
            "server",
            "content-security-policy",
            "x--odd-",
        ] {
            let name = HeaderName::from_static(name);
            assert_eq!(
                super::Shown(&name).to_string(),
                crate::check::response::header_display(&name)
            );
        }
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
}
