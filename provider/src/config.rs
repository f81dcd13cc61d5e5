//! The provider block: where jobs run and with what environment. Its `docker` and `aws` blocks are
//! declared in `app-spec` (`EngineSettings`, `AwsSettings`) and reach every job as they are.

use crate::framework::schema::{Attribute, Block, Nesting, Schema};
use crate::framework::{AttrPath, Diagnostics};
use crate::resources::{field_errors, spec_block, to_json, validate_env_keys};
use crate::runner::RunnerSettings;
use app_cty::Value;
use app_spec::job::{AwsSettings, EngineSettings};
use app_spec::Block as _;
use std::path::PathBuf;

pub fn schema() -> Schema {
    Schema {
        version: 0,
        block: Block::new(
            "Builds, deploys and releases applications. Every operation runs as a job in `app-runner`, \
started on demand on the machine that runs Terraform.",
        )
        .attr(
            Attribute::string("runner_path")
                .optional()
                .describe("Path of the `app-runner` binary. Default: next to the provider binary, then `PATH`."),
        )
        .attr(Attribute::string_map("runner_env").optional().describe(
            "Environment variables for the on-demand runner and every command it runs, e.g. \
`HTTPS_PROXY` and `NO_PROXY` (a runner profile).",
        ))
        .block("docker", Nesting::Single, spec_block(&EngineSettings::spec()))
        .block("aws", Nesting::Single, spec_block(&AwsSettings::spec())),
    }
}

/// A settings block as the runner receives it; unset (or not yet known) → the defaults.
fn settings_block<T: app_spec::Block + Default>(config: &Value, name: &str) -> T {
    match config.attr(name).filter(|b| !b.is_null()) {
        Some(block) => T::parse(&to_json(block)).unwrap_or_default(),
        None => T::default(),
    }
}

/// The `aws` block as the runner receives it.
pub fn aws(config: &Value) -> AwsSettings {
    settings_block(config, "aws")
}

/// The `docker` block as the runner receives it.
pub fn engine(config: &Value) -> EngineSettings {
    settings_block(config, "docker")
}

pub fn validate(config: &Value, diags: &mut Diagnostics) {
    if let Some(path) = config.attr("runner_path").and_then(Value::as_str) {
        if path.trim().is_empty() {
            diags.error_at(
                AttrPath::attr("runner_path"),
                "Empty runner path",
                "Leave `runner_path` unset to use the app-runner next to the provider.",
            );
        }
    }
    for (name, validate) in [("docker", EngineSettings::validate as fn(&_) -> _), ("aws", AwsSettings::validate)] {
        if let Some(block) = config.attr(name).filter(|b| !b.is_null()) {
            field_errors(Some(name), validate(&to_json(block)), diags);
        }
    }
    validate_env_keys(config, "runner_env", diags);
}

pub fn settings(config: &Value) -> RunnerSettings {
    let path = config.attr("runner_path").and_then(Value::as_str).map(PathBuf::from);
    let env = config
        .attr("runner_env")
        .and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default();
    RunnerSettings { path, env }
}
