//! The one authentication step, for proxied routes and Gatehouse's own endpoints alike: what
//! the route or endpoint declares becomes a `Need`, checked here, every decision counted in
//! `gatehouse_auth_decisions_total`. A token always wins; on a route with
//! `on_missing = "sign_in"` the session cookie is read when there is none (`session`).

use super::GatehouseProxy;
use crate::auth::{extract_token, AuthError, Identity, Locations, Refusal};
use crate::config::{AuthMode, OnMissing};
use crate::http::{ApiError, Auth, Dependency};
use crate::metrics::AuthDecision;
use crate::routing::Route;
use pingora::http::RequestHeader;
use std::sync::Arc;

/// What a request must present; built from borrowed config, so free on the hot path.
pub struct Need<'a> {
    required: bool,
    scopes: &'a [String],
    locations: Locations,
    /// The token must speak for a user (not a client or an admin login).
    user: bool,
    admin: bool,
    /// The route takes browser sessions (`on_missing = "sign_in"`).
    session: bool,
}

const NO_SCOPES: &[String] = &[];

impl GatehouseProxy {
    /// `None` when nothing is to be checked here (public, or checked by the service itself).
    pub(super) fn need<'a>(
        &self,
        auth: Auth,
        route: &'a Route,
        query: Option<&str>,
    ) -> Option<Need<'a>> {
        let configured = self.state.locations;
        // The seed clients send every form of token to the built-in user endpoints.
        let everywhere = Locations {
            oauth_header: true,
            query_param: true,
        };
        let user = Need {
            required: true,
            scopes: NO_SCOPES,
            locations: everywhere,
            user: true,
            admin: false,
            session: false,
        };
        match auth {
            Auth::Public | Auth::Client | Auth::CsrfForm => None,
            Auth::Route => {
                let required = match route.auth {
                    AuthMode::Public => return None,
                    AuthMode::Required => true,
                    AuthMode::Optional => false,
                };
                Some(Need {
                    required,
                    scopes: &route.scopes,
                    locations: Locations {
                        oauth_header: configured.oauth_header || route.accept_oauth_header,
                        query_param: configured.query_param,
                    },
                    user: false,
                    admin: false,
                    session: route.on_missing == OnMissing::SignIn,
                })
            }
            Auth::User => Some(user),
            Auth::UserOrTicket(param) => {
                let ticket = query.is_some_and(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .any(|(k, v)| k == param && !v.is_empty())
                });
                (!ticket).then_some(user)
            }
            Auth::Admin => Some(Need {
                required: true,
                scopes: NO_SCOPES,
                locations: Locations {
                    oauth_header: true,
                    query_param: configured.query_param,
                },
                user: false,
                admin: true,
                session: false,
            }),
        }
    }

    /// The identity behind the request, if `need` allows going on.
    pub(super) async fn authenticate(
        &self,
        req: &RequestHeader,
        need: Need<'_>,
    ) -> Result<Option<Arc<Identity>>, ApiError> {
        let s = &*self.state;
        let decide = |d: AuthDecision| {
            s.metrics.auth_decision(d);
            super::trace::decision(s, d);
        };
        let token = extract_token(&req.headers, req.uri.query(), need.locations).map_err(|m| {
            decide(AuthDecision::Malformed);
            ApiError::MalformedToken(m.to_string())
        })?;
        let Some(token) = token else {
            if need.session {
                return self.session(req).await.map(Some);
            }
            if need.required {
                decide(AuthDecision::Missing);
                return Err(ApiError::MissingToken);
            }
            decide(AuthDecision::Anonymous);
            return Ok(None);
        };
        let identity = s.validator.validate(&token).await.map_err(|e| {
            let (decision, error) = match e {
                AuthError::Invalid => (
                    AuthDecision::Invalid,
                    ApiError::InvalidToken { expired: false },
                ),
                AuthError::Expired => (
                    AuthDecision::Expired,
                    ApiError::InvalidToken { expired: true },
                ),
                // Told apart in the metrics only: the client learns no more than "invalid".
                AuthError::Refused(Refusal::Forged) => (
                    AuthDecision::Forged,
                    ApiError::InvalidToken { expired: false },
                ),
                AuthError::Refused(Refusal::Unstructured) => (
                    AuthDecision::Unstructured,
                    ApiError::InvalidToken { expired: false },
                ),
                AuthError::Unavailable(detail) => {
                    tracing::warn!(%detail, "token store unavailable");
                    (
                        AuthDecision::Unavailable,
                        ApiError::Unavailable(Dependency::TokenStore),
                    )
                }
            };
            decide(decision);
            error
        })?;
        if need.user && identity.user_id().is_none() {
            decide(AuthDecision::Invalid);
            return Err(ApiError::InvalidToken { expired: false });
        }
        if need.admin && !identity.admin {
            decide(AuthDecision::InsufficientScope);
            return Err(ApiError::Forbidden("an admin token is required".into()));
        }
        // Checked on every request, cache hit or not: the cache holds claims only.
        if !identity.missing_scopes(need.scopes).is_empty() {
            decide(AuthDecision::InsufficientScope);
            return Err(ApiError::InsufficientScope {
                required: need.scopes.join(" "),
            });
        }
        decide(AuthDecision::Ok);
        Ok(Some(identity))
    }
}
