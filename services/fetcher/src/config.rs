//! The `[fetcher]` config section. Defaults live in the `Default` impl, in one place.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// 15 MiB: larger than any real news feed, small enough to hold in memory per fetch.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 15 * 1024 * 1024;

/// How the fetcher polls feeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FetcherConfig {
    /// The feed list (`[[feeds]]` entries with `id`, `url`, optional `interval_secs`, `title`).
    /// A relative path is relative to the working directory.
    pub feeds_file: PathBuf,
    /// How often each feed is polled, unless its entry overrides it. At least 1.
    pub interval_secs: u64,
    /// How many feeds are fetched at the same time, across all feeds. At least 1.
    pub max_concurrent_fetches: usize,
    /// Time allowed to establish a connection (DNS, TCP, TLS).
    pub connect_timeout_ms: u64,
    /// Time allowed for one whole request, body included.
    pub request_timeout_ms: u64,
    /// How long an idle connection to a host is kept for that host's next request (at most
    /// two per host). 0: a new connection for every request, none held between polls. A
    /// host polled less often than this gains nothing from keeping one, and every idle
    /// connection holds a file descriptor.
    pub keep_alive_secs: u64,
    /// Largest response body accepted (after decompression); checked while streaming, so a
    /// bigger body is cut off, not buffered.
    pub max_body_bytes: u64,
    /// Redirects followed per request before giving up.
    pub max_redirects: usize,
    /// `User-Agent` header sent with every request.
    pub user_agent: String,
    /// First retry delay of a failing feed; doubles (with jitter) on each further failure.
    pub retry_initial_secs: u64,
    /// Ceiling of a failing feed's retry delay. A failing feed is never dropped: it is tried
    /// again at least this often.
    pub retry_max_secs: u64,
    /// Story ids remembered per feed (the most recently published ones) so that a story is
    /// published once. Must exceed the number of items a feed carries at once.
    pub seen_per_feed: usize,
    /// Consecutive failed fetches after which a feed is reported `failing` (a `FeedHealth`
    /// event). At least 1.
    pub failures_before_failing: u32,
    /// Fetch URLs that resolve to private, loopback or link-local addresses (an intranet
    /// feed, tests on 127.0.0.1). Off by default: a feed URL must not reach into the host's
    /// network.
    pub allow_private_addresses: bool,
    /// Adapt each feed's interval to its publishing rate (half the mean gap between its
    /// items), within `min_interval_secs`..`max_interval_secs`. Feeds with their own
    /// `interval_secs` in the feeds file keep it.
    pub adaptive_interval: bool,
    /// Lower bound of the adaptive interval.
    pub min_interval_secs: u64,
    /// Upper bound of the adaptive interval, and of server hints (`Cache-Control`,
    /// `Expires`, `<ttl>`, `sy:updatePeriod`), which otherwise lengthen any interval.
    pub max_interval_secs: u64,
    /// Requests to one host (registrable domain, shared by all its feeds) in flight at once.
    pub max_concurrent_per_host: usize,
    /// Minimum time between the starts of two requests to one host (±20 % jitter).
    pub host_min_spacing_ms: u64,
    /// Distinct feeds of one host answered 429/503 within `host_throttle_window_secs` that
    /// pause the whole host (one throttled feed backs off alone).
    pub host_throttled_feeds: usize,
    /// Window for `host_throttled_feeds`.
    pub host_throttle_window_secs: u64,
    /// Shortest pause of a throttled host (longer when `Retry-After` says so).
    pub host_backoff_secs: u64,
    /// How often a running fetcher checks the registry (`wirewatch feeds add/import/remove`)
    /// for changes.
    pub registry_reload_secs: u64,
    /// Public base URL of this fetcher's WebSub callback (e.g.
    /// `https://wirewatch.example.org/websub`, routed to the fetcher's HTTP server, path
    /// kept). Set: feeds that advertise a hub are subscribed to. Unset: polling only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websub_callback_url: Option<String>,
    /// This process's share of the feeds when several fetchers run: `"i/n"` polls the feeds
    /// whose id hashes to `i` modulo `n` (`"0/1"`: all). Processes that share the state (one
    /// `data_dir` on one host, or one `state_url`) share the registry, and each keeps the state
    /// of its own feeds.
    pub shard: String,
    /// Where the feed registry and per-feed state live: unset, SQLite `<data_dir>/fetcher.db`
    /// (shared by processes on one host); a `postgres://user:password@host/db` URL shares them
    /// between fetcher shards on several machines. Holds a password: never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_url: Option<String>,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        Self {
            feeds_file: PathBuf::from("config/feeds.toml"),
            interval_secs: 300,
            max_concurrent_fetches: 16,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            keep_alive_secs: 15,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_redirects: 5,
            user_agent: format!(
                "wirewatch-fetcher/{} (news monitor; feed reader)",
                wirewatch_runtime::VERSION
            ),
            retry_initial_secs: 30,
            retry_max_secs: 3_600,
            seen_per_feed: 5_000,
            failures_before_failing: 1,
            allow_private_addresses: false,
            adaptive_interval: true,
            min_interval_secs: 120,
            max_interval_secs: 86_400,
            max_concurrent_per_host: 2,
            host_min_spacing_ms: 1_000,
            host_throttled_feeds: 2,
            host_throttle_window_secs: 600,
            host_backoff_secs: 60,
            registry_reload_secs: 10,
            websub_callback_url: None,
            shard: "0/1".into(),
            state_url: None,
        }
    }
}

impl FetcherConfig {
    /// Default polling interval (never zero).
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.max(1))
    }

    /// The interval policy of a feed (`own`: its `interval_secs` from the feeds file).
    pub fn interval_policy(&self, own: Option<u64>) -> crate::schedule::IntervalPolicy {
        let min = Duration::from_secs(self.min_interval_secs.max(1));
        crate::schedule::IntervalPolicy {
            base: own
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or_else(|| self.interval()),
            min,
            max: Duration::from_secs(self.max_interval_secs).max(min),
            adaptive: self.adaptive_interval && own.is_none(),
        }
    }

    /// `shard` as (index, count); errors name the key.
    pub fn shard(&self) -> Result<(u64, u64), String> {
        let bad = || {
            format!(
                "fetcher.shard {:?} must be \"i/n\" with 0 <= i < n",
                self.shard
            )
        };
        let (i, n) = self.shard.split_once('/').ok_or_else(bad)?;
        let (i, n): (u64, u64) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || i >= n {
            return Err(bad());
        }
        Ok((i, n))
    }

    /// Whether feed `id` belongs to this process's shard.
    pub fn owns(&self, id: &str) -> bool {
        match self.shard() {
            Ok((_, 1)) | Err(_) => true,
            Ok((i, n)) => {
                let h = wirewatch_proto::stable_id(&["shard", id]);
                u64::from_str_radix(&h[..h.len().min(15)], 16).unwrap_or(0) % n == i
            }
        }
    }

    /// The per-host politeness policy.
    pub fn host_policy(&self) -> crate::schedule::HostPolicy {
        crate::schedule::HostPolicy {
            max_concurrent: self.max_concurrent_per_host.max(1),
            min_spacing: Duration::from_millis(self.host_min_spacing_ms),
            throttled_feeds_for_host_backoff: self.host_throttled_feeds.max(1),
            throttle_window: Duration::from_secs(self.host_throttle_window_secs.max(1)),
            host_backoff_min: Duration::from_secs(self.host_backoff_secs),
        }
    }

    /// Retry delay floor and ceiling for failing feeds.
    pub fn retry_bounds(&self) -> (Duration, Duration) {
        let initial = Duration::from_secs(self.retry_initial_secs.max(1));
        let max = Duration::from_secs(self.retry_max_secs.max(1)).max(initial);
        (initial, max)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_round_trip_and_unknown_keys_are_rejected() {
        let cfg = FetcherConfig::default();
        let text = toml::to_string(&cfg).unwrap();
        let back: FetcherConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        let partial: FetcherConfig = toml::from_str("interval_secs = 60").unwrap();
        assert_eq!(partial.interval_secs, 60);
        assert_eq!(partial.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(toml::from_str::<FetcherConfig>("interval = 60").is_err());
    }

    #[test]
    fn shards_split_the_feeds() {
        let mut c = FetcherConfig::default();
        assert!(c.owns("anything"));
        let ids: Vec<String> = (0..300).map(|i| format!("feed-{i}")).collect();
        let counts: Vec<usize> = (0..3)
            .map(|i| {
                c.shard = format!("{i}/3");
                ids.iter().filter(|id| c.owns(id)).count()
            })
            .collect();
        assert_eq!(
            counts.iter().sum::<usize>(),
            300,
            "every feed in exactly one shard"
        );
        assert!(counts.iter().all(|n| *n > 60), "{counts:?}");
        for bad in ["3/3", "1", "a/b", "0/0"] {
            c.shard = bad.into();
            assert!(c.shard().unwrap_err().contains("fetcher.shard"));
        }
    }
}
