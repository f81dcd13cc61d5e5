//! The platforms this runner implements. Adding one: a module here and an entry in [`builtin`].

pub mod aws_lambda;
pub mod aws_lambda_release;
pub mod docker_build;
pub mod docker_deploy;
pub mod docker_pull;
pub mod docker_release;
pub mod dry_run;
pub mod exec;
pub mod registry_auth;

use crate::platform::{BuilderEntry, PlatformEntry, Plugins, ReleaserEntry};
use std::sync::Arc;

/// Every implementation compiled into this runner.
pub fn builtin() -> Plugins {
    let exec = Arc::new(exec::Exec);
    let aws_lambda = Arc::new(aws_lambda::AwsLambda);
    let aws_lambda_release = Arc::new(aws_lambda_release::AwsLambdaRelease);
    let docker_build = Arc::new(docker_build::DockerBuild);
    let docker_pull = Arc::new(docker_pull::DockerPull);
    let docker_deploy = Arc::new(docker_deploy::DockerDeploy);
    let docker_release = Arc::new(docker_release::DockerRelease);
    Plugins {
        builders: vec![
            BuilderEntry {
                name: "docker",
                build: docker_build.clone(),
                push: None,
                status: Some(docker_build.clone()),
                destroy: Some(docker_build),
            },
            BuilderEntry {
                name: "docker_pull",
                build: docker_pull.clone(),
                push: None,
                status: Some(docker_pull.clone()),
                destroy: Some(docker_pull),
            },
        ],
        platforms: vec![
            PlatformEntry { name: "aws_lambda", deploy: aws_lambda.clone(), status: Some(aws_lambda.clone()), destroy: Some(aws_lambda) },
            PlatformEntry {
                name: "docker",
                deploy: docker_deploy.clone(),
                status: Some(docker_deploy.clone()),
                destroy: Some(docker_deploy),
            },
            PlatformEntry { name: "exec", deploy: exec.clone(), status: Some(exec.clone()), destroy: Some(exec) },
        ],
        releasers: vec![
            ReleaserEntry {
                name: "aws_lambda",
                release: aws_lambda_release.clone(),
                status: Some(aws_lambda_release.clone()),
                destroy: Some(aws_lambda_release),
            },
            ReleaserEntry {
                name: "docker",
                release: docker_release.clone(),
                status: Some(docker_release.clone()),
                destroy: Some(docker_release),
            },
        ],
    }
}

#[cfg(test)]
mod request_properties;
