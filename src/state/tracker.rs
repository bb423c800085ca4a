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
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::broadcast;

use super::postgres::Claimed;
use super::store::{Embedded, Outbox, Put, Recorded, Store, StoreError};
use super::{Group, Postgres, SeriesState, State, Transition};
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
    /// The acceptance that covers the series, if any ([`crate::plan::Series::acceptance`]).
    pub acceptance: Option<Arc<crate::config::Acceptance>>,
}

impl SeriesInfo {
    /// Whether `other` says the same: the same loaded probe and acceptance (the same
    /// allocations: a reload that changed a file compiles a new one), target and tags.
    fn same_as(&self, other: &SeriesInfo) -> bool {
        Arc::ptr_eq(&self.probe, &other.probe)
            && self.target == other.target
            && self.tags == other.tags
            && match (&self.acceptance, &other.acceptance) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }

    /// The acceptance that holds for the series at `now`.
    pub fn accepted_at(&self, now: SystemTime) -> Option<&Arc<crate::config::Acceptance>> {
        self.acceptance.as_ref().filter(|a| a.holds(now))
    }
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
    /// What its acceptance's end or uselessness is worth saying, if anything.
    pub notice: Option<super::Notice>,
}

impl Change {
    /// When its state began, in ms since the epoch: with the series and the transition, what
    /// identifies a transition in the shared store's outbox.
    pub fn since_ms(&self) -> i64 {
        millis_since_epoch(self.state.since.unwrap_or(self.started))
    }
}

/// How many series are in each state ([`Tracker::counts`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StateCounts {
    /// Regressed.
    pub regressed: usize,
    /// Failing since first seen.
    pub failing: usize,
    /// Passing.
    pub passing: usize,
    /// Not run yet.
    pub unknown: usize,
}

/// One series as the tracker holds it.
#[derive(Debug, Clone)]
struct Entry {
    info: Arc<SeriesInfo>,
    state: SeriesState,
    /// The version of `state` in the shared store (0 in the embedded one, or never written).
    version: i64,
    /// Whether this process runs the series. With the embedded store it runs every series
    /// it tracks; in a group it tracks the group's series and runs its share, and the states
    /// of the others are the ones last read from the database, for the API.
    owned: bool,
    /// The last [`Tracker::track_owned`] that planned it.
    generation: u64,
}

impl Entry {
    fn tracked(&self) -> Tracked {
        Tracked {
            info: Arc::clone(&self.info),
            state: self.state.clone(),
        }
    }
}

/// When the API last read the group's states, and the database's time then.
#[derive(Debug, Default)]
struct GroupRead {
    at: Option<Instant>,
    db_now: Option<f64>,
}

/// How often the API reads the states of series other members run, at most.
const GROUP_READ_EVERY: Duration = Duration::from_secs(1);

/// The one owner of series state: the map, the store, and the stream of changes.
#[derive(Debug)]
pub struct Tracker {
    series: RwLock<BTreeMap<String, Entry>>,
    /// States read from the embedded store at start, waiting for the first plan to claim them.
    unclaimed: Mutex<BTreeMap<String, SeriesState>>,
    store: Store,
    changes: broadcast::Sender<Arc<Change>>,
    runs: AtomicU64,
    /// Failed writes to the embedded store (the shared store's [`Group`] counts its own).
    failed_writes: AtomicU64,
    group_read: tokio::sync::Mutex<GroupRead>,
    /// The transitions this process announced lately (in a group), so that one whose mark
    /// did not reach the database is not announced again by this process.
    announced: Mutex<Recent>,
    /// Counts [`Tracker::track_owned`] calls: what an entry's `generation` is compared with.
    generation: AtomicU64,
}

/// The last [`RECENT`] transitions announced, by series, transition and since.
#[derive(Debug, Default)]
struct Recent {
    order: std::collections::VecDeque<(String, Transition, i64)>,
    /// Each with whether its record is known to be out (confirmed).
    set: std::collections::HashMap<(String, Transition, i64), bool>,
}

/// How many announced transitions [`Recent`] remembers.
const RECENT: usize = 10_000;

impl Recent {
    fn insert(&mut self, key: (String, Transition, i64)) {
        if self.set.insert(key.clone(), false).is_none() {
            self.order.push_back(key);
            while self.order.len() > RECENT {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

impl Tracker {
    /// Opens the embedded store in `dir` (see [`Embedded::open`]). No series is tracked until
    /// [`Tracker::track`].
    pub fn open(dir: &Path) -> Result<Tracker, StoreError> {
        let (store, stored) = Embedded::open(dir)?;
        Ok(Tracker::with(Store::Embedded(store), stored))
    }

    /// A tracker on the shared store: states are read from it as series are taken.
    pub fn shared(store: Postgres) -> Tracker {
        Tracker::with(Store::Postgres(store), BTreeMap::new())
    }

    fn with(store: Store, stored: BTreeMap<String, SeriesState>) -> Tracker {
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        Tracker {
            series: RwLock::default(),
            unclaimed: Mutex::new(stored),
            store,
            changes,
            runs: AtomicU64::new(0),
            failed_writes: AtomicU64::new(0),
            group_read: tokio::sync::Mutex::default(),
            announced: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }

    /// The group this process is a member of, with the shared store.
    pub fn group(&self) -> Option<&Arc<Group>> {
        self.store.shared().map(Postgres::group)
    }

    /// The shared store, if state lives in one.
    pub fn shared_store(&self) -> Option<&Postgres> {
        self.store.shared()
    }

    /// Makes `planned` the tracked set, every series run by this process: new series start
    /// from their stored state (or `unknown`), series already tracked keep theirs, and every
    /// other series is forgotten in memory and in the store. Returns the forgotten series'
    /// labels.
    pub async fn track(&self, planned: Vec<(String, SeriesInfo)>) -> Vec<Arc<SeriesInfo>> {
        match self.track_owned(planned, &|_| true).await {
            Ok(gone) => gone,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the states of the planned series");
                Vec::new()
            }
        }
    }

    /// Makes `planned` the tracked set, of which this process runs those `owned` says. A
    /// series it starts to run takes its state from the store (the shared store is read
    /// now: the member that ran it before may have moved it on); if that read fails nothing
    /// changes and the error is returned. Forgotten series are deleted from the store: with
    /// the shared store only those this process ran, since another member may run a series
    /// a newer configuration of its own still plans.
    pub async fn track_owned(
        &self,
        planned: Vec<(String, SeriesInfo)>,
        owned: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Arc<SeriesInfo>>, StoreError> {
        let shared = self.store.shared().is_some();
        // Only the shared store has states to read for the series taken (the embedded one
        // read them all at start).
        let taken: Vec<String> = if shared {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            planned
                .iter()
                .filter(|(key, _)| owned(key) && !series.get(key).is_some_and(|e| e.owned))
                .map(|(key, _)| key.clone())
                .collect()
        } else {
            Vec::new()
        };
        let mut loaded = self.store.load(&taken).await?;
        let mut gone_keys = Vec::new();
        let mut gone = Vec::new();
        {
            let mut unclaimed = self
                .unclaimed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
            // Updated in place, not rebuilt: a reload keeps nearly every series, and a map of
            // 100,000 built again is most of a reload's time.
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            let mut planned_n = 0;
            for (key, info) in planned {
                let owned = owned(&key);
                planned_n += 1;
                let stored = loaded.remove(&key);
                match series.get_mut(&key) {
                    Some(e) => {
                        match stored {
                            // Taken over: the store's state is the newest.
                            Some(stored) if owned => {
                                e.state = stored.state;
                                e.version = stored.version;
                            }
                            _ if !(shared && owned && !e.owned) => {}
                            // Taken over and never written: it starts unknown.
                            _ => {
                                e.state = SeriesState::default();
                                e.version = 0;
                            }
                        }
                        if !e.info.same_as(&info) {
                            e.info = Arc::new(info);
                        }
                        e.owned = owned;
                        e.generation = generation;
                    }
                    None => {
                        let (state, version) = match stored {
                            Some(stored) if owned => (stored.state, stored.version),
                            _ if shared => (SeriesState::default(), 0),
                            _ => (unclaimed.remove(&key).unwrap_or_default(), 0),
                        };
                        series.insert(
                            key,
                            Entry {
                                info: Arc::new(info),
                                state,
                                version,
                                owned,
                                generation,
                            },
                        );
                    }
                }
            }
            if planned_n < series.len() {
                let removed: Vec<String> = series
                    .iter()
                    .filter(|(_, e)| e.generation != generation)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in removed {
                    if let Some(e) = series.remove(&key) {
                        if e.owned || !shared {
                            gone_keys.push(key);
                        }
                        gone.push(e.info);
                    }
                }
            }
            gone_keys.extend(std::mem::take(&mut *unclaimed).into_keys());
        }
        if !gone_keys.is_empty()
            && let Err(e) = self.store.delete(gone_keys).await
        {
            if self.store.shared().is_none() {
                self.failed_writes.fetch_add(1, Ordering::Relaxed);
            }
            tracing::error!(error = %e, "cannot forget removed series in the state store");
        }
        Ok(gone)
    }

    /// Applies one run to its series, persists the new state, and publishes the change if the
    /// state kind changed. Returns that change. A run of a series that a reload removed (or,
    /// in a group, that another member took) while it was in flight is dropped.
    ///
    /// The new state is applied to a copy and becomes visible (to the API, to
    /// [`Tracker::snapshot`]) only once it is durable, so nothing shown can be lost by a crash.
    /// The scheduler never runs one series twice at a time, so no other run of this series
    /// can interleave in this process. In a group another member may have written the series
    /// since (a handover): the store then keeps its state, this run is dropped, and the
    /// tracker takes the stored state. A transition is announced only by the member whose
    /// write recorded it.
    pub async fn record(&self, key: &str, result: &RunResult) -> Option<Arc<Change>> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let (info, mut state, version) = {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            let entry = series.get(key).filter(|e| e.owned)?;
            (Arc::clone(&entry.info), entry.state.clone(), entry.version)
        };
        let before = state.state;
        let previous_severity = state.severity(info.probe.severity);
        let mut transition = state.apply(
            &result.outcome,
            result.started,
            result.duration,
            info.probe.confirm,
            info.probe.recover,
        );
        let notice = state.settle_acceptance(
            info.acceptance.as_deref(),
            SystemTime::now(),
            &mut transition,
        );
        self.commit(
            key,
            info,
            state,
            version,
            transition,
            notice,
            before,
            previous_severity,
            result.started,
        )
        .await
    }

    /// Makes a series' new state durable, takes it, and publishes it when its kind changed
    /// or it carries a notice: the end of [`Tracker::record`] and of
    /// [`Tracker::settle_acceptances`].
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        key: &str,
        info: Arc<SeriesInfo>,
        state: SeriesState,
        version: i64,
        mut transition: Option<Transition>,
        notice: Option<super::Notice>,
        before: State,
        previous_severity: crate::units::Severity,
        started: SystemTime,
    ) -> Option<Arc<Change>> {
        let since_ms = state.since.map_or(0, millis_since_epoch);
        let outbox = transition.map(|t| Outbox {
            transition: t,
            since_ms,
            recorded: Recorded {
                previous: before,
                previous_severity,
                started_ms: u64::try_from(millis_since_epoch(started)).unwrap_or(0),
                state: state.clone(),
            },
        });
        // Durable before shown or announced: a crash after this line cannot announce it twice.
        let mut version = version;
        match self.store.put(key, version, &state, outbox).await {
            Ok(Put::Written {
                version: written,
                announce,
            }) => {
                version = written;
                if !announce {
                    transition = None;
                }
            }
            Ok(Put::Conflict(stored)) => {
                let stored = stored.map(|s| *s).unwrap_or_default();
                let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(entry) = series.get_mut(key) {
                    entry.state = stored.state;
                    entry.version = stored.version;
                }
                return None;
            }
            // The shared store keeps the group's state: a state it did not take is not shown
            // and not announced (the membership loop stops the runs if the failure lasts).
            Err(_) if self.store.shared().is_some() => return None,
            Err(e) => {
                self.failed_writes.fetch_add(1, Ordering::Relaxed);
                tracing::error!(series = %key, error = %e, "cannot persist series state");
            }
        }
        let quiet = state.state == before && notice.is_none() && transition.is_none();
        {
            let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
            // Removed by a reload while the run was in flight: forget it.
            let entry = series.get_mut(key)?;
            entry.version = version;
            if quiet {
                // Nothing to publish (most runs): the state moves in, its history uncopied.
                entry.state = state;
                return None;
            }
            entry.state = state.clone();
        }
        let change = Arc::new(Change {
            key: key.to_string(),
            info,
            state,
            transition,
            previous: before,
            previous_severity,
            started,
            notice,
        });
        self.publish(&change, since_ms);
        Some(change)
    }

    /// Publishes a change to the followers. In a group its transition is remembered as
    /// announced by this process; the database marks it sent when the service confirms that
    /// its record left ([`Tracker::confirm_announced`]).
    fn publish(&self, change: &Arc<Change>, since_ms: i64) {
        if let (Some(_), Some(t)) = (self.store.shared(), change.transition) {
            self.announced
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((change.key.clone(), t, since_ms));
        }
        // No subscriber is fine: nobody is listening.
        let _ = self.changes.send(Arc::clone(change));
    }

    /// Marks these transitions announced in the shared store (with its next write): their
    /// records are out. Nothing to do with the embedded store.
    pub fn confirm_announced(&self, announced: &[(String, Transition, i64)]) {
        if let Some(shared) = self.store.shared() {
            let mut recent = self
                .announced
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for key in announced {
                if let Some(confirmed) = recent.set.get_mut(key) {
                    *confirmed = true;
                }
                shared.sent(&key.0, key.1, key.2);
            }
        }
    }

    /// Whether this process announced this transition lately.
    pub fn announced(&self, series: &str, transition: Transition, since_ms: i64) -> bool {
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .contains_key(&(series.to_string(), transition, since_ms))
    }

    /// Announces a transition another member recorded and could not announce (it is gone):
    /// published like one of this process's own, then marked announced. A series this
    /// process does not track is left for the member that does.
    pub fn announce(&self, claimed: Claimed) -> bool {
        let key = (claimed.series.clone(), claimed.transition, claimed.since_ms);
        let confirmed = self
            .announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .get(&key)
            .copied();
        match confirmed {
            // Announced and out: only its mark was lost (the database failed); mark it again.
            Some(true) => {
                if let Some(shared) = self.store.shared() {
                    shared.sent(&key.0, key.1, key.2);
                }
                return true;
            }
            // Announced, its record not yet out: the confirmer marks it.
            Some(false) => return true,
            None => {}
        }
        let Some(info) = self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&claimed.series)
            .map(|e| Arc::clone(&e.info))
        else {
            return false;
        };
        let change = Arc::new(Change {
            key: claimed.series,
            info,
            state: claimed.recorded.state,
            transition: Some(claimed.transition),
            previous: claimed.recorded.previous,
            previous_severity: claimed.recorded.previous_severity,
            started: SystemTime::UNIX_EPOCH + Duration::from_millis(claimed.recorded.started_ms),
            notice: None,
        });
        self.publish(&change, claimed.since_ms);
        true
    }

    /// Applies the acceptances at `now` to the series this process runs, between their runs:
    /// an acceptance that ended (or left the configuration) while its series fails is
    /// announced as expired, and a regressed series' regression is announced then; a failing
    /// series a new acceptance covers remembers it. Returns how many series changed.
    pub async fn settle_acceptances(&self, now: SystemTime) -> usize {
        let due: Vec<(String, Arc<SeriesInfo>, SeriesState, i64)> = {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            series
                .iter()
                .filter(|(_, e)| e.owned && acceptance_moves(e, now))
                .map(|(k, e)| (k.clone(), Arc::clone(&e.info), e.state.clone(), e.version))
                .collect()
        };
        let n = due.len();
        for (key, info, mut state, version) in due {
            let before = state.state;
            let severity = state.severity(info.probe.severity);
            let mut transition = None;
            let notice = state.settle_acceptance(info.acceptance.as_deref(), now, &mut transition);
            let started = now;
            self.commit(
                &key, info, state, version, transition, notice, before, severity, started,
            )
            .await;
        }
        n
    }

    /// Brings the states of the series other members run up to date from the shared store
    /// (at most once a second, for the API); nothing to do with the embedded store. A failed
    /// read keeps the states last read.
    pub async fn read_group(&self) {
        let Some(shared) = self.store.shared() else {
            return;
        };
        let mut read = self.group_read.lock().await;
        if read.at.is_some_and(|at| at.elapsed() < GROUP_READ_EVERY) {
            return;
        }
        // A failed read waits its turn too: requests during an outage do not each wait for
        // the database's deadline.
        read.at = Some(Instant::now());
        let Ok((states, now)) = shared.changed_since(read.db_now).await else {
            return;
        };
        read.db_now = Some(now);
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        for (key, stored) in states {
            if let Some(entry) = series.get_mut(&key)
                && !entry.owned
                && stored.version > entry.version
            {
                entry.state = stored.state;
                entry.version = stored.version;
            }
        }
    }

    /// Changes from now on. A subscriber that falls more than [`CHANGES_CAPACITY`] behind
    /// misses the oldest (and is told how many).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Every tracked series, in key order: in a group, every series of the group.
    pub fn snapshot(&self) -> Vec<Tracked> {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Entry::tracked)
            .collect()
    }

    /// One series.
    pub fn get(&self, key: &str) -> Option<Tracked> {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map(Entry::tracked)
    }

    /// How many calls to the store failed since the tracker opened
    /// (`picket.state.errors`).
    pub fn store_errors(&self) -> u64 {
        match self.group() {
            Some(group) => group.errors(),
            None => self.failed_writes.load(Ordering::Relaxed),
        }
    }

    /// How many tracked series are in each state (at start: as restored from the store).
    pub fn counts(&self) -> StateCounts {
        let mut counts = StateCounts::default();
        for e in self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            *match e.state.state {
                State::Regressed => &mut counts.regressed,
                State::Failing => &mut counts.failing,
                State::Passing => &mut counts.passing,
                State::Unknown => &mut counts.unknown,
            } += 1;
        }
        counts
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

    /// How many tracked series this process runs.
    pub fn owned(&self) -> usize {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|e| e.owned)
            .count()
    }

    /// Calls `f` with the labels and state of every series this process runs, in key order
    /// (for telemetry's gauges at export: in a group each member exports its own share, so
    /// no series is counted twice), holding the read lock: `f` must be quick and must not
    /// call back into the tracker.
    pub fn each(&self, mut f: impl FnMut(&SeriesInfo, &SeriesState)) {
        for e in self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|e| e.owned)
        {
            f(&e.info, &e.state);
        }
    }

    /// Waits until every earlier write is durable.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.store.sync().await
    }

    /// At shutdown, once nothing records any more: every write durable, and the embedded
    /// store's file closed cleanly, so the next open needs no repair.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.store.close().await
    }
}

fn millis_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether settling `entry`'s acceptance at `now` would change its state: a held series
/// whose acceptance no longer holds, or a failing one that an acceptance covers and that
/// does not remember it yet.
fn acceptance_moves(entry: &Entry, now: SystemTime) -> bool {
    let failing = matches!(entry.state.state, State::Failing | State::Regressed);
    match (entry.info.accepted_at(now), &entry.state.held) {
        (None, Some(_)) => true,
        (Some(a), held) => failing && held.as_ref().is_none_or(|h| h.identity != a.identity()),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::state::tests::fail;
    use tokio_util::sync::CancellationToken;

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
            acceptance: None,
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
