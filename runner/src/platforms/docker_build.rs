//! The `docker` builder: builds the uploaded context with the Docker engine, labelled with the
//! source hash (and the provider's build configuration), and with a `registry` block pushes it
//! so its identity is the registry's manifest digest.
//!
//! BUILD, in order:
//! 1. With a registry that is not `local`: resolve the credentials ([`resolve_auth`]) and HEAD
//!    `repository:tag`. When the registry holds it with this source hash (image label), the
//!    image is adopted: nothing is built or pushed. Authentication failures end the job here,
//!    before anything is built.
//! 2. Build, tagged `<name>:<12 hex of the source hash>` (the record's `tag`, the one local name
//!    destroy removes). With `local = true` the build is tagged `repository:tag` instead, and that
//!    is the record's `tag` and `image`.
//! 3. Push: tag `repository:tag`, push it, read the digest back from the registry
//!    (`Docker-Content-Digest`) and record `image = repository@digest`. The `repository:tag`
//!    name was only needed for the push and is removed again (unless it existed before), so the
//!    engine keeps exactly one name per build and destroy removes exactly that one.
//!
//! A rebuild or adoption that replaces a prior record removes the prior build's local tag (the
//! record holds one tag, so it would be left behind otherwise).
//!
//! STATUS checks the registry for pushed and adopted images (`repository@digest`) and the engine
//! otherwise. DESTROY removes the record's local tag and, with `delete_on_destroy`, the manifest.

use super::registry_auth::{is_auth_error, registry_client, registry_failure_message, resolve_auth, AuthSource, ResolvedAuth};
use crate::context::JobContext;
use crate::engine::docker::{BuildOptions, DockerEngine, EngineError};
use crate::engine::registry::{repository_name, Reference, RegistryClient, RegistryError};
use crate::platform::{to_json, Build, Builder, Destroyer, Outcome, PlatformError, Status};
use crate::proto::log_line::Level;
use app_spec::docker_build::{hash_tag, DockerBuildConfig, RegistryConfig};
use app_spec::job::{labels, BuildRecord, BuildRequest};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::future::Future;
use tokio::sync::mpsc::UnboundedSender;

pub struct DockerBuild;

/// A failure, masked (secrets never reach the provider's diagnostics), recording `result_json`.
pub(crate) fn failed(ctx: &JobContext, message: impl AsRef<str>, detail: impl AsRef<str>, result_json: &str) -> PlatformError {
    PlatformError::failed(ctx.mask(message.as_ref()), ctx.mask(detail.as_ref()), result_json)
}

pub(crate) fn engine_failure(ctx: &JobContext, e: EngineError, result_json: &str) -> PlatformError {
    failed(ctx, e.to_string(), e.tail_text(), result_json)
}

/// `e`, masked, with `result_json` when it records nothing yet.
pub(crate) fn recording(ctx: &JobContext, e: PlatformError, result_json: &str) -> PlatformError {
    match e {
        PlatformError::Failed { message, detail, result_json: r } => {
            failed(ctx, message, detail, if r.is_empty() { result_json } else { r.as_str() })
        }
        other => other,
    }
}

/// Runs `work` with a sender whose lines reach the job's log as `stream`; the engine's output
/// arrives through plain callbacks.
pub(crate) async fn logged<T, F>(ctx: &JobContext, stream: &str, work: impl FnOnce(UnboundedSender<String>) -> F) -> T
where
    F: Future<Output = T>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let forward = async {
        while let Some(line) = rx.recv().await {
            ctx.log(stream, Level::Info, line).await;
        }
    };
    let (result, ()) = tokio::join!(work(tx), forward);
    result
}

fn parse_config(request: &BuildRequest) -> Result<DockerBuildConfig, PlatformError> {
    if request.config.is_null() {
        return Ok(DockerBuildConfig::default());
    }
    serde_json::from_value(request.config.clone()).map_err(|e| PlatformError::InvalidRequest(format!("invalid docker builder block: {e}")))
}

/// The local tag of a build: `<name>:<12 hex of the source hash>`.
fn local_tag(request: &BuildRequest) -> String {
    let tag = hash_tag(&request.source_hash);
    format!("{}:{}", request.name, if tag.is_empty() { "latest" } else { &tag })
}

/// Fills what an imported record leaves out: `repository` and `digest` from an image
/// `repo@sha256:…`, `image_id` from a local `sha256:…` image ID. Empty strings count as unset.
pub(crate) fn normalize(mut record: BuildRecord) -> BuildRecord {
    record.repository = record.repository.filter(|r| !r.is_empty());
    record.digest = record.digest.filter(|d| !d.is_empty());
    record.registry_tag = record.registry_tag.filter(|t| !t.is_empty());
    if let Some((name, digest)) = record.image.split_once('@') {
        if record.repository.is_none() {
            record.repository = Some(repository_name(name).to_string());
        }
        if record.digest.is_none() {
            record.digest = Some(digest.to_string());
        }
    } else if record.image.starts_with("sha256:") && record.image_id.is_empty() {
        record.image_id = record.image.clone();
    }
    record
}

/// What an import finds (`read_labels`): the configuration the provider wrote into the image's
/// label, or, for an image this provider did not build but a registry holds, a `docker_pull` of it.
pub(crate) fn apply_labels(record: &mut BuildRecord, image_labels: &BTreeMap<String, String>) {
    let written = image_labels.get(labels::BUILD_CONFIG).and_then(|label| serde_json::from_str::<serde_json::Value>(label).ok());
    record.observed = match written {
        Some(config) => Some(config),
        None if record.digest.is_some() => Some(serde_json::json!({ "docker_pull": { "image": record.image } })),
        None => None,
    };
    if let Some(hash) = image_labels.get(labels::SOURCE_HASH) {
        record.source_hash = hash.clone();
    }
}

/// Where a build is pushed: the repository as configured, the tag, and how to reach it.
struct PushTarget {
    repository: String,
    tag: String,
    /// `host[:port]`.
    registry: String,
    client: RegistryClient,
    auth: ResolvedAuth,
}

impl PushTarget {
    async fn resolve(config: &RegistryConfig, source_hash: &str) -> Result<Self, PlatformError> {
        let repository = config.image.trim().to_string();
        let tag = config.tag_for(source_hash);
        let tagged = format!("{repository}:{tag}");
        let parsed = Reference::parse(&tagged)
            .map_err(|e| PlatformError::InvalidRequest(format!("the registry block names an invalid image `{tagged}`: {e}")))?;
        let auth = resolve_auth(&repository, config.auth.as_ref(), config.ecr == Some(true)).await?;
        let client = registry_client(&parsed.registry, config.insecure == Some(true));
        Ok(Self { repository, tag, registry: parsed.registry, client, auth })
    }

    fn tagged(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    fn by_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository)
    }

    fn auth(&self) -> Option<&crate::engine::RegistryAuth> {
        self.auth.auth.as_ref()
    }

    fn failure(&self, ctx: &JobContext, e: &RegistryError, doing: &str, result_json: &str) -> PlatformError {
        failed(ctx, registry_failure_message(e, doing, &self.auth.source), "", result_json)
    }
}

/// The record of an image the registry already holds for this source hash, if it does.
async fn adoptable(
    ctx: &JobContext,
    target: &PushTarget,
    request: &BuildRequest,
    prior_json: &str,
) -> Result<Option<BuildRecord>, PlatformError> {
    let tagged = target.tagged();
    let doing = format!("checking whether {tagged} is already in the registry (nothing was built or pushed)");
    let digest = match target.client.head_manifest(&tagged, target.auth()).await {
        Ok(Some(digest)) => digest,
        Ok(None) => {
            ctx.info(format!("{tagged} is not in registry {} yet: building", target.registry)).await;
            return Ok(None);
        }
        Err(e) => return Err(target.failure(ctx, &e, &doing, prior_json)),
    };
    let by_digest = target.by_digest(&digest);
    let image_labels = match target.client.image_labels(&by_digest, target.auth()).await {
        Ok(labels) => labels.unwrap_or_default(),
        Err(e) => return Err(target.failure(ctx, &e, &doing, prior_json)),
    };
    match image_labels.get(labels::SOURCE_HASH) {
        Some(hash) if !request.source_hash.is_empty() && *hash == request.source_hash => {
            ctx.info(format!(
                "adopted {tagged} ({digest}) from registry {}: it already holds source hash {}; nothing was built or pushed",
                target.registry, request.source_hash
            ))
            .await;
            Ok(Some(BuildRecord {
                image: by_digest,
                source_hash: request.source_hash.clone(),
                repository: Some(target.repository.clone()),
                registry_tag: Some(target.tag.clone()),
                digest: Some(digest),
                built: false,
                ..Default::default()
            }))
        }
        Some(hash) => {
            ctx.info(format!("{tagged} holds source hash {hash}, not {}: building and pushing over the tag", request.source_hash)).await;
            Ok(None)
        }
        None => {
            ctx.info(format!("{tagged} holds an image without a source hash label: building and pushing over the tag")).await;
            Ok(None)
        }
    }
}

#[async_trait]
impl Builder for DockerBuild {
    async fn build(&self, ctx: &JobContext, request: &BuildRequest, prior: Option<&BuildRecord>) -> Result<Outcome, PlatformError> {
        let config = parse_config(request)?;
        let prior_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let registry = request.registry.as_ref().filter(|r| !r.image.trim().is_empty());

        let target = match registry {
            Some(r) if !r.is_local() => {
                Some(PushTarget::resolve(r, &request.source_hash).await.map_err(|e| recording(ctx, e, &prior_json))?)
            }
            _ => None,
        };
        if let Some(target) = &target {
            if let Some(record) = adoptable(ctx, target, request, &prior_json).await? {
                let mut record = record;
                if prior.is_some_and(|p| !p.tag.is_empty() || !p.stale_tags.is_empty()) {
                    match DockerEngine::connect(&request.engine).await {
                        Ok(engine) => record.stale_tags = drop_prior_tags(ctx, &engine, prior, &record.tag).await,
                        Err(e) => {
                            ctx.warn(format!("could not remove the previous build's tags: {e}")).await;
                            record.stale_tags = prior.map(|p| [p.stale_tags.clone(), vec![p.tag.clone()]].concat()).unwrap_or_default();
                            record.stale_tags.retain(|t| !t.is_empty());
                        }
                    }
                }
                return Outcome::record(&record);
            }
        }

        let archive = ctx.source_archive().ok_or_else(|| {
            PlatformError::InvalidRequest("the docker builder needs the build context: upload it and name it in source_id".into())
        })?;
        let context = tokio::fs::File::open(archive)
            .await
            .map_err(|e| failed(ctx, format!("cannot read the uploaded context {}: {e}", archive.display()), "", &prior_json))?;
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &prior_json))?;
        let mut image_labels = request.labels.clone();
        image_labels.extend(config.labels.clone().unwrap_or_default());
        image_labels.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
        image_labels.insert(labels::SOURCE_HASH.into(), request.source_hash.clone());
        image_labels.insert(labels::NAME.into(), request.name.clone());
        if let Some(build_config) = &request.build_config {
            image_labels.insert(labels::BUILD_CONFIG.into(), build_config.clone());
        }
        // `local = true`: the build's one name is `repository:tag`.
        let local_registry = registry.filter(|r| r.is_local());
        let tag = match local_registry {
            Some(r) => format!("{}:{}", r.image.trim(), r.tag_for(&request.source_hash)),
            None => local_tag(request),
        };
        let options = BuildOptions {
            dockerfile: request.dockerfile.clone().or(config.dockerfile.clone()),
            tags: vec![tag.clone()],
            build_args: config.build_args.clone().unwrap_or_default(),
            target: config.target.clone(),
            platform: config.platform.clone(),
            labels: image_labels,
            no_cache: config.no_cache.unwrap_or(false),
            pull: config.pull.unwrap_or(false),
        };
        let mut context = context;
        let mut retried = false;
        let built = loop {
            let again = context.try_clone().await.ok();
            let result = logged(ctx, "build", |tx| {
                let engine = &engine;
                let options = &options;
                async move {
                    engine
                        .build_file(context, options, move |line| {
                            let _ = tx.send(line);
                        })
                        .await
                }
            })
            .await;
            match (result, again) {
                (Err(e), Some(mut file)) if !retried && lost_cached_layer(&e) => {
                    // dockerd's classic builder: a cached layer this build had just reused was
                    // removed with another image at that moment (a concurrent destroy). Once more.
                    ctx.info(format!("the engine lost a cached layer during the build ({e}); building again")).await;
                    tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(0))
                        .await
                        .map_err(|e| failed(ctx, format!("cannot read the uploaded source again: {e}"), "", &prior_json))?;
                    context = file;
                    retried = true;
                }
                (result, _) => break result.map_err(|e| engine_failure(ctx, e, &prior_json))?,
            }
        };

        let record = BuildRecord {
            image: built.image_id.clone(),
            image_id: built.image_id.clone(),
            tag: tag.clone(),
            source_hash: request.source_hash.clone(),
            built: true,
            ..Default::default()
        };
        let record = if let Some(r) = local_registry {
            ctx.info(format!("tagged {tag} in the engine (local registry: nothing pushed)")).await;
            BuildRecord {
                image: tag.clone(),
                repository: Some(r.image.trim().to_string()),
                registry_tag: Some(r.tag_for(&request.source_hash)),
                ..record
            }
        } else if let Some(target) = &target {
            let digest = push(ctx, &engine, target, &built.image_id, &prior_json).await?;
            BuildRecord {
                image: target.by_digest(&digest),
                repository: Some(target.repository.clone()),
                registry_tag: Some(target.tag.clone()),
                digest: Some(digest),
                ..record
            }
        } else {
            record
        };
        let mut record = record;
        record.stale_tags = drop_prior_tags(ctx, &engine, prior, &record.tag).await;
        Outcome::record(&record)
    }
}

/// The engine's answer when a layer a build reused from its cache disappeared under it.
fn lost_cached_layer(e: &EngineError) -> bool {
    let text = e.to_string();
    text.contains("unknown parent image ID") || text.contains("failed to set parent")
}

/// After a build under a new local tag, the prior build's tag (and any earlier ones left over)
/// are recorded nowhere else: remove them, and return those that cannot be removed yet (e.g. a
/// container still uses the image) so the record keeps them for the next build or the destroy.
async fn drop_prior_tags(ctx: &JobContext, engine: &DockerEngine, prior: Option<&BuildRecord>, new_tag: &str) -> Vec<String> {
    let Some(prior) = prior else { return Vec::new() };
    let mut candidates: Vec<String> = prior.stale_tags.clone();
    candidates.push(prior.tag.clone());
    candidates.retain(|t| !t.is_empty() && t != new_tag);
    candidates.dedup();
    let mut kept = Vec::new();
    for old in candidates {
        match engine.remove_image(&old).await {
            Ok(true) => ctx.info(format!("removed the previous build's tag {old}")).await,
            Ok(false) => {}
            Err(e) => {
                ctx.info(format!("keeping the previous build's tag {old} for now (removed by a later build or the destroy): {e}")).await;
                kept.push(old);
            }
        }
    }
    kept
}

/// Tags `image_id` as the target's `repository:tag`, pushes it and returns the manifest digest
/// as the registry reports it. The `repository:tag` name is removed again unless it existed before.
async fn push(
    ctx: &JobContext,
    engine: &DockerEngine,
    target: &PushTarget,
    image_id: &str,
    prior_json: &str,
) -> Result<String, PlatformError> {
    let remote = target.tagged();
    let existed = engine.inspect_image(&remote).await.map_err(|e| engine_failure(ctx, e, prior_json))?.is_some();
    engine.tag(image_id, &remote).await.map_err(|e| engine_failure(ctx, e, prior_json))?;
    let untag = || async {
        if !existed {
            if let Err(e) = engine.remove_image(&remote).await {
                ctx.warn(format!("could not remove the temporary tag {remote}: {e}")).await;
            }
        }
    };
    ctx.info(format!("pushing {remote} with {}", target.auth.source)).await;
    let pushed = logged(ctx, "push", |tx| {
        let remote = &remote;
        async move {
            engine
                .push(remote, target.auth(), move |line| {
                    let _ = tx.send(line);
                })
                .await
        }
    })
    .await;
    let pushed = match pushed {
        Ok(digest) => digest,
        Err(e) => {
            untag().await;
            return Err(engine_failure(ctx, e, prior_json));
        }
    };
    let doing = format!("reading back the digest of {remote} after the push");
    let digest = match target.client.head_manifest(&remote, target.auth()).await {
        Ok(Some(digest)) => digest,
        Ok(None) => {
            untag().await;
            return Err(failed(
                ctx,
                format!("pushed {remote} ({pushed}), but registry {} does not have it afterwards", target.registry),
                "",
                prior_json,
            ));
        }
        Err(e) => {
            untag().await;
            return Err(target.failure(ctx, &e, &doing, prior_json));
        }
    };
    if digest != pushed {
        ctx.warn(format!("the engine reported digest {pushed} for {remote}, the registry {digest}; recording the registry's")).await;
    }
    untag().await;
    ctx.info(format!("pushed {remote}: {}", target.by_digest(&digest))).await;
    Ok(digest)
}

/// STATUS of a record with a registry identity: HEAD `repository@digest`.
pub(crate) async fn registry_status(
    ctx: &JobContext,
    mut record: BuildRecord,
    read_labels: bool,
    credentials: Option<&app_spec::docker_build::RegistryCredentials>,
    ecr: bool,
    insecure: bool,
) -> Result<Outcome, PlatformError> {
    let prior_json = to_json(&record)?;
    let (Some(repository), Some(digest)) = (record.repository.clone(), record.digest.clone()) else {
        return Ok(Outcome::gone());
    };
    let by_digest = format!("{repository}@{digest}");
    let parsed = Reference::parse(&by_digest).map_err(|e| failed(ctx, format!("the recorded image is not valid: {e}"), "", &prior_json))?;
    let unverified = |why: String| {
        Outcome::json(prior_json.clone()).with_detail(ctx.mask(&format!(
            "could not verify {by_digest}: {why}; keeping the recorded image (refreshes have no password: it is write-only; \
             credentials in the Docker config let them check)"
        )))
    };
    let auth = match resolve_auth(&repository, credentials, ecr).await {
        Ok(auth) => auth,
        Err(e) => return Ok(unverified(e.to_string())),
    };
    let client = registry_client(&parsed.registry, insecure);
    let doing = format!("checking {by_digest}");
    match client.head_manifest(&by_digest, auth.auth.as_ref()).await {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Outcome::gone()),
        Err(e) if is_auth_error(&e) => return Ok(unverified(registry_failure_message(&e, &doing, &auth.source))),
        Err(e) => return Err(failed(ctx, registry_failure_message(&e, &doing, &auth.source), "", &prior_json)),
    }
    if read_labels {
        let doing = format!("reading the labels of {by_digest}");
        match client.image_labels(&by_digest, auth.auth.as_ref()).await {
            Ok(Some(image_labels)) => apply_labels(&mut record, &image_labels),
            Ok(None) => return Ok(Outcome::gone()),
            Err(e) if is_auth_error(&e) => return Ok(unverified(registry_failure_message(&e, &doing, &auth.source))),
            Err(e) => return Err(failed(ctx, registry_failure_message(&e, &doing, &auth.source), "", &prior_json)),
        }
    }
    Outcome::record(&record)
}

#[async_trait]
impl Status<Build> for DockerBuild {
    async fn status(&self, ctx: &JobContext, request: &BuildRequest, prior: Option<&BuildRecord>) -> Result<Outcome, PlatformError> {
        let Some(prior) = prior else { return Ok(Outcome::gone()) };
        let mut record = normalize(prior.clone());
        if record.repository.is_some() && record.digest.is_some() {
            let registry = request.registry.as_ref();
            let credentials = registry.and_then(|r| r.auth.as_ref());
            let ecr = registry.is_some_and(|r| r.ecr == Some(true));
            let insecure = registry.is_some_and(|r| r.insecure == Some(true));
            return registry_status(ctx, record, request.read_labels, credentials, ecr, insecure).await;
        }
        let prior_json = to_json(prior)?;
        let reference = [&record.image_id, &record.tag, &record.image].into_iter().find(|r| !r.is_empty()).cloned();
        let Some(reference) = reference else { return Ok(Outcome::gone()) };
        let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &prior_json))?;
        let Some(info) = engine.inspect_image(&reference).await.map_err(|e| engine_failure(ctx, e, &prior_json))? else {
            return Ok(Outcome::gone());
        };
        if record.image_id.is_empty() {
            record.image_id = info.id.clone();
        }
        if request.read_labels {
            apply_labels(&mut record, &info.labels);
        }
        Outcome::record(&record)
    }
}

#[async_trait]
impl Destroyer<Build> for DockerBuild {
    async fn destroy(&self, ctx: &JobContext, request: &BuildRequest, prior: Option<&BuildRecord>) -> Result<Outcome, PlatformError> {
        let Some(prior) = prior else { return Ok(Outcome::nothing()) };
        let prior_json = to_json(prior)?;
        let record = normalize(prior.clone());
        let registry = request.registry.as_ref().filter(|r| !r.is_local() && r.delete_on_destroy == Some(true));
        if let (Some(registry), Some(repository), Some(digest)) = (registry, &record.repository, &record.digest) {
            delete_manifest(ctx, registry, repository, digest, &prior_json).await?;
        }
        // Only the tags this build created; other names of the same image stay.
        let tags: Vec<&String> = record.stale_tags.iter().chain(std::iter::once(&record.tag)).filter(|t| !t.is_empty()).collect();
        if !tags.is_empty() {
            let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &prior_json))?;
            for tag in tags {
                let removed = engine.remove_image(tag).await.map_err(|e| engine_failure(ctx, e, &prior_json))?;
                let what = if removed { "removed" } else { "already gone:" };
                ctx.info(format!("{what} tag {tag}")).await;
            }
        }
        Ok(Outcome::nothing())
    }
}

/// `delete_on_destroy`: deletes `repository@digest` with the Docker config's or ECR's credentials
/// (the `auth` password is write-only, so destroy never has it). A failure keeps the resource.
async fn delete_manifest(
    ctx: &JobContext,
    registry: &RegistryConfig,
    repository: &str,
    digest: &str,
    prior_json: &str,
) -> Result<(), PlatformError> {
    let by_digest = format!("{repository}@{digest}");
    let parsed = Reference::parse(&by_digest).map_err(|e| failed(ctx, format!("the recorded image is not valid: {e}"), "", prior_json))?;
    let auth = resolve_auth(repository, None, registry.ecr == Some(true)).await.map_err(|e| recording(ctx, e, prior_json))?;
    let client = registry_client(&parsed.registry, registry.insecure == Some(true));
    match client.delete_manifest(repository, digest, auth.auth.as_ref()).await {
        Ok(true) => ctx.info(format!("deleted {by_digest} from registry {}", parsed.registry)).await,
        Ok(false) => ctx.info(format!("{by_digest} was already gone from registry {}", parsed.registry)).await,
        Err(e) => {
            let mut message = registry_failure_message(&e, &format!("deleting {by_digest} (delete_on_destroy)"), &auth.source);
            if matches!(e, RegistryError::Http { status: 405, .. }) {
                message.push_str("; the registry does not allow deletes: enable them, or set delete_on_destroy = false");
            }
            if matches!(auth.source, AuthSource::Anonymous) && is_auth_error(&e) {
                message.push_str("; destroy cannot use the write-only password: put credentials for the registry in the Docker config");
            }
            return Err(failed(ctx, message, "", prior_json));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::context;
    use serde_json::json;

    /// Needs the test rig (scripts/test.sh starts it and sets DOCKER_HOST).
    #[tokio::test]
    async fn builds_from_an_uploaded_context_and_removes_its_tag() {
        assert!(std::env::var_os("DOCKER_HOST").is_some(), "run scripts/docker-engine.sh start and eval its env");
        let dir = crate::testing::temp_dir();
        std::fs::copy("/bin/busybox", dir.join("busybox")).expect("busybox-static is installed");
        std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"echo\", \"built-ok\"]\n")
            .expect("write Dockerfile");
        let archive = dir.join("context.tar");
        std::fs::write(&archive, crate::engine::docker::tar_directory(&dir).expect("tar")).expect("write tar");
        let (ctx, events, _) = context();
        let ctx = ctx.with_source(Some(archive));
        let name = format!("builder-test-{}", std::process::id());
        let request: BuildRequest = serde_json::from_value(json!({
            "name": name, "source_hash": "sha256:0123456789abcdef0123", "config": {"labels": {"team": "payments"}},
            "build_config": "{\"docker\":{}}"
        }))
        .expect("request");
        let outcome = DockerBuild.build(&ctx, &request, None).await.expect("build");
        let record: BuildRecord = serde_json::from_str(&outcome.result_json).expect("record");
        assert_eq!(record.tag, format!("{name}:0123456789ab"));
        assert!(record.image_id.starts_with("sha256:"));
        assert_eq!(record.image, record.image_id, "without a registry the image is the image ID");
        assert!(events.all_text().contains("built-ok"), "build output reaches the job log:\n{}", events.all_text());

        let engine = DockerEngine::connect(&request.engine).await.expect("engine");
        let info = engine.inspect_image(&record.tag).await.expect("inspect").expect("image exists");
        assert_eq!(info.labels.get(labels::SOURCE_HASH).map(String::as_str), Some("sha256:0123456789abcdef0123"));
        assert_eq!(info.labels.get(labels::BUILD_CONFIG).map(String::as_str), Some("{\"docker\":{}}"));
        assert_eq!(info.labels.get("team").map(String::as_str), Some("payments"));

        let status = DockerBuild.status(&ctx, &request, Some(&record)).await.expect("status");
        assert_eq!(status.kind, crate::platform::OutcomeKind::Succeeded);
        // An import by local image ID: only `image`; read_labels restores the rest.
        let imported = BuildRecord { image: record.image_id.clone(), ..Default::default() };
        let read = BuildRequest { read_labels: true, ..request.clone() };
        let status = DockerBuild.status(&ctx, &read, Some(&imported)).await.expect("status");
        let restored: BuildRecord = serde_json::from_str(&status.result_json).expect("record");
        assert_eq!(restored.image_id, record.image_id);
        assert_eq!(restored.source_hash, "sha256:0123456789abcdef0123");
        assert_eq!(restored.observed, Some(json!({"docker": {}})));

        DockerBuild.destroy(&ctx, &request, Some(&record)).await.expect("destroy");
        assert!(engine.inspect_image(&record.tag).await.expect("inspect").is_none(), "the tag is gone");
        let _ = engine.remove_image(&record.image_id).await;
        let status = DockerBuild.status(&ctx, &request, Some(&record)).await.expect("status");
        assert_eq!(status.kind, crate::platform::OutcomeKind::Gone, "the image is gone");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn imported_records_are_completed() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let r = normalize(BuildRecord { image: format!("127.0.0.1:5055/web:v1@{digest}"), ..Default::default() });
        assert_eq!(r.repository.as_deref(), Some("127.0.0.1:5055/web"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        let r = normalize(BuildRecord { image: digest.clone(), repository: Some(String::new()), ..Default::default() });
        assert_eq!((r.image_id.as_str(), r.repository), (digest.as_str(), None));
    }
}
