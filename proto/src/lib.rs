//! Protocol definitions for terraform-provider-app, with their generated gRPC code.
//!
//! The `.proto` files in `proto/` are the project's own definitions; the Rust code in
//! `src/generated/` is generated from them and checked in, so normal builds need no
//! code generator and no `protoc`. `tests/drift.rs` fails when the two disagree; run
//! `UPDATE_GENERATED=1 cargo test -p app-proto --test drift` after editing a `.proto`.
//!
//! Every service has a client (`*_client`) and a server (`*_server`) module. Server
//! traits are `#[tonic::async_trait]` traits whose methods all have a default body
//! answering `UNIMPLEMENTED`, so a server overrides only what it serves. Server
//! streaming methods return [`tonic::codegen::BoxStream`].

/// Terraform plugin protocol 6 (`package tfplugin6`), minor [`TFPLUGIN6_MINOR`].
///
/// The service: [`tfplugin6::provider_server::Provider`] served through
/// [`tfplugin6::provider_server::ProviderServer`].
#[allow(clippy::all, clippy::pedantic, clippy::nursery, clippy::unwrap_used, missing_docs, rustdoc::all)]
pub mod tfplugin6 {
    include!("generated/tfplugin6.rs");
}

/// go-plugin's controller and stdio services (`package plugin`).
#[allow(clippy::all, clippy::pedantic, clippy::nursery, clippy::unwrap_used, missing_docs, rustdoc::all)]
pub mod plugin {
    include!("generated/plugin.rs");
}

/// The standard gRPC health service (`package grpc.health.v1`).
#[allow(clippy::all, clippy::pedantic, clippy::nursery, clippy::unwrap_used, missing_docs, rustdoc::all)]
pub mod grpc_health_v1 {
    include!("generated/grpc.health.v1.rs");
}

/// The provider-to-runner protocol (`package apprunner.v1`).
#[allow(clippy::all, clippy::pedantic, clippy::nursery, clippy::unwrap_used, missing_docs, rustdoc::all)]
pub mod runner {
    include!("generated/apprunner.v1.rs");
}

/// Version of the runner protocol ([`runner`]) that this build speaks, reported by the runner in
/// `InfoResponse.protocol_version`. Raise it with every change that an older peer would
/// misunderstand; the provider refuses a runner whose version differs from its own.
pub const RUNNER_PROTOCOL_VERSION: u32 = 1;

/// Major version of the Terraform plugin protocol defined in [`tfplugin6`].
pub const TFPLUGIN6_MAJOR: u32 = 6;

/// Minor version of the Terraform plugin protocol defined in [`tfplugin6`] (6.10:
/// Terraform 1.13 to 1.15, OpenTofu 1.12).
pub const TFPLUGIN6_MINOR: u32 = 10;

/// The gRPC service name go-plugin's host checks with the health service.
pub const PLUGIN_HEALTH_SERVICE: &str = "plugin";
