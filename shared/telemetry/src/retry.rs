//! Trying again, the two ways the services do it, both on `backon`'s exponential backoff with
//! jitter (so replicas that failed together do not retry together):
//! - [`call`]: a call to another service, a few times, for failures worth repeating;
//! - [`Backoff`]: the pause of a loop that must keep going (the pipeline, an outbox), growing
//!   while it fails and back to the start once it succeeds.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder, Retryable as _};

/// Whether a failed call may succeed if repeated.
pub fn is_retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::ResourceExhausted
            | tonic::Code::Aborted
    )
}

/// Runs `call` up to `attempts` times, backing off exponentially from 50 ms (at most 2 s) between
/// retryable failures ([`is_retryable`]); returns the last status otherwise.
pub async fn call<T, F, Fut>(attempts: u32, call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    let backoff = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(attempts.saturating_sub(1) as usize)
        .with_jitter();
    call.retry(backoff)
        .when(is_retryable)
        .notify(|status, pause| tracing::debug!(code = ?status.code(), pause_ms = pause.as_millis() as u64, "retrying call"))
        .await
}

/// The pause after each failure of a loop that keeps going: from 100 ms, doubling up to a
/// ceiling, and from 100 ms again after a success.
pub struct Backoff {
    builder: ExponentialBuilder,
    pauses: ExponentialBackoff,
}

impl Backoff {
    /// Pauses growing to at most `ceiling`.
    pub fn up_to(ceiling: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(ceiling)
            .without_max_times()
            .with_jitter();
        Self { pauses: builder.build(), builder }
    }

    /// The last attempt worked: the next failure pauses briefly again.
    pub fn succeeded(&mut self) {
        self.pauses = self.builder.build();
    }

    /// Logs that `what` failed with `error` and waits the next pause.
    pub async fn failed(&mut self, what: &str, error: impl Display) {
        let pause = self.next_pause();
        tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "{what}; will retry");
        tokio::time::sleep(pause).await;
    }

    fn next_pause(&mut self) -> Duration {
        self.pauses.next().unwrap_or(Duration::from_millis(100))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_call_is_repeated_only_while_its_failure_may_pass() {
        let tries = AtomicU32::new(0);
        let unavailable = call(3, || async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err::<(), _>(tonic::Status::unavailable("down"))
        })
        .await;
        assert_eq!(
            (unavailable.map_err(|s| s.code()), tries.swap(0, Ordering::Relaxed)),
            (Err(tonic::Code::Unavailable), 3)
        );
        let invalid = call(3, || async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err::<(), _>(tonic::Status::invalid_argument("bad"))
        })
        .await;
        assert_eq!(
            (invalid.map_err(|s| s.code()), tries.swap(0, Ordering::Relaxed)),
            (Err(tonic::Code::InvalidArgument), 1)
        );
        let second = call(3, || async {
            match tries.fetch_add(1, Ordering::Relaxed) {
                0 => Err(tonic::Status::aborted("lost a race")),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(second.map_err(|s| s.code()), Ok(1));
    }

    #[test]
    fn a_loop_pauses_longer_while_it_fails_and_briefly_after_a_success() {
        let mut backoff = Backoff::up_to(Duration::from_secs(1));
        let pauses: Vec<Duration> = (0..8).map(|_| backoff.next_pause()).collect();
        // Jitter adds up to the pause itself.
        assert!(pauses[0] >= Duration::from_millis(100) && pauses[0] <= Duration::from_millis(200), "{pauses:?}");
        assert!(pauses[7] >= Duration::from_secs(1) && pauses[7] <= Duration::from_secs(2), "{pauses:?}");
        backoff.succeeded();
        let again = backoff.next_pause();
        assert!(again <= Duration::from_millis(200), "{again:?}");
    }
}
