//! HTTP/1.1 upgrades (WebSocket, any `Upgrade`) to an upstream, around pingora #946: when the
//! upstream's 101 is read before the upgrade request's empty body has been handed to the
//! upstream side, pingora takes the end of that body for the end of the tunnel and closes it
//! right after the 101 (about 2.5% of upgrades under CPU load). The body's end is queued as
//! soon as the proxying starts, so making the first read of the upstream connection wait one
//! turn of the scheduler lets the end of the body always go first. Upgrade connections get
//! their own connector and pool key; plain requests are untouched.

use async_trait::async_trait;
use pingora::connectors::L4Connect;
use pingora::http::RequestHeader;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// pingora reuses connections by a hash that includes this: upgrade connections (which are
/// never pooled) are not served a plain keep-alive connection without the workaround.
const UPGRADE_GROUP: u64 = 0x5550_4752_4144_4531;

/// The same test pingora applies before it treats a request as an upgrade.
pub fn is_upgrade(req: &RequestHeader) -> bool {
    req.version == http::Version::HTTP_11 && req.headers.contains_key(http::header::UPGRADE)
}

/// Routes this peer's connection through [`FirstReadWaits`].
pub fn prepare(peer: &mut HttpPeer) {
    let connect_timeout = peer
        .options
        .connection_timeout
        .unwrap_or(Duration::from_secs(2));
    peer.group_key = UPGRADE_GROUP;
    peer.options.custom_l4 = Some(Arc::new(FirstReadWaits { connect_timeout }));
}

#[derive(Debug)]
struct FirstReadWaits {
    connect_timeout: Duration,
}

#[async_trait]
impl L4Connect for FirstReadWaits {
    async fn connect(&self, addr: &SocketAddr) -> pingora::Result<L4Stream> {
        let SocketAddr::Inet(inet) = addr else {
            return Error::e_explain(ErrorType::ConnectError, "upgrade upstreams are TCP");
        };
        let tcp = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(inet)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Error::e_because(ErrorType::ConnectRefused, "connecting upstream", e)
            }
            Err(_) => return Error::e_explain(ErrorType::ConnectTimedout, "connecting upstream"),
        };
        let socket = WaitingSocket { tcp, waited: false };
        Ok(VirtualSocketStream::new(Box::new(socket)).into())
    }
}

#[derive(Debug)]
struct WaitingSocket {
    tcp: TcpStream,
    waited: bool,
}

impl VirtualSocket for WaitingSocket {
    fn set_socket_option(&self, opt: VirtualSockOpt) -> io::Result<()> {
        match opt {
            VirtualSockOpt::NoDelay => self.tcp.set_nodelay(true),
            // Keep-alive probes are not configured for upstreams; nothing to apply.
            _ => Ok(()),
        }
    }
}

impl AsyncRead for WaitingSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.waited {
            this.waited = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for WaitingSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
