//! Minting the tokens of a grant and writing the token response (RFC 6749 §5.1). Access
//! tokens are opaque `gth1_` tokens or, with `tokens.format = "jwt"`, RFC 9068 JWTs; either
//! way the store keeps a record under the token's hash, so revocation works alike for both.

use crate::auth::{hash_token, TokenChecksum};
use crate::config::{TokenFormat, TokensConfig};
use crate::http::{ApiError, OwnResponse};
use crate::signing::{new_jti, ACCESS_TOKEN_TYP};
use crate::store::{now_unix, IssuedTokens, StoredAccessToken, StoredRefreshToken};
use http::HeaderValue;
use sha2::{Digest, Sha256};

/// Who and what a grant authorizes.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub admin: bool,
    /// The user's groups (space-separated), carried by every token of the grant.
    pub groups: String,
    /// Shared by every token descending from one code or login.
    pub family_id: String,
    pub with_refresh: bool,
}

/// Freshly minted tokens: the clear values for the response, the hashed records for the store.
pub struct Minted {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// OpenID Connect: set by the grants that issue one (`oidc::id_token`).
    pub id_token: Option<String>,
    pub records: IssuedTokens,
    pub expires_in: u64,
    pub scope: String,
}

pub fn new_family_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The claims of a JWT access token (RFC 9068 §2.2). For a client's own token (no user),
/// `sub` is the client id.
#[derive(serde::Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: String,
    client_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
}

/// Whether `mint` signs (JWT access tokens); otherwise it costs a few hashes.
pub fn mint_signs(tokens: &TokensConfig) -> bool {
    matches!(
        (tokens.format, &tokens.signing),
        (TokenFormat::Jwt, Some(_))
    )
}

/// Signing fails only if the active key cannot sign, which loading it already ruled out.
pub fn mint(
    grant: &Grant,
    tokens: &TokensConfig,
    checksum: &TokenChecksum,
) -> Result<Minted, ApiError> {
    let now = now_unix();
    let scope = grant.scopes.join(" ");
    let access_token = match (tokens.format, &tokens.signing) {
        (TokenFormat::Jwt, Some(keys)) => {
            let claims = AccessClaims {
                iss: &keys.issuer,
                sub: grant.user_id.as_deref().unwrap_or(&grant.client_id),
                aud: &keys.issuer,
                exp: now + tokens.access_ttl.as_secs() as i64,
                iat: now,
                jti: new_jti(),
                client_id: &grant.client_id,
                scope: &scope,
            };
            keys.sign(ACCESS_TOKEN_TYP, &claims)
                .map_err(|e| ApiError::Internal(e.to_string()))?
        }
        _ => checksum.mint(),
    };
    let access = StoredAccessToken {
        user_id: grant.user_id.clone(),
        user_name: grant.user_name.clone(),
        client_id: Some(grant.client_id.clone()),
        scopes: scope.clone(),
        admin: grant.admin,
        created_at: now,
        expires_at: now + tokens.access_ttl.as_secs() as i64,
        revoked: false,
        family_id: Some(grant.family_id.clone()),
        groups: grant.groups.clone(),
    };
    let refresh_token = grant.with_refresh.then(|| checksum.mint());
    let refresh = refresh_token.as_ref().map(|t| {
        (
            hash_token(t),
            StoredRefreshToken {
                family_id: grant.family_id.clone(),
                user_id: grant.user_id.clone(),
                user_name: grant.user_name.clone(),
                client_id: grant.client_id.clone(),
                scopes: scope.clone(),
                admin: grant.admin,
                created_at: now,
                expires_at: now + tokens.refresh_ttl.as_secs() as i64,
                rotated: false,
                revoked: false,
                groups: grant.groups.clone(),
            },
        )
    });
    Ok(Minted {
        records: IssuedTokens {
            access: (hash_token(&access_token), access),
            refresh,
        },
        access_token,
        refresh_token,
        id_token: None,
        expires_in: tokens.access_ttl.as_secs(),
        scope,
    })
}

/// `{"access_token", "token_type", "expires_in", "refresh_token"?, "scope"?}` with no-store and
/// an ETag, as in seed 001.
pub fn token_response(m: &Minted) -> OwnResponse {
    let mut body = serde_json::json!({
        "access_token": m.access_token,
        "token_type": "bearer",
        "expires_in": m.expires_in,
    });
    if let Some(r) = &m.refresh_token {
        body["refresh_token"] = serde_json::Value::String(r.clone());
    }
    if let Some(t) = &m.id_token {
        body["id_token"] = serde_json::Value::String(t.clone());
    }
    if !m.scope.is_empty() {
        body["scope"] = serde_json::Value::String(m.scope.clone());
    }
    let mut resp = OwnResponse::json(200, &body);
    let digest = Sha256::digest(&resp.body);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp = resp.with_header(http::header::ETAG, v);
    }
    resp.no_store()
}
