//! The service config (`config/picket.yaml`): raw serde shapes, then validated types.
//!
//! Parsing and validation are separate stages. [`raw`] mirrors the YAML exactly, with
//! `deny_unknown_fields` and source positions; [`compile`] turns it into a [`Config`] whose
//! values are already checked (URLs parsed, durations and sizes converted, `${env:…}` resolved),
//! reporting every problem it finds instead of stopping at the first.
//!
//! This file holds the validated [`Config`] and [`compile`]; each section has its own file:
//! `raw` (serde shapes), `env` (`${env:…}` resolution and secrets), `target`, `api`, `notify`
//! (webhooks), `software` (release data) and `values` (durations, streaks, schedules and
//! headers, shared by them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;
use url::Url;

use crate::diag::{At, Diagnostics, Pos};
use crate::redact::{Redactor, Secret};
use crate::units::{self, Schedule};

pub mod raw;

mod accept;
#[cfg(test)]
mod accept_tests;
mod api;
mod discover;
mod env;
mod kubernetes;
mod labels;
mod notify;
mod software;
mod state;
mod target;
mod values;

pub use accept::{
    Acceptance, MAX_ACCEPT_DAYS, Pick, UNNEEDED_AFTER, Until, Window, compile_acceptances,
    covering, maintenance_reason, maintenance_until, selects_nothing,
};
use api::compile_api;
pub use api::{API_IDLE_TIMEOUT, ApiTls, MIN_API_TOKEN_LEN, TlsFile, server_tls};
use discover::compile_discover;
pub use discover::{Discover, HttpSd};
pub use env::{CliValueError, EnvLookup, resolve_cli_value};
pub use kubernetes::{Address, Kubernetes, Resource};
pub use labels::dns_name;
use notify::compile_notify;
pub use notify::{Webhook, WebhookFormat};
pub use state::{DEFAULT_LEASE, Postgres, StateStore};
use target::compile_target;
pub use target::{Source, Target, Var, adhoc_name, compile_targets, valid_target_name};
pub use values::{Overrides, RawOverrides, overrides};
use values::{TIMEOUT_HINT, compile_duration, int_in, schedule_in, streak};

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
    /// Running sources of targets (`discover:`).
    pub discover: Discover,
    /// Schedules by target tag, first match wins.
    pub schedules: Vec<TagSchedule>,
    /// Defaults for probes.
    pub defaults: Defaults,
    /// Limits.
    pub limits: Limits,
    /// Where series state is kept.
    pub state: StateStore,
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
    /// How long an API connection may stay open without a request in progress.
    pub api_idle_timeout: Duration,
    /// Webhooks for regressions and recoveries.
    pub webhooks: Vec<Webhook>,
    /// Every secret value resolved from the environment, for scrubbing output.
    pub redactor: Redactor,
    /// Release data for `software` checks: the built-in table, or `software.data` merged
    /// over it.
    pub software: std::sync::Arc<crate::software::data::Table>,
    /// Accepted risks, from `accept:` and the `accept_from` files.
    pub accept: Vec<std::sync::Arc<Acceptance>>,
    /// Files or folders of more acceptances, with where the config names each.
    pub accept_from: Vec<(PathBuf, Pos)>,
    /// Maintenance windows.
    pub maintenance: Vec<std::sync::Arc<Window>>,
    /// What loaded but deserves a look (an acceptance that selects nothing).
    pub warnings: Vec<crate::diag::Warning>,
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
            targets: vec![Target::new(name, url, Source::Static)],
            targets_from: Vec::new(),
            discover: Discover::default(),
            schedules: Vec::new(),
            defaults: Defaults::default(),
            limits: Limits::default(),
            state: StateStore::default(),
            telemetry: Telemetry::default(),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 9750)),
            api_allowed_hosts: Vec::new(),
            api_token: None,
            api_tls: None,
            api_idle_timeout: API_IDLE_TIMEOUT,
            webhooks: Vec::new(),
            redactor: Redactor::default(),
            software: std::sync::Arc::clone(crate::software::data::builtin()),
            accept: Vec::new(),
            accept_from: Vec::new(),
            maintenance: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Finds a target by name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// Validation context: the file being compiled, the environment and the growing error list.
struct Ctx<'a> {
    /// The file and its problems.
    at: At<'a>,
    env: EnvLookup<'a>,
    redactor: &'a mut Redactor,
}

impl Ctx<'_> {
    fn err<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.at.err(spanned, message);
    }

    fn err_hint<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>, hint: &str) {
        self.at.err_hint(spanned, message, hint);
    }
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
        at: crate::diag::At { file, diags },
        env,
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
    let schedules = compile_tag_schedules(&mut ctx, &raw.schedules, &defaults.schedule);
    let limits = compile_limits(&mut ctx, &raw.limits);
    let telemetry = compile_telemetry(&mut ctx, &raw.telemetry);
    let state = state::compile_state(&mut ctx, &raw.state);
    let api = compile_api(&mut ctx, &raw.api);
    let webhooks = compile_notify(&mut ctx, &raw.notify);
    let discover = compile_discover(&mut ctx, &raw.discover);
    let software = software::compile_software(&mut ctx, &raw.software);
    let mut warnings = Vec::new();
    let accept = compile_acceptances(
        file,
        &raw.accept,
        std::time::SystemTime::now(),
        ctx.at.diags,
        &mut warnings,
    );
    let accept_from = raw
        .accept_from
        .iter()
        .map(|p| (PathBuf::from(&p.value), Pos::from_location(&p.referenced)))
        .collect();
    let maintenance = accept::compile_windows(&mut ctx.at, &raw.maintenance);

    Config {
        source: file.to_path_buf(),
        probe_paths,
        library,
        targets,
        targets_from,
        discover,
        schedules,
        defaults,
        limits,
        state,
        telemetry,
        api_listen: api.listen,
        api_allowed_hosts: api.allowed_hosts,
        api_token: api.token,
        api_tls: api.tls,
        api_idle_timeout: api.idle_timeout,
        webhooks,
        redactor,
        software,
        accept,
        accept_from,
        maintenance,
        warnings,
    }
}

/// Whether `name` is a valid name of a `what` (as target names are); if not, says so at it,
/// with `example` in the hint.
fn valid_name(ctx: &mut Ctx<'_>, name: &Spanned<String>, what: &str, example: &str) -> bool {
    if valid_target_name(&name.value) {
        return true;
    }
    ctx.err_hint(
        name,
        format!(
            "invalid {what} name `{}`",
            crate::term::escape_controls(&name.value)
        ),
        &format!(
            "names are lowercase letters, digits, `-`, `_` and `.`, starting with a letter or \
             digit, e.g. `{example}`"
        ),
    );
    false
}

/// Whether `name` is the first of its name in `seen`, which records it; a name seen before is
/// reported at its second definition (`duplicate {what} name`), with where the first is and
/// `why` names must differ in the hint.
fn first_of_name(
    ctx: &mut Ctx<'_>,
    seen: &mut std::collections::BTreeMap<String, Pos>,
    name: &Spanned<String>,
    what: &str,
    why: &str,
) -> bool {
    if let Some(first) = seen.get(&name.value) {
        let hint = format!(
            "first defined at {}:{}:{}; {why}",
            ctx.at.file.display(),
            first.line,
            first.column
        );
        ctx.err_hint(
            name,
            format!(
                "duplicate {what} name `{}`",
                crate::term::escape_controls(&name.value)
            ),
            &hint,
        );
        return false;
    }
    seen.insert(name.value.clone(), Pos::from_location(&name.referenced));
    true
}

/// A schedule for the series of targets with any of `tags`.
#[derive(Debug, Clone)]
pub struct TagSchedule {
    /// The tags.
    pub tags: std::collections::BTreeSet<String>,
    /// The schedule.
    pub schedule: Schedule,
}

impl Config {
    /// The schedule of `target`'s series when something other than their probes decides
    /// it: the target's own (a `picket.dev/schedule` annotation), else the first
    /// `schedules:` rule that shares a tag with it.
    pub fn schedule_for<'a>(&'a self, target: &'a Target) -> Option<&'a Schedule> {
        target.schedule.as_ref().or_else(|| {
            self.schedules
                .iter()
                .find(|rule| rule.tags.iter().any(|t| target.tags.contains(t)))
                .map(|rule| &rule.schedule)
        })
    }
}

/// Validates `schedules:`: each rule names at least one tag, and its schedule is valid
/// (fields it leaves out come from `defaults.schedule`).
fn compile_tag_schedules(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<raw::TagSchedule>],
    base: &Schedule,
) -> Vec<TagSchedule> {
    let mut out = Vec::new();
    for rule in raw {
        if rule.value.tags.is_empty() {
            ctx.err_hint(
                rule,
                "a schedules entry names no tag",
                "give the target tags it applies to, e.g. `tags: [risk-regulated]`",
            );
            continue;
        }
        let schedule = schedule_in(&mut ctx.at, &rule.value.schedule, base);
        out.push(TagSchedule {
            tags: rule.value.tags.iter().map(|t| t.value.clone()).collect(),
            schedule,
        });
    }
    out
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
                file: ctx.at.file.to_path_buf(),
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
fn compile_defaults(ctx: &mut Ctx<'_>, raw: &raw::Defaults) -> Defaults {
    let mut d = Defaults::default();
    if let Some(s) = &raw.schedule {
        d.schedule = schedule_in(&mut ctx.at, s, &d.schedule);
    }
    if let Some(t) = &raw.timeout {
        d.timeout = compile_duration(
            &mut ctx.at,
            t,
            "timeout",
            &units::ranges::TIMEOUT,
            TIMEOUT_HINT,
        )
        .unwrap_or(d.timeout);
    }
    if let Some(c) = &raw.confirm {
        d.confirm = streak(&mut ctx.at, c, "confirm").unwrap_or(d.confirm);
    }
    if let Some(r) = &raw.recover {
        d.recover = streak(&mut ctx.at, r, "recover").unwrap_or(d.recover);
    }
    d
}

fn compile_limits(ctx: &mut Ctx<'_>, raw: &raw::Limits) -> Limits {
    use units::ranges;
    let mut l = Limits::default();
    if let Some(c) = &raw.concurrency {
        l.concurrency = int_in(
            &mut ctx.at,
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
            &mut ctx.at,
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
            &mut ctx.at,
            i,
            "export_interval",
            &units::ranges::EXPORT_INTERVAL,
            "how often metrics are exported, e.g. `10s`",
        )
        .unwrap_or(t.export_interval);
    }
    t
}
