//! The `picket` binary: parses the command line, sets up logging, and hands over to the
//! library. Exit codes: 0 clean, 1 findings at or above `--fail-on` (or, for `check`, an
//! unreachable target), 2 config or usage error.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use picket::commands::{self, CheckOptions, Format};
use picket::shard::ShardArg;
use picket::units::Severity;
use tokio_util::sync::CancellationToken;

/// Continuously probes live service endpoints for security properties and reports
/// regressions.
#[derive(Debug, Parser)]
#[command(name = "picket", version, about, long_about = None)]
struct Cli {
    /// Log filter for messages on stderr (e.g. `info`, `picket=debug`) [default: picket at
    /// info, dependencies at warn]. RUST_LOG, when set, is used as it is instead.
    #[arg(long, global = true, env = "PICKET_LOG", value_name = "FILTER")]
    log: Option<String>,

    /// Log line format on stderr.
    #[arg(long, global = true, env = "PICKET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines (coloured on a terminal unless NO_COLOR is set).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: every series on its schedule, regression state, OpenTelemetry export
    /// and the HTTP API.
    ///
    /// Reloads on SIGHUP (a failing reload keeps the last good configuration). On SIGTERM or
    /// SIGINT it stops scheduling, lets runs in flight finish within --grace, syncs state and
    /// flushes telemetry, then exits 0.
    Run {
        /// Service config file.
        #[arg(short = 'c', long = "config", value_name = "FILE", default_value = commands::DEFAULT_CONFIG)]
        config: PathBuf,
        /// Run only shard I of N (series whose stable hash mod N is I), e.g. `0/3`; `auto`
        /// takes I from the host name's trailing `-N` (a StatefulSet pod's ordinal) and N from
        /// PICKET_SHARD_COUNT.
        #[arg(long, env = "PICKET_SHARD", value_name = "I/N|auto", value_parser = parse_shard)]
        shard: Option<ShardArg>,
        /// How long shutdown waits for runs in flight.
        #[arg(long, default_value = "10s", value_parser = parse_grace)]
        grace: Duration,
        /// Resource attribute `picket.vantage`: where this instance probes from.
        #[arg(long, env = "PICKET_VANTAGE", value_name = "NAME")]
        vantage: Option<String>,
        /// How often config and probe files are checked for changes (0s: only on SIGHUP).
        #[arg(long, default_value = "2s", value_parser = parse_watch)]
        watch_interval: Duration,
    },
    /// Run every selected series once and print the results.
    ///
    /// With --target URL and no -c, probes that URL (http://, https://, tls:// or tcp://)
    /// with the built-in probe library and no config file, from any directory.
    ///
    /// Exit codes, so it can gate a deploy:
    ///   0  no finding at or above --fail-on, and every target answered
    ///   1  a finding at or above --fail-on; or a target was unreachable (none of its series
    ///      could be evaluated; --allow-unreachable lets it pass); or, with --fail-on-error,
    ///      any series could not be evaluated
    ///   2  config or usage error
    #[command(verbatim_doc_comment)]
    Check {
        /// Service config file.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only probes whose id matches this glob (e.g. `headers/*`).
        #[arg(long, value_name = "GLOB")]
        probe: Option<String>,
        /// Only this target (by name), or an ad-hoc URL: http://, https://, tls://HOST:PORT
        /// (tls and tcp probes) or tcp://HOST:PORT (tcp probes).
        #[arg(long, value_name = "NAME|URL")]
        target: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Lowest severity whose findings make the exit code 1.
        #[arg(long, value_name = "SEVERITY", default_value = "low", ignore_case = true, value_parser = severity_parser())]
        fail_on: Severity,
        /// Team probe file or folder for an ad-hoc `--target URL`, added to the built-in
        /// library (repeatable; `--probe GLOB` selects among them all).
        #[arg(long, value_name = "PATH")]
        probes: Vec<PathBuf>,
        /// PEM file of CA certificates to trust for an ad-hoc `--target URL` (a self-signed
        /// server certificate may be given as itself), like a target's `tls.ca_file`.
        #[arg(long, value_name = "PATH")]
        ca_file: Option<PathBuf>,
        /// A fact about an ad-hoc `--target URL` that probes use as `{{vars.NAME}}`, like a
        /// target's `vars:` (repeatable). Commas make a list, and a repeated NAME adds to it:
        /// `--var protected_paths=/admin,/api`. A value may be `${env:NAME}` (kept out of the
        /// output).
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Requests per second to each target for this run, instead of the config's
        /// `limits.per_target_rps` (10 by default).
        #[arg(long, value_name = "N", value_parser = parse_rps)]
        rps: Option<f64>,
        /// Never show the progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Also exit 1 when any series could not be evaluated (timeout, refused, TLS error).
        #[arg(long)]
        fail_on_error: bool,
        /// Let an unreachable target (none of its series could be evaluated) pass the gate:
        /// it is reported as a warning instead of making the exit code 1.
        #[arg(long)]
        allow_unreachable: bool,
        /// Text output: also show each finding's technical detail (the check's regexes and
        /// raw assertion) and its own severity.
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// Load and validate the config and probes; print every error with file:line:column.
    ///
    /// With PATHs and no -c, validates only those probe files or folders. Exits 0 when
    /// everything is valid, 2 otherwise.
    Validate {
        /// Service config file (default: config/picket.yaml).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Probe files or folders to validate.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// List probes, targets, and the series they make, with schedules.
    List {
        /// Service config file (default: config/picket.yaml).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// List only the series of shard I of N, as `picket run --shard` would run them
        /// (`auto` as there).
        #[arg(long, env = "PICKET_SHARD", value_name = "I/N|auto", value_parser = parse_shard)]
        shard: Option<ShardArg>,
    },
    /// Print the JSON Schema of the probe file format, for editor completion (e.g.
    /// yaml-language-server).
    Schema,
    /// List the built-in probe library: id, severity and what each probe checks.
    ///
    /// The library is built into picket: a config without `probes:` uses it, and `probes:`
    /// adds the team's own files beside it. With --export DIR, writes the library's files
    /// under DIR (e.g. to read them, or to start a probe of your own from one).
    Probes {
        /// Write the library's probe files under this folder (created if missing), as
        /// DIR/headers/hsts.yaml and so on.
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// With --export: overwrite files that already exist (otherwise nothing is written).
        #[arg(long, requires = "export")]
        force: bool,
    },
    /// Print the release data `software` checks judge versions against: each product's
    /// release cycles with release date, end of life, latest version and status today.
    ///
    /// The data is built into picket (endoflife.date's facts, compiled on the date shown);
    /// with -c, the config's `software.data` file replaces the products it has. Data older
    /// than 180 days gets a note on how to refresh it.
    Software {
        /// Service config file, for its `software.data` (default: the built-in data only).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only these products (endoflife.date ids, e.g. `nginx php`).
        #[arg(value_name = "PRODUCT")]
        products: Vec<String>,
    },
    /// Start a deliberately misconfigured loopback service and probe it with the built-in
    /// probe library, so you can watch findings appear and disappear.
    Demo {
        /// Team probe file or folder to run too, added to the built-in library (repeatable).
        #[arg(long, value_name = "PATH")]
        probes: Vec<PathBuf>,
        /// How often the demo target flips between secure and insecure.
        #[arg(long, default_value = "12s", value_parser = parse_demo_interval)]
        flip_every: Duration,
        /// The schedule of every series.
        #[arg(long, default_value = "2s", value_parser = parse_demo_interval)]
        every: Duration,
        /// Where the API and dashboard listen (a free port if this one is taken).
        #[arg(long, default_value = "127.0.0.1:9750")]
        api: std::net::SocketAddr,
        /// Stop after this long (default: run until Ctrl-C).
        #[arg(long, value_parser = parse_demo_duration)]
        duration: Option<Duration>,
    },
}

/// `--fail-on`: one of the severities, listed in `--help` and in the error for a wrong one.
fn severity_parser() -> impl clap::builder::TypedValueParser<Value = Severity> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["info", "low", "medium", "high", "critical"])
        .try_map(|text| text.parse::<Severity>())
}

/// `--var NAME=VALUE`.
fn parse_var(text: &str) -> Result<(String, String), commands::InvalidVar> {
    commands::parse_var(text)
}

/// `--rps N`: the range `limits.per_target_rps` takes.
fn parse_rps(text: &str) -> Result<f64, String> {
    let rps: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number; write e.g. `50` or `0.5`"))?;
    let range = &picket::units::ranges::PER_TARGET_RPS;
    if range.contains(&rps) {
        Ok(rps)
    } else {
        use picket::units::Shown as _;
        Err(format!(
            "requests per second must be from {} to {}",
            range.start().shown(),
            range.end().shown()
        ))
    }
}

fn parse_shard(text: &str) -> Result<ShardArg, picket::shard::InvalidShardArg> {
    ShardArg::parse(text)
}

/// Works out `--shard` (for `auto`, from the host name and PICKET_SHARD_COUNT); on a mistake
/// prints it with its hint and returns the exit code.
fn resolve_shard(arg: Option<ShardArg>) -> Result<Option<picket::shard::Shard>, u8> {
    let Some(arg) = arg else {
        return Ok(None);
    };
    picket::shard::resolve(arg, &env_lookup, picket::shard::system_host_name)
        .map(Some)
        .map_err(|e| {
            say(&format_args!("error: {e}\n  hint: {}", e.hint()));
            commands::EXIT_CONFIG
        })
}

// Durations from the command line are range-checked like those in files: a zero period
// would panic a timer, and a huge one would overflow an `Instant`.
fn parse_grace(text: &str) -> Result<Duration, picket::units::UnitError> {
    picket::units::parse_duration_within(text, &picket::units::ranges::GRACE)
}

fn parse_demo_interval(text: &str) -> Result<Duration, picket::units::UnitError> {
    picket::units::parse_duration_within(text, &picket::units::ranges::DEMO_INTERVAL)
}

fn parse_demo_duration(text: &str) -> Result<Duration, picket::units::UnitError> {
    picket::units::parse_duration_within(text, &picket::units::ranges::DEMO_DURATION)
}

fn parse_watch(text: &str) -> Result<Duration, picket::units::UnitError> {
    if text
        .trim_end_matches(['s', 'm', 'h'])
        .chars()
        .all(|c| c == '0')
    {
        return Ok(Duration::ZERO);
    }
    picket::units::parse_duration_within(text, &picket::units::ranges::WATCH_INTERVAL)
}

/// Installs the process subscriber: human logs on stderr filtered by `RUST_LOG`, else `--log`
/// or `default` (see `picket::logging`), plus (for `picket run`) the OpenTelemetry layers,
/// which carry their own filter so run spans and regression events are exported whatever the
/// stderr level.
fn init_logging(
    flag: Option<&str>,
    default: &str,
    format: LogFormat,
    telemetry: Option<&picket::telemetry::Telemetry>,
) {
    use picket::redact::{LogLines, ScrubbedStderr};
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = picket::logging::filter(rust_log.as_deref(), flag, default);
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(picket::logging::filter(None, None, default))
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(ScrubbedStderr::new(if ansi {
                LogLines::Coloured
            } else {
                LogLines::Text
            }))
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(ScrubbedStderr::new(LogLines::Json))
            .boxed(),
    }
    .with_filter(filter);
    let otel = telemetry.and_then(|t| t.layer());
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
}

/// Cancels the token on Ctrl-C or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            } else {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        t.cancel();
    });
    token
}

/// At `picket run` start: one WARN when the release data `software` checks use is older than
/// 180 days, with its date and how to refresh it.
fn warn_if_software_data_stale(table: &picket::software::data::Table) {
    use picket::software::data;
    if let Some(note) = table.stale_note(data::today()) {
        tracing::warn!(
            data_date = %table.generated,
            refresh = data::REFRESH_URL,
            "{note}; {}",
            data::REFRESH_HINT
        );
    }
}

/// `picket run`: load, set up telemetry and logging, serve until a signal.
async fn serve(
    log: Option<&str>,
    log_format: LogFormat,
    config: PathBuf,
    shard: Option<ShardArg>,
    grace: Duration,
    vantage: Option<String>,
    watch_interval: Option<Duration>,
) -> u8 {
    let shard = match resolve_shard(shard) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut compiled = picket::load::Compiled::default();
    let loaded = match compiled.load(&config, &env_lookup) {
        Ok(l) => l,
        Err(diags) => {
            say(&diags);
            return commands::EXIT_CONFIG;
        }
    };
    if let (Some(_), picket::config::StateStore::Postgres(pg)) = (&shard, &loaded.config.state) {
        say(&pg.refuse_shard());
        return commands::EXIT_CONFIG;
    }
    let telemetry =
        match picket::telemetry::Telemetry::init(&loaded.config.telemetry, vantage.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                let e = loaded.config.redactor.scrub(&format!("{e:#}")).into_owned();
                say(&format_args!("error: cannot set up telemetry: {e}"));
                return commands::EXIT_CONFIG;
            }
        };
    init_logging(log, picket::logging::DEFAULT, log_format, Some(&telemetry));
    if let Some(nofile) = NOFILE.get() {
        log_descriptor_limit(*nofile);
    }
    warn_if_software_data_stale(&loaded.config.software);
    if let Some(s) = &shard {
        tracing::info!(
            shard = format!("{}/{}", s.index, s.count),
            host = s.host.as_deref(),
            "running one shard of the series"
        );
    }
    let shutdown = shutdown_on_signal();
    let opts = picket::service::ServiceOptions {
        config_path: config,
        shard: shard.map(|s| s.pair()),
        grace,
        api_listen: None,
        watch_interval,
    };
    let running = match picket::service::start(
        loaded,
        compiled,
        opts,
        telemetry,
        std::sync::Arc::new(env_lookup),
        shutdown.clone(),
    )
    .await
    {
        Ok(r) => r,
        // One line, on stderr whatever the log filter: the log would only say it again.
        Err(e) => {
            say(&format_args!("error: cannot start: {e:#}"));
            return commands::EXIT_CONFIG;
        }
    };
    reload_on_sighup(running.reloader(), shutdown.clone());
    match running.wait().await {
        Ok(()) => commands::EXIT_OK,
        Err(e) => {
            say(&format_args!("error: {e:#}"));
            1
        }
    }
}

/// The file-descriptor limit as `main` found and raised it, for `picket run` to log once
/// logging is set up.
static NOFILE: std::sync::OnceLock<picket::fds::NoFile> = std::sync::OnceLock::new();

/// Says what the file-descriptor limit is (and was, when it was raised). At debug level: the
/// start-up lines give the figure once, on the "API listening" line (`fd_limit`).
fn log_descriptor_limit(nofile: picket::fds::NoFile) {
    let figure = picket::fds::figure;
    if nofile.raised() {
        tracing::debug!(
            limit = %figure(nofile.soft),
            was = %figure(nofile.before),
            hard = %figure(nofile.hard),
            "file-descriptor limit raised"
        );
    } else {
        tracing::debug!(
            limit = %figure(nofile.soft),
            hard = %figure(nofile.hard),
            "file-descriptor limit"
        );
    }
}

/// Forwards SIGHUP to the service as a reload request.
fn reload_on_sighup(reload: tokio::sync::mpsc::Sender<()>, shutdown: CancellationToken) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hup.recv() => {
                    if got.is_none() { return; }
                    tracing::info!("SIGHUP: reloading");
                    let _ = reload.try_send(());
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (reload, shutdown);
}

/// Prints a line on stderr, scrubbed of every secret the process has loaded, with control
/// characters shown escaped.
fn say(message: &dyn std::fmt::Display) {
    let clean = picket::redact::scrub_global(&message.to_string());
    eprintln!("{}", picket::term::escape_controls(&clean));
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[tokio::main]
async fn main() -> ExitCode {
    // Before anything opens a descriptor: probing, the store and the API all need them, and
    // the common service default (1,024) is far below the hard limit an administrator allows.
    let nofile = picket::fds::raise();
    let _ = NOFILE.set(nofile);
    // The one crypto provider every HTTPS client of the process uses.
    picket::crypto::install_crypto_provider();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                commands::EXIT_CONFIG
            } else {
                0
            });
        }
    };
    if let Command::Run {
        config,
        shard,
        grace,
        vantage,
        watch_interval,
    } = cli.command
    {
        let watch = (!watch_interval.is_zero()).then_some(watch_interval);
        return ExitCode::from(
            serve(
                cli.log.as_deref(),
                cli.log_format,
                config,
                shard,
                grace,
                vantage,
                watch,
            )
            .await,
        );
    }
    // The demo prints regressions itself; the service's own log lines would repeat them. The
    // one-shot commands print their results on stdout: their log shows warnings only.
    let default = if matches!(cli.command, Command::Demo { .. }) {
        "warn,picket::transition=off"
    } else {
        "warn"
    };
    init_logging(cli.log.as_deref(), default, cli.log_format, None);
    tracing::debug!(
        limit = nofile.soft,
        was = nofile.before,
        "file-descriptor limit"
    );
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let code = match cli.command {
        Command::Check {
            config,
            probe,
            target,
            format,
            fail_on,
            probes,
            ca_file,
            vars,
            rps,
            no_progress,
            fail_on_error,
            allow_unreachable,
            verbose,
        } => {
            let opts = CheckOptions {
                ca_file,
                config,
                probe,
                target,
                format,
                fail_on,
                probes,
                vars,
                rps,
                progress: !no_progress,
                fail_on_error,
                allow_unreachable,
                verbose,
                colour: picket::term::colour_wanted(
                    std::io::IsTerminal::is_terminal(&std::io::stdout()),
                    &env_lookup,
                ),
            };
            commands::check(&opts, &env_lookup, &mut out, &mut err).await
        }
        Command::Validate { config, paths } => {
            commands::validate(config.as_deref(), &paths, &env_lookup, &mut out, &mut err)
        }
        Command::List { config, shard } => match resolve_shard(shard) {
            Ok(shard) => {
                commands::list(
                    config.as_deref(),
                    shard.map(|s| s.pair()),
                    &env_lookup,
                    &mut out,
                    &mut err,
                )
                .await
            }
            Err(code) => code,
        },
        Command::Schema => {
            // `{:#}` is serde_json's pretty form; a closed pipe (`| head`) is not an error.
            let _ = writeln!(out, "{:#}", picket::probe::probe_schema());
            commands::EXIT_OK
        }
        Command::Probes { export, force } => match export {
            Some(dir) => commands::export_probes(&dir, force, &mut out, &mut err),
            None => commands::probes(&mut out, &mut err),
        },
        Command::Software { config, products } => commands::software(
            config.as_deref(),
            &products,
            &env_lookup,
            &mut out,
            &mut err,
        ),
        Command::Run { .. } => unreachable!("handled above"),
        Command::Demo {
            probes,
            flip_every,
            every,
            api,
            duration,
        } => {
            let opts = picket::demo::DemoOptions {
                probes,
                flip_every,
                every,
                api,
                duration,
            };
            match picket::demo::run(opts, shutdown_on_signal(), &mut out).await {
                Ok(()) => commands::EXIT_OK,
                Err(e) => {
                    say(&format_args!("error: {e:#}"));
                    commands::EXIT_CONFIG
                }
            }
        }
    };
    ExitCode::from(code)
}
