//! Subscriptions beyond "match → send": flood control (rate limit with a summary, digests,
//! "+N sources" cluster updates), no alerts for stories older than the subscription, and
//! the `/api/subscriptions` HTTP API (token, create, list, update, pause, delete) over a real
//! HTTP server, with subscriptions kept across restarts. Time-based windows are driven by
//! passing a later time to `flush_due`, not by sleeping.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};
use wirewatch_alerter::{Alerter, AlerterConfig};
use wirewatch_proto::v1::{Alert, AlertKind};

mod support;
use support::*;

async fn open_with(dir: &Path, subs: &str, token: Option<&str>) -> Alerter {
    let path = dir.join("subscriptions.toml");
    std::fs::write(&path, subs).unwrap();
    let cfg = AlerterConfig {
        subscriptions_file: path,
        retry_initial_ms: 10,
        retry_max_ms: 50,
        api_token: token.map(String::from),
        ..AlerterConfig::default()
    };
    Alerter::open(&cfg, &dir.join("data"), "t").await.unwrap()
}

/// Serve the alerter's API on 127.0.0.1:0; returns the subscriptions URL.
async fn serve_api(a: &Alerter) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!(
        "http://{}/api/subscriptions",
        listener.local_addr().unwrap()
    );
    let router = a.api_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    api
}

fn posted(rx: &Receiver, route: &str) -> Vec<Alert> {
    rx.on(route)
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn suppressed(reason: &str) -> u64 {
    wirewatch_alerter::metrics::get()
        .suppressed
        .with_label_values(&["alerter", reason])
        .get()
}

#[tokio::test]
async fn rate_limit_holds_the_rest_and_sends_one_summary_when_the_window_ends() {
    let (base, rx) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_with(
        dir.path(),
        &format!("[[subscription]]\nid = \"rl\"\nquery = \"topic:conflict\"\nwebhook_url = \"{base}/rl\"\nrate_limit = \"2/1h\"\n"),
        None,
    )
    .await;
    let before = suppressed("rate_limit");
    for i in 0..5 {
        run(
            &mut a,
            &delivery(
                &story(&format!("s{i}"), &format!("Clashes {i}"), "conflict", "RU"),
                i,
            ),
        )
        .await;
    }
    assert_eq!(posted(&rx, "rl").len(), 2, "two alerts in the window");
    assert_eq!(suppressed("rate_limit") - before, 3);
    // Nothing more while the window lasts.
    a.flush_due(Utc::now()).await;
    a.deliver_pending().await.unwrap();
    assert_eq!(posted(&rx, "rl").len(), 2);
    // The window ends: one summary listing the three held stories.
    a.flush_due(Utc::now() + TimeDelta::hours(1)).await;
    let out = a.deliver_pending().await.unwrap();
    let got = posted(&rx, "rl");
    assert_eq!(got.len(), 3);
    let summary = &got[2];
    assert_eq!(summary.kind, AlertKind::Summary);
    assert_eq!(summary.sources, Some(3));
    let mut ids: Vec<&str> = summary.items.iter().map(|i| i.story_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["s2", "s3", "s4"]);
    assert!(summary.title.contains("3 stories"), "{}", summary.title);
    assert_eq!(alerts(&out).len(), 1, "the summary's event is published");
    // A redelivery of a held story changes nothing.
    run(
        &mut a,
        &delivery(&story("s3", "Clashes 3", "conflict", "RU"), 3),
    )
    .await;
    a.flush_due(Utc::now() + TimeDelta::hours(2)).await;
    a.deliver_pending().await.unwrap();
    assert_eq!(posted(&rx, "rl").len(), 3);
}

#[tokio::test]
async fn digest_sends_one_message_per_period() {
    let (base, rx) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_with(
        dir.path(),
        &format!("[[subscription]]\nid = \"dg\"\nquery = \"topic:conflict\"\nwebhook_url = \"{base}/dg\"\ndigest = \"hourly\"\n"),
        None,
    )
    .await;
    for i in 0..3 {
        run(
            &mut a,
            &delivery(
                &story(&format!("d{i}"), &format!("Shelling {i}"), "conflict", "UA"),
                i,
            ),
        )
        .await;
    }
    assert!(
        posted(&rx, "dg").is_empty(),
        "digest mode sends nothing per story"
    );
    // Survives a restart before the period ends.
    a.close().await;
    drop(a);
    let a = open_with(
        dir.path(),
        &format!("[[subscription]]\nid = \"dg\"\nquery = \"topic:conflict\"\nwebhook_url = \"{base}/dg\"\ndigest = \"hourly\"\n"),
        None,
    )
    .await;
    a.flush_due(Utc::now() + TimeDelta::hours(1)).await;
    a.deliver_pending().await.unwrap();
    let got = posted(&rx, "dg");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind, AlertKind::Digest);
    assert_eq!(got[0].items.len(), 3);
}

#[tokio::test]
async fn cluster_updates_say_how_many_sources_carry_the_story() {
    let (base, rx) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_with(
        dir.path(),
        &format!("[[subscription]]\nid = \"up\"\nquery = \"topic:conflict\"\nwebhook_url = \"{base}/up\"\ncluster = \"update\"\n"),
        None,
    )
    .await;
    for i in 0..3 {
        let mut s = story(&format!("u{i}"), "Talks collapse", "conflict", "UA");
        s.cluster_id = "cl".into();
        run(&mut a, &delivery(&s, i)).await;
    }
    let got = posted(&rx, "up");
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].kind, AlertKind::Story);
    assert_eq!((got[1].kind, got[1].sources), (AlertKind::Update, Some(2)));
    assert_eq!((got[2].kind, got[2].sources), (AlertKind::Update, Some(3)));
    assert_ne!(got[1].id, got[0].id);
    let slack = wirewatch_alerter::deliver::slack_body(&got[2], None);
    assert!(
        slack["text"].as_str().unwrap().starts_with("+2 sources: "),
        "{slack}"
    );
}

#[tokio::test]
async fn stories_older_than_the_subscription_do_not_alert_unless_since_says_so() {
    let (base, rx) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_with(
        dir.path(),
        &format!(
            "[[subscription]]\nid = \"new\"\nquery = \"topic:conflict\"\nwebhook_url = \"{base}/new\"\n\n\
             [[subscription]]\nid = \"week\"\nquery = \"topic:conflict\"\nwebhook_url = \"{base}/week\"\nsince = \"7d\"\n\n\
             [[subscription]]\nid = \"all\"\nquery = \"topic:conflict\"\nwebhook_url = \"{base}/all\"\nsince = \"all\"\n"
        ),
        None,
    )
    .await;
    let before = suppressed("before_subscription");
    let mut old = story("old", "Old clashes", "conflict", "RU");
    old.story.published = Some(Utc::now() - TimeDelta::days(2));
    let mut ancient = story("ancient", "Ancient clashes", "conflict", "RU");
    ancient.story.published = Some(Utc::now() - TimeDelta::days(400));
    let fresh = story("fresh", "New clashes", "conflict", "RU");
    for (i, s) in [&old, &ancient, &fresh].into_iter().enumerate() {
        run(&mut a, &delivery(s, i as i64)).await;
    }
    let ids = |r: &str| -> Vec<String> { posted(&rx, r).into_iter().map(|a| a.story_id).collect() };
    assert_eq!(ids("new"), ["fresh"]);
    assert_eq!(ids("week"), ["old", "fresh"]);
    assert_eq!(ids("all"), ["old", "ancient", "fresh"]);
    assert_eq!(suppressed("before_subscription") - before, 3);
}

/// The subscriptions API over HTTP: token checks, create (validated, with the query error's
/// position), list without secrets, update, pause, delete; file subscriptions are read-only
/// except pause; API subscriptions survive a restart and match at once.
#[tokio::test]
async fn subscriptions_api_over_http() {
    let (base, rx) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let file_subs = format!("[[subscription]]\nid = \"from-file\"\nquery = \"topic:economy\"\nwebhook_url = \"{base}/file\"\n");
    let mut a = open_with(dir.path(), &file_subs, Some("t0ken")).await;
    let api = serve_api(&a).await;
    let http = reqwest::Client::new();
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth("t0ken");

    // Token required.
    let r = http.get(&api).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "unauthorized");
    let r = http.get(&api).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Create: a bad query is refused with its position.
    let r = auth(http.post(&api))
        .json(&json!({"id": "bad", "query": "topic:conflict AND (country:RU", "webhook_url": format!("{base}/x")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["code"], "invalid_subscription");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("at 30: expected ')'"),
        "{e}"
    );
    // An unknown field is named.
    let r = auth(http.post(&api))
        .json(&json!({"id": "bad", "query": "x", "webhok_url": "http://h/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("webhok_url"));

    let r = auth(http.post(&api))
        .json(&json!({"id": "ukraine", "query": "country:UA", "webhook_url": format!("{base}/ua"), "secret": "s", "since": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["source"], "api");
    assert_eq!(created["has_secret"], true);
    assert!(created.get("secret").is_none(), "secret leaked: {created}");
    // Same id again: conflict.
    let r = auth(http.post(&api))
        .json(&json!({"id": "ukraine", "query": "x", "file": "f"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // It matches at once.
    run(
        &mut a,
        &delivery(&story("ua-1", "Shelling", "conflict", "UA"), 1),
    )
    .await;
    assert_eq!(rx.on("ua").len(), 1);

    // List: both, file one read-only.
    let list: Value = auth(http.get(&api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["from-file", "ukraine"]);
    let r = auth(http.delete(format!("{api}/from-file")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // Pause: no alerts while paused; resume.
    let r = auth(http.post(format!("{api}/ukraine/pause")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["paused"], true);
    run(
        &mut a,
        &delivery(&story("ua-2", "More shelling", "conflict", "UA"), 2),
    )
    .await;
    assert_eq!(rx.on("ua").len(), 1);
    auth(http.post(format!("{api}/ukraine/resume")))
        .send()
        .await
        .unwrap();

    // Update: the new query applies.
    let r = auth(http.put(format!("{api}/ukraine")))
        .json(&json!({"query": "country:PL", "webhook_url": format!("{base}/ua"), "since": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    run(
        &mut a,
        &delivery(&story("ua-3", "Shelling again", "conflict", "UA"), 3),
    )
    .await;
    run(
        &mut a,
        &delivery(&story("pl-1", "Border", "conflict", "PL"), 4),
    )
    .await;
    let got: Vec<String> = rx
        .on("ua")
        .iter()
        .map(|r| serde_json::from_slice::<Alert>(&r.body).unwrap().story_id)
        .collect();
    assert_eq!(got, ["ua-1", "pl-1"]);

    // Survives a restart.
    a.close().await;
    drop(a);
    let a = open_with(dir.path(), &file_subs, Some("t0ken")).await;
    let ids: Vec<String> = a.subscriptions().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["from-file", "ukraine"]);
    let api = serve_api(&a).await;

    // Delete, then 404.
    let r = auth(http.delete(format!("{api}/ukraine")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = auth(http.get(format!("{api}/ukraine")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
}

#[tokio::test]
async fn api_is_disabled_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let a = open_with(dir.path(), "", None).await;
    let api = serve_api(&a).await;
    let r = reqwest::Client::new()
        .get(&api)
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "api_disabled");
}
