//! The classifier service: reads each post's language, sentiment, complaint, intents and topic,
//! and scores its risk and priority with the reasons, so routing can put unhappy customers first
//! and explain why.

pub mod analysis;
mod api;
pub mod classifier;
pub mod config;
pub mod cues;
pub mod error;
pub mod language;
pub mod model;
pub mod text;
pub mod vader;

use anyhow::Context;
use earshot_proto::v1::classifier_service_server::ClassifierServiceServer;
use tokio::net::TcpListener;

pub use api::ClassifyApi;
pub use classifier::Classifier;
pub use config::Config;
pub use error::Error;

/// Loads the models and serves `ClassifierService` on `listener` until `shutdown` resolves.
/// Time is read through `clock` (tests pass a manual one).
pub async fn run(
    config: Config,
    listener: TcpListener,
    clock: earshot_core::SharedClock,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let weights = config.weights.load()?;
    let cues_dir = config.cues_dir.clone();
    let model_path = config.model.clone();
    let classifier = tokio::task::spawn_blocking(move || {
        let model = model::Model::load(model_path.as_deref())?;
        anyhow::Ok(Classifier::with_model(weights, cues_dir.as_deref(), model)?)
    })
    .await
    .context("loading the classifier")??;
    let tenants_with_cues: Vec<&str> = classifier.tenants_with_own_cues().collect();
    if !tenants_with_cues.is_empty() {
        tracing::info!(tenants = ?tenants_with_cues, "tenants with cues of their own");
    }
    let common = &config.common;
    let (directory, _) = common.auth.open(&common.redis_url, "classify").await.context("opening the key directory")?;
    let api = ClassifyApi::new(classifier, config.input.limits(&common.message), clock);
    earshot_telemetry::grpc::Server::new()
        .await
        .with(ClassifierServiceServer::new(api).max_decoding_message_size(common.message.max_message_bytes))
        .serve(listener, directory, &common.tls, shutdown)
        .await?;
    Ok(())
}
