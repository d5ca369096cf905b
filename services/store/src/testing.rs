//! Test support shared by every crate's tests that need a real PostgreSQL server: a fresh,
//! empty database per test on the server named by `WIREWATCH_TEST_POSTGRES` (what
//! `scripts/postgres.sh start` prints). Not used by the pipeline itself.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// The URL of a fresh, empty database on the test server, so tests run in parallel without
/// sharing rows; `None` after a loud `SKIPPED: <what>` line when no server is configured.
/// Panics when `CI` is set without a server (CI never skips real-service tests), and when the
/// server refuses the database (a broken test setup, not a skip).
pub async fn fresh_postgres_url(what: &str) -> Option<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = match std::env::var("WIREWATCH_TEST_POSTGRES") {
        Ok(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ if std::env::var_os("CI").is_some() => {
            panic!("WIREWATCH_TEST_POSTGRES is not set (run scripts/postgres.sh start)")
        }
        _ => {
            eprintln!("SKIPPED: {what}; set WIREWATCH_TEST_POSTGRES (scripts/postgres.sh start)");
            return None;
        }
    };
    let name = format!(
        "wt_{}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let created = async {
        let mut conn = sqlx::PgConnection::connect(&base).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await
    }
    .await;
    if let Err(e) = created {
        panic!("cannot create test database {name} on WIREWATCH_TEST_POSTGRES: {e}");
    }
    let without_query = base.split('?').next().unwrap_or(&base);
    let head = without_query
        .rsplit_once('/')
        .map_or(without_query, |(head, _)| head);
    Some(format!("{head}/{name}"))
}
