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

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::metrics::{
    Counter, Histogram, MeterProvider as _, ObservableCounter, ObservableGauge,
};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, Key, KeyValue};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchLogProcessor, LogBatch, LogExporter, LogProcessor, SdkLogRecord, SdkLogger,
    SdkLoggerProvider,
};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, TelemetryResourceDetector,
};
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter, SpanProcessor,
};
use tracing::field::Empty;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;
use url::Url;

use crate::config::{self, OtlpProtocol};
use crate::outcome::{Finding, Outcome, RunResult};
use crate::plan::Series;
use crate::redact::Redactor;
use crate::state::{State, Tracker, Transition};
use crate::units::Severity;

mod health;

pub use health::{EXPORT_TARGET, REMINDER};
use health::{Health, Signal};

/// Runs of a series, by outcome (counter, `{run}`).
pub const PROBE_RUNS: &str = "picket.probe.runs";
/// Run durations (histogram, `s`).
pub const PROBE_DURATION: &str = "picket.probe.duration";
/// 1 while a series passes, 0 while it fails or is regressed (gauge).
pub const PROBE_STATUS: &str = "picket.probe.status";
/// 1 while a series is regressed, else 0 (gauge).
pub const PROBE_REGRESSED: &str = "picket.probe.regressed";
/// `picket.tls.certificate.expiry`: seconds until the leaf certificate's notAfter.
pub const TLS_CERTIFICATE_EXPIRY: &str = "picket.tls.certificate.expiry";
/// Regressions declared (counter, `{regression}`).
pub const REGRESSIONS: &str = "picket.regressions";
/// Recoveries declared (counter, `{recovery}`).
pub const RECOVERIES: &str = "picket.recoveries";
/// How late runs fired against their schedule (histogram, `s`).
pub const SCHEDULE_LATENESS: &str = "picket.schedule.lateness";
/// Ticks skipped because the series' previous run was still in flight (counter, `{run}`;
/// a picket extension).
pub const SCHEDULE_SKIPPED: &str = "picket.schedule.skipped";
/// Config reloads, by outcome (counter).
pub const CONFIG_RELOADS: &str = "picket.config.reloads";
/// Telemetry items that could not be delivered, by signal (counter).
pub const TELEMETRY_DROPPED: &str = "picket.telemetry.dropped";
/// Webhook notifications by webhook and outcome: `delivered`, `failed` (refused, or out of
/// attempts) or `dropped` (its queue was full, or shutdown came first) (counter,
/// `{delivery}`).
pub const NOTIFY_DELIVERIES: &str = "picket.notify.deliveries";
/// API connections closed because the connection limit was reached, by `reason`: `evicted`
/// (an idle connection closed to make room for a new one) or `refused` (a new connection
/// closed at once: every open one had a request in progress) (counter, `{connection}`; a
/// picket extension).
pub const API_CONNECTIONS_SHED: &str = "picket.api.connections.shed";
/// Event name of the log record for a regression.
pub const REGRESSION_EVENT: &str = "picket.regression";
/// Event name of the log record for a recovery.
pub const RECOVERY_EVENT: &str = "picket.recovery";
/// The tracing target of picket's own log lines for regressions and recoveries.
pub const TRANSITION_TARGET: &str = "picket::transition";

/// Spans, and log records, waiting for export at most; beyond that they are dropped.
pub const QUEUE_SIZE: usize = 2048;
/// Time limit of one export request; retries stop once it is spent.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most attribute sets per instrument. 10,000 series × 4 outcomes fit; past the limit the SDK
/// folds new series into one overflow series instead of growing.
pub const CARDINALITY_LIMIT: usize = 50_000;
/// Spans or log records per export request.
const MAX_EXPORT_BATCH: usize = 512;
/// Histogram buckets for run durations, in seconds (as OpenTelemetry's HTTP client
/// conventions use).
const DURATION_BOUNDS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];
/// Histogram buckets for schedule lateness, in seconds.
const LATENESS_BOUNDS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
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

/// Stable, low-cardinality labels of one series.
#[derive(Debug, Clone, Copy)]
pub struct SeriesLabels<'a> {
    /// Probe id, e.g. `headers/hsts`.
    pub probe_id: &'a str,
    /// Target name.
    pub target_name: &'a str,
    /// Severity of the series: the probe's, or the highest of its current findings' when the
    /// probe grades its checks.
    pub severity: Severity,
    /// Probe name (human title), reported as `security_rule.name`.
    pub rule_name: &'a str,
    /// First segment of the probe id (`headers`), reported as `security_rule.category`.
    pub rule_category: &'a str,
    /// First reference URL of the probe, reported as `security_rule.reference`.
    pub rule_reference: Option<&'a str>,
    /// A nuclei template's classification, reported as `security_rule.cve_id`,
    /// `security_rule.cwe_id` and `security_rule.cvss_score`.
    pub classification: &'a [(String, String)],
}

impl<'a> SeriesLabels<'a> {
    /// The labels of a planned series.
    pub fn of(series: &'a Series) -> SeriesLabels<'a> {
        SeriesLabels {
            probe_id: &series.probe.id,
            target_name: &series.target.name,
            severity: series.probe.severity,
            rule_name: &series.probe.name,
            rule_category: category(&series.probe.id),
            rule_reference: series.probe.references.first().map(String::as_str),
            classification: &series.probe.classification,
        }
    }

    /// The labels of a tracked series in its current state (whose findings may grade its
    /// severity).
    pub fn of_info(
        info: &'a crate::state::SeriesInfo,
        state: &crate::state::SeriesState,
    ) -> SeriesLabels<'a> {
        SeriesLabels {
            probe_id: &info.probe.id,
            target_name: &info.target,
            severity: state.severity(info.probe.severity),
            rule_name: &info.probe.name,
            rule_category: category(&info.probe.id),
            rule_reference: info.probe.references.first().map(String::as_str),
            classification: &info.probe.classification,
        }
    }

    fn series(&self) -> [KeyValue; 2] {
        [
            KeyValue::new("probe.id", self.probe_id.to_owned()),
            KeyValue::new("target.name", self.target_name.to_owned()),
        ]
    }

    fn with_severity(&self) -> [KeyValue; 3] {
        let [probe, target] = self.series();
        [
            probe,
            target,
            KeyValue::new("probe.severity", self.severity.as_str()),
        ]
    }
}

/// The category of a probe id: its first segment (`headers` for `headers/hsts`).
pub fn category(probe_id: &str) -> &str {
    probe_id.split('/').next().unwrap_or(probe_id)
}

/// The event name of a transition's log record.
pub fn event_name(t: Transition) -> &'static str {
    match t {
        Transition::Regression => REGRESSION_EVENT,
        Transition::Recovery => RECOVERY_EVENT,
    }
}

/// Where and how telemetry is exported, after the environment has had its say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Collector base URL; HTTP/protobuf posts to `<endpoint>/v1/<signal>`.
    pub endpoint: Url,
    /// Wire protocol.
    pub protocol: OtlpProtocol,
    /// How often metrics are pushed.
    pub interval: Duration,
}

impl Export {
    /// The endpoint as it may be shown in logs: without user name or password.
    pub fn shown_endpoint(&self) -> String {
        let mut url = self.endpoint.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.to_string()
    }

    /// The protocol as `OTEL_EXPORTER_OTLP_PROTOCOL` names it: `grpc` or `http/protobuf`.
    pub fn protocol_name(&self) -> &'static str {
        match self.protocol {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Telemetry items that could not be delivered since start, per signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Spans refused by a full queue or lost in failed exports.
    pub spans: u64,
    /// Log records refused by a full queue or lost in failed exports.
    pub logs: u64,
    /// Metric data points in failed exports. Cumulative sums and histograms catch up with the
    /// next export that gets through; gauges and the interval itself are lost.
    pub metric_points: u64,
}

impl Dropped {
    /// Everything dropped, all signals together.
    pub fn total(&self) -> u64 {
        self.spans + self.logs + self.metric_points
    }
}

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

struct Instruments {
    runs: Counter<u64>,
    duration: Histogram<f64>,
    regressions: Counter<u64>,
    recoveries: Counter<u64>,
    lateness: Histogram<f64>,
    reloads: Counter<u64>,
    skipped: Counter<u64>,
    deliveries: Counter<u64>,
    api_shed: Counter<u64>,
    // Observable instruments report through callbacks; the handles are kept so the
    // registration plainly lives as long as the telemetry.
    // `None` without an exporter: the SDK logs an error for observable instruments that no
    // reader will ever collect.
    _status: Option<ObservableGauge<u64>>,
    _regressed: Option<ObservableGauge<u64>>,
    _expiry: Option<ObservableGauge<f64>>,
    _dropped: Option<ObservableCounter<u64>>,
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
        Telemetry::assemble(None, None, None, resource, Arc::default())
    }

    /// Builds telemetry for an already resolved export setting.
    pub fn build(export: Option<Export>, vantage: Option<&str>) -> anyhow::Result<Telemetry> {
        let env = |name: &str| std::env::var(name).ok();
        let resource = resource(vantage, env);
        let losses = Arc::new(Losses::default());
        let Some(export) = export else {
            return Ok(Telemetry::assemble(None, None, None, resource, losses));
        };
        // The HTTP exporter's client speaks rustls for https collectors and needs a crypto
        // provider; the runner installs the same one, so whichever comes first wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
            .with_span_processor(BoundedSpans {
                inner: BatchSpanProcessor::builder(CountedSpans {
                    inner: exporters.spans,
                    losses: losses.clone(),
                    health: health.clone(),
                })
                .with_batch_config(
                    opentelemetry_sdk::trace::BatchConfigBuilder::default()
                        .with_max_queue_size(QUEUE_SIZE)
                        .with_max_export_batch_size(MAX_EXPORT_BATCH)
                        .build(),
                )
                .build(),
                losses: losses.clone(),
            })
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_resource(resource.clone())
            .with_log_processor(BoundedLogs {
                inner: BatchLogProcessor::builder(CountedLogs {
                    inner: exporters.logs,
                    losses: losses.clone(),
                    health: health.clone(),
                })
                .with_batch_config(
                    opentelemetry_sdk::logs::BatchConfigBuilder::default()
                        .with_max_queue_size(QUEUE_SIZE)
                        .with_max_export_batch_size(MAX_EXPORT_BATCH)
                        .build(),
                )
                .build(),
                losses: losses.clone(),
            })
            .build();
        let reader = PeriodicReader::builder(CountedMetrics {
            inner: exporters.metrics,
            losses: losses.clone(),
            health: health.clone(),
        })
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
        ))
    }

    fn assemble(
        export: Option<Export>,
        pipeline: Option<(Pipeline, PeriodicReader<CountedMetrics>, Arc<Health>)>,
        runtime: Option<ExportRuntime>,
        resource: Resource,
        losses: Arc<Losses>,
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
                shut_down: AtomicBool::new(false),
                runtime,
                health,
            }),
        }
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

    /// This instance's `service.instance.id` and `picket.vantage`.
    pub fn origin(&self) -> &Origin {
        &self.inner.origin
    }

    /// What could not be delivered so far.
    pub fn dropped(&self) -> Dropped {
        self.inner.losses.snapshot()
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

/// The span for one run, named `probe <probe.id>`, carrying the series' labels; fill the
/// rest in with [`finish_run_span`].
pub fn run_span(labels: &SeriesLabels) -> tracing::Span {
    tracing::info_span!(
        "probe",
        otel.name = %format_args!("probe {}", labels.probe_id),
        probe.id = labels.probe_id,
        target.name = labels.target_name,
        probe.severity = labels.severity.as_str(),
        outcome = Empty,
        url.full = Empty,
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
        tls.protocol.name = Empty,
        tls.protocol.version = Empty,
        tls.cipher = Empty,
        tls.server.hash.sha256 = Empty,
        tls.server.not_after = Empty,
        tls.server.not_before = Empty,
        tls.server.subject = Empty,
        tls.server.issuer = Empty,
        error.type = Empty,
        picket.wait_ms = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    )
}

/// Records a run's result on its span: `outcome`, `url.full` (already scrubbed of secrets),
/// `server.address`, `server.port`, `http.response.status_code`, `picket.wait_ms` (time
/// queued for permits and rate slots), and on error `error.type` with an error status. A
/// failed check is not an error of the run.
pub fn finish_run_span(span: &tracing::Span, result: &RunResult) {
    span.record("outcome", result.outcome.as_str());
    span.record("url.full", result.url.as_str());
    span.record("server.address", result.server_address.as_str());
    span.record("server.port", u64::from(result.server_port));
    // The span starts once the run is admitted (permits and first rate slot); this is the
    // run's whole wait, the same as `wait_ms` in `check --format json`.
    span.record(
        "picket.wait_ms",
        u64::try_from(result.wait.as_millis()).unwrap_or(u64::MAX),
    );
    if let Some(status) = result.status {
        span.record("http.response.status_code", u64::from(status));
    }
    // Kind-specific attributes; only names declared in `run_span` are kept by `tracing`.
    for (key, value) in &result.attributes {
        span.record(*key, value.as_str());
    }
    if let Outcome::Error(error) = &result.outcome {
        span.record("error.type", error.kind.as_str());
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", error.message.as_str());
    }
}

/// Applies the standard environment variables over the config file: `OTEL_SDK_DISABLED`,
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf`) and
/// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds). `None`: nothing to export to.
pub fn resolve(
    cfg: &config::Telemetry,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Export>> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let endpoint = match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        // The value is not echoed: an endpoint URL may carry credentials.
        Some(v) => Url::parse(&v).context("OTEL_EXPORTER_OTLP_ENDPOINT is not a valid URL")?,
        None => match &cfg.endpoint {
            Some(url) => url.clone(),
            None => return Ok(None),
        },
    };
    if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
        bail!("the OTLP endpoint must be an http:// or https:// URL with a host");
    }
    let protocol = match var("OTEL_EXPORTER_OTLP_PROTOCOL") {
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "grpc" => OtlpProtocol::Grpc,
            "http/protobuf" => OtlpProtocol::HttpProtobuf,
            _ => bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL `{v}` is not supported; use `grpc` or `http/protobuf`"
            ),
        },
        None => cfg.protocol,
    };
    if protocol == OtlpProtocol::Grpc && endpoint.scheme() == "https" {
        bail!(
            "OTLP over gRPC with TLS (https) is not supported; use `http/protobuf` for an https \
             collector, or a plain-text local collector"
        );
    }
    let interval = match var("OTEL_METRIC_EXPORT_INTERVAL") {
        Some(v) => v
            .parse::<u64>()
            .ok()
            .map(Duration::from_millis)
            .filter(|d| crate::units::ranges::EXPORT_INTERVAL.contains(d))
            .with_context(|| {
                format!(
                    "OTEL_METRIC_EXPORT_INTERVAL `{v}` is not a number of milliseconds from 100 to 3600000"
                )
            })?,
        None => cfg.export_interval,
    };
    Ok(Some(Export {
        endpoint,
        protocol,
        interval,
    }))
}

/// The resource: `service.name=picket`, `service.version`, a random `service.instance.id`,
/// then `OTEL_RESOURCE_ATTRIBUTES` over those, `OTEL_SERVICE_NAME` over that, and
/// `picket.vantage` when given.
fn resource(vantage: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Resource {
    let detectors: [Box<dyn ResourceDetector>; 2] = [
        Box::new(TelemetryResourceDetector),
        Box::new(EnvResourceDetector::new()),
    ];
    let mut builder = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "picket"),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", instance_id(rand::random())),
        ])
        .with_detectors(&detectors);
    if let Some(name) = env("OTEL_SERVICE_NAME").filter(|n| !n.trim().is_empty()) {
        builder = builder.with_service_name(name);
    }
    if let Some(vantage) = vantage {
        builder = builder.with_attribute(KeyValue::new("picket.vantage", vantage.to_owned()));
    }
    builder.build()
}

/// A random (version 4) UUID, as the semantic conventions suggest for `service.instance.id`.
fn instance_id(random: u128) -> String {
    let v = (random & !(0xf << 76)) | (0x4 << 76);
    let v = (v & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
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

impl Instruments {
    fn new(
        provider: &SdkMeterProvider,
        states: &Arc<Observed>,
        losses: &Arc<Losses>,
        observable: bool,
    ) -> Self {
        let meter = provider.meter_with_scope(scope());
        let status_states = states.clone();
        let regressed_states = states.clone();
        let expiry_states = states.clone();
        let losses = losses.clone();
        Instruments {
            runs: meter
                .u64_counter(PROBE_RUNS)
                .with_unit("{run}")
                .with_description("Runs of a series, by outcome")
                .build(),
            duration: meter
                .f64_histogram(PROBE_DURATION)
                .with_unit("s")
                .with_description("How long runs took, waits for rate slots included")
                .with_boundaries(DURATION_BOUNDS.to_vec())
                .build(),
            regressions: meter
                .u64_counter(REGRESSIONS)
                .with_unit("{regression}")
                .with_description("Regressions declared")
                .build(),
            recoveries: meter
                .u64_counter(RECOVERIES)
                .with_unit("{recovery}")
                .with_description("Recoveries declared")
                .build(),
            lateness: meter
                .f64_histogram(SCHEDULE_LATENESS)
                .with_unit("s")
                .with_description("How late runs fired against their schedule")
                .with_boundaries(LATENESS_BOUNDS.to_vec())
                .build(),
            // No unit where SPEC §7 gives none: OTLP-to-Prometheus translation turns units
            // into name suffixes (`1` into `_ratio`), and dashboards depend on the names.
            reloads: meter
                .u64_counter(CONFIG_RELOADS)
                .with_description("Config reloads, by outcome")
                .build(),
            skipped: meter
                .u64_counter(SCHEDULE_SKIPPED)
                .with_unit("{run}")
                .with_description("Ticks skipped because the previous run was still in flight")
                .build(),
            deliveries: meter
                .u64_counter(NOTIFY_DELIVERIES)
                .with_unit("{delivery}")
                .with_description("Webhook notifications, by webhook and outcome")
                .build(),
            api_shed: meter
                .u64_counter(API_CONNECTIONS_SHED)
                .with_unit("{connection}")
                .with_description("API connections closed at the connection limit, by reason")
                .build(),
            _status: observable.then(|| {
                meter
                    .u64_observable_gauge(PROBE_STATUS)
                    .with_description("1 while a series passes, 0 while it fails or is regressed")
                    .with_callback(move |observer| {
                        status_states.each(|attrs, state| {
                            observer.observe(u64::from(state == State::Passing), attrs);
                        });
                    })
                    .build()
            }),
            _regressed: observable.then(|| {
                meter
                    .u64_observable_gauge(PROBE_REGRESSED)
                    .with_description("1 while a series is regressed, else 0")
                    .with_callback(move |observer| {
                        regressed_states.each(|attrs, state| {
                            observer.observe(u64::from(state == State::Regressed), attrs);
                        });
                    })
                    .build()
            }),
            _expiry: observable.then(|| {
                meter
                    .f64_observable_gauge(TLS_CERTIFICATE_EXPIRY)
                    .with_unit("s")
                    .with_description(
                        "Seconds until the leaf certificate's notAfter (negative once expired)",
                    )
                    .with_callback(move |observer| {
                        expiry_states
                            .each_certificate(|attrs, seconds| observer.observe(seconds, attrs));
                    })
                    .build()
            }),
            _dropped: observable.then(|| {
                meter
                    .u64_observable_counter(TELEMETRY_DROPPED)
                    .with_unit("{item}")
                    .with_description("Telemetry that could not be delivered, by signal")
                    .with_callback(move |observer| {
                        let dropped = losses.snapshot();
                        observer.observe(dropped.spans, &[KeyValue::new("signal", "traces")]);
                        observer.observe(dropped.logs, &[KeyValue::new("signal", "logs")]);
                        observer
                            .observe(dropped.metric_points, &[KeyValue::new("signal", "metrics")]);
                    })
                    .build()
            }),
        }
    }
}

/// What the observable gauges read at each export: the tracker (series states, owned there)
/// and the last certificate seen per target and server address.
#[derive(Debug, Default)]
struct Observed {
    /// The one owner of series state, once the service has one ([`Telemetry::observe_states`]).
    tracker: RwLock<Weak<Tracker>>,
    /// Certificate expiry by (target, server address), with the probe of the series that saw
    /// it last.
    certificates: Mutex<HashMap<(String, String), (SystemTime, String)>>,
}

impl Observed {
    fn tracker(&self) -> Option<Arc<Tracker>> {
        self.tracker
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade()
    }

    fn set_certificate(&self, labels: &SeriesLabels, address: &str, not_after: SystemTime) {
        self.certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                (labels.target_name.to_owned(), address.to_owned()),
                (not_after, labels.probe_id.to_owned()),
            );
    }

    /// Calls `f` with the attributes and seconds left of every certificate. With a tracker,
    /// a certificate whose series a reload removed is forgotten.
    fn each_certificate(&self, mut f: impl FnMut(&[KeyValue], f64)) {
        let tracked = self.tracker().map(|tracker| {
            let mut tracked = std::collections::HashSet::new();
            tracker.each(|info, _| {
                tracked.insert((info.probe.id.clone(), info.target.clone()));
            });
            tracked
        });
        let now = SystemTime::now();
        let mut certificates = self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tracked) = tracked {
            certificates.retain(|(target, _), (_, probe)| {
                tracked.contains(&(probe.clone(), target.clone()))
            });
        }
        for ((target, address), (not_after, _)) in certificates.iter() {
            let seconds = match not_after.duration_since(now) {
                Ok(d) => d.as_secs_f64(),
                Err(e) => -e.duration().as_secs_f64(),
            };
            let attrs = [
                KeyValue::new("target.name", target.clone()),
                KeyValue::new("server.address", address.clone()),
            ];
            f(&attrs, seconds);
        }
    }

    /// Calls `f` with the attributes and state of every tracked series that has one (not
    /// `unknown`), read from the tracker now.
    fn each(&self, mut f: impl FnMut(&[KeyValue], State)) {
        let Some(tracker) = self.tracker() else {
            return;
        };
        tracker.each(|info, state| {
            if state.state == State::Unknown {
                return;
            }
            let attrs = [
                KeyValue::new("probe.id", info.probe.id.clone()),
                KeyValue::new("target.name", info.target.clone()),
                KeyValue::new(
                    "probe.severity",
                    state.severity(info.probe.severity).as_str(),
                ),
            ];
            f(&attrs, state.state);
        });
    }
}

/// Admission to a batch queue, and what was lost on the way to the collector.
///
/// The SDK's batch processors drop silently when their queue is full; to count those drops
/// picket keeps its own count of items admitted and not yet handed to the exporter, and
/// refuses (and counts) an item when that count reaches the queue size. Since the count
/// never undercounts the queue, the SDK's own queue never overflows.
#[derive(Debug)]
struct Gate {
    capacity: usize,
    queued: AtomicUsize,
    closed: AtomicBool,
    dropped: AtomicU64,
}

impl Gate {
    fn new(capacity: usize) -> Self {
        Gate {
            capacity,
            queued: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether one more item may be queued; counts it as dropped if not.
    fn admit(&self) -> bool {
        if self.closed.load(Ordering::Acquire) {
            self.lost(1);
            return false;
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) < self.capacity {
            return true;
        }
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.lost(1);
        false
    }

    /// `n` items left the queue for the exporter.
    fn exporting(&self, n: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(n))
            });
    }

    fn lost(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

#[derive(Debug)]
struct Losses {
    spans: Gate,
    logs: Gate,
    metric_points: AtomicU64,
}

impl Default for Losses {
    fn default() -> Self {
        Losses {
            spans: Gate::new(QUEUE_SIZE),
            logs: Gate::new(QUEUE_SIZE),
            metric_points: AtomicU64::new(0),
        }
    }
}

impl Losses {
    fn snapshot(&self) -> Dropped {
        Dropped {
            spans: self.spans.dropped.load(Ordering::Relaxed),
            logs: self.logs.dropped.load(Ordering::Relaxed),
            metric_points: self.metric_points.load(Ordering::Relaxed),
        }
    }
}

/// The three OTLP exporters for one endpoint and protocol.
struct Exporters {
    spans: opentelemetry_otlp::SpanExporter,
    logs: opentelemetry_otlp::LogExporter,
    metrics: opentelemetry_otlp::MetricExporter,
}

impl Exporters {
    /// Builds the exporters; for gRPC, must run inside the export runtime.
    fn build(export: &Export) -> anyhow::Result<Exporters> {
        let base = export.endpoint.as_str().trim_end_matches('/');
        let signal = |path: &str| match export.protocol {
            OtlpProtocol::Grpc => base.to_owned(),
            OtlpProtocol::HttpProtobuf => format!("{base}/v1/{path}"),
        };
        let exporters = match export.protocol {
            OtlpProtocol::Grpc => Exporters {
                spans: opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(signal("traces"))
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()
                    .context("cannot build the OTLP span exporter")?,
                logs: opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(signal("logs"))
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()
                    .context("cannot build the OTLP log exporter")?,
                metrics: opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(signal("metrics"))
                    .with_timeout(EXPORT_TIMEOUT)
                    .with_temporality(Temporality::Cumulative)
                    .build()
                    .context("cannot build the OTLP metric exporter")?,
            },
            OtlpProtocol::HttpProtobuf => Exporters {
                spans: opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(signal("traces"))
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()
                    .context("cannot build the OTLP span exporter")?,
                logs: opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(signal("logs"))
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()
                    .context("cannot build the OTLP log exporter")?,
                metrics: opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(signal("metrics"))
                    .with_timeout(EXPORT_TIMEOUT)
                    .with_temporality(Temporality::Cumulative)
                    .build()
                    .context("cannot build the OTLP metric exporter")?,
            },
        };
        Ok(exporters)
    }
}

/// A span processor that admits spans through the [`Gate`] before its batch queue.
#[derive(Debug)]
struct BoundedSpans<P> {
    inner: P,
    losses: Arc<Losses>,
}

impl<P: SpanProcessor> SpanProcessor for BoundedSpans<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if self.losses.spans.admit() {
            scrub_span(&mut span, &crate::redact::global());
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.losses.spans.close();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Scrubs secrets from a span's name, attributes, events and status, at the OTLP boundary.
fn scrub_span(span: &mut SpanData, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    if let Cow::Owned(clean) = redactor.scrub(&span.name) {
        span.name = Cow::Owned(clean);
    }
    scrub_key_values(&mut span.attributes, redactor);
    for event in &mut span.events.events {
        scrub_key_values(&mut event.attributes, redactor);
    }
    if let opentelemetry::trace::Status::Error { description } = &mut span.status
        && let Cow::Owned(clean) = redactor.scrub(description)
    {
        *description = Cow::Owned(clean);
    }
}

fn scrub_key_values(attributes: &mut [KeyValue], redactor: &Redactor) {
    use opentelemetry::{Array, StringValue, Value};
    for kv in attributes {
        match &mut kv.value {
            Value::String(text) => {
                if let Cow::Owned(clean) = redactor.scrub(text.as_str()) {
                    *text = StringValue::from(clean);
                }
            }
            Value::Array(Array::String(items)) => {
                for text in items {
                    if let Cow::Owned(clean) = redactor.scrub(text.as_str()) {
                        *text = StringValue::from(clean);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a log record's event name is one of picket's own (`picket.regression`, …). The
/// tracing bridge names every record after its tracing event, by default
/// `event src/service.rs:259`: a source position, not an event a backend should group by.
fn own_event_name(name: &str) -> bool {
    name.starts_with("picket.")
}

/// A log record's string values scrubbed and an event name that is not picket's own left
/// out; `None` when nothing needed either. A record's attributes cannot be edited in place
/// (nor its event name unset), so such a record is rebuilt field by field.
fn cleaned_record(record: &SdkLogRecord, redactor: &Redactor) -> Option<SdkLogRecord> {
    let foreign_name = record.event_name().is_some_and(|n| !own_event_name(n));
    if redactor.is_empty() && !foreign_name {
        return None;
    }
    let body = record.body().map(|b| scrub_any(b, redactor));
    let attributes: Vec<(Key, Option<AnyValue>)> = record
        .attributes_iter()
        .map(|(k, v)| (k.clone(), scrub_any(v, redactor)))
        .collect();
    if !foreign_name
        && body.as_ref().is_none_or(Option::is_none)
        && attributes.iter().all(|(_, v)| v.is_none())
    {
        return None;
    }
    static FACTORY: std::sync::LazyLock<SdkLogger> = std::sync::LazyLock::new(|| {
        SdkLoggerProvider::builder()
            .build()
            .logger_with_scope(scope())
    });
    let mut clean = FACTORY.create_log_record();
    if let Some(name) = record.event_name().filter(|n| own_event_name(n)) {
        clean.set_event_name(name);
    }
    if let Some(target) = record.target() {
        clean.set_target(target.clone());
    }
    if let Some(t) = record.timestamp() {
        clean.set_timestamp(t);
    }
    if let Some(t) = record.observed_timestamp() {
        clean.set_observed_timestamp(t);
    }
    if let Some(text) = record.severity_text() {
        clean.set_severity_text(text);
    }
    if let Some(n) = record.severity_number() {
        clean.set_severity_number(n);
    }
    if let Some(cx) = record.trace_context() {
        clean.set_trace_context(cx.trace_id, cx.span_id, cx.trace_flags);
    }
    match (body, record.body()) {
        (Some(Some(scrubbed)), _) => clean.set_body(scrubbed),
        (_, Some(original)) => clean.set_body(original.clone()),
        _ => {}
    }
    for ((key, scrubbed), (_, original)) in attributes.into_iter().zip(record.attributes_iter()) {
        clean.add_attribute(key, scrubbed.unwrap_or_else(|| original.clone()));
    }
    Some(clean)
}

/// A scrubbed copy of a log value, or `None` when it holds no secret.
fn scrub_any(value: &AnyValue, redactor: &Redactor) -> Option<AnyValue> {
    match value {
        AnyValue::String(text) => match redactor.scrub(text.as_str()) {
            Cow::Owned(clean) => Some(AnyValue::String(clean.into())),
            Cow::Borrowed(_) => None,
        },
        AnyValue::ListAny(items) => {
            let scrubbed: Vec<Option<AnyValue>> =
                items.iter().map(|v| scrub_any(v, redactor)).collect();
            scrubbed.iter().any(Option::is_some).then(|| {
                AnyValue::ListAny(Box::new(
                    scrubbed
                        .into_iter()
                        .zip(items.iter())
                        .map(|(s, o)| s.unwrap_or_else(|| o.clone()))
                        .collect(),
                ))
            })
        }
        AnyValue::Map(map) => {
            let mut dirty = false;
            let clean = map
                .iter()
                .map(|(k, v)| {
                    let s = scrub_any(v, redactor);
                    dirty |= s.is_some();
                    (k.clone(), s.unwrap_or_else(|| v.clone()))
                })
                .collect();
            dirty.then(|| AnyValue::Map(Box::new(clean)))
        }
        _ => None,
    }
}

/// A span exporter that releases the [`Gate`], counts the spans of failed exports and tells
/// [`Health`] how the export went.
#[derive(Debug)]
struct CountedSpans<E> {
    inner: E,
    losses: Arc<Losses>,
    health: Arc<Health>,
}

impl<E: SpanExporter> SpanExporter for CountedSpans<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        self.losses.spans.exporting(n);
        let result = self.inner.export(batch).await;
        if result.is_err() {
            self.losses.spans.lost(n as u64);
        }
        self.health.record(
            Signal::Traces,
            result.as_ref().err().map(|e| e as _),
            self.losses.snapshot().total(),
        );
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A log processor that admits records through the [`Gate`] before its batch queue.
#[derive(Debug)]
struct BoundedLogs<P> {
    inner: P,
    losses: Arc<Losses>,
}

impl<P: LogProcessor> LogProcessor for BoundedLogs<P> {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        if self.losses.logs.admit() {
            match cleaned_record(data, &crate::redact::global()) {
                Some(mut clean) => self.inner.emit(&mut clean, instrumentation),
                None => self.inner.emit(data, instrumentation),
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.losses.logs.close();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A log exporter that releases the [`Gate`], counts the records of failed exports and
/// tells [`Health`] how the export went.
#[derive(Debug)]
struct CountedLogs<E> {
    inner: E,
    losses: Arc<Losses>,
    health: Arc<Health>,
}

impl<E: LogExporter> LogExporter for CountedLogs<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let n = batch.iter().count();
        self.losses.logs.exporting(n);
        let result = self.inner.export(batch).await;
        if result.is_err() {
            self.losses.logs.lost(n as u64);
        }
        self.health.record(
            Signal::Logs,
            result.as_ref().err().map(|e| e as _),
            self.losses.snapshot().total(),
        );
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A metric exporter that counts the data points of failed exports and tells [`Health`] how
/// the export went.
#[derive(Debug)]
struct CountedMetrics {
    inner: opentelemetry_otlp::MetricExporter,
    losses: Arc<Losses>,
    health: Arc<Health>,
}

impl PushMetricExporter for CountedMetrics {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        if result.is_err() {
            self.losses
                .metric_points
                .fetch_add(data_points(metrics), Ordering::Relaxed);
        }
        self.health.record(
            Signal::Metrics,
            result.as_ref().err().map(|e| e as _),
            self.losses.snapshot().total(),
        );
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

fn data_points(metrics: &ResourceMetrics) -> u64 {
    fn count<T>(data: &MetricData<T>) -> usize {
        match data {
            MetricData::Gauge(g) => g.data_points().count(),
            MetricData::Sum(s) => s.data_points().count(),
            MetricData::Histogram(h) => h.data_points().count(),
            MetricData::ExponentialHistogram(e) => e.data_points().count(),
        }
    }
    let points: usize = metrics
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .map(|metric| match metric.data() {
            AggregatedMetrics::F64(d) => count(d),
            AggregatedMetrics::U64(d) => count(d),
            AggregatedMetrics::I64(d) => count(d),
        })
        .sum();
    points as u64
}

/// A one-thread tokio runtime that carries the gRPC exporters' connections.
struct ExportRuntime {
    handle: tokio::runtime::Handle,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl ExportRuntime {
    fn start() -> anyhow::Result<ExportRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot build the OTLP export runtime")?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("picket-otlp".into())
            .spawn(move || {
                // Ends on `stop`, or when the telemetry is dropped without shutdown.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .context("cannot start the OTLP export thread")?;
        Ok(ExportRuntime {
            handle,
            stop: Mutex::new(Some(stop)),
        })
    }

    fn stop(&self) {
        if let Some(stop) = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn file(endpoint: Option<&str>) -> config::Telemetry {
        config::Telemetry {
            endpoint: endpoint.map(|e| Url::parse(e).expect("test URL")),
            protocol: OtlpProtocol::Grpc,
            export_interval: Duration::from_secs(10),
        }
    }

    #[test]
    fn no_endpoint_anywhere_means_no_export() {
        assert_eq!(resolve(&file(None), env(&[])).expect("resolves"), None);
    }

    #[test]
    fn environment_wins_over_the_file() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "2500"),
        ];
        let export = resolve(&file(Some("http://127.0.0.1:4317")), env(&vars))
            .expect("resolves")
            .expect("exports");
        assert_eq!(export.endpoint.as_str(), "http://collector:4318/");
        assert_eq!(export.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(export.interval, Duration::from_millis(2500));
    }

    #[test]
    fn the_file_applies_without_environment() {
        let export = resolve(&file(Some("http://127.0.0.1:4317")), env(&[("X", "y")]))
            .expect("resolves")
            .expect("exports");
        assert_eq!(export.protocol, OtlpProtocol::Grpc);
        assert_eq!(export.interval, Duration::from_secs(10));
    }

    #[test]
    fn bad_environment_values_are_errors_naming_the_variable() {
        let cfg = file(Some("http://127.0.0.1:4317"));
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "18446744073709551615"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ] {
            let err = resolve(&cfg, env(&[(name, value)])).expect_err(name);
            assert!(format!("{err:#}").contains(name), "{err:#}");
        }
    }

    #[test]
    fn sdk_disabled_turns_export_off() {
        let cfg = file(Some("http://127.0.0.1:4317"));
        let off = resolve(&cfg, env(&[("OTEL_SDK_DISABLED", "true")])).expect("resolves");
        assert_eq!(off, None);
    }

    #[test]
    fn service_name_defaults_to_picket_and_yields_to_the_environment() {
        let get = |r: &Resource, key: &'static str| r.get(&opentelemetry::Key::new(key));
        let r = resource(Some("eu-west"), env(&[]));
        assert_eq!(
            get(&r, "service.name").map(|v| v.to_string()),
            Some("picket".into())
        );
        assert_eq!(
            get(&r, "service.version").map(|v| v.to_string()),
            Some(env!("CARGO_PKG_VERSION").into())
        );
        assert_eq!(
            get(&r, "picket.vantage").map(|v| v.to_string()),
            Some("eu-west".into())
        );
        let r = resource(None, env(&[("OTEL_SERVICE_NAME", "picket-eu")]));
        assert_eq!(
            get(&r, "service.name").map(|v| v.to_string()),
            Some("picket-eu".into())
        );
    }

    #[test]
    fn instance_ids_are_version_4_uuids() {
        let id = instance_id(u128::MAX);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(instance_id(1), instance_id(2));
    }

    #[test]
    fn the_gate_refuses_and_counts_past_capacity() {
        let gate = Gate::new(2);
        assert!(gate.admit());
        assert!(gate.admit());
        assert!(!gate.admit());
        gate.exporting(2);
        assert!(gate.admit());
        gate.close();
        assert!(!gate.admit());
        assert_eq!(gate.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn dependency_targets_are_recognised_by_crate() {
        assert!(from_dependency("hyper_util::client"));
        assert!(from_dependency("h2::codec"));
        assert!(from_dependency("opentelemetry_sdk"));
        assert!(!from_dependency("picket::run"));
        assert!(!from_dependency("h2o"));
    }

    #[test]
    fn categories_are_the_first_segment() {
        assert_eq!(category("headers/hsts"), "headers");
        assert_eq!(category("tls"), "tls");
    }
}
