//! Reading the JSON Schema a file is checked against: `$ref`s followed, `type` keywords,
//! enumerations, and which schemas take a block of fields.

use serde_json::Value;

use super::Walk;
use super::node::{Node, kind_admits};

impl<'a> Walk<'a> {
    /// The schema a `$ref` points to (`#/$defs/Name`), followed through chains of them.
    pub(super) fn resolve(&self, mut schema: &'a Value) -> &'a Value {
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

    /// Whether the node's kind is one `schema` could take, looking no deeper.
    pub(super) fn admits(&self, schema: &'a Value, node: &Node) -> bool {
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

    /// Whether `schema` takes a block of fields: a mapping, or a list of mappings.
    pub(super) fn structural(&self, schema: &'a Value) -> bool {
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
    pub(super) fn takes(&self, schema: &'a Value, kind: &str) -> bool {
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
}

/// Whether a `type` keyword (one name or a list) admits the node.
pub(super) fn types_admit(kinds: &Value, node: &Node) -> bool {
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
pub(super) fn types_name(schema: &Value, kind: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(k)) => k == kind,
        Some(Value::Array(ks)) => ks.iter().any(|k| k.as_str() == Some(kind)),
        _ => false,
    }
}

/// `{"type": "null"}`, the `None` of an `Option`.
pub(super) fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// The values of an enumeration: `enum: [...]`, `const`, or a `oneOf` of `const`s (how
/// schemars writes an enum whose variants have docs).
pub(super) fn enumerated(schema: &Value) -> Option<Vec<String>> {
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
