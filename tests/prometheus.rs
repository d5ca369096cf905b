//! A real Prometheus scraping a real `wirewatch run`.
//!
//! Starts `wirewatch run` against feeds on 127.0.0.1 (the seed article, a syndicated copy of
//! it, and a feed that answers 404), then Prometheus on a free loopback port with its own
//! config scraping the run every second and loading the shipped rules
//! (`deploy/prometheus/rules/*.yml`). Through Prometheus's HTTP API it asserts that the target
//! is up, that the key series have the values the input implies, that every shipped rule
//! evaluates without error, that every query of the Grafana dashboard is valid, that the
//! failing feed makes its alert pending, and that nothing fires.
//!
//! Needs `WIREWATCH_TEST_PROMETHEUS=<path to the prometheus binary>` (`scripts/prometheus.sh`
//! installs Debian's package and prints it). Without it the test says so loudly and returns;
//! under CI (`CI` set) it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::*;

fn start_prometheus(bin: &Path, dir: &Path, target: &str, port: u16) -> Child {
    let rules = root().join("deploy/prometheus/rules");
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}/*.yml\nscrape_configs:\n  - job_name: wirewatch\n    static_configs:\n      - targets: ['{target}']\n        labels: {{ service: run }}\n",
        rules.display()
    );
    let cfg_path = dir.join("prometheus.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    Command::new(bin)
        .arg(format!("--config.file={}", cfg_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// An instant query; the samples as (labels, value).
async fn query(prom: &str, q: &str) -> Option<Vec<(serde_json::Value, f64)>> {
    let r = reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = r.json().await.ok()?;
    if v["status"] != "success" {
        panic!("query {q} failed: {v}");
    }
    v["data"]["result"]
        .as_array()?
        .iter()
        .map(|s| {
            let val = s["value"][1].as_str()?.parse().ok()?;
            Some((s["metric"].clone(), val))
        })
        .collect()
}

/// Wait until `q` gives exactly one sample with value `want`.
async fn expect_value(prom: &str, q: &str, want: f64) {
    let mut last = None;
    let res = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let got = query(prom, q).await;
            if let Some(samples) = &got {
                if samples.len() == 1 && samples[0].1 == want {
                    return;
                }
            }
            last = got;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert!(res.is_ok(), "{q}: want {want}, last answer {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_run_and_evaluates_the_shipped_rules() {
    let Some(bin) = required_service(
        "WIREWATCH_TEST_PROMETHEUS",
        "real-Prometheus test",
        "run: export WIREWATCH_TEST_PROMETHEUS=\"$(scripts/prometheus.sh path)\"",
    )
    .map(PathBuf::from) else {
        return;
    };
    let feeds = FeedServer::start(scenario_feeds()).await;
    let hook = Webhook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let feed_list = vec![
        ("seed", feeds.url("/seed.xml")),
        ("syndicated", feeds.url("/syndicated.xml")),
        ("missing", feeds.url("/missing.xml")),
    ];
    let port = free_port();
    let config = write_config(
        dir.path(),
        &feed_list,
        &hook.url(),
        &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let mut guard = Children(vec![spawn(
        &["run"],
        &config,
        &[],
        &dir.path().join("run.log"),
    )]);
    let api = format!("http://127.0.0.1:{port}");
    // Known input: two stories, one a copy of the other; the seed matches the subscription.
    wait_for(
        "both stories stored or linked",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            let n = 2_u64;
            async move { stored_or_linked(&api, n).await.map(|_| ()) }
        },
    )
    .await;
    wait_for("the seed story's alert", Duration::from_secs(30), || {
        let hook = &hook;
        async move { (!hook.received().is_empty()).then_some(()) }
    })
    .await;

    let pport = free_port();
    guard.0.push(start_prometheus(
        &bin,
        dir.path(),
        &format!("127.0.0.1:{port}"),
        pport,
    ));
    let prom = format!("http://127.0.0.1:{pport}");
    wait_for("prometheus ready", Duration::from_secs(60), || {
        let url = format!("{prom}/-/ready");
        async move {
            let r = reqwest::get(&url).await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;

    // The target is up.
    let target = wait_for("the wirewatch target up", Duration::from_secs(60), || {
        let url = format!("{prom}/api/v1/targets");
        async move {
            let v = get_json(&url).await?;
            let t = v["data"]["activeTargets"].as_array()?.first()?.clone();
            (t["health"] == "up").then_some(t)
        }
    })
    .await;
    assert_eq!(target["labels"]["job"], "wirewatch");
    assert_eq!(target["labels"]["service"], "run");
    expect_value(&prom, r#"up{job="wirewatch"}"#, 1.0).await;

    // Key series, as the input implies.
    expect_value(&prom, "sum(wirewatch_fetcher_stories_published_total)", 2.0).await;
    expect_value(
        &prom,
        r#"sum(wirewatch_dedup_verdicts_total{verdict="duplicate"})"#,
        1.0,
    )
    .await;
    expect_value(
        &prom,
        r#"sum(wirewatch_dedup_verdicts_total{verdict="unique"})"#,
        1.0,
    )
    .await;
    expect_value(&prom, "sum(wirewatch_store_stories)", 1.0).await;
    expect_value(
        &prom,
        r#"sum(wirewatch_alerter_deliveries_total{channel="webhook",result="ok"})"#,
        1.0,
    )
    .await;
    expect_value(
        &prom,
        r#"sum(wirewatch_pipeline_latency_seconds_count{milestone="alerted"})"#,
        1.0,
    )
    .await;
    expect_value(&prom, r#"wirewatch_fetcher_feeds{status="failing"}"#, 1.0).await;
    expect_value(&prom, r#"wirewatch_fetcher_feeds{status="healthy"}"#, 2.0).await;
    expect_value(&prom, "sum(wirewatch_stage_deadletters_total)", 0.0).await;
    expect_value(&prom, "count(wirewatch_stage_up == 1)", 4.0).await;
    expect_value(&prom, "sum(wirewatch_build_info)", 1.0).await;
    expect_value(&prom, "count(process_resident_memory_bytes > 0)", 1.0).await;
    // A recording rule evaluated on the real series.
    expect_value(&prom, "count(wirewatch:stage_messages:rate5m)", 8.0).await;

    // Every shipped rule loaded and evaluates without error.
    let rules = wait_for("rules evaluated", Duration::from_secs(30), || {
        let url = format!("{prom}/api/v1/rules");
        async move {
            let v = get_json(&url).await?;
            let groups = v["data"]["groups"].as_array()?.clone();
            let all: Vec<serde_json::Value> = groups
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            all.iter()
                .all(|r| {
                    r["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001"))
                })
                .then_some((groups.len(), all))
        }
    })
    .await;
    let (groups, all) = rules;
    assert_eq!(groups, 5, "rule groups loaded");
    assert!(all.len() >= 20, "rules loaded: {}", all.len());
    for r in &all {
        assert_eq!(
            r["health"], "ok",
            "rule {} does not evaluate: {}",
            r["name"], r
        );
    }
    // Every query of the Grafana dashboard is valid PromQL for this Prometheus.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/wirewatch.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().unwrap();
            assert!(
                query(&prom, e).await.is_some(),
                "dashboard panel {}: no answer for {e}",
                panel["title"]
            );
            exprs += 1;
        }
    }
    assert!(exprs >= 25, "dashboard queries checked: {exprs}");
    // The failing feed of the input makes its alert pending (it fires after an hour).
    expect_value(
        &prom,
        r#"count(ALERTS{alertname="WirewatchFeedsFailing",alertstate="pending",status="failing"})"#,
        1.0,
    )
    .await;
    // A healthy run fires nothing.
    let firing = query(&prom, r#"ALERTS{alertstate="firing"}"#)
        .await
        .unwrap();
    assert!(
        firing.is_empty(),
        "alerts firing on a healthy run: {firing:?}"
    );
    drop(guard);
}
