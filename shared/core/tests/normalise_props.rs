//! Property tests of post normalisation: whatever a client sends, `Post::from_wire` never panics;
//! it either refuses naming one of the post's fields, or returns a post that keeps every promise
//! later services rely on.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use earshot_core::{Limits, Post};
use earshot_proto::v1 as pb;
use proptest::prelude::*;

const NOW_MS: i64 = 1_800_000_000_000;
const FIELDS: [&str; 13] = [
    "channel",
    "external_id",
    "visibility",
    "author",
    "author.external_id",
    "author.handle",
    "author.tier",
    "text",
    "language_hint",
    "created_at",
    "metadata",
    "in_reply_to",
    "thread_id",
];

/// Strings a client might send: any Unicode, control characters, long runs, plausible values.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \\t\\n\\r\\x00-\\x1f]{0,8}",
        "\\PC{0,40}",
        Just("my parcel never arrived, third time I ask".to_owned()),
        (1usize..20_000).prop_map(|n| "é".repeat(n)),
    ]
}

fn wire_post() -> impl Strategy<Value = pb::Post> {
    let channel = prop_oneof![Just("twitter".to_owned()), Just("REVIEW ".to_owned()), any::<String>()];
    let author = proptest::option::of((text(), text(), any::<u64>(), any::<bool>(), text()).prop_map(
        |(external_id, handle, followers, verified, tier)| pb::Author {
            external_id,
            handle,
            followers,
            verified,
            tier,
        },
    ));
    let created_at = proptest::option::of(
        (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| pbjson_types::Timestamp { seconds, nanos }),
    );
    let metadata = proptest::collection::hash_map(text(), text(), 0..80);
    (channel, text(), any::<i32>(), author, text(), text(), created_at, metadata, any::<u64>()).prop_map(
        |(channel, external_id, visibility, author, text, language_hint, created_at, metadata, likes)| pb::Post {
            channel,
            external_id,
            visibility,
            author,
            text,
            language_hint,
            created_at,
            metadata,
            engagement: Some(pb::Engagement { likes, shares: likes / 3, replies: u64::MAX - likes }),
            ..Default::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn masking_personal_data_never_panics_and_is_stable(text in text()) {
        let once = earshot_core::pii::mask(&text).into_owned();
        prop_assert_eq!(earshot_core::pii::mask(&once).into_owned(), once.clone());
        prop_assert!(!once.contains("@example.com"));
    }

    #[test]
    fn an_address_or_number_inside_any_text_is_masked(before in "\\PC{0,30}", after in "\\PC{0,30}") {
        let text = format!("{before} jane.doe@example.com +44 20 7946 0958 {after}");
        let masked = earshot_core::pii::mask(&text);
        prop_assert!(!masked.contains("jane.doe@example.com"), "{}", masked);
        prop_assert!(!masked.contains("7946 0958"), "{}", masked);
    }

    #[test]
    fn normalisation_refuses_by_field_or_keeps_its_promises(post in wire_post()) {
        let limits = Limits::default();
        match Post::from_wire(post, &limits, NOW_MS) {
            Err(invalid) => prop_assert!(FIELDS.contains(&invalid.field.as_str()), "unknown field {}", invalid.field),
            Ok(post) => {
                prop_assert!(!post.text.trim().is_empty());
                prop_assert!(post.text.chars().count() <= limits.max_text_chars);
                prop_assert!(!post.text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                prop_assert!(!post.external_id.is_empty() && post.external_id.len() <= 256);
                prop_assert!(!post.author.external_id.is_empty());
                prop_assert!(post.created_at_ms >= 0 && post.created_at_ms <= NOW_MS + 24 * 3600 * 1000);
                // What was accepted survives the trip through the wire unchanged.
                let again = Post::from_wire(post.to_wire(), &limits, NOW_MS).unwrap();
                prop_assert_eq!(again, post);
            }
        }
    }
}
