//! The `docker` and `docker_pull` builders and the `registry` block of `app_build`.
//!
//! `docker` builds the uploaded context with the Docker engine; `docker_pull` resolves an image
//! built elsewhere to its digest. With a `registry` block the built image is pushed and its
//! identity is the registry's manifest digest; a registry that already holds the tag for the
//! same source hash is adopted without building ("build once, promote").

use crate::field::FieldError;
use crate::validate;
use crate::Block;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

/// Builds an image from `source` with the Docker engine (the classic builder). The context is packed
/// where Terraform runs, honouring `.dockerignore` exactly as `docker build` does, and `source_hash`
/// covers exactly what the engine receives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct DockerBuildConfig {
    /// Path of the Dockerfile, relative to `source`; a path outside `source` works as with
    /// `docker build -f`. Default: `Dockerfile` in `source`.
    #[serde(default)]
    #[block(validate = validate::not_blank)]
    pub dockerfile: Option<String>,
    /// `--build-arg` values. Only their names and a salted digest of each value go into the image's
    /// labels, never the values.
    #[serde(default)]
    #[block(validate = build_arg_names)]
    pub build_args: Option<BTreeMap<String, String>>,
    /// Stage of a multi-stage Dockerfile to build.
    #[serde(default)]
    #[block(validate = validate::not_blank)]
    pub target: Option<String>,
    /// Target platform, e.g. `linux/amd64`.
    #[serde(default)]
    #[block(validate = platform_text)]
    pub platform: Option<String>,
    /// Extra image labels (the resource's `labels` are applied too).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Build without the engine's layer cache.
    #[serde(default)]
    pub no_cache: Option<bool>,
    /// Always try to pull newer base images.
    #[serde(default)]
    pub pull: Option<bool>,
}

/// Registry credentials. The password is write-only (Terraform >= 1.11): it is used by the apply and
/// never stored in plan or state; change `password_version` to make the next apply use a rotated
/// password. Refreshes and destroys check the registry with the credentials the docker CLI would use
/// (`~/.docker/config.json`, credential helpers), or anonymously.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct RegistryCredentials {
    /// Registry user name.
    #[block(validate = validate::not_blank)]
    pub username: String,
    /// Registry password or token.
    #[serde(default)]
    #[block(required, write_only)]
    pub password: Option<String>,
    /// Any number; changing it applies the build again with the current `password` (rotation).
    #[serde(default)]
    pub password_version: Option<i64>,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = self.password.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryCredentials").field("username", &self.username).field("password", &password).finish()
    }
}

/// Pushes the built image. After the push `image` is `repository@sha256:<manifest digest>` exactly as
/// the registry reports it. Before building, a registry that already holds the tag with this
/// `source_hash` (image label) is adopted: nothing is built or pushed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
#[block(validate = registry_rules)]
pub struct RegistryConfig {
    /// Repository to push to, without tag, e.g. `registry.example.com/team/web`.
    #[block(validate = repository)]
    pub image: String,
    /// Tag to push. Default: the first 12 hex digits of `source_hash`, so every source has its own tag.
    #[serde(default)]
    #[block(validate = tag)]
    pub tag: Option<String>,
    /// Only tag `image:tag` in the local engine (for clusters that share it); nothing is pushed.
    #[serde(default)]
    pub local: Option<bool>,
    #[serde(default)]
    pub auth: Option<RegistryCredentials>,
    /// Use credentials from Amazon ECR's GetAuthorizationToken for the repository's account and region
    /// (AWS SDK default credentials).
    #[serde(default)]
    pub ecr: Option<bool>,
    /// The registry speaks plain HTTP (loopback registries always may).
    #[serde(default)]
    pub insecure: Option<bool>,
    /// Delete the pushed manifest on destroy. Default: keep it (other deployments may use it).
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
    /// `(username, password)` when the password is set and not empty (refreshes and destroys get
    /// no password: it is write-only).
    pub fn complete(&self) -> Option<(&str, &str)> {
        match self.password.as_deref() {
            Some(password) if !password.is_empty() => Some((self.username.as_str(), password)),
            _ => None,
        }
    }
}

/// Uses an image built elsewhere: resolves `image` (a tag or a digest) to the registry's manifest
/// digest, so deployments get an immutable reference. The image is pulled into the local engine only
/// with `pull = true`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
#[block(validate = one_kind_of_credentials)]
pub struct DockerPullConfig {
    /// `registry/repository:tag` or `registry/repository@sha256:…`.
    #[block(validate = image_reference)]
    pub image: String,
    /// Also pull the image into the local Docker engine.
    #[serde(default)]
    pub pull: Option<bool>,
    #[serde(default)]
    pub auth: Option<RegistryCredentials>,
    /// Use credentials from Amazon ECR (GetAuthorizationToken with the AWS SDK's default credentials).
    #[serde(default)]
    pub ecr: Option<bool>,
    /// The registry speaks plain HTTP (loopback registries always may).
    #[serde(default)]
    pub insecure: Option<bool>,
}

/// The registry tag a build gets when `registry.tag` is unset: 12 hex digits of the source hash.
pub fn hash_tag(source_hash: &str) -> String {
    source_hash.trim_start_matches("sha256:").chars().take(12).collect()
}

/// What the provider hashes and packs for a `docker` block: the inputs of `source_hash`.
pub fn context_inputs(block: &Json) -> Option<crate::catalog::ContextInputs> {
    let config = DockerBuildConfig::parse(block).ok()?;
    Some(crate::catalog::ContextInputs {
        dockerfile: config.dockerfile,
        build_args: config.build_args.unwrap_or_default(),
        target: config.target,
        platform: config.platform,
    })
}

fn build_arg_names(value: &Json) -> Vec<FieldError> {
    let Some(args) = value.as_object() else { return Vec::new() };
    args.keys()
        .filter(|k| k.is_empty() || k.contains('='))
        .map(|key| FieldError::new(&[key.as_str()], "Invalid build argument name", format!("{key:?} cannot be a build argument name.")))
        .collect()
}

fn platform_text(value: &Json) -> Vec<FieldError> {
    let Some(platform) = value.as_str() else { return Vec::new() };
    let parts: Vec<&str> = platform.split('/').collect();
    if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.trim().is_empty()) {
        return vec![FieldError::here("Invalid platform", format!("{platform:?} is not `os/arch[/variant]`, e.g. `linux/amd64`."))];
    }
    Vec::new()
}

/// A repository reference: no tag, no digest, no scheme, no upper case.
fn repository_problem(repo: &str) -> Option<String> {
    if repo.trim().is_empty() {
        return Some("it is empty".into());
    }
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

fn repository(value: &Json) -> Vec<FieldError> {
    let Some(image) = value.as_str() else { return Vec::new() };
    match repository_problem(image) {
        Some(problem) => {
            vec![FieldError::here("Invalid repository", format!("{image:?}: {problem}. Example: `127.0.0.1:5000/web`."))]
        }
        None => Vec::new(),
    }
}

fn tag(value: &Json) -> Vec<FieldError> {
    let Some(tag) = value.as_str() else { return Vec::new() };
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        return Vec::new();
    }
    vec![FieldError::here(
        "Invalid tag",
        format!("{tag:?}: a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'."),
    )]
}

fn image_reference(value: &Json) -> Vec<FieldError> {
    let Some(image) = value.as_str() else { return Vec::new() };
    let problem = if image.trim().is_empty() {
        Some("it is empty".to_string())
    } else if image.contains("://") {
        Some("leave out the scheme; use `insecure = true` for a plain-HTTP registry".to_string())
    } else {
        image.split_once('@').and_then(|(_, digest)| {
            let hex = digest.strip_prefix("sha256:");
            (hex.is_none_or(|hex| hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())))
                .then(|| format!("{digest:?} is not a sha256 digest (sha256: and 64 lower-case hex digits)"))
        })
    };
    match problem {
        Some(problem) => vec![FieldError::here(
            "Invalid image reference",
            format!("{image:?}: {problem}. Use `registry/repository:tag` or `registry/repository@sha256:…`."),
        )],
        None => Vec::new(),
    }
}

fn one_kind_of_credentials(block: &Json) -> Vec<FieldError> {
    let auth = block.get("auth").is_some_and(Json::is_object);
    if auth && block.get("ecr") == Some(&Json::Bool(true)) {
        return vec![FieldError::new(
            &["ecr"],
            "Conflicting registry credentials",
            "Use either `ecr = true` or an `auth` block, not both.",
        )];
    }
    Vec::new()
}

fn registry_rules(block: &Json) -> Vec<FieldError> {
    let mut errors = one_kind_of_credentials(block);
    if block.get("local") == Some(&Json::Bool(true)) {
        for field in ["ecr", "delete_on_destroy"] {
            if block.get(field) == Some(&Json::Bool(true)) {
                errors.push(FieldError::new(
                    &[field],
                    "Nothing is pushed with local = true",
                    format!("`{field}` only applies to pushed images; remove it or `local = true`."),
                ));
            }
        }
    }
    errors
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
        let mut c = RegistryCredentials { username: "ci".into(), password: None, password_version: None };
        assert_eq!(c.complete(), None);
        c.password = Some(String::new());
        assert_eq!(c.complete(), None);
        c.password = Some("pw".into());
        assert_eq!(c.complete(), Some(("ci", "pw")));
    }

    #[test]
    fn registry_problems_have_paths() {
        let errors = RegistryConfig::validate(
            &json!({"image": "http://127.0.0.1:5000/web", "tag": "-x", "ecr": true, "auth": {"username": "", "password": null}}),
        );
        let paths: Vec<String> = errors.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["image", "tag", "auth.username", "ecr"]);
        assert!(RegistryConfig::validate(&json!({"image": "127.0.0.1:5000/team/web", "tag": "v1.2_3"})).is_empty());
        assert_eq!(RegistryConfig::validate(&json!({"image": "localhost:5000/Web"})).len(), 1);
        assert_eq!(RegistryConfig::validate(&json!({"image": "127.0.0.1:5000/web:v1"})).len(), 1);
        assert!(RegistryConfig::validate(&json!({"image": null, "tag": null})).is_empty());
    }

    #[test]
    fn docker_and_pull_blocks_validate() {
        assert_eq!(DockerBuildConfig::validate(&json!({"platform": "amd64"}))[0].path, ["platform"]);
        assert!(DockerBuildConfig::validate(&json!({"platform": "linux/arm64/v8", "dockerfile": "build/Dockerfile"})).is_empty());
        assert_eq!(DockerPullConfig::validate(&json!({"image": "r/x@sha256:abc"}))[0].path, ["image"]);
        assert!(DockerPullConfig::validate(&json!({"image": "127.0.0.1:5000/x:1"})).is_empty());
        assert_eq!(DockerPullConfig::validate(&json!({"image": "r/x:1", "ecr": true, "auth": {"username": "u"}}))[0].path, ["ecr"]);
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = RegistryCredentials { username: "ci".into(), password: Some("hunter2".into()), password_version: None };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
