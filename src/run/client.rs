//! The HTTP client of the `http` kind: hyper's pooled client, driven directly. Each request is
//! one exchange that the runner shapes itself (redirects, body cap, the run's timeout), so the
//! per-request layers of a general client (a redirect policy that parses every URL again,
//! retries, a header map per request) are left out. Names resolve through [`Guarded`], under
//! the containment rule; TLS is the tls probes' trust (`tls_scan::cert::http_client_config`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::net::{Resolve, ResolveError, resolve};
use crate::outcome::{ErrorKind, RunError};

/// What every request says it is, unless the probe sets its own.
const AGENT: &str = concat!("picket/", env!("CARGO_PKG_VERSION"));

/// How long a connection attempt may take (each address of a name in turn).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle connection is kept: as Go's `http.Transport`, long enough that a target
/// probed a few times a minute keeps its connections, short enough not to hold a server's
/// slots for long.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type Connector = hyper_rustls::HttpsConnector<HttpConnector<Guarded>>;

/// A handle to one pool of connections (clones share it).
#[derive(Clone, Debug)]
pub(super) struct Client {
    inner: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
}

/// A response whose body is still to be read.
pub(super) type Response = http::Response<Incoming>;

/// Why an exchange failed: the pooled client's error, or the body's.
#[derive(Debug, thiserror::Error)]
pub(super) enum Error {
    /// The request could not be sent, or its response head not read.
    #[error(transparent)]
    Send(#[from] hyper_util::client::legacy::Error),
    /// The body broke off.
    #[error(transparent)]
    Body(#[from] hyper::Error),
    /// The URL is not one hyper can send to.
    #[error("invalid URL for a request: {0}")]
    Uri(#[from] http::uri::InvalidUri),
    /// The request could not be built.
    #[error("invalid request: {0}")]
    Request(#[from] http::Error),
}

impl Error {
    /// Whether connecting failed (including a refused name and a handshake).
    fn is_connect(&self) -> bool {
        matches!(self, Error::Send(e) if e.is_connect())
    }

    /// As a run's error, classed by [`classify`].
    pub(super) fn to_run_error(&self) -> RunError {
        classify(self)
    }
}

impl Client {
    /// A client that keeps at most `max_idle` idle connections per origin, speaks HTTP/1.1
    /// and (by ALPN) HTTP/2, with `tls` for `https://`, and resolves names with `resolver`
    /// under the containment rule. No proxy is ever used.
    pub(super) fn new(
        mut tls: rustls::ClientConfig,
        max_idle: usize,
        resolver: Arc<dyn Resolve>,
    ) -> Client {
        let mut http = HttpConnector::new_with_resolver(Guarded(resolver));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        // The connector offers `h2` and `http/1.1` by ALPN itself, and refuses a config
        // that names protocols already.
        tls.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(max_idle)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Client { inner }
    }

    /// Sends one request to `url` (a URL whose fragment is ignored) and returns its response
    /// head; `headers` are sent as given, with `User-Agent` and `Accept` added when missing.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &url::Url,
        headers: &HeaderMap,
        body: Option<&str>,
    ) -> Result<Response, Error> {
        let uri: Uri = url[..url::Position::AfterQuery].parse()?;
        let mut request = Request::builder().method(method).uri(uri).body(Full::new(
            body.map_or_else(Bytes::new, |b| Bytes::copy_from_slice(b.as_bytes())),
        ))?;
        let sent = request.headers_mut();
        sent.reserve(headers.len() + 2);
        for (name, value) in headers {
            sent.append(name, value.clone());
        }
        if !sent.contains_key(USER_AGENT) {
            sent.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        }
        if !sent.contains_key(ACCEPT) {
            sent.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        Ok(self.inner.request(request).await?)
    }
}

/// Reads at most `cap` bytes of `body`: the bytes and whether it went on past the cap. Reading
/// stops there and the connection is dropped with the body.
pub(super) async fn read_capped(body: &mut Incoming, cap: u64) -> Result<(Vec<u8>, bool), Error> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut read = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else {
            // Trailers: nothing to keep.
            continue;
        };
        let room = cap - read.len();
        if chunk.len() > room {
            read.extend_from_slice(&chunk[..room]);
            return Ok((read, true));
        }
        read.extend_from_slice(&chunk);
    }
    Ok((read, false))
}

/// Name resolution for the connector: the runner's [`Resolve`] under the containment rule.
/// The connector asks only for names; a URL's IP literal never comes here.
#[derive(Debug, Clone)]
pub(super) struct Guarded(pub(super) Arc<dyn Resolve>);

impl tower_service::Service<Name> for Guarded {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let addresses = resolve(resolver.as_ref(), name.as_str()).await?;
            Ok(addresses
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

/// Sorts a client error into a class, with its chain of causes as the message. The class
/// comes from what the error is (a timeout, a refusal by the containment rule, a connect
/// error) and from its innermost cause alone, so a host or path that reads `tls` or `dns`
/// cannot change it.
fn classify(err: &Error) -> RunError {
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        chain.push(e);
        source = e.source();
    }
    if let Some(refused) = chain
        .iter()
        .find_map(|e| e.downcast_ref::<super::net::ResolveError>())
    {
        return refused.to_run_error();
    }
    let innermost = chain.last().copied();
    let timed_out = chain.iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
    });
    let kind = if timed_out {
        ErrorKind::Timeout
    } else if innermost.is_some_and(is_tls) {
        ErrorKind::Tls
    } else if err.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Http
    };
    // `Error` is transparent: the first link is the client's own ("client error (Connect)").
    let message = chain
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    RunError { kind, message }
}

/// Whether an error (the innermost cause of a failed request) is the TLS layer's: a rustls
/// error, bare or inside the I/O errors that tokio-rustls and the connector wrap it in (one in the
/// other), or the I/O error that a handshake cut short reports (`tls handshake eof`).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut e = e;
    loop {
        if e.is::<rustls::Error>() {
            return true;
        }
        let Some(io) = e.downcast_ref::<std::io::Error>() else {
            return false;
        };
        if io
            .to_string()
            .to_ascii_lowercase()
            .contains("tls handshake")
        {
            return true;
        }
        match io.get_ref() {
            Some(inner) => e = inner,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_told_by_its_causes() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let tls = crate::tls_scan::cert::http_client_config(None).unwrap();
        let client = Client::new(tls, 1, Arc::new(super::super::net::System));
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/tls/dns")).unwrap();
        let err = client
            .send(Method::GET, &url, &HeaderMap::new(), None)
            .await
            .unwrap_err()
            .to_run_error();
        assert_eq!(err.kind, ErrorKind::Connect, "{}", err.message);
        assert!(
            err.message.starts_with("client error (Connect): "),
            "{}",
            err.message
        );
        assert!(err.message.contains("refused"), "{}", err.message);
    }
}
