//! `app_release`: routes traffic to a generation of a deployment. The releasers arrive with
//! their platforms; this version has the resource's schema and rejects releaser blocks it
//! cannot run yet with a clear diagnostic.

use super::{validate_name, validate_platform, with_platform_blocks};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{timeouts, ApplyResult, AttrPath, Ctx, Diagnostics, ReadResult, Resource};
use app_cty::Value;
use app_spec::catalog::Role;

pub const TYPE: &str = "app_release";

pub struct AppRelease;

fn not_available() -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error("No releaser available", "This version of the provider has no releaser yet; app_release cannot be created, read or imported.");
    d
}

#[async_trait::async_trait]
impl Resource for AppRelease {
    fn type_name(&self) -> &'static str {
        TYPE
    }

    fn schema(&self) -> Schema {
        let block = Block::new("Routes traffic to a healthy generation of a deployment.")
            .attr(Attribute::string("id").computed().use_state_for_unknown())
            .attr(Attribute::string("deployment").required().describe("The deployment to release: `app_deployment.web.id`."))
            .attr(Attribute::string("name").optional_computed().describe("Name of the release; default: the deployment's."))
            .attr(Attribute::string_map("labels").optional())
            .attr(Attribute::number("generation").optional().describe("Pin an older kept generation (rollback); default: the deployment's current one."))
            .attr(Attribute::string("url").computed().describe("The stable address of the release."))
            .attr(Attribute::number("released_generation").computed());
        Schema { version: 0, block: timeouts::add_to(with_platform_blocks(block, Role::Releaser), 10) }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_name(config, "name", diags);
        if let Some(g) = config.attr("generation").and_then(Value::as_number) {
            if g.as_u64().is_none_or(|g| g == 0) {
                diags.error_at(AttrPath::attr("generation"), "Invalid generation", format!("`generation` is {g}; generations are whole numbers from 1."));
            }
        }
        validate_platform(config, Role::Releaser, TYPE, diags);
    }

    async fn create(&self, _: &Ctx, _: &Value, _: &Value) -> ApplyResult {
        ApplyResult { state: Value::Null, private: Vec::new(), diags: not_available() }
    }
    async fn read(&self, _: &Ctx, state: &Value, private: &[u8]) -> ReadResult {
        ReadResult { state: state.clone(), private: private.to_vec(), diags: Diagnostics::new() }
    }
    async fn update(&self, _: &Ctx, prior: &Value, _: &Value, _: &Value, private: &[u8]) -> ApplyResult {
        ApplyResult { state: prior.clone(), private: private.to_vec(), diags: not_available() }
    }
    async fn delete(&self, _: &Ctx, _: &Value, _: &[u8]) -> ApplyResult {
        ApplyResult { state: Value::Null, private: Vec::new(), diags: Diagnostics::new() }
    }
    async fn import(&self, _: &Ctx, _: &str) -> ReadResult {
        ReadResult { state: Value::Null, private: Vec::new(), diags: not_available() }
    }
}
