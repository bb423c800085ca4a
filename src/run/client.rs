//! The HTTP client of the `http` kind: hyper's pooled client, driven directly. Each request is
//! one exchange that the runner shapes itself (redirects, body cap, the run's timeout), so the
//! per-request layers of a general client (a redirect policy that parses every URL again,
//! retries, a header map per request) are left out. Names resolve through [`Guarded`], under
//! the containment rule; TLS is the tls probes' trust (`tls_scan::cert::http_client_config`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

type Connector = hyper_rustls::HttpsConnector<Capped>;

/// A handle to one pool of connections (clones share it).
#[derive(Clone, Debug)]
pub(super) struct Client {
    /// Closes the caps when the last handle goes: a connection still waiting for a place
    /// (one the pool started for a request that took another) must not open once the pool's
    /// own connections close with it. Declared first, so it is dropped before the pool.
    _closer: Arc<CloseCaps>,
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
    /// A client that keeps at most `max_idle` idle connections per origin and opens at most
    /// `caps` allows to each server, speaks HTTP/1.1 and (by ALPN) HTTP/2, with `tls` for
    /// `https://`, and resolves names with `resolver` under the containment rule. No proxy
    /// is ever used.
    pub(super) fn new(
        mut tls: rustls::ClientConfig,
        max_idle: usize,
        caps: Caps,
        resolver: Arc<dyn Resolve>,
    ) -> Client {
        let mut http = HttpConnector::new_with_resolver(Guarded(resolver));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let caps = Arc::new(caps);
        let closer = Arc::new(CloseCaps(Arc::clone(&caps)));
        let http = Capped { inner: http, caps };
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
        Client {
            _closer: closer,
            inner,
        }
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

/// How many connections may be open to each server (`host:port`) at once.
///
/// hyper's pool starts a connection for a request that finds no idle one, and when a
/// connection comes back to the pool first (a run that just ended), the request takes that
/// one and the new connection still opens, for the pool. Without a cap, a target probed at
/// `per_target_concurrency: 4` would see a fifth connection now and then. The cap is counted
/// at the connector: a connection holds its place until it closes, and a connection over the
/// cap waits (at most [`CONNECT_TIMEOUT`]) for one to close, which a request never does, since
/// the runner lets no more requests in flight to a server than its cap.
#[derive(Debug)]
pub(super) struct Caps {
    /// The cap of each server the targets name.
    by_server: HashMap<String, usize>,
    /// The cap of any other server (a `plain_http` port): the global concurrency, which no
    /// number of requests in flight can exceed.
    other: usize,
    /// The places of each server, made at its first connection.
    /// `None` once the client is gone.
    open: Mutex<Option<HashMap<String, Arc<Semaphore>>>>,
}

impl Caps {
    /// Caps of `by_server` (`host:port` to the most connections), and `other` for the rest.
    pub(super) fn new(by_server: HashMap<String, usize>, other: usize) -> Caps {
        Caps {
            by_server,
            other,
            open: Mutex::new(Some(HashMap::new())),
        }
    }

    /// `host:port` of a URL, with the scheme's port when it names none.
    pub(super) fn server_of(url: &url::Url) -> String {
        server(
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0),
        )
    }

    fn places(&self, uri: &Uri) -> Arc<Semaphore> {
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let server = server(uri.host().unwrap_or_default(), port);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(open) = open.as_mut() else {
            // The client is gone: no place is ever free again.
            let closed = Semaphore::new(0);
            closed.close();
            return Arc::new(closed);
        };
        let cap = self.by_server.get(&server).copied().unwrap_or(self.other);
        Arc::clone(
            open.entry(server)
                .or_insert_with(|| Arc::new(Semaphore::new(cap.max(1)))),
        )
    }

    /// Refuses every place from now on, to connections waiting for one too.
    fn close(&self) {
        let open = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        for places in open.into_iter().flat_map(HashMap::into_values) {
            places.close();
        }
    }
}

/// Closes its [`Caps`] when dropped (with the last handle of the client).
#[derive(Debug)]
struct CloseCaps(Arc<Caps>);

impl Drop for CloseCaps {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The key of a server in [`Caps`], the same from a target's URL and from the URI a
/// connection is made for (both keep an IPv6 address in brackets).
fn server(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

/// The TCP connector with [`Caps`] on the connections open to each server.
#[derive(Clone, Debug)]
pub(super) struct Capped {
    inner: HttpConnector<Guarded>,
    caps: Arc<Caps>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Capped {
    type Response = CappedIo<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let places = self.caps.places(&uri);
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let place = tokio::time::timeout(CONNECT_TIMEOUT, places.acquire_owned())
                .await
                .map_err(|_| {
                    format!(
                        "every connection picket may open to this server is open and none \
                         closed within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    )
                })?
                .map_err(|_| "the client is shutting down")?;
            let io = inner.call(uri).await?;
            Ok(CappedIo { io, _place: place })
        })
    }
}

/// A connection holding its place under the server's cap until it is dropped.
#[derive(Debug)]
pub(super) struct CappedIo<T> {
    io: T,
    _place: OwnedSemaphorePermit,
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for CappedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for CappedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

impl<T: Connection> Connection for CappedIo<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
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
        let caps = Caps::new(HashMap::new(), 1);
        let client = Client::new(tls, 1, caps, Arc::new(super::super::net::System));
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

    #[tokio::test]
    async fn a_server_sees_no_more_connections_than_its_cap() {
        use tower_service::Service as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        let server = format!("127.0.0.1:{port}");
        let mut connector = Capped {
            inner: {
                let mut http =
                    HttpConnector::new_with_resolver(Guarded(Arc::new(super::super::net::System)));
                http.enforce_http(false);
                http
            },
            caps: Arc::new(Caps::new(HashMap::from([(server.clone(), 2)]), 64)),
        };
        let uri: Uri = format!("http://{server}/").parse().unwrap();
        let first = connector.call(uri.clone()).await.unwrap();
        let _second = connector.call(uri.clone()).await.unwrap();
        // The third waits for a place: none is free while both are open.
        let mut third = connector.call(uri.clone());
        let waited = tokio::time::timeout(Duration::from_millis(300), &mut third).await;
        assert!(waited.is_err(), "a third connection opened past the cap");
        drop(first);
        let _third = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the place of a closed connection is taken")
            .unwrap();
        // A connection still waiting when the client goes never opens.
        let mut fourth = connector.call(uri.clone());
        let waited = tokio::time::timeout(Duration::from_millis(100), &mut fourth).await;
        assert!(waited.is_err(), "a fourth connection opened past the cap");
        connector.caps.close();
        assert!(
            fourth.await.is_err(),
            "a connection opened after the client closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn a_target_url_and_the_uri_of_its_connections_name_one_server() {
        let caps = Caps::new(HashMap::new(), 4);
        for text in [
            "http://127.0.0.1/a",
            "http://[::1]:8080/b?c",
            "https://a.example/",
            "https://a.example:8443/",
        ] {
            let url = url::Url::parse(text).unwrap();
            let uri: Uri = url[..url::Position::AfterQuery].parse().unwrap();
            caps.places(&uri);
            let open = caps.open.lock().unwrap();
            let open = open.as_ref().unwrap();
            assert!(
                open.contains_key(&Caps::server_of(&url)),
                "{text}: {open:?}"
            );
        }
    }

    /// The head of each request a loopback server receives, answered `200` and closed.
    async fn heads() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    head.extend_from_slice(&chunk[..n]);
                }
                tx.send(String::from_utf8_lossy(&head).to_lowercase())
                    .unwrap();
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                socket.write_all(reply).await.unwrap();
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn a_request_names_picket_and_accepts_anything_unless_the_probe_says_otherwise() {
        let (port, mut heads) = heads().await;
        let tls = crate::tls_scan::cert::http_client_config(None).unwrap();
        let caps = Caps::new(HashMap::new(), 4);
        let client = Client::new(tls, 1, caps, Arc::new(super::super::net::System));
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/a?b#c")).unwrap();
        client
            .send(Method::GET, &url, &HeaderMap::new(), None)
            .await
            .unwrap();
        let head = heads.recv().await.unwrap();
        assert!(head.starts_with("get /a?b http/1.1\r\n"), "{head}");
        let agent = format!("user-agent: picket/{}\r\n", env!("CARGO_PKG_VERSION"));
        assert!(head.contains(&agent), "{head}");
        assert!(head.contains("accept: */*\r\n"), "{head}");

        let mut own = HeaderMap::new();
        own.insert(USER_AGENT, HeaderValue::from_static("scanner/1"));
        own.insert(ACCEPT, HeaderValue::from_static("application/json"));
        client.send(Method::GET, &url, &own, None).await.unwrap();
        let head = heads.recv().await.unwrap();
        assert!(head.contains("user-agent: scanner/1\r\n"), "{head}");
        assert!(head.contains("accept: application/json\r\n"), "{head}");
        assert!(!head.contains("picket/"), "{head}");
        assert_eq!(head.matches("accept:").count(), 1, "{head}");
    }
}
