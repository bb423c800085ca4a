//! A nuclei matcher block, evaluated with nuclei's semantics over an HTTP response: one more
//! http check ([`super::http::Check::Nuclei`]), so a template runs like any http probe.
//!
//! A block *matches* (and is a finding) when its matchers do, combined by
//! `matchers-condition` (`or` by default). Each matcher tests one part of the response:
//! `status`, `word` (substrings, `condition` `or` by default, optionally case-insensitive),
//! `regex` (RE2 syntax, run as `regex::bytes` without Unicode classes, as Go's `regexp` reads
//! `\d`, `\w`, `\s` and `\b`) or `size` (the part's length); `negative` inverts it. With
//! `or`, every matcher that matches is its own finding (named by its `name`, else its type and
//! part); with `and`, the block is one finding.
//!
//! Over a body cut at `max_body_bytes`, a matcher that found its words or pattern in the
//! prefix has matched; one that did not is undecided, and so is a `size` matcher.

use regex::bytes::Regex;

use crate::outcome::Finding;

use super::response::{Response, header_display};

/// How many characters of context a finding quotes on each side of a match.
const CONTEXT_CHARS: usize = 40;

/// `and` or `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Every item must match.
    And,
    /// One item suffices.
    Or,
}

/// Which part of the response a matcher reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The body.
    Body,
    /// Every header, as `Name: value` lines.
    Headers,
    /// One header's value (nuclei's `part: content_type` and the like).
    Header(http::HeaderName),
    /// The status line, headers and body.
    All,
}

impl Part {
    fn name(&self) -> String {
        match self {
            Part::Body => "body".into(),
            Part::Headers => "header".into(),
            Part::Header(h) => h.as_str().replace('-', "_"),
            Part::All => "response".into(),
        }
    }

    /// Whether the body (possibly cut) is read.
    fn reads_body(&self) -> bool {
        matches!(self, Part::Body | Part::All)
    }
}

/// What a matcher tests.
#[derive(Debug, Clone)]
pub enum Test {
    /// The status is one of these.
    Status(Vec<u16>),
    /// The part contains these words.
    Words {
        /// The words (lowercased when `case_insensitive`).
        words: Vec<String>,
        /// All words or one.
        condition: Condition,
        /// Compare lowercased.
        case_insensitive: bool,
    },
    /// The part matches these regexes.
    Regex {
        /// The patterns.
        regexes: Vec<Regex>,
        /// All patterns or one.
        condition: Condition,
    },
    /// The part's length is one of these.
    Size(Vec<usize>),
}

/// One matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Its `name:`, if any.
    pub name: Option<String>,
    /// What it tests.
    pub test: Test,
    /// The part it reads (ignored by `status`).
    pub part: Part,
    /// Inverts the result.
    pub negative: bool,
}

/// A template request's matchers.
#[derive(Debug, Clone)]
pub struct Matchers {
    /// The matchers.
    pub matchers: Vec<Matcher>,
    /// `matchers-condition`.
    pub condition: Condition,
}

impl Matchers {
    /// The block in words, for findings and undecided lists.
    pub fn title(&self) -> String {
        let names: Vec<String> = self.matchers.iter().map(Matcher::label).collect();
        match self.condition {
            Condition::Or => format!("nuclei matchers ({})", names.join(" or ")),
            Condition::And => format!("nuclei matchers ({})", names.join(" and ")),
        }
    }

    /// Whether a regex is involved, which the title leaves out.
    pub fn has_regex(&self) -> bool {
        self.matchers
            .iter()
            .any(|m| matches!(m.test, Test::Regex { .. }))
    }

    /// The block in technical terms, regexes included.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.matchers.iter().map(Matcher::describe).collect();
        let sep = match self.condition {
            Condition::Or => " or ",
            Condition::And => " and ",
        };
        parts.join(sep)
    }
}

/// The verdict of a block over one response: its findings, or `None` when a cut body left
/// it open.
pub fn evaluate(block: &Matchers, response: &Response) -> Option<Vec<Finding>> {
    let results: Vec<(Option<bool>, String)> =
        block.matchers.iter().map(|m| m.matches(response)).collect();
    match block.condition {
        Condition::Or => {
            let found: Vec<Finding> = block
                .matchers
                .iter()
                .zip(&results)
                .filter(|(_, (hit, _))| *hit == Some(true))
                .map(|(m, (_, seen))| finding(m.label(), m, seen.clone()))
                .collect();
            if !found.is_empty() {
                Some(found)
            } else if results.iter().any(|(hit, _)| hit.is_none()) {
                None
            } else {
                Some(Vec::new())
            }
        }
        Condition::And => {
            if results.iter().any(|(hit, _)| *hit == Some(false)) {
                Some(Vec::new())
            } else if results.iter().any(|(hit, _)| hit.is_none()) {
                None
            } else {
                let seen: Vec<String> = block
                    .matchers
                    .iter()
                    .zip(&results)
                    .map(|(m, (_, seen))| format!("{}: {seen}", m.label()))
                    .collect();
                Some(vec![Finding {
                    check: block.title(),
                    expected: "the template not to match".into(),
                    observed: seen.join("; "),
                    detail: Some(block.describe()),
                    severity: None,
                }])
            }
        }
    }
}

fn finding(label: String, m: &Matcher, seen: String) -> Finding {
    Finding {
        check: format!("nuclei matcher {label}"),
        expected: "the template not to match".into(),
        observed: seen,
        detail: Some(m.describe()),
        severity: None,
    }
}

impl Matcher {
    /// The matcher's name, else its type and part.
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let kind = match &self.test {
            Test::Status(_) => return "status".into(),
            Test::Words { .. } => "word",
            Test::Regex { .. } => "regex",
            Test::Size(_) => "size",
        };
        format!("{kind} in {}", self.part.name())
    }

    fn describe(&self) -> String {
        let not = if self.negative { "not " } else { "" };
        let join = |c: Condition| match c {
            Condition::And => " and ",
            Condition::Or => " or ",
        };
        match &self.test {
            Test::Status(codes) => format!(
                "{not}status in [{}]",
                codes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Test::Words {
                words,
                condition,
                case_insensitive,
            } => format!(
                "{not}{} has {}{}",
                self.part.name(),
                words
                    .iter()
                    .map(|w| format!("{w:?}"))
                    .collect::<Vec<_>>()
                    .join(join(*condition)),
                if *case_insensitive { " (any case)" } else { "" }
            ),
            Test::Regex { regexes, condition } => format!(
                "{not}{} matches {}",
                self.part.name(),
                regexes
                    .iter()
                    .map(|r| format!("/{r}/"))
                    .collect::<Vec<_>>()
                    .join(join(*condition))
            ),
            Test::Size(sizes) => format!(
                "{not}{} size in [{}]",
                self.part.name(),
                sizes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Whether the matcher matches (after `negative`), `None` when the cut body leaves it
    /// open, and what was seen, in words.
    fn matches(&self, response: &Response) -> (Option<bool>, String) {
        let (hit, seen) = self.raw_match(response);
        let hit = hit.map(|h| h != self.negative);
        let seen = if self.negative && hit == Some(true) {
            format!("{} (negative matcher)", seen)
        } else {
            seen
        };
        (hit, seen)
    }

    fn raw_match(&self, response: &Response) -> (Option<bool>, String) {
        if let Test::Status(codes) = &self.test {
            let status = response.status.as_u16();
            return (Some(codes.contains(&status)), format!("status {status}"));
        }
        let text = part_bytes(&self.part, response);
        let open = response.truncated && self.part.reads_body();
        let missing = |what: &str| {
            if open {
                (None, format!("{what} not in the part read"))
            } else {
                (Some(false), format!("{what} not found"))
            }
        };
        match &self.test {
            // Answered above, before reading any part.
            Test::Status(_) => (Some(false), String::new()),
            Test::Words {
                words,
                condition,
                case_insensitive,
            } => {
                let haystack = if *case_insensitive {
                    text.to_ascii_lowercase()
                } else {
                    text.clone()
                };
                let found: Vec<(usize, &String)> = words
                    .iter()
                    .filter_map(|w| find(&haystack, w.as_bytes()).map(|at| (at, w)))
                    .collect();
                let hit = match condition {
                    Condition::Or => !found.is_empty(),
                    Condition::And => found.len() == words.len(),
                };
                if hit {
                    let (at, w) = found[0];
                    (Some(true), excerpt(&text, at, w.len()))
                } else if *condition == Condition::And && !found.is_empty() && !open {
                    (Some(false), "not every word found".into())
                } else {
                    missing("words")
                }
            }
            Test::Regex { regexes, condition } => {
                let found: Vec<regex::bytes::Match<'_>> =
                    regexes.iter().filter_map(|r| r.find(&text)).collect();
                let hit = match condition {
                    Condition::Or => !found.is_empty(),
                    Condition::And => found.len() == regexes.len(),
                };
                if hit {
                    let m = found[0];
                    (Some(true), excerpt(&text, m.start(), m.len()))
                } else {
                    missing("pattern")
                }
            }
            Test::Size(sizes) => {
                if open {
                    (None, "size unknown (body cut)".into())
                } else {
                    (
                        Some(sizes.contains(&text.len())),
                        format!("{} bytes", text.len()),
                    )
                }
            }
        }
    }
}

/// The bytes of a part: headers as `Name: value` lines, as nuclei presents them.
fn part_bytes(part: &Part, response: &Response) -> Vec<u8> {
    let headers = || {
        let mut out = Vec::new();
        for (name, value) in &response.headers {
            out.extend_from_slice(header_display(name).as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    };
    match part {
        Part::Body => response.body.clone(),
        Part::Headers => headers(),
        Part::Header(name) => {
            let values: Vec<&[u8]> = response
                .headers
                .get_all(name)
                .iter()
                .map(http::HeaderValue::as_bytes)
                .collect();
            values.join(&b", "[..])
        }
        Part::All => {
            let mut out = format!(
                "HTTP/1.1 {} {}\r\n",
                response.status.as_u16(),
                response.status.canonical_reason().unwrap_or("")
            )
            .into_bytes();
            out.extend(headers());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&response.body);
            out
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A short quote around `at..at+len`, on character boundaries of the lossy text.
fn excerpt(text: &[u8], at: usize, len: usize) -> String {
    let start = at.saturating_sub(CONTEXT_CHARS);
    let end = (at + len + CONTEXT_CHARS).min(text.len());
    let quoted = String::from_utf8_lossy(&text[start..end]);
    let one_line: String = quoted
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "matched at byte {at}: {}{:?}{}",
        if start > 0 { "…" } else { "" },
        one_line,
        if end < text.len() { "…" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};
    use std::time::Duration;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.as_bytes().to_vec(),
            truncated: false,
            elapsed: Duration::ZERO,
            url: url::Url::parse("http://127.0.0.1/").unwrap(),
        }
    }

    fn words(list: &[&str], part: Part, negative: bool) -> Matcher {
        Matcher {
            name: None,
            test: Test::Words {
                words: list.iter().map(|w| (*w).to_string()).collect(),
                condition: Condition::Or,
                case_insensitive: false,
            },
            part,
            negative,
        }
    }

    #[test]
    fn and_needs_every_matcher_and_or_reports_each() {
        let block = Matchers {
            matchers: vec![
                words(&["[core]"], Part::Body, false),
                Matcher {
                    name: Some("ok".into()),
                    test: Test::Status(vec![200]),
                    part: Part::Body,
                    negative: false,
                },
                words(&["text/html"], Part::Headers, true),
            ],
            condition: Condition::And,
        };
        let hit = response(200, &[("content-type", "text/plain")], "[core]\nbare");
        assert_eq!(evaluate(&block, &hit).unwrap().len(), 1);
        let html = response(200, &[("content-type", "text/html")], "[core]");
        assert!(evaluate(&block, &html).unwrap().is_empty());
        let or = Matchers {
            condition: Condition::Or,
            ..block
        };
        let found = evaluate(&or, &hit).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[1].check, "nuclei matcher ok");
    }

    #[test]
    fn a_cut_body_leaves_a_missing_word_open_but_not_a_found_one() {
        let block = Matchers {
            matchers: vec![words(&["needle"], Part::Body, false)],
            condition: Condition::Or,
        };
        let mut cut = response(200, &[], "haystack");
        cut.truncated = true;
        assert!(evaluate(&block, &cut).is_none());
        let mut found = response(200, &[], "a needle");
        found.truncated = true;
        assert_eq!(evaluate(&block, &found).unwrap().len(), 1);
    }

    #[test]
    fn a_single_header_part_reads_that_header() {
        let m = Matcher {
            name: None,
            test: Test::Words {
                words: vec!["application/json".into()],
                condition: Condition::Or,
                case_insensitive: false,
            },
            part: Part::Header(http::header::CONTENT_TYPE),
            negative: false,
        };
        let block = Matchers {
            matchers: vec![m],
            condition: Condition::Or,
        };
        let json = response(200, &[("content-type", "application/json")], "{}");
        assert_eq!(evaluate(&block, &json).unwrap().len(), 1);
        let body_only = response(200, &[], "application/json");
        assert!(evaluate(&block, &body_only).unwrap().is_empty());
    }
}
