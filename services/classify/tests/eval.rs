//! Guards the classifier's scores on the team's sets (`eval/labelled.jsonl`, `eval/holdout.jsonl`,
//! `eval/negative.tsv`) with the committed weights, so a change to cues, weights or code cannot
//! quietly make them worse. `earshotctl eval` prints the same figures for a running service.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;

use earshot_classify::Classifier;
use earshot_core::eval::{Binary, Labelled, Predicted, Report};
use earshot_core::scoring::NEGATIVE_SENTIMENT;
use earshot_core::{Limits, Post, Weights};
use earshot_proto::v1 as pb;

/// Negative F1 of the served sentiment each language of `eval/negative.tsv` must keep: a little
/// under what the committed weights score, so noise-free changes pass and real losses do not.
const NEGATIVE_F1_FLOORS: [(&str, f64); 7] =
    [("de", 0.50), ("en", 0.23), ("es", 0.42), ("fr", 0.48), ("it", 0.44), ("nl", 0.16), ("pt", 0.56)];

fn report(text: &str) -> Report {
    let classifier = Classifier::new(Weights::default(), None).unwrap();
    let mut report = Report::default();
    for (index, line) in text.lines().enumerate() {
        let labelled: Labelled = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", index + 1));
        let wire = pb::Post {
            channel: "forum".into(),
            external_id: format!("eval-{index}"),
            author: Some(pb::Author { external_id: "eval".into(), ..Default::default() }),
            text: labelled.text.clone(),
            ..Default::default()
        };
        let classification = classifier.classify(&Post::from_wire(wire, &Limits::default(), 0).unwrap());
        let predicted = Predicted {
            complaint_score: classification.intents.iter().find(|i| i.intent == "complaint").map_or(0.0, |i| i.score),
            language: classification.language,
            complaint: classification.complaint,
            topic: classification.topic,
            sentiment: classification.sentiment,
        };
        report.add(&labelled, &predicted);
    }
    report
}

#[test]
fn scores_on_the_team_set_do_not_regress() {
    let report = report(include_str!("../eval/labelled.jsonl"));
    let failures: Vec<String> = [
        ("complaint F1", report.complaint.f1(), 0.90),
        ("language accuracy", report.language_accuracy(), 0.97),
        ("topic accuracy", report.topic_accuracy(), 0.78),
    ]
    .into_iter()
    .filter(|(_, value, floor)| value < floor)
    .map(|(name, value, floor)| format!("{name} {value:.3} < {floor}"))
    .collect();
    assert!(failures.is_empty(), "{failures:?}");
    let languages: Vec<&String> = report.complaint_by_language.keys().collect();
    assert_eq!(languages, ["de", "en", "es", "fr", "it", "nl", "pt"]);
    for (language, scores) in &report.complaint_by_language {
        if language != "en" {
            assert!(scores.total() >= 40, "{language} has {} posts; the set needs at least 40", scores.total());
        }
    }
    assert!(report.complaint.total() >= 400);
}

#[test]
fn scores_on_the_holdout_set_do_not_regress() {
    let report = report(include_str!("../eval/holdout.jsonl"));
    assert!(report.complaint.f1() >= 0.85, "complaint F1 {:.3}", report.complaint.f1());
    assert!(report.language_accuracy() >= 0.97, "language accuracy {:.3}", report.language_accuracy());
}

/// Negative-vs-rest counts per language on `eval/negative.tsv` (`language<TAB>label<TAB>text`):
/// the served `sentiment`, and the lexicon's reading alone (`sentiment_evidence.lexicon`).
fn negativity_by_language() -> BTreeMap<String, (Binary, Binary)> {
    let classifier = Classifier::new(Weights::default(), None).unwrap();
    let mut by_language: BTreeMap<String, (Binary, Binary)> = BTreeMap::new();
    for (index, line) in include_str!("../eval/negative.tsv").lines().enumerate() {
        let fields: Vec<&str> = line.splitn(3, '\t').collect();
        let [language, label, text] = fields[..] else { panic!("line {}: three fields expected", index + 1) };
        assert!(["negative", "neutral", "positive"].contains(&label), "line {}: label {label}", index + 1);
        let classification = classifier.classify(&Post::example(text, 250));
        let lexicon = classification.sentiment_evidence.as_ref().map_or(0.0, |e| e.lexicon);
        let negative = label == "negative";
        let (served, cues) = by_language.entry(language.to_owned()).or_default();
        served.add(negative, classification.sentiment <= NEGATIVE_SENTIMENT);
        cues.add(negative, lexicon <= NEGATIVE_SENTIMENT);
    }
    by_language
}

#[test]
fn negativity_on_the_team_set_in_seven_languages_does_not_regress() {
    let by_language = negativity_by_language();
    let languages: Vec<&String> = by_language.keys().collect();
    assert_eq!(languages, ["de", "en", "es", "fr", "it", "nl", "pt"]);
    let (mut served_all, mut cues_all) = (Binary::default(), Binary::default());
    let mut failures = Vec::new();
    for (language, (served, cues)) in &by_language {
        let floor = NEGATIVE_F1_FLOORS.iter().find(|(l, _)| l == language).map_or(1.0, |(_, f)| *f);
        if served.f1() < floor {
            failures.push(format!(
                "{language}: negative F1 {:.3} < {floor} (cues alone {:.3})",
                served.f1(),
                cues.f1()
            ));
        }
        for (all, one) in [(&mut served_all, served), (&mut cues_all, cues)] {
            all.tp += one.tp;
            all.fp += one.fp;
            all.fn_ += one.fn_;
            all.tn += one.tn;
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        served_all.f1() > cues_all.f1(),
        "the model must add to the cues: served F1 {:.3}, cues alone {:.3}",
        served_all.f1(),
        cues_all.f1()
    );
}
