//! `picket run`: the long-running service, wiring the stages together.
//!
//! ```text
//! Scheduler ─fires─▶ Runner ─RunResult─▶ Tracker::record ─▶ Store (durable first)
//!                                                 └──────▶ changes ─▶ Telemetry, Notifier, demo
//! API ─reads─▶ Tracker::snapshot
//! ```
//!
//! The [`Tracker`] is the one owner of series state: nothing here keeps a copy.
//!
//! Every task gets the shutdown token; in-flight runs are tracked and drained within a grace
//! period; the state store is synced and telemetry flushed before [`Running::wait`] returns. A
//! reload (SIGHUP, or a changed config or probe file) loads everything again and swaps it in
//! only if it is valid: a failing reload keeps the last good configuration.
//!
//! Secrets: the service scrubs with one [`SharedRedactor`], the telemetry's
//! ([`Telemetry::secrets`]), shared with the notifier and the API. Each accepted
//! configuration (at start, and at each successful reload) adds its secrets to it and
//! registers them with the process's log writer ([`crate::redact::register`]); a reload that
//! fails adds nothing anywhere.
//!
//! - `announce.rs`: telemetry's records of transitions, and in a group their confirmation;
//! - `cluster.rs`: membership of a group sharing a PostgreSQL (`state.postgres`): opening it, the lease,
//!   this member's share of the series, and the transitions of members that died;
//! - `discovery.rs`: the running discovery sources and their merge with the loaded targets;
//! - `files.rs`: the files a configuration came from, polled for changes.

mod accept;
mod announce;
mod cluster;
mod discovery;
mod files;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::api::{self, View};
use crate::load::{self, Loaded};
use crate::notify::{self, Notifier};
use crate::plan::{self, Series};
use crate::redact::{Redactor, SharedRedactor};
use crate::run::Runner;
use crate::schedule::{self, Fire, Scheduler, SchedulerHandle};
use crate::state::{SeriesInfo, Tracker};
use crate::telemetry::{self, SeriesLabels, Telemetry};
use announce::{CONFIRM_MAX, confirm_announcements, record_transitions};
use cluster::open_state;
use discovery::Sources;
use files::{watch_files, watched_paths};

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
    /// The series states and their changes.
    pub tracker: Arc<Tracker>,
    /// The webhook notifier (its delivery counts, for in-process tests).
    pub notifier: Notifier,
    /// What the notifier, the API and telemetry scrub: every accepted configuration's secrets.
    pub secrets: SharedRedactor,
    reload: mpsc::Sender<()>,
    reloads: Arc<ReloadCounts>,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// How the reloads went, counted as they end.
#[derive(Debug, Default)]
struct ReloadCounts {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Running {
    /// Asks for a reload, as SIGHUP does.
    pub fn reload(&self) {
        let _ = self.reload.try_send(());
    }

    /// How many reloads were applied and how many failed so far (for in-process tests).
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads.ok.load(Ordering::Relaxed),
            self.reloads.failed.load(Ordering::Relaxed),
        )
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

/// One generation of the running configuration: what was loaded from files, the targets
/// discovered since merged in, the runner built for them and the files whose change asks for
/// the next. Published whole on a `watch` channel: a run takes the current generation when it
/// starts, a successful reload or a change of the discovered targets publishes the next, and
/// nothing else holds a piece of it.
struct Generation {
    /// The configuration and probes as loaded from files.
    files: Arc<Loaded>,
    /// The same, with the discovered targets added.
    loaded: Arc<Loaded>,
    runner: Arc<Runner>,
    /// Files and folders whose changes trigger a reload.
    watched: Vec<PathBuf>,
    /// Every series of the plan (of this shard, with `--shard`; of the group, in a group,
    /// which runs its share of them).
    series: Vec<Series>,
}

/// A generation ready to take over.
struct Next {
    generation: Generation,
}

impl Next {
    /// The generation for `files` and what `sources` know now: their targets merged in, the
    /// runner that takes over from `previous` (`None` at start), and the series.
    fn prepare(
        files: Arc<Loaded>,
        sources: &mut Sources,
        previous: Option<&Runner>,
        telemetry: &Telemetry,
        opts: &ServiceOptions,
    ) -> Result<Next, crate::run::SetupError> {
        let mut config = files.config.clone();
        config.targets = sources.merge(&files.config.targets, telemetry);
        let loaded = Loaded {
            config,
            probes: files.probes.clone(),
        };
        let runner = match previous {
            Some(previous) => previous.next(&loaded.config)?,
            None => Runner::new(&loaded.config)?,
        };
        let series = planned(&loaded, opts.shard);
        Ok(Next {
            generation: Generation {
                watched: watched_paths(&opts.config_path, &files),
                files,
                loaded: Arc::new(loaded),
                runner: Arc::new(runner),
                series,
            },
        })
    }
}

/// Everything a run task needs, shared.
struct Shared {
    /// The current configuration.
    generation: watch::Sender<Arc<Generation>>,
    tracker: Arc<Tracker>,
    notifier: Notifier,
    /// The API's certificate, when it serves HTTPS: a reload swaps in the files' new one.
    certificates: Option<api::tls::Certificates>,
    telemetry: Telemetry,
    /// The telemetry's secrets, shared with the notifier and the API.
    secrets: SharedRedactor,
    /// The API's connections: a reload that changes the concurrency or the webhooks moves
    /// their cap.
    connections: Arc<api::Connections>,
    reloads: Arc<ReloadCounts>,
    /// In a group, who the live members are (`state.postgres`).
    membership: Option<cluster::Membership>,
    /// Held while the series are shared out, so that a reload and a change of members never
    /// interleave their plans.
    planning: tokio::sync::Mutex<()>,
}

impl Shared {
    /// The current generation.
    fn current(&self) -> Arc<Generation> {
        Arc::clone(&self.generation.borrow())
    }
}

/// Makes the secrets of a configuration the service accepted known to what outlives it: the
/// notifier, the API and telemetry (through `secrets`), and the process's log writer. Called
/// once per accepted configuration, never for one that failed to load.
fn accept_secrets(secrets: &SharedRedactor, redactor: &Redactor) {
    secrets.add(redactor);
    crate::redact::register(redactor);
}

fn labels(series: &Series) -> SeriesLabels<'_> {
    SeriesLabels::of(series)
}

fn planned(loaded: &Loaded, shard: Option<(u32, u32)>) -> Vec<Series> {
    let mut series = plan::plan(loaded).series;
    if let Some(shard) = shard {
        series.retain(|s| crate::shard::in_shard(s.hash, shard));
    }
    series
}

/// What the tracker keeps of each planned series.
fn tracked(series: &[Series]) -> Vec<(String, SeriesInfo)> {
    series
        .iter()
        .map(|s| {
            let info = SeriesInfo {
                probe: Arc::clone(&s.probe),
                target: s.target.name.clone(),
                tags: s.target.tags.iter().cloned().collect(),
                acceptance: s.acceptance.clone(),
            };
            (s.key.clone(), info)
        })
        .collect()
}

/// Starts the service: opens the store, binds the API, starts the scheduler. Returns once all
/// of that is up; the service then runs until `shutdown` is cancelled.
pub async fn start(
    loaded: Loaded,
    compiled: load::Compiled,
    opts: ServiceOptions,
    telemetry: Telemetry,
    env: SharedEnv,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    crate::crypto::install_crypto_provider();
    let secrets = telemetry.secrets().clone();
    accept_secrets(&secrets, &loaded.config.redactor);
    accept::log_warnings(&loaded.config);
    let listen = opts.api_listen.unwrap_or(loaded.config.api_listen);
    let certificates = loaded
        .config
        .api_tls
        .as_ref()
        .map(|t| api::tls::Certificates::new(Arc::clone(&t.server)));
    let auth = loaded
        .config
        .api_token
        .as_ref()
        .map(|t| Arc::new(api::Auth::new(t.expose(), certificates.is_some())));
    if let Some(auth) = &auth {
        accept_secrets(&secrets, &auth.secrets());
    }
    // The config refuses this with its position; this covers every other way in (the demo's
    // `--api`, a listen override).
    if auth.is_none() && !listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve the API on {listen}, off loopback, without api.token: anyone who \
             can connect would read every series and finding; set api.token or listen on 127.0.0.1"
        );
    }
    let tracker = Arc::new(open_state(&loaded.config.state, &opts)?);
    // Discovery sources start now; what they find joins at their first snapshot.
    let (discovered_tx, discovered_rx) = mpsc::channel(1);
    let mut sources = Sources::start(
        &loaded.config.discover,
        &discovered_tx,
        shutdown.child_token(),
    );
    let Next { generation: first } = Next::prepare(
        Arc::new(loaded.clone()),
        &mut sources,
        None,
        &telemetry,
        &opts,
    )
    .context("cannot set up HTTP clients")?;
    let changes = tracker.follow("telemetry");
    let notify_changes = tracker.follow("notifications");
    let notifier = Notifier::start(&loaded.config.webhooks, telemetry.clone(), secrets.clone())?;
    // In a group nothing is run until the membership loop holds a lease and takes a share.
    let initial = if tracker.group().is_some() {
        tracker
            .track_owned(tracked(&first.series), &|_| false)
            .await
            .context("cannot track the series")?;
        Vec::new()
    } else {
        tracker.track(tracked(&first.series)).await;
        first.series.clone()
    };
    let series_count = first.series.len();
    telemetry.observe_states(&tracker);
    let view = Arc::new(View::new(Arc::clone(&tracker)));

    let api_stop = CancellationToken::new();
    let hosts = api::HostRule::new(&loaded.config.api_allowed_hosts);
    let share = api_share(&loaded);
    let shed_telemetry = telemetry.clone();
    let connections = api::Connections::new(
        share.connections,
        loaded.config.api_idle_timeout,
        Some(Arc::new(move |why: api::conn::Shed| {
            shed_telemetry.record_api_shed(why.as_str());
        })),
    );
    let (api_addr, api_task) = api::serve(
        listen,
        Arc::clone(&view),
        hosts,
        auth.clone(),
        certificates.clone(),
        Arc::clone(&connections),
        secrets.clone(),
        api_stop.clone(),
    )
    .await
    .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(
        addr = %api_addr,
        scheme = if certificates.is_some() { "https" } else { "http" },
        token = auth.is_some(),
        max_connections = share.connections,
        fd_limit = %crate::fds::figure(crate::fds::current().soft),
        idle_timeout = ?loaded.config.api_idle_timeout,
        "API listening"
    );
    log_api_share(&share, true);
    tracing::info!(
        url = %dashboard_url(api_addr, certificates.is_some()),
        "serving the dashboard"
    );
    if !api_addr.ip().is_loopback() && certificates.is_none() {
        // `listen=`, not `addr=`: tests find the API address by the first `addr=` on stderr.
        tracing::warn!(
            listen = %api_addr,
            "the API is reachable from the network over plain HTTP: its bearer token crosses \
             the network unencrypted; terminate TLS in front of it (an ingress, a service mesh)"
        );
    }

    let follow_stop = CancellationToken::new();
    let (confirm, confirmer) = match tracker.group() {
        Some(_) => {
            let (tx, rx) = mpsc::channel(CONFIRM_MAX);
            let task = tokio::spawn(confirm_announcements(
                rx,
                Arc::clone(&tracker),
                telemetry.clone(),
            ));
            (Some(tx), Some(task))
        }
        None => (None, None),
    };
    let follower = tokio::spawn(record_transitions(
        changes,
        telemetry.clone(),
        confirm,
        follow_stop.clone(),
    ));
    let notify_stop = CancellationToken::new();
    let notify_follower =
        tokio::spawn(notifier.clone().follow(notify_changes, notify_stop.clone()));
    let membership = tracker.group().map(|_| cluster::Membership::default());
    let shared = Arc::new(Shared {
        generation: watch::Sender::new(Arc::new(first)),
        tracker,
        notifier,
        certificates,
        telemetry,
        secrets,
        connections,
        reloads: Arc::default(),
        membership,
        planning: tokio::sync::Mutex::new(()),
    });

    shared.telemetry.announce();
    let restored = shared.tracker.counts();
    tracing::info!(
        series = series_count,
        probes = shared.current().loaded.probes.len(),
        targets = shared.current().loaded.config.targets.len(),
        regressed = restored.regressed,
        failing = restored.failing,
        passing = restored.passing,
        unknown = restored.unknown,
        "service started"
    );
    let skip_telemetry = shared.telemetry.clone();
    let scheduler = Scheduler::new(initial, schedule::Clock::system()).on_skip(move |s| {
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
            // Background tasks stop on the shutdown token; they are tracked so that none
            // outlives the service.
            let background = TaskTracker::new();
            if let Some(every) = opts.watch_interval {
                background.spawn(watch_files(
                    Arc::clone(&shared),
                    every,
                    reload_tx_watch,
                    shutdown.clone(),
                ));
            }
            if let Some(store) = shared.tracker.shared_store() {
                background.spawn(cluster::run(
                    Arc::clone(&shared),
                    handle.clone(),
                    store.clone(),
                    api_addr.to_string(),
                    shutdown.clone(),
                ));
            }
            background.spawn(accept::settle(Arc::clone(&shared), shutdown.clone()));
            background.spawn(reload_loop(
                compiled,
                sources,
                (discovered_tx, discovered_rx),
                reload_rx,
                Arc::clone(&shared),
                handle,
                opts.clone(),
                env,
                shutdown.clone(),
            ));
            background.close();

            shutdown.cancelled().await;
            view.set_ready(false);
            tracing::info!("shutting down");
            let _ = scheduler_task.await;
            if tokio::time::timeout(opts.grace, background.wait())
                .await
                .is_err()
            {
                tracing::warn!("a reload was still in progress at shutdown; abandoning it");
            }
            tracker.close();
            if tokio::time::timeout(opts.grace, tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(grace = ?opts.grace, "runs still in flight after the grace period; abandoning them");
            }
            if let Err(e) = shared.tracker.sync().await {
                tracing::error!(error = %e, "state sync failed");
            }
            follow_stop.cancel();
            let _ = follower.await;
            // In a group: the last transitions' records are out and marked, then the others
            // take this member's series at once.
            if let Some(confirmer) = confirmer {
                let _ = confirmer.await;
            }
            if let Some(store) = shared.tracker.shared_store() {
                let _ = shared.tracker.sync().await;
                match store.leave().await {
                    Ok(()) => tracing::info!("left the group; the other members take its series"),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not leave the group; the others take its series when its lease ends")
                    }
                }
            }
            if let Err(e) = shared.tracker.close().await {
                tracing::error!(error = %e, "closing the state store failed");
            }
            // Every change is published by now: offer the last ones, then give the queues a
            // bounded time to drain before telemetry's final export counts the outcomes.
            notify_stop.cancel();
            let _ = notify_follower.await;
            shared.notifier.shutdown(notify::SHUTDOWN_DRAIN).await;
            // Flushing blocks its thread for up to its timeout: keep it off the runtime's workers.
            let telemetry = shared.telemetry.clone();
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown(Duration::from_secs(5)))
                .await;
            api_stop.cancel();
            let _ = api_task.await;
            tracing::info!("stopped");
            Ok(())
        }
    });

    Ok(Running {
        api_addr,
        view,
        tracker: Arc::clone(&shared.tracker),
        notifier: shared.notifier.clone(),
        secrets: shared.secrets.clone(),
        reload: reload_tx,
        reloads: Arc::clone(&shared.reloads),
        join,
    })
}

/// The dashboard's address for a person: an unspecified listen address (`0.0.0.0`, `::`)
/// is reached on this host through loopback.
fn dashboard_url(api: SocketAddr, https: bool) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match api.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{}/", SocketAddr::new(ip, api.port()))
}

/// One run of one series: run, apply to the state, persist, then report.
async fn execute(shared: Arc<Shared>, fire: Fire) {
    let series = fire.series;
    let labels = labels(&series);
    shared
        .telemetry
        .record_lateness(fire.lateness.as_secs_f64());
    if let Some(skipped) = crate::run::in_maintenance(&series, SystemTime::now()) {
        shared.telemetry.record_run(&labels, &skipped);
        shared.tracker.record(&series.key, &skipped).await;
        return;
    }
    let runner = Arc::clone(&shared.current().runner);
    // The span covers the exchange only: queueing for permits and the first rate slot
    // happens before it starts (and is reported as the run's wait).
    let admission = runner.admit(&series).await;
    let span = telemetry::run_span(&labels);
    let result = runner
        .run_admitted(&series, admission)
        .instrument(span.clone())
        .await;
    telemetry::finish_run_span(&span, &result);
    shared.telemetry.record_run(&labels, &result);

    shared.tracker.record(&series.key, &result).await;
}

/// Applies reload requests and changes of the discovered targets, one at a time.
#[allow(clippy::too_many_arguments)]
async fn reload_loop(
    mut compiled: load::Compiled,
    mut sources: Sources,
    (discovered_tx, mut discovered): (mpsc::Sender<()>, mpsc::Receiver<()>),
    mut requests: mpsc::Receiver<()>,
    shared: Arc<Shared>,
    scheduler: SchedulerHandle,
    opts: ServiceOptions,
    env: SharedEnv,
    shutdown: CancellationToken,
) {
    loop {
        let files_changed = tokio::select! {
            _ = shutdown.cancelled() => return,
            req = requests.recv() => if req.is_none() { return } else { true },
            _ = discovered.recv() => false,
        };
        if !files_changed {
            // A source published: plan again with the files as they were loaded, unless all
            // it said is that it failed again (it keeps its targets).
            if !sources.changed(&shared.telemetry) {
                continue;
            }
            let files = Arc::clone(&shared.current().files);
            match apply(&shared, &scheduler, &opts, files, &mut sources).await {
                Ok(n) => tracing::debug!(series = n, "discovered targets changed"),
                Err(e) => tracing::error!(error = %e, "cannot apply the discovered targets"),
            }
            continue;
        }
        // Loading reads files and compiles regexes: keep it off the runtime's workers. A
        // panic there fails this reload only; the loop and the last good config live on.
        // The probe cache goes with the load and comes back with it; a load that panicked
        // loses it, and the next one compiles every file.
        let loaded = tokio::task::spawn_blocking({
            let path = opts.config_path.clone();
            let env = Arc::clone(&env);
            let mut cache = std::mem::take(&mut compiled);
            move || {
                let loaded = cache.load(&path, &|name: &str| env(name));
                (cache, loaded)
            }
        })
        .await
        .map(|(cache, loaded)| {
            compiled = cache;
            loaded
        })
        .map_err(|e| anyhow::anyhow!("loading the configuration failed: {e}"));
        let outcome = match loaded {
            Ok(Ok(loaded)) => {
                // Sources whose settings changed start again, taking over what was
                // announced of their targets.
                if loaded.config.discover != *sources.config() {
                    let announced = std::mem::replace(
                        &mut sources,
                        Sources::start(
                            &loaded.config.discover,
                            &discovered_tx,
                            shutdown.child_token(),
                        ),
                    )
                    .stop(&shared.telemetry);
                    sources.inherit(announced);
                }
                reload(&shared, &scheduler, &opts, loaded, &mut sources).await
            }
            // What a failed load says was scrubbed of its secrets by the loader.
            Ok(Err(d)) => Err(anyhow::anyhow!("{d}")),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(n) => {
                shared.reloads.ok.fetch_add(1, Ordering::Relaxed);
                shared.telemetry.record_reload(true);
                tracing::info!(series = n, "configuration reloaded");
            }
            Err(e) => {
                shared.reloads.failed.fetch_add(1, Ordering::Relaxed);
                shared.telemetry.record_reload(false);
                tracing::error!(error = %e, "reload failed; keeping the previous configuration");
            }
        }
    }
}

/// Swaps in a configuration that loaded: its runner first (the step that can still fail),
/// then its secrets, webhooks, API certificate and connection cap, then its series.
async fn reload(
    shared: &Shared,
    scheduler: &SchedulerHandle,
    opts: &ServiceOptions,
    loaded: Loaded,
    sources: &mut Sources,
) -> anyhow::Result<usize> {
    let files = Arc::new(loaded);
    let next = next_generation(shared, opts, &files, sources)?;
    accept::log_warnings(&files.config);
    accept_secrets(&shared.secrets, &files.config.redactor);
    shared.notifier.replace(&files.config.webhooks);
    // The API itself is not rebuilt (its address, hosts and token stay as started), but a
    // renewed certificate is served from now on.
    if let (Some(certificates), Some(tls)) = (&shared.certificates, &files.config.api_tls) {
        certificates.replace(Arc::clone(&tls.server));
    }
    let share = api_share(&files);
    if share.connections != shared.connections.cap() {
        shared.connections.set_cap(share.connections);
        log_api_share(&share, false);
    }
    commit(shared, scheduler, next).await
}

/// Plans again for the files as loaded and what the sources know now.
async fn apply(
    shared: &Shared,
    scheduler: &SchedulerHandle,
    opts: &ServiceOptions,
    files: Arc<Loaded>,
    sources: &mut Sources,
) -> anyhow::Result<usize> {
    let next = next_generation(shared, opts, &files, sources)?;
    commit(shared, scheduler, next).await
}

/// The generation that takes over from the current one for `files` and what the sources
/// know now; an error says why (scrubbed of the files' secrets).
fn next_generation(
    shared: &Shared,
    opts: &ServiceOptions,
    files: &Arc<Loaded>,
    sources: &mut Sources,
) -> anyhow::Result<Next> {
    Next::prepare(
        Arc::clone(files),
        sources,
        Some(&shared.current().runner),
        &shared.telemetry,
        opts,
    )
    .map_err(|e| anyhow::anyhow!("{}", files.config.redactor.scrub(&e.to_string())))
}

/// Makes `next` the running generation: runs that start from now on take its runner (those
/// under way finish with the one they took), and its series are shared out ([`share`]).
async fn commit(shared: &Shared, scheduler: &SchedulerHandle, next: Next) -> anyhow::Result<usize> {
    shared.generation.send_replace(Arc::new(next.generation));
    share(shared, scheduler).await
}

/// Gives the scheduler the series of the current generation this process runs (all of them,
/// or in a group its share), after the tracker follows them (forgetting those it no longer
/// has, and in a group reading the state of those it takes). Returns how many it runs.
async fn share(shared: &Shared, scheduler: &SchedulerHandle) -> anyhow::Result<usize> {
    let _planning = shared.planning.lock().await;
    let generation = shared.current();
    let all = &generation.series;
    let (mine, taken) = match (&shared.membership, shared.tracker.group()) {
        (Some(membership), Some(group)) => {
            let mine = membership.share(group.member(), all);
            let keys: std::collections::HashSet<&str> =
                mine.iter().map(|s| s.key.as_str()).collect();
            let taken = shared
                .tracker
                .track_owned(tracked(all), &|key| keys.contains(key))
                .await;
            (mine, taken)
        }
        // Alone, it runs every series.
        _ => {
            let taken = shared.tracker.track_owned(tracked(all), &|_| true).await;
            (all.clone(), taken)
        }
    };
    if let Some(membership) = &shared.membership {
        membership.set_retry(taken.is_err());
    }
    taken.context("cannot read the state of the series this member takes")?;
    let n = mine.len();
    scheduler
        .replace_soon(mine)
        .await
        .map_err(|_| anyhow::anyhow!("the scheduler has stopped"))?;
    Ok(n)
}

/// The API's share of the file descriptors for this configuration (see [`crate::fds`]):
/// the soft limit as it is now (raised at start by the binary), less a reserve for
/// `limits.concurrency` runs in flight, the webhooks, the store and telemetry.
fn api_share(loaded: &Loaded) -> crate::fds::ApiShare {
    crate::fds::api_connections(
        crate::fds::current().soft,
        loaded.config.limits.concurrency,
        loaded.config.webhooks.len(),
    )
}

/// Says what the API may hold; warns when the limit leaves probing too little.
fn log_api_share(share: &crate::fds::ApiShare, at_start: bool) {
    let limit = crate::fds::current().soft;
    if share.starved {
        tracing::warn!(
            descriptor_limit = limit,
            reserve = share.reserve,
            "the file-descriptor limit is too low for limits.concurrency: runs at full \
             concurrency may fail with \"Too many open files\"; raise the hard limit (e.g. \
             `LimitNOFILE=` in systemd, `ulimit -Hn`) or lower limits.concurrency"
        );
    } else if !at_start {
        tracing::info!(
            max_connections = share.connections,
            descriptor_limit = limit,
            reserve = share.reserve,
            "API connection cap changed"
        );
    } else {
        tracing::debug!(
            descriptor_limit = limit,
            reserve = share.reserve,
            "descriptors reserved for probing"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_url_is_one_a_browser_on_this_host_can_open() {
        let url = |addr: &str, https| dashboard_url(addr.parse().unwrap(), https);
        assert_eq!(url("127.0.0.1:9750", false), "http://127.0.0.1:9750/");
        assert_eq!(url("0.0.0.0:9750", true), "https://127.0.0.1:9750/");
        assert_eq!(url("[::]:9750", false), "http://[::1]:9750/");
        assert_eq!(url("10.1.2.3:80", false), "http://10.1.2.3:80/");
    }
}
