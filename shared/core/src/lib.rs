//! The Earshot domain, shared by every service: what a post is and when it is valid, which tenant
//! a request belongs to, how risk and priority are scored, and how time is read.
//!
//! Wire types (`earshot_proto::v1`) stop at the handlers; [`post`] turns them into these types and
//! rejects what is malformed with an [`InvalidArgument`] that names the field.

pub mod clock;
pub mod error;
pub mod eval;
pub mod ids;
pub mod pii;
pub mod post;
pub mod scoring;
pub mod status;
pub mod tenant;

pub use clock::{Clock, ManualClock, ScaledClock, SharedClock, SystemClock};
pub use error::InvalidArgument;
pub use post::{Author, Channel, Engagement, Limits, Post, Visibility};
pub use scoring::{Assessment, Intent, Reason, Signals, Weights};
pub use tenant::Tenant;
