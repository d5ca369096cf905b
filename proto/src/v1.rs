//! v1 payloads. Readers ignore unknown fields (no `deny_unknown_fields`), so producers may add
//! optional fields within v1 without breaking consumers.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{stable_id, Event, Topic};

/// The feed a story came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedRef {
    /// Stable feed id: the configured id, or a hash of the URL.
    pub id: String,
    /// URL the feed was fetched from.
    pub url: String,
    /// Feed title as published by the feed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A story as the fetcher normalised it from one feed item. Topic `stories.raw.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RawStory {
    /// Stable story id: hash of feed id and the item's GUID (or link, or title).
    pub id: String,
    /// Source feed.
    pub feed: FeedRef,
    /// The item's GUID / Atom id as published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// Link to the article (absolute URL), as published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Title as plain text.
    #[serde(default)]
    pub title: String,
    /// Summary as sanitised plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Full content as sanitised plain text, when the feed carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Author names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// Categories / tags as published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Language declared by the feed (BCP 47), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Publication time from the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    /// Last update time from the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    /// When the fetcher fetched the feed.
    pub fetched_at: DateTime<Utc>,
    /// Version of the fetcher/normaliser that made this event.
    #[serde(default)]
    pub fetcher_version: String,
    /// The item carried no date at all: `published` is the fetch time, not the feed's.
    /// Absent (false) on dated stories.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub published_is_fetch_time: bool,
}

impl RawStory {
    /// Text used for matching: title, summary and content joined.
    pub fn text(&self) -> String {
        let mut s = self.title.clone();
        for part in [&self.summary, &self.content].into_iter().flatten() {
            s.push('\n');
            s.push_str(part);
        }
        s
    }
}

/// A story that dedup found to be new. Topic `stories.unique.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UniqueStory {
    /// The story as fetched.
    #[serde(flatten)]
    pub story: RawStory,
    /// Cluster of stories about the same event; the story's own id until clustering joins it to
    /// another.
    pub cluster_id: String,
    /// When dedup processed it.
    pub deduped_at: DateTime<Utc>,
    /// Version of the dedup rules.
    pub dedup_version: String,
    /// Why the story joined an existing cluster (absent when it starts its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_match: Option<ClusterMatch>,
}

/// Why a story joined another story's cluster (same event, different wording).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterMatch {
    /// The story it matched.
    pub story_id: String,
    /// Rule that matched, e.g. `title_lead_similarity` (`+entities` when shared names counted).
    pub rule: String,
    /// Score in [0, 1].
    pub score: f64,
    /// Names both stories carry (as written in the new story): the entity evidence of the match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_entities: Vec<String>,
}

/// Which dedup rule recognised a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DedupRule {
    /// Same GUID from the same feed.
    Guid,
    /// Same canonical link (tracking parameters, fragments, scheme removed).
    CanonicalUrl,
    /// Same normalised title and text.
    ContentHash,
    /// Near-duplicate text (similarity score).
    NearDuplicate,
    /// An edited version of a story already published (same link or near-identical text,
    /// changed content): an update, not a new story.
    Update,
}

impl DedupRule {
    /// The serde name (`guid`, `canonical_url`, …), for labels and columns.
    pub fn as_str(self) -> &'static str {
        match self {
            DedupRule::Guid => "guid",
            DedupRule::CanonicalUrl => "canonical_url",
            DedupRule::ContentHash => "content_hash",
            DedupRule::NearDuplicate => "near_duplicate",
            DedupRule::Update => "update",
        }
    }
}

/// A duplicate story and the story it duplicates. Topic `stories.links.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DuplicateLink {
    /// Link id: hash of story id and original id.
    pub id: String,
    /// The duplicate story (as fetched).
    pub story: RawStory,
    /// Id of the original story.
    pub duplicate_of: String,
    /// Cluster of the original.
    pub cluster_id: String,
    /// Rule that matched.
    pub rule: DedupRule,
    /// Similarity score in [0, 1]; 1 for exact rules.
    pub score: f64,
    /// When dedup found it.
    pub deduped_at: DateTime<Utc>,
    /// Version of the dedup rules.
    pub dedup_version: String,
}

/// A topic the classifier assigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopicMatch {
    /// Taxonomy id, e.g. `conflict` or `diplomacy`.
    pub id: String,
    /// Human label.
    pub label: String,
    /// Score in [0, 1].
    pub score: f64,
    /// IPTC Media Topic code of this topic, e.g. `medtop:16000000`.
    pub iptc: String,
    /// IPTC Media Topic code of its top-level ancestor.
    pub iptc_top: String,
    /// The evidence that fired (terms, phrases), strongest first; may be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// Kind of a named entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A country (id is ISO 3166-1 alpha-2).
    Country,
    /// An organisation (id from `config/organisations.toml`).
    Organisation,
    /// A person (id from `config/people.toml`).
    Person,
}

/// A named entity found in a story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Entity {
    /// Kind of entity.
    pub kind: EntityKind,
    /// Stable id (alpha-2 for countries, list id otherwise).
    pub id: String,
    /// Display name.
    pub name: String,
    /// How many times it was mentioned.
    pub mentions: u32,
    /// Surface forms that matched (e.g. "Kremlin", "Moscow").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<String>,
    /// Salience in [0, 1]: mentions in the title and lead count more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salience: Option<f64>,
}

/// A unique story with its classification. Topic `stories.enriched.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnrichedStory {
    /// The story as fetched.
    #[serde(flatten)]
    pub story: RawStory,
    /// Cluster id from dedup.
    pub cluster_id: String,
    /// Topics, best first.
    #[serde(default)]
    pub topics: Vec<TopicMatch>,
    /// Countries mentioned, ISO 3166-1 alpha-2, most mentioned first.
    #[serde(default)]
    pub countries: Vec<String>,
    /// All entities found (countries, organisations, people).
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// Detected language (ISO 639-1), if confident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_language: Option<String>,
    /// Confidence of the language detection in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_confidence: Option<f64>,
    /// Regions derived from the countries (e.g. `europe`, `middle_east`, `eu`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Severity / urgency, 0 (routine) to 5 (critical), from topics, casualties and
    /// escalation terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
    /// When the classifier processed it.
    pub classified_at: DateTime<Utc>,
    /// Version of the classifier rules (taxonomy + entity lists).
    pub classifier_version: String,
}

/// An alert delivered for a subscription. Topic `alerts.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alert {
    /// Alert id (also the delivery id receivers may deduplicate on): hash of subscription and story.
    pub id: String,
    /// Subscription id.
    pub subscription_id: String,
    /// The subscription's query.
    pub query: String,
    /// Story id.
    pub story_id: String,
    /// Story cluster id.
    pub cluster_id: String,
    /// Story title.
    pub title: String,
    /// Story link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Source feed of the story.
    pub feed: FeedRef,
    /// Story topics (ids).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Story countries.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Story publication time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    /// When the alert was delivered.
    pub delivered_at: DateTime<Utc>,
    /// Channels it was delivered to (`webhook`, `file`).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Version of the alerter.
    pub alerter_version: String,
    /// What the message is: one story (the default), an update of an alerted cluster
    /// ("+N sources"), or a digest / rate-limit summary listing several stories in `items`.
    #[serde(default)]
    pub kind: AlertKind,
    /// For `update`: stories of the cluster seen so far, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<u64>,
    /// For `digest` and `summary`: the stories listed (the story fields above describe the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<AlertItem>,
    /// When the fetcher fetched the story (end-to-end latency = `delivered_at - fetched_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<DateTime<Utc>>,
}

/// What an [`Alert`] carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A story matched.
    #[default]
    Story,
    /// Another outlet carried a story of a cluster already alerted ("+N sources").
    Update,
    /// The subscription's periodic digest (hourly, daily …) of the stories that matched.
    Digest,
    /// The stories held back by the subscription's rate limit in one window.
    Summary,
}

impl AlertKind {
    /// The snake_case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Story => "story",
            Self::Update => "update",
            Self::Digest => "digest",
            Self::Summary => "summary",
        }
    }
}

/// One story listed in a digest or summary [`Alert`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertItem {
    /// Story id.
    pub story_id: String,
    /// Story cluster id.
    pub cluster_id: String,
    /// Story title.
    pub title: String,
    /// Story link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Source feed id.
    pub feed_id: String,
    /// Story publication time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
}

impl Alert {
    /// The alert id for a (subscription, story) pair.
    pub fn make_id(subscription_id: &str, story_id: &str) -> String {
        stable_id(&["alert", subscription_id, story_id])
    }

    /// The id of the "+N sources" update sent for `story_id`, a later member of an alerted
    /// cluster.
    pub fn make_update_id(subscription_id: &str, story_id: &str) -> String {
        stable_id(&["alert-update", subscription_id, story_id])
    }

    /// The id of a digest or summary for the window starting at `window_start` (Unix seconds).
    pub fn make_batch_id(kind: AlertKind, subscription_id: &str, window_start: i64) -> String {
        stable_id(&[
            "alert-batch",
            kind.as_str(),
            subscription_id,
            &window_start.to_string(),
        ])
    }
}

/// Health state of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedStatus {
    /// Fetches succeed.
    Healthy,
    /// The last fetch(es) failed.
    Failing,
    /// Fetches succeed again after failures.
    Recovered,
    /// The feed moved permanently (301/308).
    Redirected,
    /// The feed is gone (410).
    Gone,
}

/// A change of a feed's health. Topic `feeds.health.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeedHealth {
    /// Event id.
    pub id: String,
    /// The feed.
    pub feed: FeedRef,
    /// New status.
    pub status: FeedStatus,
    /// Previous status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<FeedStatus>,
    /// Error class (`dns`, `connect`, `timeout`, `http_status`, `too_large`, `parse`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Human-readable error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// HTTP status of the last response, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Consecutive failures so far.
    pub consecutive_failures: u32,
    /// When observed.
    pub observed_at: DateTime<Utc>,
}

/// A message a stage could not process. Topic `deadletter.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    /// Event id: hash of topic, partition and offset (or of the payload in-process).
    pub id: String,
    /// Stage that gave up (`dedup`, `classifier`, …).
    pub stage: String,
    /// Topic the message was read from.
    pub topic: String,
    /// Partition, on Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// Offset, on Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// The message key, lossy UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why it failed.
    pub reason: String,
    /// The payload, lossy UTF-8 (truncated to 64 KiB).
    pub payload: String,
    /// When it failed.
    pub failed_at: DateTime<Utc>,
}

impl Event for RawStory {
    const TOPIC: Topic = Topic::StoriesRaw;
    const SCHEMA_NAME: &'static str = "raw_story";
    fn event_id(&self) -> String {
        self.id.clone()
    }
    fn key(&self) -> String {
        self.id.clone()
    }
    fn time(&self) -> DateTime<Utc> {
        self.fetched_at
    }
}

impl Event for UniqueStory {
    const TOPIC: Topic = Topic::StoriesUnique;
    const SCHEMA_NAME: &'static str = "unique_story";
    fn event_id(&self) -> String {
        self.story.id.clone()
    }
    fn key(&self) -> String {
        self.story.id.clone()
    }
    fn time(&self) -> DateTime<Utc> {
        self.deduped_at
    }
}

impl Event for DuplicateLink {
    const TOPIC: Topic = Topic::StoriesLinks;
    const SCHEMA_NAME: &'static str = "duplicate_link";
    fn event_id(&self) -> String {
        self.id.clone()
    }
    fn key(&self) -> String {
        self.duplicate_of.clone()
    }
    fn time(&self) -> DateTime<Utc> {
        self.deduped_at
    }
}

impl Event for EnrichedStory {
    const TOPIC: Topic = Topic::StoriesEnriched;
    const SCHEMA_NAME: &'static str = "enriched_story";
    fn event_id(&self) -> String {
        self.story.id.clone()
    }
    fn key(&self) -> String {
        self.story.id.clone()
    }
    fn time(&self) -> DateTime<Utc> {
        self.classified_at
    }
}

impl Event for Alert {
    const TOPIC: Topic = Topic::Alerts;
    const SCHEMA_NAME: &'static str = "alert";
    fn event_id(&self) -> String {
        self.id.clone()
    }
    fn key(&self) -> String {
        self.subscription_id.clone()
    }
    fn time(&self) -> DateTime<Utc> {
        self.delivered_at
    }
}

impl Event for FeedHealth {
    const TOPIC: Topic = Topic::FeedsHealth;
    const SCHEMA_NAME: &'static str = "feed_health";
    fn event_id(&self) -> String {
        self.id.clone()
    }
    fn key(&self) -> String {
        self.feed.id.clone()
    }
    fn time(&self) -> DateTime<Utc> {
        self.observed_at
    }
}

impl Event for DeadLetter {
    const TOPIC: Topic = Topic::DeadLetter;
    const SCHEMA_NAME: &'static str = "dead_letter";
    fn event_id(&self) -> String {
        self.id.clone()
    }
    fn key(&self) -> String {
        self.key.clone().unwrap_or_else(|| self.id.clone())
    }
    fn time(&self) -> DateTime<Utc> {
        self.failed_at
    }
}

impl RawStory {
    /// Read a story from a JSON object that may be a full [`RawStory`] (or a [`UniqueStory`] /
    /// [`EnrichedStory`], which flatten it) or a minimal object with only `id` and `title`
    /// plus `summary` or `content`, as the stdin/stdout commands accept. Missing `feed`
    /// becomes `{"id": "stdin", "url": ""}` and missing `fetched_at` the current time.
    /// The error names the missing or invalid field.
    pub fn from_json_lenient(line: &str) -> Result<RawStory, String> {
        let mut v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v
            .as_object_mut()
            .ok_or_else(|| "expected a JSON object".to_string())?;
        match obj.get("id") {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {}
            Some(serde_json::Value::Number(n)) => {
                let s = n.to_string();
                obj.insert("id".into(), serde_json::Value::String(s));
            }
            Some(_) => return Err("field `id` must be a non-empty string".into()),
            None => return Err("missing field `id`".into()),
        }
        obj.entry("feed")
            .or_insert_with(|| serde_json::json!({"id": "stdin", "url": ""}));
        obj.entry("fetched_at")
            .or_insert_with(|| serde_json::Value::String(Utc::now().to_rfc3339()));
        serde_json::from_value(v).map_err(|e| format!("invalid story: {e}"))
    }
}
