//! The `aws_lambda` platform and releaser against a real moto server (Lambda, IAM, ECR, STS).
//!
//! Needs the test rig (scripts/test.sh starts it):
//!   scripts/moto.sh start && eval "$(scripts/moto.sh env)"
//! The tests set dummy AWS credentials, us-east-1 and moto's endpoint in this process's
//! environment (one test at a time, under a lock) and never reach anything but 127.0.0.1.
//! Names carry a per-run suffix: moto's state outlives a test run.
//!
//! moto 5.2.5 does not run image functions (no invocation here), keeps one function URL per
//! function whatever the qualifier, numbers a new version `number of versions + 1` (so deleting
//! versions before publishing more can reuse a number; the scenario below avoids that), ignores
//! `RevisionId` and does not apply `EphemeralStorage` updates.
#![allow(clippy::unwrap_used)]

use app_runner::context::{CancelToken, JobContext};
use app_runner::platform::{Destroyer, Outcome, OutcomeKind, Platform, PlatformError, ReleaseManager, Status};
use app_runner::platforms::aws_lambda::AwsLambda;
use app_runner::platforms::aws_lambda_release::AwsLambdaRelease;
use app_runner::proto::{job_event, JobEvent};
use app_spec::aws_lambda::{LambdaRecord, LambdaReleaseRecord};
use app_spec::job::{AssumeRole, AwsSettings, DeploymentRecord, DeploymentRequest, ReleaseRecord, ReleaseRequest};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify};

const ACCOUNT: &str = "123456789012";
const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// The dummy secret key the tests sign with: it must never show in a message.
const SECRET_KEY: &str = "moto-lambda-test-secret-key-51c2";
const SECRET_VALUE: &str = "s3cret-value-that-must-stay-hidden";

/// The tests change the process environment: one at a time.
static ENV_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn moto_endpoint() -> String {
    std::env::var("APP_TEST_MOTO_ENDPOINT").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "APP_TEST_MOTO_ENDPOINT is not set: these tests need a local moto server; run \
             `scripts/moto.sh start && eval \"$(scripts/moto.sh env)\"` first (scripts/test.sh does)"
        )
    })
}

/// Dummy credentials, us-east-1, every endpoint at moto, no profiles, no instance metadata.
fn aws_env() {
    let endpoint = moto_endpoint();
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_ECR",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAMOTOTESTKEY00000");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/dev/null");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// A name unique to this run: `<prefix>-<suffix>`.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{:x}{:x}", std::process::id(), nanos % 0xffff_ffff)
}

fn image(n: u8) -> String {
    format!("{HOST}/web@sha256:{}", format!("{n:02x}").repeat(32))
}

/// A job context whose log lines are collected.
fn job_context() -> (JobContext, Log) {
    let (tx, mut rx) = mpsc::channel::<JobEvent>(256);
    let log = Log { lines: Arc::new(Mutex::new(Vec::new())), tx: tx.clone(), flushed: Arc::new(Notify::new()) };
    let (sink, flushed) = (log.lines.clone(), log.flushed.clone());
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event.event {
                Some(job_event::Event::Log(line)) => sink.lock().unwrap().push(format!("[{}] {}", line.stream, line.text)),
                None => flushed.notify_one(),
                _ => {}
            }
        }
    });
    (JobContext::new("test-job", tx, CancelToken::new()), log)
}

struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    tx: mpsc::Sender<JobEvent>,
    flushed: Arc<Notify>,
}

impl Log {
    async fn text(&self) -> String {
        self.tx.send(JobEvent { event: None }).await.unwrap();
        self.flushed.notified().await;
        self.lines.lock().unwrap().join("\n")
    }

    /// The `AWS API calls: …` line of the job.
    async fn calls(&self) -> String {
        let text = self.text().await;
        text.lines()
            .rev()
            .find_map(|l| l.split_once("AWS API calls: ").map(|(_, c)| c.to_string()))
            .unwrap_or_else(|| panic!("no call count in:\n{text}"))
    }
}

fn deployment(name: &str, generation: u64, image: &str, config: serde_json::Value) -> DeploymentRequest {
    DeploymentRequest {
        name: name.into(),
        generation,
        image: Some(image.into()),
        env: [("GREETING".to_string(), "hello".to_string())].into(),
        secret_env: [("TOKEN".to_string(), SECRET_VALUE.to_string())].into(),
        labels: [("team".to_string(), "web".to_string())].into(),
        config,
        keep: 1,
        ..Default::default()
    }
}

/// The same request as a status or destroy job sends it: no secret values.
fn without_secrets(request: &DeploymentRequest) -> DeploymentRequest {
    DeploymentRequest { secret_env: BTreeMap::new(), ..request.clone() }
}

fn release(deployment: &str, generation: u64, config: serde_json::Value) -> ReleaseRequest {
    ReleaseRequest { name: deployment.into(), deployment: deployment.into(), generation, config, ..Default::default() }
}

fn deployment_record(outcome: &Outcome) -> (DeploymentRecord, LambdaRecord) {
    assert_eq!(outcome.kind, OutcomeKind::Succeeded, "{outcome:?}");
    let record: DeploymentRecord = serde_json::from_str(&outcome.result_json).unwrap_or_else(|e| panic!("{e}: {:?}", outcome.result_json));
    let lambda: LambdaRecord = serde_json::from_value(record.record.clone()).unwrap();
    (record, lambda)
}

fn release_record(outcome: &Outcome) -> (ReleaseRecord, LambdaReleaseRecord) {
    assert_eq!(outcome.kind, OutcomeKind::Succeeded, "{outcome:?}");
    let record: ReleaseRecord = serde_json::from_str(&outcome.result_json).unwrap_or_else(|e| panic!("{e}: {:?}", outcome.result_json));
    let lambda: LambdaReleaseRecord = serde_json::from_value(record.record.clone()).unwrap();
    (record, lambda)
}

fn failure(result: Result<Outcome, PlatformError>) -> (String, String) {
    match result {
        Err(PlatformError::Failed { message, result_json, .. }) => (message, result_json),
        other => panic!("expected a failure, got {other:?}"),
    }
}

async fn published_versions(lambda: &aws_sdk_lambda::Client, function: &str) -> Vec<String> {
    let out = lambda.list_versions_by_function().function_name(function).send().await.unwrap();
    out.versions().iter().filter_map(|v| v.version()).filter(|v| *v != "$LATEST").map(str::to_string).collect()
}

async fn role_exists(iam: &aws_sdk_iam::Client, name: &str) -> bool {
    match iam.get_role().role_name(name).send().await {
        Ok(_) => true,
        Err(e) => {
            let code = e.as_service_error().and_then(aws_sdk_iam::error::ProvideErrorMetadata::code).map(str::to_string);
            assert_eq!(code.as_deref(), Some("NoSuchEntity"), "{e:?}");
            false
        }
    }
}

#[tokio::test]
async fn versions_are_generations_and_aliases_shift_traffic() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let sdk = sdk().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let name = unique("web");
    let platform = AwsLambda;
    let releaser = AwsLambdaRelease;
    let config = json!({"memory": 512, "timeout": 30, "tags": {"env": "test"}});

    // Generation 1: the function, its role, version 1.
    let (ctx, log) = job_context();
    let first = deployment(&name, 1, &image(1), config.clone());
    let outcome = platform.deploy(&ctx, &first, None).await.unwrap();
    let (record1, lambda1) = deployment_record(&outcome);
    eprintln!("API calls, first deploy (create role + function): {}", log.calls().await);
    assert_eq!((record1.generation, record1.status.as_str(), record1.url.as_deref()), (1, "ready", None));
    assert_eq!(lambda1.version, "1");
    assert_eq!(lambda1.image, image(1));
    assert_eq!(record1.computed["version"], json!("1"));
    assert_eq!(record1.computed["function_arn"], json!(lambda1.function_arn));
    let role_name = format!("{name}-exec");
    assert_eq!(lambda1.created_role_name.as_deref(), Some(role_name.as_str()));
    assert_eq!(record1.computed["role_arn"], json!(lambda1.created_role_arn.clone().unwrap()));
    assert!(role_exists(&iam, &role_name).await);
    let live = lambda.get_function().function_name(&name).send().await.unwrap();
    assert_eq!(live.code().and_then(|c| c.image_uri()), Some(image(1).as_str()));
    let live_config = live.configuration().unwrap();
    assert_eq!((live_config.memory_size(), live_config.timeout()), (Some(512), Some(30)));
    let env = live_config.environment().and_then(|e| e.variables()).unwrap();
    assert_eq!((env["GREETING"].as_str(), env["TOKEN"].as_str()), ("hello", SECRET_VALUE));
    let tags = live.tags().unwrap();
    assert_eq!((tags["env"].as_str(), tags["team"].as_str()), ("test", "web"));
    assert_eq!(tags["dev.terraform-provider-app.deployment"], name);
    assert_eq!(published_versions(&lambda, &name).await, ["1"]);
    assert!(!log.text().await.contains(SECRET_VALUE), "{}", log.text().await);

    // A no-op refresh: one GetFunction.
    let (ctx, log) = job_context();
    let outcome = platform.status(&ctx, &without_secrets(&first), Some(&record1)).await.unwrap();
    let calls_noop = log.calls().await;
    eprintln!("API calls, no-op status (plan): {calls_noop}");
    assert!(outcome.detail.is_empty(), "{}", outcome.detail);
    assert_eq!(deployment_record(&outcome).0.status, "ready");
    assert!(calls_noop.starts_with("1 (Lambda.GetFunction 1)"), "{calls_noop}");

    // Generation 2: a new image is version 2; the role is reused.
    let (ctx, log) = job_context();
    let second = deployment(&name, 2, &image(2), config.clone());
    let outcome = platform.deploy(&ctx, &second, Some(&record1)).await.unwrap();
    let calls_update = log.calls().await;
    eprintln!("API calls, image update: {calls_update}");
    let (record2, lambda2) = deployment_record(&outcome);
    assert_eq!((record2.generation, lambda2.version.as_str()), (2, "2"));
    assert_eq!(lambda2.created_role_arn, lambda1.created_role_arn);
    assert_eq!(lambda2.versions, ["1", "2"]);
    assert!(!calls_update.contains("IAM.") && !calls_update.contains("UpdateFunctionConfiguration"), "{calls_update}");
    let live = lambda.get_function().function_name(&name).send().await.unwrap();
    assert_eq!(live.code().and_then(|c| c.image_uri()), Some(image(2).as_str()));
    let v2 = lambda.get_function_configuration().function_name(&name).qualifier("2").send().await.unwrap();
    assert_eq!(v2.description(), Some("generation 2"));

    // Release generation 1 on `live` with a public URL.
    let url_config = json!({"function_url": {"auth_type": "NONE", "cors": {"allow_origins": ["*"]}}});
    let (ctx, log) = job_context();
    let outcome = releaser.release(&ctx, &release(&name, 1, url_config.clone()), None).await.unwrap();
    eprintln!("API calls, first release (alias + URL + permissions): {}", log.calls().await);
    let (rel1, lrel1) = release_record(&outcome);
    assert_eq!((rel1.released_generation, rel1.status.as_str()), (1, "ready"));
    assert_eq!((lrel1.alias.as_str(), lrel1.version.as_str(), lrel1.shifting_to.as_deref()), ("live", "1", None));
    let alias = lambda.get_alias().function_name(&name).name("live").send().await.unwrap();
    assert_eq!(alias.function_version(), Some("1"));
    assert_eq!(lrel1.alias_arn, alias.alias_arn().unwrap());
    let url = lambda.get_function_url_config().function_name(&name).qualifier("live").send().await.unwrap();
    assert_eq!(rel1.url.as_deref(), Some(url.function_url()));
    assert_eq!(lrel1.function_url.as_deref(), Some(url.function_url()));
    assert_eq!(url.auth_type().as_str(), "NONE");
    assert_eq!(lrel1.permission_statement_id.as_deref(), Some("app-function-url"));
    let policy = lambda.get_policy().function_name(&name).qualifier("live").send().await.unwrap();
    let policy = policy.policy().unwrap();
    assert!(policy.contains("app-function-url") && policy.contains("lambda:InvokeFunctionUrl"), "{policy}");

    // Generation 2 at 10%: version 1 stays primary, 0.1 to version 2.
    let (ctx, _log) = job_context();
    let weighted = json!({"traffic": {"weight": 10}, "function_url": {"auth_type": "NONE", "cors": {"allow_origins": ["*"]}}});
    let outcome = releaser.release(&ctx, &release(&name, 2, weighted), Some(&rel1)).await.unwrap();
    let (rel2, lrel2) = release_record(&outcome);
    assert_eq!(rel2.released_generation, 2);
    assert_eq!((lrel2.version.as_str(), lrel2.shifting_to.as_deref(), lrel2.weight), ("1", Some("2"), Some(10)));
    assert_eq!(rel2.url, rel1.url);
    let alias = lambda.get_alias().function_name(&name).name("live").send().await.unwrap();
    assert_eq!(alias.function_version(), Some("1"));
    let weights = alias.routing_config().and_then(|r| r.additional_version_weights()).unwrap();
    assert_eq!(weights.len(), 1);
    assert!((weights["2"] - 0.1).abs() < 1e-9, "{weights:?}");

    // Generation 3 with keep = 0: versions 1 and 2 are older, but the alias uses both.
    let (ctx, log) = job_context();
    let third = DeploymentRequest { keep: 0, ..deployment(&name, 3, &image(3), config.clone()) };
    let (record3, lambda3) = deployment_record(&platform.deploy(&ctx, &third, Some(&record2)).await.unwrap());
    assert_eq!(lambda3.version, "3");
    assert_eq!(published_versions(&lambda, &name).await, ["1", "2", "3"]);
    assert!(log.text().await.contains("keeping version 1: an alias points at it"), "{}", log.text().await);

    // Generation 2 at 100%: the alias is at version 2 with no split.
    let (ctx, _log) = job_context();
    let full = json!({"traffic": {"weight": 100}, "function_url": {"auth_type": "NONE", "cors": {"allow_origins": ["*"]}}});
    let (rel3, lrel3) = release_record(&releaser.release(&ctx, &release(&name, 2, full), Some(&rel2)).await.unwrap());
    assert_eq!((lrel3.version.as_str(), lrel3.shifting_to.as_deref(), lrel3.weight), ("2", None, None));
    let alias = lambda.get_alias().function_name(&name).name("live").send().await.unwrap();
    assert_eq!(alias.function_version(), Some("2"));
    assert!(alias.routing_config().and_then(|r| r.additional_version_weights()).is_none_or(|w| w.is_empty()), "{alias:?}");

    // Generation 4, keep = 1: version 3 stays (the one older kept), 2 stays (aliased), 1 goes.
    let (ctx, _log) = job_context();
    let fourth = deployment(&name, 4, &image(4), config.clone());
    let (record4, lambda4) = deployment_record(&platform.deploy(&ctx, &fourth, Some(&record3)).await.unwrap());
    assert_eq!(lambda4.version, "4");
    assert_eq!(published_versions(&lambda, &name).await, ["2", "3", "4"]);
    assert_eq!(lambda4.versions, ["2", "3", "4"]);

    // The release is ready; the alias deleted out of band makes it gone (the plan creates it).
    let (ctx, log) = job_context();
    let rel_status = releaser.status(&ctx, &release(&name, 2, url_config.clone()), Some(&rel3)).await.unwrap();
    eprintln!("API calls, no-op release status: {}", log.calls().await);
    assert_eq!(release_record(&rel_status).0.status, "ready", "{}", rel_status.detail);
    lambda.update_alias().function_name(&name).name("live").function_version("3").send().await.unwrap();
    let (ctx, _log) = job_context();
    let drifted = releaser.status(&ctx, &release(&name, 2, url_config.clone()), Some(&rel3)).await.unwrap();
    assert_eq!(release_record(&drifted).0.status, "drifted");
    assert!(drifted.detail.contains("version 3"), "{}", drifted.detail);
    lambda.delete_alias().function_name(&name).name("live").send().await.unwrap();
    let (ctx, _log) = job_context();
    let gone = releaser.status(&ctx, &release(&name, 2, url_config.clone()), Some(&rel3)).await.unwrap();
    assert_eq!(gone.kind, OutcomeKind::Gone, "{gone:?}");

    // Released again from nothing (as after `gone`): generation 4, all traffic.
    let (ctx, _log) = job_context();
    let (rel4, lrel4) = release_record(&releaser.release(&ctx, &release(&name, 4, url_config.clone()), None).await.unwrap());
    assert_eq!((rel4.released_generation, lrel4.version.as_str()), (4, "4"));
    assert!(rel4.url.is_some());

    // The release's destroy: URL, permissions and alias go; the function stays.
    let (ctx, _log) = job_context();
    let outcome = releaser.destroy(&ctx, &release(&name, 4, url_config.clone()), Some(&rel4)).await.unwrap();
    assert_eq!(outcome, Outcome::nothing());
    let alias = lambda.get_alias().function_name(&name).name("live").send().await;
    assert!(alias.is_err(), "{alias:?}");
    let url = lambda.get_function_url_config().function_name(&name).qualifier("live").send().await;
    assert!(url.is_err(), "{url:?}");
    assert!(lambda.get_function().function_name(&name).send().await.is_ok());

    // The deployment's destroy: function and created role go.
    let (ctx, log) = job_context();
    let outcome = platform.destroy(&ctx, &without_secrets(&fourth), Some(&record4)).await.unwrap();
    eprintln!("API calls, destroy: {}", log.calls().await);
    assert_eq!(outcome, Outcome::nothing());
    let function = lambda.get_function().function_name(&name).send().await;
    assert!(function.is_err(), "{function:?}");
    assert!(!role_exists(&iam, &role_name).await);
    // Destroying again finds nothing and succeeds.
    let (ctx, _log) = job_context();
    assert_eq!(platform.destroy(&ctx, &without_secrets(&fourth), Some(&record4)).await.unwrap(), Outcome::nothing());
}

#[tokio::test]
async fn out_of_band_changes_are_drift_and_a_deploy_repairs_them() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let sdk = sdk().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let name = unique("drift");
    let platform = AwsLambda;
    let request = deployment(&name, 1, &image(7), json!({}));
    let (ctx, _log) = job_context();
    let (record, _) = deployment_record(&platform.deploy(&ctx, &request, None).await.unwrap());

    lambda.update_function_configuration().function_name(&name).memory_size(1024).send().await.unwrap();
    lambda
        .update_function_configuration()
        .function_name(&name)
        .environment(aws_sdk_lambda::types::Environment::builder().variables("GREETING", "changed").variables("TOKEN", "x").build())
        .send()
        .await
        .unwrap();
    lambda.update_function_code().function_name(&name).image_uri(image(8)).send().await.unwrap();
    let (ctx, log) = job_context();
    let outcome = platform.status(&ctx, &without_secrets(&request), Some(&record)).await.unwrap();
    let (status, _) = deployment_record(&outcome);
    assert_eq!(status.status, "drifted");
    eprintln!("drift: {}", outcome.detail);
    for part in ["memory", "environment (GREETING)", &format!("image: {} → {}", image(7), image(8))] {
        assert!(outcome.detail.contains(part), "`{part}` missing from: {}", outcome.detail);
    }
    // The secret's value changed too, but status knows only its name.
    assert!(!outcome.detail.contains("TOKEN") && !log.text().await.contains(SECRET_VALUE));

    // Redeploying (the plan proposes it) restores image, memory and environment.
    let (ctx, _log) = job_context();
    let again = deployment(&name, 2, &image(7), json!({}));
    let (record2, lambda2) = deployment_record(&platform.deploy(&ctx, &again, Some(&status)).await.unwrap());
    assert_eq!(lambda2.version, "2");
    let live = lambda.get_function().function_name(&name).send().await.unwrap();
    assert_eq!(live.code().and_then(|c| c.image_uri()), Some(image(7).as_str()));
    let config = live.configuration().unwrap();
    assert_eq!(config.memory_size(), Some(256));
    assert_eq!(config.environment().and_then(|e| e.variables()).unwrap()["TOKEN"], SECRET_VALUE);
    let (ctx, _log) = job_context();
    let outcome = platform.status(&ctx, &without_secrets(&again), Some(&record2)).await.unwrap();
    assert_eq!(deployment_record(&outcome).0.status, "ready", "{}", outcome.detail);

    // Only the labels changed (tags are not part of a version): generation 3 still gets a
    // version of its own.
    let (ctx, log) = job_context();
    let same = DeploymentRequest { labels: [("team".to_string(), "api".to_string())].into(), ..deployment(&name, 3, &image(7), json!({})) };
    let (record3, lambda3) = deployment_record(&platform.deploy(&ctx, &same, Some(&record2)).await.unwrap());
    let calls = log.calls().await;
    eprintln!("API calls, labels-only change: {calls}");
    assert_eq!(lambda3.version, "3", "{}", log.text().await);
    assert!(calls.contains("Lambda.TagResource 1") && !calls.contains("UpdateFunctionCode"), "{calls}");
    let v3 = lambda.get_function_configuration().function_name(&name).qualifier("3").send().await.unwrap();
    assert_eq!(v3.description(), Some("generation 3"));
    let tags = lambda.get_function().function_name(&name).send().await.unwrap().tags().cloned().unwrap();
    assert_eq!(tags["team"], "api");

    // Deleted out of band while the role it created remains: drifted (kept in state, so a
    // destroy still deletes the role), not gone.
    lambda.delete_function().function_name(&name).send().await.unwrap();
    let (ctx, _log) = job_context();
    let outcome = platform.status(&ctx, &without_secrets(&same), Some(&record3)).await.unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Succeeded);
    let (drifted, gone_lambda) = deployment_record(&outcome);
    assert_eq!(drifted.status, "drifted");
    assert!(outcome.detail.contains("deleted outside Terraform"), "{}", outcome.detail);
    assert!(gone_lambda.created_role_name.is_some());
    let (ctx, _log) = job_context();
    platform.destroy(&ctx, &without_secrets(&same), Some(&drifted)).await.unwrap();
    let role = gone_lambda.created_role_name.clone().unwrap_or_default();
    assert!(!role_exists(&aws_sdk_iam::Client::new(&sdk), &role).await, "the created role {role} is deleted");
}

#[tokio::test]
async fn a_tag_is_pinned_to_its_digest_and_a_given_role_is_used_as_is() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let sdk = sdk().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let deployment_name = unique("api");
    let function = unique("custom-fn");
    let repository = unique("repo");

    ecr.create_repository().repository_name(&repository).send().await.unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": format!("sha256:{}", "c".repeat(64))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": format!("sha256:{}", "d".repeat(64))}]
    });
    ecr.put_image().repository_name(&repository).image_manifest(manifest.to_string()).image_tag("v1").send().await.unwrap();
    let described = ecr
        .describe_images()
        .repository_name(&repository)
        .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag("v1").build())
        .send()
        .await
        .unwrap();
    let digest = described.image_details()[0].image_digest().unwrap().to_string();

    let role_name = unique("given-role");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = iam.create_role().role_name(&role_name).assume_role_policy_document(trust).send().await.unwrap();
    let role_arn = role.role().unwrap().arn().to_string();

    let platform = AwsLambda;
    let config = json!({"function_name": function, "role": role_arn});
    let request = deployment(&deployment_name, 1, &format!("{HOST}/{repository}:v1"), config);
    let (ctx, log) = job_context();
    let (record, lambda_record) = deployment_record(&platform.deploy(&ctx, &request, None).await.unwrap());
    eprintln!("API calls, deploy by tag with a given role: {}", log.calls().await);
    assert_eq!(lambda_record.image, format!("{HOST}/{repository}@{digest}"));
    assert_eq!(lambda_record.function_name, function);
    assert_eq!((lambda_record.created_role_arn, lambda_record.created_role_name), (None, None));
    assert_eq!(record.computed["role_arn"], json!(role_arn));
    let live = lambda.get_function().function_name(&function).send().await.unwrap();
    assert_eq!(live.code().and_then(|c| c.image_uri()), Some(lambda_record.image.as_str()));

    // The releaser finds the function through its description, named after the deployment.
    let releaser = AwsLambdaRelease;
    let (ctx, log) = job_context();
    let (rel, lrel) = release_record(&releaser.release(&ctx, &release(&deployment_name, 1, json!({"alias": "prod"})), None).await.unwrap());
    eprintln!("API calls, release found by ListFunctions: {}", log.calls().await);
    assert_eq!((lrel.function_name.as_str(), lrel.alias.as_str(), lrel.version.as_str()), (function.as_str(), "prod", "1"));
    assert_eq!(rel.url, None);
    // An import of the release (no record) finds the same alias.
    let (ctx, _log) = job_context();
    let imported = releaser.status(&ctx, &release(&deployment_name, 1, json!({"alias": "prod"})), None).await.unwrap();
    let (imported, limported) = release_record(&imported);
    assert_eq!((imported.released_generation, limported.version.as_str(), limported.function_name.as_str()), (1, "1", function.as_str()));

    // An import of the deployment (no record) describes what is there.
    let (ctx, _log) = job_context();
    let imported = platform
        .status(
            &ctx,
            &DeploymentRequest {
                name: deployment_name.clone(),
                generation: 1,
                config: json!({"function_name": function}),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let (imported, limported) = deployment_record(&imported);
    assert_eq!((imported.generation, limported.version.as_str()), (1, "1"));
    let observed = imported.observed.unwrap();
    assert_eq!(observed.image.as_deref(), Some(lambda_record.image.as_str()));
    assert_eq!(observed.config["role"], json!(role_arn));

    // Destroy leaves the given role alone.
    let (ctx, _log) = job_context();
    releaser.destroy(&ctx, &release(&deployment_name, 1, json!({"alias": "prod"})), Some(&rel)).await.unwrap();
    let (ctx, _log) = job_context();
    platform.destroy(&ctx, &without_secrets(&request), Some(&record)).await.unwrap();
    assert!(lambda.get_function().function_name(&function).send().await.is_err());
    assert!(role_exists(&iam, &role_name).await);
    iam.delete_role().role_name(&role_name).send().await.unwrap();
}

#[tokio::test]
async fn a_failed_create_keeps_the_created_role_and_destroy_removes_it() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let sdk = sdk().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let name = unique("broken");
    let platform = AwsLambda;
    // moto refuses ephemeral storage above 10240 MB (app_spec's validation would have caught it).
    let request = deployment(&name, 1, &image(9), json!({"ephemeral_storage": 20480}));
    let (ctx, _log) = job_context();
    let (message, result_json) = failure(platform.deploy(&ctx, &request, None).await);
    eprintln!("failed create: {message}");
    assert!(message.contains("Lambda.CreateFunction") && message.contains("region us-east-1"), "{message}");
    assert!(!message.contains(SECRET_KEY) && !message.contains(SECRET_VALUE), "{message}");
    let kept: DeploymentRecord = serde_json::from_str(&result_json).unwrap();
    assert_eq!(kept.status, "failed");
    let kept_lambda: LambdaRecord = serde_json::from_value(kept.record.clone()).unwrap();
    assert_eq!(kept_lambda.created_role_name.as_deref(), Some(format!("{name}-exec").as_str()));
    assert!(kept_lambda.function_arn.is_empty());
    assert!(role_exists(&iam, &format!("{name}-exec")).await);

    let (ctx, _log) = job_context();
    assert_eq!(platform.destroy(&ctx, &without_secrets(&request), Some(&kept)).await.unwrap(), Outcome::nothing());
    assert!(!role_exists(&iam, &format!("{name}-exec")).await);
}

#[tokio::test]
async fn bad_requests_and_unreachable_aws_say_what_to_do() {
    let _env = ENV_LOCK.lock().await;
    aws_env();
    let platform = AwsLambda;
    let (ctx, _log) = job_context();

    let not_ecr = deployment("web", 1, "127.0.0.1:5000/web@sha256:00", json!({}));
    match platform.deploy(&ctx, &not_ecr, None).await {
        Err(PlatformError::InvalidRequest(message)) => assert!(message.contains("ECR"), "{message}"),
        other => panic!("{other:?}"),
    }

    let other_region = deployment(&unique("web"), 1, &format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/web:v1"), json!({}));
    let (message, result_json) = failure(platform.deploy(&ctx, &other_region, None).await);
    assert!(message.contains("eu-west-1") && message.contains("us-east-1"), "{message}");
    assert_eq!(result_json, "");

    // Nothing listens: the message names region, endpoint (and role), never the secret.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let mut unreachable = deployment(&unique("web"), 1, &image(1), json!({}));
    unreachable.aws = AwsSettings { endpoint_url: Some(endpoint.clone()), ..Default::default() };
    let (message, _) = failure(platform.status(&ctx, &unreachable, None).await);
    eprintln!("unreachable: {message}");
    for part in ["Lambda.GetFunction", "region us-east-1", &format!("endpoint {endpoint}"), "check the network"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert!(!message.contains(SECRET_KEY));

    let role = "arn:aws:iam::123456789012:role/deployer";
    unreachable.aws.assume_role = Some(AssumeRole { role_arn: role.into(), session_name: None, external_id: Some("ext".into()) });
    let (message, _) = failure(platform.status(&ctx, &unreachable, None).await);
    eprintln!("assume role unreachable: {message}");
    assert!(message.contains(&format!("could not assume the role {role}")) && message.contains(&endpoint), "{message}");
    assert!(!message.contains(SECRET_KEY));

    std::env::remove_var("AWS_REGION");
    let (message, _) = failure(platform.status(&ctx, &deployment("web", 1, &image(1), json!({})), None).await);
    assert!(message.contains("no AWS region") && message.contains("AWS_REGION"), "{message}");
    aws_env();

    // With moto's STS the role is assumed (any role works there) and the job runs.
    let mut assumed = deployment(&unique("web"), 1, &image(1), json!({}));
    assumed.aws = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto_endpoint()),
        assume_role: Some(AssumeRole { role_arn: role.into(), session_name: Some("tests".into()), external_id: None }),
        ..Default::default()
    };
    let (ctx, _log) = job_context();
    assert_eq!(platform.status(&ctx, &assumed, None).await.unwrap().kind, OutcomeKind::Gone);
}

#[test]
fn out_of_range_memory_and_timeout_are_rejected_by_the_spec() {
    let errors = <app_spec::aws_lambda::LambdaConfig as app_spec::Block>::validate(&json!({"memory": 50, "timeout": 1000}));
    let paths: Vec<String> = errors.iter().map(|e| e.path.join(".")).collect();
    assert_eq!(paths, ["memory", "timeout"]);
    assert!(<app_spec::aws_lambda::LambdaConfig as app_spec::Block>::validate(&json!({"memory": 128, "timeout": 900})).is_empty());
}
