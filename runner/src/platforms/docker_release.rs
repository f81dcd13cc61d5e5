//! The `docker` releaser: a stable local URL (`config.port` on `bind_address`) served by a router
//! container, `<release>-router`, that forwards every new connection to the released
//! generation's container. The router is the project's own static binary (`app-router`, see the
//! `router` crate) in an image `app-router:<12 hex of its sha256>` built `FROM scratch` when missing.
//!
//! RELEASE of generation N of deployment D:
//! 1. The container of generation N (found by its labels) must be running and accept a TCP
//!    connection on its port (the `PORT` label: the deployment's first port) — at its address on
//!    its network, else at its published host port. Otherwise nothing changes and the job says
//!    which generation the release stays on.
//! 2. The router: created when missing (on the generation's network, publishing `port`,
//!    restart `unless-stopped`), with its upstream file written before it starts; recreated
//!    when it publishes another address or port than configured; attached to the generation's
//!    network when it is not yet.
//! 3. Switch: the upstream file (`ROUTER_UPSTREAM_FILE`, `<ip>:<port>\n`) is rewritten through the
//!    engine's archive API. The router reads it on every accepted connection, so new connections
//!    go to generation N at once and open ones finish on the previous generation: no failed
//!    requests. Then the stable address must answer (an HTTP status line, any bytes, or a
//!    connection held open); if it does not, the previous upstream is written back.
//!
//! STATUS: router missing or not running, an upstream other than the recorded one, or a released
//! generation that no longer runs → `drifted` (the next apply releases again).
//! DESTROY removes the router container only (the router image is shared and stays).

use super::docker_build::{engine_failure, failed, logged};
use super::docker_deploy::{foreign_message, tcp_connect, upstream_ip, Reach};
use crate::context::JobContext;
use crate::engine::containers::{ContainerInfo, ContainerSpec, PublishedPort};
use crate::engine::docker::{BuildOptions, DockerEngine};
use crate::platform::{new_owner_id, to_json, Destroyer, Outcome, PlatformError, Release, ReleaseManager, Status};
use app_spec::docker_deploy::{
    labels as deploy_labels, router_name, DockerReleaseConfig, DockerReleaseRecord, DEFAULT_RESTART, ROUTER_MEMORY_BYTES,
    ROUTER_PIDS_LIMIT, ROUTER_PORT, ROUTER_UPSTREAM_FILE, ROUTER_USER,
};
use app_spec::job::{labels, owned_by, status, ReleaseRecord, ReleaseRequest};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct DockerRelease;

/// The repository of router images: `app-router:<12 hex of the binary's sha256>`.
pub const ROUTER_REPOSITORY: &str = "app-router";
/// Where the router binary is, when not next to `app-runner`.
pub const ROUTER_PATH_ENV: &str = "APP_ROUTER_PATH";
/// The router binary's file name.
pub const ROUTER_BINARY: &str = "app-router";
/// How long the stable address has to answer after a switch.
const VERIFY_WITHIN: Duration = Duration::from_secs(10);
/// How long the pre-switch connect to the generation may take.
const RECHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The router's command line.
pub fn router_command() -> Vec<String> {
    let listen = format!("0.0.0.0:{ROUTER_PORT}");
    ["/app-router", "serve", "--listen", &listen, "--upstream-file", ROUTER_UPSTREAM_FILE].map(str::to_string).to_vec()
}

fn parse_config(request: &ReleaseRequest) -> Result<DockerReleaseConfig, PlatformError> {
    let config: DockerReleaseConfig = serde_json::from_value(request.config.clone())
        .map_err(|e| PlatformError::InvalidRequest(format!("invalid docker releaser block: {e}")))?;
    if config.port == 0 {
        return Err(PlatformError::InvalidRequest("the docker releaser needs `port`, the host port of the stable URL".into()));
    }
    Ok(config)
}

/// Where the router binary is: `APP_ROUTER_PATH`, else `app-router` next to this executable.
pub fn router_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ROUTER_PATH_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("the router binary {ROUTER_PATH_ENV}={} does not exist", path.display()))
        };
    }
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(ROUTER_BINARY)));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(format!(
            "the router binary {ROUTER_BINARY} was not found: {ROUTER_PATH_ENV} is not set and {} does not exist; install {ROUTER_BINARY} next to app-runner (scripts/build.sh puts it there) or set {ROUTER_PATH_ENV}",
            path.display()
        )),
        None => Err(format!(
            "the router binary {ROUTER_BINARY} was not found: {ROUTER_PATH_ENV} is not set and the runner's own location is unknown"
        )),
    }
}

/// The router image's tag for a binary.
pub fn router_tag(binary: &[u8]) -> String {
    let digest = Sha256::digest(binary);
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{ROUTER_REPOSITORY}:{hex}")
}

/// A build context: the Dockerfile and the router binary.
fn router_context(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let entrypoint = router_command().iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    let dockerfile = format!("FROM scratch\nCOPY {ROUTER_BINARY} /{ROUTER_BINARY}\nENTRYPOINT [{entrypoint}]\n");
    let mut builder = tar::Builder::new(Vec::new());
    for (name, contents, mode) in [("Dockerfile", dockerfile.as_bytes(), 0o644), (ROUTER_BINARY, binary, 0o755)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        builder.append_data(&mut header, name, contents)?;
    }
    builder.into_inner()
}

/// The router image, built when the engine lacks it.
async fn ensure_router_image(ctx: &JobContext, engine: &DockerEngine, keep_json: &str) -> Result<String, PlatformError> {
    let path = router_binary().map_err(|e| failed(ctx, e, "", keep_json))?;
    let binary = tokio::fs::read(&path)
        .await
        .map_err(|e| failed(ctx, format!("cannot read the router binary {}: {e}", path.display()), "", keep_json))?;
    let tag = router_tag(&binary);
    if engine.inspect_image(&tag).await.map_err(|e| engine_failure(ctx, e, keep_json))?.is_some() {
        return Ok(tag);
    }
    ctx.info(format!("building the router image {tag} from {}", path.display())).await;
    let context = router_context(&binary).map_err(|e| failed(ctx, format!("cannot pack the router image context: {e}"), "", keep_json))?;
    let options = BuildOptions {
        tags: vec![tag.clone()],
        labels: BTreeMap::from([(labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string())]),
        pull: false,
        ..Default::default()
    };
    logged(ctx, "build", |tx| {
        let (engine, options) = (engine, &options);
        async move {
            engine
                .build(context, options, move |line| {
                    let _ = tx.send(line);
                })
                .await
        }
    })
    .await
    .map_err(|e| engine_failure(ctx, e, keep_json))?;
    Ok(tag)
}

/// Whether `router` is the router of the release whose record is `recorded`: this provider's
/// router carrying the record's owner (or, from before owners were recorded, the recorded one).
fn owns_router(router: &ContainerInfo, recorded: Option<&DockerReleaseRecord>) -> bool {
    let owner = recorded.map_or("", |r| r.owner.as_str());
    let found = router.labels.get(deploy_labels::OWNER).map(String::as_str);
    is_ours(router) && owned_by(found, owner, recorded.is_some_and(|r| r.router_container_id == router.id))
}

fn is_ours(info: &ContainerInfo) -> bool {
    info.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
        && info.labels.get(deploy_labels::ROLE).map(String::as_str) == Some(deploy_labels::ROLE_ROUTER)
}

/// The container of generation `generation` of deployment `deployment`.
async fn find_generation(
    engine: &DockerEngine,
    deployment: &str,
    generation: u64,
) -> Result<Option<ContainerInfo>, crate::engine::docker::EngineError> {
    let generation = generation.to_string();
    let filter = [
        (deploy_labels::APP, deployment),
        (deploy_labels::GENERATION, generation.as_str()),
        (deploy_labels::ROLE, deploy_labels::ROLE_DEPLOYMENT),
        (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
    ];
    match engine.list_containers(&filter).await?.into_iter().next() {
        Some(summary) => engine.inspect_container(&summary.id).await,
        None => Ok(None),
    }
}

/// Where a generation's container is reached from the router: `(network, ip, port)`.
fn target_address(info: &ContainerInfo) -> Option<(String, String, u16)> {
    let port: u16 = info.labels.get(deploy_labels::PORT)?.parse().ok()?;
    let (network, ip) = info
        .networks
        .get_key_value(&info.network_mode)
        .or_else(|| info.networks.iter().find(|(_, ip)| !ip.is_empty()))
        .map(|(n, ip)| (n.clone(), ip.clone()))?;
    (!ip.is_empty()).then_some((network, ip, port))
}

/// `ip:port` as the router reads it.
fn upstream_of(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Whether the stable address answers: an HTTP status line, any bytes, or a connection the
/// upstream holds open. A connection closed without a byte (the router could not reach the
/// upstream) is retried until `within`.
async fn verify(host: &str, port: u16, within: Duration) -> Result<String, String> {
    let deadline = Instant::now() + within;
    let mut last;
    loop {
        let attempt = async {
            let mut stream = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect((host, port)))
                .await
                .map_err(|_| "no connection within 1s".to_string())?
                .map_err(|e| e.to_string())?;
            let request = format!("GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: app-runner\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                Err(_) => Ok("accepts connections".to_string()),
                Ok(Ok(0)) => Err("the connection was closed without an answer".to_string()),
                Ok(Ok(n)) => {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let line = text.lines().next().unwrap_or_default().to_string();
                    Ok(if line.starts_with("HTTP/") { format!("answers {line}") } else { "answers".to_string() })
                }
                Ok(Err(e)) => Err(e.to_string()),
            }
        };
        match attempt.await {
            Ok(how) => return Ok(how),
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn record_of(request: &ReleaseRequest, url: &str, docker: &DockerReleaseRecord, state: &str) -> ReleaseRecord {
    ReleaseRecord {
        released_generation: request.generation,
        url: Some(url.to_string()),
        status: state.into(),
        record: serde_json::to_value(docker).unwrap_or(serde_json::Value::Null),
        observed: None,
    }
}

fn docker_record(prior: Option<&ReleaseRecord>) -> Option<DockerReleaseRecord> {
    prior.and_then(|p| serde_json::from_value(p.record.clone()).ok())
}

fn port_taken(message: &str) -> bool {
    message.contains("port is already allocated") || message.contains("address already in use")
}

#[async_trait]
impl ReleaseManager for DockerRelease {
    async fn release(&self, ctx: &JobContext, request: &ReleaseRequest, prior: Option<&ReleaseRecord>) -> Result<Outcome, PlatformError> {
        let config = parse_config(request)?;
        let keep_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let (deployment, generation) = (&request.deployment, request.generation);
        let stays = match prior.map(|p| p.released_generation).filter(|g| *g > 0) {
            Some(g) if g != generation => format!("; the release stays on generation {g}"),
            _ => String::new(),
        };
        let mut recorded = docker_record(prior).unwrap_or_default();
        if recorded.owner.is_empty() {
            recorded.owner =
                new_owner_id().ok_or_else(|| failed(ctx, "the system has no secure random source for an owner ID", "", &keep_json))?;
        }
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let reach = Reach::of(&engine);
        let bind = reach.bind(config.bind_address.as_deref());
        let (host, url) = match (reach.host(&bind), reach.url(&bind, config.port)) {
            (Ok(host), Ok(url)) => (host, url),
            (Err(e), _) | (_, Err(e)) => return Err(PlatformError::InvalidRequest(e)),
        };

        // 1. The generation must run and accept connections.
        let target = find_generation(&engine, deployment, generation).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let Some(target) = target else {
            return Err(failed(
                ctx,
                format!("generation {generation} of {deployment} does not exist (not deployed, failed, or no longer kept){stays}"),
                "",
                &keep_json,
            ));
        };
        if !target.running || target.restarting {
            return Err(failed(
                ctx,
                format!("generation {generation} of {deployment} is not running ({}){stays}", target.describe_state()),
                "",
                &keep_json,
            ));
        }
        let Some((network, ip, port)) = target_address(&target) else {
            return Err(failed(
                ctx,
                format!(
                    "generation {generation} of {deployment} ({}) has no port on a network to route to: declare `ports` in its docker block{stays}",
                    target.name
                ),
                "",
                &keep_json,
            ));
        };
        // A local engine's containers answer at their own address; a remote engine's only at
        // their published ports (the runner cannot route to its container networks).
        let direct = if reach.is_local() { tcp_connect(&ip, port, RECHECK_TIMEOUT).await } else { Err("a remote engine".into()) };
        if let Err(e) = direct {
            let published = match target.published.get(&port) {
                Some(b) => match reach.host(&b.host_ip) {
                    Ok(host) => tcp_connect(&host, b.host_port, RECHECK_TIMEOUT).await,
                    Err(e) => Err(e),
                },
                None => Err(format!("{e}, and port {port} is not published")),
            };
            if let Err(e2) = published {
                return Err(failed(
                    ctx,
                    format!("generation {generation} of {deployment} does not accept connections on port {port} ({e}; published port: {e2}){stays}"),
                    "",
                    &keep_json,
                ));
            }
        }
        let upstream = upstream_of(&ip, port);

        // 2. The router.
        let rname = router_name(&request.name);
        let mut router = engine.inspect_container(&rname).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        if let Some(r) = &router {
            if !is_ours(r) {
                return Err(failed(
                    ctx,
                    format!("a container named {rname} exists that this provider did not create: remove or rename it{stays}"),
                    "",
                    &keep_json,
                ));
            }
            if !owns_router(r, Some(&recorded)) {
                let owner = r.labels.get(deploy_labels::OWNER).map_or("unrecorded", String::as_str);
                let objects = format!("router {rname} (owner {owner})");
                let import = format!("app_release.<resource> {}", request.name);
                return Err(failed(ctx, foreign_message(&engine, "release", &request.name, &objects, &import), "", &keep_json));
            }
            let wanted = (bind.clone(), Some(config.port));
            if r.configured_ports.get(&ROUTER_PORT) != Some(&wanted) {
                ctx.info(format!(
                    "{rname} publishes {:?}, the release wants {bind}:{}: recreating it",
                    r.configured_ports.get(&ROUTER_PORT),
                    config.port
                ))
                .await;
                engine.remove_container(&r.id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
                router = None;
            }
        }
        let contents = format!("{upstream}\n");
        let previous_upstream = docker_record(prior).map(|r| r.upstream).filter(|u| !u.is_empty());
        let switch_started;
        let uploaded;
        let router_id = match router {
            Some(r) => {
                if !r.networks.contains_key(&network) {
                    engine.connect_network(&network, &r.id, &[]).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
                    ctx.info(format!("attached {rname} to network {network}")).await;
                }
                ctx.info(format!("switching {rname} to generation {generation} of {deployment} ({upstream})")).await;
                switch_started = Instant::now();
                engine.put_file(&r.id, ROUTER_UPSTREAM_FILE, contents.as_bytes()).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
                uploaded = switch_started.elapsed();
                if !r.running {
                    ctx.info(format!("starting {rname} ({})", r.describe_state())).await;
                    engine.start_container(&r.id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
                }
                r.id
            }
            None => {
                let image = ensure_router_image(ctx, &engine, &keep_json).await?;
                let mut router_labels = request.labels.clone();
                router_labels.insert(deploy_labels::APP.into(), deployment.clone());
                router_labels.insert(deploy_labels::RELEASE.into(), request.name.clone());
                router_labels.insert(deploy_labels::ROLE.into(), deploy_labels::ROLE_ROUTER.into());
                router_labels.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
                router_labels.insert(deploy_labels::OWNER.into(), recorded.owner.clone());
                // Not root, bounded: the router holds one thread and a few MiB (app-router's docs).
                let spec = ContainerSpec {
                    name: rname.clone(),
                    image: image.clone(),
                    labels: router_labels,
                    entrypoint: Some(router_command()),
                    restart: DEFAULT_RESTART.into(),
                    ports: vec![PublishedPort { container_port: ROUTER_PORT, host_ip: bind.clone(), host_port: Some(config.port) }],
                    network: Some(network.clone()),
                    user: Some(ROUTER_USER.into()),
                    memory: Some(ROUTER_MEMORY_BYTES),
                    pids_limit: Some(ROUTER_PIDS_LIMIT),
                    ..Default::default()
                };
                let id = engine.create_container(&spec).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
                ctx.info(format!("created {rname} from {image} on network {network}, routing to generation {generation} ({upstream})"))
                    .await;
                switch_started = Instant::now();
                let written = engine.put_file(&id, ROUTER_UPSTREAM_FILE, contents.as_bytes()).await;
                uploaded = switch_started.elapsed();
                let started = match written {
                    Ok(()) => engine.start_container(&id).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = started {
                    let _ = engine.remove_container(&id).await;
                    let message = if port_taken(&e.to_string()) {
                        format!(
                            "port {} on {bind} is already in use by something else: choose another `port` for the release{stays}",
                            config.port
                        )
                    } else {
                        format!("could not start the router {rname}: {e}{stays}")
                    };
                    return Err(failed(ctx, message, "", &keep_json));
                }
                id
            }
        };

        // 3. The stable address must answer.
        let docker = DockerReleaseRecord {
            router_container_id: router_id.clone(),
            router_container_name: rname.clone(),
            network,
            upstream,
            owner: recorded.owner.clone(),
        };
        match verify(&host, config.port, VERIFY_WITHIN).await {
            Ok(how) => {
                let took = switch_started.elapsed();
                ctx.info(format!(
                    "switched {} to generation {generation} of {deployment} in {took:.1?} (upload {uploaded:.1?}); {} {how}",
                    request.name, url
                ))
                .await;
                Outcome::record(&record_of(request, &url, &docker, status::READY))
            }
            Err(e) => {
                let mut message = format!("{url} does not answer after switching to generation {generation} of {deployment}: {e}",);
                let json = match (prior, previous_upstream) {
                    (Some(prior), Some(previous)) => {
                        match engine.put_file(&router_id, ROUTER_UPSTREAM_FILE, format!("{previous}\n").as_bytes()).await {
                            Ok(()) => {
                                message.push_str(&format!("; switched back to generation {} ({previous})", prior.released_generation));
                                keep_json.clone()
                            }
                            Err(e2) => {
                                message.push_str(&format!("; switching back failed too: {e2}"));
                                to_json(&record_of(request, &url, &docker, status::FAILED))?
                            }
                        }
                    }
                    _ => to_json(&record_of(request, &url, &docker, status::FAILED))?,
                };
                Err(failed(ctx, message, engine.container_logs(&router_id, 20).await.map(|l| l.join("\n")).unwrap_or_default(), &json))
            }
        }
    }
}

#[async_trait]
impl Status<Release> for DockerRelease {
    async fn status(&self, ctx: &JobContext, request: &ReleaseRequest, prior: Option<&ReleaseRecord>) -> Result<Outcome, PlatformError> {
        let keep_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let recorded = docker_record(prior);
        let rname = recorded
            .as_ref()
            .map(|r| r.router_container_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| router_name(&request.name));
        let mut router = match recorded.as_ref().map(|r| r.router_container_id.as_str()).filter(|id| !id.is_empty()) {
            Some(id) => engine.inspect_container(id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?,
            None => None,
        };
        if router.is_none() {
            router = engine.inspect_container(&rname).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        }
        let router = router.filter(is_ours);
        // Where the router forwards (the archive API: ~80 ms on dockerd 20.10), so a target
        // changed outside Terraform shows as drift.
        let upstream = match &router {
            Some(r) => engine
                .read_file(&r.id, ROUTER_UPSTREAM_FILE)
                .await
                .map_err(|e| engine_failure(ctx, e, &keep_json))?
                .map(|b| String::from_utf8_lossy(&b).trim().to_string()),
            None => None,
        };
        let (Some(prior), Some(recorded)) = (prior, recorded) else {
            // Nothing recorded (import by name): what the router does is the reference.
            let Some(r) = router else { return Ok(Outcome::gone()) };
            let upstream = upstream.unwrap_or_default();
            let ip = upstream_ip(&upstream).unwrap_or_default();
            let deployment = r.labels.get(deploy_labels::APP).cloned().unwrap_or_else(|| request.deployment.clone());
            let filter = [
                (deploy_labels::APP, deployment.as_str()),
                (deploy_labels::ROLE, deploy_labels::ROLE_DEPLOYMENT),
                (labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
            ];
            let mut released = 0;
            for c in engine.list_containers(&filter).await.map_err(|e| engine_failure(ctx, e, &keep_json))? {
                if let Some(info) = engine.inspect_container(&c.id).await.map_err(|e| engine_failure(ctx, e, &keep_json))? {
                    if !ip.is_empty() && info.networks.values().any(|i| *i == ip) {
                        released = info.labels.get(deploy_labels::GENERATION).and_then(|g| g.parse().ok()).unwrap_or(0);
                    }
                }
            }
            let binding = r.configured_ports.get(&ROUTER_PORT).cloned();
            let url = binding.as_ref().and_then(|(host, port)| port.and_then(|p| Reach::of(&engine).url(host, p).ok()));
            let docker = DockerReleaseRecord {
                router_container_id: r.id.clone(),
                router_container_name: r.name.clone(),
                network: r.network_mode.clone(),
                upstream,
                owner: r.labels.get(deploy_labels::OWNER).cloned().unwrap_or_default(),
            };
            let state = if r.running && released > 0 { status::READY } else { status::DRIFTED };
            let mut config = serde_json::Map::new();
            if let Some((host, Some(port))) = &binding {
                config.insert("port".into(), serde_json::Value::from(*port));
                if *host != Reach::of(&engine).bind(None) && !host.is_empty() {
                    config.insert("bind_address".into(), serde_json::Value::String(host.clone()));
                }
            }
            return Outcome::record(&ReleaseRecord {
                released_generation: released,
                url,
                status: state.into(),
                record: serde_json::to_value(&docker).unwrap_or(serde_json::Value::Null),
                observed: Some(app_spec::job::ObservedRelease { deployment, config }),
            });
        };
        let config = parse_config(request).ok();
        let wanted = config.as_ref().map(|c| (Reach::of(&engine).bind(c.bind_address.as_deref()), Some(c.port)));
        let drift = match &router {
            None => Some(format!("the router container {rname} no longer exists (removed outside Terraform); the next apply recreates it")),
            Some(r) if !owns_router(r, Some(&recorded)) => Some(format!(
                "the router container {rname} now belongs to another configuration (owner {}); the next apply fails until one of them lets go of it",
                r.labels.get(deploy_labels::OWNER).map_or("unrecorded", String::as_str)
            )),
            Some(r) if !r.running => {
                Some(format!("the router container {rname} is {}; the next apply starts it again", r.describe_state()))
            }
            Some(r) if wanted.is_some() && r.configured_ports.get(&ROUTER_PORT) != wanted.as_ref() => Some(format!(
                "the router container {rname} publishes {:?} instead of {:?} (changed outside Terraform); the next apply recreates it",
                r.configured_ports.get(&ROUTER_PORT),
                wanted
            )),
            Some(_) if upstream.as_deref().is_some_and(|u| u != recorded.upstream) => Some(format!(
                "the router container {rname} forwards to {} instead of {} (changed outside Terraform); the next apply switches it back",
                upstream.as_deref().unwrap_or_default(),
                recorded.upstream
            )),
            Some(_) => {
                let target = find_generation(&engine, &request.deployment, prior.released_generation)
                    .await
                    .map_err(|e| engine_failure(ctx, e, &keep_json))?;
                let recorded_ip = upstream_ip(&recorded.upstream);
                match target {
                    Some(t) if t.running && t.networks.values().any(|ip| Some(ip.as_str()) == recorded_ip.as_deref()) => None,
                    Some(t) if t.running => Some(format!(
                        "generation {} of {} runs at another address than the router forwards to ({}); the next apply switches the router",
                        prior.released_generation, request.deployment, recorded.upstream
                    )),
                    Some(t) => Some(format!(
                        "generation {} of {} is {}: the release has nothing to forward to",
                        prior.released_generation,
                        request.deployment,
                        t.describe_state()
                    )),
                    None => Some(format!(
                        "generation {} of {} no longer exists: the release has nothing to forward to",
                        prior.released_generation, request.deployment
                    )),
                }
            }
        };
        let mut record = prior.clone();
        match drift {
            None => {
                if record.status == status::DRIFTED {
                    record.status = status::READY.into();
                }
                Outcome::record(&record)
            }
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
impl Destroyer<Release> for DockerRelease {
    async fn destroy(&self, ctx: &JobContext, request: &ReleaseRequest, prior: Option<&ReleaseRecord>) -> Result<Outcome, PlatformError> {
        let keep_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        let recorded = docker_record(prior);
        let rname = recorded
            .as_ref()
            .map(|r| r.router_container_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| router_name(&request.name));
        let mut router = match recorded.as_ref().map(|r| r.router_container_id.as_str()).filter(|id| !id.is_empty()) {
            Some(id) => engine.inspect_container(id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?,
            None => None,
        };
        if router.is_none() {
            router = engine.inspect_container(&rname).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
        }
        match router {
            None => ctx.info(format!("the router {rname} was already gone")).await,
            Some(r) if !is_ours(&r) => {
                ctx.warn(format!("a container named {rname} exists that this provider did not create: left as it is")).await
            }
            Some(r) if !owns_router(&r, recorded.as_ref()) => {
                ctx.warn(format!("the router {rname} belongs to another configuration's release: left as it is")).await
            }
            Some(r) => {
                engine.remove_container(&r.id).await.map_err(|e| engine_failure(ctx, e, &keep_json))?;
                ctx.info(format!("removed the router {rname}")).await;
            }
        }
        Ok(Outcome::nothing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn router_images_are_named_by_content() {
        let tag = router_tag(b"binary");
        assert!(tag.starts_with("app-router:"));
        assert_eq!(tag.len(), "app-router:".len() + 12);
        assert_ne!(tag, router_tag(b"other"));
        assert_eq!(router_command()[4..], ["--upstream-file".to_string(), ROUTER_UPSTREAM_FILE.to_string()]);
        let context = router_context(b"bin").expect("context");
        let mut archive = tar::Archive::new(context.as_slice());
        let mut names = Vec::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").display().to_string();
            if name == "Dockerfile" {
                let mut text = String::new();
                entry.read_to_string(&mut text).expect("read");
                assert!(text.contains("ENTRYPOINT [\"/app-router\", \"serve\""), "{text}");
            }
            names.push(name);
        }
        assert_eq!(names, ["Dockerfile", "app-router"]);
    }

    #[test]
    fn upstreams_bracket_ipv6() {
        assert_eq!(upstream_of("172.18.0.2", 8080), "172.18.0.2:8080");
        assert_eq!(upstream_of("fd00::2", 8080), "[fd00::2]:8080");
    }

    #[test]
    fn releases_need_a_port() {
        let request = ReleaseRequest { config: serde_json::json!({"port": 0}), ..Default::default() };
        assert!(parse_config(&request).is_err());
        let request = ReleaseRequest { config: serde_json::json!({"port": 18080}), ..Default::default() };
        assert_eq!(parse_config(&request).expect("config").port, 18080);
    }
}
