//! The runner: executes one series and returns its [`RunResult`].
//!
//! Everything that touches the network is bounded here. A run holds a global permit and a
//! per-target permit for its whole duration, waits for its per-target rate slot before each
//! request, and is cut off by the probe's timeout. Bodies are read up to `max_body_bytes` and
//! no further. Requests only ever go to the series' own target: paths were vetted at load,
//! every URL is checked against the target's origin before it is sent, and redirects are
//! followed (when the probe allows it) only within that origin, so a target's credentials
//! never travel anywhere else. The runner knows nothing of state or telemetry.

use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use reqwest::Client;
use thiserror::Error;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;

use crate::check::{self, Finding, Response};
use crate::config::{Config, Limits, Target, Var};
use crate::plan::Series;
use crate::probe::Template;
use crate::redact::{REDACTED, Redactor};

/// Most requests one run may make after expanding list variables (checked at load time too).
pub use crate::probe::MAX_REQUESTS_PER_RUN;
/// Most redirects followed within one request.
pub const MAX_REDIRECTS: usize = 10;

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// At least one check failed.
    Fail(Vec<Finding>),
    /// The run could not be evaluated.
    Error(RunError),
}

impl Outcome {
    /// `pass`, `fail` or `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Error(_) => "error",
        }
    }

    /// The findings of a failed run (empty otherwise).
    pub fn findings(&self) -> &[Finding] {
        match self {
            Outcome::Fail(f) => f,
            _ => &[],
        }
    }
}

/// Why a run could not be evaluated. The message is already scrubbed of secrets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}: {message}")]
pub struct RunError {
    /// Short class, used as `error.type`.
    pub kind: ErrorKind,
    /// Detail for people.
    pub message: String,
}

/// Classes of run errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The run exceeded its timeout.
    Timeout,
    /// Name resolution failed.
    Dns,
    /// TCP connect failed or was refused.
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// The peer broke the HTTP protocol or the connection.
    Http,
    /// A request could not be built (a bug or a bad variable value).
    Request,
}

impl ErrorKind {
    /// The name used in output and as `error.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Http => "http",
            ErrorKind::Request => "request",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Probe id.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// What happened.
    pub outcome: Outcome,
    /// When the run started (wall clock).
    pub started: SystemTime,
    /// How long it took, including waits for rate slots.
    pub duration: Duration,
    /// The first request's URL, secrets removed.
    pub url: String,
    /// Host of the target.
    pub server_address: String,
    /// Port of the target.
    pub server_port: u16,
    /// Status code of the last response, if any.
    pub status: Option<u16>,
}

/// Problems building the runner (bad CA file and the like).
#[derive(Debug, Error)]
pub enum SetupError {
    /// A target's CA file could not be used.
    #[error("target `{target}`: cannot use CA file `{path}`: {detail}")]
    CaFile {
        /// Target name.
        target: String,
        /// File.
        path: String,
        /// Why.
        detail: String,
    },
    /// The HTTP client could not be built.
    #[error("target `{target}`: cannot build HTTP client: {detail}")]
    Client {
        /// Target name.
        target: String,
        /// Why.
        detail: String,
    },
}

/// Spaces requests to one target at most `rps` per second.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

/// The longest gap the rate limiter puts between two requests. Config validation keeps
/// `per_target_rps` well inside it; this only keeps a value that slipped through from
/// panicking (`Duration::from_secs_f64` of a huge or infinite number) or overflowing an
/// `Instant`.
const MAX_RATE_INTERVAL: Duration = Duration::from_secs(3_600);

impl RateLimiter {
    fn new(rps: f64) -> Self {
        let interval = Duration::try_from_secs_f64(1.0 / rps)
            .unwrap_or(MAX_RATE_INTERVAL)
            .min(MAX_RATE_INTERVAL);
        RateLimiter {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot. Slots are handed out in order, so waiting is fair.
    async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot.checked_add(self.interval).unwrap_or(slot);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Per-target resources.
#[derive(Debug)]
struct Gate {
    client: Client,
    permits: Arc<Semaphore>,
    rate: RateLimiter,
}

/// Executes series, within the configured limits.
#[derive(Debug, Clone)]
pub struct Runner {
    gates: Arc<HashMap<String, Gate>>,
    global: Arc<Semaphore>,
    max_body_bytes: u64,
    redactor: Redactor,
}

static TLS_INIT: Once = Once::new();

/// Installs rustls' ring provider as the process default, once.
pub fn init_tls() {
    TLS_INIT.call_once(|| {
        // Fails only if another provider was installed first, which is fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Runner {
    /// Builds HTTP clients for every target of `config`.
    pub fn new(config: &Config) -> Result<Runner, SetupError> {
        init_tls();
        let mut gates = HashMap::new();
        for target in &config.targets {
            let client = build_client(target, &config.limits)?;
            gates.insert(
                target.name.clone(),
                Gate {
                    client,
                    permits: Arc::new(Semaphore::new(config.limits.per_target_concurrency)),
                    rate: RateLimiter::new(config.limits.per_target_rps),
                },
            );
        }
        Ok(Runner {
            gates: Arc::new(gates),
            global: Arc::new(Semaphore::new(config.limits.concurrency)),
            max_body_bytes: config.limits.max_body_bytes,
            redactor: config.redactor.clone(),
        })
    }

    /// Runs one series once. Never panics and never returns `Err`: faults are outcomes.
    pub async fn run(&self, series: &Series) -> RunResult {
        let started = SystemTime::now();
        let clock = Instant::now();
        let target = &series.target;
        let mut result = RunResult {
            probe: series.probe.id.clone(),
            target: target.name.clone(),
            outcome: Outcome::Pass,
            started,
            duration: Duration::ZERO,
            url: redact_url(&target.url, &self.redactor),
            server_address: target.url.host_str().unwrap_or_default().to_string(),
            server_port: target.url.port_or_known_default().unwrap_or(0),
            status: None,
        };
        let Some(gate) = self.gates.get(&target.name) else {
            result.outcome = Outcome::Error(RunError {
                kind: ErrorKind::Request,
                message: format!("no client for target `{}`", target.name),
            });
            return result;
        };
        // Semaphores are never closed, so acquiring cannot fail; treat it as an error anyway.
        let (Ok(_global), Ok(_local)) = (
            self.global.clone().acquire_owned().await,
            gate.permits.clone().acquire_owned().await,
        ) else {
            result.outcome = Outcome::Error(RunError {
                kind: ErrorKind::Request,
                message: "runner is shutting down".into(),
            });
            return result;
        };

        let timeout = series.probe.timeout;
        let work = self.execute(series, gate, &mut result);
        let outcome = match tokio::time::timeout(timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Error(RunError {
                kind: ErrorKind::Timeout,
                message: format!(
                    "run did not finish within {}",
                    crate::units::format_duration(timeout)
                ),
            }),
        };
        result.outcome = self.scrub(outcome);
        result.duration = clock.elapsed();
        tracing::debug!(
            probe.id = %result.probe,
            target.name = %result.target,
            url.full = %result.url,
            outcome = result.outcome.as_str(),
            http.response.status_code = ?result.status,
            duration_ms = result.duration.as_millis() as u64,
            "run finished"
        );
        for f in result.outcome.findings() {
            tracing::debug!(
                probe.id = %result.probe,
                target.name = %result.target,
                check = %f.check,
                expected = %f.expected,
                observed = %f.observed,
                "finding"
            );
        }
        if let Outcome::Error(e) = &result.outcome {
            tracing::debug!(
                probe.id = %result.probe,
                target.name = %result.target,
                error.type = e.kind.as_str(),
                error.message = %e.message,
                "run could not be evaluated"
            );
        }
        result
    }

    async fn execute(&self, series: &Series, gate: &Gate, result: &mut RunResult) -> Outcome {
        let probe = &series.probe;
        let target = &series.target;
        let paths = match expand_paths(&probe.http.paths, target) {
            Ok(p) => p,
            Err(message) => {
                return Outcome::Error(RunError {
                    kind: ErrorKind::Request,
                    message,
                });
            }
        };
        let many = paths.len() > 1;
        let mut findings = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let url = match join(&target.url, path) {
                Ok(u) => u,
                Err(message) => {
                    return Outcome::Error(RunError {
                        kind: ErrorKind::Request,
                        message,
                    });
                }
            };
            if i == 0 {
                result.url = redact_url(&url, &self.redactor);
            }
            let response = match self.exchange(series, gate, url).await {
                Ok(r) => r,
                Err(e) => return Outcome::Error(e),
            };
            result.status = Some(response.status.as_u16());
            for mut f in check::evaluate(&probe.checks, &response) {
                if many {
                    f.check = format!("{} {path}: {}", probe.http.method, f.check);
                }
                findings.push(f);
            }
        }
        if findings.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(findings)
        }
    }

    /// Sends one request, following same-origin redirects when allowed, and reads the body.
    async fn exchange(&self, series: &Series, gate: &Gate, url: Url) -> Result<Response, RunError> {
        let probe = &series.probe;
        let target = &series.target;
        let origin = target.url.origin();
        let headers = request_headers(&probe.http, target).map_err(|message| RunError {
            kind: ErrorKind::Request,
            message,
        })?;
        let body = match &probe.http.body {
            Some(t) => Some(render(t, target).map_err(|message| RunError {
                kind: ErrorKind::Request,
                message,
            })?),
            None => None,
        };

        let mut method = probe.http.method.clone();
        let mut body = body;
        let mut url = url;
        let start = Instant::now();
        for _hop in 0..=MAX_REDIRECTS {
            if url.origin() != origin {
                // Unreachable by construction; kept as the last line of defence.
                return Err(RunError {
                    kind: ErrorKind::Request,
                    message: "refused to send a request outside the target".into(),
                });
            }
            gate.rate.acquire().await;
            let mut request = gate
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(b) = &body {
                request = request.body(b.clone());
            }
            let mut response = request.send().await.map_err(|e| classify(&e))?;
            let status = response.status();
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            if probe.http.follow_redirects
                && status.is_redirection()
                && let Some(next) = location.filter(|n| n.origin() == origin)
            {
                if status == StatusCode::SEE_OTHER
                    || (matches!(status.as_u16(), 301 | 302) && method == Method::POST)
                {
                    method = Method::GET;
                    body = None;
                }
                url = next;
                continue;
            }
            // A redirect off the target is not followed: the 3xx itself is evaluated.
            let (bytes, truncated) = read_capped(&mut response, self.max_body_bytes).await?;
            return Ok(Response {
                status,
                headers: response.headers().clone(),
                body: bytes,
                truncated,
                elapsed: start.elapsed(),
            });
        }
        Err(RunError {
            kind: ErrorKind::Http,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    fn scrub(&self, outcome: Outcome) -> Outcome {
        if self.redactor.is_empty() {
            return outcome;
        }
        match outcome {
            Outcome::Pass => Outcome::Pass,
            Outcome::Fail(findings) => Outcome::Fail(
                findings
                    .into_iter()
                    .map(|f| Finding {
                        check: self.redactor.scrub(&f.check),
                        expected: self.redactor.scrub(&f.expected),
                        observed: self.redactor.scrub(&f.observed),
                    })
                    .collect(),
            ),
            Outcome::Error(e) => Outcome::Error(RunError {
                kind: e.kind,
                message: self.redactor.scrub(&e.message),
            }),
        }
    }
}

fn build_client(target: &Target, limits: &Limits) -> Result<Client, SetupError> {
    let _ = limits;
    let mut builder = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(2);
    if let Some(path) = &target.ca_file {
        let ca_error = |detail: String| SetupError::CaFile {
            target: target.name.clone(),
            path: path.display().to_string(),
            detail,
        };
        // A CA bundle is a regular file of a few hundred KiB; a FIFO or device put in its
        // place must not block or swell a reload.
        let pem = crate::files::read_regular(path, crate::load::MAX_FILE_BYTES)
            .map_err(|e| ca_error(e.to_string()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_error("no certificates in file".into()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| SetupError::Client {
        target: target.name.clone(),
        detail: e.to_string(),
    })
}

/// Reads at most `cap` bytes of body. Stops reading (and drops the connection) past the cap.
async fn read_capped(
    response: &mut reqwest::Response,
    cap: u64,
) -> Result<(Vec<u8>, bool), RunError> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return Ok((body, true));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok((body, false)),
            Err(e) => return Err(classify(&e)),
        }
    }
}

/// Sorts a reqwest error into a class, with the innermost cause as the message.
fn classify(err: &reqwest::Error) -> RunError {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    let all = chain.join(": ").to_ascii_lowercase();
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if all.contains("dns error") || all.contains("failed to lookup") {
        ErrorKind::Dns
    } else if all.contains("certificate") || all.contains("tls") || all.contains("handshake") {
        ErrorKind::Tls
    } else if err.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Http
    };
    // reqwest's outer message repeats the URL; the last causes say what happened.
    let message = chain.iter().skip(1).cloned().collect::<Vec<_>>().join(": ");
    RunError {
        kind,
        message: if message.is_empty() {
            chain.first().cloned().unwrap_or_default()
        } else {
            message
        },
    }
}

/// The URL for a request: the target URL's path followed by the probe's path.
fn join(base: &Url, path: &str) -> Result<Url, String> {
    let mut text = base.as_str().trim_end_matches('/').to_string();
    text.push_str(path);
    let url = Url::parse(&text).map_err(|e| format!("cannot build URL for path `{path}`: {e}"))?;
    if url.origin() != base.origin() {
        return Err(format!("path `{path}` leaves the target"));
    }
    Ok(url)
}

/// Renders a URL for output with secret values removed.
fn redact_url(url: &Url, redactor: &Redactor) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    redactor.scrub(url.as_str())
}

/// Expands path templates: each list variable yields one path per item.
fn expand_paths(templates: &[Template], target: &Target) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in templates {
        let mut partial = vec![t.text.clone()];
        for name in &t.vars {
            let placeholder = format!("{{{{vars.{name}}}}}");
            let values: Vec<&str> = match target.vars.get(name) {
                Some(Var::One(v)) => vec![v.expose().as_str()],
                Some(Var::List(vs)) => vs.iter().map(|v| v.expose().as_str()).collect(),
                None => return Err(format!("target declares no `vars.{name}`")),
            };
            partial = partial
                .iter()
                .flat_map(|p| {
                    let placeholder = &placeholder;
                    values.iter().map(move |v| p.replacen(placeholder, v, 1))
                })
                .collect();
            if partial.len() > MAX_REQUESTS_PER_RUN {
                return Err(format!(
                    "variables expand to more than {MAX_REQUESTS_PER_RUN} requests"
                ));
            }
        }
        for p in &partial {
            let path_part = p.split('?').next().unwrap_or(p);
            if !p.starts_with('/')
                || p.starts_with("//")
                || path_part.contains("://")
                || path_part.contains('\\')
            {
                return Err(format!(
                    "path `{}` from target variables does not stay on the target",
                    t.text
                ));
            }
        }
        out.extend(partial);
    }
    if out.len() > MAX_REQUESTS_PER_RUN {
        return Err(format!(
            "paths expand to more than {MAX_REQUESTS_PER_RUN} requests"
        ));
    }
    Ok(out)
}

/// Renders a header or body template; list variables are joined with `, `.
fn render(template: &Template, target: &Target) -> Result<String, String> {
    let mut text = template.text.clone();
    for name in &template.vars {
        let value = match target.vars.get(name) {
            Some(Var::One(v)) => v.expose().clone(),
            Some(Var::List(vs)) => vs
                .iter()
                .map(|v| v.expose().as_str())
                .collect::<Vec<_>>()
                .join(", "),
            None => return Err(format!("target declares no `vars.{name}`")),
        };
        text = text.replacen(&format!("{{{{vars.{name}}}}}"), &value, 1);
    }
    Ok(text)
}

/// Request headers: the target's (when the probe uses target auth), then the probe's own.
fn request_headers(http: &crate::probe::HttpRequest, target: &Target) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    if http.use_target_auth {
        for (name, value) in &target.headers {
            headers.insert(name.clone(), value.expose().clone());
        }
    }
    for (name, template) in &http.headers {
        let text = render(template, target)?;
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| format!("header `{name}` has an invalid value after expansion"))?;
        if !template.vars.is_empty() {
            value.set_sensitive(true);
        }
        headers.insert(name.clone(), value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_appends_to_base_path() {
        let base = Url::parse("http://127.0.0.1:8080/api").unwrap();
        assert_eq!(
            join(&base, "/health?x=1").unwrap().as_str(),
            "http://127.0.0.1:8080/api/health?x=1"
        );
        let root = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(join(&root, "/").unwrap().as_str(), "http://127.0.0.1:8080/");
        assert!(join(&root, "@evil.example/").is_err());
    }

    #[test]
    fn rate_limiter_takes_any_rate_without_panicking() {
        for rps in [
            1e-20,
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            1e300,
        ] {
            let limiter = RateLimiter::new(rps);
            assert!(limiter.interval <= MAX_RATE_INTERVAL, "{rps}");
        }
        assert_eq!(RateLimiter::new(1e-20).interval, MAX_RATE_INTERVAL);
        assert_eq!(RateLimiter::new(f64::INFINITY).interval, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_spaces_requests() {
        let limiter = RateLimiter::new(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }
}
