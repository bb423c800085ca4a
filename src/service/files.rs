//! Which files a running configuration came from, and the poll that asks for a reload when
//! any of them changes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::load::Loaded;

/// The config file, its `targets_from` and `accept_from`, its probe paths and the API's certificate and key.
pub(super) fn watched_paths(config: &std::path::Path, loaded: &Loaded) -> Vec<PathBuf> {
    let mut paths = vec![config.to_path_buf()];
    paths.extend(loaded.config.targets_from.iter().cloned());
    paths.extend(loaded.config.accept_from.iter().map(|(p, _)| p.clone()));
    paths.extend(loaded.config.probe_paths.iter().map(|p| p.path.clone()));
    if let Some(tls) = &loaded.config.api_tls {
        paths.extend([tls.cert_file.clone(), tls.key_file.clone()]);
    }
    paths
}

/// What identifies the current content of the watched files: every YAML file's path, size and
/// modification time. Only `stat` and `readdir` are used, never `open`, so a FIFO or device
/// dropped into a watched folder cannot block or feed the watcher; the reload it triggers
/// refuses that file.
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    for path in paths {
        let files = crate::files::yaml_files(path).map_or_else(|_| vec![path.clone()], |l| l.files);
        for file in files {
            let meta = std::fs::metadata(&file).ok();
            out.push((
                file,
                meta.as_ref().map_or(0, std::fs::Metadata::len),
                meta.and_then(|m| m.modified().ok()),
            ));
        }
    }
    out
}

/// Polls the watched files and asks for a reload when they change. Polling (rather than
/// inotify) also sees Kubernetes ConfigMap updates, which swap a symlink to a new directory.
pub(super) async fn watch_files(
    shared: Arc<Shared>,
    every: Duration,
    reload: mpsc::Sender<()>,
    shutdown: CancellationToken,
) {
    let paths = || shared.current().watched.clone();
    let mut last = tokio::task::spawn_blocking({
        let p = paths();
        move || fingerprint(&p)
    })
    .await
    .unwrap_or_default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let p = paths();
        let now = tokio::task::spawn_blocking(move || fingerprint(&p))
            .await
            .unwrap_or_default();
        if now != last {
            tracing::info!("configuration files changed; reloading");
            let _ = reload.try_send(());
            last = now;
        }
    }
}
