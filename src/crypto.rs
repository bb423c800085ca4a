//! The process's rustls crypto provider.
//!
//! reqwest is built without a provider of its own (`rustls-no-provider`): every HTTPS client
//! of the process (probes, webhooks, the OTLP/HTTP exporter) uses the process default, which
//! `main` installs once, before anything else. Library entry points that tests use without
//! `main` ([`crate::service::start`]) install it too; installing is idempotent.

use std::sync::Once;

static INSTALLED: Once = Once::new();

/// Installs rustls' ring provider as the process default, once. Later calls do nothing.
pub fn install_crypto_provider() {
    INSTALLED.call_once(|| {
        // Fails only if another provider was installed first, which is fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
