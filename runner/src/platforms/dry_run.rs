//! The requests a platform block leads to, built without sending them: what the property tests
//! and the fuzz target (`runner/fuzz`) feed arbitrary blocks through. Every platform with request
//! building of its own (arithmetic, parsing of what users write) is listed here.

use super::aws_lambda::Desired;
use super::docker_deploy::{container_spec, health, Reach};
use app_spec::aws_lambda::{LambdaConfig, LambdaReleaseConfig};
use app_spec::docker_deploy::{DockerDeployConfig, DockerReleaseConfig};
use app_spec::exec::ExecConfig;
use app_spec::job::DeploymentRequest;
use app_spec::Block;
use serde_json::Value as Json;

fn request() -> DeploymentRequest {
    DeploymentRequest { name: "web".into(), generation: 3, ..Default::default() }
}

fn read<T: Block>(json: &Json) -> Result<T, String> {
    T::parse(json).map_err(|e| format!("the runner cannot read the block: {e}"))
}

/// Builds the requests of the block at `place` (`app_deployment.docker`, … as
/// `app_spec::catalog::every_block` names them) from its JSON. `Err` says what failed.
pub fn requests(place: &str, json: &Json) -> Result<(), String> {
    match place {
        "app_deployment.docker" => {
            let config: DockerDeployConfig = read(json)?;
            health(&config).map_err(|e| format!("health check: {e}"))?;
            container_spec(&request(), &config, "sha256:00", "net", "owner", &Reach::remote(None))
                .map_err(|e| format!("container: {e}"))?;
        }
        "app_release.docker" => {
            let config: DockerReleaseConfig = read(json)?;
            if config.port == 0 {
                return Err("port 0".into());
            }
        }
        "app_deployment.aws_lambda" => {
            let config: LambdaConfig = read(json)?;
            let _ = Desired::new(&request(), &config);
        }
        "app_release.aws_lambda" => {
            let config: LambdaReleaseConfig = read(json)?;
            if config.traffic.is_some_and(|t| !(1..=100).contains(&t.weight)) {
                return Err("a weight outside 1..=100".into());
            }
        }
        "app_deployment.exec" => {
            let _: ExecConfig = read(json)?;
        }
        _ => {
            let spec =
                app_spec::catalog::every_block().into_iter().find(|b| b.place == place).ok_or_else(|| format!("no block {place}"))?;
            (spec.parse)(json)?;
        }
    }
    Ok(())
}
