//! Documents exchanged in runner jobs (`request_json`, `prior_json`, `result_json`).

use crate::field::FieldError;
use crate::validate;
use crate::Block;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

/// Every operation on a deployment sends this as `request_json`. `Debug` shows no secret value.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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
    /// Status only, at plan time: compare `secret_env` with what the running app has and report
    /// the names that differ (`DeploymentRecord::secret_env_differs`), never the values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compare_secret_env: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The platform block, shaped by the platform's configuration type.
    #[serde(default)]
    pub config: Json,
    /// How to reach the Docker engine (Docker platform).
    #[serde(default)]
    pub engine: EngineSettings,
    /// How to reach AWS (Lambda platform).
    #[serde(default)]
    pub aws: AwsSettings,
    /// How many generations older than the current one stay for rollback (the resource's
    /// `keep`, default 1); platforms with one object per generation remove the others.
    #[serde(default = "default_keep")]
    pub keep: u64,
}

fn default_keep() -> u64 {
    1
}

impl Default for DeploymentRequest {
    fn default() -> Self {
        Self {
            name: String::new(),
            generation: 0,
            image: None,
            env: BTreeMap::new(),
            secret_env: BTreeMap::new(),
            compare_secret_env: false,
            labels: BTreeMap::new(),
            config: Json::Null,
            engine: EngineSettings::default(),
            aws: AwsSettings::default(),
            keep: default_keep(),
        }
    }
}

impl fmt::Debug for DeploymentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeploymentRequest")
            .field("name", &self.name)
            .field("generation", &self.generation)
            .field("image", &self.image)
            .field("env", &self.env)
            .field("secret_env", &self.secret_env.keys().map(|k| (k, "<redacted>")).collect::<BTreeMap<_, _>>())
            .field("compare_secret_env", &self.compare_secret_env)
            .field("labels", &self.labels)
            .field("config", &redacted(&self.config))
            .field("engine", &self.engine)
            .field("aws", &self.aws)
            .field("keep", &self.keep)
            .finish()
    }
}

/// Keys whose values are secrets wherever they appear in a block's JSON.
const SECRET_KEYS: [&str; 5] = ["password", "token", "secret_env", "private_key", "secret"];

/// `json` with the values of secret keys replaced, for `Debug` and logs.
pub fn redacted(json: &Json) -> Json {
    match json {
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    let shown =
                        if SECRET_KEYS.contains(&k.as_str()) && !v.is_null() { Json::String("<redacted>".into()) } else { redacted(v) };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
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
    /// Status jobs without a prior record (an import): the configuration as found, so the
    /// imported state matches the configuration that describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// Status jobs with `compare_secret_env`: the names of the secret variables whose live value
    /// differs from the configured one (empty: all equal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env_differs: Vec<String>,
}

/// The names of the configured secrets whose live value differs (or is missing), plus the names
/// in `removed` (secrets the last deploy set that are no longer configured). Values are compared,
/// never returned.
pub fn secret_env_differs(configured: &BTreeMap<String, String>, live: &BTreeMap<String, String>, removed: &[String]) -> Vec<String> {
    let mut names: Vec<String> = configured.iter().filter(|(k, v)| live.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
    names.extend(removed.iter().filter(|k| !configured.contains_key(*k) && live.contains_key(*k)).cloned());
    names.sort();
    names.dedup();
    names
}

/// Whether an object belongs to the resource whose record says `owner`: its owner label or tag
/// ([`labels::OWNER`], `found`) is that owner, or — objects from before owners were recorded — it
/// has none and the record already lists it (`recorded`).
pub fn owned_by(found: Option<&str>, owner: &str, recorded: bool) -> bool {
    match found {
        Some(found) => !owner.is_empty() && found == owner,
        None => recorded,
    }
}

/// A deployment's configuration as a platform found it (import).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Values of the platform block's fields, by field name (nested blocks as objects).
    #[serde(default)]
    pub config: serde_json::Map<String, Json>,
}

pub mod status {
    pub const READY: &str = "ready";
    pub const FAILED: &str = "failed";
    pub const DRIFTED: &str = "drifted";
}

/// How runners reach the Docker engine. Default: `DOCKER_HOST` (and `DOCKER_CERT_PATH`) where the
/// runner runs, then the local socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// `unix:///var/run/docker.sock` or `tcp://host:2376`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[block(validate = docker_host)]
    pub host: Option<String>,
    /// Directory with `ca.pem`, `cert.pem` and `key.pem` for a `tcp://` engine with TLS (as
    /// `DOCKER_CERT_PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[block(validate = validate::not_blank)]
    pub cert_path: Option<String>,
}

fn docker_host(value: &Json) -> Vec<FieldError> {
    match value.as_str() {
        Some(host) if !["unix://", "tcp://", "http://", "/"].iter().any(|p| host.starts_with(p)) => vec![FieldError::here(
            "Unsupported Docker host",
            format!("{host:?} is not a Docker engine address; use `unix:///path/to/docker.sock` or `tcp://host:port`."),
        )],
        _ => Vec::new(),
    }
}

/// How runners reach AWS. Default: the AWS SDK's chain where the runner runs (environment, shared
/// config and credentials files, SSO via `credential_process`, instance or task role). Credentials
/// never appear in logs, state or diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Region, e.g. `us-east-1`; default: `AWS_REGION` / the profile's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[block(validate = validate::not_blank)]
    pub region: Option<String>,
    /// Shared config profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[block(validate = validate::not_blank)]
    pub profile: Option<String>,
    /// One endpoint for every AWS service (emulators such as moto or LocalStack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[block(validate = endpoint_url)]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<AssumeRole>,
}

fn endpoint_url(value: &Json) -> Vec<FieldError> {
    match value.as_str() {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            vec![FieldError::here("Invalid endpoint URL", format!("{url:?} must start with http:// or https://."))]
        }
        _ => Vec::new(),
    }
}

/// Assume this role (STS AssumeRole) with the default credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct AssumeRole {
    /// Role to assume.
    #[block(validate = role_arn)]
    pub role_arn: String,
    /// Session name (default `terraform-provider-app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// External ID the role's trust policy requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

fn role_arn(value: &Json) -> Vec<FieldError> {
    match value.as_str() {
        Some(arn) if !arn.starts_with("arn:") || !arn.contains(":role/") => {
            vec![FieldError::here("Invalid role ARN", format!("{arn:?} is not an IAM role ARN (`arn:aws:iam::<account>:role/<name>`)."))]
        }
        _ => Vec::new(),
    }
}

/// Every operation on a build sends this as `request_json`; the source archive travels
/// separately (`JobRequest.source_id`). `Debug` shows no password.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildRequest {
    pub name: String,
    /// The context hash computed where Terraform runs; recorded as an image label. Empty for
    /// builders without a source (`docker_pull`).
    #[serde(default)]
    pub source_hash: String,
    /// The Dockerfile's path inside the source archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// The resource's labels, applied to the image.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The builder block, shaped by the builder's configuration type.
    #[serde(default)]
    pub config: Json,
    /// The `registry` block (`docker` builder only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<crate::docker_build::RegistryConfig>,
    #[serde(default)]
    pub engine: EngineSettings,
    /// Stored as the image label [`labels::BUILD_CONFIG`] so an import by digest can restore
    /// the configuration (opaque to the runner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_config: Option<String>,
    /// Status only: also report the image's labels (`BuildRecord::build_config`, `source_hash`).
    #[serde(default)]
    pub read_labels: bool,
}

impl fmt::Debug for BuildRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildRequest")
            .field("name", &self.name)
            .field("source_hash", &self.source_hash)
            .field("dockerfile", &self.dockerfile)
            .field("labels", &self.labels)
            .field("config", &redacted(&self.config))
            .field("registry", &self.registry)
            .field("engine", &self.engine)
            .field("build_config", &self.build_config)
            .field("read_labels", &self.read_labels)
            .finish()
    }
}

impl BuildRequest {
    /// Values to mask in every log line of the job.
    pub fn secrets(&self) -> Vec<String> {
        let pull_auth = serde_json::from_value::<crate::docker_build::DockerPullConfig>(self.config.clone()).ok().and_then(|c| c.auth);
        let registry_auth = self.registry.as_ref().and_then(|r| r.auth.clone());
        [pull_auth, registry_auth].into_iter().flatten().filter_map(|a| a.password).filter(|p| !p.is_empty()).collect()
    }
}

/// What a build job reports (`result_json`); sent back as `prior_json` next time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The reference deployments use: `repository@sha256:…` when pushed or pulled by digest,
    /// else the local image ID.
    pub image: String,
    /// The engine's image ID (`sha256:…`), when the image is in the local engine.
    #[serde(default)]
    pub image_id: String,
    /// The local tag the build created (removed on destroy); empty when nothing was tagged.
    #[serde(default)]
    pub tag: String,
    /// Earlier builds' local tags that could not be removed yet (an image still in use by a
    /// container); retried at every build and removed on destroy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_tags: Vec<String>,
    #[serde(default)]
    pub source_hash: String,
    /// Registry repository (`registry/path`), when pushed or pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Registry tag pushed or resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_tag: Option<String>,
    /// Manifest digest (`sha256:…`) exactly as the registry reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Whether this job built the image (false: adopted from the registry or resolved).
    #[serde(default)]
    pub built: bool,
    /// Status with `read_labels` (an import): the resource's configuration as found — the image's
    /// [`labels::BUILD_CONFIG`] label, or for an image this provider did not build, the builder
    /// block that resolves it — as a JSON object of resource attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Json>,
}

/// Every operation on a release sends this as `request_json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// The release's name (routers, aliases are named after it).
    pub name: String,
    /// The deployment's name.
    pub deployment: String,
    /// The generation to route traffic to.
    pub generation: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The releaser block, shaped by the releaser's configuration type.
    #[serde(default)]
    pub config: Json,
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub aws: AwsSettings,
}

/// What a release job reports (`result_json`); sent back as `prior_json` next time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub released_generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// "ready", "failed", "drifted".
    pub status: String,
    /// The releaser's own notes about what exists (opaque to the provider).
    #[serde(default)]
    pub record: Json,
    /// Status jobs without a prior record (an import): the release as found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObservedRelease>,
}

/// A release's configuration as a releaser found it (import).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedRelease {
    /// The deployment's name.
    pub deployment: String,
    /// Values of the releaser block's fields, by field name.
    #[serde(default)]
    pub config: serde_json::Map<String, Json>,
}

/// Image labels every build carries.
pub mod labels {
    pub const MANAGED_BY: &str = "dev.terraform-provider-app.managed-by";
    pub const MANAGED_BY_VALUE: &str = "terraform-provider-app";
    pub const SOURCE_HASH: &str = "dev.terraform-provider-app.source-hash";
    pub const NAME: &str = "dev.terraform-provider-app.name";
    /// Which resource instance created an object (containers, networks, functions, roles): a random
    /// ID kept in its record (Terraform's private state). Objects of the same name that another
    /// configuration created are never taken over.
    pub const OWNER: &str = "dev.terraform-provider-app.owner";
    /// The build's configuration as JSON, written by the provider (see `BuildRequest::build_config`).
    pub const BUILD_CONFIG: &str = "dev.terraform-provider-app.build-config";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_defaults_to_one() {
        let request: DeploymentRequest = serde_json::from_str(r#"{"name": "web", "generation": 2}"#).expect("parses");
        assert_eq!(request.keep, 1);
        assert_eq!(DeploymentRequest::default().keep, 1);
        let request: DeploymentRequest = serde_json::from_str(r#"{"name": "web", "generation": 2, "keep": 0}"#).expect("parses");
        assert_eq!(request.keep, 0);
    }
}
