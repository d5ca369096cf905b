//! HTTP: one shared client (timeouts, redirect limit, compression) and a conditional GET that
//! enforces the body-size cap while the body streams in.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use url::Url;

use crate::config::FetcherConfig;
use crate::error::FetcherError;

/// What a server told us last time, sent back so that an unchanged feed costs a 304.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` of the last 200, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// `Last-Modified` of the last 200, sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// Result of a successful request.
#[derive(Debug)]
pub enum FetchOutcome {
    /// 304: the feed did not change.
    NotModified,
    /// 2xx with a body within the cap.
    Body {
        /// The body, decompressed.
        bytes: Vec<u8>,
        /// `charset` of the `Content-Type`, if any.
        charset: Option<String>,
        /// URL after redirects: the base for relative links.
        final_url: Url,
        /// Validators to send next time.
        validators: Validators,
    },
}

/// Build the client every fetch shares (connection pool, TLS sessions).
pub fn client(cfg: &FetcherConfig) -> Result<reqwest::Client, FetcherError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static(
            "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
        ),
    );
    reqwest::Client::builder()
        .user_agent(cfg.user_agent.clone())
        .default_headers(headers)
        .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms.max(1)))
        .timeout(Duration::from_millis(cfg.request_timeout_ms.max(1)))
        .redirect(reqwest::redirect::Policy::limited(cfg.max_redirects))
        .gzip(true)
        .brotli(true)
        .deflate(true)
        .build()
        .map_err(|e| FetcherError::Io {
            url: String::new(),
            detail: format!("cannot build http client: {e}"),
        })
}

/// GET `url`, conditionally when `validators` has anything. Fails on a transport error, a
/// non-2xx/304 status (with `Retry-After` when given), or a body over `max_body_bytes` (checked
/// against `Content-Length` first, then while streaming, so a huge body is never buffered).
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    validators: &Validators,
    max_body_bytes: u64,
) -> Result<FetchOutcome, FetcherError> {
    let mut req = client.get(url);
    if let Some(etag) = &validators.etag {
        req = req.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(lm) = &validators.last_modified {
        req = req.header(header::IF_MODIFIED_SINCE, lm);
    }
    let mut resp = req
        .send()
        .await
        .map_err(|e| FetcherError::from_reqwest(url, &e))?;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(FetchOutcome::NotModified);
    }
    if !status.is_success() {
        return Err(FetcherError::HttpStatus {
            url: url.to_string(),
            status: status.as_u16(),
            retry_after: retry_after(resp.headers()),
        });
    }
    let too_large = || FetcherError::TooLarge {
        url: url.to_string(),
        limit_bytes: max_body_bytes,
    };
    if resp.content_length().is_some_and(|n| n > max_body_bytes) {
        return Err(too_large());
    }
    let header_str = |name: header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let validators = Validators {
        etag: header_str(header::ETAG),
        last_modified: header_str(header::LAST_MODIFIED),
    };
    let charset = header_str(header::CONTENT_TYPE).and_then(|ct| charset_of(&ct));
    let final_url = resp.url().clone();
    let mut bytes = Vec::with_capacity(
        resp.content_length()
            .unwrap_or(64 * 1024)
            .min(max_body_bytes) as usize,
    );
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetcherError::from_reqwest(url, &e))?
    {
        if bytes.len() as u64 + chunk.len() as u64 > max_body_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(FetchOutcome::Body {
        bytes,
        charset,
        final_url,
        validators,
    })
}

/// The `charset` parameter of a `Content-Type` value.
fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_charset_and_retry_after() {
        assert_eq!(
            charset_of("text/xml; charset=\"ISO-8859-1\"").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(charset_of("application/rss+xml"), None);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }
}
