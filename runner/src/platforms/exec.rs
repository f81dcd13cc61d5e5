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

/// The exec block of the request; also registers the request's secrets for masking.
fn config(ctx: &JobContext, request: &DeploymentRequest) -> Result<ExecConfig, PlatformError> {
    ctx.add_secrets(request.secret_env.values().cloned());
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

fn make_record(
    request: &DeploymentRequest,
    status: &str,
    url: Option<String>,
    outputs: &Outputs,
    observed: Option<Json>,
) -> DeploymentRecord {
    let mut computed = serde_json::Map::new();
    computed.insert("outputs".into(), Json::Object(outputs.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect()));
    let record = ExecRecord { outputs: outputs.clone(), observed };
    DeploymentRecord {
        generation: request.generation,
        status: status.into(),
        url,
        computed,
        record: serde_json::to_value(record).unwrap_or(Json::Null),
        ..Default::default()
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
    Failed {
        message: String,
        detail: String,
    },
    /// The job was cancelled (or its caller went away) while the command ran; `printed` is the
    /// outputs object it had printed by then, if any: what it reported creating.
    Cancelled {
        printed: Option<Outputs>,
    },
}

impl StepFailure {
    fn into_error(self, result_json: String) -> PlatformError {
        match self {
            Self::Failed { message, detail } => PlatformError::Failed { message, detail, result_json },
            Self::Cancelled { .. } => PlatformError::Cancelled { result_json },
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
        return Err(StepFailure::Cancelled { printed: None });
    }
    let shown = ctx.mask(&display_argv(argv));
    ctx.progress(which, -1).await;
    ctx.info(format!("running `{which}`: {shown}")).await;
    let spec = CommandSpec { argv: argv.to_vec(), dir: config.dir.as_ref().map(PathBuf::from), env };
    match process::run(ctx, &spec).await {
        Ok(finished) if finished.success() => Ok(finished),
        Ok(finished) => {
            Err(StepFailure::Failed { message: format!("`{shown}` {}", finished.describe_status()), detail: finished.tail_text() })
        }
        Err(ProcessError::Cancelled { stdout, stdout_truncated, .. }) => {
            Err(StepFailure::Cancelled { printed: parse_outputs(&stdout, stdout_truncated) })
        }
        Err(e) => {
            Err(StepFailure::Failed { message: ctx.mask(&format!("could not run the `{which}` command: {e}")), detail: e.tail_text() })
        }
    }
}

/// A JSON object whose values are all strings.
fn parse_outputs(stdout: &[u8], truncated: bool) -> Option<Outputs> {
    if truncated {
        return None;
    }
    match serde_json::from_str::<Json>(String::from_utf8_lossy(stdout).trim()).ok()? {
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
                message: ctx.mask(&format!("`{}` printed something that is not JSON: {quoted}", display_argv(argv))),
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
            let changed: Vec<&str> = old.iter().filter(|(k, v)| new.get(*k).is_some_and(|n| n != *v)).map(|(k, _)| k.as_str()).collect();
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
        (Some(old), _) => {
            format!("the `read` output differs from the one recorded at the last apply: was {}, now {}", short(old), short(current))
        }
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
        let config = config(ctx, request)?;
        let prior_exec = prior_exec(prior);
        // A generation above 1 updates an existing deployment, even one imported without a record.
        let existing = prior.is_some() || request.generation > 1;
        let (which, argv) = match (existing, &config.update) {
            (true, Some(update)) => ("update", update),
            _ => ("create", &config.create),
        };
        let finished = match run_ok(ctx, which, argv, &config, env_for(request, &config, &prior_exec.outputs)).await {
            Ok(finished) => finished,
            // Stopped after printing what it created: that is what exists now, not the prior record.
            Err(StepFailure::Cancelled { printed: Some(outputs) }) => {
                let record = make_record(request, status::FAILED, outputs.get("url").cloned(), &outputs, prior_exec.observed.clone());
                return Err(PlatformError::Cancelled { result_json: to_json(&record)? });
            }
            Err(failure) => return Err(failure.into_error(to_json(&failed_record(request, prior, &prior_exec))?)),
        };
        let outputs = match parse_outputs(&finished.stdout, finished.stdout_truncated) {
            Some(outputs) => outputs,
            None if existing => prior_exec.outputs.clone(),
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
        let config = config(ctx, request)?;
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
        let config = config(ctx, request)?;
        let Some(argv) = &config.destroy else {
            ctx.warn("no `destroy` command is set, so nothing was run: whatever `create` made is left as it is").await;
            return Ok(Outcome::nothing());
        };
        let prior_exec = prior_exec(prior);
        let keep_json = match prior {
            Some(prior) => to_json(prior)?,
            None => String::new(),
        };
        run_ok(ctx, "destroy", argv, &config, env_for(request, &config, &prior_exec.outputs)).await.map_err(|f| f.into_error(keep_json))?;
        Ok(Outcome::nothing())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::platform::OutcomeKind;
    use crate::testing::{context, temp_dir, Events};
    use serde_json::json;
    use std::time::Duration;

    fn request(config: Json) -> DeploymentRequest {
        DeploymentRequest {
            name: "web".into(),
            generation: 3,
            image: Some("img:1".into()),
            env: [("FROM_REQ".to_string(), "a".to_string())].into(),
            config,
            ..Default::default()
        }
    }

    fn sh(script: &str) -> Json {
        json!(["sh", "-c", script])
    }

    fn record(result: &str) -> DeploymentRecord {
        serde_json::from_str(result).unwrap()
    }

    fn exec_record(record: &DeploymentRecord) -> ExecRecord {
        serde_json::from_value(record.record.clone()).unwrap()
    }

    async fn settle(events: &Events) -> String {
        tokio::time::sleep(Duration::from_millis(50)).await;
        events.all_text()
    }

    #[tokio::test]
    async fn create_records_json_outputs_and_sees_the_environment() {
        let (ctx, events, _) = context();
        let mut req = request(json!({
            "create": sh(r#"echo "$APP_NAME $APP_GENERATION $APP_IMAGE $APP_OUTPUTS $FROM_REQ $FROM_CFG" >&2; echo '{"url":"http://x:1","id":"7"}'"#),
            "env": {"FROM_CFG": "b"},
            "outputs": null,
        }));
        req.secret_env.insert("TOKEN".into(), "zz-secret".into());
        let out = Exec.deploy(&ctx, &req, None).await.unwrap();
        assert_eq!(out.kind, OutcomeKind::Succeeded);
        let rec = record(&out.result_json);
        assert_eq!(rec.generation, 3);
        assert_eq!(rec.status, "ready");
        assert_eq!(rec.url.as_deref(), Some("http://x:1"));
        assert_eq!(rec.computed["outputs"], json!({"url": "http://x:1", "id": "7"}));
        assert_eq!(exec_record(&rec).outputs["id"], "7");
        assert_eq!(exec_record(&rec).observed, None);
        assert!(settle(&events).await.contains("[stderr] web 3 img:1 {} a b"), "{}", events.all_text());
    }

    #[tokio::test]
    async fn outputs_must_be_an_object_of_strings() {
        let (ctx, _, _) = context();
        for stdout in [r#"{"n": 1}"#, "hello", "[]", ""] {
            let req = request(json!({"create": ["printf", "%s", stdout]}));
            let rec = record(&Exec.deploy(&ctx, &req, None).await.unwrap().result_json);
            assert_eq!(rec.computed["outputs"], json!({}), "{stdout}");
            assert_eq!(rec.url, None);
        }
    }

    fn prior_record() -> DeploymentRecord {
        DeploymentRecord {
            generation: 2,
            status: "ready".into(),
            url: None,
            computed: [("outputs".to_string(), json!({"id": "1"}))].into_iter().collect(),
            record: json!({"outputs": {"id": "1"}, "observed": {"replicas": 1, "tag": "v1"}}),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn update_runs_update_with_prior_outputs_and_keeps_them_without_json() {
        let (ctx, events, _) = context();
        let req = request(json!({"create": sh("echo create"), "update": sh(r#"echo "update $APP_OUTPUTS""#)}));
        let prior = prior_record();
        let rec = record(&Exec.deploy(&ctx, &req, Some(&prior)).await.unwrap().result_json);
        assert_eq!(rec.generation, 3);
        assert_eq!(rec.computed["outputs"], json!({"id": "1"}));
        assert!(settle(&events).await.contains(r#"[stdout] update {"id":"1"}"#), "{}", events.all_text());

        // Without `update`, `create` runs again; new JSON outputs replace the old ones.
        let req = request(json!({"create": sh(r#"echo '{"id":"2"}'"#)}));
        let rec = record(&Exec.deploy(&ctx, &req, Some(&prior)).await.unwrap().result_json);
        assert_eq!(exec_record(&rec).outputs, [("id".to_string(), "2".to_string())].into());
    }

    #[tokio::test]
    async fn read_after_deploy_is_recorded_as_observed() {
        let (ctx, _, _) = context();
        let req = request(json!({
            "create": sh(r#"echo '{"id":"9"}'"#),
            "read": sh(r#"echo "{\"seen\": $APP_OUTPUTS}""#),
        }));
        let rec = record(&Exec.deploy(&ctx, &req, None).await.unwrap().result_json);
        assert_eq!(exec_record(&rec).observed, Some(json!({"seen": {"id": "9"}})));

        // A read that says "gone" right after create is a failure that keeps the new outputs.
        let req = request(json!({"create": sh(r#"echo '{"id":"9"}'"#), "read": sh("echo null")}));
        let err = Exec.deploy(&ctx, &req, None).await.unwrap_err();
        let PlatformError::Failed { message, result_json, .. } = err else { panic!("{err:?}") };
        assert!(message.contains("printed nothing (or null)"), "{message}");
        let rec = record(&result_json);
        assert_eq!(rec.status, "failed");
        assert_eq!(rec.computed["outputs"], json!({"id": "9"}));
    }

    #[tokio::test]
    async fn failed_create_reports_the_command_tail_and_keeps_prior_outputs() {
        let (ctx, _, _) = context();
        let req = request(json!({"create": sh("for i in $(seq 1 25); do echo err$i >&2; done; exit 4")}));
        let prior = prior_record();
        let err = Exec.deploy(&ctx, &req, Some(&prior)).await.unwrap_err();
        let PlatformError::Failed { message, detail, result_json } = err else { panic!("{err:?}") };
        assert!(message.starts_with("`sh -c 'for i in"), "{message}");
        assert!(message.ends_with("` exited with status 4"), "{message}");
        assert_eq!(detail.lines().count(), 20);
        assert!(detail.starts_with("err6\n") && detail.ends_with("err25"), "{detail}");
        let rec = record(&result_json);
        assert_eq!(rec.status, "failed");
        assert_eq!(rec.generation, 3);
        assert_eq!(rec.computed["outputs"], json!({"id": "1"}));
        assert_eq!(exec_record(&rec).observed, Some(json!({"replicas": 1, "tag": "v1"})));

        // Without a prior record, the failed record has no outputs.
        let err = Exec.deploy(&ctx, &req, None).await.unwrap_err();
        let PlatformError::Failed { result_json, .. } = err else { panic!("{err:?}") };
        assert_eq!(record(&result_json).computed["outputs"], json!({}));
    }

    #[tokio::test]
    async fn missing_program_fails_with_a_clear_message() {
        let (ctx, _, _) = context();
        let req = request(json!({"create": ["no-such-deployer-99"], "dir": "/tmp"}));
        let err = Exec.deploy(&ctx, &req, None).await.unwrap_err();
        let PlatformError::Failed { message, result_json, .. } = err else { panic!("{err:?}") };
        assert!(message.contains("could not run the `create` command"), "{message}");
        assert!(message.contains("`no-such-deployer-99` was not found in PATH"), "{message}");
        assert_eq!(record(&result_json).status, "failed");
    }

    #[tokio::test]
    async fn secrets_are_masked_everywhere_the_user_sees_text() {
        let (ctx, events, _) = context();
        let mut req = request(json!({"create": sh(r#"echo "token=$TOKEN"; echo "bad $TOKEN" >&2; exit 1"#)}));
        req.secret_env.insert("TOKEN".into(), "zz-very-secret".into());
        let err = Exec.deploy(&ctx, &req, None).await.unwrap_err();
        let PlatformError::Failed { detail, .. } = err else { panic!("{err:?}") };
        assert_eq!(detail, "bad ***");
        let text = settle(&events).await;
        assert!(text.contains("[stdout] token=***"), "{text}");
        assert!(!text.contains("zz-very-secret"), "{text}");
    }

    #[tokio::test]
    async fn cancelled_deploy_reports_cancelled_with_the_failed_record() {
        let (ctx, _, token) = context();
        let req = request(json!({"create": ["sleep", "30"]}));
        let prior = prior_record();
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            token.cancel(crate::context::CancelReason::Requested);
        };
        let (result, ()) = tokio::join!(Exec.deploy(&ctx, &req, Some(&prior)), cancel);
        let Err(PlatformError::Cancelled { result_json }) = result else { panic!("{result:?}") };
        let rec = record(&result_json);
        assert_eq!(rec.status, "failed");
        assert_eq!(rec.computed["outputs"], json!({"id": "1"}));
    }

    #[tokio::test]
    async fn cancelled_deploy_keeps_the_outputs_the_command_printed() {
        let (ctx, events, token) = context();
        let req = request(json!({"create": sh("echo '{\"id\": \"2\", \"url\": \"http://127.0.0.1:9\"}'; exec sleep 30")}));
        let cancel = async {
            while !events.texts("stdout").iter().any(|l| l.contains("\"2\"")) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            token.cancel(crate::context::CancelReason::ClientGone);
        };
        let prior = prior_record();
        let (result, ()) = tokio::join!(Exec.deploy(&ctx, &req, Some(&prior)), cancel);
        let Err(PlatformError::Cancelled { result_json }) = result else { panic!("{result:?}") };
        let rec = record(&result_json);
        assert_eq!((rec.status.as_str(), rec.generation), ("failed", 3));
        assert_eq!(rec.computed["outputs"], json!({"id": "2", "url": "http://127.0.0.1:9"}), "what it created, not the prior outputs");
        assert_eq!(rec.url.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[tokio::test]
    async fn status_without_read_returns_the_record_without_running_anything() {
        let (ctx, events, _) = context();
        let req = request(json!({"create": ["false"]}));
        let prior = prior_record();
        let out = Exec.status(&ctx, &req, Some(&prior)).await.unwrap();
        assert_eq!(out.kind, OutcomeKind::Succeeded);
        assert_eq!(record(&out.result_json), prior);

        let out = Exec.status(&ctx, &req, None).await.unwrap();
        let rec = record(&out.result_json);
        assert_eq!((rec.generation, rec.status.as_str()), (3, "ready"));
        assert_eq!(rec.computed["outputs"], json!({}));
        assert_eq!(settle(&events).await, "");
    }

    #[tokio::test]
    async fn status_with_read_detects_same_drifted_gone_and_bad_output() {
        let (ctx, _, _) = context();
        let prior = prior_record();
        let status_of = |script: &str| request(json!({"create": ["true"], "read": sh(script)}));

        // Same JSON, other formatting: in sync.
        let out = Exec.status(&ctx, &status_of(r#"echo '{"tag": "v1", "replicas": 1}'"#), Some(&prior)).await.unwrap();
        assert_eq!(out.kind, OutcomeKind::Succeeded);
        assert_eq!(record(&out.result_json), prior);
        assert_eq!(out.detail, "");

        // Different: drifted, naming the keys.
        let out = Exec.status(&ctx, &status_of(r#"echo '{"replicas": 3, "extra": true}'"#), Some(&prior)).await.unwrap();
        assert_eq!(out.kind, OutcomeKind::Succeeded);
        let rec = record(&out.result_json);
        assert_eq!(rec.status, "drifted");
        assert_eq!(exec_record(&rec).observed, exec_record(&prior).observed, "the reference stays until the next apply");
        assert!(out.detail.contains("changed: replicas"), "{}", out.detail);
        assert!(out.detail.contains("new: extra"), "{}", out.detail);
        assert!(out.detail.contains("missing: tag"), "{}", out.detail);

        // Back in line: ready again.
        let out = Exec.status(&ctx, &status_of(r#"echo '{"tag":"v1","replicas":1}'"#), Some(&rec)).await.unwrap();
        assert_eq!(record(&out.result_json).status, "ready");

        for gone in ["true", "echo null", "echo '  '"] {
            let out = Exec.status(&ctx, &status_of(gone), Some(&prior)).await.unwrap();
            assert_eq!(out.kind, OutcomeKind::Gone, "{gone}");
            assert_eq!(out.result_json, "");
        }

        let err = Exec.status(&ctx, &status_of("echo not json at all"), Some(&prior)).await.unwrap_err();
        let PlatformError::Failed { message, result_json, .. } = err else { panic!("{err:?}") };
        assert!(message.ends_with("printed something that is not JSON: not json at all"), "{message}");
        assert_eq!(record(&result_json), prior);

        let err = Exec.status(&ctx, &status_of("echo broken >&2; exit 2"), Some(&prior)).await.unwrap_err();
        let PlatformError::Failed { message, detail, result_json } = err else { panic!("{err:?}") };
        assert!(message.ends_with("exited with status 2"), "{message}");
        assert_eq!(detail, "broken");
        assert_eq!(record(&result_json), prior);
    }

    #[tokio::test]
    async fn status_of_an_import_records_what_read_sees() {
        let (ctx, _, _) = context();
        let req = request(json!({"create": ["true"], "read": sh(r#"echo '{"a":1}'"#)}));
        let rec = record(&Exec.status(&ctx, &req, None).await.unwrap().result_json);
        assert_eq!(rec.status, "ready");
        assert_eq!(exec_record(&rec).observed, Some(json!({"a": 1})));
    }

    #[tokio::test]
    async fn destroy_runs_with_recorded_outputs() {
        let (ctx, _, _) = context();
        let dir = temp_dir();
        let marker = dir.join("destroyed");
        let req = request(json!({
            "create": ["true"],
            "destroy": sh(&format!(r#"echo "$APP_NAME $APP_OUTPUTS" > '{}'"#, marker.display())),
        }));
        let out = Exec.destroy(&ctx, &req, Some(&prior_record())).await.unwrap();
        assert_eq!((out.kind, out.result_json.as_str()), (OutcomeKind::Succeeded, ""));
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "web {\"id\":\"1\"}\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn failed_destroy_keeps_the_record() {
        let (ctx, _, _) = context();
        let req = request(json!({"create": ["true"], "destroy": sh("echo cannot >&2; exit 1")}));
        let prior = prior_record();
        let err = Exec.destroy(&ctx, &req, Some(&prior)).await.unwrap_err();
        let PlatformError::Failed { detail, result_json, .. } = err else { panic!("{err:?}") };
        assert_eq!(detail, "cannot");
        assert_eq!(record(&result_json), prior);
    }

    #[tokio::test]
    async fn destroy_without_a_command_succeeds_with_a_warning() {
        let (ctx, events, _) = context();
        let req = request(json!({"create": ["true"]}));
        let out = Exec.destroy(&ctx, &req, Some(&prior_record())).await.unwrap();
        assert_eq!((out.kind, out.result_json.as_str()), (OutcomeKind::Succeeded, ""));
        settle(&events).await;
        let logs = events.logs.lock().unwrap().clone();
        assert!(logs.iter().any(|l| l.level == crate::context::Level::Warn as i32 && l.text.contains("nothing was run")));
    }

    #[tokio::test]
    async fn invalid_configuration_is_an_invalid_request() {
        let (ctx, _, _) = context();
        let err = Exec.deploy(&ctx, &request(json!({"create": ["true"], "bogus": 1})), None).await.unwrap_err();
        assert!(matches!(&err, PlatformError::InvalidRequest(m) if m.contains("bogus")), "{err:?}");
        let err = Exec.deploy(&ctx, &request(Json::Null), None).await.unwrap_err();
        assert!(matches!(err, PlatformError::InvalidRequest(_)));
    }
}
