//! The pure parts of scheduling, kept apart from I/O so that tests drive them with their own
//! clock: how often a feed should be polled ([`next_interval`]: its publishing rate, clamped,
//! never below what the server asks), what the server asks ([`ServerHints`] from HTTP headers,
//! [`FeedHints`] from RSS `<ttl>` and `sy:updatePeriod`/`sy:updateFrequency`), the host a feed
//! belongs to for politeness ([`host_key`]: the registrable domain), and the per-host gate
//! ([`HostGate`]: concurrency, spacing with jitter, whole-host back-off).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// What a response's headers ask about the next poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerHints {
    /// `Cache-Control: max-age` (or `s-maxage`).
    pub max_age: Option<Duration>,
    /// `Expires`, as a delay from the response's `Date` (or now).
    pub expires_in: Option<Duration>,
}

impl ServerHints {
    /// Parse `Cache-Control`, `Expires` and `Date` header values. `no-cache`/`no-store` do
    /// not shorten anything (they are about caches, not pollers).
    pub fn parse(
        cache_control: Option<&str>,
        expires: Option<&str>,
        date: Option<&str>,
        now: DateTime<Utc>,
    ) -> Self {
        let max_age = cache_control.and_then(|cc| {
            cc.split(',').find_map(|d| {
                let (k, v) = d.trim().split_once('=')?;
                matches!(
                    k.trim().to_ascii_lowercase().as_str(),
                    "max-age" | "s-maxage"
                )
                .then(|| v.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
                .map(Duration::from_secs)
            })
        });
        // `Date` matters only against an `Expires` (parsed only then: most answers have none).
        let expires_in = expires
            .and_then(|e| DateTime::parse_from_rfc2822(e.trim()).ok())
            .map(|e| {
                let base = date
                    .and_then(|d| DateTime::parse_from_rfc2822(d.trim()).ok())
                    .map(|d| d.with_timezone(&Utc))
                    .unwrap_or(now);
                (e.with_timezone(&Utc) - base).num_seconds()
            })
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64));
        Self {
            max_age,
            expires_in,
        }
    }

    /// The longest delay asked for.
    pub fn floor(&self) -> Option<Duration> {
        self.max_age.max(self.expires_in)
    }
}

/// What the feed document asks: RSS `<ttl>` (minutes) and the syndication module's
/// `sy:updatePeriod` / `sy:updateFrequency`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedHints {
    /// `<ttl>`.
    pub ttl: Option<Duration>,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`.
    pub sy_period: Option<Duration>,
}

/// How much of a document is searched for channel-level hints (they precede the items).
const HINT_SCAN_BYTES: usize = 64 * 1024;

fn element_text<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}");
    let mut from = 0;
    while let Some(i) = doc[from..].find(&open) {
        let start = from + i + open.len();
        // `<ttl>` but not `<ttlx>`: the next byte ends the name.
        match doc[start..].chars().next() {
            Some('>') | Some(' ') | Some('\t') | Some('\n') | Some('\r') => {
                let gt = doc[start..].find('>')? + start + 1;
                let end = doc[gt..].find('<')? + gt;
                return Some(doc[gt..end].trim());
            }
            _ => from = start,
        }
    }
    None
}

impl FeedHints {
    /// Scan the start of a feed document. Tolerant: anything unparsable is ignored.
    pub fn scan(bytes: &[u8]) -> Self {
        let head = &bytes[..bytes.len().min(HINT_SCAN_BYTES)];
        let doc = String::from_utf8_lossy(head);
        let ttl = element_text(&doc, "ttl")
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|m| *m > 0)
            .map(|m| Duration::from_secs(m.saturating_mul(60)));
        let period = element_text(&doc, "sy:updatePeriod").and_then(|p| {
            Some(match p.to_ascii_lowercase().as_str() {
                "hourly" => 3_600u64,
                "daily" => 86_400,
                "weekly" => 7 * 86_400,
                "monthly" => 30 * 86_400,
                "yearly" => 365 * 86_400,
                _ => return None,
            })
        });
        let freq = element_text(&doc, "sy:updateFrequency")
            .and_then(|f| f.parse::<u64>().ok())
            .filter(|f| *f > 0)
            .unwrap_or(1);
        Self {
            ttl,
            sy_period: period.map(|p| Duration::from_secs(p / freq)),
        }
    }

    /// The longest delay asked for.
    pub fn floor(&self) -> Option<Duration> {
        self.ttl.max(self.sy_period)
    }
}

/// Bounds and switches of [`next_interval`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalPolicy {
    /// Used when there is no estimate (or adaptation is off).
    pub base: Duration,
    /// Lower clamp of the adaptive interval.
    pub min: Duration,
    /// Upper clamp of the adaptive interval (and of server hints).
    pub max: Duration,
    /// Whether to adapt to the publishing rate.
    pub adaptive: bool,
}

/// The publishing-rate estimate from one poll: the mean gap between the dated items the feed
/// carries now (`None` with fewer than two). Polling at half the mean gap sees a new item, on
/// average, within a quarter of a gap of its publication.
pub fn mean_gap(published: &[DateTime<Utc>]) -> Option<Duration> {
    if published.len() < 2 {
        return None;
    }
    let newest = published.iter().max()?;
    let oldest = published.iter().min()?;
    let span = (*newest - *oldest).num_seconds().max(0) as u64;
    Some(Duration::from_secs(span / (published.len() as u64 - 1)))
}

/// The delay before the next poll: half the mean publishing gap when adaptive (else `base`),
/// clamped to `[min, max]`; then never below what the server asked (capped at `max`).
pub fn next_interval(
    policy: &IntervalPolicy,
    gap: Option<Duration>,
    server_floor: Option<Duration>,
) -> Duration {
    let own = match (policy.adaptive, gap) {
        (true, Some(g)) => (g / 2).clamp(policy.min, policy.max.max(policy.min)),
        _ => policy.base,
    };
    match server_floor {
        Some(f) => own.max(f.min(policy.max)),
        None => own,
    }
}

/// The politeness key of a URL's host: its registrable domain (`bbc.co.uk` for
/// `feeds.bbc.co.uk`, public suffix list), or the host itself for IP addresses, `localhost`
/// and hosts without a known suffix.
pub fn host_key(url: &url::Url) -> String {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    match psl::domain_str(&host) {
        Some(d) => d.to_string(),
        None => host,
    }
}

/// Per-host politeness settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPolicy {
    /// Requests to one host in flight at once.
    pub max_concurrent: usize,
    /// Minimum time between the starts of two requests to one host (±20 % jitter).
    pub min_spacing: Duration,
    /// Distinct feeds of a host throttled (429/503) within `throttle_window` that pause the
    /// whole host.
    pub throttled_feeds_for_host_backoff: usize,
    /// Window of the count above.
    pub throttle_window: Duration,
    /// Shortest pause of a throttled host (longer when the server's `Retry-After` says so).
    pub host_backoff_min: Duration,
}

#[derive(Debug, Default)]
struct HostState {
    in_flight: usize,
    next_start: Option<Instant>,
    paused_until: Option<Instant>,
    /// (when, feed) of recent throttling answers.
    throttles: VecDeque<(Instant, usize)>,
}

/// The per-host gate of the scheduler. Holds state only for hosts with something in flight,
/// a spacing or pause still running, or recent throttles.
#[derive(Debug)]
pub struct HostGate {
    policy: HostPolicy,
    hosts: rustc_hash::FxHashMap<String, HostState>,
    rng: u64,
}

/// What [`HostGate::throttled`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Only the feed backs off.
    Feed,
    /// The whole host is paused until then.
    Host(Instant),
}

impl HostGate {
    /// A gate with `policy`.
    pub fn new(policy: HostPolicy) -> Self {
        Self {
            policy,
            hosts: rustc_hash::FxHashMap::default(),
            rng: 0x853c_49e6_748f_ea9b,
        }
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        // 0.8 .. 1.2
        let f = 0.8 + (self.rng % 4_001) as f64 / 10_000.0;
        d.mul_f64(f)
    }

    /// May a request to `host` start at `now`? `Ok(())` takes a slot (release it with
    /// [`HostGate::finish`]); `Err(at)` is the earliest time to ask again.
    pub fn try_start(&mut self, host: &str, now: Instant) -> Result<(), Instant> {
        let spacing = self.policy.min_spacing;
        let max = self.policy.max_concurrent.max(1);
        let jittered = self.jitter(spacing);
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_string(), HostState::default());
        }
        let Some(h) = self.hosts.get_mut(host) else {
            return Err(now);
        };
        if let Some(p) = h.paused_until.filter(|p| *p > now) {
            return Err(p);
        }
        if let Some(n) = h.next_start.filter(|n| *n > now) {
            return Err(n);
        }
        if h.in_flight >= max {
            // Asked again when a request of the host ends (the caller is woken then) or
            // after one spacing, whichever comes first.
            return Err(now + spacing.max(Duration::from_millis(50)));
        }
        h.in_flight += 1;
        h.next_start = (!spacing.is_zero()).then(|| now + jittered);
        Ok(())
    }

    /// Count a slot of `host` taken without the checks (work for the host that is not a
    /// request, released with [`HostGate::finish`] like one).
    pub fn hold(&mut self, host: &str, _now: Instant) {
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_string(), HostState::default());
        }
        if let Some(h) = self.hosts.get_mut(host) {
            h.in_flight += 1;
        }
    }

    /// A request to `host` ended.
    pub fn finish(&mut self, host: &str, now: Instant) {
        let window = self.policy.throttle_window;
        let remove = match self.hosts.get_mut(host) {
            Some(h) => {
                h.in_flight = h.in_flight.saturating_sub(1);
                while h
                    .throttles
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > window)
                {
                    h.throttles.pop_front();
                }
                h.in_flight == 0
                    && h.next_start.is_none_or(|n| n <= now)
                    && h.paused_until.is_none_or(|p| p <= now)
                    && h.throttles.is_empty()
            }
            None => false,
        };
        if remove {
            self.hosts.remove(host);
        }
    }

    /// Feed `feed` of `host` was answered 429 or 503 (with `retry_after` when given). When
    /// enough distinct feeds of the host were throttled recently, the whole host pauses.
    pub fn throttled(
        &mut self,
        host: &str,
        feed: usize,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> Throttle {
        let p = self.policy;
        let h = self.hosts.entry(host.to_string()).or_default();
        while h
            .throttles
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > p.throttle_window)
        {
            h.throttles.pop_front();
        }
        h.throttles.push_back((now, feed));
        let mut feeds: Vec<usize> = h.throttles.iter().map(|(_, f)| *f).collect();
        feeds.sort_unstable();
        feeds.dedup();
        if feeds.len() >= p.throttled_feeds_for_host_backoff.max(1) {
            let until = now + retry_after.unwrap_or_default().max(p.host_backoff_min);
            h.paused_until = Some(h.paused_until.map_or(until, |u| u.max(until)));
            h.throttles.clear();
            Throttle::Host(until)
        } else {
            Throttle::Feed
        }
    }

    /// Hosts with state (for memory accounting and tests).
    pub fn tracked_hosts(&self) -> usize {
        self.hosts.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn server_hints_from_headers() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let h = ServerHints::parse(
            Some("public, max-age=600, must-revalidate"),
            Some("Thu, 01 Jan 2026 12:30:00 GMT"),
            Some("Thu, 01 Jan 2026 12:00:00 GMT"),
            now,
        );
        assert_eq!(h.max_age, Some(Duration::from_secs(600)));
        assert_eq!(h.expires_in, Some(Duration::from_secs(1_800)));
        assert_eq!(h.floor(), Some(Duration::from_secs(1_800)));
        let none = ServerHints::parse(Some("no-cache"), Some("0"), None, now);
        assert_eq!(none.floor(), None);
    }

    #[test]
    fn feed_hints_from_ttl_and_syndication() {
        let rss = br#"<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel><title>t</title><ttl>30</ttl><sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency><item><title>x</title></item></channel></rss>"#;
        let h = FeedHints::scan(rss);
        assert_eq!(h.ttl, Some(Duration::from_secs(1_800)));
        assert_eq!(h.sy_period, Some(Duration::from_secs(1_800)));
        let h = FeedHints::scan(b"<rss><channel><ttlx>5</ttlx><ttl> junk </ttl></channel></rss>");
        assert_eq!(h, FeedHints::default());
        assert_eq!(
            FeedHints::scan(b"<sy:updatePeriod>daily</sy:updatePeriod>").floor(),
            Some(Duration::from_secs(86_400))
        );
    }

    #[test]
    fn interval_follows_the_publishing_rate_within_bounds_and_server_floor() {
        let p = IntervalPolicy {
            base: Duration::from_secs(300),
            min: Duration::from_secs(120),
            max: Duration::from_secs(86_400),
            adaptive: true,
        };
        let t = |m: i64| {
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::TimeDelta::minutes(m)
        };
        // Ten items, one an hour: poll every 30 minutes.
        let hourly: Vec<_> = (0..10).map(|i| t(i * 60)).collect();
        assert_eq!(
            next_interval(&p, mean_gap(&hourly), None),
            Duration::from_secs(1_800)
        );
        // One a minute: the lower bound.
        let busy: Vec<_> = (0..10).map(t).collect();
        assert_eq!(
            next_interval(&p, mean_gap(&busy), None),
            Duration::from_secs(120)
        );
        // One a month: the upper bound.
        let slow: Vec<_> = (0..3).map(|i| t(i * 43_200)).collect();
        assert_eq!(
            next_interval(&p, mean_gap(&slow), None),
            Duration::from_secs(86_400)
        );
        // No estimate: the base interval.
        assert_eq!(
            next_interval(&p, mean_gap(&[t(0)]), None),
            Duration::from_secs(300)
        );
        // Never below what the server asks, but the server cannot push past the upper bound.
        assert_eq!(
            next_interval(&p, mean_gap(&busy), Some(Duration::from_secs(900))),
            Duration::from_secs(900)
        );
        assert_eq!(
            next_interval(&p, None, Some(Duration::from_secs(10 * 86_400))),
            Duration::from_secs(86_400)
        );
        let fixed = IntervalPolicy {
            adaptive: false,
            ..p
        };
        assert_eq!(
            next_interval(&fixed, mean_gap(&busy), None),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn host_keys_are_registrable_domains() {
        let k = |u: &str| host_key(&url::Url::parse(u).unwrap());
        assert_eq!(k("https://feeds.bbci.co.uk/news/rss.xml"), "bbci.co.uk");
        assert_eq!(
            k("https://www.theguardian.com/world/rss"),
            "theguardian.com"
        );
        assert_eq!(k("https://a.b.example.com/x"), "example.com");
        assert_eq!(k("http://127.0.0.1:8080/feed"), "127.0.0.1");
        assert_eq!(k("http://localhost:8080/feed"), "localhost");
        assert_eq!(k("http://FEEDS.Example.COM./x"), "example.com");
    }

    fn policy() -> HostPolicy {
        HostPolicy {
            max_concurrent: 2,
            min_spacing: Duration::from_secs(1),
            throttled_feeds_for_host_backoff: 2,
            throttle_window: Duration::from_secs(600),
            host_backoff_min: Duration::from_secs(60),
        }
    }

    #[test]
    fn gate_spaces_and_limits_requests_per_host() {
        let mut g = HostGate::new(policy());
        let t0 = Instant::now();
        assert!(g.try_start("a.com", t0).is_ok());
        // Spacing: not again before ~0.8 s (jitter), other hosts unaffected.
        let again = g.try_start("a.com", t0).unwrap_err();
        assert!(
            again >= t0 + Duration::from_millis(800) && again <= t0 + Duration::from_millis(1_200)
        );
        assert!(g.try_start("b.com", t0).is_ok());
        // After the spacing, a second concurrent request is fine, a third is not.
        let t1 = t0 + Duration::from_secs(2);
        assert!(g.try_start("a.com", t1).is_ok());
        let t2 = t1 + Duration::from_secs(2);
        assert!(
            g.try_start("a.com", t2).is_err(),
            "third concurrent request"
        );
        g.finish("a.com", t2);
        assert!(g.try_start("a.com", t2).is_ok());
        // Hosts with nothing left to remember are forgotten.
        g.finish("b.com", t2);
        assert!(g.tracked_hosts() <= 2);
        let t9 = t2 + Duration::from_secs(10);
        g.finish("a.com", t9);
        g.finish("a.com", t9);
        assert_eq!(g.tracked_hosts(), 0);
    }

    #[test]
    fn one_throttled_feed_backs_off_alone_several_pause_the_host() {
        let mut g = HostGate::new(policy());
        let t0 = Instant::now();
        assert_eq!(
            g.throttled("a.com", 1, Some(Duration::from_secs(30)), t0),
            Throttle::Feed
        );
        // The same feed again is still one feed.
        assert_eq!(g.throttled("a.com", 1, None, t0), Throttle::Feed);
        let until = match g.throttled("a.com", 2, Some(Duration::from_secs(300)), t0) {
            Throttle::Host(u) => u,
            Throttle::Feed => panic!("two feeds throttled: the host should pause"),
        };
        assert_eq!(until, t0 + Duration::from_secs(300));
        assert_eq!(
            g.try_start("a.com", t0 + Duration::from_secs(299))
                .unwrap_err(),
            until
        );
        assert!(g.try_start("a.com", until).is_ok());
        // Throttles older than the window do not add up.
        let mut g = HostGate::new(policy());
        g.throttled("b.com", 1, None, t0);
        assert_eq!(
            g.throttled("b.com", 2, None, t0 + Duration::from_secs(601)),
            Throttle::Feed
        );
        // The pause is at least host_backoff_min.
        let mut g = HostGate::new(policy());
        g.throttled("c.com", 1, None, t0);
        assert_eq!(
            g.throttled("c.com", 2, None, t0),
            Throttle::Host(t0 + Duration::from_secs(60))
        );
    }
}
