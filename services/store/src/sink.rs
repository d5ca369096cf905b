//! [`StoreSink`]: the stage's [`Processor`]. It decodes each message by topic and upserts it;
//! it publishes nothing.

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
        let r = match msg.topic {
            Topic::StoriesEnriched => {
                let s: EnrichedStory = decode(msg)?;
                self.store.upsert_story(&s).await
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
        r.map_err(|e| {
            let pe = process_error(e);
            tracing::warn!(position = %msg.position(), error = %pe, "store write failed");
            pe
        })?;
        Ok(Vec::new())
    }
}
