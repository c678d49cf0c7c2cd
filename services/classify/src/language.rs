//! A fast path for language detection. Most posts carry several function words that belong to one
//! served language only ("the", "my" / "los", "está" / "nicht", "ich"); when they clearly agree,
//! lingua (≈ 95% of classification time) is not needed. Anything unclear still goes to lingua.

use foldhash::HashMap;
use std::sync::OnceLock;

/// Function words that are frequent in one served language and rare or absent in the others,
/// written as the tokenizer folds them (lower case, no accents). Words that two served languages
/// share after folding ("de", "en", "que", "con", "il", "nos", "esta") are left out; a test keeps
/// it so.
const MARKERS: [(&str, &[&str]); 7] = [
    (
        "en",
        &[
            "the",
            "and",
            "my",
            "you",
            "your",
            "with",
            "this",
            "that",
            "for",
            "it's",
            "i'm",
            "to",
            "are",
            "what",
            "of",
            "have",
            "just",
            "don't",
            "can't",
            "been",
            "it",
            "why",
            "how",
            "still",
            "they",
            "our",
            "get",
            "got",
            "from",
            "will",
            "would",
            "there",
            "has",
            "did",
            "didn't",
            "when",
            "after",
            "again",
            "any",
            "can",
            "please",
            "thanks",
            "at",
            "be",
            "all",
            "if",
            "or",
            "by",
            "not",
            "about",
            "thank",
            "hi",
            "hello",
            "i've",
            "i'll",
            "won't",
            "doesn't",
            "isn't",
            "wasn't",
            "haven't",
            "you're",
            "we're",
            "they're",
            "should",
            "could",
            "their",
            "which",
            "who",
            "only",
            "some",
            "than",
            "then",
            "them",
            "because",
            "into",
            "out",
            "up",
            "one",
            "like",
            "know",
            "need",
            "today",
            "yesterday",
            "now",
            "time",
            "but",
            "yes",
            "guys",
            "where",
            "every",
            "never",
            "being",
            "these",
            "those",
            "here",
            "week",
            "day",
            "back",
            "way",
            "were",
            "had",
            "does",
            "she",
            "his",
            "its",
            "him",
            "customer",
            "sent",
            "thx",
            "yep",
            "nope",
            "yeah",
            "sure",
            "work",
            "works",
            "working",
            "worked",
            "good",
            "wrong",
            "going",
            "really",
            "sounds",
            "lost",
            "already",
            "honestly",
            "same",
            "both",
            "new",
            "right",
            "tonight",
            "morning",
            "flight",
            "money",
            "phone",
            "issue",
            "make",
            "made",
            "want",
            "said",
            "tell",
            "told",
            "much",
            "first",
            "last",
            "someone",
            "anyone",
            "everyone",
            "nothing",
            "something",
            "anything",
            "waiting",
            "great",
            "awesome",
            "amazing",
            "terrible",
            "worst",
            "worse",
            "dont",
            "cant",
            "whats",
            "thats",
            "doesnt",
            "y'all",
            "that's",
            "what's",
            "there's",
            "where's",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "y", "pero", "muy", "ya", "hay", "cuando", "nadie", "tengo", "sin", "mis", "han",
            "eso", "esto", "sus", "hace", "gracias", "hola", "tambien", "mucho", "necesito", "pueden", "ayudar",
            "ayuda", "ahora", "estoy", "puedo", "quiero", "cuenta", "servicio",
        ],
    ),
    (
        "fr",
        &[
            "les", "est", "et", "je", "pas", "pour", "avec", "une", "mon", "mes", "vous", "ce", "qui", "dans", "sur",
            "au", "aux", "c'est", "j'ai", "n'est", "toujours", "depuis", "rien", "votre", "vos", "nous", "mais",
            "merci", "bonjour", "ete", "plus", "elle",
        ],
    ),
    (
        "de",
        &[
            "der", "und", "ist", "nicht", "ich", "mit", "ein", "eine", "mein", "meine", "sie", "wir", "auf", "fur",
            "zu", "den", "dem", "von", "seit", "noch", "kein", "keine", "auch", "wurde", "bei", "habe", "wird", "aber",
            "schon", "nur", "nach", "mir", "mich", "ihr", "bitte", "danke", "immer", "sind",
        ],
    ),
    (
        "pt",
        &[
            "os", "nao", "com", "uma", "meu", "minha", "ainda", "voce", "voces", "foi", "isso", "estou", "tem", "ao",
            "pelo", "pela", "obrigado", "obrigada", "tambem", "sem", "muito",
        ],
    ),
    (
        "it",
        &[
            "gli", "che", "per", "mio", "mia", "della", "di", "sono", "ho", "anche", "gia", "ancora", "perche",
            "nessuno", "questo", "ci", "nel", "alla", "dei", "grazie", "molto", "hanno", "io",
        ],
    ),
    (
        "nl",
        &[
            "het", "een", "niet", "ik", "mijn", "van", "voor", "op", "dat", "jullie", "maar", "nog", "geen", "wel",
            "ook", "bij", "naar", "heb", "wordt", "zijn", "hoe", "kan", "dank", "bedankt", "uw", "wat", "toch", "nu",
        ],
    ),
];

/// At least this many distinct marker words of one language, and more than twice as many as of
/// any other language.
const MIN_HITS: usize = 2;

/// Each marker word and the index of its language in [`MARKERS`], built once.
fn marker_languages() -> &'static HashMap<&'static str, usize> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    INDEX.get_or_init(|| {
        MARKERS.iter().enumerate().flat_map(|(i, (_, words))| words.iter().map(move |w| (*w, i))).collect()
    })
}

/// Whether most letters of the text are outside the Latin script, which every served language
/// uses (Japanese, Cyrillic, Arabic…): such a post is in no served language, and lingua need not
/// be asked.
pub fn mostly_non_latin(text: &str) -> bool {
    let (mut latin, mut other) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        // Basic Latin, Latin-1, Latin Extended-A/B and Latin Extended Additional.
        if matches!(c, 'a'..='z' | 'A'..='Z' | '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}') {
            latin += 1;
        } else {
            other += 1;
        }
    }
    other > latin
}

/// Posts shorter than this (in characters) are decided by a single marker word when no other
/// language has one: lingua is unreliable on so little text anyway ("thanks @airline").
pub const SHORT_TEXT_CHARS: usize = 20;

/// The language the marker words clearly point to, if they do (see [`MIN_HITS`]; for a text of
/// fewer than [`SHORT_TEXT_CHARS`] characters one uncontested marker is enough).
pub fn by_markers(words: &[String], text_chars: usize) -> Option<&'static str> {
    let index = marker_languages();
    let mut counts = [0usize; MARKERS.len()];
    let mut seen: Vec<&str> = Vec::with_capacity(8);
    for word in words {
        if let Some(language) = index.get(word.as_str())
            && !seen.contains(&word.as_str())
        {
            seen.push(word);
            counts[*language] += 1;
        }
    }
    let (best, hits) = counts.iter().enumerate().max_by_key(|(_, hits)| **hits)?;
    let runner_up = counts.iter().enumerate().filter(|(i, _)| *i != best).map(|(_, h)| *h).max().unwrap_or(0);
    let needed = if text_chars < SHORT_TEXT_CHARS { 1 } else { MIN_HITS };
    (*hits >= needed && *hits > 2 * runner_up).then_some(MARKERS[best].0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize;

    fn detect(text: &str) -> Option<&'static str> {
        let words: Vec<String> = tokenize(text).into_iter().map(|t| t.norm).collect();
        by_markers(&words, text.chars().count())
    }

    #[test]
    fn markers_are_folded_and_belong_to_one_language() {
        let mut owner = std::collections::HashMap::new();
        for (language, markers) in MARKERS {
            for marker in markers {
                let folded: String = marker.chars().map(crate::text::fold).collect();
                assert_eq!(&folded, marker, "write markers folded");
                if let Some(other) = owner.insert(*marker, language) {
                    panic!("'{marker}' is a marker of both {other} and {language}");
                }
            }
        }
    }

    #[test]
    fn clear_texts_are_decided_and_unclear_ones_left_to_lingua() {
        assert_eq!(detect("My package never arrived and the tracking is still not updated"), Some("en"));
        assert_eq!(detect("Mi pedido no ha llegado y nadie contesta los correos"), Some("es"));
        assert_eq!(detect("Je suis toujours sans réponse depuis une semaine"), Some("fr"));
        assert_eq!(detect("Ich kann mich seit dem Update nicht mehr anmelden"), Some("de"));
        assert_eq!(detect("Ainda não recebi o meu pedido e você não responde"), Some("pt"));
        assert_eq!(detect("Il mio ordine non è ancora arrivato e nessuno risponde"), Some("it"));
        assert_eq!(detect("Ik kan sinds de update niet meer inloggen met mijn account"), Some("nl"));
        assert_eq!(detect("Do you ship to Iceland?"), Some("en"));
        assert_eq!(detect("Leeds store hours?"), None, "no markers");
        assert_eq!(detect("thanks Rita, brilliant service!"), None, "one marker is not enough");
        assert_eq!(detect("thanks Rita"), Some("en"), "unless the text is short");
        assert_eq!(detect("Grazie mille per tutto, ma anche"), Some("it"));
        assert_eq!(detect("😡😡"), None);
        assert!(mostly_non_latin("@AmazonHelp 配達完了になっているのに届いていません"));
        assert!(!mostly_non_latin("@AmazonHelp mi pedido no llegó"));
    }
}
