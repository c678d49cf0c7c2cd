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
use crate::pages::{self, case_body, escalation_row, reassign_form, sla_clocks, time, warning_row};
use crate::session::Session;
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

/// What the floor looks like now: the tenant's queues and its agents.
struct Floor {
    queues: Vec<pb::QueueStat>,
    agents: Vec<pb::AgentView>,
}

impl Floor {
    async fn read(clients: &mut Clients) -> Result<Self, tonic::Status> {
        let queues = clients.routing.queue_stats(pb::QueueStatsRequest {}).await?.into_inner().queues;
        let agents = clients.routing.list_agents(pb::ListAgentsRequest {}).await?.into_inner().agents;
        Ok(Self { queues, agents })
    }
}

/// The queue board.
fn board(queues: &[pb::QueueStat]) -> Markup {
    html! {
        table.board {
            thead { tr { th { "Queue" } th { "Waiting" } th { "Offered" } th { "Assigned" } th { "Top priority" } th { "Oldest waiting since" } } }
            tbody {
                @for queue in queues {
                    tr { td { (queue.queue) } td { (queue.waiting) } td { (queue.offered) } td { (queue.assigned) }
                        td { (queue.top_priority) } td { (time(queue.oldest_enqueued_at.as_ref())) } }
                }
                @if queues.is_empty() { tr { td colspan="6" { "No queues yet." } } }
            }
        }
    }
}

/// The agents and their load.
fn agents(agents: &[pb::AgentView]) -> Markup {
    html! {
        table.agents {
            thead { tr { th { "Agent" } th { "Status" } th { "Load" } th { "Queues" } th { "Languages" } } }
            tbody {
                @for agent in agents {
                    tr { td { (agent.agent_id) } td { (agent.presence().as_str_name().to_ascii_lowercase()) }
                        td { (agent.cases.len()) " / " (agent.capacity) } td { (agent.skills.join(", ")) }
                        td { (agent.languages.join(", ")) } }
                }
                @if agents.is_empty() { tr { td colspan="5" { "No agents registered." } } }
            }
        }
    }
}

async fn page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<FlashQuery>,
) -> Result<Response, Failure> {
    let session = console.session(&headers)?.require("supervisor")?;
    let mut clients = console.clients(&session)?;
    let floor = Floor::read(&mut clients).await?;
    let open =
        clients.escalation.list_escalations(pb::ListEscalationsRequest::default()).await?.into_inner().escalations;
    let body = html! {
        (pages::flash(query.msg.as_deref()))
        div #live data-sse="/supervisor/events" {}
        (search_form())
        (reassign_targets(&floor))
        h2 { "Queues" }
        div #board { (board(&floor.queues)) }
        h2 { "Agents" }
        div #agents { (agents(&floor.agents)) }
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
                    let row = match (event.escalation.as_ref(), event.warning.as_ref()) {
                        (Some(escalation), _) => escalation_row(escalation, &session),
                        (None, Some(warning)) => warning_row(warning),
                        (None, None) => continue,
                    }
                    .into_string();
                    if sender.send(Event::default().event("escalation").id(event.cursor.clone()).data(row)).await.is_err() {
                        return;
                    }
                }
                _ = refresh.tick() => {
                    let Ok(floor) = Floor::read(&mut clients).await else { continue };
                    let board = board(&floor.queues).into_string();
                    let agents = agents(&floor.agents).into_string();
                    let sent = sender.send(Event::default().event("board").data(board)).await.is_ok()
                        && sender.send(Event::default().event("agents").data(agents)).await.is_ok();
                    if !sent {
                        return;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Look a case up by its id, or a customer's cases by their id or handle.
fn search_form() -> Markup {
    html! {
        form.search method="get" action="/supervisor/case" {
            input name="q" placeholder="case id (c_…), customer or @handle" required aria-label="Case or customer";
            button type="submit" { "Find" }
        }
    }
}

/// Where a case can go: every queue known (from the board and agents' skills) and every agent with
/// its state and load, for the reassign boxes to pick from.
fn reassign_targets(floor: &Floor) -> Markup {
    let mut names: Vec<&str> = floor.queues.iter().map(|q| q.queue.as_str()).collect();
    names.extend(floor.agents.iter().flat_map(|a| a.skills.iter().map(String::as_str)));
    names.sort_unstable();
    names.dedup();
    html! {
        datalist #reassign-targets {
            @for queue in names { option value=(queue) { "queue " (queue) } }
            @for agent in &floor.agents {
                option value={ "agent:" (agent.agent_id) } {
                    (agent.agent_id) " · " (agent.presence().as_str_name().to_ascii_lowercase()) " · "
                    (agent.cases.len()) "/" (agent.capacity)
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct CaseQuery {
    /// A case id (links from the feed).
    #[serde(default)]
    id: String,
    /// What a supervisor typed: a case id, a customer id or a handle.
    #[serde(default)]
    q: String,
}

async fn case_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<CaseQuery>,
) -> Result<Response, Failure> {
    let session = console.session(&headers)?.require("supervisor")?;
    let mut clients = console.clients(&session)?;
    let wanted = if query.id.trim().is_empty() { query.q.trim() } else { query.id.trim() }.to_owned();
    if earshot_core::ids::check_id("case_id", 'c', &wanted).is_ok() {
        match clients.routing.get_case(pb::GetCaseRequest { case_id: wanted.clone() }).await {
            Ok(case) => return Ok(case_view(&mut clients, &session, case.into_inner()).await?.into_response()),
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => return Err(status.into()),
        }
    }
    let request = pb::FindCasesRequest { customer: wanted.clone(), limit: 0 };
    let mut cases = clients.routing.find_cases(request).await?.into_inner().cases;
    if cases.len() == 1 {
        let case = cases.remove(0);
        return Ok(case_view(&mut clients, &session, case).await?.into_response());
    }
    let body = html! {
        (search_form())
        h2 { "Cases of " (wanted) }
        @if cases.is_empty() { p role="status" { "No case has that id, and no customer that id or handle." } }
        @else { (case_list(&cases)) }
    };
    let status = if cases.is_empty() { axum::http::StatusCode::NOT_FOUND } else { axum::http::StatusCode::OK };
    Ok((status, pages::frame("Cases", Some(&session), body)).into_response())
}

/// Cases as rows linking to each.
fn case_list(cases: &[pb::CaseView]) -> Markup {
    html! {
        table.cases {
            thead { tr { th { "Case" } th { "Opened" } th { "State" } th { "Queue / priority" } th { "Posts" } th { "Agent" } } }
            tbody {
                @for case in cases {
                    tr { td { a href={ "/supervisor/case?id=" (case.case_id) } { (case.case_id) } }
                        td { (time(case.opened_at.as_ref())) } td { (case.state) @if case.escalated { " · escalated" } }
                        td { (case.queue) " / " (case.priority) } td { (case.posts.len()) } td { (case.assigned_agent) } }
                }
            }
        }
    }
}

/// One case for a supervisor: reassign, every SLA clock, the case, and the customer's other cases.
async fn case_view(
    clients: &mut Clients,
    session: &Session,
    case: pb::CaseView,
) -> Result<axum::response::Html<String>, Failure> {
    let clocks = clients.clocks(&case.case_id).await?;
    let targets = reassign_targets(&Floor::read(clients).await?);
    let request = pb::FindCasesRequest { customer: case.customer.clone(), limit: 0 };
    let others: Vec<pb::CaseView> = clients
        .routing
        .find_cases(request)
        .await?
        .into_inner()
        .cases
        .into_iter()
        .filter(|other| other.case_id != case.case_id)
        .collect();
    let body = html! {
        (search_form())
        section #case {
            h2 { "Case " (case.case_id) }
            @if case.state != "resolved" { (targets) (reassign_form(&case.case_id, session)) }
            (sla_clocks(clocks.as_ref()))
            (case_body(&case))
            @if !others.is_empty() {
                h3 { "Other cases of " (case.customer) }
                (case_list(&others))
            }
        }
    };
    Ok(pages::frame("Case", Some(session), body))
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
