//! The plan: every series (probe × selected target) that picket will run.
//!
//! Each series carries a stable key (`probe id @ target name`) and a hash of it. The hash is
//! FNV-1a, fixed forever, so that a series keeps its phase in the schedule and its shard
//! across restarts, versions and machines.

use std::sync::Arc;

use crate::config::{Acceptance, Target, Window};
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
    /// The schedule when not the probe's: the target's own, or a `schedules:` rule's
    /// ([`Config::schedule_for`](crate::config::Config::schedule_for)).
    pub schedule_override: Option<crate::units::Schedule>,
    /// The acceptance that covers it, if any (the one that holds longest): while it holds,
    /// the series is shown as accepted and its transitions are not announced.
    pub acceptance: Option<Arc<Acceptance>>,
    /// The maintenance windows of its target: while one is open, the series is not run.
    pub windows: Vec<Arc<Window>>,
}

impl Series {
    /// When the series runs.
    pub fn schedule(&self) -> &crate::units::Schedule {
        self.schedule_override
            .as_ref()
            .unwrap_or(&self.probe.schedule)
    }

    /// When the maintenance window open at `now` closes, if one is.
    pub fn maintenance_until(&self, now: std::time::SystemTime) -> Option<std::time::SystemTime> {
        crate::config::maintenance_until(&self.windows, now)
    }

    /// The acceptance that holds for it at `now`.
    pub fn accepted_at(&self, now: std::time::SystemTime) -> Option<&Arc<Acceptance>> {
        self.acceptance.as_ref().filter(|a| a.holds(now))
    }
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
    pub reason: Reason,
}

/// Why a probe does not run against a target. Displayed as a short phrase that reads the
/// same for every pair it applies to, so `picket list` can group pairs by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The probe's `targets: { tags }` shares no tag with the target.
    Tags(Vec<String>),
    /// The probe's `targets: { names }` does not name the target.
    Names(Vec<String>),
    /// The probe's `targets: { schemes }` leaves out the target's URL scheme.
    Schemes {
        /// The schemes the probe allows.
        allowed: Vec<String>,
        /// The target's.
        scheme: String,
    },
    /// The probe's kind cannot run against a target with this URL scheme (an http probe on
    /// a `tcp://` service).
    Kind {
        /// The probe's kind (`http`, `tls`).
        kind: &'static str,
        /// The target's scheme.
        scheme: String,
    },
    /// The target lacks a `vars` entry the probe uses.
    MissingVar(String),
    /// The probe exempts targets with this tag (`targets: { not_tags }`).
    Exempt(String),
}

impl Reason {
    /// Whether the pair is not meant to run (the probe's selector, scheme filter or kind
    /// leaves the target out, or it exempts the target by tag), as opposed to a fact the
    /// target could declare (a variable): `check` reports only the latter, `list` both.
    pub fn by_design(&self) -> bool {
        !matches!(self, Reason::MissingVar(_))
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Tags(tags) => write!(f, "targets: tags [{}] not on target", tags.join(", ")),
            Reason::Names(names) => {
                write!(
                    f,
                    "targets: names [{}] do not include target",
                    names.join(", ")
                )
            }
            Reason::Schemes { allowed, scheme } => write!(
                f,
                "targets: schemes [{}]; target is {scheme}://",
                allowed.join(", ")
            ),
            Reason::Kind { kind, scheme } => write!(f, "{kind} probe; target is {scheme}://"),
            Reason::MissingVar(name) => write!(f, "vars.{name} not set"),
            Reason::Exempt(tag) => {
                write!(f, "the probe exempts targets tagged `{tag}` (`not_tags`)")
            }
        }
    }
}

/// Every series to run, plus every probe/target pair that is not one, with its reason.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Series, ordered by probe id then target name.
    pub series: Vec<Series>,
    /// Pairs not planned: the probe's selector leaves the target out, the probe cannot run
    /// against the target's scheme, or the target lacks a variable the probe uses. Ordered
    /// like `series`.
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

/// Why `probe` does not run against `target`, if it does not: the first of its selector,
/// its scheme filter, its kind against the target's scheme, and the variables it uses.
fn skip_reason(probe: &Probe, target: &Target) -> Option<Reason> {
    let scheme = target.url.scheme();
    if let Some(tag) = probe.exempted_by(target) {
        return Some(Reason::Exempt(tag.to_string()));
    }
    if !probe.targets.selects(target) {
        return left_out_by(&probe.targets);
    }
    if !probe.schemes.is_empty() && !probe.schemes.contains(scheme) {
        return Some(Reason::Schemes {
            allowed: probe.schemes.iter().cloned().collect(),
            scheme: scheme.to_string(),
        });
    }
    if !probe.kind.runs_on(scheme) {
        return Some(Reason::Kind {
            kind: probe.kind.name(),
            scheme: scheme.to_string(),
        });
    }
    probe
        .kind
        .vars_for(target)
        .into_iter()
        .find(|v| !target.vars.contains_key(*v))
        .map(|v| Reason::MissingVar(v.to_string()))
}

/// The reason a selector that does not pick a target gives (`not_tags` exemptions are
/// reported before, with their tag).
fn left_out_by(selector: &Selector) -> Option<Reason> {
    match selector {
        Selector::Tags(tags) => Some(Reason::Tags(tags.iter().cloned().collect())),
        Selector::Names(names) => Some(Reason::Names(names.iter().cloned().collect())),
        // `All` selects every target.
        Selector::All => None,
        Selector::Except(inner, _) => left_out_by(inner),
    }
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
    let mut probes: Vec<Arc<Probe>> = loaded.probes.clone();
    probes.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = Plan::default();
    let windows: Vec<Vec<Arc<Window>>> = targets
        .iter()
        .map(|t| {
            loaded
                .config
                .maintenance
                .iter()
                .filter(|w| w.targets.selects(t))
                .cloned()
                .collect()
        })
        .collect();
    for probe in &probes {
        for (target, windows) in targets.iter().zip(&windows) {
            if let Some(reason) = skip_reason(probe, target) {
                out.skipped.push(Skipped {
                    probe: probe.id.clone(),
                    target: target.name.clone(),
                    reason,
                });
                continue;
            }
            let key = series_key(&probe.id, &target.name);
            out.series.push(Series {
                schedule_override: loaded.config.schedule_for(target).cloned(),
                probe: Arc::clone(probe),
                target: Arc::clone(target),
                hash: stable_hash(&key),
                key,
                acceptance: crate::config::covering(&loaded.config.accept, &probe.id, target)
                    .cloned(),
                windows: windows.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_s_own_schedule_wins_over_tag_rules_which_win_over_the_probe_s() {
        use crate::units::Schedule;
        let every = |secs| Schedule::Every {
            interval: std::time::Duration::from_secs(secs),
            jitter: 0.0,
        };
        let url = url::Url::parse("http://127.0.0.1:1/").unwrap();
        let mut config = crate::config::Config::adhoc(url.clone(), Vec::new());
        config.schedules = vec![
            crate::config::TagSchedule {
                tags: ["risk-regulated".to_string()].into(),
                schedule: every(60),
            },
            crate::config::TagSchedule {
                tags: ["risk-minimal".to_string(), "risk-regulated".to_string()].into(),
                schedule: every(900),
            },
        ];
        let target = |name: &str, tag: &str, own: Option<Schedule>| {
            let mut t = Target::new(name.into(), url.clone(), crate::config::Source::Static);
            t.tags.insert(tag.into());
            t.schedule = own;
            t
        };
        config.targets = vec![
            target("regulated", "risk-regulated", None),
            target("minimal", "risk-minimal", None),
            target("other", "public", None),
            target("annotated", "risk-regulated", Some(every(5))),
        ];
        let mut diags = crate::diag::Diagnostics::default();
        let probes = crate::load::library_probes(&crate::config::Defaults::default(), &mut diags);
        let csp = probes.into_iter().find(|p| p.id == "headers/csp").unwrap();
        let loaded = Loaded {
            config,
            probes: vec![Arc::clone(&csp)],
        };
        let plan = plan(&loaded);
        let schedule_of = |name: &str| {
            plan.series
                .iter()
                .find(|s| s.target.name == name)
                .unwrap()
                .schedule()
                .to_string()
        };
        assert_eq!(schedule_of("regulated"), every(60).to_string());
        assert_eq!(schedule_of("minimal"), every(900).to_string());
        assert_eq!(schedule_of("other"), csp.schedule.to_string());
        assert_eq!(schedule_of("annotated"), every(5).to_string());
    }

    #[test]
    fn hash_is_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
