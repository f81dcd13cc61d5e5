//! The `timeouts` block: per-operation limits written as Go-style durations ("30s", "5m", "1h30m").

use super::schema::{Attribute, Block, Nesting};
use super::{AttrPath, Diagnostics};
use app_cty::Value;
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

/// Parses "1h30m", "90s", "500ms", "2h".
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The configured timeout of one operation, if set and valid.
pub fn get(config_or_state: &Value, operation: &str) -> Option<Duration> {
    config_or_state.attr(BLOCK)?.attr(operation)?.as_str().and_then(parse_duration)
}

pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let Some(block) = config.attr(BLOCK) else { return };
    for op in OPERATIONS {
        if let Some(text) = block.attr(op).and_then(|v| v.as_str()) {
            if parse_duration(text).is_none() {
                diags.error_at(
                    AttrPath::attr(BLOCK).then_attr(op),
                    "Invalid duration",
                    format!("{text:?} is not a duration; write a number with a unit, e.g. \"90s\", \"10m\" or \"1h30m\"."),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration(""), None);
    }
}
