//! Delivery channels: webhook (HTTP POST with retries and an optional HMAC signature),
//! Slack-compatible incoming webhook (`{"text": ...}`), email over SMTP (plain text + HTML,
//! via `lettre`) and JSON-lines file. Also the pure pieces they use: the alert built for a match, the body
//! signature, the retry classification of a response.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;
use wirewatch_proto::v1::{Alert, AlertItem, AlertKind, EnrichedStory};
use wirewatch_runtime::backoff::Backoff;

use crate::config::AlerterConfig;
use crate::error::AlerterError;
use crate::metrics::{self, STAGE};
use crate::subscription::{redact_url, EmailTarget, Subscription};

/// Header carrying the alert id, for receivers to deduplicate on.
pub const DELIVERY_HEADER: &str = "X-Wirewatch-Delivery";
/// Header carrying `sha256=<hex hmac-sha256 of the body>` when the subscription has a secret.
pub const SIGNATURE_HEADER: &str = "X-Wirewatch-Signature";

/// The alert for `story` matched by `sub`. Its id depends only on the pair, so every
/// (re)delivery of it carries the same id.
pub fn build_alert(
    sub: &Subscription,
    story: &EnrichedStory,
    channels: Vec<String>,
    delivered_at: DateTime<Utc>,
) -> Alert {
    let s = &story.story;
    Alert {
        id: Alert::make_id(&sub.id, &s.id),
        subscription_id: sub.id.clone(),
        query: sub.query.clone(),
        story_id: s.id.clone(),
        cluster_id: story.cluster_id.clone(),
        title: s.title.clone(),
        link: s.link.clone(),
        feed: s.feed.clone(),
        topics: story.topics.iter().map(|t| t.id.clone()).collect(),
        countries: story.countries.clone(),
        published: s.published,
        delivered_at,
        channels,
        alerter_version: wirewatch_runtime::VERSION.to_string(),
        kind: AlertKind::Story,
        sources: None,
        items: vec![],
        fetched_at: Some(s.fetched_at),
    }
}

/// The digest or summary alert (`kind`) of subscription `sub` for the window starting at
/// `window_start` (Unix seconds): `items` listed (the first also fills the story fields),
/// `total` stories in all.
pub fn build_batch(
    sub: &Subscription,
    kind: AlertKind,
    window_start: i64,
    items: Vec<AlertItem>,
    total: usize,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let first = items.first()?.clone();
    let what = match kind {
        AlertKind::Summary => "held back by the rate limit",
        _ => "in this digest",
    };
    let more = total.saturating_sub(items.len());
    let title = if more > 0 {
        format!("{total} stories {what} (first {} listed)", items.len())
    } else if total == 1 {
        format!("1 story {what}: {}", first.title)
    } else {
        format!("{total} stories {what}")
    };
    Some(Alert {
        id: Alert::make_batch_id(kind, &sub.id, window_start),
        subscription_id: sub.id.clone(),
        query: sub.query.clone(),
        story_id: first.story_id.clone(),
        cluster_id: first.cluster_id.clone(),
        title,
        link: None,
        feed: wirewatch_proto::v1::FeedRef {
            id: first.feed_id.clone(),
            url: String::new(),
            title: None,
        },
        topics: vec![],
        countries: vec![],
        published: first.published,
        delivered_at: now,
        channels: vec![],
        alerter_version: wirewatch_runtime::VERSION.to_string(),
        kind,
        sources: Some(total as u64),
        items,
        fetched_at: None,
    })
}

/// The `X-Wirewatch-Signature` value: `sha256=` and the hex HMAC-SHA256 of `body` keyed with
/// `secret`. Receivers recompute it over the raw body bytes.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length (long keys are hashed), so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Escape `&`, `<`, `>` for Slack's mrkdwn.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escape text for HTML.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The details line shared by the message formats: feed, topics, countries, severity.
fn details(alert: &Alert, severity: Option<u8>) -> String {
    let mut parts = vec![format!("source: {}", alert.feed.id)];
    if !alert.topics.is_empty() {
        parts.push(format!("topics: {}", alert.topics.join(", ")));
    }
    if !alert.countries.is_empty() {
        parts.push(format!("countries: {}", alert.countries.join(", ")));
    }
    if let Some(s) = severity {
        parts.push(format!("severity: {s}/5"));
    }
    parts.join(" · ")
}

/// The first line of a message: "+N sources" for updates.
fn headline_prefix(alert: &Alert) -> String {
    match (alert.kind, alert.sources) {
        (AlertKind::Update, Some(n)) => format!(
            "+{} source{}: ",
            n.saturating_sub(1),
            if n == 2 { "" } else { "s" }
        ),
        (AlertKind::Update, None) => "update: ".into(),
        _ => String::new(),
    }
}

/// The Slack message body: `{"text": "..."}` with the linked title, the details and the
/// subscription; digests and summaries list their stories, one linked title a line.
pub fn slack_body(alert: &Alert, severity: Option<u8>) -> serde_json::Value {
    let title = slack_escape(&alert.title);
    let prefix = slack_escape(&headline_prefix(alert));
    let text = if alert.items.is_empty() {
        let headline = match &alert.link {
            Some(link) => format!("{prefix}*<{}|{title}>*", slack_escape(link)),
            None => format!("{prefix}*{title}*"),
        };
        format!(
            "{headline}\n{}\nsubscription `{}`",
            slack_escape(&details(alert, severity)),
            slack_escape(&alert.subscription_id)
        )
    } else {
        let mut t = format!("*{title}*");
        for i in &alert.items {
            let it = slack_escape(&i.title);
            match &i.link {
                Some(l) => t.push_str(&format!(
                    "\n• <{}|{it}> ({})",
                    slack_escape(l),
                    slack_escape(&i.feed_id)
                )),
                None => t.push_str(&format!("\n• {it} ({})", slack_escape(&i.feed_id))),
            }
        }
        t.push_str(&format!(
            "\nsubscription `{}`",
            slack_escape(&alert.subscription_id)
        ));
        t
    };
    serde_json::json!({ "text": text })
}

/// Subject, plain-text body and HTML body of an alert email.
pub fn email_parts(alert: &Alert, severity: Option<u8>) -> (String, String, String) {
    // Subjects are one line; titles from feeds sometimes carry newlines.
    let one_line = |t: &str| -> String {
        t.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let title = format!("{}{}", headline_prefix(alert), one_line(&alert.title));
    let subject = format!("[wirewatch] {title}");
    let footer = format!(
        "subscription: {} ({})\nalert id: {}\n",
        alert.subscription_id, alert.query, alert.id
    );
    let html_footer = format!(
        "<p>subscription <code>{}</code>: <code>{}</code><br>alert id {}</p>",
        html_escape(&alert.subscription_id),
        html_escape(&alert.query),
        html_escape(&alert.id)
    );
    if !alert.items.is_empty() {
        let mut plain = format!("{title}\n\n");
        let mut list = String::new();
        for i in &alert.items {
            let t = one_line(&i.title);
            let link = i.link.as_deref().unwrap_or("");
            plain.push_str(&format!("- {t} ({})\n  {link}\n", i.feed_id));
            let entry = match &i.link {
                Some(l) => format!("<a href=\"{}\">{}</a>", html_escape(l), html_escape(&t)),
                None => html_escape(&t),
            };
            list.push_str(&format!("<li>{entry} ({})</li>", html_escape(&i.feed_id)));
        }
        plain.push('\n');
        plain.push_str(&footer);
        let html = format!(
            "<html><body><h2>{}</h2><ul>{list}</ul>{html_footer}</body></html>",
            html_escape(&title)
        );
        return (subject, plain, html);
    }
    let details = details(alert, severity);
    let link = alert.link.as_deref().unwrap_or("");
    let plain = format!("{title}\n{link}\n\n{details}\n{footer}");
    let headline = match &alert.link {
        Some(l) => format!("<a href=\"{}\">{}</a>", html_escape(l), html_escape(&title)),
        None => html_escape(&title),
    };
    let html = format!(
        "<html><body><h2>{headline}</h2><p>{}</p>{html_footer}</body></html>",
        html_escape(&details),
    );
    (subject, plain, html)
}

/// What a webhook response status means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: delivered.
    Delivered,
    /// 5xx, 429 (and 408): try again later.
    Retry,
    /// Anything else (4xx, 3xx — redirects are not followed): retrying will not help.
    Permanent,
}

/// Classify a webhook response status.
pub fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Delivered,
        408 | 429 | 500..=599 => StatusClass::Retry,
        _ => StatusClass::Permanent,
    }
}

/// `Retry-After` in delay-seconds form. The HTTP-date form is ignored (the backoff applies).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Sends alerts on the channels, with bounded retries.
pub(crate) struct Deliverer {
    http: reqwest::Client,
    attempts: u32,
    retry_initial: Duration,
    retry_max: Duration,
    webhook_timeout: Duration,
    smtp_timeout: Duration,
    /// Appends from concurrent deliveries go one at a time, so lines never interleave.
    file_lock: tokio::sync::Mutex<()>,
}

/// Result of a delivery: how it ended and after how many attempts.
pub(crate) struct Attempted {
    pub result: Result<(), AlerterError>,
    pub attempts: u32,
}

impl Deliverer {
    pub(crate) fn new(cfg: &AlerterConfig) -> Result<Self, AlerterError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.webhook_timeout())
            .connect_timeout(cfg.webhook_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wirewatch-alerter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlerterError::HttpClient(e.to_string()))?;
        Ok(Self {
            http,
            attempts: cfg.attempts(),
            retry_initial: cfg.retry_initial(),
            retry_max: cfg.retry_max(),
            webhook_timeout: cfg.webhook_timeout(),
            smtp_timeout: cfg.smtp_timeout(),
            file_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// POST `body` to the subscription's webhook, retrying connect errors, timeouts, 5xx and
    /// 429 (honouring `Retry-After` up to `retry_max_ms`).
    pub(crate) async fn webhook(
        &self,
        sub: &Subscription,
        url: &reqwest::Url,
        alert_id: &str,
        body: &[u8],
    ) -> Attempted {
        let signature = sub.secret.as_ref().map(|k| signature(k.as_bytes(), body));
        self.with_retries("webhook", || {
            self.post_once("webhook", sub, url, alert_id, body, signature.as_deref())
        })
        .await
    }

    /// POST the alert as a Slack message to the subscription's `slack_url`, with the same
    /// retries as the webhook.
    pub(crate) async fn slack(
        &self,
        sub: &Subscription,
        url: &reqwest::Url,
        alert: &Alert,
        severity: Option<u8>,
    ) -> Attempted {
        let body = slack_body(alert, severity).to_string().into_bytes();
        self.with_retries("slack", || {
            self.post_once("slack", sub, url, &alert.id, &body, None)
        })
        .await
    }

    /// Send the alert as an email (plain text and HTML alternatives) through the
    /// subscription's SMTP server, retrying connect errors, timeouts and 4xx replies.
    pub(crate) async fn email(
        &self,
        sub: &Subscription,
        target: &EmailTarget,
        alert: &Alert,
        severity: Option<u8>,
    ) -> Attempted {
        let fail = |reason: String, retryable: bool| AlerterError::Email {
            subscription: sub.id.clone(),
            endpoint: target.endpoint.clone(),
            reason,
            retryable,
        };
        let (subject, plain, html) = email_parts(alert, severity);
        let mut builder = lettre::Message::builder()
            .from(target.from.clone())
            .subject(subject)
            // The alert id: a re-sent alert carries the same Message-ID.
            .message_id(Some(format!("<{}@wirewatch>", alert.id)));
        for to in &target.to {
            builder = builder.to(to.clone());
        }
        let message = builder.multipart(lettre::message::MultiPart::alternative_plain_html(
            plain, html,
        ));
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                return self
                    .with_retries("email", || {
                        let e = fail(format!("cannot build the message: {e}"), false);
                        async move { Err(e) }
                    })
                    .await
            }
        };
        self.with_retries("email", || async {
            use lettre::AsyncTransport;
            let transport =
                lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&target.url)
                    .map_err(|e| fail(format!("bad smtp_url: {e}"), false))?
                    .timeout(Some(self.smtp_timeout))
                    .build();
            // Bound the whole exchange, not only each read.
            match tokio::time::timeout(self.smtp_timeout * 4, transport.send(message.clone())).await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => {
                    let retryable = !e.is_permanent() && !e.is_client();
                    Err(fail(e.to_string(), retryable))
                }
                Err(_) => Err(fail(
                    format!("timed out after {} ms", (self.smtp_timeout * 4).as_millis()),
                    true,
                )),
            }
        })
        .await
    }

    async fn post_once(
        &self,
        channel: &'static str,
        sub: &Subscription,
        url: &reqwest::Url,
        alert_id: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), AlerterError> {
        let fail = |reason: String, retryable: bool, retry_after: Option<Duration>| {
            AlerterError::Webhook {
                channel,
                subscription: sub.id.clone(),
                endpoint: redact_url(url.as_str()),
                reason,
                retryable,
                retry_after,
            }
        };
        let mut req = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, alert_id)
            .body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                // The response body is not needed; dropping it bounds what we read.
                drop(resp);
                match classify_status(status.as_u16()) {
                    StatusClass::Delivered => Ok(()),
                    StatusClass::Retry => {
                        Err(fail(format!("http status {status}"), true, retry_after))
                    }
                    StatusClass::Permanent => {
                        Err(fail(format!("http status {status}"), false, None))
                    }
                }
            }
            Err(e) => {
                let retryable = !e.is_builder() && !e.is_redirect();
                Err(fail(self.describe(e), retryable, None))
            }
        }
    }

    /// A reqwest error without its URL (which may hold a token), with its causes.
    fn describe(&self, e: reqwest::Error) -> String {
        let kind = if e.is_timeout() {
            format!("timed out after {} ms", self.webhook_timeout.as_millis())
        } else if e.is_connect() {
            "connect error".to_string()
        } else {
            "request error".to_string()
        };
        let e = e.without_url();
        let mut causes = Vec::new();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            causes.push(s.to_string());
            src = s.source();
        }
        if causes.is_empty() {
            format!("{kind}: {e}")
        } else {
            format!("{kind}: {}", causes.join(": "))
        }
    }

    /// Append `line` (one JSON object and a newline) to `path`, retrying I/O errors.
    pub(crate) async fn file(&self, sub: &Subscription, path: &Path, line: &[u8]) -> Attempted {
        self.with_retries("file", || async {
            let _guard = self.file_lock.lock().await;
            append(path, line)
                .await
                .map_err(|source| AlerterError::File {
                    subscription: sub.id.clone(),
                    path: path.to_path_buf(),
                    source,
                })
        })
        .await
    }

    async fn with_retries<F, Fut>(&self, channel: &'static str, mut attempt: F) -> Attempted
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), AlerterError>>,
    {
        let m = metrics::get();
        let start = Instant::now();
        let mut backoff = Backoff::new(self.retry_initial, self.retry_max);
        let mut attempts = 0;
        let result = loop {
            attempts += 1;
            match attempt().await {
                Ok(()) => break Ok(()),
                Err(e) if e.retryable() && attempts < self.attempts => {
                    m.deliveries
                        .with_label_values(&[STAGE, channel, "retry"])
                        .inc();
                    let delay = match &e {
                        AlerterError::Webhook {
                            retry_after: Some(ra),
                            ..
                        } => (*ra).min(self.retry_max),
                        _ => backoff.next_delay(),
                    };
                    tracing::info!(channel, attempt = attempts, error = %e, retry_in_ms = delay.as_millis() as u64, "delivery failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => break Err(e),
            }
        };
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        m.deliveries
            .with_label_values(&[STAGE, channel, outcome])
            .inc();
        m.delivery_seconds
            .with_label_values(&[STAGE, channel])
            .observe(start.elapsed().as_secs_f64());
        Attempted { result, attempts }
    }
}

async fn append(path: &Path, line: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            tokio::fs::create_dir_all(parent).await?;
        }
    }
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    // One write of the whole line: with O_APPEND it lands in one piece.
    f.write_all(line).await?;
    f.flush().await?;
    f.sync_data().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hmac_signature_matches_rfc4231() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Long keys work too (hashed first).
        assert!(signature(&[7u8; 200], b"x").starts_with("sha256="));
    }

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify_status(200), StatusClass::Delivered);
        assert_eq!(classify_status(204), StatusClass::Delivered);
        assert_eq!(classify_status(500), StatusClass::Retry);
        assert_eq!(classify_status(503), StatusClass::Retry);
        assert_eq!(classify_status(429), StatusClass::Retry);
        assert_eq!(classify_status(404), StatusClass::Permanent);
        assert_eq!(classify_status(301), StatusClass::Permanent);
    }

    #[test]
    fn parses_retry_after_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[tokio::test]
    async fn file_channel_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/alerts.jsonl");
        let d = Deliverer::new(&AlerterConfig::default()).unwrap();
        let sub = Subscription {
            id: "s".into(),
            query: "a".into(),
            webhook_url: None,
            file: Some(path.clone()),
            enabled: true,
            secret: None,
            slack_url: None,
            smtp_url: None,
            email_to: vec![],
            email_from: None,
            once_per_cluster: true,
            cluster: None,
            digest: None,
            rate_limit: None,
            since: None,
        };
        for _ in 0..2 {
            let r = d.file(&sub, &path, b"{\"a\":1}\n").await;
            assert!(r.result.is_ok());
            assert_eq!(r.attempts, 1);
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":1}\n"
        );
    }
}
