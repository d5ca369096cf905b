//! The alerter's errors. Each names what it is about (file, subscription, endpoint) and says
//! whether a retry can help.

use std::path::PathBuf;

use crate::query::ParseError;

/// Everything that can go wrong in the alerter.
#[derive(Debug, thiserror::Error)]
pub enum AlerterError {
    /// The subscriptions file cannot be read.
    #[error("cannot read subscriptions file {path}: {source}")]
    ReadSubscriptions {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The subscriptions file is not valid TOML or has unknown keys (the message has line and
    /// column).
    #[error("subscriptions file {path}: {message}")]
    ParseSubscriptions {
        /// File.
        path: PathBuf,
        /// The TOML error, with its position.
        message: String,
    },
    /// A subscription is invalid (duplicate id, bad URL, no channel).
    #[error("subscriptions file {path}: subscription '{id}': {reason}")]
    InvalidSubscription {
        /// File.
        path: PathBuf,
        /// Subscription id (may be empty when the id itself is the problem).
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A subscription's query does not parse.
    #[error("subscriptions file {path}: subscription '{id}': query {query:?}: {source}")]
    Query {
        /// File.
        path: PathBuf,
        /// Subscription id.
        id: String,
        /// The query text.
        query: String,
        /// Position and expectation.
        source: ParseError,
    },
    /// The ledger database cannot be opened or its schema is unknown.
    #[error("alert ledger {path}: {reason}")]
    LedgerOpen {
        /// Database file.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// A ledger query failed (busy, I/O).
    #[error("alert ledger: {op} for subscription '{subscription}', story {story_id}: {source}")]
    Ledger {
        /// What was being done (`lookup`, `record`).
        op: &'static str,
        /// Subscription id.
        subscription: String,
        /// Story id.
        story_id: String,
        /// Cause.
        source: sqlx::Error,
    },
    /// The HTTP client cannot be built (TLS set-up).
    #[error("cannot build http client: {0}")]
    HttpClient(String),
    /// A webhook or Slack delivery failed. `endpoint` is scheme, host and port only: webhook
    /// paths often carry secrets.
    #[error("subscription '{subscription}': {channel} {endpoint}: {reason}")]
    Webhook {
        /// Subscription id.
        subscription: String,
        /// `webhook` or `slack`.
        channel: &'static str,
        /// Redacted endpoint.
        endpoint: String,
        /// What happened (status, connect error, timeout).
        reason: String,
        /// Whether the same request may succeed later (connect error, timeout, 5xx, 429).
        retryable: bool,
        /// The receiver's `Retry-After`, if it sent one.
        retry_after: Option<std::time::Duration>,
    },
    /// An email could not be built or sent. `endpoint` is scheme, host and port of the SMTP
    /// server (never its credentials).
    #[error("subscription '{subscription}': email via {endpoint}: {reason}")]
    Email {
        /// Subscription id.
        subscription: String,
        /// Redacted SMTP endpoint.
        endpoint: String,
        /// What happened (connect error, timeout, SMTP reply).
        reason: String,
        /// Whether sending again may succeed (connect errors, timeouts, 4xx replies).
        retryable: bool,
    },
    /// Appending to an alerts file failed.
    #[error("subscription '{subscription}': cannot append to {path}: {source}")]
    File {
        /// Subscription id.
        subscription: String,
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// An alert could not be serialised (a bug).
    #[error("cannot encode alert {alert_id}: {reason}")]
    Encode {
        /// Alert id.
        alert_id: String,
        /// Serde's message.
        reason: String,
    },
    /// No subscription has this id.
    #[error("subscription '{id}' not found")]
    NotFound {
        /// Subscription id.
        id: String,
    },
    /// The change conflicts with the subscription's state (id taken, defined in the file).
    #[error("subscription '{id}': {reason}")]
    Conflict {
        /// Subscription id.
        id: String,
        /// What conflicts.
        reason: String,
    },
}

impl AlerterError {
    /// Whether trying the same operation again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            AlerterError::Ledger { .. } | AlerterError::File { .. } => true,
            AlerterError::Webhook { retryable, .. } | AlerterError::Email { retryable, .. } => {
                *retryable
            }
            AlerterError::ReadSubscriptions { .. }
            | AlerterError::ParseSubscriptions { .. }
            | AlerterError::InvalidSubscription { .. }
            | AlerterError::Query { .. }
            | AlerterError::LedgerOpen { .. }
            | AlerterError::HttpClient(_)
            | AlerterError::Encode { .. }
            | AlerterError::NotFound { .. }
            | AlerterError::Conflict { .. } => false,
        }
    }
}
