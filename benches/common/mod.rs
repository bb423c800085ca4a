//! What the benchmarks share: their probe files, and a service started in-process.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// A loopback port nothing listens on now (bound, then let go): for a server to start on, or
/// for an endpoint that refuses connections.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A status and a header comparison: the checks of the side-by-side benchmark.
pub const STATUS_AND_NOSNIFF: &str =
    "  - status: 200\n  - header: x-content-type-options\n    equals: nosniff\n";

/// Writes `n` probe files `bench/pN` (a GET of `/pN` with `checks`, YAML list items) into
/// `dir/probes`; returns that folder.
pub fn write_probes(dir: &Path, n: usize, checks: &str) -> PathBuf {
    let pdir = dir.join("probes");
    std::fs::create_dir_all(&pdir).unwrap();
    for i in 0..n {
        std::fs::write(
            pdir.join(format!("p{i}.yaml")),
            format!("id: bench/p{i}\nname: probe {i}\nseverity: low\nhttp:\n  path: /p{i}\nchecks:\n{checks}"),
        )
        .unwrap();
    }
    pdir
}

/// `picket run` started in-process on the config at `path` (no environment variables, no
/// file watching), its API on `api_listen` or the config's, until `stop`.
pub async fn start_service(
    path: &Path,
    api_listen: Option<std::net::SocketAddr>,
    stop: tokio_util::sync::CancellationToken,
) -> picket::service::Running {
    picket::crypto::install_crypto_provider();
    let env: picket::service::SharedEnv = std::sync::Arc::new(|_: &str| None);
    let mut compiled = picket::load::Compiled::default();
    let loaded = compiled.load(path, &*env).unwrap_or_else(|d| panic!("{d}"));
    let telemetry = picket::telemetry::Telemetry::init(&loaded.config.telemetry, None).unwrap();
    picket::service::start(
        loaded,
        compiled,
        picket::service::ServiceOptions {
            config_path: path.to_path_buf(),
            shard: None,
            grace: std::time::Duration::from_secs(5),
            api_listen,
            watch_interval: None,
        },
        telemetry,
        env,
        stop,
    )
    .await
    .unwrap()
}
