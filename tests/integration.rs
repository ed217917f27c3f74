//! Gatehouse's integration tests, one module per file beside this one, built as one test
//! binary: 45 binaries each compiled and linked `support/` and Gatehouse on their own, which
//! cost CI about a minute of build and left a core idle whenever a binary's last test ran
//! alone. Run one file's tests with `cargo test --test integration <module>::`.
//!
//! Kept apart, each its own binary run by name in the docs or needing no `support/`:
//! `security/` (`cargo test --test security`), `fuzz_regressions` and `config_check`.

mod support;

mod admin_and_headers;
mod bearer_auth;
mod cli;
mod client_secrets;
mod connection_limits;
mod deploy;
mod endpoints;
mod ext_authz;
mod external_issuers;
mod facebook;
mod facebook_popup_browser;
mod faults;
mod forged_tokens;
mod forward_auth;
mod groups;
mod header_case;
mod host_routing;
mod identity_headers;
mod jwt;
mod log_secrets;
mod login_throttle;
mod oauth_code_flow;
mod oauth_password;
mod oauth_token;
mod oidc;
mod policy;
mod process;
mod rate_limits;
mod reload;
mod replicas;
mod restart;
mod retention;
mod routing;
mod runtimes;
mod sessions;
mod sessions_browser;
mod sessions_ingress;
mod signed_tokens;
mod store_suite;
mod tls;
mod token_cache;
mod token_ownership;
mod tracing;
mod upstreams;
mod username_migration;
mod websocket;
