//! The supervisor's page: the live queue board, agents with their state and load, the escalation
//! feed (live, resumed from its cursor when the browser reconnects), acknowledge / resolve /
//! reassign, and a case looked up by id.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use earshot_proto::v1 as pb;
use futures::Stream;
use maud::{Markup, html};
use serde::Deserialize;

use crate::backend::Clients;
use crate::error::Failure;
use crate::pages::{self, case_body, escalation_row, time};
use crate::{Console, FlashQuery, back, live_events};

/// How often the board and the agents refresh on a live page.
const BOARD_REFRESH: Duration = Duration::from_secs(2);

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/supervisor", get(page))
        .route("/supervisor/events", get(events))
        .route("/supervisor/case", get(case_page))
        .route("/supervisor/escalation/{escalation_id}/{action}", post(act))
        .route("/supervisor/case/{case_id}/reassign", post(reassign))
}

/// The queue board.
async fn board(clients: &mut Clients) -> Result<Markup, tonic::Status> {
    let queues = clients.routing.queue_stats(pb::QueueStatsRequest {}).await?.into_inner().queues;
    Ok(html! {
        table.board {
            thead { tr { th { "Queue" } th { "Waiting" } th { "Offered" } th { "Assigned" } th { "Top priority" } th { "Oldest waiting since" } } }
            tbody {
                @for queue in &queues {
                    tr { td { (queue.queue) } td { (queue.waiting) } td { (queue.offered) } td { (queue.assigned) }
                        td { (queue.top_priority) } td { (time(queue.oldest_enqueued_at.as_ref())) } }
                }
                @if queues.is_empty() { tr { td colspan="6" { "No queues yet." } } }
            }
        }
    })
}

/// The agents and their load.
async fn agents(clients: &mut Clients) -> Result<Markup, tonic::Status> {
    let agents = clients.routing.list_agents(pb::ListAgentsRequest {}).await?.into_inner().agents;
    Ok(html! {
        table.agents {
            thead { tr { th { "Agent" } th { "Status" } th { "Load" } th { "Queues" } th { "Languages" } } }
            tbody {
                @for agent in &agents {
                    tr { td { (agent.agent_id) } td { (agent.presence().as_str_name().to_ascii_lowercase()) }
                        td { (agent.cases.len()) " / " (agent.capacity) } td { (agent.skills.join(", ")) }
                        td { (agent.languages.join(", ")) } }
                }
                @if agents.is_empty() { tr { td colspan="5" { "No agents registered." } } }
            }
        }
    })
}

async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<FlashQuery>,
) -> Result<Response, Failure> {
    let session = console.session(&headers)?.require("supervisor")?;
    let mut clients = console.clients(&session)?;
    let board = board(&mut clients).await?;
    let agents = agents(&mut clients).await?;
    let open =
        clients.escalation.list_escalations(pb::ListEscalationsRequest::default()).await?.into_inner().escalations;
    let body = html! {
        (pages::flash(query.msg.as_deref()))
        div #live data-sse="/supervisor/events" {}
        form.search method="get" action="/supervisor/case" {
            input name="id" placeholder="case id (c_…)" required aria-label="Case id";
            button type="submit" { "Find case" }
        }
        h2 { "Queues" }
        div #board { (board) }
        h2 { "Agents" }
        div #agents { (agents) }
        h2 { "Escalations" }
        table.feed {
            thead { tr { th { "Raised" } th { "Case" } th { "Reason" } th { "Level" } th { "State" } th { "Queue / priority" } th { "Detail" } th {} } }
            tbody #feed { @for escalation in &open { (escalation_row(escalation, &session)) } }
        }
    };
    Ok(pages::frame("Supervisor", Some(&session), body).into_response())
}

/// The live page: every escalation event as a feed row (`escalation`, its id the stream cursor,
/// so a reconnecting browser resumes where it was), and the board and agents every two seconds.
async fn events(
    State(console): State<Console>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Failure> {
    let session = console.session(&headers)?.require("supervisor")?;
    let mut clients = console.clients(&session)?;
    let cursor = headers.get("last-event-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut watch = clients.escalation.watch_escalations(pb::WatchEscalationsRequest { cursor }).await?.into_inner();
    let stream = live_events(move |sender| async move {
        let mut refresh = tokio::time::interval(BOARD_REFRESH);
        loop {
            tokio::select! {
                next = watch.message() => {
                    let Ok(Some(event)) = next else { return };
                    let Some(escalation) = event.escalation.as_ref() else { continue };
                    let row = escalation_row(escalation, &session).into_string();
                    if sender.send(Event::default().event("escalation").id(event.cursor.clone()).data(row)).await.is_err() {
                        return;
                    }
                }
                _ = refresh.tick() => {
                    let (Ok(board), Ok(agents)) = (board(&mut clients).await, agents(&mut clients).await) else { continue };
                    let sent = sender.send(Event::default().event("board").data(board.into_string())).await.is_ok()
                        && sender.send(Event::default().event("agents").data(agents.into_string())).await.is_ok();
                    if !sent {
                        return;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize)]
struct CaseQuery {
    id: String,
}

async fn case_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<CaseQuery>,
) -> Result<Response, Failure> {
    let session = console.session(&headers)?.require("supervisor")?;
    let mut clients = console.clients(&session)?;
    let case = clients.routing.get_case(pb::GetCaseRequest { case_id: query.id.trim().to_owned() }).await?.into_inner();
    let body = html! {
        section #case {
            h2 { "Case " (case.case_id) }
            form.reassign method="post" action={ "/supervisor/case/" (case.case_id) "/reassign" } {
                (pages::csrf_field(&session))
                input name="target" placeholder="queue or agent:ID" required aria-label="Reassign to";
                button type="submit" { "Reassign" }
            }
            (case_body(&case))
        }
    };
    Ok(pages::frame("Case", Some(&session), body).into_response())
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    target: String,
}

async fn act(
    State(console): State<Console>,
    headers: HeaderMap,
    Path((escalation_id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Redirect, Failure> {
    let session = console.form_session(&headers, &form.csrf)?.require("supervisor")?;
    let mut escalation = console.clients(&session)?.escalation;
    let request =
        pb::EscalationActionRequest { escalation_id, supervisor: session.key.key_id.clone(), note: form.note };
    let done = match action.as_str() {
        "acknowledge" => escalation.acknowledge_escalation(request).await.map(|_| "Acknowledged."),
        "resolve" => escalation.resolve_escalation(request).await.map(|_| "Resolved."),
        _ => return Err(Failure::Service(tonic::Status::not_found(format!("no action {action}")))),
    }?;
    Ok(back("/supervisor", done))
}

async fn reassign(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Redirect, Failure> {
    let session = console.form_session(&headers, &form.csrf)?.require("supervisor")?;
    let target = form.target.trim();
    let (queue, agent_id) = match target.strip_prefix("agent:") {
        Some(agent) => (String::new(), agent.trim().to_owned()),
        None => (target.to_owned(), String::new()),
    };
    let request = pb::ReassignCaseRequest {
        case_id: case_id.clone(),
        supervisor: session.key.key_id.clone(),
        queue,
        agent_id,
        note: form.note,
    };
    console.clients(&session)?.routing.reassign_case(request).await?;
    Ok(back("/supervisor", &format!("Case {case_id} reassigned to {target}.")))
}
