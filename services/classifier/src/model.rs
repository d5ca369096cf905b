//! A small supervised topic model users train on their own labelled stories
//! (`wirewatch train`), combined with the keyword rules at classification time.
//!
//! **Model**: multinomial logistic regression (softmax) over hashed features: word unigrams
//! and bigrams and character n-grams of each word (with `<` `>` word-boundary marks), counted
//! as `ln(1 + tf)` and L2-normalised; the title is counted `title_repeat` times. Trained by
//! stochastic gradient descent with a decaying learning rate, L2 weight decay on the touched
//! weights, and a seeded shuffle, so the same data and options give the same file.
//!
//! **File**: JSON, `{"format": "wirewatch-topic-model", "format_version": 1, "labels": [..],
//! "features": {..}, "bias": [..], "rows": [[feature index, [weight per label]], ..], ..}`;
//! only rows with a weight of magnitude at least `prune_below` are stored.
//!
//! **Combination with the rules** (see `Classifier::classify`): for each model label (a
//! taxonomy topic id), `score = (1 − model_weight) · rule score + model_weight · p`, a linear
//! interpolation of the rule score and the model probability `p`, where for a topic that is
//! not a model label `p` is the probability of its nearest ancestor that is (a child such as
//! `diplomacy` inherits `politics`), and 0 when it has none: a model trained on a label set
//! claims its stories fall among those labels, so topics outside keep only the rules' share.
//! (A noisy-OR, and leaving topics outside the label set at their rule score, were both
//! measured worse on BBC: rule scores saturate near 1 and the model could not overrule
//! them.) Then every parent is raised to at least its children's score, and
//! `min_topic_score` / `max_topics` select as before.
//!
//! **Training data**: JSON lines `{"title": .., "body" | "summary" | "content": .., "label":
//! "x" | "labels": ["x", "y"]}`; a story with several labels spreads its target evenly.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ClassifierError;

/// Value of the `format` field of a model file.
pub const MODEL_FORMAT: &str = "wirewatch-topic-model";
/// Version of the model file format this crate reads and writes.
pub const MODEL_FORMAT_VERSION: u32 = 1;
/// A model file larger than this is refused (bounded memory at load).
pub const MAX_MODEL_BYTES: u64 = 512 * 1024 * 1024;
/// A training line longer than this is refused.
pub const MAX_TRAIN_LINE_BYTES: usize = 4 * 1024 * 1024;
/// At most this many bytes of training data are read (the examples are held in memory).
pub const MAX_TRAIN_BYTES: u64 = 1024 * 1024 * 1024;
/// At most this many training examples are read.
pub const MAX_TRAIN_EXAMPLES: usize = 1_000_000;
/// At most this many labels.
pub const MAX_LABELS: usize = 256;
/// At most this many bytes of title + body are turned into features.
const MAX_FEATURE_BYTES: usize = 32 * 1024;
/// Feature vectors are cached across epochs while their total size stays below this many
/// entries (about 8 bytes each); beyond it they are recomputed per epoch.
const MAX_CACHED_FEATURES: usize = 40_000_000;

/// How texts become features. Stored in the model file: prediction uses the training
/// options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureOptions {
    /// Features are hashed into 2^hash_bits buckets (10 to 24).
    pub hash_bits: u8,
    /// Word n-grams up to this length (1 = unigrams, 2 = also bigrams; 1 to 3).
    pub word_ngrams: u8,
    /// Shortest character n-gram inside a word (0 = no character n-grams).
    pub char_ngram_min: u8,
    /// Longest character n-gram inside a word.
    pub char_ngram_max: u8,
    /// The title's features are counted this many times (1 to 5).
    pub title_repeat: u8,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        Self {
            hash_bits: 18,
            word_ngrams: 2,
            char_ngram_min: 3,
            char_ngram_max: 5,
            title_repeat: 2,
        }
    }
}

/// Options of [`train`] (`wirewatch train` flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainOptions {
    /// Feature extraction.
    pub features: FeatureOptions,
    /// Passes over the data (1 to 100).
    pub epochs: u32,
    /// Initial learning rate; epoch `e` uses `learning_rate / (1 + e)`.
    pub learning_rate: f64,
    /// L2 weight decay per update of a weight.
    pub l2: f64,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Input label → output label (a taxonomy topic id), e.g. `business` → `economy`.
    /// Labels not in the map are kept as they are.
    pub label_map: BTreeMap<String, String>,
    /// Rows whose largest weight magnitude is below this are not written.
    pub prune_below: f32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            features: FeatureOptions::default(),
            epochs: 10,
            learning_rate: 0.5,
            l2: 1e-6,
            seed: 1,
            label_map: BTreeMap::new(),
            prune_below: 1e-4,
        }
    }
}

/// What [`train`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// Examples read.
    pub examples: usize,
    /// Labels (after `label_map`) with their number of examples.
    pub labels: Vec<(String, usize)>,
    /// Accuracy of the trained model on its own training data (an upper bound, not a
    /// measure of quality: use cross-validation for that).
    pub training_accuracy: f64,
    /// Feature rows written.
    pub rows: usize,
    /// The model file.
    pub output: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// One labelled story.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Title (may be empty).
    pub title: String,
    /// Body, summary or content (may be empty).
    pub body: String,
    /// Labels (at least one).
    pub labels: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format: String,
    format_version: u32,
    labels: Vec<String>,
    features: FeatureOptions,
    #[serde(default)]
    trained: BTreeMap<String, serde_json::Value>,
    bias: Vec<f32>,
    rows: Vec<(u32, Vec<f32>)>,
}

/// A loaded or trained model.
#[derive(Debug, Clone)]
pub struct Model {
    features: FeatureOptions,
    labels: Vec<String>,
    /// Row-major: `weights[feature * labels + label]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

fn check_features(f: &FeatureOptions) -> Result<(), String> {
    if !(10..=24).contains(&f.hash_bits) {
        return Err("hash_bits must be 10 to 24".into());
    }
    if !(1..=3).contains(&f.word_ngrams) {
        return Err("word_ngrams must be 1 to 3".into());
    }
    if f.char_ngram_min > 0 && (f.char_ngram_min > f.char_ngram_max || f.char_ngram_max > 8) {
        return Err("char n-grams need char_ngram_min <= char_ngram_max <= 8".into());
    }
    if !(1..=5).contains(&f.title_repeat) {
        return Err("title_repeat must be 1 to 5".into());
    }
    Ok(())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ seed.wrapping_mul(FNV_PRIME);
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 finaliser of a combination: order matters ("new york" ≠ "york new").
    let mut z = a.rotate_left(17) ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashed, `ln(1 + tf)`-weighted, L2-normalised features of a story, sorted by index.
pub(crate) fn featurize(title: &str, body: &str, f: &FeatureOptions) -> Vec<(u32, f32)> {
    let mask = (1u64 << f.hash_bits) - 1;
    let mut counts: HashMap<u32, f32> = HashMap::new();
    let title = crate::truncate(title, MAX_FEATURE_BYTES / 4);
    let body = crate::truncate(body, MAX_FEATURE_BYTES);
    let mut add_text = |text: &str, times: f32| {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let hashes: Vec<u64> = words.iter().map(|w| fnv(1, w.as_bytes())).collect();
        for n in 1..=usize::from(f.word_ngrams) {
            for win in hashes.windows(n) {
                let h = win.iter().skip(1).fold(win[0], |acc, h| mix(acc, *h));
                let h = mix(h, n as u64);
                *counts.entry((h & mask) as u32).or_default() += times;
            }
        }
        if f.char_ngram_min > 0 {
            let mut chars: Vec<char> = Vec::with_capacity(34);
            for w in &words {
                chars.clear();
                chars.push('<');
                chars.extend(w.chars().take(32));
                chars.push('>');
                for n in usize::from(f.char_ngram_min)..=usize::from(f.char_ngram_max) {
                    for win in chars.windows(n) {
                        let mut buf = [0u8; 4 * 8];
                        let mut len = 0;
                        for c in win {
                            len += c.encode_utf8(&mut buf[len..]).len();
                        }
                        let h = fnv(2 + n as u64, &buf[..len]);
                        *counts.entry((h & mask) as u32).or_default() += times;
                    }
                }
            }
        }
    };
    add_text(title, f32::from(f.title_repeat));
    add_text(body, 1.0);
    let mut v: Vec<(u32, f32)> = counts.into_iter().map(|(i, c)| (i, c.ln_1p())).collect();
    // Sorted before summing: the same story gives bit-identical features.
    v.sort_unstable_by_key(|(i, _)| *i);
    let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, x) in &mut v {
            *x /= norm;
        }
    }
    v
}

fn softmax(scores: &mut [f64]) {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        for s in scores.iter_mut() {
            *s /= sum;
        }
    }
}

/// xorshift64*: a small deterministic generator for the shuffle.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Model {
    /// Train on examples. Fails when there are no examples, fewer than two labels, more than
    /// [`MAX_LABELS`], or the options are out of range.
    pub fn fit(examples: &[Example], opts: &TrainOptions) -> Result<Self, ClassifierError> {
        let bad = |reason: String| ClassifierError::Train { reason };
        check_features(&opts.features).map_err(bad)?;
        if !(1..=100).contains(&opts.epochs) {
            return Err(bad("epochs must be 1 to 100".into()));
        }
        if !(opts.learning_rate.is_finite() && opts.learning_rate > 0.0) {
            return Err(bad("learning_rate must be a positive number".into()));
        }
        if !(opts.l2.is_finite() && opts.l2 >= 0.0 && opts.l2 < 1.0) {
            return Err(bad("l2 must be in [0, 1)".into()));
        }
        if examples.is_empty() {
            return Err(bad("no training examples".into()));
        }
        let mut labels: Vec<String> = examples
            .iter()
            .flat_map(|e| e.labels.iter().cloned())
            .collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(bad(format!("need at least two labels, found {labels:?}")));
        }
        if labels.len() > MAX_LABELS {
            return Err(bad(format!(
                "{} labels; at most {MAX_LABELS}",
                labels.len()
            )));
        }
        let index: HashMap<&str, usize> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let targets: Vec<Vec<usize>> = examples
            .iter()
            .map(|e| {
                e.labels
                    .iter()
                    .filter_map(|l| index.get(l.as_str()).copied())
                    .collect()
            })
            .collect();
        let k = labels.len();
        let dim = 1usize << opts.features.hash_bits;
        let mut model = Model {
            features: opts.features.clone(),
            labels,
            weights: vec![0.0; dim * k],
            bias: vec![0.0; k],
        };
        // Cache feature vectors while they fit the budget.
        let mut cache: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut cached = 0usize;
        for e in examples {
            let v = featurize(&e.title, &e.body, &opts.features);
            cached += v.len();
            if cached > MAX_CACHED_FEATURES {
                cache.clear();
                break;
            }
            cache.push(v);
        }
        let use_cache = cache.len() == examples.len();
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = Rng(opts.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut scores = vec![0.0f64; k];
        for epoch in 0..opts.epochs {
            for i in (1..order.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let lr = opts.learning_rate / (1.0 + f64::from(epoch));
            let decay = (1.0 - lr * opts.l2) as f32;
            for &n in &order {
                let owned;
                let x: &[(u32, f32)] = if use_cache {
                    &cache[n]
                } else {
                    owned = featurize(&examples[n].title, &examples[n].body, &opts.features);
                    &owned
                };
                if targets[n].is_empty() {
                    continue;
                }
                model.scores_into(x, &mut scores);
                softmax(&mut scores);
                let share = 1.0 / targets[n].len() as f64;
                for t in &targets[n] {
                    scores[*t] -= share;
                }
                // scores now holds the gradient p − y.
                for (label, g) in scores.iter().enumerate() {
                    model.bias[label] -= (lr * g) as f32;
                }
                for &(j, xv) in x {
                    let row = &mut model.weights[j as usize * k..(j as usize + 1) * k];
                    for (w, g) in row.iter_mut().zip(&scores) {
                        *w = *w * decay - (lr * g) as f32 * xv;
                    }
                }
            }
        }
        Ok(model)
    }

    fn scores_into(&self, x: &[(u32, f32)], scores: &mut [f64]) {
        let k = self.labels.len();
        for (s, b) in scores.iter_mut().zip(&self.bias) {
            *s = f64::from(*b);
        }
        for &(j, xv) in x {
            let row = &self.weights[j as usize * k..(j as usize + 1) * k];
            for (s, w) in scores.iter_mut().zip(row) {
                *s += f64::from(*w * xv);
            }
        }
    }

    /// Probability of each label (in [`Model::labels`] order) for a story.
    pub fn predict(&self, title: &str, body: &str) -> Vec<f64> {
        let x = featurize(title, body, &self.features);
        let mut scores = vec![0.0; self.labels.len()];
        self.scores_into(&x, &mut scores);
        softmax(&mut scores);
        scores
    }

    /// The label set, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Heap bytes of the weights.
    pub fn memory_usage(&self) -> usize {
        self.weights.capacity() * 4 + self.bias.capacity() * 4
    }

    /// Write the model as JSON; returns the rows written and the file size.
    pub fn save(
        &self,
        path: &Path,
        prune_below: f32,
        trained: BTreeMap<String, serde_json::Value>,
    ) -> Result<(usize, u64), ClassifierError> {
        let k = self.labels.len();
        let rows: Vec<(u32, Vec<f32>)> = self
            .weights
            .chunks(k)
            .enumerate()
            .filter(|(_, r)| r.iter().any(|w| w.abs() >= prune_below))
            .map(|(i, r)| (i as u32, r.to_vec()))
            .collect();
        let n = rows.len();
        let file = ModelFile {
            format: MODEL_FORMAT.into(),
            format_version: MODEL_FORMAT_VERSION,
            labels: self.labels.clone(),
            features: self.features.clone(),
            trained,
            bias: self.bias.clone(),
            rows,
        };
        let write_err = |source| ClassifierError::Write {
            path: path.to_path_buf(),
            source,
        };
        // Write to a temporary file next to the target, then rename: a crash never leaves
        // half a model where the classifier will look.
        let tmp = path.with_extension("tmp");
        let f = std::fs::File::create(&tmp).map_err(write_err)?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer(&mut w, &file).map_err(|e| write_err(std::io::Error::other(e)))?;
        w.flush().map_err(write_err)?;
        drop(w);
        std::fs::rename(&tmp, path).map_err(write_err)?;
        let bytes = std::fs::metadata(path).map_err(write_err)?.len();
        Ok((n, bytes))
    }

    /// Load a model file. Returns the model and the file's text (for the version hash).
    /// Errors name the file: unreadable, too large, not JSON, wrong format or version,
    /// inconsistent shapes.
    pub fn load(path: &Path) -> Result<(Self, String), ClassifierError> {
        let bad = |reason: String| ClassifierError::Model {
            path: path.to_path_buf(),
            reason,
        };
        let read = |source| ClassifierError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_MODEL_BYTES {
            return Err(bad(format!(
                "{len} bytes; larger than the limit of {MAX_MODEL_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let file: ModelFile =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a model file: {e}")))?;
        if file.format != MODEL_FORMAT {
            return Err(bad(format!(
                "`format` is {:?}, expected {MODEL_FORMAT:?}",
                file.format
            )));
        }
        if file.format_version != MODEL_FORMAT_VERSION {
            return Err(bad(format!(
                "`format_version` {} is not supported (this build reads {MODEL_FORMAT_VERSION})",
                file.format_version
            )));
        }
        check_features(&file.features).map_err(|e| bad(format!("`features`: {e}")))?;
        let k = file.labels.len();
        if !(2..=MAX_LABELS).contains(&k) {
            return Err(bad(format!("`labels`: {k} labels, need 2 to {MAX_LABELS}")));
        }
        let mut sorted = file.labels.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != k {
            return Err(bad("`labels` has duplicates".into()));
        }
        if file.bias.len() != k || file.bias.iter().any(|b| !b.is_finite()) {
            return Err(bad("`bias` must have one finite number per label".into()));
        }
        let dim = 1usize << file.features.hash_bits;
        let mut weights = vec![0.0f32; dim * k];
        for (n, (i, row)) in file.rows.iter().enumerate() {
            let i = *i as usize;
            if i >= dim || row.len() != k || row.iter().any(|w| !w.is_finite()) {
                return Err(bad(format!(
                    "`rows` #{}: index must be below {dim} and the row must have {k} finite weights",
                    n + 1
                )));
            }
            weights[i * k..(i + 1) * k].copy_from_slice(row);
        }
        Ok((
            Self {
                features: file.features,
                labels: file.labels,
                weights,
                bias: file.bias,
            },
            text,
        ))
    }
}

/// Read labelled stories (JSON lines, see the module doc). Blank lines are skipped; labels
/// are mapped through `label_map`. Errors name the file and line.
pub fn read_examples(
    path: &Path,
    label_map: &BTreeMap<String, String>,
) -> Result<Vec<Example>, ClassifierError> {
    let f = std::fs::File::open(path).map_err(|source| ClassifierError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(f);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut total = 0u64;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_TRAIN_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| ClassifierError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        total += n as u64;
        let bad = |reason: String| ClassifierError::Data {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        if buf.len() > MAX_TRAIN_LINE_BYTES {
            return Err(bad(format!("longer than {MAX_TRAIN_LINE_BYTES} bytes")));
        }
        if total > MAX_TRAIN_BYTES {
            return Err(bad(format!(
                "training data beyond {MAX_TRAIN_BYTES} bytes; sample it"
            )));
        }
        let line = std::str::from_utf8(&buf).map_err(|_| bad("not UTF-8".into()))?;
        if line.trim().is_empty() {
            continue;
        }
        if out.len() >= MAX_TRAIN_EXAMPLES {
            return Err(bad(format!("more than {MAX_TRAIN_EXAMPLES} examples")));
        }
        out.push(parse_example(line, label_map).map_err(bad)?);
    }
    Ok(out)
}

fn parse_example(line: &str, label_map: &BTreeMap<String, String>) -> Result<Example, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let text = |key: &str| -> Result<String, String> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let title = text("title")?;
    let mut body = String::new();
    for key in ["body", "summary", "content"] {
        let t = text(key)?;
        if !t.trim().is_empty() {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&t);
        }
    }
    if title.trim().is_empty() && body.trim().is_empty() {
        return Err("needs a non-empty `title`, `body`, `summary` or `content`".into());
    }
    let mut labels: Vec<String> = match (obj.get("label"), obj.get("labels")) {
        (Some(serde_json::Value::String(l)), None) => vec![l.clone()],
        (None, Some(serde_json::Value::Array(a))) => a
            .iter()
            .map(|l| {
                l.as_str()
                    .map(str::to_string)
                    .ok_or("`labels` must be strings")
            })
            .collect::<Result<_, _>>()?,
        (Some(_), Some(_)) => return Err("give `label` or `labels`, not both".into()),
        _ => return Err("needs `label` (a string) or `labels` (an array of strings)".into()),
    };
    for l in &mut labels {
        let t = l.trim();
        if t.is_empty() {
            return Err("empty label".into());
        }
        *l = label_map.get(t).cloned().unwrap_or_else(|| t.to_string());
    }
    labels.sort();
    labels.dedup();
    if labels.is_empty() {
        return Err("`labels` is empty".into());
    }
    Ok(Example {
        title,
        body,
        labels,
    })
}

/// Train a model on the JSON lines at `input` and write it to `output` (see the module doc
/// for both formats). The labels (after `label_map`) must be the taxonomy topic ids the
/// model will score; [`crate::Classifier::load`] checks that when the model is used.
pub fn train(
    input: &Path,
    output: &Path,
    opts: &TrainOptions,
) -> Result<TrainReport, ClassifierError> {
    let examples = read_examples(input, &opts.label_map)?;
    let model = Model::fit(&examples, opts)?;
    let correct = examples
        .iter()
        .filter(|e| {
            let p = model.predict(&e.title, &e.body);
            argmax(&p).is_some_and(|i| e.labels.contains(&model.labels[i]))
        })
        .count();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in &examples {
        for l in &e.labels {
            *counts.entry(l.clone()).or_default() += 1;
        }
    }
    let mut trained = BTreeMap::new();
    trained.insert("examples".into(), serde_json::json!(examples.len()));
    trained.insert("epochs".into(), serde_json::json!(opts.epochs));
    trained.insert(
        "learning_rate".into(),
        serde_json::json!(opts.learning_rate),
    );
    trained.insert("l2".into(), serde_json::json!(opts.l2));
    trained.insert("seed".into(), serde_json::json!(opts.seed));
    trained.insert(
        "by".into(),
        serde_json::json!(concat!("wirewatch-classifier ", env!("CARGO_PKG_VERSION"))),
    );
    let (rows, bytes) = model.save(output, opts.prune_below, trained)?;
    Ok(TrainReport {
        examples: examples.len(),
        labels: counts.into_iter().collect(),
        training_accuracy: correct as f64 / examples.len() as f64,
        rows,
        output: output.to_path_buf(),
        bytes,
    })
}

/// Index of the largest value.
pub fn argmax(v: &[f64]) -> Option<usize> {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ex(title: &str, label: &str) -> Example {
        Example {
            title: title.into(),
            body: String::new(),
            labels: vec![label.into()],
        }
    }

    #[test]
    fn learns_separable_data_and_round_trips() {
        let mut data = Vec::new();
        for i in 0..20 {
            data.push(ex(&format!("goal striker match league {i}"), "sport"));
            data.push(ex(&format!("shares profit market bank {i}"), "economy"));
        }
        let opts = TrainOptions {
            features: FeatureOptions {
                hash_bits: 12,
                ..FeatureOptions::default()
            },
            ..TrainOptions::default()
        };
        let m = Model::fit(&data, &opts).unwrap();
        assert_eq!(m.labels(), ["economy", "sport"]);
        let p = m.predict("the striker scored in the league match", "");
        assert!(p[1] > 0.8, "{p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        m.save(&path, 0.0, BTreeMap::new()).unwrap();
        let (back, _) = Model::load(&path).unwrap();
        let q = back.predict("the striker scored in the league match", "");
        assert!((p[1] - q[1]).abs() < 1e-6);
        // Deterministic: the same data and options give the same model.
        let m2 = Model::fit(&data, &opts).unwrap();
        assert!(m.weights == m2.weights, "training is not deterministic");
    }

    #[test]
    fn bad_inputs_are_named() {
        let map = BTreeMap::from([("business".to_string(), "economy".to_string())]);
        let e = parse_example(r#"{"title":"t","label":"business"}"#, &map).unwrap();
        assert_eq!(e.labels, ["economy"]);
        let e = parse_example(r#"{"summary":"s","labels":["a","b","a"]}"#, &map).unwrap();
        assert_eq!(e.labels, ["a", "b"]);
        assert!(parse_example(r#"{"title":"t"}"#, &map)
            .unwrap_err()
            .contains("label"));
        assert!(parse_example(r#"{"label":"x"}"#, &map)
            .unwrap_err()
            .contains("title"));
        assert!(parse_example("nope", &map).unwrap_err().contains("JSON"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(
            &p,
            "{\"title\":\"a\",\"label\":\"x\"}\n\n{\"title\":5,\"label\":\"y\"}\n",
        )
        .unwrap();
        let err = read_examples(&p, &map).unwrap_err().to_string();
        assert!(
            err.contains("d.jsonl") && err.contains("line 3") && err.contains("`title`"),
            "{err}"
        );
        let bad = dir.path().join("m.json");
        std::fs::write(&bad, r#"{"format":"other","format_version":1,"labels":["a","b"],"features":{"hash_bits":12,"word_ngrams":1,"char_ngram_min":0,"char_ngram_max":0,"title_repeat":1},"bias":[0,0],"rows":[]}"#).unwrap();
        let err = Model::load(&bad).unwrap_err().to_string();
        assert!(err.contains("m.json") && err.contains("format"), "{err}");
        let err = Model::fit(&[ex("a", "x")], &TrainOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("two labels"), "{err}");
    }
}
