//! The connected-accounts API of seed 003: `GET` lists an account's pages, `POST` attaches one.
//! Bearer + `Version: 2021-07-28`; errors in the seed's `{statusCode, message, error}` shape.
//! An account belongs to its user: another user's id gets 422, never data.

use super::FacebookService;
use crate::http::{ApiError, OwnResponse, Request};
use crate::store::FbAccount;
use serde::Deserialize;
use serde_json::{json, Value};

pub const API_VERSION: &str = "2021-07-28";

/// Seed 003's attach body; `name`, `avatar` and `companyId` are accepted and not needed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachPage {
    #[serde(rename = "type")]
    kind: Option<String>,
    origin_id: Option<String>,
}

fn page_json(p: &crate::store::FbPage) -> Value {
    json!({ "id": p.page_id, "name": p.name, "avatar": p.avatar, "isOwned": p.is_owned, "isConnected": p.is_connected })
}

/// The `Version` header seed 003 requires, then the caller's own account named in the path.
async fn own_account(fb: &FacebookService, req: &Request) -> Result<FbAccount, ApiError> {
    match req.headers.get("version").map(|v| v.as_bytes()) {
        Some(v) if v == API_VERSION.as_bytes() => {}
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "Unsupported Version header (use 2021-07-28)".into(),
            ))
        }
        None => {
            return Err(ApiError::InvalidRequest(
                "The Version header is required (2021-07-28)".into(),
            ))
        }
    }
    let user = req.identity()?;
    let account_id = req.capture("account_id").unwrap_or_default();
    if account_id.len() != 24 || !account_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::InvalidRequest(
            "accountId must be a 24-character hexadecimal id".into(),
        ));
    }
    let id = account_id.to_string();
    let account = fb
        .store
        .run(move |s| async move { s.find_fb_account(&id).await })
        .await?;
    // Not found and not yours answer alike: ids are not an oracle.
    account
        .filter(|a| Some(a.user_id.as_str()) == user.user_id())
        .ok_or_else(|| ApiError::Unprocessable("Facebook account not found".into()))
}

async fn pages_reply(
    fb: &FacebookService,
    account: &FbAccount,
    message: &str,
) -> Result<OwnResponse, ApiError> {
    let account_id = account.id.clone();
    let pages = fb
        .store
        .run(move |s| async move { s.fb_pages(&account_id).await })
        .await?;
    Ok(OwnResponse::json(
        200,
        &json!({
            "success": true,
            "statusCode": 200,
            "message": message,
            "results": { "pages": pages.iter().map(page_json).collect::<Vec<_>>() },
        }),
    ))
}

/// `GET /facebook/accounts/:account_id`: the account's pages.
pub async fn show(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let account = own_account(fb, req).await?;
    pages_reply(fb, &account, "Fetched Facebook Account").await
}

/// `POST /facebook/accounts/:account_id`: attaches one of the account's pages.
pub async fn attach(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let account = own_account(fb, req).await?;
    let body: AttachPage = req.body_params().and_then(|p| p.parse()).map_err(|_| {
        ApiError::InvalidRequest(
            "The body must be JSON: {type, originId, name, avatar, companyId}".into(),
        )
    })?;
    if body.kind.as_deref() != Some("page") {
        return Err(ApiError::InvalidRequest("type must be \"page\"".into()));
    }
    let origin_id = body
        .origin_id
        .ok_or_else(|| ApiError::InvalidRequest("originId is required".into()))?;
    let account_id = account.id.clone();
    let attached = fb
        .store
        .run(move |s| async move { s.connect_fb_page(&account_id, &origin_id).await })
        .await?;
    if !attached {
        return Err(ApiError::Unprocessable(
            "This page is not part of the Facebook account".into(),
        ));
    }
    pages_reply(fb, &account, "Attached Facebook Page").await
}
