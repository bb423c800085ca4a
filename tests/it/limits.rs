//! Bounds: no response, however large or slow, makes picket read without bound or hang, and
//! runs respect the global and per-target concurrency limits and `per_target_rps`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use picket::outcome::Outcome;

use crate::helpers::{TestServer, probe_with_checks, respond, run_probe};

/// A body that never ends; counts the bytes the server managed to hand to the socket.
fn endless_body(sent: Arc<AtomicUsize>) -> Body {
    let chunk = Bytes::from(vec![b'a'; 16 * 1024]);
    let stream = futures_util::stream::repeat_with(move || {
        sent.fetch_add(chunk.len(), Ordering::Relaxed);
        Ok::<_, std::convert::Infallible>(chunk.clone())
    });
    Body::from_stream(stream)
}

#[tokio::test]
async fn an_endless_body_is_read_only_up_to_max_body_bytes() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let server = TestServer::start(move |_| {
        respond(
            200,
            &[("content-type", "text/plain")],
            endless_body(counter.clone()),
        )
    })
    .await;
    // The helper's config caps bodies at 64 KiB; the needle is never within it.
    let result = run_probe(
        &server.url(),
        &probe_with_checks("/", "  - body: { contains: NEEDLE }\n  - status: 200\n"),
    )
    .await;
    // The needle could be in the unread rest: the run says so instead of failing or passing.
    match &result.outcome {
        Outcome::Error(e) => assert_eq!(
            e.to_string(),
            "body_too_large: response body exceeded max_body_bytes (65536 bytes); \
             could not decide on the part read: the body contains \"NEEDLE\""
        ),
        other => panic!("expected a body_too_large error, got {other:?}"),
    }
    // Give the server a moment to notice the closed connection, then check it stopped:
    // what it pushed is bounded by socket buffers, not by the endless body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pushed = sent.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = sent.load(Ordering::Relaxed);
    assert_eq!(
        pushed, later,
        "the server kept sending: the connection was not closed"
    );
    assert!(pushed < 64 << 20, "read far past the cap: {pushed} bytes");
}

#[tokio::test]
async fn a_large_json_body_is_cut_and_its_json_checks_are_left_undecided() {
    let big = format!("{{\"debug\": false, \"pad\": \"{}\"}}", "x".repeat(200_000));
    let server = TestServer::start(move |_| {
        respond(200, &[("content-type", "application/json")], big.clone())
    })
    .await;
    let result = run_probe(
        &server.url(),
        &probe_with_checks("/", "  - json: { pointer: /debug, equals: false }\n"),
    )
    .await;
    match &result.outcome {
        Outcome::Error(e) => assert_eq!(
            e.message,
            "response body exceeded max_body_bytes (65536 bytes); \
             could not decide on the part read: JSON /debug is false"
        ),
        other => panic!("expected a body_too_large error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_never_answers_ends_in_a_timeout_error() {
    // Accepts connections and never writes a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let probe = "id: slow/x\nname: slow\nseverity: low\ntimeout: 300ms\nhttp:\n  path: /\nchecks:\n  - status: 200\n";
    let result = run_probe(&format!("http://{addr}"), probe).await;
    match result.outcome {
        Outcome::Error(e) => assert_eq!(e.kind.as_str(), "timeout", "{e}"),
        other => panic!("expected timeout, got {other:?}"),
    }
    assert!(result.duration < Duration::from_secs(5));
}

#[tokio::test]
async fn garbage_instead_of_http_is_an_error_outcome() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(b"\x00\xffNOT HTTP AT ALL\r\n\r\n\xfe").await;
        }
    });
    let result = run_probe(
        &format!("http://{addr}"),
        &probe_with_checks("/", "  - status: 200\n"),
    )
    .await;
    match result.outcome {
        Outcome::Error(e) => assert_eq!(e.kind.as_str(), "http", "{e}"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn fail_on_error_turns_error_outcomes_into_exit_1() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ws = crate::helpers::workspace(&[
        (
            "picket.yaml",
            &crate::helpers::config_for(&format!("http://127.0.0.1:{port}"), ""),
        ),
        (
            "probes/p.yaml",
            &probe_with_checks("/", "  - status: 200\n"),
        ),
    ]);
    // Every series of the target is an error: the target is unreachable, which fails the
    // gate by default; --allow-unreachable lets errors alone pass, and --fail-on-error makes
    // any error fail again.
    let out = crate::helpers::run_picket(ws.path(), &["check", "-c", "picket.yaml"], &[]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{:?}",
        crate::helpers::texts(&out)
    );
    let out = crate::helpers::run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--allow-unreachable"],
        &[],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?}",
        crate::helpers::texts(&out)
    );
    assert!(crate::helpers::texts(&out).0.contains("ERROR test/probe"));
    let out = crate::helpers::run_picket(
        ws.path(),
        &[
            "check",
            "-c",
            "picket.yaml",
            "--allow-unreachable",
            "--fail-on-error",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
}

/// A server that records how many requests it is handling at once, each taking `hold`.
async fn concurrency_meter(hold: Duration) -> (TestServer, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (n, m) = (now.clone(), max.clone());
    let server = TestServer::start(move |_| {
        let (n, m) = (n.clone(), m.clone());
        let stream = futures_util::stream::once(async move {
            let current = n.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(hold).await;
            n.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b"ok"))
        });
        respond(200, &[], Body::from_stream(stream))
    })
    .await;
    (server, max)
}

async fn run_many(config: &str, probes: usize) -> Duration {
    run_many_results(config, probes).await.0
}

/// A workspace of `probes` probes (`many/pN`, a GET of `/pN` expecting 200) and `config`,
/// whose `PROBES` stands for their folder, loaded.
fn load_many(config: &str, probes: usize) -> (tempfile::TempDir, picket::load::Loaded) {
    let mut files: Vec<(String, String)> = (0..probes)
        .map(|i| {
            (
                format!("probes/p{i}.yaml"),
                format!("id: many/p{i}\nname: p{i}\nseverity: low\nhttp:\n  path: /p{i}\nchecks:\n  - status: 200\n"),
            )
        })
        .collect();
    files.push(("picket.yaml".into(), config.to_string()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let ws = crate::helpers::workspace(&refs);
    let config = ws.path().join("picket.yaml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("PROBES", &ws.path().join("probes").display().to_string());
    std::fs::write(&config, text).unwrap();
    let loaded = picket::load::load(&config, &|_| None).unwrap();
    (ws, loaded)
}

/// Like [`run_many`], also returning the results.
async fn run_many_results(
    config: &str,
    probes: usize,
) -> (Duration, Vec<picket::outcome::RunResult>) {
    let (_ws, loaded) = load_many(config, probes);
    let plan = picket::plan::plan(&loaded);
    picket::crypto::install_crypto_provider();
    let runner = picket::run::Runner::new(&loaded.config).unwrap();
    let start = std::time::Instant::now();
    let results = picket::commands::run_all(
        &runner,
        plan.series.clone().into(),
        &indicatif::ProgressBar::hidden(),
    )
    .await;
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Pass),
        "{results:?}"
    );
    (start.elapsed(), results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_respect_per_target_and_global_concurrency() {
    let (server, max) = concurrency_meter(Duration::from_millis(100)).await;
    let config = format!(
        "library: false\nprobes: [PROBES]\ntargets:\n  - name: a\n    url: {}\nlimits:\n  per_target_concurrency: 3\n  per_target_rps: 1000\n",
        server.url()
    );
    run_many(&config, 12).await;
    assert_eq!(max.load(Ordering::SeqCst), 3, "per-target limit");

    let (server, max) = concurrency_meter(Duration::from_millis(100)).await;
    let targets: String = (0..4)
        .map(|t| format!("  - name: t{t}\n    url: {}\n", server.url()))
        .collect();
    let config = format!(
        "library: false\nprobes: [PROBES]\ntargets:\n{targets}limits:\n  concurrency: 5\n  per_target_concurrency: 4\n  per_target_rps: 1000\n"
    );
    run_many(&config, 6).await;
    assert_eq!(
        max.load(Ordering::SeqCst),
        5,
        "global limit across 4 targets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_one_target_are_spaced_by_per_target_rps() {
    let (server, _) = concurrency_meter(Duration::ZERO).await;
    let config = format!(
        "library: false\nprobes: [PROBES]\ntargets:\n  - name: a\n    url: {}\nlimits:\n  per_target_concurrency: 8\n  per_target_rps: 20\n",
        server.url()
    );
    // 21 requests at 20/s cannot take less than 1 s, however fast the machine.
    let took = run_many(&config, 21).await;
    assert!(
        took >= Duration::from_millis(990),
        "21 requests at 20 rps took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_are_the_exchange_not_the_wait_for_rate_slots() {
    let (server, _) = concurrency_meter(Duration::ZERO).await;
    let config = format!(
        "library: false\nprobes: [PROBES]\ntargets:\n  - name: a\n    url: {}\nlimits:\n  per_target_concurrency: 8\n  per_target_rps: 4\n",
        server.url()
    );
    // Six series at 4/s: the last one's slot comes 1.25 s after the first, however fast the
    // target answers. Each exchange with a loopback server takes milliseconds.
    let (took, results) = run_many_results(&config, 6).await;
    assert!(took >= Duration::from_millis(1200), "took {took:?}");
    for r in &results {
        assert!(
            r.duration < Duration::from_millis(200),
            "{} reports {:?} for a loopback exchange (waited {:?})",
            r.probe,
            r.duration,
            r.wait
        );
    }
    let longest = results.iter().map(|r| r.wait).max().unwrap();
    assert!(
        longest >= Duration::from_millis(1200),
        "the last series waited {longest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_timeout_does_not_count_the_waits_between_its_requests() {
    let (server, _) = concurrency_meter(Duration::ZERO).await;
    let ws = crate::helpers::workspace(&[(
        "probes/p.yaml",
        "id: test/paths\nname: paths\nseverity: low\ntimeout: 300ms\nhttp:\n  paths: [/a, /b, /c]\nchecks:\n  - status: 200\n",
    )]);
    let config = format!(
        "library: false\nprobes: [{}]\ntargets:\n  - name: a\n    url: {}\nlimits:\n  per_target_rps: 2\n",
        ws.path().join("probes").display(),
        server.url()
    );
    let path = ws.path().join("picket.yaml");
    std::fs::write(&path, config).unwrap();
    let loaded = picket::load::load(&path, &|_| None).unwrap();
    let plan = picket::plan::plan(&loaded);
    picket::crypto::install_crypto_provider();
    let runner = picket::run::Runner::new(&loaded.config).unwrap();
    let start = std::time::Instant::now();
    let result = runner.run(&plan.series[0]).await;
    // Three requests at 2/s: a second of politeness inside a 300 ms budget for the exchange.
    assert!(start.elapsed() >= Duration::from_millis(950));
    assert_eq!(result.outcome, Outcome::Pass, "{:?}", result.outcome);
    assert!(
        result.duration < Duration::from_millis(300),
        "{:?}",
        result.duration
    );
    assert!(
        result.wait >= Duration::from_millis(950),
        "{:?}",
        result.wait
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_json_reports_the_wait_apart_from_the_duration() {
    let (server, _) = concurrency_meter(Duration::ZERO).await;
    let files: Vec<(String, String)> = (0..5)
        .map(|i| {
            (
                format!("probes/p{i}.yaml"),
                format!("id: many/p{i}\nname: p{i}\nseverity: low\nhttp:\n  path: /p{i}\nchecks:\n  - status: 200\n"),
            )
        })
        .chain([(
            "picket.yaml".to_string(),
            format!(
                "library: false\nprobes: [probes/]\ntargets:\n  - name: a\n    url: {}\nlimits:\n  per_target_rps: 4\n",
                server.url()
            ),
        )])
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let ws = crate::helpers::workspace(&refs);
    let start = std::time::Instant::now();
    let out = crate::helpers::run_picket(
        ws.path(),
        &["check", "-c", "picket.yaml", "--format", "json"],
        &[],
    )
    .await;
    let took = start.elapsed();
    let (stdout, stderr) = crate::helpers::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    // Five requests at 4/s take at least a second of wall time...
    assert!(took >= Duration::from_secs(1), "took {took:?}");
    // ...none of which is any series' duration; it is its wait.
    for r in results {
        let ms = r["duration_ms"].as_u64().unwrap();
        assert!(ms < 200, "duration_ms {ms} in {r}");
        assert!(r["wait_ms"].as_u64().is_some(), "{r}");
    }
    let waits: u64 = results
        .iter()
        .map(|r| r["wait_ms"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(waits >= 950, "longest wait_ms {waits}");
}

/// A keep-alive HTTP/1.1 server that counts the TCP connections it accepts (each answers any
/// number of requests with `200 ok`).
async fn connection_counter() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Requests carry no body: each ends at its blank line.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if socket.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_across_series_probes_and_runs() {
    let (url, accepted) = connection_counter().await;
    let config = format!(
        "library: false\nprobes: [PROBES]\ntargets:\n  - name: a\n    url: {url}\nlimits:\n  per_target_concurrency: 4\n  per_target_rps: 100000\n"
    );
    // 60 series of one target, at most 4 at once: at most 4 connections, not 60.
    run_many(&config, 60).await;
    let first = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=4).contains(&first),
        "{first} connections for 60 series at per_target_concurrency 4"
    );

    // Two targets on one server, and the same runner running every series twice: the
    // second round opens nothing new.
    let (url, accepted) = connection_counter().await;
    let (_ws, loaded) = load_many(
        &format!(
            "library: false\nprobes: [PROBES]\ntargets:\n  - name: a\n    url: {url}\n  - name: b\n    url: {url}/\nlimits:\n  per_target_concurrency: 2\n  per_target_rps: 100000\n"
        ),
        30,
    );
    let plan = picket::plan::plan(&loaded);
    picket::crypto::install_crypto_provider();
    let runner = picket::run::Runner::new(&loaded.config).unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let results = picket::commands::run_all(&runner, plan.series.clone().into(), &bar).await;
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Pass),
        "{results:?}"
    );
    let after_one = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=4).contains(&after_one),
        "{after_one} connections for 2 targets at per_target_concurrency 2"
    );
    let results = picket::commands::run_all(&runner, plan.series.clone().into(), &bar).await;
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Pass),
        "{results:?}"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        after_one,
        "a second round of the same series opened new connections"
    );
}
