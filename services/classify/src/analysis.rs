//! Reading one text against a lexicon: a VADER-style sentiment compound, intent evidence and
//! topic evidence, with the phrases behind them.

use earshot_core::Intent;

use crate::cues::{Cue, Lexicon, TOPICS};
use crate::text::{Token, tokenize};

/// Words that shift weight to what follows ("good product but awful support").
const CONTRAST: [&str; 7] = ["but", "pero", "mais", "aber", "mas", "ma", "maar"];
/// VADER's constants.
const NEGATION_SCALAR: f32 = -0.74;
const SHOUT_INCREMENT: f32 = 0.733;
const EXCLAMATION_INCREMENT: f32 = 0.292;
const NORMALIZATION_ALPHA: f32 = 15.0;

/// What a text says, before post-level context (reach, channel) is added.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Sentiment compound in [-1, 1].
    pub compound: f32,
    /// Evidence per intent, in order of first appearance.
    pub intents: Vec<IntentEvidence>,
    /// Evidence per topic, indexed like [`TOPICS`].
    pub topics: [f32; TOPICS.len()],
    /// Negation words ("not", "never", "nicht"), a sign of something that did not happen.
    pub negations: usize,
}

/// How strongly a text shows one intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentEvidence {
    /// The intent.
    pub intent: Intent,
    /// Combined evidence in [0, 1]: independent cues add up as 1 − Π(1 − wᵢ).
    pub score: f32,
    /// The strongest phrase behind it.
    pub cue: String,
    cue_weight: f32,
}

impl Analysis {
    /// Evidence for one intent.
    pub fn intent(&self, intent: Intent) -> f32 {
        self.intents.iter().find(|e| e.intent == intent).map_or(0.0, |e| e.score)
    }

    /// Adds evidence for `intent` (also used for evidence that is not a phrase, such as a `?`).
    pub fn add_intent(&mut self, intent: Intent, weight: f32, cue: &str) {
        let weight = weight.clamp(0.0, 1.0);
        match self.intents.iter_mut().find(|e| e.intent == intent) {
            Some(evidence) => {
                evidence.score = 1.0 - (1.0 - evidence.score) * (1.0 - weight);
                if weight > evidence.cue_weight {
                    evidence.cue = cue.to_owned();
                    evidence.cue_weight = weight;
                }
            }
            None => {
                self.intents.push(IntentEvidence { intent, score: weight, cue: cue.to_owned(), cue_weight: weight })
            }
        }
    }
}

/// Normalises a raw valence sum into [-1, 1] as VADER does.
fn normalize(sum: f32) -> f32 {
    (sum / (sum * sum + NORMALIZATION_ALPHA).sqrt()).clamp(-1.0, 1.0)
}

/// Analyses `text` with `lexicon`.
pub fn analyze(lexicon: &Lexicon, text: &str) -> Analysis {
    let tokens = tokenize(text);
    let words: Vec<String> = tokens.iter().map(|t| t.norm.clone()).collect();
    analyze_words(lexicon, text, &tokens, &words)
}

/// [`analyze`] over a text already tokenized (`words` are the tokens' normalised forms).
pub fn analyze_words(lexicon: &Lexicon, text: &str, tokens: &[Token], words: &[String]) -> Analysis {
    let mixed_case = text.chars().any(char::is_lowercase);
    let mut analysis = Analysis::default();

    let mut negation = vec![false; words.len()];
    let mut booster = vec![0.0f32; words.len()];
    let mut valences: Vec<(usize, f32)> = Vec::new();
    let mut sentiment_until = 0;
    for at in 0..words.len() {
        for phrase in lexicon.matches_at(words, at) {
            match phrase.cue {
                Cue::Negation => negation[at] = true,
                Cue::Booster(weight) => booster[at] = weight,
                Cue::Intent(intent, weight) => analysis.add_intent(intent, weight, &phrase.text),
                Cue::Topic(topic, weight) => analysis.topics[topic] += weight,
                Cue::Sentiment(weight) if at >= sentiment_until => {
                    let mut valence = weight;
                    if tokens[at].shouted && mixed_case {
                        valence += SHOUT_INCREMENT * valence.signum();
                    }
                    valences.push((at, valence));
                    sentiment_until = at + phrase.words.len();
                }
                Cue::Sentiment(_) => {}
            }
        }
    }
    analysis.negations = negation.iter().filter(|n| **n).count();
    let contrast_at = words.iter().position(|w| CONTRAST.contains(&w.as_str()));
    let mut sum = 0.0;
    for (at, mut valence) in valences {
        let same_sentence = (at.saturating_sub(3)..at).filter(|b| tokens[*b].sentence == tokens[at].sentence);
        for (distance, before) in same_sentence.rev().enumerate() {
            let scale = 1.0 - 0.05 * distance as f32;
            valence += booster[before] * scale * valence.signum();
            if negation[before] {
                valence *= NEGATION_SCALAR;
            }
        }
        match contrast_at {
            Some(c) if at < c => valence *= 0.5,
            Some(c) if at > c => valence *= 1.5,
            _ => {}
        }
        sum += valence;
    }
    if sum != 0.0 {
        let exclamations = text.matches('!').count().min(4) as f32;
        sum += exclamations * EXCLAMATION_INCREMENT * sum.signum();
    }
    analysis.compound = normalize(sum);
    analysis
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cues::load;

    fn compound(language: &str, text: &str) -> f32 {
        analyze(&load(None).unwrap().for_tenant("default")[language], text).compound
    }

    #[test]
    fn sentiment_reads_negation_boosters_contrast_caps_and_emoji() {
        assert!(compound("en", "great service") > 0.5);
        assert!(compound("en", "not great service") < 0.0);
        assert!(compound("en", "very bad") < compound("en", "bad"));
        assert!(compound("en", "BAD service") < compound("en", "bad service"));
        assert!(compound("en", "bad!!!") < compound("en", "bad"));
        assert!(compound("en", "the food was good but the service was awful") < 0.0);
        assert!(compound("en", "no problem at all, thanks") > 0.3);
        assert!(compound("en", "Still no refund. Absolutely unacceptable!") < -0.5, "negation stops at the sentence");
        assert!(compound("en", "😡😡") < -0.5);
        assert_eq!(compound("en", "my order number is 1234"), 0.0);
        assert!(compound("es", "el servicio es pésimo") < -0.5);
        assert!(compound("de", "nicht gut") < 0.0);
        assert!(compound("fr", "très déçu") < compound("fr", "déçu"));
    }

    #[test]
    fn intents_and_topics_collect_evidence_with_their_phrase() {
        let cues = load(None).unwrap();
        let lexicons = cues.for_tenant("default");
        let analysis = analyze(&lexicons["en"], "I was charged twice and my lawyer will hear about it");
        assert!(analysis.intent(Intent::Complaint) >= 0.9);
        let legal = analysis.intents.iter().find(|e| e.intent == Intent::LegalThreat).unwrap();
        assert!(legal.score >= 0.9);
        assert_eq!(legal.cue, "lawyer");
        assert!(analysis.topics[0] > 0.0, "billing");
        let nl = analyze(&lexicons["nl"], "Mijn pakket is nooit aangekomen");
        assert!(nl.intent(Intent::Complaint) >= 0.9);
        assert!(nl.topics[1] > 0.0, "delivery");
    }
}
