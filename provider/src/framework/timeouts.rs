//! The `timeouts` block: per-operation limits written as Go-style durations ("30s", "5m", "1h30m").

use super::schema::{Attribute, Block, Nesting};
use super::{AttrPath, Diagnostics};
use app_cty::Value;
use app_spec::units::parse_positive_duration;
use std::time::Duration;

pub const BLOCK: &str = "timeouts";
pub const OPERATIONS: [&str; 4] = ["create", "read", "update", "delete"];

pub fn add_to(block: Block, default_minutes: u64) -> Block {
    let mut inner = Block::new("Limits for each operation, e.g. `create = \"30m\"`.");
    for op in OPERATIONS {
        inner = inner.attr(Attribute::string(op).optional().describe(&format!(
            "How long `{op}` may take (a duration such as `\"90s\"`, `\"10m\"` or `\"1h\"`; default {default_minutes}m)."
        )));
    }
    block.block(BLOCK, Nesting::Single, inner)
}

/// The configured timeout of one operation, if set and valid.
pub fn get(config_or_state: &Value, operation: &str) -> Option<Duration> {
    config_or_state.attr(BLOCK)?.attr(operation)?.as_str().and_then(|text| parse_positive_duration(text).ok())
}

pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let Some(block) = config.attr(BLOCK) else { return };
    for op in OPERATIONS {
        if let Some(text) = block.attr(op).and_then(|v| v.as_str()) {
            if let Err(e) = parse_positive_duration(text) {
                diags.error_at(
                    AttrPath::attr(BLOCK).then_attr(op),
                    "Invalid duration",
                    format!("{text:?} is not a usable duration: {e}. Write a number with a unit, e.g. \"90s\", \"10m\" or \"1h30m\"."),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_use_the_project_duration_parser() {
        let config =
            |text: &str| Value::Object([(BLOCK.to_string(), Value::Object([("create".to_string(), Value::string(text))].into()))].into());
        assert_eq!(get(&config("1h30m"), "create"), Some(Duration::from_secs(5400)));
        assert_eq!(get(&config("10"), "create"), None);
        let mut diags = Diagnostics::new();
        validate(&config("18446744073709551615h"), &mut diags);
        assert!(diags.has_errors());
    }
}
