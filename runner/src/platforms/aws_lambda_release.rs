//! The `aws_lambda` releaser: an alias (default `live`) on the version the deployment published
//! for the generation, optionally splitting traffic with the previously released version, plus
//! an optional function URL on the alias. Semantics are those documented in `app_spec::aws_lambda`.
//!
//! Which function: the one the last release recorded; else the function named after the
//! deployment (`ReleaseRequest.deployment`) unless it is tagged for another deployment; else the
//! function whose description names the deployment (`terraform-provider-app deployment <name>`,
//! set by the platform when it creates the function) — so a deployment with its own
//! `function_name` is found with one `ListFunctions` scan, once.
//!
//! Which version: the one described `generation N` (the platform publishes one per generation).
//!
//! Traffic: `traffic { weight = N }` with N < 100 keeps the alias's primary version at the
//! previously released one and sends N% to the new one (`AdditionalVersionWeights`); on the first
//! release there is nothing to split with, so the new version gets everything. `weight = 100` (or
//! no block) points the alias at the new version alone.
//!
//! Function URL: created or updated on the alias (`Qualifier = alias`); with `auth_type = NONE`
//! the public invoke permissions are added too (statement `app-function-url` for
//! `lambda:InvokeFunctionUrl` with `FunctionUrlAuthType = NONE`, and `app-function-url-invoke` for
//! `lambda:InvokeFunction` with `InvokedViaFunctionUrl`, which function URLs created since
//! October 2025 also need). Removing the block deletes the URL and the permissions.
//!
//! Status: the alias gone (deleted out of band, or with its function) reports the release as
//! gone, so the plan shows it being created and the apply restores it (alias, URL, permissions);
//! the alias pointing elsewhere or its URL gone or changed reports `drifted`.
//!
//! Destroy: deletes the URL, the permissions and the alias; never the function or its versions.

use super::aws_lambda::{
    check_cancelled, connect, description_generation, get_function, list_versions, log_calls, version_of_generation, Stop, TAG_DEPLOYMENT,
};
use crate::context::JobContext;
use crate::engine::aws::{error_code, Aws, AwsError};
use crate::platform::{to_json, Destroyer, Outcome, PlatformError, Release, ReleaseManager, Status};
use app_spec::aws_lambda::{self as spec, LambdaReleaseConfig, LambdaReleaseRecord};
use app_spec::job::{status, ReleaseRecord, ReleaseRequest};
use async_trait::async_trait;
use aws_sdk_lambda::operation::get_alias::GetAliasOutput;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, Cors, FunctionUrlAuthType};
use std::collections::HashMap;

pub struct AwsLambdaRelease;

/// The statement ID of the public `lambda:InvokeFunctionUrl` permission.
pub const URL_PERMISSION: &str = "app-function-url";
/// The companion `lambda:InvokeFunction` (via function URL) permission: `<URL_PERMISSION>-invoke`.
pub fn invoke_permission(statement: &str) -> String {
    format!("{statement}-invoke")
}

fn release_config(request: &ReleaseRequest) -> Result<LambdaReleaseConfig, PlatformError> {
    if request.config.is_null() {
        return Ok(LambdaReleaseConfig::default());
    }
    serde_json::from_value(request.config.clone())
        .map_err(|e| PlatformError::InvalidRequest(format!("the aws_lambda releaser configuration is not valid: {e}")))
}

fn alias_name(config: &LambdaReleaseConfig) -> String {
    config.alias.clone().filter(|a| !a.is_empty()).unwrap_or_else(|| spec::DEFAULT_ALIAS.to_string())
}

fn prior_release(prior: Option<&ReleaseRecord>) -> Option<LambdaReleaseRecord> {
    let prior = prior?;
    if prior.record.is_null() {
        return None;
    }
    serde_json::from_value::<LambdaReleaseRecord>(prior.record.clone()).ok().filter(|r| !r.function_name.is_empty())
}

/// The function of `deployment` (see the module documentation).
async fn find_function(aws: &Aws, lambda: &aws_sdk_lambda::Client, deployment: &str) -> Result<String, Stop> {
    if let Some(live) = get_function(aws, lambda, deployment).await? {
        let tagged = live.tags().and_then(|t| t.get(TAG_DEPLOYMENT));
        if tagged.is_none_or(|d| d == deployment) {
            return Ok(deployment.to_string());
        }
    }
    let marker_text = format!("terraform-provider-app deployment {deployment}");
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda.list_functions().set_marker(marker.take()).send().await.map_err(|e| aws.error("Lambda.ListFunctions", &e))?;
        for f in out.functions() {
            let description = f.description().unwrap_or_default();
            let ours =
                description == marker_text || description.strip_prefix(&marker_text).is_some_and(|rest| rest.starts_with(", generation "));
            if ours {
                found.extend(f.function_name().map(str::to_string));
            }
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Stop::failed(format!(
            "no Lambda function for deployment {deployment:?} in region {}: neither a function named {deployment:?} nor one created by that deployment exists; apply the deployment first",
            aws.region()
        ))),
        _ => Err(Stop::failed(format!(
            "several Lambda functions were created by a deployment named {deployment:?} ({}); give the deployments distinct names",
            found.join(", ")
        ))),
    }
}

/// `GetAlias`; `None` when the alias (or its function) does not exist.
async fn get_alias(aws: &Aws, lambda: &aws_sdk_lambda::Client, function: &str, alias: &str) -> Result<Option<GetAliasOutput>, AwsError> {
    match lambda.get_alias().function_name(function).name(alias).send().await {
        Ok(out) => Ok(Some(out)),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(aws.error("Lambda.GetAlias", &e)),
    }
}

/// The alias's traffic split: (version, weight in percent) of the additional version.
fn split_of(alias: &GetAliasOutput) -> Option<(String, i64)> {
    let weights = alias.routing_config()?.additional_version_weights()?;
    let (version, weight) = weights.iter().next()?;
    Some((version.clone(), (weight * 100.0).round() as i64))
}

fn desired_cors(cors: Option<&spec::Cors>) -> Option<Cors> {
    let cors = cors?;
    Some(
        Cors::builder()
            .set_allow_origins(cors.allow_origins.clone())
            .set_allow_methods(cors.allow_methods.clone())
            .set_allow_headers(cors.allow_headers.clone())
            .set_expose_headers(cors.expose_headers.clone())
            .set_allow_credentials(cors.allow_credentials)
            .set_max_age(cors.max_age.and_then(|m| i32::try_from(m).ok()))
            .build(),
    )
}

/// A release in progress: what exists so far, for the record of a failure.
struct ReleaseJob<'a> {
    ctx: &'a JobContext,
    aws: &'a Aws,
    lambda: aws_sdk_lambda::Client,
    request: &'a ReleaseRequest,
    config: LambdaReleaseConfig,
    prior: Option<&'a ReleaseRecord>,
    prior_record: Option<LambdaReleaseRecord>,
    record: LambdaReleaseRecord,
    /// The alias exists (created now or before).
    alias_exists: bool,
}

impl ReleaseJob<'_> {
    fn failed_json(&self) -> String {
        if !self.alias_exists && self.prior.is_none() {
            return String::new();
        }
        to_json(&ReleaseRecord {
            released_generation: self.prior.map_or(self.request.generation, |p| p.released_generation),
            url: self.record.function_url.clone(),
            status: status::FAILED.into(),
            record: serde_json::to_value(&self.record).unwrap_or_default(),
            observed: None,
        })
        .unwrap_or_default()
    }

    async fn run(&mut self) -> Result<ReleaseRecord, Stop> {
        let ctx = self.ctx;
        let alias = self.record.alias.clone();
        let function = match self.prior_record.as_ref().map(|r| r.function_name.clone()) {
            Some(f) => f,
            None => find_function(self.aws, &self.lambda, &self.request.deployment).await?,
        };
        self.record.function_name = function.clone();
        ctx.progress("find version", -1).await;
        let versions = list_versions(self.aws, &self.lambda, &function).await.map_err(|e| {
            if e.code() == Some("ResourceNotFoundException") {
                Stop::failed(format!(
                    "the Lambda function {function} of deployment {:?} does not exist; apply the deployment first",
                    self.request.deployment
                ))
            } else {
                e.into()
            }
        })?;
        let generation = self.request.generation;
        let new_version = version_of_generation(&versions, generation).and_then(|v| v.version()).map(str::to_string).ok_or_else(|| {
            let known: Vec<String> = versions
                .iter()
                .filter_map(|v| Some(format!("{} (generation {})", v.version()?, v.description().and_then(description_generation)?)))
                .collect();
            Stop::failed(format!(
                "the function {function} has no version for generation {generation} (versions: {}); apply the deployment, or pin a generation the deployment keeps",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
        })?;
        check_cancelled(ctx)?;

        // The alias.
        let live = get_alias(self.aws, &self.lambda, &function, &alias).await?;
        self.alias_exists = live.is_some();
        let weight = self.config.traffic.as_ref().map_or(100, |t| t.weight).clamp(1, 100);
        let previous = self
            .prior_record
            .as_ref()
            .map(|r| r.version.clone())
            .or_else(|| live.as_ref().and_then(|a| a.function_version().map(str::to_string)))
            .filter(|v| v != &new_version && v != "$LATEST");
        let (primary, split) = match (weight, previous) {
            (100, _) | (_, None) => (new_version.clone(), None),
            (w, Some(previous)) => (previous, Some((new_version.clone(), w))),
        };
        if weight < 100 && split.is_none() {
            ctx.info(format!("no earlier release of {function} to split traffic with: version {new_version} gets all of it")).await;
        }
        let routing = AliasRoutingConfiguration::builder()
            .set_additional_version_weights(Some(split.iter().map(|(v, w)| (v.clone(), *w as f64 / 100.0)).collect::<HashMap<_, _>>()))
            .build();
        ctx.progress("alias", -1).await;
        let alias_arn = match &live {
            None => {
                let out = self
                    .lambda
                    .create_alias()
                    .function_name(&function)
                    .name(&alias)
                    .function_version(&primary)
                    .set_routing_config(split.is_some().then_some(routing))
                    .description(format!("terraform-provider-app release {}", self.request.name))
                    .send()
                    .await
                    .map_err(|e| self.aws.error("Lambda.CreateAlias", &e))?;
                self.alias_exists = true;
                out.alias_arn().unwrap_or_default().to_string()
            }
            Some(live) => {
                let unchanged = live.function_version() == Some(primary.as_str()) && split_of(live) == split.clone();
                if unchanged {
                    live.alias_arn().unwrap_or_default().to_string()
                } else {
                    let out = self
                        .lambda
                        .update_alias()
                        .function_name(&function)
                        .name(&alias)
                        .function_version(&primary)
                        .routing_config(routing)
                        .set_revision_id(live.revision_id().map(str::to_string))
                        .send()
                        .await
                        .map_err(|e| self.aws.error("Lambda.UpdateAlias", &e))?;
                    out.alias_arn().or(live.alias_arn()).unwrap_or_default().to_string()
                }
            }
        };
        self.record.alias_arn = alias_arn;
        self.record.version = primary.clone();
        self.record.shifting_to = split.as_ref().map(|(v, _)| v.clone());
        self.record.weight = split.as_ref().map(|(_, w)| *w);
        match &split {
            Some((v, w)) => ctx.info(format!("alias {alias} of {function}: {}% version {primary}, {w}% version {v}", 100 - w)).await,
            None => ctx.info(format!("alias {alias} of {function}: version {primary}")).await,
        }
        check_cancelled(ctx)?;

        self.function_url(&function, &alias).await?;
        ctx.progress("release", 100).await;
        Ok(ReleaseRecord {
            released_generation: generation,
            url: self.record.function_url.clone(),
            status: status::READY.into(),
            record: serde_json::to_value(&self.record).unwrap_or_default(),
            observed: None,
        })
    }

    /// Creates, updates or deletes the alias's function URL and its public permissions.
    async fn function_url(&mut self, function: &str, alias: &str) -> Result<(), Stop> {
        let had_url = self.prior_record.as_ref().is_some_and(|r| r.function_url.is_some());
        let Some(url_config) = self.config.function_url.clone() else {
            if had_url || self.record.permission_statement_id.is_some() {
                self.ctx.progress("function URL", -1).await;
                remove_permissions(self.aws, &self.lambda, function, alias, self.record.permission_statement_id.as_deref()).await?;
                self.record.permission_statement_id = None;
                delete_url(self.aws, &self.lambda, function, alias).await?;
                self.record.function_url = None;
                self.ctx.info(format!("deleted the function URL of {function}:{alias}")).await;
            }
            return Ok(());
        };
        self.ctx.progress("function URL", -1).await;
        let auth = FunctionUrlAuthType::from(url_config.auth_type.as_deref().unwrap_or("NONE"));
        let cors = desired_cors(url_config.cors.as_ref());
        let live = match self.lambda.get_function_url_config().function_name(function).qualifier(alias).send().await {
            Ok(out) => Some(out),
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
            Err(e) => return Err(self.aws.error("Lambda.GetFunctionUrlConfig", &e).into()),
        };
        let url = match live {
            None => {
                let out = self
                    .lambda
                    .create_function_url_config()
                    .function_name(function)
                    .qualifier(alias)
                    .auth_type(auth.clone())
                    .set_cors(cors)
                    .send()
                    .await
                    .map_err(|e| self.aws.error("Lambda.CreateFunctionUrlConfig", &e))?;
                out.function_url().to_string()
            }
            Some(live) if live.auth_type() == &auth && live.cors() == cors.as_ref() => live.function_url().to_string(),
            Some(live) => {
                let out = self
                    .lambda
                    .update_function_url_config()
                    .function_name(function)
                    .qualifier(alias)
                    .auth_type(auth.clone())
                    .cors(cors.unwrap_or_else(|| Cors::builder().build()))
                    .send()
                    .await
                    .map_err(|e| self.aws.error("Lambda.UpdateFunctionUrlConfig", &e))?;
                let url = out.function_url();
                if url.is_empty() { live.function_url() } else { url }.to_string()
            }
        };
        self.record.function_url = Some(url.clone());
        if auth == FunctionUrlAuthType::None {
            if self.record.permission_statement_id.is_none() {
                add_public_permissions(self.aws, &self.lambda, function, alias).await?;
                self.record.permission_statement_id = Some(URL_PERMISSION.to_string());
            }
        } else if self.record.permission_statement_id.is_some() {
            remove_permissions(self.aws, &self.lambda, function, alias, self.record.permission_statement_id.as_deref()).await?;
            self.record.permission_statement_id = None;
        }
        self.ctx.info(format!("function URL of {function}:{alias}: {url} (auth {})", auth.as_str())).await;
        Ok(())
    }
}

/// Lets anyone invoke the alias through its URL (`auth_type = NONE`); an existing statement of
/// the same ID is fine.
async fn add_public_permissions(aws: &Aws, lambda: &aws_sdk_lambda::Client, function: &str, alias: &str) -> Result<(), AwsError> {
    let url = lambda
        .add_permission()
        .function_name(function)
        .qualifier(alias)
        .statement_id(URL_PERMISSION)
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await;
    match url {
        Ok(_) => {}
        Err(e) if error_code(&e) == Some("ResourceConflictException") => {}
        Err(e) => return Err(aws.error("Lambda.AddPermission", &e)),
    }
    let invoke = lambda
        .add_permission()
        .function_name(function)
        .qualifier(alias)
        .statement_id(invoke_permission(URL_PERMISSION))
        .action("lambda:InvokeFunction")
        .principal("*")
        .invoked_via_function_url(true)
        .send()
        .await;
    match invoke {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("ResourceConflictException") => Ok(()),
        Err(e) => Err(aws.error("Lambda.AddPermission", &e)),
    }
}

/// Removes the public permissions `statement` names (nothing when `None`); gone ones are fine.
async fn remove_permissions(
    aws: &Aws,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    statement: Option<&str>,
) -> Result<(), AwsError> {
    let Some(statement) = statement else { return Ok(()) };
    for id in [statement.to_string(), invoke_permission(statement)] {
        match lambda.remove_permission().function_name(function).qualifier(alias).statement_id(&id).send().await {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(aws.error("Lambda.RemovePermission", &e)),
        }
    }
    Ok(())
}

async fn delete_url(aws: &Aws, lambda: &aws_sdk_lambda::Client, function: &str, alias: &str) -> Result<(), AwsError> {
    match lambda.delete_function_url_config().function_name(function).qualifier(alias).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(aws.error("Lambda.DeleteFunctionUrlConfig", &e)),
    }
}

#[async_trait]
impl ReleaseManager for AwsLambdaRelease {
    async fn release(&self, ctx: &JobContext, request: &ReleaseRequest, prior: Option<&ReleaseRecord>) -> Result<Outcome, PlatformError> {
        let config = release_config(request)?;
        let prior_record = prior_release(prior);
        let alias = alias_name(&config);
        let record = LambdaReleaseRecord {
            alias: alias.clone(),
            permission_statement_id: prior_record.as_ref().and_then(|r| r.permission_statement_id.clone()),
            function_url: prior_record.as_ref().and_then(|r| r.function_url.clone()),
            ..Default::default()
        };
        let prior_failed = || {
            prior.map(|p| to_json(&ReleaseRecord { status: status::FAILED.into(), ..p.clone() }).unwrap_or_default()).unwrap_or_default()
        };
        let aws = connect(&request.aws, prior_failed).await?;
        let mut job = ReleaseJob {
            ctx,
            aws: &aws,
            lambda: aws.lambda(),
            request,
            config,
            prior,
            // A different alias is a new release (alias forces a new resource): nothing to split with.
            prior_record: prior_record.filter(|r| r.alias == alias),
            record,
            alias_exists: false,
        };
        let result = job.run().await;
        log_calls(ctx, &aws).await;
        match result {
            Ok(record) => Outcome::record(&record),
            Err(stop) => Err(stop.into_error(job.failed_json())),
        }
    }
}

#[async_trait]
impl Status<Release> for AwsLambdaRelease {
    async fn status(&self, ctx: &JobContext, request: &ReleaseRequest, prior: Option<&ReleaseRecord>) -> Result<Outcome, PlatformError> {
        let config = release_config(request)?;
        let aws = connect(&request.aws, String::new).await?;
        let result = release_status(ctx, &aws, request, &config, prior).await;
        log_calls(ctx, &aws).await;
        result.map_err(|stop| stop.into_error(String::new()))
    }
}

async fn release_status(
    ctx: &JobContext,
    aws: &Aws,
    request: &ReleaseRequest,
    config: &LambdaReleaseConfig,
    prior: Option<&ReleaseRecord>,
) -> Result<Outcome, Stop> {
    let lambda = aws.lambda();
    let recorded = prior_release(prior);
    let alias = recorded.as_ref().map_or_else(|| alias_name(config), |r| r.alias.clone());
    let function = match &recorded {
        Some(r) => r.function_name.clone(),
        None => match find_function(aws, &lambda, &request.deployment).await {
            Ok(f) => f,
            Err(Stop::Failed { .. }) => return Ok(Outcome::gone()),
            Err(stop) => return Err(stop),
        },
    };
    let Some(live) = get_alias(aws, &lambda, &function, &alias).await? else {
        ctx.info(format!("the alias {alias} of {function} does not exist")).await;
        return Ok(Outcome::gone());
    };
    let live_version = live.function_version().unwrap_or_default().to_string();
    let live_split = split_of(&live);
    let live_url = if recorded.as_ref().is_none_or(|r| r.function_url.is_some()) {
        match lambda.get_function_url_config().function_name(&function).qualifier(&alias).send().await {
            Ok(out) => Some((out.function_url().to_string(), out.auth_type().clone())),
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => None,
            Err(e) => return Err(aws.error("Lambda.GetFunctionUrlConfig", &e).into()),
        }
    } else {
        None
    };
    let (Some(record), Some(prior)) = (recorded, prior) else {
        // Nothing recorded (import): what the alias is, released_generation from its version.
        let generation = match lambda.get_function_configuration().function_name(&function).qualifier(&live_version).send().await {
            Ok(out) => out.description().and_then(description_generation).unwrap_or(request.generation),
            Err(_) => request.generation,
        };
        let record = LambdaReleaseRecord {
            function_name: function.clone(),
            alias: alias.clone(),
            alias_arn: live.alias_arn().unwrap_or_default().to_string(),
            version: live_version.clone(),
            shifting_to: live_split.as_ref().map(|(v, _)| v.clone()),
            weight: live_split.as_ref().map(|(_, w)| *w),
            function_url: live_url.as_ref().map(|(u, _)| u.clone()),
            permission_statement_id: live_url.as_ref().filter(|(_, a)| a == &FunctionUrlAuthType::None).map(|_| URL_PERMISSION.to_string()),
        };
        ctx.info(format!("found the alias {alias} of {function} at version {live_version}")).await;
        return Outcome::record(&ReleaseRecord {
            released_generation: generation,
            url: record.function_url.clone(),
            status: status::READY.into(),
            record: serde_json::to_value(&record).unwrap_or_default(),
            observed: None,
        })
        .map_err(|e| Stop::failed(e.to_string()));
    };
    let mut drift = Vec::new();
    if live_version != record.version {
        drift.push(format!("the alias points at version {live_version}, released: {}", record.version));
    }
    let recorded_split = record.shifting_to.clone().zip(record.weight);
    if live_split != recorded_split {
        let describe = |s: &Option<(String, i64)>| s.as_ref().map_or("none".to_string(), |(v, w)| format!("{w}% to version {v}"));
        drift.push(format!("traffic split {}, released: {}", describe(&live_split), describe(&recorded_split)));
    }
    if let Some(url) = &record.function_url {
        match &live_url {
            None => drift.push("the function URL is gone".to_string()),
            Some((live, _)) if live != url => drift.push(format!("the function URL is now {live} (released: {url})")),
            Some((_, auth)) => {
                let wanted = config.function_url.as_ref().and_then(|u| u.auth_type.clone()).unwrap_or_else(|| "NONE".into());
                if config.function_url.is_some() && auth.as_str() != wanted {
                    drift.push(format!("the function URL's auth type is {}, released: {wanted}", auth.as_str()));
                }
            }
        }
    }
    let status = if drift.is_empty() { status::READY } else { status::DRIFTED };
    let outcome = Outcome::record(&ReleaseRecord { status: status.into(), ..prior.clone() }).map_err(|e| Stop::failed(e.to_string()))?;
    if drift.is_empty() {
        Ok(outcome)
    } else {
        let detail = format!("the alias {alias} of {function} changed outside Terraform: {}", drift.join("; "));
        ctx.warn(&detail).await;
        Ok(outcome.with_detail(detail))
    }
}

#[async_trait]
impl Destroyer<Release> for AwsLambdaRelease {
    async fn destroy(&self, ctx: &JobContext, request: &ReleaseRequest, prior: Option<&ReleaseRecord>) -> Result<Outcome, PlatformError> {
        let config = release_config(request)?;
        let recorded = prior_release(prior);
        let keep = || {
            prior.map(|p| to_json(&ReleaseRecord { status: status::FAILED.into(), ..p.clone() }).unwrap_or_default()).unwrap_or_default()
        };
        let aws = connect(&request.aws, keep).await?;
        let result = destroy_release(ctx, &aws, request, &config, recorded).await;
        log_calls(ctx, &aws).await;
        match result {
            Ok(()) => Ok(Outcome::nothing()),
            Err(stop) => Err(stop.into_error(keep())),
        }
    }
}

async fn destroy_release(
    ctx: &JobContext,
    aws: &Aws,
    request: &ReleaseRequest,
    config: &LambdaReleaseConfig,
    recorded: Option<LambdaReleaseRecord>,
) -> Result<(), Stop> {
    let lambda = aws.lambda();
    let alias = recorded.as_ref().map_or_else(|| alias_name(config), |r| r.alias.clone());
    let function = match &recorded {
        Some(r) => r.function_name.clone(),
        None => match find_function(aws, &lambda, &request.deployment).await {
            Ok(f) => f,
            // No function: nothing of the release can exist.
            Err(Stop::Failed { .. }) => return Ok(()),
            Err(stop) => return Err(stop),
        },
    };
    ctx.progress("delete", -1).await;
    let statement = recorded.as_ref().and_then(|r| r.permission_statement_id.clone()).or_else(|| Some(URL_PERMISSION.to_string()));
    remove_permissions(aws, &lambda, &function, &alias, statement.as_deref()).await?;
    delete_url(aws, &lambda, &function, &alias).await?;
    match lambda.delete_alias().function_name(&function).name(&alias).send().await {
        Ok(_) => {}
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {}
        Err(e) => return Err(aws.error("Lambda.DeleteAlias", &e).into()),
    }
    ctx.info(format!("deleted the alias {alias} of {function} with its function URL and permissions")).await;
    Ok(())
}
