//! Fetch → webhook latency over Kafka (a plain binary, `harness = false`): the five stages as
//! their own processes (`wirewatch serve <stage>`) on a real broker, a feed on 127.0.0.1 that
//! gains new stories at a steady rate, and a webhook receiver on 127.0.0.1 that notes when
//! each alert arrives. Latency = arrival − the story's `fetched_at` (carried on the alert), so
//! the poll interval is excluded, as the issue asks. Results go to BENCHMARKS.md.
//!
//! ```text
//! scripts/broker.sh start 19092
//! WIREWATCH_BENCH_KAFKA=127.0.0.1:19092 cargo bench -p wirewatch --bench alert_latency
//! ```
//!
//! `WIREWATCH_BENCH_STORIES` (default 300) stories are added at `WIREWATCH_BENCH_RATE`
//! (default 5) per second; the feed is polled every second. `WIREWATCH_BENCH_LIBRDKAFKA`
//! (`key=value,key=value`) adds librdkafka options to every producer and consumer, to compare
//! settings (e.g. `fetch.wait.max.ms=10`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use support::*;

const STAGES: [&str; 5] = ["store", "alerter", "classifier", "dedup", "fetcher"];

/// Stories on the feed: (guid, title, text, published).
type Items = Arc<Mutex<Vec<(u64, String, String, DateTime<Utc>)>>>;

/// A deterministic pseudo-word generator, so every story is textually distinct (dedup would
/// otherwise group them).
struct Words(u64);
impl Words {
    fn word(&mut self) -> String {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let mut x = self.0;
        let n = 4 + (x % 6) as usize;
        (0..n)
            .map(|_| {
                x /= 7;
                (b'a' + (x % 26) as u8) as char
            })
            .collect()
    }
    fn text(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

async fn feed(
    State(items): State<Items>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let items = items.lock().unwrap();
    let mut xml = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>bench</title><link>http://bench.example/</link><description>d</description>",
    );
    for (id, title, text, at) in items.iter().rev().take(50) {
        xml.push_str(&format!(
            "<item><guid>urn:bench:{id}</guid><link>http://bench.example/s/{id}</link><title>{title}</title><description>{text}</description><pubDate>{}</pubDate></item>",
            at.to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    (
        StatusCode::OK,
        [("content-type", "application/rss+xml")],
        xml,
    )
}

/// (arrival, alert body) of each webhook POST.
type Arrivals = Arc<Mutex<Vec<(DateTime<Utc>, serde_json::Value)>>>;

async fn hook(State(got): State<Arrivals>, body: axum::body::Bytes) -> StatusCode {
    let now = Utc::now();
    let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    got.lock().unwrap().push((now, v));
    StatusCode::OK
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(bootstrap) = std::env::var("WIREWATCH_BENCH_KAFKA") else {
        println!("alert_latency: SKIPPED — set WIREWATCH_BENCH_KAFKA=<host:port> (scripts/broker.sh start 19092)");
        return;
    };
    let total: u64 = std::env::var("WIREWATCH_BENCH_STORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rate: f64 = std::env::var("WIREWATCH_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);

    let items: Items = Arc::default();
    let app = Router::new()
        .route("/feed.xml", get(feed))
        .with_state(items.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed_url = format!("http://{}/feed.xml", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let arrivals: Arrivals = Arc::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(arrivals.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });

    let extra: String = std::env::var("WIREWATCH_BENCH_LIBRDKAFKA")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| format!("\"{}\" = \"{}\"\n", k.trim(), v.trim()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_name("bench");
    let config = write_config(
        dir.path(),
        &[("bench", feed_url.clone())],
        &hook_url,
        &format!(
            "[bus]\ntopic_prefix = \"{prefix}\"\n\n[bus.kafka]\nbootstrap_servers = \"{bootstrap}\"\ngroup_prefix = \"{}\"\npartitions = 3\n\n[bus.kafka.librdkafka]\n{extra}",
            unique_name("g")
        ),
    );
    std::fs::write(
        dir.path().join("feeds.toml"),
        format!("[[feeds]]\nid = \"bench\"\nurl = \"{feed_url}\"\ninterval_secs = 1\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("subscriptions.toml"),
        format!("[[subscription]]\nid = \"bench\"\nquery = \"benchmarkword\"\nsince = \"all\"\ncluster = \"every\"\nwebhook_url = \"{hook_url}\"\n"),
    )
    .unwrap();
    let out = wirewatch_tool(&["topics", "create"], &config);
    assert!(
        out.status.success(),
        "topics create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut svc = Services::default();
    for s in STAGES {
        svc.start(s, &config, dir.path());
    }

    let mut words = Words(0x9e37_79b9_7f4a_7c15);
    let mut add = |id: u64| {
        let title = format!("benchmarkword {}", words.text(8));
        let text = words.text(60);
        items.lock().unwrap().push((id, title, text, Utc::now()));
    };
    // Warm-up: the first alert proves every stage is up.
    add(0);
    let started = Instant::now();
    while arrivals.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no alert within 120 s; logs in {}",
            dir.path().display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "warm-up alert after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let every = Duration::from_secs_f64(1.0 / rate);
    let t0 = Instant::now();
    for i in 1..=total {
        add(i);
        let next = t0 + every * i as u32;
        tokio::time::sleep_until(next.into()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (arrivals.lock().unwrap().len() as u64) < total + 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = arrivals.lock().unwrap().clone();
    let mut lat: Vec<f64> = got
        .iter()
        .skip(1)
        .filter_map(|(at, v)| {
            let f: DateTime<Utc> = v["fetched_at"].as_str()?.parse().ok()?;
            Some((*at - f).num_microseconds()? as f64 / 1000.0)
        })
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "fetch → webhook over Kafka{}: {} of {total} stories alerted, {rate}/s for {:.0} s; latency ms p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1} (load average {})",
        if extra.is_empty() { String::new() } else { format!(" ({})", extra.trim().replace('\n', ", ")) },
        lat.len(),
        total as f64 / rate,
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    drop(svc);
}
