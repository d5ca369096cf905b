//! Topic accuracy on the BBC news set (2,225 articles, 5 labels; research use only, read from
//! `../shared/corpus`, never shipped): the rules alone, the model under k-fold
//! cross-validation, and rules + model combined, with per-class precision, recall and F1.
//!
//! ```text
//! cargo run --release -p wirewatch-classifier --example bbc_cv -- [path.jsonl] [folds]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use wirewatch_classifier::model::{Example, Model, TrainOptions};
use wirewatch_classifier::{Classifier, ClassifierConfig};
use wirewatch_proto::v1::{FeedRef, RawStory};

/// BBC label → taxonomy topic id.
const MAP: [(&str, &str); 5] = [
    ("business", "economy"),
    ("entertainment", "arts"),
    ("politics", "politics"),
    ("sport", "sport"),
    ("tech", "science"),
];

fn story(title: &str, body: &str) -> RawStory {
    RawStory {
        id: "bbc".into(),
        feed: FeedRef {
            id: "bbc".into(),
            url: String::new(),
            title: None,
        },
        guid: None,
        link: None,
        title: title.into(),
        summary: None,
        content: Some(body.into()),
        authors: vec![],
        categories: vec![],
        language: None,
        published: None,
        updated: None,
        fetched_at: chrono::Utc::now(),
        fetcher_version: String::new(),
        published_is_fetch_time: false,
    }
}

/// The taxonomy id of the top-level topic of the best topic, if it is one of the five.
fn top_label(c: &Classifier, e: &Example) -> String {
    let enriched = c.classify(story(&e.title, &e.body), "c".into());
    let top = enriched.topics.first().map(|t| t.iptc_top.clone());
    let by_iptc = [
        ("medtop:04000000", "economy"),
        ("medtop:01000000", "arts"),
        ("medtop:11000000", "politics"),
        ("medtop:15000000", "sport"),
        ("medtop:13000000", "science"),
    ];
    top.and_then(|t| {
        by_iptc
            .iter()
            .find(|(i, _)| *i == t)
            .map(|(_, l)| l.to_string())
    })
    .unwrap_or_else(|| "other".into())
}

struct Scores {
    gold: Vec<String>,
    pred: Vec<String>,
}

impl Scores {
    fn report(&self, name: &str) {
        let n = self.gold.len();
        let correct = self
            .gold
            .iter()
            .zip(&self.pred)
            .filter(|(g, p)| g == p)
            .count();
        println!(
            "\n{name}: accuracy {:.4} ({correct}/{n})",
            correct as f64 / n as f64
        );
        println!("| class | precision | recall | F1 |\n|---|---|---|---|");
        let mut f1s = Vec::new();
        for (bbc, id) in MAP {
            let tp = self
                .gold
                .iter()
                .zip(&self.pred)
                .filter(|(g, p)| *g == id && *p == id)
                .count() as f64;
            let pp = self.pred.iter().filter(|p| *p == id).count() as f64;
            let gp = self.gold.iter().filter(|g| *g == id).count() as f64;
            let (p, r) = (tp / pp.max(1.0), tp / gp.max(1.0));
            let f1 = if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            };
            f1s.push(f1);
            println!("| {bbc} ({id}) | {p:.3} | {r:.3} | {f1:.3} |");
        }
        println!(
            "| macro F1 | | | {:.3} |",
            f1s.iter().sum::<f64>() / f1s.len() as f64
        );
    }
}

fn main() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/corpus/news/bbc-2225/bbc_news_2225.jsonl"));
    let folds: usize = args.get(2).map_or(5, |s| s.parse().expect("folds"));
    let map: BTreeMap<String, String> = MAP
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let examples = wirewatch_classifier::model::read_examples(&path, &map).expect("read");
    let cfg = ClassifierConfig::with_config_dir(root.join("config"));
    let rules = Classifier::load(&cfg).expect("rules");
    println!("{} examples, {folds}-fold cross-validation", examples.len());

    let t = Instant::now();
    let gold: Vec<String> = examples.iter().map(|e| e.labels[0].clone()).collect();
    let pred: Vec<String> = examples.iter().map(|e| top_label(&rules, e)).collect();
    Scores {
        gold: gold.clone(),
        pred,
    }
    .report("rules alone (no training; whole set)");
    println!("({:.1} s)", t.elapsed().as_secs_f64());

    // Deterministic shuffle, then fold = position mod k.
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let opts = TrainOptions {
        label_map: map.clone(),
        ..TrainOptions::default()
    };
    let weights = [0.3, 0.5, 0.7];
    let mut model_pred = vec![String::new(); examples.len()];
    let mut combined_pred = vec![vec![String::new(); examples.len()]; weights.len()];
    let t = Instant::now();
    for f in 0..folds {
        let test: Vec<usize> = (0..order.len())
            .filter(|pos| pos % folds == f)
            .map(|pos| order[pos])
            .collect();
        let train: Vec<Example> = (0..order.len())
            .filter(|pos| pos % folds != f)
            .map(|pos| examples[order[pos]].clone())
            .collect();
        let model = Model::fit(&train, &opts).expect("fit");
        for &i in &test {
            let p = model.predict(&examples[i].title, &examples[i].body);
            let best = wirewatch_classifier::model::argmax(&p).unwrap();
            model_pred[i] = model.labels()[best].clone();
        }
        for (w, weight) in weights.iter().enumerate() {
            let both = Classifier::load(&cfg)
                .unwrap()
                .with_model(model.clone(), *weight)
                .unwrap();
            for &i in &test {
                combined_pred[w][i] = top_label(&both, &examples[i]);
            }
        }
        eprintln!("fold {} done ({:.1} s)", f + 1, t.elapsed().as_secs_f64());
    }
    Scores {
        gold: gold.clone(),
        pred: model_pred,
    }
    .report(&format!("model alone ({folds}-fold CV)"));
    for (w, pred) in weights.iter().zip(combined_pred) {
        Scores {
            gold: gold.clone(),
            pred,
        }
        .report(&format!(
            "rules + model, model_weight {w} ({folds}-fold CV)"
        ));
    }
    println!(
        "\noptions: {:?}",
        TrainOptions {
            label_map: BTreeMap::new(),
            ..opts
        }
    );
}
