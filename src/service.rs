//! `picket run`: the long-running service, wiring the stages together.
//!
//! ```text
//! Scheduler ─fires─▶ Runner ─RunResult─▶ SeriesState::apply ─▶ Store (durable first)
//!                                                      └──────▶ View (API) and Telemetry
//! ```
//!
//! Every task gets the shutdown token; in-flight runs are tracked and drained within a grace
//! period; the state store is synced and telemetry flushed before [`Running::wait`] returns. A
//! reload (SIGHUP, or a changed config or probe file) loads everything again and swaps it in
//! only if it is valid: a failing reload keeps the last good configuration.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::api::{self, Entry, View};
use crate::load::{self, Loaded};
use crate::plan::{self, Series};
use crate::run::Runner;
use crate::schedule::{self, Fire, Scheduler, SchedulerHandle};
use crate::state::{self, SeriesState, Store, Transition};
use crate::telemetry::{self, SeriesLabels, Telemetry};

/// Looks up environment variables for reloads; shared with the reload task.
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How `picket run` was started.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The config file, re-read on reload.
    pub config_path: PathBuf,
    /// `Some((i, n))`: keep only series whose hash falls in shard `i` of `n`.
    pub shard: Option<(u32, u32)>,
    /// How long shutdown waits for runs in flight before abandoning them.
    pub grace: Duration,
    /// Overrides `api.listen` (tests bind port 0).
    pub api_listen: Option<SocketAddr>,
    /// How often config, target and probe files are checked for changes (`None`: never).
    pub watch_interval: Option<Duration>,
}

/// A started service.
pub struct Running {
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// What the API shows (for in-process tests).
    pub view: Arc<View>,
    reload: mpsc::Sender<()>,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks for a reload, as SIGHUP does.
    pub fn reload(&self) {
        let _ = self.reload.try_send(());
    }

    /// A sender that triggers reloads (for signal handlers).
    pub fn reloader(&self) -> mpsc::Sender<()> {
        self.reload.clone()
    }

    /// Waits until the service has shut down (after the shutdown token was cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.join.await.context("service task failed")?
    }
}

/// Everything a run task needs, shared.
struct Shared {
    runner: RwLock<Arc<Runner>>,
    states: Mutex<HashMap<String, SeriesState>>,
    store: Store,
    view: Arc<View>,
    telemetry: Telemetry,
    /// Files and folders whose changes trigger a reload.
    watched: Mutex<Vec<PathBuf>>,
}

impl Shared {
    fn runner(&self) -> Arc<Runner> {
        match self.runner.read() {
            Ok(r) => Arc::clone(&r),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

fn labels(series: &Series) -> SeriesLabels<'_> {
    SeriesLabels::of(series)
}

fn planned(loaded: &Loaded, shard: Option<(u32, u32)>) -> Vec<Series> {
    let mut series = plan::plan(loaded).series;
    if let Some(shard) = shard {
        series.retain(|s| schedule::in_shard(s.hash, shard));
    }
    series
}

fn entry(series: &Series, state: SeriesState) -> Entry {
    Entry {
        probe: series.probe.id.clone(),
        target: series.target.name.clone(),
        severity: series.probe.severity,
        tags: series.target.tags.iter().cloned().collect(),
        name: series.probe.name.clone(),
        state,
    }
}

/// Starts the service: opens the store, binds the API, starts the scheduler. Returns once all
/// of that is up; the service then runs until `shutdown` is cancelled.
pub async fn start(
    loaded: Loaded,
    opts: ServiceOptions,
    telemetry: Telemetry,
    env: SharedEnv,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let (store, stored) = Store::open(&loaded.config.state_path)
        .with_context(|| "cannot open the state store (is another picket using it?)")?;
    let runner = Runner::new(&loaded.config).context("cannot set up HTTP clients")?;
    let series = planned(&loaded, opts.shard);

    let view = Arc::new(View::default());
    let states: HashMap<String, SeriesState> = stored.into_iter().collect();
    for s in &series {
        let state = states.get(&s.key).cloned().unwrap_or_default();
        if state.state != state::State::Unknown {
            telemetry.record_state(
                &labels(s),
                state.state == state::State::Passing,
                state.state == state::State::Regressed,
            );
        }
        view.put(&s.key, entry(s, state));
    }

    let listen = opts.api_listen.unwrap_or(loaded.config.api_listen);
    let api_token = CancellationToken::new();
    let (api_addr, api_task) = api::serve(listen, Arc::clone(&view), api_token.clone())
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %api_addr, "API listening");

    let shared = Arc::new(Shared {
        runner: RwLock::new(Arc::new(runner)),
        states: Mutex::new(states),
        store,
        view: Arc::clone(&view),
        telemetry,
        watched: Mutex::new(watched_paths(&opts.config_path, &loaded)),
    });

    tracing::info!(
        series = series.len(),
        probes = loaded.probes.len(),
        targets = loaded.config.targets.len(),
        "service started"
    );
    let skip_telemetry = shared.telemetry.clone();
    let scheduler = Scheduler::new(series, schedule::Clock::system()).on_skip(move |s| {
        tracing::debug!(series = %s.key, "previous run still in flight; tick skipped");
        skip_telemetry.record_skipped(&labels(s));
    });
    let handle = scheduler.handle();
    let tracker = scheduler.tracker();
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let reload_tx_watch = reload_tx.clone();

    let join = tokio::spawn({
        let shared = Arc::clone(&shared);
        let view = Arc::clone(&view);
        let shutdown = shutdown.clone();
        async move {
            let fire_shared = Arc::clone(&shared);
            let scheduler_task = tokio::spawn(scheduler.run(
                move |fire: Fire| execute(Arc::clone(&fire_shared), fire),
                shutdown.clone(),
            ));
            view.set_ready(true);
            let watcher = opts.watch_interval.map(|every| {
                tokio::spawn(watch_files(
                    Arc::clone(&shared),
                    every,
                    reload_tx_watch,
                    shutdown.clone(),
                ))
            });
            let reloads = tokio::spawn(reload_loop(
                reload_rx,
                Arc::clone(&shared),
                handle,
                opts.clone(),
                env,
                shutdown.clone(),
            ));

            shutdown.cancelled().await;
            view.set_ready(false);
            tracing::info!("shutting down");
            let _ = scheduler_task.await;
            reloads.abort();
            if let Some(w) = watcher {
                w.abort();
            }
            tracker.close();
            if tokio::time::timeout(opts.grace, tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(grace = ?opts.grace, "runs still in flight after the grace period; abandoning them");
            }
            if let Err(e) = shared.store.sync().await {
                tracing::error!(error = %e, "state sync failed");
            }
            // Flushing blocks its thread for up to its timeout: keep it off the runtime's workers.
            let telemetry = shared.telemetry.clone();
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown(Duration::from_secs(5)))
                .await;
            api_token.cancel();
            let _ = api_task.await;
            tracing::info!("stopped");
            Ok(())
        }
    });

    Ok(Running {
        api_addr,
        view,
        reload: reload_tx,
        join,
    })
}

/// One run of one series: run, apply to the state, persist, then report.
async fn execute(shared: Arc<Shared>, fire: Fire) {
    let series = fire.series;
    let labels = labels(&series);
    shared
        .telemetry
        .record_lateness(fire.lateness.as_secs_f64());
    let span = telemetry::run_span(&labels);
    let runner = shared.runner();
    let result = runner.run(&series).instrument(span.clone()).await;
    telemetry::finish_run_span(&span, &result);
    shared.telemetry.record_run(&labels, &result);

    let probe = &series.probe;
    let (state, transition) = {
        let mut states = match shared.states.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let state = states.entry(series.key.clone()).or_default();
        let t = state.apply(
            &result.outcome,
            result.started,
            result.duration,
            probe.confirm,
            probe.recover,
        );
        (state.clone(), t)
    };
    // Durable before announced: a crash after this line cannot announce the transition twice.
    if let Err(e) = shared.store.put(&series.key, &state).await {
        tracing::error!(series = %series.key, error = %e, "cannot persist series state");
    }
    shared.view.update(&series.key, &state);
    shared.telemetry.record_state(
        &labels,
        state.state == state::State::Passing,
        state.state == state::State::Regressed,
    );
    if let Some(t) = transition {
        let t = match t {
            Transition::Regression => telemetry::Transition::Regression,
            Transition::Recovery => telemetry::Transition::Recovery,
        };
        shared
            .telemetry
            .record_transition(&labels, t, &state.findings);
    }
}

/// Applies reload requests one at a time.
async fn reload_loop(
    mut requests: mpsc::Receiver<()>,
    shared: Arc<Shared>,
    scheduler: SchedulerHandle,
    opts: ServiceOptions,
    env: SharedEnv,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            req = requests.recv() => if req.is_none() { return },
        }
        // Loading reads files and compiles regexes: keep it off the runtime's workers. A
        // panic there fails this reload only; the loop and the last good config live on.
        let loaded = tokio::task::spawn_blocking({
            let path = opts.config_path.clone();
            let env = Arc::clone(&env);
            move || load::load(&path, &|name: &str| env(name))
        })
        .await
        .map_err(|e| anyhow::anyhow!("loading the configuration failed: {e}"));
        match reload(&shared, &scheduler, &opts, loaded).await {
            Ok(n) => {
                shared.telemetry.record_reload(true);
                tracing::info!(series = n, "configuration reloaded");
            }
            Err(e) => {
                shared.telemetry.record_reload(false);
                tracing::error!(error = %e, "reload failed; keeping the previous configuration");
            }
        }
    }
}

async fn reload(
    shared: &Shared,
    scheduler: &SchedulerHandle,
    opts: &ServiceOptions,
    loaded: anyhow::Result<Result<Loaded, crate::diag::Diagnostics>>,
) -> anyhow::Result<usize> {
    let loaded = loaded?.map_err(|d| anyhow::anyhow!("{d}"))?;
    let runner = Runner::new(&loaded.config)?;
    let series = planned(&loaded, opts.shard);
    {
        let states = match shared.states.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        for s in &series {
            let state = shared
                .view
                .state(&s.key)
                .or_else(|| states.get(&s.key).cloned())
                .unwrap_or_default();
            shared.view.put(&s.key, entry(s, state));
        }
    }
    let keys: BTreeMap<&str, ()> = series.iter().map(|s| (s.key.as_str(), ())).collect();
    for (probe, target) in shared.view.retain(&|k| keys.contains_key(k)) {
        shared.telemetry.forget_series(&probe, &target);
    }
    if let Ok(mut r) = shared.runner.write() {
        *r = Arc::new(runner);
    }
    if let Ok(mut w) = shared.watched.lock() {
        *w = watched_paths(&opts.config_path, &loaded);
    }
    let n = series.len();
    scheduler
        .replace(series)
        .await
        .map_err(|_| anyhow::anyhow!("the scheduler has stopped"))?;
    Ok(n)
}

/// The config file, its `targets_from` and its probe paths.
fn watched_paths(config: &std::path::Path, loaded: &Loaded) -> Vec<PathBuf> {
    let mut paths = vec![config.to_path_buf()];
    paths.extend(loaded.config.targets_from.iter().cloned());
    paths.extend(loaded.config.probe_paths.iter().map(|p| p.path.clone()));
    paths
}

/// What identifies the current content of the watched files: every YAML file's path, size and
/// modification time. Only `stat` and `readdir` are used, never `open`, so a FIFO or device
/// dropped into a watched folder cannot block or feed the watcher; the reload it triggers
/// refuses that file.
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    for path in paths {
        let files = load::yaml_files(path).map_or_else(|_| vec![path.clone()], |l| l.files);
        for file in files {
            let meta = std::fs::metadata(&file).ok();
            out.push((
                file,
                meta.as_ref().map_or(0, std::fs::Metadata::len),
                meta.and_then(|m| m.modified().ok()),
            ));
        }
    }
    out
}

/// Polls the watched files and asks for a reload when they change. Polling (rather than
/// inotify) also sees Kubernetes ConfigMap updates, which swap a symlink to a new directory.
async fn watch_files(
    shared: Arc<Shared>,
    every: Duration,
    reload: mpsc::Sender<()>,
    shutdown: CancellationToken,
) {
    let paths = || shared.watched.lock().map(|w| w.clone()).unwrap_or_default();
    let mut last = tokio::task::spawn_blocking({
        let p = paths();
        move || fingerprint(&p)
    })
    .await
    .unwrap_or_default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let p = paths();
        let now = tokio::task::spawn_blocking(move || fingerprint(&p))
            .await
            .unwrap_or_default();
        if now != last {
            tracing::info!("configuration files changed; reloading");
            let _ = reload.try_send(());
            last = now;
        }
    }
}
