//! Kubernetes names and label selectors, checked without a cluster: namespaces (DNS
//! labels), label keys and values, and the selector grammar the API server accepts
//! (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, comma-separated).

#[cfg(test)]
use std::collections::BTreeMap;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key`: the label is set.
    Exists(String),
    /// `!key`: the label is not set.
    Absent(String),
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`: not set, or set to something else.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`: not set, or set to none of them.
    NotIn(String, Vec<String>),
}

impl Requirement {
    #[cfg(test)]
    /// Whether an object with `labels` meets this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::Absent(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        }
    }
}

/// Parses a label selector; an error says what is wrong in words.
pub fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    if text.len() > 4096 {
        return Err("longer than 4096 characters".into());
    }
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let mut parts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("a `)` without its `(`")?,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("a `(` without its `)`".into());
    }
    parts.push(&text[start..]);
    if parts.len() == 1 && parts[0].trim().is_empty() {
        return Err("empty".into());
    }
    for part in parts {
        out.push(requirement(part.trim())?);
    }
    Ok(out)
}

fn requirement(part: &str) -> Result<Requirement, String> {
    if part.is_empty() {
        return Err("an empty requirement between commas".into());
    }
    let key = |k: &str| -> Result<String, String> {
        let k = k.trim();
        if label_key(k) {
            Ok(k.to_string())
        } else {
            Err(format!("`{k}` is not a label key"))
        }
    };
    let value = |v: &str| -> Result<String, String> {
        let v = v.trim();
        if label_value(v) {
            Ok(v.to_string())
        } else {
            Err(format!("`{v}` is not a label value"))
        }
    };
    if let Some(rest) = part.strip_prefix('!') {
        return Ok(Requirement::Absent(key(rest)?));
    }
    if let Some(open) = part.find('(') {
        let inner = part[open + 1..]
            .strip_suffix(')')
            .ok_or("a set must end with `)`")?;
        let head = part[..open].trim_end();
        let (k, set_in) = if let Some(k) = head.strip_suffix(" notin") {
            (k, false)
        } else if let Some(k) = head.strip_suffix(" in") {
            (k, true)
        } else {
            return Err(format!("`{part}`: a set needs `in` or `notin` before it"));
        };
        let values = inner.split(',').map(value).collect::<Result<Vec<_>, _>>()?;
        if values.is_empty() || (values.len() == 1 && values[0].is_empty()) {
            return Err(format!("`{part}`: the set is empty"));
        }
        return Ok(if set_in {
            Requirement::In(key(k)?, values)
        } else {
            Requirement::NotIn(key(k)?, values)
        });
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key(k)?, value(v)?));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key(k)?, value(v)?));
    }
    Ok(Requirement::Exists(key(part)?))
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.
pub fn label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    prefix.is_none_or(|p| p.len() <= 253 && dns_name(p)) && !name.is_empty() && label_value(name)
}

/// A label value: empty, or at most 63 letters, digits, `-`, `_` and `.`, starting and
/// ending with a letter or digit.
pub fn label_value(value: &str) -> bool {
    let b = value.as_bytes();
    value.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

/// A DNS label (RFC 1123), as namespaces and Service names are: at most 63 lowercase
/// letters, digits and `-`, starting and ending with a letter or digit.
pub fn dns_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A DNS name of lowercase labels separated by dots, at most 253 characters.
pub fn dns_name(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_grammar() {
        use Requirement::*;
        let r = parse_selector("tier!=batch, app in (web, api),!legacy,env==prod,x=,team").unwrap();
        assert_eq!(
            r,
            [
                NotEquals("tier".into(), "batch".into()),
                In("app".into(), vec!["web".into(), "api".into()]),
                Absent("legacy".into()),
                Equals("env".into(), "prod".into()),
                Equals("x".into(), String::new()),
                Exists("team".into()),
            ]
        );
        assert_eq!(
            parse_selector("example.com/tier notin (a)").unwrap(),
            [NotIn("example.com/tier".into(), vec!["a".into()])]
        );
        for bad in [
            "",
            "a,,b",
            "a in (b",
            "a in b)",
            "a (b)",
            "bad key=x",
            "a=b c",
            "a!=-x",
            "-a",
            "a in ()",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn selectors_match_as_the_api_server_does() {
        let r = parse_selector("tier!=batch,app in (web,api),!legacy").unwrap();
        let all = |l: &BTreeMap<String, String>| r.iter().all(|q| q.matches(l));
        assert!(all(&labels(&[("app", "web")])));
        assert!(all(&labels(&[("app", "api"), ("tier", "front")])));
        assert!(!all(&labels(&[("app", "web"), ("tier", "batch")])));
        assert!(!all(&labels(&[("app", "db")])));
        assert!(!all(&labels(&[("app", "web"), ("legacy", "")])));
        let notin = parse_selector("a notin (x)").unwrap();
        assert!(notin[0].matches(&labels(&[])));
        assert!(!notin[0].matches(&labels(&[("a", "x")])));
    }

    #[test]
    fn names() {
        assert!(label_key("risk"));
        assert!(label_key("app.kubernetes.io/name"));
        assert!(!label_key("a/b/c"));
        assert!(!label_key("/x"));
        assert!(!label_key(&"a".repeat(64)));
        assert!(dns_label("shop-1"));
        assert!(!dns_label("Shop"));
        assert!(!dns_label("-shop"));
        assert!(dns_name("cluster.local"));
        assert!(!dns_name("cluster..local"));
    }
}
