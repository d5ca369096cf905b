//! The tool subcommands. The stdin/stdout commands call the same library code as the stages.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use wirewatch_proto::Topic;

use crate::config::Config;

/// `wirewatch check-config`: the config file parsed (errors were printed by `main` with their
/// key paths), then every file it names loaded and checked.
pub fn check_config(cfg: &Config, path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut errors = Vec::new();
    if let Err(e) = wirewatch_fetcher::load_feeds(&cfg.fetcher.feeds_file) {
        errors.push(format!("fetcher.feeds_file: {e}"));
    }
    if let Err(e) = wirewatch_classifier::Classifier::load(&cfg.classifier) {
        errors.push(format!("classifier: {e}"));
    }
    if let Err(e) = wirewatch_alerter::load_subscriptions(&cfg.alerter.subscriptions_file) {
        errors.push(format!("alerter.subscriptions_file: {e}"));
    }
    let source = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| crate::config::DEFAULT_PATH.to_string());
    if errors.is_empty() {
        println!("{source}: ok");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{source}: {} error(s)", errors.len());
        for e in errors {
            eprintln!("  {e}");
        }
        Ok(ExitCode::from(2))
    }
}

/// `wirewatch topics create`.
pub async fn topics_create(cfg: &Config) -> anyhow::Result<ExitCode> {
    let results = wirewatch_runtime::bus::kafka::create_topics(&cfg.bus).await?;
    let mut ok = true;
    for (name, outcome) in results {
        if outcome.starts_with("error") {
            ok = false;
        }
        println!("{name}: {outcome}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `wirewatch topics list`.
pub fn topics_list(cfg: &Config) -> anyhow::Result<ExitCode> {
    for t in Topic::ALL {
        println!("{}", t.name(&cfg.bus.topic_prefix));
    }
    Ok(ExitCode::SUCCESS)
}

/// `wirewatch inspect`.
pub async fn inspect(cfg: &Config, source: &str, json: bool) -> anyhow::Result<ExitCode> {
    let ins = wirewatch_fetcher::inspect(source, &cfg.fetcher)
        .await
        .with_context(|| format!("cannot inspect {source}"))?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &ins)?;
        writeln!(out)?;
    } else {
        let feed = serde_json::to_value(&ins.feed)?;
        writeln!(
            out,
            "feed: {}",
            feed.get("title")
                .and_then(|t| t.as_str())
                .unwrap_or("(untitled)")
        )?;
        writeln!(out, "{} stories", ins.stories.len())?;
        for s in &ins.stories {
            let when = s
                .published
                .map(|d| d.to_rfc3339())
                .unwrap_or_else(|| "-".into());
            writeln!(out, "- {when}  {}", s.title)?;
            if let Some(l) = &s.link {
                writeln!(out, "    {l}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Apply `f` to every stdin line; print results as JSON lines, errors on stderr with the line
/// number. Exit 1 when any line failed (the others are still printed).
fn each_line(
    mut f: impl FnMut(usize, &str) -> Result<serde_json::Value, String>,
) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0usize;
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        match f(i + 1, &line) {
            Ok(v) => {
                serde_json::to_writer(&mut out, &v)?;
                writeln!(out)?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        eprintln!("{failed} line(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `wirewatch dedup`.
pub fn dedup(cfg: &Config) -> anyhow::Result<ExitCode> {
    let mut index = wirewatch_dedup::Index::new();
    each_line(|n, line| {
        wirewatch_dedup::stage::verdict_line(&mut index, &cfg.dedup, n, line)
            .map_err(|e| e.to_string())
    })
}

/// Most stories a backtest reads (the oldest beyond it are left out, and the output says so).
const MAX_BACKTEST_STORIES: usize = 500_000;

/// `wirewatch subs test "<query>" [--since 7d] [--cluster once|update|every]`: run the query
/// over the stored stories published (or fetched) since then, oldest first, and print what it
/// would have alerted — a backtest to tune a query before subscribing.
pub async fn subs_test(
    cfg: &Config,
    query: &str,
    since: &str,
    mode: wirewatch_alerter::subscription::ClusterMode,
    show: usize,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    use wirewatch_alerter::backtest::{Backtest, Outcome};
    let mut bt = match Backtest::new(query, mode) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("query {query:?}: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let params = wirewatch_store::SearchParams {
        since: Some(since.to_string()),
        sort: Some("time".into()),
        limit: Some(wirewatch_store::query::MAX_LIMIT.to_string()),
        ..Default::default()
    };
    let mut q = wirewatch_store::SearchQuery::from_params(&params, chrono::Utc::now())?;
    let store = wirewatch_store::Store::open(&cfg.store, &cfg.data_dir).await?;
    // Pages come newest first; the backtest needs them oldest first.
    let mut stories = Vec::new();
    let mut truncated = false;
    loop {
        let page = store.search_page(&q).await?;
        for v in page.stories {
            match serde_json::from_value::<wirewatch_proto::v1::EnrichedStory>(v) {
                Ok(s) => stories.push(s),
                Err(e) => tracing::warn!(error = %e, "stored story does not decode; skipped"),
            }
        }
        if stories.len() >= MAX_BACKTEST_STORIES {
            truncated = page.next_cursor.is_some();
            break;
        }
        match page.next_cursor {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    store.close().await;
    stories.reverse();
    let mut shown = 0usize;
    for s in &stories {
        let Some(outcome) = bt.feed(s) else { continue };
        if shown >= show {
            continue;
        }
        let what = match outcome {
            Outcome::Alert => "ALERT ".to_string(),
            Outcome::Update(n) => format!("UPDATE +{} sources", n.saturating_sub(1)),
            Outcome::SuppressedCluster => "(same cluster, suppressed)".to_string(),
        };
        let when = s
            .story
            .published
            .unwrap_or(s.story.fetched_at)
            .format("%Y-%m-%d %H:%M");
        writeln!(
            out,
            "{when}  {what}  {}  [{}]  {}",
            s.story.title,
            s.story.feed.id,
            s.story.link.as_deref().unwrap_or("")
        )?;
        shown += 1;
    }
    if bt.matched as usize > shown {
        writeln!(
            out,
            "… {} more match(es) not shown (--show)",
            bt.matched as usize - shown
        )?;
    }
    writeln!(
        out,
        "{} stories since {since}: {} matched, {} would alert, {} suppressed as the same cluster{}",
        bt.seen,
        bt.matched,
        bt.alerts,
        bt.suppressed,
        if truncated {
            format!(" (only the newest {MAX_BACKTEST_STORIES} stories were read)")
        } else {
            String::new()
        }
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `wirewatch subs list`: the subscriptions the alerter knows (file and API), with state.
pub async fn subs_list(cfg: &Config, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let subs = wirewatch_alerter::load_subscriptions(&cfg.alerter.subscriptions_file)?;
    let ledger = wirewatch_alerter::ledger::Ledger::open(&cfg.data_dir).await?;
    let reg = wirewatch_alerter::registry::Registry::open(
        ledger.clone(),
        &subs,
        &cfg.alerter.subscriptions_file,
    )
    .await?;
    let live = reg.live();
    for c in &live.subs {
        let state = if c.active() {
            "active"
        } else if c.meta.paused {
            "paused"
        } else {
            "disabled"
        };
        writeln!(
            out,
            "{:<24} {:<8} {:<5} created {}  {}",
            c.sub.id,
            state,
            c.meta.source.as_str(),
            c.meta.created_at.format("%Y-%m-%d %H:%M"),
            c.sub.query
        )?;
    }
    ledger.close().await;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
