//! In-process tests of `run()`: a feed served on 127.0.0.1:0, the in-process bus, state in a
//! temporary directory. The schedule runs on a [`ManualClock`]: a test moves the time from one
//! deadline to the next once the fetcher is idle ([`drive`], [`next`]), so intervals, spacing
//! and `Retry-After` are checked without waiting for them; only the network is real.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use wirewatch_fetcher::clock::{Clock, ManualClock};
use wirewatch_fetcher::http::{fetch, Limits, Validators};
use wirewatch_fetcher::{run_with, Extras, FetcherConfig, FetcherError};
use wirewatch_proto::v1::{FeedHealth, FeedStatus, RawStory};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::memory::{MemoryBus, MemorySubscriber};
use wirewatch_runtime::bus::{Delivery, SharedPublisher, Subscriber};
use wirewatch_runtime::stage::LoopOptions;
use wirewatch_runtime::CancellationToken;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Fail500,
    /// A body of this many bytes, with Content-Length.
    Big(usize),
    /// A body of this many bytes, streamed without Content-Length.
    BigChunked(usize),
}

struct Served {
    mode: Mode,
    body: String,
    etag: String,
    requests: usize,
    not_modified: usize,
    if_none_match: Vec<Option<String>>,
}

type Shared = Arc<Mutex<Served>>;

async fn feed(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = s.lock().unwrap();
    s.requests += 1;
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.if_none_match.push(inm.clone());
    match s.mode {
        Mode::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Mode::Big(n) => (StatusCode::OK, "x".repeat(n)).into_response(),
        Mode::BigChunked(n) => {
            let chunks =
                (0..n / 1000).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1000])));
            Body::from_stream(futures::stream::iter(chunks)).into_response()
        }
        Mode::Ok => {
            if inm.as_deref() == Some(s.etag.as_str()) {
                s.not_modified += 1;
                return (StatusCode::NOT_MODIFIED, [(header::ETAG, s.etag.clone())])
                    .into_response();
            }
            (
                StatusCode::OK,
                [
                    (header::ETAG, s.etag.clone()),
                    (
                        header::CONTENT_TYPE,
                        "application/rss+xml; charset=utf-8".into(),
                    ),
                ],
                s.body.clone(),
            )
                .into_response()
        }
    }
}

async fn serve(mode: Mode, body: String, etag: &str) -> (String, Shared) {
    let state = Arc::new(Mutex::new(Served {
        mode,
        body,
        etag: etag.into(),
        requests: 0,
        not_modified: 0,
        if_none_match: vec![],
    }));
    let app = Router::new()
        .route("/feed", get(feed))
        .with_state(state.clone());
    let addr = spawn_app(app).await;
    (format!("http://{addr}/feed"), state)
}

/// Serve `app` on 127.0.0.1:0; its address.
async fn spawn_app(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn rss(items: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Test &amp; Co</title><link>https://news.example/</link><language>en</language>",
    );
    for (guid, title) in items {
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title><link>/story/{guid}</link><description>&lt;p&gt;About {title}&lt;/p&gt;</description><pubDate>Mon, 02 Jun 2025 10:00:00 GMT</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

struct Setup {
    _dir: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    cfg: FetcherConfig,
    /// The fetcher's time (shared with a server that stamps requests with it, if any).
    clock: ManualClock,
}

fn setup(url: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds,
        format!("[[feeds]]\nid = \"test-feed\"\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let cfg = FetcherConfig {
        feeds_file: feeds,
        interval_secs: 1,
        retry_initial_secs: 1,
        retry_max_secs: 2,
        connect_timeout_ms: 2_000,
        request_timeout_ms: 5_000,
        // The feeds are on 127.0.0.1, polled every second, one host.
        allow_private_addresses: true,
        adaptive_interval: false,
        host_min_spacing_ms: 0,
        ..FetcherConfig::default()
    };
    Setup {
        data_dir: dir.path().join("data"),
        _dir: dir,
        cfg,
        clock: ManualClock::new(),
    }
}

fn opts() -> LoopOptions {
    LoopOptions {
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(100),
        max_in_flight: 16,
    }
}

fn spawn_run(
    s: &Setup,
    publisher: SharedPublisher,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Result<(), FetcherError>> {
    let cfg = s.cfg.clone();
    let data_dir = s.data_dir.clone();
    let extras = Extras {
        clock: Some(Arc::new(s.clock.clone())),
        ..Extras::default()
    };
    tokio::spawn(async move { run_with(cfg, &data_dir, publisher, opts(), stop, extras).await })
}

/// Real time allowed for anything a test waits for (the network, the database).
const PATIENCE: Duration = Duration::from_secs(10);

/// Move the fetcher's time from deadline to deadline, each time once it is idle, until
/// `cond` holds (checked when the fetcher is idle).
async fn drive(clock: &ManualClock, what: &str, mut cond: impl FnMut() -> bool) {
    let run = async {
        loop {
            clock.settle().await;
            if cond() {
                return;
            }
            clock.advance_to_next().await;
        }
    };
    tokio::time::timeout(PATIENCE, run)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Everything queued on `sub`, without waiting.
async fn drain(sub: &mut MemorySubscriber) -> Vec<Delivery> {
    let stop = CancellationToken::new();
    stop.cancel();
    let mut out = vec![];
    while let Some(d) = sub.next(&stop).await.unwrap() {
        out.push(d);
    }
    out
}

/// The next message, if one is queued.
async fn try_next(sub: &mut MemorySubscriber) -> Option<Delivery> {
    let now = CancellationToken::new();
    now.cancel();
    sub.next(&now).await.unwrap()
}

/// The next message, moving the fetcher's time on (as [`drive`]) until one comes.
async fn next(clock: &ManualClock, sub: &mut MemorySubscriber) -> Delivery {
    let run = async {
        loop {
            if let Some(d) = try_next(sub).await {
                return d;
            }
            clock.settle().await;
            if let Some(d) = try_next(sub).await {
                return d;
            }
            clock.advance_to_next().await;
        }
    };
    tokio::time::timeout(PATIENCE, run)
        .await
        .expect("an event in time")
}

/// Stop a run and wait for it to end cleanly (within 5 s).
async fn stop_run(
    stop: &CancellationToken,
    task: tokio::task::JoinHandle<Result<(), FetcherError>>,
) {
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops promptly")
        .unwrap()
        .unwrap();
}

fn stories(msgs: &[Delivery]) -> Vec<RawStory> {
    msgs.iter()
        .filter(|d| d.topic == Topic::StoriesRaw)
        .map(|d| d.decode::<RawStory>().unwrap())
        .collect()
}

#[tokio::test]
async fn publishes_each_story_once_across_polls_and_restart() {
    let (url, served) = serve(
        Mode::Ok,
        rss(&[("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")]),
        "\"v1\"",
    )
    .await;
    let s = setup(&url);
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let publisher: SharedPublisher = Arc::new(bus.publisher("fetcher"));

    // First run: a 200, then a 304.
    let stop = CancellationToken::new();
    let task = spawn_run(&s, publisher.clone(), stop.clone());
    drive(&s.clock, "a 304", || {
        served.lock().unwrap().not_modified >= 1
    })
    .await;
    stop_run(&stop, task).await;
    let got = stories(&drain(&mut sub).await);
    assert_eq!(got.len(), 3, "each story once");
    let titles: Vec<_> = got.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Gamma", "Beta", "Alpha"],
        "oldest (last in feed) first"
    );
    let alpha = &got[2];
    assert_eq!(
        alpha.link.as_deref(),
        Some(&*url.replace("/feed", "/story/a"))
    );
    assert_eq!(alpha.summary.as_deref(), Some("About Alpha"));
    assert_eq!(alpha.language.as_deref(), Some("en"));
    assert_eq!(alpha.feed.id, "test-feed");
    assert_eq!(alpha.feed.title.as_deref(), Some("Test & Co"));
    assert_eq!(alpha.id, wirewatch_proto::stable_id(&["test-feed", "a"]));
    {
        let sv = served.lock().unwrap();
        assert_eq!(sv.if_none_match[0], None);
        assert_eq!(sv.if_none_match[1].as_deref(), Some("\"v1\""));
    }

    // Restart on the same data dir: validators survive (304), then a changed feed with one new
    // item publishes only that item (seen ids survive too).
    let before = served.lock().unwrap().requests;
    let stop = CancellationToken::new();
    let task = spawn_run(&s, publisher.clone(), stop.clone());
    drive(&s.clock, "first poll after restart", || {
        served.lock().unwrap().requests > before
    })
    .await;
    {
        let mut sv = served.lock().unwrap();
        assert_eq!(sv.if_none_match[before].as_deref(), Some("\"v1\""));
        sv.body = rss(&[
            ("d", "Delta"),
            ("a", "Alpha"),
            ("b", "Beta"),
            ("c", "Gamma"),
        ]);
        sv.etag = "\"v2\"".into();
    }
    drive(
        &s.clock,
        "the new version to be fetched and then a 304",
        || {
            let sv = served.lock().unwrap();
            sv.if_none_match
                .iter()
                .any(|v| v.as_deref() == Some("\"v2\""))
        },
    )
    .await;
    stop_run(&stop, task).await;
    let msgs = drain(&mut sub).await;
    let got = stories(&msgs);
    assert_eq!(got.len(), 1, "only the new item: {got:?}");
    assert_eq!(got[0].title, "Delta");
    assert!(
        msgs.iter().all(|m| m.topic != Topic::FeedsHealth),
        "a healthy feed reports no health change"
    );
}

/// The ids remembered per feed stay within `seen_per_feed` as the feed scrolls, and an item
/// still in the feed is never published again — also after a restart, when the poller knows
/// only what the database kept.
#[tokio::test]
async fn remembered_ids_are_bounded_and_items_still_listed_stay_published_once() {
    let (url, served) = serve(Mode::Ok, rss(&[("i0", "Item 0")]), "\"e0\"").await;
    let mut s = setup(&url);
    s.cfg.seen_per_feed = 4;
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw]);
    let publisher: SharedPublisher = Arc::new(bus.publisher("fetcher"));
    // The feed lists the newest 3 of items 0..=n; each version adds one.
    let list = |n: usize| {
        let items: Vec<(String, String)> = (n.saturating_sub(2)..=n)
            .rev()
            .map(|i| (format!("i{i}"), format!("Item {i}")))
            .collect();
        let refs: Vec<(&str, &str)> = items
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        rss(&refs)
    };
    for round in 0..2 {
        let stop = CancellationToken::new();
        let task = spawn_run(&s, publisher.clone(), stop.clone());
        for n in (round * 5)..(round * 5 + 5) {
            {
                let mut sv = served.lock().unwrap();
                sv.body = list(n);
                sv.etag = format!("\"e{n}\"");
            }
            let tag = format!("\"e{n}\"");
            drive(&s.clock, "the version fetched", || {
                let sv = served.lock().unwrap();
                sv.if_none_match
                    .iter()
                    .any(|v| v.as_deref() == Some(tag.as_str()))
            })
            .await;
        }
        stop_run(&stop, task).await;
    }
    let got = stories(&drain(&mut sub).await);
    let mut ids: Vec<_> = got.iter().map(|s| s.guid.clone().unwrap()).collect();
    let published = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), published, "an item published twice: {got:?}");
    assert_eq!(published, 10, "items 0..=9 once each: {ids:?}");
    let store = wirewatch_fetcher::state::Store::open(&s.data_dir)
        .await
        .unwrap();
    let kept = store.seen_count("test-feed").await.unwrap();
    assert!((1..=4).contains(&kept), "{kept} ids kept, bound 4");
    store.close().await;
}

#[tokio::test]
async fn server_error_marks_feed_failing_then_recovered() {
    let (url, served) = serve(Mode::Fail500, rss(&[("a", "Alpha")]), "\"v1\"").await;
    let s = setup(&url);
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let publisher: SharedPublisher = Arc::new(bus.publisher("fetcher"));
    let stop = CancellationToken::new();
    let task = spawn_run(&s, publisher, stop.clone());
    let first = next(&s.clock, &mut sub).await;
    assert_eq!(first.topic, Topic::FeedsHealth);
    let h: FeedHealth = first.decode().unwrap();
    assert_eq!(h.status, FeedStatus::Failing);
    assert_eq!(h.previous, Some(FeedStatus::Healthy));
    assert_eq!(h.http_status, Some(500));
    assert_eq!(h.error_kind.as_deref(), Some("http_status"));
    assert_eq!(h.feed.id, "test-feed");
    assert!(h.consecutive_failures >= 1);

    served.lock().unwrap().mode = Mode::Ok;
    let mut saw_story = false;
    loop {
        let d = next(&s.clock, &mut sub).await;
        match d.topic {
            Topic::StoriesRaw => saw_story = true,
            Topic::FeedsHealth => {
                let h: FeedHealth = d.decode().unwrap();
                if h.status == FeedStatus::Failing {
                    continue; // another failure before the switch took effect is fine
                }
                assert_eq!(h.status, FeedStatus::Recovered);
                assert_eq!(h.previous, Some(FeedStatus::Failing));
                assert_eq!(h.consecutive_failures, 0);
                break;
            }
            t => panic!("unexpected topic {t}"),
        }
    }
    assert!(
        saw_story,
        "stories are published before the recovery is reported"
    );
    stop_run(&stop, task).await;
}

/// Limits for loopback tests with a body cap.
fn loopback(max_body_bytes: u64) -> Limits {
    Limits {
        max_body_bytes,
        max_redirects: 5,
        allow_private_addresses: true,
    }
}

fn loopback_client() -> reqwest::Client {
    wirewatch_fetcher::http::client(&FetcherConfig {
        allow_private_addresses: true,
        ..FetcherConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn body_cap_rejects_too_large_bodies() {
    let client = loopback_client();
    for mode in [Mode::Big(50_000), Mode::BigChunked(50_000)] {
        let (url, _served) = serve(mode, String::new(), "\"v1\"").await;
        let e = fetch(&client, &url, &Validators::default(), &loopback(10_000))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                FetcherError::TooLarge {
                    limit_bytes: 10_000,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.kind(), "too_large");
        assert!(e.to_string().contains(&url));
        // Under the cap it is accepted.
        assert!(
            fetch(&client, &url, &Validators::default(), &loopback(60_000))
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = FetcherConfig {
        allow_private_addresses: true,
        ..FetcherConfig::default()
    };
    let client = wirewatch_fetcher::http::client(&cfg).unwrap();
    let url = format!("http://{addr}/feed");
    let e = fetch(&client, &url, &Validators::default(), &Limits::of(&cfg))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "connect", "{e}");
    assert!(e.retryable());
}

#[tokio::test]
async fn a_window_with_no_overlap_reports_missed_items() {
    let (url, served) = serve(Mode::Ok, rss(&[("a", "Alpha"), ("b", "Beta")]), "\"v1\"").await;
    let s = setup(&url);
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let publisher: SharedPublisher = Arc::new(bus.publisher("fetcher"));
    let stop = CancellationToken::new();
    let task = spawn_run(&s, publisher, stop.clone());
    // First poll: two stories, no missed-item report (nothing was read before).
    for _ in 0..2 {
        assert_eq!(next(&s.clock, &mut sub).await.topic, Topic::StoriesRaw);
    }
    // The feed's window moves on completely: c and d, none of a or b.
    {
        let mut sv = served.lock().unwrap();
        sv.body = rss(&[("c", "Gamma"), ("d", "Delta")]);
        sv.etag = "\"v2\"".into();
    }
    let mut got = vec![];
    while got.len() < 3 {
        got.push(next(&s.clock, &mut sub).await);
    }
    assert_eq!(stories(&got).len(), 2, "both new stories are published");
    let health: Vec<FeedHealth> = got
        .iter()
        .filter(|d| d.topic == Topic::FeedsHealth)
        .map(|d| d.decode().unwrap())
        .collect();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].error_kind.as_deref(), Some("missed_items"));
    assert_eq!(health[0].status, FeedStatus::Healthy, "status is unchanged");
    let text = wirewatch_runtime::metrics::render();
    assert!(
        text.lines().any(|l| l
            .starts_with("wirewatch_fetcher_missed_items_total{stage=\"fetcher\"}")
            && !l.ends_with(" 0")),
        "missed-items counter not incremented"
    );
    stop_run(&stop, task).await;
}

// ---- Redirects, address checks, per-host politeness: a small server with named routes.

/// Routes: `/old` → 301 `/new`; `/temp` → 302 `/new`; `/loop-a` ↔ `/loop-b`; `/new`, `/a`,
/// `/b`: the feed. Records (path, arrival on `clock`) of every request.
#[derive(Clone, Default)]
struct Routes {
    hits: Arc<Mutex<Vec<(String, std::time::Instant)>>>,
    /// The time requests are stamped with: give it to the fetcher ([`Setup::clock`]).
    clock: ManualClock,
}

impl Routes {
    fn count(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }
}

async fn routed(State(r): State<Routes>, uri: axum::http::Uri) -> Response {
    let path = uri.path().to_string();
    r.hits.lock().unwrap().push((path.clone(), r.clock.now()));
    let redirect =
        |code: StatusCode, to: &str| (code, [(header::LOCATION, to.to_string())]).into_response();
    match path.as_str() {
        "/old" => redirect(StatusCode::MOVED_PERMANENTLY, "/new"),
        "/temp" => redirect(StatusCode::FOUND, "/new"),
        "/loop-a" => redirect(StatusCode::FOUND, "/loop-b"),
        "/loop-b" => redirect(StatusCode::FOUND, "/loop-a"),
        _ => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/rss+xml")],
            rss(&[(path.trim_start_matches('/'), "Moved story")]),
        )
            .into_response(),
    }
}

async fn serve_routes() -> (String, Routes) {
    let r = Routes::default();
    let app = Router::new().fallback(routed).with_state(r.clone());
    let addr = spawn_app(app).await;
    (format!("http://{addr}"), r)
}

/// A 301 moves the feed: a `redirected` health event with the new URL, the new URL polled
/// from then on, and remembered across a restart (the old URL is not asked again).
#[tokio::test]
async fn a_permanent_redirect_moves_the_feed_and_is_reported() {
    let (base, routes) = serve_routes().await;
    let s = setup(&format!("{base}/old"));
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let publisher: SharedPublisher = Arc::new(bus.publisher("fetcher"));
    let stop = CancellationToken::new();
    let task = spawn_run(&s, publisher.clone(), stop.clone());
    let first = next(&s.clock, &mut sub).await;
    assert_eq!(first.topic, Topic::FeedsHealth);
    let h: FeedHealth = first.decode().unwrap();
    assert_eq!(h.status, FeedStatus::Redirected);
    assert_eq!(h.feed.url, format!("{base}/new"));
    assert_eq!(h.error_kind.as_deref(), Some("moved_permanently"));
    assert_eq!(next(&s.clock, &mut sub).await.topic, Topic::StoriesRaw);
    // Polled again (every second): the new URL only.
    drive(&s.clock, "a second poll", || routes.count("/new") >= 2).await;
    assert_eq!(routes.count("/old"), 1);
    stop.cancel();
    task.await.unwrap().unwrap();

    let stop = CancellationToken::new();
    let task = spawn_run(&s, publisher, stop.clone());
    drive(&s.clock, "a poll after the restart", || {
        routes.count("/new") >= 3
    })
    .await;
    assert_eq!(
        routes.count("/old"),
        1,
        "the old URL was asked again after the restart"
    );
    stop.cancel();
    task.await.unwrap().unwrap();

    // A temporary redirect is followed but moves nothing.
    let client = loopback_client();
    match fetch(
        &client,
        &format!("{base}/temp"),
        &Validators::default(),
        &loopback(100_000),
    )
    .await
    .unwrap()
    {
        wirewatch_fetcher::http::FetchOutcome::Body {
            moved_to,
            final_url,
            ..
        } => {
            assert_eq!(moved_to, None);
            assert_eq!(final_url.path(), "/new");
        }
        other => panic!("{other:?}"),
    }
    // A loop is an error naming it.
    let e = fetch(
        &client,
        &format!("{base}/loop-a"),
        &Validators::default(),
        &loopback(100_000),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("redirect loop"), "{e}");
}

/// Feed URLs on private, loopback or link-local addresses are refused unless allowed —
/// literal addresses, names that resolve to them, and redirects to them.
#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let (base, routes) = serve_routes().await;
    let strict = FetcherConfig::default();
    let client = wirewatch_fetcher::http::client(&strict).unwrap();
    let limits = Limits::of(&strict);
    let e = fetch(
        &client,
        &format!("{base}/a"),
        &Validators::default(),
        &limits,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), "blocked_address", "{e}");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    assert!(!e.retryable());
    let port = base.rsplit(':').next().unwrap();
    let e = fetch(
        &client,
        &format!("http://localhost:{port}/a"),
        &Validators::default(),
        &limits,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), "blocked_address", "{e}");
    for u in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/feed",
        "http://10.0.0.1/feed",
    ] {
        let e = fetch(&client, u, &Validators::default(), &limits)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "blocked_address", "{u}: {e}");
    }
    assert_eq!(
        routes.count("/a"),
        0,
        "a refused request reached the server"
    );

    // In the pipeline: the feed fails with that reason, and is not dropped.
    let mut s = setup(&format!("{base}/a"));
    s.cfg.allow_private_addresses = false;
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let stop = CancellationToken::new();
    let task = spawn_run(&s, Arc::new(bus.publisher("fetcher")), stop.clone());
    let h: FeedHealth = next(&s.clock, &mut sub).await.decode().unwrap();
    assert_eq!(h.status, FeedStatus::Failing);
    assert_eq!(h.error_kind.as_deref(), Some("blocked_address"));
    stop.cancel();
    task.await.unwrap().unwrap();
}

/// Feeds of one host share its politeness: with one request at a time and 300 ms spacing,
/// no two requests to the host start closer than the spacing minus its jitter (20 %) on the
/// fetcher's clock, although all three feeds are due at once.
#[tokio::test]
async fn feeds_of_one_host_are_spaced() {
    let (base, routes) = serve_routes().await;
    let mut s = setup(&format!("{base}/a"));
    s.clock = routes.clock.clone();
    std::fs::write(
        &s.cfg.feeds_file,
        format!("[[feeds]]\nid = \"a\"\nurl = \"{base}/a\"\n\n[[feeds]]\nid = \"b\"\nurl = \"{base}/b\"\n\n[[feeds]]\nid = \"c\"\nurl = \"{base}/c\"\n"),
    )
    .unwrap();
    s.cfg.host_min_spacing_ms = 300;
    s.cfg.max_concurrent_per_host = 1;
    let bus = MemoryBus::new("t", 1024);
    let _sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let stop = CancellationToken::new();
    let task = spawn_run(&s, Arc::new(bus.publisher("fetcher")), stop.clone());
    drive(&s.clock, "six requests", || {
        routes.hits.lock().unwrap().len() >= 6
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    let hits = routes.hits.lock().unwrap().clone();
    for w in hits.windows(2) {
        let gap = w[1].1.duration_since(w[0].1);
        assert!(
            gap >= Duration::from_millis(240),
            "requests {:?} and {:?} only {gap:?} apart",
            w[0].0,
            w[1].0
        );
    }
}

/// A running fetcher picks up feeds added to and removed from the registry (`wirewatch feeds
/// add / remove` write there) within `registry_reload_secs`.
#[tokio::test]
async fn a_running_fetcher_follows_the_registry() {
    let (base, routes) = serve_routes().await;
    let mut s = setup(&format!("{base}/a"));
    std::fs::write(&s.cfg.feeds_file, "").unwrap();
    s.cfg.registry_reload_secs = 1;
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let stop = CancellationToken::new();
    let task = spawn_run(&s, Arc::new(bus.publisher("fetcher")), stop.clone());
    let store = wirewatch_fetcher::state::Store::open(&s.data_dir)
        .await
        .unwrap();
    let spec = wirewatch_fetcher::FeedSpec {
        id: "added".into(),
        url: format!("{base}/b"),
        interval_secs: Some(1),
        title: None,
        category: None,
    };
    let clock = &s.clock;
    // Started and idle: nothing polled yet.
    clock.settle().await;
    assert_eq!(routes.count("/b"), 0);
    assert!(store.registry_add(&spec).await.unwrap());
    assert!(!store.registry_add(&spec).await.unwrap(), "same id twice");
    let story: RawStory = next(clock, &mut sub).await.decode().unwrap();
    assert_eq!(story.feed.id, "added");
    // Polled every second while registered...
    let step = |n: u32| async move {
        for _ in 0..n {
            clock.advance(Duration::from_secs(1));
            clock.settle().await;
        }
    };
    let polls = routes.count("/b");
    step(2).await;
    assert_eq!(routes.count("/b"), polls + 2, "one poll a second");
    // ...and not after the next registry check (one poll in flight at most).
    assert!(store.registry_remove("added").await.unwrap());
    step(2).await;
    let polls = routes.count("/b");
    step(5).await;
    assert_eq!(routes.count("/b"), polls, "a removed feed is still polled");
    stop.cancel();
    task.await.unwrap().unwrap();
    store.close().await;
}

// ---- Servers that misbehave on purpose.

/// `/bomb`: 64 KiB of gzip that inflates to 64 MiB; `/slow`: one byte every 20 ms, forever;
/// `/limited`: 429 with `Retry-After: 2`, recording when each request came (on `clock`).
async fn serve_misbehaving() -> (String, Routes) {
    use std::io::Write as _;
    let r = Routes::default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = Bytes::from(gz.finish().unwrap());
    let app = Router::new()
        .route(
            "/bomb",
            get(move || {
                let bomb = bomb.clone();
                async move {
                    (
                        [
                            (header::CONTENT_ENCODING, "gzip"),
                            (header::CONTENT_TYPE, "application/rss+xml"),
                        ],
                        bomb,
                    )
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                let s = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), ()))
                });
                Body::from_stream(s).into_response()
            }),
        )
        .route(
            "/limited",
            get({
                let r = r.clone();
                move || {
                    let r = r.clone();
                    async move {
                        r.hits
                            .lock()
                            .unwrap()
                            .push(("/limited".into(), r.clock.now()));
                        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "2")])
                            .into_response()
                    }
                }
            }),
        );
    let addr = spawn_app(app).await;
    (format!("http://{addr}"), r)
}

/// A gzip bomb is cut off at the body cap (counted after decompression), an endless trickle
/// at the request timeout; neither is buffered whole.
#[tokio::test]
async fn gzip_bombs_and_endless_trickles_are_cut_off() {
    let (base, _) = serve_misbehaving().await;
    let cfg = FetcherConfig {
        allow_private_addresses: true,
        request_timeout_ms: 300,
        ..FetcherConfig::default()
    };
    let client = wirewatch_fetcher::http::client(&cfg).unwrap();
    let limits = Limits {
        max_body_bytes: 1 << 20,
        ..Limits::of(&cfg)
    };
    let e = fetch(
        &client,
        &format!("{base}/bomb"),
        &Validators::default(),
        &limits,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), "too_large", "{e}");
    let started = std::time::Instant::now();
    let e = fetch(
        &client,
        &format!("{base}/slow"),
        &Validators::default(),
        &limits,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), "timeout", "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the trickle was not cut off"
    );
}

/// A 429 with `Retry-After: 2` is not asked again before those 2 seconds, even though the
/// feed's own interval (1 s) and backoff (0.5–1 s) are shorter, and is asked again once they
/// passed; the feed is reported failing with the status.
#[tokio::test]
async fn retry_after_is_honoured() {
    let (base, routes) = serve_misbehaving().await;
    let mut s = setup(&format!("{base}/limited"));
    s.clock = routes.clock.clone();
    let clock = &s.clock;
    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw, Topic::FeedsHealth]);
    let stop = CancellationToken::new();
    let task = spawn_run(&s, Arc::new(bus.publisher("fetcher")), stop.clone());
    let h: FeedHealth = next(clock, &mut sub).await.decode().unwrap();
    assert_eq!(h.status, FeedStatus::Failing);
    assert_eq!(h.http_status, Some(429));
    clock.settle().await;
    assert_eq!(routes.count("/limited"), 1);
    clock.advance(Duration::from_millis(1_999));
    clock.settle().await;
    assert_eq!(
        routes.count("/limited"),
        1,
        "asked again before Retry-After"
    );
    clock.advance(Duration::from_millis(1));
    clock.settle().await;
    assert_eq!(
        routes.count("/limited"),
        2,
        "not asked again after Retry-After"
    );
    stop.cancel();
    task.await.unwrap().unwrap();
    let hits = routes.hits.lock().unwrap().clone();
    assert_eq!(hits[1].1.duration_since(hits[0].1), Duration::from_secs(2));
}

// ---- WebSub against a hub on loopback.

#[derive(Clone, Default)]
struct Hub {
    /// Challenge answers seen by the hub: (sent, answered).
    verified: Arc<Mutex<Vec<(String, String)>>>,
}

/// A hub: accepts a subscription, verifies it at the callback, then pushes one signed
/// document (a story "Pushed story") and one forged document (wrong signature).
async fn hub(State(h): State<Hub>, body: Bytes) -> StatusCode {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let callback = form["hub.callback"].clone();
    let topic = form["hub.topic"].clone();
    let secret = form["hub.secret"].clone();
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let challenge = "chal-123";
        let u = format!(
            "{callback}?hub.mode=subscribe&hub.topic={}&hub.challenge={challenge}&hub.lease_seconds=600",
            url::form_urlencoded::byte_serialize(topic.as_bytes()).collect::<String>()
        );
        let answer = client.get(&u).send().await.unwrap().text().await.unwrap();
        h.verified.lock().unwrap().push((challenge.into(), answer));
        let doc = |title: &str| {
            format!("<rss version=\"2.0\"><channel><title>Hubbed</title><link>https://h.example/</link><description>d</description><item><guid>{title}</guid><title>{title}</title><link>https://h.example/{title}</link></item></channel></rss>")
        };
        use hmac::Mac;
        let signed = doc("Pushed story");
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(signed.as_bytes());
        let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
        let forged = doc("Forged story");
        for (body, sig) in [(forged, "sha256=00ff".to_string()), (signed, sig)] {
            let r = client
                .post(&callback)
                .header("content-type", "application/rss+xml")
                .header("x-hub-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "push answered {}", r.status());
        }
    });
    StatusCode::ACCEPTED
}

#[tokio::test]
async fn websub_subscribes_verifies_and_publishes_signed_pushes_only() {
    let h = Hub::default();
    let app = Router::new()
        .route("/", axum::routing::post(hub))
        .with_state(h.clone());
    let hub_url = format!("http://{}/", spawn_app(app).await);

    let feed_body = format!(
        "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\"><channel><title>Hubbed</title><link>https://h.example/</link><description>d</description><atom:link rel=\"hub\" href=\"{hub_url}\"/><item><guid>polled</guid><title>Polled story</title><link>https://h.example/polled</link></item></channel></rss>"
    );
    let (feed_url, served) = serve(Mode::Ok, feed_body, "\"v1\"").await;
    let mut s = setup(&feed_url);
    let cb = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    s.cfg.websub_callback_url = Some(format!("http://{}/websub", cb.local_addr().unwrap()));
    let (ws, pushes) = wirewatch_fetcher::websub_for(&s.cfg, &s.data_dir)
        .await
        .unwrap()
        .unwrap();
    let router = ws.router();
    tokio::spawn(async move { axum::serve(cb, router).await.unwrap() });

    let bus = MemoryBus::new("t", 1024);
    let mut sub = bus.subscribe(&[Topic::StoriesRaw]);
    let stop = CancellationToken::new();
    let (cfg, data, p) = (
        s.cfg.clone(),
        s.data_dir.clone(),
        Arc::new(bus.publisher("fetcher")) as SharedPublisher,
    );
    let extras = Extras {
        websub: Some((ws.clone(), pushes)),
        clock: Some(Arc::new(s.clock.clone())),
    };
    let stop2 = stop.clone();
    let task = tokio::spawn(async move { run_with(cfg, &data, p, opts(), stop2, extras).await });
    let mut titles = vec![];
    while titles.len() < 2 {
        let st: RawStory = next(&s.clock, &mut sub).await.decode().unwrap();
        titles.push(st.title);
    }
    titles.sort();
    assert_eq!(titles, ["Polled story", "Pushed story"]);
    let v = h.verified.lock().unwrap().clone();
    assert_eq!(
        v,
        [("chal-123".to_string(), "chal-123".to_string())],
        "challenge not echoed"
    );
    // The forged push published nothing: the callback refused it before the hub sent the
    // signed one. A later poll publishes nothing new either.
    let polls = served.lock().unwrap().requests;
    drive(&s.clock, "another poll", || {
        served.lock().unwrap().requests > polls
    })
    .await;
    let rest = stories(&drain(&mut sub).await);
    assert!(
        rest.iter().all(|s| s.title != "Forged story"),
        "a forged push was published"
    );
    assert!(rest.is_empty(), "{rest:?}");
    stop.cancel();
    task.await.unwrap().unwrap();
}
