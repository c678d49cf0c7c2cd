//! How a post is kept: its row found by its key, and the bytes of its row read back (its states
//! are the store's `PostState`). Shared by the writer (which stores posts), the API (which shows them) and the
//! pipeline (which moves them on), so none of them imports another for it.

use earshot_core::{Post, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::ingest::post;
use prost::Message;
use sea_orm::{ActiveEnum as _, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::error::{Error, Result};

/// The stored post with `post`'s tenant, channel and external id.
pub(crate) async fn find_by_key(db: &impl ConnectionTrait, tenant: &Tenant, post: &Post) -> Result<post::Model> {
    post::Entity::find()
        .filter(post::Column::Tenant.eq(tenant.as_str()))
        .filter(post::Column::Channel.eq(post.channel.as_str()))
        .filter(post::Column::ExternalId.eq(post.external_id.clone()))
        .one(db)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("post {} vanished after a conflict", post.external_id)))
}

/// The wire post stored in a row.
pub fn decode_post(row: &post::Model) -> Result<pb::Post> {
    pb::Post::decode(row.body.as_slice()).map_err(|e| Error::Corrupt(format!("post {}: {e}", row.id)))
}

/// The classification stored in a row, if any.
pub fn decode_classification(row: &post::Model) -> Result<Option<pb::Classification>> {
    row.classification
        .as_deref()
        .map(|bytes| pb::Classification::decode(bytes).map_err(|e| Error::Corrupt(format!("post {}: {e}", row.id))))
        .transpose()
}

/// What `GetPost` answers for a row.
pub(crate) fn record(row: post::Model) -> Result<pb::PostRecord> {
    Ok(pb::PostRecord {
        post: Some(decode_post(&row)?),
        classification: decode_classification(&row)?,
        state: row.state.to_value(),
        case_id: row.case_id.clone().unwrap_or_default(),
        attempts: u32::try_from(row.attempts).unwrap_or_default(),
        last_error: row.last_error.clone().unwrap_or_default(),
        post_id: row.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_index_holds_exactly_the_states_the_pipeline_reads() {
        assert_eq!(post::WAITING_STATES.map(|state| state.to_value()), ["received", "classified"]);
    }
}
