//! The alerter against a real webhook receiver on 127.0.0.1:0: exactly-once delivery per
//! (subscription, story) across reprocessing and restarts, retries, dead endpoints.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use wirewatch_alerter::deliver::signature;
use wirewatch_alerter::{Alerter, AlerterConfig};
use wirewatch_proto::v1::{Alert, DeadLetter, EnrichedStory, FeedRef, RawStory, TopicMatch};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::{Delivery, Record};
use wirewatch_runtime::stage::{ProcessError, Processor};

#[derive(Debug, Clone)]
struct Received {
    route: String,
    delivery: String,
    signature: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

#[derive(Default, Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn on(&self, route: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.route == route)
            .cloned()
            .collect()
    }
}

async fn hook(
    State(rx): State<Receiver>,
    UrlPath(route): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let r = Received {
        route: route.clone(),
        delivery: h("x-wirewatch-delivery").unwrap_or_default(),
        signature: h("x-wirewatch-signature"),
        content_type: h("content-type"),
        body: body.to_vec(),
    };
    let seen_before = {
        let mut got = rx.got.lock().unwrap();
        let n = got
            .iter()
            .filter(|g| g.route == route && g.delivery == r.delivery)
            .count();
        got.push(r);
        n
    };
    match (route.as_str(), seen_before) {
        ("flaky", 0) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        ("limited", 0) => {
            // An hour: the alerter must cap it at retry_max_ms or this test times out.
            let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("3600"));
            resp
        }
        _ => StatusCode::OK.into_response(),
    }
}

async fn start_receiver() -> (String, Receiver) {
    let rx = Receiver::default();
    let app = Router::new()
        .route("/{route}", post(hook))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rx)
}

/// A port where nothing listens.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn story(id: &str, title: &str, topic: &str, country: &str) -> EnrichedStory {
    EnrichedStory {
        story: RawStory {
            id: id.into(),
            feed: FeedRef {
                id: "test-feed".into(),
                url: "http://127.0.0.1/feed.xml".into(),
                title: None,
            },
            guid: None,
            link: Some(format!("https://example.org/{id}")),
            title: title.into(),
            summary: None,
            content: None,
            authors: vec![],
            categories: vec![],
            language: Some("en".into()),
            published: None,
            updated: None,
            fetched_at: Utc::now(),
            fetcher_version: "test".into(),
        },
        cluster_id: id.into(),
        topics: vec![TopicMatch {
            id: topic.into(),
            label: topic.into(),
            score: 1.0,
            iptc: "medtop:x".into(),
            iptc_top: "medtop:x".into(),
            evidence: vec![],
        }],
        countries: vec![country.into()],
        entities: vec![],
        detected_language: Some("en".into()),
        language_confidence: None,
        regions: vec![],
        severity: None,
        classified_at: Utc::now(),
        classifier_version: "test".into(),
    }
}

fn delivery(s: &EnrichedStory, offset: i64) -> Delivery {
    Delivery {
        topic: Topic::StoriesEnriched,
        topic_name: Topic::StoriesEnriched.name("t"),
        partition: None,
        offset: Some(offset),
        key: Some(s.story.id.clone().into_bytes()),
        payload: serde_json::to_vec(s).unwrap(),
        headers: vec![],
    }
}

fn write_subs(dir: &Path, base: &str, dead: u16) -> AlerterConfig {
    let file = dir.join("out/alerts.jsonl");
    let subs = format!(
        r#"
[[subscription]]
id = "signed"
query = "topic:conflict AND country:RU"
webhook_url = "{base}/ok"
secret = "s3cret"
file = "{file}"

[[subscription]]
id = "flaky"
query = "istanbul"
webhook_url = "{base}/flaky"

[[subscription]]
id = "limited"
query = '"peace talks"'
webhook_url = "{base}/limited"

[[subscription]]
id = "dead"
query = "country:ru"
webhook_url = "http://127.0.0.1:{dead}/hook"

[[subscription]]
id = "markets"
query = "markets OR topic:economy"
webhook_url = "{base}/ok"

[[subscription]]
id = "disabled"
query = "istanbul"
webhook_url = "{base}/ok"
enabled = false
"#,
        file = file.display()
    );
    let path = dir.join("subscriptions.toml");
    std::fs::write(&path, subs).unwrap();
    AlerterConfig {
        subscriptions_file: path,
        webhook_timeout_ms: 2_000,
        max_attempts: 3,
        retry_initial_ms: 10,
        retry_max_ms: 50,
        max_concurrent_deliveries: 4,
        ..AlerterConfig::default()
    }
}

fn topics(recs: &[Record]) -> Vec<Topic> {
    recs.iter().map(|r| r.topic).collect()
}

fn alerts(recs: &[Record]) -> Vec<Alert> {
    recs.iter()
        .filter(|r| r.topic == Topic::Alerts)
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn delivers_once_retries_and_dead_letters() {
    tokio::time::timeout(Duration::from_secs(60), scenario())
        .await
        .expect("scenario timed out (Retry-After not capped?)");
}

async fn scenario() {
    let (base, rx) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_subs(dir.path(), &base, dead_port());
    let data = dir.path().join("data");
    let mut alerter = Alerter::open(&cfg, &data, "t").await.unwrap();
    assert!(alerter.ready_check().ready().await.is_ok());
    assert_eq!(alerter.subscriptions().count(), 6);

    let a = story(
        "story-a",
        "Peace talks resume in Istanbul",
        "conflict",
        "RU",
    );
    let b = story("story-b", "Markets rally on rate cut", "economy", "US");

    // Story A: signed, flaky, limited deliver; dead is dead-lettered; disabled stays silent.
    let out = alerter.process(&delivery(&a, 1)).await.unwrap();
    assert_eq!(
        topics(&out),
        [
            Topic::Alerts,
            Topic::Alerts,
            Topic::Alerts,
            Topic::DeadLetter
        ]
    );
    let got: Vec<String> = alerts(&out)
        .into_iter()
        .map(|a| a.subscription_id)
        .collect();
    assert_eq!(got, ["signed", "flaky", "limited"]);
    let signed_alert = &alerts(&out)[0];
    assert_eq!(signed_alert.id, Alert::make_id("signed", "story-a"));
    assert_eq!(signed_alert.channels, ["file", "webhook"]);
    assert_eq!(signed_alert.topics, ["conflict"]);

    let dl: DeadLetter = serde_json::from_slice(&out[3].payload).unwrap();
    assert_eq!(dl.stage, "alerter");
    assert_eq!(dl.topic, "t.alerts.v1");
    assert!(dl.reason.contains("'dead'"), "{}", dl.reason);
    assert!(dl.reason.contains("http://127.0.0.1:"), "{}", dl.reason);
    assert!(dl.reason.contains("after 3 attempt"), "{}", dl.reason);
    let dead_alert: Alert = serde_json::from_str(&dl.payload).unwrap();
    assert_eq!(dead_alert.subscription_id, "dead");
    assert_eq!(dead_alert.id, Alert::make_id("dead", "story-a"));

    // The signed webhook: one POST with the right headers and signature.
    let ok = rx.on("ok");
    assert_eq!(ok.len(), 1);
    let r = &ok[0];
    assert_eq!(r.delivery, Alert::make_id("signed", "story-a"));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        r.signature.as_deref(),
        Some(signature(b"s3cret", &r.body).as_str())
    );
    let posted: Alert = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(posted.id, r.delivery);
    assert_eq!(posted.story_id, "story-a");
    // 500 then 200, 429 then 200: retried once each, with the same delivery id.
    let flaky = rx.on("flaky");
    assert_eq!(flaky.len(), 2);
    assert!(flaky
        .iter()
        .all(|f| f.delivery == Alert::make_id("flaky", "story-a")));
    assert!(flaky[0].signature.is_none());
    assert_eq!(rx.on("limited").len(), 2);

    // The dead endpoint did not stop the next story.
    let out = alerter.process(&delivery(&b, 2)).await.unwrap();
    assert_eq!(topics(&out), [Topic::Alerts]);
    assert_eq!(alerts(&out)[0].subscription_id, "markets");
    assert_eq!(rx.on("ok").len(), 2);

    // Story A again (a redelivery): no new POSTs; the alert events are published again (same
    // ids) for the store; the dead endpoint, never recorded, is tried again.
    let out = alerter.process(&delivery(&a, 1)).await.unwrap();
    assert_eq!(
        topics(&out),
        [
            Topic::Alerts,
            Topic::Alerts,
            Topic::Alerts,
            Topic::DeadLetter
        ]
    );
    assert_eq!(alerts(&out)[0], *signed_alert);
    assert_eq!(rx.on("ok").len(), 2);
    assert_eq!(rx.on("flaky").len(), 2);
    assert_eq!(rx.on("limited").len(), 2);

    // After a restart on the same data dir: still nothing delivered twice.
    alerter.close().await;
    drop(alerter);
    let mut alerter = Alerter::open(&cfg, &data, "t").await.unwrap();
    alerter.process(&delivery(&a, 1)).await.unwrap();
    alerter.process(&delivery(&b, 2)).await.unwrap();
    assert_eq!(rx.on("ok").len(), 2);
    assert_eq!(rx.on("flaky").len(), 2);
    assert_eq!(rx.on("limited").len(), 2);

    // The file channel got exactly one line.
    let lines = std::fs::read_to_string(dir.path().join("out/alerts.jsonl")).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 1);
    let line: Alert = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line.id, Alert::make_id("signed", "story-a"));

    // Undecodable input is poison.
    let mut bad = delivery(&a, 3);
    bad.payload = b"{not json".to_vec();
    assert!(matches!(
        alerter.process(&bad).await,
        Err(ProcessError::Poison(_))
    ));

    let m = wirewatch_alerter::metrics::get();
    assert!(m.duplicates.with_label_values(&["alerter"]).get() >= 7);
    assert!(
        m.deliveries
            .with_label_values(&["alerter", "webhook", "failed"])
            .get()
            >= 3
    );
    assert!(
        m.deliveries
            .with_label_values(&["alerter", "webhook", "retry"])
            .get()
            >= 2
    );
    assert_eq!(m.subscriptions.with_label_values(&["alerter"]).get(), 5);
}

#[tokio::test]
async fn open_fails_on_a_bad_query_naming_subscription_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subs.toml");
    std::fs::write(
        &path,
        "[[subscription]]\nid = \"broken\"\nquery = \"topic:conflict AND (country:RU\"\nfile = \"x.jsonl\"\n",
    )
    .unwrap();
    let cfg = AlerterConfig {
        subscriptions_file: path,
        ..AlerterConfig::default()
    };
    let err = Alerter::open(&cfg, &dir.path().join("data"), "t")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("subs.toml"), "{err}");
    assert!(err.contains("'broken'"), "{err}");
    assert!(err.contains("at 30: expected ')'"), "{err}");
}

/// One alert per (subscription, story cluster): a later story of an alerted cluster is
/// suppressed (and counted), unless the subscription asks for one alert per story; the
/// `cluster_size` field counts the stories of the cluster seen so far, redeliveries once.
#[tokio::test]
async fn alerts_once_per_cluster_and_counts_cluster_size() {
    let (base, rx) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subs.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[subscription]]
id = "per-cluster"
query = "topic:conflict"
webhook_url = "{base}/cluster"

[[subscription]]
id = "per-story"
query = "topic:conflict"
webhook_url = "{base}/story"
once_per_cluster = false

[[subscription]]
id = "big-clusters"
query = "topic:conflict AND cluster_size>=3"
webhook_url = "{base}/big"
"#
        ),
    )
    .unwrap();
    let cfg = AlerterConfig {
        subscriptions_file: path,
        ..AlerterConfig::default()
    };
    let mut alerter = Alerter::open(&cfg, &dir.path().join("data"), "t")
        .await
        .unwrap();
    let suppressed = || {
        wirewatch_alerter::metrics::get()
            .suppressed
            .with_label_values(&["alerter", "cluster"])
            .get()
    };
    let before = suppressed();

    let mut first = story("c-1", "Clashes at the border", "conflict", "RU");
    first.cluster_id = "cluster-x".into();
    let mut second = story("c-2", "Border clashes continue", "conflict", "RU");
    second.cluster_id = "cluster-x".into();
    let mut third = story("c-3", "More on the clashes", "conflict", "RU");
    third.cluster_id = "cluster-x".into();

    let out = alerter.process(&delivery(&first, 1)).await.unwrap();
    let subs: Vec<String> = alerts(&out)
        .into_iter()
        .map(|a| a.subscription_id)
        .collect();
    assert_eq!(subs, ["per-cluster", "per-story"]);
    // The first story again (a redelivery) does not grow the cluster.
    alerter.process(&delivery(&first, 1)).await.unwrap();
    let out = alerter.process(&delivery(&second, 2)).await.unwrap();
    let subs: Vec<String> = alerts(&out)
        .into_iter()
        .map(|a| a.subscription_id)
        .collect();
    assert_eq!(
        subs,
        ["per-story"],
        "second story of the cluster: per-story only"
    );
    assert_eq!(suppressed() - before, 1);
    let out = alerter.process(&delivery(&third, 3)).await.unwrap();
    let subs: Vec<String> = alerts(&out)
        .into_iter()
        .map(|a| a.subscription_id)
        .collect();
    assert_eq!(
        subs,
        ["per-story", "big-clusters"],
        "third story: cluster_size>=3"
    );
    assert_eq!(suppressed() - before, 2);

    assert_eq!(rx.on("cluster").len(), 1);
    assert_eq!(rx.on("story").len(), 3);
    assert_eq!(rx.on("big").len(), 1);

    // Across a restart, the cluster stays alerted.
    alerter.close().await;
    drop(alerter);
    let mut alerter = Alerter::open(&cfg, &dir.path().join("data"), "t")
        .await
        .unwrap();
    let mut fourth = story("c-4", "Clashes, day four", "conflict", "RU");
    fourth.cluster_id = "cluster-x".into();
    alerter.process(&delivery(&fourth, 4)).await.unwrap();
    assert_eq!(rx.on("cluster").len(), 1);
    assert_eq!(rx.on("big").len(), 1);
    assert_eq!(rx.on("story").len(), 4);
}
