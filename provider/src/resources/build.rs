//! `app_build`: an image built from a source tree (`docker`) or resolved from a registry
//! (`docker_pull`).
//!
//! `source_hash` is computed here at plan time from the context exactly as it will be packed
//! (`app-source`), with no engine call: an unchanged tree plans nothing, on any machine. The
//! apply hashes again (a tree changed since the plan is an error, not a surprise), packs the
//! context, uploads it to the runner and runs one build job, which adopts a registry image
//! carrying the same source hash instead of building. Private state keeps the runner's record
//! and the context's file fingerprints, so the next plan can name the files that changed.

use super::{
    chosen_platform, field_errors, job_failure, runner_failure, spec_block, str_attr, string_map, to_json, validate_name,
    validate_platform, with_platform_blocks,
};
use crate::framework::plan::{set_attr, unknowns_to_null, Planned};
use crate::framework::resource::PlanRequest;
use crate::framework::schema::{Attribute, Block, Nesting, Schema};
use crate::framework::{timeouts, ApplyResult, AttrPath, Ctx, Diagnostics, ReadResult, Resource};
use crate::runner::{Finished, UploadError};
use app_cty::Value;
use app_proto::runner::job_result::Outcome;
use app_proto::runner::{JobRequest, Operation, Role as JobRole};
use app_source::{BuildInputs, SourceError, SourceHash};
use app_spec::catalog::Role;
use app_spec::docker_build::{hash_tag, registry_block, validate_registry, RegistryConfig};
use app_spec::job::{BuildRecord, BuildRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const TYPE: &str = "app_build";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How many changed paths a plan warning names.
const CHANGED_PATHS_SHOWN: usize = 10;
/// Computed attributes that only a build can tell.
const BUILD_OUTPUTS: [&str; 4] = ["id", "image", "digest", "image_id"];

pub struct AppBuild;

/// What private state holds for a build.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Private {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<BuildRecord>,
    /// Context path → short content fingerprint, from the last build.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    files: BTreeMap<String, String>,
    /// Set by import: the next read restores the configuration from the image's labels.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    imported: bool,
}

impl Private {
    fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }
    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// 16 hex digits are plenty to tell one version of a file from another, and keep private
/// state small for large trees.
fn short_fingerprints(h: &SourceHash) -> BTreeMap<String, String> {
    h.file_hashes
        .iter()
        .map(|(path, fp)| {
            let short = match fp.strip_prefix("sha256:") {
                Some(hex) => {
                    let (digest, exec) = hex.split_once('+').map_or((hex, ""), |(d, _)| (d, "+x"));
                    format!("{}{exec}", &digest[..digest.len().min(16)])
                }
                None => fp.clone(),
            };
            (path.clone(), short)
        })
        .collect()
}

/// The build context of a `docker` block, as configured.
struct ContextSpec {
    root: PathBuf,
    dockerfile: Option<PathBuf>,
    inputs: BuildInputs,
}

impl ContextSpec {
    /// `None` while anything it depends on is unknown.
    fn of(v: &Value) -> Option<Self> {
        let docker = v.attr("docker").filter(|d| !d.is_null())?;
        let source = v.attr("source")?;
        if !source.is_wholly_known() || !docker.is_wholly_known() {
            return None;
        }
        let root = PathBuf::from(source.as_str()?);
        let inputs = BuildInputs {
            build_args: string_map(docker.attr("build_args")),
            target: str_attr(docker, "target"),
            platform: str_attr(docker, "platform"),
        };
        Some(Self { root, dockerfile: str_attr(docker, "dockerfile").map(PathBuf::from), inputs })
    }

    async fn hash(&self) -> Result<SourceHash, SourceError> {
        let (root, dockerfile, inputs) = (self.root.clone(), self.dockerfile.clone(), self.inputs.clone());
        tokio::task::spawn_blocking(move || app_source::source_hash(&root, dockerfile.as_deref(), &inputs))
            .await
            .unwrap_or(Err(SourceError::WorkerPanicked))
    }
}

/// A source error as a diagnostic on the attribute it comes from.
fn source_error(diags: &mut Diagnostics, e: &SourceError) {
    let path = match e {
        SourceError::DockerfileNotFound { .. } | SourceError::DockerfileNotAFile { .. } => AttrPath::attr("docker").then_attr("dockerfile"),
        _ => AttrPath::attr("source"),
    };
    let summary = match e {
        SourceError::DockerfileNotFound { .. } => "Dockerfile not found",
        SourceError::SourceDirNotFound { .. } | SourceError::SourceNotADirectory { .. } => "Build context not found",
        SourceError::InvalidIgnorePattern { .. } => "Invalid .dockerignore",
        _ => "Cannot read the build context",
    };
    diags.error_at(path, summary, e.to_string());
}

/// The name used when `name` is unset: the registry repository's or the source folder's name,
/// made a valid name.
fn default_name(config: &Value) -> Option<String> {
    let from_registry = config.attr("registry").and_then(|r| str_attr(r, "image"));
    let from_pull = config.attr("docker_pull").and_then(|p| str_attr(p, "image")).map(|i| {
        let without_digest = i.split('@').next().unwrap_or(&i).to_string();
        let last = without_digest.rsplit('/').next().unwrap_or(&without_digest).to_string();
        last.split(':').next().unwrap_or(&last).to_string()
    });
    let from_source = str_attr(config, "source").map(|s| {
        let p = PathBuf::from(&s);
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let raw = from_registry.map(|r| r.rsplit('/').next().unwrap_or(&r).to_string()).or(from_pull).or(from_source)?;
    let mut name: String =
        raw.to_ascii_lowercase().chars().map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' }).collect();
    name.truncate(63);
    let name = name.trim_matches('-').to_string();
    Some(if name.is_empty() { "app".to_string() } else { name })
}

/// The registry block for the runner, with the write-only password taken from the configuration.
fn registry_config(planned: &Value, config: &Value) -> Option<RegistryConfig> {
    let block = planned.attr("registry").filter(|r| !r.is_null())?;
    let mut json = to_json(block);
    with_password(&mut json, config.attr("registry"));
    serde_json::from_value(json).ok()
}

/// Puts `auth.password` from the configuration block into the block's JSON.
fn with_password(json: &mut Json, config_block: Option<&Value>) {
    let password = config_block.and_then(|b| b.attr("auth")).and_then(|a| str_attr(a, "password"));
    if let (Some(password), Some(auth)) = (password, json.get_mut("auth").and_then(Json::as_object_mut)) {
        auth.insert("password".into(), Json::String(password));
    }
}

/// The configuration written into the image label, for import by digest (no credentials).
fn build_config_label(planned: &Value, config: &Value) -> String {
    let mut object = serde_json::Map::new();
    if config.attr("name").is_some_and(|n| !n.is_null()) {
        object.insert("name".into(), to_json(planned.attr("name").unwrap_or(&Value::Null)));
    }
    for attr in ["labels", "source", "docker", "registry"] {
        let mut value = to_json(planned.attr(attr).unwrap_or(&Value::Null));
        if let Some(block) = value.as_object_mut() {
            block.remove("auth");
        }
        if !value.is_null() {
            object.insert(attr.into(), value);
        }
    }
    Json::Object(object).to_string()
}

/// `repository` and `tag` as the plan knows them.
fn planned_names(state: &Value, source_hash: Option<&str>) -> (Value, Value) {
    let registry = state.attr("registry").filter(|r| !r.is_null());
    let repository = match registry {
        Some(r) => r.attr("image").cloned().unwrap_or(Value::Unknown),
        None => state.attr("name").cloned().unwrap_or(Value::Unknown),
    };
    let tag = match (registry.and_then(|r| r.attr("tag")).filter(|t| !t.is_null()), source_hash) {
        (Some(tag), _) => tag.clone(),
        (None, Some(hash)) => Value::string(hash_tag(hash)),
        (None, None) => Value::Unknown,
    };
    (repository, tag)
}

fn text(v: Option<String>) -> Value {
    v.filter(|s| !s.is_empty()).map(Value::String).unwrap_or(Value::Null)
}

/// Copies a runner record into the state; values the plan already knew stay as planned.
fn apply_record(state: &mut Value, record: &BuildRecord) {
    let keep = |state: &Value, name: &str| state.attr(name).is_some_and(|v| !v.is_unknown() && !v.is_null());
    let (local_repo, local_tag) = record.tag.rsplit_once(':').map_or((None, None), |(r, t)| (Some(r.to_string()), Some(t.to_string())));
    let values = [
        ("id", text(Some(record.image.clone()))),
        ("image", text(Some(record.image.clone()))),
        ("digest", text(record.digest.clone())),
        ("image_id", text(Some(record.image_id.clone()))),
        ("source_hash", text(Some(record.source_hash.clone()))),
        ("repository", text(record.repository.clone().or(local_repo))),
        ("tag", text(record.registry_tag.clone().or(local_tag))),
    ];
    for (name, value) in values {
        let outputs = BUILD_OUTPUTS.contains(&name);
        if outputs || !keep(state, name) {
            set_attr(state, name, value);
        }
    }
    if state.attr("ami_id").is_some_and(Value::is_unknown) {
        set_attr(state, "ami_id", Value::Null);
    }
}

fn parse_record(finished: &Finished) -> Option<BuildRecord> {
    (!finished.result_json.trim().is_empty()).then(|| serde_json::from_str(&finished.result_json).ok()).flatten()
}

fn job(
    operation: Operation,
    builder: &str,
    request: &BuildRequest,
    prior: Option<&BuildRecord>,
    timeout: Option<Duration>,
    source_id: String,
) -> JobRequest {
    JobRequest {
        job_id: String::new(),
        operation: operation as i32,
        role: JobRole::Builder as i32,
        platform: builder.to_string(),
        request_json: serde_json::to_string(request).unwrap_or_default(),
        prior_json: prior.and_then(|r| serde_json::to_string(r).ok()).unwrap_or_default(),
        timeout_ms: timeout.map(|d| d.as_millis() as u64).unwrap_or(0),
        source_id,
    }
}

impl AppBuild {
    /// The request every job of this build sends; `config` carries write-only values (apply only).
    fn request(&self, ctx: &Ctx, state: &Value, config: &Value, builder: &str) -> BuildRequest {
        let mut block = to_json(state.attr(builder).unwrap_or(&Value::Null));
        with_password(&mut block, config.attr(builder));
        BuildRequest {
            name: str_attr(state, "name").unwrap_or_default(),
            source_hash: str_attr(state, "source_hash").unwrap_or_default(),
            dockerfile: None,
            labels: string_map(state.attr("labels")),
            config: block,
            registry: registry_config(state, config),
            engine: ctx.engine.clone(),
            build_config: None,
            read_labels: false,
        }
    }

    /// Create and update: hash, pack, upload, build (or adopt, or resolve).
    async fn build(
        &self,
        ctx: &Ctx,
        what: &str,
        planned: &Value,
        config: &Value,
        prior: &Private,
    ) -> Result<(Value, Private), Diagnostics> {
        let mut diags = Diagnostics::new();
        let name = str_attr(planned, "name").unwrap_or_default();
        let Some(builder) = chosen_platform(planned, Role::Builder) else {
            diags.error("Missing builder block", "No supported builder block is set.");
            return Err(diags);
        };
        let mut request = self.request(ctx, planned, config, builder.name);
        let mut source_id = String::new();
        let mut files = BTreeMap::new();
        if builder.name == "docker" {
            let Some(spec) = ContextSpec::of(planned) else {
                diags.error_at(
                    AttrPath::attr("source"),
                    "Missing build context",
                    "The docker builder needs `source`, the build context directory.",
                );
                return Err(diags);
            };
            let hashed = match spec.hash().await {
                Ok(h) => h,
                Err(e) => {
                    source_error(&mut diags, &e);
                    return Err(diags);
                }
            };
            if let Some(planned_hash) = planned.attr("source_hash").and_then(Value::as_str) {
                if planned_hash != hashed.hash {
                    diags.error_at(
                        AttrPath::attr("source_hash"),
                        "The build context changed after the plan",
                        format!(
                            "The plan was made for source_hash {planned_hash}, but {} now hashes to {}. Nothing was built; run `terraform apply` again to plan the current tree.",
                            spec.root.display(),
                            hashed.hash
                        ),
                    );
                    return Err(diags);
                }
            }
            let (id, summary) = match ctx.runner.upload_context(&spec.root, spec.dockerfile.as_deref()).await {
                Ok(uploaded) => uploaded,
                Err(UploadError::Context(e)) => {
                    source_error(&mut diags, &e);
                    return Err(diags);
                }
                Err(UploadError::Runner(e)) => {
                    runner_failure(&mut diags, what, "build", &name, &e);
                    return Err(diags);
                }
            };
            tracing::info!(build = %name, files = summary.files, bytes = summary.bytes, "uploaded the build context");
            source_id = id;
            request.source_hash = hashed.hash.clone();
            request.dockerfile = Some(summary.dockerfile_in_archive);
            request.build_config = Some(build_config_label(planned, config));
            files = short_fingerprints(&hashed);
        }
        let timeout = timeouts::get(planned, what).unwrap_or(DEFAULT_TIMEOUT);
        let job = job(Operation::Build, builder.name, &request, prior.record.as_ref(), Some(timeout), source_id);
        let mut stop = ctx.stop.clone();
        let finished = match ctx.runner.run(job, &mut stop).await {
            Ok(f) => f,
            Err(e) => {
                runner_failure(&mut diags, what, "build", &name, &e);
                return Err(diags);
            }
        };
        match (finished.outcome, parse_record(&finished)) {
            (Outcome::Succeeded, Some(record)) => {
                let mut state = planned.clone();
                apply_record(&mut state, &record);
                Ok((unknowns_to_null(&state), Private { record: Some(record), files, imported: false }))
            }
            _ => {
                job_failure(&mut diags, what, "build", &name, &finished);
                Err(diags)
            }
        }
    }

    /// Turns the configuration recorded in an image label back into a state (import).
    fn restore(&self, label: &str, state: &Value) -> Option<Value> {
        let mut object: serde_json::Map<String, Json> = serde_json::from_str(label).ok()?;
        for attr in ["id", "name", "source_hash", "image", "repository", "tag", "digest", "image_id"] {
            if !object.contains_key(attr) {
                object.insert(attr.into(), to_json(state.attr(attr).unwrap_or(&Value::Null)));
            }
        }
        app_cty::json::decode(Json::Object(object).to_string().as_bytes(), &self.schema().value_type()).ok()
    }
}

#[async_trait::async_trait]
impl Resource for AppBuild {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        let block =
            Block::new(
                "Builds an image from a source tree (`docker`) or resolves one built elsewhere (`docker_pull`). `source_hash` is computed \
at plan time from exactly what the engine would receive, so an unchanged tree plans no change, on any machine; `image` is an \
immutable reference (`repository@sha256:…` once pushed).",
            )
            .attr(Attribute::string("id").computed().describe("The image reference (same as `image`)."))
            .attr(
                Attribute::string("name").optional_computed().describe(
                    "Name of the build (local image repository); default: the registry repository's or the source folder's name.",
                ),
            )
            .attr(Attribute::string_map("labels").optional().describe("Labels applied to the image."))
            .attr(Attribute::string("source").optional().describe("Build context directory (`docker` builder)."))
            .attr(Attribute::string("source_hash").computed().describe(
                "Content hash (`sha256:…`) of the packed context after `.dockerignore`, the Dockerfile, build args, target and platform.",
            ))
            .attr(Attribute::string("image").computed().describe(
                "Immutable image reference: `repository@sha256:<manifest digest>` when pushed or pulled, else the local image ID.",
            ))
            .attr(Attribute::string("repository").computed().describe("Registry repository, or the local repository (`name`)."))
            .attr(Attribute::string("tag").computed().describe("Registry tag, or the local tag (from `source_hash`)."))
            .attr(Attribute::string("digest").computed().describe("Manifest digest exactly as the registry reports it."))
            .attr(Attribute::string("image_id").computed().describe("The engine's image ID, when the image is in the local engine."))
            .attr(Attribute::string("ami_id").computed().describe("AMI ID (`aws_ami` builder, planned)."));
        let block = with_platform_blocks(block, Role::Builder).block("registry", Nesting::Single, spec_block(&registry_block()));
        Schema { version: 0, block: timeouts::add_to(block, DEFAULT_TIMEOUT.as_secs() / 60) }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_name(config, "name", diags);
        let builder = validate_platform(config, Role::Builder, TYPE, diags);
        let registry = config.attr("registry").filter(|r| !r.is_null());
        if let Some(registry) = registry {
            field_errors(None, validate_registry(&to_json(registry)), diags);
        }
        let source = config.attr("source").filter(|s| !s.is_null());
        match builder.map(|b| b.name) {
            Some("docker") if source.is_none() => diags.error_at(
                AttrPath::attr("source"),
                "Missing build context",
                "The docker builder needs `source`, the build context directory, e.g. `source = \"${path.module}/app\"`.",
            ),
            Some("docker_pull") => {
                if source.is_some() {
                    diags.error_at(
                        AttrPath::attr("source"),
                        "source is not used by docker_pull",
                        "docker_pull uses an existing image; remove `source`, or use the docker builder.",
                    );
                }
                if registry.is_some() {
                    diags.error_at(
                        AttrPath::attr("registry"),
                        "registry is not used by docker_pull",
                        "docker_pull resolves the image where it is; remove the `registry` block.",
                    );
                }
            }
            _ => {}
        }
        if let Some(Value::String(s)) = source {
            if s.trim().is_empty() {
                diags.error_at(AttrPath::attr("source"), "Empty source", "`source` names the build context directory.");
            }
        }
    }

    async fn modify_plan(&self, _ctx: &Ctx, req: PlanRequest<'_>, planned: &mut Planned, diags: &mut Diagnostics) {
        let changed = planned.changed;
        let state = &mut planned.state;
        if state.is_null() {
            return;
        }
        if req.config.attr("name").is_none_or(Value::is_null) {
            let inputs_known = ["source", "registry", "docker_pull"].iter().all(|a| req.config.attr(a).is_none_or(Value::is_wholly_known));
            let name = if inputs_known { Value::String(default_name(req.config).unwrap_or_else(|| "app".into())) } else { Value::Unknown };
            set_attr(state, "name", name);
        }
        let Some(builder) = chosen_platform(state, Role::Builder) else { return };
        let new_hash = if builder.name == "docker" {
            let Some(spec) = ContextSpec::of(req.config) else {
                for attr in ["source_hash", "repository", "tag"].iter().chain(BUILD_OUTPUTS.iter()) {
                    set_attr(state, attr, Value::Unknown);
                }
                return;
            };
            match spec.hash().await {
                Ok(h) => Some(h),
                Err(e) => {
                    source_error(diags, &e);
                    return;
                }
            }
        } else {
            None
        };
        let prior_hash = str_attr(req.prior, "source_hash");
        let hash_changed = new_hash.as_ref().is_some_and(|h| prior_hash.as_deref() != Some(h.hash.as_str()));
        if !changed && !hash_changed && !req.prior.is_null() {
            return;
        }
        let hash_text = new_hash.as_ref().map(|h| h.hash.clone());
        set_attr(state, "source_hash", text(hash_text.clone()));
        for attr in BUILD_OUTPUTS {
            set_attr(state, attr, Value::Unknown);
        }
        let (repository, tag) =
            if builder.name == "docker" { planned_names(state, hash_text.as_deref()) } else { (Value::Unknown, Value::Unknown) };
        set_attr(state, "repository", repository);
        set_attr(state, "tag", tag);
        set_attr(state, "ami_id", Value::Null);
        if let (true, Some(new), Some(_)) = (hash_changed, new_hash.as_ref(), prior_hash) {
            let previous = Private::parse(req.prior_private).files;
            if !previous.is_empty() {
                let current = short_fingerprints(new);
                let changed_paths = app_source::changed_paths(&previous, &current, CHANGED_PATHS_SHOWN + 1);
                let name = str_attr(state, "name").unwrap_or_default();
                let mut listed: Vec<String> = changed_paths.iter().take(CHANGED_PATHS_SHOWN).cloned().collect();
                if changed_paths.len() > CHANGED_PATHS_SHOWN {
                    listed.push("…".into());
                }
                let detail = if listed.is_empty() {
                    "The files are the same; the Dockerfile, build args, target or platform changed.".to_string()
                } else {
                    format!("Changed since the last build: {}", listed.join(", "))
                };
                diags.warning_at(AttrPath::attr("source_hash"), format!("The source of build {name:?} changed"), detail);
            }
        }
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, config: &Value) -> ApplyResult {
        match self.build(ctx, "create", planned, config, &Private::default()).await {
            Ok((state, private)) => ApplyResult { state, private: private.bytes(), diags: Diagnostics::new() },
            // Nothing is recorded: a failed build or push leaves no image that state must track
            // (at most an untagged layer cache in the engine).
            Err(diags) => ApplyResult { state: Value::Null, private: Vec::new(), diags },
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &[u8]) -> ReadResult {
        let mut diags = Diagnostics::new();
        let stored = Private::parse(private);
        let (Some(builder), Some(record)) = (chosen_platform(state, Role::Builder), stored.record.clone()) else {
            return ReadResult { state: state.clone(), private: private.to_vec(), diags };
        };
        let name = str_attr(state, "name").unwrap_or_default();
        let mut request = self.request(ctx, state, &Value::Null, builder.name);
        request.read_labels = stored.imported;
        let job = job(Operation::Status, builder.name, &request, Some(&record), timeouts::get(state, "read"), String::new());
        let mut stop = ctx.stop.clone();
        let finished = match ctx.runner.run(job, &mut stop).await {
            Ok(f) => f,
            Err(e) => {
                runner_failure(&mut diags, "read", "build", &name, &e);
                return ReadResult { state: state.clone(), private: private.to_vec(), diags };
            }
        };
        match (finished.outcome, parse_record(&finished)) {
            (Outcome::Gone, _) => {
                tracing::info!(build = %name, image = %record.image, "the image is gone; Terraform will plan to build it again");
                ReadResult { state: Value::Null, private: Vec::new(), diags }
            }
            (Outcome::Succeeded, Some(found)) => {
                if !finished.detail.trim().is_empty() {
                    tracing::info!(build = %name, "{}", finished.detail);
                }
                let mut new_state = state.clone();
                if stored.imported {
                    new_state = match found.build_config.as_deref().and_then(|label| self.restore(label, state)) {
                        Some(restored) => restored,
                        None if found.digest.is_some() => {
                            // Not built by this provider: it is an image to pull.
                            let mut s = state.clone();
                            set_attr(&mut s, "docker", Value::Null);
                            set_attr(
                                &mut s,
                                "docker_pull",
                                app_cty::json::decode(
                                    serde_json::json!({ "image": found.image }).to_string().as_bytes(),
                                    &docker_pull_type(),
                                )
                                .unwrap_or(Value::Null),
                            );
                            s
                        }
                        None => state.clone(),
                    };
                    if new_state.attr("name").is_none_or(Value::is_null) {
                        let name = default_name(&new_state).unwrap_or_else(|| "app".into());
                        set_attr(&mut new_state, "name", Value::String(name));
                    }
                }
                // Only what the registry or engine can change; the rest is what the apply recorded
                // (after import: everything, restored above).
                let attrs: &[&str] = if stored.imported {
                    &["id", "image", "digest", "image_id", "source_hash", "repository", "tag"]
                } else {
                    &BUILD_OUTPUTS
                };
                for attr in attrs {
                    set_attr(&mut new_state, attr, Value::Unknown);
                }
                apply_record(&mut new_state, &found);
                let private = Private { record: Some(found), files: stored.files, imported: false };
                ReadResult { state: unknowns_to_null(&new_state), private: private.bytes(), diags }
            }
            _ => {
                job_failure(&mut diags, "read", "build", &name, &finished);
                ReadResult { state: state.clone(), private: private.to_vec(), diags }
            }
        }
    }

    async fn update(&self, ctx: &Ctx, prior: &Value, planned: &Value, config: &Value, private: &[u8]) -> ApplyResult {
        let stored = Private::parse(private);
        // A builder switch starts from nothing: the previous record belongs to the other builder.
        let same_builder = chosen_platform(prior, Role::Builder).map(|b| b.name) == chosen_platform(planned, Role::Builder).map(|b| b.name);
        let previous = if same_builder { stored } else { Private::default() };
        match self.build(ctx, "update", planned, config, &previous).await {
            Ok((state, new_private)) => ApplyResult { state, private: new_private.bytes(), diags: Diagnostics::new() },
            Err(diags) => ApplyResult { state: prior.clone(), private: private.to_vec(), diags },
        }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, private: &[u8]) -> ApplyResult {
        let stored = Private::parse(private);
        let (Some(builder), Some(record)) = (chosen_platform(prior, Role::Builder), stored.record.as_ref()) else {
            return ApplyResult { state: Value::Null, private: Vec::new(), diags: Diagnostics::new() };
        };
        let name = str_attr(prior, "name").unwrap_or_default();
        let request = self.request(ctx, prior, &Value::Null, builder.name);
        let timeout = timeouts::get(prior, "delete").unwrap_or(DEFAULT_TIMEOUT);
        let job = job(Operation::Destroy, builder.name, &request, Some(record), Some(timeout), String::new());
        let mut stop = ctx.stop.clone();
        super::destroyed(ctx.runner.run(job, &mut stop).await, "build", &name, prior, private)
    }

    async fn import(&self, _ctx: &Ctx, id: &str) -> ReadResult {
        let mut diags = Diagnostics::new();
        let id = id.trim();
        let is_digest = |d: &str| d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let record = match id.split_once('@') {
            Some((repo, digest)) if !repo.is_empty() && is_digest(digest) => BuildRecord {
                image: id.to_string(),
                repository: Some(repo.to_string()),
                digest: Some(digest.to_string()),
                ..Default::default()
            },
            None if is_digest(id) => BuildRecord { image: id.to_string(), image_id: id.to_string(), ..Default::default() },
            _ => {
                diags.error(
                    "Invalid import ID",
                    format!("{id:?} is not an image reference this resource can import: use `registry/repository@sha256:<digest>` for a pushed image or `sha256:<image ID>` for an image in the local engine."),
                );
                return ReadResult { state: Value::Null, private: Vec::new(), diags };
            }
        };
        // The docker builder's status reads the image and its labels; the read that follows
        // import restores the configuration from them.
        let mut object = serde_json::json!({ "id": id, "image": id, "docker": {} });
        if let Some(repo) = &record.repository {
            object["repository"] = Json::String(repo.clone());
            object["digest"] = Json::String(record.digest.clone().unwrap_or_default());
        } else {
            object["image_id"] = Json::String(id.to_string());
        }
        let state = match app_cty::json::decode(object.to_string().as_bytes(), &self.schema().value_type()) {
            Ok(v) => v,
            Err(e) => {
                diags.error("Invalid import ID", e.to_string());
                return ReadResult { state: Value::Null, private: Vec::new(), diags };
            }
        };
        let private = Private { record: Some(record), files: BTreeMap::new(), imported: true };
        ReadResult { state, private: private.bytes(), diags }
    }
}

fn docker_pull_type() -> app_cty::Type {
    spec_block(&app_spec::docker_build::docker_pull_block()).implied_type()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_names() {
        let config = |json: Json| app_cty::json::decode(json.to_string().as_bytes(), &AppBuild.schema().value_type()).expect("value");
        assert_eq!(
            default_name(&config(serde_json::json!({"registry": {"image": "127.0.0.1:5000/team/Web_App"}}))).as_deref(),
            Some("web-app")
        );
        assert_eq!(
            default_name(&config(serde_json::json!({"docker_pull": {"image": "r.io/x/api:1.2@sha256:00"}}))).as_deref(),
            Some("api")
        );
        assert_eq!(default_name(&config(serde_json::json!({"source": "/tmp/My App/"}))).as_deref(), Some("my-app"));
        assert_eq!(default_name(&config(serde_json::json!({}))), None);
    }

    #[test]
    fn fingerprints_are_short() {
        let mut file_hashes = BTreeMap::new();
        file_hashes.insert("a".to_string(), format!("sha256:{}+x", "ab".repeat(32)));
        file_hashes.insert("d".to_string(), "dir".to_string());
        let h = SourceHash { hash: String::new(), files: vec![], file_hashes, dockerfile_hash: String::new() };
        let short = short_fingerprints(&h);
        assert_eq!(short["a"], format!("{}+x", "ab".repeat(8)));
        assert_eq!(short["d"], "dir");
    }

    #[test]
    fn the_label_never_carries_credentials() {
        let ty = AppBuild.schema().value_type();
        let planned = app_cty::json::decode(
            serde_json::json!({"source": "app", "docker": {}, "registry": {"image": "r/x", "auth": {"username": "u", "password": null}}})
                .to_string()
                .as_bytes(),
            &ty,
        )
        .expect("planned");
        let label = build_config_label(&planned, &Value::Null);
        assert!(!label.contains("auth"), "{label}");
        assert!(label.contains("\"source\":\"app\""), "{label}");
    }
}
