//! The HTTP API, an axum [`Router`] the binary merges into its metrics server:
//!
//! - `GET /api/stories?q=&topic=&country=&since=&limit=&offset=` →
//!   `{"stories": [...], "total": n, "limit": l, "offset": o}`, newest first;
//! - `GET /api/stories/{id}` → the stored event plus `duplicates` and `alerts`, or 404;
//! - `GET /api/stats` → row counts.
//!
//! Errors are JSON: `{"error": "...", "parameter": "q"}` (400) for a bad parameter,
//! `{"error": "..."}` otherwise. Store failures are 503 when retrying may help, else 500.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::db::Store;
use crate::error::StoreError;
use crate::metrics::{metrics, status_class, STAGE};
use crate::query::{SearchParams, SearchQuery};
use crate::rows::MAX_ID_BYTES;

/// The store's routes, ready to merge into the process's HTTP server.
pub fn api_router(store: Store) -> Router {
    Router::new()
        .route("/api/stories", get(stories))
        .route("/api/stories/{id}", get(story))
        .route("/api/stats", get(stats))
        .with_state(store)
}

fn record(route: &'static str, resp: Response) -> Response {
    metrics()
        .api_requests
        .with_label_values(&[STAGE, route, status_class(resp.status().as_u16())])
        .inc();
    resp
}

fn error_response(route: &'static str, e: &StoreError) -> Response {
    match e {
        StoreError::InvalidParam { param, reason } => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("invalid {param}: {reason}"), "parameter": param })),
        )
            .into_response(),
        other => {
            let code = if other.retryable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            tracing::error!(route, error = %other, "store api request failed");
            (code, Json(json!({ "error": "store unavailable" }))).into_response()
        }
    }
}

async fn stories(
    State(store): State<Store>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    const ROUTE: &str = "stories";
    let resp = match params {
        Err(rej) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("invalid query string: {}", rej.body_text()), "parameter": "query" })),
        )
            .into_response(),
        Ok(Query(p)) => match run_search(&store, &p).await {
            Ok(body) => Json(body).into_response(),
            Err(e) => error_response(ROUTE, &e),
        },
    };
    record(ROUTE, resp)
}

async fn run_search(store: &Store, p: &SearchParams) -> Result<serde_json::Value, StoreError> {
    let q = SearchQuery::from_params(p, chrono::Utc::now())?;
    let stories = store.search(&q).await?;
    let total = store.count(&q).await?;
    Ok(json!({
        "stories": stories,
        "total": total,
        "limit": q.limit,
        "offset": q.offset,
    }))
}

async fn story(State(store): State<Store>, Path(id): Path<String>) -> Response {
    const ROUTE: &str = "story";
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "story not found", "id": id })),
        )
            .into_response()
    };
    let resp = if id.is_empty() || id.len() > MAX_ID_BYTES {
        not_found()
    } else {
        match store.story(&id).await {
            Ok(Some(v)) => Json(v).into_response(),
            Ok(None) => not_found(),
            Err(e) => error_response(ROUTE, &e),
        }
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
