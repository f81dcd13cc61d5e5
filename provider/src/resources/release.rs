//! `app_release`: routes traffic to a generation of a deployment.
//!
//! `deployment` is an `app_deployment` ID (`<name>/<generation>`), so the release plans a change
//! whenever the deployment moves to a new generation and is applied after it (Terraform orders
//! them by the reference). `generation` pins an older kept generation: rollback by changing one
//! number.

use super::deployment::parse_deployment_id;
use super::{
    chosen_platform, job_failure, runner_failure, str_attr, string_map, to_json, validate_name, validate_platform, with_platform_blocks,
};
use crate::framework::plan::{set_attr, unknowns_to_null, Planned};
use crate::framework::resource::PlanRequest;
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{timeouts, ApplyResult, AttrPath, Ctx, Diagnostics, ReadResult, Resource};
use crate::runner::Finished;
use app_cty::{Number, Value};
use app_proto::runner::job_result::Outcome;
use app_proto::runner::{JobRequest, Operation, Role as JobRole};
use app_spec::catalog::{PlatformSpec, Role};
use app_spec::job::{status, ReleaseRecord, ReleaseRequest};
use std::time::Duration;

pub const TYPE: &str = "app_release";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

pub struct AppRelease;

fn number(n: u64) -> Value {
    Value::Number(Number::from_u64(n))
}

fn u64_attr(v: &Value, name: &str) -> Option<u64> {
    v.attr(name).and_then(Value::as_number).and_then(Number::as_u64)
}

/// The generation a release routes to: the pinned one, else the deployment's.
fn target_generation(state: &Value) -> Option<u64> {
    u64_attr(state, "generation").or_else(|| str_attr(state, "deployment").and_then(|d| parse_deployment_id(&d).1))
}

fn parse_record(finished: &Finished) -> Option<ReleaseRecord> {
    (!finished.result_json.trim().is_empty()).then(|| serde_json::from_str(&finished.result_json).ok()).flatten()
}

fn apply_record(state: &mut Value, record: &ReleaseRecord) {
    set_attr(state, "released_generation", number(record.released_generation));
    set_attr(state, "url", record.url.clone().map(Value::String).unwrap_or(Value::Null));
    set_attr(state, "status", Value::string(record.status.clone()));
}

impl AppRelease {
    fn request(&self, ctx: &Ctx, state: &Value, platform: &PlatformSpec, generation: u64) -> ReleaseRequest {
        let deployment = str_attr(state, "deployment").unwrap_or_default();
        ReleaseRequest {
            name: str_attr(state, "name").unwrap_or_default(),
            deployment: parse_deployment_id(&deployment).0.to_string(),
            generation,
            labels: string_map(state.attr("labels")),
            config: to_json(state.attr(platform.name).unwrap_or(&Value::Null)),
            engine: ctx.engine.clone(),
            aws: ctx.aws.clone(),
        }
    }

    fn job(
        &self,
        operation: Operation,
        platform: &PlatformSpec,
        request: &ReleaseRequest,
        prior: &[u8],
        timeout: Option<Duration>,
    ) -> JobRequest {
        JobRequest {
            job_id: String::new(),
            operation: operation as i32,
            role: JobRole::Releaser as i32,
            platform: platform.name.to_string(),
            request_json: serde_json::to_string(request).unwrap_or_default(),
            prior_json: String::from_utf8_lossy(prior).into_owned(),
            timeout_ms: timeout.map(|d| d.as_millis() as u64).unwrap_or(0),
            source_id: String::new(),
        }
    }

    /// Create and update: one release job.
    async fn release(
        &self,
        ctx: &Ctx,
        what: &str,
        planned: &Value,
        prior_record: &[u8],
    ) -> Result<(Value, Vec<u8>), (Diagnostics, Vec<u8>)> {
        let mut diags = Diagnostics::new();
        let name = str_attr(planned, "name").unwrap_or_default();
        let Some(platform) = chosen_platform(planned, Role::Releaser) else {
            diags.error("Missing releaser block", "No supported releaser block is set.");
            return Err((diags, prior_record.to_vec()));
        };
        let Some(generation) = target_generation(planned) else {
            diags.error_at(
                AttrPath::attr("deployment"),
                "No generation to release",
                "`deployment` must be an app_deployment ID (`<name>/<generation>`, e.g. `app_deployment.web.id`), or set `generation`.",
            );
            return Err((diags, prior_record.to_vec()));
        };
        let request = self.request(ctx, planned, &platform, generation);
        let timeout = timeouts::get(planned, what).unwrap_or(DEFAULT_TIMEOUT);
        let job = self.job(Operation::Release, &platform, &request, prior_record, Some(timeout));
        let mut stop = ctx.stop.clone();
        let finished = match ctx.runner.run(job, &mut stop).await {
            Ok(f) => f,
            Err(e) => {
                runner_failure(&mut diags, what, "release", &name, &e);
                return Err((diags, prior_record.to_vec()));
            }
        };
        match (finished.outcome, parse_record(&finished)) {
            (Outcome::Succeeded, Some(record)) => {
                let mut state = planned.clone();
                apply_record(&mut state, &record);
                Ok((unknowns_to_null(&state), finished.result_json.into_bytes()))
            }
            (_, record) => {
                job_failure(&mut diags, what, "release", &name, &finished);
                let private = record.and_then(|r| serde_json::to_vec(&r).ok()).unwrap_or_else(|| prior_record.to_vec());
                Err((diags, private))
            }
        }
    }
}

#[async_trait::async_trait]
impl Resource for AppRelease {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        let block = Block::new(
            "Routes traffic to a healthy generation of a deployment: the deployment's current one, or the pinned `generation` (rollback).",
        )
        .attr(Attribute::string("id").computed().describe("The release's name."))
        .attr(
            Attribute::string("deployment")
                .required()
                .describe("The deployment to release: `app_deployment.web.id` (`<name>/<generation>`)."),
        )
        .attr(Attribute::string("name").optional_computed().describe("Name of the release; default: the deployment's."))
        .attr(Attribute::string_map("labels").optional().describe("Labels applied to what the release creates."))
        .attr(
            Attribute::number("generation")
                .optional()
                .describe("Pin a kept generation (rollback: set it to an older one); default: the deployment's current generation."),
        )
        .attr(Attribute::string("url").computed().describe("The stable address of the release."))
        .attr(Attribute::number("released_generation").computed().describe("The generation traffic goes to."))
        .attr(Attribute::string("status").computed().describe("`ready`, or `failed` / `drifted` (the next apply releases again)."));
        Schema { version: 0, block: timeouts::add_to(with_platform_blocks(block, Role::Releaser), DEFAULT_TIMEOUT.as_secs() / 60) }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_name(config, "name", diags);
        if let Some(g) = config.attr("generation").and_then(Value::as_number) {
            if g.as_u64().is_none_or(|g| g == 0) {
                diags.error_at(
                    AttrPath::attr("generation"),
                    "Invalid generation",
                    format!("`generation` is {g}; generations are whole numbers from 1."),
                );
            }
        }
        if let Some(d) = config.attr("deployment").and_then(Value::as_str) {
            if !super::is_valid_name(parse_deployment_id(d).0) {
                diags.error_at(
                    AttrPath::attr("deployment"),
                    "Invalid deployment",
                    format!("{d:?} is not an app_deployment ID; use `app_deployment.<name>.id`."),
                );
            }
        }
        validate_platform(config, Role::Releaser, TYPE, diags);
    }

    async fn modify_plan(&self, _ctx: &Ctx, req: PlanRequest<'_>, planned: &mut Planned, _diags: &mut Diagnostics) {
        let changed = planned.changed;
        let state = &mut planned.state;
        if state.is_null() {
            return;
        }
        let deployment = req.config.attr("deployment").cloned().unwrap_or(Value::Null);
        let name = match req.config.attr("name").filter(|n| !n.is_null()) {
            Some(n) => n.clone(),
            None => match deployment.as_str() {
                Some(d) => Value::string(parse_deployment_id(d).0),
                None => Value::Unknown,
            },
        };
        set_attr(state, "name", name.clone());
        set_attr(state, "id", name);
        let target = if deployment.is_unknown() || req.config.attr("generation").is_some_and(Value::is_unknown) {
            Value::Unknown
        } else {
            target_generation(state).map(number).unwrap_or(Value::Unknown)
        };
        let prior_status = str_attr(req.prior, "status").unwrap_or_default();
        let moves =
            req.prior.is_null() || changed || prior_status != status::READY || req.prior.attr("released_generation") != Some(&target);
        set_attr(state, "released_generation", target);
        if moves {
            set_attr(state, "status", Value::Unknown);
            // The URL stays unless the releaser block changes: what refers to it does not move.
            let block_changed = chosen_platform(state, Role::Releaser).is_none_or(|p| req.prior.attr(p.name) != state.attr(p.name));
            // A drifted or failed release may get a new address (e.g. a function URL created again).
            let same_address = !req.prior.is_null() && !block_changed && prior_status == status::READY;
            let url = if same_address { req.prior.attr("url").cloned().unwrap_or(Value::Unknown) } else { Value::Unknown };
            set_attr(state, "url", url);
        }
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, _config: &Value) -> ApplyResult {
        match self.release(ctx, "create", planned, &[]).await {
            Ok((state, private)) => ApplyResult { state, private, diags: Diagnostics::new() },
            Err((diags, private)) if private.is_empty() => ApplyResult { state: Value::Null, private, diags },
            Err((diags, private)) => {
                // Something was created (a router): keep it in state, marked failed.
                let mut state = planned.clone();
                set_attr(&mut state, "status", Value::string(status::FAILED));
                ApplyResult { state: unknowns_to_null(&state), private, diags }
            }
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &[u8]) -> ReadResult {
        let mut diags = Diagnostics::new();
        let name = str_attr(state, "name").unwrap_or_default();
        let Some(platform) = chosen_platform(state, Role::Releaser) else {
            return ReadResult { state: state.clone(), private: private.to_vec(), diags };
        };
        let generation = u64_attr(state, "released_generation").or_else(|| target_generation(state)).unwrap_or(0);
        let request = self.request(ctx, state, &platform, generation);
        let job = self.job(Operation::Status, &platform, &request, private, timeouts::get(state, "read"));
        let mut stop = ctx.stop.clone();
        let finished = match ctx.runner.run(job, &mut stop).await {
            Ok(f) => f,
            Err(e) => {
                runner_failure(&mut diags, "read", "release", &name, &e);
                return ReadResult { state: state.clone(), private: private.to_vec(), diags };
            }
        };
        match (finished.outcome, parse_record(&finished)) {
            (Outcome::Gone, _) => ReadResult { state: Value::Null, private: Vec::new(), diags },
            (Outcome::Succeeded, Some(record)) => {
                if record.status == status::DRIFTED {
                    diags.warning(format!("Release {name:?} changed outside Terraform"), finished.detail.clone());
                }
                let mut new_state = state.clone();
                if let (true, Some(observed)) = (private.is_empty(), record.observed.as_ref()) {
                    // Just imported: the release as the releaser found it.
                    let deployment = super::deployment::deployment_id(&observed.deployment, record.released_generation);
                    set_attr(&mut new_state, "deployment", Value::String(deployment));
                    let block_type = super::platform_block(&platform).implied_type();
                    let block = serde_json::Value::Object(observed.config.clone()).to_string();
                    if let Ok(block) = app_cty::json::decode(block.as_bytes(), &block_type) {
                        set_attr(&mut new_state, platform.name, block);
                    }
                }
                apply_record(&mut new_state, &record);
                ReadResult { state: new_state, private: finished.result_json.into_bytes(), diags }
            }
            _ => {
                job_failure(&mut diags, "read", "release", &name, &finished);
                ReadResult { state: state.clone(), private: private.to_vec(), diags }
            }
        }
    }

    async fn update(&self, ctx: &Ctx, prior: &Value, planned: &Value, _config: &Value, private: &[u8]) -> ApplyResult {
        let same_releaser =
            chosen_platform(prior, Role::Releaser).map(|p| p.name) == chosen_platform(planned, Role::Releaser).map(|p| p.name);
        if !same_releaser && !private.is_empty() {
            let destroyed = self.delete(ctx, prior, private).await;
            if destroyed.diags.has_errors() {
                return destroyed;
            }
        }
        let prior_record = if same_releaser { private } else { &[] };
        match self.release(ctx, "update", planned, prior_record).await {
            Ok((state, private)) => ApplyResult { state, private, diags: Diagnostics::new() },
            Err((diags, new_private)) => {
                // Traffic stays where it was; the next plan proposes the release again.
                let mut state = prior.clone();
                set_attr(&mut state, "status", Value::string(status::FAILED));
                ApplyResult { state: unknowns_to_null(&state), private: new_private, diags }
            }
        }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, private: &[u8]) -> ApplyResult {
        let name = str_attr(prior, "name").unwrap_or_default();
        let Some(platform) = chosen_platform(prior, Role::Releaser) else {
            return ApplyResult { state: Value::Null, private: Vec::new(), diags: Diagnostics::new() };
        };
        let generation = u64_attr(prior, "released_generation").unwrap_or(0);
        let request = self.request(ctx, prior, &platform, generation);
        let timeout = timeouts::get(prior, "delete").unwrap_or(DEFAULT_TIMEOUT);
        let job = self.job(Operation::Destroy, &platform, &request, private, Some(timeout));
        let mut stop = ctx.stop.clone();
        super::destroyed(ctx.runner.run(job, &mut stop).await, "release", &name, prior, private)
    }

    fn import_syntax(&self) -> &'static str {
        "By the release's name when it equals the deployment's (`web`), or as `<release name>/<deployment ID>` \
(`web/web/2`); the releaser reads back its port, target and generation.\n\n```shell\nterraform import app_release.web web\n```"
    }

    /// `terraform import app_release.web <name>/<deployment ID>`, e.g. `web/web/2`, or just the
    /// release name when it equals the deployment's (`web`): the read then finds its router.
    async fn import(&self, _ctx: &Ctx, id: &str) -> ReadResult {
        let mut diags = Diagnostics::new();
        let id = id.trim();
        let (name, deployment) = match id.split_once('/') {
            Some((name, deployment)) => (name.to_string(), deployment.to_string()),
            None => (id.to_string(), id.to_string()),
        };
        let mut object = serde_json::json!({ "id": name, "name": name, "deployment": deployment });
        // The read needs a releaser block to ask; the Docker releaser finds its router by name.
        if let Some(p) = app_spec::catalog::ready(Role::Releaser).first() {
            object[p.name] = serde_json::json!({});
        }
        let mut probe = Diagnostics::new();
        let state = app_cty::json::decode(object.to_string().as_bytes(), &self.schema().value_type()).unwrap_or(Value::Null);
        validate_name(&state, "name", &mut probe);
        if state.is_null() || probe.has_errors() {
            diags.error(
                "Invalid import ID",
                format!("{id:?} is not `<release name>` or `<release name>/<deployment ID>` (e.g. `web/web/2`)."),
            );
            return ReadResult { state: Value::Null, private: Vec::new(), diags };
        }
        ReadResult { state, private: Vec::new(), diags }
    }
}
