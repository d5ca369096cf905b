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
    /// Feeds beyond the feeds file: add (with discovery), import/export OPML, list, remove.
    Feeds {
        #[command(subcommand)]
        action: FeedsAction,
    },
    /// Alert subscriptions: list them, backtest a query (`subs test "<query>" --since 7d`).
    Subs {
        #[command(subcommand)]
        action: SubsAction,
    },
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
    /// Classify stories (JSON lines on stdin); print enriched stories as JSON lines, or with
    /// --explain a human explanation (topics with evidence, entities with matched forms and
    /// salience, regions, severity reasons).
    Classify {
        /// Explain each classification instead of printing JSON.
        #[arg(long)]
        explain: bool,
    },
    /// Train a topic model on labelled stories (JSON lines: title, body|summary|content,
    /// label|labels) and write a versioned model file; use it with classifier.model_file.
    Train {
        /// Labelled stories, JSON lines.
        input: PathBuf,
        /// Where to write the model (JSON).
        #[arg(long, short)]
        output: PathBuf,
        /// Map an input label to a taxonomy topic id, e.g. business=economy (repeatable).
        #[arg(long = "label-map", value_parser = parse_pair)]
        label_map: Vec<(String, String)>,
        /// Passes over the data (1-100).
        #[arg(long, default_value_t = 10)]
        epochs: u32,
        /// Hash features into 2^N buckets (10-24).
        #[arg(long, default_value_t = 18)]
        hash_bits: u8,
        /// Shuffle seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Deduplicate stories: JSON lines on stdin → one verdict per line on stdout.
    Dedup,
    /// Search stored stories. QUERY: words are ANDed; "a phrase"; a OR b; -word excludes;
    /// word* is a prefix. Exit code 1 when nothing matches.
    Search {
        /// The query.
        query: String,
        /// Topic id filter.
        #[arg(long)]
        topic: Option<String>,
        /// Country (ISO 3166-1 alpha-2) filter.
        #[arg(long)]
        country: Option<String>,
        /// Entity id filter.
        #[arg(long)]
        entity: Option<String>,
        /// Source feed id filter.
        #[arg(long)]
        source: Option<String>,
        /// Language filter (ISO 639-1).
        #[arg(long)]
        language: Option<String>,
        /// Lowest severity (0-5).
        #[arg(long)]
        severity: Option<u8>,
        /// Lower time bound: RFC 3339, a date, or an age (24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// relevance (default) or time.
        #[arg(long)]
        sort: Option<String>,
        /// Most results (1-500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print the stored events as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Export stored stories, newest first, as JSON lines or CSV (progress on stderr for more
    /// than 1,000 stories).
    Export {
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl")]
        format: wirewatch_store::cli::ExportFormat,
        /// Only stories since: RFC 3339, a date, or an age (7d).
        #[arg(long)]
        since: Option<String>,
        /// Only stories matching this full-text query.
        #[arg(long)]
        query: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum FeedsAction {
    /// Add a feed by URL: a feed, or a web page whose feeds are discovered
    /// (<link rel="alternate">, then /feed, /rss.xml, /atom.xml …).
    Add {
        /// Feed or page URL.
        url: String,
        /// Feed id (default: from the URL).
        #[arg(long)]
        id: Option<String>,
        /// Display title (default: the feed's).
        #[arg(long)]
        title: Option<String>,
        /// Category (an OPML folder).
        #[arg(long)]
        category: Option<String>,
        /// Fixed poll interval in seconds (default: adaptive).
        #[arg(long)]
        interval_secs: Option<u64>,
        /// Add every feed the page announces, not just the first.
        #[arg(long)]
        all: bool,
    },
    /// Import an OPML file (folders become categories).
    Import {
        /// OPML file.
        file: PathBuf,
    },
    /// Export every feed as OPML 2.0 on stdout.
    Export,
    /// List feeds with health, last success, next poll and last error.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a feed added with `feeds add` / `feeds import`.
    Remove {
        /// Feed id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum SubsAction {
    /// List the subscriptions (from the file and the API) with their state.
    List,
    /// Backtest: run a query over stored stories and show what it would have alerted.
    Test {
        /// The query (the subscription query language).
        query: String,
        /// Stories since: RFC 3339, a date, or an age (24h, 7d).
        #[arg(long, default_value = "7d")]
        since: String,
        /// Cluster mode to simulate: once (default), update, every.
        #[arg(long, value_enum, default_value_t = ClusterArg::Once)]
        cluster: ClusterArg,
        /// Most matches printed (the counts cover all).
        #[arg(long, default_value_t = 50)]
        show: usize,
    },
}

/// `--cluster` of `subs test`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ClusterArg {
    /// Later stories of an alerted cluster are suppressed.
    Once,
    /// They send "+N sources" updates.
    Update,
    /// They alert like new stories.
    Every,
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

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .ok_or_else(|| format!("expected LABEL=TOPIC, got {s:?}"))
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
            Command::Feeds { action } => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                match action {
                    FeedsAction::Add {
                        url,
                        id,
                        title,
                        category,
                        interval_secs,
                        all,
                    } => {
                        tools::feeds_add(
                            &cfg,
                            &url,
                            id,
                            title,
                            category,
                            interval_secs,
                            all,
                            &mut out,
                        )
                        .await
                    }
                    FeedsAction::Import { file } => {
                        tools::feeds_import(&cfg, &file, &mut out).await
                    }
                    FeedsAction::Export => tools::feeds_export(&cfg, &mut out).await,
                    FeedsAction::List { json } => tools::feeds_list(&cfg, json, &mut out).await,
                    FeedsAction::Remove { id } => tools::feeds_remove(&cfg, &id, &mut out).await,
                }
            }
            Command::Subs { action } => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                match action {
                    SubsAction::List => tools::subs_list(&cfg, &mut out).await,
                    SubsAction::Test {
                        query,
                        since,
                        cluster,
                        show,
                    } => {
                        use wirewatch_alerter::subscription::ClusterMode;
                        let mode = match cluster {
                            ClusterArg::Once => ClusterMode::Once,
                            ClusterArg::Update => ClusterMode::Update,
                            ClusterArg::Every => ClusterMode::Every,
                        };
                        tools::subs_test(&cfg, &query, &since, mode, show, &mut out).await
                    }
                }
            }
            Command::Topics { action } => match action {
                TopicsAction::Create => tools::topics_create(&cfg).await,
                TopicsAction::List => tools::topics_list(&cfg),
            },
            Command::Inspect { source, format } => {
                tools::inspect(&cfg, &source, format == Format::Json).await
            }
            Command::Classify { explain } => Ok(wirewatch_classifier::classify_command(
                &cfg.classifier,
                explain,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
            )?),
            Command::Train {
                input,
                output,
                label_map,
                epochs,
                hash_bits,
                seed,
            } => {
                let mut opts = wirewatch_classifier::TrainOptions {
                    epochs,
                    seed,
                    ..Default::default()
                };
                opts.features.hash_bits = hash_bits;
                opts.label_map = label_map.into_iter().collect();
                Ok(wirewatch_classifier::train_command(
                    &cfg.classifier,
                    &input,
                    &output,
                    &opts,
                    &mut std::io::stdout().lock(),
                )?)
            }
            Command::Dedup => tools::dedup(&cfg),
            Command::Search {
                query,
                topic,
                country,
                entity,
                source,
                language,
                severity,
                since,
                sort,
                limit,
                json,
            } => {
                let args = wirewatch_store::cli::SearchArgs {
                    query,
                    topic,
                    country,
                    entity,
                    source,
                    language,
                    severity,
                    since,
                    sort,
                    limit,
                    json,
                };
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                Ok(
                    wirewatch_store::cli::search(&cfg.store, &cfg.data_dir, &args, &mut out)
                        .await?,
                )
            }
            Command::Export {
                format,
                since,
                query,
            } => {
                let args = wirewatch_store::cli::ExportArgs {
                    format,
                    since,
                    query,
                };
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                Ok(wirewatch_store::cli::export_with(
                    &cfg.store,
                    &cfg.data_dir,
                    &args,
                    &mut out,
                    wirewatch_store::cli::Progress::Stderr,
                )
                .await?)
            }
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
