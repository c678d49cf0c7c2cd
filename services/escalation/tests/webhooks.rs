//! Webhooks: every escalation event reaches the tenant's receiver signed, retried with backoff,
//! and a silent or endless receiver delays only its own tenant. Real loopback receivers, real
//! Redis and SQLite, a controlled clock.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use std::time::Duration;

use common::{Harness, T0, event};
use earshot_core::Tenant;
use earshot_core::ids::new_id;
use earshot_proto::v1 as pb;

/// One HTTP request as a tiny loopback receiver saw it.
struct Received {
    headers: String,
    body: String,
}

/// How a test receiver answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// At once, with the next status.
    Promptly,
    /// Never: it holds the connection for a minute.
    Never,
    /// 200 and a body of 100 MB, as fast as it is read.
    Endlessly,
}

/// Accepts connections on a loopback port, answering each request with the next of `statuses`
/// (then 200), and hands every request to the test.
async fn webhook_receiver(statuses: Vec<u16>) -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    webhook_receiver_answering(statuses, Answer::Promptly).await
}

/// [`webhook_receiver`], answering as `answer` says.
async fn webhook_receiver_answering(
    statuses: Vec<u16>,
    answer: Answer,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/earshot", listener.local_addr().unwrap());
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let request = loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buffer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buffer).to_string();
                if let Some((headers, body)) = text.split_once("\r\n\r\n") {
                    let length = headers
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(Received { headers: headers.to_ascii_lowercase(), body: body.to_owned() });
                    }
                }
            };
            let Some(request) = request else { continue };
            let _ = sender.send(request);
            match answer {
                Answer::Promptly => {
                    let status = statuses.next().unwrap_or(200);
                    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    let _ = socket.write_all(reply.as_bytes()).await;
                }
                Answer::Never => {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        drop(socket);
                    });
                }
                Answer::Endlessly => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-length: 104857600\r\n\r\n";
                    let chunk = vec![b'x'; 64 * 1024];
                    if socket.write_all(head.as_bytes()).await.is_ok() {
                        for _ in 0..1_600 {
                            if socket.write_all(&chunk).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        }
    });
    (url, receiver)
}

#[tokio::test]
async fn the_webhook_gets_every_event_signed_and_retried_with_backoff() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let tenant = Tenant::default();
    let (url, mut received) = webhook_receiver(vec![503]).await;
    let secret = "s3cret-s3cret-s3cret";
    let bad = pb::Webhook { url: "ftp://example.com".into(), secret: secret.into() };
    assert!(service.put_webhook(&tenant, bad).await.unwrap_err().to_string().contains("url"));
    let short = pb::Webhook { url: url.clone(), secret: "short".into() };
    assert!(service.put_webhook(&tenant, short).await.unwrap_err().to_string().contains("secret"));
    let saved = service.put_webhook(&tenant, pb::Webhook { url, secret: secret.into() }).await.unwrap();
    assert_eq!(saved.secret, "********", "the secret is never shown back");

    let mut request = event(pb::CaseEventKind::AgentRequest, &new_id('c'), T0);
    request.agent_id = "ana".into();
    service.record(&tenant, request).await.unwrap();
    let http = earshot_escalation::outbox::http_client(service.webhook_targets.clone());
    assert_eq!(service.deliver_due(&http).await.unwrap(), 0, "the receiver answers 503 first");
    let first = received.recv().await.unwrap();
    assert_eq!(service.deliver_due(&http).await.unwrap(), 0, "not before the backoff");
    harness.clock.advance(1_000);
    assert_eq!(service.deliver_due(&http).await.unwrap(), 1);
    let second = received.recv().await.unwrap();
    assert_eq!(first.body, second.body, "the same event is redelivered");
    let event: pb::EscalationEvent = serde_json::from_str(&second.body).unwrap();
    assert_eq!(event.kind, "raised");
    assert!(second.headers.contains(&format!("x-earshot-event-id: {}", event.event_id)));
    let signature = earshot_escalation::outbox::signature(secret, second.body.as_bytes());
    assert!(second.headers.contains(&format!("x-earshot-signature: {signature}")), "{}", second.headers);
    harness.clock.advance(60_000);
    assert_eq!(service.deliver_due(&http).await.unwrap(), 0, "delivered once");
}

#[tokio::test]
async fn a_silent_or_endless_receiver_delays_only_its_own_tenant() {
    let harness = Harness::new().await;
    let service = harness.instance().await;
    let (silent, _silent_requests) = webhook_receiver_answering(vec![], Answer::Never).await;
    let (endless, mut endless_requests) = webhook_receiver_answering(vec![], Answer::Endlessly).await;
    let (calm, mut calm_requests) = webhook_receiver(vec![]).await;
    for (tenant, url) in [("silent", silent), ("endless", endless), ("calm", calm)] {
        let tenant = Tenant::parse(tenant).unwrap();
        let secret = "s3cret-s3cret-s3cret".to_owned();
        service.put_webhook(&tenant, pb::Webhook { url, secret }).await.unwrap();
        let mut request = event(pb::CaseEventKind::AgentRequest, &new_id('c'), T0);
        request.agent_id = "ana".into();
        service.record(&tenant, request).await.unwrap();
    }
    let http = earshot_escalation::outbox::http_client(service.webhook_targets.clone());
    let started = tokio::time::Instant::now();
    let round = tokio::spawn({
        let service = service.clone();
        async move { service.deliver_due(&http).await }
    });
    let calm = tokio::time::timeout(Duration::from_secs(3), calm_requests.recv()).await;
    assert!(calm.is_ok_and(|request| request.is_some()), "the calm tenant's webhook waits for nobody");
    let calm_latency = started.elapsed();
    assert!(endless_requests.recv().await.is_some());
    let delivered = round.await.unwrap().unwrap();
    let round_took = started.elapsed();
    eprintln!("calm webhook after {calm_latency:?}; the round, with a silent receiver, took {round_took:?}");
    assert_eq!(delivered, 2, "the calm and the endless one are delivered, the silent one times out");
    assert!(round_took < Duration::from_secs(15), "the silent receiver is cut off: {round_took:?}");
}
