//! WebSub (W3C): push instead of (only) polling, for feeds that advertise a hub.
//!
//! When a fetched feed names a hub (`<link rel="hub">` / `<atom:link rel="hub">`, with its
//! `rel="self"` as the topic) and `[fetcher] websub_callback_url` is set (the public base URL
//! at which the hub can reach this fetcher's HTTP server), the fetcher subscribes: a `POST` to
//! the hub with `hub.mode=subscribe`, the topic, the callback `<base>/<feed id>`, a random
//! per-subscription secret and the lease it asks for. The hub verifies with a `GET` carrying
//! `hub.challenge`, answered only for a pending or active subscription of that topic. Content
//! arrives as `POST`s signed `X-Hub-Signature: sha1=|sha256=<hex HMAC of the body>`; a bad or
//! missing signature is acknowledged (as the spec requires) and ignored. Good pushes are parsed
//! and their new stories published exactly like polled ones (the same seen-ids, so a story
//! pushed and later polled is published once).
//!
//! Leases are renewed when less than `RENEW_BEFORE` is left. Polling never stops: while a
//! subscription is verified and has pushed within a day, the feed is polled at most hourly
//! (a safety net); when pushes stop, polling returns to the feed's own interval.
//! Subscriptions live in `fetcher.db` (table `websub`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use url::Url;
use wirewatch_proto::v1::FeedRef;

use crate::metrics::{self, STAGE};
use crate::state::Store;

/// Renew a lease when less than this is left.
pub const RENEW_BEFORE: Duration = Duration::from_secs(3_600);
/// How long before its end a subscription's lease is renewed: [`RENEW_BEFORE`], or half the
/// lease the hub granted when that is shorter (a hub granting 10 minutes would otherwise be
/// asked again on every poll, each time with a new secret that invalidates the pushes it is
/// about to sign).
fn renew_margin(s: &Subscription) -> chrono::TimeDelta {
    let most = chrono::TimeDelta::from_std(RENEW_BEFORE).unwrap_or_default();
    match (s.lease_until, s.requested_at) {
        (Some(until), Some(asked)) if until > asked => most.min((until - asked) / 2),
        _ => most,
    }
}

/// How long a subscription request may wait for the hub's verification before it is made
/// again.
pub const PENDING_FOR: Duration = Duration::from_secs(600);
/// Lease asked for.
pub const LEASE: Duration = Duration::from_secs(7 * 86_400);
/// While pushes arrive, polling slows to at most this often.
pub const POLL_WHILE_PUSHED: Duration = Duration::from_secs(3_600);
/// A push this old no longer counts as "pushes arrive".
const PUSH_FRESH: Duration = Duration::from_secs(86_400);
/// Largest push body accepted.
pub const MAX_PUSH_BYTES: usize = 5 * 1024 * 1024;

/// The hub and topic a feed document advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// Hub URL.
    pub hub: Url,
    /// Topic (the feed's `rel="self"`, else the URL it was fetched from).
    pub topic: Url,
}

/// Find `<link rel="hub" href>` and `rel="self"` in the start of a feed document.
pub fn advertised(bytes: &[u8], fetched_from: &Url) -> Option<Advertised> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let mut hub = None;
    let mut topic = None;
    for tag in crate::registry::link_tags(&head) {
        let rel = crate::registry::attribute(tag, "rel")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let href =
            crate::registry::attribute(tag, "href").and_then(|h| fetched_from.join(h.trim()).ok());
        match (rel.as_str(), href) {
            ("hub", Some(h)) if hub.is_none() => hub = Some(h),
            ("self", Some(h)) if topic.is_none() => topic = Some(h),
            _ => {}
        }
    }
    let hub = hub.filter(|h| matches!(h.scheme(), "http" | "https"))?;
    Some(Advertised {
        hub,
        topic: topic.unwrap_or_else(|| fetched_from.clone()),
    })
}

/// Verify `X-Hub-Signature` (`sha1=` or `sha256=` hex HMAC of `body` keyed with `secret`).
pub fn signature_ok(header: Option<&str>, secret: &str, body: &[u8]) -> bool {
    let Some((algo, hex_sig)) = header.and_then(|h| h.trim().split_once('=')) else {
        return false;
    };
    let Ok(want) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    match algo.to_ascii_lowercase().as_str() {
        "sha1" => Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
            .map(|mut m| {
                m.update(body);
                m.verify_slice(&want).is_ok()
            })
            .unwrap_or(false),
        "sha256" => Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .map(|mut m| {
                m.update(body);
                m.verify_slice(&want).is_ok()
            })
            .unwrap_or(false),
        _ => false,
    }
}

/// A pushed feed document for a feed, handed to the poller side for publishing.
#[derive(Debug)]
pub struct Push {
    /// The feed id (from the callback path).
    pub feed_id: String,
    /// The body.
    pub body: Vec<u8>,
    /// `charset` of its `Content-Type`.
    pub charset: Option<String>,
    /// The subscription's topic (base for relative links).
    pub topic: Url,
}

/// The WebSub side of the fetcher: subscriptions and the callback.
pub struct WebSub {
    store: Store,
    client: reqwest::Client,
    callback_base: Option<Url>,
    pushes: tokio::sync::mpsc::Sender<Push>,
}

impl WebSub {
    /// `callback_base`: `[fetcher] websub_callback_url` (None: WebSub off). Pushes that pass
    /// their checks are sent on `pushes`.
    pub fn new(
        store: Store,
        client: reqwest::Client,
        callback_base: Option<Url>,
        pushes: tokio::sync::mpsc::Sender<Push>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            client,
            callback_base,
            pushes,
        })
    }

    /// Whether subscriptions are made at all.
    pub fn enabled(&self) -> bool {
        self.callback_base.is_some()
    }

    fn callback(&self, feed_id: &str) -> Option<Url> {
        let base = self.callback_base.as_ref()?;
        let mut u = base.clone();
        u.path_segments_mut().ok()?.pop_if_empty().push(feed_id);
        Some(u)
    }

    /// Subscribe `feed_id` at `ad.hub` unless an active lease has more than
    /// [`RENEW_BEFORE`] left. Failures are logged and counted; polling goes on regardless.
    pub async fn ensure(&self, feed_id: &str, ad: &Advertised) {
        let Some(callback) = self.callback(feed_id) else {
            return;
        };
        match self.store.websub_get(feed_id).await {
            Ok(Some(s)) if s.hub == ad.hub.as_str() && s.topic == ad.topic.as_str() => {
                let now = Utc::now();
                let lease_ok = s.lease_until.is_some_and(|l| l > now + renew_margin(&s));
                // A request still waiting for the hub's verification is not repeated (a new
                // secret would invalidate what the hub is about to sign with).
                let pending = s.lease_until.is_none_or(|l| l <= now)
                    && s.requested_at.is_some_and(|r| {
                        now - r < chrono::TimeDelta::from_std(PENDING_FOR).unwrap_or_default()
                    });
                if lease_ok || pending {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(stage = STAGE, feed = %feed_id, error = %e, "websub: cannot read the subscription");
                return;
            }
        }
        let secret = hex::encode(rand::random::<[u8; 24]>());
        if let Err(e) = self
            .store
            .websub_pending(feed_id, ad.hub.as_str(), ad.topic.as_str(), &secret)
            .await
        {
            tracing::warn!(stage = STAGE, feed = %feed_id, error = %e, "websub: cannot record the subscription");
            return;
        }
        let form = [
            ("hub.mode", "subscribe".to_string()),
            ("hub.topic", ad.topic.to_string()),
            ("hub.callback", callback.to_string()),
            ("hub.secret", secret),
            ("hub.lease_seconds", LEASE.as_secs().to_string()),
        ];
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .client
            .post(ad.hub.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let m = metrics::get();
        match r {
            Ok(resp) if resp.status().is_success() => {
                m.websub.with_label_values(&[STAGE, "subscribe_sent"]).inc();
                tracing::info!(stage = STAGE, feed = %feed_id, hub = %ad.hub, "websub: subscription requested");
            }
            Ok(resp) => {
                m.websub
                    .with_label_values(&[STAGE, "subscribe_failed"])
                    .inc();
                tracing::warn!(stage = STAGE, feed = %feed_id, hub = %ad.hub, status = resp.status().as_u16(), "websub: the hub refused the subscription; polling only");
            }
            Err(e) => {
                m.websub
                    .with_label_values(&[STAGE, "subscribe_failed"])
                    .inc();
                tracing::warn!(stage = STAGE, feed = %feed_id, hub = %ad.hub, error = %e, "websub: cannot reach the hub; polling only");
            }
        }
    }

    /// The longest interval the poller should use for `feed_id` now: [`POLL_WHILE_PUSHED`]
    /// while its subscription is verified and pushed within a day, else `None`.
    pub async fn relaxed_interval(&self, feed_id: &str) -> Option<Duration> {
        let s = self.store.websub_get(feed_id).await.ok()??;
        let now = Utc::now();
        let fresh = chrono::TimeDelta::from_std(PUSH_FRESH).unwrap_or_default();
        (s.lease_until.is_some_and(|l| l > now) && s.last_push_at.is_some_and(|p| now - p < fresh))
            .then_some(POLL_WHILE_PUSHED)
    }

    /// The callback routes: `GET|POST <base path>/{feed_id}`.
    pub fn router(self: &Arc<Self>) -> Router {
        let path = self
            .callback_base
            .as_ref()
            .map(|b| b.path().trim_end_matches('/').to_string())
            .unwrap_or_else(|| "/websub".into());
        Router::new()
            .route(&format!("{path}/{{feed_id}}"), get(verify).post(push))
            .with_state(self.clone())
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One subscription as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// Hub URL.
    pub hub: String,
    /// Topic URL.
    pub topic: String,
    /// HMAC key.
    pub secret: String,
    /// End of the verified lease (None: pending).
    pub lease_until: Option<DateTime<Utc>>,
    /// Last accepted push.
    pub last_push_at: Option<DateTime<Utc>>,
    /// When the subscription was last requested from the hub.
    pub requested_at: Option<DateTime<Utc>>,
}

async fn verify(
    State(ws): State<Arc<WebSub>>,
    Path(feed_id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let m = metrics::get();
    let mode = q.get("hub.mode").map(String::as_str).unwrap_or("");
    let topic = q.get("hub.topic").map(String::as_str).unwrap_or("");
    let sub = ws.store.websub_get(&feed_id).await.ok().flatten();
    match (mode, sub) {
        ("subscribe", Some(s)) if s.topic == topic => {
            let Some(challenge) = q.get("hub.challenge") else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let lease = q
                .get("hub.lease_seconds")
                .and_then(|l| l.parse::<i64>().ok())
                .unwrap_or(LEASE.as_secs() as i64);
            let until = Utc::now() + chrono::TimeDelta::seconds(lease);
            if ws.store.websub_verified(&feed_id, until).await.is_err() {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            m.websub.with_label_values(&[STAGE, "verified"]).inc();
            tracing::info!(stage = STAGE, feed = %feed_id, lease_secs = lease, "websub: subscription verified");
            (StatusCode::OK, challenge.clone()).into_response()
        }
        ("denied", _) => {
            m.websub.with_label_values(&[STAGE, "denied"]).inc();
            tracing::warn!(stage = STAGE, feed = %feed_id, reason = q.get("hub.reason").map(String::as_str).unwrap_or(""), "websub: the hub denied the subscription; polling only");
            StatusCode::OK.into_response()
        }
        _ => {
            tracing::info!(stage = STAGE, feed = %feed_id, mode, "websub: verification for an unknown subscription refused");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}

async fn push(
    State(ws): State<Arc<WebSub>>,
    Path(feed_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let m = metrics::get();
    let Some(sub) = ws.store.websub_get(&feed_id).await.ok().flatten() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let sig = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
    if body.len() > MAX_PUSH_BYTES || !signature_ok(sig, &sub.secret, &body) {
        // The spec: acknowledge, but do not act on it.
        m.websub.with_label_values(&[STAGE, "push_rejected"]).inc();
        tracing::warn!(stage = STAGE, feed = %feed_id, "websub: push with a missing or wrong signature ignored");
        return StatusCode::ACCEPTED.into_response();
    }
    let charset = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::charset_of);
    let Ok(topic) = Url::parse(&sub.topic) else {
        return StatusCode::ACCEPTED.into_response();
    };
    let _ = ws.store.websub_pushed(&feed_id, Utc::now()).await;
    m.websub.with_label_values(&[STAGE, "push_accepted"]).inc();
    let p = Push {
        feed_id,
        body: body.to_vec(),
        charset,
        topic,
    };
    match ws.pushes.try_send(p) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        // Full: the hub retries later, and polling catches up anyway.
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The source of pushed stories (the feed's configured ref).
pub fn feed_ref(id: &str, url: &str, title: Option<String>) -> FeedRef {
    FeedRef {
        id: id.to_string(),
        url: url.to_string(),
        title,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_hub_and_self() {
        let from = Url::parse("https://news.example/feed.xml").unwrap();
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="https://hub.example/"/><link rel="self" href="/feed.atom"/><title>t</title></feed>"#;
        let a = advertised(atom, &from).unwrap();
        assert_eq!(a.hub.as_str(), "https://hub.example/");
        assert_eq!(a.topic.as_str(), "https://news.example/feed.atom");
        let rss = br#"<rss><channel><atom:link rel="hub" href="https://pubsubhubbub.appspot.com/"/><title>t</title></channel></rss>"#;
        let a = advertised(rss, &from).unwrap();
        assert_eq!(a.topic, from);
        assert!(advertised(
            b"<rss><channel><link>https://x/</link></channel></rss>",
            &from
        )
        .is_none());
    }

    #[test]
    fn signatures() {
        let body = b"<feed/>";
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
        m.update(body);
        let good = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
        assert!(signature_ok(Some(&good), "k", body));
        assert!(!signature_ok(Some(&good), "other", body));
        assert!(!signature_ok(Some(&good), "k", b"<feed>changed</feed>"));
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(b"k").unwrap();
        m.update(body);
        assert!(signature_ok(
            Some(&format!("sha1={}", hex::encode(m.finalize().into_bytes()))),
            "k",
            body
        ));
        assert!(!signature_ok(None, "k", body));
        assert!(!signature_ok(Some("md5=00"), "k", body));
    }

    #[test]
    fn short_leases_are_renewed_at_half_time_long_ones_an_hour_before() {
        let asked = Utc::now();
        let sub = |lease: chrono::TimeDelta| Subscription {
            hub: "https://hub.example/".into(),
            topic: "https://news.example/feed".into(),
            secret: "k".into(),
            lease_until: Some(asked + lease),
            last_push_at: None,
            requested_at: Some(asked),
        };
        let minutes = chrono::TimeDelta::minutes;
        assert_eq!(renew_margin(&sub(minutes(10))), minutes(5));
        assert_eq!(renew_margin(&sub(chrono::TimeDelta::days(7))), minutes(60));
        let pending = Subscription {
            lease_until: None,
            ..sub(minutes(10))
        };
        assert_eq!(renew_margin(&pending), minutes(60));
    }
}
