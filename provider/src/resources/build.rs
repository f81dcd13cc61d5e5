//! `app_build`: produces an artifact (image, AMI) from a source tree. The builders themselves
//! arrive with the builder work; this version has the resource's schema and rejects builder
//! blocks it cannot run yet with a clear diagnostic.

use super::{validate_name, validate_platform, with_platform_blocks};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::{timeouts, Diagnostics};
use app_cty::Value;
use app_spec::catalog::Role;

pub const TYPE: &str = "app_build";

pub struct AppBuild;

impl super::SchemaOnly for AppBuild {
    const TYPE: &'static str = TYPE;
    const UNAVAILABLE: (&'static str, &'static str) =
        ("No builder available", "This version of the provider has no builder yet; app_build cannot be created, read or imported.");

    fn schema(&self) -> Schema {
        let block = Block::new("Builds (or looks up) an artifact of the application: an image or an AMI.")
            .attr(Attribute::string("id").computed().use_state_for_unknown().describe("The immutable artifact reference."))
            .attr(
                Attribute::string("name")
                    .optional_computed()
                    .describe("Name of the build; default: the registry repository or the source folder's name."),
            )
            .attr(Attribute::string_map("labels").optional().describe("Labels applied to the artifact."))
            .attr(Attribute::string("source").optional().describe("Build context directory."))
            .attr(Attribute::string("source_hash").computed().describe("Content hash of what the builder receives."))
            .attr(Attribute::string("image").computed().describe("Immutable image reference (`repo@sha256:…`)."))
            .attr(Attribute::string("repository").computed())
            .attr(Attribute::string("tag").computed())
            .attr(Attribute::string("digest").computed())
            .attr(Attribute::string("image_id").computed())
            .attr(Attribute::string("ami_id").computed());
        Schema { version: 0, block: timeouts::add_to(with_platform_blocks(block, Role::Builder), 30) }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_name(config, "name", diags);
        validate_platform(config, Role::Builder, TYPE, diags);
    }
}
