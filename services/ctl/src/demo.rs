//! The demo `make run` shows: demo agents, a realistic feed, then the queues in the order agents
//! will get them (with the reasons) the escalations supervisors see, and a key per role to try them with.

use std::time::Duration;

use tokio::time::Instant;

use anyhow::{Result, bail};
use earshot_proto::v1 as pb;

use crate::connect::{Endpoints, call_error};
use crate::{escalations, jsonl, keys, posts};

/// `demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Agents to register (JSONL of SetPresenceRequest).
    #[arg(long, default_value = "demo/agents.jsonl")]
    pub agents: String,
    /// Posts to replay (JSONL of Post).
    #[arg(long, default_value = "demo/feed.jsonl")]
    pub feed: String,
    /// How long to wait for the pipeline to route every post.
    #[arg(long, default_value_t = 60)]
    pub wait_secs: u64,
}

/// Runs the demo.
pub async fn run(connect: &Endpoints, args: DemoArgs) -> Result<()> {
    let agents: Vec<pb::SetPresenceRequest> = jsonl::read(&args.agents)?;
    let first_agent = agents.first().map(|agent| agent.agent_id.clone()).unwrap_or_else(|| "ana".into());
    let mut agent_client = connect.agents()?;
    for agent in agents {
        let name = agent.agent_id.clone();
        let view = agent_client
            .set_presence(connect.request(agent)?)
            .await
            .map_err(|status| call_error("routing", status))?
            .into_inner();
        outln!("agent {name}: skills {} languages {}", view.skills.join(","), view.languages.join(","));
    }

    let feed: Vec<pb::Post> = jsonl::read(&args.feed)?;
    let results = posts::submit_posts(connect, feed, 100).await?;
    let duplicates = results.iter().filter(|r| r.duplicate).count();
    outln!("submitted {} posts ({duplicates} already known)", results.len());

    let mut ingest = connect.ingest()?;
    let deadline = Instant::now() + Duration::from_secs(args.wait_secs);
    let mut pending: Vec<String> = results.into_iter().map(|r| r.post_id).collect();
    pending.dedup();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for post_id in pending {
            let record = ingest
                .get_post(connect.request(pb::GetPostRequest { post_id: post_id.clone() })?)
                .await
                .map_err(|status| call_error("ingest", status))?
                .into_inner();
            match record.state.as_str() {
                "routed" => {}
                "failed" => eprintln!("post {post_id} was set aside: see `earshotctl post {post_id}`"),
                _ => still.push(post_id),
            }
        }
        pending = still;
        if !pending.is_empty() {
            if Instant::now() > deadline {
                bail!("{} posts not routed after {}s; are all four services up?", pending.len(), args.wait_secs);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    outln!("every post is classified and routed\n");
    posts::print_queues(connect, None, 50).await?;
    escalations::print_open(connect, escalations::ListArgs { limit: 50, ..Default::default() }).await?;
    keys::demo_keys(connect, &first_agent).await
}
