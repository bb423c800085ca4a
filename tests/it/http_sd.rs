//! `discover.http` in a running service: a real loopback HTTP SD endpoint whose list changes
//! between refreshes, and real loopback targets the discovered series run against.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::helpers::{TestServer, respond, workspace};
use crate::service::start_in_process;

/// An HTTP SD endpoint serving whatever `body` holds, with an ETag of its length and
/// content hash; `If-None-Match` with the current tag gets a 304.
struct Endpoint {
    server: TestServer,
    body: Arc<Mutex<String>>,
}

impl Endpoint {
    async fn start(first: &str) -> Endpoint {
        let body = Arc::new(Mutex::new(first.to_owned()));
        let current = body.clone();
        let server = TestServer::start(move |seen| {
            let text = current.lock().unwrap().clone();
            let tag = format!("\"{}-{}\"", text.len(), picket::plan::stable_hash(&text));
            let asked = seen
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok());
            if asked == Some(tag.as_str()) {
                return respond(304, &[("etag", &tag)], "");
            }
            respond(
                200,
                &[("content-type", "application/json"), ("etag", &tag)],
                text,
            )
        })
        .await;
        Endpoint { server, body }
    }

    fn serve(&self, text: &str) {
        *self.body.lock().unwrap() = text.to_owned();
    }
}

fn list(ports: &[u16]) -> String {
    let targets: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    format!(
        "[{{\"targets\": [{}], \"labels\": {{\"team\": \"shop\"}}}}]",
        targets.join(",")
    )
}

/// Waits until the tracker's target names are `want` (sorted), and each has run once.
async fn wait_for_targets(running: &picket::service::Running, want: &[String], within: Duration) {
    let start = Instant::now();
    loop {
        let snapshot = running.tracker.snapshot();
        let mut names: Vec<String> = snapshot.iter().map(|t| t.info.target.clone()).collect();
        names.sort();
        names.dedup();
        let ran = snapshot.iter().all(|t| t.state.last_run.is_some());
        if names == want && ran {
            return;
        }
        assert!(
            start.elapsed() < within,
            "targets {names:?} (all ran: {ran}), want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_follow_the_endpoint_and_a_bad_list_keeps_the_last_good_one() {
    let web = |_| respond(200, &[("x-content-type-options", "nosniff")], "ok");
    let a = TestServer::start(web).await;
    let b = TestServer::start(web).await;
    let endpoint = Endpoint::start(&list(&[a.addr.port()])).await;
    let receiver = crate::otlp::Receiver::grpc().await;
    let ws = workspace(&[(
        "probes/nosniff.yaml",
        "id: team/nosniff\nname: nosniff\nseverity: low\nschedule: { every: 1s, jitter: 0% }\n\
         http: { path: / }\nchecks:\n  - header: x-content-type-options\n    equals: nosniff\n",
    )]);
    let config = format!(
        "library: false\nprobes: [{probes}]\nstate: {{ path: {state} }}\n\
         api: {{ listen: \"127.0.0.1:0\" }}\n\
         discover:\n  http:\n    - name: inv\n      url: {url}/sd\n      refresh: 1s\n\
         telemetry:\n  otlp: {{ endpoint: \"{otlp}\", protocol: grpc }}\n  export_interval: 300ms\n",
        otlp = receiver.endpoint(),
        probes = ws.path().join("probes").display(),
        state = ws.path().join("state").display(),
        url = endpoint.server.url(),
    );
    std::fs::write(ws.path().join("picket.yaml"), config).unwrap();
    let stop = CancellationToken::new();
    let running = start_in_process(
        &ws.path().join("picket.yaml"),
        Arc::new(|_: &str| None),
        None,
        stop.clone(),
    )
    .await;
    let name = |port: u16| format!("inv.127.0.0.1.{port}");

    // The first list's target is probed.
    wait_for_targets(&running, &[name(a.addr.port())], Duration::from_secs(20)).await;
    let tags = running.tracker.snapshot()[0].info.tags.clone();
    assert_eq!(tags, ["team-shop"]);

    // A second target appears; then the first goes, and leaves the tracker.
    endpoint.serve(&list(&[a.addr.port(), b.addr.port()]));
    let mut both = vec![name(a.addr.port()), name(b.addr.port())];
    both.sort();
    wait_for_targets(&running, &both, Duration::from_secs(20)).await;
    endpoint.serve(&list(&[b.addr.port()]));
    wait_for_targets(&running, &[name(b.addr.port())], Duration::from_secs(20)).await;
    // Each target that came and went is a log record, and the gauge counts the live ones.
    let events = |r: &crate::otlp::Receiver, event: &str| -> Vec<String> {
        r.logs()
            .into_iter()
            .filter(|l| l.event_name == event)
            .map(|l| {
                format!(
                    "{} {} {}",
                    l.attrs["discovery.source"], l.attrs["target.name"], l.attrs["target.tags"]
                )
            })
            .collect()
    };
    let seen = receiver
        .wait_until(
            |r| {
                events(r, "picket.target.discovered").len() >= 2
                    && !events(r, "picket.target.removed").is_empty()
                    && !r.last_export_points("picket.discovery.targets").is_empty()
            },
            Duration::from_secs(20),
        )
        .await;
    assert!(seen, "{}", receiver.dump());
    let mut discovered = events(&receiver, "picket.target.discovered");
    discovered.sort();
    let mut want = vec![
        format!("http:inv {} team-shop", name(a.addr.port())),
        format!("http:inv {} team-shop", name(b.addr.port())),
    ];
    want.sort();
    assert_eq!(discovered, want);
    assert_eq!(
        events(&receiver, "picket.target.removed"),
        [format!("http:inv {} team-shop", name(a.addr.port()))]
    );

    // A malformed list, then one over 10 MiB: the last good list stays.
    let requests = endpoint.server.seen().len();
    endpoint.serve("{\"not\": \"a list\"}");
    let start = Instant::now();
    while endpoint.server.seen().len() < requests + 2 {
        assert!(start.elapsed() < Duration::from_secs(20), "no refresh");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    endpoint.serve(&format!("[{}]", " ".repeat(11 << 20)));
    let requests = endpoint.server.seen().len();
    while endpoint.server.seen().len() < requests + 2 {
        assert!(start.elapsed() < Duration::from_secs(40), "no refresh");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_targets(&running, &[name(b.addr.port())], Duration::from_secs(1)).await;
    // Both bad lists counted as the source's errors, without dropping a target.
    let errors = |r: &crate::otlp::Receiver| {
        r.last_export_points("picket.discovery.errors")
            .iter()
            .filter(|(attrs, _)| {
                attrs.get("discovery.source").map(String::as_str) == Some("http:inv")
            })
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    assert!(
        receiver
            .wait_until(|r| errors(r) >= 2.0, Duration::from_secs(20))
            .await,
        "{}",
        receiver.dump()
    );

    // Unchanged lists are asked for with the ETag, and answered 304.
    endpoint.serve(&list(&[b.addr.port()]));
    let start = Instant::now();
    loop {
        let conditional = endpoint
            .server
            .seen()
            .iter()
            .filter(|s| s.headers.contains_key("if-none-match"))
            .count();
        if conditional > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no If-None-Match"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    running.wait().await.unwrap();
}

const NOSNIFF: &str = "id: team/nosniff\nname: nosniff\nseverity: low\nhttp: { path: / }\n\
                       checks:\n  - header: x-content-type-options\n    equals: nosniff\n";

/// `list`, `check` and `validate` with a discovery source: `list` and `check` read it once
/// (`list` shows each target's source and what the source skipped), a source `check` cannot
/// read fails the gate, and `validate` checks the block without contacting anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_check_and_validate_read_discovery_once_or_not_at_all() {
    let web =
        TestServer::start(|_| respond(200, &[("x-content-type-options", "nosniff")], "ok")).await;
    let port = web.addr.port();
    let endpoint = Endpoint::start(&format!(
        "[{{\"targets\": [\"127.0.0.1:{port}\", \"a/b\"], \"labels\": {{\"team\": \"shop\"}}}}]"
    ))
    .await;
    let config = |url: &str| {
        format!(
            "library: false\nprobes: [probes/]\ntargets:\n  - name: static-web\n    url: {web}\n\
             discover:\n  http:\n    - name: inv\n      url: {url}\n",
            web = web.url()
        )
    };
    let ws = workspace(&[
        ("probes/nosniff.yaml", NOSNIFF),
        (
            "picket.yaml",
            &config(&format!("{}/sd", endpoint.server.url())),
        ),
        (
            "down.yaml",
            &config(&format!(
                "http://127.0.0.1:{}/sd",
                crate::helpers::closed_port()
            )),
        ),
    ]);
    let name = format!("inv.127.0.0.1.{port}");

    let out = crate::helpers::run_picket(ws.path(), &["list", "-c", "picket.yaml"], &[]).await;
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{stdout}"))
            .to_owned()
    };
    assert!(line("static-web").contains(" static "), "{stdout}");
    assert!(line(&name).contains(" http:inv "), "{stdout}");
    assert!(line(&name).contains("[team-shop]"), "{stdout}");
    assert!(
        stdout.contains("NOT TARGETS (1)")
            && stdout.contains("http:inv a/b: `a/b` is not host:port"),
        "{stdout}"
    );

    let requests = endpoint.server.seen().len();
    let out = crate::helpers::run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--format", "json"],
        &[],
    )
    .await;
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mut targets: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    targets.sort();
    assert_eq!(targets, [name.as_str(), "static-web"]);
    assert_eq!(endpoint.server.seen().len(), requests + 1, "one snapshot");

    // A source check cannot read: its targets are missing, said, and the gate fails.
    let out = crate::helpers::run_picket(ws.path(), &["check", "-c", "down.yaml"], &[]).await;
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "error: discovery source `http:inv` could not be read: cannot fetch http://127.0.0.1:"
        ),
        "{stderr}"
    );
    let out = crate::helpers::run_picket(
        ws.path(),
        &["check", "-c", "down.yaml", "--allow-unreachable"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));

    // validate contacts nothing: not the endpoint, and an unreachable one is no error.
    let requests = endpoint.server.seen().len();
    for file in ["picket.yaml", "down.yaml"] {
        let out = crate::helpers::run_picket(ws.path(), &["validate", "-c", file], &[]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{:?}",
            crate::helpers::texts(&out)
        );
    }
    assert_eq!(endpoint.server.seen().len(), requests);
}

/// A bad `discover:` block is a located error with a hint, for each problem in one pass.
#[tokio::test]
async fn a_bad_discover_block_is_located() {
    let ws = workspace(&[(
        "picket.yaml",
        "library: false\ndiscover:\n  http:\n    - name: Inv\n      url: ftp://x\n      refresh: 0s\n\
         \x20 kubernetes:\n    selector: \"tier in (a\"\n    resources: [services, pods]\n",
    )]);
    let out = crate::helpers::run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for located in [
        "picket.yaml:4:13: invalid discover.http name `Inv`",
        "picket.yaml:5:12: discover.http url must be an http or https URL with a host",
        "picket.yaml:6:16: `refresh: 0s` is out of range: it must be from 1s to 1d",
        "picket.yaml:8:15: invalid label selector `tier in (a`: a `(` without its `)`",
        "picket.yaml:9:27: unknown resource `pods`",
    ] {
        assert!(stderr.contains(located), "no `{located}` in\n{stderr}");
    }
}
