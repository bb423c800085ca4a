//! The raw YAML shapes of the service config and `targets_from` files, as serde reads them.
//! Field docs here are the user's reference.

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
    /// Schedules by target tag: every series of a target with one of a rule's tags runs on
    /// the rule's schedule instead of its probe's (the first rule that matches wins; a
    /// target's own `picket.dev/schedule` annotation wins over every rule).
    #[serde(default)]
    #[schemars(with = "Vec<TagSchedule>")]
    pub schedules: Vec<Spanned<TagSchedule>>,
    /// Targets that follow the services themselves: Kubernetes objects and Prometheus
    /// HTTP service discovery.
    #[serde(default)]
    pub discover: Discover,
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
    /// Release data for `software` checks, beside the data built into picket.
    #[serde(default)]
    pub software: Software,
    /// Accepted risks: findings a team knows about and has scheduled, shown as `accepted`
    /// and not announced until a date.
    #[serde(default)]
    #[schemars(with = "Vec<Accept>")]
    pub accept: Vec<Spanned<Accept>>,
    /// Files or folders of more acceptances, each file a YAML list of `accept:` entries;
    /// watched and reloaded like `targets_from`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub accept_from: Vec<Spanned<String>>,
    /// Maintenance windows: the selected targets get no traffic while one is open.
    #[serde(default)]
    #[schemars(with = "Vec<Maintenance>")]
    pub maintenance: Vec<Spanned<Maintenance>>,
}

/// One accepted risk: the findings of the selected series are shown as `accepted` and not
/// announced until the end of `until`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// A glob over probe ids (`*` matches across `/`): `headers/csp`, `tls/*`.
    #[schemars(with = "String", example = "headers/csp")]
    pub probe: Spanned<String>,
    /// A glob over target names (`legacy-*`); or `tags` instead.
    #[schemars(with = "Option<String>", example = "legacy-*")]
    pub target: Option<Spanned<String>>,
    /// Targets carrying any of these tags; or `target` instead.
    #[schemars(with = "Option<Vec<String>>")]
    pub tags: Option<Spanned<Vec<Spanned<String>>>>,
    /// The last day accepted (UTC, inclusive: `2027-03-31`), or an instant
    /// (`2027-03-31T12:00:00Z`); at most 400 days ahead.
    #[schemars(with = "Option<String>", example = "2027-03-31")]
    pub until: Option<Spanned<String>>,
    /// Why, for the reviewer and for whoever sees the finding: a ticket, a plan.
    #[schemars(with = "Option<String>", example = "CSP rollout, ticket SEC-123")]
    pub reason: Option<Spanned<String>>,
}

/// One maintenance window: from each `cron` occurrence for `duration`, the selected targets
/// are not probed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// The targets: `{ tags: [...] }` or `{ names: [...] }` (names may be globs).
    #[schemars(with = "WindowTargets")]
    pub targets: Spanned<WindowTargets>,
    /// When each window starts, in UTC: 5 fields, or 6 with seconds (`0 2 * * 0`).
    #[schemars(with = "String", example = "0 2 * * 0")]
    pub cron: Spanned<String>,
    /// How long each window lasts (`2h`; at most 7 days).
    #[schemars(with = "crate::units::DurationText")]
    pub duration: Spanned<String>,
}

/// The targets of a maintenance window.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowTargets {
    /// Targets carrying any of these tags.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub tags: Vec<Spanned<String>>,
    /// Targets with these names (globs allowed: `payments-*`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub names: Vec<Spanned<String>>,
}

/// `software:`: the release data `software` checks judge versions against.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Software {
    /// A JSON file in the shape of endoflife.date's API v1 `/products/full` response
    /// (`curl -fsSL https://endoflife.date/api/v1/products/full > eol.json`): its products
    /// replace the built-in ones of the same id, and its `generated_at` is the data's date.
    #[schemars(with = "Option<String>", example = "eol.json")]
    pub data: Option<Spanned<String>>,
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

/// Sources of targets that appear and disappear with the services (`discover:`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Discover {
    /// Kubernetes Services, Ingresses and Gateway API HTTPRoutes, followed with list and
    /// watch.
    #[schemars(with = "Option<super::kubernetes::RawKubernetes>")]
    pub kubernetes: Option<Spanned<super::kubernetes::RawKubernetes>>,
    /// Prometheus HTTP service discovery endpoints, each polled every `refresh`.
    #[serde(default)]
    #[schemars(with = "Vec<HttpSd>")]
    pub http: Vec<Spanned<HttpSd>>,
}

/// One Prometheus HTTP SD endpoint: a JSON list of `{"targets": ["host:port"], "labels":
/// {...}}` groups, each `targets` item one picket target named `<name>.<host>.<port>`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSd {
    /// Unique name, `[a-z0-9][a-z0-9-_.]*`: the prefix of the targets it makes, and the
    /// `discovery.source` attribute `http:<name>`.
    #[schemars(with = "String", example = &"inventory")]
    pub name: Spanned<String>,
    /// `http://` or `https://` URL of the endpoint; may hold `${env:NAME}`.
    #[schemars(with = "String", example = "http://inventory.internal/sd")]
    pub url: Spanned<String>,
    /// How often the list is fetched again (`1m`; `5s` to `1d`).
    #[schemars(with = "Option<crate::units::DurationText>")]
    pub refresh: Option<Spanned<String>>,
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

/// A schedule for the series of targets with any of `tags`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagSchedule {
    /// Target tags, e.g. `[risk-regulated]`.
    #[schemars(with = "Vec<String>")]
    pub tags: Vec<Spanned<String>>,
    /// When their series run, e.g. `{ every: 1m }`.
    #[schemars(with = "Schedule")]
    pub schedule: Spanned<Schedule>,
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

/// Where series state is kept: the embedded store (`path`), or a PostgreSQL database shared
/// by replicas (`postgres`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Directory of the embedded store (`.picket/state`).
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// A PostgreSQL database shared by every replica of a group (SPEC §9a).
    #[schemars(with = "Option<StatePostgres>")]
    pub postgres: Option<Spanned<StatePostgres>>,
}

/// `state.postgres`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatePostgres {
    /// `postgres://user:${env:PASSWORD}@host:5432/db` (a secret).
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// How long a replica may go without renewing its membership before its series are
    /// taken over (`15s`).
    #[schemars(with = "Option<crate::units::DurationText>")]
    pub lease: Option<Spanned<String>>,
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
    /// How long an API connection may stay open without a request in progress (`10s`;
    /// 1s to 1h): an idle keep-alive connection, or one that has not finished sending a
    /// request's headers, is closed after it.
    #[schemars(with = "Option<String>", example = "10s")]
    pub idle_timeout: Option<Spanned<String>>,
}
