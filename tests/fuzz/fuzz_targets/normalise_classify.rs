//! Arbitrary bytes through what every post goes through: decoded as a wire `Post` (as a client
//! could send it) and also taken as its text, normalised by `Post::from_wire`, and, when
//! accepted, classified; personal-data masking runs on the text too. Any panic is a bug.

#![no_main]

use std::sync::LazyLock;

use earshot_classify::Classifier;
use earshot_core::{Limits, Post, Weights};
use earshot_proto::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

static CLASSIFIER: LazyLock<Classifier> =
    LazyLock::new(|| Classifier::new(Weights::default(), None).expect("the built-in cues load"));

const NOW_MS: i64 = 1_800_000_000_000;

fn check(post: pb::Post) {
    if let Ok(post) = Post::from_wire(post, &Limits::default(), NOW_MS) {
        let classification = CLASSIFIER.classify(&post);
        assert!(classification.priority <= 100);
        assert!((0.0..=1.0).contains(&classification.risk));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(post) = pb::Post::decode(data) {
        check(post);
    }
    let text = String::from_utf8_lossy(data);
    let _ = earshot_core::pii::mask(&text);
    let mut post = Post::example(&text, u64::from(data.first().copied().unwrap_or(0)) << 20).to_wire();
    post.language_hint = if data.len() % 3 == 0 { "en".into() } else { String::new() };
    check(post);
});
