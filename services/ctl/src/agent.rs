//! Agent commands: presence, next case, accept, reject, respond, resolve, transfer, wait on the
//! customer, escalate.

use anyhow::{Result, bail};
use earshot_proto::v1 as pb;

use crate::connect::{Endpoints, call_error};
use crate::print;

/// What an agent can do.
#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// Register or update an agent.
    Presence {
        /// Agent id.
        agent_id: String,
        /// available, away or offline.
        #[arg(long, default_value = "available")]
        state: String,
        /// Maximum concurrent cases (0 keeps the current value).
        #[arg(long, default_value_t = 0)]
        capacity: u32,
        /// Queues, comma-separated (empty keeps the current ones).
        #[arg(long, value_delimiter = ',')]
        skills: Vec<String>,
        /// Languages, comma-separated ISO 639-1 codes (empty keeps the current ones).
        #[arg(long, value_delimiter = ',')]
        languages: Vec<String>,
    },
    /// Ask for the next case (an offer under a lease).
    Next {
        /// Agent id.
        agent_id: String,
        /// Wait up to this many seconds for a case when none is eligible (at most 30).
        #[arg(long, default_value_t = 0)]
        wait: u32,
    },
    /// Accept an offered case.
    Accept {
        /// Agent id.
        agent_id: String,
        /// Case id.
        case_id: String,
    },
    /// Decline an offered case.
    Reject {
        /// Agent id.
        agent_id: String,
        /// Case id.
        case_id: String,
    },
    /// Record an answer to the customer.
    Respond {
        /// Agent id.
        agent_id: String,
        /// Case id.
        case_id: String,
        /// What was answered.
        text: String,
    },
    /// Resolve a case.
    Resolve {
        /// Agent id.
        agent_id: String,
        /// Case id.
        case_id: String,
    },
    /// Move a case to another queue, keeping its place.
    Transfer {
        /// Agent id.
        agent_id: String,
        /// Case id.
        case_id: String,
        /// Target queue.
        queue: String,
    },
    /// Mark a held case as waiting on the customer (SLA clocks pause); --done ends the wait.
    Wait {
        /// Agent id.
        agent_id: String,
        /// Case id.
        case_id: String,
        /// What you wait for.
        #[arg(long, default_value = "")]
        note: String,
        /// Stop waiting.
        #[arg(long)]
        done: bool,
    },
    /// Ask a supervisor for help.
    Escalate {
        /// Agent id.
        agent_id: String,
        /// Case id.
        case_id: String,
        /// What the supervisor should know.
        note: String,
    },
}

/// Parses a presence name.
pub fn presence(state: &str) -> Result<pb::Presence> {
    Ok(match state {
        "available" => pb::Presence::Available,
        "away" => pb::Presence::Away,
        "offline" => pb::Presence::Offline,
        other => bail!("--state {other}: use available, away or offline"),
    })
}

/// Runs an agent command.
pub async fn run(connect: &Endpoints, command: AgentCommand) -> Result<()> {
    let mut agents = connect.agents()?;
    let error = |status| call_error("routing", status);
    let case = match command {
        AgentCommand::Presence { agent_id, state, capacity, skills, languages } => {
            let request =
                pb::SetPresenceRequest { agent_id, presence: presence(&state)? as i32, capacity, skills, languages };
            let agent = agents.set_presence(connect.request(request)?).await.map_err(error)?.into_inner();
            outln!(
                "{} {} capacity {} skills {} languages {} holding {}",
                agent.agent_id,
                state,
                agent.capacity,
                agent.skills.join(","),
                if agent.languages.is_empty() { "any".to_owned() } else { agent.languages.join(",") },
                agent.cases.len()
            );
            return Ok(());
        }
        AgentCommand::Next { agent_id, wait } => {
            let request = pb::NextCaseRequest { agent_id, wait_ms: wait.saturating_mul(1000) };
            let response = agents.next_case(connect.request(request)?).await.map_err(error)?;
            match response.into_inner().offer {
                Some(pb::Offer { case: Some(case), lease_expires_at }) => {
                    let now = earshot_core::Clock::now_ms(&earshot_core::SystemClock) / 1_000;
                    let left = lease_expires_at.map(|t| t.seconds - now).unwrap_or_default().max(0);
                    outln!("offered for {left} s: accept or reject it");
                    case
                }
                _ => {
                    outln!("nothing eligible right now");
                    return Ok(());
                }
            }
        }
        AgentCommand::Accept { agent_id, case_id } => agents
            .accept_case(connect.request(pb::CaseActionRequest { agent_id, case_id })?)
            .await
            .map_err(error)?
            .into_inner(),
        AgentCommand::Reject { agent_id, case_id } => agents
            .reject_case(connect.request(pb::CaseActionRequest { agent_id, case_id })?)
            .await
            .map_err(error)?
            .into_inner(),
        AgentCommand::Respond { agent_id, case_id, text } => agents
            .record_response(connect.request(pb::RecordResponseRequest { agent_id, case_id, text })?)
            .await
            .map_err(error)?
            .into_inner(),
        AgentCommand::Resolve { agent_id, case_id } => agents
            .resolve_case(connect.request(pb::CaseActionRequest { agent_id, case_id })?)
            .await
            .map_err(error)?
            .into_inner(),
        AgentCommand::Transfer { agent_id, case_id, queue } => agents
            .transfer_case(connect.request(pb::TransferCaseRequest { agent_id, case_id, queue })?)
            .await
            .map_err(error)?
            .into_inner(),
        AgentCommand::Wait { agent_id, case_id, note, done } => agents
            .set_waiting(connect.request(pb::SetWaitingRequest { agent_id, case_id, waiting: !done, note })?)
            .await
            .map_err(error)?
            .into_inner(),
        AgentCommand::Escalate { agent_id, case_id, note } => agents
            .escalate_case(connect.request(pb::EscalateCaseRequest { agent_id, case_id, note })?)
            .await
            .map_err(error)?
            .into_inner(),
    };
    print::case(&case);
    Ok(())
}
