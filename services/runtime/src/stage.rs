//! The run-loop shared by transforms (dedup, classifier) and sinks (alerter, store).
//!
//! For each message: [`Processor::process`] it, publish every output, and acknowledge it
//! (Kafka: store its offset) once every output was delivered. So an offset is never committed
//! before the message's outputs exist: at-least-once. Messages are processed one at a time, in
//! order; their deliveries overlap, up to `max_in_flight` messages, and acknowledgements
//! follow the input order (a `FuturesOrdered`), so a crash never skips an undelivered message. A message the processor calls poison is published
//! to the dead-letter topic with the reason, acknowledged, and the stage moves on. A retryable
//! failure is retried with backoff until it succeeds or shutdown (then the message is not
//! acknowledged and will be redelivered). A fatal error stops the stage.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::stream::{FuturesOrdered, StreamExt};

use async_trait::async_trait;
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wirewatch_proto::v1::DeadLetter;
use wirewatch_proto::{stable_id, Event};

use crate::backoff::Backoff;
use crate::bus::{BusError, Delivery, Record, SharedPublisher, Subscriber};
use crate::metrics;

/// Why a message could not be processed, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The message itself is bad (undecodable, invalid): retrying cannot help. It goes to the
    /// dead-letter topic.
    #[error("poison message: {0}")]
    Poison(String),
    /// A dependency failed (database busy, endpoint down): retry later.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The stage cannot go on (corrupt state, misconfiguration).
    #[error("fatal: {0}")]
    Fatal(String),
}

/// A transform or sink: turns one input message into zero or more output records.
#[async_trait]
pub trait Processor: Send {
    /// Stage name for metrics, logs and dead letters.
    fn stage(&self) -> &'static str;
    /// Process one message. Must be idempotent: a redelivered message may come again.
    async fn process(&mut self, msg: &Delivery) -> Result<Vec<Record>, ProcessError>;
}

/// Decode a delivery as `E`, mapping failure to [`ProcessError::Poison`] with the position.
pub fn decode<E: Event>(msg: &Delivery) -> Result<E, ProcessError> {
    msg.decode::<E>()
        .map_err(|e| ProcessError::Poison(format!("cannot decode {}: {e}", msg.position())))
}

/// Retry and shutdown settings of the run-loop.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// First retry delay.
    pub retry_initial: Duration,
    /// Retry delay ceiling.
    pub retry_max: Duration,
    /// Messages whose outputs may be in delivery at once (at least 1).
    pub max_in_flight: usize,
}

impl LoopOptions {
    /// From the bus config.
    pub fn from_bus(cfg: &crate::config::BusConfig) -> Self {
        Self {
            retry_initial: Duration::from_millis(cfg.retry_initial_ms),
            retry_max: Duration::from_millis(cfg.retry_max_ms),
            max_in_flight: cfg.max_in_flight.max(1),
        }
    }
}

/// Errors that stop a stage.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The processor gave up.
    #[error("stage {stage}: {source}")]
    Process {
        /// Stage.
        stage: &'static str,
        /// Cause.
        source: ProcessError,
    },
    /// The bus failed permanently.
    #[error("stage {stage}: {source}")]
    Bus {
        /// Stage.
        stage: &'static str,
        /// Cause.
        source: BusError,
    },
}

/// Publish `record`, retrying retryable failures with backoff until it is delivered or
/// `shutdown` is cancelled (then `Ok(false)`).
pub async fn publish_with_retry(
    publisher: &SharedPublisher,
    record: Record,
    opts: &LoopOptions,
    shutdown: &CancellationToken,
    stage: &'static str,
) -> Result<bool, BusError> {
    let mut backoff = Backoff::new(opts.retry_initial, opts.retry_max);
    loop {
        match publisher.publish(record.clone()).await {
            Ok(()) => return Ok(true),
            Err(e) if e.retryable() => {
                let d = backoff.next_delay();
                tracing::warn!(stage, error = %e, retry_in_ms = d.as_millis() as u64, "publish failed, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = shutdown.cancelled() => return Ok(false),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn dead_letter(stage: &'static str, msg: &Delivery, reason: &str) -> DeadLetter {
    const MAX: usize = 64 * 1024;
    let mut payload = String::from_utf8_lossy(&msg.payload).into_owned();
    if payload.len() > MAX {
        let mut cut = MAX;
        while !payload.is_char_boundary(cut) {
            cut -= 1;
        }
        payload.truncate(cut);
    }
    DeadLetter {
        id: stable_id(&[
            stage,
            &msg.topic_name,
            &msg.partition.map(|p| p.to_string()).unwrap_or_default(),
            &msg.offset.map(|o| o.to_string()).unwrap_or_default(),
            &payload,
        ]),
        stage: stage.to_string(),
        topic: msg.topic_name.clone(),
        partition: msg.partition,
        offset: msg.offset,
        key: msg
            .key
            .as_ref()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        reason: reason.to_string(),
        payload,
        failed_at: Utc::now(),
    }
}

/// How a message ended, once its deliveries finished.
enum Outcome {
    /// Outputs delivered.
    Ok,
    /// Sent to the dead-letter topic.
    DeadLetter,
    /// Shutdown interrupted its delivery: not acknowledged, redelivered after restart.
    Interrupted,
}

type Pending = Pin<Box<dyn Future<Output = Result<(Delivery, Outcome, Instant), BusError>> + Send>>;

/// Deliver `records` for `msg` (in order), then report how it ended.
#[allow(clippy::too_many_arguments)] // one owned value per piece the future needs
fn deliver(
    msg: Delivery,
    records: Vec<Record>,
    outcome: Outcome,
    started: Instant,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
    stage: &'static str,
) -> Pending {
    Box::pin(async move {
        for rec in records {
            if !publish_with_retry(&publisher, rec, &opts, &shutdown, stage).await? {
                return Ok((msg, Outcome::Interrupted, started));
            }
        }
        Ok((msg, outcome, started))
    })
}

/// Run `processor` over `subscriber` until `shutdown`; commits on the way out.
pub async fn run_processor<P: Processor>(
    mut processor: P,
    mut subscriber: Box<dyn Subscriber>,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
) -> Result<(), StageError> {
    let stage = processor.stage();
    metrics::touch_stage(stage);
    let sm = metrics::stage();
    sm.up.with_label_values(&[stage]).set(1);
    let bus_err = |source| StageError::Bus { stage, source };
    let max_in_flight = opts.max_in_flight.max(1);
    let mut in_flight: FuturesOrdered<Pending> = FuturesOrdered::new();
    // Acknowledge a finished message; `false` once an interrupted one means no later message
    // may be acknowledged either.
    let finish = |done: Result<(Delivery, Outcome, Instant), BusError>,
                  subscriber: &mut Box<dyn Subscriber>|
     -> Result<bool, StageError> {
        let (msg, outcome, started) = done.map_err(bus_err)?;
        let label = match outcome {
            Outcome::Interrupted => return Ok(false),
            Outcome::Ok => "ok",
            Outcome::DeadLetter => {
                sm.deadletters.with_label_values(&[stage]).inc();
                "deadletter"
            }
        };
        subscriber.ack(&msg).map_err(bus_err)?;
        sm.processed.with_label_values(&[stage, label]).inc();
        sm.process_seconds
            .with_label_values(&[stage])
            .observe(started.elapsed().as_secs_f64());
        Ok(true)
    };
    let result = async {
        let mut consume_backoff = Backoff::new(opts.retry_initial, opts.retry_max);
        'messages: loop {
            while in_flight.len() >= max_in_flight {
                match in_flight.next().await {
                    Some(done) => {
                        if !finish(done, &mut subscriber)? {
                            break 'messages;
                        }
                    }
                    None => break,
                }
            }
            let next = tokio::select! {
                biased;
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    if !finish(done, &mut subscriber)? {
                        break 'messages;
                    }
                    continue 'messages;
                }
                n = subscriber.next(&shutdown) => n,
            };
            let msg = match next {
                Ok(Some(m)) => {
                    consume_backoff.reset();
                    m
                }
                Ok(None) => break,
                Err(e) if e.retryable() => {
                    let d = consume_backoff.next_delay();
                    tracing::warn!(stage, error = %e, "consume failed, retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(d) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
                Err(e) => return Err(bus_err(e)),
            };
            let started = Instant::now();
            let mut backoff = Backoff::new(opts.retry_initial, opts.retry_max);
            let (records, outcome) = loop {
                match processor.process(&msg).await {
                    Ok(out) => break (out, Outcome::Ok),
                    Err(ProcessError::Poison(reason)) => {
                        tracing::warn!(stage, position = %msg.position(), %reason, "poison message to dead-letter topic");
                        let dl = dead_letter(stage, &msg, &reason);
                        break (vec![Record::event(&dl, stage).map_err(bus_err)?], Outcome::DeadLetter);
                    }
                    Err(ProcessError::Retryable(reason)) => {
                        sm.retries.with_label_values(&[stage]).inc();
                        let d = backoff.next_delay();
                        tracing::warn!(stage, position = %msg.position(), %reason, retry_in_ms = d.as_millis() as u64, "retryable failure");
                        tokio::select! {
                            _ = tokio::time::sleep(d) => {}
                            // Not acknowledged: redelivered after restart.
                            _ = shutdown.cancelled() => break 'messages,
                        }
                    }
                    Err(e @ ProcessError::Fatal(_)) => {
                        return Err(StageError::Process { stage, source: e })
                    }
                }
            };
            in_flight.push_back(deliver(
                msg,
                records,
                outcome,
                started,
                publisher.clone(),
                opts.clone(),
                shutdown.clone(),
                stage,
            ));
        }
        // Drain: finish the deliveries already started, acknowledging in order.
        while let Some(done) = in_flight.next().await {
            if !finish(done, &mut subscriber)? {
                break;
            }
        }
        Ok(())
    }
    .await;
    let commit = subscriber.commit().await;
    sm.up.with_label_values(&[stage]).set(0);
    result?;
    if let Err(e) = commit {
        tracing::warn!(stage, error = %e, "final commit failed; uncommitted messages will be redelivered");
    }
    tracing::info!(stage, "stage stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::memory::MemoryBus;
    use std::sync::Arc;
    use wirewatch_proto::Topic;

    struct Upper;

    #[async_trait]
    impl Processor for Upper {
        fn stage(&self) -> &'static str {
            "test-upper"
        }
        async fn process(&mut self, msg: &Delivery) -> Result<Vec<Record>, ProcessError> {
            let s = std::str::from_utf8(&msg.payload)
                .map_err(|e| ProcessError::Poison(e.to_string()))?;
            if s == "poison" {
                return Err(ProcessError::Poison("bad".into()));
            }
            Ok(vec![Record {
                topic: Topic::StoriesUnique,
                key: "k".into(),
                payload: s.to_uppercase().into_bytes(),
                headers: vec![],
            }])
        }
    }

    #[tokio::test]
    async fn processes_and_dead_letters_poison() {
        let bus = MemoryBus::new("t", 16);
        let input = bus.subscribe(&[Topic::StoriesRaw]);
        let mut out = bus.subscribe(&[Topic::StoriesUnique, Topic::DeadLetter]);
        let p: SharedPublisher = Arc::new(bus.publisher("test"));
        for s in ["a", "poison", "b"] {
            p.publish(Record {
                topic: Topic::StoriesRaw,
                key: "k".into(),
                payload: s.as_bytes().to_vec(),
                headers: vec![],
            })
            .await
            .unwrap();
        }
        let stop = CancellationToken::new();
        stop.cancel(); // drain what is queued, then stop
        let opts = LoopOptions {
            retry_initial: Duration::from_millis(1),
            retry_max: Duration::from_millis(2),
            max_in_flight: 2,
        };
        run_processor(Upper, Box::new(input), p, opts, stop.clone())
            .await
            .unwrap();
        let mut got = vec![];
        while let Some(m) = out.next(&stop).await.unwrap() {
            got.push((m.topic, m.payload));
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (Topic::StoriesUnique, b"A".to_vec()));
        assert_eq!(got[1].0, Topic::DeadLetter);
        let dl: DeadLetter = serde_json::from_slice(&got[1].1).unwrap();
        assert_eq!(dl.reason, "bad");
        assert_eq!(dl.payload, "poison");
        assert_eq!(got[2], (Topic::StoriesUnique, b"B".to_vec()));
    }
}
