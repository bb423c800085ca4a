//! A fake Kubernetes API server on 127.0.0.1: enough of the list/watch protocol for
//! Services, Ingresses and Gateway API HTTPRoutes that kube's real client and watcher run
//! against it unchanged.
//!
//! - `GET /api/v1/services`, `/api/v1/namespaces/NS/services` and the same for
//!   `/apis/networking.k8s.io/v1/…/ingresses` and `/apis/gateway.networking.k8s.io/v1/…/httproutes`:
//!   a JSON list with `metadata.resourceVersion`, filtered by namespace and `labelSelector`
//!   (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated).
//! - `?watch=1&resourceVersion=RV`: newline-delimited JSON events after RV (`ADDED`,
//!   `MODIFIED`, `DELETED`; an object that stops or starts matching the selector is `DELETED`
//!   or `ADDED`, as the real server does), a `BOOKMARK` first when asked for
//!   (`allowWatchBookmarks`), then new events as they happen. RV older than the compacted
//!   history gets an `ERROR` event with a `410` Status (or, after
//!   [`FakeApi::gone_as_http_status`], an HTTP 410 response).
//! - Faults on demand: [`FakeApi::expire_history`] (the next watches get 410),
//!   [`FakeApi::drop_watches`] (open watch connections are cut mid-stream),
//!   [`FakeApi::set_down`] (every connection is closed as soon as it is accepted).
//!
//! It does not do: authentication, field selectors, `in`/`notin` selectors, pagination
//! (`limit` is ignored: one page), streaming lists (`sendInitialEvents`), server-side
//! watch timeouts, or any write.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The resources the fake serves: (plural, API prefix, list kind).
const KINDS: [(&str, &str, &str); 3] = [
    ("services", "/api/v1", "ServiceList"),
    ("ingresses", "/apis/networking.k8s.io/v1", "IngressList"),
    (
        "httproutes",
        "/apis/gateway.networking.k8s.io/v1",
        "HTTPRouteList",
    ),
];

/// One change, as watchers see it.
#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    plural: &'static str,
    old: Option<Value>,
    new: Option<Value>,
}

#[derive(Default)]
struct State {
    rv: u64,
    /// (plural, namespace, name) → object.
    objects: BTreeMap<(&'static str, String, String), Value>,
    history: Vec<Change>,
    /// Watches from a resource version below this get 410 Gone.
    compacted: u64,
    /// Every request's path and query.
    requests: Vec<String>,
    /// Cancelled to end open watches cleanly (the last chunk is sent).
    watches_end: CancellationToken,
    /// Cancelled to cut open watches mid-stream.
    watches_cut: CancellationToken,
    /// Cancelled to close every connection; set anew when the server comes back.
    connections: CancellationToken,
    down: bool,
    /// Resources answered with 404, as when their CRD is not installed.
    not_served: Vec<&'static str>,
    /// Watch responses whose body is still open (sent to, or waiting for, a client).
    open_watches: Arc<std::sync::atomic::AtomicUsize>,
    /// Say 410 Gone as the HTTP status of the watch request instead of an `ERROR` event.
    gone_as_status: bool,
}

/// The fake API server. Dropping it stops it.
pub struct FakeApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Change>,
    stop: CancellationToken,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeApi {
    /// Starts it on 127.0.0.1, port 0.
    pub async fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            rv: 100,
            ..State::default()
        }));
        let (events, _) = broadcast::channel(1024);
        let stop = CancellationToken::new();
        let api = FakeApi {
            addr,
            state: state.clone(),
            events: events.clone(),
            stop: stop.clone(),
        };
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                let (down, connections) = {
                    let s = state.lock().unwrap();
                    (s.down, s.connections.clone())
                };
                if down {
                    drop(stream);
                    continue;
                }
                let state = state.clone();
                let events = events.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        let events = events.clone();
                        async move { Ok::<_, Infallible>(handle(&state, &events, req)) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        () = connections.cancelled() => {}
                        () = stop.cancelled() => {}
                    }
                });
            }
        });
        api
    }

    /// A kubeconfig file in `dir` that points kube at this server, without auth.
    pub fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: nobody\n    namespace: default\nusers:\n- name: nobody\n  user: {{}}\n",
            self.addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates or replaces an object (a k8s-openapi value or JSON with `metadata.name` and
    /// `metadata.namespace`) of `plural`: an `ADDED` or `MODIFIED` event.
    pub fn put(&self, plural: &str, object: impl serde::Serialize) {
        let mut object = serde_json::to_value(object).unwrap();
        let (plural, _) = kind_of(plural);
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap()
            .to_string();
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        object["metadata"]["uid"] = json!(format!("uid-{plural}-{ns}-{name}"));
        let old = s.objects.insert((plural, ns, name), object.clone());
        let change = Change {
            rv,
            plural,
            old,
            new: Some(object),
        };
        s.history.push(change.clone());
        let _ = self.events.send(change);
    }

    /// Deletes an object: a `DELETED` event.
    pub fn delete(&self, plural: &str, ns: &str, name: &str) {
        let (plural, _) = kind_of(plural);
        let mut s = self.state.lock().unwrap();
        let Some(mut old) = s
            .objects
            .remove(&(plural, ns.to_string(), name.to_string()))
        else {
            panic!("no {plural} {ns}/{name}");
        };
        s.rv += 1;
        let rv = s.rv;
        old["metadata"]["resourceVersion"] = json!(rv.to_string());
        let change = Change {
            rv,
            plural,
            old: Some(old),
            new: None,
        };
        s.history.push(change.clone());
        let _ = self.events.send(change);
    }

    /// Forgets the history so far: a watch that resumes from before the next change gets 410
    /// Gone (so a list and a watch made before that change loop on 410 until it comes: make
    /// one right after), and open watches end cleanly (as at a server-side timeout), so they
    /// resume and get it.
    pub fn expire_history(&self) {
        let mut s = self.state.lock().unwrap();
        s.compacted = s.rv + 1;
        s.history.clear();
        s.watches_end.cancel();
        s.watches_end = CancellationToken::new();
    }

    /// Says 410 Gone as the HTTP status of a watch request (as some API servers do) rather
    /// than as an `ERROR` event in a 200 stream.
    pub fn gone_as_http_status(&self) {
        self.state.lock().unwrap().gone_as_status = true;
    }

    /// Answers 404 for `plural`, as an API server without its CRD does.
    pub fn not_serving(&self, plural: &str) {
        let (plural, _) = kind_of(plural);
        self.state.lock().unwrap().not_served.push(plural);
    }

    /// Cuts every open watch mid-stream (the connection drops without the last chunk).
    pub fn drop_watches(&self) {
        let mut s = self.state.lock().unwrap();
        s.watches_cut.cancel();
        s.watches_cut = CancellationToken::new();
    }

    /// Down: every open connection is closed, and so is every new one until it is up again.
    pub fn set_down(&self, down: bool) {
        let mut s = self.state.lock().unwrap();
        s.down = down;
        if down {
            s.connections.cancel();
            s.connections = CancellationToken::new();
        }
    }

    /// Watch responses still open.
    pub fn open_watches(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.open_watches.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request so far, as path and query.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn kind_of(plural: &str) -> (&'static str, &'static str) {
    match plural {
        "services" => ("services", "Service"),
        "ingresses" => ("ingresses", "Ingress"),
        "httproutes" => ("httproutes", "HTTPRoute"),
        other => panic!("the fake serves no {other}"),
    }
}

/// `(plural, namespace)` of a collection path, if it is one.
fn route(path: &str) -> Option<(&'static str, Option<String>)> {
    for (plural, prefix, _) in KINDS {
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        if rest == format!("/{plural}") {
            return Some((plural, None));
        }
        if let Some(ns_rest) = rest.strip_prefix("/namespaces/")
            && let Some((ns, tail)) = ns_rest.split_once('/')
            && tail == plural
        {
            return Some((plural, Some(ns.to_string())));
        }
    }
    None
}

fn matches(selector: &str, object: &Value) -> bool {
    let empty = serde_json::Map::new();
    let labels = object["metadata"]["labels"].as_object().unwrap_or(&empty);
    let label = |k: &str| labels.get(k.trim()).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .all(|req| {
            if let Some((k, v)) = req.split_once("!=") {
                label(k) != Some(v.trim())
            } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                label(k) == Some(v.trim())
            } else if let Some(k) = req.strip_prefix('!') {
                label(k).is_none()
            } else {
                label(req).is_some()
            }
        })
}

fn visible(object: &Value, ns: Option<&str>, selector: &str) -> bool {
    ns.is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns))
        && matches(selector, object)
}

fn json_response(status: u16, body: &Value) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn handle(
    state: &Arc<Mutex<State>>,
    events: &broadcast::Sender<Change>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Body> {
    let path = req.uri().path().to_string();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    state.lock().unwrap().requests.push(
        req.uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    let served = route(&path).filter(|(p, _)| !state.lock().unwrap().not_served.contains(p));
    let Some((plural, ns)) = served else {
        return json_response(
            404,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": format!("no route {path}")}),
        );
    };
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let list_kind = KINDS
        .iter()
        .find(|k| k.0 == plural)
        .map(|k| k.2)
        .unwrap_or("");
    if query.get("watch").is_some_and(|w| w == "1" || w == "true") {
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0);
        let bookmarks = query
            .get("allowWatchBookmarks")
            .is_some_and(|b| b == "true");
        return watch(state, events, plural, ns, selector, from, bookmarks);
    }
    let s = state.lock().unwrap();
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((p, _, _), o)| *p == plural && visible(o, ns.as_deref(), &selector))
        .map(|(_, o)| o.clone())
        .collect();
    json_response(
        200,
        &json!({
            "apiVersion": "v1",
            "kind": list_kind,
            "metadata": {"resourceVersion": s.rv.to_string()},
            "items": items,
        }),
    )
}

/// The event a watcher with `ns` and `selector` sees of `change`, if any.
fn event_of(change: &Change, ns: Option<&str>, selector: &str) -> Option<Value> {
    let was = change
        .old
        .as_ref()
        .is_some_and(|o| visible(o, ns, selector));
    let is = change
        .new
        .as_ref()
        .is_some_and(|o| visible(o, ns, selector));
    let (kind, object) = match (was, is, &change.new) {
        (false, true, Some(new)) => ("ADDED", new.clone()),
        (true, true, Some(new)) => ("MODIFIED", new.clone()),
        (true, false, Some(new)) => ("DELETED", new.clone()),
        (true, false, None) => ("DELETED", change.old.clone()?),
        _ => return None,
    };
    let mut object = object;
    object["metadata"]["resourceVersion"] = json!(change.rv.to_string());
    Some(json!({"type": kind, "object": object}))
}

fn line(v: &Value) -> Result<Bytes, std::io::Error> {
    Ok(Bytes::from(format!("{v}\n")))
}

fn watch(
    state: &Arc<Mutex<State>>,
    events: &broadcast::Sender<Change>,
    plural: &'static str,
    ns: Option<String>,
    selector: String,
    from: u64,
    bookmarks: bool,
) -> hyper::Response<Body> {
    let s = state.lock().unwrap();
    let mut first: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    if from < s.compacted {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired", "message": format!("too old resource version: {from} ({})", s.compacted)});
        if s.gone_as_status {
            return json_response(410, &status);
        }
        let gone = json!({"type": "ERROR", "object": status});
        return hyper::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(format!("{gone}\n")))
            .unwrap();
    }
    let kind = kind_of(plural).1;
    if bookmarks {
        let api_version = KINDS
            .iter()
            .find(|k| k.0 == plural)
            .map(|k| k.1)
            .unwrap_or("");
        let api_version = api_version
            .trim_start_matches("/apis/")
            .trim_start_matches("/api/");
        first.push(line(&json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": s.rv.to_string()}}})));
    }
    for change in s
        .history
        .iter()
        .filter(|c| c.plural == plural && c.rv > from)
    {
        if let Some(e) = event_of(change, ns.as_deref(), &selector) {
            first.push(line(&e));
        }
    }
    let seen_up_to = s.rv;
    let mut rx = events.subscribe();
    let cut = s.watches_cut.clone();
    let s_open_watches = s.open_watches.clone();
    let end = s.watches_end.clone();
    drop(s);
    let live = async_stream_like(move |tx| async move {
        loop {
            let change = tokio::select! {
                () = end.cancelled() => return,
                () = cut.cancelled() => {
                    let _ = tx.send(Err(std::io::Error::other("connection cut"))).await;
                    return;
                }
                change = rx.recv() => match change {
                    Ok(c) => c,
                    Err(_) => return,
                },
            };
            if change.plural != plural || change.rv <= seen_up_to {
                continue;
            }
            if let Some(e) = event_of(&change, ns.as_deref(), &selector)
                && tx.send(line(&e)).await.is_err()
            {
                return;
            }
        }
    });
    // Counted while the response body lives: hyper drops it when the client has gone.
    let open = OpenWatch::new(s_open_watches);
    let live = live.map(move |item| {
        let _open = &open;
        item
    });
    let stream = futures_util::stream::iter(first).chain(live);
    hyper::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

use futures_util::StreamExt;

/// One open watch response, counted until dropped.
struct OpenWatch(Arc<std::sync::atomic::AtomicUsize>);

impl OpenWatch {
    fn new(count: Arc<std::sync::atomic::AtomicUsize>) -> OpenWatch {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        OpenWatch(count)
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A stream fed by a task: what the task sends, until it returns.
fn async_stream_like<F, Fut>(
    task: F,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(task(tx));
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
