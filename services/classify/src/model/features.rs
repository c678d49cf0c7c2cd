//! What the model sees of a post: hashed word unigrams and bigrams (shared by every language and
//! again per language), character 2–5-grams of each word (shared: they carry across languages and
//! spellings), the lexicon's reading, and a bias per language. Hashing needs no vocabulary, so a
//! word never seen in training simply weighs nothing.

use std::ops::Range;

use xxhash_rust::xxh3::xxh3_64_with_seed;

const SEED_WORD: u64 = 0x5745_4f52_4453;
const SEED_CHAR: u64 = 0x0043_4841_5253;
const SEED_DENSE: u64 = 0x0044_454e_5345;
/// Lengths of the character n-grams, in characters, of `<word>`.
const CHAR_NGRAMS: Range<usize> = 2..6;
/// Longer tokens (links, hashes, run-together text) carry no useful character n-grams.
const MAX_CHARS_OF_WORD: usize = 24;

/// What the cue lexicon (or VADER, in English) read in the post: one of the model's inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LexiconReading {
    /// Sentiment compound in [-1, 1].
    pub compound: f32,
}

/// One word n-gram of the post: `len` words from word `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordNgram {
    start: u32,
    len: u32,
}

impl WordNgram {
    /// The n-gram as it reads in `words`.
    pub fn text(&self, words: &[String]) -> String {
        let end = (self.start + self.len) as usize;
        words.get(self.start as usize..end).map(|w| w.join(" ")).unwrap_or_default()
    }
}

/// The hashed features of one post (bucket ids before masking, and their values).
#[derive(Debug, Clone, Default)]
pub struct Features {
    ids: Vec<u32>,
    values: Vec<f32>,
    /// Word n-grams and the range of `ids` that stands for each.
    word_ngrams: Vec<(WordNgram, Range<usize>)>,
    buffer: String,
    boundaries: Vec<usize>,
}

fn hash(bytes: &[u8], seed: u64) -> u64 {
    xxh3_64_with_seed(bytes, seed)
}

fn bucket(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

/// A second key for the same feature, specific to one language.
fn in_language(hash: u64, language: u32) -> u64 {
    (hash ^ (u64::from(language) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

fn pair(first: u64, second: u64) -> u64 {
    (first.rotate_left(23) ^ second).wrapping_mul(0x94D0_49BB_1331_11EB)
}

impl Features {
    /// Features of a post from its tokenized `words` (as [`crate::text::tokenize`] folds them),
    /// the index of its language in the model (`None`: shared features only) and the lexicon's
    /// reading. Replaces what was there, keeping the allocations.
    pub fn extract(&mut self, words: &[String], language: Option<u32>, lexicon: LexiconReading) {
        self.ids.clear();
        self.values.clear();
        self.word_ngrams.clear();

        let word_hashes: Vec<u64> = words.iter().map(|w| hash(w.as_bytes(), SEED_WORD)).collect();
        let ngram_count = words.len() + words.len().saturating_sub(1);
        let word_value = if ngram_count == 0 { 0.0 } else { 1.0 / (ngram_count as f32).sqrt() };
        let push_word = |features: &mut Self, ngram: WordNgram, key: u64| {
            let first = features.ids.len();
            features.push(key, word_value);
            if let Some(language) = language {
                features.push(in_language(key, language), word_value);
            }
            features.word_ngrams.push((ngram, first..features.ids.len()));
        };
        for (at, key) in word_hashes.iter().enumerate() {
            push_word(self, WordNgram { start: at as u32, len: 1 }, *key);
        }
        for (at, keys) in word_hashes.windows(2).enumerate() {
            push_word(self, WordNgram { start: at as u32, len: 2 }, pair(keys[0], keys[1]));
        }

        let chars_from = self.ids.len();
        for word in words {
            self.char_ngrams(word);
        }
        let char_count = self.ids.len() - chars_from;
        if char_count > 0 {
            let value = 1.0 / (char_count as f32).sqrt();
            self.values[chars_from..].iter_mut().for_each(|v| *v = value);
        }

        let dense =
            [("bias", 1.0), ("lexicon-", (-lexicon.compound).max(0.0)), ("lexicon+", lexicon.compound.max(0.0))];
        for (name, value) in dense {
            let key = hash(name.as_bytes(), SEED_DENSE);
            self.push(key, value);
            if let Some(language) = language {
                self.push(in_language(key, language), value);
            }
        }
    }

    fn push(&mut self, key: u64, value: f32) {
        self.ids.push(bucket(key));
        self.values.push(value);
    }

    /// Character n-grams of `<word>` (value set by the caller).
    fn char_ngrams(&mut self, word: &str) {
        self.buffer.clear();
        self.buffer.push('<');
        self.buffer.push_str(word);
        self.buffer.push('>');
        self.boundaries.clear();
        self.boundaries.extend(self.buffer.char_indices().map(|(i, _)| i));
        let chars = self.boundaries.len();
        if chars - 2 > MAX_CHARS_OF_WORD {
            return;
        }
        self.boundaries.push(self.buffer.len());
        for length in CHAR_NGRAMS {
            for start in 0..(chars + 1).saturating_sub(length) {
                let bytes = &self.buffer.as_bytes()[self.boundaries[start]..self.boundaries[start + length]];
                let key = hash(bytes, SEED_CHAR);
                self.ids.push(bucket(key));
                self.values.push(0.0);
            }
        }
    }

    /// Every feature: bucket id (before masking) and value.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.ids.iter().copied().zip(self.values.iter().copied())
    }

    /// Each word n-gram with its features.
    pub fn word_ngrams(&self) -> impl Iterator<Item = (WordNgram, impl Iterator<Item = (u32, f32)> + '_)> + '_ {
        self.word_ngrams.iter().map(|(ngram, range)| {
            let features = self.ids[range.clone()].iter().copied().zip(self.values[range.clone()].iter().copied());
            (*ngram, features)
        })
    }

    /// How many features there are.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        crate::text::tokenize(text).into_iter().map(|t| t.norm).collect()
    }

    #[test]
    fn same_text_same_features_and_languages_add_their_own() {
        let (mut a, mut b, mut c) = (Features::default(), Features::default(), Features::default());
        let text = words("still waiting for my refund");
        a.extract(&text, None, LexiconReading::default());
        b.extract(&text, None, LexiconReading::default());
        assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
        c.extract(&text, Some(1), LexiconReading::default());
        assert!(c.len() > a.len());
        let ngrams: Vec<String> = a.word_ngrams().map(|(n, _)| n.text(&text)).collect();
        assert!(ngrams.contains(&"still waiting".to_owned()) && ngrams.contains(&"refund".to_owned()));
    }

    #[test]
    fn char_ngrams_respect_characters_and_skip_long_tokens() {
        let mut f = Features::default();
        f.extract(&words("déçu"), None, LexiconReading::default());
        // "<decu>": 6 characters, 2..=5-grams: 5 + 4 + 3 + 2; one unigram; three dense.
        assert_eq!(f.len(), 14 + 1 + 3);
        f.extract(&words("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), None, LexiconReading::default());
        assert_eq!(f.len(), 1 + 3);
        f.extract(&[], Some(0), LexiconReading { compound: -0.5 });
        assert_eq!(f.len(), 6);
    }
}
