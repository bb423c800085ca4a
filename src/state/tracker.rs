//! The one owner of series state.
//!
//! The [`Tracker`] holds the state of every planned series and the store that persists it;
//! nothing else keeps a copy. A run's outcome goes in through [`Tracker::record`], which
//! applies the state machine, makes the new state durable, and only then publishes a
//! [`Change`] on a bounded broadcast channel. Telemetry, the notifier and the demo follow
//! the changes ([`Tracker::follow`]); the API reads [`Tracker::snapshot`] and telemetry's
//! state gauges read [`Tracker::each`] at each export. When a reload removes series (a target dropped from
//! `targets_from`, a probe deleted), [`Tracker::track`] forgets them in memory and in the
//! store, so churn never grows either.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{SeriesState, State, Store, StoreError, Transition};
use crate::outcome::RunResult;
use crate::probe::Probe;

/// How many changes a slow subscriber may fall behind before it misses some.
pub const CHANGES_CAPACITY: usize = 4096;

/// What the tracker knows of a series besides its state: the loaded probe (its labels for
/// people and telemetry, the thresholds of its state machine, its description and
/// remediation) and the target's name and tags.
///
/// The probe is the one the plan holds, shared rather than copied: a reload swaps it for the
/// newly loaded one, so what the API shows of a probe is always what runs.
#[derive(Debug, Clone)]
pub struct SeriesInfo {
    /// The loaded probe.
    pub probe: Arc<Probe>,
    /// Target name.
    pub target: String,
    /// Target tags.
    pub tags: Vec<String>,
}

/// A tracked series: its labels and its state.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// Labels and thresholds.
    pub info: Arc<SeriesInfo>,
    /// The state.
    pub state: SeriesState,
}

/// A series whose state kind changed (`unknown → passing`, `passing → regressed`, …),
/// published after the new state is durable.
#[derive(Debug, Clone)]
pub struct Change {
    /// The series key.
    pub key: String,
    /// Its labels.
    pub info: Arc<SeriesInfo>,
    /// The state it is in now.
    pub state: SeriesState,
    /// The regression or recovery this change is, if it is one.
    pub transition: Option<Transition>,
    /// The state it was in before.
    pub previous: State,
    /// Its severity before: for a recovery, the severity of what recovered (the state it is
    /// in now has no findings left to grade it).
    pub previous_severity: crate::units::Severity,
    /// When the run that caused it started.
    pub started: SystemTime,
}

/// The one owner of series state: the map, the store, and the stream of changes.
#[derive(Debug)]
pub struct Tracker {
    series: RwLock<BTreeMap<String, Tracked>>,
    /// States read from the store at start, waiting for the first plan to claim them.
    unclaimed: Mutex<BTreeMap<String, SeriesState>>,
    store: Store,
    changes: broadcast::Sender<Arc<Change>>,
    runs: AtomicU64,
}

impl Tracker {
    /// Opens the store in `dir` (see [`Store::open`]). No series is tracked until
    /// [`Tracker::track`].
    pub fn open(dir: &Path) -> Result<Tracker, StoreError> {
        let (store, stored) = Store::open(dir)?;
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        Ok(Tracker {
            series: RwLock::default(),
            unclaimed: Mutex::new(stored),
            store,
            changes,
            runs: AtomicU64::new(0),
        })
    }

    /// Makes `planned` the tracked set: new series start from their stored state (or
    /// `unknown`), series already tracked keep theirs, and every other series is forgotten in
    /// memory and in the store. Returns the forgotten series' labels.
    pub async fn track(&self, planned: Vec<(String, SeriesInfo)>) -> Vec<Arc<SeriesInfo>> {
        let mut gone_keys = Vec::new();
        let mut gone = Vec::new();
        {
            let mut unclaimed = self
                .unclaimed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
            let mut next = BTreeMap::new();
            for (key, info) in planned {
                let state = series
                    .remove(&key)
                    .map(|t| t.state)
                    .or_else(|| unclaimed.remove(&key))
                    .unwrap_or_default();
                next.insert(
                    key,
                    Tracked {
                        info: Arc::new(info),
                        state,
                    },
                );
            }
            for (key, t) in std::mem::replace(&mut *series, next) {
                gone_keys.push(key);
                gone.push(t.info);
            }
            gone_keys.extend(std::mem::take(&mut *unclaimed).into_keys());
        }
        if !gone_keys.is_empty()
            && let Err(e) = self.store.delete(gone_keys).await
        {
            tracing::error!(error = %e, "cannot forget removed series in the state store");
        }
        gone
    }

    /// Applies one run to its series, persists the new state, and publishes the change if the
    /// state kind changed. Returns that change. A run of a series that a reload removed while
    /// it was in flight is dropped.
    ///
    /// The new state is applied to a copy and becomes visible (to the API, to
    /// [`Tracker::snapshot`]) only once it is durable, so nothing shown can be lost by a crash.
    /// The scheduler never runs one series twice at a time, so no other run of this series
    /// can interleave.
    pub async fn record(&self, key: &str, result: &RunResult) -> Option<Arc<Change>> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let (info, mut state) = {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            let tracked = series.get(key)?;
            (Arc::clone(&tracked.info), tracked.state.clone())
        };
        let before = state.state;
        let previous_severity = state.severity(info.probe.severity);
        let transition = state.apply(
            &result.outcome,
            result.started,
            result.duration,
            info.probe.confirm,
            info.probe.recover,
        );
        // Durable before shown or announced: a crash after this line cannot announce it twice.
        if let Err(e) = self.store.put(key, &state).await {
            tracing::error!(series = %key, error = %e, "cannot persist series state");
        }
        {
            let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
            // Removed by a reload while the run was in flight: forget it.
            let tracked = series.get_mut(key)?;
            tracked.state = state.clone();
        }
        if state.state == before {
            return None;
        }
        let change = Arc::new(Change {
            key: key.to_string(),
            info,
            state,
            transition,
            previous: before,
            previous_severity,
            started: result.started,
        });
        // No subscriber is fine: nobody is listening.
        let _ = self.changes.send(Arc::clone(&change));
        Some(change)
    }

    /// Changes from now on. A subscriber that falls more than [`CHANGES_CAPACITY`] behind
    /// misses the oldest (and is told how many).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Changes from now on, for `who` (named in the warning when it falls behind): see
    /// [`Follower`].
    pub fn follow(&self, who: &'static str) -> Follower {
        Follower {
            who,
            changes: self.changes.subscribe(),
        }
    }

    /// Every tracked series, in key order.
    pub fn snapshot(&self) -> Vec<Tracked> {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// One series.
    pub fn get(&self, key: &str) -> Option<Tracked> {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// How many runs were recorded since the tracker opened.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// How many series are tracked.
    pub fn len(&self) -> usize {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no series is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with the labels and state of every series, in key order (for telemetry's
    /// gauges at export), holding the read lock: `f` must be quick and must not call back
    /// into the tracker.
    pub fn each(&self, mut f: impl FnMut(&SeriesInfo, &SeriesState)) {
        for t in self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            f(&t.info, &t.state);
        }
    }

    /// Waits until every earlier write is durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.store.sync().await
    }
}

/// One subscriber's view of the tracker's changes, from [`Tracker::follow`] on. Every
/// subscriber (telemetry, the notifier, the demo) handles the two ways a broadcast receive
/// fails the same way, here: falling more than [`CHANGES_CAPACITY`] behind is logged (with
/// how many changes were missed) and following goes on from the oldest change still held;
/// the tracker gone ends the stream.
#[derive(Debug)]
pub struct Follower {
    who: &'static str,
    changes: broadcast::Receiver<Arc<Change>>,
}

impl Follower {
    /// The next change, or `None` once the tracker is gone.
    pub async fn next(&mut self) -> Option<Arc<Change>> {
        loop {
            match self.changes.recv().await {
                Ok(change) => return Some(change),
                Err(broadcast::error::RecvError::Lagged(missed)) => self.lagged(missed),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Calls `apply` with every change until `stop` is cancelled (or the tracker is gone),
    /// then with the changes already published and not yet seen, so that none recorded
    /// before `stop` is lost.
    pub async fn run(mut self, stop: CancellationToken, mut apply: impl FnMut(&Change)) {
        loop {
            let next = tokio::select! {
                biased;
                next = self.next() => next,
                () = stop.cancelled() => break,
            };
            match next {
                Some(change) => apply(&change),
                None => return,
            }
        }
        loop {
            match self.changes.try_recv() {
                Ok(change) => apply(&change),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => self.lagged(missed),
                Err(_) => return,
            }
        }
    }

    fn lagged(&self, missed: u64) {
        tracing::warn!(
            follower = self.who,
            missed,
            "{} fell behind the series changes; regressions and recoveries among the missed \
             changes are not announced by it",
            self.who
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::state::tests::fail;

    fn info(probe: &str) -> SeriesInfo {
        let file = Path::new("test.yaml");
        let yaml = format!(
            "id: {probe}\nname: {probe}\nseverity: high\nconfirm: 1\nrecover: 1\n\
             http:\n  path: /\nchecks:\n  - status: 200\n"
        );
        let raw = crate::yaml::parse_yaml(file, &yaml).expect("probe parses");
        let mut diags = crate::diag::Diagnostics::default();
        let probe = crate::probe::compile(file, raw, &Default::default(), &mut diags)
            .expect("probe compiles");
        SeriesInfo {
            probe: Arc::new(probe),
            target: "web".into(),
            tags: vec![],
        }
    }

    fn result(outcome: Outcome) -> RunResult {
        RunResult {
            duration: std::time::Duration::from_millis(1),
            ..RunResult::new("p", "web", outcome)
        }
    }

    /// Opens the store in `dir` once the previous owner's writer thread has let it go.
    async fn reopen(dir: &Path) -> Tracker {
        for _ in 0..250 {
            if let Ok(t) = Tracker::open(dir) {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the store stayed locked");
    }

    fn stored(tracker: &Tracker) -> Vec<(String, State)> {
        tracker
            .unclaimed
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.state))
            .collect()
    }

    #[tokio::test]
    async fn changes_are_published_after_they_are_durable_and_removed_series_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        {
            let tracker = Tracker::open(dir.path()).unwrap();
            tracker
                .track(vec![("a".into(), info("a")), ("b".into(), info("b"))])
                .await;
            let mut changes = tracker.subscribe();
            tracker.record("a", &result(Outcome::Pass)).await.unwrap();
            tracker.record("b", &result(Outcome::Pass)).await.unwrap();
            let regression = tracker.record("a", &result(fail())).await.unwrap();
            assert_eq!(regression.transition, Some(Transition::Regression));
            // Same state kind again: nothing to publish.
            assert!(tracker.record("a", &result(fail())).await.is_none());
            let seen: Vec<_> = std::iter::from_fn(|| changes.try_recv().ok())
                .map(|c| (c.key.clone(), c.state.state))
                .collect();
            assert_eq!(
                seen,
                [
                    ("a".to_string(), State::Passing),
                    ("b".to_string(), State::Passing),
                    ("a".to_string(), State::Regressed)
                ]
            );
            // A reload drops `b`.
            let gone = tracker.track(vec![("a".into(), info("a"))]).await;
            assert_eq!(gone.len(), 1);
            assert!(tracker.get("b").is_none());
            assert!(tracker.record("b", &result(Outcome::Pass)).await.is_none());
            tracker.sync().await.unwrap();
        }
        // After a restart `a` is still regressed and `b` is gone from the store too.
        let tracker = reopen(dir.path()).await;
        assert_eq!(stored(&tracker), [("a".to_string(), State::Regressed)]);
    }

    #[tokio::test]
    async fn a_follower_sees_every_change_up_to_stop_and_ends_with_the_tracker() {
        let dir = tempfile::tempdir().unwrap();
        let tracker = Tracker::open(dir.path()).unwrap();
        tracker.track(vec![("a".into(), info("a"))]).await;
        let follower = tracker.follow("test");
        let mut next = tracker.follow("test");
        tracker.record("a", &result(Outcome::Pass)).await.unwrap();
        tracker.record("a", &result(fail())).await.unwrap();
        // Stopped before it ran: it still applies what was published before the stop.
        let stop = CancellationToken::new();
        stop.cancel();
        let mut seen = Vec::new();
        follower
            .run(stop, |c| seen.push((c.key.clone(), c.transition)))
            .await;
        assert_eq!(
            seen,
            [
                ("a".to_string(), None),
                ("a".to_string(), Some(Transition::Regression))
            ]
        );
        assert_eq!(
            next.next().await.map(|c| c.state.state),
            Some(State::Passing)
        );
        assert_eq!(
            next.next().await.map(|c| c.state.state),
            Some(State::Regressed)
        );
        drop(tracker);
        assert!(next.next().await.is_none(), "the tracker is gone");
    }

    #[tokio::test]
    async fn stored_series_not_planned_any_more_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let tracker = Tracker::open(dir.path()).unwrap();
            tracker
                .track(vec![("a".into(), info("a")), ("old".into(), info("old"))])
                .await;
            tracker.record("old", &result(Outcome::Pass)).await;
            tracker.sync().await.unwrap();
        }
        {
            let tracker = reopen(dir.path()).await;
            tracker.track(vec![("a".into(), info("a"))]).await;
            tracker.sync().await.unwrap();
        }
        assert!(stored(&reopen(dir.path()).await).is_empty());
    }
}
