//! The refusal of nuclei features outside picket's subset: each one a located error
//! (file:line:column) naming the feature and why picket does not run it, found by reading the
//! template's lines so every one is named at once, not only the first serde met.

use std::path::Path;

use crate::diag::{Diagnostic, Pos};

/// nuclei's protocols other than `http`: top-level keys.
const PROTOCOLS: &[&str] = &[
    "dns",
    "tcp",
    "network",
    "ssl",
    "headless",
    "file",
    "code",
    "javascript",
    "websocket",
    "whois",
];

/// Why a nuclei field is outside the subset, for the error that names it.
pub(super) fn unsupported_reason(field: &str) -> Option<&'static str> {
    Some(match field {
        "raw" => {
            "raw requests are not run: write the request with `method`, `path`, `headers` and `body`"
        }
        "dsl" => "DSL expressions are not evaluated",
        "payloads" | "attack" | "threads" => "payloads and attack modes are not expanded",
        "extractors" => "extractors (and requests that depend on them) are not run",
        "internal" => "internal matchers feed other requests, which picket does not chain",
        "flow" => "flows between requests are not run",
        "variables" => "variables and helper functions are not evaluated",
        "self-contained" => {
            "self-contained requests name their own host; picket probes only their target"
        }
        "unsafe" => "unsafe raw requests are not sent",
        "fuzzing" | "pre-condition" => "DAST fuzzing is not run",
        p if PROTOCOLS.contains(&p) => "only http templates run in picket",
        "binary" | "xpath" | "json" | "encoding" | "match-all" => {
            "this matcher feature is outside picket's nuclei subset"
        }
        "host-redirects" | "cookie-reuse" | "req-condition" | "race" | "pipeline" => {
            "this request option is outside picket's nuclei subset"
        }
        _ => return None,
    })
}

/// Every key outside the subset, with its position, found by reading the template's lines
/// (outside `info:`, whose metadata may hold any key), and every matcher `type:` outside it.
pub(super) fn scan_unsupported(file: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut in_info = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') && !line.starts_with('-') {
            in_info = line.starts_with("info:");
        }
        if in_info {
            continue;
        }
        let body = line.trim_start();
        let body = body.strip_prefix("- ").map_or(body, str::trim_start);
        let Some((key, value)) = body.split_once(':') else {
            continue;
        };
        let column = line.len() - body.len() + 1;
        let at = Pos {
            line: u64::try_from(n + 1).unwrap_or(u64::MAX),
            column: u64::try_from(column).unwrap_or(u64::MAX),
        };
        let value = value.trim();
        if key == "type" && matches!(value, "dsl" | "binary" | "xpath" | "json") {
            out.push(
                Diagnostic::new(
                    file,
                    at,
                    format!("nuclei matcher type `{value}` is not supported"),
                )
                .with_hint("matcher types are status, word, regex and size"),
            );
        } else if let Some(reason) = unsupported_reason(key)
            // A protocol is a top-level key; nested, the name is something else (a payload
            // named `file`, the `code` of a `javascript` block).
            && (column == 1 || !PROTOCOLS.contains(&key))
        {
            out.push(
                Diagnostic::new(file, at, format!("nuclei `{key}` is not supported"))
                    .with_hint(reason),
            );
        }
    }
    out
}

/// Rewrites serde's "unknown field" errors into the unsupported-feature error.
pub(super) fn explain(mut d: Diagnostic) -> Diagnostic {
    let field = d
        .message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string);
    if let Some(field) = field {
        let reason = unsupported_reason(&field)
            .unwrap_or("picket runs a subset of nuclei; this field is not part of it");
        d.message = format!("nuclei `{field}` is not supported");
        d.hint = Some(reason.to_string());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protocol_name_nested_in_a_block_is_not_the_protocol() {
        let text = "id: t\ninfo:\n  name: t\nhttp:\n  - payloads:\n      file:\n        - a\njavascript:\n  - code: x\n";
        let found: Vec<String> = scan_unsupported(Path::new("t.yaml"), text)
            .into_iter()
            .map(|d| format!("{}:{} {}", d.pos.line, d.pos.column, d.message))
            .collect();
        assert_eq!(
            found,
            [
                "5:5 nuclei `payloads` is not supported",
                "8:1 nuclei `javascript` is not supported"
            ]
        );
    }

    #[test]
    fn unknown_fields_become_unsupported_features() {
        let d = explain(Diagnostic::new(
            Path::new("t.yaml"),
            Pos::START,
            "unknown field `raw`, expected one of `method`, `path`",
        ));
        assert_eq!(d.message, "nuclei `raw` is not supported");
        assert!(d.hint.unwrap().contains("raw requests"));
    }
}
