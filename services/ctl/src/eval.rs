//! `earshotctl eval`: how well the running classifier does on labelled posts, on human sentiment
//! ratings, and on the never-trained splits of human-labelled corpora, next to a baseline run in
//! the same command.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use earshot_classify::model::train::{Label, read_tsv, standard_splits};
use earshot_core::eval::{Binary, Labelled, Predicted, Report};
use earshot_core::scoring::NEGATIVE_SENTIMENT;
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
    /// Folder of `label<TAB>text` corpora (`../shared/data/train`): scores negative-vs-rest on the
    /// splits training never reads, for the cues alone, the model alone, the fusion and the
    /// complaint flag.
    #[arg(long)]
    pub corpus: Option<String>,
    /// With --corpus: a baseline script to run on the same folder and print beside (e.g.
    /// `../shared/tools/baseline_negative.py`; it is given `--data DIR --json`).
    #[arg(long, requires = "corpus")]
    pub baseline: Option<String>,
    /// With --corpus: send each split's language as the posts' language hint (by default the
    /// classifier detects it, as it must for most real posts).
    #[arg(long, requires = "corpus")]
    pub language_hint: bool,
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

/// Classifies `texts` through `ClassifyBatch`, 256 at a time.
async fn classify_texts(connect: &Endpoints, texts: &[&str], hint: &str) -> Result<Vec<pb::Classification>> {
    let mut client = connect.classify()?;
    let mut classifications = Vec::with_capacity(texts.len());
    for (chunk_index, chunk) in texts.chunks(256).enumerate() {
        let posts = chunk
            .iter()
            .enumerate()
            .map(|(i, text)| pb::Post {
                channel: "forum".into(),
                external_id: format!("eval-{}", chunk_index * 256 + i),
                author: Some(pb::Author { external_id: "eval".into(), ..Default::default() }),
                text: (*text).to_owned(),
                language_hint: hint.to_owned(),
                ..Default::default()
            })
            .collect();
        let request = connect.request(pb::ClassifyBatchRequest { posts })?;
        let response = client.classify_batch(request).await.map_err(|status| call_error("classify", status))?;
        classifications.extend(response.into_inner().classifications);
    }
    Ok(classifications)
}

async fn classify(connect: &Endpoints, labelled: &[Labelled], hint: &str) -> Result<Vec<Predicted>> {
    let texts: Vec<&str> = labelled.iter().map(|l| l.text.as_str()).collect();
    let classifications = classify_texts(connect, &texts, hint).await?;
    Ok(classifications
        .into_iter()
        .map(|c| Predicted {
            complaint_score: c.intents.iter().find(|i| i.intent == "complaint").map_or(0.0, |i| i.score),
            language: c.language,
            complaint: c.complaint,
            topic: c.topic,
            sentiment: c.sentiment,
        })
        .collect())
}

/// Negative-vs-rest decisions of one never-trained split, by each reading of the classifier.
#[derive(Debug, Default)]
struct SplitScore {
    language: String,
    posts: usize,
    language_correct: usize,
    /// The cue lexicon alone (VADER in English): `lexicon <= -0.05`.
    cues: Binary,
    /// The model alone: `model_negative >= model_threshold`.
    model: Binary,
    /// What Earshot serves: `sentiment <= -0.05`.
    fused: Binary,
    /// The complaint flag, judged against the negative label.
    complaint: Binary,
}

/// Baseline F1 per split file, from the baseline script's JSON.
fn run_baseline(script: &str, corpus: &str) -> Result<BTreeMap<String, f64>> {
    eprintln!("running the baseline {script} on {corpus} …");
    let output = std::process::Command::new("python3")
        .args([script, "--data", corpus, "--json"])
        .output()
        .with_context(|| format!("running python3 {script}"))?;
    if !output.status.success() {
        bail!("baseline {script} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let report: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&output.stdout).context("reading the baseline's JSON")?;
    Ok(report.into_iter().filter_map(|(split, scores)| Some((split, scores["f1"].as_f64()?))).collect())
}

async fn eval_corpus(connect: &Endpoints, args: &EvalArgs, corpus: &str) -> Result<()> {
    let baseline = match &args.baseline {
        Some(script) => Some(run_baseline(script, corpus)?),
        None => None,
    };
    let mut scores: Vec<(String, SplitScore)> = Vec::new();
    for split in standard_splits() {
        for name in &split.test {
            let examples = read_tsv(&Path::new(corpus).join(name), split.language)?;
            eprintln!("classifying {name} ({} posts) …", examples.len());
            let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
            let hint = if args.language_hint { split.language } else { "" };
            let classifications = classify_texts(connect, &texts, hint).await?;
            let mut score =
                SplitScore { language: split.language.to_owned(), posts: examples.len(), ..Default::default() };
            for (example, c) in examples.iter().zip(&classifications) {
                let negative = example.label == Label::Negative;
                let evidence = c.sentiment_evidence.unwrap_or_default();
                score.cues.add(negative, evidence.lexicon <= NEGATIVE_SENTIMENT);
                score.model.add(negative, evidence.model_negative >= evidence.model_threshold);
                score.fused.add(negative, c.sentiment <= NEGATIVE_SENTIMENT);
                score.complaint.add(negative, c.complaint);
                score.language_correct += usize::from(c.language == split.language);
            }
            scores.push(((*name).to_owned(), score));
        }
    }
    outln!(
        "== never-trained splits of {corpus}: negative vs rest, F1 ({}) ==",
        if args.language_hint { "language hint sent" } else { "language detected" }
    );
    outln!(
        "{:<34} {:<4} {:>5} {:>6} {:>6} {:>6} {:>20} {:>20} {:>9}",
        "split",
        "lang",
        "posts",
        "lang%",
        "cues",
        "model",
        "served P / R / F1",
        "complaint P / R / F1",
        "baseline"
    );
    let triple = |b: &Binary| format!("{:.2} / {:.2} / {:.3}", b.precision(), b.recall(), b.f1());
    for (name, s) in &scores {
        let base = baseline.as_ref().and_then(|b| b.get(name)).map_or("-".to_owned(), |f1| format!("{f1:.3}"));
        outln!(
            "{name:<34} {:<4} {:>5} {:>6.1} {:>6.3} {:>6.3} {:>20} {:>20} {:>9}",
            s.language,
            s.posts,
            100.0 * s.language_correct as f64 / s.posts.max(1) as f64,
            s.cues.f1(),
            s.model.f1(),
            triple(&s.fused),
            triple(&s.complaint),
            base
        );
    }
    outln!("cues: lexicon (VADER in English) sentiment <= -0.05, the classifier before the model;");
    outln!("model: the learned model alone at its language's threshold; served: sentiment <= -0.05 as");
    outln!("Earshot serves it (cues and model fused); complaint: the complaint flag against the");
    outln!("negative label (a complaint is a negative post to a brand, so precision is the check and");
    outln!("recall is bounded by the negative posts that are no complaint).");
    Ok(())
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
    if args.labels.is_none() && args.sentiment_truth.is_none() && args.corpus.is_none() {
        bail!("give --labels FILE, --sentiment-truth FILE and/or --corpus DIR");
    }
    if let Some(corpus) = &args.corpus {
        eval_corpus(connect, &args, corpus).await?;
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
