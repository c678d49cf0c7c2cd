//! How a post is kept once stored: its row found by its key, the bytes of its row read back, and
//! every change of its state (classified, routed, an attempt counted, set aside), each batch in
//! one statement. Its states are the store's `PostState`; the writer inserts (group commit). Shared
//! by the writer, the API (which shows posts) and the pipeline (which moves them on), so none of
//! them imports another for it.

use earshot_core::{Post, Tenant};
use earshot_proto::v1 as pb;
use earshot_store::ingest::post;
use earshot_store::ingest::post::PostState;
use prost::Message;
use sea_orm::sea_query::Expr;
use std::collections::HashSet;

use earshot_store::{ROWS_PER_STATEMENT, insert_rows};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveEnum as _, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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

/// The tenant's stored post `id`, if there is one.
pub(crate) async fn find(db: &impl ConnectionTrait, tenant: &Tenant, id: &str) -> Result<Option<post::Model>> {
    let row = post::Entity::find_by_id(id.to_owned()).one(db).await?;
    Ok(row.filter(|row| row.tenant == tenant.as_str()))
}

/// Inserts `rows` (new posts, whose ids are `ids`), a post already stored with the same tenant,
/// channel and external id winning; returns the ids that were stored. A new id that is not
/// there lost to a post stored before (or earlier in the same statement).
pub(crate) async fn insert_first_wins(
    db: &impl ConnectionTrait,
    rows: Vec<post::ActiveModel>,
    ids: &[String],
) -> Result<HashSet<String>> {
    let first_wins = OnConflict::columns([post::Column::Tenant, post::Column::Channel, post::Column::ExternalId])
        .do_nothing()
        .to_owned();
    insert_rows(db, rows, Some(first_wins)).await?;
    let mut stored = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let found: Vec<String> = post::Entity::find()
            .select_only()
            .column(post::Column::Id)
            .filter(post::Column::Id.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        stored.extend(found);
    }
    Ok(stored)
}

/// Up to `limit` of the tenant's posts waiting for the pipeline, oldest first, leaving out the
/// ones in `in_flight` (handed over already).
pub(crate) async fn oldest_waiting(
    db: &impl ConnectionTrait,
    tenant: &str,
    in_flight: &[String],
    limit: u64,
) -> Result<Vec<post::Model>> {
    let mut query = post::Entity::find().filter(post::waiting()).filter(post::Column::Tenant.eq(tenant));
    if !in_flight.is_empty() {
        query = query.filter(post::Column::Id.is_not_in(in_flight.iter().cloned()));
    }
    Ok(query.order_by_asc(post::Column::Id).limit(limit).all(db).await?)
}

/// How many posts wait for the pipeline, every tenant's.
pub(crate) async fn count_waiting(db: &impl ConnectionTrait) -> Result<u64> {
    use sea_orm::PaginatorTrait as _;
    Ok(post::Entity::find().filter(post::waiting()).count(db).await?)
}

/// Records what classify read in each post (`(post id, encoded classification)`): classified,
/// waiting to be routed.
pub(crate) async fn mark_classified(db: &impl ConnectionTrait, classified: &[(String, Vec<u8>)]) -> Result<()> {
    post::Entity::update_many()
        .col_expr(post::Column::Classification, per_post(classified.iter().cloned()))
        .col_expr(post::Column::State, Expr::value(PostState::Classified))
        .filter(post::Column::Id.is_in(classified.iter().map(|(id, _)| id.clone())))
        .exec(db)
        .await?;
    Ok(())
}

/// Records each post's case (`(post id, case id)`): routed at `routed_at_ms`.
pub(crate) async fn mark_routed(
    db: &impl ConnectionTrait,
    cases: Vec<(String, String)>,
    routed_at_ms: i64,
) -> Result<()> {
    let ids: Vec<String> = cases.iter().map(|(id, _)| id.clone()).collect();
    post::Entity::update_many()
        .col_expr(post::Column::State, Expr::value(PostState::Routed))
        .col_expr(post::Column::RoutedAtMs, Expr::value(routed_at_ms))
        .col_expr(post::Column::CaseId, per_post(cases))
        .filter(post::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(())
}

/// Counts a failed attempt at post `id`, with what went wrong; the post keeps its state.
pub(crate) async fn count_attempt(db: &impl ConnectionTrait, id: &str, error: &str) -> Result<()> {
    attempt_failed(db, id, error, None).await
}

/// Sets post `id` aside as failed with `reason` (its last attempt counted): never retried.
pub(crate) async fn set_aside(db: &impl ConnectionTrait, id: &str, reason: &str) -> Result<()> {
    attempt_failed(db, id, reason, Some(PostState::Failed)).await
}

/// One failed attempt at post `id`: counted, `error` kept, and the state set when given.
async fn attempt_failed(db: &impl ConnectionTrait, id: &str, error: &str, state: Option<PostState>) -> Result<()> {
    // Scoped: ExprTrait is implemented for every type and shadows `Ord::max` elsewhere.
    use sea_orm::ExprTrait as _;
    let mut update = post::Entity::update_many()
        .col_expr(post::Column::LastError, Expr::value(error.to_owned()))
        .col_expr(post::Column::Attempts, Expr::col(post::Column::Attempts).add(1));
    if let Some(state) = state {
        update = update.col_expr(post::Column::State, Expr::value(state));
    }
    update.filter(post::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// A value per post in one `UPDATE` (`CASE WHEN id = … THEN … END`): a batch's rows change in one
/// statement, not one each.
fn per_post<V: Into<sea_orm::Value>>(values: impl IntoIterator<Item = (String, V)>) -> Expr {
    values
        .into_iter()
        .fold(sea_orm::sea_query::CaseStatement::new(), |case, (id, value)| {
            case.case(post::Column::Id.eq(id), Expr::value(value))
        })
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_index_holds_exactly_the_states_the_pipeline_reads() {
        assert_eq!(post::WAITING_STATES.map(|state| state.to_value()), ["received", "classified"]);
    }
}
