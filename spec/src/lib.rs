//! The contract between the provider and the runner.
//!
//! Each builder, platform and releaser is declared once, here, as a Rust struct with
//! `#[derive(Block)]` (see [`field`]): the provider derives the Terraform schema, the docs and
//! validation from it, and the runner deserializes the same struct. [`catalog`] lists them and
//! what each needs (a source upload, an image). The job documents (`job`) carry them to the
//! runner. Nothing here knows Terraform; the provider does the translation.

// The derive names paths as `::app_spec::…`, also inside this crate.
extern crate self as app_spec;

#[cfg(any(test, feature = "proptest"))]
pub mod arbitrary;
pub mod aws_lambda;
pub mod catalog;
pub mod docker_build;
pub mod docker_deploy;
pub mod exec;
pub mod field;
pub mod job;
pub mod units;
pub mod validate;

#[cfg(test)]
mod block_tests;

pub use app_spec_derive::Block;
pub use catalog::{Availability, PlatformSpec, Role};
pub use field::{Block, BlockSpec, Field, FieldError, FieldSpec, FieldType, NestedSpec, Nesting, Presence, Shape};
pub use serde_json::Value as Json;
