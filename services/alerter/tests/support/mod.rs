//! Shared by the alerter's integration tests: a webhook receiver on 127.0.0.1:0 that records
//! every request (route, delivery id, signature, body) and misbehaves on purpose on some
//! routes, and builders for stories and deliveries.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use wirewatch_alerter::Alerter;
use wirewatch_proto::v1::{Alert, EnrichedStory, FeedRef, RawStory, TopicMatch};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::{Delivery, Record};
use wirewatch_runtime::stage::Processor;

#[derive(Debug, Clone)]
pub struct Received {
    pub route: String,
    pub delivery: String,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Default, Clone)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn on(&self, route: &str) -> Vec<Received> {
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

pub async fn start_receiver() -> (String, Receiver) {
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
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn story(id: &str, title: &str, topic: &str, country: &str) -> EnrichedStory {
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
            published_is_fetch_time: false,
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

pub fn delivery(s: &EnrichedStory, offset: i64) -> Delivery {
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

pub fn topics(recs: &[Record]) -> Vec<Topic> {
    recs.iter().map(|r| r.topic).collect()
}

pub fn alerts(recs: &[Record]) -> Vec<Alert> {
    recs.iter()
        .filter(|r| r.topic == Topic::Alerts)
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect()
}

/// Match a story, then deliver what it queued (what the worker does in the stage).
pub async fn run(a: &mut Alerter, d: &Delivery) -> Vec<Record> {
    let mut out = a.process(d).await.unwrap();
    out.extend(a.deliver_pending().await.unwrap());
    out
}

/// Subscription ids of the alert events, sorted.
pub fn alerted(recs: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = alerts(recs)
        .into_iter()
        .map(|a| a.subscription_id)
        .collect();
    v.sort();
    v
}

pub fn count(recs: &[Record], t: Topic) -> usize {
    recs.iter().filter(|r| r.topic == t).count()
}
