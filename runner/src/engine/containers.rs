//! Containers, networks, files inside containers and container logs: what the `docker` platform
//! and the `docker` releaser need from the engine.
//!
//! Nothing here knows about deployments or releases: callers name containers and networks and
//! give labels. Every "not found" is an `Ok(None)` / `Ok(false)`, never an error.

use super::docker::{DockerEngine, EngineError};
use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, ListContainersOptions, ListNetworksOptions, LogsOptions, RemoveContainerOptions,
    StopContainerOptions, UploadToContainerOptions,
};
use bollard::{body_full, errors::Error as BollardError};
use bytes::Bytes;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub container_port: u16,
    /// Host address to bind, e.g. `127.0.0.1`.
    pub host_ip: String,
    /// `None`: the engine picks a free port.
    pub host_port: Option<u16>,
}

/// What to create.
#[derive(Clone, Default, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Replaces the image's entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's command when set.
    pub command: Option<Vec<String>>,
    /// `no`, `on-failure`, `always`, `unless-stopped`.
    pub restart: String,
    /// Bytes.
    pub memory: Option<i64>,
    /// CPUs × 10⁹.
    pub nano_cpus: Option<i64>,
    pub ports: Vec<PublishedPort>,
    /// The (user-defined) network to attach the container to, instead of the default bridge.
    pub network: Option<String>,
    /// DNS names of the container on `network`.
    pub aliases: Vec<String>,
    /// `uid:gid` to run as instead of the image's user.
    pub user: Option<String>,
    /// Most processes and threads the container may have.
    pub pids_limit: Option<i64>,
}

/// The environment holds `secret_env` values: names only.
impl std::fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("env", &crate::redact::Names(&self.env))
            .field("labels", &self.labels)
            .field("entrypoint", &self.entrypoint)
            .field("command", &self.command)
            .field("restart", &self.restart)
            .field("memory", &self.memory)
            .field("nano_cpus", &self.nano_cpus)
            .field("ports", &self.ports)
            .field("network", &self.network)
            .field("aliases", &self.aliases)
            .field("user", &self.user)
            .field("pids_limit", &self.pids_limit)
            .finish()
    }
}

/// A host address and port a container port is published on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBinding {
    pub host_ip: String,
    pub host_port: u16,
}

/// What the engine says about a container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// The image ID it runs.
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `restarting`, `exited`, …
    pub status: String,
    pub running: bool,
    pub restarting: bool,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// The engine's error, e.g. why it could not start.
    pub error: String,
    pub restart_count: i64,
    pub started_at: String,
    /// The network the container was created on (`HostConfig.NetworkMode`).
    pub network_mode: String,
    /// Network name → the container's IPv4 address on it (empty when not running).
    pub networks: BTreeMap<String, String>,
    /// Container TCP port → where it is published now (first binding; empty when not running).
    pub published: BTreeMap<u16, HostBinding>,
    /// Container TCP port → the binding it was created with (host port `None` = engine's choice).
    pub configured_ports: BTreeMap<u16, (String, Option<u16>)>,
}

impl ContainerInfo {
    /// The state in words: `running`, `exited with code 1`, `exited with code 137 (out of memory)`, ….
    pub fn describe_state(&self) -> String {
        match self.status.as_str() {
            "running" => "running".into(),
            "restarting" => format!("restarting (last exit code {})", self.exit_code),
            "exited" | "dead" => {
                let mut text = format!("{} with code {}", self.status, self.exit_code);
                if self.oom_killed {
                    text.push_str(" (killed: out of memory)");
                }
                if !self.error.is_empty() {
                    text.push_str(&format!(" ({})", self.error));
                }
                text
            }
            "created" if !self.error.is_empty() => format!("created but not started: {}", self.error),
            "created" => "created but not started".into(),
            other => other.to_string(),
        }
    }

    /// Host port of container TCP port `port`, as published now.
    pub fn host_port(&self, port: u16) -> Option<u16> {
        self.published.get(&port).map(|b| b.host_port)
    }
}

/// A container as the list endpoint shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `running`, `exited`, …
    pub state: String,
}

/// What the engine says about a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    /// Attached containers: ID → name.
    pub containers: BTreeMap<String, String>,
}

/// How many log lines a failed container's tail keeps.
pub const LOG_TAIL_LINES: usize = 20;

fn api(action: impl Into<String>, e: BollardError) -> EngineError {
    let message = match e {
        BollardError::DockerResponseServerError { status_code, message } => format!("{} (HTTP {status_code})", message.trim()),
        other => other.to_string(),
    };
    EngineError::Api { action: action.into(), message }
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code: 404, .. })
}

fn label_filters(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let values = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    HashMap::from([("label".to_string(), values)])
}

fn strip_slash(name: &str) -> String {
    name.strip_prefix('/').unwrap_or(name).to_string()
}

/// Parses `8080/tcp`; other protocols are not ours.
fn tcp_port(key: &str) -> Option<u16> {
    key.strip_suffix("/tcp").and_then(|p| p.parse().ok())
}

fn restart_policy(name: &str) -> RestartPolicyNameEnum {
    match name {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::UNLESS_STOPPED,
    }
}

fn container_info(c: ContainerInspectResponse) -> ContainerInfo {
    let state = c.state.unwrap_or_default();
    let settings = c.network_settings.unwrap_or_default();
    let host_config = c.host_config.unwrap_or_default();
    let networks =
        settings.networks.unwrap_or_default().into_iter().map(|(name, endpoint)| (name, endpoint.ip_address.unwrap_or_default())).collect();
    let published = settings
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, bindings)| {
            let port = tcp_port(&key)?;
            let binding = bindings?.into_iter().find_map(|b| {
                let host_port = b.host_port.as_deref()?.parse().ok()?;
                Some(HostBinding { host_ip: b.host_ip.unwrap_or_default(), host_port })
            })?;
            Some((port, binding))
        })
        .collect();
    let configured_ports = host_config
        .port_bindings
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, bindings)| {
            let port = tcp_port(&key)?;
            let b = bindings?.into_iter().next()?;
            let host_port = b.host_port.as_deref().and_then(|p| p.parse().ok());
            Some((port, (b.host_ip.unwrap_or_default(), host_port)))
        })
        .collect();
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: strip_slash(&c.name.unwrap_or_default()),
        image_id: c.image.unwrap_or_default(),
        labels: c.config.and_then(|c| c.labels).unwrap_or_default().into_iter().collect(),
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        running: state.running.unwrap_or(false),
        restarting: state.restarting.unwrap_or(false),
        exit_code: state.exit_code.unwrap_or_default(),
        oom_killed: state.oom_killed.unwrap_or(false),
        error: state.error.unwrap_or_default(),
        restart_count: c.restart_count.unwrap_or_default(),
        started_at: state.started_at.unwrap_or_default(),
        network_mode: host_config.network_mode.unwrap_or_default(),
        networks,
        published,
        configured_ports,
    }
}

/// A tar that extracts `contents` at the absolute `path` when uploaded to `/`, with entries for
/// every parent directory (the archive endpoint only extracts into existing directories, and a
/// `FROM scratch` image has almost none).
pub fn file_tar(path: &str, contents: &[u8], mode: u32) -> std::io::Result<Vec<u8>> {
    let relative = path.trim_start_matches('/');
    let mut builder = tar::Builder::new(Vec::new());
    let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
    let Some((file, dirs)) = parts.split_last() else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{path:?} names no file")));
    };
    let mut prefix = String::new();
    for dir in dirs {
        prefix.push_str(dir);
        prefix.push('/');
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(0);
        builder.append_data(&mut header, &prefix, std::io::empty())?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(mode);
    header.set_size(contents.len() as u64);
    header.set_mtime(0);
    builder.append_data(&mut header, format!("{prefix}{file}"), contents)?;
    builder.into_inner()
}

impl DockerEngine {
    /// Creates (does not start) a container; returns its ID.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let port_key = |p: u16| format!("{p}/tcp");
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
            .ports
            .iter()
            .map(|p| {
                let binding = PortBinding {
                    host_ip: Some(p.host_ip.clone()),
                    host_port: Some(p.host_port.map(|h| h.to_string()).unwrap_or_default()),
                };
                (port_key(p.container_port), Some(vec![binding]))
            })
            .collect();
        let host_config = HostConfig {
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            restart_policy: Some(RestartPolicy { name: Some(restart_policy(&spec.restart)), maximum_retry_count: None }),
            memory: spec.memory,
            nano_cpus: spec.nano_cpus,
            pids_limit: spec.pids_limit,
            network_mode: spec.network.clone(),
            ..Default::default()
        };
        let networking_config = spec.network.as_ref().map(|network| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.clone(),
                EndpointSettings { aliases: (!spec.aliases.is_empty()).then(|| spec.aliases.clone()), ..Default::default() },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.command.clone(),
            user: spec.user.clone(),
            exposed_ports: (!spec.ports.is_empty()).then(|| spec.ports.iter().map(|p| port_key(p.container_port)).collect()),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some(spec.name.clone()), ..Default::default() };
        let created = self.docker.create_container(Some(options), body).await.map_err(|e| match e {
            BollardError::DockerResponseServerError { status_code: 404, .. } => EngineError::NoSuchImage { reference: spec.image.clone() },
            e => api(format!("creating container {}", spec.name), e),
        })?;
        Ok(created.id)
    }

    /// Starts a created (or stopped) container.
    pub async fn start_container(&self, container: &str) -> Result<(), EngineError> {
        self.docker.start_container(container, None).await.map_err(|e| api(format!("starting container {container}"), e))
    }

    /// The container `container` (name or ID) names, or `None`.
    pub async fn inspect_container(&self, container: &str) -> Result<Option<ContainerInfo>, EngineError> {
        match self.docker.inspect_container(container, None).await {
            Ok(c) => Ok(Some(container_info(c))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api(format!("inspecting container {container}"), e)),
        }
    }

    /// A container's environment (`Config.Env`). Kept out of [`ContainerInfo`] because it holds
    /// secret values: only the secret comparison at plan time reads it, and never logs it.
    pub async fn container_env(&self, container: &str) -> Result<Option<BTreeMap<String, String>>, EngineError> {
        match self.docker.inspect_container(container, None).await {
            Ok(c) => Ok(Some(
                c.config
                    .and_then(|c| c.env)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect(),
            )),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api(format!("inspecting container {container}"), e)),
        }
    }

    /// Stops a container (SIGTERM, SIGKILL after `grace`) so its restart policy leaves it
    /// stopped. `false` when it did not exist; stopping a stopped container is not an error.
    pub async fn stop_container(&self, container: &str, grace: std::time::Duration) -> Result<bool, EngineError> {
        let options = StopContainerOptions { t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)), signal: None };
        match self.docker.stop_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(BollardError::DockerResponseServerError { status_code: 304, .. }) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(api(format!("stopping container {container}"), e)),
        }
    }

    /// Removes a container, running or not, with its anonymous volumes. `false` when it did not exist.
    pub async fn remove_container(&self, container: &str) -> Result<bool, EngineError> {
        let options = RemoveContainerOptions { force: true, v: true, link: false };
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(api(format!("removing container {container}"), e)),
        }
    }

    /// Every container (running or not) carrying all of `labels`.
    pub async fn list_containers(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>, EngineError> {
        let options = ListContainersOptions { all: true, filters: Some(label_filters(labels)), ..Default::default() };
        let list = self.docker.list_containers(Some(options)).await.map_err(|e| api("listing containers", e))?;
        Ok(list
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id.unwrap_or_default(),
                name: c.names.and_then(|n| n.into_iter().next()).map(|n| strip_slash(&n)).unwrap_or_default(),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    /// The last `lines` lines the container wrote (stdout and stderr, interleaved as logged).
    pub async fn container_logs(&self, container: &str, lines: usize) -> Result<Vec<String>, EngineError> {
        let options = LogsOptions { stdout: true, stderr: true, tail: lines.to_string(), ..Default::default() };
        let mut stream = self.docker.logs(container, Some(options));
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message }) => {
                    text.push_str(&String::from_utf8_lossy(&message));
                }
                Ok(LogOutput::StdIn { .. }) => {}
                Err(e) if is_not_found(&e) => return Ok(Vec::new()),
                Err(e) => return Err(api(format!("reading the logs of {container}"), e)),
            }
        }
        let all: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        Ok(all[all.len().saturating_sub(lines)..].to_vec())
    }

    /// Writes `contents` to the absolute `path` inside the container (created, running or
    /// stopped), creating parent directories.
    pub async fn put_file(&self, container: &str, path: &str, contents: &[u8]) -> Result<(), EngineError> {
        let tar = file_tar(path, contents, 0o644)
            .map_err(|e| EngineError::Api { action: format!("packing {path} for {container}"), message: e.to_string() })?;
        let options = UploadToContainerOptions { path: "/".into(), ..Default::default() };
        self.docker
            .upload_to_container(container, Some(options), body_full(Bytes::from(tar)))
            .await
            .map_err(|e| api(format!("writing {path} in container {container}"), e))
    }

    /// The contents of the regular file `path` inside the container; `None` when the container
    /// or the file does not exist.
    pub async fn read_file(&self, container: &str, path: &str) -> Result<Option<Vec<u8>>, EngineError> {
        let options = DownloadFromContainerOptions { path: path.to_string() };
        let mut stream = self.docker.download_from_container(container, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => archive.extend_from_slice(&bytes),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(api(format!("reading {path} in container {container}"), e)),
            }
        }
        let unreadable =
            |e: std::io::Error| EngineError::Api { action: format!("reading {path} in container {container}"), message: e.to_string() };
        let mut tar = tar::Archive::new(archive.as_slice());
        for entry in tar.entries().map_err(unreadable)? {
            let mut entry = entry.map_err(unreadable)?;
            if entry.header().entry_type().is_file() {
                let mut contents = Vec::new();
                entry.read_to_end(&mut contents).map_err(unreadable)?;
                return Ok(Some(contents));
            }
        }
        Ok(None)
    }

    /// The network `network` (name or ID) names, or `None`.
    pub async fn inspect_network(&self, network: &str) -> Result<Option<NetworkInfo>, EngineError> {
        match self.docker.inspect_network(network, None).await {
            Ok(n) => Ok(Some(NetworkInfo {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                driver: n.driver.unwrap_or_default(),
                labels: n.labels.unwrap_or_default().into_iter().collect(),
                containers: n
                    .containers
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(id, endpoint)| (id, endpoint.name.unwrap_or_default()))
                    .collect(),
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api(format!("inspecting network {network}"), e)),
        }
    }

    /// Names of the networks carrying all of `labels`.
    pub async fn list_networks(&self, labels: &[(&str, &str)]) -> Result<Vec<String>, EngineError> {
        let options = ListNetworksOptions { filters: Some(label_filters(labels)) };
        let list = self.docker.list_networks(Some(options)).await.map_err(|e| api("listing networks", e))?;
        Ok(list.into_iter().filter_map(|n| n.name).collect())
    }

    /// Creates a bridge network; returns its ID.
    pub async fn create_network(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<String, EngineError> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            ..Default::default()
        };
        let created = self.docker.create_network(request).await.map_err(|e| api(format!("creating network {name}"), e))?;
        Ok(created.id)
    }

    /// Removes a network. `false` when it did not exist.
    pub async fn remove_network(&self, network: &str) -> Result<bool, EngineError> {
        match self.docker.remove_network(network).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(api(format!("removing network {network}"), e)),
        }
    }

    /// Detaches a container from a network (`force`: also a stopped one). `false` when either is gone.
    pub async fn disconnect_network(&self, network: &str, container: &str) -> Result<bool, EngineError> {
        let request = NetworkDisconnectRequest { container: container.to_string(), force: Some(true) };
        match self.docker.disconnect_network(network, request).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(api(format!("disconnecting container {container} from network {network}"), e)),
        }
    }

    /// Attaches a container to a network (with DNS `aliases` on it).
    pub async fn connect_network(&self, network: &str, container: &str, aliases: &[String]) -> Result<(), EngineError> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings { aliases: (!aliases.is_empty()).then(|| aliases.to_vec()), ..Default::default() }),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| api(format!("connecting container {container} to network {network}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_tars_carry_their_parent_directories() {
        let tar = file_tar("/run/app-router/upstream", b"172.18.0.2:8080\n", 0o644).expect("tar");
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, bool)> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (e.path().expect("path").display().to_string(), e.header().entry_type().is_dir())
            })
            .collect();
        assert_eq!(
            entries,
            [("run/".to_string(), true), ("run/app-router/".to_string(), true), ("run/app-router/upstream".to_string(), false)]
        );
        assert!(file_tar("/", b"", 0o644).is_err());
    }

    #[test]
    fn states_read_well() {
        let info = ContainerInfo { status: "exited".into(), exit_code: 137, oom_killed: true, ..Default::default() };
        assert_eq!(info.describe_state(), "exited with code 137 (killed: out of memory)");
        assert_eq!(ContainerInfo { status: "running".into(), ..Default::default() }.describe_state(), "running");
    }
}
