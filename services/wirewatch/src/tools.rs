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
    if let Err(e) = cfg.fetcher.shard() {
        errors.push(e);
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

/// Open the fetcher's state database (registry and health) under `data_dir`.
async fn fetcher_store(cfg: &Config) -> anyhow::Result<wirewatch_fetcher::state::Store> {
    Ok(
        wirewatch_fetcher::state::Store::open_at(&cfg.data_dir, cfg.fetcher.state_url.as_deref())
            .await?,
    )
}

/// The feeds file's entries.
fn file_feeds(cfg: &Config) -> anyhow::Result<Vec<wirewatch_fetcher::FeedSpec>> {
    Ok(wirewatch_fetcher::load_feeds(&cfg.fetcher.feeds_file)?)
}

/// `wirewatch feeds add <URL>`: find the feed(s) behind the URL (the URL itself, the page's
/// `<link rel="alternate">` feeds, or a well-known path) and add the first (all with `all`) to
/// the registry. A running fetcher starts polling within `registry_reload_secs`.
#[allow(clippy::too_many_arguments)]
pub async fn feeds_add(
    cfg: &Config,
    url: &str,
    id: Option<String>,
    title: Option<String>,
    category: Option<String>,
    interval_secs: Option<u64>,
    all: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    use wirewatch_fetcher::registry;
    let client = wirewatch_fetcher::http::client(&cfg.fetcher)?;
    let limits = wirewatch_fetcher::http::Limits::of(&cfg.fetcher);
    let found = registry::discover(&client, url, &limits).await?;
    let chosen: Vec<_> = if all {
        found.clone()
    } else {
        found.iter().take(1).cloned().collect()
    };
    if id.is_some() && chosen.len() > 1 {
        anyhow::bail!(
            "--id names one feed, but {} were found; add them one by one",
            chosen.len()
        );
    }
    let file_ids: std::collections::HashSet<String> =
        file_feeds(cfg)?.into_iter().map(|f| f.id).collect();
    let store = fetcher_store(cfg).await?;
    let mut failed = false;
    for d in &chosen {
        let spec = wirewatch_fetcher::FeedSpec {
            id: id.clone().unwrap_or_else(|| registry::id_for(&d.url)),
            url: d.url.clone(),
            interval_secs,
            title: title.clone().or_else(|| d.title.clone()),
            category: category.clone(),
        };
        if let Err(e) = wirewatch_fetcher::feeds::check_spec(&spec, &format!("feed {}", d.url)) {
            writeln!(out, "not added: {e}")?;
            failed = true;
            continue;
        }
        if file_ids.contains(&spec.id) || !store.registry_add(&spec).await? {
            writeln!(
                out,
                "not added: id {:?} is taken ({}); choose another with --id",
                spec.id, d.url
            )?;
            failed = true;
            continue;
        }
        writeln!(
            out,
            "added {} {} ({}; found {})",
            spec.id,
            spec.url,
            spec.title.as_deref().unwrap_or("no title"),
            d.how.replace('_', "-")
        )?;
    }
    if !all && found.len() > 1 {
        writeln!(
            out,
            "{} more feed(s) found; --all adds every one:",
            found.len() - 1
        )?;
        for d in found.iter().skip(1) {
            writeln!(
                out,
                "  {} ({})",
                d.url,
                d.title.as_deref().unwrap_or("no title")
            )?;
        }
    }
    store.close().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `wirewatch feeds import <file.opml>`: every outline with an `xmlUrl` joins the registry,
/// with its folders as category. Bad outlines are reported by URL and skipped.
pub async fn feeds_import(
    cfg: &Config,
    path: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    use wirewatch_fetcher::registry;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let feeds =
        registry::parse_opml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let file = file_feeds(cfg)?;
    let known_urls: std::collections::HashSet<String> =
        file.iter().map(|f| f.url.clone()).collect();
    let file_ids: std::collections::HashSet<String> = file.into_iter().map(|f| f.id).collect();
    let store = fetcher_store(cfg).await?;
    let registered: std::collections::HashSet<String> = store
        .registry_feeds()
        .await?
        .into_iter()
        .map(|f| f.url)
        .collect();
    let (mut added, mut skipped, mut invalid) = (0, 0, 0);
    for f in feeds {
        if known_urls.contains(&f.url) || registered.contains(&f.url) {
            skipped += 1;
            continue;
        }
        let base = registry::id_for(&f.url);
        let mut spec = wirewatch_fetcher::FeedSpec {
            id: base.clone(),
            url: f.url.clone(),
            interval_secs: None,
            title: f.title,
            category: f.category,
        };
        if let Err(e) = wirewatch_fetcher::feeds::check_spec(&spec, &format!("outline {:?}", f.url))
        {
            writeln!(out, "skipped: {e}")?;
            invalid += 1;
            continue;
        }
        let mut n = 2;
        loop {
            if !file_ids.contains(&spec.id) && store.registry_add(&spec).await? {
                added += 1;
                break;
            }
            spec.id = format!("{base}-{n}");
            n += 1;
        }
    }
    store.close().await;
    writeln!(
        out,
        "{}: {added} feed(s) added, {skipped} already known, {invalid} invalid",
        path.display()
    )?;
    Ok(if invalid > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `wirewatch feeds export`: OPML 2.0 of every feed (file and registry), folders by category.
pub async fn feeds_export(cfg: &Config, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut feeds = file_feeds(cfg)?;
    let store = fetcher_store(cfg).await?;
    feeds.extend(store.registry_feeds().await?);
    store.close().await;
    out.write_all(wirewatch_fetcher::registry::to_opml(&feeds).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `wirewatch feeds list`: each feed with its source, health, last success, next poll and
/// last error.
pub async fn feeds_list(cfg: &Config, json: bool, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let file = file_feeds(cfg)?;
    let store = fetcher_store(cfg).await?;
    let registry = store.registry_feeds().await?;
    let states: std::collections::HashMap<String, wirewatch_fetcher::state::FeedState> = store
        .feed_states()
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    store.close().await;
    let rows = file
        .iter()
        .map(|f| (f, "file"))
        .chain(registry.iter().map(|f| (f, "registry")));
    for (f, source) in rows {
        let st = states.get(&f.id);
        if json {
            serde_json::to_writer(
                &mut *out,
                &serde_json::json!({
                    "id": f.id, "url": st.map(|s| s.url.as_str()).unwrap_or(&f.url), "source": source,
                    "title": f.title, "category": f.category,
                    "status": st.map(|s| s.status.as_str()).unwrap_or("never polled"),
                    "consecutive_failures": st.map(|s| s.consecutive_failures),
                    "last_success_at": st.and_then(|s| s.last_success_at.clone()),
                    "next_poll_at": st.and_then(|s| s.next_poll_at.clone()),
                    "last_error": st.and_then(|s| s.last_error.clone()),
                }),
            )?;
            writeln!(out)?;
        } else {
            let short = |t: &Option<String>| {
                t.as_deref()
                    .map(|v| v.get(..16).unwrap_or(v).replace('T', " "))
                    .unwrap_or_else(|| "-".into())
            };
            writeln!(
                out,
                "{:<28} {:<8} {:<12} ok {:<16} next {:<16} {}{}",
                f.id,
                source,
                st.map(|s| s.status.as_str()).unwrap_or("never polled"),
                short(&st.and_then(|s| s.last_success_at.clone())),
                short(&st.and_then(|s| s.next_poll_at.clone())),
                st.map(|s| s.url.as_str()).unwrap_or(&f.url),
                st.and_then(|s| s.last_error.as_deref())
                    .map(|e| format!("\n{:<28} error: {e}", ""))
                    .unwrap_or_default()
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `wirewatch feeds remove <id>`: drop a registry feed (and its state); file feeds are
/// removed by editing the file.
pub async fn feeds_remove(cfg: &Config, id: &str, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if file_feeds(cfg)?.iter().any(|f| f.id == id) {
        anyhow::bail!(
            "feed {id:?} is defined in the feeds file {}; remove it there",
            cfg.fetcher.feeds_file.display()
        );
    }
    let store = fetcher_store(cfg).await?;
    let removed = store.registry_remove(id).await?;
    store.close().await;
    if !removed {
        anyhow::bail!("no feed {id:?} in the registry (wirewatch feeds list shows them)");
    }
    writeln!(out, "removed {id}")?;
    Ok(ExitCode::SUCCESS)
}
