//! Supervisor commands: list, watch, acknowledge, resolve.

use anyhow::Result;
use earshot_proto::v1 as pb;
use tokio_stream::StreamExt;

use crate::connect::{Endpoints, call_error};
use crate::print;

/// What a supervisor can do.
#[derive(Debug, clap::Subcommand)]
pub enum EscalationCommand {
    /// Open and acknowledged escalations, newest first (or those in one state).
    List {
        /// open, acknowledged or resolved.
        #[arg(long, default_value = "")]
        state: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Follow escalations live; prints a cursor to resume from with --cursor.
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

/// Prints open and acknowledged escalations.
pub async fn print_open(connect: &Endpoints, state: &str, limit: u32) -> Result<()> {
    let request = pb::ListEscalationsRequest { state: state.to_owned(), limit, ..Default::default() };
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
        EscalationCommand::List { state, limit } => print_open(connect, &state, limit).await,
        EscalationCommand::Watch { cursor } => {
            let mut events = client
                .watch_escalations(connect.request(pb::WatchEscalationsRequest { cursor })?)
                .await
                .map_err(error)?
                .into_inner();
            outln!("watching escalations (Ctrl-C to stop)");
            while let Some(event) = events.next().await {
                let event = event.map_err(error)?;
                if let Some(escalation) = &event.escalation {
                    out!("{:<12} ", event.kind.to_uppercase());
                    print::escalation(escalation);
                    outln!("             cursor {}", event.cursor);
                }
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
