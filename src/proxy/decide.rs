//! The proxy's one decision for a request (normalize, route, resolve the endpoint,
//! authenticate, check access), shared by proxied requests and forward-auth decisions, and the
//! refusal written when it says no.

use super::*;

impl GatehouseProxy {
    /// Routes and authenticates; never touches the network except through the token validator.
    pub(super) async fn decide(
        &self,
        req: &RequestHeader,
        peer: Option<IpAddr>,
        ctx: &mut RequestCtx,
        purpose: Purpose,
    ) -> Result<Next<'_>, Refusal> {
        let s = &*self.state;
        check_header_size(req, s.config.http.max_header_bytes).map_err(refused)?;
        let uri = &req.uri;
        let path = normalize_path(uri.path())
            .map_err(|e| refused(ApiError::InvalidRequest(e.to_string())))?;

        if req.method == http::Method::OPTIONS
            && req.headers.contains_key(http::header::ORIGIN)
            && req
                .headers
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            // Browsers send preflights without credentials: answer them here, never upstream.
            return Ok(Next::Respond(OwnResponse::empty(204)));
        }

        let host = request_host(req).map_err(refused)?;
        let route = s
            .routes
            .find(host.as_deref(), &path)
            .ok_or_else(|| refused(ApiError::NotFound("no route matches this request".into())))?;
        ctx.route = Some(route.index);

        let stripped_query = uri.query().and_then(strip_query_token);
        if matches!(path, Cow::Owned(_)) || stripped_query.is_some() {
            let query = stripped_query
                .as_deref()
                .or(uri.query())
                .filter(|q| !q.is_empty());
            let pq = match query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone().into_owned(),
            };
            ctx.upstream_uri = Some(pq.parse().map_err(|_| refused(unreadable()))?);
        }

        let (auth, contract, endpoint) = match route.target {
            RouteTarget::Upstream(_) => (Auth::Route, Contract::Rfc6750, None),
            RouteTarget::Decisions if purpose == Purpose::Proxy => {
                let only = "this route only answers forward-auth decisions";
                return Err(refused(ApiError::NotFound(only.into())));
            }
            RouteTarget::Decisions => (Auth::Route, Contract::Rfc6750, None),
            RouteTarget::Handler(kind) => match s.endpoints.resolve(kind, &req.method, &path) {
                Resolved::Found { endpoint, captures } => {
                    ctx.captures = captures;
                    (endpoint.auth, endpoint.contract, Some(endpoint))
                }
                Resolved::Refused { error, contract } => return Err((error, contract)),
            },
        };
        if let Some(need) = self.need(auth, route, uri.query()) {
            ctx.identity = self
                .authenticate(req, need)
                .await
                .map_err(|e| (e, contract))?;
        }
        let credential = endpoint.is_some_and(|e| e.credential);
        self.check_access(req, ctx, route, &path, peer, credential)
            .await
            .map_err(|e| (e, contract))?;

        match (route.target.clone(), endpoint) {
            (_, Some(endpoint)) => {
                ctx.handler_path = path.into_owned();
                Ok(Next::Handler(endpoint))
            }
            (RouteTarget::Upstream(i), None) => {
                ctx.upstream = Some(i);
                Ok(Next::Proxy)
            }
            // Only decisions get here (the proxy refused the route above): nothing to run.
            (RouteTarget::Decisions, None) => Ok(Next::Respond(OwnResponse::empty(200))),
            (RouteTarget::Handler(_), None) => Err(refused(ApiError::Internal(
                "an internal error occurred".into(),
            ))),
        }
    }

    pub(super) async fn reject(
        &self,
        session: &mut Session,
        ctx: &RequestCtx,
        (error, contract): Refusal,
    ) -> pingora::Result<bool> {
        let resp = self.state.renderer.render(contract, &error);
        respond::write_own(&self.state, session, ctx, resp).await?;
        Ok(true)
    }
}
