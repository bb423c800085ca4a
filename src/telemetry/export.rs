//! Where and how telemetry goes: the endpoint and protocol after the `OTEL_*` environment
//! has had its say, the resource, the OTLP exporters, and the runtime the gRPC exporters
//! run on.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, TelemetryResourceDetector,
};
use url::Url;

use crate::config::{self, OtlpProtocol};

/// Time limit of one export request; retries stop once it is spent.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Spans or log records per export request.
pub(super) const MAX_EXPORT_BATCH: usize = 512;

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
pub(super) fn resource(vantage: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Resource {
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

/// The three OTLP exporters for one endpoint and protocol.
pub(super) struct Exporters {
    pub(super) spans: opentelemetry_otlp::SpanExporter,
    pub(super) logs: opentelemetry_otlp::LogExporter,
    pub(super) metrics: opentelemetry_otlp::MetricExporter,
}

impl Exporters {
    /// Builds the exporters; for gRPC, must run inside the export runtime.
    pub(super) fn build(export: &Export) -> anyhow::Result<Exporters> {
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

/// A one-thread tokio runtime that carries the gRPC exporters' connections.
pub(super) struct ExportRuntime {
    pub(super) handle: tokio::runtime::Handle,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl ExportRuntime {
    pub(super) fn start() -> anyhow::Result<ExportRuntime> {
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

    pub(super) fn stop(&self) {
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
}
