//! Subscriptions: what to watch for and where to send it, loaded from a TOML file
//! (`config/subscriptions.toml` documents the format) and compiled once.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AlerterError;
use crate::query::{self, Query};

/// Longest subscription id accepted.
pub const MAX_ID_LEN: usize = 128;

/// One subscription as written in the file.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// Stable id: part of every alert id, so renaming a subscription re-alerts its stories.
    /// Letters, digits, `-`, `_`, `.`; at most 128 bytes.
    pub id: String,
    /// The query (see [`crate::query`]).
    pub query: String,
    /// Webhook to POST each alert to (`http` or `https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// JSON-lines file to append each alert to (relative to the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Disabled subscriptions are loaded and checked but never match.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Key of the `X-Wirewatch-Signature` HMAC-SHA256 of webhook bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Slack-compatible incoming webhook (`http`/`https`): each alert is POSTed as
    /// `{"text": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_url: Option<String>,
    /// SMTP server for email alerts: `smtp://host:port` (plain, for loopback relays),
    /// `smtp://host:port?tls=required` (STARTTLS) or `smtps://user:pass@host:465`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// Email recipients (`a@example.org` or `Name <a@example.org>`); required with `smtp_url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_to: Vec<String>,
    /// Email sender; required with `smtp_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_from: Option<String>,
    /// Alert once per story cluster (default): later stories of a cluster already alerted for
    /// this subscription are suppressed. `false` alerts once per story. Superseded by
    /// `cluster` when that is set.
    #[serde(default = "enabled_default")]
    pub once_per_cluster: bool,
    /// What later stories of a cluster already alerted do: `once` (suppressed), `update`
    /// (a short "+N sources" message) or `every` (alerted like new stories). Default: from
    /// `once_per_cluster` (`once`, or `every` when it is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterMode>,
    /// Send one digest per period listing the stories that matched, instead of one message
    /// per story: `hourly`, `daily`, `weekly` or an interval such as `30m`, `6h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// At most N messages per window, `N/window` (`10/1h`, `100/1d`); matches beyond it are
    /// held and sent as one summary when the window ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// Also alert stories published before the subscription was created, up to this age
    /// (`7d`, `12h`), or `all`. Default: only stories published after its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// What later stories of an alerted cluster do (`cluster` of a subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterMode {
    /// Suppressed (counted in `wirewatch_alerter_suppressed_total{reason="cluster"}`).
    Once,
    /// Sent as an `update` alert: "+N sources".
    Update,
    /// Alerted like any other story.
    Every,
}

impl ClusterMode {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::Update => "update",
            Self::Every => "every",
        }
    }
}

impl Subscription {
    /// The effective cluster mode (`cluster`, else from `once_per_cluster`).
    pub fn cluster_mode(&self) -> ClusterMode {
        self.cluster.unwrap_or(if self.once_per_cluster {
            ClusterMode::Once
        } else {
            ClusterMode::Every
        })
    }
}

/// Flood-control and backfill settings of a subscription, parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flood {
    /// Digest period in seconds.
    pub digest_secs: Option<i64>,
    /// Rate limit: at most `.0` messages per `.1` seconds.
    pub rate: Option<(u32, i64)>,
    /// How far before its creation a story may be published and still alert: `None` = not
    /// at all, `Some(i64::MAX)` = any age.
    pub backfill_secs: Option<i64>,
}

/// Parse an interval: `30s`, `15m`, `6h`, `1d`, `2w`, or `hourly`, `daily`, `weekly`.
pub fn parse_interval(s: &str) -> Result<i64, String> {
    let s = s.trim();
    match s {
        "hourly" => return Ok(3_600),
        "daily" => return Ok(86_400),
        "weekly" => return Ok(7 * 86_400),
        _ => {}
    }
    let bad = || format!("{s:?} is not an interval like 30m, 6h, 1d, 2w");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_secs) {
        Some(v) if v > 0 && v <= 366 * 86_400 => Ok(v),
        _ => Err(format!("{s:?} must be between 1s and 366d")),
    }
}

impl Flood {
    /// Parse the `digest`, `rate_limit` and `since` settings of `s`.
    pub fn of(s: &Subscription) -> Result<Self, String> {
        let digest_secs = match &s.digest {
            None => None,
            Some(d) => {
                let v = parse_interval(d).map_err(|e| format!("digest: {e}"))?;
                if v < 60 {
                    return Err("digest: the period must be at least 1m".into());
                }
                Some(v)
            }
        };
        let rate = match &s.rate_limit {
            None => None,
            Some(r) => {
                let (n, w) = r
                    .split_once('/')
                    .ok_or_else(|| format!("rate_limit: {r:?} is not N/window like 10/1h"))?;
                let n: u32 = n
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("rate_limit: {n:?} is not a positive count"))?;
                Some((
                    n,
                    parse_interval(w).map_err(|e| format!("rate_limit: {e}"))?,
                ))
            }
        };
        if digest_secs.is_some() && rate.is_some() {
            return Err("digest and rate_limit exclude each other (a digest is one message per period already)".into());
        }
        let backfill_secs = match s.since.as_deref().map(str::trim) {
            None => None,
            Some("all") => Some(i64::MAX),
            Some(v) => Some(parse_interval(v).map_err(|e| format!("since: {e} (or \"all\")"))?),
        };
        Ok(Self {
            digest_secs,
            rate,
            backfill_secs,
        })
    }
}

fn enabled_default() -> bool {
    true
}

// Hand-written so that the secret never reaches a log.
impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("query", &self.query)
            .field("webhook_url", &self.webhook_url.as_deref().map(redact_url))
            .field("slack_url", &self.slack_url.as_deref().map(redact_url))
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("email_to", &self.email_to)
            .field("email_from", &self.email_from)
            .field("file", &self.file)
            .field("enabled", &self.enabled)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("once_per_cluster", &self.once_per_cluster)
            .field("cluster", &self.cluster)
            .field("digest", &self.digest)
            .field("rate_limit", &self.rate_limit)
            .field("since", &self.since)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionsFile {
    #[serde(default)]
    subscription: Vec<Subscription>,
}

/// Read, parse and check the subscriptions file: every query must parse, ids must be unique,
/// URLs and addresses valid, and every subscription needs a channel (`webhook_url`,
/// `slack_url`, `smtp_url` with `email_to` and `email_from`, or `file`). Errors name the
/// file, the subscription and (for queries) the position of the problem.
pub fn load_subscriptions(path: &Path) -> Result<Vec<Subscription>, AlerterError> {
    let text = std::fs::read_to_string(path).map_err(|source| AlerterError::ReadSubscriptions {
        path: path.to_path_buf(),
        source,
    })?;
    parse_subscriptions(&text, path)
}

/// [`load_subscriptions`] on text already read; `path` is for error messages.
pub fn parse_subscriptions(text: &str, path: &Path) -> Result<Vec<Subscription>, AlerterError> {
    let file: SubscriptionsFile =
        toml::from_str(text).map_err(|e| AlerterError::ParseSubscriptions {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
    compile(&file.subscription, path)?;
    Ok(file.subscription)
}

/// A checked subscription with its query compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub sub: Subscription,
    pub query: Query,
    pub webhook: Option<reqwest::Url>,
    pub slack: Option<reqwest::Url>,
    pub email: Option<EmailTarget>,
    pub flood: Flood,
    /// Where it came from, whether paused, when created (from the subscriptions table).
    pub meta: Meta,
}

/// A subscription's state kept beside its definition in the subscriptions table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// `file` (from `subscriptions_file`, changed by editing the file) or `api` (created
    /// over the HTTP API).
    pub source: Source,
    /// Paused subscriptions match nothing (set over the API, for either source).
    pub paused: bool,
    /// When it was first seen: stories published before it do not alert unless `since`.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change of its definition or pause state.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Default for Meta {
    fn default() -> Self {
        let now = chrono::Utc::now();
        Self {
            source: Source::File,
            paused: false,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Where a subscription is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The subscriptions file.
    File,
    /// The HTTP API.
    Api,
}

impl Source {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Api => "api",
        }
    }
}

impl Compiled {
    /// Matches can alert: enabled and not paused.
    pub fn active(&self) -> bool {
        self.sub.enabled && !self.meta.paused
    }

    /// Whether a story published (or, undated, fetched) at `at` is recent enough for this
    /// subscription: not older than its creation, unless `since` allows it.
    pub fn accepts_time(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        let age_before = (self.meta.created_at - at).num_seconds();
        age_before <= 0 || self.flood.backfill_secs.is_some_and(|b| age_before <= b)
    }
}

/// Where a subscription's emails go, checked at load.
#[derive(Debug, Clone)]
pub struct EmailTarget {
    /// The `smtp_url` (may hold credentials: never log it, use `endpoint`).
    pub url: String,
    /// Scheme, host and port of `url`.
    pub endpoint: String,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
}

/// Longest recipient list accepted.
pub const MAX_EMAIL_TO: usize = 50;

fn http_url(
    id: &str,
    key: &str,
    u: &str,
    invalid: &dyn Fn(&str, String) -> AlerterError,
) -> Result<reqwest::Url, AlerterError> {
    let url = reqwest::Url::parse(u)
        .map_err(|e| invalid(id, format!("{key} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            id,
            format!("{key} must be an http or https URL with a host"),
        ));
    }
    Ok(url)
}

fn email_target(
    s: &Subscription,
    invalid: &dyn Fn(&str, String) -> AlerterError,
) -> Result<Option<EmailTarget>, AlerterError> {
    let Some(url) = &s.smtp_url else {
        if !s.email_to.is_empty() || s.email_from.is_some() {
            return Err(invalid(
                &s.id,
                "email_to and email_from need an smtp_url".into(),
            ));
        }
        return Ok(None);
    };
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| invalid(&s.id, format!("smtp_url is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
        return Err(invalid(
            &s.id,
            "smtp_url must be an smtp:// or smtps:// URL with a host".into(),
        ));
    }
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
        .map_err(|e| invalid(&s.id, format!("smtp_url is not usable: {e}")))?;
    let from = s
        .email_from
        .as_deref()
        .ok_or_else(|| invalid(&s.id, "smtp_url needs an email_from".into()))?
        .parse()
        .map_err(|e| invalid(&s.id, format!("email_from is not an address: {e}")))?;
    if s.email_to.is_empty() || s.email_to.len() > MAX_EMAIL_TO {
        return Err(invalid(
            &s.id,
            format!("smtp_url needs 1 to {MAX_EMAIL_TO} email_to addresses"),
        ));
    }
    let to = s
        .email_to
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| invalid(&s.id, format!("email_to {a:?} is not an address: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(EmailTarget {
        url: url.clone(),
        endpoint: redact_url(url),
        from,
        to,
    }))
}

/// Check and compile subscriptions; `path` is for error messages.
pub fn compile(subs: &[Subscription], path: &Path) -> Result<Vec<Compiled>, AlerterError> {
    let invalid = |id: &str, reason: String| AlerterError::InvalidSubscription {
        path: path.to_path_buf(),
        id: id.to_string(),
        reason,
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(subs.len());
    for s in subs {
        if s.id.is_empty() || s.id.len() > MAX_ID_LEN {
            return Err(invalid(
                &s.id,
                format!("id must be 1 to {MAX_ID_LEN} bytes long"),
            ));
        }
        if !s
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                &s.id,
                "id may contain only letters, digits, '-', '_' and '.'".into(),
            ));
        }
        if !seen.insert(s.id.as_str()) {
            return Err(invalid(&s.id, "duplicate id".into()));
        }
        let query = query::parse(&s.query).map_err(|source| AlerterError::Query {
            path: path.to_path_buf(),
            id: s.id.clone(),
            query: s.query.clone(),
            source,
        })?;
        let webhook = match &s.webhook_url {
            None => None,
            Some(u) => Some(http_url(&s.id, "webhook_url", u, &invalid)?),
        };
        let slack = match &s.slack_url {
            None => None,
            Some(u) => Some(http_url(&s.id, "slack_url", u, &invalid)?),
        };
        let email = email_target(s, &invalid)?;
        if webhook.is_none() && s.file.is_none() && slack.is_none() && email.is_none() {
            return Err(invalid(
                &s.id,
                "needs a webhook_url, slack_url, smtp_url or a file to deliver to".into(),
            ));
        }
        if s.file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
            return Err(invalid(&s.id, "file is empty".into()));
        }
        if s.secret.as_ref().is_some_and(|k| k.is_empty()) {
            return Err(invalid(
                &s.id,
                "secret is empty; remove it or set one".into(),
            ));
        }
        let flood = Flood::of(s).map_err(|reason| invalid(&s.id, reason))?;
        out.push(Compiled {
            sub: s.clone(),
            query,
            webhook,
            slack,
            email,
            flood,
            meta: Meta::default(),
        });
    }
    Ok(out)
}

/// Scheme, host and port of a URL, for logs and dead-letter reasons: webhook paths and query
/// strings often carry tokens.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}/…", u.scheme()),
                None => format!("{}://{host}/…", u.scheme()),
            }
        }
        Err(_) => "<invalid url>".into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<Vec<Subscription>, AlerterError> {
        parse_subscriptions(text, Path::new("subs.toml"))
    }

    #[test]
    fn parses_and_defaults_enabled() {
        let subs = parse(
            r#"
            [[subscription]]
            id = "a"
            query = "topic:conflict AND country:RU"
            file = "data/alerts.jsonl"

            [[subscription]]
            id = "b"
            query = "istanbul"
            webhook_url = "https://hooks.example.org/T000/secret-token"
            secret = "k"
            enabled = false
            "#,
        )
        .unwrap();
        assert_eq!(subs.len(), 2);
        assert!(subs[0].enabled);
        assert!(!subs[1].enabled);
        let dbg = format!("{:?}", subs[1]);
        assert!(
            !dbg.contains("secret-token") && !dbg.contains("\"k\""),
            "{dbg}"
        );
    }

    #[test]
    fn errors_name_file_subscription_and_position() {
        let e = parse(
            r#"
            [[subscription]]
            id = "bad-query"
            query = "topic:conflict AND (country:RU"
            file = "x.jsonl"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("subs.toml"), "{e}");
        assert!(e.contains("'bad-query'"), "{e}");
        assert!(e.contains("at 30: expected ')'"), "{e}");

        let e = parse("[[subscription]]\nid = \"u\"\nquery = \"colour:red\"\nfile = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field 'colour'"), "{e}");

        let e = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\nfile = \"x\"\nhook = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("subs.toml") && e.contains("hook"), "{e}");

        let dup = "[[subscription]]\nid = \"x\"\nquery = \"a\"\nfile = \"f\"\n".repeat(2);
        assert!(parse(&dup)
            .unwrap_err()
            .to_string()
            .contains("duplicate id"));

        let e = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs a webhook_url, slack_url, smtp_url or a file"),
            "{e}"
        );

        let e = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\nsmtp_url = \"smtp://127.0.0.1:25\"\nemail_from = \"a@b.c\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("email_to"), "{e}");
        let e = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\nsmtp_url = \"smtp://127.0.0.1:25\"\nemail_from = \"a@b.c\"\nemail_to = [\"not an address\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not an address"), "{e}");
        let e = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\nsmtp_url = \"http://h/\"\nemail_from = \"a@b.c\"\nemail_to = [\"d@e.f\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("smtp:// or smtps://"), "{e}");
        let e = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\nslack_url = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("slack_url is not a valid URL"), "{e}");
        let ok = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\nsmtp_url = \"smtp://user:pw@127.0.0.1:2525\"\nemail_from = \"Wirewatch <w@example.org>\"\nemail_to = [\"d@example.org\"]\n").unwrap();
        let dbg = format!("{:?}", ok[0]);
        assert!(!dbg.contains("pw"), "{dbg}");

        let e = parse("[[subscription]]\nid = \"x\"\nquery = \"a\"\nwebhook_url = \"ftp://h/\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http or https"), "{e}");

        let e = parse("[[subscription]]\nid = \"a b\"\nquery = \"a\"\nfile = \"f\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("id may contain only"), "{e}");
    }

    #[test]
    fn empty_file_has_no_subscriptions() {
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn shipped_subscriptions_file_loads() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/subscriptions.toml"
        ));
        let subs = load_subscriptions(path).unwrap();
        assert!(subs.iter().any(|s| s.id == "russia-conflict"));
    }

    /// The commented-out examples in the shipped file stay valid when uncommented.
    #[test]
    fn shipped_examples_parse_when_uncommented() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/subscriptions.toml"
        ))
        .unwrap();
        let mut out = String::new();
        let mut in_example = false;
        for line in text.lines() {
            if line.trim() == "# [[subscription]]" {
                in_example = true;
            } else if !line.starts_with("# ") {
                in_example = false;
            }
            if in_example {
                out.push_str(&line[2..]);
                out.push('\n');
            } else if !line.starts_with('#') {
                out.push_str(line);
                out.push('\n');
            }
        }
        let subs = parse(&out).unwrap();
        assert!(subs
            .iter()
            .any(|s| s.id == "mideast-severe" && s.smtp_url.is_some()));
        assert!(subs.iter().any(|s| s.id == "ops-webhook"));
    }

    #[test]
    fn redacts_urls() {
        assert_eq!(
            redact_url("https://hooks.example.org/T000/secret?token=1"),
            "https://hooks.example.org/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:9/x"), "http://127.0.0.1:9/…");
    }
}
