//! Acceptances from files: every YAML file under the config's `accept_from` folders, each a
//! list of entries in the config's `accept:` format, so teams add theirs by pull request next
//! to their services. Read with the config at each load; a changed file triggers a reload.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde_saphyr::Spanned;

use crate::config::{self, Acceptance};
use crate::diag::{Diagnostic, Diagnostics, Warning};
use crate::files::{read_text, yaml_files_of};
use crate::parse::{Shapes, parse_checked};

/// The JSON Schema of an `accept_from` file, made once.
fn accept_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(|| schemars::schema_for!(Vec<config::raw::Accept>).to_value());
    &SCHEMA
}

/// The acceptances of the files under the config's `accept_from` paths.
pub(super) fn read(
    config: &config::Config,
    now: SystemTime,
    shapes: &mut Shapes,
    diags: &mut Diagnostics,
    warnings: &mut Vec<Warning>,
) -> Vec<Arc<Acceptance>> {
    let mut out = Vec::new();
    for (dir, pos) in &config.accept_from {
        let files = yaml_files_of(dir, diags, |e| {
            Diagnostic::new(
                &config.source,
                *pos,
                format!("cannot read acceptances from `{}`: {e}", dir.display()),
            )
            .with_hint("a file or folder of YAML lists of `accept:` entries")
        });
        for file in files {
            out.extend(read_file(&file, now, shapes, diags, warnings));
        }
    }
    out
}

fn read_file(
    file: &Path,
    now: SystemTime,
    shapes: &mut Shapes,
    diags: &mut Diagnostics,
    warnings: &mut Vec<Warning>,
) -> Vec<Arc<Acceptance>> {
    let parsed = match read_text(file) {
        Ok(text) => {
            parse_checked::<Vec<Spanned<config::raw::Accept>>>(file, &text, accept_schema())
        }
        Err(d) => crate::parse::Parsed::Failed(vec![d]),
    };
    let Some(raw) = shapes.take(file, parsed, diags) else {
        return Vec::new();
    };
    config::compile_acceptances(file, &raw, now, diags, warnings)
}
