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
