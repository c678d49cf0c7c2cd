//! What every Earshot process shares around its own logic: logs and traces, shutdown on SIGTERM/SIGINT,
//! the gRPC server stack (health, reflection, tracing, limits) and client channels with deadlines
//! and retries.

pub mod args;
pub mod client;
pub mod grpc;
pub mod logging;
pub mod shutdown;
pub mod status;
pub mod task;
pub mod tls;

pub use logging::{Telemetry, TelemetryError, init, init_test_logging, init_tool_logging};
pub use shutdown::shutdown_signal;
pub use task::TaskGuard;
