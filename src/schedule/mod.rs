//! The scheduler: when each series runs.
//!
//! One timer ([`DelayQueue`]) holds the next tick of every series, whatever its schedule, and
//! one loop ([`Scheduler::run`]) pops due ticks and spawns one task per run on a
//! [`TaskTracker`]. The concurrency and rate limits live in the runner; the scheduler only
//! promises not to add unbounded work: a tick spawns at most one task, and never a second one
//! for a series whose previous run is still in flight.
//!
//! # When a series runs
//!
//! - `every: I` — each series has a stable phase `hash % I` (milliseconds, from the FNV-1a
//!   hash of its key) and runs at the wall times `t` where `(t - phase) % I == 0`, counted from
//!   the Unix epoch. The phase is a pure function of the key and the interval, so 10,000 series
//!   spread evenly over the interval and a restarted process (or another replica) keeps the
//!   same fire times. See [`next_due`].
//! - `cron: "…"` — the next occurrence in UTC, by `croner` (5 fields, or 6 with seconds).
//! - `jitter: J` — each run is delayed by a fresh random amount in `[0, J × I)` for `every`,
//!   or `[0, J × gap)` for cron, where `gap` is the time from that occurrence to the following
//!   one. `J` is clamped to `[0, 1]`, so a jittered run always starts before the next tick is
//!   due. Jitter never accumulates: the tick after is computed from the un-jittered due time.
//!
//! A tick that comes while the series' previous run is still in flight does not start a
//! second run; it is counted as skipped ([`Stats::skipped`], [`SeriesStats::skipped`],
//! [`Scheduler::on_skip`]) and the series is re-armed for its next tick. A process that falls
//! behind (suspended, overloaded) does not catch up in a burst: after a tick, the next one is
//! the first due time after *now*.
//!
//! # Time
//!
//! Time is tokio's ([`Clock`]): wall time is derived from [`tokio::time::Instant`], so tests
//! that pause and advance tokio's clock control cron schedules and phases too.
//!
//! # Hot reload
//!
//! [`SchedulerHandle::replace`] swaps the series set through a bounded command channel into the
//! run loop (no lock is held across an await, so concurrent callers cannot wedge it). Series
//! whose key and schedule are unchanged keep their queued tick; changed schedules are re-armed;
//! new keys are armed at their phase; removed keys leave the timer (a run in flight finishes
//! but is not re-armed).
//!
//! # Files
//!
//! - `timing.rs`: the wall clock, phases, cron occurrences and jitter
//! - `mod.rs`: the scheduler, its run loop and hot reload

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::time::{DelayQueue, delay_queue};

use crate::plan::Series;

mod timing;

pub use timing::{Clock, jitter_window, next_due, phase};
use timing::{random_delay, same_schedule};

/// The furthest ahead a tick is put in the timer. `DelayQueue` panics beyond about two years;
/// a tick further away (a yearly cron) wakes the loop once a day and is put back.
const MAX_ARM: Duration = Duration::from_secs(86_400);

/// Pending commands (reloads) before senders wait.
const COMMAND_CAPACITY: usize = 16;

/// One due run, handed to the `fire` function of [`Scheduler::run`].
#[derive(Debug, Clone)]
pub struct Fire {
    /// The series to run.
    pub series: Series,
    /// When the run was meant to start (its due time plus its jitter).
    pub scheduled: SystemTime,
    /// How late the timer fired against `scheduled`: the `picket.schedule.lateness` value.
    pub lateness: Duration,
}

/// Counters of the whole scheduler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Series scheduled.
    pub series: usize,
    /// Runs started.
    pub fired: u64,
    /// Ticks skipped because the series' previous run was still in flight.
    pub skipped: u64,
    /// Runs in flight now.
    pub in_flight: usize,
}

/// Counters and the next tick of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesStats {
    /// Runs started.
    pub fired: u64,
    /// Ticks skipped because the previous run was still in flight.
    pub skipped: u64,
    /// When the next run is due (with jitter), if ever.
    pub next: Option<SystemTime>,
}

/// What a [`SchedulerHandle::replace`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replaced {
    /// New keys, armed at their phase.
    pub added: usize,
    /// Keys no longer present, dropped from the timer.
    pub removed: usize,
    /// Keys present before and after with the same schedule: their tick is untouched.
    pub kept: usize,
    /// Keys whose schedule changed: re-armed.
    pub rearmed: usize,
}

/// How soon after a replace added it a new series first runs: at a random moment within
/// this window.
pub const FIRST_RUN_SPREAD: Duration = Duration::from_secs(5);

/// The scheduler loop has stopped (shut down), so it cannot take commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the scheduler has stopped")]
pub struct Stopped;

/// The counters and per-series statistics shared by the loop and its handles. Locks are
/// held only for a map update, never across an await.
#[derive(Debug, Default)]
struct Counters {
    fired: AtomicU64,
    skipped: AtomicU64,
    series: AtomicUsize,
    in_flight: AtomicUsize,
    running: AtomicBool,
    per_series: Mutex<HashMap<String, SeriesStats>>,
}

impl Counters {
    fn per_series(&self) -> MutexGuard<'_, HashMap<String, SeriesStats>> {
        // A panic elsewhere while holding the lock leaves counters, which are still usable.
        self.per_series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

enum Command {
    Replace {
        series: Vec<Series>,
        /// Whether the series it adds first run soon ([`FIRST_RUN_SPREAD`]) rather than at
        /// their phase.
        soon: bool,
        reply: oneshot::Sender<Replaced>,
    },
}

/// A cheap, clonable handle to a [`Scheduler`]: reload its series and read its counters.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    commands: mpsc::Sender<Command>,
    counters: Arc<Counters>,
}

impl SchedulerHandle {
    /// Replaces the set of series (hot reload) and returns what changed. Series are matched by
    /// key; with duplicate keys the last one wins. Waits while the loop is busy (the command
    /// channel is bounded), or until [`Scheduler::run`] starts if it has not yet; fails only if
    /// the loop has stopped.
    pub async fn replace(&self, series: Vec<Series>) -> Result<Replaced, Stopped> {
        self.command(series, false).await
    }

    /// As [`SchedulerHandle::replace`], with the series it adds (a new target or probe) run
    /// first within [`FIRST_RUN_SPREAD`], not at their phase: what a reload or discovery
    /// adds is probed within seconds. Their later runs follow their phase.
    pub async fn replace_soon(&self, series: Vec<Series>) -> Result<Replaced, Stopped> {
        self.command(series, true).await
    }

    async fn command(&self, series: Vec<Series>, soon: bool) -> Result<Replaced, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Replace {
                series,
                soon,
                reply,
            })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Whole-scheduler counters.
    pub fn stats(&self) -> Stats {
        Stats {
            series: self.counters.series.load(Ordering::Relaxed),
            fired: self.counters.fired.load(Ordering::Relaxed),
            skipped: self.counters.skipped.load(Ordering::Relaxed),
            in_flight: self.counters.in_flight.load(Ordering::Relaxed),
        }
    }

    /// Counters of one series, by key; `None` if it is not scheduled.
    pub fn series_stats(&self, key: &str) -> Option<SeriesStats> {
        self.counters.per_series().get(key).copied()
    }

    /// Whether the loop is running (for `/readyz`).
    pub fn is_running(&self) -> bool {
        self.counters.running.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Replace { series, .. } => f
                .debug_struct("Replace")
                .field("series", &series.len())
                .finish(),
        }
    }
}

/// Marks a series' run in flight; dropping it (the run finished, panicked or was cancelled)
/// clears the mark.
struct InFlight {
    flag: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::Release);
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One scheduled series and its armed tick.
struct Entry {
    series: Series,
    /// The un-jittered due time of the armed tick; the next tick is computed from it.
    due: SystemTime,
    /// When the armed tick fires: `due` plus jitter.
    at: SystemTime,
    /// The tick in the timer; `None` while not armed (never due again).
    slot: Option<delay_queue::Key>,
    /// The tick was put in the timer earlier than `at` (beyond [`MAX_ARM`]): when it pops,
    /// put it back instead of firing.
    early: bool,
    /// Set while a run of this series is in flight.
    in_flight: Arc<AtomicBool>,
    /// The last replace that planned it (see [`Scheduler::replace`]).
    generation: u64,
}

type SkipHook = Box<dyn Fn(&Series) + Send + Sync>;

/// The scheduler: one timer of every series' next tick, and the loop that fires them.
pub struct Scheduler {
    clock: Clock,
    timer: DelayQueue<String>,
    /// By key, hashed with foldhash: a reload looks up every series (100,000 lookups), and
    /// the keys come from the operator's own files, not from anyone who could aim collisions.
    entries: HashMap<String, Entry, foldhash::fast::RandomState>,
    /// In-flight marks of removed series whose run has not finished, so that re-adding the
    /// key before it finishes does not start a second run beside it.
    draining: HashMap<String, Arc<AtomicBool>>,
    initial: Vec<Series>,
    tracker: TaskTracker,
    counters: Arc<Counters>,
    commands: mpsc::Receiver<Command>,
    sender: mpsc::Sender<Command>,
    on_skip: Option<SkipHook>,
    /// Counts replaces: what an entry's `generation` is compared with.
    generation: u64,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("clock", &self.clock)
            .field("series", &self.entries.len())
            .field("initial", &self.initial.len())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler of `series`, armed when [`Scheduler::run`] starts.
    pub fn new(series: Vec<Series>, clock: Clock) -> Scheduler {
        let (sender, commands) = mpsc::channel(COMMAND_CAPACITY);
        Scheduler {
            clock,
            timer: DelayQueue::new(),
            entries: HashMap::default(),
            draining: HashMap::new(),
            initial: series,
            tracker: TaskTracker::new(),
            counters: Arc::default(),
            commands,
            sender,
            on_skip: None,
            generation: 0,
        }
    }

    /// Calls `hook` for every skipped tick (e.g. to count it in telemetry). It runs on the
    /// scheduler loop, so it must be quick and must not block.
    pub fn on_skip(mut self, hook: impl Fn(&Series) + Send + Sync + 'static) -> Scheduler {
        self.on_skip = Some(Box::new(hook));
        self
    }

    /// A handle to reload series and read counters.
    pub fn handle(&self) -> SchedulerHandle {
        SchedulerHandle {
            commands: self.sender.clone(),
            counters: Arc::clone(&self.counters),
        }
    }

    /// The tracker of spawned runs. It is closed when [`Scheduler::run`] returns, so
    /// `tracker.wait()` (bounded by a timeout) waits for the runs still in flight.
    pub fn tracker(&self) -> TaskTracker {
        self.tracker.clone()
    }

    /// Runs the loop until `shutdown` is cancelled: each due tick calls `fire` and spawns the
    /// future it returns on the tracker, unless the series' previous run is still in flight.
    /// Returns once the loop has stopped firing; runs in flight continue (see
    /// [`Scheduler::tracker`]).
    pub async fn run<F, Fut>(mut self, fire: F, shutdown: CancellationToken)
    where
        F: Fn(Fire) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let initial = std::mem::take(&mut self.initial);
        self.replace(initial, false);
        self.counters.running.store(true, Ordering::Release);
        loop {
            // Biased: shutdown first so nothing fires after it; ticks before reloads so a
            // stream of reloads cannot starve due runs (each reload is bounded work).
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(expired) = std::future::poll_fn(|cx| self.timer.poll_expired(cx)) => {
                    self.tick(expired.into_inner(), &fire);
                }
                Some(command) = self.commands.recv() => self.apply(command),
            }
        }
        self.counters.running.store(false, Ordering::Release);
        self.tracker.close();
        tracing::debug!(
            in_flight = self.counters.in_flight.load(Ordering::Relaxed),
            "scheduler stopped"
        );
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Replace {
                series,
                soon,
                reply,
            } => {
                let replaced = self.replace(series, soon);
                // The caller may have given up waiting; the reload is done regardless.
                let _ = reply.send(replaced);
            }
        }
    }

    /// Handles a popped tick of `key`.
    fn tick<F, Fut>(&mut self, key: String, fire: &F)
    where
        F: Fn(Fire) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        entry.slot = None;
        if entry.early {
            self.insert(&key);
            return;
        }
        let now = self.clock.now_wall();
        let lateness = now.duration_since(entry.at).unwrap_or(Duration::ZERO);
        let skipped = entry.in_flight.load(Ordering::Acquire);
        if skipped {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                series = %key,
                "tick skipped: the previous run is still in flight"
            );
            if let Some(hook) = &self.on_skip {
                hook(&entry.series);
            }
        } else {
            entry.in_flight.store(true, Ordering::Release);
            self.counters.in_flight.fetch_add(1, Ordering::Relaxed);
            self.counters.fired.fetch_add(1, Ordering::Relaxed);
            let guard = InFlight {
                flag: Arc::clone(&entry.in_flight),
                counters: Arc::clone(&self.counters),
            };
            let run = fire(Fire {
                series: entry.series.clone(),
                scheduled: entry.at,
                lateness,
            });
            self.tracker.spawn(async move {
                let _guard = guard;
                run.await;
            });
        }
        if let Some(counts) = self.counters.per_series().get_mut(&key) {
            if skipped {
                counts.skipped += 1;
            } else {
                counts.fired += 1;
            }
        }
        // From the un-jittered due time, or from now if the loop fell behind: no catch-up.
        let after = entry.due.max(now);
        self.arm(&key, after);
    }

    /// Computes the next tick of `key` strictly after `after` and puts it in the timer.
    fn arm(&mut self, key: &str, after: SystemTime) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if let Some(slot) = entry.slot.take() {
            self.timer.try_remove(&slot);
        }
        let schedule = entry.series.schedule();
        let Some(due) = next_due(schedule, entry.series.hash, after) else {
            tracing::debug!(series = %key, "series has no further due time");
            if let Some(counts) = self.counters.per_series().get_mut(key) {
                counts.next = None;
            }
            return;
        };
        let delay = random_delay(jitter_window(schedule, due));
        entry.due = due;
        entry.at = due.checked_add(delay).unwrap_or(due);
        self.insert(key);
    }

    /// Arms the first tick of a series a replace added (a new target, discovered or from a
    /// reloaded file, or a new probe): at its phase if that comes within
    /// [`FIRST_RUN_SPREAD`], else at a random moment within it, rather than up to a whole
    /// interval away; its later ticks follow its phase. A
    /// new service is probed within seconds of appearing, and many appearing at once are
    /// spread over the window.
    fn arm_first(&mut self, key: &str, now: SystemTime) {
        // Its phase, when that comes within the window anyway (a series every second).
        self.arm(key, now);
        let soon = now.checked_add(FIRST_RUN_SPREAD).unwrap_or(now);
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.at <= soon {
            return;
        }
        if let Some(slot) = entry.slot.take() {
            self.timer.try_remove(&slot);
        }
        entry.due = now;
        entry.at = now
            .checked_add(random_delay(FIRST_RUN_SPREAD))
            .unwrap_or(now);
        self.insert(key);
    }

    /// Puts the armed tick of `key` (at `entry.at`) in the timer, no further than [`MAX_ARM`].
    fn insert(&mut self, key: &str) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let limit = Instant::now() + MAX_ARM;
        let (when, early) = match self.clock.instant_at(entry.at) {
            Some(when) if when <= limit => (when, false),
            _ => (limit, true),
        };
        entry.early = early;
        entry.slot = Some(self.timer.insert_at(key.to_string(), when));
        if let Some(counts) = self.counters.per_series().get_mut(key) {
            counts.next = Some(entry.at);
        }
    }

    /// Replaces the set of series: see [`SchedulerHandle::replace`].
    fn replace(&mut self, series: Vec<Series>, soon: bool) -> Replaced {
        let now = self.clock.now_wall();
        let mut out = Replaced::default();
        // Series already scheduled take their new version in place (no key is copied: a
        // reload of 100,000 series keeps nearly all of them); the others are added after.
        let mut added = Vec::new();
        let mut rearm = Vec::new();
        self.generation = self.generation.wrapping_add(1);
        let mut kept = 0;
        for new in series {
            match self.entries.get_mut(new.key.as_str()) {
                Some(entry) => {
                    let same = entry.series.hash == new.hash
                        && same_schedule(entry.series.schedule(), new.schedule());
                    if !same {
                        rearm.push(new.key.clone());
                        out.rearmed += 1;
                    } else {
                        out.kept += 1;
                    }
                    // Always take the new series: its checks or target may have changed.
                    entry.series = new;
                    entry.generation = self.generation;
                    kept += 1;
                }
                None => added.push(new),
            }
        }
        if kept < self.entries.len() {
            let gone: Vec<String> = self
                .entries
                .iter()
                .filter(|(_, e)| e.generation != self.generation)
                .map(|(k, _)| k.clone())
                .collect();
            for key in gone {
                self.remove(&key);
                out.removed += 1;
            }
        }
        for key in rearm {
            self.arm(&key, now);
        }
        for series in added {
            let key = series.key.clone();
            let in_flight = self.draining.remove(&key).unwrap_or_default();
            self.entries.insert(
                key.clone(),
                Entry {
                    series,
                    due: now,
                    at: now,
                    slot: None,
                    early: false,
                    in_flight,
                    generation: self.generation,
                },
            );
            self.counters
                .per_series()
                .insert(key.clone(), SeriesStats::default());
            if soon {
                self.arm_first(&key, now);
            } else {
                self.arm(&key, now);
            }
            out.added += 1;
        }
        self.draining.retain(|_, flag| flag.load(Ordering::Acquire));
        self.counters
            .series
            .store(self.entries.len(), Ordering::Relaxed);
        out
    }

    fn remove(&mut self, key: &str) {
        let Some(entry) = self.entries.remove(key) else {
            return;
        };
        if let Some(slot) = entry.slot {
            self.timer.try_remove(&slot);
        }
        if entry.in_flight.load(Ordering::Acquire) {
            self.draining.insert(key.to_string(), entry.in_flight);
        }
        self.counters.per_series().remove(key);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;
    use std::sync::LazyLock;
    use std::time::UNIX_EPOCH;

    use tokio::time::sleep;

    use super::*;
    use crate::config::{Config, Defaults};
    use crate::diag::Diagnostics;
    use crate::plan::stable_hash;
    use crate::units::{Schedule, parse_cron};

    /// A probe and target to clone into test series; only key, hash and schedule matter here.
    static BASE: LazyLock<Series> = LazyLock::new(|| {
        let file = Path::new("test.yaml");
        let yaml = "id: test/probe\nname: test\nseverity: low\nhttp:\n  path: /\nchecks:\n  - status: 200\n";
        let raw = crate::yaml::parse_yaml(file, yaml).expect("probe parses");
        let mut diags = Diagnostics::default();
        let probe = crate::probe::compile(file, raw, &Defaults::default(), &mut diags)
            .expect("probe compiles");
        let url = url::Url::parse("http://127.0.0.1/").expect("url");
        let target = Config::adhoc(url, Vec::new()).targets.remove(0);
        Series {
            probe: Arc::new(probe),
            target: Arc::new(target),
            key: "test/probe@127.0.0.1".into(),
            hash: stable_hash("test/probe@127.0.0.1"),
            schedule_override: None,
            acceptance: None,
            windows: Vec::new(),
        }
    });

    fn series(key: &str, schedule: Schedule) -> Series {
        let probe = crate::probe::Probe {
            schedule,
            ..(*BASE.probe).clone()
        };
        Series {
            probe: Arc::new(probe),
            target: Arc::clone(&BASE.target),
            key: key.to_string(),
            hash: stable_hash(key),
            schedule_override: None,
            acceptance: None,
            windows: Vec::new(),
        }
    }

    pub(super) fn every(secs: u64, jitter: f64) -> Schedule {
        Schedule::Every {
            interval: Duration::from_secs(secs),
            jitter,
        }
    }

    pub(super) fn cron(expression: &str) -> Schedule {
        Schedule::Cron {
            expression: expression.to_string(),
            cron: Box::new(parse_cron(expression).expect("cron parses")),
            jitter: 0.0,
        }
    }

    pub(super) fn wall_ms(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn ms(t: SystemTime) -> u64 {
        u64::try_from(
            t.duration_since(UNIX_EPOCH)
                .expect("after epoch")
                .as_millis(),
        )
        .expect("fits")
    }

    /// Realistic keys: `probe @ target`.
    pub(super) fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("headers/check-{}@service-{}", i % 37, i / 37))
            .collect()
    }

    /// A start time (ms, a multiple of 10 s plus an offset) at which no series of `keys` is
    /// due on a 10 s interval, so no tick ever coincides with the end of a test window.
    fn start_avoiding(keys: &[String]) -> u64 {
        let phases: BTreeSet<u64> = keys.iter().map(|k| stable_hash(k) % 10_000).collect();
        let offset = (0..10_000)
            .find(|o| !phases.contains(o))
            .expect("a free offset");
        1_700_000_000_000 + offset
    }

    /// What a test `fire` function saw.
    #[derive(Debug, Clone)]
    struct Seen {
        key: String,
        /// The wall time when `fire` was called.
        at: SystemTime,
        scheduled: SystemTime,
        lateness: Duration,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// A `fire` function that records each call and returns a run taking `run_for`.
    fn recorder(
        clock: Clock,
        run_for: Duration,
    ) -> (Log, impl Fn(Fire) -> tokio::time::Sleep + Send + 'static) {
        let log: Log = Arc::default();
        let record = Arc::clone(&log);
        let fire = move |fire: Fire| {
            record.lock().expect("log").push(Seen {
                key: fire.series.key.clone(),
                at: clock.now_wall(),
                scheduled: fire.scheduled,
                lateness: fire.lateness,
            });
            sleep(run_for)
        };
        (log, fire)
    }

    fn taken(log: &Log) -> Vec<Seen> {
        std::mem::take(&mut *log.lock().expect("log"))
    }

    /// Fire times (ms) per key.
    fn by_key(seen: &[Seen]) -> BTreeMap<String, Vec<u64>> {
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for s in seen {
            out.entry(s.key.clone()).or_default().push(ms(s.at));
        }
        out
    }

    struct Running {
        handle: SchedulerHandle,
        tracker: TaskTracker,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    impl Running {
        async fn stop(self) {
            self.shutdown.cancel();
            self.task.await.expect("scheduler task");
            assert!(!self.handle.is_running());
            assert!(self.tracker.is_closed());
        }
    }

    async fn start<F, Fut>(scheduler: Scheduler, fire: F) -> Running
    where
        F: Fn(Fire) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = scheduler.handle();
        let tracker = scheduler.tracker();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(scheduler.run(fire, shutdown.clone()));
        // Let the loop arm its series before the test moves time.
        while !handle.is_running() {
            tokio::task::yield_now().await;
        }
        Running {
            handle,
            tracker,
            shutdown,
            task,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_replace_soon_adds_runs_within_seconds_then_at_its_phase() {
        let start_ms = 1_700_000_000_000;
        let clock = Clock::at(wall_ms(start_ms));
        let (log, fire) = recorder(clock, Duration::from_millis(10));
        let running = start(Scheduler::new(Vec::new(), clock), fire).await;
        let hourly = |key: &str| series(key, every(3_600, 0.0));
        let fast = series("fast@svc", every(1, 0.0));
        let fast_phase =
            next_due(&every(1, 0.0), stable_hash("fast@svc"), wall_ms(start_ms)).expect("due");
        running
            .handle
            .replace_soon(vec![hourly("new@svc"), fast.clone()])
            .await
            .expect("running");
        // A plain replace adds at the phase, up to an hour away.
        running
            .handle
            .replace(vec![hourly("new@svc"), hourly("phased@svc"), fast])
            .await
            .expect("running");
        sleep(FIRST_RUN_SPREAD + Duration::from_millis(100)).await;
        let first = by_key(&taken(&log));
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            ["fast@svc", "new@svc"],
            "{first:?}"
        );
        assert!(first["new@svc"][0] <= start_ms + 5_000);
        // A series whose phase comes sooner than the window runs at its phase.
        assert_eq!(first["fast@svc"][0], ms(fast_phase));
        // Its next run is at its phase, as for every other series.
        let phase = next_due(
            &every(3_600, 0.0),
            stable_hash("new@svc"),
            wall_ms(start_ms + 5_000),
        )
        .expect("due");
        sleep(Duration::from_secs(3_600)).await;
        let later = by_key(&taken(&log));
        assert_eq!(later["new@svc"], [ms(phase)]);
        running.stop().await;
    }

    // ---- pure functions -------------------------------------------------------------------

    #[tokio::test(start_paused = true)]
    async fn the_loop_is_send_so_the_service_can_spawn_it() {
        fn assert_send<T: Send>(_: &T) {}
        let scheduler = Scheduler::new(Vec::new(), Clock::system());
        let run = scheduler.run(|_fire| async {}, CancellationToken::new());
        assert_send(&run);
    }

    // ---- the loop, under tokio's paused clock ---------------------------------------------
    //
    // `sleep` under a paused clock auto-advances time to the next timer whenever the runtime
    // is idle, so the loop handles every tick at its exact instant.

    /// Acceptance 1: phases spread runs evenly; each series fires once per interval.
    #[tokio::test(start_paused = true)]
    async fn phases_spread_runs_evenly_and_each_series_fires_once_per_interval() {
        let keys = keys(1_000);
        let start_ms = start_avoiding(&keys);
        let clock = Clock::at(wall_ms(start_ms));
        let all = keys.iter().map(|k| series(k, every(10, 0.0))).collect();
        let (log, fire) = recorder(clock, Duration::ZERO);
        let running = start(Scheduler::new(all, clock), fire).await;

        sleep(Duration::from_secs(30)).await;
        let seen = taken(&log);
        let fires = by_key(&seen);
        assert_eq!(fires.len(), 1_000);
        for (key, times) in &fires {
            assert_eq!(times.len(), 3, "{key}: {times:?}");
            assert!(
                times.windows(2).all(|w| w[1] - w[0] == 10_000),
                "{key}: {times:?}"
            );
        }
        // Per 1-second bucket of the first interval.
        let mut buckets = [0u32; 10];
        for s in &seen {
            let elapsed = ms(s.at) - start_ms;
            if elapsed < 10_000 {
                buckets[usize::try_from(elapsed / 1_000).expect("bucket")] += 1;
            }
        }
        assert_eq!(buckets.iter().sum::<u32>(), 1_000);
        for count in buckets {
            assert!((60..=140).contains(&count), "uneven: {buckets:?}");
        }
        let stats = running.handle.stats();
        assert_eq!(
            (stats.series, stats.fired, stats.skipped),
            (1_000, 3_000, 0)
        );
        running.stop().await;
    }

    /// Acceptance 2: a restarted process (new clock anchor) keeps every series' fire times.
    #[tokio::test(start_paused = true)]
    async fn phases_survive_a_restart() {
        let keys = keys(200);
        let interval = 10_000;
        let first_start = 1_700_000_003_217;
        let all: Vec<Series> = keys.iter().map(|k| series(k, every(10, 0.0))).collect();

        let mut phases = Vec::new();
        let mut restart_at = first_start;
        for down_for in [0, 7_300] {
            // A new process: a new clock anchored at this instant, 7.3 s after the last one
            // stopped, and a new scheduler.
            restart_at += down_for;
            let clock = Clock::at(wall_ms(restart_at));
            let (log, fire) = recorder(clock, Duration::ZERO);
            let running = start(Scheduler::new(all.clone(), clock), fire).await;
            sleep(Duration::from_secs(30)).await;
            running.stop().await;
            restart_at += 30_000;

            let mut by_phase = BTreeMap::new();
            for (key, times) in by_key(&taken(&log)) {
                assert!(times.len() >= 2, "{key}: {times:?}");
                let mods: BTreeSet<u64> = times.iter().map(|t| t % interval).collect();
                assert_eq!(mods.len(), 1, "{key} drifted: {times:?}");
                let only = *mods.first().expect("one");
                // The documented formula: phase = hash % interval.
                assert_eq!(only, stable_hash(&key) % interval, "{key}");
                by_phase.insert(key, only);
            }
            assert_eq!(by_phase.len(), 200);
            phases.push(by_phase);
        }
        assert_eq!(phases[0], phases[1]);
    }

    /// Acceptance 3: a run that outlasts its interval is not overlapped; the missed ticks are
    /// counted as skipped and firing resumes.
    #[tokio::test(start_paused = true)]
    async fn a_slow_run_is_not_overlapped_and_missed_ticks_are_skipped() {
        let key = "tls/slow@payments";
        let start_ms = 1_700_000_000_000 + (stable_hash(key) + 5_000) % 10_000;
        let clock = Clock::at(wall_ms(start_ms));
        let slow = series(key, every(10, 0.0));
        let first = next_due(&slow.probe.schedule, slow.hash, wall_ms(start_ms)).expect("due");
        let hooked = Arc::new(AtomicU64::new(0));
        let hook_count = Arc::clone(&hooked);
        let scheduler = Scheduler::new(vec![slow], clock).on_skip(move |series| {
            assert_eq!(series.key, "tls/slow@payments");
            hook_count.fetch_add(1, Ordering::Relaxed);
        });
        // Each run takes 2.5 intervals.
        let (log, fire) = recorder(clock, Duration::from_millis(25_000));
        let running = start(scheduler, fire).await;
        let at = |offset_ms: u64| {
            clock
                .instant_at(first + Duration::from_millis(offset_ms))
                .expect("instant")
        };

        tokio::time::sleep_until(at(5_000)).await;
        assert_eq!(running.handle.stats().in_flight, 1);
        // Ticks at +10 s and +20 s find the run in flight; it ends at +25 s; +30 s fires.
        tokio::time::sleep_until(at(35_000)).await;
        let times: Vec<u64> = taken(&log).iter().map(|s| ms(s.at)).collect();
        assert_eq!(times, vec![ms(first), ms(first) + 30_000]);
        let stats = running.handle.stats();
        assert_eq!((stats.fired, stats.skipped, stats.in_flight), (2, 2, 1));
        let one = running.handle.series_stats(key).expect("scheduled");
        assert_eq!((one.fired, one.skipped), (2, 2));
        assert_eq!(one.next, Some(first + Duration::from_secs(40)));
        assert_eq!(hooked.load(Ordering::Relaxed), 2);

        // Shutdown stops firing; the tracker waits for the run in flight.
        let tracker = running.tracker.clone();
        running.stop().await;
        let waited = Instant::now();
        tracker.wait().await;
        assert_eq!(waited.elapsed(), Duration::from_secs(20));
        assert!(taken(&log).is_empty());
    }

    /// Acceptance 4: cron schedules fire at the matching wall-clock seconds (UTC).
    #[tokio::test(start_paused = true)]
    async fn cron_fires_at_matching_wall_clock_seconds() {
        // 2024-01-01T00:00:02.000Z
        let start_ms = 1_704_067_202_000;
        let clock = Clock::at(wall_ms(start_ms));
        let all = vec![
            series("a@web", cron("*/5 * * * * *")),
            series("b@web", cron("*/5 * * * * *")),
            series("minutely@web", cron("* * * * *")),
        ];
        let (log, fire) = recorder(clock, Duration::ZERO);
        let running = start(Scheduler::new(all, clock), fire).await;
        sleep(Duration::from_secs(121)).await;
        running.stop().await;

        let fires = by_key(&taken(&log));
        let every_five: Vec<u64> = (1..=24).map(|i| 1_704_067_200_000 + i * 5_000).collect();
        assert_eq!(fires["a@web"], every_five);
        assert_eq!(fires["b@web"], every_five);
        assert_eq!(
            fires["minutely@web"],
            vec![1_704_067_260_000, 1_704_067_320_000]
        );
    }

    /// Acceptance 5: `replace` adds, removes, keeps queued ticks and phases, re-arms changed
    /// schedules.
    #[tokio::test(start_paused = true)]
    async fn replace_adds_removes_and_keeps_phases() {
        let keys = ["a@web", "b@web", "c@web", "d@web"].map(String::from);
        let start_ms = start_avoiding(&keys);
        let clock = Clock::at(wall_ms(start_ms));
        // b has jitter: its queued tick (with its random delay) must survive the reload as is.
        let before = vec![
            series("a@web", every(10, 0.0)),
            series("b@web", every(10, 0.5)),
            series("c@web", every(10, 0.0)),
        ];
        let (log, fire) = recorder(clock, Duration::ZERO);
        let running = start(Scheduler::new(before, clock), fire).await;
        sleep(Duration::from_secs(15)).await;
        let first = by_key(&taken(&log));
        assert_eq!(first.keys().count(), 3);
        let b_next = running.handle.series_stats("b@web").expect("b").next;

        let after = vec![
            series("b@web", every(10, 0.5)),
            series("c@web", every(20, 0.0)),
            series("d@web", every(10, 0.0)),
        ];
        let replaced = running.handle.replace(after).await.expect("running");
        assert_eq!(
            replaced,
            Replaced {
                added: 1,
                removed: 1,
                kept: 1,
                rearmed: 1
            }
        );
        assert_eq!(
            running.handle.series_stats("b@web").expect("b").next,
            b_next
        );
        assert_eq!(running.handle.series_stats("a@web"), None);
        assert_eq!(running.handle.stats().series, 3);
        let replaced_at = ms(clock.now_wall());

        sleep(Duration::from_secs(40)).await;
        let second = by_key(&taken(&log));
        assert!(!second.contains_key("a@web"), "a was removed");
        let b: Vec<u64> = first["b@web"]
            .iter()
            .chain(&second["b@web"])
            .copied()
            .collect();
        // Once per interval, in consecutive intervals. Jitter may push the last due run past the
        // end of the window, so the count is 5 or 6; what matters is that no interval is
        // skipped or doubled.
        let phase = stable_hash("b@web") % 10_000;
        let intervals: Vec<u64> = b.iter().map(|t| (t - phase) / 10_000).collect();
        assert!(
            intervals.windows(2).all(|w| w[1] == w[0] + 1),
            "b kept firing once per interval: {b:?}"
        );
        assert!((5..=6).contains(&b.len()), "b kept firing: {b:?}");
        for t in &b {
            // Jitter 0.5: within the first half of the interval after b's phase.
            assert!((t + 10_000 - stable_hash("b@web") % 10_000) % 10_000 < 5_000);
        }
        let c = &second["c@web"];
        assert_eq!(c.len(), 2, "c now every 20 s: {c:?}");
        assert!(
            c.iter()
                .all(|t| t % 20_000 == stable_hash("c@web") % 20_000)
        );
        let d = &second["d@web"];
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(
            d.iter()
                .all(|t| t % 10_000 == stable_hash("d@web") % 10_000 && *t > replaced_at)
        );
        running.stop().await;
    }

    /// A removed series' run in flight finishes but is not re-armed; re-adding the key while
    /// it still runs does not start a second run beside it.
    #[tokio::test(start_paused = true)]
    async fn a_removed_run_finishes_and_a_re_added_key_does_not_overlap_it() {
        let key = "auth/slow@web";
        let start_ms = 1_700_000_000_000 + (stable_hash(key) + 5_000) % 10_000;
        let clock = Clock::at(wall_ms(start_ms));
        let slow = || series(key, every(10, 0.0));
        let first =
            next_due(&slow().probe.schedule, stable_hash(key), wall_ms(start_ms)).expect("due");
        let (log, fire) = recorder(clock, Duration::from_millis(25_000));
        let running = start(Scheduler::new(vec![slow()], clock), fire).await;
        let at = |offset_ms: u64| {
            clock
                .instant_at(first + Duration::from_millis(offset_ms))
                .expect("instant")
        };
        tokio::time::sleep_until(at(1_000)).await;
        let removed = running.handle.replace(Vec::new()).await.expect("running");
        assert_eq!(removed.removed, 1);
        assert_eq!(running.handle.stats().in_flight, 1, "the run continues");
        tokio::time::sleep_until(at(2_000)).await;
        running.handle.replace(vec![slow()]).await.expect("running");
        // +10 s and +20 s: the first run (until +25 s) is still in flight.
        tokio::time::sleep_until(at(35_000)).await;
        let times: Vec<u64> = taken(&log).iter().map(|s| ms(s.at)).collect();
        assert_eq!(times, vec![ms(first), ms(first) + 30_000]);
        assert_eq!(running.handle.series_stats(key).expect("back").skipped, 2);

        // Removed for good: nothing more fires.
        running.handle.replace(Vec::new()).await.expect("running");
        sleep(Duration::from_secs(60)).await;
        assert!(taken(&log).is_empty());
        assert_eq!(running.handle.stats().in_flight, 0);
        running.stop().await;
    }

    /// Acceptance 5: concurrent reloads from several tasks while ticks fire do not wedge the
    /// loop, and it keeps firing afterwards.
    #[tokio::test(start_paused = true)]
    async fn concurrent_replaces_while_firing_do_not_wedge() {
        let keys = keys(300);
        let clock = Clock::at(wall_ms(1_700_000_000_000));
        let set = |range: std::ops::Range<usize>| -> Vec<Series> {
            keys[range]
                .iter()
                .map(|k| series(k, every(1, 0.0)))
                .collect()
        };
        let (log, fire) = recorder(clock, Duration::from_millis(1_500));
        let running = start(Scheduler::new(set(0..200), clock), fire).await;

        let mut reloaders = tokio::task::JoinSet::new();
        for worker in 0..8usize {
            let handle = running.handle.clone();
            let sets = [set(0..200), set(100..300), set(50..250)];
            reloaders.spawn(async move {
                for round in 0..25usize {
                    let next = sets[(worker + round) % 3].clone();
                    handle.replace(next).await.expect("running");
                    sleep(Duration::from_millis(
                        ((worker * 7 + round * 13) % 40) as u64,
                    ))
                    .await;
                }
            });
        }
        // Under a paused clock a wedged loop would let time run to this timeout.
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(done) = reloaders.join_next().await {
                done.expect("reloader");
            }
        })
        .await
        .expect("reloads finished: the loop did not wedge");

        let last = running.handle.replace(set(0..100)).await.expect("running");
        assert_eq!(last.added + last.kept + last.rearmed, 100);
        assert_eq!(running.handle.stats().series, 100);
        taken(&log);
        let fired_before = running.handle.stats().fired;
        sleep(Duration::from_secs(10)).await;
        let seen = taken(&log);
        assert!(seen.iter().all(|s| keys[..100].contains(&s.key)));
        // Runs take 1.5 s on a 1 s interval: every other tick fires.
        let fired = running.handle.stats().fired - fired_before;
        assert!((400..=600).contains(&fired), "{fired}");
        running.stop().await;
    }

    /// Acceptance 6: lateness is reported: zero when the loop is on time under the paused
    /// clock, and the real delay when the clock jumps past a due tick.
    #[tokio::test(start_paused = true)]
    async fn lateness_is_reported() {
        let keys = keys(50);
        let start_ms = start_avoiding(&keys);
        let clock = Clock::at(wall_ms(start_ms));
        let all = keys.iter().map(|k| series(k, every(10, 0.0))).collect();
        let (log, fire) = recorder(clock, Duration::ZERO);
        let running = start(Scheduler::new(all, clock), fire).await;
        sleep(Duration::from_secs(20)).await;
        let seen = taken(&log);
        assert_eq!(seen.len(), 100);
        for s in &seen {
            assert_eq!(s.lateness, Duration::ZERO, "{s:?}");
            assert_eq!(s.scheduled, s.at);
        }

        // Jump the clock over the next 3 s at once: ticks in that window fire late, each by
        // the time from its due time to the jump's end.
        tokio::time::advance(Duration::from_secs(3)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let late = taken(&log);
        assert!(!late.is_empty());
        let now = clock.now_wall();
        for s in &late {
            assert_eq!(s.at, now);
            assert_eq!(s.lateness, now.duration_since(s.scheduled).expect("late"));
            assert!(s.lateness > Duration::ZERO && s.lateness <= Duration::from_secs(3));
        }

        // A stall of several intervals (a suspended process) fires each series once, late,
        // rather than in a burst of catch-up runs; then each is back at its phase.
        tokio::time::advance(Duration::from_secs(35)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let after_stall = by_key(&taken(&log));
        assert_eq!(after_stall.len(), 50);
        assert!(after_stall.values().all(|times| times.len() == 1));
        sleep(Duration::from_secs(10)).await;
        for (key, times) in by_key(&taken(&log)) {
            assert_eq!(times, vec![times[0]], "{key}");
            assert_eq!(times[0] % 10_000, stable_hash(&key) % 10_000, "{key}");
        }
        running.stop().await;
    }

    /// Jitter delays each run by `[0, jitter × interval)` after its phase, and varies.
    #[tokio::test(start_paused = true)]
    async fn jitter_stays_within_its_window() {
        let keys = keys(200);
        let clock = Clock::at(wall_ms(1_700_000_000_000));
        let all = keys.iter().map(|k| series(k, every(10, 0.5))).collect();
        let (log, fire) = recorder(clock, Duration::ZERO);
        let running = start(Scheduler::new(all, clock), fire).await;
        sleep(Duration::from_secs(40)).await;
        running.stop().await;

        let mut offsets = BTreeSet::new();
        for (key, times) in by_key(&taken(&log)) {
            let phase = stable_hash(&key) % 10_000;
            assert!((3..=4).contains(&times.len()), "{key}: {times:?}");
            for t in &times {
                let offset = (t + 10_000 - phase) % 10_000;
                assert!(offset < 5_000, "{key}: {t} is {offset} ms after its phase");
                offsets.insert(offset);
            }
            // Consecutive runs stay roughly one interval apart: no drift, no double fire.
            assert!(
                times
                    .windows(2)
                    .all(|w| (5_001..15_000).contains(&(w[1] - w[0])))
            );
        }
        assert!(offsets.len() > 100, "jitter does not vary: {offsets:?}");
    }
}
