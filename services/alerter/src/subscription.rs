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
            .field("file", &self.file)
            .field("enabled", &self.enabled)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
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
/// webhook URLs valid, and every subscription needs a `webhook_url` or a `file`. Errors name the
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
pub(crate) struct Compiled {
    pub sub: Subscription,
    pub query: Query,
    pub webhook: Option<reqwest::Url>,
}

/// Check and compile subscriptions; `path` is for error messages.
pub(crate) fn compile(subs: &[Subscription], path: &Path) -> Result<Vec<Compiled>, AlerterError> {
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
            Some(u) => {
                let url = reqwest::Url::parse(u)
                    .map_err(|e| invalid(&s.id, format!("webhook_url is not a valid URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(invalid(
                        &s.id,
                        "webhook_url must be an http or https URL with a host".into(),
                    ));
                }
                Some(url)
            }
        };
        if webhook.is_none() && s.file.is_none() {
            return Err(invalid(
                &s.id,
                "needs a webhook_url or a file to deliver to".into(),
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
        out.push(Compiled {
            sub: s.clone(),
            query,
            webhook,
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
        assert!(e.contains("needs a webhook_url or a file"), "{e}");

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

    #[test]
    fn redacts_urls() {
        assert_eq!(
            redact_url("https://hooks.example.org/T000/secret?token=1"),
            "https://hooks.example.org/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:9/x"), "http://127.0.0.1:9/…");
    }
}
