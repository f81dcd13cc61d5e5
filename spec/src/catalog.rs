//! Which builders, platforms and releasers exist, and what each needs. The provider turns each
//! ready entry into a configuration block of the matching resource and treats them all alike;
//! adding a platform means declaring its block struct, adding it here and implementing it in the
//! runner.

use crate::field::{Block, BlockSpec, FieldError};
use serde_json::Value as Json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `app_build`: produces an artifact (image, AMI).
    Builder,
    /// `app_deployment`: runs a generation of the app.
    Platform,
    /// `app_release`: routes traffic to a generation.
    Releaser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// Known but not implemented in this version; the note says where it is tracked.
    Planned(&'static str),
}

/// What a builder that takes `source` hashes and packs: the inputs of `source_hash` besides the
/// files themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextInputs {
    /// Path of the Dockerfile relative to the source (it may lie outside it).
    pub dockerfile: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub platform: Option<String>,
}

/// How a builder uses `source`.
#[derive(Clone, Copy)]
pub struct SourceUse {
    /// The hash inputs from the builder's block (`None` while the block is not readable).
    pub inputs: fn(&Json) -> Option<ContextInputs>,
    /// The block attribute naming the build file (e.g. `dockerfile`), where problems with it show.
    pub file_field: &'static str,
}

#[derive(Clone)]
pub struct PlatformSpec {
    pub role: Role,
    pub name: &'static str,
    pub availability: Availability,
    /// The block's declaration (`<T as Block>::spec`).
    pub spec: fn() -> BlockSpec,
    /// Checks a configuration block given as JSON; unknown values arrive as `null` and are skipped.
    pub validate: fn(&Json) -> Vec<FieldError>,
    /// Reads a wholly known block as the runner does (`<T as Block>::parse`).
    pub parse: fn(&Json) -> Result<(), String>,
    /// Whether a status job can observe anything for this configuration; when not, the
    /// recorded state stands and no runner is needed to refresh it.
    pub observes: fn(&Json) -> bool,
    /// Platforms that run an image: what is wrong with the deployment's `image` for this
    /// platform (`None`: fine). `Some` also makes `image` required.
    pub image_rule: Option<fn(&str) -> Option<String>>,
    /// Builders that take `source`: how. Such a builder's context is hashed at plan time and
    /// uploaded for the build.
    pub context: Option<SourceUse>,
    /// Builders whose result can be pushed with the `registry` block.
    pub pushes: bool,
    /// The builder that reads an image reference for `terraform import` (its labels tell how it was built).
    pub imports: bool,
    /// Platforms that compare the configured write-only `secret_env` with the running app at plan
    /// time, so a rotated secret plans a new generation without `secret_env_version`.
    pub detects_secret_changes: bool,
}

fn parse_as<T: Block>(json: &Json) -> Result<(), String> {
    T::parse(json).map(drop)
}

fn always(_: &Json) -> bool {
    true
}

impl PlatformSpec {
    /// A ready entry whose block is `T`.
    pub fn ready<T: Block>(role: Role, name: &'static str) -> Self {
        Self {
            role,
            name,
            availability: Availability::Ready,
            spec: T::spec,
            validate: T::validate,
            parse: parse_as::<T>,
            observes: always,
            image_rule: None,
            context: None,
            pushes: false,
            imports: false,
            detects_secret_changes: false,
        }
    }

    /// Known but not built yet: no block in the schema, a note where it is tracked.
    pub fn planned(role: Role, name: &'static str, note: &'static str) -> Self {
        Self { availability: Availability::Planned(note), ..Self::ready::<Nothing>(role, name) }
    }

    fn observes_when(mut self, observes: fn(&Json) -> bool) -> Self {
        self.observes = observes;
        self
    }
    fn runs_images(mut self, rule: fn(&str) -> Option<String>) -> Self {
        self.image_rule = Some(rule);
        self
    }
    fn takes_source(mut self, inputs: fn(&Json) -> Option<ContextInputs>, file_field: &'static str) -> Self {
        self.context = Some(SourceUse { inputs, file_field });
        self
    }
    fn pushes(mut self) -> Self {
        self.pushes = true;
        self
    }
    fn imports(mut self) -> Self {
        self.imports = true;
        self
    }
    fn detects_secret_changes(mut self) -> Self {
        self.detects_secret_changes = true;
        self
    }
}

/// The empty block of planned entries.
#[derive(serde::Deserialize, crate::Block)]
#[serde(deny_unknown_fields)]
struct Nothing {}

/// Every builder, platform and releaser, ready or planned.
pub fn all() -> Vec<PlatformSpec> {
    use crate::{aws_lambda, docker_build, docker_deploy, exec};
    use Role::*;
    vec![
        PlatformSpec::ready::<exec::ExecConfig>(Platform, "exec").observes_when(exec::observes),
        PlatformSpec::ready::<docker_build::DockerBuildConfig>(Builder, "docker")
            .takes_source(docker_build::context_inputs, "dockerfile")
            .pushes()
            .imports(),
        PlatformSpec::ready::<docker_build::DockerPullConfig>(Builder, "docker_pull"),
        PlatformSpec::planned(Builder, "aws_ami", "AMI lookups arrive with the EC2 work."),
        PlatformSpec::ready::<docker_deploy::DockerDeployConfig>(Platform, "docker")
            .runs_images(docker_deploy::image_problem)
            .detects_secret_changes(),
        PlatformSpec::planned(Platform, "kubernetes", "Kubernetes deployments are planned."),
        PlatformSpec::planned(Platform, "kubernetes_apply", "kubernetes_apply is planned."),
        PlatformSpec::planned(Platform, "helm", "Helm is planned."),
        PlatformSpec::ready::<aws_lambda::LambdaConfig>(Platform, "aws_lambda")
            .runs_images(aws_lambda::image_problem)
            .detects_secret_changes(),
        PlatformSpec::planned(Platform, "aws_ec2", "EC2 Auto Scaling deployments are planned."),
        PlatformSpec::ready::<docker_deploy::DockerReleaseConfig>(Releaser, "docker"),
        PlatformSpec::planned(Releaser, "kubernetes", "Kubernetes releases are planned."),
        PlatformSpec::ready::<aws_lambda::LambdaReleaseConfig>(Releaser, "aws_lambda"),
        PlatformSpec::planned(Releaser, "aws_alb", "ALB releases are planned."),
    ]
}

/// The ready entries of one role, in a stable order.
pub fn ready(role: Role) -> Vec<PlatformSpec> {
    all().into_iter().filter(|p| p.role == role && p.availability == Availability::Ready).collect()
}

/// The planned entries of one role (for "not supported yet" messages).
pub fn planned_names(role: Role) -> Vec<&'static str> {
    all().into_iter().filter(|p| p.role == role && matches!(p.availability, Availability::Planned(_))).map(|p| p.name).collect()
}

pub fn find(role: Role, name: &str) -> Option<PlatformSpec> {
    all().into_iter().find(|p| p.role == role && p.name == name)
}

/// One declared block, wherever it sits.
pub struct BlockEntry {
    /// Where it is, e.g. `app_deployment.docker`, `app_build.registry`, `provider.aws`.
    pub place: String,
    pub spec: fn() -> BlockSpec,
    pub validate: fn(&Json) -> Vec<FieldError>,
    pub parse: fn(&Json) -> Result<(), String>,
}

impl BlockEntry {
    fn of<T: Block>(place: &str) -> Self {
        Self { place: place.to_string(), spec: T::spec, validate: T::validate, parse: parse_as::<T> }
    }
}

/// Every block declared with `#[derive(Block)]` that reaches a schema: the ready builders,
/// platforms and releasers, `app_build`'s `registry`, and the provider's `docker` and `aws`.
pub fn every_block() -> Vec<BlockEntry> {
    let resource = |role: Role| match role {
        Role::Builder => "app_build",
        Role::Platform => "app_deployment",
        Role::Releaser => "app_release",
    };
    let mut blocks: Vec<BlockEntry> = all()
        .into_iter()
        .filter(|p| p.availability == Availability::Ready)
        .map(|p| BlockEntry { place: format!("{}.{}", resource(p.role), p.name), spec: p.spec, validate: p.validate, parse: p.parse })
        .collect();
    blocks.push(BlockEntry::of::<crate::docker_build::RegistryConfig>("app_build.registry"));
    blocks.push(BlockEntry::of::<crate::job::EngineSettings>("provider.docker"));
    blocks.push(BlockEntry::of::<crate::job::AwsSettings>("provider.aws"));
    blocks
}
