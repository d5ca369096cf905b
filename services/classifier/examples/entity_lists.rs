//! The entity lists against the corpus's references: what the shipped lists cover, and an
//! extended organisations list built reproducibly from `orgs.jsonl` for those who accept its
//! licence.
//!
//! ```text
//! cargo run --release -p wirewatch-classifier --example entity_lists
//! cargo run --release -p wirewatch-classifier --example entity_lists -- --organisations-out /tmp/organisations.toml
//! ```
//!
//! Licences (`../shared/corpus/README.md`, `entities/orgs/LICENSE.md`) decide what each source
//! may become:
//! - `entities/orgs/orgs.jsonl` (confirmordeny/supraverden, 617 organisations with Wikidata
//!   ids and names in several languages) is **CC BY-SA 4.0**: share-alike, not permissive.
//!   A list built from it must carry the attribution and the same licence, so it is not
//!   shipped in `config/` (Apache-2.0); `--organisations-out` builds it for a deployment
//!   that accepts those terms (point `classifier.organisations_file` at it);
//! - `entities/leaders/heads_of_state.csv` has **no licence**: evaluation only. It is read
//!   here to report which countries' leaders `config/people.toml` lacks or may have stale,
//!   and nothing from it is written anywhere;
//! - the shipped `config/organisations.toml` and `config/people.toml` stay written for
//!   wirewatch from general knowledge (names and offices are facts); they are the
//!   hand-curated part the extended list keeps verbatim.
//!
//! The extended list: every shipped entry as it is (id, name, aliases in their order,
//! `ambiguous`, `regions`), then each corpus organisation it does not already cover as a new
//! entry (id from its name, name, English abbreviation, then its other names). A corpus entry
//! naming a shipped organisation (same name, abbreviation or alias) adds its other names to
//! that entry's aliases instead. A form two entries would claim is kept by the first (shipped
//! entries come first) and dropped from the later ones, forms shorter than two characters and
//! lower-case abbreviations are dropped, so the file always loads. The output is checked by
//! loading it with the shipped taxonomy, countries and people.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wirewatch_classifier::{Classifier, ClassifierConfig};

/// One `[[organisation]]` entry, as `config/organisations.toml` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Org {
    id: String,
    name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ambiguous: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    regions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct OrgFile {
    organisation: Vec<Org>,
}

/// One line of `orgs.jsonl`.
#[derive(Debug, Deserialize)]
struct CorpusOrg {
    key: String,
    abbrev_en: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Person {
    id: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    country: Option<String>,
    role: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PeopleFile {
    person: Vec<Person>,
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn entities_dir() -> PathBuf {
    root().join("../shared/corpus/entities")
}

fn lower(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Every form of an entry, lower-cased.
fn forms(o: &Org) -> impl Iterator<Item = String> + '_ {
    std::iter::once(lower(&o.name)).chain(o.aliases.iter().map(|a| lower(a)))
}

/// An id for a corpus organisation: its name in lower-case ASCII letters and digits joined by
/// `_`, at most 40 characters, made unique with a number.
fn slug(name: &str, taken: &mut HashSet<String>) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') && !s.is_empty() {
            s.push('_');
        }
    }
    let mut base: String = s.trim_end_matches('_').chars().take(36).collect();
    if base.is_empty() {
        base = "org".into();
    }
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

/// Whether a corpus form may become a pattern: at least two characters, and not an
/// abbreviation the loader would match in any case (a lower-case "ama" would hit words).
fn usable(form: &str) -> bool {
    let f = form.trim();
    let letters = f.chars().filter(|c| c.is_alphanumeric()).count();
    letters >= 2 && !(f.chars().count() <= 3 && f.chars().all(|c| c.is_lowercase()))
}

fn read_corpus_orgs() -> Vec<CorpusOrg> {
    std::fs::read_to_string(entities_dir().join("orgs/orgs.jsonl"))
        .expect("orgs.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("orgs.jsonl line"))
        .collect()
}

/// Build the extended organisations list (see the module doc).
fn extended(shipped: &[Org], corpus: &[CorpusOrg]) -> (Vec<Org>, usize, usize) {
    let mut out: Vec<Org> = shipped.to_vec();
    let mut ids: HashSet<String> = out.iter().map(|o| o.id.clone()).collect();
    // Form → index of the entry that claims it.
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (i, o) in out.iter().enumerate() {
        for f in forms(o) {
            owner.entry(f).or_insert(i);
        }
    }
    let (mut merged, mut added) = (0, 0);
    for c in corpus {
        let mut names: Vec<String> = Vec::new();
        for f in std::iter::once(&c.key)
            .chain(c.abbrev_en.iter())
            .chain(c.aliases.iter())
        {
            let f = f.trim().to_string();
            if usable(&f) && !names.iter().any(|n| lower(n) == lower(&f)) {
                names.push(f);
            }
        }
        let Some(first) = names.first().cloned() else {
            continue;
        };
        // A corpus entry naming a shipped organisation extends it.
        let target = names
            .iter()
            .find_map(|n| owner.get(&lower(n)).copied())
            .filter(|&i| i < shipped.len());
        let index = match target {
            Some(i) => {
                merged += 1;
                i
            }
            None => {
                if owner.contains_key(&lower(&first)) {
                    // Its name belongs to an entry added before: a duplicate in the corpus.
                    continue;
                }
                added += 1;
                out.push(Org {
                    id: slug(&c.key, &mut ids),
                    name: first.clone(),
                    aliases: Vec::new(),
                    ambiguous: Vec::new(),
                    regions: Vec::new(),
                });
                owner.insert(lower(&first), out.len() - 1);
                out.len() - 1
            }
        };
        for n in names {
            let key = lower(&n);
            if let std::collections::hash_map::Entry::Vacant(e) = owner.entry(key) {
                e.insert(index);
                out[index].aliases.push(n);
            }
        }
    }
    (out, merged, added)
}

fn write_extended(path: &Path, list: &[Org], merged: usize, added: usize) {
    let body = toml::to_string(&OrgFile {
        organisation: list.to_vec(),
    })
    .expect("serialise");
    let header = format!(
        "# Organisations: wirewatch's hand-curated list (config/organisations.toml, kept verbatim)\n\
         # extended with confirmordeny/supraverden's orgs.jsonl @ 59ab4fa (617 international\n\
         # organisations from Wikidata; {merged} merged into curated entries, {added} added).\n\
         # Generated by `cargo run -p wirewatch-classifier --example entity_lists -- --organisations-out`.\n\
         # Licence: CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), as its source:\n\
         # adapted from \"supraverden\" by confirmordeny; changes: merged, filtered, reformatted.\n\
         # Not shipped with wirewatch (Apache-2.0); point classifier.organisations_file at it.\n\n"
    );
    std::fs::write(path, header + &body).expect("write");
}

/// Load the classifier with `organisations` instead of the shipped list: proves the file loads.
fn check_loads(organisations: &Path) -> Classifier {
    let cfg = ClassifierConfig {
        organisations_file: organisations.to_path_buf(),
        ..ClassifierConfig::with_config_dir(root().join("config"))
    };
    Classifier::load(&cfg)
        .unwrap_or_else(|e| panic!("{} does not load: {e}", organisations.display()))
}

/// Lower-cased country names (name, official name, aliases) → ISO code, from the reference
/// gazetteer.
fn country_codes() -> HashMap<String, String> {
    let text = std::fs::read_to_string(entities_dir().join("countries_gazetteer.jsonl")).unwrap();
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let code = v["iso2"].as_str().unwrap_or("").to_string();
        let mut names = vec![
            v["name"].as_str().unwrap_or(""),
            v["official"].as_str().unwrap_or(""),
        ];
        if let Some(a) = v["aliases"].as_array() {
            names.extend(a.iter().filter_map(|x| x.as_str()));
        }
        for n in names.into_iter().filter(|n| !n.is_empty()) {
            out.entry(lower(n)).or_insert_with(|| code.clone());
        }
    }
    // Our own names next ("Turkey"), and "The Gambia" as "Gambia".
    let ours: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("config/countries.toml")).unwrap())
            .unwrap();
    for c in ours["country"].as_array().unwrap() {
        let code = c["code"].as_str().unwrap().to_string();
        let aliases = c
            .get("aliases")
            .and_then(|a| a.as_array())
            .cloned()
            .unwrap_or_default();
        for n in std::iter::once(&c["name"])
            .chain(aliases.iter())
            .filter_map(|v| v.as_str())
        {
            out.entry(lower(n)).or_insert_with(|| code.clone());
        }
    }
    let the: Vec<(String, String)> = out
        .iter()
        .map(|(k, v)| (format!("the {k}"), v.clone()))
        .collect();
    for (k, v) in the {
        out.entry(k).or_insert(v);
    }
    out
}

/// A letter without its accent, for the Latin letters leaders' names use.
fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'ī' | 'ı' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ō' | 'ő' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'ū' | 'ű' | 'ů' => 'u',
        'ç' | 'č' | 'ć' => 'c',
        'ñ' | 'ń' | 'ň' => 'n',
        'ğ' => 'g',
        'ş' | 'š' | 'ś' | 'ș' => 's',
        'ž' | 'ź' | 'ż' => 'z',
        'ř' => 'r',
        'ý' => 'y',
        'ł' => 'l',
        'ț' | 'ť' => 't',
        'đ' | 'ď' => 'd',
        c => c,
    }
}

/// Whether two spellings of a person's name share their last word, accents and a trailing
/// "y" aside ("Zelensky" / "Zelenskyy", "Erdoğan" / "Erdogan").
fn same_person(a: &str, b: &str) -> bool {
    let last = |s: &str| {
        let w: String = s
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_lowercase()
            .chars()
            .map(fold)
            .filter(|c| c.is_alphanumeric())
            .collect();
        w.trim_end_matches('y').to_string()
    };
    !a.trim().is_empty() && last(a) == last(b)
}

/// People: which countries of the leaders table have their head of state or government in
/// `config/people.toml`, and which of our heads of state or government the table names
/// otherwise (evaluation only: the table has no licence; nothing from it is written).
fn report_people(codes: &HashMap<String, String>) {
    let people: PeopleFile =
        toml::from_str(&std::fs::read_to_string(root().join("config/people.toml")).unwrap())
            .unwrap();
    let with_country = people.person.iter().filter(|p| p.country.is_some()).count();
    let with_role = people.person.iter().filter(|p| p.role.is_some()).count();
    println!(
        "\npeople.toml: {} people, {with_country} with a country, {with_role} with a role",
        people.person.len()
    );
    let text = std::fs::read_to_string(entities_dir().join("leaders/heads_of_state.csv")).unwrap();
    // Code → the table's heads of state and government (rows repeat with other spellings).
    let mut table: Vec<(String, Vec<String>)> = Vec::new();
    let mut unmapped = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [country, state, government] = cols[..] else {
            continue;
        };
        let Some(code) = codes.get(&lower(country)) else {
            unmapped.push(country.to_string());
            continue;
        };
        let heads: Vec<String> = [state, government]
            .into_iter()
            .filter(|h| !h.is_empty() && *h != "N/A")
            .map(str::to_string)
            .collect();
        match table.iter_mut().find(|(c, _)| c == code) {
            Some((_, h)) => h.extend(heads),
            None => table.push((code.clone(), heads)),
        }
    }
    let named = |p: &Person, h: &str| {
        same_person(&p.name, h) || p.aliases.iter().any(|a| same_person(a, h))
    };
    let (mut covered, mut differing) = (0, Vec::new());
    for (code, heads) in &table {
        let ours: Vec<&Person> = people
            .person
            .iter()
            .filter(|p| p.country.as_deref() == Some(code.as_str()))
            .collect();
        covered += usize::from(ours.iter().any(|p| heads.iter().any(|h| named(p, h))));
        for p in &ours {
            let role = p.role.as_deref().unwrap_or("").to_lowercase();
            let head_role = [
                "president of",
                "prime minister",
                "chancellor",
                "king",
                "supreme leader",
            ]
            .iter()
            .any(|r| role.starts_with(r));
            if head_role && !heads.iter().any(|h| named(p, h)) {
                differing.push(format!(
                    "{} ({code}, {})",
                    p.id,
                    p.role.as_deref().unwrap_or("")
                ));
            }
        }
    }
    println!(
        "leaders table (evaluation only): {} countries; {covered} have their head of state or \
         government in people.toml",
        table.len()
    );
    println!(
        "our heads of state/government the table names otherwise ({}), to review: {}",
        differing.len(),
        differing.join("; ")
    );
    if !unmapped.is_empty() {
        println!("table countries without a code: {}", unmapped.join(", "));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .iter()
        .position(|a| a == "--organisations-out")
        .map(|i| PathBuf::from(args.get(i + 1).expect("--organisations-out PATH")));
    let shipped_path = root().join("config/organisations.toml");
    let shipped: OrgFile =
        toml::from_str(&std::fs::read_to_string(&shipped_path).unwrap()).expect("shipped list");
    let corpus = read_corpus_orgs();

    // Coverage of the corpus's organisations by the shipped list.
    let ours: HashSet<String> = shipped.organisation.iter().flat_map(forms).collect();
    let covered = corpus
        .iter()
        .filter(|c| {
            std::iter::once(&c.key)
                .chain(c.abbrev_en.iter())
                .chain(c.aliases.iter())
                .any(|f| ours.contains(&lower(f)))
        })
        .count();
    let shipped_in_corpus = shipped
        .organisation
        .iter()
        .filter(|o| {
            corpus.iter().any(|c| {
                std::iter::once(&c.key)
                    .chain(c.abbrev_en.iter())
                    .chain(c.aliases.iter())
                    .any(|f| forms(o).any(|g| g == lower(f)))
            })
        })
        .count();
    println!(
        "organisations.toml: {} entries, {} forms; {shipped_in_corpus} of them are in orgs.jsonl; \
         they cover {covered} of its {} organisations",
        shipped.organisation.len(),
        ours.len(),
        corpus.len()
    );

    let (list, merged, added) = extended(&shipped.organisation, &corpus);
    let forms_total: usize = list.iter().map(|o| 1 + o.aliases.len()).sum();
    println!(
        "extended list: {} entries ({merged} corpus entries merged into curated ones, {added} added), {forms_total} forms",
        list.len()
    );
    let path = out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "wirewatch-organisations-{}.toml",
            std::process::id()
        ))
    });
    write_extended(&path, &list, merged, added);
    let c = check_loads(&path);
    println!(
        "extended list loads: {} patterns in the shared automaton ({}), rules {:.1} MiB",
        c.patterns().len(),
        if c.automaton_is_dfa() { "DFA" } else { "NFA" },
        c.memory_usage() as f64 / 1048576.0
    );
    match &out {
        Some(p) => println!("written to {} (CC BY-SA 4.0, see its header)", p.display()),
        None => {
            let _ = std::fs::remove_file(&path);
        }
    }
    report_people(&country_codes());
}
