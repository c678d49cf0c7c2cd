//! The bad-input corpus: garbage a client can send to every service, each answered with a clear
//! status that names the field, and nothing written: every table of every service's database has
//! the same rows after the corpus as before.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut};
use earshot_e2e::{AuthChannel, Bearer, Services, Stack, post};
use earshot_proto::v1 as pb;
use prost::Message;
use sea_orm::{ConnectionTrait, Database, Statement};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

/// Row counts of every table the stack's services keep: of each SQLite file in its folder, or of
/// its PostgreSQL database.
async fn rows(stack: &Stack) -> BTreeMap<String, i64> {
    let databases: Vec<(String, String, &str)> = match &stack.database {
        Some(url) => vec![(
            "postgres".to_owned(),
            url.clone(),
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )],
        None => ["ingest", "routing", "escalation"]
            .into_iter()
            .map(|service| {
                let url = format!("sqlite://{}/{service}.db?mode=ro", stack.dir.path().display());
                (service.to_owned(), url, "SELECT name FROM sqlite_master WHERE type = 'table'")
            })
            .collect(),
    };
    let mut counts = BTreeMap::new();
    for (label, url, list_tables) in databases {
        let db = Database::connect(&url).await.unwrap();
        let backend = db.get_database_backend();
        let tables = db.query_all_raw(Statement::from_string(backend, list_tables)).await.unwrap();
        for table in tables {
            let name: String = table.try_get_by_index(0).unwrap();
            let count = db
                .query_one_raw(Statement::from_string(backend, format!("SELECT COUNT(*) FROM \"{name}\"")))
                .await
                .unwrap()
                .unwrap();
            counts.insert(format!("{label}.{name}"), count.try_get_by_index::<i64>(0).unwrap());
        }
        db.close().await.unwrap();
    }
    counts
}

/// Sends bytes as they are: how a client in another language could send invalid UTF-8.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.chunk().to_vec();
        src.advance(bytes.len());
        Ok(Some(bytes))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

async fn raw_call(channel: AuthChannel, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|error| Status::unavailable(error.to_string()))?;
    let path = http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(body), path, Raw).await.map(tonic::Response::into_inner)
}

/// A post whose `field` is set by `change`.
fn with(change: impl FnOnce(&mut pb::Post)) -> pb::Post {
    let mut post = post("bad-1", "someone", 10, "my parcel is late");
    change(&mut post);
    post
}

/// What the corpus expects of one entry: the code, and the field the message names.
fn expect(name: &str, result: Result<(), Status>, code: Code, field: &str) {
    let status = match result {
        Ok(()) => panic!("{name}: accepted"),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "{name}: {status:?}");
    assert!(status.message().contains(field), "{name}: '{}' does not name {field}", status.message());
}

async fn submit(services: &Services, key: &Bearer, post: pb::Post) -> Result<(), Status> {
    services.ingest_client_as(key).submit_post(pb::SubmitPostRequest { post: Some(post) }).await.map(drop)
}

async fn submit_all(services: &Services, key: &Bearer, posts: Vec<pb::Post>) -> Result<(), Status> {
    services.ingest_client_as(key).submit_posts(pb::SubmitPostsRequest { posts }).await.map(drop)
}

#[tokio::test]
async fn the_bad_input_corpus_gets_clear_errors_and_stores_nothing() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let (_, integration) = services.create_key("acme", &["integration"], None).await.unwrap();
    let (_, admin) = services.create_key("acme", &["admin", "supervisor"], None).await.unwrap();
    let (_, agent) = services.create_key("acme", &["agent"], Some("alice")).await.unwrap();
    let presence = pb::SetPresenceRequest {
        agent_id: "alice".into(),
        presence: pb::Presence::Available as i32,
        capacity: 1,
        languages: vec!["en".into()],
        ..Default::default()
    };
    services.agent_client_as(&admin).set_presence(presence.clone()).await.unwrap();
    let before = rows(&stack).await;
    let invalid = Code::InvalidArgument;
    let s = &services;

    // Posts.
    expect("empty text", submit(s, &integration, with(|p| p.text.clear())).await, invalid, "post.text");
    expect("whitespace text", submit(s, &integration, with(|p| p.text = " \n\t  ".into())).await, invalid, "post.text");
    let control_only = with(|p| p.text = "\u{0}\u{7}\u{1b}\u{8}".into());
    expect("control characters only", submit(s, &integration, control_only).await, invalid, "post.text");
    let megabyte = with(|p| p.text = "é".repeat(512 * 1024));
    expect("1 MB text", submit(s, &integration, megabyte).await, invalid, "post.text");
    let control_id = with(|p| p.external_id = "abc\u{0}\r\ndef".into());
    expect("control characters in an id", submit(s, &integration, control_id).await, invalid, "post.external_id");
    let long_id = with(|p| p.external_id = "x".repeat(10_000));
    expect("a 10 kB id", submit(s, &integration, long_id).await, invalid, "post.external_id");
    expect("no author", submit(s, &integration, with(|p| p.author = None)).await, invalid, "post.author");
    let unknown_channel = with(|p| p.channel = "myspace".into());
    expect("unknown channel", submit(s, &integration, unknown_channel).await, invalid, "post.channel");
    let unknown_visibility = with(|p| p.visibility = 99);
    expect("unknown visibility", submit(s, &integration, unknown_visibility).await, invalid, "post.visibility");
    let far_future = with(|p| p.created_at = Some(pbjson_types::Timestamp { seconds: i64::MAX, nanos: 0 }));
    expect("created_at at the end of time", submit(s, &integration, far_future).await, invalid, "post.created_at");
    let before_1970 = with(|p| p.created_at = Some(pbjson_types::Timestamp { seconds: i64::MIN, nanos: 0 }));
    expect("created_at before 1970", submit(s, &integration, before_1970).await, invalid, "post.created_at");
    let bad_nanos = with(|p| p.created_at = Some(pbjson_types::Timestamp { seconds: 0, nanos: -1 }));
    expect("negative nanos", submit(s, &integration, bad_nanos).await, invalid, "post.created_at");
    let huge_metadata = with(|p| p.metadata = (0..1_000).map(|i| (format!("k{i}"), "v".repeat(100))).collect());
    expect("oversized metadata", submit(s, &integration, huge_metadata).await, invalid, "post.metadata");
    expect(
        "no post at all",
        s.ingest_client_as(&integration).submit_post(pb::SubmitPostRequest { post: None }).await.map(drop),
        invalid,
        "post",
    );

    // Batches: one bad post or a repeated one stores none of the batch.
    let batch: Vec<pb::Post> = (0..10_000).map(|i| with(|p| p.external_id = format!("b{i}"))).collect();
    expect("10,000-post batch", submit_all(s, &integration, batch).await, invalid, "posts");
    let mixed = vec![with(|p| p.external_id = "ok-1".into()), with(|p| p.text.clear())];
    expect("a batch with one bad post", submit_all(s, &integration, mixed).await, invalid, "posts[1].text");
    let repeated = vec![
        with(|p| p.external_id = "same".into()),
        with(|p| p.external_id = "other".into()),
        with(|p| p.external_id = "same".into()),
    ];
    expect("duplicate ids in one batch", submit_all(s, &integration, repeated).await, invalid, "posts[2].external_id");
    let stream =
        s.ingest_client_as(&integration).stream_posts(tokio_stream::iter(vec![with(|p| p.text.clear())])).await;
    let first = tokio_stream::StreamExt::next(&mut stream.unwrap().into_inner()).await.unwrap().map(drop);
    expect("a bad post on a stream", first, invalid, "posts[0].text");

    // Invalid UTF-8 and undecodable bytes, through a raw client.
    let mut bytes =
        pb::SubmitPostRequest { post: Some(with(|p| p.text = "before INVALID after".into())) }.encode_to_vec();
    let at = bytes.windows(7).position(|w| w == b"INVALID").unwrap();
    bytes[at..at + 7].copy_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0x80]);
    let channel = || integration.channel(s.ingest.channel());
    let utf8 = raw_call(channel(), "/earshot.v1.IngestService/SubmitPost", bytes).await.map(drop);
    expect("invalid UTF-8 text", utf8, invalid, "UTF-8");
    let garbage = raw_call(channel(), "/earshot.v1.IngestService/SubmitPost", vec![0xff; 64]).await.map(drop);
    expect("bytes that are no message", garbage, invalid, "Protobuf message");

    // Classify.
    let classify =
        s.classify_client_as(&integration).classify(pb::ClassifyRequest { post: Some(with(|p| p.text.clear())) }).await;
    expect("classify empty text", classify.map(drop), invalid, "post.text");

    // Routing: names that would break out of a Redis key, unknown enums, absurd numbers.
    let mut agents = s.agent_client_as(&admin);
    for (name, change, field) in [
        (
            "injection-looking skill",
            Box::new(|r: &mut pb::SetPresenceRequest| r.skills = vec!["billing}:*".into()])
                as Box<dyn Fn(&mut pb::SetPresenceRequest)>,
            "skills",
        ),
        ("a skill with a space", Box::new(|r: &mut pb::SetPresenceRequest| r.skills = vec!["a b".into()]), "skills"),
        (
            "agent id with CRLF",
            Box::new(|r: &mut pb::SetPresenceRequest| r.agent_id = "alice\r\nFLUSHALL".into()),
            "agent_id",
        ),
        ("unknown presence", Box::new(|r: &mut pb::SetPresenceRequest| r.presence = 42), "presence"),
        ("capacity of 4 billion", Box::new(|r: &mut pb::SetPresenceRequest| r.capacity = u32::MAX), "capacity"),
        (
            "a 1000-character language",
            Box::new(|r: &mut pb::SetPresenceRequest| r.languages = vec!["e".repeat(1000)]),
            "languages",
        ),
    ] {
        let mut request = presence.clone();
        change(&mut request);
        expect(name, agents.set_presence(request).await.map(drop), invalid, field);
    }
    let queue = s
        .routing_client_as(&admin)
        .list_queue(pb::ListQueueRequest { queue: "es:{acme}:q:*".into(), limit: u32::MAX })
        .await;
    expect("injection-looking queue", queue.map(drop), invalid, "queue");
    let case = s.routing_client_as(&admin).get_case(pb::GetCaseRequest { case_id: "c_../../etc/passwd".into() }).await;
    expect("malformed case id", case.map(drop), invalid, "case_id");
    let transfer = pb::TransferCaseRequest { agent_id: "alice".into(), case_id: "c_0".into(), queue: "x y".into() };
    expect("malformed transfer", s.agent_client_as(&agent).transfer_case(transfer).await.map(drop), invalid, "queue");
    let wait =
        s.agent_client_as(&agent).next_case(pb::NextCaseRequest { agent_id: "alice".into(), wait_ms: u32::MAX }).await;
    expect("a wait of 49 days", wait.map(drop), invalid, "wait_ms");
    let reassign = pb::ReassignCaseRequest {
        case_id: "c_zz".into(),
        supervisor: "sam".into(),
        queue: "../".into(),
        ..Default::default()
    };
    expect(
        "malformed reassign",
        s.routing_client_as(&admin).reassign_case(reassign).await.map(drop),
        invalid,
        "case_id",
    );

    // Escalation and keys.
    let mut escalation = s.escalation_client_as(&admin);
    let get = escalation.get_escalation(pb::GetEscalationRequest { escalation_id: "e_\u{0}".into() }).await;
    expect("malformed escalation id", get.map(drop), invalid, "escalation_id");
    let policy = pb::SlaPolicy { name: "}{".into(), ..Default::default() };
    expect("policy name", escalation.put_sla_policy(policy).await.map(drop), invalid, "name");
    let webhook = pb::Webhook { url: "file:///etc/passwd".into(), secret: "s".into() };
    expect("webhook that is no URL of ours", escalation.put_webhook(webhook).await.map(drop), invalid, "url");
    let secret = "a-webhook-secret-of-length";
    // Every form is in `targets.rs`'s tests; over the wire, one of each kind.
    for internal in ["http://localhost:6379/", "http://169.254.169.254/latest/meta-data/", "http://2130706433/"] {
        let webhook = pb::Webhook { url: internal.into(), secret: secret.into() };
        expect(internal, escalation.put_webhook(webhook).await.map(drop), invalid, "url");
    }
    let listed = escalation
        .list_escalations(pb::ListEscalationsRequest { state: "nonsense".into(), ..Default::default() })
        .await;
    expect("unknown escalation state", listed.map(drop), invalid, "state");
    let key = pb::CreateKeyRequest { roles: vec!["root".into()], ..Default::default() };
    expect("unknown role", s.key_client_as(&admin).create_key(key).await.map(drop), invalid, "roles[0]");
    let key = pb::CreateKeyRequest { roles: vec!["agent".into()], ..Default::default() };
    expect("agent key without an agent", s.key_client_as(&admin).create_key(key).await.map(drop), invalid, "agent_id");
    let revoke = pb::RevokeKeyRequest { key_id: "'; DROP TABLE api_keys; --".into() };
    let revoke = s.key_client_as(&admin).revoke_key(revoke).await;
    expect("malformed key id", revoke.map(drop), invalid, "key_id");

    // Nothing was written, and the services still answer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rows(&stack).await, before, "the corpus changed stored state");
    submit(s, &integration, with(|p| p.external_id = "good".into())).await.unwrap();
}
