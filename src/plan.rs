//! The plan: every series (probe × selected target) that picket will run.
//!
//! Each series carries a stable key (`probe id @ target name`) and a hash of it. The hash is
//! FNV-1a, fixed forever, so that a series keeps its phase in the schedule and its shard
//! across restarts, versions and machines.

use std::sync::Arc;

use crate::config::Target;
use crate::load::Loaded;
use crate::probe::{Probe, Selector};

/// One probe applied to one target: the unit that is scheduled, stored and reported.
#[derive(Debug, Clone)]
pub struct Series {
    /// The probe.
    pub probe: Arc<Probe>,
    /// The target.
    pub target: Arc<Target>,
    /// `probe id @ target name`.
    pub key: String,
    /// Stable hash of the key.
    pub hash: u64,
}

/// The key of the series of `probe` on `target`: `probe id @ target name`. Unambiguous, as
/// a probe id has no `@`.
pub fn series_key(probe: &str, target: &str) -> String {
    format!("{probe}@{target}")
}

/// A probe/target pair that was not planned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Probe id.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// Why the pair does not run.
    pub reason: String,
    /// The pair is not meant to run (a probe of another kind than the target's scheme, an http
    /// probe and a `tcp://` target; a target the probe exempts by tag), as opposed to a fact the
    /// target could declare: `check` does not report these pairs, `list` does.
    pub by_design: bool,
}

/// Every series to run, plus the pairs skipped for missing target facts.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Series, ordered by probe id then target name.
    pub series: Vec<Series>,
    /// Pairs that the selector matched but that lack a variable the probe needs, are of a
    /// scheme the probe's kind cannot reach, or that the probe exempts by tag (`not_tags`).
    pub skipped: Vec<Skipped>,
}

/// 64-bit FNV-1a: tiny, stable and good enough to spread phases and shards.
pub fn stable_hash(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Whether a probe's selector picks a target.
pub fn selects(selector: &Selector, target: &Target) -> bool {
    selector.selects(target)
}

/// Builds the plan from a loaded configuration.
pub fn plan(loaded: &Loaded) -> Plan {
    let targets: Vec<Arc<Target>> = loaded
        .config
        .targets
        .iter()
        .cloned()
        .map(Arc::new)
        .collect();
    let mut probes: Vec<Arc<Probe>> = loaded.probes.iter().cloned().map(Arc::new).collect();
    probes.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = Plan::default();
    for probe in &probes {
        let http = probe.kind.as_http().is_some();
        let tls = matches!(probe.kind, crate::probe::Kind::Tls(_));
        for target in &targets {
            if !probe.applies_to(target) {
                if let Some(tag) = probe.exempted_by(target) {
                    out.skipped.push(Skipped {
                        probe: probe.id.clone(),
                        target: target.name.clone(),
                        reason: format!("the probe exempts targets tagged `{tag}` (`not_tags`)"),
                        by_design: true,
                    });
                }
                continue;
            }
            let scheme = target.url.scheme();
            let wrong = if http && !matches!(scheme, "http" | "https") {
                Some("an http probe")
            } else if tls && !matches!(scheme, "https" | "tls") {
                Some("a tls probe")
            } else {
                None
            };
            if let Some(what) = wrong {
                out.skipped.push(Skipped {
                    probe: probe.id.clone(),
                    target: target.name.clone(),
                    reason: format!("{what}; the target is a `{scheme}://` service"),
                    by_design: true,
                });
                continue;
            }
            let needed = probe.kind.vars_for(target);
            if let Some(missing) = needed.iter().find(|v| !target.vars.contains_key(**v)) {
                out.skipped.push(Skipped {
                    probe: probe.id.clone(),
                    target: target.name.clone(),
                    reason: format!("target declares no `vars.{missing}`"),
                    by_design: false,
                });
                continue;
            }
            let key = series_key(&probe.id, &target.name);
            out.series.push(Series {
                probe: Arc::clone(probe),
                target: Arc::clone(target),
                hash: stable_hash(&key),
                key,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
