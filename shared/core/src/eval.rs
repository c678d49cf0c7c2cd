//! Measuring the classifier against labelled posts: complaint precision, recall and F1 (overall and
//! per language), language and topic accuracy with a confusion matrix, and the correlation of
//! sentiment with human ratings. Shared by `earshotctl eval` and the test that guards the scores.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One labelled post (a JSONL line of the evaluation set). Absent labels are not scored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Labelled {
    /// The post's text.
    pub text: String,
    /// ISO 639-1 language.
    #[serde(default)]
    pub language: Option<String>,
    /// Whether it is a complaint.
    #[serde(default)]
    pub complaint: Option<bool>,
    /// billing, delivery, account, technical, sales or general.
    #[serde(default)]
    pub topic: Option<String>,
    /// Human sentiment in [-1, 1].
    #[serde(default)]
    pub sentiment: Option<f32>,
}

/// What the classifier said about a labelled post.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicted {
    /// Detected language.
    pub language: String,
    /// Complaint flag.
    pub complaint: bool,
    /// Evidence for the complaint flag, for ranking misses.
    pub complaint_score: f32,
    /// Topic.
    pub topic: String,
    /// Sentiment in [-1, 1].
    pub sentiment: f32,
}

/// Counts of a binary decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Binary {
    /// True positives.
    pub tp: u32,
    /// False positives.
    pub fp: u32,
    /// False negatives.
    pub fn_: u32,
    /// True negatives.
    pub tn: u32,
}

impl Binary {
    /// Counts one decision.
    pub fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    /// tp / (tp + fp).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn).
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }

    /// Posts counted.
    pub fn total(&self) -> u32 {
        self.tp + self.fp + self.fn_ + self.tn
    }
}

fn ratio(numerator: u32, denominator: u32) -> f64 {
    if denominator == 0 { 0.0 } else { f64::from(numerator) / f64::from(denominator) }
}

/// Pearson correlation; 0 when either side has no variance.
pub fn pearson(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len().min(ys.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// A post the classifier got wrong, with how wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    /// What was wrong: `complaint`, `language`, `topic` or `sentiment`.
    pub kind: &'static str,
    /// The text.
    pub text: String,
    /// Expected label.
    pub expected: String,
    /// What the classifier said.
    pub got: String,
    /// Larger is worse.
    pub severity: f32,
}

/// Posts shorter than this are not counted for language accuracy (too little text to tell).
pub const LANGUAGE_MIN_CHARS: usize = 20;

/// The scores over an evaluation set.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Complaint decisions over every post labelled with one.
    pub complaint: Binary,
    /// Complaint decisions per labelled language.
    pub complaint_by_language: BTreeMap<String, Binary>,
    /// (correct, counted) language detections on posts of at least [`LANGUAGE_MIN_CHARS`].
    pub language: (u32, u32),
    /// Topic confusion: expected → predicted → count.
    pub topics: BTreeMap<String, BTreeMap<String, u32>>,
    /// (human, predicted) sentiment pairs.
    pub sentiment: Vec<(f64, f64)>,
    /// Every error, for `--misses`.
    pub misses: Vec<Miss>,
}

impl Report {
    /// Scores one post.
    pub fn add(&mut self, labelled: &Labelled, predicted: &Predicted) {
        if let Some(truth) = labelled.complaint {
            self.complaint.add(truth, predicted.complaint);
            let language = labelled.language.clone().unwrap_or_else(|| "?".to_owned());
            self.complaint_by_language.entry(language).or_default().add(truth, predicted.complaint);
            if truth != predicted.complaint {
                self.misses.push(Miss {
                    kind: "complaint",
                    text: labelled.text.clone(),
                    expected: truth.to_string(),
                    got: format!("{} ({:.2})", predicted.complaint, predicted.complaint_score),
                    severity: (predicted.complaint_score - 0.5).abs() + 0.5,
                });
            }
        }
        if let Some(language) = &labelled.language
            && labelled.text.chars().count() >= LANGUAGE_MIN_CHARS
        {
            self.language.1 += 1;
            if *language == predicted.language {
                self.language.0 += 1;
            } else {
                self.misses.push(Miss {
                    kind: "language",
                    text: labelled.text.clone(),
                    expected: language.clone(),
                    got: predicted.language.clone(),
                    severity: 1.0,
                });
            }
        }
        if let Some(topic) = &labelled.topic {
            *self.topics.entry(topic.clone()).or_default().entry(predicted.topic.clone()).or_default() += 1;
            if *topic != predicted.topic {
                self.misses.push(Miss {
                    kind: "topic",
                    text: labelled.text.clone(),
                    expected: topic.clone(),
                    got: predicted.topic.clone(),
                    severity: 0.5,
                });
            }
        }
        if let Some(sentiment) = labelled.sentiment {
            self.sentiment.push((f64::from(sentiment), f64::from(predicted.sentiment)));
            let error = (sentiment - predicted.sentiment).abs();
            if error > 0.5 {
                self.misses.push(Miss {
                    kind: "sentiment",
                    text: labelled.text.clone(),
                    expected: format!("{sentiment:.2}"),
                    got: format!("{:.2}", predicted.sentiment),
                    severity: error,
                });
            }
        }
    }

    /// Share of correct language detections.
    pub fn language_accuracy(&self) -> f64 {
        ratio(self.language.0, self.language.1)
    }

    /// Share of correct topics.
    pub fn topic_accuracy(&self) -> f64 {
        let total: u32 = self.topics.values().flat_map(|row| row.values()).sum();
        let correct: u32 = self.topics.iter().map(|(expected, row)| row.get(expected).copied().unwrap_or(0)).sum();
        ratio(correct, total)
    }

    /// Pearson r of predicted against human sentiment.
    pub fn sentiment_correlation(&self) -> f64 {
        let (human, predicted): (Vec<f64>, Vec<f64>) = self.sentiment.iter().copied().unzip();
        pearson(&human, &predicted)
    }

    /// The `n` worst errors, worst first.
    pub fn worst_misses(&self, n: usize) -> Vec<&Miss> {
        let mut misses: Vec<&Miss> = self.misses.iter().collect();
        misses.sort_by(|a, b| b.severity.total_cmp(&a.severity));
        misses.truncate(n);
        misses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(text: &str, language: &str, complaint: bool, topic: &str) -> Labelled {
        Labelled {
            text: text.into(),
            language: Some(language.into()),
            complaint: Some(complaint),
            topic: Some(topic.into()),
            sentiment: None,
        }
    }

    fn predicted(language: &str, complaint: bool, topic: &str) -> Predicted {
        Predicted {
            language: language.into(),
            complaint,
            complaint_score: if complaint { 0.9 } else { 0.1 },
            topic: topic.into(),
            sentiment: 0.0,
        }
    }

    #[test]
    fn scores_add_up() {
        let mut report = Report::default();
        let long = "a text that is long enough to count";
        report.add(&labelled(long, "en", true, "billing"), &predicted("en", true, "billing"));
        report.add(&labelled(long, "en", true, "delivery"), &predicted("en", false, "billing"));
        report.add(&labelled(long, "es", false, "general"), &predicted("pt", true, "general"));
        report.add(&labelled("short", "es", false, "general"), &predicted("it", false, "general"));
        assert_eq!(report.complaint, Binary { tp: 1, fp: 1, fn_: 1, tn: 1 });
        assert_eq!(report.complaint.f1(), 0.5);
        assert_eq!(report.language, (2, 3), "the short post does not count");
        assert_eq!(report.topic_accuracy(), 0.75);
        assert_eq!(report.complaint_by_language["es"].fp, 1);
        assert_eq!(report.worst_misses(10).len(), 4);
    }

    #[test]
    fn pearson_of_perfect_and_opposite_lines() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }
}
