//! # wirewatch — the one binary
//!
//! Roles are subcommands: `run` (every stage in one process on the in-process bus and SQLite —
//! the default job), `serve <stage>` (one stage as its own process on Kafka), and tools
//! (`check-config`, `topics create`, `inspect`, `classify`, `dedup`). Only this crate touches
//! signals and uses `anyhow`; the stages are libraries handed their config, bus and shutdown
//! token.

mod config;
mod pipeline;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// wirewatch: self-hosted news monitoring. Fetches feeds, drops duplicates, classifies
/// stories, alerts subscribers and stores everything with full-text search.
#[derive(Parser, Debug)]
#[command(name = "wirewatch", version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: config/wirewatch.toml when it exists). Environment
    /// variables `WIREWATCH__SECTION__KEY` override it.
    #[arg(long, short, global = true, env = "WIREWATCH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every stage in one process (in-process bus, SQLite under data_dir).
    Run,
    /// Run one stage as its own process over Kafka.
    Serve {
        /// The stage to run.
        stage: Stage,
    },
    /// Validate the configuration and the files it names; print every error with its key.
    CheckConfig,
    /// Manage Kafka topics.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Fetch (URL) or read (file) one feed and print what the pipeline would publish.
    Inspect {
        /// Feed URL (http/https) or file path.
        source: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Classify stories: JSON lines on stdin → enriched stories as JSON lines on stdout.
    Classify,
    /// Deduplicate stories: JSON lines on stdin → one verdict per line on stdout.
    Dedup,
}

#[derive(Subcommand, Debug)]
enum TopicsAction {
    /// Create every topic of the contract (partitions and replication from config).
    Create,
    /// Print the topic names.
    List,
}

/// A pipeline stage.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// feeds → stories.raw
    Fetcher,
    /// stories.raw → stories.unique + stories.links
    Dedup,
    /// stories.unique → stories.enriched
    Classifier,
    /// stories.enriched → alerts
    Alerter,
    /// stories.enriched, links, alerts, feed health, dead letters → database + API
    Store,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("configuration errors:");
            for e in &errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(2);
        }
    };
    wirewatch_runtime::logging::init(&cfg.log);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Run => pipeline::run_all(cfg).await,
            Command::Serve { stage } => pipeline::serve(cfg, stage).await,
            Command::CheckConfig => tools::check_config(&cfg, cli.config.as_deref()),
            Command::Topics { action } => match action {
                TopicsAction::Create => tools::topics_create(&cfg).await,
                TopicsAction::List => tools::topics_list(&cfg),
            },
            Command::Inspect { source, format } => {
                tools::inspect(&cfg, &source, format == Format::Json).await
            }
            Command::Classify => tools::classify(&cfg),
            Command::Dedup => tools::dedup(&cfg),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
