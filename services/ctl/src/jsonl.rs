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

#[cfg(test)]
mod tests {
    use earshot_proto::v1 as pb;

    use super::*;

    fn demo(file: &str) -> String {
        format!("{}/../../demo/{file}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_demo_feed_and_agents_are_valid_proto3_json_and_valid_posts() {
        let posts: Vec<pb::Post> = read(&demo("feed.jsonl")).unwrap();
        assert!(posts.len() >= 40);
        for post in posts {
            let external_id = post.external_id.clone();
            earshot_core::Post::from_wire(post, &earshot_core::Limits::default(), 0)
                .unwrap_or_else(|e| panic!("demo post {external_id}: {e}"));
        }
        let agents: Vec<pb::SetPresenceRequest> = read(&demo("agents.jsonl")).unwrap();
        assert!(agents.iter().all(|a| a.presence != pb::Presence::Unspecified as i32));
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posts.jsonl");
        std::fs::write(&path, "{\"channel\": \"twitter\"}\n\n{\"channel\": 5}\n").unwrap();
        let error = read::<pb::Post>(path.to_str().unwrap()).unwrap_err();
        assert!(format!("{error:#}").contains("posts.jsonl:3"), "{error:#}");
    }
}
