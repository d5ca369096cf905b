//! # wirewatch-store — the sink that keeps everything, and the search API
//!
//! Role: **sink**. Reads `stories.enriched.v1`, `stories.links.v1`, `alerts.v1`,
//! `feeds.health.v1` and `deadletter.v1` ([`STORE_TOPICS`]); writes nothing to the bus. Every
//! event is upserted by its id, so a redelivered message changes nothing, into one of two
//! back-ends behind [`Store`]: SQLite (`<data_dir>/store.db` unless `store.path` says
//! otherwise; WAL, FTS5) by default, or PostgreSQL when `store.url` is a `postgres://` URL
//! (weighted `tsvector` + GIN). Stories are indexed for full-text search over title, summary
//! and content, and filtered by topic, country, entity, source, language, severity and time.
//! Duplicate links may arrive before or after their original story; they are joined at query
//! time. A background job ([`retention::run_retention`]) deletes what is older than the
//! configured age.
//!
//! Modules:
//! - [`config`]: [`StoreConfig`], the `[store]` section.
//! - [`db`]: [`Store`], the database: open + migrations (`migrations/{sqlite,postgres}/*.sql`),
//!   upserts (single and batched), queries.
//! - [`sink`]: [`StoreSink`], the stage's [`wirewatch_runtime::stage::Processor`], with a
//!   batched path.
//! - [`api`]: [`api_router`], the HTTP API (`/api/stories`, `/api/stories/{id}`,
//!   `/api/clusters/{id}`, `/api/feeds`, `/api/stats`, `/api/openapi.json`).
//! - [`retention`]: the retention plan (pure) and job.
//! - [`cli`]: `wirewatch search` and `wirewatch export`.
//! - [`query`]: pure parsing of search parameters, the `q` language, cursors.
//! - `rows`: pure mapping from events to table rows (validation decides what is poison).
//! - [`metrics`], [`error`].

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod metrics;
pub mod query;
pub mod retention;
mod rows;
pub mod sink;
pub mod testing;

pub use api::api_router;
pub use config::StoreConfig;
pub use db::{BackendKind, BatchOutcome, Page, Stats, Store};
pub use error::{ErrorClass, StoreError};
pub use query::{Cursor, SearchParams, SearchQuery, Sort};
pub use retention::{purge, run_retention, PurgeReport};
pub use sink::{StoreSink, STORE_TOPICS};
