//! What every Earshot process shares around its own logic: logs, traces and metrics (with the
//! admin port that serves them), shutdown on SIGTERM/SIGINT,
//! the gRPC server stack (health, reflection, tracing, limits) and client channels with deadlines
//! and retries.

pub mod admin;
pub mod args;
pub mod client;
pub mod grpc;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod retry;
pub mod rpc_metrics;
pub mod shutdown;
pub mod status;
pub mod task;
pub mod tls;

pub use logging::{Telemetry, TelemetryError, init, init_test_logging, init_tool_logging};
pub use shutdown::shutdown_signal;
pub use task::TaskGuard;
