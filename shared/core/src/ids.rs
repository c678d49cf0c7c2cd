//! Identifiers that Earshot mints: time-ordered, prefixed by kind, safe in Redis keys and URLs.

use crate::InvalidArgument;

/// A new identifier such as `p_0193c1…` (`p` post, `c` case, `e` escalation).
pub fn new_id(kind: char) -> String {
    format!("{kind}_{}", uuid::Uuid::now_v7().simple())
}

/// Checks that `value` looks like an id of `kind` before it is used as a key.
pub fn check_id(field: &str, kind: char, value: &str) -> Result<(), InvalidArgument> {
    if value.is_empty() {
        return Err(InvalidArgument::new(field, "is required"));
    }
    let well_formed = value.len() == 34
        && value.starts_with(kind)
        && value.as_bytes()[1] == b'_'
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if well_formed { Ok(()) } else { Err(InvalidArgument::new(field, format!("'{value}' is not a {kind}_ id"))) }
}

/// Checks a client-chosen name (agent id, queue, skill): 1–64 of `[A-Za-z0-9_.:@-]`, so it embeds
/// in a Redis key without escaping.
pub fn check_name(field: &str, value: &str) -> Result<(), InvalidArgument> {
    if value.is_empty() {
        return Err(InvalidArgument::new(field, "is required"));
    }
    if value.len() > 64 {
        return Err(InvalidArgument::new(field, "is longer than 64 characters"));
    }
    if let Some(bad) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.:@-".contains(*c))) {
        return Err(InvalidArgument::new(field, format!("contains {bad:?}; use letters, digits and _.:@-")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_pass_their_own_check_and_sort_by_time() {
        let a = new_id('c');
        let b = new_id('c');
        assert!(check_id("case_id", 'c', &a).is_ok());
        assert!(a < b);
        assert!(check_id("case_id", 'p', &a).is_err());
        assert!(check_id("case_id", 'c', "c_../../etc").is_err());
    }

    #[test]
    fn names_reject_key_breaking_characters() {
        assert!(check_name("queue", "billing").is_ok());
        assert!(check_name("queue", "es:{x}").is_err());
        assert!(check_name("queue", "a b").is_err());
        assert!(check_name("queue", "").is_err());
    }
}
