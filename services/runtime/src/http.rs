//! The HTTP server each process runs: `/metrics`, `/healthz` (the process is alive),
//! `/readyz` (every dependency — broker, database — answers), plus any routes a stage adds
//! (the store's API).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::config::HttpConfig;

/// Something `/readyz` checks.
#[async_trait]
pub trait ReadyCheck: Send + Sync {
    /// Name shown in the `/readyz` body.
    fn name(&self) -> String;
    /// `Ok` when reachable.
    async fn ready(&self) -> Result<(), String>;
}

#[async_trait]
impl ReadyCheck for Arc<dyn crate::bus::Publisher> {
    fn name(&self) -> String {
        "bus".into()
    }
    async fn ready(&self) -> Result<(), String> {
        crate::bus::Publisher::ready(self.as_ref()).await
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Could not bind (address in use, permission): permanent.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

type Checks = Arc<Vec<Arc<dyn ReadyCheck>>>;

async fn readyz(checks: Checks) -> impl IntoResponse {
    let mut body = String::new();
    let mut ok = true;
    for c in checks.iter() {
        let r = tokio::time::timeout(Duration::from_secs(5), c.ready())
            .await
            .unwrap_or_else(|_| Err("timed out".into()));
        match r {
            Ok(()) => body.push_str(&format!("{}: ok\n", c.name())),
            Err(e) => {
                ok = false;
                body.push_str(&format!("{}: {e}\n", c.name()));
            }
        }
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

/// Bind the server and serve until `shutdown`. Returns the bound address (useful with port 0)
/// and the serving task.
pub async fn serve(
    cfg: &HttpConfig,
    checks: Vec<Arc<dyn ReadyCheck>>,
    extra: Router,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), HttpError> {
    crate::metrics::register_process_metrics();
    let checks: Checks = Arc::new(checks);
    let app = Router::new()
        .route("/metrics", get(|| async { crate::metrics::render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let c = checks.clone();
                async move { readyz(c).await }
            }),
        )
        .merge(extra);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| HttpError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| HttpError::Bind {
        addr: cfg.listen,
        source,
    })?;
    tracing::info!(%addr, "http server listening (/metrics /healthz /readyz)");
    let handle = tokio::spawn(async move {
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "http server failed");
        }
    });
    Ok((addr, handle))
}
