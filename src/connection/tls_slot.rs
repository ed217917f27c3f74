//! TLS connections take their place under `server.max_connections` when they are accepted,
//! before the handshake. pingora hands a connection to the app only after its handshake, and
//! it gives a handshake up to a minute. Connections that never finished one were not counted,
//! so a flood of them was not capped, and each was a full handshake's work. The slot rides on
//! the TCP stream itself, in pingora's per-stream `tracer`, which is dropped with the stream.
//! So it is given back however the connection ends: a failed handshake, pingora's handshake
//! timeout, or the close after the last request.

use super::{OpenConnections, Slot};
use async_trait::async_trait;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::upstreams::peer::{Tracer, Tracing};
use std::sync::Arc;

/// The listener's pre-TLS step (`Listeners::set_pre_tls_callback`).
pub struct CountBeforeHandshake(pub(super) Arc<OpenConnections>);

#[async_trait]
impl PreTlsProcess for CountBeforeHandshake {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let Some(slot) = self.0.take() else {
            // Dropped before the handshake starts: the refusal costs no crypto.
            return pingora::Error::e_explain(
                pingora::ErrorType::AcceptError,
                "server.max_connections reached: connection closed before the TLS handshake",
            );
        };
        stream.tracer = Some(Tracer(Box::new(HeldSlot { _slot: Some(slot) })));
        Ok(())
    }
}

/// Holds the connection's slot until the stream is dropped.
#[derive(Debug)]
struct HeldSlot {
    _slot: Option<Slot>,
}

impl Tracing for HeldSlot {
    fn on_connected(&self) {}
    fn on_disconnected(&self) {}
    /// A copy holds no slot: only the stream's own gives it back.
    fn boxed_clone(&self) -> Box<dyn Tracing> {
        Box::new(HeldSlot { _slot: None })
    }
}
