//! Group commit of the poller's state: seen ids, feed rows, trims and schedule checkpoints
//! written, and the seen-id look-ups of changed polls.
//!
//! Reads nothing from the bus; reads and writes the state database through one connection it
//! holds ([`Store::hold`]). Each poll still waits for its own writes to be committed (so the
//! order "published, then remembered, then validators saved" holds exactly as with direct
//! writes, and a failure reaches the poll that asked), but the writes of every poll that
//! arrives within [`LINGER`] of the first go into one transaction together: at 10,000 feeds a
//! commit per statement was most of the database's cost. Look-ups are answered at once, on
//! the same connection, from the database and the writes still waiting for their commit.
//! The queue is bounded ([`QUEUE`]): when the database falls behind, polls wait for room
//! instead of piling up in memory.

use tokio::sync::{mpsc, oneshot};

use crate::error::FetcherError;
use crate::state::{Held, Store, Write};

/// Requests waiting for the next commit, at most.
pub const QUEUE: usize = 1_024;

/// Writes in one transaction, at most.
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
        self.ask(|reply| Request::Write(writes, reply)).await
    }

    /// Which of `ids` of `feed` were published already.
    pub async fn seen(&self, feed: &str, ids: Vec<String>) -> Result<Vec<String>, FetcherError> {
        if ids.is_empty() {
            return Ok(ids);
        }
        self.ask(|reply| Request::Seen {
            feed: feed.to_string(),
            ids,
            reply,
        })
        .await
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

    /// Send the request `make` builds around a reply channel, and wait for the answer.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Request,
    ) -> Result<T, FetcherError> {
        let (reply, done) = oneshot::channel();
        self.send(make(reply)).await?;
        match done.await {
            Ok(r) => r.map_err(|detail| self.failed(detail)),
            Err(_) => Err(self.failed("the state writer stopped".into())),
        }
    }
}

/// How long the first write of a batch waits for others before the commit. Changed polls
/// come one by one (a thousand a second at 10,000 feeds): without the wait nearly every
/// commit held one poll's writes, and a commit (its WAL frames, their checksums) costs the
/// same for one as for many.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

async fn run(store: Store, mut rx: mpsc::Receiver<Request>) {
    let mut writes: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<oneshot::Sender<Result<(), String>>> = Vec::with_capacity(MAX_BATCH);
    // Taken at the first request, given back after an error (a broken connection is then
    // replaced, and a transaction left open is rolled back by the pool) and on `Release`.
    let mut held: Option<Held> = None;
    // When the writes waiting now are committed.
    let mut deadline: Option<tokio::time::Instant> = None;
    let linger = tokio::time::sleep(LINGER);
    tokio::pin!(linger);
    loop {
        let req = tokio::select! {
            r = rx.recv() => r,
            () = &mut linger, if deadline.is_some() => {
                deadline = None;
                commit(&store, &mut held, &mut writes, &mut replies).await;
                continue;
            }
        };
        let Some(req) = req else {
            // Every handle dropped: what waits is still committed.
            commit(&store, &mut held, &mut writes, &mut replies).await;
            break;
        };
        match req {
            Request::Write(w, reply) => {
                writes.extend(w);
                replies.push(reply);
                if writes.len() >= MAX_BATCH {
                    deadline = None;
                    commit(&store, &mut held, &mut writes, &mut replies).await;
                } else if deadline.is_none() {
                    let at = tokio::time::Instant::now() + LINGER;
                    deadline = Some(at);
                    linger.as_mut().reset(at);
                }
            }
            Request::Seen { feed, ids, reply } => {
                // What the database holds, and what waits for the next commit.
                let r = match connection(&store, &mut held).await {
                    Ok(conn) => store.seen_among_on(conn, &feed, &ids).await,
                    Err(e) => Err(e),
                };
                let r = r.map(|mut found| {
                    for w in &writes {
                        if let Write::Seen { feed: f, ids: new } = w {
                            if *f == feed {
                                found.extend(ids.iter().filter(|id| new.contains(id)).cloned());
                            }
                        }
                    }
                    found
                });
                if r.is_err() {
                    held = None;
                }
                // A poll that gave up waiting (shutdown) no longer listens.
                let _ = reply.send(r.map_err(|e| e.to_string()));
            }
            Request::Release(reply) => {
                deadline = None;
                commit(&store, &mut held, &mut writes, &mut replies).await;
                held = None;
                let _ = reply.send(());
            }
        }
    }
}

/// The writer's connection, taken from the pool if it has none.
async fn connection<'a>(
    store: &Store,
    held: &'a mut Option<Held>,
) -> Result<&'a mut Held, FetcherError> {
    let conn = match held.take() {
        Some(conn) => conn,
        None => store.hold().await?,
    };
    Ok(held.insert(conn))
}

/// Commit `writes` in one transaction and tell each of `replies` how it went.
async fn commit(
    store: &Store,
    held: &mut Option<Held>,
    writes: &mut Vec<Write>,
    replies: &mut Vec<oneshot::Sender<Result<(), String>>>,
) {
    if writes.is_empty() {
        return;
    }
    let result = match connection(store, held).await {
        Ok(conn) => store.apply_on(conn, writes).await,
        Err(e) => Err(e),
    }
    .map_err(|e| e.to_string());
    if let Err(e) = &result {
        *held = None;
        tracing::error!(stage = crate::metrics::STAGE, writes = writes.len(), error = %e, "cannot write the fetcher's state; the polls that asked retry");
    }
    writes.clear();
    for reply in replies.drain(..) {
        let _ = reply.send(result.clone());
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
    async fn a_lookup_sees_writes_still_waiting_for_their_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = Writer::start(store.clone());
        writer
            .write(Write::Seen {
                feed: "f".into(),
                ids: vec!["old".into()],
            })
            .await
            .unwrap();
        // The write is queued first (its send completes at its first poll), the look-up
        // comes while the write waits out the linger, before its commit.
        let ids = vec!["old".to_string(), "new".into(), "never".into()];
        let (written, found) = tokio::join!(
            writer.write(Write::Seen {
                feed: "f".into(),
                ids: vec!["new".into()],
            }),
            async {
                tokio::task::yield_now().await;
                writer.seen("f", ids.clone()).await
            }
        );
        written.unwrap();
        let mut found = found.unwrap();
        found.sort();
        assert_eq!(found, vec!["new".to_string(), "old".into()]);
        assert!(
            writer.seen("g", ids).await.unwrap().is_empty(),
            "another feed's ids are its own"
        );
        assert!(store.is_seen("f", "new").await.unwrap());
        writer.release().await;
        store.close().await;
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
