//! Targets: the validated `targets:` entries, their names, `targets_from` files and the
//! duplicate-name check across sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue};
use serde_saphyr::Spanned;
use url::Url;

use super::values::compile_headers;
use super::{Ctx, EnvLookup, raw};
use crate::diag::Diagnostics;
use crate::redact::{Redactor, Secret};

/// A validated target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Unique name.
    pub name: String,
    /// Base URL.
    pub url: Url,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// Headers sent when a probe uses target auth.
    pub headers: Vec<(HeaderName, Secret<HeaderValue>)>,
    /// Extra CA certificates (PEM file).
    pub ca_file: Option<PathBuf>,
    /// Certificate name override.
    pub server_name: Option<String>,
    /// Variables for probes.
    pub vars: BTreeMap<String, Var>,
    /// Where the target came from.
    pub source: Source,
    /// Connect here instead of the address the URL's host resolves to, keeping the host
    /// for `Host` and TLS SNI (curl's `--connect-to`): a Service's ClusterIP.
    pub connect_to: Option<std::net::IpAddr>,
    /// The schedule of this target's series, overriding their probes' (a
    /// `picket.dev/schedule` annotation).
    pub schedule: Option<crate::units::Schedule>,
}

impl Target {
    /// A target named `name` at `url`, with nothing else set, from `source`.
    pub fn new(name: String, url: Url, source: Source) -> Target {
        Target {
            name,
            url,
            tags: BTreeSet::new(),
            headers: Vec::new(),
            ca_file: None,
            server_name: None,
            vars: BTreeMap::new(),
            source,
            connect_to: None,
            schedule: None,
        }
    }
}

/// Where a target came from, as `picket list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The config file's `targets:`.
    Static,
    /// A file under `targets_from`.
    File,
    /// `discover.kubernetes`.
    Kubernetes,
    /// `discover.http`, by its name.
    Http(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Static => f.write_str("static"),
            Source::File => f.write_str("file"),
            Source::Kubernetes => f.write_str("kubernetes"),
            Source::Http(name) => write!(f, "http:{name}"),
        }
    }
}

/// A target variable after `${env:…}` resolution.
#[derive(Debug, Clone)]
pub enum Var {
    /// One value.
    One(Secret<String>),
    /// A list of values.
    List(Vec<Secret<String>>),
}

/// The name of the ad-hoc target of `picket check --target URL`: `host:port` as the URL
/// gives them, with the scheme's port when the URL has none (`127.0.0.1:8080`, `[::1]:8443`,
/// `example.com:443`). Reports then say which service they are about, and two services on
/// one host are not confused.
pub fn adhoc_name(url: &Url) -> String {
    // `host_str` keeps the brackets of an IPv6 literal.
    let host = url.host_str().unwrap_or("target").to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Checks a target name against `[a-z0-9][a-z0-9-_.]*`.
pub fn valid_target_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Validates one target. Returns `None` when it is unusable (errors were reported).
pub(super) fn compile_target(ctx: &mut Ctx<'_>, raw: &raw::Target) -> Option<Target> {
    let mut ok = true;
    let name = raw.name.value.clone();
    if !valid_target_name(&name) {
        ctx.err_hint(
            &raw.name,
            format!("invalid target name `{name}`"),
            "names are lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit",
        );
        ok = false;
    }

    let url = ctx.resolve(&raw.url).and_then(|url| {
        if !url.expose().contains("://") {
            ctx.err_hint(
                &raw.url,
                format!(
                    "target URL `{}` has no `http://` or `https://` scheme",
                    url.shown()
                ),
                "write e.g. `https://payments.internal:8443`",
            );
            return None;
        }
        match Url::parse(url.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            // Services that do not speak HTTP: only `tcp` (and later `tls`) probes run there.
            Ok(u) if matches!(u.scheme(), "tcp" | "tls") && u.host().is_some() => {
                if u.port().is_none() {
                    ctx.err_hint(
                        &raw.url,
                        format!("a `{}://` target needs a port", u.scheme()),
                        "write e.g. `tcp://redis.internal:6379`",
                    );
                    None
                } else {
                    Some(u)
                }
            }
            Ok(u) => {
                ctx.err_hint(
                    &raw.url,
                    format!(
                        "target URL must be http, https, tcp or tls with a host, not `{}:`",
                        u.scheme()
                    ),
                    "write e.g. `https://payments.internal:8443`",
                );
                None
            }
            Err(e) => {
                ctx.err_hint(
                    &raw.url,
                    format!("invalid URL `{}`: {e}", url.shown()),
                    "write e.g. `https://payments.internal:8443`",
                );
                None
            }
        }
    });
    if let Some(u) = &url {
        if !u.username().is_empty() || u.password().is_some() {
            ctx.err_hint(
                &raw.url,
                "target URL must not carry credentials",
                "put credentials in `headers:` with `${env:NAME}`",
            );
            ok = false;
        }
        if u.query().is_some() || u.fragment().is_some() {
            ctx.err_hint(
                &raw.url,
                "target URL must not have a query or fragment",
                "probes append their own paths and queries",
            );
            ok = false;
        }
    }

    let headers = compile_headers(ctx, &raw.headers, &mut ok);

    let mut ca_file = None;
    let mut server_name = None;
    if let Some(tls) = &raw.tls {
        if let Some(ca) = &tls.value.ca_file {
            let path = PathBuf::from(&ca.value);
            if !path.is_file() {
                ctx.err_hint(
                    ca,
                    format!("CA file `{}` does not exist", ca.value),
                    "give the path of a PEM file of CA certificates",
                );
                ok = false;
            }
            ca_file = Some(path);
        }
        server_name = tls.value.server_name.as_ref().map(|s| s.value.clone());
    }

    let mut vars = BTreeMap::new();
    for (key, value) in &raw.vars {
        let var = match &value.value {
            raw::VarValue::One(scalar) => {
                let text = Spanned::new(scalar.to_text(), value.referenced, value.defined);
                ctx.resolve(&text).map(Var::One)
            }
            raw::VarValue::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    let text = Spanned::new(item.to_text(), value.referenced, value.defined);
                    out.extend(ctx.resolve(&text));
                }
                Some(Var::List(out))
            }
        };
        match var {
            Some(v) => {
                vars.insert(key.clone(), v);
            }
            None => ok = false,
        }
    }

    let tags = raw.tags.iter().map(|t| t.value.clone()).collect();
    let url = url?;
    ok.then_some(Target {
        name,
        url,
        tags,
        headers,
        ca_file,
        server_name,
        vars,
        source: Source::Static,
        connect_to: None,
        schedule: None,
    })
}

/// Validates targets from a `targets_from` file: a YAML list of targets.
pub fn compile_targets(
    file: &Path,
    raw: Vec<Spanned<raw::Target>>,
    env: EnvLookup<'_>,
    redactor: &mut Redactor,
    diags: &mut Diagnostics,
) -> Vec<Target> {
    let mut ctx = Ctx {
        at: crate::diag::At { file, diags },
        env,
        redactor,
    };
    raw.iter()
        .filter_map(|t| compile_target(&mut ctx, &t.value))
        .map(|t| Target {
            source: Source::File,
            ..t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    #[test]
    fn adhoc_targets_are_named_host_and_port() {
        let name = |u: &str| adhoc_name(&Url::parse(u).unwrap());
        assert_eq!(name("http://127.0.0.1:8080/"), "127.0.0.1:8080");
        assert_eq!(name("http://[::1]:8080"), "[::1]:8080");
        assert_eq!(name("https://Payments.Example"), "payments.example:443");
        assert_eq!(name("http://example.com/api"), "example.com:80");
    }

    #[test]
    fn target_names() {
        assert!(valid_target_name("payments-api"));
        assert!(valid_target_name("a.b_c-1"));
        assert!(!valid_target_name("Payments"));
        assert!(!valid_target_name("-x"));
        assert!(!valid_target_name(""));
    }
}
