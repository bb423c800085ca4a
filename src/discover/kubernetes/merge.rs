//! What the watchers know, merged: each watcher's objects (the ones of a list in progress
//! kept apart until it completes), which watchers fail now, the errors so far, and the
//! [`Snapshot`] all of it makes. The log lines of a failing or recovering source and of
//! skipped objects are written here, once per change.

use std::collections::{BTreeMap, BTreeSet};

use super::map::Mapped;
use crate::config::Var;
use crate::discover::{Skip, Snapshot};

/// One watcher's news for the merger.
pub(super) enum Change {
    /// A list begins: the objects until [`Change::Listed`] replace the current ones.
    Listing,
    /// An object as listed or as it now is.
    Apply {
        key: String,
        rv: String,
        mapped: Mapped,
        listed: bool,
    },
    /// The list is complete.
    Listed,
    /// An object is gone.
    Delete { key: String },
    /// The watcher failed (it lists again after its backoff).
    Failed(String),
}

/// One watcher's objects, as the merger keeps them.
#[derive(Default)]
struct Kept {
    /// `namespace/name` → (resource version, what it makes).
    objects: BTreeMap<String, (String, Mapped)>,
    /// A list in progress: it replaces `objects` when complete.
    listing: Option<BTreeMap<String, (String, Mapped)>>,
    /// It has completed a list once.
    synced: bool,
}

/// Every watcher's objects, merged into one snapshot.
pub(super) struct Merger {
    names: Vec<String>,
    kept: Vec<Kept>,
    /// Watchers failing now.
    failing: BTreeSet<usize>,
    errors: u64,
}

impl Merger {
    pub(super) fn new(names: Vec<String>) -> Merger {
        let kept = names.iter().map(|_| Kept::default()).collect();
        Merger {
            names,
            kept,
            failing: BTreeSet::new(),
            errors: 0,
        }
    }

    /// Whether there is no watcher at all.
    pub(super) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Takes one change; whether the snapshot changed.
    pub(super) fn apply(&mut self, index: usize, change: Change) -> bool {
        let kept = &mut self.kept[index];
        // A list that completes or a change that arrives says the watcher works again (a
        // list that begins does not: kube announces it before asking).
        let works = !matches!(change, Change::Failed(_) | Change::Listing);
        let recovered = works && self.failing.remove(&index);
        if recovered && self.failing.is_empty() {
            tracing::info!(source = "kubernetes", "Kubernetes discovery works again");
        }
        match change {
            Change::Listing => {
                kept.listing = Some(BTreeMap::new());
                false
            }
            Change::Apply {
                key,
                rv,
                mapped,
                listed,
            } => {
                let old = kept.objects.get(&key).map(|(_, m)| m);
                // Logged once: again only when what is skipped, and why, changes.
                if old.is_none_or(|o| o.skipped != mapped.skipped) {
                    log_skips(&mapped);
                }
                // A change that makes the same targets (a status update, a controller's
                // annotation) publishes nothing: the service would plan again for nothing.
                let changed = old.is_none_or(|o| !same(o, &mapped));
                match (listed, kept.listing.as_mut()) {
                    (true, Some(listing)) => {
                        listing.insert(key, (rv, mapped));
                        recovered
                    }
                    _ => {
                        kept.objects.insert(key, (rv, mapped));
                        changed || recovered
                    }
                }
            }
            Change::Listed => {
                kept.objects = kept.listing.take().unwrap_or_default();
                kept.synced = true;
                true
            }
            Change::Delete { key } => kept.objects.remove(&key).is_some() || recovered,
            Change::Failed(error) => {
                kept.listing = None;
                self.errors += 1;
                if self.failing.is_empty() {
                    tracing::warn!(
                        source = "kubernetes",
                        watcher = %self.names[index],
                        error = %error,
                        "Kubernetes discovery failing; keeping the last known targets"
                    );
                } else {
                    tracing::debug!(watcher = %self.names[index], error = %error, "watch failed");
                }
                self.failing.insert(index);
                true
            }
        }
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        merge(
            self.kept
                .iter()
                .flat_map(|k| k.objects.values().map(|(_, m)| m)),
            self.kept.iter().all(|k| k.synced),
            self.errors,
        )
    }
}

/// Whether two mappings of one object make the same targets and skips.
fn same(a: &Mapped, b: &Mapped) -> bool {
    a.skipped == b.skipped
        && a.targets.len() == b.targets.len()
        && a.targets.iter().zip(&b.targets).all(|(x, y)| {
            x.name == y.name
                && x.url == y.url
                && x.tags == y.tags
                && x.connect_to == y.connect_to
                && x.schedule.as_ref().map(ToString::to_string)
                    == y.schedule.as_ref().map(ToString::to_string)
                && x.vars.len() == y.vars.len()
                && x.vars.iter().zip(&y.vars).all(|((k1, v1), (k2, v2))| {
                    k1 == k2
                        && match (v1, v2) {
                            (Var::One(p), Var::One(q)) => p == q,
                            (Var::List(p), Var::List(q)) => p == q,
                            _ => false,
                        }
                })
        })
}

/// The WARN of a bad annotation and the INFO of a skipped object, once per version.
pub(super) fn log_skips(mapped: &Mapped) {
    for skip in &mapped.skipped {
        if mapped.bad_annotation {
            tracing::warn!(source = "kubernetes", object = %skip.object, problem = %skip.reason, "object left out");
        } else {
            tracing::info!(source = "kubernetes", object = %skip.object, reason = %skip.reason, "skipped");
        }
    }
}

/// One snapshot of everything mapped: targets sorted by name, a name made twice kept once.
pub(super) fn merge<'a>(
    mapped: impl Iterator<Item = &'a Mapped>,
    synced: bool,
    errors: u64,
) -> Snapshot {
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for m in mapped {
        targets.extend(m.targets.iter().cloned());
        skipped.extend(m.skipped.iter().cloned());
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    let mut unique: Vec<crate::config::Target> = Vec::with_capacity(targets.len());
    for t in targets {
        if unique.last().is_some_and(|last| last.name == t.name) {
            skipped.push(Skip {
                object: t.name.clone(),
                reason: "another object makes a target of the same name".into(),
            });
        } else {
            unique.push(t);
        }
    }
    skipped.sort_by(|a, b| (&a.object, &a.reason).cmp(&(&b.object, &b.reason)));
    Snapshot {
        targets: unique,
        skipped,
        synced,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;
    use crate::config::{Source, Target};

    fn mapped(names: &[&str]) -> Mapped {
        Mapped {
            targets: names
                .iter()
                .map(|n| {
                    let url = Url::parse("http://x.example").unwrap();
                    Target::new(n.to_string(), url, Source::Kubernetes)
                })
                .collect(),
            ..Mapped::default()
        }
    }

    fn apply(key: &str, rv: &str, names: &[&str], listed: bool) -> Change {
        Change::Apply {
            key: key.into(),
            rv: rv.into(),
            mapped: mapped(names),
            listed,
        }
    }

    fn names(s: &Snapshot) -> Vec<&str> {
        s.targets.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn synced_once_every_watcher_has_listed() {
        let mut m = Merger::new(vec!["services".into(), "ingresses".into()]);
        assert!(!m.apply(0, Change::Listing));
        assert!(!m.apply(0, apply("a/s", "1", &["a.s.80"], true)));
        assert!(m.apply(0, Change::Listed));
        assert!(!m.snapshot().synced);
        assert_eq!(names(&m.snapshot()), ["a.s.80"]);
        m.apply(1, Change::Listing);
        m.apply(1, Change::Listed);
        assert!(m.snapshot().synced);
    }

    #[test]
    fn a_relist_replaces_only_when_complete_and_a_failure_keeps_everything() {
        let mut m = Merger::new(vec!["services".into()]);
        m.apply(0, Change::Listing);
        m.apply(0, apply("a/one", "1", &["a.one.80"], true));
        m.apply(0, apply("a/two", "2", &["a.two.80"], true));
        m.apply(0, Change::Listed);
        // A relist in progress shows nothing of itself yet.
        m.apply(0, Change::Listing);
        m.apply(0, apply("a/two", "2", &["a.two.80"], true));
        assert_eq!(names(&m.snapshot()), ["a.one.80", "a.two.80"]);
        // It fails half-way: the last complete list stays, the error counts.
        assert!(m.apply(0, Change::Failed("refused".into())));
        let s = m.snapshot();
        assert_eq!(names(&s), ["a.one.80", "a.two.80"]);
        assert_eq!(s.errors, 1);
        m.apply(0, Change::Failed("refused".into()));
        assert_eq!(m.snapshot().errors, 2);
        // The next complete list is the truth.
        m.apply(0, Change::Listing);
        m.apply(0, apply("a/two", "2", &["a.two.80"], true));
        m.apply(0, apply("a/three", "5", &["a.three.80"], true));
        m.apply(0, Change::Listed);
        assert_eq!(names(&m.snapshot()), ["a.three.80", "a.two.80"]);
        assert!(m.failing.is_empty());
        // Watch events change one object at a time.
        assert!(m.apply(
            0,
            Change::Delete {
                key: "a/two".into()
            }
        ));
        assert!(!m.apply(
            0,
            Change::Delete {
                key: "a/two".into()
            }
        ));
        // A new version that makes the same targets changes nothing.
        assert!(!m.apply(0, apply("a/three", "6", &["a.three.80"], false)));
        assert!(m.apply(0, apply("a/three", "7", &["a.three.443"], false)));
        assert_eq!(names(&m.snapshot()), ["a.three.443"]);
    }

    #[test]
    fn a_name_made_twice_is_kept_once_and_the_other_skipped() {
        let s = merge([mapped(&["b", "a"]), mapped(&["a"])].iter(), true, 0);
        assert_eq!(names(&s), ["a", "b"]);
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.skipped[0].object, "a");
    }
}
