//! Training the model on labelled posts: logistic regression, one output for "negative" and one for
//! "positive", by AdaGrad over the hashed features, with classes weighted to balance. Seeded and
//! single-threaded per run, so the same data and options give the same weights bit for bit.
//!
//! Calibration comes from out-of-fold predictions on the training data only (k folds, each
//! predicted by a model that never saw it): per language the threshold of the model alone and the
//! offset that makes `sentiment <= -0.05` of the fused sentiment its best negative-vs-rest
//! decision. Splits meant for reporting are never read here.

use std::collections::BTreeMap;
use std::path::Path;

use earshot_core::scoring::NEGATIVE_SENTIMENT;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Calibration, Features, LexiconReading, Model, OUTPUTS, Reading};
use crate::text::decode_escapes;

/// How much more negative the model must read a post in a language it has no training data for.
const UNSEEN_LANGUAGE_MARGIN: f32 = 0.15;
/// The lexicon's share in the fused sentiment of such a post.
const UNSEEN_LANGUAGE_LEXICON_SHARE: f32 = 0.5;

/// A post's human label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Negative.
    Negative,
    /// Neither.
    Neutral,
    /// Positive.
    Positive,
}

impl Label {
    /// Parses `negative`, `neutral` or `positive`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "negative" => Some(Self::Negative),
            "neutral" => Some(Self::Neutral),
            "positive" => Some(Self::Positive),
            _ => None,
        }
    }
}

/// One labelled post.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Text, escapes decoded.
    pub text: String,
    /// Its language (ISO 639-1).
    pub language: String,
    /// Its label.
    pub label: Label,
}

/// A corpus that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `label<TAB>text`.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a `label<TAB>text` file with a header line (the format of `../shared/data/train`).
pub fn read_tsv(path: &Path, language: &str) -> Result<Vec<Example>, CorpusError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io { path: name.clone(), source })?;
    let mut examples = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let error = |reason: &str| CorpusError::Line { path: name.clone(), line: index + 1, reason: reason.to_owned() };
        let (label, body) = line.split_once('\t').ok_or_else(|| error("expected label<TAB>text"))?;
        let label = Label::parse(label).ok_or_else(|| error("label must be negative, neutral or positive"))?;
        examples.push(Example { text: decode_escapes(body), language: language.to_owned(), label });
    }
    Ok(examples)
}

/// Which files of a corpus folder are for training and which only for reporting.
#[derive(Debug, Clone)]
pub struct Split {
    /// Language.
    pub language: &'static str,
    /// Files trained on.
    pub train: Vec<&'static str>,
    /// Files never trained on, reported on.
    pub test: Vec<&'static str>,
}

/// The splits of `../shared/data/train`, as its README prescribes: English trains on TweetEval
/// train and reports on test and val; the other languages train on XLM-T train + val and report on
/// test.
pub fn standard_splits() -> Vec<Split> {
    let mut splits = vec![Split {
        language: "en",
        train: vec!["tweeteval_sentiment_en_train.tsv"],
        test: vec!["tweeteval_sentiment_en_test.tsv", "tweeteval_sentiment_en_val.tsv"],
    }];
    let xlmt: [(&str, [&str; 3]); 5] = [
        ("es", ["xlmt_sentiment_es_train.tsv", "xlmt_sentiment_es_val.tsv", "xlmt_sentiment_es_test.tsv"]),
        ("fr", ["xlmt_sentiment_fr_train.tsv", "xlmt_sentiment_fr_val.tsv", "xlmt_sentiment_fr_test.tsv"]),
        ("de", ["xlmt_sentiment_de_train.tsv", "xlmt_sentiment_de_val.tsv", "xlmt_sentiment_de_test.tsv"]),
        ("it", ["xlmt_sentiment_it_train.tsv", "xlmt_sentiment_it_val.tsv", "xlmt_sentiment_it_test.tsv"]),
        ("pt", ["xlmt_sentiment_pt_train.tsv", "xlmt_sentiment_pt_val.tsv", "xlmt_sentiment_pt_test.tsv"]),
    ];
    for (language, [train, val, test]) in xlmt {
        splits.push(Split { language, train: vec![train, val], test: vec![test] });
    }
    splits
}

/// How to train.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// log2 of the number of hash buckets.
    pub buckets_log2: u32,
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad's learning rate.
    pub learning_rate: f32,
    /// L2 penalty, applied to the weights each example touches.
    pub l2: f32,
    /// Shuffling seed.
    pub seed: u64,
    /// Folds for the out-of-fold calibration.
    pub folds: usize,
    /// Per language: the least share of the lexicon's compound in the fused sentiment (English
    /// keeps VADER's say, whose scale people read; elsewhere out-of-fold F1 decides).
    pub min_lexicon_shares: BTreeMap<String, f32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            buckets_log2: 19,
            epochs: 2,
            learning_rate: 0.2,
            l2: 1e-6,
            seed: 20_261_202,
            folds: 5,
            min_lexicon_shares: [("en".to_owned(), 0.5)].into(),
        }
    }
}

/// An example as the trainer sees it.
struct Prepared {
    features: Vec<(u32, f32)>,
    language: usize,
    label: Label,
    lexicon: f32,
}

/// Out-of-fold scores of one language, for people.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FoldScore {
    /// Examples of the language.
    pub examples: usize,
    /// Negative-vs-rest F1 of the model alone at its threshold.
    pub model_f1: f64,
    /// F1 of the fused `sentiment <= -0.05`.
    pub fused_f1: f64,
    /// F1 of the lexicon alone, `compound <= -0.05`.
    pub lexicon_f1: f64,
}

/// Trains on `examples`. `read` gives a text's words (as the classifier tokenizes them) and the
/// lexicon's reading in the given language, exactly as the classifier will at run time.
pub fn train(
    examples: &[Example],
    read: impl Fn(&str, &str) -> (Vec<String>, LexiconReading) + Sync,
    options: &Options,
    provenance: serde_json::Value,
) -> (Model, BTreeMap<String, FoldScore>) {
    let mut languages: Vec<String> = examples.iter().map(|e| e.language.clone()).collect();
    languages.sort();
    languages.dedup();
    let mask = (1u32 << options.buckets_log2) - 1;
    let prepared: Vec<Prepared> = examples
        .iter()
        .map(|example| {
            let language = languages.iter().position(|l| *l == example.language).unwrap_or_default();
            let (words, lexicon) = read(&example.text, &example.language);
            let mut features = Features::default();
            features.extract(&words, Some(language as u32), lexicon);
            let features = features.iter().map(|(id, value)| (id & mask, value)).collect();
            Prepared { features, language, label: example.label, lexicon: lexicon.compound }
        })
        .collect();

    // Out-of-fold readings: fold i is read by a model trained on the other folds.
    let fold_of = |index: usize| index % options.folds.max(2);
    let folds: Vec<usize> = (0..options.folds.max(2)).collect();
    let mut readings = vec![Reading::default(); prepared.len()];
    let fold_readings: Vec<Vec<(usize, Reading)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = folds
            .iter()
            .map(|fold| {
                let prepared = &prepared;
                scope.spawn(move || {
                    let training: Vec<usize> = (0..prepared.len()).filter(|i| fold_of(*i) != *fold).collect();
                    let weights = fit(prepared, &training, options);
                    (0..prepared.len())
                        .filter(|i| fold_of(*i) == *fold)
                        .map(|i| (i, read_with(&weights, &prepared[i].features)))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    for (index, reading) in fold_readings.into_iter().flatten() {
        readings[index] = reading;
    }

    let mut calibration = Calibration {
        lexicon_shares: BTreeMap::new(),
        fallback_lexicon_share: 0.0,
        positive_weights: BTreeMap::new(),
        fallback_positive_weight: 1.0,
        thresholds: BTreeMap::new(),
        offsets: BTreeMap::new(),
        fallback_threshold: 0.5,
        fallback_offset: 0.0,
    };
    let mut scores = BTreeMap::new();
    for (index, language) in languages.iter().enumerate() {
        let of_language: Vec<usize> = (0..prepared.len()).filter(|i| prepared[*i].language == index).collect();
        let truth: Vec<bool> = of_language.iter().map(|i| prepared[*i].label == Label::Negative).collect();
        let negative: Vec<f32> = of_language.iter().map(|i| readings[*i].negative).collect();
        let (threshold, model_f1) = best_cut(&truth, |t| negative.iter().map(|p| *p >= t).collect(), 0.05, 0.95);
        calibration.thresholds.insert(language.clone(), threshold);
        let least_share = options.min_lexicon_shares.get(language).copied().unwrap_or(0.0);
        let mut best = (least_share, 1.0, 0.0, -1.0);
        // Larger positive weights first, so a tie keeps the model's full valence.
        let grid = (0..=4).rev().flat_map(|p| (0..=8).map(move |s| (p as f32 / 4.0, s as f32 / 10.0)));
        for (positive_weight, share) in grid {
            if share < least_share {
                continue;
            }
            calibration.lexicon_shares.insert(language.clone(), share);
            calibration.positive_weights.insert(language.clone(), positive_weight);
            let (offset, f1) = best_cut(
                &truth,
                |offset| {
                    calibration.offsets.insert(language.clone(), offset);
                    of_language
                        .iter()
                        .map(|i| calibration.fuse(language, prepared[*i].lexicon, &readings[*i]) <= NEGATIVE_SENTIMENT)
                        .collect()
                },
                -0.6,
                0.6,
            );
            if f1 > best.3 {
                best = (share, positive_weight, offset, f1);
            }
        }
        let (share, positive_weight, offset, fused_f1) = best;
        calibration.lexicon_shares.insert(language.clone(), share);
        calibration.positive_weights.insert(language.clone(), positive_weight);
        calibration.offsets.insert(language.clone(), offset);
        let lexicon: Vec<bool> = of_language.iter().map(|i| prepared[*i].lexicon <= NEGATIVE_SENTIMENT).collect();
        let lexicon_f1 = f1(&truth, &lexicon);
        scores.insert(language.clone(), FoldScore { examples: of_language.len(), model_f1, fused_f1, lexicon_f1 });
    }
    // A language the model never saw (Dutch) reads through the shared features alone: transfer,
    // with less certainty, so its model calls need more and its cues keep more say.
    let count = languages.len().max(1) as f32;
    let highest = calibration.thresholds.values().fold(0.0f32, |m, t| m.max(*t));
    calibration.fallback_threshold = (highest + UNSEEN_LANGUAGE_MARGIN).min(0.9);
    calibration.fallback_offset = calibration.offsets.values().sum::<f32>() / count;
    calibration.fallback_lexicon_share = UNSEEN_LANGUAGE_LEXICON_SHARE;
    calibration.fallback_positive_weight = calibration.positive_weights.values().sum::<f32>() / count;

    let everything: Vec<usize> = (0..prepared.len()).collect();
    let weights = fit(&prepared, &everything, options);
    let provenance = serde_json::json!({ "training": provenance, "options": options, "out_of_fold": scores });
    (Model::new(weights, languages, calibration, provenance), scores)
}

fn read_with(weights: &[f32], features: &[(u32, f32)]) -> Reading {
    let mask = (weights.len() / OUTPUTS) as u32 - 1;
    super::read_weights(weights, mask, features.iter().copied())
}

/// AdaGrad over `chosen` examples; returns `buckets × OUTPUTS` weights.
fn fit(prepared: &[Prepared], chosen: &[usize], options: &Options) -> Vec<f32> {
    let buckets = 1usize << options.buckets_log2;
    let mut weights = vec![0.0f32; buckets * OUTPUTS];
    let mut squares = vec![1e-6f32; buckets * OUTPUTS];
    // Balanced classes per output: each side of each output weighs half.
    let positives = |wanted: Label| chosen.iter().filter(|i| prepared[**i].label == wanted).count().max(1) as f32;
    let total = chosen.len().max(1) as f32;
    let share = [positives(Label::Negative) / total, positives(Label::Positive) / total];
    let class_weight = |output: usize, yes: bool| if yes { 0.5 / share[output] } else { 0.5 / (1.0 - share[output]) };

    let mut order = chosen.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    for _ in 0..options.epochs {
        order.shuffle(&mut rng);
        for index in &order {
            let example = &prepared[*index];
            let reading = read_with(&weights, &example.features);
            let targets = [example.label == Label::Negative, example.label == Label::Positive];
            let predicted = [reading.negative, reading.positive];
            for output in 0..OUTPUTS {
                let yes = targets[output];
                let gradient = (predicted[output] - if yes { 1.0 } else { 0.0 }) * class_weight(output, yes);
                for (id, value) in &example.features {
                    let at = *id as usize * OUTPUTS + output;
                    let g = gradient * value + options.l2 * weights[at];
                    squares[at] += g * g;
                    weights[at] -= options.learning_rate * g / squares[at].sqrt();
                }
            }
        }
    }
    weights
}

/// The cut (threshold or offset) in `[from, to]`, by steps of 0.01, whose decisions give the best
/// F1; ties keep the first.
fn best_cut(truth: &[bool], mut decide: impl FnMut(f32) -> Vec<bool>, from: f32, to: f32) -> (f32, f64) {
    let steps = ((to - from) / 0.01).round() as usize;
    let mut best = (from, -1.0);
    for step in 0..=steps {
        let cut = from + step as f32 * 0.01;
        let score = f1(truth, &decide(cut));
        if score > best.1 {
            best = (cut, score);
        }
    }
    best
}

/// F1 of `predicted` against `truth`.
pub fn f1(truth: &[bool], predicted: &[bool]) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0u32, 0u32, 0u32);
    for (t, p) in truth.iter().zip(predicted) {
        match (t, p) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            _ => {}
        }
    }
    let denominator = 2 * tp + fp + fn_;
    if denominator == 0 { 0.0 } else { f64::from(2 * tp) / f64::from(denominator) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Example> {
        let mut examples = Vec::new();
        let negative = ["awful service never again", "still waiting nobody answers", "worst delay ever, awful"];
        let positive = ["great help thank you", "love the new app, great", "thank you, fixed fast"];
        let neutral = ["what time do you open", "my order number is 12", "is the store open today"];
        for round in 0..20 {
            for (texts, label) in [(negative, Label::Negative), (positive, Label::Positive), (neutral, Label::Neutral)]
            {
                for text in texts {
                    let language = if round % 2 == 0 { "en" } else { "es" };
                    examples.push(Example { text: format!("{text} {round}"), language: language.into(), label });
                }
            }
        }
        examples
    }

    fn read(text: &str, _language: &str) -> (Vec<String>, LexiconReading) {
        (crate::text::tokenize(text).into_iter().map(|t| t.norm).collect(), LexiconReading::default())
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let options = Options { buckets_log2: 12, epochs: 5, ..Options::default() };
        let (a, scores) = train(&examples(), read, &options, serde_json::Value::Null);
        let (b, _) = train(&examples(), read, &options, serde_json::Value::Null);
        assert_eq!(a.to_bytes(), b.to_bytes(), "same data, same options, same bytes");
        assert!(scores["en"].model_f1 > 0.9, "{scores:?}");
        let reading = |text: &str| {
            let (words, lexicon) = read(text, "en");
            let mut features = Features::default();
            features.extract(&words, a.language_index("en"), lexicon);
            a.read(&features)
        };
        assert!(reading("awful, nobody answers").negative > reading("thank you, great").negative);
        let other = train(&examples(), read, &Options { seed: 1, ..options }, serde_json::Value::Null).0;
        assert_ne!(a.to_bytes(), other.to_bytes(), "the seed matters");
    }

    #[test]
    fn corpus_lines_decode_escapes_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tsv");
        std::fs::write(&path, "label\ttext\nnegative\tno\\u002c it didn\\u2019t\npositive\tyes\n").unwrap();
        let examples = read_tsv(&path, "en").unwrap();
        assert_eq!(examples[0].text, "no, it didn’t");
        assert_eq!(examples[1].label, Label::Positive);
        std::fs::write(&path, "label\ttext\nangry\tno\n").unwrap();
        assert!(read_tsv(&path, "en").unwrap_err().to_string().contains("c.tsv:2"));
    }
}
