//! Body checks: text, regex and JSON tests on the body, date captures, and what a truncated
//! body can still decide (a match before the cut, a pattern no continuation can complete).

use std::borrow::Cow;

use regex::Regex;
use regex_automata::nfa::thompson::NFA;

use super::describe::code;
use super::{BodyTest, Check, Cx, JsonTest, Verdict, finding};
use crate::check::response::Response;
use crate::redact::Redactor;

/// The body as text. A truncated body may stop inside a multi-byte character: those last
/// bytes are dropped rather than decoded as U+FFFD, a character the whole body does not have
/// there, so that everything found in the text is also in the whole body.
pub(super) fn body_text(response: &Response) -> Cow<'_, str> {
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
pub(super) fn decisive_match<'t>(
    re: &Regex,
    text: &'t str,
    truncated: bool,
) -> Option<regex::Match<'t>> {
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
/// secret `redactor` knows (the runner's: every `${env:…}` value of its configuration) and
/// scrubbed: a secret straddling the cut must not survive as a fragment.
pub(super) fn excerpt(body: &str, at: usize, len: usize, redactor: &Redactor) -> String {
    let start = body[..at]
        .char_indices()
        .rev()
        .nth(20)
        .map_or(0, |(i, _)| i);
    let end = body[at + len..]
        .char_indices()
        .nth(40)
        .map_or(body.len(), |(i, _)| at + len + i);
    redactor
        .scrub_excerpt(body, start..end)
        .replace(['\n', '\r'], " ")
}

/// The text of a regex match, for a finding. A match is a cut like an excerpt (`Bearer.{0,40}`
/// can end inside a token), so it is widened over any secret it overlaps and scrubbed.
pub(super) fn matched(text: &str, m: &regex::Match<'_>, redactor: &Redactor) -> String {
    redactor.scrub_excerpt(text, m.range())
}

pub(super) fn evaluate_body(
    check: &Check,
    test: &BodyTest,
    response: &Response,
    redactor: &Redactor,
) -> Verdict {
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
                    excerpt(&body, at, want.len(), redactor)
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
                    matched(&body, &m, redactor),
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
pub(super) fn evaluate_json(
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
    use super::super::tests::{body, cut, evaluate, re, response, verdict};
    use super::super::*;
    use super::*;

    #[test]
    fn a_body_excerpt_is_cut_with_the_redactor_the_evaluation_is_given() {
        // The excerpt ends 40 characters after the match: inside the secret.
        let secret = "tok-9c41e7a2b5d83f60";
        let text = format!("debug on {} {secret} rest", "x".repeat(28));
        let checks = vec![Graded::from(body(BodyTest::NotContains("debug".into())))];
        let mut redactor = Redactor::default();
        redactor.add(secret);
        let response = response(&[], &text);
        let observed = |redactor: &Redactor| {
            let findings = super::super::evaluate(&checks, &response, redactor).findings;
            assert_eq!(findings.len(), 1);
            findings[0].observed.clone()
        };
        let scrubbed = observed(&redactor);
        assert!(scrubbed.contains("<redacted>"), "{scrubbed}");
        assert!(!scrubbed.contains("tok-9c"), "no fragment: {scrubbed}");
        // The process-wide set is not what scrubbed it: it knows nothing of this secret, and
        // an evaluation given no secrets cuts the excerpt through it.
        assert_eq!(crate::redact::global().scrub(secret), secret);
        let plain = observed(&Redactor::default());
        assert!(
            plain.contains("tok-9c") && !plain.contains(secret),
            "{plain}"
        );
    }

    #[test]
    fn excerpt_respects_char_boundaries() {
        let body =
            "ééééééééééééééééééééééééé Index of / ééééééééééééééééééééééééééééééééééééééééééé";
        let at = body.find("Index of").unwrap();
        let e = excerpt(body, at, 8, &Redactor::default());
        assert!(e.contains("Index of"));
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
