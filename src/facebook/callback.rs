//! The way back from Facebook: the callback exchanges the code, checks the token, links the
//! account to the local user, and reports to the integrator (a redirect for seed 000, the
//! popup's closing page posting one message for seed 003).

use super::graph::GraphError;
use super::{login, pages, FacebookService};
use crate::auth::hash_token;
use crate::http::{ApiError, OwnResponse, Request};
use crate::store::{now_unix, FbAccount, FbAdAccount, FbPage, FbState, StoreError};
use http::header::HeaderValue;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

/// What the callback achieved, to report to the integrator.
enum Outcome {
    Linked {
        account_id: String,
        relinked: bool,
        declined: Vec<String>,
        token: String,
    },
    Failed {
        error: String,
        reason: String,
        description: String,
    },
}

/// What Facebook sends back: a code, or an error (RFC 6749 §4.1.2), with our state.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_reason: Option<String>,
    error_description: Option<String>,
}

/// `GET /facebook/oauth_code`: Facebook's redirect back.
pub async fn callback(fb: &FacebookService, req: &Request) -> Result<OwnResponse, ApiError> {
    let params: CallbackQuery = req
        .query_params()
        .and_then(|p| p.parse())
        .map_err(|_| ApiError::page(400, "Invalid request", "The callback is malformed."))?;
    let Some(state_param) = params.state.as_deref() else {
        return Err(ApiError::page(
            400,
            "Invalid request",
            "The login state is missing. Start again from the application.",
        ));
    };
    let hash = hash_token(state_param);
    let now = now_unix();
    let expired = || {
        ApiError::page(
            400,
            "Login expired",
            "This Facebook login is no longer valid. Start again from the application.",
        )
    };
    // Checked before the state is spent: a hit from another browser (a forged or leaked
    // callback URL) is refused without cancelling the real user's login.
    let peeked = fb
        .store
        .run(move |s| async move { s.peek_fb_state(&hash, now).await })
        .await?;
    // Unknown, replayed, expired — or a start token presented as a state: nothing to send back to.
    let Some(peeked) = peeked.filter(|s| s.purpose == "redirect" || s.purpose == "popup") else {
        return Err(expired());
    };
    if !login::same_browser(req, state_param, &peeked) {
        return Err(ApiError::page(
            400,
            "Login refused",
            "This Facebook login was started in another browser. Start again from the application.",
        ));
    }
    // Then spent, atomically: of two callbacks from the right browser, one goes on.
    let hash = hash_token(state_param);
    let consumed = fb
        .store
        .run(move |s| async move { s.consume_fb_state(&hash, now).await })
        .await?;
    let Some(state) = consumed.filter(|s| *s == peeked) else {
        return Err(expired());
    };
    let outcome = if let Some(error) = params.error {
        Outcome::Failed {
            error,
            reason: params.error_reason.unwrap_or_else(|| "user_denied".into()),
            description: params
                .error_description
                .unwrap_or_else(|| "The user denied the request".into()),
        }
    } else if let Some(code) = params.code.as_deref() {
        match link(fb, code, &state).await {
            Ok(o) => o,
            Err((error, description)) => Outcome::Failed {
                error: error.into(),
                reason: "gatehouse".into(),
                description,
            },
        }
    } else {
        Outcome::Failed {
            error: "invalid_request".into(),
            reason: "missing_code".into(),
            description: "Facebook sent neither a code nor an error".into(),
        }
    };
    match state.purpose.as_str() {
        "popup" => Ok(popup_page(&state, outcome)),
        _ => integrator_redirect(fb, &state.integrator_uri, outcome),
    }
}

fn integrator_redirect(
    fb: &FacebookService,
    integrator: &str,
    outcome: Outcome,
) -> Result<OwnResponse, ApiError> {
    // Stored at flow start after validation; parse again rather than trust any callback input.
    let mut url = Url::parse(integrator)
        .map_err(|_| ApiError::page(500, "Error", "The stored return address is unusable."))?;
    {
        let mut q = url.query_pairs_mut();
        match &outcome {
            Outcome::Linked {
                account_id,
                declined,
                token,
                ..
            } => {
                q.append_pair("status", "success")
                    .append_pair("account_id", account_id);
                if !declined.is_empty() {
                    q.append_pair("declined_scopes", &declined.join(","));
                }
                if fb.config.return_token_to_integrator {
                    q.append_pair("access_token", token);
                }
            }
            Outcome::Failed {
                error,
                reason,
                description,
            } => {
                q.append_pair("status", "error")
                    .append_pair("error", error)
                    .append_pair("error_reason", reason)
                    .append_pair("error_description", description);
            }
        }
    }
    login::redirect(url.as_str())
}

fn popup_page(state: &FbState, outcome: Outcome) -> OwnResponse {
    let details: Value = serde_json::from_str(&state.details).unwrap_or_else(|_| json!({}));
    let mut message = json!({
        "actionType": "close",
        "page": "social_media_posting",
        "platform": "facebook",
        "placement": "placement",
    });
    match outcome {
        Outcome::Linked {
            account_id,
            relinked,
            declined,
            ..
        } => {
            let reconnect = details["reconnect"].as_bool().unwrap_or(false) && relinked;
            message["accountId"] = json!(account_id);
            message["reconnectAccounts"] = if reconnect {
                json!([account_id])
            } else {
                json!([])
            };
            if !declined.is_empty() {
                message["declinedScopes"] = json!(declined);
            }
        }
        Outcome::Failed {
            error,
            reason,
            description,
        } => {
            message["error"] = json!(error);
            message["errorReason"] = json!(reason);
            message["errorDescription"] = json!(description);
            message["reconnectAccounts"] = json!([]);
        }
    }
    let (body, csp) = pages::popup_close(&message, &state.integrator_uri);
    let csp = HeaderValue::from_str(&csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    login::html(
        200,
        body,
        vec![
            (http::header::CONTENT_SECURITY_POLICY, csp),
            (
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ),
        ],
    )
}

/// Code → long-lived token → checks → profile, permissions, pages, ad accounts → stored link.
async fn link(
    fb: &FacebookService,
    code: &str,
    state: &FbState,
) -> Result<Outcome, (&'static str, String)> {
    let graph = |e: GraphError| {
        let (kind, description) = e.describe();
        (kind, description)
    };
    let short = fb
        .graph
        .exchange_code(code, &fb.callback_url)
        .await
        .map_err(graph)?;
    let long = fb.graph.long_lived(&short.token).await.map_err(graph)?;
    let info = fb.graph.debug_token(&long.token).await.map_err(graph)?;
    let now = now_unix();
    if info.app_id != fb.config.app_id {
        return Err((
            "invalid_token",
            "the Facebook token was issued to another app".into(),
        ));
    }
    if !info.is_valid || (info.expires_at != 0 && info.expires_at <= now) {
        return Err(("invalid_token", "the Facebook token is not valid".into()));
    }
    let me = fb.graph.me(&long.token).await.map_err(graph)?;
    if !info.user_id.is_empty() && info.user_id != me.id {
        return Err((
            "invalid_token",
            "the Facebook token does not belong to this user".into(),
        ));
    }
    let (granted, declined) = fb.graph.permissions(&long.token).await.map_err(graph)?;
    let pages = fb
        .graph
        .paged(
            "accounts",
            &long.token,
            "me/accounts",
            "id,name,picture,tasks",
        )
        .await
        .map_err(graph)?;
    let ads = fb
        .graph
        .paged(
            "adaccounts",
            &long.token,
            "me/adaccounts",
            "id,account_id,name",
        )
        .await
        .map_err(graph)?;
    let sealed = fb.cipher.seal(&long.token, &me.id).ok_or((
        "server_error",
        "could not protect the Facebook token".to_string(),
    ))?;
    let account = FbAccount {
        id: hex::encode(rand::random::<[u8; 12]>()),
        fb_user_id: me.id.clone(),
        user_id: state.user_id.clone(),
        name: me.name,
        email: me.email,
        token_ciphertext: sealed,
        token_expires_at: long.expires_in.map(|s| now + s),
        scopes: granted.join(","),
        declined_scopes: declined.join(","),
        created_at: now,
        updated_at: now,
    };
    let pages: Vec<FbPage> = pages
        .iter()
        .filter_map(|p| {
            Some(FbPage {
                page_id: p["id"].as_str()?.to_string(),
                name: p["name"].as_str().unwrap_or_default().to_string(),
                avatar: p["picture"]["data"]["url"].as_str().map(str::to_string),
                is_owned: p["tasks"]
                    .as_array()
                    .is_none_or(|t| t.iter().any(|x| x == "MANAGE")),
                is_connected: false,
            })
        })
        .collect();
    let ads: Vec<FbAdAccount> = ads
        .iter()
        .filter_map(|a| {
            Some(FbAdAccount {
                ad_account_id: a["account_id"]
                    .as_str()
                    .or_else(|| a["id"].as_str())?
                    .to_string(),
                name: a["name"].as_str().map(str::to_string),
            })
        })
        .collect();
    let new_id = account.id.clone();
    let linked = fb
        .store
        .run(move |s| async move { s.link_fb_account(&account, &pages, &ads).await })
        .await;
    match linked {
        Ok(account_id) => Ok(Outcome::Linked {
            relinked: account_id != new_id,
            account_id,
            declined: declined
                .into_iter()
                .filter(|d| fb.config.scopes.contains(d))
                .collect(),
            token: long.token,
        }),
        Err(StoreError::Conflict) => Err((
            "account_conflict",
            "this Facebook account is already linked to another user".into(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "could not store the Facebook link");
            Err((
                "temporarily_unavailable",
                "the link could not be saved; retry later".into(),
            ))
        }
    }
}
