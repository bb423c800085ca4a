//! The `http` kind's runner: builds each request from the probe and the target, sends it
//! only within the target's origin (following same-origin redirects when the probe allows),
//! reads the body up to its cap, and evaluates the checks.

use std::borrow::Cow;
use std::sync::Arc;

use super::client::{self, Client};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use super::{Lane, Runner, SetupError, redact_url, shown_url};
use crate::check::http::{self as check, Check, Response};
use crate::check::{Graded, Interrupt};
use crate::config::{Target, Var};
use crate::outcome::{ErrorKind, Finding, Outcome, RunError, RunResult};
use crate::plan::Series;
use crate::probe::http::{Discover, Exchange, Http, HttpRequest, OnRedirect, is_builtin};
use crate::probe::template::TemplateError;
use crate::probe::{Kind, Probe, Template};

/// Most requests one run may make after expanding list variables (checked at load time too).
pub use crate::probe::MAX_REQUESTS_PER_RUN;
pub use crate::probe::http::MAX_REDIRECTS;

/// Most paths one exchange adds by `discover:`.
pub const MAX_DISCOVERED: usize = 16;

/// What the responses of one run have concluded so far.
#[derive(Default)]
struct Tally {
    findings: Vec<Finding>,
    undecided: Vec<String>,
    /// Why a response was not judged (the first such), for a run that found nothing else.
    skipped: Option<String>,
    /// What responses judged by `software` checks named.
    software: Vec<crate::software::identify::Identified>,
}

/// Runs an HTTP probe's exchanges in order, one request per expanded path (and per path that
/// `discover:` found), and evaluates each exchange's checks on its responses.
pub(super) async fn execute(
    runner: &Runner,
    series: &Series,
    spec: &Http,
    lane: &Lane<'_>,
    result: &mut RunResult,
) -> Outcome {
    let target = &series.target;
    let request_error = |message| {
        Outcome::Error(RunError {
            kind: ErrorKind::Request,
            message,
        })
    };
    // One canary per run: every request and every check of the run sees the same value.
    let canary = crate::probe::template::new_canary();
    let mut planned = Vec::new();
    for (index, exchange) in spec.exchanges.iter().enumerate() {
        let base = match base_url(&exchange.request, target) {
            Ok(base) => base,
            Err(e) => return request_error(e.to_string()),
        };
        let checks = match crate::check::canary::bind_random(&exchange.checks, &canary) {
            Cow::Borrowed(_) => RunChecks::Probe {
                probe: series.probe.clone(),
                exchange: index,
            },
            Cow::Owned(bound) => RunChecks::Bound(bound.into()),
        };
        match expand_paths(&exchange.request.paths, target, &canary) {
            Ok(paths) => planned.push((exchange, checks, base, paths)),
            Err(e) => return request_error(e.to_string()),
        }
    }
    let sent: usize = planned.iter().map(|(_, _, _, p)| p.len()).sum();
    // Load refuses such a probe; this is the last line of defence, before anything is sent.
    if sent > MAX_REQUESTS_PER_RUN {
        return request_error(format!(
            "the probe's {} request blocks would send {sent} requests; one run sends at most \
             {MAX_REQUESTS_PER_RUN}",
            planned.len()
        ));
    }
    let mut room = MAX_REQUESTS_PER_RUN.saturating_sub(sent);
    let many = sent > 1
        || planned
            .iter()
            .any(|(e, _, _, _)| e.request.discover.is_some());
    let max_body_bytes = spec.max_body_bytes.unwrap_or(runner.max_body_bytes);
    let mut tally = Tally::default();
    let mut first = true;
    for (exchange, checks, base, mut paths) in planned {
        let mut i = 0;
        while i < paths.len() {
            let sent = Sent {
                series,
                exchange,
                checks: &checks,
                canary: &canary,
                lane,
                base: &base,
                max_body_bytes,
            };
            let (found, response) = match run_path(
                &sent,
                &paths[i],
                many,
                &mut tally,
                (runner, result, &mut first),
            )
            .await
            {
                Ok(done) => done,
                Err(e) => return Outcome::Error(e),
            };
            if i == 0 && exchange.request.discover == Some(Discover::Directories) {
                let page = match discovery_page(&sent, response).await {
                    Ok(page) => page,
                    Err(e) => return Outcome::Error(e),
                };
                let found = directories(&page, &base, &paths, room.min(MAX_DISCOVERED));
                room -= found.len();
                paths.extend(found);
            }
            if found && exchange.stop_at_first_finding {
                break;
            }
            i += 1;
        }
    }
    runner.record_software(&tally.software, result);
    decide(tally, max_body_bytes)
}

/// The checks of one exchange, owned so that they can be evaluated on another thread: the
/// probe's own (shared, not copied), or a copy bound to the run's canary.
#[derive(Clone)]
enum RunChecks {
    /// Those of `probe`'s exchange number `exchange`.
    Probe { probe: Arc<Probe>, exchange: usize },
    /// Checks with `{{random}}` bound to this run's canary.
    Bound(Arc<[Graded<Check>]>),
}

impl RunChecks {
    fn get(&self) -> &[Graded<Check>] {
        match self {
            RunChecks::Probe { probe, exchange } => match &probe.kind {
                Kind::Http(http) => http.exchanges.get(*exchange).map_or(&[], |e| &e.checks),
                Kind::Tcp(_) | Kind::Tls(_) => &[],
            },
            RunChecks::Bound(checks) => checks,
        }
    }
}

/// The largest body whose checks are evaluated on the async worker that read it, whatever
/// they are: every check is linear in the body (regexes by automaton, words by Aho-Corasick),
/// so at this size even a template of a thousand patterns stays near a millisecond.
const INLINE_EVALUATION_BYTES: usize = 1024;

/// Evaluates checks that read a body over [`INLINE_EVALUATION_BYTES`] on a blocking thread,
/// at most as many at once as the runner's evaluation permits: a body of megabytes against
/// many words or regexes is CPU work that must not hold an async worker (the API, the
/// scheduler and every other run share them), and that the run's timeout must be able to
/// abandon. When the run stops waiting (its timeout fired and
/// dropped this future), the evaluation is told to stop and gives up within one step.
async fn evaluate_off_worker(
    runner: &Runner,
    checks: RunChecks,
    response: Response,
) -> Result<(check::Evaluation, Response), RunError> {
    struct StopOnDrop(Interrupt);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.set();
        }
    }
    let failed = |what: &str| RunError {
        kind: ErrorKind::Request,
        message: format!("checks could not be evaluated: {what}"),
    };
    // Checks of the status and headers alone, or of a small body, are evaluated where the
    // response was read: they take microseconds, less than the two thread wake-ups that
    // handing them to a blocking thread and back would cost.
    if response.body.len() <= INLINE_EVALUATION_BYTES
        || !checks.get().iter().any(|g| g.check.reads_body())
    {
        let evaluation = check::evaluate_until(
            checks.get(),
            &response,
            &runner.redactor,
            &runner.software,
            &Interrupt::new(),
        );
        return match evaluation {
            Some(evaluation) => Ok((evaluation, response)),
            None => Err(failed("evaluation was interrupted")),
        };
    }
    let permit = runner
        .evaluators
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| failed("the runner is shutting down"))?;
    let stop = StopOnDrop(Interrupt::new());
    let interrupt = stop.0.clone();
    let redactor = runner.redactor.clone();
    let software = Arc::clone(&runner.software);
    let evaluated = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let evaluation =
            check::evaluate_until(checks.get(), &response, &redactor, &software, &interrupt);
        (evaluation, response)
    })
    .await
    .map_err(|_| failed("evaluation panicked"))?;
    drop(stop);
    match evaluated {
        (Some(evaluation), response) => Ok((evaluation, response)),
        // Only set once this future is dropped, which ends the wait above first.
        (None, _) => Err(failed("evaluation was interrupted")),
    }
}

/// One exchange of a run, and where and how it sends.
struct Sent<'a> {
    series: &'a Series,
    exchange: &'a Exchange,
    /// The exchange's checks, bound to the run's canary.
    checks: &'a RunChecks,
    canary: &'a str,
    lane: &'a Lane<'a>,
    /// The URL paths are appended to: the target's, or its plain-HTTP twin.
    base: &'a Url,
    max_body_bytes: u64,
}

/// Sends one expanded path of an exchange and evaluates its checks: whether it found anything,
/// and the response.
async fn run_path(
    sent: &Sent<'_>,
    path: &str,
    many: bool,
    tally: &mut Tally,
    (runner, result, first): (&Runner, &mut RunResult, &mut bool),
) -> Result<(bool, Response), RunError> {
    let exchange = sent.exchange;
    let url = join(sent.base, path).map_err(|e| RunError {
        kind: ErrorKind::Request,
        message: e.to_string(),
    })?;
    if std::mem::take(first) {
        result.url = redact_url(&url, &runner.redactor);
    }
    let follow = exchange.request.follow_redirects;
    let response = exchange_one(sent, url, follow).await?;
    result.status = Some(response.status.as_u16());
    // The request in words, the same from run to run: percent-escapes decoded and the run's
    // canary named (`GET /?next=https://picket-<random>.invalid/`). Only a run of many
    // requests names them (a string made per run otherwise for nothing).
    let label = many.then(|| {
        percent_encoding::percent_decode_str(&path.replace(sent.canary, "<random>"))
            .decode_utf8_lossy()
            .into_owned()
    });
    let name = |check: String| match &label {
        Some(label) => format!("{} {label}: {check}", exchange.request.method),
        None => check,
    };
    if exchange.request.on_redirect == OnRedirect::Skip
        && let Some(to) = response
            .redirect_target()
            .filter(|to| !same_origin(to, sent.base))
    {
        let reason = format!("redirects to {}; probe that target", shown_url(&to));
        tally.skipped.get_or_insert_with(|| name(reason));
        return Ok((false, response));
    }
    let (evaluation, response) = evaluate_off_worker(runner, sent.checks.clone(), response).await?;
    if tally.software.len() < crate::software::identify::MAX_IDENTIFIED
        && sent
            .checks
            .get()
            .iter()
            .any(|g| matches!(g.check, Check::Software(_)))
    {
        tally.software.extend(check::identify_response(&response));
    }
    let found = !evaluation.findings.is_empty();
    for mut f in evaluation.findings {
        f.check = name(f.check);
        tally.findings.push(f);
    }
    tally
        .undecided
        .extend(evaluation.undecided.into_iter().map(name));
    Ok((found, response))
}

/// The page `discover:` reads links from: the first path's response, or, when that is a
/// redirect within the origin the exchange did not follow, the page it leads to.
async fn discovery_page(sent: &Sent<'_>, response: Response) -> Result<Response, RunError> {
    match response
        .redirect_target()
        .filter(|to| same_origin(to, sent.base))
    {
        Some(to) if !sent.exchange.request.follow_redirects => exchange_one(sent, to, true).await,
        _ => Ok(response),
    }
}

/// The directories of the same-origin links (`href`) and scripts (`src`) of an HTML page, and
/// their parents, as paths relative to `base` (the part of the URL path under the target's),
/// in order of first appearance, without `known` ones, at most `room`. Each passes the same
/// containment rule as a probe's own paths.
fn directories(page: &Response, base: &Url, known: &[String], room: usize) -> Vec<String> {
    static LINK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+))"#)
            .expect("a constant pattern compiles")
    });
    let mut found: Vec<String> = Vec::new();
    if room == 0 {
        return found;
    }
    let body = String::from_utf8_lossy(&page.body);
    let prefix = base.path().trim_end_matches('/');
    for link in LINK.captures_iter(&body) {
        let Some(raw) = link.get(1).or_else(|| link.get(2)).or_else(|| link.get(3)) else {
            continue;
        };
        let Ok(url) = page.url.join(raw.as_str().trim()) else {
            continue;
        };
        if !same_origin(&url, base) {
            continue;
        }
        let Some(rest) = url.path().strip_prefix(prefix) else {
            continue;
        };
        // `rest` is the path under the target URL: `/static/js/app.js` gives `/static/` and
        // `/static/js/`.
        let segments: Vec<&str> = rest.split('/').collect();
        for depth in 2..segments.len() {
            let dir = format!("{}/", segments[..depth].join("/"));
            if crate::probe::stays_on_target(&dir).is_err()
                || dir.contains("//")
                || known.contains(&dir)
                || found.contains(&dir)
            {
                continue;
            }
            found.push(dir);
            if found.len() == room {
                return found;
            }
        }
    }
    found
}

/// Sends one request, following same-origin redirects when `follow`, and reads the body.
async fn exchange_one(sent: &Sent<'_>, url: Url, follow: bool) -> Result<Response, RunError> {
    let target = &sent.series.target;
    let request = &sent.exchange.request;
    let origin = sent.base;
    let headers = request_headers(
        request,
        target,
        sent.canary,
        same_origin(origin, &target.url),
    )
    .map_err(|e| RunError {
        kind: ErrorKind::Request,
        message: e.to_string(),
    })?;
    let body = match &request.body {
        Some(t) => Some(
            with_target(t, &target.url)
                .render(&target.vars, sent.canary)
                .map_err(|e| RunError {
                    kind: ErrorKind::Request,
                    message: e.to_string(),
                })?,
        ),
        None => None,
    };

    let mut method = request.method.clone();
    let mut body = body;
    let mut url = url;
    // The response time is the exchange's own: rate-limit waits between hops are not in it.
    let start = Instant::now();
    let waited_before = sent.lane.waited();
    for _hop in 0..=MAX_REDIRECTS {
        if !same_origin(&url, origin) {
            // Unreachable by construction; kept as the last line of defence.
            return Err(RunError {
                kind: ErrorKind::Request,
                message: "refused to send a request outside the target".into(),
            });
        }
        sent.lane.pace().await;
        let response = sent
            .lane
            .client
            .send(method.clone(), &url, &headers, body.as_deref())
            .await
            .map_err(|e| e.to_run_error())?;
        let (head, mut incoming) = response.into_parts();
        let status = head.status;
        let location = head
            .headers
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        if follow
            && status.is_redirection()
            && let Some(next) = location.filter(|n| same_origin(n, origin))
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
        let (bytes, truncated) = client::read_capped(&mut incoming, sent.max_body_bytes)
            .await
            .map_err(|e| e.to_run_error())?;
        return Ok(Response {
            status,
            headers: head.headers,
            body: bytes,
            truncated,
            elapsed: start
                .elapsed()
                .saturating_sub(sent.lane.waited().saturating_sub(waited_before)),
            url,
        });
    }
    Err(RunError {
        kind: ErrorKind::Http,
        message: format!("more than {MAX_REDIRECTS} redirects"),
    })
}

/// Why a request could not be built for a target; a run's `error` shows the text.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    /// A `plain_http` request to a target without `vars.http_port`.
    #[error("target declares no `vars.{var}`")]
    NoPortVar { var: &'static str },
    /// `vars.http_port` that is not a port.
    #[error("`vars.{var}` is not a port number (1 to 65535)")]
    NotAPort { var: &'static str },
    /// The target's URL cannot take the `http` scheme or the port.
    #[error("cannot make a plain-HTTP URL for `{target}`")]
    PlainHttp { target: String },
    /// The target URL and the path do not make a URL.
    #[error("cannot build URL for path `{path}`: {source}")]
    Url {
        path: String,
        #[source]
        source: url::ParseError,
    },
    /// The path leads to another origin.
    #[error("path `{path}` leaves the target")]
    LeavesTarget { path: String },
    /// A path whose variables make it name another host.
    #[error("path `{template}` from target variables does not stay on the target")]
    PathOffTarget { template: String },
    /// More paths than one run sends.
    #[error("paths expand to more than {MAX_REQUESTS_PER_RUN} requests")]
    TooManyPaths,
    /// A header whose rendered value is not a valid header value.
    #[error("header `{name}` has an invalid value after expansion")]
    HeaderValue {
        name: http::HeaderName,
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    /// A template that cannot be rendered for the target.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// The URL an exchange's paths are appended to: the target's, or for a `plain_http` request to
/// an `https://` target, the same URL over `http://` on the port of `vars.http_port`.
fn base_url<'a>(request: &HttpRequest, target: &'a Target) -> Result<Cow<'a, Url>, RequestError> {
    if !request.plain_http || target.url.scheme() == "http" {
        return Ok(Cow::Borrowed(&target.url));
    }
    let var = crate::probe::http::HTTP_PORT_VAR;
    let port = match target.vars.get(var) {
        Some(Var::One(v)) => v.expose().trim().parse::<u16>().ok().filter(|p| *p > 0),
        Some(Var::List(_)) => None,
        None => return Err(RequestError::NoPortVar { var }),
    }
    .ok_or(RequestError::NotAPort { var })?;
    let mut url = target.url.clone();
    url.set_scheme("http")
        .and_then(|()| url.set_port(Some(port)))
        .map_err(|()| RequestError::PlainHttp {
            target: target.name.clone(),
        })?;
    Ok(Cow::Owned(url))
}

/// The outcome of a run from its checks: a definite finding fails the run whatever else is
/// open; otherwise a check that a truncated body left undecided makes it an `error`, since
/// passing on a prefix would hide what the rest of the body holds; otherwise a response that
/// was not judged (a redirect to another origin, for a probe that skips those) makes it a
/// `skip`, since a pass would claim what was never looked at.
fn decide(tally: Tally, max_body_bytes: u64) -> Outcome {
    let Tally {
        findings,
        undecided,
        skipped,
        software: _,
    } = tally;
    if !findings.is_empty() {
        Outcome::Fail(findings)
    } else if !undecided.is_empty() {
        Outcome::Error(RunError {
            kind: ErrorKind::BodyTooLarge,
            message: format!(
                "response body exceeded max_body_bytes ({max_body_bytes} bytes); \
                 could not decide on the part read: {}",
                undecided.join("; ")
            ),
        })
    } else if let Some(reason) = skipped {
        Outcome::Skip(reason)
    } else {
        Outcome::Pass
    }
}

/// An HTTP client for targets with `target`'s CA file: no proxies, no redirects of its own,
/// at most `max_idle` idle connections kept per origin, at most `caps` allows open to each
/// server, names resolved by `resolver` under the containment rule.
pub(super) fn client(
    target: &Target,
    max_idle: usize,
    caps: client::Caps,
    resolver: std::sync::Arc<dyn super::net::Resolve>,
) -> Result<Client, SetupError> {
    let tls = if let Some(path) = &target.ca_file {
        let ca_error = |detail: String| SetupError::CaFile {
            target: target.name.clone(),
            path: path.display().to_string(),
            detail,
        };
        // A CA bundle is a regular file of a few hundred KiB; a FIFO or device put in its
        // place must not block or swell a reload.
        let pem = crate::files::read_regular(path, crate::files::MAX_FILE_BYTES)
            .map_err(|e| ca_error(e.to_string()))?;
        if !pem_has_certificate(&pem).map_err(ca_error)? {
            return Err(ca_error("no certificates in file".into()));
        }
        // The same trust as the tls probes: system anchors plus the file, and a self-signed
        // server certificate given in the file trusted as itself.
        crate::tls_scan::cert::http_client_config(Some(path))
            .map_err(|e| ca_error(e.to_string()))?
    } else {
        // The system anchors as the tls probes take them (CA certificates only), not a
        // platform verifier, which would trust every file of /etc/ssl/certs.
        crate::tls_scan::cert::http_client_config(None).map_err(|e| SetupError::Client {
            target: target.name.clone(),
            detail: e.to_string(),
        })?
    };
    Ok(Client::new(tls, max_idle, caps, resolver))
}

/// Whether a PEM bundle holds a certificate, or why it cannot be read.
fn pem_has_certificate(pem: &[u8]) -> Result<bool, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut any = false;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| e.to_string())?;
        any = true;
    }
    Ok(any)
}

/// Whether two URLs have the same origin (scheme, host and port), as [`Url::origin`] compares
/// them, without building the two origins (each a copy of the host) at every request. A URL of
/// another scheme (`data:`, `javascript:`) has an opaque origin, the same as no other.
fn same_origin(a: &Url, b: &Url) -> bool {
    matches!(a.scheme(), "http" | "https")
        && a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The URL for a request: the target URL's path followed by the probe's path.
fn join(base: &Url, path: &str) -> Result<Url, RequestError> {
    // The common case, a plain absolute path (with a query): set on a copy of the base, which
    // keeps its already-parsed host instead of parsing the whole URL again.
    if path.starts_with('/') && !path.contains(['#', '\\']) && !path.starts_with("//") {
        let (path_part, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = base.clone();
        let prefix = base.path().trim_end_matches('/');
        if prefix.is_empty() {
            url.set_path(path_part);
        } else {
            url.set_path(&format!("{prefix}{path_part}"));
        }
        url.set_query(query);
        url.set_fragment(None);
        return Ok(url);
    }
    let mut text = base.as_str().trim_end_matches('/').to_string();
    text.push_str(path);
    let url = Url::parse(&text).map_err(|source| RequestError::Url {
        path: path.into(),
        source,
    })?;
    if !same_origin(&url, base) {
        return Err(RequestError::LeavesTarget { path: path.into() });
    }
    Ok(url)
}

/// Expands path templates: each list variable yields one path per item; `{{random}}` is the
/// run's canary.
fn expand_paths(
    templates: &[Template],
    target: &Target,
    canary: &str,
) -> Result<Vec<String>, RequestError> {
    let mut out = Vec::new();
    for t in templates {
        let partial =
            with_target(t, &target.url).expand(&target.vars, canary, MAX_REQUESTS_PER_RUN)?;
        for p in &partial {
            if crate::probe::stays_on_target(p).is_err() {
                return Err(RequestError::PathOffTarget {
                    template: t.text.clone(),
                });
            }
        }
        out.extend(partial);
    }
    if out.len() > MAX_REQUESTS_PER_RUN {
        return Err(RequestError::TooManyPaths);
    }
    Ok(out)
}

/// The template with the target's own placeholders (`{{vars.@host}}` …, which nuclei
/// templates use) filled in from its URL; the rest is rendered by [`Template`].
fn with_target<'a>(template: &'a Template, url: &Url) -> Cow<'a, Template> {
    if !template.vars.iter().any(|n| is_builtin(n)) {
        return Cow::Borrowed(template);
    }
    let mut text = template.text.clone();
    for name in template.vars.iter().filter(|n| is_builtin(n)) {
        let value = builtin(name, url).unwrap_or_default();
        text = text.replacen(&format!("{{{{vars.{name}}}}}"), &value, 1);
    }
    let vars = template
        .vars
        .iter()
        .filter(|n| !is_builtin(n))
        .cloned()
        .collect();
    Cow::Owned(Template::translated(text, vars))
}

/// The value of a placeholder taken from the target's URL (see
/// [`crate::probe::http::is_builtin`]).
fn builtin(name: &str, url: &Url) -> Option<String> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    let with_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    Some(match name {
        "@base" => url.as_str().trim_end_matches('/').to_string(),
        "@root" => format!("{}://{with_port}", url.scheme()),
        "@host" => with_port,
        "@hostname" => host.to_string(),
        "@port" => port.to_string(),
        "@scheme" => url.scheme().to_string(),
        "@up" => "/..".repeat(
            url.path_segments()
                .map_or(0, |s| s.filter(|s| !s.is_empty()).count()),
        ),
        _ => return None,
    })
}

/// Request headers: the target's (when the probe uses target auth and the request goes to the
/// target's own origin), then the probe's own.
fn request_headers(
    http: &HttpRequest,
    target: &Target,
    canary: &str,
    own_origin: bool,
) -> Result<HeaderMap, RequestError> {
    let mut headers = HeaderMap::new();
    if http.use_target_auth && own_origin {
        for (name, value) in &target.headers {
            headers.insert(name.clone(), value.expose().clone());
        }
    }
    for (name, template) in &http.headers {
        let text = with_target(template, &target.url).render(&target.vars, canary)?;
        let mut value =
            HeaderValue::from_str(&text).map_err(|source| RequestError::HeaderValue {
                name: name.clone(),
                source,
            })?;
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
    use std::time::Duration;

    #[test]
    fn same_origin_agrees_with_the_url_crates_origin() {
        let urls = [
            "http://a.example/",
            "http://a.example:80/x",
            "http://A.EXAMPLE/y?q",
            "https://a.example/",
            "https://a.example:443/",
            "https://a.example:8443/",
            "http://127.0.0.1/",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080/",
            "http://[0:0:0:0:0:0:0:1]:8080/z",
            "http://b.example/",
            "data:text/html,hi",
            "javascript:alert(1)",
        ];
        for a in urls {
            for b in urls {
                let (ua, ub) = (Url::parse(a).unwrap(), Url::parse(b).unwrap());
                assert_eq!(
                    same_origin(&ua, &ub),
                    ua.origin() == ub.origin(),
                    "{a} vs {b}"
                );
            }
        }
    }

    fn page(url: &str, body: &str) -> Response {
        Response {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            truncated: false,
            elapsed: Duration::ZERO,
            url: Url::parse(url).unwrap(),
        }
    }

    #[test]
    fn discovered_directories_stay_on_the_target_and_are_capped() {
        let body = r##"<a href="/files/report.pdf">r</a> <script src='/static/js/app.js'></script>
            <img src=img/logo.png> <a href="https://127.0.0.1:8080/docs/">d</a>
            <a href="http://127.0.0.1:9999/other/x">port</a> <a href="//evil.example/x/y">e</a>
            <a href="https://127.0.0.1:8080/files/again.txt">dup</a> <a href="javascript:x()">j</a>
            <a href="/a/../b/c.txt">dots</a> <a href="?q=1">q</a> <a href="#top">t</a>"##;
        let base = Url::parse("https://127.0.0.1:8080/").unwrap();
        let r = page("https://127.0.0.1:8080/home/", body);
        let found = directories(&r, &base, &["/".to_string()], 16);
        assert_eq!(
            found,
            [
                "/files/",
                "/static/",
                "/static/js/",
                "/home/",
                "/home/img/",
                "/docs/",
                "/b/"
            ]
        );
        assert_eq!(directories(&r, &base, &[], 2), ["/files/", "/static/"]);
        assert!(directories(&r, &base, &[], 0).is_empty());
        // Known paths are not requested twice.
        assert!(!directories(&r, &base, &["/files/".into()], 16).contains(&"/files/".into()));
        // Under a target URL with a path, links outside it are not the target's.
        let api = Url::parse("https://127.0.0.1:8080/app").unwrap();
        let r = page(
            "https://127.0.0.1:8080/app/",
            r#"<a href="/app/assets/x.css"></a><a href="/admin/y">"#,
        );
        assert_eq!(directories(&r, &api, &[], 16), ["/assets/"]);
    }

    /// The prefix of the folders [`target`] writes its config in.
    const TEMP_PREFIX: &str = "picket-base-url-";

    fn target(url: &str, vars: &str) -> Target {
        let yaml = format!("targets:\n  - name: web\n    url: {url}\n    vars: {{{vars}}}\n");
        // Removed when dropped, at the end of this function.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let path = dir.path().join("picket.yaml");
        std::fs::write(&path, yaml).unwrap();
        let loaded = crate::load::load(&path, &|_: &str| None).unwrap();
        loaded.config.targets[0].clone()
    }

    /// The folders [`target`] made in this process and left behind.
    fn left_behind() -> Vec<std::path::PathBuf> {
        let mine = format!("{TEMP_PREFIX}{}-", std::process::id());
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&mine))
            .map(|e| e.path())
            .collect()
    }

    #[test]
    fn plain_http_goes_to_the_http_port_of_an_https_target() {
        let mut request = HttpRequest {
            method: Method::GET,
            paths: vec![],
            path_pos: vec![],
            headers: vec![],
            body: None,
            follow_redirects: false,
            use_target_auth: false,
            on_redirect: OnRedirect::Evaluate,
            plain_http: true,
            discover: None,
        };
        let https = target("https://127.0.0.1:8443/api", "http_port: \"8080\"");
        assert_eq!(
            base_url(&request, &https).unwrap().as_str(),
            "http://127.0.0.1:8080/api"
        );
        let http = target("http://127.0.0.1:8080", "");
        assert_eq!(*base_url(&request, &http).unwrap(), http.url);
        let bad = target("https://127.0.0.1:8443", "http_port: \"http\"");
        assert!(base_url(&request, &bad).is_err());
        assert!(base_url(&request, &target("https://127.0.0.1:8443", "")).is_err());
        request.plain_http = false;
        assert_eq!(*base_url(&request, &https).unwrap(), https.url);
        // Every `cargo test` used to leave a folder per target in /tmp.
        assert_eq!(left_behind(), Vec::<std::path::PathBuf>::new());
    }

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
        // The fast path and a full parse agree.
        let query = Url::parse("http://127.0.0.1:8080/?token=1").unwrap();
        for (base, path) in [
            (&base, "/a b/%2e%2e/c?x=1 2&y"),
            (&root, "/ünï/?q=ä"),
            (&query, "/p"),
            (&root, "/p?"),
            (&base, "/"),
        ] {
            let mut text = base.as_str().trim_end_matches('/').to_string();
            if base.query().is_some() {
                text = format!(
                    "{}{}",
                    base.origin().ascii_serialization(),
                    base.path().trim_end_matches('/')
                );
            }
            text.push_str(path);
            assert_eq!(
                join(base, path).unwrap().as_str(),
                Url::parse(&text).unwrap().as_str(),
                "{base} + {path}"
            );
        }
    }
}
