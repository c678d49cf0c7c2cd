//! Words as the cue matcher sees them: lowercased, accents folded, emoji kept as words.

/// One word of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lowercase, accent-folded form.
    pub norm: String,
    /// Written in capitals (`NEVER`), which VADER reads as emphasis.
    pub shouted: bool,
    /// Which sentence of the text it is in; negations and boosters do not reach across sentences.
    pub sentence: usize,
}

/// Lowercases and folds the accents of Latin letters (`é` → `e`), so cues match text typed
/// without accents and vice versa.
pub fn fold(c: char) -> char {
    let lower = c.to_lowercase().next().unwrap_or(c);
    match lower {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        '’' | '‘' | '`' | '´' => '\'',
        other => other,
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '’'
}

/// A pictograph or symbol that carries meaning on its own (emoji, ❤).
fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric()
        && !c.is_whitespace()
        && !c.is_ascii()
        && !matches!(c, '\u{FE0F}' | '\u{200D}')
        && !matches!(c, '’' | '‘' | '“' | '”' | '«' | '»' | '…' | '–' | '—' | '¿' | '¡')
}

/// Splits text into words, joining `pre-order` and `can't` into one word each.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut letters = 0usize;
    let mut upper = 0usize;
    let mut sentence = 0usize;
    let mut chars = text.chars().peekable();
    let flush =
        |word: &mut String, letters: &mut usize, upper: &mut usize, tokens: &mut Vec<Token>, sentence: usize| {
            let trimmed = word.trim_matches('\'');
            if !trimmed.is_empty() {
                tokens.push(Token { norm: trimmed.to_owned(), shouted: *letters >= 2 && *upper == *letters, sentence });
            }
            word.clear();
            *letters = 0;
            *upper = 0;
        };
    while let Some(c) = chars.next() {
        if is_word_char(c) || (c == '-' && !word.is_empty() && chars.peek().is_some_and(|n| n.is_alphanumeric())) {
            if c.is_alphabetic() {
                letters += 1;
                if c.is_uppercase() {
                    upper += 1;
                }
            }
            word.push(fold(c));
        } else {
            flush(&mut word, &mut letters, &mut upper, &mut tokens, sentence);
            if is_symbol(c) {
                tokens.push(Token { norm: c.to_string(), shouted: false, sentence });
            }
            if matches!(c, '.' | '!' | '?' | ';' | '\n') {
                sentence += 1;
            }
        }
    }
    flush(&mut word, &mut letters, &mut upper, &mut tokens, sentence);
    tokens
}

/// Decodes `\uXXXX` escapes left in text by its packaging (TweetEval writes `\u002c` for a comma);
/// anything that is not a valid escape stays as written.
pub fn decode_escapes(text: &str) -> String {
    if !text.contains("\\u") {
        return text.to_owned();
    }
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\u") {
        decoded.push_str(&rest[..at]);
        let escape =
            rest.get(at + 2..at + 6).and_then(|hex| u32::from_str_radix(hex, 16).ok()).and_then(char::from_u32);
        match escape {
            Some(c) => {
                decoded.push(c);
                rest = &rest[at + 6..];
            }
            None => {
                decoded.push_str("\\u");
                rest = &rest[at + 2..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// The text a language detector should read: without @handles, links and HTML entities, which
/// belong to no language, can outnumber the words ("@Tesco @AldiUK @sainsburys … thanks!") and
/// cost lingua as much as real words do.
pub fn prose(text: &str) -> String {
    let mut prose = String::with_capacity(text.len());
    for piece in text.split_whitespace() {
        let is_markup = piece.trim_start_matches('.').starts_with('@')
            || piece.starts_with("http://")
            || piece.starts_with("https://")
            || piece.starts_with("www.")
            || (piece.starts_with('&') && piece.ends_with(';'));
        if !is_markup {
            if !prose.is_empty() {
                prose.push(' ');
            }
            prose.push_str(piece);
        }
    }
    prose
}

/// Letters in the text (language detection needs a few).
pub fn letter_count(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphabetic()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.norm).collect()
    }

    #[test]
    fn prose_leaves_out_handles_links_and_entities() {
        assert_eq!(prose(".@Tesco @AldiUK thanks &amp; bye https://t.co/x www.a.com :)"), "thanks bye :)");
        assert_eq!(prose("@116407  https://t.co/1T9NYDfbuw"), "");
        assert_eq!(prose("mail me at a@b.com"), "mail me at a@b.com");
    }

    #[test]
    fn folds_case_accents_apostrophes_and_keeps_emoji() {
        assert_eq!(
            words("Mi pedido NO llegó… can’t pre-order 😡!"),
            ["mi", "pedido", "no", "llego", "can't", "pre-order", "😡"]
        );
        let shouted: Vec<bool> = tokenize("NEVER again I").into_iter().map(|t| t.shouted).collect();
        assert_eq!(shouted, [true, false, false]);
    }

    #[test]
    fn escapes_decode_and_broken_ones_stay() {
        assert_eq!(decode_escapes("a\\u002c b didn\\u2019t"), "a, b didn’t");
        assert_eq!(decode_escapes("C:\\users \\u12"), "C:\\users \\u12");
        assert_eq!(decode_escapes("plain"), "plain");
    }
}
