//! The contract between the provider and the runner.
//!
//! Each platform's configuration is described once, here: [`BlockSpec`] says which fields it
//! has (the provider derives the Terraform schema and docs from it), the serde types say what
//! the runner receives, and the platform's `validate` checks values before any job runs.
//! Nothing here knows Terraform; the provider does the translation.

pub mod aws_lambda;
pub mod catalog;
pub mod docker_build;
pub mod docker_deploy;
pub mod exec;
pub mod field;
pub mod job;

pub use catalog::{Availability, PlatformSpec, Role};
pub use field::{BlockSpec, FieldError, FieldSpec, FieldType, Presence};
