//! Registry credentials for the `docker` and `docker_pull` builders, and the messages for
//! registry failures.
//!
//! Where credentials come from, first match wins:
//! 1. the block's `auth` (only at apply time: the password is write-only, so refreshes and
//!    destroys never have it);
//! 2. `ecr = true`: Amazon ECR's GetAuthorizationToken with the AWS SDK's default credentials
//!    (available at refresh and destroy too);
//! 3. the Docker client configuration, `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`,
//!    read as the docker CLI reads it: the registry's credential helper in `credHelpers`, else the
//!    `credsStore` helper (each run as `docker-credential-<name> get`, found on `PATH`), else the
//!    `auths` entry (`auth` = base64 of `user:password`, or `username`/`password`);
//! 4. none: anonymous.

use crate::engine::registry::{Reference, RegistryClient, RegistryError};
use crate::engine::RegistryAuth;
use crate::platform::PlatformError;
use app_spec::docker_build::RegistryCredentials;
use base64::Engine as _;
use serde_json::Value as Json;
use std::fmt;
use std::path::PathBuf;

/// Where the credentials in a [`ResolvedAuth`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSource {
    /// The block's `auth`.
    Configuration,
    /// Amazon ECR.
    Ecr,
    /// A Docker client configuration file.
    DockerConfig(PathBuf),
    /// No credentials.
    Anonymous,
}

impl fmt::Display for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Configuration => f.write_str("the credentials of the `auth` block"),
            Self::Ecr => f.write_str("Amazon ECR credentials"),
            Self::DockerConfig(path) => write!(f, "the credentials in {}", path.display()),
            Self::Anonymous => f.write_str("anonymous access"),
        }
    }
}

/// Credentials for one registry and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAuth {
    pub auth: Option<RegistryAuth>,
    pub source: AuthSource,
}

impl ResolvedAuth {
    pub fn anonymous() -> Self {
        Self { auth: None, source: AuthSource::Anonymous }
    }
}

/// The credentials to use for `repository` (`host[:port]/path`, as in an image reference without
/// tag or digest; a name without a registry host is Docker Hub's).
///
/// `explicit` counts only with a non-empty password ([`RegistryCredentials::complete`]).
/// `ecr = true` asks ECR ([`crate::engine::ecr::credentials`]).
pub async fn resolve_auth(repository: &str, explicit: Option<&RegistryCredentials>, ecr: bool) -> Result<ResolvedAuth, PlatformError> {
    if let Some((user, password)) = explicit.and_then(RegistryCredentials::complete) {
        return Ok(ResolvedAuth { auth: Some(RegistryAuth::new(user, password)), source: AuthSource::Configuration });
    }
    let registry = registry_host(repository);
    if ecr {
        return match crate::engine::ecr::credentials(repository).await {
            Ok(auth) => Ok(ResolvedAuth { auth: Some(auth), source: AuthSource::Ecr }),
            Err(e) => Err(PlatformError::failed(format!("cannot get ECR credentials for registry {registry}: {e}"), "", "")),
        };
    }
    Ok(docker_config_auth(&registry).await?.unwrap_or_else(ResolvedAuth::anonymous))
}

/// The registry `host[:port]` of `repository` ([`crate::engine::registry::DOCKER_HUB`] for names without one).
pub fn registry_host(repository: &str) -> String {
    match Reference::parse(repository) {
        Ok(r) => r.registry,
        Err(_) => repository.split('/').next().unwrap_or(repository).to_string(),
    }
}

/// The Docker client configuration file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// The credentials for `registry` in the Docker client configuration, if it has any.
async fn docker_config_auth(registry: &str) -> Result<Option<ResolvedAuth>, PlatformError> {
    let Some(path) = docker_config_path() else { return Ok(None) };
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let found = |auth| Some(ResolvedAuth { auth: Some(auth), source: AuthSource::DockerConfig(path.clone()) });
    if let Some(helper) = credential_helper(&text, registry) {
        let program = format!("docker-credential-{helper}");
        match run_credential_helper(&program, &helper_server_url(registry)).await {
            Ok(Some(auth)) => return Ok(found(auth)),
            Ok(None) => {}
            Err(problem) => {
                return Err(PlatformError::failed(
                    format!(
                        "cannot get the credentials for registry {registry} from `{program}`, the credential helper {} names: {problem}; install it on the runner's PATH, or remove it from `credHelpers`/`credsStore` there, or set the `auth` block",
                        path.display()
                    ),
                    "",
                    "",
                ))
            }
        }
    }
    Ok(auth_in_docker_config(&text, registry).and_then(found))
}

/// The credential helper a Docker `config.json` names for `registry`: its `credHelpers` entry,
/// else `credsStore`.
pub fn credential_helper(config_json: &str, registry: &str) -> Option<String> {
    let config: Json = serde_json::from_str(config_json).ok()?;
    let wanted = canonical_host(registry);
    let per_registry = config
        .get("credHelpers")
        .and_then(Json::as_object)
        .and_then(|helpers| helpers.iter().find(|(key, _)| canonical_host(key) == wanted))
        .and_then(|(_, v)| v.as_str());
    per_registry
        .or_else(|| config.get("credsStore").and_then(Json::as_str))
        .map(str::trim)
        .filter(|h| valid_helper_name(h))
        .map(str::to_string)
}

/// A helper name becomes part of a program name: no path separators, nothing a shell would read.
fn valid_helper_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') && !name.starts_with('.')
}

/// The server name helpers store Docker Hub's credentials under (as the docker CLI does).
fn helper_server_url(registry: &str) -> String {
    if canonical_host(registry) == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `program get` with the server name on stdin (the docker-credential-helpers protocol): the
/// credentials, `None` when the helper has none for it, or why it failed. The helper's output
/// holds the secret: it is parsed here and never logged.
pub async fn run_credential_helper(program: &str, server: &str) -> Result<Option<RegistryAuth>, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run it ({e})"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("it did not answer within {HELPER_TIMEOUT:?}"))?
        .map_err(|e| format!("waiting for it failed ({e})"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The protocol's "not found" answer: no credentials for this server.
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let said: String =
            stderr.lines().chain(stdout.lines()).find(|l| !l.trim().is_empty()).unwrap_or_default().chars().take(200).collect();
        return Err(format!("it exited with {} ({})", crate::process::describe_status(out.status), said.trim()));
    }
    let answer: Json =
        serde_json::from_str(stdout.trim()).map_err(|_| "its answer is not the JSON object the protocol asks for".to_string())?;
    let username = answer.get("Username").and_then(Json::as_str).unwrap_or_default();
    let secret = answer.get("Secret").and_then(Json::as_str).unwrap_or_default();
    if secret.is_empty() {
        return Ok(None);
    }
    if username == "<token>" {
        return Err("it returned an identity token, which this provider cannot use yet; log in with a username and password, or set the `auth` block".into());
    }
    Ok(Some(RegistryAuth::new(username, secret)))
}

/// The `auths` entry for `registry` in a Docker `config.json` text. Keys may carry a scheme and
/// a path (`https://index.docker.io/v1/`); Docker Hub's names are all one registry.
pub fn auth_in_docker_config(config_json: &str, registry: &str) -> Option<RegistryAuth> {
    let config: Json = serde_json::from_str(config_json).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let wanted = canonical_host(registry);
    let entry = auths.iter().find(|(key, _)| canonical_host(key) == wanted).map(|(_, v)| v)?;
    if let Some(encoded) = entry.get("auth").and_then(Json::as_str).filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        return Some(RegistryAuth::new(user, password));
    }
    let user = entry.get("username").and_then(Json::as_str)?;
    let password = entry.get("password").and_then(Json::as_str).filter(|p| !p.is_empty())?;
    Some(RegistryAuth::new(user, password))
}

/// `host[:port]` of a registry name or `config.json` key, lower case; Docker Hub's aliases as `docker.io`.
fn canonical_host(name: &str) -> String {
    let name = name.trim();
    let name = name.split_once("://").map_or(name, |(_, rest)| rest);
    let host = name.split('/').next().unwrap_or(name).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_string(),
        _ => host,
    }
}

/// A registry client for `registry`, speaking plain HTTP to it when `insecure` (loopback
/// registries always may).
pub fn registry_client(registry: &str, insecure: bool) -> RegistryClient {
    let client = RegistryClient::new();
    if insecure {
        client.insecure(registry)
    } else {
        client
    }
}

/// Whether a registry error means the credentials were missing, wrong or not allowed.
pub fn is_auth_error(e: &RegistryError) -> bool {
    matches!(e, RegistryError::AuthRequired { .. } | RegistryError::AuthFailed { .. } | RegistryError::Denied { .. })
}

/// A message for a registry failure while `doing` (e.g. "checking 127.0.0.1:5000/web:v1"),
/// naming the registry, the HTTP status of an authentication failure and what to check.
pub fn registry_failure_message(e: &RegistryError, doing: &str, source: &AuthSource) -> String {
    match e {
        RegistryError::AuthRequired { registry } => format!(
            "registry {registry} requires authentication (HTTP 401) while {doing}, and no credentials were found: \
             set the `auth` block, or log in with `docker login {registry}` so the Docker config has credentials"
        ),
        RegistryError::AuthFailed { registry } => {
            format!("authentication failed for registry {registry} (HTTP 401) while {doing} with {source}: check the username and password")
        }
        RegistryError::Denied { registry, repository, message } => format!(
            "registry {registry} denied access to {repository} (HTTP 403) while {doing} with {source}: \
             check the username and password and that they may use this repository ({message})"
        ),
        other => format!("registry error while {doing}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_auths() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("ci:ci-password");
        let config = format!(
            r#"{{"auths": {{"https://127.0.0.1:5056/v1/": {{"auth": "{encoded}"}}, "https://index.docker.io/v1/": {{"username": "hub", "password": "hubpw"}}}}}}"#
        );
        assert_eq!(auth_in_docker_config(&config, "127.0.0.1:5056"), Some(RegistryAuth::new("ci", "ci-password")));
        assert_eq!(auth_in_docker_config(&config, "docker.io"), Some(RegistryAuth::new("hub", "hubpw")));
        assert_eq!(auth_in_docker_config(&config, "127.0.0.1:5055"), None);
        assert_eq!(auth_in_docker_config("not json", "127.0.0.1:5056"), None);
        assert_eq!(auth_in_docker_config(r#"{"auths": {"127.0.0.1:5056": {"auth": "!!"}}}"#, "127.0.0.1:5056"), None);
    }

    #[test]
    fn credential_helpers_per_registry_then_the_store() {
        let config = r#"{"credsStore": "desktop", "credHelpers": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login", "evil.example": "../../bin/sh"}}"#;
        assert_eq!(credential_helper(config, "123456789012.dkr.ecr.us-east-1.amazonaws.com").as_deref(), Some("ecr-login"));
        assert_eq!(credential_helper(config, "127.0.0.1:5056").as_deref(), Some("desktop"));
        assert_eq!(credential_helper(config, "evil.example"), None, "a helper name is never a path");
        assert_eq!(credential_helper(r#"{"auths": {}}"#, "127.0.0.1:5056"), None);
        assert_eq!(helper_server_url("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(helper_server_url("127.0.0.1:5056"), "127.0.0.1:5056");
    }

    /// A helper script in a private directory: answers `get` for one server.
    fn helper_script(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("docker-credential-test");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write helper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).expect("chmod helper");
        path.to_string_lossy().into_owned()
    }

    #[tokio::test]
    async fn credential_helper_protocol() {
        let dir = std::env::temp_dir().join(format!("app-runner-helper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let helper = helper_script(
            &dir,
            r#"[ "$1" = get ] || exit 9
read server
case "$server" in
  127.0.0.1:5056) echo '{"ServerURL":"127.0.0.1:5056","Username":"ci","Secret":"from-helper"}' ;;
  token.example) echo '{"ServerURL":"token.example","Username":"<token>","Secret":"refresh"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac"#,
        );
        assert_eq!(run_credential_helper(&helper, "127.0.0.1:5056").await, Ok(Some(RegistryAuth::new("ci", "from-helper"))));
        assert_eq!(run_credential_helper(&helper, "other:5000").await, Ok(None));
        let token = run_credential_helper(&helper, "token.example").await.unwrap_err();
        assert!(token.contains("identity token") && !token.contains("refresh"), "{token}");
        let missing = run_credential_helper("docker-credential-does-not-exist", "x").await.unwrap_err();
        assert!(missing.contains("cannot run it"), "{missing}");
        let broken = helper_script(&dir, "echo 'store is locked: secret-ish detail' >&2; exit 3");
        let e = run_credential_helper(&broken, "x").await.unwrap_err();
        assert!(e.contains("exit") && e.contains("store is locked"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn explicit_credentials_need_a_password() {
        let with = RegistryCredentials { username: "ci".into(), password: Some("pw".into()), password_version: None };
        let resolved = resolve_auth("127.0.0.1:5056/web", Some(&with), false).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolved, ResolvedAuth { auth: Some(RegistryAuth::new("ci", "pw")), source: AuthSource::Configuration });
        assert_eq!(registry_host("alpine"), "docker.io");
    }

    #[test]
    fn auth_failures_name_the_registry_and_status() {
        let e = RegistryError::AuthFailed { registry: "127.0.0.1:5056".into() };
        let text = registry_failure_message(&e, "checking x", &AuthSource::Configuration);
        assert!(text.contains("127.0.0.1:5056") && text.contains("HTTP 401") && text.contains("username and password"), "{text}");
        assert!(is_auth_error(&e));
        assert!(!is_auth_error(&RegistryError::Unreachable { registry: "r".into(), message: "m".into() }));
    }
}
