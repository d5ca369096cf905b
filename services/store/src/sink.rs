//! [`StoreSink`]: the stage's [`Processor`]. It decodes each message by topic and upserts it;
//! it publishes nothing.
//!
//! Batching: [`StoreSink::process_batch`] takes a slice of deliveries and writes all the
//! stories among them in one transaction per `batch_max_rows` (one commit instead of one per
//! story), falling back to one at a time when the batch fails on a data error so a poison
//! message is isolated. It returns one result per delivery, in order, so a run-loop that
//! polls up to N ready messages (without waiting for more) can call it and then store the
//! offsets of all messages whose result is `Ok`, dead-letter the `Poison` ones, and retry the
//! batch on `Retryable`. The per-message [`Processor::process`] remains the default path.

use async_trait::async_trait;
use wirewatch_proto::v1::{Alert, DeadLetter, DuplicateLink, EnrichedStory, FeedHealth};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::{Delivery, Record};
use wirewatch_runtime::stage::{decode, ProcessError, Processor};

use crate::db::Store;
use crate::error::{ErrorClass, StoreError};
use crate::metrics::STAGE;

/// The topics the store consumes.
pub const STORE_TOPICS: [Topic; 5] = [
    Topic::StoriesEnriched,
    Topic::StoriesLinks,
    Topic::Alerts,
    Topic::FeedsHealth,
    Topic::DeadLetter,
];

/// Writes every message of [`STORE_TOPICS`] to the [`Store`]. Idempotent: every write is an
/// upsert by the event's id.
pub struct StoreSink {
    store: Store,
}

impl StoreSink {
    /// A sink writing to `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Map a store error onto the run-loop: busy → retry, bad data → poison, broken database →
/// stop.
pub fn process_error(e: StoreError) -> ProcessError {
    match e.class() {
        ErrorClass::Retryable => ProcessError::Retryable(e.to_string()),
        ErrorClass::Data => ProcessError::Poison(e.to_string()),
        ErrorClass::Fatal => ProcessError::Fatal(e.to_string()),
    }
}

#[async_trait]
impl Processor for StoreSink {
    fn stage(&self) -> &'static str {
        STAGE
    }

    async fn process(&mut self, msg: &Delivery) -> Result<Vec<Record>, ProcessError> {
        self.process_one(msg).await?;
        Ok(Vec::new())
    }
}

impl StoreSink {
    /// Process many deliveries at once: stories are written in one transaction (see the
    /// module docs), everything else one by one. Returns one result per delivery, in order
    /// (a sink publishes nothing, so `Ok` is empty). Idempotent like
    /// [`Processor::process`]: retrying a whole batch after a `Retryable` changes nothing
    /// for the messages already written.
    pub async fn process_batch(
        &mut self,
        msgs: &[Delivery],
    ) -> Vec<Result<Vec<Record>, ProcessError>> {
        let mut results: Vec<Option<Result<Vec<Record>, ProcessError>>> =
            (0..msgs.len()).map(|_| None).collect();
        let mut stories: Vec<(usize, EnrichedStory)> = Vec::new();
        for (i, msg) in msgs.iter().enumerate() {
            if msg.topic == Topic::StoriesEnriched {
                match decode::<EnrichedStory>(msg) {
                    Ok(s) => stories.push((i, s)),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
        }
        if !stories.is_empty() {
            let batch: Vec<EnrichedStory> = stories.iter().map(|(_, s)| s.clone()).collect();
            match self.store.upsert_stories(&batch).await {
                Ok(_) => {
                    for (i, s) in &stories {
                        wirewatch_runtime::metrics::observe_pipeline_latency(
                            crate::metrics::STAGE,
                            "stored",
                            s.story.fetched_at,
                        );
                        results[*i] = Some(Ok(Vec::new()));
                    }
                }
                Err(e) if e.class() == ErrorClass::Data => {
                    // Find the bad one(s): one transaction per story.
                    for (i, s) in &stories {
                        results[*i] = Some(
                            self.store
                                .upsert_story(s)
                                .await
                                .map(|()| Vec::new())
                                .map_err(|e| log_failure(&msgs[*i], e)),
                        );
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    let class = e.class();
                    tracing::warn!(stories = stories.len(), error = %reason, "store batch write failed");
                    for (i, _) in &stories {
                        results[*i] = Some(Err(match class {
                            ErrorClass::Retryable => ProcessError::Retryable(reason.clone()),
                            _ => ProcessError::Fatal(reason.clone()),
                        }));
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(msgs.len());
        for (i, r) in results.into_iter().enumerate() {
            out.push(match r {
                Some(r) => r,
                None => self.process_one(&msgs[i]).await.map(|()| Vec::new()),
            });
        }
        out
    }

    async fn process_one(&self, msg: &Delivery) -> Result<(), ProcessError> {
        let r = match msg.topic {
            Topic::StoriesEnriched => {
                let s: EnrichedStory = decode(msg)?;
                let r = self.store.upsert_story(&s).await;
                if r.is_ok() {
                    wirewatch_runtime::metrics::observe_pipeline_latency(
                        crate::metrics::STAGE,
                        "stored",
                        s.story.fetched_at,
                    );
                }
                r
            }
            Topic::StoriesLinks => {
                let l: DuplicateLink = decode(msg)?;
                self.store.upsert_link(&l).await
            }
            Topic::Alerts => {
                let a: Alert = decode(msg)?;
                self.store.upsert_alert(&a).await
            }
            Topic::FeedsHealth => {
                let h: FeedHealth = decode(msg)?;
                self.store.upsert_feed_health(&h).await
            }
            Topic::DeadLetter => {
                let d: DeadLetter = decode(msg)?;
                match self.store.upsert_dead_letter(&d).await {
                    // A dead letter that cannot be stored must not become a new dead letter
                    // (which would come back here): log it and move on.
                    Err(e) if e.class() == ErrorClass::Data => {
                        tracing::error!(position = %msg.position(), error = %e, "dropping dead letter the store cannot keep");
                        Ok(())
                    }
                    other => other,
                }
            }
            other @ (Topic::StoriesRaw | Topic::StoriesUnique) => {
                return Err(ProcessError::Poison(format!(
                    "store does not consume {other} ({})",
                    msg.position()
                )))
            }
        };
        r.map_err(|e| log_failure(msg, e))
    }
}

fn log_failure(msg: &Delivery, e: StoreError) -> ProcessError {
    let pe = process_error(e);
    tracing::warn!(position = %msg.position(), error = %pe, "store write failed");
    pe
}
