//! Pure mapping from events to table rows, with the validation that decides what is poison.
//! No I/O: unit-tested without a database.

use chrono::{DateTime, SecondsFormat, Utc};
use wirewatch_proto::v1::{
    Alert, DeadLetter, DedupRule, DuplicateLink, EnrichedStory, EntityKind, FeedHealth, FeedStatus,
};

use crate::error::StoreError;

/// Longest id accepted (story, link, alert, feed, event ids are 32 hex characters today).
pub const MAX_ID_BYTES: usize = 512;

/// Timestamps as stored: RFC 3339, UTC, microseconds, `Z`. Fixed width, so string order is
/// time order (for years 0–9999).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn check_id(kind: &'static str, field: &str, value: &str, id: &str) -> Result<(), StoreError> {
    let reason = if value.trim().is_empty() {
        format!("{field} is empty")
    } else if value.len() > MAX_ID_BYTES {
        format!("{field} is longer than {MAX_ID_BYTES} bytes")
    } else if value.chars().any(char::is_control) {
        format!("{field} contains control characters")
    } else {
        return Ok(());
    };
    Err(StoreError::Invalid {
        kind,
        id: truncate_id(id),
        reason,
    })
}

fn truncate_id(id: &str) -> String {
    let mut end = id.len().min(80);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    id[..end].to_string()
}

fn to_json<T: serde::Serialize>(kind: &'static str, id: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid {
        kind,
        id: truncate_id(id),
        reason: format!("cannot encode as JSON: {e}"),
    })
}

/// Normalised topic id as kept in `story_topics` and matched by `?topic=`.
pub fn norm_topic(t: &str) -> String {
    t.trim().to_lowercase()
}

/// Normalised country code as kept in `story_countries` and matched by `?country=`.
pub fn norm_country(c: &str) -> String {
    c.trim().to_uppercase()
}

/// Bits of an SQLite full-text rowid that hold the story's `seq` (see [`fts_rowid`]).
pub const FTS_SEQ_BITS: u32 = 37;
/// Mask of the `seq` part of a full-text rowid.
pub const FTS_SEQ_MASK: i64 = (1 << FTS_SEQ_BITS) - 1;
/// Largest time bucket; later times share it (2^26 minutes after 2000 is the year 2127).
const FTS_MAX_BUCKET: i64 = (1 << (63 - FTS_SEQ_BITS)) - 1;
/// 2000-01-01T00:00:00Z in Unix seconds: bucket 0, and every earlier time.
const FTS_EPOCH_SECS: i64 = 946_684_800;

/// The time bucket of a stored `sort_at` (RFC 3339 text as [`ts`] writes it): whole minutes
/// since 2000-01-01, clamped to `0..=2^26-1`; unparsable text is bucket 0. It never decreases
/// as `sort_at` grows, which is all newest-first search relies on. Must agree with the SQL in
/// `migrations/sqlite/0003_fts_time_order.sql` (a test checks that it does).
pub fn fts_bucket(sort_at: &str) -> i64 {
    let secs = sort_at
        .get(..19)
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
        .map_or(FTS_EPOCH_SECS, |t| t.and_utc().timestamp());
    // SQLite's integer division truncates toward zero; so does Rust's.
    ((secs - FTS_EPOCH_SECS) / 60).clamp(0, FTS_MAX_BUCKET)
}

/// The rowid of a story in SQLite's full-text index: `bucket << 37 | seq`, so rowid order is
/// time order to the minute, and `seq` is recovered as `rowid & FTS_SEQ_MASK`. Unique while
/// `seq < 2^37`.
pub fn fts_rowid(sort_at: &str, seq: i64) -> i64 {
    (fts_bucket(sort_at) << FTS_SEQ_BITS) | (seq & FTS_SEQ_MASK)
}

/// The lowest full-text rowid of a bucket.
pub fn fts_bucket_start(bucket: i64) -> i64 {
    bucket.clamp(0, FTS_MAX_BUCKET) << FTS_SEQ_BITS
}

/// The highest full-text rowid of a bucket.
pub fn fts_bucket_last(bucket: i64) -> i64 {
    fts_bucket_start(bucket) | FTS_SEQ_MASK
}

/// The token a story mentioning `country` carries in the `tags` column of SQLite's
/// full-text index: `c` and the hex of the normalised code (one token for any tokenizer,
/// never produced by a user's words because those only search the text columns).
pub fn country_tag(country: &str) -> String {
    format!("c{}", hex::encode_upper(norm_country(country)))
}

/// A `stories` row and its side-table rows.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryRow {
    pub id: String,
    pub cluster_id: String,
    pub feed_id: String,
    pub feed_url: String,
    pub title: String,
    pub link: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub language: Option<String>,
    pub published: Option<String>,
    pub fetched_at: String,
    pub classified_at: String,
    pub sort_at: String,
    pub topics_json: String,
    pub countries_json: String,
    pub entities_json: String,
    pub raw: String,
    /// `(topic id, score)`, normalised, unique.
    pub topics: Vec<(String, f64)>,
    /// Country codes, normalised, unique, in the story's order.
    pub countries: Vec<String>,
    /// Entity ids, unique, at most [`MAX_ENTITY_ROWS`] of at most 128 bytes.
    pub entity_ids: Vec<String>,
    /// Severity 0–5, if classified.
    pub severity: Option<i64>,
}

/// Most entity ids kept per story for the `entity` filter.
pub const MAX_ENTITY_ROWS: usize = 200;

impl StoryRow {
    /// Map an enriched story; fails (as data) on an unusable id.
    pub fn from_event(s: &EnrichedStory) -> Result<Self, StoreError> {
        const KIND: &str = "story";
        let id = &s.story.id;
        check_id(KIND, "id", id, id)?;
        let mut topics: Vec<(String, f64)> = Vec::new();
        for t in &s.topics {
            let tid = norm_topic(&t.id);
            if tid.is_empty() {
                continue;
            }
            let score = if t.score.is_finite() { t.score } else { 0.0 };
            match topics.iter_mut().find(|(x, _)| *x == tid) {
                Some(existing) => existing.1 = existing.1.max(score),
                None => topics.push((tid, score)),
            }
        }
        let mut countries: Vec<String> = Vec::new();
        let entity_countries = s
            .entities
            .iter()
            .filter(|e| e.kind == EntityKind::Country)
            .map(|e| &e.id);
        for c in s.countries.iter().chain(entity_countries) {
            let c = norm_country(c);
            if !c.is_empty() && !countries.contains(&c) {
                countries.push(c);
            }
        }
        let mut entity_ids: Vec<String> = Vec::new();
        for e in &s.entities {
            let e = e.id.trim();
            if !e.is_empty()
                && e.len() <= 128
                && entity_ids.len() < MAX_ENTITY_ROWS
                && !entity_ids.iter().any(|x| x == e)
            {
                entity_ids.push(e.to_string());
            }
        }
        let published = s.story.published.map(ts);
        let fetched_at = ts(s.story.fetched_at);
        Ok(StoryRow {
            id: id.clone(),
            cluster_id: if s.cluster_id.is_empty() {
                id.clone()
            } else {
                s.cluster_id.clone()
            },
            feed_id: s.story.feed.id.clone(),
            feed_url: s.story.feed.url.clone(),
            title: s.story.title.clone(),
            link: s.story.link.clone(),
            summary: s.story.summary.clone(),
            content: s.story.content.clone(),
            language: s
                .detected_language
                .clone()
                .or_else(|| s.story.language.clone()),
            sort_at: published.clone().unwrap_or_else(|| fetched_at.clone()),
            published,
            fetched_at,
            classified_at: ts(s.classified_at),
            topics_json: to_json(KIND, id, &s.topics)?,
            countries_json: to_json(KIND, id, &countries)?,
            entities_json: to_json(KIND, id, &s.entities)?,
            raw: to_json(KIND, id, s)?,
            topics,
            countries,
            entity_ids,
            severity: s.severity.map(i64::from),
        })
    }
}

/// The `rule` column value (the serde name).
pub fn rule_name(r: DedupRule) -> &'static str {
    r.as_str()
}

/// The `status` column value (the serde name).
pub fn status_name(s: FeedStatus) -> &'static str {
    match s {
        FeedStatus::Healthy => "healthy",
        FeedStatus::Failing => "failing",
        FeedStatus::Recovered => "recovered",
        FeedStatus::Redirected => "redirected",
        FeedStatus::Gone => "gone",
    }
}

/// A `duplicates` row.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRow {
    pub id: String,
    pub story_id: String,
    pub duplicate_of: String,
    pub cluster_id: String,
    pub rule: &'static str,
    pub score: f64,
    pub link: Option<String>,
    pub title: String,
    pub feed_id: String,
    pub raw: String,
    pub deduped_at: String,
}

impl LinkRow {
    /// Map a duplicate link; fails on unusable ids or a score that is not a number.
    pub fn from_event(l: &DuplicateLink) -> Result<Self, StoreError> {
        const KIND: &str = "link";
        check_id(KIND, "id", &l.id, &l.id)?;
        check_id(KIND, "story.id", &l.story.id, &l.id)?;
        check_id(KIND, "duplicate_of", &l.duplicate_of, &l.id)?;
        if !l.score.is_finite() {
            return Err(StoreError::Invalid {
                kind: KIND,
                id: truncate_id(&l.id),
                reason: "score is not a finite number".into(),
            });
        }
        Ok(LinkRow {
            id: l.id.clone(),
            story_id: l.story.id.clone(),
            duplicate_of: l.duplicate_of.clone(),
            cluster_id: l.cluster_id.clone(),
            rule: rule_name(l.rule),
            score: l.score,
            link: l.story.link.clone(),
            title: l.story.title.clone(),
            feed_id: l.story.feed.id.clone(),
            raw: to_json(KIND, &l.id, l)?,
            deduped_at: ts(l.deduped_at),
        })
    }
}

/// An `alerts` row.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: String,
    pub subscription_id: String,
    pub story_id: String,
    pub raw: String,
    pub delivered_at: String,
}

impl AlertRow {
    /// Map an alert; fails on unusable ids.
    pub fn from_event(a: &Alert) -> Result<Self, StoreError> {
        const KIND: &str = "alert";
        check_id(KIND, "id", &a.id, &a.id)?;
        check_id(KIND, "story_id", &a.story_id, &a.id)?;
        check_id(KIND, "subscription_id", &a.subscription_id, &a.id)?;
        Ok(AlertRow {
            id: a.id.clone(),
            subscription_id: a.subscription_id.clone(),
            story_id: a.story_id.clone(),
            raw: to_json(KIND, &a.id, a)?,
            delivered_at: ts(a.delivered_at),
        })
    }
}

/// A `feed_health` row.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedHealthRow {
    pub id: String,
    pub feed_id: String,
    pub status: &'static str,
    pub raw: String,
    pub observed_at: String,
}

impl FeedHealthRow {
    /// Map a feed-health event; fails on unusable ids.
    pub fn from_event(h: &FeedHealth) -> Result<Self, StoreError> {
        const KIND: &str = "feed_health";
        check_id(KIND, "id", &h.id, &h.id)?;
        check_id(KIND, "feed.id", &h.feed.id, &h.id)?;
        Ok(FeedHealthRow {
            id: h.id.clone(),
            feed_id: h.feed.id.clone(),
            status: status_name(h.status),
            raw: to_json(KIND, &h.id, h)?,
            observed_at: ts(h.observed_at),
        })
    }
}

/// A `dead_letters` row.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterRow {
    pub id: String,
    pub stage: String,
    pub topic: String,
    pub reason: String,
    pub raw: String,
    pub failed_at: String,
}

impl DeadLetterRow {
    /// Map a dead letter; fails on an unusable id.
    pub fn from_event(d: &DeadLetter) -> Result<Self, StoreError> {
        const KIND: &str = "dead_letter";
        check_id(KIND, "id", &d.id, &d.id)?;
        Ok(DeadLetterRow {
            id: d.id.clone(),
            stage: d.stage.clone(),
            topic: d.topic.clone(),
            reason: d.reason.clone(),
            raw: to_json(KIND, &d.id, d)?,
            failed_at: ts(d.failed_at),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use wirewatch_proto::v1::{Entity, FeedRef, RawStory, TopicMatch};

    fn story() -> EnrichedStory {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        EnrichedStory {
            story: RawStory {
                id: "s1".into(),
                feed: FeedRef {
                    id: "f1".into(),
                    url: "https://example.org/feed".into(),
                    title: None,
                },
                guid: None,
                link: Some("https://example.org/a".into()),
                title: "Talks in Istanbul".into(),
                summary: None,
                content: None,
                authors: vec![],
                categories: vec![],
                language: Some("en".into()),
                published: None,
                updated: None,
                fetched_at: t,
                fetcher_version: "0".into(),
                published_is_fetch_time: false,
            },
            cluster_id: String::new(),
            topics: vec![
                TopicMatch {
                    id: "Diplomacy".into(),
                    label: "Diplomacy".into(),
                    score: 0.4,
                    iptc: String::new(),
                    iptc_top: String::new(),
                    evidence: vec![],
                },
                TopicMatch {
                    id: "diplomacy".into(),
                    label: "Diplomacy".into(),
                    score: 0.9,
                    iptc: String::new(),
                    iptc_top: String::new(),
                    evidence: vec![],
                },
            ],
            countries: vec!["tr".into(), "UA".into()],
            entities: vec![Entity {
                kind: EntityKind::Country,
                id: "RU".into(),
                name: "Russia".into(),
                mentions: 1,
                matched: vec![],
                salience: None,
            }],
            detected_language: None,
            language_confidence: None,
            regions: vec![],
            severity: None,
            classified_at: t,
            classifier_version: "0".into(),
        }
    }

    #[test]
    fn fts_rowids_follow_time() {
        let b = fts_bucket;
        assert_eq!(b("2000-01-01T00:00:59.999999Z"), 0);
        assert_eq!(b("2000-01-01T00:01:00.000000Z"), 1);
        assert_eq!(
            b("1999-12-31T23:59:30.000000Z"),
            0,
            "earlier times share bucket 0"
        );
        assert_eq!(b("1970-01-01T00:00:00.000000Z"), 0);
        assert_eq!(b("not a time"), 0);
        assert_eq!(b(""), 0);
        assert_eq!(b("9999-12-31T23:59:59.999999Z"), FTS_MAX_BUCKET);
        assert_eq!(
            b("2024-05-01T12:00:30.000000Z"),
            (1_714_564_800 - FTS_EPOCH_SECS) / 60
        );
        // Monotone over a sorted sample of stored times.
        let times = [
            "0001-01-01T00:00:00.000000Z",
            "1999-01-01T00:00:00.000000Z",
            "2024-05-01T12:00:00.000000Z",
            "2024-05-01T12:00:59.000000Z",
            "2024-05-01T12:01:00.000000Z",
            "2126-01-01T00:00:00.000000Z",
            "2200-01-01T00:00:00.000000Z",
        ];
        for w in times.windows(2) {
            assert!(b(w[0]) <= b(w[1]), "{w:?}");
            assert!(fts_rowid(w[0], 900) < fts_rowid(w[1], 1) || b(w[0]) == b(w[1]));
        }
        let r = fts_rowid("2024-05-01T12:00:00.000000Z", 12_345);
        assert_eq!(r & FTS_SEQ_MASK, 12_345);
        assert_eq!(r >> FTS_SEQ_BITS, b("2024-05-01T12:00:00.000000Z"));
        assert!(
            fts_rowid("9999-12-31T23:59:59.999999Z", FTS_SEQ_MASK) > 0,
            "no overflow"
        );
        assert_eq!(fts_bucket_start(3), 3 << FTS_SEQ_BITS);
        assert_eq!(fts_bucket_last(3) + 1, fts_bucket_start(4));
        assert_eq!(country_tag(" ua"), "c5541");
    }

    #[test]
    fn story_row_normalises_filters() {
        let r = StoryRow::from_event(&story()).unwrap();
        assert_eq!(r.topics, vec![("diplomacy".to_string(), 0.9)]);
        assert_eq!(r.countries, vec!["TR", "UA", "RU"]);
        assert_eq!(r.entity_ids, vec!["RU"]);
        assert_eq!(r.severity, None);
        assert_eq!(r.cluster_id, "s1", "empty cluster falls back to the id");
        assert_eq!(
            r.sort_at, "2024-05-01T12:00:00.000000Z",
            "no date: fetched_at"
        );
        assert_eq!(r.language.as_deref(), Some("en"));
        let raw: serde_json::Value = serde_json::from_str(&r.raw).unwrap();
        assert_eq!(raw["id"], "s1");
    }

    #[test]
    fn empty_or_huge_ids_are_invalid() {
        let mut s = story();
        s.story.id = " ".into();
        assert!(matches!(
            StoryRow::from_event(&s),
            Err(StoreError::Invalid { kind: "story", .. })
        ));
        s.story.id = "x".repeat(MAX_ID_BYTES + 1);
        let e = StoryRow::from_event(&s).unwrap_err();
        assert!(e.to_string().contains("longer than"));
    }

    #[test]
    fn timestamps_sort_as_strings() {
        let a = Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap();
        let b = a + chrono::Duration::milliseconds(1);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a).len(), ts(b).len());
    }
}
