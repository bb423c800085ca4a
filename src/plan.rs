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

/// A probe/target pair that was not planned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Probe id.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// Why the pair does not run.
    pub reason: String,
    /// The probe's kind does not apply to the target's scheme at all (an http probe and a
    /// `tcp://` target), as opposed to a fact the target could declare: `check` does not
    /// report these pairs, `list` does.
    pub wrong_kind: bool,
}

/// Every series to run, plus the pairs skipped for missing target facts.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Series, ordered by probe id then target name.
    pub series: Vec<Series>,
    /// Pairs that the selector matched but that lack a variable the probe needs.
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
                    wrong_kind: true,
                });
                continue;
            }
            let needed = probe.kind.vars_for(target);
            if let Some(missing) = needed.iter().find(|v| !target.vars.contains_key(**v)) {
                out.skipped.push(Skipped {
                    probe: probe.id.clone(),
                    target: target.name.clone(),
                    reason: format!("target declares no `vars.{missing}`"),
                    wrong_kind: false,
                });
                continue;
            }
            let key = format!("{}@{}", probe.id, target.name);
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
