//! JSON Lines in proto3 JSON.

use std::io::BufRead;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// Reads `path` (`-` for stdin), one message per non-empty line; errors name the line.
pub fn read<T: DeserializeOwned>(path: &str) -> Result<Vec<T>> {
    let reader: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(path).with_context(|| format!("opening {path}"))?))
    };
    let mut items = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {path}"))?;
        if line.trim().is_empty() {
            continue;
        }
        items.push(serde_json::from_str(&line).with_context(|| format!("{path}:{}: not a valid message", index + 1))?);
    }
    Ok(items)
}
