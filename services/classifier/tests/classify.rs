//! Classifier tests against the shipped rule files (`config/*.toml`) and real text: the seed
//! article, a measurement over the BBC news set, entity edge cases, loading errors, the JSON
//! entry point and the stage's metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::Utc;
use wirewatch_classifier::{Classifier, ClassifierConfig, ClassifierStage};
use wirewatch_proto::v1::{EnrichedStory, EntityKind, FeedRef, RawStory, UniqueStory};
use wirewatch_runtime::bus::Delivery;
use wirewatch_runtime::stage::{ProcessError, Processor};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn shared() -> PathBuf {
    root().join("../shared")
}

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| {
        Classifier::load(&ClassifierConfig::with_config_dir(root().join("config")))
            .unwrap_or_else(|e| panic!("shipped config must load: {e}"))
    })
}

fn story(title: &str, body: &str) -> RawStory {
    RawStory {
        id: "s1".into(),
        feed: FeedRef {
            id: "f".into(),
            url: "http://127.0.0.1/feed".into(),
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
        fetched_at: Utc::now(),
        fetcher_version: String::new(),
        published_is_fetch_time: false,
    }
}

fn classify(title: &str, body: &str) -> EnrichedStory {
    classifier().classify(story(title, body), "c1".into())
}

fn countries(title: &str, body: &str) -> Vec<String> {
    classify(title, body).countries
}

fn topic_ids(e: &EnrichedStory) -> Vec<&str> {
    e.topics.iter().map(|t| t.id.as_str()).collect()
}

fn entity_ids(e: &EnrichedStory, kind: EntityKind) -> Vec<&str> {
    e.entities
        .iter()
        .filter(|x| x.kind == kind)
        .map(|x| x.id.as_str())
        .collect()
}

fn seed() -> (String, String) {
    let text = std::fs::read_to_string(shared().join("seed/istanbul-talks-article.txt"))
        .expect("seed article");
    let (title, body) = text.split_once('\n').expect("title line");
    (title.trim().to_string(), body.to_string())
}

/// The issue's acceptance test: the reference article gets the countries, the EU, the people,
/// the organisations and the topics an analyst would tag it with.
#[test]
fn seed_article_istanbul_talks() {
    let (title, body) = seed();
    let x = classifier().explain(story(&title, &body), "c1".into());
    println!("{x}");
    let e = &x.story;
    // Exactly the countries the article names, Russia and Ukraine first.
    let mut got = e.countries.clone();
    assert_eq!(got.len(), 10, "{got:?}");
    assert!(got[..2].contains(&"RU".to_string()) && got[..2].contains(&"UA".to_string()));
    got.sort();
    let mut want: Vec<String> = ["UA", "RU", "TR", "US", "CN", "FR", "DE", "IT", "GB", "PL"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(got, want);
    // The EU as an organisation and as a region.
    for r in [
        "eu",
        "europe",
        "eastern_europe",
        "nato",
        "middle_east",
        "east_asia",
    ] {
        assert!(
            e.regions.contains(&r.to_string()),
            "missing region {r}: {:?}",
            e.regions
        );
    }
    let people = entity_ids(e, EntityKind::Person);
    for p in ["zelensky", "trump", "biden"] {
        assert!(people.contains(&p), "missing person {p}: {people:?}");
    }
    let orgs = entity_ids(e, EntityKind::Organisation);
    for o in ["nato", "un", "eu"] {
        assert!(orgs.contains(&o), "missing organisation {o}: {orgs:?}");
    }
    let topics = topic_ids(e);
    for t in [
        "diplomacy",
        "sanctions",
        "armed_conflict",
        "humanitarian",
        "energy_markets",
        "politics",
        "conflict",
    ] {
        assert!(topics.contains(&t), "missing topic {t}: {topics:?}");
    }
    for t in [
        "sport",
        "arts",
        "weather",
        "education",
        "disaster",
        "lifestyle",
    ] {
        assert!(!topics.contains(&t), "unexpected topic {t}: {topics:?}");
    }
    let diplomacy = e.topics.iter().find(|t| t.id == "diplomacy").unwrap();
    assert_eq!(diplomacy.iptc, "medtop:20000639");
    assert_eq!(diplomacy.iptc_top, "medtop:11000000");
    assert!(
        diplomacy.evidence.contains(&"peace talks".to_string()),
        "{:?}",
        diplomacy.evidence
    );
    let sanctions = e.topics.iter().find(|t| t.id == "sanctions").unwrap();
    assert_eq!(
        sanctions.evidence.first().map(String::as_str),
        Some("sanction*")
    );
    let conflict = e.topics.iter().find(|t| t.id == "conflict").unwrap();
    assert_eq!(conflict.iptc, "medtop:16000000");
    assert!(e.topics.iter().all(|t| (0.0..=1.0).contains(&t.score)));
    assert!(e.topics.iter().all(|t| !t.evidence.is_empty()));
    // Salience: the title's countries and Zelensky dominate; Poland, named once late, does not.
    let sal = |id: &str| {
        e.entities
            .iter()
            .find(|x| x.id == id)
            .unwrap()
            .salience
            .unwrap()
    };
    assert!(
        sal("RU") >= 0.9 && sal("UA") >= 0.8 && sal("zelensky") >= 0.6,
        "{e:?}"
    );
    assert!(sal("PL") < 0.1 && sal("biden") < 0.1);
    assert!(e
        .entities
        .iter()
        .all(|x| (0.0..=1.0).contains(&x.salience.unwrap())));
    // A war with failed talks, casualties and sanctions: serious, not a catastrophe.
    assert!(
        matches!(e.severity, Some(3 | 4)),
        "{:?} {:?}",
        e.severity,
        x.severity_reasons
    );
    assert!(!x.severity_reasons.is_empty());
    assert_eq!(e.detected_language.as_deref(), Some("en"));
    assert!(e.language_confidence.unwrap() > 0.5);
    assert_eq!(e.cluster_id, "c1");
    assert!(e.classifier_version.starts_with("classifier-0.1.0+"));
    assert_eq!(e.classifier_version.len(), "classifier-0.1.0+".len() + 8);
    // The explanation names the evidence, the forms and the severity reasons.
    let text = x.to_string();
    for needle in [
        "peace talks",
        "Kremlin",
        "salience",
        "severity: ",
        "regions: ",
        "English function-word screen",
    ] {
        assert!(
            text.contains(needle),
            "explanation lacks {needle:?}:\n{text}"
        );
    }
}

#[test]
fn severity_rules() {
    let sev = |title: &str, body: &str| classify(title, body).severity;
    assert_eq!(
        sev(
            "Arsenal beat Chelsea",
            "The striker scored twice as Arsenal won the league match 2-0."
        ),
        Some(0)
    );
    assert_eq!(
        sev(
            "Earthquake kills at least 120",
            "At least 120 people were killed when the earthquake struck; rescuers searched the debris."
        ),
        Some(5)
    );
    assert_eq!(
        sev(
            "Missile strike on city",
            "A missile strike killed 12 civilians as troops shelled the front line."
        ),
        Some(4)
    );
    let s = sev(
        "Army shells border towns",
        "Troops and artillery shelled the front line; no one was hurt, officials said.",
    );
    assert_eq!(s, Some(3));
    // A year is not a death toll, and escalation words need a hard-news context.
    assert_eq!(
        sev(
            "Shares escalate",
            "Costs escalated at the bank in 2024 as profits rose."
        ),
        Some(0)
    );
    assert_eq!(
        sev(
            "Nuclear strike threat",
            "The army warned of a nuclear strike as the war escalated."
        ),
        Some(5)
    );
}

#[test]
fn salience_regions_and_flags() {
    let e = classify(
        "Germany and France agree budget",
        "Berlin and Paris agreed. Later, in a long aside far from the lead, Japan was mentioned. "
            .repeat(8)
            .as_str(),
    );
    let sal = |id: &str| {
        e.entities
            .iter()
            .find(|x| x.id == id)
            .unwrap()
            .salience
            .unwrap()
    };
    assert!(sal("DE") > sal("JP"), "{:?}", e.entities);
    assert!(e.regions.contains(&"eu".to_string()) && e.regions.contains(&"g7".to_string()));
    assert!(e.regions.contains(&"east_asia".to_string()));
    let e = classify("", "Reactions: 🇺🇦 and 🇵🇱 flags were raised.");
    assert_eq!(e.countries, vec!["UA", "PL"]);
}

#[test]
fn other_languages_get_entities_but_no_false_topics() {
    let e = classify(
        "Gespräche in Istanbul gescheitert",
        "Die Friedensgespräche zwischen Russland und der Ukraine in Istanbul sind ohne Einigung \
         zu Ende gegangen. Die Delegationen reisten am Freitag ab, sagten Beamte.",
    );
    assert_eq!(e.detected_language.as_deref(), Some("de"));
    assert!(e.language_confidence.is_some());
    assert!(e.topics.is_empty(), "{:?}", e.topics);
    assert_eq!(e.severity, None);
    assert!(e.countries.contains(&"UA".to_string()), "{:?}", e.countries);
    let x = classifier().explain(story("Gespräche in Istanbul gescheitert", "Die Friedensgespräche zwischen Russland und der Ukraine in Istanbul sind ohne Einigung zu Ende gegangen."), "c".into());
    assert!(x.to_string().contains("rules skipped"), "{x}");
}

#[test]
fn possessives_abbreviations_and_metonyms() {
    assert_eq!(countries("", "Russia's economy shrank."), vec!["RU"]);
    assert_eq!(countries("", "Ukraine’s army advanced."), vec!["UA"]);
    assert_eq!(countries("", "The U.S. said it would respond."), vec!["US"]);
    assert_eq!(countries("", "The US said it would respond."), vec!["US"]);
    assert!(countries("", "He told us that it was over.").is_empty());
    assert_eq!(countries("", "The Kremlin denied the report."), vec!["RU"]);
    assert_eq!(
        countries("", "Officials in Kyiv and in Kiev agreed."),
        vec!["UA"]
    );
    assert_eq!(
        countries("", "A source in Downing Street said so."),
        vec!["GB"]
    );
    assert_eq!(
        countries("", "The Élysée and the Elysee Palace confirmed."),
        vec!["FR"]
    );
    assert_eq!(
        countries("", "Beijing responded; Chinese officials agreed."),
        vec!["CN"]
    );
    assert_eq!(
        countries("", "The White House said Washington would act."),
        vec!["US"]
    );
    assert_eq!(countries("", "Talks in Ankara, then Istanbul."), vec!["TR"]);
    assert_eq!(countries("", "South Sudan and Sudan."), vec!["SS", "SD"]);
    assert_eq!(
        countries("", "North Korean missiles worried South Korea."),
        vec!["KP", "KR"]
    );
    // Most mentioned first.
    assert_eq!(
        countries(
            "",
            "Germany met France. Paris and Berlin, then Paris again."
        ),
        vec!["FR", "DE"]
    );
    let e = classify(
        "",
        "The Kremlin said Moscow would not yield; Russia's envoy agreed.",
    );
    let ru = e.entities.iter().find(|x| x.id == "RU").unwrap();
    assert_eq!(ru.mentions, 3);
    assert_eq!(ru.matched, vec!["Kremlin", "Moscow", "Russia"]);
}

#[test]
fn ambiguity_guard() {
    assert!(countries("", "We had a turkey dinner with the family.").is_empty());
    assert!(countries("", "Turkey dinner recipes for the holidays.").is_empty());
    assert!(countries("", "She bought fine china at the market.").is_empty());
    assert!(countries("", "The roast Turkey was delicious.").is_empty());
    assert!(countries("", "Jordan Henderson scored twice.").is_empty());
    assert!(countries("", "He moved to Atlanta, Georgia last year.").is_empty());
    assert!(countries("", "Trade with Latin America grew.").is_empty());
    assert!(countries("", "The guinea pig escaped.").is_empty());
    assert_eq!(countries("", "Turkey hosted the talks."), vec!["TR"]);
    assert_eq!(countries("", "Exports to China rose."), vec!["CN"]);
    assert_eq!(countries("", "Israel and Jordan signed."), vec!["IL", "JO"]);
    assert_eq!(countries("", "Georgia's parliament voted."), vec!["GE"]);
    assert_eq!(countries("", "Chad's army withdrew."), vec!["TD"]);
    // People: "trump" the verb is not the president.
    let e = classify("", "Security concerns trump everything else.");
    assert!(entity_ids(&e, EntityKind::Person).is_empty());
    // Organisations: "who" the pronoun is not the WHO.
    let e = classify("", "Those who came were welcomed by the WHO.");
    assert_eq!(entity_ids(&e, EntityKind::Organisation), vec!["who"]);
}

#[test]
fn unrelated_text_gets_no_geopolitics() {
    let e = classify(
        "Arsenal beat Chelsea in the Premier League",
        "The striker scored twice in the second half as Arsenal won the match 2-0 at the stadium.",
    );
    let topics = topic_ids(&e);
    assert_eq!(topics.first(), Some(&"sport"), "{topics:?}");
    assert!(
        !topics.contains(&"diplomacy") && !topics.contains(&"conflict"),
        "{topics:?}"
    );
    assert_eq!(e.topics[0].iptc, "medtop:15000000");
    assert_eq!(e.topics[0].iptc_top, "medtop:15000000");
}

#[test]
fn bbc_top1_accuracy() {
    let path = shared().join("corpus/news/bbc-2225/bbc_news_2225.jsonl");
    let text = std::fs::read_to_string(&path).expect("bbc corpus");
    // BBC labels → the IPTC code of our top-level topic.
    let expected: HashMap<&str, &str> = [
        ("business", "medtop:04000000"),
        ("entertainment", "medtop:01000000"),
        ("politics", "medtop:11000000"),
        ("sport", "medtop:15000000"),
        ("tech", "medtop:13000000"),
    ]
    .into_iter()
    .collect();
    let (mut total, mut correct) = (0usize, 0usize);
    let mut per_label: HashMap<String, (usize, usize)> = HashMap::new();
    let mut confusion: HashMap<(String, String), usize> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("jsonl line");
        let label = v["label"].as_str().expect("label");
        let e = classify(
            v["title"].as_str().unwrap_or(""),
            v["body"].as_str().unwrap_or(""),
        );
        let got = e
            .topics
            .first()
            .map(|t| t.iptc_top.as_str())
            .unwrap_or("none");
        let ok = got == expected[label];
        total += 1;
        correct += usize::from(ok);
        let s = per_label.entry(label.to_string()).or_default();
        s.0 += 1;
        s.1 += usize::from(ok);
        if !ok {
            *confusion
                .entry((label.to_string(), got.to_string()))
                .or_default() += 1;
        }
    }
    let acc = correct as f64 / total as f64;
    println!("bbc-2225 top-1 accuracy: {acc:.4} ({correct}/{total})");
    let mut labels: Vec<_> = per_label.into_iter().collect();
    labels.sort();
    for (l, (n, ok)) in labels {
        println!("  {l:<14} {:.3} ({ok}/{n})", ok as f64 / n as f64);
    }
    let mut conf: Vec<_> = confusion.into_iter().collect();
    conf.sort_by_key(|c| std::cmp::Reverse(c.1));
    for ((l, g), n) in conf.iter().take(10) {
        println!("  confused {l} -> {g}: {n}");
    }
    assert_eq!(total, 2225);
    // Measured 0.8791 (business 0.83, entertainment 0.75, politics 0.85, sport 0.99, tech 0.94);
    // the floor sits a little below so that rule edits that hurt are caught.
    assert!(acc >= FLOOR, "top-1 accuracy {acc:.4} fell below {FLOOR}");
}

const FLOOR: f64 = 0.86;

#[test]
fn classify_json_minimal_and_errors() {
    let c = classifier();
    let e = c
        .classify_json(r#"{"id":"x1","title":"Kremlin rejects peace talks","summary":"Moscow said negotiations with Kyiv were over."}"#)
        .unwrap();
    assert_eq!(e.story.id, "x1");
    assert_eq!(e.cluster_id, "x1");
    assert_eq!(e.story.feed.id, "cli");
    assert!(e.countries.contains(&"RU".to_string()) && e.countries.contains(&"UA".to_string()));
    assert!(topic_ids(&e).contains(&"diplomacy"), "{:?}", e.topics);

    // A UniqueStory line keeps its cluster id.
    let unique = UniqueStory {
        story: story("Turkey hosts talks", "Ankara hosted the delegations."),
        cluster_id: "cluster-9".into(),
        deduped_at: Utc::now(),
        dedup_version: "d1".into(),
        cluster_match: None,
    };
    let e = c
        .classify_json(&serde_json::to_string(&unique).unwrap())
        .unwrap();
    assert_eq!(e.cluster_id, "cluster-9");
    assert_eq!(e.countries, vec!["TR"]);

    let err = |line: &str| c.classify_json(line).unwrap_err().to_string();
    assert!(err(r#"{"title":"x"}"#).contains("`id`"));
    assert!(err(r#"{"id":"a"}"#).contains("`title`"));
    assert!(err(r#"{"id":"a","title":5}"#).contains("`title`"));
    assert!(err(r#"{"id":"a","title":"t","fetched_at":"yesterday"}"#).contains("`fetched_at`"));
    assert!(err(r#"{"id":"a","title":"t","feed":{"id":"f"}}"#).contains("`feed.url`"));
    assert!(err("not json").contains("(json)"));
    assert!(err("[1]").contains("object"));
}

fn write_config(dir: &std::path::Path, file: &str, content: &str) -> ClassifierConfig {
    for f in [
        "taxonomy.toml",
        "countries.toml",
        "organisations.toml",
        "people.toml",
    ] {
        std::fs::copy(root().join("config").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join(file), content).unwrap();
    ClassifierConfig::with_config_dir(dir)
}

#[test]
fn loading_errors_name_file_entry_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let load_err = |file: &str, content: &str| {
        Classifier::load(&write_config(dir.path(), file, content))
            .unwrap_err()
            .to_string()
    };
    let e = load_err(
        "countries.toml",
        "[[country]]\ncode = \"UA\"\nname = \"Ukraine\"\n\n[[country]]\ncode = \"xx\"\nname = \"Nowhere\"\n",
    );
    assert!(e.contains("countries.toml"), "{e}");
    assert!(
        e.contains("country #2 (code \"xx\")") && e.contains("`code`"),
        "{e}"
    );
    let e = load_err(
        "countries.toml",
        "[[country]]\ncode = \"UA\"\nname = \"Ukraine\"\ncapitals = [\"Kyiv\"]\n\n[[country]]\ncode = \"RU\"\nname = \"Russia\"\nmetonyms = [\"Kyiv\"]\n",
    );
    assert!(
        e.contains("country #2 (code \"RU\")")
            && e.contains("`metonyms`")
            && e.contains("already used by country #1"),
        "{e}"
    );
    let e = load_err(
        "people.toml",
        "[[person]]\nid = \"p\"\nname = \"P\"\ncountry = \"ZZ\"\n",
    );
    assert!(
        e.contains("people.toml") && e.contains("person #1 (id \"p\")") && e.contains("`country`"),
        "{e}"
    );
    let e = load_err(
        "people.toml",
        "[[person]]\nid = \"p\"\nname = \"P\"\norganisation = \"nope\"\n",
    );
    assert!(
        e.contains("person #1 (id \"p\")") && e.contains("`organisation`") && e.contains("nope"),
        "{e}"
    );
    let e = load_err(
        "organisations.toml",
        "[[organisation]]\nid = \"o\"\nnam = \"O\"\n",
    );
    assert!(e.contains("organisations.toml") && e.contains("nam"), "{e}");
    let e = load_err(
        "organisations.toml",
        "[[organisation]]\nid = \"o\"\nname = \"O\"\n[[organisation]]\nid = \"o\"\nname = \"P\"\n",
    );
    assert!(
        e.contains("organisation #2 (id \"o\")") && e.contains("duplicate"),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("taxonomy.toml")).unwrap();
    let e = Classifier::load(&ClassifierConfig::with_config_dir(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read") && e.contains("taxonomy.toml"),
        "{e}"
    );
}

/// Each shipped person says who they are: a role, and the country or the international
/// organisation it belongs to.
#[test]
fn shipped_people_have_a_role_and_a_country_or_organisation() {
    let people: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("config/people.toml")).unwrap())
            .unwrap();
    let people = people["person"].as_array().unwrap();
    assert!(people.len() >= 70, "{}", people.len());
    for p in people {
        let has = |k: &str| {
            p.get(k)
                .and_then(|v| v.as_str())
                .is_some_and(|s| !s.is_empty())
        };
        assert!(has("role"), "no role: {p}");
        assert!(
            has("country") || has("organisation"),
            "no country or organisation: {p}"
        );
    }
}

#[test]
fn version_changes_with_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "people.toml",
        "[[person]]\nid = \"p\"\nname = \"Some Body\"\n",
    );
    let v = Classifier::load(&cfg).unwrap();
    assert_ne!(v.version(), classifier().version());
    assert_eq!(v.version(), Classifier::load(&cfg).unwrap().version());
}

#[test]
fn shipped_lists_cover_the_world() {
    // Coverage check only: the reference gazetteer (ODbL/GPL) is read here, never shipped.
    let gaz = std::fs::read_to_string(shared().join("corpus/entities/countries_gazetteer.jsonl"))
        .expect("gazetteer");
    let ours = std::fs::read_to_string(root().join("config/countries.toml")).unwrap();
    let ours: toml::Value = toml::from_str(&ours).unwrap();
    let codes: std::collections::HashSet<&str> = ours["country"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    let mut missing = vec![];
    let mut un = 0;
    for line in gaz.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["unMember"].as_bool() == Some(true) {
            un += 1;
            let code = v["iso2"].as_str().unwrap();
            if !codes.contains(code) {
                missing.push(code.to_string());
            }
        }
    }
    println!(
        "UN members in gazetteer: {un}, ours: {} entries",
        codes.len()
    );
    assert!(un >= 190);
    assert!(missing.is_empty(), "UN members missing: {missing:?}");
    for c in ["TW", "HK", "XK", "PS", "VA"] {
        assert!(codes.contains(c), "missing {c}");
    }
    // Every country name of the gazetteer resolves to its own code.
    let mut wrong = vec![];
    for line in gaz.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let code = v["iso2"].as_str().unwrap();
        if !codes.contains(code) {
            continue;
        }
        let name = v["name"].as_str().unwrap();
        let got = countries("", &format!("News from {name} today."));
        if got != vec![code.to_string()] {
            wrong.push(format!("{name} ({code}) -> {got:?}"));
        }
    }
    println!("gazetteer names not resolved: {wrong:?}");
    assert!(
        wrong.len() <= 5,
        "{} names not resolved: {wrong:?}",
        wrong.len()
    );
}

fn delivery(payload: Vec<u8>) -> Delivery {
    Delivery {
        topic: wirewatch_proto::Topic::StoriesUnique,
        topic_name: "t.stories.unique.v1".into(),
        partition: None,
        offset: Some(1),
        key: Some(b"s1".to_vec()),
        payload,
        headers: vec![],
    }
}

#[tokio::test]
async fn stage_emits_enriched_and_poisons_garbage() {
    let cfg = ClassifierConfig::with_config_dir(root().join("config"));
    let mut stage = ClassifierStage::new(Classifier::load(&cfg).unwrap());
    let unique = UniqueStory {
        story: story(
            "Sanctions on Russia",
            "The EU agreed new sanctions on Moscow.",
        ),
        cluster_id: "c7".into(),
        deduped_at: Utc::now(),
        dedup_version: "d1".into(),
        cluster_match: None,
    };
    let out = stage
        .process(&delivery(serde_json::to_vec(&unique).unwrap()))
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, wirewatch_proto::Topic::StoriesEnriched);
    assert_eq!(out[0].key, "s1");
    let e: EnrichedStory = serde_json::from_slice(&out[0].payload).unwrap();
    assert_eq!(e.cluster_id, "c7");
    assert!(topic_ids(&e).contains(&"sanctions"));
    // Redelivery: the same classification.
    let again = stage
        .process(&delivery(serde_json::to_vec(&unique).unwrap()))
        .await
        .unwrap();
    let e2: EnrichedStory = serde_json::from_slice(&again[0].payload).unwrap();
    assert_eq!(
        (e.topics, e.countries, e.entities),
        (e2.topics, e2.countries, e2.entities)
    );

    let err = stage
        .process(&delivery(b"{not json".to_vec()))
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessError::Poison(_)), "{err:?}");

    let metrics = wirewatch_runtime::metrics::render();
    for name in [
        "wirewatch_classifier_stories_total{stage=\"classifier\"}",
        "wirewatch_classifier_topics_assigned_total{stage=\"classifier\",topic=\"sanctions\"}",
        "wirewatch_classifier_topics_assigned_total{stage=\"classifier\",topic=\"weather\"}",
        "wirewatch_classifier_unclassified_total{stage=\"classifier\"}",
        "wirewatch_classifier_classify_duration_seconds_count{stage=\"classifier\"}",
    ] {
        assert!(metrics.contains(name), "missing {name}");
    }
}

/// Synthetic labelled stories written for this test (not from any corpus).
fn synthetic_training_file(dir: &std::path::Path) -> PathBuf {
    let sport = [
        "The striker scored twice and the club won the league match",
        "The goalkeeper saved a penalty as the team reached the cup final",
        "The coach praised the squad after the season opener",
        "Fans filled the stadium to watch the derby between the two clubs",
    ];
    let economy = [
        "Shares fell as the bank reported lower quarterly profits",
        "Investors sold bonds after inflation figures surprised the market",
        "The company cut jobs as sales and earnings dropped",
        "The central bank raised interest rates to curb inflation",
    ];
    let mut lines = String::new();
    for i in 0..12 {
        for (texts, label) in [(&sport, "sport"), (&economy, "economy")] {
            let t = texts[i % texts.len()];
            lines.push_str(
                &serde_json::json!({"title": format!("{t} ({i})"), "body": t, "label": label})
                    .to_string(),
            );
            lines.push('\n');
        }
    }
    let p = dir.join("labelled.jsonl");
    std::fs::write(&p, lines).unwrap();
    p
}

#[test]
fn trained_model_is_versioned_loaded_and_combined() {
    let dir = tempfile::tempdir().unwrap();
    let input = synthetic_training_file(dir.path());
    let model_path = dir.path().join("model.json");
    let opts = wirewatch_classifier::TrainOptions {
        features: wirewatch_classifier::model::FeatureOptions {
            hash_bits: 14,
            ..Default::default()
        },
        ..Default::default()
    };
    let report = wirewatch_classifier::train(&input, &model_path, &opts).unwrap();
    assert_eq!(report.examples, 24);
    assert_eq!(
        report.labels,
        vec![("economy".to_string(), 12), ("sport".to_string(), 12)]
    );
    assert!(report.training_accuracy > 0.9, "{report:?}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model_path).unwrap()).unwrap();
    assert_eq!(saved["format"], "wirewatch-topic-model");
    assert_eq!(saved["format_version"], 1);

    let cfg = ClassifierConfig {
        model_file: Some(model_path.clone()),
        ..ClassifierConfig::with_config_dir(root().join("config"))
    };
    let c = Classifier::load(&cfg).unwrap();
    assert!(c.version().ends_with("+model"), "{}", c.version());
    assert_ne!(c.version(), classifier().version());
    // Text the rules alone find nothing in; the model knows its vocabulary.
    let text = "The derby was watched by the squad and the fans";
    let rules_only = classify("", text);
    let x = c.explain(story("", text), "c".into());
    println!("{x}\nrules only: {:?}", rules_only.topics);
    assert_eq!(x.story.topics.first().map(|t| t.id.as_str()), Some("sport"));
    assert!(x.story.topics[0]
        .evidence
        .iter()
        .any(|e| e.starts_with("model p=")));
    assert_eq!(x.model.len(), 2);
    assert!(x.to_string().contains("model: economy"));

    // A model whose labels are not taxonomy topics is refused, naming the label.
    std::fs::write(
        dir.path().join("odd.jsonl"),
        "{\"title\":\"a b c\",\"label\":\"business\"}\n{\"title\":\"d e f\",\"label\":\"tech\"}\n",
    )
    .unwrap();
    let odd = dir.path().join("odd.json");
    wirewatch_classifier::train(&dir.path().join("odd.jsonl"), &odd, &opts).unwrap();
    let err = Classifier::load(&ClassifierConfig {
        model_file: Some(odd),
        ..cfg.clone()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"business\"") && err.contains("odd.json"),
        "{err}"
    );
    // The command checks labels before training and points at the label map.
    let mut out = Vec::new();
    let err = wirewatch_classifier::train_command(
        &cfg,
        &dir.path().join("odd.jsonl"),
        &dir.path().join("never.json"),
        &opts,
        &mut out,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--label-map") && err.contains("business"),
        "{err}"
    );
    assert!(!dir.path().join("never.json").exists());
    let mut mapped = opts.clone();
    mapped.label_map.insert("business".into(), "economy".into());
    mapped.label_map.insert("tech".into(), "science".into());
    let code = wirewatch_classifier::train_command(
        &cfg,
        &dir.path().join("odd.jsonl"),
        &dir.path().join("mapped.json"),
        &mapped,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS)
    );
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("set classifier.model_file"));
}

#[test]
fn classify_command_json_and_explain() {
    let cfg = ClassifierConfig::with_config_dir(root().join("config"));
    let input = "{\"id\":\"a\",\"title\":\"Missile strike kills 12 in Kyiv\",\"summary\":\"Russian troops shelled the city.\"}\n\nnot json\n";
    let mut out = Vec::new();
    let code = wirewatch_classifier::classify_command(
        &cfg,
        false,
        &mut std::io::Cursor::new(input),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::FAILURE)
    );
    let text = String::from_utf8(out).unwrap();
    let e: EnrichedStory = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(e.countries, vec!["UA", "RU"]);
    assert_eq!(e.severity, Some(4));
    let mut out = Vec::new();
    wirewatch_classifier::classify_command(
        &cfg,
        true,
        &mut std::io::Cursor::new(input.lines().next().unwrap()),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    for needle in [
        "topics:",
        "armed_conflict",
        "Kyiv",
        "severity: 4",
        "casualties",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
}

/// Sampled check of the model on the BBC set (the full 5-fold cross-validation runs in
/// `examples/bbc_cv.rs`, see docs/bench/classifier.md): train on 500 articles, test on 250
/// others. Evaluation only: nothing trained here is written outside a temporary directory.
#[test]
fn bbc_model_sample() {
    let path = shared().join("corpus/news/bbc-2225/bbc_news_2225.jsonl");
    let map: std::collections::BTreeMap<String, String> = [
        ("business", "economy"),
        ("entertainment", "arts"),
        ("politics", "politics"),
        ("sport", "sport"),
        ("tech", "science"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let all = wirewatch_classifier::model::read_examples(&path, &map).unwrap();
    // Every 3rd article trains, every 3rd + 1 tests (the file is sorted by label).
    let train: Vec<_> = all.iter().step_by(3).take(500).cloned().collect();
    let test: Vec<_> = all.iter().skip(1).step_by(7).take(250).cloned().collect();
    let opts = wirewatch_classifier::TrainOptions {
        epochs: 6,
        ..Default::default()
    };
    let m = wirewatch_classifier::Model::fit(&train, &opts).unwrap();
    let correct = test
        .iter()
        .filter(|e| {
            let p = m.predict(&e.title, &e.body);
            let best = wirewatch_classifier::model::argmax(&p).unwrap();
            e.labels.contains(&m.labels()[best])
        })
        .count();
    let acc = correct as f64 / test.len() as f64;
    println!(
        "bbc sample: model accuracy {acc:.3} ({correct}/{})",
        test.len()
    );
    assert!(acc >= 0.9, "model accuracy {acc:.3}");
}

/// The corpus's non-English feeds (German, Italian, Portuguese, Russian, Urdu), each item as
/// the fetcher would hand it on: (feed file, title, text of summary or content).
fn non_english_items() -> Vec<(String, String, String)> {
    let feeds = shared().join("corpus/feeds");
    let files = [
        "feed-rs/fixture/rss2/rss_2.0_spiegel.xml",
        "feed-rs/fixture/rss2/rss_2.0_ilgiornale.xml",
        "feed-rs/fixture/rss2/rss_2.0_ilmessaggero.xml",
        "rss-parser/test/input/heise.atom",
        "rss-parser/test/input/uolNoticias.rss",
        "miniflux/internal/reader/parser/testdata/encoding_ISO-8859-1.xml",
        "miniflux/internal/reader/parser/testdata/no_encoding_ISO-8859-1.xml",
        "miniflux/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml",
        "miniflux/internal/reader/parser/testdata/urdu_UTF8.xml",
        "miniflux/internal/reader/encoding/testdata/koi8r.xml",
    ];
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(feeds.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        // Decode as declared (ISO-8859-1 when undeclared but not UTF-8), then hand feed-rs
        // UTF-8: the fetcher does the same before parsing.
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_string();
        let label = head
            .split_once("encoding=\"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(l, _)| l.to_string());
        let enc = label
            .as_deref()
            .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
            .unwrap_or(if std::str::from_utf8(&bytes).is_ok() {
                encoding_rs::UTF_8
            } else {
                encoding_rs::WINDOWS_1252
            });
        let (text, _, _) = enc.decode(&bytes);
        let mut text = text.into_owned();
        if let Some(l) = &label {
            text = text.replacen(&format!("encoding=\"{l}\""), "encoding=\"UTF-8\"", 1);
        }
        // feed-rs wants a version on <rss> (UOL Noticias has none).
        let text = text.replacen("<rss>", "<rss version=\"2.0\">", 1);
        let feed = feed_rs::parser::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{f}: {e}"));
        for entry in feed.entries {
            let title = entry.title.map(|t| t.content).unwrap_or_default();
            let body = entry
                .summary
                .map(|t| t.content)
                .or_else(|| entry.content.and_then(|c| c.body))
                .unwrap_or_default();
            out.push((f.to_string(), title, strip_tags(&body)));
        }
    }
    out
}

/// Text of an HTML fragment: tags dropped, the common entities decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

/// Degrading honestly: the German, Italian, Portuguese, French, Russian and Urdu items of
/// the corpus's feeds (161, many only a headline and a line) are never taken for English and
/// get no English topic and no severity above 0, whether their language is detected
/// confidently, only guessed, or unknown (then the rules run and find nothing); places they
/// name are still found.
#[test]
fn non_english_feeds_get_no_english_topics() {
    let items = non_english_items();
    assert!(items.len() >= 150, "{}", items.len());
    let (mut reported, mut skipped, mut with_countries) = (0, 0, 0);
    for (feed, title, body) in &items {
        if title.trim().is_empty() && body.trim().is_empty() {
            continue;
        }
        let x = classifier().explain(story(title, body), "c".into());
        let e = &x.story;
        assert_ne!(
            e.detected_language.as_deref(),
            Some("en"),
            "{feed}: {title:?}"
        );
        assert!(e.topics.is_empty(), "{feed}: {title:?} {:?}", e.topics);
        assert!(matches!(e.severity, None | Some(0)), "{feed}: {title:?}");
        if e.detected_language.is_some() {
            assert!(x.rules_skipped.is_some(), "{feed}: {title:?}");
            assert_eq!(e.severity, None, "{feed}: {title:?}");
        }
        skipped += usize::from(x.rules_skipped.is_some());
        reported += usize::from(e.detected_language.is_some());
        with_countries += usize::from(!e.countries.is_empty());
    }
    // The explanation says what the gate went by.
    let x = classifier().explain(
        story(
            "Match Eleitoral já soma mais de 500 mil testes completos; ache seu candidato",
            "",
        ),
        "c".into(),
    );
    let text = x.to_string();
    assert!(
        text.contains("not detected confidently (whatlang's best guess pt at")
            && text.contains("(probable, confidence"),
        "{text}"
    );
    println!(
        "{} items: language reported {reported}, rules skipped {skipped}, with countries {with_countries}",
        items.len()
    );
    // Most languages are reported; the rest are short items whatlang only guesses.
    assert!(
        reported * 10 >= items.len() * 8,
        "{reported} of {}",
        items.len()
    );
    assert!(with_countries >= 10, "{with_countries}");
}

/// The other side of the gate: English headlines without a body, too short for the screen
/// and often for whatlang's confidence, keep their rule topics.
#[test]
fn english_headlines_alone_keep_their_topics() {
    let text = std::fs::read_to_string(shared().join("corpus/news/bbc-2225/bbc_news_2225.jsonl"))
        .expect("bbc corpus");
    let (mut n, mut skipped, mut unreported) = (0, 0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()).step_by(5) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let title = v["title"].as_str().unwrap_or("");
        let x = classifier().explain(story(title, ""), "c".into());
        n += 1;
        skipped += usize::from(x.rules_skipped.is_some());
        unreported += usize::from(x.story.detected_language.is_none());
    }
    println!("{n} headlines: rules skipped {skipped}, language not reported {unreported}");
    assert!(
        skipped * 100 <= n * 3,
        "rules skipped on {skipped} of {n} English headlines"
    );
}
