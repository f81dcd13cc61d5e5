//! Which builders, platforms and releasers exist. The provider turns each ready entry into a
//! configuration block of the matching resource; adding a platform means adding it here and
//! implementing it in the runner.

use crate::field::{BlockSpec, FieldError};
use serde_json::Value as Json;

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

#[derive(Clone)]
pub struct PlatformSpec {
    pub role: Role,
    pub name: &'static str,
    pub availability: Availability,
    pub block: fn() -> BlockSpec,
    /// Checks a configuration block given as JSON; unknown values arrive as `null` and are skipped.
    pub validate: fn(&Json) -> Vec<FieldError>,
    /// Whether a status job can observe anything for this configuration; when not, the
    /// recorded state stands and no runner is needed to refresh it.
    pub observes: fn(&Json) -> bool,
    /// Platforms that run an image: what is wrong with the deployment's `image` for this
    /// platform (`None`: fine). `Some` also makes `image` required.
    pub image_rule: Option<fn(&str) -> Option<String>>,
}

fn no_fields_yet() -> BlockSpec {
    BlockSpec::new("", "", Vec::new())
}

fn nothing_to_validate(_: &Json) -> Vec<FieldError> {
    Vec::new()
}

fn always_observes(_: &Json) -> bool {
    true
}

const fn planned(role: Role, name: &'static str, note: &'static str) -> PlatformSpec {
    PlatformSpec {
        role,
        name,
        availability: Availability::Planned(note),
        block: no_fields_yet,
        validate: nothing_to_validate,
        observes: always_observes,
        image_rule: None,
    }
}

/// Every builder, platform and releaser, ready or planned.
pub fn all() -> Vec<PlatformSpec> {
    vec![
        PlatformSpec {
            role: Role::Platform,
            name: "exec",
            availability: Availability::Ready,
            block: crate::exec::block,
            validate: crate::exec::validate,
            observes: crate::exec::observes,
            image_rule: None,
        },
        PlatformSpec {
            role: Role::Builder,
            name: "docker",
            availability: Availability::Ready,
            block: crate::docker_build::docker_block,
            validate: crate::docker_build::validate_docker,
            observes: crate::docker_build::always_observes,
            image_rule: None,
        },
        PlatformSpec {
            role: Role::Builder,
            name: "docker_pull",
            availability: Availability::Ready,
            block: crate::docker_build::docker_pull_block,
            validate: crate::docker_build::validate_docker_pull,
            observes: crate::docker_build::always_observes,
            image_rule: None,
        },
        planned(Role::Builder, "aws_ami", "AMI lookups arrive with the EC2 work."),
        PlatformSpec {
            role: Role::Platform,
            name: "docker",
            availability: Availability::Ready,
            block: crate::docker_deploy::platform_block,
            validate: crate::docker_deploy::validate_platform,
            observes: crate::docker_deploy::always_observes,
            image_rule: Some(crate::docker_deploy::image_problem),
        },
        planned(Role::Platform, "kubernetes", "Kubernetes deployments are planned."),
        planned(Role::Platform, "kubernetes_apply", "kubernetes_apply is planned."),
        planned(Role::Platform, "helm", "Helm is planned."),
        PlatformSpec {
            role: Role::Platform,
            name: "aws_lambda",
            availability: Availability::Ready,
            block: crate::aws_lambda::platform_block,
            validate: crate::aws_lambda::validate_platform,
            observes: crate::aws_lambda::always_observes,
            image_rule: Some(crate::aws_lambda::image_problem),
        },
        planned(Role::Platform, "aws_ec2", "EC2 Auto Scaling deployments are planned."),
        PlatformSpec {
            role: Role::Releaser,
            name: "docker",
            availability: Availability::Ready,
            block: crate::docker_deploy::releaser_block,
            validate: crate::docker_deploy::validate_releaser,
            observes: crate::docker_deploy::always_observes,
            image_rule: None,
        },
        planned(Role::Releaser, "kubernetes", "Kubernetes releases are planned."),
        PlatformSpec {
            role: Role::Releaser,
            name: "aws_lambda",
            availability: Availability::Ready,
            block: crate::aws_lambda::releaser_block,
            validate: crate::aws_lambda::validate_releaser,
            observes: crate::aws_lambda::always_observes,
            image_rule: None,
        },
        planned(Role::Releaser, "aws_alb", "ALB releases are planned."),
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
