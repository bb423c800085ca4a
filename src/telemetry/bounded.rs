//! Bounded batch queues and drop counting: the gate that admits spans and log records to
//! their queues, the exporter wrappers that count what failed exports lost and tell
//! [`Health`] how exports go, and the per-signal totals ([`Dropped`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

use super::health::{Health, Signal};
use super::scrub::{cleaned_record, scrub_span};
use crate::redact::SharedRedactor;

/// Spans, and log records, waiting for export at most; beyond that they are dropped.
pub const QUEUE_SIZE: usize = 2048;

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

/// Admission to a batch queue, and what was lost on the way to the collector.
///
/// The SDK's batch processors drop silently when their queue is full; to count those drops
/// picket keeps its own count of items admitted and not yet handed to the exporter, and
/// refuses (and counts) an item when that count reaches the queue size. Since the count
/// never undercounts the queue, the SDK's own queue never overflows.
#[derive(Debug)]
struct Intake {
    capacity: usize,
    queued: AtomicUsize,
    closed: AtomicBool,
    dropped: AtomicU64,
}

impl Intake {
    fn new(capacity: usize) -> Self {
        Intake {
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
pub(super) struct Losses {
    spans: Intake,
    logs: Intake,
    metric_points: AtomicU64,
}

impl Default for Losses {
    fn default() -> Self {
        Losses {
            spans: Intake::new(QUEUE_SIZE),
            logs: Intake::new(QUEUE_SIZE),
            metric_points: AtomicU64::new(0),
        }
    }
}

impl Losses {
    pub(super) fn snapshot(&self) -> Dropped {
        Dropped {
            spans: self.spans.dropped.load(Ordering::Relaxed),
            logs: self.logs.dropped.load(Ordering::Relaxed),
            metric_points: self.metric_points.load(Ordering::Relaxed),
        }
    }
}

/// A span or log processor that admits items through the [`Intake`] before its batch queue,
/// scrubbed of the telemetry's secrets: a span processor around a span processor, a log
/// processor around a log processor.
#[derive(Debug)]
pub(super) struct Bounded<P> {
    pub(super) inner: P,
    pub(super) losses: Arc<Losses>,
    /// What is scrubbed: the telemetry's [`SharedRedactor`], which the service adds every
    /// accepted configuration's secrets to.
    pub(super) secrets: SharedRedactor,
}

/// A span, log or metric exporter that counts what failed exports lost and tells [`Health`]
/// how each export went; for spans and log records it also releases the [`Intake`].
#[derive(Debug)]
pub(super) struct Counted<E> {
    pub(super) inner: E,
    pub(super) losses: Arc<Losses>,
    pub(super) health: Arc<Health>,
}

impl<E> Counted<E> {
    /// `inner`, counting into `losses` and reporting to `health`.
    pub(super) fn new(inner: E, losses: &Arc<Losses>, health: &Arc<Health>) -> Counted<E> {
        Counted {
            inner,
            losses: Arc::clone(losses),
            health: Arc::clone(health),
        }
    }

    /// Runs `export` of `n` items of `signal`: releases them from `intake`, counts them as
    /// lost if it fails, and tells [`Health`] how it went.
    async fn counted(
        &self,
        signal: Signal,
        intake: &Intake,
        n: usize,
        export: impl std::future::Future<Output = OTelSdkResult>,
    ) -> OTelSdkResult {
        intake.exporting(n);
        let result = export.await;
        if result.is_err() {
            intake.lost(n as u64);
        }
        self.health.record(
            signal,
            result.as_ref().err().map(|e| e as _),
            self.losses.snapshot().total(),
        );
        result
    }
}

impl<P> Bounded<P> {
    /// `inner`, admitting through `losses` and scrubbing with `secrets`.
    pub(super) fn new(inner: P, losses: &Arc<Losses>, secrets: &SharedRedactor) -> Bounded<P> {
        Bounded {
            inner,
            losses: Arc::clone(losses),
            secrets: secrets.clone(),
        }
    }
}

/// Admits spans through the [`Intake`] and scrubs them.
impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if self.losses.spans.admit() {
            scrub_span(&mut span, &self.secrets.current());
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

/// Releases the [`Intake`], counts the spans of failed exports and tells [`Health`] how the
/// export went.
impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let export = self.inner.export(batch);
        self.counted(Signal::Traces, &self.losses.spans, n, export)
            .await
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

/// Admits log records through the [`Intake`] and scrubs them.
impl<P: LogProcessor> LogProcessor for Bounded<P> {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        if self.losses.logs.admit() {
            match cleaned_record(data, &self.secrets.current()) {
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

/// Releases the [`Intake`], counts the records of failed exports and tells [`Health`] how the
/// export went.
impl<E: LogExporter> LogExporter for Counted<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let n = batch.iter().count();
        let export = self.inner.export(batch);
        self.counted(Signal::Logs, &self.losses.logs, n, export)
            .await
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

/// Counts the data points of failed exports and tells [`Health`] how the export went.
impl PushMetricExporter for Counted<opentelemetry_otlp::MetricExporter> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_refuses_and_counts_past_capacity() {
        let gate = Intake::new(2);
        assert!(gate.admit());
        assert!(gate.admit());
        assert!(!gate.admit());
        gate.exporting(2);
        assert!(gate.admit());
        gate.close();
        assert!(!gate.admit());
        assert_eq!(gate.dropped.load(Ordering::Relaxed), 2);
    }
}
