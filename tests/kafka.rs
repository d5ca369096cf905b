//! End to end over a real Kafka-protocol broker: each of the five stages as its own OS
//! process (`wirewatch serve <stage>`), random topic and group names, a poison message on the
//! raw topic, and a `kill -9` of a stage mid-stream followed by a restart: nothing lost,
//! nothing stored twice, no alert sent twice.
//!
//! Needs `WIREWATCH_TEST_KAFKA=<host:port>` (scripts/test.sh starts a broker and sets it).
//! Without it the test says so loudly and returns; under CI (`CI` set) it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use support::*;

const STAGES: [&str; 5] = ["store", "alerter", "classifier", "dedup", "fetcher"];

/// The whole scenario over Kafka, every stage its own process, no crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_services_over_kafka() {
    let Some(bootstrap) = kafka_broker("Kafka end-to-end test") else {
        return;
    };
    scenario(bootstrap, None).await;
}

/// The same with a `kill -9` of the classifier mid-stream and a restart: nothing lost, nothing
/// stored twice, no alert sent twice. (It caught the run-loop storing `offset + 1` on top of
/// rdkafka's own `+ 1`, which skipped a message per partition on every restart.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_services_over_kafka_survive_kill_9() {
    let Some(bootstrap) = kafka_broker("Kafka kill -9 end-to-end test") else {
        return;
    };
    scenario(bootstrap, Some("classifier")).await;
}

/// The same with a `kill -9` of dedup mid-stream: its state (identity keys, signatures,
/// verdicts) survives, so no duplicate gets through and the syndicated copy is still linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_services_over_kafka_survive_kill_9_of_dedup() {
    let Some(bootstrap) = kafka_broker("Kafka kill -9 of dedup end-to-end test") else {
        return;
    };
    scenario(bootstrap, Some("dedup")).await;
}

/// `kill`: the stage to `kill -9` once it has processed a message, then restart.
async fn scenario(bootstrap: String, kill: Option<&'static str>) {
    let prefix = unique_name("t");
    let feeds = FeedServer::start(scenario_feeds()).await;
    let hook = Webhook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let paths = [
        "/seed.xml",
        "/syndicated.xml",
        "/guardian.rss",
        "/heise.atom",
        "/uol.rss",
    ];
    let feed_list: Vec<(&str, String)> = paths
        .iter()
        .map(|p| {
            (
                p.trim_start_matches('/').split('.').next().unwrap(),
                feeds.url(p),
            )
        })
        .collect();
    let config = write_config(
        dir.path(),
        &feed_list,
        &hook.url(),
        &format!(
            "[bus]\ntopic_prefix = \"{prefix}\"\nretry_initial_ms = 100\nretry_max_ms = 2000\n\n[bus.kafka]\nbootstrap_servers = \"{bootstrap}\"\ngroup_prefix = \"{}\"\nsession_timeout_ms = 6000\ncommit_interval_ms = 200\npartitions = 3\n",
            unique_name("g")
        ),
    );
    let mut all_ids = HashSet::new();
    for p in paths {
        all_ids.extend(inspect_ids(&feeds.url(p), &config));
    }
    let seed_id = inspect_ids(&feeds.url("/seed.xml"), &config)[0].clone();
    let synd_id = inspect_ids(&feeds.url("/syndicated.xml"), &config)[0].clone();

    // Topics first, as an operator would.
    let out = wirewatch_tool(&["topics", "create"], &config);
    assert!(
        out.status.success(),
        "topics create: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&format!("{prefix}.stories.raw.v1")),
        "{listed}"
    );

    // A poison message waits on the raw topic before anything runs.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&format!("{prefix}.stories.raw.v1"))
                .key("poison")
                .payload("{this is not a story"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();

    let mut svc = Services::default();
    for stage in STAGES {
        svc.start(stage, &config, dir.path());
    }
    let log = |stage: &str| {
        std::fs::read_to_string(dir.path().join(format!("{stage}.log"))).unwrap_or_default()
    };

    // kill -9 the victim once it has processed something, then restart it.
    if let Some(victim_stage) = kill {
        let processed_at_kill = wait_for("victim processing", Duration::from_secs(90), || {
            let url = svc.url(victim_stage, "/metrics");
            async move {
                let m = get_text(&url).await?;
                let n = metric_sum(
                    &m,
                    "wirewatch_stage_messages_processed_total",
                    &[&format!("stage=\"{victim_stage}\"")],
                );
                (n >= 1.0).then_some(n)
            }
        })
        .await;
        let mut victim = svc.children.remove(victim_stage).unwrap();
        victim.kill().unwrap(); // SIGKILL
        victim.wait().unwrap();
        let stored_at_kill = get_json(&svc.url("store", "/api/stats")).await;
        eprintln!("killed {victim_stage} after {processed_at_kill} messages; store then: {stored_at_kill:?}; expected total {}", all_ids.len());
        svc.start(victim_stage, &config, dir.path());
    }

    let n = all_ids.len() as u64;
    let stats_url = svc.url("store", "/api/stats");
    let tails = || {
        STAGES
            .iter()
            .map(|s| {
                let l = log(s);
                let tail: Vec<&str> = l.lines().rev().take(120).collect();
                let metrics = get_blocking(svc.ports[s], "/metrics");
                let bus: Vec<&str> = metrics
                    .lines()
                    .filter(|l| {
                        l.starts_with("wirewatch_bus_messages")
                            || l.starts_with("wirewatch_stage_messages")
                    })
                    .collect();
                let extra = if *s == "store" {
                    get_blocking(svc.ports[s], "/api/stats")
                } else {
                    String::new()
                };
                format!(
                    "{extra}\n--- {s}.log (last lines, newest first)\n{}\n--- {s} metrics\n{}",
                    tail.join("\n"),
                    bus.join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let stats = wait_for_or(
        "every story stored or linked",
        Duration::from_secs(120),
        || {
            let api = svc.url("store", "");
            async move { stored_or_linked(&api, n).await }
        },
        tails,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Nothing lost, nothing stored twice.
    let list = get_json(&svc.url("store", "/api/stories?limit=500"))
        .await
        .unwrap();
    let listed: Vec<&str> = list["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let unique: HashSet<&&str> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a story is listed twice");
    assert_eq!(listed.len() as u64, stats["stories"].as_u64().unwrap());
    // Whichever of the seed and its syndicated copy dedup saw first is the original.
    assert!(
        listed.contains(&seed_id.as_str()) != listed.contains(&synd_id.as_str()),
        "exactly one of the seed story and its syndicated copy must be stored"
    );
    let seed_id = if listed.contains(&seed_id.as_str()) {
        seed_id.clone()
    } else {
        synd_id.clone()
    };

    let seed = get_json(&svc.url("store", &format!("/api/stories/{seed_id}")))
        .await
        .unwrap();
    let countries: HashSet<&str> = seed["countries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for c in ["UA", "RU", "TR", "US"] {
        assert!(countries.contains(c), "seed lacks {c}: {countries:?}");
    }

    // No alert sent twice; exactly one for the seed story.
    let received = hook.received();
    let ids: HashSet<_> = received.iter().map(|r| r.delivery_id.clone()).collect();
    assert_eq!(
        ids.len(),
        received.len(),
        "an alert was delivered twice: {received:?}"
    );
    assert_eq!(
        received
            .iter()
            .filter(|r| r.body["story_id"] == seed_id.as_str())
            .count(),
        1
    );

    // The poison message reached the dead-letter topic (stored by the store) and dedup went on.
    let dl = wait_for("dead letter stored", Duration::from_secs(30), || {
        let url = stats_url.clone();
        async move {
            let s = get_json(&url).await?;
            (s["dead_letters"].as_u64()? >= 1).then_some(s)
        }
    })
    .await;
    assert!(dl["dead_letters"].as_u64().unwrap() >= 1);

    // Each service's /metrics carries its stage's counters; /readyz sees the broker.
    for (stage, metric) in [
        ("fetcher", "wirewatch_fetcher_fetches_total"),
        ("dedup", "wirewatch_dedup_verdicts_total"),
        ("classifier", "wirewatch_classifier_stories_total"),
        ("alerter", "wirewatch_alerter_matches_total"),
        ("store", "wirewatch_store_writes_total"),
    ] {
        let m = get_text(&svc.url(stage, "/metrics"))
            .await
            .unwrap_or_default();
        assert!(
            metric_sum(&m, metric, &[]) > 0.0,
            "{stage}: {metric} missing or zero\n{}",
            log(stage)
        );
        let ready = reqwest::get(svc.url(stage, "/readyz")).await.unwrap();
        assert!(ready.status().is_success(), "{stage} not ready");
    }
    // The poison message was dead-lettered (by a killed dedup, perhaps: then the count is
    // in the store, not in the new process's metrics).
    let m = get_text(&svc.url("dedup", "/metrics")).await.unwrap();
    let stats = get_json(&stats_url).await.unwrap_or_default();
    assert!(
        metric_sum(
            &m,
            "wirewatch_stage_deadletters_total",
            &["stage=\"dedup\""]
        ) >= 1.0
            || (kill == Some("dedup") && stats["dead_letters"].as_u64().unwrap_or(0) >= 1),
        "the poison message was not dead-lettered: {stats}"
    );

    // Graceful stop of every service: exit 0.
    for stage in ["fetcher", "dedup", "classifier", "alerter", "store"] {
        let mut c = svc.children.remove(stage).unwrap();
        let status = interrupt(&mut c, Duration::from_secs(30));
        assert!(
            status.success(),
            "{stage} exited with {status}\n{}",
            log(stage)
        );
    }
}
