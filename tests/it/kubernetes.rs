//! `discover.kubernetes` against a fake API server (`k8s_api.rs`) on loopback, through
//! kube's real client and watcher, connected by a kubeconfig file: what the published
//! snapshots say as objects come, change and go, and as the API expires history, drops
//! connections and goes away.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{Ingress, IngressRule, IngressSpec, IngressTLS};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use picket::config::Var;
use picket::discover::Snapshot;
use picket::discover::kubernetes::{self, Address, Backoff, Kubernetes, Resource};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use k8s_api::FakeApi;

#[path = "k8s_api.rs"]
mod k8s_api;

/// A hang guard, not a timing assertion: every wait here ends in well under a second.
const PATIENCE: Duration = Duration::from_secs(30);

fn meta(ns: &str, name: &str, labels: &[(&str, &str)], ann: &[(&str, &str)]) -> ObjectMeta {
    let map = |p: &[(&str, &str)]| {
        Some(
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        labels: map(labels),
        annotations: map(ann),
        ..ObjectMeta::default()
    }
}

fn service(meta: ObjectMeta, cluster_ip: &str, ports: &[(i32, Option<&str>)]) -> Service {
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip.into()),
            ports: Some(
                ports
                    .iter()
                    .map(|(port, name)| ServicePort {
                        port: *port,
                        name: name.map(Into::into),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn web(ns: &str, name: &str) -> Service {
    service(meta(ns, name, &[], &[]), "10.0.0.9", &[(80, None)])
}

fn ingress(meta: ObjectMeta, hosts: &[&str], tls: &[&str]) -> Ingress {
    Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            rules: Some(
                hosts
                    .iter()
                    .map(|h| IngressRule {
                        host: Some(h.to_string()),
                        http: None,
                    })
                    .collect(),
            ),
            tls: (!tls.is_empty()).then(|| {
                vec![IngressTLS {
                    hosts: Some(tls.iter().map(|h| h.to_string()).collect()),
                    secret_name: Some("cert".into()),
                }]
            }),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

fn http_route(ns: &str, name: &str, hostnames: &[&str], ann: &[(&str, &str)]) -> serde_json::Value {
    let annotations: BTreeMap<_, _> = ann.iter().copied().collect();
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"namespace": ns, "name": name, "annotations": annotations},
        "spec": {"hostnames": hostnames, "parentRefs": [{"name": "gw"}]},
    })
}

/// A running source: the fake API, the snapshots it publishes, and its stop.
struct Running {
    api: FakeApi,
    rx: watch::Receiver<Snapshot>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Running {
    /// Waits until a published snapshot satisfies `pred`, and returns it.
    async fn until(&mut self, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let found = match tokio::time::timeout(PATIENCE, self.rx.wait_for(|s| pred(s))).await {
            Ok(Ok(s)) => Some(s.clone()),
            _ => None,
        };
        match found {
            Some(s) => s,
            None => panic!(
                "no snapshot where {what}; last: {:#?}\nrequests: {:#?}",
                names(&self.rx.borrow()),
                self.api.requests()
            ),
        }
    }
}

fn names(s: &Snapshot) -> Vec<String> {
    s.targets.iter().map(|t| t.name.clone()).collect()
}

/// Quick retries, so the outage tests take a fraction of a second.
const QUICK: Backoff = Backoff {
    first: Duration::from_millis(20),
    max: Duration::from_millis(100),
};

/// Starts the fake API with `setup` applied, then the source with `config` (its kubeconfig
/// set to the fake's).
async fn start(config: Kubernetes, setup: impl FnOnce(&FakeApi)) -> Running {
    let api = FakeApi::start().await;
    setup(&api);
    let dir = tempfile::tempdir().unwrap();
    let config = Kubernetes {
        kubeconfig: Some(api.kubeconfig(dir.path())),
        ..config
    };
    let client = kubernetes::client(&config).await.unwrap();
    let (tx, rx) = watch::channel(Snapshot::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(kubernetes::run_with(
        config,
        client,
        tx,
        stop.clone(),
        QUICK,
    ));
    Running {
        api,
        rx,
        stop,
        task,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_service_added_becomes_targets_named_and_tagged_as_the_spec_says() {
    let config = Kubernetes {
        address: Address::ClusterIp,
        tags_from_labels: vec!["risk".into()],
        ..Kubernetes::default()
    };
    let mut run = start(config, |api| api.put("services", web("shop", "listed"))).await;
    let first = run.until("synced", |s| s.synced).await;
    assert_eq!(names(&first), ["shop.listed.80"]);

    run.api.put(
        "services",
        service(
            meta(
                "pay",
                "api",
                &[("risk", "regulated")],
                &[
                    ("picket.dev/tags", "public,pci"),
                    (
                        "picket.dev/vars",
                        r#"{"protected_paths": ["/admin"], "login": "/in"}"#,
                    ),
                    ("picket.dev/schedule", "1m"),
                ],
            ),
            "10.96.0.10",
            &[(8443, None), (6379, Some("redis"))],
        ),
    );
    let s = run
        .until("pay.api is there", |s| s.targets.len() == 3)
        .await;
    assert_eq!(
        names(&s),
        ["pay.api.6379", "pay.api.8443", "shop.listed.80"]
    );
    let https = &s.targets[1];
    assert_eq!(
        https.url.as_str(),
        "https://api.pay.svc.cluster.local:8443/"
    );
    assert_eq!(https.connect_to, Some("10.96.0.10".parse().unwrap()));
    assert_eq!(https.source, picket::config::Source::Kubernetes);
    let tags: Vec<_> = https.tags.iter().map(String::as_str).collect();
    assert_eq!(tags, ["k8s", "ns-pay", "pci", "public", "risk-regulated"]);
    assert!(matches!(&https.vars["protected_paths"], Var::List(l) if l[0].expose() == "/admin"));
    assert!(matches!(&https.vars["login"], Var::One(v) if v.expose() == "/in"));
    assert_eq!(
        https.schedule.as_ref().unwrap().to_string(),
        "every 1m (jitter 10%)"
    );
    assert_eq!(
        s.targets[0].url.as_str(),
        "tcp://api.pay.svc.cluster.local:6379"
    );
    assert_eq!(s.errors, 0);
}

#[tokio::test]
async fn modified_labels_change_tags_and_a_deleted_service_leaves() {
    let config = Kubernetes {
        tags_from_labels: vec!["team".into()],
        ..Kubernetes::default()
    };
    let mut run = start(config, |api| {
        api.put(
            "services",
            service(
                meta("a", "s", &[("team", "red")], &[]),
                "10.0.0.1",
                &[(80, None)],
            ),
        );
        api.put("services", web("a", "other"));
    })
    .await;
    let s = run.until("synced", |s| s.synced).await;
    assert!(s.targets[1].tags.contains("team-red"), "{:?}", s.targets);

    run.api.put(
        "services",
        service(
            meta("a", "s", &[("team", "blue")], &[]),
            "10.0.0.1",
            &[(80, None)],
        ),
    );
    let s = run
        .until("team-blue", |s| {
            s.targets.iter().any(|t| t.tags.contains("team-blue"))
        })
        .await;
    assert!(!s.targets[1].tags.contains("team-red"));

    run.api.delete("services", "a", "s");
    let s = run.until("a.s.80 gone", |s| s.targets.len() == 1).await;
    assert_eq!(names(&s), ["a.other.80"]);
}

#[tokio::test]
async fn opt_out_headless_external_name_and_bad_annotations_are_skipped_with_reasons() {
    let log = Log::default();
    let _capture = log.capture();
    let mut run = start(Kubernetes::default(), |api| {
        api.put("services", web("a", "fine"));
        api.put(
            "services",
            service(
                meta("a", "quiet", &[], &[("picket.dev/probe", "false")]),
                "10.0.0.2",
                &[(80, None)],
            ),
        );
        api.put(
            "services",
            service(meta("a", "headless", &[], &[]), "None", &[(80, None)]),
        );
        let mut ext = service(meta("a", "alias", &[], &[]), "", &[]);
        if let Some(spec) = ext.spec.as_mut() {
            spec.type_ = Some("ExternalName".into());
            spec.external_name = Some("db.example.com".into());
        }
        api.put("services", ext);
        api.put(
            "services",
            service(
                meta("a", "badvars", &[], &[("picket.dev/vars", "{\"a\": 1}")]),
                "10.0.0.3",
                &[(80, None)],
            ),
        );
    })
    .await;
    let s = run.until("synced", |s| s.synced).await;
    assert_eq!(names(&s), ["a.fine.80"]);
    let skipped: Vec<String> = s
        .skipped
        .iter()
        .map(|k| format!("{}: {}", k.object, k.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            "a/alias: ExternalName Service (an alias of `db.example.com`)",
            "a/badvars: bad annotation `picket.dev/vars`: var `a` is not a string or a list of strings",
            "a/headless: headless Service (clusterIP: None)",
            "a/quiet: opted out (`picket.dev/probe: \"false\"`)",
        ]
    );
    // A WARN names the object and the problem; the others are INFO, each once.
    let bad = log.lines("a/badvars");
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert!(
        bad[0].contains("WARN") && bad[0].contains("picket.dev/vars"),
        "{bad:?}"
    );
    let headless = log.lines("a/headless");
    assert_eq!(headless.len(), 1, "{headless:#?}");
    assert!(headless[0].contains("INFO"), "{headless:?}");
    // Fixing the annotation brings the object in.
    run.api.put(
        "services",
        service(
            meta(
                "a",
                "badvars",
                &[],
                &[("picket.dev/vars", "{\"a\": \"1\"}")],
            ),
            "10.0.0.3",
            &[(80, None)],
        ),
    );
    let s = run.until("badvars fixed", |s| s.targets.len() == 2).await;
    assert_eq!(names(&s), ["a.badvars.80", "a.fine.80"]);
    assert_eq!(s.skipped.len(), 3);
}

#[tokio::test]
async fn gone_410_relists_with_no_duplicate_and_no_lost_target() {
    gone_410_relists(false).await;
}

#[tokio::test]
async fn gone_410_as_the_http_status_of_a_watch_relists_too() {
    gone_410_relists(true).await;
}

async fn gone_410_relists(as_http_status: bool) {
    let mut run = start(Kubernetes::default(), |api| {
        api.put("services", web("a", "one"));
        api.put("services", web("a", "two"));
        if as_http_status {
            api.gone_as_http_status();
        }
    })
    .await;
    run.until("synced", |s| s.synced && s.targets.len() == 2)
        .await;
    let lists_before = lists(&run.api, "services");

    // History expires; the open watch ends; what changes meanwhile is seen only by a list.
    // (No await between these three: the source sees them together.)
    run.api.expire_history();
    run.api.delete("services", "a", "one");
    run.api.put("services", web("a", "three"));
    let s = run
        .until("the relist's view", |s| {
            names(s) == ["a.three.80", "a.two.80"]
        })
        .await;
    assert!(
        lists(&run.api, "services") > lists_before,
        "no relist: {:#?}",
        run.api.requests()
    );
    // 410 is the protocol working, not a fault.
    assert_eq!(s.errors, 0);
    run.api.put("services", web("a", "four"));
    let s = run.until("watching again", |s| s.targets.len() == 3).await;
    assert_eq!(names(&s), ["a.four.80", "a.three.80", "a.two.80"]);
    assert_eq!(s.errors, 0);
}

/// The list (not watch) requests of `plural` so far.
fn lists(api: &FakeApi, plural: &str) -> usize {
    api.requests()
        .iter()
        .filter(|r| {
            r.contains(&format!("/{plural}")) && !r.contains("watch=true") && !r.contains("watch=1")
        })
        .count()
}

#[tokio::test]
async fn stop_ends_the_source_and_its_watches() {
    let mut run = start(Kubernetes::default(), |api| {
        api.put("services", web("a", "one"))
    })
    .await;
    run.until("synced", |s| s.synced).await;
    run.stop.cancel();
    let task = std::mem::replace(&mut run.task, tokio::spawn(async {}));
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run ended")
        .unwrap();
    // Its watches are closed too (the server notices when it next writes to them).
    assert!(run.api.open_watches() > 0);
    let waiting = tokio::time::Instant::now();
    let mut n = 0;
    while run.api.open_watches() > 0 && waiting.elapsed() < PATIENCE {
        n += 1;
        run.api.put("services", web("a", &format!("after{n}")));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(run.api.open_watches(), 0, "a watch outlived its source");
}

#[tokio::test]
async fn a_dropped_watch_connection_loses_nothing() {
    let mut run = start(Kubernetes::default(), |api| {
        api.put("services", web("a", "one"))
    })
    .await;
    run.until("synced", |s| s.synced).await;
    run.api.drop_watches();
    run.api.put("services", web("a", "two"));
    let s = run.until("two", |s| s.targets.len() == 2).await;
    assert_eq!(names(&s), ["a.one.80", "a.two.80"]);
}

/// Log lines written on this thread (a `#[tokio::test]` runs every task on its thread).
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn lines(&self, containing: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(containing))
            .map(str::to_string)
            .collect()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn while_the_api_is_gone_targets_stay_errors_count_and_it_recovers() {
    let log = Log::default();
    let _capture = log.capture();
    let mut run = start(Kubernetes::default(), |api| {
        api.put("services", web("a", "one"))
    })
    .await;
    run.until("synced", |s| s.synced).await;

    run.api.set_down(true);
    let s = run.until("errors counted", |s| s.errors >= 3).await;
    assert_eq!(names(&s), ["a.one.80"], "an error must never drop targets");

    // Changes made while picket could not see them arrive when the API is back.
    run.api.put("services", web("a", "two"));
    run.api.delete("services", "a", "one");
    run.api.set_down(false);
    let s = run.until("recovered", |s| names(s) == ["a.two.80"]).await;
    assert!(s.synced);
    // Once when it broke and once when every watcher works again (the ingress watcher may
    // come back a retry after the services'), however many retries between.
    let waiting = tokio::time::Instant::now();
    while log.lines("Kubernetes discovery works again").is_empty() && waiting.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let broke = log.lines("Kubernetes discovery failing");
    assert_eq!(broke.len(), 1, "{broke:#?}");
    assert!(broke[0].contains("WARN"), "{broke:?}");
    let back = log.lines("Kubernetes discovery works again");
    assert_eq!(back.len(), 1, "{back:#?}");
    assert!(back[0].contains("INFO"), "{back:?}");
}

#[tokio::test]
async fn a_resource_the_api_does_not_serve_is_one_warn_and_the_others_work() {
    let log = Log::default();
    let _capture = log.capture();
    let config = Kubernetes {
        resources: [Resource::Services, Resource::HttpRoutes].into(),
        ..Kubernetes::default()
    };
    let mut run = start(config, |api| {
        api.not_serving("httproutes");
        api.put("services", web("a", "one"));
    })
    .await;
    let s = run
        .until("services listed, httproutes failing", |s| {
            s.targets.len() == 1 && s.errors >= 3
        })
        .await;
    // Not every resource has listed: the source is not synced.
    assert!(!s.synced);
    let warns = log.lines("Kubernetes discovery failing");
    assert_eq!(warns.len(), 1, "{warns:#?}");
    assert!(warns[0].contains("Gateway API"), "{warns:?}");
}

#[tokio::test]
async fn ingresses_with_and_without_tls_and_http_routes_per_hostname_in_listed_namespaces() {
    let config = Kubernetes {
        namespaces: vec!["web".into(), "gw".into()],
        resources: [
            Resource::Services,
            Resource::Ingresses,
            Resource::HttpRoutes,
        ]
        .into(),
        ..Kubernetes::default()
    };
    let mut run = start(config, |api| {
        api.put(
            "ingresses",
            ingress(
                meta("web", "front", &[], &[]),
                &["shop.example.com", "plain.example.com", "*.example.com"],
                &["shop.example.com"],
            ),
        );
        api.put(
            "ingresses",
            ingress(
                meta("elsewhere", "hidden", &[], &[]),
                &["hidden.example.com"],
                &[],
            ),
        );
        api.put(
            "httproutes",
            http_route("gw", "api", &["api.example.com", "v2.example.com"], &[]),
        );
        api.put(
            "httproutes",
            http_route(
                "gw",
                "plain",
                &["plain-route.example.com"],
                &[("picket.dev/scheme", "http")],
            ),
        );
    })
    .await;
    let s = run.until("synced", |s| s.synced).await;
    let urls: Vec<(String, String)> = s
        .targets
        .iter()
        .map(|t| (t.name.clone(), t.url.to_string()))
        .collect();
    let expected = [
        ("gw.api.api.example.com", "https://api.example.com/"),
        ("gw.api.v2.example.com", "https://v2.example.com/"),
        (
            "gw.plain.plain-route.example.com",
            "http://plain-route.example.com/",
        ),
        ("web.front.plain.example.com", "http://plain.example.com/"),
        ("web.front.shop.example.com", "https://shop.example.com/"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, u)| (n.to_string(), u.to_string()))
        .collect();
    assert_eq!(urls, expected);
    assert!(
        s.skipped
            .iter()
            .any(|k| k.reason.contains("wildcard host `*.example.com`"))
    );
    let requests = run.api.requests();
    for path in [
        "/api/v1/namespaces/web/services",
        "/apis/networking.k8s.io/v1/namespaces/gw/ingresses",
        "/apis/gateway.networking.k8s.io/v1/namespaces/web/httproutes",
    ] {
        assert!(
            requests.iter().any(|r| r.starts_with(path)),
            "no {path} in {requests:#?}"
        );
    }
    assert!(
        !requests.iter().any(|r| r.starts_with("/api/v1/services")),
        "{requests:#?}"
    );

    run.api.put(
        "httproutes",
        http_route("gw", "api", &["api.example.com"], &[]),
    );
    run.until("v2 gone", |s| s.targets.len() == 4).await;
}

#[tokio::test]
async fn the_label_selector_filters_and_a_relabelled_object_leaves() {
    let config = Kubernetes {
        selector: Some("tier!=batch".into()),
        ..Kubernetes::default()
    };
    let mut run = start(config, |api| {
        api.put(
            "services",
            service(
                meta("a", "job", &[("tier", "batch")], &[]),
                "10.0.0.1",
                &[(80, None)],
            ),
        );
        api.put(
            "services",
            service(
                meta("a", "web", &[("tier", "front")], &[]),
                "10.0.0.2",
                &[(80, None)],
            ),
        );
    })
    .await;
    let s = run.until("synced", |s| s.synced).await;
    assert_eq!(names(&s), ["a.web.80"]);
    assert!(
        run.api
            .requests()
            .iter()
            .any(|r| r.contains("labelSelector=tier%21%3Dbatch"))
    );
    run.api.put(
        "services",
        service(
            meta("a", "web", &[("tier", "batch")], &[]),
            "10.0.0.2",
            &[(80, None)],
        ),
    );
    let s = run.until("web left", |s| s.targets.is_empty()).await;
    assert!(s.synced);
}

#[tokio::test]
async fn one_snapshot_lists_every_resource_once_without_watching() {
    let api = FakeApi::start().await;
    api.put("services", web("a", "s"));
    api.put(
        "ingresses",
        ingress(
            meta("a", "i", &[], &[]),
            &["i.example.com"],
            &["i.example.com"],
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = Kubernetes {
        kubeconfig: Some(api.kubeconfig(dir.path())),
        ..Kubernetes::default()
    };
    let client = kubernetes::client(&config).await.unwrap();
    let s = kubernetes::snapshot(&config, client, PATIENCE)
        .await
        .unwrap();
    assert!(s.synced);
    assert_eq!(names(&s), ["a.i.i.example.com", "a.s.80"]);
    assert!(
        api.requests().iter().all(|r| !r.contains("watch")),
        "{:#?}",
        api.requests()
    );

    // An API that is not there is an error, within the time given.
    api.set_down(true);
    let client = kubernetes::client(&config).await.unwrap();
    let err = kubernetes::snapshot(&config, client, PATIENCE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            kubernetes::Error::List {
                resource: "services",
                ..
            } | kubernetes::Error::Timeout(_)
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_kubeconfig_that_cannot_be_read_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = Kubernetes {
        kubeconfig: Some(dir.path().join("missing")),
        ..Kubernetes::default()
    };
    let Err(err) = kubernetes::client(&config).await else {
        panic!("a missing kubeconfig made a client");
    };
    assert!(matches!(err, kubernetes::Error::Kubeconfig { .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
}

/// The service itself following the fake API: a Service annotated with tags and vars, an
/// `appProtocol: https` port 8443 and a ClusterIP that is a loopback TLS server (`address:
/// cluster_ip`) becomes a target with the SPEC's name and URL and runs; a changed label
/// changes its tags and which probes run; deleting it removes its series from the tracker,
/// the store and the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_probes_what_the_cluster_adds_and_forgets_what_it_deletes() {
    use crate::tls_servers::{LeafSpec, Pki};
    let pki = Pki::new();
    let files = pki.leaf(
        "api",
        LeafSpec {
            sans: vec!["api.pay.svc.cluster.local".into()],
            ..LeafSpec::default()
        },
    );
    let tls = pki.serve(&files, &[]).await;
    let api = FakeApi::start().await;
    let ws = crate::helpers::workspace(&[
        (
            "probes/legacy.yaml",
            "id: team/legacy-tls\nname: legacy TLS refused\nseverity: high\n\
             schedule: { every: 1h }\ntls: {}\nchecks:\n  - protocols: { forbid: [ssl3] }\n",
        ),
        (
            "probes/regulated.yaml",
            "id: team/regulated-tls\nname: no TLS 1.0\nseverity: high\n\
             targets: { tags: [risk-regulated] }\nschedule: { every: 1h }\ntls: {}\n\
             checks:\n  - protocols: { forbid: [tls1.0] }\n",
        ),
    ]);
    let kubeconfig = api.kubeconfig(ws.path());
    let config = format!(
        "library: false\nprobes: [{probes}]\nstate: {{ path: {state} }}\n\
         api: {{ listen: \"127.0.0.1:0\" }}\n\
         discover:\n  kubernetes:\n    kubeconfig: {kubeconfig}\n    address: cluster_ip\n    resources: [services]\n    tags_from_labels: [risk]\n",
        probes = ws.path().join("probes").display(),
        state = ws.path().join("state").display(),
        kubeconfig = kubeconfig.display(),
    );
    std::fs::write(ws.path().join("picket.yaml"), config).unwrap();
    let stop = CancellationToken::new();
    let running = crate::service::start_in_process(
        &ws.path().join("picket.yaml"),
        std::sync::Arc::new(|_: &str| None),
        None,
        stop.clone(),
    )
    .await;

    let pay = |risk: &str| {
        let mut s = service(
            meta(
                "pay",
                "api",
                &[("risk", risk)],
                &[
                    ("picket.dev/tags", "public"),
                    ("picket.dev/vars", r#"{"login": "/in"}"#),
                ],
            ),
            "127.0.0.1",
            &[(i32::from(tls.port), Some("web"))],
        );
        let port = &mut s.spec.as_mut().unwrap().ports.as_mut().unwrap()[0];
        port.app_protocol = Some("https".into());
        s
    };
    let name = format!("pay.api.{}", tls.port);
    let keys = |running: &picket::service::Running| {
        let mut keys: Vec<String> = running
            .tracker
            .snapshot()
            .iter()
            .map(|t| format!("{}@{}", t.info.probe.id, t.info.target))
            .collect();
        keys.sort();
        keys
    };
    let wait = |what: &'static str, done: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < PATIENCE, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // ADDED: the minimal-risk Service gets the baseline probe only, which runs at once.
    let added = std::time::Instant::now();
    api.put("services", pay("minimal"));
    let ran = || {
        running
            .tracker
            .snapshot()
            .iter()
            .any(|t| t.info.target == name && t.state.last_run.is_some())
    };
    tokio::task::block_in_place(|| wait("the discovered Service ran", &ran));
    let first_run = added.elapsed();
    assert_eq!(keys(&running), [format!("team/legacy-tls@{name}")]);
    let tracked = running.tracker.snapshot();
    let tags = &tracked[0].info.tags;
    assert_eq!(
        tags.iter().map(String::as_str).collect::<Vec<_>>(),
        ["k8s", "ns-pay", "public", "risk-minimal"]
    );
    assert!(
        first_run < Duration::from_secs(10),
        "first run {first_run:?} after ADDED"
    );
    let state = &tracked[0].state;
    assert!(
        matches!(state.last_outcome, Some(picket::state::Mark::Pass)),
        "{state:?}"
    );

    // MODIFIED: the label makes it regulated; the regulated probe joins.
    api.put("services", pay("regulated"));
    let both = || keys(&running).len() == 2;
    tokio::task::block_in_place(|| wait("the regulated probe joined", &both));
    let rows = crate::service::get_rows(running.api_addr, "/api/v1/series").await;
    assert_eq!(rows.iter().filter(|r| r.target == name).count(), 2);

    // DELETED: its series leave the tracker and the API.
    api.delete("services", "pay", "api");
    let gone = || keys(&running).is_empty();
    tokio::task::block_in_place(|| wait("the deleted Service's series left", &gone));
    let rows = crate::service::get_rows(running.api_addr, "/api/v1/series").await;
    assert!(rows.iter().all(|r| r.target != name), "{rows:?}");
    stop.cancel();
    running.wait().await.unwrap();

    // And the store holds nothing of it (its writer thread lets go of the file shortly
    // after the service stops).
    let start = std::time::Instant::now();
    let stored = loop {
        match picket::state::Store::open(&ws.path().join("state")) {
            Ok((_, stored)) => break stored,
            Err(e) => assert!(start.elapsed() < PATIENCE, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(stored.is_empty(), "{:?}", stored.keys().collect::<Vec<_>>());
}
