//! Personal data in text that may reach a log or a trace: e-mail addresses and phone numbers are
//! replaced by `[email]` and `[phone]`. Only for what operators read; agents always see the
//! customer's words as written.
//!
//! Earshot never logs post text. What it does log may still carry something a client wrote (a
//! peer's refusal quoting a field, an error chain), so such strings pass through [`mask`].

use std::borrow::Cow;

fn is_local_part(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Fewest and most digits of a phone number (E.164 allows 15).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 9..=15;

/// The end (exclusive) of an e-mail address whose `@` is at `at`, and its start; `None` if the
/// text around `at` is not an address.
fn email_at(text: &str, at: usize) -> Option<(usize, usize)> {
    let start = text[..at].char_indices().rev().take_while(|(_, c)| is_local_part(*c)).last().map(|(i, _)| i)?;
    let domain: &str = &text[at + 1..];
    let length = domain.char_indices().take_while(|(_, c)| is_domain(*c)).last().map(|(i, c)| i + c.len_utf8())?;
    let domain = domain[..length].trim_end_matches(['.', '-']);
    let dot = domain.rfind('.')?;
    let top_level = &domain[dot + 1..];
    (dot > 0 && top_level.len() >= 2 && top_level.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| (start, at + 1 + domain.len()))
}

/// The end (exclusive) of a phone number starting at `start`, if one does: the longest run of
/// digits and separators that holds 9–15 digits and is not glued to a word.
fn phone_at(text: &str, start: usize) -> Option<usize> {
    let mut digits = 0;
    let mut ends = Vec::new();
    for (offset, c) in text[start..].char_indices() {
        match c {
            '0'..='9' => {
                digits += 1;
                ends.push((start + offset + 1, digits));
            }
            '+' if offset == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => break,
        }
        if digits > *PHONE_DIGITS.end() {
            break;
        }
    }
    ends.into_iter().rev().find_map(|(end, digits)| {
        let next = text[end..].chars().next();
        let stands_alone = next.is_none_or(|c| !is_word(c));
        (PHONE_DIGITS.contains(&digits) && stands_alone).then_some(end)
    })
}

/// `text` with e-mail addresses and phone numbers replaced; borrowed when there are none.
pub fn mask(text: &str) -> Cow<'_, str> {
    let mut spans: Vec<(usize, usize, &str)> = Vec::new();
    for (at, _) in text.match_indices('@') {
        if let Some((start, end)) = email_at(text, at)
            && spans.last().is_none_or(|(_, last_end, _)| start >= *last_end)
        {
            spans.push((start, end, "[email]"));
        }
    }
    let mut previous: Option<char> = None;
    let mut skip_until = 0;
    for (index, c) in text.char_indices() {
        let at_boundary = previous.is_none_or(|p| !is_word(p) && p != '+' && p != '@');
        previous = Some(c);
        if index < skip_until || !at_boundary || !(c.is_ascii_digit() || c == '+' || c == '(') {
            continue;
        }
        if spans.iter().any(|(start, end, _)| (*start..*end).contains(&index)) {
            continue;
        }
        if let Some(end) = phone_at(text, index) {
            spans.push((index, end, "[phone]"));
            skip_until = end;
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end, label) in spans {
        if start < copied {
            continue;
        }
        masked.push_str(&text[copied..start]);
        masked.push_str(label);
        copied = end;
    }
    masked.push_str(&text[copied..]);
    Cow::Owned(masked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phone_numbers_are_masked() {
        assert_eq!(mask("write me at jane.doe+care@mail.example.com please"), "write me at [email] please");
        assert_eq!(mask("call +1 (555) 010-4477 now"), "call [phone] now");
        assert_eq!(mask("mon numéro: 06 12 34 56 78."), "mon numéro: [phone].");
        assert_eq!(mask("ruf an: 030-1234567, danke"), "ruf an: [phone], danke");
        assert_eq!(mask("a@b.co and 5550104477"), "[email] and [phone]");
    }

    #[test]
    fn ids_handles_and_small_numbers_are_left_alone() {
        for text in [
            "case c_01a2028815d377ec8bf5fe33c603abec",
            "@brand your app is down",
            "order 12345678 of 2026-11-22",
            "posts[3].author.external_id: is required",
            "2.4M followers, priority 100",
            "user@localhost",
        ] {
            assert_eq!(mask(text), text, "{text}");
        }
    }

    #[test]
    fn masking_never_panics_on_odd_text() {
        for text in ["@", "@@.@", "a@.b", "+", "((((", "é@é.é", "+33 ", "x@y.zz@w.qq", "1@2.34 5678901234"] {
            let _ = mask(text);
        }
    }
}
