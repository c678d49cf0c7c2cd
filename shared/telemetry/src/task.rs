//! Background tasks that live exactly as long as the service that started them.

use tokio::task::JoinHandle;

/// Aborts its task when dropped, so a service's workers stop with the service (also when the
/// service's own future is dropped, as tests do to simulate a crash).
#[derive(Debug)]
pub struct TaskGuard(JoinHandle<()>);

impl TaskGuard {
    /// Spawns `task` on the current runtime.
    pub fn spawn(task: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
