//! Command-line tools over the store: `wirewatch search "<query>"` and `wirewatch export`.
//! The binary parses the arguments (clap) and calls [`search`] or [`export`] with the
//! `[store]` config; both open the database, so they work on SQLite files and PostgreSQL.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::config::StoreConfig;
use crate::db::Store;
use crate::error::StoreError;
use crate::query::{SearchParams, SearchQuery, MAX_LIMIT};

/// Arguments of `wirewatch search`.
#[derive(Debug, Clone, Default)]
pub struct SearchArgs {
    /// The query (`q` syntax: words ANDed, "phrases", OR, -exclude, prefix*).
    pub query: String,
    /// Topic id filter.
    pub topic: Option<String>,
    /// Country (alpha-2) filter.
    pub country: Option<String>,
    /// Entity id filter.
    pub entity: Option<String>,
    /// Source feed id filter.
    pub source: Option<String>,
    /// Language filter.
    pub language: Option<String>,
    /// Lowest severity.
    pub severity: Option<u8>,
    /// Lower time bound: RFC 3339, a date, or an age (`24h`, `7d`).
    pub since: Option<String>,
    /// `time` or `relevance` (default `relevance`).
    pub sort: Option<String>,
    /// Most results (1–500).
    pub limit: u32,
    /// Print one JSON event per line instead of a table.
    pub json: bool,
}

/// Output format of `wirewatch export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One stored event (JSON) per line.
    Jsonl,
    /// RFC 4180 CSV with a header: id, published, fetched_at, feed_id, title, link, language,
    /// severity, topics, countries, cluster_id (lists joined with `;`).
    Csv,
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" | "json" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            other => Err(format!("unknown format {other:?}: use jsonl or csv")),
        }
    }
}

/// Arguments of `wirewatch export`.
#[derive(Debug, Clone)]
pub struct ExportArgs {
    /// Output format.
    pub format: ExportFormat,
    /// Only stories at or after this time: RFC 3339, a date, or an age (`24h`, `7d`).
    pub since: Option<String>,
    /// Optional full-text query to export only matching stories.
    pub query: Option<String>,
}

/// Exports larger than this many stories report progress.
pub const PROGRESS_MIN_STORIES: u64 = 1_000;

fn out_err(what: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |source| StoreError::Output { what, source }
}

/// `wirewatch search "<query>"`: print matching stories (best match first by default), one
/// per line as `time  countries  title  link`, or JSON lines with `--json`. Exit code 0 when
/// something matched, 1 when nothing did (like grep). Fails on an invalid query or filter
/// ([`StoreError::InvalidParam`], naming it) or an unusable database.
pub async fn search(
    cfg: &StoreConfig,
    data_dir: &Path,
    args: &SearchArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, StoreError> {
    let params = SearchParams {
        q: Some(args.query.clone()),
        topic: args.topic.clone(),
        country: args.country.clone(),
        entity: args.entity.clone(),
        source: args.source.clone(),
        language: args.language.clone(),
        severity: args.severity.map(|s| s.to_string()),
        since: args.since.clone(),
        sort: Some(args.sort.clone().unwrap_or_else(|| "relevance".into())),
        limit: Some(args.limit.clamp(1, MAX_LIMIT).to_string()),
        ..SearchParams::default()
    };
    let q = SearchQuery::from_params(&params, chrono::Utc::now())?;
    let store = Store::open(cfg, data_dir).await?;
    let stories = store.search(&q).await;
    store.close().await;
    let stories = stories?;
    let w = out_err("search results");
    for s in &stories {
        if args.json {
            serde_json::to_writer(&mut *out, s).map_err(|e| w(e.into()))?;
            writeln!(out).map_err(&w)?;
        } else {
            writeln!(out, "{}", table_line(s)).map_err(&w)?;
        }
    }
    out.flush().map_err(&w)?;
    Ok(if stories.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn list(v: &Value, key: &str, field: Option<&str>) -> String {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| match field {
                    Some(f) => x.get(f).and_then(Value::as_str),
                    None => x.as_str(),
                })
                .collect::<Vec<_>>()
                .join(";")
        })
        .unwrap_or_default()
}

fn table_line(s: &Value) -> String {
    let when = match text(s, "published") {
        "" => text(s, "fetched_at"),
        p => p,
    };
    let when: String = when.chars().take(16).collect::<String>().replace('T', " ");
    let title: String = text(s, "title")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "{when}  {:<8}  {title}  {}",
        list(s, "countries", None),
        text(s, "link")
    )
}

/// One CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV header of [`export`].
pub const CSV_HEADER: &str =
    "id,published,fetched_at,feed_id,title,link,language,severity,topics,countries,cluster_id";

/// One story as a CSV record (no line ending).
pub fn csv_record(s: &Value) -> String {
    let language = match text(s, "detected_language") {
        "" => text(s, "language"),
        l => l,
    };
    let severity = s
        .get("severity")
        .and_then(Value::as_u64)
        .map(|n| n.to_string())
        .unwrap_or_default();
    let feed_id = s
        .get("feed")
        .map(|f| text(f, "id").to_string())
        .unwrap_or_default();
    [
        text(s, "id").to_string(),
        text(s, "published").to_string(),
        text(s, "fetched_at").to_string(),
        feed_id,
        text(s, "title").to_string(),
        text(s, "link").to_string(),
        language.to_string(),
        severity,
        list(s, "topics", Some("id")),
        list(s, "countries", None),
        text(s, "cluster_id").to_string(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

/// How [`export_with`] reports progress on exports of more than [`PROGRESS_MIN_STORIES`]
/// stories (the total is counted up front: one count query, cheap next to the export).
pub enum Progress<'a> {
    /// An indicatif progress bar (count, rate, time left) on stderr when stderr is a
    /// terminal; nothing otherwise, so pipes and log files get no control characters.
    Stderr,
    /// This bar, whatever its draw target (an embedding program's, or a hidden one in tests).
    /// Its length is set to the total and its position follows the stories written.
    Bar(ProgressBar),
    /// `\rexported n/total stories (p%)` text to this writer at every new percent.
    Text(&'a mut dyn Write),
}

/// `wirewatch export --format jsonl|csv [--since T] [--query Q]` with text progress written
/// to `progress` ([`Progress::Text`]); see [`export_with`].
pub async fn export(
    cfg: &StoreConfig,
    data_dir: &Path,
    args: &ExportArgs,
    out: &mut dyn Write,
    progress: &mut dyn Write,
) -> Result<ExitCode, StoreError> {
    export_with(cfg, data_dir, args, out, Progress::Text(progress)).await
}

/// `wirewatch export --format jsonl|csv [--since T] [--query Q]`: write every stored story
/// (newest first) to `out`, paging through the database with a cursor so memory stays
/// bounded, and report progress as `progress` says when more than [`PROGRESS_MIN_STORIES`]
/// stories match. Returns success, or an error for an invalid `since`/`query`, an unusable
/// database or a failed write.
pub async fn export_with(
    cfg: &StoreConfig,
    data_dir: &Path,
    args: &ExportArgs,
    out: &mut dyn Write,
    progress: Progress<'_>,
) -> Result<ExitCode, StoreError> {
    let params = SearchParams {
        q: args.query.clone(),
        since: args.since.clone(),
        limit: Some(MAX_LIMIT.to_string()),
        ..SearchParams::default()
    };
    let mut q = SearchQuery::from_params(&params, chrono::Utc::now())?;
    let store = Store::open(cfg, data_dir).await?;
    let r = export_from(&store, &mut q, args.format, out, progress).await;
    store.close().await;
    r
}

/// Where progress goes during one export.
enum Reporter<'a> {
    Off,
    Bar(ProgressBar),
    Text {
        w: &'a mut dyn Write,
        total: u64,
        last_pct: u64,
    },
}

impl<'a> Reporter<'a> {
    fn new(progress: Progress<'a>, total: u64) -> Self {
        if total <= PROGRESS_MIN_STORIES {
            return Reporter::Off;
        }
        match progress {
            Progress::Stderr if std::io::stderr().is_terminal() => {
                Reporter::Bar(styled(ProgressBar::new(total)))
            }
            Progress::Stderr => Reporter::Off,
            Progress::Bar(pb) => {
                pb.set_length(total);
                pb.set_position(0);
                Reporter::Bar(pb)
            }
            Progress::Text(w) => Reporter::Text {
                w,
                total,
                last_pct: u64::MAX,
            },
        }
    }

    /// `done` stories written so far.
    fn update(&mut self, done: u64) {
        match self {
            Reporter::Off => {}
            Reporter::Bar(pb) => {
                // Stories stored during the export can take it past the count.
                if pb.length().is_some_and(|len| done > len) {
                    pb.set_length(done);
                }
                pb.set_position(done);
            }
            Reporter::Text { w, total, last_pct } => {
                let pct = done * 100 / (*total).max(1);
                if pct != *last_pct {
                    *last_pct = pct;
                    // Progress is best effort: a closed stderr must not fail the export.
                    let _ = write!(w, "\rexported {done}/{total} stories ({pct}%)");
                    let _ = w.flush();
                }
            }
        }
    }

    fn finish(self) {
        match self {
            Reporter::Off => {}
            Reporter::Bar(pb) => pb.finish(),
            Reporter::Text { w, .. } => {
                let _ = writeln!(w);
            }
        }
    }
}

/// The export bar's look: elapsed time, bar, count, rate, time left.
fn styled(pb: ProgressBar) -> ProgressBar {
    match ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} stories ({percent}%, {per_sec}, {eta} left)",
    ) {
        Ok(style) => pb.with_style(style.progress_chars("=> ")),
        // A template error is a bug here, not a reason to fail an export.
        Err(_) => pb,
    }
}

async fn export_from(
    store: &Store,
    q: &mut SearchQuery,
    format: ExportFormat,
    out: &mut dyn Write,
    progress: Progress<'_>,
) -> Result<ExitCode, StoreError> {
    let w = out_err("export");
    let total = store.count(q).await?;
    let mut reporter = Reporter::new(progress, total);
    if format == ExportFormat::Csv {
        writeln!(out, "{CSV_HEADER}").map_err(&w)?;
    }
    let mut done: u64 = 0;
    loop {
        let page = store.search_page(q).await?;
        for s in &page.stories {
            match format {
                ExportFormat::Jsonl => {
                    serde_json::to_writer(&mut *out, s).map_err(|e| w(e.into()))?;
                    writeln!(out).map_err(&w)?;
                }
                ExportFormat::Csv => writeln!(out, "{}", csv_record(s)).map_err(&w)?,
            }
        }
        done += page.stories.len() as u64;
        reporter.update(done);
        match page.next_cursor {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    reporter.finish();
    out.flush().map_err(&w)?;
    tracing::info!(stories = done, "export finished");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        let v = serde_json::json!({
            "id": "s1", "title": "Talks, again", "feed": {"id": "f1"},
            "topics": [{"id": "diplomacy"}, {"id": "conflict"}],
            "countries": ["TR", "UA"], "severity": 3, "language": "en",
        });
        assert_eq!(
            csv_record(&v),
            "s1,,,f1,\"Talks, again\",,en,3,diplomacy;conflict,TR;UA,"
        );
        assert_eq!(
            CSV_HEADER.split(',').count(),
            csv_record(&v).split(',').count() - 1
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!("csv".parse::<ExportFormat>(), Ok(ExportFormat::Csv));
        assert_eq!("jsonl".parse::<ExportFormat>(), Ok(ExportFormat::Jsonl));
        assert!("xml".parse::<ExportFormat>().is_err());
    }
}
