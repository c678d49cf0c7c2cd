//! One client far over its key's rate gets `RESOURCE_EXHAUSTED` for the excess, and nothing of
//! it is stored; other tenants submitting at the same time are all accepted and routed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use earshot_core::Tenant;
use earshot_e2e::{Bearer, PIPELINE_DEADLINE, Pipeline, Services, Stack, post};
use earshot_proto::v1 as pb;
use earshot_testkit::wait_for;
use tonic::Code;

/// How long the abusive client hammers, and its bound on calls.
const ABUSE_FOR: Duration = Duration::from_secs(3);
const ABUSE_MAX_CALLS: u64 = 20_000;
/// The abusive key's rate: calls and posts per second.
const ABUSER_RATE: u32 = 50;

async fn key(services: &Services, tenant: &str, rate_per_second: u32) -> Bearer {
    let credential = services.credential.clone().for_tenant(&Tenant::parse(tenant).unwrap());
    let request = pb::CreateKeyRequest {
        name: "load".into(),
        roles: vec!["integration".into()],
        agent_id: String::new(),
        rate_per_second,
    };
    let created = services.key_client_as(&credential).create_key(request).await.unwrap().into_inner();
    Bearer::new(&created.secret).unwrap()
}

#[tokio::test]
async fn a_client_over_its_rate_is_refused_and_other_tenants_are_unaffected() {
    let stack = Stack::new().await.unwrap();
    let services = stack.services().await.unwrap();
    let abuser = key(&services, "abuser", ABUSER_RATE).await;
    let polite = [key(&services, "calm-one", 0).await, key(&services, "calm-two", 0).await];

    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut hammering = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = services.ingest_client_as(&abuser);
        let (accepted, refused, calls) = (accepted.clone(), refused.clone(), calls.clone());
        hammering.spawn(async move {
            let mut refused_ids = Vec::new();
            while started.elapsed() < ABUSE_FOR && calls.fetch_add(1, Ordering::Relaxed) < ABUSE_MAX_CALLS {
                let external_id = format!("flood-{worker}-{}", calls.load(Ordering::Relaxed));
                let request = pb::SubmitPostRequest { post: Some(post(&external_id, "bot", 1, "spam spam spam")) };
                match client.clone().submit_post(request).await {
                    Ok(_) => accepted.fetch_add(1, Ordering::Relaxed),
                    Err(status) => {
                        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                        refused_ids.push(external_id);
                        refused.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            refused_ids
        });
    }

    // Meanwhile two other tenants submit at a modest pace: every post is accepted and routed.
    let mut polite_posts = Vec::new();
    for round in 0..40 {
        for (index, key) in polite.iter().enumerate() {
            let request = pb::SubmitPostRequest {
                post: Some(post(&format!("calm-{round}"), &format!("customer-{round}"), 10, "my parcel is late")),
            };
            let response = services.ingest_client_as(key).submit_post(request).await;
            let response = response.unwrap_or_else(|status| panic!("tenant {index} refused: {status:?}"));
            polite_posts.push((key.clone(), response.into_inner().post_id));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut refused_ids = Vec::new();
    while let Some(ids) = hammering.join_next().await {
        refused_ids.extend(ids.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (accepted, refused) = (accepted.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    eprintln!("abuser: {accepted} accepted, {refused} refused in {elapsed:.1} s");
    assert!(refused > accepted, "most of the flood is refused");
    // Each accepted post costs two tokens (the call and the post): one second's burst plus the rate.
    let allowance = (f64::from(ABUSER_RATE) * (1.0 + elapsed) / 2.0).ceil() as u64 + 1;
    assert!(accepted <= allowance, "{accepted} accepted; the rate allows {allowance}");

    for (key, post_id) in &polite_posts {
        assert!(services.routed_within(key, post_id, PIPELINE_DEADLINE).await, "{post_id} was not routed");
    }

    // A refused post was not stored: once the bucket refills, sending it again is new.
    let again = refused_ids.first().expect("some posts were refused").clone();
    let resend = || async {
        let request = pb::SubmitPostRequest { post: Some(post(&again, "bot", 1, "spam spam spam")) };
        match services.ingest_client_as(&abuser).submit_post(request).await {
            Ok(response) => Some(response.into_inner()),
            Err(status) if status.code() == Code::ResourceExhausted => None,
            Err(status) => panic!("{status:?}"),
        }
    };
    let response = wait_for(PIPELINE_DEADLINE, resend).await.expect("the bucket refills");
    assert!(!response.duplicate, "{again} was refused, so it was never stored");
}
