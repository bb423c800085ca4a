//! Targets from files: every YAML file under the config's `targets_from` folders, each a list
//! of targets in the config's `targets:` format (written by another tool, or a ConfigMap).
//! Read with the config at each load; a changed file triggers a reload like the config.

use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use crate::config::{self, EnvLookup, Target};
use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::files::{read_text, yaml_files_of};
use crate::parse::{Shapes, parse_checked};
use crate::redact::Redactor;

use super::Origin;

/// The JSON Schema of a `targets_from` file, made once.
fn targets_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(config::targets_schema);
    &SCHEMA
}

/// The targets of the files under `dirs` (each with where the config names it), validated
/// like the config's own; their secrets join `redactor`, their names `origins`.
pub fn read(
    config_file: &Path,
    dirs: &[(PathBuf, Pos)],
    env: EnvLookup<'_>,
    redactor: &mut Redactor,
    origins: &mut Vec<Origin>,
    shapes: &mut Shapes,
    diags: &mut Diagnostics,
) -> Vec<Target> {
    let mut targets = Vec::new();
    for (dir, pos) in dirs {
        let files = yaml_files_of(dir, diags, |e| {
            Diagnostic::new(
                config_file,
                *pos,
                format!("cannot read targets from `{}`: {e}", dir.display()),
            )
        });
        for file in files {
            let parsed = match read_text(&file) {
                Ok(text) => parse_checked::<Vec<Spanned<config::raw::Target>>>(
                    &file,
                    &text,
                    targets_schema(),
                ),
                Err(d) => crate::parse::Parsed::Failed(vec![d]),
            };
            let Some(raw) = shapes.take(&file, parsed, diags) else {
                continue;
            };
            origins.extend(raw.iter().map(|t| Origin::of(&file, &t.value.name)));
            targets.extend(config::compile_targets(&file, raw, env, redactor, diags));
        }
    }
    targets
}
