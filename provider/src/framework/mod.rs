//! The framework layer: schemas, plan logic, diagnostics and the resource interface.
//! It knows Terraform's concepts but not the wire format (see `crate::tfplugin6`).

pub mod diag;
pub mod path;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod timeouts;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use path::AttrPath;
pub use resource::{ApplyResult, Ctx, ReadResult, Resource};
pub use schema::{Attribute, Block, NestedBlock, Nesting, PlanModifier, Schema};
