//! The resources' plan, apply, read, import and delete paths, driven as Terraform drives them
//! (generic plan → `modify_plan` → create/update with the planned value → read → delete) with the
//! real `app-runner` doing the work: the exec platform for deployments (plain commands, no network)
//! and the release's plan logic. Docker and Lambda paths run end to end in `tests/acceptance`.

use app_cty::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use terraform_provider_app::framework::plan::{plan, Planned};
use terraform_provider_app::framework::resource::PlanRequest;
use terraform_provider_app::framework::{Block, Ctx, Diagnostics, Nesting, Resource, Severity};
use terraform_provider_app::resources::{deployment::AppDeployment, release::AppRelease};
use terraform_provider_app::runner::{Runner, RunnerSettings};

fn ctx() -> Ctx {
    let runner = app_acceptance::bin_dir().join("app-runner");
    assert!(runner.is_file(), "{} was not built", runner.display());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    // The sender must outlive the test: a dropped sender reads as "stop".
    std::mem::forget(_stop_tx);
    Ctx {
        runner: Arc::new(Runner::new(RunnerSettings { path: Some(runner), env: Default::default() })),
        stop,
        engine: Default::default(),
        aws: Default::default(),
    }
}

fn value(resource: &dyn Resource, json: serde_json::Value) -> Value {
    app_cty::json::decode(json.to_string().as_bytes(), &resource.schema().value_type()).expect("a value of the schema")
}

/// Terraform's proposed new state: the configuration, with computed attributes the configuration
/// leaves null taken from the prior state.
fn proposed(block: &Block, prior: &Value, config: &Value) -> Value {
    if config.is_null() {
        return Value::Null;
    }
    let mut out = std::collections::BTreeMap::new();
    for a in &block.attributes {
        let c = config.attr(&a.name).cloned().unwrap_or(Value::Null);
        let v = if a.computed && c.is_null() { prior.attr(&a.name).cloned().unwrap_or(Value::Null) } else { c };
        out.insert(a.name.clone(), v);
    }
    for b in &block.blocks {
        let (c, p) = (config.attr(&b.name).unwrap_or(&Value::Null), prior.attr(&b.name).unwrap_or(&Value::Null));
        let v = match b.nesting {
            Nesting::Single | Nesting::Group => proposed(&b.block, p, c),
            _ => c.clone(),
        };
        out.insert(b.name.clone(), v);
    }
    Value::Object(out)
}

async fn plan_of(resource: &dyn Resource, ctx: &Ctx, prior: &Value, config: &Value, private: &[u8]) -> (Planned, Diagnostics) {
    let schema = resource.schema();
    let mut diags = Diagnostics::new();
    resource.validate(config, &mut diags);
    assert!(!diags.has_errors(), "validation: {diags:?}");
    let mut planned = plan(&schema, prior, &proposed(&schema.block, prior, config), config);
    resource.modify_plan(ctx, PlanRequest { prior, config, prior_private: private }, &mut planned, &mut diags).await;
    (planned, diags)
}

fn to_json(resource: &dyn Resource, v: &Value) -> serde_json::Value {
    let known = terraform_provider_app::framework::plan::unknowns_to_null(v);
    let bytes = app_cty::json::encode(&known, &resource.schema().value_type()).expect("encode");
    serde_json::from_slice(&bytes).expect("json")
}

fn text(v: &Value, attr: &str) -> Option<String> {
    v.attr(attr).and_then(Value::as_str).map(str::to_string)
}

fn number(v: &Value, attr: &str) -> Option<u64> {
    v.attr(attr).and_then(Value::as_number).and_then(|n| n.as_u64())
}

fn sh(script: &str) -> serde_json::Value {
    serde_json::json!(["sh", "-c", script])
}

/// An exec deployment whose commands keep their files in `dir`.
fn exec_config(dir: &Path, message: &str, create: &str) -> serde_json::Value {
    serde_json::json!({
        "name": "unit-exec",
        "env": { "MESSAGE": message },
        "exec": {
            "create": sh(create),
            "read": sh("cat observed 2>/dev/null || true"),
            "destroy": sh("rm -f observed deployed"),
            "dir": dir.display().to_string(),
        }
    })
}

const DEPLOY: &str = "printf '%s %s' \"$MESSAGE\" \"$APP_GENERATION\" > deployed && echo '{\"present\":true}' > observed && echo '{\"url\":\"http://unit:1\"}'";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tfapp-resources-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn deployment_create_no_change_update_drift_and_delete() {
    let (ctx, r) = (ctx(), AppDeployment);
    let dir = temp_dir("lifecycle");
    let config = value(&r, exec_config(&dir, "one", DEPLOY));

    // Create: generation 1 and the ID are known at plan time; what only the platform knows is not.
    let (planned, diags) = plan_of(&r, &ctx, &Value::Null, &config, &[]).await;
    assert!(diags.0.is_empty(), "{diags:?}");
    assert_eq!(number(&planned.state, "generation"), Some(1));
    assert_eq!(text(&planned.state, "id").as_deref(), Some("unit-exec/1"));
    assert_eq!(planned.state.attr("url"), Some(&Value::Unknown));
    let created = r.create(&ctx, &planned.state, &config).await;
    assert!(!created.diags.has_errors(), "{:?}", created.diags);
    assert_eq!(text(&created.state, "status").as_deref(), Some("ready"));
    assert_eq!(text(&created.state, "url").as_deref(), Some("http://unit:1"), "the command's JSON output sets url");
    assert_eq!(std::fs::read_to_string(dir.join("deployed")).expect("deployed"), "one 1");
    let (state, private) = (created.state, created.private);

    // Refresh, then the same configuration: nothing to do.
    let read = r.read(&ctx, &state, &private).await;
    assert!(read.diags.0.is_empty(), "{:?}", read.diags);
    assert_eq!(read.state, state, "a refresh of an unchanged deployment changes nothing");
    let (planned, _) = plan_of(&r, &ctx, &read.state, &config, &read.private).await;
    assert!(!planned.changed);
    assert_eq!(planned.state, read.state, "an unchanged configuration plans the prior state");

    // A change: generation 2, its ID known at plan time, applied in place.
    let changed = value(&r, exec_config(&dir, "two", DEPLOY));
    let (planned, _) = plan_of(&r, &ctx, &read.state, &changed, &read.private).await;
    assert!(planned.changed);
    assert_eq!(number(&planned.state, "generation"), Some(2));
    assert_eq!(text(&planned.state, "id").as_deref(), Some("unit-exec/2"));
    let updated = r.update(&ctx, &read.state, &planned.state, &changed, &read.private).await;
    assert!(!updated.diags.has_errors(), "{:?}", updated.diags);
    assert_eq!(number(&updated.state, "generation"), Some(2));
    assert_eq!(std::fs::read_to_string(dir.join("deployed")).expect("deployed"), "two 2");

    // Drift: what `read` observes changed outside Terraform → drifted, with a warning; the next
    // plan deploys a new generation although the configuration is the same.
    std::fs::write(dir.join("observed"), "{\"present\":false}").expect("drift");
    let drifted = r.read(&ctx, &updated.state, &updated.private).await;
    assert_eq!(text(&drifted.state, "status").as_deref(), Some("drifted"));
    assert!(drifted.diags.0.iter().any(|d| d.severity == Severity::Warning), "{:?}", drifted.diags);
    let (planned, _) = plan_of(&r, &ctx, &drifted.state, &changed, &drifted.private).await;
    assert_eq!(number(&planned.state, "generation"), Some(3), "a drifted deployment is deployed again");

    // Gone: `read` prints nothing → null state (Terraform plans a create).
    std::fs::remove_file(dir.join("observed")).expect("remove");
    let gone = r.read(&ctx, &updated.state, &updated.private).await;
    assert!(gone.state.is_null(), "{:?}", gone.state);

    // Delete runs the destroy command and returns null.
    std::fs::write(dir.join("observed"), "{\"present\":true}").expect("restore");
    let deleted = r.delete(&ctx, &updated.state, &updated.private).await;
    assert!(!deleted.diags.has_errors(), "{:?}", deleted.diags);
    assert!(deleted.state.is_null());
    assert!(!dir.join("deployed").exists() && !dir.join("observed").exists(), "destroy ran");
    ctx.runner.shutdown().await;
}

#[tokio::test]
async fn a_failed_create_is_kept_failed_and_retried_and_a_failed_delete_keeps_the_state() {
    let (ctx, r) = (ctx(), AppDeployment);
    let dir = temp_dir("failures");
    let failing = value(&r, exec_config(&dir, "x", "echo cannot-deploy-now >&2; exit 3"));
    let (planned, _) = plan_of(&r, &ctx, &Value::Null, &failing, &[]).await;
    let created = r.create(&ctx, &planned.state, &failing).await;
    assert!(created.diags.has_errors());
    let detail: String = created.diags.0.iter().map(|d| format!("{} {}", d.summary, d.detail)).collect();
    assert!(detail.contains("cannot-deploy-now"), "the command's stderr is in the diagnostic: {detail}");
    assert!(!created.state.is_null(), "what was attempted stays in state (tainted)");
    assert_eq!(text(&created.state, "status").as_deref(), Some("failed"));
    assert!(created.state.is_wholly_known(), "a state after failure is wholly known");

    // The same configuration on a failed deployment plans a new generation.
    let (planned, _) = plan_of(&r, &ctx, &created.state, &failing, &created.private).await;
    assert_eq!(number(&planned.state, "generation"), Some(2));

    // A destroy command that fails keeps the resource, with its private state.
    let config = value(&r, exec_config(&dir, "ok", DEPLOY));
    let (planned, _) = plan_of(&r, &ctx, &Value::Null, &config, &[]).await;
    let created = r.create(&ctx, &planned.state, &config).await;
    assert!(!created.diags.has_errors(), "{:?}", created.diags);
    let mut stuck = to_json(&r, &created.state);
    stuck["exec"]["destroy"] = sh("echo still-busy >&2; exit 1");
    let stuck_state = value(&r, stuck);
    let deleted = r.delete(&ctx, &stuck_state, &created.private).await;
    assert!(deleted.diags.has_errors());
    assert_eq!(deleted.state, stuck_state, "a failed destroy keeps the prior state");
    assert_eq!(deleted.private, created.private);
    ctx.runner.shutdown().await;
}

#[tokio::test]
async fn an_exec_deployment_imports_from_its_configuration_as_json() {
    let (ctx, r) = (ctx(), AppDeployment);
    let imported = r.import(&ctx, r#"{"name":"imp","env":{"A":"1"},"exec":{"create":["true"]}}"#).await;
    assert!(!imported.diags.has_errors(), "{:?}", imported.diags);
    assert_eq!(text(&imported.state, "name").as_deref(), Some("imp"));
    let bad = r.import(&ctx, r#"{"name": "imp", "bogus": true, "exec": {"create": ["true"]}}"#).await;
    assert!(bad.diags.has_errors() && bad.state.is_null(), "an unknown attribute is refused: {:?}", bad.state);
    let detail: String = bad.diags.0.iter().map(|d| d.detail.clone()).collect();
    assert!(detail.contains("bogus"), "{detail}");
}

#[tokio::test]
async fn release_plans_follow_the_deployment() {
    let (ctx, r) = (ctx(), AppRelease);
    let config = value(&r, serde_json::json!({"deployment": "web/3", "docker": {"port": 18080}}));
    let (planned, diags) = plan_of(&r, &ctx, &Value::Null, &config, &[]).await;
    assert!(!diags.has_errors(), "{diags:?}");
    assert_eq!(text(&planned.state, "name").as_deref(), Some("web"), "the name defaults to the deployment's");
    assert_eq!(text(&planned.state, "id").as_deref(), Some("web"));
    assert_eq!(number(&planned.state, "released_generation"), Some(3), "the target generation is known at plan time");
    assert_eq!(planned.state.attr("url"), Some(&Value::Unknown));

    // As if applied: the same deployment plans nothing; a new generation moves the release but
    // keeps the URL (the releaser block did not change); pinning an older one is a rollback.
    let mut applied = to_json(&r, &planned.state);
    applied["url"] = serde_json::json!("http://127.0.0.1:18080");
    applied["status"] = serde_json::json!("ready");
    let prior = value(&r, applied);
    let (same, _) = plan_of(&r, &ctx, &prior, &config, &[]).await;
    assert_eq!(same.state, prior);
    let moved = value(&r, serde_json::json!({"deployment": "web/4", "docker": {"port": 18080}}));
    let (planned, _) = plan_of(&r, &ctx, &prior, &moved, &[]).await;
    assert_eq!(number(&planned.state, "released_generation"), Some(4));
    assert_eq!(text(&planned.state, "url").as_deref(), Some("http://127.0.0.1:18080"), "the URL stays");
    assert_eq!(planned.state.attr("status"), Some(&Value::Unknown));
    let pinned = value(&r, serde_json::json!({"deployment": "web/4", "generation": 2, "docker": {"port": 18080}}));
    let (planned, _) = plan_of(&r, &ctx, &prior, &pinned, &[]).await;
    assert_eq!(number(&planned.state, "released_generation"), Some(2));
    let other_port = value(&r, serde_json::json!({"deployment": "web/3", "docker": {"port": 18081}}));
    let (planned, _) = plan_of(&r, &ctx, &prior, &other_port, &[]).await;
    assert_eq!(planned.state.attr("url"), Some(&Value::Unknown), "another port is another URL");

    // An unknown deployment ID (created in the same apply) keeps the target unknown.
    let mut unknown = config.clone();
    if let Value::Object(m) = &mut unknown {
        m.insert("deployment".into(), Value::Unknown);
    }
    let schema = r.schema();
    let mut planned = plan(&schema, &Value::Null, &proposed(&schema.block, &Value::Null, &unknown), &unknown);
    let mut diags = Diagnostics::new();
    r.modify_plan(&ctx, PlanRequest { prior: &Value::Null, config: &unknown, prior_private: &[] }, &mut planned, &mut diags).await;
    assert_eq!(planned.state.attr("released_generation"), Some(&Value::Unknown));
    assert_eq!(planned.state.attr("name"), Some(&Value::Unknown));
}

#[tokio::test]
async fn release_validation_points_at_the_attribute() {
    let r = AppRelease;
    let mut diags = Diagnostics::new();
    r.validate(&value(&r, serde_json::json!({"deployment": "Not A Deployment", "generation": 0, "docker": {"port": 0}})), &mut diags);
    let paths: Vec<String> = diags.0.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect();
    for expected in ["generation", "deployment", "docker.port"] {
        assert!(paths.iter().any(|p| p == expected), "{expected} in {paths:?}");
    }
}
