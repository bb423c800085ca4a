//! A YAML node as serde-saphyr reads it without a target type, and which nodes a JSON
//! Schema `type` admits: with serde-saphyr's leniency, not JSON's strictness (text fields
//! take any scalar, `yes`/`on` are booleans, quoted numbers are numbers).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML node as serde-saphyr reads it without a target type.
#[derive(Debug)]
pub(super) enum Node {
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
pub(super) fn kind_admits(kind: &str, node: &Node) -> bool {
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
pub(super) fn int_in_range(n: i128) -> bool {
    (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_integers() {
        assert_eq!(yaml_int("1_000"), Some(1000));
        assert_eq!(yaml_int("-0x10"), Some(-16));
        assert_eq!(yaml_int("+7"), Some(7));
        assert_eq!(yaml_int("2.5"), None);
        assert_eq!(yaml_int(""), None);
    }
}
