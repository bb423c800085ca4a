//! Telemetry: what picket reports through OpenTelemetry (SPEC §7).
//!
//! The service hands this module run results and transitions, and the tracker whose series
//! states the gauges read at each export ([`Telemetry::observe_states`]); it turns them into
//! OTLP metrics, one span per run and one log record per regression or recovery. It keeps no
//! copy of series state and knows nothing of scheduling or of how state is kept. Every reportable event has one typed
//! method here ([`Telemetry::record_run`], [`Telemetry::record_transition`], …) that both
//! records metrics and, where people need to see it, logs.
//!
//! # Bounded by design
//!
//! Nothing here waits on the network on the caller's path. Spans and log records go into
//! bounded batch queues ([`QUEUE_SIZE`]) drained by the SDK's own threads; metrics are
//! aggregated in place, with a cap on series per instrument ([`CARDINALITY_LIMIT`]), and
//! pushed by the SDK's periodic reader thread. Every export is cut off after
//! [`EXPORT_TIMEOUT`]. What cannot be delivered (refused because a queue is full, or lost in
//! a failed export) is counted per signal, readable with [`Telemetry::dropped`] and exported
//! as `picket.telemetry.dropped{signal}`. [`Telemetry::shutdown`] is bounded by its timeout
//! even when the collector hangs.
//!
//! # gRPC and runtimes
//!
//! The tonic exporter spawns its connection tasks on the tokio runtime that is current when
//! it is built, while the SDK's batch processors drive exports from plain threads with a
//! blocking executor. Borrowing the caller's runtime would tie exports to it: a
//! current-thread runtime blocked in `shutdown` could never finish the final export. So
//! picket runs a one-thread runtime of its own (`picket-otlp`) and builds the gRPC exporters
//! inside it. HTTP/protobuf uses the blocking reqwest client, which has its own thread.
//!
//! # Without a collector
//!
//! With no endpoint configured (and no `OTEL_EXPORTER_OTLP_ENDPOINT`), nothing is exported:
//! the instruments are no-ops, [`Telemetry::layer`] is `None`, and regressions and recoveries
//! still reach picket's own log as tracing events (target [`TRANSITION_TARGET`]).
//!
//! # Files
//!
//! - `names.rs`: the instrument, event and target names SPEC §7 fixes
//! - `labels.rs`: the labels of a series, and the span of one run
//! - `instruments.rs`: the instruments, and what the observable gauges read
//! - `export.rs`: endpoint and protocol, resource, exporters, the gRPC runtime
//! - `bounded.rs`: bounded batch queues, and counting what is dropped
//! - `scrub.rs`: secrets scrubbed from spans and log records
//! - `health.rs`: whether exports reach the collector, told in picket's log

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, Key, KeyValue};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{self, OtlpProtocol};
use crate::outcome::{Finding, RunResult};
use crate::redact::SharedRedactor;
use crate::state::{Notice, Tracker, Transition};

mod bounded;
mod export;
mod health;
mod instruments;
mod labels;
mod names;
mod scrub;

use bounded::{Bounded, Counted, Losses};
pub use bounded::{Dropped, QUEUE_SIZE};
pub use export::{EXPORT_TIMEOUT, Export, resolve};
use export::{ExportRuntime, Exporters, MAX_EXPORT_BATCH, resource};
use health::Health;
pub use health::{EXPORT_TARGET, REMINDER};
pub use instruments::CARDINALITY_LIMIT;
use instruments::{Instruments, Observed};
pub use labels::{SeriesLabels, category, finish_run_span, run_span};
pub use names::{
    ACCEPTANCE_EXPIRED_EVENT, ACCEPTANCE_UNNEEDED_EVENT, API_CONNECTIONS_SHED, CLUSTER_MEMBERS,
    CONFIG_RELOADS, DISCOVERY_ERRORS, DISCOVERY_TARGETS, NOTIFY_DELIVERIES, PROBE_ACCEPTED,
    PROBE_DURATION, PROBE_REGRESSED, PROBE_RUNS, PROBE_STATUS, RECOVERIES, RECOVERY_EVENT,
    REGRESSION_EVENT, REGRESSIONS, SCHEDULE_LATENESS, SCHEDULE_SKIPPED, SOFTWARE_EOL, STATE_ERRORS,
    TARGET_DISCOVERED_EVENT, TARGET_REMOVED_EVENT, TELEMETRY_DROPPED, TLS_CERTIFICATE_EXPIRY,
    TRANSITION_TARGET, event_name,
};

/// Targets of dependencies whose own spans and events must not become picket's telemetry
/// (the exporters' HTTP stack would otherwise report on itself, in a loop).
const DEPENDENCY_TARGETS: [&str; 9] = [
    "opentelemetry",
    "tonic",
    "h2",
    "hyper",
    "tower",
    "reqwest",
    "rustls",
    "axum",
    "redb",
];

/// picket's telemetry: OTLP providers, instruments, and the drop counts. Cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

// Field order is drop order: providers go (and flush) before the runtime their gRPC
// exporters run on.
struct Inner {
    export: Option<Export>,
    origin: Origin,
    instruments: Instruments,
    pipeline: Option<Pipeline>,
    meter_provider: SdkMeterProvider,
    states: Arc<Observed>,
    losses: Arc<Losses>,
    /// The secrets spans and log records are scrubbed of.
    secrets: SharedRedactor,
    shut_down: AtomicBool,
    runtime: Option<ExportRuntime>,
    /// How exports to the collector go, when there is one.
    health: Option<Arc<Health>>,
}

/// Which picket instance this is, as the resource says: for notifications, which carry it too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// `service.instance.id`.
    pub instance: String,
    /// `picket.vantage`, when set.
    pub vantage: Option<String>,
}

impl Origin {
    fn of(resource: &Resource) -> Origin {
        let text = |key: &'static str| {
            resource
                .get(&Key::from_static_str(key))
                .map(|v| v.to_string())
        };
        Origin {
            instance: text("service.instance.id").unwrap_or_default(),
            vantage: text("picket.vantage"),
        }
    }
}

/// The span and log providers, present only while exporting.
struct Pipeline {
    tracer: SdkTracerProvider,
    logger_provider: SdkLoggerProvider,
    logger: SdkLogger,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("export", &self.inner.export)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Builds providers and exporters from the config, the standard `OTEL_*` environment
    /// variables winning over the file. Without any endpoint nothing is exported, which is
    /// not an error. Must be called before the tracing subscriber is installed (it is where
    /// [`Telemetry::layer`] comes from); needs no tokio runtime.
    pub fn init(cfg: &config::Telemetry, vantage: Option<&str>) -> anyhow::Result<Telemetry> {
        let env = |name: &str| std::env::var(name).ok();
        let export = resolve(cfg, env)?;
        Telemetry::build(export, vantage)
    }

    /// Telemetry that exports nothing, whatever the environment says (for tests and one-shot
    /// commands).
    pub fn disabled() -> Telemetry {
        let resource = resource(None, |_| None);
        Telemetry::assemble(
            None,
            None,
            None,
            resource,
            Arc::default(),
            SharedRedactor::default(),
        )
    }

    /// Builds telemetry for an already resolved export setting.
    pub fn build(export: Option<Export>, vantage: Option<&str>) -> anyhow::Result<Telemetry> {
        let env = |name: &str| std::env::var(name).ok();
        let resource = resource(vantage, env);
        let losses = Arc::new(Losses::default());
        let secrets = SharedRedactor::default();
        let Some(export) = export else {
            return Ok(Telemetry::assemble(
                None, None, None, resource, losses, secrets,
            ));
        };
        let runtime = match export.protocol {
            OtlpProtocol::Grpc => Some(ExportRuntime::start()?),
            OtlpProtocol::HttpProtobuf => None,
        };
        let health = Arc::new(Health::new(export.shown_endpoint(), export.protocol_name()));
        let exporters = {
            // tonic spawns its connection tasks on the current runtime: make it ours.
            let _entered = runtime.as_ref().map(|rt| rt.handle.enter());
            Exporters::build(&export)?
        };
        let tracer = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_span_processor(Bounded::new(
                BatchSpanProcessor::builder(Counted::new(exporters.spans, &losses, &health))
                    .with_batch_config(
                        opentelemetry_sdk::trace::BatchConfigBuilder::default()
                            .with_max_queue_size(QUEUE_SIZE)
                            .with_max_export_batch_size(MAX_EXPORT_BATCH)
                            .build(),
                    )
                    .build(),
                &losses,
                &secrets,
            ))
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource.clone())
            .with_log_processor(Bounded::new(
                BatchLogProcessor::builder(Counted::new(exporters.logs, &losses, &health))
                    .with_batch_config(
                        opentelemetry_sdk::logs::BatchConfigBuilder::default()
                            .with_max_queue_size(QUEUE_SIZE)
                            .with_max_export_batch_size(MAX_EXPORT_BATCH)
                            .build(),
                    )
                    .build(),
                &losses,
                &secrets,
            ))
            .build();
        let reader = PeriodicReader::builder(Counted::new(exporters.metrics, &losses, &health))
            .with_interval(export.interval)
            .build();
        let logger = logger_provider.logger_with_scope(scope());
        let pipeline = Pipeline {
            tracer,
            logger_provider,
            logger,
        };
        Ok(Telemetry::assemble(
            Some(export),
            Some((pipeline, reader, health)),
            runtime,
            resource,
            losses,
            secrets,
        ))
    }

    fn assemble(
        export: Option<Export>,
        pipeline: Option<(
            Pipeline,
            PeriodicReader<Counted<opentelemetry_otlp::MetricExporter>>,
            Arc<Health>,
        )>,
        runtime: Option<ExportRuntime>,
        resource: Resource,
        losses: Arc<Losses>,
        secrets: SharedRedactor,
    ) -> Telemetry {
        let origin = Origin::of(&resource);
        let mut builder = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_view(|instrument: &Instrument| {
                instrument
                    .name()
                    .starts_with("picket.")
                    .then(|| {
                        Stream::builder()
                            .with_cardinality_limit(CARDINALITY_LIMIT)
                            .build()
                            .ok()
                    })
                    .flatten()
            });
        let (pipeline, health) = match pipeline {
            Some((pipeline, reader, health)) => {
                builder = builder.with_reader(reader);
                (Some(pipeline), Some(health))
            }
            None => (None, None),
        };
        let meter_provider = builder.build();
        let states = Arc::new(Observed::default());
        let instruments = Instruments::new(&meter_provider, &states, &losses, pipeline.is_some());
        Telemetry {
            inner: Arc::new(Inner {
                export,
                origin,
                instruments,
                pipeline,
                meter_provider,
                states,
                losses,
                secrets,
                shut_down: AtomicBool::new(false),
                runtime,
                health,
            }),
        }
    }

    /// The secrets this telemetry scrubs from every span and log record before export: empty
    /// at first; whoever feeds it configurations adds theirs (the service, once per accepted
    /// configuration). The service shares the same handle with the notifier and the API.
    pub fn secrets(&self) -> &SharedRedactor {
        &self.inner.secrets
    }

    /// Where telemetry goes, if anywhere (for a startup log line).
    pub fn export(&self) -> Option<&Export> {
        self.inner.export.as_ref()
    }

    /// Says in picket's log where telemetry goes: the collector's endpoint and protocol, or
    /// that there is none and regressions are told in this log only. From then on, picket's
    /// log tells when exports stop (and start again) getting through to the collector; not
    /// before, so a start-up that fails does not report its final export as an outage.
    pub fn announce(&self) {
        if let Some(health) = &self.inner.health {
            health.arm();
        }
        match self.export() {
            Some(export) => tracing::info!(
                endpoint = %export.shown_endpoint(),
                protocol = export.protocol_name(),
                "exporting telemetry to the OTLP collector"
            ),
            None => tracing::info!("no OTLP endpoint: regressions go to this log"),
        }
    }

    /// The tracing layers to install in the process subscriber: spans become OTLP spans and
    /// events at INFO and above become OTLP log records. `None` when not exporting. Spans and
    /// events of picket's network dependencies are left out, as are the transition log
    /// lines, which [`Telemetry::record_transition`] exports itself with typed attributes, and
    /// the lines about the collector itself ([`EXPORT_TARGET`]). Ordinary records carry no
    /// event name: only picket's own events (`picket.regression`, …) have one.
    pub fn layer<S>(&self) -> Option<Box<dyn Layer<S> + Send + Sync>>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let pipeline = self.inner.pipeline.as_ref()?;
        let spans = tracing_opentelemetry::layer()
            .with_tracer(pipeline.tracer.tracer_with_scope(scope()))
            .with_filter(filter_fn(|meta| !from_dependency(meta.target())));
        let logs = OpenTelemetryTracingBridge::new(&pipeline.logger_provider).with_filter(
            filter_fn(|meta| {
                *meta.level() <= tracing::Level::INFO
                    && meta.target() != TRANSITION_TARGET
                    && meta.target() != EXPORT_TARGET
                    && !from_dependency(meta.target())
            }),
        );
        Some(spans.and_then(logs).boxed())
    }

    /// Records a finished run: `picket.probe.runs` and `picket.probe.duration`.
    pub fn record_run(&self, labels: &SeriesLabels, result: &RunResult) {
        let [probe, target] = labels.series();
        let attrs = [
            probe,
            target,
            KeyValue::new("outcome", result.outcome.as_str()),
        ];
        let instruments = &self.inner.instruments;
        instruments.runs.add(1, &attrs);
        if let Some(not_after) = result.certificate_not_after {
            self.inner
                .states
                .set_certificate(labels, &result.server_address, not_after);
        }
        if !result.software.is_empty() {
            self.inner.states.set_software(labels, &result.software);
        }
        instruments
            .duration
            .record(result.duration.as_secs_f64(), &attrs);
    }

    /// Makes the state gauges read `tracker`, the one owner of series state, at each export:
    /// `picket.probe.status` is 1 while a series passes, `picket.probe.regressed` is 1 while
    /// it is regressed, both with the series' current severity. A series is reported once it
    /// has a state (not `unknown`), and no longer once a reload removes it. Telemetry holds
    /// the tracker weakly: it never keeps the state store open.
    pub fn observe_states(&self, tracker: &Arc<Tracker>) {
        *self
            .inner
            .states
            .tracker
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(tracker);
    }

    /// Records a regression or recovery: `picket.regressions` or `picket.recoveries`, one
    /// OTLP log record (event `picket.regression` / `picket.recovery`, WARN / INFO) with the
    /// rule and the findings, and a line in picket's own log. `since` is when the new state
    /// began (the start of the run that caused it), reported as `picket.state.since`: with
    /// the series it identifies the transition, so a backend can tell one from another.
    pub fn record_transition(
        &self,
        labels: &SeriesLabels,
        t: Transition,
        findings: &[Finding],
        since: SystemTime,
    ) {
        let since = crate::units::rfc3339(since);
        let attrs = labels.with_severity();
        match t {
            Transition::Regression => self.inner.instruments.regressions.add(1, &attrs),
            Transition::Recovery => self.inner.instruments.recoveries.add(1, &attrs),
        }
        let findings: Vec<Finding> = findings.iter().map(Finding::without_detail).collect();
        let findings_json = serde_json::to_string(&findings).unwrap_or_else(|_| "[]".to_owned());
        log_transition(labels, t, &in_words(&findings), findings.len(), &since);
        if let Some(pipeline) = &self.inner.pipeline {
            emit_transition(
                &pipeline.logger,
                labels,
                t,
                findings_json,
                findings.len(),
                since,
            );
        }
    }

    /// Records what a series' acceptance is worth saying: its end while the series fails
    /// (`picket.acceptance.expired`, WARN) or that the series passed its last 10 runs under it
    /// (`picket.acceptance.unneeded`, INFO): a line in picket's own log and one OTLP log
    /// record with the series, the acceptance's `until`, reason and place, and the findings.
    pub fn record_notice(&self, labels: &SeriesLabels, notice: &Notice, findings: &[Finding]) {
        let held = notice.held();
        let expired = matches!(notice, Notice::Expired(_));
        if expired {
            tracing::warn!(probe.id = labels.probe_id, target.name = labels.target_name, acceptance.until = %held.until, acceptance.reason = %held.reason, acceptance.at = %held.at, "acceptance ended while the series still fails; its findings are announced again");
        } else {
            tracing::info!(probe.id = labels.probe_id, target.name = labels.target_name, acceptance.until = %held.until, acceptance.reason = %held.reason, acceptance.at = %held.at, "acceptance no longer needed: the series passed its last 10 runs");
        }
        let Some(pipeline) = &self.inner.pipeline else {
            return;
        };
        let event = if expired {
            names::ACCEPTANCE_EXPIRED_EVENT
        } else {
            names::ACCEPTANCE_UNNEEDED_EVENT
        };
        let now = SystemTime::now();
        let mut record = pipeline.logger.create_log_record();
        record.set_event_name(event);
        if expired {
            record.set_severity_number(opentelemetry::logs::Severity::Warn);
            record.set_severity_text("WARN");
            record.set_body(AnyValue::from(format!(
                "acceptance ended: {} on {} still fails (accepted until {}: {})",
                labels.probe_id, labels.target_name, held.until, held.reason
            )));
        } else {
            record.set_severity_number(opentelemetry::logs::Severity::Info);
            record.set_severity_text("INFO");
            record.set_body(AnyValue::from(format!(
                "acceptance no longer needed: {} on {} passed its last 10 runs (accepted until {}: {})",
                labels.probe_id, labels.target_name, held.until, held.reason
            )));
        }
        record.set_timestamp(now);
        record.set_observed_timestamp(now);
        record.add_attribute("event.name", event);
        record.add_attribute("probe.id", labels.probe_id.to_owned());
        record.add_attribute("target.name", labels.target_name.to_owned());
        record.add_attribute("probe.severity", labels.severity.as_str());
        record.add_attribute("security_rule.name", labels.rule_name.to_owned());
        record.add_attribute("picket.acceptance.until", held.until.clone());
        record.add_attribute("picket.acceptance.reason", held.reason.clone());
        record.add_attribute("picket.acceptance.source", held.at.clone());
        if expired {
            let findings: Vec<Finding> = findings.iter().map(Finding::without_detail).collect();
            record.add_attribute(
                "findings",
                serde_json::to_string(&findings).unwrap_or_else(|_| "[]".to_owned()),
            );
            record.add_attribute(
                "findings.count",
                i64::try_from(findings.len()).unwrap_or(i64::MAX),
            );
        }
        pipeline.logger.emit(record);
    }

    /// Records how late a run fired against its schedule, in seconds.
    pub fn record_lateness(&self, seconds: f64) {
        self.inner
            .instruments
            .lateness
            .record(seconds.max(0.0), &[]);
    }

    /// Records a config reload (`outcome="ok"` or `"error"`).
    pub fn record_reload(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.inner
            .instruments
            .reloads
            .add(1, &[KeyValue::new("outcome", outcome)]);
    }

    /// Records a tick skipped because the series' previous run was still in flight.
    pub fn record_skipped(&self, labels: &SeriesLabels) {
        self.inner.instruments.skipped.add(1, &labels.series());
    }

    /// Records the fate of one webhook notification: `picket.notify.deliveries` with
    /// `webhook.name` and `outcome` (`delivered`, `failed` or `dropped`).
    pub fn record_delivery(&self, webhook: &str, outcome: &'static str) {
        self.inner.instruments.deliveries.add(
            1,
            &[
                KeyValue::new("webhook.name", webhook.to_owned()),
                KeyValue::new("outcome", outcome),
            ],
        );
    }

    /// Records an API connection closed because the connection limit was reached:
    /// `picket.api.connections.shed` with `reason` (`evicted` or `refused`).
    pub fn record_api_shed(&self, reason: &'static str) {
        self.inner
            .instruments
            .api_shed
            .add(1, &[KeyValue::new("reason", reason)]);
    }

    /// Sets the live targets of a discovery source (`picket.discovery.targets`), or forgets
    /// the source (`None`) when a reload removed it.
    pub fn set_discovered(&self, source: &str, targets: Option<usize>) {
        self.inner.states.set_discovered(
            source,
            targets.map(|n| u64::try_from(n).unwrap_or(u64::MAX)),
        );
    }

    /// Counts `n` new errors of a discovery source (`picket.discovery.errors`).
    pub fn record_discovery_errors(&self, source: &str, n: u64) {
        if n > 0 {
            self.inner
                .instruments
                .discovery_errors
                .add(n, &[KeyValue::new("discovery.source", source.to_owned())]);
        }
    }

    /// A target a discovery source found (`found`) or no longer lists: an INFO line in
    /// picket's own log and one OTLP log record (event `picket.target.discovered` /
    /// `picket.target.removed`) with the source, the target's name, URL (secrets removed)
    /// and tags.
    pub fn record_target_event(
        &self,
        found: bool,
        source: &str,
        target: &str,
        url: &str,
        tags: &[String],
    ) {
        let event = if found {
            names::TARGET_DISCOVERED_EVENT
        } else {
            names::TARGET_REMOVED_EVENT
        };
        let tags = tags.join(",");
        if found {
            tracing::info!(discovery.source = source, target.name = target, url.full = url, target.tags = %tags, "target discovered");
        } else {
            tracing::info!(
                discovery.source = source,
                target.name = target,
                url.full = url,
                "target removed"
            );
        }
        if let Some(pipeline) = &self.inner.pipeline {
            let now = SystemTime::now();
            let mut record = pipeline.logger.create_log_record();
            record.set_event_name(event);
            record.set_severity_number(opentelemetry::logs::Severity::Info);
            record.set_severity_text("INFO");
            record.set_timestamp(now);
            record.set_observed_timestamp(now);
            let verb = if found { "discovered" } else { "removed" };
            record.set_body(AnyValue::from(format!("target {verb}: {target}")));
            record.add_attribute("event.name", event);
            record.add_attribute("discovery.source", source.to_owned());
            record.add_attribute("target.name", target.to_owned());
            record.add_attribute("url.full", url.to_owned());
            record.add_attribute("target.tags", tags);
            pipeline.logger.emit(record);
        }
    }

    /// This instance's `service.instance.id` and `picket.vantage`.
    pub fn origin(&self) -> &Origin {
        &self.inner.origin
    }

    /// What could not be delivered so far.
    pub fn dropped(&self) -> Dropped {
        self.inner.losses.snapshot()
    }

    /// Exports the log records queued so far and waits for the collector's answer (up to
    /// the export timeout): `true` once they are through, or when nothing is exported (no
    /// endpoint). Blocks the calling thread: call it from `spawn_blocking`. With a group, a
    /// transition is marked announced in the database only after this, so a member killed
    /// before its record left leaves it to the next owner.
    pub fn flush_logs(&self) -> bool {
        match &self.inner.pipeline {
            None => true,
            Some(_) if self.inner.shut_down.load(Ordering::SeqCst) => false,
            Some(pipeline) => pipeline.logger_provider.force_flush().is_ok(),
        }
    }

    /// Flushes and shuts down the providers, waiting at most `timeout`; never hangs. Blocks
    /// the calling thread for up to `timeout`. Exports never need the caller's runtime, so
    /// calling it from async code cannot deadlock, but it holds that worker while it waits
    /// (prefer `spawn_blocking`). Later calls do nothing.
    pub fn shutdown(&self, timeout: Duration) {
        if self.inner.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.inner.clone();
        let (done, finished) = std::sync::mpsc::channel();
        let flush = std::thread::Builder::new()
            .name("picket-otel-shutdown".into())
            .spawn(move || {
                if let Some(pipeline) = &inner.pipeline {
                    std::thread::scope(|s| {
                        s.spawn(|| pipeline.logger_provider.shutdown_with_timeout(timeout));
                        let _ = pipeline.tracer.shutdown_with_timeout(timeout);
                    });
                }
                // Metrics last, so their final export carries the spans and logs just lost.
                let _ = inner.meter_provider.shutdown_with_timeout(timeout);
                let _ = done.send(());
            });
        if flush.is_ok() {
            let _ = finished.recv_timeout(timeout);
        }
        // Whatever is still exporting now fails fast instead of holding its thread.
        if let Some(runtime) = &self.inner.runtime {
            runtime.stop();
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("picket")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

fn from_dependency(target: &str) -> bool {
    DEPENDENCY_TARGETS.iter().any(|dep| {
        target
            .strip_prefix(dep)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    })
}

/// Findings as a person reads them: `check: expected …, observed …`, joined by `; `, on one
/// line (a line break a target sent is shown as `\n`).
fn in_words(findings: &[Finding]) -> String {
    use std::fmt::Write as _;
    let mut words = String::new();
    for f in findings {
        if !words.is_empty() {
            words.push_str("; ");
        }
        let _ = write!(
            words,
            "{}: expected {}, observed {}",
            f.check, f.expected, f.observed
        );
    }
    words
        .replace('\r', "\\r")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

/// picket's own log line for a transition: what an operator without a collector sees. The
/// findings are words here (`findings` is a `Display` field, so it is not quoted and
/// escaped); the OTLP record carries them as JSON.
// `event!` rather than `warn!`/`info!`: those macros cannot parse `target:` followed by
// dotted field names.
fn log_transition(labels: &SeriesLabels, t: Transition, findings: &str, count: usize, since: &str) {
    match t {
        Transition::Regression => tracing::event!(
            target: TRANSITION_TARGET,
            tracing::Level::WARN,
            probe.id = labels.probe_id,
            target.name = labels.target_name,
            probe.severity = labels.severity.as_str(),
            security_rule.name = labels.rule_name,
            since,
            findings.count = count,
            findings = %findings,
            "security regression"
        ),
        Transition::Recovery => tracing::event!(
            target: TRANSITION_TARGET,
            tracing::Level::INFO,
            probe.id = labels.probe_id,
            target.name = labels.target_name,
            probe.severity = labels.severity.as_str(),
            security_rule.name = labels.rule_name,
            since,
            "security recovery"
        ),
    }
}

/// The OTLP log record for a transition, emitted straight through the SDK logger so its
/// event name, severity and attribute types do not depend on the subscriber setup.
fn emit_transition(
    logger: &SdkLogger,
    labels: &SeriesLabels,
    t: Transition,
    findings_json: String,
    count: usize,
    since: String,
) {
    let (severity, text, verb) = match t {
        Transition::Regression => (opentelemetry::logs::Severity::Warn, "WARN", "regression"),
        Transition::Recovery => (opentelemetry::logs::Severity::Info, "INFO", "recovery"),
    };
    let now = SystemTime::now();
    let mut record = logger.create_log_record();
    record.set_event_name(event_name(t));
    record.set_severity_number(severity);
    record.set_severity_text(text);
    record.set_timestamp(now);
    record.set_observed_timestamp(now);
    record.set_body(AnyValue::from(format!(
        "security {verb}: {} on {}",
        labels.probe_id, labels.target_name
    )));
    // Backends that predate the LogRecord event_name field look for this attribute.
    record.add_attribute("event.name", event_name(t));
    record.add_attribute("probe.id", labels.probe_id.to_owned());
    record.add_attribute("target.name", labels.target_name.to_owned());
    record.add_attribute("probe.severity", labels.severity.as_str());
    record.add_attribute("security_rule.name", labels.rule_name.to_owned());
    record.add_attribute("security_rule.category", labels.rule_category.to_owned());
    if let Some(reference) = labels.rule_reference {
        record.add_attribute("security_rule.reference", reference.to_owned());
    }
    for (key, value) in labels.classification {
        record.add_attribute(
            format!("security_rule.{}", key.replace('-', "_")),
            value.clone(),
        );
    }
    record.add_attribute("picket.state.since", since);
    record.add_attribute("findings", findings_json);
    record.add_attribute("findings.count", i64::try_from(count).unwrap_or(i64::MAX));
    logger.emit(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_targets_are_recognised_by_crate() {
        assert!(from_dependency("hyper_util::client"));
        assert!(from_dependency("h2::codec"));
        assert!(from_dependency("opentelemetry_sdk"));
        assert!(!from_dependency("picket::run"));
        assert!(!from_dependency("h2o"));
    }
}
