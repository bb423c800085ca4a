//! Reading YAML: the parser's options and budgets, and parsing a file's text into a raw
//! shape with one located diagnostic on failure. Below config, probes and load, which all
//! read YAML.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::diag::{self, Diagnostic, Pos};

/// The YAML parser options: no snippets in messages (we print our own format) and budgets
/// well below anything that could hurt the process.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 200_000,
            max_aliases: 1_000,
            max_total_scalar_bytes: 8 << 20,
        },
    }
}

/// Parses YAML text into `T`, turning any failure into one diagnostic.
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Diagnostic> {
    if is_blank(text) {
        return Err(Diagnostic::new(path, Pos::START, "file is empty")
            .with_hint("a YAML mapping is expected here"));
    }
    serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| diag::from_yaml_error(path, &e))
}

/// Whether a file holds nothing but blank lines and comments.
pub fn is_blank(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}
