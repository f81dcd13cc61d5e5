//! Docker Engine work: connect, build (classic builder), tag, inspect, remove, push.
//!
//! Addresses: `unix:///path` (or a bare `/path`) and `tcp://host:port`. The API version is
//! negotiated with the engine, so old (20.10, API 1.41) and new engines both work.
//!
//! TLS to a `tcp://` engine, as the docker CLI does it: when a `cert_path` is configured, or
//! `DOCKER_CERT_PATH` is set, or `DOCKER_TLS_VERIFY` is set (not empty, not `0`; the certificates
//! are then in `~/.docker`), the engine's certificate is verified with `ca.pem` and the client
//! presents `cert.pem` + `key.pem` from that directory. Without any of these, `tcp://` is plain
//! HTTP. Unix sockets never use TLS.

use super::registry::Reference;
use super::RegistryAuth;
use app_spec::job::EngineSettings;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, CreateImageOptions, PushImageOptions, RemoveImageOptions, TagImageOptions};
use bollard::{body_full, body_try_stream, ClientVersion, Docker};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Docker listens when nothing says otherwise.
pub const DEFAULT_ADDRESS: &str = "unix:///var/run/docker.sock";
/// How many output lines a failed build keeps.
pub const TAIL_LINES: usize = 20;
/// How long one engine request may wait for its answer to start (a build streams after that).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How much of a build context file is read at a time (see [`DockerEngine::build_file`]).
const CONTEXT_READ: usize = 256 * 1024;
/// How long the first `/_ping` may take.
const PING_TIMEOUT: Duration = Duration::from_secs(15);

const HOW_TO_SET: &str = "set the engine address with `docker { host = \"unix:///path/to/docker.sock\" }` (or `tcp://host:port`) in the provider block, or the DOCKER_HOST environment variable";
/// The files a TLS connection reads from the certificate directory: the CA that signed the
/// engine's certificate, the client certificate and its private key.
pub const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];
const HOW_TO_SET_TLS: &str = "put ca.pem (the CA of the engine's certificate), cert.pem and key.pem (the client certificate and its key) there, or name the directory with `docker { host = \"tcp://host:2376\", cert_path = \"/path/to/certs\" }` in the provider block, or the DOCKER_HOST and DOCKER_CERT_PATH environment variables";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EngineError {
    #[error("unsupported Docker engine address `{address}`: {reason}; {HOW_TO_SET}", HOW_TO_SET = HOW_TO_SET)]
    BadAddress { address: String, reason: String },
    #[error("cannot reach the Docker engine at {address} ({origin}): {message}; is Docker running? {HOW_TO_SET}", HOW_TO_SET = HOW_TO_SET)]
    Unreachable { address: String, origin: String, message: String },
    /// TLS is asked for, but the certificate directory lacks a file or holds an unusable one.
    #[error("TLS to the Docker engine at {address} needs ca.pem, cert.pem and key.pem in {dir} ({origin}): {problem}; {HOW_TO_SET_TLS}", HOW_TO_SET_TLS = HOW_TO_SET_TLS)]
    TlsFiles {
        address: String,
        /// The certificate directory.
        dir: String,
        /// Which setting asked for TLS.
        origin: String,
        problem: String,
    },
    #[error("the Docker build failed{}: {message}", step.as_deref().map(|s| format!(" at `{s}`")).unwrap_or_default())]
    BuildFailed {
        /// The last `Step n/m : …` line before the failure.
        step: Option<String>,
        message: String,
        /// The last [`TAIL_LINES`] output lines.
        tail: Vec<String>,
    },
    #[error("authentication failed for registry {registry} while {action} {image}: check the username and password ({message})")]
    AuthFailed {
        registry: String,
        /// `pushing` or `pulling`.
        action: String,
        image: String,
        message: String,
    },
    #[error("pushing {image} failed: {message}")]
    PushFailed { image: String, message: String },
    #[error("pulling {image} failed: {message}")]
    PullFailed { image: String, message: String },
    #[error("image {reference} does not exist in the Docker engine")]
    NoSuchImage { reference: String },
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("Docker engine error while {action}: {message}")]
    Api { action: String, message: String },
}

impl EngineError {
    /// The output tail of a failed build, one line each.
    pub fn tail_text(&self) -> String {
        match self {
            Self::BuildFailed { tail, .. } => tail.join("\n"),
            _ => String::new(),
        }
    }
}

/// What to build and how.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// The Dockerfile's path inside the context tar; `Dockerfile` when `None`.
    pub dockerfile: Option<String>,
    /// Tags to give the image (`repo:tag`); the first is given by the build, the others after.
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    /// Multi-stage target.
    pub target: Option<String>,
    /// e.g. `linux/amd64`.
    pub platform: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    /// Always try to pull newer base images.
    pub pull: bool,
}

/// Build-argument values may be secrets: names only.
impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("dockerfile", &self.dockerfile)
            .field("tags", &self.tags)
            .field("build_args", &crate::redact::Names(&self.build_args))
            .field("target", &self.target)
            .field("platform", &self.platform)
            .field("labels", &self.labels)
            .field("no_cache", &self.no_cache)
            .field("pull", &self.pull)
            .finish()
    }
}

/// A finished build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// `sha256:…`
    pub image_id: String,
}

/// What the engine knows about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub repo_tags: Vec<String>,
    /// `repo@sha256:…` for every registry the image was pushed to or pulled from.
    pub repo_digests: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// A connection to one Docker engine.
#[derive(Debug, Clone)]
pub struct DockerEngine {
    pub(crate) docker: Docker,
    address: String,
}

impl DockerEngine {
    /// Connects to the engine `settings` name: `host`, else `$DOCKER_HOST`, else
    /// [`DEFAULT_ADDRESS`]; `cert_path` overrides `$DOCKER_CERT_PATH`. Checks `/_ping` and
    /// negotiates the API version.
    ///
    /// A runner serves one Terraform command, whose jobs mostly talk to the same engine: a
    /// successful connection is kept for the runner's lifetime (the client is cheap to clone),
    /// so a refresh of many resources pays the ping and version negotiation once.
    pub async fn connect(settings: &EngineSettings) -> Result<Self, EngineError> {
        static CONNECTED: std::sync::OnceLock<std::sync::Mutex<HashMap<String, DockerEngine>>> = std::sync::OnceLock::new();
        let key = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}",
            settings,
            std::env::var("DOCKER_HOST").ok(),
            std::env::var("DOCKER_CERT_PATH").ok(),
            std::env::var("DOCKER_TLS_VERIFY").ok(),
            std::env::var("HOME").ok()
        );
        let cache = CONNECTED.get_or_init(Default::default);
        if let Some(engine) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(engine);
        }
        let engine = Self::connect_uncached(settings).await?;
        if let Ok(mut c) = cache.lock() {
            c.insert(key, engine.clone());
        }
        Ok(engine)
    }

    async fn connect_uncached(settings: &EngineSettings) -> Result<Self, EngineError> {
        let env = std::env::var("DOCKER_HOST").ok().filter(|v| !v.trim().is_empty());
        let (address, origin) = match (settings.host.as_deref().map(str::trim).filter(|a| !a.is_empty()), env) {
            (Some(a), _) => (a.to_string(), "from the provider configuration"),
            (None, Some(env)) => (env, "from DOCKER_HOST"),
            (None, None) => (DEFAULT_ADDRESS.to_string(), "the default address"),
        };
        let tls = tls_wanted(settings);
        let unreachable = |message: String| EngineError::Unreachable { address: address.clone(), origin: origin.to_string(), message };
        let opened = open(&address, bollard::API_DEFAULT_VERSION, tls.as_ref());
        let (docker, tls) = opened.map_err(|e| match e {
            OpenError::Bad(reason) => EngineError::BadAddress { address: address.clone(), reason },
            OpenError::Connect(message) => unreachable(message),
            OpenError::Tls { dir, origin, problem } => EngineError::TlsFiles { address: address.clone(), dir, origin, problem },
        })?;
        // What a failed request says, naming TLS when the handshake (or a TLS alert) is the cause.
        let failure = |e: &bollard::errors::Error| match (&tls, tls_failure(e)) {
            (Some(tls), Some(reason)) => {
                format!("the TLS connection failed ({reason}; certificates from {}, {})", tls.dir.display(), tls.origin)
            }
            _ => error_chain(e),
        };
        match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
            Err(_) => return Err(unreachable(format!("no answer to /_ping within {PING_TIMEOUT:?}"))),
            Ok(Err(e)) if too_new(&e).is_none() => return Err(unreachable(failure(&e))),
            Ok(_) => {}
        }
        // Pick the API version: ours, lowered to the engine's (an engine that rejects a too new
        // version says which one it supports).
        let docker = match docker.clone().negotiate_version().await {
            Ok(docker) => docker,
            Err(e) => match too_new(&e) {
                Some(version) => {
                    let (docker, _) = open(&address, &version, tls.as_ref()).map_err(|e| unreachable(format!("{e:?}")))?;
                    docker.ping().await.map_err(|e| unreachable(failure(&e)))?;
                    docker
                }
                None => return Err(unreachable(format!("could not negotiate the API version: {}", failure(&e)))),
            },
        };
        Ok(Self { docker, address })
    }

    /// The address this engine was reached at.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The engine's host when it runs on another machine (`tcp://host:port` with a host that is
    /// not a loopback name or address); `None` for a local engine (unix socket, loopback TCP).
    pub fn remote_host(&self) -> Option<String> {
        remote_host(&self.address)
    }

    /// The negotiated API version, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        let v = self.docker.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }

    /// Builds from a context tar held in memory.
    pub async fn build(&self, context_tar: Vec<u8>, options: &BuildOptions, log: impl Fn(String)) -> Result<BuiltImage, EngineError> {
        let stream = self.docker.build_image(build_query(options), None, Some(body_full(Bytes::from(context_tar))));
        self.follow_build(stream, options, log).await
    }

    /// Builds from a context tar in a file, streamed to the engine as it takes it: one read of
    /// [`CONTEXT_READ`] bytes at a time is in memory, however large the context.
    pub async fn build_file(
        &self,
        context_tar: tokio::fs::File,
        options: &BuildOptions,
        log: impl Fn(String),
    ) -> Result<BuiltImage, EngineError> {
        let chunks = futures::stream::try_unfold(context_tar, |mut file| async move {
            let mut buf = bytes::BytesMut::with_capacity(CONTEXT_READ);
            let n = tokio::io::AsyncReadExt::read_buf(&mut file, &mut buf).await?;
            Ok::<_, std::io::Error>((n > 0).then(|| (buf.freeze(), file)))
        });
        let stream = self.docker.build_image(build_query(options), None, Some(body_try_stream(chunks)));
        self.follow_build(stream, options, log).await
    }

    /// Follows a build's output to its end: the image id, or the failure with its step and tail.
    async fn follow_build(
        &self,
        stream: impl Stream<Item = Result<bollard::models::BuildInfo, bollard::errors::Error>>,
        options: &BuildOptions,
        log: impl Fn(String),
    ) -> Result<BuiltImage, EngineError> {
        let mut stream = std::pin::pin!(stream);
        let mut lines = LineSplitter::default();
        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES + 1);
        let mut step: Option<String> = None;
        let mut image_id: Option<String> = None;
        let mut emit = |line: String, step: &mut Option<String>| {
            if line.starts_with("Step ") && line.contains(" : ") {
                *step = Some(line.clone());
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
            log(line);
        };
        let mut failure: Option<String> = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref() {
                        for line in lines.push(text) {
                            emit(line, &mut step);
                        }
                    }
                    if let Some(status) = info.status.as_deref() {
                        let line = match info.id.as_deref() {
                            Some(id) if !id.is_empty() => format!("{id}: {status}"),
                            _ => status.to_string(),
                        };
                        emit(line, &mut step);
                    }
                    if let Some(id) = info.aux.as_ref().and_then(|aux| aux.id.clone()) {
                        image_id = Some(id);
                    }
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        failure = Some(message);
                        break;
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    failure = Some(error);
                    break;
                }
                Err(bollard::errors::Error::DockerResponseServerError { status_code, message }) => {
                    // The engine refused the build outright (bad Dockerfile path, bad platform...).
                    failure = Some(format!("{message} (HTTP {status_code})"));
                    break;
                }
                Err(e) => return Err(EngineError::Api { action: "building".into(), message: e.to_string() }),
            }
        }
        if let Some(rest) = lines.finish() {
            emit(rest, &mut step);
        }
        if let Some(message) = failure {
            return Err(EngineError::BuildFailed { step, message: message.trim().to_string(), tail: tail.into_iter().collect() });
        }
        let image_id = match image_id {
            Some(id) => id,
            // Engines without the aux message: "Successfully built <short id>" names it.
            None => {
                let short = tail.iter().rev().find_map(|l| l.strip_prefix("Successfully built ").map(|s| s.trim().to_string()));
                let Some(reference) = short.or_else(|| options.tags.first().cloned()) else {
                    return Err(EngineError::BuildFailed {
                        step,
                        message: "the engine did not say which image it built".into(),
                        tail: tail.into_iter().collect(),
                    });
                };
                self.inspect_image(&reference).await?.ok_or(EngineError::NoSuchImage { reference })?.id
            }
        };
        for extra in options.tags.iter().skip(1) {
            self.tag(&image_id, extra).await?;
        }
        Ok(BuiltImage { image_id })
    }

    /// Gives `source` (an id or reference) the name `target` (`repo[:tag]`, `latest` by default).
    pub async fn tag(&self, source: &str, target: &str) -> Result<(), EngineError> {
        let (repo, tag) = split_tag(target)?;
        let options = TagImageOptions { repo: Some(repo.to_string()), tag: Some(tag.to_string()) };
        self.docker.tag_image(source, Some(options)).await.map_err(|e| match not_found(&e) {
            true => EngineError::NoSuchImage { reference: source.to_string() },
            false => EngineError::Api { action: format!("tagging {source} as {target}"), message: e.to_string() },
        })
    }

    /// The image `reference` names, or `None`.
    pub async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(ImageInfo {
                id: image.id.unwrap_or_default(),
                repo_tags: image.repo_tags.unwrap_or_default(),
                repo_digests: image.repo_digests.unwrap_or_default(),
                labels: image.config.and_then(|c| c.labels).unwrap_or_default().into_iter().collect(),
            })),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(EngineError::Api { action: format!("inspecting {reference}"), message: e.to_string() }),
        }
    }

    /// Removes `reference` (an untag when the image has other names). `false` when it did not exist.
    pub async fn remove_image(&self, reference: &str) -> Result<bool, EngineError> {
        let options = RemoveImageOptions { force: false, noprune: false, ..Default::default() };
        match self.docker.remove_image(reference, Some(options), None).await {
            Ok(_) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(EngineError::Api { action: format!("removing {reference}"), message: e.to_string() }),
        }
    }

    /// Pushes `image_ref` (`registry/repo[:tag]`) and returns the pushed manifest digest (`sha256:…`).
    pub async fn push(&self, image_ref: &str, auth: Option<&RegistryAuth>, log: impl Fn(String)) -> Result<String, EngineError> {
        let parsed = Reference::parse(image_ref)
            .map_err(|e| EngineError::InvalidReference { reference: image_ref.to_string(), reason: e.to_string() })?;
        if parsed.digest.is_some() {
            return Err(EngineError::InvalidReference { reference: image_ref.to_string(), reason: "push a tag, not a digest".into() });
        }
        let (repo, tag) = split_tag(image_ref)?;
        let credentials = auth.map(|a| DockerCredentials {
            username: Some(a.username.clone()),
            password: Some(a.password.clone()),
            serveraddress: Some(parsed.registry.clone()),
            ..Default::default()
        });
        let options = PushImageOptions { tag: Some(tag.to_string()), ..Default::default() };
        let mut stream = self.docker.push_image(repo, Some(options), credentials);
        let mut digest: Option<String> = None;
        let fail = |message: String| {
            if is_auth_error(&message) {
                EngineError::AuthFailed {
                    registry: parsed.registry.clone(),
                    action: "pushing".into(),
                    image: image_ref.to_string(),
                    message: scrub(&message, auth),
                }
            } else {
                EngineError::PushFailed { image: image_ref.to_string(), message: scrub(&message, auth) }
            }
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(fail(message));
                    }
                    if let Some(status) = info.status {
                        // "<tag>: digest: sha256:… size: N"
                        if let Some(d) = digest_in(&status) {
                            digest = Some(d);
                        }
                        // Per-layer progress is noise in a job log; keep the state changes.
                        if info.progress_detail.as_ref().is_none_or(|p| p.current.is_none()) {
                            log(status);
                        }
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => return Err(fail(error)),
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    return Err(EngineError::NoSuchImage { reference: image_ref.to_string() })
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => return Err(fail(message)),
                Err(e) => return Err(EngineError::Api { action: format!("pushing {image_ref}"), message: e.to_string() }),
            }
        }
        digest.ok_or_else(|| EngineError::PushFailed {
            image: image_ref.to_string(),
            message: "the engine did not report the pushed digest".into(),
        })
    }
}

impl DockerEngine {
    /// Pulls `reference` (`repo[:tag]` or `repo@sha256:…`; `latest` when neither) into the
    /// engine and returns the image ID. Only that one tag or digest is pulled.
    pub async fn pull(&self, reference: &str, auth: Option<&RegistryAuth>, log: impl Fn(String)) -> Result<String, EngineError> {
        let parsed = Reference::parse(reference)
            .map_err(|e| EngineError::InvalidReference { reference: reference.to_string(), reason: e.to_string() })?;
        // As the docker CLI does: the name in fromImage, the tag or digest in tag (an empty tag
        // would pull every tag of the repository).
        let (name, tag) = match reference.split_once('@') {
            Some((name, digest)) => {
                (split_tag(name).map(|(repo, _)| repo.to_string()).unwrap_or_else(|_| name.to_string()), digest.to_string())
            }
            None => {
                let (repo, tag) = split_tag(reference)?;
                (repo.to_string(), tag.to_string())
            }
        };
        let credentials = auth.map(|a| DockerCredentials {
            username: Some(a.username.clone()),
            password: Some(a.password.clone()),
            serveraddress: Some(parsed.registry.clone()),
            ..Default::default()
        });
        let options = CreateImageOptions { from_image: Some(name), tag: Some(tag), ..Default::default() };
        let fail = |message: String| {
            if is_auth_error(&message) {
                EngineError::AuthFailed {
                    registry: parsed.registry.clone(),
                    action: "pulling".into(),
                    image: reference.to_string(),
                    message: scrub(&message, auth),
                }
            } else {
                EngineError::PullFailed { image: reference.to_string(), message: scrub(&message, auth) }
            }
        };
        let mut stream = self.docker.create_image(Some(options), None, credentials);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(fail(message));
                    }
                    if let Some(status) = info.status {
                        if info.progress_detail.as_ref().is_none_or(|p| p.current.is_none()) {
                            log(match info.id.as_deref() {
                                Some(id) if !id.is_empty() => format!("{id}: {status}"),
                                _ => status,
                            });
                        }
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => return Err(fail(error)),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => return Err(fail(message)),
                Err(e) => return Err(EngineError::Api { action: format!("pulling {reference}"), message: e.to_string() }),
            }
        }
        let info = self.inspect_image(reference).await?.ok_or_else(|| EngineError::PullFailed {
            image: reference.to_string(),
            message: "the engine reported no error, but does not have the image afterwards".into(),
        })?;
        Ok(info.id)
    }
}

/// A tar of `dir` (recursively, symlinks kept as links), to use as a build context.
pub fn tar_directory(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()
}

fn build_query(options: &BuildOptions) -> BuildImageOptions {
    BuildImageOptions {
        dockerfile: options.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()),
        t: options.tags.first().cloned(),
        nocache: options.no_cache,
        pull: options.pull.then(|| "1".to_string()),
        rm: true,
        forcerm: true,
        buildargs: (!options.build_args.is_empty())
            .then(|| options.build_args.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()),
        labels: (!options.labels.is_empty()).then(|| options.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()),
        platform: options.platform.clone().unwrap_or_default(),
        target: options.target.clone().unwrap_or_default(),
        ..Default::default()
    }
}

enum OpenError {
    Bad(String),
    Connect(String),
    /// The certificate directory lacks a file or holds an unusable one.
    Tls {
        dir: String,
        origin: String,
        problem: String,
    },
}

impl std::fmt::Debug for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bad(s) | Self::Connect(s) => f.write_str(s),
            Self::Tls { dir, problem, .. } => write!(f, "{problem} (in {dir})"),
        }
    }
}

/// TLS for a `tcp://` engine: the directory with [`TLS_FILES`], and which setting named it.
#[derive(Debug, Clone)]
struct TlsSettings {
    dir: PathBuf,
    origin: String,
}

/// Whether TLS is asked for, and where the certificates are (as the docker CLI decides): the
/// provider's `cert_path`, else `DOCKER_CERT_PATH`, else `~/.docker` when only
/// `DOCKER_TLS_VERIFY` is set (not empty, not `0`).
fn tls_wanted(settings: &EngineSettings) -> Option<TlsSettings> {
    if let Some(path) = settings.cert_path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        return Some(TlsSettings { dir: PathBuf::from(path), origin: "cert_path in the provider configuration".into() });
    }
    if let Some(path) = std::env::var("DOCKER_CERT_PATH").ok().filter(|p| !p.trim().is_empty()) {
        return Some(TlsSettings { dir: PathBuf::from(path), origin: "from DOCKER_CERT_PATH".into() });
    }
    if std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty() && v != "0") {
        let home = std::env::home_dir().unwrap_or_else(|| PathBuf::from("~"));
        return Some(TlsSettings {
            dir: home.join(".docker"),
            origin: "DOCKER_TLS_VERIFY is set and DOCKER_CERT_PATH is not: the default directory".into(),
        });
    }
    None
}

/// Opens a client for `address` (no request is made yet); also says whether it uses TLS.
fn open(address: &str, version: &ClientVersion, tls: Option<&TlsSettings>) -> Result<(Docker, Option<TlsSettings>), OpenError> {
    let timeout = REQUEST_TIMEOUT.as_secs();
    let (docker, tls) = if let Some(path) = address.strip_prefix("unix://").or_else(|| address.starts_with('/').then_some(address)) {
        if path.is_empty() {
            return Err(OpenError::Bad("the unix socket path is empty".into()));
        }
        if !Path::new(path).exists() {
            return Err(OpenError::Connect(format!("socket {path} does not exist")));
        }
        (Docker::connect_with_unix(path, timeout, version), None)
    } else if let Some(hostport) = address.strip_prefix("tcp://").or_else(|| address.strip_prefix("http://")) {
        if hostport.is_empty() {
            return Err(OpenError::Bad("the host is empty".into()));
        }
        let addr = format!("tcp://{hostport}");
        match tls {
            None => (Docker::connect_with_http(&addr, timeout, version), None),
            Some(tls) => {
                let [ca, cert, key] = tls_files(tls)?;
                // bollard's client-certificate resolver loads the key with the process default
                // provider; the tree's rustls is built with aws-lc-rs only. Already set: kept.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                (Docker::connect_with_ssl(&addr, &key, &cert, &ca, timeout, version), Some(tls.clone()))
            }
        }
    } else {
        let scheme = address.split_once("://").map_or("none", |(s, _)| s);
        return Err(OpenError::Bad(format!("scheme `{scheme}` is not supported (use unix:// or tcp://)")));
    };
    let docker = docker.map_err(|e| match &tls {
        Some(t) => OpenError::Tls { dir: t.dir.display().to_string(), origin: t.origin.clone(), problem: error_chain(&e) },
        None => OpenError::Connect(e.to_string()),
    })?;
    Ok((docker, tls))
}

/// The paths of `ca.pem`, `cert.pem` and `key.pem`, once each is there and holds what it should
/// (bollard reads the client certificate only during the handshake, and a bad one silently
/// becomes no certificate at all, which the engine then refuses without saying why).
fn tls_files(tls: &TlsSettings) -> Result<[PathBuf; 3], OpenError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |problem: String| OpenError::Tls { dir: tls.dir.display().to_string(), origin: tls.origin.clone(), problem };
    let paths = TLS_FILES.map(|name| tls.dir.join(name));
    let missing: Vec<&str> = TLS_FILES.iter().zip(&paths).filter(|(_, p)| !p.is_file()).map(|(name, _)| *name).collect();
    if !missing.is_empty() {
        let what = if tls.dir.is_dir() { "the directory lacks" } else { "the directory does not exist, so it lacks" };
        return Err(fail(format!("{what} {}", missing.join(", "))));
    }
    let [ca, cert, key] = &paths;
    let certificates = |path: &Path| -> Result<usize, String> {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| e.to_string())?;
        certs.collect::<Result<Vec<_>, _>>().map(|c| c.len()).map_err(|e| e.to_string())
    };
    for (name, path) in [("ca.pem", ca), ("cert.pem", cert)] {
        match certificates(path) {
            Ok(0) => return Err(fail(format!("{name} holds no PEM certificate"))),
            Ok(_) => {}
            Err(e) => return Err(fail(format!("cannot read {name}: {e}"))),
        }
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(format!("key.pem holds no usable PEM private key: {e}")))?;
    rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(private_key)
        .map_err(|e| fail(format!("the private key in key.pem cannot be used: {e}")))?;
    Ok(paths)
}

/// An error with its causes, `a: b: c` (hyper's errors keep the interesting part in the causes).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// The TLS error (a failed handshake, an alert from the peer) behind a failed request, if any.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        // io::Error::source() skips the error it wraps (hyper-rustls wraps it twice): unwrap it.
        let mut inner = c;
        while let Some(wrapped) = inner.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            inner = wrapped;
        }
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        cause = c.source();
    }
    None
}

/// The engine's maximum API version when it rejected ours as too new.
fn too_new(e: &bollard::errors::Error) -> Option<ClientVersion> {
    let bollard::errors::Error::DockerResponseServerError { message, .. } = e else { return None };
    let (_, rest) = message.split_once("Maximum supported API version is ")?;
    let version: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let (major, minor) = version.trim_end_matches('.').split_once('.')?;
    Some(ClientVersion { major_version: major.parse().ok()?, minor_version: minor.parse().ok()? })
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

fn is_auth_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("unauthorized") || m.contains("authentication required") || m.contains("no basic auth credentials") || m.contains("401")
}

/// Removes the password from an engine message, should one ever echo it.
fn scrub(message: &str, auth: Option<&RegistryAuth>) -> String {
    match auth {
        Some(a) if !a.password.is_empty() => message.replace(&a.password, "***"),
        _ => message.to_string(),
    }
}

/// Splits `repo[:tag]` (the registry port is not a tag).
fn split_tag(reference: &str) -> Result<(&str, &str), EngineError> {
    let bad = |reason: &str| EngineError::InvalidReference { reference: reference.to_string(), reason: reason.to_string() };
    if reference.contains('@') {
        return Err(bad("a digest reference cannot be tagged or pushed"));
    }
    let last_slash = reference.rfind('/');
    match reference.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            let (repo, tag) = (&reference[..colon], &reference[colon + 1..]);
            if repo.is_empty() || tag.is_empty() {
                return Err(bad("empty repository or tag"));
            }
            Ok((repo, tag))
        }
        _ if reference.is_empty() => Err(bad("it is empty")),
        _ => Ok((reference, "latest")),
    }
}

/// `sha256:…` in a push status line such as `v1: digest: sha256:… size: 528`.
fn digest_in(status: &str) -> Option<String> {
    let (_, rest) = status.split_once("digest: ")?;
    let digest: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(digest)
}

/// Turns the engine's `stream` chunks into whole lines.
#[derive(Default)]
struct LineSplitter {
    partial: String,
}

impl LineSplitter {
    fn push(&mut self, chunk: &str) -> Vec<String> {
        self.partial.push_str(chunk);
        let mut out = Vec::new();
        while let Some(newline) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=newline).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if !line.trim().is_empty() {
                out.push(line.to_string());
            }
        }
        out
    }

    fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.partial);
        (!rest.trim().is_empty()).then(|| rest.trim_end().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push("Step 1/2 : FROM scratch\n ---> Run"), vec!["Step 1/2 : FROM scratch"]);
        assert_eq!(s.push("ning\n\n"), vec![" ---> Running"]);
        assert_eq!(s.push("tail"), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("tail"));
    }

    #[test]
    fn finds_push_digest() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(digest_in(&format!("v1: digest: sha256:{hex} size: 528")), Some(format!("sha256:{hex}")));
        assert_eq!(digest_in("Pushed"), None);
    }

    #[test]
    fn splits_tags() {
        assert_eq!(split_tag("127.0.0.1:5055/a/b:v1").ok(), Some(("127.0.0.1:5055/a/b", "v1")));
        assert_eq!(split_tag("127.0.0.1:5055/a/b").ok(), Some(("127.0.0.1:5055/a/b", "latest")));
        assert!(split_tag("x@sha256:00").is_err());
    }

    #[test]
    fn reads_max_api_version() {
        let e = bollard::errors::Error::DockerResponseServerError {
            status_code: 400,
            message: "client version 1.53 is too new. Maximum supported API version is 1.41".into(),
        };
        let v = too_new(&e).map(|v| (v.major_version, v.minor_version));
        assert_eq!(v, Some((1, 41)));
    }
}

/// See [`DockerEngine::remote_host`].
pub fn remote_host(address: &str) -> Option<String> {
    let rest = ["tcp://", "http://", "https://"].iter().find_map(|scheme| address.strip_prefix(scheme))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (!host.is_empty() && !loopback).then(|| host.to_string())
}

#[cfg(test)]
mod remote_tests {
    use super::remote_host;

    #[test]
    fn remote_engines_are_tcp_to_another_host() {
        assert_eq!(remote_host("tcp://10.231.0.2:2376").as_deref(), Some("10.231.0.2"));
        assert_eq!(remote_host("tcp://docker.example.com:2376").as_deref(), Some("docker.example.com"));
        assert_eq!(remote_host("tcp://[fd00::2]:2376").as_deref(), Some("fd00::2"));
        for local in
            ["tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:2375", "unix:///var/run/docker.sock", "/var/run/docker.sock"]
        {
            assert_eq!(remote_host(local), None, "{local}");
        }
    }
}
