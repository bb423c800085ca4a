//! The `http` kind's runner: builds each request from the probe and the target, sends it
//! only within the target's origin (following same-origin redirects when the probe allows),
//! reads the body up to its cap, and evaluates the checks.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use reqwest::Client;
use tokio::time::Instant;
use url::Url;

use super::{Lane, Runner, SetupError, redact_url};
use crate::check::Graded;
use crate::check::http::{self as check, Check, Response};
use crate::config::Target;
use crate::outcome::{ErrorKind, Finding, Outcome, RunError, RunResult};
use crate::plan::Series;
use crate::probe::Template;
use crate::probe::http::{Exchange, Http, HttpRequest, is_builtin};

/// Most requests one run may make after expanding list variables (checked at load time too).
pub use crate::probe::MAX_REQUESTS_PER_RUN;
/// Most redirects followed within one request.
pub const MAX_REDIRECTS: usize = 10;

/// Runs an HTTP probe's exchanges in order, one request per expanded path, and evaluates
/// each exchange's checks on its responses.
pub(super) async fn execute(
    runner: &Runner,
    series: &Series,
    spec: &Http,
    lane: &Lane<'_>,
    result: &mut RunResult,
) -> Outcome {
    let target = &series.target;
    // One canary per run: every request and every check of the run sees the same value.
    let canary = crate::probe::template::new_canary();
    let mut planned = Vec::new();
    for exchange in &spec.exchanges {
        match expand_paths(&exchange.request.paths, target, &canary) {
            Ok(paths) => planned.push((
                exchange,
                crate::check::canary::bind_random(&exchange.checks, &canary),
                paths,
            )),
            Err(message) => {
                return Outcome::Error(RunError {
                    kind: ErrorKind::Request,
                    message,
                });
            }
        }
    }
    let many = planned.iter().map(|(_, _, p)| p.len()).sum::<usize>() > 1;
    let max_body_bytes = spec.max_body_bytes.unwrap_or(runner.max_body_bytes);
    let mut findings = Vec::new();
    let mut undecided = Vec::new();
    let mut first = true;
    for (exchange, checks, paths) in &planned {
        for path in paths {
            let failed = run_path(
                series,
                (exchange, checks, &canary),
                lane,
                path,
                many,
                max_body_bytes,
                (&mut findings, &mut undecided),
                (runner, result, &mut first),
            )
            .await;
            match failed {
                Err(e) => return Outcome::Error(e),
                Ok(true) if exchange.stop_at_first_finding => break,
                Ok(_) => {}
            }
        }
    }
    decide(findings, &undecided, max_body_bytes)
}

/// Sends one expanded path of an exchange and evaluates its checks (bound to the run's
/// canary); whether it found anything.
#[allow(clippy::too_many_arguments)]
async fn run_path(
    series: &Series,
    (exchange, checks, canary): (&Exchange, &[Graded<Check>], &str),
    lane: &Lane<'_>,
    path: &str,
    many: bool,
    max_body_bytes: u64,
    (findings, undecided): (&mut Vec<Finding>, &mut Vec<String>),
    (runner, result, first): (&Runner, &mut RunResult, &mut bool),
) -> Result<bool, RunError> {
    let target = &series.target;
    let url = join(&target.url, path).map_err(|message| RunError {
        kind: ErrorKind::Request,
        message,
    })?;
    if std::mem::take(first) {
        result.url = redact_url(&url, &runner.redactor);
    }
    let response =
        exchange_one(series, &exchange.request, lane, url, max_body_bytes, canary).await?;
    result.status = Some(response.status.as_u16());
    let evaluation = check::evaluate(checks, &response);
    // The request as the probe wrote it: a finding keeps its name from run to run.
    let label = path.replace(canary, "{{random}}");
    let name = |check: String| {
        if many {
            format!("{} {label}: {check}", exchange.request.method)
        } else {
            check
        }
    };
    let found = !evaluation.findings.is_empty();
    for mut f in evaluation.findings {
        f.check = name(f.check);
        findings.push(f);
    }
    undecided.extend(evaluation.undecided.into_iter().map(name));
    Ok(found)
}

/// Sends one request, following same-origin redirects when allowed, and reads the body.
async fn exchange_one(
    series: &Series,
    request: &HttpRequest,
    lane: &Lane<'_>,
    url: Url,
    max_body_bytes: u64,
    canary: &str,
) -> Result<Response, RunError> {
    let target = &series.target;
    let origin = target.url.origin();
    let headers = request_headers(request, target, canary).map_err(|message| RunError {
        kind: ErrorKind::Request,
        message,
    })?;
    let body = match &request.body {
        Some(t) => Some(
            with_target(t, &target.url)
                .render(&target.vars, canary)
                .map_err(|message| RunError {
                    kind: ErrorKind::Request,
                    message,
                })?,
        ),
        None => None,
    };

    let mut method = request.method.clone();
    let mut body = body;
    let mut url = url;
    // The response time is the exchange's own: rate-limit waits between hops are not in it.
    let start = Instant::now();
    let waited_before = lane.waited();
    for _hop in 0..=MAX_REDIRECTS {
        if url.origin() != origin {
            // Unreachable by construction; kept as the last line of defence.
            return Err(RunError {
                kind: ErrorKind::Request,
                message: "refused to send a request outside the target".into(),
            });
        }
        lane.pace().await;
        let mut sending = lane
            .client
            .request(method.clone(), url.clone())
            .headers(headers.clone());
        if let Some(b) = &body {
            sending = sending.body(b.clone());
        }
        let mut response = sending.send().await.map_err(|e| classify(&e))?;
        let status = response.status();
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        if request.follow_redirects
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
        let (bytes, truncated) = read_capped(&mut response, max_body_bytes).await?;
        return Ok(Response {
            status,
            headers: response.headers().clone(),
            body: bytes,
            truncated,
            elapsed: start
                .elapsed()
                .saturating_sub(lane.waited().saturating_sub(waited_before)),
        });
    }
    Err(RunError {
        kind: ErrorKind::Http,
        message: format!("more than {MAX_REDIRECTS} redirects"),
    })
}

/// The outcome of a run from its checks: a definite finding fails the run whatever else is
/// open; otherwise a check that a truncated body left undecided makes it an `error`, since
/// passing on a prefix would hide what the rest of the body holds.
fn decide(findings: Vec<Finding>, undecided: &[String], max_body_bytes: u64) -> Outcome {
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
    } else {
        Outcome::Pass
    }
}

/// The HTTP client of one target: no proxies, no redirects of its own, the target's CA file.
pub(super) fn client(target: &Target) -> Result<Client, SetupError> {
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
        // The same trust as the tls probes: system roots plus the file, and a self-signed
        // server certificate given in the file trusted as itself.
        let tls =
            crate::tls_scan::cert::http_client_config(path).map_err(|e| ca_error(e.to_string()))?;
        builder = builder.tls_backend_preconfigured(tls);
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

/// Expands path templates: each list variable yields one path per item; `{{random}}` is the
/// run's canary.
fn expand_paths(
    templates: &[Template],
    target: &Target,
    canary: &str,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in templates {
        let partial =
            with_target(t, &target.url).expand(&target.vars, canary, MAX_REQUESTS_PER_RUN)?;
        for p in &partial {
            if crate::probe::stays_on_target(p).is_err() {
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

/// The template with the target's own placeholders (`{{vars.@host}}` …, which nuclei
/// templates use) filled in from its URL; the rest is rendered by [`Template`].
fn with_target(template: &Template, url: &Url) -> Template {
    let mut t = template.clone();
    for name in template.vars.iter().filter(|n| is_builtin(n)) {
        let value = builtin(name, url).unwrap_or_default();
        t.text = t.text.replacen(&format!("{{{{vars.{name}}}}}"), &value, 1);
    }
    t.vars.retain(|n| !is_builtin(n));
    t
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

/// Request headers: the target's (when the probe uses target auth), then the probe's own.
fn request_headers(http: &HttpRequest, target: &Target, canary: &str) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    if http.use_target_auth {
        for (name, value) in &target.headers {
            headers.insert(name.clone(), value.expose().clone());
        }
    }
    for (name, template) in &http.headers {
        let text = with_target(template, &target.url).render(&target.vars, canary)?;
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
}
