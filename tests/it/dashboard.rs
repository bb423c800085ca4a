//! The dashboard in a real browser: headless Chromium loads the pages of a running service
//! whose target regressed, and the test reads the DOM the browser built from them.
//!
//! Chromium is a system package (`.ci/run` installs Debian's `chromium`). Without it these
//! tests fail, saying so: a browser test that skips itself proves nothing.

use std::io::Read as _;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use picket::state::{Mark, State};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestServer, respond, workspace};
use crate::service::get_rows;

/// What the regressed target sends instead of `nosniff`: markup that must stay text.
const INJECTED: &str = "<img src=x onerror=alert(1)>";

const NOSNIFF: &str = "id: headers/nosniff\nname: MIME sniffing is disabled\nseverity: medium\n\
description: Without nosniff a browser may run an upload as script.\n\
remediation: Send X-Content-Type-Options nosniff on every response.\n\
references: [\"https://www.zaproxy.org/docs/alerts/10021/\", \"javascript:alert(2)\"]\n\
http:\n  path: /\nchecks:\n  - header: x-content-type-options\n    equals: nosniff\n";

const CRITICAL: &str = "id: test/critical\nname: The service answers\nseverity: critical\n\
http:\n  path: /\nchecks:\n  - status: 200\n";

/// Two targets: `web`, whose `X-Content-Type-Options` turns into [`INJECTED`] on demand, and
/// `static`, always secure; two probes, one medium and one critical. A 1 s schedule and
/// `confirm: 2`.
fn dashboard_workspace(web: &str, stat: &str) -> tempfile::TempDir {
    let ws = workspace(&[
        ("probes/nosniff.yaml", NOSNIFF),
        ("probes/critical.yaml", CRITICAL),
    ]);
    let root = ws.path();
    let config = format!(
        "library: false\nprobes: [{probes}]\ntargets:\n  - name: web\n    url: {web}\n    tags: [public]\n\
         \x20 - name: static\n    url: {stat}\n    tags: [internal]\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 2\n  recover: 1\n  timeout: 2s\n\
         limits:\n  per_target_rps: 100\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n",
        probes = root.join("probes").display(),
        state = root.join("state").display(),
    );
    std::fs::write(root.join("picket.yaml"), config).unwrap();
    ws
}

async fn target(insecure: Arc<AtomicBool>) -> TestServer {
    TestServer::start(move |_| {
        let sniff = if insecure.load(Ordering::SeqCst) {
            INJECTED
        } else {
            "nosniff"
        };
        respond(200, &[("x-content-type-options", sniff)], "ok")
    })
    .await
}

/// The service started in-process on `ws`.
async fn start(ws: &std::path::Path, shutdown: CancellationToken) -> picket::service::Running {
    crate::service::start_in_process(
        &ws.join("picket.yaml"),
        Arc::new(|_: &str| None),
        None,
        shutdown,
    )
    .await
}

/// Polls the series until `done` holds for them (at most a minute).
pub(crate) async fn wait_for(
    api: SocketAddr,
    what: &str,
    done: impl Fn(&[picket::api::Row]) -> bool,
) {
    let start = Instant::now();
    loop {
        let rows = get_rows(api, "/api/v1/series").await;
        if done(&rows) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting until {what}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first Chromium binary on `PATH`; the test fails without one.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the dashboard tests need Chromium and found neither `chromium` nor \
                 `chromium-browser` on PATH; install it (`apt-get install chromium`, as \
                 .ci/run does)"
            )
        })
}

/// Loads `url` in headless Chromium (its own profile in a temporary directory) and returns
/// the DOM after the page loaded. Chromium and its helpers run in their own process group,
/// killed whole if the page is not dumped within a minute.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            panic!(
                "chromium did not dump {url} within a minute; its stderr:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = stdout.join().unwrap();
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed on {url} ({status}); stderr:\n{}",
        stderr.join().unwrap()
    );
    dom
}

async fn browse(url: String) -> String {
    tokio::task::spawn_blocking(move || dump_dom(&url))
        .await
        .unwrap()
}

/// The series rows of a dashboard DOM, each as its `<tr>` markup.
fn rows(dom: &str) -> Vec<&str> {
    dom.split("<tr class=\"series\">")
        .skip(1)
        .map(|r| &r[..r.find("</tr>").unwrap()])
        .collect()
}

fn row<'a>(dom: &'a str, probe: &str, target: &str) -> &'a str {
    rows(dom)
        .into_iter()
        .find(|r| r.contains(&format!(">{probe}</a>")) && r.contains(&format!(">{target}</a>")))
        .unwrap_or_else(|| panic!("no row for {probe} on {target}: {dom}"))
}

/// The value of the first `attr="…"` in `markup`, its entities decoded.
fn attribute(markup: &str, attr: &str) -> String {
    let start = markup.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
    let value = &markup[start..start + markup[start..].find('"').unwrap()];
    value.replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regression_is_seen_in_a_browser_with_its_finding_and_remediation() {
    let insecure = Arc::new(AtomicBool::new(false));
    let web = target(insecure.clone()).await;
    let stat = target(Arc::default()).await;
    let ws = dashboard_workspace(&web.url(), &stat.url());
    let shutdown = CancellationToken::new();
    let running = start(ws.path(), shutdown.clone()).await;
    let api = running.api_addr;

    let nosniff_web = |rows: &[picket::api::Row]| {
        rows.iter()
            .find(|r| r.probe == "headers/nosniff" && r.target == "web")
            .cloned()
    };
    wait_for(api, "nosniff on web passes", |rows| {
        nosniff_web(rows).is_some_and(|r| r.state == State::Passing)
    })
    .await;
    insecure.store(true, Ordering::SeqCst);
    wait_for(
        api,
        "nosniff on web regressed and every series ran",
        |rows| {
            rows.len() == 4
                && rows.iter().all(|r| r.last_outcome.is_some())
                && nosniff_web(rows).is_some_and(|r| r.state == State::Regressed)
        },
    )
    .await;

    // The dashboard: every series with its state, the regression first.
    let dom = browse(format!("http://{api}/")).await;
    let all = rows(&dom);
    assert_eq!(all.len(), 4, "{dom}");
    assert!(all[0].contains(">headers/nosniff</a>"), "{}", all[0]);
    let regressed = row(&dom, "headers/nosniff", "web");
    assert!(
        regressed.contains("<td class=\"state regressed\">regressed</td>"),
        "{regressed}"
    );
    for (probe, target) in [
        ("headers/nosniff", "static"),
        ("test/critical", "web"),
        ("test/critical", "static"),
    ] {
        let r = row(&dom, probe, target);
        assert!(
            r.contains("<td class=\"state passing\">passing</td>"),
            "{r}"
        );
    }
    // The target's markup is shown as text, never parsed into the page.
    assert!(
        regressed.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{regressed}"
    );
    assert!(!dom.contains("<img"), "{dom}");
    // Relative times that keep to one line, with the UTC time beside them.
    assert!(
        regressed.contains("<td class=\"t\"><time datetime=\"20"),
        "{regressed}"
    );
    assert!(
        dom.contains(".t{white-space:nowrap}"),
        "the time cells do not wrap"
    );
    // Counts: red only when not zero.
    assert!(
        dom.contains("<span class=\"count regressed\">1 regressed</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<span class=\"count zero\">0 failing</span>"),
        "{dom}"
    );

    // The detail page, by the row's link.
    let href = attribute(&regressed[regressed.find("<a ").unwrap()..], "href");
    assert_eq!(href, "series?probe=headers%2Fnosniff&target=web");
    let detail = browse(format!("http://{api}/{href}")).await;
    assert!(
        detail.contains("<h1>headers/nosniff on web</h1>"),
        "{detail}"
    );
    assert!(
        detail.contains("<dd class=\"state regressed\">regressed</dd>"),
        "{detail}"
    );
    // The finding in words (whatever the check's title says, it names the header) and what
    // the target sent, as text.
    let finding = &detail[detail.find("<div class=\"finding\">").expect("a finding")..];
    let finding = &finding[..finding.find("</small>").unwrap()];
    assert!(
        finding
            .to_ascii_lowercase()
            .contains("x-content-type-options"),
        "{finding}"
    );
    assert!(
        finding.contains(
            "expected X-Content-Type-Options exactly \"nosniff\", \
             observed X-Content-Type-Options: &lt;img src=x onerror=alert(1)&gt;"
        ),
        "{finding}"
    );
    assert!(!detail.contains("<img"), "{detail}");
    assert!(
        detail.contains("Send X-Content-Type-Options nosniff on every response."),
        "the probe's remediation: {detail}"
    );
    assert!(
        detail.contains("Without nosniff a browser may run an upload as script."),
        "{detail}"
    );
    assert!(
        detail.contains("<a href=\"https://www.zaproxy.org/docs/alerts/10021/\""),
        "{detail}"
    );
    assert!(
        detail.contains("javascript:alert(2)") && !detail.contains("href=\"javascript:"),
        "a non-web reference stays text: {detail}"
    );
    let runs = &detail[detail.find("<table class=\"runs\">").unwrap()..];
    assert!(
        runs.contains("<td class=\"fail\">fail</td>")
            && runs.contains("<td class=\"pass\">pass</td>"),
        "{runs}"
    );
    assert!(runs.contains("<time datetime=\"20"), "{runs}");

    // `severity=high` means high and above: the critical probe's rows only.
    let high = browse(format!("http://{api}/?severity=high")).await;
    let shown = rows(&high);
    assert_eq!(shown.len(), 2, "{high}");
    assert!(
        shown.iter().all(|r| r.contains(">test/critical</a>")),
        "{high}"
    );
    assert!(high.contains("severity at least"), "{high}");
    assert!(
        high.contains("<span class=\"count zero\">0 regressed</span>"),
        "{high}"
    );

    // The browser saw what the JSON says.
    let rows = get_rows(api, "/api/v1/series").await;
    let json = nosniff_web(&rows).unwrap();
    assert_eq!(json.history.last(), Some(&Mark::Fail));

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("shutdown within the grace period")
        .unwrap();
}

/// A probe `id` of `severity` whose one check is `check` (a YAML list item).
fn probe(id: &str, severity: &str, check: &str) -> String {
    format!("id: {id}\nname: {id}\nseverity: {severity}\nhttp:\n  path: /\nchecks:\n  - {check}\n")
}

/// Failing series are listed by severity, the most severe first, after the regressions
/// (whatever their severity); the history strip has a legend of its colours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_rows_go_by_severity_after_the_regressions_and_the_strip_has_a_legend() {
    let flipped = Arc::new(AtomicBool::new(false));
    let flag = flipped.clone();
    // Never sends the headers the failing probes want; `x-flip` goes away on demand.
    let web = TestServer::start(move |_| {
        let flip = if flag.load(Ordering::SeqCst) {
            "off"
        } else {
            "on"
        };
        respond(200, &[("x-flip", flip)], "ok")
    })
    .await;
    // Probe ids in an order that is none of the expected ones.
    let files = [
        (
            "probes/a.yaml",
            probe("a/medium", "medium", "header: x-a\n    equals: yes"),
        ),
        (
            "probes/b.yaml",
            probe("b/critical", "critical", "header: x-b\n    equals: yes"),
        ),
        (
            "probes/c.yaml",
            probe("c/info", "info", "header: x-c\n    equals: yes"),
        ),
        (
            "probes/d.yaml",
            probe("d/high", "high", "header: x-d\n    equals: yes"),
        ),
        (
            "probes/e.yaml",
            probe(
                "e/low-regresses",
                "low",
                "header: x-flip\n    equals: \"on\"",
            ),
        ),
        (
            "probes/f.yaml",
            probe("f/passes", "critical", "status: 200"),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let ws = workspace(&files);
    let root = ws.path();
    let config = format!(
        "library: false\nprobes: [{probes}]\ntargets:\n  - name: web\n    url: {web}\n\
         defaults:\n  schedule: {{ every: 1s, jitter: 0% }}\n  confirm: 2\n  recover: 1\n  timeout: 2s\n\
         limits:\n  per_target_rps: 100\nstate: {{ path: {state} }}\napi: {{ listen: \"127.0.0.1:0\" }}\n",
        probes = root.join("probes").display(),
        state = root.join("state").display(),
        web = web.url(),
    );
    std::fs::write(root.join("picket.yaml"), config).unwrap();
    let shutdown = CancellationToken::new();
    let running = start(root, shutdown.clone()).await;
    let api = running.api_addr;
    let state_of = |rows: &[picket::api::Row], probe: &str| {
        rows.iter().find(|r| r.probe == probe).map(|r| r.state)
    };
    wait_for(api, "the low probe passes and the others fail", |rows| {
        state_of(rows, "e/low-regresses") == Some(State::Passing)
            && ["a/medium", "b/critical", "c/info", "d/high"]
                .iter()
                .all(|p| state_of(rows, p) == Some(State::Failing))
    })
    .await;
    flipped.store(true, Ordering::SeqCst);
    wait_for(api, "the low probe regressed", |rows| {
        state_of(rows, "e/low-regresses") == Some(State::Regressed)
            && state_of(rows, "f/passes") == Some(State::Passing)
    })
    .await;

    let dom = browse(format!("http://{api}/")).await;
    let order: Vec<&str> = rows(&dom)
        .iter()
        .map(|r| {
            // The first link of a row is the probe's.
            let link = &r[r.find("<a href=").unwrap()..];
            let text = &link[link.find('>').unwrap() + 1..];
            &text[..text.find("</a>").unwrap()]
        })
        .collect();
    assert_eq!(
        order,
        [
            "e/low-regresses",
            "b/critical",
            "d/high",
            "a/medium",
            "c/info",
            "f/passes"
        ],
        "{dom}"
    );

    // The legend: a swatch drawn like the strip's marks, and what it means, per outcome.
    let legend = &dom[dom.find("<p class=\"legend\">").expect("a legend")..];
    let legend = &legend[..legend.find("</p>").unwrap()];
    for (mark, meaning) in [
        ("pass", "pass: every check held"),
        ("fail", "fail: a check failed"),
        ("error", "error: could not be evaluated"),
        ("skip", "skip: nothing the probe applies to"),
    ] {
        assert!(
            legend.contains(&format!(
                "<span class=\"h\"><span class=\"{mark}\"></span></span>"
            )),
            "{mark}: {legend}"
        );
        assert!(legend.contains(meaning), "{meaning}: {legend}");
    }
    for colour in [".h .pass{", ".h .fail{", ".h .error{", ".h .skip{"] {
        assert!(dom.contains(colour), "the strip and legend colour {colour}");
    }

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("shutdown within the grace period")
        .unwrap();
}
