//! CPU time per part of the embedded Earshot, read from `/proc` (Linux; elsewhere the account is
//! empty). The bench runs each service on a runtime of its own, so a thread's name says whose
//! it is; SQLite's worker threads are one part (sqlx names them alike for every database), the
//! private `redis-server` is its own process, and what is left of this process is the bench's
//! own load (its clients and this account).

use std::collections::BTreeMap;

use earshot_embedded::thread_name;

/// The services whose threads carry their name.
const SERVICES: [&str; 4] = ["ingest", "classify", "routing", "escalation"];
/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`: 100 on Linux, whatever the kernel's HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far, by part.
#[derive(Debug, Clone, Default)]
pub struct CpuAccount(BTreeMap<String, f64>);

impl CpuAccount {
    /// Reads the account now: this process's threads, and `redis_pid`'s when given.
    pub fn read(redis_pid: Option<u32>) -> Self {
        let mut parts: BTreeMap<String, f64> = BTreeMap::new();
        let names: Vec<(String, &str)> = SERVICES.iter().map(|service| (thread_name(service), *service)).collect();
        if let Ok(threads) = std::fs::read_dir("/proc/self/task") {
            for thread in threads.flatten() {
                let Some((name, seconds)) = thread_times(&thread.path().join("stat")) else { continue };
                let part = names
                    .iter()
                    .find(|(prefix, _)| name.starts_with(prefix.as_str()))
                    .map_or(if name.starts_with("sqlx-sqlite") { "sqlite" } else { "bench" }, |(_, service)| service);
                *parts.entry(part.to_owned()).or_default() += seconds;
            }
        }
        if let Some((_, seconds)) = redis_pid.and_then(|pid| thread_times(format!("/proc/{pid}/stat").as_ref())) {
            parts.insert("redis".to_owned(), seconds);
        }
        Self(parts)
    }

    /// Seconds per 1,000 posts spent since `before`, by part.
    pub fn per_thousand_since(&self, before: &Self, posts: usize) -> BTreeMap<String, f64> {
        let thousands = posts.max(1) as f64 / 1_000.0;
        self.0
            .iter()
            .map(|(part, seconds)| {
                let spent = seconds - before.0.get(part).copied().unwrap_or(0.0);
                (part.clone(), spent.max(0.0) / thousands)
            })
            .collect()
    }
}

/// A thread's (or process's) name and user + system CPU seconds, from its `stat` file.
fn thread_times(stat: &std::path::Path) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(stat).ok()?;
    // `pid (comm) state …`: the name may hold spaces and parentheses, so split at the last ')'.
    let (head, rest) = text.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let ticks = |field: usize| fields.get(field - 3)?.parse::<f64>().ok();
    Some((name, (ticks(14)? + ticks(15)?) / TICKS_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_name_and_cpu_seconds() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let stat = dir.path().join("stat");
        let line = "4242 (es-rou (x) ting) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 5 6 7";
        std::fs::write(&stat, line).expect("written");
        assert_eq!(thread_times(&stat), Some(("es-rou (x) ting".to_owned(), 4.0)));
    }

    #[test]
    fn this_process_has_an_account_on_linux() {
        if !std::path::Path::new("/proc/self/task").exists() {
            return;
        }
        let spin = tokio::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            std::hint::black_box(0u64);
        }
        let account = CpuAccount::read(None);
        assert!(account.0.get("bench").copied().unwrap_or(0.0) > 0.0, "{account:?}");
    }
}
