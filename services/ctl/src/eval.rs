//! `earshotctl eval`: how well the running classifier does on labelled posts and on human
//! sentiment ratings.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use earshot_core::eval::{Labelled, Predicted, Report};
use earshot_proto::v1 as pb;

use crate::connect::{Endpoints, call_error};
use crate::jsonl;

/// `eval` arguments.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Labelled posts (JSONL: text, and any of language, complaint, topic, sentiment).
    #[arg(long)]
    pub labels: Option<String>,
    /// Human sentiment ratings as `id<TAB>mean rating -4..4<TAB>text` (e.g. VADER's tweets), scored
    /// as English.
    #[arg(long)]
    pub sentiment_truth: Option<String>,
    /// Print the N worst errors.
    #[arg(long, default_value_t = 0)]
    pub misses: usize,
}

fn ratings(path: &str) -> Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let mut labelled = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.splitn(3, '\t');
        let (Some(_id), Some(rating), Some(text)) = (fields.next(), fields.next(), fields.next()) else {
            bail!("{path}:{}: expected id<TAB>rating<TAB>text", index + 1);
        };
        let rating: f32 = rating.trim().parse().with_context(|| format!("{path}:{}: rating", index + 1))?;
        labelled.push(Labelled {
            text: text.to_owned(),
            language: Some("en".to_owned()),
            complaint: None,
            topic: None,
            sentiment: Some(rating / 4.0),
        });
    }
    Ok(labelled)
}

async fn classify(connect: &Endpoints, labelled: &[Labelled], hint: &str) -> Result<Vec<Predicted>> {
    let mut client = connect.classify()?;
    let mut predicted = Vec::with_capacity(labelled.len());
    for (chunk_index, chunk) in labelled.chunks(256).enumerate() {
        let posts = chunk
            .iter()
            .enumerate()
            .map(|(i, l)| pb::Post {
                channel: "forum".into(),
                external_id: format!("eval-{}", chunk_index * 256 + i),
                author: Some(pb::Author { external_id: "eval".into(), ..Default::default() }),
                text: l.text.clone(),
                language_hint: hint.to_owned(),
                ..Default::default()
            })
            .collect();
        let request = connect.request(pb::ClassifyBatchRequest { posts })?;
        let response = client.classify_batch(request).await.map_err(|status| call_error("classify", status))?;
        predicted.extend(response.into_inner().classifications.into_iter().map(|c| Predicted {
            complaint_score: c.intents.iter().find(|i| i.intent == "complaint").map_or(0.0, |i| i.score),
            language: c.language,
            complaint: c.complaint,
            topic: c.topic,
            sentiment: c.sentiment,
        }));
    }
    Ok(predicted)
}

fn print_report(report: &Report) {
    let c = &report.complaint;
    if c.total() > 0 {
        outln!(
            "complaint    precision {:.3}  recall {:.3}  F1 {:.3}  (n={}, tp {} fp {} fn {} tn {})",
            c.precision(),
            c.recall(),
            c.f1(),
            c.total(),
            c.tp,
            c.fp,
            c.fn_,
            c.tn
        );
        for (language, b) in &report.complaint_by_language {
            outln!(
                "  {language:<3}        precision {:.3}  recall {:.3}  F1 {:.3}  (n={})",
                b.precision(),
                b.recall(),
                b.f1(),
                b.total()
            );
        }
    }
    if report.language.1 > 0 {
        outln!(
            "language     accuracy {:.3}  ({} of {} posts of ≥ {} characters)",
            report.language_accuracy(),
            report.language.0,
            report.language.1,
            earshot_core::eval::LANGUAGE_MIN_CHARS
        );
    }
    if !report.topics.is_empty() {
        outln!("topic        accuracy {:.3}", report.topic_accuracy());
        let columns: BTreeSet<&String> =
            report.topics.values().flat_map(|row| row.keys()).chain(report.topics.keys()).collect();
        out!("  {:<12}", "expected\\got");
        for column in &columns {
            out!(" {:>9}", column);
        }
        outln!();
        for (expected, row) in &report.topics {
            out!("  {expected:<12}");
            for column in &columns {
                out!(" {:>9}", row.get(*column).copied().unwrap_or(0));
            }
            outln!();
        }
    }
    if !report.sentiment.is_empty() {
        outln!("sentiment    Pearson r {:.4}  (n={})", report.sentiment_correlation(), report.sentiment.len());
    }
}

/// Runs the evaluation.
pub async fn run(connect: &Endpoints, args: EvalArgs) -> Result<()> {
    if args.labels.is_none() && args.sentiment_truth.is_none() {
        bail!("give --labels FILE and/or --sentiment-truth FILE");
    }
    for (path, is_ratings) in [(args.labels.as_deref(), false), (args.sentiment_truth.as_deref(), true)] {
        let Some(path) = path else { continue };
        let labelled: Vec<Labelled> = if is_ratings { ratings(path)? } else { jsonl::read(path)? };
        let predicted = classify(connect, &labelled, if is_ratings { "en" } else { "" }).await?;
        let mut report = Report::default();
        for (l, p) in labelled.iter().zip(&predicted) {
            report.add(l, p);
        }
        outln!("== {path} ({} posts) ==", labelled.len());
        print_report(&report);
        if args.misses > 0 {
            outln!("worst misses:");
            for miss in report.worst_misses(args.misses) {
                outln!("  {:<9} expected {:<8} got {:<14} {}", miss.kind, miss.expected, miss.got, miss.text);
            }
        }
    }
    Ok(())
}
