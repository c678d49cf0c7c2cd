//! A tenant's own cues apply to its posts only, over real gRPC.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use earshot_proto::v1 as pb;
use earshot_proto::v1::classifier_service_client::ClassifierServiceClient;

#[tokio::test]
async fn a_tenants_product_terms_steer_its_own_posts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("acme")).unwrap();
    std::fs::write(dir.path().join("acme").join("en.tsv"), "topic\ttechnical\trocketbox\t3\n").unwrap();
    let redis = earshot_testkit::TestRedis::single().await.unwrap();
    let service_key = earshot_auth::key::mint_service_secret().unwrap();
    let mut config = earshot_classify::Config::local();
    config.cues_dir = Some(dir.path().to_owned());
    config.common.redis_url = redis.url();
    config.common.auth = earshot_auth::AuthArgs::local(&service_key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(earshot_classify::run(
        config,
        listener,
        std::sync::Arc::new(earshot_core::SystemClock),
        std::future::pending(),
    ));

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
    // The service credential may name the tenant it acts for.
    let client = ClassifierServiceClient::new(earshot_auth::Bearer::new(&service_key).unwrap().channel(channel));
    let topic_for = |tenant: &str| {
        let mut request = tonic::Request::new(pb::ClassifyRequest {
            post: Some(pb::Post {
                channel: "forum".into(),
                external_id: "1".into(),
                author: Some(pb::Author { external_id: "a".into(), ..Default::default() }),
                text: "my new rocketbox arrived today".into(),
                ..Default::default()
            }),
        });
        request.metadata_mut().insert("x-earshot-tenant", tenant.parse().unwrap());
        let mut client = client.clone();
        async move { client.classify(request).await.unwrap().into_inner().topic }
    };
    // The listener is bound before the models load, so the first call simply waits for them.
    assert_eq!(topic_for("acme").await, "technical");
    assert_eq!(topic_for("default").await, "delivery", "other tenants keep the shared cues");
    server.abort();
}
