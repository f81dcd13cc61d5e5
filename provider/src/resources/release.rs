//! `app_release`: routes traffic to a generation of a deployment. The releasers arrive with
//! their platforms; this version has the resource's schema and rejects releaser blocks it
//! cannot run yet with a clear diagnostic.

use super::{validate_name, validate_platform, with_platform_blocks};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{timeouts, AttrPath, Diagnostics};
use app_cty::Value;
use app_spec::catalog::Role;

pub const TYPE: &str = "app_release";

pub struct AppRelease;

impl super::SchemaOnly for AppRelease {
    const TYPE: &'static str = TYPE;
    const UNAVAILABLE: (&'static str, &'static str) =
        ("No releaser available", "This version of the provider has no releaser yet; app_release cannot be created, read or imported.");

    fn schema(&self) -> Schema {
        let block = Block::new("Routes traffic to a healthy generation of a deployment.")
            .attr(Attribute::string("id").computed().use_state_for_unknown())
            .attr(Attribute::string("deployment").required().describe("The deployment to release: `app_deployment.web.id`."))
            .attr(Attribute::string("name").optional_computed().describe("Name of the release; default: the deployment's."))
            .attr(Attribute::string_map("labels").optional())
            .attr(
                Attribute::number("generation")
                    .optional()
                    .describe("Pin an older kept generation (rollback); default: the deployment's current one."),
            )
            .attr(Attribute::string("url").computed().describe("The stable address of the release."))
            .attr(Attribute::number("released_generation").computed());
        Schema { version: 0, block: timeouts::add_to(with_platform_blocks(block, Role::Releaser), 10) }
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
        validate_platform(config, Role::Releaser, TYPE, diags);
    }
}
