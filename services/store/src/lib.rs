//! # wirewatch-store — the sink that keeps everything, and the search API
//!
//! Role: **sink**. Reads `stories.enriched.v1`, `stories.links.v1`, `alerts.v1`,
//! `feeds.health.v1` and `deadletter.v1` ([`STORE_TOPICS`]); writes nothing to the bus. Every
//! event is upserted by its id into SQLite (`<data_dir>/store.db` unless `store.path` says
//! otherwise), so a redelivered message changes nothing. Stories are indexed for full-text
//! search (FTS5 over title, summary and content) and filtered by topic, country and time.
//! Duplicate links may arrive before or after their original story; they are joined at query
//! time.
//!
//! Modules:
//! - [`config`]: [`StoreConfig`], the `[store]` section.
//! - [`db`]: [`Store`], the database: open + migrations (`migrations/*.sql`), upserts, queries.
//! - [`sink`]: [`StoreSink`], the stage's [`wirewatch_runtime::stage::Processor`].
//! - [`api`]: [`api_router`], `GET /api/stories`, `/api/stories/{id}`, `/api/stats`.
//! - [`query`]: pure parsing of search parameters and FTS5 query sanitising.
//! - `rows`: pure mapping from events to table rows (validation decides what is poison).
//! - [`metrics`], [`error`].

pub mod api;
pub mod config;
pub mod db;
pub mod error;
pub mod metrics;
pub mod query;
mod rows;
pub mod sink;

pub use api::api_router;
pub use config::StoreConfig;
pub use db::{Stats, Store};
pub use error::{ErrorClass, StoreError};
pub use query::{SearchParams, SearchQuery};
pub use sink::{StoreSink, STORE_TOPICS};
