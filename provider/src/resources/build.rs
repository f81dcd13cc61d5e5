//! `app_build`: an artifact built from a source tree or resolved from elsewhere, by one of the
//! builders the catalog declares. Nothing here knows a particular builder: whether it takes
//! `source` (a build context) or pushes to a `registry` is part of its declaration.
//!
//! `source_hash` is computed here from the context exactly as it will be packed (`app-source`), with
//! no engine call: an unchanged tree plans nothing, on any machine. The apply hashes again, packs the
//! context, uploads it to the runner and runs one build job, which adopts a registry image carrying
//! the same source hash instead of building. Private state keeps the runner's record and the
//! context's file fingerprints, so the next plan can name the files that changed.
//!
//! Saved plans: Terraform re-plans every changed resource right before applying it and fails with
//! "inconsistent final plan" when a planned value moved. A tree edited between `terraform plan
//! -out` and `terraform apply` would move `source_hash`. So a refresh records the tree's hash in
//! private state (a snapshot with a random nonce); the plan uses it, and the apply-time re-plan —
//! whose prior state is the plan's refreshed state, snapshot included — plans the same values. The
//! apply then hashes the tree again and fails with its own diagnostic (both hashes, the changed
//! paths) when it differs. On create there is no refresh: `source_hash` is known only after apply.

use super::{
    chosen_platform, field_errors, job_failure, runner_failure, spec_block, str_attr, string_map, to_json, validate_name,
    validate_platform, with_platform_blocks,
};
use crate::framework::plan::{attr_mut, config_view_equal, set_attr, unknowns_to_null, Planned};
use crate::framework::resource::PlanRequest;
use crate::framework::schema::{Attribute, Block, Nesting, Schema};
use crate::framework::{timeouts, ApplyResult, AttrPath, Ctx, Diagnostics, ReadResult, Resource};
use crate::runner::{Finished, UploadError};
use crate::secure::{random_hex, sha256_hex};
use app_cty::Value;
use app_proto::runner::job_result::Outcome;
use app_proto::runner::{JobRequest, Operation, Role as JobRole};
use app_source::{BuildInputs, SourceError, SourceHash};
use app_spec::catalog::{self, PlatformSpec, Role};
use app_spec::docker_build::{hash_tag, RegistryConfig};
use app_spec::job::{BuildRecord, BuildRequest};
use app_spec::{Block as _, FieldType};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const TYPE: &str = "app_build";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How many changed paths a plan warning names.
const CHANGED_PATHS_SHOWN: usize = 10;
/// Computed attributes that only a build can tell.
const BUILD_OUTPUTS: [&str; 4] = ["id", "image", "digest", "image_id"];
/// Marks a map value that the image's configuration label holds only as a salted digest.
const DIGEST_MARKER: &str = "salted-sha256:";

pub struct AppBuild;

/// What private state holds for a build.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Private {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<BuildRecord>,
    /// Context path → short content fingerprint, from the last build.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    files: BTreeMap<String, String>,
    /// Set by import: the next read restores the configuration from what the runner observed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    imported: bool,
    /// The context as the last refresh hashed it (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refreshed: Option<Snapshot>,
}

/// A context hash taken by a refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    /// Random, to tell this process's snapshots from those a saved plan carries.
    nonce: String,
    /// What was hashed ([`ContextSpec::key`]).
    context: String,
    hash: String,
    /// The fingerprints, when they differ from the last build's (`Private::files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files: Option<BTreeMap<String, String>>,
}

impl Private {
    fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }
    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The nonces of the snapshots this process took: a plan in the same process as its refresh uses
/// the refresh's hash without hashing again.
fn own_snapshots() -> &'static Mutex<HashSet<String>> {
    static NONCES: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    NONCES.get_or_init(Default::default)
}

fn is_own_snapshot(nonce: &str) -> bool {
    own_snapshots().lock().map(|set| set.contains(nonce)).unwrap_or(false)
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

/// A hashed context: what `source_hash` is and the fingerprints behind it.
#[derive(Debug, Clone)]
struct Hashed {
    hash: String,
    files: BTreeMap<String, String>,
}

/// The build context of a builder that takes `source`, as configured.
#[derive(Debug, Clone)]
struct ContextSpec {
    root: PathBuf,
    dockerfile: Option<PathBuf>,
    inputs: BuildInputs,
}

/// What a resource value says about its build context.
enum Context {
    /// The builder takes no source.
    None,
    /// Something it depends on is not known yet.
    Unknown,
    Known(ContextSpec),
}

impl Context {
    fn of(v: &Value, builder: &PlatformSpec) -> Self {
        let Some(context) = builder.context else { return Self::None };
        let (Some(block), Some(source)) = (v.attr(builder.name).filter(|b| !b.is_null()), v.attr("source").filter(|s| !s.is_null())) else {
            return Self::Unknown;
        };
        if !source.is_wholly_known() || !block.is_wholly_known() {
            return Self::Unknown;
        }
        let (Some(root), Some(inputs)) = (source.as_str(), (context.inputs)(&to_json(block))) else { return Self::Unknown };
        Self::Known(ContextSpec {
            root: PathBuf::from(root),
            dockerfile: inputs.dockerfile.map(PathBuf::from),
            inputs: BuildInputs { build_args: inputs.build_args, target: inputs.target, platform: inputs.platform },
        })
    }
}

impl ContextSpec {
    /// Identifies what is hashed (not the files' contents).
    fn key(&self) -> String {
        let inputs = serde_json::json!({
            "root": self.root.display().to_string(),
            "dockerfile": self.dockerfile.as_ref().map(|d| d.display().to_string()),
            "build_args": self.inputs.build_args,
            "target": self.inputs.target,
            "platform": self.inputs.platform,
        });
        sha256_hex(&[inputs.to_string().as_bytes()])
    }

    async fn hash(&self) -> Result<Hashed, SourceError> {
        let (root, dockerfile, inputs) = (self.root.clone(), self.dockerfile.clone(), self.inputs.clone());
        tokio::task::spawn_blocking(move || app_source::source_hash(&root, dockerfile.as_deref(), &inputs))
            .await
            .unwrap_or(Err(SourceError::WorkerPanicked))
            .map(|h| Hashed { files: short_fingerprints(&h), hash: h.hash })
    }

    /// [`Self::hash`], with a failure reported as a diagnostic on the attribute it concerns.
    async fn hash_or_report(&self, builder: &PlatformSpec, diags: &mut Diagnostics) -> Option<Hashed> {
        self.hash().await.map_err(|e| source_error(diags, builder, &e)).ok()
    }
}

/// A source error as a diagnostic on the attribute it comes from.
fn source_error(diags: &mut Diagnostics, builder: &PlatformSpec, e: &SourceError) {
    let path = match e {
        SourceError::DockerfileNotFound { .. } | SourceError::DockerfileNotAFile { .. } => {
            let field = builder.context.map_or("source", |c| c.file_field);
            AttrPath::attr(builder.name).then_attr(field)
        }
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

/// "Changed since …: a, b, …" for up to [`CHANGED_PATHS_SHOWN`] paths.
fn changed_paths_text(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let changed = app_source::changed_paths(before, after, CHANGED_PATHS_SHOWN + 1);
    let mut listed: Vec<String> = changed.iter().take(CHANGED_PATHS_SHOWN).cloned().collect();
    if changed.len() > CHANGED_PATHS_SHOWN {
        listed.push("…".into());
    }
    if listed.is_empty() {
        "The files are the same; the build inputs (Dockerfile, build arguments, target or platform) changed.".to_string()
    } else {
        format!("Changed: {}", listed.join(", "))
    }
}

/// The name used when `name` is unset: the registry repository's, the builder's `image`, or the
/// source folder's name, made a valid name.
fn default_name(config: &Value) -> Option<String> {
    let last_segment = |reference: String| {
        let without_digest = reference.split('@').next().unwrap_or(&reference).to_string();
        let last = without_digest.rsplit('/').next().unwrap_or(&without_digest).to_string();
        last.split(':').next().unwrap_or(&last).to_string()
    };
    let from_registry = config.attr("registry").and_then(|r| str_attr(r, "image"));
    let from_builder = catalog::ready(Role::Builder).iter().find_map(|b| config.attr(b.name).and_then(|block| str_attr(block, "image")));
    let from_source = str_attr(config, "source").map(|s| {
        let p = PathBuf::from(&s);
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let raw = from_registry.or(from_builder).map(last_segment).or(from_source)?;
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
    RegistryConfig::parse(&json).ok()
}

/// Puts `auth.password` from the configuration block into the block's JSON.
fn with_password(json: &mut Json, config_block: Option<&Value>) {
    let password = config_block.and_then(|b| b.attr("auth")).and_then(|a| str_attr(a, "password"));
    if let (Some(password), Some(auth)) = (password, json.get_mut("auth").and_then(Json::as_object_mut)) {
        auth.insert("password".into(), Json::String(password));
    }
}

/// `salted-sha256:<salt>:<hex>` of one map entry: what the image label keeps instead of the value.
fn salted_digest(salt: &str, key: &str, value: &str) -> String {
    format!("{DIGEST_MARKER}{salt}:{}", sha256_hex(&[salt.as_bytes(), key.as_bytes(), value.as_bytes()]))
}

/// Whether `marker` is the salted digest of `key = value`.
fn digest_matches(marker: &str, key: &str, value: &str) -> bool {
    marker
        .strip_prefix(DIGEST_MARKER)
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(salt, _)| salted_digest(salt, key, value) == marker)
}

/// The names of the builder block's map attributes (e.g. build arguments): their values never go
/// into an image label.
fn map_fields(builder: &PlatformSpec) -> Vec<&'static str> {
    (builder.spec)().fields.iter().filter(|f| matches!(f.ty, FieldType::Map(_))).map(|f| f.name).collect()
}

/// The configuration written into the image label, for import by digest: no credentials, and the
/// builder's map values (build arguments) only as salted digests.
fn build_config_label(planned: &Value, config: &Value, builder: &PlatformSpec) -> Option<String> {
    let salt = random_hex(8)?;
    let mut object = serde_json::Map::new();
    if config.attr("name").is_some_and(|n| !n.is_null()) {
        object.insert("name".into(), to_json(planned.attr("name").unwrap_or(&Value::Null)));
    }
    for attr in ["labels", "source", "registry", builder.name] {
        let mut value = to_json(planned.attr(attr).unwrap_or(&Value::Null));
        if let Some(block) = value.as_object_mut() {
            block.remove("auth");
            if attr == builder.name {
                for field in map_fields(builder) {
                    if let Some(Json::Object(map)) = block.get_mut(field) {
                        for (key, v) in map.iter_mut() {
                            *v = Json::String(salted_digest(&salt, key, v.as_str().unwrap_or_default()));
                        }
                    }
                }
            }
        }
        if !value.is_null() {
            object.insert(attr.into(), value);
        }
    }
    Some(Json::Object(object).to_string())
}

/// After an import, the builder's map values in state are salted digests (the label has no values).
/// When the configuration's values match them, the plan keeps the prior values (Terraform allows a
/// provider to keep a prior value it finds equivalent), so the import plans nothing.
fn keep_matching_digests(prior: &Value, builder: &PlatformSpec, planned: &mut Planned, schema: &Schema) {
    let mut kept = false;
    for field in map_fields(builder) {
        let Some(prior_map) = prior.attr(builder.name).and_then(|b| b.attr(field)).and_then(Value::as_map) else { continue };
        if !prior_map.values().any(|v| v.as_str().is_some_and(|s| s.starts_with(DIGEST_MARKER))) {
            continue;
        }
        let Some(block) = attr_mut(&mut planned.state, builder.name) else { continue };
        let Some(config_map) = block.attr(field).and_then(Value::as_map) else { continue };
        let equivalent = prior_map.len() == config_map.len()
            && prior_map.iter().all(|(key, marker)| match (marker.as_str(), config_map.get(key).and_then(Value::as_str)) {
                (Some(marker), Some(value)) => marker == value || digest_matches(marker, key, value),
                _ => false,
            });
        if equivalent {
            set_attr(block, field, Value::Map(prior_map.clone()));
            kept = true;
        }
    }
    if kept && config_view_equal(&schema.block, prior, &planned.state) {
        // Nothing the user controls changed: the plan is the prior state (the generic plan had
        // marked the computed attributes unknown for what looked like a change).
        planned.state = prior.clone();
        planned.changed = false;
    }
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
        timeout_ms: timeout.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0),
        source_id,
    }
}

impl AppBuild {
    /// The request every job of this build sends; `config` carries write-only values (apply only).
    fn request(&self, ctx: &Ctx, state: &Value, config: &Value, builder: &PlatformSpec) -> BuildRequest {
        let mut block = to_json(state.attr(builder.name).unwrap_or(&Value::Null));
        with_password(&mut block, config.attr(builder.name));
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
        let mut request = self.request(ctx, planned, config, &builder);
        let mut source_id = String::new();
        let mut files = BTreeMap::new();
        match Context::of(planned, &builder) {
            Context::None => {}
            Context::Unknown => {
                diags.error_at(
                    AttrPath::attr("source"),
                    "Missing build context",
                    format!("The {} builder needs `source`, the build context directory.", builder.name),
                );
                return Err(diags);
            }
            Context::Known(spec) => {
                let Some(hashed) = spec.hash_or_report(&builder, &mut diags).await else { return Err(diags) };
                if let Some(planned_hash) = planned.attr("source_hash").and_then(Value::as_str) {
                    if planned_hash != hashed.hash {
                        let planned_files = prior
                            .refreshed
                            .as_ref()
                            .filter(|s| s.hash == planned_hash)
                            .map(|s| s.files.as_ref().unwrap_or(&prior.files))
                            .or_else(|| prior.record.as_ref().filter(|r| r.source_hash == planned_hash).map(|_| &prior.files));
                        let paths =
                            planned_files.map(|before| format!(" {}.", changed_paths_text(before, &hashed.files))).unwrap_or_default();
                        diags.error_at(
                            AttrPath::attr("source_hash"),
                            "The source changed since the plan",
                            format!(
                                "The plan was made for source_hash {planned_hash}, but {} now hashes to {}.{paths} Nothing was built. \
Run `terraform plan` again (or `terraform apply` without a saved plan) to build the current tree.",
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
                        source_error(&mut diags, &builder, &e);
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
                request.build_config = build_config_label(planned, config, &builder);
                files = hashed.files;
            }
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
                Ok((unknowns_to_null(&state), Private { record: Some(record), files, ..Default::default() }))
            }
            _ => {
                job_failure(&mut diags, what, "build", &name, &finished);
                Err(diags)
            }
        }
    }

    /// The configuration an import found (the image's configuration label, or what the runner
    /// made of an image it did not build) as a state.
    fn restore(&self, observed: &Json, state: &Value) -> Option<Value> {
        let mut object = observed.as_object()?.clone();
        for attr in ["id", "name", "source_hash", "image", "repository", "tag", "digest", "image_id"] {
            if !object.contains_key(attr) {
                object.insert(attr.into(), to_json(state.attr(attr).unwrap_or(&Value::Null)));
            }
        }
        app_cty::json::decode(Json::Object(object).to_string().as_bytes(), &self.schema().value_type()).ok()
    }

    /// The context hash the plan uses (see the module docs on saved plans); `None` after an error.
    async fn planned_context(
        &self,
        spec: &ContextSpec,
        builder: &PlatformSpec,
        req: &PlanRequest<'_>,
        changed: bool,
        diags: &mut Diagnostics,
    ) -> Option<Hashed> {
        let stored = Private::parse(req.prior_private);
        let snapshot = stored.refreshed.clone().filter(|s| s.context == spec.key());
        let files_of = |s: &Snapshot| s.files.clone().unwrap_or_else(|| stored.files.clone());
        match snapshot {
            Some(s) if is_own_snapshot(&s.nonce) => Some(Hashed { files: files_of(&s), hash: s.hash }),
            // A snapshot of another process, for a plan that would not have been a no-op: the
            // apply of a plan. Plan what that plan planned; the apply checks the tree.
            Some(s) if changed || str_attr(req.prior, "source_hash").as_deref() != Some(s.hash.as_str()) => {
                let now = spec.hash_or_report(builder, diags).await?;
                if now.hash != s.hash {
                    diags.warning_at(
                        AttrPath::attr("source_hash"),
                        "The source changed since the last refresh",
                        format!(
                            "{} hashed to {} when the state was refreshed and to {} now. {} If this is the apply of a saved plan, it stops: \
plan again. If this is a plan with -refresh=false, plan with refresh to see the change.",
                            spec.root.display(),
                            s.hash,
                            now.hash,
                            changed_paths_text(&files_of(&s), &now.files)
                        ),
                    );
                }
                Some(Hashed { files: files_of(&s), hash: s.hash })
            }
            _ => spec.hash_or_report(builder, diags).await,
        }
    }

    /// A refresh's snapshot of the context named in `state`, if it can be hashed.
    async fn snapshot(&self, state: &Value, builder: &PlatformSpec, stored: &Private) -> Option<Snapshot> {
        let Context::Known(spec) = Context::of(state, builder) else { return None };
        let hashed = spec.hash().await.ok()?;
        let nonce = random_hex(12)?;
        if let Ok(mut set) = own_snapshots().lock() {
            set.insert(nonce.clone());
        }
        let files = (hashed.files != stored.files).then_some(hashed.files);
        Some(Snapshot { nonce, context: spec.key(), hash: hashed.hash, files })
    }
}

#[async_trait::async_trait]
impl Resource for AppBuild {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        let block = Block::new(
            "Builds an image from a source tree (`docker`) or resolves one built elsewhere (`docker_pull`). `source_hash` is computed \
at plan time from exactly what the engine would receive, so an unchanged tree plans no change, on any machine; `image` is an \
immutable reference (`repository@sha256:…` once pushed).",
        )
        .attr(Attribute::string("id").computed().describe("The image reference (same as `image`)."))
        .attr(
            Attribute::string("name")
                .optional_computed()
                .describe("Name of the build (local image repository); default: the registry repository's or the source folder's name."),
        )
        .attr(Attribute::string_map("labels").optional().describe("Labels applied to the image."))
        .attr(Attribute::string("source").optional().describe("Build context directory, for builders that build from source (`docker`)."))
        .attr(Attribute::string("source_hash").computed().describe(
            "Content hash (`sha256:…`) of the packed context after `.dockerignore`, the Dockerfile, build args, target and platform. \
Known at plan time once the build exists; a changed tree shows here, with a warning naming the changed files.",
        ))
        .attr(
            Attribute::string("image").computed().describe(
                "Immutable image reference: `repository@sha256:<manifest digest>` when pushed or pulled, else the local image ID.",
            ),
        )
        .attr(Attribute::string("repository").computed().describe("Registry repository, or the local repository (`name`)."))
        .attr(Attribute::string("tag").computed().describe("Registry tag, or the local tag (from `source_hash`)."))
        .attr(Attribute::string("digest").computed().describe("Manifest digest exactly as the registry reports it."))
        .attr(Attribute::string("image_id").computed().describe("The engine's image ID, when the image is in the local engine."));
        let block = with_platform_blocks(block, Role::Builder).block("registry", Nesting::Single, spec_block(&RegistryConfig::spec()));
        Schema { version: 0, block: timeouts::add_to(block, DEFAULT_TIMEOUT.as_secs() / 60) }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_name(config, "name", diags);
        let builder = validate_platform(config, Role::Builder, TYPE, diags);
        let registry = config.attr("registry").filter(|r| !r.is_null());
        if let Some(registry) = registry {
            field_errors(Some("registry"), RegistryConfig::validate(&to_json(registry)), diags);
        }
        let source = config.attr("source").filter(|s| !s.is_null());
        if let Some(Value::String(s)) = source {
            if s.trim().is_empty() {
                diags.error_at(AttrPath::attr("source"), "Empty source", "`source` names the build context directory.");
            }
        }
        let Some(builder) = builder else { return };
        match (builder.context.is_some(), source.is_some()) {
            (true, false) => diags.error_at(
                AttrPath::attr("source"),
                "Missing build context",
                format!(
                    "The {} builder needs `source`, the build context directory, e.g. `source = \"${{path.module}}/app\"`.",
                    builder.name
                ),
            ),
            (false, true) => diags.error_at(
                AttrPath::attr("source"),
                format!("source is not used by {}", builder.name),
                format!("The {} builder takes no build context; remove `source`, or use a builder that builds from source.", builder.name),
            ),
            _ => {}
        }
        if registry.is_some() && !builder.pushes {
            diags.error_at(
                AttrPath::attr("registry"),
                format!("registry is not used by {}", builder.name),
                format!("The {} builder pushes nothing; remove the `registry` block.", builder.name),
            );
        }
    }

    async fn modify_plan(&self, _ctx: &Ctx, req: PlanRequest<'_>, planned: &mut Planned, diags: &mut Diagnostics) {
        if planned.state.is_null() {
            return;
        }
        if req.config.attr("name").is_none_or(Value::is_null) {
            let inputs_known = req.config.attr("source").is_none_or(Value::is_wholly_known)
                && req.config.attr("registry").is_none_or(Value::is_wholly_known)
                && catalog::ready(Role::Builder).iter().all(|b| req.config.attr(b.name).is_none_or(Value::is_wholly_known));
            let name = if inputs_known { Value::String(default_name(req.config).unwrap_or_else(|| "app".into())) } else { Value::Unknown };
            set_attr(&mut planned.state, "name", name);
        }
        let Some(builder) = chosen_platform(&planned.state, Role::Builder) else { return };
        let create = req.prior.is_null();
        if !create {
            keep_matching_digests(req.prior, &builder, planned, &self.schema());
        }
        let current = match Context::of(req.config, &builder) {
            Context::None => None,
            Context::Unknown => {
                for attr in ["source_hash", "repository", "tag"].iter().chain(BUILD_OUTPUTS.iter()) {
                    set_attr(&mut planned.state, attr, Value::Unknown);
                }
                return;
            }
            Context::Known(spec) => match self.planned_context(&spec, &builder, &req, planned.changed, diags).await {
                Some(hashed) => Some(hashed),
                None => return,
            },
        };
        let prior_hash = str_attr(req.prior, "source_hash");
        let hash_changed = current.as_ref().is_some_and(|h| prior_hash.as_deref() != Some(h.hash.as_str()));
        if !planned.changed && !hash_changed && !create {
            return;
        }
        let state = &mut planned.state;
        for attr in BUILD_OUTPUTS {
            set_attr(state, attr, Value::Unknown);
        }
        // On create nothing was refreshed, so the apply-time re-plan could not reproduce a hash
        // taken now: it is known after apply.
        let planned_hash = current.as_ref().filter(|_| !create).map(|h| h.hash.clone());
        set_attr(state, "source_hash", planned_hash.clone().map(Value::String).unwrap_or(Value::Unknown));
        let (repository, tag) =
            if builder.context.is_some() { planned_names(state, planned_hash.as_deref()) } else { (Value::Unknown, Value::Unknown) };
        set_attr(state, "repository", repository);
        set_attr(state, "tag", tag);
        if let (true, Some(now), false) = (hash_changed, current.as_ref(), create) {
            let previous = Private::parse(req.prior_private).files;
            if !previous.is_empty() {
                let name = str_attr(state, "name").unwrap_or_default();
                diags.warning_at(
                    AttrPath::attr("source_hash"),
                    format!("The source of build {name:?} changed"),
                    format!("Since the last build. {}", changed_paths_text(&previous, &now.files)),
                );
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
        let mut request = self.request(ctx, state, &Value::Null, &builder);
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
                    if let Some(restored) = found.observed.as_ref().and_then(|observed| self.restore(observed, state)) {
                        new_state = restored;
                    }
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
                let new_state = unknowns_to_null(&new_state);
                let builder = chosen_platform(&new_state, Role::Builder).unwrap_or(builder);
                let refreshed = self.snapshot(&new_state, &builder, &stored).await;
                let private = Private { record: Some(found), files: stored.files, imported: false, refreshed };
                ReadResult { state: new_state, private: private.bytes(), diags }
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
        let request = self.request(ctx, prior, &Value::Null, &builder);
        let timeout = timeouts::get(prior, "delete").unwrap_or(DEFAULT_TIMEOUT);
        let job = job(Operation::Destroy, builder.name, &request, Some(record), Some(timeout), String::new());
        let mut stop = ctx.stop.clone();
        super::destroyed(ctx.runner.run(job, &mut stop).await, "build", &name, prior, private)
    }

    fn import_syntax(&self) -> &'static str {
        "By the image's immutable reference: `repository@sha256:<digest>` for a pushed image, `sha256:<image ID>` for one in the \
local engine. The configuration comes back from the image's labels (build-argument values only as salted digests: a \
configuration with the same values plans nothing); an image this provider did not build imports as `docker_pull`.\n\n\
```shell\nterraform import app_build.web 127.0.0.1:5000/web@sha256:4f1c…\n```\n\nOr with an `import` block: \
`import { to = app_build.web  id = \"127.0.0.1:5000/web@sha256:4f1c…\" }`."
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
        let Some(importer) = catalog::ready(Role::Builder).into_iter().find(|b| b.imports) else {
            diags.error("Import is not available", "No builder of this provider version reads image references.");
            return ReadResult { state: Value::Null, private: Vec::new(), diags };
        };
        // The importing builder's status reads the image and how it was built; the read that
        // follows restores the configuration from that.
        let mut object = serde_json::json!({ "id": id, "image": id });
        object[importer.name] = serde_json::json!({});
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
        let private = Private { record: Some(record), imported: true, ..Default::default() };
        ReadResult { state, private: private.bytes(), diags }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(json: Json) -> Value {
        app_cty::json::decode(json.to_string().as_bytes(), &AppBuild.schema().value_type()).expect("value")
    }

    #[test]
    fn default_names_are_valid_names() {
        assert_eq!(
            default_name(&value(serde_json::json!({"registry": {"image": "127.0.0.1:5000/team/Web_App"}}))).as_deref(),
            Some("web-app")
        );
        assert_eq!(default_name(&value(serde_json::json!({"docker_pull": {"image": "r.io/x/api:1.2@sha256:00"}}))).as_deref(), Some("api"));
        assert_eq!(default_name(&value(serde_json::json!({"source": "/tmp/My App/"}))).as_deref(), Some("my-app"));
        assert_eq!(default_name(&value(serde_json::json!({}))), None);
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

    fn docker() -> PlatformSpec {
        catalog::find(Role::Builder, "docker").expect("docker builder")
    }

    #[test]
    fn the_label_never_carries_credentials_or_build_argument_values() {
        let planned = value(serde_json::json!({
            "source": "app",
            "docker": {"build_args": {"VERSION": "1.2.3", "TOKEN": "s3cr3t-value"}},
            "registry": {"image": "r/x", "auth": {"username": "u", "password": null}}
        }));
        let label = build_config_label(&planned, &Value::Null, &docker()).expect("label");
        assert!(!label.contains("auth"), "{label}");
        assert!(!label.contains("s3cr3t-value") && !label.contains("1.2.3"), "{label}");
        assert!(label.contains("\"source\":\"app\""), "{label}");
        let observed: Json = serde_json::from_str(&label).expect("json");
        let marker = observed["docker"]["build_args"]["TOKEN"].as_str().expect("marker");
        assert!(digest_matches(marker, "TOKEN", "s3cr3t-value"));
        assert!(!digest_matches(marker, "TOKEN", "other"));
        assert!(!digest_matches(marker, "VERSION", "s3cr3t-value"));
    }

    #[test]
    fn an_import_with_matching_build_arguments_plans_nothing() {
        let schema = AppBuild.schema();
        let label = build_config_label(
            &value(serde_json::json!({"name": "web", "source": "app", "docker": {"build_args": {"VERSION": "1.2.3"}}})),
            &value(serde_json::json!({"name": "web"})),
            &docker(),
        )
        .expect("label");
        let prior = AppBuild.restore(&serde_json::from_str(&label).expect("json"), &Value::Null).expect("restored");
        let config = value(serde_json::json!({"name": "web", "source": "app", "docker": {"build_args": {"VERSION": "1.2.3"}}}));
        let mut planned = crate::framework::plan::plan(&schema, &prior, &config, &config);
        assert!(planned.changed);
        keep_matching_digests(&prior, &docker(), &mut planned, &schema);
        assert!(!planned.changed, "matching values plan nothing");
        assert_eq!(planned.state, prior);

        let other = value(serde_json::json!({"name": "web", "source": "app", "docker": {"build_args": {"VERSION": "2.0"}}}));
        let mut planned = crate::framework::plan::plan(&schema, &prior, &other, &other);
        keep_matching_digests(&prior, &docker(), &mut planned, &schema);
        assert!(planned.changed, "another value is a change");
    }
}
