//! Whole-pipeline throughput: N real news stories (the BBC corpus, ~2 KB each) published as raw
//! stories into the in-process bus and run through dedup → classifier → alerter + store
//! (SQLite) by the same `run_processor` loops as `wirewatch run`; reports stories/s until the
//! store holds them all. With `WIREWATCH_TEST_KAFKA` set it also measures the Kafka publisher
//! (acks=all, idempotent) one-at-a-time and with 256 publishes in flight.
//!
//! cargo bench -p wirewatch --bench pipeline            (N=20000; BENCH_STORIES to change)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use wirewatch_proto::v1::{FeedRef, RawStory};
use wirewatch_proto::Topic;
use wirewatch_runtime::bus::memory::MemoryBus;
use wirewatch_runtime::bus::{Record, SharedPublisher};
use wirewatch_runtime::config::BusConfig;
use wirewatch_runtime::stage::{run_processor, LoopOptions};
use wirewatch_runtime::CancellationToken;

fn corpus_stories(n: usize) -> Vec<RawStory> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/news/bbc-2225/bbc_news_2225.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("../shared/corpus beside the checkout");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (0..n)
        .map(|i| {
            let r = &rows[i % rows.len()];
            let round = i / rows.len();
            let id = format!("{}#{round}", r["id"].as_str().unwrap());
            RawStory {
                id: wirewatch_proto::stable_id(&["bench", &id]),
                feed: FeedRef {
                    id: format!("feed-{}", i % 50),
                    url: format!("http://bench/{}", i % 50),
                    title: None,
                },
                guid: Some(id.clone()),
                link: Some(format!("https://bench.example/{id}")),
                // Copies of the corpus beyond the first round differ by a suffix, so they are new
                // stories to exact dedup (measures the unique path).
                title: format!("{} {round}", r["title"].as_str().unwrap()),
                summary: None,
                content: Some(format!("{} {round}", r["body"].as_str().unwrap())),
                authors: vec![],
                categories: vec![],
                language: None,
                published: Some(Utc::now()),
                updated: None,
                fetched_at: Utc::now(),
                fetcher_version: "bench".into(),
                published_is_fetch_time: false,
            }
        })
        .collect()
}

async fn in_process(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let bus = MemoryBus::new("bench", 1024);
    let opts = LoopOptions {
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_secs(1),
        max_in_flight: 256,
    };
    let dedup_sub = bus.subscribe(&[Topic::StoriesRaw]);
    let class_sub = bus.subscribe(&[Topic::StoriesUnique]);
    let alert_sub = bus.subscribe(&[Topic::StoriesEnriched]);
    let store_sub = bus.subscribe(&wirewatch_store::STORE_TOPICS);
    let pubr = |s: &'static str| -> SharedPublisher { Arc::new(bus.publisher(s)) };

    let dedup = wirewatch_dedup::DedupStage::open(Default::default(), dir.path())
        .await
        .unwrap();
    let ccfg = wirewatch_classifier::ClassifierConfig::with_config_dir(format!("{root}config"));
    let classifier = wirewatch_classifier::ClassifierStage::new(
        wirewatch_classifier::Classifier::load(&ccfg).unwrap(),
    );
    let subs = dir.path().join("subs.toml");
    std::fs::write(&subs, format!("[[subscription]]\nid = \"b\"\nquery = \"topic:economy AND country:US\"\nsince = \"all\"\nfile = \"{}\"\n", dir.path().join("a.jsonl").display())).unwrap();
    let acfg = wirewatch_alerter::AlerterConfig {
        subscriptions_file: subs,
        ..Default::default()
    };
    let alerter = wirewatch_alerter::Alerter::open(&acfg, dir.path(), "bench")
        .await
        .unwrap();
    let store = wirewatch_store::Store::open(&Default::default(), dir.path())
        .await
        .unwrap();

    let stop = CancellationToken::new();
    let mut tasks = vec![
        tokio::spawn(run_processor(
            dedup,
            Box::new(dedup_sub),
            pubr("dedup"),
            opts.clone(),
            stop.clone(),
        )),
        tokio::spawn(run_processor(
            classifier,
            Box::new(class_sub),
            pubr("classifier"),
            opts.clone(),
            stop.clone(),
        )),
        {
            let (a, p, o, t) = (alerter.clone(), pubr("alerter"), opts.clone(), stop.clone());
            tokio::spawn(async move {
                a.run_worker(p, o, t).await;
                Ok(())
            })
        },
        tokio::spawn(run_processor(
            alerter,
            Box::new(alert_sub),
            pubr("alerter"),
            opts.clone(),
            stop.clone(),
        )),
    ];
    tasks.push(tokio::spawn(run_processor(
        wirewatch_store::StoreSink::new(store.clone()),
        Box::new(store_sub),
        pubr("store"),
        opts.clone(),
        stop.clone(),
    )));
    let stories = corpus_stories(n);
    let bytes: usize = stories.iter().map(|s| s.text().len()).sum();
    let source = pubr("fetcher");
    let start = Instant::now();
    let feeder = tokio::spawn(async move {
        for s in &stories {
            source
                .publish(Record::event(s, "bench").unwrap())
                .await
                .unwrap();
        }
    });
    loop {
        let st = store.stats().await.unwrap();
        if st.stories + st.duplicates >= n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    feeder.await.unwrap();
    stop.cancel();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    println!(
        "in-process pipeline: {n} stories ({:.1} KB avg) dedup→classifier→alerter+store(SQLite): {secs:.2} s, {:.0} stories/s",
        bytes as f64 / n as f64 / 1024.0,
        n as f64 / secs
    );
}

async fn kafka(bootstrap: &str, n: usize) {
    let mut cfg = BusConfig {
        topic_prefix: format!("bench{}", std::process::id()),
        ..Default::default()
    };
    cfg.kafka.bootstrap_servers = bootstrap.to_string();
    cfg.kafka.partitions = 3;
    wirewatch_runtime::bus::kafka::create_topics(&cfg)
        .await
        .unwrap();
    let p: SharedPublisher =
        Arc::new(wirewatch_runtime::bus::kafka::KafkaPublisher::new(&cfg, "bench").unwrap());
    let recs: Vec<Record> = corpus_stories(n)
        .iter()
        .map(|s| Record::event(s, "bench").unwrap())
        .collect();
    let seq_n = n.min(2000);
    let start = Instant::now();
    for r in recs.iter().take(seq_n) {
        p.publish(r.clone()).await.unwrap();
    }
    let seq = seq_n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    use futures::StreamExt;
    futures::stream::iter(recs.iter().cloned())
        .map(|r| {
            let p = p.clone();
            async move { p.publish(r).await }
        })
        .buffer_unordered(256)
        .for_each(|r| async move { r.unwrap() })
        .await;
    let conc = n as f64 / start.elapsed().as_secs_f64();
    println!("kafka publish (acks=all, idempotent, ~2 KB): one at a time {seq:.0} msg/s ({seq_n} msgs); 256 in flight {conc:.0} msg/s ({n} msgs)");
}

fn main() {
    let n: usize = std::env::var("BENCH_STORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        in_process(n).await;
        match std::env::var("WIREWATCH_TEST_KAFKA") {
            Ok(b) if !b.is_empty() => kafka(&b, n).await,
            _ => println!("kafka publish: skipped (set WIREWATCH_TEST_KAFKA=host:port; scripts/broker.sh start)"),
        }
    });
}
