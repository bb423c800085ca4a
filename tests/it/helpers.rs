//! Test helpers: real loopback HTTP servers and a way to run the `picket` binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use tokio::net::TcpListener;

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
}

/// Serves `app` on `listener` in the background until the returned sender is dropped.
pub fn serve_until_dropped(
    listener: TcpListener,
    app: axum::Router,
) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

/// A loopback HTTP server whose every request is answered by one handler and recorded.
pub struct TestServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1, port 0. The handler gets the request and returns the
    /// response; it runs on the test's runtime.
    pub async fn start<F>(handler: F) -> TestServer
    where
        F: Fn(Seen) -> Response + Clone + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let handler = handler.clone();
            let record = record.clone();
            async move {
                let s = Seen {
                    method: req.method().clone(),
                    path_and_query: req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                    headers: req.headers().clone(),
                };
                record.lock().unwrap().push(s.clone());
                handler(s)
            }
        });
        let tx = serve_until_dropped(listener, app);
        TestServer {
            addr,
            seen,
            _shutdown: tx,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Builds a response from status, headers and body.
pub fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(body.into()).unwrap()
}

/// The repository root (where `probes/` and `config/` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback port nothing listens on: bound, then closed. Free for a server the test starts
/// next, or refused for a client it points there.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The user documentation as one text: README.md, then every `docs/*.md` page (sorted), so a
/// test of "the documented example" does not depend on which page it lives on.
pub fn user_docs() -> String {
    let root = repo_root();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    let mut text = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for page in pages {
        text.push('\n');
        text.push_str(&std::fs::read_to_string(&page).expect("docs page"));
    }
    text
}

/// A `picket` command run from `dir`, with a clean, predictable environment.
pub fn picket(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_picket"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("PICKET_LOG")
        .env_remove("PICKET_SHARD")
        .env_remove("PICKET_SHARD_COUNT")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_METRIC_EXPORT_INTERVAL")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `picket` with `args` in `dir` on a blocking thread (so test servers keep serving).
pub async fn run_picket(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = picket(dir);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Writes `files` (relative path, content) under a new temporary directory.
pub fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let bytes: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    workspace_bytes(&bytes)
}

/// Writes `files` (relative path, bytes) under a new temporary directory.
pub fn workspace_bytes(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    dir
}

/// A config with one target named `web` at `url`, probes from `probes/`, fast limits.
pub fn config_for(url: &str, extra_target_yaml: &str) -> String {
    format!(
        "library: false\nprobes: [probes/]\n\
         targets:\n  - name: web\n    url: {url}\n{extra_target_yaml}\
         limits:\n  per_target_rps: 1000\n  per_target_concurrency: 16\n"
    )
}

/// Text of stdout and stderr.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs one probe (YAML text) once against `url`, in-process, and returns the result.
/// `target_extra` is added under the target (e.g. `    vars: {...}\n`).
pub async fn run_probe_with(
    url: &str,
    target_extra: &str,
    probe_yaml: &str,
) -> picket::outcome::RunResult {
    run_probe_env(url, target_extra, probe_yaml, &[]).await
}

/// Like [`run_probe_with`], resolving `${env:NAME}` from `env` instead of the process.
pub async fn run_probe_env(
    url: &str,
    target_extra: &str,
    probe_yaml: &str,
    env: &[(&str, &str)],
) -> picket::outcome::RunResult {
    let ws = workspace(&[("probes/p.yaml", probe_yaml)]);
    let probes = ws.path().join("probes");
    let config = format!(
        "library: false\nprobes: [{}]\ntargets:\n  - name: web\n    url: {url}\n{target_extra}limits:\n  per_target_rps: 1000\n  max_body_bytes: 64KiB\n",
        probes.display()
    );
    let path = ws.path().join("picket.yaml");
    std::fs::write(&path, config).unwrap();
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let loaded = match picket::load::load(&path, &lookup) {
        Ok(l) => l,
        Err(d) => panic!("probe did not load:\n{d}"),
    };
    let plan = picket::plan::plan(&loaded);
    assert_eq!(plan.series.len(), 1, "expected one series");
    picket::crypto::install_crypto_provider();
    let runner = picket::run::Runner::new(&loaded.config).unwrap();
    runner.run(&plan.series[0]).await
}

/// Runs one probe once against `url`.
pub async fn run_probe(url: &str, probe_yaml: &str) -> picket::outcome::RunResult {
    run_probe_with(url, "", probe_yaml).await
}

/// A probe file with `GET path` and the given checks (YAML list items, indented by 2).
pub fn probe_with_checks(path: &str, checks: &str) -> String {
    format!(
        "id: test/probe\nname: test probe\nseverity: medium\nhttp:\n  path: {path}\nchecks:\n{checks}"
    )
}
