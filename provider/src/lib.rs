//! terraform-provider-app: builds, deploys and releases applications inside `terraform plan`
//! and `terraform apply`.
//!
//! Layers, outermost first: [`plugin`] (go-plugin handshake, TLS, signals) → [`tfplugin6`]
//! (the wire protocol, the only code that knows its messages) → [`framework`] (schemas, plans,
//! diagnostics, the resource interface) → [`resources`] (the three resources) → [`runner`]
//! (jobs sent to app-runner, which does all platform work).

pub mod config;
pub mod docs;
pub mod framework;
pub mod plugin;
pub mod resources;
pub mod runner;
pub mod secure;
pub mod tfplugin6;

/// The provider's source address.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/apps/app";
