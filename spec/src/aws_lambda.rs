//! The `aws_lambda` platform (container-image functions; each change is a published version,
//! the version is the generation) and the `aws_lambda` releaser (an alias on the deployment's
//! version, optionally splitting traffic with the previously released version, plus a function URL).

use crate::field::{BlockSpec, FieldError, FieldSpec, FieldType, Presence};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vpc {
    #[serde(default)]
    pub subnet_ids: Option<Vec<String>>,
    #[serde(default)]
    pub security_group_ids: Option<Vec<String>>,
}

/// The `aws_lambda` platform block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LambdaConfig {
    /// Default: the deployment's name.
    #[serde(default)]
    pub function_name: Option<String>,
    /// Execution role ARN; unset → a basic execution role is created (and deleted on destroy).
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub memory: Option<i64>,
    #[serde(default)]
    pub timeout: Option<i64>,
    #[serde(default)]
    pub ephemeral_storage: Option<i64>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub vpc: Option<Vpc>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// Computed; ignored on input.
    #[serde(default, skip_serializing)]
    pub function_arn: Option<String>,
    #[serde(default, skip_serializing)]
    pub version: Option<String>,
    #[serde(default, skip_serializing)]
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
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cors {
    #[serde(default)]
    pub allow_origins: Option<Vec<String>>,
    #[serde(default)]
    pub allow_methods: Option<Vec<String>>,
    #[serde(default)]
    pub allow_headers: Option<Vec<String>>,
    #[serde(default)]
    pub expose_headers: Option<Vec<String>>,
    #[serde(default)]
    pub allow_credentials: Option<bool>,
    #[serde(default)]
    pub max_age: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionUrl {
    /// `NONE` (default) or `AWS_IAM`.
    #[serde(default)]
    pub auth_type: Option<String>,
    #[serde(default)]
    pub cors: Option<Cors>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Percent of traffic to the new version (1..=100).
    #[serde(default)]
    pub weight: Option<i64>,
}

/// The `aws_lambda` releaser block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LambdaReleaseConfig {
    /// Default `live`.
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub traffic: Option<Traffic>,
    #[serde(default)]
    pub function_url: Option<FunctionUrl>,
    /// Computed; ignored on input.
    #[serde(default, skip_serializing)]
    pub released_version: Option<String>,
    #[serde(default, skip_serializing)]
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

fn vpc_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "vpc",
        "Runs the function in a VPC.",
        vec![
            FieldSpec::new("subnet_ids", StringList, Required, "Subnet IDs."),
            FieldSpec::new("security_group_ids", StringList, Required, "Security group IDs."),
        ],
    )
}

pub fn platform_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "aws_lambda",
        "Runs the image as an AWS Lambda function (package type Image). `image` must be an ECR image \
(`<account>.dkr.ecr.<region>.amazonaws.com/…`), pinned by digest (a tag is resolved to its digest first). Each change updates the \
function, waits until the update succeeded and the function is active, then publishes a version: the version is the generation.",
        vec![
            FieldSpec::new("function_name", String, Optional, "Function name; default: the deployment's `name`.").forces_new(),
            FieldSpec::new(
                "role",
                String,
                Optional,
                "Execution role ARN; default: a basic execution role is created for the function and deleted with it.",
            ),
            FieldSpec::new("memory", Number, Optional, "Memory in MB, 128 to 10240.").default(json!(DEFAULT_MEMORY)),
            FieldSpec::new("timeout", Number, Optional, "Timeout in seconds, 1 to 900.").default(json!(DEFAULT_TIMEOUT)),
            FieldSpec::new("ephemeral_storage", Number, Optional, "`/tmp` size in MB, 512 to 10240.")
                .default(json!(DEFAULT_EPHEMERAL_STORAGE)),
            FieldSpec::new("architecture", String, Optional, "`x86_64` or `arm64`.").default(json!(DEFAULT_ARCHITECTURE)),
            FieldSpec::new("tags", StringMap, Optional, "Tags of the function (the resource's `labels` are added)."),
            FieldSpec::new("function_arn", String, Computed, "The function's ARN."),
            FieldSpec::new("version", String, Computed, "The version this generation published."),
            FieldSpec::new("role_arn", String, Computed, "The execution role in use."),
        ],
    )
    .with_block(vpc_block())
}

fn cors_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "cors",
        "CORS settings of the function URL.",
        vec![
            FieldSpec::new("allow_origins", StringList, Optional, "Allowed origins."),
            FieldSpec::new("allow_methods", StringList, Optional, "Allowed methods."),
            FieldSpec::new("allow_headers", StringList, Optional, "Allowed headers."),
            FieldSpec::new("expose_headers", StringList, Optional, "Exposed headers."),
            FieldSpec::new("allow_credentials", Bool, Optional, "Allow credentials."),
            FieldSpec::new("max_age", Number, Optional, "Max age in seconds (0 to 86400)."),
        ],
    )
}

pub fn releaser_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "aws_lambda",
        "An alias (default `live`) on the deployment's version. `traffic { weight = N }` sends N% to the new version and the rest to the \
previously released one; `weight = 100` (or no `traffic` block) completes the release. `function_url` puts a function URL on the alias, \
with the invoke permission it needs.",
        vec![
            FieldSpec::new("alias", String, Optional, "Alias name.").default(json!(DEFAULT_ALIAS)).forces_new(),
            FieldSpec::new("released_version", String, Computed, "The alias's version (the new version once the shift completes)."),
            FieldSpec::new("alias_arn", String, Computed, "The alias's ARN."),
        ],
    )
    .with_block(BlockSpec::new(
        "traffic",
        "Gradual traffic shifting.",
        vec![FieldSpec::new("weight", Number, Required, "Percent of traffic to the new version, 1 to 100.")],
    ))
    .with_block(
        BlockSpec::new(
            "function_url",
            "A function URL on the alias.",
            vec![FieldSpec::new("auth_type", String, Optional, "`NONE` (public) or `AWS_IAM`.").default(json!("NONE"))],
        )
        .with_block(cors_block()),
    )
}

fn range(config: &Json, field: &str, min: i64, max: i64, unit: &str, errors: &mut Vec<FieldError>) {
    if let Some(v) = config.get(field).and_then(Json::as_f64) {
        if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
            errors.push(FieldError::new(
                &[field],
                format!("Invalid {field}"),
                format!("{v} is out of range: use a whole number of {unit} from {min} to {max}."),
            ));
        }
    }
}

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

/// Checks an `aws_lambda` platform block; `null` values are unknown or unset and skipped.
pub fn validate_platform(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    range(config, "memory", 128, 10240, "MB", &mut errors);
    range(config, "timeout", 1, 900, "seconds", &mut errors);
    range(config, "ephemeral_storage", 512, 10240, "MB", &mut errors);
    if let Some(Json::String(a)) = config.get("architecture") {
        if a != "x86_64" && a != "arm64" {
            errors.push(FieldError::new(&["architecture"], "Invalid architecture", format!("{a:?}: use `x86_64` or `arm64`.")));
        }
    }
    if let Some(Json::String(role)) = config.get("role") {
        if !role.starts_with("arn:") || !role.contains(":iam::") || !role.contains(":role/") {
            errors.push(FieldError::new(
                &["role"],
                "Invalid role",
                format!("{role:?} is not an IAM role ARN (`arn:aws:iam::<account>:role/<name>`)."),
            ));
        }
    }
    if let Some(Json::String(name)) = config.get("function_name") {
        let ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            errors.push(FieldError::new(
                &["function_name"],
                "Invalid function name",
                format!("{name:?}: 1 to 64 letters, digits, '-' and '_'."),
            ));
        }
    }
    errors
}

/// Checks an `aws_lambda` releaser block.
pub fn validate_releaser(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(Json::String(alias)) = config.get("alias") {
        let ok = !alias.is_empty()
            && alias.len() <= 128
            && !alias.bytes().all(|b| b.is_ascii_digit())
            && alias.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            errors.push(FieldError::new(
                &["alias"],
                "Invalid alias",
                format!("{alias:?}: letters, digits, '-' and '_', not only digits (that is a version)."),
            ));
        }
    }
    if let Some(w) = config.get("traffic").and_then(|t| t.get("weight")).and_then(Json::as_f64) {
        if w.fract() != 0.0 || !(1.0..=100.0).contains(&w) {
            errors.push(FieldError::new(&["traffic", "weight"], "Invalid weight", format!("{w}: use a whole percent from 1 to 100.")));
        }
    }
    if let Some(Json::String(t)) = config.get("function_url").and_then(|u| u.get("auth_type")) {
        if t != "NONE" && t != "AWS_IAM" {
            errors.push(FieldError::new(&["function_url", "auth_type"], "Invalid auth_type", format!("{t:?}: use `NONE` or `AWS_IAM`.")));
        }
    }
    errors
}

pub fn always_observes(_: &Json) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_images() {
        let e = validate_platform(&json!({"memory": 50, "timeout": 1000, "architecture": "arm64"}));
        let paths: Vec<String> = e.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["memory", "timeout"]);
        assert!(image_problem("127.0.0.1:5000/web@sha256:00").is_some());
        assert!(image_problem("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:00").is_none());
        assert!(image_problem("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1").is_none());
        assert_eq!(validate_releaser(&json!({"alias": "42", "traffic": {"weight": 0}})).len(), 2);
    }
}
