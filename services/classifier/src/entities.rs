//! Named entities: countries (`config/countries.toml`), organisations
//! (`config/organisations.toml`) and people (`config/people.toml`).
//!
//! Each list is one [`Matcher`]. Countries are place evidence only: names, aliases, demonyms,
//! capitals and metonyms ("Kremlin" → RU). A person's mention does not count for their country.
//!
//! **Ambiguity guard** (countries): a form listed in an entry's `ambiguous` ("Turkey", "China",
//! "Jordan", "Chad", "Georgia") counts only if
//! 1. it is written capitalised ("china" is porcelain, "turkey" a bird);
//! 2. the word before it is not in `[ambiguity] before` ("roast Turkey", "Atlanta, Georgia") and
//!    the word after it is not in `[ambiguity] after` ("Turkey dinner", "China cabinet");
//! 3. for forms in `[ambiguity] given_names`, it is not followed, after one space, by a
//!    capitalised word ("Jordan Henderson", "Chad Smith").
//!
//! `not_places` ("Latin America", "Guinea pig") are matched like country forms and then ignored,
//! so leftmost-longest matching lets them swallow the country word inside them. For
//! organisations and people, `ambiguous` forms only need to be capitalised ("Trump", not
//! "trump").

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use wirewatch_proto::v1::{Entity, EntityKind};

use crate::error::{load_toml, ClassifierError};
use crate::matcher::{auto_case, next_word, prev_word, Candidate, CaseMode, Entry, Hit, Matcher};

/// At most this many distinct surface forms are reported per entity.
const MAX_MATCHED_FORMS: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountriesFile {
    #[serde(default)]
    ambiguity: AmbiguitySpec,
    #[serde(default)]
    not_places: Vec<String>,
    #[serde(rename = "country")]
    countries: Vec<CountrySpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmbiguitySpec {
    #[serde(default)]
    before: Vec<String>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    given_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountrySpec {
    code: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    demonyms: Vec<String>,
    #[serde(default)]
    capitals: Vec<String>,
    #[serde(default)]
    metonyms: Vec<String>,
    #[serde(default)]
    ambiguous: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationsFile {
    #[serde(rename = "organisation")]
    organisations: Vec<OrgSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgSpec {
    id: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    ambiguous: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    #[serde(rename = "person")]
    people: Vec<PersonSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonSpec {
    id: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    /// ISO 3166-1 alpha-2 code of the country the role belongs to.
    #[serde(default)]
    country: Option<String>,
    /// Id (in the organisations file) of the international organisation the role belongs to.
    #[serde(default)]
    organisation: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    ambiguous: Vec<String>,
}

/// Per entity while scanning.
#[derive(Debug, Default)]
struct Tally {
    mentions: u32,
    title_mentions: u32,
    lead_mentions: u32,
    first: usize,
    forms: Vec<String>,
}

/// An entity found in a story, with what salience and regions need.
#[derive(Debug, Clone)]
pub(crate) struct Found<'a> {
    pub entity: Entity,
    /// Mentions in the title.
    pub title_mentions: u32,
    /// Mentions in the lead (the first `lead_bytes` of the body).
    pub lead_mentions: u32,
    /// Regions of the entity (countries, organisations such as the EU), borrowed from the list.
    pub regions: &'a [String],
}

/// A region id: 1-40 characters of a-z, 0-9 and _.
fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 40
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_regions(path: &Path, entry: &str, regions: &[String]) -> Result<(), ClassifierError> {
    match regions.iter().find(|r| !valid_region(r)) {
        Some(r) => Err(ClassifierError::invalid(
            path,
            entry,
            "regions",
            format!("{r:?} must be 1-40 characters of a-z, 0-9 and _"),
        )),
        None => Ok(()),
    }
}

/// Target of a pattern: an entity (index into the list) or a stop phrase.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Entity(usize),
    Ignore,
}

/// One entity list (countries, organisations or people) with its automaton.
#[derive(Debug)]
pub(crate) struct EntityList {
    kind: EntityKind,
    ids: Vec<String>,
    names: Vec<String>,
    regions: Vec<Vec<String>>,
    /// Code → index, for flag emoji (countries only; empty otherwise).
    by_code: HashMap<String, usize>,
    matcher: Matcher<Target>,
    guard: Option<Guard>,
}

#[derive(Debug, Default)]
struct Guard {
    before: HashSet<String>,
    after: HashSet<String>,
    given_names: HashSet<String>,
}

/// Describes one form of one entry for loading.
struct Form<'a> {
    entry: String,
    field: &'static str,
    text: &'a str,
    case: CaseMode,
    target: Target,
}

/// Build a list: validates forms (non-empty, not claimed by two entries) and the automaton.
fn build_list(
    path: &Path,
    kind: EntityKind,
    ids: Vec<String>,
    names: Vec<String>,
    regions: Vec<Vec<String>>,
    forms: Vec<Form<'_>>,
    guard: Option<Guard>,
) -> Result<EntityList, ClassifierError> {
    let mut owner: HashMap<String, (Target, String)> = HashMap::new();
    let mut entries = Vec::with_capacity(forms.len());
    for f in forms {
        let text = f.text.trim();
        if text.is_empty() || text == "*" {
            return Err(ClassifierError::invalid(
                path,
                &f.entry,
                f.field,
                "contains an empty name",
            ));
        }
        let key = text.to_ascii_lowercase();
        match owner.get(&key) {
            Some((t, other)) if *t != f.target => {
                return Err(ClassifierError::invalid(
                    path,
                    &f.entry,
                    f.field,
                    format!("{text:?} is already used by {other}"),
                ))
            }
            Some(_) => {}
            None => {
                owner.insert(key, (f.target, f.entry.clone()));
            }
        }
        entries.push(Entry {
            form: text.to_string(),
            case: f.case,
            target: f.target,
        });
    }
    let matcher = Matcher::build(entries);
    let by_code = if kind == EntityKind::Country {
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(EntityList {
        kind,
        ids,
        names,
        regions,
        by_code,
        matcher,
        guard,
    })
}

fn check_ambiguous(
    path: &Path,
    entry: &str,
    ambiguous: &[String],
    all: &[&str],
) -> Result<HashSet<String>, ClassifierError> {
    let mut set = HashSet::new();
    for a in ambiguous {
        if !all.iter().any(|f| f.eq_ignore_ascii_case(a.trim())) {
            return Err(ClassifierError::invalid(
                path,
                entry,
                "ambiguous",
                format!("{a:?} is not one of the entry's names"),
            ));
        }
        set.insert(a.trim().to_ascii_lowercase());
    }
    Ok(set)
}

/// Checks shared by organisation and person entries: a non-empty, unique id and a name.
fn check_id_and_name(
    path: &Path,
    entry: &str,
    id: &str,
    name: &str,
    seen: &mut HashSet<String>,
) -> Result<(), ClassifierError> {
    if id.trim().is_empty() {
        return Err(ClassifierError::invalid(
            path,
            entry,
            "id",
            "must not be empty",
        ));
    }
    if !seen.insert(id.to_string()) {
        return Err(ClassifierError::invalid(path, entry, "id", "duplicate id"));
    }
    if name.trim().is_empty() {
        return Err(ClassifierError::invalid(
            path,
            entry,
            "name",
            "must not be empty",
        ));
    }
    Ok(())
}

/// The forms of a named entry (its name, then its aliases), with the case rule each needs.
fn name_forms<'a>(
    path: &Path,
    entry: &str,
    index: usize,
    name: &'a str,
    aliases: &'a [String],
    ambiguous: &[String],
) -> Result<Vec<Form<'a>>, ClassifierError> {
    let all: Vec<&str> = std::iter::once(name)
        .chain(aliases.iter().map(String::as_str))
        .collect();
    let amb = check_ambiguous(path, entry, ambiguous, &all)?;
    Ok(all
        .iter()
        .enumerate()
        .map(|(n, v)| Form {
            entry: entry.to_string(),
            field: if n == 0 { "name" } else { "aliases" },
            text: v,
            case: case_for(v, &amb),
            target: Target::Entity(index),
        })
        .collect())
}

fn case_for(form: &str, ambiguous: &HashSet<String>) -> CaseMode {
    match auto_case(form) {
        CaseMode::Exact => CaseMode::Exact,
        _ if ambiguous.contains(&form.trim().to_ascii_lowercase()) => CaseMode::Capitalised,
        c => c,
    }
}

impl EntityList {
    /// Load `config/countries.toml`. Returns the list, the set of codes and the file text.
    pub fn load_countries(path: &Path) -> Result<(Self, HashSet<String>, String), ClassifierError> {
        let (file, text): (CountriesFile, String) = load_toml(path)?;
        if file.countries.is_empty() {
            return Err(ClassifierError::invalid(
                path,
                "[[country]]",
                "country",
                "no countries defined",
            ));
        }
        let mut codes = HashSet::new();
        let (mut ids, mut names, mut forms) = (Vec::new(), Vec::new(), Vec::new());
        let mut regions = Vec::new();
        for (i, c) in file.countries.iter().enumerate() {
            let entry = format!("country #{} (code {:?})", i + 1, c.code);
            if c.code.len() != 2 || !c.code.chars().all(|ch| ch.is_ascii_uppercase()) {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "code",
                    "must be an ISO 3166-1 alpha-2 code (two capital letters)",
                ));
            }
            if !codes.insert(c.code.clone()) {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "code",
                    "duplicate code",
                ));
            }
            if c.name.trim().is_empty() {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "name",
                    "must not be empty",
                ));
            }
            let fields: [(&'static str, Vec<&str>); 5] = [
                ("name", vec![c.name.as_str()]),
                ("aliases", c.aliases.iter().map(String::as_str).collect()),
                ("demonyms", c.demonyms.iter().map(String::as_str).collect()),
                ("capitals", c.capitals.iter().map(String::as_str).collect()),
                ("metonyms", c.metonyms.iter().map(String::as_str).collect()),
            ];
            let all: Vec<&str> = fields.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            let amb = check_ambiguous(path, &entry, &c.ambiguous, &all)?;
            for (field, values) in fields {
                for v in values {
                    forms.push(Form {
                        entry: entry.clone(),
                        field,
                        text: v,
                        case: case_for(v, &amb),
                        target: Target::Entity(i),
                    });
                }
            }
            check_regions(path, &entry, &c.regions)?;
            regions.push(c.regions.clone());
            ids.push(c.code.clone());
            names.push(c.name.clone());
        }
        for p in &file.not_places {
            forms.push(Form {
                entry: "not_places".into(),
                field: "not_places",
                text: p,
                case: CaseMode::Insensitive,
                target: Target::Ignore,
            });
        }
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        let guard = Guard {
            before: lower(&file.ambiguity.before),
            after: lower(&file.ambiguity.after),
            given_names: lower(&file.ambiguity.given_names),
        };
        let list = build_list(
            path,
            EntityKind::Country,
            ids,
            names,
            regions,
            forms,
            Some(guard),
        )?;
        Ok((list, codes, text))
    }

    /// Load `config/organisations.toml`.
    pub fn load_organisations(path: &Path) -> Result<(Self, String), ClassifierError> {
        let (file, text): (OrganisationsFile, String) = load_toml(path)?;
        let mut seen = HashSet::new();
        let (mut ids, mut names, mut forms) = (Vec::new(), Vec::new(), Vec::new());
        let mut regions = Vec::new();
        for (i, o) in file.organisations.iter().enumerate() {
            let entry = format!("organisation #{} (id {:?})", i + 1, o.id);
            check_id_and_name(path, &entry, &o.id, &o.name, &mut seen)?;
            forms.extend(name_forms(
                path,
                &entry,
                i,
                &o.name,
                &o.aliases,
                &o.ambiguous,
            )?);
            check_regions(path, &entry, &o.regions)?;
            regions.push(o.regions.clone());
            ids.push(o.id.clone());
            names.push(o.name.clone());
        }
        Ok((
            build_list(
                path,
                EntityKind::Organisation,
                ids,
                names,
                regions,
                forms,
                None,
            )?,
            text,
        ))
    }

    /// Load `config/people.toml`; `countries` are the known codes (a person's `country` must be
    /// one of them), `organisations` the known organisation ids (likewise `organisation`).
    pub fn load_people(
        path: &Path,
        countries: &HashSet<String>,
        organisations: &EntityList,
    ) -> Result<(Self, String), ClassifierError> {
        let (file, text): (PeopleFile, String) = load_toml(path)?;
        let mut seen = HashSet::new();
        let (mut ids, mut names, mut forms) = (Vec::new(), Vec::new(), Vec::new());
        for (i, p) in file.people.iter().enumerate() {
            let entry = format!("person #{} (id {:?})", i + 1, p.id);
            check_id_and_name(path, &entry, &p.id, &p.name, &mut seen)?;
            if let Some(c) = &p.country {
                if !countries.contains(c) {
                    return Err(ClassifierError::invalid(
                        path,
                        entry,
                        "country",
                        format!("{c:?} is not a code in the countries file"),
                    ));
                }
            }
            if let Some(o) = &p.organisation {
                if !organisations.ids.contains(o) {
                    return Err(ClassifierError::invalid(
                        path,
                        entry,
                        "organisation",
                        format!("{o:?} is not an id in the organisations file"),
                    ));
                }
            }
            if p.role.as_deref().is_some_and(|r| r.trim().is_empty()) {
                return Err(ClassifierError::invalid(
                    path,
                    entry,
                    "role",
                    "must not be empty when given",
                ));
            }
            forms.extend(name_forms(
                path,
                &entry,
                i,
                &p.name,
                &p.aliases,
                &p.ambiguous,
            )?);
            ids.push(p.id.clone());
            names.push(p.name.clone());
        }
        let regions = vec![Vec::new(); ids.len()];
        Ok((
            build_list(path, EntityKind::Person, ids, names, regions, forms, None)?,
            text,
        ))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    fn guard_accepts(&self, text: &str, hit: &Hit) -> bool {
        let p = self.matcher.pattern(hit.pattern);
        let (Some(g), CaseMode::Capitalised) = (&self.guard, p.case) else {
            return true;
        };
        let before = prev_word(text, hit.start).to_ascii_lowercase();
        let (after, one_space) = next_word(text, hit.end);
        if g.before.contains(&before) || g.after.contains(&after.to_ascii_lowercase()) {
            return false;
        }
        let given_name = g.given_names.contains(&p.form.to_ascii_lowercase());
        !(given_name && one_space && after.chars().next().is_some_and(char::is_uppercase))
    }

    /// Find the entities in a title and a body, each given with this list's candidates of
    /// one scan, most mentioned first (ties: first mentioned first). Mentions in the title and
    /// in the first `lead_bytes` of the body are tallied for salience. Countries also count
    /// flag emoji ("🇺🇦"). `hits` is scratch.
    pub fn find(
        &self,
        title: (&str, &[Candidate]),
        body: (&str, &[Candidate]),
        lead_bytes: usize,
        hits: &mut Vec<Hit>,
    ) -> Vec<Found<'_>> {
        // (entity index, tally): a story names few entities, a vector beats a map.
        let mut found: Vec<(usize, Tally)> = Vec::new();
        let mut offset = 0;
        for (n, (text, cands)) in [title, body].into_iter().enumerate() {
            let mut tally = |i: usize, start: usize, form: &str| {
                let k = match found.iter().position(|(j, _)| *j == i) {
                    Some(k) => k,
                    None => {
                        let first = offset + start;
                        found.push((
                            i,
                            Tally {
                                first,
                                ..Tally::default()
                            },
                        ));
                        found.len() - 1
                    }
                };
                let e = &mut found[k].1;
                e.mentions = e.mentions.saturating_add(1);
                if n == 0 {
                    e.title_mentions = e.title_mentions.saturating_add(1);
                } else if start < lead_bytes {
                    e.lead_mentions = e.lead_mentions.saturating_add(1);
                }
                if e.forms.len() < MAX_MATCHED_FORMS && !e.forms.iter().any(|f| f == form) {
                    e.forms.push(form.to_string());
                }
            };
            self.matcher
                .resolve(text, cands, |t, h| self.guard_accepts(t, h), hits);
            for hit in hits.iter() {
                let p = self.matcher.pattern(hit.pattern);
                for target in &p.targets {
                    let Target::Entity(i) = *target else { continue };
                    tally(i, hit.start, &p.form);
                }
            }
            if !self.by_code.is_empty() {
                for (start, flag, code) in flags(text) {
                    if let Some(&i) = self.by_code.get(code.as_str()) {
                        tally(i, start, flag);
                    }
                }
            }
            offset += text.len() + 1;
        }
        found.sort_by(|a, b| {
            b.1.mentions
                .cmp(&a.1.mentions)
                .then(a.1.first.cmp(&b.1.first))
        });
        found
            .into_iter()
            .map(|(i, t)| Found {
                entity: Entity {
                    kind: self.kind,
                    id: self.ids[i].clone(),
                    name: self.names[i].clone(),
                    mentions: t.mentions,
                    matched: t.forms,
                    salience: None,
                },
                title_mentions: t.title_mentions,
                lead_mentions: t.lead_mentions,
                regions: &self.regions[i],
            })
            .collect()
    }

    /// All configured forms, in pattern order (for the shared scanner and the throughput
    /// baseline).
    pub fn pattern_forms(&self) -> impl Iterator<Item = &str> {
        self.matcher.forms()
    }

    /// Heap bytes of the automaton and the lists.
    pub fn memory_usage(&self) -> usize {
        let strings = |v: &[String]| v.iter().map(String::capacity).sum::<usize>();
        self.matcher.memory_usage()
            + strings(&self.ids)
            + strings(&self.names)
            + self.regions.iter().map(|r| strings(r)).sum::<usize>()
    }
}

/// Flag emoji (pairs of regional indicator symbols) in `text`: (byte start, the flag, the
/// two-letter code it spells).
fn flags(text: &str) -> Vec<(usize, &str, String)> {
    const A: u32 = 0x1F1E6;
    // Every flag letter is a 4-byte sequence starting with 0xF0: most texts have none.
    if !text.as_bytes().contains(&0xF0) {
        return Vec::new();
    }
    let letter = |c: char| {
        let u = c as u32;
        (A..A + 26)
            .contains(&u)
            .then(|| char::from(b'A' + (u - A) as u8))
    };
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let Some(l1) = letter(c) else { continue };
        if let Some(&(j, c2)) = it.peek() {
            if let Some(l2) = letter(c2) {
                it.next();
                out.push((i, &text[i..j + c2.len_utf8()], format!("{l1}{l2}")));
            }
        }
    }
    out
}
