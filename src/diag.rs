//! Diagnostics: every config or probe error as `path:line:column: message`, with a hint.
//!
//! Loading never stops at the first problem. Each stage pushes what it finds into a
//! [`Diagnostics`] list, and the caller prints them all at once, sorted by file and position,
//! so one `picket validate` shows everything that needs fixing.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::MessageFormatter;

/// A position in a source file, 1-based. `line == 0` means "the whole file".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line, or 0 when the problem concerns the file as a whole.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl Pos {
    /// A position at the start of a file, used for problems without a better anchor.
    pub const START: Pos = Pos { line: 1, column: 1 };

    /// The file as a whole, for problems no place in it can show (it does not exist): shown
    /// as `path: message`, without an invented `1:1`.
    pub const FILE: Pos = Pos { line: 0, column: 0 };

    /// Converts a serde-saphyr location, falling back to the start of the file.
    pub fn from_location(location: &serde_saphyr::Location) -> Pos {
        if location.line() == 0 {
            Pos::START
        } else {
            Pos {
                line: location.line(),
                column: location.column().max(1),
            }
        }
    }
}

/// One problem found while loading configuration or probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the user named it (relative paths stay relative).
    pub path: PathBuf,
    /// Where in the file.
    pub pos: Pos,
    /// A one-line description of what is wrong.
    pub message: String,
    /// What to do about it, when there is something useful to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A new diagnostic without a hint.
    pub fn new(path: impl Into<PathBuf>, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.into(),
            pos,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos == Pos::FILE {
            write!(f, "{}: {}", self.path.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.pos.line,
                self.pos.column,
                self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A located problem that does not stop a load: shown by `picket validate`, `check` and
/// `list` as `path:line:column: warning: message`, and logged by the service at each load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where and what.
    pub diag: Diagnostic,
    /// Whether `picket validate` refuses it as an error (an acceptance whose `until` has
    /// passed: the service treats it as ended, but the config's review should remove it).
    pub refused_by_validate: bool,
}

impl Warning {
    /// A warning `picket validate` shows and accepts.
    pub fn new(diag: Diagnostic) -> Warning {
        Warning {
            diag,
            refused_by_validate: false,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.diag.clone();
        d.message = format!("warning: {}", d.message);
        d.fmt(f)
    }
}

/// An ordered collection of diagnostics from one load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Adds a diagnostic built from its parts.
    pub fn error(&mut self, path: &Path, pos: Pos, message: impl Into<String>) {
        self.push(Diagnostic::new(path, pos, message));
    }

    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The diagnostics, sorted by file then position.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.0
            .sort_by(|a, b| (&a.path, a.pos).cmp(&(&b.path, b.pos)));
        self.0.dedup();
        self.0
    }

    /// Iterates in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Moves every diagnostic of `other` into `self`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sorted = self.clone().sorted();
        for d in &sorted {
            writeln!(f, "{d}")?;
        }
        let n = sorted.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// Turns a serde-saphyr error into a diagnostic: position, a message without the trailing
/// "at line …" that the library appends, and a hint for the common mistakes.
pub fn from_yaml_error(path: &Path, err: &serde_saphyr::Error) -> Diagnostic {
    let pos = err
        .location()
        .map(|l| Pos::from_location(&l))
        .unwrap_or(Pos::START);
    let raw = serde_saphyr::DefaultMessageFormatter
        .format_message(err.without_snippet())
        .into_owned();
    let (message, hint) = explain(&raw);
    let mut d = Diagnostic::new(path, pos, message);
    d.hint = hint;
    d
}

/// Rewrites library messages into ours and finds a hint. Kept separate so it is testable.
fn explain(raw: &str) -> (String, Option<String>) {
    if let Some(rest) = raw.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .split(", ")
            .map(|s| s.trim_matches('`'))
            .filter(|s| !s.is_empty() && !s.starts_with("there are no fields"))
            .collect();
        let message = format!("unknown field `{field}`");
        let hint = match did_you_mean(field, &candidates) {
            Some(best) => format!("did you mean `{best}`?"),
            None if candidates.is_empty() => "this mapping takes no fields".to_string(),
            None => format!("expected one of: {}", candidates.join(", ")),
        };
        return (message, Some(hint));
    }
    if let Some(rest) = raw.strip_prefix("unknown variant `")
        && let Some((variant, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .split(", ")
            .map(|s| s.trim_matches('`'))
            .collect();
        let message = format!("unknown value `{variant}`");
        let hint = match did_you_mean(variant, &candidates) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("expected one of: {}", candidates.join(", ")),
        };
        return (message, Some(hint));
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return (
            format!("missing required field `{field}`"),
            Some(format!("add `{field}:` to this mapping")),
        );
    }
    if raw.starts_with("budget breached") || raw.contains("recursion limit") {
        let what = if raw.contains("Depth") || raw.contains("recursion") {
            "document is nested too deeply"
        } else if raw.contains("Alias") {
            "document uses too many aliases"
        } else if raw.contains("Scalar") {
            "document holds too much text"
        } else {
            "document expands to too many values"
        };
        return (
            what.to_string(),
            Some(
                "picket refuses YAML with runaway aliases or nesting (at most 64 levels, 200000 values, 1000 aliases); simplify the file"
                    .into(),
            ),
        );
    }
    if raw.starts_with("expected mapping") {
        return (
            raw.to_string(),
            Some("this file must be a YAML mapping of `key: value` lines".into()),
        );
    }
    if raw.starts_with("duplicate mapping key") {
        let key = raw
            .trim_start_matches("duplicate mapping key: ")
            .split(',')
            .next()
            .unwrap_or_default();
        return (
            format!("duplicate key `{key}`"),
            Some("each key may appear once in a mapping; remove one of them".into()),
        );
    }
    if raw.starts_with("mapping values are not allowed") {
        return (
            "unexpected `: ` inside a value".into(),
            Some("quote the value if it contains `: `, e.g. `name: \"a: b\"`; if this line is a key of its own, indent it like the keys beside it".into()),
        );
    }
    if let Some(syntax) = explain_syntax(raw) {
        return syntax;
    }
    if matches!(
        raw,
        "invalid u8"
            | "invalid u16"
            | "invalid u32"
            | "invalid u64"
            | "invalid i32"
            | "invalid i64"
    ) {
        return (
            "expected a whole number".into(),
            Some("write a plain integer such as `4`, without decimals or units".into()),
        );
    }
    if raw == "invalid floating point" {
        return (
            "expected a number".into(),
            Some("write a plain number such as `10` or `0.5`, without units".into()),
        );
    }
    if raw.starts_with("data did not match any variant of untagged enum") {
        return ("value has the wrong shape".into(), None);
    }
    (raw.to_string(), None)
}

/// YAML syntax errors in plain words: a tab, an unclosed quote or bracket, a line that does
/// not line up. The position is the parser's (where it noticed).
fn explain_syntax(raw: &str) -> Option<(String, Option<String>)> {
    let said = |message: &str, hint: &str| Some((message.to_string(), Some(hint.to_string())));
    if raw.starts_with("tabs disallowed")
        || raw.starts_with("tab cannot be used as indentation")
        || raw.contains("found a tab")
        || raw.contains("cannot start with a tab")
    {
        return said(
            "a tab character where YAML allows only spaces",
            "YAML indents with spaces, never tabs: replace the tab with spaces (2 per level)",
        );
    }
    if raw == "unclosed quote" {
        return said(
            "a quoted value is never closed (its quote opens here)",
            "end the value with the same quote it starts with (`\"` or `'`); a quoted value runs on, across lines, until its closing quote",
        );
    }
    if let Some(bracket) = raw
        .strip_prefix("unclosed bracket '")
        .and_then(|b| b.strip_suffix('\''))
    {
        let close = if bracket == "{" { "}" } else { "]" };
        return Some((
            format!("`{bracket}` is never closed"),
            Some(format!(
                "close it with `{close}`, or write the items as indented lines instead"
            )),
        ));
    }
    if raw.contains("flow mapping, did not find expected ',' or '}'") {
        return said(
            "a `{ … }` mapping is not closed, or two of its items lack a `,` between them",
            "separate items with `, ` and close with `}` (e.g. `{ path: /, method: GET }`), or write the mapping as indented lines",
        );
    }
    if raw.contains("flow sequence, expected ',' or ']'") {
        return said(
            "a `[ … ]` list is not closed, or two of its items lack a `,` between them",
            "separate items with `, ` and close with `]` (e.g. `[/admin, /api]`), or write the items as `- ` lines",
        );
    }
    if raw.contains("block mapping, did not find expected key") || raw == "invalid indentation" {
        return said(
            "bad indentation: this line does not line up with the keys around it",
            "keys of one mapping start in the same column, and what belongs under a key is indented by more spaces than the key",
        );
    }
    if raw.contains("did not find expected '-' indicator") {
        return said(
            "bad indentation in a list: this line does not line up with the list's items",
            "every item of a list starts with `- ` in the same column; a key of the mapping around the list goes back to that mapping's column",
        );
    }
    if raw.starts_with("illegal placement of ':' indicator") {
        return said(
            "a `:` where none can be",
            "often a `[` or `{` on a line above is not closed; otherwise quote the value that holds the `:`",
        );
    }
    if raw.starts_with("unexpected character") {
        return Some((
            raw.to_string(),
            Some("quote the value: some characters (`@`, `` ` ``, `%`) cannot start a plain YAML value".into()),
        ));
    }
    None
}

/// The closest candidate to `word` by Jaro-Winkler similarity, if any is close enough.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Finds the position of the first invalid byte, for files that are not UTF-8.
pub fn utf8_error_pos(bytes: &[u8], err: &std::str::Utf8Error) -> Pos {
    let valid = &bytes[..err.valid_up_to()];
    let line = valid.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&valid[line_start..])
        .chars()
        .count() as u64
        + 1;
    Pos { line, column }
}

/// Where the problems of one file go while it is validated: the file, and the list. The one
/// validation context config and probe files share; each adds what only it needs (the
/// environment for `${env:…}`, the regex budget).
#[derive(Debug)]
pub struct At<'a> {
    /// The file being validated.
    pub file: &'a Path,
    /// Its problems so far.
    pub diags: &'a mut Diagnostics,
}

impl At<'_> {
    /// A problem at `spanned`.
    pub fn err<T>(&mut self, spanned: &serde_saphyr::Spanned<T>, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(
            self.file,
            Pos::from_location(&spanned.referenced),
            message,
        ));
    }

    /// A problem at `spanned`, with a hint.
    pub fn err_hint<T>(
        &mut self,
        spanned: &serde_saphyr::Spanned<T>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags.push(
            Diagnostic::new(self.file, Pos::from_location(&spanned.referenced), message)
                .with_hint(hint),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_gets_a_suggestion() {
        let (msg, hint) =
            explain("unknown field `sevrity`, expected one of id, name, severity, tags");
        assert_eq!(msg, "unknown field `sevrity`");
        assert_eq!(hint.as_deref(), Some("did you mean `severity`?"));
    }

    #[test]
    fn unknown_field_without_close_match_lists_fields() {
        let (_, hint) = explain("unknown field `zzz`, expected one of id, name");
        assert_eq!(hint.as_deref(), Some("expected one of: id, name"));
    }

    #[test]
    fn syntax_errors_get_plain_words_and_a_hint() {
        for (raw, words) in [
            (
                "tabs disallowed within this context (block indentation)",
                "tab character",
            ),
            ("unclosed quote", "never closed"),
            ("unclosed bracket '['", "`[` is never closed"),
            (
                "while parsing a block mapping, did not find expected key",
                "bad indentation",
            ),
            (
                "while parsing a block collection, did not find expected '-' indicator",
                "bad indentation in a list",
            ),
            (
                "while parsing a flow mapping, did not find expected ',' or '}'",
                "`{ … }` mapping",
            ),
        ] {
            let (message, hint) = explain(raw);
            assert!(message.contains(words), "{raw}: {message}");
            assert!(hint.is_some(), "{raw}");
        }
    }

    #[test]
    fn utf8_position_is_line_and_column() {
        let bytes: &[u8] = &[b"id: a\nname: b".as_slice(), &[0xff], b"c\n"].concat();
        let err = std::str::from_utf8(bytes).unwrap_err();
        assert_eq!(utf8_error_pos(bytes, &err), Pos { line: 2, column: 8 });
    }
}
