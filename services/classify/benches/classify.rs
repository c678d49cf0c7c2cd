//! Classification throughput on one core: posts per second through `Classifier::classify`, and how
//! much of it language detection takes. Input: the inbound (customer) tweets of
//! `../shared/data/twcs_sample.csv` when that file is there, otherwise generated posts in the seven
//! languages. Prints a table and writes `target/bench/classify.json`.
//!
//! Run with `make bench` (or `cargo bench -p earshot-classify --bench classify`).

use tokio::time::Instant;

use earshot_classify::Classifier;
use earshot_core::{Post, Weights};
use lingua::{Language, LanguageDetectorBuilder};

const ROUNDS: usize = 5;
const MIN_POSTS: usize = 10_000;

fn post(text: String) -> Post {
    Post::example(&text, 250)
}

fn sample_texts() -> (String, Vec<String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/twcs_sample.csv");
    if let Ok(mut reader) = csv::Reader::from_path(path) {
        let texts: Vec<String> = reader
            .records()
            .filter_map(Result::ok)
            .filter(|r| r.get(3) == Some("True"))
            .filter_map(|r| r.get(5).map(str::to_owned))
            .collect();
        if !texts.is_empty() {
            return ("twcs_sample.csv inbound".into(), texts);
        }
    }
    let generated = [
        "My package never arrived and nobody answers my emails",
        "Do you ship to Canada? Thanks!",
        "Mi pedido no ha llegado y nadie responde, pésimo servicio",
        "On m'a débité deux fois ce mois-ci, je veux un remboursement",
        "Ich kann mich nicht anmelden, mein Passwort funktioniert nicht",
        "A internet está fora do ar de novo, sem sinal desde ontem",
        "Grazie mille, il supporto è stato fantastico!",
        "Hoe kan ik mijn abonnement opzeggen? Ik vind het nergens.",
    ];
    ("generated".into(), generated.iter().map(|t| t.to_string()).collect())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let (source, texts) = sample_texts();
    let posts: Vec<Post> = texts.iter().cycle().take(MIN_POSTS.max(texts.len())).cloned().map(post).collect();
    let classifier = Classifier::new(Weights::default(), None).expect("built-in cues");
    let detector = LanguageDetectorBuilder::from_languages(&earshot_classify::classifier::LANGUAGES)
        .with_preloaded_language_models()
        .build();

    let mut classify_rates = Vec::new();
    let mut detect_rates = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut priorities = 0u64;
        for p in &posts {
            priorities += u64::from(classifier.classify(p).priority);
        }
        classify_rates.push(posts.len() as f64 / start.elapsed().as_secs_f64());
        std::hint::black_box(priorities);

        let start = Instant::now();
        for p in &posts {
            std::hint::black_box(detector.compute_language_confidence_values(p.text.as_str()));
        }
        detect_rates.push(posts.len() as f64 / start.elapsed().as_secs_f64());
    }
    let classify = median(classify_rates);
    let detect = median(detect_rates);

    // Accuracy kept: the classifier's language against lingua high-accuracy alone on what the
    // classifier gives it, the prose without handles and links (agreement), and both against the
    // labels of the team's set (lingua there on the raw text).
    let code = |language: Option<Language>| language.map_or("und".to_owned(), |l| l.iso_code_639_1().to_string());
    let long: Vec<&Post> = posts.iter().take(texts.len()).filter(|p| p.text.chars().count() >= 20).collect();
    let agreeing = long
        .iter()
        .filter(|p| {
            let prose = earshot_classify::text::prose(&p.text);
            classifier.classify(p).language == code(detector.detect_language_of(prose.as_str()))
        })
        .count();
    let fast = long
        .iter()
        .filter(|p| {
            let words: Vec<String> = earshot_classify::text::tokenize(&p.text).into_iter().map(|t| t.norm).collect();
            let prose_chars = earshot_classify::text::prose(&p.text).chars().count();
            earshot_classify::language::by_markers(&words, prose_chars).is_some()
        })
        .count();
    let labelled: Vec<(String, String)> = include_str!("../eval/labelled.jsonl")
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| Some((v["text"].as_str()?.to_owned(), v["language"].as_str()?.to_owned())))
        .filter(|(text, _)| text.chars().count() >= 20)
        .collect();
    let lingua_correct = labelled.iter().filter(|(t, l)| code(detector.detect_language_of(t.as_str())) == *l).count();
    let ours_correct = labelled.iter().filter(|(t, l)| classifier.classify(&post(t.clone())).language == *l).count();
    let share = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
    println!("classify benchmark: {} posts from {source}, {ROUNDS} rounds, one core, median", posts.len());
    println!("{:<36} {:>12}", "stage", "posts/s/core");
    println!("{:<36} {:>12.0}", "Classifier::classify (everything)", classify);
    println!("{:<36} {:>12.0}", "lingua confidence values alone", detect);
    println!("{:<36} {:>11.1}%", "decided by function words", share(fast, long.len()));
    println!("{:<36} {:>11.2}%", "same language as lingua on its prose", share(agreeing, long.len()));
    println!(
        "{:<36} {:>12}",
        "team set language accuracy",
        format!(
            "{:.1}% (lingua alone {:.1}%)",
            share(ours_correct, labelled.len()),
            share(lingua_correct, labelled.len())
        )
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/bench");
    let json = format!(
        "{{\"source\":\"{source}\",\"posts\":{},\"rounds\":{ROUNDS},\"classify_posts_per_s\":{classify:.0},\"lingua_posts_per_s\":{detect:.0},\"agreement_with_lingua\":{:.4},\"team_language_accuracy\":{:.4},\"team_language_accuracy_lingua\":{:.4}}}\n",
        posts.len(),
        share(agreeing, long.len()) / 100.0,
        share(ours_correct, labelled.len()) / 100.0,
        share(lingua_correct, labelled.len()) / 100.0
    );
    if std::fs::create_dir_all(dir).and_then(|_| std::fs::write(format!("{dir}/classify.json"), json)).is_ok() {
        println!("report: target/bench/classify.json");
    }
}
