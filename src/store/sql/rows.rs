//! Rows of the tables whose columns differ from the records handed out: a credential's
//! `used_at`, `rotated_at` or `revoked_at` timestamp is reported only as a flag. Records that
//! match their table column for column get their `FromRow` in `store/types.rs`.

use crate::store::from_row::from_row;
use crate::store::{StoredAccessToken, StoredCode, StoredRefreshToken};

from_row! {
    pub(super) struct AccessRow {
        user_id: Option<String>,
        user_name: Option<String>,
        client_id: Option<String>,
        scopes: String,
        admin: bool,
        created_at: i64,
        expires_at: i64,
        revoked_at: Option<i64>,
        family_id: Option<String>,
        user_groups: String,
    }
}

impl From<AccessRow> for StoredAccessToken {
    fn from(r: AccessRow) -> Self {
        StoredAccessToken {
            user_id: r.user_id,
            user_name: r.user_name,
            client_id: r.client_id,
            scopes: r.scopes,
            admin: r.admin,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked: r.revoked_at.is_some(),
            family_id: r.family_id,
            groups: r.user_groups,
        }
    }
}

from_row! {
    pub(super) struct RefreshRow {
        family_id: String,
        user_id: Option<String>,
        user_name: Option<String>,
        client_id: String,
        scopes: String,
        admin: bool,
        created_at: i64,
        expires_at: i64,
        rotated_at: Option<i64>,
        revoked_at: Option<i64>,
        user_groups: String,
    }
}

impl From<RefreshRow> for StoredRefreshToken {
    fn from(r: RefreshRow) -> Self {
        StoredRefreshToken {
            family_id: r.family_id,
            user_id: r.user_id,
            user_name: r.user_name,
            client_id: r.client_id,
            scopes: r.scopes,
            admin: r.admin,
            created_at: r.created_at,
            expires_at: r.expires_at,
            rotated: r.rotated_at.is_some(),
            revoked: r.revoked_at.is_some(),
            groups: r.user_groups,
        }
    }
}

from_row! {
    pub(super) struct CodeRow {
        family_id: String,
        client_id: String,
        user_id: String,
        user_name: Option<String>,
        redirect_uri: String,
        scopes: String,
        code_challenge: Option<String>,
        code_challenge_method: Option<String>,
        created_at: i64,
        expires_at: i64,
        used_at: Option<i64>,
    }
}

impl From<CodeRow> for StoredCode {
    fn from(r: CodeRow) -> Self {
        StoredCode {
            family_id: r.family_id,
            client_id: r.client_id,
            user_id: r.user_id,
            user_name: r.user_name,
            redirect_uri: r.redirect_uri,
            scopes: r.scopes,
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used: r.used_at.is_some(),
        }
    }
}
