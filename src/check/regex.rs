//! Regex budgets: how large one compiled regex may grow, how much all of them together may
//! hold, and what one costs. Checks (the canary rebuild) and probe compilation both build
//! regexes under these limits, so they live below both.

/// Longest regex source compiled, in bytes. Real probe and nuclei regexes are under 1 KiB;
/// a longer one is almost always a generated alternation, which costs ~125 bytes of memory
/// per byte of source once compiled.
pub const MAX_REGEX_BYTES: usize = 4 << 10;
/// Largest compiled program (NFA) of one regex (`RegexBuilder::size_limit`).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Largest lazy-DFA cache of one regex (`RegexBuilder::dfa_size_limit`); past it the regex
/// falls back to slower matching rather than growing.
pub const REGEX_DFA_SIZE_LIMIT: usize = 1 << 20;
/// Budget for the compiled regexes of all probes together, in bytes of memory.
pub const REGEX_TOTAL_BYTES: usize = 128 << 20;

/// The heap memory a compiled `pattern` holds, in bytes. `regex::Regex` does not say, so the
/// same pattern is built once more, with the same settings, by `regex-automata` (the engine
/// inside `regex`), which does.
pub fn regex_memory(pattern: &str) -> usize {
    use regex_automata::{MatchKind, meta, util::syntax};
    let config = meta::Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .utf8_empty(true)
        .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
        .hybrid_cache_capacity(REGEX_DFA_SIZE_LIMIT);
    meta::Builder::new()
        .configure(config)
        .syntax(syntax::Config::new().utf8(true))
        .build(pattern)
        .map_or(REGEX_SIZE_LIMIT, |re| re.memory_usage())
}
