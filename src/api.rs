//! The HTTP API and dashboard (SPEC §8): health, readiness, series and regressions as JSON,
//! and the server-rendered pages (`dashboard`). It reads a [`View`] that the service keeps
//! current; it never touches the runner or the store. Access control (`api.token`) is in
//! `auth`, HTTPS (`api.tls`) in [`tls`], the connection cap and idle timeout in [`conn`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::outcome::Finding;
use crate::redact::SharedRedactor;
use crate::state::{Mark, SeriesInfo, SeriesState, State as SeriesStateKind, Tracked, Tracker};
use crate::units::Severity;

mod auth;
pub mod conn;
mod dashboard;
pub mod tls;

pub use auth::Auth;
pub use conn::Connections;

/// What the API shows of one series: its labels and loaded probe, read from the tracker
/// (not copied), and its state.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The loaded probe, the target's name and tags.
    pub info: Arc<SeriesInfo>,
    /// The series' severity now (the highest of its findings, else the probe's).
    pub severity: Severity,
    /// The state.
    pub state: SeriesState,
}

impl Entry {
    /// The acceptance that holds for the series at `now`, as the API shows it.
    pub fn accepted(&self, now: SystemTime) -> Option<Accepted> {
        let a = self.info.accepted_at(now)?;
        Some(Accepted {
            until: a.until.to_string(),
            reason: a.reason.clone(),
            // Reported once and remembered for good by the state; a series that fails again
            // needs its acceptance again.
            unneeded: self.state.unneeded.as_deref() == Some(a.identity().as_str())
                && self.state.state == SeriesStateKind::Passing,
        })
    }
}

/// An accepted risk on a series row (SPEC §3b): `{"until": "2027-03-31", "reason": "…"}`,
/// with `"unneeded": true` once the series passed its last 10 runs under it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accepted {
    /// The last day accepted (`2027-03-31`), or the instant it ends.
    pub until: String,
    /// Why it is accepted.
    pub reason: String,
    /// Whether the series passed its last 10 runs under it and still passes, so it is no
    /// longer needed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unneeded: bool,
}

impl From<Tracked> for Entry {
    fn from(t: Tracked) -> Entry {
        Entry {
            severity: t.state.severity(t.info.probe.severity),
            info: t.info,
            state: t.state,
        }
    }
}

/// What the API reads: the series states, from their one owner (the [`Tracker`]; the API
/// keeps no copy), and whether the service is ready.
#[derive(Debug)]
pub struct View {
    tracker: Arc<Tracker>,
    ready: AtomicBool,
}

impl View {
    /// A view of `tracker`, not ready yet.
    pub fn new(tracker: Arc<Tracker>) -> View {
        View {
            tracker,
            ready: AtomicBool::new(false),
        }
    }

    /// The state of one series, if tracked.
    pub fn state(&self, key: &str) -> Option<SeriesState> {
        self.tracker.get(key).map(|t| t.state)
    }

    /// Marks the service ready (config loaded, scheduler running) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Every series row, as the API serves them now.
    pub fn rows(&self) -> Vec<Row> {
        let now = SystemTime::now();
        self.entries().iter().map(|e| Row::of(e, now)).collect()
    }

    /// In a group, reads what the other members' series are now (at most once a second);
    /// with the embedded store there is nothing to read. Called before the routes that show
    /// every series.
    pub async fn read_group(&self) {
        self.tracker.read_group().await;
    }

    /// Whether `/readyz` says ready: the service runs and, in a group, this member holds its
    /// lease.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && self.tracker.group().is_none_or(|g| g.holds_lease())
    }

    /// Every series, in key order.
    pub fn entries(&self) -> Vec<Entry> {
        self.tracker
            .snapshot()
            .into_iter()
            .map(Entry::from)
            .collect()
    }

    /// The series of `probe` on `target`, if tracked.
    pub fn entry(&self, probe: &str, target: &str) -> Option<Entry> {
        self.tracker
            .get(&crate::plan::series_key(probe, target))
            .map(Entry::from)
    }
}

/// A series row, the same shape in both JSON routes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Row {
    /// Probe id.
    pub probe: String,
    /// Target name.
    pub target: String,
    /// Severity.
    pub severity: Severity,
    /// `unknown`, `passing`, `failing` or `regressed`.
    pub state: SeriesStateKind,
    /// When the state began (RFC 3339, UTC).
    pub since: Option<String>,
    /// `pass`, `fail`, `error` or `skip`.
    pub last_outcome: Option<Mark>,
    /// Why the last run was skipped (only when it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// When the last run started (RFC 3339, UTC).
    pub last_run: Option<String>,
    /// Duration of the last run.
    pub last_duration_ms: u64,
    /// Findings of the last failing run.
    pub findings: Vec<Finding>,
    /// Recent outcomes, oldest first.
    pub history: Vec<Mark>,
    /// The acceptance that holds for the series, if one does (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
}

impl Row {
    /// The row of `e` at `now` (which decides whether its acceptance still holds).
    pub fn of(e: &Entry, now: SystemTime) -> Row {
        Row {
            probe: e.info.probe.id.clone(),
            target: e.info.target.clone(),
            severity: e.severity,
            state: e.state.state,
            since: e.state.since.map(rfc3339),
            last_outcome: e.state.last_outcome,
            skipped: e.state.last_skip.clone(),
            last_run: e.state.last_run.map(rfc3339),
            last_duration_ms: e.state.last_duration_ms,
            findings: e.state.findings.clone(),
            history: e.state.history.iter().map(|r| r.outcome).collect(),
            accepted: e.accepted(now),
        }
    }
}

pub use crate::units::rfc3339;

/// Which `Host` names the API answers to (DNS-rebinding protection).
///
/// A page on a rebinding domain reaches the API under that domain's name, so the API answers
/// only names that cannot be rebound: IP literals (which also covers Kubernetes probes, sent
/// to the pod IP), `localhost` and `*.localhost` (browsers resolve those to loopback
/// themselves), and the names the operator listed in `api.allowed_hosts`.
#[derive(Debug, Clone, Default)]
pub struct HostRule {
    allowed: Vec<String>,
}

impl HostRule {
    /// Also allows these names (lowercase, no trailing dot, no port).
    pub fn new(allowed_hosts: &[String]) -> HostRule {
        HostRule {
            allowed: allowed_hosts.to_vec(),
        }
    }

    /// Whether a request with this `Host` value (name or IP, optional port) is answered.
    pub fn permits(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        if name.starts_with('[') || name.parse::<std::net::Ipv4Addr>().is_ok() {
            // `host_name` only returns a bracketed name when it holds a valid IPv6 address.
            return true;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost" || name.ends_with(".localhost") || self.allowed.contains(&name)
    }
}

/// The name part of a `Host` value, without its port; `None` when it is malformed (a port
/// that is not a number, brackets that do not hold an IPv6 address).
fn host_name(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        ip.parse::<std::net::Ipv6Addr>().ok()?;
        return (after.is_empty() || port(after.strip_prefix(':')?))
            .then_some(&host[..ip.len() + 2]);
    }
    let name = match host.rsplit_once(':') {
        Some((name, p)) if port(p) => name,
        Some(_) => return None,
        None => host,
    };
    (!name.is_empty()).then_some(name)
}

fn port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Refuses requests addressed to a name the API does not answer to.
async fn check_host(State(rule): State<Arc<HostRule>>, request: Request, next: Next) -> Response {
    let host = match request.headers().get(header::HOST) {
        Some(value) => value.to_str().ok(),
        // HTTP/2 carries the host in the URI instead. With neither (HTTP/1.0), the request
        // cannot come from a browser, which always names the host.
        None => match request.uri().authority() {
            Some(authority) => Some(authority.as_str()),
            None => return next.run(request).await,
        },
    };
    if host.is_some_and(|h| rule.permits(h)) {
        return next.run(request).await;
    }
    tracing::debug!(
        host = %crate::term::escape_controls(host.unwrap_or("(not text)")),
        "API request refused: Host not allowed"
    );
    (
        StatusCode::MISDIRECTED_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "misdirected request: this API answers only requests addressed to an IP address, \
         localhost, or a name listed in api.allowed_hosts\n",
    )
        .into_response()
}

/// `X-Content-Type-Options: nosniff` on every response, errors included: no browser may
/// read a JSON or text answer as HTML or script.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Builds the router. Health and readiness answer whatever the `Host` (orchestrators probe
/// them by any name) and without a token; everything else follows `hosts`, then wants the
/// token of `auth` when there is one. Every response body is scrubbed of the secrets
/// `secrets` holds at the time.
pub fn router(
    view: Arc<View>,
    hosts: HostRule,
    auth: Option<Arc<Auth>>,
    secrets: SharedRedactor,
) -> Router {
    let mut protected = Router::new()
        .route("/api/v1/series", get(series))
        .route("/api/v1/regressions", get(regressions))
        .route("/", get(dashboard::index))
        .route("/series", get(dashboard::series));
    if let Some(auth) = auth {
        protected = protected.route_layer(middleware::from_fn_with_state(auth, auth::require));
    }
    protected
        .route_layer(middleware::from_fn_with_state(Arc::new(hosts), check_host))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(view)
        .layer(middleware::map_response_with_state(secrets, scrub_response))
        .layer(middleware::map_response(nosniff))
}

/// The last line of defence for secrets: every response body is scrubbed with the service's
/// redactor before it leaves (findings were scrubbed by the runner already).
async fn scrub_response(State(secrets): State<SharedRedactor>, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot render response\n",
        )
            .into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let clean = secrets.current().scrub(&text).into_owned();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(clean))
}

/// Binds `addr` and serves until `shutdown`. Returns the bound address (useful with port 0).
/// Over HTTPS when `tls` is given. `connections` caps the open connections and closes idle
/// ones (see [`conn`]). Response bodies are scrubbed of what `secrets` holds (see [`router`]).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    addr: SocketAddr,
    view: Arc<View>,
    hosts: HostRule,
    auth: Option<Arc<Auth>>,
    tls: Option<tls::Certificates>,
    connections: Arc<Connections>,
    secrets: SharedRedactor,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(view, hosts, auth, secrets);
    let handle = tokio::spawn(conn::accept_loop(listener, app, tls, connections, shutdown));
    Ok((bound, handle))
}

async fn readyz(State(view): State<Arc<View>>) -> Response {
    if view.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// Rows as JSON, with C1 and DEL characters written as `\u00XX` so that `curl` in a
/// terminal shows what a target sent instead of obeying it.
fn json(rows: &[Row]) -> Response {
    match serde_json::to_string(rows) {
        Ok(text) => (
            [(header::CONTENT_TYPE, "application/json")],
            crate::term::escape_json(&text).into_owned(),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn series(State(view): State<Arc<View>>) -> Response {
    view.read_group().await;
    json(&view.rows())
}

async fn regressions(State(view): State<Arc<View>>) -> Response {
    view.read_group().await;
    let mut rows: Vec<Row> = view
        .rows()
        .into_iter()
        .filter(|r| r.state == SeriesStateKind::Regressed)
        .collect();
    // RFC 3339 UTC strings of equal precision sort as times.
    rows.sort_by(|a, b| b.since.cmp(&a.since));
    json(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn responses_are_scrubbed_of_secrets_added_to_the_handle_after_start() {
        let secrets = SharedRedactor::default();
        let body = |text: &str| Response::new(axum::body::Body::from(text.to_string()));
        let text = |response: Response| async {
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        let secret = "reloaded-api-secret-0e57b1";
        let before = scrub_response(State(secrets.clone()), body(secret)).await;
        assert_eq!(text(before).await, secret, "not yet known");
        // As a reload adds its configuration's secrets to the service's handle.
        let mut added = crate::redact::Redactor::default();
        added.add(secret);
        secrets.add(&added);
        let after = scrub_response(State(secrets.clone()), body(&format!("a {secret} b"))).await;
        assert_eq!(text(after).await, "a <redacted> b");
        assert_eq!(
            crate::redact::global().scrub(secret),
            secret,
            "not the global's doing"
        );
    }

    #[test]
    fn ip_literals_and_localhost_are_answered() {
        let rule = HostRule::default();
        for host in [
            "127.0.0.1",
            "127.0.0.1:9750",
            "10.1.2.3:9750",
            "[::1]",
            "[::1]:9750",
            "[fe80::1]:80",
            "localhost",
            "LOCALHOST:9750",
            "localhost.",
            "app.localhost:3000",
        ] {
            assert!(rule.permits(host), "{host}");
        }
    }

    #[test]
    fn other_names_need_to_be_listed() {
        let rule = HostRule::new(&["picket.internal".to_string()]);
        assert!(rule.permits("picket.internal"));
        assert!(rule.permits("Picket.Internal:9750"));
        assert!(rule.permits("picket.internal."));
        for host in [
            "evil.example",
            "evil.example:9750",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "x.picket.internal",
            "notlocalhost",
            "",
            ":9750",
            "[::1",
            "[evil.example]:80",
            "[::1]x",
            "127.0.0.1:port",
            "127.0.0.1:99999999",
            "2130706433",
        ] {
            assert!(!rule.permits(host), "{host}");
        }
    }
}
