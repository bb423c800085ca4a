//! A template's matcher blocks into nuclei checks ([`crate::check::nuclei`]): the part read,
//! the type (`status`, `word`, `regex`, `size`), the `and`/`or` condition, the words counted
//! against a per-template budget, and regexes compiled as RE2 reads them.

use ::http::HeaderName;
use serde_saphyr::Spanned;

use super::raw;
use super::unsupported::unsupported_reason;
use crate::check::nuclei::{Condition, Matcher, Part, Test};
use crate::probe::{Compiling, MAX_REGEX_BYTES, REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT};

/// Most words the `word` matchers of one template list, all blocks together. Real templates
/// list a few to a few dozen; a word list of thousands is generated, and belongs in several
/// templates or one regex.
pub const MAX_WORDS: usize = 1024;
/// Most bytes of words of one template, all blocks together.
pub const MAX_WORD_BYTES: usize = 64 << 10;

/// The words of a template's `word` matchers counted against [`MAX_WORDS`] and
/// [`MAX_WORD_BYTES`]: the totals are known before the blocks compile, so the error names
/// them, at the word that crosses a budget.
pub(super) struct WordBudget {
    total_words: usize,
    total_bytes: usize,
    words: usize,
    bytes: usize,
}

impl WordBudget {
    pub(super) fn of(blocks: &[Spanned<raw::Request>]) -> WordBudget {
        let words = || {
            blocks
                .iter()
                .flat_map(|b| b.value.matchers.iter().flat_map(|m| m.value.iter()))
                .flat_map(|m| m.value.words.iter().flatten())
        };
        WordBudget {
            total_words: words().count(),
            total_bytes: words().map(|w| w.value.len()).sum(),
            words: 0,
            bytes: 0,
        }
    }

    /// Counts one word; the word that crosses a budget gets the error.
    pub(super) fn take(&mut self, ctx: &mut Compiling<'_>, word: &Spanned<String>) {
        self.words += 1;
        if self.words == MAX_WORDS + 1 {
            ctx.err_hint(
                word,
                format!(
                    "the `word` matchers of this template list {} words; picket loads at most {MAX_WORDS} per template",
                    self.total_words
                ),
                "keep the words that identify what the template detects, or split the list across several templates",
            );
        }
        let before = self.bytes;
        self.bytes = self.bytes.saturating_add(word.value.len());
        if before <= MAX_WORD_BYTES && self.bytes > MAX_WORD_BYTES {
            ctx.err_hint(
                word,
                format!(
                    "the words of this template total {} bytes; picket loads at most {MAX_WORD_BYTES} bytes ({} KiB) of words per template",
                    self.total_bytes,
                    MAX_WORD_BYTES >> 10
                ),
                "match a short distinctive part of the text, not the whole text",
            );
        }
    }
}

pub(super) fn condition(ctx: &mut Compiling<'_>, raw: Option<&Spanned<String>>) -> Condition {
    match raw.map(|c| (c, c.value.trim().to_ascii_lowercase())) {
        None => Condition::Or,
        Some((_, c)) if c == "or" => Condition::Or,
        Some((_, c)) if c == "and" => Condition::And,
        Some((at, c)) => {
            ctx.err_hint(
                at,
                format!("unknown condition `{c}`"),
                "expected `and` or `or`",
            );
            Condition::Or
        }
    }
}

/// nuclei parts that are not a response header of the request itself (read as a header, each
/// would silently never match): out-of-band interactions, the request, the target, timing.
const NOT_HEADER_PARTS: &[&str] = &[
    "interactsh_protocol",
    "interactsh_request",
    "interactsh_response",
    "request",
    "host",
    "matched",
    "duration",
    "status_code",
];

/// Whether a part names a response of a numbered request (`body_2`, `header_1`,
/// `status_code_3` …), as nuclei's multi-request templates do.
fn another_requests_part(part: &str) -> bool {
    part.rsplit_once('_').is_some_and(|(name, n)| {
        !name.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

pub(super) fn matcher(
    ctx: &mut Compiling<'_>,
    budget: &mut WordBudget,
    m: &Spanned<raw::Matcher>,
) -> Option<Matcher> {
    let before = ctx.diags.len();
    let r = &m.value;
    let part = match r
        .part
        .as_ref()
        .map(|p| (p, p.value.trim().to_ascii_lowercase()))
    {
        None => Part::Body,
        Some((_, p)) if p == "body" => Part::Body,
        Some((_, p)) if p == "header" || p == "all_headers" => Part::Headers,
        Some((_, p)) if p == "all" || p == "response" || p == "raw" => Part::All,
        Some((at, p)) if another_requests_part(&p) => {
            ctx.err_hint(
                at,
                format!("nuclei `part: {p}` is not supported"),
                "a part numbered after a request (`body_2` …) reads another request's response, which picket does not chain; match each request's own `body`",
            );
            Part::Body
        }
        Some((at, p)) => {
            match (!NOT_HEADER_PARTS.contains(&p.as_str()))
                .then(|| HeaderName::from_bytes(p.replace('_', "-").as_bytes()).ok())
                .flatten()
            {
                Some(h) => Part::Header(h),
                None => {
                    ctx.err_hint(
                        at,
                        format!("nuclei `part: {p}` is not supported"),
                        "parts are body, header, all_headers, all, response or a header name",
                    );
                    Part::Body
                }
            }
        }
    };
    let condition = condition(ctx, r.condition.as_ref());
    let kind = r.kind.value.trim().to_ascii_lowercase();
    let test = match kind.as_str() {
        "status" => Test::Status(
            r.status
                .iter()
                .flatten()
                .filter_map(|s| match u16::try_from(s.value) {
                    Ok(c) if (100..=599).contains(&c) => Some(c),
                    _ => {
                        ctx.err(s, format!("`{}` is not an HTTP status", s.value));
                        None
                    }
                })
                .collect(),
        ),
        "word" => {
            let ci = r.case_insensitive.unwrap_or(false);
            let words: Vec<String> = r
                .words
                .iter()
                .flatten()
                .map(|w| {
                    budget.take(ctx, w);
                    if w.value.contains("{{") {
                        ctx.err_hint(
                            w,
                            "unsupported nuclei placeholder in a word",
                            "helper functions and variables are not evaluated",
                        );
                    }
                    if ci {
                        w.value.to_ascii_lowercase()
                    } else {
                        w.value.clone()
                    }
                })
                .collect();
            if ctx.diags.len() > before {
                return None;
            }
            match Test::words(words, condition, ci) {
                Ok(test) => test,
                Err(e) => {
                    ctx.err(&r.kind, format!("the words cannot be searched: {e}"));
                    return None;
                }
            }
        }
        "regex" => Test::Regex {
            regexes: r
                .regex
                .iter()
                .flatten()
                .filter_map(|p| re2(ctx, p))
                .collect(),
            condition,
        },
        "size" => Test::Size(
            r.size
                .iter()
                .flatten()
                .filter_map(|s| usize::try_from(s.value).ok())
                .collect(),
        ),
        other => {
            let hint = unsupported_reason(other)
                .unwrap_or("matcher types are status, word, regex and size");
            ctx.err_hint(
                &r.kind,
                format!("nuclei matcher type `{other}` is not supported"),
                hint,
            );
            return None;
        }
    };
    let empty = match &test {
        Test::Status(c) => c.is_empty(),
        Test::Words { words, .. } => words.is_empty(),
        Test::Regex { regexes, .. } => regexes.is_empty(),
        Test::Size(s) => s.is_empty(),
    };
    if empty && ctx.diags.len() == before {
        ctx.err_hint(
            &r.kind,
            format!("`{kind}` matcher has nothing to match"),
            format!(
                "add its `{}:` list",
                match kind.as_str() {
                    "word" => "words",
                    other => other,
                }
            ),
        );
    }
    if r.case_insensitive.is_some() && kind != "word" {
        ctx.err_hint(
            &r.kind,
            "`case-insensitive` applies to word matchers",
            "use `(?i)` in a regex",
        );
    }
    (ctx.diags.len() == before).then(|| Matcher {
        name: r.name.clone(),
        test,
        part,
        negative: r.negative.unwrap_or(false),
    })
}

/// Compiles an RE2 pattern as Go reads it: bytes, ASCII `\d \w \s \b`. A pattern the `regex`
/// crate would read differently, or cannot compile, is refused.
fn re2(ctx: &mut Compiling<'_>, p: &Spanned<String>) -> Option<regex::bytes::Regex> {
    let pattern = &p.value;
    let differs = if pattern.contains("{,") {
        Some("`{,n}` is a literal in RE2 but a repetition in Rust's regex")
    } else if pattern.contains("(?i") && !pattern.is_ascii() {
        Some("case-insensitive matching of non-ASCII letters differs between RE2 and picket")
    } else {
        None
    };
    if let Some(why) = differs {
        ctx.err_hint(p, "regex would not match as nuclei matches it", why);
        return None;
    }
    if pattern.len() > MAX_REGEX_BYTES {
        ctx.err(
            p,
            format!(
                "regex is {} bytes; picket compiles regexes of up to {} bytes",
                pattern.len(),
                MAX_REGEX_BYTES
            ),
        );
        return None;
    }
    match regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
    {
        Ok(re) => {
            ctx.regex_bytes = ctx
                .regex_bytes
                .saturating_add(pattern.len().saturating_mul(64).max(4096));
            Some(re)
        }
        Err(e) => {
            let detail = e.to_string();
            let reason = detail
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .trim_start_matches("error: ")
                .chars()
                .take(200)
                .collect::<String>();
            ctx.err_hint(
                p,
                format!("regex cannot be compiled as RE2: {reason}"),
                "nuclei regexes are RE2 (Go); picket refuses what it cannot match the same way",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_numbered_requests_are_not_headers() {
        assert!(another_requests_part("body_2"));
        assert!(another_requests_part("all_headers_1"));
        assert!(another_requests_part("status_code_10"));
        assert!(!another_requests_part("content_type"));
        assert!(!another_requests_part("x_api_v2"));
        assert!(!another_requests_part("_2"));
    }
}
