//! Prometheus HTTP service discovery (`discover.http`): GET a URL every `refresh` and make
//! one target of each `targets` item of the standard list
//! (`[{"targets": ["host:port"], "labels": {"team": "shop"}}]`).
//!
//! A target is named `<name>.<host>.<port>`; its URL is `<__scheme__>://host:port` (`http` by
//! default); every label not starting with `__` whose name and value are tag-safe becomes the
//! tag `<label>-<value>`. The list is fetched with `If-None-Match` once the server gave an
//! `ETag`, read up to [`MAX_BODY_BYTES`], and a response that is too large, not JSON or not
//! in the format is an error: the last good list stays, as it does while the endpoint cannot
//! be reached.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::{Skip, Snapshot, tag_safe};
use crate::config::{HttpSd, Source, Target, valid_target_name};

/// Largest HTTP SD response read; a larger one is an error.
pub const MAX_BODY_BYTES: usize = 10 << 20;

/// Time limit of one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a fetch gave no list.
#[derive(Debug, thiserror::Error)]
pub enum SdError {
    /// The endpoint could not be reached, or the response not read.
    #[error("cannot fetch {origin}: {detail}")]
    Fetch {
        /// `scheme://host:port` of the endpoint (its path and query may hold a token).
        origin: String,
        /// What went wrong.
        detail: String,
    },
    /// The endpoint answered with an error status.
    #[error("{origin} answered HTTP {status}")]
    Status {
        /// `scheme://host:port` of the endpoint.
        origin: String,
        /// The status code.
        status: u16,
    },
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("{origin} sent more than {} MiB; the last good list stays", MAX_BODY_BYTES >> 20)]
    TooLarge {
        /// `scheme://host:port` of the endpoint.
        origin: String,
    },
    /// The body is not an HTTP SD list.
    #[error(
        "{origin} sent no HTTP SD list ({detail}); expected [{{\"targets\": [\"host:port\"], \"labels\": {{…}}}}]"
    )]
    Format {
        /// `scheme://host:port` of the endpoint.
        origin: String,
        /// What is wrong with it.
        detail: String,
    },
}

/// One group of the list.
#[derive(Debug, serde::Deserialize)]
struct Group {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// `scheme://host:port` of a URL: all of it that messages show.
pub fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// The targets and skipped entries of an HTTP SD list from the endpoint `sd`.
pub fn parse(sd: &HttpSd, body: &[u8]) -> Result<(Vec<Target>, Vec<Skip>), SdError> {
    let groups: Vec<Group> = serde_json::from_slice(body).map_err(|e| SdError::Format {
        origin: origin(sd.url.expose()),
        detail: e.to_string(),
    })?;
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    let mut skipped = Vec::new();
    for group in groups {
        let scheme = group
            .labels
            .get("__scheme__")
            .map_or("http", String::as_str);
        let tags: BTreeSet<String> = group
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .filter(|(k, v)| tag_safe(k) && tag_safe(v))
            .map(|(k, v)| format!("{k}-{v}"))
            .collect();
        for item in group.targets {
            match target_of(sd, scheme, &item) {
                Ok(mut target) => {
                    if targets.contains_key(&target.name) {
                        skipped.push(Skip {
                            object: item,
                            reason: format!("listed twice (target `{}`)", target.name),
                        });
                        continue;
                    }
                    target.tags.clone_from(&tags);
                    targets.insert(target.name.clone(), target);
                }
                Err(reason) => skipped.push(Skip {
                    object: item,
                    reason,
                }),
            }
        }
    }
    Ok((targets.into_values().collect(), skipped))
}

/// The target of one `host:port` item, or why there is none.
fn target_of(sd: &HttpSd, scheme: &str, item: &str) -> Result<Target, String> {
    if !matches!(scheme, "http" | "https") {
        return Err(format!(
            "`__scheme__` is `{}`; picket takes http or https",
            crate::term::escape_controls(scheme)
        ));
    }
    let shown = crate::term::escape_controls(item);
    if item.is_empty() || item.contains(['/', '?', '#', '@']) {
        return Err(format!("`{shown}` is not host:port"));
    }
    let url = Url::parse(&format!("{scheme}://{item}/"))
        .map_err(|_| format!("`{shown}` is not host:port"))?;
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(format!("`{shown}` is not host:port"));
    };
    let name = format!("{}.{host}.{port}", sd.name);
    if !valid_target_name(&name) {
        return Err(format!(
            "`{}` is not a valid target name (lowercase letters, digits, `-`, `_`, `.`)",
            crate::term::escape_controls(&name)
        ));
    }
    Ok(Target::new(name, url, Source::Http(sd.name.clone())))
}

/// What one fetch gave.
#[derive(Debug)]
enum Fetched {
    /// A new body, and its ETag.
    Body(Vec<u8>, Option<String>),
    /// 304: the list the ETag names is still current.
    Unchanged,
}

/// An error and its causes, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The client every fetch of a source uses: no redirects (an endpoint that moved is a
/// config to fix), the environment's proxy settings honoured as for webhooks.
fn client() -> Result<reqwest::Client, reqwest::Error> {
    crate::crypto::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION")))
        .timeout(FETCH_TIMEOUT)
        .build()
}

async fn fetch(
    client: &reqwest::Client,
    sd: &HttpSd,
    etag: Option<&str>,
) -> Result<Fetched, SdError> {
    let url = sd.url.expose();
    let failed = |e: reqwest::Error| SdError::Fetch {
        origin: origin(url),
        detail: chain(&e.without_url()),
    };
    let mut request = client
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json");
    if let Some(tag) = etag {
        request = request.header(http::header::IF_NONE_MATCH, tag);
    }
    let response = request.send().await.map_err(failed)?;
    let status = response.status();
    if status == http::StatusCode::NOT_MODIFIED && etag.is_some() {
        return Ok(Fetched::Unchanged);
    }
    if !status.is_success() {
        return Err(SdError::Status {
            origin: origin(url),
            status: status.as_u16(),
        });
    }
    let tag = response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(SdError::TooLarge {
            origin: origin(url),
        });
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(failed)?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(SdError::TooLarge {
                origin: origin(url),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body(body, tag))
}

/// One fetch of the list, for `picket check` and `picket list`.
pub async fn snapshot(sd: &HttpSd) -> Result<Snapshot, SdError> {
    let client = client().map_err(|e| SdError::Fetch {
        origin: origin(sd.url.expose()),
        detail: e.to_string(),
    })?;
    match fetch(&client, sd, None).await? {
        Fetched::Body(body, _) => {
            let (targets, skipped) = parse(sd, &body)?;
            Ok(Snapshot {
                targets,
                skipped,
                synced: true,
                errors: 0,
            })
        }
        Fetched::Unchanged => Ok(Snapshot::default()),
    }
}

/// Follows the endpoint until `stop`: fetches at once, then every `refresh`, and publishes
/// each new list on `tx`. An error keeps the last good list, counts in
/// [`Snapshot::errors`], and is logged when the source breaks (and again when it recovers),
/// not at every failed fetch.
pub async fn run(sd: HttpSd, tx: watch::Sender<Snapshot>, stop: CancellationToken) {
    let source = format!("http:{}", sd.name);
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(discovery.source = %source, error = %e, "cannot set up the HTTP SD client");
            return;
        }
    };
    let mut etag: Option<String> = None;
    let mut broken = false;
    let mut tick = tokio::time::interval(sd.refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let result = tokio::select! {
            () = stop.cancelled() => return,
            r = fetch(&client, &sd, etag.as_deref()) => r,
        };
        let parsed = match result {
            Ok(Fetched::Unchanged) => Ok(None),
            Ok(Fetched::Body(body, tag)) => parse(&sd, &body).map(|list| Some((list, tag))),
            Err(e) => Err(e),
        };
        match parsed {
            Ok(found) => {
                if broken {
                    tracing::info!(discovery.source = %source, "discovery source recovered");
                    broken = false;
                }
                if let Some(((targets, skipped), tag)) = found {
                    etag = tag;
                    tx.send_modify(|s| {
                        s.targets = targets;
                        s.skipped = skipped;
                        s.synced = true;
                    });
                }
            }
            Err(e) => {
                if !broken {
                    tracing::warn!(
                        discovery.source = %source,
                        error = %e,
                        "discovery source failed; keeping its last known targets"
                    );
                    broken = true;
                }
                tx.send_modify(|s| s.errors += 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Secret;

    fn sd() -> HttpSd {
        HttpSd {
            name: "inventory".into(),
            url: Secret::plain(Url::parse("http://127.0.0.1:9/sd").unwrap()),
            refresh: HttpSd::DEFAULT_REFRESH,
        }
    }

    #[test]
    fn each_item_is_a_target_named_after_the_source_host_and_port() {
        let body = br#"[
            {"targets": ["127.0.0.1:8080", "127.0.0.2"], "labels": {"team": "shop", "__meta_x": "y", "Bad": "x", "env": "Prod"}},
            {"targets": ["127.0.0.3:8443"], "labels": {"__scheme__": "https"}}
        ]"#;
        let (targets, skipped) = parse(&sd(), body).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let shown: Vec<(String, String, Vec<String>)> = targets
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.url.to_string(),
                    t.tags.iter().cloned().collect(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "inventory.127.0.0.1.8080".to_string(),
                    "http://127.0.0.1:8080/".to_string(),
                    vec!["team-shop".to_string()]
                ),
                (
                    "inventory.127.0.0.2.80".to_string(),
                    "http://127.0.0.2/".to_string(),
                    vec!["team-shop".to_string()]
                ),
                (
                    "inventory.127.0.0.3.8443".to_string(),
                    "https://127.0.0.3:8443/".to_string(),
                    vec![]
                ),
            ]
        );
        assert!(
            targets
                .iter()
                .all(|t| t.source == Source::Http("inventory".into()))
        );
    }

    #[test]
    fn bad_items_are_skipped_with_a_reason_and_the_rest_kept() {
        let body = br#"[{"targets": ["127.0.0.1:1", "127.0.0.1:1", "a/b:2", "[::1]:3"], "labels": {"__scheme__": "https"}},
                        {"targets": ["127.0.0.1:4"], "labels": {"__scheme__": "ftp"}}]"#;
        let (targets, skipped) = parse(&sd(), body).unwrap();
        assert_eq!(targets.len(), 1);
        let reasons: Vec<&str> = skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].starts_with("listed twice"), "{reasons:?}");
        assert!(reasons[1].contains("is not host:port"), "{reasons:?}");
        assert!(
            reasons[2].contains("not a valid target name"),
            "{reasons:?}"
        );
        assert!(reasons[3].contains("`__scheme__` is `ftp`"), "{reasons:?}");
    }

    #[test]
    fn what_is_not_a_list_of_groups_is_an_error() {
        for body in [&b"{}"[..], b"[{\"labels\": {}}]", b"not json", b""] {
            let e = parse(&sd(), body).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("http://127.0.0.1:9 sent no HTTP SD list"),
                "{e}"
            );
        }
    }
}
