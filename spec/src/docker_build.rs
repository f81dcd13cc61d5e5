//! The `docker` and `docker_pull` builders and the `registry` block of `app_build`.
//!
//! `docker` builds the uploaded context with the Docker engine; `docker_pull` resolves an image
//! built elsewhere to its digest. With a `registry` block the built image is pushed and its
//! identity is the registry's manifest digest; a registry that already holds the tag for the
//! same source hash is adopted without building ("build once, promote").

use crate::field::{BlockSpec, FieldError, FieldSpec, FieldType, Presence};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

/// The `docker` builder block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerBuildConfig {
    #[serde(default)]
    pub dockerfile: Option<String>,
    #[serde(default)]
    pub build_args: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub no_cache: Option<bool>,
    #[serde(default)]
    pub pull: Option<bool>,
}

/// Registry credentials. `Debug` never shows the password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryCredentials {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// The `registry` block of `app_build`: where a built image is pushed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryConfig {
    /// Repository without tag, e.g. `127.0.0.1:5000/web`.
    pub image: String,
    /// Default: derived from the source hash ([`hash_tag`]).
    #[serde(default)]
    pub tag: Option<String>,
    /// Tag in the local engine only, no push.
    #[serde(default)]
    pub local: Option<bool>,
    #[serde(default)]
    pub auth: Option<RegistryCredentials>,
    /// Credentials from ECR's GetAuthorizationToken.
    #[serde(default)]
    pub ecr: Option<bool>,
    /// Plain-HTTP registry.
    #[serde(default)]
    pub insecure: Option<bool>,
    /// Delete the pushed manifest on destroy.
    #[serde(default)]
    pub delete_on_destroy: Option<bool>,
}

impl RegistryConfig {
    /// The tag to push or adopt: `tag`, else [`hash_tag`] of `source_hash`.
    pub fn tag_for(&self, source_hash: &str) -> String {
        self.tag.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| hash_tag(source_hash))
    }

    /// `local = true`: tag in the engine only, push nothing.
    pub fn is_local(&self) -> bool {
        self.local == Some(true)
    }
}

impl RegistryCredentials {
    /// `(username, password)` when both are set and the password is not empty (refreshes and
    /// destroys get no password: it is write-only).
    pub fn complete(&self) -> Option<(&str, &str)> {
        match (self.username.as_deref(), self.password.as_deref()) {
            (Some(user), Some(password)) if !password.is_empty() => Some((user, password)),
            _ => None,
        }
    }
}

/// The `docker_pull` builder block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerPullConfig {
    /// `repo:tag` or `repo@sha256:…`.
    pub image: String,
    /// Also pull the image into the engine.
    #[serde(default)]
    pub pull: Option<bool>,
    #[serde(default)]
    pub auth: Option<RegistryCredentials>,
    #[serde(default)]
    pub ecr: Option<bool>,
    #[serde(default)]
    pub insecure: Option<bool>,
}

/// The registry tag a build gets when `registry.tag` is unset: 12 hex digits of the source hash.
pub fn hash_tag(source_hash: &str) -> String {
    let hex = source_hash.trim_start_matches("sha256:");
    hex[..hex.len().min(12)].to_string()
}

fn auth_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "auth",
        "Registry credentials. The password is write-only (Terraform >= 1.11): it is used by the apply and never stored in plan or state. \
Refreshes check the registry anonymously or with the credentials in `~/.docker/config.json`.",
        vec![
            FieldSpec::new("username", String, Required, "Registry user name."),
            FieldSpec::new("password", String, Required, "Registry password or token.").write_only(),
        ],
    )
}

pub fn docker_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "docker",
        "Builds an image from `source` with the Docker engine (the classic builder). The context is packed where Terraform runs, \
honouring `.dockerignore` exactly as `docker build` does, and `source_hash` covers exactly what the engine receives.",
        vec![
            FieldSpec::new("dockerfile", String, Optional, "Path of the Dockerfile, relative to `source`; a path outside `source` works as with `docker build -f`. Default: `Dockerfile` in `source`."),
            FieldSpec::new("build_args", StringMap, Optional, "`--build-arg` values."),
            FieldSpec::new("target", String, Optional, "Stage of a multi-stage Dockerfile to build."),
            FieldSpec::new("platform", String, Optional, "Target platform, e.g. `linux/amd64`."),
            FieldSpec::new("labels", StringMap, Optional, "Extra image labels (the resource's `labels` are applied too)."),
            FieldSpec::new("no_cache", Bool, Optional, "Build without the engine's layer cache."),
            FieldSpec::new("pull", Bool, Optional, "Always try to pull newer base images."),
        ],
    )
}

pub fn docker_pull_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "docker_pull",
        "Uses an image built elsewhere: resolves `image` (a tag or a digest) to the registry's manifest digest, so deployments get an \
immutable reference. The image is pulled into the local engine only with `pull = true`.",
        vec![
            FieldSpec::new("image", String, Required, "`registry/repository:tag` or `registry/repository@sha256:…`."),
            FieldSpec::new("pull", Bool, Optional, "Also pull the image into the local Docker engine."),
            FieldSpec::new(
                "ecr",
                Bool,
                Optional,
                "Use credentials from Amazon ECR (GetAuthorizationToken with the AWS SDK's default credentials).",
            ),
            FieldSpec::new("insecure", Bool, Optional, "The registry speaks plain HTTP (loopback registries always may)."),
        ],
    )
    .with_block(auth_block())
}

pub fn registry_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "registry",
        "Pushes the built image. After the push `image` is `repository@sha256:<manifest digest>` exactly as the registry reports it. \
Before building, a registry that already holds the tag with this `source_hash` (image label) is adopted: nothing is built or pushed.",
        vec![
            FieldSpec::new("image", String, Required, "Repository to push to, without tag, e.g. `registry.example.com/team/web`."),
            FieldSpec::new("tag", String, Optional, "Tag to push. Default: the first 12 hex digits of `source_hash`, so every source has its own tag."),
            FieldSpec::new("local", Bool, Optional, "Only tag `image:tag` in the local engine (for clusters that share it); nothing is pushed."),
            FieldSpec::new("ecr", Bool, Optional, "Use credentials from Amazon ECR's GetAuthorizationToken for the repository's account and region (AWS SDK default credentials)."),
            FieldSpec::new("insecure", Bool, Optional, "The registry speaks plain HTTP (loopback registries always may)."),
            FieldSpec::new("delete_on_destroy", Bool, Optional, "Delete the pushed manifest on destroy. Default: keep it (other deployments may use it)."),
        ],
    )
    .with_block(auth_block())
}

fn is_blank(v: &Json) -> bool {
    matches!(v, Json::String(s) if s.trim().is_empty())
}

/// A repository reference: no tag, no digest, no scheme, no upper case.
fn repository_problem(repo: &str) -> Option<String> {
    if repo.contains("://") {
        return Some("leave out the scheme (`http://`, `https://`); use `insecure = true` for a plain-HTTP registry".into());
    }
    if repo.contains('@') {
        return Some("a repository cannot carry a digest here".into());
    }
    let last = repo.rsplit('/').next().unwrap_or(repo);
    if last.contains(':') && repo.contains('/') {
        return Some("put the tag in `tag`, not in `image`".into());
    }
    let path = repo.split_once('/').map_or(repo, |(host, path)| if host.contains(['.', ':']) || host == "localhost" { path } else { repo });
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("repository names must be lower case".into());
    }
    None
}

fn tag_problem(tag: &str) -> Option<&'static str> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    (!ok).then_some("a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'")
}

fn validate_auth(block: &Json, at: &str, errors: &mut Vec<FieldError>) {
    let Some(auth) = block.get("auth").filter(|a| a.is_object()) else { return };
    if let Some(Json::String(user)) = auth.get("username") {
        if user.trim().is_empty() {
            errors.push(FieldError::new(
                &[at, "auth", "username"],
                "Empty registry user name",
                "Set the user name, or remove the `auth` block for an anonymous registry.",
            ));
        }
    }
    if block.get("ecr") == Some(&Json::Bool(true)) {
        errors.push(FieldError::new(
            &[at, "ecr"],
            "Conflicting registry credentials",
            "Use either `ecr = true` or an `auth` block, not both.",
        ));
    }
}

/// Checks a `docker` builder block; `null` values are unknown or unset and skipped.
pub fn validate_docker(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in ["dockerfile", "target", "platform"] {
        if config.get(field).is_some_and(is_blank) {
            errors.push(FieldError::new(
                &[field],
                format!("Empty {field}"),
                format!("Leave `{field}` unset instead of setting it to an empty string."),
            ));
        }
    }
    if let Some(Json::String(platform)) = config.get("platform") {
        let parts: Vec<&str> = platform.split('/').collect();
        if !platform.trim().is_empty() && (parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty())) {
            errors.push(FieldError::new(
                &["platform"],
                "Invalid platform",
                format!("{platform:?} is not `os/arch[/variant]`, e.g. `linux/amd64`."),
            ));
        }
    }
    if let Some(Json::Object(args)) = config.get("build_args") {
        for key in args.keys().filter(|k| k.is_empty() || k.contains('=')) {
            errors.push(FieldError::new(
                &["build_args"],
                "Invalid build argument name",
                format!("{key:?} cannot be a build argument name."),
            ));
        }
    }
    errors
}

/// Checks a `docker_pull` builder block.
pub fn validate_docker_pull(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(Json::String(image)) = config.get("image") {
        let problem = if image.trim().is_empty() {
            Some("it is empty".to_string())
        } else if image.contains("://") {
            Some("leave out the scheme; use `insecure = true` for a plain-HTTP registry".to_string())
        } else {
            image.split_once('@').and_then(|(_, digest)| {
                let hex = digest.strip_prefix("sha256:")?;
                (hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
                    .then(|| format!("{digest:?} is not a sha256 digest (sha256: and 64 lower-case hex digits)"))
            })
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new(
                &["image"],
                "Invalid image reference",
                format!("{image:?}: {problem}. Use `registry/repository:tag` or `registry/repository@sha256:…`."),
            ));
        }
    }
    validate_auth(config, "", &mut errors);
    for e in &mut errors {
        e.path.retain(|p| !p.is_empty());
    }
    errors
}

/// Checks a `registry` block; paths start at the block (`registry`, …).
pub fn validate_registry(block: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(Json::String(image)) = block.get("image") {
        let problem = if image.trim().is_empty() { Some("it is empty".to_string()) } else { repository_problem(image) };
        if let Some(problem) = problem {
            errors.push(FieldError::new(
                &["registry", "image"],
                "Invalid repository",
                format!("{image:?}: {problem}. Example: `127.0.0.1:5000/web`."),
            ));
        }
    }
    if let Some(Json::String(tag)) = block.get("tag") {
        if let Some(problem) = tag_problem(tag) {
            errors.push(FieldError::new(&["registry", "tag"], "Invalid tag", format!("{tag:?}: {problem}.")));
        }
    }
    if block.get("local") == Some(&Json::Bool(true)) {
        for field in ["ecr", "delete_on_destroy"] {
            if block.get(field) == Some(&Json::Bool(true)) {
                errors.push(FieldError::new(
                    &["registry", field],
                    "Nothing is pushed with local = true",
                    format!("`{field}` only applies to pushed images; remove it or `local = true`."),
                ));
            }
        }
    }
    validate_auth(block, "registry", &mut errors);
    errors
}

pub fn always_observes(_: &Json) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_tags_are_short_hex() {
        assert_eq!(hash_tag("sha256:0123456789abcdef"), "0123456789ab");
        let mut registry = RegistryConfig { image: "127.0.0.1:5000/web".into(), ..Default::default() };
        assert_eq!(registry.tag_for("sha256:0123456789abcdef"), "0123456789ab");
        registry.tag = Some("v1".into());
        assert_eq!(registry.tag_for("sha256:0123456789abcdef"), "v1");
        assert!(!registry.is_local());
    }

    #[test]
    fn credentials_are_complete_only_with_a_password() {
        let mut c = RegistryCredentials { username: Some("ci".into()), password: None };
        assert_eq!(c.complete(), None);
        c.password = Some(String::new());
        assert_eq!(c.complete(), None);
        c.password = Some("pw".into());
        assert_eq!(c.complete(), Some(("ci", "pw")));
    }

    #[test]
    fn registry_problems_have_paths() {
        let errors = validate_registry(
            &json!({"image": "http://127.0.0.1:5000/web", "tag": "-x", "ecr": true, "auth": {"username": "", "password": null}}),
        );
        let paths: Vec<String> = errors.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["registry.image", "registry.tag", "registry.auth.username", "registry.ecr"]);
        assert!(validate_registry(&json!({"image": "127.0.0.1:5000/team/web", "tag": "v1.2_3"})).is_empty());
        assert!(validate_registry(&json!({"image": "localhost:5000/Web"})).len() == 1);
        assert!(validate_registry(&json!({"image": "127.0.0.1:5000/web:v1"})).len() == 1);
        assert!(validate_registry(&json!({"image": null, "tag": null})).is_empty());
    }

    #[test]
    fn docker_and_pull_blocks_validate() {
        assert_eq!(validate_docker(&json!({"platform": "amd64"}))[0].path, ["platform"]);
        assert!(validate_docker(&json!({"platform": "linux/arm64/v8", "dockerfile": "build/Dockerfile"})).is_empty());
        assert_eq!(validate_docker_pull(&json!({"image": "r/x@sha256:abc"}))[0].path, ["image"]);
        assert!(validate_docker_pull(&json!({"image": "127.0.0.1:5000/x:1"})).is_empty());
        assert_eq!(validate_docker_pull(&json!({"image": "r/x:1", "ecr": true, "auth": {"username": "u"}}))[0].path, ["ecr"]);
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = RegistryCredentials { username: Some("ci".into()), password: Some("hunter2".into()) };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
