//! From the outbox to the world: every escalation event goes on the tenant's stream exactly once
//! (in outbox order), and to the tenant's webhook, signed, retried with backoff. Both run beside
//! the service, so a slow or broken webhook never holds up a case event.

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

/// Events published per round.
const PUBLISH_BATCH: u64 = 200;
/// Deliveries attempted per round.
const DELIVERY_BATCH: u64 = 50;
/// A delivery is given up after this many attempts (about a day of backoff).
pub const MAX_ATTEMPTS: i32 = 16;
/// Longest wait for a webhook's answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The signature header: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-earshot-signature";
/// The event id header, for receivers that drop redeliveries.
pub const EVENT_ID_HEADER: &str = "x-earshot-event-id";

/// The HTTP client webhooks go out on (http and https).
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for `http://` and `https://` webhooks (public CA roots).
pub fn http_client() -> HttpClient {
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
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

/// Wait before attempt `attempts + 1`: 1 s, 2 s, 4 s … at most 2 h.
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
        for event in &pending {
            self.events.publish(&event.tenant, &event.event_id, &event.payload).await?;
            outbox::Entity::update_many()
                .col_expr(outbox::Column::Published, Expr::value(true))
                .filter(outbox::Column::Id.eq(event.id))
                .exec(&self.db)
                .await?;
        }
        Ok(pending.len())
    }

    /// Publishes whenever events are written (and every second, for events a crashed process left).
    pub async fn publish_forever(self) {
        loop {
            let woken = self.outbox_ready.notified();
            match self.publish_pending().await {
                Ok(n) if n as u64 == PUBLISH_BATCH => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "publishing escalation events failed; will retry"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
        }
    }

    /// Attempts every webhook delivery that is due; returns how many succeeded.
    pub async fn deliver_due(&self, http: &HttpClient) -> Result<usize> {
        let now = self.clock.now_ms();
        let due = outbox::Entity::find()
            .filter(outbox::Column::Webhook.eq("pending"))
            .filter(outbox::Column::NextAttemptAtMs.lte(now))
            .order_by_asc(outbox::Column::Id)
            .limit(DELIVERY_BATCH)
            .all(&self.db)
            .await?;
        let mut delivered = 0;
        for event in due {
            let hook = webhook::Entity::find_by_id(event.tenant.clone()).one(&self.db).await?;
            let outcome = match &hook {
                None => Err("webhook removed".to_owned()),
                Some(hook) => post(http, hook, &event).await,
            };
            let attempts = event.attempts + 1;
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
        }
        Ok(delivered)
    }

    /// Delivers webhooks every `interval` until the task is dropped.
    pub async fn deliver_forever(self, interval: Duration) {
        let http = http_client();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = self.deliver_due(&http).await {
                tracing::warn!(%error, "webhook round failed");
            }
        }
    }
}

/// One signed POST; any 2xx answer is a delivery.
async fn post(http: &HttpClient, hook: &webhook::Model, event: &outbox::Model) -> std::result::Result<(), String> {
    let body = Bytes::from(event.payload.clone());
    let request = hyper::Request::post(&hook.url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("earshot/", env!("CARGO_PKG_VERSION")))
        .header(SIGNATURE_HEADER, signature(&hook.secret, &body))
        .header(EVENT_ID_HEADER, &event.event_id)
        .body(Full::new(body))
        .map_err(|e| format!("bad request: {e}"))?;
    let response = tokio::time::timeout(DELIVERY_TIMEOUT, http.request(request))
        .await
        .map_err(|_| format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{e}"))?;
    let status = response.status();
    // Read (and drop) the body so the connection can be reused.
    let _ = response.into_body().collect().await;
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
