//! End-to-end tests of the four services together, in one test binary (one link on 2 cores).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod abuse;
mod auth;
mod bad_input;
mod case_events;
mod console;
mod crashes;
mod drills;
mod pipeline;
mod replicas;
mod rules;
mod supervisors;
mod time;
mod tls;

/// One service of the crash drills, in a process of its own.
#[test]
#[ignore = "a service process: started by the crash drills"]
fn service_process() -> anyhow::Result<()> {
    earshot_e2e::process::serve_from_env()
}
