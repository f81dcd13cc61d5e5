//! The tfplugin6 wire layer: the only code that knows the protocol's messages. It decodes
//! requests, calls the framework and the resources, and encodes the answers.

pub mod convert;
mod server;

pub use server::ProviderService;
