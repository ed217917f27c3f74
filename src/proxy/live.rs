//! The pingora-facing proxy service: it holds the live config (`app::Live`) and pins each
//! request to the generation current when the request starts.

use super::forward_auth::Listener;
use super::{GatehouseProxy, RequestCtx};
use crate::app::Live;
use std::sync::Arc;

/// What pingora runs on a listener: each request gets the config generation current when it
/// starts (`RequestCtx::state`) and keeps it to its end, whatever reloads happen meanwhile.
pub struct ProxyService {
    pub(super) live: Arc<Live>,
    pub(super) listener: Listener,
}

impl ProxyService {
    pub fn new(live: Arc<Live>) -> Self {
        ProxyService {
            live,
            listener: Listener::Proxy,
        }
    }

    /// The service for `forward_auth.listen`.
    pub fn decisions(live: Arc<Live>) -> Self {
        ProxyService {
            live,
            listener: Listener::Decisions,
        }
    }

    /// The request's proxy, on the request's generation.
    pub(super) fn pinned(&self, ctx: &RequestCtx) -> GatehouseProxy {
        GatehouseProxy {
            state: ctx.state.clone(),
            listener: self.listener,
        }
    }
}
