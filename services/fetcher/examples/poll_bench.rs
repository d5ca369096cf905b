//! Poll-rate benchmark of the fetcher (results in docs/bench/fetcher.md and BENCHMARKS.md).
//!
//! A feed server on every loopback address (`0.0.0.0:port`, reached as `127.0.x.y`, so each
//! feed can be its own host) answers conditional GETs: 304 when the `If-None-Match` matches,
//! otherwise 200 with a small RSS document and a new `ETag`; a share of the requests (`--change`)
//! get a new item. Two runs over the same URLs, same run of the program:
//!
//! - **raw**: a bare reqwest loop issuing the same conditional GETs, `--concurrency` at once;
//! - **fetcher**: `wirewatch_fetcher::run` (scheduler, per-host gate, state in SQLite, the
//!   in-process bus) with `max_concurrent_fetches = --concurrency`, every feed due every
//!   second, politeness on (2 per host, 1 s spacing: one feed per host here, so it never binds).
//!
//! The polls per second of each are counted over the same window after a warm-up. `memory`
//! mode registers `--feeds` feeds polled every 15 minutes and reports the process's resident
//! memory with them against without them.
//!
//! ```text
//! cargo run --release -p wirewatch-fetcher --example poll_bench -- rate --feeds 10000 --secs 20
//! cargo run --release -p wirewatch-fetcher --example poll_bench -- memory --feeds 100000 --hosts 1000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use wirewatch_fetcher::FetcherConfig;
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::memory::MemoryBus;
use wirewatch_runtime::bus::{SharedPublisher, Subscriber};
use wirewatch_runtime::stage::LoopOptions;
use wirewatch_runtime::CancellationToken;

struct Server {
    /// Current version of each feed.
    versions: Mutex<HashMap<u32, u32>>,
    /// One request in `change_every` gets a new item.
    change_every: u64,
    requests: AtomicU64,
}

async fn feed(State(s): State<Arc<Server>>, Path(id): Path<u32>, headers: HeaderMap) -> Response {
    let n = s.requests.fetch_add(1, Ordering::Relaxed);
    let version = {
        let mut v = s.versions.lock().unwrap();
        let e = v.entry(id).or_insert(1);
        if s.change_every > 0 && n % s.change_every == 0 {
            *e += 1;
        }
        *e
    };
    let etag = format!("\"{id}-{version}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let body = format!(
        "<rss version=\"2.0\"><channel><title>f{id}</title><link>http://f{id}.example/</link><description>d</description><item><guid>urn:f{id}:{version}</guid><title>Story {version} of feed {id}</title><link>http://f{id}.example/{version}</link><description>Text of story {version}.</description><pubDate>Mon, 02 Jun 2025 10:00:00 GMT</pubDate></item></channel></rss>"
    );
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/rss+xml".to_string()),
        ],
        body,
    )
        .into_response()
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Feed `i`'s URL on host `i % hosts`: a loopback address (127.0.x.y) per host.
fn url(port: u16, i: u64, hosts: u64) -> String {
    let h = i % hosts.max(1) + 1;
    format!(
        "http://127.{}.{}.{}:{port}/f/{i}",
        (h >> 16) & 255,
        (h >> 8) & 255,
        (h & 255).max(1)
    )
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("read /proc/self/status (out of file descriptors?)")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn fetches_total() -> f64 {
    wirewatch_runtime::metrics::render()
        .lines()
        .filter(|l| l.starts_with("wirewatch_fetcher_fetches_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn raw(urls: &[String], concurrency: usize, secs: u64) -> f64 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let etags: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let done = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(2 + secs);
    let measure_from = Instant::now() + Duration::from_secs(2);
    let counted = Arc::new(AtomicU64::new(0));
    let n = urls.len();
    let next = Arc::new(AtomicU64::new(0));
    futures::stream::iter(0..concurrency)
        .for_each_concurrent(concurrency, |_| {
            let (client, etags, done, counted, next) = (
                client.clone(),
                etags.clone(),
                done.clone(),
                counted.clone(),
                next.clone(),
            );
            async move {
                while Instant::now() < stop_at {
                    let i = (next.fetch_add(1, Ordering::Relaxed) as usize) % n;
                    let mut req = client.get(&urls[i]);
                    if let Some(e) = etags.lock().unwrap().get(&i) {
                        req = req.header(header::IF_NONE_MATCH, e.clone());
                    }
                    let Ok(resp) = req.send().await else { continue };
                    if let Some(e) = resp
                        .headers()
                        .get(header::ETAG)
                        .and_then(|v| v.to_str().ok())
                    {
                        etags.lock().unwrap().insert(i, e.to_string());
                    }
                    let _ = resp.bytes().await;
                    done.fetch_add(1, Ordering::Relaxed);
                    if Instant::now() >= measure_from {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .await;
    counted.load(Ordering::Relaxed) as f64 / secs as f64
}

async fn fetcher(urls: &[String], concurrency: usize, secs: u64, interval: u64) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.toml");
    let mut text = String::with_capacity(urls.len() * 64);
    for (i, u) in urls.iter().enumerate() {
        text.push_str(&format!("[[feeds]]\nid = \"f{i}\"\nurl = \"{u}\"\n"));
    }
    std::fs::write(&feeds, text).unwrap();
    let cfg = FetcherConfig {
        feeds_file: feeds,
        interval_secs: interval,
        adaptive_interval: false,
        max_concurrent_fetches: concurrency,
        allow_private_addresses: true,
        ..FetcherConfig::default()
    };
    let bus = MemoryBus::new("bench", 65_536);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let publisher: SharedPublisher = Arc::new(bus.publisher("fetcher"));
    let stop = CancellationToken::new();
    let drain_stop = stop.clone();
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = sub.next(&drain_stop).await {} });
    let opts = LoopOptions {
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(100),
        max_in_flight: 256,
    };
    let data = dir.path().join("data");
    let (s2, d2) = (stop.clone(), data.clone());
    let task =
        tokio::spawn(async move { wirewatch_fetcher::run(cfg, &d2, publisher, opts, s2).await });
    // Warm-up: every feed registered and polled once.
    let started = Instant::now();
    while fetches_total() < urls.len() as f64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            started.elapsed() < Duration::from_secs(1_200),
            "feeds not polled within 20 min"
        );
    }
    println!(
        "  fetcher: {} feeds registered and polled once in {:.1} s",
        urls.len(),
        started.elapsed().as_secs_f64()
    );
    let rss = rss_kb();
    let before = fetches_total();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let polls = (fetches_total() - before) / secs as f64;
    stop.cancel();
    task.await.unwrap().unwrap();
    drain.await.unwrap();
    (polls, rss)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_else(|| "rate".into());
    let feeds = arg(&args, "--feeds", 10_000);
    let secs = arg(&args, "--secs", 20);
    let concurrency = arg(&args, "--concurrency", 64) as usize;
    let change = arg(&args, "--change", 20);
    wirewatch_fetcher::metrics::touch();
    let server = Arc::new(Server {
        versions: Mutex::default(),
        change_every: change,
        requests: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/f/{id}", get(feed))
        .with_state(server.clone());
    let l = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    // Memory mode: 100 feeds per host by default (100,000 distinct hosts would need a new
    // connection per poll and run out of ephemeral ports on loopback).
    let hosts = arg(
        &args,
        "--hosts",
        if mode == "memory" {
            (feeds / 100).max(1)
        } else {
            feeds
        },
    );
    let urls: Vec<String> = (0..feeds).map(|i| url(port, i, hosts)).collect();
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    match mode.as_str() {
        "memory" => {
            let base = rss_kb();
            let (_, rss) = fetcher(&urls, concurrency, 2, 900).await;
            println!(
                "memory: {feeds} feeds on {hosts} hosts (polled every 15 min): resident {:.1} MB with them, {:.1} MB before = {:.0} bytes per feed (load {})",
                rss as f64 / 1024.0,
                base as f64 / 1024.0,
                (rss.saturating_sub(base) as f64 * 1024.0) / feeds as f64,
                load()
            );
        }
        _ => {
            let r = raw(&urls, concurrency, secs).await;
            println!("  raw reqwest loop: {r:.0} conditional GETs/s");
            let (f, _) = fetcher(&urls, concurrency, secs, 1).await;
            println!(
                "rate: {feeds} feeds, one host each, {concurrency} in flight, 1 in {change} requests changed: fetcher {f:.0} polls/s vs raw {r:.0} GETs/s = {:.2}x (load {})",
                f / r,
                load()
            );
        }
    }
}
