//! In-process tests of `run()`: a feed served on 127.0.0.1:0, the in-process bus, state in a
//! temporary directory.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use wirewatch_fetcher::http::{fetch, Validators};
use wirewatch_fetcher::{run, FetcherConfig, FetcherError};
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/feed"), state)
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
        ..FetcherConfig::default()
    };
    Setup {
        data_dir: dir.path().join("data"),
        _dir: dir,
        cfg,
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
    tokio::spawn(async move { run(cfg, &data_dir, publisher, opts(), stop).await })
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
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

/// The next message, waiting up to 10 s.
async fn next(sub: &mut MemorySubscriber) -> Delivery {
    let never = CancellationToken::new();
    tokio::time::timeout(Duration::from_secs(10), sub.next(&never))
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap()
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
    wait_for("a 304", || served.lock().unwrap().not_modified >= 1).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops promptly")
        .unwrap()
        .unwrap();
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
    wait_for("first poll after restart", || {
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
    wait_for("the new version to be fetched and then a 304", || {
        let sv = served.lock().unwrap();
        sv.if_none_match
            .iter()
            .any(|v| v.as_deref() == Some("\"v2\""))
    })
    .await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops promptly")
        .unwrap()
        .unwrap();
    let msgs = drain(&mut sub).await;
    let got = stories(&msgs);
    assert_eq!(got.len(), 1, "only the new item: {got:?}");
    assert_eq!(got[0].title, "Delta");
    assert!(
        msgs.iter().all(|m| m.topic != Topic::FeedsHealth),
        "a healthy feed reports no health change"
    );
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
    let first = next(&mut sub).await;
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
        let d = next(&mut sub).await;
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
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops promptly")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn body_cap_rejects_too_large_bodies() {
    let client = wirewatch_fetcher::http::client(&FetcherConfig::default()).unwrap();
    for mode in [Mode::Big(50_000), Mode::BigChunked(50_000)] {
        let (url, _served) = serve(mode, String::new(), "\"v1\"").await;
        let e = fetch(&client, &url, &Validators::default(), 10_000)
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
        assert!(fetch(&client, &url, &Validators::default(), 60_000)
            .await
            .is_ok());
    }
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = wirewatch_fetcher::http::client(&FetcherConfig::default()).unwrap();
    let url = format!("http://{addr}/feed");
    let e = fetch(&client, &url, &Validators::default(), 1000)
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
        assert_eq!(next(&mut sub).await.topic, Topic::StoriesRaw);
    }
    // The feed's window moves on completely: c and d, none of a or b.
    {
        let mut sv = served.lock().unwrap();
        sv.body = rss(&[("c", "Gamma"), ("d", "Delta")]);
        sv.etag = "\"v2\"".into();
    }
    let mut got = vec![];
    while got.len() < 3 {
        got.push(next(&mut sub).await);
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
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops promptly")
        .unwrap()
        .unwrap();
}
