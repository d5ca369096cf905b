//! The polling loop: a schedule of due feeds (one binary heap), at most
//! `max_concurrent_fetches` polls in flight (run by as many long-lived workers), each
//! host (registrable domain) gated by [`HostGate`] — its own concurrency limit and spacing,
//! and a pause when several of its feeds are throttled. Each poll fetches, parses, publishes
//! the new stories, records health, and picks the feed's next interval from its publishing
//! rate and the server's hints ([`crate::schedule`]). A permanent redirect (301/308) updates
//! the feed's URL and is reported as a `redirected` health event.

use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;
use wirewatch_proto::stable_id;
use wirewatch_proto::v1::{FeedHealth, FeedRef, FeedStatus, RawStory};
use wirewatch_runtime::backoff::Backoff;
use wirewatch_runtime::bus::{Record, SharedPublisher};
use wirewatch_runtime::stage::{publish_with_retry, LoopOptions};

use crate::clock::Clock;
use crate::config::FetcherConfig;
use crate::error::FetcherError;
use crate::feeds::FeedSpec;
use crate::http::{self, FetchOutcome};
use crate::metrics::{self, STAGE};
use crate::parse::{parse_feed_with_charset, FeedInfo};
use crate::schedule::{self, FeedHints, HostGate, IntervalPolicy, Throttle};
use crate::state::{status_str, FeedRow, Store, Write};
use crate::websub::{self, Push, WebSub};
use crate::writer::Writer;

/// Longest error text carried in a `FeedHealth` event.
const MAX_ERROR_BYTES: usize = 1024;

struct Ctx {
    cfg: FetcherConfig,
    client: reqwest::Client,
    store: Store,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
    websub: Option<Arc<WebSub>>,
    clock: Arc<dyn Clock>,
    /// Seen ids and feed rows go through the group commit.
    writer: Writer,
}

/// One feed's schedule and state, owned by whichever poll runs it.
struct FeedTask {
    spec: FeedSpec,
    /// `spec.url` parsed (`None`: it does not parse; each poll then fails saying so).
    url: Option<Url>,
    policy: IntervalPolicy,
    /// Mean gap between the feed's items at the last successful poll.
    gap: Option<Duration>,
    /// The longest delay the server or the feed asked for at the last poll.
    floor: Option<Duration>,
    row: FeedRow,
    /// The row as last saved without an error: a poll that changes nothing (a 304, most of
    /// them) writes nothing.
    saved: Option<FeedRow>,
    /// When the schedule (last success, next poll) was last written for `feeds list`.
    checkpointed: Option<Instant>,
    /// The feed's published ids as far as polls need them (see [`SeenIds`]); `None` until its
    /// first changed poll.
    seen: Option<SeenIds>,
    /// The WebSub hub the feed last advertised (leases are renewed on later polls, 304s
    /// included).
    hub: Option<websub::Advertised>,
    backoff: Backoff,
    /// State writes of the current poll not yet committed (its delivered ids, a trim): they
    /// go with the row's save in one commit, or at the poll's end ([`save_state`]).
    pending: Vec<Write>,
}

/// What a poll tells the scheduler.
struct PollReport {
    /// Delay before the next poll.
    delay: Duration,
    /// The server throttled the feed (429/503), with its `Retry-After`.
    throttled: Option<Option<Duration>>,
    /// The feed moved to another URL (its host may have changed).
    moved: bool,
    /// Schedule the feed again (false for a pushed document: its poll stays scheduled).
    reschedule: bool,
}

/// Poll every feed of `specs` until `shutdown`; see [`crate::run`].
pub(crate) async fn run_feeds(
    cfg: FetcherConfig,
    specs: Vec<FeedSpec>,
    data_dir: &Path,
    publisher: SharedPublisher,
    opts: LoopOptions,
    shutdown: CancellationToken,
    extras: crate::Extras,
) -> Result<(), FetcherError> {
    let clock: Arc<dyn Clock> = extras
        .clock
        .unwrap_or_else(|| Arc::new(crate::clock::SystemClock));
    let (websub, mut pushes) = match extras.websub {
        Some((w, rx)) => (Some(w), Some(rx)),
        None => (None, None),
    };
    metrics::touch();
    let store = Store::open_at(data_dir, cfg.state_url.as_deref()).await?;
    let client = http::client(&cfg)?;
    let mut tasks: Vec<Option<Box<FeedTask>>> = Vec::with_capacity(specs.len());
    let mut hosts: Vec<Arc<str>> = Vec::with_capacity(specs.len());
    let mut statuses: FxHashMap<usize, FeedStatus> = FxHashMap::default();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let file_ids: HashSet<String> = specs.iter().map(|s| s.id.clone()).collect();
    // The signature before the rows: a feed added in between is then seen as a change at the
    // first reload (the other order would miss it until the next change).
    let mut registry_sig = store.registry_signature().await?;
    let mut all: Vec<FeedSpec> = specs.into_iter().filter(|f| cfg.owns(&f.id)).collect();
    for r in store
        .registry_feeds()
        .await?
        .into_iter()
        .filter(|f| cfg.owns(&f.id))
    {
        if file_ids.contains(&r.id) {
            tracing::warn!(stage = STAGE, feed = %r.id, "a feed added with `wirewatch feeds add` has the id of a feed in the feeds file; the file's wins");
        } else {
            all.push(r);
        }
    }
    for (task, host) in make_tasks(&store, &cfg, all).await? {
        statuses.insert(tasks.len(), task.row.status);
        index_of.insert(task.spec.id.clone(), tasks.len());
        hosts.push(host.into());
        tasks.push(Some(Box::new(task)));
    }
    set_gauge(&statuses);
    if tasks.is_empty() {
        tracing::warn!(stage = STAGE, "no feeds configured; waiting for shutdown");
    }
    tracing::info!(stage = STAGE, feeds = tasks.len(), "fetcher started");
    let max_in_flight = cfg.max_concurrent_fetches.max(1);
    let mut gate = HostGate::new(cfg.host_policy());
    let ctx = Arc::new(Ctx {
        cfg,
        client,
        writer: Writer::start(store.clone()),
        store,
        publisher,
        opts,
        shutdown: shutdown.clone(),
        websub,
        clock: clock.clone(),
    });
    // Feeds whose pushed document is being published (their poll stays scheduled).
    let mut pushing: FxHashSet<usize> = FxHashSet::default();
    // Pushes for feeds that were busy when they came.
    let mut waiting: FxHashMap<usize, std::collections::VecDeque<Push>> = FxHashMap::default();

    // First poll of every feed: now.
    let now = clock.now();
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> =
        (0..tasks.len()).map(|i| Reverse((now, i))).collect();
    // Polls run on `max_concurrent_fetches` long-lived worker tasks, not on the loop's own:
    // they progress on every worker thread, and while the loop below awaits the database
    // (registry checks), polls holding the pool's connections still finish and return them —
    // inside the loop's task they would wait for the loop, which waits for a connection.
    let mut workers = Workers::start(&ctx, max_in_flight);

    let reload_every = Duration::from_secs(ctx.cfg.registry_reload_secs.max(1));
    let mut next_reload = now + reload_every;
    // The loop's timers and its shutdown signal live across iterations: re-creating them on
    // every pass (once per completed poll) cost a timer registration and an allocation each.
    let mut reload_sleep = clock.sleep_until(next_reload);
    let mut due_sleep: Option<(Instant, crate::clock::Sleep)> = None;
    let cancelled = shutdown.clone().cancelled_owned();
    tokio::pin!(cancelled);
    // Feeds removed from the registry while their poll was in flight.
    let mut removed: FxHashSet<usize> = FxHashSet::default();
    let mut dones: Vec<Done> = Vec::with_capacity(max_in_flight);

    let result = 'run: loop {
        let now = clock.now();
        while workers.has_idle() {
            match due.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((_, idx))) = due.pop() else {
                break;
            };
            let Some(host) = hosts.get(idx).cloned() else {
                continue;
            };
            if let Err(at) = gate.try_start(&host, now) {
                due.push(Reverse((at, idx)));
                continue;
            }
            if let Some(task) = tasks.get_mut(idx).and_then(Option::take) {
                let job = Job {
                    idx,
                    host,
                    task,
                    push: None,
                    busy: clock.busy(),
                };
                if let Err(e) = workers.launch(job) {
                    break 'run Err(e);
                }
            } else {
                gate.finish(&host, now);
                if pushing.contains(&idx) {
                    // Busy with a pushed document: poll right after.
                    due.push(Reverse((now + Duration::from_secs(1), idx)));
                }
            }
        }
        let next_due = due.peek().map(|Reverse((at, _))| *at);
        let can_launch = next_due.is_some() && workers.has_idle();
        // The due timer follows the earliest deadline, and exists only while a poll could
        // start at it (a stale one would keep a manual clock from ever being idle).
        let wanted = next_due.filter(|_| can_launch);
        if due_sleep.as_ref().map(|(at, _)| *at) != wanted {
            due_sleep = wanted.map(|at| (at, clock.sleep_until(at)));
        }
        tokio::select! {
            biased;
            () = &mut cancelled => break Ok(()),
            () = &mut reload_sleep => {
                next_reload = clock.now() + reload_every;
                reload_sleep = clock.sleep_until(next_reload);
                match ctx.store.registry_signature().await {
                    Ok(sig) if sig != registry_sig => {
                        // Again the signature before the rows sync_registry reads.
                        registry_sig = sig;
                        if let Err(e) = sync_registry(&ctx, &file_ids, &mut index_of, &mut tasks, &mut hosts, &mut statuses, &mut removed, &mut due).await {
                            tracing::error!(stage = STAGE, error = %e, "cannot apply registry changes");
                        }
                        set_gauge(&statuses);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(stage = STAGE, error = %e, "cannot check the feed registry"),
                }
            }
            Some(p) = recv_opt(&mut pushes) => {
                let Some(&idx) = index_of.get(&p.feed_id) else {
                    tracing::info!(stage = STAGE, feed = %p.feed_id, "websub: push for a feed not configured; ignored");
                    continue;
                };
                let Some(task) = tasks.get_mut(idx).and_then(Option::take) else {
                    // Being polled or publishing another push: published when it returns.
                    let q = waiting.entry(idx).or_default();
                    if q.len() < MAX_WAITING_PUSHES {
                        q.push_back(p);
                    } else {
                        tracing::warn!(stage = STAGE, feed = %p.feed_id, "websub: too many pushes waiting for this feed; dropping one (polling catches up)");
                    }
                    continue;
                };
                launch_push(&ctx, &mut gate, &mut pushing, &mut workers, &hosts, idx, task, p, now);
            }
            Some(first) = workers.done.recv() => {
                // Every poll that has finished by now, in one pass: at full load several do
                // between two wake-ups of the loop, and each pass costs a select.
                dones.push(first);
                while dones.len() < max_in_flight {
                    match workers.done.try_recv() {
                        Ok(d) => dones.push(d),
                        Err(_) => break,
                    }
                }
                let now = clock.now();
                for done in dones.drain(..) {
                    let Done { idx, host, task, res, .. } = workers.returned(done);
                    gate.finish(&host, now);
                    pushing.remove(&idx);
                    if removed.remove(&idx) {
                        waiting.remove(&idx);
                        tracing::info!(stage = STAGE, feed = %task.spec.id, "feed removed from the registry");
                        continue;
                    }
                    match res {
                        Ok(report) => {
                            let mut delay = report.delay;
                            if let Some(retry_after) = report.throttled {
                                if let Throttle::Host(until) = gate.throttled(&host, idx, retry_after, now) {
                                    metrics::get().host_backoffs.with_label_values(&[STAGE]).inc();
                                    let secs = until.saturating_duration_since(now).as_secs();
                                    tracing::warn!(stage = STAGE, host = %host, pause_secs = secs, "several feeds of this host are throttled (429/503): pausing the whole host");
                                    delay = delay.max(until.saturating_duration_since(now));
                                }
                            }
                            // The gauge moves only on a change: recounting every feed on every
                            // poll was a third of the fetcher's CPU at 10,000 feeds.
                            if statuses.insert(idx, task.row.status) != Some(task.row.status) {
                                set_gauge(&statuses);
                            }
                            if report.moved {
                                if let Some(h) = hosts.get_mut(idx) {
                                    *h = host_of(&task.spec.url).into();
                                }
                            }
                            if report.reschedule {
                                due.push(Reverse((now + delay, idx)));
                            }
                            match waiting.get_mut(&idx).and_then(std::collections::VecDeque::pop_front) {
                                Some(p) => launch_push(&ctx, &mut gate, &mut pushing, &mut workers, &hosts, idx, task, p, now),
                                None => {
                                    waiting.remove(&idx);
                                    if let Some(slot) = tasks.get_mut(idx) {
                                        *slot = Some(task);
                                    }
                                }
                            }
                        }
                        Err(e) => break 'run Err(e),
                    }
                }
            }
            Some(ended) = workers.tasks.join_next() => {
                if let Err(e) = workers.ended(ended) {
                    break Err(e);
                }
            }
            () = wait_opt(due_sleep.as_mut().map(|(_, s)| s)), if can_launch => {
                due_sleep = None;
            }
        }
    };
    let result = match result {
        // Let in-flight polls finish their current publish (they stop fetching on shutdown).
        Ok(()) => workers.drain().await,
        Err(e) => Err(e),
    };
    // Dropping the workers aborts whatever still runs (after an error).
    drop(workers);
    ctx.writer.release().await;
    ctx.store.close().await;
    tracing::info!(stage = STAGE, "fetcher stopped");
    result
}

/// A poll, or the publication of a pushed document, handed to a worker.
struct Job {
    idx: usize,
    host: Arc<str>,
    task: Box<FeedTask>,
    /// `None`: poll the feed; `Some`: publish this pushed document.
    push: Option<Push>,
    /// Held until the job is done (a [`crate::clock::ManualClock`] is not settled before).
    busy: crate::clock::Busy,
}

impl Job {
    /// Poll the feed or publish the pushed document; `cancelled` (shutdown) interrupts a
    /// fetch. `worker`: who ran it, for [`Workers::returned`].
    async fn run(
        self,
        ctx: &Ctx,
        worker: Option<usize>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Done {
        let Job {
            idx,
            host,
            mut task,
            push,
            busy,
        } = self;
        let res = match push {
            None => poll_feed(ctx, &mut task, cancelled).await,
            Some(p) => publish_push(ctx, &mut task, p).await,
        };
        drop(busy);
        Done {
            worker,
            idx,
            host,
            task,
            res,
        }
    }
}

/// A finished job: the feed's task back, with the outcome.
struct Done {
    /// The worker that ran it (`None`: a pushed document's own task).
    worker: Option<usize>,
    idx: usize,
    host: Arc<str>,
    task: Box<FeedTask>,
    res: Result<PollReport, FetcherError>,
}

/// What a task of [`Workers::tasks`] was.
enum Role {
    Worker,
    Push,
}

/// The polls in flight: a fixed set of long-lived worker tasks, each running one job at a
/// time. A poll is a message to an idle worker and one back, not a task spawned per poll:
/// at 10,000 feeds the spawn (allocating and moving the poll's whole future into a new task)
/// and the join were a large share of a 304's cost. Pushed documents (rare) get a task each,
/// so a burst of pushes never waits for a free worker.
struct Workers {
    jobs: Vec<tokio::sync::mpsc::Sender<Job>>,
    idle: Vec<usize>,
    /// Push tasks not yet done.
    pushes: usize,
    done: tokio::sync::mpsc::Receiver<Done>,
    done_tx: tokio::sync::mpsc::Sender<Done>,
    tasks: JoinSet<Role>,
}

impl Workers {
    fn start(ctx: &Arc<Ctx>, n: usize) -> Self {
        let n = n.max(1);
        let (done_tx, done) = tokio::sync::mpsc::channel(n);
        let mut tasks = JoinSet::new();
        let mut jobs = Vec::with_capacity(n);
        for w in 0..n {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tasks.spawn(worker(w, ctx.clone(), rx, done_tx.clone()));
            jobs.push(tx);
        }
        Self {
            jobs,
            idle: (0..n).rev().collect(),
            pushes: 0,
            done,
            done_tx,
            tasks,
        }
    }

    fn has_idle(&self) -> bool {
        !self.idle.is_empty()
    }

    /// Jobs handed out and not yet returned.
    fn in_flight(&self) -> usize {
        self.jobs.len() - self.idle.len() + self.pushes
    }

    /// Hand `job` to an idle worker (the caller checked [`Self::has_idle`]).
    fn launch(&mut self, job: Job) -> Result<(), FetcherError> {
        let sent = match self.idle.pop() {
            Some(w) => self.jobs.get(w).map(|tx| tx.try_send(job).is_ok()),
            None => None,
        };
        match sent {
            Some(true) => Ok(()),
            _ => Err(FetcherError::Io {
                url: String::new(),
                detail: "no poll worker took the job (a worker stopped)".into(),
            }),
        }
    }

    /// Publish a pushed document on a task of its own.
    fn launch_push(&mut self, ctx: &Arc<Ctx>, job: Job) {
        self.pushes += 1;
        let (ctx, done) = (ctx.clone(), self.done_tx.clone());
        self.tasks.spawn(async move {
            let cancelled = ctx.shutdown.cancelled();
            let _ = done.send(job.run(&ctx, None, cancelled).await).await;
            Role::Push
        });
    }

    /// Book `done`'s worker (or push task) as free again.
    fn returned(&mut self, done: Done) -> Done {
        match done.worker {
            Some(w) => self.idle.push(w),
            None => self.pushes = self.pushes.saturating_sub(1),
        }
        done
    }

    /// A task of [`Self::tasks`] ended: fine for a push's, an error for a worker (they run
    /// until the workers are dropped) or a panic.
    fn ended(&mut self, ended: Result<Role, tokio::task::JoinError>) -> Result<(), FetcherError> {
        match ended {
            Ok(Role::Push) => Ok(()),
            Ok(Role::Worker) => Err(FetcherError::Io {
                url: String::new(),
                detail: "a poll worker stopped".into(),
            }),
            Err(e) => Err(task_failed(&e)),
        }
    }

    /// Wait for every job in flight (the first error wins).
    async fn drain(&mut self) -> Result<(), FetcherError> {
        while self.in_flight() > 0 {
            tokio::select! {
                Some(done) = self.done.recv() => self.returned(done).res.map(|_| ())?,
                Some(ended) = self.tasks.join_next() => self.ended(ended)?,
            }
        }
        Ok(())
    }
}

/// A worker: runs the jobs it is handed, one at a time, until its channel closes. The poll's
/// future lives inside the worker's own, so a poll allocates no task.
async fn worker(
    id: usize,
    ctx: Arc<Ctx>,
    mut jobs: tokio::sync::mpsc::Receiver<Job>,
    done: tokio::sync::mpsc::Sender<Done>,
) -> Role {
    let cancelled = ctx.shutdown.clone().cancelled_owned();
    tokio::pin!(cancelled);
    while let Some(job) = jobs.recv().await {
        if done
            .send(job.run(&ctx, Some(id), cancelled.as_mut()).await)
            .await
            .is_err()
        {
            break;
        }
    }
    Role::Worker
}

/// A poll task that panicked (a bug): fatal, as a panic of the loop itself would be.
fn task_failed(e: &tokio::task::JoinError) -> FetcherError {
    FetcherError::Io {
        url: String::new(),
        detail: format!("a poll task failed: {e}"),
    }
}

async fn recv_opt(rx: &mut Option<tokio::sync::mpsc::Receiver<Push>>) -> Option<Push> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn wait_opt(sleep: Option<&mut crate::clock::Sleep>) {
    match sleep {
        Some(s) => s.await,
        None => std::future::pending().await,
    }
}

/// Pushed documents kept per busy feed.
const MAX_WAITING_PUSHES: usize = 8;

/// Start publishing pushed document `p` of feed `idx` (its task taken). Not through the host
/// gate's checks (nothing is fetched), but holding a slot so the completion's `finish`
/// balances.
#[allow(clippy::too_many_arguments)]
fn launch_push(
    ctx: &Arc<Ctx>,
    gate: &mut HostGate,
    pushing: &mut FxHashSet<usize>,
    workers: &mut Workers,
    hosts: &[Arc<str>],
    idx: usize,
    task: Box<FeedTask>,
    p: Push,
    now: Instant,
) {
    pushing.insert(idx);
    let host = hosts.get(idx).cloned().unwrap_or_else(|| Arc::from(""));
    gate.hold(&host, now);
    let busy = ctx.clock.busy();
    workers.launch_push(
        ctx,
        Job {
            idx,
            host,
            task,
            push: Some(p),
            busy,
        },
    );
}

/// Publish the new stories of a document the feed's hub pushed (the same seen-ids as polls).
async fn publish_push(ctx: &Ctx, task: &mut FeedTask, p: Push) -> Result<PollReport, FetcherError> {
    let feed = websub::feed_ref(&task.spec.id, &task.spec.url, task.spec.title.clone());
    let fetched_at = Utc::now();
    let url = task.spec.url.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        parse_feed_with_charset(
            &p.body,
            p.charset.as_deref(),
            &feed,
            Some(&p.topic),
            fetched_at,
        )
    })
    .await
    .map_err(|e| FetcherError::Parse {
        url: url.clone(),
        detail: format!("parser task failed: {e}"),
    })?;
    match parsed {
        Ok((info, stories)) => {
            load_seen(ctx, task).await?;
            let published = publish_new(ctx, task, &info, stories).await;
            save_state(ctx, task, RowWrite::Unchanged, None).await;
            match published? {
                Published::All(n) => {
                    tracing::info!(stage = STAGE, feed = %task.spec.id, new_stories = n, "websub: pushed document published");
                }
                Published::Interrupted => {}
            }
        }
        Err(e) => {
            tracing::warn!(stage = STAGE, feed = %task.spec.id, error = %e, "websub: pushed document is not a feed; ignored");
        }
    }
    Ok(PollReport {
        delay: Duration::ZERO,
        throttled: None,
        moved: false,
        reschedule: false,
    })
}

/// The feeds' tasks, their state rows registered in one batch (a moved feed keeps its new
/// URL), each with its host key.
async fn make_tasks(
    store: &Store,
    cfg: &FetcherConfig,
    specs: Vec<FeedSpec>,
) -> Result<Vec<(FeedTask, String)>, FetcherError> {
    let (retry_initial, retry_max) = cfg.retry_bounds();
    let keys: Vec<(&str, &str)> = specs
        .iter()
        .map(|s| (s.id.as_str(), s.url.as_str()))
        .collect();
    let rows = store.register_many(&keys).await?;
    Ok(specs
        .into_iter()
        .zip(rows)
        .map(|(mut spec, row)| {
            if row.url != spec.url {
                tracing::info!(stage = STAGE, feed = %spec.id, configured = %spec.url, url = %row.url, "feed moved permanently earlier; polling its new URL");
                spec.url = row.url.clone();
            }
            let host = host_of(&spec.url);
            let policy = cfg.interval_policy(spec.interval_secs);
            let task = FeedTask {
                url: Url::parse(&spec.url).ok(),
                spec,
                policy,
                gap: None,
                floor: None,
                row,
                saved: None,
                checkpointed: None,
                pending: Vec::new(),
                seen: None,
                hub: None,
                backoff: Backoff::new(retry_initial, retry_max),
            };
            (task, host)
        })
        .collect())
}

/// Apply the registry's additions (polled at once) and removals to the running schedule.
#[allow(clippy::too_many_arguments)]
async fn sync_registry(
    ctx: &Ctx,
    file_ids: &HashSet<String>,
    index_of: &mut HashMap<String, usize>,
    tasks: &mut Vec<Option<Box<FeedTask>>>,
    hosts: &mut Vec<Arc<str>>,
    statuses: &mut FxHashMap<usize, FeedStatus>,
    removed: &mut FxHashSet<usize>,
    due: &mut BinaryHeap<Reverse<(Instant, usize)>>,
) -> Result<(), FetcherError> {
    let now_registry: Vec<FeedSpec> = ctx
        .store
        .registry_feeds()
        .await?
        .into_iter()
        .filter(|f| ctx.cfg.owns(&f.id))
        .collect();
    let wanted: HashSet<&str> = now_registry.iter().map(|f| f.id.as_str()).collect();
    let gone: Vec<String> = index_of
        .keys()
        .filter(|id| !file_ids.contains(*id) && !wanted.contains(id.as_str()))
        .cloned()
        .collect();
    for id in gone {
        if let Some(idx) = index_of.remove(&id) {
            statuses.remove(&idx);
            match tasks.get_mut(idx).and_then(Option::take) {
                Some(_) => {
                    tracing::info!(stage = STAGE, feed = %id, "feed removed from the registry")
                }
                // In flight: dropped when its poll comes back.
                None => {
                    removed.insert(idx);
                }
            }
        }
    }
    let added: Vec<FeedSpec> = now_registry
        .into_iter()
        .filter(|spec| !index_of.contains_key(&spec.id) && !file_ids.contains(&spec.id))
        .collect();
    for (task, host) in make_tasks(&ctx.store, &ctx.cfg, added).await? {
        let id = task.spec.id.clone();
        let idx = tasks.len();
        statuses.insert(idx, task.row.status);
        index_of.insert(id.clone(), idx);
        hosts.push(host.into());
        tasks.push(Some(Box::new(task)));
        due.push(Reverse((ctx.clock.now(), idx)));
        tracing::info!(stage = STAGE, feed = %id, "feed added from the registry");
    }
    Ok(())
}

/// The politeness key of a feed URL (the URL as is when it does not parse).
fn host_of(url: &str) -> String {
    Url::parse(url)
        .map(|u| schedule::host_key(&u))
        .unwrap_or_else(|_| url.to_string())
}

fn set_gauge(statuses: &FxHashMap<usize, FeedStatus>) {
    let m = metrics::get();
    for s in metrics::STATUSES {
        let n = statuses.values().filter(|v| status_str(**v) == s).count();
        m.feeds
            .with_label_values(&[STAGE, s])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// Poll one feed once. Returns the delay before its next poll and whether the server
/// throttled it, or a fatal error (the bus refused a record for good). Feed failures are not
/// errors here: they are recorded, reported and backed off.
/// Poll `task`'s feed; `cancelled` (shutdown) interrupts the fetch.
async fn poll_feed(
    ctx: &Ctx,
    task: &mut FeedTask,
    cancelled: impl std::future::Future<Output = ()>,
) -> Result<PollReport, FetcherError> {
    let mut throttled = None;
    let before = task.spec.url.clone();
    let delay = poll_once(ctx, task, &mut throttled, cancelled).await;
    save_state(ctx, task, RowWrite::Unchanged, None).await;
    let delay = delay?;
    let moved = before != task.spec.url;
    Ok(PollReport {
        delay,
        throttled,
        moved,
        reschedule: true,
    })
}

async fn poll_once(
    ctx: &Ctx,
    task: &mut FeedTask,
    throttled: &mut Option<Option<Duration>>,
    cancelled: impl std::future::Future<Output = ()>,
) -> Result<Duration, FetcherError> {
    let m = metrics::get();
    let start = Instant::now();
    let fetched = tokio::select! {
        r = fetch_and_parse(ctx, task) => r,
        () = cancelled => return Ok(Duration::ZERO),
    };
    let fetched = match fetched {
        Ok(f) => {
            task.floor = f.floor;
            if f.parsed.is_some() {
                task.hub = f.hub;
            }
            if let (Some(ws), Some(ad)) = (&ctx.websub, &task.hub) {
                ws.ensure(&task.spec.id, ad).await;
            }
            if let Some(to) = f.moved_to {
                if !moved(ctx, task, &to).await? {
                    return Ok(Duration::ZERO);
                }
            }
            Ok(f.parsed)
        }
        Err(e) => {
            if matches!(e.http_status(), Some(429 | 503)) {
                *throttled = Some(e.retry_after());
            }
            Err(e)
        }
    };
    let hot = metrics::hot();
    hot.fetch_seconds.observe(start.elapsed().as_secs_f64());
    let request = metrics::request_outcome(fetched.as_ref().map(Option::is_some));
    hot.request(request);
    let outcome = match fetched {
        Ok(None) => {
            hot.fetch("not_modified");
            tracing::debug!(stage = STAGE, feed = %task.spec.id, "not modified");
            Ok(())
        }
        Ok(Some((info, stories, validators))) => {
            hot.fetch("ok");
            hot.items_per_fetch.observe(info.items as f64);
            let returned = stories.len();
            let dates: Vec<_> = stories
                .iter()
                .filter(|s| !s.published_is_fetch_time)
                .filter_map(|s| s.published)
                .collect();
            if let Some(gap) = schedule::mean_gap(&dates) {
                task.gap = Some(gap);
            }
            if let Err(e) = load_seen(ctx, task).await {
                // Our database failed, not the feed: retried like any state error.
                return on_failure(ctx, task, e).await;
            }
            let read_before = task.seen.as_ref().is_some_and(|s| s.rows > 0);
            match publish_new(ctx, task, &info, stories).await {
                Ok(Published::All(n)) => {
                    // Validators only now: had we saved them first and crashed mid-publish, the
                    // next poll would get a 304 and the unpublished stories would be lost.
                    task.row.validators = validators;
                    tracing::info!(stage = STAGE, feed = %task.spec.id, new_stories = n, items = info.items, duration_ms = start.elapsed().as_millis() as u64, "feed polled");
                    if missed_items(read_before, returned, n) {
                        m.missed_items.with_label_values(&[STAGE]).inc();
                        tracing::warn!(stage = STAGE, feed = %task.spec.id, items = returned, "every item is new: items may have scrolled out of the feed unseen; polling sooner");
                        // Reported on the feed-health topic with the status unchanged: not a
                        // health change, so not counted as one.
                        let health = missed_items_event(task, returned);
                        let rec = Record::event(&health, STAGE).map_err(|e| FetcherError::Bus {
                            detail: e.to_string(),
                        })?;
                        let delivered = publish_with_retry(
                            &ctx.publisher,
                            rec,
                            &ctx.opts,
                            &ctx.shutdown,
                            STAGE,
                        )
                        .await
                        .map_err(|e| FetcherError::Bus {
                            detail: e.to_string(),
                        })?;
                        if !delivered {
                            return Ok(Duration::ZERO);
                        }
                        let next = on_success(ctx, task).await?;
                        return Ok((next / 2).max(MIN_MISSED_INTERVAL).min(next));
                    }
                    Ok(())
                }
                Ok(Published::Interrupted) => return Ok(Duration::ZERO),
                Err(e @ FetcherError::Bus { .. }) => return Err(e),
                Err(e) => Err(e),
            }
        }
        Err(e) => {
            hot.fetch("error");
            Err(e)
        }
    };
    match outcome {
        Ok(()) => on_success(ctx, task).await,
        Err(e) => on_failure(ctx, task, e).await,
    }
}

type Parsed = (FeedInfo, Vec<RawStory>, http::Validators);

/// A fetch's result: the parsed feed (`None`: not modified), a permanent move, and the
/// longest delay the server and the feed asked for.
struct Fetched {
    parsed: Option<Parsed>,
    moved_to: Option<Url>,
    floor: Option<Duration>,
    /// The WebSub hub the document advertises.
    hub: Option<websub::Advertised>,
}

/// Documents up to this size are parsed on the poll's own thread, larger ones on the
/// blocking pool.
const INLINE_PARSE_BYTES: usize = 16 * 1024;

/// Fetch conditionally and parse (a large document off the async threads).
async fn fetch_and_parse(ctx: &Ctx, task: &FeedTask) -> Result<Fetched, FetcherError> {
    let url = task.spec.url.clone();
    let limits = http::Limits::of(&ctx.cfg);
    // `task.url` is `None` only when the URL does not parse: parsing it here gives the error.
    let reparsed;
    let target = match &task.url {
        Some(u) => u,
        None => {
            reparsed = http::parse_url(&url)?;
            &reparsed
        }
    };
    let outcome = http::fetch_url(&ctx.client, target, &task.row.validators, &limits).await?;
    let (bytes, charset, final_url, validators, moved_to, hints) = match outcome {
        FetchOutcome::NotModified { moved_to, hints } => {
            return Ok(Fetched {
                parsed: None,
                moved_to,
                // A 304 carries no body: keep what the feed itself asked for last time.
                floor: hints.floor().max(task.floor),
                hub: None,
            });
        }
        FetchOutcome::Body {
            bytes,
            charset,
            final_url,
            validators,
            moved_to,
            hints,
        } => (bytes, charset, final_url, validators, moved_to, hints),
    };
    if final_url.as_str() != url {
        tracing::debug!(stage = STAGE, feed = %task.spec.id, final_url = %final_url, "redirected");
    }
    let size = bytes.len();
    let floor = hints.floor().max(FeedHints::scan(&bytes).floor());
    let hub = ctx
        .websub
        .as_ref()
        .filter(|w| w.enabled())
        .and_then(|_| websub::advertised(&bytes, &final_url));
    let feed = FeedRef {
        id: task.spec.id.clone(),
        url: url.clone(),
        title: task.spec.title.clone(),
    };
    let fetched_at = Utc::now();
    let parse = move || {
        parse_feed_with_charset(
            &bytes,
            charset.as_deref(),
            &feed,
            Some::<&Url>(&final_url),
            fetched_at,
        )
    };
    // A small document parses in tens of microseconds: on this thread, where handing it to
    // the blocking pool (a thread wake-up each way) would cost more than the parse.
    let parsed = if size <= INLINE_PARSE_BYTES {
        parse()?
    } else {
        tokio::task::spawn_blocking(parse)
            .await
            .map_err(|e| FetcherError::Parse {
                url: url.clone(),
                detail: format!("parser task failed: {e}"),
            })??
    };
    Ok(Fetched {
        parsed: Some((parsed.0, parsed.1, validators)),
        moved_to,
        floor,
        hub,
    })
}

/// The feed moved for good (every redirect 301/308): report it as a `redirected` health event,
/// poll the new URL from now on and remember it across restarts (until the feeds file names
/// another URL). `false`: shutdown interrupted the report.
async fn moved(ctx: &Ctx, task: &mut FeedTask, to: &Url) -> Result<bool, FetcherError> {
    let from = task.spec.url.clone();
    let mut health = health_event(task, FeedStatus::Redirected, task.row.status, None);
    health.feed.url = to.to_string();
    health.error_kind = Some("moved_permanently".into());
    health.error = Some(truncate(
        format!("moved permanently from {from} to {to}"),
        MAX_ERROR_BYTES,
    ));
    if !publish_health(ctx, &health).await? {
        return Ok(false);
    }
    tracing::info!(stage = STAGE, feed = %task.spec.id, from = %from, to = %to, "feed moved permanently; polling the new URL");
    task.spec.url = to.to_string();
    task.row.url = to.to_string();
    task.url = Some(to.clone());
    save_state(ctx, task, RowWrite::Saved, None).await;
    Ok(true)
}

enum Published {
    All(usize),
    Interrupted,
}

/// What the poller keeps of a feed's published ids, bounded by the feed's own size: the ids
/// of the items its last document carried (all seen once it was published; 128-bit keys — a
/// story id is 32 hex digits, its key exact; anything else keyed by its own `stable_id`), and
/// how many rows the database holds. An item of the last document is known without a query,
/// a new one costs one look-up, and the database is trimmed only when it exceeds
/// `seen_per_feed` — not after every changed poll.
#[derive(Debug, Default)]
struct SeenIds {
    window: Vec<u128>,
    /// Rows in the `seen` table for the feed (an upper bound).
    rows: u64,
}

/// Most ids of one document kept in [`SeenIds::window`].
const MAX_WINDOW: usize = 1_000;

impl SeenIds {
    fn key(id: &str) -> u128 {
        let hex = |s: &str| {
            (s.len() == 32)
                .then(|| u128::from_str_radix(s, 16).ok())
                .flatten()
        };
        hex(id)
            .or_else(|| hex(&stable_id(&["seen", id])))
            .unwrap_or_default()
    }
}

/// Count the feed's remembered ids, once (its first changed poll or push).
async fn load_seen(ctx: &Ctx, task: &mut FeedTask) -> Result<(), FetcherError> {
    if task.seen.is_none() {
        let rows = ctx.store.seen_count(&task.spec.id).await?;
        task.seen = Some(SeenIds {
            window: Vec::new(),
            rows,
        });
    }
    Ok(())
}

/// Publish the stories not seen before, oldest first, marking each seen only once delivered.
async fn publish_new(
    ctx: &Ctx,
    task: &mut FeedTask,
    info: &FeedInfo,
    stories: Vec<RawStory>,
) -> Result<Published, FetcherError> {
    let mut delivered = Vec::new();
    let result = publish_each(ctx, task, info, stories, &mut delivered).await;
    // Remembered once per document, whatever stopped the publishing: a crash before the
    // commit publishes them again at the next poll (at least once), never loses them.
    // They are committed with the feed's row (its new validators) after the poll, in one
    // transaction ([`on_success`]), or by [`save_state`] whatever ends the poll.
    let new = delivered.len() as u64;
    if !delivered.is_empty() {
        task.pending.push(Write::Seen {
            feed: task.spec.id.clone(),
            ids: delivered,
        });
    }
    let seen = task.seen.get_or_insert_with(SeenIds::default);
    seen.rows += new;
    // The database keeps the newest `seen_per_feed`; trimmed only once it holds more.
    let bound = ctx.cfg.seen_per_feed.max(1) as u64;
    if seen.rows > bound {
        task.pending.push(Write::Trim {
            feed: task.spec.id.clone(),
            keep: ctx.cfg.seen_per_feed,
        });
        seen.rows = bound;
    }
    result
}

/// Publish the stories not seen before, oldest first; the ids delivered go to `delivered`.
async fn publish_each(
    ctx: &Ctx,
    task: &mut FeedTask,
    info: &FeedInfo,
    mut stories: Vec<RawStory>,
    delivered: &mut Vec<String>,
) -> Result<Published, FetcherError> {
    let feed_id = &task.spec.id;
    let seen = task.seen.get_or_insert_with(SeenIds::default);
    if info.skipped_items > 0 {
        tracing::debug!(stage = STAGE, feed = %feed_id, skipped = info.skipped_items, "items without guid, link or title skipped");
    }
    // Feeds list newest first; publishing oldest first keeps the bus roughly in time order.
    stories.reverse();
    // Each story's key, once (hashed for ids that are not 32 hex digits).
    let keys: Vec<u128> = stories.iter().map(|s| SeenIds::key(&s.id)).collect();
    // The ids not in the last document: one look-up for all of them.
    let mut ask: Vec<String> = stories
        .iter()
        .zip(&keys)
        .filter(|(_, k)| !seen.window.contains(k))
        .map(|(s, _)| s.id.clone())
        .collect();
    ask.sort_unstable();
    ask.dedup();
    let remembered: HashSet<String> = ctx.writer.seen(feed_id, ask).await?.into_iter().collect();
    let mut window = Vec::with_capacity(stories.len().min(MAX_WINDOW));
    for (story, key) in stories.into_iter().zip(keys) {
        if ctx.shutdown.is_cancelled() {
            return Ok(Published::Interrupted);
        }
        let known = seen.window.contains(&key)
            || delivered.contains(&story.id)
            || remembered.contains(&story.id);
        if !known {
            let rec = Record::event(&story, STAGE).map_err(|e| FetcherError::Bus {
                detail: e.to_string(),
            })?;
            let sent = publish_with_retry(&ctx.publisher, rec, &ctx.opts, &ctx.shutdown, STAGE)
                .await
                .map_err(|e| FetcherError::Bus {
                    detail: e.to_string(),
                })?;
            if !sent {
                return Ok(Published::Interrupted);
            }
            delivered.push(story.id);
            metrics::get()
                .stories_published
                .with_label_values(&[STAGE])
                .inc();
        }
        if window.len() < MAX_WINDOW {
            window.push(key);
        }
    }
    seen.window = window;
    Ok(Published::All(delivered.len()))
}

/// The schedule checkpoint of `task` (see [`CHECKPOINT_EVERY`]), if one is due now.
fn checkpoint_write(ctx: &Ctx, task: &FeedTask, success: bool, next: Duration) -> Option<Write> {
    if success
        && task
            .checkpointed
            .is_some_and(|t| ctx.clock.now().saturating_duration_since(t) < CHECKPOINT_EVERY)
    {
        return None;
    }
    let now = Utc::now();
    Some(Write::Checkpoint {
        feed: task.spec.id.clone(),
        success: success.then_some(now),
        next_poll: now + chrono::TimeDelta::from_std(next).unwrap_or_default(),
    })
}

/// What [`save_state`] does with the feed's row.
enum RowWrite {
    /// Nothing to save.
    Unchanged,
    /// Save it (a success: no error).
    Saved,
    /// Save it with the error of the failed poll (a later success writes it again).
    Failed(String),
}

/// Commit in one transaction the poll's pending writes (its delivered ids, a trim), the row
/// and the checkpoint (when due). Pending writes are committed whatever ended the poll
/// (an interrupted publish, a failure, shutdown). A failure is logged and counted: the ids
/// are then published again by a later poll (at least once, never lost), the row is saved
/// again at the next poll that changes it, the schedule at the next checkpoint.
async fn save_state(ctx: &Ctx, task: &mut FeedTask, row: RowWrite, checkpoint: Option<Write>) {
    let mut writes = std::mem::take(&mut task.pending);
    let saves_clean_row = matches!(row, RowWrite::Saved);
    let last_error = match row {
        RowWrite::Unchanged => None,
        RowWrite::Saved => Some(None),
        RowWrite::Failed(msg) => {
            task.saved = None;
            Some(Some(msg))
        }
    };
    if let Some(last_error) = last_error {
        writes.push(Write::Row {
            feed: task.spec.id.clone(),
            row: task.row.clone(),
            last_error,
        });
    }
    let checkpoints = checkpoint.is_some();
    writes.extend(checkpoint);
    if writes.is_empty() {
        return;
    }
    match ctx.writer.write_all(writes).await {
        Ok(()) => {
            if saves_clean_row {
                task.saved = Some(task.row.clone());
            }
            if checkpoints {
                task.checkpointed = Some(ctx.clock.now());
            }
        }
        Err(e) => {
            record_error(&e);
            tracing::error!(stage = STAGE, feed = %task.spec.id, error = %e, "cannot save feed state");
        }
    }
}

async fn on_success(ctx: &Ctx, task: &mut FeedTask) -> Result<Duration, FetcherError> {
    task.backoff.reset();
    let previous = task.row.status;
    task.row.consecutive_failures = 0;
    // `recovered` stays until the next failure: it means "healthy, failed before", and
    // reporting recovered → healthy would be an event that tells nobody anything.
    if matches!(previous, FeedStatus::Failing | FeedStatus::Gone) {
        let health = health_event(task, FeedStatus::Recovered, previous, None);
        if !publish_health(ctx, &health).await? {
            return Ok(Duration::ZERO);
        }
        task.row.status = FeedStatus::Recovered;
        tracing::info!(stage = STAGE, feed = %task.spec.id, "feed recovered");
    }
    let save_row = task.saved.as_ref() != Some(&task.row);
    let mut next = schedule::next_interval(&task.policy, task.gap, task.floor);
    // Only feeds with a hub can have a subscription: no lookup on the others' polls.
    if let (Some(ws), Some(_)) = (&ctx.websub, &task.hub) {
        if let Some(relaxed) = ws.relaxed_interval(&task.spec.id).await {
            // Pushes arrive: polling is only the safety net.
            next = next.max(relaxed.min(task.policy.max));
        }
    }
    metrics::hot().poll_interval.observe(next.as_secs_f64());
    let checkpoint = checkpoint_write(ctx, task, true, next);
    let row = if save_row {
        RowWrite::Saved
    } else {
        RowWrite::Unchanged
    };
    save_state(ctx, task, row, checkpoint).await;
    Ok(next)
}

/// How stale `wirewatch feeds list`'s "last success / next poll" may get (one write per feed
/// at most this often, instead of one per poll).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);

async fn on_failure(
    ctx: &Ctx,
    task: &mut FeedTask,
    e: FetcherError,
) -> Result<Duration, FetcherError> {
    record_error(&e);
    let delay = task.backoff.next_delay().max(
        e.retry_after()
            .unwrap_or_default()
            .min(ctx.cfg.retry_bounds().1),
    );
    if let FetcherError::State { .. } = e {
        // Our database, not the feed, failed: retry without touching the feed's health.
        tracing::error!(stage = STAGE, feed = %task.spec.id, error = %e, "state error");
        return Ok(delay);
    }
    task.row.consecutive_failures = task.row.consecutive_failures.saturating_add(1);
    tracing::warn!(
        stage = STAGE,
        feed = %task.spec.id,
        kind = e.kind(),
        error = %e,
        consecutive_failures = task.row.consecutive_failures,
        retry_in_secs = delay.as_secs(),
        "feed fetch failed"
    );
    let new_status = if e.http_status() == Some(410) {
        FeedStatus::Gone
    } else {
        FeedStatus::Failing
    };
    let previous = task.row.status;
    if previous != new_status
        && task.row.consecutive_failures >= ctx.cfg.failures_before_failing.max(1)
    {
        let health = health_event(task, new_status, previous, Some(&e));
        if !publish_health(ctx, &health).await? {
            return Ok(Duration::ZERO);
        }
        task.row.status = new_status;
    }
    let msg = truncate(e.to_string(), MAX_ERROR_BYTES);
    // Saved with its error: a later success writes the row again (without it).
    let checkpoint = checkpoint_write(ctx, task, false, delay);
    save_state(ctx, task, RowWrite::Failed(msg), checkpoint).await;
    Ok(delay)
}

/// The shortest interval a feed that missed items is polled at.
const MIN_MISSED_INTERVAL: Duration = Duration::from_secs(30);

/// Whether a poll suggests missed items: the feed had been read before, and every item it
/// returned now is new, so nothing overlaps with what was seen — items published between the
/// two polls may have scrolled out of the feed's window unseen. (No overlap is the test
/// because feeds' dates are too often missing or wrong to compare.)
fn missed_items(read_before: bool, returned: usize, new: usize) -> bool {
    read_before && returned > 0 && new == returned
}

/// A feed-health event reporting possible missed items (status unchanged).
fn missed_items_event(task: &FeedTask, returned: usize) -> FeedHealth {
    let mut h = health_event(task, task.row.status, task.row.status, None);
    h.id = stable_id(&["feed-missed", &task.spec.id, &h.observed_at.to_rfc3339()]);
    h.error_kind = Some("missed_items".into());
    h.error = Some(format!(
        "all {returned} items were new: items may have scrolled out unseen between polls; polling sooner"
    ));
    h
}

fn record_error(e: &FetcherError) {
    metrics::get()
        .errors
        .with_label_values(&[STAGE, e.kind()])
        .inc();
}

fn health_event(
    task: &FeedTask,
    status: FeedStatus,
    previous: FeedStatus,
    error: Option<&FetcherError>,
) -> FeedHealth {
    let observed_at = Utc::now();
    FeedHealth {
        id: stable_id(&[
            "feed-health",
            &task.spec.id,
            status_str(status),
            &observed_at.to_rfc3339(),
        ]),
        feed: FeedRef {
            id: task.spec.id.clone(),
            url: task.spec.url.clone(),
            title: task.spec.title.clone(),
        },
        status,
        previous: Some(previous),
        error_kind: error.map(|e| e.kind().to_string()),
        error: error.map(|e| truncate(e.to_string(), MAX_ERROR_BYTES)),
        http_status: error.and_then(FetcherError::http_status),
        consecutive_failures: task.row.consecutive_failures,
        observed_at,
    }
}

/// Publish a health change; `false` when shutdown interrupted it (the status is then not
/// saved, so the change is reported again after restart).
async fn publish_health(ctx: &Ctx, health: &FeedHealth) -> Result<bool, FetcherError> {
    let rec = Record::event(health, STAGE).map_err(|e| FetcherError::Bus {
        detail: e.to_string(),
    })?;
    let delivered = publish_with_retry(&ctx.publisher, rec, &ctx.opts, &ctx.shutdown, STAGE)
        .await
        .map_err(|e| FetcherError::Bus {
            detail: e.to_string(),
        })?;
    if delivered {
        metrics::get()
            .health_changes
            .with_label_values(&[STAGE, status_str(health.status)])
            .inc();
        tracing::info!(stage = STAGE, feed = %health.feed.id, status = status_str(health.status), previous = health.previous.map(status_str), "feed health changed");
    }
    Ok(delivered)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod missed_tests {
    use super::missed_items;

    #[test]
    fn missed_items_needs_history_and_no_overlap() {
        assert!(
            !missed_items(false, 10, 10),
            "first poll of a feed is not a gap"
        );
        assert!(missed_items(true, 10, 10));
        assert!(
            !missed_items(true, 10, 9),
            "one seen item overlaps: nothing missed"
        );
        assert!(!missed_items(true, 0, 0), "an empty feed proves nothing");
    }
}
