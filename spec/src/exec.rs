//! The `exec` platform: Waypoint's escape hatch, tracked in state.
//!
//! `create` runs on the first apply, `update` (or `create` again) on every change, `destroy`
//! on destroy, `read` on every refresh to detect drift. Commands are argv lists, never run
//! through a shell unless the user writes `["sh", "-c", …]`.

use crate::field::FieldError;
use crate::validate;
use crate::Block;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Runs commands you provide and tracks what they created: `create` on the first apply, `update` (or
/// `create` again) on every change, `destroy` on destroy, `read` on refresh. Commands are argv lists
/// run without a shell (write `["sh", "-c", "…"]` for one). Each command sees the deployment's `env`,
/// this block's `env`, and `APP_NAME`, `APP_GENERATION`, `APP_IMAGE` and `APP_OUTPUTS` (the recorded
/// outputs as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Block)]
#[serde(deny_unknown_fields)]
#[block(validate = validate_dir)]
pub struct ExecConfig {
    /// Command run to create the deployment. If its stdout is a JSON object of strings, it becomes `outputs`.
    #[block(validate = validate::argv)]
    pub create: Vec<String>,
    /// Command run when the deployment changes; default: `create` again.
    #[serde(default)]
    #[block(validate = validate::argv)]
    pub update: Option<Vec<String>>,
    /// Command run on destroy. A failure keeps the deployment in state.
    #[serde(default)]
    #[block(validate = validate::argv)]
    pub destroy: Option<Vec<String>>,
    /// Command run on refresh. Its stdout (JSON) is compared with its output after the last apply: a
    /// difference shows as drift, empty output or `null` means the deployment is gone.
    #[serde(default)]
    #[block(validate = validate::argv)]
    pub read: Option<Vec<String>>,
    /// Working directory of every command; default: the directory Terraform runs in.
    #[serde(default)]
    pub dir: Option<String>,
    /// Extra environment for these commands.
    #[serde(default)]
    #[block(validate = validate::env_names)]
    pub env: Option<BTreeMap<String, String>>,
    /// The JSON object of strings the create or update command printed, if any.
    #[serde(default, skip_serializing)]
    #[block(computed)]
    pub outputs: Option<BTreeMap<String, String>>,
}

/// What the runner remembers about an exec deployment (DeploymentRecord.record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecRecord {
    /// The create/update command's stdout when it was a JSON object of strings.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// The `read` command's output right after the last create/update, for drift detection.
    #[serde(default)]
    pub observed: Option<Json>,
}

pub const ENV_NAME: &str = "APP_NAME";
pub const ENV_GENERATION: &str = "APP_GENERATION";
pub const ENV_IMAGE: &str = "APP_IMAGE";
pub const ENV_OUTPUTS: &str = "APP_OUTPUTS";

/// Only a `read` command can observe an exec deployment.
pub fn observes(config: &Json) -> bool {
    !config.get("read").is_none_or(Json::is_null)
}

fn validate_dir(config: &Json) -> Vec<FieldError> {
    match config.get("dir") {
        Some(Json::String(dir)) if dir.is_empty() => {
            vec![FieldError::new(&["dir"], "Empty directory", "Leave `dir` unset to run in Terraform's working directory.")]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_argv_is_an_error_on_its_path() {
        let errors = ExecConfig::validate(&json!({"create": [], "destroy": [""]}));
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].path, vec!["create"]);
        assert_eq!(errors[1].path, vec!["destroy", "0"]);
    }

    #[test]
    fn unknown_values_are_skipped() {
        assert!(ExecConfig::validate(&json!({"create": null, "dir": null, "env": null})).is_empty());
        assert!(ExecConfig::validate(&json!({"create": [null]})).is_empty());
    }

    #[test]
    fn config_deserializes_from_block_json() {
        let c: ExecConfig =
            serde_json::from_value(json!({"create": ["true"], "destroy": null, "env": {"A": "b"}, "outputs": null})).expect("config");
        assert_eq!(c.create, vec!["true"]);
        assert_eq!(c.env.expect("env")["A"], "b");
    }
}
