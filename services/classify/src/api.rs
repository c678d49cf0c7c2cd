//! `ClassifierService` over gRPC. Classification is CPU work, so batches run on the blocking pool
//! and never stall the reactor.

use std::sync::Arc;

use earshot_core::{InvalidArgument, Limits, Post, SharedClock, Tenant};
use earshot_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::Classifier;
use crate::error::{Error, Result};

/// The gRPC handler.
#[derive(Clone)]
pub struct ClassifyApi {
    classifier: Arc<Classifier>,
    limits: Limits,
    /// Stands in for a post's missing `created_at`.
    clock: SharedClock,
    /// Time to classify one post (its count is the posts classified).
    latency: opentelemetry::metrics::Histogram<f64>,
}

impl ClassifyApi {
    /// A handler over `classifier`, rejecting input beyond `limits`, reading time through
    /// `clock`.
    pub fn new(classifier: Classifier, limits: Limits, clock: SharedClock) -> Self {
        let latency = earshot_telemetry::metrics::seconds_histogram(
            "earshot.classify.duration",
            "Time to classify one post (language, sentiment, complaint, intent, topic, risk)",
        );
        Self { classifier: Arc::new(classifier), limits, clock, latency }
    }

    fn validate(&self, field: &str, post: Option<pb::Post>) -> Result<Post> {
        let post = post.ok_or_else(|| InvalidArgument::new(field, "is required"))?;
        Ok(Post::from_wire(post, &self.limits, self.clock.now_ms()).map_err(|e| e.within(field))?)
    }

    /// Classifies `posts` on the blocking pool, one classification per post, in order.
    async fn classify_all(&self, tenant: Tenant, posts: Vec<Post>) -> Result<Vec<pb::Classification>> {
        let classifier = Arc::clone(&self.classifier);
        let latency = self.latency.clone();
        let span = tracing::info_span!("classify.posts", posts = posts.len());
        let classify_one = move |post: &Post| {
            let started = tokio::time::Instant::now();
            let classification = classifier.classify_for(&tenant, post);
            latency.record(started.elapsed().as_secs_f64(), &[]);
            classification
        };
        Ok(tokio::task::spawn_blocking(move || span.in_scope(|| posts.iter().map(classify_one).collect())).await?)
    }
}

#[tonic::async_trait]
impl pb::classifier_service_server::ClassifierService for ClassifyApi {
    async fn classify(
        &self,
        request: Request<pb::ClassifyRequest>,
    ) -> std::result::Result<Response<pb::Classification>, Status> {
        let tenant = earshot_auth::Principal::tenant_for_posts(&request, 1).await?;
        let post = self.validate("post", request.into_inner().post)?;
        let classification = self.classify_all(tenant, vec![post]).await?.pop().ok_or(Error::Unanswered)?;
        Ok(Response::new(classification))
    }

    async fn classify_batch(
        &self,
        request: Request<pb::ClassifyBatchRequest>,
    ) -> std::result::Result<Response<pb::ClassifyBatchResponse>, Status> {
        let charged = request.get_ref().posts.len().min(self.limits.max_batch);
        let tenant = earshot_auth::Principal::tenant_for_posts(&request, charged).await?;
        let posts = request.into_inner().posts;
        InvalidArgument::check_count("posts", posts.len(), self.limits.max_batch)?;
        let posts = posts
            .into_iter()
            .enumerate()
            .map(|(i, post)| self.validate(&format!("posts[{i}]"), Some(post)))
            .collect::<Result<Vec<_>>>()?;
        let classifications = self.classify_all(tenant, posts).await?;
        Ok(Response::new(pb::ClassifyBatchResponse { classifications }))
    }
}
