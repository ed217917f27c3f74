//! The connected-accounts API of seed 003: `GET` lists an account's pages, `POST` attaches one.
//! Bearer + `Version: 2021-07-28`; errors in the seed's `{statusCode, message, error}` shape.
//! An account belongs to its user: another user's id gets 422, never data.

use super::{FacebookService, Unauthenticated};
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;
use crate::oauth::request::Params;
use http::Method;
use serde_json::{json, Value};

pub const API_VERSION: &str = "2021-07-28";

fn seed_error(status: u16, message: &str) -> OwnResponse {
    let error = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        503 => "Service Unavailable",
        _ => "Error",
    };
    OwnResponse::json(
        status,
        &json!({ "statusCode": status, "message": message, "error": error }),
    )
}

fn page_json(p: &crate::store::FbPage) -> Value {
    json!({ "id": p.page_id, "name": p.name, "avatar": p.avatar, "isOwned": p.is_owned, "isConnected": p.is_connected })
}

pub async fn handle(
    fb: &FacebookService,
    req: &HandlerRequest<'_>,
    method: &Method,
    account_id: &str,
) -> OwnResponse {
    if *method != Method::GET && *method != Method::POST {
        return seed_error(405, "Use GET or POST");
    }
    match req.headers.get("version").map(|v| v.as_bytes()) {
        Some(v) if v == API_VERSION.as_bytes() => {}
        Some(_) => return seed_error(400, "Unsupported Version header (use 2021-07-28)"),
        None => return seed_error(400, "The Version header is required (2021-07-28)"),
    }
    let user = match fb.authenticate(req).await {
        Ok(u) => u,
        Err(Unauthenticated::StoreDown) => {
            return seed_error(503, "The token store cannot be reached; retry later")
        }
        Err(_) => return seed_error(401, "Invalid or missing access token"),
    };
    if account_id.len() != 24 || !account_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return seed_error(400, "accountId must be a 24-character hexadecimal id");
    }
    let id = account_id.to_string();
    let account = match fb
        .store
        .run(move |s| async move { s.find_fb_account(&id).await })
        .await
    {
        Ok(a) => a,
        Err(_) => return seed_error(503, "The store cannot be reached; retry later"),
    };
    // Not found and not yours answer alike: ids are not an oracle.
    let Some(account) = account.filter(|a| Some(&a.user_id) == user.user_id.as_ref()) else {
        return seed_error(422, "Facebook account not found");
    };
    if *method == Method::POST {
        if req.body.len() > fb.max_body_bytes {
            return seed_error(413, "The request body is too large");
        }
        let Ok(body) = Params::from_body(req.headers, &req.body) else {
            return seed_error(
                400,
                "The body must be JSON: {type, originId, name, avatar, companyId}",
            );
        };
        if body.get("type") != Some("page") {
            return seed_error(400, "type must be \"page\"");
        }
        let Some(origin_id) = body.get("originId").map(str::to_string) else {
            return seed_error(400, "originId is required");
        };
        let account_id = account.id.clone();
        let attached = fb
            .store
            .run(move |s| async move { s.connect_fb_page(&account_id, &origin_id).await })
            .await;
        match attached {
            Ok(true) => {}
            Ok(false) => return seed_error(422, "This page is not part of the Facebook account"),
            Err(_) => return seed_error(503, "The store cannot be reached; retry later"),
        }
    }
    let account_id = account.id.clone();
    let pages = match fb
        .store
        .run(move |s| async move { s.fb_pages(&account_id).await })
        .await
    {
        Ok(p) => p,
        Err(_) => return seed_error(503, "The store cannot be reached; retry later"),
    };
    let message = if *method == Method::POST {
        "Attached Facebook Page"
    } else {
        "Fetched Facebook Account"
    };
    OwnResponse::json(
        200,
        &json!({
            "success": true,
            "statusCode": 200,
            "message": message,
            "results": { "pages": pages.iter().map(page_json).collect::<Vec<_>>() },
        }),
    )
}
