//! The platforms this runner implements. Adding one: a module here and an entry in [`builtin`].

pub mod docker_build;
pub mod docker_pull;
pub mod exec;
pub mod registry_auth;

use crate::platform::{BuilderEntry, PlatformEntry, Plugins};
use std::sync::Arc;

/// Every implementation compiled into this runner.
pub fn builtin() -> Plugins {
    let exec = Arc::new(exec::Exec);
    let docker_build = Arc::new(docker_build::DockerBuild);
    let docker_pull = Arc::new(docker_pull::DockerPull);
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
        platforms: vec![PlatformEntry { name: "exec", deploy: exec.clone(), status: Some(exec.clone()), destroy: Some(exec) }],
        releasers: Vec::new(),
    }
}
