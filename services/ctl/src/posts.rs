//! Integrator and supervisor commands: submit, classify, look at posts, cases and queues.

use anyhow::{Context, Result};
use earshot_proto::v1 as pb;

use crate::connect::{Endpoints, call_error};
use crate::{jsonl, print};

/// `submit` arguments.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// JSONL file of posts; `-` reads stdin.
    pub file: String,
    /// Posts per SubmitPosts call.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
}

/// `classify` arguments.
#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// JSONL file of posts; `-` reads stdin.
    pub file: String,
    /// Posts per ClassifyBatch call.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

/// `queue` arguments.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// One queue; all queues when omitted.
    pub name: Option<String>,
    /// Cases per queue.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

/// Submits posts in batches; returns one result per post, in order.
pub async fn submit_posts(
    connect: &Endpoints,
    posts: Vec<pb::Post>,
    batch: usize,
) -> Result<Vec<pb::SubmitPostResponse>> {
    let mut client = connect.ingest()?;
    let mut all = Vec::with_capacity(posts.len());
    for (index, chunk) in posts.chunks(batch.max(1)).enumerate() {
        let request = connect.request(pb::SubmitPostsRequest { posts: chunk.to_vec() })?;
        let results = client
            .submit_posts(request)
            .await
            .map_err(|status| call_error("ingest", status))
            .with_context(|| format!("batch {} (posts {}..)", index + 1, index * batch.max(1)))?
            .into_inner()
            .results;
        all.extend(results);
    }
    Ok(all)
}

/// `earshotctl submit`.
pub async fn submit(connect: &Endpoints, args: SubmitArgs) -> Result<()> {
    let posts: Vec<pb::Post> = jsonl::read(&args.file)?;
    let results = submit_posts(connect, posts, args.batch).await?;
    let duplicates = results.iter().filter(|r| r.duplicate).count();
    outln!("accepted {} posts, {duplicates} duplicates", results.len() - duplicates);
    Ok(())
}

/// `earshotctl classify`: one JSON classification per input line, in order.
pub async fn classify(connect: &Endpoints, args: ClassifyArgs) -> Result<()> {
    let posts: Vec<pb::Post> = jsonl::read(&args.file)?;
    let mut client = connect.classify()?;
    for chunk in posts.chunks(args.batch.max(1)) {
        let request = connect.request(pb::ClassifyBatchRequest { posts: chunk.to_vec() })?;
        let response = client.classify_batch(request).await.map_err(|status| call_error("classify", status))?;
        for classification in response.into_inner().classifications {
            outln!("{}", serde_json::to_string(&classification)?);
        }
    }
    Ok(())
}

/// `earshotctl post`.
pub async fn show_post(connect: &Endpoints, post_id: String) -> Result<()> {
    let record = connect
        .ingest()?
        .get_post(connect.request(pb::GetPostRequest { post_id })?)
        .await
        .map_err(|status| call_error("ingest", status))?
        .into_inner();
    outln!("{}", serde_json::to_string_pretty(&record)?);
    Ok(())
}

/// `earshotctl case`.
pub async fn show_case(connect: &Endpoints, case_id: String) -> Result<()> {
    let case = connect
        .routing()?
        .get_case(connect.request(pb::GetCaseRequest { case_id })?)
        .await
        .map_err(|status| call_error("routing", status))?
        .into_inner();
    print::case(&case);
    Ok(())
}

/// Prints queue stats and every queue (or one) in agent order.
pub async fn print_queues(connect: &Endpoints, only: Option<&str>, limit: u32) -> Result<()> {
    let mut routing = connect.routing()?;
    let stats = routing
        .queue_stats(connect.request(pb::QueueStatsRequest {})?)
        .await
        .map_err(|status| call_error("routing", status))?
        .into_inner()
        .queues;
    if only.is_none() {
        print::stats(&stats);
    }
    let names: Vec<String> = match only {
        Some(name) => vec![name.to_owned()],
        None => stats.iter().filter(|s| s.waiting > 0).map(|s| s.queue.clone()).collect(),
    };
    for name in names {
        let cases = routing
            .list_queue(connect.request(pb::ListQueueRequest { queue: name.clone(), limit })?)
            .await
            .map_err(|status| call_error("routing", status))?
            .into_inner()
            .cases;
        print::queue(&name, &cases);
    }
    Ok(())
}

/// `earshotctl queue`.
pub async fn queues(connect: &Endpoints, args: QueueArgs) -> Result<()> {
    print_queues(connect, args.name.as_deref(), args.limit).await
}
