//! `picket demo`: a deliberately misconfigured loopback service, and picket probing it.
//!
//! The demo target flips between a secure and an insecure configuration: security headers
//! disappear, the server starts announcing its version, and `/.git/config` is served. picket
//! probes it with the shipped library and prints what changed, round after round.

use std::collections::BTreeMap;
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
use crate::plan;
use crate::report::Report;
use crate::run::Runner;

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
    /// Probe library.
    pub probes: Vec<PathBuf>,
    /// How often the target flips.
    pub flip_every: Duration,
    /// How often picket probes.
    pub every: Duration,
    /// How many rounds to run (0: until Ctrl-C).
    pub rounds: u32,
}

/// Runs the demo: start the target, then probe it every `every`, printing each round and
/// every change of outcome.
pub async fn run(
    opts: DemoOptions,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let target = DemoTarget::default();
    tokio::spawn(target.clone().serve(listener, shutdown.clone()));

    let url = url::Url::parse(&format!("http://{addr}/"))?;
    let mut config = Config::adhoc(url, opts.probes.clone());
    config.targets[0].name = "demo-shop".into();
    config.limits.per_target_rps = 50.0;
    let mut diags = crate::diag::Diagnostics::default();
    let probes = load::load_probes(&config.probe_paths, &config.defaults, &mut diags);
    if !diags.is_empty() {
        anyhow::bail!("the probe library has errors:\n{diags}");
    }
    let loaded = Loaded { config, probes };
    let plan = plan::plan(&loaded);
    let runner = Runner::new(&loaded.config)?;
    writeln!(
        out,
        "demo target listening on http://{addr}/ (flips secure <-> insecure every {}s)",
        opts.flip_every.as_secs()
    )?;
    writeln!(
        out,
        "probing it with {} series every {}s; Ctrl-C to stop\n",
        plan.series.len(),
        opts.every.as_secs()
    )?;

    let flipper = {
        let target = target.clone();
        let shutdown = shutdown.clone();
        let every = opts.flip_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => target.set_insecure(!target.is_insecure()),
                }
            }
        })
    };

    let mut last: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut round = 0u32;
    let mut tick = tokio::time::interval(opts.every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        round += 1;
        let bar = indicatif::ProgressBar::hidden();
        let results = crate::commands::run_all(&runner, &plan.series, &bar).await;
        let report = Report::new(&plan.series, results);
        let state = if target.is_insecure() {
            "insecure"
        } else {
            "secure"
        };
        writeln!(
            out,
            "round {round} (target {state}): {} pass, {} fail, {} error",
            report.summary.pass, report.summary.fail, report.summary.error
        )?;
        for row in &report.results {
            let key = format!("{}@{}", row.probe, row.target);
            let before = last.insert(key, row.outcome);
            match before {
                Some(prev) if prev != row.outcome => {
                    let word = if row.outcome == "fail" {
                        "REGRESSED"
                    } else {
                        "RECOVERED"
                    };
                    writeln!(
                        out,
                        "  {word:<9} {} ({}) {prev} -> {}",
                        row.probe, row.severity, row.outcome
                    )?;
                    for f in &row.findings {
                        writeln!(
                            out,
                            "            {}: expected {}, observed {}",
                            f.check, f.expected, f.observed
                        )?;
                    }
                }
                _ => {}
            }
        }
        if opts.rounds != 0 && round >= opts.rounds {
            break;
        }
    }
    shutdown.cancel();
    let _ = flipper.await;
    Ok(())
}
