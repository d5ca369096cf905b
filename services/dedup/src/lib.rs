//! # wirewatch-dedup — the dedup transform
//!
//! Reads `stories.raw.v1` ([`RawStory`]), writes `stories.unique.v1` ([`UniqueStory`]) for new
//! stories and `stories.links.v1` ([`DuplicateLink`]) for duplicates, each with the rule and
//! score that decided.
//!
//! Modules:
//! - [`index`]: the pure core, [`index::Index::check`], with the exact rules: same GUID from
//!   the same feed, same canonical URL ([`canon`]), same normalised content.
//! - [`canon`]: URL canonicalisation and text normalisation.
//! - [`state`]: the SQLite file that makes the index survive restarts.
//! - [`stage`]: the [`Processor`](wirewatch_runtime::stage::Processor) that ties them to the bus.
//!
//! Redelivery is harmless: a story id already decided gets the same verdict again, so its
//! outputs are re-published identically and the downstream sinks upsert them.

pub mod canon;
pub mod config;
pub mod error;
pub mod index;
pub mod metrics;
pub mod minhash;
pub mod sim;
pub mod stage;
pub mod state;

pub use config::DedupConfig;
pub use error::DedupError;
pub use index::{Index, Verdict};
pub use stage::DedupStage;

/// Version of the dedup rules, stamped on every output.
pub const DEDUP_VERSION: &str = concat!("dedup-", env!("CARGO_PKG_VERSION"), "+sim1");
