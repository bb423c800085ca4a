//! Following the cluster: one watcher (kube's list + watch, relisting on `410 Gone`) per
//! resource, per namespace when `namespaces` is given, else cluster-wide. Each keeps the
//! current objects of its resource, mapped to targets; every change publishes a new
//! [`Snapshot`] of all of them, merged and sorted by name.
//!
//! After an error a watcher waits (a [`Backoff`]) and lists again: the list is what tells it
//! has recovered, and it leaves no change missed while it was away. Until then the last
//! known targets stay. The source logs once when it breaks (WARN) and once when every
//! watcher works again (INFO), not at each retry, and counts every error.

use std::fmt::Debug;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Error;
use super::map::{self, Mapped};
use super::merge::{Change, Merger, log_skips, merge};
use crate::config::{Kubernetes, Resource};
use crate::discover::Snapshot;

/// How long a watcher waits before it lists again after an error: `first`, doubling up to
/// `max`, with ±25% jitter; back to `first` once it has worked for two minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// client-go's: 800 ms doubling to 30 s (kube's `DefaultBackoff`).
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(800),
            max: Duration::from_secs(30),
        }
    }
}

/// The Gateway API HTTPRoute, known to picket without discovery.
fn http_route_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    ApiResource::from_gvk_with_plural(&gvk, "httproutes")
}

/// Follows the cluster as `config` says until `stop`, publishing on `tx`.
pub async fn run(
    config: Kubernetes,
    client: Client,
    tx: watch::Sender<Snapshot>,
    stop: CancellationToken,
) {
    run_with(config, client, tx, stop, Backoff::default()).await;
}

/// [`run`] with its retry delays given (tests shorten them).
pub async fn run_with(
    config: Kubernetes,
    client: Client,
    tx: watch::Sender<Snapshot>,
    stop: CancellationToken,
    backoff: Backoff,
) {
    let (changes_tx, mut changes) = mpsc::channel::<(usize, Change)>(256);
    let stop = stop.child_token();
    let _stop_watchers = stop.clone().drop_guard();
    let mut names = Vec::new();
    for (resource, namespace) in scopes(&config) {
        let index = names.len();
        names.push(match &namespace {
            Some(ns) => format!("{} in {ns}", resource.as_str()),
            None => resource.as_str().to_string(),
        });
        let ctx = Watcher {
            index,
            config: config.clone(),
            tx: changes_tx.clone(),
            stop: stop.clone(),
            backoff,
        };
        let client = client.clone();
        let ns = namespace.as_deref();
        match resource {
            Resource::Services => {
                let api: Api<Service> = api(client, ns);
                tokio::spawn(ctx.follow(api, map::service));
            }
            Resource::Ingresses => {
                let api: Api<Ingress> = api(client, ns);
                tokio::spawn(ctx.follow(api, map::ingress));
            }
            Resource::HttpRoutes => {
                let api: Api<DynamicObject> = route_api(client, ns);
                tokio::spawn(ctx.follow(api, map::http_route));
            }
        }
    }
    drop(changes_tx);
    let mut merger = Merger::new(names);
    if merger.is_empty() {
        // Nothing to watch: all of it is listed.
        tx.send_replace(merger.snapshot());
    }
    loop {
        let (index, change) = tokio::select! {
            () = stop.cancelled() => return,
            next = changes.recv() => match next {
                Some(next) => next,
                None => return,
            },
        };
        if merger.apply(index, change) {
            tx.send_replace(merger.snapshot());
        }
    }
}

/// Every (resource, namespace) to watch; `None` is cluster-wide.
fn scopes(config: &Kubernetes) -> Vec<(Resource, Option<String>)> {
    let namespaces: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    config
        .resources
        .iter()
        .flat_map(|r| namespaces.iter().map(move |ns| (*r, ns.clone())))
        .collect()
}

fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

fn route_api(client: Client, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = http_route_resource();
    match namespace {
        Some(ns) => Api::namespaced_with(client, ns, &ar),
        None => Api::all_with(client, &ar),
    }
}

/// One watcher's task.
struct Watcher {
    index: usize,
    config: Kubernetes,
    tx: mpsc::Sender<(usize, Change)>,
    stop: CancellationToken,
    backoff: Backoff,
}

impl Watcher {
    async fn follow<K>(self, api: Api<K>, to_targets: fn(&K, &Kubernetes) -> Mapped)
    where
        K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let mut wc = watcher::Config::default();
        if let Some(selector) = &self.config.selector {
            wc = wc.labels(selector);
        }
        let mut delay = self.backoff.first;
        let mut last_failure: Option<Instant> = None;
        loop {
            let mut events = watcher::watcher(api.clone(), wc.clone()).boxed();
            let failure = loop {
                let event = tokio::select! {
                    () = self.stop.cancelled() => return,
                    event = events.next() => event,
                };
                let change = match event {
                    None => break Some("the watch ended".to_string()),
                    Some(Ok(Event::Init)) => Change::Listing,
                    Some(Ok(Event::InitApply(obj))) => self.applied(&obj, to_targets, true),
                    Some(Ok(Event::InitDone)) => Change::Listed,
                    Some(Ok(Event::Apply(obj))) => self.applied(&obj, to_targets, false),
                    Some(Ok(Event::Delete(obj))) => Change::Delete { key: key(&obj) },
                    // Gone: the watcher lists again by itself. Not a fault.
                    Some(Err(watcher::Error::WatchError(status))) if status.code == 410 => {
                        tracing::debug!(
                            watcher = self.index,
                            "resource version gone, listing again"
                        );
                        continue;
                    }
                    // Gone as the HTTP status of the watch request: kube would ask again
                    // from the same version forever; a new watcher lists again. Not a fault.
                    Some(Err(watcher::Error::WatchStartFailed(kube::Error::Api(status))))
                        if status.code == 410 =>
                    {
                        break None;
                    }
                    Some(Err(e)) => break Some(error_text(&e)),
                };
                if self.tx.send((self.index, change)).await.is_err() {
                    return;
                }
            };
            let Some(failure) = failure else {
                tracing::debug!(watcher = self.index, "resource version gone, listing again");
                // At most one list per `first` should the API answer every watch with 410.
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = tokio::time::sleep(self.backoff.first) => {}
                }
                continue;
            };
            if self
                .tx
                .send((self.index, Change::Failed(failure)))
                .await
                .is_err()
            {
                return;
            }
            // Two quiet minutes since the last failure: this one starts the series anew.
            if last_failure.is_some_and(|t| t.elapsed() > Duration::from_secs(120)) {
                delay = self.backoff.first;
            }
            last_failure = Some(Instant::now());
            let wait = jittered(delay);
            delay = (delay * 2).min(self.backoff.max);
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn applied<K: kube::Resource>(
        &self,
        obj: &K,
        to_targets: fn(&K, &Kubernetes) -> Mapped,
        listed: bool,
    ) -> Change {
        Change::Apply {
            key: key(obj),
            rv: obj.meta().resource_version.clone().unwrap_or_default(),
            mapped: to_targets(obj, &self.config),
            listed,
        }
    }
}

/// `namespace/name`, unique within one watcher.
fn key<K: kube::Resource>(obj: &K) -> String {
    let meta = obj.meta();
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// A watcher error in words, with the cause kube wraps and, for the refusals a setting
/// explains, what to do.
fn error_text(e: &watcher::Error) -> String {
    let text = match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    };
    match status {
        Some(401) => format!("{text} (the API server does not accept picket's credentials)"),
        Some(403) => format!(
            "{text} (the account may not list and watch this resource: grant `list` and `watch` on it)"
        ),
        Some(404) => format!(
            "{text} (the API server does not serve this resource: httproutes need the Gateway API installed)"
        ),
        _ => text,
    }
}

fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.75..=1.25))
}

/// One list of every resource `config` names (no watch), for `picket check` and `picket
/// list`, within `timeout`.
pub async fn snapshot(
    config: &Kubernetes,
    client: Client,
    timeout: Duration,
) -> Result<Snapshot, Error> {
    let all = async {
        let mut mapped = Vec::new();
        for (resource, ns) in scopes(config) {
            let n = ns.as_deref();
            match resource {
                Resource::Services => {
                    let api: Api<Service> = api(client.clone(), n);
                    list(&api, config, resource, n, map::service, &mut mapped).await?;
                }
                Resource::Ingresses => {
                    let api: Api<Ingress> = api(client.clone(), n);
                    list(&api, config, resource, n, map::ingress, &mut mapped).await?;
                }
                Resource::HttpRoutes => {
                    let api: Api<DynamicObject> = route_api(client.clone(), n);
                    list(&api, config, resource, n, map::http_route, &mut mapped).await?;
                }
            }
        }
        Ok::<_, Error>(mapped)
    };
    let mapped = tokio::time::timeout(timeout, all)
        .await
        .map_err(|_| Error::Timeout(timeout))??;
    mapped.iter().for_each(log_skips);
    Ok(merge(mapped.iter(), true, 0))
}

/// Lists one resource in pages of 500, mapping each object.
async fn list<K>(
    api: &Api<K>,
    config: &Kubernetes,
    resource: Resource,
    namespace: Option<&str>,
    to_targets: fn(&K, &Kubernetes) -> Mapped,
    out: &mut Vec<Mapped>,
) -> Result<(), Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    let mut params = ListParams::default().limit(500);
    if let Some(selector) = &config.selector {
        params = params.labels(selector);
    }
    loop {
        let page = api.list(&params).await.map_err(|source| Error::List {
            resource: resource.as_str(),
            namespace: namespace.map(str::to_string),
            source,
        })?;
        out.extend(page.items.iter().map(|o| to_targets(o, config)));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(()),
        }
    }
}
