//! The alerter's config section (`[alerter]` in `config/wirewatch.toml`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Alerter settings. Subscriptions themselves live in their own file
/// (`subscriptions_file`), documented in `config/subscriptions.toml`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlerterConfig {
    /// TOML file with the `[[subscription]]` entries, relative to the working directory.
    pub subscriptions_file: PathBuf,
    /// Time limit of one webhook request (connect, send, response headers).
    pub webhook_timeout_ms: u64,
    /// Time limit of each step of an SMTP exchange (connect, each command); the whole
    /// exchange is limited to four times this.
    pub smtp_timeout_ms: u64,
    /// Attempts per delivery (webhook request or file append) before the alert goes to the
    /// dead-letter topic; at least 1.
    pub max_attempts: u32,
    /// Delay before the first retry of a delivery (exponential backoff with jitter).
    pub retry_initial_ms: u64,
    /// Ceiling of the retry delay; also caps a receiver's `Retry-After`.
    pub retry_max_ms: u64,
    /// Deliveries (of different subscriptions, for one story) that may run at once; at least 1.
    pub max_concurrent_deliveries: usize,
    /// (cluster, story) pairs remembered in the ledger for the `cluster_size` query field; the
    /// oldest are forgotten first. At least 1.
    pub max_tracked_cluster_stories: u64,
    /// Bearer token of the subscriptions API (`/api/subscriptions`); unset = API disabled.
    /// Prefer the environment (`WIREWATCH__ALERTER__API_TOKEN`) to the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
}

impl Default for AlerterConfig {
    fn default() -> Self {
        Self {
            subscriptions_file: PathBuf::from("config/subscriptions.toml"),
            webhook_timeout_ms: 10_000,
            smtp_timeout_ms: 10_000,
            max_attempts: 4,
            retry_initial_ms: 500,
            retry_max_ms: 10_000,
            max_concurrent_deliveries: 8,
            max_tracked_cluster_stories: crate::ledger::DEFAULT_MAX_CLUSTER_ROWS,
            api_token: None,
        }
    }
}

// Hand-written so that the API token never reaches a log.
impl std::fmt::Debug for AlerterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlerterConfig")
            .field("subscriptions_file", &self.subscriptions_file)
            .field("webhook_timeout_ms", &self.webhook_timeout_ms)
            .field("smtp_timeout_ms", &self.smtp_timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .field("retry_initial_ms", &self.retry_initial_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("max_concurrent_deliveries", &self.max_concurrent_deliveries)
            .field(
                "max_tracked_cluster_stories",
                &self.max_tracked_cluster_stories,
            )
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl AlerterConfig {
    pub(crate) fn webhook_timeout(&self) -> Duration {
        Duration::from_millis(self.webhook_timeout_ms.max(1))
    }
    pub(crate) fn smtp_timeout(&self) -> Duration {
        Duration::from_millis(self.smtp_timeout_ms.max(1))
    }
    pub(crate) fn retry_initial(&self) -> Duration {
        Duration::from_millis(self.retry_initial_ms)
    }
    pub(crate) fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms.max(self.retry_initial_ms))
    }
    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }
    pub(crate) fn concurrency(&self) -> usize {
        self.max_concurrent_deliveries.max(1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: AlerterConfig = toml::from_str("").unwrap();
        assert_eq!(c, AlerterConfig::default());
        let c: AlerterConfig = toml::from_str("max_attempts = 2").unwrap();
        assert_eq!(c.max_attempts, 2);
        assert!(toml::from_str::<AlerterConfig>("max_attempt = 2").is_err());
    }
}
