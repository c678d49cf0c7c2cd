//! Guards the classifier's scores on the team's sets (`eval/labelled.jsonl`, `eval/holdout.jsonl`) so a change
//! to cues, weights or code cannot quietly make them worse. `earshotctl eval` prints the same
//! figures for a running service.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use earshot_classify::Classifier;
use earshot_core::eval::{Labelled, Predicted, Report};
use earshot_core::{Limits, Post, Weights};
use earshot_proto::v1 as pb;

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
