//! Facebook's deauthorize and data-deletion callbacks: a form POST with `signed_request`,
//! verified (HMAC-SHA256 under the app secret, constant time) before anything is removed.

use super::{signed_request, FacebookService};
use crate::auth::generate_token;
use crate::http::{ApiError, OwnResponse, Request};
use serde_json::json;

/// The Facebook user id of a verified request.
fn verified_user(fb: &FacebookService, req: &Request) -> Result<String, ApiError> {
    let bad = || ApiError::InvalidRequest("signed_request is missing or not validly signed".into());
    let params = req.body_params().map_err(|_| bad())?;
    let payload = params
        .get("signed_request")
        .and_then(|s| signed_request::verify(s, fb.config.app_secret.expose()))
        .ok_or_else(bad)?;
    payload["user_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(bad)
}

async fn unlink(fb: &FacebookService, fb_user_id: String) -> Result<bool, ApiError> {
    Ok(fb
        .store
        .run(move |s| async move { s.unlink_fb_user(&fb_user_id).await })
        .await?)
}

/// `POST /facebook/deauthorize`: the user removed the app on Facebook.
pub async fn deauthorize(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let user = verified_user(fb, req)?;
    let removed = unlink(fb, user).await?;
    Ok(OwnResponse::json(
        200,
        &json!({ "success": true, "unlinked": removed }),
    ))
}

/// `POST /facebook/data-deletion`: delete what we hold for that Facebook user, now, and give
/// Facebook the status URL and confirmation code it shows the user.
pub async fn data_deletion(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let user = verified_user(fb, req)?;
    unlink(fb, user).await?;
    let code = generate_token()[..16].to_string();
    Ok(OwnResponse::json(
        200,
        &json!({ "url": format!("{}/facebook/data-deletion?confirmation_code={code}", fb.public_url), "confirmation_code": code }),
    ))
}

/// `GET /facebook/data-deletion`: the status page. Deletion happens before the POST is
/// answered, so every issued code is complete.
pub async fn deletion_status(
    _fb: &FacebookService,
    _req: &Request,
) -> Result<OwnResponse, ApiError> {
    Ok(OwnResponse::json(
        200,
        &json!({ "status": "completed", "detail": "Gatehouse deletes Facebook data before acknowledging a deletion request." }),
    ))
}
