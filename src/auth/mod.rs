//! Bearer authentication: where the token is found (`extract`), who it speaks for
//! (`validator`, behind the moka `cache`), and the identity forwarded upstream.

mod cache;
mod checksum;
mod claims;
mod extract;
mod identity;
mod identity_cache;
mod intern;
mod jwks;
mod jwt;
mod local_jwt;
mod service;
mod sessions;
mod token;
mod validator;

pub use cache::CachedValidator;
pub use checksum::{Refusal, TokenChecksum, PREFIX as TOKEN_PREFIX, TOKEN_LEN};
pub use claims::ClaimValues;
pub use extract::{extract_token, strip_query_token, Locations, Malformed, QUERY_PARAM};
pub use identity::{Identity, IdentityHeaderValues, IdentityParts};
pub use jwks::MAX_JWKS_BYTES;
pub use jwt::{identity_from_claims, looks_like_jwt, JwtValidator, SelectingValidator};
pub use local_jwt::LocalJwtValidator;
pub use service::{NewToken, TokenService};
pub use sessions::Sessions;
pub use token::{generate_token, hash_token};
pub use validator::{OpaqueStoreValidator, TokenValidator};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is invalid")]
    Invalid,
    #[error("the access token expired")]
    Expired,
    #[error("token store unavailable: {0}")]
    Unavailable(String),
    /// Refused on its shape alone, before the cache and the store.
    #[error("the access token is invalid")]
    Refused(Refusal),
}
