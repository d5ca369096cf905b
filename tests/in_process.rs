//! End to end, one process: `wirewatch run` (in-process bus, SQLite) against real feeds served
//! on 127.0.0.1:0 (corpus feeds, the seed article, and a second outlet syndicating it under a
//! tracking-parameter link) and a real webhook receiver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_whole_pipeline_in_one_process() {
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
    let port = free_port();
    let config = write_config(
        dir.path(),
        &feed_list,
        &hook.url(),
        &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let api = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("run.log");

    // The ids every feed item gets, per feed (the same normaliser as the fetcher).
    let mut all_ids = HashSet::new();
    for p in paths {
        let ids = inspect_ids(&feeds.url(p), &config);
        assert!(!ids.is_empty(), "{p} has no stories");
        all_ids.extend(ids);
    }
    let seed_id = inspect_ids(&feeds.url("/seed.xml"), &config)[0].clone();
    let synd_id = inspect_ids(&feeds.url("/syndicated.xml"), &config)[0].clone();

    let mut child = spawn(&["run"], &config, &[], &log);
    let _guard = KillOnPanic(child.id());
    let stats = wait_for(
        "every story stored or linked",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            let n = all_ids.len() as u64;
            async move { stored_or_linked(&api, n).await }
        },
    )
    .await;
    // Let the alerter finish with the last stories.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Every story stored exactly once: listed once, and each listed id is a real feed item.
    let list = get_json(&format!("{api}/api/stories?limit=500"))
        .await
        .unwrap();
    let listed: Vec<String> = list["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a story is listed twice");
    assert_eq!(listed.len() as u64, stats["stories"].as_u64().unwrap());
    assert!(listed.iter().all(|id| all_ids.contains(id)));
    // The seed and its syndicated copy arrive from two feeds polled concurrently: whichever
    // dedup sees first is the original, the other its duplicate.
    assert!(
        listed.contains(&seed_id) != listed.contains(&synd_id),
        "exactly one of the seed story and its syndicated copy must be stored"
    );
    let (seed_id, synd_id) = if listed.contains(&seed_id) {
        (seed_id, synd_id)
    } else {
        (synd_id, seed_id)
    };
    let seed = get_json(&format!("{api}/api/stories/{seed_id}"))
        .await
        .unwrap();
    let countries: HashSet<&str> = seed["countries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for c in ["UA", "RU", "TR", "US"] {
        assert!(
            countries.contains(c),
            "seed story lacks country {c}: {countries:?}"
        );
    }
    let topics: HashSet<&str> = seed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    for t in ["diplomacy", "conflict"] {
        assert!(topics.contains(t), "seed story lacks topic {t}: {topics:?}");
    }
    let dups = seed["duplicates"]
        .as_array()
        .expect("duplicates listed with the story");
    assert!(
        dups.iter().any(|d| d["story_id"] == synd_id.as_str()
            || d["id"] == synd_id.as_str()
            || d["story"]["id"] == synd_id.as_str()),
        "syndicated copy not linked to the seed story: {dups:?}"
    );

    // Full-text search finds it.
    let found = get_json(&format!(
        "{api}/api/stories?q=Istanbul%20Zelensky&country=UA"
    ))
    .await
    .unwrap();
    assert!(found["stories"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == seed_id.as_str()));

    // Exactly one alert for the seed story, none for its copy, no delivery id twice.
    let received = hook.received();
    let for_seed = received
        .iter()
        .filter(|r| r.body["story_id"] == seed_id.as_str())
        .count();
    assert_eq!(for_seed, 1, "alerts for the seed story: {received:?}");
    assert!(!received
        .iter()
        .any(|r| r.body["story_id"] == synd_id.as_str()));
    let ids: HashSet<_> = received.iter().map(|r| r.delivery_id.clone()).collect();
    assert_eq!(ids.len(), received.len(), "a delivery id was sent twice");
    let alerts_before = received.len();

    // Metrics of every stage are served.
    let metrics = get_text(&format!("{api}/metrics")).await.unwrap();
    for stage in ["fetcher", "dedup", "classifier", "alerter", "store"] {
        assert!(
            metrics.contains(&format!("stage=\"{stage}\"")),
            "no metrics for stage {stage}"
        );
    }
    assert!(
        metric_sum(
            &metrics,
            "wirewatch_stage_messages_processed_total",
            &["stage=\"store\"", "outcome=\"ok\""]
        ) > 0.0
    );
    assert!(
        metric_sum(
            &metrics,
            "wirewatch_dedup_verdicts_total",
            &["verdict=\"duplicate\""]
        ) >= 1.0
    );

    // Graceful shutdown: SIGINT drains and exits 0.
    let status = interrupt(&mut child, Duration::from_secs(30));
    assert!(
        status.success(),
        "wirewatch run exited with {status}; log: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Backtest a query over what was stored, and list the subscriptions (the process is
    // stopped; the tools read the same databases).
    let tool = |args: &[&str]| {
        let out = wirewatch_tool(args, &config);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let seed_title = list["stories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == seed_id.as_str())
        .map(|s| s["title"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let bt = tool(&[
        "subs",
        "test",
        "topic:conflict AND country:RU",
        "--since",
        "2000-01-01",
    ]);
    assert!(
        bt.lines()
            .any(|l| l.contains("ALERT") && !seed_title.is_empty() && l.contains(&seed_title)),
        "backtest does not show the seed story ({seed_title:?}) as an alert:\n{bt}"
    );
    assert!(bt.contains("would alert"), "{bt}");
    let bad = wirewatch_tool(&["subs", "test", "topic:conflict AND (country:RU"], &config);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected ')'"));
    let subs = tool(&["subs", "list"]);
    assert!(
        subs.contains("ru-conflict") && subs.contains("active"),
        "{subs}"
    );

    // Restart on the same data: the feeds are polled again, nothing is re-published,
    // nothing stored twice, no alert sent again.
    let hits_before: usize = feeds.hits.lock().unwrap().values().sum();
    let mut child = spawn(&["run"], &config, &[], &log);
    let _guard = KillOnPanic(child.id());
    wait_for(
        "feeds polled after restart",
        Duration::from_secs(60),
        || {
            let hits = feeds.hits.clone();
            async move {
                let h: usize = hits.lock().unwrap().values().sum();
                (h >= hits_before + paths.len()).then_some(())
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = get_json(&format!("{api}/api/stats")).await.unwrap();
    assert_eq!(after["stories"], stats["stories"]);
    assert_eq!(after["duplicates"], stats["duplicates"]);
    assert_eq!(
        hook.received().len(),
        alerts_before,
        "alerts sent again after restart"
    );
    let metrics = get_text(&format!("{api}/metrics")).await.unwrap();
    assert_eq!(
        metric_sum(&metrics, "wirewatch_fetcher_stories_published_total", &[]),
        0.0,
        "restart re-published stories"
    );
    let status = interrupt(&mut child, Duration::from_secs(30));
    assert!(status.success(), "second run exited with {status}");
}

/// kill -9 of `wirewatch run` after the alerter matched the seed story but before the
/// webhook took the alert (the receiver is down: the delivery is being retried), then a
/// restart with the receiver up: the alert arrives exactly once. A second kill -9 and restart
/// after the delivery sends nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_match_and_delivery_delivers_the_alert_exactly_once() {
    let feeds = FeedServer::start(scenario_feeds()).await;
    let dir = tempfile::tempdir().unwrap();
    let hook_port = free_port();
    let hook_url = format!("http://127.0.0.1:{hook_port}/hook");
    let port = free_port();
    let config = write_config(
        dir.path(),
        &[("seed", feeds.url("/seed.xml"))],
        &hook_url,
        &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    // Keep retrying the down receiver, quickly.
    let env = [
        ("WIREWATCH__ALERTER__MAX_ATTEMPTS", "1000".to_string()),
        ("WIREWATCH__ALERTER__RETRY_INITIAL_MS", "100".to_string()),
        ("WIREWATCH__ALERTER__RETRY_MAX_MS", "300".to_string()),
    ];
    // The webhook alone (a file channel would be written before the crash).
    std::fs::write(
        dir.path().join("subscriptions.toml"),
        format!("[[subscription]]\nid = \"ru-conflict\"\nquery = \"topic:conflict AND country:RU\"\nsince = \"all\"\nwebhook_url = \"{hook_url}\"\n"),
    )
    .unwrap();
    let api = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("run.log");
    let seed_id = inspect_ids(&feeds.url("/seed.xml"), &config)[0].clone();

    let mut child = spawn(&["run"], &config, &env, &log);
    let guard = KillOnPanic(child.id());
    wait_for(
        "the alert's delivery being retried (receiver down)",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            async move {
                let m = get_text(&format!("{api}/metrics")).await?;
                (metric_sum(
                    &m,
                    "wirewatch_alerter_deliveries_total",
                    &["channel=\"webhook\"", "result=\"retry\""],
                ) >= 1.0)
                    .then_some(())
            }
        },
    )
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(guard);

    let hook = Webhook::start_on(hook_port).await;
    let mut child = spawn(&["run"], &config, &env, &log);
    let guard = KillOnPanic(child.id());
    wait_for(
        "the alert delivered after the restart",
        Duration::from_secs(60),
        || {
            let n = hook.received().len();
            async move { (n >= 1).then_some(()) }
        },
    )
    .await;
    // Time for a duplicate to show up, if there were one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "alerts received: {got:?}");
    assert_eq!(got[0].body["story_id"], seed_id.as_str());
    assert_eq!(
        got[0].delivery_id.as_deref(),
        got[0].body["id"].as_str(),
        "delivery id is the alert id"
    );

    // Once more: kill -9 after the delivery, restart: nothing is sent again.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(guard);
    let hits_before: usize = feeds.hits.lock().unwrap().values().sum();
    let mut child = spawn(&["run"], &config, &env, &log);
    let _guard = KillOnPanic(child.id());
    wait_for("the feed polled again", Duration::from_secs(60), || {
        let hits = feeds.hits.clone();
        async move {
            let h: usize = hits.lock().unwrap().values().sum();
            (h > hits_before).then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.received().len(), 1, "the alert was sent again");
    let status = interrupt(&mut child, Duration::from_secs(30));
    assert!(status.success(), "last run exited with {status}");
}
