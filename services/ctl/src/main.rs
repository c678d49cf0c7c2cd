//! earshotctl: the command-line client for agents, supervisors and integrators.
//!
//! Submit posts (JSONL in proto3 JSON), classify a file, look at queues and cases, work as an
//! agent, watch and act on escalations, manage API keys, and run the demo that `make run` shows.

/// Rust's allocations go through mimalloc: under load glibc's malloc (its consolidation of freed
/// chunks above all) costs the services a tenth of their CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `println!` that ends the program quietly when stdout is closed (`earshotctl queue | head`)
/// instead of panicking.
macro_rules! outln {
    () => {
        $crate::print::emit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print::emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same behaviour as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print::emit(format_args!($($arg)*))
    };
}

mod agent;
mod bench;
mod connect;
mod demo;
mod escalations;
mod eval;
mod jsonl;
mod keys;
mod posts;
mod print;
mod replay;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// earshotctl — talk to a running Earshot.
#[derive(Debug, Parser)]
#[command(name = "earshotctl", version)]
struct Cli {
    #[command(flatten)]
    connect: connect::Endpoints,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Submit posts from a JSONL file (one proto3-JSON Post per line; `-` reads stdin).
    Submit(posts::SubmitArgs),
    /// Classify posts from a JSONL file and print one JSON classification per line.
    Classify(posts::ClassifyArgs),
    /// Show one accepted post with its classification and pipeline state.
    Post {
        /// Post id (`p_…`).
        post_id: String,
    },
    /// Show every queue in agent order, or one queue.
    Queue(posts::QueueArgs),
    /// Show one case with its posts and reasons.
    Case {
        /// Case id (`c_…`).
        case_id: String,
    },
    /// Act as an agent.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// List, show, watch, acknowledge and resolve escalations; reassign cases (supervisors).
    #[command(subcommand)]
    Escalations(escalations::EscalationCommand),
    /// SLA policies and the escalation webhook (admins).
    #[command(subcommand)]
    Sla(escalations::SlaCommand),
    /// Make, list and revoke API keys (admins; or the operator on the host, with --tenant).
    #[command(subcommand)]
    Keys(keys::KeyCommand),
    /// Register the demo agents, replay the demo feed and show the queues and escalations.
    Demo(demo::DemoArgs),
    /// Measure the classifier on labelled posts and on human sentiment ratings.
    Eval(eval::EvalArgs),
    /// Train the classifier's learned model on labelled posts and write its weights file.
    Train(train::TrainArgs),
    /// Replay posts through an Earshot of its own with simulated agents; report time to offer per
    /// priority band, against first come, first served.
    Replay(replay::ReplayArgs),
    /// Measure Earshot end to end on an Earshot of its own: sustained posts/s, latency at fixed
    /// rates, Redis commands and SQL statements per post.
    Bench(bench::BenchArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let connect = cli.connect;
    match cli.command {
        Command::Submit(args) => posts::submit(&connect, args).await,
        Command::Classify(args) => posts::classify(&connect, args).await,
        Command::Post { post_id } => posts::show_post(&connect, post_id).await,
        Command::Queue(args) => posts::queues(&connect, args).await,
        Command::Case { case_id } => posts::show_case(&connect, case_id).await,
        Command::Agent(command) => agent::run(&connect, command).await,
        Command::Escalations(command) => escalations::run(&connect, command).await,
        Command::Sla(command) => escalations::run_sla(&connect, command).await,
        Command::Keys(command) => keys::run(&connect, command).await,
        Command::Demo(args) => demo::run(&connect, args).await,
        Command::Eval(args) => eval::run(&connect, args).await,
        Command::Train(args) => train::run(args),
        Command::Replay(args) => replay::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
