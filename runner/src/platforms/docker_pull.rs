//! The `docker_pull` builder: an image built elsewhere, resolved to the registry's manifest
//! digest so deployments get an immutable `repository@sha256:…`.
//!
//! BUILD resolves `image` (a tag: HEAD for its digest; a digest: HEAD to check it exists) and,
//! with `pull = true`, also pulls it into the engine. STATUS re-resolves the tag: when it now
//! points to another digest the new record is returned, so Terraform sees the new digest and
//! deployments follow it; a digest that no longer exists is gone. DESTROY removes nothing (a
//! pulled image stays in the engine; the registry's image is not ours).
//!
//! An image without tag or digest means `latest`, as with `docker pull`, and is recorded with
//! `registry_tag = "latest"` so refreshes follow it.

use super::docker_build::{engine_failure, failed, logged, normalize, recording, registry_status};
use super::registry_auth::{is_auth_error, registry_client, registry_failure_message, resolve_auth};
use crate::context::JobContext;
use crate::engine::docker::DockerEngine;
use crate::engine::registry::{repository_name, Reference};
use crate::platform::{to_json, Build, Builder, Destroyer, Outcome, PlatformError, Status};
use app_spec::docker_build::DockerPullConfig;
use app_spec::job::{BuildRecord, BuildRequest};
use async_trait::async_trait;

pub struct DockerPull;

fn parse_config(request: &BuildRequest) -> Result<DockerPullConfig, PlatformError> {
    serde_json::from_value(request.config.clone())
        .map_err(|e| PlatformError::InvalidRequest(format!("invalid docker_pull builder block: {e}")))
}

/// The image a `docker_pull` block names.
struct Source {
    /// As written, without tag and digest.
    repository: String,
    /// `host[:port]`.
    registry: String,
    /// The tag to follow; `None` when pinned by digest.
    tag: Option<String>,
    digest: Option<String>,
}

impl Source {
    fn parse(image: &str) -> Result<Self, PlatformError> {
        let image = image.trim();
        let parsed = Reference::parse(image).map_err(|e| PlatformError::InvalidRequest(format!("docker_pull: {e}")))?;
        let tag = match &parsed.digest {
            Some(_) => None,
            None => Some(parsed.tag.clone().unwrap_or_else(|| "latest".to_string())),
        };
        Ok(Self { repository: repository_name(image).to_string(), registry: parsed.registry, tag, digest: parsed.digest })
    }

    /// What to HEAD: `repository@digest`, else `repository:tag`.
    fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{}@{digest}", self.repository),
            (None, Some(tag)) => format!("{}:{tag}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }
}

#[async_trait]
impl Builder for DockerPull {
    async fn build(&self, ctx: &JobContext, request: &BuildRequest, prior: Option<&BuildRecord>) -> Result<Outcome, PlatformError> {
        let config = parse_config(request)?;
        let prior_json = prior.map(to_json).transpose()?.unwrap_or_default();
        let source = Source::parse(&config.image)?;
        let auth = resolve_auth(&source.repository, config.auth.as_ref(), config.ecr == Some(true))
            .await
            .map_err(|e| recording(ctx, e, &prior_json))?;
        let client = registry_client(&source.registry, config.insecure == Some(true));
        let reference = source.reference();
        let doing = format!("resolving {reference}");
        let digest = match client.head_manifest(&reference, auth.auth.as_ref()).await {
            Ok(Some(digest)) => source.digest.clone().unwrap_or(digest),
            Ok(None) => {
                let what = if source.digest.is_some() { "the image" } else { "the tag" };
                return Err(failed(ctx, format!("{what} {reference} does not exist in registry {}", source.registry), "", &prior_json));
            }
            Err(e) => return Err(failed(ctx, registry_failure_message(&e, &doing, &auth.source), "", &prior_json)),
        };
        let image = format!("{}@{digest}", source.repository);
        ctx.info(format!("resolved {reference} to {image}")).await;
        let mut record = BuildRecord {
            image: image.clone(),
            source_hash: request.source_hash.clone(),
            repository: Some(source.repository.clone()),
            registry_tag: source.tag.clone(),
            digest: Some(digest),
            built: false,
            ..Default::default()
        };
        if config.pull == Some(true) {
            let engine = DockerEngine::connect(&request.engine).await.map_err(|e| engine_failure(ctx, e, &prior_json))?;
            let image_id = logged(ctx, "pull", |tx| {
                let (engine, image, auth) = (&engine, &image, auth.auth.as_ref());
                async move {
                    engine
                        .pull(image, auth, move |line| {
                            let _ = tx.send(line);
                        })
                        .await
                }
            })
            .await
            .map_err(|e| engine_failure(ctx, e, &prior_json))?;
            ctx.info(format!("pulled {image} into the engine: {image_id}")).await;
            record.image_id = image_id;
        }
        Outcome::record(&record)
    }
}

#[async_trait]
impl Status<Build> for DockerPull {
    async fn status(&self, ctx: &JobContext, request: &BuildRequest, prior: Option<&BuildRecord>) -> Result<Outcome, PlatformError> {
        let Some(prior) = prior else { return Ok(Outcome::gone()) };
        let record = normalize(prior.clone());
        // An import may come without the block's values: anonymous or Docker config credentials.
        let config = parse_config(request).unwrap_or_default();
        let (credentials, ecr, insecure) = (config.auth.as_ref(), config.ecr == Some(true), config.insecure == Some(true));
        let (Some(repository), Some(tag)) = (record.repository.clone(), record.registry_tag.clone()) else {
            return registry_status(ctx, record, request.read_labels, credentials, ecr, insecure).await;
        };
        let prior_json = to_json(&record)?;
        let tagged = format!("{repository}:{tag}");
        let registry =
            Reference::parse(&tagged).map_err(|e| failed(ctx, format!("the recorded image is not valid: {e}"), "", &prior_json))?.registry;
        let auth = match resolve_auth(&repository, credentials, ecr).await {
            Ok(auth) => auth,
            // Not resolvable now: the digest check says what it can.
            Err(_) => return registry_status(ctx, record, request.read_labels, credentials, ecr, insecure).await,
        };
        let client = registry_client(&registry, insecure);
        let current = match client.head_manifest(&tagged, auth.auth.as_ref()).await {
            Ok(current) => current,
            Err(e) if is_auth_error(&e) => None,
            Err(e) => return Err(failed(ctx, registry_failure_message(&e, &format!("resolving {tagged}"), &auth.source), "", &prior_json)),
        };
        match current {
            Some(digest) if record.digest.as_deref() != Some(digest.as_str()) => {
                let was = record.digest.clone().unwrap_or_default();
                let moved = BuildRecord {
                    image: format!("{repository}@{digest}"),
                    // The engine holds the old digest, if anything.
                    image_id: String::new(),
                    digest: Some(digest.clone()),
                    ..record
                };
                let detail = format!("{tagged} now points to {digest} (was {was})");
                ctx.info(&detail).await;
                let outcome = registry_status(ctx, moved, request.read_labels, credentials, ecr, insecure).await?;
                Ok(if outcome.detail.is_empty() { outcome.with_detail(detail) } else { outcome })
            }
            // Same digest, a tag that is gone, or a tag we may not read: is the digest still there?
            _ => registry_status(ctx, record, request.read_labels, credentials, ecr, insecure).await,
        }
    }
}

#[async_trait]
impl Destroyer<Build> for DockerPull {
    async fn destroy(&self, ctx: &JobContext, _request: &BuildRequest, prior: Option<&BuildRecord>) -> Result<Outcome, PlatformError> {
        if let Some(prior) = prior {
            ctx.info(format!("{} stays in the registry (and in the engine, if it was pulled)", prior.image)).await;
        }
        Ok(Outcome::nothing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_follow_tags_unless_pinned() {
        let s = Source::parse("127.0.0.1:5055/team/web:v1").expect("parses");
        assert_eq!(
            (s.repository.as_str(), s.registry.as_str(), s.tag.as_deref()),
            ("127.0.0.1:5055/team/web", "127.0.0.1:5055", Some("v1"))
        );
        assert_eq!(s.reference(), "127.0.0.1:5055/team/web:v1");
        let s = Source::parse("127.0.0.1:5055/web").expect("parses");
        assert_eq!(s.tag.as_deref(), Some("latest"));
        let digest = format!("sha256:{}", "c".repeat(64));
        let s = Source::parse(&format!("127.0.0.1:5055/web:v1@{digest}")).expect("parses");
        assert_eq!((s.tag.clone(), s.reference()), (None, format!("127.0.0.1:5055/web@{digest}")));
        assert!(Source::parse("http://x/y").is_err());
    }
}
