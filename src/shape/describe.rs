//! Shape problems in words: what a schema expects (its [`EXPECTED`] text, else from its type
//! and `examples`), what the file holds there, and how to write a value that fits (its
//! [`HINT`], else one by its type).

use serde_json::Value;
use serde_saphyr::Spanned;

use super::Walk;
use super::node::Node;
use super::schema::{enumerated, is_null};
use crate::units::{EXPECTED, HINT};

impl<'a> Walk<'a> {
    /// How to write a value of `schema`: its `x-picket-hint`, else one by its type.
    pub(super) fn hint(&self, schema: &'a Value) -> Option<String> {
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

    /// What a schema takes, in words: its [`EXPECTED`] text, else from its type and
    /// `examples` (`a whole number such as 2`).
    pub(super) fn expected(&self, schema: &'a Value) -> String {
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
    pub(super) fn found(&self, node: &Spanned<Node>) -> String {
        match node.value {
            Node::Null => "nothing".into(),
            Node::Seq(_) => "a list".into(),
            Node::Map(_) => "a mapping".into(),
            _ => format!("`{}`", self.excerpt(node)),
        }
    }

    /// A scalar as written in the file (its first line, clipped); for an alias, as written
    /// where its anchor is.
    pub(super) fn excerpt(&self, node: &Spanned<Node>) -> String {
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
pub(super) fn prefix(label: &str) -> String {
    if label.is_empty() {
        "expected ".into()
    } else {
        format!("{label}: expected ")
    }
}

/// Text shortened for a one-line message.
pub(super) fn clip(text: &str) -> String {
    const MAX: usize = 40;
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > MAX || line.len() < text.len() {
        let short: String = line.chars().take(MAX).collect();
        format!("{short}…")
    } else {
        line.to_string()
    }
}
