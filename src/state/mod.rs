//! Series state: the regression state machine and its embedded store.
//!
//! ```text
//! unknown ──pass──▶ passing ──`confirm` fails in a row──▶ regressed   (a regression)
//!    │                 ▲                                      │
//!    └──fail──▶ failing┴────`recover` passes in a row─────────┘      (a recovery)
//! ```
//!
//! `error` and `skip` outcomes never move a series: they are recorded in the history and break
//! no streak. The machine is pure ([`SeriesState::apply`]); [`Store`] persists states in redb so a
//! restart, even after `kill -9`, neither forgets a regression nor announces it again. The
//! service persists a transition *before* exporting it: a crash in between loses at most the
//! announcement, never the state. This module knows nothing of HTTP or telemetry.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::outcome::{Finding, Outcome};
use crate::units::Severity;

mod follower;
mod store;
mod tracker;

pub use follower::Follower;
pub use store::postgres::{self, Group, Postgres};
pub use store::{Outbox, Peeked, Put, Recorded, STORE_FILE, Store, StoreError, Versioned, peek};
pub use tracker::{Change, SeriesInfo, StateCounts, Tracked, Tracker};

/// How many recent outcomes each series remembers.
pub const HISTORY_LEN: usize = 30;

/// The state of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No pass or fail seen yet.
    #[default]
    Unknown,
    /// Every check holds.
    Passing,
    /// Failing since it was first observed (a pre-existing finding, not a regression).
    Failing,
    /// Failing after having passed.
    Regressed,
}

impl State {
    /// The lowercase name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Passing => "passing",
            State::Failing => "failing",
            State::Regressed => "regressed",
        }
    }
}

/// What one run was, for the history strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    /// Passed.
    Pass,
    /// Failed.
    Fail,
    /// Could not be evaluated.
    Error,
    /// Judged nothing: the target answered with something the probe does not apply to.
    Skip,
}

impl Mark {
    /// The lowercase name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Pass => "pass",
            Mark::Fail => "fail",
            Mark::Error => "error",
            Mark::Skip => "skip",
        }
    }

    fn of(outcome: &Outcome) -> Mark {
        match outcome {
            Outcome::Pass => Mark::Pass,
            Outcome::Fail(_) => Mark::Fail,
            Outcome::Error(_) => Mark::Error,
            Outcome::Skip(_) => Mark::Skip,
        }
    }
}

/// One run as the history remembers it.
///
/// Stored compactly (`{"outcome":"fail","started_ms":…,"duration_ms":3,"error":"timeout"}`);
/// a store written when the history kept only outcomes (`"fail"`) still loads, with the time
/// of those runs unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredRun", into = "RunRecord")]
pub struct Run {
    /// Its outcome.
    pub outcome: Mark,
    /// When it started (`None` for runs stored by an older picket).
    pub started: Option<SystemTime>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The class of its error (`timeout`, `dns`, `connect`, …) when it errored.
    pub error: Option<String>,
}

impl Run {
    fn of(outcome: &Outcome, started: SystemTime, duration: Duration) -> Run {
        Run {
            outcome: Mark::of(outcome),
            // Kept as stored, so that a state reads back from the store as it was written.
            started: Some(to_millis(started)),
            duration_ms: millis(duration),
            error: match outcome {
                Outcome::Error(e) => Some(e.kind.as_str().to_string()),
                _ => None,
            },
        }
    }
}

fn to_millis(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_millis(millis(d)),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A [`Run`] as stored.
#[derive(Serialize, Deserialize)]
struct RunRecord {
    outcome: Mark,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_ms: Option<u64>,
    #[serde(default)]
    duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A stored run in either format.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredRun {
    Outcome(Mark),
    Record(RunRecord),
}

impl From<StoredRun> for Run {
    fn from(stored: StoredRun) -> Run {
        match stored {
            StoredRun::Outcome(outcome) => Run {
                outcome,
                started: None,
                duration_ms: 0,
                error: None,
            },
            StoredRun::Record(r) => Run {
                outcome: r.outcome,
                started: r
                    .started_ms
                    .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
                duration_ms: r.duration_ms,
                error: r.error,
            },
        }
    }
}

impl From<Run> for RunRecord {
    fn from(run: Run) -> RunRecord {
        RunRecord {
            outcome: run.outcome,
            started_ms: run
                .started
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(millis),
            duration_ms: run.duration_ms,
            error: run.error,
        }
    }
}

/// A state change worth announcing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// `passing -> regressed`.
    Regression,
    /// `failing|regressed -> passing`.
    Recovery,
}

/// Everything remembered about one series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SeriesState {
    /// Current state.
    pub state: State,
    /// When the current state began.
    pub since: Option<SystemTime>,
    /// Failing runs in a row (errors do not break or extend it).
    pub fail_streak: u32,
    /// Passing runs in a row.
    pub pass_streak: u32,
    /// Outcome of the last run.
    pub last_outcome: Option<Mark>,
    /// When the last run started.
    pub last_run: Option<SystemTime>,
    /// How long it took.
    pub last_duration_ms: u64,
    /// Findings of the last failing run (kept while the series fails).
    pub findings: Vec<Finding>,
    /// Error of the last run, if it errored.
    pub last_error: Option<String>,
    /// Why the last run was skipped, if it was (absent in stores written before skips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_skip: Option<String>,
    /// Recent runs, oldest first.
    pub history: VecDeque<Run>,
    /// The acceptance that held this series' failure back from being announced, while it
    /// fails: when it ends, its expiry is announced (and a regression then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    /// The acceptance last reported as no longer needed ([`Held::identity`]), so it is
    /// reported once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unneeded: Option<String>,
}

/// An acceptance as a series' state remembers it: enough to announce its end after it has
/// left the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Its `until`, as written (`2027-03-31`).
    pub until: String,
    /// Its reason.
    pub reason: String,
    /// Where it is written (`config/accept.d/shop.yaml:3:3`).
    pub at: String,
    /// What it says ([`crate::config::Acceptance::identity`]).
    pub identity: String,
}

impl Held {
    /// The acceptance as remembered.
    pub fn of(acceptance: &crate::config::Acceptance) -> Held {
        Held {
            until: acceptance.until.to_string(),
            reason: acceptance.reason.clone(),
            at: acceptance.at(),
            identity: acceptance.identity(),
        }
    }
}

/// Something about a series' acceptance worth a log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// It ended (or was removed) while the series fails (`picket.acceptance.expired`).
    Expired(Held),
    /// The series passed its last [`crate::config::UNNEEDED_AFTER`] runs under it
    /// (`picket.acceptance.unneeded`).
    Unneeded(Held),
}

impl Notice {
    /// The acceptance.
    pub fn held(&self) -> &Held {
        match self {
            Notice::Expired(h) | Notice::Unneeded(h) => h,
        }
    }
}

impl SeriesState {
    /// The series' severity now: the highest of its current findings (a probe may grade its
    /// checks), else the probe's `declared` one.
    pub fn severity(&self, declared: Severity) -> Severity {
        crate::outcome::severity_of(&self.findings, declared)
    }

    /// Applies one run. Returns the transition it caused, if any.
    pub fn apply(
        &mut self,
        outcome: &Outcome,
        started: SystemTime,
        duration: Duration,
        confirm: u32,
        recover: u32,
    ) -> Option<Transition> {
        let run = Run::of(outcome, started, duration);
        self.last_outcome = Some(run.outcome);
        self.last_run = Some(started);
        self.last_duration_ms = run.duration_ms;
        // Room made before the run goes in: a history copied at its length (each run's
        // state is) is not grown to twice its size for one run more.
        while self.history.len() >= HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(run);
        self.last_error = match outcome {
            Outcome::Error(e) => Some(e.to_string()),
            _ => None,
        };
        self.last_skip = outcome.skip_reason().map(str::to_string);
        let (next, transition) = match outcome {
            Outcome::Error(_) | Outcome::Skip(_) => return None,
            Outcome::Pass => {
                self.pass_streak = self.pass_streak.saturating_add(1);
                self.fail_streak = 0;
                match self.state {
                    State::Unknown => (State::Passing, None),
                    State::Passing => (State::Passing, None),
                    State::Failing | State::Regressed if self.pass_streak >= recover => {
                        (State::Passing, Some(Transition::Recovery))
                    }
                    other => (other, None),
                }
            }
            Outcome::Fail(findings) => {
                self.fail_streak = self.fail_streak.saturating_add(1);
                self.pass_streak = 0;
                self.findings = findings.clone();
                match self.state {
                    State::Unknown => (State::Failing, None),
                    State::Passing if self.fail_streak >= confirm => {
                        (State::Regressed, Some(Transition::Regression))
                    }
                    other => (other, None),
                }
            }
        };
        if next != self.state || self.since.is_none() {
            self.state = next;
            self.since = Some(started);
        }
        if self.state == State::Passing {
            self.findings.clear();
        }
        transition
    }

    /// Applies what `acceptance` (the one covering the series, if any) says at `now` to a
    /// state `transition` just moved, and returns what is worth a log record:
    /// - while it holds, the transition is not announced (`transition` becomes `None`), and
    ///   a failing or regressed series remembers it as [`SeriesState::held`]; a series that
    ///   passed its last [`crate::config::UNNEEDED_AFTER`] runs reports it unneeded, once;
    /// - once it no longer holds (ended, or removed from the configuration), a series it
    ///   held back that still fails reports its expiry, and a regressed one announces its
    ///   regression now.
    pub fn settle_acceptance(
        &mut self,
        acceptance: Option<&crate::config::Acceptance>,
        now: SystemTime,
        transition: &mut Option<Transition>,
    ) -> Option<Notice> {
        let failing = matches!(self.state, State::Failing | State::Regressed);
        match acceptance.filter(|a| a.holds(now)) {
            Some(a) => {
                *transition = None;
                if failing {
                    if self
                        .held
                        .as_ref()
                        .is_none_or(|h| h.identity != a.identity())
                    {
                        self.held = Some(Held::of(a));
                    }
                    return None;
                }
                self.held = None;
                let identity = a.identity();
                if self.unneeded.as_deref() != Some(identity.as_str()) && self.passed_lately() {
                    self.unneeded = Some(identity);
                    return Some(Notice::Unneeded(Held::of(a)));
                }
                None
            }
            None => {
                let held = self.held.take()?;
                if !failing {
                    // Its regression was held back: so is its recovery.
                    if *transition == Some(Transition::Recovery) {
                        *transition = None;
                    }
                    return None;
                }
                if self.state == State::Regressed && transition.is_none() {
                    *transition = Some(Transition::Regression);
                }
                Some(Notice::Expired(held))
            }
        }
    }

    /// Whether its last [`crate::config::UNNEEDED_AFTER`] runs that judged anything passed
    /// (errors and skips judge nothing).
    fn passed_lately(&self) -> bool {
        let judged: Vec<Mark> = self
            .history
            .iter()
            .rev()
            .map(|r| r.outcome)
            .filter(|m| matches!(m, Mark::Pass | Mark::Fail))
            .take(crate::config::UNNEEDED_AFTER)
            .collect();
        judged.len() == crate::config::UNNEEDED_AFTER && judged.iter().all(|m| *m == Mark::Pass)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::outcome::{ErrorKind, RunError};

    pub(super) fn fail() -> Outcome {
        Outcome::Fail(vec![Finding {
            check: "c".into(),
            expected: "e".into(),
            observed: "o".into(),
            detail: None,
            severity: None,
        }])
    }

    #[test]
    fn a_failing_series_has_the_severity_of_its_findings_and_a_passing_one_the_probes() {
        let mut s = SeriesState::default();
        let graded = Outcome::Fail(vec![Finding {
            check: "c".into(),
            expected: "e".into(),
            observed: "o".into(),
            detail: None,
            severity: Some(Severity::Medium),
        }]);
        let now = SystemTime::now();
        s.apply(&graded, now, Duration::ZERO, 1, 1);
        assert_eq!(s.severity(Severity::Critical), Severity::Medium);
        s.apply(&Outcome::Pass, now, Duration::ZERO, 1, 1);
        assert_eq!(s.severity(Severity::Critical), Severity::Critical);
    }

    fn error() -> Outcome {
        Outcome::Error(RunError {
            kind: ErrorKind::Timeout,
            message: "slow".into(),
        })
    }

    pub(super) fn step(s: &mut SeriesState, o: Outcome) -> Option<Transition> {
        s.apply(&o, SystemTime::now(), Duration::from_millis(3), 2, 1)
    }

    #[test]
    fn regression_needs_confirm_failures_in_a_row() {
        let mut s = SeriesState::default();
        assert_eq!(step(&mut s, Outcome::Pass), None);
        assert_eq!(s.state, State::Passing);
        assert_eq!(step(&mut s, fail()), None);
        assert_eq!(
            s.state,
            State::Passing,
            "one failure is not yet a regression"
        );
        assert_eq!(step(&mut s, fail()), Some(Transition::Regression));
        assert_eq!(s.state, State::Regressed);
        assert_eq!(step(&mut s, fail()), None, "announced once");
        assert_eq!(step(&mut s, Outcome::Pass), Some(Transition::Recovery));
        assert_eq!(s.state, State::Passing);
        assert!(s.findings.is_empty());
    }

    #[test]
    fn a_pass_in_between_resets_the_streak() {
        let mut s = SeriesState::default();
        step(&mut s, Outcome::Pass);
        step(&mut s, fail());
        step(&mut s, Outcome::Pass);
        assert_eq!(step(&mut s, fail()), None);
        assert_eq!(s.state, State::Passing);
    }

    #[test]
    fn errors_never_move_the_state() {
        let mut s = SeriesState::default();
        assert_eq!(step(&mut s, error()), None);
        assert_eq!(s.state, State::Unknown);
        step(&mut s, Outcome::Pass);
        step(&mut s, fail());
        assert_eq!(step(&mut s, error()), None);
        assert_eq!(s.state, State::Passing);
        assert_eq!(step(&mut s, fail()), Some(Transition::Regression));
        for _ in 0..5 {
            assert_eq!(step(&mut s, error()), None);
            assert_eq!(s.state, State::Regressed);
        }
        assert_eq!(
            s.history
                .iter()
                .filter(|r| r.outcome == Mark::Error)
                .count(),
            7
        );
        assert_eq!(s.history.back().unwrap().error.as_deref(), Some("timeout"));
    }

    /// A skip (a header probe on a redirect to another origin) is like an error: it neither
    /// moves a series nor breaks or extends a streak, and it keeps the findings of a failing
    /// series.
    #[test]
    fn skips_never_move_the_state_or_break_a_streak() {
        let skip = || Outcome::Skip("redirects to https://127.0.0.1/; probe that target".into());
        let mut s = SeriesState::default();
        assert_eq!(step(&mut s, skip()), None);
        assert_eq!(s.state, State::Unknown);
        assert_eq!(
            s.last_skip.as_deref(),
            Some("redirects to https://127.0.0.1/; probe that target")
        );
        step(&mut s, Outcome::Pass);
        assert_eq!(s.last_skip, None);
        // confirm = 2: fail, skip, fail is two failures in a row.
        step(&mut s, fail());
        assert_eq!(step(&mut s, skip()), None);
        assert_eq!(s.state, State::Passing);
        assert_eq!(step(&mut s, fail()), Some(Transition::Regression));
        assert_eq!(step(&mut s, skip()), None);
        assert_eq!(s.state, State::Regressed);
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.last_outcome, Some(Mark::Skip));
        assert_eq!(
            s.history.iter().filter(|r| r.outcome == Mark::Skip).count(),
            3
        );
        // A state written before skips existed still reads.
        let old = serde_json::json!({"state": "passing", "since": null, "fail_streak": 0,
            "pass_streak": 1, "last_outcome": "pass", "last_run": null, "last_duration_ms": 0,
            "findings": [], "last_error": null, "history": ["pass"]});
        let read: SeriesState = serde_json::from_value(old).unwrap();
        assert_eq!(read.last_skip, None);
    }

    #[test]
    fn failing_from_the_start_is_not_a_regression() {
        let mut s = SeriesState::default();
        assert_eq!(step(&mut s, fail()), None);
        assert_eq!(s.state, State::Failing);
        assert_eq!(step(&mut s, fail()), None);
        assert_eq!(step(&mut s, Outcome::Pass), Some(Transition::Recovery));
    }

    #[test]
    fn recover_needs_enough_passes() {
        let mut s = SeriesState::default();
        let mut apply = |o: Outcome| s.apply(&o, SystemTime::now(), Duration::ZERO, 1, 3);
        apply(Outcome::Pass);
        assert_eq!(apply(fail()), Some(Transition::Regression));
        assert_eq!(apply(Outcome::Pass), None);
        assert_eq!(apply(Outcome::Pass), None);
        assert_eq!(apply(Outcome::Pass), Some(Transition::Recovery));
    }

    #[test]
    fn history_is_bounded() {
        let mut s = SeriesState::default();
        for _ in 0..100 {
            step(&mut s, Outcome::Pass);
        }
        assert_eq!(s.history.len(), HISTORY_LEN);
    }

    #[test]
    fn runs_keep_their_time_and_a_store_of_bare_outcomes_still_loads() {
        let mut s = SeriesState::default();
        let started = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        s.apply(&error(), started, Duration::from_millis(42), 1, 1);
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains(r#"{"outcome":"error","started_ms":1700000000123,"duration_ms":42,"error":"timeout"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<SeriesState>(&json).unwrap(), s);

        let mut old = serde_json::to_value(&s).unwrap();
        old["history"] = serde_json::json!(["pass", "fail"]);
        let old: SeriesState = serde_json::from_value(old).unwrap();
        let marks: Vec<_> = old.history.iter().map(|r| (r.outcome, r.started)).collect();
        assert_eq!(marks, [(Mark::Pass, None), (Mark::Fail, None)]);
    }

    /// One acceptance of every series, ending at `ends`.
    fn acceptance(ends: SystemTime, reason: &str) -> crate::config::Acceptance {
        let until: chrono::DateTime<chrono::Utc> = ends.into();
        let yaml = format!(
            "- probe: \"*\"\n  target: \"*\"\n  until: \"{}\"\n  reason: {reason}\n",
            until.to_rfc3339()
        );
        let file = std::path::Path::new("accept.yaml");
        let raw: Vec<serde_saphyr::Spanned<crate::config::raw::Accept>> =
            crate::yaml::parse_yaml(file, &yaml).unwrap();
        let mut diags = crate::diag::Diagnostics::default();
        let mut out = crate::config::compile_acceptances(
            file,
            &raw,
            ends - Duration::from_secs(60),
            &mut diags,
            &mut Vec::new(),
        );
        assert!(diags.is_empty(), "{diags}");
        Arc::unwrap_or_clone(out.remove(0))
    }

    use std::sync::Arc;

    /// Runs `outcome` on `s` at `now` under `a`: the transition announced and the notice.
    fn run(
        s: &mut SeriesState,
        outcome: &Outcome,
        a: Option<&crate::config::Acceptance>,
        now: SystemTime,
    ) -> (Option<Transition>, Option<Notice>) {
        let mut t = s.apply(outcome, now, Duration::ZERO, 2, 1);
        let notice = s.settle_acceptance(a, now, &mut t);
        (t, notice)
    }

    #[test]
    fn an_accepted_regression_is_announced_when_its_acceptance_ends_and_not_before() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ends = t0 + Duration::from_secs(100);
        let a = acceptance(ends, "tracked");
        let mut s = SeriesState::default();
        assert_eq!(run(&mut s, &Outcome::Pass, Some(&a), t0), (None, None));
        assert_eq!(run(&mut s, &fail(), Some(&a), t0), (None, None));
        // The regression happens underneath, held back.
        assert_eq!(run(&mut s, &fail(), Some(&a), t0), (None, None));
        assert_eq!(s.state, State::Regressed);
        assert_eq!(s.held.as_ref().map(|h| h.reason.as_str()), Some("tracked"));
        // At its end: the notice, and the regression.
        let mut t = None;
        let notice = s.settle_acceptance(Some(&a), ends, &mut t);
        assert_eq!(t, Some(Transition::Regression));
        assert!(matches!(notice, Some(Notice::Expired(ref h)) if h.reason == "tracked"));
        // Once.
        let mut t = None;
        assert_eq!(s.settle_acceptance(Some(&a), ends, &mut t), None);
        assert_eq!(t, None);
        assert_eq!(run(&mut s, &fail(), Some(&a), ends), (None, None));
    }

    #[test]
    fn a_recovery_under_an_acceptance_is_not_announced_and_a_passing_series_ends_quietly() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ends = t0 + Duration::from_secs(100);
        let a = acceptance(ends, "tracked");
        let mut s = SeriesState::default();
        run(&mut s, &Outcome::Pass, Some(&a), t0);
        run(&mut s, &fail(), Some(&a), t0);
        run(&mut s, &fail(), Some(&a), t0);
        assert_eq!(run(&mut s, &Outcome::Pass, Some(&a), t0), (None, None));
        assert_eq!(s.state, State::Passing);
        assert_eq!(s.held, None);
        let mut t = None;
        assert_eq!(s.settle_acceptance(Some(&a), ends, &mut t), None);
        assert_eq!(t, None);
        // Removed (no acceptance any more) while failing since first seen: the notice only.
        let mut s = SeriesState::default();
        run(&mut s, &fail(), Some(&a), t0);
        let (t, notice) = run(&mut s, &fail(), None, t0);
        assert_eq!(t, None);
        assert!(matches!(notice, Some(Notice::Expired(_))));
    }

    #[test]
    fn an_acceptance_is_reported_unneeded_once_after_ten_passing_runs() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = acceptance(t0 + Duration::from_secs(100), "tracked");
        let mut s = SeriesState::default();
        let mut notices = Vec::new();
        for i in 0..25 {
            // Errors and skips in between judge nothing.
            if i % 4 == 0 {
                run(&mut s, &Outcome::Skip("x".into()), Some(&a), t0);
            }
            let (_, n) = run(&mut s, &Outcome::Pass, Some(&a), t0);
            notices.push(n);
        }
        let reported: Vec<usize> = notices
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.is_some().then_some(i))
            .collect();
        assert_eq!(reported, [9], "{notices:?}");
        assert!(matches!(notices[9], Some(Notice::Unneeded(_))));
        // A new acceptance (another reason) is reported again.
        let b = acceptance(t0 + Duration::from_secs(100), "another");
        let (_, n) = run(&mut s, &Outcome::Pass, Some(&b), t0);
        assert!(matches!(n, Some(Notice::Unneeded(ref h)) if h.reason == "another"));
    }
}
