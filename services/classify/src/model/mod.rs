//! The learned model: a linear classifier over hashed word and character n-grams (fastText /
//! Vowpal Wabbit style), trained on human-labelled tweets (`earshotctl train`). It reads how
//! negative and how positive a post is; the classifier fuses that with the cue lexicons' reading
//! into the post's sentiment and complaint evidence.
//!
//! Why this shape: cue lists recognise the phrasings somebody thought of, a model trained on real
//! posts recognises the ones nobody did. A linear model over hashed features costs a few
//! microseconds a post, needs no vocabulary file, and every decision is a sum of weights, so the
//! n-grams that weighed most can be shown to the agent as the reason.

mod features;
mod file;
pub mod train;

use std::collections::BTreeMap;

use earshot_core::scoring::NEGATIVE_SENTIMENT;

pub use features::{Features, LexiconReading};
pub use file::ModelError;

/// The weights shipped with Earshot, trained by `make model` (see `model/README.md`).
pub const BUILT_IN: &[u8] = include_bytes!("../../model/sentiment.model");

/// The two outputs every bucket holds a weight for.
const OUTPUTS: usize = 2;
const NEGATIVE: usize = 0;
const POSITIVE: usize = 1;

/// How far past [`NEGATIVE_SENTIMENT`] a post lands whose lexicon verdict the model overruled.
/// Small, because how strongly such a post feels is unknown: measured against people's ratings
/// (`earshotctl eval --sentiment-truth`), larger overruled values cost Pearson r.
pub const OVERRULED_MARGIN: f32 = 0.03;

/// How the model's reading and the lexicon's are fused into the post's sentiment, and where a
/// language's decisions lie. Chosen by `train` on out-of-fold predictions of the training data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Per language: share of the lexicon's compound in the fused sentiment (the rest is the
    /// model's valence).
    pub lexicon_shares: BTreeMap<String, f32>,
    /// Share for a language without training data.
    pub fallback_lexicon_share: f32,
    /// Per language: how much the model's positivity counts against its negativity in the
    /// model's valence (`weight × positive − negative`).
    pub positive_weights: BTreeMap<String, f32>,
    /// Weight for a language without training data.
    pub fallback_positive_weight: f32,
    /// Per language: the model alone calls a post negative at or above this probability.
    pub thresholds: BTreeMap<String, f32>,
    /// Per language: added to the fused sentiment, so that `sentiment <= -0.05` is the language's
    /// best negative-vs-rest decision.
    pub offsets: BTreeMap<String, f32>,
    /// Threshold and offset for a language without training data (the mean of the others).
    pub fallback_threshold: f32,
    /// See `fallback_threshold`.
    pub fallback_offset: f32,
}

impl Calibration {
    /// The probability at or above which the model alone calls a post in `language` negative.
    pub fn threshold(&self, language: &str) -> f32 {
        self.thresholds.get(language).copied().unwrap_or(self.fallback_threshold)
    }

    /// The fused sentiment of a post in `language`. The blend of lexicon and model decides which
    /// side of [`NEGATIVE_SENTIMENT`] the post falls on; where the lexicon already falls on that
    /// side its compound is kept, so the scale people read (VADER's, in English) is untouched;
    /// a post whose verdict the model overruled sits just across the cut (within
    /// [`OVERRULED_MARGIN`]), since the lexicon's strength was wrong and the model has no scale.
    pub fn fuse(&self, language: &str, lexicon: f32, reading: &Reading) -> f32 {
        let offset = self.offsets.get(language).copied().unwrap_or(self.fallback_offset);
        let share = self.lexicon_shares.get(language).copied().unwrap_or(self.fallback_lexicon_share);
        let positive_weight = self.positive_weights.get(language).copied().unwrap_or(self.fallback_positive_weight);
        let valence = positive_weight * reading.positive - reading.negative;
        let blend = (share * lexicon + (1.0 - share) * valence + offset).clamp(-1.0, 1.0);
        if (blend <= NEGATIVE_SENTIMENT) == (lexicon <= NEGATIVE_SENTIMENT) {
            lexicon
        } else {
            NEGATIVE_SENTIMENT + (blend - NEGATIVE_SENTIMENT).clamp(-OVERRULED_MARGIN, OVERRULED_MARGIN)
        }
    }
}

/// What the model read in one post.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    /// Probability that the post is negative.
    pub negative: f32,
    /// Probability that the post is positive.
    pub positive: f32,
}

/// A trained model: hashed weights plus how to use them.
#[derive(Debug, Clone)]
pub struct Model {
    /// `buckets × OUTPUTS` weights, row-major.
    weights: Vec<f32>,
    mask: u32,
    /// Languages with language-specific features (the rest share the common ones only).
    languages: Vec<String>,
    /// Decision points and fusion.
    pub calibration: Calibration,
    /// How it was trained, for people (data, seed, command, out-of-fold scores).
    pub provenance: serde_json::Value,
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The reading of `features` under `weights` (`buckets × OUTPUTS`, `mask` = buckets − 1): one
/// home for serving and for training, which reads with weights still being learned.
fn read_weights(weights: &[f32], mask: u32, features: impl Iterator<Item = (u32, f32)>) -> Reading {
    let mut z = [0.0f32; OUTPUTS];
    for (id, value) in features {
        let at = ((id & mask) as usize) * OUTPUTS;
        z[NEGATIVE] += weights[at + NEGATIVE] * value;
        z[POSITIVE] += weights[at + POSITIVE] * value;
    }
    Reading { negative: sigmoid(z[NEGATIVE]), positive: sigmoid(z[POSITIVE]) }
}

impl Model {
    /// The built-in model.
    pub fn built_in() -> Result<Self, ModelError> {
        Self::from_bytes("built-in", BUILT_IN)
    }

    /// A model that has learned nothing (every post reads 0.5 negative, 0.5 positive): what
    /// training starts from, and what tools use when they need the classifier's other readings
    /// without depending on a trained model.
    pub fn untrained() -> Self {
        let calibration = Calibration {
            lexicon_shares: BTreeMap::new(),
            fallback_lexicon_share: 1.0,
            positive_weights: BTreeMap::new(),
            fallback_positive_weight: 1.0,
            thresholds: BTreeMap::new(),
            offsets: BTreeMap::new(),
            fallback_threshold: 1.0,
            fallback_offset: 0.0,
        };
        Self::new(vec![0.0; OUTPUTS * 2], Vec::new(), calibration, serde_json::Value::Null)
    }

    /// The model in `path`, or the built-in one when no path is given.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ModelError> {
        match path {
            None => Self::built_in(),
            Some(path) => {
                let origin = path.display().to_string();
                let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: origin.clone(), source })?;
                Self::from_bytes(&origin, &bytes)
            }
        }
    }

    /// The language index features use for `language`, if the model was trained on it.
    pub fn language_index(&self, language: &str) -> Option<u32> {
        self.languages.iter().position(|l| l == language).map(|i| i as u32)
    }

    /// Languages the model has training data for.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    fn row(&self, id: u32) -> &[f32] {
        let at = ((id & self.mask) as usize) * OUTPUTS;
        &self.weights[at..at + OUTPUTS]
    }

    /// Reads `features` (made by [`Features::extract`] with this model's language index).
    pub fn read(&self, features: &Features) -> Reading {
        read_weights(&self.weights, self.mask, features.iter())
    }

    /// The word n-grams that pushed the post most towards negative, strongest first (at most
    /// `n`), as they read in the post's words.
    pub fn negative_ngrams(&self, features: &Features, words: &[String], n: usize) -> Vec<String> {
        let mut weighed: Vec<(f32, String)> = features
            .word_ngrams()
            .map(|(ngram, contributions)| {
                let push: f32 = contributions.map(|(id, value)| self.row(id)[NEGATIVE] * value).sum();
                (push, ngram.text(words))
            })
            .filter(|(push, _)| *push > 0.0)
            .collect();
        weighed.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut chosen: Vec<String> = Vec::with_capacity(n);
        for (_, text) in weighed {
            // A bigram already says its unigrams; a unigram inside a chosen bigram adds nothing.
            if chosen.iter().any(|c| c.split(' ').any(|w| w == text) || text.split(' ').any(|w| w == c)) {
                continue;
            }
            chosen.push(text);
            if chosen.len() == n {
                break;
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(model: &Model, text: &str, language: &str) -> (Reading, Vec<String>) {
        let words: Vec<String> = crate::text::tokenize(text).into_iter().map(|t| t.norm).collect();
        let mut features = Features::default();
        features.extract(&words, model.language_index(language), LexiconReading::default());
        (model.read(&features), model.negative_ngrams(&features, &words, 2))
    }

    #[test]
    fn the_built_in_model_loads_and_reads_negativity() {
        let model = Model::built_in().unwrap();
        assert!(model.languages().iter().any(|l| l == "en"));
        let (angry, why) = reading(&model, "still waiting for my refund, nobody answers, worst service ever", "en");
        let (happy, _) = reading(&model, "thank you so much, the new update is great", "en");
        assert!(angry.negative > 0.7 && happy.negative < 0.3, "{angry:?} {happy:?}");
        assert!(happy.positive > angry.positive);
        assert!(!why.is_empty() && why.len() <= 2, "{why:?}");
        let (es, _) = reading(&model, "el peor servicio, nadie me responde, qué asco", "es");
        assert!(es.negative > 0.5, "{es:?}");
    }

    #[test]
    fn fusion_moves_with_both_readings_and_stays_in_range() {
        let model = Model::built_in().unwrap();
        let c = &model.calibration;
        let calm = Reading { negative: 0.1, positive: 0.2 };
        let angry = Reading { negative: 0.9, positive: 0.05 };
        assert!(c.fuse("en", 0.0, &angry) < c.fuse("en", 0.0, &calm));
        assert!(c.fuse("en", -0.8, &calm) < c.fuse("en", 0.0, &calm));
        for lexicon in [-1.0, 1.0] {
            let fused = c.fuse("nl", lexicon, &angry);
            assert!((-1.0..=1.0).contains(&fused));
        }
    }

    #[test]
    fn fusion_keeps_the_lexicon_scale_where_the_verdict_stands() {
        let model = Model::built_in().unwrap();
        let c = &model.calibration;
        let furious = Reading { negative: 0.99, positive: 0.0 };
        let delighted = Reading { negative: 0.0, positive: 0.99 };
        assert_eq!(c.fuse("en", -0.93, &furious), -0.93);
        assert_eq!(c.fuse("en", 0.88, &delighted), 0.88);
        let overruled = c.fuse("en", 0.3, &furious);
        assert!((NEGATIVE_SENTIMENT - OVERRULED_MARGIN..=NEGATIVE_SENTIMENT).contains(&overruled), "{overruled}");
        let lifted = c.fuse("en", -0.3, &delighted);
        assert!(lifted > NEGATIVE_SENTIMENT && lifted - NEGATIVE_SENTIMENT <= OVERRULED_MARGIN, "{lifted}");
    }
}
