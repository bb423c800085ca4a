//! The `discover:` section: which running sources of targets picket follows. Validated here
//! like every other section, without contacting anything (`picket validate` never does);
//! the sources themselves live in [`crate::discover`].

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use url::Url;

use super::values::compile_duration;
use super::{Ctx, first_of_name, raw, valid_name};
use crate::diag::Pos;
use crate::redact::Secret;

/// The validated `discover:` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discover {
    /// Kubernetes objects.
    pub kubernetes: Option<super::Kubernetes>,
    /// Prometheus HTTP SD endpoints.
    pub http: Vec<HttpSd>,
}

impl Discover {
    /// Whether any source is configured.
    pub fn is_empty(&self) -> bool {
        self.kubernetes.is_none() && self.http.is_empty()
    }
}

/// A validated HTTP SD endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSd {
    /// Unique name: the prefix of its targets' names.
    pub name: String,
    /// Where to GET the list (secret when it came from the environment).
    pub url: Secret<Url>,
    /// How often.
    pub refresh: Duration,
}

impl HttpSd {
    /// The default refresh.
    pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);
    /// The refresh range.
    pub const REFRESH: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(86_400);
}

/// Validates `discover:`.
pub(super) fn compile_discover(ctx: &mut Ctx<'_>, raw: &raw::Discover) -> Discover {
    let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
    let mut http = Vec::new();
    for sd in &raw.http {
        let (what, why) = ("discover.http", "the name prefixes the targets it makes");
        if !first_of_name(ctx, &mut seen, &sd.value.name, what, why) {
            continue;
        }
        if let Some(s) = compile_http_sd(ctx, &sd.value) {
            http.push(s);
        }
    }
    let kubernetes = raw
        .kubernetes
        .as_ref()
        .and_then(|k| super::kubernetes::compile(ctx.at.file, k, ctx.at.diags));
    Discover { kubernetes, http }
}

fn compile_http_sd(ctx: &mut Ctx<'_>, raw: &raw::HttpSd) -> Option<HttpSd> {
    let mut ok = true;
    let name = raw.name.value.clone();
    ok &= valid_name(ctx, &raw.name, "discover.http", "inventory");
    let url = ctx
        .resolve(&raw.url)
        .and_then(|url| match Url::parse(url.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Some(url.map(|_| u))
            }
            Ok(_) | Err(_) => {
                ctx.err_hint(
                    &raw.url,
                    "discover.http url must be an http or https URL with a host",
                    "e.g. `http://inventory.internal/sd`",
                );
                None
            }
        });
    let refresh = match &raw.refresh {
        None => Some(HttpSd::DEFAULT_REFRESH),
        Some(r) => compile_duration(
            &mut ctx.at,
            r,
            "refresh",
            &HttpSd::REFRESH,
            "how often the list is fetched again, e.g. `1m`",
        ),
    };
    ok &= refresh.is_some();
    let (Some(url), Some(refresh)) = (url, refresh) else {
        return None;
    };
    ok.then_some(HttpSd { name, url, refresh })
}
