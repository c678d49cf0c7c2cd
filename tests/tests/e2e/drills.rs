//! Failure drills: what one tenant sends or one peer does must not stall the others.

use std::time::{Duration, Instant};

use earshot_e2e::{PIPELINE_DEADLINE, Pipeline, Stack, post};
use earshot_proto::v1 as pb;

/// Posts of the longest accepted text in a script of three bytes a character: a pipeline batch of
/// them is several times larger than a peer's default message limit.
const HEAVY_POSTS: usize = 256;
const HEAVY_TEXT_CHARS: usize = 10_000;
/// How long the heavy tenant's posts may take to be routed, all of them.
const HEAVY_DEADLINE: Duration = Duration::from_secs(90);

fn cjk_text(seed: usize) -> String {
    (0..HEAVY_TEXT_CHARS).filter_map(|i| char::from_u32(0x4E00 + ((seed * 7919 + i * 31) % 20_000) as u32)).collect()
}

#[tokio::test]
async fn a_tenant_sending_the_largest_posts_does_not_stall_another_tenant() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (_, heavy) = services.create_key("heavy", &["integration"], None).await.unwrap();
    let (_, light) = services.create_key("light", &["integration"], None).await.unwrap();

    let mut heavy_ids = Vec::new();
    let ingest = services.ingest_client_as(&heavy);
    for chunk in 0..HEAVY_POSTS / 32 {
        let posts = (0..32)
            .map(|i| {
                let n = chunk * 32 + i;
                post(&format!("heavy-{n}"), &format!("writer-{n}"), 10, &cjk_text(n))
            })
            .collect();
        let response = ingest.clone().submit_posts(pb::SubmitPostsRequest { posts }).await.unwrap().into_inner();
        heavy_ids.extend(response.results.into_iter().map(|r| r.post_id));
    }
    let started = Instant::now();
    let request = pb::SubmitPostRequest { post: Some(post("light-1", "someone", 10, "my parcel never arrived")) };
    let light_id = services.ingest_client_as(&light).submit_post(request).await.unwrap().into_inner().post_id;

    assert!(
        services.routed_within(&light, &light_id, PIPELINE_DEADLINE).await,
        "the light tenant's post was not routed within {PIPELINE_DEADLINE:?}"
    );
    eprintln!("light tenant routed after {:.1} s behind {HEAVY_POSTS} heavy posts", started.elapsed().as_secs_f64());
    for post_id in &heavy_ids {
        assert!(services.routed_within(&heavy, post_id, HEAVY_DEADLINE).await, "heavy post {post_id} was not routed");
    }
    eprintln!("all {HEAVY_POSTS} heavy posts routed after {:.1} s", started.elapsed().as_secs_f64());
}
