//! The `docker` platform: one container per generation on the Docker engine. Semantics are those
//! documented on `app_spec::docker_deploy::platform_block`; the details:
//!
//! DEPLOY of generation N:
//! 1. Network: `network` when set (it must exist); else `app-<name>`, created with our labels
//!    when missing and reused when it carries them (a network of that name without them is an
//!    error: it is someone else's).
//! 2. Image: used as given (`sha256:…` image ID, `repo@sha256:…`, `repo:tag`). Nothing is pulled
//!    unless the engine lacks the image and it is a registry reference: then it is pulled once,
//!    without credentials, and a failure says so.
//! 3. Container `<name>-g<N>` (one left by an earlier failed attempt is removed first) with the
//!    env and secret env, the user's labels plus ours (app, generation, role, first port,
//!    managed-by), the command, restart policy, resource limits, the ports published on
//!    `bind_address` (engine-chosen host ports unless `host_ports` fixes them), attached to the
//!    network with the DNS alias `<name>`.
//! 4. Health: HTTP (`http_path` must answer 2xx/3xx), TCP (connect), or without a health check the
//!    container must keep running, not restarting, for two intervals. Probes go to the published
//!    host port on the bind address (`127.0.0.1` for a wildcard bind). The container exiting or
//!    restarting, or no success within `start_period`, fails the job with the reason and the
//!    container's last 20 log lines. **The failed container is kept, stopped** (recorded with
//!    `failed = true`) so it can be inspected (`docker logs`, `docker inspect`) but neither gets
//!    traffic through the app's DNS alias nor can be released; the previous generations are
//!    untouched and keep serving. The retry of the same generation removes it first; any later
//!    success removes it.
//! 5. Before the new generation starts: generations older than the `keep` newest older ones are removed (also failed
//!    ones and unrecorded ones carrying our labels) — except a generation a router of this app
//!    forwards to (its upstream file is read through the engine), which stays until the release
//!    moves on.
//!
//! STATUS: the current generation's container running → `ready` (url and host ports refreshed);
//! stopped, exited or removed (`docker rm -f`) → `drifted` with what happened, so the plan shows a
//! new generation and the apply restores service. Without a record (import of `<name>/<N>`), the
//! container `<name>-g<N>` is looked up; when it does not exist the deployment is gone.
//!
//! DESTROY removes every container of the app carrying our labels (all generations, recorded or
//! not), then the app's network if this platform created it. A network still used by other
//! containers (e.g. the router of a release not destroyed yet) is reported and the destroy fails,
//! recording what is left.

use super::docker_build::{engine_failure, failed, logged};
use crate::context::JobContext;
use crate::engine::containers::{ContainerInfo, ContainerSpec, PublishedPort, LOG_TAIL_LINES};
use crate::engine::docker::{DockerEngine, EngineError};
use crate::platform::{new_owner_id, to_json, Deployment, Destroyer, Outcome, Platform, PlatformError, Status};
use app_spec::docker_deploy::{
    container_name, default_network, labels as deploy_labels, DockerDeployConfig, DockerDeployRecord, GenerationRecord,
    DEFAULT_BIND_ADDRESS, DEFAULT_RESTART, ROUTER_UPSTREAM_FILE,
};
use app_spec::job::{labels, owned_by, status, DeploymentRecord, DeploymentRequest};
use async_trait::async_trait;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct DockerDeploy;

pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_START_PERIOD: Duration = Duration::from_secs(60);
/// How long a failed container gets to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(1);

fn parse_config(request: &DeploymentRequest) -> Result<DockerDeployConfig, PlatformError> {
    if request.config.is_null() {
        return Ok(DockerDeployConfig::default());
    }
    serde_json::from_value(request.config.clone()).map_err(|e| PlatformError::InvalidRequest(format!("invalid docker platform block: {e}")))
}

/// What tells a new generation is healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// GET `path` on the published host port of container port `port` answers 2xx/3xx.
    Http { path: String, port: u16 },
    /// The published host port of `port` accepts a TCP connection.
    Tcp { port: u16 },
    /// Running, not restarted, for two intervals.
    Running,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
}

fn duration(value: Option<&String>, field: &str, default: Duration) -> Result<Duration, PlatformError> {
    match value.map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(text) => app_spec::units::parse_positive_duration(text).map_err(|e| {
            PlatformError::InvalidRequest(format!(
                "health_check.{field} = {text:?} is not a usable duration ({e}): write it like `500ms`, `2s` or `1m`"
            ))
        }),
    }
}

/// The health check of a block, with its defaults.
pub fn health(config: &DockerDeployConfig) -> Result<Health, PlatformError> {
    let hc = config.health_check.clone().unwrap_or_default();
    let port = hc.port.or_else(|| config.ports.as_ref().and_then(|p| p.first().copied()));
    let http_path = hc.http_path.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let no_port = |what: &str| {
        PlatformError::InvalidRequest(format!("the {what} health check needs a port: declare it in `ports` (or set `health_check.port`)"))
    };
    let check = match (http_path, hc.tcp == Some(true)) {
        (Some(_), true) => return Err(PlatformError::InvalidRequest("use either health_check.http_path or tcp = true, not both".into())),
        (Some(path), false) => Check::Http { path: path.to_string(), port: port.ok_or_else(|| no_port("HTTP"))? },
        (None, true) => Check::Tcp { port: port.ok_or_else(|| no_port("TCP"))? },
        (None, false) => Check::Running,
    };
    Ok(Health {
        check,
        interval: duration(hc.interval.as_ref(), "interval", DEFAULT_INTERVAL)?,
        timeout: duration(hc.timeout.as_ref(), "timeout", DEFAULT_PROBE_TIMEOUT)?,
        start_period: duration(hc.start_period.as_ref(), "start_period", DEFAULT_START_PERIOD)?,
    })
}

/// Where the runner reaches what an engine publishes. A local engine publishes on this machine
/// (default bind address `127.0.0.1`). A remote one — `tcp://` to another host — publishes on that
/// host, whose loopback the runner cannot reach: there the default bind address is every interface
/// (`0.0.0.0`), and probes, the release's checks and URLs use the engine's host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    remote: Option<String>,
}

impl Reach {
    pub fn of(engine: &DockerEngine) -> Self {
        Self { remote: engine.remote_host() }
    }

    /// An engine on the host `host` (for tests: `None` is a local engine).
    pub fn remote(host: Option<&str>) -> Self {
        Self { remote: host.map(str::to_string) }
    }

    pub fn is_local(&self) -> bool {
        self.remote.is_none()
    }

    /// `bind_address`, or this engine's default.
    pub fn bind(&self, configured: Option<&str>) -> String {
        let default = if self.remote.is_some() { "0.0.0.0" } else { DEFAULT_BIND_ADDRESS };
        configured.map(str::trim).filter(|b| !b.is_empty()).unwrap_or(default).to_string()
    }

    /// The host to connect to for a port published on `bind`; an error when the runner cannot
    /// reach it (loopback of a remote engine's host).
    pub fn host(&self, bind: &str) -> Result<String, String> {
        let bind = bind.trim().trim_start_matches('[').trim_end_matches(']');
        let wildcard = matches!(bind, "" | "0.0.0.0" | "::");
        let loopback = bind.eq_ignore_ascii_case("localhost") || bind.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match &self.remote {
            None if bind.is_empty() || bind == "0.0.0.0" => Ok("127.0.0.1".into()),
            None if bind == "::" => Ok("::1".into()),
            Some(host) if wildcard => Ok(host.clone()),
            Some(host) if loopback => Err(format!(
                "bind_address {bind} publishes on the loopback interface of the engine's host {host}, which the runner cannot reach: leave `bind_address` unset (every interface of that host) or set one of its addresses"
            )),
            _ => Ok(bind.to_string()),
        }
    }

    /// `http://host:port` for a port published on `bind`, with IPv6 hosts in brackets.
    pub fn url(&self, bind: &str, port: u16) -> Result<String, String> {
        let host = self.host(bind)?;
        Ok(if host.contains(':') { format!("http://[{host}]:{port}") } else { format!("http://{host}:{port}") })
    }
}

async fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Err(_) => Err(format!("no connection within {timeout:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// Whether `host:port` accepts a TCP connection within `timeout`.
///
/// A published port is served by dockerd's userland proxy, which accepts connections even when
/// the container behind it is down and then closes them at once: a connection that is closed
/// within a short grace period does not count.
pub async fn tcp_probe(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    const CLOSED_WITHIN: Duration = Duration::from_millis(150);
    let mut stream = connect(host, port, timeout).await?;
    let mut buf = [0u8; 1];
    match tokio::time::timeout(CLOSED_WITHIN, stream.read(&mut buf)).await {
        Ok(Ok(0)) => Err(format!("{host}:{port} accepted the connection and closed it at once (nothing listens behind it)")),
        Ok(Err(e)) => Err(format!("{host}:{port}: {e}")),
        Ok(Ok(_)) | Err(_) => Ok(()),
    }
}

/// Whether `host:port` accepts a TCP connection (a container's own address: no proxy in between).
pub async fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    connect(host, port, timeout).await.map(drop)
}

/// The first bytes of what `host:port` answers to a plain HTTP/1.1 GET of `path`, within `timeout`.
async fn http_exchange(host: &str, port: u16, path: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let work = async {
        let mut stream = connect(host, port, timeout).await?;
        let host_header = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: app-runner\r\nAccept: */*\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("sending the request failed: {e}"))?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 512];
        while answer.len() < 1024 && !answer.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if answer.is_empty() => return Err(format!("reading the answer failed: {e}")),
                Err(_) => break,
            }
        }
        Ok(answer)
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| format!("no answer within {timeout:?}"))?
}

/// The HTTP status `host:port` answers to GET `path`.
pub async fn http_probe(host: &str, port: u16, path: &str, timeout: Duration) -> Result<u16, String> {
    let answer = http_exchange(host, port, path, timeout).await?;
    if answer.is_empty() {
        return Err("the connection was closed without an answer".into());
    }
    let line = String::from_utf8_lossy(&answer);
    let line = line.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse::<u16>().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!("the answer is not HTTP: {:?}", line.chars().take(60).collect::<String>())),
    }
}

/// The labels that mark a container as a generation of app `name`.
fn deployment_filter(name: &str) -> [(&str, &str); 3] {
    [(deploy_labels::APP, name), (deploy_labels::ROLE, deploy_labels::ROLE_DEPLOYMENT), (labels::MANAGED_BY, labels::MANAGED_BY_VALUE)]
}

/// The platform's record inside a deployment record; empty when there is none or it is not ours.
fn docker_record(prior: Option<&DeploymentRecord>) -> DockerDeployRecord {
    prior.and_then(|p| serde_json::from_value(p.record.clone()).ok()).unwrap_or_default()
}

fn failed_generations(record: &DockerDeployRecord) -> BTreeSet<u64> {
    record.generations.iter().filter(|g| g.failed).map(|g| g.generation).collect()
}

/// Whose containers and network these are ([`owned_by`]): the record's owner ID, and what the
/// record lists (ours even without an owner label: objects of earlier versions).
#[derive(Debug, Clone, Default)]
struct Ownership {
    owner: String,
    recorded: BTreeSet<String>,
    /// The network the record says this deployment created.
    network: Option<String>,
    /// An import: everything of the app is taken over, whoever created it.
    adopt_all: bool,
}

impl Ownership {
    fn of(record: &DockerDeployRecord) -> Self {
        Self {
            owner: record.owner.clone(),
            recorded: record.generations.iter().map(|g| g.container_id.clone()).collect(),
            network: Some(record.network.clone()).filter(|n| record.network_created && !n.is_empty()),
            adopt_all: false,
        }
    }

    /// An import takes over every object of the app (the other state is told to let go).
    fn adopting(owner: &str) -> Self {
        Self { owner: owner.to_string(), adopt_all: true, ..Self::default() }
    }

    fn owns_container(&self, id: &str, object_labels: &BTreeMap<String, String>) -> bool {
        self.adopt_all || owned_by(object_labels.get(deploy_labels::OWNER).map(String::as_str), &self.owner, self.recorded.contains(id))
    }

    fn owns_network(&self, name: &str, object_labels: &BTreeMap<String, String>) -> bool {
        self.adopt_all
            || owned_by(object_labels.get(deploy_labels::OWNER).map(String::as_str), &self.owner, self.network.as_deref() == Some(name))
    }
}

/// Refuses to deploy over containers of app `name` that this resource did not create (another
/// configuration's, or a state that was lost): naming them and how to take them over.
async fn refuse_foreign(
    ctx: &JobContext,
    engine: &DockerEngine,
    name: &str,
    ownership: &Ownership,
    keep_json: &str,
) -> Result<(), PlatformError> {
    let containers = engine.list_containers(&deployment_filter(name)).await.map_err(|e| engine_failure(ctx, e, keep_json))?;
    let foreign: Vec<String> = containers
        .iter()
        .filter(|c| !ownership.owns_container(&c.id, &c.labels))
        .map(|c| format!("{} (owner {})", c.name, c.labels.get(deploy_labels::OWNER).map_or("unrecorded", String::as_str)))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(failed(
        ctx,
        foreign_message(engine, "deployment", name, &foreign.join(", "), &format!("app_deployment.<resource> docker:{name}")),
        "",
        keep_json,
    ))
}

/// What to say when objects of a name belong to another resource.
pub(crate) fn foreign_message(engine: &DockerEngine, kind: &str, name: &str, objects: &str, import: &str) -> String {
    format!(
        "a {kind} named {name} already exists on the Docker engine at {} and this resource did not create it: {objects}. Another Terraform \
configuration (or a state that lost it) manages it, and it is left as it is. To manage it from this configuration, remove it from the \
other state and import it here (`terraform import {import}`); or choose another name.",
        engine.address()
    )
}

fn generation_of(labels: &BTreeMap<String, String>) -> Option<u64> {
    labels.get(deploy_labels::GENERATION).and_then(|g| g.parse().ok())
}

/// Every container of app `name` this resource owns as a record, oldest first; `failed` marks those generations.
async fn live_generations(
    engine: &DockerEngine,
    name: &str,
    failed: &BTreeSet<u64>,
    ownership: &Ownership,
) -> Result<Vec<GenerationRecord>, EngineError> {
    let mut generations = Vec::new();
    for summary in engine.list_containers(&deployment_filter(name)).await? {
        if !ownership.owns_container(&summary.id, &summary.labels) {
            continue;
        }
        let Some(generation) = generation_of(&summary.labels) else { continue };
        let host_ports = match engine.inspect_container(&summary.id).await? {
            Some(info) => info.published.iter().map(|(port, b)| (*port, b.host_port)).collect(),
            None => continue,
        };
        generations.push(GenerationRecord {
            generation,
            container_id: summary.id,
            container_name: summary.name,
            host_ports,
            failed: failed.contains(&generation),
        });
    }
    generations.sort_by_key(|g| (g.generation, g.container_name.clone()));
    Ok(generations)
}

/// The configuration an import restores (no secret values: `secret_env` is write-only).
fn deployment_config_label(request: &DeploymentRequest) -> String {
    let mut config = request.config.clone();
    if let Some(block) = config.as_object_mut() {
        block.remove("container_id");
    }
    serde_json::json!({ "image": request.image, "env": request.env, "labels": request.labels, "config": config }).to_string()
}

/// What an import observes: the configuration label of the generation's container.
fn observed_from(info_labels: &std::collections::BTreeMap<String, String>) -> Option<app_spec::job::Observed> {
    let label: Json = serde_json::from_str(info_labels.get(deploy_labels::DEPLOYMENT_CONFIG)?).ok()?;
    let strings = |v: &Json| -> std::collections::BTreeMap<String, String> {
        v.as_object().map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()).unwrap_or_default()
    };
    Some(app_spec::job::Observed {
        image: label.get("image").and_then(Json::as_str).map(str::to_string),
        env: strings(&label["env"]),
        labels: strings(&label["labels"]),
        config: label.get("config").and_then(Json::as_object).cloned().unwrap_or_default(),
    })
}

/// IPs the routers of app `name` forward to; `None` when one could not be read.
async fn routed_ips(ctx: &JobContext, engine: &DockerEngine, name: &str) -> Option<BTreeSet<String>> {
    let filter =
        [(deploy_labels::APP, name), (deploy_labels::ROLE, deploy_labels::ROLE_ROUTER), (labels::MANAGED_BY, labels::MANAGED_BY_VALUE)];
    let routers = match engine.list_containers(&filter).await {
        Ok(routers) => routers,
        Err(e) => {
            ctx.warn(format!("could not list the routers of {name} ({e}): keeping every older generation")).await;
            return None;
        }
    };
    let mut ips = BTreeSet::new();
    for router in routers {
        match engine.read_file(&router.id, ROUTER_UPSTREAM_FILE).await {
            Ok(Some(contents)) => {
                let text = String::from_utf8_lossy(&contents);
                if let Some(ip) = upstream_ip(text.trim()) {
                    ips.insert(ip);
                }
            }
            Ok(None) => {}
            Err(e) => {
                ctx.warn(format!("could not read the upstream of router {} ({e}): keeping every older generation", router.name)).await;
                return None;
            }
        }
    }
    Some(ips)
}

/// The IP of an upstream `ip:port` / `[ip6]:port`.
pub fn upstream_ip(upstream: &str) -> Option<String> {
    upstream.parse::<std::net::SocketAddr>().ok().map(|a| a.ip().to_string())
}

fn make_record(
    generation: u64,
    status: &str,
    url: Option<String>,
    container_id: Option<&str>,
    record: &DockerDeployRecord,
) -> DeploymentRecord {
    let mut computed = serde_json::Map::new();
    if let Some(id) = container_id {
        computed.insert("container_id".into(), Json::String(id.to_string()));
    }
    DeploymentRecord {
        generation,
        status: status.into(),
        url,
        computed,
        record: serde_json::to_value(record).unwrap_or(Json::Null),
        ..Default::default()
    }
}

/// The URL of a running generation: its first port (the `PORT` label) as published.
fn url_of(reach: &Reach, info: &ContainerInfo) -> Option<String> {
    let port: u16 = info.labels.get(deploy_labels::PORT)?.parse().ok()?;
    let binding = info.published.get(&port)?;
    reach.url(&binding.host_ip, binding.host_port).ok()
}

/// Where a failed deploy leaves things, for `result_json`.
struct Failure<'a> {
    ctx: &'a JobContext,
    engine: &'a DockerEngine,
    request: &'a DeploymentRequest,
    prior: Option<&'a DeploymentRecord>,
    network: String,
    network_created: bool,
    ownership: &'a Ownership,
}

impl Failure<'_> {
    /// The record of what exists now: the prior generations, plus this one marked failed.
    async fn record_json(&self) -> String {
        let mut failed = failed_generations(&docker_record(self.prior));
        failed.insert(self.request.generation);
        let generations = match live_generations(self.engine, &self.request.name, &failed, self.ownership).await {
            Ok(generations) => generations,
            Err(e) => {
                self.ctx.warn(format!("could not list the containers of {} ({e}); recording the previous ones", self.request.name)).await;
                docker_record(self.prior).generations
            }
        };
        let record = DockerDeployRecord {
            network: self.network.clone(),
            network_created: self.network_created,
            generations,
            owner: self.ownership.owner.clone(),
        };
        let (generation, url, container_id) = match self.prior {
            Some(p) => (p.generation, p.url.clone(), p.computed.get("container_id").and_then(Json::as_str).map(str::to_string)),
            None => (self.request.generation, None, None),
        };
        to_json(&make_record(generation, status::FAILED, url, container_id.as_deref(), &record)).unwrap_or_default()
    }

    /// Stops the failed container: it stays for inspection, but neither serves (the app's DNS
    /// alias would send traffic to it) nor can be released.
    async fn stop(&self, container: &str) {
        if let Err(e) = self.engine.stop_container(container, STOP_GRACE).await {
            self.ctx.warn(format!("could not stop the failed container {container}: {e}")).await;
        }
    }

    async fn fail(&self, container: &str, message: impl AsRef<str>, detail: impl AsRef<str>) -> PlatformError {
        self.stop(container).await;
        let json = self.record_json().await;
        failed(self.ctx, message, detail, &json)
    }

    async fn cancelled(&self, container: &str) -> PlatformError {
        self.stop(container).await;
        PlatformError::Cancelled { result_json: self.record_json().await }
    }
}

/// The network to use: `(name, created by us)`.
async fn ensure_network(
    ctx: &JobContext,
    engine: &DockerEngine,
    request: &DeploymentRequest,
    config: &DockerDeployConfig,
    ownership: &Ownership,
    keep_json: &str,
) -> Result<(String, bool), PlatformError> {
    let name = &request.name;
    let ours = |l: &BTreeMap<String, String>| {
        l.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
            && l.get(deploy_labels::APP).map(String::as_str) == Some(name.as_str())
    };
    if let Some(network) = config.network.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        let info = engine.inspect_network(network).await.map_err(|e| engine_failure(ctx, e, keep_json))?;
        return match info {
            Some(info) => Ok((network.to_string(), ours(&info.labels) && ownership.owns_network(network, &info.labels))),
            None => Err(failed(
                ctx,
                format!(
                    "network {network} does not exist in the Docker engine at {}: create it (`docker network create {network}`) or leave `network` unset for a network of the app's own",
                    engine.address()
                ),
                "",
                keep_json,
            )),
        };
    }
    let network = default_network(name);
    match engine.inspect_network(&network).await.map_err(|e| engine_failure(ctx, e, keep_json))? {
        Some(info) if ours(&info.labels) && ownership.owns_network(&network, &info.labels) => Ok((network, true)),
        Some(info) if ours(&info.labels) => {
            let owner = info.labels.get(deploy_labels::OWNER).map_or("unrecorded", String::as_str);
            let objects = format!("network {network} (owner {owner})");
            Err(failed(ctx, foreign_message(engine, "deployment", name, &objects, &format!("app_deployment.<resource> docker:{name}")), "", keep_json))
        }
        Some(_) => Err(failed(
            ctx,
            format!(
                "a network named {network} exists that was not created for app {name} by this provider: set `network = \"{network}\"` to join it, or remove it"
            ),
            "",
            keep_json,
        )),
        None => {
            let network_labels = BTreeMap::from([
                (deploy_labels::APP.to_string(), name.clone()),
                (deploy_labels::ROLE.to_string(), deploy_labels::ROLE_NETWORK.to_string()),
                (labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string()),
                (deploy_labels::OWNER.to_string(), ownership.owner.clone()),
            ]);
            engine.create_network(&network, &network_labels).await.map_err(|e| engine_failure(ctx, e, keep_json))?;
            ctx.info(format!("created network {network}")).await;
            Ok((network, true))
        }
    }
}

/// Makes sure the engine has `image`: pulls a missing registry reference once, without credentials.
async fn ensure_image(ctx: &JobContext, engine: &DockerEngine, image: &str, keep_json: &str) -> Result<(), PlatformError> {
    if engine.inspect_image(image).await.map_err(|e| engine_failure(ctx, e, keep_json))?.is_some() {
        return Ok(());
    }
    if image.starts_with("sha256:") {
        return Err(failed(
            ctx,
            format!(
                "image {image} is not in the Docker engine at {}: build it on this engine (app_build with the docker builder), or push it to a registry and deploy `repository@sha256:…`",
                engine.address()
            ),
            "",
            keep_json,
        ));
    }
    ctx.info(format!("image {image} is not in the engine: pulling it (without credentials)")).await;
    let pulled = logged(ctx, "pull", |tx| async move {
        engine
            .pull(image, None, move |line| {
                let _ = tx.send(line);
            })
            .await
    })
    .await;
    match pulled {
        Ok(id) => {
            ctx.info(format!("pulled {image}: {id}")).await;
            Ok(())
        }
        Err(e) => Err(failed(
            ctx,
            format!(
                "image {image} is not in the Docker engine at {} and pulling it without credentials failed ({e}); pull it into the engine first (docker_pull with pull = true, or `docker pull`), or build it on this engine",
                engine.address()
            ),
            "",
            keep_json,
        )),
    }
}

pub(crate) fn container_spec(
    request: &DeploymentRequest,
    config: &DockerDeployConfig,
    image: &str,
    network: &str,
    owner: &str,
    reach: &Reach,
) -> Result<ContainerSpec, PlatformError> {
    let ports = config.ports.clone().unwrap_or_default();
    let bind = reach.bind(config.bind_address.as_deref());
    check_reach(config, reach)?;
    let host_ports = config.host_ports.clone().unwrap_or_default();
    let mut env = request.env.clone();
    env.extend(request.secret_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut container_labels = request.labels.clone();
    container_labels.insert(deploy_labels::APP.into(), request.name.clone());
    container_labels.insert(deploy_labels::GENERATION.into(), request.generation.to_string());
    container_labels.insert(deploy_labels::ROLE.into(), deploy_labels::ROLE_DEPLOYMENT.into());
    container_labels.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
    container_labels.insert(deploy_labels::OWNER.into(), owner.to_string());
    if let Some(first) = ports.first() {
        container_labels.insert(deploy_labels::PORT.into(), first.to_string());
    }
    container_labels.insert(deploy_labels::DEPLOYMENT_CONFIG.into(), deployment_config_label(request));
    let resources = config.resources.clone().unwrap_or_default();
    let memory = match resources.memory.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => Some(app_spec::units::parse_size(m).ok().and_then(|bytes| i64::try_from(bytes).ok()).ok_or_else(|| {
            PlatformError::InvalidRequest(format!("resources.memory = {m:?}: use bytes or a number with k, m or g, e.g. `256m`"))
        })?),
        None => None,
    };
    let nano_cpus = match resources.cpus {
        Some(c) if c > 0.0 => Some((c * 1e9).round() as i64),
        Some(c) => return Err(PlatformError::InvalidRequest(format!("resources.cpus = {c} must be more than 0"))),
        None => None,
    };
    Ok(ContainerSpec {
        name: container_name(&request.name, request.generation),
        image: image.to_string(),
        env,
        labels: container_labels,
        entrypoint: None,
        command: config.command.clone().filter(|c| !c.is_empty()),
        restart: config.restart.clone().filter(|r| !r.trim().is_empty()).unwrap_or_else(|| DEFAULT_RESTART.to_string()),
        memory,
        nano_cpus,
        ports: ports
            .iter()
            .map(|p| PublishedPort { container_port: *p, host_ip: bind.clone(), host_port: host_ports.get(&p.to_string()).copied() })
            .collect(),
        network: Some(network.to_string()),
        aliases: vec![request.name.clone()],
        ..Default::default()
    })
}

/// How waiting for health ended, when not healthy.
enum Unhealthy {
    /// Why, in words.
    Failed(String),
    Cancelled,
    Engine(EngineError),
}

/// The runner must reach what the container publishes (health checks, the release's checks).
fn check_reach(config: &DockerDeployConfig, reach: &Reach) -> Result<(), PlatformError> {
    if config.ports.as_ref().is_some_and(|p| !p.is_empty()) {
        reach.host(&reach.bind(config.bind_address.as_deref())).map_err(PlatformError::InvalidRequest)?;
    }
    Ok(())
}

/// Waits until the container is healthy; returns what the engine says about it then.
async fn wait_healthy(
    ctx: &JobContext,
    engine: &DockerEngine,
    reach: &Reach,
    id: &str,
    cname: &str,
    health: &Health,
) -> Result<ContainerInfo, Unhealthy> {
    let started = Instant::now();
    let deadline = started + health.start_period;
    let mut running_since: Option<Instant> = None;
    let mut last_problem: Option<String> = None;
    let mut last_status: Option<u16> = None;
    loop {
        let info = engine.inspect_container(id).await.map_err(Unhealthy::Engine)?;
        let Some(info) = info else {
            return Err(Unhealthy::Failed(format!("container {cname} disappeared while the runner waited for it to become healthy")));
        };
        if info.restart_count > 0 || info.restarting {
            let times = info.restart_count.max(1);
            let plural = if times == 1 { "" } else { "s" };
            // A container running again after its restart shows exit code 0: only a stopped one tells.
            let code = if info.running { String::new() } else { format!(", last exit code {}", info.exit_code) };
            return Err(Unhealthy::Failed(format!("container {cname} restarted {times} time{plural} (its process exited{code})")));
        }
        if !info.running {
            return Err(Unhealthy::Failed(format!("container {cname} {}", info.describe_state())));
        }
        let now = Instant::now();
        if let Check::Http { port, .. } | Check::Tcp { port } = &health.check {
            if info.host_port(*port).is_none() {
                return Err(Unhealthy::Failed(format!(
                    "container port {port} of {cname} is not published, so the health check cannot reach it"
                )));
            }
        }
        let healthy = match &health.check {
            Check::Running => {
                let since = *running_since.get_or_insert(now);
                now.duration_since(since) >= health.interval * 2
            }
            Check::Http { path, port } => {
                let binding = &info.published[port];
                let host = reach.host(&binding.host_ip).map_err(Unhealthy::Failed)?;
                match http_probe(&host, binding.host_port, path, health.timeout).await {
                    Ok(code) if (200..400).contains(&code) => true,
                    Ok(code) => {
                        last_status = Some(code);
                        last_problem = Some(format!("health check GET {path} answered {code}"));
                        false
                    }
                    Err(e) => {
                        last_problem = Some(format!("health check GET {path} on {host}:{} failed: {e}", binding.host_port));
                        false
                    }
                }
            }
            Check::Tcp { port } => {
                let binding = &info.published[port];
                let host = reach.host(&binding.host_ip).map_err(Unhealthy::Failed)?;
                match tcp_probe(&host, binding.host_port, health.timeout).await {
                    Ok(()) => true,
                    Err(e) => {
                        last_problem =
                            Some(format!("health check: TCP connect to {host}:{} (container port {port}) failed: {e}", binding.host_port));
                        false
                    }
                }
            }
        };
        if healthy {
            ctx.info(format!("{cname} is healthy after {:.1?}", started.elapsed())).await;
            return Ok(info);
        }
        if Instant::now() >= deadline {
            let within = format!("{:?}", health.start_period);
            return Err(Unhealthy::Failed(match (last_status, last_problem) {
                (Some(_), Some(problem)) => format!("{cname} did not become healthy within {within}: {problem}"),
                (None, Some(problem)) => format!("{cname}: no answer within {within} ({problem})"),
                (_, None) => format!("{cname} did not become healthy within {within}"),
            }));
        }
        tokio::select! {
            () = tokio::time::sleep(health.interval.min(deadline.saturating_duration_since(Instant::now()))) => {}
            () = ctx.cancelled() => return Err(Unhealthy::Cancelled),
        }
    }
}

/// The last log lines of a container, as a diagnostic detail.
async fn log_tail(engine: &DockerEngine, container: &str) -> String {
    match engine.container_logs(container, LOG_TAIL_LINES).await {
        Ok(lines) if lines.is_empty() => format!("{container} wrote no log lines"),
        Ok(lines) => format!("last {} log lines of {container}:\n{}", lines.len(), lines.join("\n")),
        Err(e) => format!("could not read the logs of {container}: {e}"),
    }
}

/// Removes generations beyond `keep` (and failed or stray ones), except routed ones and `protect`.
async fn prune(
    ctx: &JobContext,
    engine: &DockerEngine,
    request: &DeploymentRequest,
    prior_failed: &BTreeSet<u64>,
    protect: Option<u64>,
    ownership: &Ownership,
) -> BTreeSet<u64> {
    let name = &request.name;
    let current = request.generation;
    let mut still_failed = BTreeSet::new();
    let containers = match engine.list_containers(&deployment_filter(name)).await {
        Ok(c) => c.into_iter().filter(|c| ownership.owns_container(&c.id, &c.labels)).collect::<Vec<_>>(),
        Err(e) => {
            ctx.warn(format!("could not list the containers of {name} to remove old generations: {e}")).await;
            return prior_failed.iter().copied().filter(|g| *g != current).collect();
        }
    };
    let mut older: Vec<u64> = containers
        .iter()
        .filter_map(|c| generation_of(&c.labels))
        .filter(|g| *g < current && !prior_failed.contains(g))
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect();
    older.reverse();
    let kept: BTreeSet<u64> = older.iter().take(usize::try_from(request.keep).unwrap_or(usize::MAX)).copied().collect();
    let doomed: Vec<_> = containers
        .into_iter()
        .filter(|c| generation_of(&c.labels).is_some_and(|g| g != current && !kept.contains(&g) && Some(g) != protect))
        .collect();
    if doomed.is_empty() {
        return still_failed;
    }
    let routed = routed_ips(ctx, engine, name).await;
    for container in doomed {
        let generation = generation_of(&container.labels).unwrap_or_default();
        let is_failed = prior_failed.contains(&generation);
        let info = engine.inspect_container(&container.id).await.ok().flatten();
        let ips: BTreeSet<String> = info.map(|i| i.networks.into_values().filter(|ip| !ip.is_empty()).collect()).unwrap_or_default();
        match &routed {
            None => {
                if is_failed {
                    still_failed.insert(generation);
                }
                continue;
            }
            Some(routed) if !ips.is_disjoint(routed) => {
                ctx.info(format!("keeping {} (generation {generation}): a release of {name} still forwards to it", container.name)).await;
                if is_failed {
                    still_failed.insert(generation);
                }
                continue;
            }
            Some(_) => {}
        }
        match engine.remove_container(&container.id).await {
            Ok(_) => {
                let why = if is_failed { "failed generation" } else { "older than the kept generations" };
                ctx.info(format!("removed {} (generation {generation}, {why})", container.name)).await;
            }
            Err(e) => {
                ctx.warn(format!("could not remove {} (generation {generation}): {e}", container.name)).await;
                if is_failed {
                    still_failed.insert(generation);
                }
            }
        }
    }
    still_failed
}

#[async_trait]
impl Platform for DockerDeploy {
    async fn deploy(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let config = parse_config(request)?;
        let health = health(&config)?;
        let image = request.image.as_deref().map(str::trim).filter(|i| !i.is_empty()).ok_or_else(|| {
            PlatformError::InvalidRequest("the docker platform needs an image: set `image` (e.g. `image = app_build.web.image`)".into())
        })?;
        let keep_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let prior_record = docker_record(prior);
        let mut ownership = Ownership::of(&prior_record);
        if ownership.owner.is_empty() {
            ownership.owner =
                new_owner_id().ok_or_else(|| failed(ctx, "the system has no secure random source for an owner ID", "", &keep_json))?;
        }
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        refuse_foreign(ctx, &engine, &request.name, &ownership, &keep_json).await?;
        let reach = Reach::of(&engine);
        check_reach(&config, &reach)?;
        let (network, network_created) = ensure_network(ctx, &engine, request, &config, &ownership, &keep_json).await?;
        // From here a failure leaves a network of ours at least: record it (and the owner), so a
        // destroy of the failed create removes it.
        let keep_json = match prior {
            Some(_) => keep_json,
            None => {
                let partial = DockerDeployRecord {
                    network: network.clone(),
                    network_created,
                    generations: Vec::new(),
                    owner: ownership.owner.clone(),
                };
                to_json(&make_record(request.generation, status::FAILED, None, None, &partial))?
            }
        };
        ensure_image(ctx, &engine, image, &keep_json).await?;
        // Generations beyond `keep` go before the new one starts rather than after it is healthy:
        // the set is the same either way (the current generation stays the newest kept one even
        // if this one fails), and the release that follows a successful deploy starts sooner.
        // The generation serving now stays until the new one is healthy, whatever `keep` says.
        ctx.progress("cleanup", -1).await;
        let serving = prior.map(|p| p.generation).filter(|g| *g > 0);
        let mut still_failed = prune(ctx, &engine, request, &failed_generations(&prior_record), serving, &ownership).await;

        let spec = container_spec(request, &config, image, &network, &ownership.owner, &reach)?;
        let cname = spec.name.clone();
        if let Some(stale) = engine.inspect_container(&cname).await.map_err(|e| engine_failure(ctx, e, &keep_json))? {
            ctx.info(format!(
                "removing {cname} ({}) left by an earlier attempt at generation {}",
                stale.describe_state(),
                request.generation
            ))
            .await;
            engine.remove_container(&stale.id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        }
        ctx.progress("create", -1).await;
        let id = engine.create_container(&spec).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let failure = Failure { ctx, engine: &engine, request, prior, network: network.clone(), network_created, ownership: &ownership };
        ctx.info(format!("created {cname} ({}) from {image} on network {network}", &id[..id.len().min(12)])).await;
        if let Err(e) = engine.start_container(&id).await {
            let mut message = format!("could not start {cname}: {e}");
            if message.contains("port is already allocated") || message.contains("address already in use") {
                message.push_str("; a host port in `host_ports` is taken by something else: choose another one or free it");
            }
            let detail = log_tail(&engine, &id).await;
            return Err(failure.fail(&id, message, detail).await);
        }
        ctx.progress("health", -1).await;
        let info = match wait_healthy(ctx, &engine, &reach, &id, &cname, &health).await {
            Ok(info) => info,
            Err(Unhealthy::Cancelled) => return Err(failure.cancelled(&id).await),
            Err(Unhealthy::Engine(e)) => return Err(failure.fail(&id, e.to_string(), "").await),
            Err(Unhealthy::Failed(reason)) => {
                let previous = prior.map(|p| format!("; generation {} keeps serving", p.generation)).unwrap_or_default();
                let message = format!(
                    "generation {} of {} failed: {reason}{previous} (the container {cname} is stopped and kept for inspection: `docker logs {cname}`)",
                    request.generation, request.name
                );
                let detail = log_tail(&engine, &id).await;
                ctx.warn(&message).await;
                return Err(failure.fail(&id, message, detail).await);
            }
        };

        if request.keep == 0 {
            still_failed = prune(ctx, &engine, request, &still_failed, None, &ownership).await;
        }
        if prior_record.network_created && !prior_record.network.is_empty() && prior_record.network != network {
            remove_network_if_unused(ctx, &engine, &prior_record.network).await;
        }
        let generations = match live_generations(&engine, &request.name, &still_failed, &ownership).await {
            Ok(generations) => generations,
            Err(e) => {
                ctx.warn(format!("could not list the containers of {}: {e}", request.name)).await;
                vec![GenerationRecord {
                    generation: request.generation,
                    container_id: id.clone(),
                    container_name: cname.clone(),
                    host_ports: info.published.iter().map(|(p, b)| (*p, b.host_port)).collect(),
                    failed: false,
                }]
            }
        };
        let record = DockerDeployRecord { network, network_created, generations, owner: ownership.owner };
        let url = url_of(&reach, &info);
        if let Some(url) = &url {
            ctx.info(format!("generation {} of {} is ready at {url}", request.generation, request.name)).await;
        }
        ctx.progress("ready", 100).await;
        Outcome::record(&make_record(request.generation, status::READY, url, Some(&info.id), &record))
    }
}

async fn remove_network_if_unused(ctx: &JobContext, engine: &DockerEngine, network: &str) {
    match engine.inspect_network(network).await {
        Ok(Some(info)) if info.containers.is_empty() => match engine.remove_network(network).await {
            Ok(_) => ctx.info(format!("removed network {network}: no generation uses it any more")).await,
            Err(e) => ctx.warn(format!("could not remove the previous network {network}: {e}")).await,
        },
        Ok(_) => {}
        Err(e) => ctx.warn(format!("could not inspect the previous network {network}: {e}")).await,
    }
}

#[async_trait]
impl Status<Deployment> for DockerDeploy {
    async fn status(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let keep_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let prior_record = docker_record(prior);
        let name = &request.name;
        let generation = prior.map(|p| p.generation).filter(|g| *g > 0).unwrap_or(request.generation);
        let cname =
            prior_record.generation(generation).map(|g| g.container_name.clone()).unwrap_or_else(|| container_name(name, generation));
        let by_id = prior_record.generation(generation).map(|g| g.container_id.clone()).filter(|id| !id.is_empty());
        let mut current = match &by_id {
            Some(id) => engine.inspect_container(id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?,
            None => None,
        };
        if current.is_none() {
            current = engine.inspect_container(&cname).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        }
        let current = current.filter(|c| {
            c.labels.get(deploy_labels::APP) == Some(name)
                && c.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        });
        let Some(prior) = prior else {
            // An import of `<name>` or `<name>/<generation>`: what exists is the reference (the
            // named generation, else the newest running one).
            let mut current = current;
            let mut generation = generation;
            let everything = Ownership::adopting("");
            if current.is_none() {
                let live =
                    live_generations(&engine, name, &BTreeSet::new(), &everything).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
                for g in live.iter().rev() {
                    if let Some(info) = engine.inspect_container(&g.container_id).await.map_err(|e| engine_failure(ctx, e, &keep_json))? {
                        if info.running {
                            generation = g.generation;
                            current = Some(info);
                            break;
                        }
                    }
                }
            }
            let Some(info) = current else { return Ok(Outcome::gone()) };
            let network = if info.network_mode.is_empty() { default_network(name) } else { info.network_mode.clone() };
            let network_created = match engine.inspect_network(&network).await.map_err(|e| engine_failure(ctx, e, &keep_json))? {
                Some(n) => n.labels.get(deploy_labels::APP) == Some(name) && n.labels.contains_key(labels::MANAGED_BY),
                None => false,
            };
            let generations =
                live_generations(&engine, name, &BTreeSet::new(), &everything).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
            // The imported resource takes the found generation's owner; the next deploy labels
            // the rest with it (or a new one when the objects predate owners).
            let owner = info.labels.get(deploy_labels::OWNER).cloned().unwrap_or_default();
            let record = DockerDeployRecord { network, network_created, generations, owner };
            let state = if info.running { status::READY } else { status::DRIFTED };
            let mut found = make_record(generation, state, url_of(&Reach::of(&engine), &info), Some(&info.id), &record);
            found.observed = observed_from(&info.labels);
            let outcome = Outcome::record(&found)?;
            return Ok(if info.running { outcome } else { outcome.with_detail(format!("{cname} is {}", info.describe_state())) });
        };
        let failed = failed_generations(&prior_record);
        let ownership = Ownership::of(&prior_record);
        let generations = live_generations(&engine, name, &failed, &ownership).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let mut record = prior.clone();
        let docker = DockerDeployRecord { generations, ..prior_record.clone() };
        record.record = serde_json::to_value(&docker).unwrap_or(Json::Null);
        record.secret_env_differs.clear();
        if let (true, Some(info)) = (request.compare_secret_env, &current) {
            let live = engine.container_env(&info.id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?.unwrap_or_default();
            record.secret_env_differs = app_spec::job::secret_env_differs(&request.secret_env, &live, &[]);
        }
        let drift = match &current {
            Some(info) if !ownership.owns_container(&info.id, &info.labels) => Some(format!(
                "container {cname} of generation {generation} now belongs to another configuration (owner {}); the next apply deploys a new generation of this one",
                info.labels.get(deploy_labels::OWNER).map_or("unrecorded", String::as_str)
            )),
            Some(info) if info.running => {
                if record.status == status::DRIFTED {
                    record.status = status::READY.into();
                }
                record.url = url_of(&Reach::of(&engine), info).or(record.url);
                record.computed.insert("container_id".into(), Json::String(info.id.clone()));
                None
            }
            Some(info) => Some(format!(
                "container {cname} of generation {generation} is {} (changed outside Terraform); the next apply deploys a new generation",
                info.describe_state()
            )),
            None => Some(format!(
                "container {cname} of generation {generation} no longer exists (removed outside Terraform); the next apply deploys a new generation"
            )),
        };
        match drift {
            None => Outcome::record(&record),
            Some(detail) => {
                ctx.info(&detail).await;
                if record.status != status::FAILED {
                    record.status = status::DRIFTED.into();
                }
                Ok(Outcome::record(&record)?.with_detail(detail))
            }
        }
    }
}

#[async_trait]
impl Destroyer<Deployment> for DockerDeploy {
    async fn destroy(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let keep_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let prior_record = docker_record(prior);
        let ownership = Ownership::of(&prior_record);
        let name = &request.name;
        let mut problems = Vec::new();
        let containers = engine.list_containers(&deployment_filter(name)).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        for container in &containers {
            if !ownership.owns_container(&container.id, &container.labels) {
                ctx.info(format!("left {}: another configuration's container of the same app name", container.name)).await;
                continue;
            }
            match engine.remove_container(&container.id).await {
                Ok(_) => ctx.info(format!("removed {}", container.name)).await,
                Err(e) => problems.push(e.to_string()),
            }
        }
        // Networks this platform created for the app: recorded, or found by their labels.
        let mut networks = BTreeSet::new();
        if let Some(network) = &ownership.network {
            networks.insert(network.clone());
        }
        let filter = [
            (deploy_labels::APP, name.as_str()),
            (deploy_labels::ROLE, deploy_labels::ROLE_NETWORK),
            (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
        ];
        match engine.list_networks(&filter).await {
            Ok(found) => networks.extend(found),
            Err(e) => problems.push(e.to_string()),
        }
        let mut network_left = None;
        for network in networks {
            let info = match engine.inspect_network(&network).await {
                Ok(Some(info)) => info,
                Ok(None) => continue,
                Err(e) => {
                    problems.push(e.to_string());
                    network_left = Some(network);
                    continue;
                }
            };
            let ours = info.labels.get(deploy_labels::APP) == Some(name) && info.labels.contains_key(labels::MANAGED_BY);
            if !ours || !ownership.owns_network(&network, &info.labels) {
                continue;
            }
            if let Err(problem) = release_network(ctx, &engine, &network).await {
                problems.push(problem);
                network_left = Some(network);
                continue;
            }
            match engine.remove_network(&network).await {
                Ok(_) => ctx.info(format!("removed network {network}")).await,
                Err(e) => {
                    problems.push(e.to_string());
                    network_left = Some(network);
                }
            }
        }
        if problems.is_empty() {
            return Ok(Outcome::nothing());
        }
        // What is left stays in the state, so a later destroy can finish.
        let generations = live_generations(&engine, name, &failed_generations(&prior_record), &ownership).await.unwrap_or_default();
        let record = DockerDeployRecord {
            network: network_left.clone().unwrap_or_else(|| prior_record.network.clone()),
            network_created: network_left.is_some() || prior_record.network_created,
            generations,
            owner: ownership.owner.clone(),
        };
        let mut left = prior.cloned().unwrap_or_else(|| make_record(request.generation, status::FAILED, None, None, &record));
        left.record = serde_json::to_value(&record).unwrap_or(Json::Null);
        Err(failed(ctx, format!("destroying deployment {name} left things behind: {}", problems.join("; ")), "", &to_json(&left)?))
    }
}

/// How long a destroy waits for this provider's containers (a release's router, destroyed at the
/// same time) to leave a network before it detaches them itself.
const DETACH_WAIT: Duration = Duration::from_secs(30);

/// Empties a network this deployment created before its removal. Containers this provider made
/// (a release's router, whose destroy may run at the same time) get [`DETACH_WAIT`] to leave, then
/// are detached; a container of anyone else keeps the network, and the error says which.
async fn release_network(ctx: &JobContext, engine: &DockerEngine, network: &str) -> Result<(), String> {
    let deadline = Instant::now() + DETACH_WAIT;
    loop {
        let attached = match engine.inspect_network(network).await {
            Ok(Some(info)) => info.containers,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        if attached.is_empty() {
            return Ok(());
        }
        let mut ours = Vec::new();
        for (id, container_name) in &attached {
            match engine.inspect_container(id).await {
                Ok(Some(info)) if info.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE) => {
                    ours.push((id.clone(), container_name.clone()))
                }
                Ok(None) => {}
                Ok(Some(_)) => {
                    return Err(format!(
                        "network {network} is still used by {container_name}, which this provider did not create: disconnect it (`docker network disconnect {network} {container_name}`) and destroy again"
                    ))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        if Instant::now() >= deadline {
            for (id, container_name) in ours {
                ctx.info(format!("detaching {container_name} from network {network} (a release's router that is not destroyed yet)")).await;
                engine.disconnect_network(network, &id).await.map_err(|e| e.to_string())?;
            }
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            () = ctx.cancelled() => return Err(format!("cancelled while waiting for the containers on network {network} to leave")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: Json) -> DockerDeployConfig {
        serde_json::from_value(value).expect("config")
    }

    #[test]
    fn health_defaults_and_ports() {
        let h = health(&config(json!({"ports": [8080, 9090], "health_check": {"http_path": "/healthz"}}))).expect("health");
        assert_eq!(h.check, Check::Http { path: "/healthz".into(), port: 8080 });
        assert_eq!((h.interval, h.timeout, h.start_period), (DEFAULT_INTERVAL, DEFAULT_PROBE_TIMEOUT, DEFAULT_START_PERIOD));
        let h =
            health(&config(json!({"ports": [8080], "health_check": {"tcp": true, "port": 8080, "interval": "1s", "start_period": "5s"}})))
                .expect("health");
        assert_eq!((h.check, h.interval, h.start_period), (Check::Tcp { port: 8080 }, Duration::from_secs(1), Duration::from_secs(5)));
        assert_eq!(health(&config(json!({}))).expect("health").check, Check::Running);
        assert!(health(&config(json!({"health_check": {"http_path": "/"}}))).is_err(), "no port");
        assert!(health(&config(json!({"ports": [1], "health_check": {"interval": "soon"}}))).is_err());
    }

    #[test]
    fn urls_use_loopback_for_wildcards_and_the_engine_host_for_remote_engines() {
        let local = Reach::remote(None);
        assert_eq!(local.bind(None), "127.0.0.1");
        assert_eq!(local.url("0.0.0.0", 80).as_deref(), Ok("http://127.0.0.1:80"));
        assert_eq!(local.url("::", 80).as_deref(), Ok("http://[::1]:80"));
        assert_eq!(local.url("10.0.0.5", 8080).as_deref(), Ok("http://10.0.0.5:8080"));
        let remote = Reach::remote(Some("10.231.0.2"));
        assert_eq!(remote.bind(None), "0.0.0.0");
        assert_eq!(remote.bind(Some("10.231.0.2")), "10.231.0.2");
        assert_eq!(remote.url("0.0.0.0", 80).as_deref(), Ok("http://10.231.0.2:80"));
        assert!(remote.host("127.0.0.1").unwrap_err().contains("bind_address"));
        assert_eq!(upstream_ip("172.18.0.5:8080").as_deref(), Some("172.18.0.5"));
        assert_eq!(upstream_ip("[fd00::5]:8080").as_deref(), Some("fd00::5"));
        assert_eq!(upstream_ip("nonsense"), None);
    }

    #[test]
    fn specs_carry_labels_ports_and_limits() {
        let request = DeploymentRequest {
            name: "web".into(),
            generation: 3,
            env: [("A".to_string(), "1".to_string())].into(),
            secret_env: [("TOKEN".to_string(), "s3cret".to_string())].into(),
            labels: [("team".to_string(), "pay".to_string()), (deploy_labels::APP.to_string(), "spoofed".to_string())].into(),
            ..Default::default()
        };
        let config = config(json!({"ports": [8080, 9090], "host_ports": {"9090": 19090}, "bind_address": "0.0.0.0",
            "resources": {"memory": "64m", "cpus": 0.5}, "command": ["/bin/app", "serve"]}));
        let spec = container_spec(&request, &config, "sha256:abc", "app-web", "0123abcd", &Reach::remote(None)).expect("spec");
        assert_eq!(spec.name, "web-g3");
        assert_eq!(spec.env.get("TOKEN").map(String::as_str), Some("s3cret"));
        assert_eq!(spec.labels[deploy_labels::APP], "web");
        assert_eq!(spec.labels[deploy_labels::GENERATION], "3");
        assert_eq!(spec.labels[deploy_labels::PORT], "8080");
        assert_eq!(spec.labels["team"], "pay");
        assert_eq!(spec.restart, "unless-stopped");
        assert_eq!((spec.memory, spec.nano_cpus), (Some(64 << 20), Some(500_000_000)));
        assert_eq!(
            spec.ports,
            [
                PublishedPort { container_port: 8080, host_ip: "0.0.0.0".into(), host_port: None },
                PublishedPort { container_port: 9090, host_ip: "0.0.0.0".into(), host_port: Some(19090) }
            ]
        );
        assert_eq!(spec.aliases, ["web"]);
    }

    #[tokio::test]
    async fn probes_read_status_lines() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            for answer in [&b"HTTP/1.1 503 Service Unavailable\r\n\r\n"[..], b"SSH-2.0-x\r\n", b""] {
                let (mut s, _) = listener.accept().await.expect("accept");
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer).await;
            }
        });
        assert_eq!(http_probe("127.0.0.1", port, "/", Duration::from_secs(2)).await, Ok(503));
        assert!(http_probe("127.0.0.1", port, "/", Duration::from_secs(2)).await.expect_err("not http").contains("not HTTP"));
        assert!(http_probe("127.0.0.1", port, "/", Duration::from_secs(2)).await.expect_err("closed").contains("closed"));
        assert!(tcp_probe("127.0.0.1", 1, Duration::from_secs(2)).await.is_err());
    }
}
