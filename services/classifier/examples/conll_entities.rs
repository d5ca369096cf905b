//! Document-level precision and recall of country, person and organisation detection on
//! CoNLL-2003 English (`../shared/corpus/entities/conll2003/`, Reuters text: evaluation only,
//! never copied).
//!
//! ```text
//! cargo run --release -p wirewatch-classifier --example conll_entities -- [eng.testb] [--organisations FILE]
//! ```
//!
//! `--organisations FILE` evaluates another organisations list (e.g. the extended one of the
//! `entity_lists` example) instead of `config/organisations.toml`.
//!
//! The files have no `-DOCSTART-` lines, so documents are rebuilt from Reuters datelines: a
//! short sentence ending in a `1996-MM-DD` token starts a document together with the
//! headline sentence before it.
//!
//! Gold, per document:
//! - **countries**: every LOC or MISC span whose whole text is a country name, official name,
//!   alias, demonym or capital in the reference gazetteer (`countries_gazetteer.jsonl`,
//!   independent of our list) → its ISO code;
//! - **people** / **organisations**: the PER / ORG spans.
//!
//! The strict country precision counts as wrong every prediction the gazetteer cannot
//! confirm, including its gaps ("U.S.", "Zaire", "Scottish"); the lenient one also accepts a
//! prediction whose matched form lies inside a gold LOC or MISC span (a real place mention,
//! not a false hit on a common word).
//!
//! A predicted person or organisation is correct when one of its matched forms occurs in a
//! gold span of that type in the document. Recall is reported twice: over all gold spans
//! (our lists hold today's leaders and major international bodies, so most 1996 names are
//! out of scope), and over the gold spans whose text is one of our list's forms ("in-list").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use wirewatch_classifier::{Classifier, ClassifierConfig};
use wirewatch_proto::v1::{EntityKind, FeedRef, RawStory};

struct Doc {
    text: String,
    /// (type, span text)
    spans: Vec<(String, String)>,
}

fn read_docs(path: &PathBuf) -> Vec<Doc> {
    let text = std::fs::read_to_string(path).expect("conll file");
    // Sentences of (token, tag).
    let mut sentences: Vec<Vec<(String, String)>> = vec![vec![]];
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            if !sentences.last().unwrap().is_empty() {
                sentences.push(vec![]);
            }
            continue;
        }
        if cols[0] == "-DOCSTART-" {
            continue;
        }
        sentences
            .last_mut()
            .unwrap()
            .push((cols[0].to_string(), cols.last().unwrap().to_string()));
    }
    let is_dateline = |s: &Vec<(String, String)>| {
        s.len() <= 12
            && s.last().is_some_and(|(t, _)| {
                t.len() == 10
                    && t.starts_with("199")
                    && t.as_bytes()[4] == b'-'
                    && t.as_bytes()[7] == b'-'
            })
    };
    let mut starts = vec![0usize];
    for (i, s) in sentences.iter().enumerate().skip(1) {
        if is_dateline(s) && starts.last() != Some(&(i - 1)) {
            starts.push(i - 1);
        }
    }
    starts.push(sentences.len());
    let mut docs = Vec::new();
    for w in starts.windows(2) {
        let mut text = String::new();
        let mut spans = Vec::new();
        for s in &sentences[w[0]..w[1]] {
            let mut cur: Option<(String, Vec<String>)> = None;
            for (tok, tag) in s {
                let (bio, ty) = tag.split_once('-').unwrap_or((tag.as_str(), ""));
                let cont = bio == "I" && cur.as_ref().is_some_and(|(t, _)| t == ty);
                if !cont {
                    if let Some((t, toks)) = cur.take() {
                        spans.push((t, toks.join(" ")));
                    }
                    if bio == "B" || bio == "I" {
                        cur = Some((ty.to_string(), vec![]));
                    }
                }
                if let Some((_, toks)) = cur.as_mut() {
                    toks.push(tok.clone());
                }
                text.push_str(tok);
                text.push(' ');
            }
            if let Some((t, toks)) = cur.take() {
                spans.push((t, toks.join(" ")));
            }
            text.push('\n');
        }
        if !text.trim().is_empty() {
            docs.push(Doc { text, spans });
        }
    }
    docs
}

fn main() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let organisations = args
        .iter()
        .position(|a| a == "--organisations")
        .map(|i| {
            let p = PathBuf::from(args.get(i + 1).expect("--organisations FILE"));
            args.drain(i..=i + 1);
            p
        })
        .unwrap_or_else(|| root.join("config/organisations.toml"));
    let path = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/corpus/entities/conll2003/eng.testb"));
    let docs = read_docs(&path);
    println!(
        "{}: {} documents rebuilt from datelines",
        path.display(),
        docs.len()
    );

    // Reference gazetteer: lower-cased form → ISO code (forms claimed by two codes dropped).
    let gaz =
        std::fs::read_to_string(root.join("../shared/corpus/entities/countries_gazetteer.jsonl"))
            .unwrap();
    let mut forms: HashMap<String, Option<String>> = HashMap::new();
    for line in gaz.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let code = v["iso2"].as_str().unwrap().to_string();
        let mut names: Vec<String> = vec![
            v["name"].as_str().unwrap_or("").into(),
            v["official"].as_str().unwrap_or("").into(),
        ];
        for key in ["aliases", "demonyms", "capital"] {
            if let Some(a) = v[key].as_array() {
                names.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
        }
        for n in names.into_iter().filter(|n| !n.is_empty()) {
            let e = forms
                .entry(n.to_lowercase())
                .or_insert_with(|| Some(code.clone()));
            if e.as_deref() != Some(code.as_str()) {
                *e = None;
            }
        }
    }
    // Our list forms per kind, for in-list recall.
    let list_forms = |file: &PathBuf, table: &str| -> HashSet<String> {
        let v: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut out = HashSet::new();
        for e in v[table].as_array().unwrap() {
            out.insert(e["name"].as_str().unwrap().to_lowercase());
            if let Some(a) = e.get("aliases").and_then(|a| a.as_array()) {
                out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_lowercase)));
            }
        }
        out
    };
    let people_forms = list_forms(&root.join("config/people.toml"), "person");
    let org_forms = list_forms(&organisations, "organisation");
    println!("organisations: {}", organisations.display());

    let c = Classifier::load(&ClassifierConfig {
        organisations_file: organisations.clone(),
        ..ClassifierConfig::with_config_dir(root.join("config"))
    })
    .unwrap();
    // (tp, predicted, gold) for countries; (correct, predicted, gold all, gold in-list, found in-list)
    let (mut ctp, mut cpred, mut cgold, mut clenient) = (0usize, 0usize, 0usize, 0usize);
    let mut stats: HashMap<&str, [usize; 5]> = HashMap::new();
    for d in &docs {
        let story = RawStory {
            id: "d".into(),
            feed: FeedRef {
                id: "conll".into(),
                url: String::new(),
                title: None,
            },
            guid: None,
            link: None,
            title: String::new(),
            summary: None,
            content: Some(d.text.clone()),
            authors: vec![],
            categories: vec![],
            language: None,
            published: None,
            updated: None,
            fetched_at: chrono::Utc::now(),
            fetcher_version: String::new(),
            published_is_fetch_time: false,
        };
        let e = c.classify(story, String::new());
        let gold: HashSet<String> = d
            .spans
            .iter()
            .filter(|(t, _)| t == "LOC" || t == "MISC")
            .filter_map(|(_, s)| forms.get(&s.to_lowercase()).cloned().flatten())
            .collect();
        let pred: HashSet<String> = e.countries.iter().cloned().collect();
        if std::env::var_os("CONLL_DEBUG").is_some() {
            for x in e
                .entities
                .iter()
                .filter(|x| x.kind == EntityKind::Country && !gold.contains(&x.id))
            {
                println!("false positive {} via {:?}", x.id, x.matched);
            }
        }
        ctp += pred.intersection(&gold).count();
        let place_spans: Vec<String> = d
            .spans
            .iter()
            .filter(|(t, _)| t == "LOC" || t == "MISC")
            .map(|(_, s)| s.to_lowercase())
            .collect();
        clenient += e
            .entities
            .iter()
            .filter(|x| x.kind == EntityKind::Country)
            .filter(|x| {
                gold.contains(&x.id)
                    || x.matched.iter().any(|f| {
                        let f = f.to_lowercase();
                        place_spans.iter().any(|g| g.contains(&f))
                    })
            })
            .count();
        cpred += pred.len();
        cgold += gold.len();
        for (kind, ty, list) in [
            (EntityKind::Person, "PER", &people_forms),
            (EntityKind::Organisation, "ORG", &org_forms),
        ] {
            let gold_spans: HashSet<String> = d
                .spans
                .iter()
                .filter(|(t, _)| t == ty)
                .map(|(_, s)| s.to_lowercase())
                .collect();
            let s = stats.entry(ty).or_default();
            let mut found_forms: HashSet<String> = HashSet::new();
            for ent in e.entities.iter().filter(|x| x.kind == kind) {
                s[1] += 1;
                let ok = ent.matched.iter().any(|f| {
                    let f = f.to_lowercase();
                    gold_spans.iter().any(|g| g.contains(&f))
                });
                if ok {
                    s[0] += 1;
                }
                found_forms.extend(ent.matched.iter().map(|f| f.to_lowercase()));
            }
            s[2] += gold_spans.len();
            for g in gold_spans.iter().filter(|g| list.contains(*g)) {
                s[3] += 1;
                if found_forms.contains(g) {
                    s[4] += 1;
                }
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    println!("\n| kind | precision | recall (all gold) | recall (in-list gold) | counts |");
    println!("|---|---|---|---|---|");
    println!(
        "| country | {:.3} | {:.3} | — | tp {ctp}, predicted {cpred}, gold {cgold} |",
        ratio(ctp, cpred),
        ratio(ctp, cgold)
    );
    println!(
        "| country, lenient | {:.3} | — | — | predicted countries whose matched form lies in a gold LOC/MISC span: {clenient} |",
        ratio(clenient, cpred)
    );
    for ty in ["PER", "ORG"] {
        let s = stats[ty];
        // Recall over all gold spans counts a gold span as found when it is in-list and found.
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | correct {}, predicted {}, gold spans {}, in-list {}, found {} |",
            if ty == "PER" { "person" } else { "organisation" },
            ratio(s[0], s[1]),
            ratio(s[4], s[2]),
            ratio(s[4], s[3]),
            s[0], s[1], s[2], s[3], s[4]
        );
    }
}
