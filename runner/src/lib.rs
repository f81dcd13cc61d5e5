//! app-runner: does the platform work of terraform-provider-app as jobs.
//!
//! The provider speaks the runner protocol (`apprunner.v1`, see `proto/proto/runner.proto`) to
//! this process. Behaviour lives here; `main.rs` only parses the command line.
//!
//! - [`ondemand`]: the default mode, over a private unix socket for one command.
//! - [`service`]: the `Runner` gRPC service, the job table, cancellation and timeouts.
//! - [`platform`]: the traits platforms implement and the (role, name) table.
//! - [`platforms`]: the implementations (`exec` now).
//! - [`process`]: running one command in its own process group.

pub mod auth;
pub mod context;
pub mod engine;
pub mod ondemand;
pub mod platform;
pub mod platforms;
pub mod process;
mod redact;
pub mod service;
pub mod sources;
mod sys;
#[cfg(test)]
mod testing;

pub use app_proto::runner as proto;

/// This runner's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
