//! `IngestService` over gRPC.

use std::pin::Pin;

use earshot_auth::Principal;
use earshot_core::Tenant;
use earshot_proto::v1 as pb;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::Rejection;
use crate::posts::Posts;

fn tenant<T>(request: &Request<T>) -> Result<Tenant, Status> {
    Principal::tenant_of(request)
}

impl Posts {
    /// The caller's tenant, with `posts` charged against its key's rate (counted when refused).
    async fn charge<T>(&self, request: &Request<T>, posts: usize) -> Result<Tenant, Status> {
        Principal::tenant_for_posts(request, posts).await.inspect_err(|status| self.count_refusal(status, posts))
    }

    fn count_refusal(&self, status: &Status, posts: usize) {
        if status.code() == tonic::Code::ResourceExhausted {
            self.metrics.rejected(Rejection::RateLimited, posts as u64);
        }
    }
}

#[tonic::async_trait]
impl pb::ingest_service_server::IngestService for Posts {
    async fn submit_post(
        &self,
        request: Request<pb::SubmitPostRequest>,
    ) -> Result<Response<pb::SubmitPostResponse>, Status> {
        let tenant = self.charge(&request, 1).await?;
        let post = request.into_inner().post.ok_or_else(|| Status::invalid_argument("invalid post: is required"))?;
        let posts = vec![self.validate_one(post, "post")?];
        let mut results = self.accept(&tenant, posts).await?;
        results.pop().map(Response::new).ok_or_else(|| Status::internal("internal error"))
    }

    async fn submit_posts(
        &self,
        request: Request<pb::SubmitPostsRequest>,
    ) -> Result<Response<pb::SubmitPostsResponse>, Status> {
        // An oversized batch is refused below; it costs no more than the largest allowed one.
        let tenant = self.charge(&request, request.get_ref().posts.len().min(self.limits.max_batch)).await?;
        let posts = self.validate(request.into_inner().posts, "posts")?;
        Ok(Response::new(pb::SubmitPostsResponse { results: self.accept(&tenant, posts).await? }))
    }

    type StreamPostsStream = Pin<Box<dyn Stream<Item = Result<pb::SubmitPostResponse, Status>> + Send>>;

    async fn stream_posts(
        &self,
        request: Request<Streaming<pb::Post>>,
    ) -> Result<Response<Self::StreamPostsStream>, Status> {
        let principal = Principal::of(&request)?.clone();
        let tenant = principal.tenant.clone();
        let posts = self.clone();
        let incoming = request.into_inner();
        // Each post is acknowledged after it is stored; the first invalid post ends the stream
        // with INVALID_ARGUMENT naming it, a post over the key's rate with RESOURCE_EXHAUSTED
        // (posts before it stay accepted).
        let acks = incoming.enumerate().then(move |(index, post)| {
            let posts = posts.clone();
            let tenant = tenant.clone();
            let principal = principal.clone();
            async move {
                let post = post.map_err(earshot_telemetry::status::client_decode_failure)?;
                principal.spend(1).await.inspect_err(|status| posts.count_refusal(status, 1))?;
                let valid = vec![posts.validate_one(post, &format!("posts[{index}]"))?];
                let mut results = posts.accept(&tenant, valid).await?;
                results.pop().ok_or_else(|| Status::internal("internal error"))
            }
        });
        let until_error = acks.scan(false, |failed, ack| {
            if *failed {
                return futures::future::ready(None);
            }
            *failed = ack.is_err();
            futures::future::ready(Some(ack))
        });
        Ok(Response::new(Box::pin(until_error)))
    }

    async fn get_post(&self, request: Request<pb::GetPostRequest>) -> Result<Response<pb::PostRecord>, Status> {
        let tenant = tenant(&request)?;
        Ok(Response::new(self.get(&tenant, &request.into_inner().post_id).await?))
    }
}
