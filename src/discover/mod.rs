//! Where targets come from: one module per source, each producing validated
//! [`Target`](crate::config::Target)s.
//!
//! - static `targets:` in the config file, compiled with the config ([`crate::config`]);
//! - [`files`]: the files under `targets_from` folders, read at each load;
//! - [`kubernetes`]: Services, Ingresses and HTTPRoutes, listed and watched;
//! - [`http_sd`]: Prometheus HTTP service discovery, polled every `refresh`.
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
pub mod http_sd;
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

/// Whether a label name or value may become part of a tag: 1 to 63 lowercase letters,
/// digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn tag_safe(text: &str) -> bool {
    text.len() <= 63 && crate::config::valid_target_name(text)
}

/// How long one snapshot of the Kubernetes API may take.
const SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What every source of `discover` lists now, fetched once (for `picket check` and `picket
/// list`): each source's label (`discovery.source`) and its snapshot or why there is none.
pub async fn snapshot_all(
    discover: &crate::config::Discover,
) -> Vec<(String, Result<Snapshot, String>)> {
    let mut out = Vec::new();
    if let Some(k) = &discover.kubernetes {
        let snapshot = match kubernetes::client(k).await {
            Ok(client) => kubernetes::snapshot(k, client, SNAPSHOT_TIMEOUT)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        out.push(("kubernetes".to_owned(), snapshot));
    }
    for sd in &discover.http {
        let snapshot = http_sd::snapshot(sd).await.map_err(|e| e.to_string());
        out.push((format!("http:{}", sd.name), snapshot));
    }
    out
}

/// The targets of every source together.
#[derive(Debug, Default)]
pub struct Merged {
    /// The loaded targets, then each source's in order.
    pub targets: Vec<crate::config::Target>,
    /// How many targets each source added, by label.
    pub live: Vec<(String, usize)>,
    /// Discovered names a loaded target already has: (source label, name). The loaded one
    /// is kept.
    pub shadowed: Vec<(String, String)>,
}

/// `loaded` (static and `targets_from` targets) followed by each source's targets that no
/// earlier target names: a loaded target wins over a discovered one of the same name, and an
/// earlier source over a later one.
pub fn merge(
    loaded: &[crate::config::Target],
    sources: impl IntoIterator<Item = (String, Vec<crate::config::Target>)>,
) -> Merged {
    let statics: std::collections::BTreeSet<&str> =
        loaded.iter().map(|t| t.name.as_str()).collect();
    let mut taken: std::collections::BTreeSet<String> =
        statics.iter().map(|s| (*s).to_owned()).collect();
    let mut merged = Merged {
        targets: loaded.to_vec(),
        ..Merged::default()
    };
    for (label, targets) in sources {
        let mut live = 0;
        for target in targets {
            if statics.contains(target.name.as_str()) {
                merged.shadowed.push((label.clone(), target.name.clone()));
                continue;
            }
            if !taken.insert(target.name.clone()) {
                continue;
            }
            live += 1;
            merged.targets.push(target);
        }
        merged.live.push((label, live));
    }
    merged
}
