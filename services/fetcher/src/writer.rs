//! Group commit of the poller's state: seen ids, feed rows, trims and schedule checkpoints
//! written, and the seen-id look-ups of changed polls.
//!
//! Reads nothing from the bus; reads and writes the state database through one connection it
//! holds ([`Store::hold`]). Each poll still waits for its own writes to be committed (so the
//! order "published, then remembered, then validators saved" holds exactly as with direct
//! writes, and a failure reaches the poll that asked), but the writes of every poll that
//! arrives while a commit is running go into the next transaction together: at 10,000 feeds a
//! commit per statement was most of the database's cost. Look-ups that arrive meanwhile run
//! on the same connection just before that transaction (a poll asks only after its own
//! earlier writes were committed, so it never misses them). The queue is bounded ([`QUEUE`]):
//! when the database falls behind, polls wait for room instead of piling up in memory.

use tokio::sync::{mpsc, oneshot};

use crate::error::FetcherError;
use crate::state::{Held, Store, Write};

/// Requests waiting for the next commit, at most.
pub const QUEUE: usize = 1_024;

/// Requests in one transaction, at most.
pub const MAX_BATCH: usize = 512;

enum Request {
    /// Commit these (in order, in one transaction with the batch's others).
    Write(Vec<Write>, oneshot::Sender<Result<(), String>>),
    /// Which of `ids` of `feed` are remembered.
    Seen {
        feed: String,
        ids: Vec<String>,
        reply: oneshot::Sender<Result<Vec<String>, String>>,
    },
    /// Give the held connection back to the pool (before the store closes: closing waits
    /// for every connection to come back).
    Release(oneshot::Sender<()>),
}

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

    fn failed(&self, detail: String) -> FetcherError {
        FetcherError::State {
            path: self.store.path().to_path_buf(),
            detail,
        }
    }

    /// Apply `write` in the next commit and wait for it.
    pub async fn write(&self, write: Write) -> Result<(), FetcherError> {
        self.write_all(vec![write]).await
    }

    /// Apply `writes`, in order, in the next commit (all or none) and wait for it.
    pub async fn write_all(&self, writes: Vec<Write>) -> Result<(), FetcherError> {
        if writes.is_empty() {
            return Ok(());
        }
        let (reply, done) = oneshot::channel();
        self.send(Request::Write(writes, reply)).await?;
        match done.await {
            Ok(r) => r.map_err(|detail| self.failed(detail)),
            Err(_) => Err(self.failed("the state writer stopped".into())),
        }
    }

    /// Which of `ids` of `feed` were published already.
    pub async fn seen(&self, feed: &str, ids: Vec<String>) -> Result<Vec<String>, FetcherError> {
        if ids.is_empty() {
            return Ok(ids);
        }
        let (reply, done) = oneshot::channel();
        self.send(Request::Seen {
            feed: feed.to_string(),
            ids,
            reply,
        })
        .await?;
        match done.await {
            Ok(r) => r.map_err(|detail| self.failed(detail)),
            Err(_) => Err(self.failed("the state writer stopped".into())),
        }
    }

    /// Give the writer's connection back to the pool (call before [`Store::close`], which
    /// waits for it). A later request takes one again.
    pub async fn release(&self) {
        let (reply, done) = oneshot::channel();
        if self.send(Request::Release(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn send(&self, req: Request) -> Result<(), FetcherError> {
        self.tx
            .send(req)
            .await
            .map_err(|_| self.failed("the state writer stopped".into()))
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Request>) {
    let mut writes: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<oneshot::Sender<Result<(), String>>> = Vec::with_capacity(MAX_BATCH);
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    // Taken at the first request, given back after an error (a broken connection is then
    // replaced, and a transaction left open is rolled back by the pool).
    let mut held: Option<Held> = None;
    let mut release: Option<oneshot::Sender<()>> = None;
    while let Some(first) = rx.recv().await {
        if let Request::Release(reply) = first {
            held = None;
            let _ = reply.send(());
            continue;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                // Answered after this batch, whose connection goes back then.
                Ok(Request::Release(reply)) => {
                    release = Some(reply);
                    break;
                }
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let conn = match held.take() {
            Some(c) => Ok(c),
            None => store.hold().await,
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                let e = e.to_string();
                tracing::error!(stage = crate::metrics::STAGE, error = %e, "cannot reach the fetcher's state; the polls that asked retry");
                for req in batch.drain(..) {
                    match req {
                        Request::Write(_, reply) => drop(reply.send(Err(e.clone()))),
                        Request::Seen { reply, .. } => drop(reply.send(Err(e.clone()))),
                        Request::Release(reply) => drop(reply.send(())),
                    }
                }
                if let Some(reply) = release.take() {
                    let _ = reply.send(());
                }
                continue;
            }
        };
        let mut ok = true;
        for req in batch.drain(..) {
            match req {
                Request::Write(w, reply) => {
                    writes.extend(w);
                    replies.push(reply);
                }
                Request::Seen { feed, ids, reply } => {
                    let r = store.seen_among_on(&mut conn, &feed, &ids).await;
                    ok &= r.is_ok();
                    // A poll that gave up waiting (shutdown) no longer listens.
                    let _ = reply.send(r.map_err(|e| e.to_string()));
                }
                Request::Release(reply) => release = Some(reply),
            }
        }
        if !writes.is_empty() {
            let result = store
                .apply_on(&mut conn, &writes)
                .await
                .map_err(|e| e.to_string());
            if let Err(e) = &result {
                ok = false;
                tracing::error!(stage = crate::metrics::STAGE, writes = writes.len(), error = %e, "cannot write the fetcher's state; the polls that asked retry");
            }
            writes.clear();
            for reply in replies.drain(..) {
                let _ = reply.send(result.clone());
            }
        }
        if ok && release.is_none() {
            held = Some(conn);
        } else {
            drop(conn);
        }
        if let Some(reply) = release.take() {
            let _ = reply.send(());
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
