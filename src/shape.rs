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

use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::diag::{Pos, did_you_mean};
use crate::units::{EXPECTED, HINT};

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

impl Findings {
    /// `text` with the problems blanked out (each character replaced by a space, line
    /// breaks kept, so every other value keeps its line and column), when that is possible.
    pub fn repair(&self, text: &str) -> Option<String> {
        let ranges = self.repair.as_ref()?;
        let mut chars: Vec<char> = text.chars().collect();
        for range in ranges {
            for c in chars.get_mut(range.clone())? {
                if *c != '\n' && *c != '\r' {
                    *c = ' ';
                }
            }
        }
        // Each fill is at the start of a blanked key, so it overwrites blanks only.
        for at in &self.fills {
            let pair = chars.get_mut(*at..at.saturating_add(2))?;
            if pair != [' ', ' '] {
                return None;
            }
            pair.copy_from_slice(&['{', '}']);
        }
        Some(chars.into_iter().collect())
    }
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

/// A YAML node as serde-saphyr reads it without a target type.
#[derive(Debug)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Int(i128::try_from(v).unwrap_or(i128::MAX)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not supported"))
    }
}

/// The schema keywords' names for the node kinds.
fn kind_admits(kind: &str, node: &Node) -> bool {
    match kind {
        "null" => matches!(node, Node::Null),
        "boolean" => match node {
            Node::Bool(_) => true,
            Node::Str(s) => yaml_bool(s),
            _ => false,
        },
        "integer" => match node {
            Node::Int(_) => true,
            Node::Str(s) => yaml_int(s).is_some(),
            _ => false,
        },
        "number" => match node {
            Node::Int(_) | Node::Float(_) => true,
            Node::Str(s) => yaml_int(s).is_some() || s.trim().parse::<f64>().is_ok(),
            _ => false,
        },
        // serde-saphyr reads any scalar as text.
        "string" => matches!(
            node,
            Node::Bool(_) | Node::Int(_) | Node::Float(_) | Node::Str(_)
        ),
        "array" => matches!(node, Node::Seq(_)),
        "object" => matches!(node, Node::Map(_)),
        _ => true,
    }
}

/// YAML 1.1 booleans, which serde-saphyr takes for a `bool` field (also when quoted).
fn yaml_bool(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "y" | "n" | "on" | "off"
    )
}

/// An integer as YAML writes it: sign, `_` separators, `0x`/`0o`/`0b` prefixes.
fn yaml_int(s: &str) -> Option<i128> {
    let s = s.trim().replace('_', "");
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -value } else { value })
}

/// The whole numbers the raw types hold (`i64`, `u64`).
fn int_in_range(n: i128) -> bool {
    (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&n)
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

    /// The schema a `$ref` points to (`#/$defs/Name`), followed through chains of them.
    fn resolve(&self, mut schema: &'a Value) -> &'a Value {
        // A reference cycle without content would loop; schemars never makes one, and the
        // bound keeps a hand-written schema from hanging the loader.
        for _ in 0..16 {
            let Some(target) = schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| self.root.pointer(pointer))
            else {
                break;
            };
            schema = target;
        }
        schema
    }

    /// Checks `node` against `schema`, reporting the problems inside it. `false` when the
    /// node itself does not fit (reported here), so that the caller can drop it.
    fn value(&mut self, schema: &'a Value, node: &Spanned<Node>, label: &str) -> bool {
        let schema = self.resolve(schema);
        let Some(object) = schema.as_object() else {
            // `true` takes anything; `false` nothing.
            if schema == &Value::Bool(false) {
                self.mismatch(schema, node, label);
                return false;
            }
            return true;
        };
        if let Some(all) = object.get("allOf").and_then(Value::as_array) {
            for part in all {
                if !self.value(part, node, label) {
                    return false;
                }
            }
        }
        if let Some(values) = enumerated(schema) {
            return self.one_of_values(&values, node, label);
        }
        if let Some(alternatives) = object
            .get("anyOf")
            .or_else(|| object.get("oneOf"))
            .and_then(Value::as_array)
        {
            return self.any_of(schema, alternatives, node, label);
        }
        if let Some(kinds) = object.get("type")
            && !types_admit(kinds, &node.value)
        {
            self.mismatch(schema, node, label);
            return false;
        }
        match &node.value {
            Node::Int(n) if !int_in_range(*n) && types_name(schema, "integer") => {
                self.mismatch(schema, node, label);
                return false;
            }
            Node::Map(entries) => self.mapping(object, node, entries, label),
            Node::Seq(items) => {
                if let Some(item_schema) = object.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        // `tags[1]`; the items of a file that is a list are counted from 1.
                        let item_label = if label.is_empty() {
                            format!("item {}", i + 1)
                        } else {
                            format!("{label}[{i}]")
                        };
                        if !self.value(item_schema, item, &item_label) {
                            // A list item cannot be blanked away cleanly.
                            self.repairable = false;
                        }
                    }
                }
            }
            _ => {}
        }
        true
    }

    /// `anyOf`/`oneOf`: the alternatives whose kind admits the node are tried. When only one
    /// does, its problems are reported in detail; otherwise the node must fit one of them.
    fn any_of(
        &mut self,
        schema: &'a Value,
        alternatives: &'a [Value],
        node: &Spanned<Node>,
        label: &str,
    ) -> bool {
        let admitting: Vec<&'a Value> = alternatives
            .iter()
            .filter(|a| self.admits(a, &node.value))
            .collect();
        match admitting.as_slice() {
            [] => {
                self.mismatch(schema, node, label);
                false
            }
            [only] => self.value(only, node, label),
            several => {
                if several.iter().any(|a| self.fits(a, node)) {
                    true
                } else {
                    self.mismatch(schema, node, label);
                    false
                }
            }
        }
    }

    /// Whether `node` fits `schema` entirely, without reporting anything.
    fn fits(&self, schema: &'a Value, node: &Spanned<Node>) -> bool {
        let mut trial = Walk::new(self.root, self.chars);
        trial.value(schema, node, "") && trial.problems.is_empty()
    }

    /// Whether the node's kind is one `schema` could take, looking no deeper.
    fn admits(&self, schema: &'a Value, node: &Node) -> bool {
        let schema = self.resolve(schema);
        let Some(object) = schema.as_object() else {
            return schema != &Value::Bool(false);
        };
        if let Some(alternatives) = object
            .get("anyOf")
            .or_else(|| object.get("oneOf"))
            .and_then(Value::as_array)
        {
            return alternatives.iter().any(|a| self.admits(a, node));
        }
        if let Some(kinds) = object.get("type") {
            return types_admit(kinds, node);
        }
        if object.contains_key("const") || object.contains_key("enum") {
            return !matches!(node, Node::Seq(_) | Node::Map(_) | Node::Null);
        }
        true
    }

    /// A value that must be one of a fixed set (`severity`).
    fn one_of_values(&mut self, values: &[String], node: &Spanned<Node>, label: &str) -> bool {
        let text = match &node.value {
            Node::Str(s) => s.clone(),
            Node::Bool(_) | Node::Int(_) | Node::Float(_) => self.excerpt(node),
            _ => {
                let list = values.join(", ");
                self.push(
                    node,
                    format!("{}one of {list}, found {}", prefix(label), self.found(node)),
                    None,
                );
                return false;
            }
        };
        if values.contains(&text) {
            return true;
        }
        let candidates: Vec<&str> = values.iter().map(String::as_str).collect();
        let hint = match did_you_mean(&text, &candidates) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("expected one of: {}", candidates.join(", ")),
        };
        let field = if label.is_empty() {
            String::new()
        } else {
            format!(" for `{label}`")
        };
        self.push(
            node,
            format!("unknown value `{}`{field}", clip(&text)),
            Some(hint),
        );
        false
    }

    /// A mapping: unknown keys, missing required fields, and each field's value.
    fn mapping(
        &mut self,
        schema: &'a serde_json::Map<String, Value>,
        node: &Spanned<Node>,
        entries: &[(Spanned<String>, Spanned<Node>)],
        label: &str,
    ) {
        static ANY: Value = Value::Bool(true);
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let names: Vec<&str> = properties
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let flow = self.chars.get(offset(node)) == Some(&'{');
        let mut suggested = Vec::new();
        let mut kept = Vec::new();
        let mut lost = false;
        for (key, value) in entries {
            let declared = properties.and_then(|p| p.get(&key.value));
            let field_schema = match (declared, additional) {
                (Some(s), _) => Some(s),
                (None, Some(Value::Bool(false))) => None,
                (None, Some(s @ Value::Object(_))) => Some(s),
                (None, _) => Some(&ANY),
            };
            let Some(field_schema) = field_schema else {
                let best = did_you_mean(&key.value, &names);
                let hint = match best {
                    Some(best) => {
                        suggested.push(best);
                        format!("did you mean `{best}`?")
                    }
                    None if names.is_empty() => "this mapping takes no fields".to_string(),
                    None => format!("expected one of: {}", names.join(", ")),
                };
                self.problems.push(Problem {
                    pos: Pos::from_location(&key.referenced),
                    message: format!("unknown field `{}`", clip(&key.value)),
                    hint: Some(hint),
                });
                self.drop_entry(key, value, flow);
                lost = true;
                continue;
            };
            // A declared field is named by its key; an entry of a free-form mapping
            // (`headers`, `vars`) by the mapping's name too.
            let field = if declared.is_some() || label.is_empty() {
                key.value.clone()
            } else {
                format!("{label}.{}", key.value)
            };
            if self.value(field_schema, value, &field) {
                kept.push(Pos::from_location(&key.referenced));
            } else if required.contains(&key.value.as_str()) || self.structural(field_schema) {
                // Without a required field serde still refuses the file; without a block
                // (`http:`, `targets:`) validation would report what follows from its
                // absence (`probe has no request`) as if it were another mistake.
                self.repairable = false;
            } else {
                self.drop_entry(key, value, flow);
                lost = true;
            }
        }
        for field in required {
            if entries.iter().any(|(k, _)| k.value == field) {
                continue;
            }
            self.repairable = false;
            // A misspelt key already points here (`sevrity`: did you mean `severity`?).
            if !suggested.contains(&field) {
                self.push(
                    node,
                    format!("missing required field `{field}`"),
                    Some(format!("add `{field}:` to this mapping")),
                );
            }
        }
        if lost {
            if kept.is_empty() && !flow {
                // `- header: x` losing its only key must stay a mapping, not become null.
                self.fills.push(offset(node));
            }
            self.quiet.push(Pos::from_location(&node.referenced));
            self.quiet.extend(kept);
        }
    }

    /// Marks a key and its value for blanking; in a flow mapping, with the comma after it.
    fn drop_entry(&mut self, key: &Spanned<String>, value: &Spanned<Node>, flow: bool) {
        // Values reached through an alias or a merge key are written elsewhere: blanking
        // their place here would change other values.
        if key.referenced != key.defined || value.referenced != value.defined {
            self.repairable = false;
            return;
        }
        let start = offset_of(key);
        let Some(mut end) = self.end(value) else {
            self.repairable = false;
            return;
        };
        if flow {
            let next = (end..self.chars.len()).find(|i| !self.chars[*i].is_whitespace());
            if let Some(i) = next.filter(|i| self.chars[*i] == ',') {
                end = i + 1;
            }
        }
        if start >= end || end > self.chars.len() {
            self.repairable = false;
            return;
        }
        self.repair.push(start..end);
    }

    /// Where a node's text ends (exclusive, in characters): its last descendant, and for a
    /// flow collection its closing bracket. `None` when the text does not look as expected.
    fn end(&self, node: &Spanned<Node>) -> Option<usize> {
        let start = offset(node);
        let mut end = start + node.referenced.span().len() as usize;
        match &node.value {
            Node::Seq(items) => {
                for item in items {
                    end = end.max(self.end(item)?);
                }
            }
            Node::Map(entries) => {
                for (key, value) in entries {
                    end = end.max(offset_of(key) + key.referenced.span().len() as usize);
                    end = end.max(self.end(value)?);
                }
            }
            _ => return Some(end),
        }
        let close = match self.chars.get(start) {
            Some('[') => ']',
            Some('{') => '}',
            _ => return Some(end),
        };
        // Past the last item: spaces, commas and comments, then the bracket.
        let mut i = end.max(start + 1);
        while let Some(c) = self.chars.get(i) {
            match c {
                c if *c == close => return Some(i + 1),
                ',' => i += 1,
                c if c.is_whitespace() => i += 1,
                '#' => {
                    while self.chars.get(i).is_some_and(|c| *c != '\n') {
                        i += 1;
                    }
                }
                _ => return None,
            }
        }
        None
    }

    /// Reports that `node` does not have the shape `schema` wants.
    fn mismatch(&mut self, schema: &'a Value, node: &Spanned<Node>, label: &str) {
        let expected = self.expected(schema);
        // What serde-saphyr reads as a float or an `i128` may be a whole number too large
        // for the field.
        let too_large = match node.value {
            Node::Float(f) => {
                f.fract() == 0.0 && f.abs() >= 9.2e18 && self.takes(schema, "integer")
            }
            Node::Int(n) => !int_in_range(n),
            _ => false,
        };
        let message = format!(
            "{}{expected}, found {}{}",
            prefix(label),
            self.found(node),
            if too_large { " (too large)" } else { "" }
        );
        let hint = if label.is_empty() {
            Some(match expected.as_str() {
                "a mapping" => "this file must be a YAML mapping of `key: value` lines".to_string(),
                other => format!("this file must be {other}"),
            })
        } else {
            self.hint(schema)
        };
        self.push(node, message, hint);
    }

    /// How to write a value of `schema`: its `x-picket-hint`, else one by its type.
    fn hint(&self, schema: &'a Value) -> Option<String> {
        if let Some(hint) = schema.get(HINT).and_then(Value::as_str) {
            return Some(hint.to_string());
        }
        let resolved = self.resolve(schema);
        if !std::ptr::eq(resolved, schema) {
            return self.hint(resolved);
        }
        if let Some(alternatives) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            let real: Vec<&Value> = alternatives.iter().filter(|a| !is_null(a)).collect();
            return match real.as_slice() {
                [only] => self.hint(only),
                _ => None,
            };
        }
        let kinds: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return None,
        };
        let example = schema
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
            .map(|e| e.to_string().trim_matches('"').to_string());
        match kinds.iter().find(|k| **k != "null").copied()? {
            "boolean" => Some("write `true` or `false`".into()),
            "integer" => Some(format!(
                "write a plain whole number such as `{}`, without decimals, units or quotes",
                example.unwrap_or_else(|| "4".into())
            )),
            "number" => Some(format!(
                "write a plain number such as `{}`, without units",
                example.unwrap_or_else(|| "0.5".into())
            )),
            "array" => Some("write a list: `[a, b]`, or one `- item` per line".into()),
            "object" => Some("write `key: value` lines, or `{ key: value }`".into()),
            _ => None,
        }
    }

    /// Whether `schema` takes a block of fields: a mapping, or a list of mappings.
    fn structural(&self, schema: &'a Value) -> bool {
        let schema = self.resolve(schema);
        if types_name(schema, "object") {
            return true;
        }
        if types_name(schema, "array")
            && let Some(items) = schema.get("items")
            && self.structural(items)
        {
            return true;
        }
        schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
            .is_some_and(|alternatives| alternatives.iter().any(|a| self.structural(a)))
    }

    /// Whether `schema` (or one of its alternatives) takes values of `kind`.
    fn takes(&self, schema: &'a Value, kind: &str) -> bool {
        let schema = self.resolve(schema);
        if types_name(schema, kind) {
            return true;
        }
        schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
            .is_some_and(|alternatives| alternatives.iter().any(|a| self.takes(a, kind)))
    }

    fn push(&mut self, node: &Spanned<Node>, message: String, hint: Option<String>) {
        self.problems.push(Problem {
            pos: Pos::from_location(&node.referenced),
            message,
            hint,
        });
    }

    /// What a schema takes, in words: its [`EXPECTED`] text, else from its type and
    /// `examples` (`a whole number such as 2`).
    fn expected(&self, schema: &'a Value) -> String {
        if let Some(words) = schema.get(EXPECTED).and_then(Value::as_str) {
            return words.to_string();
        }
        let resolved = self.resolve(schema);
        if !std::ptr::eq(resolved, schema) {
            return self.expected(resolved);
        }
        if let Some(values) = enumerated(schema) {
            return format!("one of {}", values.join(", "));
        }
        if let Some(alternatives) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            let mut words: Vec<String> = Vec::new();
            for a in alternatives.iter().filter(|a| !is_null(a)) {
                let w = self.expected(a);
                if !words.contains(&w) {
                    words.push(w);
                }
            }
            return words.join(" or ");
        }
        let kinds: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return "a value".into(),
        };
        let example = schema
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
            .map(|e| match e {
                Value::String(s) => format!(" such as {s}"),
                other => format!(" such as {other}"),
            })
            .unwrap_or_default();
        let words: Vec<String> = kinds
            .iter()
            .filter(|k| **k != "null")
            .map(|k| match *k {
                "boolean" => "true or false".to_string(),
                "integer" => format!("a whole number{example}"),
                "number" => format!("a number{example}"),
                "string" => format!("text{example}"),
                "array" => "a list".to_string(),
                "object" => "a mapping".to_string(),
                other => other.to_string(),
            })
            .collect();
        if words.is_empty() {
            "nothing".into()
        } else {
            words.join(" or ")
        }
    }

    /// What the file holds there, in words: `` `maybe` ``, a list, a mapping, nothing.
    fn found(&self, node: &Spanned<Node>) -> String {
        match node.value {
            Node::Null => "nothing".into(),
            Node::Seq(_) => "a list".into(),
            Node::Map(_) => "a mapping".into(),
            _ => format!("`{}`", self.excerpt(node)),
        }
    }

    /// A scalar as written in the file (its first line, clipped); for an alias, as written
    /// where its anchor is.
    fn excerpt(&self, node: &Spanned<Node>) -> String {
        let span = node.defined.span();
        let start = span.offset() as usize;
        let len = span.len() as usize;
        let written: String = self
            .chars
            .get(start..start.saturating_add(len).min(self.chars.len()))
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        let line = written.lines().next().unwrap_or_default().trim();
        if !line.is_empty() {
            return clip(line);
        }
        match &node.value {
            Node::Bool(b) => b.to_string(),
            Node::Int(n) => n.to_string(),
            Node::Float(f) => f.to_string(),
            Node::Str(s) => clip(s),
            _ => String::new(),
        }
    }
}

/// `label: expected ` or `expected ` for the file itself.
fn prefix(label: &str) -> String {
    if label.is_empty() {
        "expected ".into()
    } else {
        format!("{label}: expected ")
    }
}

/// Text shortened for a one-line message.
fn clip(text: &str) -> String {
    const MAX: usize = 40;
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > MAX || line.len() < text.len() {
        let short: String = line.chars().take(MAX).collect();
        format!("{short}…")
    } else {
        line.to_string()
    }
}

/// The character offset of a node in its file.
fn offset(node: &Spanned<Node>) -> usize {
    node.referenced.span().offset() as usize
}

fn offset_of<T>(spanned: &Spanned<T>) -> usize {
    spanned.referenced.span().offset() as usize
}

/// Whether a `type` keyword (one name or a list) admits the node.
fn types_admit(kinds: &Value, node: &Node) -> bool {
    match kinds {
        Value::String(k) => kind_admits(k, node),
        Value::Array(ks) => ks
            .iter()
            .filter_map(Value::as_str)
            .any(|k| kind_admits(k, node)),
        _ => true,
    }
}

/// Whether a schema's `type` names `kind`.
fn types_name(schema: &Value, kind: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(k)) => k == kind,
        Some(Value::Array(ks)) => ks.iter().any(|k| k.as_str() == Some(kind)),
        _ => false,
    }
}

/// `{"type": "null"}`, the `None` of an `Option`.
fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// The values of an enumeration: `enum: [...]`, `const`, or a `oneOf` of `const`s (how
/// schemars writes an enum whose variants have docs).
fn enumerated(schema: &Value) -> Option<Vec<String>> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        other => Some(other.to_string()),
    };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(text).collect();
    }
    if let Some(value) = schema.get("const") {
        return text(value).map(|v| vec![v]);
    }
    let alternatives = schema.get("oneOf").and_then(Value::as_array)?;
    alternatives
        .iter()
        .map(|a| a.get("const").and_then(text))
        .collect()
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

    #[test]
    fn yaml_integers() {
        assert_eq!(yaml_int("1_000"), Some(1000));
        assert_eq!(yaml_int("-0x10"), Some(-16));
        assert_eq!(yaml_int("+7"), Some(7));
        assert_eq!(yaml_int("2.5"), None);
        assert_eq!(yaml_int(""), None);
    }
}
