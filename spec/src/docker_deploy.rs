//! The `docker` platform (one container per generation) and the `docker` releaser (a stable
//! local port in front of the released generation, served by the project's own router).

use crate::field::{BlockSpec, FieldError, FieldSpec, FieldType, Presence};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Labels on everything the Docker platform and releaser create.
pub mod labels {
    /// The deployment (app) name.
    pub const APP: &str = "dev.terraform-provider-app.app";
    pub const GENERATION: &str = "dev.terraform-provider-app.generation";
    /// `deployment` (a generation's container), `router` (a release) or `network`.
    pub const ROLE: &str = "dev.terraform-provider-app.role";
    pub const ROLE_NETWORK: &str = "network";
    /// The container port a router forwards to.
    pub const PORT: &str = "dev.terraform-provider-app.port";
    /// The release name (routers).
    pub const RELEASE: &str = "dev.terraform-provider-app.release";
    pub const ROLE_DEPLOYMENT: &str = "deployment";
    pub const ROLE_ROUTER: &str = "router";
    /// On each generation's container: the deployment's configuration as JSON (image, env,
    /// labels, the platform block; no secrets), so an import can restore it.
    pub const DEPLOYMENT_CONFIG: &str = "dev.terraform-provider-app.deployment-config";
}

/// Where a router reads its upstream (`ip:port\n`), inside its container.
pub const ROUTER_UPSTREAM_FILE: &str = "/run/app-router/upstream";
/// The port a router listens on inside its container.
pub const ROUTER_PORT: u16 = 8080;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    #[serde(default)]
    pub http_path: Option<String>,
    #[serde(default)]
    pub tcp: Option<bool>,
    #[serde(default)]
    pub port: Option<u16>,
    /// Duration text (`500ms`, `2s`, `1m`).
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub start_period: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// `256m`, `1g`, or bytes.
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub cpus: Option<f64>,
}

/// The `docker` platform block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerDeployConfig {
    #[serde(default)]
    pub ports: Option<Vec<u16>>,
    /// Container port (as text) → host port.
    #[serde(default)]
    pub host_ports: Option<BTreeMap<String, u16>>,
    #[serde(default)]
    pub bind_address: Option<String>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    #[serde(default)]
    pub resources: Option<Resources>,
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub restart: Option<String>,
    /// Computed; ignored on input.
    #[serde(default, skip_serializing)]
    pub container_id: Option<String>,
}

/// One generation's container, as the platform records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub generation: u64,
    pub container_id: String,
    pub container_name: String,
    /// Container port → published host port.
    #[serde(default)]
    pub host_ports: BTreeMap<u16, u16>,
    /// The deploy of this generation failed (it exited, restarted or never became healthy); its
    /// container is left for inspection (`docker logs <container_name>`) and removed by the next
    /// deploy that succeeds, or by the retry of the same generation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

/// What the Docker platform remembers (`DeploymentRecord.record`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerDeployRecord {
    pub network: String,
    /// Whether the platform created the network (and removes it on destroy).
    #[serde(default)]
    pub network_created: bool,
    /// Live generations, oldest first: the current one (`DeploymentRecord.generation`), the
    /// older ones kept for rollback, and a failed one (`failed`), if any, after them.
    #[serde(default)]
    pub generations: Vec<GenerationRecord>,
}

impl DockerDeployRecord {
    /// The recorded generation `generation`, if it is live.
    pub fn generation(&self, generation: u64) -> Option<&GenerationRecord> {
        self.generations.iter().find(|g| g.generation == generation)
    }
}

/// The network the `docker` platform creates for an app without `network`: `app-<name>`.
pub fn default_network(name: &str) -> String {
    format!("app-{name}")
}

/// The container of generation `generation`: `<name>-g<generation>`.
pub fn container_name(name: &str, generation: u64) -> String {
    format!("{name}-g{generation}")
}

/// The router container of release `release`: `<release>-router`.
pub fn router_name(release: &str) -> String {
    format!("{release}-router")
}

/// The `docker` releaser block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerReleaseConfig {
    pub port: u16,
    #[serde(default)]
    pub bind_address: Option<String>,
}

/// What the Docker releaser remembers (`ReleaseRecord.record`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerReleaseRecord {
    pub router_container_id: String,
    pub router_container_name: String,
    pub network: String,
    /// `ip:port` the router forwards to.
    pub upstream: String,
}

pub const DEFAULT_BIND_ADDRESS: &str = "127.0.0.1";
pub const DEFAULT_RESTART: &str = "unless-stopped";
pub const RESTART_POLICIES: [&str; 4] = ["no", "on-failure", "always", "unless-stopped"];

fn health_check_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "health_check",
        "How the runner decides a new generation is healthy before the apply succeeds (and before a release switches to it). \
Without this block: the container must be running, not restarting, for `interval` twice.",
        vec![
            FieldSpec::new("http_path", String, Optional, "HTTP path that must answer 2xx/3xx, e.g. `/healthz`."),
            FieldSpec::new("tcp", Bool, Optional, "Only check that the port accepts TCP connections."),
            FieldSpec::new("port", Number, Optional, "Container port to check; default: the first of `ports`."),
            FieldSpec::new("interval", String, Optional, "Time between checks (default `500ms`)."),
            FieldSpec::new("timeout", String, Optional, "Time one check may take (default `2s`)."),
            FieldSpec::new("start_period", String, Optional, "Time the generation has to become healthy (default `60s`)."),
        ],
    )
}

fn resources_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "resources",
        "Resource limits of each container.",
        vec![
            FieldSpec::new("memory", String, Optional, "Memory limit: `256m`, `1g`, or bytes."),
            FieldSpec::new("cpus", Number, Optional, "CPU limit, e.g. `0.5`."),
        ],
    )
}

pub fn platform_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "docker",
        "Runs each generation as one container `<name>-g<N>` on the Docker engine, labelled with the app, generation and a managed-by \
marker, on a user-defined network per app. The apply waits until the new generation is healthy; a container that exits, restarts \
or fails its health check fails the apply with the reason and its last 20 log lines, and the previous generation keeps serving.",
        vec![
            FieldSpec::new(
                "ports",
                NumberList,
                Optional,
                "Container ports, published on `bind_address` with a host port chosen by the engine unless set in `host_ports`.",
            ),
            FieldSpec::new("host_ports", NumberMap, Optional, "Fixed host ports by container port, e.g. `{ \"8080\" = 18080 }`."),
            FieldSpec::new("bind_address", String, Optional, "Host address ports are published on (default `127.0.0.1`)."),
            FieldSpec::new("command", StringList, Optional, "Command (arguments after the image's entrypoint); default: the image's."),
            FieldSpec::new(
                "network",
                String,
                Optional,
                "Existing network to join; default: a network for the app, created and removed with it.",
            ),
            FieldSpec::new("restart", String, Optional, "Restart policy: `no`, `on-failure`, `always` or `unless-stopped` (default)."),
            FieldSpec::new("container_id", String, Computed, "The current generation's container ID."),
        ],
    )
    .with_block(health_check_block())
    .with_block(resources_block())
}

pub fn releaser_block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "docker",
        "A stable local URL on a fixed host port, served by a small router container (the project's own static binary) that forwards \
new connections to the released generation. It switches only after that generation is healthy, with no failed requests: connections \
already open finish on the previous generation.",
        vec![
            FieldSpec::new("port", Number, Required, "Host port of the stable URL."),
            FieldSpec::new("bind_address", String, Optional, "Host address the port is published on (default `127.0.0.1`)."),
        ],
    )
}

/// Duration text as the health check takes it: `250ms`, `2s`, `1m`, `1h`, or combinations like `1m30s`.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n * 60),
            "h" => std::time::Duration::from_secs(n * 3600),
            _ => return None,
        };
    }
    Some(total)
}

fn port_problem(v: &Json) -> Option<String> {
    match v.as_f64() {
        Some(p) if p.fract() == 0.0 && (1.0..=65535.0).contains(&p) => None,
        Some(p) => Some(format!("{p} is not a port: use a whole number from 1 to 65535")),
        None => None,
    }
}

/// Checks a `docker` platform block; `null` values are unknown or unset and skipped.
pub fn validate_platform(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let ports: Vec<f64> =
        config.get("ports").and_then(Json::as_array).map(|a| a.iter().filter_map(Json::as_f64).collect()).unwrap_or_default();
    if let Some(Json::Array(items)) = config.get("ports") {
        for (i, p) in items.iter().enumerate() {
            if let Some(problem) = port_problem(p) {
                errors.push(FieldError::new(&["ports"], "Invalid port", problem).at_index(i));
            }
        }
    }
    if let Some(Json::Object(map)) = config.get("host_ports") {
        for (container, host) in map {
            let declared = container.parse::<f64>().is_ok_and(|c| ports.contains(&c));
            if !declared {
                errors.push(FieldError::new(
                    &["host_ports"],
                    "Host port for an undeclared port",
                    format!("{container:?} is not one of `ports` ({ports:?}); add it to `ports`."),
                ));
            }
            if let Some(problem) = port_problem(host) {
                errors.push(FieldError::new(&["host_ports"], "Invalid host port", problem));
            }
        }
    }
    if let Some(Json::String(restart)) = config.get("restart") {
        if !RESTART_POLICIES.contains(&restart.as_str()) {
            errors.push(FieldError::new(
                &["restart"],
                "Invalid restart policy",
                format!("{restart:?}: use one of {}.", RESTART_POLICIES.join(", ")),
            ));
        }
    }
    if let Some(Json::Array(command)) = config.get("command") {
        if command.is_empty() {
            errors.push(FieldError::new(&["command"], "Empty command", "Leave `command` unset to run the image's default command."));
        }
    }
    if let Some(hc) = config.get("health_check").filter(|h| h.is_object()) {
        let http = hc.get("http_path").is_some_and(|p| !p.is_null());
        let tcp = hc.get("tcp") == Some(&Json::Bool(true));
        if http && tcp {
            errors.push(FieldError::new(
                &["health_check", "tcp"],
                "Two kinds of health check",
                "Use either `http_path` or `tcp = true`, not both.",
            ));
        }
        if let Some(Json::String(path)) = hc.get("http_path") {
            if !path.starts_with('/') {
                errors.push(FieldError::new(
                    &["health_check", "http_path"],
                    "Invalid health check path",
                    format!("{path:?} must start with '/'."),
                ));
            }
        }
        match hc.get("port") {
            Some(p) if !p.is_null() => {
                if let Some(problem) = port_problem(p) {
                    errors.push(FieldError::new(&["health_check", "port"], "Invalid port", problem));
                } else if p.as_f64().is_some_and(|p| !ports.contains(&p)) && config.get("ports").is_some_and(|p| !p.is_null()) {
                    errors.push(FieldError::new(
                        &["health_check", "port"],
                        "Health check on an undeclared port",
                        format!("Port {p} is not one of `ports` ({ports:?}); the health check can only reach declared ports."),
                    ));
                }
            }
            _ => {
                if (http || tcp) && ports.is_empty() && config.get("ports").is_none_or(|p| !p.is_null()) {
                    errors.push(FieldError::new(
                        &["health_check"],
                        "Health check without a port",
                        "Declare the port in `ports` (or set `health_check.port`).",
                    ));
                }
            }
        }
        for field in ["interval", "timeout", "start_period"] {
            if let Some(Json::String(d)) = hc.get(field) {
                if parse_duration(d).is_none_or(|d| d.is_zero()) {
                    errors.push(FieldError::new(
                        &["health_check", field],
                        "Invalid duration",
                        format!("{d:?} is not a duration like `500ms`, `2s` or `1m`."),
                    ));
                }
            }
        }
    }
    if let Some(res) = config.get("resources").filter(|r| r.is_object()) {
        if let Some(Json::String(m)) = res.get("memory") {
            if parse_memory(m).is_none() {
                errors.push(FieldError::new(
                    &["resources", "memory"],
                    "Invalid memory",
                    format!("{m:?}: use bytes or a number with k, m or g, e.g. `256m`."),
                ));
            }
        }
        if let Some(c) = res.get("cpus").and_then(Json::as_f64) {
            if c <= 0.0 {
                errors.push(FieldError::new(&["resources", "cpus"], "Invalid cpus", format!("{c} must be more than 0.")));
            }
        }
    }
    errors
}

/// `256m` → bytes.
pub fn parse_memory(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let (number, factor) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1024),
        'm' => (&t[..t.len() - 1], 1024 * 1024),
        'g' => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        'b' => (&t[..t.len() - 1], 1),
        _ => (&t[..], 1),
    };
    let n: i64 = number.parse().ok()?;
    (n > 0).then_some(n * factor)
}

/// Checks a `docker` releaser block.
pub fn validate_releaser(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(problem) = config.get("port").and_then(port_problem) {
        errors.push(FieldError::new(&["port"], "Invalid port", problem));
    }
    errors
}

/// Any image reference the engine can run (an image ID, `repo@sha256:…`, `repo:tag`).
pub fn image_problem(image: &str) -> Option<String> {
    image.trim().is_empty().then(|| "the image reference is empty; use e.g. `app_build.web.image`.".to_string())
}

pub fn always_observes(_: &Json) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_and_memory() {
        assert_eq!(parse_duration("1m30s"), Some(std::time::Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(std::time::Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_memory("256m"), Some(256 * 1024 * 1024));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn bad_ports_and_undeclared_health_ports() {
        let e = validate_platform(&json!({"ports": [8080, 70000], "health_check": {"http_path": "/", "port": 9090}}));
        let paths: Vec<String> = e.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["ports.1", "health_check.port"]);
        assert!(validate_platform(&json!({"ports": [8080], "health_check": {"http_path": "/healthz"}})).is_empty());
        assert!(validate_platform(&json!({"ports": null, "health_check": {"http_path": "/", "port": null}})).is_empty());
        assert_eq!(validate_releaser(&json!({"port": 0}))[0].path, ["port"]);
    }
}
