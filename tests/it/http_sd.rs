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
    let ws = workspace(&[(
        "probes/nosniff.yaml",
        "id: team/nosniff\nname: nosniff\nseverity: low\nschedule: { every: 1s, jitter: 0% }\n\
         http: { path: / }\nchecks:\n  - header: x-content-type-options\n    equals: nosniff\n",
    )]);
    let config = format!(
        "library: false\nprobes: [{probes}]\nstate: {{ path: {state} }}\n\
         api: {{ listen: \"127.0.0.1:0\" }}\n\
         discover:\n  http:\n    - name: inv\n      url: {url}/sd\n      refresh: 1s\n",
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
