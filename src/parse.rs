//! Parsing a file of a known format (config, targets, probe) into its raw shape, and when it
//! does not deserialize, finding every wrong key and value in it against the format's JSON
//! Schema ([`crate::shape`]) rather than serde's first complaint only.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::diag::{self, Diagnostic, Diagnostics, Pos};
use crate::yaml::{is_blank, yaml_options};

/// The options of the second reading of a file that did not deserialize ([`crate::shape`]):
/// the same, with budgets ten times smaller. That reading expands what serde may have
/// stopped before (an alias bomb under a key serde refused at once), so it must stay cheap;
/// a file of more than 20,000 values whose first error was a wrong shape gets that first
/// error only.
fn shape_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 20_000,
            max_aliases: 1_000,
            max_total_scalar_bytes: 8 << 20,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
        },
    }
}

/// What reading a file of a known format gave ([`parse_checked`]).
#[derive(Debug)]
pub enum Parsed<T> {
    /// The file deserialized.
    Clean(T),
    /// It did not, but its shape problems could be blanked out of the text: `value` is
    /// the rest of the file, for the validation stage to report its own problems in the
    /// same pass. What that stage reports at a `quiet` position follows from the repair
    /// and is left out ([`without_quiet`]).
    Repaired {
        /// The file without its problems.
        value: T,
        /// The shape problems.
        problems: Vec<Diagnostic>,
        /// Where validation errors are consequences of the repair.
        quiet: Vec<Pos>,
    },
    /// It did not; these are all its problems that could be found.
    Failed(Vec<Diagnostic>),
}

/// Parses YAML text into `T`. When serde refuses it and the text is well-formed YAML, the
/// file is checked against `schema` (the JSON Schema of `T`), so that every unknown key and
/// every value of the wrong type is reported, not only the first ([`crate::shape`]).
pub fn parse_checked<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    schema: &serde_json::Value,
) -> Parsed<T> {
    if is_blank(text) {
        return Parsed::Failed(vec![
            Diagnostic::new(path, Pos::START, "file is empty")
                .with_hint("a YAML mapping is expected here"),
        ]);
    }
    let error = match serde_saphyr::from_str_with_options::<T>(text, yaml_options()) {
        Ok(value) => return Parsed::Clean(value),
        Err(e) => e,
    };
    let first = diag::from_yaml_error(path, &error);
    // Syntax errors, budgets and the like: the text is no tree to walk.
    if !crate::shape::worth_checking(&error) {
        return Parsed::Failed(vec![first]);
    }
    let Some(found) = crate::shape::check(text, schema, shape_options()) else {
        return Parsed::Failed(vec![first]);
    };
    let mut problems: Vec<Diagnostic> = found
        .problems
        .iter()
        .map(|p| Diagnostic {
            path: path.to_path_buf(),
            pos: p.pos,
            message: p.message.clone(),
            hint: p.hint.clone(),
        })
        .collect();
    if problems.is_empty() {
        return Parsed::Failed(vec![first]);
    }
    if let Some(value) = found
        .repair(text)
        .and_then(|t| serde_saphyr::from_str_with_options::<T>(&t, yaml_options()).ok())
    {
        return Parsed::Repaired {
            value,
            problems,
            quiet: found.quiet,
        };
    }
    // serde's error is one of the problems found (then it keeps serde's position, which
    // for a missing field is where serde noticed), unless the check is more lenient than
    // serde somewhere: then it is reported too.
    if let Some(same) = problems.iter_mut().find(|p| p.message == first.message) {
        same.pos = first.pos;
    } else if !problems.iter().any(|p| p.pos == first.pos) {
        problems.push(first);
    }
    Parsed::Failed(problems)
}

/// Moves `from` into `into`, leaving out what was reported at a `quiet` position of `file`.
pub fn without_quiet(from: Diagnostics, file: &Path, quiet: &[Pos], into: &mut Diagnostics) {
    for d in from.iter() {
        if !(d.path == file && quiet.contains(&d.pos)) {
            into.push(d.clone());
        }
    }
}

/// The shape problems of the files of one load, kept apart until the end: what validating
/// the repaired rest of a file reports at a `quiet` position follows from the repair and is
/// left out ([`Shapes::settle`]).
#[derive(Debug, Default)]
pub struct Shapes {
    problems: Diagnostics,
    quiet: Vec<(std::path::PathBuf, Pos)>,
}

impl Shapes {
    /// What `file` parsed to, for validation: the value if it deserialized or was repaired
    /// (its shape problems kept here), `None` if it failed (its problems go to `diags`).
    pub fn take<T>(
        &mut self,
        file: &Path,
        parsed: Parsed<T>,
        diags: &mut Diagnostics,
    ) -> Option<T> {
        match parsed {
            Parsed::Clean(value) => Some(value),
            Parsed::Repaired {
                value,
                problems,
                quiet,
            } => {
                problems.into_iter().for_each(|d| self.problems.push(d));
                self.quiet
                    .extend(quiet.into_iter().map(|p| (file.to_path_buf(), p)));
                Some(value)
            }
            Parsed::Failed(problems) => {
                problems.into_iter().for_each(|d| diags.push(d));
                None
            }
        }
    }

    /// `diags` without what was reported at a quiet position, then the shape problems.
    pub fn settle(self, diags: Diagnostics) -> Diagnostics {
        if self.problems.is_empty() {
            return diags;
        }
        let mut kept = Diagnostics::default();
        for d in diags.iter() {
            if !self.quiet.iter().any(|(f, p)| *f == d.path && *p == d.pos) {
                kept.push(d.clone());
            }
        }
        kept.extend(self.problems);
        kept
    }
}
