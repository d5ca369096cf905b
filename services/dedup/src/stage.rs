//! The dedup [`Processor`]: `stories.raw.v1` → `stories.unique.v1` | `stories.links.v1`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use wirewatch_proto::stable_id;
use wirewatch_proto::v1::{DedupRule, DuplicateLink, RawStory, UniqueStory};
use wirewatch_runtime::bus::{Delivery, Record};
use wirewatch_runtime::http::ReadyCheck;
use wirewatch_runtime::stage::{decode, ProcessError, Processor};

use crate::config::DedupConfig;
use crate::error::DedupError;
use crate::index::{Index, Verdict};
use crate::metrics;
use crate::state::State;
use crate::DEDUP_VERSION;

/// The dedup stage: the index, its state file and config.
pub struct DedupStage {
    cfg: DedupConfig,
    index: Index,
    state: Arc<State>,
}

impl DedupStage {
    /// Open the state under `data_dir` (or `cfg.path`) and load the window into memory.
    pub async fn open(cfg: DedupConfig, data_dir: &Path) -> Result<Self, DedupError> {
        let path = cfg
            .path
            .clone()
            .unwrap_or_else(|| data_dir.join("dedup.db"));
        let state = State::open(&path).await?;
        let since = Utc::now() - Duration::days(cfg.window_days as i64);
        let started = std::time::Instant::now();
        let index = state.load_with(since, &cfg).await?;
        let elapsed = started.elapsed();
        tracing::info!(path = %path.display(), keys = index.len(), similar = index.similar_len(), elapsed_ms = elapsed.as_millis() as u64, "dedup state loaded");
        metrics::touch();
        let m = metrics::get();
        m.index_keys
            .with_label_values(&["dedup"])
            .set(index.len() as i64);
        m.similar_stories
            .with_label_values(&["dedup"])
            .set(index.similar_len() as i64);
        m.restore_seconds
            .with_label_values(&["dedup"])
            .set(elapsed.as_secs_f64());
        Ok(Self {
            cfg,
            index,
            state: Arc::new(state),
        })
    }

    /// A `/readyz` check on the state file.
    pub fn ready_check(&self) -> Arc<dyn ReadyCheck> {
        Arc::new(StateReady(self.state.clone()))
    }
}

struct StateReady(Arc<State>);

#[async_trait]
impl ReadyCheck for StateReady {
    fn name(&self) -> String {
        "dedup state".into()
    }
    async fn ready(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// Turn a verdict into the record to publish.
pub fn output(story: RawStory, verdict: &Verdict) -> Result<Record, ProcessError> {
    let now = Utc::now();
    let rec = match verdict {
        Verdict::Unique {
            cluster_id,
            cluster_match,
            shared_entities,
        } => Record::event(
            &UniqueStory {
                story,
                cluster_id: cluster_id.clone(),
                deduped_at: now,
                dedup_version: DEDUP_VERSION.into(),
                cluster_match: cluster_match.clone().map(|mut m| {
                    m.shared_entities = shared_entities.clone();
                    m
                }),
            },
            "dedup",
        ),
        Verdict::Duplicate {
            duplicate_of,
            cluster_id,
            rule,
            score,
        } => Record::event(
            &DuplicateLink {
                id: stable_id(&["link", &story.id, duplicate_of]),
                story,
                duplicate_of: duplicate_of.clone(),
                cluster_id: cluster_id.clone(),
                rule: *rule,
                score: *score,
                deduped_at: now,
                dedup_version: DEDUP_VERSION.into(),
            },
            "dedup",
        ),
    };
    rec.map_err(|e| ProcessError::Fatal(e.to_string()))
}

#[async_trait]
impl Processor for DedupStage {
    fn stage(&self) -> &'static str {
        "dedup"
    }

    async fn process(&mut self, msg: &Delivery) -> Result<Vec<Record>, ProcessError> {
        let story: RawStory = decode(msg)?;
        if story.id.trim().is_empty() {
            return Err(ProcessError::Poison(format!(
                "story at {} has an empty id",
                msg.position()
            )));
        }
        let checked = self.index.check(&story, &self.cfg);
        let m = metrics::get();
        if checked.redelivery {
            m.redeliveries.with_label_values(&["dedup"]).inc();
        } else {
            // Persist before publishing: a crash after this point redelivers the story and
            // finds the same verdict.
            self.state
                .save(&story.id, &checked, Utc::now())
                .await
                .map_err(|e| {
                    if e.retryable() {
                        ProcessError::Retryable(e.to_string())
                    } else {
                        ProcessError::Fatal(e.to_string())
                    }
                })?;
            if let Some(why) = checked.distrusted {
                m.guid_untrusted_feeds
                    .with_label_values(&["dedup", why.as_str()])
                    .inc();
                tracing::warn!(feed = %story.feed.id, reason = why.as_str(), "feed guids untrusted, identifying its stories by link and content");
            }
            let kind = match checked.verdict {
                Verdict::Unique { .. } => "unique",
                Verdict::Duplicate { .. } => "duplicate",
            };
            m.verdicts
                .with_label_values(&["dedup", kind, checked.verdict.rule_label()])
                .inc();
            m.index_keys
                .with_label_values(&["dedup"])
                .set(self.index.len() as i64);
            m.similar_stories
                .with_label_values(&["dedup"])
                .set(self.index.similar_len() as i64);
            match &checked.verdict {
                Verdict::Duplicate {
                    rule: rule @ (DedupRule::NearDuplicate | DedupRule::Update),
                    score,
                    ..
                } => m
                    .similarity
                    .with_label_values(&["dedup", rule.as_str()])
                    .observe(*score),
                Verdict::Unique {
                    cluster_match: Some(cm),
                    ..
                } => {
                    m.cluster_joins.with_label_values(&["dedup"]).inc();
                    m.similarity
                        .with_label_values(&["dedup", "cluster"])
                        .observe(cm.score);
                }
                _ => {}
            }
        }
        match &checked.verdict {
            Verdict::Duplicate {
                duplicate_of,
                rule,
                score,
                ..
            } => {
                tracing::debug!(story = %story.id, rule = rule.as_str(), duplicate_of = %duplicate_of, score, "dedup verdict")
            }
            Verdict::Unique {
                cluster_id,
                cluster_match,
                shared_entities,
            } => {
                tracing::debug!(story = %story.id, cluster = %cluster_id, matched = ?cluster_match.as_ref().map(|c| (&c.story_id, &c.rule, c.score)), shared_entities = ?shared_entities, "dedup verdict")
            }
        }
        Ok(vec![output(story, &checked.verdict)?])
    }
}

/// `wirewatch dedup`: one verdict line per input line, using the same [`Index`] as the stage
/// (in memory only). Bad lines give an error line naming the line number and do not stop
/// the run.
pub fn verdict_line(
    index: &mut Index,
    cfg: &DedupConfig,
    line_no: usize,
    line: &str,
) -> Result<serde_json::Value, DedupError> {
    let story = RawStory::from_json_lenient(line).map_err(|reason| DedupError::Input {
        line: line_no,
        reason,
    })?;
    let checked = index.check(&story, cfg);
    Ok(match checked.verdict {
        Verdict::Unique {
            cluster_id,
            cluster_match,
            shared_entities,
        } => serde_json::json!({
            "id": story.id, "verdict": "unique", "duplicate_of": null,
            "cluster_id": cluster_id, "rule": null, "score": null,
            "cluster_match": cluster_match, "shared_entities": shared_entities,
        }),
        Verdict::Duplicate {
            duplicate_of,
            cluster_id,
            rule,
            score,
        } => serde_json::json!({
            "id": story.id, "verdict": "duplicate", "duplicate_of": duplicate_of,
            "cluster_id": cluster_id, "rule": rule, "score": score,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirewatch_proto::Topic;

    fn raw(id: &str, link: &str) -> RawStory {
        RawStory::from_json_lenient(
            &serde_json::json!({
                "id": id, "title": format!("Title of story {id} that is long enough"), "link": link,
            })
            .to_string(),
        )
        .unwrap()
    }

    fn delivery(s: &RawStory) -> Delivery {
        Delivery {
            topic: Topic::StoriesRaw,
            topic_name: "t.stories.raw.v1".into(),
            partition: None,
            offset: Some(0),
            key: None,
            payload: serde_json::to_vec(s).unwrap(),
            headers: vec![],
        }
    }

    #[tokio::test]
    async fn state_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = raw("a", "https://x.com/1");
        let b = raw("b", "https://x.com/1?utm_source=feed");
        {
            let mut st = DedupStage::open(DedupConfig::default(), dir.path())
                .await
                .unwrap();
            let out = st.process(&delivery(&a)).await.unwrap();
            assert_eq!(out[0].topic, Topic::StoriesUnique);
        }
        let mut st = DedupStage::open(DedupConfig::default(), dir.path())
            .await
            .unwrap();
        // Redelivered original: unique again (idempotent), not a duplicate of itself.
        let out = st.process(&delivery(&a)).await.unwrap();
        assert_eq!(out[0].topic, Topic::StoriesUnique);
        let out = st.process(&delivery(&b)).await.unwrap();
        assert_eq!(out[0].topic, Topic::StoriesLinks);
        let link: DuplicateLink = serde_json::from_slice(&out[0].payload).unwrap();
        assert_eq!(link.duplicate_of, "a");
    }

    #[tokio::test]
    async fn near_duplicate_state_survives_restart() {
        let body = "Russian and Ukrainian delegations met in Istanbul on Friday for the first direct peace talks in three years, but the meeting ended after less than two hours without an agreement on a ceasefire. Turkish foreign minister Hakan Fidan opened the session and urged both sides to seize the opportunity. The two sides agreed on a prisoner exchange of one thousand prisoners each.";
        let story = |id: &str, feed: &str, link: &str, text: &str| {
            RawStory::from_json_lenient(
                &serde_json::json!({
                    "id": id, "title": "Istanbul talks end", "link": link, "content": text,
                    "feed": {"id": feed, "url": format!("https://{feed}/rss")},
                })
                .to_string(),
            )
            .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let a = story("a", "f1", "https://x.com/a", body);
        {
            let mut st = DedupStage::open(DedupConfig::default(), dir.path())
                .await
                .unwrap();
            let out = st.process(&delivery(&a)).await.unwrap();
            assert_eq!(out[0].topic, Topic::StoriesUnique);
        }
        // A fresh process: the signature comes back from the state file.
        let mut st = DedupStage::open(DedupConfig::default(), dir.path())
            .await
            .unwrap();
        let copy = format!("{body} Copyright the wire service, all rights reserved.");
        let b = story("b", "f2", "https://y.com/b", &copy);
        let out = st.process(&delivery(&b)).await.unwrap();
        assert_eq!(out[0].topic, Topic::StoriesLinks);
        let link: DuplicateLink = serde_json::from_slice(&out[0].payload).unwrap();
        assert_eq!(link.duplicate_of, "a");
        assert_eq!(link.rule, DedupRule::NearDuplicate);
        assert!(link.score > 0.5 && link.score < 1.0, "{}", link.score);
        // Redelivered after another restart: the same verdict, not a new decision.
        drop(st);
        let mut st = DedupStage::open(DedupConfig::default(), dir.path())
            .await
            .unwrap();
        let again = st.process(&delivery(&b)).await.unwrap();
        let link2: DuplicateLink = serde_json::from_slice(&again[0].payload).unwrap();
        assert_eq!(
            (link2.duplicate_of, link2.rule, link2.score),
            ("a".to_string(), link.rule, link.score)
        );
    }

    #[tokio::test]
    async fn undecodable_is_poison() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = DedupStage::open(DedupConfig::default(), dir.path())
            .await
            .unwrap();
        let mut d = delivery(&raw("a", "https://x.com/1"));
        d.payload = b"{not json".to_vec();
        assert!(matches!(st.process(&d).await, Err(ProcessError::Poison(_))));
    }

    #[test]
    fn cli_lines() {
        let cfg = DedupConfig::default();
        let mut ix = Index::new();
        let v = verdict_line(&mut ix, &cfg, 1, r#"{"id":"1","title":"Peace talks collapse in Istanbul today","link":"https://a.com/x"}"#).unwrap();
        assert_eq!(v["verdict"], "unique");
        let v = verdict_line(
            &mut ix,
            &cfg,
            2,
            r#"{"id":"2","title":"Other","link":"https://a.com/x?fbclid=1"}"#,
        )
        .unwrap();
        assert_eq!(v["verdict"], "duplicate");
        assert_eq!(v["rule"], "canonical_url");
        assert_eq!(v["duplicate_of"], "1");
        let e = verdict_line(&mut ix, &cfg, 3, r#"{"title":"no id"}"#).unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("id"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn rotating_feed_is_counted_once_and_stays_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = DedupStage::open(DedupConfig::default(), dir.path())
            .await
            .unwrap();
        let counter = metrics::get()
            .guid_untrusted_feeds
            .with_label_values(&["dedup", "rotation"]);
        let before = counter.get();
        for poll in 0..6 {
            // The same item at every poll under a new GUID (and so a new story id).
            let s = RawStory::from_json_lenient(
                &serde_json::json!({
                    "id": format!("p{poll}"), "guid": format!("urn:uuid:{poll}"),
                    "title": "Ministers agree a new budget after long talks", "link": "https://rot.example/a",
                    "feed": {"id": "rotor", "url": "https://rot.example/rss"},
                })
                .to_string(),
            )
            .unwrap();
            let out = st.process(&delivery(&s)).await.unwrap();
            let want = if poll == 0 {
                Topic::StoriesUnique
            } else {
                Topic::StoriesLinks
            };
            assert_eq!(out[0].topic, want, "poll {poll}");
            if poll > 0 {
                let link: DuplicateLink = serde_json::from_slice(&out[0].payload).unwrap();
                assert_eq!(
                    (link.duplicate_of.as_str(), link.rule),
                    ("p0", DedupRule::CanonicalUrl)
                );
            }
        }
        assert_eq!(counter.get() - before, 1, "counted once, when detected");
    }
}
