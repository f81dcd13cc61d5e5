//! The small traits every platform implements, in the spirit of Waypoint's plugin SDK, and
//! the table that maps (role, platform name) to an implementation.
//!
//! A new platform is a module under `platforms/` implementing the traits that apply to it
//! plus one entry in [`crate::platforms::builtin`]; nothing else changes.

use crate::context::JobContext;
use crate::proto::{JobRequest, Operation, Role};
use app_spec::job::{BuildRecord, BuildRequest, DeploymentRecord, DeploymentRequest, ReleaseRecord, ReleaseRequest};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// How a job that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Succeeded,
    /// Status only: the object no longer exists.
    Gone,
}

/// What a successful (or "gone") job reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// The record of what exists now, JSON; empty when nothing exists.
    pub result_json: String,
    /// Extra information for the user, e.g. what drifted.
    pub detail: String,
}

impl Outcome {
    /// Succeeded, with `record` as the result.
    pub fn record<T: Serialize>(record: &T) -> Result<Self, PlatformError> {
        Ok(Self { kind: OutcomeKind::Succeeded, result_json: to_json(record)?, detail: String::new() })
    }

    /// Succeeded, with the result JSON given as is.
    pub fn json(result_json: impl Into<String>) -> Self {
        Self { kind: OutcomeKind::Succeeded, result_json: result_json.into(), detail: String::new() }
    }

    /// Succeeded, and nothing exists any more (destroy).
    pub fn nothing() -> Self {
        Self::json(String::new())
    }

    /// The object is gone (status).
    pub fn gone() -> Self {
        Self { kind: OutcomeKind::Gone, result_json: String::new(), detail: String::new() }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// Why a job did not succeed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlatformError {
    /// The work failed. `result_json` records what exists now (so the caller keeps it).
    #[error("{message}")]
    Failed { message: String, detail: String, result_json: String },
    /// The job was cancelled; `result_json` records what exists now.
    #[error("the job was cancelled")]
    Cancelled { result_json: String },
    /// The job itself is wrong (bad JSON, unknown platform, operation that does not apply);
    /// nothing was done, so the caller's prior record stays as it was.
    #[error("{0}")]
    InvalidRequest(String),
}

impl PlatformError {
    pub fn failed(message: impl Into<String>, detail: impl Into<String>, result_json: impl Into<String>) -> Self {
        Self::Failed { message: message.into(), detail: detail.into(), result_json: result_json.into() }
    }
}

/// A new owner ID for the objects a resource creates (16 random hex digits): recorded in its
/// record and on its objects, so objects of the same name that another configuration created are
/// never taken over. `None` when the system has no secure random source.
pub fn new_owner_id() -> Option<String> {
    let mut bytes = [0u8; 8];
    rustls::crypto::aws_lc_rs::default_provider().secure_random.fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Serializes a record; our record types always serialize, but never panic if one does not.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, PlatformError> {
    serde_json::to_string(value).map_err(|e| PlatformError::InvalidRequest(format!("could not encode the result as JSON: {e}")))
}

/// The request and record documents of one kind of resource.
pub trait Documents: Send + Sync + 'static {
    type Request: DeserializeOwned + Send + Sync;
    type Record: DeserializeOwned + Send + Sync;
    /// What to call the request in error messages.
    const REQUEST_NAME: &'static str;
    /// Values to mask in every log line of the job.
    fn secrets(_request: &Self::Request) -> Vec<String> {
        Vec::new()
    }
}

/// Deployments: [`DeploymentRequest`] in, [`DeploymentRecord`] out.
pub struct Deployment;

impl Documents for Deployment {
    type Request = DeploymentRequest;
    type Record = DeploymentRecord;
    const REQUEST_NAME: &'static str = "deployment request";
    fn secrets(request: &DeploymentRequest) -> Vec<String> {
        request.secret_env.values().cloned().collect()
    }
}

/// Builds: [`BuildRequest`] in, [`BuildRecord`] out. Registry and pull passwords are secrets.
pub struct Build;

impl Documents for Build {
    type Request = BuildRequest;
    type Record = BuildRecord;
    const REQUEST_NAME: &'static str = "build request";
    fn secrets(request: &BuildRequest) -> Vec<String> {
        request.secrets()
    }
}

/// Releases: [`ReleaseRequest`] in, [`ReleaseRecord`] out.
pub struct Release;

impl Documents for Release {
    type Request = ReleaseRequest;
    type Record = ReleaseRecord;
    const REQUEST_NAME: &'static str = "release request";
}

type Req<D> = <D as Documents>::Request;
type Rec<D> = <D as Documents>::Record;

/// Produces an artifact from source (Waypoint's Builder).
#[async_trait]
pub trait Builder: Send + Sync {
    async fn build(&self, ctx: &JobContext, request: &Req<Build>, prior: Option<&Rec<Build>>) -> Result<Outcome, PlatformError>;
}

/// Pushes an artifact to where platforms can fetch it (Waypoint's Registry).
#[async_trait]
pub trait Registry: Send + Sync {
    async fn push(&self, ctx: &JobContext, request: &Req<Build>, prior: Option<&Rec<Build>>) -> Result<Outcome, PlatformError>;
}

/// Runs a generation of the app (Waypoint's Platform).
#[async_trait]
pub trait Platform: Send + Sync {
    async fn deploy(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError>;
}

/// Routes traffic to a generation (Waypoint's ReleaseManager).
#[async_trait]
pub trait ReleaseManager: Send + Sync {
    async fn release(&self, ctx: &JobContext, request: &Req<Release>, prior: Option<&Rec<Release>>) -> Result<Outcome, PlatformError>;
}

/// Removes everything a resource created (Waypoint's Destroyer).
#[async_trait]
pub trait Destroyer<D: Documents>: Send + Sync {
    async fn destroy(&self, ctx: &JobContext, request: &D::Request, prior: Option<&D::Record>) -> Result<Outcome, PlatformError>;
}

/// Reads the live object to detect drift or disappearance (Waypoint's Status).
#[async_trait]
pub trait Status<D: Documents>: Send + Sync {
    async fn status(&self, ctx: &JobContext, request: &D::Request, prior: Option<&D::Record>) -> Result<Outcome, PlatformError>;
}

pub struct BuilderEntry {
    pub name: &'static str,
    pub build: Arc<dyn Builder>,
    pub push: Option<Arc<dyn Registry>>,
    pub status: Option<Arc<dyn Status<Build>>>,
    pub destroy: Option<Arc<dyn Destroyer<Build>>>,
}

pub struct PlatformEntry {
    pub name: &'static str,
    pub deploy: Arc<dyn Platform>,
    pub status: Option<Arc<dyn Status<Deployment>>>,
    pub destroy: Option<Arc<dyn Destroyer<Deployment>>>,
}

pub struct ReleaserEntry {
    pub name: &'static str,
    pub release: Arc<dyn ReleaseManager>,
    pub status: Option<Arc<dyn Status<Release>>>,
    pub destroy: Option<Arc<dyn Destroyer<Release>>>,
}

/// Every implementation this runner has, by role and name.
#[derive(Default)]
pub struct Plugins {
    pub builders: Vec<BuilderEntry>,
    pub platforms: Vec<PlatformEntry>,
    pub releasers: Vec<ReleaserEntry>,
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Unspecified => "unspecified",
        Role::Builder => "builder",
        Role::Platform => "platform",
        Role::Releaser => "releaser",
    }
}

pub fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Unspecified => "unspecified",
        Operation::Build => "build",
        Operation::Push => "push",
        Operation::Deploy => "deploy",
        Operation::Release => "release",
        Operation::Status => "status",
        Operation::Destroy => "destroy",
    }
}

impl Plugins {
    /// The names of every implementation, sorted and without duplicates.
    pub fn names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self
            .builders
            .iter()
            .map(|e| e.name)
            .chain(self.platforms.iter().map(|e| e.name))
            .chain(self.releasers.iter().map(|e| e.name))
            .collect();
        names.into_iter().map(str::to_string).collect()
    }

    fn names_of(&self, role: Role) -> Vec<&'static str> {
        match role {
            Role::Builder => self.builders.iter().map(|e| e.name).collect(),
            Role::Platform => self.platforms.iter().map(|e| e.name).collect(),
            Role::Releaser => self.releasers.iter().map(|e| e.name).collect(),
            Role::Unspecified => Vec::new(),
        }
    }

    /// Runs one job on the implementation it names.
    pub async fn run(&self, ctx: &JobContext, job: &JobRequest) -> Result<Outcome, PlatformError> {
        let role = Role::try_from(job.role).unwrap_or(Role::Unspecified);
        let operation = Operation::try_from(job.operation).unwrap_or(Operation::Unspecified);
        let name = job.platform.as_str();
        match role {
            Role::Unspecified => Err(PlatformError::InvalidRequest(format!(
                "the job names no role (got {}); expected builder, platform or releaser",
                job.role
            ))),
            Role::Builder => {
                let entry = self.builders.iter().find(|e| e.name == name).ok_or_else(|| self.unknown(role, name))?;
                match operation {
                    Operation::Build => {
                        let (request, prior) = decode::<Build>(ctx, job)?;
                        entry.build.build(ctx, &request, prior.as_ref()).await
                    }
                    Operation::Push => {
                        let push = entry.push.as_ref().ok_or_else(|| unsupported(role, name, operation))?;
                        let (request, prior) = decode::<Build>(ctx, job)?;
                        push.push(ctx, &request, prior.as_ref()).await
                    }
                    Operation::Status => run_status::<Build>(ctx, job, entry.status.as_deref(), role, name).await,
                    Operation::Destroy => run_destroy::<Build>(ctx, job, entry.destroy.as_deref(), role, name).await,
                    _ => Err(unsupported(role, name, operation)),
                }
            }
            Role::Platform => {
                let entry = self.platforms.iter().find(|e| e.name == name).ok_or_else(|| self.unknown(role, name))?;
                match operation {
                    Operation::Deploy => {
                        let (request, prior) = decode::<Deployment>(ctx, job)?;
                        entry.deploy.deploy(ctx, &request, prior.as_ref()).await
                    }
                    Operation::Status => run_status::<Deployment>(ctx, job, entry.status.as_deref(), role, name).await,
                    Operation::Destroy => run_destroy::<Deployment>(ctx, job, entry.destroy.as_deref(), role, name).await,
                    _ => Err(unsupported(role, name, operation)),
                }
            }
            Role::Releaser => {
                let entry = self.releasers.iter().find(|e| e.name == name).ok_or_else(|| self.unknown(role, name))?;
                match operation {
                    Operation::Release => {
                        let (request, prior) = decode::<Release>(ctx, job)?;
                        entry.release.release(ctx, &request, prior.as_ref()).await
                    }
                    Operation::Status => run_status::<Release>(ctx, job, entry.status.as_deref(), role, name).await,
                    Operation::Destroy => run_destroy::<Release>(ctx, job, entry.destroy.as_deref(), role, name).await,
                    _ => Err(unsupported(role, name, operation)),
                }
            }
        }
    }

    fn unknown(&self, role: Role, name: &str) -> PlatformError {
        let supported = self.names_of(role);
        let supported = if supported.is_empty() { "none".to_string() } else { supported.join(", ") };
        let spec_role = match role {
            Role::Builder => Some(app_spec::Role::Builder),
            Role::Platform => Some(app_spec::Role::Platform),
            Role::Releaser => Some(app_spec::Role::Releaser),
            Role::Unspecified => None,
        };
        let planned = spec_role.and_then(|r| app_spec::catalog::find(r, name)).and_then(|spec| match spec.availability {
            app_spec::Availability::Planned(note) => Some(note),
            app_spec::Availability::Ready => None,
        });
        let role = role_name(role);
        match planned {
            Some(note) => PlatformError::InvalidRequest(format!(
                "the {role} {name:?} is not available in this runner version ({note}); this runner supports: {supported}"
            )),
            None => PlatformError::InvalidRequest(format!("this runner has no {role} named {name:?}; it supports: {supported}")),
        }
    }
}

fn unsupported(role: Role, name: &str, operation: Operation) -> PlatformError {
    PlatformError::InvalidRequest(format!("the {} {name:?} does not support the {} operation", role_name(role), operation_name(operation)))
}

async fn run_status<D: Documents>(
    ctx: &JobContext,
    job: &JobRequest,
    status: Option<&dyn Status<D>>,
    role: Role,
    name: &str,
) -> Result<Outcome, PlatformError> {
    let status = status.ok_or_else(|| unsupported(role, name, Operation::Status))?;
    let (request, prior) = decode::<D>(ctx, job)?;
    status.status(ctx, &request, prior.as_ref()).await
}

async fn run_destroy<D: Documents>(
    ctx: &JobContext,
    job: &JobRequest,
    destroyer: Option<&dyn Destroyer<D>>,
    role: Role,
    name: &str,
) -> Result<Outcome, PlatformError> {
    let destroyer = destroyer.ok_or_else(|| unsupported(role, name, Operation::Destroy))?;
    let (request, prior) = decode::<D>(ctx, job)?;
    destroyer.destroy(ctx, &request, prior.as_ref()).await
}

/// Parses `request_json` and `prior_json` (empty = none) and registers the request's secrets.
pub fn decode<D: Documents>(ctx: &JobContext, job: &JobRequest) -> Result<(D::Request, Option<D::Record>), PlatformError> {
    let request: D::Request = serde_json::from_str(&job.request_json)
        .map_err(|e| PlatformError::InvalidRequest(format!("request_json is not a valid {}: {e}", D::REQUEST_NAME)))?;
    ctx.add_secrets(D::secrets(&request));
    let prior = if job.prior_json.trim().is_empty() {
        None
    } else {
        Some(
            serde_json::from_str(&job.prior_json)
                .map_err(|e| PlatformError::InvalidRequest(format!("prior_json is not a valid record: {e}")))?,
        )
    };
    Ok((request, prior))
}
