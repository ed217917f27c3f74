//! The endpoint table of Gatehouse's own services. Each service declares its endpoints once
//! (method, path pattern with captures, the authentication it needs, the error contract it
//! speaks, a handler); the table resolves a request inside a handler route to one endpoint,
//! or to a 404, or to a 405 whose `Allow` comes from the table itself.

use super::error::{ApiError, Contract};
use super::params::Params;
use super::OwnResponse;
use crate::auth::Identity;
use crate::config::HandlerKind;
use bytes::Bytes;
use http::{HeaderMap, Method};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

/// A successful answer; errors go through `ApiError` and the renderer.
pub type Reply = OwnResponse;
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send + 'a>>;
/// `fn(&Service, Request) -> Result<Reply, ApiError>`, boxed so one table holds every service.
pub type Handler<S> = for<'a> fn(&'a S, Request) -> HandlerFuture<'a>;

/// What a handler sees of the request: routed, normalized and authenticated by the proxy.
pub struct Request {
    pub method: Method,
    /// The normalized path.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub route_name: String,
    /// Set when the endpoint's `Auth` asked for a token and one was valid.
    pub identity: Option<Arc<Identity>>,
    /// The identity headers exactly as they would be forwarded upstream.
    pub forwarded: Vec<(String, String)>,
    pub client_ip: Option<IpAddr>,
    /// Values of the pattern's `:name` segments.
    pub captures: Vec<(&'static str, String)>,
}

impl Request {
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    pub fn capture(&self, name: &str) -> Option<&str> {
        self.captures
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_params(&self) -> Result<Params, ApiError> {
        Params::from_query(self.query())
    }

    /// The body's parameters; the proxy already refused bodies over `http.max_body_bytes`.
    pub fn body_params(&self) -> Result<Params, ApiError> {
        Params::from_body(&self.headers, &self.body)
    }

    /// The local account the endpoint's `Auth` established; a handler declared `Public` has
    /// none. Every handler that asks acts on local accounts, so an external issuer's identity
    /// is refused here: its `sub` is no local user id.
    pub fn identity(&self) -> Result<&Arc<Identity>, ApiError> {
        let identity = self.identity.as_ref().ok_or(ApiError::MissingToken)?;
        if !identity.is_local() {
            return Err(ApiError::Forbidden(
                "this endpoint acts on Gatehouse accounts: a token from an external issuer cannot use it".into(),
            ));
        }
        Ok(identity)
    }
}

/// The authentication an endpoint needs, run by the proxy before the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Public,
    /// The route's configured `auth` and `scopes` (user routes served by a handler, like echo).
    Route,
    /// A token that speaks for a user, from every place the seed clients put it (Bearer,
    /// `Authorization: OAuth`, `?oauth_token=`).
    User,
    /// `User`, unless the query carries this parameter: a one-time ticket the handler redeems
    /// (`window.open` cannot send headers).
    UserOrTicket(&'static str),
    /// A token with the admin flag; `Authorization: OAuth` accepted as the seeds send it.
    Admin,
    /// Client credentials (RFC 6749 §2.3). They may sit in the body, so the authorization
    /// server checks them while reading its typed request.
    Client,
    /// A browser form bound to a pending request's cookie and CSRF token, checked by the
    /// authorization server against the stored request.
    CsrfForm,
}

/// The methods endpoints are declared with; `Any` is for handlers that echo whatever comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Delete,
    Any,
}

impl Verb {
    fn matches(self, m: &Method) -> bool {
        match self {
            Verb::Get => m == Method::GET,
            Verb::Post => m == Method::POST,
            Verb::Delete => m == Method::DELETE,
            Verb::Any => true,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
            Verb::Any => "*",
        }
    }
}

/// One endpoint as a service declares it. `path` is relative to the mount prefix; a segment
/// `:name` captures one segment, a final `*` any rest.
pub struct Endpoint<S: 'static> {
    pub verb: Verb,
    pub path: &'static str,
    pub auth: Auth,
    pub contract: Contract,
    pub handler: Handler<S>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(&'static str),
    Rest,
}

fn parse_pattern(prefix: &str, path: &'static str) -> Vec<Segment> {
    let literal = |s: &str| Segment::Literal(s.to_string());
    prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .map(literal)
        .chain(path.split('/').filter(|s| !s.is_empty()).map(|s| {
            if s == "*" {
                Segment::Rest
            } else if let Some(name) = s.strip_prefix(':') {
                Segment::Capture(name)
            } else {
                literal(s)
            }
        }))
        .collect()
}

/// The captures of `path` when it matches `pattern`.
fn match_path(pattern: &[Segment], path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    let mut captures = Vec::new();
    for seg in pattern {
        match seg {
            Segment::Rest => return Some(captures),
            Segment::Literal(l) => {
                if parts.next()? != l {
                    return None;
                }
            }
            Segment::Capture(name) => captures.push((*name, parts.next()?.to_string())),
        }
    }
    parts.next().is_none().then_some(captures)
}

type Call = Box<dyn Fn(Request) -> HandlerFuture<'static> + Send + Sync>;

/// An endpoint bound to its service instance.
pub struct Mounted {
    pub mount: HandlerKind,
    pub verb: Verb,
    pub auth: Auth,
    pub contract: Contract,
    /// The pattern as declared, mount prefix included.
    pub pattern: String,
    /// A credential endpoint (password, code or token exchange): the built-in per-address
    /// rate limit applies (`mark_credential`).
    pub credential: bool,
    segments: Vec<Segment>,
    call: Call,
}

impl Mounted {
    pub fn call(&self, req: Request) -> HandlerFuture<'static> {
        (self.call)(req)
    }
}

pub enum Resolved<'t> {
    Found {
        endpoint: &'t Mounted,
        captures: Vec<(&'static str, String)>,
    },
    Refused {
        error: ApiError,
        contract: Contract,
    },
}

#[derive(Default)]
pub struct EndpointTable {
    endpoints: Vec<Mounted>,
}

impl EndpointTable {
    /// Binds `endpoints` to `service` under `prefix`, for requests routed to `mount`.
    pub fn mount<S: Send + Sync + 'static>(
        &mut self,
        mount: HandlerKind,
        prefix: &str,
        service: &Arc<S>,
        endpoints: &'static [Endpoint<S>],
    ) {
        for e in endpoints {
            let service = service.clone();
            let handler = e.handler;
            self.endpoints.push(Mounted {
                mount,
                verb: e.verb,
                auth: e.auth,
                contract: e.contract,
                pattern: format!("{prefix}{}", e.path),
                credential: false,
                segments: parse_pattern(prefix, e.path),
                call: Box::new(move |req| {
                    let service = service.clone();
                    Box::pin(async move { handler(&service, req).await })
                }),
            });
        }
    }

    /// Marks the endpoint declared as `verb pattern` under `mount`; false when none is.
    pub fn mark_credential(&mut self, mount: HandlerKind, verb: Verb, pattern: &str) -> bool {
        let mut found = false;
        for e in self
            .endpoints
            .iter_mut()
            .filter(|e| e.mount == mount && e.verb == verb && e.pattern == pattern)
        {
            e.credential = true;
            found = true;
        }
        found
    }

    pub fn resolve(&self, mount: HandlerKind, method: &Method, path: &str) -> Resolved<'_> {
        let mut allowed: Vec<&'static str> = Vec::new();
        // A 404 speaks the service's first contract; a 405 that of the path's first endpoint.
        let mut service_contract = None;
        let mut path_contract = None;
        for e in self.endpoints.iter().filter(|e| e.mount == mount) {
            service_contract.get_or_insert(e.contract);
            let Some(captures) = match_path(&e.segments, path) else {
                continue;
            };
            if e.verb.matches(method) {
                return Resolved::Found {
                    endpoint: e,
                    captures,
                };
            }
            if !allowed.contains(&e.verb.as_str()) {
                allowed.push(e.verb.as_str());
            }
            path_contract.get_or_insert(e.contract);
        }
        let contract = path_contract
            .or(service_contract)
            .unwrap_or(Contract::Rfc6750);
        let error = if allowed.is_empty() {
            ApiError::NotFound("no such endpoint".into())
        } else {
            ApiError::MethodNotAllowed {
                allow: allowed.join(", "),
            }
        };
        Resolved::Refused { error, contract }
    }
}

/// The literal part of each declared path under `prefix`, with its method: what a user route
/// must not capture (`check-config`).
pub fn declared_paths<S>(prefix: &str, endpoints: &[Endpoint<S>]) -> Vec<(&'static str, String)> {
    endpoints
        .iter()
        .map(|e| {
            let literal: Vec<&str> = prefix
                .split('/')
                .chain(e.path.split('/'))
                .filter(|s| !s.is_empty())
                .take_while(|s| !s.starts_with(':') && *s != "*")
                .collect();
            (e.verb.as_str(), format!("/{}", literal.join("/")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Svc;

    fn ok<'a>(_: &'a Svc, _: Request) -> HandlerFuture<'a> {
        Box::pin(async { Ok(OwnResponse::empty(204)) })
    }

    const ENDPOINTS: &[Endpoint<Svc>] = &[
        Endpoint {
            verb: Verb::Get,
            path: "/users",
            auth: Auth::Admin,
            contract: Contract::UsersApi,
            handler: ok,
        },
        Endpoint {
            verb: Verb::Get,
            path: "/users/:id",
            auth: Auth::Admin,
            contract: Contract::UsersApi,
            handler: ok,
        },
        Endpoint {
            verb: Verb::Delete,
            path: "/users/:id",
            auth: Auth::Admin,
            contract: Contract::UsersApi,
            handler: ok,
        },
    ];

    #[test]
    fn resolves_captures_and_derives_allow() {
        let mut t = EndpointTable::default();
        t.mount(HandlerKind::Users, "", &Arc::new(Svc), ENDPOINTS);
        match t.resolve(HandlerKind::Users, &Method::DELETE, "/users/42") {
            Resolved::Found { captures, .. } => assert_eq!(captures, vec![("id", "42".into())]),
            Resolved::Refused { error, .. } => panic!("{error:?}"),
        }
        match t.resolve(HandlerKind::Users, &Method::POST, "/users/42") {
            Resolved::Refused { error, contract } => {
                assert_eq!(
                    error,
                    ApiError::MethodNotAllowed {
                        allow: "GET, DELETE".into()
                    }
                );
                assert_eq!(contract, Contract::UsersApi);
            }
            Resolved::Found { .. } => panic!("POST is not declared"),
        }
        assert!(matches!(
            t.resolve(HandlerKind::Users, &Method::GET, "/users/42/x"),
            Resolved::Refused {
                error: ApiError::NotFound(_),
                ..
            }
        ));
        assert!(matches!(
            t.resolve(HandlerKind::OAuth, &Method::GET, "/users"),
            Resolved::Refused {
                error: ApiError::NotFound(_),
                ..
            }
        ));
    }

    #[test]
    fn declared_paths_stop_at_the_first_capture() {
        assert_eq!(
            declared_paths("/facebook", ENDPOINTS),
            vec![
                ("GET", "/facebook/users".to_string()),
                ("GET", "/facebook/users".to_string()),
                ("DELETE", "/facebook/users".to_string()),
            ]
        );
    }
}
