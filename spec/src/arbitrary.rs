//! Configurations shaped like a block, for tests: one sample of every field ([`sample`]) and
//! arbitrary ones ([`block_json`], proptest) that mix unknown (`null`) values, edge numbers and
//! hostile strings. Feature `proptest` (tests of other crates) or this crate's own tests.

use crate::field::{BlockSpec, FieldType, Nesting, Presence};
use proptest::prelude::*;
use serde_json::{Map, Value as Json};

/// A plausible value of a type.
fn sample_value(ty: &FieldType) -> Json {
    match ty {
        FieldType::String => Json::String("x".into()),
        FieldType::Number => Json::from(1),
        FieldType::Bool => Json::Bool(true),
        FieldType::List(inner) => Json::Array(vec![sample_value(inner)]),
        FieldType::Map(inner) => Json::Object(Map::from_iter([("K".to_string(), sample_value(inner))])),
    }
}

/// Every field of the block set to a value of its type, every nested block present once: what
/// the provider sends when a user sets everything. Computed fields are null, as the provider sends
/// them on create.
pub fn sample(spec: &BlockSpec) -> Json {
    let mut object = Map::new();
    for field in &spec.fields {
        let value = if field.presence == Presence::Computed { Json::Null } else { sample_value(&field.ty) };
        object.insert(field.name.to_string(), value);
    }
    for nested in &spec.blocks {
        let block = sample(&nested.block);
        let value = match nested.nesting {
            Nesting::Single => block,
            Nesting::List => Json::Array(vec![block]),
        };
        object.insert(nested.name.to_string(), value);
    }
    Json::Object(object)
}

fn number() -> BoxedStrategy<Json> {
    prop_oneof![
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        (-1e20f64..1e20).prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        prop::sample::select(vec![0i64, 1, -1, 80, 443, 8080, 65535, 65536, 128, 10240, 900, 100, i64::MAX, i64::MIN]).prop_map(Json::from),
        Just(Json::from(u64::MAX)),
        Just(Json::from(1e308)),
        Just(Json::from(0.5)),
    ]
    .boxed()
}

fn string() -> BoxedStrategy<Json> {
    prop_oneof![
        ".{0,24}",
        "[0-9]{1,25}(ns|us|ms|s|m|h|d|k|m|g|t|gib|MiB)?([0-9]{1,22}(s|h))?",
        "[0-9]{0,6}\\.[0-9]{0,30}[kmgh]?",
        "[a-z0-9./:@_-]{0,40}",
        prop::sample::select(vec![
            "",
            " ",
            "/",
            "/healthz",
            "18446744073709551615s1s",
            "99999999999999999999g",
            "256m",
            "1.5h",
            "linux/amd64",
            "127.0.0.1:5000/web",
            "r/x@sha256:abc",
            "tcp://host:2376",
            "unix:///var/run/docker.sock",
            "arn:aws:iam::1:role/r",
            "x86_64",
            "NONE",
            "unless-stopped",
            "http://x",
            "-x",
            "a=b",
        ])
        .prop_map(str::to_string),
    ]
    .prop_map(Json::String)
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof!["[A-Za-z0-9_./-]{0,12}", Just(String::new()), Just("A=B".to_string()), Just("8080".to_string())].boxed()
}

/// An arbitrary value shaped like `ty`; `null` stands for an unknown value anywhere.
fn value(ty: &FieldType) -> BoxedStrategy<Json> {
    let known = match ty {
        FieldType::String => string(),
        FieldType::Number => number(),
        FieldType::Bool => any::<bool>().prop_map(Json::Bool).boxed(),
        FieldType::List(inner) => prop::collection::vec(value(inner), 0..4).prop_map(Json::Array).boxed(),
        FieldType::Map(inner) => {
            prop::collection::btree_map(key(), value(inner), 0..4).prop_map(|m| Json::Object(m.into_iter().collect())).boxed()
        }
    };
    prop_oneof![1 => Just(Json::Null), 6 => known].boxed()
}

/// Arbitrary configurations of a block: every field present (null = unset or unknown), values of
/// the field's type but any content.
pub fn block_json(spec: &BlockSpec) -> BoxedStrategy<Json> {
    let mut parts: Vec<BoxedStrategy<(String, Json)>> = Vec::new();
    for field in &spec.fields {
        let name = field.name.to_string();
        parts.push(value(&field.ty).prop_map(move |v| (name.clone(), v)).boxed());
    }
    for nested in &spec.blocks {
        let name = nested.name.to_string();
        let block = block_json(&nested.block);
        let strategy = match nested.nesting {
            Nesting::Single => prop_oneof![Just(Json::Null), block].boxed(),
            Nesting::List => prop::collection::vec(block, 0..3).prop_map(Json::Array).boxed(),
        };
        parts.push(strategy.prop_map(move |v| (name.clone(), v)).boxed());
    }
    parts.prop_map(|pairs| Json::Object(pairs.into_iter().collect())).boxed()
}

/// Whether a configuration is what Terraform sends at apply time: no unknowns, every required
/// field and every field inside a list set. (Validation skips nulls; only such values reach the runner.)
pub fn is_complete(spec: &BlockSpec, json: &Json) -> bool {
    let Some(object) = json.as_object() else { return false };
    let fields_ok = spec.fields.iter().all(|f| {
        let v = object.get(f.name).unwrap_or(&Json::Null);
        (f.presence != Presence::Required || !v.is_null()) && no_nulls_inside(v)
    });
    fields_ok
        && spec.blocks.iter().all(|b| match object.get(b.name).unwrap_or(&Json::Null) {
            Json::Null => b.nesting == Nesting::Single,
            Json::Array(items) => b.nesting == Nesting::List && items.iter().all(|i| is_complete(&b.block, i)),
            other => b.nesting == Nesting::Single && is_complete(&b.block, other),
        })
}

fn no_nulls_inside(v: &Json) -> bool {
    match v {
        Json::Array(items) => items.iter().all(|i| !i.is_null() && no_nulls_inside(i)),
        Json::Object(map) => map.values().all(|i| !i.is_null() && no_nulls_inside(i)),
        _ => true,
    }
}
