//! Where targets come from: one module per source, each producing validated
//! [`Target`](crate::config::Target)s.
//!
//! - static `targets:` in the config file, compiled with the config ([`crate::config`]);
//! - [`files`]: the files under `targets_from` folders, read at each load.
//!
//! Every source's targets share one namespace of names: [`check_unique`] reports a name
//! defined twice, at both places.
//!
//! Sources that run (they follow something that changes on its own, not a file picket
//! reloads) publish what they know as a [`Snapshot`] on a `tokio::sync::watch` channel,
//! whole, each time it changes; the service merges the snapshots with the loaded targets
//! and plans again.

use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Diagnostics, Pos};

pub mod files;
pub mod kubernetes;

/// Where a target's name is defined, for the unique-name check across sources.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The target's name.
    pub name: String,
    /// The file that defines it.
    pub file: PathBuf,
    /// Where in that file.
    pub pos: Pos,
}

impl Origin {
    /// The origin of the target named `name` in `file`.
    pub fn of(file: &Path, name: &Spanned<String>) -> Origin {
        Origin {
            name: name.value.clone(),
            file: file.to_path_buf(),
            pos: Pos::from_location(&name.referenced),
        }
    }
}

/// Reports duplicate target names across all sources, at the second definition, with the
/// first in the hint.
pub fn check_unique(origins: &[Origin], diags: &mut Diagnostics) {
    let mut seen: std::collections::BTreeMap<&str, &Origin> = std::collections::BTreeMap::new();
    for o in origins {
        if let Some(first) = seen.get(o.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    &o.file,
                    o.pos,
                    format!("duplicate target name `{}`", o.name),
                )
                .with_hint(format!(
                    "first defined at {}:{}:{}",
                    first.file.display(),
                    first.pos.line,
                    first.pos.column
                )),
            );
        } else {
            seen.insert(&o.name, o);
        }
    }
}

/// What a running source knows now, published whole each time it changes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The targets it makes now: its last known ones while it cannot be reached (an error
    /// never empties the list).
    pub targets: Vec<crate::config::Target>,
    /// Objects it found but makes no target of, and why (`picket list` shows them).
    pub skipped: Vec<Skip>,
    /// Whether it has listed everything once since it started (`picket check` waits for
    /// this before it runs).
    pub synced: bool,
    /// Errors since it started (`picket.discovery.errors` counts their increase).
    pub errors: u64,
}

/// Something a source found and made no target of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// What it is: `namespace/name` of a Kubernetes object, or an HTTP SD entry.
    pub object: String,
    /// Why, in words: `headless Service (clusterIP: None)`.
    pub reason: String,
}
