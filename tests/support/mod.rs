//! Shared pieces of the end-to-end tests: real HTTP servers on 127.0.0.1:0 for feeds and
//! webhooks, the feeds built from the seed article, config files, process helpers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

/// The workspace root (tests run with the crate dir as cwd).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A file of the shared corpus, by path relative to `../shared/corpus/`.
pub fn corpus(rel: &str) -> PathBuf {
    root().join("../shared/corpus").join(rel)
}

/// The seed article: (title, body).
pub fn seed_article() -> (String, String) {
    let text = std::fs::read_to_string(root().join("../shared/seed/istanbul-talks-article.txt"))
        .expect("seed article in ../shared/seed");
    let mut lines = text.lines();
    let title = lines.next().unwrap().trim().to_string();
    let body: Vec<&str> = lines.collect();
    // The article repeats its title as its first body line; keep it as published.
    (title, body.join("\n").trim().to_string())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An RSS 2.0 feed with the given items: (guid, link, title, description).
pub fn rss(channel: &str, items: &[(&str, &str, &str, &str)]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title><link>https://{}.example/</link><description>test</description>\n",
        xml_escape(channel),
        channel.to_lowercase().replace(' ', "-")
    );
    for (guid, link, title, desc) in items {
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{}</guid><link>{}</link><title>{}</title><description>{}</description><pubDate>Fri, 16 May 2025 10:00:00 GMT</pubDate></item>\n",
            xml_escape(guid),
            xml_escape(link),
            xml_escape(title),
            xml_escape(desc)
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// The link under which the seed article is published by its outlet.
pub const SEED_LINK: &str = "https://kknlive.example/world/istanbul-peace-talks-collapse/";
/// The syndicating outlet's link: same article, tracking parameters added.
pub const SYNDICATED_LINK: &str =
    "http://www.kknlive.example/world/istanbul-peace-talks-collapse?utm_source=partner&utm_medium=rss&fbclid=xyz";

/// The feeds of the scenario: path → (body, content type).
pub fn scenario_feeds() -> HashMap<String, (Vec<u8>, String)> {
    let (title, body) = seed_article();
    let mut m = HashMap::new();
    let seed = rss("KKN Live", &[("kkn-istanbul-1", SEED_LINK, &title, &body)]);
    m.insert(
        "/seed.xml".into(),
        (seed.into_bytes(), "application/rss+xml".into()),
    );
    let synd = rss(
        "Partner Wire",
        &[(
            "partner-77",
            SYNDICATED_LINK,
            &format!("{title} (via KKN)"),
            &body,
        )],
    );
    m.insert(
        "/syndicated.xml".into(),
        (synd.into_bytes(), "application/rss+xml".into()),
    );
    for (path, rel, ct) in [
        (
            "/guardian.rss",
            "feeds/rss-parser/test/input/guardian.rss",
            "application/rss+xml",
        ),
        (
            "/heise.atom",
            "feeds/rss-parser/test/input/heise.atom",
            "application/atom+xml",
        ),
        (
            "/uol.rss",
            "feeds/rss-parser/test/input/uolNoticias.rss",
            "application/rss+xml",
        ),
    ] {
        let bytes = std::fs::read(corpus(rel)).unwrap_or_else(|e| panic!("corpus file {rel}: {e}"));
        m.insert(path.into(), (bytes, ct.into()));
    }
    m
}

/// A feed server on 127.0.0.1:0.
pub struct FeedServer {
    pub addr: SocketAddr,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
}

type FeedState = (
    Arc<HashMap<String, (Vec<u8>, String)>>,
    Arc<Mutex<HashMap<String, usize>>>,
);

async fn serve_feed(State((feeds, hits)): State<FeedState>, uri: Uri) -> impl IntoResponse {
    *hits
        .lock()
        .unwrap()
        .entry(uri.path().to_string())
        .or_default() += 1;
    match feeds.get(uri.path()) {
        Some((body, ct)) => {
            (StatusCode::OK, [("content-type", ct.clone())], body.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl FeedServer {
    pub async fn start(feeds: HashMap<String, (Vec<u8>, String)>) -> Self {
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let app = Router::new()
            .fallback(serve_feed)
            .with_state((Arc::new(feeds), hits.clone()));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        Self { addr, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// One webhook POST as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub delivery_id: Option<String>,
    pub body: serde_json::Value,
}

/// A webhook receiver on 127.0.0.1:0 that records every POST.
pub struct Webhook {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
}

async fn hook(
    State(rx): State<Arc<Mutex<Vec<Received>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let delivery_id = headers
        .get("x-wirewatch-delivery")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    rx.lock().unwrap().push(Received { delivery_id, body });
    StatusCode::OK
}

impl Webhook {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On a given port (0: any free one).
    pub async fn start_on(port: u16) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(received.clone());
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        Self { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Write the feeds and subscriptions files and the main config; returns the config path.
pub fn write_config(dir: &Path, feeds: &[(&str, String)], webhook: &str, extra: &str) -> PathBuf {
    let mut f = String::new();
    for (id, url) in feeds {
        f.push_str(&format!("[[feeds]]\nid = \"{id}\"\nurl = \"{url}\"\n\n"));
    }
    std::fs::write(dir.join("feeds.toml"), f).unwrap();
    let subs = format!(
        // `since = "all"`: the test feeds' stories were published long before the
        // subscription is first seen, and must alert all the same.
        "[[subscription]]\nid = \"ru-conflict\"\nquery = \"topic:conflict AND country:RU\"\nsince = \"all\"\nwebhook_url = \"{webhook}\"\nfile = \"{}\"\n",
        dir.join("alerts.jsonl").display()
    );
    std::fs::write(dir.join("subscriptions.toml"), subs).unwrap();
    let cfg = format!(
        r#"data_dir = "{data}"

[log]
level = "info"

[shutdown]
grace_period_secs = 20

[fetcher]
feeds_file = "{feeds}"
interval_secs = 3600
# The test feeds are on 127.0.0.1, all on one host.
allow_private_addresses = true
host_min_spacing_ms = 0
max_concurrent_per_host = 8

[alerter]
subscriptions_file = "{subs}"

{extra}
"#,
        data = dir.join("data").display(),
        feeds = dir.join("feeds.toml").display(),
        subs = dir.join("subscriptions.toml").display(),
    );
    let path = dir.join("wirewatch.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Start the wirewatch binary with `args`, cwd at the workspace root (so the shipped
/// taxonomy and entity lists are found), extra env, logs to `log`.
pub fn spawn(args: &[&str], config: &Path, env: &[(&str, String)], log: &Path) -> Child {
    let logf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_wirewatch"));
    c.args(args)
        .current_dir(root())
        .env("WIREWATCH_CONFIG", config)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf);
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("spawn wirewatch")
}

/// Send SIGINT and wait for the exit status.
pub fn interrupt(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!(
                "process {} did not stop within {within:?} after SIGINT",
                child.id()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GET a JSON document; `None` if the server is not answering yet.
pub async fn get_json(url: &str) -> Option<serde_json::Value> {
    let r = reqwest::get(url).await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// GET text.
pub async fn get_text(url: &str) -> Option<String> {
    reqwest::get(url).await.ok()?.text().await.ok()
}

/// Poll `f` until it returns `Some`, or panic with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for_or(what, timeout, f, String::new).await
}

/// [`wait_for`], adding `diagnose()` (e.g. the services' logs) to the panic message.
pub async fn wait_for_or<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut f: F,
    diagnose: impl Fn() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                diagnose()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sum of a counter's samples whose line contains every `filters` string.
pub fn metric_sum(text: &str, name: &str, filters: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| filters.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A random-enough name for topics and groups of one test run.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{}x{}", std::process::id(), nanos % 1_000_000_000)
}

/// Ids the fetcher's normaliser gives a feed's items (`wirewatch inspect --format json`).
/// Run `wirewatch <args>` with `config`, cwd at the workspace root; its output.
pub fn wirewatch_tool(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wirewatch"))
        .args(args)
        .env("WIREWATCH_CONFIG", config)
        .current_dir(root())
        .output()
        .unwrap()
}

pub fn inspect_ids(url: &str, config: &Path) -> Vec<String> {
    let out = wirewatch_tool(&["inspect", url, "--format", "json"], config);
    assert!(
        out.status.success(),
        "inspect {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Kills process `pid` (SIGKILL) when dropped during a panic, so a failing test leaves no
/// service behind. A test that ends normally stops its processes itself.
pub struct KillOnPanic(pub u32);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(self.0.to_string())
                .status();
        }
    }
}

/// A plain blocking HTTP/1.0 GET on 127.0.0.1 (for diagnostics inside panic paths).
pub fn get_blocking(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return format!("(127.0.0.1:{port} not answering)");
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of `var`, the address or path of a real service a test needs. Missing: the test
/// says so loudly and is skipped (`None`) — except under CI (`CI` set), where it fails, since
/// CI never skips the real-service tests. `what` names the test, `how` how to provide it.
pub fn required_service(var: &str, what: &str, how: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("{var} is not set under CI: the {what} must run ({how})");
            }
            eprintln!("\n!!! SKIPPED {what}: {var} is not set.\n!!! {how}\n");
            None
        }
    }
}

/// The Kafka broker of the real-broker tests (`WIREWATCH_TEST_KAFKA`, set by scripts/test.sh).
pub fn kafka_broker(what: &str) -> Option<String> {
    required_service(
        "WIREWATCH_TEST_KAFKA",
        what,
        "run ./scripts/test.sh, which installs and starts a broker",
    )
}

/// Processes killed (and reaped) when dropped, also when a test panics.
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `/api/stats` of the store at `api` once it holds `n` stories and duplicate links together.
pub async fn stored_or_linked(api: &str, n: u64) -> Option<serde_json::Value> {
    let s = get_json(&format!("{api}/api/stats")).await?;
    (s["stories"].as_u64()? + s["duplicates"].as_u64()? == n).then_some(s)
}

/// Stage processes (`wirewatch serve <stage>`), each on its own free HTTP port, killed on drop.
#[derive(Default)]
pub struct Services {
    pub children: HashMap<&'static str, Child>,
    pub ports: HashMap<&'static str, u16>,
}

impl Services {
    pub fn start(
        &mut self,
        stage: &'static str,
        config: &std::path::Path,
        log_dir: &std::path::Path,
    ) {
        let port = free_port();
        let child = spawn(
            &["serve", stage],
            config,
            &[("WIREWATCH__HTTP__LISTEN", format!("127.0.0.1:{port}"))],
            &log_dir.join(format!("{stage}.log")),
        );
        self.children.insert(stage, child);
        self.ports.insert(stage, port);
    }

    pub fn url(&self, stage: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[stage])
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for c in self.children.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[allow(unused_imports)]
pub use wirewatch_store::testing::fresh_postgres_url;
