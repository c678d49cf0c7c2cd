//! TLS between everything: with certificates configured, the four services serve over TLS,
//! require client certificates signed by the deployment's CA (mutual TLS), and call each other
//! with their own; a post goes through the whole pipeline that way. Plaintext, a client without a
//! certificate and one with a stranger's certificate are refused at the handshake.

use earshot_e2e::{PIPELINE_DEADLINE, Pipeline, Stack, post};
use earshot_proto::v1 as pb;
use earshot_proto::v1::ingest_service_client::IngestServiceClient;
use earshot_telemetry::tls::TlsArgs;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A CA and a certificate it signs for loopback; PEM strings.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki { ca: ca.pem(), cert: cert.pem(), key: key.serialize_pem() }
}

#[tokio::test]
async fn the_services_talk_mutual_tls_and_refuse_anything_else() {
    let stack = Stack::new().await.unwrap();
    let ours = pki();
    let dir = stack.dir.path();
    for (name, pem) in [("ca.pem", &ours.ca), ("cert.pem", &ours.cert), ("key.pem", &ours.key)] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    let mut node = stack.node();
    node.tls = TlsArgs {
        tls_cert: Some(dir.join("cert.pem")),
        tls_key: Some(dir.join("key.pem")),
        tls_client_ca: Some(dir.join("ca.pem")),
        tls_ca: Some(dir.join("ca.pem")),
    };
    let services = node.start().await.unwrap();

    // The whole pipeline, every hop over mutual TLS.
    let record = services.submit_routed(post("tls-1", "secure", 10, "my parcel never arrived")).await.unwrap();
    assert_eq!(record.state, "routed");
    assert!(!record.case_id.is_empty());

    let address = services.ingest.addr.to_string();
    let credential = services.credential.clone();
    let get = pb::GetPostRequest { post_id: record.post_id.clone() };
    let attempt = |tls: Option<ClientTlsConfig>| {
        let channel = earshot_telemetry::client::channel(&address, PIPELINE_DEADLINE, tls.as_ref()).unwrap();
        let mut client = IngestServiceClient::new(credential.channel(channel));
        let get = get.clone();
        async move { client.get_post(get).await }
    };

    // Refused at the transport: no handler runs, the client sees the connection fail.
    let refused_at_handshake =
        |status: &tonic::Status| matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown);
    let plaintext = attempt(None).await.unwrap_err();
    assert!(refused_at_handshake(&plaintext), "plaintext: {plaintext:?}");
    let trusting = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ours.ca));
    let anonymous = attempt(Some(trusting.clone())).await.unwrap_err();
    assert!(refused_at_handshake(&anonymous), "no client certificate: {anonymous:?}");
    let stranger = pki();
    let impostor = trusting.clone().identity(Identity::from_pem(&stranger.cert, &stranger.key));
    let refused = attempt(Some(impostor)).await.unwrap_err();
    assert!(refused_at_handshake(&refused), "a certificate of another CA: {refused:?}");
    let ours_identity = trusting.identity(Identity::from_pem(&ours.cert, &ours.key));
    let accepted = attempt(Some(ours_identity)).await.unwrap().into_inner();
    assert_eq!(accepted.post_id, record.post_id);
}
