//! The posts a bench sends: the inbound tweets of a Customer Support on Twitter CSV, or generated
//! ones, each with an external id unique to its phase so none is a duplicate.

use anyhow::{Result, bail};
use earshot_proto::v1 as pb;

use crate::replay::feed;

/// Texts of generated posts: complaints, questions and praise in the languages Earshot serves.
const TEXTS: [&str; 12] = [
    "@AcmeAir third time asking: my bag never arrived and nobody answers. Order {n}. Unacceptable.",
    "@AcmeAir how do I change the seat on booking {n}?",
    "@AcmeAir thanks, the crew on flight {n} was lovely!",
    "@AcmeAir I was charged twice for order {n}, refund me now or I call my lawyer",
    "@AcmeAir mi maleta no llegó y llevo 3 días esperando, pedido {n}",
    "@AcmeAir mon colis {n} n'est jamais arrivé, c'est inadmissible",
    "@AcmeAir meine Bestellung {n} ist seit zwei Wochen nicht da, sehr enttäuscht",
    "@AcmeAir o meu pedido {n} chegou danificado, quero reembolso",
    "@AcmeAir il mio ordine {n} è in ritardo di una settimana",
    "@AcmeAir mijn bestelling {n} is nog steeds niet geleverd",
    "@AcmeAir is there wifi on flight {n}?",
    "@AcmeAir app crashes every time I open my booking {n}, fix it please",
];

/// Where posts come from.
pub enum Source {
    /// Generated posts.
    Generated,
    /// The file's inbound posts, reused in order.
    File {
        /// The file.
        path: String,
        /// Its posts.
        posts: Vec<pb::Post>,
    },
}

impl Source {
    /// Posts from `path` when given, generated ones otherwise.
    pub fn load(path: Option<&str>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Generated);
        };
        let selection = feed::Selection { from_ms: None, until_ms: None, max_gap_ms: 0, limit: 0 };
        let posts: Vec<pb::Post> = feed::load(path, selection)?.into_iter().map(|arrival| arrival.post).collect();
        if posts.is_empty() {
            bail!("{path} has no inbound posts");
        }
        Ok(Self::File { path: path.to_owned(), posts })
    }

    /// What the report says about the input.
    pub fn describe(&self) -> String {
        match self {
            Self::Generated => "generated posts (12 texts in 7 languages)".to_owned(),
            Self::File { path, posts } => format!("{path} ({} inbound posts)", posts.len()),
        }
    }

    /// `count` posts with external ids `{phase}-{i}`; authors repeat as often as in the file
    /// (generated: about one post in five is a follow-up of its author's open case).
    pub fn posts(&self, phase: &str, count: usize) -> Vec<pb::Post> {
        (0..count)
            .map(|i| {
                let mut post = match self {
                    Self::Generated => generated(i),
                    Self::File { posts, .. } => posts[i % posts.len()].clone(),
                };
                post.external_id = format!("{phase}-{i}");
                post
            })
            .collect()
    }
}

fn generated(i: usize) -> pb::Post {
    let author = format!("customer-{}", i * 4 / 5);
    pb::Post {
        channel: "twitter".into(),
        visibility: pb::Visibility::Public as i32,
        author: Some(pb::Author {
            handle: format!("@{author}"),
            external_id: author,
            followers: (i as u64 * 7_919) % 50_000,
            ..Default::default()
        }),
        text: TEXTS[i % TEXTS.len()].replace("{n}", &(10_000 + i).to_string()),
        ..Default::default()
    }
}
