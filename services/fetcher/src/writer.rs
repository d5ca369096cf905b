//! Group commit of the poller's state writes (seen ids, feed rows, trims).
//!
//! Reads nothing from the bus; writes the state database through [`Store::apply`]. Each poll
//! still waits for its own writes to be committed (so the order "published, then remembered,
//! then validators saved" holds exactly as with direct writes, and a failure reaches the poll
//! that asked), but the writes of every poll that arrives while a commit is running go into
//! the next transaction together: at 10,000 feeds a commit per statement was most of the
//! database's cost. The queue is bounded ([`QUEUE`]): when the database falls behind, polls
//! wait for room instead of piling up writes in memory.

use tokio::sync::{mpsc, oneshot};

use crate::error::FetcherError;
use crate::state::{Store, Write};

/// Writes waiting for the next commit, at most.
pub const QUEUE: usize = 1_024;

/// Writes in one transaction, at most.
pub const MAX_BATCH: usize = 512;

type Request = (Write, oneshot::Sender<Result<(), String>>);

/// Handle of the writer task; cheap to clone. The task ends when every handle is dropped.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
    store: Store,
}

impl Writer {
    /// Start the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store.clone(), rx));
        Self { tx, store }
    }

    /// Apply `write` in the next commit and wait for it.
    pub async fn write(&self, write: Write) -> Result<(), FetcherError> {
        let (reply, done) = oneshot::channel();
        let failed = |detail: String| FetcherError::State {
            path: self.store.path().to_path_buf(),
            detail,
        };
        self.tx
            .send((write, reply))
            .await
            .map_err(|_| failed("the state writer stopped".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(detail)) => Err(failed(detail)),
            Err(_) => Err(failed("the state writer stopped".into())),
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Request>) {
    let mut writes: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<oneshot::Sender<Result<(), String>>> = Vec::with_capacity(MAX_BATCH);
    while let Some((first, reply)) = rx.recv().await {
        writes.push(first);
        replies.push(reply);
        while writes.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((w, reply)) => {
                    writes.push(w);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let result = store.apply(&writes).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(stage = crate::metrics::STAGE, writes = writes.len(), error = %e, "cannot write the fetcher's state; the polls that asked retry");
        }
        writes.clear();
        for reply in replies.drain(..) {
            // A poll that gave up waiting (shutdown) no longer listens: nothing to tell.
            let _ = reply.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::http::Validators;
    use crate::state::FeedRow;
    use wirewatch_proto::v1::FeedStatus;

    fn row(url: &str, etag: &str) -> FeedRow {
        FeedRow {
            url: url.into(),
            configured_url: url.into(),
            validators: Validators {
                etag: Some(etag.into()),
                last_modified: None,
            },
            status: FeedStatus::Healthy,
            consecutive_failures: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_committed_in_order_per_feed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let feeds: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let keys: Vec<(&str, &str)> = feeds.iter().map(|f| (f.as_str(), "http://x/")).collect();
        store.register_many(&keys).await.unwrap();
        let writer = Writer::start(store.clone());
        let mut polls = tokio::task::JoinSet::new();
        for f in feeds.clone() {
            let w = writer.clone();
            polls.spawn(async move {
                // Each feed: three rounds of "ids delivered, then the row", as a poll does.
                for round in 0..3 {
                    let ids = (0..5).map(|k| format!("{f}-{round}-{k}")).collect();
                    w.write(Write::Seen {
                        feed: f.clone(),
                        ids,
                    })
                    .await
                    .unwrap();
                    w.write(Write::Row {
                        feed: f.clone(),
                        row: row("http://x/", &format!("e{round}")),
                        last_error: None,
                    })
                    .await
                    .unwrap();
                }
                w.write(Write::Trim {
                    feed: f.clone(),
                    keep: 10,
                })
                .await
                .unwrap();
            });
        }
        while let Some(r) = polls.join_next().await {
            r.unwrap();
        }
        for f in &feeds {
            assert_eq!(store.seen_count(f).await.unwrap(), 10, "{f}: trimmed to 10");
            assert!(store.is_seen(f, &format!("{f}-2-4")).await.unwrap());
            assert!(!store.is_seen(f, &format!("{f}-0-0")).await.unwrap());
            let saved = store
                .register_many(&[(f.as_str(), "http://x/")])
                .await
                .unwrap();
            assert_eq!(
                saved[0].validators.etag.as_deref(),
                Some("e2"),
                "{f}: last row wins"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_commit_reaches_every_poll_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = Writer::start(store.clone());
        store.close().await;
        let e = writer
            .write(Write::Seen {
                feed: "f".into(),
                ids: vec!["a".into()],
            })
            .await
            .unwrap_err();
        assert!(matches!(e, FetcherError::State { .. }), "{e}");
    }
}
