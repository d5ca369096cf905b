//! The fetcher's one error type. Every variant names the feed URL (or file) it is about, so a
//! log line or a `FeedHealth` event says what failed without more context.

use std::path::PathBuf;
use std::time::Duration;

/// Why fetching, parsing or keeping state for a feed failed.
#[derive(Debug, thiserror::Error)]
pub enum FetcherError {
    /// The host name did not resolve.
    #[error("{url}: dns lookup failed: {detail}")]
    Dns {
        /// Feed URL.
        url: String,
        /// Resolver message.
        detail: String,
    },
    /// The TCP connection could not be made (refused, unreachable, reset).
    #[error("{url}: connect failed: {detail}")]
    Connect {
        /// Feed URL.
        url: String,
        /// Cause.
        detail: String,
    },
    /// The connect or total request timeout expired.
    #[error("{url}: timed out: {detail}")]
    Timeout {
        /// Feed URL.
        url: String,
        /// Which phase.
        detail: String,
    },
    /// TLS handshake or certificate validation failed.
    #[error("{url}: tls failed: {detail}")]
    Tls {
        /// Feed URL.
        url: String,
        /// Cause.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("{url}: http status {status}")]
    HttpStatus {
        /// Feed URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// `Retry-After`, when the server sent one (429, 503).
        retry_after: Option<Duration>,
    },
    /// The URL points at a private, loopback or link-local address and
    /// `allow_private_addresses` is off.
    #[error("{url}: {detail}")]
    Blocked {
        /// Feed URL.
        url: String,
        /// Which address and why.
        detail: String,
    },
    /// The body exceeded `max_body_bytes`.
    #[error("{url}: body larger than {limit_bytes} bytes")]
    TooLarge {
        /// Feed URL.
        url: String,
        /// The configured limit.
        limit_bytes: u64,
    },
    /// The document is not a feed feed-rs can read.
    #[error("{url}: not a feed: {detail}")]
    Parse {
        /// Feed URL (or file path).
        url: String,
        /// feed-rs's message.
        detail: String,
    },
    /// Reading the body or a local file failed, or the request could not be built.
    #[error("{url}: {detail}")]
    Io {
        /// Feed URL (or file path).
        url: String,
        /// Cause.
        detail: String,
    },
    /// The feeds file is missing or invalid.
    #[error("feeds file {}: {detail}", path.display())]
    FeedsFile {
        /// Path of the feeds file.
        path: PathBuf,
        /// What is wrong, naming the entry.
        detail: String,
    },
    /// The state database failed.
    #[error("state db {}: {detail}", path.display())]
    State {
        /// Database file.
        path: PathBuf,
        /// sqlx's message (with the feed URL when it concerns one feed).
        detail: String,
    },
    /// The bus refused a record for good (encoding bug, closed bus).
    #[error("bus: {detail}")]
    Bus {
        /// Cause.
        detail: String,
    },
}

impl FetcherError {
    /// Whether trying again later may succeed. A feed is polled again either way (it is never
    /// dropped); this tells operators and logs whether to expect recovery without a change.
    pub fn retryable(&self) -> bool {
        match self {
            FetcherError::Dns { .. }
            | FetcherError::Connect { .. }
            | FetcherError::Timeout { .. }
            | FetcherError::Io { .. }
            | FetcherError::State { .. } => true,
            FetcherError::HttpStatus { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            FetcherError::Tls { .. }
            | FetcherError::Blocked { .. }
            | FetcherError::TooLarge { .. }
            | FetcherError::Parse { .. }
            | FetcherError::FeedsFile { .. }
            | FetcherError::Bus { .. } => false,
        }
    }

    /// Short fixed label for metrics and `FeedHealth.error_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetcherError::Dns { .. } => "dns",
            FetcherError::Connect { .. } => "connect",
            FetcherError::Timeout { .. } => "timeout",
            FetcherError::Tls { .. } => "tls",
            FetcherError::HttpStatus { .. } => "http_status",
            FetcherError::TooLarge { .. } => "too_large",
            FetcherError::Blocked { .. } => "blocked_address",
            FetcherError::Parse { .. } => "parse",
            FetcherError::Io { .. } | FetcherError::FeedsFile { .. } => "io",
            FetcherError::State { .. } => "state",
            FetcherError::Bus { .. } => "bus",
        }
    }

    /// Every label [`FetcherError::kind`] can return.
    pub const KINDS: [&'static str; 11] = [
        "dns",
        "connect",
        "timeout",
        "tls",
        "http_status",
        "too_large",
        "blocked_address",
        "parse",
        "io",
        "state",
        "bus",
    ];

    /// HTTP status, for `http_status` errors.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            FetcherError::HttpStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Server-requested delay before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetcherError::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classify a reqwest error for `url`. reqwest does not expose DNS or TLS failures as
    /// types, so the error chain's messages are inspected (hyper-util says "dns error",
    /// rustls errors mention certificates or the handshake).
    pub(crate) fn from_reqwest(url: &str, e: &reqwest::Error) -> FetcherError {
        let detail = chain(e);
        let lower = detail.to_ascii_lowercase();
        let url = url.to_string();
        if e.is_timeout() {
            return FetcherError::Timeout { url, detail };
        }
        if detail.contains(crate::http::BLOCKED_MARKER) {
            return FetcherError::Blocked { url, detail };
        }
        if lower.contains("dns error") || lower.contains("failed to lookup address") {
            return FetcherError::Dns { url, detail };
        }
        if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("rustls")
        {
            return FetcherError::Tls { url, detail };
        }
        if e.is_connect() {
            return FetcherError::Connect { url, detail };
        }
        if e.is_redirect() {
            return FetcherError::Io {
                url,
                detail: format!("redirects: {detail}"),
            };
        }
        FetcherError::Io { url, detail }
    }
}

/// An error and its sources, joined by ": ".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kinds_are_from_the_fixed_set_and_retryable_is_sensible() {
        let u = "https://x/feed".to_string();
        let errs = [
            FetcherError::HttpStatus {
                url: u.clone(),
                status: 503,
                retry_after: None,
            },
            FetcherError::HttpStatus {
                url: u.clone(),
                status: 404,
                retry_after: None,
            },
            FetcherError::TooLarge {
                url: u.clone(),
                limit_bytes: 1,
            },
            FetcherError::Timeout {
                url: u.clone(),
                detail: "x".into(),
            },
        ];
        for e in &errs {
            assert!(FetcherError::KINDS.contains(&e.kind()));
            assert!(e.to_string().contains("https://x/feed"), "{e}");
        }
        assert!(errs[0].retryable());
        assert!(!errs[1].retryable());
        assert!(!errs[2].retryable());
        assert!(errs[3].retryable());
    }
}
