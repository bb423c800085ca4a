//! The API's connections: accepted, counted against a cap, served with hyper (HTTP/1.1) and
//! closed when idle.
//!
//! `axum::serve` holds a connection for as long as the client likes and accepts as many as
//! arrive, so idle connections from anyone who can reach the port could take every file
//! descriptor and leave probing none (see [`crate::fds`]). Here:
//!
//! - At most [`Connections::cap`] connections are open at once. A connection past the cap
//!   makes room by closing the open connection that has been waiting longest for a request
//!   (`evicted`): connections that only hold a slot go first, and a new client (a health
//!   check, a person) always gets in. When every open connection has a request in progress,
//!   the new one is closed at once (`refused`). Both are counted (the
//!   `picket.api.connections.shed` counter) and logged, at most once a minute.
//! - A connection with no request in progress is closed after the idle timeout
//!   (`api.idle_timeout`): idle keep-alive connections, clients that connect and send
//!   nothing, and clients that send a request's headers too slowly (hyper's header-read
//!   timer, set to the same figure), or stop reading a response.
//! - Over HTTPS the handshake runs inside the connection's slot, cut off after
//!   [`super::tls::HANDSHAKE_TIMEOUT`]; the same cap and timeouts hold after it.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::tls::{Certificates, HANDSHAKE_TIMEOUT};

/// How often at most a log line says that connections were shed.
const SHED_LOG_EVERY: Duration = Duration::from_secs(60);
/// How long a new connection waits for an evicted one to close before it is refused.
const EVICT_WAIT: Duration = Duration::from_secs(1);
/// How long shutdown waits for connections to finish their requests.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Why a connection was shed at the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// An open connection without a request in progress was closed to make room.
    Evicted,
    /// A new connection was closed at once: every open one had a request in progress.
    Refused,
}

impl Shed {
    /// `evicted` or `refused` (the metric's `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Shed::Evicted => "evicted",
            Shed::Refused => "refused",
        }
    }
}

/// Called for every connection shed (e.g. to count it in telemetry).
pub type OnShed = Arc<dyn Fn(Shed) + Send + Sync>;

/// Counts of what happened to the API's connections since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections open now.
    pub open: usize,
    /// Connections accepted in all.
    pub accepted: u64,
    /// Open connections closed to make room at the cap.
    pub evicted: u64,
    /// New connections closed at once at the cap.
    pub refused: u64,
    /// Connections closed after the idle timeout.
    pub idle_closed: u64,
}

/// The API's open connections and their cap.
pub struct Connections {
    epoch: Instant,
    cap: AtomicUsize,
    idle_timeout: Duration,
    open: Mutex<Table>,
    closed: Notify,
    accepted: AtomicU64,
    evicted: AtomicU64,
    refused: AtomicU64,
    idle_closed: AtomicU64,
    log: Mutex<ShedLog>,
    on_shed: Option<OnShed>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("cap", &self.cap())
            .field("idle_timeout", &self.idle_timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Table {
    next: u64,
    by_id: HashMap<u64, Arc<Conn>>,
}

#[derive(Default)]
struct ShedLog {
    last: Option<Instant>,
    evicted: u64,
    refused: u64,
}

/// One open connection, as the table and its task see it. Times are milliseconds since the
/// table's epoch.
struct Conn {
    /// When the connection was accepted or last began a request: the eviction order.
    waiting_since: AtomicU64,
    /// When bytes last moved either way, or a request began or ended: the idle clock.
    active_at: AtomicU64,
    /// Requests in progress (in the router).
    busy: AtomicUsize,
    /// Cancelled to evict the connection.
    close: CancellationToken,
}

impl Connections {
    /// At most `cap` connections open at once (at least 1), each closed after `idle_timeout`
    /// without a request in progress; `on_shed` hears of every connection shed.
    pub fn new(cap: usize, idle_timeout: Duration, on_shed: Option<OnShed>) -> Arc<Connections> {
        Arc::new(Connections {
            epoch: Instant::now(),
            cap: AtomicUsize::new(cap.max(1)),
            idle_timeout,
            open: Mutex::default(),
            closed: Notify::new(),
            accepted: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            idle_closed: AtomicU64::new(0),
            log: Mutex::default(),
            on_shed,
        })
    }

    /// The cap on open connections.
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Changes the cap (a reload changed the concurrency or the webhooks). Connections over a
    /// lower cap are not closed now; new ones make room as usual.
    pub fn set_cap(&self, cap: usize) {
        self.cap.store(cap.max(1), Ordering::Relaxed);
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// What happened so far.
    pub fn stats(&self) -> Stats {
        Stats {
            open: self.table().by_id.len(),
            accepted: self.accepted.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            idle_closed: self.idle_closed.load(Ordering::Relaxed),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A slot for a new connection: at once under the cap; at the cap, after the longest
    /// waiting connection without a request in progress has closed; `None` (refuse) when
    /// every open connection is busy, or the evicted one does not close in time.
    async fn admit(self: &Arc<Self>) -> Option<Slot> {
        // At most two evictions, each followed by a wait for the connection to close.
        for round in 0..3 {
            let closed = self.closed.notified();
            let mut closed = pin!(closed);
            closed.as_mut().enable();
            {
                let mut table = self.table();
                if table.by_id.len() < self.cap() {
                    return Some(self.insert(&mut table));
                }
                if round == 2 {
                    break;
                }
                // An eviction already under way counts as room being made.
                let closing = table
                    .by_id
                    .values()
                    .any(|c| c.close.is_cancelled() && c.busy.load(Ordering::Relaxed) == 0);
                if !closing {
                    let victim = table
                        .by_id
                        .values()
                        .filter(|c| c.busy.load(Ordering::Relaxed) == 0 && !c.close.is_cancelled())
                        .min_by_key(|c| c.waiting_since.load(Ordering::Relaxed));
                    let Some(victim) = victim else {
                        break;
                    };
                    victim.close.cancel();
                    drop(table);
                    self.shed(Shed::Evicted);
                }
            }
            if tokio::time::timeout(EVICT_WAIT, closed).await.is_err() {
                break;
            }
        }
        self.shed(Shed::Refused);
        None
    }

    fn insert(self: &Arc<Self>, table: &mut Table) -> Slot {
        let now = self.now();
        let conn = Arc::new(Conn {
            waiting_since: AtomicU64::new(now),
            active_at: AtomicU64::new(now),
            busy: AtomicUsize::new(0),
            close: CancellationToken::new(),
        });
        let id = table.next;
        table.next += 1;
        table.by_id.insert(id, Arc::clone(&conn));
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Slot {
            connections: Arc::clone(self),
            id,
            conn,
        }
    }

    fn shed(&self, why: Shed) {
        match why {
            Shed::Evicted => &self.evicted,
            Shed::Refused => &self.refused,
        }
        .fetch_add(1, Ordering::Relaxed);
        if let Some(on_shed) = &self.on_shed {
            on_shed(why);
        }
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        match why {
            Shed::Evicted => log.evicted += 1,
            Shed::Refused => log.refused += 1,
        }
        self.log_shed(&mut log, false);
    }

    /// Logs the connections shed since the last line: the first at once, then at most once
    /// every [`SHED_LOG_EVERY`] (`flush`: whatever is pending, once that time has passed).
    fn log_shed(&self, log: &mut ShedLog, flush: bool) {
        let due = log.last.is_none_or(|at| at.elapsed() >= SHED_LOG_EVERY);
        let pending = log.evicted + log.refused > 0;
        if !due || !pending || (flush && log.last.is_none()) {
            return;
        }
        tracing::warn!(
            cap = self.cap(),
            evicted = log.evicted,
            refused = log.refused,
            "API connection limit reached: idle connections closed to make room (evicted) \
             and new connections closed at once (refused) since the last such line; probing \
             is not affected (picket.api.connections.shed counts them)"
        );
        log.last = Some(Instant::now());
        log.evicted = 0;
        log.refused = 0;
    }

    /// Logs what was shed since the last line, if that line is old enough.
    fn flush_shed_log(&self) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        self.log_shed(&mut log, true);
    }
}

/// A connection's place in the table; dropping it (after the socket is closed) frees it.
struct Slot {
    connections: Arc<Connections>,
    id: u64,
    conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.table().by_id.remove(&self.id);
        self.connections.closed.notify_waiters();
    }
}

impl Slot {
    fn touch(&self) {
        self.conn
            .active_at
            .store(self.connections.now(), Ordering::Relaxed);
    }

    /// A request began; the returned guard marks its end.
    fn begin(self: &Arc<Self>) -> Busy {
        let now = self.connections.now();
        self.conn.waiting_since.store(now, Ordering::Relaxed);
        self.conn.active_at.store(now, Ordering::Relaxed);
        self.conn.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// When the connection becomes idle-closable if nothing happens until then.
    fn idle_deadline(&self) -> tokio::time::Instant {
        let active = Duration::from_millis(self.conn.active_at.load(Ordering::Relaxed));
        tokio::time::Instant::from_std(self.connections.epoch + active)
            + self.connections.idle_timeout
    }

    fn idle(&self) -> bool {
        self.conn.busy.load(Ordering::Relaxed) == 0
            && self.connections.now()
                >= self.conn.active_at.load(Ordering::Relaxed).saturating_add(
                    u64::try_from(self.connections.idle_timeout.as_millis()).unwrap_or(u64::MAX),
                )
    }
}

/// A request in progress on a connection.
struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.conn.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A stream that marks its connection active whenever bytes move.
struct Tracked<S> {
    inner: S,
    slot: Arc<Slot>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.slot.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.slot.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.slot.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts on `listener` until `stop`, serving each admitted connection with `app` (over
/// HTTPS when `tls` is given); then lets connections finish their requests for a moment.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<Certificates>,
    connections: Arc<Connections>,
    stop: CancellationToken,
) {
    let tasks = TaskTracker::new();
    // Says what was shed in the last minute even when nothing more comes to trigger it.
    let mut summary = tokio::time::interval(SHED_LOG_EVERY);
    summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = summary.tick() => {
                connections.flush_shed_log();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let admitted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            slot = connections.admit() => slot,
        };
        let Some(slot) = admitted else {
            tracing::debug!(%peer, "API connection refused: connection limit reached");
            continue;
        };
        tasks.spawn(serve(
            stream,
            peer,
            app.clone(),
            tls.clone(),
            Arc::new(slot),
            stop.clone(),
        ));
    }
    drop(listener);
    tasks.close();
    let _ = tokio::time::timeout(SHUTDOWN_WAIT, tasks.wait()).await;
}

/// Serves one connection in its slot; the socket is closed before the slot is freed.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    tls: Option<Certificates>,
    slot: Arc<Slot>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let stream = Tracked {
        inner: stream,
        slot: Arc::clone(&slot),
    };
    match tls {
        None => http(stream, app, &slot, &stop).await,
        Some(certificates) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(certificates.current());
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let stream = tokio::select! {
                () = slot.conn.close.cancelled() => return,
                () = stop.cancelled() => return,
                done = handshake => match done {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "API TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "API TLS handshake timed out");
                        return;
                    }
                },
            };
            http(stream, app, &slot, &stop).await;
        }
    }
    // The stream (and its descriptor) is gone by now; `slot` is freed when the last
    // reference, held by this task, drops.
}

/// HTTP/1.1 on one connection until the client closes it, it is idle for the idle timeout,
/// it is evicted, or the API stops (after its request in progress).
async fn http<S>(stream: S, app: Router, slot: &Arc<Slot>, stop: &CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let slot = Arc::clone(slot);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = slot.begin();
            let mut app = app.clone();
            async move {
                let response = tower_service::Service::call(&mut app, request).await;
                drop(busy);
                response
            }
        })
    };
    let idle = slot.connections.idle_timeout;
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's header-read timer runs from the moment the connection waits for a request
    // until its headers are complete: a client that connects and says nothing, or trickles
    // its headers, is closed after `idle` however it keeps the bytes moving.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = pin!(connection);
    let mut stopping = false;
    loop {
        // While the router works on a request the connection is not idle: look again later.
        let deadline = if slot.conn.busy.load(Ordering::Relaxed) > 0 {
            tokio::time::Instant::now() + idle
        } else {
            slot.idle_deadline()
        };
        tokio::select! {
            done = connection.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "API connection ended");
                }
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = slot.conn.close.cancelled(), if !stopping => {
                // Evicted: it was waiting for a request when chosen.
                if slot.conn.busy.load(Ordering::Relaxed) == 0 {
                    return;
                }
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline) => {
                // Also catches a client that stopped reading a response (no bytes move).
                if slot.idle() {
                    slot.connections.idle_closed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("API connection closed after the idle timeout");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let connections = Connections::new(2, Duration::from_secs(60), None);
        let first = Arc::new(connections.admit().await.expect("room"));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = Arc::new(connections.admit().await.expect("room"));
        // The second has a request in progress; the first only holds its slot.
        let busy = second.begin();
        let evictor = {
            let connections = Arc::clone(&connections);
            tokio::spawn(async move { connections.admit().await })
        };
        first.conn.close.cancelled().await;
        assert!(!second.conn.close.is_cancelled());
        drop(first);
        let third = evictor.await.expect("task").expect("admitted");
        assert_eq!(third.id, 2);
        let stats = connections.stats();
        assert_eq!((stats.open, stats.evicted, stats.refused), (2, 1, 0));
        drop(busy);
    }

    #[tokio::test]
    async fn when_every_connection_is_busy_a_new_one_is_refused() {
        let connections = Connections::new(1, Duration::from_secs(60), None);
        let only = Arc::new(connections.admit().await.expect("room"));
        let _busy = only.begin();
        assert!(connections.admit().await.is_none());
        let stats = connections.stats();
        assert_eq!((stats.open, stats.evicted, stats.refused), (1, 0, 1));
    }
}
