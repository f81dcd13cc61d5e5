//! Reusable field validators for `#[block(validate = …)]`. Each takes the field's JSON value (never
//! null: unset and unknown values are not validated) and returns the problems, with paths relative
//! to the field (empty: the field itself).

use crate::field::FieldError;
use crate::units;
use serde_json::Value as Json;

/// A TCP/UDP port: a whole number from 1 to 65535.
pub fn port(value: &Json) -> Vec<FieldError> {
    match value.as_u64() {
        Some(p) if (1..=65535).contains(&p) => Vec::new(),
        _ => vec![FieldError::here("Invalid port", format!("{value} is not a port: use a whole number from 1 to 65535."))],
    }
}

/// Every element of a list is a port.
pub fn ports(value: &Json) -> Vec<FieldError> {
    each(value, port)
}

/// Applies `check` to every non-null element of a list, with the index in the path.
pub fn each(value: &Json, check: fn(&Json) -> Vec<FieldError>) -> Vec<FieldError> {
    let Some(items) = value.as_array() else { return Vec::new() };
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| !item.is_null())
        .flat_map(|(i, item)| check(item).into_iter().map(move |e| e.under(&[i.to_string()])))
        .collect()
}

/// A positive duration such as `500ms`, `2s`, `1m30s` (see [`units::parse_duration`]).
pub fn duration(value: &Json) -> Vec<FieldError> {
    let Some(text) = value.as_str() else { return Vec::new() };
    match units::parse_positive_duration(text) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::here(
            "Invalid duration",
            format!("{text:?} is not a usable duration: {e}. Write it like `500ms`, `2s`, `1m30s` or `1h`."),
        )],
    }
}

/// A size in bytes such as `256m` or `1g` (see [`units::parse_size`]).
pub fn size(value: &Json) -> Vec<FieldError> {
    let Some(text) = value.as_str() else { return Vec::new() };
    match units::parse_size(text) {
        Ok(_) => Vec::new(),
        Err(e) => vec![FieldError::here(
            "Invalid size",
            format!("{text:?} is not a usable size: {e}. Write bytes or a number with k, m or g, e.g. `256m`."),
        )],
    }
}

/// A whole number from `min` to `max` (inclusive), in `unit`; `what` names it in the summary.
pub fn range(what: &'static str, min: i64, max: i64, unit: &'static str) -> impl Fn(&Json) -> Vec<FieldError> {
    move |value| match value.as_i64() {
        Some(v) if (min..=max).contains(&v) => Vec::new(),
        _ => vec![FieldError::here(
            format!("Invalid {what}"),
            format!("{value} is out of range: use a whole number of {unit} from {min} to {max}."),
        )],
    }
}

/// A number more than zero.
pub fn positive(value: &Json) -> Vec<FieldError> {
    match value.as_f64() {
        Some(v) if v > 0.0 => Vec::new(),
        _ => vec![FieldError::here("Invalid value", format!("{value} must be more than 0."))],
    }
}

/// One of the listed strings.
pub fn one_of(allowed: &'static [&'static str]) -> impl Fn(&Json) -> Vec<FieldError> {
    move |value| match value.as_str() {
        Some(v) if allowed.contains(&v) => Vec::new(),
        _ => vec![FieldError::here("Invalid value", format!("{value}: use one of {}.", allowed.join(", ")))],
    }
}

/// Not an empty or blank string: leaving the field unset is how to ask for the default.
pub fn not_blank(value: &Json) -> Vec<FieldError> {
    match value.as_str() {
        Some(s) if s.trim().is_empty() => {
            vec![FieldError::here("Empty value", "Leave the field unset instead of setting it to an empty string.")]
        }
        _ => Vec::new(),
    }
}

/// Whether `key` can be an environment variable name.
pub fn is_env_name(key: &str) -> bool {
    !key.is_empty() && !key.contains('=') && !key.contains('\0')
}

/// Map keys that are environment variable names.
pub fn env_names(value: &Json) -> Vec<FieldError> {
    let Some(map) = value.as_object() else { return Vec::new() };
    map.keys()
        .filter(|k| !is_env_name(k))
        .map(|key| {
            FieldError::new(
                &[key.as_str()],
                "Invalid environment variable name",
                format!("{key:?} cannot be an environment variable name (empty, or contains '=' or NUL)."),
            )
        })
        .collect()
}

/// A command as an argv list: at least the program, whose name is not blank.
pub fn argv(value: &Json) -> Vec<FieldError> {
    match value.as_array().map(Vec::as_slice) {
        Some([]) => vec![FieldError::here(
            "Empty command",
            "A command needs at least the program to run, e.g. [\"./deploy.sh\"] or [\"sh\", \"-c\", \"…\"].",
        )],
        Some([Json::String(program), ..]) if program.trim().is_empty() => {
            vec![FieldError::new(&["0"], "Empty program name", "The first element names the program to run; it is empty.")]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validators_point_at_the_value() {
        assert!(port(&json!(8080)).is_empty());
        assert_eq!(port(&json!(0)).len(), 1);
        assert_eq!(ports(&json!([80, 70000, null]))[0].path, ["1"]);
        assert!(duration(&json!("18446744073709551615s1s"))[0].detail.contains("limit"));
        assert!(size(&json!("256m")).is_empty());
        assert_eq!(range("timeout", 1, 10, "s")(&json!(11))[0].summary, "Invalid timeout");
        assert_eq!(env_names(&json!({"A=B": "x", "OK": "y"}))[0].path, ["A=B"]);
        assert_eq!(argv(&json!(["", "x"]))[0].path, ["0"]);
        assert_eq!(argv(&json!([])).len(), 1);
        assert_eq!(one_of(&["a", "b"])(&json!("c")).len(), 1);
    }
}
