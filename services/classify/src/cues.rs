//! Cue lists: the words and phrases that carry sentiment, intent and topic, per language.
//! They are data (`cues/*.tsv`, format in `cues/README.md`), embedded at build time and extendable
//! from a directory at start.

use foldhash::{HashMap, HashMapExt};
use std::path::Path;

use earshot_core::Intent;

use crate::text::{fold, tokenize};

/// Languages the classifier serves, with their built-in cue files.
pub const BUILT_IN: [(&str, &str); 7] = [
    ("en", include_str!("../cues/en.tsv")),
    ("es", include_str!("../cues/es.tsv")),
    ("fr", include_str!("../cues/fr.tsv")),
    ("de", include_str!("../cues/de.tsv")),
    ("pt", include_str!("../cues/pt.tsv")),
    ("it", include_str!("../cues/it.tsv")),
    ("nl", include_str!("../cues/nl.tsv")),
];

/// Topics, which are also the default queues.
pub const TOPICS: [&str; 5] = ["billing", "delivery", "account", "technical", "sales"];

/// What a cue says when it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cue {
    /// Valence on VADER's −4 … 4 scale.
    Sentiment(f32),
    /// Flips the next words' valence.
    Negation,
    /// Strengthens (or softens) the next word's valence.
    Booster(f32),
    /// Evidence for an intent.
    Intent(Intent, f32),
    /// Evidence for a topic (index into [`TOPICS`]).
    Topic(usize, f32),
}

/// A phrase and what it means.
#[derive(Debug, Clone)]
pub struct Phrase {
    /// Its words, normalised as text is.
    pub words: Vec<String>,
    /// As written in the cue file, for reasons shown to agents.
    pub text: String,
    /// Meaning.
    pub cue: Cue,
}

/// A cue file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CueError {
    /// A line is malformed.
    #[error("{source_name}:{line}: {reason}")]
    Line {
        /// File or built-in name.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The directory or a file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The cues of one language, indexed by their first word (or, for a first word written as a
/// prefix such as `cancel*`, by that prefix).
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    by_first_word: HashMap<String, Vec<Phrase>>,
    by_first_prefix: HashMap<String, Vec<Phrase>>,
    prefix_lengths: Vec<usize>,
    by_first_number: Vec<Phrase>,
}

/// Whether a cue word matches a text word: exactly, by prefix when the cue word ends in `*`, or
/// any number ("3", "3rd", "40min") when the cue word is `#`.
fn word_matches(cue: &str, word: &str) -> bool {
    if cue == NUMBER {
        return word.starts_with(|c: char| c.is_ascii_digit());
    }
    match cue.strip_suffix('*') {
        Some(stem) => word.starts_with(stem),
        None => cue == word,
    }
}

/// The cue word that stands for any number.
const NUMBER: &str = "#";

/// A cue phrase's words, normalised like text; a trailing `*` (prefix match) is kept.
fn cue_words(phrase: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in phrase.split_whitespace() {
        if part == NUMBER {
            words.push(NUMBER.to_owned());
            continue;
        }
        let stem = part.strip_suffix('*');
        let mut tokens: Vec<String> = tokenize(stem.unwrap_or(part)).into_iter().map(|t| t.norm).collect();
        if stem.is_some()
            && let Some(last) = tokens.last_mut()
        {
            last.push('*');
        }
        words.extend(tokens);
    }
    words
}

impl Lexicon {
    /// Adds the cues of a TSV text (see `cues/README.md`).
    pub fn extend_from_tsv(&mut self, source_name: &str, text: &str) -> Result<(), CueError> {
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let error =
                |reason: String| CueError::Line { source_name: source_name.to_owned(), line: index + 1, reason };
            let fields: Vec<&str> = line.split('\t').collect();
            let [kind, label, phrase, weight] = fields.as_slice() else {
                return Err(error(format!("expected 4 tab-separated fields, found {}", fields.len())));
            };
            let weight: f32 = weight.trim().parse().map_err(|_| error(format!("weight '{weight}' is not a number")))?;
            let cue = match *kind {
                "sentiment" => Cue::Sentiment(weight),
                "negation" => Cue::Negation,
                "booster" => Cue::Booster(weight),
                "intent" => {
                    Cue::Intent(Intent::parse(label).ok_or_else(|| error(format!("unknown intent '{label}'")))?, weight)
                }
                "topic" => Cue::Topic(
                    TOPICS.iter().position(|t| t == label).ok_or_else(|| error(format!("unknown topic '{label}'")))?,
                    weight,
                ),
                other => return Err(error(format!("unknown kind '{other}'"))),
            };
            let words = cue_words(phrase);
            let Some(first) = words.first().cloned() else {
                return Err(error("empty phrase".to_owned()));
            };
            let entries = match first.strip_suffix('*') {
                _ if first == NUMBER => &mut self.by_first_number,
                Some(stem) => {
                    let length = stem.chars().count();
                    if !self.prefix_lengths.contains(&length) {
                        self.prefix_lengths.push(length);
                        self.prefix_lengths.sort_unstable();
                    }
                    self.by_first_prefix.entry(stem.to_owned()).or_default()
                }
                None => self.by_first_word.entry(first).or_default(),
            };
            entries.push(Phrase { words, text: phrase.trim().to_owned(), cue });
            // Longest phrases first, so "no problem" wins over "no".
            entries.sort_by_key(|phrase| std::cmp::Reverse(phrase.words.len()));
        }
        Ok(())
    }

    /// Every phrase that starts at word `at` of `words`: exact first words first, longest first.
    pub fn matches_at<'a>(&'a self, words: &'a [String], at: usize) -> impl Iterator<Item = &'a Phrase> + 'a {
        let word = words[at].as_str();
        let ascii = word.is_ascii();
        let prefixed = self.prefix_lengths.iter().filter_map(move |length| {
            // Byte offset of the end of the word's first `length` characters, if it has that many.
            let end = if ascii {
                (*length <= word.len()).then_some(*length)?
            } else {
                word.char_indices().map(|(i, _)| i).chain([word.len()]).nth(*length)?
            };
            self.by_first_prefix.get(&word[..end])
        });
        let numbered = word.starts_with(|c: char| c.is_ascii_digit()).then_some(&self.by_first_number);
        self.by_first_word.get(word).into_iter().chain(prefixed).chain(numbered).flatten().filter(move |phrase| {
            phrase.words.len() <= words.len() - at
                && phrase.words.iter().zip(&words[at..]).all(|(cue, word)| word_matches(cue, word))
        })
    }
}

/// The cue lexicon of each served language.
pub type Lexicons = HashMap<&'static str, Lexicon>;

/// The cues of every tenant: the built-in ones plus a deployment's own, and per tenant its own on
/// top (product names, competitors, slang).
#[derive(Debug, Clone, Default)]
pub struct CueSet {
    shared: Lexicons,
    tenants: HashMap<String, Lexicons>,
}

impl CueSet {
    /// The lexicons that apply to `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> &Lexicons {
        self.tenants.get(tenant).unwrap_or(&self.shared)
    }

    /// Tenants with cues of their own.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }
}

/// Reads `<dir>/<lang>.tsv` for every served language that has one.
fn read_overlay(dir: &Path) -> Result<HashMap<&'static str, (String, String)>, CueError> {
    let mut overlay = HashMap::new();
    for (language, _) in BUILT_IN {
        let path = dir.join(format!("{language}.tsv"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                overlay.insert(language, (path.display().to_string(), text));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CueError::Io { path: path.display().to_string(), source }),
        }
    }
    Ok(overlay)
}

/// Built-in cues per language, each merged with English (customers mix languages), then each
/// overlay in order (English lines of an overlay apply to every language too).
fn build(overlays: &[&HashMap<&'static str, (String, String)>]) -> Result<Lexicons, CueError> {
    let mut lexicons = HashMap::new();
    for (language, text) in BUILT_IN {
        let mut lexicon = Lexicon::default();
        lexicon.extend_from_tsv(&format!("cues/{language}.tsv"), text)?;
        if language != "en" {
            lexicon.extend_from_tsv("cues/en.tsv", BUILT_IN[0].1)?;
        }
        let sources: &[&str] = if language == "en" { &["en"] } else { &["en", language] };
        for overlay in overlays {
            for source in sources {
                if let Some((name, text)) = overlay.get(source) {
                    lexicon.extend_from_tsv(name, text)?;
                }
            }
        }
        lexicons.insert(language, lexicon);
    }
    Ok(lexicons)
}

/// The built-in cues, plus those in `extra_dir`: `<lang>.tsv` files there apply to every tenant,
/// and `<tenant>/<lang>.tsv` files only to that tenant.
pub fn load(extra_dir: Option<&Path>) -> Result<CueSet, CueError> {
    let Some(dir) = extra_dir else {
        return Ok(CueSet { shared: build(&[])?, tenants: HashMap::new() });
    };
    let deployment = read_overlay(dir)?;
    let shared = build(&[&deployment])?;
    let mut tenants = HashMap::new();
    let entries = std::fs::read_dir(dir).map_err(|source| CueError::Io { path: dir.display().to_string(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| CueError::Io { path: dir.display().to_string(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && earshot_core::Tenant::parse(&name).is_ok() {
            let own = read_overlay(&entry.path())?;
            tenants.insert(name, build(&[&deployment, &own])?);
        }
    }
    Ok(CueSet { shared, tenants })
}

/// Folds a language tag (`pt-BR`, `EN`) to the code the cues use.
pub fn language_code(tag: &str) -> String {
    tag.split(['-', '_']).next().unwrap_or_default().chars().map(fold).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_cues_match_inflections() {
        let mut lexicon = Lexicon::default();
        lexicon
            .extend_from_tsv("test", "intent\tcomplaint\tcancel*\t0.5\nintent\tcomplaint\tkeeps crash*\t0.8\nintent\tcomplaint\t# hours\t0.5\n")
            .unwrap();
        let words = |text: &str| -> Vec<String> { tokenize(text).into_iter().map(|t| t.norm).collect() };
        let found = |text: &str, at: usize| lexicon.matches_at(&words(text), at).count();
        assert_eq!(found("cancelled", 0), 1);
        assert_eq!(found("cancel", 0), 1);
        assert_eq!(found("can", 0), 0);
        assert_eq!(found("the app keeps crashing", 2), 1);
        assert_eq!(found("the app keeps", 2), 0);
        assert_eq!(found("on hold 3 hours", 2), 1);
        assert_eq!(found("on hold 3rd hours", 2), 1);
        assert_eq!(found("on hold three hours", 2), 0);
    }

    #[test]
    fn built_in_cues_parse() {
        let cues = load(None).unwrap();
        assert_eq!(cues.for_tenant("anyone").len(), 7);
    }

    #[test]
    fn extra_cues_extend_a_language_and_bad_lines_name_their_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("es.tsv"), "intent\tchurn_threat\tme voy a acmecorp\t0.9\n").unwrap();
        std::fs::create_dir(dir.path().join("acme")).unwrap();
        std::fs::write(dir.path().join("acme").join("en.tsv"), "topic\ttechnical\trocketbox\t2\n").unwrap();
        let cues = load(Some(dir.path())).unwrap();
        let words = |text: &str| -> Vec<String> { tokenize(text).into_iter().map(|t| t.norm).collect() };
        let churn = |lexicons: &Lexicons| {
            lexicons["es"]
                .matches_at(&words("me voy a AcmeCorp"), 0)
                .any(|p| matches!(p.cue, Cue::Intent(Intent::ChurnThreat, _)))
        };
        assert!(churn(cues.for_tenant("default")) && churn(cues.for_tenant("acme")), "deployment cues apply to all");
        let product =
            |lexicons: &Lexicons, language: &str| lexicons[language].matches_at(&words("rocketbox"), 0).count();
        assert_eq!((product(cues.for_tenant("acme"), "en"), product(cues.for_tenant("acme"), "de")), (1, 1));
        assert_eq!(product(cues.for_tenant("default"), "en"), 0, "a tenant's cues are its own");
        assert_eq!(cues.tenants().collect::<Vec<_>>(), ["acme"]);

        std::fs::write(dir.path().join("fr.tsv"), "intent\tnope\tx\t1\n").unwrap();
        let error = load(Some(dir.path())).unwrap_err().to_string();
        assert!(error.contains("fr.tsv:1") && error.contains("unknown intent"), "{error}");
    }
}
