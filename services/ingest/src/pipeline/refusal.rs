//! What a peer's refusal means for the posts it refused: the batch is split until the post at
//! fault is alone, and that post is set aside or counted against, but only while the same peer
//! serves others (a peer in trouble is waited for, not blamed on the posts).

use std::collections::HashMap;

use earshot_store::ingest::post;

use super::{MAX_ATTEMPTS, PassError};
use crate::posts::Posts;
use crate::stored;

/// Acts on a refusal of `row` alone (or of the peer itself): wait, set it aside, or suspect it.
pub(super) async fn refused(
    posts: &Posts,
    refusal: Refusal,
    peer: Peer,
    row: &post::Model,
    status: tonic::Status,
    pass: &mut PassLog,
) -> std::result::Result<(), PassError> {
    match refusal {
        Refusal::Transient | Refusal::Split => Err(PassError::Peer(status)),
        Refusal::Invalid => fail(posts, row, status.message()).await,
        Refusal::Suspect => {
            pass.suspects.push((row.clone(), status, peer));
            Ok(())
        }
    }
}

/// Counts a failed attempt against each post a peer refused alone while that same peer served
/// other posts, and sets aside the ones that reached [`MAX_ATTEMPTS`]. When a peer served
/// nobody in the pass (its database down, say), the fault is not the posts': nothing is counted
/// against them and the pass fails, to be retried after a pause.
pub(super) async fn settle(posts: &Posts, pass: PassLog) -> std::result::Result<(), PassError> {
    let (blamed, unhealthy): (Vec<_>, Vec<_>) =
        pass.suspects.into_iter().partition(|(_, _, peer)| pass.delivered[*peer as usize] > 0);
    for (row, status, _) in blamed {
        if row.attempts + 1 >= MAX_ATTEMPTS {
            let reason = format!("{} attempts failed; the last: {}", row.attempts + 1, status.message());
            fail(posts, &row, &reason).await?;
            continue;
        }
        tracing::warn!(post_id = %row.id, attempts = row.attempts + 1, code = ?status.code(), "post refused alone; will retry");
        stored::count_attempt(&posts.db, &row.id, status.message()).await?;
    }
    match unhealthy.into_iter().next() {
        Some((_, status, _)) => Err(PassError::Peer(status)),
        None => Ok(()),
    }
}

/// Sets a post aside with the reason, for operators: a peer refused it as invalid, or it kept
/// failing alone. It is never retried, so it blocks nothing.
async fn fail(posts: &Posts, row: &post::Model, reason: &str) -> std::result::Result<(), PassError> {
    let masked = earshot_core::pii::mask(reason);
    tracing::error!(post_id = %row.id, reason = %masked, "post set aside as failed");
    stored::set_aside(&posts.db, &row.id, reason).await?;
    posts.metrics.failed();
    Ok(())
}

/// What a peer's refusal of a batch calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The peer is down, overloaded, out of time or refusing the credential: retry the pass later.
    Transient,
    /// Something in the batch: try each half, until the post at fault is alone.
    Split,
    /// The post alone is invalid or too large for the peer: set it aside now.
    Invalid,
    /// The post alone failed otherwise: count an attempt ([`settle`]).
    Suspect,
}

impl Refusal {
    pub(super) fn of(status: &tonic::Status, posts: usize) -> Self {
        use tonic::Code;
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Unauthenticated
            | Code::PermissionDenied => Self::Transient,
            _ if posts > 1 => Self::Split,
            Code::InvalidArgument | Code::OutOfRange => Self::Invalid,
            _ => Self::Suspect,
        }
    }
}

/// The peer a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    Classify = 0,
    Routing = 1,
}

/// What the peers did in one pass: posts each served, and posts they refused alone.
#[derive(Default)]
pub(super) struct PassLog {
    /// Posts each peer served, by [`Peer`].
    pub delivered: [usize; 2],
    /// Posts a peer refused alone, with its answer.
    pub suspects: Vec<(post::Model, tonic::Status, Peer)>,
    /// Each post classify answered for, with its classification (encoded).
    pub classified: HashMap<String, Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_post_alone_is_blamed_and_a_peer_in_trouble_is_waited_for() {
        let status = |code| tonic::Status::new(code, "x");
        assert_eq!(Refusal::of(&status(tonic::Code::OutOfRange), 256), Refusal::Split);
        assert_eq!(Refusal::of(&status(tonic::Code::Internal), 2), Refusal::Split);
        assert_eq!(Refusal::of(&status(tonic::Code::OutOfRange), 1), Refusal::Invalid);
        assert_eq!(Refusal::of(&status(tonic::Code::InvalidArgument), 1), Refusal::Invalid);
        assert_eq!(Refusal::of(&status(tonic::Code::Internal), 1), Refusal::Suspect);
        for code in [tonic::Code::Unavailable, tonic::Code::DeadlineExceeded, tonic::Code::ResourceExhausted] {
            assert_eq!(Refusal::of(&status(code), 256), Refusal::Transient);
            assert_eq!(Refusal::of(&status(code), 1), Refusal::Transient);
        }
    }
}
