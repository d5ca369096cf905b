//! HTTP: one shared client (timeouts, compression, a resolver that refuses private
//! addresses) and a conditional GET that follows redirects itself (to tell permanent moves
//! from temporary ones, and to check every hop's address), reads the server's scheduling
//! hints, and enforces the body-size cap while the body streams in.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use url::Url;

use crate::config::FetcherConfig;
use crate::error::FetcherError;
use crate::schedule::ServerHints;

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local, carrier-grade NAT, unspecified, multicast, broadcast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] == 0x2001 && seg[1] == 0x0db8))
        }
    }
}

/// The message a refused address carries through reqwest's error chain (found again by
/// [`FetcherError::from_reqwest`]).
pub(crate) const BLOCKED_MARKER: &str =
    "refused: resolves only to private, loopback or link-local addresses";

#[derive(Debug)]
struct Blocked(String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {BLOCKED_MARKER} ({}); set fetcher.allow_private_addresses to allow",
            self.0.split(' ').next().unwrap_or(""),
            self.0
        )
    }
}

impl std::error::Error for Blocked {}

/// A resolver that drops non-public addresses unless allowed: checked at connect time, so a
/// name that resolves differently later (DNS rebinding) is still caught.
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() && !addrs.is_empty() {
                let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(Blocked(format!("{host} {}", list.join(", "))))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

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
    NotModified {
        /// Where the feed moved for good (every redirect on the way was 301 or 308).
        moved_to: Option<Url>,
        /// The server's scheduling hints.
        hints: ServerHints,
    },
    /// 2xx with a body within the cap.
    Body {
        /// Where the feed moved for good (every redirect on the way was 301 or 308).
        moved_to: Option<Url>,
        /// The server's scheduling hints.
        hints: ServerHints,
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
    let mut builder = reqwest::Client::builder();
    if !cfg.allow_private_addresses {
        builder = builder.dns_resolver(Arc::new(GuardedResolver));
    }
    // Feeds of many hosts, each polled every few minutes: idle connections are rarely
    // reused, and keeping them would hold a file descriptor per host.
    builder = match cfg.keep_alive_secs {
        0 => builder.pool_max_idle_per_host(0),
        secs => builder
            .pool_idle_timeout(Duration::from_secs(secs))
            .pool_max_idle_per_host(2),
    };
    builder
        .user_agent(cfg.user_agent.clone())
        .default_headers(headers)
        .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms.max(1)))
        .timeout(Duration::from_millis(cfg.request_timeout_ms.max(1)))
        // Redirects are followed by `fetch`, which checks each hop and tells 301/308 apart.
        .redirect(reqwest::redirect::Policy::none())
        .gzip(true)
        .brotli(true)
        .deflate(true)
        .build()
        .map_err(|e| FetcherError::Io {
            url: String::new(),
            detail: format!("cannot build http client: {e}"),
        })
}

/// Limits of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body (after decompression).
    pub max_body_bytes: u64,
    /// Redirects followed.
    pub max_redirects: usize,
    /// Whether URLs may point at private, loopback or link-local addresses.
    pub allow_private_addresses: bool,
}

impl Limits {
    /// From the fetcher config.
    pub fn of(cfg: &FetcherConfig) -> Self {
        Self {
            max_body_bytes: cfg.max_body_bytes,
            max_redirects: cfg.max_redirects,
            allow_private_addresses: cfg.allow_private_addresses,
        }
    }
}

/// Refuse a URL whose host is a literal non-public IP address (names are checked by the
/// resolver when they are connected to).
fn check_literal(url: &Url, limits: &Limits) -> Result<(), FetcherError> {
    if limits.allow_private_addresses {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_public(ip) {
        return Ok(());
    }
    Err(FetcherError::Blocked {
        url: url.to_string(),
        detail: format!(
            "{ip} is not a public address; set fetcher.allow_private_addresses to allow"
        ),
    })
}

/// GET `url`, conditionally when `validators` has anything, following up to
/// `max_redirects` redirects (each hop's address checked; a loop is an error). Fails on a
/// transport error, a refused address, a non-2xx/304 status (with `Retry-After` when given),
/// or a body over `max_body_bytes` (checked against `Content-Length` first, then while
/// streaming, so a huge body is never buffered).
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    validators: &Validators,
    limits: &Limits,
) -> Result<FetchOutcome, FetcherError> {
    fetch_url(client, &parse_url(url)?, validators, limits).await
}

/// `url` parsed, or the error a fetch of it fails with.
pub fn parse_url(url: &str) -> Result<Url, FetcherError> {
    Url::parse(url).map_err(|e| FetcherError::Io {
        url: url.to_string(),
        detail: format!("bad url: {e}"),
    })
}

/// [`fetch`] of a URL parsed already (the poller keeps each feed's: parsing it again on
/// every poll was a measurable share of a 304's cost).
pub async fn fetch_url(
    client: &reqwest::Client,
    start: &Url,
    validators: &Validators,
    limits: &Limits,
) -> Result<FetchOutcome, FetcherError> {
    let max_body_bytes = limits.max_body_bytes;
    let url = start.as_str();
    let mut current = start.clone();
    // Every URL requested, once there is a redirect (no allocation on the common path).
    let mut visited: Vec<Url> = Vec::new();
    let mut permanent = true;
    let mut resp = loop {
        check_literal(&current, limits)?;
        let mut req = client.get(current.clone());
        if let Some(etag) = &validators.etag {
            req = req.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            req = req.header(header::IF_MODIFIED_SINCE, lm);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| FetcherError::from_reqwest(url, &e))?;
        let status = resp.status();
        if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
            break resp;
        }
        let Some(location) = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
        else {
            break resp;
        };
        let next = current.join(location).map_err(|e| FetcherError::Io {
            url: url.to_string(),
            detail: format!("redirect to a bad location {location:?}: {e}"),
        })?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(FetcherError::Io {
                url: url.to_string(),
                detail: format!("redirect to a non-http location {next}"),
            });
        }
        if visited.is_empty() {
            visited.push(current.clone());
        }
        if visited.contains(&next) {
            return Err(FetcherError::Io {
                url: url.to_string(),
                detail: format!("redirect loop at {next}"),
            });
        }
        if visited.len() > limits.max_redirects {
            return Err(FetcherError::Io {
                url: url.to_string(),
                detail: format!("more than {} redirects", limits.max_redirects),
            });
        }
        permanent &= matches!(
            status,
            StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
        );
        visited.push(next.clone());
        current = next;
    };
    let moved_to = (visited.len() > 1 && permanent).then(|| current.clone());
    let status = resp.status();
    fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
    let hints = {
        let h = resp.headers();
        ServerHints::parse(
            header_str(h, header::CACHE_CONTROL),
            header_str(h, header::EXPIRES),
            header_str(h, header::DATE),
            chrono::Utc::now(),
        )
    };
    if status == StatusCode::NOT_MODIFIED {
        return Ok(FetchOutcome::NotModified { moved_to, hints });
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
    let validators = Validators {
        etag: header_str(resp.headers(), header::ETAG).map(str::to_string),
        last_modified: header_str(resp.headers(), header::LAST_MODIFIED).map(str::to_string),
    };
    let charset = header_str(resp.headers(), header::CONTENT_TYPE).and_then(charset_of);
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
        moved_to,
        hints,
        bytes,
        charset,
        final_url,
        validators,
    })
}

/// The `charset` parameter of a `Content-Type` value.
pub(crate) fn charset_of(content_type: &str) -> Option<String> {
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
    fn public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} is not public");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

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
