//! Documents exchanged in runner jobs (`request_json`, `prior_json`, `result_json`).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Every operation on a deployment sends this as `request_json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRequest {
    pub name: String,
    /// The generation this operation creates (deploy) or inspects (status, destroy).
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secret environment values: never logged, never stored by the runner.
    #[serde(default)]
    pub secret_env: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The platform block, shaped by the platform's configuration type.
    #[serde(default)]
    pub config: Json,
}

/// What a deployment job reports (`result_json`); sent back as `prior_json` next time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub generation: u64,
    /// "ready", "failed", "drifted", …
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Values for the platform block's computed fields, by field name.
    #[serde(default)]
    pub computed: serde_json::Map<String, Json>,
    /// The platform's own notes about what exists (opaque to the provider).
    #[serde(default)]
    pub record: Json,
}

pub mod status {
    pub const READY: &str = "ready";
    pub const FAILED: &str = "failed";
    pub const DRIFTED: &str = "drifted";
}

/// Every operation on a build sends this as `request_json`; the source archive travels
/// separately (`JobRequest.source_id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildRequest {
    pub name: String,
    /// The context hash computed where Terraform runs; recorded as an image label.
    pub source_hash: String,
    /// The Dockerfile's path inside the source archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The builder block, shaped by the builder's configuration type.
    #[serde(default)]
    pub config: Json,
}

/// What a build job reports (`result_json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The reference deployments use.
    pub image: String,
    pub image_id: String,
    /// The local tag the build created (removed on destroy).
    pub tag: String,
    pub source_hash: String,
}

/// Image labels every build carries.
pub mod labels {
    pub const MANAGED_BY: &str = "dev.terraform-provider-app.managed-by";
    pub const MANAGED_BY_VALUE: &str = "terraform-provider-app";
    pub const SOURCE_HASH: &str = "dev.terraform-provider-app.source-hash";
    pub const NAME: &str = "dev.terraform-provider-app.name";
}
