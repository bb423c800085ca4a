//! Shape checking: every value of the wrong shape in a YAML file, not only the first.
//!
//! serde stops at the first error it meets, so a file with three mistyped fields would take
//! three runs of `picket validate` to fix. When a file does not deserialize but is
//! well-formed YAML, [`check`] reads it again as a plain tree of positioned nodes and walks
//! that tree against the JSON Schema of its format — the schema `picket schema` prints,
//! generated from the same raw serde types, so the two cannot drift apart. Each unknown key,
//! missing field and value of the wrong type is reported where it is, naming the field and
//! what it expects (`follow_redirects: expected true or false, found `maybe``); a schema
//! says the latter in words with the [`crate::units::EXPECTED`] keyword, or with `examples`.
//!
//! The walk also says how to [`Findings::repair`] the text: blank out the unknown keys and
//! the mistyped optional fields, keeping every other character where it was, so that the
//! validation stage can run over the rest of the file and report its own problems (a bad
//! duration, an invalid regex) in the same pass, at their true positions. Problems it cannot
//! repair around (a missing required field, a mistyped block such as `http: yes`, a mistyped
//! list item) leave the file unrepaired, and only the shape problems are reported.
//!
//! The walk agrees with serde-saphyr's leniency rather than with JSON's strictness: text
//! fields take any scalar, `yes`/`on` are booleans, quoted numbers are numbers. Where it is
//! more lenient still, serde's own error is reported as well ([`crate::load`]).
//!
//! The files, one concept each:
//!
//! - this file: [`check`] and [`Findings`], and the state of one walk.
//! - `node.rs`: a YAML node as read without a target type, and which schema kinds admit it
//!   (serde-saphyr's leniency).
//! - `walk.rs`: the walk itself: each value against its schema, `anyOf` alternatives, fixed
//!   sets of values, mappings (unknown keys, missing fields), and each problem reported.
//! - `schema.rs`: reading the JSON Schema: `$ref`s, `type`, enumerations, what takes a block.
//! - `describe.rs`: what a schema expects and what the file holds, in words, and the hint.
//! - `repair.rs`: the text ranges to blank out, and [`Findings::repair`] that blanks them.

use std::ops::Range;

use serde_json::Value;
use serde_saphyr::Spanned;

use crate::diag::Pos;

mod describe;
mod node;
mod repair;
mod schema;
mod walk;

use node::Node;

/// One shape problem: where, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the file.
    pub pos: Pos,
    /// `follow_redirects: expected true or false, found `maybe``.
    pub message: String,
    /// A hint, when one helps.
    pub hint: Option<String>,
}

/// What [`check`] found in a file.
#[derive(Debug, Default)]
pub struct Findings {
    /// Every shape problem, in the order of the file.
    pub problems: Vec<Problem>,
    /// Character ranges whose blanking leaves a file serde reads; `None` when some problem
    /// cannot be removed that way.
    repair: Option<Vec<Range<usize>>>,
    /// Where a block mapping lost every key: `{}` is written there, so that it stays an
    /// (empty) mapping rather than becoming null.
    fills: Vec<usize>,
    /// Positions of the mappings that lost a key to the repair, and of the keys they kept:
    /// validation errors there (a check left without its assertion) are consequences of
    /// the repair, already explained by a problem.
    pub quiet: Vec<Pos>,
}

/// Checks `text` against `schema`. `None` when the text is not a YAML tree at all (a syntax
/// error, a budget exceeded): then serde's error is all there is to say.
pub fn check(text: &str, schema: &Value, options: serde_saphyr::Options) -> Option<Findings> {
    let tree: Spanned<Node> = serde_saphyr::from_str_with_options(text, options).ok()?;
    let chars: Vec<char> = text.chars().collect();
    let mut walk = Walk::new(schema, &chars);
    if !walk.value(schema, &tree, "") {
        walk.repairable = false;
    }
    Some(Findings {
        problems: walk.problems,
        repair: walk.repairable.then_some(walk.repair),
        fills: walk.fills,
        quiet: walk.quiet,
    })
}

/// Whether serde's error says a value had the wrong shape (an unknown key, a wrong type, a
/// missing field), so that the file is worth [`check`]ing for more. Syntax errors, budgets
/// and the like are not: the text is no tree to walk, or too costly a one.
pub fn worth_checking(error: &serde_saphyr::Error) -> bool {
    use serde_saphyr::Error as E;
    matches!(
        error.without_snippet(),
        E::Message { .. }
            | E::Unexpected { .. }
            | E::InvalidScalar { .. }
            | E::InvalidBooleanStrict { .. }
            | E::NullIntoString { .. }
            | E::TaggedScalarCannotDeserializeIntoString { .. }
            | E::UnexpectedValueForUnit { .. }
            | E::SerdeInvalidType { .. }
            | E::SerdeInvalidValue { .. }
            | E::SerdeInvalidLength { .. }
            | E::SerdeUnknownVariant { .. }
            | E::SerdeUnknownField { .. }
            | E::SerdeMissingField { .. }
    )
}

/// The walk over one file's tree.
struct Walk<'a> {
    /// The root schema, for `$ref`s.
    root: &'a Value,
    /// The file's text, by character (serde-saphyr's spans count characters).
    chars: &'a [char],
    problems: Vec<Problem>,
    repair: Vec<Range<usize>>,
    fills: Vec<usize>,
    repairable: bool,
    quiet: Vec<Pos>,
}

impl<'a> Walk<'a> {
    fn new(root: &'a Value, chars: &'a [char]) -> Self {
        Walk {
            root,
            chars,
            problems: Vec::new(),
            repair: Vec::new(),
            fills: Vec::new(),
            repairable: true,
            quiet: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> serde_saphyr::Options {
        serde_saphyr::Options::default()
    }

    fn probe_problems(yaml: &str) -> Vec<String> {
        let schema = crate::probe::probe_schema();
        let found = check(yaml, &schema, options()).expect("a YAML tree");
        found
            .problems
            .iter()
            .map(|p| format!("{}:{}: {}", p.pos.line, p.pos.column, p.message))
            .collect()
    }

    #[test]
    fn every_mistyped_field_is_named_with_what_it_expects() {
        let yaml = "id: t/a\nname: a\nseverity: low\nconfirm: two\ntimeout: [1]\nhttp:\n  path: /\n  follow_redirects: maybe\nchecks:\n  - status: 200\n";
        assert_eq!(
            probe_problems(yaml),
            [
                "4:10: confirm: expected a whole number such as 2, found `two`",
                "5:10: timeout: expected a duration such as 10s, found a list",
                "8:21: follow_redirects: expected true or false, found `maybe`",
            ]
        );
    }

    #[test]
    fn unknown_keys_missing_fields_and_bad_values() {
        let yaml = "id: t/a\nname: a\nsevrity: low\nhttp: { path: /, methd: GET }\nchecks:\n  - header: x\n    present: true\n    severity: hgh\n";
        assert_eq!(
            probe_problems(yaml),
            [
                "3:1: unknown field `sevrity`",
                "4:18: unknown field `methd`",
                "8:15: unknown value `hgh` for `severity`",
            ]
        );
        let yaml = "id: t/a\nname: a\nseverity: low\nhttp: yes\n";
        assert_eq!(
            probe_problems(yaml),
            [
                "4:7: http: expected a mapping, found `yes`",
                "1:1: missing required field `checks`",
            ]
        );
    }

    #[test]
    fn what_serde_saphyr_accepts_passes() {
        let yaml = "id: t/a\nname: 12\nseverity: low\nconfirm: '3'\nhttp:\n  follow_redirects: yes\n  use_target_auth: 'off'\nchecks:\n  - status: [200, 4xx]\n  - header: x\n    capture: '(\\d+)'\n    at_least: 0x10\n  - json: { pointer: /a, equals: [1, {b: 2}] }\n";
        assert_eq!(probe_problems(yaml), Vec::<String>::new());
    }

    #[test]
    fn the_repair_blanks_only_what_is_wrong() {
        let yaml = "id: t/a\nname: a\nseverity: low\nconfirm: two\nhttp: { follow_redirects: maybe, path: / }\nchecks:\n  - header: x\n    present: 1\n";
        let schema = crate::probe::probe_schema();
        let found = check(yaml, &schema, options()).unwrap();
        let repaired = found.repair(yaml).expect("repairable");
        assert_eq!(
            repaired,
            "id: t/a\nname: a\nseverity: low\n            \nhttp: {                          path: / }\nchecks:\n  - header: x\n              \n"
        );
        // The check that lost `present` is where validation would complain: quiet there.
        assert!(found.quiet.contains(&Pos { line: 7, column: 5 }));
        // A missing required field cannot be repaired around, nor a block of the wrong type.
        let found = check("id: t/a\nname: a\nconfirm: x\n", &schema, options()).unwrap();
        assert!(found.repair("").is_none());
        let yaml = "id: t/a\nname: a\nseverity: low\nhttp: yes\nchecks:\n  - status: 200\n";
        let found = check(yaml, &schema, options()).unwrap();
        assert_eq!(found.problems.len(), 1);
        assert!(found.repair(yaml).is_none());
    }
}
