//! Everything a request needs, built once from the validated config and shared by the proxy,
//! the handlers and the admin listener.

use crate::auth::{
    CachedValidator, JwtValidator, Locations, OpaqueStoreValidator, SelectingValidator,
    TokenService, TokenValidator,
};
use crate::config::Config;
use crate::facebook::FacebookService;
use crate::handlers::Handlers;
use crate::http::CommonHeaders;
use crate::metrics::{Metrics, RouteMetrics, UNMATCHED_ROUTE};
use crate::oauth::OAuthServer;
use crate::proxy::IdentityHeaders;
use crate::routing::RouteTable;
use crate::store::StoreHandle;
use crate::upstream::{HealthCheckService, UpstreamGroup};
use std::sync::Arc;

pub struct AppState {
    pub config: Config,
    pub routes: RouteTable,
    /// Indexed like `config.routes`.
    pub route_metrics: Vec<RouteMetrics>,
    pub unmatched_metrics: RouteMetrics,
    /// Indexed like `config.upstreams`.
    pub upstreams: Vec<UpstreamGroup>,
    pub validator: Arc<CachedValidator>,
    pub tokens: TokenService,
    pub store: StoreHandle,
    pub metrics: Arc<Metrics>,
    pub common_headers: CommonHeaders,
    pub identity_headers: IdentityHeaders,
    pub locations: Locations,
    pub handlers: Handlers,
}

impl AppState {
    /// Builds the state and the health-check services the server must run beside it.
    pub fn build(
        config: Config,
        store: StoreHandle,
    ) -> Result<(Arc<AppState>, Vec<HealthCheckService>), String> {
        let metrics = Arc::new(Metrics::new().map_err(|e| format!("metrics: {e}"))?);
        let mut upstreams = Vec::new();
        let mut health_checks = Vec::new();
        for u in &config.upstreams {
            let (group, hc) = UpstreamGroup::build(u, &metrics)?;
            upstreams.push(group);
            health_checks.extend(hc);
        }
        let validator = Arc::new(CachedValidator::new(
            token_validator(&config, store.clone(), metrics.clone()),
            &config.cache,
            metrics.clone(),
        ));
        let facebook =
            FacebookService::new(&config, store.clone(), validator.clone(), metrics.clone())?
                .map(Arc::new);
        let oauth = OAuthServer::new(&config, store.clone(), validator.clone(), metrics.clone())?
            .map(Arc::new);
        let state = AppState {
            routes: RouteTable::new(&config.routes),
            route_metrics: config
                .routes
                .iter()
                .map(|r| metrics.route(&r.name))
                .collect(),
            unmatched_metrics: metrics.route(UNMATCHED_ROUTE),
            upstreams,
            tokens: TokenService::new(store.clone(), validator.clone()),
            validator,
            store,
            common_headers: CommonHeaders::new(&config.http.cors)?,
            identity_headers: IdentityHeaders::new(
                &config.identity_headers,
                &config.server.trusted_proxies,
            )?,
            locations: Locations {
                oauth_header: config.tokens.legacy_oauth_header,
                query_param: config.tokens.legacy_query_param,
            },
            handlers: Handlers { oauth, facebook },
            metrics,
            config,
        };
        Ok((Arc::new(state), health_checks))
    }
}

/// Opaque tokens from the store, and JWTs from the `[jwt]` issuer when one is configured.
pub fn token_validator(
    config: &Config,
    store: StoreHandle,
    metrics: Arc<Metrics>,
) -> Arc<dyn TokenValidator> {
    Arc::new(SelectingValidator {
        opaque: Arc::new(OpaqueStoreValidator::new(store, metrics)),
        jwt: config
            .jwt
            .clone()
            .map(|j| Arc::new(JwtValidator::new(j)) as Arc<dyn TokenValidator>),
    })
}
