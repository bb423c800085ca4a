//! The `http` probe kind: its validated request ([`HttpRequest`]) and the kind as the runner
//! sees it ([`Http`]: the request, its checks and its body cap). The runner for it is
//! `run/http.rs`; its checks are evaluated by `check`.

pub(super) mod checks;

use std::collections::{BTreeMap, BTreeSet};

use ::http::{HeaderName, HeaderValue, Method};
use serde_saphyr::Spanned;

use super::{Compiling, MAX_REQUESTS_PER_RUN, OverCap, Template, raw, stays_on_target};
use crate::check::Graded;
use crate::check::http::Check;
use crate::config::{Target, Var};
use crate::diag::{Diagnostic, Pos};

/// Most redirects followed within one request (same-origin only, where a probe allows
/// redirects at all).
pub const MAX_REDIRECTS: usize = 10;

/// An `http` probe: what it sends and what must hold of the answers.
#[derive(Debug, Clone)]
pub struct Http {
    /// The exchanges, in order: a picket probe has one; a nuclei template one per request
    /// block.
    pub exchanges: Vec<Exchange>,
    /// The probe's own `max_body_bytes`, over the config's.
    pub max_body_bytes: Option<u64>,
}

/// One request description and the checks every response to it must pass.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request (one or more paths).
    pub request: HttpRequest,
    /// The checks.
    pub checks: Vec<Graded<Check>>,
    /// Send no more of this exchange's paths once a response fails a check (nuclei's
    /// `stop-at-first-match`).
    pub stop_at_first_finding: bool,
}

impl Http {
    /// Every variable the requests need of `target` (its optional ones not; `http_port` for a
    /// plain-HTTP request to an `https://` target).
    pub fn vars_for(&self, target: &Target) -> BTreeSet<&str> {
        self.exchanges
            .iter()
            .flat_map(|e| {
                let plain = e.request.plain_http && target.url.scheme() == "https";
                e.request
                    .vars()
                    .into_iter()
                    .chain(plain.then_some(HTTP_PORT_VAR))
            })
            .collect()
    }

    /// Where one run against a target with these `vars` crosses [`MAX_REQUESTS_PER_RUN`]:
    /// each path sends one request per combination of its list variables' items.
    pub fn over_request_cap(&self, vars: &BTreeMap<String, Var>) -> Option<OverCap<'_>> {
        let mut counts = Vec::new();
        for e in &self.exchanges {
            counts.extend(e.request.request_counts(vars)?);
        }
        let mut total: usize = 0;
        let crossing = counts.iter().position(|n| {
            total = total.saturating_add(*n);
            total > MAX_REQUESTS_PER_RUN
        })?;
        let (at, pos) = self
            .exchanges
            .iter()
            .flat_map(|e| {
                let r = &e.request;
                r.paths
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t, r.path_pos.get(i).copied().unwrap_or(Pos::START)))
            })
            .nth(crossing)?;
        Some(OverCap {
            requests: counts.iter().fold(0usize, |a, n| a.saturating_add(*n)),
            at,
            pos,
        })
    }
}

/// The target URL schemes an `http` probe runs on.
pub fn runs_on(scheme: &str) -> bool {
    matches!(scheme, "http" | "https")
}

/// Validates an `http:` block and the probe's checks as http checks.
pub(super) fn compile(
    ctx: &mut Compiling<'_>,
    raw: &Spanned<raw::Http>,
    checks: &[Spanned<raw::Check>],
    max_body_bytes: Option<u64>,
) -> Option<Http> {
    let request = compile_request(ctx, raw);
    let checks = compile_checks(ctx, checks);
    request.map(|request| Http {
        exchanges: vec![Exchange {
            request,
            checks,
            stop_at_first_finding: false,
        }],
        max_body_bytes,
    })
}

/// The probe's checks as http checks (each problem reported).
pub(super) fn compile_checks(
    ctx: &mut Compiling<'_>,
    checks: &[Spanned<raw::Check>],
) -> Vec<Graded<Check>> {
    checks
        .iter()
        .filter_map(|c| checks::compile_check(ctx, c).map(|check| super::graded(c, check)))
        .collect()
}

/// The target variable that names an `https://` target's plain-HTTP port (`plain_http`).
pub const HTTP_PORT_VAR: &str = "http_port";

/// What a response that redirects to another origin is to the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedirect {
    /// The redirect is judged like any response.
    Evaluate,
    /// The run is skipped: the redirect is not the page.
    Skip,
}

/// What an exchange finds on its first page and requests too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discover {
    /// The directories of same-origin links and scripts.
    Directories,
}

/// A validated HTTP request description.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Path templates; each expands to one or more requests.
    pub paths: Vec<Template>,
    /// Where each path template is written, for errors about it.
    pub path_pos: Vec<Pos>,
    /// Request headers (values may hold placeholders).
    pub headers: Vec<(HeaderName, Template)>,
    /// Body (may hold placeholders).
    pub body: Option<Template>,
    /// Follow same-origin redirects.
    pub follow_redirects: bool,
    /// Send the target's configured headers.
    pub use_target_auth: bool,
    /// What a redirect to another origin is.
    pub on_redirect: OnRedirect,
    /// Send over plain HTTP (an `https://` target's `vars.http_port`).
    pub plain_http: bool,
    /// Paths found on the first path's page, requested too.
    pub discover: Option<Discover>,
}

impl HttpRequest {
    /// How many requests one run sends to a target with these `vars`, path by path (list
    /// variables expand to one request per item, and per combination when a path uses
    /// several; a missing optional variable to none). `None` when a required variable is
    /// missing: that series is skipped, not run. Discovered paths are not counted: the runner
    /// adds them only within the cap.
    pub fn request_counts(&self, vars: &BTreeMap<String, Var>) -> Option<Vec<usize>> {
        self.paths
            .iter()
            .map(|t| {
                let optional = t.optional();
                t.vars
                    .iter()
                    .filter(|n| !is_builtin(n))
                    .try_fold(1usize, |n, name| {
                        let items = match vars.get(name) {
                            None if optional.contains(name.as_str()) => 0,
                            None => return None,
                            Some(Var::One(_)) => 1,
                            Some(Var::List(items)) => items.len(),
                        };
                        Some(n.saturating_mul(items))
                    })
            })
            .collect()
    }

    /// Every variable name the request requires (optional ones not).
    pub fn vars(&self) -> BTreeSet<&str> {
        self.paths
            .iter()
            .chain(self.headers.iter().map(|(_, t)| t))
            .chain(self.body.iter())
            .flat_map(Template::required)
            .filter(|n| !is_builtin(n))
            .collect()
    }
}

/// Placeholders the runner fills from the target's own URL rather than its `vars` (they come
/// from nuclei templates; a config variable can never be named so, as names have no `@`):
/// `@base` (the URL), `@root` (scheme, host and port), `@host` (host and port, as the Host
/// header), `@hostname`, `@port`, `@scheme`, and `@up`, which climbs from the URL's path to
/// the root (`/..` per segment) so that a path after it is root-relative.
pub fn is_builtin(name: &str) -> bool {
    name.starts_with('@')
}

pub(super) fn check_path(path: &str) -> Result<(), (String, &'static str)> {
    let hint = "paths are relative to the target URL and start with `/`, e.g. `/.git/config`";
    // The canary is letters and digits: a path that starts with it cannot start with `/`.
    if path
        .strip_prefix("{{")
        .is_some_and(|rest| rest.trim_start().starts_with("random"))
    {
        return Err((format!("path `{path}` must start with `/`"), hint));
    }
    // A path that starts with a placeholder is checked again after expansion, in the runner.
    if !path.starts_with("{{") {
        stays_on_target(path).map_err(|e| (e.to_string(), hint))?;
    }
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err((
            format!(
                "path `{}` contains spaces or control characters",
                path.escape_debug()
            ),
            "percent-encode them, e.g. `%20`",
        ));
    }
    if path.contains('#') {
        return Err((format!("path `{path}` contains a fragment (`#`)"), hint));
    }
    Ok(())
}

pub(super) fn compile_request(
    ctx: &mut Compiling<'_>,
    raw: &Spanned<raw::Http>,
) -> Option<HttpRequest> {
    let before = ctx.diags.len();
    let http = &raw.value;
    let method = match &http.method {
        None => Method::GET,
        Some(m) => match Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
            Ok(method) => method,
            Err(_) => {
                ctx.err(m, format!("invalid HTTP method `{}`", m.value));
                Method::GET
            }
        },
    };
    let raw_paths: Vec<&Spanned<String>> = match (&http.path, &http.paths) {
        (Some(_), Some(paths)) => {
            let at = paths.first().map_or_else(|| Pos::START, Compiling::pos);
            ctx.diags.push(
                Diagnostic::new(ctx.file, at, "a request takes `path` or `paths`, not both")
                    .with_hint("use `paths: [...]` for several paths"),
            );
            vec![]
        }
        (Some(p), None) => vec![p],
        (None, Some(paths)) if !paths.is_empty() => paths.iter().collect(),
        (None, _) => {
            ctx.err_hint(raw, "request has no `path`", "add e.g. `path: /`");
            vec![]
        }
    };
    if let Some(extra) = raw_paths.get(MAX_REQUESTS_PER_RUN) {
        ctx.err_hint(
            extra,
            format!(
                "`paths` lists {} paths; one run sends at most {MAX_REQUESTS_PER_RUN} requests",
                raw_paths.len()
            ),
            "split the list across several probes",
        );
    }
    let mut paths = Vec::new();
    let mut path_pos = Vec::new();
    for p in raw_paths {
        if let Err((message, hint)) = check_path(&p.value) {
            ctx.err_hint(p, message, hint);
            continue;
        }
        match Template::parse(&p.value) {
            Ok(t) => {
                paths.push(t);
                path_pos.push(Compiling::pos(p));
            }
            Err(e) => ctx.err(p, e.to_string()),
        }
    }
    let mut headers = Vec::new();
    for (name, value) in &http.headers {
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            ctx.err(value, format!("invalid header name `{name}`"));
            continue;
        };
        if HeaderValue::from_str(&value.value).is_err() {
            ctx.err(value, format!("header `{name}` has an invalid value"));
            continue;
        }
        if header == http::header::HOST {
            ctx.err_hint(
                value,
                "probes may not set the `Host` header",
                "the host always comes from the target URL",
            );
            continue;
        }
        match Template::parse(&value.value) {
            Ok(t) => headers.push((header, t)),
            Err(e) => ctx.err(value, e.to_string()),
        }
    }
    let body = match http.body.as_deref() {
        None | Some("") => None,
        Some(b) => match Template::parse(b) {
            Ok(t) => Some(t),
            Err(e) => {
                ctx.err_hint(raw, format!("in `body`: {e}"), "fix the placeholder");
                None
            }
        },
    };
    let on_redirect = match &http.on_redirect {
        None => OnRedirect::Evaluate,
        Some(v) => match v.value.as_str() {
            "evaluate" => OnRedirect::Evaluate,
            "skip" => OnRedirect::Skip,
            other => {
                ctx.err_hint(
                    v,
                    format!("unknown `on_redirect` value `{other}`"),
                    "expected `evaluate` or `skip`",
                );
                OnRedirect::Evaluate
            }
        },
    };
    let discover = match &http.discover {
        None => None,
        Some(v) if v.value == "directories" => Some(Discover::Directories),
        Some(v) => {
            ctx.err_hint(
                v,
                format!("unknown `discover` value `{}`", v.value),
                "expected `directories`",
            );
            None
        }
    };
    let plain_http = http.plain_http.unwrap_or(false);
    (ctx.diags.len() == before).then_some(HttpRequest {
        method,
        paths,
        path_pos,
        headers,
        body,
        follow_redirects: http.follow_redirects.unwrap_or(false),
        // A target's credentials never travel over plain HTTP to another port.
        use_target_auth: http.use_target_auth.unwrap_or(true) && !plain_http,
        on_redirect,
        plain_http,
        discover,
    })
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn paths_must_stay_on_target() {
        assert!(check_path("/").is_ok());
        assert!(check_path("/a/b?x=1").is_ok());
        assert!(check_path("http://evil.example/").is_err());
        assert!(check_path("//evil.example/").is_err());
        assert!(check_path("/\\evil.example").is_err());
        assert!(check_path("admin").is_err());
        assert!(check_path("{{vars.protected_paths}}").is_ok());
        assert!(check_path("{{random}}/x").is_err());
        assert!(check_path("/x?c={{random}}").is_ok());
        assert!(check_path("/login?next=https://evil.example/").is_ok());
        assert!(check_path("/a://b?x").is_err());
        assert!(check_path("/a b").is_err());
    }
}
