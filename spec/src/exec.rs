//! The `exec` platform: Waypoint's escape hatch, tracked in state.
//!
//! `create` runs on the first apply, `update` (or `create` again) on every change, `destroy`
//! on destroy, `read` on every refresh to detect drift. Commands are argv lists, never run
//! through a shell unless the user writes `["sh", "-c", …]`.

use crate::field::{BlockSpec, FieldError, FieldSpec, FieldType, Presence};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    pub create: Vec<String>,
    #[serde(default)]
    pub destroy: Option<Vec<String>>,
    #[serde(default)]
    pub update: Option<Vec<String>>,
    #[serde(default)]
    pub read: Option<Vec<String>>,
    #[serde(default)]
    pub dir: Option<String>,
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    /// Computed; ignored on input.
    #[serde(default, skip_serializing)]
    pub outputs: Option<Json>,
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

pub fn block() -> BlockSpec {
    use FieldType::*;
    use Presence::*;
    BlockSpec::new(
        "exec",
        "Runs commands you provide and tracks what they created: `create` on the first apply, \
`update` (or `create` again) on every change, `destroy` on destroy, `read` on refresh. Commands are argv \
lists run without a shell (write `[\"sh\", \"-c\", \"…\"]` for one). Each command sees the deployment's `env`, \
this block's `env`, and `APP_NAME`, `APP_GENERATION`, `APP_IMAGE` and `APP_OUTPUTS` (the recorded outputs as JSON).",
        vec![
            FieldSpec::new("create", StringList, Required, "Command run to create the deployment. If its stdout is a JSON object of strings, it becomes `outputs`."),
            FieldSpec::new("update", StringList, Optional, "Command run when the deployment changes; default: `create` again."),
            FieldSpec::new("destroy", StringList, Optional, "Command run on destroy. A failure keeps the deployment in state."),
            FieldSpec::new("read", StringList, Optional, "Command run on refresh. Its stdout (JSON) is compared with its output after the last apply: a difference shows as drift, empty output or `null` means the deployment is gone."),
            FieldSpec::new("dir", String, Optional, "Working directory of every command; default: the directory Terraform runs in."),
            FieldSpec::new("env", StringMap, Optional, "Extra environment for these commands."),
            FieldSpec::new("outputs", StringMap, Computed, "The JSON object of strings the create or update command printed, if any."),
        ],
    )
}

/// Only a `read` command can observe an exec deployment.
pub fn observes(config: &Json) -> bool {
    !config.get("read").is_none_or(Json::is_null)
}

/// Checks an exec block given as JSON; `null` means unknown or unset and is skipped.
pub fn validate(config: &Json) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for field in ["create", "update", "destroy", "read"] {
        let Some(Json::Array(argv)) = config.get(field) else { continue };
        if argv.is_empty() {
            errors.push(FieldError::new(
                &[field],
                "Empty command",
                format!("`{field}` needs at least the program to run, e.g. [\"./deploy.sh\"] or [\"sh\", \"-c\", \"…\"]."),
            ));
            continue;
        }
        if let Some(Json::String(program)) = argv.first() {
            if program.trim().is_empty() {
                errors.push(
                    FieldError::new(
                        &[field],
                        "Empty program name",
                        format!("The first element of `{field}` names the program to run; it is empty."),
                    )
                    .at_index(0),
                );
            }
        }
    }
    if let Some(Json::String(dir)) = config.get("dir") {
        if dir.is_empty() {
            errors.push(FieldError::new(&["dir"], "Empty directory", "Leave `dir` unset to run in Terraform's working directory."));
        }
    }
    if let Some(Json::Object(env)) = config.get("env") {
        for key in env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                errors.push(FieldError::new(
                    &["env"],
                    "Invalid environment variable name",
                    format!("{key:?} cannot be an environment variable name (empty, or contains '=' or NUL)."),
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_argv_is_an_error_on_its_path() {
        let errors = validate(&json!({"create": [], "destroy": [""]}));
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].path, vec!["create"]);
        assert_eq!(errors[1].path, vec!["destroy", "0"]);
    }

    #[test]
    fn unknown_values_are_skipped() {
        assert!(validate(&json!({"create": null, "dir": null, "env": null})).is_empty());
        assert!(validate(&json!({"create": [null]})).is_empty());
    }

    #[test]
    fn config_deserializes_from_block_json() {
        let c: ExecConfig =
            serde_json::from_value(json!({"create": ["true"], "destroy": null, "env": {"A": "b"}, "outputs": null})).expect("config");
        assert_eq!(c.create, vec!["true"]);
        assert_eq!(c.env.expect("env")["A"], "b");
    }
}
