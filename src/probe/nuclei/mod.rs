//! nuclei templates as a source format of `http` probes: a file with nuclei's shape (`id`,
//! `info`, and `http` or the legacy `requests`) compiles into an `http` probe whose exchanges
//! are the template's request blocks, each checked by a nuclei matcher block
//! ([`crate::check::nuclei`]). Nothing else in picket knows the probe came from nuclei.
//!
//! The subset is faithful or refused: any field outside it is a located error naming it, so a
//! template never runs half-understood.
//!
//! This file tells a template from a probe, loads it and compiles its `id`, `info` and
//! `picket:` block into the probe's fields. The rest, one concept a file:
//!
//! - `raw.rs`: the serde shapes of a template, as far as picket runs it.
//! - `unsupported.rs`: the refusal of features outside the subset, each named at its
//!   file:line:column.
//! - `request.rs`: a request block into an exchange: method, paths, headers, body, and
//!   nuclei's URL placeholders.
//! - `matcher.rs`: a matcher block into a nuclei check: part, type, words (within a budget),
//!   RE2 regexes.

use std::path::Path;

use super::http::Http;
use super::{Compiling, Kind, Probe};
use crate::config::{self, Defaults};
use crate::diag::{Diagnostics, Pos};
use crate::units::Severity;

mod matcher;
pub mod raw;
mod request;
mod unsupported;

use matcher::WordBudget;
pub use matcher::{MAX_WORD_BYTES, MAX_WORDS};
use request::{check_request_count, exchange};
use unsupported::{explain, scan_unsupported};

/// Whether YAML `text` has nuclei's shape rather than a picket probe's: a top-level `info:`
/// (or the legacy `requests:`) and no `checks:`. Read from the lines, without parsing twice.
pub fn looks_like_nuclei(text: &str) -> bool {
    let top = |key: &str| {
        text.lines().any(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        })
    };
    (top("info") || top("requests")) && !top("checks")
}

/// Loads one template file's text as a probe.
pub fn load(
    file: &Path,
    text: &str,
    defaults: &Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    let raw: raw::Template = match crate::yaml::parse_yaml(file, text) {
        Ok(t) => t,
        Err(d) => {
            // Name every feature outside the subset, not only the first serde met.
            let found = scan_unsupported(file, text);
            if found.is_empty() {
                diags.push(explain(d));
            } else {
                found.into_iter().for_each(|d| diags.push(d));
            }
            return None;
        }
    };
    compile(file, raw, defaults, diags)
}

/// Builds the probe: info → probe fields, each request block → one exchange.
pub fn compile(
    file: &Path,
    raw: raw::Template,
    defaults: &Defaults,
    diags: &mut Diagnostics,
) -> Option<Probe> {
    let before = diags.len();
    let mut ctx = Compiling::new(file, diags);
    let id: String = raw
        .id
        .value
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '/' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id = format!("nuclei/{}", id.trim_matches('/'));
    if !super::valid_probe_id(&id) {
        ctx.err_hint(
            &raw.id,
            format!("template id `{}` cannot name a probe", raw.id.value),
            "use letters, digits and `-`",
        );
    }
    let info = raw.info.value;
    let severity = match info.severity.value.trim().to_ascii_lowercase().as_str() {
        "info" | "unknown" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        other => {
            ctx.err_hint(
                &info.severity,
                format!("unknown nuclei severity `{other}`"),
                "expected info, low, medium, high, critical or unknown",
            );
            Severity::Info
        }
    };
    let tags: Vec<String> = match &info.tags {
        Some(raw::OneOrMany::One(t)) => t
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        Some(raw::OneOrMany::Many(list)) => list.clone(),
        None => Vec::new(),
    };
    let references: Vec<String> = match &info.reference {
        Some(raw::OneOrMany::One(r)) => vec![r.clone()],
        Some(raw::OneOrMany::Many(list)) => list.clone(),
        None => Vec::new(),
    }
    .into_iter()
    .map(|r| r.trim().to_string())
    .filter(|r| url::Url::parse(r).is_ok())
    .collect();
    let description = match (&info.description, &info.impact) {
        (Some(d), Some(i)) => Some(format!("{}\n\nImpact: {}", d.trim(), i.trim())),
        (Some(d), None) => Some(d.trim().to_string()),
        (None, Some(i)) => Some(format!("Impact: {}", i.trim())),
        (None, None) => None,
    };
    let mut classification = Vec::new();
    for (key, value) in info.classification.iter().flatten() {
        let text = match value {
            raw::Scalar::Text(t) => t.trim().to_string(),
            raw::Scalar::Number(n) => n.to_string(),
            raw::Scalar::List(l) => l.join(","),
            raw::Scalar::Null(()) => continue,
        };
        if matches!(key.as_str(), "cve-id" | "cwe-id" | "cvss-score") && !text.is_empty() {
            classification.push((key.clone(), text));
        }
    }

    let blocks = match (&raw.http, &raw.requests) {
        (Some(b), None) | (None, Some(b)) => Some(b),
        (Some(_), Some(r)) => {
            ctx.err_hint(
                r,
                "a template has `http` or `requests`, not both",
                "keep `http`",
            );
            None
        }
        (None, None) => {
            ctx.err_hint(
                &raw.id,
                "this nuclei template has no `http` requests",
                "only http templates run in picket",
            );
            None
        }
    };
    let blocks_list = blocks.map(|b| b.value.as_slice()).unwrap_or_default();
    check_request_count(&mut ctx, blocks_list);
    let mut budget = WordBudget::of(blocks_list);
    let mut exchanges = Vec::new();
    for block in blocks_list {
        if let Some(e) = exchange(&mut ctx, &mut budget, block) {
            exchanges.push(e);
        }
    }
    if let Some(b) = blocks.filter(|b| b.value.is_empty()) {
        ctx.err(b, "`http` is empty");
    }

    let picket = raw.picket.as_ref().map(|p| &p.value);
    let config::Overrides {
        schedule,
        confirm,
        recover,
        timeout,
    } = ctx.overrides(
        config::RawOverrides {
            schedule: picket.and_then(|p| p.schedule.as_ref()),
            confirm: picket.and_then(|p| p.confirm.as_ref()),
            recover: picket.and_then(|p| p.recover.as_ref()),
            timeout: picket.and_then(|p| p.timeout.as_ref()),
        },
        defaults,
    );
    let selector = picket.and_then(|p| p.targets.as_ref());
    let targets = super::compile_selector(&mut ctx, selector);
    let target_name_pos = selector
        .and_then(|t| t.value.names.as_ref())
        .map(|names| {
            names
                .iter()
                .map(|n| (n.value.clone(), Compiling::pos(n)))
                .collect()
        })
        .unwrap_or_default();
    let regex_bytes = ctx.regex_bytes;
    if diags.len() > before {
        return None;
    }
    Some(Probe {
        id,
        name: info.name.value.trim().to_string(),
        severity,
        tags,
        description,
        remediation: info.remediation.map(|r| r.trim().to_string()),
        references,
        schedule,
        targets,
        schemes: ["http".to_string(), "https".to_string()].into(),
        confirm,
        recover,
        timeout,
        kind: Kind::Http(Http {
            exchanges,
            max_body_bytes: None,
        }),
        source: file.to_path_buf(),
        id_pos: Pos::from_location(&raw.id.referenced),
        target_name_pos,
        regex_bytes,
        classification,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_told_from_a_probe_by_its_top_level_keys() {
        assert!(looks_like_nuclei("id: x\ninfo:\n  name: x\nhttp: []\n"));
        assert!(looks_like_nuclei("id: x\nrequests: []\n"));
        assert!(!looks_like_nuclei(
            "id: a/b\nname: x\nhttp: { path: / }\nchecks: []\n"
        ));
        // A key nested under another is not top-level.
        assert!(!looks_like_nuclei(
            "id: a/b\nhttp:\n  info: x\nchecks: []\n"
        ));
    }
}
