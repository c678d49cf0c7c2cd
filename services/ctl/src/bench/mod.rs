//! `earshotctl bench`: how fast is Earshot end to end on this machine, and what does each post
//! cost?
//!
//! Like `replay`, a bench runs its own Earshot: the four real services embedded in this process,
//! called over real gRPC on loopback, with a private `redis-server` and SQLite files in a
//! temporary folder, a fresh set per phase so no phase inherits another's backlog. Posts come
//! through an integration key, as a contact-center platform sends them.
//!
//! - **sustained**: `--clients` submitters send batches of `--batch` posts as fast as they are
//!   acknowledged, `--sustained-posts` in all. Reported: posts/s acknowledged, and posts/s routed
//!   (first submission to last post routed: what the whole pipeline sustains).
//! - **unary** (`--unary-calls`): after the sustained phase, on what it left, `GetPost`, `GetCase`
//!   and `QueueStats` one call at a time as a supervisor: p50/p99 per method.
//! - **scale** (`--scale`): for each size, a fresh Earshot seeded with that many waiting cases;
//!   an agent passes over the first 500, then `NextCase`, `RejectCase` and `Route` are timed one
//!   call at a time (see `scale`).
//! - **fixed rates** (`--rates`): for `--seconds` each, one `SubmitPost` call per post at its
//!   scheduled moment (open loop; latency counts from that moment, so a server that stalls cannot
//!   hide its queue). Reported: p50/p99 of the acknowledgement, and of accepted → offerable
//!   (ingest's own record of each post: accepted at, and the moment routing answered that its case
//!   is queued).
//!
//! With `DATABASE_URL` naming a PostgreSQL server, every phase runs on a database of its own
//! there (created for the phase, dropped after it) instead of SQLite files.
//!
//! Each phase also reports Redis commands per post (`INFO commandstats`, all services), SQL
//! statements per post per database, and CPU seconds per 1,000 posts per service (each runs on a
//! runtime of its own, see `cpu`). While a phase runs, it says every two seconds on stderr how
//! many posts are acknowledged and routed. The report is JSON (`--out`) and a table on stdout.

mod cpu;
mod input;
mod phases;
mod scale;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use phases::{Percentiles, Phase, Stack};

/// `bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Post texts and authors: a Customer Support on Twitter CSV (its inbound rows); generated
    /// posts when absent. `make bench` passes ../shared/data/twcs_sample.csv when it exists.
    #[arg(long)]
    pub posts_file: Option<String>,
    /// Posts the sustained phase sends (0 skips it).
    #[arg(long, default_value_t = 20_000)]
    pub sustained_posts: usize,
    /// Concurrent submitters in the sustained phase.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Posts per SubmitPosts call in the sustained phase.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Fixed rates to hold, in posts per second (comma-separated; `--rates` alone skips them).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "500,2000,5000")]
    pub rates: Vec<u32>,
    /// How long each fixed rate is held.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Calls in flight at most during a fixed rate; a post due beyond it is counted as missed.
    #[arg(long, default_value_t = 2_000)]
    pub max_in_flight: usize,
    /// How long to wait, after the last submission, for the pipeline to route everything.
    #[arg(long, default_value_t = 120)]
    pub drain_seconds: u64,
    /// Unary calls of each of GetPost, GetCase and QueueStats, one at a time, after the
    /// sustained phase on what it left (0 skips them).
    #[arg(long, default_value_t = 200)]
    pub unary_calls: usize,
    /// Cases waiting in the tenant's queue for the scale phase, one fresh Earshot per size
    /// (comma-separated; `--scale` alone skips it).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "1000,100000,1000000")]
    pub scale: Vec<usize>,
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/bench/pipeline.json")]
    pub out: String,
}

/// Runs every phase, prints the table and writes the report.
pub async fn run(args: BenchArgs) -> Result<()> {
    // The embedded services log their warnings and errors (RUST_LOG overrides).
    earshot_telemetry::init_tool_logging("warn");
    if args.batch == 0 || args.clients == 0 {
        bail!("--batch and --clients must be at least 1");
    }
    if args.rates.contains(&0) {
        bail!("--rates must be above 0");
    }
    let source = input::Source::load(args.posts_file.as_deref())?;
    outln!("bench: posts from {}; {} cores", source.describe(), cores());
    let drain = Duration::from_secs(args.drain_seconds);
    // On PostgreSQL when DATABASE_URL names a server: each phase gets a database of its own there.
    let postgres = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty());
    if let Some(url) = &postgres {
        outln!("bench: on PostgreSQL ({}), a database per phase", earshot_core::pii::mask(url));
    }
    let postgres = postgres.as_deref();
    let mut phases: Vec<Phase> = Vec::new();
    let mut unary = Vec::new();
    if args.sustained_posts > 0 {
        let stack = Stack::start(postgres).await?;
        let posts = source.posts("s", args.sustained_posts);
        let sustained = stack.sustained(posts, args.clients, args.batch, drain).await;
        let read_back = match (&sustained, args.unary_calls) {
            (Ok(_), calls) if calls > 0 => stack.unary(calls).await,
            _ => Ok(Vec::new()),
        };
        // Removed whatever the phase did, so a failed phase leaves no database behind.
        stack.discard().await?;
        phases.push(sustained?);
        unary = read_back?;
    }
    for &rate in &args.rates {
        let stack = Stack::start(postgres).await?;
        let count = usize::try_from(u64::from(rate) * args.seconds).context("--rates × --seconds")?;
        let posts = source.posts(&format!("r{rate}"), count);
        let phase = stack.fixed_rate(posts, rate, args.max_in_flight, drain).await;
        stack.discard().await?;
        phases.push(phase?);
    }
    let mut scale = Vec::new();
    for &waiting in &args.scale {
        let stack = Stack::start(postgres).await?;
        let point = stack.scale(waiting, args.unary_calls.max(1)).await;
        stack.discard().await?;
        scale.push(point?);
    }
    print_table(&phases);
    print_unary(&unary);
    print_scale(&scale);
    let report = json!({
        "input": source.describe(),
        "cores": cores(),
        "phases": phases.iter().map(Phase::to_json).collect::<Vec<_>>(),
        "scale": scale.iter().map(scale::ScalePoint::to_json).collect::<Vec<_>>(),
        "unary_ms": unary.iter().map(|(method, timed)| (method.to_string(), timed.to_json())).collect::<serde_json::Map<_, _>>(),
    });
    if let Some(folder) = std::path::Path::new(&args.out).parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", args.out))?;
    outln!("report: {}", args.out);
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn print_table(phases: &[Phase]) {
    if phases.is_empty() {
        return;
    }
    let ms = |value: Option<f64>| value.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    outln!();
    outln!(
        "{:<11} {:>7} {:>9} {:>9} {:>15} {:>21} {:>10} {:>22}",
        "phase",
        "posts",
        "acked/s",
        "routed/s",
        "ack p50/p99 ms",
        "offerable p50/p99 ms",
        "redis/post",
        "sql/post in/ro/es"
    );
    for phase in phases {
        let sql = |db: &str| phase.statements_per_post.get(db).copied().unwrap_or(0.0);
        outln!(
            "{:<11} {:>7} {:>9.0} {:>9.0} {:>15} {:>21} {:>10.1} {:>22}",
            phase.name,
            phase.posts,
            phase.acked_per_second,
            phase.routed_per_second,
            format!("{}/{}", ms(phase.ack.p50), ms(phase.ack.p99)),
            format!("{}/{}", ms(phase.offerable.p50), ms(phase.offerable.p99)),
            phase.redis_per_post,
            match phase.statements_per_post.get("postgres") {
                Some(all) => format!("{all:.1} (all, postgres)"),
                None => format!("{:.1}/{:.1}/{:.1}", sql("ingest"), sql("routing"), sql("escalation")),
            },
        );
        if phase.failed > 0 || phase.missed > 0 || phase.unrouted > 0 {
            outln!(
                "{:<11} {} calls failed, {} posts missed their moment (over --max-in-flight), {} not routed in time",
                "",
                phase.failed,
                phase.missed,
                phase.unrouted
            );
        }
        if !phase.cpu_per_thousand.is_empty() {
            let parts: Vec<String> =
                phase.cpu_per_thousand.iter().map(|(part, seconds)| format!("{part} {seconds:.3}")).collect();
            outln!("{:<11} cpu s per 1k posts: {}", "", parts.join(" · "));
        }
    }
}

fn print_unary(unary: &[(&str, Percentiles)]) {
    if unary.is_empty() {
        return;
    }
    let ms = |value: Option<f64>| value.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"));
    outln!();
    outln!("{:<11} {:>8} {:>8} {:>8}", "unary rpc", "p50 ms", "p99 ms", "max ms");
    for (method, timed) in unary {
        outln!("{:<11} {:>8} {:>8} {:>8}", method, ms(timed.p50), ms(timed.p99), ms(timed.max));
    }
}

fn print_scale(points: &[scale::ScalePoint]) {
    if points.is_empty() {
        return;
    }
    let ms = |p: &Percentiles| {
        let one = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"));
        format!("{}/{}", one(p.p50), one(p.p99))
    };
    outln!();
    outln!(
        "{:>9} {:>7} {:>20} {:>20} {:>18}   ({} cases passed over first)",
        "waiting",
        "seed s",
        "NextCase p50/p99 ms",
        "RejectCase p50/p99",
        "Route p50/p99 ms",
        scale::PASSED_OVER
    );
    for point in points {
        outln!(
            "{:>9} {:>7.1} {:>20} {:>20} {:>18}",
            point.waiting,
            point.seed_seconds,
            ms(&point.next_case),
            ms(&point.reject),
            ms(&point.route)
        );
    }
}
