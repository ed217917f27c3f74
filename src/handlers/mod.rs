//! Handlers that answer inside Gatehouse instead of proxying. The proxy has already routed and
//! authenticated the request; a handler gets the parts it needs and returns a response.

mod echo;

use crate::auth::Identity;
use crate::config::HandlerKind;
use crate::facebook::FacebookService;
use crate::http::OwnResponse;
use crate::oauth::OAuthServer;
use bytes::Bytes;
use http::{HeaderMap, Method};
use std::net::IpAddr;
use std::sync::Arc;

/// What a handler sees of the request: already normalized and authenticated.
pub struct HandlerRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub route_name: &'a str,
    pub identity: Option<&'a Arc<Identity>>,
    /// The identity headers exactly as they would be forwarded upstream.
    pub forwarded: Vec<(String, String)>,
    pub client_ip: Option<IpAddr>,
}

pub struct Handlers {
    /// Present when the config enables the authorization server.
    pub oauth: Option<Arc<OAuthServer>>,
    /// Present when the config enables Facebook Login.
    pub facebook: Option<Arc<FacebookService>>,
}

impl Handlers {
    pub async fn handle(&self, kind: HandlerKind, req: HandlerRequest<'_>) -> OwnResponse {
        if kind == HandlerKind::Facebook {
            return match &self.facebook {
                Some(fb) => fb.handle(&req).await,
                None => OwnResponse::error(404, "not_found", "Facebook Login is not enabled"),
            };
        }
        match (kind, &self.oauth) {
            (HandlerKind::Echo | HandlerKind::Facebook, _) => echo::handle(&req),
            (HandlerKind::OAuth, Some(server)) => server.handle(&req).await,
            (HandlerKind::Users, Some(server)) => crate::users::api::handle(server, &req).await,
            // Config validation only mounts these routes with [oauth]; never reached.
            (HandlerKind::OAuth | HandlerKind::Users, None) => {
                OwnResponse::error(404, "not_found", "the authorization server is not enabled")
            }
        }
    }
}
