//! The three resources and what they share: platform blocks derived from `app-spec`,
//! value conversions for runner jobs, and the "exactly one platform block" rule.

pub mod build;
pub mod deployment;
pub mod release;

use crate::framework::schema::{Attribute, Block, Nesting};
use crate::framework::{AttrPath, Diagnostics};
use app_cty::{Type, Value};
use app_spec::catalog::{self, PlatformSpec, Role};
use app_spec::{BlockSpec, FieldSpec, FieldType, Presence};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn all() -> Vec<Arc<dyn crate::framework::Resource>> {
    vec![Arc::new(build::AppBuild), Arc::new(deployment::AppDeployment), Arc::new(release::AppRelease)]
}

fn field_type(ty: &FieldType) -> Type {
    match ty {
        FieldType::String => Type::String,
        FieldType::Number => Type::Number,
        FieldType::Bool => Type::Bool,
        FieldType::List(inner) => Type::List(Box::new(field_type(inner))),
        FieldType::Map(inner) => Type::Map(Box::new(field_type(inner))),
    }
}

fn field_attribute(f: &FieldSpec) -> Attribute {
    let mut a = Attribute::of(f.name, field_type(&f.ty)).describe(f.description);
    a = match f.presence {
        Presence::Required => a.required(),
        Presence::Optional => a.optional(),
        Presence::OptionalComputed => a.optional_computed(),
        Presence::Computed => a.computed(),
    };
    if let Some(default) = f.default.as_ref().and_then(json_to_value) {
        a = a.default(default);
    }
    if f.sensitive {
        a = a.sensitive();
    }
    if f.write_only {
        a = a.write_only();
    }
    if f.forces_new {
        a = a.requires_replace();
    }
    a
}

/// The Terraform block of a declared block: its attributes and nested blocks.
pub fn spec_block(spec: &BlockSpec) -> Block {
    block_with_description(spec, spec.description)
}

fn block_with_description(spec: &BlockSpec, description: &str) -> Block {
    let block = spec.fields.iter().fold(Block::new(description), |b, f| b.attr(field_attribute(f)));
    spec.blocks.iter().fold(block, |b, nested| {
        let nesting = match nested.nesting {
            app_spec::Nesting::Single => Nesting::Single,
            app_spec::Nesting::List => Nesting::List,
        };
        b.block(nested.name, nesting, block_with_description(&nested.block, nested.description))
    })
}

/// The Terraform block of one ready catalog entry.
pub fn platform_block(p: &PlatformSpec) -> Block {
    spec_block(&(p.spec)())
}

/// Adds one optional single block per ready catalog entry of `role`. Planned entries get no block:
/// Terraform itself then rejects them at validate time ("Unsupported block type"), and every
/// block in the schema costs Terraform work on every value of every resource.
pub fn with_platform_blocks(mut block: Block, role: Role) -> Block {
    for p in catalog::ready(role) {
        block = block.block(p.name, Nesting::Single, platform_block(&p));
    }
    block
}

pub fn role_noun(role: Role) -> &'static str {
    match role {
        Role::Builder => "builder",
        Role::Platform => "platform",
        Role::Releaser => "releaser",
    }
}

/// Checks that exactly one block of `role` is set and validates it; returns the chosen entry.
pub fn validate_platform(config: &Value, role: Role, resource: &str, diags: &mut Diagnostics) -> Option<PlatformSpec> {
    let entries: Vec<PlatformSpec> = catalog::ready(role);
    let set: Vec<&PlatformSpec> = entries.iter().filter(|p| config.attr(p.name).is_some_and(|v| !v.is_null())).collect();
    let noun = role_noun(role);
    let ready: Vec<&str> = entries.iter().map(|p| p.name).collect();
    let planned = catalog::planned_names(role);
    let describe_ready = match (ready.is_empty(), planned.is_empty()) {
        (true, _) => format!("none yet (planned: {})", planned.join(", ")),
        (false, true) => ready.join(", "),
        (false, false) => format!("{} (planned: {})", ready.join(", "), planned.join(", ")),
    };
    match set.as_slice() {
        [] => {
            diags.error(
                format!("Missing {noun} block"),
                format!("{resource} needs exactly one {noun} block. Available in this version: {describe_ready}."),
            );
            None
        }
        [one] => {
            let json = to_json(config.attr(one.name).unwrap_or(&Value::Null));
            field_errors(Some(one.name), (one.validate)(&json), diags);
            Some((*one).clone())
        }
        [first, rest @ ..] => {
            for other in rest {
                diags.error_at(
                    AttrPath::attr(other.name),
                    format!("Only one {noun} block is allowed"),
                    format!("{resource} has both a `{}` and a `{}` block; keep exactly one.", first.name, other.name),
                );
            }
            None
        }
    }
}

/// Reports field errors as diagnostics, below the block `under` when given.
pub fn field_errors(under: Option<&str>, errors: Vec<app_spec::FieldError>, diags: &mut Diagnostics) {
    for e in errors {
        let mut path = under.map(AttrPath::attr);
        for step in &e.path {
            path = Some(match (path, step.parse::<i64>()) {
                (Some(p), Ok(n)) => p.then_index(n),
                (Some(p), Err(_)) => p.then_attr(step),
                (None, _) => AttrPath::attr(step),
            });
        }
        match path {
            Some(path) => diags.error_at(path, e.summary, e.detail),
            None => diags.error(e.summary, e.detail),
        }
    }
}

/// The chosen block of `role` in a (planned or prior) state.
pub fn chosen_platform(state: &Value, role: Role) -> Option<PlatformSpec> {
    catalog::ready(role).into_iter().find(|p| state.attr(p.name).is_some_and(|v| !v.is_null()))
}

/// cty → JSON for runner jobs; unknown and null both become JSON null.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null | Value::Unknown => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                serde_json::Number::from_f64(n.as_f64()).map(Json::Number).unwrap_or(Json::Null)
            }
        }
        Value::String(s) => Json::String(s.clone()),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(m) | Value::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Dynamic(_, inner) => to_json(inner),
    }
}

/// JSON → cty for values a runner reports (strings, numbers, bools, string maps and lists).
pub fn json_to_value(j: &Json) -> Option<Value> {
    Some(match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(app_cty::Number::parse(&n.to_string())?),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(json_to_value).collect::<Option<_>>()?),
        Json::Object(m) => Value::Map(m.iter().map(|(k, v)| Some((k.clone(), json_to_value(v)?))).collect::<Option<_>>()?),
    })
}

pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

pub fn str_attr(v: &Value, name: &str) -> Option<String> {
    v.attr(name).and_then(Value::as_str).map(str::to_string)
}

/// Checks map keys used as environment variable names.
pub fn validate_env_keys(config: &Value, attr: &str, diags: &mut Diagnostics) {
    if let Some(m) = config.attr(attr).and_then(Value::as_map) {
        for key in m.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                diags.error_at(
                    AttrPath::attr(attr).then_key(key),
                    "Invalid environment variable name",
                    format!("{key:?} cannot be an environment variable name (empty, or contains '=' or NUL)."),
                );
            }
        }
    }
}

/// Names become container, Deployment, function and group names: a DNS label.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

pub fn validate_name(config: &Value, attr: &str, diags: &mut Diagnostics) {
    let Some(name) = config.attr(attr).and_then(Value::as_str) else { return };
    if !is_valid_name(name) {
        diags.error_at(
            AttrPath::attr(attr),
            "Invalid name",
            format!("{name:?} is not a valid name: use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit (it names containers, Kubernetes objects and functions)."),
        );
    }
}

/// A job that could not run at all (runner missing, connection lost).
pub fn runner_failure(diags: &mut Diagnostics, what: &str, kind: &str, name: &str, error: &crate::runner::RunnerError) {
    diags.error(format!("Could not {what} {kind} {name:?}"), error.to_string());
}

/// A job that ran and failed: the runner's message and the output tail.
pub fn job_failure(diags: &mut Diagnostics, what: &str, kind: &str, name: &str, finished: &crate::runner::Finished) {
    let detail = if finished.detail.trim().is_empty() {
        finished.error.clone()
    } else {
        format!("{}\n\nLast lines of output:\n{}", finished.error, finished.detail.trim_end())
    };
    let summary = match finished.outcome {
        app_proto::runner::job_result::Outcome::Cancelled => format!("Cancelled: {what} {kind} {name:?}"),
        _ => format!("Failed to {what} {kind} {name:?}"),
    };
    diags.error(summary, detail);
}

/// The result of a destroy job: null state on success; otherwise the prior state and private
/// state stay, so Terraform keeps what is left.
pub fn destroyed(
    result: Result<crate::runner::Finished, crate::runner::RunnerError>,
    kind: &str,
    name: &str,
    prior: &Value,
    private: &[u8],
) -> crate::framework::ApplyResult {
    let mut diags = Diagnostics::new();
    match result {
        Ok(finished) if finished.outcome == app_proto::runner::job_result::Outcome::Succeeded => {
            return crate::framework::ApplyResult { state: Value::Null, private: Vec::new(), diags };
        }
        Ok(finished) => job_failure(&mut diags, "destroy", kind, name, &finished),
        Err(e) => runner_failure(&mut diags, "destroy", kind, name, &e),
    }
    crate::framework::ApplyResult { state: prior.clone(), private: private.to_vec(), diags }
}
