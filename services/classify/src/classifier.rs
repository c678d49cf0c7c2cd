//! The classifier: language (lingua), then the language's cues and the learned model, fused into
//! sentiment and complaint evidence, then risk and priority from the configured weights.
//! Everything is loaded once at start; classifying allocates only per post.

use std::path::Path;

use earshot_core::scoring::NEGATIVE_SENTIMENT;
use earshot_core::{Intent, Post, Signals, Tenant, Weights};
use earshot_proto::v1 as pb;
use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

use crate::analysis::{Analysis, analyze_words};
use crate::cues::{self, BUILT_IN, CueError, CueSet, Lexicons, TOPICS};
use crate::language;
use crate::model::{Features, LexiconReading, Model, ModelError, Reading};
use crate::text::{self, Token, letter_count, tokenize};
use crate::vader::Vader;

/// Languages lingua tells apart (each needs its lingua feature in the workspace manifest).
pub const LANGUAGES: [Language; 7] = [
    Language::English,
    Language::Spanish,
    Language::French,
    Language::German,
    Language::Portuguese,
    Language::Italian,
    Language::Dutch,
];

/// Below this many letters lingua has too little to go on.
const MIN_LETTERS: usize = 3;
/// Intents at or above this are the post's intents on the wire.
const INTENT_FLOOR: f32 = 0.05;
/// Complaint evidence at or above this makes the post a complaint.
const COMPLAINT_THRESHOLD: f32 = 0.5;

/// The word n-grams named in the model's reason.
const MODEL_REASON_NGRAMS: usize = 2;

thread_local! {
    /// The model's feature buffers, kept per thread so classifying a post allocates none.
    static FEATURES: std::cell::RefCell<Features> = std::cell::RefCell::new(Features::default());
}

/// Classifies posts; share one per process (it is `Sync`).
pub struct Classifier {
    detector: LanguageDetector,
    vader: Vader,
    cues: CueSet,
    weights: Weights,
    model: Model,
}

/// What a classifier could not be built from.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A cue file.
    #[error(transparent)]
    Cues(#[from] CueError),
    /// The model's weights.
    #[error(transparent)]
    Model(#[from] ModelError),
}

fn code(language: Language) -> String {
    language.iso_code_639_1().to_string()
}

impl Classifier {
    /// Loads the language models, the built-in cues plus those in `extra_cues`, `weights` and the
    /// built-in learned model.
    pub fn new(weights: Weights, extra_cues: Option<&Path>) -> Result<Self, LoadError> {
        Ok(Self::with_model(weights, extra_cues, Model::built_in()?)?)
    }

    /// [`Classifier::new`] with another learned model.
    pub fn with_model(weights: Weights, extra_cues: Option<&Path>, model: Model) -> Result<Self, CueError> {
        let detector = LanguageDetectorBuilder::from_languages(&LANGUAGES).with_preloaded_language_models().build();
        Ok(Self { detector, vader: Vader::new(), cues: cues::load(extra_cues)?, weights, model })
    }

    /// Language code and confidence; `und` when the text has too few letters and no usable hint.
    ///
    /// Lingua is the expensive step, so it runs only when nothing cheaper decides: a served hint
    /// that the post's function words do not contradict, or function words that clearly belong
    /// to one language ([`language::by_markers`]). Both report confidence 1.0.
    fn language(&self, post: &Post, words: &[String]) -> (String, f32) {
        let hint = cues::language_code(&post.language_hint);
        let hint_served = BUILT_IN.iter().any(|(served, _)| *served == hint);
        let prose = text::prose(&post.text);
        if letter_count(&prose) < MIN_LETTERS {
            return if hint_served { (hint, 1.0) } else { ("und".to_owned(), 0.0) };
        }
        if language::mostly_non_latin(&prose) {
            return ("und".to_owned(), 0.0);
        }
        let marked = language::by_markers(words, prose.chars().count());
        if hint_served && marked.is_none_or(|m| m == hint) {
            return (hint, 1.0);
        }
        if let Some(marked) = marked {
            return (marked.to_owned(), 1.0);
        }
        let confidences = self.detector.compute_language_confidence_values(prose.as_str());
        // No served language at all (e.g. Japanese) gives every language zero confidence.
        match confidences.first() {
            Some((language, confidence)) if *confidence > 0.0 => (code(*language), *confidence as f32),
            _ => ("und".to_owned(), 0.0),
        }
    }

    /// Tenants whose own cue files were loaded.
    pub fn tenants_with_own_cues(&self) -> impl Iterator<Item = &str> {
        self.cues.tenants()
    }

    /// Classifies one validated post with the cues every tenant shares.
    pub fn classify(&self, post: &Post) -> pb::Classification {
        self.classify_for(&Tenant::default(), post)
    }

    /// Classifies one validated post of `tenant`, with that tenant's own cues when it has some.
    pub fn classify_for(&self, tenant: &Tenant, post: &Post) -> pb::Classification {
        let lexicons = self.cues.for_tenant(tenant.as_str());
        let tokens = tokenize(&post.text);
        let words: Vec<String> = tokens.iter().map(|t| t.norm.clone()).collect();
        let (language, language_confidence) = self.language(post, &words);
        let mut analysis = self.lexicon_analysis(lexicons, &language, &post.text, &tokens, &words);
        let lexicon = analysis.compound;

        let calibration = &self.model.calibration;
        let threshold = calibration.threshold(&language);
        let (reading, model_reason) = FEATURES.with_borrow_mut(|features| {
            features.extract(&words, self.model.language_index(&language), LexiconReading { compound: lexicon });
            let reading = self.model.read(features);
            let reason = (reading.negative >= threshold)
                .then(|| model_cue(&reading, &self.model.negative_ngrams(features, &words, MODEL_REASON_NGRAMS)));
            (reading, reason)
        });
        analysis.compound = calibration.fuse(&language, lexicon, &reading);
        if let Some(cue) = model_reason {
            analysis.add_intent(Intent::Complaint, model_evidence(reading.negative, threshold), &cue);
        }
        read_context(&mut analysis, &post.text);

        let complaint = analysis.intent(Intent::Complaint) >= COMPLAINT_THRESHOLD;
        let mut intents: Vec<(Intent, f32, String)> = analysis
            .intents
            .iter()
            .filter(|e| e.score >= INTENT_FLOOR)
            .map(|e| (e.intent, e.score, e.cue.clone()))
            .collect();
        intents.sort_by(|a, b| b.1.total_cmp(&a.1));
        let topic = topic(&analysis);
        let signals = Signals { sentiment: analysis.compound, complaint, intents };
        let assessment = self.weights.assess(post, &signals);

        pb::Classification {
            language,
            language_confidence,
            sentiment: analysis.compound,
            sentiment_label: sentiment_label(analysis.compound).to_owned(),
            complaint,
            intents: signals
                .intents
                .iter()
                .map(|(intent, score, _)| pb::IntentScore { intent: intent.as_str().to_owned(), score: *score })
                .collect(),
            topic: topic.to_owned(),
            risk: assessment.risk,
            priority: assessment.priority,
            escalate_now: !assessment.escalate.is_empty(),
            reasons: assessment.reasons.iter().map(pb::Reason::from).collect(),
            escalations: assessment.escalate,
            sentiment_evidence: Some(pb::SentimentEvidence {
                lexicon,
                model_negative: reading.negative,
                model_positive: reading.positive,
                model_threshold: threshold,
            }),
        }
    }

    /// The cues' reading of a text in `language` (English sentiment is VADER's; the cue lexicons
    /// carry it for the other languages).
    fn lexicon_analysis(
        &self,
        lexicons: &Lexicons,
        language: &str,
        text: &str,
        tokens: &[Token],
        words: &[String],
    ) -> Analysis {
        let lexicon = lexicons.get(language).or_else(|| lexicons.get("en"));
        let mut analysis = lexicon.map(|l| analyze_words(l, text, tokens, words)).unwrap_or_default();
        if language == "en" || language == "und" {
            analysis.compound = self.vader.sentiment(text) as f32;
        }
        analysis
    }

    /// A text's words and the shared cues' sentiment in `language`, exactly as classification
    /// feeds them to the model: what training needs to learn from.
    pub fn model_input(&self, text: &str, language: &str) -> (Vec<String>, LexiconReading) {
        let tokens = tokenize(text);
        let words: Vec<String> = tokens.iter().map(|t| t.norm.clone()).collect();
        let analysis = self.lexicon_analysis(self.cues.for_tenant(""), language, text, &tokens, &words);
        (words, LexiconReading { compound: analysis.compound })
    }
}

/// Complaint evidence from the model's negativity: enough to flag a complaint with the weakest
/// cue once the model is clearly past its threshold, all of it at certainty.
fn model_evidence(negative: f32, threshold: f32) -> f32 {
    let beyond = ((negative - threshold) / (1.0 - threshold).max(1e-3)).clamp(0.0, 1.0);
    0.3 + 0.6 * beyond
}

/// The model as the reason behind complaint evidence: `model 0.86: 'still waiting', 'nobody'`.
fn model_cue(reading: &Reading, ngrams: &[String]) -> String {
    let quoted: Vec<String> = ngrams.iter().map(|n| format!("'{n}'")).collect();
    if quoted.is_empty() {
        format!("{}{:.2}", earshot_core::scoring::MODEL_CUE, reading.negative)
    } else {
        format!("{}{:.2}: {}", earshot_core::scoring::MODEL_CUE, reading.negative, quoted.join(", "))
    }
}

/// Evidence that is not a phrase: questions, and complaint read from negativity.
fn read_context(analysis: &mut Analysis, text: &str) {
    if text.contains('?') {
        analysis.add_intent(Intent::Question, 0.6, "?");
    }
    // Outages and threats to leave, sue or of harm are grievances too.
    for intent in [Intent::Outage, Intent::ChurnThreat, Intent::LegalThreat, Intent::Safety] {
        let evidence = analysis.intent(intent);
        if evidence > 0.0 {
            analysis.add_intent(Intent::Complaint, evidence * 0.8, intent.as_str());
        }
    }
    let negativity = (-analysis.compound).max(0.0);
    let spam = analysis.intent(Intent::Spam);
    if analysis.intent(Intent::Praise) < 0.5 && spam < 0.5 {
        // A negative post to a brand is a grievance even without a service-failure phrase.
        if negativity > 0.0 {
            analysis.add_intent(Intent::Complaint, (negativity * 1.2).min(0.9), "negative tone");
        }
        // So, mostly, is one that says what did not happen ("never", "not", "didn't").
        if analysis.compound < 0.3 {
            for _ in 0..analysis.negations.min(2) {
                analysis.add_intent(Intent::Complaint, 0.25, "negation");
            }
        }
    }
    let praise = analysis.intent(Intent::Praise);
    if analysis.compound > 0.3 && praise < 0.5 && spam < 0.5 && analysis.intent(Intent::Complaint) < 0.3 {
        analysis.add_intent(Intent::Praise, analysis.compound * 0.6, "positive tone");
    }
}

/// The topic with the most evidence; purchase intent without another topic is `sales`.
fn topic(analysis: &Analysis) -> &'static str {
    let (best, evidence) = analysis
        .topics
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, e)| (TOPICS[i], *e))
        .unwrap_or(("general", 0.0));
    if evidence > 0.0 {
        best
    } else if analysis.intent(Intent::PurchaseIntent) >= 0.5 {
        "sales"
    } else {
        "general"
    }
}

fn sentiment_label(compound: f32) -> &'static str {
    if compound >= 0.05 {
        "positive"
    } else if compound <= NEGATIVE_SENTIMENT {
        "negative"
    } else {
        "neutral"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(text: &str, followers: u64) -> Post {
        Post::example(text, followers)
    }

    #[test]
    fn classifies_languages_complaints_topics_and_risk() {
        let classifier = Classifier::new(Weights::default(), None).unwrap();
        let cases = [
            ("My package never arrived and nobody answers. Worst service ever!", "en", true, "delivery"),
            ("Mi pedido no ha llegado y nadie responde, pésimo servicio", "es", true, "delivery"),
            ("On m'a débité deux fois ce mois-ci, je veux un remboursement", "fr", true, "billing"),
            ("Ich kann mich nicht anmelden, mein Passwort funktioniert nicht", "de", true, "account"),
            ("A internet está fora do ar de novo, sem sinal desde ontem", "pt", true, "technical"),
            ("Grazie mille, il supporto è stato fantastico!", "it", false, "general"),
            ("Hoe kan ik mijn abonnement upgraden naar de nieuwe prijs?", "nl", false, "sales"),
        ];
        for (text, language, complaint, topic) in cases {
            let c = classifier.classify(&post(text, 100));
            assert_eq!(c.language, language, "{text}");
            assert_eq!(c.complaint, complaint, "{text}: {c:?}");
            assert_eq!(c.topic, topic, "{text}");
        }
    }

    #[test]
    fn angry_reach_escalates_and_question_stays_calm() {
        let classifier = Classifier::new(Weights::default(), None).unwrap();
        let angry = classifier.classify(&post("Charged TWICE and still no refund. Absolutely unacceptable!", 182_000));
        let question = classifier.classify(&post("Do you ship to Canada?", 120));
        assert!(angry.priority > question.priority + 30, "{angry:?} vs {question:?}");
        assert!(angry.escalate_now);
        assert!(!question.escalate_now);
        assert!(!question.complaint);
        assert!(angry.reasons.iter().any(|r| r.factor == "reach" && r.detail == "182k followers"));
    }

    #[test]
    fn going_public_and_asking_for_a_supervisor_escalate_in_every_language() {
        let classifier = Classifier::new(Weights::default(), None).unwrap();
        let cases = [
            ("en", "I'm going to post this online and tell everyone how you treat customers", "publicity"),
            (
                "en",
                "Caller reports being disconnected four times while on hold, says will post recording online.",
                "publicity",
            ),
            ("en", "Let me speak to a manager right now", "supervisor"),
            ("en", "Customer demands a supervisor after the third transfer", "supervisor"),
            ("es", "Voy a publicar esto en redes y todo el mundo se va a enterar", "publicity"),
            ("es", "El cliente exige un supervisor y amenaza con ir a la prensa", "supervisor"),
            ("fr", "Je vais publier ça sur les réseaux, tout le monde saura", "publicity"),
            ("fr", "Le client exige de parler à un responsable", "supervisor"),
            ("de", "Ich werde das posten und an die Presse gehen", "publicity"),
            ("de", "Der Kunde verlangt einen Vorgesetzten", "supervisor"),
            ("pt", "Vou expor vocês no Reclame Aqui, todo mundo vai saber", "publicity"),
            ("pt", "A cliente pede para falar com o gerente", "supervisor"),
            ("it", "Lo pubblicherò sui social, lo sapranno tutti", "publicity"),
            ("it", "Il cliente chiede di parlare con un responsabile", "supervisor"),
            ("nl", "Ik ga dit posten, iedereen gaat het weten", "publicity"),
            ("nl", "De klant eist een leidinggevende te spreken", "supervisor"),
        ];
        for (language, text, trigger) in cases {
            let mut p = post(text, 50);
            p.language_hint = language.into();
            let c = classifier.classify(&p);
            assert!(c.escalate_now && c.escalations.iter().any(|e| e == trigger), "{text}: {c:?}");
            let factor = if trigger == "publicity" { "publicity_threat" } else { "supervisor_demand" };
            assert!(c.reasons.iter().any(|r| r.factor == factor), "{text}: {:?}", c.reasons);
        }
        let thanks = classifier.classify(&post("Thanks so much, great help today!", 50));
        let note = classifier.classify(&post(cases[1].1, 50));
        assert!(note.priority > thanks.priority + 20, "{note:?} vs {thanks:?}");
    }

    #[test]
    fn hints_and_tiny_texts() {
        let classifier = Classifier::new(Weights::default(), None).unwrap();
        assert_eq!(classifier.classify(&post("配達完了になっているのに届いていません", 10)).language, "und");
        let mut emoji = post("😡😡", 10);
        assert_eq!(classifier.classify(&emoji).language, "und");
        emoji.language_hint = "es-MX".into();
        assert_eq!(classifier.classify(&emoji).language, "es");
    }
}
