//! The `aws_lambda` platform: a container-image Lambda function per deployment, one published
//! version per generation. Semantics are those documented in `app_spec::aws_lambda`.
//!
//! Deploy: the image (ECR only) is pinned to its digest (a tag is resolved with ECR
//! `DescribeImages`); the execution role is `config.role`, else a role `<function>-exec` created
//! on the first deploy (trust: `lambda.amazonaws.com`, policy `AWSLambdaBasicExecutionRole`) and
//! reused after; the function is created (`PackageType=Image`, not published) or its code and then,
//! only when it differs, its configuration are updated, each followed by a wait until
//! `LastUpdateStatus=Successful` and `State=Active`; then `PublishVersion` (with the `RevisionId`
//! the wait saw, so a concurrent change fails the publish instead of publishing someone else's
//! code) publishes the version of this generation, described `generation N` — which is how the
//! releaser finds it. When nothing changed Lambda would answer with the previous version, so the
//! function's description is updated to name the generation and the version published again.
//! `keep` older generations' versions stay; older ones are deleted unless an alias (or an alias's
//! traffic split) points at them.
//!
//! Tags: the function carries `dev.terraform-provider-app.managed-by` and
//! `dev.terraform-provider-app.deployment = <deployment name>` (how the releaser finds a function
//! named differently from its deployment, and what proves a function or role is ours before it is
//! adopted or deleted), plus `tags` and the resource's `labels`.
//!
//! Status: `GetFunction` (one call): gone → gone; the image, the code hash or a field this
//! platform sets changed → `drifted`, naming the fields (never values of environment variables).
//!
//! Destroy: deletes the function (every version, alias and URL with it) and the role it created.

use crate::context::JobContext;
use crate::engine::aws::{error_code, Aws, AwsError};
use crate::engine::ecr::EcrHost;
use crate::platform::{new_owner_id, to_json, Deployment, Destroyer, Outcome, Platform, PlatformError, Status};
use app_spec::aws_lambda::{self as spec, LambdaConfig, LambdaRecord};
use app_spec::job::{labels, owned_by, status, AwsSettings, DeploymentRecord, DeploymentRequest};
use async_trait::async_trait;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::types::{
    Architecture, Environment, EphemeralStorage, FunctionCode, FunctionConfiguration, LastUpdateStatus, PackageType, State, VpcConfig,
};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

pub struct AwsLambda;

/// Tag naming the deployment a function (or created role) belongs to.
pub const TAG_DEPLOYMENT: &str = "dev.terraform-provider-app.deployment";
/// The description of the version a generation published: `generation N`.
pub const VERSION_DESCRIPTION_PREFIX: &str = "generation ";
/// The policy attached to a created execution role (CloudWatch Logs).
pub const BASIC_EXECUTION_POLICY: &str = "iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
/// Lambda's trust policy for a created execution role.
const TRUST_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The first poll is immediate, then one per [`POLL_FAST`] for [`FAST_FOR`], then one per
/// [`POLL_SLOW`] (AWS's waiters for Lambda poll every second); at most [`WAIT_LIMIT`].
const POLL_FAST: Duration = Duration::from_secs(1);
const FAST_FOR: Duration = Duration::from_secs(30);
const POLL_SLOW: Duration = Duration::from_secs(5);
const WAIT_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How long `CreateFunction` is retried while a just-created role is not yet assumable (IAM is
/// eventually consistent; it usually takes under 10 s).
const ROLE_PROPAGATION: Duration = Duration::from_secs(90);
const ROLE_RETRY: Duration = Duration::from_secs(3);

/// `generation N`.
pub fn version_description(generation: u64) -> String {
    format!("{VERSION_DESCRIPTION_PREFIX}{generation}")
}

/// The generation a version's description names (`generation N`).
pub fn description_generation(description: &str) -> Option<u64> {
    description.strip_prefix(VERSION_DESCRIPTION_PREFIX)?.trim().parse().ok()
}

/// The function's own description: names the deployment (and, after a deploy that changed
/// nothing else, the generation).
fn function_description(deployment: &str, generation: Option<u64>) -> String {
    match generation {
        Some(g) => format!("terraform-provider-app deployment {deployment}, generation {g}"),
        None => format!("terraform-provider-app deployment {deployment}"),
    }
}

/// The role created for `function`: `<function>-exec`, within IAM's 64 characters.
pub fn role_name_for(function: &str) -> String {
    let base: String = function.chars().take(64 - "-exec".len()).collect();
    format!("{base}-exec")
}

/// The `aws_lambda` block of a request (`null` = all defaults).
pub fn lambda_config(request: &DeploymentRequest) -> Result<LambdaConfig, PlatformError> {
    if request.config.is_null() {
        return Ok(LambdaConfig::default());
    }
    serde_json::from_value(request.config.clone())
        .map_err(|e| PlatformError::InvalidRequest(format!("the aws_lambda configuration is not valid: {e}")))
}

/// `function_name`, else the deployment's name.
pub fn function_name(request: &DeploymentRequest, config: &LambdaConfig) -> String {
    config.function_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| request.name.clone())
}

/// The Lambda notes of a prior record; an unreadable or empty one counts as none.
fn prior_lambda(prior: Option<&DeploymentRecord>) -> Option<LambdaRecord> {
    let prior = prior?;
    if prior.record.is_null() {
        return None;
    }
    serde_json::from_value::<LambdaRecord>(prior.record.clone()).ok().filter(|r| !r.function_name.is_empty())
}

/// Why a step stopped.
pub(crate) enum Stop {
    Failed { message: String, detail: String },
    Cancelled,
}

impl Stop {
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::Failed { message: message.into(), detail: String::new() }
    }

    pub(crate) fn into_error(self, result_json: String) -> PlatformError {
        match self {
            Self::Failed { message, detail } => PlatformError::Failed { message, detail, result_json },
            Self::Cancelled => PlatformError::Cancelled { result_json },
        }
    }
}

impl From<AwsError> for Stop {
    fn from(e: AwsError) -> Self {
        Self::failed(e.to_string())
    }
}

/// Connects for a job; a failure did nothing, so `result_json` is whatever the caller keeps.
pub(crate) async fn connect(settings: &AwsSettings, result_json: impl FnOnce() -> String) -> Result<Aws, PlatformError> {
    Aws::connect(settings).await.map_err(|e| PlatformError::failed(e.to_string(), "", result_json()))
}

/// Logs the job's AWS API calls (the benchmark reads this line).
pub(crate) async fn log_calls(ctx: &JobContext, aws: &Aws) {
    ctx.info(format!("AWS API calls: {}", aws.calls())).await;
}

/// Sleeps `delay` unless the job is cancelled first.
pub(crate) async fn pause(ctx: &JobContext, delay: Duration) -> Result<(), Stop> {
    tokio::select! {
        () = ctx.cancelled() => Err(Stop::Cancelled),
        () = tokio::time::sleep(delay) => Ok(()),
    }
}

pub(crate) fn check_cancelled(ctx: &JobContext) -> Result<(), Stop> {
    if ctx.is_cancelled() {
        Err(Stop::Cancelled)
    } else {
        Ok(())
    }
}

/// `GetFunction`; `None` when the function does not exist.
pub(crate) async fn get_function(
    aws: &Aws,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<Option<GetFunctionOutput>, AwsError> {
    match lambda.get_function().function_name(function).send().await {
        Ok(out) => Ok(Some(out)),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(aws.error("Lambda.GetFunction", &e)),
    }
}

/// Every published version of `function` (not `$LATEST`).
pub(crate) async fn list_versions(
    aws: &Aws,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<Vec<FunctionConfiguration>, AwsError> {
    let mut versions = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda
            .list_versions_by_function()
            .function_name(function)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| aws.error("Lambda.ListVersionsByFunction", &e))?;
        versions.extend(out.versions().iter().filter(|v| v.version().is_some_and(|v| v != "$LATEST")).cloned());
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(versions),
        }
    }
}

/// The published version whose description names `generation`; the newest if several do.
pub(crate) fn version_of_generation(versions: &[FunctionConfiguration], generation: u64) -> Option<&FunctionConfiguration> {
    versions
        .iter()
        .filter(|v| v.description().and_then(description_generation) == Some(generation))
        .max_by_key(|v| v.version().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
}

/// Every version an alias of `function` points at, traffic splits included.
pub(crate) async fn aliased_versions(aws: &Aws, lambda: &aws_sdk_lambda::Client, function: &str) -> Result<BTreeSet<String>, AwsError> {
    let mut versions = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda
            .list_aliases()
            .function_name(function)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| aws.error("Lambda.ListAliases", &e))?;
        for alias in out.aliases() {
            versions.extend(alias.function_version().map(str::to_string));
            if let Some(weights) = alias.routing_config().and_then(|r| r.additional_version_weights()) {
                versions.extend(weights.keys().cloned());
            }
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(versions),
        }
    }
}

/// An ECR image reference split up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    pub host: String,
    pub account: String,
    pub region: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl EcrImage {
    /// `<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag][@sha256:…]`; no tag and no
    /// digest means `latest`.
    pub fn parse(image: &str) -> Option<Self> {
        let (host, rest) = image.split_once('/')?;
        let ecr = EcrHost::parse(host)?;
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_string())),
            None => (rest, None),
        };
        let (repository, tag) = match name.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (name, None),
        };
        if repository.is_empty() || digest.as_deref().is_some_and(|d| !d.starts_with("sha256:") || d.len() <= "sha256:".len()) {
            return None;
        }
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_string()) } else { tag };
        Some(Self { host: host.to_string(), account: ecr.account, region: ecr.region, repository: repository.to_string(), tag, digest })
    }

    /// `host/repository@digest`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@{}", self.host, self.repository, digest)
    }
}

/// What the deployment wants the function to be.
#[derive(Clone, PartialEq)]
pub(crate) struct Desired {
    memory: i32,
    timeout: i32,
    ephemeral_storage: i32,
    architecture: String,
    env: BTreeMap<String, String>,
    /// Secret environment variable names (their values are in `env` at deploy time only).
    secret_keys: BTreeSet<String>,
    subnet_ids: BTreeSet<String>,
    security_group_ids: BTreeSet<String>,
    tags: BTreeMap<String, String>,
}

/// The environment holds `secret_env` values: names only.
impl std::fmt::Debug for Desired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desired")
            .field("memory", &self.memory)
            .field("timeout", &self.timeout)
            .field("ephemeral_storage", &self.ephemeral_storage)
            .field("architecture", &self.architecture)
            .field("env", &crate::redact::Names(&self.env))
            .field("secret_keys", &self.secret_keys)
            .field("subnet_ids", &self.subnet_ids)
            .field("security_group_ids", &self.security_group_ids)
            .field("tags", &self.tags)
            .finish()
    }
}

fn as_i32(value: Option<i64>, default: i64) -> i32 {
    i32::try_from(value.unwrap_or(default)).unwrap_or(i32::MAX)
}

impl Desired {
    pub(crate) fn new(request: &DeploymentRequest, config: &LambdaConfig) -> Self {
        let mut env = request.env.clone();
        env.extend(request.secret_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut tags: BTreeMap<String, String> = config.tags.clone().unwrap_or_default();
        tags.extend(request.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        tags.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
        tags.insert(TAG_DEPLOYMENT.into(), request.name.clone());
        let vpc = config.vpc.clone().unwrap_or_default();
        Self {
            memory: as_i32(config.memory, spec::DEFAULT_MEMORY),
            timeout: as_i32(config.timeout, spec::DEFAULT_TIMEOUT),
            ephemeral_storage: as_i32(config.ephemeral_storage, spec::DEFAULT_EPHEMERAL_STORAGE),
            architecture: config.architecture.clone().unwrap_or_else(|| spec::DEFAULT_ARCHITECTURE.to_string()),
            env,
            secret_keys: request.secret_env.keys().cloned().collect(),
            subnet_ids: vpc.subnet_ids.into_iter().collect(),
            security_group_ids: vpc.security_group_ids.into_iter().collect(),
            tags,
        }
    }

    fn environment(&self) -> Environment {
        Environment::builder().set_variables(Some(self.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect())).build()
    }

    fn vpc(&self) -> VpcConfig {
        VpcConfig::builder()
            .set_subnet_ids(Some(self.subnet_ids.iter().cloned().collect()))
            .set_security_group_ids(Some(self.security_group_ids.iter().cloned().collect()))
            .build()
    }

    fn ephemeral(&self) -> Result<EphemeralStorage, Stop> {
        EphemeralStorage::builder().size(self.ephemeral_storage).build().map_err(|e| Stop::failed(e.to_string()))
    }

    /// The configuration fields (not code, not tags) that differ from the function's, by name.
    /// `check_secret_values`: compare the secret variables' values too (deploy); status only
    /// knows their names.
    fn config_differences(&self, live: &FunctionConfiguration, role: &str, check_secret_values: bool) -> Vec<String> {
        let mut diff = Vec::new();
        if live.memory_size() != Some(self.memory) {
            diff.push("memory".to_string());
        }
        if live.timeout() != Some(self.timeout) {
            diff.push("timeout".to_string());
        }
        if live.ephemeral_storage().map(|e| e.size()).unwrap_or(spec::DEFAULT_EPHEMERAL_STORAGE as i32) != self.ephemeral_storage {
            diff.push("ephemeral_storage".to_string());
        }
        if !role.is_empty() && live.role() != Some(role) {
            diff.push("role".to_string());
        }
        let empty = HashMap::new();
        let live_env = live.environment().and_then(|e| e.variables()).unwrap_or(&empty);
        let mut changed_keys: BTreeSet<&str> = BTreeSet::new();
        for (k, v) in &self.env {
            let secret = self.secret_keys.contains(k);
            match live_env.get(k) {
                None => {
                    changed_keys.insert(k);
                }
                Some(live) if live != v && (!secret || check_secret_values) => {
                    changed_keys.insert(k);
                }
                _ => {}
            }
        }
        for k in &self.secret_keys {
            if !live_env.contains_key(k) {
                changed_keys.insert(k);
            }
        }
        for k in live_env.keys() {
            if !self.env.contains_key(k) && !self.secret_keys.contains(k) {
                changed_keys.insert(k);
            }
        }
        if !changed_keys.is_empty() {
            diff.push(format!("environment ({})", changed_keys.into_iter().collect::<Vec<_>>().join(", ")));
        }
        let (subnets, groups): (BTreeSet<String>, BTreeSet<String>) = match live.vpc_config() {
            Some(v) => (v.subnet_ids().iter().cloned().collect(), v.security_group_ids().iter().cloned().collect()),
            None => Default::default(),
        };
        if subnets != self.subnet_ids || groups != self.security_group_ids {
            diff.push("vpc".to_string());
        }
        diff
    }

    fn architecture_differs(&self, live: &FunctionConfiguration) -> bool {
        let live = live.architectures().first().map(|a| a.as_str()).unwrap_or(spec::DEFAULT_ARCHITECTURE);
        live != self.architecture
    }

    /// Tags to set (added or changed) and to remove (present, not wanted, not `aws:`-reserved).
    fn tag_changes(&self, live: Option<&HashMap<String, String>>) -> (HashMap<String, String>, Vec<String>) {
        let empty = HashMap::new();
        let live = live.unwrap_or(&empty);
        let set = self.tags.iter().filter(|(k, v)| live.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let remove = live.keys().filter(|k| !self.tags.contains_key(*k) && !k.starts_with("aws:")).cloned().collect();
        (set, remove)
    }
}

/// A deploy in progress: what exists so far, for the record of a failure.
struct DeployJob<'a> {
    ctx: &'a JobContext,
    aws: &'a Aws,
    lambda: aws_sdk_lambda::Client,
    request: &'a DeploymentRequest,
    config: LambdaConfig,
    prior: Option<&'a DeploymentRecord>,
    record: LambdaRecord,
    /// The function exists (created now or before).
    exists: bool,
    /// The role in use.
    role_arn: String,
}

impl DeployJob<'_> {
    fn computed(&self) -> serde_json::Map<String, Json> {
        let mut computed = serde_json::Map::new();
        computed.insert("version".into(), Json::String(self.record.version.clone()));
        computed.insert("function_arn".into(), Json::String(self.record.function_arn.clone()));
        computed.insert("role_arn".into(), Json::String(self.role_arn.clone()));
        computed
    }

    /// What exists now, marked failed: the provider keeps it in state.
    fn failed_json(&self) -> String {
        let nothing_of_ours = !self.exists && self.record.created_role_arn.is_none();
        if nothing_of_ours && self.prior.is_none() {
            return String::new();
        }
        let record = DeploymentRecord {
            generation: self.prior.map_or(self.request.generation, |p| p.generation),
            status: status::FAILED.into(),
            url: None,
            computed: self.computed(),
            record: serde_json::to_value(&self.record).unwrap_or(Json::Null),
            ..Default::default()
        };
        serde_json::to_string(&record).unwrap_or_default()
    }

    async fn run(&mut self) -> Result<DeploymentRecord, Stop> {
        let ctx = self.ctx;
        let function = self.record.function_name.clone();
        if self.record.owner.is_empty() {
            self.record.owner =
                new_owner_id().ok_or_else(|| Stop::failed("the system has no secure random source for an owner ID".to_string()))?;
        }
        let mut desired = Desired::new(self.request, &self.config);
        desired.tags.insert(labels::OWNER.into(), self.record.owner.clone());
        ctx.add_secrets(self.request.secret_env.values().cloned());

        let image = self.resolve_image().await?;
        check_cancelled(ctx)?;
        ctx.progress("inspect", -1).await;
        let live = get_function(self.aws, &self.lambda, &function).await?;
        if let Some(live) = &live {
            let recorded = self.prior.is_some() || self.record_exists();
            let legacy = live.tags().and_then(|t| t.get(TAG_DEPLOYMENT)).is_some_and(|d| d == &self.request.name) && recorded;
            if !owned_by(live.tags().and_then(|t| t.get(labels::OWNER)).map(String::as_str), &self.record.owner, legacy) {
                let owner = live.tags().and_then(|t| t.get(labels::OWNER)).map_or("unrecorded", String::as_str);
                return Err(Stop::failed(format!(
                    "a Lambda function named {function:?} already exists and this resource did not create it (owner {owner}): another \
Terraform configuration (or a state that lost it) manages it, and it is left as it is. To manage it from this configuration, remove it \
from the other state and import it here (`terraform import app_deployment.<resource> aws_lambda:{}`), or set another `function_name`",
                    self.request.name
                )));
            }
        } else if !self.record.function_arn.is_empty() {
            ctx.warn(format!("the function {function} no longer exists; creating it again")).await;
            self.record.versions.clear();
        }
        self.exists = live.is_some();

        let mut created_role_now = false;
        self.role_arn = match (&self.config.role, &self.record.created_role_arn) {
            (Some(role), _) if !role.is_empty() => role.clone(),
            (_, Some(created)) => created.clone(),
            _ => {
                created_role_now = true;
                self.create_role(&function).await?
            }
        };
        check_cancelled(ctx)?;

        let mut revision = match &live {
            None => self.create(&function, &image, &desired, created_role_now).await?,
            Some(live) => self.update(&function, &image, &desired, live).await?,
        };
        check_cancelled(ctx)?;

        // Publish the generation's version.
        ctx.progress("publish", -1).await;
        let description = version_description(self.request.generation);
        let mut published = self.publish(&function, &description, revision.as_deref()).await?;
        if published.description() != Some(description.as_str()) {
            // Nothing changed since the last version: Lambda answered with it. Name the
            // generation in the function's description so there is something to publish.
            ctx.info(format!(
                "nothing changed since version {}; publishing a version for generation {} anyway",
                published.version().unwrap_or("?"),
                self.request.generation
            ))
            .await;
            self.lambda
                .update_function_configuration()
                .function_name(&function)
                .description(function_description(&self.request.name, Some(self.request.generation)))
                .send()
                .await
                .map_err(|e| self.aws.error("Lambda.UpdateFunctionConfiguration", &e))?;
            revision = self.wait(&function, "the description update").await?.revision_id().map(str::to_string);
            published = self.publish(&function, &description, revision.as_deref()).await?;
            if published.description() != Some(description.as_str()) {
                ctx.warn(format!(
                    "Lambda answered with version {} again, described {:?}: a release of generation {} will not find a version of its own",
                    published.version().unwrap_or("?"),
                    published.description().unwrap_or_default(),
                    self.request.generation
                ))
                .await;
            }
        }
        let version = published.version().unwrap_or_default().to_string();
        self.record.version = version.clone();
        self.record.code_sha256 = published.code_sha256().unwrap_or_default().to_string();
        self.record.revision_id = revision.unwrap_or_default();
        if !self.record.versions.contains(&version) {
            self.record.versions.push(version.clone());
        }
        ctx.info(format!("published version {version} of {function} (generation {})", self.request.generation)).await;

        self.prune(&function, &version, live.is_some()).await?;
        ctx.progress("deploy", 100).await;
        Ok(DeploymentRecord {
            generation: self.request.generation,
            status: status::READY.into(),
            url: None,
            computed: self.computed(),
            record: serde_json::to_value(&self.record).unwrap_or(Json::Null),
            ..Default::default()
        })
    }

    /// The recorded function (adopted before, e.g. by an import).
    fn record_exists(&self) -> bool {
        !self.record.function_arn.is_empty()
    }

    /// The image pinned by digest; a tag is resolved with ECR `DescribeImages`.
    async fn resolve_image(&self) -> Result<String, Stop> {
        let image = self.request.image.as_deref().unwrap_or_default();
        let parsed = EcrImage::parse(image).ok_or_else(|| {
            Stop::failed(spec::image_problem(image).unwrap_or_else(|| format!("{image:?} is not a valid ECR image reference")))
        })?;
        if parsed.region != self.aws.region() {
            return Err(Stop::failed(format!(
                "the image is in ECR region {} but the function is in region {}: Lambda runs images from ECR in the function's own region; push the image there or set the provider's `aws {{ region }}`",
                parsed.region,
                self.aws.region()
            )));
        }
        if let Some(digest) = &parsed.digest {
            return Ok(parsed.pinned(digest));
        }
        let tag = parsed.tag.clone().unwrap_or_else(|| "latest".into());
        let ecr = self.aws.ecr(Some(&parsed.region));
        let out = ecr
            .describe_images()
            .registry_id(&parsed.account)
            .repository_name(&parsed.repository)
            .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(&tag).build())
            .send()
            .await
            .map_err(|e| self.aws.error("ECR.DescribeImages", &e))?;
        let digest = out
            .image_details()
            .iter()
            .find_map(|d| d.image_digest())
            .ok_or_else(|| Stop::failed(format!("ECR has no image {}:{tag} in account {}", parsed.repository, parsed.account)))?;
        let pinned = parsed.pinned(digest);
        self.ctx.info(format!("{image} is {pinned}")).await;
        Ok(pinned)
    }

    /// Creates `<function>-exec` with Lambda's trust policy and the basic execution policy.
    async fn create_role(&mut self, function: &str) -> Result<String, Stop> {
        let iam = self.aws.iam();
        let name = role_name_for(function);
        self.ctx.progress("role", -1).await;
        let tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().map_err(|e| Stop::failed(e.to_string()));
        let created = iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(TRUST_POLICY)
            .description(format!("Execution role of the Lambda function {function} (terraform-provider-app)"))
            .tags(tag(labels::MANAGED_BY, labels::MANAGED_BY_VALUE)?)
            .tags(tag(TAG_DEPLOYMENT, &self.request.name)?)
            .tags(tag(labels::OWNER, &self.record.owner)?)
            .send()
            .await;
        let arn = match created {
            Ok(out) => out.role().map(|r| r.arn().to_string()).unwrap_or_default(),
            Err(e) if error_code(&e) == Some("EntityAlreadyExists") => {
                // Ours from an earlier attempt whose record was lost? Only then is it adopted.
                let out = iam.get_role().role_name(&name).send().await.map_err(|e| self.aws.error("IAM.GetRole", &e))?;
                let role = out.role().ok_or_else(|| Stop::failed(format!("IAM GetRole {name} answered without the role")))?;
                let tags: HashMap<String, String> = role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                let legacy = tags.get(TAG_DEPLOYMENT) == Some(&self.request.name) && self.prior.is_some();
                if !owned_by(tags.get(labels::OWNER).map(String::as_str), &self.record.owner, legacy) {
                    return Err(Stop::failed(format!(
                        "the IAM role {name} already exists and was not created for deployment {:?}; set `role` to an execution role ARN (or delete that role)",
                        self.request.name
                    )));
                }
                role.arn().to_string()
            }
            Err(e) => return Err(self.aws.error("IAM.CreateRole", &e).into()),
        };
        self.record.created_role_arn = Some(arn.clone());
        self.record.created_role_name = Some(name.clone());
        let partition = arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws");
        let policy = format!("arn:{partition}:{BASIC_EXECUTION_POLICY}");
        match iam.attach_role_policy().role_name(&name).policy_arn(&policy).send().await {
            Ok(_) => {}
            // AWS always has its managed policies; emulators may not (moto loads them only with
            // MOTO_IAM_LOAD_MANAGED_POLICIES=true). The function still runs, without log permissions.
            Err(e) if error_code(&e) == Some("NoSuchEntity") => {
                self.ctx
                    .warn(format!("the managed policy {policy} does not exist here, so the role {name} has no CloudWatch Logs permissions"))
                    .await;
            }
            Err(e) => return Err(self.aws.error("IAM.AttachRolePolicy", &e).into()),
        }
        self.ctx.info(format!("created the execution role {arn}")).await;
        Ok(arn)
    }

    /// `CreateFunction`, then wait until it is active; returns the function's `RevisionId`.
    async fn create(&mut self, function: &str, image: &str, desired: &Desired, role_is_new: bool) -> Result<Option<String>, Stop> {
        self.ctx.progress("create", -1).await;
        self.ctx.info(format!("creating the function {function} from {image}")).await;
        let started = Instant::now();
        loop {
            let mut call = self
                .lambda
                .create_function()
                .function_name(function)
                .package_type(PackageType::Image)
                .code(FunctionCode::builder().image_uri(image).build())
                .role(&self.role_arn)
                .description(function_description(&self.request.name, None))
                .memory_size(desired.memory)
                .timeout(desired.timeout)
                .ephemeral_storage(desired.ephemeral()?)
                .architectures(Architecture::from(desired.architecture.as_str()))
                .environment(desired.environment())
                .set_tags(Some(desired.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
                .publish(false);
            if !desired.subnet_ids.is_empty() || !desired.security_group_ids.is_empty() {
                call = call.vpc_config(desired.vpc());
            }
            match call.send().await {
                Ok(out) => {
                    self.exists = true;
                    self.record.function_arn = out.function_arn().unwrap_or_default().to_string();
                    break;
                }
                Err(e) => {
                    let retry = role_is_new
                        && error_code(&e) == Some("InvalidParameterValueException")
                        && e.as_service_error().and_then(|s| s.meta().message()).is_some_and(|m| m.contains("role"))
                        && started.elapsed() < ROLE_PROPAGATION;
                    if !retry {
                        return Err(self.aws.error("Lambda.CreateFunction", &e).into());
                    }
                    self.ctx.info("the new execution role is not assumable yet (IAM propagates changes within seconds); retrying").await;
                    pause(self.ctx, ROLE_RETRY).await?;
                }
            }
        }
        let live = self.wait(function, "the function's creation").await?;
        if self.record.function_arn.is_empty() {
            self.record.function_arn = live.function_arn().unwrap_or_default().to_string();
        }
        self.record.image = image.to_string();
        Ok(live.revision_id().map(str::to_string))
    }

    /// New code (`UpdateFunctionCode`) if the image or architecture differs, then the
    /// configuration if it differs, then tags; returns the function's `RevisionId`.
    async fn update(&mut self, function: &str, image: &str, desired: &Desired, live: &GetFunctionOutput) -> Result<Option<String>, Stop> {
        let config = live.configuration().cloned().unwrap_or_else(|| FunctionConfiguration::builder().build());
        self.record.function_arn = config.function_arn().unwrap_or_default().to_string();
        let mut revision = config.revision_id().map(str::to_string);
        // Tags first: they are not part of a version, and whether they move the function's
        // RevisionId is not documented, so after a tag change no stale RevisionId is sent.
        let (set, remove) = desired.tag_changes(live.tags());
        let arn = self.record.function_arn.clone();
        if !set.is_empty() || !remove.is_empty() {
            revision = None;
        }
        if !set.is_empty() {
            self.lambda
                .tag_resource()
                .resource(&arn)
                .set_tags(Some(set))
                .send()
                .await
                .map_err(|e| self.aws.error("Lambda.TagResource", &e))?;
        }
        if !remove.is_empty() {
            self.lambda
                .untag_resource()
                .resource(&arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(|e| self.aws.error("Lambda.UntagResource", &e))?;
        }
        let live_image = live.code().and_then(|c| c.image_uri()).unwrap_or_default();
        if live_image != image || desired.architecture_differs(&config) {
            self.ctx.progress("update code", -1).await;
            self.ctx.info(format!("updating the code of {function}: {image}")).await;
            self.lambda
                .update_function_code()
                .function_name(function)
                .image_uri(image)
                .architectures(Architecture::from(desired.architecture.as_str()))
                .send()
                .await
                .map_err(|e| self.aws.error("Lambda.UpdateFunctionCode", &e))?;
            revision = self.wait(function, "the code update").await?.revision_id().map(str::to_string);
            self.record.image = image.to_string();
            check_cancelled(self.ctx)?;
        } else {
            self.record.image = image.to_string();
        }
        let differences = desired.config_differences(&config, &self.role_arn, true);
        if !differences.is_empty() {
            self.ctx.progress("update configuration", -1).await;
            self.ctx.info(format!("updating the configuration of {function}: {}", differences.join(", "))).await;
            self.lambda
                .update_function_configuration()
                .function_name(function)
                .role(&self.role_arn)
                .memory_size(desired.memory)
                .timeout(desired.timeout)
                .ephemeral_storage(desired.ephemeral()?)
                .environment(desired.environment())
                .vpc_config(desired.vpc())
                .set_revision_id(revision.clone())
                .send()
                .await
                .map_err(|e| self.aws.error("Lambda.UpdateFunctionConfiguration", &e))?;
            revision = self.wait(function, "the configuration update").await?.revision_id().map(str::to_string);
            check_cancelled(self.ctx)?;
        }
        Ok(revision)
    }

    async fn publish(
        &self,
        function: &str,
        description: &str,
        revision: Option<&str>,
    ) -> Result<aws_sdk_lambda::operation::publish_version::PublishVersionOutput, Stop> {
        match self
            .lambda
            .publish_version()
            .function_name(function)
            .description(description)
            .set_revision_id(revision.map(str::to_string))
            .send()
            .await
        {
            Ok(out) => Ok(out),
            Err(e) if error_code(&e) == Some("PreconditionFailedException") => Err(Stop::failed(format!(
                "the function {function} changed while this deployment ran (its RevisionId moved), so no version was published; apply again"
            ))),
            Err(e) => Err(self.aws.error("Lambda.PublishVersion", &e).into()),
        }
    }

    async fn wait(&self, function: &str, what: &str) -> Result<FunctionConfiguration, Stop> {
        wait_ready(self.ctx, self.aws, &self.lambda, function, what).await
    }

    /// Deletes this deployment's versions older than the `keep` newest older ones, except those
    /// an alias points at.
    /// The versions are the recorded ones (this deployment's), so this usually costs no call;
    /// a function adopted without a record of its versions is listed once.
    async fn prune(&mut self, function: &str, current: &str, existed_before: bool) -> Result<(), Stop> {
        let number = |v: &str| v.parse::<u64>().unwrap_or(0);
        let mut ours = self.record.versions.clone();
        if existed_before && ours.iter().all(|v| v == current) {
            let versions = list_versions(self.aws, &self.lambda, function).await?;
            ours.extend(
                versions
                    .iter()
                    .filter(|v| v.description().and_then(description_generation).is_some())
                    .filter_map(|v| v.version().map(str::to_string)),
            );
        }
        ours.sort_by_key(|v| number(v));
        ours.dedup();
        let older: Vec<&String> = ours.iter().filter(|v| v.as_str() != current && number(v) < number(current)).collect();
        let keep = usize::try_from(self.request.keep).unwrap_or(usize::MAX);
        let candidates: Vec<String> = older.iter().rev().skip(keep).map(|v| (*v).clone()).collect();
        let mut remaining: BTreeSet<String> = ours.iter().cloned().collect();
        remaining.insert(current.to_string());
        if !candidates.is_empty() {
            let aliased = aliased_versions(self.aws, &self.lambda, function).await?;
            for version in candidates {
                if aliased.contains(&version) {
                    self.ctx.info(format!("keeping version {version}: an alias points at it")).await;
                    continue;
                }
                check_cancelled(self.ctx)?;
                match self.lambda.delete_function().function_name(function).qualifier(&version).send().await {
                    Ok(_) => {
                        self.ctx.info(format!("deleted version {version} (keep = {})", self.request.keep)).await;
                        remaining.remove(&version);
                    }
                    Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
                        remaining.remove(&version);
                    }
                    Err(e) if error_code(&e) == Some("ResourceConflictException") => {
                        self.ctx.warn(format!("kept version {version}: {}", self.aws.error("Lambda.DeleteFunction", &e))).await;
                    }
                    Err(e) => return Err(self.aws.error("Lambda.DeleteFunction", &e).into()),
                }
            }
        }
        let mut remaining: Vec<String> = remaining.into_iter().collect();
        remaining.sort_by_key(|v| number(v));
        self.record.versions = remaining;
        Ok(())
    }
}

/// Polls `GetFunctionConfiguration` until the last update succeeded and the function is active
/// (first poll at once, then every second, slower after 30 s); `Failed` stops with Lambda's reason.
pub(crate) async fn wait_ready(
    ctx: &JobContext,
    aws: &Aws,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    what: &str,
) -> Result<FunctionConfiguration, Stop> {
    let started = Instant::now();
    let mut reported = false;
    loop {
        let out = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| aws.error("Lambda.GetFunctionConfiguration", &e))?;
        let state = out.state().cloned();
        let update = out.last_update_status().cloned();
        if state == Some(State::Failed) || update == Some(LastUpdateStatus::Failed) {
            let reason = [out.last_update_status_reason(), out.state_reason()]
                .into_iter()
                .flatten()
                .find(|r| !r.is_empty())
                .unwrap_or("no reason given");
            let code = out
                .last_update_status_reason_code()
                .map(|c| c.as_str().to_string())
                .or_else(|| out.state_reason_code().map(|c| c.as_str().to_string()));
            let code = code.map(|c| format!(" ({c})")).unwrap_or_default();
            return Err(Stop::failed(format!("Lambda reports that {what} of {function} failed{code}: {reason}")));
        }
        let settled = matches!(update, None | Some(LastUpdateStatus::Successful));
        if settled && matches!(state, None | Some(State::Active)) {
            return Ok(FunctionConfiguration::builder()
                .set_function_arn(out.function_arn().map(str::to_string))
                .set_revision_id(out.revision_id().map(str::to_string))
                .set_code_sha256(out.code_sha256().map(str::to_string))
                .set_version(out.version().map(str::to_string))
                .build());
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(Stop::failed(format!(
                "{what} of {function} did not finish within {} minutes (State {}, LastUpdateStatus {})",
                WAIT_LIMIT.as_secs() / 60,
                state.as_ref().map_or("unknown", |s| s.as_str()),
                update.as_ref().map_or("unknown", |s| s.as_str()),
            )));
        }
        if !reported {
            reported = true;
            ctx.info(format!(
                "waiting for {what} of {function} (State {}, LastUpdateStatus {})",
                state.as_ref().map_or("unknown", |s| s.as_str()),
                update.as_ref().map_or("unknown", |s| s.as_str())
            ))
            .await;
        }
        pause(ctx, if started.elapsed() < FAST_FOR { POLL_FAST } else { POLL_SLOW }).await?;
    }
}

#[async_trait]
impl Platform for AwsLambda {
    async fn deploy(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        ctx.add_secrets(request.secret_env.values().cloned());
        let config = lambda_config(request)?;
        let image = request.image.as_deref().unwrap_or_default();
        if image.is_empty() {
            return Err(PlatformError::InvalidRequest("the aws_lambda platform needs the deployment's `image` (an ECR image)".into()));
        }
        if let Some(problem) = spec::image_problem(image) {
            return Err(PlatformError::InvalidRequest(problem));
        }
        let function = function_name(request, &config);
        let mut record = prior_lambda(prior).unwrap_or_default();
        if record.function_name != function {
            // A new function (function_name forces a new deployment, so this is a first deploy
            // or a record from before): start from nothing but a role created earlier.
            record = LambdaRecord {
                function_name: function.clone(),
                created_role_arn: record.created_role_arn,
                created_role_name: record.created_role_name,
                ..Default::default()
            };
        }
        record.secret_env_keys = request.secret_env.keys().cloned().collect();
        let prior_failed = || {
            prior.map(|p| to_json(&DeploymentRecord { status: status::FAILED.into(), ..p.clone() }).unwrap_or_default()).unwrap_or_default()
        };
        let aws = connect(&request.aws, prior_failed).await?;
        let mut job = DeployJob {
            ctx,
            aws: &aws,
            lambda: aws.lambda(),
            request,
            config,
            prior,
            exists: prior.is_some(),
            role_arn: String::new(),
            record,
        };
        let result = job.run().await;
        log_calls(ctx, &aws).await;
        match result {
            Ok(record) => Outcome::record(&record),
            Err(stop) => Err(stop.into_error(job.failed_json())),
        }
    }
}

#[async_trait]
impl Status<Deployment> for AwsLambda {
    async fn status(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let config = lambda_config(request)?;
        let recorded = prior_lambda(prior);
        let function = recorded.as_ref().map_or_else(|| function_name(request, &config), |r| r.function_name.clone());
        let aws = connect(&request.aws, String::new).await?;
        let lambda = aws.lambda();
        let result = status_of(ctx, &aws, &lambda, request, &config, prior, recorded, &function).await;
        log_calls(ctx, &aws).await;
        result
    }
}

#[allow(clippy::too_many_arguments)]
async fn status_of(
    ctx: &JobContext,
    aws: &Aws,
    lambda: &aws_sdk_lambda::Client,
    request: &DeploymentRequest,
    config: &LambdaConfig,
    prior: Option<&DeploymentRecord>,
    recorded: Option<LambdaRecord>,
    function: &str,
) -> Result<Outcome, PlatformError> {
    let fail = |e: AwsError| PlatformError::failed(e.to_string(), "", String::new());
    let Some(live) = get_function(aws, lambda, function).await.map_err(fail)? else {
        ctx.info(format!("the function {function} does not exist")).await;
        // A role this platform created outlives the function: keep the deployment in state
        // (drifted, so the next apply creates the function again and a destroy deletes the role)
        // instead of letting Terraform forget the role.
        if let (Some(prior), Some(record)) = (prior, recorded.as_ref().filter(|r| r.created_role_name.is_some())) {
            let mut kept = prior.clone();
            kept.status = status::DRIFTED.into();
            let mut record = record.clone();
            record.function_arn.clear();
            record.version.clear();
            record.versions.clear();
            kept.record = serde_json::to_value(&record).unwrap_or(Json::Null);
            let detail = format!("the function {function} was deleted outside Terraform; the next apply creates it again");
            return Ok(Outcome::record(&kept)?.with_detail(detail));
        }
        return Ok(Outcome::gone());
    };
    let live_config = live.configuration().cloned().unwrap_or_else(|| FunctionConfiguration::builder().build());
    let live_image = live.code().and_then(|c| c.image_uri()).unwrap_or_default().to_string();
    let (Some(mut record), Some(prior)) = (recorded, prior) else {
        if prior.is_some() {
            // A create that failed before it recorded a function: whatever has the name now is not
            // this resource's (another configuration's, most likely); only an import adopts it.
            ctx.info(format!("the function {function} was not created by this deployment (its create failed before)")).await;
            return Ok(Outcome::gone());
        }
        return import(ctx, aws, lambda, config, function, &live, request).await;
    };
    let generation = prior.generation;
    let secret_env_differs = if request.compare_secret_env {
        let live_env: std::collections::BTreeMap<String, String> = live_config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        app_spec::job::secret_env_differs(&request.secret_env, &live_env, &record.secret_env_keys)
    } else {
        Vec::new()
    };
    let mut request = request.clone();
    // Status requests carry no secret values; the names were recorded at deploy time.
    for key in &record.secret_env_keys {
        request.secret_env.entry(key.clone()).or_default();
    }
    let desired = Desired::new(&request, config);
    let role = config.role.clone().filter(|r| !r.is_empty()).or_else(|| record.created_role_arn.clone()).unwrap_or_default();
    let mut drift = Vec::new();
    if let Some(other) = live.tags().and_then(|t| t.get(labels::OWNER)).filter(|o| !record.owner.is_empty() && **o != record.owner) {
        drift.push(format!("owner: the function now belongs to another configuration (owner {other})"));
    }
    if !record.image.is_empty() && live_image != record.image {
        drift.push(format!("image: {} → {live_image}", record.image));
    } else if !record.code_sha256.is_empty() && live_config.code_sha256().is_some_and(|c| c != record.code_sha256) {
        drift.push("code (CodeSha256)".to_string());
    }
    if desired.architecture_differs(&live_config) {
        drift.push("architecture".to_string());
    }
    drift.extend(desired.config_differences(&live_config, &role, false));
    let (mut set, _) = desired.tag_changes(live.tags());
    // Our own bookkeeping tags are added by the next deploy (e.g. after an import); only the
    // user's tags count as drift.
    set.retain(|k, _| !k.starts_with("dev.terraform-provider-app."));
    if !set.is_empty() {
        drift.push(format!("tags ({})", set.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    let status = if drift.is_empty() { status::READY } else { status::DRIFTED };
    let mut computed = serde_json::Map::new();
    computed.insert("version".into(), Json::String(record.version.clone()));
    computed.insert("function_arn".into(), Json::String(record.function_arn.clone()));
    computed.insert("role_arn".into(), Json::String(live_config.role().unwrap_or(&role).to_string()));
    if record.function_arn.is_empty() {
        record.function_arn = live_config.function_arn().unwrap_or_default().to_string();
    }
    let outcome = Outcome::record(&DeploymentRecord {
        generation,
        status: status.into(),
        url: None,
        computed,
        record: serde_json::to_value(&record).unwrap_or(Json::Null),
        secret_env_differs,
        ..Default::default()
    })?;
    if drift.is_empty() {
        Ok(outcome)
    } else {
        let detail = format!("the Lambda function {function} changed outside Terraform: {}", drift.join("; "));
        ctx.warn(&detail).await;
        Ok(outcome.with_detail(detail))
    }
}

/// Status without a record (an import): what is there, its generation's version (the newest of
/// this platform's versions when `generation` names none), the created role if the function's
/// role is `<function>-exec` tagged for this deployment, and the configuration as found
/// (`observed`, environment included: an imported function's variables become `env`; move
/// secret ones to `secret_env` in the configuration).
async fn import(
    ctx: &JobContext,
    aws: &Aws,
    lambda: &aws_sdk_lambda::Client,
    config: &LambdaConfig,
    function: &str,
    live: &GetFunctionOutput,
    request: &DeploymentRequest,
) -> Result<Outcome, PlatformError> {
    let generation = request.generation;
    let live_config = live.configuration().cloned().unwrap_or_else(|| FunctionConfiguration::builder().build());
    let versions = list_versions(aws, lambda, function).await.map_err(|e| PlatformError::failed(e.to_string(), "", String::new()))?;
    let number = |v: &FunctionConfiguration| v.version().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let found = version_of_generation(&versions, generation)
        .or_else(|| versions.iter().filter(|v| v.description().and_then(description_generation).is_some()).max_by_key(|v| number(v)));
    let generation = found.and_then(|v| v.description()).and_then(description_generation).unwrap_or(generation);
    let version = found.and_then(|v| v.version()).unwrap_or_default().to_string();
    let role = live_config.role().unwrap_or_default().to_string();
    let deployment = live.tags().and_then(|t| t.get(TAG_DEPLOYMENT)).cloned().unwrap_or_default();
    let role_name = role_name_for(function);
    let mut created = false;
    if config.role.is_none() && role.ends_with(&format!(":role/{role_name}")) {
        if let Ok(out) = aws.iam().get_role().role_name(&role_name).send().await {
            created = out.role().is_some_and(|r| r.tags().iter().any(|t| t.key() == TAG_DEPLOYMENT && t.value() == deployment));
        }
    }
    let record = LambdaRecord {
        function_name: function.to_string(),
        function_arn: live_config.function_arn().unwrap_or_default().to_string(),
        version: version.clone(),
        image: live.code().and_then(|c| c.image_uri()).unwrap_or_default().to_string(),
        created_role_arn: created.then(|| role.clone()),
        created_role_name: created.then(|| role_name.clone()),
        versions: {
            let mut v: Vec<&FunctionConfiguration> =
                versions.iter().filter(|v| v.description().and_then(description_generation).is_some()).collect();
            v.sort_by_key(|v| number(v));
            v.iter().filter_map(|v| v.version().map(str::to_string)).collect()
        },
        code_sha256: live_config.code_sha256().unwrap_or_default().to_string(),
        revision_id: live_config.revision_id().unwrap_or_default().to_string(),
        secret_env_keys: Vec::new(),
        // The imported resource takes the function's owner (none on functions of earlier versions).
        owner: live.tags().and_then(|t| t.get(labels::OWNER)).cloned().unwrap_or_default(),
    };
    let mut computed = serde_json::Map::new();
    computed.insert("version".into(), Json::String(version));
    computed.insert("function_arn".into(), Json::String(record.function_arn.clone()));
    computed.insert("role_arn".into(), Json::String(role.clone()));
    let mut found_config = serde_json::Map::new();
    if function != request.name {
        found_config.insert("function_name".into(), Json::String(function.to_string()));
    }
    if !created {
        found_config.insert("role".into(), Json::String(role));
    }
    found_config.insert("memory".into(), live_config.memory_size().map_or(Json::Null, Json::from));
    found_config.insert("timeout".into(), live_config.timeout().map_or(Json::Null, Json::from));
    found_config.insert("ephemeral_storage".into(), live_config.ephemeral_storage().map_or(Json::Null, |e| Json::from(e.size())));
    found_config
        .insert("architecture".into(), live_config.architectures().first().map_or(Json::Null, |a| Json::String(a.as_str().to_string())));
    ctx.info(format!("found the function {function} at version {} (generation {generation})", record.version)).await;
    let env = live_config
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let observed = app_spec::job::Observed { image: Some(record.image.clone()), env, config: found_config, ..Default::default() };
    Outcome::record(&DeploymentRecord {
        generation,
        status: status::READY.into(),
        url: None,
        computed,
        record: serde_json::to_value(&record).unwrap_or(Json::Null),
        observed: Some(observed),
        ..Default::default()
    })
}

#[async_trait]
impl Destroyer<Deployment> for AwsLambda {
    async fn destroy(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let config = lambda_config(request)?;
        let recorded = prior_lambda(prior);
        let function = recorded.as_ref().map_or_else(|| function_name(request, &config), |r| r.function_name.clone());
        let mut record = recorded.clone().unwrap_or_else(|| LambdaRecord { function_name: function.clone(), ..Default::default() });
        let left = |record: &LambdaRecord| {
            to_json(&DeploymentRecord {
                generation: prior.map_or(request.generation, |p| p.generation),
                status: status::FAILED.into(),
                url: None,
                computed: prior.map(|p| p.computed.clone()).unwrap_or_default(),
                record: serde_json::to_value(record).unwrap_or(Json::Null),
                ..Default::default()
            })
            .unwrap_or_default()
        };
        let aws = connect(&request.aws, || left(&record)).await?;
        let result = destroy_all(ctx, &aws, &mut record, recorded.is_some()).await;
        log_calls(ctx, &aws).await;
        match result {
            Ok(()) => Ok(Outcome::nothing()),
            Err(stop) => Err(stop.into_error(left(&record))),
        }
    }
}

async fn destroy_all(ctx: &JobContext, aws: &Aws, record: &mut LambdaRecord, recorded: bool) -> Result<(), Stop> {
    let lambda = aws.lambda();
    let function = record.function_name.clone();
    if !function.is_empty() {
        let ours = if recorded && !record.function_arn.is_empty() {
            true
        } else {
            // Nothing recorded (a create that failed early): delete only a function tagged with our owner.
            match get_function(aws, &lambda, &function).await? {
                Some(live) => owned_by(live.tags().and_then(|t| t.get(labels::OWNER)).map(String::as_str), &record.owner, false),
                None => false,
            }
        };
        if ours {
            ctx.progress("delete function", -1).await;
            match lambda.delete_function().function_name(&function).send().await {
                Ok(_) => ctx.info(format!("deleted the function {function} (every version, alias and URL)")).await,
                Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {
                    ctx.info(format!("the function {function} was already gone")).await
                }
                Err(e) => return Err(aws.error("Lambda.DeleteFunction", &e).into()),
            }
        }
        record.function_arn.clear();
        record.version.clear();
        record.versions.clear();
    }
    check_cancelled(ctx)?;
    if let Some(role) = record.created_role_name.clone() {
        delete_role(ctx, aws, &role).await?;
        record.created_role_arn = None;
        record.created_role_name = None;
    }
    Ok(())
}

/// Detaches the basic execution policy from a role this platform created, and deletes it.
async fn delete_role(ctx: &JobContext, aws: &Aws, role: &str) -> Result<(), Stop> {
    let iam = aws.iam();
    ctx.progress("delete role", -1).await;
    let attached = match iam.list_attached_role_policies().role_name(role).send().await {
        Ok(out) => out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect::<Vec<_>>(),
        Err(e) if error_code(&e) == Some("NoSuchEntity") => {
            ctx.info(format!("the role {role} was already gone")).await;
            return Ok(());
        }
        Err(e) => return Err(aws.error("IAM.ListAttachedRolePolicies", &e).into()),
    };
    for policy in attached.iter().filter(|p| p.ends_with(BASIC_EXECUTION_POLICY)) {
        match iam.detach_role_policy().role_name(role).policy_arn(policy).send().await {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("NoSuchEntity") => {}
            Err(e) => return Err(aws.error("IAM.DetachRolePolicy", &e).into()),
        }
    }
    match iam.delete_role().role_name(role).send().await {
        Ok(_) => {
            ctx.info(format!("deleted the role {role}")).await;
            Ok(())
        }
        Err(e) if error_code(&e) == Some("NoSuchEntity") => Ok(()),
        Err(e) if error_code(&e) == Some("DeleteConflict") => Err(Stop::failed(format!(
            "the role {role} still has policies that were attached outside Terraform, so it was not deleted; detach them (or delete the role) and destroy again: {}",
            aws.error("IAM.DeleteRole", &e)
        ))),
        Err(e) => Err(aws.error("IAM.DeleteRole", &e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_images_parse() {
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let digest = format!("sha256:{}", "a".repeat(64));
        let by_digest = EcrImage::parse(&format!("{host}/team/web@{digest}")).expect("parses");
        assert_eq!((by_digest.repository.as_str(), by_digest.tag.as_deref()), ("team/web", None));
        assert_eq!(by_digest.pinned(&digest), format!("{host}/team/web@{digest}"));
        let tagged = EcrImage::parse(&format!("{host}/web:v1")).expect("parses");
        assert_eq!((tagged.region.as_str(), tagged.account.as_str(), tagged.tag.as_deref()), ("us-east-1", "123456789012", Some("v1")));
        assert_eq!(EcrImage::parse(&format!("{host}/web")).and_then(|i| i.tag), Some("latest".into()));
        let both = EcrImage::parse(&format!("{host}/web:v1@{digest}")).expect("parses");
        assert_eq!((both.tag.as_deref(), both.digest.as_deref()), (Some("v1"), Some(digest.as_str())));
        for bad in ["web:v1", "127.0.0.1:5000/web:v1", &format!("{host}/web@md5:00"), &format!("{host}/")] {
            assert_eq!(EcrImage::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_and_descriptions() {
        assert_eq!(role_name_for("web"), "web-exec");
        assert_eq!(role_name_for(&"f".repeat(64)).len(), 64);
        assert_eq!(description_generation(&version_description(7)), Some(7));
        assert_eq!(description_generation("generation x"), None);
        assert_eq!(description_generation("terraform-provider-app deployment web, generation 3"), None);
    }

    #[test]
    fn differences_name_fields_not_values() {
        let request = DeploymentRequest {
            name: "web".into(),
            env: [("A".to_string(), "1".to_string())].into(),
            secret_env: [("TOKEN".to_string(), "s3cret".to_string())].into(),
            ..Default::default()
        };
        let desired = Desired::new(&request, &LambdaConfig::default());
        let env = aws_sdk_lambda::types::EnvironmentResponse::builder()
            .variables("A", "2")
            .variables("TOKEN", "other")
            .variables("EXTRA", "x")
            .build();
        let live = FunctionConfiguration::builder()
            .memory_size(128)
            .timeout(60)
            .ephemeral_storage(EphemeralStorage::builder().size(512).build().expect("size"))
            .environment(env)
            .role("arn:aws:iam::123456789012:role/r")
            .build();
        let diff = desired.config_differences(&live, "arn:aws:iam::123456789012:role/r", true);
        assert_eq!(diff, ["memory", "environment (A, EXTRA, TOKEN)"]);
        let diff = desired.config_differences(&live, "arn:aws:iam::123456789012:role/r", false);
        assert_eq!(diff, ["memory", "environment (A, EXTRA)"]);
        assert!(!diff.join(" ").contains("s3cret"));
        assert!(!format!("{desired:?}").contains("s3cret"), "Debug shows names only");
        let (set, remove) =
            desired.tag_changes(Some(&[("aws:cloudformation:x".to_string(), "y".to_string()), ("old".into(), "1".into())].into()));
        assert!(set.contains_key(TAG_DEPLOYMENT) && set.contains_key(labels::MANAGED_BY));
        assert_eq!(remove, ["old"]);
    }
}
