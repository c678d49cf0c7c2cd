//! `earshotctl train`: trains the classifier's learned model on human-labelled posts and writes its
//! weights file. Reads only the training splits (see `earshot_classify::model::train`); the splits
//! `earshotctl eval --corpus` reports on are never opened here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use earshot_classify::Classifier;
use earshot_classify::model::train::{self, Example, Options};
use earshot_classify::model::{Model, ModelError};
use earshot_core::Weights;

/// `train` arguments.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Folder of `label<TAB>text` corpora named as in `../shared/data/train`.
    #[arg(long, default_value = "../shared/data/train")]
    pub data: PathBuf,
    /// Where to write the weights file.
    #[arg(long, default_value = "services/classify/model/sentiment.model")]
    pub out: PathBuf,
    /// Shuffling seed.
    #[arg(long, default_value_t = Options::default().seed)]
    pub seed: u64,
    /// Passes over the data.
    #[arg(long, default_value_t = Options::default().epochs)]
    pub epochs: usize,
    /// log2 of the number of hash buckets (the file holds 4 bytes per bucket).
    #[arg(long, default_value_t = Options::default().buckets_log2, value_parser = clap::value_parser!(u32).range(8..=24))]
    pub buckets_log2: u32,
    /// AdaGrad's learning rate.
    #[arg(long, default_value_t = Options::default().learning_rate)]
    pub learning_rate: f32,
    /// L2 penalty.
    #[arg(long, default_value_t = Options::default().l2)]
    pub l2: f32,
}

/// Hex xxh3 of a file, so a weights file names exactly the data it came from.
fn fingerprint(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

fn read_training_files(data: &Path) -> Result<(Vec<Example>, Vec<serde_json::Value>)> {
    let mut examples = Vec::new();
    let mut files = Vec::new();
    for split in train::standard_splits() {
        for name in &split.train {
            let path = data.join(name);
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let read = train::read_tsv(&path, split.language)?;
            eprintln!("  {name}: {} posts ({})", read.len(), split.language);
            files.push(serde_json::json!({ "file": name, "posts": read.len(), "xxh3": fingerprint(&bytes) }));
            examples.extend(read);
        }
    }
    Ok((examples, files))
}

/// Runs the training.
pub fn run(args: TrainArgs) -> Result<()> {
    let started = tokio::time::Instant::now();
    eprintln!("reading training splits from {}", args.data.display());
    let (examples, files) = read_training_files(&args.data)?;
    let classifier = Classifier::with_model(Weights::default(), None, Model::untrained())?;
    let options = Options {
        buckets_log2: args.buckets_log2,
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        l2: args.l2,
        seed: args.seed,
        ..Options::default()
    };
    eprintln!(
        "training on {} posts: {} folds for calibration, then the final model ({} epochs, 2^{} buckets)",
        examples.len(),
        options.folds,
        options.epochs,
        options.buckets_log2
    );
    let command = format!(
        "earshotctl train --data ../shared/data/train --seed {} --epochs {} --buckets-log2 {} --learning-rate {} --l2 {}",
        args.seed, args.epochs, args.buckets_log2, args.learning_rate, args.l2
    );
    let provenance = serde_json::json!({ "command": command, "files": files });
    let (model, scores) =
        train::train(&examples, |text, language| classifier.model_input(text, language), &options, provenance);
    let bytes = model.to_bytes();
    std::fs::write(&args.out, &bytes)
        .map_err(|source| ModelError::Io { path: args.out.display().to_string(), source })?;

    outln!("out-of-fold negative-vs-rest F1 on the training splits (calibration; not a test score):");
    outln!(
        "{:<4} {:>7} {:>9} {:>9} {:>9} {:>10} {:>8} {:>6}",
        "lang",
        "posts",
        "lexicon",
        "model",
        "fused",
        "threshold",
        "offset",
        "share"
    );
    for (language, score) in &scores {
        outln!(
            "{language:<4} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>10.2} {:>8.2} {:>6.1}",
            score.examples,
            score.lexicon_f1,
            score.model_f1,
            score.fused_f1,
            model.calibration.threshold(language),
            model.calibration.offsets.get(language).copied().unwrap_or_default(),
            model.calibration.lexicon_shares.get(language).copied().unwrap_or_default()
        );
    }
    outln!(
        "wrote {} ({:.2} MB, {} buckets) in {:.1} s",
        args.out.display(),
        bytes.len() as f64 / 1e6,
        model.buckets(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
