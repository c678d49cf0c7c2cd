//! The admin's page: API keys (a new key's secret is shown once, on the page that made it), the
//! tenant's SLA policies, and the webhook.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use earshot_proto::v1 as pb;
use maud::html;
use serde::Deserialize;

use crate::error::Failure;
use crate::pages::{self, csrf_field, time};
use crate::policy_form::{PolicyForm, policy_form};
use crate::session::Session;
use crate::{Console, CsrfForm, FlashQuery, back};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/admin", get(page))
        .route("/admin/keys", post(create_key))
        .route("/admin/keys/{key_id}/revoke", post(revoke_key))
        .route("/admin/policies", post(put_policy))
        .route("/admin/webhook", post(put_webhook))
}

async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<FlashQuery>,
) -> Result<Response, Failure> {
    let session = console.session(&headers)?.require("admin")?;
    Ok(admin_page(&console, &session, query.msg.as_deref(), None).await?.into_response())
}

/// The page, with a just-made key's secret when there is one.
async fn admin_page(
    console: &Console,
    session: &Session,
    message: Option<&str>,
    created: Option<&pb::CreatedKey>,
) -> Result<axum::response::Html<String>, Failure> {
    let mut clients = console.clients(session)?;
    let keys = clients.keys.list_keys(pb::ListKeysRequest {}).await?.into_inner().keys;
    let policies = clients.escalation.list_sla_policies(pb::ListSlaPoliciesRequest {}).await?.into_inner().policies;
    let body = html! {
        (pages::flash(message))
        @if let Some(created) = created {
            section.secret role="status" {
                p { "Key " (created.key.as_ref().map(|k| k.key_id.as_str()).unwrap_or_default()) " made. Its secret, shown this once:" }
                code #secret { (created.secret) }
            }
        }
        h2 { "API keys" }
        form.create method="post" action="/admin/keys" {
            (csrf_field(session))
            input name="name" placeholder="what it is for" maxlength="100" aria-label="Key name";
            select name="role" aria-label="Role" {
                @for role in ["agent", "supervisor", "admin", "integration"] { option value=(role) { (role) } }
            }
            input name="agent_id" placeholder="agent id (agent keys)" aria-label="Agent id";
            button type="submit" { "Make key" }
        }
        table.keys {
            thead { tr { th { "Key" } th { "Name" } th { "Roles" } th { "Agent" } th { "Made" } th { "Revoked" } th {} } }
            tbody {
                @for key in &keys {
                    tr { td { (key.key_id) } td { (key.name) } td { (key.roles.join(", ")) } td { (key.agent_id) }
                        td { (time(key.created_at.as_ref())) } td { (time(key.revoked_at.as_ref())) }
                        td { @if key.revoked_at.is_none() {
                            form method="post" action={ "/admin/keys/" (key.key_id) "/revoke" } {
                                (csrf_field(session)) button type="submit" { "Revoke" }
                            }
                        } } }
                }
            }
        }
        h2 { "SLA policies" }
        @if policies.is_empty() { p { "The built-in targets apply to every queue. Add a policy named default to change them." } }
        @for policy in &policies { (policy_form(policy, session)) }
        (policy_form(&pb::SlaPolicy::default(), session))
        h2 { "Webhook" }
        form.webhook method="post" action="/admin/webhook" {
            (csrf_field(session))
            input name="url" type="url" placeholder="https://…" aria-label="Webhook URL";
            input name="secret" type="password" minlength="16" placeholder="signing secret (16+ characters)" aria-label="Webhook secret";
            button type="submit" { "Save webhook" }
        }
    };
    Ok(pages::frame("Admin", Some(session), body))
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    role: String,
    #[serde(default)]
    agent_id: String,
}

async fn create_key(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Result<Response, Failure> {
    let session = console.form_session(&headers, &form.csrf)?.require("admin")?;
    let request = pb::CreateKeyRequest {
        name: form.name,
        roles: vec![form.role],
        agent_id: form.agent_id.trim().to_owned(),
        rate_per_second: 0,
    };
    let created = console.clients(&session)?.keys.create_key(request).await?.into_inner();
    Ok(admin_page(&console, &session, Some("Key made."), Some(&created)).await?.into_response())
}

async fn revoke_key(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(key_id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Redirect, Failure> {
    let session = console.form_session(&headers, &form.csrf)?.require("admin")?;
    console.clients(&session)?.keys.revoke_key(pb::RevokeKeyRequest { key_id: key_id.clone() }).await?;
    Ok(back("/admin", &format!("Key {key_id} revoked.")))
}

#[derive(Deserialize)]
struct WebhookForm {
    #[serde(default)]
    csrf: String,
    url: String,
    #[serde(default)]
    secret: String,
}

async fn put_webhook(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<WebhookForm>,
) -> Result<Redirect, Failure> {
    let session = console.form_session(&headers, &form.csrf)?.require("admin")?;
    console.clients(&session)?.escalation.put_webhook(pb::Webhook { url: form.url, secret: form.secret }).await?;
    Ok(back("/admin", "Webhook saved."))
}

async fn put_policy(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<PolicyForm>,
) -> Result<Redirect, Failure> {
    let session = console.form_session(&headers, &form.csrf)?.require("admin")?;
    let saved = console.clients(&session)?.escalation.put_sla_policy(form.to_wire()?).await?.into_inner();
    Ok(back("/admin", &format!("Policy {} saved.", saved.name)))
}
