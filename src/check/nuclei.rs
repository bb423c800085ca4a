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
//!
//! A `word` matcher finds all its words in one pass over the part, with an Aho-Corasick
//! automaton built once at load ([`WordSearch`]): its cost is the part's length plus the
//! matches, not the part's length times the words times their length.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use regex::bytes::Regex;

use super::Interrupt;
use crate::outcome::Finding;
use crate::redact::Redactor;

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
        /// The automaton that finds them ([`Test::words`] builds it).
        search: WordSearch,
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

impl Test {
    /// A `word` test, with its automaton built once, here.
    pub fn words(
        words: Vec<String>,
        condition: Condition,
        case_insensitive: bool,
    ) -> Result<Test, aho_corasick::BuildError> {
        let search = WordSearch::new(&words, case_insensitive)?;
        Ok(Test::Words {
            words,
            condition,
            case_insensitive,
            search,
        })
    }
}

/// Finds the first occurrence of every word of a matcher in one pass: an Aho-Corasick
/// automaton over the non-empty words (ASCII case folded when the matcher is
/// case-insensitive, which is what comparing lowercased copies did), reporting overlapping
/// matches so that a word inside or across another is found too.
#[derive(Debug, Clone)]
pub struct WordSearch {
    /// `None` when every word is empty.
    automaton: Option<AhoCorasick>,
    /// The word (index into the matcher's words) of each pattern of the automaton.
    ids: Vec<usize>,
    /// The empty words, found at byte 0 of any part.
    empty: Vec<usize>,
    case_insensitive: bool,
}

/// Matches of words already found that a search tolerates before it rebuilds its automaton
/// without them, at least (see [`WordSearch::first_occurrences`]).
const MIN_WASTED_MATCHES: usize = 1 << 16;

/// How many matches a search reports between two looks at its [`Interrupt`].
const MATCHES_PER_LOOK: usize = 4096;

impl WordSearch {
    fn new(
        words: &[String],
        case_insensitive: bool,
    ) -> Result<WordSearch, aho_corasick::BuildError> {
        let (empty, ids): (Vec<usize>, Vec<usize>) =
            (0..words.len()).partition(|&i| words[i].is_empty());
        let automaton = if ids.is_empty() {
            None
        } else {
            Some(build(
                ids.iter().map(|&i| words[i].as_bytes()),
                case_insensitive,
            )?)
        };
        Ok(WordSearch {
            automaton,
            ids,
            empty,
            case_insensitive,
        })
    }

    /// The byte at which each of `words` (the matcher's, as given to [`Test::words`]) first
    /// occurs in `haystack`, or `None`. With `first_only`, the search may stop once word 0 is
    /// found (an `or` matcher quotes the first word of its list that it found, and needs no
    /// more). Returns early, with what it has, once `stop` is set.
    ///
    /// Overlapping search reports every occurrence of every word, also those of words found
    /// already: `a`, `aa` … `a`×1000 over a body of `a`s make a thousand matches per byte. So
    /// once the matches wasted on found words outweigh the cost of a new automaton, the search
    /// rebuilds it over the words still missing and goes on from where it was.
    pub fn first_occurrences(
        &self,
        words: &[String],
        haystack: &[u8],
        first_only: bool,
        stop: &Interrupt,
    ) -> Vec<Option<usize>> {
        self.search(words, haystack, first_only, stop, MIN_WASTED_MATCHES)
    }

    /// [`WordSearch::first_occurrences`], rebuilding after `min_wasted` wasted matches at least.
    fn search(
        &self,
        words: &[String],
        haystack: &[u8],
        first_only: bool,
        stop: &Interrupt,
        min_wasted: usize,
    ) -> Vec<Option<usize>> {
        let mut first: Vec<Option<usize>> = vec![None; words.len()];
        for &i in &self.empty {
            first[i] = Some(0);
        }
        let Some(automaton) = &self.automaton else {
            return first;
        };
        let mut automaton = automaton.clone();
        let mut ids = self.ids.clone();
        let mut missing = ids.len();
        let mut from = 0;
        let done = |first: &[Option<usize>], missing: usize| {
            missing == 0 || (first_only && first.first().is_some_and(Option::is_some))
        };
        if done(&first, missing) {
            return first;
        }
        'search: loop {
            let mut wasted = 0usize;
            let budget = ids
                .iter()
                .filter(|&&w| first[w].is_none())
                .map(|&w| words[w].len())
                .sum::<usize>()
                .max(min_wasted);
            let input = Input::new(haystack).span(from..haystack.len());
            for (n, m) in automaton.find_overlapping_iter(input).enumerate() {
                if n % MATCHES_PER_LOOK == 0 && stop.is_set() {
                    return first;
                }
                let w = ids[m.pattern().as_usize()];
                if first[w].is_none() {
                    first[w] = Some(m.start());
                    missing -= 1;
                    if done(&first, missing) {
                        return first;
                    }
                    continue;
                }
                wasted += 1;
                if wasted > budget {
                    // Every occurrence ending before `m` has been reported; one of a missing
                    // word ending at or after it starts at most its length earlier.
                    let rest: Vec<usize> = ids
                        .iter()
                        .copied()
                        .filter(|&w| first[w].is_none())
                        .collect();
                    let longest = rest.iter().map(|&w| words[w].len()).max().unwrap_or(0);
                    let Ok(rebuilt) = build(
                        rest.iter().map(|&w| words[w].as_bytes()),
                        self.case_insensitive,
                    ) else {
                        // Cannot happen (a subset of words that built); the slow way still
                        // finishes.
                        continue;
                    };
                    automaton = rebuilt;
                    ids = rest;
                    from = m.end().saturating_sub(longest);
                    continue 'search;
                }
            }
            return first;
        }
    }
}

/// An automaton that reports every occurrence of every pattern (`MatchKind::Standard`, the
/// only kind that supports overlapping search).
fn build<'a>(
    patterns: impl IntoIterator<Item = &'a [u8]>,
    case_insensitive: bool,
) -> Result<AhoCorasick, aho_corasick::BuildError> {
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(case_insensitive)
        // A DFA is faster to search but can take hundreds of bytes per pattern byte; the
        // contiguous NFA stays near the size of the words.
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(patterns)
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
/// Gives up (the result is then meaningless) once `stop` is set.
pub fn evaluate(
    block: &Matchers,
    response: &Response,
    redactor: &Redactor,
    stop: &Interrupt,
) -> Option<Vec<Finding>> {
    let results: Vec<(Option<bool>, String)> = block
        .matchers
        .iter()
        .map(|m| {
            if stop.is_set() {
                (None, String::new())
            } else {
                m.matches(response, redactor, stop)
            }
        })
        .collect();
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
                ..
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
    fn matches(
        &self,
        response: &Response,
        redactor: &Redactor,
        stop: &Interrupt,
    ) -> (Option<bool>, String) {
        let (hit, seen) = self.raw_match(response, redactor, stop);
        let hit = hit.map(|h| h != self.negative);
        let seen = if self.negative && hit == Some(true) {
            format!("{} (negative matcher)", seen)
        } else {
            seen
        };
        (hit, seen)
    }

    fn raw_match(
        &self,
        response: &Response,
        redactor: &Redactor,
        stop: &Interrupt,
    ) -> (Option<bool>, String) {
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
                search,
                ..
            } => {
                let first =
                    search.first_occurrences(words, &text, *condition == Condition::Or, stop);
                let found: Vec<(usize, &String)> = first
                    .iter()
                    .zip(words)
                    .filter_map(|(at, w)| at.map(|at| (at, w)))
                    .collect();
                let hit = match condition {
                    Condition::Or => !found.is_empty(),
                    Condition::And => found.len() == words.len(),
                };
                if hit {
                    let (at, w) = found[0];
                    (Some(true), excerpt(&text, at, w.len(), redactor))
                } else if *condition == Condition::And && !found.is_empty() && !open {
                    (Some(false), "not every word found".into())
                } else {
                    missing("words")
                }
            }
            Test::Regex { regexes, condition } => {
                let found: Vec<regex::bytes::Match<'_>> = regexes
                    .iter()
                    .take_while(|_| !stop.is_set())
                    .filter_map(|r| r.find(&text))
                    .collect();
                let hit = match condition {
                    Condition::Or => !found.is_empty(),
                    Condition::And => found.len() == regexes.len(),
                };
                if hit {
                    let m = found[0];
                    (Some(true), excerpt(&text, m.start(), m.len(), redactor))
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
fn part_bytes<'r>(part: &Part, response: &'r Response) -> Cow<'r, [u8]> {
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
        Part::Body => Cow::Borrowed(&response.body),
        Part::Headers => Cow::Owned(headers()),
        Part::Header(name) => {
            let values: Vec<&[u8]> = response
                .headers
                .get_all(name)
                .iter()
                .map(http::HeaderValue::as_bytes)
                .collect();
            Cow::Owned(values.join(&b", "[..]))
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
            Cow::Owned(out)
        }
    }
}

/// A short quote around `at..at+len`, on character boundaries of the lossy text. The quote is
/// cut here, before the runner scrubs the finding, so it is widened over any secret
/// `redactor` knows that the cut would go through, then scrubbed: no fragment of one
/// survives the cut.
fn excerpt(text: &[u8], at: usize, len: usize, redactor: &Redactor) -> String {
    let cut = (at.saturating_sub(CONTEXT_CHARS))..((at + len + CONTEXT_CHARS).min(text.len()));
    let range = redactor.widen(text, cut);
    let quoted = String::from_utf8_lossy(&text[range.clone()]);
    let one_line: String = redactor
        .scrub(&quoted)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "matched at byte {at}: {}{:?}{}",
        if range.start > 0 { "…" } else { "" },
        one_line,
        if range.end < text.len() { "…" } else { "" }
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
            test: Test::words(
                list.iter().map(|w| (*w).to_string()).collect(),
                Condition::Or,
                false,
            )
            .unwrap(),
            part,
            negative,
        }
    }

    #[test]
    fn a_quote_is_cut_with_the_redactor_it_is_given() {
        // The quote ends 40 bytes after the word: inside the secret.
        let secret = "tok-5e8a13c7d94b20f6";
        let body = format!("debug {} {secret} rest", "x".repeat(29));
        let block = Matchers {
            matchers: vec![words(&["debug"], Part::Body, false)],
            condition: Condition::Or,
        };
        let hit = response(200, &[], &body);
        let observed = |redactor: &Redactor| {
            let found = evaluate(&block, &hit, redactor, &Interrupt::new()).unwrap();
            assert_eq!(found.len(), 1);
            found[0].observed.clone()
        };
        let mut redactor = Redactor::default();
        redactor.add(secret);
        let scrubbed = observed(&redactor);
        assert!(scrubbed.contains("<redacted>"), "{scrubbed}");
        assert!(!scrubbed.contains("tok-5e"), "no fragment: {scrubbed}");
        let plain = observed(&Redactor::default());
        assert!(
            plain.contains("tok-5e") && !plain.contains(secret),
            "{plain}"
        );
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
        assert_eq!(
            evaluate(&block, &hit, &Redactor::default(), &Interrupt::new())
                .unwrap()
                .len(),
            1
        );
        let html = response(200, &[("content-type", "text/html")], "[core]");
        assert!(
            evaluate(&block, &html, &Redactor::default(), &Interrupt::new())
                .unwrap()
                .is_empty()
        );
        let or = Matchers {
            condition: Condition::Or,
            ..block
        };
        let found = evaluate(&or, &hit, &Redactor::default(), &Interrupt::new()).unwrap();
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
        assert!(evaluate(&block, &cut, &Redactor::default(), &Interrupt::new()).is_none());
        let mut found = response(200, &[], "a needle");
        found.truncated = true;
        assert_eq!(
            evaluate(&block, &found, &Redactor::default(), &Interrupt::new())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_single_header_part_reads_that_header() {
        let m = Matcher {
            name: None,
            test: Test::words(vec!["application/json".into()], Condition::Or, false).unwrap(),
            part: Part::Header(http::header::CONTENT_TYPE),
            negative: false,
        };
        let block = Matchers {
            matchers: vec![m],
            condition: Condition::Or,
        };
        let json = response(200, &[("content-type", "application/json")], "{}");
        assert_eq!(
            evaluate(&block, &json, &Redactor::default(), &Interrupt::new())
                .unwrap()
                .len(),
            1
        );
        let body_only = response(200, &[], "application/json");
        assert!(
            evaluate(&block, &body_only, &Redactor::default(), &Interrupt::new())
                .unwrap()
                .is_empty()
        );
    }

    /// The search this replaced: every word tried at every position of the (lowercased) part.
    fn naive(words: &[String], haystack: &[u8], ci: bool) -> Vec<Option<usize>> {
        let haystack = if ci {
            haystack.to_ascii_lowercase()
        } else {
            haystack.to_vec()
        };
        words
            .iter()
            .map(|w| {
                let w = if ci {
                    w.to_ascii_lowercase()
                } else {
                    w.clone()
                };
                if w.is_empty() {
                    return Some(0);
                }
                haystack.windows(w.len()).position(|x| x == w.as_bytes())
            })
            .collect()
    }

    fn first(words: &[&str], haystack: &str, ci: bool) -> Vec<Option<usize>> {
        let words: Vec<String> = words
            .iter()
            .map(|w| {
                if ci {
                    w.to_ascii_lowercase()
                } else {
                    (*w).to_string()
                }
            })
            .collect();
        let search = WordSearch::new(&words, ci).unwrap();
        let found = search.first_occurrences(&words, haystack.as_bytes(), false, &Interrupt::new());
        assert_eq!(
            found,
            naive(&words, haystack.as_bytes(), ci),
            "{words:?} in {haystack:?}"
        );
        found
    }

    #[test]
    fn the_automaton_finds_what_the_naive_search_found() {
        // Overlapping words, a word inside another, across another, repeated, empty.
        assert_eq!(
            first(
                &["abc", "bcd", "c", "abcd", "zz", "", "bcd"],
                "xabcdx",
                false
            ),
            [Some(1), Some(2), Some(3), Some(1), None, Some(0), Some(2)]
        );
        // Case-insensitive: words are lowercased at load, the part is not copied.
        assert_eq!(
            first(&["Index OF", "PARENT"], "<h1>INDEX of /</h1> parent", true),
            [Some(4), Some(20)]
        );
        assert_eq!(first(&["Index OF"], "<h1>INDEX of /</h1>", false), [None]);
        // Non-ASCII bytes are compared as they are.
        assert_eq!(first(&["é", "É"], "café", true), [Some(3), None]);
    }

    #[test]
    fn words_found_everywhere_do_not_slow_the_search_for_a_missing_one() {
        // `a` … `a`×300 match at every byte of a body of `a`s; `b` is at the very end. The
        // search rebuilds its automaton without the found words instead of reporting 300
        // matches per byte.
        let mut words: Vec<String> = (1..=300).map(|n| "a".repeat(n)).collect();
        words.push("b".into());
        let mut body = vec![b'a'; 1 << 20];
        *body.last_mut().unwrap() = b'b';
        let search = WordSearch::new(&words, false).unwrap();
        let found = search.first_occurrences(&words, &body, false, &Interrupt::new());
        assert!(found[..300].iter().all(|at| *at == Some(0)), "{found:?}");
        assert_eq!(found[300], Some((1 << 20) - 1));
    }

    #[test]
    fn a_set_interrupt_stops_the_search() {
        let words: Vec<String> = vec!["a".into(), "b".into()];
        let search = WordSearch::new(&words, false).unwrap();
        let stop = Interrupt::new();
        stop.set();
        let body = vec![b'a'; 1 << 16];
        assert_eq!(
            search.first_occurrences(&words, &body, false, &stop),
            [None, None]
        );
    }

    fn block(list: &[&str], condition: Condition, ci: bool, negative: bool) -> Matchers {
        Matchers {
            matchers: vec![Matcher {
                name: None,
                test: Test::words(
                    list.iter()
                        .map(|w| {
                            if ci {
                                w.to_ascii_lowercase()
                            } else {
                                (*w).to_string()
                            }
                        })
                        .collect(),
                    condition,
                    ci,
                )
                .unwrap(),
                part: Part::Body,
                negative,
            }],
            condition: Condition::Or,
        }
    }

    #[test]
    fn conditions_and_negative_matchers_read_the_automatons_matches() {
        let r = response(200, &[], "root:x:0:0 and [core] here");
        let verdict = |b: &Matchers| {
            evaluate(b, &r, &Redactor::default(), &Interrupt::new())
                .unwrap()
                .into_iter()
                .map(|f| f.observed)
                .collect::<Vec<_>>()
        };
        // `or` quotes the first word of the list that was found, not the first in the body.
        let or = verdict(&block(
            &["missing", "[core]", "root:x"],
            Condition::Or,
            false,
            false,
        ));
        assert_eq!(or.len(), 1);
        assert!(or[0].starts_with("matched at byte 15:"), "{or:?}");
        // `and` needs every word, and quotes the first.
        let and = verdict(&block(&["[CORE]", "ROOT:X"], Condition::And, true, false));
        assert!(and[0].starts_with("matched at byte 15:"), "{and:?}");
        assert!(verdict(&block(&["[core]", "missing"], Condition::And, false, false)).is_empty());
        // A negative matcher matches when the words are absent.
        assert_eq!(
            verdict(&block(&["missing"], Condition::Or, false, true)).len(),
            1
        );
        assert!(verdict(&block(&["[core]"], Condition::Or, false, true)).is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Over a small alphabet, so that words overlap, nest and repeat often.
        #[test]
        fn the_automaton_agrees_with_the_naive_search(
            words in proptest::collection::vec("[abAB]{0,4}", 1..12),
            haystack in "[abAB]{0,64}",
            ci in proptest::bool::ANY,
        ) {
            let words: Vec<String> = words
                .into_iter()
                .map(|w| if ci { w.to_ascii_lowercase() } else { w })
                .collect();
            let search = WordSearch::new(&words, ci).unwrap();
            let found = search.first_occurrences(&words, haystack.as_bytes(), false, &Interrupt::new());
            proptest::prop_assert_eq!(&found, &naive(&words, haystack.as_bytes(), ci));
            // Rebuilding the automaton at every wasted match changes nothing.
            let rebuilt = search.search(&words, haystack.as_bytes(), false, &Interrupt::new(), 0);
            proptest::prop_assert_eq!(&rebuilt, &found);
            // Stopping at the first word keeps its answer.
            let early = search.first_occurrences(&words, haystack.as_bytes(), true, &Interrupt::new());
            proptest::prop_assert_eq!(early[0], found[0]);
        }
    }
}
