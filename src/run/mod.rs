//! The runner: executes one series and returns its [`RunResult`].
//!
//! Everything that touches the network is bounded here. A run is first admitted: it waits
//! for a global permit, a per-target permit (both held for its whole duration) and its first
//! per-target rate slot. Only then does its exchange start, waiting for a further rate slot
//! before each later request. What a run reports as its duration, and what the probe's
//! timeout bounds, is the exchange alone: time spent queueing for permits and rate slots is
//! reported apart, as the run's wait, so a polite rate limit never reads as a slow or
//! timed-out target. The waits are bounded too: a run's wall time from admission, waits
//! included, is at most [`RUN_WALL_FACTOR`] times its timeout, so no run holds its target's
//! permit for minutes. Checks are evaluated on blocking threads, at most one per CPU at once,
//! never on the async workers the API and the scheduler share; a run whose checks outlast its
//! timeout ends as a timeout `error`, and the evaluation is told to stop. At most
//! [`MAX_REQUESTS_PER_RUN`] requests are planned per run, over all of a probe's exchanges.
//! Bodies are read up to `max_body_bytes` (the
//! probe's own, else the config's) and no further; checks that the unread rest could change
//! make the run an `error`, not a pass. Requests only ever go to the series' own target: paths
//! were vetted at load, every URL is checked against the target's origin before it is sent,
//! and redirects are followed (when the probe allows it) only within that origin, so a
//! target's credentials never travel anywhere else. The runner knows nothing of state or
//! telemetry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use client::Client;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use crate::config::Config;
use crate::outcome::{ErrorKind, Outcome, RunError, RunResult};
use crate::plan::Series;
use crate::probe::Kind;
use crate::redact::{REDACTED, Redactor};

mod client;
mod http;
pub mod net;
mod tcp;
mod tls;

pub use http::{MAX_REDIRECTS, MAX_REQUESTS_PER_RUN};

/// Problems building the runner (bad CA file and the like).
#[derive(Debug, Error)]
pub enum SetupError {
    /// A target's CA file could not be used.
    #[error("target `{target}`: cannot use CA file `{path}`: {detail}")]
    CaFile {
        /// Target name.
        target: String,
        /// File.
        path: String,
        /// Why.
        detail: String,
    },
    /// The HTTP client could not be built.
    #[error("target `{target}`: cannot build HTTP client: {detail}")]
    Client {
        /// Target name.
        target: String,
        /// Why.
        detail: String,
    },
}

/// Spaces requests to one target at most `rps` per second.
///
/// Slots are 2% wider than `1/rps`: the server counts requests when they arrive, and the
/// first of a burst arrives later than the rest (it waits for its connection's handshake),
/// so exact spacing at picket would let the server see `rps + 1` in one second. The margin
/// absorbs that on a LAN; the benchmark measures the maximum at the server.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

/// The longest gap the rate limiter puts between two requests. Config validation keeps
/// `per_target_rps` well inside it; this only keeps a value that slipped through from
/// panicking (`Duration::from_secs_f64` of a huge or infinite number) or overflowing an
/// `Instant`.
const MAX_RATE_INTERVAL: Duration = Duration::from_secs(3_600);

/// How much wider than `1/rps` a rate slot is.
const RATE_MARGIN: f64 = 1.02;

impl RateLimiter {
    fn new(rps: f64) -> Self {
        let interval = Duration::try_from_secs_f64(RATE_MARGIN / rps)
            .unwrap_or(MAX_RATE_INTERVAL)
            .min(MAX_RATE_INTERVAL);
        RateLimiter {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Takes the next free slot and says how long until it comes. Slots are handed out in
    /// order, so waiting is fair.
    fn reserve(&self) -> Duration {
        // Never poisoned: nothing in the critical section can panic.
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let slot = (*next).max(now);
        *next = slot.checked_add(self.interval).unwrap_or(slot);
        slot - now
    }

    /// Waits for this caller's slot; how long it waited.
    async fn acquire(&self) -> Duration {
        let wait = self.reserve();
        // A free slot is taken at once: even a zero sleep waits for the timer's next tick
        // (a millisecond), which bounded `check` at `concurrency` runs per millisecond.
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

/// Per-target resources, and what every run of the target reports about it, worked out
/// once per target rather than once per run.
#[derive(Debug)]
struct Gate {
    /// What the gate was built for: a target whose settings are the same keeps it when the
    /// runner is rebuilt (its rate slots and in-flight permits carry over).
    key: GateKey,
    client: Client,
    permits: Arc<Semaphore>,
    rate: Arc<RateLimiter>,
    /// The target's URL, secrets removed (the result's `url`).
    shown_url: String,
    /// Its host, secrets removed (`server.address`).
    server_address: String,
    /// Its port (`server.port`).
    server_port: u16,
}

/// The settings of a target and of the limits that its gate depends on.
#[derive(Debug, Clone, PartialEq)]
struct GateKey {
    url: Url,
    ca_file: Option<std::path::PathBuf>,
    server_name: Option<String>,
    connect_to: Option<std::net::IpAddr>,
    per_target_concurrency: usize,
    per_target_rps: f64,
}

/// What one run uses of its target's gate: the HTTP client, and the rate limit, with the
/// time this run's exchange has spent waiting on it.
struct Lane<'a> {
    client: &'a Client,
    rate: &'a RateLimiter,
    /// The first slot was taken at admission; the first request uses it.
    prepaid: AtomicBool,
    /// Nanoseconds waited for slots since admission, counted when a wait begins, so the
    /// run's timeout can allow for a wait still in progress.
    waited: AtomicU64,
}

impl Lane<'_> {
    /// Waits for the next rate slot before a request.
    async fn pace(&self) {
        if self.prepaid.swap(false, Ordering::Relaxed) {
            return;
        }
        let wait = self.rate.reserve();
        if wait.is_zero() {
            return;
        }
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.waited.fetch_add(nanos, Ordering::Relaxed);
        // A span of its own, inside the run's: a trace shows the gap as waiting, not as the
        // target being slow.
        let span = tracing::info_span!(
            "rate_slot",
            otel.name = "wait for rate slot",
            picket.wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        );
        tokio::time::sleep(wait).instrument(span).await;
    }

    /// Time waited for rate slots during the exchange so far (including a wait under way).
    fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited.load(Ordering::Relaxed))
    }
}

/// A series let in to run ([`Runner::admit`]): its permits, held until the run ends, and
/// how long it queued for them and for its first rate slot.
#[derive(Debug)]
pub struct Admission {
    permits: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
    /// Whether the first rate slot was taken.
    prepaid: bool,
    /// Time spent queueing before the exchange.
    waited: Duration,
}

/// Executes series, within the configured limits.
#[derive(Debug, Clone)]
pub struct Runner {
    gates: Arc<HashMap<String, Arc<Gate>>>,
    global: Arc<Semaphore>,
    /// The number of global permits.
    concurrency: usize,
    max_body_bytes: u64,
    redactor: Redactor,
    /// The release data `software` checks judge by.
    software: Arc<crate::software::data::Table>,
    /// Permits to evaluate checks on a blocking thread ([`http`]): one per CPU, so CPU-heavy
    /// checks queue for the CPUs instead of multiplying threads.
    evaluators: Arc<Semaphore>,
    /// Name resolution for every kind, under the containment rule ([`net`]), with the
    /// targets' `connect_to` pinned.
    resolver: Arc<dyn net::Resolve>,
    /// The resolver under the pins, for the runner that takes over ([`Runner::next`]).
    base_resolver: Arc<dyn net::Resolve>,
}

impl Runner {
    /// What a run identified, placed in the release data: for `picket.software.eol` and the
    /// span's `software.name` / `software.version`.
    fn record_software(
        &self,
        found: &[crate::software::identify::Identified],
        result: &mut RunResult,
    ) {
        use crate::software::data::Placement;
        for id in found.iter().take(crate::software::identify::MAX_IDENTIFIED) {
            let eol = match self.software.place(id.product, &id.version) {
                Placement::Cycle(_, cycle) => cycle.eol.and_then(|d| {
                    let secs = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
                    let secs = u64::try_from(secs).ok()?;
                    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
                }),
                _ => None,
            };
            let seen = crate::outcome::SoftwareSeen {
                name: id.product.to_string(),
                version: id.version.clone(),
                eol,
            };
            if !result.software.contains(&seen) {
                result.software.push(seen);
            }
        }
        if !result.software.is_empty() {
            let join = |f: fn(&crate::outcome::SoftwareSeen) -> &str| {
                result.software.iter().map(f).collect::<Vec<_>>().join(", ")
            };
            let names = join(|s| &s.name);
            let versions = join(|s| &s.version);
            result
                .attributes
                .retain(|(k, _)| !k.starts_with("software."));
            result.attributes.push(("software.name", names));
            result.attributes.push(("software.version", versions));
        }
    }
}

/// A run's wall time, rate-limit waits included, is at most this many times its timeout
/// ([`RUN_WALL_FACTOR`] × `timeout`): the timeout alone counts only the exchange, so without
/// this a run of many requests under a low `per_target_rps` could hold its target's permit
/// for many minutes.
pub const RUN_WALL_FACTOR: u32 = 4;

impl Runner {
    /// Builds HTTP clients for every target of `config`; names resolve with the system's
    /// resolver.
    pub fn new(config: &Config) -> Result<Runner, SetupError> {
        Runner::with_resolver(config, Arc::new(net::System))
    }

    /// As [`Runner::new`], with names resolved by `resolver` for every kind (the containment
    /// rule of [`net`] still applies to what it returns).
    pub fn with_resolver(
        config: &Config,
        resolver: Arc<dyn net::Resolve>,
    ) -> Result<Runner, SetupError> {
        Runner::build(config, resolver, &HashMap::new())
    }

    /// The runner for `config` that takes over from this one: a target whose settings did
    /// not change keeps its gate (rate slots, permits), so that a reload or a change of the
    /// discovered targets does not reset the politeness limits of every target.
    pub fn next(&self, config: &Config) -> Result<Runner, SetupError> {
        Runner::build(config, Arc::clone(&self.base_resolver), &self.gates)
    }

    fn build(
        config: &Config,
        resolver: Arc<dyn net::Resolve>,
        previous: &HashMap<String, Arc<Gate>>,
    ) -> Result<Runner, SetupError> {
        // A target that says where to connect (`connect_to`) is reached there, by every
        // kind, with its host kept for `Host` and SNI.
        let pins: HashMap<String, std::net::IpAddr> = config
            .targets
            .iter()
            .filter_map(|t| Some((t.url.host_str()?.to_owned(), t.connect_to?)))
            .collect();
        let base_resolver = Arc::clone(&resolver);
        let resolver: Arc<dyn net::Resolve> = if pins.is_empty() {
            resolver
        } else {
            Arc::new(net::Pinned::new(resolver, pins))
        };
        let mut gates = HashMap::new();
        // One client per trust setting, shared by the targets that have it: a client's root
        // store and TLS setup are built once, not per target, and targets on one origin
        // share its idle connections (a client clones as a handle to one pool).
        let mut clients: HashMap<Option<&std::path::Path>, Client> = HashMap::new();
        // The most connections each server may see: as many as its targets may have requests
        // in flight (see `client::Caps`).
        let mut servers: HashMap<String, usize> = HashMap::new();
        for target in &config.targets {
            *servers
                .entry(client::Caps::server_of(&target.url))
                .or_default() += config.limits.per_target_concurrency;
        }
        for target in &config.targets {
            let key = GateKey {
                url: target.url.clone(),
                ca_file: target.ca_file.clone(),
                server_name: target.server_name.clone(),
                connect_to: target.connect_to,
                per_target_concurrency: config.limits.per_target_concurrency,
                per_target_rps: config.limits.per_target_rps,
            };
            let client = match clients.get(&target.ca_file.as_deref()) {
                Some(client) => client.clone(),
                None => {
                    let caps = client::Caps::new(servers.clone(), config.limits.concurrency);
                    let client =
                        http::client(target, config.limits.concurrency, caps, resolver.clone())?;
                    clients.insert(target.ca_file.as_deref(), client.clone());
                    client
                }
            };
            let gate = match previous.get(&target.name) {
                Some(old) if old.key == key => Arc::new(Gate {
                    key,
                    client,
                    permits: Arc::clone(&old.permits),
                    rate: Arc::clone(&old.rate),
                    shown_url: old.shown_url.clone(),
                    server_address: old.server_address.clone(),
                    server_port: old.server_port,
                }),
                _ => Arc::new(Gate {
                    key,
                    client,
                    permits: Arc::new(Semaphore::new(config.limits.per_target_concurrency)),
                    rate: Arc::new(RateLimiter::new(config.limits.per_target_rps)),
                    shown_url: redact_url(&target.url, &config.redactor),
                    server_address: config
                        .redactor
                        .scrub(target.url.host_str().unwrap_or_default())
                        .into_owned(),
                    server_port: target.url.port_or_known_default().unwrap_or(0),
                }),
            };
            gates.insert(target.name.clone(), gate);
        }
        Ok(Runner {
            gates: Arc::new(gates),
            global: Arc::new(Semaphore::new(config.limits.concurrency)),
            concurrency: config.limits.concurrency,
            max_body_bytes: config.limits.max_body_bytes,
            redactor: config.redactor.clone(),
            software: Arc::clone(&config.software),
            evaluators: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            )),
            resolver,
            base_resolver,
        })
    }

    /// How many runs may be in flight at once, whole process (`limits.concurrency`).
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Runs one series once: [`Runner::admit`], then [`Runner::run_admitted`]. Never panics
    /// and never returns `Err`: faults are outcomes.
    pub async fn run(&self, series: &Series) -> RunResult {
        if let Some(skipped) = in_maintenance(series, SystemTime::now()) {
            return skipped;
        }
        let admission = self.admit(series).await;
        self.run_admitted(series, admission).await
    }

    /// Waits until `series` may run (callers first ask [`in_maintenance`]): a global permit, a permit of its target, and its
    /// first rate slot toward the target. Callers that time the run (its span) start the
    /// clock after this returns.
    pub async fn admit(&self, series: &Series) -> Admission {
        let queued = Instant::now();
        let Some(gate) = self.gates.get(&series.target.name) else {
            return Admission {
                permits: None,
                prepaid: false,
                waited: Duration::ZERO,
            };
        };
        // Semaphores are never closed, so acquiring cannot fail; treat it as an error anyway.
        let (Ok(global), Ok(local)) = (
            self.global.clone().acquire_owned().await,
            gate.permits.clone().acquire_owned().await,
        ) else {
            return Admission {
                permits: None,
                prepaid: false,
                waited: queued.elapsed(),
            };
        };
        gate.rate.acquire().await;
        Admission {
            permits: Some((global, local)),
            prepaid: true,
            waited: queued.elapsed(),
        }
    }

    /// Runs an admitted series once. `duration` is the exchange with the target alone;
    /// `wait` is the time queued at admission plus the waits for later rate slots, which
    /// the probe's timeout does not count either.
    pub async fn run_admitted(&self, series: &Series, admission: Admission) -> RunResult {
        let started = SystemTime::now();
        let clock = Instant::now();
        let target = &series.target;
        let mut result = RunResult {
            started,
            wait: admission.waited,
            ..RunResult::new(&series.probe.id, &target.name, Outcome::Pass)
        };
        let Some(gate) = self.gates.get(&target.name) else {
            result.url = redact_url(&target.url, &self.redactor);
            result.outcome = Outcome::Error(RunError {
                kind: ErrorKind::Request,
                message: format!("no client for target `{}`", target.name),
            });
            return result;
        };
        result.url.clone_from(&gate.shown_url);
        result.server_address.clone_from(&gate.server_address);
        result.server_port = gate.server_port;
        let Some(_permits) = admission.permits else {
            result.outcome = Outcome::Error(RunError {
                kind: ErrorKind::Request,
                message: "runner is shutting down".into(),
            });
            return result;
        };
        let lane = Lane {
            client: &gate.client,
            rate: &gate.rate,
            prepaid: AtomicBool::new(admission.prepaid),
            waited: AtomicU64::new(0),
        };

        let timeout = series.probe.timeout;
        // Each kind's exchange is boxed: its future is many KiB (the HTTP client's state), and
        // every future around it would otherwise carry, and copy, that much per run.
        let work = async {
            match &series.probe.kind {
                Kind::Http(spec) => {
                    Box::pin(http::execute(self, series, spec, &lane, &mut result)).await
                }
                Kind::Tcp(spec) => {
                    Box::pin(tcp::execute(self, series, spec, &lane, &mut result)).await
                }
                Kind::Tls(spec) => {
                    lane.pace().await;
                    Box::pin(tls::execute(self, series, spec, &mut result)).await
                }
            }
        };
        let wall = timeout.saturating_mul(RUN_WALL_FACTOR);
        let outcome = match within(timeout, wall, clock, &lane, work).await {
            Ok(outcome) => outcome,
            Err(Overrun::Timeout) => Outcome::Error(RunError {
                kind: ErrorKind::Timeout,
                message: format!(
                    "run did not finish within {}",
                    crate::units::format_duration(timeout)
                ),
            }),
            Err(Overrun::Wall) => Outcome::Error(RunError {
                kind: ErrorKind::Timeout,
                message: format!(
                    "run did not finish within {} of wall time ({RUN_WALL_FACTOR} × its {} \
                     timeout), {} of it waiting for rate-limit slots; send fewer requests per \
                     run or raise limits.per_target_rps",
                    crate::units::format_duration(wall),
                    crate::units::format_duration(timeout),
                    crate::units::format_duration(lane.waited()),
                ),
            }),
        };
        result.outcome = self.scrub(outcome);
        let paced = lane.waited();
        result.duration = clock.elapsed().saturating_sub(paced);
        result.wait = result.wait.saturating_add(paced);
        tracing::debug!(
            probe.id = %result.probe,
            target.name = %result.target,
            url.full = %result.url,
            outcome = result.outcome.as_str(),
            http.response.status_code = ?result.status,
            duration_ms = result.duration.as_millis() as u64,
            wait_ms = result.wait.as_millis() as u64,
            "run finished"
        );
        for f in result.outcome.findings() {
            tracing::debug!(
                probe.id = %result.probe,
                target.name = %result.target,
                check = %f.check,
                expected = %f.expected,
                observed = %f.observed,
                "finding"
            );
        }
        if let Some(reason) = result.outcome.skip_reason() {
            tracing::debug!(
                probe.id = %result.probe,
                target.name = %result.target,
                reason = %reason,
                "run skipped"
            );
        }
        if let Outcome::Error(e) = &result.outcome {
            tracing::debug!(
                probe.id = %result.probe,
                target.name = %result.target,
                error.type = e.kind.as_str(),
                error.message = %e.message,
                "run could not be evaluated"
            );
        }
        result
    }

    /// Scrubs secrets from everything the run reports, then clips observed values; graded
    /// findings that repeat a more severe one are folded first.
    fn scrub(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Pass => Outcome::Pass,
            Outcome::Fail(findings) => Outcome::Fail(
                crate::outcome::fold_graded(findings)
                    .iter()
                    .map(|f| f.redacted(&self.redactor))
                    .collect(),
            ),
            Outcome::Error(e) => Outcome::Error(RunError {
                kind: e.kind,
                message: self.redactor.scrub(&e.message).into_owned(),
            }),
            Outcome::Skip(reason) => Outcome::Skip(self.redactor.scrub(&reason).into_owned()),
        }
    }
}

/// Which limit a run overran.
#[derive(Debug, PartialEq, Eq)]
enum Overrun {
    /// The exchange took longer than the timeout.
    Timeout,
    /// The run, rate-limit waits included, took longer than its wall limit.
    Wall,
}

/// Runs `work` under a timeout that counts only the exchange: the deadline moves on by
/// however long the run has waited for rate slots since `start`, a wait under way included;
/// and under a fixed `wall` limit from `start` that counts the waits too.
async fn within<T>(
    timeout: Duration,
    wall: Duration,
    start: Instant,
    lane: &Lane<'_>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Overrun> {
    // Timeouts are at most minutes and waits are bounded, so this cannot overflow; if it
    // did, the plain timeout would stand.
    let deadline = || {
        start
            .checked_add(timeout.saturating_add(lane.waited()))
            .unwrap_or(start + timeout)
    };
    let wall_deadline = start.checked_add(wall).unwrap_or(start + timeout);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Ok(out),
            () = tokio::time::sleep_until(deadline().min(wall_deadline)) => {
                let now = Instant::now();
                if deadline() <= now {
                    return Err(Overrun::Timeout);
                }
                if wall_deadline <= now {
                    return Err(Overrun::Wall);
                }
            }
        }
    }
}

/// A URL for a reason: scheme, host, port and path, without query or fragment (which may carry
/// tokens), at most 200 characters.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let text = shown.to_string();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Renders a URL for output with secret values removed.
fn redact_url(url: &Url, redactor: &Redactor) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    redactor.scrub(url.as_str()).into_owned()
}

/// The run of `series` at `now` when a maintenance window of its target is open: a `skip`
/// with the reason `maintenance window until HH:MM UTC`, made without contacting the target.
pub fn in_maintenance(series: &Series, now: SystemTime) -> Option<RunResult> {
    let until = series.maintenance_until(now)?;
    let mut result = RunResult::new(
        &series.probe.id,
        &series.target.name,
        Outcome::Skip(crate::config::maintenance_reason(until)),
    );
    result.started = now;
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_runner_keeps_the_gates_of_unchanged_targets_and_pins_connect_to() {
        crate::crypto::install_crypto_provider();
        let mut config = Config::adhoc(Url::parse("http://127.0.0.1:1/").unwrap(), Vec::new());
        let mut pinned = crate::config::Target::new(
            "svc".into(),
            Url::parse("https://svc.shop.svc.cluster.local:8443/").unwrap(),
            crate::config::Source::Kubernetes,
        );
        pinned.connect_to = Some("127.0.0.1".parse().unwrap());
        config.targets.push(pinned.clone());
        let first = Runner::new(&config).unwrap();
        let gate = |r: &Runner, name: &str| Arc::clone(&r.gates[name].permits);

        // Unchanged targets keep their permits and rate slots.
        let second = first.next(&config).unwrap();
        let adhoc = config.targets[0].name.clone();
        assert!(Arc::ptr_eq(&gate(&first, &adhoc), &gate(&second, &adhoc)));
        assert!(Arc::ptr_eq(&gate(&first, "svc"), &gate(&second, "svc")));

        // A target whose address changed gets a new gate.
        config.targets[1].connect_to = Some("127.0.0.2".parse().unwrap());
        let third = second.next(&config).unwrap();
        assert!(!Arc::ptr_eq(&gate(&second, "svc"), &gate(&third, "svc")));
        assert!(Arc::ptr_eq(&gate(&second, &adhoc), &gate(&third, &adhoc)));

        // The pinned name resolves to its connect_to, with no DNS.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let found = rt
            .block_on(third.resolver.lookup("svc.shop.svc.cluster.local"))
            .unwrap();
        assert_eq!(
            found,
            vec!["127.0.0.2".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(
            third.gates["svc"].server_address,
            "svc.shop.svc.cluster.local"
        );
    }

    #[test]
    fn rate_limiter_takes_any_rate_without_panicking() {
        for rps in [
            1e-20,
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            1e300,
        ] {
            let limiter = RateLimiter::new(rps);
            assert!(limiter.interval <= MAX_RATE_INTERVAL, "{rps}");
        }
        assert_eq!(RateLimiter::new(1e-20).interval, MAX_RATE_INTERVAL);
        assert_eq!(RateLimiter::new(f64::INFINITY).interval, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_spaces_requests() {
        let limiter = RateLimiter::new(10.0);
        let start = Instant::now();
        let mut waited = Duration::ZERO;
        for _ in 0..5 {
            waited += limiter.acquire().await;
        }
        // Four gaps of 1/10 s, each 2% wider.
        assert_eq!(start.elapsed(), Duration::from_millis(408));
        assert_eq!(waited, Duration::from_millis(408));
    }
}
