//! What an object's metadata adds to its targets: the `picket.dev/*` annotations (opt-out,
//! tags, vars, schedule, scheme) and the tags every discovered target carries (`k8s`,
//! `ns-<namespace>`, `tags_from_labels`). Annotation values are written by whoever may edit
//! the object, so they are untrusted: every one is bounded in size and count, and none can
//! set where picket connects.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::{Var, valid_target_name};
use crate::redact::Secret;
use crate::units::{self, Schedule};

/// `picket.dev/probe: "false"` leaves the object out.
pub const PROBE: &str = "picket.dev/probe";
/// `picket.dev/tags: "public,pci"` adds tags.
pub const TAGS: &str = "picket.dev/tags";
/// `picket.dev/vars: '{"protected_paths": ["/admin"]}'` sets vars.
pub const VARS: &str = "picket.dev/vars";
/// `picket.dev/schedule: "1m"` (or a cron expression) sets the schedule of its series.
pub const SCHEDULE: &str = "picket.dev/schedule";
/// `picket.dev/scheme: http` makes an HTTPRoute's targets `http://`.
pub const SCHEME: &str = "picket.dev/scheme";

/// The largest `picket.dev/vars` value read.
pub const MAX_VARS_BYTES: usize = 4096;
/// The largest `picket.dev/tags` value read.
pub const MAX_TAGS_BYTES: usize = 4096;
/// The most tags `picket.dev/tags` may add.
pub const MAX_TAGS: usize = 64;
/// The most vars `picket.dev/vars` may set, and the most items of one list.
pub const MAX_VARS: usize = 64;
/// The longest tag (an annotation's or one made of a label).
pub const MAX_TAG_LEN: usize = 128;
/// The jitter of a schedule set by annotation (the config's default).
pub const DEFAULT_JITTER: f64 = 0.1;

/// What an object's annotations and labels give each of its targets.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// `k8s`, `ns-<namespace>`, label tags and annotated tags.
    pub tags: BTreeSet<String>,
    /// Annotated vars.
    pub vars: BTreeMap<String, Var>,
    /// Annotated schedule.
    pub schedule: Option<Schedule>,
}

/// Why an object makes no targets because of its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// `picket.dev/probe: "false"`.
    OptedOut,
    /// An annotation picket cannot use: which, and what is wrong.
    Bad(String),
}

/// The extras of an object in `namespace`, or why it is left out.
pub fn extras(
    namespace: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    tags_from_labels: &[String],
) -> Result<Extras, Left> {
    match annotations.get(PROBE).map(|v| v.trim()) {
        None | Some("true") => {}
        Some("false") => return Err(Left::OptedOut),
        Some(other) => {
            return Err(bad(
                PROBE,
                format!("`{}` is not `true` or `false`", clip(other)),
            ));
        }
    }
    let mut tags = BTreeSet::from(["k8s".to_string(), format!("ns-{namespace}")]);
    for key in tags_from_labels {
        if let Some(value) = labels.get(key) {
            // `example.com/team` names tags `team-…`; a value that is not tag-safe (upper
            // case, empty) makes no tag.
            let name = key.rsplit('/').next().unwrap_or(key);
            let tag = format!("{name}-{value}");
            if !value.is_empty() && tag.len() <= MAX_TAG_LEN && valid_target_name(&tag) {
                tags.insert(tag);
            }
        }
    }
    if let Some(text) = annotations.get(TAGS) {
        tags.extend(parse_tags(text).map_err(|e| bad(TAGS, e))?);
    }
    let vars = match annotations.get(VARS) {
        Some(text) => parse_vars(text).map_err(|e| bad(VARS, e))?,
        None => BTreeMap::new(),
    };
    let schedule = match annotations.get(SCHEDULE) {
        Some(text) => Some(parse_schedule(text).map_err(|e| bad(SCHEDULE, e))?),
        None => None,
    };
    Ok(Extras {
        tags,
        vars,
        schedule,
    })
}

/// Whether an HTTPRoute's targets are `https` (the default) or `http`.
pub fn route_scheme(annotations: &BTreeMap<String, String>) -> Result<&'static str, Left> {
    match annotations.get(SCHEME).map(|v| v.trim()) {
        None | Some("https") => Ok("https"),
        Some("http") => Ok("http"),
        Some(other) => Err(bad(
            SCHEME,
            format!("`{}` is not `http` or `https`", clip(other)),
        )),
    }
}

fn bad(annotation: &str, problem: String) -> Left {
    Left::Bad(format!("bad annotation `{annotation}`: {problem}"))
}

/// `public, pci`: comma-separated tags, each tag-safe.
pub fn parse_tags(text: &str) -> Result<Vec<String>, String> {
    if text.len() > MAX_TAGS_BYTES {
        return Err(format!("longer than {MAX_TAGS_BYTES} bytes"));
    }
    let tags: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if tags.len() > MAX_TAGS {
        return Err(format!("{} tags, at most {MAX_TAGS}", tags.len()));
    }
    if let Some(t) = tags
        .iter()
        .find(|t| t.len() > MAX_TAG_LEN || !valid_target_name(t))
    {
        return Err(format!(
            "tag `{}` is not lowercase letters, digits, `-`, `_` and `.` (at most {MAX_TAG_LEN})",
            clip(t)
        ));
    }
    Ok(tags)
}

/// A JSON object: a string is one var, an array of strings a list.
pub fn parse_vars(text: &str) -> Result<BTreeMap<String, Var>, String> {
    if text.len() > MAX_VARS_BYTES {
        return Err(format!("longer than {MAX_VARS_BYTES} bytes"));
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    if map.len() > MAX_VARS {
        return Err(format!("{} vars, at most {MAX_VARS}", map.len()));
    }
    let mut vars = BTreeMap::new();
    for (key, value) in map {
        if !var_name(&key) {
            return Err(format!(
                "var name `{}` is not letters, digits, `_` and `-`, starting with a letter or `_`",
                clip(&key)
            ));
        }
        let var = match value {
            serde_json::Value::String(s) => Var::One(Secret::plain(s)),
            serde_json::Value::Array(items) if items.len() <= MAX_VARS => Var::List(
                items
                    .into_iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => Ok(Secret::plain(s)),
                        _ => Err(format!("var `{key}` has an item that is not a string")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Array(items) => {
                return Err(format!(
                    "var `{key}` has {} items, at most {MAX_VARS}",
                    items.len()
                ));
            }
            _ => {
                return Err(format!("var `{key}` is not a string or a list of strings"));
            }
        };
        vars.insert(key, var);
    }
    Ok(vars)
}

fn var_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// `1m` (every minute, the default jitter) or a cron expression.
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let text = text.trim();
    if text.len() > 256 {
        return Err("longer than 256 bytes".into());
    }
    if let Ok(interval) = units::parse_duration(text) {
        let interval: Duration =
            units::in_range("schedule", text, interval, &units::ranges::INTERVAL)?;
        return Ok(Schedule::Every {
            interval,
            jitter: DEFAULT_JITTER,
        });
    }
    if text.contains(char::is_whitespace) {
        let cron = units::parse_cron(text).map_err(|e| e.to_string())?;
        return Ok(Schedule::Cron {
            expression: text.to_string(),
            cron: Box::new(cron),
            jitter: DEFAULT_JITTER,
        });
    }
    Err(format!(
        "`{}` is not a duration (`1m`) or a cron expression (`*/5 * * * *`)",
        clip(text)
    ))
}

/// Untrusted text, clipped and with control characters escaped, for a message.
pub fn clip(text: &str) -> String {
    let clipped: String = text.chars().take(64).collect();
    let more = if clipped.len() < text.len() {
        "…"
    } else {
        ""
    };
    format!("{}{more}", crate::term::escape_controls(&clipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn bad_reason(r: Result<Extras, Left>) -> String {
        match r {
            Err(Left::Bad(reason)) => reason,
            other => panic!("expected a bad annotation, got {other:?}"),
        }
    }

    #[test]
    fn every_target_carries_k8s_and_its_namespace_and_label_tags() {
        let labels = map(&[
            ("risk", "regulated"),
            ("example.com/team", "pay"),
            ("tier", "Front"),
            ("other", "x"),
        ]);
        let keys = ["risk".to_string(), "example.com/team".into(), "tier".into()];
        let e = extras("shop", &labels, &map(&[]), &keys).unwrap();
        let tags: Vec<_> = e.tags.iter().map(String::as_str).collect();
        // `tier: Front` is not tag-safe (upper case): no tag.
        assert_eq!(tags, ["k8s", "ns-shop", "risk-regulated", "team-pay"]);
    }

    #[test]
    fn opt_out_and_its_spelling() {
        let r = extras("a", &map(&[]), &map(&[(PROBE, "false")]), &[]);
        assert_eq!(r.unwrap_err(), Left::OptedOut);
        assert!(extras("a", &map(&[]), &map(&[(PROBE, "true")]), &[]).is_ok());
        let reason = bad_reason(extras("a", &map(&[]), &map(&[(PROBE, "no")]), &[]));
        assert!(reason.contains("picket.dev/probe"), "{reason}");
    }

    #[test]
    fn annotated_tags() {
        let e = extras("a", &map(&[]), &map(&[(TAGS, " public, pci ,")]), &[]).unwrap();
        assert!(e.tags.contains("public") && e.tags.contains("pci"));
        let reason = bad_reason(extras("a", &map(&[]), &map(&[(TAGS, "ok,Bad Tag")]), &[]));
        assert!(reason.contains("tag `Bad Tag`"), "{reason}");
        let many = (0..65)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(
            bad_reason(extras("a", &map(&[]), &map(&[(TAGS, &many)]), &[])).contains("65 tags")
        );
        let long = "a,".repeat(2100);
        assert!(bad_reason(extras("a", &map(&[]), &map(&[(TAGS, &long)]), &[])).contains("4096"));
    }

    #[test]
    fn annotated_vars() {
        let e = extras(
            "a",
            &map(&[]),
            &map(&[(
                VARS,
                r#"{"protected_paths": ["/admin", "/x"], "login": "/in"}"#,
            )]),
            &[],
        )
        .unwrap();
        match &e.vars["protected_paths"] {
            Var::List(items) => {
                let items: Vec<_> = items.iter().map(|s| s.expose().as_str()).collect();
                assert_eq!(items, ["/admin", "/x"]);
            }
            other => panic!("{other:?}"),
        }
        match &e.vars["login"] {
            Var::One(v) => assert!(v.expose() == "/in" && !v.is_secret()),
            other => panic!("{other:?}"),
        }
        for (text, problem) in [
            ("[1]", "not a JSON object"),
            ("{", "not JSON"),
            (r#"{"a": 1}"#, "not a string or a list"),
            (r#"{"a": [1]}"#, "not a string"),
            (r#"{"a": {"b": "c"}}"#, "not a string or a list"),
            (r#"{"bad name": "c"}"#, "var name"),
        ] {
            let reason = bad_reason(extras("a", &map(&[]), &map(&[(VARS, text)]), &[]));
            assert!(reason.contains(problem), "{text}: {reason}");
            assert!(reason.contains("picket.dev/vars"), "{reason}");
        }
        let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(5000));
        assert!(bad_reason(extras("a", &map(&[]), &map(&[(VARS, &big)]), &[])).contains("4096"));
    }

    #[test]
    fn annotated_schedule() {
        match parse_schedule("1m").unwrap() {
            Schedule::Every { interval, jitter } => {
                assert_eq!(interval, Duration::from_secs(60));
                assert_eq!(jitter, DEFAULT_JITTER);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_schedule("*/5 * * * *").unwrap(),
            Schedule::Cron { .. }
        ));
        assert!(parse_schedule("0s").is_err());
        assert!(parse_schedule("soon").is_err());
        assert!(parse_schedule("* * *").is_err());
    }

    #[test]
    fn route_scheme_annotation() {
        assert_eq!(route_scheme(&map(&[])).unwrap(), "https");
        assert_eq!(route_scheme(&map(&[(SCHEME, "http")])).unwrap(), "http");
        assert!(route_scheme(&map(&[(SCHEME, "gopher")])).is_err());
    }

    #[test]
    fn untrusted_text_is_clipped_and_escaped() {
        let c = clip(&format!("a\u{1b}[31m{}", "x".repeat(100)));
        assert!(!c.contains('\u{1b}'));
        assert!(c.ends_with('…'));
    }
}
