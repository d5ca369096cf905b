//! Slack and email channels against real receivers on 127.0.0.1:0 (an axum server and a tiny
//! SMTP server written here), and concurrent delivery: a stuck endpoint does not hold up the
//! other subscriptions' alerts.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Notify;
use wirewatch_alerter::{Alerter, AlerterConfig};
use wirewatch_proto::v1::{Alert, DeadLetter, EnrichedStory};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::{Record, Subscriber};
use wirewatch_runtime::stage::Processor;

// ---- HTTP receiver: records bodies per route; route "stuck" waits until released.

/// (route, body) of each request received.
type Log = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Http {
    got: Log,
    release: Arc<Notify>,
    /// Once released, "stuck" answers at once.
    released: Arc<std::sync::atomic::AtomicBool>,
}

impl Http {
    fn on(&self, route: &str) -> Vec<Vec<u8>> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r == route)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

async fn hook(State(h): State<Http>, UrlPath(route): UrlPath<String>, body: Bytes) -> StatusCode {
    h.got.lock().unwrap().push((route.clone(), body.to_vec()));
    match route.as_str() {
        "stuck" => {
            if !h.released.load(std::sync::atomic::Ordering::SeqCst) {
                h.release.notified().await;
                h.released.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            StatusCode::OK
        }
        "never" => {
            std::future::pending::<()>().await;
            StatusCode::OK
        }
        _ => StatusCode::OK,
    }
}

async fn start_http() -> (String, Http) {
    let h = Http::default();
    let app = Router::new()
        .route("/{route}", post(hook))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), h)
}

// ---- A tiny SMTP server: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.

#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    rcpt: Vec<String>,
    data: String,
}

#[derive(Clone, Default)]
struct Smtp {
    mails: Arc<Mutex<Vec<Mail>>>,
    /// Answer RCPT with a permanent 550.
    reject_rcpt: bool,
}

async fn start_smtp(reject_rcpt: bool) -> (u16, Smtp) {
    let smtp = Smtp {
        reject_rcpt,
        ..Smtp::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = smtp.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let _ = smtp_session(conn, s).await;
            });
        }
    });
    (port, smtp)
}

async fn smtp_session(conn: tokio::net::TcpStream, s: Smtp) -> std::io::Result<()> {
    let (r, mut w) = conn.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 test.local ESMTP\r\n").await?;
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match cmd.as_str() {
            "EHLO" => w.write_all(b"250-test.local\r\n250 8BITMIME\r\n").await?,
            "HELO" => w.write_all(b"250 test.local\r\n").await?,
            "MAIL" => {
                mail = Mail {
                    from: line.trim_end().to_string(),
                    ..Mail::default()
                };
                w.write_all(b"250 ok\r\n").await?
            }
            "RCPT" if s.reject_rcpt => w.write_all(b"550 no such user\r\n").await?,
            "RCPT" => {
                mail.rcpt.push(line.trim_end().to_string());
                w.write_all(b"250 ok\r\n").await?
            }
            "DATA" => {
                w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                mail.data = data;
                s.mails.lock().unwrap().push(mail.clone());
                w.write_all(b"250 queued\r\n").await?
            }
            "RSET" | "NOOP" => w.write_all(b"250 ok\r\n").await?,
            "QUIT" => {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => w.write_all(b"502 not implemented\r\n").await?,
        }
    }
}

// ---- Stories and helpers.

mod support;

/// A conflict story about Russia, severity 4, with a link that needs escaping.
fn story(id: &str, title: &str) -> EnrichedStory {
    let mut s = support::story(id, title, "conflict", "RU");
    s.story.link = Some(format!("https://example.org/{id}?a=1&b=2"));
    s.topics[0].label = "Conflict".into();
    s.regions = vec!["europe".into()];
    s.severity = Some(4);
    s
}

use support::{alerts, delivery};

fn dead_letters(recs: &[Record]) -> Vec<DeadLetter> {
    recs.iter()
        .filter(|r| r.topic == Topic::DeadLetter)
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect()
}

async fn open(
    dir: &std::path::Path,
    subs: &str,
    tweak: impl FnOnce(&mut AlerterConfig),
) -> Alerter {
    let path = dir.join("subs.toml");
    std::fs::write(&path, subs).unwrap();
    let mut cfg = AlerterConfig {
        subscriptions_file: path,
        retry_initial_ms: 10,
        retry_max_ms: 50,
        ..AlerterConfig::default()
    };
    tweak(&mut cfg);
    Alerter::open(&cfg, &dir.join("data"), "t").await.unwrap()
}

#[tokio::test]
async fn slack_and_email_channels_deliver_readable_messages() {
    let (base, http) = start_http().await;
    let (port, smtp) = start_smtp(false).await;
    let (bad_port, bad_smtp) = start_smtp(true).await;
    let dir = tempfile::tempdir().unwrap();
    let subs = format!(
        r#"
[[subscription]]
id = "slack-and-mail"
query = "severity>=3 AND region:europe"
slack_url = "{base}/slack"
smtp_url = "smtp://127.0.0.1:{port}"
email_from = "Wirewatch <alerts@example.org>"
email_to = ["desk@example.org", "Night Editor <night@example.org>"]

[[subscription]]
id = "rejected"
query = "topic:conflict"
smtp_url = "smtp://127.0.0.1:{bad_port}"
email_from = "alerts@example.org"
email_to = ["nobody@example.org"]
"#
    );
    let mut alerter = open(dir.path(), &subs, |c| c.max_attempts = 3).await;
    let s = story("story-1", "Clashes <near> the border & beyond");
    assert!(alerter.process(&delivery(&s, 1)).await.unwrap().is_empty());
    let out = alerter.deliver_pending().await.unwrap();

    let a = alerts(&out);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].subscription_id, "slack-and-mail");
    assert_eq!(a[0].channels, ["slack", "email"]);

    // Slack: one POST of {"text": ...}, escaped, with the link, details and subscription.
    let posts = http.on("slack");
    assert_eq!(posts.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&posts[0]).unwrap();
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 1, "{body}");
    let text = obj["text"].as_str().unwrap();
    assert!(
        text.starts_with("*<https://example.org/story-1?a=1&amp;b=2|Clashes &lt;near&gt; the border &amp; beyond>*"),
        "{text}"
    );
    assert!(text.contains("topics: conflict"), "{text}");
    assert!(text.contains("countries: RU"), "{text}");
    assert!(text.contains("severity: 4/5"), "{text}");
    assert!(text.contains("`slack-and-mail`"), "{text}");

    // Email: one message to both recipients, multipart plain + HTML.
    let mails = smtp.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    assert!(m.from.contains("<alerts@example.org>"), "{}", m.from);
    assert_eq!(m.rcpt.len(), 2, "{:?}", m.rcpt);
    assert!(m.rcpt.iter().any(|r| r.contains("night@example.org")));
    let data = &m.data;
    assert!(
        data.contains("Subject: [wirewatch] Clashes <near> the border & beyond"),
        "{data}"
    );
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("text/plain"), "{data}");
    assert!(data.contains("text/html"), "{data}");
    assert!(
        data.contains(&format!(
            "<{}@wirewatch>",
            Alert::make_id("slack-and-mail", "story-1")
        )),
        "{data}"
    );
    assert!(data.contains("&lt;near&gt;"), "html escaped: {data}");

    // A permanent SMTP rejection is not retried: one session, then a dead letter.
    let dl = dead_letters(&out);
    assert_eq!(dl.len(), 1, "{dl:?}");
    assert!(dl[0].reason.contains("'rejected'"), "{}", dl[0].reason);
    assert!(
        dl[0].reason.contains("email via smtp://127.0.0.1:"),
        "{}",
        dl[0].reason
    );
    assert!(dl[0].reason.contains("after 1 attempt"), "{}", dl[0].reason);
    assert!(bad_smtp.mails.lock().unwrap().is_empty());

    // A redelivery sends nothing again.
    alerter.process(&delivery(&s, 1)).await.unwrap();
    alerter.deliver_pending().await.unwrap();
    assert_eq!(http.on("slack").len(), 1);
    assert_eq!(smtp.mails.lock().unwrap().len(), 1);
}

/// Deliveries run in the worker, beside matching: while one endpoint holds its request
/// open (until the test releases it), the run-loop goes on matching the next stories and
/// the other subscription gets all of its alerts; the stuck subscription's next alert waits
/// behind its first (one at a time, in order) and goes out once it is released.
#[tokio::test]
async fn a_stuck_endpoint_does_not_hold_up_matching_or_other_subscriptions() {
    let (base, http) = start_http().await;
    let dir = tempfile::tempdir().unwrap();
    let subs = format!(
        r#"
[[subscription]]
id = "stuck"
query = "topic:conflict"
webhook_url = "{base}/stuck"
once_per_cluster = false

[[subscription]]
id = "fast"
query = "topic:conflict"
webhook_url = "{base}/fast"
once_per_cluster = false
"#
    );
    // A generous timeout: "stuck" is held open by the test, not by the clock.
    let mut alerter = open(dir.path(), &subs, |c| {
        c.webhook_timeout_ms = 120_000;
        c.max_attempts = 1;
    })
    .await;
    let bus = wirewatch_runtime::bus::memory::MemoryBus::new("t", 64);
    let mut events = bus.subscribe(&[Topic::Alerts, Topic::DeadLetter]);
    let publisher: wirewatch_runtime::bus::SharedPublisher =
        std::sync::Arc::new(bus.publisher("alerter"));
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = {
        let (a, stop) = (alerter.clone(), stop.clone());
        let opts = wirewatch_runtime::stage::LoopOptions {
            retry_initial: Duration::from_millis(5),
            retry_max: Duration::from_millis(50),
            max_in_flight: 8,
        };
        tokio::spawn(async move { a.run_worker(publisher, opts, stop).await })
    };

    // Three stories, matched at once: matching never waits for a delivery.
    let matched = tokio::time::timeout(Duration::from_secs(10), async {
        for i in 0..3 {
            let s = story(&format!("story-{i}"), "Clashes at the border");
            alerter.process(&delivery(&s, i)).await.unwrap();
        }
    })
    .await;
    assert!(matched.is_ok(), "matching waited for the stuck delivery");

    // Until "fast" has all three and each is booked as delivered: the endpoint sees a request
    // before the worker removes it from the outbox (asserting right after the third request
    // raced that and saw 4 queued).
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while http.on("fast").len() < 3
            || http.on("stuck").is_empty()
            || alerter.outbox_len().await.unwrap() > 3
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "fast endpoint never got its alerts booked");
    // "fast" got all three while "stuck" still holds its first request open.
    assert_eq!(http.on("stuck").len(), 1);
    assert_eq!(
        alerter.outbox_len().await.unwrap(),
        3,
        "stuck's three alerts still queued"
    );
    // notify_one keeps a permit if the handler is not waiting yet.
    http.release.notify_one();
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while alerter.outbox_len().await.unwrap() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "stuck's queue did not drain after the release"
    );
    assert_eq!(http.on("stuck").len(), 3);
    assert_eq!(http.on("fast").len(), 3);
    // Six alert events reached the bus.
    let mut got = 0;
    while got < 6 {
        let d = tokio::time::timeout(Duration::from_secs(10), events.next(&stop))
            .await
            .expect("alert events missing")
            .unwrap()
            .unwrap();
        assert_eq!(d.topic, Topic::Alerts);
        got += 1;
    }
    stop.cancel();
    worker.await.unwrap();
}

/// An endpoint that never answers is cut off by the per-delivery timeout and dead-lettered;
/// the other subscription still gets its alert.
#[tokio::test]
async fn a_dead_endpoint_times_out_and_others_still_deliver() {
    let (base, http) = start_http().await;
    let dir = tempfile::tempdir().unwrap();
    let subs = format!(
        r#"
[[subscription]]
id = "never"
query = "topic:conflict"
webhook_url = "{base}/never"

[[subscription]]
id = "fast"
query = "topic:conflict"
webhook_url = "{base}/fast"
"#
    );
    let mut alerter = open(dir.path(), &subs, |c| {
        c.webhook_timeout_ms = 300;
        c.max_attempts = 2;
    })
    .await;
    let s = story("story-3", "Clashes at the border");
    alerter.process(&delivery(&s, 1)).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), alerter.deliver_pending())
        .await
        .expect("delivery did not finish")
        .unwrap();
    let subs: Vec<String> = alerts(&out)
        .into_iter()
        .map(|a| a.subscription_id)
        .collect();
    assert_eq!(subs, ["fast"]);
    let dl = dead_letters(&out);
    assert_eq!(dl.len(), 1, "{dl:?}");
    assert!(dl[0].reason.contains("'never'"), "{}", dl[0].reason);
    assert!(dl[0].reason.contains("timed out"), "{}", dl[0].reason);
    assert!(dl[0].reason.contains("after 2 attempt"), "{}", dl[0].reason);
    assert_eq!(http.on("never").len(), 2);
    assert_eq!(http.on("fast").len(), 1);
}
