//! End-to-end tests of the four services together, in one test binary (one link on 2 cores).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod abuse;
mod auth;
mod bad_input;
mod drills;
mod pipeline;
mod rules;
mod supervisors;
mod time;
mod tls;
