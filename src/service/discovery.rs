//! The running discovery sources of `picket run` (`discover:`): started with the service,
//! restarted when a reload changes their settings, and merged with the targets loaded from
//! files each time one of them publishes a new [`Snapshot`].
//!
//! A discovered target whose name a static or `targets_from` target already has loses (a
//! WARN, once); so does one a source listed earlier has. Each source's live targets are the
//! `picket.discovery.targets` gauge, its new errors count in `picket.discovery.errors`, and
//! every target that appears or disappears is a `picket.target.discovered` /
//! `picket.target.removed` log record.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Discover, Target};
use crate::discover::{Snapshot, http_sd, kubernetes};
use crate::telemetry::Telemetry;

/// One running source.
struct Feed {
    /// `discovery.source`: `kubernetes` or `http:<name>`.
    label: String,
    snapshots: watch::Receiver<Snapshot>,
    /// Errors already counted in telemetry.
    errors_counted: u64,
}

/// What a discovered target was when it was announced.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Announced {
    source: String,
    url: String,
    tags: Vec<String>,
}

/// The running sources, and what was announced of their targets.
pub(super) struct Sources {
    config: Discover,
    stop: CancellationToken,
    feeds: Vec<Feed>,
    announced: BTreeMap<String, Announced>,
    /// Discovered names that a static target shadows, warned about once.
    shadowed: BTreeSet<String>,
    /// A hash of what the sources listed at the last merge ([`Sources::changed`]).
    listed: Option<u64>,
}

impl Sources {
    /// Starts a task for each source of `config`; each new snapshot sends on `changed`.
    /// The tasks end when `stop` (or [`Sources::stop`]) is cancelled.
    pub(super) fn start(
        config: &Discover,
        changed: &mpsc::Sender<()>,
        stop: CancellationToken,
    ) -> Sources {
        let mut feeds = Vec::new();
        if let Some(k) = &config.kubernetes {
            let (tx, rx) = watch::channel(Snapshot::default());
            tokio::spawn(kubernetes::follow(k.clone(), tx, stop.clone()));
            feeds.push(Feed {
                label: "kubernetes".to_owned(),
                snapshots: rx.clone(),
                errors_counted: 0,
            });
            tokio::spawn(forward(rx, changed.clone(), stop.clone()));
        }
        for sd in &config.http {
            let (tx, rx) = watch::channel(Snapshot::default());
            tokio::spawn(http_sd::run(sd.clone(), tx, stop.clone()));
            feeds.push(Feed {
                label: format!("http:{}", sd.name),
                snapshots: rx.clone(),
                errors_counted: 0,
            });
            tokio::spawn(forward(rx, changed.clone(), stop.clone()));
        }
        Sources {
            config: config.clone(),
            stop,
            feeds,
            announced: BTreeMap::new(),
            shadowed: BTreeSet::new(),
            listed: None,
        }
    }

    /// The settings the sources were started from.
    pub(super) fn config(&self) -> &Discover {
        &self.config
    }

    /// Stops every source and forgets their gauges; their targets leave with the next plan.
    /// Returns what was announced of their targets, for the sources that take over.
    pub(super) fn stop(self, telemetry: &Telemetry) -> BTreeMap<String, Announced> {
        self.stop.cancel();
        for feed in &self.feeds {
            telemetry.set_discovered(&feed.label, None);
        }
        self.announced
    }

    /// Takes over what earlier sources announced (across a restart by reload), so that a
    /// target that is still there is not announced again.
    pub(super) fn inherit(&mut self, announced: BTreeMap<String, Announced>) {
        self.announced = announced;
    }

    /// Whether what the sources list (their targets and skips) changed since the last merge.
    /// A new snapshot that only counts another error is not a change: it is recorded in
    /// telemetry here, and nothing needs planning again.
    pub(super) fn changed(&mut self, telemetry: &Telemetry) -> bool {
        self.record_errors(telemetry);
        Some(self.listing()) != self.listed
    }

    /// Counts the sources' new errors in telemetry.
    fn record_errors(&mut self, telemetry: &Telemetry) {
        for feed in &mut self.feeds {
            let errors = feed.snapshots.borrow().errors;
            telemetry
                .record_discovery_errors(&feed.label, errors.saturating_sub(feed.errors_counted));
            feed.errors_counted = feed.errors_counted.max(errors);
        }
    }

    /// A hash of every source's targets (all that makes a series differ: name, URL, where to
    /// connect, tags, vars, schedule) and skips, as they stand now.
    fn listing(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for feed in &self.feeds {
            let s = feed.snapshots.borrow();
            for t in &s.targets {
                (&t.name, t.url.as_str(), t.connect_to, &t.tags).hash(&mut h);
                t.schedule.as_ref().map(ToString::to_string).hash(&mut h);
                for (k, v) in &t.vars {
                    k.hash(&mut h);
                    match v {
                        crate::config::Var::One(v) => v.expose().hash(&mut h),
                        crate::config::Var::List(l) => {
                            l.iter().for_each(|v| v.expose().hash(&mut h));
                        }
                    }
                }
            }
            for skip in &s.skipped {
                (&skip.object, &skip.reason).hash(&mut h);
            }
            (s.targets.len(), s.skipped.len(), s.synced).hash(&mut h);
        }
        h.finish()
    }

    /// `loaded` (the static and `targets_from` targets) followed by every source's current
    /// targets that no earlier one names; records the sources' telemetry.
    pub(super) fn merge(&mut self, loaded: &[Target], telemetry: &Telemetry) -> Vec<Target> {
        self.record_errors(telemetry);
        self.listed = Some(self.listing());
        let lists: Vec<(String, Vec<Target>)> = self
            .feeds
            .iter()
            .map(|feed| (feed.label.clone(), feed.snapshots.borrow().targets.clone()))
            .collect();
        let merged = crate::discover::merge(loaded, lists);
        for (label, live) in &merged.live {
            telemetry.set_discovered(label, Some(*live));
        }
        for (label, name) in &merged.shadowed {
            if self.shadowed.insert(name.clone()) {
                tracing::warn!(
                    discovery.source = %label,
                    target.name = %name,
                    "a discovered target has the name of a configured one; the configured one is kept"
                );
            }
        }
        let now: BTreeMap<String, Announced> = merged.targets[loaded.len()..]
            .iter()
            .map(|t| {
                let source = t.source.to_string();
                (
                    t.name.clone(),
                    Announced {
                        source,
                        url: t.url.to_string(),
                        tags: t.tags.iter().cloned().collect(),
                    },
                )
            })
            .collect();
        let statics: BTreeSet<&str> = loaded.iter().map(|t| t.name.as_str()).collect();
        self.shadowed.retain(|name| statics.contains(name.as_str()));
        for (name, was) in &self.announced {
            if !now.contains_key(name) {
                telemetry.record_target_event(false, &was.source, name, &was.url, &was.tags);
            }
        }
        for (name, is) in &now {
            if self.announced.get(name) != Some(is) {
                telemetry.record_target_event(true, &is.source, name, &is.url, &is.tags);
            }
        }
        self.announced = now;
        merged.targets
    }
}

/// Sends on `changed` each time `snapshots` changes, until `stop`. A full channel already
/// holds a wake-up, which is all that is needed: the merge reads the latest snapshots.
async fn forward(
    mut snapshots: watch::Receiver<Snapshot>,
    changed: mpsc::Sender<()>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            r = snapshots.changed() => if r.is_err() { return },
        }
        let _ = changed.try_send(());
    }
}
