//! The service config (`config/picket.yaml`): raw serde shapes, then validated types.
//!
//! Parsing and validation are separate stages. [`raw`] mirrors the YAML exactly, with
//! `deny_unknown_fields` and source positions; [`compile`] turns it into a [`Config`] whose
//! values are already checked (URLs parsed, durations and sizes converted, `${env:…}` resolved),
//! reporting every problem it finds instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_saphyr::Spanned;
use url::Url;

use crate::diag::{Diagnostic, Diagnostics, Pos};
use crate::redact::{Redactor, Secret};
use crate::units::{self, Schedule};

/// The raw YAML shapes. Field docs here are the user's reference.
pub mod raw {
    use std::collections::BTreeMap;

    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_saphyr::Spanned;

    /// The whole service config file.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        /// Team probe files and folders (searched recursively for `*.yaml` and `*.yml`),
        /// loaded beside the built-in library.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub probes: Vec<Spanned<String>>,
        /// The built-in probe library: `false` to load only the `probes:` files, or
        /// `{ exclude: [GLOB, …] }` to leave library probes out by id.
        #[serde(default)]
        #[schemars(with = "Option<LibrarySetting>")]
        pub library: Option<Spanned<LibrarySetting>>,
        /// The services to probe.
        #[serde(default)]
        #[schemars(with = "Vec<Target>")]
        pub targets: Vec<Spanned<Target>>,
        /// Files or folders holding more targets, each file a YAML list of targets.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub targets_from: Vec<Spanned<String>>,
        /// Defaults that probes may override.
        #[serde(default)]
        pub defaults: Defaults,
        /// Politeness and resource limits.
        #[serde(default)]
        pub limits: Limits,
        /// Where series state is kept.
        #[serde(default)]
        pub state: State,
        /// OpenTelemetry export.
        #[serde(default)]
        pub telemetry: Telemetry,
        /// The HTTP API and dashboard.
        #[serde(default)]
        pub api: Api,
        /// Notifications of regressions and recoveries, besides telemetry.
        #[serde(default)]
        pub notify: Notify,
    }

    /// The API's own certificate.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ApiTls {
        /// PEM file of the certificate chain, leaf first.
        #[schemars(with = "String", example = "/etc/picket/tls/tls.crt")]
        pub cert_file: Spanned<String>,
        /// PEM file of the private key (PKCS#8, PKCS#1 or SEC1).
        #[schemars(with = "String", example = "/etc/picket/tls/tls.key")]
        pub key_file: Spanned<String>,
    }

    /// Where regressions and recoveries are announced.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Notify {
        /// Webhooks that get one POST per regression and per recovery.
        #[serde(default)]
        #[schemars(with = "Vec<Webhook>")]
        pub webhooks: Vec<Spanned<Webhook>>,
    }

    /// One webhook: every regression and recovery is POSTed to it, in its format.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Webhook {
        /// Unique name, `[a-z0-9][a-z0-9-_.]*`; the `webhook.name` of
        /// `picket.notify.deliveries` and of log lines.
        #[schemars(with = "String", example = "security-slack")]
        pub name: Spanned<String>,
        /// `http://` or `https://` URL to POST to. Webhook URLs usually hold a token: give it
        /// as `${env:NAME}`; logs show only its scheme, host and port.
        #[schemars(with = "String", example = "${env:SLACK_WEBHOOK_URL}")]
        pub url: Spanned<String>,
        /// The body: `json` (picket's own document, the default), `slack` (Slack incoming
        /// webhook: `text` and `blocks`) or `teams` (Microsoft Teams: an Adaptive Card).
        #[schemars(with = "Option<super::WebhookFormat>")]
        pub format: Option<Spanned<super::WebhookFormat>>,
        /// Extra request headers, e.g. `Authorization: "Bearer ${env:HOOK_TOKEN}"`.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, String>")]
        pub headers: BTreeMap<String, Spanned<String>>,
        /// Only transitions of series at this severity or above (a recovery counts at the
        /// severity of what recovered).
        #[schemars(with = "Option<crate::units::Severity>")]
        pub min_severity: Option<Spanned<crate::units::Severity>>,
        /// Time limit of one delivery request (`5s`; `100ms` to `1m`).
        #[schemars(with = "Option<crate::units::DurationText>")]
        pub timeout: Option<Spanned<String>>,
        /// Notifications waiting for this webhook at most (256; 1 to 10000); past it new
        /// ones are dropped and counted.
        #[schemars(with = "Option<u32>", example = 256)]
        pub queue: Option<Spanned<i64>>,
    }

    /// `library:` as written: `true`/`false`, or a mapping.
    #[derive(Debug)]
    pub enum LibrarySetting {
        /// `library: false` (only the team's probes) or `library: true` (the default).
        Switch(bool),
        /// `library: { enabled: …, exclude: […] }`.
        Settings(Library),
    }

    /// The built-in probe library's settings.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Library {
        /// Load the built-in library (`true`); `false` loads only the `probes:` files.
        #[schemars(with = "Option<bool>")]
        pub enabled: Option<Spanned<bool>>,
        /// Globs on library probe ids to leave out (`tls/*`, `exposure/api-docs`); `*`
        /// matches across `/`. Each must match at least one library probe.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub exclude: Vec<Spanned<String>>,
    }

    // Written by hand, as its `Deserialize` is: a boolean or the settings mapping.
    impl JsonSchema for LibrarySetting {
        fn schema_name() -> std::borrow::Cow<'static, str> {
            "LibrarySetting".into()
        }

        fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
            let settings = generator.subschema_for::<Library>();
            schemars::json_schema!({
                "description": "`true` or `false`, or `{ enabled: …, exclude: [GLOB, …] }`.",
                "anyOf": [{ "type": "boolean" }, settings],
                "x-picket-expected": "true, false, or a mapping with `enabled` and `exclude`",
            })
        }
    }

    impl<'de> Deserialize<'de> for LibrarySetting {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = LibrarySetting;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("`true`, `false`, or a mapping with `enabled` and `exclude`")
                }
                fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                    Ok(LibrarySetting::Switch(v))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    map: A,
                ) -> Result<Self::Value, A::Error> {
                    // The mapping form keeps `deny_unknown_fields` and its did-you-mean.
                    Library::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                        .map(LibrarySetting::Settings)
                }
            }
            d.deserialize_any(Visitor)
        }
    }

    /// One service endpoint.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Target {
        /// Unique name, `[a-z0-9][a-z0-9-_.]*`.
        #[schemars(with = "String")]
        pub name: Spanned<String>,
        /// Base URL; probe paths are appended to its path.
        #[schemars(with = "String")]
        pub url: Spanned<String>,
        /// Tags that probes select targets by.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub tags: Vec<Spanned<String>>,
        /// Headers sent by probes that use target auth. Use `${env:NAME}` for secrets.
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, String>")]
        pub headers: BTreeMap<String, Spanned<String>>,
        /// TLS settings for this target.
        #[serde(default)]
        #[schemars(with = "Option<TargetTls>")]
        pub tls: Option<Spanned<TargetTls>>,
        /// Per-target facts that some probes need (`{{vars.NAME}}`).
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, VarValue>")]
        pub vars: BTreeMap<String, Spanned<VarValue>>,
    }

    /// TLS settings of a target.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TargetTls {
        /// A PEM file of CA certificates trusted for this target, besides the system roots.
        #[schemars(with = "Option<String>")]
        pub ca_file: Option<Spanned<String>>,
        /// The name to verify the certificate against, when it differs from the URL host.
        #[schemars(with = "Option<String>")]
        pub server_name: Option<Spanned<String>>,
    }

    /// A target variable: a scalar or a list of scalars.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(untagged)]
    #[schemars(extend("x-picket-expected" = "a value such as /admin, or a list of values such as [/admin, /internal]"))]
    pub enum VarValue {
        /// A list, expanded to one request per item.
        List(Vec<Scalar>),
        /// A single value.
        One(Scalar),
    }

    /// A scalar YAML value, kept as text.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(untagged)]
    pub enum Scalar {
        /// An integer.
        Int(i64),
        /// A boolean.
        Bool(bool),
        /// A float.
        Float(f64),
        /// Text.
        Text(String),
    }

    impl Scalar {
        /// The value as it would be written in a path or header.
        pub fn to_text(&self) -> String {
            match self {
                Scalar::Int(i) => i.to_string(),
                Scalar::Bool(b) => b.to_string(),
                Scalar::Float(f) => f.to_string(),
                Scalar::Text(s) => s.clone(),
            }
        }
    }

    /// When series run: `every` or `cron`, plus `jitter`.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Schedule {
        /// Interval such as `5m`.
        #[schemars(with = "Option<crate::units::DurationText>")]
        pub every: Option<Spanned<String>>,
        /// Cron expression (5 or 6 fields, UTC).
        #[schemars(with = "Option<String>")]
        pub cron: Option<Spanned<String>>,
        /// Random spread such as `10%`.
        #[schemars(with = "Option<crate::units::PercentText>")]
        pub jitter: Option<Spanned<String>>,
    }

    /// Config-wide defaults.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Defaults {
        /// Default schedule (`every: 5m, jitter: 10%`).
        #[schemars(with = "Option<Schedule>")]
        pub schedule: Option<Spanned<Schedule>>,
        /// Timeout for one whole run (`10s`).
        #[schemars(with = "Option<crate::units::DurationText>")]
        pub timeout: Option<Spanned<String>>,
        /// Failing runs before a regression is declared (2; 1 to 100).
        #[schemars(with = "Option<u32>", example = 2)]
        pub confirm: Option<Spanned<i64>>,
        /// Passing runs before a recovery is declared (1; 1 to 100).
        #[schemars(with = "Option<u32>", example = 1)]
        pub recover: Option<Spanned<i64>>,
    }

    /// A size: a number of bytes or text like `1MiB`.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(untagged)]
    #[schemars(extend(
        "x-picket-expected" = "a size such as 1MiB",
        "x-picket-hint" = "a number of bytes, or a number and a unit such as `512KiB` or `1MiB`"
    ))]
    pub enum Size {
        /// Bytes.
        Bytes(u64),
        /// Text with a unit.
        Text(String),
    }

    /// Limits that protect the probed services and picket itself.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Limits {
        /// Runs in flight in the whole process (64; 1 to 10000).
        #[schemars(with = "Option<u32>", example = 64)]
        pub concurrency: Option<Spanned<i64>>,
        /// Runs in flight per target (4; 1 to 1000).
        #[schemars(with = "Option<u32>", example = 4)]
        pub per_target_concurrency: Option<Spanned<i64>>,
        /// Requests per second per target (10; 0.01 to 100000).
        #[schemars(with = "Option<f64>", example = 10)]
        pub per_target_rps: Option<Spanned<f64>>,
        /// Cap on each response body read (`1MiB`; 1 byte to `64MiB`).
        #[schemars(with = "Option<Size>")]
        pub max_body_bytes: Option<Spanned<Size>>,
    }

    /// The embedded state store.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct State {
        /// Directory of the store (`.picket/state`).
        #[schemars(with = "Option<String>")]
        pub path: Option<Spanned<String>>,
    }

    /// Telemetry export.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Telemetry {
        /// OTLP exporter; absent means no export.
        #[schemars(with = "Option<Otlp>")]
        pub otlp: Option<Spanned<Otlp>>,
        /// How often metrics are exported (`10s`).
        #[schemars(with = "Option<crate::units::DurationText>")]
        pub export_interval: Option<Spanned<String>>,
    }

    /// An OTLP endpoint.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Otlp {
        /// Collector URL, e.g. `http://127.0.0.1:4317`.
        #[schemars(with = "String")]
        pub endpoint: Spanned<String>,
        /// `grpc` (default) or `http/protobuf`.
        #[schemars(with = "Option<String>")]
        pub protocol: Option<Spanned<String>>,
    }

    /// The HTTP API.
    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Api {
        /// Listen address (`127.0.0.1:9750`). Any address other than loopback (`0.0.0.0:9750`
        /// in a pod) needs `token`.
        #[schemars(with = "Option<String>", example = "127.0.0.1:9750")]
        pub listen: Option<Spanned<String>>,
        /// Bearer token that every route except `/healthz` and `/readyz` requires
        /// (`Authorization: Bearer <token>`; a browser may give it once as `/?token=…`).
        /// Required when `listen` is off loopback. Give it by reference, at least 16
        /// characters of printable ASCII: `"${env:PICKET_API_TOKEN}"`. It is a secret:
        /// scrubbed from every output.
        #[schemars(with = "Option<String>", example = "${env:PICKET_API_TOKEN}")]
        pub token: Option<Spanned<String>>,
        /// Serve the API over HTTPS with this certificate and key (PEM files, re-read at
        /// every reload, so a renewed certificate is picked up without a restart).
        #[schemars(with = "Option<ApiTls>")]
        pub tls: Option<Spanned<ApiTls>>,
        /// Host names the API answers to, besides IP addresses, `localhost` and
        /// `*.localhost` (e.g. `picket.internal` behind an ingress). A request whose `Host`
        /// is anything else gets `421 Misdirected Request`: a web page cannot read the API
        /// through a name it rebinds to this machine (DNS rebinding). `/healthz` and
        /// `/readyz` answer whatever the `Host`.
        #[serde(default)]
        #[schemars(with = "Vec<String>")]
        pub allowed_hosts: Vec<Spanned<String>>,
    }
}

/// The JSON Schema (2020-12) of the service config file, generated from [`raw::Config`].
pub fn config_schema() -> serde_json::Value {
    schemars::schema_for!(raw::Config).to_value()
}

/// The JSON Schema of a `targets_from` file: a list of targets.
pub fn targets_schema() -> serde_json::Value {
    schemars::schema_for!(Vec<raw::Target>).to_value()
}

/// A validated service configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from (empty for ad-hoc runs).
    pub source: PathBuf,
    /// Team probe files and folders, loaded beside the library.
    pub probe_paths: Vec<SourcedPath>,
    /// Which built-in library probes are loaded.
    pub library: Library,
    /// All targets, from the file and from `targets_from`.
    pub targets: Vec<Target>,
    /// Files or folders of extra targets.
    pub targets_from: Vec<PathBuf>,
    /// Defaults for probes.
    pub defaults: Defaults,
    /// Limits.
    pub limits: Limits,
    /// State store directory.
    pub state_path: PathBuf,
    /// Telemetry settings.
    pub telemetry: Telemetry,
    /// API listen address.
    pub api_listen: SocketAddr,
    /// Host names the API answers to besides IP literals and `localhost` (lowercase, no
    /// trailing dot).
    pub api_allowed_hosts: Vec<String>,
    /// The bearer token the API requires (always secret).
    pub api_token: Option<Secret<String>>,
    /// The API's certificate and key, loaded: HTTPS when present.
    pub api_tls: Option<ApiTls>,
    /// Webhooks for regressions and recoveries.
    pub webhooks: Vec<Webhook>,
    /// Every secret value resolved from the environment, for scrubbing output.
    pub redactor: Redactor,
}

/// The body format of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// picket's own JSON document.
    #[default]
    Json,
    /// A Slack incoming-webhook message (`text` and `blocks`).
    Slack,
    /// A Microsoft Teams message holding an Adaptive Card.
    Teams,
}

impl WebhookFormat {
    /// Its name in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Teams => "teams",
        }
    }
}

/// A validated webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Unique name.
    pub name: String,
    /// Where to POST (secret when it came from the environment).
    pub url: Secret<Url>,
    /// Body format.
    pub format: WebhookFormat,
    /// Extra request headers.
    pub headers: Vec<(HeaderName, Secret<HeaderValue>)>,
    /// Transitions of series below this severity are not sent.
    pub min_severity: Option<crate::units::Severity>,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Queue capacity.
    pub queue: usize,
}

impl Webhook {
    /// The default time limit of one request.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default queue capacity.
    pub const DEFAULT_QUEUE: usize = 256;

    /// `scheme://host:port` of the URL: all of it that logs show, as the rest (a path, a
    /// query) often holds a token.
    pub fn origin(&self) -> String {
        let url = self.url.expose();
        let host = url.host_str().unwrap_or("?");
        match url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        }
    }
}

/// The API's TLS settings, with the certificate and key already loaded and checked.
#[derive(Debug, Clone)]
pub struct ApiTls {
    /// The certificate chain file.
    pub cert_file: PathBuf,
    /// The private key file.
    pub key_file: PathBuf,
    /// The server configuration built from them.
    pub server: Arc<rustls::ServerConfig>,
}

/// A path from the config, with where it was written (for errors about it).
#[derive(Debug, Clone)]
pub struct SourcedPath {
    /// The path.
    pub path: PathBuf,
    /// The config file that named it.
    pub file: PathBuf,
    /// Where in that file.
    pub pos: Pos,
}

/// Which probes of the built-in library ([`crate::library`]) are loaded.
#[derive(Debug, Clone)]
pub struct Library {
    /// Whether the library is loaded at all (`library: false` turns it off).
    pub enabled: bool,
    /// Globs on library probe ids to leave out.
    pub exclude: Vec<Exclude>,
}

impl Default for Library {
    fn default() -> Self {
        Library {
            enabled: true,
            exclude: Vec::new(),
        }
    }
}

/// One `library.exclude` glob, compiled, with where it was written (a glob that matches no
/// library probe is an error there).
#[derive(Debug, Clone)]
pub struct Exclude {
    /// The glob as written.
    pub glob: String,
    /// The compiled glob; `*` matches across `/`, as `picket check --probe` does.
    pub matcher: globset::GlobMatcher,
    /// The config file that holds it.
    pub file: PathBuf,
    /// Where in that file.
    pub pos: Pos,
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Unique name.
    pub name: String,
    /// Base URL.
    pub url: Url,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// Headers sent when a probe uses target auth.
    pub headers: Vec<(HeaderName, Secret<HeaderValue>)>,
    /// Extra CA certificates (PEM file).
    pub ca_file: Option<PathBuf>,
    /// Certificate name override.
    pub server_name: Option<String>,
    /// Variables for probes.
    pub vars: BTreeMap<String, Var>,
}

/// A target variable after `${env:…}` resolution.
#[derive(Debug, Clone)]
pub enum Var {
    /// One value.
    One(Secret<String>),
    /// A list of values.
    List(Vec<Secret<String>>),
}

/// Defaults for probes.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Schedule.
    pub schedule: Schedule,
    /// Timeout for one run.
    pub timeout: Duration,
    /// Failing runs before a regression.
    pub confirm: u32,
    /// Passing runs before a recovery.
    pub recover: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            schedule: Schedule::Every {
                interval: Duration::from_secs(300),
                jitter: 0.1,
            },
            timeout: Duration::from_secs(10),
            confirm: 2,
            recover: 1,
        }
    }
}

/// Limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Runs in flight, whole process.
    pub concurrency: usize,
    /// Runs in flight per target.
    pub per_target_concurrency: usize,
    /// Requests per second per target.
    pub per_target_rps: f64,
    /// Cap on a response body.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 64,
            per_target_concurrency: 4,
            per_target_rps: 10.0,
            max_body_bytes: 1 << 20,
        }
    }
}

/// OTLP protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC.
    Grpc,
    /// OTLP over HTTP with protobuf bodies.
    HttpProtobuf,
}

/// Telemetry settings.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// Collector endpoint, if any.
    pub endpoint: Option<Url>,
    /// Protocol.
    pub protocol: OtlpProtocol,
    /// Metric export interval.
    pub export_interval: Duration,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            endpoint: None,
            protocol: OtlpProtocol::Grpc,
            export_interval: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// A config with one target and defaults everywhere, for `picket check --target URL`.
    /// The target is named [`adhoc_name`].
    pub fn adhoc(url: Url, probe_paths: Vec<PathBuf>) -> Config {
        let name = adhoc_name(&url);
        Config {
            source: PathBuf::new(),
            probe_paths: probe_paths
                .into_iter()
                .map(|path| SourcedPath {
                    path,
                    file: PathBuf::from("<command line>"),
                    pos: Pos::FILE,
                })
                .collect(),
            library: Library::default(),
            targets: vec![Target {
                name,
                url,
                tags: BTreeSet::new(),
                headers: Vec::new(),
                ca_file: None,
                server_name: None,
                vars: BTreeMap::new(),
            }],
            targets_from: Vec::new(),
            defaults: Defaults::default(),
            limits: Limits::default(),
            state_path: PathBuf::from(".picket/state"),
            telemetry: Telemetry::default(),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 9750)),
            api_allowed_hosts: Vec::new(),
            api_token: None,
            api_tls: None,
            webhooks: Vec::new(),
            redactor: Redactor::default(),
        }
    }

    /// Finds a target by name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// The name of the ad-hoc target of `picket check --target URL`: `host:port` as the URL
/// gives them, with the scheme's port when the URL has none (`127.0.0.1:8080`, `[::1]:8443`,
/// `example.com:443`). Reports then say which service they are about, and two services on
/// one host are not confused.
pub fn adhoc_name(url: &Url) -> String {
    // `host_str` keeps the brackets of an IPv6 literal.
    let host = url.host_str().unwrap_or("target").to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Looks up environment variables; injected so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Validation context: the file being compiled, the environment and the growing error list.
struct Ctx<'a> {
    file: &'a Path,
    env: EnvLookup<'a>,
    diags: &'a mut Diagnostics,
    redactor: &'a mut Redactor,
}

impl Ctx<'_> {
    fn err<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(
            self.file,
            Pos::from_location(&spanned.referenced),
            message,
        ));
    }

    fn err_hint<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>, hint: &str) {
        self.diags.push(
            Diagnostic::new(self.file, Pos::from_location(&spanned.referenced), message)
                .with_hint(hint),
        );
    }

    /// Resolves `${env:NAME}` references. The result is secret when any reference was used.
    ///
    /// Every resolved value is remembered by the redactor (and the process-wide one, so logs
    /// and telemetry scrub it too). The redactor holds the value itself, not the expanded
    /// text, since a target may echo the value alone. Values shorter than
    /// [`Redactor::MIN_SECRET_LEN`] are refused: they cannot be scrubbed without mangling
    /// every output.
    fn resolve(&mut self, value: &Spanned<String>) -> Option<Secret<String>> {
        match resolve_env(&value.value, self.env) {
            Ok((text, used)) => {
                if used.is_empty() {
                    return Some(Secret::plain(text));
                }
                let mut ok = true;
                for (name, resolved) in &used {
                    let chars = resolved.chars().count();
                    if chars < Redactor::MIN_SECRET_LEN {
                        self.err_hint(
                            value,
                            format!(
                                "environment variable `{name}` holds {chars} character(s); values from the environment must have at least {}",
                                Redactor::MIN_SECRET_LEN
                            ),
                            "picket scrubs every `${env:…}` value from its output, which a value this short would mangle; write short non-secret values in the file itself",
                        );
                        ok = false;
                    } else {
                        self.redactor.add(resolved);
                    }
                }
                crate::redact::register(self.redactor);
                ok.then(|| Secret::hidden(text))
            }
            Err(EnvError::Missing(name)) => {
                self.err_hint(
                    value,
                    format!("environment variable `{name}` is not set"),
                    "export it before starting picket, or remove the reference",
                );
                None
            }
            Err(EnvError::Syntax(detail)) => {
                self.err_hint(
                    value,
                    detail,
                    "references are written `${env:NAME}`; write `$${` for a literal `${`",
                );
                None
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum EnvError {
    Missing(String),
    Syntax(String),
}

/// A variable a reference resolved: its name and value.
type Resolved = (String, String);

/// Expands `${env:NAME}` in `text`. Returns the expansion and every variable it used.
fn resolve_env(text: &str, env: EnvLookup<'_>) -> Result<(String, Vec<Resolved>), EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut used = Vec::new();
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| EnvError::Syntax("unterminated `${` reference".into()))?;
            let inner = &tail[..end];
            let name = inner
                .strip_prefix("env:")
                .ok_or_else(|| EnvError::Syntax(format!("unsupported reference `${{{inner}}}`")))?;
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(EnvError::Syntax(format!(
                    "invalid environment variable name `{name}`"
                )));
            }
            let value = env(name).ok_or_else(|| EnvError::Missing(name.to_string()))?;
            out.push_str(&value);
            used.push((name.to_string(), value));
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok((out, used))
}

/// Resolves `${env:NAME}` in a value given on the command line (`check --var`), as in a
/// file: a value that used the environment is secret, and is added to `redactor` (and the
/// process-wide one). The error is a sentence for people.
pub fn resolve_cli_value(
    text: &str,
    env: EnvLookup<'_>,
    redactor: &mut Redactor,
) -> Result<Secret<String>, String> {
    match resolve_env(text, env) {
        Ok((text, used)) if used.is_empty() => Ok(Secret::plain(text)),
        Ok((text, used)) => {
            for (name, resolved) in &used {
                let chars = resolved.chars().count();
                if chars < Redactor::MIN_SECRET_LEN {
                    return Err(format!(
                        "environment variable `{name}` holds {chars} character(s); values from the environment must have at least {}",
                        Redactor::MIN_SECRET_LEN
                    ));
                }
                redactor.add(resolved);
            }
            crate::redact::register(redactor);
            Ok(Secret::hidden(text))
        }
        Err(EnvError::Missing(name)) => Err(format!("environment variable `{name}` is not set")),
        Err(EnvError::Syntax(detail)) => {
            Err(format!("{detail}; references are written `${{env:NAME}}`"))
        }
    }
}

/// Checks a target name against `[a-z0-9][a-z0-9-_.]*`.
pub fn valid_target_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Validates a raw config. Problems go to `diags`; the returned config is usable only when
/// `diags` stayed empty.
pub fn compile(
    file: &Path,
    raw: raw::Config,
    env: EnvLookup<'_>,
    diags: &mut Diagnostics,
) -> Config {
    let mut redactor = Redactor::default();
    let mut ctx = Ctx {
        file,
        env,
        diags,
        redactor: &mut redactor,
    };

    let probe_paths = raw
        .probes
        .iter()
        .map(|p| SourcedPath {
            path: PathBuf::from(&p.value),
            file: file.to_path_buf(),
            pos: Pos::from_location(&p.referenced),
        })
        .collect();

    let library = compile_library(&mut ctx, raw.library.as_ref());

    let mut targets = Vec::new();
    for target in &raw.targets {
        if let Some(t) = compile_target(&mut ctx, &target.value) {
            targets.push(t);
        }
    }
    let targets_from = raw
        .targets_from
        .iter()
        .map(|p| PathBuf::from(&p.value))
        .collect();

    let defaults = compile_defaults(&mut ctx, &raw.defaults);
    let limits = compile_limits(&mut ctx, &raw.limits);
    let telemetry = compile_telemetry(&mut ctx, &raw.telemetry);
    let state_path = raw.state.path.as_ref().map_or_else(
        || PathBuf::from(".picket/state"),
        |p| PathBuf::from(&p.value),
    );
    let api = compile_api(&mut ctx, &raw.api);
    let webhooks = compile_notify(&mut ctx, &raw.notify);

    Config {
        source: file.to_path_buf(),
        probe_paths,
        library,
        targets,
        targets_from,
        defaults,
        limits,
        state_path,
        telemetry,
        api_listen: api.listen,
        api_allowed_hosts: api.allowed_hosts,
        api_token: api.token,
        api_tls: api.tls,
        webhooks,
        redactor,
    }
}

/// Validates `library:`: the exclude globs compile, and excluding from a disabled library is
/// a mistake. Whether each glob matches a library probe is checked once the library is loaded
/// ([`crate::load`]).
fn compile_library(ctx: &mut Ctx<'_>, raw: Option<&Spanned<raw::LibrarySetting>>) -> Library {
    let mut library = Library::default();
    let settings = match raw.map(|r| &r.value) {
        None => return library,
        Some(raw::LibrarySetting::Switch(on)) => {
            library.enabled = *on;
            return library;
        }
        Some(raw::LibrarySetting::Settings(s)) => s,
    };
    library.enabled = settings.enabled.as_ref().is_none_or(|e| e.value);
    if !library.enabled
        && let Some(first) = settings.exclude.first()
    {
        ctx.err_hint(
            first,
            "`library.exclude` leaves out library probes, but the library is disabled",
            "remove `enabled: false` to load the library without these probes, or remove `exclude`",
        );
    }
    for glob in &settings.exclude {
        match globset::Glob::new(&glob.value) {
            Ok(g) => library.exclude.push(Exclude {
                glob: glob.value.clone(),
                matcher: g.compile_matcher(),
                file: ctx.file.to_path_buf(),
                pos: Pos::from_location(&glob.referenced),
            }),
            Err(e) => ctx.err_hint(
                glob,
                format!(
                    "invalid glob `{}` in library.exclude: {}",
                    crate::term::escape_controls(&glob.value),
                    e.kind()
                ),
                "write a probe id (`exposure/api-docs`) or a glob on ids (`tls/*`)",
            ),
        }
    }
    library
}

/// Validates `notify:`: each webhook's name (unique), URL, headers, timeout and queue.
fn compile_notify(ctx: &mut Ctx<'_>, raw: &raw::Notify) -> Vec<Webhook> {
    let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
    let mut webhooks = Vec::new();
    for hook in &raw.webhooks {
        let name = &hook.value.name;
        if let Some(first) = seen.get(&name.value) {
            let hint = format!(
                "first defined at {}:{}:{}; names tell webhooks apart in logs and metrics",
                ctx.file.display(),
                first.line,
                first.column
            );
            ctx.err_hint(
                name,
                format!(
                    "duplicate webhook name `{}`",
                    crate::term::escape_controls(&name.value)
                ),
                &hint,
            );
            continue;
        }
        seen.insert(name.value.clone(), Pos::from_location(&name.referenced));
        if let Some(w) = compile_webhook(ctx, &hook.value) {
            webhooks.push(w);
        }
    }
    webhooks
}

/// Request headers from the file (a target's, a webhook's): valid names and values, each
/// value resolved (`${env:…}`) and marked sensitive when it holds a secret. A bad one is
/// reported at its position and clears `ok`.
fn compile_headers(
    ctx: &mut Ctx<'_>,
    raw: &BTreeMap<String, Spanned<String>>,
    ok: &mut bool,
) -> Vec<(HeaderName, Secret<HeaderValue>)> {
    let mut headers = Vec::new();
    for (key, value) in raw {
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            ctx.err(
                value,
                format!(
                    "invalid header name `{}`",
                    crate::term::escape_controls(key)
                ),
            );
            *ok = false;
            continue;
        };
        let Some(resolved) = ctx.resolve(value) else {
            *ok = false;
            continue;
        };
        match HeaderValue::from_str(resolved.expose()) {
            Ok(mut v) => {
                v.set_sensitive(resolved.is_secret());
                headers.push((name, resolved.map(|_| v)));
            }
            Err(_) => {
                ctx.err(
                    value,
                    format!(
                        "header `{key}` has a value that is not valid in HTTP (control characters or newlines)"
                    ),
                );
                *ok = false;
            }
        }
    }
    headers
}

fn compile_webhook(ctx: &mut Ctx<'_>, raw: &raw::Webhook) -> Option<Webhook> {
    let mut ok = true;
    let name = raw.name.value.clone();
    if !valid_target_name(&name) {
        ctx.err_hint(
            &raw.name,
            format!(
                "invalid webhook name `{}`",
                crate::term::escape_controls(&name)
            ),
            "names are lowercase letters, digits, `-`, `_` and `.`, starting with a letter or \
             digit, e.g. `security-slack`",
        );
        ok = false;
    }
    // The URL usually holds a token: no message quotes it, even a plain one.
    let url = ctx.resolve(&raw.url).and_then(|url| {
        let hint = "write an http or https URL, e.g. `${env:SLACK_WEBHOOK_URL}` holding \
                    `https://hooks.slack.com/services/…`";
        match Url::parse(url.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Some(url.map(|_| u))
            }
            Ok(u) => {
                ctx.err_hint(
                    &raw.url,
                    format!(
                        "webhook URL must be http or https with a host, not `{}:`",
                        crate::term::escape_controls(u.scheme())
                    ),
                    hint,
                );
                None
            }
            Err(e) => {
                ctx.err_hint(&raw.url, format!("invalid webhook URL: {e}"), hint);
                None
            }
        }
    });
    ok &= url.is_some();
    let headers = compile_headers(ctx, &raw.headers, &mut ok);
    let timeout = match &raw.timeout {
        None => Some(Webhook::DEFAULT_TIMEOUT),
        Some(t) => compile_duration(
            ctx,
            t,
            "timeout",
            &units::ranges::WEBHOOK_TIMEOUT,
            "how long one delivery request may take, e.g. `5s`",
        ),
    };
    let queue = match &raw.queue {
        None => Some(Webhook::DEFAULT_QUEUE),
        Some(q) => int_in(
            ctx,
            q,
            "queue",
            &units::ranges::WEBHOOK_QUEUE,
            "notifications waiting for this webhook at most (256 by default); past it new ones \
             are dropped and counted",
        )
        .and_then(|v| usize::try_from(v).ok()),
    };
    let (Some(url), Some(timeout), Some(queue), true) = (url, timeout, queue, ok) else {
        return None;
    };
    Some(Webhook {
        name,
        url,
        format: raw.format.as_ref().map(|f| f.value).unwrap_or_default(),
        headers,
        min_severity: raw.min_severity.as_ref().map(|s| s.value),
        timeout,
        queue,
    })
}

/// The validated `api` section.
struct Api {
    listen: SocketAddr,
    allowed_hosts: Vec<String>,
    token: Option<Secret<String>>,
    tls: Option<ApiTls>,
}

/// The shortest `api.token` accepted: a token that guards the API from the network should
/// not be guessable.
pub const MIN_API_TOKEN_LEN: usize = 16;

/// Validates the `api` section: the listen address, the allowed host names and the token,
/// which must be there when the API listens off loopback.
fn compile_api(ctx: &mut Ctx<'_>, raw: &raw::Api) -> Api {
    let listen = match &raw.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 9750)),
        Some(listen) => listen.value.parse().unwrap_or_else(|_| {
            ctx.err_hint(
                listen,
                format!("invalid listen address `{}`", listen.value),
                "write an IP and port, e.g. `127.0.0.1:9750` or `[::1]:9750`",
            );
            SocketAddr::from(([127, 0, 0, 1], 9750))
        }),
    };
    let mut hosts = Vec::new();
    for host in &raw.allowed_hosts {
        let name = host.value.trim_end_matches('.').to_ascii_lowercase();
        if valid_host_name(&name) {
            hosts.push(name);
        } else {
            ctx.err_hint(
                host,
                format!(
                    "invalid host name `{}` in api.allowed_hosts",
                    crate::term::escape_controls(&host.value)
                ),
                "write a bare DNS name as clients send it in `Host`, without scheme, port or \
                 path, e.g. `picket.internal`; IP addresses are always allowed",
            );
        }
    }
    let token = raw.token.as_ref().and_then(|t| api_token(ctx, t));
    if let Some(at) = &raw.listen
        && raw.token.is_none()
        && !listen.ip().is_loopback()
    {
        ctx.err_hint(
            at,
            format!(
                "the API listens on {listen}, off loopback, without `api.token`: anyone who can \
                 connect would read every series and finding"
            ),
            "set `token: \"${env:PICKET_API_TOKEN}\"` under `api:` (clients then send \
             `Authorization: Bearer <token>`), or listen on 127.0.0.1",
        );
    }
    let tls = raw.tls.as_ref().and_then(|t| api_tls(ctx, &t.value));
    Api {
        listen,
        allowed_hosts: hosts,
        token,
        tls,
    }
}

/// Validates `api.token`. The value is a secret however it was written: a token typed into
/// the file is remembered by the redactor like one from the environment.
fn api_token(ctx: &mut Ctx<'_>, raw: &Spanned<String>) -> Option<Secret<String>> {
    let resolved = ctx.resolve(raw)?;
    let value = resolved.expose();
    if value.trim().is_empty() {
        ctx.err_hint(
            raw,
            "api.token is empty",
            "generate one, e.g. `openssl rand -hex 32`, and give it as `${env:PICKET_API_TOKEN}`",
        );
        return None;
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        ctx.err_hint(
            raw,
            "api.token must be printable ASCII without spaces",
            "clients send it in `Authorization: Bearer <token>`; e.g. `openssl rand -hex 32`",
        );
        return None;
    }
    let chars = value.chars().count();
    if chars < MIN_API_TOKEN_LEN {
        ctx.err_hint(
            raw,
            format!("api.token has {chars} characters; at least {MIN_API_TOKEN_LEN} are needed"),
            "a token that guards the API must not be guessable: e.g. `openssl rand -hex 32`",
        );
        return None;
    }
    if !resolved.is_secret() {
        ctx.redactor.add(value);
        crate::redact::register(ctx.redactor);
    }
    Some(Secret::hidden(value.clone()))
}

/// Loads `api.tls`: the certificate chain and the key must read, parse and belong together.
fn api_tls(ctx: &mut Ctx<'_>, raw: &raw::ApiTls) -> Option<ApiTls> {
    let cert_file = PathBuf::from(&raw.cert_file.value);
    let key_file = PathBuf::from(&raw.key_file.value);
    match server_tls(&cert_file, &key_file) {
        Ok(server) => Some(ApiTls {
            cert_file,
            key_file,
            server,
        }),
        Err((TlsFile::Cert, message)) => {
            ctx.err_hint(
                &raw.cert_file,
                message,
                "give a PEM file of the API's certificate chain, leaf first (e.g. a Kubernetes \
                 TLS secret's `tls.crt`)",
            );
            None
        }
        Err((TlsFile::Key, message)) => {
            ctx.err_hint(
                &raw.key_file,
                message,
                "give the PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1; e.g. a \
                 Kubernetes TLS secret's `tls.key`)",
            );
            None
        }
    }
}

/// Which of `api.tls`'s files a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// `cert_file`.
    Cert,
    /// `key_file`.
    Key,
}

/// Reads the API's certificate chain and key into a rustls server configuration (TLS 1.2 and
/// 1.3, ALPN `http/1.1`). Also used at every reload, so a renewed certificate is served.
pub fn server_tls(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<rustls::ServerConfig>, (TlsFile, String)> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |path: &Path, which: TlsFile| {
        crate::files::read_regular(path, crate::files::MAX_FILE_BYTES)
            .map_err(|e| (which, format!("`{}`: {e}", path.display())))
    };
    let pem = read(cert_file, TlsFile::Cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            (
                TlsFile::Cert,
                format!(
                    "`{}` is not a PEM certificate file: {e}",
                    cert_file.display()
                ),
            )
        })?;
    if chain.is_empty() {
        return Err((
            TlsFile::Cert,
            format!("no certificate in `{}`", cert_file.display()),
        ));
    }
    let pem = read(key_file, TlsFile::Key)?;
    // The key's own bytes never reach a message.
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        (
            TlsFile::Key,
            format!("no PEM private key in `{}`", key_file.display()),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (TlsFile::Cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            (
                TlsFile::Key,
                format!(
                    "the key in `{}` does not fit the certificate in `{}`: {e}",
                    key_file.display(),
                    cert_file.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_`, each 1–63 long, at most
/// 253 in all. Expects lowercase.
fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// Validates one target. Returns `None` when it is unusable (errors were reported).
fn compile_target(ctx: &mut Ctx<'_>, raw: &raw::Target) -> Option<Target> {
    let mut ok = true;
    let name = raw.name.value.clone();
    if !valid_target_name(&name) {
        ctx.err_hint(
            &raw.name,
            format!("invalid target name `{name}`"),
            "names are lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit",
        );
        ok = false;
    }

    let url = ctx.resolve(&raw.url).and_then(|url| {
        if !url.expose().contains("://") {
            ctx.err_hint(
                &raw.url,
                format!(
                    "target URL `{}` has no `http://` or `https://` scheme",
                    url.shown()
                ),
                "write e.g. `https://payments.internal:8443`",
            );
            return None;
        }
        match Url::parse(url.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            // Services that do not speak HTTP: only `tcp` (and later `tls`) probes run there.
            Ok(u) if matches!(u.scheme(), "tcp" | "tls") && u.host().is_some() => {
                if u.port().is_none() {
                    ctx.err_hint(
                        &raw.url,
                        format!("a `{}://` target needs a port", u.scheme()),
                        "write e.g. `tcp://redis.internal:6379`",
                    );
                    None
                } else {
                    Some(u)
                }
            }
            Ok(u) => {
                ctx.err_hint(
                    &raw.url,
                    format!(
                        "target URL must be http, https, tcp or tls with a host, not `{}:`",
                        u.scheme()
                    ),
                    "write e.g. `https://payments.internal:8443`",
                );
                None
            }
            Err(e) => {
                ctx.err_hint(
                    &raw.url,
                    format!("invalid URL `{}`: {e}", url.shown()),
                    "write e.g. `https://payments.internal:8443`",
                );
                None
            }
        }
    });
    if let Some(u) = &url {
        if !u.username().is_empty() || u.password().is_some() {
            ctx.err_hint(
                &raw.url,
                "target URL must not carry credentials",
                "put credentials in `headers:` with `${env:NAME}`",
            );
            ok = false;
        }
        if u.query().is_some() || u.fragment().is_some() {
            ctx.err_hint(
                &raw.url,
                "target URL must not have a query or fragment",
                "probes append their own paths and queries",
            );
            ok = false;
        }
    }

    let headers = compile_headers(ctx, &raw.headers, &mut ok);

    let mut ca_file = None;
    let mut server_name = None;
    if let Some(tls) = &raw.tls {
        if let Some(ca) = &tls.value.ca_file {
            let path = PathBuf::from(&ca.value);
            if !path.is_file() {
                ctx.err_hint(
                    ca,
                    format!("CA file `{}` does not exist", ca.value),
                    "give the path of a PEM file of CA certificates",
                );
                ok = false;
            }
            ca_file = Some(path);
        }
        server_name = tls.value.server_name.as_ref().map(|s| s.value.clone());
    }

    let mut vars = BTreeMap::new();
    for (key, value) in &raw.vars {
        let var = match &value.value {
            raw::VarValue::One(scalar) => {
                let text = Spanned::new(scalar.to_text(), value.referenced, value.defined);
                ctx.resolve(&text).map(Var::One)
            }
            raw::VarValue::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    let text = Spanned::new(item.to_text(), value.referenced, value.defined);
                    out.extend(ctx.resolve(&text));
                }
                Some(Var::List(out))
            }
        };
        match var {
            Some(v) => {
                vars.insert(key.clone(), v);
            }
            None => ok = false,
        }
    }

    let tags = raw.tags.iter().map(|t| t.value.clone()).collect();
    let url = url?;
    ok.then_some(Target {
        name,
        url,
        tags,
        headers,
        ca_file,
        server_name,
        vars,
    })
}

/// Parses a duration and checks it against `range`.
fn compile_duration(
    ctx: &mut Ctx<'_>,
    value: &Spanned<String>,
    name: &str,
    range: &RangeInclusive<Duration>,
    hint: &str,
) -> Option<Duration> {
    match units::parse_duration(&value.value) {
        Ok(d) => match units::in_range(name, value.value.trim(), d, range) {
            Ok(d) => Some(d),
            Err(e) => {
                ctx.err_hint(value, e, hint);
                None
            }
        },
        Err(_) => {
            ctx.err_hint(
                value,
                units::duration_error(name, &value.value),
                units::DURATION_HINT,
            );
            None
        }
    }
}

/// The hint for an out-of-range `every`.
const INTERVAL_HINT: &str = "how often each series runs, e.g. `5m`; for rarer runs use `cron:`";
/// The hint for an out-of-range `timeout`.
pub(crate) const TIMEOUT_HINT: &str =
    "how long one run may take, e.g. `10s`; a run holds its concurrency permits until then";
/// The hint for out-of-range `confirm`/`recover`.
const STREAK_HINT: &str = "consecutive failing (`confirm`) or passing (`recover`) runs before a regression or recovery is declared";

/// Validates a schedule block; `None` fields fall back to `base`.
pub(crate) fn compile_schedule(
    file: &Path,
    raw: &Spanned<raw::Schedule>,
    base: &Schedule,
    diags: &mut Diagnostics,
) -> Schedule {
    in_probe_file(file, diags, |ctx| schedule_in(ctx, raw, base))
}

fn schedule_in(ctx: &mut Ctx<'_>, raw: &Spanned<raw::Schedule>, base: &Schedule) -> Schedule {
    let base_jitter = match base {
        Schedule::Every { jitter, .. } | Schedule::Cron { jitter, .. } => *jitter,
    };
    let jitter = match &raw.value.jitter {
        None => base_jitter,
        Some(j) => units::parse_percent(&j.value).unwrap_or_else(|e| {
            ctx.err_hint(
                j,
                e,
                "a random delay as a share of the interval, from `0%` to `100%`, e.g. `10%`",
            );
            base_jitter
        }),
    };
    match (&raw.value.every, &raw.value.cron) {
        (Some(_), Some(cron)) => {
            ctx.err_hint(
                cron,
                "a schedule takes `every` or `cron`, not both",
                "remove one of them",
            );
            base.clone()
        }
        (Some(every), None) => {
            match compile_duration(ctx, every, "every", &units::ranges::INTERVAL, INTERVAL_HINT) {
                Some(interval) => Schedule::Every { interval, jitter },
                None => base.clone(),
            }
        }
        (None, Some(cron)) => match units::parse_cron(&cron.value) {
            Ok(parsed) => Schedule::Cron {
                expression: cron.value.clone(),
                cron: Box::new(parsed),
                jitter,
            },
            Err(e) => {
                ctx.err_hint(
                    cron,
                    e,
                    "cron takes 5 fields (min hour day month weekday) or 6 with seconds first",
                );
                base.clone()
            }
        },
        (None, None) => match base {
            Schedule::Every { interval, .. } => Schedule::Every {
                interval: *interval,
                jitter,
            },
            Schedule::Cron {
                expression, cron, ..
            } => Schedule::Cron {
                expression: expression.clone(),
                cron: cron.clone(),
                jitter,
            },
        },
    }
}

fn compile_defaults(ctx: &mut Ctx<'_>, raw: &raw::Defaults) -> Defaults {
    let mut d = Defaults::default();
    if let Some(s) = &raw.schedule {
        d.schedule = schedule_in(ctx, s, &d.schedule);
    }
    if let Some(t) = &raw.timeout {
        d.timeout = compile_duration(ctx, t, "timeout", &units::ranges::TIMEOUT, TIMEOUT_HINT)
            .unwrap_or(d.timeout);
    }
    if let Some(c) = &raw.confirm {
        d.confirm = streak(ctx, c, "confirm").unwrap_or(d.confirm);
    }
    if let Some(r) = &raw.recover {
        d.recover = streak(ctx, r, "recover").unwrap_or(d.recover);
    }
    d
}

/// Checks a whole number against `range`; `None` (and an error) when it is outside.
fn int_in(
    ctx: &mut Ctx<'_>,
    value: &Spanned<i64>,
    name: &str,
    range: &RangeInclusive<i64>,
    hint: &str,
) -> Option<i64> {
    match units::in_range(name, &value.value.to_string(), value.value, range) {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.err_hint(value, e, hint);
            None
        }
    }
}

fn streak(ctx: &mut Ctx<'_>, value: &Spanned<i64>, name: &str) -> Option<u32> {
    int_in(ctx, value, name, &units::ranges::STREAK, STREAK_HINT)
        .and_then(|v| u32::try_from(v).ok())
}

/// Runs a config validation step on a value from a probe file (no `${env:…}` there).
fn in_probe_file<T>(file: &Path, diags: &mut Diagnostics, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
    let env = |_: &str| None;
    let mut redactor = Redactor::default();
    let mut ctx = Ctx {
        file,
        env: &env,
        diags,
        redactor: &mut redactor,
    };
    f(&mut ctx)
}

/// Validates `confirm`/`recover` overrides in probe files.
pub(crate) fn streak_in(
    file: &Path,
    value: &Spanned<i64>,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<u32> {
    in_probe_file(file, diags, |ctx| streak(ctx, value, name))
}

/// Validates a duration in a probe file against `range`.
pub(crate) fn duration_in(
    file: &Path,
    value: &Spanned<String>,
    name: &str,
    range: &RangeInclusive<Duration>,
    hint: &str,
    diags: &mut Diagnostics,
) -> Option<Duration> {
    in_probe_file(file, diags, |ctx| {
        compile_duration(ctx, value, name, range, hint)
    })
}

fn compile_limits(ctx: &mut Ctx<'_>, raw: &raw::Limits) -> Limits {
    use units::ranges;
    let mut l = Limits::default();
    if let Some(c) = &raw.concurrency {
        l.concurrency = int_in(
            ctx,
            c,
            "concurrency",
            &ranges::CONCURRENCY,
            "runs in flight in the whole process (64 by default)",
        )
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(l.concurrency);
    }
    if let Some(c) = &raw.per_target_concurrency {
        l.per_target_concurrency = int_in(
            ctx,
            c,
            "per_target_concurrency",
            &ranges::PER_TARGET_CONCURRENCY,
            "runs in flight against one target (4 by default)",
        )
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(l.per_target_concurrency);
    }
    if let Some(r) = &raw.per_target_rps {
        match units::in_range(
            "per_target_rps",
            &units::Shown::shown(&r.value),
            r.value,
            &ranges::PER_TARGET_RPS,
        ) {
            Ok(rps) => l.per_target_rps = rps,
            Err(e) => ctx.err_hint(
                r,
                e,
                "requests per second to each target (10 by default); 0.1 is one request every 10 s",
            ),
        }
    }
    if let Some(size) = &raw.max_body_bytes {
        let (bytes, written) = match &size.value {
            raw::Size::Bytes(n) => (Ok(*n), n.to_string()),
            raw::Size::Text(t) => (units::parse_bytes(t), t.trim().to_string()),
        };
        match bytes
            .and_then(|n| units::in_range("max_body_bytes", &written, n, &ranges::MAX_BODY_BYTES))
        {
            Ok(n) => l.max_body_bytes = n,
            Err(e) => ctx.err_hint(
                size,
                e,
                "bytes read of each response body, e.g. `1MiB`; the rest is not read",
            ),
        }
    }
    l
}

fn compile_telemetry(ctx: &mut Ctx<'_>, raw: &raw::Telemetry) -> Telemetry {
    let mut t = Telemetry::default();
    if let Some(otlp) = &raw.otlp {
        match Url::parse(&otlp.value.endpoint.value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => t.endpoint = Some(u),
            _ => ctx.err_hint(
                &otlp.value.endpoint,
                format!("invalid OTLP endpoint `{}`", otlp.value.endpoint.value),
                "write e.g. `http://127.0.0.1:4317`",
            ),
        }
        if let Some(p) = &otlp.value.protocol {
            match p.value.as_str() {
                "grpc" => t.protocol = OtlpProtocol::Grpc,
                "http/protobuf" => t.protocol = OtlpProtocol::HttpProtobuf,
                other => ctx.err_hint(
                    p,
                    format!("unknown OTLP protocol `{other}`"),
                    "expected `grpc` or `http/protobuf`",
                ),
            }
        }
    }
    if let Some(i) = &raw.export_interval {
        t.export_interval = compile_duration(
            ctx,
            i,
            "export_interval",
            &units::ranges::EXPORT_INTERVAL,
            "how often metrics are exported, e.g. `10s`",
        )
        .unwrap_or(t.export_interval);
    }
    t
}

/// Validates targets from a `targets_from` file: a YAML list of targets.
pub fn compile_targets(
    file: &Path,
    raw: Vec<Spanned<raw::Target>>,
    env: EnvLookup<'_>,
    redactor: &mut Redactor,
    diags: &mut Diagnostics,
) -> Vec<Target> {
    let mut ctx = Ctx {
        file,
        env,
        diags,
        redactor,
    };
    raw.iter()
        .filter_map(|t| compile_target(&mut ctx, &t.value))
        .collect()
}

/// Reports duplicate target names across all sources. Positions come from `origins`.
pub fn check_unique_targets(origins: &[(String, PathBuf, Pos)], diags: &mut Diagnostics) {
    let mut seen: BTreeMap<&str, (&Path, Pos)> = BTreeMap::new();
    for (name, file, pos) in origins {
        if let Some((first_file, first_pos)) = seen.get(name.as_str()) {
            diags.push(
                Diagnostic::new(file, *pos, format!("duplicate target name `{name}`")).with_hint(
                    format!(
                        "first defined at {}:{}:{}",
                        first_file.display(),
                        first_pos.line,
                        first_pos.column
                    ),
                ),
            );
        } else {
            seen.insert(name, (file, *pos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn env_references_resolve() {
        assert_eq!(
            resolve_env("Bearer ${env:TOKEN}", &env),
            Ok((
                "Bearer s3cr3t".into(),
                vec![("TOKEN".into(), "s3cr3t".into())]
            ))
        );
        assert_eq!(resolve_env("plain", &env), Ok(("plain".into(), vec![])));
        assert_eq!(
            resolve_env("a $$${x}", &env),
            Ok(("a $${x}".into(), vec![]))
        );
        assert_eq!(
            resolve_env("${env:NOPE}", &env),
            Err(EnvError::Missing("NOPE".into()))
        );
        assert!(matches!(
            resolve_env("${TOKEN}", &env),
            Err(EnvError::Syntax(_))
        ));
        assert!(matches!(
            resolve_env("${env:TOKEN", &env),
            Err(EnvError::Syntax(_))
        ));
    }

    #[test]
    fn adhoc_targets_are_named_host_and_port() {
        let name = |u: &str| adhoc_name(&Url::parse(u).unwrap());
        assert_eq!(name("http://127.0.0.1:8080/"), "127.0.0.1:8080");
        assert_eq!(name("http://[::1]:8080"), "[::1]:8080");
        assert_eq!(name("https://Payments.Example"), "payments.example:443");
        assert_eq!(name("http://example.com/api"), "example.com:80");
    }

    #[test]
    fn target_names() {
        assert!(valid_target_name("payments-api"));
        assert!(valid_target_name("a.b_c-1"));
        assert!(!valid_target_name("Payments"));
        assert!(!valid_target_name("-x"));
        assert!(!valid_target_name(""));
    }

    #[test]
    fn api_host_names() {
        for ok in [
            "picket.internal",
            "a",
            "picket-1.svc.cluster.local",
            "x_y.example",
        ] {
            assert!(valid_host_name(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "", "a..b", "-a.b", "a-.b", "http://a", "a:9750", "a/b", "A.b", &long,
        ] {
            assert!(!valid_host_name(bad), "{bad}");
        }
    }
}
