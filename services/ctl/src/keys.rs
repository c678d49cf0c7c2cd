//! Key commands (admins): make, list and revoke the API keys of a tenant. `make run` uses
//! [`demo_keys`] to hand out one key per role.

use anyhow::Result;
use earshot_proto::v1 as pb;

use crate::connect::{Endpoints, call_error};

/// What an admin can do with keys.
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Make a key; its secret is printed once and never again.
    Create {
        /// Roles, comma-separated: integration, agent, supervisor, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        role: Vec<String>,
        /// The agent the key acts as (required with the agent role).
        #[arg(long, default_value = "")]
        agent: String,
        /// What the key is for.
        #[arg(long, default_value = "")]
        name: String,
        /// Calls and posts per second (0: the services' default).
        #[arg(long, default_value_t = 0)]
        rate: u32,
    },
    /// List the tenant's keys (never their secrets).
    List,
    /// Revoke a key: calls with it fail from now on.
    Revoke {
        /// Key id (the 12 hex digits after `esk_`).
        key_id: String,
    },
}

fn print_key(key: &pb::ApiKey) {
    let agent = if key.agent_id.is_empty() { String::new() } else { format!(" as {}", key.agent_id) };
    let state = if key.revoked_at.is_some() { "  REVOKED" } else { "" };
    let name = if key.name.is_empty() { String::new() } else { format!("  \"{}\"", key.name) };
    outln!("{}  {}  {}{agent}{name}{state}", key.key_id, key.tenant, key.roles.join(","));
}

async fn create(connect: &Endpoints, request: pb::CreateKeyRequest) -> Result<pb::CreatedKey> {
    let created = connect.keys()?.create_key(connect.request(request)?).await;
    Ok(created.map_err(|status| call_error("routing", status))?.into_inner())
}

/// Runs a key command.
pub async fn run(connect: &Endpoints, command: KeyCommand) -> Result<()> {
    let error = |status| call_error("routing", status);
    match command {
        KeyCommand::Create { role, agent, name, rate } => {
            let request = pb::CreateKeyRequest { name, roles: role, agent_id: agent, rate_per_second: rate };
            let created = create(connect, request).await?;
            if let Some(key) = &created.key {
                print_key(key);
            }
            outln!("{}", created.secret);
            eprintln!("(the secret is shown this once; pass it as --key or EARSHOT_API_KEY)");
        }
        KeyCommand::List => {
            let listed = connect.keys()?.list_keys(connect.request(pb::ListKeysRequest {})?).await.map_err(error)?;
            for key in &listed.into_inner().keys {
                print_key(key);
            }
        }
        KeyCommand::Revoke { key_id } => {
            let request = pb::RevokeKeyRequest { key_id };
            print_key(&connect.keys()?.revoke_key(connect.request(request)?).await.map_err(error)?.into_inner());
        }
    }
    Ok(())
}

/// Revokes the previous demo keys and makes one per role (the agent key acts as `agent_id`);
/// prints them.
pub async fn demo_keys(connect: &Endpoints, agent_id: &str) -> Result<()> {
    let mut client = connect.keys()?;
    let listed = client.list_keys(connect.request(pb::ListKeysRequest {})?).await;
    for old in listed.map_err(|status| call_error("routing", status))?.into_inner().keys {
        if old.name.starts_with("demo ") && old.revoked_at.is_none() {
            let request = pb::RevokeKeyRequest { key_id: old.key_id };
            client.revoke_key(connect.request(request)?).await.map_err(|status| call_error("routing", status))?;
        }
    }
    outln!("\ndemo keys for tenant {} (pass one as --key or EARSHOT_API_KEY):", connect.tenant);
    for role in ["integration", "agent", "supervisor", "admin"] {
        let agent = if role == "agent" { agent_id.to_owned() } else { String::new() };
        let request = pb::CreateKeyRequest {
            name: format!("demo {role}"),
            roles: vec![role.to_owned()],
            agent_id: agent.clone(),
            rate_per_second: 0,
        };
        let created = create(connect, request).await?;
        let label = if agent.is_empty() { role.to_owned() } else { format!("{role} ({agent})") };
        outln!("  {label:<18} {}", created.secret);
    }
    Ok(())
}
