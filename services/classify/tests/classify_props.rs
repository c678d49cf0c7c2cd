//! Property tests of the classifier: any post normalisation accepts is classified without a
//! panic, and every number stays in its range.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::LazyLock;

use earshot_classify::Classifier;
use earshot_core::{Post, Weights};
use proptest::prelude::*;

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| Classifier::new(Weights::default(), None).unwrap());

/// Text as customers and bots write it: any Unicode, emoji, shouting, repeated punctuation,
/// mixed languages, cue words glued together.
fn text() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "never",
        "arrived",
        "not",
        "NOT",
        "lawyer",
        "sue",
        "fire",
        "!!!",
        "??",
        ":(",
        "😡",
        "no",
        "gracias",
        "nicht",
        "kaputt",
        "remboursement",
        "third",
        "time",
        "cancel",
        "love",
        "but",
        "worst",
        "ever",
        "but",
        "#fail",
        "@brand",
        "http://x.y/z",
        "…",
        "\u{200b}",
        "ßẞ",
        "İ",
        "ﬁ",
    ]);
    prop_oneof![
        "\\PC{1,200}",
        proptest::collection::vec(words, 1..60).prop_map(|w| w.join(" ")),
        proptest::collection::vec(any::<char>(), 1..300).prop_map(|c| c.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn every_accepted_post_is_classified_within_range(text in text(), followers in any::<u64>(), hint in "[a-z]{0,3}") {
        let mut post = Post::example(&text, followers);
        post.language_hint = hint;
        let Ok(post) = Post::from_wire(post.to_wire(), &Default::default(), 0) else {
            return Ok(()); // refused by normalisation: never reaches the classifier
        };
        let classification = CLASSIFIER.classify(&post);
        prop_assert!(classification.priority <= 100);
        prop_assert!((0.0..=1.0).contains(&classification.risk), "risk {}", classification.risk);
        prop_assert!((-1.0..=1.0).contains(&classification.sentiment), "sentiment {}", classification.sentiment);
        prop_assert!(!classification.topic.is_empty());
        prop_assert!(classification.reasons.iter().all(|reason| reason.contribution.is_finite()));
    }
}
