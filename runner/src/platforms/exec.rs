//! The `exec` platform: runs the user's own commands and tracks what they created.
//! Semantics are those documented in `app_spec::exec`.

use crate::context::JobContext;
use crate::platform::{to_json, Deployment, Destroyer, Outcome, Platform, PlatformError, Status};
use crate::process::{self, display_argv, CommandSpec, Finished, ProcessError};
use app_spec::exec::{ExecConfig, ExecRecord, ENV_GENERATION, ENV_IMAGE, ENV_NAME, ENV_OUTPUTS};
use app_spec::job::{status, DeploymentRecord, DeploymentRequest};
use async_trait::async_trait;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How much of a non-JSON `read` output an error quotes.
const QUOTE_CHARS: usize = 200;

pub struct Exec;

type Outputs = BTreeMap<String, String>;

fn config(request: &DeploymentRequest) -> Result<ExecConfig, PlatformError> {
    if request.config.is_null() {
        return Err(PlatformError::InvalidRequest("the deployment request has no exec configuration".into()));
    }
    serde_json::from_value(request.config.clone())
        .map_err(|e| PlatformError::InvalidRequest(format!("the exec configuration is not valid: {e}")))
}

/// What the previous run recorded; a record this version cannot read counts as empty, with
/// the outputs taken from `computed.outputs` if they are there.
fn prior_exec(prior: Option<&DeploymentRecord>) -> ExecRecord {
    let Some(prior) = prior else { return ExecRecord::default() };
    if let Ok(record) = serde_json::from_value::<ExecRecord>(prior.record.clone()) {
        if !prior.record.is_null() {
            return record;
        }
    }
    let outputs = prior.computed.get("outputs").and_then(|o| serde_json::from_value::<Outputs>(o.clone()).ok()).unwrap_or_default();
    ExecRecord { outputs, observed: None }
}

fn make_record(request: &DeploymentRequest, status: &str, url: Option<String>, outputs: &Outputs, observed: Option<Json>) -> DeploymentRecord {
    let mut computed = serde_json::Map::new();
    computed.insert("outputs".into(), Json::Object(outputs.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect()));
    let record = ExecRecord { outputs: outputs.clone(), observed };
    DeploymentRecord {
        generation: request.generation,
        status: status.into(),
        url,
        computed,
        record: serde_json::to_value(record).unwrap_or(Json::Null),
    }
}

/// The record after a failed create/update: nothing new is known, so it keeps what existed.
fn failed_record(request: &DeploymentRequest, prior: Option<&DeploymentRecord>, prior_exec: &ExecRecord) -> DeploymentRecord {
    make_record(request, status::FAILED, prior.and_then(|p| p.url.clone()), &prior_exec.outputs, prior_exec.observed.clone())
}

fn env_for(request: &DeploymentRequest, config: &ExecConfig, outputs: &Outputs) -> BTreeMap<String, String> {
    let mut env = request.env.clone();
    if let Some(extra) = &config.env {
        env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    env.extend(request.secret_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.insert(ENV_NAME.into(), request.name.clone());
    env.insert(ENV_GENERATION.into(), request.generation.to_string());
    if let Some(image) = &request.image {
        env.insert(ENV_IMAGE.into(), image.clone());
    }
    env.insert(ENV_OUTPUTS.into(), serde_json::to_string(outputs).unwrap_or_else(|_| "{}".into()));
    env
}

/// Why a command did not give a usable result.
enum StepFailure {
    Failed { message: String, detail: String },
    Cancelled,
}

impl StepFailure {
    fn into_error(self, result_json: String) -> PlatformError {
        match self {
            Self::Failed { message, detail } => PlatformError::Failed { message, detail, result_json },
            Self::Cancelled => PlatformError::Cancelled { result_json },
        }
    }
}

/// Runs one of the block's commands; `Ok` only when it exits 0.
async fn run_ok(
    ctx: &JobContext,
    which: &str,
    argv: &[String],
    config: &ExecConfig,
    env: BTreeMap<String, String>,
) -> Result<Finished, StepFailure> {
    if ctx.is_cancelled() {
        return Err(StepFailure::Cancelled);
    }
    let shown = ctx.mask(&display_argv(argv));
    ctx.progress(which, -1).await;
    ctx.info(format!("running `{which}`: {shown}")).await;
    let spec = CommandSpec { argv: argv.to_vec(), dir: config.dir.as_ref().map(PathBuf::from), env };
    match process::run(ctx, &spec).await {
        Ok(finished) if finished.success() => Ok(finished),
        Ok(finished) => Err(StepFailure::Failed {
            message: format!("`{shown}` {}", finished.describe_status()),
            detail: finished.tail_text(),
        }),
        Err(ProcessError::Cancelled { .. }) => Err(StepFailure::Cancelled),
        Err(e) => Err(StepFailure::Failed { message: ctx.mask(&format!("could not run the `{which}` command: {e}")), detail: e.tail_text() }),
    }
}

/// A JSON object whose values are all strings.
fn parse_outputs(finished: &Finished) -> Option<Outputs> {
    if finished.stdout_truncated {
        return None;
    }
    match serde_json::from_str::<Json>(finished.stdout_text().trim()).ok()? {
        Json::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Json::String(s) => Some((k, s)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// What `read` printed: `None` for empty output or `null` (gone).
fn parse_read(ctx: &JobContext, argv: &[String], finished: &Finished) -> Result<Option<Json>, StepFailure> {
    let text = finished.stdout_text();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = if finished.stdout_truncated { None } else { serde_json::from_str::<Json>(text).ok() };
    match parsed {
        Some(Json::Null) => Ok(None),
        Some(value) => Ok(Some(value)),
        None => {
            let quoted: String = text.chars().take(QUOTE_CHARS).collect();
            Err(StepFailure::Failed {
                message: ctx.mask(&format!(
                    "`{}` printed something that is not JSON: {quoted}",
                    display_argv(argv)
                )),
                detail: finished.tail_text(),
            })
        }
    }
}

fn short(value: &Json) -> String {
    let text = value.to_string();
    if text.chars().count() > QUOTE_CHARS {
        format!("{}…", text.chars().take(QUOTE_CHARS).collect::<String>())
    } else {
        text
    }
}

/// Says what differs between the output recorded at the last apply and the current one.
pub fn describe_drift(recorded: Option<&Json>, current: &Json) -> String {
    match (recorded, current) {
        (Some(Json::Object(old)), Json::Object(new)) => {
            let changed: Vec<&str> =
                old.iter().filter(|(k, v)| new.get(*k).is_some_and(|n| n != *v)).map(|(k, _)| k.as_str()).collect();
            let added: Vec<&str> = new.keys().filter(|k| !old.contains_key(*k)).map(String::as_str).collect();
            let removed: Vec<&str> = old.keys().filter(|k| !new.contains_key(*k)).map(String::as_str).collect();
            let mut parts = Vec::new();
            if !changed.is_empty() {
                parts.push(format!("changed: {}", changed.join(", ")));
            }
            if !added.is_empty() {
                parts.push(format!("new: {}", added.join(", ")));
            }
            if !removed.is_empty() {
                parts.push(format!("missing: {}", removed.join(", ")));
            }
            format!("the `read` output differs from the one recorded at the last apply ({})", parts.join("; "))
        }
        (None, _) => format!("`read` printed {} but nothing was recorded at the last apply", short(current)),
        (Some(old), _) => format!(
            "the `read` output differs from the one recorded at the last apply: was {}, now {}",
            short(old),
            short(current)
        ),
    }
}

#[async_trait]
impl Platform for Exec {
    async fn deploy(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let config = config(request)?;
        let prior_exec = prior_exec(prior);
        let (which, argv) = match (prior, &config.update) {
            (Some(_), Some(update)) => ("update", update),
            _ => ("create", &config.create),
        };
        let failed_json = to_json(&failed_record(request, prior, &prior_exec))?;
        let finished = run_ok(ctx, which, argv, &config, env_for(request, &config, &prior_exec.outputs))
            .await
            .map_err(|f| f.into_error(failed_json.clone()))?;
        let outputs = match parse_outputs(&finished) {
            Some(outputs) => outputs,
            None if prior.is_some() => prior_exec.outputs.clone(),
            None => Outputs::new(),
        };
        let url = outputs.get("url").cloned();

        let mut observed = None;
        if let Some(read) = &config.read {
            // The command ran: from here on the record carries the new outputs.
            let after_json = to_json(&make_record(request, status::FAILED, url.clone(), &outputs, prior_exec.observed.clone()))?;
            let finished = run_ok(ctx, "read", read, &config, env_for(request, &config, &outputs))
                .await
                .map_err(|f| f.into_error(after_json.clone()))?;
            match parse_read(ctx, read, &finished).map_err(|f| f.into_error(after_json.clone()))? {
                Some(value) => observed = Some(value),
                None => {
                    return Err(PlatformError::failed(
                        format!(
                            "`{}` printed nothing (or null) right after `{which}` succeeded, which means the deployment does not exist; make `read` print the deployment's state as JSON",
                            ctx.mask(&display_argv(read))
                        ),
                        finished.tail_text(),
                        after_json,
                    ))
                }
            }
        }
        ctx.progress(which, 100).await;
        Outcome::record(&make_record(request, status::READY, url, &outputs, observed))
    }
}

#[async_trait]
impl Status<Deployment> for Exec {
    async fn status(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let config = config(request)?;
        let Some(read) = &config.read else {
            return match prior {
                Some(prior) => Outcome::record(prior),
                None => Outcome::record(&make_record(request, status::READY, None, &Outputs::new(), None)),
            };
        };
        let prior_exec = prior_exec(prior);
        let keep_json = match prior {
            Some(prior) => to_json(prior)?,
            None => String::new(),
        };
        let finished = run_ok(ctx, "read", read, &config, env_for(request, &config, &prior_exec.outputs))
            .await
            .map_err(|f| f.into_error(keep_json.clone()))?;
        let Some(current) = parse_read(ctx, read, &finished).map_err(|f| f.into_error(keep_json.clone()))? else {
            ctx.info("`read` printed nothing (or null): the deployment is gone").await;
            return Ok(Outcome::gone());
        };
        let Some(prior) = prior else {
            // Nothing recorded yet (e.g. just imported): what `read` sees is the reference.
            return Outcome::record(&make_record(request, status::READY, None, &Outputs::new(), Some(current)));
        };
        if prior_exec.observed.as_ref() == Some(&current) {
            let mut record = prior.clone();
            if record.status == status::DRIFTED {
                record.status = status::READY.into();
            }
            return Outcome::record(&record);
        }
        let detail = describe_drift(prior_exec.observed.as_ref(), &current);
        ctx.info(&detail).await;
        let mut record = prior.clone();
        record.status = status::DRIFTED.into();
        Ok(Outcome::record(&record)?.with_detail(detail))
    }
}

#[async_trait]
impl Destroyer<Deployment> for Exec {
    async fn destroy(
        &self,
        ctx: &JobContext,
        request: &DeploymentRequest,
        prior: Option<&DeploymentRecord>,
    ) -> Result<Outcome, PlatformError> {
        let config = config(request)?;
        let Some(argv) = &config.destroy else {
            ctx.warn("no `destroy` command is set, so nothing was run: whatever `create` made is left as it is").await;
            return Ok(Outcome::nothing());
        };
        let prior_exec = prior_exec(prior);
        let keep_json = match prior {
            Some(prior) => to_json(prior)?,
            None => String::new(),
        };
        run_ok(ctx, "destroy", argv, &config, env_for(request, &config, &prior_exec.outputs))
            .await
            .map_err(|f| f.into_error(keep_json))?;
        Ok(Outcome::nothing())
    }
}
