//! HTTPS for the API (`api.tls`): the certificate the handshakes use.
//!
//! Each handshake runs in its connection's task and slot (`super::conn`), cut off after
//! [`HANDSHAKE_TIMEOUT`], so a client that connects and never says hello holds one slot for
//! ten seconds at most (less when a new connection needs its slot) and no one else's
//! connection. The certificate is read from a shared slot at every handshake: a reload swaps
//! a renewed certificate in without a restart.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How long a client has to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The API's current server configuration (certificate and key), swapped by reloads.
#[derive(Debug, Clone)]
pub struct Certificates(Arc<RwLock<Arc<rustls::ServerConfig>>>);

impl Certificates {
    /// Starts with `config`.
    pub fn new(config: Arc<rustls::ServerConfig>) -> Certificates {
        Certificates(Arc::new(RwLock::new(config)))
    }

    /// Serves `config` to every handshake from now on.
    pub fn replace(&self, config: Arc<rustls::ServerConfig>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = config;
    }

    pub(super) fn current(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}
