//! Container engine and registry work: Docker builds, tags and pushes ([`docker`]), containers,
//! networks, files in containers and logs for the `docker` platform and releaser
//! ([`containers`]), a small OCI/Docker registry v2 client ([`registry`]) over HTTP(S) ([`https`])
//! and registry credentials from Amazon ECR ([`ecr`]).
//!
//! Neither module knows about jobs: they take a `log` callback for output lines, so a
//! platform wires them to its [`crate::context::JobContext`].

pub mod aws;
pub mod containers;
pub mod docker;
pub mod ecr;
pub mod https;
pub mod registry;

use std::fmt;

/// Credentials for a registry. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl RegistryAuth {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self { username: username.into(), password: password.into() }
    }
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuth").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}
