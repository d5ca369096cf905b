//! The fetcher's state on both back-ends — SQLite (`<data_dir>/fetcher.db`) and PostgreSQL
//! (`[fetcher] state_url`) — and one registry shared by fetcher shards that share nothing else
//! (separate `data_dir`s, as on separate machines).
//!
//! Needs a PostgreSQL server: `WIREWATCH_TEST_POSTGRES` (`scripts/postgres.sh start` prints
//! one). Without it the tests say SKIPPED loudly; under `CI` they fail instead.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use wirewatch_fetcher::http::Validators;
use wirewatch_fetcher::state::Store;
use wirewatch_fetcher::{run, FeedSpec, FetcherConfig};
use wirewatch_proto::v1::{FeedStatus, RawStory};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::memory::MemoryBus;
use wirewatch_runtime::bus::Subscriber;
use wirewatch_runtime::stage::LoopOptions;
use wirewatch_runtime::CancellationToken;

/// A fresh database for one test (see `wirewatch_store::testing`).
async fn fresh_state_url() -> Option<String> {
    wirewatch_store::testing::fresh_postgres_url("fetcher state on PostgreSQL").await
}

/// What a restart must find, on either back-end: with `url` (PostgreSQL) nothing is kept under
/// `data_dir`, so a process on another machine (another directory) finds the same.
async fn state_survives_reopen_and_seen_is_bounded(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_at(dir.path(), url).await.unwrap();
    let mut row = store.register("f", "https://a/rss").await.unwrap();
    assert_eq!(row.status, FeedStatus::Healthy);
    row.validators.etag = Some("\"v1\"".into());
    row.status = FeedStatus::Failing;
    row.consecutive_failures = 3;
    store.save("f", &row, Some("boom")).await.unwrap();
    for i in 0..10 {
        store.mark_seen("f", &format!("s{i}")).await.unwrap();
    }
    store.mark_seen("f", "s9").await.unwrap(); // idempotent
    store.trim_seen("f", 4).await.unwrap();
    assert_eq!(store.seen_count("f").await.unwrap(), 4);
    assert!(!store.is_seen("f", "s5").await.unwrap());
    assert!(store.is_seen("f", "s6").await.unwrap());
    assert!(store.is_seen("f", "s9").await.unwrap());
    assert!(!store.is_seen("other", "s9").await.unwrap());
    store
        .checkpoint("f", Some(Utc::now()), Utc::now())
        .await
        .unwrap();
    store.close().await;

    let elsewhere = tempfile::tempdir().unwrap();
    let reopen_in = if url.is_some() {
        elsewhere.path()
    } else {
        dir.path()
    };
    let store = Store::open_at(reopen_in, url).await.unwrap();
    assert!(
        !elsewhere.path().join("fetcher.db").exists(),
        "state written beside the process"
    );
    let back = store.register("f", "https://a/rss").await.unwrap();
    assert_eq!(back, row);
    assert!(store.is_seen("f", "s9").await.unwrap());
    let listed = store.feed_states().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_error.as_deref(), Some("boom"));
    assert!(listed[0].last_success_at.is_some());
    // A new URL drops the validators, keeps health.
    let moved = store.register("f", "https://b/rss").await.unwrap();
    assert_eq!(moved.validators, Validators::default());
    assert_eq!(moved.status, FeedStatus::Failing);
    store.close().await;
}

#[tokio::test]
async fn state_survives_reopen_on_sqlite() {
    state_survives_reopen_and_seen_is_bounded(None).await;
}

#[tokio::test]
async fn state_survives_reopen_on_postgres() {
    if let Some(url) = fresh_state_url().await {
        state_survives_reopen_and_seen_is_bounded(Some(&url)).await;
    }
}

/// Registering many feeds at once gives the rows registering them one by one would: stored
/// rows come back as stored, a changed configured URL wins, new rows are written.
async fn many_feeds_register_in_one_batch_like_one_by_one(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_at(dir.path(), url).await.unwrap();
    // An existing feed, failing, moved since (its configured URL unchanged), and one whose
    // configured URL changes.
    let mut kept = store.register("kept", "https://k/rss").await.unwrap();
    kept.url = "https://k2/rss".into();
    kept.status = FeedStatus::Failing;
    kept.validators.etag = Some("\"e\"".into());
    store.save("kept", &kept, None).await.unwrap();
    store.register("renamed", "https://old/rss").await.unwrap();
    // More feeds than one read chunk (500 ids).
    let n = 1_007;
    let ids: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
    let urls: Vec<String> = (0..n).map(|i| format!("https://h{i}/rss")).collect();
    let mut feeds: Vec<(&str, &str)> = ids
        .iter()
        .zip(&urls)
        .map(|(i, u)| (i.as_str(), u.as_str()))
        .collect();
    feeds.insert(300, ("kept", "https://k/rss"));
    feeds.push(("renamed", "https://new/rss"));
    let rows = store.register_many(&feeds).await.unwrap();
    assert_eq!(rows.len(), feeds.len());
    assert_eq!(rows[300], kept, "a stored row comes back as stored");
    assert_eq!(rows[0].url, "https://h0/rss");
    assert_eq!(rows[feeds.len() - 2].url, urls[n - 1]);
    let renamed = &rows[feeds.len() - 1];
    assert_eq!(renamed.url, "https://new/rss");
    assert_eq!(renamed.configured_url, "https://new/rss");
    // Written: a second registration reads them back (and the states list has them all).
    let again = store.register_many(&feeds).await.unwrap();
    assert_eq!(again, rows);
    assert_eq!(store.feed_states().await.unwrap().len(), n + 2);
    assert!(store.register_many(&[]).await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn many_feeds_register_in_one_batch_on_sqlite() {
    many_feeds_register_in_one_batch_like_one_by_one(None).await;
}

#[tokio::test]
async fn many_feeds_register_in_one_batch_on_postgres() {
    if let Some(url) = fresh_state_url().await {
        many_feeds_register_in_one_batch_like_one_by_one(Some(&url)).await;
    }
}

/// Fetchers starting at the same moment create the tables once, without tripping over each
/// other.
#[tokio::test]
async fn concurrent_opens_create_the_schema_once() {
    let Some(url) = fresh_state_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let opens = (0..6).map(|_| Store::open_at(dir.path(), Some(&url)));
    let stores = futures::future::join_all(opens).await;
    for s in &stores {
        assert!(s.is_ok(), "{:?}", s.as_ref().err());
    }
    let first = stores[0].as_ref().unwrap();
    assert_eq!(first.registry_signature().await.unwrap(), 0);
    for s in stores.into_iter().flatten() {
        s.close().await;
    }
}

/// Serves `/f/{n}`: one RSS item per feed, ETag'd; counts requests per feed.
async fn feed(
    State(hits): State<Arc<Mutex<HashMap<String, usize>>>>,
    UrlPath(n): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    *hits.lock().unwrap().entry(n.clone()).or_default() += 1;
    let etag = format!("\"{n}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let body = format!(
        "<rss version=\"2.0\"><channel><title>Feed {n}</title><item><guid>story-{n}</guid>\
         <title>Story of feed {n}</title><pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item>\
         </channel></rss>"
    );
    (
        [
            (header::CONTENT_TYPE, "application/rss+xml".to_string()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// Two shards with separate data directories and one PostgreSQL state: a feed added to the
/// registry (as `wirewatch feeds add` on a third machine does) is polled by exactly one of
/// them, each story is published once, and the health of every feed is visible from anywhere.
#[tokio::test]
async fn shards_on_separate_machines_share_the_registry() {
    let Some(url) = fresh_state_url().await else {
        return;
    };
    let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let app = Router::new()
        .route("/f/{n}", get(feed))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The operator's machine: only the shared state.
    let admin_dir = tempfile::tempdir().unwrap();
    let admin = Store::open_at(admin_dir.path(), Some(&url)).await.unwrap();
    const FEEDS: usize = 12;
    for n in 0..FEEDS {
        let spec = FeedSpec {
            id: format!("feed-{n}"),
            url: format!("http://{addr}/f/{n}"),
            interval_secs: Some(1),
            title: None,
            category: None,
        };
        assert!(admin.registry_add(&spec).await.unwrap());
    }

    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw]);
    let stop = CancellationToken::new();
    let mut shards = vec![];
    let mut cfgs = vec![];
    let mut dirs = vec![];
    for i in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let feeds_file = dir.path().join("feeds.toml");
        std::fs::write(&feeds_file, "").unwrap();
        let cfg = FetcherConfig {
            feeds_file,
            shard: format!("{i}/2"),
            state_url: Some(url.clone()),
            interval_secs: 1,
            adaptive_interval: false,
            allow_private_addresses: true,
            host_min_spacing_ms: 0,
            max_concurrent_per_host: 8,
            ..FetcherConfig::default()
        };
        let data_dir = dir.path().join("data");
        let publisher = Arc::new(bus.publisher("fetcher"));
        let (c, s) = (cfg.clone(), stop.clone());
        shards.push(tokio::spawn(async move {
            let opts = LoopOptions {
                retry_initial: Duration::from_millis(10),
                retry_max: Duration::from_millis(100),
                max_in_flight: 16,
            };
            run(c, &data_dir, publisher, opts, s).await
        }));
        cfgs.push(cfg);
        dirs.push(dir);
    }

    let never = CancellationToken::new();
    let mut published: HashMap<String, usize> = HashMap::new();
    while published.len() < FEEDS {
        let d = tokio::time::timeout(Duration::from_secs(20), sub.next(&never))
            .await
            .expect("every feed's story in time")
            .unwrap()
            .unwrap();
        let story: RawStory = d.decode().unwrap();
        *published.entry(story.feed.id).or_default() += 1;
    }
    // Every feed polled again (a 304) by its shard: still one story each.
    let polled_twice = |hits: &HashMap<String, usize>| {
        (0..FEEDS).all(|n| hits.get(&n.to_string()).copied().unwrap_or(0) >= 2)
    };
    for _ in 0..500 {
        if polled_twice(&hits.lock().unwrap()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(polled_twice(&hits.lock().unwrap()), "{:?}", hits.lock());
    stop.cancel();
    for s in shards {
        s.await.unwrap().unwrap();
    }
    let stop_now = CancellationToken::new();
    stop_now.cancel();
    while let Some(d) = sub.next(&stop_now).await.unwrap() {
        let story: RawStory = d.decode().unwrap();
        *published.entry(story.feed.id).or_default() += 1;
    }
    assert_eq!(published.len(), FEEDS);
    assert!(
        published.values().all(|&n| n == 1),
        "a story published twice: {published:?}"
    );
    // Each shard owns some feeds, and nothing of either shard was kept on its own disk.
    let owned: Vec<usize> = cfgs
        .iter()
        .map(|c| (0..FEEDS).filter(|n| c.owns(&format!("feed-{n}"))).count())
        .collect();
    assert_eq!(owned.iter().sum::<usize>(), FEEDS);
    assert!(owned.iter().all(|&n| n > 0), "{owned:?}");
    for d in &dirs {
        assert!(!d.path().join("data").join("fetcher.db").exists());
    }
    // The operator sees every feed's health and last success.
    let states = admin.feed_states().await.unwrap();
    assert_eq!(states.len(), FEEDS);
    assert!(states.iter().all(|s| s.status == "healthy"), "{states:?}");
    admin.close().await;
}
