//! # wirewatch-fetcher — the source stage
//!
//! Polls the feeds listed in the feeds file (`config/feeds.toml`) and publishes every new item
//! as a [`RawStory`] on **`stories.raw.v1`**, and every change of a feed's health
//! (healthy → failing → recovered, gone) as a `FeedHealth` on **`feeds.health.v1`**. It reads
//! no topic.
//!
//! - Fetching is polite and bounded: conditional GET (`If-None-Match` / `If-Modified-Since`),
//!   connect and total timeouts, a body cap enforced while streaming, a redirect limit,
//!   compressed transfer; at most `max_concurrent_fetches` feeds at once; a failing feed backs
//!   off exponentially with jitter (honouring `Retry-After`) and is never dropped.
//! - Delivery is at-least-once: a story id is remembered as seen only after the bus confirmed
//!   its delivery, and a feed's validators are saved only after all its new stories were
//!   delivered. A crash re-publishes at worst (dedup is idempotent); a restart re-publishes
//!   nothing already delivered.
//!
//! Modules:
//! - [`config`]: the `[fetcher]` section, [`FetcherConfig`].
//! - [`feeds`]: the feed list ([`FeedSpec`], [`load_feeds`]).
//! - [`parse`]: the pure core: bytes → [`FeedInfo`] + [`RawStory`]s ([`parse_feed`]):
//!   charset detection (feedparser's order) and `<rss>`-version fixes, a quick-xml fast path for
//!   common RSS/Atom with feed-rs as the reference for the rest, HTML → plain text, absolute
//!   links, stable ids.
//! - [`http`]: the HTTP client and the capped conditional GET (redirects, address checks).
//! - [`schedule`]: intervals from publishing rate and server hints, per-host politeness.
//! - [`registry`]: feeds added from the command line (autodiscovery, OPML import/export).
//! - [`websub`]: hub subscriptions and the push callback.
//! - [`state`]: SQLite state (`<data_dir>/fetcher.db`): validators, health, seen ids.
//! - `poller`: the schedule and the poll of one feed.
//! - [`clock`]: the time the schedule runs on (the system's, or a test's [`clock::ManualClock`]).
//! - [`metrics`]: `wirewatch_fetcher_*` metrics.
//! - [`error`]: the error type, [`FetcherError`].

pub mod clock;
pub mod config;
pub mod error;
pub mod feeds;
pub mod http;
pub mod metrics;
pub mod parse;
mod poller;
pub mod recover;
pub mod registry;
pub mod schedule;
pub mod state;
pub mod websub;
pub mod writer;

use std::path::Path;

use chrono::Utc;
use serde::Serialize;
use url::Url;
use wirewatch_proto::stable_id;
use wirewatch_proto::v1::{FeedRef, RawStory};
use wirewatch_runtime::bus::SharedPublisher;
use wirewatch_runtime::stage::LoopOptions;
use wirewatch_runtime::CancellationToken;

pub use config::FetcherConfig;
pub use error::FetcherError;
pub use feeds::{load_feeds, FeedSpec};
pub use parse::{parse_feed, FeedInfo, FeedKind};

/// The stage name: `ce_source` suffix, `stage` label, log field.
pub const STAGE: &str = metrics::STAGE;

/// Run the fetcher until `shutdown` is cancelled: load the feeds file, open the state in
/// `data_dir`, and poll every feed (the first time at once). Returns once in-flight publishes
/// finished. Fails on a bad feeds file, an unusable state database, or a bus that refuses
/// records for good; feed failures never stop it.
pub async fn run(
    cfg: FetcherConfig,
    data_dir: &Path,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
) -> Result<(), FetcherError> {
    run_with(cfg, data_dir, publisher, opts, shutdown, Extras::default()).await
}

fn check_shard(cfg: &FetcherConfig) -> Result<(), FetcherError> {
    cfg.shard().map(|_| ()).map_err(|detail| FetcherError::Io {
        url: String::new(),
        detail,
    })
}

/// [`run`] with WebSub: subscriptions made through `websub` (serve [`websub::WebSub::router`]
/// on the HTTP server), its accepted pushes arriving on `pushes`.
pub async fn run_with_websub(
    cfg: FetcherConfig,
    data_dir: &Path,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
    websub: std::sync::Arc<websub::WebSub>,
    pushes: tokio::sync::mpsc::Receiver<websub::Push>,
) -> Result<(), FetcherError> {
    let extras = Extras {
        websub: Some((websub, pushes)),
        ..Extras::default()
    };
    run_with(cfg, data_dir, publisher, opts, shutdown, extras).await
}

/// What [`run_with`] takes besides the config: the parts a caller may supply itself.
#[derive(Default)]
pub struct Extras {
    /// WebSub: the subscriber and the receiver of its accepted pushes ([`websub_for`]).
    pub websub: Option<(
        std::sync::Arc<websub::WebSub>,
        tokio::sync::mpsc::Receiver<websub::Push>,
    )>,
    /// The time the schedule runs on; `None`: the system's ([`clock::SystemClock`]). Tests
    /// pass a [`clock::ManualClock`].
    pub clock: Option<std::sync::Arc<dyn clock::Clock>>,
}

/// [`run`] with [`Extras`].
pub async fn run_with(
    cfg: FetcherConfig,
    data_dir: &Path,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
    extras: Extras,
) -> Result<(), FetcherError> {
    let specs = load_feeds(&cfg.feeds_file)?;
    check_shard(&cfg)?;
    poller::run_feeds(cfg, specs, data_dir, publisher, opts, shutdown, extras).await
}

/// Build the WebSub side for `cfg` (None when `websub_callback_url` is not set): the
/// subscriber, the receiver of its pushes, and the callback router to serve.
pub async fn websub_for(
    cfg: &FetcherConfig,
    data_dir: &Path,
) -> Result<
    Option<(
        std::sync::Arc<websub::WebSub>,
        tokio::sync::mpsc::Receiver<websub::Push>,
    )>,
    FetcherError,
> {
    let Some(base) = cfg.websub_callback_url.as_deref() else {
        return Ok(None);
    };
    let base = Url::parse(base).map_err(|e| FetcherError::Io {
        url: base.to_string(),
        detail: format!("fetcher.websub_callback_url is not a URL: {e}"),
    })?;
    let store = state::Store::open_at(data_dir, cfg.state_url.as_deref()).await?;
    let client = http::client(cfg)?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    Ok(Some((
        websub::WebSub::new(store, client, Some(base), tx),
        rx,
    )))
}

/// What [`inspect`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The feed's own description of itself.
    pub feed: FeedInfo,
    /// Every item, normalised as the pipeline would publish it.
    pub stories: Vec<RawStory>,
}

/// Fetch (http/https URL) or read (file path) one feed and normalise it, without state or
/// publishing: `wirewatch inspect`. Applies the same timeouts and body cap as polling. The
/// feed id is a hash of `source`.
pub async fn inspect(source: &str, cfg: &FetcherConfig) -> Result<Inspection, FetcherError> {
    let source = source.trim();
    // A feed listed in the feeds file keeps its configured id, so the story ids shown are the
    // ones the pipeline publishes; any other source gets an id hashed from its URL or path.
    let configured = load_feeds(&cfg.feeds_file)
        .ok()
        .and_then(|feeds| feeds.into_iter().find(|f| f.url == source));
    let feed = FeedRef {
        id: configured
            .as_ref()
            .map(|f| f.id.clone())
            .unwrap_or_else(|| stable_id(&[source])),
        url: source.to_string(),
        title: configured.and_then(|f| f.title),
    };
    let fetched_at = Utc::now();
    let (info, stories) = if source.starts_with("http://") || source.starts_with("https://") {
        let client = http::client(cfg)?;
        match http::fetch(
            &client,
            source,
            &http::Validators::default(),
            &http::Limits::of(cfg),
        )
        .await?
        {
            http::FetchOutcome::NotModified { .. } => {
                return Err(FetcherError::Io {
                    url: source.to_string(),
                    detail: "unexpected 304 to an unconditional request".into(),
                })
            }
            http::FetchOutcome::Body {
                bytes,
                charset,
                final_url,
                ..
            } => parse::parse_feed_with_charset(
                &bytes,
                charset.as_deref(),
                &feed,
                Some(&final_url),
                fetched_at,
            )?,
        }
    } else {
        let bytes = read_capped(Path::new(source), cfg.max_body_bytes).await?;
        // A local file has no URL: relative links resolve against the feed's own link.
        parse_feed(&bytes, &feed, None::<&Url>, fetched_at)?
    };
    Ok(Inspection {
        feed: info,
        stories,
    })
}

async fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>, FetcherError> {
    use tokio::io::AsyncReadExt;
    let name = path.display().to_string();
    let io = |e: std::io::Error| FetcherError::Io {
        url: name.clone(),
        detail: e.to_string(),
    };
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(FetcherError::TooLarge {
            url: name,
            limit_bytes: max_bytes,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn inspects_a_file() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/corpus/feeds/rss-parser/test/input/guardian.rss"
        );
        let got = inspect(path, &FetcherConfig::default()).await.unwrap();
        assert_eq!(got.feed.kind, FeedKind::Rss);
        assert_eq!(got.stories.len(), 55);
        let json = serde_json::to_value(&got).unwrap();
        assert_eq!(json["feed"]["kind"], "rss");

        let small = FetcherConfig {
            max_body_bytes: 100,
            ..FetcherConfig::default()
        };
        let e = inspect(path, &small).await.unwrap_err();
        assert_eq!(e.kind(), "too_large");
        let e = inspect("/nonexistent/feed.xml", &small).await.unwrap_err();
        assert_eq!(e.kind(), "io");
    }
}
