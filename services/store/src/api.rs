//! The HTTP API, an axum [`Router`] the binary merges into its metrics server. Documented in
//! OpenAPI 3 (`src/openapi.json`, served at `/api/openapi.json`; a test checks that every
//! route is in it):
//!
//! - `GET /api/stories?q=&topic=&country=&entity=&source=&language=&severity=&since=&until=&sort=&limit=&offset=&cursor=`
//!   → `{"stories": [...], "total": n, "limit": l, "offset": o, "sort": s, "next_cursor": c}`;
//! - `GET /api/stories/{id}` → the stored event plus `duplicates` and `alerts`, or 404;
//! - `GET /api/clusters/{id}` → `{"id", "stories", "links"}`, or 404;
//! - `GET /api/feeds` → `{"feeds": [...]}`, the latest health event of each feed;
//! - `GET /api/stats` → row counts;
//! - `GET /api/openapi.json` → the OpenAPI document.
//!
//! Errors are JSON `{"code": "...", "message": "...", "parameter": "q"?}` with a stable
//! `code` ([`codes`]): 400 for a bad parameter, 404, 503 when retrying may help, else 500.
//! The API only reads; nothing here writes, so it needs no token.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::db::Store;
use crate::error::StoreError;
use crate::metrics::{metrics, status_class, STAGE};
use crate::query::{SearchParams, SearchQuery};
use crate::rows::MAX_ID_BYTES;

/// Longest query string accepted, in bytes.
pub const MAX_QUERY_STRING_BYTES: usize = 4096;

/// The OpenAPI 3 document of this API.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Every route, as written in the OpenAPI document's `paths`.
pub const API_PATHS: [&str; 6] = [
    "/api/stories",
    "/api/stories/{id}",
    "/api/clusters/{id}",
    "/api/feeds",
    "/api/stats",
    "/api/openapi.json",
];

/// The stable error codes of the API.
pub mod codes {
    /// A query parameter is invalid (`parameter` names it). 400.
    pub const INVALID_PARAMETER: &str = "invalid_parameter";
    /// The query string is longer than [`super::MAX_QUERY_STRING_BYTES`]. 400.
    pub const QUERY_TOO_LONG: &str = "query_too_long";
    /// No such story or cluster. 404.
    pub const NOT_FOUND: &str = "not_found";
    /// The database is busy or unreachable; try again. 503.
    pub const UNAVAILABLE: &str = "unavailable";
    /// Anything else (details in the server log). 500.
    pub const INTERNAL: &str = "internal";
}

/// The store's routes, ready to merge into the process's HTTP server.
pub fn api_router(store: Store) -> Router {
    Router::new()
        .route("/api/stories", get(stories))
        .route("/api/stories/{id}", get(story))
        .route("/api/clusters/{id}", get(cluster))
        .route("/api/feeds", get(feeds))
        .route("/api/stats", get(stats))
        .route("/api/openapi.json", get(openapi))
        .with_state(store)
}

fn record(route: &'static str, resp: Response) -> Response {
    metrics()
        .api_requests
        .with_label_values(&[STAGE, route, status_class(resp.status().as_u16())])
        .inc();
    resp
}

/// A JSON error response.
pub fn error_body(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "code": code, "message": message.into() })),
    )
        .into_response()
}

fn bad_param(param: &str, message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "code": codes::INVALID_PARAMETER,
            "message": message,
            "parameter": param,
        })),
    )
        .into_response()
}

fn error_response(route: &'static str, e: &StoreError) -> Response {
    match e {
        StoreError::InvalidParam { param, reason } => {
            bad_param(param, format!("invalid {param}: {reason}"))
        }
        other => {
            tracing::error!(route, error = %other, "store api request failed");
            if other.retryable() {
                error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    "store unavailable, try again",
                )
            } else {
                error_body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::INTERNAL,
                    "store error",
                )
            }
        }
    }
}

fn not_found(what: &str, id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "code": codes::NOT_FOUND,
            "message": format!("{what} not found"),
            "id": id,
        })),
    )
        .into_response()
}

async fn stories(
    State(store): State<Store>,
    RawQuery(raw): RawQuery,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    const ROUTE: &str = "stories";
    let resp = if raw.as_deref().map_or(0, str::len) > MAX_QUERY_STRING_BYTES {
        error_body(
            StatusCode::BAD_REQUEST,
            codes::QUERY_TOO_LONG,
            format!("query string longer than {MAX_QUERY_STRING_BYTES} bytes"),
        )
    } else {
        match params {
            Err(rej) => bad_param(
                "query",
                format!("invalid query string: {}", rej.body_text()),
            ),
            Ok(Query(p)) => match run_search(&store, &p).await {
                Ok(body) => Json(body).into_response(),
                Err(e) => error_response(ROUTE, &e),
            },
        }
    };
    record(ROUTE, resp)
}

async fn run_search(store: &Store, p: &SearchParams) -> Result<Value, StoreError> {
    let q = SearchQuery::from_params(p, chrono::Utc::now())?;
    let page = store.search_page(&q).await?;
    let total = store.count(&q).await?;
    Ok(json!({
        "stories": page.stories,
        "total": total,
        "limit": q.limit,
        "offset": q.offset,
        "sort": q.sort.as_str(),
        "next_cursor": page.next_cursor.map(|c| c.encode()),
    }))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
}

async fn story(State(store): State<Store>, Path(id): Path<String>) -> Response {
    const ROUTE: &str = "story";
    let resp = if !valid_id(&id) {
        not_found("story", &id)
    } else {
        match store.story(&id).await {
            Ok(Some(v)) => Json(v).into_response(),
            Ok(None) => not_found("story", &id),
            Err(e) => error_response(ROUTE, &e),
        }
    };
    record(ROUTE, resp)
}

async fn cluster(State(store): State<Store>, Path(id): Path<String>) -> Response {
    const ROUTE: &str = "cluster";
    let resp = if !valid_id(&id) {
        not_found("cluster", &id)
    } else {
        match store.cluster(&id).await {
            Ok(Some(v)) => Json(v).into_response(),
            Ok(None) => not_found("cluster", &id),
            Err(e) => error_response(ROUTE, &e),
        }
    };
    record(ROUTE, resp)
}

async fn feeds(State(store): State<Store>) -> Response {
    const ROUTE: &str = "feeds";
    let resp = match store.feeds().await {
        Ok(f) => Json(json!({ "feeds": f })).into_response(),
        Err(e) => error_response(ROUTE, &e),
    };
    record(ROUTE, resp)
}

async fn stats(State(store): State<Store>) -> Response {
    const ROUTE: &str = "stats";
    let resp = match store.stats().await {
        Ok(s) => Json(s).into_response(),
        Err(e) => error_response(ROUTE, &e),
    };
    record(ROUTE, resp)
}

async fn openapi() -> Response {
    record(
        "openapi",
        ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for p in API_PATHS {
            assert!(paths.contains_key(p), "{p} missing from openapi.json");
            assert!(paths[p]["get"].is_object(), "{p} has no GET");
        }
        // The rest are the alerter's subscription routes, served beside these (checked in
        // wirewatch-alerter's tests against its router).
        let extra: Vec<&String> = paths
            .keys()
            .filter(|p| !API_PATHS.contains(&p.as_str()))
            .collect();
        assert!(
            extra.iter().all(|p| p.starts_with("/api/subscriptions")),
            "undocumented extra paths: {extra:?}"
        );
        // Every query parameter of /api/stories is documented.
        let params: Vec<&str> = doc["paths"]["/api/stories"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in [
            "q", "topic", "country", "entity", "source", "language", "severity", "since", "until",
            "sort", "limit", "offset", "cursor",
        ] {
            assert!(params.contains(&name), "parameter {name} undocumented");
        }
        // Every error code is documented.
        let text = OPENAPI_JSON;
        for code in [
            codes::INVALID_PARAMETER,
            codes::QUERY_TOO_LONG,
            codes::NOT_FOUND,
            codes::UNAVAILABLE,
            codes::INTERNAL,
        ] {
            assert!(text.contains(code), "error code {code} undocumented");
        }
    }
}
