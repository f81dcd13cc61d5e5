//! What the runner builds from a block the provider validated never panics: arbitrary
//! configurations shaped like each platform block (app_spec's `arbitrary`), validated as the
//! provider does, read as the runner does, then turned into engine and API requests.

use super::aws_lambda::Desired;
use super::docker_deploy::{container_spec, health};
use app_spec::arbitrary::{block_json, is_complete};
use app_spec::aws_lambda::{LambdaConfig, LambdaReleaseConfig};
use app_spec::docker_deploy::{DockerDeployConfig, DockerReleaseConfig};
use app_spec::job::DeploymentRequest;
use app_spec::Block;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value as Json;

/// Runs `build` on every complete configuration of `T` that validation accepts.
fn for_accepted<T: Block>(build: impl Fn(T) -> Result<(), TestCaseError>) {
    let spec = T::spec();
    let mut runner = TestRunner::new(Config { cases: 512, failure_persistence: None, ..Config::default() });
    runner
        .run(&block_json(&spec), |json: Json| {
            if !is_complete(&spec, &json) || !T::validate(&json).is_empty() {
                return Ok(());
            }
            let config = T::parse(&json).map_err(|e| TestCaseError::fail(format!("accepted but unreadable: {e}: {json}")))?;
            build(config)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

fn request() -> DeploymentRequest {
    DeploymentRequest { name: "web".into(), generation: 3, ..Default::default() }
}

#[test]
fn docker_requests_build_from_any_accepted_block() {
    for_accepted::<DockerDeployConfig>(|config| {
        // Accepted durations and ports make a health check; accepted limits make a container.
        health(&config).map_err(|e| TestCaseError::fail(format!("health check of an accepted block failed: {e}")))?;
        container_spec(&request(), &config, "sha256:00", "net")
            .map_err(|e| TestCaseError::fail(format!("container of an accepted block failed: {e}")))?;
        Ok(())
    });
    for_accepted::<DockerReleaseConfig>(|config| {
        if config.port == 0 {
            return Err(TestCaseError::fail("port 0 accepted"));
        }
        Ok(())
    });
}

#[test]
fn lambda_requests_build_from_any_accepted_block() {
    for_accepted::<LambdaConfig>(|config| {
        let _ = Desired::new(&request(), &config);
        Ok(())
    });
    for_accepted::<LambdaReleaseConfig>(|config| {
        if config.traffic.is_some_and(|t| !(1..=100).contains(&t.weight)) {
            return Err(TestCaseError::fail("a weight outside 1..=100 accepted"));
        }
        Ok(())
    });
}
