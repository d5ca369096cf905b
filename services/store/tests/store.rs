//! Store tests against a real SQLite file in a temporary directory: idempotent upserts, the
//! FTS index, search filters, the HTTP API (through `tower::ServiceExt::oneshot`) and the sink.
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
use wirewatch_store::{api_router, SearchQuery, Store, StoreConfig, StoreSink, STORE_TOPICS};

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
    }
}

async fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&StoreConfig::default(), dir.path())
        .await
        .unwrap()
}

async fn fts_hits(store: &Store, term: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM stories_fts WHERE stories_fts MATCH ?")
        .bind(term)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn fts_integrity(store: &Store) {
    sqlx::query("INSERT INTO stories_fts (stories_fts, rank) VALUES ('integrity-check', 1)")
        .execute(store.pool())
        .await
        .expect("fts index matches the stories table");
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

#[tokio::test]
async fn opens_with_pragmas_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    assert_eq!(store.path(), dir.path().join("store.db"));
    let page: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(page, 16_384);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    store
        .upsert_story(&story("s1", "Talks", Some(t0()), &[], &[]))
        .await
        .unwrap();
    store.close().await;
    // Reopening applies no migration twice and keeps the data.
    let store = open(&dir).await;
    assert_eq!(store.stats().await.unwrap().stories, 1);
    let ready = store.ready_check();
    assert_eq!(ready.name(), "store");
    ready.ready().await.unwrap();
}

#[tokio::test]
async fn bad_config_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        max_connections: 0,
        ..StoreConfig::default()
    };
    assert!(Store::open(&cfg, dir.path()).await.is_err());
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
async fn upsert_twice_gives_one_row_and_one_fts_hit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let s = story(
        "s1",
        "Ceasefire talks in Istanbul",
        Some(t0()),
        &["diplomacy"],
        &["TR", "UA"],
    );
    store.upsert_story(&s).await.unwrap();
    let stored_at: String = sqlx::query_scalar("SELECT stored_at FROM stories WHERE id = 's1'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.upsert_story(&s).await.unwrap();
    assert_eq!(store.stats().await.unwrap().stories, 1);
    assert_eq!(fts_hits(&store, "istanbul").await, 1);
    let again: String = sqlx::query_scalar("SELECT stored_at FROM stories WHERE id = 's1'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored_at, again, "a redelivery changes nothing");
    let q = SearchQuery {
        text: Some("istanbul".into()),
        ..SearchQuery::default()
    };
    assert_eq!(ids(&store.search(&q).await.unwrap()), ["s1"]);
    let topics: i64 = sqlx::query_scalar("SELECT count(*) FROM story_topics")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(topics, 1);

    // A newer classification with another title replaces the indexed text.
    let mut s2 = s.clone();
    s2.story.title = "Ceasefire talks in Geneva".into();
    s2.story.summary = None;
    s2.countries = vec!["CH".into()];
    s2.classified_at = t0() + TimeDelta::minutes(5);
    store.upsert_story(&s2).await.unwrap();
    assert_eq!(fts_hits(&store, "istanbul").await, 0);
    assert_eq!(fts_hits(&store, "geneva").await, 1);
    assert_eq!(fts_hits(&store, "ceasefire").await, 1);
    fts_integrity(&store).await;
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
    assert_eq!(fts_hits(&store, "geneva").await, 1);
    assert_eq!(fts_hits(&store, "istanbul").await, 0);
    fts_integrity(&store).await;
}

#[tokio::test]
async fn search_filters_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = Utc::now();
    let stories = [
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
    for s in &stories {
        store.upsert_story(s).await.unwrap();
    }
    let search = |q: SearchQuery| {
        let store = store.clone();
        async move { ids(&store.search(&q).await.unwrap()) }
    };
    assert_eq!(
        search(SearchQuery::default()).await,
        ["new", "mid", "old", "undated"]
    );
    assert_eq!(
        search(SearchQuery {
            text: Some("istanbul".into()),
            ..Default::default()
        })
        .await,
        ["new", "old", "undated"]
    );
    assert_eq!(
        search(SearchQuery {
            text: Some("talks istanbul".into()),
            ..Default::default()
        })
        .await,
        ["new", "old"]
    );
    assert_eq!(
        search(SearchQuery {
            text: Some("khar*".into()),
            ..Default::default()
        })
        .await,
        ["mid"]
    );
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
            since: Some(now - TimeDelta::days(2)),
            ..Default::default()
        })
        .await,
        ["new", "mid"]
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
    let (code, body) = get(&store, "/api/stories?q=istanbul&since=48h&limit=10").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ids(body["stories"].as_array().unwrap()), ["new"]);
    assert_eq!(body["total"], 1);
    let (code, body) = get(&store, "/api/stories?country=TR&offset=1&limit=1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ids(body["stories"].as_array().unwrap()), ["old"]);
    assert_eq!(body["total"], 3);
    assert_eq!(
        body["stories"][0]["topics"][0]["id"], "diplomacy",
        "the whole event"
    );
}

#[tokio::test]
async fn hostile_queries_never_give_500() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
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
    ] {
        let (code, body) = get(&store, &format!("/api/stories?q={}", enc(q))).await;
        assert!(
            code == StatusCode::OK || code == StatusCode::BAD_REQUEST,
            "q={q:?} gave {code}: {body}"
        );
        if code == StatusCode::BAD_REQUEST {
            assert_eq!(body["parameter"], "q");
        }
    }
    for q in ["*", "\"", "( - )"] {
        let (code, body) = get(&store, &format!("/api/stories?q={}", enc(q))).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "q={q:?}: {body}");
    }
    let (code, body) = get(&store, &format!("/api/stories?q={}", enc("AND("))).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        ids(body["stories"].as_array().unwrap()),
        ["s1"],
        "AND( is the word and"
    );
    assert_eq!(store.stats().await.unwrap().stories, 1);
}

#[tokio::test]
async fn invalid_parameters_are_400_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("offset=-3", "offset"),
        ("since=tomorrow", "since"),
        ("since=5y", "since"),
        ("country=Ukraine", "country"),
        (&format!("q={}", "word%20".repeat(40)), "q"),
        ("limit=1&limit=2", "query"),
    ] {
        let (code, body) = get(&store, &format!("/api/stories?{query}")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["parameter"], param, "{query}: {body}");
        assert!(body["error"].as_str().unwrap().contains(param), "{body}");
    }
    let (code, body) = get(&store, "/api/stories?limit=500&unknown=1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["stories"], serde_json::json!([]));
}

#[tokio::test]
async fn link_before_story_is_joined_at_query_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let l = link("copy-1", "orig");
    store.upsert_link(&l).await.unwrap();
    store.upsert_link(&l).await.unwrap();
    let (code, body) = get(&store, "/api/stories/orig").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "story not found");

    store
        .upsert_story(&story("orig", "Original report", Some(t0()), &[], &[]))
        .await
        .unwrap();
    // A second link after the story.
    store.upsert_link(&link("copy-2", "orig")).await.unwrap();
    store.upsert_alert(&alert("orig")).await.unwrap();
    store.upsert_alert(&alert("orig")).await.unwrap();

    let (code, body) = get(&store, "/api/stories/orig").await;
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

    let (code, body) = get(&store, "/api/stats").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["stories"], 1);
    assert_eq!(body["duplicates"], 2);
    assert_eq!(body["alerts"], 1);
    assert_eq!(body["dead_letters"], 0);
}

#[tokio::test]
async fn sink_stores_every_topic_and_poisons_bad_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut sink = StoreSink::new(store.clone());
    assert_eq!(sink.stage(), "store");
    assert_eq!(STORE_TOPICS.len(), 5);

    let s = story("s1", "Istanbul talks", Some(t0()), &["diplomacy"], &["TR"]);
    let health = FeedHealth {
        id: "h1".into(),
        feed: FeedRef {
            id: "feed-1".into(),
            url: "https://example.org/feed.xml".into(),
            title: None,
        },
        status: FeedStatus::Failing,
        previous: Some(FeedStatus::Healthy),
        error_kind: Some("timeout".into()),
        error: None,
        http_status: None,
        consecutive_failures: 1,
        observed_at: t0(),
    };
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
        delivery(Topic::FeedsHealth, serde_json::to_vec(&health).unwrap()),
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
    assert_eq!(store.stats().await.unwrap().stories, 1);

    let text = wirewatch_runtime::metrics::render();
    assert!(text.contains(r#"wirewatch_store_writes_total{kind="story",stage="store"}"#));
    assert!(text.contains("wirewatch_store_write_errors_total"));
}

#[tokio::test]
async fn sink_runs_in_the_stage_loop() {
    use std::sync::Arc;
    use std::time::Duration;
    use wirewatch_runtime::bus::memory::MemoryBus;
    use wirewatch_runtime::bus::{Record, SharedPublisher};
    use wirewatch_runtime::stage::{run_processor, LoopOptions};
    use wirewatch_runtime::CancellationToken;

    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
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
    let reason: String = sqlx::query_scalar("SELECT reason FROM dead_letters")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(reason.contains("cannot decode"), "{reason}");
}

#[tokio::test]
async fn busy_database_is_retryable() {
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
