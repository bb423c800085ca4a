//! The `api` section: listen address, allowed hosts, token, TLS and idle timeout, validated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::values::compile_duration;
use super::{Ctx, raw};
use crate::redact::Secret;
use crate::units;

/// The API's TLS settings, with the certificate and key already loaded and checked.
#[derive(Debug, Clone)]
pub struct ApiTls {
    /// The certificate chain file.
    pub cert_file: PathBuf,
    /// The private key file.
    pub key_file: PathBuf,
    /// The server configuration built from them.
    pub server: Arc<rustls::ServerConfig>,
}

/// The validated `api` section.
pub(super) struct Api {
    pub(super) listen: SocketAddr,
    pub(super) allowed_hosts: Vec<String>,
    pub(super) token: Option<Secret<String>>,
    pub(super) tls: Option<ApiTls>,
    pub(super) idle_timeout: Duration,
}

/// `api.idle_timeout` when not given.
pub const API_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest `api.token` accepted: a token that guards the API from the network should
/// not be guessable.
pub const MIN_API_TOKEN_LEN: usize = 16;

/// Validates the `api` section: the listen address, the allowed host names and the token,
/// which must be there when the API listens off loopback.
pub(super) fn compile_api(ctx: &mut Ctx<'_>, raw: &raw::Api) -> Api {
    let listen = match &raw.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 9750)),
        Some(listen) => listen.value.parse().unwrap_or_else(|_| {
            ctx.err_hint(
                listen,
                format!("invalid listen address `{}`", listen.value),
                "write an IP and port, e.g. `127.0.0.1:9750` or `[::1]:9750`",
            );
            SocketAddr::from(([127, 0, 0, 1], 9750))
        }),
    };
    let mut hosts = Vec::new();
    for host in &raw.allowed_hosts {
        let name = host.value.trim_end_matches('.').to_ascii_lowercase();
        if valid_host_name(&name) {
            hosts.push(name);
        } else {
            ctx.err_hint(
                host,
                format!(
                    "invalid host name `{}` in api.allowed_hosts",
                    crate::term::escape_controls(&host.value)
                ),
                "write a bare DNS name as clients send it in `Host`, without scheme, port or \
                 path, e.g. `picket.internal`; IP addresses are always allowed",
            );
        }
    }
    let token = raw.token.as_ref().and_then(|t| api_token(ctx, t));
    if let Some(at) = &raw.listen
        && raw.token.is_none()
        && !listen.ip().is_loopback()
    {
        ctx.err_hint(
            at,
            format!(
                "the API listens on {listen}, off loopback, without `api.token`: anyone who can \
                 connect would read every series and finding"
            ),
            "set `token: \"${env:PICKET_API_TOKEN}\"` under `api:` (clients then send \
             `Authorization: Bearer <token>`), or listen on 127.0.0.1",
        );
    }
    let tls = raw.tls.as_ref().and_then(|t| api_tls(ctx, &t.value));
    let idle_timeout = raw
        .idle_timeout
        .as_ref()
        .and_then(|t| {
            compile_duration(
                &mut ctx.at,
                t,
                "idle_timeout",
                &units::ranges::API_IDLE_TIMEOUT,
                "how long an API connection may stay open without a request, e.g. `10s`",
            )
        })
        .unwrap_or(API_IDLE_TIMEOUT);
    Api {
        listen,
        allowed_hosts: hosts,
        token,
        tls,
        idle_timeout,
    }
}

/// Validates `api.token`. The value is a secret however it was written: a token typed into
/// the file is remembered by the redactor like one from the environment.
fn api_token(ctx: &mut Ctx<'_>, raw: &Spanned<String>) -> Option<Secret<String>> {
    let resolved = ctx.resolve(raw)?;
    let value = resolved.expose();
    if value.trim().is_empty() {
        ctx.err_hint(
            raw,
            "api.token is empty",
            "generate one, e.g. `openssl rand -hex 32`, and give it as `${env:PICKET_API_TOKEN}`",
        );
        return None;
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        ctx.err_hint(
            raw,
            "api.token must be printable ASCII without spaces",
            "clients send it in `Authorization: Bearer <token>`; e.g. `openssl rand -hex 32`",
        );
        return None;
    }
    let chars = value.chars().count();
    if chars < MIN_API_TOKEN_LEN {
        ctx.err_hint(
            raw,
            format!("api.token has {chars} characters; at least {MIN_API_TOKEN_LEN} are needed"),
            "a token that guards the API must not be guessable: e.g. `openssl rand -hex 32`",
        );
        return None;
    }
    if !resolved.is_secret() {
        ctx.redactor.add(value);
    }
    Some(Secret::hidden(value.clone()))
}

/// Loads `api.tls`: the certificate chain and the key must read, parse and belong together.
fn api_tls(ctx: &mut Ctx<'_>, raw: &raw::ApiTls) -> Option<ApiTls> {
    let cert_file = PathBuf::from(&raw.cert_file.value);
    let key_file = PathBuf::from(&raw.key_file.value);
    match server_tls(&cert_file, &key_file) {
        Ok(server) => Some(ApiTls {
            cert_file,
            key_file,
            server,
        }),
        Err((TlsFile::Cert, message)) => {
            ctx.err_hint(
                &raw.cert_file,
                message,
                "give a PEM file of the API's certificate chain, leaf first (e.g. a Kubernetes \
                 TLS secret's `tls.crt`)",
            );
            None
        }
        Err((TlsFile::Key, message)) => {
            ctx.err_hint(
                &raw.key_file,
                message,
                "give the PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1; e.g. a \
                 Kubernetes TLS secret's `tls.key`)",
            );
            None
        }
    }
}

/// Which of `api.tls`'s files a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// `cert_file`.
    Cert,
    /// `key_file`.
    Key,
}

/// Reads the API's certificate chain and key into a rustls server configuration (TLS 1.2 and
/// 1.3, ALPN `http/1.1`). Also used at every reload, so a renewed certificate is served.
pub fn server_tls(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<rustls::ServerConfig>, (TlsFile, String)> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |path: &Path, which: TlsFile| {
        crate::files::read_regular(path, crate::files::MAX_FILE_BYTES)
            .map_err(|e| (which, format!("`{}`: {e}", path.display())))
    };
    let pem = read(cert_file, TlsFile::Cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            (
                TlsFile::Cert,
                format!(
                    "`{}` is not a PEM certificate file: {e}",
                    cert_file.display()
                ),
            )
        })?;
    if chain.is_empty() {
        return Err((
            TlsFile::Cert,
            format!("no certificate in `{}`", cert_file.display()),
        ));
    }
    let pem = read(key_file, TlsFile::Key)?;
    // The key's own bytes never reach a message.
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        (
            TlsFile::Key,
            format!("no PEM private key in `{}`", key_file.display()),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (TlsFile::Cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            (
                TlsFile::Key,
                format!(
                    "the key in `{}` does not fit the certificate in `{}`: {e}",
                    key_file.display(),
                    cert_file.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_`, each 1–63 long, at most
/// 253 in all. Expects lowercase.
fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_host_names() {
        for ok in [
            "picket.internal",
            "a",
            "picket-1.svc.cluster.local",
            "x_y.example",
        ] {
            assert!(valid_host_name(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "", "a..b", "-a.b", "a-.b", "http://a", "a:9750", "a/b", "A.b", &long,
        ] {
            assert!(!valid_host_name(bad), "{bad}");
        }
    }
}
