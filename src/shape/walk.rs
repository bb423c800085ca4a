//! The walk over one file's tree: each value checked against its schema (`allOf`, `anyOf`
//! and `oneOf` alternatives, fixed sets of values, lists, mappings with their unknown keys and
//! missing fields), each problem reported where it is, and what the repair may drop marked.

use serde_json::Value;
use serde_saphyr::Spanned;

use super::describe::{clip, prefix};
use super::node::{Node, int_in_range};
use super::repair::offset;
use super::schema::{enumerated, types_admit, types_name};
use super::{Problem, Walk};
use crate::diag::{Pos, did_you_mean};

impl<'a> Walk<'a> {
    /// Checks `node` against `schema`, reporting the problems inside it. `false` when the
    /// node itself does not fit (reported here), so that the caller can drop it.
    pub(super) fn value(&mut self, schema: &'a Value, node: &Spanned<Node>, label: &str) -> bool {
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

    fn push(&mut self, node: &Spanned<Node>, message: String, hint: Option<String>) {
        self.problems.push(Problem {
            pos: Pos::from_location(&node.referenced),
            message,
            hint,
        });
    }
}
