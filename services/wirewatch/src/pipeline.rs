//! Wiring stages to a bus: `run` (all stages, in-process bus) and `serve` (one stage, Kafka),
//! signal handling and ordered, bounded graceful shutdown.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::kafka::{KafkaPublisher, KafkaSubscriber};
use wirewatch_runtime::bus::memory::MemoryBus;
use wirewatch_runtime::bus::{SharedPublisher, Subscriber};
use wirewatch_runtime::http::ReadyCheck;
use wirewatch_runtime::stage::{run_processor, LoopOptions, Processor};
use wirewatch_runtime::CancellationToken;

use crate::config::Config;
use crate::Stage;

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Fetcher => "fetcher",
            Stage::Dedup => "dedup",
            Stage::Classifier => "classifier",
            Stage::Alerter => "alerter",
            Stage::Store => "store",
        }
    }

    /// Topics the stage consumes.
    fn inputs(self) -> Vec<Topic> {
        match self {
            Stage::Fetcher => vec![],
            Stage::Dedup => vec![Topic::StoriesRaw],
            Stage::Classifier => vec![Topic::StoriesUnique],
            Stage::Alerter => vec![Topic::StoriesEnriched],
            Stage::Store => wirewatch_store::STORE_TOPICS.to_vec(),
        }
    }

    const PIPELINE: [Stage; 5] = [
        Stage::Fetcher,
        Stage::Dedup,
        Stage::Classifier,
        Stage::Alerter,
        Stage::Store,
    ];
}

/// A running stage: its own shutdown token, so stages stop in pipeline order.
struct Running {
    stage: Stage,
    token: CancellationToken,
    handle: JoinHandle<()>,
}

/// Everything a stage needs that differs between `run` and `serve`.
struct Built {
    checks: Vec<Arc<dyn ReadyCheck>>,
    api: axum::Router,
    task: std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>,
}

async fn build(
    cfg: &Config,
    stage: Stage,
    subscriber: Option<Box<dyn Subscriber>>,
    publisher: SharedPublisher,
    token: CancellationToken,
) -> anyhow::Result<Built> {
    let opts = LoopOptions::from_bus(&cfg.bus);
    let sub = || subscriber.context("stage needs a subscriber");
    fn processor<P: Processor + 'static>(
        p: P,
        sub: Box<dyn Subscriber>,
        publisher: SharedPublisher,
        opts: LoopOptions,
        token: CancellationToken,
    ) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> {
        Box::pin(async move { Ok(run_processor(p, sub, publisher, opts, token).await?) })
    }
    let mut checks: Vec<Arc<dyn ReadyCheck>> = vec![Arc::new(publisher.clone())];
    let mut api = axum::Router::new();
    let task = match stage {
        Stage::Fetcher => {
            let fc = cfg.fetcher.clone();
            let dir = cfg.data_dir.clone();
            // Fail fast on a bad feeds file, before anything starts.
            wirewatch_fetcher::load_feeds(&fc.feeds_file)?;
            match wirewatch_fetcher::websub_for(&fc, &dir).await? {
                Some((ws, pushes)) => {
                    api = ws.router();
                    Box::pin(async move {
                        Ok(wirewatch_fetcher::run_with_websub(
                            fc, &dir, publisher, opts, token, ws, pushes,
                        )
                        .await?)
                    })
                        as std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
                }
                None => Box::pin(async move {
                    Ok(wirewatch_fetcher::run(fc, &dir, publisher, opts, token).await?)
                })
                    as std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>,
            }
        }
        Stage::Dedup => {
            let d = wirewatch_dedup::DedupStage::open(cfg.dedup.clone(), &cfg.data_dir).await?;
            checks.push(d.ready_check());
            processor(d, sub()?, publisher, opts, token)
        }
        Stage::Classifier => {
            let c = wirewatch_classifier::Classifier::load(&cfg.classifier)?;
            tracing::info!(version = c.version(), "classifier loaded");
            processor(
                wirewatch_classifier::ClassifierStage::new(c),
                sub()?,
                publisher,
                opts,
                token,
            )
        }
        Stage::Alerter => {
            let a = wirewatch_alerter::Alerter::open(
                &cfg.alerter,
                &cfg.data_dir,
                &cfg.bus.topic_prefix,
            )
            .await?;
            checks.push(a.ready_check());
            api = a.api_router();
            // The delivery worker drains the outbox beside the run-loop and stops with it.
            let worker = {
                let a = a.clone();
                let (publisher, opts, token) = (publisher.clone(), opts.clone(), token.clone());
                tokio::spawn(async move { a.run_worker(publisher, opts, token).await })
            };
            let matcher = processor(a, sub()?, publisher, opts, token);
            Box::pin(async move {
                let r = matcher.await;
                let _ = worker.await;
                r
            })
        }
        Stage::Store => {
            let s = wirewatch_store::Store::open(&cfg.store, &cfg.data_dir).await?;
            checks.push(s.ready_check());
            api = wirewatch_store::api_router(s.clone());
            // Retention runs beside the sink and stops with it.
            let retention = tokio::spawn(wirewatch_store::run_retention(
                s.clone(),
                cfg.store.clone(),
                token.clone(),
            ));
            let sink = processor(
                wirewatch_store::StoreSink::new(s),
                sub()?,
                publisher,
                opts,
                token,
            );
            Box::pin(async move {
                let r = sink.await;
                let _ = retention.await;
                r
            })
        }
    };
    Ok(Built { checks, api, task })
}

/// Wait for SIGINT or SIGTERM.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the process");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Start the built stages, wait for a signal or a failure, then stop them in pipeline order
/// within the grace period.
async fn supervise(
    cfg: &Config,
    built: Vec<(Stage, CancellationToken, Built)>,
) -> anyhow::Result<ExitCode> {
    let http_token = CancellationToken::new();
    let mut checks = Vec::new();
    let mut api = axum::Router::new();
    let mut tasks = Vec::new();
    for (stage, token, b) in built {
        checks.extend(b.checks);
        api = api.merge(b.api);
        tasks.push((stage, token, b.task));
    }
    let (_addr, http) =
        wirewatch_runtime::http::serve(&cfg.http, checks, api, http_token.clone()).await?;
    let (fail_tx, mut fail_rx) = mpsc::channel::<(Stage, String)>(8);
    let mut running = Vec::new();
    for (stage, token, task) in tasks {
        let tx = fail_tx.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = task.await {
                tracing::error!(stage = stage.name(), error = %format!("{e:#}"), "stage failed");
                let _ = tx.send((stage, format!("{e:#}"))).await;
            }
        });
        tracing::info!(stage = stage.name(), "stage started");
        running.push(Running {
            stage,
            token,
            handle,
        });
    }
    drop(fail_tx);
    let failed = tokio::select! {
        _ = signal() => { tracing::info!("shutdown requested"); None }
        f = fail_rx.recv() => f,
    };
    let deadline = Instant::now() + Duration::from_secs(cfg.shutdown.grace_period_secs);
    let mut timed_out = false;
    for r in running {
        r.token.cancel();
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, r.handle).await {
            Ok(_) => tracing::info!(stage = r.stage.name(), "stage drained"),
            Err(_) => {
                timed_out = true;
                tracing::error!(
                    stage = r.stage.name(),
                    "stage did not stop within the grace period"
                );
            }
        }
    }
    http_token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
    // A stage that failed during the drain also counts.
    let failed = failed.or_else(|| fail_rx.try_recv().ok());
    if let Some((stage, e)) = failed {
        eprintln!("error: stage {} failed: {e}", stage.name());
        return Ok(ExitCode::FAILURE);
    }
    if timed_out {
        return Ok(ExitCode::FAILURE);
    }
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// `wirewatch run`: every stage, one process, in-process bus.
pub async fn run_all(cfg: Config) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;
    let bus = MemoryBus::new(&cfg.bus.topic_prefix, cfg.bus.channel_capacity);
    let mut built = Vec::new();
    // Subscribe every consumer before any stage publishes.
    for stage in Stage::PIPELINE {
        let inputs = stage.inputs();
        let sub: Option<Box<dyn Subscriber>> = if inputs.is_empty() {
            None
        } else {
            Some(Box::new(bus.subscribe_for(stage.name(), &inputs)))
        };
        let publisher: SharedPublisher = Arc::new(bus.publisher(stage.name()));
        let token = CancellationToken::new();
        let b = build(&cfg, stage, sub, publisher, token.clone())
            .await
            .with_context(|| format!("cannot start stage {}", stage.name()))?;
        built.push((stage, token, b));
    }
    // One readiness check per bus is enough.
    let mut first = true;
    for (_, _, b) in built.iter_mut() {
        b.checks.retain(|c| {
            let keep = c.name() != "bus" || first;
            if c.name() == "bus" {
                first = false;
            }
            keep
        });
    }
    tracing::info!(data_dir = %cfg.data_dir.display(), "wirewatch running all stages in one process");
    supervise(&cfg, built).await
}

/// `wirewatch serve <stage>`: one stage over Kafka.
pub async fn serve(cfg: Config, stage: Stage) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;
    let publisher: SharedPublisher = Arc::new(KafkaPublisher::new(&cfg.bus, stage.name())?);
    let inputs = stage.inputs();
    let sub: Option<Box<dyn Subscriber>> = if inputs.is_empty() {
        None
    } else {
        Some(Box::new(KafkaSubscriber::new(
            &cfg.bus,
            stage.name(),
            stage.name(),
            &inputs,
        )?))
    };
    let token = CancellationToken::new();
    let b = build(&cfg, stage, sub, publisher, token.clone())
        .await
        .with_context(|| format!("cannot start stage {}", stage.name()))?;
    tracing::info!(stage = stage.name(), bootstrap = %cfg.bus.kafka.bootstrap_servers, prefix = %cfg.bus.topic_prefix, "serving one stage over kafka");
    supervise(&cfg, vec![(stage, token, b)]).await
}
