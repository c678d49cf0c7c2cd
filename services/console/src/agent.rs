//! The agent's page: presence and capacity, "next case" (a long poll), the cases the agent holds,
//! and the case being worked, kept live, with reply, waiting, transfer, escalate and resolve.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use earshot_core::clock::ms_from_timestamp;
use earshot_proto::v1 as pb;
use futures::Stream;
use maud::html;
use serde::Deserialize;

use crate::error::Failure;
use crate::pages::{self, case_body, countdown, csrf_field, sla_clocks};
use crate::session::{MissingRole, Session};
use crate::{Console, back, live_events};

/// How long "Next case" waits for work before saying there is none.
const NEXT_CASE_WAIT_MS: u32 = 20_000;
/// How often a live case view looks for changes.
const CASE_REFRESH: Duration = Duration::from_secs(1);

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/agent", get(page))
        .route("/agent/presence", post(presence))
        .route("/agent/next", post(next))
        .route("/agent/case/{case_id}/events", get(case_events))
        .route("/agent/case/{case_id}/{action}", post(act))
}

/// The session of an agent key, and its agent id.
fn agent(session: Session) -> Result<(Session, String), Failure> {
    let session = session.require("agent")?;
    if session.key.agent_id.is_empty() {
        return Err(Failure::Role(MissingRole("agent")));
    }
    let agent_id = session.key.agent_id.clone();
    Ok((session, agent_id))
}

#[derive(Deserialize)]
struct PageQuery {
    case: Option<String>,
    lease: Option<i64>,
    msg: Option<String>,
}

async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<Response, Failure> {
    let (session, agent_id) = agent(console.session(&headers)?)?;
    let mut clients = console.clients(&session)?;
    let me = match clients.agents.get_agent(pb::GetAgentRequest { agent_id: agent_id.clone() }).await {
        Ok(view) => Some(view.into_inner()),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => return Err(status.into()),
    };
    let case = match query.case.as_deref().filter(|c| !c.is_empty()) {
        Some(case_id) => {
            let case = clients.routing.get_case(pb::GetCaseRequest { case_id: case_id.into() }).await?.into_inner();
            let clocks = clients.clocks(case_id).await?;
            Some((case, clocks))
        }
        None => None,
    };
    // Someone opening the console for the first time has come to work.
    let presence = me.as_ref().map_or(pb::Presence::Available, |me| me.presence());
    let capacity = me.as_ref().map_or(1, |me| me.capacity.max(1));
    let body = html! {
        (pages::flash(query.msg.as_deref()))
        section.presence {
            form #presence method="post" action="/agent/presence" {
                (csrf_field(&session))
                label for="presence-select" { "Status" }
                select #presence-select name="presence" {
                    @for (value, label) in [("available", "Available"), ("away", "Away"), ("offline", "Offline")] {
                        option value=(value) selected[presence.as_str_name().eq_ignore_ascii_case(value)] { (label) }
                    }
                }
                label for="capacity" { "Cases at once" }
                input #capacity type="number" name="capacity" min="1" max="50" value=(capacity);
                button type="submit" { "Save" }
            }
            form #next method="post" action="/agent/next" {
                (csrf_field(&session))
                button #next-case type="submit" accesskey="n" { "Next case (n)" }
            }
            @if let Some(me) = &me {
                p { "Your cases: "
                    @for case_id in &me.cases { a.held href={ "/agent?case=" (case_id) } { (case_id) } " " }
                    @if me.cases.is_empty() { "none" }
                }
            } @else {
                p { "Set your status to start receiving cases." }
            }
        }
        @if let Some((case, clocks)) = &case {
            (case_view(&session, case, clocks.as_ref(), query.lease))
        }
        (pages::shortcuts())
    };
    Ok(pages::frame("My cases", Some(&session), body).into_response())
}

/// The case an agent works: live body with its SLA clocks, lease countdown, and the actions its
/// state allows.
fn case_view(
    session: &Session,
    case: &pb::CaseView,
    clocks: Option<&pb::CaseClocks>,
    lease_until_ms: Option<i64>,
) -> maud::Markup {
    let action = |name: &str| format!("/agent/case/{}/{name}", case.case_id);
    let held = case.state == "assigned";
    html! {
        section #case data-case=(case.case_id) {
            h2 { "Case " (case.case_id) }
            @if case.state == "offered" {
                @if let Some(until) = lease_until_ms { p { (countdown("Offer", until)) } }
                form method="post" action=(action("accept")) { (csrf_field(session)) button #accept type="submit" { "Accept" } }
                form method="post" action=(action("reject")) { (csrf_field(session)) button type="submit" { "Pass" } }
            }
            div #case-live data-sse={ "/agent/case/" (case.case_id) "/events" } data-sse-event="case" { (live_case(case, clocks)) }
            @if held {
                form #reply-form method="post" action=(action("reply")) {
                    (csrf_field(session))
                    label for="reply" { "Reply to the customer" }
                    textarea #reply name="text" rows="3" maxlength="10000" required {}
                    button type="submit" { "Send reply" }
                }
                form #wait method="post" action=(action(if case.waiting { "resume" } else { "wait" })) {
                    (csrf_field(session))
                    button type="submit" { @if case.waiting { "Stop waiting" } @else { "Wait on customer (w)" } }
                }
                form method="post" action=(action("transfer")) {
                    (csrf_field(session))
                    input name="queue" placeholder="queue" required aria-label="Transfer to queue";
                    button type="submit" { "Transfer" }
                }
                form method="post" action=(action("escalate")) {
                    (csrf_field(session))
                    input #escalate-note name="note" placeholder="why you need help" maxlength="2000" aria-label="Escalation note";
                    button type="submit" { "Escalate (e)" }
                }
                form #resolve method="post" action=(action("resolve")) {
                    (csrf_field(session))
                    button #resolve-button type="submit" { "Resolve (d)" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct PresenceForm {
    #[serde(default)]
    csrf: String,
    presence: String,
    capacity: u32,
}

async fn presence(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<PresenceForm>,
) -> Result<Redirect, Failure> {
    let (session, agent_id) = agent(console.form_session(&headers, &form.csrf)?)?;
    let presence =
        pb::Presence::from_str_name(&form.presence.to_ascii_uppercase()).unwrap_or(pb::Presence::Unspecified);
    let request =
        pb::SetPresenceRequest { agent_id, presence: presence as i32, capacity: form.capacity, ..Default::default() };
    console.clients(&session)?.agents.set_presence(request).await?;
    Ok(back("/agent", "Status saved."))
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    queue: String,
    #[serde(default)]
    note: String,
}

async fn next(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Result<Redirect, Failure> {
    let (session, agent_id) = agent(console.form_session(&headers, &form.csrf)?)?;
    let request = pb::NextCaseRequest { agent_id, wait_ms: NEXT_CASE_WAIT_MS };
    let offer = console.clients(&session)?.agents.next_case(request).await?.into_inner().offer;
    Ok(match offer.as_ref().and_then(|offer| offer.case.as_ref().map(|case| (case, offer.lease_expires_at.as_ref()))) {
        Some((case, lease)) => {
            let lease = lease.map(ms_from_timestamp).map(|ms| format!("&lease={ms}")).unwrap_or_default();
            Redirect::to(&format!("/agent?case={}{lease}", case.case_id))
        }
        None => back("/agent", "Nothing is waiting for you right now."),
    })
}

async fn act(
    State(console): State<Console>,
    headers: HeaderMap,
    Path((case_id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Redirect, Failure> {
    let (session, agent_id) = agent(console.form_session(&headers, &form.csrf)?)?;
    let mut agents = console.clients(&session)?.agents;
    let case = pb::CaseActionRequest { agent_id: agent_id.clone(), case_id: case_id.clone() };
    let here = format!("/agent?case={case_id}");
    let done = match action.as_str() {
        "accept" => agents.accept_case(case).await.map(|_| "Accepted."),
        "reject" => agents.reject_case(case).await.map(|_| "Passed; it keeps its place for someone else."),
        "reply" => {
            let request = pb::RecordResponseRequest { agent_id, case_id, text: form.text };
            agents.record_response(request).await.map(|_| "Reply sent.")
        }
        "wait" | "resume" => {
            let waiting = action == "wait";
            let request = pb::SetWaitingRequest { agent_id, case_id, waiting, note: form.note };
            agents
                .set_waiting(request)
                .await
                .map(|_| if waiting { "Waiting on the customer." } else { "Clock running again." })
        }
        "transfer" => {
            let request = pb::TransferCaseRequest { agent_id, case_id, queue: form.queue };
            agents.transfer_case(request).await?;
            return Ok(back("/agent", "Transferred."));
        }
        "escalate" => {
            let request = pb::EscalateCaseRequest { agent_id, case_id, note: form.note };
            agents.escalate_case(request).await.map(|_| "A supervisor has been asked.")
        }
        "resolve" => {
            agents.resolve_case(case).await?;
            return Ok(back("/agent", "Resolved."));
        }
        _ => return Err(Failure::Service(tonic::Status::not_found(format!("no action {action}")))),
    }?;
    Ok(back(&here, done))
}

/// What the live part of an agent's case shows: the SLA clocks, then the case.
fn live_case(case: &pb::CaseView, clocks: Option<&pb::CaseClocks>) -> maud::Markup {
    html! { (sla_clocks(clocks)) (case_body(case)) }
}

/// The case's body again whenever it changes (a follow-up, a reply, a re-score, a clock starting,
/// pausing or breaching), as `case` events.
async fn case_events(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Failure> {
    let (session, _) = agent(console.session(&headers)?)?;
    let mut clients = console.clients(&session)?;
    let stream = live_events(move |sender| async move {
        let mut last = None;
        loop {
            let Ok(case) = clients.routing.get_case(pb::GetCaseRequest { case_id: case_id.clone() }).await else {
                return;
            };
            let Ok(clocks) = clients.clocks(&case_id).await else { return };
            let case = case.into_inner();
            let clock_states: Vec<(String, String)> = clocks
                .iter()
                .flat_map(|c| &c.clocks)
                .map(|clock| (clock.kind.clone(), clock.state.clone()))
                .chain(clocks.iter().flat_map(|c| &c.escalations).map(|e| (e.escalation_id.clone(), e.state.clone())))
                .collect();
            let version =
                (case.history.len(), case.posts.len(), case.priority, case.state.clone(), case.waiting, clock_states);
            if last.as_ref() != Some(&version) {
                let fragment = live_case(&case, clocks.as_ref()).into_string();
                if sender.send(Event::default().event("case").data(fragment)).await.is_err() {
                    return;
                }
                last = Some(version);
            }
            tokio::time::sleep(CASE_REFRESH).await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
