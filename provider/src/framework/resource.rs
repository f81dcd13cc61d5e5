//! The resource interface. One implementation per resource type; the protocol layer calls it.

use super::diag::Diagnostics;
use super::plan::Planned;
use super::schema::Schema;
use crate::runner::Runner;
use app_cty::Value;
use std::sync::Arc;
use tokio::sync::watch;

/// What every operation can reach: the runner, the stop signal, client capabilities.
#[derive(Clone)]
pub struct Ctx {
    pub runner: Arc<Runner>,
    /// Becomes true when Terraform asks the provider to stop (Ctrl-C).
    pub stop: watch::Receiver<bool>,
    /// The provider's `docker` block: how runners reach the Docker engine.
    pub engine: app_spec::job::EngineSettings,
    /// The provider's `aws` block: how runners reach AWS.
    pub aws: app_spec::job::AwsSettings,
}

pub struct PlanRequest<'a> {
    pub prior: &'a Value,
    pub config: &'a Value,
    pub prior_private: &'a [u8],
}

pub struct ApplyResult {
    /// The new state; on failure, what exists now (never unknown anywhere).
    pub state: Value,
    pub private: Vec<u8>,
    pub diags: Diagnostics,
}

pub struct ReadResult {
    /// Null when the object is gone.
    pub state: Value,
    pub private: Vec<u8>,
    pub diags: Diagnostics,
}

#[async_trait::async_trait]
pub trait Resource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// Checks the configuration; values may be unknown (skip those).
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Refines the generic plan (computed values known at plan time, resource-specific replace rules).
    async fn modify_plan(&self, _ctx: &Ctx, _req: PlanRequest<'_>, _planned: &mut Planned, _diags: &mut Diagnostics) {}

    async fn create(&self, ctx: &Ctx, planned: &Value, config: &Value) -> ApplyResult;
    async fn read(&self, ctx: &Ctx, state: &Value, private: &[u8]) -> ReadResult;
    async fn update(&self, ctx: &Ctx, prior: &Value, planned: &Value, config: &Value, private: &[u8]) -> ApplyResult;
    /// On success the returned state is null; on failure, the prior state (so Terraform keeps it).
    async fn delete(&self, ctx: &Ctx, prior: &Value, private: &[u8]) -> ApplyResult;
    /// Turns an import ID into a state that `read` then refreshes.
    async fn import(&self, ctx: &Ctx, id: &str) -> ReadResult;

    /// How `terraform import` names an existing object of this type (Markdown, for the docs).
    fn import_syntax(&self) -> &'static str {
        ""
    }

    /// Upgrades a stored state (JSON, per the schema of `from_version`) to the current schema.
    /// The default keeps the state as it is, which is right when only the version is equal.
    fn upgrade_state(&self, _from_version: i64, state: serde_json::Value) -> Result<serde_json::Value, String> {
        Ok(state)
    }
}
