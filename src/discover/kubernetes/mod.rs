//! Targets that follow the cluster (`discover.kubernetes`, SPEC §3a): Services, Ingresses
//! and Gateway API HTTPRoutes, listed and watched through the Kubernetes API.
//!
//! The block's settings are validated with the config ([`crate::config::Kubernetes`], no
//! cluster contact).
//!
//! - `annotations`: the `picket.dev/*` annotations and the tags every target carries;
//! - `map`: objects to targets, pure functions;
//! - `merge`: the watchers' objects merged into one snapshot;
//! - `watch`: [`run`], one watcher per resource (per namespace when listed) publishing a
//!   [`Snapshot`](super::Snapshot) on each change, and [`snapshot`], one list of everything
//!   for `picket check` and `picket list`.
//!
//! [`client`] makes the API client: the kubeconfig named in the block, else the in-cluster
//! service account, else `$KUBECONFIG` / `~/.kube/config`.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

pub mod annotations;
pub mod map;
mod merge;
mod watch;

pub use crate::config::{Address, Kubernetes, Resource};
pub use watch::{Backoff, run, run_with, snapshot};

/// What can go wrong reaching the cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named kubeconfig file cannot be read or used.
    #[error("cannot use kubeconfig `{}`: {source}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither an in-cluster account nor a kubeconfig was found.
    #[error(
        "no Kubernetes credentials: not running in a cluster ({in_cluster}), and no usable kubeconfig ({kubeconfig})"
    )]
    NoCredentials {
        /// Why the in-cluster account is not usable.
        in_cluster: String,
        /// Why `$KUBECONFIG` / `~/.kube/config` is not usable.
        kubeconfig: String,
    },
    /// The client cannot be built from the configuration (TLS material, proxy …).
    #[error("cannot make a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// Listing a resource failed.
    #[error("cannot list {resource}{}: {source}", namespace.as_deref().map(|n| format!(" in namespace `{n}`")).unwrap_or_default())]
    List {
        /// The resource (`services`).
        resource: &'static str,
        /// The namespace, when not cluster-wide.
        namespace: Option<String>,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The lists took longer than allowed.
    #[error("the Kubernetes API did not list everything within {}", crate::units::format_duration(*.0))]
    Timeout(Duration),
}

/// The API client for `config`: its `kubeconfig` when given, else the in-cluster service
/// account, else `$KUBECONFIG` or `~/.kube/config`. Reads files only; contacts nothing.
pub async fn client(config: &Kubernetes) -> Result<kube::Client, Error> {
    // kube's TLS (rustls) takes the process-wide provider: ring, as everywhere in picket.
    crate::crypto::install_crypto_provider();
    let options = KubeConfigOptions::default();
    let cfg = match &config.kubeconfig {
        Some(path) => {
            let wrap = |source| Error::Kubeconfig {
                path: path.clone(),
                source,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(wrap)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(wrap)?
        }
        None => match kube::Config::incluster() {
            Ok(cfg) => cfg,
            Err(in_cluster) => {
                kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|kubeconfig| Error::NoCredentials {
                        in_cluster: in_cluster.to_string(),
                        kubeconfig: kubeconfig.to_string(),
                    })?
            }
        },
    };
    kube::Client::try_from(cfg).map_err(Error::Client)
}

/// Follows the cluster until `stop`, as [`run`] does, once a client could be made: while it
/// cannot (no credentials, an unreadable kubeconfig), each attempt counts as an error, the
/// first is logged, and the next comes after a growing wait (1 s to 30 s).
pub async fn follow(
    config: Kubernetes,
    tx: tokio::sync::watch::Sender<super::Snapshot>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut wait = Duration::from_secs(1);
    let mut logged = false;
    loop {
        match client(&config).await {
            Ok(client) => {
                if logged {
                    tracing::info!(discovery.source = "kubernetes", "Kubernetes client ready");
                }
                run(config, client, tx, stop).await;
                return;
            }
            Err(e) => {
                if !logged {
                    tracing::warn!(
                        discovery.source = "kubernetes",
                        error = %e,
                        "cannot make the Kubernetes client; retrying"
                    );
                    logged = true;
                }
                tx.send_modify(|s| s.errors += 1);
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}
