//! The provider block: where jobs run and with what environment.

use crate::framework::schema::{Attribute, Block, Nesting, Schema};
use crate::framework::{AttrPath, Diagnostics};
use crate::runner::RunnerSettings;
use app_cty::Value;
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
        .block(
            "docker",
            Nesting::Single,
            Block::new("How runners reach the Docker engine. Default: `DOCKER_HOST` (and `DOCKER_CERT_PATH`) where the runner runs, then the local socket.")
                .attr(Attribute::string("host").optional().describe("`unix:///var/run/docker.sock` or `tcp://host:2376`."))
                .attr(Attribute::string("cert_path").optional().describe(
                    "Directory with `ca.pem`, `cert.pem` and `key.pem` for a `tcp://` engine with TLS (as `DOCKER_CERT_PATH`).",
                )),
        )
        .block(
            "aws",
            Nesting::Single,
            Block::new("How runners reach AWS. Default: the AWS SDK's chain where the runner runs (environment, shared config and credentials files, SSO via `credential_process`, instance or task role). Credentials never appear in logs, state or diagnostics.")
                .attr(Attribute::string("region").optional().describe("Region, e.g. `us-east-1`; default: `AWS_REGION` / the profile's."))
                .attr(Attribute::string("profile").optional().describe("Shared config profile."))
                .attr(Attribute::string("endpoint_url").optional().describe("One endpoint for every AWS service (emulators such as moto or LocalStack)."))
                .block(
                    "assume_role",
                    Nesting::Single,
                    Block::new("Assume this role (STS AssumeRole) with the default credentials.")
                        .attr(Attribute::string("role_arn").required().describe("Role to assume."))
                        .attr(Attribute::string("session_name").optional().describe("Session name (default `terraform-provider-app`)."))
                        .attr(Attribute::string("external_id").optional().describe("External ID the role's trust policy requires.")),
                ),
        ),
    }
}

/// The `aws` block as the runner receives it.
pub fn aws(config: &Value) -> app_spec::job::AwsSettings {
    let aws = config.attr("aws").filter(|d| !d.is_null());
    let field = |v: Option<&Value>, name: &str| v.and_then(|d| d.attr(name)).and_then(Value::as_str).map(str::to_string);
    let assume = aws.and_then(|a| a.attr("assume_role")).filter(|r| !r.is_null());
    app_spec::job::AwsSettings {
        region: field(aws, "region"),
        profile: field(aws, "profile"),
        endpoint_url: field(aws, "endpoint_url"),
        assume_role: field(assume, "role_arn").map(|role_arn| app_spec::job::AssumeRole {
            role_arn,
            session_name: field(assume, "session_name"),
            external_id: field(assume, "external_id"),
        }),
    }
}

/// The `docker` block as the runner receives it.
pub fn engine(config: &Value) -> app_spec::job::EngineSettings {
    let docker = config.attr("docker").filter(|d| !d.is_null());
    let field = |name: &str| docker.and_then(|d| d.attr(name)).and_then(Value::as_str).map(str::to_string);
    app_spec::job::EngineSettings { host: field("host"), cert_path: field("cert_path") }
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
    if let Some(docker) = config.attr("docker").filter(|d| !d.is_null()) {
        if let Some(host) = docker.attr("host").and_then(Value::as_str) {
            let scheme_ok = ["unix://", "tcp://", "http://", "/"].iter().any(|p| host.starts_with(p));
            if !scheme_ok {
                diags.error_at(
                    AttrPath::attr("docker").then_attr("host"),
                    "Unsupported Docker host",
                    format!("{host:?} is not a Docker engine address; use `unix:///path/to/docker.sock` or `tcp://host:port`."),
                );
            }
        }
        if let Some(path) = docker.attr("cert_path").and_then(Value::as_str) {
            if path.trim().is_empty() {
                diags.error_at(
                    AttrPath::attr("docker").then_attr("cert_path"),
                    "Empty cert_path",
                    "Leave `cert_path` unset for an engine without TLS.",
                );
            }
        }
    }
    if let Some(aws) = config.attr("aws").filter(|d| !d.is_null()) {
        if let Some(url) = aws.attr("endpoint_url").and_then(Value::as_str) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                diags.error_at(
                    AttrPath::attr("aws").then_attr("endpoint_url"),
                    "Invalid endpoint URL",
                    format!("{url:?} must start with http:// or https://."),
                );
            }
        }
        if let Some(arn) = aws.attr("assume_role").and_then(|r| r.attr("role_arn")).and_then(Value::as_str) {
            if !arn.starts_with("arn:") || !arn.contains(":role/") {
                diags.error_at(
                    AttrPath::attr("aws").then_attr("assume_role").then_attr("role_arn"),
                    "Invalid role ARN",
                    format!("{arn:?} is not an IAM role ARN (`arn:aws:iam::<account>:role/<name>`)."),
                );
            }
        }
    }
    if let Some(env) = config.attr("runner_env").and_then(Value::as_map) {
        for key in env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                diags.error_at(
                    AttrPath::attr("runner_env").then_key(key),
                    "Invalid environment variable name",
                    format!("{key:?} cannot be an environment variable name."),
                );
            }
        }
    }
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
