//! Per-connection limits pingora does not enforce on its own: a cap on open client
//! connections, a deadline for a whole request head however slowly it trickles in (pingora's
//! timeouts are per read, so one byte every few seconds never trips them), and an idle timeout
//! before and between requests.
//!
//! `Guarded` wraps the proxy's `ServerApp`: it counts the connection and hands the app a
//! `DeadlineStream` in place of the socket. The stream tells a request head from the rest by
//! HTTP/1's alternation: after our response (a write) the next byte read starts a head, and the
//! head ends at the first blank line. A 101 response makes the connection a tunnel (WebSocket,
//! any `Upgrade`) with no deadlines; writes while a response streams count as activity.
//! HTTP/2 (ALPN `h2`, or the h2c preface) has no such alternation: its idle time is left to
//! pingora's HTTP/2 idle timeout, and its request heads (header blocks, read off the frame
//! headers by `h2_head`) get the same deadline as HTTP/1's.
//!
//! On a graceful shutdown `Guarded` also holds back pingora's closing of idle kept-alive
//! connections for `shutdown_linger` (see `cleanup`).

use crate::metrics::Metrics;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType, ALPN,
};
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

mod h2_head;
mod tls_slot;

use h2_head::H2Heads;
pub use tls_slot::CountBeforeHandshake;

/// How an h2c client opens its connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// After SIGTERM, how long a kept-alive HTTP/1 connection waiting for its next request
    /// stays open: a request it receives meanwhile is still answered (with `Connection: close`).
    pub shutdown_linger: Duration,
}

pub struct Guarded<A> {
    inner: Arc<A>,
    limits: ConnectionLimits,
    open: Arc<OpenConnections>,
}

impl<A> Guarded<A> {
    pub fn new(inner: A, limits: ConnectionLimits, metrics: Arc<Metrics>) -> Self {
        Guarded {
            inner: Arc::new(inner),
            limits,
            open: Arc::new(OpenConnections {
                open: AtomicUsize::new(0),
                max: limits.max_connections,
                metrics,
            }),
        }
    }

    /// The pre-TLS step for this app's TLS listeners: their connections are counted from
    /// accept, not from the end of the handshake (`tls_slot`).
    pub fn count_before_handshake(&self) -> Arc<CountBeforeHandshake> {
        Arc::new(CountBeforeHandshake(self.open.clone()))
    }
}

/// The open connections of one app and its cap.
struct OpenConnections {
    open: AtomicUsize,
    max: usize,
    metrics: Arc<Metrics>,
}

impl OpenConnections {
    /// A place for one more connection, or `None` (counted as refused) at the cap.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        let slot = Slot(self.clone());
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.metrics.connections_refused.inc();
            return None; // `slot` gives the place back
        }
        Some(slot)
    }
}

/// Gives the connection's place back however the connection ends.
struct Slot(Arc<OpenConnections>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // A TLS connection holds the slot it took before its handshake.
        let slot = match stream.get_ssl() {
            Some(_) => None,
            None => match self.open.take() {
                Some(slot) => Some(slot),
                // Closed before a byte is read: the cheapest refusal, and the client sees a
                // reset it can retry elsewhere, not a hung connection.
                None => return None,
            },
        };
        let stream: Stream = Box::new(DeadlineStream::new(stream, self.limits));
        let reused = self.inner.process_new(stream, shutdown).await;
        drop(slot);
        reused
    }

    /// Runs once the listeners stopped accepting. pingora's cleanup closes every kept-alive
    /// connection waiting for its next request, at once; but a client cannot know of the
    /// shutdown yet, and one that has just sent its next request would find the connection
    /// closed under it, unanswered (a POST it cannot safely retry). So the idle connections get
    /// `shutdown_linger` first: a request arriving meanwhile is answered with `Connection:
    /// close`, pingora's rule once the shutdown has begun.
    async fn cleanup(&self) {
        tokio::time::sleep(self.limits.shutdown_linger).await;
        self.inner.cleanup().await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before a request: waiting for its first byte (the idle timeout runs).
    Idle,
    /// Inside a request head (the head deadline runs); `tail` holds its last two bytes.
    Head { tail: [u8; 2] },
    /// Head complete: body and response; pingora's own read timeouts apply.
    Rest,
    /// Switched protocols (101: WebSocket, any `Upgrade`): no longer HTTP, no deadlines.
    Tunnel,
    /// HTTP/2: only a header block being received has a deadline.
    H2(H2Heads),
}

#[derive(Debug)]
pub struct DeadlineStream {
    inner: Stream,
    limits: ConnectionLimits,
    phase: Phase,
    /// When the idle or head deadline of the current phase passes.
    deadline: Instant,
    /// Fires no later than `deadline`, but is moved only when the deadline comes closer:
    /// re-arming a tokio timer on every request costs more than one early wake-up per
    /// timeout period, when the connection checks `deadline` and re-arms.
    timer: Pin<Box<Sleep>>,
}

impl DeadlineStream {
    fn new(inner: Stream, limits: ConnectionLimits) -> Self {
        let phase = match inner.selected_alpn_proto() {
            Some(ALPN::H2) => Phase::H2(H2Heads::new()),
            _ => Phase::Idle,
        };
        let deadline = Instant::now() + limits.idle_timeout;
        DeadlineStream {
            inner,
            limits,
            phase,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if deadline < self.timer.deadline() {
            self.timer.as_mut().reset(deadline);
        }
    }

    /// Whether the phase's deadline passed (registering a wake-up for it when not).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        while self.timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= self.deadline {
                return true;
            }
            // Armed for an earlier deadline than the one now running: move it.
            let deadline = self.deadline;
            self.timer.as_mut().reset(deadline);
        }
        false
    }

    /// Advances the head scan over freshly read bytes: the head ends at a line end followed by
    /// an empty line, `\r\n\r\n` or a bare `\n\n` (httparse accepts bare LF). Only the bytes
    /// around each `\n` are looked at (memchr): this runs on every request.
    fn scan(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let tail = match &mut self.phase {
            Phase::Idle if bytes.starts_with(H2_PREFACE) => {
                self.phase = Phase::H2(H2Heads::new());
                return self.scan(bytes);
            }
            Phase::H2(heads) => {
                if heads.scan(bytes) {
                    let deadline = Instant::now() + self.limits.header_timeout;
                    self.set_deadline(deadline);
                }
                return;
            }
            Phase::Idle => [0, 0],
            Phase::Head { tail } => *tail,
            Phase::Rest | Phase::Tunnel => return,
        };
        let was_idle = self.phase == Phase::Idle;
        self.phase = match head_rest(tail, bytes) {
            Some(tail) => Phase::Head { tail },
            None => Phase::Rest,
        };
        // A head that arrived whole in one read (nearly all of them) needs no head deadline.
        if was_idle && self.phase != Phase::Rest {
            self.set_deadline(Instant::now() + self.limits.header_timeout);
        }
    }

    /// Something of ours went out, starting with `bytes`. The first write after a head is the
    /// response's status line: a 101 turns the connection into a tunnel; another 1xx (100
    /// Continue) leaves the request body to come; anything else means the next byte read
    /// starts the next request. While a response streams, each write is activity, so the
    /// idle timeout starts over (a long download is not an idle connection).
    fn wrote(&mut self, bytes: &[u8]) {
        match self.phase {
            Phase::Rest => {
                let status = bytes.get(9..12);
                if status == Some(b"101") {
                    self.phase = Phase::Tunnel;
                    return;
                }
                if status.is_some_and(|s| s[0] == b'1') {
                    return;
                }
                self.phase = Phase::Idle;
            }
            Phase::Idle => {}
            Phase::Head { .. } | Phase::Tunnel | Phase::H2(_) => return,
        }
        let idle = self.limits.idle_timeout;
        self.set_deadline(Instant::now() + idle);
    }
}

/// Where a head stands after `bytes`, given the two bytes before them: `None` once it ended
/// (an empty line), else the new last two bytes.
fn head_rest(tail: [u8; 2], bytes: &[u8]) -> Option<[u8; 2]> {
    for i in memchr::memchr_iter(b'\n', bytes) {
        let before = |back: usize| match i.checked_sub(back) {
            Some(j) => bytes[j],
            None => tail[2 - (back - i)],
        };
        let p1 = before(1);
        if p1 == b'\n' || (p1 == b'\r' && before(2) == b'\n') {
            return None;
        }
    }
    Some(match bytes {
        [.., a, b] => [*a, *b],
        [b] => [tail[1], *b],
        [] => tail,
    })
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if matches!(this.phase, Phase::Idle | Phase::Head { .. } | Phase::H2(_)) {
                    this.scan(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let what = match &this.phase {
                    Phase::Idle => "idle connection timed out",
                    Phase::Head { .. } => "request head not received in time",
                    Phase::H2(heads) if heads.open() => "request head not received in time",
                    _ => return Poll::Pending,
                };
                if this.expired(cx) {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.wrote(buf);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            this.wrote(first);
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

#[async_trait]
impl Shutdown for DeadlineStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for DeadlineStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for DeadlineStream {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for DeadlineStream {
    fn get_timing_digest(&self) -> Vec<Option<pingora::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for DeadlineStream {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: pingora::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for DeadlineStream {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: pingora::protocols::SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for DeadlineStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::head_rest;

    /// Feeds `chunks` one read at a time; true once the head ended.
    fn ends(chunks: &[&[u8]]) -> bool {
        let mut tail = [0, 0];
        for c in chunks {
            match head_rest(tail, c) {
                None => return true,
                Some(t) => tail = t,
            }
        }
        false
    }

    #[test]
    fn a_head_ends_at_its_empty_line_however_it_is_split() {
        let head: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(ends(&[head]));
        for split in 1..head.len() {
            assert!(ends(&[&head[..split], &head[split..]]), "split at {split}");
        }
        let bytes: Vec<&[u8]> = head.chunks(1).collect();
        assert!(ends(&bytes), "one byte per read");
        assert!(ends(&[b"GET / HTTP/1.1\nHost: a\n\n"]), "bare LF");
        assert!(ends(&[b"GET / HTTP/1.1\r\nHost: a\r\n", b"\r", b"\n"]));
        assert!(!ends(&[b"GET / HTTP/1.1\r\nHost: a\r\n"]));
        assert!(!ends(&[b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\r\n"]));
        assert!(!ends(&[b"GET / HTTP/1.1\r\n", b"Host: a\r", b"\n"]));
    }
}
