//! One ordinary modern handshake (rustls, TLS 1.2 and 1.3, no client certificate): the
//! certificate chain as a modern client sees it, the version and suite it negotiates, and
//! whether the server lets a client without a certificate in (mTLS enforcement).
//!
//! The chain is recorded, not judged, during the handshake: trust is decided afterwards
//! against the target's anchors (`cert`), so an untrusted server still yields its
//! certificate, its suite and its mTLS answer. The server's handshake signature is not
//! checked either (ring refuses RSA keys under 2048 bits, which must be reported, not
//! fatal): the engine reports what the server presents and never sends it anything but a
//! handshake, so nothing is exposed by not authenticating it.
//!
//! # mTLS rule
//! - No CertificateRequest and the handshake completes: not required.
//! - CertificateRequest, and the handshake fails with an alert, a close or a reset after it:
//!   required.
//! - TLS 1.2, CertificateRequest, and the server's Finished arrives: not required (the server
//!   decides before its Finished).
//! - TLS 1.3, CertificateRequest, handshake complete: the server judges the client's empty
//!   Certificate only after the client's Finished, so the engine reads on for up to
//!   [`MTLS_GRACE`]: an alert, a reset or a close without close_notify means required; a
//!   session ticket (the server accepted the Finished), application data, close_notify or
//!   silence means not required.
//! - A handshake that fails before any CertificateRequest decides nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, ResolvesClientCert, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, NamedGroup, SignatureScheme};
use std::sync::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Protocol;

/// How long to wait, after a TLS 1.3 handshake in which the server asked for a certificate,
/// for its verdict on the empty one.
pub const MTLS_GRACE: Duration = Duration::from_secs(1);

/// The most bytes read from the server over the whole modern handshake and the wait after it.
const MAX_READ: usize = 64 * 1024;

/// Why the modern handshake gave no mTLS verdict (or did not complete). The text is the
/// `undecided` reason of an mTLS check and part of a missing certificate's reason.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum HandshakeError {
    /// rustls refused the client configuration.
    #[error("TLS client setup: {0}")]
    Setup(#[source] rustls::Error),
    /// No answer within the scan's step.
    #[error("the modern handshake did not finish within the timeout")]
    Timeout,
    /// The handshake failed (an alert, a close, a protocol error).
    #[error("the modern handshake failed: {}", describe(.0))]
    Failed(#[source] Arc<io::Error>),
    /// Reading for the server's verdict after a TLS 1.3 handshake failed.
    #[error("reading after the handshake: {}", describe(.0))]
    AfterHandshake(#[source] Arc<io::Error>),
}

/// What the modern handshake showed.
#[derive(Debug)]
pub(crate) struct Modern {
    /// The chain the server presented, leaf first, if it got that far.
    pub chain: Option<Vec<CertificateDer<'static>>>,
    /// Version and suite, when the handshake completed.
    pub negotiated: Option<(Protocol, u16)>,
    /// The mTLS verdict, or why there is none.
    pub client_cert_required: Result<bool, HandshakeError>,
    /// Why the handshake did not complete, when it did not.
    pub failure: Option<HandshakeError>,
}

/// Runs the handshake on `stream` for `name`, waiting for an mTLS verdict only when
/// `check_mtls`. Bounded by `deadline`.
pub(crate) async fn handshake(
    stream: TcpStream,
    name: ServerName<'static>,
    check_mtls: bool,
    deadline: Instant,
) -> Modern {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder {
        schemes: provider
            .signature_verification_algorithms
            .supported_schemes(),
        chain: Mutex::new(None),
    });
    let asked = Arc::new(NoClientCert::default());
    let tickets = Arc::new(TicketWatch::default());
    let config = match ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    {
        Ok(builder) => {
            let mut config = builder
                .dangerous()
                .with_custom_certificate_verifier(recorder.clone())
                .with_client_cert_resolver(asked.clone());
            config.resumption = Resumption::store(tickets.clone());
            config
        }
        Err(e) => {
            let why = HandshakeError::Setup(e);
            return Modern {
                chain: None,
                negotiated: None,
                client_cert_required: Err(why.clone()),
                failure: Some(why),
            };
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = Capped {
        inner: stream,
        left: MAX_READ,
    };
    let connected = tokio::time::timeout_at(deadline, connector.connect(name, stream)).await;
    let requested = asked.requested.load(Ordering::Relaxed);
    let chain = recorder.chain.lock().map(|c| c.clone()).unwrap_or(None);
    let mut failure = None;
    let (negotiated, client_cert_required) = match connected {
        Err(_) => {
            let why = HandshakeError::Timeout;
            failure = Some(why.clone());
            (None, Err(why))
        }
        Ok(Err(e)) => {
            let refused = requested && rejected(&e);
            let why = HandshakeError::Failed(Arc::new(e));
            failure = Some(why.clone());
            (None, if refused { Ok(true) } else { Err(why) })
        }
        Ok(Ok(mut tls)) => {
            let (_, conn) = tls.get_ref();
            let protocol = conn
                .protocol_version()
                .and_then(|v| Protocol::from_wire(u16::from(v)));
            let suite = conn.negotiated_cipher_suite().map(|s| u16::from(s.suite()));
            let negotiated = protocol.zip(suite);
            let verdict = if !requested || protocol != Some(Protocol::Tls13) || !check_mtls {
                Ok(false)
            } else {
                let grace = deadline.min(Instant::now() + MTLS_GRACE);
                after_finished(&mut tls, &tickets, grace).await
            };
            (negotiated, verdict)
        }
    };
    Modern {
        chain,
        negotiated,
        client_cert_required,
        failure,
    }
}

/// Reads after a TLS 1.3 handshake until the server shows its verdict or `until`.
async fn after_finished(
    tls: &mut tokio_rustls::client::TlsStream<Capped>,
    tickets: &TicketWatch,
    until: Instant,
) -> Result<bool, HandshakeError> {
    let mut buf = [0u8; 1024];
    loop {
        if tickets.seen.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(false);
        }
        // Short slices, to notice a session ticket (which yields no plaintext) early.
        let slice = (now + Duration::from_millis(25)).min(until);
        match tokio::time::timeout_at(slice, tls.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(_)) => return Ok(false), // close_notify (0) or application data
            Ok(Err(e)) if rejected(&e) => return Ok(true),
            Ok(Err(e)) => return Err(HandshakeError::AfterHandshake(Arc::new(e))),
        }
    }
}

/// An alert from the server, or the connection dropped by it: the server refused.
fn rejected(e: &io::Error) -> bool {
    if let Some(rustls::Error::AlertReceived(_)) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return true;
    }
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn describe(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(alert)) => format!("alert {alert:?} from the server"),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// Keeps the chain the server presents and lets the handshake go on whatever it is.
#[derive(Debug)]
struct Recorder {
    schemes: Vec<SignatureScheme>,
    chain: Mutex<Option<Vec<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Ok(mut slot) = self.chain.lock() {
            *slot = Some(chain);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Has no client certificate, and notes that the server asked for one.
#[derive(Debug, Default)]
struct NoClientCert {
    requested: AtomicBool,
}

impl ResolvesClientCert for NoClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.requested.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        // So that rustls keeps what it needs to answer a CertificateRequest (with nothing).
        true
    }
}

/// Stores nothing; notes that a TLS 1.3 session ticket arrived, which a server sends only
/// once it has accepted the client's Finished.
#[derive(Debug, Default)]
struct TicketWatch {
    seen: AtomicBool,
}

impl ClientSessionStore for TicketWatch {
    fn set_kx_hint(&self, _: ServerName<'static>, _: NamedGroup) {}
    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        None
    }
    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {}
    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }
    fn remove_tls12_session(&self, _: &ServerName<'static>) {}
    fn insert_tls13_ticket(&self, _: ServerName<'static>, _: Tls13ClientSessionValue) {
        self.seen.store(true, Ordering::Relaxed);
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        None
    }
}

/// A TCP stream that fails reads once `left` bytes have been read: the bound on what a
/// server can make the engine read.
#[derive(Debug)]
struct Capped {
    inner: TcpStream,
    left: usize,
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(io::Error::other(format!(
                "the server sent more than {MAX_READ} bytes"
            ))));
        }
        let mut chunk = [0u8; 4096];
        let max = self.left.min(buf.remaining()).min(chunk.len());
        let mut limited = ReadBuf::new(&mut chunk[..max]);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut limited))?;
        let n = limited.filled().len();
        buf.put_slice(limited.filled());
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
