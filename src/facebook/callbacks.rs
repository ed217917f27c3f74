//! Facebook's deauthorize and data-deletion callbacks: a form POST with `signed_request`,
//! verified (HMAC-SHA256 under the app secret, constant time) before anything is removed.

use super::{signed_request, FacebookService};
use crate::auth::generate_token;
use crate::handlers::HandlerRequest;
use crate::http::OwnResponse;
use crate::oauth::request::Params;
use http::Method;
use serde_json::json;

/// The Facebook user id of a verified request, or the response refusing it.
async fn verified_user(
    fb: &FacebookService,
    req: &HandlerRequest<'_>,
) -> Result<String, OwnResponse> {
    let bad = || {
        OwnResponse::error(
            400,
            "invalid_request",
            "signed_request is missing or not validly signed",
        )
    };
    let params = Params::from_body(req.headers, &req.body).map_err(|_| bad())?;
    let payload = params
        .get("signed_request")
        .and_then(|s| signed_request::verify(s, fb.config.app_secret.expose()))
        .ok_or_else(bad)?;
    payload["user_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(bad)
}

async fn unlink(fb: &FacebookService, fb_user_id: String) -> Result<bool, OwnResponse> {
    fb.store
        .run(move |s| async move { s.unlink_fb_user(&fb_user_id).await })
        .await
        .map_err(|_| {
            OwnResponse::error(
                503,
                "temporarily_unavailable",
                "the store cannot be reached; retry later",
            )
        })
}

/// `POST /facebook/deauthorize`: the user removed the app on Facebook.
pub async fn deauthorize(fb: &FacebookService, req: &HandlerRequest<'_>) -> OwnResponse {
    let user = match verified_user(fb, req).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match unlink(fb, user).await {
        Ok(removed) => OwnResponse::json(200, &json!({ "success": true, "unlinked": removed })),
        Err(r) => r,
    }
}

/// `POST /facebook/data-deletion`: delete what we hold for that Facebook user, now, and give
/// Facebook the status URL and confirmation code it shows the user. `GET` is that status page:
/// deletion happens before the POST is answered, so every issued code is complete.
pub async fn data_deletion(fb: &FacebookService, req: &HandlerRequest<'_>) -> OwnResponse {
    if *req.method == Method::GET {
        return OwnResponse::json(
            200,
            &json!({ "status": "completed", "detail": "Gatehouse deletes Facebook data before acknowledging a deletion request." }),
        );
    }
    let user = match verified_user(fb, req).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(r) = unlink(fb, user).await {
        return r;
    }
    let code = generate_token()[..16].to_string();
    OwnResponse::json(
        200,
        &json!({ "url": format!("{}/facebook/data-deletion?confirmation_code={code}", fb.public_url), "confirmation_code": code }),
    )
}
