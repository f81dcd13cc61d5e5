//! The `docker` platform (one container per generation) and the `docker` releaser (a stable
//! local port in front of the released generation, served by the project's own router).

use crate::field::FieldError;
use crate::validate;
use crate::Block;
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
    pub use crate::job::labels::OWNER;
}

/// The router container runs as this user (no root inside), with these limits. `app-router` holds
/// one thread and a few MiB for thousands of connections (see its crate docs).
pub const ROUTER_USER: &str = "65534:65534";
pub const ROUTER_MEMORY_BYTES: i64 = 128 * 1024 * 1024;
pub const ROUTER_PIDS_LIMIT: i64 = 64;

/// Where a router reads its upstream (`ip:port\n`), inside its container.
pub const ROUTER_UPSTREAM_FILE: &str = "/run/app-router/upstream";
/// The port a router listens on inside its container.
pub const ROUTER_PORT: u16 = 8080;

/// How the runner decides a new generation is healthy before the apply succeeds (and before a
/// release switches to it). Without this block: the container must be running, not restarting, for
/// `interval` twice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
#[block(validate = one_kind_of_check)]
pub struct HealthCheck {
    /// HTTP path that must answer 2xx/3xx, e.g. `/healthz`.
    #[serde(default)]
    #[block(validate = absolute_path)]
    pub http_path: Option<String>,
    /// Only check that the port accepts TCP connections.
    #[serde(default)]
    pub tcp: Option<bool>,
    /// Container port to check; default: the first of `ports`.
    #[serde(default)]
    #[block(validate = validate::port)]
    pub port: Option<u16>,
    /// Time between checks (default `500ms`).
    #[serde(default)]
    #[block(validate = validate::duration)]
    pub interval: Option<String>,
    /// Time one check may take (default `2s`).
    #[serde(default)]
    #[block(validate = validate::duration)]
    pub timeout: Option<String>,
    /// Time the generation has to become healthy (default `60s`).
    #[serde(default)]
    #[block(validate = validate::duration)]
    pub start_period: Option<String>,
}

/// Resource limits of each container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Memory limit: `256m`, `1g`, or bytes.
    #[serde(default)]
    #[block(validate = validate::size)]
    pub memory: Option<String>,
    /// CPU limit, e.g. `0.5`.
    #[serde(default)]
    #[block(validate = validate::positive)]
    pub cpus: Option<f64>,
}

/// Runs each generation as one container `<name>-g<N>` on the Docker engine, labelled with the app,
/// generation and a managed-by marker, on a user-defined network per app. The apply waits until the
/// new generation is healthy; a container that exits, restarts or fails its health check fails the
/// apply with the reason and its last 20 log lines, and the previous generation keeps serving.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
#[block(validate = ports_are_declared)]
pub struct DockerDeployConfig {
    /// Container ports, published on `bind_address` with a host port chosen by the engine unless set
    /// in `host_ports`.
    #[serde(default)]
    #[block(validate = validate::ports)]
    pub ports: Option<Vec<u16>>,
    /// Fixed host ports by container port, e.g. `{ "8080" = 18080 }`.
    #[serde(default)]
    #[block(validate = host_port_values)]
    pub host_ports: Option<BTreeMap<String, u16>>,
    /// Host address ports are published on: default `127.0.0.1`, or every interface (`0.0.0.0`) on a
    /// remote engine (`docker { host = "tcp://…" }` naming another machine), where the runner and
    /// users reach the app at the engine's host.
    #[serde(default)]
    pub bind_address: Option<String>,
    /// Command (arguments after the image's entrypoint); default: the image's.
    #[serde(default)]
    #[block(validate = validate::argv)]
    pub command: Option<Vec<String>>,
    /// Existing network to join; default: a network for the app, created and removed with it.
    #[serde(default)]
    #[block(validate = validate::not_blank)]
    pub network: Option<String>,
    /// Restart policy: `no`, `on-failure`, `always` or `unless-stopped` (default).
    #[serde(default)]
    #[block(validate = validate::one_of(&RESTART_POLICIES))]
    pub restart: Option<String>,
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    #[serde(default)]
    pub resources: Option<Resources>,
    /// The current generation's container ID.
    #[serde(default, skip_serializing)]
    #[block(computed)]
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
    /// The owner ID on every object of this deployment ([`labels::OWNER`]); empty in records of
    /// earlier versions (the next deploy sets it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
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

/// A stable local URL on a fixed host port, served by a small router container (the project's own
/// static binary) that forwards new connections to the released generation. It switches only after
/// that generation is healthy, with no failed requests: connections already open finish on the
/// previous generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
pub struct DockerReleaseConfig {
    /// Host port of the stable URL.
    #[block(validate = validate::port)]
    pub port: u16,
    /// Host address the port is published on: default `127.0.0.1`, or every interface (`0.0.0.0`) on a
    /// remote engine, where `url` names the engine's host.
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
    /// The owner ID on the router ([`labels::OWNER`]); empty in records of earlier versions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

pub const DEFAULT_BIND_ADDRESS: &str = "127.0.0.1";
pub const DEFAULT_RESTART: &str = "unless-stopped";
pub const RESTART_POLICIES: [&str; 4] = ["no", "on-failure", "always", "unless-stopped"];

fn absolute_path(value: &Json) -> Vec<FieldError> {
    match value.as_str() {
        Some(path) if !path.starts_with('/') => {
            vec![FieldError::here("Invalid health check path", format!("{path:?} must start with '/'."))]
        }
        _ => Vec::new(),
    }
}

fn one_kind_of_check(hc: &Json) -> Vec<FieldError> {
    let http = hc.get("http_path").is_some_and(|p| !p.is_null());
    if http && hc.get("tcp") == Some(&Json::Bool(true)) {
        return vec![FieldError::new(&["tcp"], "Two kinds of health check", "Use either `http_path` or `tcp = true`, not both.")];
    }
    Vec::new()
}

fn host_port_values(value: &Json) -> Vec<FieldError> {
    let Some(map) = value.as_object() else { return Vec::new() };
    map.iter()
        .filter(|(_, port)| !port.is_null())
        .flat_map(|(key, port)| {
            validate::port(port)
                .into_iter()
                .map(move |e| FieldError { summary: "Invalid host port".into(), ..e.under(std::slice::from_ref(key)) })
        })
        .collect()
}

/// `host_ports` and the health check may only name declared `ports`.
fn ports_are_declared(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let ports_known = config.get("ports").is_some_and(|p| !p.is_null());
    let ports: Vec<u64> =
        config.get("ports").and_then(Json::as_array).map(|a| a.iter().filter_map(Json::as_u64).collect()).unwrap_or_default();
    if let Some(Json::Object(map)) = config.get("host_ports") {
        for container in map.keys() {
            if !container.parse::<u64>().is_ok_and(|c| ports.contains(&c)) {
                errors.push(FieldError::new(
                    &["host_ports", container.as_str()],
                    "Host port for an undeclared port",
                    format!("{container:?} is not one of `ports` ({ports:?}); add it to `ports`."),
                ));
            }
        }
    }
    let Some(hc) = config.get("health_check").filter(|h| h.is_object()) else { return errors };
    let probes = hc.get("http_path").is_some_and(|p| !p.is_null()) || hc.get("tcp") == Some(&Json::Bool(true));
    match hc.get("port").filter(|p| !p.is_null()) {
        Some(port) => {
            if let Some(p) = port.as_u64().filter(|p| ports_known && !ports.contains(p)) {
                errors.push(FieldError::new(
                    &["health_check", "port"],
                    "Health check on an undeclared port",
                    format!("Port {p} is not one of `ports` ({ports:?}); the health check can only reach declared ports."),
                ));
            }
        }
        None => {
            if probes && ports.is_empty() && config.get("ports").is_none_or(|p| !p.is_null()) {
                errors.push(FieldError::new(
                    &["health_check"],
                    "Health check without a port",
                    "Declare the port in `ports` (or set `health_check.port`).",
                ));
            }
        }
    }
    errors
}

/// Any image reference the engine can run (an image ID, `repo@sha256:…`, `repo:tag`).
pub fn image_problem(image: &str) -> Option<String> {
    image.trim().is_empty().then(|| "the image reference is empty; use e.g. `app_build.web.image`.".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_ports_and_undeclared_health_ports() {
        let e = DockerDeployConfig::validate(&json!({"ports": [8080, 70000], "health_check": {"http_path": "/", "port": 9090}}));
        let paths: Vec<String> = e.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["ports.1", "health_check.port"]);
        assert!(DockerDeployConfig::validate(&json!({"ports": [8080], "health_check": {"http_path": "/healthz"}})).is_empty());
        assert!(DockerDeployConfig::validate(&json!({"ports": null, "health_check": {"http_path": "/", "port": null}})).is_empty());
        assert_eq!(DockerReleaseConfig::validate(&json!({"port": 0}))[0].path, ["port"]);
    }

    #[test]
    fn overflowing_durations_and_sizes_are_diagnostics() {
        let e = DockerDeployConfig::validate(&json!({"ports": [8080], "health_check": {"interval": "18446744073709551615s1s"}}));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].path, ["health_check", "interval"]);
        let e = DockerDeployConfig::validate(&json!({"resources": {"memory": "99999999999999g", "cpus": -1}}));
        let paths: Vec<String> = e.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["resources.memory", "resources.cpus"]);
    }

    #[test]
    fn host_ports_name_declared_ports() {
        let e = DockerDeployConfig::validate(&json!({"ports": [8080], "host_ports": {"9090": 18080, "8080": 0}}));
        let paths: Vec<String> = e.iter().map(|e| e.path.join(".")).collect();
        assert_eq!(paths, ["host_ports.8080", "host_ports.9090"]);
    }
}
