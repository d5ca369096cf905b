//! The alerter against a real webhook receiver on 127.0.0.1:0: exactly-once delivery per
//! (subscription, story) across reprocessing and restarts, retries, dead endpoints.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use wirewatch_alerter::deliver::signature;
use wirewatch_alerter::{Alerter, AlerterConfig};
use wirewatch_proto::v1::{Alert, DeadLetter};
use wirewatch_proto::Topic;
use wirewatch_runtime::stage::{ProcessError, Processor};

mod support;
use support::*;

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
    assert_eq!(alerter.subscriptions().len(), 6);

    let a = story(
        "story-a",
        "Peace talks resume in Istanbul",
        "conflict",
        "RU",
    );
    let b = story("story-b", "Markets rally on rate cut", "economy", "US");

    // Story A: signed, flaky, limited deliver; dead is dead-lettered; disabled stays silent.
    // Matching only queues: nothing is sent before the outbox is drained.
    let queued = alerter.process(&delivery(&a, 1)).await.unwrap();
    assert!(queued.is_empty());
    assert_eq!(alerter.outbox_len().await.unwrap(), 4);
    assert!(rx.on("ok").is_empty());
    let out = alerter.deliver_pending().await.unwrap();
    assert_eq!(alerter.outbox_len().await.unwrap(), 0);
    assert_eq!(count(&out, Topic::Alerts), 3);
    assert_eq!(count(&out, Topic::DeadLetter), 1);
    assert_eq!(alerted(&out), ["flaky", "limited", "signed"]);
    let signed_alert = alerts(&out)
        .into_iter()
        .find(|a| a.subscription_id == "signed")
        .unwrap();
    assert_eq!(signed_alert.id, Alert::make_id("signed", "story-a"));
    assert_eq!(signed_alert.channels, ["file", "webhook"]);
    assert_eq!(signed_alert.topics, ["conflict"]);
    assert!(signed_alert.fetched_at.is_some());

    let dl: DeadLetter = out
        .iter()
        .find(|r| r.topic == Topic::DeadLetter)
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .unwrap();
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
    let out = run(&mut alerter, &delivery(&b, 2)).await;
    assert_eq!(topics(&out), [Topic::Alerts]);
    assert_eq!(alerts(&out)[0].subscription_id, "markets");
    assert_eq!(rx.on("ok").len(), 2);

    // Story A again (a redelivery): no new POSTs; the alert events of the delivered pairs are
    // published again (same ids) for the store; the dead endpoint's alert, dead-lettered
    // already, is not tried again.
    let out = run(&mut alerter, &delivery(&a, 1)).await;
    assert_eq!(topics(&out), [Topic::Alerts, Topic::Alerts, Topic::Alerts]);
    let again = alerts(&out)
        .into_iter()
        .find(|a| a.subscription_id == "signed")
        .unwrap();
    assert_eq!(again, signed_alert);
    assert_eq!(rx.on("ok").len(), 2);
    assert_eq!(rx.on("flaky").len(), 2);
    assert_eq!(rx.on("limited").len(), 2);
    assert_eq!(rx.on("dead").len(), 0);

    // After a restart on the same data dir: still nothing delivered twice.
    alerter.close().await;
    drop(alerter);
    let mut alerter = Alerter::open(&cfg, &data, "t").await.unwrap();
    run(&mut alerter, &delivery(&a, 1)).await;
    run(&mut alerter, &delivery(&b, 2)).await;
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
            >= 1
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

    let out = run(&mut alerter, &delivery(&first, 1)).await;
    assert_eq!(alerted(&out), ["per-cluster", "per-story"]);
    // The first story again (a redelivery) does not grow the cluster.
    run(&mut alerter, &delivery(&first, 1)).await;
    let out = run(&mut alerter, &delivery(&second, 2)).await;
    let subs = alerted(&out);
    assert_eq!(
        subs,
        ["per-story"],
        "second story of the cluster: per-story only"
    );
    assert_eq!(suppressed() - before, 1);
    let out = run(&mut alerter, &delivery(&third, 3)).await;
    assert_eq!(
        alerted(&out),
        ["big-clusters", "per-story"],
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
    run(&mut alerter, &delivery(&fourth, 4)).await;
    assert_eq!(rx.on("cluster").len(), 1);
    assert_eq!(rx.on("big").len(), 1);
    assert_eq!(rx.on("story").len(), 4);
}
