//! Gatehouse: a reverse-proxy authentication sidecar. `server::Gatehouse` builds the whole
//! process from a validated `config::Config`; tests start it in-process the same way.

// Nothing on the request path may abort the process; tests may (clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod connection;
pub mod echo;
pub mod facebook;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc_server;
pub mod host;
pub mod http;
pub mod jwks;
pub mod metrics;
pub mod oauth;
pub mod path;
pub mod path_pattern;
pub mod policy;
pub mod proxy;
pub mod ratelimit;
pub mod reload;
pub mod routing;
pub mod server;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod users;

pub use config::Config;
pub use server::{Gatehouse, RunningGatehouse, StartError};
