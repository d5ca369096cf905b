//! The subscriptions API, served by the alerter's HTTP server (with `wirewatch run`, the same
//! port as the store's `/api/stories`):
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/api/subscriptions` | list (file and API ones) |
//! | POST | `/api/subscriptions` | create (body: a subscription as in the file, plus optional `"paused": true`) → 201 |
//! | GET | `/api/subscriptions/{id}` | one |
//! | PUT | `/api/subscriptions/{id}` | replace an API subscription (its creation time is kept) |
//! | DELETE | `/api/subscriptions/{id}` | delete an API subscription → 204 |
//! | POST | `/api/subscriptions/{id}/pause`, `/resume` | pause / resume (either source) |
//!
//! Every route needs `Authorization: Bearer <[alerter] api_token>` (subscriptions hold
//! webhook URLs and secrets); without a configured token the API answers 403
//! `api_disabled`. Errors are JSON `{"code": "...", "message": "..."}` with a stable code:
//! `unauthorized` (401), `api_disabled` (403), `not_found` (404), `invalid_subscription`
//! (400, the message names the field or the query position), `conflict` (409: id taken, or
//! the subscription belongs to the subscriptions file), `unavailable` (503, retry),
//! `internal` (500). A subscription's `secret` is never returned (`has_secret` says whether
//! it has one).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::AlerterError;
use crate::subscription::{Compiled, Subscription};
use crate::Inner;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Stable error codes.
pub mod codes {
    /// Missing or wrong token.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// No `api_token` configured.
    pub const API_DISABLED: &str = "api_disabled";
    /// No such subscription.
    pub const NOT_FOUND: &str = "not_found";
    /// The body is not a valid subscription.
    pub const INVALID: &str = "invalid_subscription";
    /// Id taken, or owned by the subscriptions file.
    pub const CONFLICT: &str = "conflict";
    /// The ledger is busy or unreachable; retry.
    pub const UNAVAILABLE: &str = "unavailable";
    /// A bug.
    pub const INTERNAL: &str = "internal";
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/api/subscriptions", get(list).post(create))
        .route(
            "/api/subscriptions/{id}",
            get(one).put(replace).delete(remove),
        )
        .route("/api/subscriptions/{id}/pause", post(pause))
        .route("/api/subscriptions/{id}/resume", post(resume))
        .route_layer(axum::middleware::from_fn_with_state(
            inner.clone(),
            require_token,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(inner)
}

/// Every route needs the token.
async fn require_token(
    State(inner): State<Arc<Inner>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(&inner, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => *r,
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "code": code, "message": message.into() })),
    )
        .into_response()
}

fn from_error(e: &AlerterError) -> Response {
    match e {
        AlerterError::NotFound { .. } => {
            error(StatusCode::NOT_FOUND, codes::NOT_FOUND, e.to_string())
        }
        AlerterError::Conflict { .. } => {
            error(StatusCode::CONFLICT, codes::CONFLICT, e.to_string())
        }
        AlerterError::InvalidSubscription { id, reason, .. } => error(
            StatusCode::BAD_REQUEST,
            codes::INVALID,
            format!("subscription '{id}': {reason}"),
        ),
        AlerterError::Query {
            id, query, source, ..
        } => error(
            StatusCode::BAD_REQUEST,
            codes::INVALID,
            format!("subscription '{id}': query {query:?}: {source}"),
        ),
        other if other.retryable() => {
            tracing::warn!(error = %other, "subscriptions api: ledger unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UNAVAILABLE,
                "the alerter's database is busy or unavailable; retry",
            )
        }
        other => {
            tracing::error!(error = %other, "subscriptions api request failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL,
                "internal error",
            )
        }
    }
}

/// Compare without an early exit, so the time taken does not reveal the token's prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Err` with the error response when the request may not proceed (boxed: responses are
/// large).
fn authorize(inner: &Inner, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = inner.cfg.api_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            codes::API_DISABLED,
            "the subscriptions API is disabled: set [alerter] api_token (or WIREWATCH__ALERTER__API_TOKEN)",
        )));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if same(g.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "missing or wrong token: send Authorization: Bearer <api_token>",
        ))),
    }
}

/// A subscription as the API shows it: its definition without the secret, and its state.
fn view(c: &Compiled) -> Value {
    let mut v = serde_json::to_value(&c.sub).unwrap_or_else(|_| json!({ "id": c.sub.id }));
    if let Some(o) = v.as_object_mut() {
        o.remove("secret");
        o.insert("has_secret".into(), json!(c.sub.secret.is_some()));
        o.insert("source".into(), json!(c.meta.source.as_str()));
        o.insert("paused".into(), json!(c.meta.paused));
        o.insert("active".into(), json!(c.active()));
        o.insert("created_at".into(), json!(c.meta.created_at));
        o.insert("updated_at".into(), json!(c.meta.updated_at));
    }
    v
}

fn find(inner: &Inner, id: &str) -> Response {
    match inner.registry.live().get(id) {
        Some(c) => Json(view(c)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("subscription '{id}' not found"),
        ),
    }
}

/// Split `paused` off a request body and read the rest as a subscription.
fn parse_body(body: &[u8], path_id: Option<&str>) -> Result<(Subscription, Option<bool>), String> {
    let bad = |m: String| m;
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| bad("body must be a JSON object".into()))?;
    let paused = match obj.remove("paused") {
        None => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(bad("paused must be true or false".into())),
    };
    for k in ["has_secret", "source", "active", "created_at", "updated_at"] {
        obj.remove(k);
    }
    if let Some(id) = path_id {
        match obj.get("id") {
            None => {
                obj.insert("id".into(), json!(id));
            }
            Some(Value::String(s)) if s == id => {}
            Some(_) => return Err(bad(format!("the body's id differs from the path's ({id})"))),
        }
    }
    let sub: Subscription =
        serde_json::from_value(v).map_err(|e| bad(format!("not a subscription: {e}")))?;
    Ok((sub, paused))
}

async fn list(State(inner): State<Arc<Inner>>) -> Response {
    let live = inner.registry.live();
    let subs: Vec<Value> = live.subs.iter().map(view).collect();
    Json(json!({ "subscriptions": subs })).into_response()
}

async fn one(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    find(&inner, &id)
}

async fn create(State(inner): State<Arc<Inner>>, body: axum::body::Bytes) -> Response {
    let (sub, paused) = match parse_body(&body, None) {
        Ok(x) => x,
        Err(m) => return error(StatusCode::BAD_REQUEST, codes::INVALID, m),
    };
    let id = sub.id.clone();
    match inner.registry.create(sub, paused.unwrap_or(false)).await {
        Ok(()) => {
            tracing::info!(subscription = %id, "subscription created over the API");
            let mut r = find(&inner, &id);
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Err(e) => from_error(&e),
    }
}

async fn replace(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (sub, paused) = match parse_body(&body, Some(&id)) {
        Ok(x) => x,
        Err(m) => return error(StatusCode::BAD_REQUEST, codes::INVALID, m),
    };
    if let Err(e) = inner.registry.replace(sub).await {
        return from_error(&e);
    }
    if let Some(p) = paused {
        if let Err(e) = inner.registry.set_paused(&id, p).await {
            return from_error(&e);
        }
    }
    tracing::info!(subscription = %id, "subscription replaced over the API");
    find(&inner, &id)
}

async fn remove(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    match inner.registry.delete(&id).await {
        Ok(()) => {
            tracing::info!(subscription = %id, "subscription deleted over the API");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => from_error(&e),
    }
}

async fn set_paused(inner: Arc<Inner>, id: String, paused: bool) -> Response {
    match inner.registry.set_paused(&id, paused).await {
        Ok(()) => {
            tracing::info!(subscription = %id, paused, "subscription paused state changed over the API");
            find(&inner, &id)
        }
        Err(e) => from_error(&e),
    }
}

async fn pause(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    set_paused(inner, id, true).await
}

async fn resume(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    set_paused(inner, id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compare() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }

    #[test]
    fn body_parsing() {
        let (s, p) = parse_body(br#"{"id":"a","query":"x","file":"f","paused":true}"#, None)
            .unwrap_or_else(|_| panic!("parses"));
        assert_eq!(s.id, "a");
        assert_eq!(p, Some(true));
        let (s, _) = parse_body(br#"{"query":"x","file":"f"}"#, Some("b"))
            .unwrap_or_else(|_| panic!("parses"));
        assert_eq!(s.id, "b");
        assert!(parse_body(br#"{"id":"c","query":"x","file":"f"}"#, Some("b")).is_err());
        assert!(parse_body(br#"{"id":"c","query":"x","colour":"red"}"#, None).is_err());
        assert!(parse_body(b"[1]", None).is_err());
    }
}

/// The subscription routes in the OpenAPI document the store serves at `/api/openapi.json`.
#[cfg(test)]
mod openapi {
    use serde_json::Value;

    #[test]
    fn every_route_is_documented_with_its_methods_and_codes() {
        let doc: Value =
            serde_json::from_str(include_str!("../../store/src/openapi.json")).unwrap_or_default();
        let paths = &doc["paths"];
        for (path, methods) in [
            ("/api/subscriptions", &["get", "post"][..]),
            ("/api/subscriptions/{id}", &["get", "put", "delete"][..]),
            ("/api/subscriptions/{id}/pause", &["post"][..]),
            ("/api/subscriptions/{id}/resume", &["post"][..]),
        ] {
            for m in methods {
                assert!(paths[path][m].is_object(), "{m} {path} undocumented");
                assert!(
                    paths[path][m]["responses"]["401"].is_object(),
                    "{m} {path}: 401 undocumented"
                );
            }
        }
        let text = include_str!("../../store/src/openapi.json");
        for code in [
            super::codes::UNAUTHORIZED,
            super::codes::API_DISABLED,
            super::codes::NOT_FOUND,
            super::codes::INVALID,
            super::codes::CONFLICT,
            super::codes::UNAVAILABLE,
        ] {
            assert!(text.contains(code), "error code {code} undocumented");
        }
    }
}
