//! Supervisor commands: list, show, watch, acknowledge, resolve, reassign; SLA policies and the
//! webhook.

use anyhow::{Context, Result};
use earshot_proto::v1 as pb;
use tokio_stream::StreamExt;

use crate::connect::{Endpoints, call_error};
use crate::print;

/// What a supervisor can do.
#[derive(Debug, clap::Subcommand)]
pub enum EscalationCommand {
    /// Open and acknowledged escalations, newest first (or those in one state), filtered.
    List(ListArgs),
    /// One escalation with its history.
    Show {
        /// Escalation id.
        escalation_id: String,
    },
    /// Follow escalations live; each line ends with a cursor to resume from with --cursor.
    Watch {
        /// Resume after this cursor instead of starting from now.
        #[arg(long, default_value = "")]
        cursor: String,
    },
    /// Take an escalation.
    Ack {
        /// Escalation id.
        escalation_id: String,
        /// Who takes it.
        #[arg(long)]
        supervisor: String,
        /// Note for the record.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Move a case to a queue (keeping its place) or straight to an agent.
    Reassign {
        /// Case id.
        case_id: String,
        /// Who decides.
        #[arg(long)]
        supervisor: String,
        /// Target queue (or give --agent).
        #[arg(long, default_value = "")]
        queue: String,
        /// Target agent (or give --queue).
        #[arg(long, default_value = "")]
        agent: String,
        /// Note for the record.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Close an escalation.
    Resolve {
        /// Escalation id.
        escalation_id: String,
        /// Who closes it.
        #[arg(long)]
        supervisor: String,
        /// Note for the record.
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// Which escalations to list.
#[derive(Debug, Default, clap::Args)]
pub struct ListArgs {
    /// open, acknowledged or resolved (default: open and acknowledged).
    #[arg(long, default_value = "")]
    pub state: String,
    /// Only this level.
    #[arg(long, default_value_t = 0)]
    pub level: u32,
    /// Only this reason (sla_first_response, legal, repeat_contact, …).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Only cases of this queue.
    #[arg(long, default_value = "")]
    pub queue: String,
    /// Only escalations raised at least this many minutes ago.
    #[arg(long, default_value_t = 0)]
    pub older_than_min: u64,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// Prints escalations.
pub async fn print_open(connect: &Endpoints, args: ListArgs) -> Result<()> {
    let request = pb::ListEscalationsRequest {
        state: args.state,
        limit: args.limit,
        level: args.level,
        reason: args.reason,
        queue: args.queue,
        min_age_seconds: args.older_than_min.saturating_mul(60),
    };
    let escalations = connect
        .escalation()?
        .list_escalations(connect.request(request)?)
        .await
        .map_err(|status| call_error("escalation", status))?
        .into_inner()
        .escalations;
    outln!("\n== escalations ({}) ==", escalations.len());
    for escalation in &escalations {
        print::escalation(escalation);
    }
    Ok(())
}

/// Runs a supervisor command.
pub async fn run(connect: &Endpoints, command: EscalationCommand) -> Result<()> {
    let mut client = connect.escalation()?;
    let error = |status| call_error("escalation", status);
    match command {
        EscalationCommand::List(args) => print_open(connect, args).await,
        EscalationCommand::Show { escalation_id } => {
            let request = pb::GetEscalationRequest { escalation_id };
            print::escalation_view(
                &client.get_escalation(connect.request(request)?).await.map_err(error)?.into_inner(),
            );
            Ok(())
        }
        EscalationCommand::Reassign { case_id, supervisor, queue, agent, note } => {
            let request = pb::ReassignCaseRequest { case_id, supervisor, queue, agent_id: agent, note };
            let case = connect.routing()?.reassign_case(connect.request(request)?).await;
            print::case(&case.map_err(|status| call_error("routing", status))?.into_inner());
            Ok(())
        }
        EscalationCommand::Watch { cursor } => {
            let mut events = client
                .watch_escalations(connect.request(pb::WatchEscalationsRequest { cursor })?)
                .await
                .map_err(error)?
                .into_inner();
            outln!("watching escalations (Ctrl-C to stop; resume with --cursor and the last [… cursor])");
            while let Some(event) = events.next().await {
                print::event(&event.map_err(error)?);
            }
            Ok(())
        }
        EscalationCommand::Ack { escalation_id, supervisor, note } => {
            let request = pb::EscalationActionRequest { escalation_id, supervisor, note };
            print::escalation(
                &client.acknowledge_escalation(connect.request(request)?).await.map_err(error)?.into_inner(),
            );
            Ok(())
        }
        EscalationCommand::Resolve { escalation_id, supervisor, note } => {
            let request = pb::EscalationActionRequest { escalation_id, supervisor, note };
            print::escalation(&client.resolve_escalation(connect.request(request)?).await.map_err(error)?.into_inner());
            Ok(())
        }
    }
}

/// SLA policies and the webhook (admins).
#[derive(Debug, clap::Subcommand)]
pub enum SlaCommand {
    /// The tenant's policies, and the built-in one.
    List,
    /// Create or replace a policy from a JSON file (an earshot.v1.SlaPolicy; `-` reads stdin).
    Put {
        /// The policy file.
        file: String,
    },
    /// Send every escalation event to URL, signed with SECRET (x-earshot-signature); --remove stops.
    Webhook {
        /// http:// or https:// URL.
        #[arg(default_value = "")]
        url: String,
        /// Signing key, at least 16 characters.
        #[arg(long, env = "EARSHOT_WEBHOOK_SECRET", default_value = "")]
        secret: String,
        /// Remove the webhook.
        #[arg(long)]
        remove: bool,
    },
}

/// Runs a policy command.
pub async fn run_sla(connect: &Endpoints, command: SlaCommand) -> Result<()> {
    let mut client = connect.escalation()?;
    let error = |status| call_error("escalation", status);
    match command {
        SlaCommand::List => {
            let listed = client.list_sla_policies(connect.request(pb::ListSlaPoliciesRequest {})?).await;
            let listed = listed.map_err(error)?.into_inner();
            for policy in &listed.policies {
                print::policy(policy);
            }
            let has_default = listed.policies.iter().any(|p| p.name == "default");
            if let Some(builtin) = listed.builtin.as_ref().filter(|_| !has_default) {
                print::policy(builtin);
            }
            Ok(())
        }
        SlaCommand::Put { file } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            let policy: pb::SlaPolicy =
                serde_json::from_str(&text).with_context(|| format!("{file} is not an SlaPolicy in JSON"))?;
            let saved = client.put_sla_policy(connect.request(policy)?).await.map_err(error)?.into_inner();
            print::policy(&saved);
            Ok(())
        }
        SlaCommand::Webhook { url, secret, remove } => {
            if remove != url.is_empty() {
                anyhow::bail!("give a URL, or --remove");
            }
            let saved = client.put_webhook(connect.request(pb::Webhook { url, secret })?).await.map_err(error)?;
            let saved = saved.into_inner();
            if saved.url.is_empty() {
                outln!("webhook removed");
            } else {
                outln!("escalation events go to {} (secret {})", saved.url, saved.secret);
            }
            Ok(())
        }
    }
}
