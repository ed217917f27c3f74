//! Running one of Gatehouse's own endpoints: its request body, read within
//! `http.max_body_bytes`, and the `Request` its handler is given.

use super::{unreadable, GatehouseProxy, RequestCtx};
use crate::http::endpoint::Mounted;
use crate::http::{ApiError, OwnResponse, Request};
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

impl GatehouseProxy {
    /// Reads a handler's request body, refusing more than `http.max_body_bytes`.
    async fn read_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Bytes, ApiError> {
        let max = self.state.config.http.max_body_bytes;
        let declared = session
            .req_header()
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(ApiError::PayloadTooLarge);
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = session
            .read_request_body()
            .await
            .map_err(|_| unreadable())?
        {
            if body.len() + chunk.len() > max {
                return Err(ApiError::PayloadTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        ctx.body_consumed = true;
        Ok(body.freeze())
    }

    pub(super) async fn run_handler(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        endpoint: &Mounted,
    ) -> Result<OwnResponse, ApiError> {
        let body = self.read_body(session, ctx).await?;
        let s = &*self.state;
        let req = session.req_header();
        let route = ctx
            .route
            .and_then(|i| s.config.routes.get(i))
            .ok_or_else(|| ApiError::Internal("an internal error occurred".into()))?;
        let forwarded = ctx
            .identity
            .as_deref()
            .map(|id| s.identity_headers.describe(id))
            .unwrap_or_default();
        let request = Request {
            method: req.method.clone(),
            path: std::mem::take(&mut ctx.handler_path),
            query: req.uri.query().map(str::to_string),
            headers: req.headers.clone(),
            body,
            route_name: route.name.clone(),
            identity: ctx.identity.clone(),
            forwarded,
            client_ip: s.identity_headers.client_ip(
                session
                    .client_addr()
                    .and_then(|a| a.as_inet())
                    .map(|a| a.ip()),
                &req.headers,
            ),
            captures: std::mem::take(&mut ctx.captures),
        };
        endpoint.call(request).await
    }
}
