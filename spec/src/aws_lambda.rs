//! The `aws_lambda` platform (container-image functions; each change is a published version,
//! the version is the generation) and the `aws_lambda` releaser (an alias on the deployment's
//! version, optionally splitting traffic with the previously released version, plus a function URL).

use crate::field::FieldError;
use crate::validate;
use crate::Block;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Runs the function in a VPC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// Subnet IDs.
    pub subnet_ids: Vec<String>,
    /// Security group IDs.
    pub security_group_ids: Vec<String>,
}

/// Runs the image as an AWS Lambda function (package type Image). `image` must be an ECR image
/// (`<account>.dkr.ecr.<region>.amazonaws.com/…`), pinned by digest (a tag is resolved to its digest
/// first). Each change updates the function, waits until the update succeeded and the function is
/// active, then publishes a version: the version is the generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct LambdaConfig {
    /// Function name; default: the deployment's `name`.
    #[serde(default)]
    #[block(forces_new, validate = function_name)]
    pub function_name: Option<String>,
    /// Execution role ARN; default: a basic execution role is created for the function and deleted
    /// with it.
    #[serde(default)]
    #[block(validate = role_arn)]
    pub role: Option<String>,
    /// Memory in MB, 128 to 10240.
    #[serde(default)]
    #[block(default = DEFAULT_MEMORY, validate = validate::range("memory", 128, 10240, "MB"))]
    pub memory: Option<i64>,
    /// Timeout in seconds, 1 to 900.
    #[serde(default)]
    #[block(default = DEFAULT_TIMEOUT, validate = validate::range("timeout", 1, 900, "seconds"))]
    pub timeout: Option<i64>,
    /// `/tmp` size in MB, 512 to 10240.
    #[serde(default)]
    #[block(default = DEFAULT_EPHEMERAL_STORAGE, validate = validate::range("ephemeral_storage", 512, 10240, "MB"))]
    pub ephemeral_storage: Option<i64>,
    /// `x86_64` or `arm64`.
    #[serde(default)]
    #[block(default = DEFAULT_ARCHITECTURE, validate = validate::one_of(&["x86_64", "arm64"]))]
    pub architecture: Option<String>,
    #[serde(default)]
    pub vpc: Option<Vpc>,
    /// Tags of the function (the resource's `labels` are added).
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// The function's ARN.
    #[serde(default, skip_serializing)]
    #[block(computed)]
    pub function_arn: Option<String>,
    /// The version this generation published.
    #[serde(default, skip_serializing)]
    #[block(computed)]
    pub version: Option<String>,
    /// The execution role in use.
    #[serde(default, skip_serializing)]
    #[block(computed)]
    pub role_arn: Option<String>,
}

/// What the Lambda platform remembers (`DeploymentRecord.record`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LambdaRecord {
    pub function_name: String,
    pub function_arn: String,
    /// The version this generation published.
    pub version: String,
    /// `ImageUri` as the function reports it (with the digest).
    pub image: String,
    /// The role the platform created, if it created one (deleted on destroy).
    #[serde(default)]
    pub created_role_arn: Option<String>,
    #[serde(default)]
    pub created_role_name: Option<String>,
    /// Published versions kept (oldest first), the current one last.
    #[serde(default)]
    pub versions: Vec<String>,
    /// The function's `CodeSha256` and `RevisionId` after the last deploy, for drift detection.
    #[serde(default)]
    pub code_sha256: String,
    #[serde(default)]
    pub revision_id: String,
    /// The names of the secret environment variables (status requests carry no secret values, so
    /// drift detection checks that these are set, not what they are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env_keys: Vec<String>,
    /// The owner ID tagged on the function and a created role (`labels::OWNER`); empty in records
    /// of earlier versions (the next deploy sets it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

/// CORS settings of the function URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Allowed origins.
    #[serde(default)]
    pub allow_origins: Option<Vec<String>>,
    /// Allowed methods.
    #[serde(default)]
    pub allow_methods: Option<Vec<String>>,
    /// Allowed headers.
    #[serde(default)]
    pub allow_headers: Option<Vec<String>>,
    /// Exposed headers.
    #[serde(default)]
    pub expose_headers: Option<Vec<String>>,
    /// Allow credentials.
    #[serde(default)]
    pub allow_credentials: Option<bool>,
    /// Max age in seconds (0 to 86400).
    #[serde(default)]
    #[block(validate = validate::range("max_age", 0, 86400, "seconds"))]
    pub max_age: Option<i64>,
}

/// A function URL on the alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct FunctionUrl {
    /// `NONE` (public) or `AWS_IAM`.
    #[serde(default)]
    #[block(default = "NONE", validate = validate::one_of(&["NONE", "AWS_IAM"]))]
    pub auth_type: Option<String>,
    #[serde(default)]
    pub cors: Option<Cors>,
}

/// Gradual traffic shifting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Percent of traffic to the new version, 1 to 100.
    #[block(validate = validate::range("weight", 1, 100, "percent"))]
    pub weight: i64,
}

/// An alias (default `live`) on the deployment's version. `traffic { weight = N }` sends N% to the new
/// version and the rest to the previously released one; `weight = 100` (or no `traffic` block)
/// completes the release. `function_url` puts a function URL on the alias, with the invoke permission
/// it needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct LambdaReleaseConfig {
    /// Alias name.
    #[serde(default)]
    #[block(default = DEFAULT_ALIAS, forces_new, validate = alias_name)]
    pub alias: Option<String>,
    #[serde(default)]
    pub traffic: Option<Traffic>,
    #[serde(default)]
    pub function_url: Option<FunctionUrl>,
    /// The alias's version (the new version once the shift completes).
    #[serde(default, skip_serializing)]
    #[block(computed)]
    pub released_version: Option<String>,
    /// The alias's ARN.
    #[serde(default, skip_serializing)]
    #[block(computed)]
    pub alias_arn: Option<String>,
}

/// What the Lambda releaser remembers (`ReleaseRecord.record`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LambdaReleaseRecord {
    pub function_name: String,
    pub alias: String,
    pub alias_arn: String,
    /// The alias's primary version.
    pub version: String,
    /// The version receiving `weight` percent (traffic shifting), if any.
    #[serde(default)]
    pub shifting_to: Option<String>,
    #[serde(default)]
    pub weight: Option<i64>,
    #[serde(default)]
    pub function_url: Option<String>,
    /// The statement ID of the invoke permission the URL needed, if this release added it.
    #[serde(default)]
    pub permission_statement_id: Option<String>,
}

pub const DEFAULT_MEMORY: i64 = 256;
pub const DEFAULT_TIMEOUT: i64 = 60;
pub const DEFAULT_EPHEMERAL_STORAGE: i64 = 512;
pub const DEFAULT_ARCHITECTURE: &str = "x86_64";
pub const DEFAULT_ALIAS: &str = "live";

/// An ECR repository host: `<12 digits>.dkr.ecr.<region>.amazonaws.com[.cn]`.
pub fn is_ecr_host(host: &str) -> bool {
    let mut parts = host.split('.');
    let account = parts.next().unwrap_or_default();
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && parts.next() == Some("dkr")
        && parts.next().is_some_and(|p| p == "ecr" || p == "ecr-fips")
        && parts.next().is_some_and(|r| !r.is_empty())
        && parts.next() == Some("amazonaws")
        && parts.next() == Some("com")
}

/// Checks the deployment's `image` for Lambda: an ECR repository, by digest or tag.
pub fn image_problem(image: &str) -> Option<String> {
    let host = image.split('/').next().unwrap_or_default();
    if !image.contains('/') || !is_ecr_host(host) {
        return Some(format!(
            "{image:?} is not an Amazon ECR image. Lambda runs container images from ECR only: use `<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:…` (e.g. `app_build.x.image` with an ECR `registry`, or `docker_pull` of an ECR image)."
        ));
    }
    None
}

fn role_arn(value: &Json) -> Vec<FieldError> {
    match value.as_str() {
        Some(role) if !role.starts_with("arn:") || !role.contains(":iam::") || !role.contains(":role/") => {
            vec![FieldError::here("Invalid role", format!("{role:?} is not an IAM role ARN (`arn:aws:iam::<account>:role/<name>`)."))]
        }
        _ => Vec::new(),
    }
}

fn function_name(value: &Json) -> Vec<FieldError> {
    let Some(name) = value.as_str() else { return Vec::new() };
    let ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Vec::new();
    }
    vec![FieldError::here("Invalid function name", format!("{name:?}: 1 to 64 letters, digits, '-' and '_'."))]
}

fn alias_name(value: &Json) -> Vec<FieldError> {
    let Some(alias) = value.as_str() else { return Vec::new() };
    let ok = !alias.is_empty()
        && alias.len() <= 128
        && !alias.bytes().all(|b| b.is_ascii_digit())
        && alias.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Vec::new();
    }
    vec![FieldError::here("Invalid alias", format!("{alias:?}: letters, digits, '-' and '_', not only digits (that is a version)."))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges_and_images() {
        let e = LambdaConfig::validate(&json!({"memory": 50, "timeout": 1000, "architecture": "arm64"}));
        let paths: Vec<String> = e.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["memory", "timeout"]);
        assert!(image_problem("127.0.0.1:5000/web@sha256:00").is_some());
        assert!(image_problem("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:00").is_none());
        assert!(image_problem("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1").is_none());
        assert_eq!(LambdaReleaseConfig::validate(&json!({"alias": "42", "traffic": {"weight": 0}})).len(), 2);
    }
}
