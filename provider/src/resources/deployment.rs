//! `app_deployment`: runs a generation of the app on one platform. Each change is a new
//! generation; the platform's own record travels in private state.

use super::{
    chosen_platform, job_failure, json_to_value, runner_failure, str_attr, string_map, to_json, validate_env_keys, validate_name,
    validate_platform, with_platform_blocks,
};
use crate::framework::plan::{attr_mut, set_attr, unknowns_to_null, Planned};
use crate::framework::resource::PlanRequest;
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{timeouts, ApplyResult, AttrPath, Ctx, Diagnostics, ReadResult, Resource};
use crate::runner::Finished;
use app_cty::{Number, Value};
use app_proto::runner::job_result::Outcome;
use app_proto::runner::{JobRequest, Operation, Role as JobRole};
use app_spec::catalog::{PlatformSpec, Role};
use app_spec::job::{status, DeploymentRecord, DeploymentRequest};
use std::time::Duration;

pub const TYPE: &str = "app_deployment";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

pub struct AppDeployment;

fn number(n: u64) -> Value {
    Value::Number(Number::from_u64(n))
}

/// A deployment's ID names one generation: `web/3`.
pub fn deployment_id(name: &str, generation: u64) -> String {
    format!("{name}/{generation}")
}

/// The name and generation in a deployment ID (`web/3`); a bare name has no generation.
pub fn parse_deployment_id(id: &str) -> (&str, Option<u64>) {
    match id.rsplit_once('/') {
        Some((name, generation)) => match generation.parse() {
            Ok(g) => (name, Some(g)),
            Err(_) => (id, None),
        },
        None => (id, None),
    }
}

/// Keys of a JSON configuration (nested blocks included) that the schema lacks, named with their
/// path (`exec.bogus`); `None` when all are known or the text is not a JSON object.
fn unknown_keys(json: &str, block: &crate::framework::Block) -> Option<String> {
    fn walk(value: &serde_json::Value, block: &crate::framework::Block, at: &str, out: &mut Vec<String>) {
        let Some(map) = value.as_object() else { return };
        for (key, v) in map {
            if block.attribute(key).is_some() {
                continue;
            }
            match block.nested_block(key) {
                Some(nested) => walk(v, &nested.block, &format!("{at}{key}."), out),
                None => out.push(format!("`{at}{key}`")),
            }
        }
    }
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let mut unknown = Vec::new();
    walk(&value, block, "", &mut unknown);
    (!unknown.is_empty()).then(|| unknown.join(", "))
}

fn generation_of(state: &Value) -> u64 {
    state.attr("generation").and_then(Value::as_number).and_then(Number::as_u64).unwrap_or(0)
}

impl AppDeployment {
    fn request(&self, ctx: &Ctx, state: &Value, config: &Value, platform: &PlatformSpec, generation: u64) -> DeploymentRequest {
        DeploymentRequest {
            name: str_attr(state, "name").unwrap_or_default(),
            generation,
            image: str_attr(state, "image"),
            env: string_map(state.attr("env")),
            // Write-only: only the configuration carries it, never the plan or the state.
            secret_env: string_map(config.attr("secret_env")),
            compare_secret_env: false,
            labels: string_map(state.attr("labels")),
            config: to_json(state.attr(platform.name).unwrap_or(&Value::Null)),
            engine: ctx.engine.clone(),
            aws: ctx.aws.clone(),
            keep: state.attr("keep").and_then(Value::as_number).and_then(Number::as_u64).unwrap_or(1),
        }
    }

    fn job(
        &self,
        operation: Operation,
        platform: &PlatformSpec,
        request: &DeploymentRequest,
        prior: &[u8],
        timeout: Option<Duration>,
    ) -> JobRequest {
        JobRequest {
            job_id: String::new(),
            operation: operation as i32,
            role: JobRole::Platform as i32,
            platform: platform.name.to_string(),
            request_json: serde_json::to_string(request).unwrap_or_default(),
            prior_json: String::from_utf8_lossy(prior).into_owned(),
            timeout_ms: timeout.map(|d| d.as_millis() as u64).unwrap_or(0),
            source_id: String::new(),
        }
    }

    /// Copies a runner record into a state value.
    fn apply_record(&self, state: &mut Value, platform: &PlatformSpec, record: &DeploymentRecord) {
        set_attr(state, "generation", number(record.generation));
        if let Some(name) = str_attr(state, "name") {
            set_attr(state, "id", Value::string(deployment_id(&name, record.generation)));
        }
        set_attr(state, "status", Value::string(record.status.clone()));
        set_attr(state, "url", record.url.clone().map(Value::String).unwrap_or(Value::Null));
        if let Some(block) = attr_mut(state, platform.name) {
            let spec = (platform.spec)();
            for field in spec.fields.iter().filter(|f| f.presence == app_spec::Presence::Computed) {
                let value = record.computed.get(field.name).and_then(json_to_value).unwrap_or(Value::Null);
                set_attr(block, field.name, value);
            }
        }
    }

    /// Plan time, nothing else changed: whether the configured write-only `secret_env` differs from
    /// what the running app has (platforms that can tell; one status job that compares and reports
    /// only the names that differ).
    async fn secret_env_differs(&self, ctx: &Ctx, prior: &Value, config: &Value, private: &[u8], diags: &mut Diagnostics) -> bool {
        let (Some(platform), Some(secrets)) = (chosen_platform(prior, Role::Platform), config.attr("secret_env")) else { return false };
        if !platform.detects_secret_changes || secrets.is_null() || !secrets.is_wholly_known() || private.is_empty() {
            return false;
        }
        let name = str_attr(prior, "name").unwrap_or_default();
        let mut request = self.request(ctx, prior, config, &platform, generation_of(prior).max(1));
        request.compare_secret_env = true;
        let job = self.job(Operation::Status, &platform, &request, private, timeouts::get(prior, "read"));
        let mut stop = ctx.stop.clone();
        let differs = match ctx.runner.run(job, &mut stop).await {
            Ok(finished) => Self::parse_record(&finished).map(|r| r.secret_env_differs).unwrap_or_default(),
            Err(e) => {
                runner_failure(diags, "compare the secrets of", "deployment", &name, &e);
                return false;
            }
        };
        if !differs.is_empty() {
            diags.warning_at(
                AttrPath::attr("secret_env"),
                format!("Secrets of deployment {name:?} changed"),
                format!(
                    "The running app has other values for {}; the apply deploys a new generation with the configured ones.",
                    differs.join(", ")
                ),
            );
        }
        !differs.is_empty()
    }

    fn parse_record(finished: &Finished) -> Option<DeploymentRecord> {
        if finished.result_json.trim().is_empty() {
            return None;
        }
        serde_json::from_str(&finished.result_json).ok()
    }
}

#[async_trait::async_trait]
impl Resource for AppDeployment {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        let block = Block::new(
            "Runs a generation of the application on one platform. Every change creates generation N+1 (or \
upgrades in place where names are fixed); `keep` older generations stay for rollback.",
        )
        .attr(Attribute::string("id").computed().describe(
            "`<name>/<generation>`: changes with every generation, so an `app_release` that refers to it moves with the deployment.",
        ))
        .attr(
            Attribute::string("name")
                .required()
                .requires_replace()
                .describe("Name of the deployment; containers, Kubernetes objects, functions and groups are named after it."),
        )
        .attr(Attribute::string("image").optional().describe("Image to run, e.g. `app_build.web.image`."))
        .attr(Attribute::string_map("env").optional().describe("Environment variables of the application."))
        .attr(Attribute::string_map("secret_env").optional().sensitive().write_only().describe(
            "Secret environment variables: write-only (Terraform >= 1.11), never stored in plan or state. The `docker` and \
`aws_lambda` platforms compare them with the running app at plan time (values are never stored, only compared), so a \
rotated secret plans a new generation by itself; elsewhere change `secret_env_version`.",
        ))
        .attr(Attribute::number("secret_env_version").optional().describe(
            "Any number; changing it deploys a new generation with the current `secret_env` (rotation on platforms that cannot \
compare secrets with the running app, or to force a restart).",
        ))
        .attr(Attribute::string_map("labels").optional().describe("Labels (tags) applied to what the deployment creates."))
        .attr(Attribute::number("keep").default(number(1)).describe("How many older generations to keep for rollback."))
        .attr(Attribute::number("generation").computed().describe("The current generation: 1 on create, +1 on every change."))
        .attr(Attribute::string("url").computed().describe("This generation's own address, if the platform has one."))
        .attr(Attribute::string("status").computed().describe("`ready`, or `failed` / `drifted` (the next apply redeploys)."));
        let block = timeouts::add_to(with_platform_blocks(block, Role::Platform), DEFAULT_TIMEOUT.as_secs() / 60);
        Schema { version: 0, block }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_name(config, "name", diags);
        validate_env_keys(config, "env", diags);
        validate_env_keys(config, "secret_env", diags);
        if let Some(keep) = config.attr("keep").and_then(Value::as_number) {
            if keep.as_u64().is_none_or(|k| k > 100) {
                diags.error_at(
                    AttrPath::attr("keep"),
                    "Invalid keep",
                    format!("`keep` is {keep}; it must be a whole number from 0 to 100."),
                );
            }
        }
        if let Some(platform) = validate_platform(config, Role::Platform, TYPE, diags) {
            if let Some(rule) = platform.image_rule {
                match config.attr("image") {
                    Some(Value::String(image)) => {
                        if let Some(problem) = rule(image) {
                            diags.error_at(AttrPath::attr("image"), format!("Image not usable by {}", platform.name), problem);
                        }
                    }
                    Some(Value::Null) | None => diags.error_at(
                        AttrPath::attr("image"),
                        "Missing image",
                        format!("The {} platform runs an image: set `image`, e.g. `image = app_build.web.image`.", platform.name),
                    ),
                    _ => {}
                }
            }
        }
    }

    async fn modify_plan(&self, ctx: &Ctx, req: PlanRequest<'_>, planned: &mut Planned, diags: &mut Diagnostics) {
        if planned.state.is_null() {
            return;
        }
        let secrets_rotated = !req.prior.is_null()
            && !planned.changed
            && str_attr(req.prior, "status").as_deref() == Some(status::READY)
            && self.secret_env_differs(ctx, req.prior, req.config, req.prior_private, diags).await;
        let state = &mut planned.state;
        let name = req.config.attr("name").and_then(Value::as_str).map(str::to_string);
        let set_id = |state: &mut Value, generation: u64| {
            set_attr(state, "id", name.as_deref().map(|n| Value::string(deployment_id(n, generation))).unwrap_or(Value::Unknown));
        };
        if req.prior.is_null() {
            set_attr(state, "generation", number(1));
            set_id(state, 1);
            return;
        }
        let prior_status = str_attr(req.prior, "status").unwrap_or_default();
        let redeploy = planned.changed || prior_status != status::READY || secrets_rotated;
        if !redeploy {
            set_id(state, generation_of(req.prior));
            return;
        }
        // A failed or drifted deployment is deployed again even when the configuration is unchanged.
        set_attr(state, "generation", number(generation_of(req.prior) + 1));
        set_id(state, generation_of(req.prior) + 1);
        set_attr(state, "status", Value::Unknown);
        set_attr(state, "url", Value::Unknown);
        if let Some(platform) = chosen_platform(state, Role::Platform) {
            if let Some(block) = attr_mut(state, platform.name) {
                for field in (platform.spec)().fields.iter().filter(|f| f.presence == app_spec::Presence::Computed) {
                    set_attr(block, field.name, Value::Unknown);
                }
            }
        }
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, config: &Value) -> ApplyResult {
        let mut diags = Diagnostics::new();
        let name = str_attr(planned, "name").unwrap_or_default();
        let Some(platform) = chosen_platform(planned, Role::Platform) else {
            diags.error("Missing platform block", "No supported platform block is set.");
            return ApplyResult { state: Value::Null, private: Vec::new(), diags };
        };
        let request = self.request(ctx, planned, config, &platform, 1);
        let timeout = timeouts::get(planned, "create").unwrap_or(DEFAULT_TIMEOUT);
        let job = self.job(Operation::Deploy, &platform, &request, &[], Some(timeout));
        let mut stop = ctx.stop.clone();
        let finished = match ctx.runner.run(job, &mut stop).await {
            Ok(f) => f,
            Err(e) => {
                runner_failure(&mut diags, "create", "deployment", &name, &e);
                return ApplyResult { state: Value::Null, private: Vec::new(), diags };
            }
        };
        let mut state = planned.clone();
        match (finished.outcome, Self::parse_record(&finished)) {
            (Outcome::Succeeded, Some(record)) => {
                self.apply_record(&mut state, &platform, &record);
                ApplyResult { state, private: finished.result_json.into_bytes(), diags }
            }
            (_, record) => {
                job_failure(&mut diags, "create", "deployment", &name, &finished);
                // Keep what was created: a tainted resource is destroyed and created again.
                let record = record.unwrap_or(DeploymentRecord { generation: 1, status: status::FAILED.into(), ..Default::default() });
                self.apply_record(&mut state, &platform, &DeploymentRecord { status: status::FAILED.into(), ..record.clone() });
                let private = serde_json::to_vec(&record).unwrap_or_default();
                ApplyResult { state: unknowns_to_null(&state), private, diags }
            }
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &[u8]) -> ReadResult {
        let mut diags = Diagnostics::new();
        let name = str_attr(state, "name").unwrap_or_default();
        let Some(platform) = chosen_platform(state, Role::Platform) else {
            // Nothing we know how to inspect (e.g. imported by name only): keep as is.
            return ReadResult { state: state.clone(), private: private.to_vec(), diags };
        };
        let request = self.request(ctx, state, &Value::Null, &platform, generation_of(state).max(1));
        if !(platform.observes)(&request.config) {
            // Nothing to look at: the recorded state stands (and no runner starts during plan).
            return ReadResult { state: state.clone(), private: private.to_vec(), diags };
        }
        let timeout = timeouts::get(state, "read");
        let job = self.job(Operation::Status, &platform, &request, private, timeout);
        let mut stop = ctx.stop.clone();
        let finished = match ctx.runner.run(job, &mut stop).await {
            Ok(f) => f,
            Err(e) => {
                runner_failure(&mut diags, "read", "deployment", &name, &e);
                return ReadResult { state: state.clone(), private: private.to_vec(), diags };
            }
        };
        match (finished.outcome, Self::parse_record(&finished)) {
            (Outcome::Gone, _) => {
                tracing::info!(deployment = %name, "deployment is gone; Terraform will plan to create it");
                ReadResult { state: Value::Null, private: Vec::new(), diags }
            }
            (Outcome::Succeeded, Some(record)) => {
                let mut new_state = state.clone();
                if record.status == status::DRIFTED {
                    diags.warning(format!("Deployment {name:?} changed outside Terraform"), finished.detail.clone());
                }
                if let (true, Some(observed)) = (private.is_empty(), record.observed.as_ref()) {
                    // Just imported: the configuration as the platform found it.
                    set_attr(&mut new_state, "image", observed.image.clone().map(Value::String).unwrap_or(Value::Null));
                    let map = |m: &std::collections::BTreeMap<String, String>| {
                        if m.is_empty() {
                            Value::Null
                        } else {
                            Value::Map(m.iter().map(|(k, v)| (k.clone(), Value::string(v.clone()))).collect())
                        }
                    };
                    set_attr(&mut new_state, "env", map(&observed.env));
                    set_attr(&mut new_state, "labels", map(&observed.labels));
                    let block_type = super::platform_block(&platform).implied_type();
                    let block = serde_json::Value::Object(observed.config.clone()).to_string();
                    if let Ok(block) = app_cty::json::decode(block.as_bytes(), &block_type) {
                        set_attr(&mut new_state, platform.name, block);
                    }
                }
                self.apply_record(&mut new_state, &platform, &record);
                ReadResult { state: new_state, private: finished.result_json.into_bytes(), diags }
            }
            _ => {
                job_failure(&mut diags, "read", "deployment", &name, &finished);
                ReadResult { state: state.clone(), private: private.to_vec(), diags }
            }
        }
    }

    async fn update(&self, ctx: &Ctx, prior: &Value, planned: &Value, config: &Value, private: &[u8]) -> ApplyResult {
        let mut diags = Diagnostics::new();
        let name = str_attr(planned, "name").unwrap_or_default();
        let Some(platform) = chosen_platform(planned, Role::Platform) else {
            diags.error("Missing platform block", "No supported platform block is set.");
            return ApplyResult { state: prior.clone(), private: private.to_vec(), diags };
        };
        let generation = generation_of(planned).max(generation_of(prior) + 1);
        let request = self.request(ctx, planned, config, &platform, generation);
        // A platform switch starts from nothing on the new platform; the old one is destroyed first.
        let prior_record = if chosen_platform(prior, Role::Platform).map(|p| p.name) == Some(platform.name) { private } else { &[] };
        if prior_record.is_empty() && !private.is_empty() {
            let destroyed = self.delete(ctx, prior, private).await;
            if destroyed.diags.has_errors() {
                return destroyed;
            }
        }
        let timeout = timeouts::get(planned, "update").unwrap_or(DEFAULT_TIMEOUT);
        let job = self.job(Operation::Deploy, &platform, &request, prior_record, Some(timeout));
        let mut stop = ctx.stop.clone();
        let finished = match ctx.runner.run(job, &mut stop).await {
            Ok(f) => f,
            Err(e) => {
                runner_failure(&mut diags, "update", "deployment", &name, &e);
                return ApplyResult { state: prior.clone(), private: private.to_vec(), diags };
            }
        };
        match (finished.outcome, Self::parse_record(&finished)) {
            (Outcome::Succeeded, Some(record)) => {
                let mut state = planned.clone();
                self.apply_record(&mut state, &platform, &record);
                ApplyResult { state, private: finished.result_json.into_bytes(), diags }
            }
            (_, record) => {
                job_failure(&mut diags, "update", "deployment", &name, &finished);
                // The prior values stay, marked failed, so the next plan proposes the change again.
                let mut state = prior.clone();
                set_attr(&mut state, "status", Value::string(status::FAILED));
                let private = record.and_then(|r| serde_json::to_vec(&r).ok()).unwrap_or_else(|| private.to_vec());
                ApplyResult { state: unknowns_to_null(&state), private, diags }
            }
        }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, private: &[u8]) -> ApplyResult {
        let name = str_attr(prior, "name").unwrap_or_default();
        let Some(platform) = chosen_platform(prior, Role::Platform) else {
            return ApplyResult { state: Value::Null, private: Vec::new(), diags: Diagnostics::new() };
        };
        let request = self.request(ctx, prior, &Value::Null, &platform, generation_of(prior));
        let timeout = timeouts::get(prior, "delete").unwrap_or(DEFAULT_TIMEOUT);
        let job = self.job(Operation::Destroy, &platform, &request, private, Some(timeout));
        let mut stop = ctx.stop.clone();
        super::destroyed(ctx.runner.run(job, &mut stop).await, "deployment", &name, prior, private)
    }

    fn import_syntax(&self) -> &'static str {
        "As `<platform>:<name>` (the newest running generation) or `<platform>:<name>/<generation>`; the platform reads back \
the configuration (`secret_env` excepted: it is write-only). Platforms that cannot be read back (`exec`) import from their \
configuration as JSON.\n\n```shell\nterraform import app_deployment.web docker:web\nterraform import app_deployment.api aws_lambda:api\n\
terraform import app_deployment.site '{\"name\":\"site\",\"exec\":{\"create\":[\"./deploy.sh\"]}}'\n```"
    }

    async fn import(&self, _ctx: &Ctx, id: &str) -> ReadResult {
        let mut diags = Diagnostics::new();
        let ty = self.schema().value_type();
        let trimmed = id.trim();
        let state = if trimmed.starts_with('{') {
            // Platforms that cannot be read back (exec) are imported from their configuration,
            // written as JSON: `jsonencode({ name = "web", exec = { create = [...] } })`.
            if let Some(unknown) = unknown_keys(trimmed, &self.schema().block) {
                diags.error(
                    "Invalid import ID",
                    format!("The import ID's JSON has {unknown}, which app_deployment does not have; remove it or fix its name."),
                );
                return ReadResult { state: Value::Null, private: Vec::new(), diags };
            }
            match app_cty::json::decode(trimmed.as_bytes(), &ty) {
                Ok(v) => v,
                Err(e) => {
                    diags.error(
                        "Invalid import ID",
                        format!("The import ID looks like JSON but does not match app_deployment's attributes: {e}."),
                    );
                    return ReadResult { state: Value::Null, private: Vec::new(), diags };
                }
            }
        } else {
            // `<platform>:<name>` (e.g. `aws_lambda:hello`): the read asks that platform for what exists.
            let (platform, rest) = match trimmed.split_once(':') {
                Some((p, rest)) if app_spec::catalog::ready(Role::Platform).iter().any(|r| r.name == p) => (Some(p), rest),
                _ => (None, trimmed),
            };
            let (name, generation) = parse_deployment_id(rest);
            let mut object = serde_json::json!({ "name": name, "generation": generation });
            if let Some(p) = platform {
                object[p] = serde_json::json!({});
            }
            let object = app_cty::json::decode(object.to_string().as_bytes(), &ty);
            match object {
                Ok(v) => v,
                Err(e) => {
                    diags.error("Invalid import ID", e.to_string());
                    return ReadResult { state: Value::Null, private: Vec::new(), diags };
                }
            }
        };
        let mut state = state;
        let mut probe = Diagnostics::new();
        validate_name(&state, "name", &mut probe);
        if str_attr(&state, "name").is_none() || probe.has_errors() {
            diags.error(
                "Invalid import ID",
                format!("{id:?} is not an import ID for app_deployment: use `<platform>:<name>` (e.g. `docker:web`, `aws_lambda:hello`), or for exec deployments jsonencode() of the configuration."),
            );
            return ReadResult { state: Value::Null, private: Vec::new(), diags };
        }
        if state.attr("keep").is_none_or(Value::is_null) {
            set_attr(&mut state, "keep", number(1));
        }
        if state.attr("generation").is_none_or(Value::is_null) {
            set_attr(&mut state, "generation", number(1));
        }
        let name = str_attr(&state, "name").unwrap_or_default();
        let id = deployment_id(&name, generation_of(&state));
        set_attr(&mut state, "id", Value::string(id));
        set_attr(&mut state, "status", Value::string(status::READY));
        set_attr(&mut state, "secret_env", Value::Null);
        ReadResult { state, private: Vec::new(), diags }
    }
}
