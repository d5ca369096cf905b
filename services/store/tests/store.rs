//! The store test suite, run against both back-ends: a real SQLite file in a temporary
//! directory, and a real PostgreSQL server (a fresh database per test) whose URL is in
//! `WIREWATCH_TEST_POSTGRES` (`scripts/postgres.sh start` prints one). Without it the
//! PostgreSQL variants print SKIPPED and pass, unless `CI` is set, where they fail.
//!
//! Covered: idempotent upserts, the full-text index, search filters and operators, cursors,
//! the HTTP API (through `tower::ServiceExt::oneshot`), the sink (single and batched),
//! retention, and the CLI functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;
use tower::ServiceExt;
use wirewatch_proto::v1::{
    Alert, DeadLetter, DedupRule, DuplicateLink, EnrichedStory, FeedHealth, FeedRef, FeedStatus,
    RawStory, TopicMatch,
};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::Delivery;
use wirewatch_runtime::stage::{ProcessError, Processor};
use wirewatch_store::{
    api_router, BackendKind, SearchQuery, Sort, Store, StoreConfig, StoreSink, STORE_TOPICS,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn raw(id: &str, title: &str, published: Option<DateTime<Utc>>) -> RawStory {
    RawStory {
        id: id.into(),
        feed: FeedRef {
            id: "feed-1".into(),
            url: "https://example.org/feed.xml".into(),
            title: Some("Example".into()),
        },
        guid: Some(format!("guid-{id}")),
        link: Some(format!("https://example.org/{id}")),
        title: title.into(),
        summary: Some(format!("summary of {title}")),
        content: None,
        authors: vec![],
        categories: vec![],
        language: Some("en".into()),
        published,
        updated: None,
        fetched_at: t0(),
        fetcher_version: "test".into(),
        published_is_fetch_time: false,
    }
}

fn topic(id: &str) -> TopicMatch {
    TopicMatch {
        id: id.into(),
        label: id.into(),
        score: 0.8,
        iptc: "medtop:11000000".into(),
        iptc_top: "medtop:11000000".into(),
        evidence: vec![],
    }
}

fn story(
    id: &str,
    title: &str,
    published: Option<DateTime<Utc>>,
    topics: &[&str],
    countries: &[&str],
) -> EnrichedStory {
    EnrichedStory {
        story: raw(id, title, published),
        cluster_id: id.into(),
        topics: topics.iter().map(|t| topic(t)).collect(),
        countries: countries.iter().map(|c| c.to_string()).collect(),
        entities: vec![],
        detected_language: Some("en".into()),
        language_confidence: None,
        regions: vec![],
        severity: None,
        classified_at: t0(),
        classifier_version: "test".into(),
    }
}

fn link(dup_id: &str, original: &str) -> DuplicateLink {
    DuplicateLink {
        id: wirewatch_proto::stable_id(&[dup_id, original]),
        story: raw(dup_id, "a copy", Some(t0())),
        duplicate_of: original.into(),
        cluster_id: original.into(),
        rule: DedupRule::CanonicalUrl,
        score: 1.0,
        deduped_at: t0(),
        dedup_version: "test".into(),
    }
}

fn alert(story_id: &str) -> Alert {
    Alert {
        id: Alert::make_id("sub-1", story_id),
        subscription_id: "sub-1".into(),
        query: "istanbul".into(),
        story_id: story_id.into(),
        cluster_id: story_id.into(),
        title: "t".into(),
        link: None,
        feed: FeedRef {
            id: "feed-1".into(),
            url: "https://example.org/feed.xml".into(),
            title: None,
        },
        topics: vec![],
        countries: vec![],
        published: None,
        delivered_at: t0(),
        channels: vec!["file".into()],
        alerter_version: "test".into(),
        kind: Default::default(),
        sources: None,
        items: vec![],
        fetched_at: None,
    }
}

/// Which back-end a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// A store under test and what keeps it alive (the SQLite temp dir).
struct Db {
    store: Store,
    cfg: StoreConfig,
    dir: tempfile::TempDir,
}

async fn open_with(kind: Kind, cfg: StoreConfig) -> Option<Db> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = match kind {
        Kind::Sqlite => cfg,
        Kind::Postgres => StoreConfig {
            url: Some(wirewatch_store::testing::fresh_postgres_url("PostgreSQL store test").await?),
            ..cfg
        },
    };
    let store = Store::open(&cfg, dir.path()).await.unwrap();
    Some(Db { store, cfg, dir })
}

async fn open(kind: Kind) -> Option<Db> {
    open_with(kind, StoreConfig::default()).await
}

/// Run an async test body once per back-end: `both!(name);` makes `name::sqlite` and
/// `name::postgres` from `async fn name(kind: Kind)`.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Kind::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Kind::Postgres).await
            }
        }
    };
}

/// Stories whose indexed text matches one word.
async fn fts_hits(store: &Store, term: &str) -> i64 {
    match store.kind() {
        BackendKind::Sqlite => {
            sqlx::query_scalar("SELECT count(*) FROM stories_fts WHERE stories_fts MATCH ?")
                .bind(term)
                .fetch_one(store.sqlite_pool().unwrap())
                .await
                .unwrap()
        }
        BackendKind::Postgres => {
            sqlx::query_scalar("SELECT count(*) FROM stories WHERE tsv @@ to_tsquery('simple', $1)")
                .bind(term)
                .fetch_one(store.pg_pool().unwrap())
                .await
                .unwrap()
        }
    }
}

/// On SQLite, the FTS index agrees with the table; on PostgreSQL the tsvector is a generated
/// column and cannot disagree.
async fn fts_integrity(store: &Store) {
    if let Some(p) = store.sqlite_pool() {
        sqlx::query("INSERT INTO stories_fts (stories_fts, rank) VALUES ('integrity-check', 1)")
            .execute(p)
            .await
            .expect("fts index matches the stories table");
    }
}

/// A single text value from SQL valid on both back-ends.
async fn text_scalar(store: &Store, sql: &str) -> String {
    match store.kind() {
        BackendKind::Sqlite => sqlx::query_scalar(sql)
            .fetch_one(store.sqlite_pool().unwrap())
            .await
            .unwrap(),
        BackendKind::Postgres => sqlx::query_scalar(sql)
            .fetch_one(store.pg_pool().unwrap())
            .await
            .unwrap(),
    }
}

/// A count from SQL valid on both back-ends.
async fn count_scalar(store: &Store, sql: &str) -> i64 {
    match store.kind() {
        BackendKind::Sqlite => sqlx::query_scalar(sql)
            .fetch_one(store.sqlite_pool().unwrap())
            .await
            .unwrap(),
        BackendKind::Postgres => sqlx::query_scalar(sql)
            .fetch_one(store.pg_pool().unwrap())
            .await
            .unwrap(),
    }
}

fn ids(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn get(store: &Store, uri: &str) -> (StatusCode, Value) {
    let resp = api_router(store.clone())
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

fn delivery(topic: Topic, payload: Vec<u8>) -> Delivery {
    Delivery {
        topic,
        topic_name: topic.name("test"),
        partition: Some(0),
        offset: Some(7),
        key: None,
        payload,
        headers: vec![],
    }
}

fn health(id: &str, feed: &str, status: FeedStatus, at: DateTime<Utc>) -> FeedHealth {
    FeedHealth {
        id: id.into(),
        feed: FeedRef {
            id: feed.into(),
            url: format!("https://example.org/{feed}.xml"),
            title: None,
        },
        status,
        previous: None,
        error_kind: None,
        error: None,
        http_status: None,
        consecutive_failures: 0,
        observed_at: at,
    }
}

// ---------------------------------------------------------------------------------------
// SQLite-only behaviour.

#[tokio::test]
async fn sqlite_opens_with_pragmas_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(store.kind(), BackendKind::Sqlite);
    assert_eq!(store.path(), dir.path().join("store.db"));
    let pool = store.sqlite_pool().unwrap();
    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(page, 16_384);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    store
        .upsert_story(&story("s1", "Talks", Some(t0()), &[], &[]))
        .await
        .unwrap();
    store.close().await;
    // Reopening applies no migration twice and keeps the data.
    let store = Store::open(&StoreConfig::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(store.stats().await.unwrap().stories, 1);
    let ready = store.ready_check();
    assert_eq!(ready.name(), "store");
    ready.ready().await.unwrap();
}

#[tokio::test]
async fn bad_config_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in [
        StoreConfig {
            max_connections: 0,
            ..StoreConfig::default()
        },
        StoreConfig {
            batch_max_rows: 0,
            ..StoreConfig::default()
        },
        StoreConfig {
            url: Some("mysql://u:secret@h/db".into()),
            ..StoreConfig::default()
        },
    ] {
        let e = Store::open(&cfg, dir.path()).await.unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }
    // A file that is not a database.
    let path = dir.path().join("junk.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let cfg = StoreConfig {
        path: Some(path),
        ..StoreConfig::default()
    };
    let e = Store::open(&cfg, dir.path()).await.unwrap_err();
    assert!(!e.retryable(), "{e}");
}

#[tokio::test]
async fn unreachable_postgres_is_retryable_and_redacted() {
    // A port nothing listens on: bind one and drop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = StoreConfig {
        url: Some(format!("postgres://u:secret@127.0.0.1:{port}/db")),
        acquire_timeout_ms: 2_000,
        ..StoreConfig::default()
    };
    let e = Store::open(&cfg, std::path::Path::new("/nonexistent"))
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
}

#[tokio::test]
async fn sqlite_busy_database_is_retryable() {
    use sqlx::Connection;

    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        busy_timeout_ms: 50,
        ..StoreConfig::default()
    };
    let store = Store::open(&cfg, dir.path()).await.unwrap();
    // Another writer holds the write lock.
    let url = format!("sqlite://{}", store.path().display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    let s = story("s1", "Istanbul talks", Some(t0()), &[], &[]);
    let e = store.upsert_story(&s).await.unwrap_err();
    assert!(e.retryable(), "{e}");
    let mut sink = StoreSink::new(store.clone());
    let r = sink
        .process(&delivery(
            Topic::StoriesEnriched,
            serde_json::to_vec(&s).unwrap(),
        ))
        .await;
    assert!(matches!(r, Err(ProcessError::Retryable(_))), "{r:?}");
    let r = sink
        .process_batch(&[delivery(
            Topic::StoriesEnriched,
            serde_json::to_vec(&s).unwrap(),
        )])
        .await;
    assert!(matches!(r[0], Err(ProcessError::Retryable(_))), "{r:?}");
    // Reads still work in WAL mode.
    assert_eq!(store.stats().await.unwrap().stories, 0);

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    sink.process(&delivery(
        Topic::StoriesEnriched,
        serde_json::to_vec(&s).unwrap(),
    ))
    .await
    .unwrap();
    assert_eq!(store.stats().await.unwrap().stories, 1);
}

// ---------------------------------------------------------------------------------------
// The shared suite.

both!(reopens_and_answers_ready);
async fn reopens_and_answers_ready(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    assert_eq!(
        db.store.kind(),
        match kind {
            Kind::Sqlite => BackendKind::Sqlite,
            Kind::Postgres => BackendKind::Postgres,
        }
    );
    db.store
        .upsert_story(&story("s1", "Talks", Some(t0()), &[], &[]))
        .await
        .unwrap();
    db.store.close().await;
    let store = Store::open(&db.cfg, db.dir.path()).await.unwrap();
    assert_eq!(store.stats().await.unwrap().stories, 1);
    store.ready_check().ready().await.unwrap();
}

both!(upsert_twice_gives_one_row_and_one_fts_hit);
async fn upsert_twice_gives_one_row_and_one_fts_hit(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let s = story(
        "s1",
        "Ceasefire talks in Istanbul",
        Some(t0()),
        &["diplomacy"],
        &["TR", "UA"],
    );
    store.upsert_story(&s).await.unwrap();
    let stored_at = text_scalar(store, "SELECT stored_at FROM stories WHERE id = 's1'").await;
    store.upsert_story(&s).await.unwrap();
    assert_eq!(store.stats().await.unwrap().stories, 1);
    assert_eq!(fts_hits(store, "istanbul").await, 1);
    let again = text_scalar(store, "SELECT stored_at FROM stories WHERE id = 's1'").await;
    assert_eq!(stored_at, again, "a redelivery changes nothing");
    let q = SearchQuery {
        text: Some("istanbul".into()),
        ..SearchQuery::default()
    };
    assert_eq!(ids(&store.search(&q).await.unwrap()), ["s1"]);
    assert_eq!(
        count_scalar(store, "SELECT count(*) FROM story_topics").await,
        1
    );

    // A newer classification with another title replaces the indexed text.
    let mut s2 = s.clone();
    s2.story.title = "Ceasefire talks in Geneva".into();
    s2.story.summary = None;
    s2.countries = vec!["CH".into()];
    s2.classified_at = t0() + TimeDelta::minutes(5);
    store.upsert_story(&s2).await.unwrap();
    assert_eq!(fts_hits(store, "istanbul").await, 0);
    assert_eq!(fts_hits(store, "geneva").await, 1);
    assert_eq!(fts_hits(store, "ceasefire").await, 1);
    fts_integrity(store).await;
    let q = SearchQuery {
        country: Some("UA".into()),
        ..SearchQuery::default()
    };
    assert!(
        store.search(&q).await.unwrap().is_empty(),
        "side table rewritten"
    );

    // An older classification arriving late does not undo the newer one.
    store.upsert_story(&s).await.unwrap();
    assert_eq!(fts_hits(store, "geneva").await, 1);
    assert_eq!(fts_hits(store, "istanbul").await, 0);
    fts_integrity(store).await;
    assert_eq!(store.stats().await.unwrap().stories, 1);
}

both!(batched_upserts_are_idempotent);
async fn batched_upserts_are_idempotent(kind: Kind) {
    let cfg = StoreConfig {
        batch_max_rows: 7,
        ..StoreConfig::default()
    };
    let Some(db) = open_with(kind, cfg).await else {
        return;
    };
    let store = &db.store;
    let batch: Vec<EnrichedStory> = (0..40)
        .map(|i| {
            story(
                &format!("b{i:03}"),
                &format!("Story number {i} about Istanbul"),
                Some(t0() + TimeDelta::minutes(i)),
                &["diplomacy"],
                &["TR"],
            )
        })
        .collect();
    let o = store.upsert_stories(&batch).await.unwrap();
    assert_eq!((o.inserted, o.updated, o.unchanged), (40, 0, 0));
    let o = store.upsert_stories(&batch).await.unwrap();
    assert_eq!((o.inserted, o.updated, o.unchanged), (0, 0, 40));
    assert_eq!(store.stats().await.unwrap().stories, 40);
    assert_eq!(fts_hits(store, "istanbul").await, 40);
    assert_eq!(
        count_scalar(store, "SELECT count(*) FROM story_countries").await,
        40
    );

    // The same story twice in one batch: the newer classification wins, whatever the order.
    let mut v2 = batch[5].clone();
    v2.story.title = "Revised headline".into();
    v2.classified_at = t0() + TimeDelta::hours(2);
    let o = store
        .upsert_stories(&[v2.clone(), batch[5].clone(), v2.clone()])
        .await
        .unwrap();
    assert_eq!((o.inserted, o.updated, o.unchanged), (0, 1, 2));
    assert_eq!(fts_hits(store, "revised").await, 1);
    assert_eq!(store.stats().await.unwrap().stories, 40);
    assert_eq!(
        count_scalar(store, "SELECT count(*) FROM story_topics").await,
        40
    );

    // An invalid story fails the whole call before anything is written.
    let mut bad = batch.clone();
    bad.push(story("", "no id", None, &[], &[]));
    bad[0].story.title = "changed".into();
    bad[0].classified_at = t0() + TimeDelta::hours(1);
    assert!(!store.upsert_stories(&bad).await.unwrap_err().retryable());
    assert_eq!(fts_hits(store, "changed").await, 0);

    // The sink's batch path isolates the poison message and writes the rest.
    let mut sink = StoreSink::new(store.clone());
    let msgs = vec![
        delivery(
            Topic::StoriesEnriched,
            serde_json::to_vec(&story("n1", "New one", Some(t0()), &[], &[])).unwrap(),
        ),
        delivery(Topic::StoriesEnriched, b"{broken".to_vec()),
        delivery(
            Topic::StoriesEnriched,
            serde_json::to_vec(&story("", "empty id", Some(t0()), &[], &[])).unwrap(),
        ),
        delivery(
            Topic::StoriesLinks,
            serde_json::to_vec(&link("copy", "n1")).unwrap(),
        ),
        delivery(
            Topic::StoriesEnriched,
            serde_json::to_vec(&batch[3]).unwrap(),
        ),
    ];
    for round in 0..2 {
        let r = sink.process_batch(&msgs).await;
        assert_eq!(r.len(), 5);
        assert!(r[0].as_ref().unwrap().is_empty(), "round {round}");
        assert!(matches!(r[1], Err(ProcessError::Poison(_))), "{r:?}");
        assert!(matches!(r[2], Err(ProcessError::Poison(_))), "{r:?}");
        assert!(r[3].is_ok() && r[4].is_ok(), "{r:?}");
    }
    let st = store.stats().await.unwrap();
    assert_eq!((st.stories, st.duplicates), (41, 1));
}

both!(search_filters_and_orders);
async fn search_filters_and_orders(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let now = Utc::now();
    let mut stories = [
        story(
            "old",
            "Istanbul talks stall",
            Some(now - TimeDelta::days(10)),
            &["diplomacy"],
            &["TR"],
        ),
        story(
            "mid",
            "Shelling near Kharkiv",
            Some(now - TimeDelta::hours(30)),
            &["conflict"],
            &["UA"],
        ),
        story(
            "new",
            "Talks resume in Istanbul",
            Some(now - TimeDelta::hours(1)),
            &["diplomacy"],
            &["TR", "UA"],
        ),
        // No date: sorted by fetch time (t0, long ago).
        story("undated", "Istanbul weather", None, &["weather"], &["TR"]),
    ];
    stories[1].severity = Some(4);
    stories[1].story.feed.id = "feed-2".into();
    stories[1].detected_language = Some("uk".into());
    stories[2].severity = Some(2);
    stories[2].entities = vec![wirewatch_proto::v1::Entity {
        kind: wirewatch_proto::v1::EntityKind::Organisation,
        id: "nato".into(),
        name: "NATO".into(),
        mentions: 2,
        matched: vec![],
        salience: Some(0.5),
    }];
    for s in &stories {
        store.upsert_story(s).await.unwrap();
    }
    let search = |q: SearchQuery| {
        let store = store.clone();
        async move { ids(&store.search(&q).await.unwrap()) }
    };
    let text = |t: &str| SearchQuery {
        text: Some(t.into()),
        ..Default::default()
    };
    assert_eq!(
        search(SearchQuery::default()).await,
        ["new", "mid", "old", "undated"]
    );
    assert_eq!(search(text("istanbul")).await, ["new", "old", "undated"]);
    assert_eq!(search(text("talks istanbul")).await, ["new", "old"]);
    assert_eq!(search(text("khar*")).await, ["mid"]);
    // Operators: phrase, OR, NOT.
    assert_eq!(search(text("\"talks resume\"")).await, ["new"]);
    assert_eq!(search(text("\"resume talks\"")).await, Vec::<String>::new());
    assert_eq!(search(text("kharkiv OR weather")).await, ["mid", "undated"]);
    assert_eq!(search(text("istanbul -talks")).await, ["undated"]);
    assert_eq!(search(text("istanbul NOT weather")).await, ["new", "old"]);
    assert_eq!(
        search(SearchQuery {
            topic: Some("diplomacy".into()),
            ..Default::default()
        })
        .await,
        ["new", "old"]
    );
    assert_eq!(
        search(SearchQuery {
            country: Some("ua".into()),
            ..Default::default()
        })
        .await,
        ["new", "mid"]
    );
    assert_eq!(
        search(SearchQuery {
            entity: Some("nato".into()),
            ..Default::default()
        })
        .await,
        ["new"]
    );
    assert_eq!(
        search(SearchQuery {
            source: Some("feed-2".into()),
            ..Default::default()
        })
        .await,
        ["mid"]
    );
    assert_eq!(
        search(SearchQuery {
            language: Some("uk".into()),
            ..Default::default()
        })
        .await,
        ["mid"]
    );
    assert_eq!(
        search(SearchQuery {
            min_severity: Some(2),
            ..Default::default()
        })
        .await,
        ["new", "mid"]
    );
    assert_eq!(
        search(SearchQuery {
            since: Some(now - TimeDelta::days(2)),
            ..Default::default()
        })
        .await,
        ["new", "mid"]
    );
    assert_eq!(
        search(SearchQuery {
            until: Some(now - TimeDelta::days(2)),
            ..Default::default()
        })
        .await,
        ["old", "undated"]
    );
    assert_eq!(
        search(SearchQuery {
            text: Some("istanbul".into()),
            country: Some("TR".into()),
            topic: Some("diplomacy".into()),
            since: Some(now - TimeDelta::days(2)),
            ..Default::default()
        })
        .await,
        ["new"]
    );
    assert_eq!(
        search(SearchQuery {
            limit: 2,
            ..Default::default()
        })
        .await,
        ["new", "mid"]
    );
    assert_eq!(
        search(SearchQuery {
            limit: 2,
            offset: 2,
            ..Default::default()
        })
        .await,
        ["old", "undated"]
    );
    let q = SearchQuery {
        topic: Some("diplomacy".into()),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(store.count(&q).await.unwrap(), 2);

    // The same through the API, with relative `since`.
    let (code, body) = get(store, "/api/stories?q=istanbul&since=48h&limit=10").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ids(body["stories"].as_array().unwrap()), ["new"]);
    assert_eq!(body["total"], 1);
    assert_eq!(body["next_cursor"], Value::Null);
    let (code, body) = get(store, "/api/stories?country=TR&offset=1&limit=1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ids(body["stories"].as_array().unwrap()), ["old"]);
    assert_eq!(body["total"], 3);
    assert_eq!(
        body["stories"][0]["topics"][0]["id"], "diplomacy",
        "the whole event"
    );
    let (code, body) = get(
        store,
        "/api/stories?entity=nato&severity=1&language=en&source=feed-1",
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(ids(body["stories"].as_array().unwrap()), ["new"]);
}

both!(relevance_ranks_title_matches_first);
async fn relevance_ranks_title_matches_first(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let mut body_only = story("body", "Weather report", Some(t0()), &[], &[]);
    body_only.story.summary = Some("Later, in Istanbul, the sun shone over the Bosphorus.".into());
    let mut title = story(
        "title",
        "Istanbul hosts talks",
        Some(t0() - TimeDelta::days(1)),
        &[],
        &[],
    );
    title.story.summary = Some("Delegations met.".into());
    store.upsert_story(&body_only).await.unwrap();
    store.upsert_story(&title).await.unwrap();
    let q = SearchQuery {
        text: Some("istanbul".into()),
        ..Default::default()
    };
    assert_eq!(ids(&store.search(&q).await.unwrap()), ["body", "title"]);
    let q = SearchQuery {
        sort: Sort::Relevance,
        ..q
    };
    assert_eq!(ids(&store.search(&q).await.unwrap()), ["title", "body"]);
    let (code, body) = get(store, "/api/stories?q=istanbul&sort=relevance").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ids(body["stories"].as_array().unwrap()), ["title", "body"]);
    assert_eq!(body["sort"], "relevance");
    let (code, body) = get(store, "/api/stories?sort=relevance").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(body["parameter"], "sort");
}

both!(cursor_pages_walk_everything_once);
async fn cursor_pages_walk_everything_once(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    // Equal times on purpose: the cursor's tie-breaker must keep pages disjoint.
    let batch: Vec<EnrichedStory> = (0..23)
        .map(|i| {
            story(
                &format!("p{i:02}"),
                "Istanbul talks",
                Some(t0() + TimeDelta::hours(i / 5)),
                &[],
                &[],
            )
        })
        .collect();
    store.upsert_stories(&batch).await.unwrap();
    for base in [
        "/api/stories?limit=5",
        "/api/stories?limit=5&q=istanbul",
        "/api/stories?limit=4&q=talks&sort=relevance",
    ] {
        let mut seen: Vec<String> = Vec::new();
        let mut uri = base.to_string();
        for _ in 0..20 {
            let (code, body) = get(store, &uri).await;
            assert_eq!(code, StatusCode::OK, "{uri}: {body}");
            assert_eq!(body["total"], 23);
            seen.extend(ids(body["stories"].as_array().unwrap()));
            match body["next_cursor"].as_str() {
                Some(c) => uri = format!("{base}&cursor={c}"),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(seen.len(), 23, "{base}: {seen:?}");
        assert_eq!(unique.len(), 23, "{base}: no story twice");
        if !base.contains("relevance") {
            let all = ids(&store
                .search(&SearchQuery {
                    limit: 500,
                    ..Default::default()
                })
                .await
                .unwrap());
            assert_eq!(seen, all, "{base}: same order as one big page");
        }
    }
    let (code, body) = get(store, "/api/stories?cursor=nothex").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_parameter");
    assert_eq!(body["parameter"], "cursor");
}

both!(newest_first_text_search_is_exact);
/// Newest-first full-text search walks SQLite's index in (minute, seq) order and completes
/// the last minute exactly: stories stored out of time order, many in one minute, equal
/// `published` times, times before 2000 and after 2127 (clamped buckets), undated ones; every
/// way of paging must give exactly the order of sorting the matches in Rust.
async fn newest_first_text_search_is_exact(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let far = |y: i32| Utc.with_ymd_and_hms(y, 3, 1, 0, 0, 0).unwrap();
    let mut all: Vec<EnrichedStory> = (0..260)
        .map(|i| {
            let published = match i {
                0..=2 => Some(far(1970) + TimeDelta::seconds(i)),
                3..=5 => Some(far(1999)),
                6..=8 => Some(far(2150) + TimeDelta::days(i)),
                9..=11 => None,
                // Many in one minute, some at the very same microsecond.
                12..=129 => Some(t0() + TimeDelta::seconds(i % 50)),
                _ => Some(t0() + TimeDelta::seconds(rand(600) as i64 - 300)),
            };
            let title = if i % 2 == 0 {
                format!("Istanbul talks {i}")
            } else {
                format!("Istanbul summit {i}")
            };
            let countries: &[&str] = match i % 3 {
                0 => &["TR"],
                1 => &["UA", "TR"],
                _ => &[],
            };
            let mut s = story(&format!("x{i:03}"), &title, published, &[], countries);
            s.story.fetched_at = t0() + TimeDelta::microseconds(i);
            s
        })
        .collect();
    // Store in a shuffled order, in batches of uneven size, so seq order is not time order.
    for i in (1..all.len()).rev() {
        all.swap(i, rand(i as u64 + 1) as usize);
    }
    let mut rest = &all[..];
    while !rest.is_empty() {
        let n = (1 + rand(40) as usize).min(rest.len());
        store.upsert_stories(&rest[..n]).await.unwrap();
        rest = &rest[n..];
    }
    fts_integrity(store).await;
    let key = |s: &EnrichedStory| {
        (
            s.story.published.unwrap_or(s.story.fetched_at),
            s.story.fetched_at,
        )
    };
    let minute_start = t0();
    type Keep = Box<dyn Fn(&EnrichedStory) -> bool>;
    let cases: Vec<(SearchQuery, Keep)> = vec![
        (
            SearchQuery {
                text: Some("istanbul".into()),
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        (
            SearchQuery {
                text: Some("\"istanbul talks\"".into()),
                country: Some("tr".into()),
                ..Default::default()
            },
            Box::new(|s| s.story.title.contains("talks") && s.countries.contains(&"TR".into())),
        ),
        (
            SearchQuery {
                text: Some("istanbul -talks".into()),
                country: Some("UA".into()),
                ..Default::default()
            },
            Box::new(|s| !s.story.title.contains("talks") && s.countries.contains(&"UA".into())),
        ),
        (
            SearchQuery {
                text: Some("istanbul".into()),
                since: Some(minute_start + TimeDelta::seconds(10)),
                until: Some(minute_start + TimeDelta::seconds(40)),
                ..Default::default()
            },
            Box::new(move |s| {
                let t = key(s).0;
                t >= minute_start + TimeDelta::seconds(10)
                    && t < minute_start + TimeDelta::seconds(40)
            }),
        ),
    ];
    for (q, keep) in &cases {
        let mut want: Vec<&EnrichedStory> = all.iter().filter(|s| keep(s)).collect();
        want.sort_by_key(|s| std::cmp::Reverse(key(s)));
        let want: Vec<String> = want.iter().map(|s| s.story.id.clone()).collect();
        assert!(want.len() > 10, "{q:?} matches enough to page");
        assert_eq!(store.count(q).await.unwrap(), want.len() as u64, "{q:?}");
        let big = SearchQuery {
            limit: 500,
            ..q.clone()
        };
        assert_eq!(
            ids(&store.search(&big).await.unwrap()),
            want,
            "{q:?} one page"
        );
        for limit in [1, 7, 50] {
            let mut by_cursor = Vec::new();
            let mut page_q = SearchQuery { limit, ..q.clone() };
            loop {
                let page = store.search_page(&page_q).await.unwrap();
                by_cursor.extend(ids(&page.stories));
                match page.next_cursor {
                    Some(c) => page_q.after = Some(c),
                    None => break,
                }
                assert!(by_cursor.len() <= want.len(), "{q:?} pages end");
            }
            assert_eq!(by_cursor, want, "{q:?} by cursor, limit {limit}");
            let mut by_offset = Vec::new();
            for offset in (0..want.len() as u32).step_by(limit as usize) {
                let page_q = SearchQuery {
                    limit,
                    offset,
                    ..q.clone()
                };
                by_offset.extend(ids(&store.search(&page_q).await.unwrap()));
            }
            assert_eq!(by_offset, want, "{q:?} by offset, limit {limit}");
        }
    }
}

both!(country_codes_are_filters_not_words);
/// SQLite's full-text index carries each story's countries (the `tags` column) for the
/// country filter; a user's word never matches them, and the filter stays exact, also after a
/// story moves to another country. PostgreSQL must answer the same.
async fn country_codes_are_filters_not_words(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let batch = vec![
        story("c1", "Talks resume", Some(t0()), &[], &["UA"]),
        story("c2", "Talks in UA region", Some(t0()), &[], &["TR"]),
        story("c3", "Talks stall", Some(t0()), &[], &[]),
    ];
    store.upsert_stories(&batch).await.unwrap();
    let q = |text: &str, country: Option<&str>, sort: Sort| SearchQuery {
        text: Some(text.into()),
        country: country.map(Into::into),
        sort,
        ..Default::default()
    };
    for sort in [Sort::Time, Sort::Relevance] {
        // "ua" the word is only in c2's title, not the country of c1.
        assert_eq!(
            ids(&store.search(&q("ua", None, sort)).await.unwrap()),
            ["c2"]
        );
        assert_eq!(
            ids(&store.search(&q("ua*", None, sort)).await.unwrap()),
            ["c2"]
        );
        let with_ua = q("talks", Some("UA"), sort);
        assert_eq!(ids(&store.search(&with_ua).await.unwrap()), ["c1"]);
        assert_eq!(store.count(&with_ua).await.unwrap(), 1);
        let none = q("talks -resume", Some("ua"), sort);
        assert!(store.search(&none).await.unwrap().is_empty());
        assert_eq!(store.count(&none).await.unwrap(), 0);
    }
    // A re-classified story moves between countries in the index too.
    let mut moved = batch[0].clone();
    moved.countries = vec!["TR".into()];
    moved.classified_at = t0() + TimeDelta::hours(1);
    store.upsert_story(&moved).await.unwrap();
    let tr = q("talks", Some("TR"), Sort::Time);
    let mut got = ids(&store.search(&tr).await.unwrap());
    got.sort();
    assert_eq!(got, ["c1", "c2"]);
    assert_eq!(
        store
            .count(&q("talks", Some("UA"), Sort::Time))
            .await
            .unwrap(),
        0
    );
    fts_integrity(store).await;
}

both!(hostile_queries_never_give_500);
async fn hostile_queries_never_give_500(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    store
        .upsert_story(&story("s1", "Talks AND more talks", Some(t0()), &[], &[]))
        .await
        .unwrap();
    for q in [
        "\"",
        "AND(",
        "*",
        "AND",
        "OR",
        "NOT",
        "NEAR(a b",
        "title:talks",
        "^talks",
        "-talks",
        "talks\"*",
        "(((",
        ")",
        "\"\"\"",
        "a\u{0}b",
        "{title summary}: x",
        "talks +",
        "'; DROP TABLE stories; --",
        "ta*lks",
        "\u{1F600}",
        "   ",
        "talks & !more | (x",
        "o'brien's \\ talks:*",
        "a OR OR b",
        "NOT NOT talks",
        "-\"talks\" talks",
        "talks <-> more",
    ] {
        let (code, body) = get(store, &format!("/api/stories?q={}", enc(q))).await;
        assert!(
            code == StatusCode::OK || code == StatusCode::BAD_REQUEST,
            "q={q:?} gave {code}: {body}"
        );
        if code == StatusCode::BAD_REQUEST {
            assert_eq!(body["parameter"], "q");
        }
    }
    for q in ["*", "\"", "( - )"] {
        let (code, body) = get(store, &format!("/api/stories?q={}", enc(q))).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "q={q:?}: {body}");
    }
    let (code, body) = get(store, &format!("/api/stories?q={}", enc("AND("))).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        ids(body["stories"].as_array().unwrap()),
        ["s1"],
        "AND( is the word and"
    );
    assert_eq!(store.stats().await.unwrap().stories, 1);
}

both!(invalid_parameters_are_400_naming_the_parameter);
async fn invalid_parameters_are_400_naming_the_parameter(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("offset=-3", "offset"),
        ("since=tomorrow", "since"),
        ("since=5y", "since"),
        ("until=never", "until"),
        ("country=Ukraine", "country"),
        ("severity=9", "severity"),
        ("sort=best", "sort"),
        (&format!("q={}", "word%20".repeat(40)), "q"),
        ("limit=1&limit=2", "query"),
    ] {
        let (code, body) = get(store, &format!("/api/stories?{query}")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{query}: {body}");
        assert_eq!(body["parameter"], param, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(param), "{body}");
    }
    let (code, body) = get(store, "/api/stories?limit=500&unknown=1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["stories"], serde_json::json!([]));
    let (code, body) = get(store, &format!("/api/stories?x={}", "a".repeat(5000))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "query_too_long");
}

both!(link_before_story_is_joined_at_query_time);
async fn link_before_story_is_joined_at_query_time(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let l = link("copy-1", "orig");
    store.upsert_link(&l).await.unwrap();
    store.upsert_link(&l).await.unwrap();
    let (code, body) = get(store, "/api/stories/orig").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["message"], "story not found");

    store
        .upsert_story(&story("orig", "Original report", Some(t0()), &[], &[]))
        .await
        .unwrap();
    // A second link after the story.
    store.upsert_link(&link("copy-2", "orig")).await.unwrap();
    store.upsert_alert(&alert("orig")).await.unwrap();
    store.upsert_alert(&alert("orig")).await.unwrap();

    let (code, body) = get(store, "/api/stories/orig").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "orig");
    assert_eq!(body["title"], "Original report");
    let dups = body["duplicates"].as_array().unwrap();
    let mut dup_ids: Vec<&str> = dups
        .iter()
        .map(|d| d["story_id"].as_str().unwrap())
        .collect();
    dup_ids.sort();
    assert_eq!(dup_ids, ["copy-1", "copy-2"]);
    assert_eq!(dups[0]["rule"], "canonical_url");
    assert_eq!(dups[0]["duplicate_of"], "orig");
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(body["alerts"][0]["subscription_id"], "sub-1");

    let (code, body) = get(store, "/api/stats").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["stories"], 1);
    assert_eq!(body["duplicates"], 2);
    assert_eq!(body["alerts"], 1);
    assert_eq!(body["dead_letters"], 0);

    // The cluster: the story (its cluster id is its id) and both links into it.
    let mut member = story("member", "Same event, other outlet", Some(t0()), &[], &[]);
    member.cluster_id = "orig".into();
    store.upsert_story(&member).await.unwrap();
    let (code, body) = get(store, "/api/clusters/orig").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "orig");
    let mut members = ids(body["stories"].as_array().unwrap());
    members.sort();
    assert_eq!(members, ["member", "orig"]);
    assert_eq!(body["links"].as_array().unwrap().len(), 2);
    let (code, body) = get(store, "/api/clusters/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

both!(feeds_show_latest_health);
async fn feeds_show_latest_health(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let (code, body) = get(store, "/api/feeds").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["feeds"], serde_json::json!([]));
    store
        .upsert_feed_health(&health("h1", "feed-1", FeedStatus::Failing, t0()))
        .await
        .unwrap();
    store
        .upsert_feed_health(&health(
            "h2",
            "feed-1",
            FeedStatus::Recovered,
            t0() + TimeDelta::minutes(10),
        ))
        .await
        .unwrap();
    store
        .upsert_feed_health(&health("h3", "feed-2", FeedStatus::Gone, t0()))
        .await
        .unwrap();
    store
        .upsert_story(&story("s1", "Talks", Some(t0()), &[], &[]))
        .await
        .unwrap();
    let (code, body) = get(store, "/api/feeds").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let feeds = body["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 2);
    assert_eq!(feeds[0]["feed_id"], "feed-1");
    assert_eq!(feeds[0]["status"], "recovered");
    assert_eq!(feeds[0]["stories"], 1);
    assert_eq!(feeds[0]["health"]["id"], "h2");
    assert_eq!(feeds[1]["status"], "gone");
    assert_eq!(feeds[1]["stories"], 0);
}

both!(every_documented_route_answers);
async fn every_documented_route_answers(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    store
        .upsert_story(&story("s1", "Talks", Some(t0()), &[], &[]))
        .await
        .unwrap();
    let (code, doc) = get(store, "/api/openapi.json").await;
    assert_eq!(code, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    // The document also describes the alerter's subscription routes, served beside the
    // store's (wirewatch-alerter's tests call those against its router).
    for path in paths.keys() {
        assert!(
            wirewatch_store::api::API_PATHS.contains(&path.as_str())
                || path.starts_with("/api/subscriptions"),
            "{path} is documented but served by nobody"
        );
    }
    for path in wirewatch_store::api::API_PATHS {
        assert!(paths.contains_key(path), "{path} undocumented");
        let uri = path.replace("{id}", "s1");
        let (code, body) = get(store, &uri).await;
        assert_eq!(code, StatusCode::OK, "{uri}: {body}");
        assert!(body.is_object(), "{uri} answers JSON");
    }
}

both!(sink_stores_every_topic_and_poisons_bad_payloads);
async fn sink_stores_every_topic_and_poisons_bad_payloads(kind: Kind) {
    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let mut sink = StoreSink::new(store.clone());
    assert_eq!(sink.stage(), "store");
    assert_eq!(STORE_TOPICS.len(), 5);

    let s = story("s1", "Istanbul talks", Some(t0()), &["diplomacy"], &["TR"]);
    let h = health("h1", "feed-1", FeedStatus::Failing, t0());
    let dl = DeadLetter {
        id: "d1".into(),
        stage: "classifier".into(),
        topic: "test.stories.unique.v1".into(),
        partition: None,
        offset: None,
        key: None,
        reason: "cannot decode".into(),
        payload: "{".into(),
        failed_at: t0(),
    };
    let msgs = [
        delivery(Topic::StoriesEnriched, serde_json::to_vec(&s).unwrap()),
        delivery(
            Topic::StoriesLinks,
            serde_json::to_vec(&link("c", "s1")).unwrap(),
        ),
        delivery(Topic::Alerts, serde_json::to_vec(&alert("s1")).unwrap()),
        delivery(Topic::FeedsHealth, serde_json::to_vec(&h).unwrap()),
        delivery(Topic::DeadLetter, serde_json::to_vec(&dl).unwrap()),
    ];
    for round in 0..2 {
        for m in &msgs {
            let out = sink.process(m).await.unwrap();
            assert!(out.is_empty(), "round {round}: a sink publishes nothing");
        }
    }
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (
            stats.stories,
            stats.duplicates,
            stats.alerts,
            stats.feed_health,
            stats.dead_letters
        ),
        (1, 1, 1, 1, 1),
        "redelivery changes nothing"
    );

    for (topic, payload) in [
        (Topic::StoriesEnriched, b"not json".to_vec()),
        (Topic::StoriesEnriched, br#"{"id":"x"}"#.to_vec()),
        (Topic::StoriesLinks, serde_json::to_vec(&s).unwrap()),
        (Topic::Alerts, b"[]".to_vec()),
        (Topic::FeedsHealth, b"".to_vec()),
        (Topic::DeadLetter, b"\xff\xfe".to_vec()),
        (Topic::StoriesRaw, serde_json::to_vec(&s.story).unwrap()),
    ] {
        let r = sink.process(&delivery(topic, payload)).await;
        assert!(matches!(r, Err(ProcessError::Poison(_))), "{topic}: {r:?}");
    }
    // Decodes, but has no usable id.
    let mut empty = s.clone();
    empty.story.id = String::new();
    let r = sink
        .process(&delivery(
            Topic::StoriesEnriched,
            serde_json::to_vec(&empty).unwrap(),
        ))
        .await;
    match r {
        Err(ProcessError::Poison(reason)) => assert!(reason.contains("id is empty"), "{reason}"),
        other => panic!("expected poison, got {other:?}"),
    }
    // Text PostgreSQL cannot store (a NUL byte) is bad data, not a server failure.
    let mut nul = s.clone();
    nul.story.id = "nul".into();
    nul.story.title = "bad \u{0} title".into();
    let r = sink
        .process(&delivery(
            Topic::StoriesEnriched,
            serde_json::to_vec(&nul).unwrap(),
        ))
        .await;
    assert!(
        r.is_ok() || matches!(r, Err(ProcessError::Poison(_))),
        "{r:?}"
    );

    let text = wirewatch_runtime::metrics::render();
    assert!(text.contains(r#"wirewatch_store_writes_total{kind="story",stage="store"}"#));
    assert!(text.contains("wirewatch_store_write_errors_total"));
}

both!(sink_runs_in_the_stage_loop);
async fn sink_runs_in_the_stage_loop(kind: Kind) {
    use std::sync::Arc;
    use std::time::Duration;
    use wirewatch_runtime::bus::memory::MemoryBus;
    use wirewatch_runtime::bus::{Record, SharedPublisher};
    use wirewatch_runtime::stage::{run_processor, LoopOptions};
    use wirewatch_runtime::CancellationToken;

    let Some(db) = open(kind).await else { return };
    let store = &db.store;
    let bus = MemoryBus::new("t", 16);
    let input = bus.subscribe(&STORE_TOPICS);
    let publisher: SharedPublisher = Arc::new(bus.publisher("test"));
    let s = story("s1", "Istanbul talks", Some(t0()), &[], &[]);
    publisher
        .publish(Record::event(&s, "classifier").unwrap())
        .await
        .unwrap();
    publisher
        .publish(Record {
            topic: Topic::StoriesEnriched,
            key: "bad".into(),
            payload: b"{broken".to_vec(),
            headers: vec![],
        })
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let opts = LoopOptions {
        retry_initial: Duration::from_millis(1),
        retry_max: Duration::from_millis(5),
        max_in_flight: 16,
    };
    let task = tokio::spawn(run_processor(
        StoreSink::new(store.clone()),
        Box::new(input),
        publisher,
        opts,
        stop.clone(),
    ));
    // The poison message comes back on the dead-letter topic, which the store also reads.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = store.stats().await.unwrap();
        if st.stories == 1 && st.dead_letters == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    let reason = text_scalar(store, "SELECT reason FROM dead_letters").await;
    assert!(reason.contains("cannot decode"), "{reason}");
}

both!(retention_deletes_old_rows_in_batches);
async fn retention_deletes_old_rows_in_batches(kind: Kind) {
    use std::collections::BTreeMap;
    let cfg = StoreConfig {
        retention_days: 30,
        retention_topic_days: BTreeMap::from([
            ("diplomacy".to_string(), 365),
            ("weather".to_string(), 7),
            ("archive".to_string(), 0),
        ]),
        retention_batch_rows: 3,
        ..StoreConfig::default()
    };
    let Some(db) = open_with(kind, cfg.clone()).await else {
        return;
    };
    let store = &db.store;
    let now = Utc::now();
    let age = |days: i64| Some(now - TimeDelta::days(days));
    let mut batch = Vec::new();
    // Ten plain stories 40 days old: gone (in batches of 3).
    for i in 0..10 {
        batch.push(story(
            &format!("plain{i}"),
            "Old news",
            age(40),
            &["conflict"],
            &["UA"],
        ));
    }
    batch.extend([
        story("recent", "Recent news", age(5), &["conflict"], &[]),
        story("dipl-old", "Treaty", age(400), &["diplomacy"], &[]),
        story("dipl", "Treaty talks", age(40), &["diplomacy"], &[]),
        story("weather", "Storm", age(10), &["weather"], &[]),
        // Weather and diplomacy: the longest override (365 days) wins.
        story(
            "both",
            "Storm delays talks",
            age(10),
            &["weather", "diplomacy"],
            &[],
        ),
        story(
            "kept",
            "Archive piece",
            age(4000),
            &["archive", "weather"],
            &[],
        ),
    ]);
    store.upsert_stories(&batch).await.unwrap();
    // A link to a deleted story, one to a kept story, both old.
    let mut l1 = link("c1", "plain0");
    l1.deduped_at = now - TimeDelta::days(40);
    let mut l2 = link("c2", "dipl");
    l2.deduped_at = now - TimeDelta::days(40);
    store.upsert_link(&l1).await.unwrap();
    store.upsert_link(&l2).await.unwrap();
    store
        .upsert_feed_health(&health(
            "h-old",
            "feed-1",
            FeedStatus::Failing,
            now - TimeDelta::days(31),
        ))
        .await
        .unwrap();
    store
        .upsert_feed_health(&health("h-new", "feed-1", FeedStatus::Healthy, now))
        .await
        .unwrap();

    let before = wirewatch_store::metrics::metrics()
        .retention_deleted
        .with_label_values(&["store", "stories"])
        .get();
    let stop = wirewatch_runtime::CancellationToken::new();
    let r = wirewatch_store::purge(store, &cfg, now, &stop)
        .await
        .unwrap();
    assert_eq!(r.stories, 12, "{r:?}");
    assert_eq!((r.duplicates, r.feed_health), (1, 1), "{r:?}");
    let mut left = ids(&store
        .search(&SearchQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap());
    left.sort();
    assert_eq!(left, ["both", "dipl", "kept", "recent"]);
    assert_eq!(
        count_scalar(store, "SELECT count(*) FROM story_countries").await,
        0
    );
    assert_eq!(text_scalar(store, "SELECT id FROM duplicates").await, l2.id);
    let after = wirewatch_store::metrics::metrics()
        .retention_deleted
        .with_label_values(&["store", "stories"])
        .get();
    assert!(after >= before + 12, "{before} -> {after}");
    // A second pass finds nothing.
    let r = wirewatch_store::purge(store, &cfg, now, &stop)
        .await
        .unwrap();
    assert_eq!(r, wirewatch_store::PurgeReport::default());
}

both!(cli_search_and_export);
async fn cli_search_and_export(kind: Kind) {
    use wirewatch_store::cli::{
        export, export_with, search, ExportArgs, ExportFormat, Progress, SearchArgs,
    };
    let Some(db) = open(kind).await else { return };
    let base = Utc::now();
    let mut batch: Vec<EnrichedStory> = (0..1203)
        .map(|i| {
            story(
                &format!("e{i:04}"),
                &format!("Report {i}, from Istanbul"),
                Some(base - TimeDelta::minutes(i)),
                &["diplomacy"],
                &["TR"],
            )
        })
        .collect();
    batch[0].story.title = "Quoted \"title\", with comma".into();
    db.store.upsert_stories(&batch).await.unwrap();

    let mut out = Vec::new();
    let code = search(
        &db.cfg,
        db.dir.path(),
        &SearchArgs {
            query: "quoted comma".into(),
            limit: 10,
            ..SearchArgs::default()
        },
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("Quoted \"title\", with comma"), "{text}");
    let mut out = Vec::new();
    let code = search(
        &db.cfg,
        db.dir.path(),
        &SearchArgs {
            query: "nothing-matches-this".into(),
            limit: 10,
            ..SearchArgs::default()
        },
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(code, std::process::ExitCode::from(1));
    let bad = search(
        &db.cfg,
        db.dir.path(),
        &SearchArgs {
            query: "*".into(),
            limit: 10,
            ..SearchArgs::default()
        },
        &mut Vec::new(),
    )
    .await;
    assert!(bad.is_err());

    let (mut out, mut progress) = (Vec::new(), Vec::new());
    export(
        &db.cfg,
        db.dir.path(),
        &ExportArgs {
            format: ExportFormat::Jsonl,
            since: None,
            query: None,
        },
        &mut out,
        &mut progress,
    )
    .await
    .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1203);
    let mut seen = ids(&lines);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1203, "every story once");
    let progress = String::from_utf8(progress).unwrap();
    assert!(
        progress.contains("exported 1203/1203 stories (100%)"),
        "{progress}"
    );

    // A progress bar (hidden here) follows the stories written, to the count.
    let bar = indicatif::ProgressBar::hidden();
    let mut out = Vec::new();
    export_with(
        &db.cfg,
        db.dir.path(),
        &ExportArgs {
            format: ExportFormat::Jsonl,
            since: None,
            query: Some("istanbul".into()),
        },
        &mut out,
        Progress::Bar(bar.clone()),
    )
    .await
    .unwrap();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1203);
    assert_eq!((bar.position(), bar.length()), (1203, Some(1203)));
    assert!(bar.is_finished());

    let (mut out, mut progress) = (Vec::new(), Vec::new());
    export(
        &db.cfg,
        db.dir.path(),
        &ExportArgs {
            format: ExportFormat::Csv,
            since: Some((base - TimeDelta::minutes(90) + TimeDelta::seconds(30)).to_rfc3339()),
            query: None,
        },
        &mut out,
        &mut progress,
    )
    .await
    .unwrap();
    let csv = String::from_utf8(out).unwrap();
    assert!(csv.starts_with(wirewatch_store::cli::CSV_HEADER));
    assert!(
        csv.contains("\"Quoted \"\"title\"\", with comma\""),
        "{csv}"
    );
    // Stories from the last 90 minutes: 0..=89 minutes old.
    assert_eq!(csv.lines().count() - 1, 90);
    assert!(progress.is_empty(), "small exports print no progress");
}

#[tokio::test]
async fn sqlite_v1_database_upgrades_and_backfills_filters() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    // A database as the first release left it: only migration 0001 applied, one story.
    let only_v1 = dir.path().join("v1");
    std::fs::create_dir(&only_v1).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/sqlite/0001_init.sql"
        ),
        only_v1.join("0001_init.sql"),
    )
    .unwrap();
    let path = dir.path().join("store.db");
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .page_size(16_384);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    sqlx::migrate::Migrator::new(only_v1.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    let mut s = story("old", "Istanbul talks", Some(t0()), &[], &["TR"]);
    s.severity = Some(3);
    s.entities = vec![wirewatch_proto::v1::Entity {
        kind: wirewatch_proto::v1::EntityKind::Organisation,
        id: "nato".into(),
        name: "NATO".into(),
        mentions: 1,
        matched: vec![],
        salience: None,
    }];
    sqlx::query(
        "INSERT INTO stories (id, cluster_id, feed_id, feed_url, title, sort_at, fetched_at, \
           classified_at, topics, countries, entities, raw, stored_at) \
         VALUES ('old', 'old', 'feed-1', 'u', 'Istanbul talks', ?1, ?1, ?1, '[]', '[\"TR\"]', ?2, ?3, ?1)",
    )
    .bind("2024-05-01T12:00:00.000000Z")
    .bind(serde_json::to_string(&s.entities).unwrap())
    .bind(serde_json::to_string(&s).unwrap())
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = Store::open(&StoreConfig::default(), dir.path())
        .await
        .unwrap();
    let q = SearchQuery {
        entity: Some("nato".into()),
        min_severity: Some(3),
        text: Some("istanbul".into()),
        ..Default::default()
    };
    assert_eq!(ids(&store.search(&q).await.unwrap()), ["old"]);
    let migrations: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(migrations as usize, files, "every migration ran");
    // The full-text index was rebuilt with the country tags.
    let q = SearchQuery {
        country: Some("TR".into()),
        text: Some("talks".into()),
        ..Default::default()
    };
    assert_eq!(ids(&store.search(&q).await.unwrap()), ["old"]);
    assert_eq!(store.count(&q).await.unwrap(), 1);
    fts_integrity(&store).await;
}
