//! Poll-rate benchmark of the fetcher (results in docs/bench/fetcher.md and BENCHMARKS.md).
//!
//! A feed server on every loopback address (`0.0.0.0:port`, reached as `127.x.y.z`, so each
//! feed can be its own host; this binary in `serve` mode, its own process) answers conditional
//! GETs: 304 when the `If-None-Match` matches,
//! otherwise 200 with a small RSS document (the feed's newest 5 stories) and a new `ETag`; a
//! share of the requests (`--change`) get a new story. Two runs over the same URLs, same run of the program:
//!
//! - **raw**: a bare reqwest loop issuing the same conditional GETs, `--concurrency` at once;
//! - **fetcher**: `wirewatch_fetcher::run` (scheduler, per-host gate, state in SQLite, the
//!   in-process bus) with `max_concurrent_fetches = --concurrency`, every feed due every
//!   second, politeness on (2 per host, 1 s spacing: one feed per host here, so it never binds),
//!   on a clock running `--speed` times faster (default 4: see [`FastClock`]).
//!
//! `clients` mode runs only the raw loop, with the bare client and with the fetcher's own
//! (`wirewatch_fetcher::http::client`), alternating: what the client's settings cost.
//! The polls per second of each are counted over the same window after a warm-up. Each
//! round runs raw, fetcher, raw again (the fetcher is compared with the mean of the two
//! raws: the machine's speed drifts); `--rounds` rounds (default 3), the median reported. `memory`
//! mode registers `--feeds` feeds polled every 15 minutes and reports the process's resident
//! memory with them against without them.
//!
//! `--fresh-connections`: both clients open a new connection for every request (the raw
//! loop's pool keeps no idle connection, the fetcher runs with `keep_alive_secs = 0`): the
//! production case of feeds on many hosts, each polled every few minutes, and the regime of
//! the issue's reference numbers (11–14k new-connection 304s per second). Without it both keep
//! connections alive.
//!
//! Each phase also prints the CPU time per request of this process (the client: raw loop or
//! fetcher) and of the feed server, from `/proc`: on a shared 2-core machine both loops are
//! CPU-bound, and CPU per request varies less between runs than requests per second.
//!
//! ```text
//! cargo run --release -p wirewatch-fetcher --example poll_bench -- rate --feeds 10000 --secs 10 --rounds 3
//! cargo run --release -p wirewatch-fetcher --example poll_bench -- rate --feeds 10000 --secs 10 --rounds 3 --fresh-connections
//! cargo run --release -p wirewatch-fetcher --example poll_bench -- memory --feeds 100000 --hosts 5000
//! cargo run --release -p wirewatch-fetcher --example poll_bench -- clients --feeds 10000 --secs 5
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use wirewatch_fetcher::clock::{Clock, Sleep};
use wirewatch_fetcher::{Extras, FetcherConfig};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::memory::MemoryBus;
use wirewatch_runtime::bus::{SharedPublisher, Subscriber};
use wirewatch_runtime::stage::LoopOptions;
use wirewatch_runtime::CancellationToken;

/// Stories in each feed document.
const WINDOW: u32 = 5;

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
    // The feed's window: its newest `WINDOW` stories, as a real feed keeps them (a change adds
    // one, the oldest scrolls out), so a changed poll has one new item among known ones.
    let mut body = format!(
        "<rss version=\"2.0\"><channel><title>f{id}</title><link>http://f{id}.example/</link><description>d</description>"
    );
    for v in (version.saturating_sub(WINDOW - 1).max(1)..=version).rev() {
        body.push_str(&format!(
            "<item><guid>urn:f{id}:{v}</guid><title>Story {v} of feed {id}</title><link>http://f{id}.example/{v}</link><description>Text of story {v}.</description><pubDate>Mon, 02 Jun 2025 10:00:00 GMT</pubDate></item>"
        ));
    }
    body.push_str("</channel></rss>");
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

/// A clock running `speed` times faster than the system's: every interval, spacing and pause
/// of the schedule shrinks by that factor, nothing else changes. With `--speed 4`, "each feed
/// every second, each host at most once a second" is each feed and host every 250 ms of real
/// time, so 10,000 feeds may be polled up to 40,000 times a second: the cap of one poll per
/// feed-second no longer hides the fetcher's own limit.
#[derive(Debug)]
struct FastClock {
    origin: Instant,
    speed: u32,
}

impl Clock for FastClock {
    fn now(&self) -> Instant {
        self.origin + self.origin.elapsed() * self.speed
    }

    fn sleep_until(&self, at: Instant) -> Sleep {
        let real = self.origin + at.saturating_duration_since(self.origin) / self.speed;
        Box::pin(tokio::time::sleep_until(real.into()))
    }
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

/// The feed server's process id (for its CPU time).
static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// CPU time (user + system, in clock ticks of 10 ms) of process `pid` ("self" for this one).
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces): state is the first.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// CPU ticks of this process and of the feed server.
fn cpu_now() -> (u64, u64) {
    let server = SERVER_PID.load(Ordering::Relaxed);
    (
        cpu_ticks("self"),
        if server == 0 {
            0
        } else {
            cpu_ticks(&server.to_string())
        },
    )
}

/// "client X µs + server Y µs of CPU per request" between `from` and now, over `requests`.
fn cpu_per_request(from: (u64, u64), requests: f64) -> String {
    let (c, s) = cpu_now();
    let us = |ticks: u64| ticks as f64 * 10_000.0 / requests.max(1.0);
    format!(
        "CPU per request: client {:.1} µs + server {:.1} µs",
        us(c - from.0),
        us(s - from.1)
    )
}

/// Sum of `metric` over its series in the process's registry.
fn metric_sum(metric: &str) -> f64 {
    metric_sum_with(metric, "")
}

/// Sum of `metric` over its series whose labels contain `label` (`""`: all of them).
fn metric_sum_with(metric: &str, label: &str) -> f64 {
    wirewatch_runtime::metrics::render()
        .lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `wirewatch_fetcher_requests_total` of `outcome`.
fn outcome_total(outcome: &str) -> f64 {
    metric_sum_with(
        "wirewatch_fetcher_requests_total",
        &format!("outcome=\"{outcome}\""),
    )
}

fn fetches_total() -> f64 {
    metric_sum("wirewatch_fetcher_fetches_total")
}

/// `--fresh-connections`: both the raw loop and the fetcher open a new connection for every
/// request (`fetcher.keep_alive_secs = 0`), as they do in production for feeds on many hosts
/// each polled every few minutes. Otherwise both keep connections alive.
static FRESH_CONNECTIONS: AtomicBool = AtomicBool::new(false);

fn fresh_connections() -> bool {
    FRESH_CONNECTIONS.load(Ordering::Relaxed)
}

/// The fetcher's `keep_alive_secs` for this run.
fn keep_alive_secs() -> u64 {
    if fresh_connections() {
        0
    } else {
        FetcherConfig::default().keep_alive_secs
    }
}

async fn raw(urls: &[String], concurrency: usize, secs: u64, fetchers_client: bool) -> f64 {
    let client = if fetchers_client {
        // The fetcher's own client (timeouts, default headers, decompression, pool limits):
        // how much of the gap is the client's configuration, not the fetcher.
        wirewatch_fetcher::http::client(&FetcherConfig {
            allow_private_addresses: true,
            keep_alive_secs: keep_alive_secs(),
            ..FetcherConfig::default()
        })
        .unwrap()
    } else {
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if fresh_connections() {
            builder.pool_max_idle_per_host(0)
        } else {
            builder
        }
        .build()
        .unwrap()
    };
    let etags: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let done = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(2 + secs);
    let measure_from = Instant::now() + Duration::from_secs(2);
    let counted = Arc::new(AtomicU64::new(0));
    let busy_us = Arc::new(AtomicU64::new(0));
    let n = urls.len();
    let next = Arc::new(AtomicU64::new(0));
    let cpu_from = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        cpu_now()
    });
    futures::stream::iter(0..concurrency)
        .for_each_concurrent(concurrency, |_| {
            let (client, etags, done, counted, next, busy_us) = (
                client.clone(),
                etags.clone(),
                done.clone(),
                counted.clone(),
                next.clone(),
                busy_us.clone(),
            );
            async move {
                while Instant::now() < stop_at {
                    let i = (next.fetch_add(1, Ordering::Relaxed) as usize) % n;
                    let mut req = client.get(&urls[i]);
                    if let Some(e) = etags.lock().unwrap().get(&i) {
                        req = req.header(header::IF_NONE_MATCH, e.clone());
                    }
                    let t0 = Instant::now();
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
                        busy_us.fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                    }
                }
            }
        })
        .await;
    let cpu = cpu_per_request(
        cpu_from.await.unwrap(),
        counted.load(Ordering::Relaxed) as f64,
    );
    println!(
        "  raw: {:.1} requests in flight on average (of {concurrency}); {cpu}",
        busy_us.load(Ordering::Relaxed) as f64 / 1e6 / secs as f64
    );
    counted.load(Ordering::Relaxed) as f64 / secs as f64
}

async fn fetcher(
    urls: &[String],
    concurrency: usize,
    secs: u64,
    interval: u64,
    speed: u32,
) -> (f64, u64, f64) {
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
        keep_alive_secs: keep_alive_secs(),
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
    let extras = Extras {
        clock: Some(Arc::new(FastClock {
            origin: Instant::now(),
            speed: speed.max(1),
        })),
        ..Extras::default()
    };
    let task = tokio::spawn(async move {
        wirewatch_fetcher::run_with(cfg, &d2, publisher, opts, s2, extras).await
    });
    // Warm-up: every feed registered and polled once (the counter is the process's: it
    // keeps the earlier rounds' polls).
    let base = fetches_total();
    let started = Instant::now();
    let mut shown = Instant::now();
    while fetches_total() - base < urls.len() as f64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if shown.elapsed() >= Duration::from_secs(10) {
            shown = Instant::now();
            println!(
                "  fetcher: {:.0} polls after {:.0} s (resident {:.1} MB)",
                fetches_total(),
                started.elapsed().as_secs_f64(),
                rss_kb() as f64 / 1024.0
            );
        }
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
    let changed_before = outcome_total("200");
    let cpu_from = cpu_now();
    let busy_before = metric_sum("wirewatch_fetcher_fetch_duration_seconds_sum");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let polled = fetches_total() - before;
    if polled > 0.0 {
        println!(
            "  fetcher: {}; 1 in {:.1} polls answered 200",
            cpu_per_request(cpu_from, polled),
            polled / (outcome_total("200") - changed_before).max(1.0)
        );
    }
    let polls = polled / secs as f64;
    // Little's law: seconds spent in fetches per second = fetches in flight on average.
    let in_flight =
        (metric_sum("wirewatch_fetcher_fetch_duration_seconds_sum") - busy_before) / secs as f64;
    stop.cancel();
    task.await.unwrap().unwrap();
    drain.await.unwrap();
    (polls, rss, in_flight)
}

/// `serve` mode: the feed server, in its own process (started by the other modes), so that
/// its sockets count against its own file-descriptor limit (10,000 hosts kept alive are
/// 10,000 sockets on each side) and its memory is not counted as the fetcher's. Prints its
/// port, then serves until its standard input closes (the parent exits).
async fn serve(change_every: u64) {
    let server = Arc::new(Server {
        versions: Mutex::default(),
        change_every,
        requests: AtomicU64::new(0),
    });
    let app = Router::new().route("/f/{id}", get(feed)).with_state(server);
    let l = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    println!("port {}", l.local_addr().unwrap().port());
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    axum::serve(l, app).await.unwrap();
}

/// Start `serve` mode as a child process; the child (killed when dropped) and its port.
async fn spawn_server(change: u64) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["serve", "--change", &change.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the feed server");
    SERVER_PID.store(child.id().unwrap_or(0), Ordering::Relaxed);
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(out)
        .read_line(&mut line)
        .await
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .expect("the server's port");
    (child, port)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_else(|| "rate".into());
    let feeds = arg(&args, "--feeds", 10_000);
    let secs = arg(&args, "--secs", 20);
    let concurrency = arg(&args, "--concurrency", 64) as usize;
    let change = arg(&args, "--change", 20);
    let speed = arg(&args, "--speed", if mode == "memory" { 1 } else { 4 }) as u32;
    wirewatch_fetcher::metrics::touch();
    // Warnings and errors only (RUST_LOG overrides): the poll loop logs each poll at info.
    wirewatch_runtime::logging::init(&wirewatch_runtime::config::LogConfig {
        level: "warn".into(),
        ..Default::default()
    });
    FRESH_CONNECTIONS.store(
        args.iter().any(|a| a == "--fresh-connections"),
        Ordering::Relaxed,
    );
    if mode == "serve" {
        return serve(change).await;
    }
    let (_server, port) = spawn_server(change).await;
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
        "clients" => {
            // The bare client against the fetcher's, alternating, same URLs: what the
            // fetcher's client settings cost before any of its own work.
            let rounds = arg(&args, "--rounds", 3).max(1);
            let mut ratios = Vec::new();
            for round in 1..=rounds {
                let bare = raw(&urls, concurrency, secs, false).await;
                let own = raw(&urls, concurrency, secs, true).await;
                println!("  round {round}: bare client {bare:.0}/s, fetcher's client {own:.0}/s = {:.2}x", own / bare);
                ratios.push(own / bare);
            }
            ratios.sort_by(f64::total_cmp);
            println!(
                "clients: the fetcher's client = {:.2}x the bare one (median of {rounds}: {:?})",
                ratios[ratios.len() / 2],
                ratios
            );
        }
        "memory" => {
            let base = rss_kb();
            let (_, rss, _) = fetcher(&urls, concurrency, 2, 900, speed).await;
            println!(
                "memory: {feeds} feeds on {hosts} hosts (polled every 15 min): resident {:.1} MB with them, {:.1} MB before = {:.0} bytes per feed (load {})",
                rss as f64 / 1024.0,
                base as f64 / 1024.0,
                (rss.saturating_sub(base) as f64 * 1024.0) / feeds as f64,
                load()
            );
        }
        _ => {
            // Raw before and after the fetcher, in every round: the machine's speed drifts
            // (a shared VM), and the ratio is taken against the mean of the two.
            let rounds = arg(&args, "--rounds", 3).max(1);
            let fetchers_client = args.iter().any(|a| a == "--fetchers-client");
            let mut ratios = Vec::new();
            for round in 1..=rounds {
                let before = raw(&urls, concurrency, secs, fetchers_client).await;
                println!("  round {round}: raw reqwest loop {before:.0} conditional GETs/s");
                let (f, _, in_flight) = fetcher(&urls, concurrency, secs, 1, speed).await;
                println!(
                    "  round {round}: fetcher {f:.0} polls/s, {in_flight:.1} fetches in flight on average (of {concurrency})"
                );
                let after = raw(&urls, concurrency, secs, fetchers_client).await;
                let r = (before + after) / 2.0;
                println!(
                    "  round {round}: raw reqwest loop {after:.0} conditional GETs/s; fetcher = {:.2}x raw (load {})",
                    f / r,
                    load()
                );
                ratios.push((f / r, f, r));
            }
            ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (ratio, f, r) = ratios[ratios.len() / 2];
            println!(
                "rate: {feeds} feeds, one host each, {concurrency} in flight, 1 in {change} requests changed, {}, clock x{speed} (cap {} polls/s), median of {rounds} rounds: fetcher {f:.0} polls/s vs raw {r:.0} GETs/s = {ratio:.2}x (rounds: {}; load {})",
                if fresh_connections() {
                    "a new connection per request"
                } else {
                    "connections kept alive"
                },
                feeds * u64::from(speed),
                ratios.iter().map(|x| format!("{:.2}", x.0)).collect::<Vec<_>>().join(" "),
                load()
            );
        }
    }
}
