//! Store benchmark (a plain binary, `harness = false`): ingest rate through [`Store`] against
//! a raw batched insert of the same rows into the same schema in the same database, search
//! latency at a large row count, and database size per story. Results go to
//! docs/bench/store.md.
//!
//! ```text
//! WIREWATCH_BENCH_POSTGRES="$(scripts/postgres.sh start)" \
//! WIREWATCH_BENCH_INGEST_ROWS=20000 WIREWATCH_BENCH_SEARCH_ROWS=1000000 \
//!   cargo bench -p wirewatch-store --bench store
//! ```
//!
//! Without `WIREWATCH_BENCH_POSTGRES` only SQLite runs. `WIREWATCH_BENCH_BACKENDS=sqlite` or
//! `postgres` picks one.
//!
//! `WIREWATCH_BENCH_KEEP_DB=<dir>` keeps the filled databases between runs (SQLite:
//! `<dir>/store.db`; PostgreSQL: database `wwbench_keep` on the server): a database that
//! already holds at least `WIREWATCH_BENCH_SEARCH_ROWS` stories skips the ingest rounds and
//! the fill, and only the search and size measurements run. The fill is setup, not the
//! measured ingest: on PostgreSQL it uses `COPY` with the full-text GIN index dropped and
//! rebuilt afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use sqlx::QueryBuilder;
use wirewatch_proto::v1::{EnrichedStory, Entity, EntityKind, FeedRef, RawStory, TopicMatch};
use wirewatch_store::{BackendKind, SearchQuery, Store, StoreConfig};

/// Deterministic xorshift64* generator (no dependency, same data every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A Zipf(1) vocabulary of pseudo-words, sampled through its cumulative distribution.
struct Vocab {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocab {
    fn new(n: usize, rng: &mut Rng) -> Self {
        const SYL: [&str; 24] = [
            "ka", "lo", "mi", "ran", "te", "vo", "su", "del", "pa", "ri", "na", "gor", "el", "bu",
            "zan", "ti", "ko", "mar", "is", "ul", "fe", "dra", "no", "sha",
        ];
        let mut words = Vec::with_capacity(n);
        let mut seen = std::collections::HashSet::new();
        while words.len() < n {
            let k = 2 + rng.below(3);
            let w: String = (0..k).map(|_| SYL[rng.below(SYL.len())]).collect();
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in 1..=n {
            acc += 1.0 / r as f64;
            cdf.push(acc);
        }
        let total = acc;
        for c in &mut cdf {
            *c /= total;
        }
        Vocab { words, cdf }
    }

    fn sample(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        let i = self
            .cdf
            .partition_point(|&c| c < u)
            .min(self.words.len() - 1);
        &self.words[i]
    }

    fn text(&self, rng: &mut Rng, n: usize) -> String {
        let mut s = String::with_capacity(n * 7);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.sample(rng));
        }
        s
    }
}

const COUNTRIES: [&str; 40] = [
    "UA", "RU", "US", "CN", "TR", "IL", "DE", "FR", "GB", "IR", "SY", "IN", "PK", "JP", "KR", "BR",
    "MX", "ZA", "NG", "EG", "SA", "PL", "IT", "ES", "CA", "AU", "AF", "IQ", "LB", "YE", "SD", "ET",
    "KE", "VE", "CO", "AR", "TW", "PH", "ID", "VN",
];
const TOPICS: [&str; 12] = [
    "conflict",
    "diplomacy",
    "economy",
    "energy",
    "health",
    "disaster",
    "elections",
    "crime",
    "climate",
    "technology",
    "migration",
    "sports",
];

fn country(rng: &mut Rng) -> String {
    // Skewed: the first countries are mentioned far more often.
    let u = rng.unit();
    COUNTRIES[((u * u) * COUNTRIES.len() as f64) as usize % COUNTRIES.len()].to_string()
}

/// A ~2 KB enriched story (serialised JSON), deterministic in `i`.
fn make_story(i: u64, prefix: &str, vocab: &Vocab, rng: &mut Rng) -> EnrichedStory {
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let published = t0 + TimeDelta::seconds((rng.next() % (365 * 86_400)) as i64);
    let mut countries = vec![country(rng)];
    for _ in 0..rng.below(3) {
        let c = country(rng);
        if !countries.contains(&c) {
            countries.push(c);
        }
    }
    let topic = TOPICS[rng.below(TOPICS.len())];
    let id = format!("{prefix}{i:016x}");
    EnrichedStory {
        story: RawStory {
            id: id.clone(),
            feed: FeedRef {
                id: format!("feed-{}", rng.below(200)),
                url: "https://news.example.org/rss.xml".into(),
                title: Some("Example News".into()),
            },
            guid: Some(format!("guid-{id}")),
            link: Some(format!("https://news.example.org/articles/{id}")),
            title: vocab.text(rng, 9),
            summary: Some(vocab.text(rng, 35)),
            content: Some(vocab.text(rng, 170)),
            authors: vec!["Staff reporter".into()],
            categories: vec![],
            language: Some("en".into()),
            published: Some(published),
            updated: None,
            fetched_at: published + TimeDelta::minutes(3),
            fetcher_version: "bench".into(),
            published_is_fetch_time: false,
        },
        cluster_id: id.clone(),
        topics: vec![TopicMatch {
            id: topic.into(),
            label: topic.into(),
            score: 0.7,
            iptc: "medtop:16000000".into(),
            iptc_top: "medtop:16000000".into(),
            evidence: vec![],
        }],
        countries: countries.clone(),
        entities: countries
            .iter()
            .map(|c| Entity {
                kind: EntityKind::Country,
                id: c.clone(),
                name: c.clone(),
                mentions: 1,
                matched: vec![],
                salience: None,
            })
            .collect(),
        detected_language: Some("en".into()),
        language_confidence: Some(0.99),
        regions: vec![],
        severity: Some((rng.below(6)) as u8),
        classified_at: published + TimeDelta::minutes(4),
        classifier_version: "bench".into(),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The columns of a `stories` row and its side rows, as the store writes them.
struct RawRow {
    cols: Vec<Option<String>>,
    severity: Option<i64>,
    id: String,
    topics: Vec<(String, f64)>,
    countries: Vec<String>,
    entities: Vec<String>,
}

fn raw_row(s: &EnrichedStory) -> RawRow {
    let published = s.story.published.map(ts);
    let fetched = ts(s.story.fetched_at);
    RawRow {
        id: s.story.id.clone(),
        cols: vec![
            Some(s.story.id.clone()),
            Some(s.cluster_id.clone()),
            Some(s.story.feed.id.clone()),
            Some(s.story.feed.url.clone()),
            Some(s.story.title.clone()),
            s.story.link.clone(),
            s.story.summary.clone(),
            s.story.content.clone(),
            s.detected_language.clone(),
            published.clone(),
            Some(fetched.clone()),
            Some(ts(s.classified_at)),
            Some(published.unwrap_or(fetched)),
            Some(serde_json::to_string(&s.topics).unwrap()),
            Some(serde_json::to_string(&s.countries).unwrap()),
            Some(serde_json::to_string(&s.entities).unwrap()),
            Some(serde_json::to_string(s).unwrap()),
            Some(ts(Utc::now())),
        ],
        severity: s.severity.map(i64::from),
        topics: s.topics.iter().map(|t| (t.id.clone(), t.score)).collect(),
        countries: s.countries.clone(),
        entities: s.entities.iter().map(|e| e.id.clone()).collect(),
    }
}

const STORY_COLS: &str = "INSERT INTO stories (id, cluster_id, feed_id, feed_url, title, link, \
    summary, content, language, published, fetched_at, classified_at, sort_at, topics, \
    countries, entities, raw, stored_at, severity) ";

/// The raw baseline: multi-row INSERTs of the prepared rows (stories, then side tables), one
/// transaction per `batch` rows, no conflict handling. Each transaction inserts its rows
/// oldest first, as `Store::upsert_stories` does (SQLite's full-text rowids then rise within
/// a transaction, see migrations/sqlite/0003).
async fn raw_insert(store: &Store, rows: &[RawRow], batch: usize) {
    let mut sorted: Vec<&RawRow> = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch) {
        let start = sorted.len();
        sorted.extend(chunk);
        sorted[start..].sort_by(|a, b| a.cols[12].cmp(&b.cols[12]));
    }
    let rows = &sorted[..];
    macro_rules! run {
        ($p:expr) => {{
            for chunk in rows.chunks(batch) {
                let mut tx = $p.begin().await.unwrap();
                // 19 parameters a row: 250 rows a statement (as the store does) stays under every
                // bind limit.
                for part in chunk.chunks(250) {
                    let mut qb = QueryBuilder::new(STORY_COLS);
                    qb.push_values(part, |mut b, r| {
                        for c in &r.cols {
                            b.push_bind(c.clone());
                        }
                        b.push_bind(r.severity);
                    });
                    qb.build().execute(&mut *tx).await.unwrap();
                    let mut qb =
                        QueryBuilder::new("INSERT INTO story_topics (story_id, topic, score) ");
                    qb.push_values(
                        part.iter()
                            .flat_map(|r| r.topics.iter().map(move |t| (r, t))),
                        |mut b, (r, t)| {
                            b.push_bind(r.id.clone())
                                .push_bind(t.0.clone())
                                .push_bind(t.1);
                        },
                    );
                    qb.build().execute(&mut *tx).await.unwrap();
                    for table in [
                        "story_countries (story_id, country)",
                        "story_entities (story_id, entity)",
                    ] {
                        let mut qb = QueryBuilder::new(format!("INSERT INTO {table} "));
                        let list = |r: &'_ RawRow| {
                            if table.starts_with("story_c") {
                                r.countries.clone()
                            } else {
                                r.entities.clone()
                            }
                        };
                        qb.push_values(
                            part.iter()
                                .flat_map(|r| list(r).into_iter().map(move |v| (r.id.clone(), v))),
                            |mut b, (id, v)| {
                                b.push_bind(id).push_bind(v);
                            },
                        );
                        qb.build().execute(&mut *tx).await.unwrap();
                    }
                }
                tx.commit().await.unwrap();
            }
        }};
    }
    if let Some(p) = store.sqlite_pool() {
        run!(p)
    } else if let Some(p) = store.pg_pool() {
        run!(p)
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn db_bytes(store: &Store) -> u64 {
    if let Some(p) = store.sqlite_pool() {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(p)
            .await
            .unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(p)
            .await
            .unwrap();
        // Pages freed by a migration (the old full-text index) stay in the file until a
        // VACUUM; they are not the size of the data.
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(p)
            .await
            .unwrap();
        if free > 0 {
            println!("(SQLite file: {pages} pages, {free} of them free; size counts the rest)");
        }
        let pages = pages - free;
        let size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(p)
            .await
            .unwrap();
        (pages * size) as u64
    } else if let Some(p) = store.pg_pool() {
        sqlx::query("VACUUM ANALYZE").execute(p).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(p)
            .await
            .unwrap();
        n as u64
    } else {
        0
    }
}

/// A fresh PostgreSQL database on the server at `base`, or the kept one (`wwbench_keep`,
/// created when missing) when `keep` is set.
async fn pg_database(base: &str, keep: bool) -> String {
    use sqlx::Connection;
    let name = if keep {
        "wwbench_keep".to_string()
    } else {
        format!("wwbench_{}", Utc::now().timestamp_micros())
    };
    let mut c = sqlx::PgConnection::connect(base).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut c)
            .await
            .unwrap();
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let (head, _) = base.split('?').next().unwrap().rsplit_once('/').unwrap();
    format!("{head}/{name}")
}

/// One field of PostgreSQL's COPY text format.
fn copy_field(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("\\N"),
        Some(v) => {
            for ch in v.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
        }
    }
}

/// COPY rows into `table (cols)` in one statement.
async fn copy_rows(
    conn: &mut sqlx::PgConnection,
    table: &str,
    rows: impl Iterator<Item = Vec<Option<String>>>,
) {
    let mut buf = String::new();
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                buf.push('\t');
            }
            copy_field(&mut buf, v.as_deref());
        }
        buf.push('\n');
    }
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} FROM STDIN"))
        .await
        .unwrap();
    copy.send(buf.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
}

/// The fill on PostgreSQL: COPY into `stories` and the side tables, one transaction.
async fn pg_copy_fill(pool: &sqlx::PgPool, rows: &[RawRow]) {
    let mut tx = pool.begin().await.unwrap();
    let cols = STORY_COLS
        .trim_start_matches("INSERT INTO ")
        .trim_end()
        .to_string();
    copy_rows(
        &mut tx,
        &cols,
        rows.iter().map(|r| {
            let mut v = r.cols.clone();
            v.push(r.severity.map(|n| n.to_string()));
            v
        }),
    )
    .await;
    copy_rows(
        &mut tx,
        "story_topics (story_id, topic, score)",
        rows.iter().flat_map(|r| {
            r.topics
                .iter()
                .map(|(t, sc)| vec![Some(r.id.clone()), Some(t.clone()), Some(sc.to_string())])
        }),
    )
    .await;
    for (table, countries) in [
        ("story_countries (story_id, country)", true),
        ("story_entities (story_id, entity)", false),
    ] {
        copy_rows(
            &mut tx,
            table,
            rows.iter().flat_map(|r| {
                let list = if countries { &r.countries } else { &r.entities };
                list.iter()
                    .map(|v| vec![Some(r.id.clone()), Some(v.clone())])
            }),
        )
        .await;
    }
    tx.commit().await.unwrap();
}

async fn bench(
    kind: BackendKind,
    pg_base: Option<&str>,
    keep: Option<&std::path::Path>,
    ingest_rows: u64,
    search_rows: u64,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = match keep {
        Some(k) => {
            std::fs::create_dir_all(k).unwrap();
            k.to_path_buf()
        }
        None => tmp.path().to_path_buf(),
    };
    let cfg = match kind {
        BackendKind::Sqlite => StoreConfig::default(),
        BackendKind::Postgres => StoreConfig {
            url: Some(pg_database(pg_base.unwrap(), keep.is_some()).await),
            ..StoreConfig::default()
        },
    };
    let opened = Instant::now();
    let store = Store::open(&cfg, &dir).await.unwrap();
    let batch = cfg.batch_max_rows;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let vocab = Vocab::new(20_000, &mut rng);
    println!("\n## {} (batch {batch} rows)", kind.as_str());
    let stored = store.stats().await.unwrap().stories;
    let reuse = stored > 0 && stored >= search_rows;
    if reuse {
        println!(
            "reusing the kept database: {stored} stories (open + migrations {:.1} s); \
             ingest and fill skipped",
            opened.elapsed().as_secs_f64()
        );
    } else if stored > 0 {
        panic!("the kept database holds {stored} stories, fewer than the {search_rows} asked for: delete it");
    }

    // Ingest: ABBA rounds (raw, store, store, raw) so neither side always meets the bigger
    // table.
    let quarter = if reuse { 0 } else { ingest_rows / 4 };
    let mut t_store = Duration::ZERO;
    let mut t_raw = Duration::ZERO;
    let mut bytes = 0usize;
    let mut next = 0u64;
    for (round, raw) in [true, false, false, true].into_iter().enumerate() {
        if quarter == 0 {
            break;
        }
        let stories: Vec<EnrichedStory> = (next..next + quarter)
            .map(|i| make_story(i, if raw { "r" } else { "s" }, &vocab, &mut rng))
            .collect();
        next += quarter;
        bytes += stories
            .iter()
            .map(|s| serde_json::to_vec(s).unwrap().len())
            .sum::<usize>();
        let t = Instant::now();
        if raw {
            let rows: Vec<RawRow> = stories.iter().map(raw_row).collect();
            let t = Instant::now();
            raw_insert(&store, &rows, batch).await;
            t_raw += t.elapsed();
        } else {
            store.upsert_stories(&stories).await.unwrap();
            t_store += t.elapsed();
        }
        eprintln!(
            "ingest round {round} ({}): {:.0} stories/s",
            if raw { "raw" } else { "store" },
            quarter as f64 / t.elapsed().as_secs_f64()
        );
    }
    if quarter > 0 {
        let half = (quarter * 2) as f64;
        let store_rate = half / t_store.as_secs_f64();
        let raw_rate = half / t_raw.as_secs_f64();
        println!(
            "ingest: {} stories each way, mean event JSON {} bytes",
            quarter * 2,
            bytes / (quarter * 4) as usize
        );
        println!("- store (upsert_stories): {store_rate:.0} stories/s");
        println!("- raw batched INSERT:     {raw_rate:.0} stories/s");
        println!("- ratio store/raw:        {:.2}", store_rate / raw_rate);
    }

    // Fill up for the search benchmark (setup, not measured): the raw path on SQLite; COPY
    // with the GIN index rebuilt at the end on PostgreSQL.
    let fill_start = Instant::now();
    let mut have = if reuse { search_rows } else { quarter * 4 };
    let pg_fill = store.pg_pool().filter(|_| search_rows > have + 100_000);
    if let Some(p) = pg_fill {
        sqlx::query("DROP INDEX stories_tsv")
            .execute(p)
            .await
            .unwrap();
    }
    while have < search_rows {
        let n = (search_rows - have).min(20_000);
        let rows: Vec<RawRow> = (have..have + n)
            .map(|i| raw_row(&make_story(i, "f", &vocab, &mut rng)))
            .collect();
        match pg_fill {
            Some(p) => pg_copy_fill(p, &rows).await,
            None => raw_insert(&store, &rows, 5_000).await,
        }
        have += n;
        if have.is_multiple_of(100_000) {
            eprintln!("filled {have} ({:.0}s)", fill_start.elapsed().as_secs_f64());
        }
    }
    if let Some(p) = pg_fill {
        let t = Instant::now();
        sqlx::raw_sql(
            "SET maintenance_work_mem = '1GB'; \
             CREATE INDEX stories_tsv ON stories USING GIN (tsv); \
             RESET maintenance_work_mem",
        )
        .execute(p)
        .await
        .unwrap();
        eprintln!("GIN index rebuilt in {:.0}s", t.elapsed().as_secs_f64());
    }
    if !reuse && search_rows > 0 {
        println!(
            "fill to {have} stories: {:.0} s",
            fill_start.elapsed().as_secs_f64()
        );
    }
    let stats = store.stats().await.unwrap();
    let size = db_bytes(&store).await;
    println!(
        "size: {} stories, {:.1} MiB, {:.0} bytes/story",
        stats.stories,
        size as f64 / 1048576.0,
        size as f64 / stats.stories as f64
    );

    // Search: two words of middling frequency (ranks 100..1500) and a country, newest
    // first, 50 per page, as `GET /api/stories?q=a+b&country=C` does (page + total).
    let mut qrng = Rng(42);
    let mut page_t = Vec::new();
    let mut count_t = Vec::new();
    let mut api_t = Vec::new();
    let mut joined_t = Vec::new();
    let mut hits = 0u64;
    let mut max_hits = 0u64;
    for i in 0..220 {
        let a = &vocab.words[100 + qrng.below(1400)];
        let b = &vocab.words[100 + qrng.below(1400)];
        let q = SearchQuery {
            text: Some(format!("{a} {b}")),
            country: Some(COUNTRIES[qrng.below(8)].into()),
            limit: 50,
            ..SearchQuery::default()
        };
        let t = Instant::now();
        let page = store.search_page(&q).await.unwrap();
        let t_page = t.elapsed();
        let t = Instant::now();
        let total = store.count(&q).await.unwrap();
        let t_count = t.elapsed();
        assert!(page.stories.len() as u64 <= total);
        // The page and the count on two connections at once (what the API could do).
        let t = Instant::now();
        let (page2, total2) = tokio::try_join!(store.search_page(&q), store.count(&q)).unwrap();
        let t_joined = t.elapsed();
        assert_eq!((page2, total2), (page, total), "same answer concurrently");
        if i >= 20 {
            // The first 20 warm the cache.
            page_t.push(t_page);
            count_t.push(t_count);
            api_t.push(t_page + t_count);
            joined_t.push(t_joined);
            hits += total;
            max_hits = max_hits.max(total);
        }
    }
    page_t.sort();
    count_t.sort();
    api_t.sort();
    joined_t.sort();
    println!(
        "search at {} stories, `q=<w1> <w2>&country=<CC>`, 200 queries, mean {} matches (max {max_hits}):",
        stats.stories,
        hits / 200
    );
    for (what, t) in [
        ("page (50 newest)", &page_t),
        ("total count", &count_t),
        ("page + total count (the API)", &api_t),
        ("page and count concurrently", &joined_t),
    ] {
        println!(
            "- {what}: p50 {}, p95 {}, max {}",
            ms(pct(t, 0.5)),
            ms(pct(t, 0.95)),
            ms(pct(t, 1.0))
        );
    }
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env_u64 = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let ingest = env_u64("WIREWATCH_BENCH_INGEST_ROWS", 20_000);
    let search = env_u64("WIREWATCH_BENCH_SEARCH_ROWS", 200_000);
    let only = std::env::var("WIREWATCH_BENCH_BACKENDS").unwrap_or_default();
    let pg = std::env::var("WIREWATCH_BENCH_POSTGRES").ok();
    let keep = std::env::var_os("WIREWATCH_BENCH_KEEP_DB").map(std::path::PathBuf::from);
    println!("# wirewatch-store bench: ingest {ingest} rows, search at {search} rows");
    if only.is_empty() || only.contains("sqlite") {
        bench(BackendKind::Sqlite, None, keep.as_deref(), ingest, search).await;
    }
    if only.is_empty() || only.contains("postgres") {
        match pg.as_deref() {
            Some(url) => {
                bench(
                    BackendKind::Postgres,
                    Some(url),
                    keep.as_deref(),
                    ingest,
                    search,
                )
                .await
            }
            None => println!("\n(postgres skipped: set WIREWATCH_BENCH_POSTGRES)"),
        }
    }
}
