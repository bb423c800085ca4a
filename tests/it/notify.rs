//! Webhook notifications: one POST per regression and per recovery, in each format, with no
//! secret in any body; retries, refusals and drops counted by outcome; and a webhook that is
//! down or hangs never holds up a run. Receivers are loopback servers started here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use picket::notify::Delivery;
use picket::service::Running;
use picket::state::{State, Transition};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestServer, respond, run_picket, texts, workspace};

/// A POST as a receiver got it.
#[derive(Debug, Clone)]
pub struct Post {
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

/// A loopback webhook receiver: records every request and answers each path with the next
/// status of its script (200 once the script is used up; `Retry-After: 1` with a 429).
pub struct Receiver {
    pub addr: SocketAddr,
    posts: Arc<Mutex<Vec<Post>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub async fn start(scripts: &[(&str, &[u16])]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
        let record = posts.clone();
        let scripts: Arc<Mutex<BTreeMap<String, Vec<u16>>>> = Arc::new(Mutex::new(
            scripts
                .iter()
                .map(|(p, s)| (p.to_string(), s.iter().rev().copied().collect()))
                .collect(),
        ));
        let app = axum::Router::new().fallback(move |req: Request| {
            let record = record.clone();
            let scripts = scripts.clone();
            async move {
                let path = req.uri().path().to_string();
                let headers = req.headers().clone();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                record.lock().unwrap().push(Post {
                    path: path.clone(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let status = scripts
                    .lock()
                    .unwrap()
                    .get_mut(&path)
                    .and_then(Vec::pop)
                    .unwrap_or(200);
                let retry = if status == 429 { "1" } else { "0" };
                respond(status, &[("retry-after", retry)], "")
            }
        });
        let tx = crate::helpers::serve_until_dropped(listener, app);
        Receiver {
            addr,
            posts,
            _shutdown: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// The bodies posted to `path`, as JSON.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.posts()
            .iter()
            .filter(|p| p.path == path)
            .map(|p| serde_json::from_str(&p.body).unwrap_or_else(|e| panic!("{e}: {}", p.body)))
            .collect()
    }

    pub async fn wait_for(&self, path: &str, n: usize) {
        let start = Instant::now();
        while self.posts().iter().filter(|p| p.path == path).count() < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{path}: fewer than {n} posts: {:?}",
                self.posts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const TARGET_TOKEN: &str = "tgt-Tok3n-9d8c7b6a5f";
const HOOK_TOKEN: &str = "hook-Tok3n-1a2b3c4d5e";

/// A target whose `X-Content-Type-Options` is `nosniff` while secure, and otherwise echoes
/// the `Authorization` it got: a finding then quotes the target's secret.
struct Echo {
    server: TestServer,
    insecure: Arc<AtomicBool>,
}

impl Echo {
    async fn start() -> Echo {
        let insecure = Arc::new(AtomicBool::new(false));
        let flag = insecure.clone();
        let server = TestServer::start(move |seen| {
            let value = if flag.load(Ordering::SeqCst) {
                seen.headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string()
            } else {
                "nosniff".to_string()
            };
            respond(200, &[("x-content-type-options", &value)], "ok")
        })
        .await;
        Echo { server, insecure }
    }

    fn set_insecure(&self, on: bool) {
        self.insecure.store(on, Ordering::SeqCst);
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "PICKET_TEST_TARGET_TOKEN" => Some(TARGET_TOKEN.into()),
        "PICKET_TEST_HOOK_TOKEN" => Some(HOOK_TOKEN.into()),
        _ => None,
    }
}

/// A config: the nosniff probe (plus `extra_probes`) on target `web`, every second,
/// `confirm: 1`, with `notify` as given.
fn write_config(dir: &Path, target: &str, notify: &str) {
    let config = format!(
        "library: false\nprobes: [{probes}]\ntargets:\n  - name: web\n    url: {target}\n    tags: [public]\n\
         \x20   headers:\n      Authorization: \"Bearer ${{env:PICKET_TEST_TARGET_TOKEN}}\"\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 1\n  recover: 1\n  timeout: 2s\n\
         limits:\n  per_target_rps: 100\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n{notify}",
        probes = dir.join("probes").display(),
        state = dir.join("state").display(),
    );
    std::fs::write(dir.join("picket.yaml"), config).unwrap();
}

fn probes_workspace(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files = vec![("probes/nosniff.yaml", crate::service::NOSNIFF)];
    files.extend_from_slice(extra);
    workspace(&files)
}

async fn start(
    dir: &Path,
    telemetry: picket::telemetry::Telemetry,
) -> (Running, CancellationToken) {
    let shutdown = CancellationToken::new();
    let running = crate::service::start_in_process(
        &dir.join("picket.yaml"),
        Arc::new(env),
        Some(telemetry),
        shutdown.clone(),
    )
    .await;
    (running, shutdown)
}

async fn wait_state(running: &Running, key: &str, state: State) {
    let start = Instant::now();
    loop {
        if running
            .tracker
            .get(key)
            .is_some_and(|t| t.state.state == state)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{key} never {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stop(running: Running, shutdown: CancellationToken) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running.wait())
        .await
        .expect("shutdown is bounded")
        .unwrap();
}

fn hooks_block(receiver: &Receiver) -> String {
    format!(
        "notify:\n  webhooks:\n\
         \x20   - name: generic\n      url: \"{json}\"\n      headers: {{ Authorization: \"Bearer ${{env:PICKET_TEST_HOOK_TOKEN}}\" }}\n\
         \x20   - name: chat\n      url: \"{slack}\"\n      format: slack\n\
         \x20   - name: teams-channel\n      url: \"{teams}\"\n      format: teams\n      timeout: 2s\n",
        json = receiver.url("/json"),
        slack = receiver.url("/slack"),
        teams = receiver.url("/teams"),
    )
}

/// Neither the target's token (which a finding quoted) nor the webhook's own token, in any
/// common spelling.
fn assert_no_secret(body: &str) {
    use base64::Engine as _;
    for secret in [TARGET_TOKEN, HOOK_TOKEN] {
        for spelling in [
            secret.to_string(),
            secret.to_ascii_lowercase(),
            base64::engine::general_purpose::STANDARD.encode(secret),
        ] {
            assert!(!body.contains(&spelling), "{secret} in {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_regression_and_recovery_is_posted_once_in_every_format() {
    let receiver = Receiver::start(&[]).await;
    let target = Echo::start().await;
    let ws = probes_workspace(&[]);
    write_config(ws.path(), &target.server.url(), &hooks_block(&receiver));
    let (running, shutdown) = start(ws.path(), picket::telemetry::Telemetry::disabled()).await;
    let key = "headers/nosniff@web";
    wait_state(&running, key, State::Passing).await;
    target.set_insecure(true);
    wait_state(&running, key, State::Regressed).await;
    for path in ["/json", "/slack", "/teams"] {
        receiver.wait_for(path, 1).await;
    }
    target.set_insecure(false);
    wait_state(&running, key, State::Passing).await;
    for path in ["/json", "/slack", "/teams"] {
        receiver.wait_for(path, 2).await;
    }
    // A few more passing runs: nothing more to say.
    let runs = running.tracker.runs();
    while running.tracker.runs() < runs + 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let notifier = running.notifier.clone();
    stop(running, shutdown).await;

    let posts = receiver.posts();
    assert_eq!(posts.len(), 6, "{posts:#?}");
    for post in &posts {
        assert_eq!(post.headers["content-type"], "application/json", "{post:?}");
        assert!(
            post.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("picket/")
        );
        assert_no_secret(&post.body);
    }
    // The webhook's header went out on the wire, to that webhook only.
    for post in &posts {
        let auth = post
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap());
        match post.path.as_str() {
            "/json" => assert_eq!(auth, Some(format!("Bearer {HOOK_TOKEN}").as_str())),
            _ => assert_eq!(auth, None, "{post:?}"),
        }
    }

    let json = receiver.bodies("/json");
    let (regression, recovery) = (&json[0], &json[1]);
    assert_eq!(regression["event"], "picket.regression");
    assert_eq!(regression["probe"]["id"], "headers/nosniff");
    assert_eq!(regression["probe"]["name"], "MIME sniffing is disabled");
    assert_eq!(regression["probe"]["severity"], "medium");
    assert_eq!(regression["target"]["name"], "web");
    assert_eq!(regression["target"]["tags"][0], "public");
    assert_eq!(regression["state"], "regressed");
    assert_eq!(regression["previous_state"], "passing");
    assert!(regression["since"].as_str().unwrap().ends_with('Z'));
    let finding = &regression["findings"][0];
    assert_eq!(
        finding["expected"],
        "X-Content-Type-Options exactly \"nosniff\""
    );
    assert_eq!(
        finding["observed"], "X-Content-Type-Options: Bearer <redacted>",
        "{finding}"
    );
    assert_eq!(regression["findings_count"], 1);
    assert_eq!(
        regression["references"][0],
        "https://www.zaproxy.org/docs/alerts/10021/"
    );
    assert!(
        !regression["picket"]["instance"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(
        regression["id"]
            .as_str()
            .unwrap()
            .starts_with("picket.regression:headers/nosniff@web:")
    );
    assert_eq!(recovery["event"], "picket.recovery");
    assert_eq!(recovery["state"], "passing");
    assert_eq!(recovery["previous_state"], "regressed");
    assert_eq!(recovery["probe"]["severity"], "medium");
    assert_eq!(recovery["findings"], serde_json::json!([]));

    let slack = receiver.bodies("/slack");
    assert!(
        slack[0]["text"]
            .as_str()
            .unwrap()
            .contains("Security regression: headers/nosniff on web (medium)"),
        "{}",
        slack[0]
    );
    assert_eq!(slack[0]["blocks"][0]["type"], "header");
    assert!(
        slack[0].to_string().contains("Bearer &lt;redacted&gt;"),
        "{}",
        slack[0]
    );
    assert!(
        slack[1]["text"]
            .as_str()
            .unwrap()
            .contains("Security recovery")
    );

    let teams = receiver.bodies("/teams");
    let card = &teams[0]["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert!(
        card.to_string()
            .contains("observed X-Content-Type-Options: Bearer <redacted>"),
        "{card}"
    );
    assert_eq!(
        teams[1]["attachments"][0]["content"]["body"][0]["text"],
        "Security recovery"
    );

    for hook in ["generic", "chat", "teams-channel"] {
        assert_eq!(notifier.deliveries(hook, Delivery::Delivered), 2, "{hook}");
        assert_eq!(notifier.deliveries(hook, Delivery::Failed), 0, "{hook}");
        assert_eq!(notifier.deliveries(hook, Delivery::Dropped), 0, "{hook}");
    }
}

/// The acceptance test for retries: 503 then 200 is delivered after one retry, 429 with
/// `Retry-After` too, a 400 fails at once; the counter reaches the collector by outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_retried_refused_and_counted_by_outcome() {
    let collector = crate::otlp::Receiver::grpc().await;
    let receiver = Receiver::start(&[
        ("/flaky", &[503]),
        ("/busy", &[429]),
        ("/refuses", &[400, 400]),
    ])
    .await;
    let target = Echo::start().await;
    let ws = probes_workspace(&[]);
    let notify = format!(
        "notify:\n  webhooks:\n\
         \x20   - {{ name: flaky, url: \"{}\" }}\n\
         \x20   - {{ name: busy, url: \"{}\" }}\n\
         \x20   - {{ name: refuses, url: \"{}\" }}\n\
         telemetry:\n  otlp: {{ endpoint: \"{}\", protocol: grpc }}\n  export_interval: 300ms\n",
        receiver.url("/flaky"),
        receiver.url("/busy"),
        receiver.url("/refuses"),
        collector.endpoint(),
    );
    write_config(ws.path(), &target.server.url(), &notify);
    let loaded = picket::load::load(&ws.path().join("picket.yaml"), &env).unwrap();
    let telemetry = picket::telemetry::Telemetry::init(&loaded.config.telemetry, None).unwrap();
    let (running, shutdown) = start(ws.path(), telemetry).await;
    let key = "headers/nosniff@web";
    wait_state(&running, key, State::Passing).await;
    target.set_insecure(true);
    wait_state(&running, key, State::Regressed).await;
    receiver.wait_for("/flaky", 2).await;
    receiver.wait_for("/busy", 2).await;
    receiver.wait_for("/refuses", 1).await;
    let notifier = running.notifier.clone();
    let start = Instant::now();
    while notifier.deliveries("flaky", Delivery::Delivered)
        + notifier.deliveries("busy", Delivery::Delivered)
        < 2
    {
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(notifier.deliveries("refuses", Delivery::Failed), 1);
    // The same body each attempt; a 400 is not retried.
    let flaky: Vec<Post> = receiver
        .posts()
        .into_iter()
        .filter(|p| p.path == "/flaky")
        .collect();
    assert_eq!(flaky.len(), 2);
    assert_eq!(flaky[0].body, flaky[1].body);
    assert!(
        collector
            .wait_until(
                |c| {
                    let points = c.metric_points("picket.notify.deliveries");
                    let count = |hook: &str, outcome: &str| {
                        points
                            .iter()
                            .find(|(a, _)| a["webhook.name"] == hook && a["outcome"] == outcome)
                            .map_or(0.0, |(_, v)| *v)
                    };
                    count("flaky", "delivered") == 1.0
                        && count("busy", "delivered") == 1.0
                        && count("refuses", "failed") == 1.0
                },
                Duration::from_secs(30),
            )
            .await,
        "the counter reaches the collector: {:?}",
        collector.metric_points("picket.notify.deliveries")
    );
    let metric = collector.metric("picket.notify.deliveries").unwrap();
    assert_eq!(
        (metric.unit.as_str(), metric.kind, metric.monotonic),
        ("{delivery}", "sum", true)
    );
    stop(running, shutdown).await;
    // Only the regression so far: one more post to /refuses would be a retry.
    assert_eq!(
        receiver
            .posts()
            .iter()
            .filter(|p| p.path == "/refuses")
            .count(),
        1
    );
}

/// A steady series beside the flipping one: both run on the same 1 s schedule whatever the
/// webhooks do.
const STEADY: &str = "id: test/steady\nname: steady\nseverity: low\nhttp:\n  path: /steady\nchecks:\n  - status: 200\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_is_down_or_hangs_never_holds_up_runs() {
    // Down: a port that was just released. Hangs: accepts and never answers.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hanging.local_addr().unwrap();
    let held: Arc<Mutex<Vec<tokio::net::TcpStream>>> = Arc::default();
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = hanging.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    // A target that fails every other request: with confirm and recover 1, every run of the
    // nosniff series is a transition.
    let flip = Arc::new(AtomicBool::new(false));
    let flag = flip.clone();
    let target = TestServer::start(move |seen| {
        if seen.path_and_query == "/steady" {
            return respond(200, &[], "ok");
        }
        if flag.fetch_xor(true, Ordering::SeqCst) {
            respond(200, &[("x-content-type-options", "nosniff")], "ok")
        } else {
            respond(200, &[], "ok")
        }
    })
    .await;
    let ws = probes_workspace(&[("probes/steady.yaml", STEADY)]);
    let notify = format!(
        "notify:\n  webhooks:\n\
         \x20   - {{ name: down, url: \"http://{down}/hook\", queue: 1 }}\n\
         \x20   - {{ name: hangs, url: \"http://{hang_addr}/hook\", queue: 1, timeout: 1s }}\n"
    );
    write_config(ws.path(), &target.url(), &notify);
    let (running, shutdown) = start(ws.path(), picket::telemetry::Telemetry::disabled()).await;
    let mut changes = running.tracker.subscribe();
    let counted = tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok(change) = changes.recv().await {
            if matches!(
                change.transition,
                Some(Transition::Regression | Transition::Recovery)
            ) {
                n += 1;
            }
        }
        n
    });
    let history = |key: &str| {
        running
            .tracker
            .get(key)
            .map_or(0, |t| t.state.history.len())
    };
    let start = Instant::now();
    while history("headers/nosniff@web") < 10 {
        assert!(start.elapsed() < Duration::from_secs(60), "runs stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Runs go on: the steady series kept pace with the flipping one (same schedule, phases
    // within one interval of each other), while neither webhook delivered anything.
    let (flipping, steady) = (history("headers/nosniff@web"), history("test/steady@web"));
    assert!(
        steady + 2 >= flipping,
        "steady {steady}, flipping {flipping}"
    );
    let notifier = running.notifier.clone();
    for hook in ["down", "hangs"] {
        assert_eq!(notifier.deliveries(hook, Delivery::Delivered), 0, "{hook}");
        assert!(
            notifier.deliveries(hook, Delivery::Dropped) > 0,
            "{hook}: the queue of 1 overflowed"
        );
    }
    stop(running, shutdown).await;
    let transitions = counted.await.unwrap();
    assert!(transitions >= 6, "{transitions}");
    // Every notification is accounted for, once: delivered, failed or dropped.
    for hook in ["down", "hangs"] {
        let total: u64 = [Delivery::Delivered, Delivery::Failed, Delivery::Dropped]
            .into_iter()
            .map(|o| notifier.deliveries(hook, o))
            .sum();
        assert_eq!(total, transitions, "{hook}");
    }
    assert!(
        !held.lock().unwrap().is_empty(),
        "the hanging receiver was contacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replaces_the_webhooks() {
    let receiver = Receiver::start(&[]).await;
    let target = Echo::start().await;
    let ws = probes_workspace(&[]);
    let one = |name: &str, path: &str| {
        format!(
            "notify:\n  webhooks:\n    - {{ name: {name}, url: \"{}\" }}\n",
            receiver.url(path)
        )
    };
    write_config(ws.path(), &target.server.url(), &one("old", "/old"));
    let (running, shutdown) = start(ws.path(), picket::telemetry::Telemetry::disabled()).await;
    assert_eq!(running.notifier.webhooks(), ["old"]);
    write_config(ws.path(), &target.server.url(), &one("new", "/new"));
    running.reload();
    let start = Instant::now();
    while running.notifier.webhooks() != ["new"] {
        assert!(start.elapsed() < Duration::from_secs(30), "never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let key = "headers/nosniff@web";
    wait_state(&running, key, State::Passing).await;
    target.set_insecure(true);
    wait_state(&running, key, State::Regressed).await;
    receiver.wait_for("/new", 1).await;
    stop(running, shutdown).await;
    assert!(
        receiver.posts().iter().all(|p| p.path == "/new"),
        "{:?}",
        receiver.posts()
    );
}

#[tokio::test]
async fn bad_webhooks_are_located_errors() {
    let ws = workspace(&[(
        "picket.yaml",
        "probes: []\nnotify:\n  webhooks:\n\
         \x20   - name: slack\n      url: ftp://hooks.example/x\n\
         \x20   - name: slack\n      url: http://127.0.0.1:9/\n\
         \x20   - name: Bad Name\n      url: \"not a url\"\n\
         \x20   - name: ok\n      url: http://127.0.0.1:9/\n      queue: 0\n      timeout: 2m\n\
         \x20   - name: other\n      url: http://127.0.0.1:9/\n      format: discord\n",
    )]);
    let out = run_picket(ws.path(), &["validate", "-c", "picket.yaml"], &[]).await;
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        "picket.yaml:5:12: webhook URL must be http or https with a host, not `ftp:`",
        "picket.yaml:6:13: duplicate webhook name `slack`",
        "hint: first defined at picket.yaml:4:13",
        "picket.yaml:8:13: invalid webhook name `Bad Name`",
        "picket.yaml:9:12: invalid webhook URL: relative URL without a base",
        "picket.yaml:12:14: `queue: 0` is out of range: it must be from 1 to 10000",
        "picket.yaml:13:16: `timeout: 2m` is out of range: it must be from 100ms to 1m",
        "picket.yaml:16:15: unknown value `discord` for `format`",
        "hint: expected one of: json, slack, teams",
    ] {
        assert!(stderr.contains(expected), "{expected}:\n{stderr}");
    }
}

/// The documented `notify:` and `api:` examples load as written (with their variables set).
#[tokio::test]
async fn the_readme_examples_of_notify_and_api_token_are_valid() {
    let docs = crate::helpers::user_docs();
    let blocks: Vec<&str> = docs
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        // The `api.tls` example names files under /etc: not loadable here.
        .filter(|b| {
            b.starts_with("notify:")
                || (b.starts_with("api:\n  listen: 0.0.0.0") && !b.contains("tls:"))
        })
        .collect();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    let ws = workspace(&[(
        "picket.yaml",
        &format!("library: false\nprobes: []\n{}", blocks.concat()),
    )]);
    let out = run_picket(
        ws.path(),
        &["validate", "-c", "picket.yaml"],
        &[
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T000/B000/XXXX",
            ),
            ("HOOK_TOKEN", "hook-token-0000"),
            ("PICKET_API_TOKEN", "0123456789abcdef0123456789abcdef"),
        ],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
}
