//! The `docker` builder: builds the uploaded context with the Docker engine and tags the image
//! `<name>:<first 12 hex of the source hash>`, labelled with the source hash.

use crate::context::JobContext;
use crate::engine::docker::{BuildOptions, DockerEngine, EngineError};
use crate::platform::{to_json, Build, Builder, Destroyer, Outcome, PlatformError, Status};
use crate::proto::log_line::Level;
use app_spec::docker_build::DockerBuildConfig;
use app_spec::job::{labels, BuildRecord, BuildRequest};
use async_trait::async_trait;
use serde_json::Value as Json;

pub struct DockerBuild;

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &Json) -> Result<T, PlatformError> {
    serde_json::from_value(json.clone()).map_err(|e| PlatformError::InvalidRequest(format!("invalid {what}: {e}")))
}

fn engine_failure(e: EngineError, result_json: String) -> PlatformError {
    let detail = e.tail_text();
    PlatformError::failed(e.to_string(), detail, result_json)
}

fn tag_for(request: &BuildRequest) -> String {
    let hex = request.source_hash.trim_start_matches("sha256:");
    format!("{}:{}", request.name, &hex[..hex.len().min(12)])
}

#[async_trait]
impl Builder for DockerBuild {
    async fn build(&self, ctx: &JobContext, request: &Json, prior: Option<&Json>) -> Result<Outcome, PlatformError> {
        let request: BuildRequest = parse("build request", request)?;
        let config: DockerBuildConfig = parse("docker builder block", &request.config)?;
        let prior_json = prior.map(Json::to_string).unwrap_or_default();
        let archive = ctx.source_archive().ok_or_else(|| {
            PlatformError::InvalidRequest("the docker builder needs the build context: upload it and name it in source_id".into())
        })?;
        let context = tokio::fs::read(archive).await.map_err(|e| {
            PlatformError::failed(format!("cannot read the uploaded context {}: {e}", archive.display()), "", prior_json.clone())
        })?;
        let engine = DockerEngine::connect(None).await.map_err(|e| engine_failure(e, prior_json.clone()))?;
        let mut image_labels = request.labels.clone();
        image_labels.extend(config.labels.clone().unwrap_or_default());
        image_labels.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
        image_labels.insert(labels::SOURCE_HASH.into(), request.source_hash.clone());
        image_labels.insert(labels::NAME.into(), request.name.clone());
        let tag = tag_for(&request);
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
        // The engine's output arrives through a plain callback; forward it to the job's log.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let forward = async {
            while let Some(line) = rx.recv().await {
                ctx.log("build", Level::Info, line).await;
            }
        };
        let build = async move {
            let result = engine.build(context, &options, |line| {
                let _ = tx.send(line);
            });
            result.await
        };
        let (built, ()) = tokio::join!(build, forward);
        let built = built.map_err(|e| engine_failure(e, prior_json.clone()))?;
        Outcome::record(&BuildRecord {
            image: built.image_id.clone(),
            image_id: built.image_id,
            tag,
            source_hash: request.source_hash,
            built: true,
            ..Default::default()
        })
    }
}

#[async_trait]
impl Status<Build> for DockerBuild {
    async fn status(&self, _ctx: &JobContext, _request: &Json, prior: Option<&Json>) -> Result<Outcome, PlatformError> {
        let Some(prior) = prior else { return Ok(Outcome::gone()) };
        let record: BuildRecord = parse("build record", prior)?;
        let engine = DockerEngine::connect(None).await.map_err(|e| engine_failure(e, prior.to_string()))?;
        match engine.inspect_image(&record.image_id).await.map_err(|e| engine_failure(e, prior.to_string()))? {
            Some(_) => Ok(Outcome::json(to_json(&record)?)),
            None => Ok(Outcome::gone()),
        }
    }
}

#[async_trait]
impl Destroyer<Build> for DockerBuild {
    async fn destroy(&self, ctx: &JobContext, _request: &Json, prior: Option<&Json>) -> Result<Outcome, PlatformError> {
        let Some(prior) = prior else { return Ok(Outcome::nothing()) };
        let record: BuildRecord = parse("build record", prior)?;
        let engine = DockerEngine::connect(None).await.map_err(|e| engine_failure(e, prior.to_string()))?;
        // Only the tag this build created; other names of the same image stay.
        let removed = engine.remove_image(&record.tag).await.map_err(|e| engine_failure(e, prior.to_string()))?;
        ctx.log("runner", Level::Info, format!("removed tag {}: {removed}", record.tag)).await;
        Ok(Outcome::nothing())
    }
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
        let request = json!({"name": name, "source_hash": "sha256:0123456789abcdef0123", "config": {"labels": {"team": "payments"}}});
        let outcome = DockerBuild.build(&ctx, &request, None).await.expect("build");
        let record: BuildRecord = serde_json::from_str(&outcome.result_json).expect("record");
        assert_eq!(record.tag, format!("{name}:0123456789ab"));
        assert!(record.image_id.starts_with("sha256:"));
        assert!(events.all_text().contains("built-ok"), "build output reaches the job log:\n{}", events.all_text());

        let engine = DockerEngine::connect(None).await.expect("engine");
        let info = engine.inspect_image(&record.tag).await.expect("inspect").expect("image exists");
        assert_eq!(info.labels.get(labels::SOURCE_HASH).map(String::as_str), Some("sha256:0123456789abcdef0123"));
        assert_eq!(info.labels.get("team").map(String::as_str), Some("payments"));

        let prior = serde_json::to_value(&record).expect("json");
        let status = DockerBuild.status(&ctx, &request, Some(&prior)).await.expect("status");
        assert_eq!(status.kind, crate::platform::OutcomeKind::Succeeded);
        DockerBuild.destroy(&ctx, &request, Some(&prior)).await.expect("destroy");
        assert!(engine.inspect_image(&record.tag).await.expect("inspect").is_none(), "the tag is gone");
        let _ = engine.remove_image(&record.image_id).await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
