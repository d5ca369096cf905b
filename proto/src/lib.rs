//! # wirewatch-proto — the event contract
//!
//! Every message that crosses the bus (Kafka or the in-process bus) is one of the v1 types in
//! [`v1`], serialised as JSON. This crate owns:
//!
//! - the **topic names** ([`Topic`]), which carry the contract version (`wirewatch.stories.raw.v1`);
//! - the **payload types** with their JSON Schemas (committed under `proto/schemas/v1/`, checked
//!   by `tests/schemas.rs`);
//! - the **CloudEvents binary-mode headers** ([`cloudevent_headers`]) every message carries.
//!
//! Compatibility rules (see `ARCHITECTURE.md`): within v1 only optional fields are added; readers
//! never reject unknown fields; a breaking change is a new version and a new topic.
//!
//! It reads and writes nothing itself: it is plain data.

pub mod v1;

use std::fmt;

/// Version of the contract implemented by this crate; part of every topic name.
pub const CONTRACT_VERSION: &str = "v1";

/// Default prefix of topic names. Deployments (and tests) may choose another one so that
/// several pipelines can share a cluster.
pub const DEFAULT_TOPIC_PREFIX: &str = "wirewatch";

/// The topics of the pipeline. The full name is `<prefix>.<suffix>.v1`, e.g.
/// `wirewatch.stories.raw.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// fetcher → dedup: one [`v1::RawStory`] per feed item. Key: story id.
    StoriesRaw,
    /// dedup → classifier: one [`v1::UniqueStory`] per story that is not a duplicate. Key: story id.
    StoriesUnique,
    /// dedup → store: one [`v1::DuplicateLink`] per duplicate. Key: id of the original story.
    StoriesLinks,
    /// classifier → alerter, store: one [`v1::EnrichedStory`] per unique story. Key: story id.
    StoriesEnriched,
    /// alerter → store: one [`v1::Alert`] per delivered alert. Key: subscription id.
    Alerts,
    /// fetcher → store: [`v1::FeedHealth`] state changes. Key: feed id.
    FeedsHealth,
    /// every consumer → operators: [`v1::DeadLetter`] for messages that cannot be processed.
    /// Key: the original key.
    DeadLetter,
}

impl Topic {
    /// Every topic, in pipeline order.
    pub const ALL: [Topic; 7] = [
        Topic::StoriesRaw,
        Topic::StoriesUnique,
        Topic::StoriesLinks,
        Topic::StoriesEnriched,
        Topic::Alerts,
        Topic::FeedsHealth,
        Topic::DeadLetter,
    ];

    /// The part of the name between prefix and version.
    pub fn suffix(self) -> &'static str {
        match self {
            Topic::StoriesRaw => "stories.raw",
            Topic::StoriesUnique => "stories.unique",
            Topic::StoriesLinks => "stories.links",
            Topic::StoriesEnriched => "stories.enriched",
            Topic::Alerts => "alerts",
            Topic::FeedsHealth => "feeds.health",
            Topic::DeadLetter => "deadletter",
        }
    }

    /// Full topic name under `prefix`.
    pub fn name(self, prefix: &str) -> String {
        format!("{prefix}.{}.{CONTRACT_VERSION}", self.suffix())
    }

    /// The CloudEvents `type` of the payload carried on this topic.
    pub fn ce_type(self) -> &'static str {
        match self {
            Topic::StoriesRaw => "io.wirewatch.story.raw.v1",
            Topic::StoriesUnique => "io.wirewatch.story.unique.v1",
            Topic::StoriesLinks => "io.wirewatch.story.link.v1",
            Topic::StoriesEnriched => "io.wirewatch.story.enriched.v1",
            Topic::Alerts => "io.wirewatch.alert.v1",
            Topic::FeedsHealth => "io.wirewatch.feed.health.v1",
            Topic::DeadLetter => "io.wirewatch.deadletter.v1",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.suffix(), CONTRACT_VERSION)
    }
}

/// An event type of the contract: knows its topic, its id and its partitioning key.
pub trait Event: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema {
    /// Topic the event is published on.
    const TOPIC: Topic;
    /// File name of its schema under `proto/schemas/v1/`.
    const SCHEMA_NAME: &'static str;
    /// Stable, unique id of this event (CloudEvents `ce_id`).
    fn event_id(&self) -> String;
    /// Kafka message key: keeps related events in one partition, in order.
    fn key(&self) -> String;
    /// Time the event was made (CloudEvents `ce_time`).
    fn time(&self) -> chrono::DateTime<chrono::Utc>;
}

/// CloudEvents binary-mode attributes as Kafka headers, plus `content-type`.
pub fn cloudevent_headers<E: Event>(event: &E, source: &str) -> Vec<(String, String)> {
    vec![
        ("ce_specversion".into(), "1.0".into()),
        ("ce_id".into(), event.event_id()),
        ("ce_type".into(), E::TOPIC.ce_type().into()),
        ("ce_source".into(), source.into()),
        (
            "ce_time".into(),
            event
                .time()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        ("content-type".into(), "application/json".into()),
    ]
}

/// A short, stable, hex id (128 bits of SHA-256) over the given parts, separated so that
/// `("ab","c")` and `("a","bc")` differ. Used for story, link, alert and feed ids.
///
/// The value is a contract (ids are keys in every topic and store): SHA-256 over each part as
/// its byte length (u64, little-endian) then its bytes; the first 16 bytes of the digest as
/// lower-case hex. It is computed once per story, on the fetcher's hot path, so the digest is
/// ring's (assembly with AVX2/SSSE3 paths: 0.63x the time of the portable `sha2` crate on
/// CPUs without SHA extensions) and the hex is written in one `format!` of a `u128`.
pub fn stable_id(parts: &[&str]) -> String {
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let first_16 = h.finish().as_ref()[..16]
        .iter()
        .fold(0u128, |acc, b| acc << 8 | u128::from(*b));
    format!("{first_16:032x}")
}

/// The JSON Schema of every v1 payload, by file name (`<name>.json`).
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    fn one<E: Event>() -> (&'static str, serde_json::Value) {
        (E::SCHEMA_NAME, schemars::schema_for!(E).to_value())
    }
    vec![
        one::<v1::RawStory>(),
        one::<v1::UniqueStory>(),
        one::<v1::DuplicateLink>(),
        one::<v1::EnrichedStory>(),
        one::<v1::Alert>(),
        one::<v1::FeedHealth>(),
        one::<v1::DeadLetter>(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_carry_version_and_prefix() {
        assert_eq!(
            Topic::StoriesRaw.name("wirewatch"),
            "wirewatch.stories.raw.v1"
        );
        assert_eq!(Topic::DeadLetter.name("t1"), "t1.deadletter.v1");
    }

    /// The id is a contract: the same value as the original formula (`hex::encode` of the
    /// first 16 digest bytes) on many inputs, and as an independent implementation (Python's
    /// hashlib) on fixed ones.
    #[test]
    fn stable_id_value_is_unchanged() {
        fn original(parts: &[&str]) -> String {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for p in parts {
                h.update((p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
            hex::encode(&h.finalize()[..16])
        }
        let words = [
            "",
            "x",
            "feed-1",
            "https://news.example/story/42",
            "Привет, мир",
            "🙂",
        ];
        let mut long = String::new();
        for n in 0..300 {
            long.push(char::from(b'a' + (n % 26) as u8));
            let a = words[n % words.len()];
            let b = words[(n / words.len()) % words.len()];
            for parts in [
                vec![long.as_str()],
                vec![a, long.as_str()],
                vec![a, b],
                vec![],
            ] {
                assert_eq!(stable_id(&parts), original(&parts), "{parts:?}");
            }
        }
        assert_eq!(stable_id(&["x"]), "f91b14e7bbea4c5bfa0e1a7040177166");
        assert_eq!(
            stable_id(&["feed-1", "https://news.example/story/42"]),
            "56fbfe87d2b0c76501f5999c03cbb65e"
        );
        assert_eq!(stable_id(&[]), "e3b0c44298fc1c149afbf4c8996fb924");
        assert_eq!(
            stable_id(&["", "Привет, мир"]),
            "047b3fedfbd5e7046211cedf2c8ff2fa"
        );
    }

    #[test]
    fn stable_id_separates_parts() {
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
        assert_eq!(stable_id(&["x"]).len(), 32);
        assert_eq!(stable_id(&["x"]), stable_id(&["x"]));
    }
}
