//! From the outbox to the world: every escalation event goes on the tenant's stream exactly once
//! (in outbox order), and to the tenant's webhook, signed, retried with backoff. Both run beside
//! the service, so a slow or broken webhook never holds up a case event; tenants' webhooks are
//! delivered side by side, each exchange bounded in time and size, so one tenant's slow or huge
//! receiver never holds up another's; and only to addresses [`crate::targets`] permits.

use std::sync::Arc;
use std::time::Duration;

use earshot_core::{InvalidArgument, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::escalation::{outbox, webhook};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::Result;
use crate::state::Escalations;
use crate::targets::{GuardedResolver, TargetPolicy};

/// The lease of the replica publishing to the streams.
const PUBLISHER_LEASE: &str = "escalation:publisher";
/// The lease of the replica delivering webhooks.
const WEBHOOK_LEASE: &str = "escalation:webhooks";
/// Events published per round.
const PUBLISH_BATCH: u64 = 200;
/// Deliveries attempted per tenant and round.
const DELIVERY_BATCH: u64 = 50;
/// A delivery is given up after this many attempts (about a day of backoff).
pub const MAX_ATTEMPTS: i32 = 16;
/// Longest a delivery may take, from connecting to the end of the answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most of a webhook's answer read (to reuse the connection); the rest is dropped with it.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Tenants whose webhooks are delivered at the same time; each tenant's in order, one at a time.
const CONCURRENT_TENANTS: usize = 16;
/// The signature header: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-earshot-signature";
/// The event id header, for receivers that drop redeliveries.
pub const EVENT_ID_HEADER: &str = "x-earshot-event-id";

/// The HTTP client webhooks go out on (http and https).
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// A client for `http://` and `https://` webhooks (public CA roots) that connects only to
/// addresses `targets` permits.
pub fn http_client(targets: Arc<TargetPolicy>) -> HttpClient {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver::new(targets));
    http.enforce_http(false);
    http.set_connect_timeout(Some(DELIVERY_TIMEOUT));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(), // HMAC takes keys of any length
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Wait before attempt `attempts + 1`: 1 s, 2 s, 4 s … at most 2 h. A formula rather than a
/// retry crate: the next attempt's time is stored with the event, so the schedule outlives a
/// restart and moves to whichever replica delivers next.
fn backoff_ms(attempts: i32) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 13)).unwrap_or(13);
    (1_000_i64 << exponent).min(2 * 3_600_000)
}

impl Escalations {
    /// Puts unpublished outbox events on their streams, oldest first; returns how many.
    pub async fn publish_pending(&self) -> Result<usize> {
        let pending = outbox::Entity::find()
            .filter(outbox::Column::Published.eq(false))
            .order_by_asc(outbox::Column::Id)
            .limit(PUBLISH_BATCH)
            .all(&self.db)
            .await?;
        let mut published = Vec::with_capacity(pending.len());
        let mut failure = None;
        for event in &pending {
            match self.events.publish(&event.tenant, &event.event_id, &event.payload).await {
                Ok(_) => published.push(event.id),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        // One statement for the round; what was published before a failure stays published (the
        // stream's markers make publishing again harmless, but not needed).
        if !published.is_empty() {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::Published, Expr::value(true))
                .filter(outbox::Column::Id.is_in(published))
                .exec(&self.db)
                .await?;
        }
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(pending.len()),
        }
    }

    /// Publishes whenever events are written (and every second, for events a crashed process
    /// left). One replica publishes at a time, under a lease renewed every round; the others stand
    /// by (the stream's markers would keep each event once anyway, the lease saves the work).
    pub async fn publish_forever(self) {
        loop {
            let woken = self.outbox_ready.notified();
            if self.leases.publisher.holds(PUBLISHER_LEASE).await {
                match self.publish_pending().await {
                    Ok(n) if n as u64 == PUBLISH_BATCH => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "publishing escalation events failed; will retry"),
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
        }
    }

    /// Attempts every webhook delivery that is due; returns how many succeeded. Tenants are served
    /// side by side, each in event order, so a slow or failing receiver delays only its own tenant:
    /// once one of its deliveries fails, the rest of its events wait for the next round.
    pub async fn deliver_due(&self, http: &HttpClient) -> Result<usize> {
        use futures::StreamExt as _;
        let now = self.clock.now_ms();
        let tenants: Vec<String> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Tenant)
            .distinct()
            .filter(outbox::Column::Webhook.eq("pending"))
            .filter(outbox::Column::NextAttemptAtMs.lte(now))
            .into_tuple()
            .all(&self.db)
            .await?;
        let rounds: Vec<Result<usize>> = futures::stream::iter(tenants)
            .map(|tenant| self.deliver_in_order(http, tenant, now))
            .buffer_unordered(CONCURRENT_TENANTS)
            .collect()
            .await;
        rounds.into_iter().sum()
    }

    /// Delivers one tenant's pending events in order: from its oldest, while they are due, at most
    /// [`DELIVERY_BATCH`] and for about one delivery timeout, stopping at the first that fails (so
    /// a later event never overtakes one waiting for its retry).
    async fn deliver_in_order(&self, http: &HttpClient, tenant: String, now: i64) -> Result<usize> {
        let started = tokio::time::Instant::now();
        let events = outbox::Entity::find()
            .filter(outbox::Column::Tenant.eq(tenant.as_str()))
            .filter(outbox::Column::Webhook.eq("pending"))
            .order_by_asc(outbox::Column::Id)
            .limit(DELIVERY_BATCH)
            .all(&self.db)
            .await?;
        let due = events.iter().take_while(|event| event.next_attempt_at_ms <= now).count();
        let events: Vec<outbox::Model> = events.into_iter().take(due).collect();
        let Some(first) = events.first() else {
            return Ok(0);
        };
        let hook = webhook::Entity::find_by_id(first.tenant.clone()).one(&self.db).await?;
        let mut delivered = 0;
        for event in events {
            // Renewed before each delivery: a replica that lost the lease (stalled past it) stops
            // before posting what its successor now delivers.
            if !self.leases.webhooks.hold(WEBHOOK_LEASE).await? {
                break;
            }
            let outcome = match &hook {
                None => Err("webhook removed".to_owned()),
                Some(hook) => post(http, &self.webhook_targets, hook, &event).await,
            };
            let attempts = event.attempts + 1;
            let failed = outcome.is_err();
            let mut active = event.clone().into_active_model();
            active.attempts = Set(attempts);
            match outcome {
                Ok(()) => {
                    active.webhook = Set("delivered".to_owned());
                    active.last_error = Set(None);
                    delivered += 1;
                }
                Err(error) => {
                    let gave_up = attempts >= MAX_ATTEMPTS || hook.is_none();
                    let tenant = Tenant::parse(&event.tenant).map(|t| t.to_string()).unwrap_or_default();
                    tracing::warn!(%tenant, event_id = %event.event_id, attempts, %error, gave_up, "webhook delivery failed");
                    active.webhook = Set(if gave_up { "failed" } else { "pending" }.to_owned());
                    active.next_attempt_at_ms = Set(now + backoff_ms(event.attempts));
                    active.last_error = Set(Some(error));
                }
            }
            active.update(&self.db).await?;
            if (failed && hook.is_some()) || started.elapsed() > DELIVERY_TIMEOUT {
                break;
            }
        }
        Ok(delivered)
    }

    /// Delivers webhooks every `interval` until the task is dropped, while this replica holds the
    /// webhook lease (one replica delivers at a time, so each webhook goes out once).
    pub async fn deliver_forever(self, interval: Duration) {
        let http = http_client(self.webhook_targets.clone());
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if self.leases.webhooks.holds(WEBHOOK_LEASE).await
                && let Err(error) = self.deliver_due(&http).await
            {
                tracing::warn!(%error, "webhook round failed");
            }
        }
    }
}

/// One signed POST; any 2xx answer is a delivery. The whole exchange is bounded in time, and the
/// answer in size.
async fn post(
    http: &HttpClient,
    targets: &TargetPolicy,
    hook: &webhook::Model,
    event: &outbox::Model,
) -> std::result::Result<(), String> {
    let uri: hyper::Uri = hook.url.parse().map_err(|e| format!("bad url: {e}"))?;
    targets.check_literal(&uri)?;
    let body = Bytes::from(event.payload.clone());
    let request = hyper::Request::post(uri)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("earshot/", env!("CARGO_PKG_VERSION")))
        .header(SIGNATURE_HEADER, signature(&hook.secret, &body))
        .header(EVENT_ID_HEADER, &event.event_id)
        .body(Full::new(body))
        .map_err(|e| format!("bad request: {e}"))?;
    let exchange = async {
        let response = http.request(request).await.map_err(|e| format!("{e}"))?;
        let status = response.status();
        // Read a bounded part of the answer so the connection can be reused; a larger one is
        // dropped with its connection.
        let _ = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect().await;
        Ok::<_, String>(status)
    };
    let status = tokio::time::timeout(DELIVERY_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no complete answer within {} s", DELIVERY_TIMEOUT.as_secs()))??;
    if status.is_success() { Ok(()) } else { Err(format!("answered {status}")) }
}

impl Escalations {
    /// Sets the tenant's webhook, or removes it when `url` is empty. The answer masks the secret.
    pub async fn put_webhook(&self, tenant: &Tenant, wire: pb::Webhook) -> Result<pb::Webhook> {
        if wire.url.is_empty() {
            webhook::Entity::delete_by_id(tenant.as_str().to_owned()).exec(&self.db).await?;
            tracing::info!(%tenant, "webhook removed");
            return Ok(pb::Webhook::default());
        }
        let uri: hyper::Uri =
            wire.url.parse().map_err(|_| InvalidArgument::new("url", format!("'{}' is not a URL", wire.url)))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) || wire.url.len() > 2_000 {
            return Err(InvalidArgument::new("url", "must be an http:// or https:// URL with a host").into());
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(InvalidArgument::new("url", "must not carry credentials; the signature authenticates").into());
        }
        self.webhook_targets.check(&uri).await?;
        let length = wire.secret.chars().count();
        if !(16..=256).contains(&length) {
            return Err(InvalidArgument::new("secret", "must be 16 to 256 characters").into());
        }
        let row = webhook::ActiveModel {
            tenant: Set(tenant.as_str().to_owned()),
            url: Set(wire.url.clone()),
            secret: Set(wire.secret),
            updated_at_ms: Set(self.clock.now_ms()),
        };
        webhook::Entity::insert(row)
            .on_conflict(
                OnConflict::column(webhook::Column::Tenant)
                    .update_columns([webhook::Column::Url, webhook::Column::Secret, webhook::Column::UpdatedAtMs])
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        tracing::info!(%tenant, url = %wire.url, "webhook set");
        Ok(pb::Webhook { url: wire.url, secret: "********".to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(3), 8_000);
        assert_eq!(backoff_ms(40), 2 * 3_600_000);
    }
}
