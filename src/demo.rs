//! `picket demo`: a deliberately misconfigured loopback service, and picket probing it.
//!
//! The demo target flips between a secure and an insecure configuration: security headers
//! disappear, the server starts announcing its version, and `/.git/config` is served. picket
//! probes it with the shipped library and prints what changed, round after round.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::load::{self, Loaded};

/// The demo target's switch.
#[derive(Debug, Clone, Default)]
pub struct DemoTarget {
    insecure: Arc<AtomicBool>,
}

impl DemoTarget {
    /// Whether the target currently serves its insecure configuration.
    pub fn is_insecure(&self) -> bool {
        self.insecure.load(Ordering::Relaxed)
    }

    /// Switches configuration.
    pub fn set_insecure(&self, insecure: bool) {
        self.insecure.store(insecure, Ordering::Relaxed);
    }

    /// Serves on `listener` until `shutdown` is cancelled.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let app = Router::new().fallback(handle).with_state(self);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}

async fn handle(State(target): State<DemoTarget>, uri: Uri) -> Response {
    let insecure = target.is_insecure();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    if insecure {
        set("server", "nginx/1.18.0");
        set("x-powered-by", "Express 4.17.1");
    } else {
        set("server", "demo");
        set(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
        set("x-content-type-options", "nosniff");
        set("x-frame-options", "DENY");
        set(
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'",
        );
        set("referrer-policy", "strict-origin-when-cross-origin");
    }
    match uri.path() {
        "/" => {
            set("content-type", "text/html; charset=utf-8");
            (StatusCode::OK, headers, "<!doctype html><html><head><title>demo shop</title></head><body>Welcome</body></html>").into_response()
        }
        "/.git/config" if insecure => {
            set("content-type", "text/plain");
            (
                StatusCode::OK,
                headers,
                "[core]\n\trepositoryformatversion = 0\n\tbare = false\n",
            )
                .into_response()
        }
        "/.well-known/security.txt" if !insecure => {
            set("content-type", "text/plain");
            (
                StatusCode::OK,
                headers,
                "Contact: mailto:security@demo.invalid\nExpires: 2030-01-01T00:00:00Z\n",
            )
                .into_response()
        }
        "/.env" if insecure => {
            set("content-type", "text/plain");
            (
                StatusCode::OK,
                headers,
                "APP_ENV=production\nDB_PASSWORD=hunter2\n",
            )
                .into_response()
        }
        _ => {
            set("content-type", "text/html; charset=utf-8");
            (
                StatusCode::NOT_FOUND,
                headers,
                "<html><body>not found</body></html>",
            )
                .into_response()
        }
    }
}

/// Options of `picket demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Team probe files and folders, added to the built-in library.
    pub probes: Vec<PathBuf>,
    /// How often the target flips.
    pub flip_every: Duration,
    /// The schedule of every series.
    pub every: Duration,
    /// Where the API and dashboard listen.
    pub api: SocketAddr,
    /// Stop after this long (`None`: until Ctrl-C).
    pub duration: Option<Duration>,
}

/// Runs the demo: the flipping target, and `picket run` against it with the shipped probes
/// (`confirm: 2`, `recover: 1`), printing every regression and recovery as the service
/// declares them.
pub async fn run(
    opts: DemoOptions,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let target = DemoTarget::default();
    let target_stop = CancellationToken::new();
    tokio::spawn(target.clone().serve(listener, target_stop.clone()));

    let url = url::Url::parse(&format!("http://{addr}/"))?;
    let mut config = Config::adhoc(url, opts.probes.clone());
    config.targets[0].name = "demo-shop".into();
    config.targets[0].tags.insert("demo".into());
    config.limits.per_target_rps = 50.0;
    config.defaults.schedule = crate::units::Schedule::Every {
        interval: opts.every,
        jitter: 0.0,
    };
    config.defaults.confirm = 2;
    config.defaults.recover = 1;
    let state_dir = std::env::temp_dir().join(format!("picket-demo-{}", std::process::id()));
    config.state = crate::config::StateStore::Embedded(state_dir.clone());
    let mut diags = crate::diag::Diagnostics::default();
    let mut probes = load::load_config_probes(&config, &mut diags);
    if !diags.is_empty() {
        anyhow::bail!("the probe library has errors:\n{diags}");
    }
    // Everything on the demo's pace, hourly probes included.
    for p in &mut probes {
        std::sync::Arc::make_mut(p).schedule = config.defaults.schedule.clone();
    }
    let loaded = Loaded { config, probes };
    let telemetry = crate::telemetry::Telemetry::init(&loaded.config.telemetry, Some("demo"))?;
    let service_stop = CancellationToken::new();
    let api = match TcpListener::bind(opts.api).await {
        Ok(probe) => {
            drop(probe);
            opts.api
        }
        // The default port is taken (another picket?): any free port will do.
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let running = crate::service::start(
        loaded,
        load::Compiled::default(),
        crate::service::ServiceOptions {
            config_path: PathBuf::from("<demo>"),
            shard: None,
            grace: Duration::from_secs(5),
            api_listen: Some(api),
            watch_interval: None,
        },
        telemetry,
        std::sync::Arc::new(|name: &str| std::env::var(name).ok()),
        service_stop.clone(),
    )
    .await?;
    let tracker = std::sync::Arc::clone(&running.tracker);
    let mut changes = tracker.follow("the demo");
    writeln!(
        out,
        "demo target:  http://{addr}/  (flips secure <-> insecure every {}s)",
        opts.flip_every.as_secs()
    )?;
    writeln!(out, "dashboard:    http://{}/", running.api_addr)?;
    writeln!(
        out,
        "series:       http://{}/api/v1/series",
        running.api_addr
    )?;
    writeln!(
        out,
        "each series runs every {}s; a regression needs 2 failing runs in a row. Ctrl-C stops.\n",
        opts.every.as_secs()
    )?;

    let started = tokio::time::Instant::now();
    let mut flip = tokio::time::interval_at(started + opts.flip_every, opts.flip_every);
    let mut report =
        tokio::time::interval_at(started + Duration::from_secs(10), Duration::from_secs(10));
    let deadline = opts.duration.map(|d| started + d);
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = until_deadline => break,
            _ = flip.tick() => {
                let insecure = !target.is_insecure();
                target.set_insecure(insecure);
                writeln!(out, "[{:>3}s] target is now {}", started.elapsed().as_secs(), if insecure { "INSECURE" } else { "secure" })?;
            }
            _ = report.tick() => {
                let all = tracker.snapshot();
                let count = |s| all.iter().filter(|t| t.state.state == s).count();
                writeln!(
                    out,
                    "[{:>3}s] {} runs so far: {} passing, {} regressed, {} failing",
                    started.elapsed().as_secs(),
                    tracker.runs(),
                    count(crate::state::State::Passing),
                    count(crate::state::State::Regressed),
                    count(crate::state::State::Failing),
                )?;
            }
            Some(change) = changes.next() => {
                let word = match change.transition {
                    Some(crate::state::Transition::Regression) => "REGRESSION",
                    Some(crate::state::Transition::Recovery) => "RECOVERY",
                    None => continue,
                };
                let info = &change.info;
                writeln!(out, "[{:>3}s] {word:<10} {} on {} ({})", started.elapsed().as_secs(), info.probe.id, info.target, change.state.severity(info.probe.severity))?;
                for f in &change.state.findings {
                    let line = format!("             {}", f.sentence());
                    writeln!(out, "{}", crate::term::escape_controls(&line))?;
                }
            }
        }
    }
    service_stop.cancel();
    running.wait().await?;
    target_stop.cancel();
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(())
}
