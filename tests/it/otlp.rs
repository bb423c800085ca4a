//! Telemetry against a real OTLP receiver: what picket exports over gRPC and HTTP/protobuf
//! (SPEC §7 names, units, attributes, resource), and that a dead collector neither slows
//! recording down nor makes shutdown hang, and that what it loses is counted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use picket::config::{self, OtlpProtocol};
use picket::outcome::Finding;
use picket::outcome::{ErrorKind, Outcome, RunError, RunResult};
use picket::state::{SeriesInfo, Tracker, Transition};
use picket::telemetry::{self, SeriesLabels, Telemetry};
use picket::units::Severity;
use prost::Message;
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt;

/// Everything a receiver got, as decoded requests, in arrival order.
#[derive(Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    /// `POST /v1/...` paths and content types seen by the HTTP receiver.
    http_requests: Vec<(String, String)>,
}

type Store = Arc<Mutex<Received>>;

/// A loopback OTLP receiver that keeps everything it is sent.
pub struct Receiver {
    addr: SocketAddr,
    store: Store,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// A metric as received: its unit, its kind, and the latest value per attribute set.
#[derive(Debug, Clone)]
pub struct MetricView {
    pub unit: String,
    /// `sum`, `gauge`, `histogram` or `other`.
    pub kind: &'static str,
    pub monotonic: bool,
    /// Histograms: the explicit bucket bounds.
    pub bounds: Vec<f64>,
    /// Sums and gauges: the value; histograms: the count.
    pub points: BTreeMap<BTreeMap<String, String>, f64>,
}

/// A log record as received.
#[derive(Debug, Clone)]
pub struct LogView {
    pub event_name: String,
    pub severity_text: String,
    pub severity_number: i32,
    pub body: String,
    pub attrs: BTreeMap<String, String>,
}

/// A span as received.
#[derive(Debug, Clone)]
pub struct SpanView {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i32,
}

impl Receiver {
    /// An OTLP/gRPC receiver (trace, metrics and logs services) on 127.0.0.1, port 0.
    pub async fn grpc() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Store::default();
        let collector = Collector(store.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector.clone()))
                .add_service(MetricsServiceServer::new(collector.clone()))
                .add_service(LogsServiceServer::new(collector))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = rx.await;
                })
                .await;
        });
        Receiver {
            addr,
            store,
            _shutdown: tx,
        }
    }

    /// An OTLP/HTTP receiver (`POST /v1/traces|metrics|logs`, protobuf bodies) on
    /// 127.0.0.1, port 0.
    pub async fn http() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Store::default();
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(http_traces))
            .route("/v1/metrics", axum::routing::post(http_metrics))
            .route("/v1/logs", axum::routing::post(http_logs))
            .with_state(store.clone());
        let tx = crate::helpers::serve_until_dropped(listener, app);
        Receiver {
            addr,
            store,
            _shutdown: tx,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&Received) -> T) -> T {
        f(&self.store.lock().unwrap())
    }

    /// Polls `done` until it holds or `timeout` passes; returns whether it held.
    pub async fn wait_until(&self, done: impl Fn(&Receiver) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Names of every metric received.
    pub fn metric_names(&self) -> BTreeSet<String> {
        self.with(|r| {
            r.metrics
                .iter()
                .flat_map(|req| &req.resource_metrics)
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| m.name.clone())
                .collect()
        })
    }

    /// One metric, merged over every export: the latest value wins per attribute set, which
    /// for cumulative sums and histograms is the total.
    pub fn metric(&self, name: &str) -> Option<MetricView> {
        self.with(|r| {
            let mut view: Option<MetricView> = None;
            let metrics = r
                .metrics
                .iter()
                .flat_map(|req| &req.resource_metrics)
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .filter(|m| m.name == name);
            for m in metrics {
                let v = view.get_or_insert_with(|| MetricView {
                    unit: m.unit.clone(),
                    kind: kind(m),
                    monotonic: matches!(&m.data, Some(metric::Data::Sum(s)) if s.is_monotonic),
                    bounds: match &m.data {
                        Some(metric::Data::Histogram(h)) => h
                            .data_points
                            .first()
                            .map(|p| p.explicit_bounds.clone())
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    },
                    points: BTreeMap::new(),
                });
                for (attrs, value) in points(m) {
                    v.points.insert(attrs, value);
                }
            }
            view
        })
    }

    /// The latest `(attributes, count, sum)` of each point of a histogram.
    pub fn histogram_points(&self, name: &str) -> Vec<(BTreeMap<String, String>, u64, f64)> {
        self.with(|r| {
            let mut latest = BTreeMap::new();
            let metrics = r
                .metrics
                .iter()
                .flat_map(|req| &req.resource_metrics)
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .filter(|m| m.name == name);
            for m in metrics {
                if let Some(metric::Data::Histogram(h)) = &m.data {
                    for p in &h.data_points {
                        latest.insert(attrs(&p.attributes), (p.count, p.sum.unwrap_or(f64::NAN)));
                    }
                }
            }
            latest.into_iter().map(|(a, (c, s))| (a, c, s)).collect()
        })
    }

    /// Everything received, as one debug string: for "this text appears nowhere" checks.
    pub fn dump(&self) -> String {
        self.with(|r| format!("{:?}{:?}{:?}", r.traces, r.metrics, r.logs))
    }

    /// Every point of a metric in the order the exports arrived, for values over time.
    pub fn metric_history(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.with(|r| {
            r.metrics
                .iter()
                .flat_map(|req| &req.resource_metrics)
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .filter(|m| m.name == name)
                .flat_map(points)
                .collect()
        })
    }

    /// The points of a metric in the last metrics export received (none when that export
    /// did not carry it).
    pub fn last_export_points(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.with(|r| {
            r.metrics
                .last()
                .into_iter()
                .flat_map(|req| &req.resource_metrics)
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .filter(|m| m.name == name)
                .flat_map(points)
                .collect()
        })
    }

    /// The latest points of a metric: `(attributes, value)`, value as in [`MetricView`].
    pub fn metric_points(&self, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.metric(name)
            .map(|m| m.points.into_iter().collect())
            .unwrap_or_default()
    }

    /// Every log record received.
    pub fn logs(&self) -> Vec<LogView> {
        self.with(|r| {
            r.logs
                .iter()
                .flat_map(|req| &req.resource_logs)
                .flat_map(|rl| &rl.scope_logs)
                .flat_map(|sl| &sl.log_records)
                .map(|l| LogView {
                    event_name: l.event_name.clone(),
                    severity_text: l.severity_text.clone(),
                    severity_number: l.severity_number,
                    body: l.body.as_ref().map(text).unwrap_or_default(),
                    attrs: attrs(&l.attributes),
                })
                .collect()
        })
    }

    /// Every span received.
    pub fn spans(&self) -> Vec<SpanView> {
        self.with(|r| {
            r.traces
                .iter()
                .flat_map(|req| &req.resource_spans)
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|s| SpanView {
                    name: s.name.clone(),
                    attrs: attrs(&s.attributes),
                    status_code: s.status.as_ref().map(|st| st.code).unwrap_or(0),
                })
                .collect()
        })
    }

    /// Names of every span received.
    pub fn span_names(&self) -> Vec<String> {
        self.spans().into_iter().map(|s| s.name).collect()
    }

    /// The resource of every export request, per signal (`traces`, `metrics`, `logs`).
    pub fn resources(&self) -> Vec<(&'static str, BTreeMap<String, String>)> {
        let of =
            |r: &Option<Resource>| r.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
        self.with(|r| {
            let traces = r
                .traces
                .iter()
                .flat_map(|q| &q.resource_spans)
                .map(|x| ("traces", of(&x.resource)));
            let metrics = r
                .metrics
                .iter()
                .flat_map(|q| &q.resource_metrics)
                .map(|x| ("metrics", of(&x.resource)));
            let logs = r
                .logs
                .iter()
                .flat_map(|q| &q.resource_logs)
                .map(|x| ("logs", of(&x.resource)));
            traces.chain(metrics).chain(logs).collect()
        })
    }

    /// The resource attributes of the first export received.
    pub fn resource_attrs(&self) -> BTreeMap<String, String> {
        self.resources()
            .into_iter()
            .next()
            .map(|(_, a)| a)
            .unwrap_or_default()
    }

    /// `(path, content type)` of every HTTP request (HTTP receiver only).
    pub fn http_requests(&self) -> Vec<(String, String)> {
        self.with(|r| r.http_requests.clone())
    }
}

fn kind(m: &Metric) -> &'static str {
    match &m.data {
        Some(metric::Data::Sum(_)) => "sum",
        Some(metric::Data::Gauge(_)) => "gauge",
        Some(metric::Data::Histogram(_)) => "histogram",
        _ => "other",
    }
}

fn points(m: &Metric) -> Vec<(BTreeMap<String, String>, f64)> {
    let number = |p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint| {
        let value = match p.value {
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            Some(number_data_point::Value::AsDouble(d)) => d,
            None => f64::NAN,
        };
        (attrs(&p.attributes), value)
    };
    match &m.data {
        Some(metric::Data::Sum(s)) => s.data_points.iter().map(number).collect(),
        Some(metric::Data::Gauge(g)) => g.data_points.iter().map(number).collect(),
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| (attrs(&p.attributes), p.count as f64))
            .collect(),
        _ => Vec::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(text).unwrap_or_default(),
            )
        })
        .collect()
}

fn text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// The gRPC services, all writing to one store.
#[derive(Clone)]
struct Collector(Store);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().traces.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().metrics.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().logs.push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Decodes one OTLP/HTTP protobuf body, stores it, and answers with an empty response.
fn receive_http<Req: Message + Default, Resp: Message + Default>(
    store: &Store,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    keep: impl FnOnce(&mut Received, Req),
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut received = store.lock().unwrap();
    received
        .http_requests
        .push((path.to_owned(), content_type.clone()));
    if content_type != "application/x-protobuf" {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    match Req::decode(body) {
        Ok(request) => {
            keep(&mut received, request);
            (
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                Resp::default().encode_to_vec(),
            )
                .into_response()
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn http_traces(State(store): State<Store>, headers: HeaderMap, body: Bytes) -> Response {
    receive_http::<ExportTraceServiceRequest, ExportTraceServiceResponse>(
        &store,
        "/v1/traces",
        &headers,
        &body,
        |r, req| r.traces.push(req),
    )
}

async fn http_metrics(State(store): State<Store>, headers: HeaderMap, body: Bytes) -> Response {
    receive_http::<ExportMetricsServiceRequest, ExportMetricsServiceResponse>(
        &store,
        "/v1/metrics",
        &headers,
        &body,
        |r, req| r.metrics.push(req),
    )
}

async fn http_logs(State(store): State<Store>, headers: HeaderMap, body: Bytes) -> Response {
    receive_http::<ExportLogsServiceRequest, ExportLogsServiceResponse>(
        &store,
        "/v1/logs",
        &headers,
        &body,
        |r, req| r.logs.push(req),
    )
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// When the transitions these tests record began (2027-01-15T08:00:00Z).
fn since() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

const HSTS_REFERENCE: &str = "https://cheatsheetseries.owasp.org/cheatsheets/HTTP_Strict_Transport_Security_Cheat_Sheet.html";

fn hsts() -> SeriesLabels<'static> {
    SeriesLabels {
        probe_id: "headers/hsts",
        target_name: "payments-api",
        severity: Severity::High,
        rule_name: "HSTS header is set",
        rule_category: "headers",
        rule_reference: Some(HSTS_REFERENCE),
        classification: &[],
    }
}

fn nosniff() -> SeriesLabels<'static> {
    SeriesLabels {
        probe_id: "headers/nosniff",
        target_name: "payments-api",
        severity: Severity::Low,
        rule_name: "X-Content-Type-Options is nosniff",
        rule_category: "headers",
        rule_reference: None,
        classification: &[],
    }
}

fn finding() -> Finding {
    Finding {
        check: "header strict-transport-security present".into(),
        expected: "present".into(),
        observed: "absent".into(),
        detail: None,
        severity: None,
    }
}

fn result(labels: &SeriesLabels, outcome: Outcome, millis: u64, status: Option<u16>) -> RunResult {
    RunResult {
        probe: labels.probe_id.into(),
        target: labels.target_name.into(),
        outcome,
        started: SystemTime::now(),
        duration: Duration::from_millis(millis),
        wait: Duration::ZERO,
        url: "https://payments.internal:8443/login?token=[REDACTED]".into(),
        server_address: "payments.internal".into(),
        server_port: 8443,
        status,
        certificate_not_after: None,
        attributes: Vec::new(),
        software: Vec::new(),
    }
}

/// A real tracker (the one owner of series state, which the state gauges read), its store in
/// `dir`, holding a series of each `(probe id, target, severity, outcomes)` given, with those
/// outcomes recorded in turn. Its probes need one failing run to regress and one passing run
/// to recover. Series of the same probe id share one loaded probe.
pub async fn tracker_with(
    dir: &std::path::Path,
    series: &[(&str, &str, Severity, Vec<Outcome>)],
) -> Arc<Tracker> {
    tracker_accepting(dir, series, None).await
}

/// An acceptance as the config's `accept:` list would hold it, from one YAML entry.
pub fn acceptance(entry: &str) -> Arc<picket::config::Acceptance> {
    let file = std::path::Path::new("accept.yaml");
    let raw: Vec<serde_saphyr::Spanned<picket::config::raw::Accept>> =
        picket::yaml::parse_yaml(file, entry).unwrap_or_else(|d| panic!("{d}"));
    let mut diags = picket::diag::Diagnostics::default();
    let mut out = picket::config::compile_acceptances(
        file,
        &raw,
        std::time::SystemTime::now(),
        &mut diags,
        &mut Vec::new(),
    );
    assert!(diags.is_empty(), "{diags}");
    out.remove(0)
}

/// [`tracker_with`], the series `accepted` selects under it.
pub async fn tracker_accepting(
    dir: &std::path::Path,
    series: &[(&str, &str, Severity, Vec<Outcome>)],
    accepted: Option<Arc<picket::config::Acceptance>>,
) -> Arc<Tracker> {
    let mut probes: BTreeMap<String, Arc<picket::probe::Probe>> = BTreeMap::new();
    let mut planned = Vec::new();
    for (i, (id, target, severity, _)) in series.iter().enumerate() {
        let probe = match probes.get(*id) {
            Some(probe) => Arc::clone(probe),
            None => {
                let file = dir.join(format!("probe-{i}.yaml"));
                std::fs::write(
                    &file,
                    format!(
                        "id: {id}\nname: {id}\nseverity: {}\nconfirm: 1\nrecover: 1\n\
                         http:\n  path: /\nchecks:\n  - status: 200\n",
                        severity.as_str()
                    ),
                )
                .unwrap();
                let loaded = picket::load::load_probe_paths(&[file], &Default::default())
                    .unwrap_or_else(|d| panic!("{d}"));
                let probe = loaded.into_iter().next().expect("one probe");
                probes.insert((*id).to_owned(), Arc::clone(&probe));
                probe
            }
        };
        let url = url::Url::parse("http://127.0.0.1/").unwrap();
        let as_target =
            picket::config::Target::new((*target).to_owned(), url, picket::config::Source::Static);
        let info = SeriesInfo {
            acceptance: accepted.clone().filter(|a| a.selects(id, &as_target)),
            probe,
            target: (*target).to_owned(),
            tags: Vec::new(),
        };
        planned.push((format!("{id}@{target}"), info));
    }
    let tracker = Arc::new(Tracker::open(&dir.join("state")).unwrap());
    tracker.track(planned).await;
    for (id, target, _, outcomes) in series {
        for outcome in outcomes {
            let run = RunResult {
                duration: Duration::from_millis(5),
                ..RunResult::new(id, target, outcome.clone())
            };
            tracker.record(&format!("{id}@{target}"), &run).await;
        }
    }
    tracker
}

fn export_config(endpoint: &str, protocol: OtlpProtocol) -> config::Telemetry {
    config::Telemetry {
        endpoint: Some(endpoint.parse().unwrap()),
        protocol,
        export_interval: Duration::from_millis(200),
    }
}

/// Runs blocking shutdown off the async test's thread, and says how long it took.
async fn shut_down(telemetry: &Telemetry, timeout: Duration) -> Duration {
    let telemetry = telemetry.clone();
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        telemetry.shutdown(timeout);
        start.elapsed()
    })
    .await
    .unwrap()
}

/// Records one of everything, with the telemetry's layers installed on this thread only.
fn record_everything(telemetry: &Telemetry) {
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    tracing::subscriber::with_default(subscriber, || {
        let hsts = hsts();
        let runs = [
            result(&hsts, Outcome::Pass, 120, Some(200)),
            result(&hsts, Outcome::Fail(vec![finding()]), 80, Some(200)),
            result(
                &hsts,
                Outcome::Error(RunError {
                    kind: ErrorKind::Timeout,
                    message: "no response within 10s".into(),
                }),
                10_000,
                None,
            ),
        ];
        for run in &runs {
            let span = telemetry::run_span(&hsts);
            let _entered = span.enter();
            telemetry::finish_run_span(&span, run);
            telemetry.record_run(&hsts, run);
        }
        telemetry.record_transition(&hsts, Transition::Regression, &[finding()], since());
        telemetry.record_transition(&nosniff(), Transition::Recovery, &[], since());
        telemetry.record_lateness(0.25);
        telemetry.record_reload(true);
        telemetry.record_reload(false);
        telemetry.record_skipped(&hsts);
        tracing::warn!(reason = "test", "an ordinary warning");
    });
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn value_of(points: &[(BTreeMap<String, String>, f64)], attrs: &BTreeMap<String, String>) -> f64 {
    points
        .iter()
        .find(|(a, _)| a == attrs)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no point with {attrs:?} in {points:?}"))
}

/// Everything SPEC §7 names, checked against what the receiver got.
fn check_everything_arrived(receiver: &Receiver) {
    let series = [
        ("probe.id", "headers/hsts"),
        ("target.name", "payments-api"),
    ];
    let with = |extra: (&str, &str)| {
        let mut m = map(&series);
        m.insert(extra.0.into(), extra.1.into());
        m
    };

    let runs = receiver
        .metric("picket.probe.runs")
        .expect("picket.probe.runs");
    assert_eq!(
        (runs.unit.as_str(), runs.kind, runs.monotonic),
        ("{run}", "sum", true)
    );
    let points: Vec<_> = runs.points.clone().into_iter().collect();
    for outcome in ["pass", "fail", "error"] {
        assert_eq!(
            value_of(&points, &with(("outcome", outcome))),
            1.0,
            "{outcome}"
        );
    }

    let duration = receiver
        .metric("picket.probe.duration")
        .expect("picket.probe.duration");
    assert_eq!((duration.unit.as_str(), duration.kind), ("s", "histogram"));
    // Buckets in seconds, not the SDK's default millisecond-sized ones.
    assert_eq!(duration.bounds.first(), Some(&0.005));
    assert_eq!(duration.bounds.last(), Some(&60.0));
    let points: Vec<_> = duration.points.into_iter().collect();
    assert_eq!(value_of(&points, &with(("outcome", "error"))), 1.0);

    let status = receiver.metric("picket.probe.status").expect("status");
    assert_eq!(status.kind, "gauge");
    let points: Vec<_> = status.points.into_iter().collect();
    let hsts_sev = with(("probe.severity", "high"));
    let nosniff_sev = map(&[
        ("probe.id", "headers/nosniff"),
        ("target.name", "payments-api"),
        ("probe.severity", "low"),
    ]);
    assert_eq!(value_of(&points, &hsts_sev), 0.0);
    assert_eq!(value_of(&points, &nosniff_sev), 1.0);

    let regressed = receiver
        .metric("picket.probe.regressed")
        .expect("regressed");
    assert_eq!(regressed.kind, "gauge");
    let points: Vec<_> = regressed.points.into_iter().collect();
    assert_eq!(value_of(&points, &hsts_sev), 1.0);
    assert_eq!(value_of(&points, &nosniff_sev), 0.0);

    let regressions = receiver.metric("picket.regressions").expect("regressions");
    assert_eq!(
        (regressions.unit.as_str(), regressions.kind),
        ("{regression}", "sum")
    );
    assert_eq!(
        regressions.points.into_iter().collect::<Vec<_>>(),
        vec![(hsts_sev.clone(), 1.0)]
    );
    let recoveries = receiver.metric("picket.recoveries").expect("recoveries");
    assert_eq!(
        (recoveries.unit.as_str(), recoveries.kind),
        ("{recovery}", "sum")
    );
    assert_eq!(
        recoveries.points.into_iter().collect::<Vec<_>>(),
        vec![(nosniff_sev.clone(), 1.0)]
    );

    let lateness = receiver
        .metric("picket.schedule.lateness")
        .expect("lateness");
    assert_eq!((lateness.unit.as_str(), lateness.kind), ("s", "histogram"));
    assert_eq!(
        lateness.points.into_iter().collect::<Vec<_>>(),
        vec![(BTreeMap::new(), 1.0)]
    );

    let reloads = receiver.metric_points("picket.config.reloads");
    assert_eq!(value_of(&reloads, &map(&[("outcome", "ok")])), 1.0);
    assert_eq!(value_of(&reloads, &map(&[("outcome", "error")])), 1.0);

    let skipped = receiver.metric_points("picket.schedule.skipped");
    assert_eq!(skipped, vec![(map(&series), 1.0)]);

    let dropped = receiver.metric_points("picket.telemetry.dropped");
    for signal in ["traces", "logs", "metrics"] {
        assert_eq!(
            value_of(&dropped, &map(&[("signal", signal)])),
            0.0,
            "{signal}"
        );
    }

    // Logs: exactly one record per transition, not a second one through the tracing bridge.
    let logs = receiver.logs();
    let regressions: Vec<_> = logs
        .iter()
        .filter(|l| l.event_name == "picket.regression")
        .collect();
    assert_eq!(regressions.len(), 1, "{logs:#?}");
    let regression = regressions[0];
    assert_eq!(regression.severity_text, "WARN");
    assert_eq!(regression.severity_number, 13);
    for (key, value) in [
        ("event.name", "picket.regression"),
        ("probe.id", "headers/hsts"),
        ("target.name", "payments-api"),
        ("probe.severity", "high"),
        ("security_rule.name", "HSTS header is set"),
        ("security_rule.category", "headers"),
        ("security_rule.reference", HSTS_REFERENCE),
        ("findings.count", "1"),
        ("picket.state.since", "2027-01-15T08:00:00Z"),
    ] {
        assert_eq!(
            regression.attrs.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    let findings: serde_json::Value = serde_json::from_str(&regression.attrs["findings"]).unwrap();
    assert_eq!(
        findings,
        serde_json::json!([{
            "check": "header strict-transport-security present",
            "expected": "present",
            "observed": "absent"
        }])
    );
    assert!(
        regression.body.contains("headers/hsts"),
        "{}",
        regression.body
    );

    let recoveries: Vec<_> = logs
        .iter()
        .filter(|l| l.event_name == "picket.recovery")
        .collect();
    assert_eq!(recoveries.len(), 1, "{logs:#?}");
    let recovery = recoveries[0];
    assert_eq!(
        (recovery.severity_text.as_str(), recovery.severity_number),
        ("INFO", 9)
    );
    assert_eq!(recovery.attrs["event.name"], "picket.recovery");
    assert_eq!(recovery.attrs["probe.severity"], "low");
    assert_eq!(recovery.attrs["findings.count"], "0");
    assert!(!recovery.attrs.contains_key("security_rule.reference"));

    // Ordinary events reach the collector through the tracing bridge.
    let ordinary = logs
        .iter()
        .find(|l| l.body == "an ordinary warning")
        .unwrap_or_else(|| panic!("bridged warning missing: {logs:#?}"));
    assert_eq!(ordinary.severity_text, "WARN");
    assert_eq!(ordinary.attrs["reason"], "test");
    // Only picket's own events carry an event name; the tracing bridge's default one is a
    // source position (`event src/service.rs:259`), not an event.
    for record in &logs {
        assert!(
            matches!(
                record.event_name.as_str(),
                "" | "picket.regression" | "picket.recovery"
            ),
            "{record:#?}"
        );
    }
    assert_eq!(ordinary.event_name, "", "{ordinary:#?}");

    // Spans: one per run, named `probe <id>`.
    let spans: Vec<_> = receiver
        .spans()
        .into_iter()
        .filter(|s| s.name == "probe headers/hsts")
        .collect();
    assert_eq!(spans.len(), 3, "{:?}", receiver.span_names());
    for span in &spans {
        for (key, value) in [
            ("probe.id", "headers/hsts"),
            ("target.name", "payments-api"),
            ("probe.severity", "high"),
            (
                "url.full",
                "https://payments.internal:8443/login?token=[REDACTED]",
            ),
            ("server.address", "payments.internal"),
            ("server.port", "8443"),
        ] {
            assert_eq!(
                span.attrs.get(key).map(String::as_str),
                Some(value),
                "{key}: {span:?}"
            );
        }
    }
    let by_outcome = |o: &str| {
        spans
            .iter()
            .find(|s| s.attrs.get("outcome").map(String::as_str) == Some(o))
            .unwrap_or_else(|| panic!("no {o} span in {spans:?}"))
    };
    let pass = by_outcome("pass");
    assert_eq!(pass.attrs["http.response.status_code"], "200");
    assert_eq!(pass.status_code, 0);
    assert!(!pass.attrs.contains_key("error.type"));
    assert_eq!(
        by_outcome("fail").status_code,
        0,
        "a failed check is not an error"
    );
    let error = by_outcome("error");
    assert_eq!(error.attrs["error.type"], "timeout");
    assert_eq!(error.status_code, 2);
    assert!(!error.attrs.contains_key("http.response.status_code"));

    // The same resource on every signal.
    let resources = receiver.resources();
    let signals: BTreeSet<_> = resources.iter().map(|(s, _)| *s).collect();
    assert_eq!(signals, BTreeSet::from(["traces", "metrics", "logs"]));
    for (signal, attrs) in &resources {
        assert_eq!(
            attrs.get("service.name").map(String::as_str),
            Some("picket"),
            "{signal}"
        );
        assert_eq!(
            attrs.get("service.version").map(String::as_str),
            Some(env!("CARGO_PKG_VERSION")),
            "{signal}"
        );
        assert_eq!(
            attrs.get("picket.vantage").map(String::as_str),
            Some("eu-west-1")
        );
        assert_eq!(attrs.get("service.instance.id").map(String::len), Some(36));
    }
    assert_eq!(receiver.resource_attrs()["service.name"], "picket");
}

async fn exports_everything(receiver: Receiver, protocol: OtlpProtocol) -> Receiver {
    let telemetry = Telemetry::init(
        &export_config(&receiver.endpoint(), protocol),
        Some("eu-west-1"),
    )
    .unwrap();
    assert!(telemetry.export().is_some());
    // The state gauges read the tracker: `headers/hsts` regressed, `headers/nosniff` recovered.
    let dir = tempfile::tempdir().unwrap();
    let tracker = tracker_with(
        dir.path(),
        &[
            (
                "headers/hsts",
                "payments-api",
                Severity::High,
                vec![Outcome::Pass, Outcome::Fail(vec![finding()])],
            ),
            (
                "headers/nosniff",
                "payments-api",
                Severity::Low,
                vec![Outcome::Fail(vec![finding()]), Outcome::Pass],
            ),
        ],
    )
    .await;
    telemetry.observe_states(&tracker);
    record_everything(&telemetry);
    // A periodic export happens while running, not only at shutdown.
    assert!(
        receiver
            .wait_until(
                |r| r.metric_names().contains("picket.probe.runs"),
                Duration::from_secs(10)
            )
            .await,
        "no periodic metric export"
    );
    let took = shut_down(&telemetry, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert!(
        receiver
            .wait_until(
                |r| r.logs().len() >= 3 && r.spans().len() >= 3,
                Duration::from_secs(5)
            )
            .await
    );
    check_everything_arrived(&receiver);
    assert_eq!(telemetry.dropped().total(), 0);
    receiver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_every_signal_over_grpc() {
    exports_everything(Receiver::grpc().await, OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_every_signal_over_http_protobuf() {
    let receiver = exports_everything(Receiver::http().await, OtlpProtocol::HttpProtobuf).await;
    let paths: BTreeSet<_> = receiver
        .http_requests()
        .into_iter()
        .map(|(path, content_type)| {
            assert_eq!(content_type, "application/x-protobuf", "{path}");
            path
        })
        .collect();
    assert_eq!(
        paths,
        BTreeSet::from(["/v1/traces".into(), "/v1/metrics".into(), "/v1/logs".into()])
    );
}

/// The gRPC exporters run on picket's own runtime: the final export completes even while
/// the caller's only runtime thread is blocked in `shutdown`.
#[tokio::test(flavor = "current_thread")]
async fn grpc_export_does_not_need_the_callers_runtime() {
    // The receiver gets a runtime of its own, since this one is about to block.
    let (endpoint_tx, endpoint_rx) = std::sync::mpsc::channel();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let receiver = Receiver::grpc().await;
                endpoint_tx.send(receiver.endpoint()).unwrap();
                let seen = receiver
                    .wait_until(
                        |r| r.metric_names().contains("picket.config.reloads"),
                        Duration::from_secs(10),
                    )
                    .await;
                seen_tx.send(seen).unwrap();
            });
    });
    let endpoint = endpoint_rx.recv().unwrap();
    let telemetry = Telemetry::init(&export_config(&endpoint, OtlpProtocol::Grpc), None).unwrap();
    telemetry.record_reload(true);
    telemetry.shutdown(Duration::from_secs(5));
    assert!(seen_rx.recv_timeout(Duration::from_secs(10)).unwrap());
}

/// The state gauges read the tracker, the one owner of series state: a series is reported
/// once it has a state, with its state now (not a copy telemetry was told about), and no longer
/// once a reload removed it from the tracker; the certificate its runs saw goes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_gauges_follow_the_tracker_and_forget_removed_series() {
    let receiver = Receiver::grpc().await;
    let telemetry = Telemetry::init(
        &export_config(&receiver.endpoint(), OtlpProtocol::Grpc),
        None,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tracker = tracker_with(
        dir.path(),
        &[
            (
                "headers/hsts",
                "payments-api",
                Severity::High,
                vec![Outcome::Pass],
            ),
            (
                "headers/hsts",
                "gone-api",
                Severity::High,
                vec![Outcome::Pass],
            ),
            ("headers/hsts", "new-api", Severity::High, vec![]),
        ],
    )
    .await;
    telemetry.observe_states(&tracker);
    let gone = SeriesLabels {
        target_name: "gone-api",
        ..hsts()
    };
    let mut run = result(&gone, Outcome::Pass, 5, Some(200));
    run.certificate_not_after = Some(SystemTime::now() + Duration::from_secs(86_400));
    telemetry.record_run(&gone, &run);
    let target = |t: &str| {
        map(&[
            ("probe.id", "headers/hsts"),
            ("target.name", t),
            ("probe.severity", "high"),
        ])
    };
    assert!(
        receiver
            .wait_until(
                |r| r.metric_points("picket.probe.status").len() == 2
                    && !r.metric_points("picket.tls.certificate.expiry").is_empty(),
                Duration::from_secs(10)
            )
            .await,
        "both series with a state and the certificate are reported"
    );
    let status = receiver.metric_points("picket.probe.status");
    assert_eq!(value_of(&status, &target("payments-api")), 1.0);
    assert_eq!(value_of(&status, &target("gone-api")), 1.0);
    // `new-api` has no state yet: not reported.
    assert!(
        !status.iter().any(|(a, _)| a == &target("new-api")),
        "{status:?}"
    );

    // A reload drops `gone-api`; `payments-api` regresses. Nobody tells telemetry.
    let planned: Vec<_> = tracker
        .snapshot()
        .into_iter()
        .filter(|t| t.info.target != "gone-api")
        .map(|t| (format!("headers/hsts@{}", t.info.target), (*t.info).clone()))
        .collect();
    tracker.track(planned).await;
    tracker
        .record(
            "headers/hsts@payments-api",
            &result(&hsts(), Outcome::Fail(vec![finding()]), 5, Some(200)),
        )
        .await;
    shut_down(&telemetry, Duration::from_secs(10)).await;
    let status = receiver.last_export_points("picket.probe.status");
    assert_eq!(status, vec![(target("payments-api"), 0.0)]);
    let regressed = receiver.last_export_points("picket.probe.regressed");
    assert_eq!(regressed, vec![(target("payments-api"), 1.0)]);
    assert_eq!(
        receiver.last_export_points("picket.tls.certificate.expiry"),
        Vec::new(),
        "the removed series' certificate is forgotten"
    );
}

/// 10,000 series must not be folded into the SDK's overflow series (its default limit is
/// 2,000 attribute sets per instrument).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_series_keep_their_own_points() {
    let receiver = Receiver::grpc().await;
    let telemetry = Telemetry::init(
        &export_config(&receiver.endpoint(), OtlpProtocol::Grpc),
        None,
    )
    .unwrap();
    let series = 2_500;
    let targets: Vec<String> = (0..series).map(|i| format!("target-{i}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let planned: Vec<_> = targets
        .iter()
        .map(|t| {
            (
                "headers/hsts",
                t.as_str(),
                Severity::High,
                vec![Outcome::Pass],
            )
        })
        .collect();
    let tracker = tracker_with(dir.path(), &planned).await;
    telemetry.observe_states(&tracker);
    for target in &targets {
        let labels = SeriesLabels {
            target_name: target,
            ..hsts()
        };
        telemetry.record_run(&labels, &result(&labels, Outcome::Pass, 5, Some(200)));
    }
    shut_down(&telemetry, Duration::from_secs(10)).await;
    for name in ["picket.probe.runs", "picket.probe.status"] {
        let points = receiver.metric_points(name);
        assert_eq!(points.len(), series, "{name}");
        assert!(
            points
                .iter()
                .all(|(attrs, _)| !attrs.contains_key("otel.metric.overflow")),
            "{name}"
        );
    }
}

/// A port on loopback that nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Records `n` of each per-run call (span, run, transition) with the telemetry's
/// layers installed on this thread, and says how long that took.
fn record_many(telemetry: &Telemetry, n: u64) -> Duration {
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    tracing::subscriber::with_default(subscriber, || {
        let start = Instant::now();
        let labels = hsts();
        let run = result(&labels, Outcome::Fail(vec![finding()]), 50, Some(200));
        for _ in 0..n {
            let span = telemetry::run_span(&labels);
            telemetry::finish_run_span(&span, &run);
            drop(span);
            telemetry.record_run(&labels, &run);
            telemetry.record_transition(&labels, Transition::Regression, &[finding()], since());
        }
        start.elapsed()
    })
}

/// A refused connection fails every export: recording stays quick (the bound allows for a
/// debug build on a busy machine; it is CPU time, not waiting), shutdown keeps to its
/// timeout, and the losses are counted.
async fn dead_collector_costs_nothing(protocol: OtlpProtocol) {
    let telemetry = Telemetry::init(&export_config(&closed_port().await, protocol), None).unwrap();
    let records: u64 = 10_000;
    let took = record_many(&telemetry, records);
    assert!(
        took < Duration::from_secs(10),
        "{records} records took {took:?}"
    );

    let timeout = Duration::from_secs(2);
    let shutdown = shut_down(&telemetry, timeout).await;
    assert!(
        shutdown < timeout + Duration::from_millis(500),
        "shutdown took {shutdown:?}"
    );

    let dropped = telemetry.dropped();
    assert!(dropped.spans > 0, "{dropped:?}");
    assert!(dropped.logs > 0, "{dropped:?}");
    assert!(dropped.metric_points > 0, "{dropped:?}");
    assert!(
        dropped.spans <= records && dropped.logs <= records,
        "{dropped:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_grpc_collector_neither_blocks_nor_hangs_and_drops_are_counted() {
    dead_collector_costs_nothing(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_http_collector_neither_blocks_nor_hangs_and_drops_are_counted() {
    dead_collector_costs_nothing(OtlpProtocol::HttpProtobuf).await;
}

/// A collector that accepts connections and never answers: every export waits out its
/// 5 s timeout, so a caller that waited on the network would take seconds per call. Twice
/// a queue's worth of records must still go by in well under one export timeout, and
/// shutdown must keep to its own timeout.
async fn silent_collector_costs_nothing(protocol: OtlpProtocol) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let telemetry = Telemetry::init(&export_config(&endpoint, protocol), None).unwrap();
    let records = 2 * telemetry::QUEUE_SIZE as u64;
    let took = record_many(&telemetry, records);
    assert!(
        took < telemetry::EXPORT_TIMEOUT,
        "{records} records took {took:?}"
    );
    let timeout = Duration::from_secs(1);
    let shutdown = shut_down(&telemetry, timeout).await;
    assert!(
        shutdown < timeout + Duration::from_millis(500),
        "shutdown took {shutdown:?}"
    );
    let dropped = telemetry.dropped();
    assert!(dropped.spans > 0 && dropped.logs > 0, "{dropped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_grpc_collector_neither_blocks_nor_hangs() {
    silent_collector_costs_nothing(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_http_collector_neither_blocks_nor_hangs() {
    silent_collector_costs_nothing(OtlpProtocol::HttpProtobuf).await;
}

/// `init` needs no tokio runtime of the caller's, even for gRPC.
#[test]
fn grpc_init_works_outside_any_runtime() {
    let telemetry = Telemetry::init(
        &export_config("http://127.0.0.1:9", OtlpProtocol::Grpc),
        None,
    )
    .unwrap();
    telemetry.record_reload(true);
    let start = Instant::now();
    telemetry.shutdown(Duration::from_millis(500));
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// Without any collector, transitions still reach picket's own log.
#[test]
fn without_a_collector_transitions_go_to_the_log() {
    let telemetry = Telemetry::disabled();
    assert!(telemetry.export().is_none());
    assert!(telemetry.layer::<tracing_subscriber::Registry>().is_none());
    let buffer = SharedBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let labels = hsts();
        telemetry.record_run(&labels, &result(&labels, Outcome::Pass, 5, Some(200)));
        telemetry.record_transition(&labels, Transition::Regression, &[finding()], since());
        telemetry.record_transition(&labels, Transition::Recovery, &[], since());
        let span = telemetry::run_span(&labels);
        telemetry::finish_run_span(&span, &result(&labels, Outcome::Pass, 5, Some(200)));
    });
    telemetry.shutdown(Duration::from_secs(1));
    let log = buffer.text();
    let lines: Vec<_> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("WARN"), "{log}");
    assert!(lines[0].contains("security regression"), "{log}");
    assert!(lines[0].contains("probe.id=\"headers/hsts\""), "{log}");
    assert!(lines[0].contains("target.name=\"payments-api\""), "{log}");
    // The findings in words, not a JSON string escaped into the line.
    assert!(
        lines[0].contains(
            "findings=header strict-transport-security present: expected present, observed absent"
        ),
        "{log}"
    );
    assert!(
        !lines[0].contains("\\\"") && !lines[0].contains("[{"),
        "{log}"
    );
    assert!(
        lines[1].contains("INFO") && lines[1].contains("security recovery"),
        "{log}"
    );
    assert_eq!(telemetry.dropped().total(), 0);
}

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedBuffer {
    type Writer = SharedBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
